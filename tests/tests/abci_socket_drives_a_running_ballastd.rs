//! A running `ballastd` driven over its ABCI socket (TCP and unix) through CometBFT's call
//! sequence, side by side with an in-process node that must agree on every app hash; the
//! canonical `tendermint_abci::Client` codec talks to it too; garbage on the socket never takes
//! the node down.

use ballast_app::{App, AppConfig};
use ballast_tests::consensus::MockConsensus;
use ballast_tests::driver::{Abci, InProcess, SocketClient};
use ballast_tests::keys::{TestAccount, TxSpec};
use ballast_tests::node::{free_port, Ballastd};
use ballast_tests::{genesis_app_state, CHAIN_ID};
use std::io::{Read, Write};
use std::time::Duration;
use tendermint_proto::v0_38::abci as pb;

fn transfers(accounts: &[TestAccount], height: usize) -> Vec<Vec<u8>> {
    // Account i sends in block h with sequence h-1: one tx per account per block.
    (0..accounts.len())
        .map(|i| {
            let to = &accounts[(i + height) % accounts.len()].address;
            TxSpec::send(&accounts[i], to, 1_000 + height as u128, height as u64 - 1)
                .sign(&accounts[i])
        })
        .collect()
}

fn drive(addr: &str, blocks: usize) -> Vec<Vec<u8>> {
    let accounts = TestAccount::many(8);
    let mut cons = MockConsensus::new(CHAIN_ID, 4, genesis_app_state(&accounts, 1_000_000_000));
    let mut socket = SocketClient::connect(addr).unwrap();
    let ref_dir = tempfile::tempdir().unwrap();
    let mut reference = InProcess(App::open(AppConfig::new(ref_dir.path())).unwrap());
    cons.handshake(&mut socket).unwrap();
    cons.handshake(&mut reference).unwrap();
    let mut hashes = Vec::new();
    for h in 1..=blocks {
        let txs = transfers(&accounts, h);
        for r in MockConsensus::check_txs(&mut socket, &txs).unwrap() {
            assert_eq!(r.code, 0, "{}", r.log);
        }
        // The socket node is node 0: it proposes when the proposer index maps to it, and its
        // results are the ones recorded; the in-process node must agree on every hash.
        let (block, _) = cons
            .produce_block(&mut [&mut socket, &mut reference], txs)
            .unwrap();
        assert_eq!(block.txs.len(), accounts.len());
        assert!(
            block.tx_results.iter().all(|r| r.code == 0),
            "{:?}",
            block.tx_results
        );
        hashes.push(block.app_hash);
    }
    let info = socket.info().unwrap();
    assert_eq!(info.last_block_height, blocks as i64);
    assert_eq!(info.last_block_app_hash.to_vec(), *hashes.last().unwrap());
    hashes
}

#[test]
fn ballastd_over_tcp_produces_blocks_and_agrees_with_an_in_process_node() {
    let home = tempfile::tempdir().unwrap();
    let node = Ballastd::start(
        home.path(),
        &format!("tcp://127.0.0.1:{}", free_port()),
        &[],
    )
    .unwrap();
    let hashes = drive(node.tcp_addr(), 8);
    let distinct: std::collections::BTreeSet<_> = hashes.iter().collect();
    assert_eq!(
        distinct.len(),
        hashes.len(),
        "every block of transfers changes the root"
    );

    // The canonical client codec (tendermint-abci's) reads the same state.
    let mut canonical = tendermint_abci::ClientBuilder::default()
        .connect(node.tcp_addr())
        .unwrap();
    let echo = canonical
        .echo(pb::RequestEcho {
            message: "ballast".into(),
        })
        .unwrap();
    assert_eq!(echo.message, "ballast");
    let info = canonical.info(Default::default()).unwrap();
    assert_eq!(info.last_block_height, 8);
    assert_eq!(info.last_block_app_hash.to_vec(), hashes[7]);
    let q = canonical
        .query(pb::RequestQuery {
            path: "/app/version".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(q.code, 0);
    let bad = canonical
        .check_tx(pb::RequestCheckTx {
            tx: vec![1, 2, 3].into(),
            r#type: 0,
        })
        .unwrap();
    assert_eq!((bad.codespace.as_str(), bad.code), ("sdk", 2));
}

#[test]
fn ballastd_over_a_unix_socket_produces_the_same_roots() {
    let home = tempfile::tempdir().unwrap();
    let sock = home.path().join("abci.sock");
    let node = Ballastd::start(home.path(), &format!("unix://{}", sock.display()), &[]).unwrap();
    assert!(node.addr.starts_with("unix://"));
    let over_unix = drive(&node.addr, 4);

    let home2 = tempfile::tempdir().unwrap();
    let tcp = Ballastd::start(
        home2.path(),
        &format!("tcp://127.0.0.1:{}", free_port()),
        &[],
    )
    .unwrap();
    let over_tcp = drive(tcp.tcp_addr(), 4);
    assert_eq!(over_unix, over_tcp);
}

#[test]
fn garbage_on_the_socket_closes_that_connection_and_the_node_keeps_serving() {
    let home = tempfile::tempdir().unwrap();
    let mut node = Ballastd::start(
        home.path(),
        &format!("tcp://127.0.0.1:{}", free_port()),
        &[],
    )
    .unwrap();
    let payloads: Vec<Vec<u8>> = vec![
        vec![0x05, 0xff, 0xff, 0xff, 0xff, 0xff], // a 5-byte message that is not a Request
        vec![0x00],                               // an empty Request: no value
        vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], // a length prefix far over the limit
        vec![0xff; 11],                           // an endless varint
        vec![0x10, 0x01],                         // a truncated message, then EOF
    ];
    for p in payloads {
        let mut s = std::net::TcpStream::connect(node.tcp_addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(&p).unwrap();
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut buf = Vec::new();
        // The server answers with an Exception or just closes; either way the read ends.
        let _ = s.read_to_end(&mut buf);
        assert!(node.is_running(), "ballastd died on {p:?}");
    }
    let mut c = SocketClient::connect(node.tcp_addr()).unwrap();
    assert_eq!(c.info().unwrap().last_block_height, 0);
    // A well-formed request with no value is answered with an exception.
    let mut s = std::net::TcpStream::connect(node.tcp_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&[0x00]).unwrap();
    let resp = ballast_app::server::read_message(&mut s).unwrap().unwrap();
    let resp = <pb::Response as prost::Message>::decode(resp.as_slice()).unwrap();
    assert!(matches!(
        resp.value,
        Some(pb::response::Value::Exception(_))
    ));
    assert!(node.is_running());
}
