//! Writes of the accounts module: account creation, transfers, minting at genesis and fees.
//! Other modules move funds only through these functions.

use crate::query::base_account;
use crate::{
    events, fee_collector, state_key, Account, AccountsError, AccountsRead, Coin, Coins, PubKey,
};
use ballast_framework::{Address, StateReadExt, StateWrite, StateWriteExt};
use ballast_proto::ballast::accounts::v1::Counter;
use cosmrs::proto::cosmos::base::v1beta1::Coin as ProtoCoin;

/// Stores an account record.
pub fn set_account(
    state: &mut (impl StateWrite + ?Sized),
    acc: &Account,
) -> Result<(), AccountsError> {
    state.put_proto(state_key::account(&acc.address), &base_account(acc))?;
    Ok(())
}

/// Creates an account with the next account number. Fails if it exists.
pub fn create_account(
    state: &mut (impl StateWrite + ?Sized),
    addr: &Address,
) -> Result<Account, AccountsError> {
    if state.account(addr)?.is_some() {
        return Err(AccountsError::InvalidGenesis(format!(
            "account {addr} already exists"
        )));
    }
    let next: Counter = state
        .get_proto(state_key::next_account_number())?
        .unwrap_or_default();
    let number = next.value;
    let following = number
        .checked_add(1)
        .ok_or_else(|| AccountsError::InvalidParams("account numbers exhausted".into()))?;
    state.put_proto(
        state_key::next_account_number(),
        &Counter { value: following },
    )?;
    let acc = Account {
        address: *addr,
        account_number: number,
        sequence: 0,
        pubkey: None,
    };
    set_account(state, &acc)?;
    state.emit_event(events::account_created(addr, number));
    Ok(acc)
}

/// The account at `addr`, created if missing.
pub fn get_or_create_account(
    state: &mut (impl StateWrite + ?Sized),
    addr: &Address,
) -> Result<Account, AccountsError> {
    match state.account(addr)? {
        Some(a) => Ok(a),
        None => create_account(state, addr),
    }
}

/// Records the signer's public key (first tx) and bumps its sequence.
pub fn record_signature(
    state: &mut (impl StateWrite + ?Sized),
    acc: &Account,
    pubkey: PubKey,
) -> Result<(), AccountsError> {
    let mut updated = acc.clone();
    updated.pubkey = Some(pubkey);
    updated.sequence = acc.sequence.checked_add(1).ok_or_else(|| {
        AccountsError::InvalidParams(format!("sequence of {} exhausted", acc.address))
    })?;
    set_account(state, &updated)
}

fn write_balance(
    state: &mut (impl StateWrite + ?Sized),
    addr: &Address,
    denom: &str,
    amount: u128,
) -> Result<(), AccountsError> {
    let key = state_key::balance(addr, denom);
    if amount == 0 {
        state.delete(key.into_bytes())?;
    } else {
        state.put_proto(
            key,
            &ProtoCoin {
                denom: denom.to_string(),
                amount: amount.to_string(),
            },
        )?;
    }
    Ok(())
}

/// Subtracts coins from an account; fails without writing if any balance is short.
pub fn sub_coins(
    state: &mut (impl StateWrite + ?Sized),
    addr: &Address,
    coins: &Coins,
) -> Result<(), AccountsError> {
    let mut updates = Vec::new();
    for c in coins.iter() {
        let have = state.balance(addr, &c.denom)?;
        let left = have
            .checked_sub(c.amount)
            .ok_or_else(|| AccountsError::InsufficientFunds {
                address: addr.to_string(),
                denom: c.denom.clone(),
                available: have,
                needed: c.amount,
            })?;
        updates.push((c.denom, left));
    }
    for (denom, left) in updates {
        write_balance(state, addr, &denom, left)?;
    }
    Ok(())
}

/// Adds coins to an account (creating it if needed); fails without writing on overflow.
pub fn add_coins(
    state: &mut (impl StateWrite + ?Sized),
    addr: &Address,
    coins: &Coins,
) -> Result<(), AccountsError> {
    let mut updates = Vec::new();
    for c in coins.iter() {
        let have = state.balance(addr, &c.denom)?;
        let total = have
            .checked_add(c.amount)
            .ok_or_else(|| AccountsError::BalanceOverflow {
                address: addr.to_string(),
                denom: c.denom.clone(),
            })?;
        updates.push((c.denom, total));
    }
    get_or_create_account(state, addr)?;
    for (denom, total) in updates {
        write_balance(state, addr, &denom, total)?;
    }
    Ok(())
}

