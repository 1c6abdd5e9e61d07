//! Ballast, as the vigilante uses it: the light-client and checkpointing queries, and signed
//! transactions.
//!
//! Queries use the module query services `ballast.btclightclient.v1.Query` and
//! `ballast.checkpointing.v1.Query`: over gRPC when a gRPC address is configured, otherwise
//! (and, with a warning, when the gRPC server does not serve that service) as ABCI queries on
//! the same paths through CometBFT's RPC. Transactions are built and signed with
//! `ballast-client` and broadcast through CometBFT's RPC, waiting for inclusion.

use crate::chain::LightClientView;
use ballast_client::keyring::SigningKey;
use ballast_client::rpc::CometRpc;
use ballast_client::txbuild::{self, ClientError, TxOptions};
use ballast_framework::Address;
use ballast_proto::ballast::btclightclient::v1 as lc_pb;
use ballast_proto::ballast::checkpointing::v1 as ck_pb;
use bitcoin::BlockHash;
use prost::Message;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// Cosmos SDK's "wrong sequence" code (codespace `sdk`).
pub const WRONG_SEQUENCE: u32 = 32;
/// How often a tx is built again after an account-sequence mismatch.
pub const SEQUENCE_RETRIES: usize = 4;

/// Why a Ballast call failed.
#[derive(Debug, thiserror::Error)]
pub enum BallastError {
    /// The node could not be reached.
    #[error("cannot reach ballast: {0}")]
    Unreachable(String),
    /// A query was answered with an error.
    #[error("ballast query {path} failed: {message}")]
    Query {
        /// The method path.
        path: &'static str,
        /// The node's error.
        message: String,
    },
    /// An answer did not decode or lacked a field.
    #[error("ballast answered {path} unexpectedly: {message}")]
    Decode {
        /// The method path.
        path: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A tx was refused (at CheckTx or in its block).
    #[error("ballast refused {what}: code {code} ({codespace}): {log}")]
    Rejected {
        /// What the tx did.
        what: String,
        /// Error code.
        code: u32,
        /// Error codespace.
        codespace: String,
        /// The node's log.
        log: String,
    },
    /// Building or signing a tx failed.
    #[error("building the {what} tx failed: {source}")]
    Build {
        /// What the tx did.
        what: String,
        /// The client error.
        #[source]
        source: ClientError,
    },
}

impl BallastError {
    fn from_client(what: &str, e: ClientError) -> BallastError {
        match e {
            ClientError::Rpc(r) => BallastError::Unreachable(r.to_string()),
            ClientError::Simulate {
                code,
                codespace,
                log,
            } => BallastError::Rejected {
                what: what.to_string(),
                code,
                codespace,
                log,
            },
            other => BallastError::Build {
                what: what.to_string(),
                source: other,
            },
        }
    }
}

/// The outcome of an included tx.
#[derive(Clone, Debug)]
pub struct Included {
    /// Upper-case hex tx hash.
    pub txhash: String,
    /// Hub height of the block.
    pub height: u64,
}

/// A connection to Ballast with the vigilante's signing key.
pub struct Ballast {
    rpc: CometRpc,
    grpc: Option<Channel>,
    grpc_warned: AtomicBool,
    key: SigningKey,
    address: Address,
    opts: TxOptions,
    tx_timeout: Duration,
}

impl std::fmt::Debug for Ballast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ballast")
            .field("rpc", &self.rpc.url())
            .field("grpc", &self.grpc.is_some())
            .field("address", &self.address.to_string())
            .finish()
    }
}

