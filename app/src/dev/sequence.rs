//! CometBFT v0.38's consensus call sequence, written once and used by both the dev chain's block
//! producer and the mock-consensus test harness (`ballast-tests`).
//!
//! For each height `h`, as CometBFT does:
//! 1. the proposer's node gets `PrepareProposal` with its mempool txs and the extended commit of
//!    `h-1` (`local_last_commit`, carrying every vote extension);
//! 2. every node gets `ProcessProposal` for the proposed block;
//! 3. every validator gets `ExtendVote`; every node gets `VerifyVoteExtension` for the extensions
//!    of the validators it does not run;
//! 4. every node gets `FinalizeBlock` for the decided block, then `Commit`;
//! 5. the mempool txs not in the block are rechecked (`CheckTx` with type Recheck).
//!
//! On (re)connection a node gets CometBFT's handshake ([`handshake`]): `Info`, `InitChain` if it
//! reports height 0, then `FinalizeBlock` + `Commit` replay of every stored block it has not
//! committed, each checked against the app hash recorded for it.

use crate::App;
use prost::bytes::Bytes;
use tendermint_proto::google::protobuf::Timestamp;
use tendermint_proto::v0_38::abci as pb;

/// `BlockIDFlagCommit`: the validator signed the block.
pub const BLOCK_ID_FLAG_COMMIT: i32 = 2;

/// The ABCI calls CometBFT makes on its consensus and mempool connections. `Err` means the app
/// failed or the connection broke; the message says which call and why.
pub trait ConsensusConnection {
    /// Info.
    fn info(&mut self) -> Result<pb::ResponseInfo, String>;
    /// InitChain.
    fn init_chain(&mut self, r: pb::RequestInitChain) -> Result<pb::ResponseInitChain, String>;
    /// PrepareProposal.
    fn prepare_proposal(
        &mut self,
        r: pb::RequestPrepareProposal,
    ) -> Result<pb::ResponsePrepareProposal, String>;
    /// ProcessProposal; `true` = accept.
    fn process_proposal(&mut self, r: pb::RequestProcessProposal) -> Result<bool, String>;
    /// ExtendVote; the extension bytes.
    fn extend_vote(&mut self, r: pb::RequestExtendVote) -> Result<Vec<u8>, String>;
    /// VerifyVoteExtension; `true` = accept.
    fn verify_vote_extension(&mut self, r: pb::RequestVerifyVoteExtension) -> Result<bool, String>;
    /// FinalizeBlock.
    fn finalize_block(
        &mut self,
        r: pb::RequestFinalizeBlock,
    ) -> Result<pb::ResponseFinalizeBlock, String>;
    /// Commit.
    fn commit(&mut self) -> Result<pb::ResponseCommit, String>;
    /// CheckTx.
    fn check_tx(&mut self, r: pb::RequestCheckTx) -> Result<pb::ResponseCheckTx, String>;
}

impl ConsensusConnection for App {
    fn info(&mut self) -> Result<pb::ResponseInfo, String> {
        Ok(App::info(self))
    }
    fn init_chain(&mut self, r: pb::RequestInitChain) -> Result<pb::ResponseInitChain, String> {
        App::init_chain(self, r).map_err(|e| e.to_string())
    }
    fn prepare_proposal(
        &mut self,
        r: pb::RequestPrepareProposal,
    ) -> Result<pb::ResponsePrepareProposal, String> {
        App::prepare_proposal(self, r).map_err(|e| e.to_string())
    }
    fn process_proposal(&mut self, r: pb::RequestProcessProposal) -> Result<bool, String> {
        App::process_proposal(self, r).map_err(|e| e.to_string())
    }
    fn extend_vote(&mut self, r: pb::RequestExtendVote) -> Result<Vec<u8>, String> {
        App::extend_vote(self, r).map_err(|e| e.to_string())
    }
    fn verify_vote_extension(&mut self, r: pb::RequestVerifyVoteExtension) -> Result<bool, String> {
        App::verify_vote_extension(self, r).map_err(|e| e.to_string())
    }
    fn finalize_block(
        &mut self,
        r: pb::RequestFinalizeBlock,
    ) -> Result<pb::ResponseFinalizeBlock, String> {
        App::finalize_block(self, r).map_err(|e| e.to_string())
    }
    fn commit(&mut self) -> Result<pb::ResponseCommit, String> {
        App::commit(self).map_err(|e| e.to_string())
    }
    fn check_tx(&mut self, r: pb::RequestCheckTx) -> Result<pb::ResponseCheckTx, String> {
        App::check_tx(self, r).map_err(|e| e.to_string())
    }
}

