//! Events of the accounts module. Names and attributes follow the Cosmos bank module, so that
//! indexers and explorers read them unchanged.

use crate::Coins;
use ballast_framework::{Address, Event};

/// `transfer{recipient, sender, amount}`.
pub fn transfer(from: &Address, to: &Address, amount: &Coins) -> Event {
    Event::new("transfer")
        .attr("recipient", to)
        .attr("sender", from)
        .attr("amount", amount)
}

/// `coin_spent{spender, amount}`.
pub fn coin_spent(spender: &Address, amount: &Coins) -> Event {
    Event::new("coin_spent")
        .attr("spender", spender)
        .attr("amount", amount)
}

/// `coin_received{receiver, amount}`.
pub fn coin_received(receiver: &Address, amount: &Coins) -> Event {
    Event::new("coin_received")
        .attr("receiver", receiver)
        .attr("amount", amount)
}

/// `tx{fee, fee_payer}`.
pub fn fee(payer: &Address, fee: &str) -> Event {
    Event::new("tx").attr("fee", fee).attr("fee_payer", payer)
}

/// `account_created{address, account_number}`.
pub fn account_created(addr: &Address, number: u64) -> Event {
    Event::new("account_created")
        .attr("address", addr)
        .attr("account_number", number)
}
