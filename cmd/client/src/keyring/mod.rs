//! The Ballast keyring: secp256k1 account keys from BIP-39 mnemonics, stored under the node
//! home.
//!
//! - Keys come from a BIP-39 mnemonic (24 words for new keys) with an empty BIP-39 passphrase,
//!   derived at the Cosmos path `m/44'/118'/0'/0/0`. The same mnemonic gives the same 20-byte
//!   account as in any Cosmos wallet; only the bech32 prefix (`ballast`) differs.
//! - Addresses are bech32 `ballast` + RIPEMD160(SHA256(33-byte compressed public key)).
//! - Two backends: `test` keeps secrets unencrypted in `<home>/keyring-test/` (for tests and
//!   local chains only); `file` keeps each secret sealed under the keyring passphrase in
//!   `<home>/keyring-file/` (scrypt + XChaCha20-Poly1305). In both, the name, address and
//!   public key are stored in clear, so listing and showing keys needs no passphrase. The
//!   format is described in [`store`](self::store).
//! - Export and import move a key between keyrings as ASCII armor sealed under a separate
//!   export passphrase.
//! - [`input`] reads backends and passphrases the way every `ballastd` command does.

mod armor;
mod crypto;
pub mod input;
mod store;

use crypto::{KdfParams, OpenError};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use store::{Record, SealedJson, Written};

use ballast_framework::{Address, ACCOUNT_HRP};
pub use cosmrs::crypto::secp256k1::SigningKey;

/// The HD path of Ballast account keys (Cosmos coin type 118, first account, first address).
pub const HD_PATH: &str = "m/44'/118'/0'/0/0";
/// Words in the mnemonic of a new key.
pub const NEW_MNEMONIC_WORDS: usize = 24;
/// The longest key name accepted.
pub const MAX_NAME_LEN: usize = 64;
/// The shortest passphrase accepted when a `file` keyring's passphrase is first set, and for
/// exports.
pub const MIN_PASSPHRASE_LEN: usize = 8;
/// The type URL of secp256k1 public keys, as in Cosmos key output.
pub const PUBKEY_TYPE_URL: &str = "/cosmos.crypto.secp256k1.PubKey";

/// Bound to a `file` backend ciphertext together with the public key it belongs to.
const KEY_AAD_PREFIX: &[u8] = b"ballast keyring key v1";
/// Bound to the passphrase check.
const CHECK_AAD: &[u8] = b"ballast keyring passphrase check v1";
/// The text the passphrase check seals.
const CHECK_TEXT: &[u8] = b"ballast keyring";

/// Where and how keys are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Unencrypted files in `<home>/keyring-test/`: for tests and local chains.
    Test,
    /// Passphrase-encrypted files in `<home>/keyring-file/`.
    File,
}

impl Backend {
    /// The directory of this backend under `home`.
    pub fn dir(&self, home: &Path) -> PathBuf {
        home.join(format!("keyring-{self}"))
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Test => "test",
            Backend::File => "file",
        })
    }
}

impl FromStr for Backend {
    type Err = KeyringError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "test" => Ok(Backend::Test),
            "file" => Ok(Backend::File),
            other => Err(KeyringError::UnknownBackend(other.to_string())),
        }
    }
}

/// What the keyring shows about a key: everything but the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's name in the keyring.
    pub name: String,
    /// Its account address, bech32 with the `ballast` prefix.
    pub address: String,
    /// Its 33-byte compressed secp256k1 public key.
    pub pubkey: Vec<u8>,
}

impl KeyInfo {
    fn from_pubkey(name: &str, pubkey: Vec<u8>) -> Self {
        KeyInfo {
            name: name.to_string(),
            address: address_of(&pubkey),
            pubkey,
        }
    }

    /// The public key as Cosmos prints it: the JSON text
    /// `{"@type":"/cosmos.crypto.secp256k1.PubKey","key":"<base64>"}`.
    pub fn pubkey_json(&self) -> String {
        use base64::Engine;
        serde_json::json!({
            "@type": PUBKEY_TYPE_URL,
            "key": base64::engine::general_purpose::STANDARD.encode(&self.pubkey),
        })
        .to_string()
    }

    /// The key in the Cosmos SDK key output shape: `{"name","type":"local","address","pubkey"}`,
    /// with `pubkey` the JSON text of [`KeyInfo::pubkey_json`].
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "type": "local",
            "address": self.address,
            "pubkey": self.pubkey_json(),
        })
    }
}

