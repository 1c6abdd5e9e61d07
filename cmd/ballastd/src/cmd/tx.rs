//! `ballastd tx …`: build a tx, sign it with a keyring key (cosmrs, SIGN_MODE_DIRECT) and
//! broadcast it through CometBFT's RPC (or a ballastd's gRPC with `--grpc`).
//!
//! By default the command waits until the tx is in a block and reports its execution result
//! (`--broadcast-mode block`); `sync` returns after CheckTx, `async` right away. A tx that fails
//! prints its code, codespace and log, and the command exits with status 1.

use super::client::{runtime, ClientFlags};
use crate::Global;
use ballast_client::keyring::input::{confirm, open_keyring, resolve_backend};
use ballast_client::rpc::CometRpc;
use ballast_client::txbuild::{self, Gas, TxOptions, TxOutcome};
use ballast_framework::Decimal;
use prost::Message;
use serde_json::json;
use std::str::FromStr;
use std::time::Duration;

/// `ballastd tx` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Bank transactions.
    #[command(subcommand)]
    Bank(BankCmd),
    /// Bitcoin light client transactions.
    #[command(subcommand)]
    Btclightclient(super::tx_btclightclient::Cmd),
    /// Checkpointing transactions.
    #[command(subcommand)]
    Checkpointing(CheckpointingCmd),
    /// Restaking transactions: operators, native bonds, rewards, BTC delegations.
    #[command(subcommand)]
    Restaking(Box<super::tx_restaking::Cmd>),
    /// Consumer transactions: register, update, fund and remove a consumer; opt operators in
    /// and out.
    #[command(subcommand)]
    Consumers(Box<super::tx_consumers::Cmd>),
}

/// `ballastd tx checkpointing` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum CheckpointingCmd {
    /// Register this node's BLS key (`<home>/config/bls_key.json`) for its validator (the
    /// consensus key in `<home>/config/priv_validator_key.json`, which signs the registration).
    /// The `--from` account signs the tx and pays the fee. A validator's key is set once.
    RegisterBlsKey {
        /// Key name (or address) in the keyring that signs and pays.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        tx: TxFlags,
    },
}

/// `ballastd tx bank` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum BankCmd {
    /// Send coins: `ballastd tx bank send <from key or address> <to address> <amount>`.
    Send {
        /// Key name (or address) in the keyring that signs and pays.
        from: String,
        /// Recipient bech32 address.
        to: String,
        /// Coins, e.g. `1000000ubal`.
        amount: String,
        #[command(flatten)]
        tx: TxFlags,
    },
}

/// Flags every tx command takes.
#[derive(clap::Args, Clone, Debug)]
pub struct TxFlags {
    #[command(flatten)]
    pub client: ClientFlags,
    /// Chain id to sign for (default: the node's).
    #[arg(long)]
    pub chain_id: Option<String>,
    /// Fee to pay, e.g. `5000ubal` (default: gas × gas price).
    #[arg(long)]
    pub fees: Option<String>,
    /// Gas price, e.g. `0.025ubal` (default: the chain's minimum gas price).
    #[arg(long)]
    pub gas_prices: Option<String>,
    /// Gas limit: `auto` (simulate) or a number.
    #[arg(long, default_value = "auto")]
    pub gas: String,
    /// Multiplier on the simulated gas with `--gas auto`.
    #[arg(long, default_value = "1.3")]
    pub gas_adjustment: String,
    /// Memo.
    #[arg(long, default_value = "")]
    pub memo: String,
    /// Block height after which the tx is invalid (0 = none).
    #[arg(long, default_value_t = 0)]
    pub timeout_height: u64,
    /// `block` (wait for the tx to be in a block), `sync` (after CheckTx) or `async`.
    #[arg(long, default_value = "block", value_parser = ["block", "sync", "async"])]
    pub broadcast_mode: String,
    /// How long `block` mode waits, in seconds.
    #[arg(long, default_value_t = 60)]
    pub wait_timeout: u64,
    /// Keyring backend: `test` or `file` (default: $BALLAST_KEYRING_BACKEND, else `file`).
    #[arg(long)]
    pub keyring_backend: Option<String>,
    /// Skip the confirmation prompt.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub fn run(c: Cmd, g: &Global) -> anyhow::Result<()> {
    match c {
        Cmd::Btclightclient(c) => super::tx_btclightclient::run(c, g),
        Cmd::Restaking(c) => super::tx_restaking::run(*c, g),
        Cmd::Consumers(c) => super::tx_consumers::run(*c, g),
        Cmd::Bank(BankCmd::Send {
            from,
            to,
            amount,
            tx,
        }) => {
            super::query::check_address(&to)?;
            let coins = txbuild::parse_coins(&amount)?;
            let backend = resolve_backend(tx.keyring_backend.as_deref())?;
            let keyring = open_keyring(&g.home, backend, true)?;
            let key = keyring.signing_key(&from)?;
            let from_addr = keyring.show(&from)?.address;
            let msg = cosmrs::proto::cosmos::bank::v1beta1::MsgSend {
                from_address: from_addr.clone(),
                to_address: to.clone(),
                amount: coins,
            };
            let any = prost_types::Any {
                type_url: "/cosmos.bank.v1beta1.MsgSend".into(),
                value: msg.encode_to_vec(),
            };
            let summary = json!({
                "body": {"messages": [{
                    "@type": "/cosmos.bank.v1beta1.MsgSend",
                    "from_address": from_addr,
                    "to_address": to,
                    "amount": msg.amount.iter().map(|c| json!({"denom": c.denom, "amount": c.amount})).collect::<Vec<_>>(),
                }], "memo": tx.memo},
            });
            sign_and_broadcast(&tx, &key, vec![any], &summary)
        }
        Cmd::Checkpointing(CheckpointingCmd::RegisterBlsKey { from, tx }) => {
            register_bls_key(&from, tx, g)
        }
    }
}

