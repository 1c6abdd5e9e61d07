//! The validator's BLS key file, `<home>/config/bls_key.json` (file-permission protected).
//!
//! Like CometBFT's `priv_validator_key.json`, the key lives in a plain JSON file that only its
//! owner may read (mode 0600, in a 0700 `config/` directory):
//!
//! ```json
//! { "secret_key": "<64 hex>", "bls_pubkey": "<192 hex>", "pop": "<96 hex>" }
//! ```
//!
//! The public key and the proof of possession are derived from the secret key; they are stored
//! so that an operator can copy them into a genesis file or a registration without tools, and
//! they are checked against the secret on every load, so a corrupted or edited file is refused
//! instead of signing with a key nobody registered. A file that the group or others may read or
//! write is refused too, as ssh refuses a private key with loose permissions.
//!
//! This is node-local code, not state-machine code: it reads the OS random source.

use ballast_checkpointing::genesis::GenesisBlsKey;
use ballast_checkpointing::BlsSecretKey;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The file's name under `<home>/config/`.
pub const BLS_KEY_FILE: &str = "bls_key.json";

/// Bytes of OS randomness a new key is derived from (the key derivation needs at least 32).
pub const IKM_LEN: usize = 32;

/// What goes wrong with the key file.
#[derive(Debug, thiserror::Error)]
pub enum BlsKeyFileError {
    /// The file or its directory could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("reading", "creating", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The group or others may read or write the file.
    #[error(
        "bls key file {} has mode {mode:04o}: expected it to be accessible by its owner only \
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
    /// The path is not a regular file.
    #[error("bls key file {}: expected a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// `generate` found a key file already there.
    #[error(
        "bls key file {} already exists: refusing to overwrite a validator's BLS key (move it \
         away first if you really mean to replace it)",
        path.display()
    )]
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// The file is not the expected JSON, or a field is not valid hex of the right length.
    #[error("bls key file {} is malformed: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What was expected and found.
        reason: String,
    },
    /// A stored public field is not the one the secret key derives.
    #[error(
        "bls key file {}: the stored {field} does not match the secret key (the file was \
         edited or corrupted)",
        path.display()
    )]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// `bls_pubkey` or `pop`.
        field: &'static str,
    },
    /// The key could not be derived from fresh randomness.
    #[error("generating a bls key: {0}")]
    Generate(String),
}

/// The JSON of the file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    secret_key: String,
    bls_pubkey: String,
    pop: String,
}

impl KeyFile {
    fn of(key: &BlsSecretKey) -> KeyFile {
        KeyFile {
            secret_key: hex::encode(key.to_bytes()),
            bls_pubkey: hex::encode(key.public_key().to_bytes()),
            pop: hex::encode(key.proof_of_possession().to_bytes()),
        }
    }
}

/// `<home>/config/bls_key.json`.
pub fn bls_key_path(home: &Path) -> PathBuf {
    home.join("config").join(BLS_KEY_FILE)
}

/// Generates a key from the OS random source and writes it to [`bls_key_path`] with mode 0600
/// (creating `config/` with mode 0700 if it is missing). An existing file is never replaced:
/// that is [`BlsKeyFileError::AlreadyExists`].
pub fn generate_bls_key(home: &Path) -> Result<BlsSecretKey, BlsKeyFileError> {
    let path = bls_key_path(home);
    if path.symlink_metadata().is_ok() {
        return Err(BlsKeyFileError::AlreadyExists { path });
    }
    let key = new_bls_key()?;
    write_bls_key(home, &key)?;
    Ok(key)
}

/// A key from [`IKM_LEN`] bytes of the OS random source, not written anywhere (for a home that
/// is planned in memory before its files are written; see [`write_bls_key`]).
pub fn new_bls_key() -> Result<BlsSecretKey, BlsKeyFileError> {
    let mut ikm = [0u8; IKM_LEN];
    rand::rngs::OsRng
        .try_fill_bytes(&mut ikm)
        .map_err(|e| BlsKeyFileError::Generate(format!("the OS random source failed: {e}")))?;
    let key = BlsSecretKey::from_ikm(&ikm);
    ikm.fill(0);
    key.map_err(|e| BlsKeyFileError::Generate(e.to_string()))
}

