//! Ballast restaking: operators and the collateral that gives them power, and the hub's
//! validator set derived from that power.
//!
//! - [`btc`]: the BTC staking library (Babylon-compatible tapscript leaves, taproot trees,
//!   staking, unbonding and slashing transactions, BIP-340 and adaptor signatures). It compiles
//!   without the state machine (`default-features = false`), for the CLI and the daemons.
//!
//! With the `state` feature (the default), the state machine: operators, native bonds, BTC
//! delegations and their lifecycle, the power table, the hub validator set and rewards.

#![warn(missing_docs)]

pub mod btc;
