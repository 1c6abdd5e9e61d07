//! `ballastd init <moniker>`: writes a node home, `config/ballast.toml` plus a complete CometBFT
//! v0.38 home (config.toml, genesis.json with every module's default genesis and this node as
//! the only validator, its keys, and a zero signing state). `cometbft start --home <home>`
//! accepts the result unchanged.
//!
//! The node's BLS key (`config/bls_key.json`, 0600) is generated too, and genesis lists it in
//! `app_state.checkpointing.bls_keys` with its proof of possession: the app refuses a genesis
//! validator without one.
//!
//! The node is also a restaking operator, as every genesis validator is: its operator BTC key
//! (`config/operator_btc_key.json`, 0600) is generated, and genesis registers the operator with
//! a self-bond (`--self-bond`, 100 BAL) from its owner account, which gives the validator its
//! power. The owner is `--operator-owner` when given (funded in genesis with
//! `--owner-coins`); otherwise a key named `operator` is created in the home's keyring
//! (`--keyring-backend`, test by default) and its mnemonic is printed once. A one-member BTC
//! staking covenant committee (quorum 1) is set up too, with its key in
//! `config/covenant_key.json`, so that a single-node chain can take BTC delegations; a real
//! network names its own committee in genesis.
//!
//! Like `<chain>d init` in Cosmos, it refuses to replace an existing home's configuration
//! unless `--overwrite` is given; existing keys are always kept (the node keeps its identity,
//! and `data/priv_validator_state.json` keeps guarding against double signing).

use super::genesis::add_account_to;
use crate::home::genesis::{GenesisDoc, GenesisValidator};
use crate::home::keys::NodeKeys;
use crate::home::ports::Ports;
use crate::home::{self, Listeners, NodeHome};
use crate::Global;
use anyhow::Context;
use ballast_client::btc_key;
use ballast_client::keyring::{input, Backend, Keyring};
use ballast_framework::Address;

/// The chain id `init` uses without `--chain-id`.
pub const DEFAULT_CHAIN_ID: &str = "ballast-local-1";

/// `ballastd init` options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A human-readable name for this node.
    pub moniker: String,
    /// The chain id written into genesis.json and ballast.toml.
    #[arg(long, default_value = DEFAULT_CHAIN_ID)]
    pub chain_id: String,
    /// Replace an existing config.toml, ballast.toml and genesis.json (keys are kept).
    #[arg(long)]
    pub overwrite: bool,
    /// Put every listener at a fixed offset from this port (P2P +0, RPC +1, ABCI +2,
    /// metrics +4, CometBFT Prometheus +5, gRPC +6); the address flags below override it.
    #[arg(long)]
    pub base_port: Option<u16>,
    /// ballastd's ABCI address, which CometBFT's proxy_app points to
    /// [default: tcp://127.0.0.1:26658].
    #[arg(long)]
    pub abci_address: Option<String>,
    /// ballastd's gRPC address [default: 127.0.0.1:9090].
    #[arg(long)]
    pub grpc_address: Option<String>,
    /// ballastd's Prometheus metrics address [default: 127.0.0.1:26660].
    #[arg(long)]
    pub metrics_address: Option<String>,
    /// CometBFT's RPC listen address [default: tcp://127.0.0.1:26657].
    #[arg(long)]
    pub rpc_laddr: Option<String>,
    /// CometBFT's P2P listen address [default: tcp://0.0.0.0:26656].
    #[arg(long)]
    pub p2p_laddr: Option<String>,
    /// The account that owns the node's operator (default: a new `operator` key in the home's
    /// keyring).
    #[arg(long)]
    pub operator_owner: Option<String>,
    /// The owner's opening balance in genesis.
    #[arg(long, default_value = Args::DEFAULT_OWNER_COINS)]
    pub owner_coins: String,
    /// ubal the owner bonds to the operator at genesis (the validator's power).
    #[arg(long, default_value_t = super::testnet::DEFAULT_SELF_BOND)]
    pub self_bond: u128,
    /// Keyring backend for the `operator` key: test or file.
    #[arg(long, default_value = "test")]
    pub keyring_backend: String,
}

impl Args {
    /// The owner's default opening balance.
    pub const DEFAULT_OWNER_COINS: &'static str = "1000000000000ubal";
}

/// The keyring key `init` creates to own the operator when no `--operator-owner` is given.
pub const OPERATOR_KEY_NAME: &str = "operator";

