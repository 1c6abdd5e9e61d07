//! Epoch-end processing, spread over blocks.
//!
//! The module's end-epoch hook for epoch `e` records an [`pb::EpochRun`] `{epoch: e, cursor:
//! ""}` (or, while a run is still going, queues `e` as its `next_epoch`, replacing an older
//! queued epoch) and processes up to `max_consumers_per_block` live consumers in id order; each
//! later end-block continues from the cursor with the same budget. When a run finishes and an
//! epoch is queued, the run for it starts (in the next block). A hook call therefore processes
//! at most `max_consumers_per_block` consumers. A block whose end-block finished a run only
//! records the run its end-epoch starts (the next end-block processes it), so no consumer is
//! processed twice in one block and every stored update of a consumer has its own hub height.
//!
//! Processing consumer `c` for ended epoch `e` ([`process_consumer`]):
//! 1. applies the opt-in changes sent in `e` or earlier (a reduction stays slashable until its
//!    epoch + `deallocation_delay_epochs`), and deletes the opt-ins left with nothing allocated,
//!    pending or slashable ([`OptIn::is_dead`]);
//! 2. computes the set from restaking's power snapshot of `e` ([`crate::valset::compute`]);
//! 3. REGISTERED → ACTIVE when the lease covers `fee_per_epoch` and the set has at least
//!    `min_operators` validators; ACTIVE → STOPPED (lease exhausted, the rest refunded) when the
//!    lease is below the fee;
//! 4. for an ACTIVE consumer: draws the fee and pays the set's operators
//!    ([`crate::lease::draw_and_pay`]), and writes an update when the set changed;
//! 5. records `last_processed_epoch = e`.

use crate::consumer::{self, Consumer, ConsumerId, Status, StopReason};
use crate::error::corrupt;
use crate::opt_in::{self, OptIn};
use crate::params::{self, Params};
use crate::{events, lease, state_key, valset, ConsumersError};
use ballast_framework::{BlockContext, StateRead, StateReadExt, StateWrite, StateWriteExt};
use ballast_proto::ballast::consumers::v1 as pb;
use ballast_restaking::{PowerSnapshot, PowerTableRead};

/// The run in progress, if any.
pub fn load_run<S: StateRead + ?Sized>(state: &S) -> Result<Option<pb::EpochRun>, ConsumersError> {
    Ok(state.get_proto(state_key::epoch_run())?)
}

/// The height of the block in which the last run finished (0: none yet).
fn run_finished_height<S: StateRead + ?Sized>(state: &S) -> Result<u64, ConsumersError> {
    match state.get_raw(state_key::run_finished_height().as_bytes())? {
        None => Ok(0),
        Some(v) => <[u8; 8]>::try_from(v.as_slice())
            .map(u64::from_be_bytes)
            .map_err(|_| corrupt("run finished height is not 8 bytes")),
    }
}

fn save_run<S: StateWrite + ?Sized>(
    state: &mut S,
    run: &pb::EpochRun,
) -> Result<(), ConsumersError> {
    state.put_proto(state_key::epoch_run(), run)?;
    Ok(())
}

/// The epoch for which a run already recorded will still process `c`: the run in progress
/// when its cursor has not passed `c` and `c` is not processed for it yet, else the epoch
/// queued behind it. `None` when no recorded run will (its next processing is for the epoch
/// in progress or later).
pub fn next_recorded_processing<S: StateRead + ?Sized>(
    state: &S,
    c: &Consumer,
) -> Result<Option<u64>, ConsumersError> {
    let Some(run) = load_run(state)? else {
        return Ok(None);
    };
    let ahead = run.cursor.is_empty() || c.id.as_str() > run.cursor.as_str();
    if ahead && c.last_processed_epoch < run.epoch {
        return Ok(Some(run.epoch));
    }
    if run.next_epoch != 0 && c.last_processed_epoch < run.next_epoch {
        return Ok(Some(run.next_epoch));
    }
    Ok(None)
}

/// What one hook call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunProgress {
    /// The epoch of the run worked on (0: no run).
    pub epoch: u64,
    /// Consumers processed.
    pub processed: usize,
    /// Whether the run finished.
    pub finished: bool,
}

/// The end-epoch hook: starts the run for `epoch` (or queues it) and processes a batch.
pub fn end_epoch<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &BlockContext,
    epoch: u64,
) -> Result<RunProgress, ConsumersError> {
    if let Some(mut run) = load_run(state)? {
        // This block's end-block already spent its budget on the run in progress.
        run.next_epoch = epoch;
        save_run(state, &run)?;
        state.emit_event(events::epoch_run(epoch, "queued", 0));
        return Ok(RunProgress {
            epoch: run.epoch,
            processed: 0,
            finished: false,
        });
    }
    save_run(
        state,
        &pb::EpochRun {
            epoch,
            cursor: String::new(),
            next_epoch: 0,
        },
    )?;
    state.emit_event(events::epoch_run(epoch, "started", 0));
    if run_finished_height(state)? == ctx.height {
        // This block's end-block finished a run: processing now could process a consumer a
        // second time in this block (two updates at one height). The next end-block starts.
        return Ok(RunProgress {
            epoch,
            processed: 0,
            finished: false,
        });
    }
    process_batch(state, ctx)
}

/// The end-block hook: continues the run in progress, if any.
pub fn end_block<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &BlockContext,
) -> Result<RunProgress, ConsumersError> {
    if load_run(state)?.is_none() {
        return Ok(RunProgress::default());
    }
    process_batch(state, ctx)
}

