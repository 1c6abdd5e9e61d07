//! A real CometBFT v0.38 node in front of `ballastd`: blocks are produced with vote extensions
//! enabled, a signed transfer broadcast over CometBFT's RPC lands and is visible through
//! `abci_query`, and after SIGKILL of both processes the chain resumes. Runs only when
//! `COMETBFT_BIN` names a cometbft binary; otherwise it prints "skipped".

use ballast_tests::cometbft::{cometbft_bin, init_home, rpc, wait_for_height, CometBft};
use ballast_tests::keys::{TestAccount, TxSpec};
use ballast_tests::node::{free_port, Ballastd};
use ballast_tests::{genesis_app_state, CHAIN_ID};
use base64::Engine;
use cosmrs::proto::cosmos::bank::v1beta1::{QueryBalanceRequest, QueryBalanceResponse};
use prost::Message;
use std::time::Duration;

fn balance(rpc_addr: &str, addr: &ballast_framework::Address) -> u128 {
    let data = QueryBalanceRequest {
        address: addr.to_string(),
        denom: "ubal".into(),
    }
    .encode_to_vec();
    let r = rpc(
        rpc_addr,
        &format!(
            "/abci_query?path=%22/cosmos.bank.v1beta1.Query/Balance%22&data=0x{}",
            hex::encode(data)
        ),
    )
    .unwrap();
    assert_eq!(r["response"]["code"].as_u64().unwrap_or(0), 0, "{r}");
    let value = base64::engine::general_purpose::STANDARD
        .decode(r["response"]["value"].as_str().unwrap_or(""))
        .unwrap();
    QueryBalanceResponse::decode(value.as_slice())
        .unwrap()
        .balance
        .unwrap()
        .amount
        .parse()
        .unwrap()
}

#[test]
fn cometbft_single_node_produces_blocks_and_survives_kill_9() {
    let Some(bin) = cometbft_bin("cometbft_single_node_produces_blocks_and_survives_kill_9") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let accounts = TestAccount::many(2);
    let abci = format!("tcp://127.0.0.1:{}", free_port());
    let rpc_addr = init_home(
        &bin,
        home.path(),
        CHAIN_ID,
        &genesis_app_state(&accounts, 1_000_000),
        &abci,
    )
    .unwrap();

    let mut app = Ballastd::start(home.path(), &abci, &[]).unwrap();
    let mut node = CometBft::start(&bin, home.path()).unwrap();
    wait_for_height(&rpc_addr, 3, Duration::from_secs(60)).unwrap();

    let tx = TxSpec::send(&accounts[0], &accounts[1].address, 12_345, 0).sign(&accounts[0]);
    let r = rpc(
        &rpc_addr,
        &format!("/broadcast_tx_sync?tx=0x{}", hex::encode(&tx)),
    )
    .unwrap();
    assert_eq!(r["code"].as_u64(), Some(0), "{r}");
    let h = ballast_tests::cometbft::height(&rpc_addr).unwrap();
    wait_for_height(&rpc_addr, h + 3, Duration::from_secs(60)).unwrap();
    assert_eq!(balance(&rpc_addr, &accounts[1].address), 1_000_000 + 12_345);
    assert_eq!(
        balance(&rpc_addr, &accounts[0].address),
        1_000_000 - 12_345 - 5_000
    );
    let hash = hex::encode_upper(ballast_app::tx::tx_hash(&tx));
    let found = rpc(&rpc_addr, &format!("/tx?hash=0x{hash}")).unwrap();
    assert_eq!(
        found["tx_result"]["code"].as_u64().unwrap_or(0),
        0,
        "{found}"
    );

    // Kill both with SIGKILL and restart: CometBFT's handshake replays what the app lacks.
    let before = wait_for_height(&rpc_addr, 10, Duration::from_secs(60)).unwrap();
    node.kill9();
    app.kill9();
    drop(app);
    let _app = Ballastd::start(home.path(), &abci, &[]).unwrap();
    let _node = CometBft::start(&bin, home.path()).unwrap();
    wait_for_height(&rpc_addr, before + 5, Duration::from_secs(90)).unwrap();
    assert_eq!(balance(&rpc_addr, &accounts[1].address), 1_000_000 + 12_345);
    let info = rpc(&rpc_addr, "/abci_info").unwrap();
    assert!(
        info["response"]["last_block_height"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= before + 4,
        "{info}"
    );
}
