//! On-disk format of the keyring and the file operations behind it.
//!
//! One JSON file per key, `<dir>/<name>.json` (mode 0600, directory 0700), version 1:
//!
//! ```json
//! {
//!   "version": 1,
//!   "name": "alice",
//!   "type": "local",
//!   "algo": "secp256k1",
//!   "address": "ballast1…",
//!   "pubkey": "<hex of the 33-byte compressed key>",
//!   "private_key": "<hex of the 32-byte secret>",            // `test` backend only
//!   "encrypted_private_key": {                                // `file` backend only
//!     "kdf": "scrypt", "log_n": 15, "r": 8, "p": 1, "salt": "<hex>",
//!     "cipher": "xchacha20poly1305", "nonce": "<hex>", "ciphertext": "<hex>"
//!   }
//! }
//! ```
//!
//! The `file` backend also keeps `<dir>/passphrase.check`, a sealed known text, so that a key
//! added under a different passphrase than the keyring's is refused instead of silently making
//! a keyring that needs two passphrases.
//!
//! New files are written to a temporary name and hard-linked into place, so a file is either
//! complete or absent, and two writers of one name cannot both succeed.

use super::crypto::{KdfParams, Sealed, CIPHER_NAME, KDF_NAME, NONCE_LEN};
use super::KeyringError;
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The record format version written and read.
pub(crate) const FORMAT_VERSION: u64 = 1;
/// Extension of key files.
pub(crate) const KEY_EXT: &str = "json";
/// The `file` backend's passphrase check.
pub(crate) const CHECK_FILE: &str = "passphrase.check";
/// Key files larger than this are refused unread (a record is a few hundred bytes).
const MAX_FILE_LEN: u64 = 64 * 1024;

/// A sealed box as stored in JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SealedJson {
    pub kdf: String,
    pub log_n: u8,
    pub r: u32,
    pub p: u32,
    pub salt: String,
    pub cipher: String,
    pub nonce: String,
    pub ciphertext: String,
}

impl SealedJson {
    pub(crate) fn from_sealed(s: &Sealed) -> Self {
        SealedJson {
            kdf: KDF_NAME.into(),
            log_n: s.params.log_n,
            r: s.params.r,
            p: s.params.p,
            salt: hex::encode(&s.salt),
            cipher: CIPHER_NAME.into(),
            nonce: hex::encode(s.nonce),
            ciphertext: hex::encode(&s.ciphertext),
        }
    }

    /// Parses the fields; the error says which one is wrong.
    pub(crate) fn to_sealed(&self) -> Result<Sealed, String> {
        if self.kdf != KDF_NAME {
            return Err(format!("kdf must be {KDF_NAME:?}, found {:?}", self.kdf));
        }
        if self.cipher != CIPHER_NAME {
            return Err(format!(
                "cipher must be {CIPHER_NAME:?}, found {:?}",
                self.cipher
            ));
        }
        let salt = hex::decode(&self.salt).map_err(|e| format!("salt is not hex: {e}"))?;
        let nonce = hex::decode(&self.nonce).map_err(|e| format!("nonce is not hex: {e}"))?;
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|n: Vec<u8>| format!("nonce must be {NONCE_LEN} bytes, found {}", n.len()))?;
        let ciphertext =
            hex::decode(&self.ciphertext).map_err(|e| format!("ciphertext is not hex: {e}"))?;
        Ok(Sealed {
            params: KdfParams {
                log_n: self.log_n,
                r: self.r,
                p: self.p,
            },
            salt,
            nonce,
            ciphertext,
        })
    }
}

/// One key file, version 1.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Record {
    pub version: u64,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub algo: String,
    pub address: String,
    pub pubkey: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_private_key: Option<SealedJson>,
}

/// The passphrase check file, version 1.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckFile {
    pub version: u64,
    pub check: SealedJson,
}

/// Parses a versioned JSON document: an unknown version is reported as such, not as a
/// field mismatch.
pub(crate) fn parse_versioned<T: serde::de::DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
) -> Result<T, KeyringError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| corrupt(path, format!("not JSON: {e}")))?;
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(KeyringError::UnsupportedVersion {
                path: path.to_path_buf(),
                found: v,
            })
        }
        None => return Err(corrupt(path, "no numeric \"version\" field")),
    }
    serde_json::from_value(value).map_err(|e| corrupt(path, e.to_string()))
}

pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> KeyringError {
    KeyringError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

pub(crate) fn io_error(path: &Path, source: std::io::Error) -> KeyringError {
    KeyringError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates the keyring directory (and missing parents) with mode 0700.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), KeyringError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io_error(dir, e))
}

/// Reads a file, `None` if it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, KeyringError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path, e)),
    };
    if !meta.is_file() {
        return Err(corrupt(path, "not a regular file"));
    }
    if meta.len() > MAX_FILE_LEN {
        return Err(corrupt(
            path,
            format!(
                "{} bytes is larger than a key file can be ({MAX_FILE_LEN})",
                meta.len()
            ),
        ));
    }
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, e)),
    }
}

/// Outcome of [`write_new`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Written {
    Created,
    AlreadyExists,
}

/// Writes `bytes` to `dir/file_name` with mode 0600 unless that file already exists. The file
/// appears complete or not at all.
pub(crate) fn write_new(
    dir: &Path,
    file_name: &str,
    bytes: &[u8],
) -> Result<Written, KeyringError> {
    ensure_dir(dir)?;
    let target = dir.join(file_name);
    let tmp = dir.join(format!(
        ".{file_name}.{}.{:016x}.tmp",
        std::process::id(),
        OsRng.next_u64()
    ));
    let result = write_tmp(&tmp, bytes).and_then(|()| match fs::hard_link(&tmp, &target) {
        Ok(()) => Ok(Written::Created),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(Written::AlreadyExists),
        Err(e) => Err(io_error(&target, e)),
    });
    // The temporary name goes whatever happened; the link (if made) keeps the data.
    let _ = fs::remove_file(&tmp);
    if result.as_ref().is_ok_and(|w| *w == Written::Created) {
        // Make the new directory entry durable; failure here loses nothing already written.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    result
}

fn write_tmp(tmp: &Path, bytes: &[u8]) -> Result<(), KeyringError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|e| io_error(tmp, e))?;
    f.write_all(bytes).map_err(|e| io_error(tmp, e))?;
    f.sync_all().map_err(|e| io_error(tmp, e))
}

/// The key files in `dir` as (name, path), sorted by name. Files that are not `<name>.json`
/// with a valid name (temporary files, the passphrase check) are not keys and are skipped.
pub(crate) fn key_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, KeyringError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let path = entry.path();
        let Some(file_name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some(name) = file_name.strip_suffix(&format!(".{KEY_EXT}")) else {
            continue;
        };
        if super::validate_name(name).is_err() {
            continue;
        }
        out.push((name.to_owned(), path));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn write_new_never_overwrites_and_sets_modes() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("kr");
        assert_eq!(write_new(&dir, "a.json", b"one").unwrap(), Written::Created);
        assert_eq!(
            write_new(&dir, "a.json", b"two").unwrap(),
            Written::AlreadyExists
        );
        assert_eq!(fs::read(dir.join("a.json")).unwrap(), b"one");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("a.json")), 0o600);
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["a.json".to_string()]);
    }

    #[test]
    fn key_files_lists_only_valid_key_names_sorted() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path();
        for f in [
            "zed.json",
            "alice.json",
            "passphrase.check",
            ".bob.json.1.tmp",
            "no ext",
            "bad name.json",
        ] {
            fs::write(dir.join(f), b"x").unwrap();
        }
        let names: Vec<_> = key_files(dir)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, vec!["alice", "zed"]);
        assert!(key_files(&dir.join("missing")).unwrap().is_empty());
    }

    #[test]
    fn unknown_versions_and_garbage_are_reported_as_such() {
        let p = Path::new("/x/k.json");
        let e = parse_versioned::<Record>(p, br#"{"version": 7}"#).unwrap_err();
        assert!(matches!(
            e,
            KeyringError::UnsupportedVersion { found: 7, .. }
        ));
        let e = parse_versioned::<Record>(p, b"\x00\xffgarbage").unwrap_err();
        assert!(matches!(e, KeyringError::Corrupt { .. }), "{e}");
        let e = parse_versioned::<Record>(p, br#"{"version": 1, "name": 3}"#).unwrap_err();
        assert!(matches!(e, KeyringError::Corrupt { .. }), "{e}");
    }
}
