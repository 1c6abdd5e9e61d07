//! bitcoind's JSON-RPC, as the vigilante uses it.
//!
//! Calls go to the wallet endpoint (`<rpc_url>/wallet/<wallet>`), which also serves every node
//! call. `bitcoincore-rpc` is blocking, so each call runs on tokio's blocking pool. The client
//! is rebuilt after a transport error, so a restarted bitcoind (with a new cookie) is picked up,
//! and a wallet that is not loaded (after a bitcoind restart) is loaded once and the call
//! retried.

use crate::chain::BtcChain;
use crate::config::BitcoinAuth;
use bitcoin::{Amount, Block, BlockHash, ScriptBuf, Transaction, Txid};
use bitcoincore_rpc::{Auth, Client, RpcApi};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the wallet may stay unloaded (after a bitcoind restart) before the vigilante loads
/// it itself.
pub const WALLET_LOAD_GRACE: Duration = Duration::from_secs(5);

/// bitcoind's "Invalid address or key" (unknown tx or block).
pub const RPC_INVALID_ADDRESS_OR_KEY: i32 = -5;
/// bitcoind's "Invalid parameter" (e.g. a height above the tip).
pub const RPC_INVALID_PARAMETER: i32 = -8;
/// bitcoind's "Wallet not found" (not loaded).
pub const RPC_WALLET_NOT_FOUND: i32 = -18;
/// bitcoind's "Transaction already in block chain".
pub const RPC_VERIFY_ALREADY_IN_CHAIN: i32 = -27;
/// bitcoind's "Transaction rejected by network rules".
pub const RPC_VERIFY_REJECTED: i32 = -26;
/// bitcoind's "General error during transaction submission" (e.g. missing inputs).
pub const RPC_VERIFY_ERROR: i32 = -25;

/// Why a bitcoind call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BtcError {
    /// bitcoind could not be reached (down, restarting, wrong URL or credentials).
    #[error("cannot reach bitcoind at {url}: {message}")]
    Unreachable {
        /// The URL.
        url: String,
        /// The transport error.
        message: String,
    },
    /// bitcoind answered with an error.
    #[error("bitcoind {method} failed: {message} (code {code})")]
    Rpc {
        /// The RPC method.
        method: &'static str,
        /// bitcoind's error code.
        code: i32,
        /// bitcoind's message.
        message: String,
    },
    /// bitcoind's answer was not what was expected.
    #[error("bitcoind {method} answered unexpectedly: {message}")]
    Unexpected {
        /// The RPC method.
        method: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl BtcError {
    /// The bitcoind error code, for RPC errors.
    pub fn code(&self) -> Option<i32> {
        match self {
            BtcError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the node could not be reached (worth retrying later).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, BtcError::Unreachable { .. })
    }
}

fn unexpected(method: &'static str, message: impl Into<String>) -> BtcError {
    BtcError::Unexpected {
        method,
        message: message.into(),
    }
}

/// Where a transaction is, as far as bitcoind knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxState {
    /// In the mempool.
    Mempool,
    /// In a block of the best chain.
    Confirmed {
        /// The block.
        block: BlockHash,
        /// Its confirmations (1 = in the tip).
        confirmations: u64,
    },
    /// A conflicting transaction is confirmed: this one can never confirm.
    Conflicted,
    /// Neither in the mempool nor in the best chain (dropped, evicted, never sent).
    Missing,
}

impl TxState {
    /// In the mempool or in the best chain.
    pub fn is_alive(self) -> bool {
        matches!(self, TxState::Mempool | TxState::Confirmed { .. })
    }
}

/// What `fundrawtransaction` returned.
#[derive(Clone, Debug)]
pub struct Funded {
    /// The funded, unsigned transaction.
    pub tx: Transaction,
    /// The fee it pays.
    pub fee: Amount,
    /// The change output's index, if one was added.
    pub change_index: Option<u32>,
}

/// A bitcoind JSON-RPC client bound to one wallet.
pub struct BtcRpc {
    url: String,
    base_url: String,
    wallet: String,
    auth: BitcoinAuth,
    network: bitcoin::Network,
    client: Mutex<Option<Arc<Client>>>,
    wallet_missing_since: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for BtcRpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BtcRpc")
            .field("url", &self.url)
            .field("network", &self.network)
            .finish()
    }
}

/// Parses a JSON number of BTC (as bitcoind writes amounts) exactly, from its decimal text
/// (serde_json may print it in exponent form, such as `6.24e-6`).
pub fn btc_amount(v: &Value) -> Option<Amount> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    decimal_btc_to_sat(&text).map(Amount::from_sat)
}

