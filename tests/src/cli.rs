//! Runs `ballastd` CLI commands against a home, as an operator would.

use crate::node::ballastd_bin;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// `ballastd <args> --home <home>`, with the keyring backend taken from the args only.
pub fn run(home: &Path, args: &[&str]) -> Output {
    Command::new(ballastd_bin())
        .args(args)
        .arg("--home")
        .arg(home)
        .env_remove("BALLAST_KEYRING_BACKEND")
        .output()
        .expect("the ballastd binary runs")
}

/// Runs a command that must succeed and print JSON; panics with its output otherwise.
pub fn json_ok(home: &Path, args: &[&str]) -> Value {
    let out = run(home, args);
    assert!(
        out.status.success(),
        "ballastd {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "ballastd {args:?} printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Adds `name` to the home's test keyring and sends it `amount` (e.g. "100000000ubal") from the
/// home's `dev` account through `--node`, waiting for the block; returns its address.
pub fn add_funded_key(home: &Path, node: &str, name: &str, amount: &str) -> String {
    let addr = json_ok(
        home,
        &[
            "keys",
            "add",
            name,
            "--keyring-backend",
            "test",
            "-o",
            "json",
        ],
    )["address"]
        .as_str()
        .expect("keys add prints the address")
        .to_string();
    let sent = json_ok(
        home,
        &[
            "tx",
            "bank",
            "send",
            "dev",
            &addr,
            amount,
            "--yes",
            "--keyring-backend",
            "test",
            "--node",
            node,
            "-o",
            "json",
        ],
    );
    assert_eq!(sent["code"], 0, "{sent}");
    addr
}

/// The `ubal` balance of `addr` through `--node`.
pub fn ubal_balance(home: &Path, node: &str, addr: &str) -> u128 {
    let v = json_ok(
        home,
        &[
            "query", "bank", "balances", addr, "--denom", "ubal", "--node", node, "-o", "json",
        ],
    );
    v["balance"]["amount"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no ubal amount in {v}"))
}
