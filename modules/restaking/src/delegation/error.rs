//! Why a BTC delegation message or query failed.
//!
//! Every failure reaches the client as a stable code in the `restaking` codespace. Codes 50 to
//! 99 belong to [`BtcDelegationError`] and are never renumbered or reused. A refused script,
//! transaction or parameter keeps the BTC staking library's own code
//! ([`BtcStakingError::code`], 100 and above), a refused key or signature keeps
//! [`SignError::code`] (200 to 208), a refused adaptor signature keeps [`AdaptorError::code`]
//! (230 to 237), and a failure of the restaking core keeps its code (2 to 49, for example
//! 12 for an unknown operator). So each bad input has one code, whichever layer found it.
//!
//! | code | error |
//! |---|---|
//! | 50 | [`BtcDelegationError::InvalidStakingTxid`]: not 64 hex digits |
//! | 51 | [`BtcDelegationError::UnknownDelegation`] |
//! | 52 | [`BtcDelegationError::DelegationExists`]: the staking tx is already registered |
//! | 53 | [`BtcDelegationError::OperatorJailed`] |
//! | 54 | [`BtcDelegationError::MalformedInclusionProof`]: bad lengths in a proof |
//! | 55 | [`BtcDelegationError::InclusionProofInvalid`]: unknown block, branch not leading to its root |
//! | 56 | [`BtcDelegationError::InclusionOnFork`]: the block is not on the light client's best chain |
//! | 57 | [`BtcDelegationError::InclusionTooShallow`]: fewer than `btc_confirmation_depth` blocks deep |
//! | 58 | [`BtcDelegationError::InclusionAlreadyProven`] |
//! | 59 | [`BtcDelegationError::RemainingTimeTooShort`]: the timelock ends within the unbonding time |
//! | 60 | [`BtcDelegationError::NotCovenantMember`] |
//! | 61 | [`BtcDelegationError::CovenantAlreadySigned`] |
//! | 62 | [`BtcDelegationError::WrongStatus`]: the delegation's status does not allow the message |
//! | 63 | [`BtcDelegationError::AlreadyUnbonding`]: an undelegation or spend report replayed |
//! | 64 | [`BtcDelegationError::UnbondingTxMismatch`]: not the delegation's unbonding tx |
//! | 65 | [`BtcDelegationError::MissingStakerSignature`]: the unbonding tx's witness has no staker signature |
//! | 66 | [`BtcDelegationError::NotAStakingSpend`]: the reported tx does not spend the staking output |
//! | 67 | [`BtcDelegationError::MissingField`] |
//! | 68 | [`BtcDelegationError::InvalidQuery`] |
//! | 100–135 | [`BtcDelegationError::Staking`]: the wrapped [`BtcStakingError`]'s code |
//! | 200–208 | [`BtcDelegationError::Sign`]: the wrapped [`SignError`]'s code |
//! | 230–237 | [`BtcDelegationError::Adaptor`]: the wrapped [`AdaptorError`]'s code (or 200–208 for its inner [`SignError`]) |
//! | 2–49 | [`BtcDelegationError::Restaking`]: the restaking core's code |
//!
//! As in the rest of the module, an undecodable message is `sdk/2`, a bad address `sdk/7`, out
//! of gas `sdk/11`, and a state failure is fatal (`sdk/111222`).

use crate::btc::adaptor::AdaptorError;
use crate::btc::error::BtcStakingError;
use crate::btc::sign::SignError;
use crate::error::CODESPACE;
use crate::RestakingError;
use ballast_btclightclient::BtcLightClientError;
use ballast_framework::{sdk, AddressError, ErrorCode, StateError};

