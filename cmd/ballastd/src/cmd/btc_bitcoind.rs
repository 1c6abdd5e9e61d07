//! The staker commands' connection to bitcoind: the `--bitcoin-*` flags and the few calls they
//! make, on top of the vigilante's JSON-RPC client (`ballast_vigilante::btc::BtcRpc`).

use anyhow::{anyhow, bail, Context};
use ballast_vigilante::btc::{BtcError, BtcRpc, RPC_INVALID_ADDRESS_OR_KEY};
use ballast_vigilante::config::BitcoinAuth;
use bitcoin::{Block, BlockHash, Network, OutPoint, Transaction, Txid};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// Where bitcoind is and how to log in.
#[derive(clap::Args, Clone, Debug)]
pub struct BitcoindFlags {
    /// bitcoind JSON-RPC URL, without the wallet path.
    #[arg(long, default_value = "http://127.0.0.1:8332")]
    pub bitcoin_rpc_url: String,
    /// bitcoind wallet: it funds and signs the staking tx (`btc stake`) and is asked first for
    /// the block of a tx; other calls go to the node.
    #[arg(long, default_value = "")]
    pub bitcoin_wallet: String,
    /// RPC user (with --bitcoin-rpc-password).
    #[arg(long)]
    pub bitcoin_rpc_user: Option<String>,
    /// RPC password (default: $BITCOIN_RPC_PASSWORD).
    #[arg(long)]
    pub bitcoin_rpc_password: Option<String>,
    /// bitcoind's `.cookie` file, instead of a user and password.
    #[arg(long)]
    pub bitcoin_rpc_cookie: Option<PathBuf>,
}

impl BitcoindFlags {
    fn auth(&self) -> anyhow::Result<BitcoinAuth> {
        match (&self.bitcoin_rpc_user, &self.bitcoin_rpc_cookie) {
            (Some(_), Some(_)) => {
                bail!("give either --bitcoin-rpc-user/--bitcoin-rpc-password or --bitcoin-rpc-cookie, not both")
            }
            (Some(user), None) => {
                let password = match &self.bitcoin_rpc_password {
                    Some(p) => p.clone(),
                    None => std::env::var("BITCOIN_RPC_PASSWORD").map_err(|_| {
                        anyhow!(
                            "--bitcoin-rpc-user needs --bitcoin-rpc-password (or \
                             $BITCOIN_RPC_PASSWORD)"
                        )
                    })?,
                };
                Ok(BitcoinAuth::UserPass(user.clone(), password))
            }
            (None, Some(cookie)) => Ok(BitcoinAuth::Cookie(cookie.clone())),
            (None, None) => bail!(
                "no bitcoind credentials: expected --bitcoin-rpc-user and --bitcoin-rpc-password, \
                 or --bitcoin-rpc-cookie"
            ),
        }
    }

    /// Connects, and reads the node's network.
    pub async fn connect(&self) -> anyhow::Result<Bitcoind> {
        let auth = self.auth()?;
        // The network only matters for addresses; it is read from the node before use.
        let probe = Arc::new(BtcRpc::new(
            &self.bitcoin_rpc_url,
            &self.bitcoin_wallet,
            auth.clone(),
            Network::Regtest,
        ));
        let (chain, _, _) = probe.chain_info().await.map_err(explain)?;
        let network = Network::from_core_arg(&chain)
            .map_err(|_| anyhow!("bitcoind runs an unknown chain {:?}", chain))?;
        Ok(Bitcoind {
            rpc: Arc::new(BtcRpc::new(
                &self.bitcoin_rpc_url,
                &self.bitcoin_wallet,
                auth,
                network,
            )),
            network,
            wallet: self.bitcoin_wallet.clone(),
        })
    }
}

/// Adds what to check to an error reaching bitcoind.
fn explain(e: BtcError) -> anyhow::Error {
    if e.is_unreachable() {
        anyhow!("{e} (check --bitcoin-rpc-url and the credentials)")
    } else {
        anyhow!(e)
    }
}

/// A connected bitcoind.
pub struct Bitcoind {
    /// The client.
    pub rpc: Arc<BtcRpc>,
    /// The node's network.
    pub network: Network,
    wallet: String,
}

impl Bitcoind {
    /// Lets the wallet add inputs and change to `template` (`fundrawtransaction`; change after
    /// the template's outputs, coins locked), then signs it (`signrawtransactionwithwallet`).
    /// Without `fee_rate_sat_vb`, the wallet's own fee estimate is used.
    pub async fn fund_and_sign(
        &self,
        template: &Transaction,
        fee_rate_sat_vb: Option<u64>,
    ) -> anyhow::Result<Transaction> {
        if self.wallet.is_empty() {
            bail!("--bitcoin-wallet is needed: the wallet funds and signs the staking tx");
        }
        let raw = hex::encode(ballast_vigilante::txbuild::serialize_no_witness(template));
        let mut options = json!({
            "lockUnspents": true,
            "changePosition": template.output.len(),
            "change_type": "bech32",
        });
        if let Some(rate) = fee_rate_sat_vb {
            options["fee_rate"] = json!(rate);
        }
        let v: Value = self
            .rpc
            .call(
                "fundrawtransaction",
                vec![json!(raw), options, json!(false)],
            )
            .await
            .map_err(explain)?;
        let hex_tx = v["hex"]
            .as_str()
            .context("fundrawtransaction returned no hex")?;
        let funded: Transaction = bitcoin::consensus::encode::deserialize_hex(hex_tx)
            .context("fundrawtransaction returned a tx that does not decode")?;
        match self.rpc.sign(&funded, &[]).await {
            Ok(tx) => Ok(tx),
            Err(e) => {
                // Do not leave the wallet's coins locked for a tx that will not be sent.
                let _ = self.rpc.unlock(&funded).await;
                Err(explain(e))
            }
        }
    }

