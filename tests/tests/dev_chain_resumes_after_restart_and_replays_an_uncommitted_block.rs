//! The dev chain survives restarts: closed and reopened on the same home it resumes at the same
//! height and app hash, still serves its old blocks, and keeps the hash chain going; and when
//! the app's state is one block behind the block store (a crash between storing a block and
//! committing it), the reopening handshake replays that block to the recorded app hash.

mod dev_support;

use ballast_app::dev::{serve_rpc, DevChain, DevConfig};
use ballast_app::{App, AppConfig};
use ballast_tests::keys::{TestAccount, TxSpec};
use base64::Engine;
use dev_support::*;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tendermint_rpc::endpoint;

fn open(home: &Path) -> DevChain {
    let calls = Arc::new(Mutex::new(Calls::default()));
    let app =
        App::open_with_hooks(AppConfig::new(home), vec![Arc::new(RecordingHook(calls))]).unwrap();
    DevChain::open(app, DevConfig::new(home)).unwrap()
}

/// Serves the chain's RPC, runs `f` against its address, then stops the server.
async fn with_rpc<T>(chain: &DevChain, f: impl AsyncFnOnce(&str) -> T) -> T {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_rpc(chain.handle(), listener, async {
        let _ = stopped.await;
    }));
    let out = f(&addr).await;
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    out
}

