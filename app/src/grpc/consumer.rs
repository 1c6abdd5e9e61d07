//! `ballast.consumer.v1.Consumer`: the service consumer chains use.
//!
//! Every answer is read from committed state on tokio's blocking pool, never under the
//! consensus lock. The two streams replay from the store and then take live messages from the
//! one [`Dispatcher`] that runs after each Commit; see [`dispatcher`] for the bounded buffers
//! and the RESOURCE_EXHAUSTED cut-off, and [`streams`] for the replay-to-live handoff (no gap,
//! no duplicate: the subscriber registers before it replays and skips update ids it has sent).

mod checkpoints;
mod dispatcher;
mod streams;
#[cfg(test)]
mod tests;

pub(crate) use dispatcher::Dispatcher;

use crate::storage::{Snapshot, StorageError};
use crate::App;
use ballast_checkpointing::CheckpointingRead;
use ballast_proto::ballast::consumer::v1 as pb;
use ballast_proto::ballast::consumer::v1::consumer_server::Consumer;
use ballast_proto::ballast::consumers::v1 as cpb;
use prost::Message;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// Longest consumer id (a chain id).
pub const MAX_CONSUMER_ID_LEN: usize = 50;

/// `Ok` for 1 to 50 characters of `[a-zA-Z0-9._-]`; INVALID_ARGUMENT otherwise.
pub(crate) fn check_consumer_id(id: &str) -> Result<(), Status> {
    if id.is_empty() || id.len() > MAX_CONSUMER_ID_LEN {
        return Err(Status::invalid_argument(format!(
            "consumer_id must be 1 to {MAX_CONSUMER_ID_LEN} characters, found {}",
            id.len()
        )));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(Status::invalid_argument(format!(
            "consumer_id may hold only [a-zA-Z0-9._-], found {c:?} in {id:?}"
        )));
    }
    Ok(())
}

/// A node failure reading state, as INTERNAL (and in the log).
pub(crate) fn internal(e: impl std::fmt::Display) -> Status {
    tracing::error!(error = %e, "the consumer service cannot read committed state");
    Status::internal(format!("reading committed state failed: {e}"))
}

/// Runs a read on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(super::status::join_status)?
}

/// The latest committed version; UNAVAILABLE before the first block.
pub(crate) fn latest_snapshot(app: &App) -> Result<Snapshot, Status> {
    app.storage()
        .latest_snapshot()
        .map_err(internal)?
        .ok_or_else(|| Status::unavailable("the node has no committed block yet"))
}

/// A retained committed version (0: the latest); OUT_OF_RANGE for a height above the latest or
/// below the oldest this node keeps.
fn snapshot_at(app: &App, height: u64) -> Result<Snapshot, Status> {
    let latest = latest_snapshot(app)?;
    if height == 0 || height == latest.version() {
        return Ok(latest);
    }
    let last = latest.version();
    if height > last {
        return Err(Status::out_of_range(format!(
            "height {height} is above the latest committed height {last}"
        )));
    }
    let earliest = app.storage().earliest_version().unwrap_or(last);
    if height < earliest {
        return Err(Status::out_of_range(format!(
            "height {height} was pruned: this node keeps heights {earliest} to {last}"
        )));
    }
    app.storage().snapshot(height).map_err(|e| {
        Status::out_of_range(format!(
            "height {height} is not available on this node: {e}"
        ))
    })
}

/// The value under `key` at `snap` with an ICS-23 proof against its root; the proof is `None`
/// when ICS-23 cannot prove the key's absence (a key next to it in the tree holds an empty
/// value, which ICS-23 cannot prove).
fn prove(
    snap: &Snapshot,
    key: &[u8],
) -> Result<(Option<Vec<u8>>, Option<ics23::CommitmentProof>), Status> {
    match snap.get_with_proof(key) {
        Ok((value, proof)) => Ok((value, Some(proof))),
        Err(StorageError::Unprovable { .. }) => {
            let value = snap.get(key).map_err(internal)?;
            if value.as_ref().is_some_and(|v| !v.is_empty()) {
                return Err(internal(format!(
                    "the proof of {} at height {} does not verify",
                    String::from_utf8_lossy(key),
                    snap.version()
                )));
            }
            Ok((None, None))
        }
        Err(e) => Err(internal(e)),
    }
}

