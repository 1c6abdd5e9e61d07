//! Errors of the Bitcoin light client.
//!
//! Codes in the `btclightclient` codespace are registered here once and never renumbered or
//! reused:
//!
//! | code | error |
//! |---|---|
//! | 2 | [`BtcLightClientError::HeaderCount`]: no headers, or more than allowed |
//! | 3 | [`BtcLightClientError::HeaderLength`]: a header is not 80 bytes |
//! | 4 | [`BtcLightClientError::NotConsecutive`]: a header does not build on the one before it |
//! | 5 | [`BtcLightClientError::NoNewHeaders`]: every header is already known |
//! | 6 | [`BtcLightClientError::UnknownParent`]: the first new header does not connect |
//! | 7 | [`BtcLightClientError::BadDifficultyBits`]: unexpected `bits` |
//! | 8 | [`BtcLightClientError::InsufficientProofOfWork`]: the hash is above the target |
//! | 9 | [`BtcLightClientError::TimeTooOld`]: not after the median time past |
//! | 10 | [`BtcLightClientError::TimeWarp`]: BIP94 timewarp rule (testnet4) |
//! | 11 | [`BtcLightClientError::ObsoleteVersion`]: version below the BIP34/66/65 minimum |
//! | 12 | [`BtcLightClientError::WorkOverflow`]: cumulative work past 2^256 |
//! | 13 | [`BtcLightClientError::InvalidParams`] |
//! | 14 | [`BtcLightClientError::InvalidGenesis`] |
//! | 15 | [`BtcLightClientError::HeaderNotFound`] |
//! | 16 | [`BtcLightClientError::NotOnBestChain`] |
//! | 17 | [`BtcLightClientError::MerkleRootMismatch`] |
//! | 18 | [`BtcLightClientError::AmbiguousMerkleBranch`]: CVE-2012-2459 duplicate |
//! | 19 | [`BtcLightClientError::SixtyFourByteTransaction`] |
//! | 20 | [`BtcLightClientError::MerkleIndexOutOfRange`] |
//! | 21 | [`BtcLightClientError::InvalidHash`] |
//! | 22 | [`BtcLightClientError::InvalidPageRequest`] |
//! | 23 | [`BtcLightClientError::NoHeaderAtHeight`] |
//!
//! Failures of the standard kinds use the `sdk` codes wallets know: an undecodable message is
//! `sdk/2`, a bad signer address `sdk/7`, out of gas `sdk/11`, and state failures are fatal
//! (`sdk/111222`).

use ballast_framework::{sdk, AddressError, ErrorCode, StateError};
use bitcoin::BlockHash;

/// Codespace of the Bitcoin light client.
pub const CODESPACE: &str = "btclightclient";