fn produce(chain: &DevChain, n: usize) {
    tokio::task::block_in_place(|| {
        for _ in 0..n {
            chain.produce_block().unwrap();
        }
    });
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

async fn state(addr: &str) -> (u64, Vec<u8>, String) {
    let info: endpoint::abci_info::Response =
        parse(&rpc(addr, "abci_info", serde_json::Value::Null).await);
    let status: endpoint::status::Response =
        parse(&rpc(addr, "status", serde_json::Value::Null).await);
    assert_eq!(
        info.response.last_block_height,
        status.sync_info.latest_block_height
    );
    (
        info.response.last_block_height.value(),
        // tendermint-rpc keeps CometBFT's base64 text as the bytes.
        base64::engine::general_purpose::STANDARD
            .decode(info.response.last_block_app_hash.as_bytes())
            .unwrap(),
        status.sync_info.latest_block_hash.to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopened_chain_resumes_at_the_same_height_and_app_hash_and_serves_old_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = TestAccount::many(2);
    write_home(dir.path(), &accounts, 22_020_096);

    let chain = open(dir.path());
    produce(&chain, 2);
    let tx = TxSpec::send(&accounts[0], &accounts[1].address, 99, 0).sign(&accounts[0]);
    let (before, block2, tx_height) = with_rpc(&chain, async |a: &str| {
        let r = rpc(
            a,
            "broadcast_tx_sync",
            serde_json::json!({"tx": base64::engine::general_purpose::STANDARD.encode(&tx)}),
        )
        .await;
        let s: endpoint::broadcast::tx_sync::Response = parse(&r);
        assert_eq!(s.code.value(), 0, "{}", s.log);
        produce(&chain, 1);
        let block2 = rpc(a, "block", serde_json::json!({"height": "2"}))
            .await
            .body;
        (state(a).await, block2, 3u64)
    })
    .await;
    assert_eq!(before.0, 3);
    drop(chain);

    let chain = open(dir.path());
    with_rpc(&chain, async |a: &str| {
        assert_eq!(
            state(a).await,
            before,
            "same height, app hash and block hash"
        );
        // Old blocks and txs are still served, byte for byte.
        assert_eq!(
            rpc(a, "block", serde_json::json!({"height": "2"}))
                .await
                .body,
            block2
        );
        let found: endpoint::tx_search::Response = parse(
            &rpc(
                a,
                "tx_search",
                serde_json::json!({"query": format!("tx.height={tx_height}")}),
            )
            .await,
        );
        assert_eq!(found.total_count, 1);
        assert_eq!(found.txs[0].tx, tx);
        // The chain goes on from where it was, linked to the old tip.
        produce(&chain, 1);
        let b3: endpoint::block::Response =
            parse(&rpc(a, "block", serde_json::json!({"height": "3"})).await);
        let b4: endpoint::block::Response =
            parse(&rpc(a, "block", serde_json::json!({"height": "4"})).await);
        assert_eq!(b4.block.header.last_block_id, Some(b3.block_id));
        assert_eq!(b3.block_id.hash.to_string(), before.2);
        // Block 4's header commits to the app hash the chain had before the restart.
        assert_eq!(b4.block.header.app_hash.as_bytes(), before.1.as_slice());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_one_block_behind_the_store_gets_that_block_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = TestAccount::many(2);
    write_home(dir.path(), &accounts, 22_020_096);
    let app_dir = dir.path().join("data").join("ballast");
    let saved = tempfile::tempdir().unwrap();

    let chain = open(dir.path());
    produce(&chain, 2);
    // The app's state after block 2, kept aside.
    copy_dir(&app_dir, saved.path());
    // Block 3 carries a transfer, so replaying it changes the state.
    let tx = TxSpec::send(&accounts[0], &accounts[1].address, 5, 0).sign(&accounts[0]);
    let handle = chain.handle();
    let admitted = handle.check_tx(tx.clone()).await.unwrap();
    assert!(matches!(admitted, ballast_app::dev::Admission::Checked(ref r) if r.code == 0));
    produce(&chain, 1);
    let after3 = with_rpc(&chain, async |a: &str| state(a).await).await;
    drop(handle);
    drop(chain);

    // As if the node died after storing block 3 but before the app committed it.
    std::fs::remove_dir_all(&app_dir).unwrap();
    copy_dir(saved.path(), &app_dir);
    let app = App::open(AppConfig::new(dir.path())).unwrap();
    assert_eq!(app.info().last_block_height, 2);
    drop(app);

    let chain = open(dir.path());
    with_rpc(&chain, async |a: &str| {
        assert_eq!(
            state(a).await,
            after3,
            "block 3 was replayed to the same app hash"
        );
        let got: endpoint::tx::Response = parse(
            &rpc(
                a,
                "tx",
                serde_json::json!({"hash": base64::engine::general_purpose::STANDARD.encode(
                    <[u8; 32]>::from(<sha2::Sha256 as sha2::Digest>::digest(&tx)))}),
            )
            .await,
        );
        assert_eq!(got.height.value(), 3);
        produce(&chain, 1);
        assert_eq!(state(a).await.0, 4);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_with_a_foreign_validator_key_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = TestAccount::many(1);
    write_home(dir.path(), &accounts, 22_020_096);
    // Replace the key file with another key: genesis' validator no longer matches.
    let other = tendermint::private_key::Ed25519::try_from(&[7u8; 32][..]).unwrap();
    let pk = tendermint::PublicKey::from(other.verification_key());
    let key = tendermint_config::PrivValidatorKey {
        address: tendermint::account::Id::from(pk.ed25519().unwrap()),
        pub_key: pk,
        priv_key: tendermint::private_key::PrivateKey::Ed25519(other),
    };
    std::fs::write(
        dir.path().join("config/priv_validator_key.json"),
        serde_json::to_vec(&key).unwrap(),
    )
    .unwrap();
    let app = App::open(AppConfig::new(dir.path())).unwrap();
    let err = DevChain::open(app, DevConfig::new(dir.path()))
        .err()
        .expect("a foreign key is refused")
        .to_string();
    assert!(
        err.contains("genesis.json") && err.contains("is not the key"),
        "{err}"
    );
    // A malformed genesis file names the file.
    std::fs::write(dir.path().join("config/genesis.json"), b"{]").unwrap();
    let app = App::open(AppConfig::new(dir.path())).unwrap();
    let err = DevChain::open(app, DevConfig::new(dir.path()))
        .err()
        .expect("garbage is refused")
        .to_string();
    assert!(err.contains("not a CometBFT genesis file"), "{err}");
}
