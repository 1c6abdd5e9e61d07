//! `ballast-consumer`: a demo consumer chain's side of Ballast's security leasing.
//!
//! It registers a consumer and funds its lease with signed txs, then follows the consumer's
//! validator set over the hub's `ballast.consumer.v1.Consumer` gRPC stream. Every update is
//! verified before it is kept:
//!
//! - [`verify`]: the update's changes are applied to the local set and the CometBFT
//!   validator-set hash is recomputed and compared with the update's; the hub's set commitment
//!   at the update's height must be this update's, and its ICS-23 proof must verify against the
//!   app hash of that height;
//! - [`light`]: that app hash comes from the header of the next height, verified by a CometBFT
//!   light client (`tendermint-light-client-verifier`) run against the hub's RPC from a trusted
//!   header (configured, or, only when `run --trust-on-first-use` or the config allows it,
//!   trusted on first use and recorded);
//! - [`store`]: only then is the new set written, atomically, with its update id; a restart
//!   resumes from it;
//! - [`follow`]: the stream loop, with reconnection and backoff;
//! - [`config`], [`hub`] and [`cli`]: the configuration file, the hub connection and the
//!   commands (`init`, `register`, `fund`, `status`, `run`).

// The demo consumer is an off-chain program, not state-machine code: it reads the clock for
// the light client's trusting period and its retry loop.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]
#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod follow;
pub mod hub;
pub mod light;
pub mod store;
pub mod verify;
