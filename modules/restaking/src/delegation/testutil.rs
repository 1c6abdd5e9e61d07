//! Test helpers for BTC delegations: the keys of `shared/vectors/btc-staking/local-3cov-q2.json`
//! (made by Babylon's own staking library; their secret keys let the tests sign), a state with
//! the light client at the regtest genesis and the operator registered, regtest blocks mined
//! here (with real Merkle trees over the txs they carry) and inserted into the light client,
//! and messages sent through the wire path (`Any` → decode → execute on an overlay).

use crate::btc::adaptor::enc_sign_leaf;
use crate::btc::params::BtcStakingParams as Rules;
use crate::btc::scripts::{Leaf, StakingInfo};
use crate::btc::sign::{sign_leaf, sign_pop};
use crate::btc::txs::{build_slashing_tx, build_unbonding_tx};
use crate::delegation::create::staking_rules;
use crate::delegation::lifecycle::Transition;
use crate::delegation::types::{inclusion_proof_to_proto, BtcDelegation, StakingTxid};
use crate::operator::{self, Description, OperatorId, OperatorRegistration};
use crate::{params, Params};
use ballast_btclightclient::{
    insert_headers, BtcLightClientRead, TxInclusionProof, UncheckedHeaders,
};
use ballast_framework::{Address, BlockContext, MemState, Overlay, TxContext, TxError};
use ballast_proto::ballast::restaking::v1 as pb;
use bitcoin::block::{Header, Version};
use bitcoin::hashes::{sha256, sha256d, Hash, HashEngine};
use bitcoin::pow::CompactTarget;
use bitcoin::secp256k1::{SecretKey, XOnlyPublicKey, SECP256K1};
use bitcoin::{
    absolute::LockTime, Amount, BlockHash, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Txid, Witness,
};
use prost::Message;

/// The staker's account in the tests.
pub const STAKER: Address = Address([0x51; 20]);
/// An account relaying messages in the tests.
pub const RELAYER: Address = Address([0x52; 20]);
/// The operator's owner.
pub const OWNER: Address = Address([0x53; 20]);
/// Regtest's bits.
pub const REGTEST_BITS: u32 = 0x207f_ffff;

/// Secret keys of the vector.
#[derive(Clone, Debug)]
pub struct Keys {
    /// The staker.
    pub staker: SecretKey,
    /// The finality provider: the operator.
    pub operator: SecretKey,
    /// The covenant committee, in the vector's (unsorted) order.
    pub covenants: Vec<SecretKey>,
}

/// The x-only key of a secret key.
pub fn xonly(sk: &SecretKey) -> XOnlyPublicKey {
    sk.x_only_public_key(SECP256K1).0
}

fn sk_hex(v: &serde_json::Value, path: &str) -> SecretKey {
    let s = v.pointer(path).and_then(|x| x.as_str()).unwrap();
    SecretKey::from_slice(&hex::decode(s).unwrap()).unwrap()
}

/// The keys of `local-3cov-q2.json`.
pub fn keys() -> Keys {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/vectors/btc-staking/local-3cov-q2.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let k = Keys {
        staker: sk_hex(&v, "/keys/stakerSk"),
        operator: sk_hex(&v, "/keys/fpSks/0"),
        covenants: (0..3)
            .map(|i| sk_hex(&v, &format!("/keys/covenantSks/{i}")))
            .collect(),
    };
    // The public keys the vector lists are those of its secret keys.
    assert_eq!(
        hex::encode(xonly(&k.staker).serialize()),
        v.pointer("/keys/stakerPk")
            .and_then(|x| x.as_str())
            .unwrap()
    );
    k
}

/// Restaking params with the vector's committee (quorum 2), k = 3 and otherwise the defaults
/// (staking time 400 to 65535, unbonding time 200, fee 1000, slashing rate 0.1).
pub fn test_params(k: &Keys) -> Params {
    let mut p = Params::default();
    p.btc.covenant_pks = k.covenants.iter().map(|c| xonly(c).serialize()).collect();
    p.btc.covenant_quorum = 2;
    p.btc.btc_confirmation_depth = 3;
    p
}

