//! An operator's view of the Bitcoin light client and checkpointing through `ballastd`, against
//! `ballastd dev`: the default genesis tip is regtest's genesis at height 0; `tx btclightclient
//! insert-headers` with regtest headers mined here moves the tip, while a header with bad proof
//! of work or one that does not connect fails with its code and changes nothing; the epoch of a
//! height, the sealed checkpoint of epoch 1 with its lifecycle, the validator's BLS key and the
//! epoch snapshots read back; `--grpc` prints the same as `--node`, `--height` reads the past,
//! and an unknown epoch or header is a clear error with exit code 1.

use ballast_tests::btc_headers::{display_hash, mine, raw_hex, regtest_chain, regtest_genesis};
use ballast_tests::cli::{json_ok, run as cli};
use ballast_tests::node::{free_port, spawn_dev, Ballastd};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// `ballastd tx btclightclient insert-headers <args> --from dev ... --node <node> -o json`.
fn insert_headers_args<'a>(args: &[&'a str], node: &'a str) -> Vec<&'a str> {
    let mut all = vec!["tx", "btclightclient", "insert-headers"];
    all.extend_from_slice(args);
    all.extend([
        "--from",
        "dev",
        "--yes",
        "--keyring-backend",
        "test",
        "--node",
        node,
        "-o",
        "json",
    ]);
    all
}

/// The CLI exited 1 and printed the light client's `code` as JSON.
fn assert_failed_with(out: &std::process::Output, code: u32) {
    assert_eq!(out.status.code(), Some(1));
    let failed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&failed["codespace"], &failed["code"]),
        (&Value::from("btclightclient"), &Value::from(code)),
        "{failed}"
    );
}

fn start_dev(home: &Path, rpc: &str, grpc: &str) -> Ballastd {
    spawn_dev(home, rpc, grpc, 300)
}

