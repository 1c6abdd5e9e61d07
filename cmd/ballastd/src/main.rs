//! `ballastd`: the Ballast node and its command line.
//!
//! - `ballastd init` writes a node home: `config/ballast.toml` and a complete CometBFT home.
//! - `ballastd start` serves ABCI (for CometBFT v0.38), gRPC and Prometheus metrics.
//! - `ballastd dev` runs a single-process chain for a first look (not a validator).
//! - `ballastd keys|tx|query|status|genesis|testnet` are the operator's tools.

// The binary runs outside consensus: the CLI may read the clock and use randomness.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod broadcast;
mod cmd;
mod config;
mod grpc_client;
mod home;
mod node;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "ballastd",
    version,
    about = "Ballast node: leases Bitcoin- and Ethereum-backed security to other chains"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: Cmd,
}

/// Options every subcommand takes.
#[derive(clap::Args, Clone, Debug)]
pub struct Global {
    /// Node home directory.
    #[arg(long, global = true, default_value_os_t = default_home())]
    pub home: PathBuf,
    /// Log filter (overridden by RUST_LOG), e.g. `info` or `ballast_app=debug`.
    #[arg(long, global = true, default_value = "info")]
    pub log_level: String,
    /// Log format.
    #[arg(long, global = true, default_value = "plain", value_parser = ["plain", "json"])]
    pub log_format: String,
}

fn default_home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".ballast")
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a node home: config/ballast.toml and a complete CometBFT home.
    Init(cmd::init::Args),
    /// Serve ABCI, gRPC and metrics until SIGINT/SIGTERM.
    Start(cmd::start::Args),
    /// Run a single-process development chain (a convenience, not a validator).
    Dev(cmd::dev::Args),
    /// Manage keys in the keyring.
    #[command(subcommand)]
    Keys(cmd::keys::Cmd),
    /// Sign and broadcast transactions.
    #[command(subcommand)]
    Tx(cmd::tx::Cmd),
    /// Query the chain.
    #[command(subcommand, alias = "q")]
    Query(cmd::query::Cmd),
    /// Show the node's status (CometBFT RPC `status`).
    Status(cmd::query::StatusArgs),
    /// Edit the genesis file.
    #[command(subcommand)]
    Genesis(cmd::genesis::Cmd),
    /// Generate multi-validator testnets.
    #[command(subcommand)]
    Testnet(cmd::testnet::Cmd),
    /// BTC staking: scripts and unsigned txs, and the staker's keygen, stake, unbond, withdraw.
    #[command(subcommand)]
    Btc(cmd::btc::Cmd),
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

fn main() {
    let cli = Cli::parse();
    init_tracing(&cli.global.log_level, &cli.global.log_format);
    // A panic anywhere (an ABCI connection thread, a gRPC task) stops the whole node with a clear
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

    let g = cli.global;
    let result = match cli.cmd {
        Cmd::Init(a) => cmd::init::run(a, &g),
        Cmd::Start(a) => cmd::start::run(a, &g),
        Cmd::Dev(a) => cmd::dev::run(a, &g),
        Cmd::Keys(c) => cmd::keys::run(c, &g),
        Cmd::Tx(c) => cmd::tx::run(c, &g),
        Cmd::Query(c) => cmd::query::run(c, &g),
        Cmd::Status(a) => cmd::query::status(a, &g),
        Cmd::Genesis(c) => cmd::genesis::run(c, &g),
        Cmd::Testnet(c) => cmd::testnet::run(c, &g),
        Cmd::Btc(c) => cmd::btc::run(c, &g),
    };
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}