/// `tx checkpointing register-bls-key`: the home's BLS key, its proof of possession, and the
/// consensus key's signature over the registration sign bytes, which name the chain id and the
/// sending account.
fn register_bls_key(from: &str, mut tx: TxFlags, g: &Global) -> anyhow::Result<()> {
    use ballast_checkpointing::register::registration_sign_bytes;
    use ballast_framework::{Address, ConsensusAddress, MsgHandler};

    let home = g.home.as_path();
    let bls = ballast_app::bls_key::load_bls_key(home)?.ok_or_else(|| {
        anyhow::anyhow!(
            "{} does not exist: expected this node's BLS key (`ballastd init` writes one)",
            ballast_app::bls_key::bls_key_path(home).display()
        )
    })?;
    let consensus = crate::home::keys::read_consensus_key(home)?;
    let backend = resolve_backend(tx.keyring_backend.as_deref())?;
    let keyring = open_keyring(home, backend, true)?;
    let key = keyring.signing_key(from)?;
    let from_addr = keyring.show(from)?.address;
    let signer: Address = from_addr
        .parse()
        .map_err(|e| anyhow::anyhow!("the keyring's address {from_addr:?} does not parse: {e}"))?;
    // The consensus key signs the chain id, so it must be known before the message is built;
    // the same id is then used to sign the tx.
    let chain_id = match &tx.chain_id {
        Some(c) => c.clone(),
        None => runtime()?.block_on(async {
            let rpc: CometRpc = tx.client.rpc()?;
            anyhow::Ok(rpc.status().await?.node_info.network.to_string())
        })?,
    };
    tx.chain_id = Some(chain_id.clone());
    let validator = ConsensusAddress(consensus.address());
    let bls_pubkey = bls.public_key().to_bytes();
    let sign_bytes = registration_sign_bytes(&chain_id, &validator, &bls_pubkey, &signer);
    let msg = ballast_proto::ballast::checkpointing::v1::MsgRegisterBlsKey {
        signer: signer.to_string(),
        validator_address: validator.0.to_vec(),
        bls_pubkey: bls_pubkey.to_vec(),
        pop: bls.proof_of_possession().to_bytes().to_vec(),
        consensus_pubkey: consensus.public_key().to_vec(),
        consensus_signature: consensus.sign(&sign_bytes).to_vec(),
    };
    let type_url = ballast_checkpointing::MsgRegisterBlsKey::TYPE_URL;
    let summary = json!({
        "body": {"messages": [{
            "@type": type_url,
            "signer": msg.signer,
            "validator_address": hex::encode_upper(&msg.validator_address),
            "bls_pubkey": hex::encode(&msg.bls_pubkey),
            "pop": hex::encode(&msg.pop),
            "consensus_pubkey": hex::encode(&msg.consensus_pubkey),
        }], "memo": tx.memo},
    });
    let any = prost_types::Any {
        type_url: type_url.into(),
        value: msg.encode_to_vec(),
    };
    sign_and_broadcast(&tx, &key, vec![any], &summary)
}

