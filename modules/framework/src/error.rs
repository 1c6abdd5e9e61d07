//! Error codes with a codespace.
//!
//! Every failure a user can cause has its own stable (codespace, code) pair, registered once and
//! never renumbered or reused. Code 0 means success and is never an error code.

use std::fmt;

/// An error that has a stable code in a codespace.
pub trait ErrorCode: std::error::Error {
    /// The module's codespace, such as `"accounts"`.
    fn codespace(&self) -> &'static str;
    /// The stable numeric code within the codespace (never 0).
    fn code(&self) -> u32;
    /// Whether this is a node failure (storage, corrupt state) rather than the tx's fault.
    fn is_fatal(&self) -> bool {
        false
    }
}

/// A failed message or tx, as it is reported in the ABCI result.
#[derive(Clone, PartialEq, Eq)]
pub struct TxError {
    /// The codespace.
    pub codespace: &'static str,
    /// The stable code.
    pub code: u32,
    /// Human-readable log.
    pub log: String,
    /// Set when the failure is not the tx's fault but the node's (storage failure, corrupt state).
    /// Such an error must halt block execution instead of being recorded as a failed tx, since
    /// a node with healthy storage would have executed the tx differently.
    pub fatal: bool,
}

impl TxError {
    /// A user-caused failure.
    pub fn new(codespace: &'static str, code: u32, log: impl Into<String>) -> Self {
        TxError {
            codespace,
            code,
            log: log.into(),
            fatal: false,
        }
    }

    /// A node failure that must halt execution.
    pub fn fatal(log: impl Into<String>) -> Self {
        TxError {
            codespace: sdk::CODESPACE,
            code: sdk::INTERNAL,
            log: log.into(),
            fatal: true,
        }
    }

    /// Prefixes the log with context.
    pub fn context(mut self, ctx: impl fmt::Display) -> Self {
        self.log = format!("{ctx}: {}", self.log);
        self
    }
}

impl fmt::Debug for TxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TxError({}/{}: {}{})",
            self.codespace,
            self.code,
            self.log,
            if self.fatal { ", fatal" } else { "" }
        )
    }
}

impl fmt::Display for TxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (codespace {}, code {})",
            self.log, self.codespace, self.code
        )
    }
}

impl std::error::Error for TxError {}

impl<E: ErrorCode> From<E> for TxError {
    fn from(e: E) -> Self {
        let mut log = e.to_string();
        let mut src = e.source();
        while let Some(s) = src {
            log.push_str(": ");
            log.push_str(&s.to_string());
            src = s.source();
        }
        let mut out = TxError::new(e.codespace(), e.code(), log);
        out.fatal = e.is_fatal();
        out
    }
}

/// The transaction pipeline's codespace. The numbers are the Cosmos SDK's `sdk` codes, so that
/// Cosmos wallets (CosmJS, Keplr) recognise them (for example, 32 means "wrong sequence").
pub mod sdk {
    /// Codespace of the transaction pipeline.
    pub const CODESPACE: &str = "sdk";
    /// The tx bytes could not be decoded.
    pub const TX_DECODE: u32 = 2;
    /// The signature does not verify (also: wrong chain id or account number).
    pub const UNAUTHORIZED: u32 = 4;
    /// The fee payer or sender cannot cover the amount.
    pub const INSUFFICIENT_FUNDS: u32 = 5;
    /// No module handles the message type.
    pub const UNKNOWN_REQUEST: u32 = 6;
    /// An address does not parse or has the wrong prefix.
    pub const INVALID_ADDRESS: u32 = 7;
    /// The public key is malformed or does not match the signer.
    pub const INVALID_PUBKEY: u32 = 8;
    /// The signer has no account.
    pub const UNKNOWN_ADDRESS: u32 = 9;
    /// Coins are malformed (bad denom, zero or overflowing amount).
    pub const INVALID_COINS: u32 = 10;
    /// Gas ran out.
    pub const OUT_OF_GAS: u32 = 11;
    /// The memo is too long.
    pub const MEMO_TOO_LARGE: u32 = 12;
    /// The fee is below `min_gas_price × gas_limit`.
    pub const INSUFFICIENT_FEE: u32 = 13;
    /// More signatures than signers.
    pub const TOO_MANY_SIGNATURES: u32 = 14;
    /// No signatures.
    pub const NO_SIGNATURES: u32 = 15;
    /// The request is malformed.
    pub const INVALID_REQUEST: u32 = 18;
    /// The tx is larger than allowed.
    pub const TX_TOO_LARGE: u32 = 21;
    /// The tx's timeout height has passed.
    pub const TX_TIMEOUT_HEIGHT: u32 = 30;
    /// The tx carries extension options Ballast does not accept.
    pub const UNKNOWN_EXTENSION_OPTIONS: u32 = 31;
    /// The sequence is not the account's next one.
    pub const WRONG_SEQUENCE: u32 = 32;
    /// The sign mode is not SIGN_MODE_DIRECT.
    pub const NOT_SUPPORTED: u32 = 37;
    /// The gas limit is zero or above the maximum.
    pub const INVALID_GAS_LIMIT: u32 = 41;
    /// An internal failure of the node (never the tx's fault).
    pub const INTERNAL: u32 = 111222;
}
