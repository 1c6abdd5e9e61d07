//! Schnorr adaptor signatures that decrypt to BIP-340 signatures.
//!
//! A covenant member signs each slashing transaction of a delegation with an adaptor signature
//! "encrypted" to the operator's BTC key. Anyone can check that it is correct
//! ([`AdaptorSignature::verify`]), but it is not a valid signature yet: it becomes one only once
//! decrypted with the operator's secret key ([`AdaptorSignature::decrypt`]), which the operator
//! reveals by double-signing a finality vote. Conversely, the decrypted signature and the adaptor
//! signature together reveal the secret ([`AdaptorSignature::extract_secret`]).
//!
//! # Construction
//!
//! Notation: `G` the secp256k1 generator, `n` its order, `lift_x(X)` the point with x coordinate
//! `X` and even Y (BIP-340), `hash_tag(x) = sha256(sha256(tag) || sha256(tag) || x)`, and
//! `int(h)` a 32-byte hash read big-endian and reduced mod `n`.
//!
//! Inputs: the signer's secret key `x`, the encryption key `T` (an x-only key, used as
//! `lift_x(T)`, so its secret `t` is the even-Y one: the operator's secret key, negated if its
//! public key has odd Y), and a 32-byte message `m` (a BIP-341 sighash).
//!
//! **EncSign(x, T, m)**
//! 1. `P = x·G`; if `P` has odd Y, `x := n − x` (so `P = lift_x(P.x)`, as in BIP-340).
//! 2. `k = int(hash_{Ballast/adaptor/nonce}(bytes(x) || T.x || m))`, deterministic (fails if 0).
//! 3. `R = k·G`, `R' = R + T` (the *encrypted nonce*; fails if it is the point at infinity).
//! 4. `e = int(hash_{BIP0340/challenge}(R'.x || P.x || m))`, exactly BIP-340's challenge for the
//!    final nonce `R'`.
//! 5. If `R'` has even Y: `ŝ = k + e·x`; if odd: `ŝ = −k + e·x` (mod `n`; fails if 0).
//! 6. The adaptor signature is `(R', ŝ)`.
//!
//! **Verify(P, T, m)**: `e` as in step 4; it holds iff
//! `ŝ·G + T = R' + e·P` when `R'` has even Y, and `ŝ·G + R' = T + e·P` when `R'` has odd Y
//! (that is, `ŝ·G = ±(R' − T) + e·P`).
//!
//! **Decrypt(t)**: `s = ŝ + t` if `R'` has even Y, `s = ŝ − t` if odd (with `t` normalised so
//! that `t·G = lift_x(T)`). The BIP-340 signature is `(R'.x, s)`: `s·G = ±R' + e·P` and
//! `lift_x(R'.x) = ±R'`, so it verifies under `P` for `m` exactly when the adaptor signature
//! verified.
//!
//! **Extract(sig, T)**: the signature's `r` must equal `R'.x`; then `t = s − ŝ` (even `R'`) or
//! `t = ŝ − s` (odd `R'`), and it is accepted only if `t·G = lift_x(T)`.
//!
//! # Byte format (65 bytes)
//!
//! `R'` as a 33-byte compressed SEC point (its prefix `0x02`/`0x03` is `R'`'s Y parity, which
//! says whether `t` is added or subtracted when decrypting), then `ŝ` as 32 bytes big-endian,
//! `1 ≤ ŝ < n`.
//!
//! # Error codes
//!
//! Stable, never renumbered.
//!
//! | code    | variant                                   | meaning                                        |
//! |---------|-------------------------------------------|------------------------------------------------|
//! | 230     | [`AdaptorError::Length`]                  | the encoding is not 65 bytes                   |
//! | 231     | [`AdaptorError::InvalidNoncePoint`]       | `R'` is not a compressed secp256k1 point       |
//! | 232     | [`AdaptorError::ScalarOutOfRange`]        | `ŝ` is 0 or not below the group order          |
//! | 233     | [`AdaptorError::VerificationFailed`]      | the adaptor signature does not verify          |
//! | 234     | [`AdaptorError::NonceMismatch`]           | a signature does not use this `R'`             |
//! | 235     | [`AdaptorError::SecretMismatch`]          | the extracted secret is not the key's          |
//! | 236     | [`AdaptorError::InvalidSignatureScalar`]  | a signature's `s` is 0 or not below the order  |
//! | 237     | [`AdaptorError::DegenerateNonce`]         | signing hit a zero scalar or infinity (~2⁻²⁵⁶) |
//! | 200–208 | [`AdaptorError::Sign`]                    | the wrapped [`SignError`]'s own code           |

use bitcoin::hashes::Hash;
use bitcoin::{Script, Transaction, TxOut};
use secp256k1::{
    constants::CURVE_ORDER, schnorr, Keypair, Parity, PublicKey, Scalar, SecretKey, XOnlyPublicKey,
    SECP256K1,
};
use sha2::{Digest, Sha256};

use super::sign::{leaf_sighash, SignError};

/// Length of an encoded [`AdaptorSignature`].
pub const ADAPTOR_SIG_LEN: usize = 65;

