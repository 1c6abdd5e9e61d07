//! The single-validator block producer: CometBFT's handshake on open, then one height at a time
//! through [`super::sequence`], with the block stored before it is executed (as CometBFT does).

use super::block::{self, BlockInput};
use super::blockstore::{BlockStore, StoredBlock};
use super::home::DevSetup;
use super::mempool::{Mempool, MempoolError, MempoolTx};
use super::sequence::{self, BlockSource, ConsensusConnection, DecidedRef, Proposal, Voter};
use super::DevError;
use crate::App;
use prost::bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tendermint::block::{Commit, CommitSig};
use tendermint::{Hash, Time};
use tendermint_proto::v0_38::abci as pb;
use tendermint_proto::v0_38::types as raw;

/// The chain after its last committed block.
#[derive(Clone, Debug)]
pub struct Tip {
    /// Height.
    pub height: i64,
    /// The block's id.
    pub block_id: tendermint::block::Id,
    /// The block's header time.
    pub time: Time,
    /// The app hash in the block's header (the state after the previous block).
    pub header_app_hash: Vec<u8>,
    /// The commit of this block (its signature's time is the next block's time).
    pub commit: Commit,
    /// The votes with extensions (the next PrepareProposal's `local_last_commit`).
    pub extended: pb::ExtendedCommitInfo,
    /// The app hash after executing this block.
    pub app_hash: Vec<u8>,
    /// The hash of this block's results.
    pub results_hash: Hash,
}

/// What admitting a tx to the mempool gave.
#[derive(Clone, Debug)]
pub enum Admission {
    /// Rejected before CheckTx (duplicate, mempool full, too large).
    Refused(MempoolError),
    /// CheckTx ran; admitted if its code is 0.
    Checked(pb::ResponseCheckTx),
}

/// The producer's state. Every ABCI call happens under the lock that guards this value, so
/// calls never overlap.
pub struct Core {
    pub(crate) app: App,
    pub(crate) mempool: Mempool,
    pub(crate) store: Arc<BlockStore>,
    pub(crate) setup: Arc<DevSetup>,
    pub(crate) tip: Option<Tip>,
    genesis_app_hash: Option<Vec<u8>>,
}

fn store_err(e: impl std::fmt::Display) -> DevError {
    DevError::Store(e.to_string())
}

fn tx_hash(tx: &[u8]) -> [u8; 32] {
    crate::tx::tx_hash(tx)
}

fn h64(h: i64) -> u64 {
    u64::try_from(h).unwrap_or(0)
}

/// The handshake's view of the block store.
struct StoreSource<'a> {
    store: &'a BlockStore,
    setup: &'a DevSetup,
    last: i64,
    genesis_app_hash: &'a mut Option<Vec<u8>>,
}

impl StoreSource<'_> {
    fn stored(&self, height: i64) -> Result<StoredBlock, String> {
        self.store
            .block(h64(height))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("the block store has no block at height {height}"))
    }
}

