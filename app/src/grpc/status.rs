//! How Ballast errors become gRPC statuses.
//!
//! A status carries the (codespace, code) pair of the error in the `x-ballast-codespace` and
//! `x-ballast-code` metadata, and its message says the same in words, so that a client can
//! tell a wrong sequence (sdk 32) from insufficient funds (sdk 5) without parsing text.

use ballast_framework::{sdk, TxError};
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

/// Metadata key of the error codespace.
pub const CODESPACE_HEADER: &str = "x-ballast-codespace";
/// Metadata key of the error code.
pub const CODE_HEADER: &str = "x-ballast-code";

/// The code Cosmos SDK uses for "not found" (its `ErrKeyNotFound`), which the auth query
/// returns for a missing account.
const SDK_NOT_FOUND: u32 = 22;

/// What the failed request was: a query or a tx (simulated). The same code means different
/// things: an unknown route is an unimplemented query but a malformed tx.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    Query,
    Tx,
}

/// The gRPC code for a failure with this codespace and code.
pub(crate) fn grpc_code(origin: Origin, codespace: &str, code: u32, fatal: bool) -> Code {
    if fatal || (codespace == sdk::CODESPACE && code == sdk::INTERNAL) {
        return Code::Internal;
    }
    if codespace == sdk::CODESPACE {
        match code {
            SDK_NOT_FOUND | sdk::UNKNOWN_ADDRESS => return Code::NotFound,
            sdk::UNKNOWN_REQUEST if origin == Origin::Query => return Code::Unimplemented,
            sdk::UNAUTHORIZED => return Code::Unauthenticated,
            sdk::TX_DECODE
            | sdk::UNKNOWN_REQUEST
            | sdk::INVALID_ADDRESS
            | sdk::INVALID_PUBKEY
            | sdk::INVALID_COINS
            | sdk::MEMO_TOO_LARGE
            | sdk::TOO_MANY_SIGNATURES
            | sdk::NO_SIGNATURES
            | sdk::INVALID_REQUEST
            | sdk::TX_TOO_LARGE
            | sdk::UNKNOWN_EXTENSION_OPTIONS
            | sdk::NOT_SUPPORTED
            | sdk::INVALID_GAS_LIMIT => return Code::InvalidArgument,
            _ => {}
        }
    }
    match origin {
        // A query fails on what it was asked, not on the state.
        Origin::Query => Code::InvalidArgument,
        // A well-formed tx that the state does not allow (sequence, funds, a message's rule).
        Origin::Tx => Code::FailedPrecondition,
    }
}

/// A status for a failure with this codespace, code and message.
pub(crate) fn status(origin: Origin, codespace: &str, code: u32, fatal: bool, log: &str) -> Status {
    let grpc = grpc_code(origin, codespace, code, fatal);
    // The auth query words its log for CometBFT's abci_query clients, as a gRPC error; here
    // the status code says it already.
    let log = log
        .strip_prefix("rpc error: code = NotFound desc = ")
        .unwrap_or(log);
    let mut st = Status::new(grpc, format!("{log} (codespace {codespace}, code {code})"));
    if let Ok(v) = MetadataValue::try_from(codespace) {
        st.metadata_mut().insert(CODESPACE_HEADER, v);
    }
    st.metadata_mut()
        .insert(CODE_HEADER, MetadataValue::from(code));
    st
}

/// A status for a tx that failed (in a simulation).
pub(crate) fn tx_status(e: &TxError) -> Status {
    if e.fatal {
        tracing::error!(error = %e, "node failure while serving a gRPC call");
    }
    status(Origin::Tx, e.codespace, e.code, e.fatal, &e.log)
}

/// A status for a blocking task that did not finish (it panicked or was cancelled).
pub(crate) fn join_status(e: tokio::task::JoinError) -> Status {
    tracing::error!(error = %e, "a gRPC handler's blocking task failed");
    Status::internal(format!("the request could not be completed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_the_grpc_codes_clients_expect() {
        use Origin::{Query, Tx};
        assert_eq!(grpc_code(Query, "sdk", 22, false), Code::NotFound);
        assert_eq!(grpc_code(Query, "sdk", 6, false), Code::Unimplemented);
        assert_eq!(grpc_code(Tx, "sdk", 6, false), Code::InvalidArgument);
        assert_eq!(grpc_code(Query, "sdk", 7, false), Code::InvalidArgument);
        assert_eq!(
            grpc_code(Query, "accounts", 9, false),
            Code::InvalidArgument
        );
        assert_eq!(grpc_code(Tx, "sdk", 32, false), Code::FailedPrecondition);
        assert_eq!(grpc_code(Tx, "sdk", 5, false), Code::FailedPrecondition);
        assert_eq!(grpc_code(Tx, "sdk", 2, false), Code::InvalidArgument);
        assert_eq!(grpc_code(Tx, "sdk", 9, false), Code::NotFound);
        assert_eq!(grpc_code(Tx, "accounts", 3, true), Code::Internal);
        assert_eq!(
            grpc_code(Query, "sdk", sdk::INTERNAL, false),
            Code::Internal
        );
    }

    #[test]
    fn statuses_carry_codespace_and_code() {
        let st = status(
            Origin::Query,
            "sdk",
            22,
            false,
            "rpc error: code = NotFound desc = account x not found",
        );
        assert_eq!(st.code(), Code::NotFound);
        assert_eq!(st.message(), "account x not found (codespace sdk, code 22)");
        assert_eq!(st.metadata().get(CODESPACE_HEADER).unwrap(), "sdk");
        assert_eq!(st.metadata().get(CODE_HEADER).unwrap(), "22");
    }
}