/// Tag of the deterministic nonce hash.
const NONCE_TAG: &[u8] = b"Ballast/adaptor/nonce";
/// BIP-340's challenge tag.
const CHALLENGE_TAG: &[u8] = b"BIP0340/challenge";

/// Why an adaptor signature was rejected or could not be made. See the module docs for the codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdaptorError {
    /// The encoding is not [`ADAPTOR_SIG_LEN`] bytes.
    #[error("expected a {ADAPTOR_SIG_LEN}-byte adaptor signature, found {found} bytes")]
    Length {
        /// The length that was given.
        found: usize,
    },
    /// The first 33 bytes are not a compressed secp256k1 point.
    #[error(
        "expected the encrypted nonce as a 33-byte compressed secp256k1 point (prefix 0x02 or \
         0x03), found {point_hex}"
    )]
    InvalidNoncePoint {
        /// The rejected 33 bytes, hex.
        point_hex: String,
    },
    /// The last 32 bytes are 0 or not below the group order.
    #[error("expected the adaptor scalar in [1, n-1], found {scalar_hex}")]
    ScalarOutOfRange {
        /// The rejected 32 bytes, hex.
        scalar_hex: String,
    },
    /// The adaptor signature does not verify for this signer, encryption key and message.
    #[error(
        "adaptor signature does not verify under signer key {signer_hex} and encryption key \
         {enc_key_hex} for message {msg_hex}"
    )]
    VerificationFailed {
        /// The signer's x-only key, hex.
        signer_hex: String,
        /// The encryption key, hex.
        enc_key_hex: String,
        /// The message, hex.
        msg_hex: String,
    },
    /// The signature's nonce is not this adaptor signature's encrypted nonce, so it is not its
    /// decryption.
    #[error(
        "signature is not a decryption of this adaptor signature: expected nonce x {expected_hex}, \
         found {found_hex}"
    )]
    NonceMismatch {
        /// `R'.x`, hex.
        expected_hex: String,
        /// The signature's `r`, hex.
        found_hex: String,
    },
    /// The value extracted from the two signatures is not the encryption key's secret.
    #[error(
        "the secret extracted from the signature and the adaptor signature is not the secret of \
         encryption key {enc_key_hex}"
    )]
    SecretMismatch {
        /// The encryption key, hex.
        enc_key_hex: String,
    },
    /// A signature's `s` is 0 or not below the group order.
    #[error("expected the signature's s in [1, n-1], found {scalar_hex}")]
    InvalidSignatureScalar {
        /// The rejected 32 bytes, hex.
        scalar_hex: String,
    },
    /// Signing produced a zero nonce, a nonce at infinity or a zero `ŝ` (probability about
    /// 2⁻²⁵⁶ per signature).
    #[error("adaptor signing produced a degenerate nonce or scalar; sign a different message")]
    DegenerateNonce,
    /// Computing the sighash failed.
    #[error(transparent)]
    Sign(#[from] SignError),
}

impl AdaptorError {
    /// The stable error code (230–237, or the wrapped [`SignError`]'s code; see the module docs).
    pub fn code(&self) -> u32 {
        match self {
            AdaptorError::Length { .. } => 230,
            AdaptorError::InvalidNoncePoint { .. } => 231,
            AdaptorError::ScalarOutOfRange { .. } => 232,
            AdaptorError::VerificationFailed { .. } => 233,
            AdaptorError::NonceMismatch { .. } => 234,
            AdaptorError::SecretMismatch { .. } => 235,
            AdaptorError::InvalidSignatureScalar { .. } => 236,
            AdaptorError::DegenerateNonce => 237,
            AdaptorError::Sign(e) => e.code(),
        }
    }
}

/// A Schnorr adaptor signature `(R', ŝ)`: see the module docs for the construction.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AdaptorSignature {
    /// `R' = R + T`, the encrypted nonce.
    r_enc: PublicKey,
    /// `ŝ`, never zero (held as a [`SecretKey`] only because that type is a non-zero scalar
    /// with libsecp256k1 arithmetic; it is not secret).
    s_hat: SecretKey,
}

impl std::fmt::Debug for AdaptorSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AdaptorSignature({})", hex::encode(self.to_bytes()))
    }
}

