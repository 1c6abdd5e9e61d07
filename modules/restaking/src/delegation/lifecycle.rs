//! The delegation lifecycle: every status change goes through [`transition`], which keeps the
//! record, the status index, the time queue and the power table in step and emits the event.
//!
//! ```text
//! PENDING ──quorum──▶ VERIFIED ──k deep──▶ ACTIVE ──undelegate / spend──▶ UNBONDING ──time──▶ UNBONDED
//!    │                   │                   │                                │
//!    └───────────────────┴──── time ─────────┴──▶ EXPIRED                     │
//!    (any of PENDING, VERIFIED, ACTIVE, UNBONDING) ── operator slashed ──▶ SLASHED
//! ```
//!
//! - Power: entering ACTIVE adds the staked satoshis to the operator through
//!   [`crate::adjust_collateral`] (`AddBtc`); leaving ACTIVE subtracts them (`SubBtc`). The power
//!   table is snapshotted at each epoch's end, so a change made now reaches the hub set at the
//!   end of the current epoch ("power stops at the next epoch").
//! - Time: a delegation whose staking tx is proven waits in the time queue at its expiry height
//!   (`end_height − unbonding_time`: from there the tip plus the unbonding time reaches the end
//!   of the timelock); an UNBONDING one waits at `unbonding_btc_height + unbonding_time`. The
//!   end-block ([`end_block`]) reads the light client's tip and moves at most
//!   `max_btc_transitions_per_block` due delegations, in height then txid order; the rest wait
//!   for the next block.
//! - A Bitcoin reorg that drops the block of an ACTIVE delegation's staking tx does not move
//!   it back: like the checkpoints' k, `btc_confirmation_depth` is the depth assumed final. A
//!   VERIFIED delegation whose proven block left the best chain is activated only after a new
//!   proof ([`crate::delegation::inclusion`]).

use crate::delegation::error::{corrupt, BtcDelegationError};
use crate::delegation::events;
use crate::delegation::state_key::QueueKind;
use crate::delegation::store::{self, BtcDelegationRead};
use crate::delegation::types::{BtcDelegation, DelegationStatus, StakingTxid};
use crate::power::{adjust_collateral, CollateralChange, PowerChange};
use crate::{params, Params};
use ballast_btclightclient::BtcLightClientRead;
use ballast_framework::StateWrite;

/// One status change of one delegation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The delegation.
    pub staking_txid: StakingTxid,
    /// Its status before.
    pub from: DelegationStatus,
    /// Its status after.
    pub to: DelegationStatus,
    /// The power change, when it entered or left ACTIVE.
    pub power: Option<PowerChange>,
}

/// The light client's tip height.
pub fn btc_tip_height<S: BtcLightClientRead + ?Sized>(
    state: &S,
) -> Result<u64, BtcDelegationError> {
    state
        .btc_tip()
        .map(|t| t.height)
        .map_err(BtcDelegationError::light_client)
}

/// Moves `d` to `to` (see the module docs), saves it and emits the event. `tip_height` is the
/// light client's tip: it becomes `unbonding_btc_height` when `to` is UNBONDING.
pub fn transition<S: StateWrite + ?Sized>(
    state: &mut S,
    d: &mut BtcDelegation,
    to: DelegationStatus,
    hub_height: u64,
    tip_height: u64,
) -> Result<Transition, BtcDelegationError> {
    let from = d.status;
    if from == to {
        return Err(corrupt(format!(
            "delegation {} moved from {from} to itself",
            d.staking_txid
        )));
    }
    // Leave the time queue entry of the old status.
    if from == DelegationStatus::Unbonding {
        store::dequeue(state, d.unbonded_height(), &d.staking_txid)?;
    } else if let Some(h) = d.expiry_height() {
        store::dequeue(state, h, &d.staking_txid)?;
    }
    let mut power = None;
    if from == DelegationStatus::Active {
        power = Some(adjust_collateral(
            state,
            &d.operator,
            &d.staker_addr,
            CollateralChange::SubBtc(d.staking_value_sat),
        )?);
    }
    if to == DelegationStatus::Active {
        power = Some(adjust_collateral(
            state,
            &d.operator,
            &d.staker_addr,
            CollateralChange::AddBtc(d.staking_value_sat),
        )?);
    }
    // Enter the time queue entry of the new status.
    match to {
        DelegationStatus::Unbonding => {
            d.unbonding_btc_height = tip_height;
            store::enqueue(
                state,
                d.unbonded_height(),
                &d.staking_txid,
                QueueKind::Unbonded,
            )?;
        }
        DelegationStatus::Pending | DelegationStatus::Verified | DelegationStatus::Active => {
            if let Some(h) = d.expiry_height() {
                store::enqueue(state, h, &d.staking_txid, QueueKind::Expire)?;
            }
        }
        DelegationStatus::Unbonded | DelegationStatus::Expired | DelegationStatus::Slashed => {}
    }
    store::move_status(state, &d.staking_txid, from, to)?;
    d.status = to;
    store::save(state, d)?;
    state.emit_event(events::status_changed(d, from, hub_height, tip_height));
    Ok(Transition {
        staking_txid: d.staking_txid,
        from,
        to,
        power,
    })
}

