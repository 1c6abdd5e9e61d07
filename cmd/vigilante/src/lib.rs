//! `ballast-vigilante`: the off-chain daemon that connects Ballast with Bitcoin.
//!
//! - [`submitter`]: reads SEALED checkpoints from Ballast and writes each to Bitcoin as two
//!   chained OP_RETURN transactions, funded and signed by bitcoind's wallet; bumps fees with
//!   RBF; persists what it sent before broadcasting ([`state`]), so that a restart never pays
//!   twice.
//! - [`reporter`]: keeps Ballast's Bitcoin light client on bitcoind's best chain (headers in
//!   batches, across reorgs) and reports the checkpoint transactions it finds in blocks with
//!   `MsgInsertBtcSpvProof`.
//! - [`daemon`]: runs both, retrying every connection error with backoff.
//!
//! The pure parts (transaction building in [`txbuild`], part discovery and pairing in
//! [`scan`], the fork-point search in [`chain`], persistence in [`state`]) are unit-tested
//! without a node; the rest is tested against a real bitcoind and `ballastd dev` in
//! `tests/tests/vigilante_*.rs`.

// The vigilante is an off-chain daemon, not state-machine code: it reads the clock for its
// poll loops and logs, and keeps per-process maps.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]
#![warn(missing_docs)]

pub mod ballast;
pub mod btc;
pub mod chain;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod fault;
pub mod reporter;
pub mod scan;
pub mod state;
pub mod submitter;
pub mod txbuild;
