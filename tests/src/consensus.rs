//! A mock CometBFT v0.38 that drives one or more nodes through the exact ABCI call sequence.
//!
//! For each height `h`, as CometBFT does:
//! 1. the proposer gets `PrepareProposal` with its mempool txs and the extended commit of `h-1`;
//! 2. every node gets `ProcessProposal` for the proposed block;
//! 3. every validator gets `ExtendVote`, and every node `VerifyVoteExtension` for each other
//!    validator's extension;
//! 4. every node gets `FinalizeBlock` for the decided block, then `Commit`;
//! 5. each node's mempool txs not in the block are rechecked (`CheckTx` with type Recheck).
//!
//! On (re)connection a node gets CometBFT's handshake: `Info`, `InitChain` if it reports height
//! 0, then `FinalizeBlock` + `Commit` replay of every decided block it has not committed.
//!
//! The call sequence itself is `ballast_app::dev::sequence`, the same code the `ballastd dev`
//! block producer runs; this harness adds several validators and nodes, a stand-in block hash and
//! an in-memory list of decided blocks.

use crate::driver::Abci;
use ballast_app::dev::sequence::{
    self, BlockSource, ConsensusConnection, DecidedRef, Proposal, Voter,
};
use prost::bytes::Bytes;
use sha2::{Digest, Sha256};
use tendermint_proto::google::protobuf::Timestamp;
use tendermint_proto::v0_38::abci::{self as pb};

/// A decided block, kept for replay.
#[derive(Clone, Debug)]
pub struct DecidedBlock {
    /// Height.
    pub height: i64,
    /// The block's txs.
    pub txs: Vec<Vec<u8>>,
    /// Synthetic block hash.
    pub hash: [u8; 32],
    /// Block time.
    pub time: Timestamp,
    /// Proposer address.
    pub proposer: [u8; 20],
    /// The app hash the reference node returned.
    pub app_hash: Vec<u8>,
    /// Results the reference node returned.
    pub tx_results: Vec<pb::ExecTxResult>,
    /// Block-level events the reference node returned.
    pub events: Vec<pb::Event>,
    /// Commit info of the previous height.
    pub last_commit: pb::CommitInfo,
}

/// A mock validator set and block producer.
pub struct MockConsensus {
    /// Chain id.
    pub chain_id: String,
    /// Validator addresses (all with power 10).
    pub validators: Vec<[u8; 20]>,
    /// Genesis app_state JSON.
    pub app_state: serde_json::Value,
    /// Decided blocks, by height order.
    pub blocks: Vec<DecidedBlock>,
    /// The app hash returned by InitChain.
    pub genesis_app_hash: Vec<u8>,
    last_extended: pb::ExtendedCommitInfo,
    /// The block size limit sent in PrepareProposal.
    pub max_tx_bytes: i64,
    /// The validators' ed25519 public keys, sent in InitChain (empty: InitChain names none).
    pub validator_pubkeys: Vec<[u8; 32]>,
}

/// The harness's `Abci` driver as the shared sequence's connection.
struct Conn<'a>(&'a mut dyn Abci);

impl ConsensusConnection for Conn<'_> {
    fn info(&mut self) -> Result<pb::ResponseInfo, String> {
        self.0.info()
    }
    fn init_chain(&mut self, r: pb::RequestInitChain) -> Result<pb::ResponseInitChain, String> {
        self.0.init_chain(r)
    }
    fn prepare_proposal(
        &mut self,
        r: pb::RequestPrepareProposal,
    ) -> Result<pb::ResponsePrepareProposal, String> {
        self.0.prepare_proposal(r)
    }
    fn process_proposal(&mut self, r: pb::RequestProcessProposal) -> Result<bool, String> {
        self.0.process_proposal(r)
    }
    fn extend_vote(&mut self, r: pb::RequestExtendVote) -> Result<Vec<u8>, String> {
        self.0.extend_vote(r)
    }
    fn verify_vote_extension(&mut self, r: pb::RequestVerifyVoteExtension) -> Result<bool, String> {
        self.0.verify_vote_extension(r)
    }
    fn finalize_block(
        &mut self,
        r: pb::RequestFinalizeBlock,
    ) -> Result<pb::ResponseFinalizeBlock, String> {
        self.0.finalize_block(r)
    }
    fn commit(&mut self) -> Result<pb::ResponseCommit, String> {
        self.0.commit()
    }
    fn check_tx(&mut self, r: pb::RequestCheckTx) -> Result<pb::ResponseCheckTx, String> {
        self.0.check_tx(r)
    }
}

