//! CosmJS's `simulate` reaches a Cosmos chain through CometBFT's `abci_query` with the path
//! `/cosmos.tx.v1beta1.Service/Simulate`. Ballast answers it in `App::query` exactly as Cosmos
//! SDK chains do (SimulateRequest in, SimulateResponse out), reports a failing tx with its own
//! code and codespace, and changes neither the state nor the mempool.

use ballast_app::app::SIMULATE_QUERY_PATH;
use ballast_app::{App, AppConfig};
use ballast_framework::sdk;
use ballast_tests::consensus::MockConsensus;
use ballast_tests::driver::{Abci, InProcess};
use ballast_tests::keys::{msg_send, TestAccount, TxSpec};
use ballast_tests::{genesis_app_state, CHAIN_ID};
use cosmrs::proto::cosmos::tx::v1beta1 as c;
use cosmrs::proto::cosmos::tx::v1beta1::{SimulateRequest, SimulateResponse};
use prost::Message;
use tendermint_proto::v0_38::abci as pb;

fn query(node: &mut dyn Abci, data: Vec<u8>) -> pb::ResponseQuery {
    node.query(pb::RequestQuery {
        data: data.into(),
        path: SIMULATE_QUERY_PATH.into(),
        height: 0,
        prove: false,
    })
    .unwrap()
}

#[allow(deprecated)]
fn request(tx_bytes: Vec<u8>) -> Vec<u8> {
    SimulateRequest { tx: None, tx_bytes }.encode_to_vec()
}

/// CosmJS's simulation tx: real key and sequence, SIGN_MODE_UNSPECIFIED, empty signature,
/// empty fee.
#[allow(deprecated)]
fn cosmjs_tx(from: &TestAccount, to: &TestAccount, amount: &str, sequence: u64) -> Vec<u8> {
    c::Tx {
        body: Some(c::TxBody {
            messages: vec![msg_send(&from.address, &to.address, amount)],
            ..Default::default()
        }),
        auth_info: Some(c::AuthInfo {
            signer_infos: vec![c::SignerInfo {
                public_key: Some(from.pubkey_any()),
                mode_info: Some(c::ModeInfo {
                    sum: Some(c::mode_info::Sum::Single(c::mode_info::Single { mode: 0 })),
                }),
                sequence,
            }],
            fee: Some(c::Fee::default()),
            tip: None,
        }),
        signatures: vec![vec![]],
    }
    .encode_to_vec()
}

