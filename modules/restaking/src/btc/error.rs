//! Why a BTC staking script, transaction or parameter set was refused.
//!
//! Every variant has a stable numeric code ([`BtcStakingError::code`]); the state machine
//! reports it to clients. Codes are never renumbered or reused: a new variant takes the next
//! free number.
//!
//! | code | variant |
//! |-----:|---------|
//! | 100 | [`BtcStakingError::InvalidKey`] |
//! | 101 | [`BtcStakingError::DuplicateKey`] |
//! | 102 | [`BtcStakingError::NoKeys`] |
//! | 103 | [`BtcStakingError::InvalidQuorum`] |
//! | 104 | [`BtcStakingError::InvalidTimelock`] |
//! | 105 | [`BtcStakingError::InvalidSlashingRate`] |
//! | 106 | [`BtcStakingError::InvalidParams`] |
//! | 107 | [`BtcStakingError::UnknownNetwork`] |
//! | 110 | [`BtcStakingError::MalformedTx`] |
//! | 111 | [`BtcStakingError::StakingOutputIndexOutOfRange`] |
//! | 112 | [`BtcStakingError::WrongStakingOutput`] |
//! | 113 | [`BtcStakingError::WrongStakingValue`] |
//! | 114 | [`BtcStakingError::StakingValueOutOfRange`] |
//! | 115 | [`BtcStakingError::StakingTimeOutOfRange`] |
//! | 116 | [`BtcStakingError::WrongInputCount`] |
//! | 117 | [`BtcStakingError::WrongOutputCount`] |
//! | 118 | [`BtcStakingError::WrongSpentOutpoint`] |
//! | 119 | [`BtcStakingError::NotFinal`] |
//! | 120 | [`BtcStakingError::WrongTxVersion`] |
//! | 121 | [`BtcStakingError::UnexpectedSignatures`] |
//! | 122 | [`BtcStakingError::WrongUnbondingValue`] |
//! | 123 | [`BtcStakingError::WrongUnbondingOutput`] |
//! | 124 | [`BtcStakingError::WrongSlashingDestination`] |
//! | 125 | [`BtcStakingError::WrongSlashingAmount`] |
//! | 126 | [`BtcStakingError::WrongSlashingChangeOutput`] |
//! | 127 | [`BtcStakingError::SlashingFeeTooLow`] |
//! | 128 | [`BtcStakingError::DustOutput`] |
//! | 129 | [`BtcStakingError::ValueOverflow`] |
//! | 130 | [`BtcStakingError::InsufficientFunds`] |
//! | 131 | [`BtcStakingError::InvalidFeeRate`] |
//! | 132 | [`BtcStakingError::InvalidFundingScript`] |
//! | 133 | [`BtcStakingError::LeafNotInTree`] |
//! | 134 | [`BtcStakingError::NotEnoughSignatures`] |
//! | 135 | [`BtcStakingError::UnknownSigner`] |

use thiserror::Error;