    /// Unlocks the coins a funded tx locked (when it will not be sent).
    pub async fn unlock(&self, tx: &Transaction) {
        if let Err(e) = self.rpc.unlock(tx).await {
            eprintln!("warning: could not unlock the wallet's coins: {e}");
        }
    }

    /// `sendrawtransaction` (a tx already in the mempool or chain counts as sent).
    pub async fn send(&self, tx: &Transaction) -> anyhow::Result<Txid> {
        self.rpc
            .send(tx)
            .await
            .map_err(|e| anyhow!("bitcoind refused tx {}: {e}", tx.compute_txid()))
    }

    /// The confirmations of an unspent output (0 in the mempool), `None` when it is spent
    /// (in the chain or the mempool) or unknown.
    pub async fn unspent_confirmations(&self, outpoint: OutPoint) -> anyhow::Result<Option<u64>> {
        let v: Value = self
            .rpc
            .call(
                "gettxout",
                vec![
                    json!(outpoint.txid.to_string()),
                    json!(outpoint.vout),
                    json!(true),
                ],
            )
            .await
            .map_err(explain)?;
        if v.is_null() {
            return Ok(None);
        }
        Ok(Some(v["confirmations"].as_u64().unwrap_or(0)))
    }

    /// The best-chain block holding `txid`: asked of the wallet (when one is named), then of
    /// the node (`getrawtransaction`, which needs -txindex for txs outside the mempool and
    /// the wallet). `None` when the tx is known but not in a block yet.
    pub async fn block_of_tx(&self, txid: Txid) -> anyhow::Result<Option<BlockHash>> {
        if !self.wallet.is_empty() {
            match self
                .rpc
                .call::<Value>("gettransaction", vec![json!(txid.to_string())])
                .await
            {
                Ok(v) => return Ok(block_hash_field(&v)),
                Err(e) if e.code() == Some(RPC_INVALID_ADDRESS_OR_KEY) => {}
                Err(e) => return Err(explain(e)),
            }
        }
        match self
            .rpc
            .call::<Value>(
                "getrawtransaction",
                vec![json!(txid.to_string()), json!(true)],
            )
            .await
        {
            Ok(v) => Ok(block_hash_field(&v)),
            Err(e) if e.code() == Some(RPC_INVALID_ADDRESS_OR_KEY) => bail!(
                "bitcoind does not know tx {txid}: pass --block-hash, name a wallet that has it \
                 (--bitcoin-wallet), or run bitcoind with -txindex"
            ),
            Err(e) => Err(explain(e)),
        }
    }

    /// The whole block.
    pub async fn block(&self, hash: BlockHash) -> anyhow::Result<Block> {
        self.rpc.get_block(hash).await.map_err(explain)
    }
}

/// `blockhash` of a `gettransaction`/`getrawtransaction` answer with confirmations.
fn block_hash_field(v: &Value) -> Option<BlockHash> {
    if v["confirmations"].as_i64().unwrap_or(0) <= 0 {
        return None;
    }
    v["blockhash"].as_str().and_then(|s| s.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(user: Option<&str>, pass: Option<&str>, cookie: Option<&str>) -> BitcoindFlags {
        BitcoindFlags {
            bitcoin_rpc_url: "http://127.0.0.1:1".into(),
            bitcoin_wallet: String::new(),
            bitcoin_rpc_user: user.map(Into::into),
            bitcoin_rpc_password: pass.map(Into::into),
            bitcoin_rpc_cookie: cookie.map(PathBuf::from),
        }
    }

    #[test]
    fn credentials_are_a_user_and_password_or_a_cookie() {
        assert_eq!(
            flags(Some("u"), Some("p"), None).auth().unwrap(),
            BitcoinAuth::UserPass("u".into(), "p".into())
        );
        assert_eq!(
            flags(None, None, Some("/c")).auth().unwrap(),
            BitcoinAuth::Cookie(PathBuf::from("/c"))
        );
        let e = flags(None, None, None).auth().unwrap_err().to_string();
        assert!(e.contains("no bitcoind credentials"), "{e}");
        let e = flags(Some("u"), Some("p"), Some("/c"))
            .auth()
            .unwrap_err()
            .to_string();
        assert!(e.contains("not both"), "{e}");
    }

    #[test]
    fn block_hashes_come_only_from_confirmed_answers() {
        let h = "00000000000000000000000000000000000000000000000000000000000000ab";
        assert_eq!(
            block_hash_field(&json!({"confirmations": 2, "blockhash": h})),
            Some(h.parse().unwrap())
        );
        assert_eq!(block_hash_field(&json!({"confirmations": 0})), None);
        assert_eq!(
            block_hash_field(&json!({"confirmations": -1, "blockhash": h})),
            None
        );
    }
}
