//! A consumer's whole life through `ballastd tx consumers` / `query consumers` against
//! `ballastd dev`: a new account registers a consumer (REGISTERED), funds its lease, the dev
//! chain's operator opts in with a consumer key read from a CometBFT key file; after the epoch
//! end the consumer is ACTIVE, its validator set holds that key with
//! floor(allocation × operator power / 10000) and its first update says so (over CometBFT's
//! RPC and over gRPC alike); the owner updates the terms (fields not given are kept); the
//! operator opts out and a later update removes its key; the owner removes the consumer, which
//! is STOPPED and refunds the whole lease.
//!
//! Bad input exits 1: with the chain's stable code in the `consumers` codespace when the chain
//! refuses (a second registration, an invalid term, an unknown consumer, another account's
//! update, remove or opt-in, a key already used, the isolated cap, an opt-out of an operator not
//! opted in, funding a stopped consumer), with a clear message when the CLI does (a bad
//! consumer id, allocation or key, an update with nothing to change).

// A test, not consensus code: it polls the chain with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use ballast_tests::cli::{add_funded_key, json_ok, run as cli, ubal_balance};
use ballast_tests::vigilante::{wait_for, DevChain};
use base64::Engine;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn query(home: &Path, node: &str, args: &[&str]) -> Value {
    let mut all = vec!["query", "consumers"];
    all.extend_from_slice(args);
    all.extend(["--node", node, "-o", "json"]);
    json_ok(home, &all)
}

