//! How a node hands a user's tx to consensus. Under `ballastd start` the tx goes to CometBFT's
//! mempool through its JSON-RPC; under `ballastd dev` it goes to the in-process block producer.
//! The gRPC `BroadcastTx` service is written against this trait only.

use std::future::Future;
use std::pin::Pin;

/// When a broadcast returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BroadcastMode {
    /// Right away, without waiting for CheckTx.
    Async,
    /// After CheckTx.
    Sync,
    /// After the tx is in a committed block (or failed CheckTx).
    Commit,
}

/// What a broadcast reports. With `Commit`, `height` and the execution result are those of the
/// block; otherwise they are CheckTx's (and `height` is 0).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BroadcastResult {
    /// SHA-256 of the tx bytes.
    pub hash: [u8; 32],
    /// 0 on success.
    pub code: u32,
    /// Error codespace ("" on success).
    pub codespace: String,
    /// Error message or result log.
    pub log: String,
    /// Gas limit the tx asked for.
    pub gas_wanted: i64,
    /// Gas it used (CheckTx or execution).
    pub gas_used: i64,
    /// Block height (Commit mode only).
    pub height: u64,
}

/// Why a broadcast could not be made at all (as opposed to a tx that was rejected, which is a
/// [`BroadcastResult`] with a non-zero code).
#[derive(Debug, thiserror::Error)]
pub enum BroadcastError {
    /// The consensus engine could not be reached.
    #[error("cannot reach the consensus engine: {0}")]
    Unavailable(String),
    /// The consensus engine answered something Ballast does not understand.
    #[error("unexpected answer from the consensus engine: {0}")]
    Protocol(String),
    /// The tx was accepted but not committed in time (Commit mode).
    #[error("timed out waiting for the tx to be committed: {0}")]
    Timeout(String),
}

/// A boxed future, so the trait stays object-safe without an async-trait dependency.
pub type BroadcastFuture =
    Pin<Box<dyn Future<Output = Result<BroadcastResult, BroadcastError>> + Send + 'static>>;

/// Hands txs to consensus.
pub trait Broadcaster: Send + Sync + 'static {
    /// Submits `tx` and waits as `mode` says.
    fn broadcast(&self, tx: Vec<u8>, mode: BroadcastMode) -> BroadcastFuture;
}
