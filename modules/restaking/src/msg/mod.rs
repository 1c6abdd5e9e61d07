//! Messages of the restaking state machine, one file each. Decoding checks every field
//! statelessly (addresses, keys, the proof of possession, amounts, decimals, lengths); execution
//! checks against state and writes.

pub mod bond;
pub mod edit_operator;
pub mod register_operator;
pub mod withdraw_rewards;

pub use bond::{MsgBondNative, MsgUnbondNative};
pub use edit_operator::MsgEditOperator;
pub use register_operator::MsgRegisterOperator;
pub use withdraw_rewards::MsgWithdrawRewards;

use crate::RestakingError;
use ballast_framework::{Address, Event};

/// Decodes the `Any` value bytes as `M`.
pub(crate) fn decode_proto<M: prost::Message + Default>(value: &[u8]) -> Result<M, RestakingError> {
    M::decode(value).map_err(|e| RestakingError::Decode(e.to_string()))
}

/// Parses a bech32 account field.
pub(crate) fn parse_address(field: &'static str, s: &str) -> Result<Address, RestakingError> {
    s.parse()
        .map_err(|source| RestakingError::InvalidAddress { field, source })
}

/// The Cosmos `message{action, sender, module}` event.
pub(crate) fn message_event(action: &str, sender: &Address) -> Event {
    Event::new("message")
        .attr("action", action)
        .attr("sender", sender)
        .attr("module", crate::MODULE_NAME)
}