/// `text` (BTC, plain or exponent notation, non-negative) in satoshis; `None` if it is not a
/// whole number of satoshis or does not fit.
pub fn decimal_btc_to_sat(text: &str) -> Option<u64> {
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    // digits × 10^(exp + 8 - frac.len()) satoshis.
    let digits = format!("{int}{frac}");
    let shift = exp
        .checked_add(8)?
        .checked_sub(i32::try_from(frac.len()).ok()?)?;
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Some(0);
    }
    if shift >= 0 {
        let base: u64 = digits.parse().ok()?;
        base.checked_mul(10u64.checked_pow(u32::try_from(shift).ok()?)?)
    } else {
        let cut = usize::try_from(-shift).ok()?;
        if cut >= digits.len() {
            return None;
        }
        let (whole, rest) = digits.split_at(digits.len() - cut);
        if !rest.bytes().all(|b| b == b'0') {
            return None;
        }
        whole.parse().ok()
    }
}

fn hex_of(tx: &Transaction) -> String {
    bitcoin::consensus::encode::serialize_hex(tx)
}

fn decode_tx(method: &'static str, hex_str: &str) -> Result<Transaction, BtcError> {
    let bytes = hex::decode(hex_str).map_err(|e| unexpected(method, format!("tx hex: {e}")))?;
    bitcoin::consensus::deserialize(&bytes).map_err(|e| unexpected(method, format!("tx: {e}")))
}

impl BtcRpc {
    /// A client for `rpc_url` and `wallet`. Nothing is contacted yet.
    pub fn new(rpc_url: &str, wallet: &str, auth: BitcoinAuth, network: bitcoin::Network) -> Self {
        let base_url = rpc_url.trim_end_matches('/').to_string();
        BtcRpc {
            url: format!("{base_url}/wallet/{wallet}"),
            base_url,
            wallet: wallet.to_string(),
            auth,
            network,
            client: Mutex::new(None),
            wallet_missing_since: Mutex::new(None),
        }
    }

    /// The network addresses are parsed for.
    pub fn network(&self) -> bitcoin::Network {
        self.network
    }

    fn client_for(&self, url: &str) -> Result<Client, BtcError> {
        let auth = match &self.auth {
            BitcoinAuth::UserPass(u, p) => Auth::UserPass(u.clone(), p.clone()),
            BitcoinAuth::Cookie(path) => Auth::CookieFile(path.clone()),
        };
        Client::new(url, auth).map_err(|e| BtcError::Unreachable {
            url: url.to_string(),
            message: e.to_string(),
        })
    }

    fn client(&self) -> Result<Arc<Client>, BtcError> {
        let mut guard = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let c = Arc::new(self.client_for(&self.url)?);
        *guard = Some(c.clone());
        Ok(c)
    }

