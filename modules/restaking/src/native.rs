//! Native bonds: ubal bonded to an operator from the delegator's balance into the restaking
//! module account, and unbondings that return it after `native_unbonding_epochs`.
//!
//! An unbonding started in epoch `e` completes in epoch `e + native_unbonding_epochs`: the ubal
//! is paid back by the end-block of the first block of that epoch or a later one. The queue is
//! keyed by (completion epoch, id), so matured entries come first; each block pays at most
//! `max_unbondings_per_block` of them and the rest wait for the next block. The power drops at
//! once (and leaves the hub set at the current epoch's end).

use crate::error::corrupt;
use crate::operator::OperatorId;
use crate::power::{
    self, adjust_collateral, parse_amount, read_u64, write_u64, CollateralChange, PowerChange,
};
use crate::rewards::{self, pay_in, pay_out};
use crate::{events, params, state_key, RestakingError};
use ballast_framework::{Address, StateRead, StateReadExt, StateWrite, StateWriteExt};
use ballast_proto::ballast::restaking::v1 as pb;

/// A native unbonding waiting in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NativeUnbonding {
    /// Its id (assigned in order from 1).
    pub id: u64,
    /// Who receives the ubal.
    pub delegator: Address,
    /// The operator it was bonded to.
    pub operator: OperatorId,
    /// ubal.
    pub amount: u128,
    /// The epoch from whose first block it can be paid.
    pub completion_epoch: u64,
}

impl NativeUnbonding {
    /// The proto form.
    pub fn to_proto(&self) -> pb::NativeUnbonding {
        pb::NativeUnbonding {
            id: self.id,
            delegator: self.delegator.to_string(),
            operator_btc_pk: self.operator.to_bytes().to_vec(),
            amount: self.amount.to_string(),
            completion_epoch: self.completion_epoch,
        }
    }
}

impl TryFrom<pb::NativeUnbonding> for NativeUnbonding {
    type Error = RestakingError;
    fn try_from(p: pb::NativeUnbonding) -> Result<Self, Self::Error> {
        Ok(NativeUnbonding {
            id: p.id,
            delegator: p
                .delegator
                .parse()
                .map_err(|source| RestakingError::InvalidAddress {
                    field: "delegator",
                    source,
                })?,
            operator: OperatorId::from_slice(&p.operator_btc_pk, "operator_btc_pk")?,
            amount: parse_amount("amount", &p.amount, false)?,
            completion_epoch: p.completion_epoch,
        })
    }
}

/// Bonds `amount` ubal of `delegator` to `operator`: the ubal moves to the module account and
/// the power follows at once. The caller discards the writes if this fails (a tx's overlay).
pub fn bond<S: StateWrite + ?Sized>(
    state: &mut S,
    delegator: &Address,
    operator: &OperatorId,
    amount: u128,
) -> Result<PowerChange, RestakingError> {
    if amount == 0 {
        return Err(RestakingError::InvalidAmount {
            field: "amount",
            input: "0".into(),
            reason: "must be positive",
        });
    }
    crate::operator::require(state, operator)?;
    pay_in(state, delegator, amount)?;
    let change = adjust_collateral(
        state,
        operator,
        delegator,
        CollateralChange::AddNative(amount),
    )?;
    state.emit_event(events::native_bonded(delegator, operator, amount));
    Ok(change)
}

/// Starts unbonding `amount` ubal of `delegator` from `operator`. The power drops at once; the
/// ubal is returned from the completion epoch on.
pub fn unbond<S: StateWrite + ?Sized>(
    state: &mut S,
    delegator: &Address,
    operator: &OperatorId,
    amount: u128,
) -> Result<NativeUnbonding, RestakingError> {
    if amount == 0 {
        return Err(RestakingError::InvalidAmount {
            field: "amount",
            input: "0".into(),
            reason: "must be positive",
        });
    }
    crate::operator::require(state, operator)?;
    adjust_collateral(
        state,
        operator,
        delegator,
        CollateralChange::SubNative(amount),
    )?;
    let p = params::load(state)?;
    let completion_epoch = power::current_epoch(state)?
        .checked_add(p.native_unbonding_epochs)
        .ok_or_else(|| corrupt("completion epoch overflows"))?;
    let id = read_u64(state, state_key::next_unbonding_id())?.unwrap_or(1);
    let next = id
        .checked_add(1)
        .ok_or_else(|| corrupt("unbonding ids exhausted"))?;
    write_u64(state, state_key::next_unbonding_id(), next)?;
    let u = NativeUnbonding {
        id,
        delegator: *delegator,
        operator: *operator,
        amount,
        completion_epoch,
    };
    state.put_proto(
        state_key::unbonding_queue(completion_epoch, id),
        &u.to_proto(),
    )?;
    state.put_raw(
        state_key::unbonding_by_delegator(delegator, id).into_bytes(),
        completion_epoch.to_be_bytes().to_vec(),
    )?;
    state.emit_event(events::native_unbonding_started(&u));
    Ok(u)
}

