//! Test harness for Ballast's integration tests.
//!
//! - [`keys`]: test accounts and a Cosmos tx builder whose every field can be tampered with.
//! - [`driver`]: one interface over the ways to reach an app: in-process, ABCI over TCP (through
//!   `tendermint_abci::Client`, an independent codec), and ABCI over a unix socket.
//! - [`consensus`]: a mock CometBFT that makes v0.38's exact call sequence for every height,
//!   across several nodes, including the Info handshake and block replay after a restart.
//! - [`node`]: starts, kills (SIGKILL) and restarts `ballastd` processes.

#![allow(clippy::disallowed_methods, clippy::unwrap_used)]
#![warn(missing_docs)]

pub mod bitcoind;
pub mod btc_headers;
pub mod btc_staking;
pub mod checkpoint_rpc;
pub mod cli;
pub mod cometbft;
pub mod consensus;
pub mod consumer_demo;
pub mod consumer_grpc;
pub mod cosmjs;
pub mod driver;
pub mod grpc;
pub mod keys;
pub mod node;
pub mod vigilante;

/// The chain id every harness chain uses.
pub const CHAIN_ID: &str = "ballast-test-1";

/// A genesis `app_state` funding `accounts` with `amount` ubal each.
pub fn genesis_app_state(accounts: &[keys::TestAccount], amount: u128) -> serde_json::Value {
    let list: Vec<serde_json::Value> = accounts
        .iter()
        .map(|a| serde_json::json!({"address": a.address.to_string(), "coins": [{"denom": "ubal", "amount": amount.to_string()}]}))
        .collect();
    serde_json::json!({ "app": {"epoch_length": 5}, "accounts": { "accounts": list } })
}
