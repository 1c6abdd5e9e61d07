//! `ballastd dev`'s library: the in-process producer makes real, signed, chained CometBFT
//! blocks through the exact ABCI sequence (vote extensions at every height), and its JSON-RPC
//! answers parse with tendermint-rpc's own types: status, blocks, a MsgSend found by
//! `tx_search`/`tx`, balances through `abci_query`, `broadcast_tx_commit`, CometBFT-style
//! errors, and a mempool that rejects duplicates, refuses when full and evicts on recheck.

mod dev_support;

use ballast_app::broadcast::{BroadcastMode, Broadcaster};
use ballast_app::dev::{serve_rpc, DevChain, DevConfig, DevHandle};
use ballast_app::{App, AppConfig};
use ballast_framework::Address;
use ballast_tests::keys::{TestAccount, TxSpec};
use ballast_tests::CHAIN_ID;
use base64::Engine;
use cosmrs::proto::cosmos::bank::v1beta1::{QueryBalanceRequest, QueryBalanceResponse};
use dev_support::*;
use prost::Message;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tendermint_rpc::endpoint;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

struct Node {
    chain: Option<DevChain>,
    handle: DevHandle,
    addr: String,
    stop_rpc: Option<tokio::sync::oneshot::Sender<()>>,
    rpc: tokio::task::JoinHandle<()>,
    calls: Arc<Mutex<Calls>>,
    _dir: tempfile::TempDir,
}

async fn start(
    accounts: &[TestAccount],
    max_block_bytes: u64,
    tweak: impl FnOnce(&mut DevConfig),
) -> Node {
    let dir = tempfile::tempdir().unwrap();
    write_home(dir.path(), accounts, max_block_bytes);
    let calls = Arc::new(Mutex::new(Calls::default()));
    let app = App::open_with_hooks(
        AppConfig::new(dir.path()),
        vec![Arc::new(RecordingHook(calls.clone()))],
    )
    .unwrap();
    let mut cfg = DevConfig::new(dir.path());
    cfg.block_interval = Duration::from_secs(3600);
    tweak(&mut cfg);
    let chain = DevChain::open(app, cfg).unwrap();
    let handle = chain.handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let h = handle.clone();
    let rpc = tokio::spawn(async move {
        serve_rpc(h, listener, async {
            let _ = rx.await;
        })
        .await
        .unwrap()
    });
    Node {
        chain: Some(chain),
        handle,
        addr,
        stop_rpc: Some(tx),
        rpc,
        calls,
        _dir: dir,
    }
}

impl Node {
    fn produce(&self) -> i64 {
        let chain = self.chain.as_ref().unwrap();
        tokio::task::block_in_place(|| chain.produce_block().unwrap()).height
    }

