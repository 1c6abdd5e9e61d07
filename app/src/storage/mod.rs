//! Authenticated storage: a Jellyfish Merkle tree over redb, versioned by block height.
//!
//! The app hash is the JMT root (sha256). One redb file (`<dir>/state.redb`) holds:
//!
//! - tree nodes (borsh `NodeKey` → borsh `Node`) and the index of nodes that went stale at
//!   each version, which pruning uses;
//! - values by raw key and version (`None` marks a deletion), plus `sha256(key)` → key
//!   preimages, so reads and ordered prefix iteration at any retained version work on raw keys
//!   and the tree can build ICS-23 proofs;
//! - the root of every retained version, and the latest and earliest versions;
//! - a non-authenticated keyspace (`aux`) for indexes, written in the same transaction.
//!
//! Flow: [`Storage::stage`] computes the next root without writing (FinalizeBlock);
//! [`Storage::commit`] writes the staged version in one fsynced redb transaction and prunes
//! (Commit). A crash before `commit` returns leaves the previous version exactly. Reads go
//! through [`Snapshot`]s on MVCC read transactions and never block commits.

mod db;
mod error;
mod snapshot;
#[cfg(test)]
mod tests;

pub use error::{error_chain, StorageError};
pub use snapshot::{PrefixIter, Snapshot};

use db::{
    encode, key_hash, meta, Bounds, EmptyReader, ReadView, AUX, CHANGES, DB_FILE, META,
    META_EARLIEST, META_LATEST, META_SCHEMA, NODES, PREIMAGES, ROOTS, SCHEMA, STALE, VALUES,
};
use error::DbContext;
use jmt::storage::{NibblePath, NodeKey, StaleNodeIndex, TreeReader, TreeUpdateBatch};
use jmt::{JellyfishMerkleTree, KeyHash};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, WriteTransaction};
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::RwLock;

/// A JMT root: the app hash.
pub type RootHash = [u8; 32];

/// Raw key → new value, or `None` to delete.
type ChangeSet = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// The root of the empty tree.
pub(crate) const EMPTY_ROOT: RootHash =
    JellyfishMerkleTree::<'static, EmptyReader, sha2::Sha256>::EMPTY_ROOT.0;

/// How much history to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StorageConfig {
    /// After committing version `v`, keep versions `v - keep_recent ..= v` readable and
    /// provable and prune older ones. 0 keeps every version.
    pub keep_recent: u64,
}

/// The versioned, authenticated state store. `Send + Sync`; share it in an `Arc`.
pub struct Storage {
    /// `None` once [`Storage::close`] ran.
    db: RwLock<Option<Database>>,
    cfg: StorageConfig,
    /// The committed bounds, mirrored from the `meta` table after each commit.
    cached: RwLock<Cached>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Cached {
    latest: Option<(u64, RootHash)>,
    earliest: Option<u64>,
}

/// A read guard on the open database.
struct MappedDb<'a>(std::sync::RwLockReadGuard<'a, Option<Database>>);

impl std::ops::Deref for MappedDb<'_> {
    type Target = Database;
    fn deref(&self) -> &Database {
        self.0
            .as_ref()
            .expect("MappedDb is only built after checking the database is open")
    }
}

/// A computed but unwritten version: the output of [`Storage::stage`], the input of
/// [`Storage::commit`].
pub struct StagedVersion {
    /// The version (block height).
    pub version: u64,
    /// The JMT root it will have.
    pub root: RootHash,
    /// The latest committed version it was computed on.
    parent: Option<u64>,
    batch: TreeUpdateBatch,
    changes: ChangeSet,
    aux: ChangeSet,
}

impl fmt::Debug for StagedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StagedVersion")
            .field("version", &self.version)
            .field("root", &hex::encode(self.root))
            .field("parent", &self.parent)
            .field("changes", &self.changes.len())
            .field("aux", &self.aux.len())
            .field("new_nodes", &self.batch.node_batch.nodes().len())
            .finish()
    }
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.cached();
        f.debug_struct("Storage")
            .field("cfg", &self.cfg)
            .field("latest", &cached.latest.map(|(v, r)| (v, hex::encode(r))))
            .field("earliest", &cached.earliest)
            .finish()
    }
}

