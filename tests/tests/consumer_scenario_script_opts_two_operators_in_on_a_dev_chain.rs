//! `testnet/scenarios/consumer.sh` run for real without CometBFT: `ballastd dev` is laid out as
//! node 0 of a testnet directory (its home is `node0/`, `bin.env` names this workspace's
//! ballastd and ballast-consumer), and the demo consumer is started with testnet/lib.sh's
//! `write_consumer_config` and `start_consumer`, as `BALLAST_TESTNET_CONSUMER=1 testnet/up.sh`
//! starts it. `BALLAST_NODE` points the script at the dev chain's RPC. Node 0's account (key
//! `node0`, which the script funds accounts from) is funded from the dev account first.
//!
//! - The scenario passes (exit 0, "consumer: OK"), printing every step: the consumer's owner is
//!   funded, the consumer registered and funded; the dev chain has a single operator, so the
//!   script registers and bonds a second one; both opt in with consumer keys from CometBFT key
//!   files; at the epoch end the consumer is ACTIVE and the demo consumer's verified-update
//!   lines are shown. The chain agrees: the set holds both keys with
//!   floor(allocation × snapshot power / 10000), and testnet/status.sh shows the demo consumer
//!   running with its last verified update.
//! - testnet/down.sh stops the demo consumer. Run again, the scenario finds the consumer
//!   registered, funds it, re-sends the same opt-ins and shows the stream with a short
//!   subscription of its own.
//! - For a STOPPED consumer, and without a testnet directory, it fails with exit 1 saying why.
//!
//! Runtime about a minute.

// A test, not consensus code: it waits on processes with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use ballast_tests::cli::json_ok;
use ballast_tests::node::{ballastd_bin, workspace_bin};
use ballast_tests::vigilante::DevChain;
use base64::Engine;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const CONSUMER_ID: &str = "scenario-consumer-1";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn consumer_bin() -> PathBuf {
    workspace_bin("ballast-consumer", "BALLAST_CONSUMER_BIN")
}

fn bash(script: &str, testnet: &Path, envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new("bash");
    c.args(["-c", script])
        .current_dir(repo())
        .env("BALLAST_TESTNET_DIR", testnet)
        .env_remove("BALLASTD_BIN")
        .env_remove("BALLAST_CONSUMER_BIN")
        .env_remove("CONSUMER_ID")
        .env_remove("CONSUMER_ALLOCATIONS")
        .env_remove("BALLAST_GRPC")
        .stdin(Stdio::null());
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("bash runs")
}

fn run_scenario(testnet: &Path, node: &str, grpc: &str) -> Output {
    bash(
        "testnet/scenarios/consumer.sh",
        testnet,
        &[
            ("BALLAST_NODE", node),
            ("BALLAST_GRPC", grpc),
            ("CONSUMER_TIMEOUT", "120"),
        ],
    )
}

fn text(out: &Output) -> String {
    format!(
        "exit {}\n--- stdout:\n{}\n--- stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn query(home: &Path, node: &str, args: &[&str]) -> Value {
    let mut all = vec!["query"];
    all.extend_from_slice(args);
    all.extend(["--node", node, "-o", "json"]);
    json_ok(home, &all)
}

/// The hex ed25519 public key of a CometBFT key file.
fn pubkey_of(key_file: &Path) -> String {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(key_file).unwrap()).unwrap();
    hex::encode(
        base64::engine::general_purpose::STANDARD
            .decode(v["pub_key"]["value"].as_str().unwrap())
            .unwrap(),
    )
}

fn btc_public_key(key_file: &Path) -> String {
    ballast_tests::btc_staking::key_file_public_key(key_file)
}

