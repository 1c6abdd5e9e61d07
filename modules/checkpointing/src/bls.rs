//! BLS12-381 in the min-signature-size variant (`blst::min_sig`): signatures are 48-byte
//! compressed G1 points, public keys 96-byte compressed G2 points.
//!
//! - Checkpoint signatures use [`SIG_DST`] (`BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_`) over
//!   [`checkpoint_message`] (`be_u64(epoch) || block_hash`).
//! - A proof of possession is a signature over the 96 public-key bytes under [`POP_DST`]
//!   (`BLS_POP_BLS12381G1_XMD:SHA-256_SSWU_RO_POP_`). Because every key is registered with one,
//!   signatures over the same message can be checked with `fast_aggregate_verify` (the rogue-key
//!   attack needs a key whose secret the attacker does not know).
//! - Points from outside are always decoded with validation: a public key must not be the point
//!   at infinity and must be in the G2 subgroup (`key_validate`); a signature must be in the G1
//!   subgroup and, for a single signer's signature, not the point at infinity (`sig_validate`).
//! - Keys are generated from at least 32 bytes of key material that the node supplies (IETF
//!   KeyGen). The module never draws randomness.

use blst::min_sig::{AggregateSignature, PublicKey, SecretKey, Signature};
use blst::BLST_ERROR;
use std::fmt;

/// Domain separation tag of checkpoint signatures.
pub const SIG_DST: &[u8] = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";
/// Domain separation tag of proofs of possession.
pub const POP_DST: &[u8] = b"BLS_POP_BLS12381G1_XMD:SHA-256_SSWU_RO_POP_";
/// Size of a compressed public key (G2).
pub const PUBLIC_KEY_LEN: usize = 96;
/// Size of a compressed signature (G1).
pub const SIGNATURE_LEN: usize = 48;
/// Size of a serialized secret key.
pub const SECRET_KEY_LEN: usize = 32;
/// Least key material accepted by [`BlsSecretKey::from_ikm`].
pub const MIN_IKM_LEN: usize = 32;

/// Why BLS bytes or a BLS check were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlsError {
    /// Wrong number of bytes.
    #[error("{what} must be {expected} bytes, found {found}")]
    Length {
        /// What was decoded.
        what: &'static str,
        /// Expected size.
        expected: usize,
        /// Size found.
        found: usize,
    },
    /// The bytes are not a valid point or scalar (bad encoding, not on the curve, not in the
    /// subgroup, or the point at infinity).
    #[error("{what} is invalid: {reason}")]
    Invalid {
        /// What was decoded.
        what: &'static str,
        /// blst's verdict.
        reason: String,
    },
    /// Too little key material.
    #[error("key material must be at least {MIN_IKM_LEN} bytes, found {0}")]
    ShortIkm(usize),
    /// A signature does not verify.
    #[error("{0} does not verify")]
    Verify(&'static str),
    /// Nothing to aggregate.
    #[error("cannot aggregate zero signatures")]
    EmptyAggregate,
}

fn reason(e: BLST_ERROR) -> String {
    match e {
        BLST_ERROR::BLST_BAD_ENCODING => "bad encoding".into(),
        BLST_ERROR::BLST_POINT_NOT_ON_CURVE => "point not on the curve".into(),
        BLST_ERROR::BLST_POINT_NOT_IN_GROUP => "point not in the prime-order subgroup".into(),
        BLST_ERROR::BLST_PK_IS_INFINITY => "point at infinity".into(),
        BLST_ERROR::BLST_BAD_SCALAR => "scalar out of range or zero".into(),
        other => format!("{other:?}"),
    }
}

fn check_len(what: &'static str, bytes: &[u8], expected: usize) -> Result<(), BlsError> {
    if bytes.len() != expected {
        return Err(BlsError::Length {
            what,
            expected,
            found: bytes.len(),
        });
    }
    Ok(())
}

/// The message a validator signs for epoch `epoch`: `be_u64(epoch) || block_hash`.
pub fn checkpoint_message(epoch: u64, block_hash: &[u8; 32]) -> [u8; 40] {
    let mut m = [0u8; 40];
    m[..8].copy_from_slice(&epoch.to_be_bytes());
    m[8..].copy_from_slice(block_hash);
    m
}

