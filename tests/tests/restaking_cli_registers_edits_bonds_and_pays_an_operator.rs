//! An operator's and a delegator's `ballastd tx restaking` / `query restaking` commands against
//! `ballastd dev`: a new account registers an operator (BTC key file, proof of possession,
//! commission, description), reads it back over CometBFT's RPC and gRPC, edits it (fields not
//! given are kept, only the owner may), bonds and unbonds ubal to it and sees its power; the
//! operators list pages; the owner of the dev chain's operator withdraws the rewards the
//! epochs' fees paid it. Bad input (a commission above 1, a short consensus key, a zero amount,
//! a second registration of one key, an edit by another account) exits 1 with a clear message.

// A test, not consensus code: it polls the chain with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use ballast_tests::cli::{add_funded_key, json_ok, run as cli, ubal_balance};
use ballast_tests::vigilante::{wait_for, DevChain};
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

fn query(home: &Path, node: &str, args: &[&str]) -> Value {
    let mut all = vec!["query", "restaking"];
    all.extend_from_slice(args);
    all.extend(["--node", node, "-o", "json"]);
    json_ok(home, &all)
}

/// `ballastd tx restaking <args> --from <from> --yes … -o json`.
fn tx(home: &Path, node: &str, from: &str, args: &[&str]) -> Output {
    let mut all = vec!["tx", "restaking"];
    all.extend_from_slice(args);
    all.extend([
        "--from",
        from,
        "--yes",
        "--keyring-backend",
        "test",
        "--node",
        node,
        "-o",
        "json",
    ]);
    cli(home, &all)
}

fn ok(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "the command failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["code"], 0, "{v}");
    v
}

fn assert_refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "expected a refusal: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
}

