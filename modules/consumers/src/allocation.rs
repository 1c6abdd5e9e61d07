//! An operator's allocation caps.
//!
//! `encumbered(op, c)` is the highest of the allocation in force, the pending allocation and
//! the still-slashable allocation of a reduction ([`OptIn::encumbered`]). The operator's total
//! is the sum over its opt-ins. When any of its opt-ins that encumbers something (the new one
//! included) is to an ISOLATED consumer, the total is capped at 10000 bps; otherwise at
//! `floor(max_reuse_ratio × 10000)`. A change that does not raise the total (a reduction, an
//! opt-out, a key change) is always allowed, so an operator above a cap can still back out.

use crate::consumer::{self, AllocationMode, ConsumerId};
use crate::error::corrupt;
use crate::opt_in::{self, OptIn};
use crate::params::{Params, BPS};
use crate::ConsumersError;
use ballast_framework::StateRead;
use ballast_restaking::OperatorId;

/// An operator's opt-ins and where they stand against its cap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllocationSummary {
    /// Each opt-in with its consumer's allocation mode, in consumer id order.
    pub opt_ins: Vec<(OptIn, AllocationMode)>,
    /// Sum of the opt-ins' encumbered allocations.
    pub encumbered_bps: u64,
    /// The cap that applies: 10000 with an isolated consumer among the encumbering opt-ins,
    /// else the reuse cap.
    pub cap_bps: u64,
    /// The first isolated consumer among the encumbering opt-ins.
    pub isolated: Option<ConsumerId>,
}

/// The operator's opt-ins and totals in `current_epoch`.
pub fn summary<S: StateRead + ?Sized>(
    state: &S,
    operator: &OperatorId,
    current_epoch: u64,
    params: &Params,
) -> Result<AllocationSummary, ConsumersError> {
    let mut out = AllocationSummary {
        opt_ins: Vec::new(),
        encumbered_bps: 0,
        cap_bps: params.reuse_cap_bps(),
        isolated: None,
    };
    for o in opt_in::of_operator(state, operator)? {
        let c = consumer::load(state, &o.consumer)?.ok_or_else(|| {
            corrupt(format!(
                "opt-in of {operator} names missing consumer {}",
                o.consumer
            ))
        })?;
        let e = o.encumbered(current_epoch);
        out.encumbered_bps = out
            .encumbered_bps
            .checked_add(u64::from(e))
            .ok_or_else(|| corrupt("encumbered allocations overflow"))?;
        if e > 0 && c.mode == AllocationMode::Isolated && out.isolated.is_none() {
            out.isolated = Some(c.id.clone());
            out.cap_bps = u64::from(BPS);
        }
        out.opt_ins.push((o, c.mode));
    }
    Ok(out)
}

/// Checks that replacing the operator's opt-in to `target` (mode `target_mode`) by `updated`
/// keeps the operator within its cap in `current_epoch`, or does not raise its total.
pub fn check_caps<S: StateRead + ?Sized>(
    state: &S,
    updated: &OptIn,
    target_mode: AllocationMode,
    current_epoch: u64,
    params: &Params,
) -> Result<(), ConsumersError> {
    let before = summary(state, &updated.operator, current_epoch, params)?;
    let mut after_total: u64 = 0;
    let mut isolated: Option<ConsumerId> = None;
    let mut seen_target = false;
    for (o, mode) in &before.opt_ins {
        let (o, mode) = if o.consumer == updated.consumer {
            seen_target = true;
            (updated, target_mode)
        } else {
            (o, *mode)
        };
        let e = o.encumbered(current_epoch);
        after_total = after_total
            .checked_add(u64::from(e))
            .ok_or_else(|| corrupt("encumbered allocations overflow"))?;
        if e > 0 && mode == AllocationMode::Isolated && isolated.is_none() {
            isolated = Some(o.consumer.clone());
        }
    }
    if !seen_target {
        let e = updated.encumbered(current_epoch);
        after_total = after_total
            .checked_add(u64::from(e))
            .ok_or_else(|| corrupt("encumbered allocations overflow"))?;
        if e > 0 && target_mode == AllocationMode::Isolated && isolated.is_none() {
            isolated = Some(updated.consumer.clone());
        }
    }
    if after_total <= before.encumbered_bps {
        return Ok(());
    }
    match isolated {
        Some(c) if after_total > u64::from(BPS) => Err(ConsumersError::IsolatedCapExceeded {
            operator: updated.operator.to_string(),
            isolated: c.to_string(),
            total_bps: after_total,
        }),
        Some(_) => Ok(()),
        None if after_total > params.reuse_cap_bps() => Err(ConsumersError::ReuseCapExceeded {
            operator: updated.operator.to_string(),
            total_bps: after_total,
            cap_bps: params.reuse_cap_bps(),
        }),
        None => Ok(()),
    }
}
