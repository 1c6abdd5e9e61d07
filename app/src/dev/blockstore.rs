//! The dev chain's block store: blocks with their ids and commits, block results, and the tx
//! index, in a redb database under `<home>/data/dev`. A block is written (fsynced) before it is
//! executed and its results right after, as CometBFT does, so a restart can replay a block the
//! app never committed.

use prost::Message;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;
use tendermint_proto::v0_38::abci as pb;
use tendermint_proto::v0_38::types as raw;

/// Height → [`StoredBlock`].
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
/// Height → `ResponseFinalizeBlock`.
const RESULTS: TableDefinition<u64, &[u8]> = TableDefinition::new("results");
/// SHA-256 of a tx → (height, index in the block).
const TX_INDEX: TableDefinition<&[u8; 32], (u64, u32)> = TableDefinition::new("tx_index");
/// Block hash → height.
const BLOCK_HASHES: TableDefinition<&[u8; 32], u64> = TableDefinition::new("block_hashes");

/// The database file inside the store directory.
pub const DB_FILE: &str = "blockstore.redb";

/// A decided block with everything needed to serve it and to build the next one.
#[derive(Clone, PartialEq, Message)]
pub struct StoredBlock {
    /// The block, as CometBFT encodes it.
    #[prost(message, optional, tag = "1")]
    pub block: Option<raw::Block>,
    /// Its id (header hash and part set header).
    #[prost(message, optional, tag = "2")]
    pub block_id: Option<raw::BlockId>,
    /// The commit that decided it (CometBFT's "seen commit").
    #[prost(message, optional, tag = "3")]
    pub seen_commit: Option<raw::Commit>,
    /// The votes with their extensions, for the next PrepareProposal's `local_last_commit`.
    #[prost(message, optional, tag = "4")]
    pub extended_commit: Option<pb::ExtendedCommitInfo>,
}

/// A block store failure.
#[derive(Debug, thiserror::Error)]
#[error("block store: {context}: {message}")]
pub struct BlockStoreError {
    context: &'static str,
    message: String,
}

trait Ctx<T> {
    fn ctx(self, context: &'static str) -> Result<T, BlockStoreError>;
}

impl<T, E: std::fmt::Display> Ctx<T> for Result<T, E> {
    fn ctx(self, context: &'static str) -> Result<T, BlockStoreError> {
        self.map_err(|e| BlockStoreError {
            context,
            message: e.to_string(),
        })
    }
}

/// The block store. Reads run concurrently with writes.
pub struct BlockStore {
    db: Database,
}

impl BlockStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<BlockStore, BlockStoreError> {
        std::fs::create_dir_all(dir).ctx("create the store directory")?;
        let db = Database::create(dir.join(DB_FILE)).ctx("open")?;
        let txn = db.begin_write().ctx("begin write")?;
        {
            txn.open_table(BLOCKS).ctx("create blocks table")?;
            txn.open_table(RESULTS).ctx("create results table")?;
            txn.open_table(TX_INDEX).ctx("create tx index")?;
            txn.open_table(BLOCK_HASHES)
                .ctx("create block hash index")?;
        }
        txn.commit().ctx("commit")?;
        Ok(BlockStore { db })
    }

    /// The lowest and highest stored heights (`None` when empty).
    pub fn range(&self) -> Result<Option<(u64, u64)>, BlockStoreError> {
        let txn = self.db.begin_read().ctx("begin read")?;
        let t = txn.open_table(BLOCKS).ctx("open blocks")?;
        let first = t.first().ctx("read first block")?.map(|(k, _)| k.value());
        let last = t.last().ctx("read last block")?.map(|(k, _)| k.value());
        Ok(first.zip(last))
    }

    /// Writes a decided block before it is executed.
    pub fn put_block(&self, height: u64, b: &StoredBlock) -> Result<(), BlockStoreError> {
        let hash: Option<[u8; 32]> = b
            .block_id
            .as_ref()
            .and_then(|id| id.hash.as_slice().try_into().ok());
        let txn = self.db.begin_write().ctx("begin write")?;
        {
            let mut t = txn.open_table(BLOCKS).ctx("open blocks")?;
            t.insert(height, b.encode_to_vec().as_slice())
                .ctx("write block")?;
            if let Some(hash) = hash {
                let mut h = txn.open_table(BLOCK_HASHES).ctx("open block hashes")?;
                h.insert(&hash, height).ctx("write block hash")?;
            }
        }
        txn.commit().ctx("commit block")
    }

    /// Writes a block's results and indexes its txs by hash.
    pub fn put_results(
        &self,
        height: u64,
        tx_hashes: &[[u8; 32]],
        r: &pb::ResponseFinalizeBlock,
    ) -> Result<(), BlockStoreError> {
        let txn = self.db.begin_write().ctx("begin write")?;
        {
            let mut t = txn.open_table(RESULTS).ctx("open results")?;
            t.insert(height, r.encode_to_vec().as_slice())
                .ctx("write results")?;
            let mut idx = txn.open_table(TX_INDEX).ctx("open tx index")?;
            for (i, h) in tx_hashes.iter().enumerate() {
                let i = u32::try_from(i).ctx("tx index")?;
                idx.insert(h, (height, i)).ctx("write tx index")?;
            }
        }
        txn.commit().ctx("commit results")
    }

    /// The stored block at `height`.
    pub fn block(&self, height: u64) -> Result<Option<StoredBlock>, BlockStoreError> {
        let txn = self.db.begin_read().ctx("begin read")?;
        let t = txn.open_table(BLOCKS).ctx("open blocks")?;
        match t.get(height).ctx("read block")? {
            None => Ok(None),
            Some(v) => StoredBlock::decode(v.value())
                .map(Some)
                .ctx("decode stored block"),
        }
    }

    /// The results of the block at `height` (`None` if it was not executed yet).
    pub fn results(
        &self,
        height: u64,
    ) -> Result<Option<pb::ResponseFinalizeBlock>, BlockStoreError> {
        let txn = self.db.begin_read().ctx("begin read")?;
        let t = txn.open_table(RESULTS).ctx("open results")?;
        match t.get(height).ctx("read results")? {
            None => Ok(None),
            Some(v) => pb::ResponseFinalizeBlock::decode(v.value())
                .map(Some)
                .ctx("decode stored results"),
        }
    }

    /// Where the tx with this hash was committed.
    pub fn tx_location(&self, hash: &[u8; 32]) -> Result<Option<(u64, u32)>, BlockStoreError> {
        let txn = self.db.begin_read().ctx("begin read")?;
        let t = txn.open_table(TX_INDEX).ctx("open tx index")?;
        Ok(t.get(hash).ctx("read tx index")?.map(|v| v.value()))
    }

    /// The height of the block with this hash.
    pub fn height_of(&self, hash: &[u8; 32]) -> Result<Option<u64>, BlockStoreError> {
        let txn = self.db.begin_read().ctx("begin read")?;
        let t = txn.open_table(BLOCK_HASHES).ctx("open block hashes")?;
        Ok(t.get(hash).ctx("read block hash")?.map(|v| v.value()))
    }
}
