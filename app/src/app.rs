//! The Ballast application: a deterministic state machine driven by CometBFT's ABCI 2.0 calls.
//!
//! Every consensus call takes the consensus lock, so they run strictly one after another.
//! FinalizeBlock executes on an overlay of the last committed version and stages the new JMT
//! version; Commit persists it atomically. Info reports only committed state, so after a crash
//! CometBFT's handshake replays exactly the blocks the app has not committed.

use crate::config::{AppConfig, FaultPoint};
use crate::hooks::{self, ConsensusHook, ExtendedVote, VoteContext};
use crate::metrics::Metrics;
use crate::modules::all_modules;
use crate::storage::{RootHash, Snapshot, StagedVersion, Storage, StorageConfig, StorageError};
use crate::{abci_convert as conv, tx};
use ballast_framework::{
    BlockContext, Changes, Event, GenesisError, KvIter, MemState, Module, Overlay, StateError,
    StateRead, StateReadExt, StateWrite, StateWriteExt, TxError,
};
use ballast_proto::ballast::app::v1::{ChainInfo, TxEvent, TxEventAttribute, TxRecord};
use prost::Message;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tendermint_proto::v0_38::abci as pb;

/// Key of the chain facts fixed at genesis.
pub const CHAIN_INFO_KEY: &str = "app/chain_info";

/// The ABCI query path of tx simulation, as Cosmos SDK chains serve it (CosmJS's `simulate`
/// reaches it through CometBFT's `abci_query`). Data: `SimulateRequest`; value:
/// `SimulateResponse`.
pub const SIMULATE_QUERY_PATH: &str = "/cosmos.tx.v1beta1.Service/Simulate";

/// Default epoch length when genesis names none.
pub const DEFAULT_EPOCH_LENGTH: u64 = 10;

/// Why the app cannot go on. Every one of these halts the node: continuing could diverge.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// A module or the pipeline hit a node failure.
    #[error("fatal execution error: {0}")]
    Fatal(TxError),
    /// Genesis is invalid.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// The app_state JSON is malformed.
    #[error("invalid app_state: {0}")]
    AppState(String),
    /// CometBFT asked for a height the app cannot execute.
    #[error("unexpected height {got}: the app expects {expected}")]
    UnexpectedHeight {
        /// Expected.
        expected: u64,
        /// Requested.
        got: i64,
    },
    /// Commit without a finalized block.
    #[error("commit without a finalized block")]
    NoPendingBlock,
    /// A call that needs genesis came before InitChain.
    #[error("the chain has no genesis yet: InitChain must come first")]
    NotInitialized,
    /// InitChain on a store that already has committed blocks.
    #[error("InitChain on a store that already has committed height {0}")]
    AlreadyInitialized(u64),
    /// A malformed request from CometBFT.
    #[error("malformed request: {0}")]
    BadRequest(String),
}

impl From<TxError> for AppError {
    fn from(e: TxError) -> Self {
        AppError::Fatal(e)
    }
}

impl From<StateError> for AppError {
    fn from(e: StateError) -> Self {
        AppError::Fatal(e.into())
    }
}

/// A read-only base for execution: the last committed version, or genesis before block one.
#[derive(Clone)]
pub enum BaseState {
    /// A committed version.
    Committed(Snapshot),
    /// The genesis state of a chain with no committed block yet.
    Genesis(Arc<MemState>),
}

impl StateRead for BaseState {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self {
            BaseState::Committed(s) => s.get_raw(key),
            BaseState::Genesis(m) => m.get_raw(key),
        }
    }
    fn prefix_raw<'a>(&'a self, prefix: &[u8]) -> KvIter<'a> {
        match self {
            BaseState::Committed(s) => s.prefix_raw(prefix),
            BaseState::Genesis(m) => m.prefix_raw(prefix),
        }
    }
}

struct GenesisPending {
    state: Arc<MemState>,
}

struct PendingBlock {
    height: u64,
    staged: StagedVersion,
}

struct ConsensusState {
    genesis: Option<GenesisPending>,
    pending: Option<PendingBlock>,
    chain: Option<ChainInfo>,
}

struct MempoolState {
    base: Option<BaseState>,
    changes: Changes,
    height: u64,
}

/// The application. Cheap to clone: every clone shares the same state.
#[derive(Clone)]
pub struct App {
    storage: Arc<Storage>,
    modules: Arc<Vec<Box<dyn Module>>>,
    hooks: Arc<Vec<Arc<dyn ConsensusHook>>>,
    consensus: Arc<Mutex<ConsensusState>>,
    mempool: Arc<Mutex<MempoolState>>,
    config: Arc<AppConfig>,
    metrics: Arc<Metrics>,
    /// The last committed height (0 before the first block), sent after every Commit.
    commits: Arc<tokio::sync::watch::Sender<u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a thread panicked mid-call; the panic hook has already stopped the
    // process in a node, and in tests the data is still the last consistent value.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl App {
    /// Opens (or creates) the app's store under `config.home`.
    /// Every node runs the checkpointing hook, which signs with `config.bls_key` when set.
    pub fn open(config: AppConfig) -> Result<App, AppError> {
        let hooks = crate::checkpoint_hook::consensus_hooks(config.bls_key.clone());
        Self::open_with_hooks(config, hooks)
    }