/// A staking delegation under construction: its four txs, from which [`Draft::msg`] signs a
/// `MsgCreateBtcDelegation`. Tests change a part to make one input bad.
#[derive(Clone, Debug)]
pub struct Draft {
    /// The staker's account.
    pub staker_addr: Address,
    /// The staker's key (signs the pop and both slashing txs).
    pub staker_sk: SecretKey,
    /// The operator.
    pub operator_pk: XOnlyPublicKey,
    /// Declared staking time.
    pub staking_time: u32,
    /// Declared staking value.
    pub value: u64,
    /// Staking tx (staking output at index 0).
    pub staking_tx: Transaction,
    /// Slashing tx of the staking output.
    pub slashing_tx: Transaction,
    /// Unbonding tx.
    pub unbonding_tx: Transaction,
    /// Slashing tx of the unbonding output.
    pub unbonding_slashing_tx: Transaction,
    /// The leaf the staker signs the slashing txs through.
    pub slashing_leaf: ScriptBuf,
    /// Inclusion proof sent with the message.
    pub proof: Option<TxInclusionProof>,
}

/// A staking tx funded from a made-up outpoint (unique per `seed`) with `output` at index 0.
pub fn staking_tx_with(output: TxOut, seed: u64) -> Transaction {
    Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(
                Txid::from_byte_array(sha256::Hash::hash(&seed.to_be_bytes()).to_byte_array()),
                0,
            ),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![output],
    }
}

impl Draft {
    /// A valid delegation of `value` sat for `staking_time` blocks; `seed` makes its staking
    /// tx unique.
    pub fn new(k: &Keys, rules: &Rules, value: u64, staking_time: u32, seed: u64) -> Self {
        let staker = xonly(&k.staker);
        let op = xonly(&k.operator);
        let info = StakingInfo::from_params(rules, staker, &[op], staking_time, value).unwrap();
        let mut d = Draft {
            staker_addr: STAKER,
            staker_sk: k.staker,
            operator_pk: op,
            staking_time,
            value,
            staking_tx: staking_tx_with(info.output(), seed),
            slashing_tx: Transaction {
                version: bitcoin::transaction::Version::TWO,
                lock_time: LockTime::ZERO,
                input: vec![],
                output: vec![],
            },
            unbonding_tx: Transaction {
                version: bitcoin::transaction::Version::TWO,
                lock_time: LockTime::ZERO,
                input: vec![],
                output: vec![],
            },
            unbonding_slashing_tx: Transaction {
                version: bitcoin::transaction::Version::TWO,
                lock_time: LockTime::ZERO,
                input: vec![],
                output: vec![],
            },
            slashing_leaf: info.leaf(Leaf::Slashing).unwrap().to_owned(),
            proof: None,
        };
        d.rebuild_spends(rules);
        d
    }

    /// Rebuilds the unbonding and both slashing txs from the current staking tx.
    pub fn rebuild_spends(&mut self, rules: &Rules) {
        let staker = xonly(&self.staker_sk);
        let outpoint = OutPoint::new(self.staking_tx.compute_txid(), 0);
        self.slashing_tx = build_slashing_tx(rules, staker, outpoint, self.value).unwrap();
        self.unbonding_tx =
            build_unbonding_tx(rules, staker, &[self.operator_pk], outpoint, self.value).unwrap();
        self.unbonding_slashing_tx = build_slashing_tx(
            rules,
            staker,
            OutPoint::new(self.unbonding_tx.compute_txid(), 0),
            self.unbonding_tx.output[0].value.to_sat(),
        )
        .unwrap();
    }

    /// The staking txid.
    pub fn txid(&self) -> StakingTxid {
        StakingTxid::of(&self.staking_tx)
    }

    /// The staker's signature on the staking output's slashing tx.
    pub fn slashing_sig(&self) -> Vec<u8> {
        sign_leaf(
            &self.staker_sk,
            &self.slashing_tx,
            0,
            &[self.staking_tx.output[0].clone()],
            &self.slashing_leaf,
        )
        .unwrap()
        .serialize()
        .to_vec()
    }

    /// The staker's signature on the unbonding output's slashing tx.
    pub fn unbonding_slashing_sig(&self) -> Vec<u8> {
        sign_leaf(
            &self.staker_sk,
            &self.unbonding_slashing_tx,
            0,
            &[self.unbonding_tx.output[0].clone()],
            &self.slashing_leaf,
        )
        .unwrap()
        .serialize()
        .to_vec()
    }