impl Storage {
    /// Opens (creating if needed) the store in directory `path` (file `<path>/state.redb`).
    pub fn open(path: &Path, cfg: StorageConfig) -> Result<Storage, StorageError> {
        std::fs::create_dir_all(path).map_err(|source| StorageError::CreateDir {
            path: path.to_path_buf(),
            source,
        })?;
        let db = Database::create(path.join(DB_FILE)).ctx("open")?;
        let txn = db.begin_write().ctx("begin write")?;
        {
            let mut meta_table = txn.open_table(META).ctx("open meta table")?;
            match meta(&meta_table, META_SCHEMA)? {
                None => {
                    meta_table.insert(META_SCHEMA, SCHEMA).ctx("write meta")?;
                }
                Some(SCHEMA) => {}
                Some(other) => {
                    return Err(StorageError::Corrupt(format!(
                        "unsupported storage schema {other} (this build reads schema {SCHEMA})"
                    )))
                }
            }
            // Create every table, so that read transactions can always open them.
            txn.open_table(VALUES).ctx("create values table")?;
            txn.open_table(PREIMAGES).ctx("create preimages table")?;
            txn.open_table(NODES).ctx("create nodes table")?;
            txn.open_table(STALE).ctx("create stale nodes table")?;
            txn.open_table(CHANGES).ctx("create changes table")?;
            txn.open_table(ROOTS).ctx("create roots table")?;
            txn.open_table(AUX).ctx("create aux table")?;
        }
        txn.commit().ctx("commit")?;

        let storage = Storage {
            db: RwLock::new(Some(db)),
            cfg,
            cached: RwLock::new(Cached::default()),
        };
        let txn = storage.db()?.begin_read().ctx("begin read")?;
        let bounds = Bounds::read(&txn)?;
        let latest = match bounds.latest {
            None => None,
            Some(v) => Some((v, ReadView::open(&txn, v)?.root)),
        };
        storage.set_cached(Cached {
            latest,
            earliest: bounds.earliest,
        });
        tracing::info!(
            path = %path.display(),
            latest = ?bounds.latest,
            earliest = ?bounds.earliest,
            keep_recent = cfg.keep_recent,
            "opened storage"
        );
        Ok(storage)
    }

