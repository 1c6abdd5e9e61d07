//! Ballast's gRPC server over a mock-consensus chain: BroadcastTx → block → GetTx; Simulate
//! estimates gas without changing state or sequences and reports Cosmos codes; the bank, auth
//! and accounts queries answer as the ABCI queries do (also at an earlier height); health says
//! SERVING; reflection (v1 and v1alpha) lists every service and resolves every type they use;
//! bad input gets the right gRPC status codes.

use ballast_app::grpc::status::{CODESPACE_HEADER, CODE_HEADER};
use ballast_app::grpc::{BLOCK_HEIGHT_HEADER, SERVICES};
use ballast_framework::sdk;
use ballast_proto::ballast::accounts::v1 as accounts_pb;
use ballast_proto::cosmos::auth::v1beta1 as auth_pb;
use ballast_proto::cosmos::bank::v1beta1 as bank_pb;
use ballast_proto::cosmos::tx::v1beta1 as tx_pb;
use ballast_tests::grpc::GrpcChain;
use ballast_tests::keys::{msg_send, TestAccount, TxSpec};
use prost::Message;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use tendermint_proto::v0_38::abci as pb;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

const FUNDS: u128 = 1_000_000_000;

type TxClient = tx_pb::service_client::ServiceClient<Channel>;
type BankClient = bank_pb::query_client::QueryClient<Channel>;
type AuthClient = auth_pb::query_client::QueryClient<Channel>;

fn code_of(st: &Status) -> (String, u32) {
    let cs = st
        .metadata()
        .get(CODESPACE_HEADER)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let code = st
        .metadata()
        .get(CODE_HEADER)
        .map(|v| v.to_str().unwrap().parse().unwrap())
        .unwrap_or(0);
    (cs, code)
}

