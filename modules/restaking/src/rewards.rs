//! Rewards: at each epoch's end the fee collector's ubal moves to the restaking module account
//! and is split among operators by the epoch's snapshot power. Each operator's commission is
//! owed to its owner; the rest raises the operator's cumulative reward per unit of weight
//! (scaled 10^18, rounded down). A delegator's position holds its weight with the operator (the
//! power its own collateral gives), and settles `weight × (index now − index at last
//! settlement)` whenever the weight changes or it withdraws.
//!
//! Nothing is created or lost: every ubal the module account holds beyond bonded and unbonding
//! collateral is commission owed, rewards settled into positions, the operators' pools (credited
//! through the index, not yet settled; rounding remainders stay there), or the remainder a
//! distribution could not hand out (rounding between operators, operators whose positions have
//! no weight), which joins the next distribution. [`liabilities`] adds these up.
//!
//! A position's weight is the power of its own collateral, rounded down, so the weights of an
//! operator's positions add up to at most the operator's power: collateral worth less than one
//! unit of power (under 1 BAL, under 10,000 sat with the default weights) earns nothing, and
//! the operator's share goes to the weighted positions.

use crate::error::corrupt;
use crate::operator::{self, OperatorId};
use crate::power::{parse_amount, read_u128, write_u128, PowerSnapshot};
use crate::{events, native, state_key, RestakingError, BOND_DENOM};
use ballast_accounts::{bank, fee_collector, AccountsRead, Coin, Coins};
use ballast_framework::{Address, Event, StateRead, StateReadExt, StateWrite, StateWriteExt};
use ballast_proto::ballast::restaking::v1 as pb;

/// Scale of the reward index: ubal per unit of weight × 10^18.
pub const INDEX_SCALE: u128 = 1_000_000_000_000_000_000;

/// Event of [`pay_operators`]: `restaking.operators_paid{payer, operators, amount, credited}`.
pub const OPERATORS_PAID: &str = "restaking.operators_paid";

/// One delegator's collateral with one operator and its reward accounting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// The delegator.
    pub delegator: Address,
    /// The operator.
    pub operator: OperatorId,
    /// Bonded ubal.
    pub native_ubal: u128,
    /// Satoshis in the delegator's counting BTC delegations to the operator.
    pub btc_sat: u64,
    /// Proven restaked wei.
    pub eth_wei: u128,
    /// The power this collateral gives (the reward weight).
    pub weight: u64,
    /// The operator's index when last settled.
    pub index_at_settle: u128,
    /// Settled, not yet withdrawn ubal.
    pub owed: u128,
}

impl Position {
    /// An empty position.
    pub fn new(delegator: Address, operator: OperatorId) -> Self {
        Position {
            delegator,
            operator,
            native_ubal: 0,
            btc_sat: 0,
            eth_wei: 0,
            weight: 0,
            index_at_settle: 0,
            owed: 0,
        }
    }

    /// Whether it holds nothing (no collateral, nothing owed) and can be removed.
    pub fn is_empty(&self) -> bool {
        self.native_ubal == 0 && self.btc_sat == 0 && self.eth_wei == 0 && self.owed == 0
    }

    fn to_store(self) -> pb::Position {
        pb::Position {
            delegator: self.delegator.to_string(),
            operator_btc_pk: self.operator.to_bytes().to_vec(),
            native_ubal: self.native_ubal.to_string(),
            btc_sat: self.btc_sat,
            eth_wei: self.eth_wei.to_string(),
            weight: self.weight,
            index_at_settle: self.index_at_settle.to_string(),
            owed: self.owed.to_string(),
        }
    }

    fn from_store(p: pb::Position) -> Result<Self, RestakingError> {
        Ok(Position {
            delegator: p
                .delegator
                .parse()
                .map_err(|source| RestakingError::InvalidAddress {
                    field: "delegator",
                    source,
                })?,
            operator: OperatorId::from_slice(&p.operator_btc_pk, "operator_btc_pk")?,
            native_ubal: parse_amount("native_ubal", &p.native_ubal, true)?,
            btc_sat: p.btc_sat,
            eth_wei: parse_amount("eth_wei", &p.eth_wei, true)?,
            weight: p.weight,
            index_at_settle: parse_amount("index_at_settle", &p.index_at_settle, true)?,
            owed: parse_amount("owed", &p.owed, true)?,
        })
    }
}

/// An operator's reward accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OperatorRewards {
    /// The operator.
    pub operator: OperatorId,
    /// Cumulative ubal per unit of weight, × [`INDEX_SCALE`].
    pub cumulative: u128,
    /// Commission owed to the owner.
    pub commission_owed: u128,
    /// Sum of its positions' weights.
    pub total_weight: u64,
    /// Credited to its positions and not yet settled.
    pub pool: u128,
}

