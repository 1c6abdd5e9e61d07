//! [`RestakingModule`]: the hooks and message routing the app drives.
//!
//! - end-block: pays matured native unbondings (bounded per block), then the BTC-delegation
//!   end-block.
//! - end-epoch (`epoch` must be the current epoch): the BTC-delegation end-epoch, the power
//!   snapshot, the distribution of the epoch's fees, and the new hub validator set with its
//!   pending updates ([`crate::take_validator_updates`]).

use crate::msg::{
    MsgBondNative, MsgEditOperator, MsgRegisterOperator, MsgUnbondNative, MsgWithdrawRewards,
};
use crate::rewards::RewardDistribution;
use crate::valset::ValidatorUpdate;
use crate::{
    delegation, native, power, query, rewards, valset, GenesisState, RestakingError, MODULE_NAME,
};
use ballast_framework::{
    decode_any, BlockContext, GenesisError, Module, Msg, StateRead, StateWrite, TxError,
};

/// The restaking module.
#[derive(Debug, Default, Clone, Copy)]
pub struct RestakingModule;

/// What an epoch's end did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochEnd {
    /// The epoch that ended.
    pub epoch: u64,
    /// Total power of its snapshot.
    pub total_power: u64,
    /// The reward distribution.
    pub rewards: RewardDistribution,
    /// The hub set's changes (also stored as pending updates).
    pub validator_updates: Vec<ValidatorUpdate>,
}

/// Ends `epoch` (it must be the current epoch): snapshot, rewards, hub set.
pub fn end_epoch(
    state: &mut dyn StateWrite,
    ctx: &BlockContext,
    epoch: u64,
) -> Result<EpochEnd, TxError> {
    let expected = power::current_epoch(state)?;
    if epoch != expected {
        return Err(RestakingError::EpochMismatch {
            expected,
            found: epoch,
        }
        .into());
    }
    delegation::end_epoch(state, ctx, epoch)?;
    let snapshot = power::snapshot_power(state, epoch)?;
    let rewards = rewards::distribute(state, &snapshot)?;
    let validator_updates = valset::update_set(state, epoch)?;
    power::set_epoch_ended(state, epoch)?;
    Ok(EpochEnd {
        epoch,
        total_power: snapshot.total_power,
        rewards,
        validator_updates,
    })
}

impl Module for RestakingModule {
    fn name(&self) -> &'static str {
        MODULE_NAME
    }

    fn default_genesis(&self) -> serde_json::Value {
        serde_json::to_value(GenesisState::default())
            .expect("the restaking genesis is plain data and always serialises")
    }

    fn init_genesis(
        &self,
        state: &mut dyn StateWrite,
        ctx: &BlockContext,
        genesis: Option<&serde_json::Value>,
    ) -> Result<(), GenesisError> {
        let gs = match genesis {
            Some(v) => GenesisState::from_json(v).map_err(|e| GenesisError::new(MODULE_NAME, e))?,
            None => GenesisState::default(),
        };
        gs.apply(state, ctx.height)
            .map_err(|e| GenesisError::new(MODULE_NAME, crate::error::with_sources(&e)))
    }

    fn end_block(&self, state: &mut dyn StateWrite, ctx: &BlockContext) -> Result<(), TxError> {
        native::complete_matured(state)?;
        delegation::end_block(state, ctx)
    }

    fn end_epoch(
        &self,
        state: &mut dyn StateWrite,
        ctx: &BlockContext,
        epoch: u64,
    ) -> Result<(), TxError> {
        end_epoch(state, ctx, epoch).map(|_| ())
    }

    fn decode_msg(&self, any: &prost_types::Any) -> Option<Result<Box<dyn Msg>, TxError>> {
        decode_any::<MsgRegisterOperator>(any)
            .or_else(|| decode_any::<MsgEditOperator>(any))
            .or_else(|| decode_any::<MsgBondNative>(any))
            .or_else(|| decode_any::<MsgUnbondNative>(any))
            .or_else(|| decode_any::<MsgWithdrawRewards>(any))
            // BTC delegations: their messages are decoded by the delegation module.
            .or_else(|| delegation::decode_msg(any))
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
