//! Genesis of the accounts module: params, accounts and their opening balances.
//!
//! ```json
//! "accounts": {
//!   "params": { "min_gas_price": "0.025", "fee_denom": "ubal", ... },
//!   "accounts": [ { "address": "ballast1...", "coins": [ { "denom": "ubal", "amount": "1000000" } ] } ]
//! }
//! ```

use crate::{bank, params, AccountsError, Coins, Params};
use ballast_framework::{Address, StateWrite};
use serde::{Deserialize, Serialize};

/// One genesis account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// bech32 address.
    pub address: String,
    /// Opening balances.
    #[serde(default)]
    pub coins: Vec<GenesisCoin>,
}

/// A coin in genesis JSON (amount as a string, as in Cosmos).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisCoin {
    /// Denom.
    pub denom: String,
    /// Base-10 amount.
    pub amount: String,
}

/// The module's genesis section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisState {
    /// Params (defaults when absent).
    #[serde(default)]
    pub params: Params,
    /// Accounts, numbered in this order.
    #[serde(default)]
    pub accounts: Vec<GenesisAccount>,
}

impl GenesisState {
    /// Parses the JSON section.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        serde_json::from_value(v.clone()).map_err(|e| e.to_string())
    }

    /// Writes params, accounts and balances; the supply is the sum of the balances.
    pub fn apply(&self, state: &mut (impl StateWrite + ?Sized)) -> Result<(), AccountsError> {
        params::store(state, &self.params)?;
        // The fee collector exists from genesis, so its account number is stable.
        bank::get_or_create_account(state, &crate::fee_collector())?;
        for acc in &self.accounts {
            let addr: Address = acc.address.parse().map_err(|e| {
                AccountsError::InvalidGenesis(format!("account {:?}: {e}", acc.address))
            })?;
            let proto: Vec<_> = acc
                .coins
                .iter()
                .map(|c| cosmrs::proto::cosmos::base::v1beta1::Coin {
                    denom: c.denom.clone(),
                    amount: c.amount.clone(),
                })
                .collect();
            let coins = Coins::from_proto(&proto)
                .map_err(|e| AccountsError::InvalidGenesis(format!("account {addr}: {e}")))?;
            bank::create_account(state, &addr)?;
            bank::mint(state, &addr, &coins)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AccountsRead;
    use ballast_framework::MemState;

    #[test]
    fn applies_accounts_and_rejects_duplicates_and_bad_input() {
        let a = Address([3; 20]).to_string();
        let json = serde_json::json!({"accounts": [{"address": a, "coins": [{"denom": "ubal", "amount": "500"}]}]});
        let gs = GenesisState::from_json(&json).unwrap();
        let mut s = MemState::new();
        gs.apply(&mut s).unwrap();
        assert_eq!(s.supply("ubal").unwrap(), 500);
        assert_eq!(
            s.account(&Address([3; 20]))
                .unwrap()
                .unwrap()
                .account_number,
            1
        );

        let dup = serde_json::json!({"accounts": [{"address": a, "coins": []}, {"address": a, "coins": []}]});
        assert!(GenesisState::from_json(&dup)
            .unwrap()
            .apply(&mut MemState::new())
            .is_err());
        let bad = serde_json::json!({"accounts": [{"address": "cosmos1xyz", "coins": []}]});
        assert!(GenesisState::from_json(&bad)
            .unwrap()
            .apply(&mut MemState::new())
            .is_err());
        assert!(GenesisState::from_json(&serde_json::json!({"unknown": 1})).is_err());
        let bad_params = serde_json::json!({"params": {"min_gas_price": "-1"}});
        assert!(GenesisState::from_json(&bad_params)
            .unwrap()
            .apply(&mut MemState::new())
            .is_err());
    }
}
