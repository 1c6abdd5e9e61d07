//! Ballast restaking: operators and the collateral that gives them power, and the hub's
//! validator set derived from that power.
//!
//! - [`btc`]: the BTC staking library (Babylon-compatible tapscript leaves, taproot trees,
//!   staking, unbonding and slashing transactions, BIP-340 and adaptor signatures). It compiles
//!   without the state machine (`default-features = false`), for the CLI and the daemons.
//!
//! With the `state` feature (the default), the state machine:
//!
//! - [`operator`]: operators (id = BTC x-only key, proof of possession, optional ed25519
//!   consensus key, commission, description, jailing).
//! - [`native`]: native ubal bonds and the bounded unbonding queue.
//! - [`power`]: the live power table, [`adjust_collateral`] (the one entry point of every
//!   collateral change), snapshots at epoch ends, and [`PowerTableRead`].
//! - [`valset`]: the hub's CometBFT validator set and its updates.
//! - [`rewards`]: fees distributed by power, commission, lazy reward indices, withdrawals.
//! - [`delegation`]: BTC delegations.
//! - [`msg`], [`query`], [`genesis`], [`params`], [`events`], [`error`], [`state_key`].
//!
//! # Wiring in the app
//!
//! - Register [`RestakingModule`] after `accounts` (genesis self-bonds move genesis balances)
//!   and after `btclightclient` (BTC delegations read it).
//! - InitChain: after the modules' genesis, [`PowerTableRead::hub_validators`] is the initial
//!   CometBFT validator set (ed25519 keys and powers) to return.
//! - FinalizeBlock: after the modules' end-epoch hooks, return [`take_validator_updates`] as the
//!   block's validator updates (it is empty in blocks that end no epoch).
//! - The epoch numbers passed to end-epoch start at 1 and increase by one.
//!
//! Other modules read restaking through [`PowerTableRead`], never through raw keys.

#![warn(missing_docs)]

pub mod btc;

#[cfg(feature = "state")]
pub mod delegation;
#[cfg(feature = "state")]
pub mod error;
#[cfg(feature = "state")]
pub mod events;
#[cfg(feature = "state")]
pub mod genesis;
#[cfg(feature = "state")]
pub mod module;
#[cfg(feature = "state")]
pub mod msg;
#[cfg(feature = "state")]
pub mod native;
#[cfg(feature = "state")]
pub mod operator;
#[cfg(feature = "state")]
pub mod params;
#[cfg(feature = "state")]
pub mod power;
#[cfg(feature = "state")]
pub mod query;
#[cfg(feature = "state")]
pub mod rewards;
#[cfg(feature = "state")]
pub mod state_key;
#[cfg(feature = "state")]
pub mod valset;

#[cfg(all(test, feature = "state"))]
mod testutil;

#[cfg(feature = "state")]
pub use error::RestakingError;
#[cfg(feature = "state")]
pub use genesis::{genesis_operator, GenesisOperator, GenesisState};
#[cfg(feature = "state")]
pub use module::{end_epoch, EpochEnd, RestakingModule};
#[cfg(feature = "state")]
pub use native::NativeUnbonding;
#[cfg(feature = "state")]
pub use operator::{Description, Operator, OperatorId};
#[cfg(feature = "state")]
pub use params::{BtcStakingParams, Params};
#[cfg(feature = "state")]
pub use power::{
    adjust_collateral, CollateralChange, OperatorPower, PowerChange, PowerSnapshot, PowerTableRead,
};
#[cfg(feature = "state")]
pub use rewards::Position;
#[cfg(feature = "state")]
pub use valset::{take_validator_updates, HubValidator, ValidatorUpdate};

/// Name of the module, its genesis section, its key prefix and its module account.
#[cfg(feature = "state")]
pub const MODULE_NAME: &str = "restaking";

/// The denom bonded natively and paid as rewards.
#[cfg(feature = "state")]
pub const BOND_DENOM: &str = "ubal";

/// The module account that holds bonded ubal and undistributed rewards.
#[cfg(feature = "state")]
pub fn module_account() -> ballast_framework::Address {
    ballast_framework::Address::module(MODULE_NAME)
}