/// What a wallet (CosmJS `simulate`) sends: the real key and sequence, SIGN_MODE_UNSPECIFIED,
/// an empty signature, no fee and no gas limit.
fn wallet_simulation_tx(from: &TestAccount, msgs: Vec<cosmrs::Any>, sequence: u64) -> Vec<u8> {
    use cosmrs::proto::cosmos::tx::v1beta1 as c;
    #[allow(deprecated)]
    let tx = c::Tx {
        body: Some(c::TxBody {
            messages: msgs,
            memo: String::new(),
            timeout_height: 0,
            extension_options: vec![],
            non_critical_extension_options: vec![],
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
    };
    tx.encode_to_vec()
}

async fn balance(bank: &mut BankClient, addr: &str, height: Option<u64>) -> u128 {
    let mut req = Request::new(bank_pb::QueryBalanceRequest {
        address: addr.into(),
        denom: "ubal".into(),
    });
    if let Some(h) = height {
        req.metadata_mut()
            .insert(BLOCK_HEIGHT_HEADER, h.to_string().parse().unwrap());
    }
    let resp = bank.balance(req).await.unwrap();
    let answered: u64 = resp
        .metadata()
        .get(BLOCK_HEIGHT_HEADER)
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    if let Some(h) = height {
        assert_eq!(answered, h);
    }
    resp.into_inner().balance.unwrap().amount.parse().unwrap()
}

async fn sequence(auth: &mut AuthClient, addr: &str) -> u64 {
    let any = auth
        .account(auth_pb::QueryAccountRequest {
            address: addr.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .account
        .unwrap();
    assert_eq!(any.type_url, "/cosmos.auth.v1beta1.BaseAccount");
    auth_pb::BaseAccount::decode(any.value.as_slice())
        .unwrap()
        .sequence
}

async fn simulate(tx: &mut TxClient, bytes: Vec<u8>) -> Result<tx_pb::SimulateResponse, Status> {
    tx.simulate(tx_pb::SimulateRequest {
        tx: None,
        tx_bytes: bytes,
    })
    .await
    .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_then_block_then_get_tx_and_simulation_matches_delivery() {
    let mut chain = GrpcChain::start(3, FUNDS).await;
    let ch = chain.server.channel().await;
    let mut txc = TxClient::new(ch.clone());
    let mut bank = BankClient::new(ch.clone());
    let mut auth = AuthClient::new(ch.clone());
    let accounts = std::mem::take(&mut chain.accounts);
    let (a, b, c) = (&accounts[0], &accounts[1], &accounts[2]);
    let (a_addr, b_addr) = (a.address.to_string(), b.address.to_string());

    // Simulate the signed tx: gas is reported, nothing changes (run it twice: same answer).
    let spec = TxSpec::send(a, &b.address, 1_000, 0);
    let signed = spec.sign(a);
    let sim = simulate(&mut txc, signed.clone()).await.unwrap();
    let sim_gas = sim.gas_info.unwrap();
    assert_eq!(sim_gas.gas_wanted, spec.gas_limit);
    let again = simulate(&mut txc, signed.clone()).await.unwrap();
    assert_eq!(again.gas_info.unwrap().gas_used, sim_gas.gas_used);
    let sim_events = sim.result.unwrap().events;
    assert!(
        sim_events.iter().any(|e| e.r#type == "transfer"),
        "{sim_events:?}"
    );
    assert_eq!(balance(&mut bank, &a_addr, None).await, FUNDS);
    assert_eq!(sequence(&mut auth, &a_addr).await, 0);

    // Broadcast (sync): CheckTx's answer, hash in upper-case hex.
    let resp = txc
        .broadcast_tx(tx_pb::BroadcastTxRequest {
            tx_bytes: signed.clone(),
            mode: tx_pb::BroadcastMode::Sync as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .tx_response
        .unwrap();
    let hash: [u8; 32] = Sha256::digest(&signed).into();
    assert_eq!(resp.txhash, hex::encode_upper(hash));
    assert_eq!((resp.code, resp.height), (0, 0), "{}", resp.raw_log);
    assert_eq!(resp.gas_wanted, 200_000);
    assert_eq!(chain.broadcaster.queued(), 1);

    // A wallet-style simulation (no signature, no fee, no gas) of c's first tx, on the state it
    // will meet in the block (after a's tx, which is in the mempool now).
    let wallet_sim = simulate(
        &mut txc,
        wallet_simulation_tx(c, vec![msg_send(&c.address, &b.address, "777")], 0),
    )
    .await
    .unwrap()
    .gas_info
    .unwrap();
    assert_eq!(wallet_sim.gas_wanted, 0);

    // The next sequence simulates against the mempool: n+1 passes, n is now wrong (32).
    let next = TxSpec::send(a, &b.address, 5, 1).sign(a);
    simulate(&mut txc, next).await.unwrap();
    let replay = simulate(&mut txc, signed.clone()).await.unwrap_err();
    assert_eq!(replay.code(), Code::FailedPrecondition);
    assert_eq!(code_of(&replay), ("sdk".into(), sdk::WRONG_SEQUENCE));
    assert!(replay
        .message()
        .contains("account sequence mismatch, expected 1, got 0"));

    // c's real tx goes in the same block.
    let c_spec = TxSpec::send(c, &b.address, 777, 0);
    let c_signed = c_spec.sign(c);
    let c_resp = txc
        .broadcast_tx(tx_pb::BroadcastTxRequest {
            tx_bytes: c_signed.clone(),
            mode: tx_pb::BroadcastMode::Async as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .tx_response
        .unwrap();
    let c_hash: [u8; 32] = Sha256::digest(&c_signed).into();
    assert_eq!(c_resp.txhash, hex::encode_upper(c_hash));

    let block = chain.produce_block();
    assert_eq!(block.txs, vec![signed.clone(), c_signed.clone()]);
    let result = &block.tx_results[0];
    assert_eq!(result.code, 0, "{}", result.log);

    // GetTx (lower-case hash accepted) returns the tx and its result.
    let got = txc
        .get_tx(tx_pb::GetTxRequest {
            hash: hex::encode(hash),
        })
        .await
        .unwrap()
        .into_inner();
    let tx = got.tx.unwrap();
    let body = tx.body.unwrap();
    assert_eq!(body.messages[0].type_url, "/cosmos.bank.v1beta1.MsgSend");
    let sent = bank_pb::MsgSend::decode(body.messages[0].value.as_slice()).unwrap();
    assert_eq!(
        (sent.from_address.as_str(), sent.amount[0].amount.as_str()),
        (a_addr.as_str(), "1000")
    );
    assert_eq!(tx.auth_info.unwrap().signer_infos[0].sequence, 0);
    let r = got.tx_response.unwrap();
    assert_eq!(r.height, block.height);
    assert_eq!(r.txhash, hex::encode_upper(hash));
    assert_eq!(
        (r.code, r.gas_used, r.gas_wanted),
        (0, result.gas_used, result.gas_wanted)
    );
    assert_eq!(r.tx.as_ref().unwrap().type_url, "/cosmos.tx.v1beta1.Tx");
    assert_eq!(r.tx.unwrap().value, signed);
    let expected_time = tendermint::Time::from_unix_timestamp(block.time.seconds, 0)
        .unwrap()
        .to_rfc3339();
    assert_eq!(r.timestamp, expected_time);
    let block_events: Vec<(String, Vec<(String, String)>)> = result
        .events
        .iter()
        .map(|e| {
            (
                e.r#type.clone(),
                e.attributes
                    .iter()
                    .map(|a| (a.key.clone(), a.value.clone()))
                    .collect(),
            )
        })
        .collect();
    let got_events: Vec<(String, Vec<(String, String)>)> = r
        .events
        .iter()
        .map(|e| {
            (
                e.r#type.clone(),
                e.attributes
                    .iter()
                    .map(|a| (a.key.clone(), a.value.clone()))
                    .collect(),
            )
        })
        .collect();
    assert!(!got_events.is_empty());
    assert_eq!(got_events, block_events);

    // Simulation of the signed tx used exactly what delivery used; the wallet-style one (which
    // had to guess the signature, fee and gas fields) is not below it and within 10%.
    let delivered = u64::try_from(result.gas_used).unwrap();
    assert_eq!(sim_gas.gas_used, delivered);
    let c_delivered = u64::try_from(block.tx_results[1].gas_used).unwrap();
    assert_eq!(block.tx_results[1].code, 0, "{}", block.tx_results[1].log);
    assert!(
        wallet_sim.gas_used >= c_delivered && wallet_sim.gas_used <= c_delivered + c_delivered / 10,
        "wallet estimate {} vs delivered {c_delivered}",
        wallet_sim.gas_used
    );

    // The state moved only by delivery.
    assert_eq!(
        balance(&mut bank, &a_addr, None).await,
        FUNDS - 1_000 - 5_000
    );
    assert_eq!(sequence(&mut auth, &a_addr).await, 1);
    assert_eq!(balance(&mut bank, &b_addr, None).await, FUNDS + 1_000 + 777);

    // BLOCK mode waits for the block and reports its height, events and time.
    let third = TxSpec::send(a, &b.address, 3, 1).sign(a);
    let mut txc2 = txc.clone();
    let third2 = third.clone();
    let pending = tokio::spawn(async move {
        txc2.broadcast_tx(tx_pb::BroadcastTxRequest {
            tx_bytes: third2,
            mode: tx_pb::BroadcastMode::Block as i32,
        })
        .await
    });
    for _ in 0..500 {
        if chain.broadcaster.queued() > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let block3 = chain.produce_block();
    assert_eq!(block3.txs, vec![third]);
    let committed = pending
        .await
        .unwrap()
        .unwrap()
        .into_inner()
        .tx_response
        .unwrap();
    assert_eq!((committed.code, committed.height), (0, block3.height));
    assert!(!committed.events.is_empty());
    assert!(!committed.timestamp.is_empty());

    chain.server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulation_reports_cosmos_codes_and_changes_nothing() {
    let chain = GrpcChain::start(2, 100_000).await;
    let ch = chain.server.channel().await;
    let mut txc = TxClient::new(ch.clone());
    let (a, b) = (&chain.accounts[0], &chain.accounts[1]);
    let root_before = chain.app.info().last_block_app_hash;

    // Sending more than the balance: the message fails with sdk 5.
    let too_much = TxSpec::send(a, &b.address, 1_000_000, 0).sign(a);
    let st = simulate(&mut txc, too_much.clone()).await.unwrap_err();
    assert_eq!(st.code(), Code::FailedPrecondition, "{st:?}");
    assert_eq!(code_of(&st), ("sdk".into(), sdk::INSUFFICIENT_FUNDS));

    // A fee above the balance fails in the ante step, also sdk 5.
    let mut rich_fee = TxSpec::send(a, &b.address, 1, 0);
    rich_fee.fee = 200_000;
    let st = simulate(&mut txc, rich_fee.sign(a)).await.unwrap_err();
    assert_eq!(code_of(&st), ("sdk".into(), sdk::INSUFFICIENT_FUNDS));

    // A future sequence: sdk 32.
    let st = simulate(&mut txc, TxSpec::send(a, &b.address, 1, 7).sign(a))
        .await
        .unwrap_err();
    assert_eq!(code_of(&st), ("sdk".into(), sdk::WRONG_SEQUENCE));
    assert!(
        st.message().contains("expected 0, got 7"),
        "{}",
        st.message()
    );

    // An unfunded signer: sdk 9, NOT_FOUND.
    let stranger = TestAccount::new(99, 0);
    let st = simulate(
        &mut txc,
        wallet_simulation_tx(
            &stranger,
            vec![msg_send(&stranger.address, &b.address, "1")],
            0,
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(st.code(), Code::NotFound);
    assert_eq!(code_of(&st), ("sdk".into(), sdk::UNKNOWN_ADDRESS));

    // Garbage: sdk 2, INVALID_ARGUMENT; nothing at all: INVALID_ARGUMENT.
    let st = simulate(&mut txc, vec![0xde, 0xad, 0xbe, 0xef])
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    assert_eq!(code_of(&st), ("sdk".into(), sdk::TX_DECODE));
    let st = simulate(&mut txc, vec![]).await.unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);

    // The deprecated `tx` field works when tx_bytes is empty.
    let ok = TxSpec::send(a, &b.address, 10, 0).sign(a);
    let as_tx = tx_pb::Tx::decode(ok.as_slice()).unwrap();
    let via_tx = txc
        .simulate(tx_pb::SimulateRequest {
            tx: Some(as_tx),
            tx_bytes: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    let via_bytes = simulate(&mut txc, ok.clone()).await.unwrap();
    assert_eq!(via_tx.gas_info, via_bytes.gas_info);

    // None of it touched the state or the mempool: the same tx still checks with sequence 0.
    assert_eq!(chain.app.info().last_block_app_hash, root_before);
    let check = chain.app.check_tx(pb::RequestCheckTx {
        tx: ok.into(),
        r#type: pb::CheckTxType::New as i32,
    });
    assert_eq!(check.unwrap().code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_answer_like_abci_and_at_a_given_height() {
    let mut chain = GrpcChain::start(2, FUNDS).await;
    let ch = chain.server.channel().await;
    let mut bank = BankClient::new(ch.clone());
    let mut auth = AuthClient::new(ch.clone());
    let mut acc = accounts_pb::query_client::QueryClient::new(ch.clone());
    let (a, b) = (&chain.accounts[0], &chain.accounts[1]);
    let a_addr = a.address.to_string();
    let h1 = chain.app.info().last_block_height as u64;

    let block = chain
        .consensus
        .produce_block(
            &mut [&mut chain.node],
            vec![TxSpec::send(a, &b.address, 123, 0).sign(a)],
        )
        .unwrap()
        .0;
    assert_eq!(block.tx_results[0].code, 0);

    // Latest vs. the height before the transfer.
    assert_eq!(balance(&mut bank, &a_addr, None).await, FUNDS - 123 - 5_000);
    assert_eq!(balance(&mut bank, &a_addr, Some(h1)).await, FUNDS);

    // Every answer is byte-for-byte the ABCI query's.
    let abci = |path: &str, data: Vec<u8>| {
        let r = chain.app.query(pb::RequestQuery {
            data: data.into(),
            path: path.into(),
            height: 0,
            prove: false,
        });
        assert_eq!(r.code, 0, "{path}: {}", r.log);
        r.value.to_vec()
    };
    let all = bank
        .all_balances(bank_pb::QueryAllBalancesRequest {
            address: a_addr.clone(),
            pagination: None,
            resolve_denom: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.balances.len(), 1);
    assert_eq!(
        all.encode_to_vec(),
        abci(
            "/cosmos.bank.v1beta1.Query/AllBalances",
            bank_pb::QueryAllBalancesRequest {
                address: a_addr.clone(),
                pagination: None,
                resolve_denom: false
            }
            .encode_to_vec()
        )
    );
    let supply = bank
        .supply_of(bank_pb::QuerySupplyOfRequest {
            denom: "ubal".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        supply.amount.as_ref().unwrap().amount,
        (2 * FUNDS).to_string()
    );
    let account = auth
        .account(auth_pb::QueryAccountRequest {
            address: a_addr.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        account.encode_to_vec(),
        abci(
            "/cosmos.auth.v1beta1.Query/Account",
            auth_pb::QueryAccountRequest {
                address: a_addr.clone()
            }
            .encode_to_vec()
        )
    );
    let base = auth_pb::BaseAccount::decode(account.account.unwrap().value.as_slice()).unwrap();
    assert_eq!((base.account_number, base.sequence), (a.account_number, 1));
    assert_eq!(
        base.pub_key.unwrap().type_url,
        "/cosmos.crypto.secp256k1.PubKey"
    );

    let params = acc
        .params(accounts_pb::QueryParamsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        params.encode_to_vec(),
        abci("/ballast.accounts.v1.Query/Params", vec![])
    );
    assert_eq!(params.params.unwrap().fee_denom, "ubal");
    let s = acc
        .supply(accounts_pb::QuerySupplyRequest {
            denom: "ubal".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.amount, (2 * FUNDS).to_string());

    // Bad requests.
    let st = bank
        .balance(bank_pb::QueryBalanceRequest {
            address: "cosmos1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnrql8a".into(),
            denom: "ubal".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument, "{st:?}");
    assert_eq!(code_of(&st), ("sdk".into(), sdk::INVALID_ADDRESS));
    let st = bank
        .balance(bank_pb::QueryBalanceRequest {
            address: "not an address".into(),
            denom: "ubal".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    let st = bank
        .balance(bank_pb::QueryBalanceRequest {
            address: a_addr.clone(),
            denom: "!".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    let st = acc
        .supply(accounts_pb::QuerySupplyRequest { denom: "".into() })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    let st = auth
        .account(auth_pb::QueryAccountRequest {
            address: TestAccount::new(77, 0).address.to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::NotFound, "{st:?}");
    assert!(
        st.message().starts_with("account ballast1"),
        "{}",
        st.message()
    );
    for bad_height in ["abc".to_string(), "-3".into(), (h1 + 100).to_string()] {
        let mut req = Request::new(bank_pb::QueryBalanceRequest {
            address: a_addr.clone(),
            denom: "ubal".into(),
        });
        req.metadata_mut()
            .insert(BLOCK_HEIGHT_HEADER, bad_height.parse().unwrap());
        let st = bank.balance(req).await.unwrap_err();
        assert_eq!(st.code(), Code::InvalidArgument, "{bad_height}: {st:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_service_rejects_bad_input_with_the_right_codes() {
    let chain = GrpcChain::start(1, FUNDS).await;
    let mut txc = TxClient::new(chain.server.channel().await);

    for bad in ["", "xyz", &hex::encode([1u8; 31]), &hex::encode([1u8; 33])] {
        let st = txc
            .get_tx(tx_pb::GetTxRequest { hash: bad.into() })
            .await
            .unwrap_err();
        assert_eq!(st.code(), Code::InvalidArgument, "{bad:?}");
    }
    let st = txc
        .get_tx(tx_pb::GetTxRequest {
            hash: hex::encode([7u8; 32]),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::NotFound);

    let st = txc
        .broadcast_tx(tx_pb::BroadcastTxRequest {
            tx_bytes: vec![],
            mode: tx_pb::BroadcastMode::Sync as i32,
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    for mode in [0, 9] {
        let st = txc
            .broadcast_tx(tx_pb::BroadcastTxRequest {
                tx_bytes: vec![1, 2, 3],
                mode,
            })
            .await
            .unwrap_err();
        assert_eq!(st.code(), Code::InvalidArgument, "mode {mode}");
    }
    // A tx that CheckTx rejects is an answer with its code, as Cosmos nodes give it.
    let garbage = txc
        .broadcast_tx(tx_pb::BroadcastTxRequest {
            tx_bytes: vec![0xde, 0xad],
            mode: tx_pb::BroadcastMode::Sync as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .tx_response
        .unwrap();
    assert_eq!(
        (garbage.codespace.as_str(), garbage.code),
        ("sdk", sdk::TX_DECODE)
    );
    assert_eq!(chain.broadcaster.queued(), 0);

    let st = txc
        .tx_decode(tx_pb::TxDecodeRequest {
            tx_bytes: vec![0xff; 5],
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    let a = &chain.accounts[0];
    let signed = TxSpec::send(a, &a.address, 1, 0).sign(a);
    let decoded = txc
        .tx_decode(tx_pb::TxDecodeRequest {
            tx_bytes: signed.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .tx;
    let encoded = txc
        .tx_encode(tx_pb::TxEncodeRequest { tx: decoded })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(encoded.tx_bytes, signed);

    let st = txc
        .get_txs_event(tx_pb::GetTxsEventRequest::default())
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::Unimplemented);
    let st = txc
        .tx_encode_amino(tx_pb::TxEncodeAminoRequest::default())
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::Unimplemented);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_serving_for_every_service() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let chain = GrpcChain::start(1, FUNDS).await;
    let mut health = HealthClient::new(chain.server.channel().await);
    for service in std::iter::once(&"").chain(SERVICES) {
        let r = health
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, ServingStatus::Serving as i32, "{service:?}");
    }
    let st = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::NotFound);
}

/// Every fully qualified message and enum name in `files`.
fn known_types(files: &BTreeMap<String, prost_types::FileDescriptorProto>) -> BTreeSet<String> {
    fn walk(prefix: &str, m: &prost_types::DescriptorProto, out: &mut BTreeSet<String>) {
        let name = format!("{prefix}.{}", m.name());
        for n in &m.nested_type {
            walk(&name, n, out);
        }
        for e in &m.enum_type {
            out.insert(format!("{name}.{}", e.name()));
        }
        out.insert(name);
    }
    let mut out = BTreeSet::new();
    for f in files.values() {
        let prefix = format!(".{}", f.package());
        for m in &f.message_type {
            walk(&prefix, m, &mut out);
        }
        for e in &f.enum_type {
            out.insert(format!("{prefix}.{}", e.name()));
        }
    }
    out
}

/// Checks that `files` (a service's file and everything it imports) hold the service and every
/// type that any of their messages and methods name.
fn assert_complete(service: &str, files: &BTreeMap<String, prost_types::FileDescriptorProto>) {
    let types = known_types(files);
    let (package, name) = service.rsplit_once('.').unwrap();
    let svc = files
        .values()
        .filter(|f| f.package() == package)
        .flat_map(|f| f.service.iter())
        .find(|s| s.name() == name)
        .unwrap_or_else(|| panic!("{service} is in none of its files"));
    assert!(!svc.method.is_empty());
    for m in &svc.method {
        assert!(
            types.contains(m.input_type()),
            "{service}: {}",
            m.input_type()
        );
        assert!(
            types.contains(m.output_type()),
            "{service}: {}",
            m.output_type()
        );
    }
    fn fields(prefix: &str, m: &prost_types::DescriptorProto, types: &BTreeSet<String>) {
        for f in &m.field {
            if !f.type_name().is_empty() {
                assert!(
                    types.contains(f.type_name()),
                    "{prefix}.{}: {}",
                    m.name(),
                    f.type_name()
                );
            }
        }
        for n in &m.nested_type {
            fields(&format!("{prefix}.{}", m.name()), n, types);
        }
    }
    for f in files.values() {
        for d in &f.dependency {
            assert!(
                files.contains_key(d),
                "{} imports {d}, which reflection did not give",
                f.name()
            );
        }
        for m in &f.message_type {
            fields(f.package(), m, &types);
        }
    }
}

macro_rules! reflection_check {
    ($version:ident) => {{
        use tonic_reflection::pb::$version::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;
        use tonic_reflection::pb::$version::ServerReflectionRequest;

        async fn try_ask(ch: &Channel, req: MessageRequest) -> Result<MessageResponse, Status> {
            let mut client = ServerReflectionClient::new(ch.clone());
            let stream = tonic::codegen::tokio_stream::iter(vec![ServerReflectionRequest {
                host: String::new(),
                message_request: Some(req),
            }]);
            let mut answers = client.server_reflection_info(stream).await?.into_inner();
            let answer = answers.message().await?.expect("one answer per request");
            Ok(answer.message_response.expect("answers carry a response"))
        }

        async fn ask(ch: &Channel, req: MessageRequest) -> MessageResponse {
            try_ask(ch, req).await.unwrap()
        }

        async fn files(ch: &Channel, req: MessageRequest) -> Vec<prost_types::FileDescriptorProto> {
            match ask(ch, req).await {
                MessageResponse::FileDescriptorResponse(r) => r
                    .file_descriptor_proto
                    .iter()
                    .map(|b| prost_types::FileDescriptorProto::decode(b.as_slice()).unwrap())
                    .collect(),
                other => panic!("expected file descriptors, got {other:?}"),
            }
        }

        async fn run(ch: &Channel) {
            let listed: BTreeSet<String> =
                match ask(ch, MessageRequest::ListServices(String::new())).await {
                    MessageResponse::ListServicesResponse(r) => {
                        r.service.into_iter().map(|s| s.name).collect()
                    }
                    other => panic!("expected a service list, got {other:?}"),
                };
            for s in SERVICES.iter().chain(&[
                "grpc.health.v1.Health",
                "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection",
            ]) {
                assert!(listed.contains(*s), "{s} is not listed: {listed:?}");
            }
            for service in SERVICES {
                let mut all = BTreeMap::new();
                let mut todo: Vec<prost_types::FileDescriptorProto> = files(
                    ch,
                    MessageRequest::FileContainingSymbol(service.to_string()),
                )
                .await;
                while let Some(f) = todo.pop() {
                    for d in &f.dependency {
                        if !all.contains_key(d) && !todo.iter().any(|t| t.name() == d.as_str()) {
                            todo.extend(files(ch, MessageRequest::FileByFilename(d.clone())).await);
                        }
                    }
                    all.insert(f.name().to_string(), f);
                }
                assert_complete(service, &all);
            }
            // Types named by their symbol resolve too (grpcurl does this to decode Anys).
            for symbol in [
                "cosmos.auth.v1beta1.BaseAccount",
                "cosmos.bank.v1beta1.MsgSend",
                "cosmos.crypto.secp256k1.PubKey",
                "cosmos.tx.v1beta1.Tx",
            ] {
                let fs = files(ch, MessageRequest::FileContainingSymbol(symbol.into())).await;
                assert!(!fs.is_empty(), "{symbol}");
            }
            // An unknown symbol is NOT_FOUND (as a status or as an error response).
            match try_ask(
                ch,
                MessageRequest::FileContainingSymbol("no.such.Symbol".into()),
            )
            .await
            {
                Err(st) => assert_eq!(st.code(), Code::NotFound),
                Ok(MessageResponse::ErrorResponse(e)) => {
                    assert_eq!(e.error_code, Code::NotFound as i32)
                }
                Ok(other) => panic!("expected an error, got {other:?}"),
            }
        }
        run
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_every_service_and_resolves_every_type() {
    let chain = GrpcChain::start(1, FUNDS).await;
    let ch = chain.server.channel().await;
    let v1 = reflection_check!(v1);
    v1(&ch).await;
    let v1alpha = reflection_check!(v1alpha);
    v1alpha(&ch).await;

    // Tonic answers UNIMPLEMENTED for a method the service does not define (GetBlockWithTxs).
    let mut grpc = tonic::client::Grpc::new(ch.clone());
    grpc.ready().await.unwrap();
    let st = grpc
        .unary::<_, tx_pb::GetTxResponse, _>(
            Request::new(tx_pb::GetTxRequest::default()),
            "/cosmos.tx.v1beta1.Service/GetBlockWithTxs"
                .parse()
                .unwrap(),
            tonic::codec::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::Unimplemented);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stops_on_shutdown() {
    let chain = GrpcChain::start(1, FUNDS).await;
    let addr = chain.server.addr;
    chain.server.stop().await.unwrap();
    assert!(Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .is_err());
}
