//! Building, simulating, signing and broadcasting Ballast transactions (Cosmos `TxRaw`,
//! `SIGN_MODE_DIRECT`, signed with cosmrs). Shared by `ballastd tx`, the vigilante and tests.

use crate::rpc::{CometRpc, RpcError};
use ballast_framework::Decimal;
use ballast_proto::ballast::accounts::v1 as accounts_pb;
use cosmrs::crypto::secp256k1::SigningKey;
use cosmrs::proto::cosmos::auth::v1beta1::{
    BaseAccount, QueryAccountRequest, QueryAccountResponse,
};
use cosmrs::proto::cosmos::bank::v1beta1::{
    QueryAllBalancesRequest, QueryAllBalancesResponse, QueryBalanceRequest, QueryBalanceResponse,
};
use cosmrs::proto::cosmos::base::v1beta1::Coin;
use cosmrs::proto::cosmos::tx::v1beta1::{SimulateRequest, SimulateResponse, TxRaw};
use prost::Message;
use prost_types::Any;
use sha2::{Digest, Sha256};
use std::str::FromStr;
use std::time::Duration;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The RPC call itself failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The chain answered a query with an error.
    #[error("query {path} failed: code {code} ({codespace}): {log}")]
    Query {
        /// ABCI query path.
        path: String,
        /// Error code.
        code: u32,
        /// Error codespace.
        codespace: String,
        /// Error message.
        log: String,
    },
    /// The chain's answer did not decode.
    #[error("cannot decode the answer to {what}: {why}")]
    Decode {
        /// What was asked.
        what: String,
        /// The decode error.
        why: String,
    },
    /// The account does not exist on chain yet.
    #[error("account {0} does not exist on chain; it must receive funds before it can sign")]
    AccountNotFound(String),
    /// A coin list did not parse.
    #[error("bad coins {input:?}: {why} (expected e.g. 1000ubal or 10ubal,5stake)")]
    BadCoins {
        /// The input.
        input: String,
        /// What is wrong.
        why: String,
    },
    /// A gas setting did not parse.
    #[error("bad gas setting {0:?}: expected `auto` or a positive integer")]
    BadGas(String),
    /// Simulation rejected the tx.
    #[error("simulation failed: code {code} ({codespace}): {log}")]
    Simulate {
        /// Error code.
        code: u32,
        /// Error codespace.
        codespace: String,
        /// Error message.
        log: String,
    },
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// Anything else (fee arithmetic, bad options).
    #[error("{0}")]
    Invalid(String),
}

/// An account as the chain reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountInfo {
    /// bech32 address.
    pub address: String,
    /// Account number (signed over).
    pub account_number: u64,
    /// Next sequence to sign with.
    pub sequence: u64,
}

/// The gas limit to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gas {
    /// Simulate, then multiply by the adjustment.
    Auto,
    /// A fixed limit.
    Limit(u64),
}

impl FromStr for Gas {
    type Err = ClientError;
    fn from_str(s: &str) -> Result<Gas, ClientError> {
        if s == "auto" {
            return Ok(Gas::Auto);
        }
        match s.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Gas::Limit(n)),
            _ => Err(ClientError::BadGas(s.to_string())),
        }
    }
}

/// How to sign and pay for a tx.
#[derive(Clone, Debug)]
pub struct TxOptions {
    /// Chain id signed over.
    pub chain_id: String,
    /// Gas limit or `auto`.
    pub gas: Gas,
    /// Multiplier applied to the simulated gas with `Gas::Auto` (e.g. "1.3").
    pub gas_adjustment: Decimal,
    /// Explicit fee; when `None`, the fee is `gas_prices × gas limit`.
    pub fees: Option<Vec<Coin>>,
    /// Gas price `(amount per gas, denom)`; when `None` too, the chain's `min_gas_price`.
    pub gas_prices: Option<(Decimal, String)>,
    /// Memo.
    pub memo: String,
    /// Timeout height (0 = none).
    pub timeout_height: u64,
}

impl TxOptions {
    /// Defaults: gas auto with a 1.3 adjustment, fee from the chain's minimum gas price.
    pub fn new(chain_id: &str) -> TxOptions {
        TxOptions {
            chain_id: chain_id.to_string(),
            gas: Gas::Auto,
            gas_adjustment: Decimal::from_str("1.3").expect("1.3 is a valid decimal literal"),
            fees: None,
            gas_prices: None,
            memo: String::new(),
            timeout_height: 0,
        }
    }
}

/// A signed tx, ready to broadcast.
#[derive(Clone, Debug)]
pub struct SignedTx {
    /// Encoded `TxRaw`.
    pub bytes: Vec<u8>,
    /// SHA-256 of the bytes (the CometBFT tx hash).
    pub hash: [u8; 32],
    /// Gas limit signed.
    pub gas_limit: u64,
    /// Fee signed.
    pub fee: Vec<Coin>,
}