impl AdaptorSignature {
    /// Signs `msg` with `sk`, encrypted to `enc_key` (EncSign in the module docs). Deterministic.
    ///
    /// Fails only with [`AdaptorError::DegenerateNonce`], which has negligible probability.
    pub fn enc_sign(
        sk: &SecretKey,
        enc_key: &XOnlyPublicKey,
        msg: &[u8; 32],
    ) -> Result<Self, AdaptorError> {
        let (p_x, p_parity) = Keypair::from_secret_key(SECP256K1, sk).x_only_public_key();
        let x = if p_parity == Parity::Odd {
            sk.negate()
        } else {
            *sk
        };
        let t_point = lift_x(enc_key);

        let nonce_hash = tagged_hash(NONCE_TAG, &[&x.secret_bytes(), &enc_key.serialize(), msg]);
        let k = SecretKey::from_slice(&reduce_mod_n(nonce_hash))
            .map_err(|_| AdaptorError::DegenerateNonce)?;
        let r_enc = PublicKey::from_secret_key(SECP256K1, &k)
            .combine(&t_point)
            .map_err(|_| AdaptorError::DegenerateNonce)?;
        let (r_x, r_parity) = r_enc.x_only_public_key();
        let k = if r_parity == Parity::Odd {
            k.negate()
        } else {
            k
        };

        let e = challenge(&r_x.serialize(), &p_x.serialize(), msg);
        let s_hat = if e == Scalar::ZERO {
            k
        } else {
            // x and e are non-zero mod the prime n, so their product is too.
            let ex = x.mul_tweak(&e).map_err(|_| AdaptorError::DegenerateNonce)?;
            k.add_tweak(&Scalar::from(ex))
                .map_err(|_| AdaptorError::DegenerateNonce)?
        };
        Ok(AdaptorSignature { r_enc, s_hat })
    }

    /// Checks that this is `pk`'s signature of `msg` encrypted to `enc_key`, i.e. that decrypting
    /// it with `enc_key`'s secret gives a BIP-340 signature valid under `pk` for `msg`.
    pub fn verify(
        &self,
        pk: &XOnlyPublicKey,
        enc_key: &XOnlyPublicKey,
        msg: &[u8; 32],
    ) -> Result<(), AdaptorError> {
        let failed = || AdaptorError::VerificationFailed {
            signer_hex: hex::encode(pk.serialize()),
            enc_key_hex: hex::encode(enc_key.serialize()),
            msg_hex: hex::encode(msg),
        };
        let p = lift_x(pk);
        let t = lift_x(enc_key);
        let (r_x, r_parity) = self.r_enc.x_only_public_key();
        let e = challenge(&r_x.serialize(), &pk.serialize(), msg);

        let s_g = PublicKey::from_secret_key(SECP256K1, &self.s_hat);
        // e·P, or None (the point at infinity) when e = 0.
        let e_p = if e == Scalar::ZERO {
            None
        } else {
            Some(p.mul_tweak(SECP256K1, &e).map_err(|_| failed())?)
        };
        let (lhs, rhs) = match r_parity {
            Parity::Even => (add(Some(s_g), Some(t)), add(Some(self.r_enc), e_p)),
            Parity::Odd => (add(Some(s_g), Some(self.r_enc)), add(Some(t), e_p)),
        };
        if lhs.map(|p| p.serialize()) == rhs.map(|p| p.serialize()) {
            Ok(())
        } else {
            Err(failed())
        }
    }

    /// Decrypts with the encryption key's secret `t` (either secret of the x-only key: the
    /// even-Y normalisation is done here). The result is a BIP-340 signature that verifies under
    /// the signer's key for the signed message whenever [`verify`](Self::verify) accepted this
    /// adaptor signature for `t`'s x-only key. With any other `t` it is simply an invalid
    /// signature.
    pub fn decrypt(&self, t: &SecretKey) -> schnorr::Signature {
        let (_, t_parity) = t.x_only_public_key(SECP256K1);
        let t = if t_parity == Parity::Odd {
            t.negate()
        } else {
            *t
        };
        let (r_x, r_parity) = self.r_enc.x_only_public_key();
        let signed_t = if r_parity == Parity::Odd {
            t.negate()
        } else {
            t
        };
        // ŝ ± t; add_tweak fails only when the sum is 0 mod n, which is then the right `s`.
        let s = signed_t
            .add_tweak(&Scalar::from(self.s_hat))
            .map(|s| s.secret_bytes())
            .unwrap_or([0; 32]);
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&r_x.serialize());
        bytes[32..].copy_from_slice(&s);
        schnorr::Signature::from_slice(&bytes).expect("a schnorr signature is any 64 bytes")
    }

    /// Recovers the encryption key's secret from this adaptor signature and its decryption
    /// `sig`. Returns the even-Y secret `t` with `t·G = lift_x(enc_key)`: the operator's secret
    /// key itself if its public key has even Y, its negation otherwise (both sign for the same
    /// x-only key under BIP-340).
    pub fn extract_secret(
        &self,
        sig: &schnorr::Signature,
        enc_key: &XOnlyPublicKey,
    ) -> Result<SecretKey, AdaptorError> {
        let bytes = sig.serialize();
        let (r, s) = bytes.split_at(32);
        let (r_x, r_parity) = self.r_enc.x_only_public_key();
        if r != r_x.serialize() {
            return Err(AdaptorError::NonceMismatch {
                expected_hex: hex::encode(r_x.serialize()),
                found_hex: hex::encode(r),
            });
        }
        let s = SecretKey::from_slice(s).map_err(|_| AdaptorError::InvalidSignatureScalar {
            scalar_hex: hex::encode(s),
        })?;
        let mismatch = || AdaptorError::SecretMismatch {
            enc_key_hex: hex::encode(enc_key.serialize()),
        };
        // s − ŝ; zero (s = ŝ) cannot be a secret key.
        let diff = s
            .add_tweak(&Scalar::from(self.s_hat.negate()))
            .map_err(|_| mismatch())?;
        let t = if r_parity == Parity::Odd {
            diff.negate()
        } else {
            diff
        };
        if PublicKey::from_secret_key(SECP256K1, &t).serialize() != lift_x(enc_key).serialize() {
            return Err(mismatch());
        }
        Ok(t)
    }

    /// The 65-byte encoding: compressed `R'`, then `ŝ` big-endian.
    pub fn to_bytes(&self) -> [u8; ADAPTOR_SIG_LEN] {
        let mut out = [0u8; ADAPTOR_SIG_LEN];
        out[..33].copy_from_slice(&self.r_enc.serialize());
        out[33..].copy_from_slice(&self.s_hat.secret_bytes());
        out
    }

    /// Parses the 65-byte encoding, rejecting a wrong length, an `R'` that is not a compressed
    /// point on the curve, and an `ŝ` that is 0 or not below the group order.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AdaptorError> {
        if bytes.len() != ADAPTOR_SIG_LEN {
            return Err(AdaptorError::Length { found: bytes.len() });
        }
        let (point, scalar) = bytes.split_at(33);
        // PublicKey::from_slice takes 33 bytes only in compressed form (0x02/0x03).
        let r_enc = PublicKey::from_slice(point).map_err(|_| AdaptorError::InvalidNoncePoint {
            point_hex: hex::encode(point),
        })?;
        let s_hat = SecretKey::from_slice(scalar).map_err(|_| AdaptorError::ScalarOutOfRange {
            scalar_hex: hex::encode(scalar),
        })?;
        Ok(AdaptorSignature { r_enc, s_hat })
    }
}