    /// Opens the app with exactly these consensus hooks (vote extensions, injected txs); tests
    /// use it to run other hooks than [`App::open`]'s.
    pub fn open_with_hooks(
        config: AppConfig,
        hooks: Vec<Arc<dyn ConsensusHook>>,
    ) -> Result<App, AppError> {
        let mut kinds: Vec<u8> = hooks.iter().map(|h| h.kind()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        if kinds.len() != hooks.len() {
            return Err(AppError::BadRequest(
                "two consensus hooks share a kind byte".into(),
            ));
        }
        let storage = Storage::open(
            &config.db_dir(),
            StorageConfig {
                keep_recent: config.keep_recent,
            },
        )?;
        let app = App {
            storage: Arc::new(storage),
            modules: Arc::new(all_modules()),
            hooks: Arc::new(hooks),
            consensus: Arc::new(Mutex::new(ConsensusState {
                genesis: None,
                pending: None,
                chain: None,
            })),
            mempool: Arc::new(Mutex::new(MempoolState {
                base: None,
                changes: Changes::default(),
                height: 0,
            })),
            config: Arc::new(config),
            metrics: Arc::new(Metrics::new()),
            commits: Arc::new(tokio::sync::watch::channel(0).0),
        };
        if let Some(snap) = app.storage.latest_snapshot()? {
            let chain = read_chain_info(&snap)?;
            let height = snap.version();
            lock(&app.consensus).chain = Some(chain);
            app.reset_mempool(BaseState::Committed(snap), height + 1);
            app.commits.send_replace(height);
        }
        Ok(app)
    }

    /// The storage engine (for queries and tests).
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The modules in execution order.
    pub fn modules(&self) -> &[Box<dyn Module>] {
        &self.modules
    }

    /// Stops the app for a clean exit: waits for the consensus call in progress (so no block is
    /// half-committed), drops the mempool's snapshot and closes the store. The last committed
    /// block stays durable and the next start resumes from it; later calls fail.
    pub fn shutdown(&self) {
        let _consensus = lock(&self.consensus);
        lock(&self.mempool).base = None;
        self.storage.close();
    }

    /// The node's Prometheus metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Follows commits: the receiver holds the last committed height (0 before the first
    /// block) and is marked changed after every Commit, once the new version is readable.
    /// Heights may be skipped when the receiver lags; read the latest state on each wake.
    pub fn subscribe_commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }

    fn reset_mempool(&self, base: BaseState, height: u64) {
        let mut mp = lock(&self.mempool);
        mp.base = Some(base);
        mp.changes = Changes::default();
        mp.height = height;
        // Rechecks after the commit re-admit what is left in the mempool.
        self.metrics.mempool_size.set(0);
    }

    fn fault(&self, point: FaultPoint, height: u64) {
        if let Some((p, h)) = self.config.fault {
            if p == point && h == height {
                crate::config::kill_self(point, height);
            }
        }
    }

    /// ABCI Info: the last committed height and app hash.
    pub fn info(&self) -> pb::ResponseInfo {
        let (height, hash) = match self.storage.latest() {
            Some((h, root)) => (h, root.to_vec()),
            None => (0, Vec::new()),
        };
        pb::ResponseInfo {
            data: "ballast".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            app_version: crate::APP_VERSION,
            last_block_height: i64::try_from(height).unwrap_or(i64::MAX),
            last_block_app_hash: hash.into(),
        }
    }

