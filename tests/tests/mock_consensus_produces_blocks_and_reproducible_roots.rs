//! Several nodes driven through CometBFT's exact call sequence for many blocks with many signed
//! txs: every node agrees, balances match a model, proofs verify against the app hash, and a
//! second independent run reproduces every app hash.

use ballast_app::{App, AppConfig};
use ballast_framework::Address;
use ballast_tests::consensus::MockConsensus;
use ballast_tests::driver::{Abci, InProcess};
use ballast_tests::keys::{TestAccount, TxSpec};
use ballast_tests::{genesis_app_state, CHAIN_ID};
use cosmrs::proto::cosmos::bank::v1beta1::{QueryBalanceRequest, QueryBalanceResponse};
use prost::Message;
use std::collections::BTreeMap;
use tendermint_proto::v0_38::abci as pb;

const ACCOUNTS: usize = 40;
const BLOCKS: usize = 25;
const TXS_PER_BLOCK: usize = 24;
const FUNDS: u128 = 1_000_000_000_000;

struct Run {
    app_hashes: Vec<Vec<u8>>,
    genesis_hash: Vec<u8>,
}

fn balance_of(node: &mut dyn Abci, addr: &Address, height: i64) -> u128 {
    let resp = node
        .query(pb::RequestQuery {
            data: QueryBalanceRequest {
                address: addr.to_string(),
                denom: "ubal".into(),
            }
            .encode_to_vec()
            .into(),
            path: "/cosmos.bank.v1beta1.Query/Balance".into(),
            height,
            prove: false,
        })
        .unwrap();
    assert_eq!(resp.code, 0, "{}", resp.log);
    QueryBalanceResponse::decode(resp.value.as_ref())
        .unwrap()
        .balance
        .unwrap()
        .amount
        .parse()
        .unwrap()
}

