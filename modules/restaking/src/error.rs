//! Errors of the restaking state machine.
//!
//! Codes in the `restaking` codespace are registered here once and never renumbered or reused.
//! Codes 2 to 49 belong to this enum; 50 to 99 are reserved for BTC delegations (their own
//! error type), 100 and above for the BTC staking library ([`crate::btc`]).
//!
//! | code | error |
//! |---|---|
//! | 2 | [`RestakingError::InvalidParams`] |
//! | 3 | [`RestakingError::InvalidGenesis`] |
//! | 4 | [`RestakingError::InvalidBtcKey`]: not a 32-byte BIP-340 x-only key |
//! | 5 | [`RestakingError::InvalidProofOfPossession`] |
//! | 6 | [`RestakingError::InvalidConsensusKey`]: not a 32-byte ed25519 key |
//! | 7 | [`RestakingError::InvalidCommission`]: not a decimal from 0 to 1 |
//! | 8 | [`RestakingError::InvalidDescription`]: a field too long, or no moniker |
//! | 9 | [`RestakingError::InvalidAmount`]: malformed, zero, or over 128 bits |
//! | 10 | [`RestakingError::OperatorExists`] |
//! | 11 | [`RestakingError::ConsensusKeyInUse`] |
//! | 12 | [`RestakingError::UnknownOperator`] |
//! | 13 | [`RestakingError::NotOperatorOwner`] |
//! | 14 | [`RestakingError::CommissionChangeTooLarge`] |
//! | 15 | [`RestakingError::InsufficientCollateral`]: unbond or remove more than is held |
//! | 16 | [`RestakingError::PowerOverflow`]: power beyond u64 or CometBFT's total power limit |
//! | 17 | [`RestakingError::AmountOverflow`]: collateral or rewards beyond their integer range |
//! | 18 | [`RestakingError::InvalidQuery`] |
//! | 19 | [`RestakingError::EpochMismatch`]: fatal, the app ended an epoch out of order |
//! | 20 | [`RestakingError::NothingToWithdraw`] |
//!
//! Failures of the standard kinds use the `sdk` codes wallets know: an undecodable message is
//! `sdk/2`, a bad address `sdk/7`, a balance too small for a bond `sdk/5` (from the accounts
//! module), out of gas `sdk/11`, and state failures are fatal (`sdk/111222`).

use ballast_accounts::AccountsError;
use ballast_framework::{sdk, AddressError, ErrorCode, StateError};

/// Codespace of the restaking module.
pub const CODESPACE: &str = "restaking";