/// A refused BTC staking key, parameter, script or transaction.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BtcStakingError {
    /// Bytes that are not a BIP-340 x-only public key.
    #[error("invalid {what} key: expected a 32-byte bip-340 x-only public key, found {found}")]
    InvalidKey {
        /// Whose key (staker, operator, covenant).
        what: &'static str,
        /// What was given (hex or a description).
        found: String,
    },
    /// A key listed twice in a set that must be distinct.
    #[error("duplicate {what} key {key}: expected distinct keys")]
    DuplicateKey {
        /// Which set (operator, covenant).
        what: &'static str,
        /// The repeated key, hex.
        key: String,
    },
    /// An empty key set.
    #[error("no {what} keys: expected at least one")]
    NoKeys {
        /// Which set (operator, covenant).
        what: &'static str,
    },
    /// A quorum of zero or above the number of keys.
    #[error("invalid covenant quorum: expected 1 to {keys}, found {quorum}")]
    InvalidQuorum {
        /// The quorum given.
        quorum: u32,
        /// The number of keys.
        keys: usize,
    },
    /// A relative timelock that is not a CSV block count (1 to 65535).
    #[error("invalid {what}: expected 1 to 65535 blocks, found {found}")]
    InvalidTimelock {
        /// Which timelock (staking time, unbonding time).
        what: &'static str,
        /// The value given.
        found: u64,
    },
    /// A slashing rate that does not parse or is outside (0, 1) with at most 4 decimals.
    #[error("invalid slashing rate: expected a decimal strictly between 0 and 1 with at most 4 fractional digits, found {found:?}")]
    InvalidSlashingRate {
        /// The rate given.
        found: String,
    },
    /// Staking parameters that contradict each other.
    #[error("invalid btc staking params: {0}")]
    InvalidParams(String),
    /// A network name that is not bitcoin, testnet, signet or regtest.
    #[error("unknown bitcoin network {found:?}: expected bitcoin, testnet, signet or regtest")]
    UnknownNetwork {
        /// The name given.
        found: String,
    },
    /// Bytes that are not exactly one consensus-encoded transaction.
    #[error("malformed {what}: {reason}")]
    MalformedTx {
        /// Which transaction.
        what: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// The staking output index is past the staking tx's outputs.
    #[error("staking output index {index} out of range: the staking tx has {outputs} outputs")]
    StakingOutputIndexOutOfRange {
        /// The index given.
        index: u32,
        /// The number of outputs.
        outputs: usize,
    },
    /// The staking output's script differs from the one rebuilt from the keys and params.
    #[error("wrong staking output: its script differs from the one rebuilt from keys and params: expected {expected}, found {found}")]
    WrongStakingOutput {
        /// The rebuilt script, hex.
        expected: String,
        /// The script in the tx, hex.
        found: String,
    },
    /// The staking output's value differs from the declared staking value.
    #[error("wrong staking value: expected {expected} sat, found {found} sat")]
    WrongStakingValue {
        /// The declared value.
        expected: u64,
        /// The value in the tx.
        found: u64,
    },
    /// A staking value outside the params' bounds.
    #[error("staking value out of range: expected {min} to {max} sat, found {found} sat")]
    StakingValueOutOfRange {
        /// Least value.
        min: u64,
        /// Most value.
        max: u64,
        /// The value given.
        found: u64,
    },
    /// A staking time outside the params' bounds.
    #[error("staking time out of range: expected {min} to {max} blocks, found {found}")]
    StakingTimeOutOfRange {
        /// Least time.
        min: u32,
        /// Most time.
        max: u32,
        /// The time given.
        found: u32,
    },
    /// A transaction with the wrong number of inputs.
    #[error("wrong input count of the {what}: expected {expected}, found {found}")]
    WrongInputCount {
        /// Which transaction.
        what: &'static str,
        /// Inputs required.
        expected: usize,
        /// Inputs found.
        found: usize,
    },
    /// A transaction with the wrong number of outputs.
    #[error("wrong output count of the {what}: expected {expected}, found {found}")]
    WrongOutputCount {
        /// Which transaction.
        what: &'static str,
        /// Outputs required.
        expected: usize,
        /// Outputs found.
        found: usize,
    },
    /// A transaction that does not spend the outpoint it must spend.
    #[error("wrong outpoint spent by the {what}: expected {expected}, found {found}")]
    WrongSpentOutpoint {
        /// Which transaction.
        what: &'static str,
        /// The outpoint it must spend.
        expected: String,
        /// The outpoint it spends.
        found: String,
    },
    /// A pre-signed transaction with a lock time or a replaceable/relative-locked input.
    #[error("{what} is not final: expected lock time 0 and sequence 0xffffffff, found lock time {lock_time} and sequence {sequence:#010x}")]
    NotFinal {
        /// Which transaction.
        what: &'static str,
        /// Its lock time.
        lock_time: u32,
        /// Its input's sequence.
        sequence: u32,
    },
    /// A transaction version other than 2.
    #[error("wrong version of the {what}: expected 2, found {found}")]
    WrongTxVersion {
        /// Which transaction.
        what: &'static str,
        /// The version found.
        found: i32,
    },
    /// A transaction that should be unsigned carries a script_sig or witness.
    #[error("{what} must be unsigned: expected an empty script_sig and witness")]
    UnexpectedSignatures {
        /// Which transaction.
        what: &'static str,
    },
    /// The unbonding output value is not the staking value minus the unbonding fee.
    #[error("wrong unbonding value: expected {expected} sat (staking value minus unbonding fee), found {found} sat")]
    WrongUnbondingValue {
        /// Staking value minus the unbonding fee.
        expected: u64,
        /// The value in the tx.
        found: u64,
    },
    /// The unbonding output script differs from the one rebuilt from the keys and params.
    #[error("wrong unbonding output: its script differs from the one rebuilt from keys and params: expected {expected}, found {found}")]
    WrongUnbondingOutput {
        /// The rebuilt script, hex.
        expected: String,
        /// The script in the tx, hex.
        found: String,
    },
    /// Slashing output 0 does not pay slashing_pk_script.
    #[error("wrong slashing destination: expected output 0 to pay {expected}, found {found}")]
    WrongSlashingDestination {
        /// slashing_pk_script, hex.
        expected: String,
        /// The script in the tx, hex.
        found: String,
    },
    /// Slashing output 0 is not `slashing_rate × value`.
    #[error("wrong slashing amount: expected {expected} sat (slashing rate times {value} sat), found {found} sat")]
    WrongSlashingAmount {
        /// The slashed share.
        expected: u64,
        /// The value of the spent output.
        value: u64,
        /// The amount in the tx.
        found: u64,
    },
    /// Slashing output 1 does not pay the staker's unbonding-timelock output.
    #[error("wrong slashing change output: expected {expected}, found {found}")]
    WrongSlashingChangeOutput {
        /// The rebuilt script, hex.
        expected: String,
        /// The script in the tx, hex.
        found: String,
    },
    /// The slashing tx pays less fee than min_slashing_tx_fee_sat.
    #[error("slashing fee too low: expected at least {min} sat, found {found} sat")]
    SlashingFeeTooLow {
        /// min_slashing_tx_fee_sat.
        min: u64,
        /// The fee paid.
        found: u64,
    },
    /// An output below the dust limit of its script.
    #[error("dust output in the {what}: expected at least {min} sat, found {found} sat")]
    DustOutput {
        /// Which output.
        what: &'static str,
        /// The dust limit.
        min: u64,
        /// The value.
        found: u64,
    },
    /// Outputs worth more than the spent value, or a sum that overflows.
    #[error("value overflow in the {what}: outputs worth {outputs} sat exceed the {available} sat available")]
    ValueOverflow {
        /// Which transaction.
        what: &'static str,
        /// Sum of outputs (or the amount needed), saturated.
        outputs: u64,
        /// The value available.
        available: u64,
    },
    /// The funding UTXO cannot pay the staking value and the fee.
    #[error("insufficient funds: expected at least {needed} sat (staking value plus fee), found {found} sat")]
    InsufficientFunds {
        /// Staking value plus fee.
        needed: u64,
        /// The funding value.
        found: u64,
    },
    /// A fee rate of zero or one that overflows the fee.
    #[error("invalid fee rate: expected 1 sat/vB or more without overflow, found {found}")]
    InvalidFeeRate {
        /// The rate given.
        found: u64,
    },
    /// A funding output script that does not parse.
    #[error("invalid funding script {found}: expected a parseable output script")]
    InvalidFundingScript {
        /// The script, hex.
        found: String,
    },
    /// A leaf asked of an output whose tree does not have it.
    #[error("leaf {leaf} is not in this output's tree: expected one of {expected}")]
    LeafNotInTree {
        /// The leaf asked for.
        leaf: &'static str,
        /// The tree's leaves.
        expected: String,
    },
    /// Fewer signatures than a leaf needs.
    #[error("not enough {what} signatures: expected at least {expected}, found {found}")]
    NotEnoughSignatures {
        /// Whose signatures.
        what: &'static str,
        /// Signatures needed.
        expected: usize,
        /// Signatures given.
        found: usize,
    },
    /// A signature by a key that is not in the leaf's key set.
    #[error("signature by unknown {what} key {key}: expected one of the leaf's keys")]
    UnknownSigner {
        /// Which key set.
        what: &'static str,
        /// The key, hex.
        key: String,
    },
}