/// Why a height (or the handshake) could not be completed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    /// A node failed a call.
    #[error("node {node} failed {call} at height {height}: {message}")]
    Call {
        /// Index of the node.
        node: usize,
        /// The ABCI call.
        call: &'static str,
        /// The height being decided (0 in the handshake before any block).
        height: i64,
        /// What the node said.
        message: String,
    },
    /// A node rejected the proposal in ProcessProposal.
    #[error("node {node} rejected the proposal at height {height}")]
    ProposalRejected {
        /// Index of the node.
        node: usize,
        /// Height.
        height: i64,
    },
    /// A node rejected a validator's vote extension.
    #[error("node {node} rejected the vote extension of validator {validator} at height {height}")]
    ExtensionRejected {
        /// Index of the node.
        node: usize,
        /// Index of the validator.
        validator: usize,
        /// Height.
        height: i64,
    },
    /// Nodes disagree on the result of a block, or a node disagrees with what was recorded.
    #[error("divergence at height {height}: {detail}")]
    Diverged {
        /// Height.
        height: i64,
        /// What differs.
        detail: String,
    },
    /// The block source cannot serve what the handshake needs.
    #[error("handshake: {0}")]
    Handshake(String),
    /// A proposer or voter names a node that is not in the list.
    #[error("no node {0} in the node list")]
    NoSuchNode(usize),
}

/// A validator taking part in consensus, and the node that runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Voter {
    /// Consensus address.
    pub address: [u8; 20],
    /// Voting power.
    pub power: i64,
    /// Index of the node (in the `nodes` slice) that runs this validator.
    pub node: usize,
}

/// What the proposer of a height works from.
#[derive(Clone, Debug)]
pub struct Proposal {
    /// Height.
    pub height: i64,
    /// Block time.
    pub time: Timestamp,
    /// Proposer address.
    pub proposer: [u8; 20],
    /// Index of the proposer's node.
    pub proposer_node: usize,
    /// Candidate txs from the proposer's mempool, in order.
    pub txs: Vec<Bytes>,
    /// Size limit for the block's txs.
    pub max_tx_bytes: i64,
    /// The extended commit of the previous height (empty at the first height).
    pub local_last_commit: pb::ExtendedCommitInfo,
    /// Hash of the next validator set.
    pub next_validators_hash: Bytes,
}

/// The outcome of steps 1-3: the decided block's txs and hash, and every vote extension.
#[derive(Clone, Debug)]
pub struct Decision {
    /// The txs PrepareProposal returned.
    pub txs: Vec<Bytes>,
    /// The block hash.
    pub hash: [u8; 32],
    /// The commit of the previous height, as FinalizeBlock's `decided_last_commit`.
    pub last_commit: pb::CommitInfo,
    /// Each voter's extension, in the order of `voters`.
    pub extensions: Vec<Vec<u8>>,
}

/// The plain commit info of an extended one (what ProcessProposal and FinalizeBlock see).
pub fn commit_info(ext: &pb::ExtendedCommitInfo) -> pb::CommitInfo {
    pb::CommitInfo {
        round: ext.round,
        votes: ext
            .votes
            .iter()
            .map(|v| pb::VoteInfo {
                validator: v.validator.clone(),
                block_id_flag: v.block_id_flag,
            })
            .collect(),
    }
}

