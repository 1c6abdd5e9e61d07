//! Under `ballastd start`, gRPC `BroadcastTx` hands txs to the node's own CometBFT through its
//! JSON-RPC, exactly as a wallet would.

use ballast_app::broadcast::{
    BroadcastError, BroadcastFuture, BroadcastMode, BroadcastResult, Broadcaster,
};
use ballast_client::rpc::{CometRpc, RpcError};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Cosmos SDK's code for "tx already in the mempool cache".
const CODE_TX_IN_MEMPOOL_CACHE: u32 = 19;

/// Forwards txs to CometBFT's `broadcast_tx_*`.
#[derive(Clone, Debug)]
pub struct CometBroadcaster {
    rpc: CometRpc,
    commit_timeout: Duration,
}

impl CometBroadcaster {
    /// Forwards to the CometBFT RPC at `url`.
    pub fn new(url: &str) -> anyhow::Result<CometBroadcaster> {
        Ok(CometBroadcaster {
            rpc: CometRpc::new(url)?,
            commit_timeout: Duration::from_secs(60),
        })
    }
}

fn map_err(e: RpcError) -> BroadcastError {
    match e {
        RpcError::Unreachable { .. } | RpcError::BadAddress { .. } => {
            BroadcastError::Unavailable(e.to_string())
        }
        RpcError::Timeout { .. } => BroadcastError::Timeout(e.to_string()),
        RpcError::Remote { .. } => BroadcastError::Protocol(e.to_string()),
    }
}

impl Broadcaster for CometBroadcaster {
    fn broadcast(&self, tx: Vec<u8>, mode: BroadcastMode) -> BroadcastFuture {
        let rpc = self.rpc.clone();
        let commit_timeout = self.commit_timeout;
        Box::pin(async move {
            let hash: [u8; 32] = Sha256::digest(&tx).into();
            let mut out = BroadcastResult {
                hash,
                ..Default::default()
            };
            let checked = match mode {
                BroadcastMode::Async => rpc
                    .broadcast_tx_async(tx)
                    .await
                    .map(|r| (r.code.value(), r.codespace, r.log)),
                BroadcastMode::Sync | BroadcastMode::Commit => rpc
                    .broadcast_tx_sync(tx)
                    .await
                    .map(|r| (r.code.value(), r.codespace, r.log)),
            };
            match checked {
                Ok((code, codespace, log)) => {
                    out.code = code;
                    out.codespace = codespace;
                    out.log = log;
                }
                // CometBFT answers a duplicate with a JSON-RPC error, not a CheckTx code.
                Err(RpcError::Remote { why, .. }) if why.contains("tx already exists in cache") => {
                    out.code = CODE_TX_IN_MEMPOOL_CACHE;
                    out.codespace = ballast_framework::sdk::CODESPACE.into();
                    out.log = "tx already exists in cache".into();
                    return Ok(out);
                }
                Err(e) => return Err(map_err(e)),
            }
            if mode != BroadcastMode::Commit || out.code != 0 {
                return Ok(out);
            }
            let d = rpc
                .wait_for_tx(hash, commit_timeout)
                .await
                .map_err(map_err)?;
            out.code = d.tx_result.code.value();
            out.codespace = d.tx_result.codespace;
            out.log = d.tx_result.log;
            out.gas_wanted = d.tx_result.gas_wanted;
            out.gas_used = d.tx_result.gas_used;
            out.height = d.height.value();
            Ok(out)
        })
    }
}
