//! `ballast-consumer run`: follows the consumer's validator set.
//!
//! It subscribes from the last update id in the data directory. For each update it:
//! applies the changes to the local set and recomputes the set hash; takes the app hash of the
//! update's hub height from the light client (the verified header of the next height, waiting
//! for it to exist); asks the hub for the set commitment at that height with a proof; checks
//! the commitment and the proof ([`crate::verify`]); and only then writes the new set and
//! update id ([`crate::store`]) and prints one line.
//!
//! When two updates land in one hub block, the commitment at that height is the later one's:
//! the earlier update is applied and its set hash checked, and it is proven, kept and printed
//! together with the later one.
//!
//! A failed check stops the program with an error naming it, and nothing of that update is
//! kept. A dropped stream, an unreachable hub and a hub restart are retried with exponential
//! backoff, resubscribing from the last kept update. A STOPPED consumer's stream ends after its
//! last update; the program then says so and exits.

use crate::config::Config;
use crate::hub::Hub;
use crate::light::{LightClient, LightClientError, LightOptions};
use crate::store::{self, StoreError};
use crate::verify::{
    apply_update, set_from_answer, verify_commitment, verify_commitment_at, ConsumerSet,
    VerifyError,
};
use ballast_client::rpc::CometRpc;
use ballast_proto::ballast::consumer::v1 as svc;
use ballast_proto::ballast::consumers::v1 as pb;
use prost::Message;
use std::io::Write;
use std::time::Duration;

/// The shortest wait before reconnecting.
pub const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait before reconnecting.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How often the hub is polled while the header after an update's height does not exist yet.
const HEADER_POLL: Duration = Duration::from_millis(200);

/// A deliberate corruption of every received update, for showing that verification catches
/// it (a hidden `run --tamper` flag; never for real use).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Tamper {
    /// Add 1 to the first change's power.
    Power,
    /// Flip a bit of the first change's key.
    Key,
    /// Flip a bit of the update's set hash.
    SetHash,
    /// Flip a bit of a sibling hash in the proof.
    Proof,
    /// Flip a bit of the light-client-verified app hash.
    AppHash,
}

/// Why following stopped.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// An update failed a check.
    #[error("update {update_id} refused: {reason} [check: {}]", reason.check())]
    Refused {
        /// The update.
        update_id: u64,
        /// The failed check (its message is this error's).
        reason: VerifyError,
    },
    /// The app hash of an update's height could not be verified.
    #[error("update {update_id} refused: {reason}")]
    Light {
        /// The update.
        update_id: u64,
        /// The light client's error (its message is this error's).
        reason: LightClientError,
    },
    /// The update's height is no longer kept by the hub, so it cannot be proven.
    #[error("update {update_id} cannot be verified: its hub height {hub_height} is pruned on the hub ({message}); the hub keeps only recent heights and this consumer fell behind them (`run --resync-if-pruned` jumps to the current set, proven at the latest height)")]
    Pruned {
        /// The update.
        update_id: u64,
        /// Its hub height.
        hub_height: u64,
        /// The hub's message.
        message: String,
    },
    /// The hub's gRPC answered with an error that waiting will not fix.
    #[error("the hub's {call} failed: {status}")]
    Hub {
        /// The call.
        call: &'static str,
        /// The status.
        status: Box<tonic::Status>,
    },
    /// The data directory cannot be written.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The stdout line could not be written.
    #[error("writing the update line: {0}")]
    Output(std::io::Error),
}

impl FollowError {
    /// Whether the error is an update that failed verification.
    pub fn is_refusal(&self) -> bool {
        match self {
            FollowError::Refused { .. } => true,
            FollowError::Light { reason, .. } => reason.is_verification_failure(),
            _ => false,
        }
    }
}

/// What a pass over one subscription ended with, or a retryable failure.
enum Pass {
    /// The consumer is STOPPED and every update was applied.
    Stopped(String),
    /// Reconnect (after a backoff), saying why.
    Retry(String),
}

fn transient(code: tonic::Code) -> bool {
    use tonic::Code::*;
    matches!(
        code,
        Unavailable
            | Unknown
            | Cancelled
            | DeadlineExceeded
            | ResourceExhausted
            | Aborted
            | Internal
    )
}

fn pruned(status: &tonic::Status) -> bool {
    status.message().contains("pruned") || status.message().contains("is not available")
}