/// The latest height, through `ballastd status`.
fn height(home: &Path, node: &str) -> u64 {
    let out = cli(home, &["status", "--node", node, "-o", "json"]);
    if !out.status.success() {
        return 0;
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["sync_info"]["latest_block_height"]
        .as_str()
        .and_then(|h| h.parse().ok())
        .unwrap_or(0)
}

/// Waits (bounded by a count of polls) until the chain is past `h`.
fn wait_past(home: &Path, node: &str, h: u64) -> u64 {
    for _ in 0..600 {
        let now = height(home, node);
        if now > h {
            return now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the dev chain did not pass height {h} within 600 polls");
}

/// Runs a query that must fail: exit code 1, nothing on stdout; returns stderr.
fn query_err(home: &Path, args: &[&str]) -> String {
    let out = cli(home, args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "ballastd {args:?} should fail:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn light_client_and_checkpoint_queries_and_header_txs_work_against_ballastd_dev() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("dev");
    let rpc = format!("127.0.0.1:{}", free_port());
    let grpc = format!("127.0.0.1:{}", free_port());
    let node = format!("tcp://{rpc}");
    let _dev = start_dev(&home, &rpc, &grpc);
    wait_past(&home, &node, 0);
    let q = |args: &[&str]| -> Value {
        let mut full: Vec<&str> = vec!["query"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--node", &node, "-o", "json"]);
        json_ok(&home, &full)
    };
    let q_grpc = |args: &[&str]| -> Value {
        let mut full: Vec<&str> = vec!["query"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--grpc", &grpc, "-o", "json"]);
        json_ok(&home, &full)
    };

    // The default genesis: the light client starts at regtest's genesis.
    let genesis = regtest_genesis();
    let tip = q(&["btclightclient", "tip"]);
    assert_eq!(tip["header"]["height"], "0", "{tip}");
    assert_eq!(tip["header"]["hash"], display_hash(&genesis), "{tip}");
    assert_eq!(tip["header"]["header"], raw_hex(&genesis), "{tip}");
    assert_eq!(tip["header"]["bits"], "207fffff", "{tip}");
    assert_eq!(q_grpc(&["btclightclient", "tip"]), tip);
    let params = q(&["btclightclient", "params"]);
    assert_eq!(params["params"]["network"], "regtest", "{params}");

    // Epochs of 10 blocks by default: height 15 is in epoch 2, heights 11 to 20.
    let epoch = q(&["checkpointing", "epoch-of-height", "15"]);
    assert_eq!(epoch["epoch"], "2", "{epoch}");
    assert_eq!(
        (&epoch["first_height"], &epoch["last_height"]),
        (&Value::from("11"), &Value::from("20")),
        "{epoch}"
    );
    assert_eq!(q_grpc(&["checkpointing", "epoch-of-height", "15"]), epoch);
    assert_eq!(
        q(&["checkpointing", "latest-finalized"])["epoch"],
        Value::Null
    );
    let cparams = q(&["checkpointing", "params"]);
    assert_eq!(cparams["params"]["checkpoint_tag"], "bal0", "{cparams}");

    // Three mined headers: two as arguments, one from a file.
    let best = regtest_chain(&genesis, 3, 7);
    let file = dir.path().join("headers.txt");
    std::fs::write(&file, format!("{}\n", raw_hex(&best[2]))).unwrap();
    let before = height(&home, &node);
    let sent = json_ok(
        &home,
        &insert_headers_args(
            &[
                &raw_hex(&best[0]),
                &raw_hex(&best[1]),
                "--file",
                file.to_str().unwrap(),
            ],
            &node,
        ),
    );
    assert_eq!(sent["code"], 0, "{sent}");
    let tip = q(&["btclightclient", "tip"]);
    assert_eq!(tip["header"]["height"], "3", "{tip}");
    assert_eq!(tip["header"]["hash"], display_hash(&best[2]), "{tip}");
    assert_eq!(
        tip["header"]["prev_block_hash"],
        display_hash(&best[1]),
        "{tip}"
    );
    assert_eq!(q_grpc(&["btclightclient", "tip"]), tip);
    // Before the tx the tip was the genesis (over both transports).
    let past = before.to_string();
    for old in [
        q(&["btclightclient", "tip", "--height", &past]),
        q_grpc(&["btclightclient", "tip", "--height", &past]),
    ] {
        assert_eq!(old["header"]["height"], "0", "{old}");
    }

    // Hashes are read in display order, upper or lower case.
    let h1 = display_hash(&best[0]);
    let header = q(&["btclightclient", "header", &h1.to_uppercase()]);
    assert_eq!(header["header"]["height"], "1", "{header}");
    assert_eq!(header["on_best_chain"], true, "{header}");
    let at2 = q(&["btclightclient", "header-at", "2"]);
    assert_eq!(at2["header"]["hash"], display_hash(&best[1]), "{at2}");
    assert_eq!(q(&["btclightclient", "depth", &h1])["depth"], "2");
    assert_eq!(q(&["btclightclient", "contains", &h1])["contains"], true);
    let page = q(&["btclightclient", "main-chain", "--limit", "2"]);
    let heights: Vec<&str> = page["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["height"].as_str().unwrap())
        .collect();
    assert_eq!(heights, ["0", "1"], "{page}");
    assert_eq!(page["next_height"], "2", "{page}");

    // A header that misses its target: code 8, exit 1, nothing changes.
    let bad_pow = mine(&best[2], 99, false);
    let out = cli(&home, &insert_headers_args(&[&raw_hex(&bad_pow)], &node));
    assert_failed_with(&out, 8);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not meet its target"), "{stderr}");
    // A header whose parent is unknown, with a fixed gas limit (so no simulation first): code 6.
    let orphan = mine(&mine(&best[2], 50, true), 51, true);
    let out = cli(
        &home,
        &insert_headers_args(&[&raw_hex(&orphan), "--gas", "300000"], &node),
    );
    assert_failed_with(&out, 6);
    assert_eq!(q(&["btclightclient", "tip"]), tip);
    for h in [display_hash(&bad_pow), display_hash(&orphan)] {
        assert_eq!(q(&["btclightclient", "contains", &h])["contains"], false);
    }

    // Unknown things are errors with the chain's code, over both transports.
    let unknown = display_hash(&bad_pow);
    for transport in [["--node", node.as_str()], ["--grpc", grpc.as_str()]] {
        let e = query_err(
            &home,
            &[
                "query",
                "btclightclient",
                "header",
                &unknown,
                transport[0],
                transport[1],
            ],
        );
        assert!(
            e.contains("code 15 (btclightclient)") && e.contains(&unknown),
            "{e}"
        );
        let e = query_err(
            &home,
            &[
                "query",
                "checkpointing",
                "checkpoint",
                "9999",
                transport[0],
                transport[1],
            ],
        );
        assert!(
            e.contains("code 26 (checkpointing)") && e.contains("epoch 9999"),
            "{e}"
        );
    }
    let e = query_err(
        &home,
        &["query", "btclightclient", "depth", "abcd", "--node", &node],
    );
    assert!(e.contains("64 hex digits"), "{e}");

    // Epoch 1 (heights 1 to 10) is sealed by the first block of epoch 2.
    let now = wait_past(&home, &node, 11);
    let at = now.to_string();
    let cp = q(&["checkpointing", "checkpoint", "1", "--height", &at]);
    let c = &cp["checkpoint"];
    assert_eq!(c["epoch"], "1", "{cp}");
    assert_eq!(c["status"], "SEALED", "{cp}");
    let life: Vec<&str> = c["lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(life, ["ACCUMULATING", "SEALED"], "{cp}");
    let block_hash = c["block_hash"].as_str().unwrap();
    assert_eq!(block_hash.len(), 64);
    assert_eq!(block_hash, block_hash.to_lowercase());
    assert_eq!(c["raw"]["block_hash"], block_hash);
    assert_eq!(c["raw"]["bitmap"], format!("01{}", "00".repeat(12)), "{cp}");
    assert_eq!(c["signed_power"], c["total_power"], "{cp}");
    assert_eq!(c["submission"], Value::Null);
    assert_eq!(
        q_grpc(&["checkpointing", "checkpoint", "1", "--height", &at]),
        cp
    );
    let sealed = q(&["checkpointing", "checkpoints", "--status", "sealed"]);
    assert_eq!(sealed["checkpoints"][0]["epoch"], "1", "{sealed}");
    let all = q(&["checkpointing", "checkpoints", "--limit", "1"]);
    assert_eq!(all["checkpoints"].as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all["checkpoints"][0]["epoch"], "1", "{all}");
    assert!(
        q(&["checkpointing", "checkpoints", "--status", "finalized"])["checkpoints"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The text output names the status too.
    let text = cli(
        &home,
        &["query", "checkpointing", "checkpoint", "1", "--node", &node],
    );
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("status: SEALED"));

    // The validator's BLS key is the one in epoch 1's snapshot.
    let status = json_ok(&home, &["status", "--node", &node, "-o", "json"]);
    let validator = status["validator_info"]["address"].as_str().unwrap();
    let key = q(&["checkpointing", "bls-key", validator]);
    assert_eq!(
        key["bls_key"]["validator_address"],
        validator.to_lowercase(),
        "{key}"
    );
    let pubkey = key["bls_key"]["bls_pubkey"].as_str().unwrap();
    assert_eq!(pubkey.len(), 192, "{key}");
    let snap = q(&["checkpointing", "snapshot", "1"]);
    let vals = snap["snapshot"]["validators"].as_array().unwrap();
    assert_eq!(vals.len(), 1, "{snap}");
    assert_eq!(vals[0]["validator_address"], validator.to_lowercase());
    assert_eq!(vals[0]["bls_pubkey"], pubkey);
    assert_eq!(snap["snapshot"]["total_power"], c["total_power"], "{snap}");
    assert_eq!(q_grpc(&["checkpointing", "bls-key", validator]), key);
}
