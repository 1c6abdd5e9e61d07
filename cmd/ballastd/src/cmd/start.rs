//! `ballastd start`: serves ABCI (for CometBFT v0.38), gRPC and Prometheus metrics until
//! SIGINT/SIGTERM, then shuts down cleanly: the consensus call in progress finishes, the servers
//! stop and the store is closed, so the next start resumes where this one stopped.
//!
//! The validator's BLS key (`config/bls_key.json`) signs the checkpoint at every epoch's last
//! block. Without the file the node still serves (a node that does not validate has none), and
//! says so; a file it cannot trust (readable by others, malformed, edited) stops it.

use crate::broadcast::CometBroadcaster;
use crate::config::NodeConfig;
use crate::node::{self, Shutdown};
use crate::Global;
use anyhow::Context;
use ballast_app::abci::AbciApp;
use ballast_app::bls_key;
use ballast_app::server::{ListenAddr, Listener};
use ballast_app::{App, AppConfig, FaultPoint};
use std::sync::Arc;

/// `ballastd start` options. Each overrides `config/ballast.toml`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// ABCI listen address: tcp://host:port or unix:///path.
    #[arg(long)]
    abci: Option<String>,
    /// gRPC listen address (host:port); enables gRPC.
    #[arg(long)]
    grpc_address: Option<String>,
    /// Prometheus metrics listen address (host:port); enables metrics.
    #[arg(long)]
    metrics_address: Option<String>,
    /// CometBFT RPC URL that gRPC BroadcastTx forwards to.
    #[arg(long)]
    cometbft_rpc: Option<String>,
    /// State versions to keep (0 = keep all).
    #[arg(long)]
    keep_recent: Option<u64>,
    /// Blocks CometBFT must keep (0 = all).
    #[arg(long)]
    min_retain_blocks: Option<u64>,
}

/// What `start` serves, after ballast.toml and flags.
struct Plan {
    abci: String,
    grpc: Option<String>,
    grpc_server: ballast_app::config::GrpcServerConfig,
    metrics: Option<String>,
    cometbft_rpc: String,
    keep_recent: u64,
    min_retain_blocks: u64,
}

fn plan(args: Args, g: &Global) -> anyhow::Result<Plan> {
    let mut plan = if NodeConfig::path(&g.home).exists() {
        let c = NodeConfig::load(&g.home)?;
        Plan {
            abci: c.abci.address,
            grpc_server: c.grpc.server_config(&g.home),
            grpc: c.grpc.enable.then_some(c.grpc.address),
            metrics: c.metrics.enable.then_some(c.metrics.address),
            cometbft_rpc: c.cometbft.rpc,
            keep_recent: c.storage.keep_recent,
            min_retain_blocks: c.storage.min_retain_blocks,
        }
    } else {
        // A bare home (no `ballastd init`): ABCI only, unless flags ask for more.
        tracing::info!(
            config = %NodeConfig::path(&g.home).display(),
            "no ballast.toml; serving ABCI on the default address only (run `ballastd init` for a full home)"
        );
        Plan {
            abci: crate::config::DEFAULT_ABCI_ADDRESS.into(),
            grpc: None,
            grpc_server: Default::default(),
            metrics: None,
            cometbft_rpc: crate::config::DEFAULT_COMETBFT_RPC.into(),
            keep_recent: 0,
            min_retain_blocks: 0,
        }
    };
    if let Some(a) = args.abci {
        plan.abci = a;
    }
    if let Some(a) = args.grpc_address {
        plan.grpc = Some(a);
    }
    if let Some(a) = args.metrics_address {
        plan.metrics = Some(a);
    }
    if let Some(a) = args.cometbft_rpc {
        plan.cometbft_rpc = a;
    }
    if let Some(n) = args.keep_recent {
        plan.keep_recent = n;
    }
    if let Some(n) = args.min_retain_blocks {
        plan.min_retain_blocks = n;
    }
    Ok(plan)
}

/// The home's BLS key: `None` (with a warning) when there is no key file, an error when the
/// file cannot be trusted.
pub fn load_signing_key(
    home: &std::path::Path,
) -> anyhow::Result<Option<Arc<ballast_checkpointing::BlsSecretKey>>> {
    let path = bls_key::bls_key_path(home);
    match bls_key::load_bls_key(home) {
        Ok(Some(key)) => {
            tracing::info!(
                path = %path.display(),
                bls_pubkey = %hex::encode(key.public_key().to_bytes()),
                "loaded the BLS key that signs checkpoints"
            );
            Ok(Some(Arc::new(key)))
        }
        Ok(None) => {
            tracing::warn!(
                path = %path.display(),
                "no BLS key file: this node cannot sign checkpoints (fine for a node that is \
                 not a validator; `ballastd init` writes one)"
            );
            Ok(None)
        }
        Err(e) => Err(anyhow::Error::new(e).context("refusing to start with this BLS key file")),
    }
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    let plan = plan(args, g)?;
    let home = g.home.clone();
    let bls_key = load_signing_key(&home)?;
    let fault = match std::env::var("BALLAST_FAULT") {
        Ok(s) if !s.is_empty() => Some(FaultPoint::parse(&s).map_err(anyhow::Error::msg)?),
        _ => None,
    };
    let config = AppConfig {
        home: home.clone(),
        keep_recent: plan.keep_recent,
        min_retain_blocks: plan.min_retain_blocks,
        fault,
        bls_key,
    };
    let app =
        App::open(config).with_context(|| format!("opening the store under {}", home.display()))?;
    let info = app.info();
    app.metrics().height.set(info.last_block_height);

    let addr = ListenAddr::parse(&plan.abci).map_err(anyhow::Error::msg)?;
    let listener = Listener::bind(&addr)?;
    let abci_addr = listener.local_addr();
    tracing::info!(
        abci = %abci_addr,
        height = info.last_block_height,
        app_hash = %hex::encode_upper(&info.last_block_app_hash),
        "ballastd serving ABCI"
    );
    let abci_app = AbciApp(app.clone());
    std::thread::Builder::new()
        .name("abci-accept".into())
        .spawn(move || {
            if let Err(e) = listener.serve(abci_app) {
                tracing::error!(error = %e, "the ABCI server failed; stopping the node");
                eprintln!("ballastd: ABCI server failed: {e}");
                std::process::exit(1);
            }
        })
        .context("starting the ABCI server thread")?;
    // The line tests and scripts wait for.
    println!("ABCI listening on {abci_addr}");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ballastd-rt")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let shutdown = Shutdown::new();
        let broadcaster = Arc::new(CometBroadcaster::new(&plan.cometbft_rpc)?);
        let mut tasks = Vec::new();
        tasks.extend(
            node::start_grpc(
                &app,
                broadcaster,
                plan.grpc.as_deref(),
                plan.grpc_server,
                &shutdown,
            )
            .await?,
        );
        tasks.extend(node::start_metrics(&app, plan.metrics.as_deref(), &shutdown).await?);
        let signal = node::wait_for_signal().await?;
        tracing::info!(signal, "shutting down");
        node::stop(&app, &shutdown, tasks).await;
        let height = app.storage().latest().map(|(h, _)| h).unwrap_or(0);
        tracing::info!(
            height,
            "stopped cleanly; the next start resumes from this height"
        );
        println!("stopped cleanly at height {height}");
        anyhow::Ok(())
    })
}
