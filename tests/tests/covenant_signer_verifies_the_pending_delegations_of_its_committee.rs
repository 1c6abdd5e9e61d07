//! `ballast-covenant` against `ballastd dev`, whose genesis has a covenant committee of one key
//! (quorum 1) in `config/covenant_key.json`. BTC delegations are registered PENDING with
//! `ballastd tx restaking btc-delegate` (their unsigned staking txs built by `ballastd btc
//! staking-scripts` from a made-up funding output: PENDING needs no Bitcoin node). The signer,
//! started with that key and the dev account, checks and signs every one of them, those
//! registered before it started and one registered while it runs: each becomes VERIFIED with
//! exactly one covenant signature, by that key, and the signer's record lists each once.
//! SIGTERM stops it cleanly (exit code 0).

use ballast_tests::cli::json_ok;
use ballast_tests::node::workspace_bin;
use ballast_tests::vigilante::{wait_for, DevChain};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const STAKING_TIME: u32 = 1000;

fn query(home: &Path, node: &str, args: &[&str]) -> Value {
    let mut all = vec!["query", "restaking"];
    all.extend_from_slice(args);
    all.extend(["--node", node, "-o", "json"]);
    json_ok(home, &all)
}

/// Registers a PENDING delegation of a new staker to `operator`; returns its staking txid.
fn delegate(
    home: &Path,
    node: &str,
    dir: &Path,
    n: usize,
    operator: &str,
    committee: &Value,
) -> String {
    let key_file = dir.join(format!("staker{n}.json"));
    let staker = json_ok(
        home,
        &["btc", "keygen", "--out", key_file.to_str().unwrap()],
    );
    let input = json!({
        "network": "regtest",
        "keys": {
            "stakerPk": staker["public_key"],
            "fpPks": [operator],
            "covenantPks": committee["covenant_pks"],
        },
        "params": {
            "covenantQuorum": committee["covenant_quorum"],
            "stakingTime": STAKING_TIME,
            "unbondingTime": committee["unbonding_time"],
            "unbondingFeeSat": 1000,
            "slashingRate": 0.1,
            "minSlashingTxFeeSat": 1000,
            "slashingPkScriptHex": committee["slashing_pk_script"],
            "stakingAmountSat": 100_000 + n as u64,
            "feeRate": 2,
        },
        "fundingUtxo": {
            "txid": "11".repeat(32),
            "vout": 0,
            "value": 10_000_000,
            "scriptPubKey": "5120c18e0ae5d63ce67c40589a58589d73aed1975050bea170d177a31665828b235a",
        },
    });
    let input_file = dir.join(format!("staking{n}.json"));
    std::fs::write(&input_file, input.to_string()).unwrap();
    let built = json_ok(
        home,
        &[
            "btc",
            "staking-scripts",
            "--input",
            input_file.to_str().unwrap(),
        ],
    );
    let tx = built["stakingTx"]["hex"].as_str().unwrap().to_string();
    let time = STAKING_TIME.to_string();
    let out = json_ok(
        home,
        &[
            "tx",
            "restaking",
            "btc-delegate",
            "--staking-tx",
            &tx,
            "--btc-key",
            key_file.to_str().unwrap(),
            "--operator",
            operator,
            "--staking-time",
            &time,
            "--from",
            "dev",
            "--yes",
            "--keyring-backend",
            "test",
            "--node",
            node,
            "--output",
            "json",
        ],
    );
    assert_eq!(out["code"], 0, "{out}");
    let txid = out["staking_txid"].as_str().unwrap().to_string();
    assert_eq!(status(home, node, &txid).0, "PENDING");
    txid
}

