//! Errors of the storage engine.

use std::path::PathBuf;

/// Why a storage operation failed.
///
/// Messages are lower-case and do not repeat their source: walk [`std::error::Error::source`]
/// (or use [`error_chain`]) for the whole story.
#[derive(thiserror::Error, Debug)]
pub enum StorageError {
    /// The store was closed (the node is shutting down).
    #[error("the store is closed")]
    Closed,
    /// The storage directory could not be created.
    #[error("cannot create storage directory {}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The embedded database failed.
    #[error("database {op} failed")]
    Db {
        /// What was being done.
        op: &'static str,
        /// The database error.
        #[source]
        source: redb::Error,
    },
    /// The Jellyfish Merkle tree failed (or panicked, which is caught and reported here).
    #[error("merkle tree {op} failed")]
    Tree {
        /// What was being done.
        op: &'static str,
        /// The tree's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A tree node could not be encoded.
    #[error("cannot encode tree node")]
    Encode(#[source] std::io::Error),
    /// A stored tree node could not be decoded.
    #[error("cannot decode stored tree node")]
    Decode(#[source] std::io::Error),
    /// Versions start at 1.
    #[error("version 0 is not valid: versions start at 1")]
    ZeroVersion,
    /// `stage` was called with a version other than the next one.
    #[error("cannot stage version {version}: the next version is {expected}")]
    UnexpectedVersion {
        /// The version asked for.
        version: u64,
        /// The only version that can be staged now.
        expected: u64,
    },
    /// No version can follow `u64::MAX`.
    #[error("no version can follow version {0}")]
    VersionOverflow(u64),
    /// A staged version was committed after another commit changed the latest version.
    #[error(
        "staged version {version} no longer applies: it was staged on top of {}, but the latest committed version is now {}",
        show_version(*.staged_on),
        show_version(*.latest)
    )]
    StaleStage {
        /// The staged version.
        version: u64,
        /// The latest committed version when it was staged.
        staged_on: Option<u64>,
        /// The latest committed version now.
        latest: Option<u64>,
    },
    /// The version is newer than the latest committed version.
    #[error("version {version} is not committed (latest committed version: {})", show_version(*.latest))]
    NotCommitted {
        /// The version asked for.
        version: u64,
        /// The latest committed version.
        latest: Option<u64>,
    },
    /// The version was pruned.
    #[error("version {version} was pruned (earliest retained version: {earliest})")]
    Pruned {
        /// The version asked for.
        version: u64,
        /// The oldest version still retained.
        earliest: u64,
    },
    /// Keys of the authenticated state must not be empty (ICS-23 cannot prove absence next to
    /// an empty key).
    #[error("state keys must not be empty")]
    EmptyKey,
    /// ICS-23 has no non-existence proof in a tree without any key.
    #[error("cannot prove the absence of a key: the tree at version {version} is empty")]
    EmptyTree {
        /// The version asked for.
        version: u64,
    },
    /// The proof the tree produced does not verify against the root. This happens when the key's
    /// value is empty, or when the absence proof needs a neighbouring key whose value is empty:
    /// ICS-23 cannot prove empty values.
    #[error(
        "cannot prove key {} at version {version}: the proof does not verify (ics23 cannot prove empty values, nor absence next to them)",
        hex::encode(.key)
    )]
    Unprovable {
        /// The key.
        key: Vec<u8>,
        /// The version asked for.
        version: u64,
    },
    /// The database content is not what this code wrote.
    #[error("corrupt storage: {0}")]
    Corrupt(String),
}

fn show_version(v: Option<u64>) -> String {
    match v {
        Some(v) => v.to_string(),
        None => "none".to_owned(),
    }
}

/// The error and all its sources, joined with ": ".
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}

/// Attaches an operation name to redb errors.
pub(super) trait DbContext<T> {
    /// Maps the error into [`StorageError::Db`] with `op`.
    fn ctx(self, op: &'static str) -> Result<T, StorageError>;
}

impl<T, E: Into<redb::Error>> DbContext<T> for Result<T, E> {
    fn ctx(self, op: &'static str) -> Result<T, StorageError> {
        self.map_err(|e| StorageError::Db {
            op,
            source: e.into(),
        })
    }
}

impl From<StorageError> for ballast_framework::StateError {
    fn from(e: StorageError) -> Self {
        ballast_framework::StateError::Backend(error_chain(&e))
    }
}
