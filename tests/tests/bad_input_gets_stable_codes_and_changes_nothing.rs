//! Bad input: garbage bytes, a truncated TxRaw, a wrong chain id, a bad signature, a replayed
//! sequence, an insufficient fee, an oversized tx, an unknown message type, an overflowing
//! amount, and more. Each gets its stable (codespace, code) in CheckTx and in FinalizeBlock,
//! none changes state, and none panics the node.

use ballast_app::{App, AppConfig};
use ballast_framework::sdk;
use ballast_tests::consensus::MockConsensus;
use ballast_tests::driver::{Abci, InProcess};
use ballast_tests::keys::{msg_send, TestAccount, TxSpec};
use ballast_tests::{genesis_app_state, CHAIN_ID};
use cosmrs::Any;
use prost::Message;
use tendermint_proto::v0_38::abci as pb;

struct Case {
    name: &'static str,
    tx: Vec<u8>,
    codespace: &'static str,
    code: u32,
}

/// Every bad tx, built against `accounts` after one valid tx of account 0 was committed with
/// sequence 0 (`committed` is that tx's bytes).
fn cases(accounts: &[TestAccount], committed: &[u8]) -> Vec<Case> {
    let a = &accounts[0];
    let b = &accounts[1];
    let good = |seq| TxSpec::send(a, &b.address, 10, seq);
    let valid = good(1).sign(a);

    let mut wrong_chain = good(1);
    wrong_chain.chain_id = "other-chain-1".into();
    let mut bad_sig = cosmrs::proto::cosmos::tx::v1beta1::TxRaw::decode(valid.as_slice()).unwrap();
    bad_sig.signatures[0][10] ^= 0x01;
    let mut wrong_account_number = good(1);
    wrong_account_number.account_number = 99;
    let mut cheap = good(1);
    cheap.fee = 1;
    let mut zero_gas = good(1);
    zero_gas.gas_limit = 0;
    let mut huge_gas = good(1);
    huge_gas.gas_limit = u64::MAX;
    let mut oversized = good(1);
    oversized.msgs.push(Any {
        type_url: "/cosmos.bank.v1beta1.MsgSend".into(),
        value: vec![0u8; 300_000],
    });
    let mut long_memo = good(1);
    long_memo.memo = "m".repeat(257);
    let mut unknown = good(1);
    unknown.msgs = vec![Any {
        type_url: "/cosmos.staking.v1beta1.MsgDelegate".into(),
        value: vec![],
    }];
    let mut overflow = good(1);
    overflow.msgs = vec![msg_send(
        &a.address,
        &b.address,
        "340282366920938463463374607431768211456",
    )];
    let mut negative = good(1);
    negative.msgs = vec![msg_send(&a.address, &b.address, "-5")];
    let mut not_signer = good(0);
    not_signer.msgs = vec![msg_send(&b.address, &a.address, "1")]; // b's funds, signed by a
    let mut timed_out = good(1);
    timed_out.timeout_height = 1;
    let mut no_pubkey_new_account = TxSpec::send(&accounts[2], &b.address, 1, 0);
    no_pubkey_new_account.include_pubkey = false;
    let mut future_seq = good(5);
    future_seq.fee = 5_000;

    vec![
        Case {
            name: "garbage bytes",
            tx: vec![0xde, 0xad, 0xbe, 0xef, 0x01],
            codespace: "sdk",
            code: sdk::TX_DECODE,
        },
        Case {
            name: "empty tx",
            tx: vec![],
            codespace: "sdk",
            code: sdk::TX_DECODE,
        },
        Case {
            // Kind 0x7f belongs to no consensus hook (kind 1, the checkpoint, is checked by
            // its hook and tested with the checkpoints).
            name: "injected-tx prefix",
            tx: vec![0x00, 0x7f, 0x02],
            codespace: "sdk",
            code: sdk::TX_DECODE,
        },
        Case {
            name: "truncated TxRaw",
            tx: valid[..valid.len() / 2].to_vec(),
            codespace: "sdk",
            code: sdk::TX_DECODE,
        },
        Case {
            name: "wrong chain id",
            tx: wrong_chain.sign(a),
            codespace: "sdk",
            code: sdk::UNAUTHORIZED,
        },
        Case {
            name: "bad signature",
            tx: bad_sig.encode_to_vec(),
            codespace: "sdk",
            code: sdk::UNAUTHORIZED,
        },
        Case {
            name: "wrong account number",
            tx: wrong_account_number.sign(a),
            codespace: "sdk",
            code: sdk::UNAUTHORIZED,
        },
        Case {
            name: "replayed sequence",
            tx: committed.to_vec(),
            codespace: "sdk",
            code: sdk::WRONG_SEQUENCE,
        },
        Case {
            name: "future sequence",
            tx: future_seq.sign(a),
            codespace: "sdk",
            code: sdk::WRONG_SEQUENCE,
        },
        Case {
            name: "insufficient fee",
            tx: cheap.sign(a),
            codespace: "sdk",
            code: sdk::INSUFFICIENT_FEE,
        },
        Case {
            name: "zero gas limit",
            tx: zero_gas.sign(a),
            codespace: "sdk",
            code: sdk::INVALID_GAS_LIMIT,
        },
        Case {
            name: "gas limit over the maximum",
            tx: huge_gas.sign(a),
            codespace: "sdk",
            code: sdk::INVALID_GAS_LIMIT,
        },
        Case {
            name: "oversized tx",
            tx: oversized.sign(a),
            codespace: "sdk",
            code: sdk::TX_TOO_LARGE,
        },
        Case {
            name: "memo too long",
            tx: long_memo.sign(a),
            codespace: "sdk",
            code: sdk::MEMO_TOO_LARGE,
        },
        Case {
            name: "unknown message type",
            tx: unknown.sign(a),
            codespace: "sdk",
            code: sdk::UNKNOWN_REQUEST,
        },
        Case {
            name: "overflowing amount",
            tx: overflow.sign(a),
            codespace: "sdk",
            code: sdk::INVALID_COINS,
        },
        Case {
            name: "negative amount",
            tx: negative.sign(a),
            codespace: "sdk",
            code: sdk::INVALID_COINS,
        },
        Case {
            name: "message signer differs from tx signer",
            tx: not_signer.sign(a),
            codespace: "sdk",
            code: sdk::INVALID_PUBKEY,
        },
        Case {
            name: "timeout height passed",
            tx: timed_out.sign(a),
            codespace: "sdk",
            code: sdk::TX_TIMEOUT_HEIGHT,
        },
        Case {
            name: "first tx without a public key",
            tx: no_pubkey_new_account.sign(&accounts[2]),
            codespace: "sdk",
            code: sdk::INVALID_PUBKEY,
        },
    ]
}