/// Parses `1000ubal` or `10ubal,5stake`.
pub fn parse_coins(s: &str) -> Result<Vec<Coin>, ClientError> {
    let bad = |why: String| ClientError::BadCoins {
        input: s.to_string(),
        why,
    };
    let mut out: Vec<Coin> = Vec::new();
    for part in s.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(bad("empty coin".into()));
        }
        let split = part
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| bad(format!("{part:?} has no denom")))?;
        let (amount, denom) = part.split_at(split);
        if amount.is_empty() {
            return Err(bad(format!("{part:?} has no amount")));
        }
        let n: u128 = amount
            .parse()
            .map_err(|e| bad(format!("amount {amount:?}: {e}")))?;
        if n == 0 {
            return Err(bad(format!("{part:?} is zero")));
        }
        ballast_accounts::validate_denom(denom).map_err(|e| bad(e.to_string()))?;
        if out.iter().any(|c| c.denom == denom) {
            return Err(bad(format!("denom {denom} appears twice")));
        }
        out.push(Coin {
            denom: denom.to_string(),
            amount: n.to_string(),
        });
    }
    out.sort_by(|a, b| a.denom.cmp(&b.denom));
    Ok(out)
}

/// Parses a gas price like `0.025ubal`.
pub fn parse_gas_price(s: &str) -> Result<(Decimal, String), ClientError> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| ClientError::Invalid(format!("gas price {s:?} has no denom")))?;
    let (amount, denom) = s.split_at(split);
    let price = Decimal::from_str(amount)
        .map_err(|e| ClientError::Invalid(format!("gas price {s:?}: {e}")))?;
    ballast_accounts::validate_denom(denom)
        .map_err(|e| ClientError::Invalid(format!("gas price {s:?}: {e}")))?;
    Ok((price, denom.to_string()))
}

/// Runs an ABCI query and returns the value, or the chain's error.
pub async fn abci_query(
    rpc: &CometRpc,
    path: &str,
    data: Vec<u8>,
    height: u64,
) -> Result<Vec<u8>, ClientError> {
    let r = rpc.abci_query(path, data, height, false).await?;
    if r.code.is_err() {
        return Err(ClientError::Query {
            path: path.to_string(),
            code: r.code.value(),
            codespace: r.codespace,
            log: r.log,
        });
    }
    Ok(r.value)
}

fn decode<M: Message + Default>(what: &str, b: &[u8]) -> Result<M, ClientError> {
    M::decode(b).map_err(|e| ClientError::Decode {
        what: what.to_string(),
        why: e.to_string(),
    })
}

/// The account at `address`, or `None` when the chain does not know it.
pub async fn query_account(
    rpc: &CometRpc,
    address: &str,
) -> Result<Option<AccountInfo>, ClientError> {
    let path = "/cosmos.auth.v1beta1.Query/Account";
    let req = QueryAccountRequest {
        address: address.to_string(),
    };
    match abci_query(rpc, path, req.encode_to_vec(), 0).await {
        Ok(v) => {
            let resp: QueryAccountResponse = decode(path, &v)?;
            let any = resp.account.ok_or_else(|| ClientError::Decode {
                what: path.into(),
                why: "no account in the answer".into(),
            })?;
            if any.type_url != "/cosmos.auth.v1beta1.BaseAccount" {
                return Err(ClientError::Decode {
                    what: path.into(),
                    why: format!("unexpected account type {}", any.type_url),
                });
            }
            let acc: BaseAccount = decode(path, &any.value)?;
            Ok(Some(AccountInfo {
                address: acc.address,
                account_number: acc.account_number,
                sequence: acc.sequence,
            }))
        }
        // Cosmos answers an unknown account with sdk code 22 (key not found) or NotFound.
        Err(ClientError::Query { log, .. }) if log.contains("not found") => Ok(None),
        Err(e) => Err(e),
    }
}

/// One balance.
pub async fn query_balance(
    rpc: &CometRpc,
    address: &str,
    denom: &str,
) -> Result<Coin, ClientError> {
    let path = "/cosmos.bank.v1beta1.Query/Balance";
    let req = QueryBalanceRequest {
        address: address.to_string(),
        denom: denom.to_string(),
    };
    let resp: QueryBalanceResponse =
        decode(path, &abci_query(rpc, path, req.encode_to_vec(), 0).await?)?;
    Ok(resp.balance.unwrap_or(Coin {
        denom: denom.to_string(),
        amount: "0".into(),
    }))
}

