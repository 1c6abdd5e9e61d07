//! The Ballast application crate: the fixed module order, the tx pipeline, the authenticated
//! storage engine, and the ABCI 2.0 adapter and socket server for CometBFT v0.38.

#![warn(missing_docs)]

pub mod abci;
pub mod abci_convert;
pub mod app;
pub mod bls_key;
pub mod broadcast;
pub mod checkpoint_hook;
pub mod config;
pub mod dev;
pub mod genesis;
pub mod grpc;
pub mod hooks;
pub mod metrics;
pub mod modules;
pub mod server;
pub mod storage;
pub mod tx;

pub use app::{App, AppError, BaseState};
pub use config::{AppConfig, FaultPoint};

/// The app protocol version reported in Info.
pub const APP_VERSION: u64 = 1;

/// Type of the proof op in store queries: an ICS-23 `CommitmentProof` against the JMT root
/// (spec: `jmt::ics23_spec()`).
pub const PROOF_OP_TYPE: &str = "ics23:jmt";

/// Key of a tx in the non-authenticated tx index.
pub fn tx_index_key(hash: &[u8; 32]) -> Vec<u8> {
    let mut k = b"tx/".to_vec();
    k.extend_from_slice(hash);
    k
}