#[test]
fn an_account_registers_edits_and_bonds_to_an_operator_and_the_owner_withdraws_rewards() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("dev");
    let chain = DevChain::start(&home, 300);
    let node = chain.rpc.clone();

    let alice = add_funded_key(&home, &node, "alice", "100000000ubal");

    // Register.
    let key_file = dir.path().join("operator.json");
    let key = json_ok(
        &home,
        &["btc", "keygen", "--out", key_file.to_str().unwrap()],
    );
    let pk = key["public_key"].as_str().unwrap().to_string();
    let key_arg = key_file.to_str().unwrap();
    assert_refused(
        &tx(
            &home,
            &node,
            "alice",
            &[
                "register-operator",
                "--btc-key",
                key_arg,
                "--commission",
                "1.5",
                "--moniker",
                "alice-op",
            ],
        ),
        "bad --commission",
    );
    assert_refused(
        &tx(
            &home,
            &node,
            "alice",
            &[
                "register-operator",
                "--btc-key",
                key_arg,
                "--consensus-pubkey",
                "abcd",
                "--commission",
                "0.05",
                "--moniker",
                "alice-op",
            ],
        ),
        "32-byte ed25519 key",
    );
    let registered = ok(&tx(
        &home,
        &node,
        "alice",
        &[
            "register-operator",
            "--btc-key",
            key_arg,
            "--commission",
            "0.05",
            "--moniker",
            "alice-op",
            "--website",
            "https://alice.example",
        ],
    ));
    assert_eq!(registered["btc_pk"], pk.as_str(), "{registered}");
    let op = query(&home, &node, &["operator", &pk]);
    let o = &op["operator"];
    assert_eq!(o["owner"], alice.as_str(), "{op}");
    assert_eq!(o["commission"], "0.05", "{op}");
    assert_eq!(o["consensus_pubkey"], "", "{op}");
    assert_eq!(o["description"]["moniker"], "alice-op", "{op}");
    assert_eq!(o["description"]["website"], "https://alice.example", "{op}");
    // gRPC answers the same.
    let over_grpc = json_ok(
        &home,
        &[
            "query",
            "restaking",
            "operator",
            &pk,
            "--grpc",
            &chain.grpc,
            "-o",
            "json",
        ],
    );
    assert_eq!(over_grpc, op);
    // One key registers once.
    let again = tx(
        &home,
        &node,
        "alice",
        &[
            "register-operator",
            "--btc-key",
            key_arg,
            "--commission",
            "0.05",
            "--moniker",
            "again",
        ],
    );
    assert_eq!(again.status.code(), Some(1));

    // Edit: fields not given are kept; only the owner may edit.
    ok(&tx(
        &home,
        &node,
        "alice",
        &["edit-operator", &pk, "--details", "runs on a laptop"],
    ));
    let o = query(&home, &node, &["operator", &pk])["operator"].clone();
    assert_eq!(o["description"]["moniker"], "alice-op", "{o}");
    assert_eq!(o["description"]["website"], "https://alice.example", "{o}");
    assert_eq!(o["description"]["details"], "runs on a laptop", "{o}");
    ok(&tx(
        &home,
        &node,
        "alice",
        &["edit-operator", &pk, "--commission", "0.06"],
    ));
    let o = query(&home, &node, &["operator", &pk])["operator"].clone();
    assert_eq!(o["commission"], "0.06", "{o}");
    assert_eq!(o["description"]["details"], "runs on a laptop", "{o}");
    let by_dev = tx(
        &home,
        &node,
        "dev",
        &["edit-operator", &pk, "--moniker", "stolen"],
    );
    assert_eq!(by_dev.status.code(), Some(1));
    assert_refused(
        &tx(&home, &node, "alice", &["edit-operator", &pk]),
        "nothing to change",
    );
    assert_eq!(
        query(&home, &node, &["operator", &pk])["operator"]["description"]["moniker"],
        "alice-op"
    );

    // The operators list pages by BTC key.
    let all = query(&home, &node, &["operators"]);
    let keys: Vec<String> = all["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["btc_pk"].as_str().unwrap().to_string())
        .collect();
    assert!(keys.len() >= 2 && keys.contains(&pk), "{all}");
    let first = query(&home, &node, &["operators", "--limit", "1"]);
    assert_eq!(first["operators"].as_array().unwrap().len(), 1, "{first}");
    assert_eq!(first["operators"][0]["btc_pk"], keys[0].as_str());
    let next = first["next"].as_str().unwrap().to_string();
    assert!(!next.is_empty(), "{first}");
    let second = query(
        &home,
        &node,
        &["operators", "--limit", "1", "--start-after", &next],
    );
    assert_eq!(
        second["operators"][0]["btc_pk"],
        keys[1].as_str(),
        "{second}"
    );

    // Bond and unbond.
    assert_refused(
        &tx(&home, &node, "alice", &["bond", &pk, "0ubal"]),
        "more than 0",
    );
    assert_refused(
        &tx(&home, &node, "alice", &["bond", &pk, "5uatom"]),
        "whole number of ubal",
    );
    ok(&tx(&home, &node, "alice", &["bond", &pk, "5000000ubal"]));
    let bonds = query(&home, &node, &["native-bonds", &alice]);
    assert_eq!(bonds["bonds"][0]["operator_btc_pk"], pk.as_str(), "{bonds}");
    assert_eq!(bonds["bonds"][0]["amount"], "5000000", "{bonds}");
    let powered = wait_for(Duration::from_secs(30), || {
        query(&home, &node, &["operator", &pk])["power"]["native_ubal"] == "5000000"
    });
    assert!(powered, "{}", query(&home, &node, &["operator", &pk]));
    let table = query(&home, &node, &["power-table"]);
    assert!(
        table["powers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["operator_btc_pk"] == pk.as_str() && p["native_ubal"] == "5000000"),
        "{table}"
    );
    ok(&tx(&home, &node, "alice", &["unbond", &pk, "2000000"]));
    let bonds = query(&home, &node, &["native-bonds", &alice]);
    assert_eq!(bonds["bonds"][0]["amount"], "3000000", "{bonds}");
    assert_eq!(bonds["unbondings"][0]["amount"], "2000000", "{bonds}");
    let completion: u64 = bonds["unbondings"][0]["completion_epoch"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(completion > 1, "{bonds}");

    // The epochs' fees reach the dev operator's owner (the home's `operator` key) as
    // rewards; withdrawing pays them.
    let dev_op = keys.iter().find(|k| **k != pk).unwrap();
    let owner = query(&home, &node, &["operator", dev_op])["operator"]["owner"]
        .as_str()
        .unwrap()
        .to_string();
    let earned = wait_for(Duration::from_secs(30), || {
        query(&home, &node, &["rewards", &owner])["total"]
            .as_str()
            .and_then(|t| t.parse::<u128>().ok())
            .is_some_and(|t| t > 0)
    });
    assert!(earned, "{}", query(&home, &node, &["rewards", &owner]));
    let owed: u128 = query(&home, &node, &["rewards", &owner])["total"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let before = ubal_balance(&home, &node, &owner);
    ok(&tx(
        &home,
        &node,
        "operator",
        &["withdraw-rewards", "--fees", "20000ubal", "--gas", "400000"],
    ));
    let after = ubal_balance(&home, &node, &owner);
    let withdrawn = after + 20_000 - before;
    assert!(
        withdrawn >= owed,
        "withdrew {withdrawn} ubal, {owed} were owed before"
    );
}