    /// The open database, or [`StorageError::Closed`].
    fn db(&self) -> Result<MappedDb<'_>, StorageError> {
        let guard = self.db.read().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            return Err(StorageError::Closed);
        }
        Ok(MappedDb(guard))
    }

    /// Closes the database cleanly: waits for any write in progress, then releases the file so
    /// the next open needs no recovery. Every later call fails with [`StorageError::Closed`].
    pub fn close(&self) {
        let mut guard = self.db.write().unwrap_or_else(|p| p.into_inner());
        if let Some(db) = guard.take() {
            drop(db);
            tracing::info!("storage closed");
        }
    }

    /// The last committed `(version, root)`; `None` when nothing was ever committed.
    pub fn latest(&self) -> Option<(u64, RootHash)> {
        self.cached().latest
    }

    /// The oldest retained version; `None` when nothing was ever committed.
    pub fn earliest_version(&self) -> Option<u64> {
        self.cached().earliest
    }

    /// The root `changes` would give applied to an empty tree (InitChain's app hash). Writes
    /// nothing.
    pub fn genesis_root(changes: &ChangeSet) -> Result<RootHash, StorageError> {
        let (root, _) = compute(&EmptyReader, changes, 1)?;
        Ok(root)
    }

    /// Computes `version` = `changes` applied on top of the latest committed version (or on the
    /// empty tree when nothing is committed; the first version may be any number >= 1). Writes
    /// nothing. `aux` are writes to the non-authenticated keyspace, committed with it.
    pub fn stage(
        &self,
        version: u64,
        changes: &ChangeSet,
        aux: ChangeSet,
    ) -> Result<StagedVersion, StorageError> {
        if version == 0 {
            return Err(StorageError::ZeroVersion);
        }
        let txn = self.db()?.begin_read().ctx("begin read")?;
        let parent = Bounds::read(&txn)?.latest;
        let (root, batch) = match parent {
            None => compute(&EmptyReader, changes, version)?,
            Some(latest) => {
                let expected = latest
                    .checked_add(1)
                    .ok_or(StorageError::VersionOverflow(latest))?;
                if version != expected {
                    return Err(StorageError::UnexpectedVersion { version, expected });
                }
                compute(&ReadView::open(&txn, latest)?, changes, version)?
            }
        };
        Ok(StagedVersion {
            version,
            root,
            parent,
            batch,
            changes: changes.clone(),
            aux,
        })
    }

    /// Writes a staged version in one fsynced transaction, then prunes per `keep_recent`.
    /// Errors (writing nothing) if another version was committed since it was staged.
    pub fn commit(&self, staged: StagedVersion) -> Result<RootHash, StorageError> {
        let StagedVersion {
            version,
            root,
            parent,
            batch,
            changes,
            aux,
        } = staged;
        let mut txn = self.db()?.begin_write().ctx("begin write")?;
        txn.set_durability(Durability::Immediate)
            .ctx("set durability")?;
        let (earliest, pruned_to) = {
            let mut meta_table = txn.open_table(META).ctx("open meta table")?;
            let latest = meta(&meta_table, META_LATEST)?;
            if latest != parent {
                return Err(StorageError::StaleStage {
                    version,
                    staged_on: parent,
                    latest,
                });
            }
            write_version(&txn, version, root, parent, &batch, &changes, &aux)?;
            let earliest = match meta(&meta_table, META_EARLIEST)? {
                Some(earliest) => earliest,
                None => version,
            };
            let pruned_to = prune(&txn, version, self.cfg.keep_recent, earliest)?;
            meta_table.insert(META_LATEST, version).ctx("write meta")?;
            meta_table
                .insert(META_EARLIEST, pruned_to)
                .ctx("write meta")?;
            (earliest, pruned_to)
        };
        txn.commit().ctx("commit")?;

        let mut cached = self.cached.write().unwrap_or_else(|e| e.into_inner());
        if cached.latest.is_none_or(|(v, _)| v < version) {
            *cached = Cached {
                latest: Some((version, root)),
                earliest: Some(pruned_to),
            };
        }
        drop(cached);
        tracing::debug!(
            version,
            root = %hex::encode(root),
            changes = changes.len(),
            pruned_from = earliest,
            earliest = pruned_to,
            "committed version"
        );
        Ok(root)
    }

    /// A read view of committed, retained `version`.
    pub fn snapshot(&self, version: u64) -> Result<Snapshot, StorageError> {
        let txn = self.db()?.begin_read().ctx("begin read")?;
        Bounds::read(&txn)?.check_retained(version)?;
        Ok(Snapshot::new(ReadView::open(&txn, version)?))
    }

    /// A read view of the latest committed version; `None` when nothing was committed.
    pub fn latest_snapshot(&self) -> Result<Option<Snapshot>, StorageError> {
        let txn = self.db()?.begin_read().ctx("begin read")?;
        match Bounds::read(&txn)?.latest {
            None => Ok(None),
            Some(latest) => Ok(Some(Snapshot::new(ReadView::open(&txn, latest)?))),
        }
    }

    /// The value of `key` at `version` with an ICS-23 existence or non-existence proof against
    /// that version's root. Keys must not be empty; a version whose tree is empty has no
    /// non-existence proof ([`StorageError::EmptyTree`]).
    pub fn get_with_proof(
        &self,
        key: &[u8],
        version: u64,
    ) -> Result<(Option<Vec<u8>>, ics23::CommitmentProof), StorageError> {
        self.snapshot(version)?.get_with_proof(key)
    }

    /// The root of committed, retained `version`.
    pub fn root_at(&self, version: u64) -> Result<RootHash, StorageError> {
        let txn = self.db()?.begin_read().ctx("begin read")?;
        Bounds::read(&txn)?.check_retained(version)?;
        let roots = txn.open_table(ROOTS).ctx("open roots table")?;
        let root = roots.get(version).ctx("read root")?.map(|g| *g.value());
        root.ok_or_else(|| {
            StorageError::Corrupt(format!("no root recorded for retained version {version}"))
        })
    }

    /// A value of the non-authenticated keyspace, as of the last commit.
    pub fn get_aux(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let txn = self.db()?.begin_read().ctx("begin read")?;
        let table = txn.open_table(AUX).ctx("open aux table")?;
        let value = table.get(key).ctx("read aux")?.map(|g| g.value().to_vec());
        Ok(value)
    }

    fn cached(&self) -> Cached {
        *self.cached.read().unwrap_or_else(|e| e.into_inner())
    }

    fn set_cached(&self, value: Cached) {
        *self.cached.write().unwrap_or_else(|e| e.into_inner()) = value;
    }
}

