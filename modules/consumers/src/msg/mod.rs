//! Messages of the consumers state machine, one file each. Decoding checks every field that
//! needs no state (addresses, the consumer id, keys, amounts, allocations, formats); execution
//! checks against state (params, existence, ownership, status, caps, key reuse) and writes.

pub mod fund_lease;
pub mod opt_in;
pub mod opt_out;
pub mod register_consumer;
pub mod remove_consumer;
pub mod update_consumer;

pub use fund_lease::MsgFundLease;
pub use opt_in::MsgOptIn;
pub use opt_out::MsgOptOut;
pub use register_consumer::MsgRegisterConsumer;
pub use remove_consumer::MsgRemoveConsumer;
pub use update_consumer::MsgUpdateConsumer;

use crate::ConsumersError;
use ballast_framework::{Address, Event, StateRead};
use ballast_restaking::{OperatorId, PowerTableRead};

/// Decodes the `Any` value bytes as `M`.
pub(crate) fn decode_proto<M: prost::Message + Default>(value: &[u8]) -> Result<M, ConsumersError> {
    M::decode(value).map_err(|e| ConsumersError::Decode(e.to_string()))
}

/// Parses a bech32 account field.
pub(crate) fn parse_address(field: &'static str, s: &str) -> Result<Address, ConsumersError> {
    s.parse()
        .map_err(|source| ConsumersError::InvalidAddress { field, source })
}

/// The Cosmos `message{action, sender, module}` event.
pub(crate) fn message_event(action: &str, sender: &Address) -> Event {
    Event::new("message")
        .attr("action", action)
        .attr("sender", sender)
        .attr("module", crate::MODULE_NAME)
}

/// Checks that `operator` is registered in restaking and owned by `sender`.
pub(crate) fn require_operator_owner<S: StateRead + ?Sized>(
    state: &S,
    operator: &OperatorId,
    sender: &Address,
) -> Result<(), ConsumersError> {
    let op = state
        .operator(operator)?
        .ok_or_else(|| ConsumersError::UnknownOperator(operator.to_string()))?;
    if op.owner != *sender {
        return Err(ConsumersError::NotOperatorOwner {
            operator: operator.to_string(),
            owner: op.owner.to_string(),
            sender: sender.to_string(),
        });
    }
    Ok(())
}
