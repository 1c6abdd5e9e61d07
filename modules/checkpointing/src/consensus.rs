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
    if !has_snapshot(state, epoch)? {
        return Ok(Vec::new());
    }
    Ok(key
        .map(|k| extend_vote(k, epoch, block_hash))
        .unwrap_or_default())
}

/// Whether epoch `epoch` has a validator snapshot. An epoch without one (a chain whose genesis
/// named no validators) has no checkpoint: its extensions are empty and nothing is injected.
fn has_snapshot<S: StateRead + ?Sized>(state: &S, epoch: u64) -> Result<bool, CheckpointingError> {
    Ok(state
        .get_raw(crate::state_key::snapshot(epoch).as_bytes())?
        .is_some())
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
        Some(epoch) if has_snapshot(state, epoch)? => {
            crate::verify_vote_extension(state, validator, epoch, block_hash, extension)
        }
        _ if extension.is_empty() => Ok(()),
        _ => Err(CheckpointingError::MalformedVoteExtension(format!(
            "height {height} is not the last block of an epoch with a validator snapshot, so no checkpoint extension is expected, found {} bytes",
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

/// ProcessProposal's check of the injected payload for `height`, or of its absence.
/// `committed` lists the validators whose precommits are in the proposal's last commit.
///
/// A payload must be the due, valid checkpoint. No payload is accepted unless the proposer
/// could have built one: with vote extensions enabled, CometBFT admits a precommit only after
/// VerifyVoteExtension accepted its extension, and at an epoch's last block that check demands
/// a valid BLS signature from every snapshot validator. So when the committed validators that
/// have BLS keys hold more than 2/3 of the snapshot's power, the proposer held enough
/// signatures, and a proposal without the checkpoint is refused
/// ([`CheckpointingError::CheckpointOmitted`]).
pub fn check_proposal_payload_at<S: StateRead + ?Sized>(
    state: &S,
    height: u64,
    committed: &[ConsensusAddress],
    payload: Option<&[u8]>,
) -> Result<(), CheckpointingError> {
    let Some(payload) = payload else {
        return check_omission(state, height, committed);
    };
    let raw = due_checkpoint(state, height, payload)?;
    verify_raw_checkpoint(state, &raw)?;
    Ok(())
}

fn check_omission<S: StateRead + ?Sized>(
    state: &S,
    height: u64,
    committed: &[ConsensusAddress],
) -> Result<(), CheckpointingError> {
    let Some(epoch) = state.epoch_config()?.checkpoint_epoch_at(height) else {
        return Ok(());
    };
    let Some(snapshot) = state.validator_snapshot(epoch)? else {
        return Ok(());
    };
    match state.checkpoint(epoch)? {
        Some(rec) if rec.status == crate::CheckpointStatus::Accumulating => {}
        // Already sealed, or never opened: nothing is due.
        _ => return Ok(()),
    }
    let committed_power = snapshot
        .validators
        .iter()
        .filter(|v| v.bls_key.is_some() && committed.contains(&v.address))
        .fold(0u64, |acc, v| acc.saturating_add(v.power));
    if snapshot.exceeds_two_thirds(committed_power) {
        return Err(CheckpointingError::CheckpointOmitted {
            epoch,
            height,
            committed_power,
            total_power: snapshot.total_power,
        });
    }
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
