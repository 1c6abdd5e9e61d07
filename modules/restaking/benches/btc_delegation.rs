//! Costs of BTC delegations in the state machine:
//!
//! - `btc_delegation/create_verify`: a `MsgCreateBtcDelegation`'s checks that read no record:
//!   decoding from bytes (keys, proof of possession, four txs), then the params checks (the
//!   staking output rebuilt and compared, the unbonding and both slashing txs, the staker's
//!   two BIP-340 signatures);
//! - `btc_delegation/create_execute`: the whole message on a tx overlay (the checks above, the
//!   state checks and the writes);
//! - `btc_delegation/activate_10k_by_quorum`: 10,000 PENDING delegations whose staking txs are
//!   already proven k deep each receive the quorum-completing `MsgAddCovenantSigs` in one
//!   block (two adaptor signatures and one BIP-340 signature verified each, VERIFIED then
//!   ACTIVE, power added): the block's total;
//! - `btc_delegation/activate_10k_by_proof`: 10,000 VERIFIED delegations each receive their
//!   `MsgAddBtcInclusionProof` in one block (Merkle proof against the light client, ACTIVE,
//!   power added): the block's total.
//!
//! Every message is decoded from its bytes and executed on its own overlay over the block's
//! overlay, as the tx pipeline does, over a `MemState` holding the light client's regtest
//! headers. `BALLAST_BENCH_DELEGATIONS` changes the 10,000 (for a quick run).
//!
//! Run: `cargo bench -p ballast-restaking --bench btc_delegation`.

use ballast_btclightclient::{
    insert_headers, BtcLightClientRead, TxInclusionProof, UncheckedHeaders,
};
use ballast_framework::{Address, BlockContext, MemState, MsgHandler, Overlay, TxContext};
use ballast_proto::ballast::restaking::v1 as pb;
use ballast_restaking::btc::adaptor::enc_sign_leaf;
use ballast_restaking::btc::params::BtcStakingParams as Rules;
use ballast_restaking::btc::scripts::{Leaf, StakingInfo};
use ballast_restaking::btc::sign::{sign_leaf, sign_pop};
use ballast_restaking::btc::txs::{build_slashing_tx, build_unbonding_tx};
use ballast_restaking::delegation::create::staking_rules;
use ballast_restaking::delegation::types::inclusion_proof_to_proto;
use ballast_restaking::delegation::{
    BtcDelegation, BtcDelegationRead, MsgAddBtcInclusionProof, MsgAddCovenantSigs,
    MsgCreateBtcDelegation, StakingTxid,
};
use ballast_restaking::operator::{self, Description, OperatorRegistration};
use ballast_restaking::{params, OperatorId, Params, PowerTableRead};
use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version};
use bitcoin::hashes::{sha256, sha256d, Hash, HashEngine};
use bitcoin::pow::CompactTarget;
use bitcoin::secp256k1::{SecretKey, XOnlyPublicKey, SECP256K1};
use bitcoin::{
    Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use prost::Message;
use std::hint::black_box;
use std::time::Duration;

const STAKER: Address = Address([0x51; 20]);
const RELAYER: Address = Address([0x52; 20]);
const VALUE: u64 = 500_000;
const STAKING_TIME: u32 = 10_000;
const TXS_PER_BLOCK: usize = 250;

struct Keys {
    staker: SecretKey,
    operator: SecretKey,
    covenants: Vec<SecretKey>,
}

fn xonly(sk: &SecretKey) -> XOnlyPublicKey {
    sk.x_only_public_key(SECP256K1).0
}

/// The keys of `shared/vectors/btc-staking/local-3cov-q2.json`.
fn keys() -> Keys {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/vectors/btc-staking/local-3cov-q2.json");
    let text = std::fs::read_to_string(&path).expect("the vector file is readable");
    let v: serde_json::Value = serde_json::from_str(&text).expect("the vector file is json");
    let sk = |p: &str| {
        let s = v.pointer(p).and_then(|x| x.as_str()).expect("a hex key");
        SecretKey::from_slice(&hex::decode(s).expect("hex")).expect("a valid secret key")
    };
    Keys {
        staker: sk("/keys/stakerSk"),
        operator: sk("/keys/fpSks/0"),
        covenants: (0..3)
            .map(|i| sk(&format!("/keys/covenantSks/{i}")))
            .collect(),
    }
}

fn unsigned(input: OutPoint, output: TxOut) -> Transaction {
    Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: input,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![output],
    }
}