fn get_consumer(app: &App, req: pb::GetConsumerRequest) -> Result<pb::GetConsumerResponse, Status> {
    check_consumer_id(&req.consumer_id)?;
    let snap = latest_snapshot(app)?;
    let consumer = ballast_consumers::read::consumer(&snap, &req.consumer_id)
        .map_err(internal)?
        .ok_or_else(|| not_registered(&req.consumer_id, snap.version()))?;
    let params = ballast_consumers::read::params(&snap).map_err(internal)?;
    Ok(pb::GetConsumerResponse {
        consumer: Some(consumer),
        params,
        height: snap.version(),
    })
}

fn not_registered(consumer_id: &str, height: u64) -> Status {
    Status::not_found(format!(
        "consumer {consumer_id:?} is not registered (at height {height})"
    ))
}

fn get_validator_set(
    app: &App,
    req: pb::GetValidatorSetRequest,
) -> Result<pb::GetValidatorSetResponse, Status> {
    let id = req.consumer_id.as_str();
    check_consumer_id(id)?;
    let snap = snapshot_at(app, req.height)?;
    let height = snap.version();
    if ballast_consumers::read::consumer(&snap, id)
        .map_err(internal)?
        .is_none()
    {
        return Err(not_registered(id, height));
    }
    let set = ballast_consumers::read::validator_set(&snap, id)
        .map_err(internal)?
        .unwrap_or_else(|| cpb::ConsumerValidatorSet {
            consumer_id: id.to_string(),
            ..Default::default()
        });
    let commitment = ballast_consumers::read::set_commitment(&snap, id).map_err(internal)?;
    let proof_key = ballast_consumers::state_key::set_hash(id).into_bytes();
    let proof = if req.prove {
        let (value, proof) = prove(&snap, &proof_key)?;
        if value != commitment.as_ref().map(|c| c.encode_to_vec()) {
            return Err(internal(format!(
                "the proven value of {} differs from the commitment read at height {height}",
                String::from_utf8_lossy(&proof_key)
            )));
        }
        proof
            .ok_or_else(|| {
                Status::failed_precondition(format!(
                    "consumer {id:?} has no set commitment at height {height} yet, and its \
                     absence cannot be proven there with ICS-23 (a neighbouring key holds an \
                     empty value); ask without prove, or after its first update"
                ))
            })?
            .encode_to_vec()
    } else {
        Vec::new()
    };
    Ok(pb::GetValidatorSetResponse {
        height,
        set: Some(set),
        commitment,
        proof_key,
        proof,
        app_hash: snap.root().to_vec(),
    })
}

fn get_btc_timestamp(
    app: &App,
    req: pb::GetBtcTimestampRequest,
) -> Result<pb::GetBtcTimestampResponse, Status> {
    let snap = latest_snapshot(app)?;
    let latest = snap.version();
    let cfg = snap.epoch_config().map_err(internal)?;
    let h = req.hub_height;
    if h > latest {
        return Err(Status::out_of_range(format!(
            "hub height {h} is above the latest committed height {latest}"
        )));
    }
    let epoch = cfg.epoch_of_height(h).ok_or_else(|| {
        Status::invalid_argument(format!(
            "hub height {h} is below the chain's initial height {}",
            cfg.initial_height()
        ))
    })?;
    let first_height = cfg.first_height(epoch).unwrap_or(h);
    let last_height = cfg.last_height(epoch).unwrap_or(u64::MAX);
    let params = snap.checkpointing_params().map_err(internal)?;
    let checkpoint = checkpoints::record(&snap, epoch).map_err(internal)?;
    let proof_key = ballast_checkpointing::state_key::checkpoint(epoch).into_bytes();
    // An epoch that has not ended has no checkpoint; when ICS-23 cannot prove that absence
    // (see [`prove`]) the proof is left empty.
    let (value, proof) = prove(&snap, &proof_key)?;
    if value != checkpoint.as_ref().map(|c| c.encode_to_vec()) {
        return Err(internal(format!(
            "the proven value of {} differs from the record read at height {latest}",
            String::from_utf8_lossy(&proof_key)
        )));
    }
    let depth = match checkpoint.as_ref().and_then(checkpoints::later_block) {
        None => None,
        Some((_, later)) => {
            let tip = checkpoints::btc_tip_height(&snap).ok_or_else(|| {
                internal("a checkpoint has a Bitcoin submission but the light client has no tip")
            })?;
            Some(tip.saturating_sub(later))
        }
    };
    Ok(pb::GetBtcTimestampResponse {
        epoch,
        first_height,
        last_height,
        checkpoint,
        depth,
        confirmation_depth: params.btc_confirmation_depth,
        finalization_timeout: params.btc_finalization_timeout,
        proof_height: latest,
        proof_key,
        proof: proof.map(|p| p.encode_to_vec()).unwrap_or_default(),
    })
}