    /// ABCI InitChain: every module's genesis in the fixed order. Nothing is persisted until the
    /// first block commits, so a crash before that simply repeats InitChain.
    pub fn init_chain(&self, req: pb::RequestInitChain) -> Result<pb::ResponseInitChain, AppError> {
        let mut cs = lock(&self.consensus);
        if let Some((h, _)) = self.storage.latest() {
            return Err(AppError::AlreadyInitialized(h));
        }
        let app_state: serde_json::Value = if req.app_state_bytes.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::from_slice(&req.app_state_bytes)
                .map_err(|e| AppError::AppState(e.to_string()))?
        };
        let sections = app_state
            .as_object()
            .ok_or_else(|| AppError::AppState("app_state is not a JSON object".into()))?;
        for key in sections.keys() {
            if key != "app" && !self.modules.iter().any(|m| m.name() == key) {
                return Err(AppError::AppState(format!(
                    "unknown genesis section {key:?}"
                )));
            }
        }
        let initial_height = u64::try_from(req.initial_height.max(1)).unwrap_or(1);
        let epoch_length = match sections.get("app").and_then(|a| a.get("epoch_length")) {
            None => DEFAULT_EPOCH_LENGTH,
            Some(v) => v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                AppError::AppState(format!(
                    "app.epoch_length must be a positive integer, got {v}"
                ))
            })?,
        };
        if req.chain_id.is_empty() {
            return Err(AppError::AppState("empty chain id".into()));
        }
        let chain = ChainInfo {
            chain_id: req.chain_id.clone(),
            initial_height,
            epoch_length,
        };
        let ctx = BlockContext {
            chain_id: req.chain_id.clone(),
            height: initial_height,
            time: conv::timestamp(req.time.as_ref()),
            ..Default::default()
        };
        let mut state = MemState::new();
        state.put_proto(CHAIN_INFO_KEY, &chain)?;
        for m in self.modules.iter() {
            m.init_genesis(&mut state, &ctx, sections.get(m.name()))?;
        }
        let genesis_validators = genesis_validator_set(&state, &req.validators)?;
        let validators_from_app = restaking_manages_validators(&state)?;
        init_checkpointing(&mut state, &chain, &genesis_validators)?;
        let writes: BTreeMap<Vec<u8>, Option<Vec<u8>>> = state
            .entries()
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        let root = Storage::genesis_root(&writes)?;
        let state = Arc::new(state);
        cs.genesis = Some(GenesisPending {
            state: state.clone(),
        });
        cs.pending = None;
        cs.chain = Some(chain);
        drop(cs);
        self.reset_mempool(BaseState::Genesis(state), initial_height);
        tracing::info!(chain_id = %req.chain_id, initial_height, app_hash = %hex::encode(root), "genesis applied");
        // With restaking operators in genesis the set is the app's, and CometBFT adopts it;
        // without, CometBFT keeps genesis.json's (and the set never changes).
        let validators = if req.validators.is_empty() || validators_from_app {
            genesis_validators
        } else {
            Vec::new()
        };
        Ok(pb::ResponseInitChain {
            consensus_params: None,
            validators,
            app_hash: root.to_vec().into(),
        })
    }

    fn base(&self, cs: &ConsensusState) -> Result<BaseState, AppError> {
        if let Some(snap) = self.storage.latest_snapshot()? {
            return Ok(BaseState::Committed(snap));
        }
        match &cs.genesis {
            Some(g) => Ok(BaseState::Genesis(g.state.clone())),
            None => Err(AppError::NotInitialized),
        }
    }

    fn expected_height(&self, cs: &ConsensusState) -> Result<u64, AppError> {
        match self.storage.latest() {
            Some((h, _)) => Ok(h + 1),
            None => cs
                .chain
                .as_ref()
                .map(|c| c.initial_height)
                .ok_or(AppError::NotInitialized),
        }
    }

    fn chain<'a>(&self, cs: &'a ConsensusState) -> Result<&'a ChainInfo, AppError> {
        cs.chain.as_ref().ok_or(AppError::NotInitialized)
    }

    /// The epoch that ends at `height`, if it is the last block of one. Epoch 1 starts at the
    /// initial height.
    pub fn epoch_ending_at(chain: &ChainInfo, height: u64) -> Option<u64> {
        let offset = height.checked_sub(chain.initial_height)?.checked_add(1)?;
        (offset % chain.epoch_length == 0).then(|| offset / chain.epoch_length)
    }

    /// ABCI PrepareProposal: injected txs from the hooks first, then mempool txs that still pass
    /// the stateless checks, up to `max_tx_bytes`.
    pub fn prepare_proposal(
        &self,
        req: pb::RequestPrepareProposal,
    ) -> Result<pb::ResponsePrepareProposal, AppError> {
        let cs = lock(&self.consensus);
        let base = self.base(&cs)?;
        let chain = self.chain(&cs)?;
        let ctx = conv::block_context(
            chain,
            req.height,
            req.time.as_ref(),
            &req.proposer_address,
            &[],
            &req.misbehavior,
        )?;
        let votes = conv::extended_votes(req.local_last_commit.as_ref())?;
        let params = tx::load_params(&base)?;
        let max_bytes = usize::try_from(req.max_tx_bytes).unwrap_or(0);
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut used = 0usize;
        for h in self.hooks.iter() {
            let votes_for_hook: Vec<ExtendedVote> = votes
                .iter()
                .map(|v| ExtendedVote {
                    extension: split_extension(&v.extension, h.kind()).unwrap_or_default(),
                    ..v.clone()
                })
                .collect();
            if let Some(payload) = h.prepare(&base, &ctx, &votes_for_hook)? {
                let framed = hooks::frame_injected(h.kind(), &payload);
                used = used.saturating_add(framed.len());
                out.push(framed);
            }
        }
        for t in &req.txs {
            if hooks::parse_injected(t).is_some() {
                continue;
            }
            match tx::decode_and_check(t, &params, &self.modules) {
                Ok(_) => {}
                Err(e) if e.fatal => return Err(e.into()),
                Err(_) => continue,
            }
            if used.saturating_add(t.len()) > max_bytes {
                continue;
            }
            used += t.len();
            out.push(t.to_vec());
        }
        Ok(pb::ResponsePrepareProposal {
            txs: out.into_iter().map(Into::into).collect(),
        })
    }

    /// ABCI ProcessProposal: accept only if every injected tx is in front, known and valid,
    /// every hook agrees with what was (or was not) injected, and every user tx decodes.
    pub fn process_proposal(&self, req: pb::RequestProcessProposal) -> Result<bool, AppError> {
        let cs = lock(&self.consensus);
        let base = self.base(&cs)?;
        let chain = self.chain(&cs)?;
        let ctx = match conv::block_context(
            chain,
            req.height,
            req.time.as_ref(),
            &req.proposer_address,
            &req.hash,
            &req.misbehavior,
        ) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "rejecting proposal");
                return Ok(false);
            }
        };
        let params = tx::load_params(&base)?;
        let mut injected: BTreeMap<u8, &[u8]> = BTreeMap::new();
        let mut user_seen = false;
        for (i, t) in req.txs.iter().enumerate() {
            match hooks::parse_injected(t) {
                Some((kind, payload)) => {
                    if user_seen || i >= hooks::MAX_INJECTED_TXS {
                        tracing::warn!(
                            index = i,
                            "rejecting proposal: injected tx after position {}",
                            hooks::MAX_INJECTED_TXS - 1
                        );
                        return Ok(false);
                    }
                    if !self.hooks.iter().any(|h| h.kind() == kind)
                        || injected.insert(kind, payload).is_some()
                    {
                        tracing::warn!(
                            kind,
                            "rejecting proposal: unknown or repeated injected tx kind"
                        );
                        return Ok(false);
                    }
                }
                None => {
                    user_seen = true;
                    match tx::decode_and_check(t, &params, &self.modules) {
                        Ok(_) => {}
                        Err(e) if e.fatal => return Err(e.into()),
                        Err(e) => {
                            tracing::warn!(index = i, error = %e, "rejecting proposal: undecodable tx");
                            return Ok(false);
                        }
                    }
                }
            }
        }
        let last_commit = match conv::commit_votes(req.proposed_last_commit.as_ref()) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "rejecting proposal: malformed last commit");
                return Ok(false);
            }
        };
        for h in self.hooks.iter() {
            if let Err(e) = h.verify(&base, &ctx, &last_commit, injected.get(&h.kind()).copied()) {
                if e.fatal {
                    return Err(e.into());
                }
                tracing::warn!(kind = h.kind(), error = %e, "rejecting proposal: injected data is wrong");
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// ABCI ExtendVote: every hook's extension, framed as (kind, u32 length, bytes).
    pub fn extend_vote(&self, req: pb::RequestExtendVote) -> Result<Vec<u8>, AppError> {
        let cs = lock(&self.consensus);
        let base = self.base(&cs)?;
        let ctx = VoteContext {
            height: conv::height(req.height)?,
            block_hash: conv::hash32(&req.hash)?,
        };
        let mut out = Vec::new();
        for h in self.hooks.iter() {
            let ext = h.extend_vote(&base, &ctx)?;
            if !ext.is_empty() {
                frame_extension(&mut out, h.kind(), &ext);
            }
        }
        Ok(out)
    }

    /// ABCI VerifyVoteExtension: rejects malformed framing, unknown kinds and anything a hook
    /// rejects.
    pub fn verify_vote_extension(
        &self,
        req: pb::RequestVerifyVoteExtension,
    ) -> Result<bool, AppError> {
        let cs = lock(&self.consensus);
        let base = self.base(&cs)?;
        let (Ok(height), Ok(block_hash), Ok(validator)) = (
            conv::height(req.height),
            conv::hash32(&req.hash),
            <[u8; 20]>::try_from(req.validator_address.as_ref()),
        ) else {
            return Ok(false);
        };
        let Some(parts) = parse_extensions(&req.vote_extension) else {
            return Ok(false);
        };
        if parts
            .keys()
            .any(|k| !self.hooks.iter().any(|h| h.kind() == *k))
        {
            return Ok(false);
        }
        let ctx = VoteContext { height, block_hash };
        for h in self.hooks.iter() {
            let part = parts.get(&h.kind()).copied().unwrap_or(&[]);
            if let Err(e) = h.verify_vote_extension(&base, &ctx, validator, part) {
                if e.fatal {
                    return Err(e.into());
                }
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// ABCI FinalizeBlock: begin-block hooks, injected txs, user txs, end-block and end-epoch
    /// hooks, then the new root is computed and the version staged (not yet persisted).
    pub fn finalize_block(
        &self,
        req: pb::RequestFinalizeBlock,
    ) -> Result<pb::ResponseFinalizeBlock, AppError> {
        let _timer = Metrics::timer(&self.metrics.block_execution);
        self.metrics.observe_block(req.txs.len());
        let mut cs = lock(&self.consensus);
        let expected = self.expected_height(&cs)?;
        if u64::try_from(req.height).ok() != Some(expected) {
            return Err(AppError::UnexpectedHeight {
                expected,
                got: req.height,
            });
        }
        let base = self.base(&cs)?;
        let chain = self.chain(&cs)?.clone();
        let ctx = conv::block_context(
            &chain,
            req.height,
            req.time.as_ref(),
            &req.proposer_address,
            &req.hash,
            &req.misbehavior,
        )?;
        let modules = &self.modules;
        let mut block = Overlay::new(&base);

        for m in modules.iter() {
            m.begin_block(&mut block, &ctx)
                .map_err(|e| AppError::Fatal(e.context(format!("begin-block of {}", m.name()))))?;
        }
        let params = tx::load_params(&block)?;
        let mut tx_results = Vec::with_capacity(req.txs.len());
        let mut records = BTreeMap::new();
        let half = req.txs.len() / 2;
        for (i, t) in req.txs.iter().enumerate() {
            if i == half {
                self.fault(FaultPoint::MidFinalize, expected);
            }
            let outcome = match hooks::parse_injected(t) {
                Some((kind, payload)) => self.apply_injected(&mut block, &ctx, kind, payload)?,
                None => {
                    let mut tx_state = Overlay::new(&block);
                    let outcome = tx::deliver(&mut tx_state, t, &params, modules, &ctx)?;
                    // Events travel in the tx result, not in the block's own events.
                    apply_writes_keep_events(tx_state.into_changes(), &mut block)?;
                    outcome
                }
            };
            let hash = tx::tx_hash(t);
            let record = TxRecord {
                height: expected,
                index: u32::try_from(i).unwrap_or(u32::MAX),
                tx: t.to_vec(),
                code: outcome.code,
                codespace: outcome.codespace.clone(),
                log: outcome.log.clone(),
                gas_wanted: i64::try_from(outcome.gas_wanted).unwrap_or(i64::MAX),
                gas_used: i64::try_from(outcome.gas_used).unwrap_or(i64::MAX),
                events: outcome.events.iter().map(stored_event).collect(),
                block_time: Some(prost_types::Timestamp {
                    seconds: ctx.time.seconds,
                    nanos: i32::try_from(ctx.time.nanos).unwrap_or(0),
                }),
            };
            records.insert(crate::tx_index_key(&hash), Some(record.encode_to_vec()));
            tx_results.push(conv::exec_tx_result(&outcome));
        }
        if req.txs.is_empty() {
            self.fault(FaultPoint::MidFinalize, expected);
        }
        for m in modules.iter() {
            m.end_block(&mut block, &ctx)
                .map_err(|e| AppError::Fatal(e.context(format!("end-block of {}", m.name()))))?;
        }
        let mut validator_updates = Vec::new();
        if let Some(epoch) = Self::epoch_ending_at(&chain, expected) {
            for m in modules.iter() {
                m.end_epoch(&mut block, &ctx, epoch).map_err(|e| {
                    AppError::Fatal(e.context(format!("end-epoch of {}", m.name())))
                })?;
            }
            validator_updates = take_validator_updates(&mut block, epoch)?;
            snapshot_next_epoch(&mut block, epoch)?;
            block.emit_event(
                Event::new("epoch_end")
                    .attr("epoch", epoch)
                    .attr("height", expected),
            );
        }

        let Changes { writes, events } = block.into_changes();
        let writes = match &base {
            BaseState::Committed(_) => writes,
            // The first block persists genesis and its own writes as one version.
            BaseState::Genesis(g) => {
                let mut all: BTreeMap<Vec<u8>, Option<Vec<u8>>> = g
                    .entries()
                    .iter()
                    .map(|(k, v)| (k.clone(), Some(v.clone())))
                    .collect();
                for (k, v) in writes {
                    match v {
                        Some(v) => {
                            all.insert(k, Some(v));
                        }
                        None => {
                            all.remove(&k);
                        }
                    }
                }
                all
            }
        };
        // ICS-23 cannot prove an empty value, nor the absence of a key beside one, so modules
        // write `ballast_framework::INDEX_MARKER` for index entries. Every test build checks it.
        debug_assert!(
            writes
                .iter()
                .all(|(_, v)| v.as_ref().is_none_or(|v| !v.is_empty())),
            "a module wrote an empty value under {:?}",
            writes
                .iter()
                .find(|(_, v)| v.as_ref().is_some_and(|v| v.is_empty()))
                .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        );
        let staged = self.storage.stage(expected, &writes, records)?;
        let app_hash: RootHash = staged.root;
        cs.pending = Some(PendingBlock {
            height: expected,
            staged,
        });
        Ok(pb::ResponseFinalizeBlock {
            events: events.iter().map(conv::event).collect(),
            tx_results,
            validator_updates,
            consensus_param_updates: None,
            app_hash: app_hash.to_vec().into(),
        })
    }

    fn apply_injected(
        &self,
        block: &mut Overlay<&BaseState>,
        ctx: &BlockContext,
        kind: u8,
        payload: &[u8],
    ) -> Result<tx::TxOutcome, AppError> {
        let Some(h) = self.hooks.iter().find(|h| h.kind() == kind) else {
            // ProcessProposal rejects these; a decided block carrying one records a failure.
            let e = TxError::new(
                ballast_framework::sdk::CODESPACE,
                ballast_framework::sdk::TX_DECODE,
                format!("unknown injected tx kind {kind}"),
            );
            return Ok(tx::TxOutcome::error_without_gas(&e));
        };
        let mut ov = Overlay::new(&*block);
        match h.apply(&mut ov, ctx, payload) {
            Ok(()) => {
                let events = apply_writes_keep_events(ov.into_changes(), block)?;
                Ok(tx::TxOutcome::ok_without_gas(events))
            }
            Err(e) if e.fatal => Err(e.into()),
            Err(e) => Ok(tx::TxOutcome::error_without_gas(&e)),
        }
    }

    /// ABCI Commit: persists the staged version atomically (fsync), then resets the mempool
    /// state to it.
    pub fn commit(&self) -> Result<pb::ResponseCommit, AppError> {
        let timer = Metrics::timer(&self.metrics.commit);
        let mut cs = lock(&self.consensus);
        let pending = cs.pending.take().ok_or(AppError::NoPendingBlock)?;
        let height = pending.height;
        self.fault(FaultPoint::BeforeCommit, height);
        self.storage.commit(pending.staged)?;
        drop(timer);
        self.metrics
            .height
            .set(i64::try_from(height).unwrap_or(i64::MAX));
        // Stream dispatchers read the new version; sending never blocks.
        self.commits.send_replace(height);
        cs.genesis = None;
        self.fault(FaultPoint::AfterCommit, height);
        drop(cs);
        if let Some(snap) = self.storage.latest_snapshot()? {
            self.reset_mempool(BaseState::Committed(snap), height + 1);
        }
        let retain = match self.config.min_retain_blocks {
            0 => 0,
            n => height.saturating_sub(n).saturating_add(1),
        };
        Ok(pb::ResponseCommit {
            retain_height: i64::try_from(retain).unwrap_or(0),
        })
    }

    /// ABCI CheckTx, on the mempool overlay of the last committed state. A recheck runs the same
    /// checks; the overlay was reset at Commit, so rechecks rebuild it in mempool order.
    pub fn check_tx(&self, req: pb::RequestCheckTx) -> Result<pb::ResponseCheckTx, AppError> {
        let chain = lock(&self.consensus).chain.clone();
        let mut mp = lock(&self.mempool);
        let (Some(base), Some(chain)) = (mp.base.clone(), chain) else {
            return Ok(conv::check_tx_error(&TxError::new(
                "app",
                1,
                "the chain has no genesis yet",
            )));
        };
        let ctx = BlockContext {
            chain_id: chain.chain_id.clone(),
            height: mp.height,
            ..Default::default()
        };
        let changes = std::mem::take(&mut mp.changes);
        let mut ov = Overlay::with_changes(&base, changes);
        let params = tx::load_params(&ov)?;
        let outcome = tx::check(&mut ov, &req.tx, &params, &self.modules, &ctx);
        mp.changes = ov.into_changes();
        let outcome = outcome?;
        mp.changes.events.clear();
        if outcome.code == 0 {
            self.metrics.mempool_size.inc();
        }
        Ok(conv::check_tx_result(&outcome))
    }

    /// ABCI Query. Paths:
    /// - `/app/version`;
    /// - `/store/<module>/key` with the key in `data`, and an ICS-23 proof when `prove`;
    /// - the module query paths (`/cosmos.bank.v1beta1.Query/Balance`, ...).
    pub fn query(&self, req: pb::RequestQuery) -> pb::ResponseQuery {
        if req.path == SIMULATE_QUERY_PATH {
            return self.query_simulate(&req);
        }
        match self.query_inner(&req) {
            Ok(r) => r,
            Err(e) => pb::ResponseQuery {
                code: e.code,
                codespace: e.codespace.into(),
                log: e.log,
                height: req.height,
                ..Default::default()
            },
        }
    }

    fn query_inner(&self, req: &pb::RequestQuery) -> Result<pb::ResponseQuery, TxError> {
        let bad =
            |code: u32, log: String| TxError::new(ballast_framework::sdk::CODESPACE, code, log);
        if req.path == "/app/version" {
            return Ok(pb::ResponseQuery {
                value: env!("CARGO_PKG_VERSION").as_bytes().to_vec().into(),
                ..Default::default()
            });
        }
        let latest = self.storage.latest().map(|(h, _)| h).ok_or_else(|| {
            bad(
                ballast_framework::sdk::INVALID_REQUEST,
                "no committed block yet".into(),
            )
        })?;
        let height = match req.height {
            0 => latest,
            h if h < 0 => {
                return Err(bad(
                    ballast_framework::sdk::INVALID_REQUEST,
                    format!("negative height {h}"),
                ))
            }
            h => h as u64,
        };
        if height > latest {
            return Err(bad(
                ballast_framework::sdk::INVALID_REQUEST,
                format!("height {height} is above the latest committed height {latest}"),
            ));
        }
        let snap = self.storage.snapshot(height).map_err(|e| {
            bad(
                ballast_framework::sdk::INVALID_REQUEST,
                format!("height {height} is not available: {e}"),
            )
        })?;
        let h_i64 = i64::try_from(height).unwrap_or(i64::MAX);
        if let Some(rest) = req.path.strip_prefix("/store/") {
            let module = rest.strip_suffix("/key").ok_or_else(|| {
                bad(
                    ballast_framework::sdk::UNKNOWN_REQUEST,
                    format!("unknown store path {:?}", req.path),
                )
            })?;
            if module != "app" && !self.modules.iter().any(|m| m.name() == module) {
                return Err(bad(
                    ballast_framework::sdk::UNKNOWN_REQUEST,
                    format!("unknown store {module:?}"),
                ));
            }
            let prefix = format!("{module}/");
            if req.data.is_empty() || !req.data.starts_with(prefix.as_bytes()) {
                return Err(bad(
                    ballast_framework::sdk::INVALID_REQUEST,
                    format!("store keys of {module} start with {prefix:?}"),
                ));
            }
            if req.prove {
                let (value, proof) = self
                    .storage
                    .get_with_proof(&req.data, height)
                    .map_err(|e| TxError::fatal(format!("proof at {height}: {e}")))?;
                return Ok(pb::ResponseQuery {
                    key: req.data.clone(),
                    value: value.unwrap_or_default().into(),
                    proof_ops: Some(tendermint_proto::v0_38::crypto::ProofOps {
                        ops: vec![tendermint_proto::v0_38::crypto::ProofOp {
                            r#type: crate::PROOF_OP_TYPE.into(),
                            key: req.data.to_vec(),
                            data: proof.encode_to_vec(),
                        }],
                    }),
                    height: h_i64,
                    ..Default::default()
                });
            }
            let value = snap.get_raw(&req.data)?;
            return Ok(pb::ResponseQuery {
                key: req.data.clone(),
                value: value.unwrap_or_default().into(),
                height: h_i64,
                ..Default::default()
            });
        }
        for m in self.modules.iter() {
            if let Some(r) = m.query(&snap, &req.path, &req.data) {
                let value = r?;
                return Ok(pb::ResponseQuery {
                    value: value.into(),
                    height: h_i64,
                    ..Default::default()
                });
            }
        }
        Err(bad(
            ballast_framework::sdk::UNKNOWN_REQUEST,
            format!("unknown query path {:?}", req.path),
        ))
    }

    /// Simulates a tx to estimate its gas (see [`tx::simulate`]), on a throwaway layer over the
    /// mempool state: the last committed state plus the txs CheckTx has accepted since. That is
    /// the state the tx will be checked against when it is broadcast, so a wallet that sends
    /// several txs before a block (sequences n, n+1, ...) gets a right answer for each. Nothing
    /// is written to the state or the mempool. Takes the mempool lock only to copy its writes,
    /// never the consensus lock, so it neither waits for nor delays block execution.
    pub fn simulate(&self, tx_bytes: &[u8]) -> Result<tx::SimulateOutcome, TxError> {
        let (base, writes, height) = {
            let mp = lock(&self.mempool);
            let Some(base) = mp.base.clone() else {
                return Err(TxError::new("app", 1, "the chain has no genesis yet"));
            };
            (base, mp.changes.writes.clone(), mp.height)
        };
        let view = Overlay::with_changes(
            &base,
            Changes {
                writes,
                events: Vec::new(),
            },
        );
        let chain = read_chain_info(&base).map_err(|e| TxError::fatal(e.to_string()))?;
        let ctx = BlockContext {
            chain_id: chain.chain_id,
            height,
            ..Default::default()
        };
        let params = tx::load_params(&view)?;
        tx::simulate(&view, tx_bytes, &params, &self.modules, &ctx)
    }

    /// The simulation query: `SimulateRequest` in, `SimulateResponse` out, or the tx's error
    /// code, codespace and log.
    fn query_simulate(&self, req: &pb::RequestQuery) -> pb::ResponseQuery {
        use cosmrs::proto::cosmos::base::abci::v1beta1 as abci_pb;
        use cosmrs::proto::cosmos::tx::v1beta1::{SimulateRequest, SimulateResponse};
        let height = self
            .storage
            .latest()
            .map(|(h, _)| i64::try_from(h).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let fail = |e: TxError| pb::ResponseQuery {
            code: e.code,
            codespace: e.codespace.into(),
            log: e.log,
            height,
            ..Default::default()
        };
        let request = match SimulateRequest::decode(req.data.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                return fail(TxError::new(
                    ballast_framework::sdk::CODESPACE,
                    ballast_framework::sdk::INVALID_REQUEST,
                    format!("data is not a SimulateRequest: {e}"),
                ))
            }
        };
        // `tx` is deprecated in favour of `tx_bytes`, but older clients still send it.
        #[allow(deprecated)]
        let tx_bytes = match (request.tx_bytes.is_empty(), request.tx) {
            (false, _) => request.tx_bytes,
            (true, Some(t)) => t.encode_to_vec(),
            (true, None) => {
                return fail(TxError::new(
                    ballast_framework::sdk::CODESPACE,
                    ballast_framework::sdk::INVALID_REQUEST,
                    "empty tx: set tx_bytes",
                ))
            }
        };
        match self.simulate(&tx_bytes) {
            Ok(out) => {
                let value = SimulateResponse {
                    gas_info: Some(abci_pb::GasInfo {
                        gas_wanted: out.gas_wanted,
                        gas_used: out.gas_used,
                    }),
                    result: Some(
                        #[allow(deprecated)]
                        abci_pb::Result {
                            data: Vec::new(),
                            log: out.log,
                            events: out.events.iter().map(conv::event).collect(),
                            msg_responses: Vec::new(),
                        },
                    ),
                };
                pb::ResponseQuery {
                    value: value.encode_to_vec().into(),
                    height,
                    ..Default::default()
                }
            }
            Err(e) => {
                if e.fatal {
                    tracing::error!(error = %e, "simulation hit a node failure");
                }
                fail(e)
            }
        }
    }

    /// The stored result of a tx, by hash.
    pub fn tx_record(&self, hash: &[u8; 32]) -> Result<Option<TxRecord>, AppError> {
        match self.storage.get_aux(&crate::tx_index_key(hash))? {
            None => Ok(None),
            Some(b) => TxRecord::decode(b.as_slice()).map(Some).map_err(|e| {
                AppError::Fatal(TxError::fatal(format!("tx index entry is corrupt: {e}")))
            }),
        }
    }
}

/// Applies an overlay's writes to `target` and hands back its events, which belong in a tx
/// result rather than among the block's own events.
fn apply_writes_keep_events(
    changes: Changes,
    target: &mut dyn StateWrite,
) -> Result<Vec<Event>, StateError> {
    let Changes { writes, events } = changes;
    Changes {
        writes,
        events: Vec::new(),
    }
    .apply_to(target)?;
    Ok(events)
}

/// An event as the tx index keeps it.
fn stored_event(e: &Event) -> TxEvent {
    TxEvent {
        r#type: e.kind.clone(),
        attributes: e
            .attributes
            .iter()
            .map(|(key, value)| TxEventAttribute {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
    }
}

/// The genesis validator set as CometBFT validator updates.
///
/// When the restaking genesis names operators, the set is theirs (the top operators by power,
/// see `ballast_restaking::valset`). genesis.json may then list no validators (CometBFT adopts
/// the app's set) or exactly the same ones; a different list is refused, as a node whose
/// genesis.json disagrees with its app state must not start. Without restaking operators the
/// set is genesis.json's, fixed for the life of the chain (older test genesis files).
fn genesis_validator_set(
    state: &MemState,
    requested: &[pb::ValidatorUpdate],
) -> Result<Vec<pb::ValidatorUpdate>, AppError> {
    use ballast_restaking::PowerTableRead;
    let hub = state
        .hub_validators()
        .map_err(|e| AppError::AppState(format!("restaking: {e}")))?;
    if hub.is_empty() {
        return Ok(requested.to_vec());
    }
    let ours: Vec<pb::ValidatorUpdate> = hub
        .iter()
        .map(|v| conv::ed25519_validator_update(&v.consensus_pubkey, v.power))
        .collect::<Result<_, _>>()
        .map_err(AppError::AppState)?;
    if !requested.is_empty() {
        let key = |v: &pb::ValidatorUpdate| (conv::validator_update_address(v), v.power);
        let mut a: Vec<_> = requested.iter().map(key).collect();
        let mut b: Vec<_> = ours.iter().map(key).collect();
        a.sort();
        b.sort();
        if a != b {
            return Err(AppError::AppState(format!(
                "genesis.json lists {} validators that differ from the {} the restaking genesis \
                 makes (operators with a consensus key and their self-bond power): leave \
                 genesis.json's validators empty or make them the same",
                requested.len(),
                ours.len()
            )));
        }
    }
    Ok(ours)
}

/// Whether restaking's genesis named operators, so the hub's validator set is the app's.
fn restaking_manages_validators(state: &dyn StateRead) -> Result<bool, AppError> {
    use ballast_restaking::PowerTableRead;
    Ok(!state
        .hub_validators()
        .map_err(|e| AppError::AppState(format!("restaking: {e}")))?
        .is_empty())
}

/// InitChain's part of checkpointing: the epoch layout, and epoch 1's validator snapshot from
/// the genesis validators. Every genesis validator must have registered a BLS key in the
/// checkpointing genesis: one without could not sign its vote at the first epoch's end, and
/// the chain would stall there instead of refusing to start.
fn init_checkpointing(
    state: &mut MemState,
    chain: &ChainInfo,
    validators: &[pb::ValidatorUpdate],
) -> Result<(), AppError> {
    use ballast_checkpointing::CheckpointingRead;
    let config = ballast_checkpointing::EpochConfig::new(chain.initial_height, chain.epoch_length)
        .map_err(|e| AppError::AppState(format!("epochs: {e}")))?;
    ballast_checkpointing::set_epoch_config(state, &config)
        .map_err(|e| AppError::AppState(format!("epochs: {e}")))?;
    if validators.is_empty() {
        tracing::warn!("genesis names no validators: epochs have no checkpoints");
        return Ok(());
    }
    let mut set = Vec::with_capacity(validators.len());
    for (i, v) in validators.iter().enumerate() {
        let address = conv::validator_update_address(v)
            .map_err(|e| AppError::AppState(format!("genesis validator {i}: {e}")))?;
        let power = u64::try_from(v.power).map_err(|_| {
            AppError::AppState(format!(
                "genesis validator {i} has negative power {}",
                v.power
            ))
        })?;
        let has_key = state
            .bls_key(&address)
            .map_err(|e| AppError::AppState(e.to_string()))?
            .is_some();
        if !has_key {
            return Err(AppError::AppState(format!(
                "genesis validator {} has no BLS key in checkpointing.bls_keys: every validator signs checkpoints and must register one (ballastd init and testnet generate write it)",
                hex::encode(address.0)
            )));
        }
        set.push((address, power));
    }
    ballast_checkpointing::snapshot_validators(state, 1, &set)
        .map_err(|e| AppError::AppState(format!("validator snapshot of epoch 1: {e}")))?;
    Ok(())
}

/// The hub validator-set changes restaking computed at the end of `epoch`, as CometBFT
/// validator updates (power 0 removes a validator).
fn take_validator_updates(
    state: &mut dyn StateWrite,
    epoch: u64,
) -> Result<Vec<pb::ValidatorUpdate>, AppError> {
    let fatal = |e: String| {
        AppError::Fatal(TxError::fatal(format!(
            "validator updates after epoch {epoch}: {e}"
        )))
    };
    ballast_restaking::take_validator_updates(state)
        .map_err(|e| fatal(e.to_string()))?
        .iter()
        .map(|u| conv::ed25519_validator_update(&u.pubkey, u.power).map_err(fatal))
        .collect()
}

/// At the end of epoch `epoch`, the validators of epoch `epoch + 1`: the hub's set changes only
/// at epoch boundaries. When restaking manages the set, it is the set restaking computed at
/// this epoch's end; otherwise (a genesis without operators) it is the previous epoch's. The BLS
/// keys are those registered now (a key registered during the epoch counts from the next one).
fn snapshot_next_epoch(state: &mut dyn StateWrite, epoch: u64) -> Result<(), AppError> {
    use ballast_checkpointing::CheckpointingRead;
    use ballast_restaking::PowerTableRead;
    let fatal = |e: String| {
        AppError::Fatal(TxError::fatal(format!(
            "validator snapshot after epoch {epoch}: {e}"
        )))
    };
    let next = epoch
        .checked_add(1)
        .ok_or_else(|| AppError::BadRequest("epoch number overflows".into()))?;
    let hub = state.hub_validators().map_err(|e| fatal(e.to_string()))?;
    let set: Vec<_> = if !hub.is_empty() {
        hub.iter()
            .map(|v| (v.consensus_address(), v.power))
            .collect()
    } else {
        let Some(current) = state
            .validator_snapshot(epoch)
            .map_err(|e| fatal(e.to_string()))?
        else {
            return Ok(());
        };
        current
            .validators
            .iter()
            .map(|v| (v.address, v.power))
            .collect()
    };
    ballast_checkpointing::snapshot_validators(state, next, &set)
        .map_err(|e| fatal(e.to_string()))?;
    Ok(())
}

fn read_chain_info(state: &dyn StateRead) -> Result<ChainInfo, AppError> {
    state
        .get_proto::<ChainInfo>(CHAIN_INFO_KEY)?
        .ok_or_else(|| AppError::Fatal(TxError::fatal("committed state has no chain info")))
}

/// Appends one framed extension part: kind, big-endian u32 length, bytes.
fn frame_extension(out: &mut Vec<u8>, kind: u8, ext: &[u8]) {
    out.push(kind);
    out.extend_from_slice(&u32::try_from(ext.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(ext);
}

/// Parses framed extension parts; `None` if malformed or a kind repeats.
fn parse_extensions(mut b: &[u8]) -> Option<BTreeMap<u8, &[u8]>> {
    let mut out = BTreeMap::new();
    while !b.is_empty() {
        let (&kind, rest) = b.split_first()?;
        let len_bytes: [u8; 4] = rest.get(..4)?.try_into().ok()?;
        let len = usize::try_from(u32::from_be_bytes(len_bytes)).ok()?;
        let body = rest.get(4..4usize.checked_add(len)?)?;
        if body.is_empty() || out.insert(kind, body).is_some() {
            return None;
        }
        b = &rest[4 + len..];
    }
    Some(out)
}

fn split_extension(ext: &[u8], kind: u8) -> Option<Vec<u8>> {
    parse_extensions(ext).and_then(|m| m.get(&kind).map(|b| b.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_framing_round_trips_and_rejects_garbage() {
        let mut b = Vec::new();
        frame_extension(&mut b, 1, b"abc");
        frame_extension(&mut b, 2, b"de");
        let parts = parse_extensions(&b).unwrap();
        assert_eq!(parts.get(&1).copied(), Some(&b"abc"[..]));
        assert_eq!(parts.get(&2).copied(), Some(&b"de"[..]));
        assert!(parse_extensions(&b[..b.len() - 1]).is_none());
        assert!(parse_extensions(&[1, 0xff, 0xff, 0xff, 0xff, 0]).is_none());
        let mut dup = b.clone();
        frame_extension(&mut dup, 1, b"x");
        assert!(parse_extensions(&dup).is_none());
        assert!(parse_extensions(&[]).unwrap().is_empty());
    }

    #[test]
    fn epochs_end_every_epoch_length_blocks_from_the_initial_height() {
        let c = ChainInfo {
            chain_id: "x".into(),
            initial_height: 1,
            epoch_length: 10,
        };
        assert_eq!(App::epoch_ending_at(&c, 10), Some(1));
        assert_eq!(App::epoch_ending_at(&c, 20), Some(2));
        assert_eq!(App::epoch_ending_at(&c, 11), None);
        let c = ChainInfo {
            chain_id: "x".into(),
            initial_height: 5,
            epoch_length: 3,
        };
        assert_eq!(App::epoch_ending_at(&c, 7), Some(1));
        assert_eq!(App::epoch_ending_at(&c, 4), None);
    }
}
