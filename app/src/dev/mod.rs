//! `ballastd dev`: the same [`App`] driven by an in-process single-validator block producer
//! instead of CometBFT, with the part of CometBFT's JSON-RPC that wallets and tools use.
//!
//! - [`DevChain::open`] reads a CometBFT home (`config/genesis.json`,
//!   `config/priv_validator_key.json`), opens the block store under `<home>/data/dev` and runs
//!   CometBFT's handshake: InitChain on a new chain, replay of a stored block the app has not
//!   committed after a crash.
//! - [`DevChain::run`] produces a block every `block_interval` (and, with `produce_on_tx`, as
//!   soon as a tx arrives) through CometBFT v0.38's exact call sequence ([`sequence`]), until
//!   its shutdown future resolves; it stops between blocks.
//! - [`DevHandle`] is a cheap, cloneable handle: it implements
//!   [`Broadcaster`](crate::broadcast::Broadcaster) and gives the RPC server read access.
//! - [`serve_rpc`] serves CometBFT v0.38's JSON-RPC on a listener.
//!
//! Every ABCI call (consensus, CheckTx, Query, Info) is made on the `App` directly, one at a
//! time under one lock, as CometBFT's in-process client does.
//!
//! Differences from a CometBFT node, all deliberate: vote extensions are enabled from the first
//! height whatever genesis says (Ballast needs them); the single validator also verifies its
//! own extension every height (CometBFT skips its own, but then VerifyVoteExtension would never
//! run); block times come from the wall clock (the first block has the genesis time, each
//! later one its predecessor's commit time, as CometBFT's BFT time gives with one validator);
//! there is no p2p, evidence, state sync or websocket.
//!
//! ```no_run
//! # async fn example(app: ballast_app::App) -> Result<(), ballast_app::dev::DevError> {
//! use ballast_app::dev::{serve_rpc, DevChain, DevConfig};
//! let chain = DevChain::open(app, DevConfig::new("/home/me/.ballast"))?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:26657").await
//!     .map_err(|e| ballast_app::dev::DevError::Rpc(e.to_string()))?;
//! tokio::spawn(serve_rpc(chain.handle(), listener, std::future::pending()));
//! chain.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

pub mod block;
pub mod blockstore;
pub mod home;
pub mod mempool;
pub mod producer;
pub mod rpc;
pub mod sequence;

pub use home::DevSetup;
pub use producer::{Admission, Produced, Tip};
pub use rpc::serve_rpc;
pub use sequence::SequenceError;

use crate::broadcast::{
    BroadcastError, BroadcastFuture, BroadcastMode, BroadcastResult, Broadcaster,
};
use crate::App;
use blockstore::BlockStore;
use mempool::Mempool;
use producer::Core;
use prost::bytes::Bytes;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tendermint_proto::v0_38::abci as pb;
use tokio::sync::{watch, Notify};

/// How the dev chain runs.
#[derive(Clone, Debug)]
pub struct DevConfig {
    /// The CometBFT home: `config/genesis.json`, `config/priv_validator_key.json`; blocks are
    /// kept in `data/dev`.
    pub home: PathBuf,
    /// Time between blocks (empty blocks included).
    pub block_interval: Duration,
    /// Also produce a block as soon as a tx enters the mempool.
    pub produce_on_tx: bool,
    /// Most txs the mempool holds.
    pub mempool_max_txs: usize,
    /// Most tx bytes the mempool holds.
    pub mempool_max_bytes: usize,
    /// How long `broadcast_tx_commit` (and [`BroadcastMode::Commit`]) waits for the block.
    pub commit_timeout: Duration,
}

impl DevConfig {
    /// Defaults for `home`: a block per second, CometBFT's default mempool caps (5000 txs,
    /// 1 GiB) and commit timeout (10 s).
    pub fn new(home: impl Into<PathBuf>) -> DevConfig {
        DevConfig {
            home: home.into(),
            block_interval: Duration::from_secs(1),
            produce_on_tx: false,
            mempool_max_txs: 5000,
            mempool_max_bytes: 1 << 30,
            commit_timeout: Duration::from_secs(10),
        }
    }

