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
//! # Wiring in the app
//!
//! Register [`ConsumersModule`] after `restaking` (it reads the power snapshot restaking takes in
//! its end-epoch and pays through restaking's rewards).

#![warn(missing_docs)]

pub mod read;
pub mod state_key;

/// Name (and store prefix, codespace) of the module.
pub const MODULE_NAME: &str = "consumers";

/// The account holding every consumer's lease.
pub fn module_account() -> ballast_framework::Address {
    ballast_framework::Address::module(MODULE_NAME)
}
