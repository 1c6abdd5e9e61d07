//! `ballast-consumer run`: follows the consumer's validator set.
//!
//! It subscribes from the last update id in the data directory. For each update it:
//! applies the changes to the local set and recomputes the set hash; takes the app hash of the
//! update's hub height from the light client (the verified header of the next height, waiting
//! for it to exist); asks the hub for the set commitment at that height with a proof; checks
//! the commitment and the proof ([`crate::verify`]); and only then writes the new set and
//! update id ([`crate::store`]) and prints one line.
//!
//! The commitment at an update's hub height must be exactly that update's (the hub writes at
//! most one update of a consumer per block): any other commitment there, a later update's
//! included, refuses the update (`commitment_mismatch`). No update is ever applied, kept or
//! printed before its own proof verified.
//!
//! A failed check stops the program with an error naming it, and nothing of that update is
//! kept. A dropped stream, an unreachable hub and a hub restart are retried with exponential
//! backoff, resubscribing from the last kept update. A STOPPED consumer's stream ends after its
//! last update; the program says so and exits only once the set kept on disk has that update.

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
use std::pin::Pin;
use std::time::Duration;
use tokio_stream::{Stream, StreamExt};

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
    /// With no trusted header configured, trust the first header the hub serves (also allowed
    /// by `light_client.trust_on_first_use`); otherwise [`Follower::open`] refuses.
    pub trust_on_first_use: bool,
}

/// A hub's stream of validator-set updates.
pub type UpdateStream =
    Pin<Box<dyn Stream<Item = Result<pb::ValidatorSetUpdate, tonic::Status>> + Send>>;

/// What following reads from the hub: its `ballast.consumer.v1.Consumer` service, and the app
/// hashes of its heights, verified by the light client. [`Remote`] is the real one.
// Used with static dispatch on the caller's runtime: the futures need no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait Source {
    /// `SubscribeValidatorSet` from `from_update_id` (updates above it).
    async fn subscribe(
        &mut self,
        consumer_id: &str,
        from_update_id: u64,
    ) -> Result<UpdateStream, tonic::Status>;
    /// `GetValidatorSet{height, prove: true}` (height 0: the latest).
    async fn validator_set(
        &mut self,
        consumer_id: &str,
        height: u64,
    ) -> Result<svc::GetValidatorSetResponse, tonic::Status>;
    /// `GetConsumer`.
    async fn consumer(
        &mut self,
        consumer_id: &str,
    ) -> Result<svc::GetConsumerResponse, tonic::Status>;
    /// The verified app hash of hub height `hub_height`.
    async fn app_hash_of(&mut self, hub_height: u64) -> Result<Vec<u8>, LightClientError>;
    /// The light client's latest verified header, for the log.
    fn trusted_height(&self) -> Option<u64> {
        None
    }
}

/// The hub's gRPC service and a light client of its RPC.
pub struct Remote {
    hub: Hub,
    light: LightClient,
}

impl Source for Remote {
    async fn subscribe(
        &mut self,
        consumer_id: &str,
        from_update_id: u64,
    ) -> Result<UpdateStream, tonic::Status> {
        let s = self.hub.subscribe(consumer_id, from_update_id).await?;
        Ok(Box::pin(s))
    }

    async fn validator_set(
        &mut self,
        consumer_id: &str,
        height: u64,
    ) -> Result<svc::GetValidatorSetResponse, tonic::Status> {
        self.hub.validator_set(consumer_id, height, true).await
    }

    async fn consumer(
        &mut self,
        consumer_id: &str,
    ) -> Result<svc::GetConsumerResponse, tonic::Status> {
        self.hub.consumer(consumer_id).await
    }

    async fn app_hash_of(&mut self, hub_height: u64) -> Result<Vec<u8>, LightClientError> {
        self.light.app_hash_of(hub_height).await
    }

    fn trusted_height(&self) -> Option<u64> {
        self.light.trusted_height()
    }
}

