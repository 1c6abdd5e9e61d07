//! `ballast-covenant`: the daemon a BTC staking covenant member runs.
//!
//! BTC delegations are registered PENDING. Each covenant member checks every PENDING delegation
//! whose committee names its key, independently of the chain ([`check`]), and adds its
//! signatures with `MsgAddCovenantSigs`: an adaptor signature on each of the two slashing txs,
//! encrypted to the operator's BTC key, and a BIP-340 signature on the unbonding tx. Once a
//! quorum of the committee signed, the delegation is VERIFIED.
//!
//! - [`check`]: the checks (staking output rebuilt from the keys and params, unbonding and
//!   slashing tx shapes, the staker's pre-signatures) and the signing; pure, unit-tested with
//!   the BTC staking reference vectors.
//! - [`signer`]: one poll: list, filter, check, sign, send; remembers what it did in memory.
//! - [`daemon`]: the poll loop with backoff and clean shutdown on SIGINT/SIGTERM.
//! - [`config`] and [`cli`]: `init-config`, `keygen` and `start`.

// The signer is an off-chain daemon, not state-machine code: it reads the clock for its poll
// loop and retry times.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]
#![warn(missing_docs)]

pub mod check;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod signer;

#[cfg(test)]
mod testutil;
