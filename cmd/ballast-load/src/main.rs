//! `ballast-load`: plays CometBFT against a running `ballastd` over its ABCI socket (the exact
//! v0.38 call sequence, with the Info handshake and replay on connect) and pushes signed
//! `MsgSend` txs through CheckTx and FinalizeBlock. It prints every block and the throughput.
//!
//! It keeps the chain's decided blocks in memory only, so point it at a fresh home, or at a
//! home it filled itself in this run.
//!
//! `ballast-load consumer-stream` measures the consumer gRPC service instead (see
//! [`consumer_stream`]).

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::float_arithmetic
)] // wall-clock timing and rates of a load run, not state-machine code

use anyhow::{anyhow, bail, Context};
use ballast_tests::consensus::MockConsensus;
use ballast_tests::driver::{Abci, SocketClient};
use ballast_tests::keys::{TestAccount, TxSpec};
use ballast_tests::{genesis_app_state, CHAIN_ID};
use clap::{Parser, Subcommand};
use std::time::Instant;

mod consumer_stream;

#[derive(Parser)]
#[command(
    name = "ballast-load",
    about = "Drive ballastd over ABCI with signed transfers, or measure the consumer streams",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    transfers: Args,
}

#[derive(Subcommand)]
enum Cmd {
    /// Measure SubscribeValidatorSet: delivery latency from the Commit of the epoch-end block
    /// to 1, 100 and 1,000 subscribers, and the node's CPU and memory, on an in-process node.
    ConsumerStream(consumer_stream::StreamArgs),
    /// The subscribers of consumer-stream (run by it as a child process).
    #[command(hide = true)]
    ConsumerSubscribe(consumer_stream::SubscribeArgs),
}

#[derive(clap::Args)]
struct Args {
    /// ballastd's ABCI address (tcp://host:port or unix:///path).
    #[arg(long, default_value = "tcp://127.0.0.1:26658")]
    abci: String,
    /// Funded accounts in genesis.
    #[arg(long, default_value_t = 1000)]
    accounts: usize,
    /// Blocks to produce.
    #[arg(long, default_value_t = 20)]
    blocks: usize,
    /// Signed transfers per block.
    #[arg(long, default_value_t = 500)]
    txs_per_block: usize,
    /// Validators in the mock validator set.
    #[arg(long, default_value_t = 4)]
    validators: usize,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Cmd::ConsumerStream(a)) => return consumer_stream::run(a),
        Some(Cmd::ConsumerSubscribe(a)) => return consumer_stream::subscribe(a),
        None => {}
    }
    let args = cli.transfers;
    if args.accounts < 2 || args.validators == 0 {
        bail!("need at least 2 accounts and 1 validator");
    }
    let accounts = TestAccount::many(args.accounts);
    let mut node = SocketClient::connect(&args.abci)
        .map_err(|e| anyhow!(e))
        .context("connecting to ballastd")?;
    let mut cons = MockConsensus::new(
        CHAIN_ID,
        args.validators,
        genesis_app_state(&accounts, 1_000_000_000_000),
    );
    let info = node.info().map_err(|e| anyhow!(e))?;
    if info.last_block_height != 0 {
        bail!(
            "ballastd at {} already has height {}: start it on a fresh --home",
            args.abci,
            info.last_block_height
        );
    }
    cons.handshake(&mut node).map_err(|e| anyhow!(e))?;
    println!(
        "genesis: chain {CHAIN_ID}, {} accounts, app hash {}",
        args.accounts,
        hex::encode_upper(&cons.genesis_app_hash)
    );

    let mut seq = vec![0u64; accounts.len()];
    let mut next_sender = 0usize;
    let mut total_txs = 0usize;
    let mut exec_time = std::time::Duration::ZERO;
    let started = Instant::now();
    for _ in 0..args.blocks {
        let mut txs = Vec::with_capacity(args.txs_per_block);
        for _ in 0..args.txs_per_block {
            let from = next_sender % accounts.len();
            let to = (from * 7 + 1) % accounts.len();
            txs.push(
                TxSpec::send(
                    &accounts[from],
                    &accounts[to].address,
                    1 + (total_txs % 1000) as u128,
                    seq[from],
                )
                .sign(&accounts[from]),
            );
            seq[from] += 1;
            next_sender += 1;
            total_txs += 1;
        }
        for r in MockConsensus::check_txs(&mut node, &txs).map_err(|e| anyhow!(e))? {
            if r.code != 0 {
                bail!(
                    "CheckTx rejected a transfer: {} {} {}",
                    r.codespace,
                    r.code,
                    r.log
                );
            }
        }
        let t = Instant::now();
        let (block, _) = cons
            .produce_block(&mut [&mut node], txs)
            .map_err(|e| anyhow!(e))?;
        exec_time += t.elapsed();
        let failed = block.tx_results.iter().filter(|r| r.code != 0).count();
        if failed > 0 {
            let r = block
                .tx_results
                .iter()
                .find(|r| r.code != 0)
                .expect("counted above");
            bail!(
                "{failed} txs failed at height {}: {} {} {}",
                block.height,
                r.codespace,
                r.code,
                r.log
            );
        }
        println!(
            "height {:>4}  txs {:>5}  app hash {}",
            block.height,
            block.txs.len(),
            hex::encode_upper(&block.app_hash)
        );
    }
    let secs = exec_time.as_secs_f64();
    println!(
        "{} blocks, {} signed transfers, all applied; {:.0} txs/s through the consensus calls (wall time {:.1} s incl. CheckTx and signing)",
        args.blocks,
        total_txs,
        total_txs as f64 / secs.max(1e-9),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
