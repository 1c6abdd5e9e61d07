//! Errors of the checkpointing module.
//!
//! Codes in the `checkpointing` codespace are registered here once and never renumbered or
//! reused:
//!
//! | code | error |
//! |---|---|
//! | 2 | [`CheckpointingError::InvalidParams`] |
//! | 3 | [`CheckpointingError::InvalidGenesis`] |
//! | 4 | [`CheckpointingError::InvalidEpochConfig`] |
//! | 5 | [`CheckpointingError::InvalidValidatorAddress`]: not 20 bytes / 40 hex digits |
//! | 6 | [`CheckpointingError::InvalidBlsKey`]: not a valid G2 subgroup point |
//! | 7 | [`CheckpointingError::InvalidProofOfPossession`] |
//! | 8 | [`CheckpointingError::BlsKeyAlreadyRegistered`]: the validator has a key |
//! | 9 | [`CheckpointingError::BlsKeyInUse`]: another validator has this key |
//! | 10 | [`CheckpointingError::InvalidConsensusKey`]: bad ed25519 key or wrong address |
//! | 11 | [`CheckpointingError::InvalidConsensusSignature`] |
//! | 12 | [`CheckpointingError::InvalidSnapshot`]: empty, too large, duplicates, zero power |
//! | 13 | [`CheckpointingError::SnapshotExists`] |
//! | 14 | [`CheckpointingError::SnapshotNotFound`] |
//! | 15 | [`CheckpointingError::MissingVoteExtension`] |
//! | 16 | [`CheckpointingError::MalformedVoteExtension`] |
//! | 17 | [`CheckpointingError::VoteExtensionEpochMismatch`] |
//! | 18 | [`CheckpointingError::VoteExtensionHashMismatch`] |
//! | 19 | [`CheckpointingError::UnknownValidator`]: not in the epoch's snapshot |
//! | 20 | [`CheckpointingError::NoBlsKey`]: in the snapshot without a BLS key |
//! | 21 | [`CheckpointingError::InvalidSignature`] |
//! | 22 | [`CheckpointingError::InsufficientPower`]: 2/3 not exceeded |
//! | 23 | [`CheckpointingError::MalformedCheckpoint`] |
//! | 24 | [`CheckpointingError::BitmapOutOfRange`] |
//! | 25 | [`CheckpointingError::InvalidAggregateSignature`] |
//! | 26 | [`CheckpointingError::CheckpointNotFound`] |
//! | 27 | [`CheckpointingError::CheckpointExists`] |
//! | 28 | [`CheckpointingError::BlockHashMismatch`]: not the hash of the epoch's last block |
//! | 29 | [`CheckpointingError::AlreadySealed`] |
//! | 30 | [`CheckpointingError::ProofCount`]: not exactly two SPV proofs |
//! | 31 | [`CheckpointingError::MalformedProof`] |
//! | 32 | [`CheckpointingError::Encoding`]: OP_RETURN shape or part bytes |
//! | 33 | [`CheckpointingError::BtcProof`]: the light client rejected an inclusion proof |
//! | 34 | [`CheckpointingError::NotChained`]: tx of part 1 does not spend tx of part 0 |
//! | 35 | [`CheckpointingError::NotSealed`] |
//! | 36 | [`CheckpointingError::CheckpointMismatch`]: Bitcoin data differs from the sealed checkpoint |
//! | 37 | [`CheckpointingError::AlreadyFinalized`] |
//! | 38 | [`CheckpointingError::DuplicateSubmission`] |
//! | 39 | [`CheckpointingError::SubmissionNotBetter`] |
//! | 40 | [`CheckpointingError::DeepReorg`]: fatal, the chain halts |
//! | 41 | [`CheckpointingError::InvalidQuery`] |
//! | 42 | [`CheckpointingError::CheckpointOmitted`]: a proposal lacks a checkpoint its proposer could build |
//!
//! Failures of the standard kinds use the `sdk` codes wallets know: an undecodable message is
//! `sdk/2`, a bad signer address `sdk/7`, out of gas `sdk/11`, and state failures are fatal
//! (`sdk/111222`).