/// Runs `f` with the nodes as the shared sequence's connections.
fn with_conns<T>(
    nodes: &mut [&mut dyn Abci],
    f: impl FnOnce(&mut [&mut dyn ConsensusConnection]) -> T,
) -> T {
    let mut conns: Vec<Conn<'_>> = nodes.iter_mut().map(|n| Conn(&mut **n)).collect();
    let mut refs: Vec<&mut dyn ConsensusConnection> = conns
        .iter_mut()
        .map(|c| c as &mut dyn ConsensusConnection)
        .collect();
    f(&mut refs)
}

/// The mock's decided blocks as the handshake's block source.
struct Decided<'a>(&'a mut MockConsensus);

impl BlockSource for Decided<'_> {
    fn init_chain_request(&self) -> pb::RequestInitChain {
        self.0.init_request()
    }
    fn on_init_chain(&mut self, resp: &pb::ResponseInitChain) -> Result<(), String> {
        if self.0.genesis_app_hash.is_empty() {
            self.0.genesis_app_hash = resp.app_hash.to_vec();
            Ok(())
        } else if self.0.genesis_app_hash != resp.app_hash.to_vec() {
            Err("InitChain returned a different genesis app hash".into())
        } else {
            Ok(())
        }
    }
    fn initial_height(&self) -> i64 {
        1
    }
    fn last_stored_height(&self) -> i64 {
        self.0.blocks.len() as i64
    }
    fn app_hash_after(&self, height: i64) -> Result<Option<Vec<u8>>, String> {
        let b = self
            .0
            .blocks
            .get((height - 1) as usize)
            .ok_or_else(|| format!("no decided block at height {height}"))?;
        // Empty: the block was decided but no node finished executing it before a crash.
        Ok((!b.app_hash.is_empty()).then(|| b.app_hash.clone()))
    }
    fn finalize_request(&self, height: i64) -> Result<pb::RequestFinalizeBlock, String> {
        let b = self
            .0
            .blocks
            .get((height - 1) as usize)
            .ok_or_else(|| format!("no decided block at height {height}"))?;
        Ok(MockConsensus::finalize_request(b))
    }
    fn on_replayed(&mut self, height: i64, resp: &pb::ResponseFinalizeBlock) -> Result<(), String> {
        let stored = &mut self.0.blocks[(height - 1) as usize];
        stored.app_hash = resp.app_hash.to_vec();
        stored.tx_results = resp.tx_results.clone();
        stored.events = resp.events.clone();
        Ok(())
    }
}

impl MockConsensus {
    /// A chain with `n_validators` validators.
    pub fn new(chain_id: &str, n_validators: usize, app_state: serde_json::Value) -> Self {
        let validators = (0..n_validators)
            .map(|i| {
                let d = Sha256::digest(format!("validator-{i}").as_bytes());
                let mut a = [0u8; 20];
                a.copy_from_slice(&d[..20]);
                a
            })
            .collect();
        MockConsensus {
            chain_id: chain_id.into(),
            validators,
            app_state,
            blocks: Vec::new(),
            genesis_app_hash: Vec::new(),
            last_extended: pb::ExtendedCommitInfo::default(),
            max_tx_bytes: 22_020_096,
            validator_pubkeys: Vec::new(),
        }
    }

    /// A chain whose validators are these ed25519 public keys (power 10 each), named in
    /// InitChain as CometBFT names genesis validators; their addresses are CometBFT's
    /// (first 20 bytes of SHA-256 over the key).
    pub fn with_validator_keys(
        chain_id: &str,
        pubkeys: &[[u8; 32]],
        app_state: serde_json::Value,
    ) -> Self {
        let mut m = MockConsensus::new(chain_id, 0, app_state);
        m.validators = pubkeys.iter().map(consensus_address).collect();
        m.validator_pubkeys = pubkeys.to_vec();
        m
    }