/// A signed create message, unique per `seed`, and its staking tx.
fn create_msg(k: &Keys, rules: &Rules, seed: u64) -> (pb::MsgCreateBtcDelegation, Transaction) {
    let staker = xonly(&k.staker);
    let op = xonly(&k.operator);
    let info = StakingInfo::from_params(rules, staker, &[op], STAKING_TIME, VALUE)
        .expect("valid staking output");
    let funding = Txid::from_byte_array(sha256::Hash::hash(&seed.to_be_bytes()).to_byte_array());
    let staking_tx = unsigned(OutPoint::new(funding, 0), info.output());
    let outpoint = OutPoint::new(staking_tx.compute_txid(), 0);
    let slashing_tx = build_slashing_tx(rules, staker, outpoint, VALUE).expect("slashing tx");
    let unbonding_tx =
        build_unbonding_tx(rules, staker, &[op], outpoint, VALUE).expect("unbonding tx");
    let unbonding_value = unbonding_tx.output[0].value.to_sat();
    let unbonding_slashing_tx = build_slashing_tx(
        rules,
        staker,
        OutPoint::new(unbonding_tx.compute_txid(), 0),
        unbonding_value,
    )
    .expect("unbonding slashing tx");
    let leaf = info.leaf(Leaf::Slashing).expect("slashing leaf").to_owned();
    let sig = |tx: &Transaction, prev: &TxOut| {
        sign_leaf(&k.staker, tx, 0, std::slice::from_ref(prev), &leaf)
            .expect("sighash")
            .serialize()
            .to_vec()
    };
    let ser = bitcoin::consensus::serialize::<Transaction>;
    let m = pb::MsgCreateBtcDelegation {
        staker_addr: STAKER.to_string(),
        btc_pk: staker.serialize().to_vec(),
        pop: sign_pop(&k.staker, &STAKER.0).serialize().to_vec(),
        operator_btc_pk: op.serialize().to_vec(),
        staking_time: STAKING_TIME,
        staking_value: VALUE,
        staking_tx: ser(&staking_tx),
        staking_output_index: 0,
        slashing_tx: ser(&slashing_tx),
        delegator_slashing_sig: sig(&slashing_tx, &staking_tx.output[0]),
        unbonding_tx: ser(&unbonding_tx),
        unbonding_slashing_tx: ser(&unbonding_slashing_tx),
        delegator_unbonding_slashing_sig: sig(&unbonding_slashing_tx, &unbonding_tx.output[0]),
        inclusion_proof: None,
    };
    (m, staking_tx)
}

/// Covenant member `cov`'s signatures on a stored delegation.
fn covenant_msg(d: &BtcDelegation, cov: &SecretKey) -> pb::MsgAddCovenantSigs {
    let slashing = d.slashing_script().expect("slashing leaf");
    let unbonding = d.unbonding_script().expect("unbonding leaf");
    let staking_out = d.staking_output().expect("staking output").clone();
    let unbonding_out = d.unbonding_output().expect("unbonding output").clone();
    let adaptor = |tx: &Transaction, prev: &TxOut| {
        enc_sign_leaf(
            cov,
            &d.operator_pk,
            tx,
            0,
            std::slice::from_ref(prev),
            &slashing,
        )
        .expect("adaptor signature")
        .to_bytes()
        .to_vec()
    };
    pb::MsgAddCovenantSigs {
        signer: RELAYER.to_string(),
        covenant_pk: xonly(cov).serialize().to_vec(),
        staking_txid: d.staking_txid.to_string(),
        slashing_adaptor_sig: adaptor(&d.slashing_tx, &staking_out),
        unbonding_slashing_adaptor_sig: adaptor(&d.unbonding_slashing_tx, &unbonding_out),
        unbonding_sig: sign_leaf(
            cov,
            &d.unbonding_tx,
            0,
            std::slice::from_ref(&staking_out),
            &unbonding,
        )
        .expect("sighash")
        .serialize()
        .to_vec(),
    }
}

fn merkle_branch(txids: &[[u8; 32]], index: usize) -> Vec<TxMerkleNode> {
    let mut level = txids.to_vec();
    let mut pos = index;
    let mut out = Vec::new();
    while level.len() > 1 {
        let sib = if pos ^ 1 < level.len() { pos ^ 1 } else { pos };
        out.push(TxMerkleNode::from_byte_array(level[sib]));
        level = level
            .chunks(2)
            .map(|p| {
                let mut e = sha256d::Hash::engine();
                e.input(&p[0]);
                e.input(p.get(1).unwrap_or(&p[0]));
                sha256d::Hash::from_engine(e).to_byte_array()
            })
            .collect();
        pos /= 2;
    }
    out
}