/// The extended commit of a decided height: every voter signed the block, with its extension
/// and the extension signature `sign(i, extension)` gives.
pub fn extended_commit(
    voters: &[Voter],
    extensions: &[Vec<u8>],
    mut sign: impl FnMut(usize, &[u8]) -> Vec<u8>,
) -> pb::ExtendedCommitInfo {
    pb::ExtendedCommitInfo {
        round: 0,
        votes: voters
            .iter()
            .zip(extensions)
            .enumerate()
            .map(|(i, (v, ext))| pb::ExtendedVoteInfo {
                validator: Some(pb::Validator {
                    address: Bytes::copy_from_slice(&v.address),
                    power: v.power,
                }),
                vote_extension: Bytes::copy_from_slice(ext),
                extension_signature: sign(i, ext).into(),
                block_id_flag: BLOCK_ID_FLAG_COMMIT,
            })
            .collect(),
    }
}

fn call_err(node: usize, call: &'static str, height: i64) -> impl FnOnce(String) -> SequenceError {
    move |message| SequenceError::Call {
        node,
        call,
        height,
        message,
    }
}

/// Steps 1-3 of a height. `hash_block` turns the proposed txs into the block hash (the dev chain
/// builds a real header; the mock uses a stand-in). With `verify_own_extensions`, a node also
/// verifies the extensions of the validators it runs; CometBFT skips those, but a single-node
/// chain would otherwise never exercise VerifyVoteExtension.
pub fn decide(
    nodes: &mut [&mut dyn ConsensusConnection],
    voters: &[Voter],
    p: &Proposal,
    verify_own_extensions: bool,
    hash_block: impl FnOnce(&[Bytes]) -> Result<[u8; 32], String>,
) -> Result<Decision, SequenceError> {
    let h = p.height;
    let proposer = Bytes::copy_from_slice(&p.proposer);
    let prep = nodes
        .get_mut(p.proposer_node)
        .ok_or(SequenceError::NoSuchNode(p.proposer_node))?
        .prepare_proposal(pb::RequestPrepareProposal {
            max_tx_bytes: p.max_tx_bytes,
            txs: p.txs.clone(),
            local_last_commit: Some(p.local_last_commit.clone()),
            misbehavior: Vec::new(),
            height: h,
            time: Some(p.time),
            next_validators_hash: p.next_validators_hash.clone(),
            proposer_address: proposer.clone(),
        })
        .map_err(call_err(p.proposer_node, "PrepareProposal", h))?;
    let txs = prep.txs;
    let hash = hash_block(&txs).map_err(|detail| SequenceError::Diverged { height: h, detail })?;
    let hash_b = Bytes::copy_from_slice(&hash);
    let last_commit = commit_info(&p.local_last_commit);
    let process = pb::RequestProcessProposal {
        txs: txs.clone(),
        proposed_last_commit: Some(last_commit.clone()),
        misbehavior: Vec::new(),
        hash: hash_b.clone(),
        height: h,
        time: Some(p.time),
        next_validators_hash: p.next_validators_hash.clone(),
        proposer_address: proposer.clone(),
    };
    for (i, n) in nodes.iter_mut().enumerate() {
        let ok = n
            .process_proposal(process.clone())
            .map_err(call_err(i, "ProcessProposal", h))?;
        if !ok {
            return Err(SequenceError::ProposalRejected { node: i, height: h });
        }
    }
    let mut extensions = Vec::with_capacity(voters.len());
    for v in voters {
        let n = nodes
            .get_mut(v.node)
            .ok_or(SequenceError::NoSuchNode(v.node))?;
        extensions.push(
            n.extend_vote(pb::RequestExtendVote {
                hash: hash_b.clone(),
                height: h,
                time: Some(p.time),
                txs: txs.clone(),
                proposed_last_commit: Some(last_commit.clone()),
                misbehavior: Vec::new(),
                next_validators_hash: p.next_validators_hash.clone(),
                proposer_address: proposer.clone(),
            })
            .map_err(call_err(v.node, "ExtendVote", h))?,
        );
    }
    for (ni, n) in nodes.iter_mut().enumerate() {
        for (vi, v) in voters.iter().enumerate() {
            if v.node == ni && !verify_own_extensions {
                continue;
            }
            let ok = n
                .verify_vote_extension(pb::RequestVerifyVoteExtension {
                    hash: hash_b.clone(),
                    validator_address: Bytes::copy_from_slice(&v.address),
                    height: h,
                    vote_extension: Bytes::copy_from_slice(&extensions[vi]),
                })
                .map_err(call_err(ni, "VerifyVoteExtension", h))?;
            if !ok {
                return Err(SequenceError::ExtensionRejected {
                    node: ni,
                    validator: vi,
                    height: h,
                });
            }
        }
    }
    Ok(Decision {
        txs,
        hash,
        last_commit,
        extensions,
    })
}

