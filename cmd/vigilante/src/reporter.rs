//! The reporter: keeps Ballast's Bitcoin light client on bitcoind's best chain and reports the
//! checkpoint transactions it finds.
//!
//! Every tick:
//!
//! 1. **Headers.** The fork point is the highest block of bitcoind's best chain that the light
//!    client knows ([`highest_known`]); the headers above it go to Ballast in
//!    `MsgInsertHeaders` batches (at most the light client's `max_headers_per_msg`). After a
//!    reorg the competing branch is sent from the fork point, and the light client switches
//!    once the branch has more work.
//! 2. **Scan.** New blocks of bitcoind's best chain are scanned for checkpoint parts
//!    ([`ScanIndex`]); blocks that left the best chain are dropped with their parts.
//! 3. **Proofs.** For every SEALED checkpoint with a matching pair of parts whose blocks are on
//!    the light client's best chain, `MsgInsertBtcSpvProof` is sent. A proof Ballast refused is
//!    not sent again for a while.

use crate::ballast::{Ballast, BallastError};
use crate::btc::{BtcChainView, BtcError, BtcRpc};
use crate::chain::{highest_known, BtcChain, ForkPointError, ScanIndex};
use crate::config::ReporterConfig;
use crate::scan;
use ballast_checkpointing::encoding::CheckpointTag;
use ballast_checkpointing::RawCheckpoint;
use ballast_proto::ballast::btclightclient::v1 as lc_pb;
use ballast_proto::ballast::checkpointing::v1 as ck_pb;
use bitcoin::{BlockHash, Txid};
use prost::Message;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Type URL of the header message.
pub const INSERT_HEADERS_URL: &str = "/ballast.btclightclient.v1.MsgInsertHeaders";

/// Codespace and code of checkpointing's `DeepReorg`: headers that drop a finalized
/// checkpoint's Bitcoin block from the best chain, on which Ballast halts.
const DEEP_REORG_CODESPACE: &str = "checkpointing";
const DEEP_REORG_CODE: u32 = 40;
/// Gas of an unsimulated header batch: generous, since it is the chain's last tx.
const DEEP_REORG_BASE_GAS: u64 = 1_000_000;
const DEEP_REORG_GAS_PER_HEADER: u64 = 100_000;
/// Type URL of the proof message.
pub const INSERT_PROOF_URL: &str = "/ballast.checkpointing.v1.MsgInsertBtcSpvProof";
/// Ticks a refused proof waits before it is sent again.
pub const REFUSED_PROOF_COOLDOWN_TICKS: u64 = 20;
/// Blocks kept in the scan window beyond `scan_depth`.
pub const SCAN_KEEP_MARGIN: u64 = 100;