/// Writes `key` to [`bls_key_path`] with mode 0600 (creating `config/` with mode 0700 if it is
/// missing). An existing file is never replaced: that is [`BlsKeyFileError::AlreadyExists`].
pub fn write_bls_key(home: &Path, key: &BlsSecretKey) -> Result<(), BlsKeyFileError> {
    let path = bls_key_path(home);
    let dir = home.join("config");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|source| BlsKeyFileError::Io {
            action: "creating",
            path: dir.clone(),
            source,
        })?;
    let mut text =
        serde_json::to_string_pretty(&KeyFile::of(key)).expect("plain strings always serialise");
    text.push('\n');
    write_new_private_file(&dir, &path, text.as_bytes())
}

/// Writes `bytes` to a temporary file (0600, fsynced) in `dir`, then links it to `path`, which
/// fails if `path` exists. A crash leaves either no key file or a complete one.
fn write_new_private_file(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), BlsKeyFileError> {
    let tmp = dir.join(format!(".{BLS_KEY_FILE}.{}.tmp", std::process::id()));
    let io = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| BlsKeyFileError::Io {
            action,
            path: p,
            source,
        }
    };
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("creating", &tmp))?;
    let written = f
        .write_all(bytes)
        .and_then(|()| f.sync_all())
        // The umask can only narrow the mode, but make it exact.
        .and_then(|()| f.set_permissions(std::fs::Permissions::from_mode(0o600)));
    drop(f);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("writing", &tmp)(e));
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(BlsKeyFileError::AlreadyExists {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(io("writing", path)(e)),
    }
    // Make the new directory entry durable too.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Loads the key at [`bls_key_path`]; `None` when there is no file. The file must be a regular
/// file that only its owner can access, hold the three hex fields, and its public key and proof
/// of possession must be the ones its secret key derives.
pub fn load_bls_key(home: &Path) -> Result<Option<BlsSecretKey>, BlsKeyFileError> {
    let path = bls_key_path(home);
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(BlsKeyFileError::Io {
                action: "reading",
                path,
                source,
            })
        }
    };
    if !meta.is_file() {
        return Err(BlsKeyFileError::NotAFile { path });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(BlsKeyFileError::Permissions { path, mode });
    }
    let text = std::fs::read_to_string(&path).map_err(|source| BlsKeyFileError::Io {
        action: "reading",
        path: path.clone(),
        source,
    })?;
    let malformed = |reason: String| BlsKeyFileError::Malformed {
        path: path.clone(),
        reason,
    };
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| {
        malformed(format!(
            "expected {{\"secret_key\", \"bls_pubkey\", \"pop\"}} as hex strings: {e}"
        ))
    })?;
    let field = |name: &str, v: &str| {
        hex::decode(v).map_err(|e| malformed(format!("{name} is not hex: {e}")))
    };
    let secret = field("secret_key", &file.secret_key)?;
    let key =
        BlsSecretKey::from_bytes(&secret).map_err(|e| malformed(format!("secret_key: {e}")))?;
    let pubkey = field("bls_pubkey", &file.bls_pubkey)?;
    if pubkey[..] != key.public_key().to_bytes()[..] {
        return Err(BlsKeyFileError::Mismatch {
            path,
            field: "bls_pubkey",
        });
    }
    let pop = field("pop", &file.pop)?;
    // Signatures are deterministic, so the proof is exactly the one the key makes.
    if pop[..] != key.proof_of_possession().to_bytes()[..] {
        return Err(BlsKeyFileError::Mismatch { path, field: "pop" });
    }
    Ok(Some(key))
}

/// Loads the key, generating and writing one when there is no file.
pub fn load_or_generate_bls_key(home: &Path) -> Result<BlsSecretKey, BlsKeyFileError> {
    match load_bls_key(home)? {
        Some(k) => Ok(k),
        None => generate_bls_key(home),
    }
}