/// A decided block, as FinalizeBlock receives it.
#[derive(Clone, Debug)]
pub struct DecidedRef<'a> {
    /// Height.
    pub height: i64,
    /// Txs.
    pub txs: &'a [Bytes],
    /// Block hash.
    pub hash: [u8; 32],
    /// Block time.
    pub time: Timestamp,
    /// Proposer address.
    pub proposer: [u8; 20],
    /// Commit of the previous height.
    pub last_commit: &'a pb::CommitInfo,
    /// Hash of the next validator set.
    pub next_validators_hash: Bytes,
}

/// The FinalizeBlock request for a decided block (misbehavior is always empty).
pub fn finalize_request(b: &DecidedRef<'_>) -> pb::RequestFinalizeBlock {
    pb::RequestFinalizeBlock {
        txs: b.txs.to_vec(),
        decided_last_commit: Some(b.last_commit.clone()),
        misbehavior: Vec::new(),
        hash: Bytes::copy_from_slice(&b.hash),
        height: b.height,
        time: Some(b.time),
        next_validators_hash: b.next_validators_hash.clone(),
        proposer_address: Bytes::copy_from_slice(&b.proposer),
    }
}

/// Step 4a: FinalizeBlock on every node. Every node must return one result per tx and the same
/// app hash; the first node's response is returned. Nothing is committed yet.
pub fn finalize_all(
    nodes: &mut [&mut dyn ConsensusConnection],
    req: &pb::RequestFinalizeBlock,
) -> Result<pb::ResponseFinalizeBlock, SequenceError> {
    let h = req.height;
    let mut first: Option<pb::ResponseFinalizeBlock> = None;
    for (i, n) in nodes.iter_mut().enumerate() {
        let resp = n
            .finalize_block(req.clone())
            .map_err(call_err(i, "FinalizeBlock", h))?;
        if resp.tx_results.len() != req.txs.len() {
            return Err(SequenceError::Diverged {
                height: h,
                detail: format!(
                    "node {i} returned {} results for {} txs",
                    resp.tx_results.len(),
                    req.txs.len()
                ),
            });
        }
        match &first {
            None => first = Some(resp),
            Some(f) if f.app_hash != resp.app_hash => {
                return Err(SequenceError::Diverged {
                    height: h,
                    detail: format!(
                        "node {i} computed app hash {}, node 0 {}",
                        hex::encode(&resp.app_hash),
                        hex::encode(&f.app_hash)
                    ),
                })
            }
            Some(_) => {}
        }
    }
    first.ok_or(SequenceError::NoSuchNode(0))
}

/// Step 4b: Commit on every node.
pub fn commit_all(
    nodes: &mut [&mut dyn ConsensusConnection],
    height: i64,
) -> Result<(), SequenceError> {
    for (i, n) in nodes.iter_mut().enumerate() {
        n.commit().map_err(call_err(i, "Commit", height))?;
    }
    Ok(())
}

/// Step 5: rechecks `txs` (CheckTx type Recheck) in order; returns each response.
pub fn recheck(
    node: &mut dyn ConsensusConnection,
    txs: &[Bytes],
    height: i64,
) -> Result<Vec<pb::ResponseCheckTx>, SequenceError> {
    txs.iter()
        .map(|t| {
            node.check_tx(pb::RequestCheckTx {
                tx: t.clone(),
                r#type: pb::CheckTxType::Recheck as i32,
            })
            .map_err(call_err(0, "CheckTx", height))
        })
        .collect()
}

