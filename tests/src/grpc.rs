//! A chain driven by the mock consensus with Ballast's gRPC server in front of it.
//!
//! [`QueueBroadcaster`] stands in for the node's path to consensus: it runs CheckTx and queues
//! accepted txs, and [`GrpcChain::produce_block`] puts the queue in the next mock block.

use crate::consensus::{DecidedBlock, MockConsensus};
use crate::driver::InProcess;
use crate::keys::TestAccount;
use crate::{genesis_app_state, CHAIN_ID};
use ballast_app::broadcast::{
    BroadcastError, BroadcastFuture, BroadcastMode, BroadcastResult, Broadcaster,
};
use ballast_app::grpc::GrpcError;
use ballast_app::{App, AppConfig};
use prost::bytes::Bytes;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tendermint_proto::v0_38::abci as pb;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// Runs CheckTx on the app and queues the txs it accepts for the next block. `Commit` mode
/// waits (up to 30 s) until the tx shows up in the app's tx index.
pub struct QueueBroadcaster {
    app: App,
    queue: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl QueueBroadcaster {
    /// A broadcaster into `app`'s mempool.
    pub fn new(app: App) -> Self {
        QueueBroadcaster {
            app,
            queue: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Takes every queued tx.
    pub fn take(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.queue.lock().unwrap())
    }

    /// How many txs wait.
    pub fn queued(&self) -> usize {
        self.queue.lock().unwrap().len()
    }
}

fn sha256(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}

impl Broadcaster for QueueBroadcaster {
    fn broadcast(&self, tx: Vec<u8>, mode: BroadcastMode) -> BroadcastFuture {
        let app = self.app.clone();
        let queue = self.queue.clone();
        Box::pin(async move {
            let hash = sha256(&tx);
            let check_app = app.clone();
            let check_tx = tx.clone();
            let check = tokio::task::spawn_blocking(move || {
                check_app.check_tx(pb::RequestCheckTx {
                    tx: Bytes::from(check_tx),
                    r#type: pb::CheckTxType::New as i32,
                })
            })
            .await
            .map_err(|e| BroadcastError::Unavailable(e.to_string()))?
            .map_err(|e| BroadcastError::Protocol(e.to_string()))?;
            if check.code == 0 {
                queue.lock().unwrap().push(tx);
            }
            let checked = BroadcastResult {
                hash,
                code: check.code,
                codespace: check.codespace.clone(),
                log: check.log.clone(),
                gas_wanted: check.gas_wanted,
                gas_used: check.gas_used,
                height: 0,
            };
            match mode {
                BroadcastMode::Async => Ok(BroadcastResult {
                    hash,
                    ..Default::default()
                }),
                BroadcastMode::Sync => Ok(checked),
                BroadcastMode::Commit if check.code != 0 => Ok(checked),
                BroadcastMode::Commit => {
                    for _ in 0..1500 {
                        if let Some(r) = app
                            .tx_record(&hash)
                            .map_err(|e| BroadcastError::Protocol(format!("tx index: {e}")))?
                        {
                            return Ok(BroadcastResult {
                                hash,
                                code: r.code,
                                codespace: r.codespace,
                                log: r.log,
                                gas_wanted: r.gas_wanted,
                                gas_used: r.gas_used,
                                height: r.height,
                            });
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(BroadcastError::Timeout(format!(
                        "tx {} was not committed",
                        hex::encode_upper(hash)
                    )))
                }
            }
        })
    }
}

/// A running gRPC server.
pub struct GrpcServer {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<(), GrpcError>>,
}

impl GrpcServer {
    /// Serves `app` on 127.0.0.1 at a free port.
    pub async fn start(app: App, broadcaster: Arc<dyn Broadcaster>) -> GrpcServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(ballast_app::grpc::serve(
            app,
            broadcaster,
            listener,
            async {
                let _ = rx.await;
            },
        ));
        GrpcServer {
            addr,
            shutdown: Some(tx),
            handle,
        }
    }

    /// A client channel to the server.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Stops the server and returns how it ended.
    pub async fn stop(mut self) -> Result<(), GrpcError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (&mut self.handle).await.unwrap()
    }
}

/// A one-validator mock chain whose genesis funds `accounts`, with a gRPC server over it.
pub struct GrpcChain {
    /// Keeps the store alive.
    pub dir: tempfile::TempDir,
    /// The app.
    pub app: App,
    /// The app as the mock consensus drives it.
    pub node: InProcess,
    /// The mock consensus.
    pub consensus: MockConsensus,
    /// The funded accounts.
    pub accounts: Vec<TestAccount>,
    /// The broadcaster the server uses.
    pub broadcaster: Arc<QueueBroadcaster>,
    /// The server.
    pub server: GrpcServer,
}

impl GrpcChain {
    /// Genesis with `n` accounts of `funds` ubal each, one committed (empty) block, and the
    /// server started.
    pub async fn start(n: usize, funds: u128) -> GrpcChain {
        let dir = tempfile::tempdir().unwrap();
        let app = App::open(AppConfig::new(dir.path())).unwrap();
        let accounts = TestAccount::many(n);
        let mut consensus = MockConsensus::new(CHAIN_ID, 1, genesis_app_state(&accounts, funds));
        let mut node = InProcess(app.clone());
        consensus.handshake(&mut node).unwrap();
        consensus
            .produce_block(&mut [&mut node], Vec::new())
            .unwrap();
        let broadcaster = Arc::new(QueueBroadcaster::new(app.clone()));
        let server = GrpcServer::start(app.clone(), broadcaster.clone()).await;
        GrpcChain {
            dir,
            app,
            node,
            consensus,
            accounts,
            broadcaster,
            server,
        }
    }

    /// Decides the next block with every queued tx; txs the block does not take are queued again.
    pub fn produce_block(&mut self) -> DecidedBlock {
        let txs = self.broadcaster.take();
        let (block, left) = self
            .consensus
            .produce_block(&mut [&mut self.node], txs)
            .unwrap();
        self.broadcaster.queue.lock().unwrap().extend(left);
        block
    }
}