impl OperatorRewards {
    fn to_store(self) -> pb::OperatorRewards {
        pb::OperatorRewards {
            operator_btc_pk: self.operator.to_bytes().to_vec(),
            cumulative_per_power: self.cumulative.to_string(),
            commission_owed: self.commission_owed.to_string(),
            total_weight: self.total_weight,
            pool: self.pool.to_string(),
        }
    }

    fn from_store(p: pb::OperatorRewards) -> Result<Self, RestakingError> {
        Ok(OperatorRewards {
            operator: OperatorId::from_slice(&p.operator_btc_pk, "operator_btc_pk")?,
            cumulative: parse_amount("cumulative_per_power", &p.cumulative_per_power, true)?,
            commission_owed: parse_amount("commission_owed", &p.commission_owed, true)?,
            total_weight: p.total_weight,
            pool: parse_amount("pool", &p.pool, true)?,
        })
    }

    /// The query form.
    pub fn to_proto(&self) -> pb::RewardIndex {
        pb::RewardIndex {
            operator_btc_pk: self.operator.to_bytes().to_vec(),
            cumulative_per_power: self.cumulative.to_string(),
            commission_owed: self.commission_owed.to_string(),
        }
    }
}

/// 128 × 128 → 256-bit product as (high, low).
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    const LOW: u128 = u64::MAX as u128;
    let (a1, a0) = (a >> 64, a & LOW);
    let (b1, b0) = (b >> 64, b & LOW);
    // Each partial product of two 64-bit halves fits in 128 bits.
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let middle = (p00 >> 64) + (p01 & LOW) + (p10 & LOW);
    let low = (middle << 64) | (p00 & LOW);
    let high = p11 + (p01 >> 64) + (p10 >> 64) + (middle >> 64);
    (high, low)
}

/// `floor(a × b / d)`, exact through a 256-bit product; `None` if `d` is 0 or the quotient
/// does not fit in 128 bits.
pub fn mul_div_floor(a: u128, b: u128, d: u128) -> Option<u128> {
    if d == 0 {
        return None;
    }
    let (high, low) = mul_wide(a, b);
    if high == 0 {
        return Some(low / d);
    }
    if high >= d {
        return None;
    }
    // Binary long division of (high, low) by d, one bit of the low word at a time.
    let mut rem = high;
    let mut q: u128 = 0;
    for i in (0..128).rev() {
        let carry = rem >> 127;
        rem = (rem << 1) | ((low >> i) & 1);
        q <<= 1;
        if carry == 1 || rem >= d {
            rem = rem.wrapping_sub(d);
            q |= 1;
        }
    }
    Some(q)
}

/// A delegator's position with an operator.
pub fn load_position<S: StateRead + ?Sized>(
    state: &S,
    delegator: &Address,
    operator: &OperatorId,
) -> Result<Option<Position>, RestakingError> {
    match state.get_proto::<pb::Position>(state_key::position(delegator, operator))? {
        None => Ok(None),
        Some(p) => Position::from_store(p).map(Some).map_err(|e| {
            corrupt(format!(
                "stored position of {delegator} with {operator}: {e}"
            ))
        }),
    }
}

/// Writes a position, or removes it when it holds nothing.
pub(crate) fn save_position<S: StateWrite + ?Sized>(
    state: &mut S,
    pos: &Position,
) -> Result<(), RestakingError> {
    let key = state_key::position(&pos.delegator, &pos.operator);
    if pos.is_empty() {
        state.delete(key.into_bytes())?;
    } else {
        state.put_proto(key, &pos.to_store())?;
    }
    Ok(())
}

/// Every position of a delegator, in operator order.
pub fn positions_of<S: StateRead + ?Sized>(
    state: &S,
    delegator: &Address,
) -> Result<Vec<Position>, RestakingError> {
    let mut out = Vec::new();
    for item in state.prefix_proto::<pb::Position>(state_key::positions_prefix(delegator)) {
        let (_, p) = item?;
        out.push(
            Position::from_store(p)
                .map_err(|e| corrupt(format!("stored position of {delegator}: {e}")))?,
        );
    }
    Ok(out)
}

/// Every position of every delegator, in (delegator, operator) order.
pub fn all_positions<S: StateRead + ?Sized>(state: &S) -> Result<Vec<Position>, RestakingError> {
    let mut out = Vec::new();
    for item in state.prefix_proto::<pb::Position>(state_key::all_positions_prefix()) {
        let (_, p) = item?;
        out.push(Position::from_store(p).map_err(|e| corrupt(format!("stored position: {e}")))?);
    }
    Ok(out)
}

