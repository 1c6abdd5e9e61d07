//! The checkpointing module's part in ABCI 2.0: BLS signatures in the vote extensions of every
//! epoch's last block, and the aggregated raw checkpoint injected at the front of the next
//! epoch's first block. Every decision (which height, which epoch, how much power) is made by
//! `ballast_checkpointing::consensus` from the committed state; this file only adapts it to
//! [`ConsensusHook`].

use crate::hooks::{ConsensusHook, ExtendedVote, VoteContext};
use ballast_checkpointing::consensus;
use ballast_checkpointing::BlsSecretKey;
use ballast_framework::{
    BlockContext, BlockHash, ConsensusAddress, StateRead, StateWrite, TxError,
};
use std::sync::Arc;

/// Kind byte of the checkpoint's vote extension and injected tx.
pub const CHECKPOINT_HOOK_KIND: u8 = 1;

/// The hook. A node without a BLS key extends nothing but still verifies every validator's
/// extension and every proposal.
#[derive(Clone, Default)]
pub struct CheckpointHook {
    key: Option<Arc<BlsSecretKey>>,
}

impl CheckpointHook {
    /// The hook signing with `key` (`None` on a node that does not validate).
    pub fn new(key: Option<Arc<BlsSecretKey>>) -> CheckpointHook {
        CheckpointHook { key }
    }
}

impl std::fmt::Debug for CheckpointHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointHook")
            .field(
                "bls_pubkey",
                &self
                    .key
                    .as_ref()
                    .map(|k| hex::encode(k.public_key().to_bytes())),
            )
            .finish()
    }
}

/// The consensus hooks every Ballast node runs, in kind order.
pub fn consensus_hooks(bls_key: Option<Arc<BlsSecretKey>>) -> Vec<Arc<dyn ConsensusHook>> {
    vec![Arc::new(CheckpointHook::new(bls_key))]
}

impl ConsensusHook for CheckpointHook {
    fn kind(&self) -> u8 {
        CHECKPOINT_HOOK_KIND
    }

    fn extend_vote(&self, state: &dyn StateRead, ctx: &VoteContext) -> Result<Vec<u8>, TxError> {
        Ok(consensus::vote_extension_at(
            state,
            self.key.as_deref(),
            ctx.height,
            &BlockHash(ctx.block_hash),
        )?)
    }

    fn verify_vote_extension(
        &self,
        state: &dyn StateRead,
        ctx: &VoteContext,
        validator: [u8; 20],
        extension: &[u8],
    ) -> Result<(), TxError> {
        Ok(consensus::verify_vote_extension_at(
            state,
            &ConsensusAddress(validator),
            ctx.height,
            &BlockHash(ctx.block_hash),
            extension,
        )?)
    }

    fn prepare(
        &self,
        state: &dyn StateRead,
        ctx: &BlockContext,
        votes: &[ExtendedVote],
    ) -> Result<Option<Vec<u8>>, TxError> {
        // Only precommits for the decided block carry extensions CometBFT verified.
        let extensions: Vec<(ConsensusAddress, &[u8])> = votes
            .iter()
            .filter(|v| v.committed && !v.extension.is_empty())
            .map(|v| (ConsensusAddress(v.validator), v.extension.as_slice()))
            .collect();
        Ok(consensus::proposal_payload_at(
            state,
            ctx.height,
            &extensions,
        )?)
    }

    fn verify(
        &self,
        state: &dyn StateRead,
        ctx: &BlockContext,
        last_commit: &[ExtendedVote],
        payload: Option<&[u8]>,
    ) -> Result<(), TxError> {
        let committed: Vec<ConsensusAddress> = last_commit
            .iter()
            .filter(|v| v.committed)
            .map(|v| ConsensusAddress(v.validator))
            .collect();
        Ok(consensus::check_proposal_payload_at(
            state, ctx.height, &committed, payload,
        )?)
    }

    fn apply(
        &self,
        state: &mut dyn StateWrite,
        ctx: &BlockContext,
        payload: &[u8],
    ) -> Result<(), TxError> {
        consensus::apply_proposal_payload_at(state, ctx.height, payload)?;
        Ok(())
    }
}
