//! Ballast's on-chain Bitcoin light client.
//!
//! It stores Bitcoin headers from a base header named in genesis, checks each new header's
//! connection, proof of work, difficulty (retargets, the testnet min-difficulty rule, BIP94),
//! median time past and version, and follows the chain with the most cumulative work.
//!
//! - [`MsgInsertHeaders`] (`/ballast.btclightclient.v1.MsgInsertHeaders`), open to anyone, adds
//!   headers through [`insert_headers`], which returns a [`TipChange`]: the headers added, the
//!   old and new tips, and the blocks rolled back and forward. The message emits the events of
//!   [`events`] and runs the [`BtcLightClientHooks`] registered with the module.
//! - Other modules read through [`BtcLightClientRead`] (tip, headers by hash or height, depth,
//!   best-chain membership, and SPV proof verification) and never through raw keys.
//! - Queries are served on `/ballast.btclightclient.v1.Query/<Method>` ([`query`]).
//!
//! See [`chain`] for the exact rules and for how work per message stays bounded.

#![warn(missing_docs)]

pub mod chain;
pub mod error;
pub mod events;
pub mod genesis;
pub mod hooks;
pub mod merkle;
pub mod msg;
pub mod network;
pub mod params;
pub mod pow;
pub mod query;
pub mod state_key;
mod work;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

pub use chain::{insert_headers, CheckedHeaders, UncheckedHeaders};
pub use error::BtcLightClientError;
pub use genesis::{BaseHeader, GenesisState};
pub use hooks::{BtcLightClientHooks, HookList};
pub use merkle::{TxInclusion, TxInclusionProof};
pub use msg::insert_headers::MsgInsertHeaders;
pub use network::BtcNetwork;
pub use params::Params;
pub use query::BtcLightClientRead;
pub use work::{ChainWork, ChainWorkParseError};

use ballast_framework::{
    BlockContext, GenesisError, Module, Msg, MsgHandler, StateRead, StateWrite, TxError,
};
use ballast_proto::ballast::btclightclient::v1 as pb;
use bitcoin::block::Header;
use bitcoin::BlockHash;
use std::sync::Arc;

/// Name of the module, its genesis section and its key prefix.
pub const MODULE_NAME: &str = "btclightclient";

/// A block on some branch: its hash and height.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockRef {
    /// The block hash.
    pub hash: BlockHash,
    /// Its height.
    pub height: u64,
}

/// A known header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderInfo {
    /// Its hash.
    pub hash: BlockHash,
    /// Its height.
    pub height: u64,
    /// The header.
    pub header: Header,
    /// Cumulative work of its chain up to and including it.
    pub cumulative_work: ChainWork,
}

impl HeaderInfo {
    /// Its hash and height.
    pub fn block_ref(&self) -> BlockRef {
        BlockRef {
            hash: self.hash,
            height: self.height,
        }
    }

    /// The query form.
    pub fn to_proto(&self) -> pb::BtcHeaderInfo {
        pb::BtcHeaderInfo {
            hash: self.hash.to_string(),
            height: self.height,
            header: bitcoin::consensus::serialize(&self.header),
            cumulative_work: self.cumulative_work.to_string(),
        }
    }
}

/// What one insertion changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TipChange {
    /// The new headers, lowest first (already-known headers of the message are not included).
    pub added: Vec<HeaderInfo>,
    /// The tip before.
    pub old_tip: HeaderInfo,
    /// The tip after (the old tip when the new headers did not out-work it).
    pub new_tip: HeaderInfo,
    /// The highest block shared by the old and new best chains (the old tip when the chain was
    /// only extended or did not move).
    pub fork_point: BlockRef,
    /// Blocks that left the best chain, in the order they were undone: highest first, down to
    /// just above the fork point.
    pub rolled_back: Vec<BlockRef>,
    /// Blocks that joined the best chain, in the order they were applied: from just above the
    /// fork point up to the new tip.
    pub rolled_forward: Vec<BlockRef>,
}

impl TipChange {
    /// Whether the tip moved.
    pub fn tip_changed(&self) -> bool {
        self.old_tip.hash != self.new_tip.hash
    }

    /// Whether blocks left the best chain.
    pub fn is_reorg(&self) -> bool {
        !self.rolled_back.is_empty()
    }
}

/// The Bitcoin light client module.
#[derive(Debug, Default, Clone)]
pub struct BtcLightClientModule {
    hooks: HookList,
}

impl BtcLightClientModule {
    /// The module without listeners.
    pub fn new() -> Self {
        Self::default()
    }

    /// The module with listeners of tip changes, called in this order.
    pub fn with_hooks(hooks: Vec<Arc<dyn BtcLightClientHooks>>) -> Self {
        BtcLightClientModule {
            hooks: HookList::new(hooks),
        }
    }
}

impl Module for BtcLightClientModule {
    fn name(&self) -> &'static str {
        MODULE_NAME
    }

    fn default_genesis(&self) -> serde_json::Value {
        serde_json::to_value(GenesisState::default())
            .expect("the btclightclient genesis is plain data and always serialises")
    }

    fn init_genesis(
        &self,
        state: &mut dyn StateWrite,
        _ctx: &BlockContext,
        genesis: Option<&serde_json::Value>,
    ) -> Result<(), GenesisError> {
        let gs = match genesis {
            Some(v) => GenesisState::from_json(v).map_err(|e| GenesisError::new(MODULE_NAME, e))?,
            None => GenesisState::default(),
        };
        gs.apply(state)
            .map_err(|e| GenesisError::new(MODULE_NAME, e.to_string()))
    }

    fn decode_msg(&self, any: &prost_types::Any) -> Option<Result<Box<dyn Msg>, TxError>> {
        if any.type_url != MsgInsertHeaders::TYPE_URL {
            return None;
        }
        Some(
            MsgInsertHeaders::decode(&any.value)
                .map(|m| Box::new(m.with_hooks(self.hooks.clone())) as Box<dyn Msg>),
        )
    }

    fn query(
        &self,
        state: &dyn StateRead,
        path: &str,
        data: &[u8],
    ) -> Option<Result<Vec<u8>, TxError>> {
        query::route(state, path, data)
    }
}
