//! The BTC staking library: everything about Bitcoin scripts and transactions, with no state.

pub mod adaptor;
pub mod error;
pub mod params;
pub mod scripts;
pub mod sign;
pub mod staking_tx;
pub mod txs;