/// Signs `msgs` with `key` and broadcasts them as `tx` says; exits non-zero if the tx fails.
pub fn sign_and_broadcast(
    tx: &TxFlags,
    key: &cosmrs::crypto::secp256k1::SigningKey,
    msgs: Vec<prost_types::Any>,
    summary: &serde_json::Value,
) -> anyhow::Result<()> {
    let outcome = runtime()?.block_on(broadcast_msgs(tx, key, msgs, summary))?;
    report(&tx.client, &outcome);
    if outcome.code != 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// Signs `msgs` with `key` and broadcasts them as `tx` says (asking for confirmation unless
/// `--yes`); returns the outcome without printing it. A tx that fails simulation comes back
/// as an outcome with its code, like a tx that fails in a block.
pub async fn broadcast_msgs(
    tx: &TxFlags,
    key: &cosmrs::crypto::secp256k1::SigningKey,
    msgs: Vec<prost_types::Any>,
    summary: &serde_json::Value,
) -> anyhow::Result<TxOutcome> {
    let rpc: CometRpc = tx.client.rpc()?;
    let chain_id = match &tx.chain_id {
        Some(c) => c.clone(),
        None => rpc.status().await?.node_info.network.to_string(),
    };
    let mut opts = TxOptions::new(&chain_id);
    opts.gas = Gas::from_str(&tx.gas)?;
    opts.gas_adjustment = Decimal::from_str(&tx.gas_adjustment)
        .map_err(|e| anyhow::anyhow!("bad --gas-adjustment {:?}: {e}", tx.gas_adjustment))?;
    opts.fees = tx.fees.as_deref().map(txbuild::parse_coins).transpose()?;
    opts.gas_prices = tx
        .gas_prices
        .as_deref()
        .map(txbuild::parse_gas_price)
        .transpose()?;
    opts.memo = tx.memo.clone();
    opts.timeout_height = tx.timeout_height;
    let signed = match txbuild::build_and_sign(&rpc, key, msgs, &opts).await {
        Ok(s) => s,
        Err(txbuild::ClientError::Simulate {
            code,
            codespace,
            log,
        }) => {
            // The tx would fail: report it like a failed tx.
            return Ok(TxOutcome {
                txhash: String::new(),
                code,
                codespace,
                raw_log: log,
                height: 0,
                gas_wanted: 0,
                gas_used: 0,
            });
        }
        Err(e) => return Err(e.into()),
    };
    if !tx.yes {
        let mut s = summary.clone();
        s["auth_info"] = json!({
            "fee": {
                "amount": signed.fee.iter().map(|c| json!({"denom": c.denom, "amount": c.amount})).collect::<Vec<_>>(),
                "gas_limit": signed.gas_limit.to_string(),
            }
        });
        eprintln!("{}", serde_json::to_string_pretty(&s)?);
        if !confirm("confirm transaction before signing and broadcasting")? {
            anyhow::bail!("canceled: the transaction was not broadcast");
        }
    }
    let outcome = match (&tx.client.grpc_url(), tx.broadcast_mode.as_str()) {
        (Some(url), mode) => {
            let (code, codespace, raw_log) =
                crate::grpc_client::broadcast_sync(url, signed.bytes.clone()).await?;
            let mut out = TxOutcome {
                txhash: hex::encode_upper(signed.hash),
                code,
                codespace,
                raw_log,
                height: 0,
                gas_wanted: i64::try_from(signed.gas_limit).unwrap_or(i64::MAX),
                gas_used: 0,
            };
            if mode == "block" && code == 0 {
                let d = rpc
                    .wait_for_tx(signed.hash, Duration::from_secs(tx.wait_timeout))
                    .await?;
                out.code = d.tx_result.code.value();
                out.codespace = d.tx_result.codespace;
                out.raw_log = d.tx_result.log;
                out.height = d.height.value();
                out.gas_used = d.tx_result.gas_used;
            }
            out
        }
        (None, "async") => {
            let r = rpc.broadcast_tx_async(signed.bytes.clone()).await?;
            TxOutcome {
                txhash: hex::encode_upper(signed.hash),
                code: r.code.value(),
                codespace: r.codespace,
                raw_log: r.log,
                height: 0,
                gas_wanted: i64::try_from(signed.gas_limit).unwrap_or(i64::MAX),
                gas_used: 0,
            }
        }
        (None, mode) => {
            let wait = (mode == "block").then(|| Duration::from_secs(tx.wait_timeout));
            txbuild::broadcast(&rpc, &signed, wait).await?
        }
    };
    Ok(outcome)
}

/// Prints a tx's outcome as `--output` says (and its error on stderr when it failed).
pub fn report(flags: &ClientFlags, o: &TxOutcome) {
    if o.code != 0 {
        eprintln!(
            "Error: tx failed with code {} (codespace {:?}): {}",
            o.code, o.codespace, o.raw_log
        );
    }
    flags.print(&outcome_json(o));
}

/// A tx's outcome as the CLI prints it.
pub fn outcome_json(o: &TxOutcome) -> serde_json::Value {
    json!({
        "height": o.height.to_string(),
        "txhash": o.txhash,
        "codespace": o.codespace,
        "code": o.code,
        "raw_log": o.raw_log,
        "gas_wanted": o.gas_wanted.to_string(),
        "gas_used": o.gas_used.to_string(),
    })
}
