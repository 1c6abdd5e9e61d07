//! Four real CometBFT v0.38 validators started by `testnet/up.sh 4`, with the regtest bitcoind,
//! its mining loop and `ballast-vigilante` that up.sh starts beside them. Epoch 1's checkpoint
//! is signed through vote extensions by all four validators, sealed, written to Bitcoin by the
//! vigilante, and reaches FINALIZED on every node as blocks are mined; each status change is
//! in its lifecycle. `testnet/status.sh` shows it. Runs only when `COMETBFT_BIN` names a
//! cometbft binary; otherwise it prints "skipped".

// Test code waits on the wall clock; only consensus code must not read it.
#![allow(clippy::disallowed_methods)]

use ballast_proto::ballast::checkpointing::v1 as pb;
use ballast_tests::checkpoint_rpc;
use ballast_tests::cometbft::{cometbft_bin, free_port_block, wait_for_height, ScriptTestnet};
use std::time::{Duration, Instant};

const N: usize = 4;

fn status_of(addr: &str, epoch: u64) -> Option<pb::CheckpointRecord> {
    checkpoint_rpc::checkpoint(&format!("http://{addr}"), epoch).ok()
}

#[test]
fn cometbft_four_nodes_finalize_the_epoch_1_checkpoint_on_bitcoin() {
    let Some(bin) = cometbft_bin("cometbft_four_nodes_finalize_the_epoch_1_checkpoint_on_bitcoin")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let base = free_port_block(10 * N as u16);
    let net = ScriptTestnet::new(
        &tmp.path().join("testnet"),
        &bin,
        base,
        "--timeout-commit 500ms",
    );
    net.up(N).unwrap();
    let addrs: Vec<String> = (0..N).map(|i| net.rpc_addr(i).unwrap()).collect();
    // Epoch 1 is heights 1..=10; its checkpoint is sealed in block 11.
    for a in &addrs {
        wait_for_height(a, 12, Duration::from_secs(180)).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(420);
    loop {
        let records: Vec<Option<pb::CheckpointRecord>> =
            addrs.iter().map(|a| status_of(a, 1)).collect();
        if records
            .iter()
            .all(|r| r.as_ref().map(|r| r.status) == Some(pb::CheckpointStatus::Finalized as i32))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "epoch 1 not FINALIZED on every node: {records:?}\n{}",
            net.script("status.sh", &[]).unwrap_or_else(|e| e)
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    let rec = status_of(&addrs[0], 1).unwrap();
    let raw = rec.raw.as_ref().expect("a finalized checkpoint is sealed");
    assert_eq!(raw.bitmap[0] & 0x0f, 0x0f, "all four validators signed");
    assert_eq!(rec.signed_power, rec.total_power);
    let statuses: Vec<i32> = rec.lifecycle.iter().map(|l| l.status).collect();
    use pb::CheckpointStatus as S;
    for s in [
        S::Accumulating,
        S::Sealed,
        S::Submitted,
        S::Confirmed,
        S::Finalized,
    ] {
        assert!(
            statuses.contains(&(s as i32)),
            "{s:?} missing from {statuses:?}"
        );
    }
    let sub = rec
        .submission
        .as_ref()
        .expect("the Bitcoin submission is recorded");
    let (p0, p1) = (sub.part0.as_ref().unwrap(), sub.part1.as_ref().unwrap());
    assert!(p0.block_height > 0 && p1.block_height >= p0.block_height);
    // Every node recorded the same thing.
    for a in &addrs[1..] {
        assert_eq!(status_of(a, 1).unwrap(), rec, "node {a} disagrees");
    }
    let status = net.script("status.sh", &[]).unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("1 ") && l.contains("FINALIZED")),
        "{status}"
    );
}
