//! A CometBFT light client of the hub, run against its RPC (`commit`, `validators`, `status`),
//! that yields app hashes the consumer can trust.
//!
//! - **Trust root.** The header at a configured height whose hash the operator configured, or,
//!   with none configured and only when the caller allows it (`run --trust-on-first-use` or
//!   `light_client.trust_on_first_use = true`), the first header the client needs, trusted on
//!   first use. Either way
//!   the root must be internally consistent (its validator sets match the header's hashes and
//!   more than 2/3 of its validators signed its commit), and it is recorded in
//!   `<data_dir>/light_client.json` with the latest verified header.
//! - **Forward.** A later header is verified from the latest trusted one with
//!   `tendermint-light-client-verifier`'s `ProdVerifier` (skipping verification: enough of the
//!   trusted validators' power signed it; bisection when not), then becomes the trusted one.
//! - **Backward.** A header below the trusted one is accepted when the chain of
//!   `last_block_id` hashes links it to the trusted header.
//!
//! The app hash of hub height `h` is in the header of height `h + 1`.

use crate::store::{write_atomic, StoreError};
use ballast_client::rpc::{CometRpc, RpcError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tendermint::block::signed_header::SignedHeader;
use tendermint::block::{Header, Height};
use tendermint::validator::Set;
use tendermint_light_client_verifier::errors::ErrorExt;
use tendermint_light_client_verifier::options::Options;
use tendermint_light_client_verifier::types::{LightBlock, TrustThreshold};
use tendermint_light_client_verifier::{ProdVerifier, Verdict, Verifier};
use tendermint_proto::v0_38::types::{
    SignedHeader as RawSignedHeader, ValidatorSet as RawValidatorSet,
};
use tendermint_proto::Protobuf;
use tendermint_rpc::endpoint::{commit, validators};

/// The file holding the trust root and the latest verified header.
pub const LIGHT_FILE: &str = "light_client.json";

/// Most validators asked for per page of `validators` (CometBFT's maximum).
const PER_PAGE: u8 = 100;

/// Why a header could not be verified.
#[derive(Debug, thiserror::Error)]
pub enum LightClientError {
    /// The hub's RPC could not be reached or did not answer in time (retried).
    #[error("cannot reach the hub's CometBFT RPC: {0}")]
    Unreachable(String),
    /// The hub does not (yet) have the height.
    #[error("hub height {height} is not available yet (latest: {latest})")]
    NotYet {
        /// The height asked for.
        height: u64,
        /// The hub's latest height.
        latest: u64,
    },
    /// The hub no longer has the height (pruned blocks).
    #[error("hub height {height} is pruned on the hub's RPC node: {message}")]
    Pruned {
        /// The height asked for.
        height: u64,
        /// The node's message.
        message: String,
    },
    /// The node answered with an error or with something that does not parse.
    #[error("the hub's RPC answered {method} for height {height} with an error: {message}")]
    Remote {
        /// The RPC method.
        method: &'static str,
        /// The height asked for.
        height: u64,
        /// The node's error.
        message: String,
    },
    /// A header failed verification.
    #[error("light-client verification of hub header {height} failed: {reason}")]
    Invalid {
        /// The header's height.
        height: u64,
        /// What the verifier said.
        reason: String,
    },
    /// The trusted header is older than the trusting period allows.
    #[error("the trusted hub header {height} is outside the trusting period ({reason}); configure a newer light_client.trusted_height and trusted_hash, or remove {file} to trust on first use again (with run --trust-on-first-use)")]
    Expired {
        /// The trusted header's height.
        height: u64,
        /// What the verifier said.
        reason: String,
        /// The light client's file.
        file: PathBuf,
    },
    /// The configured trusted header's hash differs.
    #[error("hub header {height} has hash {found}, the configured light_client.trusted_hash is {expected}")]
    AnchorMismatch {
        /// The configured height.
        height: u64,
        /// The configured hash.
        expected: String,
        /// The header's hash.
        found: String,
    },
    /// A header below the trusted one does not link to it.
    #[error("hub header {height} (hash {hash}) is not the parent the trusted header chain names ({expected})")]
    BrokenChain {
        /// The header's height.
        height: u64,
        /// Its hash.
        hash: String,
        /// The `last_block_id` of the header above.
        expected: String,
    },
    /// The header is of another chain.
    #[error("hub header {height} is of chain {found:?}, expected {expected:?}")]
    WrongChain {
        /// The header's height.
        height: u64,
        /// The configured chain.
        expected: String,
        /// The header's chain id.
        found: String,
    },
    /// The light client's file cannot be used.
    #[error("light client state: {0}")]
    Store(#[from] StoreError),
}

impl LightClientError {
    /// Whether waiting and trying again may help.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            LightClientError::Unreachable(_)
                | LightClientError::NotYet { .. }
                | LightClientError::Remote { .. }
        )
    }

    /// Whether a header failed a check (a hub that lies, or a tampered header).
    pub fn is_verification_failure(&self) -> bool {
        matches!(
            self,
            LightClientError::Invalid { .. }
                | LightClientError::AnchorMismatch { .. }
                | LightClientError::BrokenChain { .. }
                | LightClientError::WrongChain { .. }
        )
    }
}

