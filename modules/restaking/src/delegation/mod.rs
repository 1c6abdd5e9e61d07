//! BTC delegations: self-custodial Bitcoin stake, locked in Babylon-compatible taproot outputs
//! and delegated to an operator (PROTOCOL.md, "BTC staking" and "Delegation lifecycle").
//!
//! - Messages, one file each: [`create`] (`MsgCreateBtcDelegation`), [`covenant`]
//!   (`MsgAddCovenantSigs`), [`inclusion`] (`MsgAddBtcInclusionProof`, and the proof checks),
//!   [`unbond`] (`MsgBtcUndelegate`, `MsgReportBtcSpend`).
//! - [`lifecycle`]: every status change, with power through [`crate::adjust_collateral`]
//!   (`AddBtc` / `SubBtc`) and the time queue drained in the end-block.
//! - [`store`] ([`BtcDelegationRead`] for readers), [`state_key`], [`types`], [`query`],
//!   [`events`], [`error`] (codes 50 to 99, and the BTC library's codes passed through).
//!
//! The module ([`crate::RestakingModule`]) calls the four hooks below.

pub mod covenant;
pub mod create;
pub mod error;
pub mod events;
pub mod inclusion;
pub mod lifecycle;
pub mod query;
pub mod state_key;
pub mod store;
pub mod types;
pub mod unbond;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use covenant::MsgAddCovenantSigs;
pub use create::MsgCreateBtcDelegation;
pub use error::BtcDelegationError;
pub use inclusion::MsgAddBtcInclusionProof;
pub use lifecycle::{mark_slashed, Transition};
pub use store::BtcDelegationRead;
pub use types::{BtcDelegation, CovenantSigs, DelegationStatus, Inclusion, StakingTxid};
pub use unbond::{MsgBtcUndelegate, MsgReportBtcSpend};

use ballast_framework::{decode_any, Address, BlockContext, Msg, StateRead, StateWrite, TxError};

/// Decodes `any` if it is a BTC-delegation message (`None`: not one of them).
pub fn decode_msg(any: &prost_types::Any) -> Option<Result<Box<dyn Msg>, TxError>> {
    decode_any::<MsgCreateBtcDelegation>(any)
        .or_else(|| decode_any::<MsgAddCovenantSigs>(any))
        .or_else(|| decode_any::<MsgAddBtcInclusionProof>(any))
        .or_else(|| decode_any::<MsgBtcUndelegate>(any))
        .or_else(|| decode_any::<MsgReportBtcSpend>(any))
}

/// Answers `/ballast.restaking.v1.Query/<method>` for the BTC-delegation methods
/// (`None`: not one of them).
pub fn query(state: &dyn StateRead, method: &str, data: &[u8]) -> Option<Result<Vec<u8>, TxError>> {
    query::route(state, method, data)
}

/// Runs in the restaking end-block, after the native unbonding queue: the time-driven
/// transitions (EXPIRED, UNBONDED), at most `max_btc_transitions_per_block` of them.
pub fn end_block(state: &mut dyn StateWrite, ctx: &BlockContext) -> Result<(), TxError> {
    lifecycle::end_block(state, ctx.height)?;
    Ok(())
}

/// Runs first in the restaking end-epoch, before the power snapshot. Nothing to do: every
/// delegation leaves the live power table when it stops being ACTIVE, so the snapshot taken
/// right after already excludes it.
pub fn end_epoch(
    _state: &mut dyn StateWrite,
    _ctx: &BlockContext,
    _epoch: u64,
) -> Result<(), TxError> {
    Ok(())
}

/// Decodes a message's proto bytes.
pub(crate) fn decode_proto<M: prost::Message + Default>(
    value: &[u8],
) -> Result<M, BtcDelegationError> {
    M::decode(value).map_err(|e| BtcDelegationError::Decode(e.to_string()))
}

/// Parses a bech32 account field.
pub(crate) fn parse_address(field: &'static str, s: &str) -> Result<Address, BtcDelegationError> {
    s.parse()
        .map_err(|source| BtcDelegationError::InvalidAddress { field, source })
}