/// An operator's reward accounting (every registered operator has one).
pub fn load_operator_rewards<S: StateRead + ?Sized>(
    state: &S,
    operator: &OperatorId,
) -> Result<OperatorRewards, RestakingError> {
    let p = state
        .get_proto::<pb::OperatorRewards>(state_key::operator_rewards(operator))?
        .ok_or_else(|| corrupt(format!("operator {operator} has no reward record")))?;
    OperatorRewards::from_store(p)
        .map_err(|e| corrupt(format!("stored rewards of {operator}: {e}")))
}

pub(crate) fn save_operator_rewards<S: StateWrite + ?Sized>(
    state: &mut S,
    acct: &OperatorRewards,
) -> Result<(), RestakingError> {
    state.put_proto(
        state_key::operator_rewards(&acct.operator),
        &acct.to_store(),
    )?;
    Ok(())
}

/// Writes a new operator's empty reward record.
pub(crate) fn init_operator<S: StateWrite + ?Sized>(
    state: &mut S,
    operator: &OperatorId,
) -> Result<(), RestakingError> {
    save_operator_rewards(
        state,
        &OperatorRewards {
            operator: *operator,
            ..OperatorRewards::default()
        },
    )
}

/// What a position has earned since its last settlement and not yet settled.
fn unsettled(pos: &Position, acct: &OperatorRewards) -> Result<u128, RestakingError> {
    let delta = acct
        .cumulative
        .checked_sub(pos.index_at_settle)
        .ok_or_else(|| {
            corrupt(format!(
                "position index above operator {}'s index",
                acct.operator
            ))
        })?;
    mul_div_floor(u128::from(pos.weight), delta, INDEX_SCALE)
        .ok_or_else(|| corrupt("settled rewards overflow"))
}

/// Settles a position at its current weight: moves what it earned since its last settlement
/// from the operator's pool into the position's `owed`, and returns that amount.
pub(crate) fn settle(
    pos: &mut Position,
    acct: &mut OperatorRewards,
) -> Result<u128, RestakingError> {
    let earned = unsettled(pos, acct)?;
    acct.pool = acct.pool.checked_sub(earned).ok_or_else(|| {
        corrupt(format!(
            "reward pool of {} below a settlement",
            acct.operator
        ))
    })?;
    pos.owed = pos
        .owed
        .checked_add(earned)
        .ok_or_else(|| RestakingError::AmountOverflow("owed rewards".into()))?;
    pos.index_at_settle = acct.cumulative;
    Ok(earned)
}

/// What one epoch's distribution did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RewardDistribution {
    /// The epoch.
    pub epoch: u64,
    /// ubal moved from the fee collector.
    pub collected: u128,
    /// ubal carried over from earlier distributions.
    pub carried: u128,
    /// ubal handed to operators (commission and their positions).
    pub distributed: u128,
    /// ubal left for the next distribution.
    pub remainder: u128,
}

/// Moves the fee collector's ubal to the module account and distributes it, with the
/// remainder of earlier distributions, by the snapshot's power.
pub fn distribute<S: StateWrite + ?Sized>(
    state: &mut S,
    snapshot: &PowerSnapshot,
) -> Result<RewardDistribution, RestakingError> {
    // With no power at all nobody could be paid: the fees stay with the fee collector until
    // an epoch has power, so a chain without operators keeps its fees where they were taken.
    let collected = if snapshot.total_power > 0 {
        state.balance(&fee_collector(), BOND_DENOM)?
    } else {
        0
    };
    if collected > 0 {
        bank::send(
            state,
            &fee_collector(),
            &crate::module_account(),
            &ubal(collected)?,
        )?;
    }
    let carried = read_u128(state, state_key::reward_remainder())?;
    let pot = collected
        .checked_add(carried)
        .ok_or_else(|| corrupt("reward pot overflows"))?;
    let mut distributed: u128 = 0;
    if pot > 0 && snapshot.total_power > 0 {
        for p in snapshot.powers.iter().filter(|p| p.power > 0) {
            let share = mul_div_floor(pot, u128::from(p.power), u128::from(snapshot.total_power))
                .ok_or_else(|| corrupt("reward share overflows"))?;
            let handed = credit_operator(state, &p.operator, share)?;
            distributed = distributed
                .checked_add(handed)
                .ok_or_else(|| corrupt("distributed rewards overflow"))?;
        }
    }
    let remainder = pot
        .checked_sub(distributed)
        .ok_or_else(|| corrupt("distributed more than the pot"))?;
    write_u128(state, state_key::reward_remainder(), remainder)?;
    let out = RewardDistribution {
        epoch: snapshot.epoch,
        collected,
        carried,
        distributed,
        remainder,
    };
    state.emit_event(events::rewards_distributed(&out));
    Ok(out)
}