/// The light client's settings.
#[derive(Clone, Debug)]
pub struct LightOptions {
    /// The hub's chain id.
    pub chain_id: String,
    /// A configured trust root: height and header hash. `None`: trust on first use (the caller
    /// checked it is allowed: [`crate::config::Config::light_anchor`]).
    pub anchor: Option<(u64, [u8; 32])>,
    /// How long a verified header can vouch for later ones.
    pub trusting_period: Duration,
    /// Allowed clock drift between the hub's block times and this machine.
    pub clock_drift: Duration,
    /// Fraction of the trusted power that must sign a skipped-to header.
    pub trust_threshold: TrustThreshold,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LightFile {
    chain_id: String,
    /// The configured root (0 / "": trusted on first use).
    anchor_height: u64,
    anchor_hash: String,
    /// Protobuf (CometBFT v0.38) of the latest verified light block, hex.
    signed_header: String,
    validators: String,
    next_validators: String,
}

/// The light client.
pub struct LightClient {
    rpc: CometRpc,
    opts: LightOptions,
    verifier: ProdVerifier,
    path: PathBuf,
    trusted: Option<LightBlock>,
    provider: tendermint::node::Id,
    /// Headers below the trusted one that a backward walk verified, so that the next walk
    /// (for a later update) starts from the nearest of them.
    below: BTreeMap<u64, Header>,
}

/// Most headers [`LightClient::below`] keeps.
const MAX_BELOW: usize = 100_000;

fn remote(method: &'static str, height: u64) -> impl Fn(RpcError) -> LightClientError {
    move |e| match e {
        RpcError::Unreachable { .. } | RpcError::Timeout { .. } | RpcError::BadAddress { .. } => {
            LightClientError::Unreachable(e.to_string())
        }
        RpcError::Remote { why, .. } => {
            if why.contains("is not available") || why.contains("pruned") {
                LightClientError::Pruned {
                    height,
                    message: why,
                }
            } else {
                LightClientError::Remote {
                    method,
                    height,
                    message: why,
                }
            }
        }
    }
}

fn height_of(h: u64) -> Result<Height, LightClientError> {
    Height::try_from(h).map_err(|e| LightClientError::Invalid {
        height: h,
        reason: format!("not a valid height: {e}"),
    })
}

impl LightClient {
    /// A light client for the hub's RPC at `rpc_address`, keeping its state in `data_dir`.
    /// Loads the recorded state; a record made from another trust root than the configured one
    /// is dropped (the configured root is used again).
    pub fn open(
        rpc: CometRpc,
        data_dir: &Path,
        opts: LightOptions,
    ) -> Result<LightClient, LightClientError> {
        let path = data_dir.join(LIGHT_FILE);
        let mut lc = LightClient {
            rpc,
            opts,
            verifier: ProdVerifier::default(),
            path,
            trusted: None,
            provider: tendermint::node::Id::new([0; 20]),
            below: BTreeMap::new(),
        };
        lc.trusted = lc.load()?;
        Ok(lc)
    }

