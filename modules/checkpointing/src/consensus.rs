//! Height-aware entry points for the app's consensus hook, so that its wiring is one call per
//! ABCI method. Each decides from the stored [`crate::EpochConfig`] whether the height is the
//! last block of an epoch (vote extensions) or the first block of the next one (the injected
//! checkpoint), and then calls the functions of [`crate::votes`].
//!
//! | ABCI call | function | at other heights |
//! |---|---|---|
//! | ExtendVote | [`vote_extension_at`] | empty extension |
//! | VerifyVoteExtension | [`verify_vote_extension_at`] | the extension must be empty |
//! | PrepareProposal | [`proposal_payload_at`] | no payload |
//! | ProcessProposal | [`check_proposal_payload_at`] | a payload is refused |
//! | FinalizeBlock | [`apply_proposal_payload_at`] | a payload is refused |

use crate::checkpoint::{CheckpointRecord, RawCheckpoint};
use crate::store::CheckpointingRead;
use crate::votes::{aggregate, apply_raw_checkpoint, extend_vote, verify_raw_checkpoint};
use crate::{BlsSecretKey, CheckpointingError};
use ballast_framework::{BlockHash, ConsensusAddress, ErrorCode, StateRead, StateWrite};

/// This validator's extension for a vote on the block at `height` (hash `block_hash`): a BLS
/// signature at the last block of an epoch, nothing otherwise or without a key.
pub fn vote_extension_at<S: StateRead + ?Sized>(
    state: &S,
    key: Option<&BlsSecretKey>,
    height: u64,
    block_hash: &BlockHash,
) -> Result<Vec<u8>, CheckpointingError> {
    let Some(epoch) = state.epoch_config()?.epoch_ending_at(height) else {
        return Ok(Vec::new());
    };
    Ok(key
        .map(|k| extend_vote(k, epoch, block_hash))
        .unwrap_or_default())
}

/// Checks another validator's extension on the block at `height`: at the last block of an
/// epoch it must be a valid signature ([`crate::verify_vote_extension`]), elsewhere empty.
pub fn verify_vote_extension_at<S: StateRead + ?Sized>(
    state: &S,
    validator: &ConsensusAddress,
    height: u64,
    block_hash: &BlockHash,
    extension: &[u8],
) -> Result<(), CheckpointingError> {
    match state.epoch_config()?.epoch_ending_at(height) {
        Some(epoch) => {
            crate::verify_vote_extension(state, validator, epoch, block_hash, extension)
        }
        None if extension.is_empty() => Ok(()),
        None => Err(CheckpointingError::MalformedVoteExtension(format!(
            "height {height} is not the last block of an epoch, so no checkpoint extension is expected, found {} bytes",
            extension.len()
        ))),
    }
}

/// The injected payload of the proposal for `height`: at the first block of epoch `e + 1`, the
/// raw checkpoint of epoch `e` aggregated from the last commit's extensions
/// ([`RawCheckpoint::to_bytes`]). `None` at other heights, and also when the extensions do not
/// carry more than 2/3 of the power or the checkpoint cannot be sealed (the block goes ahead
/// without it and the checkpoint stays ACCUMULATING). Only node failures are errors.
pub fn proposal_payload_at<S: StateRead + ?Sized, B: AsRef<[u8]>>(
    state: &S,
    height: u64,
    extensions: &[(ConsensusAddress, B)],
) -> Result<Option<Vec<u8>>, CheckpointingError> {
    let Some(epoch) = state.epoch_config()?.checkpoint_epoch_at(height) else {
        return Ok(None);
    };
    match aggregate(state, epoch, extensions) {
        Ok(raw) => Ok(Some(raw.to_bytes().to_vec())),
        Err(e) if e.is_fatal() => Err(e),
        Err(_) => Ok(None),
    }
}

/// Decodes a payload and checks it is the checkpoint due at `height`.
fn due_checkpoint<S: StateRead + ?Sized>(
    state: &S,
    height: u64,
    payload: &[u8],
) -> Result<RawCheckpoint, CheckpointingError> {
    let Some(epoch) = state.epoch_config()?.checkpoint_epoch_at(height) else {
        return Err(CheckpointingError::MalformedCheckpoint(format!(
            "height {height} is not the first block of an epoch, so it carries no checkpoint"
        )));
    };
    let raw = RawCheckpoint::from_bytes(payload)?;
    if raw.epoch != epoch {
        return Err(CheckpointingError::MalformedCheckpoint(format!(
            "the block at height {height} carries the checkpoint of epoch {epoch}, found epoch {}",
            raw.epoch
        )));
    }
    Ok(raw)
}

/// ProcessProposal's check of the injected payload for `height` (or of its absence, which is
/// always accepted: the proposer may not have had 2/3 of the extensions).
pub fn check_proposal_payload_at<S: StateRead + ?Sized>(
    state: &S,
    height: u64,
    payload: Option<&[u8]>,
) -> Result<(), CheckpointingError> {
    let Some(payload) = payload else {
        return Ok(());
    };
    let raw = due_checkpoint(state, height, payload)?;
    verify_raw_checkpoint(state, &raw)?;
    Ok(())
}

/// FinalizeBlock's execution of the injected payload for `height`: verifies and seals.
pub fn apply_proposal_payload_at<S: StateWrite + ?Sized>(
    state: &mut S,
    height: u64,
    payload: &[u8],
) -> Result<CheckpointRecord, CheckpointingError> {
    let raw = due_checkpoint(&*state, height, payload)?;
    apply_raw_checkpoint(state, height, &raw)
}