    /// The block store directory, `<home>/data/dev`.
    pub fn store_dir(&self) -> PathBuf {
        self.home.join("data").join("dev")
    }
}

/// Why the dev chain cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// A file of the CometBFT home is missing or malformed.
    #[error("{}: {message}", path.display())]
    Home {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The block store failed or holds something unexpected.
    #[error("{0}")]
    Store(String),
    /// The consensus sequence failed (an app error, a rejected proposal, a divergence).
    #[error("consensus: {0}")]
    Consensus(#[from] SequenceError),
    /// An ABCI call outside consensus failed.
    #[error("app: {0}")]
    App(String),
    /// The RPC server failed.
    #[error("rpc server: {0}")]
    Rpc(String),
    /// A blocking task panicked or was cancelled.
    #[error("task failed: {0}")]
    Task(String),
}

/// The newest committed block, as the RPC's `status` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LatestBlock {
    /// Height.
    pub height: i64,
    /// Block hash.
    pub hash: [u8; 32],
    /// The app hash in its header (the state after the previous block).
    pub header_app_hash: Vec<u8>,
    /// The app hash after it.
    pub app_hash: Vec<u8>,
    /// Its time.
    pub time: tendermint::Time,
}

impl LatestBlock {
    fn of(t: &Tip) -> LatestBlock {
        let mut hash = [0u8; 32];
        hash.copy_from_slice(t.block_id.hash.as_bytes());
        LatestBlock {
            height: t.height,
            hash,
            header_app_hash: t.header_app_hash.clone(),
            app_hash: t.app_hash.clone(),
            time: t.time,
        }
    }
}

pub(crate) struct Shared {
    core: Mutex<Core>,
    pub(crate) store: Arc<BlockStore>,
    pub(crate) setup: Arc<DevSetup>,
    pub(crate) config: DevConfig,
    latest: watch::Sender<Option<LatestBlock>>,
    tx_arrived: Notify,
}

fn lock(m: &Mutex<Core>) -> MutexGuard<'_, Core> {
    // A panic while holding the lock leaves the last consistent state: every mutation of the
    // core is a whole ABCI call or a whole block.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn produce(&self) -> Result<Produced, DevError> {
        let mut core = lock(&self.core);
        let p = core.produce(tendermint::Time::now())?;
        let latest = core.tip().map(LatestBlock::of);
        drop(core);
        self.latest.send_replace(latest);
        tracing::info!(
            height = p.height,
            txs = p.txs,
            hash = %hex::encode_upper(p.hash),
            app_hash = %hex::encode_upper(&p.app_hash),
            "dev block committed"
        );
        Ok(p)
    }
}

/// The dev chain: owns the block producer.
pub struct DevChain {
    shared: Arc<Shared>,
}

/// A cloneable handle to a dev chain: submits txs (it is a
/// [`Broadcaster`](crate::broadcast::Broadcaster)), makes queries and reads blocks.
#[derive(Clone)]
pub struct DevHandle {
    pub(crate) shared: Arc<Shared>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DevError> + Send + 'static,
) -> Result<T, DevError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DevError::Task(e.to_string()))?
}

impl DevChain {
    /// Opens the dev chain on `cfg.home`: reads genesis and the validator key, opens the block
    /// store, runs CometBFT's handshake with `app` (InitChain on a new chain; replay of a
    /// stored block the app has not committed). Blocking: call it before serving.
    pub fn open(app: App, cfg: DevConfig) -> Result<DevChain, DevError> {
        let setup = Arc::new(DevSetup::load(&cfg.home)?);
        let store = Arc::new(
            BlockStore::open(&cfg.store_dir()).map_err(|e| DevError::Store(e.to_string()))?,
        );
        let mempool = Mempool::new(cfg.mempool_max_txs, cfg.mempool_max_bytes);
        let (core, outcome) = Core::open(app, store.clone(), setup.clone(), mempool)?;
        tracing::info!(
            chain_id = %setup.chain_id,
            init_chain = outcome.init_chain,
            replayed = outcome.replayed.len(),
            height = outcome.app_height,
            "dev chain opened"
        );
        let latest = core.tip().map(LatestBlock::of);
        Ok(DevChain {
            shared: Arc::new(Shared {
                core: Mutex::new(core),
                store,
                setup,
                config: cfg,
                latest: watch::Sender::new(latest),
                tx_arrived: Notify::new(),
            }),
        })
    }

