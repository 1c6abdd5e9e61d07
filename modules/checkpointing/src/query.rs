//! The ABCI query paths `/ballast.checkpointing.v1.Query/<Method>` (protobuf request as data,
//! protobuf response), served from the last committed state.

use crate::checkpoint::CheckpointStatus;
use crate::store::{epochs_in_status, CheckpointingRead};
use crate::validators::consensus_address_hex;
use crate::CheckpointingError;
use ballast_framework::{sdk, StateRead, TxError};
use ballast_proto::ballast::checkpointing::v1 as pb;
use prost::Message;

/// Default page size of the checkpoints listing.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;
/// Largest page of the checkpoints listing.
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// Prefix of every query path of this module.
pub const QUERY_PREFIX: &str = "/ballast.checkpointing.v1.Query/";

fn decode<M: Message + Default>(data: &[u8]) -> Result<M, TxError> {
    M::decode(data).map_err(|e| TxError::new(sdk::CODESPACE, sdk::INVALID_REQUEST, e.to_string()))
}

fn checkpoints_page(
    state: &dyn StateRead,
    req: &pb::QueryCheckpointsRequest,
) -> Result<pb::QueryCheckpointsResponse, CheckpointingError> {
    let status = CheckpointStatus::from_proto(req.status).ok_or_else(|| {
        CheckpointingError::InvalidQuery(format!(
            "status {} is not a checkpoint status (1 ACCUMULATING to 5 FINALIZED)",
            req.status
        ))
    })?;
    let limit = match req.limit {
        0 => DEFAULT_PAGE_LIMIT,
        l if l > MAX_PAGE_LIMIT => {
            return Err(CheckpointingError::InvalidQuery(format!(
                "limit {l} is above the maximum {MAX_PAGE_LIMIT}"
            )))
        }
        l => l,
    };
    let (epochs, next_epoch) = epochs_in_status(state, status, req.start_epoch, limit as usize)?;
    let mut checkpoints = Vec::with_capacity(epochs.len());
    for e in epochs {
        let rec = state.checkpoint(e)?.ok_or_else(|| {
            crate::error::corrupt(format!("indexed checkpoint of epoch {e} missing"))
        })?;
        checkpoints.push(rec.to_proto());
    }
    Ok(pb::QueryCheckpointsResponse {
        checkpoints,
        next_epoch,
    })
}

/// Answers the query paths of this module, or `None` for another module's path.
pub fn route(state: &dyn StateRead, path: &str, data: &[u8]) -> Option<Result<Vec<u8>, TxError>> {
    let method = path.strip_prefix(QUERY_PREFIX)?;
    let answer: Result<Vec<u8>, TxError> = match method {
        "Params" => (|| {
            decode::<pb::QueryParamsRequest>(data)?;
            Ok(pb::QueryParamsResponse {
                params: Some(state.checkpointing_params()?.to_proto()),
            }
            .encode_to_vec())
        })(),
        "Checkpoint" => (|| {
            let req = decode::<pb::QueryCheckpointRequest>(data)?;
            let rec =
                state
                    .checkpoint(req.epoch)?
                    .ok_or(CheckpointingError::CheckpointNotFound {
                        epoch: req.epoch,
                        hint: "the epoch has not ended yet",
                    })?;
            Ok(pb::QueryCheckpointResponse {
                checkpoint: Some(rec.to_proto()),
            }
            .encode_to_vec())
        })(),
        "Checkpoints" => (|| {
            let req = decode::<pb::QueryCheckpointsRequest>(data)?;
            Ok(checkpoints_page(state, &req)?.encode_to_vec())
        })(),
        "EpochOfHeight" => (|| {
            let req = decode::<pb::QueryEpochOfHeightRequest>(data)?;
            let cfg = state.epoch_config()?;
            let epoch = cfg.epoch_of_height(req.height).ok_or_else(|| {
                CheckpointingError::InvalidQuery(format!(
                    "height {} is below the chain's initial height {}",
                    req.height,
                    cfg.initial_height()
                ))
            })?;
            let first_height = cfg.first_height(epoch).unwrap_or(req.height);
            let last_height = cfg.last_height(epoch).unwrap_or(u64::MAX);
            Ok(pb::QueryEpochOfHeightResponse {
                epoch,
                first_height,
                last_height,
            }
            .encode_to_vec())
        })(),
        "LatestFinalizedEpoch" => (|| {
            decode::<pb::QueryLatestFinalizedEpochRequest>(data)?;
            Ok(pb::QueryLatestFinalizedEpochResponse {
                epoch: state.latest_finalized_epoch()?,
            }
            .encode_to_vec())
        })(),
        "BlsKey" => (|| {
            let req = decode::<pb::QueryBlsKeyRequest>(data)?;
            let v = consensus_address_hex(&req.validator_address)?;
            let info = state.bls_key(&v)?.ok_or_else(|| {
                CheckpointingError::InvalidQuery(format!(
                    "validator {} has no bls key",
                    hex::encode(v.0)
                ))
            })?;
            Ok(pb::QueryBlsKeyResponse {
                bls_key: Some(info.to_proto()),
            }
            .encode_to_vec())
        })(),
        "ValidatorSnapshot" => (|| {
            let req = decode::<pb::QueryValidatorSnapshotRequest>(data)?;
            let snap = state
                .validator_snapshot(req.epoch)?
                .ok_or(CheckpointingError::SnapshotNotFound { epoch: req.epoch })?;
            Ok(pb::QueryValidatorSnapshotResponse {
                snapshot: Some(snap.to_proto()),
            }
            .encode_to_vec())
        })(),
        other => Err(TxError::new(
            sdk::CODESPACE,
            sdk::UNKNOWN_REQUEST,
            format!("unknown checkpointing query method {other:?}"),
        )),
    };
    Some(answer)
}