/// Whether the timelock of a proven delegation has less than its unbonding time left at
/// `tip_height` (`tip + unbonding_time ≥ end_height`).
pub fn is_expired_at(d: &BtcDelegation, tip_height: u64) -> bool {
    d.expiry_height().is_some_and(|h| tip_height >= h)
}

/// Moves a VERIFIED delegation on if it can: to ACTIVE when its staking tx's block is on the
/// best chain at least `btc_confirmation_depth` deep and the timelock has more than the
/// unbonding time left; to EXPIRED when it has not. Otherwise it stays VERIFIED.
pub fn try_activate<S: StateWrite + ?Sized>(
    state: &mut S,
    d: &mut BtcDelegation,
    params: &Params,
    hub_height: u64,
    tip_height: u64,
) -> Result<Option<Transition>, BtcDelegationError> {
    if d.status != DelegationStatus::Verified {
        return Ok(None);
    }
    let Some(inclusion) = d.inclusion else {
        return Ok(None);
    };
    if is_expired_at(d, tip_height) {
        return transition(state, d, DelegationStatus::Expired, hub_height, tip_height).map(Some);
    }
    let depth = state
        .btc_depth(&inclusion.block_hash)
        .map_err(BtcDelegationError::light_client)?;
    match depth {
        Some(depth) if depth >= params.btc.btc_confirmation_depth => {
            transition(state, d, DelegationStatus::Active, hub_height, tip_height).map(Some)
        }
        _ => Ok(None),
    }
}

/// Marks a delegation SLASHED (for the slashing module, when its operator is slashed). A
/// delegation already UNBONDED, EXPIRED or SLASHED is left alone (`None`).
pub fn mark_slashed<S: StateWrite + ?Sized>(
    state: &mut S,
    txid: &StakingTxid,
    hub_height: u64,
) -> Result<Option<Transition>, BtcDelegationError> {
    let mut d = state.require_btc_delegation(txid)?;
    if !(d.status.is_bonded() || d.status == DelegationStatus::Unbonding) {
        return Ok(None);
    }
    let tip = btc_tip_height(state)?;
    transition(state, &mut d, DelegationStatus::Slashed, hub_height, tip).map(Some)
}

/// Moves the delegations whose time has come (see the module docs): at most
/// `max_btc_transitions_per_block`, the rest in later blocks.
pub fn end_block<S: StateWrite + ?Sized>(
    state: &mut S,
    hub_height: u64,
) -> Result<Vec<Transition>, BtcDelegationError> {
    // An empty queue needs neither the params nor the light client.
    let queue_empty = state
        .prefix_raw(crate::delegation::state_key::queue_prefix().as_bytes())
        .next()
        .is_none();
    if queue_empty {
        return Ok(Vec::new());
    }
    let params = params::load(state)?;
    let tip = btc_tip_height(state)?;
    let limit = usize::try_from(params.max_btc_transitions_per_block).unwrap_or(usize::MAX);
    let due = store::due_entries(state, tip, limit)?;
    let mut out = Vec::with_capacity(due.len());
    for (height, txid, kind) in due {
        store::dequeue(state, height, &txid)?;
        let mut d = state.btc_delegation(&txid)?.ok_or_else(|| {
            corrupt(format!(
                "btc delegation queue names {txid}, which has no record"
            ))
        })?;
        let to = match kind {
            QueueKind::Expire if d.status.is_bonded() && d.expiry_height() == Some(height) => {
                DelegationStatus::Expired
            }
            QueueKind::Unbonded
                if d.status == DelegationStatus::Unbonding && d.unbonded_height() == height =>
            {
                DelegationStatus::Unbonded
            }
            // An entry its delegation has moved past: already removed above.
            _ => continue,
        };
        out.push(transition(state, &mut d, to, hub_height, tip)?);
    }
    Ok(out)
}