impl BlockSource for StoreSource<'_> {
    fn init_chain_request(&self) -> pb::RequestInitChain {
        self.setup.init_chain_request()
    }

    fn on_init_chain(&mut self, resp: &pb::ResponseInitChain) -> Result<(), String> {
        if self.last >= self.setup.initial_height {
            let first = self.stored(self.setup.initial_height)?;
            let header_hash = first
                .block
                .and_then(|b| b.header)
                .map(|h| h.app_hash)
                .unwrap_or_default();
            if header_hash != resp.app_hash.to_vec() {
                return Err(format!(
                    "InitChain returned app hash {}, the first stored block has {}",
                    hex::encode(&resp.app_hash),
                    hex::encode(&header_hash)
                ));
            }
        }
        *self.genesis_app_hash = Some(resp.app_hash.to_vec());
        Ok(())
    }

    fn initial_height(&self) -> i64 {
        self.setup.initial_height
    }

    fn last_stored_height(&self) -> i64 {
        self.last
    }

    fn app_hash_after(&self, height: i64) -> Result<Option<Vec<u8>>, String> {
        Ok(self
            .store
            .results(h64(height))
            .map_err(|e| e.to_string())?
            .map(|r| r.app_hash.to_vec()))
    }

    fn finalize_request(&self, height: i64) -> Result<pb::RequestFinalizeBlock, String> {
        let s = self.stored(height)?;
        let b = s.block.ok_or("stored block without a block")?;
        let header = b.header.ok_or("stored block without a header")?;
        let hash: [u8; 32] = s
            .block_id
            .as_ref()
            .and_then(|id| id.hash.as_slice().try_into().ok())
            .ok_or("stored block without a 32-byte hash")?;
        let txs: Vec<Bytes> = b
            .data
            .map(|d| d.txs.into_iter().map(Bytes::from).collect())
            .unwrap_or_default();
        let proposer: [u8; 20] = header
            .proposer_address
            .as_slice()
            .try_into()
            .map_err(|_| "stored header without a 20-byte proposer")?;
        let last_commit = last_commit_info(self.store, self.setup, height)?;
        Ok(sequence::finalize_request(&DecidedRef {
            height,
            txs: &txs,
            hash,
            time: header.time.unwrap_or_default(),
            proposer,
            last_commit: &last_commit,
            next_validators_hash: Bytes::from(header.next_validators_hash),
        }))
    }

    fn on_replayed(&mut self, height: i64, resp: &pb::ResponseFinalizeBlock) -> Result<(), String> {
        let s = self.stored(height)?;
        let hashes: Vec<[u8; 32]> = s
            .block
            .and_then(|b| b.data)
            .map(|d| d.txs.iter().map(|t| tx_hash(t)).collect())
            .unwrap_or_default();
        self.store
            .put_results(h64(height), &hashes, resp)
            .map_err(|e| e.to_string())
    }
}

/// The decided last commit of the block at `height`: the votes of `height - 1`.
fn last_commit_info(
    store: &BlockStore,
    setup: &DevSetup,
    height: i64,
) -> Result<pb::CommitInfo, String> {
    if height <= setup.initial_height {
        return Ok(pb::CommitInfo::default());
    }
    let prev = store
        .block(h64(height - 1))
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("the block store has no block at height {}", height - 1))?;
    Ok(sequence::commit_info(
        &prev.extended_commit.unwrap_or_default(),
    ))
}

fn load_tip(store: &BlockStore, height: i64) -> Result<Tip, DevError> {
    let s = store
        .block(h64(height))
        .map_err(store_err)?
        .ok_or_else(|| DevError::Store(format!("no block at height {height}")))?;
    let r = store
        .results(h64(height))
        .map_err(store_err)?
        .ok_or_else(|| DevError::Store(format!("no results for height {height}")))?;
    let raw_block = s
        .block
        .ok_or_else(|| DevError::Store("stored block without a block".into()))?;
    let block = tendermint::Block::try_from(raw_block)
        .map_err(|e| DevError::Store(format!("stored block at {height}: {e}")))?;
    let block_id = tendermint::block::Id::try_from(s.block_id.unwrap_or_default())
        .map_err(|e| DevError::Store(format!("stored block id at {height}: {e}")))?;
    let commit = Commit::try_from(s.seen_commit.unwrap_or_default())
        .map_err(|e| DevError::Store(format!("stored commit at {height}: {e}")))?;
    Ok(Tip {
        height,
        block_id,
        time: block.header.time,
        header_app_hash: block.header.app_hash.as_bytes().to_vec(),
        commit,
        extended: s.extended_commit.unwrap_or_default(),
        app_hash: r.app_hash.to_vec(),
        results_hash: block::results_hash(&r.tx_results),
    })
}

/// A produced block, as [`Core::produce`] reports it.
#[derive(Clone, Debug)]
pub struct Produced {
    /// Height.
    pub height: i64,
    /// Block hash.
    pub hash: [u8; 32],
    /// Number of txs in the block.
    pub txs: usize,
    /// The app hash after the block.
    pub app_hash: Vec<u8>,
    /// Mempool txs evicted by the recheck.
    pub evicted: usize,
}

