//! `testnet/scenarios/btc-stake.sh` run for real without CometBFT: `ballastd dev` is laid out as
//! node 0 of a testnet directory (its home is `node0/`, `bin.env` names this workspace's
//! ballastd and the bitcoind install, `bitcoind/rpc.env` the harness's regtest bitcoind, so the
//! script's `btc_cli` from testnet/lib.sh mines on it), with the vigilante's reporter and a
//! covenant signer beside it, as up.sh starts them. `BALLAST_NODE` points the script at the dev
//! chain's RPC. Node 0's account (key `node0`, which the script's funding step uses) is funded
//! from the dev account first.
//!
//! - The scenario passes (exit 0, "btc-stake: OK") and every step it prints is there; the chain
//!   agrees: the delegation it names is UNBONDED and the operator's power is back where it was.
//! - Run again, it reuses the staker account and BTC key and stakes a second delegation.
//! - With the covenant signer stopped and a short timeout, it fails (exit 1) saying the
//!   delegation is not ACTIVE, with diagnostics.
//! - Without a testnet directory, it fails at once saying so.
//!
//! The multi-node run on a real `testnet/up.sh` is in
//! `cometbft_four_nodes_run_the_btc_stake_scenario.rs` (needs `COMETBFT_BIN`). Without a
//! bitcoind (the install script fails) this prints "skipped: …". Runtime about a minute.

// A test, not consensus code: it waits on processes with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use ballast_tests::btc_staking::{
    bitcoind_or_skip, key_file_public_key, weighted_floor, CovenantSigner, CovenantSignerConfig,
    StakingCli,
};
use ballast_tests::node::ballastd_bin;
use ballast_tests::vigilante::{chain_id, DevChain, Vigilante, VigilanteConfig};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

fn scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testnet/scenarios/btc-stake.sh")
}

fn run_scenario(testnet: &Path, node: &str, timeout_secs: u64) -> Output {
    Command::new("bash")
        .arg(scenario())
        .env("BALLAST_TESTNET_DIR", testnet)
        .env("BALLAST_NODE", node)
        .env("BTC_STAKE_TIMEOUT", timeout_secs.to_string())
        .env_remove("BALLASTD_BIN")
        .env_remove("BTC_STAKE_OPERATOR")
        .env_remove("BTC_STAKE_AMOUNT")
        .stdin(Stdio::null())
        .output()
        .expect("bash runs")
}

