//! A CometBFT v0.38 JSON-RPC client over plain HTTP.
//!
//! Requests and responses use the `tendermint-rpc` endpoint types, so anything this client reads
//! is exactly what CometBFT (or `ballastd dev`, which serves the same JSON) writes. `--node`
//! addresses take the Cosmos forms `tcp://host:port` and `http://host:port`.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::time::Duration;
use tendermint_rpc::dialect::v0_38::Dialect as V038;
use tendermint_rpc::endpoint::{abci_info, abci_query, broadcast, status, tx};
use tendermint_rpc::{Response as _, SimpleRequest};

/// Why an RPC call failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The node address cannot be used.
    #[error("bad node address {addr:?}: {why}")]
    BadAddress {
        /// What was given.
        addr: String,
        /// What is wrong with it.
        why: String,
    },
    /// The node could not be reached or the connection broke.
    #[error("cannot reach the node at {url}: {why}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// The transport error.
        why: String,
    },
    /// The node did not answer in time.
    #[error("the node at {url} did not answer {method} within {secs} s")]
    Timeout {
        /// The URL called.
        url: String,
        /// The RPC method.
        method: String,
        /// The timeout.
        secs: u64,
    },
    /// The node answered with an HTTP error or a JSON-RPC error.
    #[error("{method} failed: {why}")]
    Remote {
        /// The RPC method.
        method: String,
        /// The error the node returned.
        why: String,
    },
}