impl Core {
    /// Opens the producer: runs the handshake (InitChain on a new chain, replay of stored
    /// blocks the app has not committed) and loads the tip.
    pub fn open(
        app: App,
        store: Arc<BlockStore>,
        setup: Arc<DevSetup>,
        mempool: Mempool,
    ) -> Result<(Core, sequence::HandshakeOutcome), DevError> {
        let last = match store.range().map_err(store_err)? {
            Some((_, last)) => i64::try_from(last).unwrap_or(i64::MAX),
            None => setup.initial_height - 1,
        };
        let mut genesis_app_hash = None;
        let mut node = app.clone();
        let outcome = {
            let mut src = StoreSource {
                store: &store,
                setup: &setup,
                last,
                genesis_app_hash: &mut genesis_app_hash,
            };
            sequence::handshake(&mut node, &mut src)?
        };
        let tip = if last >= setup.initial_height {
            Some(load_tip(&store, last)?)
        } else {
            None
        };
        if tip.is_none() && genesis_app_hash.is_none() {
            return Err(DevError::Store(
                "the app has committed blocks but the block store is empty".into(),
            ));
        }
        Ok((
            Core {
                app,
                mempool,
                store,
                setup,
                tip,
                genesis_app_hash,
            },
            outcome,
        ))
    }

    /// The chain's tip (`None` before the first block).
    pub fn tip(&self) -> Option<&Tip> {
        self.tip.as_ref()
    }

    /// CheckTx (type New) with the mempool's own checks around it.
    pub fn admit(&mut self, tx: Bytes) -> Result<Admission, DevError> {
        let hash = tx_hash(&tx);
        if let Err(e) = self.mempool.pre_check(&tx, hash) {
            return Ok(Admission::Refused(e));
        }
        let resp = match self.app.check_tx(pb::RequestCheckTx {
            tx: tx.clone(),
            r#type: pb::CheckTxType::New as i32,
        }) {
            Ok(r) => r,
            Err(e) => {
                self.mempool.reject(&hash);
                return Err(DevError::App(e.to_string()));
            }
        };
        if resp.code != 0 {
            self.mempool.reject(&hash);
            return Ok(Admission::Checked(resp));
        }
        let gas_wanted = resp.gas_wanted;
        if let Err(e) = self.mempool.admit(MempoolTx {
            tx,
            hash,
            gas_wanted,
        }) {
            return Ok(Admission::Refused(e));
        }
        Ok(Admission::Checked(resp))
    }