/// Mines a regtest block on `parent` with a coinbase (tagged) and `txs`; returns the header
/// and the proofs of `txs`.
fn mine(parent: &Header, txs: &[Transaction], tag: u64) -> (Header, Vec<TxInclusionProof>) {
    let coinbase = Transaction {
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(tag.to_le_bytes().to_vec()),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        ..unsigned(
            OutPoint::null(),
            TxOut {
                value: Amount::from_sat(50_000),
                script_pubkey: ScriptBuf::new_op_return([0u8; 4]),
            },
        )
    };
    let mut txids = vec![coinbase.compute_txid().to_byte_array()];
    txids.extend(txs.iter().map(|t| t.compute_txid().to_byte_array()));
    let root = bitcoin::merkle_tree::calculate_root(
        txids
            .iter()
            .map(|t| bitcoin::hashes::sha256d::Hash::from_byte_array(*t)),
    )
    .map(TxMerkleNode::from_raw_hash)
    .expect("a block has transactions");
    let mut h = Header {
        version: Version::from_consensus(0x2000_0000),
        prev_blockhash: parent.block_hash(),
        merkle_root: root,
        time: parent.time + 600,
        bits: CompactTarget::from_consensus(0x207f_ffff),
        nonce: 0,
    };
    let target = h.target();
    while !target.is_met_by(h.block_hash()) {
        h.nonce += 1;
    }
    let hash = h.block_hash();
    let proofs = (1..txids.len())
        .map(|i| TxInclusionProof {
            block_hash: hash,
            index: u32::try_from(i).expect("a small index"),
            branch: merkle_branch(&txids, i),
        })
        .collect();
    (h, proofs)
}

fn insert(s: &mut MemState, headers: Vec<Header>) {
    insert_headers(s, &UncheckedHeaders::new(headers).expect("headers")).expect("they connect");
}

/// Decodes and executes one message on its own overlay over `block`, as the tx pipeline does.
fn run<M: MsgHandler>(block: &mut Overlay<&MemState>, bytes: &[u8], height: u64) {
    let m = M::decode(bytes).expect("the message decodes");
    m.check_stateless().expect("stateless checks pass");
    let ctx_block = BlockContext {
        height,
        ..BlockContext::default()
    };
    let signers = m.signers();
    let ctx = TxContext {
        block: &ctx_block,
        tx_hash: [0; 32],
        signers: &signers,
    };
    let changes = {
        let mut tx = Overlay::new(&*block);
        m.execute(&mut tx, &ctx).expect("the message executes");
        tx.into_changes()
    };
    changes.apply_to(block).expect("in-memory writes");
}

fn apply<M: MsgHandler>(s: &mut MemState, bytes: &[u8], height: u64) {
    let changes = {
        let mut block = Overlay::new(&*s);
        run::<M>(&mut block, bytes, height);
        block.into_changes()
    };
    changes.apply_to(s).expect("in-memory writes");
}

struct Fixture {
    base: MemState,
    keys: Keys,
    rules: Rules,
    op: OperatorId,
    /// PENDING, proven k deep, one covenant signature.
    proven_pending: MemState,
    /// VERIFIED, not proven.
    verified: MemState,
    /// The quorum-completing covenant message of each delegation.
    second_sigs: Vec<Vec<u8>>,
    /// The inclusion proof message of each delegation.
    proofs: Vec<Vec<u8>>,
}