impl Ballast {
    /// A client for CometBFT RPC at `rpc_address` and (when not empty) gRPC at `grpc_address`.
    /// Nothing is contacted yet.
    pub fn new(
        rpc_address: &str,
        grpc_address: &str,
        key: SigningKey,
        opts: TxOptions,
        tx_timeout: Duration,
    ) -> Result<Ballast, BallastError> {
        let rpc = CometRpc::new(rpc_address)
            .map_err(|e| BallastError::Unreachable(e.to_string()))?
            .with_timeout(Duration::from_secs(20));
        let grpc = if grpc_address.is_empty() {
            None
        } else {
            let uri = if grpc_address.contains("://") {
                grpc_address.to_string()
            } else {
                format!("http://{grpc_address}")
            };
            let ep = Endpoint::from_shared(uri)
                .map_err(|e| {
                    BallastError::Unreachable(format!("grpc address {grpc_address:?}: {e}"))
                })?
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(20));
            Some(ep.connect_lazy())
        };
        let address = ballast_client::keyring::address_of(&key.public_key().to_bytes())
            .parse::<Address>()
            .map_err(|e| BallastError::Decode {
                path: "keyring",
                message: format!("the key's address does not parse: {e}"),
            })?;
        Ok(Ballast {
            rpc,
            grpc,
            grpc_warned: AtomicBool::new(false),
            key,
            address,
            opts,
            tx_timeout,
        })
    }

    /// The vigilante's account (signer of its txs, submitter in part 0).
    pub fn address(&self) -> Address {
        self.address
    }

    /// One query: `path` is the full method path (`/ballast.…v1.Query/Method`).
    pub async fn query<Req, Resp>(&self, path: &'static str, req: Req) -> Result<Resp, BallastError>
    where
        Req: Message + Clone + Send + Sync + 'static,
        Resp: Message + Default + Send + Sync + 'static,
    {
        if let Some(ch) = &self.grpc {
            if !self.grpc_warned.load(Ordering::Relaxed) {
                match grpc_query::<Req, Resp>(ch.clone(), path, req.clone()).await {
                    Ok(r) => return Ok(r),
                    Err(GrpcFail::Unimplemented(msg)) => {
                        tracing::warn!(path, %msg, "the gRPC server does not serve this query; using ABCI queries through CometBFT RPC from now on");
                        self.grpc_warned.store(true, Ordering::Relaxed);
                    }
                    Err(GrpcFail::Other(e)) => return Err(e),
                }
            }
        }
        let value = txbuild::abci_query(&self.rpc, path, req.encode_to_vec(), 0)
            .await
            .map_err(|e| match e {
                ClientError::Rpc(r) => BallastError::Unreachable(r.to_string()),
                ClientError::Query {
                    code,
                    codespace,
                    log,
                    ..
                } => BallastError::Query {
                    path,
                    message: format!("code {code} ({codespace}): {log}"),
                },
                other => BallastError::Query {
                    path,
                    message: other.to_string(),
                },
            })?;
        Resp::decode(value.as_slice()).map_err(|e| BallastError::Decode {
            path,
            message: e.to_string(),
        })
    }

    /// Light-client params: (network, max headers per message).
    pub async fn lc_params(&self) -> Result<(String, u32), BallastError> {
        const P: &str = "/ballast.btclightclient.v1.Query/Params";
        let r: lc_pb::QueryParamsResponse = self.query(P, lc_pb::QueryParamsRequest {}).await?;
        let p = r.params.ok_or(BallastError::Decode {
            path: P,
            message: "no params".into(),
        })?;
        Ok((p.network, p.max_headers_per_msg))
    }

    /// The light client's base header: (height, hash).
    pub async fn lc_base(&self) -> Result<(u64, BlockHash), BallastError> {
        const P: &str = "/ballast.btclightclient.v1.Query/BaseHeader";
        let r: lc_pb::QueryBaseHeaderResponse =
            self.query(P, lc_pb::QueryBaseHeaderRequest {}).await?;
        header_ref(P, r.header)
    }

    /// The light client's tip: (height, hash).
    pub async fn lc_tip(&self) -> Result<(u64, BlockHash), BallastError> {
        const P: &str = "/ballast.btclightclient.v1.Query/Tip";
        let r: lc_pb::QueryTipResponse = self.query(P, lc_pb::QueryTipRequest {}).await?;
        header_ref(P, r.header)
    }

    /// Whether the light client knows `hash` at all.
    pub async fn lc_contains(&self, hash: BlockHash) -> Result<bool, BallastError> {
        let r: lc_pb::QueryContainsHashResponse = self
            .query(
                "/ballast.btclightclient.v1.Query/ContainsHash",
                lc_pb::QueryContainsHashRequest {
                    hash: hash.to_string(),
                },
            )
            .await?;
        Ok(r.contains)
    }

    /// Whether `hash` is on the light client's best chain.
    pub async fn lc_on_best_chain(&self, hash: BlockHash) -> Result<bool, BallastError> {
        let r: lc_pb::QueryIsOnBestChainResponse = self
            .query(
                "/ballast.btclightclient.v1.Query/IsOnBestChain",
                lc_pb::QueryIsOnBestChainRequest {
                    hash: hash.to_string(),
                },
            )
            .await?;
        Ok(r.on_best_chain)
    }

    /// The checkpointing params.
    pub async fn checkpointing_params(&self) -> Result<ck_pb::Params, BallastError> {
        const P: &str = "/ballast.checkpointing.v1.Query/Params";
        let r: ck_pb::QueryParamsResponse = self.query(P, ck_pb::QueryParamsRequest {}).await?;
        r.params.ok_or(BallastError::Decode {
            path: P,
            message: "no params".into(),
        })
    }

    /// Every checkpoint in `status`, by epoch ascending (all pages).
    pub async fn checkpoints(
        &self,
        status: ck_pb::CheckpointStatus,
    ) -> Result<Vec<ck_pb::CheckpointRecord>, BallastError> {
        let mut out = Vec::new();
        let mut start = 0u64;
        loop {
            let r: ck_pb::QueryCheckpointsResponse = self
                .query(
                    "/ballast.checkpointing.v1.Query/Checkpoints",
                    ck_pb::QueryCheckpointsRequest {
                        status: status as i32,
                        start_epoch: start,
                        limit: 0,
                    },
                )
                .await?;
            out.extend(r.checkpoints);
            match r.next_epoch {
                Some(n) if n > start => start = n,
                _ => return Ok(out),
            }
        }
    }

    /// One epoch's checkpoint.
    pub async fn checkpoint(&self, epoch: u64) -> Result<ck_pb::CheckpointRecord, BallastError> {
        const P: &str = "/ballast.checkpointing.v1.Query/Checkpoint";
        let r: ck_pb::QueryCheckpointResponse = self
            .query(P, ck_pb::QueryCheckpointRequest { epoch })
            .await?;
        r.checkpoint.ok_or(BallastError::Decode {
            path: P,
            message: "no checkpoint".into(),
        })
    }

    /// Signs `msgs`, broadcasts them and waits for the block. An account-sequence mismatch
    /// (another tx of this account landed meanwhile) is retried with a fresh sequence.
    pub async fn send(
        &self,
        what: &str,
        msgs: Vec<prost_types::Any>,
    ) -> Result<Included, BallastError> {
        self.send_with(what, msgs, &self.opts).await
    }

    /// [`Ballast::send`] with a fixed gas limit, so the tx is broadcast without being
    /// simulated first.
    pub async fn send_unsimulated(
        &self,
        what: &str,
        msgs: Vec<prost_types::Any>,
        gas_limit: u64,
    ) -> Result<Included, BallastError> {
        let mut opts = self.opts.clone();
        opts.gas = txbuild::Gas::Limit(gas_limit);
        self.send_with(what, msgs, &opts).await
    }

    async fn send_with(
        &self,
        what: &str,
        msgs: Vec<prost_types::Any>,
        opts: &TxOptions,
    ) -> Result<Included, BallastError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let signed = txbuild::build_and_sign(&self.rpc, &self.key, msgs.clone(), opts)
                .await
                .map_err(|e| BallastError::from_client(what, e));
            let signed = match signed {
                Err(BallastError::Rejected {
                    code, codespace, ..
                }) if code == WRONG_SEQUENCE
                    && codespace == "sdk"
                    && attempt < SEQUENCE_RETRIES =>
                {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    continue;
                }
                other => other?,
            };
            let out = txbuild::broadcast(&self.rpc, &signed, Some(self.tx_timeout))
                .await
                .map_err(|e| BallastError::from_client(what, e))?;
            if out.code == 0 {
                return Ok(Included {
                    txhash: out.txhash,
                    height: out.height,
                });
            }
            if out.code == WRONG_SEQUENCE && out.codespace == "sdk" && attempt < SEQUENCE_RETRIES {
                tracing::debug!(what, log = %out.raw_log, "account sequence mismatch; signing again");
                tokio::time::sleep(Duration::from_millis(300)).await;
                continue;
            }
            return Err(BallastError::Rejected {
                what: what.to_string(),
                code: out.code,
                codespace: out.codespace,
                log: out.raw_log,
            });
        }
    }
}

