//! Ballast's checkpointing: every epoch the hub's validators sign the epoch's last block with
//! BLS12-381, the signatures are aggregated into a raw checkpoint, the checkpoint is written to
//! Bitcoin in two OP_RETURN transactions, and it becomes CONFIRMED and FINALIZED as those
//! transactions get k and w blocks deep on the light client's best chain.
//!
//! - [`bls`]: keys and signatures (`blst::min_sig`), proofs of possession.
//! - [`validators`]: BLS key registration and per-epoch validator snapshots (bitmap order).
//! - [`votes`]: vote extensions, aggregation, raw checkpoint verification and sealing.
//! - [`encoding`]: the Bitcoin encoding of a checkpoint and OP_RETURN extraction.
//! - [`spv`]: `MsgInsertBtcSpvProof`, recording a Bitcoin submission.
//! - [`tracking`]: k/w tracking on the light client's tip changes.
//! - [`register`]: the `MsgRegisterBlsKey` message.
//! - [`query`]: the query paths `/ballast.checkpointing.v1.Query/<Method>`.
//!
//! # Wiring in the app
//!
//! - Register [`CheckpointingModule`] after `btclightclient` (it reads the light client's tip
//!   when it stamps lifecycle entries). Its `begin_block` records the hub height (light-client
//!   hooks have no block context); its `end_epoch` opens the epoch's checkpoint as
//!   ACCUMULATING with the block hash from the block context ([`begin_checkpoint`]).
//! - Register [`CheckpointingBtcHooks`] with `BtcLightClientModule::with_hooks`.
//! - At InitChain, after the modules' genesis: [`set_epoch_config`] with `ChainInfo`'s initial
//!   height and epoch length, and [`snapshot_validators`] for epoch 1 with the genesis
//!   validators. When epoch `e` ends: [`snapshot_validators`] for epoch `e + 1`.
//! - The consensus hook: at the last block of epoch `e` ([`EpochConfig::epoch_ending_at`]),
//!   [`extend_vote`] and [`verify_vote_extension`]; at the first block of epoch `e + 1`
//!   ([`EpochConfig::checkpoint_epoch_at`]), [`aggregate`] in PrepareProposal (inject
//!   [`RawCheckpoint::to_bytes`]), [`RawCheckpoint::from_bytes`] then
//!   [`verify_raw_checkpoint`] in ProcessProposal, and [`apply_raw_checkpoint`] in
//!   FinalizeBlock. [`consensus`] wraps each of these in one height-aware call. If the
//!   proposer had less than 2/3 of the power, the checkpoint stays ACCUMULATING.
//!
//! Other modules read through [`CheckpointingRead`], never through raw keys.

#![warn(missing_docs)]

pub mod bitmap;
pub mod bls;
pub mod checkpoint;
pub mod consensus;
pub mod encoding;
pub mod epoch;
pub mod error;
pub mod events;
pub mod genesis;
pub mod params;
pub mod query;
pub mod register;
pub mod spv;
pub mod state_key;
pub mod store;
pub mod tracking;
pub mod validators;
pub mod votes;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use bitmap::ValidatorBitmap;
pub use bls::{BlsPublicKey, BlsSecretKey, BlsSignature};
pub use checkpoint::{
    CheckpointRecord, CheckpointStatus, LifecycleEntry, RawCheckpoint, Submission,
};
pub use encoding::{CheckpointTag, EncodingError};
pub use epoch::EpochConfig;
pub use error::CheckpointingError;
pub use genesis::GenesisState;
pub use params::Params;
pub use register::MsgRegisterBlsKey;
pub use spv::MsgInsertBtcSpvProof;
pub use store::{set_epoch_config, set_hub_height, CheckpointingRead};
pub use tracking::CheckpointingBtcHooks;
pub use validators::{register_bls_key, snapshot_validators, ProvenBlsKey, ValidatorSnapshot};
pub use votes::{
    aggregate, apply_raw_checkpoint, begin_checkpoint, extend_vote, verify_raw_checkpoint,
    verify_vote_extension, VerifiedCheckpoint, VoteExtension,
};

use ballast_framework::{
    decode_any, BlockContext, GenesisError, Module, Msg, StateRead, StateWrite, TxError,
};

/// Name of the module, its genesis section and its key prefix.
pub const MODULE_NAME: &str = "checkpointing";

/// The checkpointing module.
#[derive(Debug, Default, Clone, Copy)]
pub struct CheckpointingModule;

impl Module for CheckpointingModule {
    fn name(&self) -> &'static str {
        MODULE_NAME
    }

    fn default_genesis(&self) -> serde_json::Value {
        serde_json::to_value(GenesisState::default())
            .expect("the checkpointing genesis is plain data and always serialises")
    }

    fn init_genesis(
        &self,
        state: &mut dyn StateWrite,
        _ctx: &BlockContext,
        genesis: Option<&serde_json::Value>,
    ) -> Result<(), GenesisError> {
        let gs = match genesis {
            Some(v) => GenesisState::from_json(v).map_err(|e| GenesisError::new(MODULE_NAME, e))?,
            None => GenesisState::default(),
        };
        gs.apply(state)
            .map_err(|e| GenesisError::new(MODULE_NAME, error::with_sources(&e)))
    }

    fn begin_block(&self, state: &mut dyn StateWrite, ctx: &BlockContext) -> Result<(), TxError> {
        set_hub_height(state, ctx.height)?;
        Ok(())
    }

    fn end_epoch(
        &self,
        state: &mut dyn StateWrite,
        ctx: &BlockContext,
        epoch: u64,
    ) -> Result<(), TxError> {
        // An epoch without a validator snapshot (genesis named no validators) has nobody to
        // sign its checkpoint, so none is opened.
        if state.validator_snapshot(epoch)?.is_some() {
            begin_checkpoint(state, epoch, &ctx.hash, ctx.height)?;
        }
        Ok(())
    }

    fn decode_msg(&self, any: &prost_types::Any) -> Option<Result<Box<dyn Msg>, TxError>> {
        decode_any::<MsgRegisterBlsKey>(any).or_else(|| decode_any::<MsgInsertBtcSpvProof>(any))
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
