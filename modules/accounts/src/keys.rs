//! secp256k1 account keys: Cosmos address derivation and signature checks.

use crate::AccountsError;
use ballast_framework::Address;
use ripemd::Ripemd160;
use sha2::{Digest, Sha256};

/// Type URL of a secp256k1 account key.
pub const PUBKEY_TYPE_URL: &str = "/cosmos.crypto.secp256k1.PubKey";

/// A compressed (33-byte) secp256k1 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PubKey(secp256k1::PublicKey);

impl std::fmt::Debug for PubKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PubKey({})", hex::encode(self.to_bytes()))
    }
}

impl PubKey {
    /// Parses 33 compressed bytes; the point must be on the curve.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AccountsError> {
        if bytes.len() != 33 {
            return Err(AccountsError::InvalidPubKey(format!(
                "expected 33 compressed bytes, found {}",
                bytes.len()
            )));
        }
        secp256k1::PublicKey::from_slice(bytes)
            .map(PubKey)
            .map_err(|e| AccountsError::InvalidPubKey(e.to_string()))
    }

    /// Parses the `Any` form (`/cosmos.crypto.secp256k1.PubKey`).
    pub fn from_any(type_url: &str, value: &[u8]) -> Result<Self, AccountsError> {
        if type_url != PUBKEY_TYPE_URL {
            return Err(AccountsError::InvalidPubKey(format!(
                "unsupported key type {type_url:?}, expected {PUBKEY_TYPE_URL}"
            )));
        }
        let pk =
            <cosmrs::proto::cosmos::crypto::secp256k1::PubKey as prost::Message>::decode(value)
                .map_err(|e| AccountsError::InvalidPubKey(e.to_string()))?;
        Self::from_bytes(&pk.key)
    }

    /// The `Any` value bytes.
    pub fn to_any_value(&self) -> Vec<u8> {
        prost::Message::encode_to_vec(&cosmrs::proto::cosmos::crypto::secp256k1::PubKey {
            key: self.to_bytes().to_vec(),
        })
    }

    /// Compressed bytes.
    pub fn to_bytes(&self) -> [u8; 33] {
        self.0.serialize()
    }

    /// The account address of this key.
    pub fn address(&self) -> Address {
        pubkey_address(&self.to_bytes())
    }
}

/// RIPEMD160(SHA256(compressed key)), as Cosmos derives secp256k1 account addresses.
pub fn pubkey_address(compressed: &[u8]) -> Address {
    let sha = Sha256::digest(compressed);
    let rip = Ripemd160::digest(sha);
    let mut out = [0u8; 20];
    out.copy_from_slice(&rip);
    Address(out)
}

/// Verifies a 64-byte compact ECDSA signature over SHA-256(`msg`). High-S signatures are
/// rejected, as Cosmos does, so a signature cannot be malleated into a second valid one.
pub fn verify_secp256k1(key: &PubKey, msg: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = secp256k1::ecdsa::Signature::from_compact(sig) else {
        return false;
    };
    let digest: [u8; 32] = Sha256::digest(msg).into();
    let msg = secp256k1::Message::from_digest(digest);
    secp256k1::SECP256K1
        .verify_ecdsa(&msg, &sig, &key.0)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_matches_cosmrs_and_signatures_verify() {
        let sk = cosmrs::crypto::secp256k1::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let pk = sk.public_key();
        let ours = PubKey::from_bytes(&pk.to_bytes()).unwrap();
        let theirs = pk.account_id("ballast").unwrap();
        assert_eq!(ours.address().to_string(), theirs.to_string());
        let sig = sk.sign(b"hello").unwrap();
        assert!(verify_secp256k1(&ours, b"hello", &sig.to_bytes()));
        assert!(!verify_secp256k1(&ours, b"hellp", &sig.to_bytes()));
        assert!(!verify_secp256k1(&ours, b"hello", &[0u8; 64]));
        assert!(!verify_secp256k1(&ours, b"hello", &[1u8; 10]));
    }

    #[test]
    fn malformed_keys_are_rejected() {
        assert!(PubKey::from_bytes(&[2u8; 32]).is_err());
        assert!(PubKey::from_bytes(&[9u8; 33]).is_err());
        assert!(PubKey::from_any("/cosmos.crypto.ed25519.PubKey", &[]).is_err());
        assert!(PubKey::from_any(PUBKEY_TYPE_URL, &[0xff, 0xff]).is_err());
    }
}