#[test]
fn consumer_scenario_script_opts_two_operators_in_on_a_dev_chain() {
    let consumer = consumer_bin();
    let dir = tempfile::tempdir().unwrap();
    let testnet = dir.path().join("testnet");
    let home = testnet.join("node0");
    let chain = DevChain::start(&home, 250);
    let node = chain.rpc.clone();

    std::fs::write(
        testnet.join("bin.env"),
        format!(
            "TESTNET_BALLASTD={}\nTESTNET_CONSUMER={}\n",
            ballastd_bin().display(),
            consumer.display()
        ),
    )
    .unwrap();
    let node0 = json_ok(
        &home,
        &[
            "keys",
            "add",
            "node0",
            "--keyring-backend",
            "test",
            "-o",
            "json",
        ],
    )["address"]
        .as_str()
        .unwrap()
        .to_string();
    let sent = json_ok(
        &home,
        &[
            "tx",
            "bank",
            "send",
            "dev",
            &node0,
            "100000000000ubal",
            "--yes",
            "--keyring-backend",
            "test",
            "--node",
            &node,
            "-o",
            "json",
        ],
    );
    assert_eq!(sent["code"], 0, "{sent}");

    // The demo consumer, as up.sh starts it.
    let started = bash(
        r#". testnet/lib.sh
write_consumer_config "$BIN" "$BALLASTD" "$ID" "$GRPC" "$RPC" && start_consumer "$BIN""#,
        &testnet,
        &[
            ("BIN", consumer.to_str().unwrap()),
            ("BALLASTD", ballastd_bin().to_str().unwrap()),
            ("ID", CONSUMER_ID),
            ("GRPC", &chain.grpc),
            ("RPC", &node),
        ],
    );
    assert!(started.status.success(), "{}", text(&started));
    assert!(
        String::from_utf8_lossy(&started.stdout).contains("consumer: PID "),
        "{}",
        text(&started)
    );
    let consumer_log = || std::fs::read_to_string(testnet.join("logs/consumer.log")).unwrap();

    // --- the scenario, with the demo consumer ------------------------------------------------
    let out = run_scenario(&testnet, &node, &chain.grpc);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!("testnet/scenarios/consumer.sh printed:\n{}", text(&out));
    assert!(
        out.status.success(),
        "{}\n--- consumer log:\n{}",
        text(&out),
        consumer_log()
    );
    for step in [
        "== reading the consumers params",
        &format!("== consumer {CONSUMER_ID}: owner key 'consumer'"),
        "funded consumer (",
        &format!("== registering {CONSUMER_ID}"),
        "lease balance 1000000 ubal",
        "== one node home only: a second operator",
        "registered operator ",
        "== opting two operators in",
        "== waiting for the epoch end",
        "ACTIVE since epoch ",
        "== the demo consumer's stream",
        "   consumer: update_id=1 ",
        &format!("consumer: OK: {CONSUMER_ID} is ACTIVE"),
    ] {
        assert!(stdout.contains(step), "no {step:?} in:\n{}", text(&out));
    }

    // The chain agrees.
    let work = testnet.join("scenarios/consumer");
    let op0 = btc_public_key(&home.join("config/operator_btc_key.json"));
    let op1 = btc_public_key(&work.join("operator_btc_key.json"));
    let key0 = pubkey_of(&work.join(format!(
        "{CONSUMER_ID}/validator0/config/priv_validator_key.json"
    )));
    let key1 = pubkey_of(&work.join(format!(
        "{CONSUMER_ID}/validator1/config/priv_validator_key.json"
    )));
    let c = query(&home, &node, &["consumers", "consumer", CONSUMER_ID])["consumer"].clone();
    assert_eq!(c["status"], "ACTIVE", "{c}");
    let set = query(&home, &node, &["consumers", "validator-set", CONSUMER_ID])["set"].clone();
    let epoch = set["epoch"].as_str().unwrap().to_string();
    let snap = query(&home, &node, &["restaking", "power-snapshot", &epoch]);
    let snap_power = |op: &str| -> u64 {
        snap["powers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["operator_btc_pk"] == op)
            .and_then(|p| p["power"].as_str())
            .unwrap_or_else(|| panic!("no {op} in {snap}"))
            .parse()
            .unwrap()
    };
    let mut want = vec![
        (key0.clone(), op0.clone(), 6000 * snap_power(&op0) / 10_000),
        (key1.clone(), op1.clone(), 4000 * snap_power(&op1) / 10_000),
    ];
    let mut have: Vec<(String, String, u64)> = set["validators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["pubkey"].as_str().unwrap().to_string(),
                v["operator_btc_pk"].as_str().unwrap().to_string(),
                v["power"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    want.sort();
    have.sort();
    assert_eq!(have, want, "{set}");
    assert!(want.iter().all(|w| w.2 > 0), "{want:?}");
    let update_id = set["update_id"].as_str().unwrap().to_string();
    assert!(
        consumer_log().contains(&format!("update_id={update_id} ")),
        "{}",
        consumer_log()
    );

    // status.sh shows the demo consumer and its last verified update.
    let status = bash("testnet/status.sh", &testnet, &[]);
    let status_out = String::from_utf8_lossy(&status.stdout).to_string();
    let line = status_out
        .lines()
        .find(|l| l.starts_with("CONSUMER "))
        .unwrap_or_else(|| panic!("no CONSUMER line:\n{}", text(&status)));
    assert!(line.starts_with("CONSUMER running("), "{line}");
    assert!(line.contains(&format!("ID {CONSUMER_ID}")), "{line}");
    assert!(line.contains("LAST_VERIFIED update_id="), "{line}");

    // down.sh stops it; status.sh says so.
    let down = bash("testnet/down.sh", &testnet, &[]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(
        String::from_utf8_lossy(&down.stdout).contains("stopped consumer (PID"),
        "{}",
        text(&down)
    );
    let status = bash("testnet/status.sh", &testnet, &[]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("CONSUMER down  ID "),
        "{}",
        text(&status)
    );

    // --- again, without the demo consumer: a short subscription ----------------------------
    let out = run_scenario(&testnet, &node, &chain.grpc);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", text(&out));
    for step in [
        "already registered: ACTIVE",
        "== a short subscription",
        "   stream: update_id=1 ",
        &format!("consumer: OK: {CONSUMER_ID} is ACTIVE"),
    ] {
        assert!(stdout.contains(step), "no {step:?} in:\n{}", text(&out));
    }
    assert!(!stdout.contains("funded consumer ("), "{}", text(&out));
    assert!(!stdout.contains("registered operator "), "{}", text(&out));
    let lease: u64 = query(&home, &node, &["consumers", "consumer", CONSUMER_ID])["consumer"]
        ["lease_balance"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(lease > 1_000_000, "funded twice: {lease}");

    // --- failures ------------------------------------------------------------------------------
    // A STOPPED consumer is final: the scenario says so.
    let removed = json_ok(
        &testnet.join("consumer"),
        &[
            "tx",
            "consumers",
            "remove",
            CONSUMER_ID,
            "--from",
            "consumer",
            "--yes",
            "--keyring-backend",
            "test",
            "--node",
            &node,
            "-o",
            "json",
        ],
    );
    assert_eq!(removed["status"], "STOPPED", "{removed}");
    let out = run_scenario(&testnet, &node, &chain.grpc);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "consumer: FAILED: consumer {CONSUMER_ID} is STOPPED"
        )),
        "{}",
        text(&out)
    );
    // No testnet at all.
    let out = run_scenario(&dir.path().join("nothing-here"), &node, &chain.grpc);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no testnet in"),
        "{}",
        text(&out)
    );
}