#[test]
fn simulate_query_estimates_gas_reports_codes_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(AppConfig::new(dir.path())).unwrap();

    // Before genesis there is nothing to simulate against.
    let mut node = InProcess(app.clone());
    let early = query(&mut node, request(vec![1]));
    assert_eq!(
        (early.codespace.as_str(), early.code),
        ("app", 1),
        "{}",
        early.log
    );

    let accounts = TestAccount::many(3);
    let (a, b, poor) = (&accounts[0], &accounts[1], &accounts[2]);
    let mut state = genesis_app_state(&accounts[..2], 1_000_000);
    state["accounts"]["accounts"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"address": poor.address.to_string(), "coins": [{"denom": "ubal", "amount": "6000"}]}));
    let mut cons = MockConsensus::new(CHAIN_ID, 1, state);
    cons.handshake(&mut node).unwrap();
    cons.produce_block(&mut [&mut node], Vec::new()).unwrap();
    let hash_before = node.info().unwrap().last_block_app_hash;

    // The signed tx.
    let signed = TxSpec::send(a, &b.address, 100, 0).sign(a);
    let ok = query(&mut node, request(signed.clone()));
    assert_eq!(ok.code, 0, "{}", ok.log);
    assert_eq!(ok.height, 1);
    let resp = SimulateResponse::decode(ok.value.as_ref()).unwrap();
    let gas = resp.gas_info.unwrap();
    assert_eq!(gas.gas_wanted, 200_000);
    assert!(gas.gas_used > 0);
    let events = resp.result.unwrap().events;
    let transfer = events.iter().find(|e| e.r#type == "transfer").unwrap();
    assert!(
        transfer.attributes.iter().any(|at| at.value == "100ubal"),
        "{transfer:?}"
    );

    // CosmJS's form: not below the signed tx's gas.
    let wallet = query(&mut node, request(cosmjs_tx(a, b, "100", 0)));
    assert_eq!(wallet.code, 0, "{}", wallet.log);
    let wallet_gas = SimulateResponse::decode(wallet.value.as_ref())
        .unwrap()
        .gas_info
        .unwrap();
    assert_eq!(wallet_gas.gas_wanted, 0);
    assert!(
        wallet_gas.gas_used >= gas.gas_used,
        "{wallet_gas:?} vs {gas:?}"
    );

    // Failures carry the tx's own code and codespace, as CheckTx and delivery would.
    let cases: Vec<(&str, Vec<u8>, &str, u32)> = vec![
        (
            "wrong sequence",
            request(cosmjs_tx(a, b, "1", 4)),
            "sdk",
            sdk::WRONG_SEQUENCE,
        ),
        (
            "insufficient funds",
            request(cosmjs_tx(a, b, "5000000", 0)),
            "sdk",
            sdk::INSUFFICIENT_FUNDS,
        ),
        // 6000 covers the 5000 fee but not the fee plus 2000.
        (
            "funds after fee",
            request(TxSpec::send(poor, &b.address, 2000, 0).sign(poor)),
            "sdk",
            sdk::INSUFFICIENT_FUNDS,
        ),
        (
            "garbage tx",
            request(vec![0xde, 0xad, 0xbe, 0xef]),
            "sdk",
            sdk::TX_DECODE,
        ),
        ("no tx", request(vec![]), "sdk", sdk::INVALID_REQUEST),
        (
            "not a SimulateRequest",
            vec![0xff, 0xff, 0xff],
            "sdk",
            sdk::INVALID_REQUEST,
        ),
        (
            "unfunded signer",
            request(cosmjs_tx(&TestAccount::new(50, 0), b, "1", 0)),
            "sdk",
            sdk::UNKNOWN_ADDRESS,
        ),
    ];
    for (name, data, codespace, code) in cases {
        let r = query(&mut node, data);
        assert_eq!(
            (r.codespace.as_str(), r.code),
            (codespace, code),
            "{name}: {}",
            r.log
        );
        assert!(r.value.is_empty(), "{name}");
    }
    let seq = query(&mut node, request(cosmjs_tx(a, b, "1", 4)));
    assert!(
        seq.log
            .contains("account sequence mismatch, expected 0, got 4"),
        "{}",
        seq.log
    );

    // Nothing was written: same app hash, and the signed tx still passes CheckTx at sequence 0.
    assert_eq!(node.info().unwrap().last_block_app_hash, hash_before);
    let check = node
        .check_tx(pb::RequestCheckTx {
            tx: signed.clone().into(),
            r#type: pb::CheckTxType::New as i32,
        })
        .unwrap();
    assert_eq!(check.code, 0, "{}", check.log);

    // Delivery uses exactly the gas the signed tx's simulation reported.
    let (block, _) = cons.produce_block(&mut [&mut node], vec![signed]).unwrap();
    assert_eq!(block.tx_results[0].code, 0);
    assert_eq!(block.tx_results[0].gas_used, gas.gas_used as i64);

    // After the block, a's next sequence simulates; the spent one does not.
    let next = query(&mut node, request(cosmjs_tx(a, b, "1", 1)));
    assert_eq!(next.code, 0, "{}", next.log);
    assert_eq!(next.height, 2);
    let spent = query(&mut node, request(cosmjs_tx(a, b, "1", 0)));
    assert_eq!(spent.code, sdk::WRONG_SEQUENCE);
}