/// `ballastd tx consumers <args> --from <from> --yes … -o json`.
fn tx(home: &Path, node: &str, from: &str, args: &[&str]) -> Output {
    let mut all = vec!["tx", "consumers"];
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

fn text(out: &Output) -> String {
    format!(
        "exit {}\n--- stdout:\n{}\n--- stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: &Output) -> Value {
    assert!(out.status.success(), "the command failed:\n{}", text(out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["code"], 0, "{v}");
    v
}

/// The chain refused the tx with `code` in the consumers codespace; the command exited 1 and
/// printed the outcome with that code.
fn assert_code(out: &Output, code: u32) {
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected code {code}:\n{}",
        text(out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = format!("code {code} (codespace \"consumers\")");
    assert!(stderr.contains(&want), "expected {want:?}:\n{}", text(out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["codespace"], "consumers", "{v}");
}

/// The CLI refused the input before sending anything.
fn assert_refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected a refusal:\n{}",
        text(out)
    );
    assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
}

/// An ed25519 key pair's public key, and a CometBFT `priv_validator_key.json` holding it.
fn consumer_key(seed: u8, file: &Path) -> String {
    let sk = ed25519_consensus::SigningKey::from([seed; 32]);
    let pk = sk.verification_key().to_bytes();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut full = sk.to_bytes().to_vec();
    full.extend_from_slice(&pk);
    let doc = json!({
        "address": "",
        "pub_key": {"type": "tendermint/PubKeyEd25519", "value": b64(&pk)},
        "priv_key": {"type": "tendermint/PrivKeyEd25519", "value": b64(&full)},
    });
    std::fs::write(file, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    hex::encode(pk)
}

fn u64_of(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a u64 string: {v}"))
}

#[test]
fn a_consumer_is_registered_funded_opted_in_updated_opted_out_and_removed_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("dev");
    let chain = DevChain::start(&home, 250);
    let node = chain.rpc.clone();

    let alice = add_funded_key(&home, &node, "alice", "100000000ubal");

    let params = query(&home, &node, &["params"]);
    let ratio = params["params"]["max_reuse_ratio"].as_str().unwrap();
    assert!(ratio == "3" || ratio == "3.0", "{params}");
    assert_eq!(
        params["params"]["max_opt_ins_per_consumer"], 500,
        "{params}"
    );

    // --- register ---------------------------------------------------------------------------
    assert_refused(
        &tx(
            &home,
            &node,
            "alice",
            &["register", "bad/id", "--fee-per-epoch", "1000"],
        ),
        "bad consumer id",
    );
    assert_refused(
        &tx(
            &home,
            &node,
            "alice",
            &["register", "demo-1", "--fee-per-epoch", "0"],
        ),
        "more than 0",
    );
    // max_operators 0 breaks the terms: the chain's code 5.
    assert_code(
        &tx(
            &home,
            &node,
            "alice",
            &[
                "register",
                "demo-1",
                "--fee-per-epoch",
                "1000",
                "--max-operators",
                "0",
            ],
        ),
        5,
    );
    let registered = ok(&tx(
        &home,
        &node,
        "alice",
        &[
            "register",
            "demo-1",
            "--name",
            "Demo one",
            "--fee-per-epoch",
            "1000ubal",
            "--max-operators",
            "10",
        ],
    ));
    assert_eq!(registered["consumer_id"], "demo-1", "{registered}");
    assert_eq!(registered["status"], "REGISTERED", "{registered}");
    let c = query(&home, &node, &["consumer", "demo-1"])["consumer"].clone();
    assert_eq!(c["owner"], alice.as_str(), "{c}");
    assert_eq!(c["status"], "REGISTERED", "{c}");
    assert_eq!(c["allocation_mode"], "SHARED", "{c}");
    assert_eq!(c["terms"]["name"], "Demo one", "{c}");
    assert_eq!(c["terms"]["fee_per_epoch"], "1000", "{c}");
    assert_eq!(c["terms"]["min_operators"], 1, "{c}");
    assert_eq!(c["terms"]["max_operators"], 10, "{c}");
    assert_eq!(c["terms"]["double_sign_slash_fraction"], "0.05", "{c}");
    // An id registers once.
    assert_code(
        &tx(
            &home,
            &node,
            "dev",
            &["register", "demo-1", "--fee-per-epoch", "5"],
        ),
        10,
    );
    // gRPC answers the same.
    let over_grpc = json_ok(
        &home,
        &[
            "query",
            "consumers",
            "consumer",
            "demo-1",
            "--grpc",
            &chain.grpc,
            "-o",
            "json",
        ],
    );
    assert_eq!(over_grpc["consumer"], c);

    // --- fund ----------------------------------------------------------------------------------
    assert_code(
        &tx(&home, &node, "alice", &["fund", "nobody-1", "1000"]),
        11,
    );
    let funded = ok(&tx(&home, &node, "alice", &["fund", "demo-1", "50000ubal"]));
    assert_eq!(funded["lease_balance"], "50000", "{funded}");
    // Any account may pay.
    let funded = ok(&tx(&home, &node, "dev", &["fund", "demo-1", "30000"]));
    assert_eq!(funded["lease_balance"], "80000", "{funded}");

    // --- opt in ----------------------------------------------------------------------------------
    let op_pk =
        ballast_tests::btc_staking::key_file_public_key(&home.join("config/operator_btc_key.json"));
    let key_file = dir.path().join("consumer_priv_validator_key.json");
    let ckey = consumer_key(7, &key_file);
    let key_arg = key_file.to_str().unwrap();
    assert_refused(
        &tx(
            &home,
            &node,
            "operator",
            &["opt-in", "demo-1", key_arg, "--allocation-bps", "0"],
        ),
        "1 to 10000",
    );
    assert_refused(
        &tx(
            &home,
            &node,
            "operator",
            &["opt-in", "demo-1", "abcd", "--allocation-bps", "5000"],
        ),
        "bad consumer key",
    );
    assert_code(
        &tx(
            &home,
            &node,
            "operator",
            &["opt-in", "nobody-1", key_arg, "--allocation-bps", "5000"],
        ),
        11,
    );
    // Only the operator's owner opts it in.
    assert_code(
        &tx(
            &home,
            &node,
            "alice",
            &[
                "opt-in",
                "demo-1",
                key_arg,
                "--allocation-bps",
                "5000",
                "--operator",
                &op_pk,
            ],
        ),
        16,
    );
    // The operator defaults to this home's operator key.
    let opted = ok(&tx(
        &home,
        &node,
        "operator",
        &["opt-in", "demo-1", key_arg, "--allocation-bps", "5000"],
    ));
    assert_eq!(opted["operator_btc_pk"], op_pk.as_str(), "{opted}");
    assert_eq!(opted["pending_allocation_bps"], 5000, "{opted}");
    let effective = u64_of(&opted["effective_after_epoch"]);
    assert!(effective >= 1, "{opted}");
    let opt_ins = query(&home, &node, &["opt-ins", "demo-1"]);
    let o = &opt_ins["opt_ins"][0];
    assert_eq!(o["operator_btc_pk"], op_pk.as_str(), "{opt_ins}");
    assert_eq!(o["has_pending"], true, "{opt_ins}");
    assert_eq!(o["consumer_pubkey"], ckey.as_str(), "{opt_ins}");
    assert_eq!(o["pending_allocation_bps"], 5000, "{opt_ins}");

    // The isolated cap: a second, isolated consumer takes at most 100% in total.
    ok(&tx(
        &home,
        &node,
        "alice",
        &[
            "register",
            "iso-1",
            "--fee-per-epoch",
            "10",
            "--allocation-mode",
            "isolated",
        ],
    ));
    let iso_key = consumer_key(8, &dir.path().join("iso_key.json"));
    assert_code(
        &tx(
            &home,
            &node,
            "operator",
            &["opt-in", "iso-1", &iso_key, "--allocation-bps", "6000"],
        ),
        17,
    );
    // A consumer key serves one operator on one consumer.
    assert_code(
        &tx(
            &home,
            &node,
            "operator",
            &["opt-in", "iso-1", &ckey, "--allocation-bps", "1000"],
        ),
        19,
    );
    let alloc = query(&home, &node, &["allocations", &op_pk]);
    assert_eq!(alloc["encumbered_bps"], 5000, "{alloc}");
    assert_eq!(alloc["cap_bps"], 30000, "{alloc}");

    // --- the epoch end: ACTIVE, the set, the first update ------------------------------------
    let op_power = u64_of(
        &json_ok(
            &home,
            &[
                "query",
                "restaking",
                "operator",
                &op_pk,
                "--node",
                &node,
                "-o",
                "json",
            ],
        )["power"]["power"],
    );
    let want_power = op_power * 5000 / 10_000;
    assert!(want_power > 0, "operator power {op_power}");
    let active = wait_for(WAIT, || {
        query(&home, &node, &["consumer", "demo-1"])["consumer"]["status"] == "ACTIVE"
    });
    let c = query(&home, &node, &["consumer", "demo-1"])["consumer"].clone();
    assert!(active, "{c}");
    assert_eq!(u64_of(&c["activated_epoch"]), effective, "{c}");
    assert_eq!(c["last_update_id"], "1", "{c}");
    let set = query(&home, &node, &["validator-set", "demo-1"])["set"].clone();
    assert_eq!(set["update_id"], "1", "{set}");
    assert_eq!(u64_of(&set["epoch"]), effective, "{set}");
    assert_eq!(
        set["validators"],
        json!([{"pubkey": ckey, "power": want_power.to_string(), "operator_btc_pk": op_pk}]),
        "{set}"
    );
    assert_eq!(set["set_hash"].as_str().unwrap().len(), 64, "{set}");
    let updates = query(&home, &node, &["updates", "demo-1"])["updates"].clone();
    assert_eq!(updates.as_array().unwrap().len(), 1, "{updates}");
    assert_eq!(updates[0]["update_id"], "1");
    assert_eq!(updates[0]["changes"], set["validators"], "{updates}");
    assert_eq!(updates[0]["set_hash"], set["set_hash"], "{updates}");
    let listed = query(&home, &node, &["consumers", "--status", "active"]);
    let ids: Vec<&str> = listed["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["consumer_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["demo-1"], "{listed}");
    let registered = query(&home, &node, &["consumers", "--status", "registered"]);
    assert_eq!(
        registered["consumers"][0]["consumer_id"], "iso-1",
        "{registered}"
    );
    // The lease is drawn at every epoch end.
    let drawn = wait_for(WAIT, || {
        let c = query(&home, &node, &["consumer", "demo-1"])["consumer"].clone();
        u64_of(&c["lease_balance"]) < 80_000 && c["total_paid"] != "0"
    });
    assert!(drawn, "{}", query(&home, &node, &["consumer", "demo-1"]));

    // --- update --------------------------------------------------------------------------------
    assert_refused(
        &tx(&home, &node, "alice", &["update", "demo-1"]),
        "nothing to change",
    );
    assert_code(
        &tx(
            &home,
            &node,
            "dev",
            &["update", "demo-1", "--name", "stolen"],
        ),
        12,
    );
    let updated = ok(&tx(
        &home,
        &node,
        "alice",
        &[
            "update",
            "demo-1",
            "--fee-per-epoch",
            "2000",
            "--max-operators",
            "20",
        ],
    ));
    assert_eq!(updated["terms"]["fee_per_epoch"], "2000", "{updated}");
    let t = query(&home, &node, &["consumer", "demo-1"])["consumer"]["terms"].clone();
    assert_eq!(t["fee_per_epoch"], "2000", "{t}");
    assert_eq!(t["max_operators"], 20, "{t}");
    assert_eq!(t["name"], "Demo one", "{t}");
    assert_eq!(t["min_operators"], 1, "{t}");

    // --- opt out ---------------------------------------------------------------------------------
    let out = ok(&tx(&home, &node, "operator", &["opt-out", "demo-1"]));
    assert_eq!(out["pending_allocation_bps"], 0, "{out}");
    let out_epoch = u64_of(&out["effective_after_epoch"]);
    assert_code(&tx(&home, &node, "operator", &["opt-out", "demo-1"]), 20);
    let removed = wait_for(WAIT, || {
        query(&home, &node, &["consumer", "demo-1"])["consumer"]["last_update_id"] == "2"
    });
    assert!(removed, "{}", query(&home, &node, &["consumer", "demo-1"]));
    let updates = query(&home, &node, &["updates", "demo-1", "--after", "1"])["updates"].clone();
    assert_eq!(updates.as_array().unwrap().len(), 1, "{updates}");
    assert_eq!(updates[0]["update_id"], "2");
    assert_eq!(u64_of(&updates[0]["epoch"]), out_epoch, "{updates}");
    assert_eq!(
        updates[0]["changes"],
        json!([{"pubkey": ckey, "power": "0", "operator_btc_pk": op_pk}]),
        "{updates}"
    );
    // The withdrawn allocation stays slashable for the deallocation delay, and counts.
    let delay = u64_of(&params["params"]["deallocation_delay_epochs"]);
    let alloc = query(&home, &node, &["allocations", &op_pk]);
    let o = alloc["opt_ins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["consumer_id"] == "demo-1")
        .cloned()
        .unwrap_or_else(|| panic!("no demo-1 opt-in in {alloc}"));
    assert_eq!(o["allocation_bps"], 0, "{alloc}");
    assert_eq!(o["slashable_bps"], 5000, "{alloc}");
    assert_eq!(
        u64_of(&o["slashable_until_epoch"]),
        out_epoch + delay,
        "{alloc}"
    );
    assert_eq!(alloc["encumbered_bps"], 5000, "{alloc}");

    // --- remove -----------------------------------------------------------------------------------
    assert_code(&tx(&home, &node, "dev", &["remove", "demo-1"]), 12);
    let before = ubal_balance(&home, &node, &alice);
    let gone = ok(&cli(
        &home,
        &[
            "tx",
            "consumers",
            "remove",
            "demo-1",
            "--from",
            "alice",
            "--fees",
            "20000ubal",
            "--gas",
            "400000",
            "--yes",
            "--keyring-backend",
            "test",
            "--node",
            &node,
            "-o",
            "json",
        ],
    ));
    assert_eq!(gone["status"], "STOPPED", "{gone}");
    assert_eq!(gone["stop_reason"], "REMOVED", "{gone}");
    assert_eq!(gone["lease_balance"], "0", "{gone}");
    // The whole lease as the block before saw it goes back to the owner.
    let height = u64_of(&gone["height"]);
    let lease_before = u64_of(
        &json_ok(
            &home,
            &[
                "query",
                "consumers",
                "consumer",
                "demo-1",
                "--height",
                &(height - 1).to_string(),
                "--node",
                &node,
                "-o",
                "json",
            ],
        )["consumer"]["lease_balance"],
    );
    assert!(lease_before > 0);
    let after = ubal_balance(&home, &node, &alice);
    assert_eq!(
        after + 20_000,
        before + u128::from(lease_before),
        "alice had {before}, paid 20000 in fees and should get {lease_before} back"
    );
    // STOPPED is final.
    assert_code(&tx(&home, &node, "alice", &["fund", "demo-1", "1000"]), 13);
    let stopped = query(&home, &node, &["consumers", "--status", "stopped"]);
    assert_eq!(
        stopped["consumers"][0]["consumer_id"], "demo-1",
        "{stopped}"
    );
}
