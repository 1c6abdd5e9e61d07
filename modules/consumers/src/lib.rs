//! Ballast consumers: other chains lease the hub's restaked security.
//!
//! - A consumer registers (`MsgRegisterConsumer`), funds a lease (`MsgFundLease`) and is
//!   REGISTERED → ACTIVE (lease funded and `min_operators` operators with power) → STOPPED
//!   (lease ran out, or `MsgRemoveConsumer`).
//! - Operators opt in with an ed25519 consumer key and an allocation in basis points of their
//!   power (`MsgOptIn`, `MsgOptOut`). Changes take effect at the end of the epoch they are sent
//!   in; a reduction stays slashable for `deallocation_delay_epochs`. Isolated consumers never
//!   share stake; shared ones reuse it up to `max_reuse_ratio`.
//! - At each epoch end every live consumer gets its validator set (allocation × operator power
//!   from restaking's snapshot, top `max_operators`), a `ValidatorSetUpdate` when it changed
//!   (strictly increasing `update_id`), a set commitment under [`state_key::set_hash`] that a
//!   consumer chain proves with ICS-23, and its lease drawn and paid through restaking's reward
//!   index. The work is spread over blocks: at most `max_consumers_per_block` consumers per
//!   block.
//!
//! Modules:
//! - [`consumer`]: ids, terms, statuses and records; [`opt_in`]: keys, allocations, pending
//!   changes, deallocation windows; [`allocation`]: the isolated and shared caps.
//! - [`epoch`]: the epoch-end run and the processing of one consumer; [`valset`]: the set, its
//!   differences and stored updates; [`hash`]: the CometBFT validator-set hash; [`lease`]:
//!   funding, fee draws and refunds.
//! - [`msg`], [`query`], [`genesis`], [`params`], [`events`], [`error`], [`state_key`], and
//!   [`read`] (plain reads for the gRPC service, and [`ConsumersRead`] for other modules).
//!
//! # Wiring in the app
//!
//! Register [`ConsumersModule`] after `restaking` (it reads the power snapshot restaking takes in
//! its end-epoch and pays through restaking's rewards).

#![warn(missing_docs)]

pub mod allocation;
pub mod consumer;
pub mod epoch;
pub mod error;
pub mod events;
pub mod genesis;
pub mod hash;
pub mod lease;
pub mod module;
pub mod msg;
pub mod opt_in;
pub mod params;
pub mod query;
pub mod read;
pub mod state_key;
pub mod valset;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use consumer::{AllocationMode, Consumer, ConsumerId, Status, StopReason, Terms};
pub use error::ConsumersError;
pub use genesis::GenesisState;
pub use module::ConsumersModule;
pub use opt_in::{ConsumerKey, OptIn};
pub use params::Params;
pub use read::ConsumersRead;
pub use valset::ConsumerValidator;

/// Name (and store prefix, codespace) of the module.
pub const MODULE_NAME: &str = "consumers";

/// The account holding every consumer's lease.
pub fn module_account() -> ballast_framework::Address {
    ballast_framework::Address::module(MODULE_NAME)
}