/// Runs `f` (jmt code), turning its errors and panics into [`StorageError::Tree`].
pub(crate) fn catch_tree_panic<T>(
    op: &'static str,
    f: impl FnOnce() -> anyhow::Result<T>,
) -> Result<T, StorageError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(StorageError::Tree {
            op,
            source: e.into(),
        }),
        Err(panic) => {
            let message = if let Some(s) = panic.downcast_ref::<&str>() {
                (*s).to_owned()
            } else if let Some(s) = panic.downcast_ref::<String>() {
                s.clone()
            } else {
                "unknown panic".to_owned()
            };
            Err(StorageError::Tree {
                op,
                source: format!("panicked: {message}").into(),
            })
        }
    }
}

/// The new root and tree nodes for `changes` at `version` on top of the tree `reader` holds at
/// `version - 1`.
fn compute<R: TreeReader>(
    reader: &R,
    changes: &ChangeSet,
    version: u64,
) -> Result<(RootHash, TreeUpdateBatch), StorageError> {
    let mut value_set: BTreeMap<KeyHash, Option<Vec<u8>>> = BTreeMap::new();
    for (key, value) in changes {
        if key.is_empty() {
            return Err(StorageError::EmptyKey);
        }
        value_set.insert(key_hash(key), value.clone());
    }
    let tree = JellyfishMerkleTree::<R, sha2::Sha256>::new(reader);
    let (root, batch) = catch_tree_panic("update", || tree.put_value_set(value_set, version))?;
    Ok((root.0, batch))
}

/// The root node key of `version`.
fn root_node_key(version: u64) -> NodeKey {
    NodeKey::new(version, std::iter::empty().collect::<NibblePath>())
}

/// Writes everything of one version (but not `meta`) into `txn`.
fn write_version(
    txn: &WriteTransaction,
    version: u64,
    root: RootHash,
    parent: Option<u64>,
    batch: &TreeUpdateBatch,
    changes: &ChangeSet,
    aux: &ChangeSet,
) -> Result<(), StorageError> {
    {
        let mut nodes = txn.open_table(NODES).ctx("open nodes table")?;
        for (node_key, node) in batch.node_batch.nodes() {
            nodes
                .insert(encode(node_key)?.as_slice(), encode(node)?.as_slice())
                .ctx("write node")?;
        }
    }
    {
        let mut stale = txn.open_table(STALE).ctx("open stale nodes table")?;
        let mut stale_set = batch.stale_node_index_batch.clone();
        // jmt copies an unchanged root to the new version without marking the old root stale;
        // the root of `parent` belongs to no later version in any case.
        if let Some(parent) = parent {
            stale_set.insert(StaleNodeIndex {
                stale_since_version: version,
                node_key: root_node_key(parent),
            });
        }
        for index in &stale_set {
            let node_key = encode(&index.node_key)?;
            stale
                .insert((index.stale_since_version, node_key.as_slice()), ())
                .ctx("write stale node index")?;
        }
    }
    {
        let mut values = txn.open_table(VALUES).ctx("open values table")?;
        let mut preimages = txn.open_table(PREIMAGES).ctx("open preimages table")?;
        let mut changed = txn.open_table(CHANGES).ctx("open changes table")?;
        for (key, value) in changes {
            values
                .insert((key.as_slice(), version), value.as_deref())
                .ctx("write value")?;
            if value.is_some() {
                preimages
                    .insert(&key_hash(key).0, key.as_slice())
                    .ctx("write key preimage")?;
            }
            changed
                .insert((version, key.as_slice()), ())
                .ctx("write change index")?;
        }
    }
    {
        let mut aux_table = txn.open_table(AUX).ctx("open aux table")?;
        for (key, value) in aux {
            match value {
                Some(value) => {
                    aux_table
                        .insert(key.as_slice(), value.as_slice())
                        .ctx("write aux")?;
                }
                None => {
                    aux_table.remove(key.as_slice()).ctx("delete aux")?;
                }
            }
        }
    }
    let mut roots = txn.open_table(ROOTS).ctx("open roots table")?;
    roots.insert(version, &root).ctx("write root")?;
    Ok(())
}

