//! Errors of the consumers state machine.
//!
//! Codes in the `consumers` codespace are registered here once and never renumbered or reused.
//!
//! | code | error |
//! |---|---|
//! | 2 | [`ConsumersError::InvalidParams`] |
//! | 3 | [`ConsumersError::InvalidGenesis`] |
//! | 4 | [`ConsumersError::InvalidConsumerId`]: not 1 to 50 characters of `[a-zA-Z0-9._-]` |
//! | 5 | [`ConsumersError::InvalidTerms`]: name, fee below `min_fee_per_epoch`, operator counts, slash fraction |
//! | 6 | [`ConsumersError::InvalidAllocationMode`]: neither isolated nor shared |
//! | 7 | [`ConsumersError::InvalidConsumerKey`]: not a 32-byte ed25519 key |
//! | 8 | [`ConsumersError::InvalidAllocation`]: not 1 to 10000 basis points |
//! | 9 | [`ConsumersError::InvalidAmount`]: malformed, zero, or over 128 bits |
//! | 10 | [`ConsumersError::ConsumerExists`] |
//! | 11 | [`ConsumersError::UnknownConsumer`] |
//! | 12 | [`ConsumersError::NotConsumerOwner`] |
//! | 13 | [`ConsumersError::ConsumerStopped`] |
//! | 14 | [`ConsumersError::InvalidOperatorKey`]: the operator id is not 32 bytes |
//! | 15 | [`ConsumersError::UnknownOperator`] |
//! | 16 | [`ConsumersError::NotOperatorOwner`] |
//! | 17 | [`ConsumersError::IsolatedCapExceeded`]: more than 100% allocated with an isolated consumer |
//! | 18 | [`ConsumersError::ReuseCapExceeded`]: more than `max_reuse_ratio` allocated |
//! | 19 | [`ConsumersError::ConsumerKeyInUse`] |
//! | 20 | [`ConsumersError::NotOptedIn`] |
//! | 21 | [`ConsumersError::AmountOverflow`] |
//! | 22 | [`ConsumersError::InvalidQuery`] |
//! | 23 | [`ConsumersError::TooManyOptIns`]: the consumer holds `max_opt_ins_per_consumer` opt-ins |
//! | 24 | [`ConsumersError::OperatorWithoutPower`]: the operator has no power in restaking |
//! | 25 | [`ConsumersError::ChangeStillPending`]: an ended epoch's change waits for a lagging run |
//!
//! Failures of the standard kinds use the `sdk` codes wallets know: an undecodable message is
//! `sdk/2`, a bad address `sdk/7`, a balance too small for a lease payment `sdk/5` (from the
//! accounts module), out of gas `sdk/11`; state failures are fatal (`sdk/111222`). Errors of
//! restaking (read through its [`ballast_restaking::PowerTableRead`]) keep their codespace.

use ballast_accounts::AccountsError;
use ballast_framework::{sdk, AddressError, ErrorCode, StateError};
use ballast_restaking::RestakingError;

/// Codespace of the consumers module.
pub const CODESPACE: &str = "consumers";