async fn grpc_query<Req, Resp>(
    channel: Channel,
    path: &'static str,
    req: Req,
) -> Result<Resp, GrpcFail>
where
    Req: Message + Send + Sync + 'static,
    Resp: Message + Default + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| GrpcFail::Other(BallastError::Unreachable(e.to_string())))?;
    let codec = tonic::codec::ProstCodec::<Req, Resp>::default();
    let path_q = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    match grpc.unary(tonic::Request::new(req), path_q, codec).await {
        Ok(r) => Ok(r.into_inner()),
        Err(s) if s.code() == tonic::Code::Unimplemented => {
            Err(GrpcFail::Unimplemented(s.message().to_string()))
        }
        Err(s) if s.code() == tonic::Code::Unavailable || s.code() == tonic::Code::Unknown => {
            Err(GrpcFail::Other(BallastError::Unreachable(s.to_string())))
        }
        Err(s) => Err(GrpcFail::Other(BallastError::Query {
            path,
            message: s.message().to_string(),
        })),
    }
}

enum GrpcFail {
    Unimplemented(String),
    Other(BallastError),
}

fn header_ref(
    path: &'static str,
    h: Option<lc_pb::BtcHeaderInfo>,
) -> Result<(u64, BlockHash), BallastError> {
    let h = h.ok_or(BallastError::Decode {
        path,
        message: "no header".into(),
    })?;
    let hash = h.hash.parse().map_err(|_| BallastError::Decode {
        path,
        message: format!("bad hash {:?}", h.hash),
    })?;
    Ok((h.height, hash))
}

impl LightClientView for Ballast {
    type Error = BallastError;

    async fn contains(&self, hash: BlockHash) -> Result<bool, BallastError> {
        self.lc_contains(hash).await
    }
}
