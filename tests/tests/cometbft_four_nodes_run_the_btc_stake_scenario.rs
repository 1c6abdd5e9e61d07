//! `testnet/scenarios/btc-stake.sh` on a real four-validator network from `testnet/up.sh 4`:
//! four CometBFT v0.38 validators, the regtest bitcoind and its miner, the vigilante relaying
//! headers and the three covenant signers (quorum 2) that up.sh starts. The scenario stakes to
//! an operator, waits for ACTIVE and the new hub power, unbonds and waits for UNBONDED; then
//! every node agrees that the delegation it names is UNBONDED and that the operator's power is
//! back. Runs only when `COMETBFT_BIN` names a cometbft binary; otherwise it prints
//! "skipped: COMETBFT_BIN not set". Without it, the same script runs on a dev chain in
//! `btc_stake_scenario_script_stakes_and_unbonds_on_a_dev_chain.rs`.

// Test code waits on the wall clock; only consensus code must not read it.
#![allow(clippy::disallowed_methods)]

use ballast_tests::btc_staking::StakingCli;
use ballast_tests::cometbft::{cometbft_bin, free_port_block, wait_for_height, ScriptTestnet};
use std::time::Duration;

const N: usize = 4;

#[test]
fn cometbft_four_nodes_run_the_btc_stake_scenario() {
    let Some(bin) = cometbft_bin("cometbft_four_nodes_run_the_btc_stake_scenario") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let base = free_port_block(10 * N as u16);
    let mut net = ScriptTestnet::new(
        &tmp.path().join("testnet"),
        &bin,
        base,
        "--timeout-commit 500ms",
    );
    net.set_env("BTC_STAKE_TIMEOUT", "300");
    net.up(N).unwrap();
    let addrs: Vec<String> = (0..N).map(|i| net.rpc_addr(i).unwrap()).collect();
    for a in &addrs {
        wait_for_height(a, 3, Duration::from_secs(180)).unwrap();
    }

    let out = net
        .script("scenarios/btc-stake.sh", &[])
        .unwrap_or_else(|e| {
            panic!(
                "{e}\n--- status.sh:\n{}",
                net.script("status.sh", &[]).unwrap_or_else(|e| e)
            )
        });
    eprintln!("testnet/scenarios/btc-stake.sh printed:\n{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("btc-stake: OK: delegation "))
        .unwrap_or_else(|| panic!("no OK line in:\n{out}"));
    let txid = &line["btc-stake: OK: delegation ".len()..][..64];
    for step in [
        "delegation is ACTIVE",
        "live power ",
        "== unbonding (btc unbond)",
        "delegation is UNBONDED",
    ] {
        assert!(out.contains(step), "no {step:?} in:\n{out}");
    }

    // Every node agrees.
    let mut powers = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        let cli = StakingCli::new(&net.home(i), &format!("http://{a}"));
        let d = cli.delegation(txid).unwrap();
        assert_eq!(d["status"], "UNBONDED", "node{i}: {d}");
        let op = d["operator_btc_pk"].as_str().unwrap().to_string();
        let p = cli.operator_power(&op, None);
        assert_eq!(p.btc_sat, 0, "node{i}");
        powers.push(p.power);
    }
    assert!(powers.windows(2).all(|w| w[0] == w[1]), "{powers:?}");
    net.down().unwrap();
}
