//! The staker's whole round trip with real bitcoin, against a regtest bitcoind, `ballastd dev`
//! and its covenant signer (`ballast-covenant` with the dev home's covenant key):
//!
//! - `ballastd btc stake --wait-inclusion` has the wallet fund and sign the staking tx,
//!   registers the delegation, broadcasts the tx and, once headers relayed here put it k deep
//!   in the light client, sends its inclusion proof: the delegation becomes ACTIVE and its
//!   satoshis count in the operator's power.
//! - `ballastd btc unbond` completes the unbonding tx with the staker's and the covenant's
//!   signatures: bitcoind accepts it (its script checks pass) and the delegation is UNBONDING.
//! - `ballastd btc withdraw` refuses, saying how many blocks remain, until the unbonding
//!   output's timelock has passed, then takes the coins back through the unbonding-timelock
//!   leaf with the right nSequence; a second stake is withdrawn from the staking output itself
//!   after its staking time.

// A test, not consensus code: it waits on processes with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use ballast_tests::bitcoind::{BitcoinD, WALLET};
use ballast_tests::cli::{json_ok, run as cli};
use ballast_tests::node::{ballastd_bin, workspace_bin};
use ballast_tests::vigilante::{chain_id, wait_for, DevChain};
use bitcoin::{Amount, Txid};
use bitcoincore_rpc::RpcApi;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn query(home: &Path, node: &str, args: &[&str]) -> Value {
    let mut all = vec!["query"];
    all.extend_from_slice(args);
    all.extend(["--node", node, "-o", "json"]);
    json_ok(home, &all)
}

/// `--from <from> --yes --keyring-backend test --node <node> -o json`.
fn tx_flags<'a>(from: &'a str, node: &'a str) -> Vec<&'a str> {
    vec![
        "--from",
        from,
        "--yes",
        "--keyring-backend",
        "test",
        "--node",
        node,
        "-o",
        "json",
    ]
}

/// A new keyring account funded by the dev account.
fn funded_account(home: &Path, node: &str, name: &str) -> String {
    let k = json_ok(
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
    );
    let addr = k["address"].as_str().unwrap().to_string();
    let mut args = vec!["tx", "bank", "send", "dev", &addr, "1000000000ubal"];
    args.extend(&tx_flags("dev", node)[2..]);
    let sent = json_ok(home, &args);
    assert_eq!(sent["code"], 0, "{sent}");
    addr
}

/// Relays bitcoind's headers above the light client's tip, sent by `from`.
fn relay_headers(home: &Path, node: &str, btc: &BitcoinD, from: &str, dir: &Path) {
    let tip = query(home, node, &["btclightclient", "tip"]);
    let have: u64 = tip["header"]["height"].as_str().unwrap().parse().unwrap();
    let best = btc.height().unwrap();
    let heights: Vec<u64> = (have + 1..=best).collect();
    for chunk in heights.chunks(50) {
        let text: Vec<String> = chunk
            .iter()
            .map(|h| {
                hex::encode(
                    btc.header_bytes(&btc.rpc().get_block_hash(*h).unwrap())
                        .unwrap(),
                )
            })
            .collect();
        let file = dir.join("headers.txt");
        std::fs::write(&file, text.join("\n")).unwrap();
        let mut args = vec![
            "tx",
            "btclightclient",
            "insert-headers",
            "--file",
            file.to_str().unwrap(),
        ];
        args.extend(tx_flags(from, node));
        let out = json_ok(home, &args);
        assert_eq!(out["code"], 0, "{out}");
    }
}

/// The `--bitcoin-*` flags for `btc`: the node, and the wallet when `wallet`.
fn bitcoin_flags(btc: &BitcoinD, wallet: bool) -> Vec<String> {
    let (user, password) = btc.credentials();
    let mut v = vec![
        "--bitcoin-rpc-url".into(),
        btc.rpc_url(),
        "--bitcoin-rpc-user".into(),
        user.into(),
        "--bitcoin-rpc-password".into(),
        password.into(),
    ];
    if wallet {
        v.extend(["--bitcoin-wallet".into(), WALLET.into()]);
    }
    v
}

fn run_strings(home: &Path, args: &[String]) -> Output {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    cli(home, &refs)
}

fn ok_json(out: &Output, what: &str) -> Value {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what} printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Exit code 1 and `needle` in stderr.
fn assert_refused(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "expected a refusal: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
}

fn delegation(home: &Path, node: &str, txid: &str) -> Value {
    query(home, node, &["restaking", "btc-delegation", txid])["delegation"].clone()
}

fn wait_status(home: &Path, node: &str, txid: &str, status: &str) {
    let ok = wait_for(Duration::from_secs(60), || {
        delegation(home, node, txid)["status"] == status
    });
    assert!(
        ok,
        "delegation {txid} is not {status}: {}",
        delegation(home, node, txid)
    );
}