    /// A handle for broadcasting, queries and the RPC server.
    pub fn handle(&self) -> DevHandle {
        DevHandle {
            shared: self.shared.clone(),
        }
    }

    /// Produces one block now (blocking). [`DevChain::run`] calls this on its schedule; tools
    /// and tests may call it directly.
    pub fn produce_block(&self) -> Result<Produced, DevError> {
        self.shared.produce()
    }

    /// Produces blocks every `block_interval` (and on each new tx with `produce_on_tx`) until
    /// `shutdown` resolves. A block in progress is finished first, so the chain always stops
    /// between blocks. An error stops the chain: the next open replays from the store.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), DevError> {
        tokio::pin!(shutdown);
        let cfg = self.shared.config.clone();
        loop {
            let tick = tokio::time::sleep(cfg.block_interval);
            let arrived = self.shared.tx_arrived.notified();
            tokio::select! {
                biased;
                _ = &mut shutdown => return Ok(()),
                _ = tick => {}
                _ = arrived, if cfg.produce_on_tx => {}
            }
            let shared = self.shared.clone();
            blocking(move || shared.produce()).await?;
        }
    }
}

/// A tx's committed result, as [`DevHandle::wait_for_tx`] finds it.
#[derive(Clone, Debug)]
pub struct CommittedTx {
    /// Height of the block.
    pub height: i64,
    /// Index in the block.
    pub index: u32,
    /// The tx.
    pub tx: Vec<u8>,
    /// Its execution result.
    pub result: pb::ExecTxResult,
}

impl DevHandle {
    /// The chain's setup (genesis, validator, limits).
    pub fn setup(&self) -> &DevSetup {
        &self.shared.setup
    }

    /// The chain's configuration.
    pub fn config(&self) -> &DevConfig {
        &self.shared.config
    }

    /// The block store (reads never wait for block production).
    pub fn store(&self) -> &BlockStore {
        &self.shared.store
    }

    /// The newest committed block (`None` before the first).
    pub fn latest(&self) -> Option<LatestBlock> {
        self.shared.latest.borrow().clone()
    }

    /// A receiver that changes whenever a block commits.
    pub fn subscribe(&self) -> watch::Receiver<Option<LatestBlock>> {
        self.shared.latest.subscribe()
    }

    /// Number of txs in the mempool. Blocking: waits for a block in progress to finish.
    pub fn mempool_len(&self) -> usize {
        lock(&self.shared.core).mempool.len()
    }

    /// Admits a tx to the mempool: the mempool's checks, then CheckTx (type New).
    pub async fn check_tx(&self, tx: Vec<u8>) -> Result<Admission, DevError> {
        let shared = self.shared.clone();
        let a = blocking(move || lock(&shared.core).admit(Bytes::from(tx))).await?;
        if matches!(&a, Admission::Checked(r) if r.code == 0) {
            self.shared.tx_arrived.notify_one();
        }
        Ok(a)
    }

    /// ABCI Query.
    pub async fn query(&self, req: pb::RequestQuery) -> Result<pb::ResponseQuery, DevError> {
        let shared = self.shared.clone();
        blocking(move || Ok(lock(&shared.core).app.query(req))).await
    }

    /// ABCI Info.
    pub async fn info(&self) -> Result<pb::ResponseInfo, DevError> {
        let shared = self.shared.clone();
        blocking(move || Ok(lock(&shared.core).app.info())).await
    }

