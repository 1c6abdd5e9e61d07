//! What a handler knows about the block and the tx it runs in.

use crate::Address;

/// Seconds and nanoseconds since the Unix epoch, from the block header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    /// Whole seconds.
    pub seconds: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

/// A CometBFT block hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct BlockHash(pub [u8; 32]);

/// A CometBFT validator address (first 20 bytes of SHA-256 over its consensus key).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConsensusAddress(pub [u8; 20]);

/// The kind of misbehavior CometBFT reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MisbehaviorKind {
    /// Two conflicting votes.
    DuplicateVote,
    /// A light-client attack.
    LightClientAttack,
    /// A kind this version does not know.
    Unknown,
}

/// Misbehavior reported by CometBFT in FinalizeBlock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Misbehavior {
    /// What happened.
    pub kind: MisbehaviorKind,
    /// The offending validator.
    pub validator: ConsensusAddress,
    /// Its voting power at the time.
    pub power: i64,
    /// Height of the offence.
    pub height: u64,
    /// Time of the offence.
    pub time: Timestamp,
    /// Total voting power of the set at that height.
    pub total_voting_power: i64,
}

/// The block being executed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockContext {
    /// Chain id from genesis.
    pub chain_id: String,
    /// Height of this block.
    pub height: u64,
    /// Time from the block header.
    pub time: Timestamp,
    /// The proposer of this block.
    pub proposer: ConsensusAddress,
    /// Hash of this block.
    pub hash: BlockHash,
    /// Misbehavior reported for this block.
    pub misbehavior: Vec<Misbehavior>,
}

/// The tx a message executes in.
#[derive(Clone, Debug)]
pub struct TxContext<'a> {
    /// The block.
    pub block: &'a BlockContext,
    /// SHA-256 of the tx bytes.
    pub tx_hash: [u8; 32],
    /// Signers of the tx, in signer-info order; the first pays the fee.
    pub signers: &'a [Address],
}
