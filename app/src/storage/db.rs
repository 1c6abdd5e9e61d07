//! The redb tables and the read views the Jellyfish Merkle tree runs on.

use super::error::{DbContext, StorageError};
use super::RootHash;
use borsh::BorshDeserialize;
use jmt::storage::{HasPreimage, LeafNode, Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};
use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, TableDefinition};

/// Versioned values by raw key: `(key, version)` → the value set at that version, or `None` when
/// the key was deleted at that version.
pub(super) const VALUES: TableDefinition<(&[u8], u64), Option<&[u8]>> =
    TableDefinition::new("values");
/// `sha256(key)` → key, for every key with a value version still stored.
pub(super) const PREIMAGES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("preimages");
/// borsh(`NodeKey`) → borsh(`Node`).
pub(super) const NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("nodes");
/// `(stale_since_version, borsh(NodeKey))`: nodes no longer part of any version from
/// `stale_since_version` on.
pub(super) const STALE: TableDefinition<(u64, &[u8]), ()> = TableDefinition::new("stale_nodes");
/// `(version, key)`: the raw keys written at each version, so that pruning finds superseded
/// value versions without scanning [`VALUES`].
pub(super) const CHANGES: TableDefinition<(u64, &[u8]), ()> =
    TableDefinition::new("changes_by_version");
/// Version → JMT root, for every retained version.
pub(super) const ROOTS: TableDefinition<u64, &[u8; 32]> = TableDefinition::new("roots");
/// Bookkeeping: [`META_LATEST`], [`META_EARLIEST`], [`META_SCHEMA`].
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The non-authenticated keyspace (indexes): key → value.
pub(super) const AUX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("aux");

/// The last committed version.
pub(super) const META_LATEST: &str = "latest";
/// The oldest retained version.
pub(super) const META_EARLIEST: &str = "earliest";
/// The on-disk layout version.
pub(super) const META_SCHEMA: &str = "schema";
/// The layout this code writes.
pub(super) const SCHEMA: u64 = 1;

/// The file inside the storage directory.
pub(super) const DB_FILE: &str = "state.redb";

/// `sha256(key)`, the JMT key hash.
pub(super) fn key_hash(key: &[u8]) -> KeyHash {
    KeyHash::with::<sha2::Sha256>(key)
}

/// The newest value of `key` at or below `version` (`None` if absent or deleted).
pub(super) fn value_at<T>(
    values: &T,
    key: &[u8],
    version: u64,
) -> Result<Option<Vec<u8>>, StorageError>
where
    T: ReadableTable<(&'static [u8], u64), Option<&'static [u8]>>,
{
    let mut range = values
        .range((key, 0u64)..=(key, version))
        .ctx("read value")?;
    match range.next_back() {
        None => Ok(None),
        Some(entry) => {
            let (_, value) = entry.ctx("read value")?;
            Ok(value.value().map(<[u8]>::to_vec))
        }
    }
}

/// Reads a `META` entry.
pub(super) fn meta<T>(table: &T, name: &str) -> Result<Option<u64>, StorageError>
where
    T: ReadableTable<&'static str, u64>,
{
    Ok(table.get(name).ctx("read meta")?.map(|g| g.value()))
}

pub(super) fn encode<T: borsh::BorshSerialize>(value: &T) -> Result<Vec<u8>, StorageError> {
    borsh::to_vec(value).map_err(StorageError::Encode)
}

/// Latest and earliest versions as recorded in one read transaction.
pub(super) struct Bounds {
    pub(super) latest: Option<u64>,
    pub(super) earliest: Option<u64>,
}

impl Bounds {
    pub(super) fn read(txn: &ReadTransaction) -> Result<Bounds, StorageError> {
        let table = txn.open_table(META).ctx("open meta table")?;
        Ok(Bounds {
            latest: meta(&table, META_LATEST)?,
            earliest: meta(&table, META_EARLIEST)?,
        })
    }

    /// Errors unless `version` is committed and retained.
    pub(super) fn check_retained(&self, version: u64) -> Result<(), StorageError> {
        match self.latest {
            Some(latest) if version <= latest => {}
            latest => return Err(StorageError::NotCommitted { version, latest }),
        }
        match self.earliest {
            Some(earliest) if version < earliest => Err(StorageError::Pruned { version, earliest }),
            Some(_) => Ok(()),
            None => Err(StorageError::Corrupt(format!(
                "latest version {version} is recorded but no earliest version"
            ))),
        }
    }
}

/// A consistent read-only view of one committed version, on an MVCC read transaction.
pub(super) struct ReadView {
    pub(super) version: u64,
    pub(super) root: RootHash,
    pub(super) values: ReadOnlyTable<(&'static [u8], u64), Option<&'static [u8]>>,
    preimages: ReadOnlyTable<&'static [u8; 32], &'static [u8]>,
    nodes: ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl ReadView {
    /// Opens `version`, which must be retained in `txn` (the caller checks it with [`Bounds`]).
    pub(super) fn open(txn: &ReadTransaction, version: u64) -> Result<ReadView, StorageError> {
        let roots = txn.open_table(ROOTS).ctx("open roots table")?;
        let root = roots
            .get(version)
            .ctx("read root")?
            .map(|g| *g.value())
            .ok_or_else(|| {
                StorageError::Corrupt(format!("no root recorded for retained version {version}"))
            })?;
        Ok(ReadView {
            version,
            root,
            values: txn.open_table(VALUES).ctx("open values table")?,
            preimages: txn.open_table(PREIMAGES).ctx("open preimages table")?,
            nodes: txn.open_table(NODES).ctx("open nodes table")?,
        })
    }

    pub(super) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        value_at(&self.values, key, self.version)
    }

    fn node(&self, node_key: &NodeKey) -> Result<Option<Node>, StorageError> {
        let key = encode(node_key)?;
        let guard = self.nodes.get(key.as_slice()).ctx("read node")?;
        match guard {
            None => Ok(None),
            Some(g) => Node::try_from_slice(g.value())
                .map(Some)
                .map_err(StorageError::Decode),
        }
    }

    fn preimage_of(&self, hash: &KeyHash) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .preimages
            .get(&hash.0)
            .ctx("read key preimage")?
            .map(|g| g.value().to_vec()))
    }
}

impl TreeReader for ReadView {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.node(node_key)?)
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        match self.preimage_of(&key_hash)? {
            None => Ok(None),
            Some(key) => Ok(value_at(&self.values, &key, max_version)?),
        }
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("get_rightmost_leaf is only used by tree restoration, which is not supported")
    }
}

impl HasPreimage for ReadView {
    fn preimage(&self, key_hash: KeyHash) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.preimage_of(&key_hash)?)
    }
}

/// The tree before anything was committed: every root is the empty (`Null`) node.
///
/// jmt's `put_value_set(_, v)` starts from the root at `v - 1`; answering `Null` for it lets the
/// first version be any number >= 1.
pub(super) struct EmptyReader;

impl TreeReader for EmptyReader {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(node_key.nibble_path().is_empty().then_some(Node::Null))
    }

    fn get_value_option(&self, _: Version, _: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        Ok(None)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(None)
    }
}