/// A BLS secret key. It is zeroed when dropped (blst's `SecretKey` zeroizes itself) and never
/// printed.
#[derive(Clone)]
pub struct BlsSecretKey(SecretKey);

impl BlsSecretKey {
    /// Derives a key from at least 32 bytes of key material (IETF BLS KeyGen, empty key info).
    pub fn from_ikm(ikm: &[u8]) -> Result<Self, BlsError> {
        if ikm.len() < MIN_IKM_LEN {
            return Err(BlsError::ShortIkm(ikm.len()));
        }
        SecretKey::key_gen(ikm, &[])
            .map(BlsSecretKey)
            .map_err(|e| BlsError::Invalid {
                what: "bls key material",
                reason: reason(e),
            })
    }

    /// Loads a key saved with [`BlsSecretKey::to_bytes`] (a big-endian scalar, non-zero and
    /// below the group order).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        check_len("bls secret key", bytes, SECRET_KEY_LEN)?;
        SecretKey::from_bytes(bytes)
            .map(BlsSecretKey)
            .map_err(|e| BlsError::Invalid {
                what: "bls secret key",
                reason: reason(e),
            })
    }

    /// The key as a big-endian scalar, for the node's key file. Callers must keep it secret.
    pub fn to_bytes(&self) -> [u8; SECRET_KEY_LEN] {
        self.0.to_bytes()
    }

    /// The public key.
    pub fn public_key(&self) -> BlsPublicKey {
        BlsPublicKey(self.0.sk_to_pk())
    }

    /// Signs a message under [`SIG_DST`].
    pub fn sign(&self, msg: &[u8]) -> BlsSignature {
        BlsSignature(self.0.sign(msg, SIG_DST, &[]))
    }

    /// Signs epoch `epoch`'s last block.
    pub fn sign_checkpoint(&self, epoch: u64, block_hash: &[u8; 32]) -> BlsSignature {
        self.sign(&checkpoint_message(epoch, block_hash))
    }

    /// The proof of possession of this key.
    pub fn proof_of_possession(&self) -> BlsSignature {
        let pk = self.public_key().to_bytes();
        BlsSignature(self.0.sign(&pk, POP_DST, &[]))
    }

    /// Signs under another domain (for known-answer tests against published vectors).
    #[cfg(test)]
    pub(crate) fn sign_with_dst(&self, msg: &[u8], dst: &[u8]) -> BlsSignature {
        BlsSignature(self.0.sign(msg, dst, &[]))
    }
}

impl fmt::Debug for BlsSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlsSecretKey(<redacted>, public {})", self.public_key())
    }
}

/// A validated BLS public key (a G2 point in the subgroup, not the point at infinity).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BlsPublicKey(PublicKey);

impl BlsPublicKey {
    /// Decodes 96 compressed bytes and validates the point.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        check_len("bls public key", bytes, PUBLIC_KEY_LEN)?;
        PublicKey::key_validate(bytes)
            .map(BlsPublicKey)
            .map_err(|e| BlsError::Invalid {
                what: "bls public key",
                reason: reason(e),
            })
    }

    /// Decodes 96 compressed bytes read back from this module's own state, where they were
    /// stored only after [`BlsPublicKey::from_bytes`] validated them: the point is decompressed
    /// (which checks it is on the curve) but the costly subgroup check is not repeated.
    pub(crate) fn from_trusted_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        check_len("bls public key", bytes, PUBLIC_KEY_LEN)?;
        PublicKey::from_bytes(bytes)
            .map(BlsPublicKey)
            .map_err(|e| BlsError::Invalid {
                what: "bls public key",
                reason: reason(e),
            })
    }

    /// The 96 compressed bytes.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.0.to_bytes()
    }

    /// Checks a proof of possession of this key.
    pub fn verify_possession(&self, pop: &BlsSignature) -> Result<(), BlsError> {
        let pk = self.to_bytes();
        match pop.0.verify(true, &pk, POP_DST, &[], &self.0, false) {
            BLST_ERROR::BLST_SUCCESS => Ok(()),
            _ => Err(BlsError::Verify("proof of possession")),
        }
    }

    /// Checks a single signer's signature over `msg` under [`SIG_DST`].
    pub fn verify(&self, msg: &[u8], sig: &BlsSignature) -> Result<(), BlsError> {
        match sig.0.verify(true, msg, SIG_DST, &[], &self.0, false) {
            BLST_ERROR::BLST_SUCCESS => Ok(()),
            _ => Err(BlsError::Verify("bls signature")),
        }
    }
}