impl BtcStakingError {
    /// The stable code of this error (see the table in the module docs).
    pub fn code(&self) -> u32 {
        match self {
            Self::InvalidKey { .. } => 100,
            Self::DuplicateKey { .. } => 101,
            Self::NoKeys { .. } => 102,
            Self::InvalidQuorum { .. } => 103,
            Self::InvalidTimelock { .. } => 104,
            Self::InvalidSlashingRate { .. } => 105,
            Self::InvalidParams(_) => 106,
            Self::UnknownNetwork { .. } => 107,
            Self::MalformedTx { .. } => 110,
            Self::StakingOutputIndexOutOfRange { .. } => 111,
            Self::WrongStakingOutput { .. } => 112,
            Self::WrongStakingValue { .. } => 113,
            Self::StakingValueOutOfRange { .. } => 114,
            Self::StakingTimeOutOfRange { .. } => 115,
            Self::WrongInputCount { .. } => 116,
            Self::WrongOutputCount { .. } => 117,
            Self::WrongSpentOutpoint { .. } => 118,
            Self::NotFinal { .. } => 119,
            Self::WrongTxVersion { .. } => 120,
            Self::UnexpectedSignatures { .. } => 121,
            Self::WrongUnbondingValue { .. } => 122,
            Self::WrongUnbondingOutput { .. } => 123,
            Self::WrongSlashingDestination { .. } => 124,
            Self::WrongSlashingAmount { .. } => 125,
            Self::WrongSlashingChangeOutput { .. } => 126,
            Self::SlashingFeeTooLow { .. } => 127,
            Self::DustOutput { .. } => 128,
            Self::ValueOverflow { .. } => 129,
            Self::InsufficientFunds { .. } => 130,
            Self::InvalidFeeRate { .. } => 131,
            Self::InvalidFundingScript { .. } => 132,
            Self::LeafNotInTree { .. } => 133,
            Self::NotEnoughSignatures { .. } => 134,
            Self::UnknownSigner { .. } => 135,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_messages_lower_case() {
        let samples = vec![
            BtcStakingError::InvalidKey {
                what: "staker",
                found: "00".into(),
            },
            BtcStakingError::DuplicateKey {
                what: "covenant",
                key: "aa".into(),
            },
            BtcStakingError::NoKeys { what: "operator" },
            BtcStakingError::InvalidQuorum { quorum: 0, keys: 3 },
            BtcStakingError::InvalidTimelock {
                what: "staking time",
                found: 0,
            },
            BtcStakingError::InvalidSlashingRate { found: "1".into() },
            BtcStakingError::InvalidParams("x".into()),
            BtcStakingError::UnknownNetwork { found: "x".into() },
            BtcStakingError::MalformedTx {
                what: "staking tx",
                reason: "x".into(),
            },
            BtcStakingError::StakingOutputIndexOutOfRange {
                index: 1,
                outputs: 1,
            },
            BtcStakingError::WrongStakingOutput {
                expected: "a".into(),
                found: "b".into(),
            },
            BtcStakingError::WrongStakingValue {
                expected: 1,
                found: 2,
            },
            BtcStakingError::StakingValueOutOfRange {
                min: 1,
                max: 2,
                found: 3,
            },
            BtcStakingError::StakingTimeOutOfRange {
                min: 1,
                max: 2,
                found: 3,
            },
            BtcStakingError::WrongInputCount {
                what: "x",
                expected: 1,
                found: 2,
            },
            BtcStakingError::WrongOutputCount {
                what: "x",
                expected: 1,
                found: 2,
            },
            BtcStakingError::WrongSpentOutpoint {
                what: "x",
                expected: "a".into(),
                found: "b".into(),
            },
            BtcStakingError::NotFinal {
                what: "x",
                lock_time: 1,
                sequence: 0,
            },
            BtcStakingError::WrongTxVersion {
                what: "x",
                found: 1,
            },
            BtcStakingError::UnexpectedSignatures { what: "x" },
            BtcStakingError::WrongUnbondingValue {
                expected: 1,
                found: 2,
            },
            BtcStakingError::WrongUnbondingOutput {
                expected: "a".into(),
                found: "b".into(),
            },
            BtcStakingError::WrongSlashingDestination {
                expected: "a".into(),
                found: "b".into(),
            },
            BtcStakingError::WrongSlashingAmount {
                expected: 1,
                value: 10,
                found: 2,
            },
            BtcStakingError::WrongSlashingChangeOutput {
                expected: "a".into(),
                found: "b".into(),
            },
            BtcStakingError::SlashingFeeTooLow { min: 2, found: 1 },
            BtcStakingError::DustOutput {
                what: "x",
                min: 330,
                found: 1,
            },
            BtcStakingError::ValueOverflow {
                what: "x",
                outputs: 2,
                available: 1,
            },
            BtcStakingError::InsufficientFunds {
                needed: 2,
                found: 1,
            },
            BtcStakingError::InvalidFeeRate { found: 0 },
            BtcStakingError::InvalidFundingScript { found: "x".into() },
            BtcStakingError::LeafNotInTree {
                leaf: "timelock",
                expected: "x".into(),
            },
            BtcStakingError::NotEnoughSignatures {
                what: "covenant",
                expected: 2,
                found: 1,
            },
            BtcStakingError::UnknownSigner {
                what: "covenant",
                key: "aa".into(),
            },
        ];
        let mut codes: Vec<u32> = samples.iter().map(BtcStakingError::code).collect();
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n, "every variant has its own code");
        assert!(codes.iter().all(|c| (100..200).contains(c)));
        for e in &samples {
            let msg = e.to_string();
            let first = msg.chars().next().expect("messages are not empty");
            assert!(!first.is_uppercase(), "message starts lower-case: {msg}");
        }
    }
}