/// Every balance of an account.
pub async fn query_all_balances(
    rpc: &CometRpc,
    address: &str,
    height: u64,
) -> Result<Vec<Coin>, ClientError> {
    let path = "/cosmos.bank.v1beta1.Query/AllBalances";
    let req = QueryAllBalancesRequest {
        address: address.to_string(),
        pagination: None,
        resolve_denom: false,
    };
    let resp: QueryAllBalancesResponse = decode(
        path,
        &abci_query(rpc, path, req.encode_to_vec(), height).await?,
    )?;
    Ok(resp.balances)
}

/// The chain's minimum gas price and fee denom.
pub async fn query_min_gas_price(rpc: &CometRpc) -> Result<(Decimal, String), ClientError> {
    let path = "/ballast.accounts.v1.Query/Params";
    let resp: accounts_pb::QueryParamsResponse = decode(
        path,
        &abci_query(
            rpc,
            path,
            accounts_pb::QueryParamsRequest {}.encode_to_vec(),
            0,
        )
        .await?,
    )?;
    let p = resp.params.ok_or_else(|| ClientError::Decode {
        what: path.into(),
        why: "no params in the answer".into(),
    })?;
    let price = Decimal::from_str(&p.min_gas_price).map_err(|e| ClientError::Decode {
        what: path.into(),
        why: format!("min_gas_price {:?}: {e}", p.min_gas_price),
    })?;
    Ok((price, p.fee_denom))
}

/// Builds the `TxRaw` bytes. With `sign = false` the signature is empty (for simulation).
#[allow(clippy::too_many_arguments)]
fn encode_tx(
    key: &SigningKey,
    account: &AccountInfo,
    msgs: &[Any],
    fee: &[Coin],
    gas_limit: u64,
    opts: &TxOptions,
    sign: bool,
) -> Result<Vec<u8>, ClientError> {
    let sig_err = |e: cosmrs::ErrorReport| ClientError::Sign(e.to_string());
    let body = cosmrs::tx::Body::new(
        msgs.iter()
            .map(|m| cosmrs::Any {
                type_url: m.type_url.clone(),
                value: m.value.clone(),
            })
            .collect::<Vec<_>>(),
        opts.memo.clone(),
        u32::try_from(opts.timeout_height).map_err(|_| {
            ClientError::Invalid(format!(
                "timeout height {} is too large",
                opts.timeout_height
            ))
        })?,
    );
    let coins = fee
        .iter()
        .map(|c| {
            Ok(cosmrs::Coin {
                denom: c.denom.parse().map_err(sig_err)?,
                amount: c
                    .amount
                    .parse()
                    .map_err(|e| ClientError::Invalid(format!("fee amount: {e}")))?,
            })
        })
        .collect::<Result<Vec<_>, ClientError>>()?;
    let fee = cosmrs::tx::Fee {
        amount: coins,
        gas_limit,
        payer: None,
        granter: None,
    };
    let auth = cosmrs::tx::SignerInfo::single_direct(Some(key.public_key()), account.sequence)
        .auth_info(fee);
    let chain_id: cosmrs::tendermint::chain::Id = opts
        .chain_id
        .parse()
        .map_err(|e| ClientError::Invalid(format!("chain id {:?}: {e}", opts.chain_id)))?;
    let doc = cosmrs::tx::SignDoc::new(&body, &auth, &chain_id, account.account_number)
        .map_err(sig_err)?;
    if sign {
        doc.sign(key).map_err(sig_err)?.to_bytes().map_err(sig_err)
    } else {
        Ok(TxRaw {
            body_bytes: doc.body_bytes,
            auth_info_bytes: doc.auth_info_bytes,
            signatures: vec![Vec::new()],
        }
        .encode_to_vec())
    }
}

/// Simulates `tx_bytes` (signature may be empty) and returns the gas it used.
pub async fn simulate(rpc: &CometRpc, tx_bytes: Vec<u8>) -> Result<u64, ClientError> {
    let path = "/cosmos.tx.v1beta1.Service/Simulate";
    #[allow(deprecated)] // `tx` is deprecated in favour of `tx_bytes`, but still a field.
    let req = SimulateRequest { tx: None, tx_bytes };
    let value = match abci_query(rpc, path, req.encode_to_vec(), 0).await {
        Ok(v) => v,
        Err(ClientError::Query {
            code,
            codespace,
            log,
            ..
        }) => {
            return Err(ClientError::Simulate {
                code,
                codespace,
                log,
            })
        }
        Err(e) => return Err(e),
    };
    let resp: SimulateResponse = decode(path, &value)?;
    Ok(resp.gas_info.map(|g| g.gas_used).unwrap_or(0))
}