    /// The committed result of the tx with this hash, if any.
    pub fn committed_tx(&self, hash: &[u8; 32]) -> Result<Option<CommittedTx>, DevError> {
        let store = &self.shared.store;
        let Some((height, index)) = store
            .tx_location(hash)
            .map_err(|e| DevError::Store(e.to_string()))?
        else {
            return Ok(None);
        };
        let block = store
            .block(height)
            .map_err(|e| DevError::Store(e.to_string()))?
            .and_then(|b| b.block)
            .and_then(|b| b.data);
        let results = store
            .results(height)
            .map_err(|e| DevError::Store(e.to_string()))?;
        let i = usize::try_from(index).unwrap_or(usize::MAX);
        let (Some(data), Some(results)) = (block, results) else {
            return Ok(None);
        };
        let (Some(tx), Some(result)) = (data.txs.get(i), results.tx_results.get(i)) else {
            return Ok(None);
        };
        Ok(Some(CommittedTx {
            height: i64::try_from(height).unwrap_or(i64::MAX),
            index,
            tx: tx.clone(),
            result: result.clone(),
        }))
    }

    /// Waits until the tx with this hash is in a committed block, at most `timeout`.
    pub async fn wait_for_tx(
        &self,
        hash: [u8; 32],
        timeout: Duration,
    ) -> Result<Option<CommittedTx>, DevError> {
        let mut rx = self.subscribe();
        let wait = async {
            loop {
                if let Some(c) = self.committed_tx(&hash)? {
                    return Ok(Some(c));
                }
                if rx.changed().await.is_err() {
                    return Ok(None);
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(r) => r,
            Err(_) => Ok(None),
        }
    }
}

fn check_result(hash: [u8; 32], r: &pb::ResponseCheckTx) -> BroadcastResult {
    BroadcastResult {
        hash,
        code: r.code,
        codespace: r.codespace.clone(),
        log: r.log.clone(),
        gas_wanted: r.gas_wanted,
        gas_used: r.gas_used,
        height: 0,
    }
}

fn refused_result(hash: [u8; 32], e: &mempool::MempoolError) -> BroadcastResult {
    BroadcastResult {
        hash,
        code: e.code(),
        codespace: mempool::CODESPACE.into(),
        log: e.to_string(),
        ..Default::default()
    }
}

impl Broadcaster for DevHandle {
    fn broadcast(&self, tx: Vec<u8>, mode: BroadcastMode) -> BroadcastFuture {
        let h = self.clone();
        Box::pin(async move {
            let hash = crate::tx::tx_hash(&tx);
            let unavailable = |e: DevError| BroadcastError::Unavailable(e.to_string());
            if mode == BroadcastMode::Async {
                tokio::spawn(async move {
                    if let Err(e) = h.check_tx(tx).await {
                        tracing::warn!(error = %e, "async broadcast failed");
                    }
                });
                return Ok(BroadcastResult {
                    hash,
                    ..Default::default()
                });
            }
            let check = match h.check_tx(tx).await.map_err(unavailable)? {
                Admission::Refused(e) => return Ok(refused_result(hash, &e)),
                Admission::Checked(r) => r,
            };
            if mode == BroadcastMode::Sync || check.code != 0 {
                return Ok(check_result(hash, &check));
            }
            let timeout = h.shared.config.commit_timeout;
            match h.wait_for_tx(hash, timeout).await.map_err(unavailable)? {
                None => Err(BroadcastError::Timeout(format!(
                    "tx {} was not committed within {timeout:?}",
                    hex::encode_upper(hash)
                ))),
                Some(c) => Ok(BroadcastResult {
                    hash,
                    code: c.result.code,
                    codespace: c.result.codespace,
                    log: c.result.log,
                    gas_wanted: c.result.gas_wanted,
                    gas_used: c.result.gas_used,
                    height: u64::try_from(c.height).unwrap_or(0),
                }),
            }
        })
    }
}
