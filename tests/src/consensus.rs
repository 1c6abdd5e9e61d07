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

use crate::driver::Abci;
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
}

fn validator(addr: &[u8; 20]) -> pb::Validator {
    pb::Validator {
        address: Bytes::copy_from_slice(addr),
        power: 10,
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
        pb::RequestInitChain {
            time: Some(Self::time(0)),
            chain_id: self.chain_id.clone(),
            consensus_params: None,
            validators: Vec::new(),
            app_state_bytes: serde_json::to_vec(&self.app_state)
                .expect("JSON values serialise")
                .into(),
            initial_height: 1,
        }
    }

    /// CometBFT's handshake: Info, InitChain at height 0, then replay of the decided blocks the
    /// node lacks. Checks every replayed app hash against the decided one.
    pub fn handshake(&mut self, node: &mut dyn Abci) -> Result<(), String> {
        let info = node.info()?;
        let mut app_height = info.last_block_height;
        if app_height == 0 {
            let resp = node.init_chain(self.init_request())?;
            if self.genesis_app_hash.is_empty() {
                self.genesis_app_hash = resp.app_hash.to_vec();
            } else if self.genesis_app_hash != resp.app_hash.to_vec() {
                return Err("InitChain returned a different genesis app hash".into());
            }
        } else {
            let expected = &self
                .blocks
                .get(app_height as usize - 1)
                .ok_or("node is ahead of the chain")?
                .app_hash;
            if expected != &info.last_block_app_hash.to_vec() {
                return Err(format!(
                    "node reports app hash {} at {app_height}, chain has {}",
                    hex::encode(&info.last_block_app_hash),
                    hex::encode(expected)
                ));
            }
        }
        while (app_height as usize) < self.blocks.len() {
            let b = self.blocks[app_height as usize].clone();
            let resp = node.finalize_block(Self::finalize_request(&b))?;
            if b.app_hash.is_empty() {
                // The block was decided but no node finished executing it before a crash.
                let stored = &mut self.blocks[app_height as usize];
                stored.app_hash = resp.app_hash.to_vec();
                stored.tx_results = resp.tx_results.clone();
                stored.events = resp.events.clone();
            } else if resp.app_hash.to_vec() != b.app_hash {
                return Err(format!(
                    "replay of height {} gave app hash {}, chain has {}",
                    b.height,
                    hex::encode(&resp.app_hash),
                    hex::encode(&b.app_hash)
                ));
            }
            node.commit()?;
            app_height += 1;
        }
        Ok(())
    }

    fn finalize_request(b: &DecidedBlock) -> pb::RequestFinalizeBlock {
        pb::RequestFinalizeBlock {
            txs: b.txs.iter().map(|t| Bytes::copy_from_slice(t)).collect(),
            decided_last_commit: Some(b.last_commit.clone()),
            misbehavior: Vec::new(),
            hash: Bytes::copy_from_slice(&b.hash),
            height: b.height,
            time: Some(b.time),
            next_validators_hash: Bytes::from(vec![0u8; 32]),
            proposer_address: Bytes::copy_from_slice(&b.proposer),
        }
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
        let node_for_proposer = proposer_idx % nodes.len();

        let prep = nodes[node_for_proposer].prepare_proposal(pb::RequestPrepareProposal {
            max_tx_bytes: self.max_tx_bytes,
            txs: mempool.iter().map(|t| Bytes::copy_from_slice(t)).collect(),
            local_last_commit: Some(self.last_extended.clone()),
            misbehavior: Vec::new(),
            height,
            time: Some(time),
            next_validators_hash: Bytes::from(vec![0u8; 32]),
            proposer_address: Bytes::copy_from_slice(&proposer),
        })?;
        let txs: Vec<Vec<u8>> = prep.txs.iter().map(|t| t.to_vec()).collect();
        let hash = block_hash(
            height,
            &txs,
            self.blocks.last().map(|b| b.hash).unwrap_or_default(),
        );
        let last_commit = pb::CommitInfo {
            round: 0,
            votes: self
                .last_extended
                .votes
                .iter()
                .map(|v| pb::VoteInfo {
                    validator: v.validator.clone(),
                    block_id_flag: v.block_id_flag,
                })
                .collect(),
        };
        let process = pb::RequestProcessProposal {
            txs: prep.txs.clone(),
            proposed_last_commit: Some(last_commit.clone()),
            misbehavior: Vec::new(),
            hash: Bytes::copy_from_slice(&hash),
            height,
            time: Some(time),
            next_validators_hash: Bytes::from(vec![0u8; 32]),
            proposer_address: Bytes::copy_from_slice(&proposer),
        };
        for (i, n) in nodes.iter_mut().enumerate() {
            if !n.process_proposal(process.clone())? {
                return Err(format!("node {i} rejected the proposal at height {height}"));
            }
        }
        // Vote extensions: validator i runs on node i % nodes.len().
        let mut extensions = Vec::with_capacity(self.validators.len());
        for (vi, _) in self.validators.iter().enumerate() {
            let n = &mut nodes[vi % nodes.len()];
            extensions.push(n.extend_vote(pb::RequestExtendVote {
                hash: Bytes::copy_from_slice(&hash),
                height,
                time: Some(time),
                txs: prep.txs.clone(),
                proposed_last_commit: Some(last_commit.clone()),
                misbehavior: Vec::new(),
                next_validators_hash: Bytes::from(vec![0u8; 32]),
                proposer_address: Bytes::copy_from_slice(&proposer),
            })?);
        }
        let n_nodes = nodes.len();
        for (ni, n) in nodes.iter_mut().enumerate() {
            for (vi, v) in self.validators.iter().enumerate() {
                if vi % n_nodes == ni {
                    continue;
                }
                let ok = n.verify_vote_extension(pb::RequestVerifyVoteExtension {
                    hash: Bytes::copy_from_slice(&hash),
                    validator_address: Bytes::copy_from_slice(v),
                    height,
                    vote_extension: Bytes::copy_from_slice(&extensions[vi]),
                })?;
                if !ok {
                    return Err(format!("node {ni} rejected the vote extension of validator {vi} at height {height}"));
                }
            }
        }
        let mut decided = DecidedBlock {
            height,
            txs,
            hash,
            time,
            proposer,
            app_hash: Vec::new(),
            tx_results: Vec::new(),
            events: Vec::new(),
            last_commit,
        };
        let req = Self::finalize_request(&decided);
        // CometBFT stores a decided block before executing it, so a node that dies in
        // FinalizeBlock or Commit gets the block again in the handshake's replay.
        self.blocks.push(decided.clone());
        self.last_extended = pb::ExtendedCommitInfo {
            round: 0,
            votes: self
                .validators
                .iter()
                .zip(extensions)
                .map(|(v, ext)| pb::ExtendedVoteInfo {
                    validator: Some(validator(v)),
                    vote_extension: ext.into(),
                    extension_signature: Bytes::from(vec![0u8; 64]),
                    block_id_flag: 2,
                })
                .collect(),
        };
        for (i, n) in nodes.iter_mut().enumerate() {
            let resp = n.finalize_block(req.clone())?;
            if resp.tx_results.len() != decided.txs.len() {
                return Err(format!(
                    "node {i} returned {} results for {} txs",
                    resp.tx_results.len(),
                    decided.txs.len()
                ));
            }
            if decided.app_hash.is_empty() {
                decided.app_hash = resp.app_hash.to_vec();
                decided.tx_results = resp.tx_results;
                decided.events = resp.events;
                let stored = self.blocks.last_mut().expect("pushed above");
                *stored = decided.clone();
            } else if resp.app_hash.to_vec() != decided.app_hash {
                return Err(format!(
                    "node {i} diverged at height {height}: {} vs {}",
                    hex::encode(&resp.app_hash),
                    hex::encode(&decided.app_hash)
                ));
            }
        }
        for n in nodes.iter_mut() {
            n.commit()?;
        }
        // Recheck what is left in the mempool, as CometBFT does after every commit.
        let left: Vec<Vec<u8>> = mempool
            .into_iter()
            .filter(|t| !decided.txs.contains(t))
            .collect();
        let mut kept = Vec::new();
        for t in left {
            let r = nodes[0].check_tx(pb::RequestCheckTx {
                tx: Bytes::copy_from_slice(&t),
                r#type: pb::CheckTxType::Recheck as i32,
            })?;
            if r.code == 0 {
                kept.push(t);
            }
        }
        Ok((decided, kept))
    }
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
