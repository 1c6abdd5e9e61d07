//! Reads of the Bitcoin light client: the [`BtcLightClientRead`] trait other modules use
//! (checkpointing verifies SPV proofs through it), and the ABCI query paths
//! `/ballast.btclightclient.v1.Query/<Method>`.

use crate::chain::{load_base, load_record, load_tip, main_hash_at};
use crate::merkle::{check_not_64_bytes, merkle_root_from_branch, TxInclusion, TxInclusionProof};
use crate::{params, BtcLightClientError, HeaderInfo, Params};
use ballast_framework::{sdk, StateRead, TxError};
use ballast_proto::ballast::btclightclient::v1 as pb;
use bitcoin::{BlockHash, Transaction};
use prost::Message;

/// Default page size of the main-chain listing.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;
/// Largest page of the main-chain listing.
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// Read access to the light client, for every state.
pub trait BtcLightClientRead: StateRead {
    /// The params.
    fn btc_light_client_params(&self) -> Result<Params, BtcLightClientError> {
        params::load(self)
    }

    /// The tip of the best chain.
    fn btc_tip(&self) -> Result<HeaderInfo, BtcLightClientError> {
        Ok(load_tip(self)?.info)
    }

    /// The base header (the lowest known).
    fn btc_base_header(&self) -> Result<HeaderInfo, BtcLightClientError> {
        Ok(load_base(self)?.info)
    }

    /// A known header, on the best chain or a fork.
    fn btc_header_by_hash(
        &self,
        hash: &BlockHash,
    ) -> Result<Option<HeaderInfo>, BtcLightClientError> {
        Ok(load_record(self, hash)?.map(|r| r.info))
    }

    /// The best chain's header at `height`.
    fn btc_header_at_height(&self, height: u64) -> Result<Option<HeaderInfo>, BtcLightClientError> {
        let Some(hash) = main_hash_at(self, height)? else {
            return Ok(None);
        };
        let info = self.btc_header_by_hash(&hash)?.ok_or_else(|| {
            crate::error::corrupt(format!("best-chain header {hash} at {height} missing"))
        })?;
        Ok(Some(info))
    }

    /// Whether the header is known (best chain or fork).
    fn btc_contains_header(&self, hash: &BlockHash) -> Result<bool, BtcLightClientError> {
        Ok(self
            .get_raw(crate::state_key::header(hash).as_bytes())?
            .is_some())
    }

    /// Whether the header is on the best chain.
    fn btc_is_on_best_chain(&self, hash: &BlockHash) -> Result<bool, BtcLightClientError> {
        let Some(info) = self.btc_header_by_hash(hash)? else {
            return Ok(false);
        };
        Ok(main_hash_at(self, info.height)? == Some(*hash))
    }

    /// Depth of a best-chain header: 0 for the tip. `None` when the header is unknown or on a
    /// fork.
    fn btc_depth(&self, hash: &BlockHash) -> Result<Option<u64>, BtcLightClientError> {
        let Some(info) = self.btc_header_by_hash(hash)? else {
            return Ok(None);
        };
        if main_hash_at(self, info.height)? != Some(*hash) {
            return Ok(None);
        }
        let tip = self.btc_tip()?;
        Ok(Some(tip.height.saturating_sub(info.height)))
    }

    /// Verifies that `tx` is in the best-chain block `proof.block_hash` at `proof.index`, and
    /// returns the block's height and depth. Fails for an unknown header, a fork header, a
    /// branch that does not lead to the header's Merkle root, an index that does not fit the
    /// branch, the CVE-2012-2459 duplicate position, and 64-byte transactions (see
    /// [`crate::merkle`]).
    fn btc_verify_tx_inclusion(
        &self,
        tx: &Transaction,
        proof: &TxInclusionProof,
    ) -> Result<TxInclusion, BtcLightClientError> {
        check_not_64_bytes(tx)?;
        let txid = tx.compute_txid();
        let header = self
            .btc_header_by_hash(&proof.block_hash)?
            .ok_or(BtcLightClientError::HeaderNotFound(proof.block_hash))?;
        let computed = merkle_root_from_branch(txid, proof.index, &proof.branch)?;
        if computed != header.header.merkle_root {
            return Err(BtcLightClientError::MerkleRootMismatch {
                txid,
                index: proof.index,
                expected: header.header.merkle_root,
                block_hash: proof.block_hash,
            });
        }
        let tip = self.btc_tip()?;
        if main_hash_at(self, header.height)? != Some(header.hash) {
            return Err(BtcLightClientError::NotOnBestChain {
                hash: header.hash,
                height: header.height,
                tip_height: tip.height,
            });
        }
        Ok(TxInclusion {
            txid,
            block_hash: header.hash,
            height: header.height,
            depth: tip.height.saturating_sub(header.height),
        })
    }
}
impl<T: StateRead + ?Sized> BtcLightClientRead for T {}

fn bad_request(msg: impl Into<String>) -> TxError {
    TxError::new(sdk::CODESPACE, sdk::INVALID_REQUEST, msg)
}

/// Parses a hash in display order (as bitcoind prints it).
pub fn parse_hash(s: &str) -> Result<BlockHash, BtcLightClientError> {
    s.parse().map_err(|_| BtcLightClientError::InvalidHash {
        input: s.to_string(),
    })
}

fn decode<M: Message + Default>(data: &[u8]) -> Result<M, TxError> {
    M::decode(data).map_err(|e| bad_request(e.to_string()))
}