/// Processes up to `max_consumers_per_block` live consumers after the run's cursor.
fn process_batch<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &BlockContext,
) -> Result<RunProgress, ConsumersError> {
    let Some(mut run) = load_run(state)? else {
        return Ok(RunProgress::default());
    };
    let params = params::load(state)?;
    let budget = params.max_consumers_per_block as usize;
    let cursor = (!run.cursor.is_empty()).then(|| run.cursor.clone());
    // One more than the budget tells whether the run ends in this batch.
    let mut ids = consumer::live_after(state, cursor.as_deref(), budget.saturating_add(1))?;
    let finished = ids.len() <= budget;
    ids.truncate(budget);
    let snapshot = if ids.is_empty() {
        None
    } else {
        Some(state.power_snapshot(run.epoch)?.ok_or_else(|| {
            corrupt(format!(
                "restaking has no power snapshot of ended epoch {}",
                run.epoch
            ))
        })?)
    };
    for id in &ids {
        if let Some(snapshot) = &snapshot {
            process_consumer(state, ctx, id, snapshot, &params)?;
        }
    }
    let progress = RunProgress {
        epoch: run.epoch,
        processed: ids.len(),
        finished,
    };
    if finished {
        state.emit_event(events::epoch_run(run.epoch, "finished", ids.len()));
        state.put_raw(
            state_key::run_finished_height().as_bytes().to_vec(),
            ctx.height.to_be_bytes().to_vec(),
        )?;
        if run.next_epoch != 0 {
            save_run(
                state,
                &pb::EpochRun {
                    epoch: run.next_epoch,
                    cursor: String::new(),
                    next_epoch: 0,
                },
            )?;
            state.emit_event(events::epoch_run(run.next_epoch, "started", 0));
        } else {
            state.delete(state_key::epoch_run().as_bytes().to_vec())?;
        }
    } else {
        if let Some(last) = ids.last() {
            run.cursor = last.to_string();
        }
        save_run(state, &run)?;
    }
    Ok(progress)
}

/// Processes one consumer for the ended epoch of `snapshot` (see the module docs). A consumer
/// already processed for that epoch, or STOPPED, is left alone.
pub fn process_consumer<S: StateWrite + ?Sized>(
    state: &mut S,
    ctx: &BlockContext,
    id: &ConsumerId,
    snapshot: &PowerSnapshot,
    params: &Params,
) -> Result<(), ConsumersError> {
    let epoch = snapshot.epoch;
    let mut c = consumer::require(state, id)?;
    if c.status.is_stopped() || c.last_processed_epoch >= epoch {
        return Ok(());
    }
    let now = state.current_epoch()?;
    let mut opt_ins = Vec::new();
    for mut o in opt_in::of_consumer(state, id)? {
        let applied = o.apply_due(epoch, now, params.deallocation_delay_epochs);
        if let Some(applied) = &applied {
            state.emit_event(events::allocation_applied(&o, applied));
        }
        if o.is_dead(now) {
            // Withdrawn and no longer slashable: the record goes (its key stays claimed), so
            // dead opt-ins neither slow this processing down nor count towards the limit.
            opt_in::delete(state, &o)?;
            c.opt_in_count = c.opt_in_count.checked_sub(1).ok_or_else(|| {
                corrupt(format!("consumer {id} counts fewer opt-ins than it stores"))
            })?;
            state.emit_event(events::opt_in_removed(&o, epoch));
        } else {
            if applied.is_some() {
                opt_in::save(state, &o)?;
            }
            opt_ins.push(o);
        }
    }
    let set = valset::compute(state, &opt_ins, snapshot, c.terms.max_operators)?;
    let fee = c.terms.fee_per_epoch;
    let before = c.status;
    if c.status == Status::Registered
        && c.lease_balance >= fee
        && set.len() >= c.terms.min_operators as usize
    {
        c.status = Status::Active;
        c.activated_epoch = epoch;
    }
    c.last_processed_epoch = epoch;
    if c.status == Status::Active {
        if c.lease_balance < fee {
            stop(
                state,
                &mut c,
                &mut opt_ins,
                StopReason::LeaseExhausted,
                epoch,
                ctx.height,
                params,
            )?;
            return Ok(());
        }
        lease::draw_and_pay(state, &mut c, &set, epoch)?;
        let old = valset::load_set(state, id)?;
        let changes = valset::diff(&old, &set);
        if !changes.is_empty() {
            let update_id = c
                .last_update_id
                .checked_add(1)
                .ok_or_else(|| corrupt(format!("update ids of consumer {id} overflow")))?;
            let update =
                valset::write_update(state, id, update_id, ctx.height, epoch, &set, &changes)?;
            c.last_update_id = update_id;
            state.emit_event(events::validator_set_update(&update, set.len()));
        }
    }
    consumer::save(state, &c)?;
    if c.status != before {
        state.emit_event(events::consumer_status(&c, epoch, ctx.height));
    }
    Ok(())
}

/// Stops a consumer at `stop_epoch` (final): refunds the lease to the owner, turns every
/// opt-in's allocation into a deallocating one (slashable until `stop_epoch +
/// deallocation_delay_epochs`), and drops it from the live index. Returns the refund.
pub fn stop<S: StateWrite + ?Sized>(
    state: &mut S,
    c: &mut Consumer,
    opt_ins: &mut [OptIn],
    reason: StopReason,
    stop_epoch: u64,
    height: u64,
    params: &Params,
) -> Result<u128, ConsumersError> {
    let refunded = lease::refund(state, c)?;
    c.status = Status::Stopped(reason);
    c.stopped_height = height;
    let now = state.current_epoch()?;
    for o in opt_ins.iter_mut() {
        o.stop(stop_epoch, now, params.deallocation_delay_epochs);
        opt_in::save(state, o)?;
    }
    consumer::save(state, c)?;
    state.emit_event(events::consumer_status(c, stop_epoch, height));
    Ok(refunded)
}