/// Pays out matured unbondings (completion epoch at or before the current epoch), at most
/// `max_unbondings_per_block` of them, oldest first. Returns those paid.
pub fn complete_matured<S: StateWrite + ?Sized>(
    state: &mut S,
) -> Result<Vec<NativeUnbonding>, RestakingError> {
    let max = params::load(state)?.max_unbondings_per_block as usize;
    let epoch = power::current_epoch(state)?;
    let mut due = Vec::new();
    for item in state.prefix_proto::<pb::NativeUnbonding>(state_key::unbonding_queue_prefix()) {
        if due.len() == max {
            break;
        }
        let (_, p) = item?;
        let u =
            NativeUnbonding::try_from(p).map_err(|e| corrupt(format!("stored unbonding: {e}")))?;
        if u.completion_epoch > epoch {
            break;
        }
        due.push(u);
    }
    for u in &due {
        state.delete(state_key::unbonding_queue(u.completion_epoch, u.id).into_bytes())?;
        state.delete(state_key::unbonding_by_delegator(&u.delegator, u.id).into_bytes())?;
        pay_out(state, &u.delegator, u.amount)?;
        state.emit_event(events::native_unbonding_completed(u));
    }
    Ok(due)
}

/// A delegator's native bonds: (operator, ubal), in operator order.
pub fn bonds_of<S: StateRead + ?Sized>(
    state: &S,
    delegator: &Address,
) -> Result<Vec<(OperatorId, u128)>, RestakingError> {
    Ok(rewards::positions_of(state, delegator)?
        .into_iter()
        .filter(|p| p.native_ubal > 0)
        .map(|p| (p.operator, p.native_ubal))
        .collect())
}

/// A delegator's pending unbondings, in id order.
pub fn unbondings_of<S: StateRead + ?Sized>(
    state: &S,
    delegator: &Address,
) -> Result<Vec<NativeUnbonding>, RestakingError> {
    let mut out = Vec::new();
    for item in state.prefix_raw(state_key::unbonding_by_delegator_prefix(delegator).as_bytes()) {
        let (k, v) = item?;
        let id = state_key::number_from_key(&k)
            .ok_or_else(|| corrupt("unbonding index key without an id"))?;
        let epoch = u64::from_be_bytes(
            v.as_slice()
                .try_into()
                .map_err(|_| corrupt("unbonding index value is not 8 bytes"))?,
        );
        let p: pb::NativeUnbonding = state
            .get_proto(state_key::unbonding_queue(epoch, id))?
            .ok_or_else(|| corrupt(format!("indexed unbonding {id} missing from the queue")))?;
        out.push(
            NativeUnbonding::try_from(p).map_err(|e| corrupt(format!("unbonding {id}: {e}")))?,
        );
    }
    Ok(out)
}