/// A CometBFT JSON-RPC client.
#[derive(Clone, Debug)]
pub struct CometRpc {
    url: String,
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

/// Turns a `--node` value into an `http://host:port/` URL.
pub fn normalize_node_url(addr: &str) -> Result<String, RpcError> {
    let bad = |why: &str| RpcError::BadAddress {
        addr: addr.to_string(),
        why: why.to_string(),
    };
    let rest = if let Some(r) = addr.strip_prefix("tcp://") {
        r
    } else if let Some(r) = addr.strip_prefix("http://") {
        r
    } else if addr.starts_with("https://") {
        return Err(bad(
            "https is not supported; reach the node over loopback or a TLS-terminating proxy that speaks http to this client",
        ));
    } else if addr.contains("://") {
        return Err(bad("expected tcp://host:port or http://host:port"));
    } else {
        addr
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || !rest.contains(':') {
        return Err(bad("expected host:port"));
    }
    Ok(format!("http://{rest}/"))
}

impl CometRpc {
    /// A client for the node at `addr` (`tcp://host:port` or `http://host:port`).
    pub fn new(addr: &str) -> Result<CometRpc, RpcError> {
        let url = normalize_node_url(addr)?;
        url.parse::<hyper::Uri>()
            .map_err(|e| RpcError::BadAddress {
                addr: addr.to_string(),
                why: e.to_string(),
            })?;
        Ok(CometRpc {
            url,
            client: Client::builder(TokioExecutor::new()).build_http(),
            timeout: Duration::from_secs(30),
        })
    }

    /// Changes the per-call timeout (30 s by default).
    pub fn with_timeout(mut self, timeout: Duration) -> CometRpc {
        self.timeout = timeout;
        self
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Posts one raw JSON-RPC body and returns the raw answer.
    pub async fn post_raw(&self, method: &str, body: String) -> Result<Vec<u8>, RpcError> {
        let unreachable = |why: String| RpcError::Unreachable {
            url: self.url.clone(),
            why,
        };
        let req = hyper::Request::post(self.url.as_str())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| unreachable(e.to_string()))?;
        let call = async {
            let resp =
                self.client.request(req).await.map_err(|e| {
                    unreachable(format!("{e}: {:?}", std::error::Error::source(&e)))
                })?;
            let status = resp.status();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| unreachable(e.to_string()))?
                .to_bytes();
            if !status.is_success() && bytes.is_empty() {
                return Err(RpcError::Remote {
                    method: method.to_string(),
                    why: format!("HTTP {status}"),
                });
            }
            Ok(bytes.to_vec())
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(RpcError::Timeout {
                url: self.url.clone(),
                method: method.to_string(),
                secs: self.timeout.as_secs(),
            }),
        }
    }

    /// Performs one typed request.
    pub async fn perform<R>(&self, req: R) -> Result<R::Output, RpcError>
    where
        R: SimpleRequest<V038>,
    {
        let method = req.method().to_string();
        let raw = self.post_raw(&method, req.into_json()).await?;
        let resp =
            <R as tendermint_rpc::Request<V038>>::Response::from_string(&raw).map_err(|e| {
                RpcError::Remote {
                    method: method.clone(),
                    why: e.to_string(),
                }
            })?;
        Ok(resp.into())
    }

    /// `status`.
    pub async fn status(&self) -> Result<status::Response, RpcError> {
        self.perform(status::Request).await
    }

    /// `abci_info`.
    pub async fn abci_info(&self) -> Result<abci_info::Response, RpcError> {
        self.perform(abci_info::Request).await
    }

    /// `abci_query` at `height` (0 = latest).
    pub async fn abci_query(
        &self,
        path: &str,
        data: Vec<u8>,
        height: u64,
        prove: bool,
    ) -> Result<abci_query::AbciQuery, RpcError> {
        let height = if height == 0 {
            None
        } else {
            Some(
                tendermint::block::Height::try_from(height).map_err(|e| RpcError::Remote {
                    method: "abci_query".into(),
                    why: format!("bad height {height}: {e}"),
                })?,
            )
        };
        let r = self
            .perform(abci_query::Request::new(
                Some(path.to_string()),
                data,
                height,
                prove,
            ))
            .await?;
        Ok(r.response)
    }

    /// `broadcast_tx_sync`: the CheckTx result.
    pub async fn broadcast_tx_sync(
        &self,
        tx: Vec<u8>,
    ) -> Result<broadcast::tx_sync::Response, RpcError> {
        self.perform(broadcast::tx_sync::Request::new(tx)).await
    }

    /// `broadcast_tx_async`.
    pub async fn broadcast_tx_async(
        &self,
        tx: Vec<u8>,
    ) -> Result<broadcast::tx_async::Response, RpcError> {
        self.perform(broadcast::tx_async::Request::new(tx)).await
    }

    /// `tx` by hash; `None` when the node does not know it (yet).
    pub async fn tx(&self, hash: [u8; 32]) -> Result<Option<tx::Response>, RpcError> {
        let h = tendermint::Hash::Sha256(hash);
        match self.perform(tx::Request::new(h, false)).await {
            Ok(r) => Ok(Some(r)),
            // CometBFT answers an unknown hash with an internal error "tx (HASH) not found".
            Err(RpcError::Remote { why, .. }) if why.contains("not found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Polls `tx` until the tx is in a block, or `timeout` passes.
    pub async fn wait_for_tx(
        &self,
        hash: [u8; 32],
        timeout: Duration,
    ) -> Result<tx::Response, RpcError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(r) = self.tx(hash).await? {
                return Ok(r);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RpcError::Timeout {
                    url: self.url.clone(),
                    method: format!("tx {}", hex::encode_upper(hash)),
                    secs: timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until the node reports a block at or above `height`.
    pub async fn wait_for_height(&self, height: u64, timeout: Duration) -> Result<u64, RpcError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let last = match self.status().await {
                Ok(s) => s.sync_info.latest_block_height.value(),
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(_) => 0,
            };
            if last >= height {
                return Ok(last);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RpcError::Timeout {
                    url: self.url.clone(),
                    method: format!("status (waiting for height {height}, at {last})"),
                    secs: timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_addresses_take_the_cosmos_forms() {
        assert_eq!(
            normalize_node_url("tcp://127.0.0.1:26657").unwrap(),
            "http://127.0.0.1:26657/"
        );
        assert_eq!(
            normalize_node_url("http://localhost:26657/").unwrap(),
            "http://localhost:26657/"
        );
        assert_eq!(
            normalize_node_url("127.0.0.1:1").unwrap(),
            "http://127.0.0.1:1/"
        );
        for bad in ["https://x:1", "grpc://x:1", "tcp://", "localhost"] {
            assert!(normalize_node_url(bad).is_err(), "{bad} accepted");
        }
    }

    #[tokio::test]
    async fn an_unreachable_node_is_an_error_not_a_hang() {
        // Port 1 on loopback refuses connections.
        let rpc = CometRpc::new("tcp://127.0.0.1:1")
            .unwrap()
            .with_timeout(Duration::from_secs(5));
        match rpc.status().await {
            Err(RpcError::Unreachable { .. }) => {}
            other => panic!("expected Unreachable, got {other:?}"),
        }
    }
}