    /// Decides, stores, executes and commits the next block, then rechecks the mempool.
    pub fn produce(&mut self, now: Time) -> Result<Produced, DevError> {
        let setup = self.setup.clone();
        let (height, time, last_block_id, last_commit, local_last_commit, app_hash, results_hash) =
            match &self.tip {
                None => (
                    setup.initial_height,
                    setup.genesis_time(),
                    None,
                    None,
                    pb::ExtendedCommitInfo::default(),
                    self.genesis_app_hash
                        .clone()
                        .ok_or_else(|| DevError::Store("no genesis app hash".into()))?,
                    block::results_hash(&[]),
                ),
                Some(t) => (
                    t.height + 1,
                    vote_time(&t.commit).unwrap_or(t.time),
                    Some(t.block_id),
                    Some(t.commit.clone()),
                    t.extended.clone(),
                    t.app_hash.clone(),
                    t.results_hash,
                ),
            };
        let voters = [Voter {
            address: setup.address,
            power: i64::try_from(setup.validator.power()).unwrap_or(i64::MAX),
            node: 0,
        }];
        let proposal = Proposal {
            height,
            time: time.into(),
            proposer: setup.address,
            proposer_node: 0,
            txs: self.mempool.reap(setup.max_data_bytes, setup.max_gas),
            max_tx_bytes: setup.max_data_bytes,
            local_last_commit,
            next_validators_hash: setup.validators_hash_bytes(),
        };
        let mut node = self.app.clone();
        let mut built = None;
        let decision = {
            let mut nodes: [&mut dyn ConsensusConnection; 1] = [&mut node];
            sequence::decide(&mut nodes, &voters, &proposal, true, |txs| {
                let (b, id) = block::build_block(&BlockInput {
                    chain_id: &setup.chain_id,
                    app_version: crate::APP_VERSION,
                    height,
                    time,
                    last_block_id,
                    last_commit: last_commit.as_ref(),
                    txs,
                    validators_hash: setup.validators_hash,
                    consensus_hash: setup.consensus_hash,
                    app_hash: &app_hash,
                    last_results_hash: results_hash,
                    proposer: setup.account(),
                })?;
                let hash: [u8; 32] = id
                    .hash
                    .as_bytes()
                    .try_into()
                    .map_err(|_| "the header hash is not 32 bytes".to_string())?;
                built = Some((b, id));
                Ok(hash)
            })?
        };
        let (blk, block_id) = built.ok_or_else(|| DevError::Store("no block was built".into()))?;
        // CometBFT's vote time: now, but at least 1 ms after the block's time.
        let min_time = time
            .checked_add(Duration::from_millis(1))
            .ok_or_else(|| DevError::Store("block time overflows".into()))?;
        let signed_at = if now.after(min_time) { now } else { min_time };
        let commit = block::sign_commit(
            &setup.key,
            &setup.chain_id,
            height,
            block_id,
            signed_at,
            setup.account(),
        )
        .map_err(DevError::Store)?;
        let extended = sequence::extended_commit(&voters, &decision.extensions, |_, ext| {
            setup.sign(&block::extension_sign_bytes(&setup.chain_id, height, ext))
        });
        let stored = StoredBlock {
            block: Some(block::raw_block(&blk)),
            block_id: Some(block_id.into()),
            seen_commit: Some(raw::Commit::from(commit.clone())),
            extended_commit: Some(extended.clone()),
        };
        self.store
            .put_block(h64(height), &stored)
            .map_err(store_err)?;

        let req = sequence::finalize_request(&DecidedRef {
            height,
            txs: &decision.txs,
            hash: decision.hash,
            time: time.into(),
            proposer: setup.address,
            last_commit: &decision.last_commit,
            next_validators_hash: setup.validators_hash_bytes(),
        });
        let resp = {
            let mut nodes: [&mut dyn ConsensusConnection; 1] = [&mut node];
            sequence::finalize_all(&mut nodes, &req)?
        };
        let hashes: Vec<[u8; 32]> = decision.txs.iter().map(|t| tx_hash(t)).collect();
        self.store
            .put_results(h64(height), &hashes, &resp)
            .map_err(store_err)?;
        {
            let mut nodes: [&mut dyn ConsensusConnection; 1] = [&mut node];
            sequence::commit_all(&mut nodes, height)?;
        }
        self.tip = Some(Tip {
            height,
            block_id,
            time,
            header_app_hash: app_hash,
            commit,
            extended,
            app_hash: resp.app_hash.to_vec(),
            results_hash: block::results_hash(&resp.tx_results),
        });

        let committed: Vec<([u8; 32], bool)> = hashes
            .iter()
            .zip(&resp.tx_results)
            .map(|(h, r)| (*h, r.code == 0))
            .collect();
        let rest = self.mempool.update(&committed);
        let rechecked = sequence::recheck(&mut node, &rest, height)?;
        let keep: Vec<bool> = rechecked.iter().map(|r| r.code == 0).collect();
        let evicted = self.mempool.apply_recheck(&keep);
        if evicted > 0 {
            tracing::info!(height, evicted, "recheck evicted mempool txs");
        }
        Ok(Produced {
            height,
            hash: decision.hash,
            txs: decision.txs.len(),
            app_hash: resp.app_hash.to_vec(),
            evicted,
        })
    }
}

/// The time of the (single) signature of a commit.
fn vote_time(c: &Commit) -> Option<Time> {
    c.signatures.iter().find_map(|s| match s {
        CommitSig::BlockIdFlagCommit { timestamp, .. } => Some(*timestamp),
        _ => None,
    })
}