/// What CometBFT's handshake reads from its block store and state.
pub trait BlockSource {
    /// The InitChain request built from genesis.
    fn init_chain_request(&self) -> pb::RequestInitChain;
    /// Records what InitChain returned (the genesis app hash); `Err` if it contradicts what
    /// was recorded before.
    fn on_init_chain(&mut self, resp: &pb::ResponseInitChain) -> Result<(), String>;
    /// The first height of the chain.
    fn initial_height(&self) -> i64;
    /// The last height the store holds a decided block for (`initial_height - 1` if none).
    fn last_stored_height(&self) -> i64;
    /// The app hash recorded after executing the block at `height`, if any node executed it.
    fn app_hash_after(&self, height: i64) -> Result<Option<Vec<u8>>, String>;
    /// The FinalizeBlock request of the stored block at `height`.
    fn finalize_request(&self, height: i64) -> Result<pb::RequestFinalizeBlock, String>;
    /// Records the result of a replayed block whose result was not recorded yet.
    fn on_replayed(&mut self, height: i64, resp: &pb::ResponseFinalizeBlock) -> Result<(), String>;
}

/// What the handshake did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HandshakeOutcome {
    /// Whether InitChain was called.
    pub init_chain: bool,
    /// The heights replayed.
    pub replayed: Vec<i64>,
    /// The app's last committed height afterwards.
    pub app_height: i64,
}

/// CometBFT's handshake: Info; InitChain if the app reports height 0; a check that the app's
/// last app hash is the recorded one; then FinalizeBlock + Commit for every stored block the app
/// has not committed, each checked against the recorded app hash (or recorded, if the block was
/// never executed).
pub fn handshake(
    node: &mut dyn ConsensusConnection,
    src: &mut dyn BlockSource,
) -> Result<HandshakeOutcome, SequenceError> {
    let info = node.info().map_err(call_err(0, "Info", 0))?;
    let mut out = HandshakeOutcome::default();
    let mut app_height = info.last_block_height;
    let stored = src.last_stored_height();
    if app_height == 0 {
        let resp =
            node.init_chain(src.init_chain_request())
                .map_err(call_err(0, "InitChain", 0))?;
        src.on_init_chain(&resp)
            .map_err(|detail| SequenceError::Diverged { height: 0, detail })?;
        out.init_chain = true;
        app_height = src.initial_height() - 1;
    } else {
        if app_height > stored {
            return Err(SequenceError::Handshake(format!(
                "the app has committed height {app_height} but the block store ends at {stored}"
            )));
        }
        let recorded = src
            .app_hash_after(app_height)
            .map_err(SequenceError::Handshake)?
            .ok_or_else(|| {
                SequenceError::Handshake(format!(
                    "the app has committed height {app_height} but no result is recorded for it"
                ))
            })?;
        if recorded != info.last_block_app_hash.to_vec() {
            return Err(SequenceError::Diverged {
                height: app_height,
                detail: format!(
                    "the app reports app hash {}, the store recorded {}",
                    hex::encode(&info.last_block_app_hash),
                    hex::encode(&recorded)
                ),
            });
        }
    }
    while app_height < stored {
        let h = app_height + 1;
        let req = src.finalize_request(h).map_err(SequenceError::Handshake)?;
        let resp = node
            .finalize_block(req)
            .map_err(call_err(0, "FinalizeBlock", h))?;
        match src.app_hash_after(h).map_err(SequenceError::Handshake)? {
            None => src
                .on_replayed(h, &resp)
                .map_err(SequenceError::Handshake)?,
            Some(recorded) if recorded != resp.app_hash.to_vec() => {
                return Err(SequenceError::Diverged {
                    height: h,
                    detail: format!(
                        "replay gave app hash {}, the store recorded {}",
                        hex::encode(&resp.app_hash),
                        hex::encode(&recorded)
                    ),
                })
            }
            Some(_) => {}
        }
        node.commit().map_err(call_err(0, "Commit", h))?;
        out.replayed.push(h);
        app_height = h;
    }
    out.app_height = app_height;
    Ok(out)
}
