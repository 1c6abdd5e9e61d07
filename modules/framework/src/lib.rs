//! The contract every Ballast module is written against.
//!
//! - [`Module`] and [`MsgHandler`]: genesis, begin-block, end-block and end-epoch hooks, and
//!   message handlers with a stateless check and an execute step.
//! - [`StateRead`] / [`StateWrite`]: raw and typed (protobuf) access with ordered prefix iteration;
//!   [`Overlay`] gives nested copy-on-write layers; [`MemState`] is an in-memory state for tests.
//! - [`GasMeter`] and [`Metered`]: gas charged per read, write, delete and iterated entry.
//! - [`Event`]s, [`TxError`] with a codespace and a stable code, and [`BlockContext`].
//!
//! Module code is synchronous and deterministic: no clock, no randomness, no hash-map iteration,
//! no floats. Time and heights come from the [`BlockContext`].

#![warn(missing_docs)]

mod address;
mod context;
mod decimal;
mod error;
mod event;
mod gas;
mod module;
mod state;

pub use address::{Address, AddressError, ACCOUNT_HRP};
pub use context::{
    BlockContext, BlockHash, ConsensusAddress, Misbehavior, MisbehaviorKind, Timestamp, TxContext,
};
pub use decimal::{Decimal, DecimalError};
pub use error::{sdk, ErrorCode, TxError};
pub use event::Event;
pub use gas::{GasCosts, GasMeter, Metered};
pub use module::{decode_any, GenesisError, Module, Msg, MsgHandler};
pub use state::{
    Changes, KvIter, MemState, Overlay, StateError, StateRead, StateReadExt, StateWrite,
    StateWriteExt, TypedIter, INDEX_MARKER,
};