/// Why a keyring operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// The backend name is not one of `test` and `file`.
    #[error("unknown keyring backend {0:?}: expected \"test\" or \"file\"")]
    UnknownBackend(String),
    /// The key name breaks the naming rules.
    #[error("invalid key name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A key with this name already exists.
    #[error(
        "a key named {0:?} already exists in the keyring; delete it first or pick another name"
    )]
    AlreadyExists(String),
    /// The keyring already holds this account under another name.
    #[error("the keyring already holds address {address} as key {existing:?}")]
    DuplicateAddress {
        /// The account address.
        address: String,
        /// The name it is stored under.
        existing: String,
    },
    /// No key has this name or address.
    #[error("no key named {0:?} (or with that address) in the keyring")]
    NotFound(String),
    /// The mnemonic is not a valid BIP-39 English mnemonic.
    #[error("invalid mnemonic: {0}")]
    InvalidMnemonic(String),
    /// The `file` backend needs a passphrase for this operation and none was given.
    #[error("the file keyring backend needs a passphrase for this operation and none was given")]
    PassphraseRequired,
    /// The passphrase does not open the key or the keyring.
    #[error("wrong keyring passphrase for {0} (or its file was altered)")]
    WrongPassphrase(String),
    /// The export passphrase does not open the armored key.
    #[error("wrong export passphrase (or the armored key was altered)")]
    WrongExportPassphrase,
    /// A new passphrase is too short.
    #[error("passphrase too short: need at least {min} characters, found {found}")]
    WeakPassphrase {
        /// The minimum length.
        min: usize,
        /// The length given.
        found: usize,
    },
    /// A keyring file is damaged or was edited.
    #[error("keyring file {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A keyring file has a format version this build does not know.
    #[error("keyring file {path} has format version {found}; this build reads version 1")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u64,
    },
    /// An exported key's armor is malformed.
    #[error("invalid armored key: {0}")]
    Armor(String),
    /// A file operation failed.
    #[error("keyring i/o on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Checks a key name: 1 to [`MAX_NAME_LEN`] characters from `[A-Za-z0-9._-]`, not starting
/// with `.` (names become file names, and the keyring's own files start with one).
pub fn validate_name(name: &str) -> Result<(), KeyringError> {
    let err = |reason: String| {
        Err(KeyringError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return err("a name must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return err(format!(
            "at most {MAX_NAME_LEN} characters, found {}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return err(format!(
            "only letters, digits, '.', '_' and '-' are allowed, found {c:?}"
        ));
    }
    if name.starts_with('.') {
        return err("a name must not start with '.'".into());
    }
    Ok(())
}

/// The bech32 `ballast` address of a 33-byte compressed secp256k1 public key:
/// RIPEMD160(SHA256(pubkey)), as Cosmos derives account addresses.
pub fn address_of(pubkey33: &[u8]) -> String {
    ballast_accounts::pubkey_address(pubkey33).to_bech32(ACCOUNT_HRP)
}

/// Parses a BIP-39 English mnemonic. Case and runs of whitespace are forgiven; a wrong word
/// count, unknown word or checksum is an error naming which.
fn parse_mnemonic(mnemonic: &str) -> Result<bip39::Mnemonic, KeyringError> {
    let normalized = mnemonic
        .split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ");
    bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &normalized).map_err(|e| {
        KeyringError::InvalidMnemonic(match e {
            bip39::Error::BadWordCount(n) => {
                format!("expected 12, 15, 18, 21 or 24 words, found {n}")
            }
            bip39::Error::UnknownWord(i) => format!(
                "word {} is not in the BIP-39 English word list",
                i.saturating_add(1)
            ),
            bip39::Error::InvalidChecksum => {
                "the checksum does not match: a word is mistyped or out of order".into()
            }
            other => other.to_string(),
        })
    })
}

/// The 32-byte secret at [`HD_PATH`] of a mnemonic (empty BIP-39 passphrase).
fn secret_from_mnemonic(m: &bip39::Mnemonic) -> Result<[u8; 32], KeyringError> {
    let seed = m.to_seed("");
    let path: bip32::DerivationPath = HD_PATH.parse().expect("HD_PATH is a valid BIP-32 path");
    let xprv = bip32::XPrv::derive_from_path(seed, &path).map_err(|e| {
        // Happens with probability ~2^-127 per level (an invalid child scalar).
        KeyringError::InvalidMnemonic(format!("key derivation at {HD_PATH} failed: {e}"))
    })?;
    Ok(xprv.to_bytes())
}

