//! Events of the consumers state machine: one per state change, the kind prefixed by
//! `ballast.consumers.v1.`, plain attribute values (decimal integers, hex keys, bech32
//! addresses, consumer ids).

use crate::consumer::{Consumer, Status, StopReason};
use crate::opt_in::{AppliedChange, OptIn};
use ballast_framework::{Address, Event};
use ballast_proto::ballast::consumers::v1 as pb;

/// A consumer was registered.
pub const CONSUMER_REGISTERED: &str = "ballast.consumers.v1.consumer_registered";
/// A consumer's terms or owner changed.
pub const CONSUMER_UPDATED: &str = "ballast.consumers.v1.consumer_updated";
/// A lease was funded.
pub const LEASE_FUNDED: &str = "ballast.consumers.v1.lease_funded";
/// A consumer's status changed.
pub const CONSUMER_STATUS: &str = "ballast.consumers.v1.consumer_status";
/// An opt-in (or a change of allocation or key) was recorded.
pub const OPT_IN: &str = "ballast.consumers.v1.opt_in";
/// An opt-out was recorded.
pub const OPT_OUT: &str = "ballast.consumers.v1.opt_out";
/// A pending allocation change took effect.
pub const ALLOCATION_APPLIED: &str = "ballast.consumers.v1.allocation_applied";
/// A withdrawn opt-in (nothing allocated, pending or slashable) was deleted.
pub const OPT_IN_REMOVED: &str = "ballast.consumers.v1.opt_in_removed";
/// An epoch's fee was drawn from a lease and paid to the operators.
pub const LEASE_PAID: &str = "ballast.consumers.v1.lease_paid";
/// What was left of a lease went back to the owner.
pub const LEASE_REFUNDED: &str = "ballast.consumers.v1.lease_refunded";
/// A consumer's validator set changed.
pub const VALIDATOR_SET_UPDATE: &str = "ballast.consumers.v1.validator_set_update";
/// An epoch-end run started or finished.
pub const EPOCH_RUN: &str = "ballast.consumers.v1.epoch_run";

/// `consumer_registered{consumer_id, owner, allocation_mode, fee_per_epoch}`.
pub fn consumer_registered(c: &Consumer) -> Event {
    Event::new(CONSUMER_REGISTERED)
        .attr("consumer_id", &c.id)
        .attr("owner", c.owner)
        .attr(
            "allocation_mode",
            pb::AllocationMode::try_from(c.mode.to_i32())
                .map(|m| m.as_str_name())
                .unwrap_or_default(),
        )
        .attr("fee_per_epoch", c.terms.fee_per_epoch)
}

/// `consumer_updated{consumer_id, owner, fee_per_epoch, min_operators, max_operators}`.
pub fn consumer_updated(c: &Consumer) -> Event {
    Event::new(CONSUMER_UPDATED)
        .attr("consumer_id", &c.id)
        .attr("owner", c.owner)
        .attr("fee_per_epoch", c.terms.fee_per_epoch)
        .attr("min_operators", c.terms.min_operators)
        .attr("max_operators", c.terms.max_operators)
}

/// `lease_funded{consumer_id, funder, amount, lease_balance}`.
pub fn lease_funded(c: &Consumer, funder: &Address, amount: u128) -> Event {
    Event::new(LEASE_FUNDED)
        .attr("consumer_id", &c.id)
        .attr("funder", funder)
        .attr("amount", amount)
        .attr("lease_balance", c.lease_balance)
}

fn status_name(s: Status) -> (&'static str, &'static str) {
    match s {
        Status::Registered => ("CONSUMER_STATUS_REGISTERED", ""),
        Status::Active => ("CONSUMER_STATUS_ACTIVE", ""),
        Status::Stopped(StopReason::LeaseExhausted) => {
            ("CONSUMER_STATUS_STOPPED", "STOP_REASON_LEASE_EXHAUSTED")
        }
        Status::Stopped(StopReason::Removed) => ("CONSUMER_STATUS_STOPPED", "STOP_REASON_REMOVED"),
    }
}