fn found_or(hash: &BlockHash, info: Option<HeaderInfo>) -> Result<HeaderInfo, BtcLightClientError> {
    info.ok_or(BtcLightClientError::HeaderNotFound(*hash))
}

/// One page of the best chain.
fn main_chain_page(
    state: &dyn StateRead,
    req: &pb::QueryMainChainRequest,
) -> Result<pb::QueryMainChainResponse, TxError> {
    let limit = match req.limit {
        0 => DEFAULT_PAGE_LIMIT,
        l if l > MAX_PAGE_LIMIT => {
            return Err(BtcLightClientError::InvalidPageRequest(format!(
                "limit {l} is above the maximum {MAX_PAGE_LIMIT}"
            ))
            .into())
        }
        l => l,
    };
    let base = state.btc_base_header()?.height;
    let tip = state.btc_tip()?.height;
    let start = req
        .start_height
        .unwrap_or(if req.descending { tip } else { base });
    if start < base || start > tip {
        return Err(BtcLightClientError::InvalidPageRequest(format!(
            "start height {start} is outside the best chain {base}..={tip}"
        ))
        .into());
    }
    let mut headers = Vec::new();
    let mut h = start;
    let mut next = Some(h);
    for _ in 0..limit {
        let Some(cur) = next else { break };
        h = cur;
        let info = state.btc_header_at_height(h)?.ok_or_else(|| {
            TxError::from(crate::error::corrupt(format!(
                "best chain has no header at height {h}"
            )))
        })?;
        headers.push(info.to_proto());
        next = if req.descending {
            (h > base).then(|| h - 1)
        } else {
            (h < tip).then(|| h + 1)
        };
    }
    Ok(pb::QueryMainChainResponse {
        headers,
        next_height: next,
    })
}

/// Answers the query paths of this module.
pub fn route(state: &dyn StateRead, path: &str, data: &[u8]) -> Option<Result<Vec<u8>, TxError>> {
    let method = path.strip_prefix("/ballast.btclightclient.v1.Query/")?;
    let answer: Result<Vec<u8>, TxError> = match method {
        "Params" => (|| {
            decode::<pb::QueryParamsRequest>(data)?;
            let p = state.btc_light_client_params()?;
            Ok(pb::QueryParamsResponse {
                params: Some(p.to_proto()),
            }
            .encode_to_vec())
        })(),
        "Tip" => (|| {
            decode::<pb::QueryTipRequest>(data)?;
            Ok(pb::QueryTipResponse {
                header: Some(state.btc_tip()?.to_proto()),
            }
            .encode_to_vec())
        })(),
        "BaseHeader" => (|| {
            decode::<pb::QueryBaseHeaderRequest>(data)?;
            Ok(pb::QueryBaseHeaderResponse {
                header: Some(state.btc_base_header()?.to_proto()),
            }
            .encode_to_vec())
        })(),
        "HeaderByHash" => (|| {
            let req = decode::<pb::QueryHeaderByHashRequest>(data)?;
            let hash = parse_hash(&req.hash)?;
            let info = found_or(&hash, state.btc_header_by_hash(&hash)?)?;
            let on_best_chain = state.btc_is_on_best_chain(&hash)?;
            Ok(pb::QueryHeaderByHashResponse {
                header: Some(info.to_proto()),
                on_best_chain,
            }
            .encode_to_vec())
        })(),
        "HeaderByHeight" => (|| {
            let req = decode::<pb::QueryHeaderByHeightRequest>(data)?;
            let Some(info) = state.btc_header_at_height(req.height)? else {
                return Err(BtcLightClientError::NoHeaderAtHeight {
                    height: req.height,
                    base_height: state.btc_base_header()?.height,
                    tip_height: state.btc_tip()?.height,
                }
                .into());
            };
            Ok(pb::QueryHeaderByHeightResponse {
                header: Some(info.to_proto()),
            }
            .encode_to_vec())
        })(),
        "Depth" => (|| {
            let req = decode::<pb::QueryDepthRequest>(data)?;
            let hash = parse_hash(&req.hash)?;
            let info = found_or(&hash, state.btc_header_by_hash(&hash)?)?;
            let Some(depth) = state.btc_depth(&hash)? else {
                return Err(BtcLightClientError::NotOnBestChain {
                    hash,
                    height: info.height,
                    tip_height: state.btc_tip()?.height,
                }
                .into());
            };
            Ok(pb::QueryDepthResponse { depth }.encode_to_vec())
        })(),
        "ContainsHash" => (|| {
            let req = decode::<pb::QueryContainsHashRequest>(data)?;
            let hash = parse_hash(&req.hash)?;
            Ok(pb::QueryContainsHashResponse {
                contains: state.btc_contains_header(&hash)?,
            }
            .encode_to_vec())
        })(),
        "IsOnBestChain" => (|| {
            let req = decode::<pb::QueryIsOnBestChainRequest>(data)?;
            let hash = parse_hash(&req.hash)?;
            Ok(pb::QueryIsOnBestChainResponse {
                on_best_chain: state.btc_is_on_best_chain(&hash)?,
            }
            .encode_to_vec())
        })(),
        "MainChain" => (|| {
            let req = decode::<pb::QueryMainChainRequest>(data)?;
            Ok(main_chain_page(state, &req)?.encode_to_vec())
        })(),
        other => Err(TxError::new(
            sdk::CODESPACE,
            sdk::UNKNOWN_REQUEST,
            format!("unknown btclightclient query method {other:?}"),
        )),
    };
    Some(answer)
}