/// Credits `share` ubal (already in the module account) to one operator: its commission is
/// owed to its owner and the rest raises its reward index for its positions. Returns what was
/// handed out; the difference (no weighted position to credit, or an index, pool or commission at
/// the end of its range) is for the caller to keep in the reward remainder.
fn credit_operator<S: StateWrite + ?Sized>(
    state: &mut S,
    operator: &OperatorId,
    share: u128,
) -> Result<u128, RestakingError> {
    if share == 0 {
        return Ok(0);
    }
    let op = operator::require(state, operator)?;
    let mut acct = load_operator_rewards(state, operator)?;
    let commission = op
        .commission
        .mul_int_floor(share)
        .map_err(|_| corrupt("commission overflows"))?;
    let to_positions = share
        .checked_sub(commission)
        .ok_or_else(|| corrupt("commission above its share"))?;
    let mut handed = commission;
    if to_positions > 0 && acct.total_weight > 0 {
        let raised = mul_div_floor(to_positions, INDEX_SCALE, u128::from(acct.total_weight))
            .and_then(|d| acct.cumulative.checked_add(d));
        let pool = acct.pool.checked_add(to_positions);
        // An index or pool at the end of its range keeps the share for later epochs.
        if let (Some(raised), Some(pool)) = (raised, pool) {
            acct.cumulative = raised;
            acct.pool = pool;
            handed = handed
                .checked_add(to_positions)
                .ok_or_else(|| corrupt("reward share overflows"))?;
        }
    }
    if commission > 0 {
        match acct.commission_owed.checked_add(commission) {
            Some(c) => acct.commission_owed = c,
            None => handed = handed.saturating_sub(commission),
        }
    }
    save_operator_rewards(state, &acct)?;
    Ok(handed)
}

/// Pays operators from another module's account (the consumers module's leases): moves the
/// sum of `payments` from `from` into the restaking module account, then credits each
/// operator its amount exactly as an epoch's distribution credits its share (commission owed
/// to the owner, the rest to its positions through the reward index). What cannot be credited
/// joins the reward remainder, which the next distribution hands out. Returns the amount
/// credited to operators (the sum minus what joined the remainder).
///
/// Fails without effect on the caller's overlay only as a whole: an unknown operator
/// (restaking/12), a short balance of `from` (sdk/5) or an overflowing sum (restaking/17).
pub fn pay_operators<S: StateWrite + ?Sized>(
    state: &mut S,
    from: &Address,
    payments: &[(OperatorId, u128)],
) -> Result<u128, RestakingError> {
    let mut total: u128 = 0;
    for (id, amount) in payments {
        operator::require(state, id)?;
        total = total
            .checked_add(*amount)
            .ok_or_else(|| RestakingError::AmountOverflow("operator payments".into()))?;
    }
    if total == 0 {
        return Ok(0);
    }
    pay_in(state, from, total)?;
    let mut credited: u128 = 0;
    for (id, amount) in payments {
        let handed = credit_operator(state, id, *amount)?;
        credited = credited
            .checked_add(handed)
            .ok_or_else(|| corrupt("credited payments overflow"))?;
    }
    let uncredited = total
        .checked_sub(credited)
        .ok_or_else(|| corrupt("credited more than was paid"))?;
    if uncredited > 0 {
        let remainder = read_u128(state, state_key::reward_remainder())?
            .checked_add(uncredited)
            .ok_or_else(|| corrupt("reward remainder overflows"))?;
        write_u128(state, state_key::reward_remainder(), remainder)?;
    }
    state.emit_event(
        Event::new(OPERATORS_PAID)
            .attr("payer", from)
            .attr("operators", payments.len())
            .attr("amount", total)
            .attr("credited", credited),
    );
    Ok(credited)
}

fn ubal(amount: u128) -> Result<Coins, RestakingError> {
    Ok(Coins::from_proto(&[Coin {
        denom: BOND_DENOM.to_string(),
        amount,
    }
    .to_proto()])?)
}

/// Pays `amount` ubal from the module account to `to`.
pub(crate) fn pay_out<S: StateWrite + ?Sized>(
    state: &mut S,
    to: &Address,
    amount: u128,
) -> Result<(), RestakingError> {
    if amount == 0 {
        return Ok(());
    }
    bank::send(state, &crate::module_account(), to, &ubal(amount)?)?;
    Ok(())
}

/// Moves `amount` ubal from `from` into the module account.
pub(crate) fn pay_in<S: StateWrite + ?Sized>(
    state: &mut S,
    from: &Address,
    amount: u128,
) -> Result<(), RestakingError> {
    bank::send(state, from, &crate::module_account(), &ubal(amount)?)?;
    Ok(())
}

