//! Cosmos-style accounts for Ballast.
//!
//! - Accounts: an address, an account number, a sequence and (after the first tx) a secp256k1
//!   public key, stored as `cosmos.auth.v1beta1.BaseAccount`.
//! - Balances per denom, total supply per denom, `MsgSend` (`/cosmos.bank.v1beta1.MsgSend`).
//! - Fees: the fee payer's fee moves to the fee-collector module account.
//! - Params: the minimum gas price and the gas schedule that the tx pipeline applies.
//!
//! Other modules read accounts through [`AccountsRead`] and move funds through the functions in
//! [`bank`]; they never touch this module's keys.

#![warn(missing_docs)]

pub mod bank;
mod coins;
pub mod error;
pub mod events;
pub mod genesis;
mod keys;
pub mod msg;
pub mod params;
pub mod query;
pub mod state_key;

pub use coins::{validate_denom, Coin, Coins};
pub use error::AccountsError;
pub use genesis::GenesisState;
pub use keys::{pubkey_address, verify_secp256k1, PubKey, PUBKEY_TYPE_URL};
pub use params::Params;
pub use query::AccountsRead;

use ballast_framework::{
    decode_any, Address, BlockContext, GenesisError, Module, Msg, StateRead, StateWrite, TxError,
};

/// Name of the module, its genesis section and its key prefix.
pub const MODULE_NAME: &str = "accounts";

/// Name of the module account that collects fees.
pub const FEE_COLLECTOR: &str = "fee_collector";

/// The fee collector's address.
pub fn fee_collector() -> Address {
    Address::module(FEE_COLLECTOR)
}

/// An account as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Its address.
    pub address: Address,
    /// Assigned once, when the account is created.
    pub account_number: u64,
    /// Number of txs it has signed; the next tx must carry this value.
    pub sequence: u64,
    /// Set by the account's first tx.
    pub pubkey: Option<PubKey>,
}

/// The accounts module.
#[derive(Debug, Default, Clone, Copy)]
pub struct AccountsModule;

impl Module for AccountsModule {
    fn name(&self) -> &'static str {
        MODULE_NAME
    }

    fn default_genesis(&self) -> serde_json::Value {
        serde_json::to_value(GenesisState::default())
            .expect("the accounts genesis is plain data and always serialises")
    }

    fn init_genesis(
        &self,
        state: &mut dyn StateWrite,
        _ctx: &BlockContext,
        genesis: Option<&serde_json::Value>,
    ) -> Result<(), GenesisError> {
        let gs = match genesis {
            Some(v) => GenesisState::from_json(v).map_err(|e| GenesisError::new(MODULE_NAME, e))?,
            None => GenesisState::default(),
        };
        gs.apply(state)
            .map_err(|e| GenesisError::new(MODULE_NAME, e.to_string()))
    }

    fn decode_msg(&self, any: &prost_types::Any) -> Option<Result<Box<dyn Msg>, TxError>> {
        decode_any::<msg::send::MsgSend>(any)
    }

    fn query(
        &self,
        state: &dyn StateRead,
        path: &str,
        data: &[u8],
    ) -> Option<Result<Vec<u8>, TxError>> {
        query::route(state, path, data)
    }
}
