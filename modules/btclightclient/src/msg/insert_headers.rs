//! `/ballast.btclightclient.v1.MsgInsertHeaders`: add Bitcoin headers. Open to anyone.

use crate::hooks::HookList;
use crate::{chain, events, BtcLightClientError, UncheckedHeaders};
use ballast_framework::{Address, Event, MsgHandler, StateWrite, TxContext, TxError};
use ballast_proto::ballast::btclightclient::v1 as pb;
use prost::Message;

/// A decoded, statelessly checked header submission.
#[derive(Clone, Debug)]
pub struct MsgInsertHeaders {
    /// Submitter and signer.
    pub signer: Address,
    /// The headers.
    pub headers: UncheckedHeaders,
    /// Listeners run when the tip moves (set by the module when it decodes the message).
    pub(crate) hooks: HookList,
}

impl MsgInsertHeaders {
    /// A message without listeners (the module adds its own when it decodes one).
    pub fn new(signer: Address, headers: UncheckedHeaders) -> Self {
        MsgInsertHeaders {
            signer,
            headers,
            hooks: HookList::default(),
        }
    }

    /// Sets the listeners.
    pub fn with_hooks(mut self, hooks: HookList) -> Self {
        self.hooks = hooks;
        self
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::MsgInsertHeaders {
        pb::MsgInsertHeaders {
            signer: self.signer.to_string(),
            headers: self.headers.to_raw(),
        }
    }
}

impl TryFrom<pb::MsgInsertHeaders> for MsgInsertHeaders {
    type Error = BtcLightClientError;

    /// Validates every field: the signer address, and 1 to
    /// [`chain::HEADERS_PER_MSG_HARD_LIMIT`] headers of exactly 80 bytes, each building on the
    /// one before.
    fn try_from(m: pb::MsgInsertHeaders) -> Result<Self, Self::Error> {
        let signer = m
            .signer
            .parse()
            .map_err(BtcLightClientError::InvalidSigner)?;
        let headers = UncheckedHeaders::from_raw(&m.headers)?;
        Ok(MsgInsertHeaders::new(signer, headers))
    }
}

impl MsgHandler for MsgInsertHeaders {
    const TYPE_URL: &'static str = "/ballast.btclightclient.v1.MsgInsertHeaders";

    /// Decodes and checks the shape: a valid signer, 1 to
    /// [`chain::HEADERS_PER_MSG_HARD_LIMIT`] headers of exactly 80 bytes, each building on the
    /// one before. The params' lower `max_headers_per_msg` is enforced at execution, where the
    /// params can be read.
    fn decode(value: &[u8]) -> Result<Self, TxError> {
        let m = pb::MsgInsertHeaders::decode(value)
            .map_err(|e| BtcLightClientError::Decode(e.to_string()))?;
        Ok(MsgInsertHeaders::try_from(m)?)
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        // Everything stateless was checked when the headers were decoded into
        // `UncheckedHeaders`, which cannot hold anything else.
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.signer]
    }

    fn execute(&self, state: &mut dyn StateWrite, _ctx: &TxContext<'_>) -> Result<(), TxError> {
        let change = chain::insert_headers(state, &self.headers)?;
        state.emit_event(
            Event::new("message")
                .attr("action", Self::TYPE_URL)
                .attr("sender", self.signer)
                .attr("module", crate::MODULE_NAME),
        );
        events::emit_tip_change(state, &change);
        self.hooks.run(state, &change)
    }
}