    /// The extended commit of the last decided height, as the next proposer gets it in
    /// PrepareProposal's `local_last_commit`.
    pub fn last_extended_commit(&self) -> &pb::ExtendedCommitInfo {
        &self.last_extended
    }

    /// The index (in `validators`) of the proposer of `height`.
    pub fn proposer_index(&self, height: i64) -> usize {
        (height as usize) % self.validators.len()
    }

    /// The PrepareProposal request the proposer of the next height gets, with `txs` from its
    /// mempool.
    pub fn prepare_request(&self, txs: &[Vec<u8>]) -> pb::RequestPrepareProposal {
        let height = self.next_height();
        pb::RequestPrepareProposal {
            max_tx_bytes: self.max_tx_bytes,
            txs: txs.iter().map(|t| Bytes::copy_from_slice(t)).collect(),
            local_last_commit: Some(self.last_extended.clone()),
            misbehavior: Vec::new(),
            height,
            time: Some(Self::time(height)),
            next_validators_hash: Bytes::from(vec![0u8; 32]),
            proposer_address: Bytes::copy_from_slice(&self.validators[self.proposer_index(height)]),
        }
    }

    /// The ProcessProposal request for a block of the next height carrying `txs`, with
    /// `last_commit` as its commit of the previous height.
    pub fn process_request(
        &self,
        txs: &[Bytes],
        last_commit: pb::CommitInfo,
    ) -> pb::RequestProcessProposal {
        let height = self.next_height();
        let prev = self.blocks.last().map(|b| b.hash).unwrap_or_default();
        let plain: Vec<Vec<u8>> = txs.iter().map(|t| t.to_vec()).collect();
        pb::RequestProcessProposal {
            txs: txs.to_vec(),
            proposed_last_commit: Some(last_commit),
            misbehavior: Vec::new(),
            hash: Bytes::copy_from_slice(&block_hash(height, &plain, prev)),
            height,
            time: Some(Self::time(height)),
            next_validators_hash: Bytes::from(vec![0u8; 32]),
            proposer_address: Bytes::copy_from_slice(&self.validators[self.proposer_index(height)]),
        }
    }

    /// The next height to decide.
    pub fn next_height(&self) -> i64 {
        self.blocks.len() as i64 + 1
    }

    fn time(height: i64) -> Timestamp {
        Timestamp {
            seconds: 1_700_000_000 + height * 5,
            nanos: 0,
        }
    }

    fn init_request(&self) -> pb::RequestInitChain {
        use tendermint_proto::v0_38::crypto::{public_key::Sum, PublicKey};
        pb::RequestInitChain {
            time: Some(Self::time(0)),
            chain_id: self.chain_id.clone(),
            consensus_params: None,
            validators: self
                .validator_pubkeys
                .iter()
                .map(|k| pb::ValidatorUpdate {
                    pub_key: Some(PublicKey {
                        sum: Some(Sum::Ed25519(k.to_vec())),
                    }),
                    power: 10,
                })
                .collect(),
            app_state_bytes: serde_json::to_vec(&self.app_state)
                .expect("JSON values serialise")
                .into(),
            initial_height: 1,
        }
    }

