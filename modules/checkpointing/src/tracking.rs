//! k/w tracking: how a submitted checkpoint follows the light client's best chain.
//!
//! A submission is as deep as the later (higher) of its two blocks; part 1's transaction
//! spends part 0's, so that is normally part 1's block. With `k = btc_confirmation_depth` and
//! `w = btc_finalization_timeout`:
//!
//! | depth of the later block | status |
//! |---|---|
//! | below k | SUBMITTED |
//! | k to w - 1 | CONFIRMED |
//! | w or more | FINALIZED |
//!
//! Measuring the later block means both transactions are at least that deep, so a finalized
//! checkpoint can only lose a transaction to a reorg of more than w blocks.
//!
//! On every tip change ([`CheckpointingBtcHooks`], registered with the light client):
//!
//! 1. If a block that left the best chain holds a transaction of a FINALIZED checkpoint, the
//!    hook fails with [`CheckpointingError::DeepReorg`], which is fatal: FINALIZED never moves
//!    back, and the chain halts with that message instead of carrying on. Such a reorg is
//!    necessarily deeper than w.
//! 2. Every SUBMITTED or CONFIRMED checkpoint (and only those: the status index lists them) is
//!    re-examined. If one of its blocks left the best chain, the submission is pruned and the
//!    checkpoint moves back to SEALED, ready for a new submission. Otherwise its status follows
//!    the table above, forward through each intermediate status or back (a reorg can shorten
//!    the chain under it).
//!
//! The work per tip change is bounded by the blocks rolled back (one index scan each) and by
//! the checkpoints submitted but not yet final, which leave the index once w blocks deep.

use crate::checkpoint::{CheckpointRecord, CheckpointStatus};
use crate::error::corrupt;
use crate::store::{self, CheckpointingRead};
use crate::{events, params, state_key, CheckpointingError, Params};
use ballast_btclightclient::{BtcLightClientHooks, BtcLightClientRead, TipChange};
use ballast_framework::{StateWrite, TxError};
use bitcoin::hashes::Hash;

/// The status a submission of depth `depth` gives.
pub fn status_for_depth(depth: u64, params: &Params) -> CheckpointStatus {
    if depth >= params.btc_finalization_timeout {
        CheckpointStatus::Finalized
    } else if depth >= params.btc_confirmation_depth {
        CheckpointStatus::Confirmed
    } else {
        CheckpointStatus::Submitted
    }
}

/// One status change made by [`on_tip_change`] or a submission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusChange {
    /// The epoch.
    pub epoch: u64,
    /// Status before.
    pub from: CheckpointStatus,
    /// Status after.
    pub to: CheckpointStatus,
}

/// What a tip change did to checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackingChanges {
    /// Status changes, in the order they were made (one per step: SUBMITTED to FINALIZED is
    /// two changes).
    pub changes: Vec<StatusChange>,
    /// Epochs whose submission left the best chain and was pruned.
    pub pruned: Vec<u64>,
}

/// Moves a submitted checkpoint to `target`: forward one status at a time (each a lifecycle
/// entry and an event), or back in one step (never from FINALIZED). Reaching FINALIZED indexes
/// the checkpoint by its later block's height and raises the latest finalized epoch. The
/// caller writes the record.
pub(crate) fn settle<S: StateWrite + ?Sized>(
    state: &mut S,
    rec: &mut CheckpointRecord,
    target: CheckpointStatus,
    hub_height: u64,
    btc_height: u64,
    out: &mut Vec<StatusChange>,
) -> Result<(), CheckpointingError> {
    if rec.status == CheckpointStatus::Finalized {
        return Ok(());
    }
    if target < rec.status {
        let from = rec.status;
        store::transition(state, rec, target, hub_height, btc_height)?;
        out.push(StatusChange {
            epoch: rec.epoch,
            from,
            to: target,
        });
        return Ok(());
    }
    while rec.status < target {
        let from = rec.status;
        let to = from
            .next()
            .ok_or_else(|| corrupt("status below FINALIZED has no successor"))?;
        store::transition(state, rec, to, hub_height, btc_height)?;
        out.push(StatusChange {
            epoch: rec.epoch,
            from,
            to,
        });
        if to == CheckpointStatus::Finalized {
            let sub = rec
                .submission
                .ok_or_else(|| corrupt("finalized checkpoint without a submission"))?;
            let later = if sub.part1.block_height >= sub.part0.block_height {
                sub.part1
            } else {
                sub.part0
            };
            state.put_raw(
                state_key::finalized_by_btc_height(later.block_height, rec.epoch).into_bytes(),
                later.block_hash.to_byte_array().to_vec(),
            )?;
            let latest = state.latest_finalized_epoch()?;
            if latest.is_none_or(|l| rec.epoch > l) {
                state.put_raw(
                    state_key::latest_finalized_epoch().as_bytes().to_vec(),
                    rec.epoch.to_be_bytes().to_vec(),
                )?;
            }
        }
    }
    Ok(())
}

