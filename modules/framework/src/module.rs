//! The module contract.

use crate::{Address, BlockContext, StateRead, StateWrite, TxContext, TxError};
use std::fmt::Debug;

/// A genesis section that could not be applied.
#[derive(Debug, thiserror::Error)]
#[error("genesis of module {module}: {reason}")]
pub struct GenesisError {
    /// The module.
    pub module: &'static str,
    /// What was wrong.
    pub reason: String,
}

impl GenesisError {
    /// A new error for `module`.
    pub fn new(module: &'static str, reason: impl Into<String>) -> Self {
        GenesisError {
            module,
            reason: reason.into(),
        }
    }
}

/// A message type and its handler.
///
/// The pipeline decodes the `Any`, runs [`MsgHandler::check_stateless`] (in CheckTx and again in
/// FinalizeBlock), checks that [`MsgHandler::signers`] signed the tx, and then runs
/// [`MsgHandler::execute`] on the tx's overlay. Check and execute see the same state.
pub trait MsgHandler: Sized + Debug + Send + Sync + 'static {
    /// The `Any` type URL, such as `/cosmos.bank.v1beta1.MsgSend`.
    const TYPE_URL: &'static str;

    /// Parses the `Any` value bytes into the domain message, validating every field.
    fn decode(value: &[u8]) -> Result<Self, TxError>;

    /// Checks that need no state.
    fn check_stateless(&self) -> Result<(), TxError>;

    /// The accounts that must sign.
    fn signers(&self) -> Vec<Address>;

    /// Executes the message.
    fn execute(&self, state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), TxError>;
}

/// Object-safe form of a decoded message.
pub trait Msg: Debug + Send + Sync {
    /// The type URL.
    fn type_url(&self) -> &'static str;
    /// See [`MsgHandler::check_stateless`].
    fn check_stateless(&self) -> Result<(), TxError>;
    /// See [`MsgHandler::signers`].
    fn signers(&self) -> Vec<Address>;
    /// See [`MsgHandler::execute`].
    fn execute(&self, state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), TxError>;
}

impl<T: MsgHandler> Msg for T {
    fn type_url(&self) -> &'static str {
        T::TYPE_URL
    }
    fn check_stateless(&self) -> Result<(), TxError> {
        MsgHandler::check_stateless(self)
    }
    fn signers(&self) -> Vec<Address> {
        MsgHandler::signers(self)
    }
    fn execute(&self, state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), TxError> {
        MsgHandler::execute(self, state, ctx)
    }
}

/// Decodes an `Any` as `T` when the type URL is `T`'s; `None` when it is another type.
pub fn decode_any<T: MsgHandler>(any: &prost_types::Any) -> Option<Result<Box<dyn Msg>, TxError>> {
    if any.type_url != T::TYPE_URL {
        return None;
    }
    Some(T::decode(&any.value).map(|m| Box::new(m) as Box<dyn Msg>))
}

/// A Ballast module: its hooks and its messages. Modules are plain, synchronous and
/// deterministic; the app calls them in one fixed order.
pub trait Module: Send + Sync {
    /// The module's name, which is also its genesis section and its store-key prefix.
    fn name(&self) -> &'static str;

    /// The module's genesis section with default params and no records, as `ballastd init`
    /// writes it into `genesis.json`.
    fn default_genesis(&self) -> serde_json::Value;

    /// Applies the module's genesis section (`None` when the genesis file has none: defaults).
    fn init_genesis(
        &self,
        state: &mut dyn StateWrite,
        ctx: &BlockContext,
        genesis: Option<&serde_json::Value>,
    ) -> Result<(), GenesisError>;

    /// Runs before the block's txs.
    fn begin_block(&self, _state: &mut dyn StateWrite, _ctx: &BlockContext) -> Result<(), TxError> {
        Ok(())
    }

    /// Runs after the block's txs.
    fn end_block(&self, _state: &mut dyn StateWrite, _ctx: &BlockContext) -> Result<(), TxError> {
        Ok(())
    }

    /// Runs at the last block of an epoch, after every module's end-block.
    fn end_epoch(
        &self,
        _state: &mut dyn StateWrite,
        _ctx: &BlockContext,
        _epoch: u64,
    ) -> Result<(), TxError> {
        Ok(())
    }

    /// Decodes `any` if it is one of this module's messages.
    fn decode_msg(&self, any: &prost_types::Any) -> Option<Result<Box<dyn Msg>, TxError>>;

    /// Answers a query on `path` (for example `/ballast.accounts.v1.Query/Params`), or `None` if
    /// the path is not this module's.
    fn query(
        &self,
        _state: &dyn StateRead,
        _path: &str,
        _data: &[u8],
    ) -> Option<Result<Vec<u8>, TxError>> {
        None
    }
}