/// Everything `run` works with.
pub struct Follower<W: Write, S: Source = Remote> {
    consumer_id: String,
    data_dir: std::path::PathBuf,
    source: S,
    /// The verified set, as kept on disk: replaced only right after [`store::save`] wrote the
    /// new one.
    set: ConsumerSet,
    tamper: Option<Tamper>,
    resync_if_pruned: bool,
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
        let rpc = CometRpc::new(&cfg.hub.rpc_address)?.with_timeout(Duration::from_secs(20));
        let light = LightClient::open(
            rpc,
            &cfg.data_dir,
            LightOptions {
                chain_id,
                anchor: cfg.light_anchor(opts.trust_on_first_use)?,
                trusting_period: cfg.trusting_period(),
                clock_drift: cfg.clock_drift(),
                trust_threshold: cfg.trust_threshold()?,
            },
        )?;
        let source = Remote {
            hub: Hub::new(&cfg.hub)?,
            light,
        };
        Follower::with_source(cfg, source, opts, out)
    }
}

impl<W: Write, S: Source> Follower<W, S> {
    /// A follower reading from `source`, keeping its set in `cfg`'s data directory.
    pub fn with_source(
        cfg: &Config,
        source: S,
        opts: FollowOptions,
        out: W,
    ) -> anyhow::Result<Follower<W, S>> {
        let set = store::load(&cfg.data_dir, &cfg.consumer_id)?;
        Ok(Follower {
            consumer_id: cfg.consumer_id.clone(),
            data_dir: cfg.data_dir.clone(),
            source,
            set,
            tamper: opts.tamper,
            resync_if_pruned: opts.resync_if_pruned,
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
            light_client_trusted_height = ?self.source.trusted_height(),
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
        let mut stream = match self
            .source
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
            let update = match stream.next().await {
                Some(Ok(u)) => u,
                None => break,
                Some(Err(s)) if transient(s.code()) => {
                    return Ok(Pass::Retry(format!("stream: {s}")))
                }
                Some(Err(status)) => {
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
        // The stream ended: a STOPPED consumer's does after its last update. It is over only
        // when the set kept on disk (verified) has that update.
        match self.source.consumer(&self.consumer_id).await {
            Ok(r) => {
                let c = r.consumer.unwrap_or_default();
                if c.status != pb::ConsumerStatus::Stopped as i32 {
                    return Ok(Pass::Retry("the stream ended".into()));
                }
                let kept = store::load(&self.data_dir, &self.consumer_id)?;
                if kept.update_id >= c.last_update_id {
                    let reason = pb::StopReason::try_from(c.stop_reason)
                        .map(|r| r.as_str_name().to_string())
                        .unwrap_or_else(|_| c.stop_reason.to_string());
                    return Ok(Pass::Stopped(format!(
                        "consumer {} STOPPED at hub height {} ({reason}) after update_id={}",
                        self.consumer_id, c.stopped_height, kept.update_id
                    )));
                }
                Ok(Pass::Retry(format!(
                    "the consumer is STOPPED after update {}, the kept set is of update {}",
                    c.last_update_id, kept.update_id
                )))
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
            .source
            .validator_set(&self.consumer_id, next.hub_height)
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
        // The commitment at the update's height must be this very update's: a later one there
        // (or any other) is refused, never taken as proof of this one.
        verify_commitment(&next, &answer, &app_hash).map_err(|reason| FollowError::Refused {
            update_id: id,
            reason,
        })?;

        store::save(&self.data_dir, &next)?;
        self.set = next;
        let line = update_line(&self.set);
        self.print(&line)?;
        Ok(None)
    }
}

impl<W: Write, S: Source> Follower<W, S> {
    /// The light-client-verified app hash of `hub_height` (waiting for the header above it),
    /// for update `update_id`. `Ok(Err(why))`: a transient failure, retry.
    async fn app_hash(
        &mut self,
        update_id: u64,
        hub_height: u64,
    ) -> Result<Result<Vec<u8>, String>, FollowError> {
        loop {
            match self.source.app_hash_of(hub_height).await {
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
        let answer = match self.source.validator_set(&self.consumer_id, 0).await {
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
                unverified_operator: vec![],
            },
        );
        s.validators.insert(
            [2; 32],
            Member {
                power: 12,
                unverified_operator: vec![],
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

    /// A hub made of an in-memory state tree (real ICS-23 proofs against its roots): it streams
    /// `updates`, answers `GetValidatorSet` from the tree, reports `consumer`, and gives each
    /// height's root as its verified app hash.
    struct FakeHub {
        tree: jmt_hub::Hub,
        updates: Vec<pb::ValidatorSetUpdate>,
        consumer: pb::Consumer,
    }

    use crate::verify::tests as jmt_hub;
    use crate::verify::tests::{change, honest, ID};
    use crate::verify::{apply_update, VerifyError};

    impl Source for FakeHub {
        async fn subscribe(
            &mut self,
            _consumer_id: &str,
            from_update_id: u64,
        ) -> Result<UpdateStream, tonic::Status> {
            let items: Vec<_> = self
                .updates
                .iter()
                .filter(|u| u.update_id > from_update_id)
                .cloned()
                .map(Ok)
                .collect();
            Ok(Box::pin(tokio_stream::iter(items)))
        }

        async fn validator_set(
            &mut self,
            consumer_id: &str,
            height: u64,
        ) -> Result<svc::GetValidatorSetResponse, tonic::Status> {
            if !self.tree.roots.contains_key(&height) {
                return Err(tonic::Status::invalid_argument(format!(
                    "no height {height}"
                )));
            }
            Ok(self.tree.answer(consumer_id, height))
        }

        async fn consumer(
            &mut self,
            _consumer_id: &str,
        ) -> Result<svc::GetConsumerResponse, tonic::Status> {
            Ok(svc::GetConsumerResponse {
                consumer: Some(self.consumer.clone()),
                ..Default::default()
            })
        }

        async fn app_hash_of(&mut self, hub_height: u64) -> Result<Vec<u8>, LightClientError> {
            self.tree
                .roots
                .get(&hub_height)
                .map(|r| r.to_vec())
                .ok_or(LightClientError::Invalid {
                    height: hub_height + 1,
                    reason: "no such header".into(),
                })
        }
    }

    fn stopped(last_update_id: u64) -> pb::Consumer {
        pb::Consumer {
            consumer_id: ID.into(),
            status: pb::ConsumerStatus::Stopped as i32,
            stop_reason: pb::StopReason::Removed as i32,
            stopped_height: 33,
            last_update_id,
            ..Default::default()
        }
    }

    /// The hub's sets: update 1 alone at height 20, then updates 2 and 3 written in one block
    /// (height 31), so the commitment stored at 31 is update 3's. Returns the tree, the sets
    /// after updates 1 and 3, and updates 1, 2 and 3.
    fn two_updates_in_one_block() -> (jmt_hub::Hub, [ConsumerSet; 2], [pb::ValidatorSetUpdate; 3]) {
        let mut tree = jmt_hub::Hub::new();
        tree.commit(19, &[]);
        let s0 = ConsumerSet::empty(ID);
        let u1 = honest(&s0, 20, 4, vec![change(1, 100), change(2, 50)]);
        let s1 = apply_update(&s0, &u1).unwrap();
        tree.commit_update(&s1);
        let u2 = honest(&s1, 31, 5, vec![change(1, 70)]);
        let s2 = apply_update(&s1, &u2).unwrap();
        let u3 = honest(&s2, 31, 5, vec![change(2, 0)]);
        let s3 = apply_update(&s2, &u3).unwrap();
        tree.commit(30, &[]);
        tree.commit_update(&s3);
        (tree, [s1, s3], [u1, u2, u3])
    }

    fn config(dir: &std::path::Path) -> Config {
        Config {
            consumer_id: ID.into(),
            data_dir: dir.to_path_buf(),
            ..Config::default()
        }
    }

    /// Runs `f` to its end, failing the test if it is still going after 20 s (a run that
    /// keeps retrying).
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async { tokio::time::timeout(Duration::from_secs(20), f).await })
            .expect("the run ended within 20 s")
    }

    fn printed(out: &[u8]) -> Vec<String> {
        String::from_utf8_lossy(out)
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn an_update_whose_height_commits_a_later_update_is_refused_even_when_the_later_one_proves() {
        let (tree, [s1, _s3], [u1, _, _]) = two_updates_in_one_block();
        // A lying hub: update 2 is made up (a validator with most of the power), sent with the
        // height of the block that holds update 3's commitment; its update 3 takes the made-up
        // set back to the true set after update 3, so update 3 alone would prove.
        let forged2 = honest(&s1, 31, 5, vec![change(1, 1_000_000), change(7, 500)]);
        let f2 = apply_update(&s1, &forged2).unwrap();
        let forged3 = honest(&f2, 31, 5, vec![change(1, 70), change(2, 0), change(7, 0)]);
        assert_eq!(
            apply_update(&f2, &forged3).unwrap().set_hash,
            _s3.set_hash,
            "the forged update 3 leads to the proven set"
        );
        let dir = tempfile::tempdir().unwrap();
        let hub = FakeHub {
            tree,
            updates: vec![u1, forged2, forged3],
            consumer: pb::Consumer {
                status: pb::ConsumerStatus::Active as i32,
                last_update_id: 3,
                ..Default::default()
            },
        };
        let mut out = Vec::new();
        let mut f =
            Follower::with_source(&config(dir.path()), hub, FollowOptions::default(), &mut out)
                .unwrap();
        let err = block_on(f.run()).unwrap_err();
        match &err {
            FollowError::Refused {
                update_id: 2,
                reason:
                    VerifyError::CommitmentMismatch {
                        field: "update_id",
                        expected,
                        found,
                        ..
                    },
            } => assert_eq!((expected.as_str(), found.as_str()), ("2", "3")),
            other => panic!("{other}"),
        }
        assert!(err.is_refusal());
        assert!(
            err.to_string().contains("[check: commitment_mismatch]"),
            "{err}"
        );
        drop(f);
        // Update 1 alone was printed and is kept.
        assert_eq!(printed(&out), vec![update_line(&s1)]);
        assert_eq!(store::load(dir.path(), ID).unwrap(), s1);
    }

    #[test]
    fn a_stopped_consumer_ends_the_run_only_when_the_kept_set_has_its_last_update() {
        // The hub's updates 2 and 3 share a block; its stream sends update 2 and ends, and the
        // consumer is STOPPED after update 2: update 2 cannot be proven, so it is refused, not
        // taken as the end.
        let (tree, [s1, _], [u1, u2, _]) = two_updates_in_one_block();
        let dir = tempfile::tempdir().unwrap();
        let hub = FakeHub {
            tree,
            updates: vec![u1.clone(), u2],
            consumer: stopped(2),
        };
        let mut out = Vec::new();
        let mut f =
            Follower::with_source(&config(dir.path()), hub, FollowOptions::default(), &mut out)
                .unwrap();
        let err = block_on(f.run()).unwrap_err();
        assert!(
            matches!(err, FollowError::Refused { update_id: 2, .. }),
            "{err}"
        );
        drop(f);
        assert_eq!(printed(&out), vec![update_line(&s1)]);
        assert_eq!(store::load(dir.path(), ID).unwrap().update_id, 1);

        // Stopped after update 1, which is kept: the run ends with the STOPPED line.
        let (tree, [s1, _], _) = two_updates_in_one_block();
        let dir = tempfile::tempdir().unwrap();
        let hub = FakeHub {
            tree,
            updates: vec![u1],
            consumer: stopped(1),
        };
        let mut out = Vec::new();
        let mut f =
            Follower::with_source(&config(dir.path()), hub, FollowOptions::default(), &mut out)
                .unwrap();
        block_on(f.run()).unwrap();
        drop(f);
        assert_eq!(
            printed(&out),
            vec![
                update_line(&s1),
                "consumer demo-1 STOPPED at hub height 33 (STOP_REASON_REMOVED) after update_id=1"
                    .to_string()
            ]
        );

        // The comparison is with the set on disk: a set in memory ahead of it (update 2,
        // never kept) does not end the run; the pass asks for a retry.
        let mut out = Vec::new();
        let (tree, _, _) = two_updates_in_one_block();
        let hub = FakeHub {
            tree,
            updates: vec![],
            consumer: stopped(2),
        };
        let mut f =
            Follower::with_source(&config(dir.path()), hub, FollowOptions::default(), &mut out)
                .unwrap();
        assert_eq!(f.set().update_id, 1);
        f.set.update_id = 2;
        match block_on(f.pass()).unwrap() {
            Pass::Retry(why) => assert!(why.contains("kept set is of update 1"), "{why}"),
            Pass::Stopped(line) => panic!("stopped on a set that is not kept: {line}"),
        }
        drop(f);
        assert!(out.is_empty());
    }
}