/// A delegation's status and the covenant keys that signed it.
fn status(home: &Path, node: &str, txid: &str) -> (String, Vec<String>) {
    let d = query(home, node, &["btc-delegation", txid])["delegation"].clone();
    let signers = d["covenant_sigs"]
        .as_array()
        .map(|sigs| {
            sigs.iter()
                .map(|s| s["covenant_pk"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    (d["status"].as_str().unwrap().to_string(), signers)
}

/// The signer process; killed if the test fails before it is stopped.
struct Signer {
    child: Child,
    log: PathBuf,
}

impl Drop for Signer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Signer {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

#[test]
fn covenant_signer_verifies_the_pending_delegations_of_its_committee() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("dev");
    let chain = DevChain::start(&home, 300);
    let node = chain.rpc.clone();

    let params = query(&home, &node, &["params"]);
    let committee = params["params"]["btc"].clone();
    let key_file = home.join("config").join("covenant_key.json");
    let key: Value = serde_json::from_str(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    let covenant_pk = key["public_key"].as_str().unwrap().to_string();
    assert_eq!(
        committee["covenant_pks"],
        json!([covenant_pk]),
        "the dev chain's committee is its one key: {params}"
    );
    let operator = query(&home, &node, &["operators"])["operators"][0]["btc_pk"]
        .as_str()
        .unwrap_or_else(|| panic!("the dev chain has an operator"))
        .to_string();

    let before: Vec<String> = (0..2)
        .map(|n| delegate(&home, &node, dir.path(), n, &operator, &committee))
        .collect();

    let bin = workspace_bin("ballast-covenant", "BALLAST_COVENANT_BIN");
    let config = dir.path().join("covenant").join("covenant.toml");
    let out = Command::new(&bin)
        .args(["init-config", "--output", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let chain_id = ballast_tests::vigilante::chain_id(&home);
    let log = dir.path().join("covenant.log");
    let mut signer = Signer {
        child: Command::new(&bin)
            .args([
                "start",
                "--config",
                config.to_str().unwrap(),
                "--ballast-rpc",
                &node,
                "--ballast-grpc",
                &chain.grpc,
                "--chain-id",
                &chain_id,
                "--keyring-dir",
                home.to_str().unwrap(),
                "--key-name",
                "dev",
                "--key-file",
                key_file.to_str().unwrap(),
                "--poll-interval-ms",
                "300",
            ])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
        log,
    };

    let verified = |txids: &[String]| {
        txids
            .iter()
            .all(|t| status(&home, &node, t).0 == "VERIFIED")
    };
    assert!(
        wait_for(Duration::from_secs(60), || verified(&before)),
        "not VERIFIED: {:?}\nsigner log:\n{}",
        before
            .iter()
            .map(|t| status(&home, &node, t))
            .collect::<Vec<_>>(),
        signer.log()
    );
    // One registered while the signer runs is signed too.
    let during = delegate(&home, &node, dir.path(), 2, &operator, &committee);
    assert!(
        wait_for(Duration::from_secs(60), || verified(std::slice::from_ref(
            &during
        ))),
        "not VERIFIED: {:?}\nsigner log:\n{}",
        status(&home, &node, &during),
        signer.log()
    );
    let all: Vec<String> = before.iter().chain([&during]).cloned().collect();
    for t in &all {
        assert_eq!(
            status(&home, &node, t),
            ("VERIFIED".to_string(), vec![covenant_pk.clone()]),
            "{t}"
        );
    }

    // A few more polls: nothing is signed twice.
    std::thread::sleep(Duration::from_secs(2));
    let record = std::fs::read_to_string(
        config
            .parent()
            .unwrap()
            .join("covenant-data")
            .join("signed.jsonl"),
    )
    .unwrap();
    let lines: Vec<Value> = record
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), all.len(), "{record}");
    for t in &all {
        assert_eq!(
            lines
                .iter()
                .filter(|l| l["staking_txid"] == t.as_str())
                .count(),
            1,
            "{record}"
        );
    }
    let signer_log = signer.log();
    assert!(!signer_log.contains("WARN"), "{signer_log}");
    assert!(!signer_log.contains("ERROR"), "{signer_log}");

    // SIGTERM: a clean stop with exit code 0.
    let pid = i32::try_from(signer.child.id()).unwrap();
    assert_eq!(sigterm(pid), 0);
    assert!(
        wait_for(Duration::from_secs(10), || signer
            .child
            .try_wait()
            .unwrap()
            .is_some()),
        "the signer did not stop on SIGTERM:\n{}",
        signer.log()
    );
    let code = signer.child.wait().unwrap();
    assert!(code.success(), "{code:?}\n{}", signer.log());
    assert!(
        signer.log().contains("ballast-covenant stopped"),
        "{}",
        signer.log()
    );
}

/// Sends SIGTERM to `pid` with the `kill` command (the workspace denies unsafe code); returns
/// its exit code.
fn sigterm(pid: i32) -> i32 {
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .code()
        .unwrap_or(-1)
}
