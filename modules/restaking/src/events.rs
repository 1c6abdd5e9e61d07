//! Events of the restaking state machine: one per state change, with the kind prefixed by
//! `restaking.` and plain attribute values (decimal integers, hex keys, bech32 addresses).

use crate::native::NativeUnbonding;
use crate::operator::{Operator, OperatorId};
use crate::power::{CollateralChange, OperatorPower, PowerChange};
use crate::rewards::RewardDistribution;
use crate::valset::ValidatorUpdate;
use ballast_framework::{Address, Event};

/// An operator was registered.
pub const OPERATOR_REGISTERED: &str = "restaking.operator_registered";
/// An operator's commission or description changed.
pub const OPERATOR_EDITED: &str = "restaking.operator_edited";
/// An operator was jailed or unjailed.
pub const OPERATOR_JAILED: &str = "restaking.operator_jailed";
/// A delegator's collateral with an operator changed.
pub const POWER_CHANGED: &str = "restaking.power_changed";
/// ubal was bonded.
pub const NATIVE_BONDED: &str = "restaking.native_bonded";
/// An unbonding entered the queue.
pub const NATIVE_UNBONDING_STARTED: &str = "restaking.native_unbonding_started";
/// An unbonding was paid out.
pub const NATIVE_UNBONDING_COMPLETED: &str = "restaking.native_unbonding_completed";
/// The power table was snapshotted.
pub const POWER_SNAPSHOT: &str = "restaking.power_snapshot";
/// An epoch's fees were distributed.
pub const REWARDS_DISTRIBUTED: &str = "restaking.rewards_distributed";
/// Rewards were withdrawn.
pub const REWARDS_WITHDRAWN: &str = "restaking.rewards_withdrawn";
/// The hub validator set was computed.
pub const HUB_VALIDATOR_SET: &str = "restaking.hub_validator_set";
/// No operator qualified; the set in force was kept.
pub const HUB_VALIDATOR_SET_KEPT: &str = "restaking.hub_validator_set_kept";
/// One change of the hub validator set.
pub const VALIDATOR_UPDATE: &str = "restaking.validator_update";

/// `operator_registered{operator, owner, consensus_pubkey, commission, moniker}`.
pub fn operator_registered(op: &Operator) -> Event {
    Event::new(OPERATOR_REGISTERED)
        .attr("operator", op.id)
        .attr("owner", op.owner)
        .attr(
            "consensus_pubkey",
            op.consensus_pubkey.map(hex::encode).unwrap_or_default(),
        )
        .attr("commission", op.commission)
        .attr("moniker", &op.description.moniker)
}

/// `operator_edited{operator, commission, moniker}`.
pub fn operator_edited(op: &Operator) -> Event {
    Event::new(OPERATOR_EDITED)
        .attr("operator", op.id)
        .attr("commission", op.commission)
        .attr("moniker", &op.description.moniker)
}

/// `operator_jailed{operator, jailed}`.
pub fn operator_jailed(id: &OperatorId, jailed: bool) -> Event {
    Event::new(OPERATOR_JAILED)
        .attr("operator", id)
        .attr("jailed", jailed)
}

/// `power_changed{operator, delegator, change, amount, old_power, new_power, weight,
/// native_ubal, btc_sat}`.
pub fn power_changed(c: &PowerChange, change: &CollateralChange, op: &OperatorPower) -> Event {
    let (kind, amount) = match *change {
        CollateralChange::AddNative(a) => ("add_native", a),
        CollateralChange::SubNative(a) => ("sub_native", a),
        CollateralChange::AddBtc(a) => ("add_btc", u128::from(a)),
        CollateralChange::SubBtc(a) => ("sub_btc", u128::from(a)),
    };
    Event::new(POWER_CHANGED)
        .attr("operator", c.operator)
        .attr("delegator", c.delegator)
        .attr("change", kind)
        .attr("amount", amount)
        .attr("old_power", c.old_power)
        .attr("new_power", c.new_power)
        .attr("weight", c.new_weight)
        .attr("native_ubal", op.native_ubal)
        .attr("btc_sat", op.btc_sat)
}

/// `native_bonded{delegator, operator, amount}`.
pub fn native_bonded(delegator: &Address, operator: &OperatorId, amount: u128) -> Event {
    Event::new(NATIVE_BONDED)
        .attr("delegator", delegator)
        .attr("operator", operator)
        .attr("amount", amount)
}

/// `native_unbonding_started{id, delegator, operator, amount, completion_epoch}`.
pub fn native_unbonding_started(u: &NativeUnbonding) -> Event {
    Event::new(NATIVE_UNBONDING_STARTED)
        .attr("id", u.id)
        .attr("delegator", u.delegator)
        .attr("operator", u.operator)
        .attr("amount", u.amount)
        .attr("completion_epoch", u.completion_epoch)
}

/// `native_unbonding_completed{id, delegator, operator, amount}`.
pub fn native_unbonding_completed(u: &NativeUnbonding) -> Event {
    Event::new(NATIVE_UNBONDING_COMPLETED)
        .attr("id", u.id)
        .attr("delegator", u.delegator)
        .attr("operator", u.operator)
        .attr("amount", u.amount)
}

/// `power_snapshot{epoch, operators, total_power}`.
pub fn power_snapshot(epoch: u64, operators: usize, total_power: u64) -> Event {
    Event::new(POWER_SNAPSHOT)
        .attr("epoch", epoch)
        .attr("operators", operators)
        .attr("total_power", total_power)
}

/// `rewards_distributed{epoch, collected, carried, distributed, remainder}`.
pub fn rewards_distributed(d: &RewardDistribution) -> Event {
    Event::new(REWARDS_DISTRIBUTED)
        .attr("epoch", d.epoch)
        .attr("collected", d.collected)
        .attr("carried", d.carried)
        .attr("distributed", d.distributed)
        .attr("remainder", d.remainder)
}

/// `rewards_withdrawn{delegator, operator, rewards, commission}` (operator empty: all).
pub fn rewards_withdrawn(
    delegator: &Address,
    operator: Option<&OperatorId>,
    rewards: u128,
    commission: u128,
) -> Event {
    Event::new(REWARDS_WITHDRAWN)
        .attr("delegator", delegator)
        .attr(
            "operator",
            operator.map(|o| o.to_string()).unwrap_or_default(),
        )
        .attr("rewards", rewards)
        .attr("commission", commission)
}

/// `hub_validator_set{epoch, validators, total_power, updates}`.
pub fn hub_validator_set(epoch: u64, validators: usize, total_power: u64, updates: usize) -> Event {
    Event::new(HUB_VALIDATOR_SET)
        .attr("epoch", epoch)
        .attr("validators", validators)
        .attr("total_power", total_power)
        .attr("updates", updates)
}

/// `hub_validator_set_kept{epoch, validators}`: no operator qualified at the end of `epoch`,
/// so the set in force stays (CometBFT cannot run with an empty set).
pub fn hub_validator_set_kept(epoch: u64, validators: usize) -> Event {
    Event::new(HUB_VALIDATOR_SET_KEPT)
        .attr("epoch", epoch)
        .attr("validators", validators)
}

/// `validator_update{epoch, consensus_pubkey, power}` (power 0: removed).
pub fn validator_update(epoch: u64, u: &ValidatorUpdate) -> Event {
    Event::new(VALIDATOR_UPDATE)
        .attr("epoch", epoch)
        .attr("consensus_pubkey", hex::encode(u.pubkey))
        .attr("power", u.power)
}
