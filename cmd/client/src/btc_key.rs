//! BTC key files: a BIP-340 secret key in a JSON file that only its owner may read.
//!
//! Operators (`<home>/config/operator_btc_key.json`), covenant members and stakers keep their
//! BTC keys in this format:
//!
//! ```json
//! { "secret_key": "<64 hex>", "public_key": "<64 hex, x-only>" }
//! ```
//!
//! The file is written with mode 0600 through a temporary file linked into place, so a crash
//! leaves either no file or a complete one, and an existing file is never replaced. Loading
//! refuses a file that the group or others can access (as ssh refuses a loose private key), and
//! a file whose public key is not the secret key's (edited or corrupted).

use rand::RngCore;
use secp256k1::{Keypair, SecretKey, XOnlyPublicKey, SECP256K1};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a key file could not be written or loaded.
#[derive(Debug, thiserror::Error)]
pub enum BtcKeyFileError {
    /// The file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The group or others may access the file.
    #[error(
        "btc key file {} has mode {mode:04o}: expected it to be accessible by its owner only \
         (0600); run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A file is already there.
    #[error("btc key file {} already exists: refusing to overwrite a key", path.display())]
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// Not the expected JSON, bad hex, or a public key that is not the secret key's.
    #[error("btc key file {} is malformed: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What was expected and found.
        reason: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    secret_key: String,
    public_key: String,
}

/// A new secret key from the OS random source.
pub fn new_btc_key() -> SecretKey {
    loop {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        // Fails only for zero or a value ≥ the group order: probability about 2^-128.
        if let Ok(k) = SecretKey::from_slice(&bytes) {
            return k;
        }
    }
}

/// The x-only public key of `sk`.
pub fn xonly(sk: &SecretKey) -> XOnlyPublicKey {
    Keypair::from_secret_key(SECP256K1, sk)
        .x_only_public_key()
        .0
}

/// Writes `sk` to `path` (mode 0600). The parent directory must exist. Never replaces a file.
pub fn write_btc_key(path: &Path, sk: &SecretKey) -> Result<(), BtcKeyFileError> {
    let file = KeyFile {
        secret_key: hex::encode(sk.secret_bytes()),
        public_key: hex::encode(xonly(sk).serialize()),
    };
    let mut text = serde_json::to_string_pretty(&file).expect("plain strings always serialise");
    text.push('\n');
    let io = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| BtcKeyFileError::Io {
            action,
            path: p,
            source,
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "btc_key".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("creating", &tmp))?;
    let written = f
        .write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .and_then(|()| f.set_permissions(std::fs::Permissions::from_mode(0o600)));
    drop(f);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("writing", &tmp)(e));
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(BtcKeyFileError::AlreadyExists {
                path: path.to_path_buf(),
            })
        }
        Err(e) => Err(io("writing", path)(e)),
    }
}

/// Loads the key at `path`, checking its mode and that its public key matches.
pub fn load_btc_key(path: &Path) -> Result<SecretKey, BtcKeyFileError> {
    let meta = std::fs::metadata(path).map_err(|source| BtcKeyFileError::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(BtcKeyFileError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| BtcKeyFileError::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    })?;
    let malformed = |reason: String| BtcKeyFileError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| {
        malformed(format!(
            "expected {{\"secret_key\", \"public_key\"}} as hex strings: {e}"
        ))
    })?;
    let secret = hex::decode(&file.secret_key)
        .map_err(|e| malformed(format!("secret_key is not hex: {e}")))?;
    let sk = SecretKey::from_slice(&secret)
        .map_err(|e| malformed(format!("secret_key is not a secp256k1 secret key: {e}")))?;
    if file.public_key.to_ascii_lowercase() != hex::encode(xonly(&sk).serialize()) {
        return Err(malformed(
            "public_key is not the secret key's x-only public key (the file was edited or corrupted)"
                .into(),
        ));
    }
    Ok(sk)
}

/// Loads the key at `path`, or generates and writes one when there is no file.
pub fn load_or_generate_btc_key(path: &Path) -> Result<SecretKey, BtcKeyFileError> {
    if path.exists() {
        return load_btc_key(path);
    }
    let sk = new_btc_key();
    write_btc_key(path, &sk)?;
    Ok(sk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_key_is_private_and_loads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.json");
        let sk = new_btc_key();
        write_btc_key(&path, &sk).expect("write");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load_btc_key(&path).expect("load"), sk);
        assert!(matches!(
            write_btc_key(&path, &new_btc_key()),
            Err(BtcKeyFileError::AlreadyExists { .. })
        ));
        assert_eq!(load_or_generate_btc_key(&path).expect("load"), sk);
    }

    #[test]
    fn loose_modes_and_tampered_files_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.json");
        write_btc_key(&path, &new_btc_key()).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            load_btc_key(&path),
            Err(BtcKeyFileError::Permissions { mode: 0o644, .. })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let other = hex::encode(xonly(&new_btc_key()).serialize());
        let text = std::fs::read_to_string(&path).expect("read");
        let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
        v["public_key"] = serde_json::Value::String(other);
        std::fs::write(&path, v.to_string()).expect("write");
        assert!(matches!(
            load_btc_key(&path),
            Err(BtcKeyFileError::Malformed { .. })
        ));
        std::fs::write(&path, "{\"secret_key\": \"zz\", \"public_key\": \"\"}").expect("write");
        assert!(matches!(
            load_btc_key(&path),
            Err(BtcKeyFileError::Malformed { .. })
        ));
    }
}