/// Why a light-client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BtcLightClientError {
    /// The message does not decode.
    #[error("MsgInsertHeaders does not decode: {0}")]
    Decode(String),
    /// The signer address does not parse.
    #[error("invalid signer address")]
    InvalidSigner(#[source] AddressError),
    /// Too few or too many headers.
    #[error("expected between 1 and {max} headers, found {found}")]
    HeaderCount {
        /// The most allowed.
        max: u64,
        /// How many the message has.
        found: u64,
    },
    /// A header is not exactly 80 bytes.
    #[error("header {index} is {len} bytes, expected 80")]
    HeaderLength {
        /// Position in the message.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// A header's parent is not the header before it in the message.
    #[error(
        "header {index} ({hash}) builds on {prev}, expected the previous header of the message {expected}; send one chain, lowest first"
    )]
    NotConsecutive {
        /// Position in the message.
        index: usize,
        /// Its hash.
        hash: BlockHash,
        /// Its parent hash.
        prev: BlockHash,
        /// The hash of the header before it.
        expected: BlockHash,
    },
    /// Every header is already known.
    #[error(
        "all {count} headers are already known; the tip is {tip_hash} at height {tip_height}, send headers from height {next}",
        next = .tip_height.saturating_add(1)
    )]
    NoNewHeaders {
        /// Headers in the message.
        count: usize,
        /// The tip's hash.
        tip_hash: BlockHash,
        /// The tip's height.
        tip_height: u64,
    },
    /// The first new header's parent is unknown.
    #[error(
        "header does not connect: parent {parent} of header {hash} is unknown; the tip is {tip_hash} at height {tip_height}, send headers from height {next}",
        next = .tip_height.saturating_add(1)
    )]
    UnknownParent {
        /// The first new header.
        hash: BlockHash,
        /// Its unknown parent.
        parent: BlockHash,
        /// The tip's hash.
        tip_hash: BlockHash,
        /// The tip's height.
        tip_height: u64,
    },
    /// The header's `bits` are not the ones its position on its branch requires.
    #[error(
        "header {hash} at height {height} has bits {found:#010x}, expected {expected:#010x} from the difficulty rules of the branch it extends"
    )]
    BadDifficultyBits {
        /// The header.
        hash: BlockHash,
        /// Its height.
        height: u64,
        /// Required bits.
        expected: u32,
        /// Its bits.
        found: u32,
    },
    /// The header's hash does not meet its target.
    #[error("header {hash} at height {height} does not meet its target {bits:#010x}")]
    InsufficientProofOfWork {
        /// The header.
        hash: BlockHash,
        /// Its height.
        height: u64,
        /// Its bits.
        bits: u32,
    },
    /// The timestamp is not after the median of the previous 11.
    #[error(
        "header {hash} at height {height} has time {time}, expected later than {median_time_past}, the median of the previous 11 headers"
    )]
    TimeTooOld {
        /// The header.
        hash: BlockHash,
        /// Its height.
        height: u64,
        /// Its time.
        time: u32,
        /// The median time past.
        median_time_past: u32,
    },
    /// BIP94: the first header of a period is timestamped more than 10 minutes before its parent.
    #[error(
        "header {hash} at height {height} has time {time}, more than 600 s before its parent's {parent_time} (BIP94 timewarp rule)"
    )]
    TimeWarp {
        /// The header.
        hash: BlockHash,
        /// Its height.
        height: u64,
        /// Its time.
        time: u32,
        /// The parent's time.
        parent_time: u32,
    },
    /// The version is below what BIP34/66/65 require at this height.
    #[error(
        "header {hash} at height {height} has obsolete version {version}, expected at least {min}"
    )]
    ObsoleteVersion {
        /// The header.
        hash: BlockHash,
        /// Its height.
        height: u64,
        /// Its version.
        version: i32,
        /// The lowest version accepted at this height.
        min: i32,
    },
    /// Cumulative work would pass 2^256 - 1.
    #[error("cumulative work overflows at header {hash}")]
    WorkOverflow {
        /// The header.
        hash: BlockHash,
    },
    /// Params are invalid.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// The genesis section is invalid.
    #[error("invalid genesis: {0}")]
    InvalidGenesis(String),
    /// No header with this hash is known.
    #[error("header {0} is not known to the light client")]
    HeaderNotFound(BlockHash),
    /// The header is known but on a fork.
    #[error("header {hash} at height {height} is not on the best chain (the tip is at height {tip_height})")]
    NotOnBestChain {
        /// The header.
        hash: BlockHash,
        /// Its height.
        height: u64,
        /// The tip's height.
        tip_height: u64,
    },
    /// The Merkle branch does not lead to the header's Merkle root.
    #[error("merkle branch of {txid} at index {index} does not lead to root {expected} of header {block_hash}")]
    MerkleRootMismatch {
        /// The transaction.
        txid: bitcoin::Txid,
        /// Its claimed index.
        index: u32,
        /// The header's root.
        expected: bitcoin::TxMerkleNode,
        /// The header.
        block_hash: BlockHash,
    },
    /// At some level the node is a right child equal to its left sibling: that is the padding of
    /// an odd level (CVE-2012-2459), not a real position.
    #[error("merkle branch of {txid} at index {index} is ambiguous: at level {level} the node is a right child equal to its left sibling, the duplicate padding of an odd level (CVE-2012-2459)")]
    AmbiguousMerkleBranch {
        /// The transaction.
        txid: bitcoin::Txid,
        /// Its claimed index.
        index: u32,
        /// Level where the duplicate appears (0 = leaves).
        level: usize,
    },
    /// A transaction whose non-witness serialization is 64 bytes could pose as an inner Merkle
    /// node, so it is never accepted as proven.
    #[error("transaction {0} is 64 bytes without witness and cannot be told apart from an inner merkle node")]
    SixtyFourByteTransaction(bitcoin::Txid),
    /// The index does not fit the branch (it has bits beyond the tree height) or the branch is
    /// longer than any block's tree.
    #[error("merkle index {index} does not fit a branch of {branch_len} hashes (at most {max_len} hashes, index below 2^len)")]
    MerkleIndexOutOfRange {
        /// The index.
        index: u32,
        /// The branch length.
        branch_len: usize,
        /// The longest branch accepted.
        max_len: usize,
    },
    /// A hash string does not parse.
    #[error("invalid block hash {input:?}: expected 64 hex digits in display order")]
    InvalidHash {
        /// What was given.
        input: String,
    },
    /// A page request is out of bounds.
    #[error("invalid page request: {0}")]
    InvalidPageRequest(String),
    /// The best chain has no header at this height.
    #[error("no best-chain header at height {height}; the best chain spans heights {base_height} to {tip_height}")]
    NoHeaderAtHeight {
        /// The height asked for.
        height: u64,
        /// The base header's height.
        base_height: u64,
        /// The tip's height.
        tip_height: u64,
    },
    /// State access failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl ErrorCode for BtcLightClientError {
    fn codespace(&self) -> &'static str {
        match self {
            BtcLightClientError::Decode(_)
            | BtcLightClientError::InvalidSigner(_)
            | BtcLightClientError::State(_) => sdk::CODESPACE,
            _ => CODESPACE,
        }
    }

    fn code(&self) -> u32 {
        match self {
            BtcLightClientError::Decode(_) => sdk::TX_DECODE,
            BtcLightClientError::InvalidSigner(_) => sdk::INVALID_ADDRESS,
            BtcLightClientError::State(StateError::OutOfGas { .. }) => sdk::OUT_OF_GAS,
            BtcLightClientError::State(_) => sdk::INTERNAL,
            BtcLightClientError::HeaderCount { .. } => 2,
            BtcLightClientError::HeaderLength { .. } => 3,
            BtcLightClientError::NotConsecutive { .. } => 4,
            BtcLightClientError::NoNewHeaders { .. } => 5,
            BtcLightClientError::UnknownParent { .. } => 6,
            BtcLightClientError::BadDifficultyBits { .. } => 7,
            BtcLightClientError::InsufficientProofOfWork { .. } => 8,
            BtcLightClientError::TimeTooOld { .. } => 9,
            BtcLightClientError::TimeWarp { .. } => 10,
            BtcLightClientError::ObsoleteVersion { .. } => 11,
            BtcLightClientError::WorkOverflow { .. } => 12,
            BtcLightClientError::InvalidParams(_) => 13,
            BtcLightClientError::InvalidGenesis(_) => 14,
            BtcLightClientError::HeaderNotFound(_) => 15,
            BtcLightClientError::NotOnBestChain { .. } => 16,
            BtcLightClientError::MerkleRootMismatch { .. } => 17,
            BtcLightClientError::AmbiguousMerkleBranch { .. } => 18,
            BtcLightClientError::SixtyFourByteTransaction(_) => 19,
            BtcLightClientError::MerkleIndexOutOfRange { .. } => 20,
            BtcLightClientError::InvalidHash { .. } => 21,
            BtcLightClientError::InvalidPageRequest(_) => 22,
            BtcLightClientError::NoHeaderAtHeight { .. } => 23,
        }
    }

    fn is_fatal(&self) -> bool {
        matches!(self, BtcLightClientError::State(s) if !matches!(s, StateError::OutOfGas { .. }))
    }
}