/// Why a BTC delegation message or query failed. See the module docs for the codes.
#[derive(Debug, thiserror::Error)]
pub enum BtcDelegationError {
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
    /// A staking txid that is not 64 hex digits.
    #[error("invalid staking txid {input:?}: expected 64 hex digits in display order")]
    InvalidStakingTxid {
        /// What was given.
        input: String,
    },
    /// No delegation has this staking tx.
    #[error("no btc delegation with staking txid {txid}")]
    UnknownDelegation {
        /// The staking txid.
        txid: String,
    },
    /// The staking tx is already registered.
    #[error("staking tx {txid} is already registered as a btc delegation (status {status}); a staking tx registers one delegation")]
    DelegationExists {
        /// The staking txid.
        txid: String,
        /// The status of the registered delegation.
        status: &'static str,
    },
    /// The operator is jailed.
    #[error("operator {operator} is jailed and accepts no new btc delegations")]
    OperatorJailed {
        /// The operator, hex.
        operator: String,
    },
    /// A proof whose fields have the wrong lengths.
    #[error("malformed inclusion proof: {reason}")]
    MalformedInclusionProof {
        /// What is wrong.
        reason: String,
    },
    /// The light client refused the proof (unknown block, branch that does not lead to the
    /// block's Merkle root, ambiguous branch, 64-byte tx).
    #[error("inclusion proof of {txid} does not verify")]
    InclusionProofInvalid {
        /// The proven tx.
        txid: String,
        /// The light client's reason (boxed: it is large and rare).
        #[source]
        source: Box<BtcLightClientError>,
    },
    /// The block is known but not on the best chain.
    #[error("inclusion proof of {txid} names block {block_hash} at height {height}, which is not on the light client's best chain (tip at {tip_height}); prove it in a best-chain block")]
    InclusionOnFork {
        /// The proven tx.
        txid: String,
        /// The block.
        block_hash: String,
        /// Its height.
        height: u64,
        /// The tip's height.
        tip_height: u64,
    },
    /// The block is not deep enough.
    #[error("staking tx {txid} is {depth} blocks deep in block {block_hash}, expected at least {required} (btc_confirmation_depth); send the proof again once it is deeper")]
    InclusionTooShallow {
        /// The staking txid.
        txid: String,
        /// The block.
        block_hash: String,
        /// Its depth (0 at the tip).
        depth: u64,
        /// `btc_confirmation_depth`.
        required: u64,
    },
    /// The delegation already has an inclusion proof on the best chain.
    #[error("staking tx {txid} is already proven in best-chain block {block_hash}")]
    InclusionAlreadyProven {
        /// The staking txid.
        txid: String,
        /// The recorded block.
        block_hash: String,
    },
    /// The staking timelock ends within the unbonding time: the delegation could never be
    /// active.
    #[error("staking tx {txid} has its timelock end at bitcoin height {end_height}, but the tip {tip_height} plus the unbonding time {unbonding_time} reaches it: expected more than {unbonding_time} blocks left")]
    RemainingTimeTooShort {
        /// The staking txid.
        txid: String,
        /// The light client's tip height.
        tip_height: u64,
        /// The delegation's unbonding time.
        unbonding_time: u32,
        /// Start height plus staking time.
        end_height: u64,
    },
    /// The key is not in the delegation's covenant committee.
    #[error("covenant key {covenant_pk} is not in the committee of delegation {txid}: expected one of {committee}")]
    NotCovenantMember {
        /// The key, hex.
        covenant_pk: String,
        /// The staking txid.
        txid: String,
        /// The committee, hex, comma-separated.
        committee: String,
    },
    /// The covenant member already signed.
    #[error("covenant key {covenant_pk} already signed delegation {txid}")]
    CovenantAlreadySigned {
        /// The key, hex.
        covenant_pk: String,
        /// The staking txid.
        txid: String,
    },
    /// The delegation's status does not allow the message.
    #[error("cannot {action} delegation {txid} in status {status}: expected {expected}")]
    WrongStatus {
        /// What was attempted.
        action: &'static str,
        /// The staking txid.
        txid: String,
        /// Its status.
        status: &'static str,
        /// The statuses that allow it.
        expected: &'static str,
    },
    /// The delegation is already unbonding (a replayed undelegation or spend report).
    #[error("delegation {txid} is already unbonding since bitcoin height {since}")]
    AlreadyUnbonding {
        /// The staking txid.
        txid: String,
        /// `unbonding_btc_height`.
        since: u64,
    },
    /// The tx is not the delegation's unbonding tx.
    #[error(
        "unbonding tx mismatch for delegation {txid}: expected txid {expected}, found {found}"
    )]
    UnbondingTxMismatch {
        /// The staking txid.
        txid: String,
        /// The registered unbonding txid.
        expected: String,
        /// The given txid.
        found: String,
    },
    /// The unbonding tx's witness does not carry the staker's signature where the unbonding
    /// leaf expects it.
    #[error("unbonding tx of delegation {txid} has no staker signature: {reason}")]
    MissingStakerSignature {
        /// The staking txid.
        txid: String,
        /// What is wrong with the witness.
        reason: String,
    },
    /// The reported tx does not spend the staking output.
    #[error("tx {spend_txid} does not spend staking output {outpoint}")]
    NotAStakingSpend {
        /// The reported tx.
        spend_txid: String,
        /// The staking outpoint.
        outpoint: String,
    },
    /// A required field is empty.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// A query request is invalid.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A script, transaction or parameter refused by the BTC staking library.
    #[error(transparent)]
    Staking(#[from] BtcStakingError),
    /// A key or signature refused.
    #[error("{field}")]
    Sign {
        /// Which field.
        field: &'static str,
        /// Why.
        #[source]
        source: SignError,
    },
    /// An adaptor signature refused.
    #[error("{field}")]
    Adaptor {
        /// Which field.
        field: &'static str,
        /// Why.
        #[source]
        source: AdaptorError,
    },
    /// A failure of the restaking core (unknown operator, power overflow, ...).
    #[error(transparent)]
    Restaking(#[from] RestakingError),
    /// State access failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl BtcDelegationError {
    /// Wraps a light client failure to verify an inclusion proof of `txid`.
    pub fn inclusion(txid: impl ToString, e: BtcLightClientError) -> Self {
        match e {
            BtcLightClientError::State(s) => BtcDelegationError::State(s),
            BtcLightClientError::NotOnBestChain {
                hash,
                height,
                tip_height,
            } => BtcDelegationError::InclusionOnFork {
                txid: txid.to_string(),
                block_hash: hash.to_string(),
                height,
                tip_height,
            },
            other => BtcDelegationError::InclusionProofInvalid {
                txid: txid.to_string(),
                source: Box::new(other),
            },
        }
    }

    /// A light client failure outside proof checking (reading the tip): only state failures
    /// are expected there, anything else is corrupt state.
    pub fn light_client(e: BtcLightClientError) -> Self {
        match e {
            BtcLightClientError::State(s) => BtcDelegationError::State(s),
            other => BtcDelegationError::State(StateError::Backend(format!(
                "light client read failed: {other}"
            ))),
        }
    }
}

impl ErrorCode for BtcDelegationError {
    fn codespace(&self) -> &'static str {
        use BtcDelegationError::*;
        match self {
            Decode(_) | InvalidAddress { .. } | State(_) => sdk::CODESPACE,
            Restaking(e) => e.codespace(),
            _ => CODESPACE,
        }
    }

    fn code(&self) -> u32 {
        use BtcDelegationError::*;
        match self {
            Decode(_) => sdk::TX_DECODE,
            InvalidAddress { .. } => sdk::INVALID_ADDRESS,
            State(StateError::OutOfGas { .. }) => sdk::OUT_OF_GAS,
            State(_) => sdk::INTERNAL,
            Restaking(e) => e.code(),
            Staking(e) => e.code(),
            Sign { source, .. } => source.code(),
            Adaptor { source, .. } => source.code(),
            InvalidStakingTxid { .. } => 50,
            UnknownDelegation { .. } => 51,
            DelegationExists { .. } => 52,
            OperatorJailed { .. } => 53,
            MalformedInclusionProof { .. } => 54,
            InclusionProofInvalid { .. } => 55,
            InclusionOnFork { .. } => 56,
            InclusionTooShallow { .. } => 57,
            InclusionAlreadyProven { .. } => 58,
            RemainingTimeTooShort { .. } => 59,
            NotCovenantMember { .. } => 60,
            CovenantAlreadySigned { .. } => 61,
            WrongStatus { .. } => 62,
            AlreadyUnbonding { .. } => 63,
            UnbondingTxMismatch { .. } => 64,
            MissingStakerSignature { .. } => 65,
            NotAStakingSpend { .. } => 66,
            MissingField(_) => 67,
            InvalidQuery(_) => 68,
        }
    }

    fn is_fatal(&self) -> bool {
        match self {
            BtcDelegationError::State(s) => !matches!(s, StateError::OutOfGas { .. }),
            BtcDelegationError::Restaking(e) => e.is_fatal(),
            _ => false,
        }
    }
}

