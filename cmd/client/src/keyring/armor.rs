//! The ASCII armor of an exported key: the 32-byte secp256k1 secret sealed under an export
//! passphrase (scrypt + XChaCha20-Poly1305), with its parameters in headers.
//!
//! ```text
//! -----BEGIN BALLAST PRIVATE KEY-----
//! version: 1
//! type: secp256k1
//! kdf: scrypt
//! scrypt-log-n: 15
//! scrypt-r: 8
//! scrypt-p: 1
//! salt: <hex>
//! cipher: xchacha20poly1305
//! nonce: <hex>
//!
//! <base64 of the ciphertext, 64 columns>
//! -----END BALLAST PRIVATE KEY-----
//! ```

use super::crypto::{self, KdfParams, OpenError, Sealed, CIPHER_NAME, KDF_NAME, NONCE_LEN};
use super::KeyringError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::collections::BTreeMap;

const BEGIN: &str = "-----BEGIN BALLAST PRIVATE KEY-----";
const END: &str = "-----END BALLAST PRIVATE KEY-----";
const VERSION: &str = "1";
const KEY_TYPE: &str = "secp256k1";
/// Bound to the ciphertext so an exported key cannot be passed off as any other sealed box.
const AAD: &[u8] = b"ballast exported key v1";

/// Seals `secret` under `passphrase` and armors it.
pub(crate) fn armor(secret: &[u8; 32], passphrase: &str, params: KdfParams) -> String {
    let s = crypto::seal(passphrase, AAD, secret, params);
    let body = STANDARD.encode(&s.ciphertext);
    let mut out = String::new();
    out.push_str(BEGIN);
    out.push('\n');
    for (k, v) in [
        ("version", VERSION.to_string()),
        ("type", KEY_TYPE.to_string()),
        ("kdf", KDF_NAME.to_string()),
        ("scrypt-log-n", s.params.log_n.to_string()),
        ("scrypt-r", s.params.r.to_string()),
        ("scrypt-p", s.params.p.to_string()),
        ("salt", hex::encode(&s.salt)),
        ("cipher", CIPHER_NAME.to_string()),
        ("nonce", hex::encode(s.nonce)),
    ] {
        out.push_str(&format!("{k}: {v}\n"));
    }
    out.push('\n');
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 output is ASCII"));
        out.push('\n');
    }
    out.push_str(END);
    out.push('\n');
    out
}

fn bad(reason: impl Into<String>) -> KeyringError {
    KeyringError::Armor(reason.into())
}

/// Parses the armor and opens it with `passphrase`, returning the 32-byte secret.
pub(crate) fn unarmor(text: &str, passphrase: &str) -> Result<[u8; 32], KeyringError> {
    let sealed = parse(text)?;
    let secret = crypto::open(passphrase, AAD, &sealed).map_err(|e| match e {
        OpenError::Malformed(m) => bad(m),
        OpenError::Auth => KeyringError::WrongExportPassphrase,
    })?;
    secret
        .try_into()
        .map_err(|v: Vec<u8>| bad(format!("sealed key must be 32 bytes, found {}", v.len())))
}