/// ubal in the whole unbonding queue.
pub fn total_unbonding<S: StateRead + ?Sized>(state: &S) -> Result<u128, RestakingError> {
    let mut total: u128 = 0;
    for item in state.prefix_proto::<pb::NativeUnbonding>(state_key::unbonding_queue_prefix()) {
        let (_, p) = item?;
        let amount = parse_amount("amount", &p.amount, false)
            .map_err(|e| corrupt(format!("stored unbonding {}: {e}", p.id)))?;
        total = total
            .checked_add(amount)
            .ok_or_else(|| corrupt("unbonding total overflows"))?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::{set_epoch_ended, PowerTableRead};
    use crate::testutil::*;
    use crate::{module_account, Params, BOND_DENOM};
    use ballast_accounts::AccountsRead;
    use ballast_framework::{ErrorCode, MemState};

    #[test]
    fn bond_moves_funds_and_power_and_rejects_bad_amounts() {
        let mut s = MemState::new();
        init(&mut s);
        let op = register_op(&mut s, 1, Some(cons_pk(1)));
        let d = Address([0x21; 20]);
        fund(&mut s, &d, 10_000_000);
        let c = bond(&mut s, &d, &op, 4_000_000).unwrap();
        assert_eq!((c.old_power, c.new_power), (0, 4));
        assert_eq!(s.balance(&d, BOND_DENOM).unwrap(), 6_000_000);
        assert_eq!(s.balance(&module_account(), BOND_DENOM).unwrap(), 4_000_000);
        assert_eq!(bonds_of(&s, &d).unwrap(), vec![(op, 4_000_000)]);
        // More than the balance: the accounts module's insufficient-funds code, nothing moves.
        let e = ballast_framework::TxError::from(bond(&mut s, &d, &op, 6_000_001).unwrap_err());
        assert_eq!((e.codespace, e.code), ("sdk", 5));
        assert_eq!(bond(&mut s, &d, &op, 0).unwrap_err().code(), 9);
        assert_eq!(
            bond(&mut s, &d, &OperatorId::new([5; 32]), 1)
                .unwrap_err()
                .code(),
            12
        );
        assert!(s
            .events()
            .iter()
            .any(|e| e.kind == "restaking.native_bonded"));
    }

    #[test]
    fn unbond_waits_the_unbonding_epochs_then_pays_back() {
        let mut s = MemState::new();
        init(&mut s);
        let op = register_op(&mut s, 1, Some(cons_pk(1)));
        let d = Address([0x22; 20]);
        fund(&mut s, &d, 10_000_000);
        bond(&mut s, &d, &op, 10_000_000).unwrap();
        assert_eq!(unbond(&mut s, &d, &op, 10_000_001).unwrap_err().code(), 15);
        assert_eq!(unbond(&mut s, &d, &op, 0).unwrap_err().code(), 9);
        let u = unbond(&mut s, &d, &op, 3_000_000).unwrap();
        assert_eq!((u.id, u.completion_epoch), (1, 1 + 7));
        assert_eq!(s.operator_power(&op).unwrap().unwrap().power, 7);
        assert_eq!(unbondings_of(&s, &d).unwrap(), vec![u]);
        for epoch in 1..=7 {
            assert!(
                complete_matured(&mut s).unwrap().is_empty(),
                "epoch {epoch}"
            );
            set_epoch_ended(&mut s, epoch).unwrap();
        }
        // Epoch 8 is current: paid.
        assert_eq!(complete_matured(&mut s).unwrap(), vec![u]);
        assert_eq!(s.balance(&d, BOND_DENOM).unwrap(), 3_000_000);
        assert!(unbondings_of(&s, &d).unwrap().is_empty());
        assert_eq!(total_unbonding(&s).unwrap(), 0);
        assert!(complete_matured(&mut s).unwrap().is_empty());
    }

    #[test]
    fn the_queue_drains_a_bounded_number_per_block_and_conserves_funds() {
        let mut s = MemState::new();
        let p = Params {
            max_unbondings_per_block: 3,
            native_unbonding_epochs: 1,
            ..Params::default()
        };
        init_with(&mut s, p);
        let op = register_op(&mut s, 1, Some(cons_pk(1)));
        let delegators: Vec<Address> = (0..8u8).map(|i| Address([0x30 + i; 20])).collect();
        for d in &delegators {
            fund(&mut s, d, 1_000_000);
            bond(&mut s, d, &op, 1_000_000).unwrap();
            unbond(&mut s, d, &op, 400_000).unwrap();
            unbond(&mut s, d, &op, 600_000).unwrap();
        }
        assert_eq!(total_unbonding(&s).unwrap(), 8_000_000);
        assert!(complete_matured(&mut s).unwrap().is_empty());
        set_epoch_ended(&mut s, 1).unwrap();
        let mut blocks = 0;
        let mut paid_ids = Vec::new();
        loop {
            let paid = complete_matured(&mut s).unwrap();
            if paid.is_empty() {
                break;
            }
            assert!(paid.len() <= 3);
            paid_ids.extend(paid.iter().map(|u| u.id));
            blocks += 1;
            let held = s.balance(&module_account(), BOND_DENOM).unwrap();
            assert_eq!(held, total_unbonding(&s).unwrap());
        }
        assert_eq!(blocks, 6, "16 unbondings at 3 per block");
        assert_eq!(paid_ids, (1..=16).collect::<Vec<u64>>(), "oldest first");
        for d in &delegators {
            assert_eq!(s.balance(d, BOND_DENOM).unwrap(), 1_000_000);
        }
        assert_eq!(s.balance(&module_account(), BOND_DENOM).unwrap(), 0);
    }
}
