//! `ballastd dev`: a single-process chain for a first look. It is a developer convenience, not a
//! validator: the same `App` runs under an in-process single-validator block producer (CometBFT's
//! exact ABCI call sequence, vote extensions included, one block per interval), with the same
//! gRPC and metrics as `ballastd start`, plus the part of CometBFT's JSON-RPC that wallets and
//! tools use, so `ballastd tx …` and CosmJS work against it unchanged.
//!
//! On first start it initialises the home (as `ballastd init` does) if there is none, and
//! creates a funded dev account: its mnemonic goes to `<home>/key_seed.json` and its key to the
//! test keyring under the name `dev`. Until the first block, it also makes sure the validator
//! has a BLS key (`config/bls_key.json`) listed in genesis, so the dev chain seals a checkpoint
//! at every epoch's end as a real validator does; it refuses to run without that key.

use crate::config::NodeConfig;
use crate::home::genesis::GenesisDoc;
use crate::node::{self, Shutdown};
use crate::Global;
use anyhow::Context;
use ballast_app::bls_key;
use ballast_app::dev::{serve_rpc, DevChain, DevConfig};
use ballast_app::{App, AppConfig};
use ballast_client::keyring::{Backend, Keyring};
use std::sync::Arc;
use std::time::Duration;

/// Name of the dev account in the test keyring.
pub const DEV_KEY_NAME: &str = "dev";
/// What the dev account holds at genesis: one million BAL.
pub const DEV_ACCOUNT_COINS: &str = "1000000000000ubal";

/// `ballastd dev` options. Each overrides `config/ballast.toml`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Chain id for a new home.
    #[arg(long, default_value = super::init::DEFAULT_CHAIN_ID)]
    chain_id: String,
    /// Time between blocks, in milliseconds.
    #[arg(long)]
    block_interval_ms: Option<u64>,
    /// Address of the CometBFT-compatible JSON-RPC (host:port).
    #[arg(long)]
    rpc_address: Option<String>,
    /// gRPC address (host:port).
    #[arg(long)]
    grpc_address: Option<String>,
    /// Prometheus metrics address (host:port).
    #[arg(long)]
    metrics_address: Option<String>,
}

/// `{"secret": "<mnemonic>", "address": "ballast1..."}`, as Cosmos SDK testnets write it.
#[derive(serde::Serialize, serde::Deserialize)]
struct KeySeed {
    secret: String,
    address: String,
}

/// Initialises `home` if needed and makes sure the dev account exists in genesis. Only before
/// the first block: once the chain has started, genesis is never touched again.
fn prepare_home(args: &Args, g: &Global) -> anyhow::Result<()> {
    let home = &g.home;
    if !NodeConfig::path(home).exists() {
        super::init::run(
            super::init::Args {
                moniker: "dev".into(),
                chain_id: args.chain_id.clone(),
                overwrite: false,
                base_port: None,
                abci_address: None,
                grpc_address: None,
                metrics_address: None,
                rpc_laddr: None,
                p2p_laddr: None,
                operator_owner: None,
                owner_coins: super::init::Args::DEFAULT_OWNER_COINS.into(),
                self_bond: super::testnet::DEFAULT_SELF_BOND,
                keyring_backend: "test".into(),
            },
            g,
        )?;
    }
    let seed_path = home.join("key_seed.json");
    let started = home.join("data").join("dev").exists();
    if !started {
        ensure_genesis_bls_key(home)?;
    }
    if seed_path.exists() || started {
        return Ok(());
    }
    let keyring = Keyring::open(home, Backend::Test, None)?;
    let (info, mnemonic) = keyring.add(DEV_KEY_NAME).with_context(|| {
        format!("creating the dev key {DEV_KEY_NAME:?} in the test keyring (delete it or key_seed.json's absence is inconsistent)")
    })?;
    let gpath = crate::home::genesis_path(home);
    let mut genesis = GenesisDoc::load(&gpath)?;
    let coins = super::genesis::parse_coins(DEV_ACCOUNT_COINS)?;
    let address: ballast_framework::Address = info
        .address
        .parse()
        .map_err(|e| anyhow::anyhow!("dev key address: {e}"))?;
    super::genesis::add_account_to(&mut genesis, &address, &coins, true)?;
    genesis.save(&gpath)?;
    let seed = KeySeed {
        secret: mnemonic,
        address: info.address.clone(),
    };
    std::fs::write(&seed_path, serde_json::to_string_pretty(&seed)?)
        .with_context(|| format!("writing {}", seed_path.display()))?;
    set_private(&seed_path)?;
    Ok(())
}