/// How `run` behaves beyond the configuration.
#[derive(Clone, Copy, Debug, Default)]
pub struct FollowOptions {
    /// Corrupt every update (tests only).
    pub tamper: Option<Tamper>,
    /// When an update's height is pruned on the hub, jump to the current set, proven at the
    /// latest height, instead of stopping.
    pub resync_if_pruned: bool,
}

/// Everything `run` works with.
pub struct Follower<W: Write> {
    consumer_id: String,
    data_dir: std::path::PathBuf,
    hub: Hub,
    light: LightClient,
    set: ConsumerSet,
    tamper: Option<Tamper>,
    resync_if_pruned: bool,
    /// Updates applied to `set` but not yet proven (a later update of the same hub block
    /// holds the commitment); never kept on disk.
    unproven: Vec<ConsumerSet>,
    out: W,
}

impl<W: Write> Follower<W> {
    /// Opens the data directory and the light client for `cfg`, with the hub's chain id
    /// (resolved by the caller) and verified lines written to `out`.
    pub fn open(
        cfg: &Config,
        chain_id: String,
        opts: FollowOptions,
        out: W,
    ) -> anyhow::Result<Follower<W>> {
        let set = store::load(&cfg.data_dir, &cfg.consumer_id)?;
        let rpc = CometRpc::new(&cfg.hub.rpc_address)?.with_timeout(Duration::from_secs(20));
        let light = LightClient::open(
            rpc,
            &cfg.data_dir,
            LightOptions {
                chain_id,
                anchor: cfg.trusted_root()?,
                trusting_period: cfg.trusting_period(),
                clock_drift: cfg.clock_drift(),
                trust_threshold: cfg.trust_threshold()?,
            },
        )?;
        Ok(Follower {
            consumer_id: cfg.consumer_id.clone(),
            data_dir: cfg.data_dir.clone(),
            hub: Hub::new(&cfg.hub)?,
            light,
            set,
            tamper: opts.tamper,
            resync_if_pruned: opts.resync_if_pruned,
            unproven: Vec::new(),
            out,
        })
    }

    /// The verified set kept so far.
    pub fn set(&self) -> &ConsumerSet {
        &self.set
    }

