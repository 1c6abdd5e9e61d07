//! Passphrase encryption: scrypt derives a 32-byte key from the passphrase and a random salt,
//! and XChaCha20-Poly1305 seals the secret under a random 24-byte nonce. The same sealed box
//! is used for keys at rest (the `file` backend), for the keyring's passphrase check, and for
//! exported keys.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use rand::rngs::OsRng;
use rand::RngCore;

/// Salt length written by [`seal`].
pub(crate) const SALT_LEN: usize = 16;
/// XChaCha20-Poly1305 nonce length.
pub(crate) const NONCE_LEN: usize = 24;
/// Poly1305 tag length: the least a ciphertext can hold.
const TAG_LEN: usize = 16;

/// The name of the one key derivation function written and read.
pub(crate) const KDF_NAME: &str = "scrypt";
/// The name of the one cipher written and read.
pub(crate) const CIPHER_NAME: &str = "xchacha20poly1305";

/// scrypt cost parameters, stored beside each sealed box so they can be raised later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct KdfParams {
    /// log2 of the CPU/memory cost N.
    pub log_n: u8,
    /// Block size.
    pub r: u32,
    /// Parallelism.
    pub p: u32,
}

impl KdfParams {
    /// What new boxes use: N = 2^15, r = 8, p = 1 (32 MiB, about 0.1 s optimised).
    pub(crate) const DEFAULT: KdfParams = KdfParams {
        log_n: 15,
        r: 8,
        p: 1,
    };

    /// Rejects parameters a damaged or hostile file could use to make scrypt allocate gigabytes
    /// or run for hours, and those scrypt itself refuses.
    fn checked(self) -> Result<scrypt::Params, String> {
        if !(10..=20).contains(&self.log_n) {
            return Err(format!(
                "scrypt log_n must be between 10 and 20, found {}",
                self.log_n
            ));
        }
        if !(1..=16).contains(&self.r) {
            return Err(format!(
                "scrypt r must be between 1 and 16, found {}",
                self.r
            ));
        }
        if !(1..=4).contains(&self.p) {
            return Err(format!(
                "scrypt p must be between 1 and 4, found {}",
                self.p
            ));
        }
        // 128 * r * N bytes of memory: at most 256 MiB.
        let mem = (128u64 * u64::from(self.r)) << self.log_n;
        if mem > 256 << 20 {
            return Err(format!(
                "scrypt parameters need {} MiB of memory, more than the 256 MiB allowed",
                mem >> 20
            ));
        }
        scrypt::Params::new(self.log_n, self.r, self.p, 32)
            .map_err(|e| format!("invalid scrypt parameters: {e}"))
    }
}

/// A secret sealed under a passphrase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sealed {
    pub params: KdfParams,
    pub salt: Vec<u8>,
    pub nonce: [u8; NONCE_LEN],
    pub ciphertext: Vec<u8>,
}

/// Why a sealed box could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// The box's own fields are unusable (bad parameters or lengths).
    Malformed(String),
    /// Authentication failed: the passphrase is wrong, or the box or its context was altered.
    Auth,
}

fn derive_key(passphrase: &str, salt: &[u8], params: KdfParams) -> Result<[u8; 32], String> {
    let p = params.checked()?;
    let mut key = [0u8; 32];
    scrypt::scrypt(passphrase.as_bytes(), salt, &p, &mut key)
        .map_err(|e| format!("scrypt failed: {e}"))?;
    Ok(key)
}

/// Seals `plaintext` under `passphrase`, binding `aad` (which is not stored in the box).
pub(crate) fn seal(passphrase: &str, aad: &[u8], plaintext: &[u8], params: KdfParams) -> Sealed {
    let mut salt = vec![0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let key = derive_key(passphrase, &salt, params)
        .expect("the parameters new boxes use are within the checked bounds");
    let cipher = XChaCha20Poly1305::new(&key.into());
    let ciphertext = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("encrypting an in-memory buffer of a few bytes cannot fail");
    Sealed {
        params,
        salt,
        nonce,
        ciphertext,
    }
}

/// Opens a box sealed by [`seal`] with the same `aad`.
pub(crate) fn open(passphrase: &str, aad: &[u8], sealed: &Sealed) -> Result<Vec<u8>, OpenError> {
    if !(8..=64).contains(&sealed.salt.len()) {
        return Err(OpenError::Malformed(format!(
            "salt must be 8 to 64 bytes, found {}",
            sealed.salt.len()
        )));
    }
    if sealed.ciphertext.len() < TAG_LEN {
        return Err(OpenError::Malformed(format!(
            "ciphertext must be at least {TAG_LEN} bytes, found {}",
            sealed.ciphertext.len()
        )));
    }
    let key = derive_key(passphrase, &sealed.salt, sealed.params).map_err(OpenError::Malformed)?;
    let cipher = XChaCha20Poly1305::new(&key.into());
    cipher
        .decrypt(
            &XNonce::from(sealed.nonce),
            Payload {
                msg: &sealed.ciphertext,
                aad,
            },
        )
        .map_err(|_| OpenError::Auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: KdfParams = KdfParams {
        log_n: 10,
        r: 8,
        p: 1,
    };

    #[test]
    fn seal_then_open_round_trips_and_is_randomised() {
        let a = seal("correct horse", b"ctx", b"secret bytes", FAST);
        let b = seal("correct horse", b"ctx", b"secret bytes", FAST);
        assert_ne!(a.salt, b.salt, "each box gets a fresh salt");
        assert_ne!(a.nonce, b.nonce, "each box gets a fresh nonce");
        assert_ne!(a.ciphertext, b.ciphertext);
        assert!(!a
            .ciphertext
            .windows(b"secret bytes".len())
            .any(|w| w == b"secret bytes"));
        assert_eq!(open("correct horse", b"ctx", &a).unwrap(), b"secret bytes");
        assert_eq!(open("correct horse", b"ctx", &b).unwrap(), b"secret bytes");
    }

    #[test]
    fn wrong_passphrase_context_or_tampering_fail_authentication() {
        let s = seal("correct horse", b"ctx", b"secret", FAST);
        assert_eq!(open("wrong horse", b"ctx", &s), Err(OpenError::Auth));
        assert_eq!(open("correct horse", b"other", &s), Err(OpenError::Auth));
        let mut t = s.clone();
        t.ciphertext[0] ^= 1;
        assert_eq!(open("correct horse", b"ctx", &t), Err(OpenError::Auth));
        let mut t = s.clone();
        t.salt[0] ^= 1;
        assert_eq!(open("correct horse", b"ctx", &t), Err(OpenError::Auth));
        let mut t = s;
        t.nonce[0] ^= 1;
        assert_eq!(open("correct horse", b"ctx", &t), Err(OpenError::Auth));
    }

    #[test]
    fn hostile_parameters_are_refused_before_running_scrypt() {
        let mut s = seal("pw", b"", b"x", FAST);
        s.params.log_n = 40;
        assert!(matches!(open("pw", b"", &s), Err(OpenError::Malformed(m)) if m.contains("log_n")));
        s.params = KdfParams {
            log_n: 20,
            r: 16,
            p: 1,
        };
        assert!(
            matches!(open("pw", b"", &s), Err(OpenError::Malformed(m)) if m.contains("memory"))
        );
        let mut s = seal("pw", b"", b"x", FAST);
        s.ciphertext.truncate(3);
        assert!(matches!(open("pw", b"", &s), Err(OpenError::Malformed(_))));
        let mut s = seal("pw", b"", b"x", FAST);
        s.salt.clear();
        assert!(matches!(open("pw", b"", &s), Err(OpenError::Malformed(_))));
    }
}