/// `consumer_status{consumer_id, status, stop_reason, epoch, height}`.
pub fn consumer_status(c: &Consumer, epoch: u64, height: u64) -> Event {
    let (status, reason) = status_name(c.status);
    Event::new(CONSUMER_STATUS)
        .attr("consumer_id", &c.id)
        .attr("status", status)
        .attr("stop_reason", reason)
        .attr("epoch", epoch)
        .attr("height", height)
}

/// `opt_in{consumer_id, operator, consumer_pubkey, allocation_bps, effective_after_epoch}`.
pub fn opt_in(o: &OptIn, key: &crate::opt_in::ConsumerKey, bps: u32, epoch: u64) -> Event {
    Event::new(OPT_IN)
        .attr("consumer_id", &o.consumer)
        .attr("operator", o.operator)
        .attr("consumer_pubkey", key)
        .attr("allocation_bps", bps)
        .attr("effective_after_epoch", epoch)
}

/// `opt_out{consumer_id, operator, effective_after_epoch, slashable_until_epoch}`.
pub fn opt_out(o: &OptIn, epoch: u64, slashable_until: u64) -> Event {
    Event::new(OPT_OUT)
        .attr("consumer_id", &o.consumer)
        .attr("operator", o.operator)
        .attr("effective_after_epoch", epoch)
        .attr("slashable_until_epoch", slashable_until)
}

/// `allocation_applied{consumer_id, operator, old_bps, new_bps, epoch, slashable_bps,
/// slashable_until_epoch}`.
pub fn allocation_applied(o: &OptIn, a: &AppliedChange) -> Event {
    Event::new(ALLOCATION_APPLIED)
        .attr("consumer_id", &o.consumer)
        .attr("operator", o.operator)
        .attr("old_bps", a.old_bps)
        .attr("new_bps", a.new_bps)
        .attr("epoch", a.epoch)
        .attr("slashable_bps", o.slashable_bps)
        .attr("slashable_until_epoch", o.slashable_until_epoch)
}

/// `opt_in_removed{consumer_id, operator, epoch}`: deleted at the processing for `epoch`.
pub fn opt_in_removed(o: &OptIn, epoch: u64) -> Event {
    Event::new(OPT_IN_REMOVED)
        .attr("consumer_id", &o.consumer)
        .attr("operator", o.operator)
        .attr("epoch", epoch)
}

/// `lease_paid{consumer_id, epoch, amount, operators, lease_balance}`.
pub fn lease_paid(c: &Consumer, epoch: u64, amount: u128, operators: usize) -> Event {
    Event::new(LEASE_PAID)
        .attr("consumer_id", &c.id)
        .attr("epoch", epoch)
        .attr("amount", amount)
        .attr("operators", operators)
        .attr("lease_balance", c.lease_balance)
}

/// `lease_refunded{consumer_id, owner, amount}`.
pub fn lease_refunded(c: &Consumer, amount: u128) -> Event {
    Event::new(LEASE_REFUNDED)
        .attr("consumer_id", &c.id)
        .attr("owner", c.owner)
        .attr("amount", amount)
}

/// `validator_set_update{consumer_id, update_id, epoch, hub_height, changes, validators,
/// set_hash}`.
pub fn validator_set_update(u: &pb::ValidatorSetUpdate, validators: usize) -> Event {
    Event::new(VALIDATOR_SET_UPDATE)
        .attr("consumer_id", &u.consumer_id)
        .attr("update_id", u.update_id)
        .attr("epoch", u.epoch)
        .attr("hub_height", u.hub_height)
        .attr("changes", u.changes.len())
        .attr("validators", validators)
        .attr("set_hash", hex::encode(&u.set_hash))
}

/// `epoch_run{epoch, phase, processed}`: phase `started`, `queued` (another run is going; this
/// epoch follows it) or `finished`.
pub fn epoch_run(epoch: u64, phase: &str, processed: usize) -> Event {
    Event::new(EPOCH_RUN)
        .attr("epoch", epoch)
        .attr("phase", phase)
        .attr("processed", processed)
}