/// The genesis entry (`app_state.checkpointing.bls_keys[]`) of the validator with consensus
/// address `validator_address` and BLS key `key`.
pub fn genesis_bls_key(key: &BlsSecretKey, validator_address: [u8; 20]) -> GenesisBlsKey {
    GenesisBlsKey {
        validator_address: hex::encode(validator_address),
        bls_pubkey: hex::encode(key.public_key().to_bytes()),
        pop: hex::encode(key.proof_of_possession().to_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_checkpointing::ProvenBlsKey;

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn a_generated_key_is_private_and_loads_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path().join("home");
        assert!(load_bls_key(&home).expect("no file is fine").is_none());
        let key = generate_bls_key(&home).expect("generate");
        let path = bls_key_path(&home);
        assert_eq!(path, home.join("config").join("bls_key.json"));
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(mode_of(&home.join("config")), 0o700);
        let back = load_bls_key(&home).expect("load").expect("present");
        assert_eq!(back.to_bytes(), key.to_bytes());
        let again = load_or_generate_bls_key(&home).expect("load");
        assert_eq!(again.to_bytes(), key.to_bytes());
        // The file holds the key, its public key and its proof, in hex.
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        assert_eq!(v["secret_key"], hex::encode(key.to_bytes()));
        assert_eq!(v["bls_pubkey"], hex::encode(key.public_key().to_bytes()));
        assert_eq!(v["pop"], hex::encode(key.proof_of_possession().to_bytes()));
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(home.join("config"))
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["bls_key.json".to_string()]);
    }

    #[test]
    fn two_homes_get_different_keys() {
        let a = tempfile::tempdir().expect("temp dir");
        let b = tempfile::tempdir().expect("temp dir");
        let ka = load_or_generate_bls_key(a.path()).expect("a");
        let kb = load_or_generate_bls_key(b.path()).expect("b");
        assert_ne!(ka.to_bytes(), kb.to_bytes());
    }

    #[test]
    fn generate_refuses_to_overwrite() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = generate_bls_key(dir.path()).expect("generate");
        let before = std::fs::read(bls_key_path(dir.path())).expect("read");
        let e = generate_bls_key(dir.path()).expect_err("second generate");
        assert!(matches!(e, BlsKeyFileError::AlreadyExists { .. }), "{e}");
        assert!(e.to_string().contains("bls_key.json"), "{e}");
        assert_eq!(
            std::fs::read(bls_key_path(dir.path())).expect("read"),
            before
        );
        let loaded = load_bls_key(dir.path()).expect("load").expect("present");
        assert_eq!(loaded.to_bytes(), key.to_bytes());
    }

    #[test]
    fn a_key_planned_in_memory_is_written_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path().join("new-home");
        let key = new_bls_key().expect("new key");
        write_bls_key(&home, &key).expect("write");
        assert_eq!(mode_of(&bls_key_path(&home)), 0o600);
        assert_eq!(
            load_bls_key(&home)
                .expect("load")
                .expect("present")
                .to_bytes(),
            key.to_bytes()
        );
        let other = new_bls_key().expect("new key");
        assert_ne!(other.to_bytes(), key.to_bytes());
        let e = write_bls_key(&home, &other).expect_err("a second write");
        assert!(matches!(e, BlsKeyFileError::AlreadyExists { .. }), "{e}");
        assert_eq!(
            load_bls_key(&home)
                .expect("load")
                .expect("present")
                .to_bytes(),
            key.to_bytes()
        );
    }

    #[test]
    fn loose_permissions_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        generate_bls_key(dir.path()).expect("generate");
        let path = bls_key_path(dir.path());
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o666] {
            set_mode(&path, mode);
            let e = load_bls_key(dir.path()).expect_err("loose mode");
            match &e {
                BlsKeyFileError::Permissions { mode: m, .. } => assert_eq!(*m, mode),
                other => panic!("expected a permissions error for {mode:o}, got {other}"),
            }
            let msg = e.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains(&format!("{mode:04o}")), "{msg}");
        }
        for mode in [0o600, 0o400] {
            set_mode(&path, mode);
            assert!(load_bls_key(dir.path()).expect("private").is_some());
        }
    }

    #[test]
    fn a_directory_in_place_of_the_file_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(bls_key_path(dir.path())).expect("mkdir");
        let e = load_bls_key(dir.path()).expect_err("a directory");
        assert!(matches!(e, BlsKeyFileError::NotAFile { .. }), "{e}");
    }

    fn rewrite(home: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
        let path = bls_key_path(home);
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        edit(&mut v);
        std::fs::write(&path, v.to_string()).expect("write");
    }

    #[test]
    fn a_tampered_file_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path();
        let key = generate_bls_key(home).expect("generate");
        let other_dir = tempfile::tempdir().expect("temp dir");
        let other = generate_bls_key(other_dir.path()).expect("generate");

        // Another key's public key next to this secret.
        rewrite(home, |v| {
            v["bls_pubkey"] = hex::encode(other.public_key().to_bytes()).into()
        });
        let e = load_bls_key(home).expect_err("wrong pubkey");
        assert!(
            matches!(
                e,
                BlsKeyFileError::Mismatch {
                    field: "bls_pubkey",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("bls_pubkey"), "{e}");

        // The right public key, another key's proof.
        rewrite(home, |v| {
            v["bls_pubkey"] = hex::encode(key.public_key().to_bytes()).into();
            v["pop"] = hex::encode(other.proof_of_possession().to_bytes()).into();
        });
        let e = load_bls_key(home).expect_err("wrong pop");
        assert!(
            matches!(e, BlsKeyFileError::Mismatch { field: "pop", .. }),
            "{e}"
        );

        // The other key's secret with this key's public fields.
        rewrite(home, |v| {
            v["pop"] = hex::encode(key.proof_of_possession().to_bytes()).into();
            v["secret_key"] = hex::encode(other.to_bytes()).into();
        });
        assert!(matches!(
            load_bls_key(home).expect_err("swapped secret"),
            BlsKeyFileError::Mismatch { .. }
        ));

        // Restored, it loads again.
        rewrite(home, |v| {
            v["secret_key"] = hex::encode(key.to_bytes()).into()
        });
        assert_eq!(
            load_bls_key(home)
                .expect("restored")
                .expect("present")
                .to_bytes(),
            key.to_bytes()
        );
    }

    #[test]
    fn malformed_files_are_refused_with_the_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path();
        let key = generate_bls_key(home).expect("generate");
        let path = bls_key_path(home);
        let good: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        let zero = "00".repeat(32);
        let cases: Vec<(String, &str)> = vec![
            ("not json".into(), "expected"),
            ("{}".into(), "missing field"),
            (
                serde_json::json!({"secret_key": "zz", "bls_pubkey": good["bls_pubkey"], "pop": good["pop"]})
                    .to_string(),
                "secret_key is not hex",
            ),
            (
                serde_json::json!({"secret_key": "abcd", "bls_pubkey": good["bls_pubkey"], "pop": good["pop"]})
                    .to_string(),
                "secret_key",
            ),
            (
                serde_json::json!({"secret_key": zero, "bls_pubkey": good["bls_pubkey"], "pop": good["pop"]})
                    .to_string(),
                "secret_key",
            ),
            (
                serde_json::json!({"secret_key": good["secret_key"], "bls_pubkey": good["bls_pubkey"], "pop": good["pop"], "extra": 1})
                    .to_string(),
                "unknown field",
            ),
            (
                serde_json::json!({"secret_key": good["secret_key"], "bls_pubkey": "xyz", "pop": good["pop"]})
                    .to_string(),
                "bls_pubkey is not hex",
            ),
        ];
        for (text, needle) in cases {
            std::fs::write(&path, &text).expect("write");
            let e = load_bls_key(home).expect_err(&text);
            assert!(
                matches!(e, BlsKeyFileError::Malformed { .. }),
                "{text}: {e}"
            );
            let msg = e.to_string();
            assert!(msg.contains(needle), "{text}: {msg}");
            assert!(msg.contains(&path.display().to_string()), "{msg}");
        }
        std::fs::write(&path, good.to_string()).expect("write");
        assert_eq!(
            load_bls_key(home)
                .expect("good")
                .expect("present")
                .to_bytes(),
            key.to_bytes()
        );
    }

    #[test]
    fn the_genesis_entry_names_the_validator_and_carries_a_valid_proof() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = generate_bls_key(dir.path()).expect("generate");
        let address = [0xAB; 20];
        let entry = genesis_bls_key(&key, address);
        assert_eq!(entry.validator_address, "ab".repeat(20));
        assert_eq!(entry.bls_pubkey, hex::encode(key.public_key().to_bytes()));
        let pubkey = hex::decode(&entry.bls_pubkey).expect("hex");
        let pop = hex::decode(&entry.pop).expect("hex");
        let proven = ProvenBlsKey::new(&pubkey, &pop).expect("the proof verifies");
        assert_eq!(*proven.pubkey(), key.public_key());
        // The whole entry is accepted by the module's genesis.
        let genesis = ballast_checkpointing::GenesisState {
            bls_keys: vec![entry],
            ..Default::default()
        };
        let mut state = ballast_framework::MemState::default();
        genesis
            .apply(&mut state)
            .expect("genesis accepts the entry");
    }
}