    fn reset(&self) {
        *self.client.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn classify(&self, method: &'static str, e: bitcoincore_rpc::Error) -> BtcError {
        use bitcoincore_rpc::jsonrpc::error::Error as JErr;
        match e {
            bitcoincore_rpc::Error::JsonRpc(JErr::Rpc(r)) => BtcError::Rpc {
                method,
                code: r.code,
                message: r.message,
            },
            bitcoincore_rpc::Error::JsonRpc(JErr::Json(e)) => unexpected(method, e.to_string()),
            bitcoincore_rpc::Error::Json(e) => unexpected(method, e.to_string()),
            other => BtcError::Unreachable {
                url: self.url.clone(),
                message: other.to_string(),
            },
        }
    }

    fn call_blocking<T: DeserializeOwned>(
        &self,
        method: &'static str,
        args: &[Value],
    ) -> Result<T, BtcError> {
        let mut loaded_wallet = false;
        loop {
            let client = self.client()?;
            match client.call::<T>(method, args) {
                Ok(v) => {
                    *self.lock_missing() = None;
                    return Ok(v);
                }
                Err(e) => {
                    let err = self.classify(method, e);
                    if err.is_unreachable() {
                        self.reset();
                    }
                    if err.code() == Some(RPC_WALLET_NOT_FOUND) && !loaded_wallet {
                        // Whoever restarted bitcoind usually loads the wallet at once; load it
                        // only once it has stayed unloaded for a while, so as not to race them.
                        let since = *self.lock_missing().get_or_insert_with(Instant::now);
                        if since.elapsed() >= WALLET_LOAD_GRACE {
                            loaded_wallet = true;
                            self.load_wallet_blocking()?;
                            continue;
                        }
                    }
                    return Err(err);
                }
            }
        }
    }

    fn lock_missing(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.wallet_missing_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn load_wallet_blocking(&self) -> Result<(), BtcError> {
        let base = self.client_for(&self.base_url)?;
        match base.call::<Value>("loadwallet", &[json!(self.wallet)]) {
            Ok(_) => {
                tracing::info!(wallet = %self.wallet, "loaded the bitcoind wallet");
                Ok(())
            }
            Err(e) => {
                let err = self.classify("loadwallet", e);
                // Loaded (-35) or being loaded (-4) by someone else meanwhile: fine.
                if let BtcError::Rpc { message, .. } = &err {
                    if message.contains("already loaded") || message.contains("already loading") {
                        return Ok(());
                    }
                }
                Err(err)
            }
        }
    }

    /// One raw call, on the blocking pool.
    pub async fn call<T: DeserializeOwned + Send + 'static>(
        self: &Arc<Self>,
        method: &'static str,
        args: Vec<Value>,
    ) -> Result<T, BtcError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.call_blocking::<T>(method, &args))
            .await
            .map_err(|e| unexpected(method, format!("the RPC task failed: {e}")))?
    }

    /// `getblockchaininfo`: (chain name, height, best block hash).
    pub async fn chain_info(self: &Arc<Self>) -> Result<(String, u64, BlockHash), BtcError> {
        let v: Value = self.call("getblockchaininfo", vec![]).await?;
        let chain = v["chain"].as_str().unwrap_or_default().to_string();
        let height = v["blocks"]
            .as_u64()
            .ok_or_else(|| unexpected("getblockchaininfo", "no blocks"))?;
        let best = v["bestblockhash"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| unexpected("getblockchaininfo", "no bestblockhash"))?;
        Ok((chain, height, best))
    }

    /// `getblockcount`.
    pub async fn height(self: &Arc<Self>) -> Result<u64, BtcError> {
        self.call("getblockcount", vec![]).await
    }

    /// `getblockhash`, `None` above the tip.
    pub async fn block_hash(self: &Arc<Self>, height: u64) -> Result<Option<BlockHash>, BtcError> {
        match self
            .call::<String>("getblockhash", vec![json!(height)])
            .await
        {
            Ok(s) => s
                .parse()
                .map(Some)
                .map_err(|_| unexpected("getblockhash", format!("bad hash {s:?}"))),
            Err(e) if e.code() == Some(RPC_INVALID_PARAMETER) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The raw 80-byte header of `hash`.
    pub async fn header_bytes(self: &Arc<Self>, hash: BlockHash) -> Result<Vec<u8>, BtcError> {
        let s: String = self
            .call(
                "getblockheader",
                vec![json!(hash.to_string()), json!(false)],
            )
            .await?;
        let b = hex::decode(&s).map_err(|e| unexpected("getblockheader", e.to_string()))?;
        if b.len() != 80 {
            return Err(unexpected(
                "getblockheader",
                format!("expected 80 bytes, found {}", b.len()),
            ));
        }
        Ok(b)
    }

    /// The whole block.
    pub async fn get_block(self: &Arc<Self>, hash: BlockHash) -> Result<Block, BtcError> {
        let s: String = self
            .call("getblock", vec![json!(hash.to_string()), json!(0)])
            .await?;
        let b = hex::decode(&s).map_err(|e| unexpected("getblock", e.to_string()))?;
        bitcoin::consensus::deserialize(&b).map_err(|e| unexpected("getblock", e.to_string()))
    }

    /// A new change address of the wallet, as an output script (bech32, so sizes are known).
    pub async fn change_script(self: &Arc<Self>) -> Result<ScriptBuf, BtcError> {
        let s: String = self
            .call("getrawchangeaddress", vec![json!("bech32")])
            .await?;
        let addr: bitcoin::Address<bitcoin::address::NetworkUnchecked> = s
            .parse()
            .map_err(|e| unexpected("getrawchangeaddress", format!("{s}: {e}")))?;
        let addr = addr
            .require_network(self.network)
            .map_err(|e| unexpected("getrawchangeaddress", format!("{s}: {e}")))?;
        Ok(addr.script_pubkey())
    }

    /// `fundrawtransaction` of an input-less template: wallet coins with at least `minconf`
    /// confirmations, change at the end (bech32), BIP125 signalled, the chosen coins locked.
    pub async fn fund(
        self: &Arc<Self>,
        template: &Transaction,
        fee_rate_sat_vb: u64,
        minconf: u64,
    ) -> Result<Funded, BtcError> {
        let raw = hex::encode(crate::txbuild::serialize_no_witness(template));
        let options = json!({
            "fee_rate": fee_rate_sat_vb,
            "replaceable": true,
            "lockUnspents": true,
            "add_inputs": true,
            "minconf": minconf,
            "changePosition": template.output.len(),
            "change_type": "bech32",
        });
        let v: Value = self
            .call(
                "fundrawtransaction",
                vec![json!(raw), options, json!(false)],
            )
            .await?;
        let tx = decode_tx("fundrawtransaction", v["hex"].as_str().unwrap_or_default())?;
        let fee =
            btc_amount(&v["fee"]).ok_or_else(|| unexpected("fundrawtransaction", "no fee"))?;
        let change_index = v["changepos"].as_i64().and_then(|i| u32::try_from(i).ok());
        Ok(Funded {
            tx,
            fee,
            change_index,
        })
    }

    /// `signrawtransactionwithwallet`, with the previous outputs the wallet may not know yet
    /// (`(txid, vout, script, amount)`). Fails unless every input is signed.
    pub async fn sign(
        self: &Arc<Self>,
        tx: &Transaction,
        prevouts: &[(Txid, u32, ScriptBuf, Amount)],
    ) -> Result<Transaction, BtcError> {
        let prev: Vec<Value> = prevouts
            .iter()
            .map(|(txid, vout, script, amount)| {
                json!({
                    "txid": txid.to_string(),
                    "vout": vout,
                    "scriptPubKey": hex::encode(script.as_bytes()),
                    "amount": amount.to_string_in(bitcoin::Denomination::Bitcoin),
                })
            })
            .collect();
        let v: Value = self
            .call(
                "signrawtransactionwithwallet",
                vec![json!(hex_of(tx)), json!(prev)],
            )
            .await?;
        if v["complete"] != json!(true) {
            return Err(unexpected(
                "signrawtransactionwithwallet",
                format!("incomplete signature: {}", v["errors"]),
            ));
        }
        decode_tx(
            "signrawtransactionwithwallet",
            v["hex"].as_str().unwrap_or_default(),
        )
    }

    /// `sendrawtransaction`. A tx already in the mempool or in the chain counts as sent.
    pub async fn send(self: &Arc<Self>, tx: &Transaction) -> Result<Txid, BtcError> {
        match self
            .call::<String>("sendrawtransaction", vec![json!(hex_of(tx))])
            .await
        {
            Ok(_) => Ok(tx.compute_txid()),
            Err(BtcError::Rpc { code, message, .. })
                if code == RPC_VERIFY_ALREADY_IN_CHAIN
                    || message.contains("already in the mempool")
                    || message.contains("txn-already-in-mempool")
                    || message.contains("txn-already-known") =>
            {
                Ok(tx.compute_txid())
            }
            Err(e) => Err(e),
        }
    }

    /// Where `txid` is: mempool, best chain, conflicted or missing. Uses the mempool and the
    /// wallet, and falls back to `getrawtransaction` for txs the wallet does not know.
    pub async fn tx_state(self: &Arc<Self>, txid: Txid) -> Result<TxState, BtcError> {
        match self
            .call::<Value>("getmempoolentry", vec![json!(txid.to_string())])
            .await
        {
            Ok(_) => return Ok(TxState::Mempool),
            Err(e) if e.code() == Some(RPC_INVALID_ADDRESS_OR_KEY) => {}
            Err(e) => return Err(e),
        }
        match self
            .call::<Value>("gettransaction", vec![json!(txid.to_string())])
            .await
        {
            Ok(v) => {
                let confirmations = v["confirmations"].as_i64().unwrap_or(0);
                if confirmations > 0 {
                    let block = v["blockhash"]
                        .as_str()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| unexpected("gettransaction", "no blockhash"))?;
                    return Ok(TxState::Confirmed {
                        block,
                        confirmations: confirmations.unsigned_abs(),
                    });
                }
                if confirmations < 0 {
                    return Ok(TxState::Conflicted);
                }
                Ok(TxState::Missing)
            }
            Err(e) if e.code() == Some(RPC_INVALID_ADDRESS_OR_KEY) => {
                match self
                    .call::<Value>(
                        "getrawtransaction",
                        vec![json!(txid.to_string()), json!(true)],
                    )
                    .await
                {
                    Ok(v) => match (v["confirmations"].as_u64(), v["blockhash"].as_str()) {
                        (Some(c), Some(b)) if c > 0 => Ok(TxState::Confirmed {
                            block: b
                                .parse()
                                .map_err(|_| unexpected("getrawtransaction", "bad blockhash"))?,
                            confirmations: c,
                        }),
                        _ => Ok(TxState::Missing),
                    },
                    Err(e) if e.code() == Some(RPC_INVALID_ADDRESS_OR_KEY) => Ok(TxState::Missing),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Whether `outpoint` is unspent: in the UTXO set, and (with `include_mempool`) not spent
    /// by a mempool tx.
    pub async fn is_unspent(
        self: &Arc<Self>,
        outpoint: bitcoin::OutPoint,
        include_mempool: bool,
    ) -> Result<bool, BtcError> {
        let v: Value = self
            .call(
                "gettxout",
                vec![
                    json!(outpoint.txid.to_string()),
                    json!(outpoint.vout),
                    json!(include_mempool),
                ],
            )
            .await?;
        Ok(!v.is_null())
    }

    /// Whether some input of `tx` is spent for good: its funding tx is in the best chain but
    /// the output is no longer in the UTXO set. An input whose funding tx is not in the chain
    /// (bitcoind lost blocks, or a reorg removed them) is *not* spent for good: that tx may
    /// come back, and with it `tx`.
    pub async fn has_input_spent_in_chain(
        self: &Arc<Self>,
        tx: &Transaction,
    ) -> Result<bool, BtcError> {
        for input in &tx.input {
            let funding = self.tx_state(input.previous_output.txid).await?;
            if matches!(funding, TxState::Confirmed { .. })
                && !self.is_unspent(input.previous_output, false).await?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Unlocks coins locked by [`fund`](Self::fund) for a tx that will not be sent.
    pub async fn unlock(self: &Arc<Self>, tx: &Transaction) -> Result<(), BtcError> {
        let outs: Vec<Value> = tx
            .input
            .iter()
            .map(|i| {
                json!({"txid": i.previous_output.txid.to_string(), "vout": i.previous_output.vout})
            })
            .collect();
        self.call::<Value>("lockunspent", vec![json!(true), json!(outs)])
            .await
            .map(|_| ())
    }

    /// Locks the wallet coins `tx` spends, so that the wallet funds nothing else with them
    /// (`lockunspent`, one coin at a time; coins already spent or unknown are skipped).
    /// Returns how many are locked now.
    pub async fn lock_inputs(self: &Arc<Self>, tx: &Transaction) -> Result<usize, BtcError> {
        let mut locked = 0;
        for i in &tx.input {
            let out = json!([{"txid": i.previous_output.txid.to_string(), "vout": i.previous_output.vout}]);
            match self
                .call::<Value>("lockunspent", vec![json!(false), out])
                .await
            {
                Ok(_) => locked += 1,
                Err(BtcError::Rpc { message, .. }) if message.contains("already locked") => {
                    locked += 1
                }
                // Spent, or not a wallet coin: nothing to keep.
                Err(e) if e.code() == Some(RPC_INVALID_PARAMETER) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(locked)
    }
}

/// Hands bitcoind's best chain to the reporter's searches.
#[derive(Clone, Debug)]
pub struct BtcChainView(pub Arc<BtcRpc>);

impl BtcChain for BtcChainView {
    type Error = BtcError;

    async fn best(&self) -> Result<(u64, BlockHash), BtcError> {
        let (_, h, best) = self.0.chain_info().await?;
        Ok((h, best))
    }

    async fn hash_at(&self, height: u64) -> Result<Option<BlockHash>, BtcError> {
        self.0.block_hash(height).await
    }

    async fn block(&self, hash: BlockHash) -> Result<Block, BtcError> {
        self.0.get_block(hash).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_exactly_from_their_decimal_text() {
        let v: Value =
            serde_json::from_str("{\"fee\": 0.00000624, \"big\": 20999999.9769}").unwrap();
        assert_eq!(btc_amount(&v["fee"]), Some(Amount::from_sat(624)));
        for (text, sat) in [
            ("6.24e-6", Some(624)),
            ("1E-8", Some(1)),
            ("50", Some(5_000_000_000)),
            ("0.0000", Some(0)),
            ("1.5e2", Some(15_000_000_000)),
            ("1e-9", None),
            ("0.123456789", None),
            ("-1", None),
            ("abc", None),
            ("", None),
        ] {
            assert_eq!(decimal_btc_to_sat(text), sat, "{text}");
        }
        assert_eq!(
            btc_amount(&v["big"]),
            Some(Amount::from_sat(2_099_999_997_690_000))
        );
        assert_eq!(
            btc_amount(&json!("0.1")),
            Some(Amount::from_sat(10_000_000))
        );
        assert_eq!(btc_amount(&json!(null)), None);
    }
}
