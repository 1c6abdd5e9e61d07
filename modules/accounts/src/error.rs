//! Errors of the accounts module. Standard failures use the `sdk` codes that Cosmos wallets
//! know; failures specific to Ballast use the `accounts` codespace. Codes are never renumbered.

use ballast_framework::{sdk, AddressError, ErrorCode, StateError};

/// Codespace of the accounts module.
pub const CODESPACE: &str = "accounts";

/// Why an accounts operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// An address did not parse.
    #[error("invalid address {field}")]
    InvalidAddress {
        /// Which field.
        field: &'static str,
        /// Why.
        #[source]
        source: AddressError,
    },
    /// Coins are malformed.
    #[error("invalid coins: {0}")]
    InvalidCoins(String),
    /// Not enough balance.
    #[error("insufficient funds: {address} has {available}{denom}, needs {needed}{denom}")]
    InsufficientFunds {
        /// Whose balance.
        address: String,
        /// Denom.
        denom: String,
        /// What it holds.
        available: u128,
        /// What was needed.
        needed: u128,
    },
    /// A balance would exceed 2^128 - 1.
    #[error("balance overflow: {address} would hold more than 2^128-1 {denom}")]
    BalanceOverflow {
        /// Whose balance.
        address: String,
        /// Denom.
        denom: String,
    },
    /// Total supply would exceed 2^128 - 1.
    #[error("supply overflow for {0}")]
    SupplyOverflow(String),
    /// The recipient is a module account that must not receive transfers.
    #[error("{0} is a module account and cannot receive transfers")]
    BlockedRecipient(String),
    /// Params are invalid.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// The signer has no account.
    #[error("account {0} does not exist")]
    UnknownAccount(String),
    /// The public key is malformed or not the signer's.
    #[error("invalid public key: {0}")]
    InvalidPubKey(String),
    /// The genesis file is inconsistent.
    #[error("invalid genesis: {0}")]
    InvalidGenesis(String),
    /// State access failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl ErrorCode for AccountsError {
    fn codespace(&self) -> &'static str {
        match self {
            AccountsError::InvalidAddress { .. }
            | AccountsError::InvalidCoins(_)
            | AccountsError::InsufficientFunds { .. }
            | AccountsError::UnknownAccount(_)
            | AccountsError::InvalidPubKey(_)
            | AccountsError::State(_) => sdk::CODESPACE,
            _ => CODESPACE,
        }
    }

    fn code(&self) -> u32 {
        match self {
            AccountsError::InvalidAddress { .. } => sdk::INVALID_ADDRESS,
            AccountsError::InvalidCoins(_) => sdk::INVALID_COINS,
            AccountsError::InsufficientFunds { .. } => sdk::INSUFFICIENT_FUNDS,
            AccountsError::UnknownAccount(_) => sdk::UNKNOWN_ADDRESS,
            AccountsError::InvalidPubKey(_) => sdk::INVALID_PUBKEY,
            AccountsError::State(StateError::OutOfGas { .. }) => sdk::OUT_OF_GAS,
            AccountsError::State(_) => sdk::INTERNAL,
            AccountsError::BalanceOverflow { .. } => 2,
            AccountsError::SupplyOverflow(_) => 3,
            AccountsError::BlockedRecipient(_) => 4,
            AccountsError::InvalidParams(_) => 5,
            AccountsError::InvalidGenesis(_) => 6,
        }
    }

    fn is_fatal(&self) -> bool {
        matches!(self, AccountsError::State(s) if !matches!(s, StateError::OutOfGas { .. }))
    }
}
