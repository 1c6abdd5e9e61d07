//! Four real CometBFT v0.38 validators started by `testnet/up.sh 4` (homes from `ballastd
//! testnet generate`) reach height 30 with identical app hashes; after SIGKILL of one node's
//! cometbft and ballastd the other three keep going, and `testnet/up.sh --node 3` brings it back
//! to catch up with the same app hashes. `testnet/down.sh` runs at the end, on failure too.
//! Runs only when `COMETBFT_BIN` names a cometbft binary; otherwise it prints "skipped".

use ballast_tests::cometbft::{
    cometbft_bin, free_port_block, height, rpc, wait_for_height, ScriptTestnet,
};
use std::time::Duration;

const N: usize = 4;
const TARGET: u64 = 30;

/// `(block hash, app hash)` that node `addr` has for height `h` (the app hash in block h's
/// header is the state after h-1; both must agree across nodes).
fn block_at(addr: &str, h: u64) -> (String, String) {
    let b = rpc(addr, &format!("/block?height={h}")).unwrap_or_else(|e| panic!("{addr}: {e}"));
    let hash = b["block_id"]["hash"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let app = b["block"]["header"]["app_hash"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!hash.is_empty() && !app.is_empty(), "{addr} block {h}: {b}");
    (hash, app)
}

/// The app hash that commit `h` signs, from `/commit`.
fn commit_app_hash(addr: &str, h: u64) -> String {
    let c = rpc(addr, &format!("/commit?height={h}")).unwrap_or_else(|e| panic!("{addr}: {e}"));
    c["signed_header"]["header"]["app_hash"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn cometbft_four_nodes_from_testnet_up_reach_height_30() {
    let Some(bin) = cometbft_bin("cometbft_four_nodes_from_testnet_up_reach_height_30") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let base = free_port_block(10 * N as u16);
    // The guard exists before up.sh runs, so even a half-started testnet is stopped.
    let mut net = ScriptTestnet::new(
        &tmp.path().join("testnet"),
        &bin,
        base,
        "--timeout-commit 500ms",
    );
    // Consensus only: the Bitcoin side has its own test.
    net.set_env("BALLAST_TESTNET_NO_BITCOIN", "1");
    net.up(N).unwrap();
    let addrs: Vec<String> = (0..N).map(|i| net.rpc_addr(i).unwrap()).collect();

    for a in &addrs {
        wait_for_height(a, TARGET, Duration::from_secs(240)).unwrap();
    }
    // Every node agrees on the block and app hash at a height all of them have.
    let common = addrs.iter().map(|a| height(a).unwrap()).min().unwrap();
    assert!(common >= TARGET);
    for h in [1, common / 2, common] {
        let reference = block_at(&addrs[0], h);
        let commit_hash = commit_app_hash(&addrs[0], h);
        assert_eq!(commit_hash, reference.1);
        for a in &addrs[1..] {
            assert_eq!(
                block_at(a, h),
                reference,
                "node {a} disagrees at height {h}"
            );
            assert_eq!(commit_app_hash(a, h), commit_hash);
        }
    }
    // The app's own view matches CometBFT's.
    for a in &addrs {
        let info = rpc(a, "/abci_info").unwrap();
        let app_height: u64 = info["response"]["last_block_height"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(app_height >= TARGET, "{a}: {info}");
    }

    // SIGKILL node 3's pair: three of four validators (3/4 > 2/3 of the power) keep going.
    net.kill9(3).unwrap();
    let at_kill = height(&addrs[0]).unwrap();
    for a in &addrs[..3] {
        wait_for_height(a, at_kill + 5, Duration::from_secs(120)).unwrap();
    }
    assert!(
        height(&addrs[3]).is_err(),
        "node 3's RPC still answers after kill -9"
    );

    // Restart it: it replays or block-syncs what it missed and follows the chain again.
    net.script("up.sh", &["--node", "3"]).unwrap();
    let target = height(&addrs[0]).unwrap() + 3;
    wait_for_height(&addrs[3], target, Duration::from_secs(180)).unwrap();
    wait_for_height(&addrs[0], target, Duration::from_secs(60)).unwrap();
    for h in [at_kill, target] {
        assert_eq!(
            block_at(&addrs[3], h),
            block_at(&addrs[0], h),
            "restarted node 3 disagrees at height {h}"
        );
    }

    // status.sh sees four live nodes; down.sh stops every process it recorded.
    let status = net.script("status.sh", &[]).unwrap();
    assert_eq!(status.matches("up(").count(), 2 * N, "{status}");
    let pids: Vec<u32> = (0..N)
        .flat_map(|i| ["ballastd", "cometbft"].map(|p| net.pid(i, p).unwrap()))
        .collect();
    net.down().unwrap();
    for pid in pids {
        assert!(
            !ballast_tests::cometbft::process_running(pid),
            "PID {pid} still runs after down.sh"
        );
    }
}