impl fmt::Display for BlsPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.to_bytes()))
    }
}

impl fmt::Debug for BlsPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlsPublicKey({self})")
    }
}

/// A BLS signature (a G1 point in the subgroup). Single signers' signatures and proofs of
/// possession are also checked not to be the point at infinity ([`BlsSignature::from_bytes`]);
/// an aggregate is decoded with [`BlsSignature::aggregate_from_bytes`], which only requires
/// subgroup membership.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BlsSignature(Signature);

impl BlsSignature {
    fn decode(bytes: &[u8], what: &'static str, infcheck: bool) -> Result<Self, BlsError> {
        check_len(what, bytes, SIGNATURE_LEN)?;
        Signature::sig_validate(bytes, infcheck)
            .map(BlsSignature)
            .map_err(|e| BlsError::Invalid {
                what,
                reason: reason(e),
            })
    }

    /// Decodes a single signer's signature (48 compressed bytes): in the subgroup and not the
    /// point at infinity.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        Self::decode(bytes, "bls signature", true)
    }

    /// Decodes an aggregate signature (48 compressed bytes): in the subgroup. Infinity decodes
    /// (it is a valid group element) and then fails every verification against real keys.
    pub fn aggregate_from_bytes(bytes: &[u8]) -> Result<Self, BlsError> {
        Self::decode(bytes, "bls aggregate signature", false)
    }

    /// The 48 compressed bytes.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        self.0.to_bytes()
    }

    /// The uncompressed point `x || y` (96 bytes), for known-answer tests.
    #[cfg(test)]
    pub(crate) fn to_uncompressed(self) -> [u8; 96] {
        self.0.serialize()
    }

    /// Sums signatures (all already validated on decoding).
    pub fn aggregate(sigs: &[&BlsSignature]) -> Result<BlsSignature, BlsError> {
        let raw: Vec<&Signature> = sigs.iter().map(|s| &s.0).collect();
        if raw.is_empty() {
            return Err(BlsError::EmptyAggregate);
        }
        AggregateSignature::aggregate(&raw, false)
            .map(|a| BlsSignature(a.to_signature()))
            .map_err(|e| BlsError::Invalid {
                what: "bls aggregate",
                reason: reason(e),
            })
    }

    /// Checks this aggregate over one message signed by every key in `keys` (each registered
    /// with a proof of possession, so `fast_aggregate_verify` is sound).
    pub fn fast_aggregate_verify(
        &self,
        msg: &[u8],
        keys: &[&BlsPublicKey],
    ) -> Result<(), BlsError> {
        if keys.is_empty() {
            return Err(BlsError::EmptyAggregate);
        }
        let raw: Vec<&PublicKey> = keys.iter().map(|k| &k.0).collect();
        match self.0.fast_aggregate_verify(true, msg, SIG_DST, &raw) {
            BLST_ERROR::BLST_SUCCESS => Ok(()),
            _ => Err(BlsError::Verify("bls aggregate signature")),
        }
    }
}

impl fmt::Display for BlsSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.to_bytes()))
    }
}