use crate::bls::BlsError;
use crate::checkpoint::CheckpointStatus;
use crate::encoding::EncodingError;
use ballast_btclightclient::BtcLightClientError;
use ballast_framework::{sdk, AddressError, ErrorCode, StateError};

/// Codespace of the checkpointing module.
pub const CODESPACE: &str = "checkpointing";

/// Why a checkpointing operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointingError {
    /// A message does not decode.
    #[error("message does not decode: {0}")]
    Decode(String),
    /// The signer address does not parse.
    #[error("invalid signer address")]
    InvalidSigner(#[source] AddressError),
    /// Params are invalid.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// The genesis section is invalid.
    #[error("invalid genesis: {0}")]
    InvalidGenesis(String),
    /// The epoch configuration is invalid or missing.
    #[error("invalid epoch config: {0}")]
    InvalidEpochConfig(String),
    /// A validator address is not 20 bytes.
    #[error("invalid validator address {input:?}: expected 20 bytes (40 hex digits)")]
    InvalidValidatorAddress {
        /// What was given (hex for bytes).
        input: String,
    },
    /// A BLS public key is malformed.
    #[error("invalid bls public key")]
    InvalidBlsKey(#[source] BlsError),
    /// A proof of possession is malformed or does not verify.
    #[error("invalid proof of possession for bls key {bls_pubkey}: a signature over the key under BLS_POP_BLS12381G1_XMD:SHA-256_SSWU_RO_POP_ is expected")]
    InvalidProofOfPossession {
        /// The key, hex.
        bls_pubkey: String,
        /// Why.
        #[source]
        source: BlsError,
    },
    /// The validator already has a key; keys are set once.
    #[error("validator {validator} already has bls key {existing}; a key is registered once and cannot be replaced")]
    BlsKeyAlreadyRegistered {
        /// The validator, hex.
        validator: String,
        /// Its key, hex.
        existing: String,
    },
    /// Another validator registered this key.
    #[error("bls key {bls_pubkey} is already registered to validator {owner}; generate a new key for validator {validator}")]
    BlsKeyInUse {
        /// The key, hex.
        bls_pubkey: String,
        /// Its owner, hex.
        owner: String,
        /// The validator asking, hex.
        validator: String,
    },
    /// The consensus key is malformed or is not the validator's.
    #[error("invalid consensus key: {0}")]
    InvalidConsensusKey(String),
    /// The consensus key did not sign this registration.
    #[error("consensus signature of validator {validator} does not verify over the registration sign bytes on chain {chain_id:?}")]
    InvalidConsensusSignature {
        /// The validator, hex.
        validator: String,
        /// The chain id signed over.
        chain_id: String,
    },
    /// A validator set cannot be snapshotted.
    #[error("invalid validator snapshot for epoch {epoch}: {reason}")]
    InvalidSnapshot {
        /// The epoch.
        epoch: u64,
        /// What is wrong.
        reason: String,
    },
    /// The epoch already has a snapshot.
    #[error("epoch {epoch} already has a validator snapshot; snapshots are written once")]
    SnapshotExists {
        /// The epoch.
        epoch: u64,
    },
    /// The epoch has no snapshot.
    #[error("epoch {epoch} has no validator snapshot; the app writes it when the epoch before ends (epoch 1 at genesis)")]
    SnapshotNotFound {
        /// The epoch.
        epoch: u64,
    },
    /// A validator sent no extension where a BLS signature is required.
    #[error("missing vote extension: the last block of epoch {epoch} needs a bls signature from validator {validator}")]
    MissingVoteExtension {
        /// The epoch.
        epoch: u64,
        /// The validator, hex.
        validator: String,
    },
    /// The extension bytes do not decode.
    #[error("malformed vote extension: {0}")]
    MalformedVoteExtension(String),
    /// The extension signs another epoch.
    #[error("vote extension signs epoch {found}, expected epoch {expected}")]
    VoteExtensionEpochMismatch {
        /// The epoch that ends at the voted height.
        expected: u64,
        /// The epoch in the extension.
        found: u64,
    },
    /// The extension signs another block.
    #[error("vote extension signs block {found}, expected the voted block {expected}")]
    VoteExtensionHashMismatch {
        /// The voted block, hex.
        expected: String,
        /// The block in the extension, hex.
        found: String,
    },
    /// The validator is not in the epoch's snapshot.
    #[error("validator {validator} is not in the validator snapshot of epoch {epoch}")]
    UnknownValidator {
        /// The epoch.
        epoch: u64,
        /// The validator, hex.
        validator: String,
    },
    /// The validator has no BLS key in the epoch's snapshot.
    #[error("validator {validator} had no bls key when epoch {epoch}'s snapshot was taken; register one with MsgRegisterBlsKey for later epochs")]
    NoBlsKey {
        /// The epoch.
        epoch: u64,
        /// The validator, hex.
        validator: String,
    },
    /// A single signature is malformed or does not verify.
    #[error("bls signature of validator {validator} for epoch {epoch}")]
    InvalidSignature {
        /// The epoch.
        epoch: u64,
        /// The validator, hex.
        validator: String,
        /// Why.
        #[source]
        source: BlsError,
    },
    /// The signers do not carry more than 2/3 of the epoch's power.
    #[error("signers of epoch {epoch} carry power {signed} of {total}; more than 2/3 ({needed} or more) is needed")]
    InsufficientPower {
        /// The epoch.
        epoch: u64,
        /// Power that signed.
        signed: u64,
        /// The epoch's total power.
        total: u64,
        /// Least power that exceeds 2/3.
        needed: u64,
    },
    /// A raw checkpoint's bytes are malformed.
    #[error("malformed raw checkpoint: {0}")]
    MalformedCheckpoint(String),
    /// The bitmap names a position past the snapshot.
    #[error("bitmap of epoch {epoch} marks position {position}, but the snapshot has {validators} validators")]
    BitmapOutOfRange {
        /// The epoch.
        epoch: u64,
        /// The highest marked position.
        position: usize,
        /// Validators in the snapshot.
        validators: usize,
    },
    /// The aggregate signature does not verify against the bitmap's keys.
    #[error("aggregate signature of epoch {epoch} does not verify against the bls keys of the {signers} validators in its bitmap")]
    InvalidAggregateSignature {
        /// The epoch.
        epoch: u64,
        /// Validators in the bitmap.
        signers: usize,
    },
    /// No checkpoint for this epoch.
    #[error("no checkpoint for epoch {epoch}: {hint}")]
    CheckpointNotFound {
        /// The epoch.
        epoch: u64,
        /// How it comes to exist.
        hint: &'static str,
    },
    /// The epoch already has a checkpoint record.
    #[error("epoch {epoch} already has a checkpoint")]
    CheckpointExists {
        /// The epoch.
        epoch: u64,
    },
    /// The checkpoint signs a block other than the epoch's last.
    #[error(
        "checkpoint of epoch {epoch} signs block {found}, but the epoch's last block is {expected}"
    )]
    BlockHashMismatch {
        /// The epoch.
        epoch: u64,
        /// The epoch's last block, hex.
        expected: String,
        /// The block signed, hex.
        found: String,
    },
    /// The checkpoint is already sealed.
    #[error("checkpoint of epoch {epoch} is already {status}; only an ACCUMULATING checkpoint can be sealed")]
    AlreadySealed {
        /// The epoch.
        epoch: u64,
        /// Its status.
        status: CheckpointStatus,
    },
    /// Not exactly two SPV proofs.
    #[error("expected exactly 2 spv proofs (part 0, then part 1), found {0}")]
    ProofCount(usize),
    /// An SPV proof's fields are malformed.
    #[error("spv proof {index}: {reason}")]
    MalformedProof {
        /// 0 or 1.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The checkpoint data in Bitcoin is malformed.
    #[error("checkpoint data of spv proof {index}")]
    Encoding {
        /// 0 or 1 (2 when the pair does not match).
        index: usize,
        /// Why.
        #[source]
        source: EncodingError,
    },
    /// The light client rejected an inclusion proof.
    #[error("spv proof {index} rejected by the light client")]
    BtcProof {
        /// 0 or 1.
        index: usize,
        /// Why.
        #[source]
        source: BtcLightClientError,
    },
    /// Part 1's transaction does not spend part 0's.
    #[error("transaction {part1_txid} of part 1 does not spend an output of transaction {part0_txid} of part 0 other than its OP_RETURN; the second transaction must spend the first one's change output")]
    NotChained {
        /// Part 0's txid.
        part0_txid: String,
        /// Part 1's txid.
        part1_txid: String,
    },
    /// The checkpoint is not sealed yet.
    #[error("checkpoint of epoch {epoch} is {status}; only a SEALED checkpoint can be submitted to bitcoin")]
    NotSealed {
        /// The epoch.
        epoch: u64,
        /// Its status.
        status: CheckpointStatus,
    },
    /// The Bitcoin data differs from the sealed checkpoint.
    #[error("checkpoint in bitcoin differs from the sealed checkpoint of epoch {epoch} in its {field}: expected {expected}, found {found}")]
    CheckpointMismatch {
        /// The epoch.
        epoch: u64,
        /// Which field.
        field: &'static str,
        /// The sealed value, hex.
        expected: String,
        /// The value in Bitcoin, hex.
        found: String,
    },
    /// The checkpoint is final; nothing more to submit.
    #[error("checkpoint of epoch {epoch} is already FINALIZED; no further submission is needed")]
    AlreadyFinalized {
        /// The epoch.
        epoch: u64,
    },
    /// The same transactions in the same blocks are already recorded.
    #[error("this submission of epoch {epoch} is already recorded")]
    DuplicateSubmission {
        /// The epoch.
        epoch: u64,
    },
    /// A submission is recorded and this one is not deeper.
    #[error("a submission of epoch {epoch} is recorded with its later block at height {recorded_height}; a new one must be deeper (later block below that height), found {found_height}")]
    SubmissionNotBetter {
        /// The epoch.
        epoch: u64,
        /// The recorded submission's later block height.
        recorded_height: u64,
        /// This submission's later block height.
        found_height: u64,
    },
    /// A Bitcoin reorg removed a block under a finalized checkpoint: the chain must halt.
    #[error("bitcoin reorg of {depth} blocks (fork at height {fork_height}) removes the submission of finalized checkpoint(s) of epoch(s) {epochs:?}; btc_finalization_timeout is {w}: a reorg this deep breaks the finality assumption, the chain halts and operators must investigate before restarting")]
    DeepReorg {
        /// Finalized epochs whose blocks left the best chain.
        epochs: Vec<u64>,
        /// Height of the fork point.
        fork_height: u64,
        /// Blocks rolled back.
        depth: u64,
        /// The finalization depth.
        w: u64,
    },
    /// A query request is invalid.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The proposal of an epoch's first block carries no checkpoint although its last commit
    /// holds more than 2/3 of the power in validators whose extensions CometBFT had verified.
    #[error("the proposal for height {height} omits the checkpoint of epoch {epoch}: its last commit holds {committed_power} of {total_power} power from validators with BLS keys, more than 2/3, so the proposer had the signatures to seal it")]
    CheckpointOmitted {
        /// The epoch whose checkpoint is due.
        epoch: u64,
        /// The proposal's height.
        height: u64,
        /// Committed power of validators with BLS keys.
        committed_power: u64,
        /// The snapshot's total power.
        total_power: u64,
    },
    /// State access failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl ErrorCode for CheckpointingError {
    fn codespace(&self) -> &'static str {
        match self {
            CheckpointingError::Decode(_)
            | CheckpointingError::InvalidSigner(_)
            | CheckpointingError::State(_) => sdk::CODESPACE,
            _ => CODESPACE,
        }
    }

    fn code(&self) -> u32 {
        use CheckpointingError::*;
        match self {
            Decode(_) => sdk::TX_DECODE,
            InvalidSigner(_) => sdk::INVALID_ADDRESS,
            State(StateError::OutOfGas { .. }) => sdk::OUT_OF_GAS,
            State(_) => sdk::INTERNAL,
            InvalidParams(_) => 2,
            InvalidGenesis(_) => 3,
            InvalidEpochConfig(_) => 4,
            InvalidValidatorAddress { .. } => 5,
            InvalidBlsKey(_) => 6,
            InvalidProofOfPossession { .. } => 7,
            BlsKeyAlreadyRegistered { .. } => 8,
            BlsKeyInUse { .. } => 9,
            InvalidConsensusKey(_) => 10,
            InvalidConsensusSignature { .. } => 11,
            InvalidSnapshot { .. } => 12,
            SnapshotExists { .. } => 13,
            SnapshotNotFound { .. } => 14,
            MissingVoteExtension { .. } => 15,
            MalformedVoteExtension(_) => 16,
            VoteExtensionEpochMismatch { .. } => 17,
            VoteExtensionHashMismatch { .. } => 18,
            UnknownValidator { .. } => 19,
            NoBlsKey { .. } => 20,
            InvalidSignature { .. } => 21,
            InsufficientPower { .. } => 22,
            MalformedCheckpoint(_) => 23,
            BitmapOutOfRange { .. } => 24,
            InvalidAggregateSignature { .. } => 25,
            CheckpointNotFound { .. } => 26,
            CheckpointExists { .. } => 27,
            BlockHashMismatch { .. } => 28,
            AlreadySealed { .. } => 29,
            ProofCount(_) => 30,
            MalformedProof { .. } => 31,
            Encoding { .. } => 32,
            BtcProof { .. } => 33,
            NotChained { .. } => 34,
            NotSealed { .. } => 35,
            CheckpointMismatch { .. } => 36,
            AlreadyFinalized { .. } => 37,
            DuplicateSubmission { .. } => 38,
            SubmissionNotBetter { .. } => 39,
            DeepReorg { .. } => 40,
            InvalidQuery(_) => 41,
            CheckpointOmitted { .. } => 42,
        }
    }

    fn is_fatal(&self) -> bool {
        match self {
            CheckpointingError::State(s) => !matches!(s, StateError::OutOfGas { .. }),
            CheckpointingError::DeepReorg { .. } => true,
            _ => false,
        }
    }
}

impl CheckpointingError {
    /// An SPV proof the light client rejected; its state failures stay state failures (fatal,
    /// or out of gas), never the proof's fault.
    pub(crate) fn btc_proof(index: usize, e: BtcLightClientError) -> Self {
        match e {
            BtcLightClientError::State(s) => CheckpointingError::State(s),
            source => CheckpointingError::BtcProof { index, source },
        }
    }
}

impl From<BtcLightClientError> for CheckpointingError {
    /// Light-client failures outside an SPV proof (reading the tip, say) are state failures.
    fn from(e: BtcLightClientError) -> Self {
        match e {
            BtcLightClientError::State(s) => CheckpointingError::State(s),
            other => CheckpointingError::State(StateError::Backend(format!(
                "btclightclient read failed: {other}"
            ))),
        }
    }
}

/// Corrupt or missing module state: a node failure, never the tx's fault.
pub(crate) fn corrupt(msg: impl Into<String>) -> CheckpointingError {
    CheckpointingError::State(StateError::Backend(msg.into()))
}

/// The error's message followed by its sources' messages.
pub(crate) fn with_sources(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}