/// Why a consumers operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsumersError {
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
    /// A consumer id breaks the chain-id rules.
    #[error(
        "invalid consumer id {input:?}: expected 1 to 50 characters of [a-zA-Z0-9._-] ({reason})"
    )]
    InvalidConsumerId {
        /// What was given.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// The consumer terms break a rule.
    #[error("invalid consumer terms: {0}")]
    InvalidTerms(String),
    /// The allocation mode is not isolated or shared.
    #[error("invalid allocation mode {0}: expected ALLOCATION_MODE_ISOLATED (1) or ALLOCATION_MODE_SHARED (2)")]
    InvalidAllocationMode(i32),
    /// A consumer key is malformed.
    #[error("invalid consumer key: {0}")]
    InvalidConsumerKey(String),
    /// An allocation is out of range.
    #[error("invalid allocation {0} bps: expected 1 to 10000 basis points")]
    InvalidAllocation(u32),
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
    /// A consumer with this id exists (or existed: ids are never reused).
    #[error("consumer {0:?} is already registered; a consumer id registers once")]
    ConsumerExists(String),
    /// No consumer has this id.
    #[error("no consumer {0:?} is registered")]
    UnknownConsumer(String),
    /// The sender does not own the consumer.
    #[error("consumer {consumer_id:?} is owned by {owner}, not by {sender}")]
    NotConsumerOwner {
        /// The consumer.
        consumer_id: String,
        /// Its owner.
        owner: String,
        /// Who asked.
        sender: String,
    },
    /// The consumer is STOPPED, which is final.
    #[error("consumer {0:?} is stopped; a stopped consumer takes no more changes")]
    ConsumerStopped(String),
    /// An operator id is not 32 bytes.
    #[error("invalid operator key in field {field}: expected 32 bytes, found {found}")]
    InvalidOperatorKey {
        /// Which field.
        field: &'static str,
        /// Its length.
        found: usize,
    },
    /// No operator has this id.
    #[error("no operator {0} is registered in restaking")]
    UnknownOperator(String),
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
    /// With an isolated consumer among its allocations an operator may allocate at most 100%.
    #[error("operator {operator} would have {total_bps} bps encumbered with an isolated consumer among its allocations ({isolated:?}); the cap is 10000 bps (reduced allocations count until their deallocation delay ends)")]
    IsolatedCapExceeded {
        /// The operator, hex.
        operator: String,
        /// The isolated consumer.
        isolated: String,
        /// Encumbered total after the change.
        total_bps: u64,
    },
    /// Without isolated consumers an operator may allocate up to `max_reuse_ratio`.
    #[error("operator {operator} would have {total_bps} bps encumbered; the reuse cap is {cap_bps} bps (max_reuse_ratio; reduced allocations count until their deallocation delay ends)")]
    ReuseCapExceeded {
        /// The operator, hex.
        operator: String,
        /// Encumbered total after the change.
        total_bps: u64,
        /// The cap.
        cap_bps: u64,
    },
    /// The consumer key was first used by another (consumer, operator).
    #[error("consumer key {key} is already used by operator {operator} on consumer {consumer_id:?}; a consumer key serves one operator on one consumer")]
    ConsumerKeyInUse {
        /// The key, hex.
        key: String,
        /// The consumer it was first used on.
        consumer_id: String,
        /// The operator it was first used by, hex.
        operator: String,
    },
    /// An opt-out of an operator that is not opted in.
    #[error("operator {operator} is not opted in to consumer {consumer_id:?} (or is already opting out)")]
    NotOptedIn {
        /// The operator, hex.
        operator: String,
        /// The consumer.
        consumer_id: String,
    },
    /// An amount does not fit its integer type.
    #[error("amount overflow: {0}")]
    AmountOverflow(String),
    /// A query request is invalid.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A new opt-in to a consumer that already holds the most opt-in records allowed.
    #[error("consumer {consumer_id:?} already holds {count} opt-ins, the most max_opt_ins_per_consumer ({max}) allows; a new operator may opt in once withdrawn opt-ins are cleared at an epoch end after their deallocation delay")]
    TooManyOptIns {
        /// The consumer.
        consumer_id: String,
        /// Opt-in records it holds.
        count: u64,
        /// The param.
        max: u32,
    },
    /// An opt-in of an operator without power in restaking's live power table.
    #[error("operator {0} has no power in restaking; bond collateral to it before opting in")]
    OperatorWithoutPower(String),
    /// A new opt-in change while the previous one, of an ended epoch, waits for the consumer's
    /// processing, and an earlier epoch's processing of the consumer comes first: applying it
    /// now would put it in force one epoch early.
    #[error("operator {operator} has a change to consumer {consumer_id:?} still pending for epoch {epoch}; retry after the consumer's epoch-end processing (its processing for epoch {processing_epoch} has not run yet)")]
    ChangeStillPending {
        /// The operator, hex.
        operator: String,
        /// The consumer.
        consumer_id: String,
        /// The epoch of the pending change.
        epoch: u64,
        /// The epoch the consumer's next processing is for.
        processing_epoch: u64,
    },
    /// A transfer in the accounts module failed (its code and codespace are kept).
    #[error(transparent)]
    Bank(#[from] AccountsError),
    /// A restaking read or payment failed (its code and codespace are kept).
    #[error(transparent)]
    Restaking(#[from] RestakingError),
    /// State access failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl ErrorCode for ConsumersError {
    fn codespace(&self) -> &'static str {
        match self {
            ConsumersError::Decode(_)
            | ConsumersError::InvalidAddress { .. }
            | ConsumersError::State(_) => sdk::CODESPACE,
            ConsumersError::Bank(e) => e.codespace(),
            ConsumersError::Restaking(e) => e.codespace(),
            _ => CODESPACE,
        }
    }

    fn code(&self) -> u32 {
        use ConsumersError::*;
        match self {
            Decode(_) => sdk::TX_DECODE,
            InvalidAddress { .. } => sdk::INVALID_ADDRESS,
            State(StateError::OutOfGas { .. }) => sdk::OUT_OF_GAS,
            State(_) => sdk::INTERNAL,
            Bank(e) => e.code(),
            Restaking(e) => e.code(),
            InvalidParams(_) => 2,
            InvalidGenesis(_) => 3,
            InvalidConsumerId { .. } => 4,
            InvalidTerms(_) => 5,
            InvalidAllocationMode(_) => 6,
            InvalidConsumerKey(_) => 7,
            InvalidAllocation(_) => 8,
            InvalidAmount { .. } => 9,
            ConsumerExists(_) => 10,
            UnknownConsumer(_) => 11,
            NotConsumerOwner { .. } => 12,
            ConsumerStopped(_) => 13,
            InvalidOperatorKey { .. } => 14,
            UnknownOperator(_) => 15,
            NotOperatorOwner { .. } => 16,
            IsolatedCapExceeded { .. } => 17,
            ReuseCapExceeded { .. } => 18,
            ConsumerKeyInUse { .. } => 19,
            NotOptedIn { .. } => 20,
            AmountOverflow(_) => 21,
            InvalidQuery(_) => 22,
            TooManyOptIns { .. } => 23,
            OperatorWithoutPower(_) => 24,
            ChangeStillPending { .. } => 25,
        }
    }

    fn is_fatal(&self) -> bool {
        match self {
            ConsumersError::State(s) => !matches!(s, StateError::OutOfGas { .. }),
            ConsumersError::Bank(e) => e.is_fatal(),
            ConsumersError::Restaking(e) => e.is_fatal(),
            _ => false,
        }
    }
}

/// Corrupt or missing module state: a node failure, never the tx's fault.
pub(crate) fn corrupt(msg: impl Into<String>) -> ConsumersError {
    ConsumersError::State(StateError::Backend(msg.into()))
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

    fn samples() -> Vec<ConsumersError> {
        use ConsumersError::*;
        let s = String::new;
        vec![
            InvalidParams(s()),
            InvalidGenesis(s()),
            InvalidConsumerId {
                input: s(),
                reason: s(),
            },
            InvalidTerms(s()),
            InvalidAllocationMode(0),
            InvalidConsumerKey(s()),
            InvalidAllocation(0),
            InvalidAmount {
                field: "f",
                input: s(),
                reason: "r",
            },
            ConsumerExists(s()),
            UnknownConsumer(s()),
            NotConsumerOwner {
                consumer_id: s(),
                owner: s(),
                sender: s(),
            },
            ConsumerStopped(s()),
            InvalidOperatorKey {
                field: "f",
                found: 3,
            },
            UnknownOperator(s()),
            NotOperatorOwner {
                operator: s(),
                owner: s(),
                sender: s(),
            },
            IsolatedCapExceeded {
                operator: s(),
                isolated: s(),
                total_bps: 1,
            },
            ReuseCapExceeded {
                operator: s(),
                total_bps: 1,
                cap_bps: 1,
            },
            ConsumerKeyInUse {
                key: s(),
                consumer_id: s(),
                operator: s(),
            },
            NotOptedIn {
                operator: s(),
                consumer_id: s(),
            },
            AmountOverflow(s()),
            InvalidQuery(s()),
            TooManyOptIns {
                consumer_id: s(),
                count: 1,
                max: 1,
            },
            OperatorWithoutPower(s()),
            ChangeStillPending {
                operator: s(),
                consumer_id: s(),
                epoch: 2,
                processing_epoch: 1,
            },
        ]
    }

    #[test]
    fn codes_are_distinct_in_order_and_messages_lower_case() {
        let codes: Vec<u32> = samples().iter().map(|e| e.code()).collect();
        assert_eq!(codes, (2..=25).collect::<Vec<u32>>());
        for e in samples() {
            assert_eq!(e.codespace(), CODESPACE);
            assert!(!e.is_fatal());
            let m = e.to_string();
            assert_eq!(
                m.chars().next().map(|c| c.is_lowercase()),
                Some(true),
                "{m}"
            );
        }
    }

    #[test]
    fn standard_and_neighbour_failures_keep_their_codes() {
        let e: TxError = ConsumersError::Decode("x".into()).into();
        assert_eq!((e.codespace, e.code), (sdk::CODESPACE, sdk::TX_DECODE));
        let short = AccountsError::InsufficientFunds {
            address: "a".into(),
            denom: "ubal".into(),
            available: 1,
            needed: 2,
        };
        let e: TxError = ConsumersError::Bank(short).into();
        assert_eq!(
            (e.codespace, e.code),
            (sdk::CODESPACE, sdk::INSUFFICIENT_FUNDS)
        );
        let e: TxError = ConsumersError::Restaking(RestakingError::UnknownOperator {
            operator: "x".into(),
        })
        .into();
        assert_eq!((e.codespace, e.code), ("restaking", 12));
        let e: TxError = ConsumersError::State(StateError::Backend("x".into())).into();
        assert!(e.fatal);
        let e: TxError = ConsumersError::State(StateError::OutOfGas {
            limit: 1,
            needed: 2,
        })
        .into();
        assert!(!e.fatal);
        assert_eq!(e.code, sdk::OUT_OF_GAS);
    }
}
