//! Restart safety: a `ballastd` killed with SIGKILL in the middle of FinalizeBlock, between
//! FinalizeBlock and Commit, or right after Commit, restarts, completes CometBFT's Info
//! handshake and replay, and ends with exactly the app hashes of a node that never crashed.

use ballast_app::{App, AppConfig};
use ballast_tests::consensus::MockConsensus;
use ballast_tests::driver::{Abci, InProcess, SocketClient};
use ballast_tests::keys::{TestAccount, TxSpec};
use ballast_tests::node::{free_port, Ballastd};
use ballast_tests::{genesis_app_state, CHAIN_ID};
use std::time::Duration;

const BLOCKS: usize = 8;
const CRASH_HEIGHT: usize = 5;

fn txs_for(accounts: &[TestAccount], height: usize) -> Vec<Vec<u8>> {
    (0..accounts.len())
        .map(|i| {
            TxSpec::send(
                &accounts[i],
                &accounts[(i + 1) % accounts.len()].address,
                height as u128 * 10,
                height as u64 - 1,
            )
            .sign(&accounts[i])
        })
        .collect()
}

fn reference_hashes(accounts: &[TestAccount]) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let mut cons = MockConsensus::new(CHAIN_ID, 1, genesis_app_state(accounts, 1_000_000_000));
    let mut node = InProcess(App::open(AppConfig::new(dir.path())).unwrap());
    cons.handshake(&mut node).unwrap();
    (1..=BLOCKS)
        .map(|h| {
            cons.produce_block(&mut [&mut node], txs_for(accounts, h))
                .unwrap()
                .0
                .app_hash
        })
        .collect()
}

/// Runs the chain on a ballastd that kills itself at `fault`, restarts it without the fault,
/// and returns (app hashes, height the node reported after restart).
fn run_with_crash(accounts: &[TestAccount], fault: &str) -> (Vec<Vec<u8>>, i64) {
    let home = tempfile::tempdir().unwrap();
    let addr = format!("tcp://127.0.0.1:{}", free_port());
    let mut node = Ballastd::start(home.path(), &addr, &[("BALLAST_FAULT", fault)]).unwrap();
    let mut client = SocketClient::connect(node.tcp_addr()).unwrap();
    let mut cons = MockConsensus::new(CHAIN_ID, 1, genesis_app_state(accounts, 1_000_000_000));
    cons.handshake(&mut client).unwrap();
    let mut height_after_restart = -1;
    let mut h = 1;
    while h <= BLOCKS {
        match cons.produce_block(&mut [&mut client], txs_for(accounts, h)) {
            Ok(_) => h += 1,
            Err(e) => {
                assert_eq!(
                    h, CRASH_HEIGHT,
                    "only the injected fault may fail a block: {e}"
                );
                assert!(
                    node.wait_killed(Duration::from_secs(10)).unwrap(),
                    "ballastd must have died from SIGKILL"
                );
                drop(node);
                node = Ballastd::start(home.path(), &addr, &[]).unwrap();
                client = SocketClient::connect(node.tcp_addr()).unwrap();
                height_after_restart = client.info().unwrap().last_block_height;
                // Info handshake + replay of what the node has not committed.
                cons.handshake(&mut client).unwrap();
                h += 1;
            }
        }
    }
    let info = client.info().unwrap();
    assert_eq!(info.last_block_height, BLOCKS as i64);
    assert_eq!(
        info.last_block_app_hash.to_vec(),
        cons.blocks.last().unwrap().app_hash
    );
    (
        cons.blocks.iter().map(|b| b.app_hash.clone()).collect(),
        height_after_restart,
    )
}

#[test]
fn kill_9_mid_finalize_block_then_restart_converges() {
    let accounts = TestAccount::many(6);
    let want = reference_hashes(&accounts);
    let (got, restarted_at) = run_with_crash(&accounts, &format!("mid-finalize:{CRASH_HEIGHT}"));
    assert_eq!(
        restarted_at,
        CRASH_HEIGHT as i64 - 1,
        "nothing of the crashed block was persisted"
    );
    assert_eq!(got, want);
}

#[test]
fn kill_9_between_finalize_block_and_commit_then_restart_converges() {
    let accounts = TestAccount::many(6);
    let want = reference_hashes(&accounts);
    let (got, restarted_at) = run_with_crash(&accounts, &format!("before-commit:{CRASH_HEIGHT}"));
    assert_eq!(
        restarted_at,
        CRASH_HEIGHT as i64 - 1,
        "a staged but uncommitted block is not persisted"
    );
    assert_eq!(got, want);
}

#[test]
fn kill_9_right_after_commit_then_restart_converges() {
    let accounts = TestAccount::many(6);
    let want = reference_hashes(&accounts);
    let (got, restarted_at) = run_with_crash(&accounts, &format!("after-commit:{CRASH_HEIGHT}"));
    assert_eq!(
        restarted_at, CRASH_HEIGHT as i64,
        "a committed block survives the crash"
    );
    assert_eq!(got, want);
}

#[test]
fn kill_9_from_outside_after_finalize_block_then_restart_converges() {
    // The test itself sends SIGKILL after FinalizeBlock answered and before Commit was sent.
    let accounts = TestAccount::many(6);
    let want = reference_hashes(&accounts);
    let home = tempfile::tempdir().unwrap();
    let addr = format!("tcp://127.0.0.1:{}", free_port());
    let mut node = Ballastd::start(home.path(), &addr, &[]).unwrap();
    let mut client = SocketClient::connect(node.tcp_addr()).unwrap();
    let mut cons = MockConsensus::new(CHAIN_ID, 1, genesis_app_state(&accounts, 1_000_000_000));
    cons.handshake(&mut client).unwrap();
    for h in 1..CRASH_HEIGHT {
        cons.produce_block(&mut [&mut client], txs_for(&accounts, h))
            .unwrap();
    }
    // Height CRASH_HEIGHT: FinalizeBlock by hand, then kill before Commit.
    let resp = client
        .finalize_block(tendermint_proto::v0_38::abci::RequestFinalizeBlock {
            txs: txs_for(&accounts, CRASH_HEIGHT)
                .into_iter()
                .map(Into::into)
                .collect(),
            hash: vec![7u8; 32].into(),
            height: CRASH_HEIGHT as i64,
            time: Some(tendermint_proto::google::protobuf::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            proposer_address: vec![1u8; 20].into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(resp.tx_results.len(), accounts.len());
    node.kill9();
    drop(node);
    let node = Ballastd::start(home.path(), &addr, &[]).unwrap();
    let mut client = SocketClient::connect(node.tcp_addr()).unwrap();
    assert_eq!(
        client.info().unwrap().last_block_height,
        CRASH_HEIGHT as i64 - 1
    );
    cons.handshake(&mut client).unwrap();
    for h in CRASH_HEIGHT..=BLOCKS {
        cons.produce_block(&mut [&mut client], txs_for(&accounts, h))
            .unwrap();
    }
    let got: Vec<Vec<u8>> = cons.blocks.iter().map(|b| b.app_hash.clone()).collect();
    assert_eq!(got, want);
}
