//! `ballastd start`: serves the ABCI application that CometBFT v0.38 drives.

use crate::Global;
use anyhow::Context;
use ballast_app::abci::AbciApp;
use ballast_app::server::{ListenAddr, Listener};
use ballast_app::{App, AppConfig, FaultPoint};

/// `ballastd start` options.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// ABCI listen address: tcp://host:port or unix:///path.
    #[arg(long, default_value = "tcp://127.0.0.1:26658")]
    abci: String,
    /// State versions to keep (0 = keep all).
    #[arg(long, default_value_t = 0)]
    keep_recent: u64,
    /// Blocks CometBFT must keep (0 = all).
    #[arg(long, default_value_t = 0)]
    min_retain_blocks: u64,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    let home = g.home.clone();
    let fault = match std::env::var("BALLAST_FAULT") {
        Ok(s) if !s.is_empty() => Some(FaultPoint::parse(&s).map_err(anyhow::Error::msg)?),
        _ => None,
    };
    let config = AppConfig {
        home: home.clone(),
        keep_recent: args.keep_recent,
        min_retain_blocks: args.min_retain_blocks,
        fault,
    };
    let app =
        App::open(config).with_context(|| format!("opening the store under {}", home.display()))?;
    let info = app.info();
    let addr = ListenAddr::parse(&args.abci).map_err(anyhow::Error::msg)?;
    let listener = Listener::bind(&addr)?;
    tracing::info!(
        abci = %listener.local_addr(),
        height = info.last_block_height,
        app_hash = %hex::encode_upper(&info.last_block_app_hash),
        "ballastd serving ABCI"
    );
    // The line tests and scripts wait for.
    println!("ABCI listening on {}", listener.local_addr());
    listener.serve(AbciApp(app))?;
    Ok(())
}