/// `<home>/config/covenant_key.json`: the key of the one-member covenant committee `init` sets up.
pub fn covenant_key_path(home: &std::path::Path) -> std::path::PathBuf {
    crate::home::config_dir(home).join("covenant_key.json")
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    let home = g.home.as_path();
    if !args.overwrite {
        if let Some(existing) = home::config_files(home).iter().find(|p| p.exists()) {
            anyhow::bail!(
                "{} already exists: refusing to overwrite the home at {}; pass --overwrite to \
                 replace config.toml, ballast.toml and genesis.json (keys are kept)",
                existing.display(),
                home.display()
            );
        }
    }
    let ports = match args.base_port {
        Some(b) => Ports::from_base(b)?,
        None => Ports::defaults(),
    };
    let mut listeners = Listeners::on("127.0.0.1", "0.0.0.0", &ports);
    if let Some(a) = args.abci_address {
        listeners.abci = a;
    }
    if let Some(a) = args.grpc_address {
        listeners.grpc = a;
    }
    if let Some(a) = args.metrics_address {
        listeners.metrics = a;
    }
    if let Some(a) = args.rpc_laddr {
        listeners.rpc_laddr = a;
    }
    if let Some(a) = args.p2p_laddr {
        listeners.p2p_laddr = a;
    }
    // Everything is checked before the first file is written.
    let coins = super::genesis::parse_coins(&args.owner_coins).context("--owner-coins")?;
    let owner_flag = args
        .operator_owner
        .as_deref()
        .map(|a| {
            a.parse::<Address>()
                .map_err(|e| anyhow::anyhow!("--operator-owner {a:?}: {e}"))
        })
        .transpose()?;
    let backend: Backend = args.keyring_backend.parse()?;
    let keys = NodeKeys::load_or_generate(home)?;
    let node_home = NodeHome::new(&args.chain_id, &args.moniker, &listeners, keys)?;
    let mut genesis = GenesisDoc::new(
        &args.chain_id,
        vec![GenesisValidator::new(
            &node_home.keys.consensus,
            &args.moniker,
        )],
        ballast_app::genesis::default_app_state(),
    );
    genesis.set_bls_key(node_home.keys.genesis_bls_key())?;
    let covenant_path = covenant_key_path(home);
    let covenant = if covenant_path.exists() {
        btc_key::load_btc_key(&covenant_path)?
    } else {
        btc_key::new_btc_key()
    };
    genesis.set_covenant_committee(&[btc_key::xonly(&covenant)], 1)?;
    // The owner: the flag, or the keyring's `operator` key (created once, kept on re-init).
    let mut mnemonic = None;
    let owner = match owner_flag {
        Some(a) => a,
        None => {
            let passphrase = match backend {
                Backend::Test => None,
                Backend::File => Some(input::keyring_passphrase(true)?),
            };
            let keyring = Keyring::open(home, backend, passphrase)?;
            let info = match keyring.show(OPERATOR_KEY_NAME) {
                Ok(info) => info,
                Err(_) => {
                    let (info, m) = keyring.add(OPERATOR_KEY_NAME).with_context(|| {
                        format!("creating the {OPERATOR_KEY_NAME:?} key in the keyring")
                    })?;
                    mnemonic = Some(m);
                    info
                }
            };
            info.address
                .parse::<Address>()
                .map_err(|e| anyhow::anyhow!("the keyring's address {:?}: {e}", info.address))?
        }
    };
    add_account_to(&mut genesis, &owner, &coins, false)?;
    genesis.add_operator(
        &owner,
        &node_home.keys.operator_btc,
        &node_home.keys.consensus,
        args.self_bond,
        &args.moniker,
    )?;
    node_home.write(home, &genesis)?;
    if !covenant_path.exists() {
        btc_key::write_btc_key(&covenant_path, &covenant)?;
    }

    let out = serde_json::json!({
        "moniker": args.moniker,
        "chain_id": args.chain_id,
        "node_id": node_home.keys.node.node_id(),
        "validator_address": node_home.keys.consensus.address_hex(),
        "bls_pubkey": hex::encode(node_home.keys.bls.public_key().to_bytes()),
        "operator_btc_pk": hex::encode(btc_key::xonly(&node_home.keys.operator_btc).serialize()),
        "operator_owner": owner.to_string(),
        "operator_mnemonic": mnemonic,
        "self_bond": args.self_bond.to_string(),
        "covenant_pk": hex::encode(btc_key::xonly(&covenant).serialize()),
        "home": home.display().to_string(),
        "abci_address": node_home.node.abci.address,
        "rpc_laddr": node_home.cometbft.rpc_laddr,
        "p2p_laddr": node_home.cometbft.p2p_laddr,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&out).expect("a JSON value always serialises")
    );
    Ok(())
}