/// Makes sure the validator (the home's consensus key) has a BLS key file and that genesis lists
/// that key for it, for a home written before `init` wrote BLS keys.
fn ensure_genesis_bls_key(home: &std::path::Path) -> anyhow::Result<()> {
    let consensus = crate::home::keys::read_consensus_key(home)?;
    let key = bls_key::load_or_generate_bls_key(home)
        .context("refusing to start with this BLS key file")?;
    let entry = bls_key::genesis_bls_key(&key, consensus.address());
    let gpath = crate::home::genesis_path(home);
    let mut genesis = GenesisDoc::load(&gpath)?;
    if genesis.bls_keys()?.contains(&entry) {
        return Ok(());
    }
    genesis.set_bls_key(entry)?;
    genesis.save(&gpath)?;
    tracing::info!(
        genesis = %gpath.display(),
        "listed the dev validator's BLS key in genesis"
    );
    Ok(())
}

fn set_private(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", path.display()))
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    prepare_home(&args, g)?;
    let home = g.home.clone();
    let cfg = NodeConfig::load(&home)?;
    let interval = args.block_interval_ms.unwrap_or(cfg.dev.block_interval_ms);
    if interval == 0 {
        anyhow::bail!("the block interval must be at least 1 ms");
    }
    let grpc_server = cfg.grpc.server_config(&home);
    let rpc_addr = args.rpc_address.unwrap_or(cfg.dev.rpc_address);
    let grpc_addr = args
        .grpc_address
        .or(cfg.grpc.enable.then_some(cfg.grpc.address));
    let metrics_addr = args
        .metrics_address
        .or(cfg.metrics.enable.then_some(cfg.metrics.address));

    // The dev chain's only validator must sign every checkpoint, or the chain stops at the
    // first epoch's end: no key is an error here, unlike on `ballastd start`.
    let bls_key = super::start::load_signing_key(&home)?.ok_or_else(|| {
        anyhow::anyhow!(
            "{} does not exist: the dev validator needs its BLS key to sign checkpoints \
             (restore the file; the chain's genesis lists its public key)",
            bls_key::bls_key_path(&home).display()
        )
    })?;
    let app = App::open(AppConfig {
        home: home.clone(),
        keep_recent: cfg.storage.keep_recent,
        min_retain_blocks: cfg.storage.min_retain_blocks,
        fault: None,
        bls_key: Some(bls_key),
    })
    .with_context(|| format!("opening the store under {}", home.display()))?;
    let mut dev_cfg = DevConfig::new(&home);
    dev_cfg.block_interval = Duration::from_millis(interval);
    let chain = DevChain::open(app.clone(), dev_cfg)?;
    let handle = chain.handle();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ballastd-dev")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let shutdown = Shutdown::new();
        let listener = tokio::net::TcpListener::bind(&rpc_addr)
            .await
            .with_context(|| format!("cannot listen for RPC on {rpc_addr}"))?;
        let local = listener.local_addr()?;
        let mut tasks = vec![node::spawn_critical(
            "dev-rpc",
            serve_rpc(handle.clone(), listener, shutdown.wait()),
        )];
        tasks.extend(
            node::start_grpc(
                &app,
                Arc::new(handle.clone()),
                grpc_addr.as_deref(),
                grpc_server,
                &shutdown,
            )
            .await?,
        );
        tasks.extend(node::start_metrics(&app, metrics_addr.as_deref(), &shutdown).await?);
        if let Ok(seed) = std::fs::read_to_string(home.join("key_seed.json")) {
            if let Ok(s) = serde_json::from_str::<KeySeed>(&seed) {
                println!(
                    "dev account {} (key {DEV_KEY_NAME:?} in the test keyring; mnemonic in {})",
                    s.address,
                    home.join("key_seed.json").display()
                );
            }
        }
        tracing::info!(%local, interval_ms = interval, "ballastd dev: a development chain, not a validator");
        // The line tests and scripts wait for.
        println!("RPC listening on {local}");
        let producer_stop = shutdown.wait();
        let mut producer = tokio::spawn(chain.run(producer_stop));
        let signal = tokio::select! {
            s = node::wait_for_signal() => s?,
            r = &mut producer => {
                // The producer only returns early on an error.
                match r {
                    Ok(Ok(())) => anyhow::bail!("the block producer stopped unexpectedly"),
                    Ok(Err(e)) => anyhow::bail!("the block producer failed: {e}"),
                    Err(e) => anyhow::bail!("the block producer panicked: {e}"),
                }
            }
        };
        // The producer stops between blocks; only then is the store closed.
        shutdown.trigger();
        match tokio::time::timeout(Duration::from_secs(30), producer).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "the block producer failed while stopping"),
            Ok(Err(e)) => tracing::error!(error = %e, "the block producer panicked while stopping"),
            Err(_) => tracing::warn!("the block producer did not stop within 30 s"),
        }
        tracing::info!(signal, "shutting down");
        node::stop(&app, &shutdown, tasks).await;
        let height = app.storage().latest().map(|(h, _)| h).unwrap_or(0);
        println!("stopped cleanly at height {height}");
        anyhow::Ok(())
    })
}