/// Why a restaking operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RestakingError {
    /// A message does not decode.
    #[error("message does not decode: {0}")]
    Decode(String),
    /// An address does not parse.
    #[error("invalid address in field {field}")]
    InvalidAddress {
        /// Which field.
        field: &'static str,
        /// Why.
        #[source]
        source: AddressError,
    },
    /// Params are invalid.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// The genesis section is invalid.
    #[error("invalid genesis: {0}")]
    InvalidGenesis(String),
    /// A BTC key is malformed.
    #[error("invalid btc key in field {field}: {reason}")]
    InvalidBtcKey {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The proof of possession is malformed or does not verify.
    #[error("invalid proof of possession for btc key {btc_pk}: expected a 64-byte bip-340 signature by the key over sha256 of the owner address {owner} ({reason})")]
    InvalidProofOfPossession {
        /// The key, hex.
        btc_pk: String,
        /// The owner, bech32.
        owner: String,
        /// What is wrong.
        reason: String,
    },
    /// The consensus key is malformed.
    #[error("invalid consensus key: {0}")]
    InvalidConsensusKey(String),
    /// The commission is malformed or out of range.
    #[error("invalid commission {input:?}: expected a decimal from 0 to 1 with at most 18 fractional digits")]
    InvalidCommission {
        /// What was given.
        input: String,
    },
    /// The description breaks a length rule.
    #[error("invalid description: {0}")]
    InvalidDescription(String),
    /// An amount is malformed or zero.
    #[error("invalid amount {input:?} in field {field}: {reason}")]
    InvalidAmount {
        /// Which field.
        field: &'static str,
        /// What was given.
        input: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// An operator with this BTC key exists.
    #[error("operator {operator} is already registered; a btc key registers one operator")]
    OperatorExists {
        /// The operator, hex.
        operator: String,
    },
    /// Another operator has this consensus key.
    #[error("consensus key {consensus_pubkey} is already the key of operator {operator}; each operator needs its own consensus key")]
    ConsensusKeyInUse {
        /// The key, hex.
        consensus_pubkey: String,
        /// The operator holding it, hex.
        operator: String,
    },
    /// No operator has this id.
    #[error("no operator {operator} is registered")]
    UnknownOperator {
        /// The operator, hex.
        operator: String,
    },
    /// The sender does not own the operator.
    #[error("operator {operator} is owned by {owner}, not by {sender}")]
    NotOperatorOwner {
        /// The operator, hex.
        operator: String,
        /// Its owner.
        owner: String,
        /// Who asked.
        sender: String,
    },
    /// The commission moves too far within one epoch.
    #[error("commission of operator {operator} was {at_epoch_start} at the start of epoch {epoch}; it may change by at most {max_change} within an epoch, so {requested} is out of range (retry in a later epoch)")]
    CommissionChangeTooLarge {
        /// The operator, hex.
        operator: String,
        /// The current epoch.
        epoch: u64,
        /// The commission at its start.
        at_epoch_start: String,
        /// The new commission asked for.
        requested: String,
        /// `max_commission_change`.
        max_change: String,
    },
    /// A removal of more collateral than the position holds.
    #[error("delegator {delegator} holds {held} {unit} with operator {operator}, cannot remove {requested}")]
    InsufficientCollateral {
        /// The delegator.
        delegator: String,
        /// The operator, hex.
        operator: String,
        /// `ubal`, `sat` or `wei`.
        unit: &'static str,
        /// What is held.
        held: String,
        /// What was asked.
        requested: String,
    },
    /// Power does not fit.
    #[error("power overflow: {0}")]
    PowerOverflow(String),
    /// An amount does not fit its integer type.
    #[error("amount overflow: {0}")]
    AmountOverflow(String),
    /// A query request is invalid.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The app ended an epoch out of order.
    #[error("end of epoch {found} out of order: restaking expects epoch {expected} to end next")]
    EpochMismatch {
        /// The epoch restaking expects.
        expected: u64,
        /// The epoch the app ended.
        found: u64,
    },
    /// A withdrawal found no rewards.
    #[error("no rewards to withdraw for {delegator}{scope}")]
    NothingToWithdraw {
        /// The delegator.
        delegator: String,
        /// " from operator …" or empty.
        scope: String,
    },
    /// A transfer in the accounts module failed (its code and codespace are kept).
    #[error(transparent)]
    Bank(#[from] AccountsError),
    /// State access failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl ErrorCode for RestakingError {
    fn codespace(&self) -> &'static str {
        match self {
            RestakingError::Decode(_)
            | RestakingError::InvalidAddress { .. }
            | RestakingError::State(_) => sdk::CODESPACE,
            RestakingError::Bank(e) => e.codespace(),
            _ => CODESPACE,
        }
    }

    fn code(&self) -> u32 {
        use RestakingError::*;
        match self {
            Decode(_) => sdk::TX_DECODE,
            InvalidAddress { .. } => sdk::INVALID_ADDRESS,
            State(StateError::OutOfGas { .. }) => sdk::OUT_OF_GAS,
            State(_) => sdk::INTERNAL,
            Bank(e) => e.code(),
            InvalidParams(_) => 2,
            InvalidGenesis(_) => 3,
            InvalidBtcKey { .. } => 4,
            InvalidProofOfPossession { .. } => 5,
            InvalidConsensusKey(_) => 6,
            InvalidCommission { .. } => 7,
            InvalidDescription(_) => 8,
            InvalidAmount { .. } => 9,
            OperatorExists { .. } => 10,
            ConsensusKeyInUse { .. } => 11,
            UnknownOperator { .. } => 12,
            NotOperatorOwner { .. } => 13,
            CommissionChangeTooLarge { .. } => 14,
            InsufficientCollateral { .. } => 15,
            PowerOverflow(_) => 16,
            AmountOverflow(_) => 17,
            InvalidQuery(_) => 18,
            EpochMismatch { .. } => 19,
            NothingToWithdraw { .. } => 20,
        }
    }

    fn is_fatal(&self) -> bool {
        match self {
            RestakingError::State(s) => !matches!(s, StateError::OutOfGas { .. }),
            RestakingError::Bank(e) => e.is_fatal(),
            RestakingError::EpochMismatch { .. } => true,
            _ => false,
        }
    }
}

/// Corrupt or missing module state: a node failure, never the tx's fault.
pub(crate) fn corrupt(msg: impl Into<String>) -> RestakingError {
    RestakingError::State(StateError::Backend(msg.into()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_framework::TxError;

    fn samples() -> Vec<RestakingError> {
        use RestakingError::*;
        let s = String::new;
        vec![
            InvalidParams(s()),
            InvalidGenesis(s()),
            InvalidBtcKey {
                field: "f",
                reason: s(),
            },
            InvalidProofOfPossession {
                btc_pk: s(),
                owner: s(),
                reason: s(),
            },
            InvalidConsensusKey(s()),
            InvalidCommission { input: s() },
            InvalidDescription(s()),
            InvalidAmount {
                field: "f",
                input: s(),
                reason: "r",
            },
            OperatorExists { operator: s() },
            ConsensusKeyInUse {
                consensus_pubkey: s(),
                operator: s(),
            },
            UnknownOperator { operator: s() },
            NotOperatorOwner {
                operator: s(),
                owner: s(),
                sender: s(),
            },
            CommissionChangeTooLarge {
                operator: s(),
                epoch: 1,
                at_epoch_start: s(),
                requested: s(),
                max_change: s(),
            },
            InsufficientCollateral {
                delegator: s(),
                operator: s(),
                unit: "ubal",
                held: s(),
                requested: s(),
            },
            PowerOverflow(s()),
            AmountOverflow(s()),
            InvalidQuery(s()),
            EpochMismatch {
                expected: 1,
                found: 2,
            },
            NothingToWithdraw {
                delegator: s(),
                scope: s(),
            },
        ]
    }

    #[test]
    fn codes_are_distinct_in_the_reserved_range_and_messages_lower_case() {
        let codes: Vec<u32> = samples().iter().map(|e| e.code()).collect();
        assert_eq!(codes, (2..=20).collect::<Vec<u32>>());
        for e in samples() {
            assert_eq!(e.codespace(), CODESPACE);
            let m = e.to_string();
            assert_eq!(
                m.chars().next().map(|c| c.is_lowercase()),
                Some(true),
                "{m}"
            );
        }
    }

    #[test]
    fn standard_failures_keep_their_sdk_codes() {
        let e: TxError = RestakingError::Decode("x".into()).into();
        assert_eq!((e.codespace, e.code), (sdk::CODESPACE, sdk::TX_DECODE));
        let short = AccountsError::InsufficientFunds {
            address: "a".into(),
            denom: "ubal".into(),
            available: 1,
            needed: 2,
        };
        let e: TxError = RestakingError::Bank(short).into();
        assert_eq!(
            (e.codespace, e.code),
            (sdk::CODESPACE, sdk::INSUFFICIENT_FUNDS)
        );
        let e: TxError = RestakingError::State(StateError::Backend("x".into())).into();
        assert!(e.fatal);
        let e: TxError = RestakingError::State(StateError::OutOfGas {
            limit: 1,
            needed: 2,
        })
        .into();
        assert!(!e.fatal);
        assert_eq!(e.code, sdk::OUT_OF_GAS);
        let e: TxError = RestakingError::EpochMismatch {
            expected: 1,
            found: 3,
        }
        .into();
        assert!(e.fatal);
    }
}
