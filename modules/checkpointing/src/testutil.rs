//! Test helpers: validators with BLS keys, sealed checkpoints, and regtest blocks that carry
//! checkpoint transactions, mined here and inserted into the light client.

use crate::encoding::{encode, CheckpointTag};
use crate::store::{set_epoch_config, set_hub_height};
use crate::*;
use ballast_btclightclient::{insert_headers, TipChange, UncheckedHeaders};
use ballast_framework::{Address, BlockHash, ConsensusAddress, Event, MemState};
use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version};
use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::pow::CompactTarget;
use bitcoin::script::PushBytesBuf;
use bitcoin::{
    Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness,
};
use std::collections::BTreeMap;

/// Regtest's bits.
pub const REGTEST_BITS: u32 = 0x207f_ffff;

/// A validator of the tests.
pub struct TestValidator {
    pub address: ConsensusAddress,
    pub key: BlsSecretKey,
}

/// Validator `i`'s address: 20 bytes of `i + 1` (so sorting by address follows `i`).
pub fn addr(i: usize) -> ConsensusAddress {
    ConsensusAddress([(i + 1) as u8; 20])
}

/// Validator `i`'s BLS key.
pub fn bls_key(i: usize) -> BlsSecretKey {
    let mut ikm = [0x77u8; 32];
    ikm[..8].copy_from_slice(&(i as u64).to_be_bytes());
    BlsSecretKey::from_ikm(&ikm).unwrap()
}

/// A proven key for validator `i`.
pub fn proven(i: usize) -> ProvenBlsKey {
    let k = bls_key(i);
    ProvenBlsKey::new(
        &k.public_key().to_bytes(),
        &k.proof_of_possession().to_bytes(),
    )
    .unwrap()
}

/// A state with the light client at the regtest genesis, default checkpointing params, epochs
/// of 10 blocks from height 1, and the hub at height 1.
pub fn base_state() -> MemState {
    let mut s = MemState::new();
    ballast_btclightclient::GenesisState::default()
        .apply(&mut s)
        .unwrap();
    GenesisState::default().apply(&mut s).unwrap();
    set_epoch_config(&mut s, &EpochConfig::new(1, 10).unwrap()).unwrap();
    set_hub_height(&mut s, 1).unwrap();
    s.take_events();
    s
}

/// Registers keys for validators `0..powers.len()` (those in `without_key` get none) and
/// snapshots them for `epoch` with the given powers.
pub fn validators(
    s: &mut MemState,
    epoch: u64,
    powers: &[u64],
    without_key: &[usize],
) -> Vec<TestValidator> {
    let mut set = Vec::new();
    let mut out = Vec::new();
    for (i, p) in powers.iter().enumerate() {
        if !without_key.contains(&i) && s.bls_key(&addr(i)).unwrap().is_none() {
            register_bls_key(s, addr(i), proven(i), 0).unwrap();
        }
        set.push((addr(i), *p));
        out.push(TestValidator {
            address: addr(i),
            key: bls_key(i),
        });
    }
    snapshot_validators(s, epoch, &set).unwrap();
    s.take_events();
    out
}

/// The hash of epoch `epoch`'s last block in the tests.
pub fn epoch_hash(epoch: u64) -> BlockHash {
    let mut h = [0xe0u8; 32];
    h[..8].copy_from_slice(&epoch.to_be_bytes());
    BlockHash(h)
}

/// Ends `epoch` (ACCUMULATING) and seals it with every validator's signature.
pub fn sealed(s: &mut MemState, epoch: u64, vals: &[TestValidator]) -> RawCheckpoint {
    let hash = epoch_hash(epoch);
    begin_checkpoint(s, epoch, &hash, epoch * 10).unwrap();
    let exts: Vec<(ConsensusAddress, Vec<u8>)> = vals
        .iter()
        .map(|v| (v.address, extend_vote(&v.key, epoch, &hash)))
        .collect();
    let raw = aggregate(&*s, epoch, &exts).unwrap();
    apply_raw_checkpoint(s, epoch * 10 + 1, &raw).unwrap();
    s.take_events();
    raw
}

/// Everything in the state, to compare before and after a rejected call.
pub fn dump(s: &MemState) -> (BTreeMap<Vec<u8>, Vec<u8>>, Vec<Event>) {
    (s.entries().clone(), s.events().to_vec())
}

// ---- Bitcoin ---------------------------------------------------------------------------------

/// The submitter named in part 0 in the tests.
pub const SUBMITTER: Address = Address([0x5b; 20]);
/// The reporter sending proofs in the tests.
pub const REPORTER: Address = Address([0x6c; 20]);

fn change_script(tag: u8) -> ScriptBuf {
    ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([tag; 20]))
}

fn op_return(data: &[u8]) -> ScriptBuf {
    ScriptBuf::new_op_return(PushBytesBuf::try_from(data.to_vec()).unwrap())
}

