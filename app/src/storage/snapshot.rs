//! Read-only views of committed versions.

use super::db::{value_at, ReadView};
use super::error::{DbContext, StorageError};
use super::{catch_tree_panic, RootHash, EMPTY_ROOT};
use ballast_framework::{KvIter, StateError, StateRead};
use jmt::JellyfishMerkleTree;
use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

/// A consistent read-only view of one committed version.
///
/// It holds a redb read transaction (MVCC): it never blocks or is blocked by commits, and it
/// keeps seeing its version even if that version is pruned while the snapshot is alive.
/// Cloning is cheap.
#[derive(Clone)]
pub struct Snapshot {
    view: Arc<ReadView>,
}

impl Snapshot {
    pub(super) fn new(view: ReadView) -> Snapshot {
        Snapshot {
            view: Arc::new(view),
        }
    }

    /// The version this snapshot reads.
    pub fn version(&self) -> u64 {
        self.view.version
    }

    /// The JMT root (app hash) of this version.
    pub fn root(&self) -> RootHash {
        self.view.root
    }

    /// The value of `key` at this version.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.view.get(key)
    }

    /// Every entry whose key starts with `prefix`, in ascending raw-key order. Lazy: each step
    /// costs a few B-tree seeks, however many versions a key has.
    pub fn iter_prefix(&self, prefix: &[u8]) -> PrefixIter<'_> {
        PrefixIter {
            view: &self.view,
            prefix: prefix.to_vec(),
            after: None,
            done: false,
        }
    }

    /// The value of `key` with an ICS-23 existence proof, or `None` with a non-existence proof,
    /// against [`Snapshot::root`]. The proof is verified before it is returned; see
    /// [`StorageError::Unprovable`] and [`StorageError::EmptyTree`] for what cannot be proven.
    pub fn get_with_proof(
        &self,
        key: &[u8],
    ) -> Result<(Option<Vec<u8>>, ics23::CommitmentProof), StorageError> {
        if key.is_empty() {
            return Err(StorageError::EmptyKey);
        }
        let version = self.view.version;
        if self.view.root == EMPTY_ROOT {
            return Err(StorageError::EmptyTree { version });
        }
        let tree = JellyfishMerkleTree::<ReadView, sha2::Sha256>::new(&self.view);
        let (value, proof) =
            catch_tree_panic("proof", || tree.get_with_ics23_proof(key.to_vec(), version))?;
        // Never hand out a proof that a verifier would reject.
        let spec = jmt::ics23_spec();
        let root = self.view.root.to_vec();
        let verifies = match &value {
            Some(value) => ics23::verify_membership::<ics23::HostFunctionsManager>(
                &proof, &spec, &root, key, value,
            ),
            None => ics23::verify_non_membership::<ics23::HostFunctionsManager>(
                &proof, &spec, &root, key,
            ),
        };
        if !verifies {
            return Err(StorageError::Unprovable {
                key: key.to_vec(),
                version,
            });
        }
        Ok((value, proof))
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("version", &self.view.version)
            .field("root", &hex::encode(self.view.root))
            .finish()
    }
}

impl StateRead for Snapshot {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.get(key)?)
    }

    fn prefix_raw<'a>(&'a self, prefix: &[u8]) -> KvIter<'a> {
        Box::new(
            self.iter_prefix(prefix)
                .map(|r| r.map_err(StateError::from)),
        )
    }
}

/// A raw key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Entries under a prefix at one version, in ascending raw-key order (see
/// [`Snapshot::iter_prefix`]).
pub struct PrefixIter<'a> {
    view: &'a ReadView,
    prefix: Vec<u8>,
    /// The last key visited; the next one is the first raw key after it.
    after: Option<Vec<u8>>,
    done: bool,
}

impl PrefixIter<'_> {
    /// The first raw key at or after the cursor that starts with the prefix, and its oldest
    /// stored version.
    fn next_key(&self) -> Result<Option<(Vec<u8>, u64)>, StorageError> {
        let values = &self.view.values;
        let mut range = match &self.after {
            None => values.range((self.prefix.as_slice(), 0u64)..),
            Some(key) => values.range::<(&[u8], u64)>((
                Bound::Excluded((key.as_slice(), u64::MAX)),
                Bound::Unbounded,
            )),
        }
        .ctx("iterate values")?;
        let Some(entry) = range.next() else {
            return Ok(None);
        };
        let (stored, _) = entry.ctx("iterate values")?;
        let (key, oldest) = stored.value();
        if key.starts_with(&self.prefix) {
            Ok(Some((key.to_vec(), oldest)))
        } else {
            Ok(None)
        }
    }

    fn step(&mut self) -> Result<Option<Entry>, StorageError> {
        loop {
            let Some((key, oldest)) = self.next_key()? else {
                return Ok(None);
            };
            let value = if oldest <= self.view.version {
                value_at(&self.view.values, &key, self.view.version)?
            } else {
                None
            };
            self.after = Some(key.clone());
            if let Some(value) = value {
                return Ok(Some((key, value)));
            }
        }
    }
}

impl Iterator for PrefixIter<'_> {
    type Item = Result<Entry, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