fn parse(text: &str) -> Result<Sealed, KeyringError> {
    let mut lines = text.lines().map(str::trim_end);
    // Anything before the BEGIN line (a comment, a blank line) is ignored, as in OpenPGP armor.
    if !lines.by_ref().any(|l| l.trim_start() == BEGIN) {
        return Err(bad(format!("no {BEGIN:?} line")));
    }
    let mut headers = BTreeMap::new();
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("expected a \"key: value\" header, found {line:?}")))?;
        if headers
            .insert(k.trim().to_string(), v.trim().to_string())
            .is_some()
        {
            return Err(bad(format!("header {:?} appears twice", k.trim())));
        }
    }
    let mut body = String::new();
    let mut ended = false;
    for line in lines {
        if line.trim() == END {
            ended = true;
            break;
        }
        body.push_str(line.trim());
    }
    if !ended {
        return Err(bad(format!("no {END:?} line")));
    }
    let header = |k: &str| {
        headers
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| bad(format!("missing header {k:?}")))
    };
    let expect = |k: &str, want: &str| -> Result<(), KeyringError> {
        let v = header(k)?;
        if v == want {
            Ok(())
        } else {
            Err(bad(format!("header {k:?} must be {want:?}, found {v:?}")))
        }
    };
    expect("version", VERSION)?;
    expect("type", KEY_TYPE)?;
    expect("kdf", KDF_NAME)?;
    expect("cipher", CIPHER_NAME)?;
    let num = |k: &str| -> Result<u32, KeyringError> {
        header(k)?
            .parse::<u32>()
            .map_err(|e| bad(format!("header {k:?} is not a number: {e}")))
    };
    let log_n = u8::try_from(num("scrypt-log-n")?)
        .map_err(|_| bad("header \"scrypt-log-n\" is out of range"))?;
    let salt = hex::decode(header("salt")?).map_err(|e| bad(format!("salt is not hex: {e}")))?;
    let nonce = hex::decode(header("nonce")?).map_err(|e| bad(format!("nonce is not hex: {e}")))?;
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|n: Vec<u8>| {
        bad(format!(
            "nonce must be {NONCE_LEN} bytes, found {}",
            n.len()
        ))
    })?;
    let ciphertext = STANDARD
        .decode(body.as_bytes())
        .map_err(|e| bad(format!("body is not base64: {e}")))?;
    Ok(Sealed {
        params: KdfParams {
            log_n,
            r: num("scrypt-r")?,
            p: num("scrypt-p")?,
        },
        salt,
        nonce,
        ciphertext,
    })
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
    fn armor_round_trips_and_hides_the_secret() {
        let secret = [7u8; 32];
        let a = armor(&secret, "export pass", FAST);
        assert!(a.starts_with(BEGIN) && a.trim_end().ends_with(END), "{a}");
        assert!(!a.contains(&hex::encode(secret)));
        assert_eq!(unarmor(&a, "export pass").unwrap(), secret);
        // Leading text and CRLF line ends are tolerated.
        let crlf = format!("exported by ballastd\r\n{}", a.replace('\n', "\r\n"));
        assert_eq!(unarmor(&crlf, "export pass").unwrap(), secret);
    }

    #[test]
    fn wrong_passphrase_and_damage_are_errors() {
        let a = armor(&[9u8; 32], "export pass", FAST);
        assert!(matches!(
            unarmor(&a, "nope"),
            Err(KeyringError::WrongExportPassphrase)
        ));
        let cases = [
            a.replace(BEGIN, "-----BEGIN SOMETHING-----"),
            a.replace(END, ""),
            a.replace("type: secp256k1", "type: ed25519"),
            a.replace("kdf: scrypt", "kdf: bcrypt"),
            a.replace("scrypt-log-n: 10", "scrypt-log-n: 99"),
            a.replace("scrypt-log-n: 10", "scrypt-log-n: ten"),
            a.replace("version: 1", "version: 2"),
            a.replace("nonce: ", "nonce: zz"),
            a.replace("salt: ", "salt: 00"),
        ];
        for (i, c) in cases.iter().enumerate() {
            let e = unarmor(c, "export pass").unwrap_err();
            assert!(
                matches!(
                    e,
                    KeyringError::Armor(_) | KeyringError::WrongExportPassphrase
                ),
                "case {i}: {e}"
            );
        }
        // A flipped body character is caught by authentication, not returned as a key.
        let body_line = a.lines().nth(11).unwrap();
        let mut flipped = body_line.to_string().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let damaged = a.replace(body_line, std::str::from_utf8(&flipped).unwrap());
        assert!(matches!(
            unarmor(&damaged, "export pass"),
            Err(KeyringError::WrongExportPassphrase)
        ));
    }
}