fn signing_key_from_secret(secret: &[u8]) -> Option<SigningKey> {
    SigningKey::from_slice(secret).ok()
}

fn pubkey_of(key: &SigningKey) -> Vec<u8> {
    key.public_key().to_bytes()
}

/// The signing key at [`HD_PATH`] of a BIP-39 mnemonic (empty BIP-39 passphrase).
pub fn derive_signing_key(mnemonic: &str) -> Result<SigningKey, KeyringError> {
    let m = parse_mnemonic(mnemonic)?;
    let secret = secret_from_mnemonic(&m)?;
    signing_key_from_secret(&secret).ok_or_else(|| {
        KeyringError::InvalidMnemonic("the derived key is not a valid secp256k1 scalar".into())
    })
}

/// A keyring in one backend under one node home.
pub struct Keyring {
    dir: PathBuf,
    backend: Backend,
    passphrase: Option<String>,
    kdf: KdfParams,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("dir", &self.dir)
            .field("backend", &self.backend)
            .field("passphrase", &self.passphrase.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Keyring {
    /// Opens the keyring of `backend` under `home`. Nothing is created until a key is added.
    /// `passphrase` is needed by the `file` backend to add, import, export and sign, and is
    /// ignored by the `test` backend.
    pub fn open(
        home: &Path,
        backend: Backend,
        passphrase: Option<String>,
    ) -> Result<Keyring, KeyringError> {
        let dir = backend.dir(home);
        if dir.exists() && !dir.is_dir() {
            return Err(store::corrupt(&dir, "exists but is not a directory"));
        }
        Ok(Keyring {
            dir,
            backend,
            passphrase: match backend {
                Backend::Test => None,
                Backend::File => passphrase,
            },
            kdf: KdfParams::DEFAULT,
        })
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The directory holding the keys.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a `file` keyring already has a passphrase (it does once a key was stored).
    /// A caller prompting for a new passphrase asks twice only when this is false.
    pub fn passphrase_is_set(&self) -> bool {
        self.backend == Backend::File && self.dir.join(store::CHECK_FILE).exists()
    }

    /// Creates a key from a fresh 24-word mnemonic; returns it and the mnemonic, which is the
    /// only way to recover the key and is not stored.
    pub fn add(&self, name: &str) -> Result<(KeyInfo, String), KeyringError> {
        validate_name(name)?;
        let mut entropy = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut entropy);
        let m = bip39::Mnemonic::from_entropy_in(bip39::Language::English, &entropy)
            .expect("32 bytes is a valid BIP-39 entropy length");
        let secret = secret_from_mnemonic(&m)?;
        let info = self.store_secret(name, &secret)?;
        Ok((info, m.to_string()))
    }

    /// Stores the key of an existing mnemonic under `name`.
    pub fn recover(&self, name: &str, mnemonic: &str) -> Result<KeyInfo, KeyringError> {
        validate_name(name)?;
        let m = parse_mnemonic(mnemonic)?;
        let secret = secret_from_mnemonic(&m)?;
        self.store_secret(name, &secret)
    }

    /// Every key, sorted by name. A damaged key file is an error naming it.
    pub fn list(&self) -> Result<Vec<KeyInfo>, KeyringError> {
        store::key_files(&self.dir)?
            .into_iter()
            .map(|(name, path)| self.read_record(&name, &path).map(|(info, _)| info))
            .collect()
    }

    /// The key with this name, or else with this bech32 address.
    pub fn show(&self, name_or_address: &str) -> Result<KeyInfo, KeyringError> {
        self.find(name_or_address).map(|(info, _)| info)
    }

    /// Deletes a key. Needs no passphrase.
    pub fn delete(&self, name: &str) -> Result<(), KeyringError> {
        validate_name(name)?;
        let path = self.key_path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(KeyringError::NotFound(name.to_string()))
            }
            Err(e) => Err(store::io_error(&path, e)),
        }
    }

    /// The key's secret sealed under `export_passphrase` as ASCII armor.
    pub fn export(&self, name: &str, export_passphrase: &str) -> Result<String, KeyringError> {
        check_new_passphrase(export_passphrase)?;
        let (_, record) = self.find(name)?;
        let secret = self.secret_of(&record)?;
        Ok(armor::armor(&secret, export_passphrase, self.kdf))
    }