/// Follows a tip change of the light client (see the module docs). On error nothing is
/// written; a [`CheckpointingError::DeepReorg`] is fatal.
pub fn on_tip_change<S: StateWrite + ?Sized>(
    state: &mut S,
    change: &TipChange,
) -> Result<TrackingChanges, CheckpointingError> {
    // 1. A finalized checkpoint must never lose a block.
    let mut unfinalized = Vec::new();
    for b in &change.rolled_back {
        for item in state.prefix_raw(state_key::finalized_by_btc_height_prefix(b.height).as_bytes())
        {
            let (k, _) = item?;
            unfinalized.push(
                state_key::epoch_from_key(&k)
                    .ok_or_else(|| corrupt("finalized index key does not end in an epoch"))?,
            );
        }
    }
    if !unfinalized.is_empty() {
        unfinalized.sort_unstable();
        return Err(CheckpointingError::DeepReorg {
            epochs: unfinalized,
            fork_height: change.fork_point.height,
            depth: change.rolled_back.len() as u64,
            w: params::load(state)?.btc_finalization_timeout,
        });
    }

    // 2. Re-examine every submitted, not yet final checkpoint. With none, nothing else is read.
    let mut epochs = Vec::new();
    for status in [CheckpointStatus::Submitted, CheckpointStatus::Confirmed] {
        for item in state.prefix_raw(state_key::status_index_prefix(status).as_bytes()) {
            let (k, _) = item?;
            epochs.push(
                state_key::epoch_from_key(&k)
                    .ok_or_else(|| corrupt("status index key does not end in an epoch"))?,
            );
        }
    }
    if epochs.is_empty() {
        return Ok(TrackingChanges::default());
    }
    epochs.sort_unstable();
    let params = params::load(state)?;
    let hub_height = state.hub_height()?;
    let tip_height = change.new_tip.height;
    let mut out = TrackingChanges::default();
    for epoch in epochs {
        let mut rec = state
            .checkpoint(epoch)?
            .ok_or_else(|| corrupt(format!("indexed checkpoint of epoch {epoch} missing")))?;
        let sub = rec
            .submission
            .ok_or_else(|| corrupt(format!("submitted checkpoint {epoch} has no submission")))?;
        let on_best = state.btc_is_on_best_chain(&sub.part0.block_hash)?
            && state.btc_is_on_best_chain(&sub.part1.block_hash)?;
        if !on_best {
            rec.submission = None;
            state.emit_event(events::submission_pruned(epoch, &sub));
            out.pruned.push(epoch);
            settle(
                state,
                &mut rec,
                CheckpointStatus::Sealed,
                hub_height,
                tip_height,
                &mut out.changes,
            )?;
        } else {
            let target = status_for_depth(sub.depth(tip_height), &params);
            if target == rec.status {
                continue;
            }
            settle(
                state,
                &mut rec,
                target,
                hub_height,
                tip_height,
                &mut out.changes,
            )?;
        }
        store::put_checkpoint(state, &rec)?;
    }
    Ok(out)
}

/// The light-client listener; the app registers it with
/// `BtcLightClientModule::with_hooks(vec![Arc::new(CheckpointingBtcHooks)])`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckpointingBtcHooks;

impl BtcLightClientHooks for CheckpointingBtcHooks {
    fn on_tip_change(&self, state: &mut dyn StateWrite, change: &TipChange) -> Result<(), TxError> {
        on_tip_change(state, change)?;
        Ok(())
    }
}