    /// Follows until the consumer stops (Ok) or an update is refused (Err); retries the rest.
    pub async fn run(&mut self) -> Result<(), FollowError> {
        tracing::info!(
            consumer_id = %self.consumer_id,
            from_update_id = self.set.update_id,
            light_client_trusted_height = ?self.light.trusted_height(),
            "following the consumer's validator set"
        );
        let mut backoff = MIN_BACKOFF;
        loop {
            let before = self.set.update_id;
            match self.pass().await? {
                Pass::Stopped(line) => {
                    self.print(&line)?;
                    return Ok(());
                }
                Pass::Retry(why) => {
                    if self.set.update_id > before {
                        backoff = MIN_BACKOFF;
                    }
                    tracing::warn!(reason = %why, retry_in_ms = backoff.as_millis() as u64, last_update_id = self.set.update_id, "reconnecting to the hub");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    fn print(&mut self, line: &str) -> Result<(), FollowError> {
        writeln!(self.out, "{line}")
            .and_then(|_| self.out.flush())
            .map_err(FollowError::Output)
    }

    /// One subscription, until it ends or fails.
    async fn pass(&mut self) -> Result<Pass, FollowError> {
        self.drop_unproven()?;
        let mut stream = match self
            .hub
            .subscribe(&self.consumer_id, self.set.update_id)
            .await
        {
            Ok(s) => s,
            Err(s) if transient(s.code()) || s.code() == tonic::Code::NotFound => {
                return Ok(Pass::Retry(format!("subscribing: {s}")))
            }
            Err(status) => {
                return Err(FollowError::Hub {
                    call: "SubscribeValidatorSet",
                    status: Box::new(status),
                })
            }
        };
        loop {
            let update = match stream.message().await {
                Ok(Some(u)) => u,
                Ok(None) => break,
                Err(s) if transient(s.code()) => return Ok(Pass::Retry(format!("stream: {s}"))),
                Err(status) => {
                    return Err(FollowError::Hub {
                        call: "SubscribeValidatorSet",
                        status: Box::new(status),
                    })
                }
            };
            if update.update_id <= self.set.update_id {
                tracing::warn!(
                    update_id = update.update_id,
                    last = self.set.update_id,
                    "the hub sent an update already applied; skipped"
                );
                continue;
            }
            if update.update_id > self.set.update_id + 1 {
                return Ok(Pass::Retry(format!(
                    "the stream skipped from update {} to {}",
                    self.set.update_id, update.update_id
                )));
            }
            match self.process(update).await {
                Ok(None) => {}
                Ok(Some(retry)) => return Ok(Pass::Retry(retry)),
                Err(FollowError::Pruned {
                    update_id,
                    hub_height,
                    message,
                }) if self.resync_if_pruned => {
                    tracing::warn!(update_id, hub_height, %message, "the update's height is pruned on the hub; resyncing to the current set");
                    if let Some(retry) = self.resync().await? {
                        return Ok(Pass::Retry(retry));
                    }
                    return Ok(Pass::Retry("resynced".into()));
                }
                Err(e) => return Err(e),
            }
        }
        // The stream ended: a STOPPED consumer's does after its last update.
        match self.hub.consumer(&self.consumer_id).await {
            Ok(r) => {
                let c = r.consumer.unwrap_or_default();
                if c.status == pb::ConsumerStatus::Stopped as i32
                    && self.set.update_id >= c.last_update_id
                {
                    let reason = pb::StopReason::try_from(c.stop_reason)
                        .map(|r| r.as_str_name().to_string())
                        .unwrap_or_else(|_| c.stop_reason.to_string());
                    return Ok(Pass::Stopped(format!(
                        "consumer {} STOPPED at hub height {} ({reason}) after update_id={}",
                        self.consumer_id, c.stopped_height, self.set.update_id
                    )));
                }
                Ok(Pass::Retry("the stream ended".into()))
            }
            Err(s) => Ok(Pass::Retry(format!("the stream ended; GetConsumer: {s}"))),
        }
    }

    /// Verifies, keeps and prints one update. `Ok(Some(why))`: a transient failure, retry.
    async fn process(
        &mut self,
        mut update: pb::ValidatorSetUpdate,
    ) -> Result<Option<String>, FollowError> {
        let id = update.update_id;
        match self.tamper {
            Some(Tamper::Power) => {
                if let Some(c) = update.changes.first_mut() {
                    c.power = c.power.saturating_add(1);
                }
            }
            Some(Tamper::Key) => {
                if let Some(b) = update
                    .changes
                    .first_mut()
                    .and_then(|c| c.pubkey.first_mut())
                {
                    *b ^= 1;
                }
            }
            Some(Tamper::SetHash) => {
                if let Some(b) = update.set_hash.first_mut() {
                    *b ^= 1;
                }
            }
            _ => {}
        }
        let next = apply_update(&self.set, &update).map_err(|reason| FollowError::Refused {
            update_id: id,
            reason,
        })?;

        // The app hash of the update's height: the verified header above it.
        let mut app_hash = match self.app_hash(id, next.hub_height).await? {
            Ok(h) => h,
            Err(retry) => return Ok(Some(retry)),
        };
        if self.tamper == Some(Tamper::AppHash) {
            if let Some(b) = app_hash.first_mut() {
                *b ^= 1;
            }
        }

        let mut answer: svc::GetValidatorSetResponse = match self
            .hub
            .validator_set(&self.consumer_id, next.hub_height, true)
            .await
        {
            Ok(a) => a,
            Err(s) if pruned(&s) => {
                return Err(FollowError::Pruned {
                    update_id: id,
                    hub_height: next.hub_height,
                    message: s.message().to_string(),
                })
            }
            Err(s) if transient(s.code()) => return Ok(Some(format!("GetValidatorSet: {s}"))),
            Err(status) => {
                return Err(FollowError::Hub {
                    call: "GetValidatorSet",
                    status: Box::new(status),
                })
            }
        };
        if self.tamper == Some(Tamper::Proof) {
            answer.proof = tamper_proof(&answer.proof);
        }
        if superseded_in_its_block(&next, &answer) {
            // Two updates in one hub block: the commitment stored at that height is the later
            // one's. This update is proven together with it (its changes lead to the proven
            // set); until then nothing of it is kept or printed.
            tracing::info!(
                update_id = id,
                hub_height = next.hub_height,
                later = answer.commitment.as_ref().map_or(0, |c| c.update_id),
                "a later update of the same hub block holds the commitment; verifying this one with it"
            );
            self.unproven.push(next.clone());
            self.set = next;
            return Ok(None);
        }
        verify_commitment(&next, &answer, &app_hash).map_err(|reason| FollowError::Refused {
            update_id: id,
            reason,
        })?;

        store::save(&self.data_dir, &next)?;
        self.set = next;
        for earlier in std::mem::take(&mut self.unproven) {
            let line = update_line(&earlier);
            self.print(&line)?;
        }
        let line = update_line(&self.set);
        self.print(&line)?;
        Ok(None)
    }
}

/// Whether the commitment in `answer` (read at `next`'s hub height) is of a later update
/// written in the same block, so that `next` can only be proven together with it.
pub fn superseded_in_its_block(next: &ConsumerSet, answer: &svc::GetValidatorSetResponse) -> bool {
    answer.height == next.hub_height
        && answer.commitment.as_ref().is_some_and(|c| {
            c.consumer_id == next.consumer_id
                && c.hub_height == next.hub_height
                && c.update_id > next.update_id
        })
}

impl<W: Write> Follower<W> {
    /// Forgets the updates not proven yet: back to the kept set.
    fn drop_unproven(&mut self) -> Result<(), FollowError> {
        if !self.unproven.is_empty() {
            self.unproven.clear();
            self.set = store::load(&self.data_dir, &self.consumer_id)?;
        }
        Ok(())
    }

    /// The light-client-verified app hash of `hub_height` (waiting for the header above it),
    /// for update `update_id`. `Ok(Err(why))`: a transient failure, retry.
    async fn app_hash(
        &mut self,
        update_id: u64,
        hub_height: u64,
    ) -> Result<Result<Vec<u8>, String>, FollowError> {
        loop {
            match self.light.app_hash_of(hub_height).await {
                Ok(h) => return Ok(Ok(h)),
                Err(LightClientError::NotYet { .. }) => tokio::time::sleep(HEADER_POLL).await,
                Err(LightClientError::Pruned { message, .. }) => {
                    return Err(FollowError::Pruned {
                        update_id,
                        hub_height,
                        message,
                    })
                }
                Err(e) if e.is_transient() => return Ok(Err(format!("light client: {e}"))),
                Err(reason) => return Err(FollowError::Light { update_id, reason }),
            }
        }
    }

    /// Jumps to the consumer's current set: read at the hub's latest height with a proof,
    /// checked like an update (its set hashes to the commitment, the commitment is proven
    /// against the light-client-verified app hash of that height), kept and printed with the
    /// updates it skipped. `Ok(Some(why))`: a transient failure, retry.
    async fn resync(&mut self) -> Result<Option<String>, FollowError> {
        self.drop_unproven()?;
        let answer = match self.hub.validator_set(&self.consumer_id, 0, true).await {
            Ok(a) => a,
            Err(s) if transient(s.code()) => return Ok(Some(format!("GetValidatorSet: {s}"))),
            Err(status) => {
                return Err(FollowError::Hub {
                    call: "GetValidatorSet",
                    status: Box::new(status),
                })
            }
        };
        let claimed = answer.commitment.as_ref().map_or(0, |c| c.update_id);
        let next =
            set_from_answer(&self.consumer_id, &answer).map_err(|reason| FollowError::Refused {
                update_id: claimed,
                reason,
            })?;
        if next.update_id <= self.set.update_id {
            return Ok(Some(format!(
                "the hub's current set is of update {}, not past the kept update {}",
                next.update_id, self.set.update_id
            )));
        }
        let app_hash = match self.app_hash(next.update_id, answer.height).await? {
            Ok(h) => h,
            Err(retry) => return Ok(Some(retry)),
        };
        verify_commitment_at(&next, &answer, answer.height, &app_hash).map_err(|reason| {
            FollowError::Refused {
                update_id: next.update_id,
                reason,
            }
        })?;
        store::save(&self.data_dir, &next)?;
        let skipped = (self.set.update_id + 1, next.update_id - 1);
        self.set = next;
        let mut line = update_line(&self.set);
        if skipped.0 <= skipped.1 {
            line.push_str(&format!(
                " (resync at hub height {}: updates {}..={} skipped, their heights are pruned)",
                answer.height, skipped.0, skipped.1
            ));
        } else {
            line.push_str(&format!(" (resync at hub height {})", answer.height));
        }
        self.print(&line)?;
        Ok(None)
    }
}

/// The line printed for a verified update.
pub fn update_line(set: &ConsumerSet) -> String {
    format!(
        "update_id={} epoch={} hub_height={} validators={} total_power={} set_hash={} verified",
        set.update_id,
        set.epoch,
        set.hub_height,
        set.validators.len(),
        set.total_power(),
        hex::encode(&set.set_hash[..6]),
    )
}

/// `proof` with one bit of a sibling hash on its path flipped (or of its last byte, when it
/// does not decode).
fn tamper_proof(proof: &[u8]) -> Vec<u8> {
    let Ok(mut p) = ics23::CommitmentProof::decode(proof) else {
        let mut v = proof.to_vec();
        if let Some(b) = v.last_mut() {
            *b ^= 1;
        }
        return v;
    };
    if let Some(ics23::commitment_proof::Proof::Exist(e)) = p.proof.as_mut() {
        if let Some(op) = e.path.first_mut() {
            if let Some(b) = op.suffix.first_mut() {
                *b ^= 1;
            } else if let Some(b) = op.prefix.last_mut() {
                *b ^= 1;
            }
        } else if let Some(b) = e.value.first_mut() {
            *b ^= 1;
        }
    }
    p.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Member;

    #[test]
    fn the_update_line_names_id_epoch_height_size_power_and_hash_prefix() {
        let mut s = ConsumerSet::empty("demo-1");
        s.update_id = 4;
        s.epoch = 9;
        s.hub_height = 52;
        s.validators.insert(
            [1; 32],
            Member {
                power: 30,
                operator_btc_pk: vec![],
            },
        );
        s.validators.insert(
            [2; 32],
            Member {
                power: 12,
                operator_btc_pk: vec![],
            },
        );
        s.set_hash = crate::verify::set_hash(&s.validators).unwrap();
        assert_eq!(
            update_line(&s),
            format!(
                "update_id=4 epoch=9 hub_height=52 validators=2 total_power=42 set_hash={} verified",
                hex::encode(&s.set_hash[..6])
            )
        );
    }

    #[test]
    fn pruned_heights_and_transient_codes_are_recognised() {
        assert!(pruned(&tonic::Status::failed_precondition(
            "version 5 was pruned (earliest retained version: 90)"
        )));
        assert!(!pruned(&tonic::Status::not_found(
            "consumer demo-1 is not registered"
        )));
        assert!(transient(tonic::Code::Unavailable));
        assert!(transient(tonic::Code::ResourceExhausted));
        assert!(!transient(tonic::Code::InvalidArgument));
    }

    #[test]
    fn a_tampered_proof_still_decodes_but_differs() {
        let p = ics23::CommitmentProof {
            proof: Some(ics23::commitment_proof::Proof::Exist(
                ics23::ExistenceProof {
                    key: b"k".to_vec(),
                    value: b"v".to_vec(),
                    leaf: None,
                    path: vec![ics23::InnerOp {
                        hash: 1,
                        prefix: vec![1, 2],
                        suffix: vec![3, 4],
                    }],
                },
            )),
        };
        let bytes = p.encode_to_vec();
        let t = tamper_proof(&bytes);
        assert_ne!(t, bytes);
        let back = ics23::CommitmentProof::decode(t.as_slice()).unwrap();
        match back.proof.unwrap() {
            ics23::commitment_proof::Proof::Exist(e) => assert_eq!(e.path[0].suffix, vec![2, 4]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_a_later_commitment_of_the_same_block_defers_an_update() {
        let mut next = ConsumerSet::empty("demo-1");
        next.update_id = 3;
        next.hub_height = 40;
        let answer =
            |update_id: u64, hub_height: u64, consumer_id: &str| svc::GetValidatorSetResponse {
                height: 40,
                commitment: Some(pb::SetCommitment {
                    consumer_id: consumer_id.into(),
                    update_id,
                    epoch: 0,
                    hub_height,
                    set_hash: vec![],
                }),
                ..Default::default()
            };
        assert!(superseded_in_its_block(&next, &answer(4, 40, "demo-1")));
        // Its own commitment, an older one, one of another block or consumer: verified (and
        // refused) as they are.
        assert!(!superseded_in_its_block(&next, &answer(3, 40, "demo-1")));
        assert!(!superseded_in_its_block(&next, &answer(2, 40, "demo-1")));
        assert!(!superseded_in_its_block(&next, &answer(4, 41, "demo-1")));
        assert!(!superseded_in_its_block(&next, &answer(4, 40, "demo-2")));
        let mut other_height = answer(4, 40, "demo-1");
        other_height.height = 41;
        assert!(!superseded_in_its_block(&next, &other_height));
        assert!(!superseded_in_its_block(
            &next,
            &svc::GetValidatorSetResponse {
                height: 40,
                ..Default::default()
            }
        ));
    }
}