    /// The signed message.
    pub fn msg(&self) -> pb::MsgCreateBtcDelegation {
        let ser = bitcoin::consensus::serialize::<Transaction>;
        pb::MsgCreateBtcDelegation {
            staker_addr: self.staker_addr.to_string(),
            btc_pk: xonly(&self.staker_sk).serialize().to_vec(),
            pop: sign_pop(&self.staker_sk, &self.staker_addr.0)
                .serialize()
                .to_vec(),
            operator_btc_pk: self.operator_pk.serialize().to_vec(),
            staking_time: self.staking_time,
            staking_value: self.value,
            staking_tx: ser(&self.staking_tx),
            staking_output_index: 0,
            slashing_tx: ser(&self.slashing_tx),
            delegator_slashing_sig: self.slashing_sig(),
            unbonding_tx: ser(&self.unbonding_tx),
            unbonding_slashing_tx: ser(&self.unbonding_slashing_tx),
            delegator_unbonding_slashing_sig: self.unbonding_slashing_sig(),
            inclusion_proof: self.proof.as_ref().map(inclusion_proof_to_proto),
        }
    }
}

/// Covenant member `cov`'s signatures on a stored delegation, adaptor-signed to `enc_key`.
pub fn covenant_msg_to(
    d: &BtcDelegation,
    cov: &SecretKey,
    enc_key: &XOnlyPublicKey,
) -> pb::MsgAddCovenantSigs {
    let slashing_leaf = d.slashing_script().unwrap();
    let unbonding_leaf = d.unbonding_script().unwrap();
    let staking_out = d.staking_output().unwrap().clone();
    let unbonding_out = d.unbonding_output().unwrap().clone();
    pb::MsgAddCovenantSigs {
        signer: RELAYER.to_string(),
        covenant_pk: xonly(cov).serialize().to_vec(),
        staking_txid: d.staking_txid.to_string(),
        slashing_adaptor_sig: enc_sign_leaf(
            cov,
            enc_key,
            &d.slashing_tx,
            0,
            std::slice::from_ref(&staking_out),
            &slashing_leaf,
        )
        .unwrap()
        .to_bytes()
        .to_vec(),
        unbonding_slashing_adaptor_sig: enc_sign_leaf(
            cov,
            enc_key,
            &d.unbonding_slashing_tx,
            0,
            std::slice::from_ref(&unbonding_out),
            &slashing_leaf,
        )
        .unwrap()
        .to_bytes()
        .to_vec(),
        unbonding_sig: sign_leaf(
            cov,
            &d.unbonding_tx,
            0,
            std::slice::from_ref(&staking_out),
            &unbonding_leaf,
        )
        .unwrap()
        .serialize()
        .to_vec(),
    }
}

/// Covenant member `cov`'s signatures on a stored delegation, encrypted to its operator.
pub fn covenant_msg(d: &BtcDelegation, cov: &SecretKey) -> pb::MsgAddCovenantSigs {
    covenant_msg_to(d, cov, &d.operator_pk)
}

/// The delegation's unbonding tx with a script-path witness carrying `signer`'s signature on
/// the unbonding leaf: `<sig> <unbonding leaf> <control block>`.
pub fn signed_unbonding_tx(d: &BtcDelegation, signer: &SecretKey) -> Transaction {
    let info = StakingInfo::new(
        d.staker_pk,
        &[d.operator_pk],
        &d.covenant_pks,
        d.covenant_quorum,
        d.staking_time,
        d.staking_value_sat,
    )
    .unwrap();
    let leaf = info.leaf(Leaf::Unbonding).unwrap().to_owned();
    let mut tx = d.unbonding_tx.clone();
    let sig = sign_leaf(
        signer,
        &tx,
        0,
        std::slice::from_ref(d.staking_output().unwrap()),
        &leaf,
    )
    .unwrap();
    let cb = info.control_block(Leaf::Unbonding).unwrap();
    tx.input[0].witness =
        Witness::from_slice(&[sig.serialize().to_vec(), leaf.to_bytes(), cb.serialize()]);
    tx
}

/// The undelegation message for `d`, signed by the staker.
pub fn undelegate_msg(d: &BtcDelegation, staker: &SecretKey) -> pb::MsgBtcUndelegate {
    pb::MsgBtcUndelegate {
        signer: RELAYER.to_string(),
        staking_txid: d.staking_txid.to_string(),
        unbonding_tx: bitcoin::consensus::serialize(&signed_unbonding_tx(d, staker)),
    }
}

/// The Merkle branch for `index` among `txids` (Bitcoin Core's tree: an odd level pairs its
/// last node with itself).
pub fn merkle_branch(txids: &[Txid], index: usize) -> Vec<TxMerkleNode> {
    let mut level: Vec<[u8; 32]> = txids.iter().map(|t| t.to_byte_array()).collect();
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

/// A coinbase-like first tx, unique per `tag`.
fn coinbase(tag: u64) -> Transaction {
    Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(tag.to_le_bytes().to_vec()),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(50_000),
            script_pubkey: ScriptBuf::new_op_return([0u8; 4]),
        }],
    }
}