/// Pays the delegator's rewards with one operator (`Some`) or with every operator (`None`),
/// and the commission of the operators it owns among them. Returns the amount paid.
pub fn withdraw<S: StateWrite + ?Sized>(
    state: &mut S,
    delegator: &Address,
    operator: Option<&OperatorId>,
) -> Result<u128, RestakingError> {
    let ids: Vec<OperatorId> = match operator {
        Some(id) => {
            operator::require(state, id)?;
            vec![*id]
        }
        None => {
            let mut ids: Vec<OperatorId> = positions_of(state, delegator)?
                .iter()
                .map(|p| p.operator)
                .collect();
            ids.extend(operator::owned_by(state, delegator)?);
            ids.sort();
            ids.dedup();
            ids
        }
    };
    let mut total: u128 = 0;
    let mut commission_total: u128 = 0;
    for id in &ids {
        let mut acct = load_operator_rewards(state, id)?;
        if let Some(mut pos) = load_position(state, delegator, id)? {
            settle(&mut pos, &mut acct)?;
            total = total
                .checked_add(pos.owed)
                .ok_or_else(|| RestakingError::AmountOverflow("withdrawal".into()))?;
            pos.owed = 0;
            save_position(state, &pos)?;
        }
        let op = operator::require(state, id)?;
        if op.owner == *delegator && acct.commission_owed > 0 {
            commission_total = commission_total
                .checked_add(acct.commission_owed)
                .ok_or_else(|| RestakingError::AmountOverflow("withdrawal".into()))?;
            acct.commission_owed = 0;
        }
        save_operator_rewards(state, &acct)?;
    }
    let amount = total
        .checked_add(commission_total)
        .ok_or_else(|| RestakingError::AmountOverflow("withdrawal".into()))?;
    if amount == 0 {
        return Err(RestakingError::NothingToWithdraw {
            delegator: delegator.to_string(),
            scope: operator
                .map(|o| format!(" from operator {o}"))
                .unwrap_or_default(),
        });
    }
    pay_out(state, delegator, amount)?;
    state.emit_event(events::rewards_withdrawn(
        delegator,
        operator,
        total,
        commission_total,
    ));
    Ok(amount)
}

/// What a delegator could withdraw now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PendingRewards {
    /// Per position: the position and its withdrawable ubal (settled and unsettled).
    pub positions: Vec<(Position, u128)>,
    /// Commission of the operators the delegator owns.
    pub commission: u128,
    /// Everything.
    pub total: u128,
}

/// The delegator's withdrawable rewards, computed without writing.
pub fn pending<S: StateRead + ?Sized>(
    state: &S,
    delegator: &Address,
) -> Result<PendingRewards, RestakingError> {
    let mut out = PendingRewards::default();
    let overflow = || RestakingError::AmountOverflow("pending rewards".into());
    for pos in positions_of(state, delegator)? {
        let acct = load_operator_rewards(state, &pos.operator)?;
        let amount = pos
            .owed
            .checked_add(unsettled(&pos, &acct)?)
            .ok_or_else(overflow)?;
        out.total = out.total.checked_add(amount).ok_or_else(overflow)?;
        out.positions.push((pos, amount));
    }
    for id in operator::owned_by(state, delegator)? {
        let acct = load_operator_rewards(state, &id)?;
        out.commission = out
            .commission
            .checked_add(acct.commission_owed)
            .ok_or_else(overflow)?;
    }
    out.total = out.total.checked_add(out.commission).ok_or_else(overflow)?;
    Ok(out)
}

/// What the module account owes, by kind. Their sum never exceeds the module account's ubal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Liabilities {
    /// Bonded ubal (all positions).
    pub bonded: u128,
    /// ubal in the native unbonding queue.
    pub unbonding: u128,
    /// Commission owed to owners.
    pub commission: u128,
    /// Rewards settled into positions.
    pub owed: u128,
    /// Rewards credited to operators' positions and not yet settled.
    pub pools: u128,
    /// Left for the next distribution.
    pub remainder: u128,
}

impl Liabilities {
    /// The sum of every kind.
    pub fn total(&self) -> Option<u128> {
        self.bonded
            .checked_add(self.unbonding)?
            .checked_add(self.commission)?
            .checked_add(self.owed)?
            .checked_add(self.pools)?
            .checked_add(self.remainder)
    }

    /// The rewards part (everything but bonded and unbonding collateral).
    pub fn rewards(&self) -> Option<u128> {
        self.commission
            .checked_add(self.owed)?
            .checked_add(self.pools)?
            .checked_add(self.remainder)
    }
}