fn text(out: &Output) -> String {
    format!(
        "exit {}\n--- stdout:\n{}\n--- stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The staking txid of the "btc-stake: OK: delegation <txid> …" line.
fn ok_txid(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("btc-stake: OK: delegation "))
        .unwrap_or_else(|| panic!("no OK line:\n{}", text(out)));
    line["btc-stake: OK: delegation ".len()..][..64].to_string()
}

#[test]
fn btc_stake_scenario_script_stakes_and_unbonds_on_a_dev_chain() {
    let Some(btc) = bitcoind_or_skip("btc_stake_scenario_script_stakes_and_unbonds_on_a_dev_chain")
    else {
        return;
    };
    btc.mine(110).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let testnet = dir.path().join("testnet");
    let home = testnet.join("node0");
    let chain = DevChain::start(&home, 200);
    let cli = StakingCli::new(&home, &chain.rpc);

    // The files the script reads from a testnet directory.
    std::fs::write(
        testnet.join("bin.env"),
        format!(
            "TESTNET_BALLASTD={}\nBTC_PREFIX={}\n",
            ballastd_bin().display(),
            btc.prefix().display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(testnet.join("bitcoind")).unwrap();
    let (user, password) = btc.credentials();
    assert_eq!(
        user, "ballast",
        "testnet/lib.sh's btc_cli logs in as ballast"
    );
    std::fs::write(
        testnet.join("bitcoind/rpc.env"),
        format!(
            "BTC_RPC_PORT={}\nBTC_P2P_PORT={}\nBTC_RPC_PASSWORD={password}\n",
            btc.rpc_port(),
            btc.p2p_port()
        ),
    )
    .unwrap();

    // Node 0's account, as `ballastd testnet generate` names it, funded from the dev account.
    let node0 = cli.json_ok(&[
        "keys",
        "add",
        "node0",
        "--keyring-backend",
        "test",
        "-o",
        "json",
    ]);
    let node0_addr = node0["address"].as_str().unwrap().to_string();
    cli.tx_ok(&["tx", "bank", "send", "dev", &node0_addr, "100000000000ubal"]);

    // The vigilante's reporter and the covenant signer, as up.sh runs them.
    let mut vcfg = VigilanteConfig::new(&chain, &btc, &dir.path().join("vigilante-data"));
    vcfg.submitter = false;
    let vig_config = dir.path().join("vigilante.toml");
    vcfg.write(&vig_config);
    let mut vig = Vigilante::start(&vig_config, &[]);
    chain.wait_lc_tip(&btc, WAIT, || vig.log_tail(30));
    let mut covenant = CovenantSigner::start(
        &dir.path().join("covenant"),
        &CovenantSignerConfig {
            ballast_rpc: chain.rpc.clone(),
            ballast_grpc: chain.grpc.clone(),
            chain_id: chain_id(&home),
            keyring_dir: home.clone(),
            key_name: "operator".into(),
            key_file: home.join("config/covenant_key.json"),
            poll_interval_ms: 300,
        },
    );

    let op = key_file_public_key(&home.join("config/operator_btc_key.json"));
    let p0 = cli.operator_power(&op, None);
    let weight = cli.restaking_params()["btc_power_weight"]
        .as_str()
        .unwrap()
        .to_string();
    let delta = u64::try_from(weighted_floor(5_000_000, &weight)).unwrap();
    let context = || {
        format!(
            "--- covenant log:\n{}\n--- vigilante log:\n{}",
            covenant.log_tail(20),
            vig.log_tail(20)
        )
    };

    // The scenario passes, printing each step.
    let out = run_scenario(&testnet, &chain.rpc, 120);
    assert!(out.status.success(), "{}\n{}", text(&out), context());
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    eprintln!("testnet/scenarios/btc-stake.sh printed:\n{stdout}");
    for step in [
        "== reading the restaking params",
        &format!("operator {op}: power {}", p0.power),
        "funded ",
        "== staking 5000000 sat",
        "== waiting for ACTIVE",
        "delegation is ACTIVE",
        &format!("live power {} -> {}", p0.power, p0.power + delta),
        &format!("operator power {}", p0.power + delta),
        "== unbonding (btc unbond)",
        "delegation is UNBONDED",
        &format!("operator power {}", p0.power),
    ] {
        assert!(stdout.contains(step), "no {step:?} in:\n{}", text(&out));
    }
    let first = ok_txid(&out);
    // The chain agrees.
    let d = cli.delegation(&first).unwrap();
    assert_eq!(d["status"], "UNBONDED", "{d}");
    assert_eq!(d["operator_btc_pk"], op.as_str());
    assert_eq!(d["staking_value"], "5000000");
    assert_eq!(cli.operator_power(&op, None), p0);
    assert_eq!(cli.hub_set(None).powers.get(&op), Some(&p0.power));
    let staker_key = testnet.join("scenarios/btc-stake/staker_btc_key.json");
    assert_eq!(d["btc_pk"], key_file_public_key(&staker_key).as_str());

    // Again: the same staker, a new delegation, no second funding.
    let out = run_scenario(&testnet, &chain.rpc, 120);
    assert!(out.status.success(), "{}\n{}", text(&out), context());
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("funded "),
        "{}",
        text(&out)
    );
    let second = ok_txid(&out);
    assert_ne!(first, second);
    let d2 = cli.delegation(&second).unwrap();
    assert_eq!(d2["status"], "UNBONDED", "{d2}");
    assert_eq!(d2["btc_pk"], d["btc_pk"]);
    assert_eq!(d2["staker_addr"], d["staker_addr"]);

    // No covenant signer: the delegation cannot become ACTIVE and the scenario says so.
    assert!(covenant.terminate(Duration::from_secs(30)));
    let out = run_scenario(&testnet, &chain.rpc, 15);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("btc-stake: FAILED: delegation ")
            && stderr.contains("not ACTIVE, after 15s"),
        "{}",
        text(&out)
    );
    assert!(stderr.contains("covenant signatures: 0"), "{}", text(&out));

    // No testnet at all.
    let out = run_scenario(&dir.path().join("nothing-here"), &chain.rpc, 15);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no testnet in"),
        "{}",
        text(&out)
    );

    assert!(
        vig.terminate(Duration::from_secs(30)),
        "{}",
        vig.log_tail(20)
    );
}
