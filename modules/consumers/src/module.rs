//! [`ConsumersModule`]: the hooks and message routing the app drives.
//!
//! - end-block: continues the epoch-end run in progress ([`crate::epoch::end_block`]).
//! - end-epoch: starts the run for the ended epoch, or queues it behind the run in progress
//!   ([`crate::epoch::end_epoch`]). It must run after restaking's end-epoch, which takes the
//!   power snapshot the run reads.

use crate::error::with_sources;
use crate::msg::{
    MsgFundLease, MsgOptIn, MsgOptOut, MsgRegisterConsumer, MsgRemoveConsumer, MsgUpdateConsumer,
};
use crate::{epoch, query, GenesisState, MODULE_NAME};
use ballast_framework::{
    decode_any, BlockContext, GenesisError, Module, Msg, StateRead, StateWrite, TxError,
};

/// The consumers module.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConsumersModule;

impl Module for ConsumersModule {
    fn name(&self) -> &'static str {
        MODULE_NAME
    }

    fn default_genesis(&self) -> serde_json::Value {
        serde_json::to_value(GenesisState::default())
            .expect("the consumers genesis is plain data and always serialises")
    }

    fn init_genesis(
        &self,
        state: &mut dyn StateWrite,
        _ctx: &BlockContext,
        genesis: Option<&serde_json::Value>,
    ) -> Result<(), GenesisError> {
        let gs = match genesis {
            Some(v) => GenesisState::from_json(v)
                .map_err(|e| GenesisError::new(MODULE_NAME, with_sources(&e)))?,
            None => GenesisState::default(),
        };
        gs.apply(state)
            .map_err(|e| GenesisError::new(MODULE_NAME, with_sources(&e)))
    }

    fn end_block(&self, state: &mut dyn StateWrite, ctx: &BlockContext) -> Result<(), TxError> {
        epoch::end_block(state, ctx)?;
        Ok(())
    }

    fn end_epoch(
        &self,
        state: &mut dyn StateWrite,
        ctx: &BlockContext,
        epoch: u64,
    ) -> Result<(), TxError> {
        epoch::end_epoch(state, ctx, epoch)?;
        Ok(())
    }

    fn decode_msg(&self, any: &prost_types::Any) -> Option<Result<Box<dyn Msg>, TxError>> {
        decode_any::<MsgRegisterConsumer>(any)
            .or_else(|| decode_any::<MsgUpdateConsumer>(any))
            .or_else(|| decode_any::<MsgFundLease>(any))
            .or_else(|| decode_any::<MsgRemoveConsumer>(any))
            .or_else(|| decode_any::<MsgOptIn>(any))
            .or_else(|| decode_any::<MsgOptOut>(any))
    }

    fn query(
        &self,
        state: &dyn StateRead,
        path: &str,
        data: &[u8],
    ) -> Option<Result<Vec<u8>, TxError>> {
        query::route(state, path, data)
    }
}
