//! The BTC staking library: everything about Bitcoin scripts and transactions, with no state.
