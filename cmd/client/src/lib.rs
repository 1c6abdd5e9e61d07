//! Ballast client library, shared by the `ballastd` command line, the vigilante and tests:
//! the keyring, BTC key files, transaction building and signing, and a CometBFT JSON-RPC client.

// Client code runs outside consensus: it may use the clock, randomness and hash maps.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod btc_key;
pub mod keyring;
pub mod rpc;
pub mod txbuild;
