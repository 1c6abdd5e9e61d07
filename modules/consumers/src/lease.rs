//! Leases: every consumer's ubal sits in the module account ([`crate::module_account`]) and
//! `Consumer::lease_balance` is its share, so the account holds exactly the sum of the lease
//! balances (plus whatever someone sent it directly, which no lease owns).
//!
//! At each epoch-end processing of an ACTIVE consumer, `fee_per_epoch` is drawn and paid to
//! the operators of the new set in proportion to their power on the consumer
//! (`floor(fee × power / total)`, the rounding remainder to the first validator in CometBFT
//! order), through restaking's reward index ([`ballast_restaking::rewards::pay_operators`]):
//! each operator's commission is owed to its owner, the rest goes to its delegators pro rata.
//! A set without power draws nothing.

use crate::consumer::Consumer;
use crate::error::corrupt;
use crate::valset::ConsumerValidator;
use crate::{events, module_account, ConsumersError};
use ballast_accounts::{bank, Coin, Coins};
use ballast_framework::{Address, StateWrite};
use ballast_restaking::rewards::{mul_div_floor, pay_operators};
use ballast_restaking::{OperatorId, BOND_DENOM};

fn ubal(amount: u128) -> Result<Coins, ConsumersError> {
    Ok(Coins::from_proto(&[Coin {
        denom: BOND_DENOM.to_string(),
        amount,
    }
    .to_proto()])?)
}

/// Moves `amount` ubal from `funder` into the module account and adds it to the lease.
pub fn fund<S: StateWrite + ?Sized>(
    state: &mut S,
    c: &mut Consumer,
    funder: &Address,
    amount: u128,
) -> Result<(), ConsumersError> {
    c.lease_balance = c.lease_balance.checked_add(amount).ok_or_else(|| {
        ConsumersError::AmountOverflow(format!("lease balance of consumer {}", c.id))
    })?;
    bank::send(state, funder, &module_account(), &ubal(amount)?)?;
    state.emit_event(events::lease_funded(c, funder, amount));
    Ok(())
}

/// Pays what is left of the lease back to the owner; returns the amount.
pub fn refund<S: StateWrite + ?Sized>(
    state: &mut S,
    c: &mut Consumer,
) -> Result<u128, ConsumersError> {
    let amount = c.lease_balance;
    if amount > 0 {
        bank::send(state, &module_account(), &c.owner, &ubal(amount)?)?;
        c.lease_balance = 0;
    }
    state.emit_event(events::lease_refunded(c, amount));
    Ok(amount)
}

/// Each operator's share of `fee` by power: `floor(fee × power / total)`, the remainder to the
/// first validator. Empty when the set has no power.
pub fn shares(
    fee: u128,
    set: &[ConsumerValidator],
) -> Result<Vec<(OperatorId, u128)>, ConsumersError> {
    let total: u128 = set.iter().map(|v| u128::from(v.power)).sum();
    if total == 0 || fee == 0 {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(set.len());
    let mut given: u128 = 0;
    for v in set {
        let share = mul_div_floor(fee, u128::from(v.power), total)
            .ok_or_else(|| corrupt("lease share overflows"))?;
        given = given
            .checked_add(share)
            .ok_or_else(|| corrupt("lease shares overflow"))?;
        out.push((v.operator, share));
    }
    let rest = fee
        .checked_sub(given)
        .ok_or_else(|| corrupt("lease shares above the fee"))?;
    if let Some(first) = out.first_mut() {
        first.1 = first
            .1
            .checked_add(rest)
            .ok_or_else(|| corrupt("lease share overflows"))?;
    }
    Ok(out)
}

/// Draws `fee_per_epoch` from the lease (the caller checked it is covered) and pays it to the
/// operators of `set`. Returns the amount drawn (0 for a set without power).
pub fn draw_and_pay<S: StateWrite + ?Sized>(
    state: &mut S,
    c: &mut Consumer,
    set: &[ConsumerValidator],
    epoch: u64,
) -> Result<u128, ConsumersError> {
    let fee = c.terms.fee_per_epoch;
    let payments = shares(fee, set)?;
    if payments.is_empty() {
        return Ok(0);
    }
    c.lease_balance = c
        .lease_balance
        .checked_sub(fee)
        .ok_or_else(|| corrupt(format!("lease of consumer {} below its fee", c.id)))?;
    c.total_paid = c.total_paid.checked_add(fee).ok_or_else(|| {
        ConsumersError::AmountOverflow(format!("total paid by consumer {}", c.id))
    })?;
    pay_operators(state, &module_account(), &payments)?;
    state.emit_event(events::lease_paid(c, epoch, fee, payments.len()));
    Ok(fee)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::consumer_key;

    fn v(k: u8, power: u64) -> ConsumerValidator {
        ConsumerValidator {
            key: consumer_key(k),
            power,
            operator: OperatorId::new([k; 32]),
        }
    }

    #[test]
    fn shares_follow_power_and_add_up_to_the_fee() {
        let set = vec![v(1, 3), v(2, 2), v(3, 2)];
        let s = shares(100, &set).unwrap();
        // floor(300/7) = 42, floor(200/7) = 28 twice: 98, and 2 more to the first.
        assert_eq!(
            s.iter().map(|(_, a)| *a).collect::<Vec<_>>(),
            vec![44, 28, 28]
        );
        assert_eq!(s.iter().map(|(_, a)| a).sum::<u128>(), 100);
        assert!(shares(100, &[]).unwrap().is_empty());
        assert_eq!(shares(1, &set).unwrap()[0].1, 1);
        let huge = shares(u128::MAX, &[v(1, u64::MAX), v(2, 1)]).unwrap();
        assert_eq!(
            huge.iter()
                .fold(0u128, |a, (_, x)| a.checked_add(*x).unwrap()),
            u128::MAX
        );
    }
}