/// Adds up what the module account owes (walks every position and operator: for tests,
/// invariant checks and audits, not for block execution).
pub fn liabilities<S: StateRead + ?Sized>(state: &S) -> Result<Liabilities, RestakingError> {
    let overflow = || corrupt("liabilities overflow");
    let mut l = Liabilities::default();
    for p in all_positions(state)? {
        l.bonded = l.bonded.checked_add(p.native_ubal).ok_or_else(overflow)?;
        l.owed = l.owed.checked_add(p.owed).ok_or_else(overflow)?;
    }
    l.unbonding = native::total_unbonding(state)?;
    for item in state.prefix_proto::<pb::OperatorRewards>(state_key::operator_rewards_prefix()) {
        let (_, p) = item?;
        let a = OperatorRewards::from_store(p)?;
        l.commission = l
            .commission
            .checked_add(a.commission_owed)
            .ok_or_else(overflow)?;
        l.pools = l.pools.checked_add(a.pool).ok_or_else(overflow)?;
    }
    l.remainder = read_u128(state, state_key::reward_remainder())?;
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::{adjust_collateral, snapshot_power, CollateralChange};
    use crate::testutil::*;
    use ballast_framework::{ErrorCode, MemState};
    use proptest::prelude::*;

    #[test]
    fn mul_div_is_exact_beyond_128_bits() {
        assert_eq!(
            mul_div_floor(u128::MAX, u128::MAX, u128::MAX),
            Some(u128::MAX)
        );
        assert_eq!(mul_div_floor(u128::MAX, 3, 4), Some(u128::MAX / 4 * 3 + 2));
        assert_eq!(mul_div_floor(7, 3, 2), Some(10));
        assert_eq!(mul_div_floor(1, 1, 0), None);
        assert_eq!(mul_div_floor(u128::MAX, 2, 1), None);
    }

    proptest! {
        #[test]
        fn mul_div_matches_narrow_arithmetic(a in any::<u64>(), b in any::<u64>(), d in 1u64..) {
            let exact = u128::from(a) * u128::from(b) / u128::from(d);
            prop_assert_eq!(mul_div_floor(u128::from(a), u128::from(b), u128::from(d)), Some(exact));
        }
    }

    /// Operators 1 (commission 10%) and 2 (commission 0) with the given self-bonds in BAL.
    fn two_operators(s: &mut MemState, bal1: u128, bal2: u128) -> (OperatorId, OperatorId) {
        let a = register_op_with(s, 1, Some(cons_pk(1)), "0.1");
        let b = register_op_with(s, 2, Some(cons_pk(2)), "0");
        fund(s, &owner(1), bal1 * 1_000_000);
        fund(s, &owner(2), bal2 * 1_000_000);
        native::bond(s, &owner(1), &a, bal1 * 1_000_000).unwrap();
        native::bond(s, &owner(2), &b, bal2 * 1_000_000).unwrap();
        (a, b)
    }

    fn check_conservation(s: &MemState) {
        let l = liabilities(s).unwrap();
        assert_eq!(
            s.balance(&crate::module_account(), BOND_DENOM).unwrap(),
            l.total().unwrap(),
            "{l:?}"
        );
    }

    #[test]
    fn fees_are_split_by_power_with_commission_to_the_owner() {
        let mut s = MemState::new();
        init(&mut s);
        let (a, b) = two_operators(&mut s, 300, 100);
        fund(&mut s, &fee_collector(), 1_000);
        let snap = snapshot_power(&mut s, 1).unwrap();
        let d = distribute(&mut s, &snap).unwrap();
        assert_eq!((d.collected, d.distributed, d.remainder), (1_000, 1_000, 0));
        assert_eq!(s.balance(&fee_collector(), BOND_DENOM).unwrap(), 0);
        check_conservation(&s);
        // Operator 1: 750, of which 75 commission; operator 2: 250.
        assert_eq!(load_operator_rewards(&s, &a).unwrap().commission_owed, 75);
        let p1 = pending(&s, &owner(1)).unwrap();
        assert_eq!((p1.positions[0].1, p1.commission, p1.total), (675, 75, 750));
        assert_eq!(pending(&s, &owner(2)).unwrap().total, 250);
        assert_eq!(load_operator_rewards(&s, &b).unwrap().commission_owed, 0);

        let paid = withdraw(&mut s, &owner(1), None).unwrap();
        assert_eq!(paid, 750);
        assert_eq!(s.balance(&owner(1), BOND_DENOM).unwrap(), 750);
        assert_eq!(pending(&s, &owner(1)).unwrap().total, 0);
        check_conservation(&s);
        assert_eq!(withdraw(&mut s, &owner(1), None).unwrap_err().code(), 20);
        assert_eq!(withdraw(&mut s, &owner(2), Some(&b)).unwrap(), 250);
        assert_eq!(
            withdraw(&mut s, &owner(2), Some(&OperatorId::new([9; 32])))
                .unwrap_err()
                .code(),
            12
        );
        check_conservation(&s);
        assert_eq!(
            s.balance(&crate::module_account(), BOND_DENOM).unwrap(),
            400_000_000
        );
    }

    #[test]
    fn a_weight_change_settles_first_and_later_fees_follow_the_new_weights() {
        let mut s = MemState::new();
        init(&mut s);
        let (_, b) = two_operators(&mut s, 100, 100);
        let d = Address([0x44; 20]);
        fund(&mut s, &fee_collector(), 2_000);
        let snap = snapshot_power(&mut s, 1).unwrap();
        distribute(&mut s, &snap).unwrap();
        // owner(2) earned 1000 at weight 100; a new delegator joins operator 2 with 300 BAL.
        fund(&mut s, &d, 300_000_000);
        native::bond(&mut s, &d, &b, 300_000_000).unwrap();
        assert_eq!(
            pending(&s, &d).unwrap().total,
            0,
            "joined after the distribution"
        );
        fund(&mut s, &fee_collector(), 5_000);
        let snap = snapshot_power(&mut s, 2).unwrap();
        distribute(&mut s, &snap).unwrap();
        // 5000 over power 100 + 400: operator 2 gets 4000, split 1000 / 3000.
        assert_eq!(pending(&s, &owner(2)).unwrap().total, 1_000 + 1_000);
        assert_eq!(pending(&s, &d).unwrap().total, 3_000);
        // Unbonding settles: the rewards stay owed after the weight drops to 0.
        native::unbond(&mut s, &d, &b, 300_000_000).unwrap();
        assert_eq!(pending(&s, &d).unwrap().total, 3_000);
        check_conservation(&s);
        assert_eq!(withdraw(&mut s, &d, None).unwrap(), 3_000);
        check_conservation(&s);
    }

    #[test]
    fn rounding_remainders_are_kept_and_handed_out_later() {
        let mut s = MemState::new();
        init(&mut s);
        let (a, _) = two_operators(&mut s, 1, 2);
        // Two delegators of 0.5 BAL each give operator 1 power 1 more but weight 0 each.
        for i in 0..2u8 {
            let d = Address([0x50 + i; 20]);
            fund(&mut s, &d, 500_000);
            native::bond(&mut s, &d, &a, 500_000).unwrap();
        }
        fund(&mut s, &fee_collector(), 10);
        let snap = snapshot_power(&mut s, 1).unwrap();
        assert_eq!(snap.total_power, 4);
        let d = distribute(&mut s, &snap).unwrap();
        // Operator 1: floor(10 × 2/4) = 5 (commission 0), its positions' weight is 1 (owner).
        // Operator 2: 5. Nothing is left over here.
        assert_eq!(d.distributed + d.remainder, 10);
        check_conservation(&s);
        // A pot that does not divide: 1 ubal over 4 power.
        fund(&mut s, &fee_collector(), 1);
        let snap = snapshot_power(&mut s, 2).unwrap();
        let d2 = distribute(&mut s, &snap).unwrap();
        assert_eq!((d2.distributed, d2.remainder), (0, 1));
        check_conservation(&s);
        fund(&mut s, &fee_collector(), 3);
        let snap = snapshot_power(&mut s, 3).unwrap();
        let d3 = distribute(&mut s, &snap).unwrap();
        assert_eq!((d3.carried, d3.distributed + d3.remainder), (1, 4));
        check_conservation(&s);
    }

    #[test]
    fn no_power_means_everything_waits() {
        let mut s = MemState::new();
        init(&mut s);
        fund(&mut s, &fee_collector(), 77);
        let snap = snapshot_power(&mut s, 1).unwrap();
        let d = distribute(&mut s, &snap).unwrap();
        // Nothing is collected: the fees wait with the fee collector for an epoch with power.
        assert_eq!((d.collected, d.distributed, d.remainder), (0, 0, 0));
        assert_eq!(s.balance(&fee_collector(), BOND_DENOM).unwrap(), 77);
        check_conservation(&s);
        // Once an operator has power, they are collected and paid.
        let a = register_op_with(&mut s, 1, Some(cons_pk(1)), "0");
        let staker = Address([0x62; 20]);
        adjust_collateral(&mut s, &a, &staker, CollateralChange::AddBtc(1_000_000)).unwrap();
        let snap = snapshot_power(&mut s, 2).unwrap();
        let d = distribute(&mut s, &snap).unwrap();
        assert_eq!((d.collected, d.distributed), (77, 77));
        assert_eq!(s.balance(&fee_collector(), BOND_DENOM).unwrap(), 0);
        check_conservation(&s);
    }

    #[test]
    fn paid_operators_split_like_a_distribution_commission_first_then_delegators() {
        let mut s = MemState::new();
        init(&mut s);
        let (a, b) = two_operators(&mut s, 100, 100);
        // A delegator with 300 BAL on operator 1 (commission 10%): weights 100 (owner) + 300.
        let d = Address([0x45; 20]);
        fund(&mut s, &d, 300_000_000);
        native::bond(&mut s, &d, &a, 300_000_000).unwrap();
        let lease = Address([0x77; 20]);
        fund(&mut s, &lease, 2_000);
        let credited = pay_operators(&mut s, &lease, &[(a, 1_000), (b, 500)]).unwrap();
        assert_eq!(credited, 1_500);
        assert_eq!(s.balance(&lease, BOND_DENOM).unwrap(), 500);
        check_conservation(&s);
        // Operator 1: 100 commission to its owner, 900 over weights 100 / 300.
        assert_eq!(load_operator_rewards(&s, &a).unwrap().commission_owed, 100);
        let p1 = pending(&s, &owner(1)).unwrap();
        assert_eq!((p1.commission, p1.total), (100, 100 + 225));
        assert_eq!(pending(&s, &d).unwrap().total, 675);
        // Operator 2 has commission 0: all 500 to its owner's position.
        assert_eq!(pending(&s, &owner(2)).unwrap().total, 500);
        assert_eq!(read_u128(&s, state_key::reward_remainder()).unwrap(), 0);
        assert!(s
            .events()
            .iter()
            .any(|e| e.kind == OPERATORS_PAID && e.get("amount") == Some("1500")));
        assert_eq!(withdraw(&mut s, &d, None).unwrap(), 675);
        check_conservation(&s);
    }

    #[test]
    fn paid_shares_that_cannot_be_credited_join_the_remainder() {
        let mut s = MemState::new();
        init(&mut s);
        // Operator 3 has commission 0 and no weighted position (only 0.5 BAL bonded).
        let c = register_op_with(&mut s, 3, None, "0");
        fund(&mut s, &owner(3), 500_000);
        native::bond(&mut s, &owner(3), &c, 500_000).unwrap();
        let lease = Address([0x78; 20]);
        fund(&mut s, &lease, 40);
        assert_eq!(pay_operators(&mut s, &lease, &[(c, 40)]).unwrap(), 0);
        assert_eq!(read_u128(&s, state_key::reward_remainder()).unwrap(), 40);
        check_conservation(&s);
        // The next distribution hands the remainder out by power.
        let (a, _) = two_operators(&mut s, 1, 1);
        let snap = snapshot_power(&mut s, 1).unwrap();
        let d = distribute(&mut s, &snap).unwrap();
        assert_eq!(d.carried, 40);
        assert_eq!(d.distributed + d.remainder, 40);
        assert!(load_operator_rewards(&s, &a).unwrap().pool > 0);
        check_conservation(&s);
    }

    #[test]
    fn a_payment_to_an_unknown_operator_or_beyond_the_balance_moves_nothing() {
        let mut s = MemState::new();
        init(&mut s);
        let (a, _) = two_operators(&mut s, 1, 1);
        let lease = Address([0x79; 20]);
        fund(&mut s, &lease, 10);
        let before = s.entries().clone();
        let unknown = OperatorId::new([9; 32]);
        let e = pay_operators(&mut s, &lease, &[(a, 5), (unknown, 5)]).unwrap_err();
        assert_eq!((e.codespace(), e.code()), ("restaking", 12));
        assert_eq!(s.entries(), &before);
        let e = pay_operators(&mut s, &lease, &[(a, 11)]).unwrap_err();
        assert_eq!((e.codespace(), e.code()), ("sdk", 5));
        assert_eq!(s.entries(), &before);
        let e = pay_operators(&mut s, &lease, &[(a, u128::MAX), (a, 1)]).unwrap_err();
        assert_eq!(e.code(), 17);
        assert_eq!(pay_operators(&mut s, &lease, &[(a, 0)]).unwrap(), 0);
        assert_eq!(s.entries(), &before);
    }

    #[test]
    fn btc_collateral_earns_through_the_same_positions() {
        let mut s = MemState::new();
        init(&mut s);
        let a = register_op_with(&mut s, 1, Some(cons_pk(1)), "0");
        let staker = Address([0x61; 20]);
        adjust_collateral(&mut s, &a, &staker, CollateralChange::AddBtc(1_000_000)).unwrap();
        fund(&mut s, &fee_collector(), 500);
        let snap = snapshot_power(&mut s, 1).unwrap();
        distribute(&mut s, &snap).unwrap();
        assert_eq!(pending(&s, &staker).unwrap().total, 500);
        adjust_collateral(&mut s, &a, &staker, CollateralChange::SubBtc(1_000_000)).unwrap();
        assert_eq!(withdraw(&mut s, &staker, Some(&a)).unwrap(), 500);
        assert_eq!(load_position(&s, &staker, &a).unwrap(), None);
        check_conservation(&s);
    }
}