/// Corrupt or missing delegation state: a node failure, never the tx's fault.
pub(crate) fn corrupt(msg: impl Into<String>) -> BtcDelegationError {
    BtcDelegationError::State(StateError::Backend(msg.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_framework::TxError;
    use bitcoin::hashes::Hash;

    fn own_samples() -> Vec<BtcDelegationError> {
        use BtcDelegationError::*;
        let s = String::new;
        let lc = || BtcLightClientError::HeaderNotFound(bitcoin::BlockHash::all_zeros());
        vec![
            InvalidStakingTxid { input: s() },
            UnknownDelegation { txid: s() },
            DelegationExists {
                txid: s(),
                status: "pending",
            },
            OperatorJailed { operator: s() },
            MalformedInclusionProof { reason: s() },
            InclusionProofInvalid {
                txid: s(),
                source: Box::new(lc()),
            },
            InclusionOnFork {
                txid: s(),
                block_hash: s(),
                height: 1,
                tip_height: 2,
            },
            InclusionTooShallow {
                txid: s(),
                block_hash: s(),
                depth: 1,
                required: 6,
            },
            InclusionAlreadyProven {
                txid: s(),
                block_hash: s(),
            },
            RemainingTimeTooShort {
                txid: s(),
                tip_height: 1,
                unbonding_time: 2,
                end_height: 3,
            },
            NotCovenantMember {
                covenant_pk: s(),
                txid: s(),
                committee: s(),
            },
            CovenantAlreadySigned {
                covenant_pk: s(),
                txid: s(),
            },
            WrongStatus {
                action: "x",
                txid: s(),
                status: "active",
                expected: "pending",
            },
            AlreadyUnbonding {
                txid: s(),
                since: 1,
            },
            UnbondingTxMismatch {
                txid: s(),
                expected: s(),
                found: s(),
            },
            MissingStakerSignature {
                txid: s(),
                reason: s(),
            },
            NotAStakingSpend {
                spend_txid: s(),
                outpoint: s(),
            },
            MissingField("proof"),
            InvalidQuery(s()),
        ]
    }

    #[test]
    fn own_codes_are_distinct_in_50_to_99_and_messages_lower_case() {
        let codes: Vec<u32> = own_samples().iter().map(|e| e.code()).collect();
        assert_eq!(codes, (50..=68).collect::<Vec<u32>>());
        for e in own_samples() {
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
    fn wrapped_errors_keep_their_codes_and_name_the_field() {
        let e = BtcDelegationError::from(BtcStakingError::SlashingFeeTooLow { min: 2, found: 1 });
        assert_eq!((e.codespace(), e.code()), (CODESPACE, 127));
        let e = BtcDelegationError::Sign {
            field: "delegator_slashing_sig",
            source: SignError::InvalidLeafSignature {
                key_hex: "aa".into(),
                sighash_hex: "bb".into(),
            },
        };
        assert_eq!(e.code(), 204);
        let tx: TxError = e.into();
        assert!(tx.log.starts_with("delegator_slashing_sig: "), "{}", tx.log);
        let e = BtcDelegationError::Adaptor {
            field: "slashing_adaptor_sig",
            source: AdaptorError::Length { found: 3 },
        };
        assert_eq!(e.code(), 230);
        let e = BtcDelegationError::from(RestakingError::UnknownOperator {
            operator: "aa".into(),
        });
        assert_eq!((e.codespace(), e.code()), (CODESPACE, 12));
        let e: TxError = BtcDelegationError::Decode("x".into()).into();
        assert_eq!((e.codespace, e.code), (sdk::CODESPACE, sdk::TX_DECODE));
        let e: TxError = BtcDelegationError::State(StateError::Backend("x".into())).into();
        assert!(e.fatal);
        let e: TxError = BtcDelegationError::State(StateError::OutOfGas {
            limit: 1,
            needed: 2,
        })
        .into();
        assert!(!e.fatal);
    }

    #[test]
    fn light_client_failures_map_to_fork_and_invalid_codes() {
        let h = bitcoin::BlockHash::all_zeros();
        let fork = BtcDelegationError::inclusion(
            "t",
            BtcLightClientError::NotOnBestChain {
                hash: h,
                height: 3,
                tip_height: 5,
            },
        );
        assert_eq!(fork.code(), 56);
        let unknown = BtcDelegationError::inclusion("t", BtcLightClientError::HeaderNotFound(h));
        assert_eq!(unknown.code(), 55);
        let state = BtcDelegationError::inclusion(
            "t",
            BtcLightClientError::State(StateError::Backend("x".into())),
        );
        assert!(state.is_fatal());
    }
}
