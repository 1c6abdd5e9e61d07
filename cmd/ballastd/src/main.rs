//! `ballastd`: the Ballast node. `ballastd start` serves the ABCI application that CometBFT
//! v0.38 drives (`proxy_app = "tcp://127.0.0.1:26658"`).

use anyhow::Context;
use ballast_app::abci::AbciApp;
use ballast_app::server::{ListenAddr, Listener};
use ballast_app::{App, AppConfig, FaultPoint};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "ballastd",
    version,
    about = "Ballast node: leases Bitcoin- and Ethereum-backed security to other chains"
)]
struct Cli {
    /// Log filter (overridden by RUST_LOG), e.g. `info` or `ballast_app=debug`.
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    /// Log format.
    #[arg(long, global = true, default_value = "plain", value_parser = ["plain", "json"])]
    log_format: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the ABCI application until killed.
    Start {
        /// Node home directory (the store lives in <home>/data/ballast).
        #[arg(long)]
        home: PathBuf,
        /// ABCI listen address: tcp://host:port or unix:///path.
        #[arg(long, default_value = "tcp://127.0.0.1:26658")]
        abci: String,
        /// State versions to keep (0 = keep all).
        #[arg(long, default_value_t = 0)]
        keep_recent: u64,
        /// Blocks CometBFT must keep (0 = all).
        #[arg(long, default_value_t = 0)]
        min_retain_blocks: u64,
    },
}

fn init_tracing(level: &str, format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(&cli.log_level, &cli.log_format);
    // A panic anywhere (an ABCI connection thread included) stops the whole node with a clear
    // line, instead of leaving a half-alive process behind.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        tracing::error!(thread, panic = %info, "panic; stopping the node");
        default_hook(info);
        std::process::exit(101);
    }));

    match cli.cmd {
        Cmd::Start {
            home,
            abci,
            keep_recent,
            min_retain_blocks,
        } => {
            let fault = match std::env::var("BALLAST_FAULT") {
                Ok(s) if !s.is_empty() => Some(FaultPoint::parse(&s).map_err(anyhow::Error::msg)?),
                _ => None,
            };
            let config = AppConfig {
                home: home.clone(),
                keep_recent,
                min_retain_blocks,
                fault,
            };
            let app = App::open(config)
                .with_context(|| format!("opening the store under {}", home.display()))?;
            let info = app.info();
            let addr = ListenAddr::parse(&abci).map_err(anyhow::Error::msg)?;
            let listener = Listener::bind(&addr)?;
            tracing::info!(
                abci = %listener.local_addr(),
                height = info.last_block_height,
                app_hash = %hex_upper(&info.last_block_app_hash),
                "ballastd serving ABCI"
            );
            // The line tests and scripts wait for.
            println!("ABCI listening on {}", listener.local_addr());
            listener.serve(AbciApp(app))?;
            Ok(())
        }
    }
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}