/// Adaptor-signs input `input_index` of `tx` for a script-path spend through `leaf_script`
/// (the message is [`leaf_sighash`]), encrypted to `enc_key`.
pub fn enc_sign_leaf(
    sk: &SecretKey,
    enc_key: &XOnlyPublicKey,
    tx: &Transaction,
    input_index: usize,
    prevouts: &[TxOut],
    leaf_script: &Script,
) -> Result<AdaptorSignature, AdaptorError> {
    let sighash = leaf_sighash(tx, input_index, prevouts, leaf_script)?;
    AdaptorSignature::enc_sign(sk, enc_key, &sighash.to_byte_array())
}

/// Parses `adaptor_sig` and verifies it as `pk`'s adaptor signature of input `input_index` of
/// `tx` spent through `leaf_script`, encrypted to `enc_key`. Returns the parsed signature.
pub fn verify_leaf_adaptor(
    adaptor_sig: &[u8],
    pk: &XOnlyPublicKey,
    enc_key: &XOnlyPublicKey,
    tx: &Transaction,
    input_index: usize,
    prevouts: &[TxOut],
    leaf_script: &Script,
) -> Result<AdaptorSignature, AdaptorError> {
    let sig = AdaptorSignature::from_bytes(adaptor_sig)?;
    let sighash = leaf_sighash(tx, input_index, prevouts, leaf_script)?;
    sig.verify(pk, enc_key, &sighash.to_byte_array())?;
    Ok(sig)
}

/// `lift_x`: the point with this x coordinate and even Y.
fn lift_x(key: &XOnlyPublicKey) -> PublicKey {
    PublicKey::from_x_only_public_key(*key, Parity::Even)
}

/// `a + b`, with `None` standing for the point at infinity.
fn add(a: Option<PublicKey>, b: Option<PublicKey>) -> Option<PublicKey> {
    match (a, b) {
        (Some(a), Some(b)) => a.combine(&b).ok(),
        (Some(a), None) => Some(a),
        (None, b) => b,
    }
}

/// BIP-340 tagged hash of the concatenation of `parts`.
fn tagged_hash(tag: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let tag_hash = Sha256::digest(tag);
    let mut h = Sha256::new();
    h.update(tag_hash);
    h.update(tag_hash);
    for part in parts {
        h.update(part);
    }
    h.finalize().into()
}

/// BIP-340's challenge `int(hash_{BIP0340/challenge}(r || P.x || m)) mod n`.
fn challenge(r_x: &[u8; 32], p_x: &[u8; 32], msg: &[u8; 32]) -> Scalar {
    Scalar::from_be_bytes(reduce_mod_n(tagged_hash(CHALLENGE_TAG, &[r_x, p_x, msg])))
        .expect("reduce_mod_n returns a value below n")
}