fn setup(dir: &std::path::Path, accounts: &[TestAccount]) -> (MockConsensus, InProcess, Vec<u8>) {
    let mut cons = MockConsensus::new(CHAIN_ID, 1, genesis_app_state(accounts, 1_000_000));
    let mut node = InProcess(App::open(AppConfig::new(dir)).unwrap());
    cons.handshake(&mut node).unwrap();
    let first = TxSpec::send(&accounts[0], &accounts[1].address, 10, 0).sign(&accounts[0]);
    let (b, _) = cons
        .produce_block(&mut [&mut node], vec![first.clone()])
        .unwrap();
    assert_eq!(b.tx_results[0].code, 0, "{}", b.tx_results[0].log);
    (cons, node, first)
}

#[test]
fn check_tx_rejects_each_bad_tx_with_its_code_and_the_mempool_state_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = TestAccount::many(3);
    let (_cons, mut node, committed) = setup(dir.path(), &accounts);
    for c in cases(&accounts, &committed) {
        let r = node
            .check_tx(pb::RequestCheckTx {
                tx: c.tx.clone().into(),
                r#type: 0,
            })
            .unwrap();
        assert_eq!(
            (r.codespace.as_str(), r.code),
            (c.codespace, c.code),
            "{}: {}",
            c.name,
            r.log
        );
        assert!(!r.log.is_empty(), "{} has no log", c.name);
    }
    // None of them advanced the mempool's sequence: sequence 1 is still the next one.
    let next = TxSpec::send(&accounts[0], &accounts[1].address, 10, 1).sign(&accounts[0]);
    let r = node
        .check_tx(pb::RequestCheckTx {
            tx: next.into(),
            r#type: 0,
        })
        .unwrap();
    assert_eq!(r.code, 0, "{}", r.log);
}

