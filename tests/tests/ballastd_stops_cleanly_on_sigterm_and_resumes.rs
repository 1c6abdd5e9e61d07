//! `ballastd start` stops cleanly on SIGTERM and SIGINT: the exit status is success, the store is
//! closed (no recovery needed at the next open), and the next start reports the same height and
//! app hash and carries on producing blocks. Its Prometheus endpoint reports the chain's height,
//! block execution time, txs per block, mempool size and build info.

use ballast_app::{App, AppConfig};
use ballast_tests::consensus::MockConsensus;
use ballast_tests::driver::{Abci, InProcess, SocketClient};
use ballast_tests::keys::{TestAccount, TxSpec};
use ballast_tests::node::{free_port, Ballastd};
use ballast_tests::{genesis_app_state, CHAIN_ID};
use std::io::{Read, Write};
use std::time::Duration;

fn txs_for(accounts: &[TestAccount], height: usize) -> Vec<Vec<u8>> {
    (0..accounts.len())
        .map(|i| {
            TxSpec::send(
                &accounts[i],
                &accounts[(i + 1) % accounts.len()].address,
                height as u128,
                height as u64 - 1,
            )
            .sign(&accounts[i])
        })
        .collect()
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn sigterm_closes_the_store_and_the_next_start_resumes() {
    let accounts = TestAccount::many(3);
    let home = tempfile::tempdir().unwrap();
    let abci = format!("tcp://127.0.0.1:{}", free_port());
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut node = Ballastd::start_with(
        home.path(),
        &["--abci", &abci, "--metrics-address", &metrics],
        &[],
    )
    .unwrap();
    assert_eq!(
        node.wait_line("metrics listening on ", Duration::from_secs(10))
            .unwrap(),
        metrics
    );
    let mut cons = MockConsensus::new(CHAIN_ID, 1, genesis_app_state(&accounts, 1_000_000));
    let mut client = SocketClient::connect(node.tcp_addr()).unwrap();
    cons.handshake(&mut client).unwrap();
    let mut last = Vec::new();
    for h in 1..=3 {
        last = cons
            .produce_block(&mut [&mut client], txs_for(&accounts, h))
            .unwrap()
            .0
            .app_hash;
    }
    // One tx admitted to the mempool and not yet in a block.
    let pending = txs_for(&accounts, 4);
    let r = MockConsensus::check_txs(&mut client, &pending[..1]).unwrap();
    assert_eq!(r[0].code, 0, "{}", r[0].log);

    let text = http_get(&metrics, "/metrics");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for want in [
        "ballast_block_height 3",
        "ballast_txs_total 9",
        "ballast_block_txs_count 3",
        "ballast_block_execution_seconds_count 3",
        "ballast_commit_seconds_count 3",
        "ballast_mempool_size 1",
        "ballast_build_info{",
    ] {
        assert!(text.contains(want), "metrics lack {want:?}:\n{text}");
    }

    let status = node.terminate(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "SIGTERM exit: {status}");
    assert!(
        node.stdout_lines()
            .iter()
            .any(|l| l == "stopped cleanly at height 3"),
        "{:?}",
        node.stdout_lines()
    );
    let log = std::fs::read_to_string(&node.log_path).unwrap();
    assert!(log.contains("storage closed"), "{log}");
    drop(client);

    // The store opens without recovery work and reports the committed block.
    {
        let app = App::open(AppConfig::new(home.path())).unwrap();
        let info = app.info();
        assert_eq!(info.last_block_height, 3);
        assert_eq!(info.last_block_app_hash.to_vec(), last);
        app.shutdown();
    }

    // Restart, finish the handshake and keep going; SIGINT stops it cleanly too.
    let mut node = Ballastd::start(home.path(), &abci, &[]).unwrap();
    let mut client = SocketClient::connect(node.tcp_addr()).unwrap();
    let info = client.info().unwrap();
    assert_eq!(info.last_block_height, 3);
    assert_eq!(info.last_block_app_hash.to_vec(), last);
    cons.handshake(&mut client).unwrap();
    let (b4, _) = cons
        .produce_block(&mut [&mut client], txs_for(&accounts, 4))
        .unwrap();
    assert!(
        b4.tx_results.iter().all(|r| r.code == 0),
        "{:?}",
        b4.tx_results
    );

    // The same chain on a node that never stopped agrees.
    let ref_home = tempfile::tempdir().unwrap();
    let mut reference = InProcess(App::open(AppConfig::new(ref_home.path())).unwrap());
    let mut ref_cons = MockConsensus::new(CHAIN_ID, 1, genesis_app_state(&accounts, 1_000_000));
    ref_cons.handshake(&mut reference).unwrap();
    let mut ref_hash = Vec::new();
    for h in 1..=4 {
        ref_hash = ref_cons
            .produce_block(&mut [&mut reference], txs_for(&accounts, h))
            .unwrap()
            .0
            .app_hash;
    }
    assert_eq!(b4.app_hash, ref_hash);

    assert!(node.pid().is_some());
    let status = node.stop_with("INT", Duration::from_secs(20)).unwrap();
    assert!(status.success(), "SIGINT exit: {status}");
}