/// A 256-bit big-endian value mod `n`. Any such value is below `2n`, so one subtraction is
/// enough.
fn reduce_mod_n(value: [u8; 32]) -> [u8; 32] {
    if value < CURVE_ORDER {
        return value;
    }
    let mut out = [0u8; 32];
    let mut borrow = 0u16;
    for i in (0..32).rev() {
        let minuend = u16::from(value[i]);
        let subtrahend = u16::from(CURVE_ORDER[i]) + borrow;
        if minuend >= subtrahend {
            out[i] = (minuend - subtrahend) as u8;
            borrow = 0;
        } else {
            out[i] = (minuend + 256 - subtrahend) as u8;
            borrow = 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btc::sign::{sign_leaf, verify_leaf_sig, verify_sighash};
    use bitcoin::absolute::LockTime;
    use bitcoin::opcodes::all::{OP_CHECKSIG, OP_CHECKSIGVERIFY};
    use bitcoin::script::Builder;
    use bitcoin::taproot::{LeafVersion, TaprootBuilder};
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, TxIn, Txid, Witness};
    use proptest::prelude::*;

    fn sk(byte: u8) -> SecretKey {
        SecretKey::from_slice(&[byte; 32]).expect("a constant below the group order")
    }

    fn xonly(sk: &SecretKey) -> XOnlyPublicKey {
        sk.x_only_public_key(SECP256K1).0
    }

    fn parity(sk: &SecretKey) -> Parity {
        sk.x_only_public_key(SECP256K1).1
    }

    /// The `nth` key `[b; 32]`, `b >= 1`, whose public key has the given parity.
    fn key_with_parity(want: Parity, nth: usize) -> SecretKey {
        (1..=255u8)
            .map(sk)
            .filter(|k| parity(k) == want)
            .nth(nth)
            .expect("about half of all keys have each parity")
    }

    fn msg(i: u32) -> [u8; 32] {
        Sha256::digest(i.to_be_bytes()).into()
    }

    fn bip340_verifies(sig: &schnorr::Signature, pk: &XOnlyPublicKey, m: &[u8; 32]) -> bool {
        SECP256K1
            .verify_schnorr(sig, &secp256k1::Message::from_digest(*m), pk)
            .is_ok()
    }

    /// The full cycle for one (signer, operator, message): verify, decrypt, BIP-340 verify,
    /// extract. Returns the parity byte of R'.
    fn full_cycle(signer: &SecretKey, operator: &SecretKey, m: &[u8; 32]) -> u8 {
        let (p, t) = (xonly(signer), xonly(operator));
        let asig = AdaptorSignature::enc_sign(signer, &t, m).expect("not degenerate");
        asig.verify(&p, &t, m).expect("adaptor signature verifies");
        // Not a valid signature before decryption, under any reading of its bytes.
        let bytes = asig.to_bytes();
        let undecrypted = schnorr::Signature::from_slice(&[&bytes[1..33], &bytes[33..]].concat())
            .expect("64 bytes");
        assert!(!bip340_verifies(&undecrypted, &p, m));

        let sig = asig.decrypt(operator);
        assert!(bip340_verifies(&sig, &p, m), "decrypted signature verifies");
        assert_eq!(sig.serialize()[..32], bytes[1..33], "the nonce is R'.x");
        // Decrypting with the negated secret (same x-only key) gives the same signature.
        assert_eq!(asig.decrypt(&operator.negate()), sig);

        let extracted = asig.extract_secret(&sig, &t).expect("secret extracted");
        assert_eq!(xonly(&extracted), t);
        let expected = match parity(operator) {
            Parity::Even => *operator,
            Parity::Odd => operator.negate(),
        };
        assert_eq!(extracted, expected);
        assert_eq!(parity(&extracted), Parity::Even);
        bytes[0]
    }

    #[test]
    fn every_parity_combination_verifies_decrypts_and_extracts() {
        let mut seen_r_parities = std::collections::BTreeSet::new();
        for signer_parity in [Parity::Even, Parity::Odd] {
            for operator_parity in [Parity::Even, Parity::Odd] {
                // Distinct keys even when the parities are equal.
                let signer = key_with_parity(signer_parity, 0);
                let operator = key_with_parity(operator_parity, 1);
                assert_eq!(parity(&signer), signer_parity);
                assert_eq!(parity(&operator), operator_parity);
                // Enough messages to see both parities of R' for this pair.
                let mut here = std::collections::BTreeSet::new();
                for i in 0..64 {
                    here.insert(full_cycle(&signer, &operator, &msg(i)));
                }
                assert_eq!(here.len(), 2, "both parities of R' were exercised");
                seen_r_parities.extend(here);
            }
        }
        assert_eq!(seen_r_parities.into_iter().collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn verification_fails_under_another_encryption_key_signer_or_message() {
        let (signer, operator, other) = (sk(1), sk(2), sk(3));
        let (p, t, o) = (xonly(&signer), xonly(&operator), xonly(&other));
        for i in 0..16 {
            let m = msg(i);
            let asig = AdaptorSignature::enc_sign(&signer, &t, &m).expect("not degenerate");
            asig.verify(&p, &t, &m).expect("verifies");
            for (pk, enc, mm) in [(p, o, m), (o, t, m), (p, t, msg(i + 100)), (t, p, m)] {
                let err = asig
                    .verify(&pk, &enc, &mm)
                    .expect_err("wrong key or message");
                assert_eq!(err.code(), 233);
                assert!(matches!(err, AdaptorError::VerificationFailed { .. }));
            }
            // Tampering with either half breaks it.
            let mut flipped = asig.to_bytes();
            flipped[0] ^= 1; // the other point with the same x
            let flipped = AdaptorSignature::from_bytes(&flipped).expect("still a point");
            assert!(flipped.verify(&p, &t, &m).is_err());
            let mut bumped = asig.to_bytes();
            bumped[64] ^= 1;
            let bumped = AdaptorSignature::from_bytes(&bumped).expect("still a scalar");
            assert!(bumped.verify(&p, &t, &m).is_err());
        }
    }

    #[test]
    fn decrypting_with_the_wrong_secret_gives_an_invalid_signature_and_no_secret() {
        let (signer, operator, other) = (sk(4), sk(5), sk(6));
        let (p, t) = (xonly(&signer), xonly(&operator));
        let m = msg(1);
        let asig = AdaptorSignature::enc_sign(&signer, &t, &m).expect("not degenerate");
        let wrong = asig.decrypt(&other);
        assert!(!bip340_verifies(&wrong, &p, &m));
        assert_eq!(
            asig.extract_secret(&wrong, &t).map_err(|e| e.code()),
            Err(235)
        );
        // A correct decryption, but checked against another encryption key.
        let right = asig.decrypt(&operator);
        let err = asig
            .extract_secret(&right, &xonly(&other))
            .expect_err("other key");
        assert!(matches!(err, AdaptorError::SecretMismatch { .. }), "{err}");
        // A valid signature of the same message that is not this adaptor signature's decryption.
        let plain = SECP256K1.sign_schnorr_no_aux_rand(
            &secp256k1::Message::from_digest(m),
            &Keypair::from_secret_key(SECP256K1, &signer),
        );
        assert!(bip340_verifies(&plain, &p, &m));
        let err = asig.extract_secret(&plain, &t).expect_err("other nonce");
        assert_eq!(err.code(), 234);
        // s = 0 and s >= n are not signature scalars.
        for bad_s in [[0u8; 32], CURVE_ORDER, [0xff; 32]] {
            let bad =
                schnorr::Signature::from_slice(&[&right.serialize()[..32], &bad_s[..]].concat())
                    .expect("64 bytes");
            assert_eq!(
                asig.extract_secret(&bad, &t).map_err(|e| e.code()),
                Err(236)
            );
        }
    }

    #[test]
    fn the_encoding_round_trips_and_malformed_bytes_get_their_errors() {
        let asig = AdaptorSignature::enc_sign(&sk(7), &xonly(&sk(8)), &msg(0)).expect("ok");
        let bytes = asig.to_bytes();
        assert_eq!(AdaptorSignature::from_bytes(&bytes), Ok(asig));
        assert!(bytes[0] == 2 || bytes[0] == 3);
        assert_eq!(bytes[33..], asig.s_hat.secret_bytes());

        for len in [0usize, 33, 64, 66, 97] {
            let err = AdaptorSignature::from_bytes(&vec![2; len]).expect_err("length");
            assert_eq!(err, AdaptorError::Length { found: len });
            assert_eq!(err.code(), 230);
        }
        // Bad prefixes: uncompressed/hybrid/none.
        for prefix in [0u8, 1, 4, 6, 7, 0xff] {
            let mut b = bytes;
            b[0] = prefix;
            let err = AdaptorSignature::from_bytes(&b).expect_err("prefix");
            assert_eq!(err.code(), 231, "prefix {prefix}");
        }
        // x = 5 is not on the curve; x >= p neither.
        let mut not_on_curve = bytes;
        not_on_curve[1..33].copy_from_slice(&[0; 32]);
        not_on_curve[32] = 5;
        let err = AdaptorSignature::from_bytes(&not_on_curve).expect_err("off curve");
        assert!(matches!(err, AdaptorError::InvalidNoncePoint { .. }));
        assert!(
            err.to_string().contains(&hex::encode(&not_on_curve[..33])),
            "{err}"
        );
        let mut too_big_x = bytes;
        too_big_x[1..33].copy_from_slice(&[0xff; 32]);
        assert_eq!(
            AdaptorSignature::from_bytes(&too_big_x).map_err(|e| e.code()),
            Err(231)
        );
        // ŝ = 0, ŝ = n, ŝ = 2^256 - 1.
        for bad in [[0u8; 32], CURVE_ORDER, [0xff; 32]] {
            let mut b = bytes;
            b[33..].copy_from_slice(&bad);
            let err = AdaptorSignature::from_bytes(&b).expect_err("scalar");
            assert_eq!(
                err,
                AdaptorError::ScalarOutOfRange {
                    scalar_hex: hex::encode(bad)
                }
            );
            assert_eq!(err.code(), 232);
        }
        // n - 1 is the largest scalar.
        let mut n_minus_1 = CURVE_ORDER;
        n_minus_1[31] -= 1;
        let mut b = bytes;
        b[33..].copy_from_slice(&n_minus_1);
        assert!(AdaptorSignature::from_bytes(&b).is_ok());
    }

    #[test]
    fn signing_is_deterministic_and_depends_on_key_enc_key_and_message() {
        let (a, b) = (sk(9), sk(10));
        let s1 = AdaptorSignature::enc_sign(&a, &xonly(&b), &msg(0)).expect("ok");
        assert_eq!(
            s1,
            AdaptorSignature::enc_sign(&a, &xonly(&b), &msg(0)).expect("ok")
        );
        let others = [
            AdaptorSignature::enc_sign(&a, &xonly(&b), &msg(1)).expect("ok"),
            AdaptorSignature::enc_sign(&a, &xonly(&sk(11)), &msg(0)).expect("ok"),
            AdaptorSignature::enc_sign(&sk(12), &xonly(&b), &msg(0)).expect("ok"),
        ];
        for o in others {
            assert_ne!(o.r_enc, s1.r_enc);
        }
        // A signer key and its negation are the same BIP-340 key and give the same signature.
        assert_eq!(
            AdaptorSignature::enc_sign(&a.negate(), &xonly(&b), &msg(0)).expect("ok"),
            s1
        );
    }

    #[test]
    fn the_challenge_is_bip340s() {
        // For plain BIP-340 signatures made by libsecp256k1, s·G = lift_x(r) + e·P with our e.
        for i in 0..8u8 {
            let key = sk(20 + i);
            let m = msg(u32::from(i));
            let sig = SECP256K1.sign_schnorr_no_aux_rand(
                &secp256k1::Message::from_digest(m),
                &Keypair::from_secret_key(SECP256K1, &key),
            );
            let bytes = sig.serialize();
            let r_x: [u8; 32] = bytes[..32].try_into().expect("32 bytes");
            let s = SecretKey::from_slice(&bytes[32..]).expect("valid s");
            let e = challenge(&r_x, &xonly(&key).serialize(), &m);
            let r = lift_x(&XOnlyPublicKey::from_slice(&r_x).expect("r is on the curve"));
            let rhs = r
                .combine(
                    &lift_x(&xonly(&key))
                        .mul_tweak(SECP256K1, &e)
                        .expect("e != 0"),
                )
                .expect("not infinity");
            assert_eq!(PublicKey::from_secret_key(SECP256K1, &s), rhs);
        }
    }

    #[test]
    fn reduction_mod_n_subtracts_the_order_once() {
        let mut n_plus_5 = CURVE_ORDER;
        n_plus_5[31] += 5; // n ends in 0x41, no carry
        let mut five = [0u8; 32];
        five[31] = 5;
        assert_eq!(reduce_mod_n(n_plus_5), five);
        assert_eq!(reduce_mod_n(CURVE_ORDER), [0; 32]);
        assert_eq!(reduce_mod_n(five), five);
        // 2^256 - 1 - n = 0x14551231950b75fc4402da1732fc9bebe (n = 2^256 - 0x1455...bebf).
        let expected: [u8; 32] =
            hex::decode("000000000000000000000000000000014551231950b75fc4402da1732fc9bebe")
                .expect("hex")
                .try_into()
                .expect("32 bytes");
        assert_eq!(reduce_mod_n([0xff; 32]), expected);
    }

    fn leaf(a: &XOnlyPublicKey, b: &XOnlyPublicKey) -> ScriptBuf {
        Builder::new()
            .push_x_only_key(a)
            .push_opcode(OP_CHECKSIGVERIFY)
            .push_x_only_key(b)
            .push_opcode(OP_CHECKSIG)
            .into_script()
    }

    fn spend_tx(values: &[u64]) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint {
                    txid: Txid::from_byte_array([3; 32]),
                    vout: 1,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: values
                .iter()
                .map(|v| TxOut {
                    value: Amount::from_sat(*v),
                    script_pubkey: ScriptBuf::new_op_return([9u8; 4]),
                })
                .collect(),
        }
    }

    #[test]
    fn a_decrypted_leaf_adaptor_signature_completes_a_script_path_witness() {
        let (staker, covenant, operator) = (sk(31), sk(32), sk(33));
        let script = leaf(&xonly(&staker), &xonly(&covenant));
        // A taproot output with that leaf under an unrelated internal key.
        let spend_info = TaprootBuilder::new()
            .add_leaf(0, script.clone())
            .expect("one leaf")
            .finalize(SECP256K1, xonly(&sk(34)))
            .expect("complete tree");
        let prevout = TxOut {
            value: Amount::from_sat(100_000),
            script_pubkey: ScriptBuf::new_p2tr_tweaked(spend_info.output_key()),
        };
        let prevouts = [prevout.clone()];
        let mut tx = spend_tx(&[10_000, 89_000]);

        let staker_sig = sign_leaf(&staker, &tx, 0, &prevouts, &script).expect("sighash");
        let asig = enc_sign_leaf(&covenant, &xonly(&operator), &tx, 0, &prevouts, &script)
            .expect("sighash");
        let parsed = verify_leaf_adaptor(
            &asig.to_bytes(),
            &xonly(&covenant),
            &xonly(&operator),
            &tx,
            0,
            &prevouts,
            &script,
        )
        .expect("adaptor verifies");
        assert_eq!(parsed, asig);
        // Encrypted to the operator: not usable before decryption.
        let covenant_sig = asig.decrypt(&operator);
        verify_leaf_sig(
            &xonly(&covenant),
            &covenant_sig.serialize(),
            &tx,
            0,
            &prevouts,
            &script,
        )
        .expect("decrypted signature verifies against leaf_sighash");

        // Witness: stack items bottom to top, then the leaf and its control block.
        let control = spend_info
            .control_block(&(script.clone(), LeafVersion::TapScript))
            .expect("leaf in the tree");
        tx.input[0].witness = Witness::from_slice(&[
            covenant_sig.serialize().to_vec(),
            staker_sig.serialize().to_vec(),
            script.to_bytes(),
            control.serialize(),
        ]);
        // Check the spend the way a BIP-341 validator does: the control block commits the
        // leaf to the output key, and each signature is 64 bytes over the leaf's sighash (the
        // witness does not enter the sighash).
        let w: Vec<&[u8]> = tx.input[0].witness.iter().collect();
        assert_eq!(w.len(), 4);
        let witness_script = ScriptBuf::from_bytes(w[2].to_vec());
        let witness_control =
            bitcoin::taproot::ControlBlock::decode(w[3]).expect("valid control block");
        assert!(witness_control.verify_taproot_commitment(
            SECP256K1,
            spend_info.output_key().to_x_only_public_key(),
            &witness_script
        ));
        let sighash = leaf_sighash(&tx, 0, &prevouts, &witness_script).expect("sighash");
        verify_sighash(&xonly(&staker), w[1], &sighash).expect("staker signature (top of stack)");
        verify_sighash(&xonly(&covenant), w[0], &sighash).expect("covenant signature");

        // Any output change invalidates the adaptor signature.
        let mut changed = tx.clone();
        changed.output[0].value = Amount::from_sat(10_001);
        let err = verify_leaf_adaptor(
            &asig.to_bytes(),
            &xonly(&covenant),
            &xonly(&operator),
            &changed,
            0,
            &prevouts,
            &script,
        )
        .expect_err("output changed");
        assert_eq!(err.code(), 233);
        // Sighash failures keep their sign codes.
        let err = enc_sign_leaf(&covenant, &xonly(&operator), &tx, 1, &prevouts, &script)
            .expect_err("no input 1");
        assert_eq!(err.code(), 206);
        assert!(matches!(
            err,
            AdaptorError::Sign(SignError::InputIndexOutOfRange { .. })
        ));
        let err = verify_leaf_adaptor(
            &asig.to_bytes()[..64],
            &xonly(&covenant),
            &xonly(&operator),
            &tx,
            0,
            &prevouts,
            &script,
        )
        .expect_err("short");
        assert_eq!(err.code(), 230);
    }

    #[test]
    fn error_codes_are_distinct_and_start_at_230() {
        let all = [
            AdaptorError::Length { found: 0 },
            AdaptorError::InvalidNoncePoint {
                point_hex: String::new(),
            },
            AdaptorError::ScalarOutOfRange {
                scalar_hex: String::new(),
            },
            AdaptorError::VerificationFailed {
                signer_hex: String::new(),
                enc_key_hex: String::new(),
                msg_hex: String::new(),
            },
            AdaptorError::NonceMismatch {
                expected_hex: String::new(),
                found_hex: String::new(),
            },
            AdaptorError::SecretMismatch {
                enc_key_hex: String::new(),
            },
            AdaptorError::InvalidSignatureScalar {
                scalar_hex: String::new(),
            },
            AdaptorError::DegenerateNonce,
        ];
        let codes: Vec<u32> = all.iter().map(AdaptorError::code).collect();
        assert_eq!(codes, (230..238).collect::<Vec<u32>>());
        for e in &all {
            let text = e.to_string();
            assert_eq!(text, text.to_lowercase(), "messages are lower-case: {text}");
        }
        assert_eq!(
            AdaptorError::from(SignError::KeyLength { found: 1 }).code(),
            200
        );
    }

    fn secret_key() -> impl Strategy<Value = SecretKey> {
        any::<[u8; 32]>().prop_filter_map("a valid secret key", |b| SecretKey::from_slice(&b).ok())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn random_keys_of_either_parity_round_trip(
            signer in secret_key(),
            operator in secret_key(),
            m in any::<[u8; 32]>(),
        ) {
            prop_assume!(xonly(&signer) != xonly(&operator));
            let (p, t) = (xonly(&signer), xonly(&operator));
            let asig = AdaptorSignature::enc_sign(&signer, &t, &m).expect("not degenerate");
            prop_assert_eq!(AdaptorSignature::from_bytes(&asig.to_bytes()), Ok(asig));
            prop_assert!(asig.verify(&p, &t, &m).is_ok());
            prop_assert!(asig.verify(&t, &p, &m).is_err());
            let sig = asig.decrypt(&operator);
            prop_assert!(bip340_verifies(&sig, &p, &m));
            let extracted = asig.extract_secret(&sig, &t).expect("extracted");
            prop_assert_eq!(xonly(&extracted), t);
            if parity(&operator) == Parity::Even {
                prop_assert_eq!(extracted, operator);
            } else {
                prop_assert_eq!(extracted, operator.negate());
            }
        }
    }
}