impl fmt::Debug for BlsSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlsSignature({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> BlsSecretKey {
        BlsSecretKey::from_ikm(&[i; 32]).unwrap()
    }

    fn scalar_one() -> BlsSecretKey {
        let mut b = [0u8; 32];
        b[31] = 1;
        BlsSecretKey::from_bytes(&b).unwrap()
    }

    /// With the secret key 1 the signature is the hash-to-curve point itself, so RFC 9380's
    /// published vectors for `BLS12381G1_XMD:SHA-256_SSWU_RO_` check the whole signing path.
    #[test]
    fn signing_with_key_one_gives_the_rfc_9380_hash_to_curve_points() {
        let sk = scalar_one();
        let dst = b"QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_";
        let cases: [(&[u8], &str, &str); 2] = [
            (
                b"",
                "052926add2207b76ca4fa57a8734416c8dc95e24501772c814278700eed6d1e4e8cf62d9c09db0fac349612b759e79a1",
                "08ba738453bfed09cb546dbb0783dbb3a5f1f566ed67bb6be0e8c67e2e81a4cc68ee29813bb7994998f3eae0c9c6a265",
            ),
            (
                b"abc",
                "03567bc5ef9c690c2ab2ecdf6a96ef1c139cc0b2f284dca0a9a7943388a49a3aee664ba5379a7655d3c68900be2f6903",
                "0b9c15f3fe6e5cf4211f346271d7b01c8f3b28be689c8429c85b67af215533311f0b8dfaaa154fa6b88176c229f2885d",
            ),
        ];
        for (msg, x, y) in cases {
            let p = sk.sign_with_dst(msg, dst).to_uncompressed();
            assert_eq!(hex::encode(&p[..48]), x);
            assert_eq!(hex::encode(&p[48..]), y);
        }
        // And the public key of 1 is the G2 generator.
        assert_eq!(
            hex::encode(sk.public_key().to_bytes()),
            "93e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8"
        );
    }

    #[test]
    fn sign_verify_and_domain_separation() {
        let sk = key(1);
        let pk = sk.public_key();
        let hash = [7u8; 32];
        let sig = sk.sign_checkpoint(5, &hash);
        pk.verify(&checkpoint_message(5, &hash), &sig).unwrap();
        // Another epoch, another hash, another key: all fail.
        assert!(pk.verify(&checkpoint_message(6, &hash), &sig).is_err());
        assert!(pk.verify(&checkpoint_message(5, &[8; 32]), &sig).is_err());
        assert!(key(2)
            .public_key()
            .verify(&checkpoint_message(5, &hash), &sig)
            .is_err());
        // The same bytes signed under the PoP domain are not a checkpoint signature.
        let msg = checkpoint_message(5, &hash);
        let other_domain = sk.sign_with_dst(&msg, POP_DST);
        assert!(pk.verify(&msg, &other_domain).is_err());
        // The signature is deterministic and matches blst's own verification.
        assert_eq!(sig, sk.sign_checkpoint(5, &hash));
        assert_eq!(
            sig.0.verify(true, &msg, SIG_DST, &[], &pk.0, true),
            BLST_ERROR::BLST_SUCCESS
        );
    }

    #[test]
    fn proof_of_possession_accepts_own_key_only() {
        let a = key(1);
        let b = key(2);
        a.public_key()
            .verify_possession(&a.proof_of_possession())
            .unwrap();
        assert!(b
            .public_key()
            .verify_possession(&a.proof_of_possession())
            .is_err());
        // A checkpoint-domain signature over the key is not a PoP.
        let wrong_domain = a.sign(&a.public_key().to_bytes());
        assert!(a.public_key().verify_possession(&wrong_domain).is_err());
    }

    #[test]
    fn keys_come_from_enough_key_material_and_round_trip() {
        assert_eq!(
            BlsSecretKey::from_ikm(&[1; 31]).unwrap_err(),
            BlsError::ShortIkm(31)
        );
        let sk = key(3);
        let again = BlsSecretKey::from_bytes(&sk.to_bytes()).unwrap();
        assert_eq!(again.public_key(), sk.public_key());
        // Different material, different key; same material, same key.
        assert_ne!(key(4).public_key(), sk.public_key());
        assert_eq!(key(3).public_key(), sk.public_key());
        // Zero is not a key.
        assert!(matches!(
            BlsSecretKey::from_bytes(&[0; 32]),
            Err(BlsError::Invalid { .. })
        ));
        assert!(matches!(
            BlsSecretKey::from_bytes(&[1; 31]),
            Err(BlsError::Length { .. })
        ));
        // Debug never shows the secret.
        let dbg = format!("{sk:?}");
        assert!(dbg.contains("redacted"));
        assert!(!dbg.contains(&hex::encode(sk.to_bytes())));
    }

    #[test]
    fn decoding_rejects_infinity_off_curve_and_wrong_lengths() {
        // Compressed infinity: flag bits 0xc0 and zeros.
        let mut inf_pk = [0u8; 96];
        inf_pk[0] = 0xc0;
        assert!(matches!(
            BlsPublicKey::from_bytes(&inf_pk),
            Err(BlsError::Invalid { .. })
        ));
        let mut inf_sig = [0u8; 48];
        inf_sig[0] = 0xc0;
        assert!(matches!(
            BlsSignature::from_bytes(&inf_sig),
            Err(BlsError::Invalid { .. })
        ));
        // An aggregate may be infinity as a group element, but never verifies.
        let agg_inf = BlsSignature::aggregate_from_bytes(&inf_sig).unwrap();
        let pk = key(1).public_key();
        assert!(agg_inf
            .fast_aggregate_verify(&checkpoint_message(1, &[0; 32]), &[&pk])
            .is_err());
        // x = 0 with the compression flag is not on the curve (neither G1 nor G2).
        let mut bad_sig = [0u8; 48];
        bad_sig[0] = 0x80;
        assert!(BlsSignature::from_bytes(&bad_sig).is_err());
        let mut bad_pk = [0u8; 96];
        bad_pk[0] = 0x80;
        assert!(BlsPublicKey::from_bytes(&bad_pk).is_err());
        // Uncompressed encodings are not accepted where 48/96 compressed bytes are expected.
        let sig = key(1).sign(b"m");
        assert!(matches!(
            BlsSignature::from_bytes(&sig.0.serialize()),
            Err(BlsError::Length { .. })
        ));
        // A flipped bit in a valid key is caught.
        let mut pk_bytes = pk.to_bytes();
        pk_bytes[50] ^= 1;
        assert!(BlsPublicKey::from_bytes(&pk_bytes).is_err());
        // Round trips.
        assert_eq!(BlsPublicKey::from_bytes(&pk.to_bytes()).unwrap(), pk);
        assert_eq!(BlsSignature::from_bytes(&sig.to_bytes()).unwrap(), sig);
    }

    #[test]
    fn aggregates_verify_like_blst_and_reject_missing_or_extra_signers() {
        let keys: Vec<BlsSecretKey> = (1..=5).map(key).collect();
        let pks: Vec<BlsPublicKey> = keys.iter().map(|k| k.public_key()).collect();
        let msg = checkpoint_message(9, &[3; 32]);
        let sigs: Vec<BlsSignature> = keys.iter().map(|k| k.sign(&msg)).collect();
        let agg = BlsSignature::aggregate(&sigs.iter().collect::<Vec<_>>()).unwrap();
        let all: Vec<&BlsPublicKey> = pks.iter().collect();
        agg.fast_aggregate_verify(&msg, &all).unwrap();
        // blst's own aggregate verification (one message per key) agrees.
        let msgs: Vec<&[u8]> = vec![&msg[..]; 5];
        let raw_pks: Vec<&PublicKey> = pks.iter().map(|k| &k.0).collect();
        assert_eq!(
            agg.0.aggregate_verify(true, &msgs, SIG_DST, &raw_pks, true),
            BLST_ERROR::BLST_SUCCESS
        );
        // Missing a key, an extra key, another message: all fail.
        assert!(agg.fast_aggregate_verify(&msg, &all[..4]).is_err());
        let extra = key(9).public_key();
        let mut with_extra = all.clone();
        with_extra.push(&extra);
        assert!(agg.fast_aggregate_verify(&msg, &with_extra).is_err());
        assert!(agg
            .fast_aggregate_verify(&checkpoint_message(10, &[3; 32]), &all)
            .is_err());
        // Aggregation order does not matter.
        let rev = BlsSignature::aggregate(&sigs.iter().rev().collect::<Vec<_>>()).unwrap();
        assert_eq!(rev, agg);
        assert_eq!(BlsSignature::aggregate(&[]), Err(BlsError::EmptyAggregate));
        assert_eq!(
            agg.fast_aggregate_verify(&msg, &[]),
            Err(BlsError::EmptyAggregate)
        );
    }
}