    /// The latest verified header's height, if any.
    pub fn trusted_height(&self) -> Option<u64> {
        self.trusted.as_ref().map(|b| b.height().value())
    }

    fn load(&self) -> Result<Option<LightBlock>, LightClientError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StoreError::Io {
                    op: "read",
                    path: self.path.clone(),
                    source,
                }
                .into())
            }
        };
        let invalid = |message: String| {
            LightClientError::Store(StoreError::Invalid {
                path: self.path.clone(),
                message,
            })
        };
        let f: LightFile = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if f.chain_id != self.opts.chain_id {
            return Err(invalid(format!(
                "it is for chain {:?}, the hub is {:?}",
                f.chain_id, self.opts.chain_id
            )));
        }
        let recorded = (f.anchor_height, f.anchor_hash.clone());
        let configured = match self.opts.anchor {
            Some((h, hash)) => (h, hex::encode(hash)),
            None => (0, String::new()),
        };
        if self.opts.anchor.is_some() && recorded != configured {
            tracing::info!(
                recorded_height = recorded.0,
                configured_height = configured.0,
                "the configured trust root changed; starting again from it"
            );
            return Ok(None);
        }
        let dec = |name: &str, s: &str| {
            hex::decode(s).map_err(|e| invalid(format!("{name} is not hex: {e}")))
        };
        let signed_header = <SignedHeader as Protobuf<RawSignedHeader>>::decode_vec(&dec(
            "signed_header",
            &f.signed_header,
        )?)
        .map_err(|e| invalid(format!("signed_header: {e}")))?;
        let validators =
            <Set as Protobuf<RawValidatorSet>>::decode_vec(&dec("validators", &f.validators)?)
                .map_err(|e| invalid(format!("validators: {e}")))?;
        let next_validators = <Set as Protobuf<RawValidatorSet>>::decode_vec(&dec(
            "next_validators",
            &f.next_validators,
        )?)
        .map_err(|e| invalid(format!("next_validators: {e}")))?;
        let block = LightBlock::new(signed_header, validators, next_validators, self.provider);
        // What was recorded was verified; check it is still self-consistent (an edited file).
        self.check_self_consistent(&block)?;
        Ok(Some(block))
    }

    fn save(&self, block: &LightBlock) -> Result<(), LightClientError> {
        let (anchor_height, anchor_hash) = match self.opts.anchor {
            Some((h, hash)) => (h, hex::encode(hash)),
            None => (0, String::new()),
        };
        let f = LightFile {
            chain_id: self.opts.chain_id.clone(),
            anchor_height,
            anchor_hash,
            signed_header: hex::encode(<SignedHeader as Protobuf<RawSignedHeader>>::encode_vec(
                block.signed_header.clone(),
            )),
            validators: hex::encode(<Set as Protobuf<RawValidatorSet>>::encode_vec(
                block.validators.clone(),
            )),
            next_validators: hex::encode(<Set as Protobuf<RawValidatorSet>>::encode_vec(
                block.next_validators.clone(),
            )),
        };
        let mut json = serde_json::to_vec_pretty(&f).expect("the light client file serializes");
        json.push(b'\n');
        write_atomic(&self.path, &json)?;
        Ok(())
    }

    async fn status_height(&self) -> Result<u64, LightClientError> {
        let s = self
            .rpc
            .status()
            .await
            .map_err(|e| LightClientError::Unreachable(e.to_string()))?;
        Ok(s.sync_info.latest_block_height.value())
    }

    /// The signed header of `height`.
    async fn signed_header(&self, height: u64) -> Result<SignedHeader, LightClientError> {
        let latest = self.status_height().await?;
        if latest < height {
            return Err(LightClientError::NotYet { height, latest });
        }
        let r: commit::Response = self
            .rpc
            .perform(commit::Request::new(height_of(height)?))
            .await
            .map_err(remote("commit", height))?;
        let got = r.signed_header.header.height.value();
        if got != height {
            return Err(LightClientError::Invalid {
                height,
                reason: format!("the RPC answered the commit of height {got}"),
            });
        }
        if r.signed_header.header.chain_id.as_str() != self.opts.chain_id {
            return Err(LightClientError::WrongChain {
                height,
                expected: self.opts.chain_id.clone(),
                found: r.signed_header.header.chain_id.to_string(),
            });
        }
        Ok(r.signed_header)
    }

    /// The validator set of `height`, every page.
    async fn validator_set(&self, height: u64) -> Result<Set, LightClientError> {
        let mut all = Vec::new();
        let mut page: usize = 1;
        loop {
            let req = validators::Request::new(
                Some(height_of(height)?),
                Some(page.into()),
                Some(PER_PAGE.into()),
            );
            let r: validators::Response = self
                .rpc
                .perform(req)
                .await
                .map_err(remote("validators", height))?;
            let total = usize::try_from(r.total).unwrap_or(0);
            let got = r.validators.len();
            all.extend(r.validators);
            if got == 0 || all.len() >= total {
                break;
            }
            page += 1;
        }
        Ok(Set::without_proposer(all))
    }

    /// The light block of `height`: its signed header, its validators and the next height's
    /// (the same set when the header says they are equal; otherwise fetched, waiting for that
    /// height if it is not there yet).
    async fn light_block(&self, height: u64) -> Result<LightBlock, LightClientError> {
        let signed_header = self.signed_header(height).await?;
        let validators = self.validator_set(height).await?;
        let next_validators =
            if signed_header.header.next_validators_hash == signed_header.header.validators_hash {
                validators.clone()
            } else {
                let next = height.saturating_add(1);
                let latest = self.status_height().await?;
                if latest < next {
                    return Err(LightClientError::NotYet {
                        height: next,
                        latest,
                    });
                }
                self.validator_set(next).await?
            };
        Ok(LightBlock::new(
            signed_header,
            validators,
            next_validators,
            self.provider,
        ))
    }

    fn options(&self) -> Options {
        Options {
            trust_threshold: self.opts.trust_threshold,
            trusting_period: self.opts.trusting_period,
            clock_drift: self.opts.clock_drift,
        }
    }

    /// A root must be internally consistent: its validator sets match its header and more
    /// than 2/3 of its validators signed its commit.
    fn check_self_consistent(&self, block: &LightBlock) -> Result<(), LightClientError> {
        let height = block.height().value();
        let untrusted = block.as_untrusted_state();
        for verdict in [
            self.verifier.verify_validator_sets(&untrusted),
            self.verifier.verify_commit(&untrusted),
        ] {
            if verdict != Verdict::Success {
                return Err(LightClientError::Invalid {
                    height,
                    reason: format!("{verdict:?}"),
                });
            }
        }
        Ok(())
    }

    /// Establishes the trust root: the configured header, or `first_needed` on first use.
    async fn root(&mut self, first_needed: u64) -> Result<(), LightClientError> {
        let block = match self.opts.anchor {
            Some((height, hash)) => {
                let block = self.light_block(height).await?;
                let found = block.signed_header.header.hash();
                if found.as_bytes() != hash.as_slice() {
                    return Err(LightClientError::AnchorMismatch {
                        height,
                        expected: hex::encode_upper(hash),
                        found: found.to_string(),
                    });
                }
                self.check_self_consistent(&block)?;
                tracing::info!(height, hash = %found, "light client: trust root is the configured header");
                block
            }
            None => {
                let block = self.light_block(first_needed).await?;
                self.check_self_consistent(&block)?;
                tracing::warn!(
                    height = first_needed,
                    hash = %block.signed_header.header.hash(),
                    "light client: no trusted header configured; trusting this one on first use (set light_client.trusted_height and trusted_hash to pin one)"
                );
                block
            }
        };
        self.save(&block)?;
        self.trusted = Some(block);
        Ok(())
    }

    /// The verified header of `height`.
    pub async fn verified_header(&mut self, height: u64) -> Result<Header, LightClientError> {
        if self.trusted.is_none() {
            self.root(height).await?;
        }
        let trusted = self.trusted.clone().expect("the root was just set");
        let trusted_height = trusted.height().value();
        if height == trusted_height {
            return Ok(trusted.signed_header.header);
        }
        if height < trusted_height {
            return self.backward(&trusted, height).await;
        }
        self.forward(trusted, height).await
    }

    /// Skipping verification from `trusted` to `target`, bisecting when too little of the
    /// trusted power signed.
    async fn forward(
        &mut self,
        mut trusted: LightBlock,
        target: u64,
    ) -> Result<Header, LightClientError> {
        let options = self.options();
        let mut pending = vec![target];
        while let Some(&h) = pending.last() {
            let block = self.light_block(h).await?;
            let verdict = self.verifier.verify_update_header(
                block.as_untrusted_state(),
                trusted.as_trusted_state(),
                &options,
                tendermint::Time::now(),
            );
            match verdict {
                Verdict::Success => {
                    trusted = block;
                    pending.pop();
                }
                Verdict::NotEnoughTrust(tally) => {
                    let from = trusted.height().value();
                    let pivot = from + (h - from) / 2;
                    if pivot == from {
                        return Err(LightClientError::Invalid {
                            height: h,
                            reason: format!(
                                "not enough trust from header {from} even for the next height ({tally})"
                            ),
                        });
                    }
                    pending.push(pivot);
                }
                Verdict::Invalid(detail) => {
                    let height = trusted.height().value();
                    if detail.has_expired() {
                        return Err(LightClientError::Expired {
                            height,
                            reason: detail.to_string(),
                            file: self.path.clone(),
                        });
                    }
                    return Err(LightClientError::Invalid {
                        height: h,
                        reason: detail.to_string(),
                    });
                }
            }
        }
        self.save(&trusted)?;
        let header = trusted.signed_header.header.clone();
        self.trusted = Some(trusted);
        Ok(header)
    }

    /// A header below the trusted one, linked to it by `last_block_id` hashes (from the
    /// nearest header above it already verified).
    async fn backward(
        &mut self,
        trusted: &LightBlock,
        target: u64,
    ) -> Result<Header, LightClientError> {
        if let Some(h) = self.below.get(&target) {
            return Ok(h.clone());
        }
        let mut above: Header = self
            .below
            .range(target..)
            .next()
            .map(|(_, h)| h.clone())
            .unwrap_or_else(|| trusted.signed_header.header.clone());
        let mut h = above.height.value();
        let mut walked = Vec::new();
        while h > target {
            h -= 1;
            let header = self.signed_header(h).await?.header;
            let expected =
                above
                    .last_block_id
                    .map(|id| id.hash)
                    .ok_or_else(|| LightClientError::Invalid {
                        height: h + 1,
                        reason: "the header has no last_block_id".into(),
                    })?;
            let hash = header.hash();
            if hash != expected {
                return Err(LightClientError::BrokenChain {
                    height: h,
                    hash: hash.to_string(),
                    expected: expected.to_string(),
                });
            }
            walked.push(header.clone());
            above = header;
        }
        if self.below.len() + walked.len() > MAX_BELOW {
            self.below.clear();
        }
        for header in walked {
            self.below.insert(header.height.value(), header);
        }
        Ok(above)
    }

    /// The app hash of hub height `hub_height`, from the verified header of `hub_height + 1`.
    pub async fn app_hash_of(&mut self, hub_height: u64) -> Result<Vec<u8>, LightClientError> {
        let header = self.verified_header(hub_height.saturating_add(1)).await?;
        Ok(header.app_hash.as_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_errors_are_sorted_into_transient_and_pruned() {
        let pruned = remote("commit", 5)(RpcError::Remote {
            method: "commit".into(),
            why: "height is not available (requested height: 5, base height: 40)".into(),
        });
        assert!(matches!(pruned, LightClientError::Pruned { height: 5, .. }));
        assert!(!pruned.is_transient());
        let down = remote("commit", 5)(RpcError::Unreachable {
            url: "http://127.0.0.1:1/".into(),
            why: "connection refused".into(),
        });
        assert!(down.is_transient());
        assert!(!down.is_verification_failure());
    }
}