fn fixture(n: usize) -> Fixture {
    let keys = keys();
    let mut p = Params::default();
    p.btc.covenant_pks = keys
        .covenants
        .iter()
        .map(|c| xonly(c).serialize())
        .collect();
    p.btc.covenant_quorum = 2;
    p.btc.btc_confirmation_depth = 3;
    let rules = staking_rules(&p.btc).expect("valid rules");
    let mut base = MemState::new();
    ballast_btclightclient::GenesisState::default()
        .apply(&mut base)
        .expect("light client genesis");
    ballast_accounts::GenesisState::default()
        .apply(&mut base)
        .expect("accounts genesis");
    params::store(&mut base, &p).expect("valid params");
    let op = OperatorId::from_secret_key(&keys.operator);
    operator::register(
        &mut base,
        &OperatorRegistration {
            owner: Address([0x53; 20]),
            id: op,
            consensus_pubkey: Some([0x11; 32]),
            commission: "0.05".parse().expect("a decimal"),
            description: Description {
                moniker: "bench operator".into(),
                ..Description::default()
            },
        },
        1,
    )
    .expect("registers");

    let built: Vec<(pb::MsgCreateBtcDelegation, Transaction)> = (0..n as u64)
        .map(|i| create_msg(&keys, &rules, i))
        .collect();
    // The staking txs in blocks of TXS_PER_BLOCK, then k = 3 blocks on top.
    let mut s = base.clone();
    let mut parent = s.btc_tip().expect("a tip").header;
    let mut headers = Vec::new();
    let mut proofs = Vec::with_capacity(n);
    for (b, chunk) in built.chunks(TXS_PER_BLOCK).enumerate() {
        let txs: Vec<Transaction> = chunk.iter().map(|(_, t)| t.clone()).collect();
        let (h, ps) = mine(&parent, &txs, b as u64);
        proofs.extend(ps);
        headers.push(h);
        parent = h;
    }
    for i in 0..3u64 {
        let (h, _) = mine(&parent, &[], 1_000_000 + i);
        headers.push(h);
        parent = h;
    }
    for chunk in headers.chunks(2000) {
        insert(&mut s, chunk.to_vec());
    }
    // Created, with one covenant signature.
    let mut second_sigs = Vec::with_capacity(n);
    let mut proof_msgs = Vec::with_capacity(n);
    for ((m, tx), proof) in built.iter().zip(&proofs) {
        apply::<MsgCreateBtcDelegation>(&mut s, &m.encode_to_vec(), 5);
        let txid = StakingTxid::of(tx);
        let d = s.require_btc_delegation(&txid).expect("created");
        apply::<MsgAddCovenantSigs>(
            &mut s,
            &covenant_msg(&d, &keys.covenants[0]).encode_to_vec(),
            5,
        );
        second_sigs.push(covenant_msg(&d, &keys.covenants[1]).encode_to_vec());
        proof_msgs.push(
            pb::MsgAddBtcInclusionProof {
                signer: RELAYER.to_string(),
                staking_txid: txid.to_string(),
                proof: Some(inclusion_proof_to_proto(proof)),
            }
            .encode_to_vec(),
        );
    }
    let mut proven_pending = s.clone();
    for m in &proof_msgs {
        apply::<MsgAddBtcInclusionProof>(&mut proven_pending, m, 6);
    }
    let mut verified = s;
    for m in &second_sigs {
        apply::<MsgAddCovenantSigs>(&mut verified, m, 6);
    }
    Fixture {
        base,
        keys,
        rules,
        op,
        proven_pending,
        verified,
        second_sigs,
        proofs: proof_msgs,
    }
}

fn activate_all<M: MsgHandler>(state: &MemState, msgs: &[Vec<u8>], op: &OperatorId) -> u64 {
    let mut block = Overlay::new(state);
    for m in msgs {
        run::<M>(&mut block, m, 7);
    }
    block
        .operator_power(op)
        .expect("power table reads")
        .map(|p| p.btc_sat)
        .unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("BALLAST_BENCH_DELEGATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        // `cargo test --all-targets` runs each bench once as a smoke test, unoptimised and
        // without `--bench`: 100 delegations show it works there; `cargo bench` measures 10,000.
        .unwrap_or(if std::env::args().any(|a| a == "--bench") {
            10_000
        } else {
            100
        });
    let f = fixture(n);
    let expected_sat = VALUE * n as u64;

    let mut g = c.benchmark_group("btc_delegation");
    let (msg, _) = create_msg(&f.keys, &f.rules, u64::MAX);
    let bytes = msg.encode_to_vec();
    g.bench_function("create_verify", |b| {
        b.iter(|| {
            let m = MsgCreateBtcDelegation::decode(black_box(&bytes)).expect("decodes");
            m.verify(&f.rules).expect("valid");
            m
        })
    });
    g.bench_function("create_execute", |b| {
        b.iter_batched(
            || Overlay::new(&f.base),
            |mut block| {
                run::<MsgCreateBtcDelegation>(&mut block, black_box(&bytes), 5);
                block
            },
            BatchSize::SmallInput,
        )
    });
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(60));
    g.bench_function(format!("activate_{n}_by_quorum"), |b| {
        b.iter(|| {
            let sat = activate_all::<MsgAddCovenantSigs>(&f.proven_pending, &f.second_sigs, &f.op);
            assert_eq!(sat, expected_sat, "every delegation is ACTIVE");
        })
    });
    g.bench_function(format!("activate_{n}_by_proof"), |b| {
        b.iter(|| {
            let sat = activate_all::<MsgAddBtcInclusionProof>(&f.verified, &f.proofs, &f.op);
            assert_eq!(sat, expected_sat, "every delegation is ACTIVE");
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