/// Moves coins between accounts and emits the bank events.
pub fn send(
    state: &mut (impl StateWrite + ?Sized),
    from: &Address,
    to: &Address,
    coins: &Coins,
) -> Result<(), AccountsError> {
    sub_coins(state, from, coins)?;
    add_coins(state, to, coins)?;
    state.emit_event(events::coin_spent(from, coins));
    state.emit_event(events::coin_received(to, coins));
    state.emit_event(events::transfer(from, to, coins));
    Ok(())
}

/// Creates new coins in an account and adds them to the supply (genesis only).
pub fn mint(
    state: &mut (impl StateWrite + ?Sized),
    to: &Address,
    coins: &Coins,
) -> Result<(), AccountsError> {
    let mut supplies = Vec::new();
    for c in coins.iter() {
        let supply = state.supply(&c.denom)?;
        let new_supply = supply
            .checked_add(c.amount)
            .ok_or_else(|| AccountsError::SupplyOverflow(c.denom.clone()))?;
        supplies.push(ProtoCoin {
            denom: c.denom,
            amount: new_supply.to_string(),
        });
    }
    // A balance never exceeds its supply, so once the supply fits the balance does too.
    add_coins(state, to, coins)?;
    for s in supplies {
        state.put_proto(state_key::supply(&s.denom), &s)?;
    }
    Ok(())
}

/// Moves a fee from the payer to the fee collector.
pub fn deduct_fee(
    state: &mut (impl StateWrite + ?Sized),
    payer: &Address,
    fee: &Coin,
) -> Result<(), AccountsError> {
    if fee.amount == 0 {
        return Ok(());
    }
    let coins = Coins::from_proto(&[fee.to_proto()])?;
    sub_coins(state, payer, &coins)?;
    add_coins(state, &fee_collector(), &coins)?;
    state.emit_event(events::fee(payer, &fee.to_string()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_framework::MemState;

    fn coins(s: &[(&str, u128)]) -> Coins {
        let list: Vec<ProtoCoin> = s
            .iter()
            .map(|(d, a)| ProtoCoin {
                denom: d.to_string(),
                amount: a.to_string(),
            })
            .collect();
        Coins::from_proto(&list).unwrap()
    }

    #[test]
    fn send_moves_funds_and_creates_recipient() {
        let mut s = MemState::new();
        let (a, b) = (Address([1; 20]), Address([2; 20]));
        mint(&mut s, &a, &coins(&[("ubal", 100)])).unwrap();
        send(&mut s, &a, &b, &coins(&[("ubal", 40)])).unwrap();
        assert_eq!(s.balance(&a, "ubal").unwrap(), 60);
        assert_eq!(s.balance(&b, "ubal").unwrap(), 40);
        assert_eq!(s.account(&b).unwrap().unwrap().account_number, 1);
        assert_eq!(s.supply("ubal").unwrap(), 100);
        assert!(s
            .events()
            .iter()
            .any(|e| e.kind == "transfer" && e.get("amount") == Some("40ubal")));
    }

    #[test]
    fn short_and_overflowing_transfers_write_nothing() {
        let mut s = MemState::new();
        let (a, b) = (Address([1; 20]), Address([2; 20]));
        mint(&mut s, &a, &coins(&[("ubal", 10), ("uxyz", 5)])).unwrap();
        let before = s.entries().clone();
        let err = send(&mut s, &a, &b, &coins(&[("ubal", 5), ("uxyz", 6)])).unwrap_err();
        assert!(matches!(
            err,
            AccountsError::InsufficientFunds {
                needed: 6,
                available: 5,
                ..
            }
        ));
        assert_eq!(s.entries(), &before);

        mint(&mut s, &b, &coins(&[("ubig", u128::MAX)])).unwrap();
        let before = s.entries().clone();
        assert!(matches!(
            mint(&mut s, &a, &coins(&[("ubig", 1)])),
            Err(AccountsError::SupplyOverflow(_))
        ));
        assert_eq!(s.entries(), &before);
        let mut s2 = MemState::new();
        add_coins(&mut s2, &b, &coins(&[("ubig", u128::MAX)])).unwrap();
        let before = s2.entries().clone();
        assert!(matches!(
            add_coins(&mut s2, &b, &coins(&[("ubig", 1)])),
            Err(AccountsError::BalanceOverflow { .. })
        ));
        assert_eq!(s2.entries(), &before);
    }

    #[test]
    fn zero_balances_are_removed() {
        let mut s = MemState::new();
        let (a, b) = (Address([1; 20]), Address([2; 20]));
        mint(&mut s, &a, &coins(&[("ubal", 10)])).unwrap();
        send(&mut s, &a, &b, &coins(&[("ubal", 10)])).unwrap();
        assert!(s.all_balances(&a).unwrap().is_empty());
    }
}