/// A regtest header on `parent` committing to `txs` after a coinbase (tagged `tag`), with the
/// inclusion proof of each of `txs`.
pub fn mine_on(parent: &Header, txs: &[Transaction], tag: u64) -> (Header, Vec<TxInclusionProof>) {
    let mut all = vec![coinbase(tag)];
    all.extend_from_slice(txs);
    let txids: Vec<Txid> = all.iter().map(Transaction::compute_txid).collect();
    let root = bitcoin::merkle_tree::calculate_root(txids.iter().map(|t| t.to_raw_hash()))
        .map(TxMerkleNode::from_raw_hash)
        .unwrap();
    let mut h = Header {
        version: Version::from_consensus(0x2000_0000),
        prev_blockhash: parent.block_hash(),
        merkle_root: root,
        time: parent.time + 600,
        bits: CompactTarget::from_consensus(REGTEST_BITS),
        nonce: 0,
    };
    let target = h.target();
    while !target.is_met_by(h.block_hash()) {
        h.nonce += 1;
    }
    let hash = h.block_hash();
    let proofs = (1..all.len())
        .map(|i| TxInclusionProof {
            block_hash: hash,
            index: i as u32,
            branch: merkle_branch(&txids, i),
        })
        .collect();
    (h, proofs)
}

/// A state with the light client at the regtest genesis, the restaking params, and the
/// vector's operator registered; blocks are mined and messages sent through it.
pub struct Env {
    /// The state.
    pub s: MemState,
    /// The vector's keys.
    pub keys: Keys,
    /// The operator.
    pub op: OperatorId,
    /// The BTC staking rules of the params.
    pub rules: Rules,
    /// Hub height of the next message or end-block.
    pub hub_height: u64,
    tag: u64,
}

impl Env {
    /// [`Env::with_params`] with [`test_params`].
    pub fn new() -> Self {
        let k = keys();
        let p = test_params(&k);
        Self::with_params(k, p)
    }

    /// The environment under `p`.
    pub fn with_params(keys: Keys, p: Params) -> Self {
        let mut s = MemState::new();
        ballast_btclightclient::GenesisState::default()
            .apply(&mut s)
            .unwrap();
        ballast_accounts::GenesisState::default()
            .apply(&mut s)
            .unwrap();
        params::store(&mut s, &p).unwrap();
        let op = OperatorId::from_secret_key(&keys.operator);
        operator::register(
            &mut s,
            &OperatorRegistration {
                owner: OWNER,
                id: op,
                consensus_pubkey: Some([0x11; 32]),
                commission: "0.05".parse().unwrap(),
                description: Description {
                    moniker: "vector operator".into(),
                    ..Description::default()
                },
            },
            1,
        )
        .unwrap();
        s.take_events();
        let rules = staking_rules(&p.btc).unwrap();
        Env {
            s,
            keys,
            op,
            rules,
            hub_height: 10,
            tag: 0,
        }
    }

    /// A valid draft of `value` sat for `staking_time` blocks, unique per `seed`.
    pub fn draft(&self, value: u64, staking_time: u32, seed: u64) -> Draft {
        Draft::new(&self.keys, &self.rules, value, staking_time, seed)
    }

    /// The light client's tip.
    pub fn tip(&self) -> (u64, Header) {
        let t = self.s.btc_tip().unwrap();
        (t.height, t.header)
    }

    /// Mines a block carrying `txs` on `parent` (the tip when `None`) and inserts it. Returns
    /// its hash and the proofs of `txs`.
    pub fn mine_at(
        &mut self,
        parent: Option<BlockHash>,
        txs: &[Transaction],
    ) -> (BlockHash, Vec<TxInclusionProof>) {
        let parent = match parent {
            None => self.tip().1,
            Some(h) => self.s.btc_header_by_hash(&h).unwrap().unwrap().header,
        };
        self.tag += 1;
        let (h, proofs) = mine_on(&parent, txs, self.tag);
        insert_headers(&mut self.s, &UncheckedHeaders::new(vec![h]).unwrap()).unwrap();
        (h.block_hash(), proofs)
    }

    /// Mines a block carrying `txs` on the tip.
    pub fn mine(&mut self, txs: &[Transaction]) -> (BlockHash, Vec<TxInclusionProof>) {
        self.mine_at(None, txs)
    }