    /// Stores the key of an armored export under `name`.
    pub fn import(
        &self,
        name: &str,
        armored: &str,
        export_passphrase: &str,
    ) -> Result<KeyInfo, KeyringError> {
        validate_name(name)?;
        if self.key_path(name).exists() {
            return Err(KeyringError::AlreadyExists(name.to_string()));
        }
        let secret = armor::unarmor(armored, export_passphrase)?;
        self.store_secret(name, &secret)
    }

    /// The signing key with this name or address (the `file` backend needs the passphrase).
    pub fn signing_key(&self, name_or_address: &str) -> Result<SigningKey, KeyringError> {
        let (_, record) = self.find(name_or_address)?;
        let secret = self.secret_of(&record)?;
        signing_key_from_secret(&secret)
            .ok_or_else(|| store::corrupt(&self.key_path(&record.name), "invalid secret"))
    }

    fn key_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.{}", store::KEY_EXT))
    }

    fn passphrase(&self) -> Result<&str, KeyringError> {
        self.passphrase
            .as_deref()
            .ok_or(KeyringError::PassphraseRequired)
    }

    fn find(&self, name_or_address: &str) -> Result<(KeyInfo, Record), KeyringError> {
        if validate_name(name_or_address).is_ok() {
            let path = self.key_path(name_or_address);
            if path.exists() {
                return self.read_record(name_or_address, &path);
            }
        }
        if Address::from_bech32(name_or_address, ACCOUNT_HRP).is_ok() {
            for (name, path) in store::key_files(&self.dir)? {
                let found = self.read_record(&name, &path)?;
                if found.0.address == name_or_address {
                    return Ok(found);
                }
            }
        }
        Err(KeyringError::NotFound(name_or_address.to_string()))
    }

    /// Reads and checks one key file: the name matches the file, the public key is a valid
    /// point, the address is the public key's, and the secret field fits the backend.
    fn read_record(&self, name: &str, path: &Path) -> Result<(KeyInfo, Record), KeyringError> {
        let bytes =
            store::read_optional(path)?.ok_or_else(|| KeyringError::NotFound(name.to_string()))?;
        let r: Record = store::parse_versioned(path, &bytes)?;
        let bad = |reason: String| Err(store::corrupt(path, reason));
        if r.name != name {
            return bad(format!(
                "it names key {:?} but is the file of {name:?}",
                r.name
            ));
        }
        if r.kind != "local" || r.algo != "secp256k1" {
            return bad(format!(
                "expected a local secp256k1 key, found type {:?} algo {:?}",
                r.kind, r.algo
            ));
        }
        let pubkey = match hex::decode(&r.pubkey) {
            Ok(p) => p,
            Err(e) => return bad(format!("pubkey is not hex: {e}")),
        };
        if pubkey.len() != 33 || tendermint::PublicKey::from_raw_secp256k1(&pubkey).is_none() {
            return bad("pubkey is not a 33-byte compressed secp256k1 point".into());
        }
        let info = KeyInfo::from_pubkey(name, pubkey);
        if info.address != r.address {
            return bad(format!(
                "address {} does not belong to its pubkey (which gives {})",
                r.address, info.address
            ));
        }
        match (
            self.backend,
            r.private_key.is_some(),
            r.encrypted_private_key.is_some(),
        ) {
            (Backend::Test, true, false) | (Backend::File, false, true) => {}
            _ => {
                return bad(format!(
                    "a {} backend key needs exactly the field {:?}",
                    self.backend,
                    match self.backend {
                        Backend::Test => "private_key",
                        Backend::File => "encrypted_private_key",
                    }
                ))
            }
        }
        Ok((info, r))
    }

    /// The secret of a checked record; it must give the record's public key.
    fn secret_of(&self, r: &Record) -> Result<[u8; 32], KeyringError> {
        let path = self.key_path(&r.name);
        let bytes = match (&r.private_key, &r.encrypted_private_key) {
            (Some(hex_key), None) => hex::decode(hex_key)
                .map_err(|e| store::corrupt(&path, format!("private_key is not hex: {e}")))?,
            (None, Some(sealed)) => {
                let sealed = sealed
                    .to_sealed()
                    .map_err(|reason| store::corrupt(&path, reason))?;
                let aad = key_aad(&r.pubkey);
                crypto::open(self.passphrase()?, &aad, &sealed).map_err(|e| match e {
                    OpenError::Malformed(m) => store::corrupt(&path, m),
                    OpenError::Auth => KeyringError::WrongPassphrase(format!("key {:?}", r.name)),
                })?
            }
            _ => return Err(store::corrupt(&path, "no usable private key field")),
        };
        let secret: [u8; 32] = bytes.try_into().map_err(|v: Vec<u8>| {
            store::corrupt(
                &path,
                format!("private key must be 32 bytes, found {}", v.len()),
            )
        })?;
        let key = signing_key_from_secret(&secret)
            .ok_or_else(|| store::corrupt(&path, "private key is not a valid secp256k1 scalar"))?;
        if hex::encode(pubkey_of(&key)) != r.pubkey {
            return Err(store::corrupt(
                &path,
                "private key does not match the stored pubkey",
            ));
        }
        Ok(secret)
    }

    /// Checks the `file` keyring's passphrase against its check file, creating the check file
    /// (after the length rule) when this is the keyring's first key.
    fn verify_or_set_passphrase(&self) -> Result<(), KeyringError> {
        let pass = self.passphrase()?;
        let path = self.dir.join(store::CHECK_FILE);
        for _ in 0..2 {
            if let Some(bytes) = store::read_optional(&path)? {
                let check: store::CheckFile = store::parse_versioned(&path, &bytes)?;
                let sealed = check
                    .check
                    .to_sealed()
                    .map_err(|reason| store::corrupt(&path, reason))?;
                return match crypto::open(pass, CHECK_AAD, &sealed) {
                    Ok(text) if text == CHECK_TEXT => Ok(()),
                    Ok(_) => Err(store::corrupt(&path, "unexpected check text")),
                    Err(OpenError::Malformed(m)) => Err(store::corrupt(&path, m)),
                    Err(OpenError::Auth) => Err(KeyringError::WrongPassphrase(format!(
                        "the keyring in {}",
                        self.dir.display()
                    ))),
                };
            }
            check_new_passphrase(pass)?;
            let sealed = crypto::seal(pass, CHECK_AAD, CHECK_TEXT, self.kdf);
            let file = store::CheckFile {
                version: store::FORMAT_VERSION,
                check: SealedJson::from_sealed(&sealed),
            };
            let json = serde_json::to_vec_pretty(&file).expect("the check file serializes");
            if store::write_new(&self.dir, store::CHECK_FILE, &json)? == Written::Created {
                return Ok(());
            }
            // Another process set the passphrase first: check against theirs.
        }
        Err(store::corrupt(
            &path,
            "appeared and vanished while being read",
        ))
    }

    fn store_secret(&self, name: &str, secret: &[u8; 32]) -> Result<KeyInfo, KeyringError> {
        let key = signing_key_from_secret(secret).ok_or_else(|| {
            KeyringError::Armor("the imported key is not a valid secp256k1 scalar".into())
        })?;
        let info = KeyInfo::from_pubkey(name, pubkey_of(&key));
        if self.key_path(name).exists() {
            return Err(KeyringError::AlreadyExists(name.to_string()));
        }
        if let Some(existing) = self.list()?.into_iter().find(|k| k.address == info.address) {
            return Err(KeyringError::DuplicateAddress {
                address: info.address,
                existing: existing.name,
            });
        }
        let pubkey_hex = hex::encode(&info.pubkey);
        let (private_key, encrypted_private_key) = match self.backend {
            Backend::Test => (Some(hex::encode(secret)), None),
            Backend::File => {
                self.verify_or_set_passphrase()?;
                let sealed =
                    crypto::seal(self.passphrase()?, &key_aad(&pubkey_hex), secret, self.kdf);
                (None, Some(SealedJson::from_sealed(&sealed)))
            }
        };
        let record = Record {
            version: store::FORMAT_VERSION,
            name: name.to_string(),
            kind: "local".into(),
            algo: "secp256k1".into(),
            address: info.address.clone(),
            pubkey: pubkey_hex,
            private_key,
            encrypted_private_key,
        };
        let json = serde_json::to_vec_pretty(&record).expect("a key record serializes");
        match store::write_new(&self.dir, &format!("{name}.{}", store::KEY_EXT), &json)? {
            Written::Created => Ok(info),
            Written::AlreadyExists => Err(KeyringError::AlreadyExists(name.to_string())),
        }
    }
}

fn key_aad(pubkey_hex: &str) -> Vec<u8> {
    let mut aad = KEY_AAD_PREFIX.to_vec();
    aad.push(0);
    aad.extend_from_slice(pubkey_hex.as_bytes());
    aad
}

fn check_new_passphrase(p: &str) -> Result<(), KeyringError> {
    let found = p.chars().count();
    if found < MIN_PASSPHRASE_LEN {
        return Err(KeyringError::WeakPassphrase {
            min: MIN_PASSPHRASE_LEN,
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