/// The service.
#[derive(Clone)]
pub(crate) struct ConsumerService {
    pub(crate) app: App,
    pub(crate) dispatcher: Dispatcher,
}

#[tonic::async_trait]
impl Consumer for ConsumerService {
    async fn get_consumer(
        &self,
        request: Request<pb::GetConsumerRequest>,
    ) -> Result<Response<pb::GetConsumerResponse>, Status> {
        let (app, req) = (self.app.clone(), request.into_inner());
        blocking(move || get_consumer(&app, req))
            .await
            .map(Response::new)
    }

    async fn get_validator_set(
        &self,
        request: Request<pb::GetValidatorSetRequest>,
    ) -> Result<Response<pb::GetValidatorSetResponse>, Status> {
        let (app, req) = (self.app.clone(), request.into_inner());
        blocking(move || get_validator_set(&app, req))
            .await
            .map(Response::new)
    }

    type SubscribeValidatorSetStream = ReceiverStream<Result<cpb::ValidatorSetUpdate, Status>>;

    async fn subscribe_validator_set(
        &self,
        request: Request<pb::SubscribeValidatorSetRequest>,
    ) -> Result<Response<Self::SubscribeValidatorSetStream>, Status> {
        let req = request.into_inner();
        check_consumer_id(&req.consumer_id)?;
        let (app, id) = (self.app.clone(), req.consumer_id.clone());
        let consumer = blocking(move || {
            let snap = latest_snapshot(&app)?;
            ballast_consumers::read::consumer(&snap, &id)
                .map_err(internal)?
                .ok_or_else(|| not_registered(&id, snap.version()))
        })
        .await?;
        // Register before replaying: every update above the cursor comes live, and the replay
        // reads everything up to it (and past it) from the store.
        let sub = self
            .dispatcher
            .subscribe_validator_set(&req.consumer_id, consumer.last_update_id);
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(streams::validator_set(
            self.app.clone(),
            req.consumer_id,
            req.from_update_id,
            sub,
            tx,
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    type SubscribeCheckpointsStream = ReceiverStream<Result<pb::CheckpointEvent, Status>>;

    async fn subscribe_checkpoints(
        &self,
        request: Request<pb::SubscribeCheckpointsRequest>,
    ) -> Result<Response<Self::SubscribeCheckpointsStream>, Status> {
        let req = request.into_inner();
        let app = self.app.clone();
        blocking(move || latest_snapshot(&app).map(|_| ())).await?;
        let sub = self.dispatcher.subscribe_checkpoints();
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(streams::checkpoints(
            self.app.clone(),
            req.from_epoch,
            sub,
            tx,
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get_btc_timestamp(
        &self,
        request: Request<pb::GetBtcTimestampRequest>,
    ) -> Result<Response<pb::GetBtcTimestampResponse>, Status> {
        let (app, req) = (self.app.clone(), request.into_inner());
        blocking(move || get_btc_timestamp(&app, req))
            .await
            .map(Response::new)
    }

    async fn submit_evidence(
        &self,
        _request: Request<pb::SubmitEvidenceRequest>,
    ) -> Result<Response<pb::SubmitEvidenceResponse>, Status> {
        Err(Status::unimplemented(
            "consumer double-sign evidence is not accepted yet: it arrives with the slashing \
             module (a later release); until then this node neither checks nor relays it",
        ))
    }
}