    /// Mines `n` empty blocks on the tip.
    pub fn mine_empty(&mut self, n: usize) {
        let (_, mut parent) = self.tip();
        let mut headers = Vec::with_capacity(n);
        for _ in 0..n {
            self.tag += 1;
            let (h, _) = mine_on(&parent, &[], self.tag);
            headers.push(h);
            parent = h;
        }
        for chunk in headers.chunks(2000) {
            insert_headers(&mut self.s, &UncheckedHeaders::new(chunk.to_vec()).unwrap()).unwrap();
        }
    }

    /// Mines empty blocks until the tip is at `height`.
    pub fn mine_to(&mut self, height: u64) {
        let tip = self.tip().0;
        assert!(height >= tip, "tip {tip} is past {height}");
        self.mine_empty((height - tip) as usize);
    }

    /// Sends a message the way the tx pipeline does: the `Any` is decoded by the delegation
    /// module, checked statelessly and executed on an overlay that is applied only on success.
    pub fn send<M: Message>(&mut self, type_url: &str, m: &M) -> Result<(), TxError> {
        let any = prost_types::Any {
            type_url: type_url.to_string(),
            value: m.encode_to_vec(),
        };
        let msg = crate::delegation::decode_msg(&any).expect("a delegation message")?;
        msg.check_stateless()?;
        let block = BlockContext {
            chain_id: "ballast-test".into(),
            height: self.hub_height,
            ..BlockContext::default()
        };
        let signers = msg.signers();
        let ctx = TxContext {
            block: &block,
            tx_hash: [0; 32],
            signers: &signers,
        };
        let changes = {
            let mut o = Overlay::new(&self.s);
            msg.execute(&mut o, &ctx)?;
            o.into_changes()
        };
        changes.apply_to(&mut self.s).unwrap();
        Ok(())
    }

    /// Sends a `MsgCreateBtcDelegation`.
    pub fn create(&mut self, m: &pb::MsgCreateBtcDelegation) -> Result<(), TxError> {
        self.send("/ballast.restaking.v1.MsgCreateBtcDelegation", m)
    }

    /// Sends a `MsgAddCovenantSigs`.
    pub fn cov(&mut self, m: &pb::MsgAddCovenantSigs) -> Result<(), TxError> {
        self.send("/ballast.restaking.v1.MsgAddCovenantSigs", m)
    }

    /// Sends a `MsgAddBtcInclusionProof` for `txid`.
    pub fn prove(&mut self, txid: &StakingTxid, proof: &TxInclusionProof) -> Result<(), TxError> {
        let m = pb::MsgAddBtcInclusionProof {
            signer: RELAYER.to_string(),
            staking_txid: txid.to_string(),
            proof: Some(inclusion_proof_to_proto(proof)),
        };
        self.send("/ballast.restaking.v1.MsgAddBtcInclusionProof", &m)
    }

    /// Sends covenant member `i`'s signatures.
    pub fn sign_as(&mut self, txid: &StakingTxid, i: usize) {
        let d = self.get(txid);
        let m = covenant_msg(&d, &self.keys.covenants[i].clone());
        self.cov(&m).unwrap();
    }

    /// Sends covenant signatures of the first `n` members.
    pub fn quorum(&mut self, txid: &StakingTxid, n: usize) {
        for i in 0..n {
            self.sign_as(txid, i);
        }
    }

    /// The stored delegation.
    pub fn get(&self, txid: &StakingTxid) -> BtcDelegation {
        use crate::delegation::BtcDelegationRead;
        self.s.require_btc_delegation(txid).unwrap()
    }

    /// Runs the delegation end-block at the current hub height, then moves to the next.
    pub fn end_block(&mut self) -> Vec<Transition> {
        let out = crate::delegation::lifecycle::end_block(&mut self.s, self.hub_height).unwrap();
        self.hub_height += 1;
        out
    }

    /// The operator's satoshis and power in the live table.
    pub fn power(&self) -> (u64, u64) {
        use crate::PowerTableRead;
        let p = self.s.operator_power(&self.op).unwrap().unwrap_or_default();
        (p.btc_sat, p.power)
    }

    /// Creates a delegation of `value` sat, mines its staking tx and buries it k deep, gathers
    /// the quorum and proves it: an ACTIVE delegation.
    pub fn active(&mut self, value: u64, staking_time: u32, seed: u64) -> StakingTxid {
        let d = self.draft(value, staking_time, seed);
        self.create(&d.msg()).unwrap();
        let (_, proofs) = self.mine(std::slice::from_ref(&d.staking_tx));
        self.mine_empty(3);
        self.quorum(&d.txid(), 2);
        self.prove(&d.txid(), &proofs[0]).unwrap();
        d.txid()
    }
}