#[test]
fn a_block_of_bad_txs_gets_each_code_and_leaves_the_same_root_as_an_empty_block() {
    let accounts = TestAccount::many(3);
    let dir_bad = tempfile::tempdir().unwrap();
    let dir_empty = tempfile::tempdir().unwrap();
    let (_, bad_node, committed) = setup(dir_bad.path(), &accounts);
    let (_, empty_node, _) = setup(dir_empty.path(), &accounts);
    let cases = cases(&accounts, &committed);
    let request = |txs: Vec<Vec<u8>>| pb::RequestFinalizeBlock {
        txs: txs.into_iter().map(Into::into).collect(),
        hash: vec![9u8; 32].into(),
        height: 2,
        time: Some(tendermint_proto::google::protobuf::Timestamp {
            seconds: 1_700_000_010,
            nanos: 0,
        }),
        proposer_address: vec![1u8; 20].into(),
        ..Default::default()
    };
    let bad_app = bad_node.0.clone();
    // ProcessProposal refuses a proposal that carries undecodable txs ...
    let proposal = pb::RequestProcessProposal {
        txs: vec![vec![0xde, 0xad].into()],
        hash: vec![9u8; 32].into(),
        height: 2,
        proposer_address: vec![1u8; 20].into(),
        ..Default::default()
    };
    assert!(!bad_app.process_proposal(proposal).unwrap());
    // ... and PrepareProposal drops them from the mempool list, keeping a valid one.
    let valid = TxSpec::send(&accounts[0], &accounts[1].address, 10, 1).sign(&accounts[0]);
    let prep = bad_app
        .prepare_proposal(pb::RequestPrepareProposal {
            max_tx_bytes: 1 << 20,
            txs: vec![
                vec![0xde, 0xad].into(),
                vec![0x00, 0x05].into(),
                valid.clone().into(),
            ],
            height: 2,
            proposer_address: vec![1u8; 20].into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(prep.txs, vec![prost::bytes::Bytes::from(valid)]);

    // A decided block carrying them anyway (CometBFT replays what was decided) fails each one
    // with its code and writes nothing.
    let resp = bad_app
        .finalize_block(request(cases.iter().map(|c| c.tx.clone()).collect()))
        .unwrap();
    for (c, r) in cases.iter().zip(&resp.tx_results) {
        assert_eq!(
            (r.codespace.as_str(), r.code),
            (c.codespace, c.code),
            "{}: {}",
            c.name,
            r.log
        );
        assert!(r.events.is_empty(), "{} emitted events", c.name);
    }
    bad_app.commit().unwrap();
    let empty = empty_node.0.finalize_block(request(vec![])).unwrap();
    empty_node.0.commit().unwrap();
    assert_eq!(resp.app_hash, empty.app_hash, "bad txs changed the state");
}

#[test]
fn a_send_of_more_than_the_balance_pays_the_fee_and_moves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = TestAccount::many(3);
    let (mut cons, mut node, _) = setup(dir.path(), &accounts);
    let too_much =
        TxSpec::send(&accounts[0], &accounts[1].address, 10_000_000, 1).sign(&accounts[0]);
    let (b, _) = cons
        .produce_block(&mut [&mut node], vec![too_much])
        .unwrap();
    let r = &b.tx_results[0];
    assert_eq!(
        (r.codespace.as_str(), r.code),
        ("sdk", sdk::INSUFFICIENT_FUNDS),
        "{}",
        r.log
    );
    assert!(r.gas_used > 0 && r.gas_used <= r.gas_wanted);
    // The fee event is kept, the transfer events are not.
    assert!(r.events.iter().any(|e| e.r#type == "tx"));
    assert!(!r.events.iter().any(|e| e.r#type == "transfer"));
    // Sequence advanced (the same tx is now a replay) and two fees were paid in total.
    let again = TxSpec::send(&accounts[0], &accounts[1].address, 1, 1).sign(&accounts[0]);
    let c = node
        .check_tx(pb::RequestCheckTx {
            tx: again.into(),
            r#type: 0,
        })
        .unwrap();
    assert_eq!(c.code, sdk::WRONG_SEQUENCE);
    let snap = node.0.storage().latest_snapshot().unwrap().unwrap();
    use ballast_accounts::AccountsRead;
    assert_eq!(
        snap.balance(&accounts[0].address, "ubal").unwrap(),
        1_000_000 - 10 - 2 * 5_000
    );
    assert_eq!(
        snap.balance(&accounts[1].address, "ubal").unwrap(),
        1_000_000 + 10
    );
}

#[test]
fn out_of_gas_keeps_the_fee_and_drops_the_writes() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = TestAccount::many(3);
    let (mut cons, mut node, _) = setup(dir.path(), &accounts);
    // CheckTx runs only the ante step, so its gas_used is what ante costs. A limit just above
    // that passes ante (fee taken, sequence bumped) and runs out inside the transfer.
    let probe = TxSpec::send(&accounts[0], &accounts[1].address, 7, 1);
    let ante_gas = {
        let dir2 = tempfile::tempdir().unwrap();
        let (_c, mut n2, _) = setup(dir2.path(), &accounts);
        let r = n2
            .check_tx(pb::RequestCheckTx {
                tx: probe.sign(&accounts[0]).into(),
                r#type: 0,
            })
            .unwrap();
        assert_eq!(r.code, 0, "{}", r.log);
        r.gas_used as u64
    };
    let mut spec = probe.clone();
    spec.gas_limit = ante_gas + 500;
    spec.fee = 5_000;
    let (b, _) = cons
        .produce_block(&mut [&mut node], vec![spec.sign(&accounts[0])])
        .unwrap();
    let r = &b.tx_results[0];
    assert_eq!(
        (r.codespace.as_str(), r.code),
        ("sdk", sdk::OUT_OF_GAS),
        "{}",
        r.log
    );
    assert_eq!(r.gas_wanted as u64, spec.gas_limit);
    assert!(
        r.gas_used as u64 > spec.gas_limit,
        "gas_used reports what the tx tried to use"
    );
    let snap = node.0.storage().latest_snapshot().unwrap().unwrap();
    use ballast_accounts::AccountsRead;
    assert_eq!(
        snap.balance(&accounts[1].address, "ubal").unwrap(),
        1_000_000 + 10,
        "the transfer was dropped"
    );
    assert_eq!(
        snap.balance(&accounts[0].address, "ubal").unwrap(),
        1_000_000 - 10 - 5_000 - 5_000,
        "the fee was kept"
    );
    assert_eq!(
        snap.account(&accounts[0].address)
            .unwrap()
            .unwrap()
            .sequence,
        2
    );
}

#[test]
fn queries_with_bad_input_get_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = TestAccount::many(2);
    let (_cons, mut node, _) = setup(dir.path(), &accounts);
    let q = |path: &str, data: Vec<u8>, height: i64, prove: bool| pb::RequestQuery {
        data: data.into(),
        path: path.into(),
        height,
        prove,
    };
    for (req, code) in [
        (
            q(
                "/cosmos.bank.v1beta1.Query/Balance",
                vec![0xff, 0xff],
                0,
                false,
            ),
            sdk::INVALID_REQUEST,
        ),
        (
            q(
                "/cosmos.bank.v1beta1.Query/Balance",
                b"\x0a\x03abc".to_vec(),
                0,
                false,
            ),
            sdk::INVALID_ADDRESS,
        ),
        (q("/nope", vec![], 0, false), sdk::UNKNOWN_REQUEST),
        (
            q("/store/accounts/key", b"accounts/x".to_vec(), 99, true),
            sdk::INVALID_REQUEST,
        ),
        (
            q("/store/accounts/key", b"other/x".to_vec(), 0, false),
            sdk::INVALID_REQUEST,
        ),
        (
            q("/store/nomodule/key", b"x".to_vec(), 0, false),
            sdk::UNKNOWN_REQUEST,
        ),
        (
            q("/store/accounts/key", vec![], 0, true),
            sdk::INVALID_REQUEST,
        ),
        (
            q("/cosmos.bank.v1beta1.Query/Balance", vec![], -1, false),
            sdk::INVALID_REQUEST,
        ),
    ] {
        let path = req.path.clone();
        let r = node.query(req).unwrap();
        assert_eq!(r.code, code, "{path}: {}", r.log);
    }
    // An account that does not exist is reported the way Cosmos wallets expect.
    let req = cosmrs::proto::cosmos::auth::v1beta1::QueryAccountRequest {
        address: ballast_framework::Address([5; 20]).to_string(),
    };
    let r = node
        .query(q(
            "/cosmos.auth.v1beta1.Query/Account",
            req.encode_to_vec(),
            0,
            false,
        ))
        .unwrap();
    assert_ne!(r.code, 0);
    assert!(r.log.contains("NotFound"), "{}", r.log);
}

#[test]
fn malformed_consensus_requests_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(AppConfig::new(dir.path())).unwrap();
    // Before InitChain.
    assert!(app
        .finalize_block(pb::RequestFinalizeBlock {
            height: 1,
            ..Default::default()
        })
        .is_err());
    assert!(app.commit().is_err());
    // Bad genesis documents.
    for state in [
        &b"not json"[..],
        b"[1,2]",
        br#"{"unknown": {}}"#,
        br#"{"accounts": {"accounts": [{"address": "x"}]}}"#,
        br#"{"app": {"epoch_length": 0}}"#,
    ] {
        let r = app.init_chain(pb::RequestInitChain {
            chain_id: CHAIN_ID.into(),
            app_state_bytes: state.to_vec().into(),
            initial_height: 1,
            ..Default::default()
        });
        assert!(r.is_err(), "{}", String::from_utf8_lossy(state));
    }
    app.init_chain(pb::RequestInitChain {
        chain_id: CHAIN_ID.into(),
        initial_height: 1,
        ..Default::default()
    })
    .unwrap();
    // Wrong height, short hashes and addresses.
    assert!(app
        .finalize_block(pb::RequestFinalizeBlock {
            height: 3,
            hash: vec![0; 32].into(),
            ..Default::default()
        })
        .is_err());
    assert!(app
        .finalize_block(pb::RequestFinalizeBlock {
            height: 1,
            hash: vec![0; 5].into(),
            ..Default::default()
        })
        .is_err());
    assert!(!app
        .verify_vote_extension(pb::RequestVerifyVoteExtension {
            height: 1,
            hash: vec![0; 32].into(),
            validator_address: vec![1; 3].into(),
            vote_extension: vec![].into()
        })
        .unwrap());
    assert!(!app
        .verify_vote_extension(pb::RequestVerifyVoteExtension {
            height: 1,
            hash: vec![0; 32].into(),
            validator_address: vec![1; 20].into(),
            vote_extension: vec![7, 0, 0].into()
        })
        .unwrap());
    // The chain still works after all of that.
    let r = app
        .finalize_block(pb::RequestFinalizeBlock {
            height: 1,
            hash: vec![0; 32].into(),
            proposer_address: vec![0; 20].into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(r.app_hash.len(), 32);
    app.commit().unwrap();
    // InitChain again on a chain with a committed block is refused.
    assert!(app
        .init_chain(pb::RequestInitChain {
            chain_id: CHAIN_ID.into(),
            initial_height: 1,
            ..Default::default()
        })
        .is_err());
}