    async fn block(&self, height: i64) -> endpoint::block::Response {
        let r = rpc(
            &self.addr,
            "block",
            serde_json::json!({"height": height.to_string()}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        parse(&r)
    }
}

fn send(from: &TestAccount, to: &Address, amount: u128, seq: u64) -> Vec<u8> {
    TxSpec::send(from, to, amount, seq).sign(from)
}

async fn balance(addr: &str, who: &Address) -> u128 {
    let data = QueryBalanceRequest {
        address: who.to_string(),
        denom: "ubal".into(),
    }
    .encode_to_vec();
    let r = rpc(
        addr,
        "abci_query",
        serde_json::json!({"path": "/cosmos.bank.v1beta1.Query/Balance", "data": hex::encode(data)}),
    )
    .await;
    let q: endpoint::abci_query::Response = parse(&r);
    assert_eq!(q.response.code.value(), 0, "{}", q.response.log);
    QueryBalanceResponse::decode(q.response.value.as_slice())
        .unwrap()
        .balance
        .unwrap()
        .amount
        .parse()
        .unwrap()
}

/// Checks the validator's signature in a commit over CometBFT's canonical vote bytes, with
/// tendermint-rs's own verifier.
fn verify_commit(commit: &tendermint::block::Commit) {
    use tendermint::block::CommitSig;
    let v = validator();
    assert_eq!(commit.signatures.len(), 1);
    let CommitSig::BlockIdFlagCommit {
        validator_address,
        timestamp,
        signature: Some(sig),
    } = &commit.signatures[0]
    else {
        panic!("not a commit signature: {:?}", commit.signatures[0]);
    };
    assert_eq!(*validator_address, v.address);
    let vote = tendermint::vote::Vote {
        vote_type: tendermint::vote::Type::Precommit,
        height: commit.height,
        round: commit.round,
        block_id: Some(commit.block_id),
        timestamp: Some(*timestamp),
        validator_address: v.address,
        validator_index: 0u32.try_into().unwrap(),
        signature: None,
        extension: vec![],
        extension_signature: None,
    };
    let bytes = vote.into_signable_vec(CHAIN_ID.parse().unwrap());
    v.verify_signature::<tendermint::crypto::default::signature::Verifier>(&bytes, sig)
        .expect("the commit signature verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_are_real_signed_and_chained_and_vote_extensions_run_every_height() {
    let accounts = TestAccount::many(2);
    let node = start(&accounts, 22_020_096, |_| {}).await;
    for h in 1..=4 {
        assert_eq!(node.produce(), h);
    }
    let status: endpoint::status::Response =
        parse(&rpc(&node.addr, "status", serde_json::Value::Null).await);
    assert!(status.node_info.version.to_string().starts_with("0.38."));
    assert_eq!(status.node_info.network.as_str(), CHAIN_ID);
    assert_eq!(status.sync_info.latest_block_height.value(), 4);
    assert_eq!(status.validator_info.address, validator().address);
    // CometBFT's wire names, which CosmJS reads.
    let raw = rpc(&node.addr, "status", serde_json::Value::Null)
        .await
        .json();
    assert_eq!(raw["result"]["validator_info"]["voting_power"], "10");
    assert!(raw.get("error").is_none(), "a success has no error member");

    let mut prev: Option<endpoint::block::Response> = None;
    for h in 1..=4 {
        let b = node.block(h).await;
        assert_eq!(b.block.header.height.value(), h as u64);
        assert_eq!(b.block.header.chain_id.as_str(), CHAIN_ID);
        // The hash is the header's, recomputed here.
        assert_eq!(b.block.header.hash(), b.block_id.hash);
        assert_eq!(b.block.header.proposer_address, validator().address);
        assert_eq!(
            b.block.header.validators_hash,
            tendermint::validator::Set::new(vec![validator()], None).hash()
        );
        match &prev {
            None => {
                assert!(b.block.header.last_block_id.is_none());
                assert_eq!(b.block.header.time.to_rfc3339(), "2024-05-01T12:00:00Z");
            }
            Some(p) => {
                assert_eq!(b.block.header.last_block_id, Some(p.block_id));
                let lc = b.block.last_commit.as_ref().unwrap();
                assert_eq!(lc.block_id, p.block_id);
                assert_eq!(lc.height, p.block.header.height);
                verify_commit(lc);
                assert!(b.block.header.time > p.block.header.time);
            }
        }
        prev = Some(b);
    }
    // `commit`: the canonical commit (from the next block) below the tip, the seen one at it.
    for (h, canonical) in [(2i64, true), (4, false)] {
        let c: endpoint::commit::Response = parse(
            &rpc(
                &node.addr,
                "commit",
                serde_json::json!({"height": h.to_string()}),
            )
            .await,
        );
        assert_eq!(c.canonical, canonical);
        let b = node.block(h).await;
        assert_eq!(c.signed_header.header.hash(), b.block_id.hash);
        assert_eq!(c.signed_header.commit.block_id, b.block_id);
        verify_commit(&c.signed_header.commit);
    }
    // The first block's last commit is an empty commit, as CometBFT serves it.
    let raw = rpc(&node.addr, "block", serde_json::json!({"height": "1"}))
        .await
        .json();
    assert_eq!(
        raw["result"]["block"]["last_commit"]["block_id"]["hash"],
        ""
    );

    // ExtendVote and VerifyVoteExtension at every height, on the block's real hash; the next
    // PrepareProposal sees the previous height's extension in its local last commit.
    let calls = node.calls.lock().unwrap();
    for h in 1..=4u64 {
        let hash: [u8; 32] = stored_hash(&node, h as i64);
        assert!(calls.extend.contains(&(h, hash)), "ExtendVote at {h}");
        assert!(
            calls.verify.contains(&(h, hash, extension(h, &hash))),
            "VerifyVoteExtension at {h}"
        );
        let prep = calls.prepare.iter().find(|(ph, _)| *ph == h).unwrap();
        if h == 1 {
            assert!(prep.1.is_empty());
        } else {
            let prev_hash = stored_hash(&node, h as i64 - 1);
            assert_eq!(
                prep.1,
                vec![extension(h - 1, &prev_hash)],
                "local_last_commit at {h}"
            );
        }
    }
}

/// The hash of block `h`, read from the block store.
fn stored_hash(node: &Node, h: i64) -> [u8; 32] {
    let b = node.handle.store().block(h as u64).unwrap().unwrap();
    b.block_id.unwrap().hash.try_into().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_is_found_by_tx_search_and_tx_and_changes_the_balance() {
    let accounts = TestAccount::many(2);
    let node = start(&accounts, 22_020_096, |_| {}).await;
    node.produce();
    let tx = send(&accounts[0], &accounts[1].address, 12_345, 0);
    let hash: [u8; 32] = Sha256::digest(&tx).into();
    let r = rpc(
        &node.addr,
        "broadcast_tx_sync",
        serde_json::json!({"tx": B64.encode(&tx)}),
    )
    .await;
    let sync: endpoint::broadcast::tx_sync::Response = parse(&r);
    assert_eq!(sync.code.value(), 0, "{}", sync.log);
    assert_eq!(sync.hash.as_bytes(), hash);
    assert_eq!(node.handle.mempool_len(), 1);
    let height = node.produce();
    assert_eq!(node.handle.mempool_len(), 0);

    // tx_search by hash, as CosmJS's getTx and sendTokens polling do.
    let q = format!("tx.hash='{}'", hex::encode_upper(hash));
    let found: endpoint::tx_search::Response = parse(
        &rpc(&node.addr, "tx_search", serde_json::json!({"query": q, "prove": false, "page": "1", "per_page": "30", "order_by": ""})).await,
    );
    assert_eq!(found.total_count, 1);
    assert_eq!(found.txs[0].hash.as_bytes(), hash);
    assert_eq!(found.txs[0].height.value(), height as u64);
    assert_eq!(found.txs[0].tx, tx);
    assert_eq!(found.txs[0].tx_result.code.value(), 0);
    assert!(found.txs[0]
        .tx_result
        .events
        .iter()
        .any(|e| e.kind == "transfer"));
    // tx_search by height (numbers as CosmJS sends them), and a height with nothing.
    let by_height: endpoint::tx_search::Response = parse(
        &rpc(
            &node.addr,
            "tx_search",
            serde_json::json!({"query": format!("tx.height={height}"), "page": 1, "per_page": 10}),
        )
        .await,
    );
    assert_eq!(by_height.total_count, 1);
    let none: endpoint::tx_search::Response = parse(
        &rpc(
            &node.addr,
            "tx_search",
            serde_json::json!({"query": "tx.height=1"}),
        )
        .await,
    );
    assert_eq!(none.total_count, 0);
    assert!(none.txs.is_empty());
    // An event query.
    let by_event: endpoint::tx_search::Response = parse(
        &rpc(
            &node.addr,
            "tx_search",
            serde_json::json!({"query": format!("transfer.recipient='{}'", accounts[1].address)}),
        )
        .await,
    );
    assert_eq!(by_event.total_count, 1);

    // tx by hash, with a proof against the block's data hash.
    let got: endpoint::tx::Response = parse(
        &rpc(
            &node.addr,
            "tx",
            serde_json::json!({"hash": B64.encode(hash), "prove": true}),
        )
        .await,
    );
    assert_eq!(got.tx, tx);
    assert_eq!(got.index, 0);
    let b = node.block(height).await;
    assert_eq!(Some(got.proof.unwrap().root_hash), b.block.header.data_hash);
    // The URI form: bytes as 0x-hex.
    let uri = http(
        &node.addr,
        "GET",
        &format!("/tx?hash=0x{}", hex::encode(hash)),
        b"",
    )
    .await;
    assert_eq!(uri.status, 200, "{}", uri.body);
    let got: endpoint::tx::Response = parse(&uri);
    assert_eq!(got.height.value(), height as u64);

    // The balance moved.
    assert_eq!(
        balance(&node.addr, &accounts[1].address).await,
        FUNDS + 12_345
    );
    // block_results carries the tx result.
    let br: endpoint::block_results::Response = parse(
        &rpc(
            &node.addr,
            "block_results",
            serde_json::json!({"height": height.to_string()}),
        )
        .await,
    );
    assert_eq!(br.txs_results.unwrap().len(), 1);
    let info: endpoint::abci_info::Response =
        parse(&rpc(&node.addr, "abci_info", serde_json::json!({})).await);
    assert_eq!(info.response.last_block_height.value(), height as u64);
    // CometBFT writes this app hash in base64 (CosmJS decodes it); tendermint-rpc keeps the
    // base64 text as the bytes, exactly as it does with a real CometBFT node's answer.
    assert_eq!(
        info.response.last_block_app_hash.as_bytes(),
        B64.encode(br.app_hash.as_bytes()).as_bytes()
    );

    // The same tx again: CometBFT's duplicate error.
    let dup = rpc(
        &node.addr,
        "broadcast_tx_sync",
        serde_json::json!({"tx": B64.encode(&tx)}),
    )
    .await
    .json();
    assert_eq!(dup["error"]["code"], -32603);
    assert_eq!(dup["error"]["message"], "Internal error");
    assert_eq!(dup["error"]["data"], "tx already exists in cache");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_commit_waits_for_the_block_under_the_running_producer() {
    let accounts = TestAccount::many(2);
    let mut node = start(&accounts, 22_020_096, |c| {
        c.block_interval = Duration::from_millis(50);
    })
    .await;
    let chain = node.chain.take().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(chain.run(async {
        let _ = stopped.await;
    }));
    let tx = send(&accounts[0], &accounts[1].address, 777, 0);
    let r = rpc(
        &node.addr,
        "broadcast_tx_commit",
        serde_json::json!({"tx": B64.encode(&tx)}),
    )
    .await;
    let c: endpoint::broadcast::tx_commit::Response = parse(&r);
    assert_eq!(c.check_tx.code.value(), 0);
    assert_eq!(c.tx_result.code.value(), 0, "{}", c.tx_result.log);
    assert!(c.height.value() >= 1);
    let b = node.block(c.height.value() as i64).await;
    assert_eq!(b.block.data, vec![tx.clone()]);

    // A failing CheckTx answers at once with height 0 (sequence 0 is spent).
    let stale = send(&accounts[0], &accounts[1].address, 1, 0);
    let r = rpc(
        &node.addr,
        "broadcast_tx_commit",
        serde_json::json!({"tx": B64.encode(&stale)}),
    )
    .await;
    let c: endpoint::broadcast::tx_commit::Response = parse(&r);
    assert_ne!(c.check_tx.code.value(), 0);
    assert_eq!(c.height.value(), 0);

    // Through the Broadcaster trait (what gRPC's BroadcastTx uses).
    let tx2 = send(&accounts[0], &accounts[1].address, 5, 1);
    let res = node
        .handle
        .broadcast(tx2.clone(), BroadcastMode::Commit)
        .await
        .unwrap();
    assert_eq!(res.code, 0, "{}", res.log);
    assert!(res.height > 0);
    assert_eq!(res.hash, <[u8; 32]>::from(Sha256::digest(&tx2)));
    let again = node
        .handle
        .broadcast(tx2, BroadcastMode::Sync)
        .await
        .unwrap();
    assert_eq!((again.code, again.codespace.as_str()), (19, "sdk"));
    assert_eq!(again.log, "tx already exists in cache");
    let tx3 = send(&accounts[1], &accounts[0].address, 5, 0);
    let res = node
        .handle
        .broadcast(tx3.clone(), BroadcastMode::Async)
        .await
        .unwrap();
    assert_eq!(res.code, 0);
    let committed = node
        .handle
        .wait_for_tx(res.hash, Duration::from_secs(10))
        .await
        .unwrap()
        .expect("the async tx commits");
    assert_eq!(committed.tx, tx3);

    // Shutdown stops between blocks and returns cleanly.
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();
    let h = node.handle.latest().unwrap().height;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        node.handle.latest().unwrap().height,
        h,
        "no block after shutdown"
    );
    node.stop_rpc.take().unwrap().send(()).unwrap();
    node.rpc.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_cometbft_style_errors() {
    let accounts = TestAccount::many(1);
    let node = start(&accounts, 22_020_096, |_| {}).await;
    node.produce();
    let a = &node.addr;
    let err = |r: &HttpReply| r.json()["error"].clone();

    let r = rpc(a, "no_such_method", serde_json::json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        err(&r),
        serde_json::json!({"code": -32601, "message": "Method not found"})
    );
    assert_eq!(r.json()["id"], 7);
    assert!(r.json().get("result").is_none());
    // tendermint-rpc reads it as an error too.
    assert!(
        <endpoint::status::Response as tendermint_rpc::Response>::from_string(&r.body).is_err()
    );

    for garbage in [&b"{not json"[..], b"42", b"[1,2]", b"", b"\xff\xfe"] {
        let r = http(a, "POST", "/", garbage).await;
        assert_eq!(r.status, 500, "{}", r.body);
        assert_eq!(err(&r)["code"], -32700);
        assert_eq!(err(&r)["message"], "Parse error");
    }

    let r = rpc(a, "block", serde_json::json!({"height": "abc"})).await;
    assert_eq!(err(&r)["code"], -32602);
    assert_eq!(err(&r)["message"], "Invalid params");
    let r = rpc(a, "block", serde_json::json!({"height": {"x": 1}})).await;
    assert_eq!(err(&r)["code"], -32602);
    let r = rpc(a, "block", serde_json::json!("height")).await;
    assert_eq!(err(&r)["code"], -32602);
    let r = rpc(a, "broadcast_tx_sync", serde_json::json!({"tx": "***"})).await;
    assert_eq!(err(&r)["code"], -32602);
    let r = rpc(a, "block", serde_json::json!({"height": "0"})).await;
    assert_eq!(err(&r)["code"], -32600);
    let r = rpc(a, "block", serde_json::json!({"height": "99"})).await;
    assert_eq!(err(&r)["code"], -32603);
    assert!(err(&r)["data"]
        .as_str()
        .unwrap()
        .contains("blockchain height: 1"));
    let r = rpc(a, "tx", serde_json::json!({"hash": B64.encode([1u8; 32])})).await;
    assert_eq!(err(&r)["code"], -32603);
    assert_eq!(
        err(&r)["data"],
        format!("tx ({}) not found", hex::encode_upper([1u8; 32]))
    );
    let r = rpc(a, "tx", serde_json::json!({"hash": B64.encode([1u8; 5])})).await;
    assert_eq!(err(&r)["code"], -32602);
    let r = rpc(
        a,
        "tx_search",
        serde_json::json!({"query": "tx.height >>> 5"}),
    )
    .await;
    assert_eq!(err(&r)["code"], -32603);
    let r = rpc(
        a,
        "tx_search",
        serde_json::json!({"query": "tx.height=1", "page": "9"}),
    )
    .await;
    assert_eq!(err(&r)["code"], -32600);
    let r = rpc(
        a,
        "broadcast_tx_sync",
        serde_json::json!({"tx": B64.encode(b"garbage")}),
    )
    .await;
    let sync: endpoint::broadcast::tx_sync::Response = parse(&r);
    assert_ne!(
        sync.code.value(),
        0,
        "undecodable tx gets a CheckTx code, not a crash"
    );

    // Positional params, a batch, a notification.
    let r = http(
        a,
        "POST",
        "/",
        br#"{"jsonrpc":"2.0","id":"x","method":"block","params":["1"]}"#,
    )
    .await;
    let b: endpoint::block::Response = parse(&r);
    assert_eq!(b.block.header.height.value(), 1);
    let r = http(a, "POST", "/", br#"[{"jsonrpc":"2.0","id":1,"method":"health"},{"jsonrpc":"2.0","id":2,"method":"nope"},{"jsonrpc":"2.0","method":"health"}]"#).await;
    let list = r.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "the notification gets no answer");
    assert_eq!(list[0]["result"], serde_json::json!({}));
    assert_eq!(list[1]["error"]["code"], -32601);
    let r = http(a, "POST", "/", br#"{"jsonrpc":"2.0","method":"health"}"#).await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    let r = http(
        a,
        "POST",
        "/status",
        br#"{"jsonrpc":"2.0","id":1,"method":"status"}"#,
    )
    .await;
    assert_eq!(err(&r)["code"], -32600);

    // The URI form.
    let r = http(a, "GET", "/block?height=1", b"").await;
    let b: endpoint::block::Response = parse(&r);
    assert_eq!(b.block.header.height.value(), 1);
    assert_eq!(r.json()["id"], -1);
    let r = http(a, "GET", "/block?height=abc", b"").await;
    assert_eq!(err(&r)["code"], -32602);
    let r = http(a, "GET", "/nope", b"").await;
    assert_eq!(r.status, 404);
    assert_eq!(err(&r)["code"], -32601);
    let r = http(a, "GET", "/abci_query?path=%22/app/version%22", b"").await;
    let q: endpoint::abci_query::Response = parse(&r);
    assert!(!q.response.value.is_empty());
    let r = http(a, "GET", "/tx_search?query=%22tx.height%3D1%22", b"").await;
    let s: endpoint::tx_search::Response = parse(&r);
    assert_eq!(s.total_count, 0);
    let r = http(a, "GET", "/abci_query?path=/app/version", b"").await;
    assert_eq!(err(&r)["code"], -32602, "strings must be quoted");
    let r = http(a, "GET", "/health", b"").await;
    let _: endpoint::health::Response = parse(&r);
    let r = http(a, "GET", "/genesis", b"").await;
    let g: endpoint::genesis::Response<serde_json::Value> = parse(&r);
    assert_eq!(g.genesis.chain_id.as_str(), CHAIN_ID);
    let r = http(a, "GET", "/validators", b"").await;
    let v: endpoint::validators::Response = parse(&r);
    assert_eq!(v.validators, vec![validator()]);
    assert_eq!(r.json()["result"]["validators"][0]["voting_power"], "10");
    let r = http(a, "GET", "/block_results?height=1", b"").await;
    let _: endpoint::block_results::Response = parse(&r);
    // Every method with every kind of junk: an answer each time, never a dropped connection.
    let junk = [
        serde_json::json!({"height": -1, "page": -5, "per_page": 100000, "prove": "maybe"}),
        serde_json::json!({"height": "18446744073709551616", "hash": "", "tx": "", "query": ""}),
        serde_json::json!({"path": 5, "data": "0x", "query": "tx.hash='zz'", "order_by": "sideways"}),
        serde_json::json!({"query": "tx.height > 18446744073709551615", "page": "0"}),
        serde_json::json!({"query": "a.b CONTAINS 'x' AND tx.height <= -3", "per_page": "0"}),
        serde_json::json!([null, null, null, null, null, null]),
        serde_json::json!([{"deep": [1, 2, 3]}]),
    ];
    for method in [
        "status",
        "health",
        "genesis",
        "abci_info",
        "abci_query",
        "broadcast_tx_async",
        "broadcast_tx_sync",
        "broadcast_tx_commit",
        "tx",
        "tx_search",
        "block",
        "block_by_hash",
        "block_results",
        "commit",
        "validators",
    ] {
        for params in &junk {
            let r = rpc(a, method, params.clone()).await;
            let v = r.json();
            assert!(
                v.get("result").is_some() ^ v.get("error").is_some(),
                "{method} {params}: {}",
                r.body
            );
        }
    }
    // Still alive after all that.
    let _: endpoint::health::Response = parse(&rpc(a, "health", serde_json::Value::Null).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mempool_refuses_when_full_and_evicts_txs_that_fail_recheck() {
    let accounts = TestAccount::many(3);
    // Room for one ~300-byte tx per block (CometBFT's overheads take 842 bytes of max_bytes).
    let node = start(&accounts, 842 + 400, |c| c.mempool_max_txs = 2).await;
    let h = node.produce();
    let a = send(&accounts[0], &accounts[2].address, 1, 0);
    let mut late = TxSpec::send(&accounts[1], &accounts[2].address, 1, 0);
    late.timeout_height = h as u64 + 1;
    let late = late.sign(&accounts[1]);
    for t in [&a, &late] {
        let s: endpoint::broadcast::tx_sync::Response = parse(
            &rpc(
                &node.addr,
                "broadcast_tx_sync",
                serde_json::json!({"tx": B64.encode(t)}),
            )
            .await,
        );
        assert_eq!(s.code.value(), 0, "{}", s.log);
    }
    let third = send(&accounts[2], &accounts[0].address, 1, 0);
    let r = rpc(
        &node.addr,
        "broadcast_tx_sync",
        serde_json::json!({"tx": B64.encode(&third)}),
    )
    .await
    .json();
    assert_eq!(r["error"]["code"], -32603);
    let msg = r["error"]["data"].as_str().unwrap();
    assert!(
        msg.starts_with("mempool is full: number of txs 2 (max: 2)"),
        "{msg}"
    );
    let res = node
        .handle
        .broadcast(third.clone(), BroadcastMode::Sync)
        .await
        .unwrap();
    assert_eq!((res.code, res.codespace.as_str()), (20, "sdk"));

    // The next block has room for one tx only: `a`. Then `late`'s timeout height has passed,
    // so the recheck evicts it.
    let h2 = node.produce();
    let b = node.block(h2).await;
    assert_eq!(b.block.data, vec![a.clone()]);
    assert_eq!(node.handle.mempool_len(), 0, "late was evicted");
    // With room again, the third tx gets in; the evicted one may be sent again (and now fails
    // CheckTx, so it stays out).
    let s: endpoint::broadcast::tx_sync::Response = parse(
        &rpc(
            &node.addr,
            "broadcast_tx_sync",
            serde_json::json!({"tx": B64.encode(&third)}),
        )
        .await,
    );
    assert_eq!(s.code.value(), 0);
    let s: endpoint::broadcast::tx_sync::Response = parse(
        &rpc(
            &node.addr,
            "broadcast_tx_sync",
            serde_json::json!({"tx": B64.encode(&late)}),
        )
        .await,
    );
    assert_ne!(s.code.value(), 0);
    assert_eq!(node.handle.mempool_len(), 1);
}