    /// CometBFT's handshake: Info, InitChain at height 0, then replay of the decided blocks the
    /// node lacks. Checks every replayed app hash against the decided one.
    pub fn handshake(&mut self, node: &mut dyn Abci) -> Result<(), String> {
        sequence::handshake(&mut Conn(node), &mut Decided(self))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn finalize_request(b: &DecidedBlock) -> pb::RequestFinalizeBlock {
        let txs: Vec<Bytes> = b.txs.iter().map(|t| Bytes::copy_from_slice(t)).collect();
        sequence::finalize_request(&DecidedRef {
            height: b.height,
            txs: &txs,
            hash: b.hash,
            time: b.time,
            proposer: b.proposer,
            last_commit: &b.last_commit,
            next_validators_hash: Bytes::from(vec![0u8; 32]),
        })
    }

    /// Submits txs to a node's mempool (CheckTx, type New); returns each response.
    pub fn check_txs(
        node: &mut dyn Abci,
        txs: &[Vec<u8>],
    ) -> Result<Vec<pb::ResponseCheckTx>, String> {
        txs.iter()
            .map(|t| {
                node.check_tx(pb::RequestCheckTx {
                    tx: Bytes::copy_from_slice(t),
                    r#type: pb::CheckTxType::New as i32,
                })
            })
            .collect()
    }

    /// Decides one block proposed by `nodes[proposer_idx]` from `mempool`, running the full
    /// call sequence on every node. Every node must return the same app hash. Txs the
    /// proposer's PrepareProposal dropped stay in the returned mempool.
    pub fn produce_block(
        &mut self,
        nodes: &mut [&mut dyn Abci],
        mempool: Vec<Vec<u8>>,
    ) -> Result<(DecidedBlock, Vec<Vec<u8>>), String> {
        let height = self.next_height();
        let proposer_idx = (height as usize) % self.validators.len();
        let proposer = self.validators[proposer_idx];
        let time = Self::time(height);
        // Validator i runs on node i % nodes.len().
        let voters: Vec<Voter> = self
            .validators
            .iter()
            .enumerate()
            .map(|(i, v)| Voter {
                address: *v,
                power: 10,
                node: i % nodes.len(),
            })
            .collect();
        let proposal = Proposal {
            height,
            time,
            proposer,
            proposer_node: proposer_idx % nodes.len(),
            txs: mempool.iter().map(|t| Bytes::copy_from_slice(t)).collect(),
            max_tx_bytes: self.max_tx_bytes,
            local_last_commit: self.last_extended.clone(),
            next_validators_hash: Bytes::from(vec![0u8; 32]),
        };
        let prev = self.blocks.last().map(|b| b.hash).unwrap_or_default();
        let decision = with_conns(nodes, |conns| {
            sequence::decide(conns, &voters, &proposal, false, |txs| {
                let txs: Vec<Vec<u8>> = txs.iter().map(|t| t.to_vec()).collect();
                Ok(block_hash(height, &txs, prev))
            })
        })
        .map_err(|e| e.to_string())?;
        let mut decided = DecidedBlock {
            height,
            txs: decision.txs.iter().map(|t| t.to_vec()).collect(),
            hash: decision.hash,
            time,
            proposer,
            app_hash: Vec::new(),
            tx_results: Vec::new(),
            events: Vec::new(),
            last_commit: decision.last_commit.clone(),
        };
        let req = Self::finalize_request(&decided);
        // CometBFT stores a decided block before executing it, so a node that dies in
        // FinalizeBlock or Commit gets the block again in the handshake's replay.
        self.blocks.push(decided.clone());
        self.last_extended =
            sequence::extended_commit(&voters, &decision.extensions, |_, _| vec![0u8; 64]);
        let resp = with_conns(nodes, |conns| sequence::finalize_all(conns, &req))
            .map_err(|e| e.to_string())?;
        decided.app_hash = resp.app_hash.to_vec();
        decided.tx_results = resp.tx_results;
        decided.events = resp.events;
        *self.blocks.last_mut().expect("pushed above") = decided.clone();
        with_conns(nodes, |conns| sequence::commit_all(conns, height))
            .map_err(|e| e.to_string())?;
        // Recheck what is left in the mempool, as CometBFT does after every commit.
        let left: Vec<Bytes> = mempool
            .into_iter()
            .filter(|t| !decided.txs.contains(t))
            .map(Bytes::from)
            .collect();
        let rechecked = sequence::recheck(&mut Conn(&mut *nodes[0]), &left, height)
            .map_err(|e| e.to_string())?;
        let kept = left
            .into_iter()
            .zip(rechecked)
            .filter(|(_, r)| r.code == 0)
            .map(|(t, _)| t.to_vec())
            .collect();
        Ok((decided, kept))
    }
}

/// CometBFT's address of an ed25519 validator key (the first 20 bytes of its SHA-256).
pub fn consensus_address(pubkey: &[u8; 32]) -> [u8; 20] {
    ballast_checkpointing::register::consensus_key_address(pubkey).0
}

/// A deterministic stand-in for CometBFT's block hash.
pub fn block_hash(height: i64, txs: &[Vec<u8>], prev: [u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(height.to_be_bytes());
    h.update(prev);
    for t in txs {
        h.update(Sha256::digest(t));
    }
    h.finalize().into()
}