/// Prunes what versions below `latest - keep_recent` alone need; returns the new earliest
/// retained version.
fn prune(
    txn: &WriteTransaction,
    latest: u64,
    keep_recent: u64,
    earliest: u64,
) -> Result<u64, StorageError> {
    if keep_recent == 0 {
        return Ok(earliest);
    }
    let cutoff = latest.saturating_sub(keep_recent);
    if cutoff <= earliest {
        return Ok(earliest);
    }
    // `cutoff < latest`, so this cannot overflow.
    let below = cutoff.saturating_add(1);
    let empty: &[u8] = &[];

    // Nodes stale since a version <= cutoff belong only to versions < cutoff.
    let mut stale_nodes = 0usize;
    {
        let mut stale = txn.open_table(STALE).ctx("open stale nodes table")?;
        let mut nodes = txn.open_table(NODES).ctx("open nodes table")?;
        let mut extracted = stale
            .extract_from_if(..(below, empty), |_, _| true)
            .ctx("prune stale nodes")?;
        for entry in &mut extracted {
            let (index, _) = entry.ctx("prune stale nodes")?;
            let (_, node_key) = index.value();
            nodes.remove(node_key).ctx("prune node")?;
            stale_nodes = stale_nodes.saturating_add(1);
        }
        extracted.close().ctx("prune stale nodes")?;
    }

    // A value version written at `u <= cutoff` supersedes every older version of its key; a
    // deletion at `u <= cutoff` is itself no longer needed.
    let mut written: Vec<(u64, Vec<u8>)> = Vec::new();
    {
        let mut changed = txn.open_table(CHANGES).ctx("open changes table")?;
        let mut extracted = changed
            .extract_from_if(..(below, empty), |_, _| true)
            .ctx("prune change index")?;
        for entry in &mut extracted {
            let (index, _) = entry.ctx("prune change index")?;
            let (version, key) = index.value();
            written.push((version, key.to_vec()));
        }
        extracted.close().ctx("prune change index")?;
    }
    let mut values_pruned = 0usize;
    {
        let mut values = txn.open_table(VALUES).ctx("open values table")?;
        let mut preimages = txn.open_table(PREIMAGES).ctx("open preimages table")?;
        for (version, key) in &written {
            let key = key.as_slice();
            let mut older = values
                .extract_from_if((key, 0u64)..(key, *version), |_, _| true)
                .ctx("prune values")?;
            for entry in &mut older {
                entry.ctx("prune values")?;
                values_pruned = values_pruned.saturating_add(1);
            }
            older.close().ctx("prune values")?;

            let deleted = values
                .get((key, *version))
                .ctx("read value")?
                .is_some_and(|g| g.value().is_none());
            if deleted {
                values.remove((key, *version)).ctx("prune values")?;
                values_pruned = values_pruned.saturating_add(1);
                let remaining = values
                    .range((key, 0u64)..=(key, u64::MAX))
                    .ctx("read value")?
                    .next()
                    .is_some();
                if !remaining {
                    preimages
                        .remove(&key_hash(key).0)
                        .ctx("prune key preimage")?;
                }
            }
        }
    }
    {
        let mut roots = txn.open_table(ROOTS).ctx("open roots table")?;
        let mut extracted = roots
            .extract_from_if(..cutoff, |_, _| true)
            .ctx("prune roots")?;
        for entry in &mut extracted {
            entry.ctx("prune roots")?;
        }
        extracted.close().ctx("prune roots")?;
    }
    tracing::debug!(
        earliest = cutoff,
        stale_nodes,
        values_pruned,
        "pruned old versions"
    );
    Ok(cutoff)
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Storage>();
    is::<Snapshot>();
    is::<StagedVersion>();
    is::<StorageError>();
}