/// Starts `ballast-covenant` signing with `key_file`, paying with keyring account `key_name`.
fn start_covenant(dir: &Path, home: &Path, node: &str, key_name: &str) -> (Proc, PathBuf) {
    let config = dir.join("covenant.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{data}\"\n\n[ballast]\nrpc_address = \"{node}\"\nchain_id = \"{chain}\"\n\
             keyring_dir = \"{home}\"\nkeyring_backend = \"test\"\nkey_name = \"{key_name}\"\n\n\
             [covenant]\nkey_file = \"{key}\"\npoll_interval_ms = 300\n",
            data = dir.join("covenant-data").display(),
            chain = chain_id(home),
            home = home.display(),
            key = home.join("config").join("covenant_key.json").display(),
        ),
    )
    .unwrap();
    let log = dir.join("covenant.log");
    let child = Command::new(workspace_bin("ballast-covenant", "BALLAST_COVENANT_BIN"))
        .args(["start", "--config", config.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("ballast-covenant starts");
    (Proc(child), log)
}

#[test]
fn stake_becomes_active_then_unbond_and_withdraw_take_the_bitcoin_back() {
    let btc = BitcoinD::start().unwrap();
    btc.mine(101).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("dev");
    let chain = DevChain::start(&home, 300);
    let node = chain.rpc.clone();

    // The dev key stakes; other accounts relay headers and pay for the covenant's txs, so that
    // no two processes use one account's sequence at once.
    funded_account(&home, &node, "relayer");
    funded_account(&home, &node, "cov");
    let (_covenant, covenant_log) = start_covenant(dir.path(), &home, &node, "cov");

    let params = query(&home, &node, &["restaking", "params"]);
    let p = &params["params"]["btc"];
    let k: u64 = p["btc_confirmation_depth"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let unbonding_time = p["unbonding_time"].as_u64().unwrap();
    let min_time = p["min_staking_time"].as_u64().unwrap();
    let op = query(&home, &node, &["restaking", "operators"])["operators"][0]["btc_pk"]
        .as_str()
        .expect("ballastd dev has an operator")
        .to_string();
    let key_file = dir.path().join("staker.json");
    json_ok(
        &home,
        &["btc", "keygen", "--out", key_file.to_str().unwrap()],
    );

    // 1. Stake and wait for inclusion, while blocks are mined and relayed.
    let staking_time = (min_time + 50).to_string();
    let mut args: Vec<String> = [
        "btc",
        "stake",
        "--amount",
        "100000",
        "--operator",
        &op,
        "--staking-time",
        &staking_time,
        "--btc-key",
        key_file.to_str().unwrap(),
        "--fee-rate",
        "2",
        "--wait-inclusion",
        "--poll-interval",
        "1",
        "--inclusion-timeout",
        "240",
        "--home",
        home.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(bitcoin_flags(&btc, true));
    args.extend(tx_flags("dev", &node).iter().map(|s| s.to_string()));
    let stdout_path = dir.path().join("stake.out");
    let stderr_path = dir.path().join("stake.err");
    let mut stake = Proc(
        Command::new(ballastd_bin())
            .args(&args)
            .env_remove("BALLAST_KEYRING_BACKEND")
            .stdout(std::fs::File::create(&stdout_path).unwrap())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(s) = stake.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "btc stake did not finish: {}",
            std::fs::read_to_string(&stderr_path).unwrap()
        );
        btc.mine(1).unwrap();
        relay_headers(&home, &node, &btc, "relayer", dir.path());
        std::thread::sleep(Duration::from_millis(500));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(status.success(), "btc stake failed:\n{stderr}");
    let out: Value = serde_json::from_str(&std::fs::read_to_string(&stdout_path).unwrap()).unwrap();
    assert_eq!(out["delegation_tx"]["code"], 0, "{out}");
    assert_eq!(out["inclusion_proof_tx"]["code"], 0, "{out}");
    assert_eq!(out["staking_value"], "100000", "{out}");
    let txid_s = out["staking_txid"].as_str().unwrap().to_string();
    let txid = Txid::from_str(&txid_s).unwrap();
    let info = btc.rpc().get_raw_transaction_info(&txid, None).unwrap();
    assert!(
        info.confirmations.unwrap_or(0) as u64 > k,
        "the staking tx has {:?} confirmations",
        info.confirmations
    );
    let staking_index = usize::try_from(out["staking_output_index"].as_u64().unwrap()).unwrap();
    assert_eq!(info.vout[staking_index].value, Amount::from_sat(100_000));

    // The covenant signs, the proof is in: ACTIVE, and the satoshis count for the operator.
    wait_status(&home, &node, &txid_s, "ACTIVE");
    let counted = wait_for(Duration::from_secs(60), || {
        query(&home, &node, &["restaking", "operator", &op])["power"]["btc_sat"] == "100000"
    });
    assert!(
        counted,
        "the operator's btc_sat is not 100000: {}\ncovenant log:\n{}",
        query(&home, &node, &["restaking", "operator", &op]),
        std::fs::read_to_string(&covenant_log).unwrap_or_default()
    );

    // 2. Unbond: bitcoind accepts the fully signed unbonding tx.
    let mut args: Vec<String> = [
        "btc",
        "unbond",
        "--staking-txid",
        &txid_s,
        "--btc-key",
        key_file.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(bitcoin_flags(&btc, false));
    args.extend(tx_flags("dev", &node).iter().map(|s| s.to_string()));
    let unbonded = ok_json(&run_strings(&home, &args), "btc unbond");
    assert_eq!(unbonded["code"], 0, "{unbonded}");
    let unbonding_txid = Txid::from_str(unbonded["unbonding_txid"].as_str().unwrap()).unwrap();
    btc.rpc()
        .get_mempool_entry(&unbonding_txid)
        .expect("the unbonding tx is in bitcoind's mempool");
    wait_status(&home, &node, &txid_s, "UNBONDING");

    // 3. Withdraw: refused with the blocks remaining until the unbonding time has passed.
    let to = btc.new_address().unwrap();
    let withdraw_args = |staking_txid: &str| -> Vec<String> {
        let mut a: Vec<String> = [
            "btc",
            "withdraw",
            "--staking-txid",
            staking_txid,
            "--btc-key",
            key_file.to_str().unwrap(),
            "--to",
            &to.to_string(),
            "--node",
            &node,
            "-o",
            "json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // No wallet: withdrawing needs only the node.
        a.extend(bitcoin_flags(&btc, false));
        a
    };
    let early = run_strings(&home, &withdraw_args(&txid_s));
    assert_refused(&early, "unbonding output");
    assert_refused(&early, &format!("in {unbonding_time} more blocks"));
    btc.mine(1).unwrap();
    assert_refused(
        &run_strings(&home, &withdraw_args(&txid_s)),
        &format!("in {} more blocks", unbonding_time - 1),
    );
    btc.mine(unbonding_time - 2).unwrap();
    assert_refused(
        &run_strings(&home, &withdraw_args(&txid_s)),
        "in 1 more blocks",
    );
    btc.mine(1).unwrap();
    let w = ok_json(&run_strings(&home, &withdraw_args(&txid_s)), "btc withdraw");
    assert_eq!(w["spent_output"], "unbonding output", "{w}");
    assert_eq!(w["spent"], format!("{unbonding_txid}:0"), "{w}");
    let value: u64 = w["value"].as_str().unwrap().parse().unwrap();
    let fee: u64 = w["fee"].as_str().unwrap().parse().unwrap();
    let unbonding_fee: u64 = p["unbonding_fee_sat"].as_str().unwrap().parse().unwrap();
    assert_eq!(value + fee, 100_000 - unbonding_fee, "{w}");
    btc.mine(1).unwrap();
    let received = btc.rpc().get_received_by_address(&to, Some(1)).unwrap();
    assert_eq!(received, Amount::from_sat(value));
    // Nothing is left to withdraw.
    assert_refused(
        &run_strings(&home, &withdraw_args(&txid_s)),
        "nothing to withdraw",
    );

    // 4. A second stake, not unbonded, is withdrawn from the staking output after its
    // staking time.
    let min_time_s = min_time.to_string();
    let mut args: Vec<String> = [
        "btc",
        "stake",
        "--amount",
        "60000",
        "--operator",
        &op,
        "--staking-time",
        &min_time_s,
        "--btc-key",
        key_file.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(bitcoin_flags(&btc, true));
    args.extend(tx_flags("dev", &node).iter().map(|s| s.to_string()));
    let second = ok_json(&run_strings(&home, &args), "the second btc stake");
    assert_eq!(second["inclusion_proof_tx"], Value::Null, "{second}");
    let second_txid = second["staking_txid"].as_str().unwrap().to_string();
    assert_eq!(
        delegation(&home, &node, &second_txid)["staking_value"],
        "60000"
    );
    let early = run_strings(&home, &withdraw_args(&second_txid));
    assert_refused(&early, "staking output");
    assert_refused(&early, &format!("in {min_time} more blocks"));
    btc.mine(min_time).unwrap();
    let w = ok_json(
        &run_strings(&home, &withdraw_args(&second_txid)),
        "btc withdraw after the staking time",
    );
    assert_eq!(w["spent_output"], "staking output", "{w}");
    let value2: u64 = w["value"].as_str().unwrap().parse().unwrap();
    btc.mine(1).unwrap();
    let received = btc.rpc().get_received_by_address(&to, Some(1)).unwrap();
    assert_eq!(received, Amount::from_sat(value + value2));
}