/// Looks up the signer's account, settles gas and fee (simulating if asked), and signs.
pub async fn build_and_sign(
    rpc: &CometRpc,
    key: &SigningKey,
    msgs: Vec<Any>,
    opts: &TxOptions,
) -> Result<SignedTx, ClientError> {
    let address = ballast_accounts::pubkey_address(&key.public_key().to_bytes()).to_string();
    let account = query_account(rpc, &address)
        .await?
        .ok_or_else(|| ClientError::AccountNotFound(address.clone()))?;
    let price = match (&opts.fees, &opts.gas_prices) {
        (Some(_), _) => None,
        (None, Some(p)) => Some(p.clone()),
        (None, None) => Some(query_min_gas_price(rpc).await?),
    };
    let gas_limit = match opts.gas {
        Gas::Limit(n) => n,
        Gas::Auto => {
            // Simulate with a generous limit and no fee; the chain charges the signature check.
            let probe = encode_tx(key, &account, &msgs, &[], 0, opts, false)?;
            let used = simulate(rpc, probe).await?;
            let adjusted = opts
                .gas_adjustment
                .mul_int_ceil(u128::from(used))
                .map_err(|e| ClientError::Invalid(format!("gas adjustment: {e}")))?;
            u64::try_from(adjusted)
                .map_err(|_| ClientError::Invalid(format!("adjusted gas {adjusted} overflows")))?
        }
    };
    let fee = match (&opts.fees, price) {
        (Some(f), _) => f.clone(),
        (None, Some((p, denom))) => {
            let amount = p
                .mul_int_ceil(u128::from(gas_limit))
                .map_err(|e| ClientError::Invalid(format!("fee: {e}")))?;
            if amount == 0 {
                Vec::new()
            } else {
                vec![Coin {
                    denom,
                    amount: amount.to_string(),
                }]
            }
        }
        (None, None) => Vec::new(),
    };
    let bytes = encode_tx(key, &account, &msgs, &fee, gas_limit, opts, true)?;
    Ok(SignedTx {
        hash: Sha256::digest(&bytes).into(),
        bytes,
        gas_limit,
        fee,
    })
}

/// The outcome of a broadcast, as `ballastd tx` reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TxOutcome {
    /// Upper-case hex hash.
    pub txhash: String,
    /// 0 on success.
    pub code: u32,
    /// Error codespace.
    pub codespace: String,
    /// Error or result log.
    pub raw_log: String,
    /// Height (0 unless the tx was waited for).
    pub height: u64,
    /// Gas limit.
    pub gas_wanted: i64,
    /// Gas used.
    pub gas_used: i64,
}

/// Broadcasts with `broadcast_tx_sync`; with `wait`, then polls until the tx is in a block.
pub async fn broadcast(
    rpc: &CometRpc,
    tx: &SignedTx,
    wait: Option<Duration>,
) -> Result<TxOutcome, ClientError> {
    let r = rpc.broadcast_tx_sync(tx.bytes.clone()).await?;
    let mut out = TxOutcome {
        txhash: hex::encode_upper(tx.hash),
        code: r.code.value(),
        codespace: r.codespace.clone(),
        raw_log: r.log.clone(),
        height: 0,
        gas_wanted: i64::try_from(tx.gas_limit).unwrap_or(i64::MAX),
        gas_used: 0,
    };
    if r.code.is_err() {
        return Ok(out);
    }
    if let Some(timeout) = wait {
        let d = rpc.wait_for_tx(tx.hash, timeout).await?;
        out.code = d.tx_result.code.value();
        out.codespace = d.tx_result.codespace.clone();
        out.raw_log = d.tx_result.log.clone();
        out.height = d.height.value();
        out.gas_wanted = d.tx_result.gas_wanted;
        out.gas_used = d.tx_result.gas_used;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coins_parse_sorted_and_reject_garbage() {
        let c = parse_coins("5stake,10ubal").unwrap();
        assert_eq!(
            c.iter()
                .map(|c| format!("{}{}", c.amount, c.denom))
                .collect::<Vec<_>>(),
            vec!["5stake", "10ubal"]
        );
        for bad in [
            "",
            "ubal",
            "10",
            "0ubal",
            "10ubal,",
            "1ubal,2ubal",
            "-1ubal",
            "1u bal",
        ] {
            assert!(parse_coins(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn gas_and_gas_prices_parse() {
        assert_eq!(Gas::from_str("auto").unwrap(), Gas::Auto);
        assert_eq!(Gas::from_str("200000").unwrap(), Gas::Limit(200_000));
        assert!(Gas::from_str("0").is_err());
        assert!(Gas::from_str("lots").is_err());
        let (p, d) = parse_gas_price("0.025ubal").unwrap();
        assert_eq!(d, "ubal");
        assert_eq!(p.mul_int_ceil(200_000).unwrap(), 5_000);
        assert!(parse_gas_price("0.025").is_err());
        assert!(parse_gas_price("x.1ubal").is_err());
    }
}