/// Corrupt or missing module state: a node failure, never the tx's fault.
pub(crate) fn corrupt(msg: impl Into<String>) -> BtcLightClientError {
    BtcLightClientError::State(StateError::Backend(msg.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_framework::TxError;
    use bitcoin::hashes::Hash;

    #[test]
    fn codes_are_unique_and_hints_name_the_next_height() {
        let h = BlockHash::all_zeros();
        let all = [
            BtcLightClientError::HeaderCount { max: 1, found: 0 },
            BtcLightClientError::HeaderLength { index: 0, len: 1 },
            BtcLightClientError::NotConsecutive {
                index: 1,
                hash: h,
                prev: h,
                expected: h,
            },
            BtcLightClientError::NoNewHeaders {
                count: 1,
                tip_hash: h,
                tip_height: 7,
            },
            BtcLightClientError::UnknownParent {
                hash: h,
                parent: h,
                tip_hash: h,
                tip_height: 7,
            },
            BtcLightClientError::BadDifficultyBits {
                hash: h,
                height: 1,
                expected: 1,
                found: 2,
            },
            BtcLightClientError::InsufficientProofOfWork {
                hash: h,
                height: 1,
                bits: 1,
            },
            BtcLightClientError::TimeTooOld {
                hash: h,
                height: 1,
                time: 1,
                median_time_past: 1,
            },
            BtcLightClientError::TimeWarp {
                hash: h,
                height: 1,
                time: 1,
                parent_time: 1000,
            },
            BtcLightClientError::ObsoleteVersion {
                hash: h,
                height: 1,
                version: 1,
                min: 4,
            },
            BtcLightClientError::WorkOverflow { hash: h },
            BtcLightClientError::InvalidParams(String::new()),
            BtcLightClientError::InvalidGenesis(String::new()),
            BtcLightClientError::HeaderNotFound(h),
            BtcLightClientError::NotOnBestChain {
                hash: h,
                height: 1,
                tip_height: 2,
            },
            BtcLightClientError::MerkleRootMismatch {
                txid: bitcoin::Txid::all_zeros(),
                index: 0,
                expected: bitcoin::TxMerkleNode::all_zeros(),
                block_hash: h,
            },
            BtcLightClientError::AmbiguousMerkleBranch {
                txid: bitcoin::Txid::all_zeros(),
                index: 1,
                level: 0,
            },
            BtcLightClientError::SixtyFourByteTransaction(bitcoin::Txid::all_zeros()),
            BtcLightClientError::MerkleIndexOutOfRange {
                index: 4,
                branch_len: 2,
                max_len: 32,
            },
            BtcLightClientError::InvalidHash { input: "x".into() },
            BtcLightClientError::InvalidPageRequest(String::new()),
            BtcLightClientError::NoHeaderAtHeight {
                height: 1,
                base_height: 2,
                tip_height: 3,
            },
        ];
        let codes: Vec<u32> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes, (2..=23).collect::<Vec<u32>>());
        for e in &all {
            assert_eq!(e.codespace(), CODESPACE);
            assert!(!e.is_fatal());
            let msg = e.to_string();
            assert!(msg.starts_with(|c: char| c.is_ascii_lowercase()), "{msg}");
        }
        let t: TxError = BtcLightClientError::UnknownParent {
            hash: h,
            parent: h,
            tip_hash: h,
            tip_height: 7,
        }
        .into();
        assert!(t.log.contains("send headers from height 8"), "{}", t.log);
        let state: TxError = BtcLightClientError::State(StateError::Backend("x".into())).into();
        assert!(state.fatal);
        let gas: TxError = BtcLightClientError::State(StateError::OutOfGas {
            limit: 1,
            needed: 2,
        })
        .into();
        assert_eq!(
            (gas.codespace, gas.code, gas.fatal),
            (sdk::CODESPACE, sdk::OUT_OF_GAS, false)
        );
    }
}