fn tx(inputs: Vec<OutPoint>, outputs: Vec<ScriptBuf>) -> Transaction {
    Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: LockTime::ZERO,
        input: inputs
            .into_iter()
            .map(|previous_output| TxIn {
                previous_output,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs
            .into_iter()
            .map(|script_pubkey| TxOut {
                value: Amount::from_sat(50_000),
                script_pubkey,
            })
            .collect(),
    }
}

/// The two checkpoint transactions of `raw`: tx0 funds from `funding` and carries part 0 after
/// its change output; tx1 spends tx0's change output and carries part 1.
pub fn checkpoint_txs(
    raw: &RawCheckpoint,
    submitter: &Address,
    tag: CheckpointTag,
    funding: u8,
) -> (Transaction, Transaction) {
    let (p0, p1) = encode(raw, submitter, tag);
    let tx0 = tx(
        vec![OutPoint {
            txid: Txid::from_byte_array([funding; 32]),
            vout: 0,
        }],
        vec![change_script(1), op_return(&p0)],
    );
    let tx1 = tx(
        vec![OutPoint {
            txid: tx0.compute_txid(),
            vout: 0,
        }],
        vec![op_return(&p1), change_script(2)],
    );
    (tx0, tx1)
}

/// A coinbase-like first transaction, unique per `tag`.
fn coinbase(tag: u32) -> Transaction {
    let mut t = tx(vec![OutPoint::null()], vec![change_script(9)]);
    t.input[0].script_sig = ScriptBuf::from_bytes(tag.to_le_bytes().to_vec());
    t
}

/// A mined regtest block: its header and its transactions (coinbase first).
#[derive(Clone, Debug)]
pub struct TestBlock {
    pub header: Header,
    pub txs: Vec<Transaction>,
}

impl TestBlock {
    /// The block hash.
    pub fn hash(&self) -> bitcoin::BlockHash {
        self.header.block_hash()
    }

    /// The SPV proof of transaction `index`.
    pub fn proof(&self, index: usize) -> pb::BtcSpvProof {
        let txids: Vec<Txid> = self.txs.iter().map(|t| t.compute_txid()).collect();
        pb::BtcSpvProof {
            btc_transaction: bitcoin::consensus::serialize(&self.txs[index]),
            btc_transaction_index: index as u32,
            merkle_nodes: branch(&txids, index)
                .iter()
                .flat_map(|n| n.to_byte_array())
                .collect(),
            confirming_btc_header_hash: self.hash().to_byte_array().to_vec(),
        }
    }
}

use ballast_proto::ballast::checkpointing::v1 as pb;

fn hash_pair(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut e = sha256d::Hash::engine();
    e.input(a);
    e.input(b);
    sha256d::Hash::from_engine(e).to_byte_array()
}

/// The Merkle root of `txids` (an odd level pairs its last node with itself).
pub fn merkle_root(txids: &[Txid]) -> TxMerkleNode {
    let mut level: Vec<[u8; 32]> = txids.iter().map(|t| t.to_byte_array()).collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|c| hash_pair(&c[0], c.get(1).unwrap_or(&c[0])))
            .collect();
    }
    TxMerkleNode::from_byte_array(level[0])
}

/// The sibling hashes of leaf `index`, leaf level first.
pub fn branch(txids: &[Txid], mut index: usize) -> Vec<TxMerkleNode> {
    let mut level: Vec<[u8; 32]> = txids.iter().map(|t| t.to_byte_array()).collect();
    let mut out = Vec::new();
    while level.len() > 1 {
        let sibling = (index ^ 1).min(level.len() - 1);
        out.push(TxMerkleNode::from_byte_array(level[sibling]));
        level = level
            .chunks(2)
            .map(|c| hash_pair(&c[0], c.get(1).unwrap_or(&c[0])))
            .collect();
        index /= 2;
    }
    out
}

/// Mines a regtest block on `prev` holding `txs` after a coinbase tagged `tag`.
pub fn mine_block(prev: &Header, txs: Vec<Transaction>, tag: u32) -> TestBlock {
    let mut all = vec![coinbase(tag)];
    all.extend(txs);
    let txids: Vec<Txid> = all.iter().map(|t| t.compute_txid()).collect();
    let mut header = Header {
        version: Version::from_consensus(0x2000_0000),
        prev_blockhash: prev.block_hash(),
        merkle_root: merkle_root(&txids),
        time: prev.time + 600,
        bits: CompactTarget::from_consensus(REGTEST_BITS),
        nonce: 0,
    };
    let target = header.target();
    while !target.is_met_by(header.block_hash()) {
        header.nonce += 1;
    }
    TestBlock { header, txs: all }
}

/// `n` empty blocks on `prev`, tagged from `tag`.
pub fn mine_empty(prev: &Header, n: usize, tag: u32) -> Vec<TestBlock> {
    let mut out: Vec<TestBlock> = Vec::with_capacity(n);
    let mut p = *prev;
    for i in 0..n {
        let b = mine_block(&p, vec![], tag.wrapping_mul(1000).wrapping_add(i as u32));
        p = b.header;
        out.push(b);
    }
    out
}

/// Inserts the blocks' headers into the light client (no hooks run).
pub fn insert(s: &mut MemState, blocks: &[TestBlock]) -> TipChange {
    let headers = blocks.iter().map(|b| b.header).collect();
    insert_headers(s, &UncheckedHeaders::new(headers).unwrap()).unwrap()
}

/// The regtest genesis header.
pub fn genesis_header() -> Header {
    ballast_btclightclient::BtcNetwork::Regtest.genesis_header()
}

/// The report of `raw` in blocks `b0` (tx at index `i0`) and `b1` (tx at `i1`).
pub fn report(b0: &TestBlock, i0: usize, b1: &TestBlock, i1: usize) -> pb::MsgInsertBtcSpvProof {
    pb::MsgInsertBtcSpvProof {
        submitter: REPORTER.to_string(),
        proofs: vec![b0.proof(i0), b1.proof(i1)],
    }
}
