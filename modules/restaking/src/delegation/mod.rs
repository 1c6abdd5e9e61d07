//! BTC delegations: placeholder until the BTC-delegation module lands here. It keeps the four
//! hooks [`crate::RestakingModule`] calls; power changes go through
//! [`crate::adjust_collateral`] with [`crate::CollateralChange::AddBtc`] / `SubBtc`.

use ballast_framework::{BlockContext, Msg, StateRead, StateWrite, TxError};

/// Decodes `any` if it is a BTC-delegation message (`None`: not one of them).
pub fn decode_msg(_any: &prost_types::Any) -> Option<Result<Box<dyn Msg>, TxError>> {
    None
}

/// Answers `/ballast.restaking.v1.Query/<method>` for the BTC-delegation methods
/// (`None`: not one of them).
pub fn query(
    _state: &dyn StateRead,
    _method: &str,
    _data: &[u8],
) -> Option<Result<Vec<u8>, TxError>> {
    None
}

/// Runs in the restaking end-block, after the native unbonding queue.
pub fn end_block(_state: &mut dyn StateWrite, _ctx: &BlockContext) -> Result<(), TxError> {
    Ok(())
}

/// Runs first in the restaking end-epoch, before the power snapshot.
pub fn end_epoch(
    _state: &mut dyn StateWrite,
    _ctx: &BlockContext,
    _epoch: u64,
) -> Result<(), TxError> {
    Ok(())
}
