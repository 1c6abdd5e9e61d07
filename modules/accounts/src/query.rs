//! Reads of the accounts module: the [`AccountsRead`] trait for other modules, and the ABCI
//! query paths that Cosmos wallets use.

use crate::{params, state_key, Account, AccountsError, Coin, Params, PubKey, PUBKEY_TYPE_URL};
use ballast_framework::{sdk, Address, StateError, StateRead, StateReadExt, TxError};
use cosmrs::proto::cosmos::auth::v1beta1 as auth;
use cosmrs::proto::cosmos::bank::v1beta1 as bank;
use cosmrs::proto::cosmos::base::v1beta1::Coin as ProtoCoin;
use prost::Message;

/// Read access to accounts, for every state.
pub trait AccountsRead: StateRead {
    /// The account at `addr`, if it exists.
    fn account(&self, addr: &Address) -> Result<Option<Account>, AccountsError> {
        let Some(base) = self.get_proto::<auth::BaseAccount>(state_key::account(addr))? else {
            return Ok(None);
        };
        let pubkey = match base.pub_key {
            None => None,
            Some(any) => Some(PubKey::from_any(&any.type_url, &any.value).map_err(|e| {
                AccountsError::State(StateError::Backend(format!(
                    "stored key of {addr} is corrupt: {e}"
                )))
            })?),
        };
        Ok(Some(Account {
            address: *addr,
            account_number: base.account_number,
            sequence: base.sequence,
            pubkey,
        }))
    }

    /// The balance of one denom (0 when none).
    fn balance(&self, addr: &Address, denom: &str) -> Result<u128, AccountsError> {
        match self.get_proto::<ProtoCoin>(state_key::balance(addr, denom))? {
            None => Ok(0),
            Some(c) => stored_amount(&c),
        }
    }

    /// Every non-zero balance, in denom order.
    fn all_balances(&self, addr: &Address) -> Result<Vec<Coin>, AccountsError> {
        let mut out = Vec::new();
        for item in self.prefix_proto::<ProtoCoin>(state_key::balances_prefix(addr)) {
            let (_, c) = item?;
            out.push(Coin {
                amount: stored_amount(&c)?,
                denom: c.denom,
            });
        }
        Ok(out)
    }

    /// Total supply of a denom.
    fn supply(&self, denom: &str) -> Result<u128, AccountsError> {
        match self.get_proto::<ProtoCoin>(state_key::supply(denom))? {
            None => Ok(0),
            Some(c) => stored_amount(&c),
        }
    }

    /// The module params.
    fn accounts_params(&self) -> Result<Params, AccountsError> {
        params::load(self)
    }
}
impl<T: StateRead + ?Sized> AccountsRead for T {}

fn stored_amount(c: &ProtoCoin) -> Result<u128, AccountsError> {
    c.amount.parse().map_err(|_| {
        AccountsError::State(StateError::Backend(format!(
            "stored amount {:?} is corrupt",
            c.amount
        )))
    })
}

/// The stored `BaseAccount` of an account, as wallets expect it.
pub fn base_account(acc: &Account) -> auth::BaseAccount {
    auth::BaseAccount {
        address: acc.address.to_string(),
        pub_key: acc.pubkey.map(|k| cosmrs::Any {
            type_url: PUBKEY_TYPE_URL.into(),
            value: k.to_any_value(),
        }),
        account_number: acc.account_number,
        sequence: acc.sequence,
    }
}

fn bad_request(msg: impl Into<String>) -> TxError {
    TxError::new(sdk::CODESPACE, sdk::INVALID_REQUEST, msg)
}

fn parse_addr(s: &str) -> Result<Address, TxError> {
    s.parse::<Address>().map_err(|e| {
        TxError::new(
            sdk::CODESPACE,
            sdk::INVALID_ADDRESS,
            format!("invalid address: {e}"),
        )
    })
}

/// Answers the query paths of this module.
pub fn route(state: &dyn StateRead, path: &str, data: &[u8]) -> Option<Result<Vec<u8>, TxError>> {
    let answer = match path {
        "/cosmos.auth.v1beta1.Query/Account" => (|| {
            let req =
                auth::QueryAccountRequest::decode(data).map_err(|e| bad_request(e.to_string()))?;
            let addr = parse_addr(&req.address)?;
            let acc = state.account(&addr)?.ok_or_else(|| {
                // Cosmos wallets look for gRPC's NotFound in the log.
                TxError::new(
                    sdk::CODESPACE,
                    22,
                    format!("rpc error: code = NotFound desc = account {addr} not found"),
                )
            })?;
            let any = cosmrs::Any {
                type_url: "/cosmos.auth.v1beta1.BaseAccount".into(),
                value: base_account(&acc).encode_to_vec(),
            };
            Ok(auth::QueryAccountResponse { account: Some(any) }.encode_to_vec())
        })(),
        "/cosmos.bank.v1beta1.Query/Balance" => (|| {
            let req =
                bank::QueryBalanceRequest::decode(data).map_err(|e| bad_request(e.to_string()))?;
            let addr = parse_addr(&req.address)?;
            crate::validate_denom(&req.denom)?;
            let amount = state.balance(&addr, &req.denom)?;
            Ok(bank::QueryBalanceResponse {
                balance: Some(ProtoCoin {
                    denom: req.denom,
                    amount: amount.to_string(),
                }),
            }
            .encode_to_vec())
        })(),
        "/cosmos.bank.v1beta1.Query/AllBalances" => (|| {
            let req = bank::QueryAllBalancesRequest::decode(data)
                .map_err(|e| bad_request(e.to_string()))?;
            let addr = parse_addr(&req.address)?;
            let balances = state
                .all_balances(&addr)?
                .iter()
                .map(Coin::to_proto)
                .collect();
            Ok(bank::QueryAllBalancesResponse {
                balances,
                pagination: None,
            }
            .encode_to_vec())
        })(),
        "/cosmos.bank.v1beta1.Query/SupplyOf" => (|| {
            let req =
                bank::QuerySupplyOfRequest::decode(data).map_err(|e| bad_request(e.to_string()))?;
            crate::validate_denom(&req.denom)?;
            let amount = state.supply(&req.denom)?;
            Ok(bank::QuerySupplyOfResponse {
                amount: Some(ProtoCoin {
                    denom: req.denom,
                    amount: amount.to_string(),
                }),
            }
            .encode_to_vec())
        })(),
        "/ballast.accounts.v1.Query/Params" => (|| {
            let p = state.accounts_params()?;
            Ok(ballast_proto::ballast::accounts::v1::QueryParamsResponse {
                params: Some(p.to_proto()),
            }
            .encode_to_vec())
        })(),
        _ => return None,
    };
    Some(answer)
}
