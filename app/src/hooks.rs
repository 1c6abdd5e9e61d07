//! Consensus hooks: how a module takes part in vote extensions and injects txs into proposals.
//!
//! Injected txs are not `TxRaw`: they start with [`INJECTED_TX_PREFIX`] (0x00), a byte no
//! protobuf message can start with (field number 0 is invalid), followed by a kind byte that
//! names the hook and the hook's payload. Proposers put them first; ProcessProposal re-derives
//! and checks them and rejects a proposal that carries one anywhere else.

use ballast_framework::{BlockContext, StateRead, StateWrite, TxError};

/// First byte of every injected tx.
pub const INJECTED_TX_PREFIX: u8 = 0x00;

/// Most injected txs a block may start with.
pub const MAX_INJECTED_TXS: usize = 2;

/// One vote in the last commit, with its extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtendedVote {
    /// Validator address.
    pub validator: [u8; 20],
    /// Voting power.
    pub power: i64,
    /// The extension bytes.
    pub extension: Vec<u8>,
    /// Whether the validator signed the block (BlockIDFlagCommit).
    pub committed: bool,
}

/// What a hook may use to build its vote extension.
#[derive(Clone, Debug)]
pub struct VoteContext {
    /// Height being voted on.
    pub height: u64,
    /// Hash of the block being voted on.
    pub block_hash: [u8; 32],
}

/// A module's part in ABCI 2.0's proposal and vote-extension flow. Every method has a default
/// that does nothing, so a hook implements only what it needs.
pub trait ConsensusHook: Send + Sync {
    /// The kind byte of this hook's injected txs (unique per hook).
    fn kind(&self) -> u8;

    /// This validator's extension for a vote at `ctx.height` (empty: none).
    fn extend_vote(&self, _state: &dyn StateRead, _ctx: &VoteContext) -> Result<Vec<u8>, TxError> {
        Ok(Vec::new())
    }

    /// Checks another validator's extension. `Err` rejects the vote.
    fn verify_vote_extension(
        &self,
        _state: &dyn StateRead,
        _ctx: &VoteContext,
        _validator: [u8; 20],
        extension: &[u8],
    ) -> Result<(), TxError> {
        if extension.is_empty() {
            Ok(())
        } else {
            Err(TxError::new("hooks", 1, "unexpected vote extension"))
        }
    }

    /// The payload to inject at the front of the proposal for `ctx.height`, built from the
    /// extensions of the last commit.
    fn prepare(
        &self,
        _state: &dyn StateRead,
        _ctx: &BlockContext,
        _votes: &[ExtendedVote],
    ) -> Result<Option<Vec<u8>>, TxError> {
        Ok(None)
    }

    /// Checks a proposal's injected payload (or its absence). `last_commit` is the proposal's
    /// commit of the previous height (CometBFT has checked its signatures; the extensions are
    /// not part of it, so every `extension` is empty). `Err` rejects the proposal.
    fn verify(
        &self,
        _state: &dyn StateRead,
        _ctx: &BlockContext,
        _last_commit: &[ExtendedVote],
        payload: Option<&[u8]>,
    ) -> Result<(), TxError> {
        match payload {
            None => Ok(()),
            Some(_) => Err(TxError::new("hooks", 2, "unexpected injected tx")),
        }
    }

    /// Executes the injected payload in FinalizeBlock, before user txs.
    fn apply(
        &self,
        _state: &mut dyn StateWrite,
        _ctx: &BlockContext,
        _payload: &[u8],
    ) -> Result<(), TxError> {
        Ok(())
    }
}

/// Frames an injected payload.
pub fn frame_injected(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 2);
    out.push(INJECTED_TX_PREFIX);
    out.push(kind);
    out.extend_from_slice(payload);
    out
}

/// Splits an injected tx into (kind, payload); `None` for a user tx.
pub fn parse_injected(tx: &[u8]) -> Option<(u8, &[u8])> {
    match tx {
        [INJECTED_TX_PREFIX, kind, rest @ ..] => Some((*kind, rest)),
        [INJECTED_TX_PREFIX] => Some((0, &[])),
        _ => None,
    }
}