/// Why a reporter step failed.
#[derive(Debug, thiserror::Error)]
pub enum ReporterError {
    /// bitcoind failed.
    #[error(transparent)]
    Btc(#[from] BtcError),
    /// Ballast failed.
    #[error(transparent)]
    Ballast(#[from] BallastError),
    /// The fork-point search failed.
    #[error("finding where bitcoind and the light client diverge: {0}")]
    ForkPoint(#[from] ForkPointError),
    /// Ballast's params are not usable.
    #[error("{0}")]
    Params(String),
}

impl ReporterError {
    /// Whether a node could not be reached (the tick is retried with backoff).
    pub fn is_unreachable(&self) -> bool {
        match self {
            ReporterError::Btc(b) => b.is_unreachable(),
            ReporterError::Ballast(BallastError::Unreachable(_)) => true,
            ReporterError::ForkPoint(ForkPointError::Btc(m) | ForkPointError::Ballast(m)) => {
                m.contains("cannot reach")
            }
            _ => false,
        }
    }
}

/// What identifies one proof: the epoch, the two txs and their blocks.
type ProofKey = (u64, Txid, Txid, BlockHash, BlockHash);

/// Params read from Ballast once.
#[derive(Clone, Copy, Debug)]
struct Params {
    tag: CheckpointTag,
    max_headers: u32,
    base_height: u64,
}

/// The reporter's state (in memory only: everything can be found again from the chains).
pub struct Reporter {
    btc: Arc<BtcRpc>,
    ballast: Arc<Ballast>,
    cfg: ReporterConfig,
    params: Option<Params>,
    index: ScanIndex,
    refused: BTreeMap<ProofKey, u64>,
    ticks: u64,
}

impl Reporter {
    /// A reporter that has seen nothing yet.
    pub fn new(btc: Arc<BtcRpc>, ballast: Arc<Ballast>, cfg: ReporterConfig) -> Reporter {
        Reporter {
            btc,
            ballast,
            cfg,
            params: None,
            index: ScanIndex::new(),
            refused: BTreeMap::new(),
            ticks: 0,
        }
    }

    async fn params(&mut self) -> Result<Params, ReporterError> {
        if let Some(p) = self.params {
            return Ok(p);
        }
        let (_, max_headers) = self.ballast.lc_params().await?;
        let (base_height, _) = self.ballast.lc_base().await?;
        let ck = self.ballast.checkpointing_params().await?;
        let tag: [u8; 4] = ck.checkpoint_tag.as_bytes().try_into().map_err(|_| {
            ReporterError::Params(format!(
                "ballast's checkpoint_tag {:?} is not 4 bytes",
                ck.checkpoint_tag
            ))
        })?;
        let p = Params {
            tag: CheckpointTag(tag),
            max_headers: max_headers.max(1),
            base_height,
        };
        self.params = Some(p);
        Ok(p)
    }

    /// One pass: headers, scan, proofs.
    pub async fn tick(&mut self) -> Result<(), ReporterError> {
        self.ticks += 1;
        let p = self.params().await?;
        let chain = BtcChainView(self.btc.clone());
        let (tip_height, tip_hash) = chain.best().await?;
        let fork = highest_known(&chain, &*self.ballast, p.base_height, tip_height).await?;
        if fork < tip_height {
            self.relay_headers(&chain, p, fork, tip_height, tip_hash)
                .await?;
        }
        let start = p
            .base_height
            .saturating_add(1)
            .max(tip_height.saturating_sub(self.cfg.scan_depth));
        let synced = self
            .index
            .sync(
                &chain,
                p.tag,
                start,
                self.cfg.scan_depth.saturating_add(SCAN_KEEP_MARGIN),
            )
            .await?;
        if synced.rolled_back > 0 {
            tracing::info!(
                blocks = synced.rolled_back,
                "bitcoind reorged: dropped scanned blocks that left its best chain"
            );
        }
        if synced.parts_found > 0 {
            tracing::info!(
                parts = synced.parts_found,
                blocks = synced.scanned,
                "found checkpoint parts in new blocks"
            );
        }
        self.report_proofs(p).await
    }

    async fn relay_headers(
        &self,
        chain: &BtcChainView,
        p: Params,
        fork: u64,
        tip_height: u64,
        tip_hash: BlockHash,
    ) -> Result<(), ReporterError> {
        let batch = u64::from(self.cfg.header_batch_size.min(p.max_headers).max(1));
        let mut prev = chain
            .hash_at(fork)
            .await?
            .ok_or(ForkPointError::ChainMoved(fork))?;
        let mut from = fork + 1;
        while from <= tip_height {
            let to = from.saturating_add(batch - 1).min(tip_height);
            let mut headers = Vec::new();
            for h in from..=to {
                let Some(hash) = chain.hash_at(h).await? else {
                    tracing::debug!(height = h, "bitcoind's chain moved while relaying headers");
                    return Ok(());
                };
                let raw = self.btc.header_bytes(hash).await?;
                let header: bitcoin::block::Header = bitcoin::consensus::deserialize(&raw)
                    .map_err(|e| BtcError::Unexpected {
                        method: "getblockheader",
                        message: e.to_string(),
                    })?;
                if header.prev_blockhash != prev {
                    tracing::debug!(height = h, "bitcoind reorged while relaying headers");
                    return Ok(());
                }
                prev = hash;
                headers.push(raw);
            }
            let count = headers.len();
            let msg = lc_pb::MsgInsertHeaders {
                signer: self.ballast.address().to_string(),
                headers,
            };
            let any = prost_types::Any {
                type_url: INSERT_HEADERS_URL.into(),
                value: msg.encode_to_vec(),
            };
            let inc = match self
                .ballast
                .send("MsgInsertHeaders", vec![any.clone()])
                .await
            {
                Err(BallastError::Rejected {
                    code,
                    codespace,
                    log,
                    ..
                }) if codespace == DEEP_REORG_CODESPACE && code == DEEP_REORG_CODE => {
                    // Bitcoin reorganised under a FINALIZED checkpoint. The protocol's answer is
                    // that Ballast halts, which only happens once the headers are in a block:
                    // simulation refuses them, so they go out unsimulated.
                    tracing::error!(
                        from,
                        to,
                        log = %log,
                        "bitcoin reorganised deeper than btc_finalization_timeout under a finalized checkpoint; relaying the headers anyway so that Ballast halts"
                    );
                    let gas = DEEP_REORG_BASE_GAS
                        .saturating_add(DEEP_REORG_GAS_PER_HEADER.saturating_mul(count as u64));
                    self.ballast
                        .send_unsimulated("MsgInsertHeaders", vec![any], gas)
                        .await?
                }
                other => other?,
            };
            tracing::info!(
                from,
                to,
                count,
                last = %prev,
                btc_tip = %tip_hash,
                hub_height = inc.height,
                "relayed headers"
            );
            from = to + 1;
        }
        Ok(())
    }

    async fn report_proofs(&mut self, p: Params) -> Result<(), ReporterError> {
        let sealed = self
            .ballast
            .checkpoints(ck_pb::CheckpointStatus::Sealed)
            .await?;
        if sealed.is_empty() {
            return Ok(());
        }
        let pairs = scan::pair_parts(&self.index.parts(), p.tag);
        let ticks = self.ticks;
        self.refused
            .retain(|_, at| ticks.saturating_sub(*at) < REFUSED_PROOF_COOLDOWN_TICKS);
        for rec in sealed {
            let Some(raw_pb) = rec.raw.as_ref() else {
                continue;
            };
            let Ok(raw) = RawCheckpoint::try_from(raw_pb) else {
                tracing::warn!(
                    epoch = rec.epoch,
                    "ballast's sealed checkpoint does not decode"
                );
                continue;
            };
            let Some(pair) = scan::best_pair_for(&raw, &pairs) else {
                continue;
            };
            let key: ProofKey = (
                rec.epoch,
                pair.part0.txid,
                pair.part1.txid,
                pair.part0.block_hash,
                pair.part1.block_hash,
            );
            if self.refused.contains_key(&key) {
                continue;
            }
            if !self.ballast.lc_on_best_chain(pair.part0.block_hash).await?
                || !self.ballast.lc_on_best_chain(pair.part1.block_hash).await?
            {
                tracing::debug!(
                    epoch = rec.epoch,
                    "the blocks of a checkpoint's txs are not on the light client's best chain yet"
                );
                continue;
            }
            let msg = scan::spv_message(self.ballast.address(), pair).to_proto();
            let any = prost_types::Any {
                type_url: INSERT_PROOF_URL.into(),
                value: msg.encode_to_vec(),
            };
            match self.ballast.send("MsgInsertBtcSpvProof", vec![any]).await {
                Ok(inc) => tracing::info!(
                    epoch = rec.epoch,
                    part0_txid = %pair.part0.txid,
                    part1_txid = %pair.part1.txid,
                    part0_block = %pair.part0.block_hash,
                    part1_block = %pair.part1.block_hash,
                    btc_height = pair.later_height(),
                    submitter = %pair.submitter,
                    hub_height = inc.height,
                    "reported proof"
                ),
                Err(BallastError::Unreachable(m)) => {
                    return Err(BallastError::Unreachable(m).into())
                }
                Err(e) => {
                    tracing::warn!(epoch = rec.epoch, error = %e, "ballast refused a checkpoint proof; not sending it again for a while");
                    self.refused.insert(key, ticks);
                }
            }
        }
        Ok(())
    }
}