fn run_chain(dirs: &[std::path::PathBuf]) -> Run {
    let accounts = TestAccount::many(ACCOUNTS);
    let mut cons = MockConsensus::new(CHAIN_ID, 4, genesis_app_state(&accounts, FUNDS));
    let mut nodes: Vec<InProcess> = dirs
        .iter()
        .map(|d| InProcess(App::open(AppConfig::new(d)).unwrap()))
        .collect();
    for n in nodes.iter_mut() {
        cons.handshake(n).unwrap();
    }
    let mut model: BTreeMap<Address, u128> = accounts.iter().map(|a| (a.address, FUNDS)).collect();
    let mut seq = vec![0u64; ACCOUNTS];
    let mut fees = 0u128;
    let mut rng = 0x2545F4914F6CDD1Du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut app_hashes = Vec::new();
    for _ in 0..BLOCKS {
        let mut txs = Vec::new();
        for _ in 0..TXS_PER_BLOCK {
            let from = (next() % ACCOUNTS as u64) as usize;
            let to = (next() % ACCOUNTS as u64) as usize;
            let amount = u128::from(next() % 1_000_000) + 1;
            let spec = TxSpec::send(&accounts[from], &accounts[to].address, amount, seq[from]);
            txs.push(spec.sign(&accounts[from]));
            seq[from] += 1;
            *model.get_mut(&accounts[from].address).unwrap() -= amount + spec.fee;
            *model.get_mut(&accounts[to].address).unwrap() += amount;
            fees += spec.fee;
        }
        let checks = MockConsensus::check_txs(&mut nodes[0], &txs).unwrap();
        for c in &checks {
            assert_eq!(c.code, 0, "CheckTx rejected a valid tx: {}", c.log);
        }
        let mut refs: Vec<&mut dyn Abci> = nodes.iter_mut().map(|n| n as &mut dyn Abci).collect();
        let (block, left) = cons.produce_block(&mut refs, txs.clone()).unwrap();
        assert!(left.is_empty());
        assert_eq!(block.txs, txs, "the proposer keeps mempool order");
        for r in &block.tx_results {
            assert_eq!(r.code, 0, "tx failed: {} {}", r.codespace, r.log);
            assert!(r.gas_used > 0 && r.gas_used <= r.gas_wanted);
            assert!(r.events.iter().any(|e| e.r#type == "transfer"));
        }
        if let Some(prev) = app_hashes.last() {
            assert_ne!(
                prev, &block.app_hash,
                "the state root changes with every block of transfers"
            );
        }
        app_hashes.push(block.app_hash.clone());
    }

    // Balances through the wallet query path match the model on every node.
    for n in nodes.iter_mut() {
        for (addr, want) in &model {
            assert_eq!(balance_of(n, addr, 0), *want);
        }
        assert_eq!(balance_of(n, &ballast_accounts::fee_collector(), 0), fees);
    }
    // Historical reads: at height 1 only the first block's transfers had happened.
    let last = nodes.len() - 1;
    let total_at_1: u128 = accounts
        .iter()
        .map(|a| balance_of(&mut nodes[last], &a.address, 1))
        .sum();
    let fees_at_1 = balance_of(&mut nodes[last], &ballast_accounts::fee_collector(), 1);
    assert_eq!(fees_at_1, 5_000 * TXS_PER_BLOCK as u128);
    assert_eq!(
        total_at_1 + fees_at_1,
        FUNDS * ACCOUNTS as u128,
        "supply is conserved at every height"
    );

    // A proof of a balance key verifies against the app hash of that height.
    let key = ballast_accounts::state_key::balance(&accounts[3].address, "ubal");
    for height in [5i64, BLOCKS as i64] {
        let resp = nodes[last]
            .query(pb::RequestQuery {
                data: key.clone().into_bytes().into(),
                path: "/store/accounts/key".into(),
                height,
                prove: true,
            })
            .unwrap();
        assert_eq!(resp.code, 0, "{}", resp.log);
        let op = &resp.proof_ops.as_ref().unwrap().ops[0];
        assert_eq!(op.r#type, "ics23:jmt");
        let proof = ics23::CommitmentProof::decode(op.data.as_slice()).unwrap();
        let root = &app_hashes[height as usize - 1];
        assert!(ics23::verify_membership::<ics23::HostFunctionsManager>(
            &proof,
            &jmt::ics23_spec(),
            root,
            key.as_bytes(),
            &resp.value
        ));
        // The same proof does not verify against another height's root.
        let other = &app_hashes[height as usize - 2];
        assert!(!ics23::verify_membership::<ics23::HostFunctionsManager>(
            &proof,
            &jmt::ics23_spec(),
            other,
            key.as_bytes(),
            &resp.value
        ));
    }
    // Absence is provable too.
    let missing = ballast_accounts::state_key::balance(&Address([0xAB; 20]), "ubal");
    let resp = nodes[0]
        .query(pb::RequestQuery {
            data: missing.clone().into_bytes().into(),
            path: "/store/accounts/key".into(),
            height: 0,
            prove: true,
        })
        .unwrap();
    assert!(resp.value.is_empty());
    let proof =
        ics23::CommitmentProof::decode(resp.proof_ops.unwrap().ops[0].data.as_slice()).unwrap();
    assert!(ics23::verify_non_membership::<ics23::HostFunctionsManager>(
        &proof,
        &jmt::ics23_spec(),
        app_hashes.last().unwrap(),
        missing.as_bytes()
    ));

    // Restart every node: the Info handshake reports the last commit and the chain goes on.
    drop(nodes);
    let mut nodes: Vec<InProcess> = dirs
        .iter()
        .map(|d| InProcess(App::open(AppConfig::new(d)).unwrap()))
        .collect();
    for n in nodes.iter_mut() {
        let info = n.info().unwrap();
        assert_eq!(info.last_block_height, BLOCKS as i64);
        assert_eq!(
            info.last_block_app_hash.to_vec(),
            *app_hashes.last().unwrap()
        );
        cons.handshake(n).unwrap();
    }
    let tx = TxSpec::send(&accounts[0], &accounts[1].address, 1, seq[0]).sign(&accounts[0]);
    let mut refs: Vec<&mut dyn Abci> = nodes.iter_mut().map(|n| n as &mut dyn Abci).collect();
    let (block, _) = cons.produce_block(&mut refs, vec![tx]).unwrap();
    assert_eq!(block.tx_results[0].code, 0, "{}", block.tx_results[0].log);
    app_hashes.push(block.app_hash);
    Run {
        app_hashes,
        genesis_hash: cons.genesis_app_hash.clone(),
    }
}

#[test]
fn three_nodes_agree_and_a_second_independent_run_reproduces_every_root() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let first = run_chain(&[
        a.path().join("n0"),
        a.path().join("n1"),
        a.path().join("n2"),
    ]);
    let second = run_chain(&[b.path().join("n0")]);
    assert_eq!(first.genesis_hash, second.genesis_hash);
    assert_eq!(first.app_hashes.len(), BLOCKS + 1);
    assert_eq!(
        first.app_hashes, second.app_hashes,
        "state roots are reproducible across independent runs"
    );
}

#[test]
fn epoch_ends_are_reported_every_epoch_length_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = TestAccount::many(2);
    // genesis_app_state sets epoch_length = 5.
    let mut cons = MockConsensus::new(CHAIN_ID, 1, genesis_app_state(&accounts, 10));
    let mut node = InProcess(App::open(AppConfig::new(dir.path())).unwrap());
    cons.handshake(&mut node).unwrap();
    let mut ends = Vec::new();
    for _ in 0..12 {
        let (block, _) = cons.produce_block(&mut [&mut node], vec![]).unwrap();
        for e in block.events.iter().filter(|e| e.r#type == "epoch_end") {
            let epoch = e
                .attributes
                .iter()
                .find(|a| a.key == "epoch")
                .unwrap()
                .value
                .clone();
            ends.push((block.height, epoch));
        }
    }
    assert_eq!(ends, vec![(5, "1".to_string()), (10, "2".to_string())]);
}
