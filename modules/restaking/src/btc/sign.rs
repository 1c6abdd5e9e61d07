//! BIP-340 Schnorr signatures for BTC staking: script-path spends of the staking, unbonding and
//! slashing outputs (BIP-341 sighash with `SIGHASH_DEFAULT`, tapscript leaf version `0xc0`), and
//! the proof of possession that binds an operator's or staker's BTC key to a Ballast address.
//!
//! Everything here takes the leaf script and the spent outputs as parameters: it does not build
//! scripts or transactions itself.
//!
//! - A **leaf signature** signs the BIP-341 script-path sighash of one input
//!   ([`leaf_sighash`]). Ballast accepts only 64-byte signatures, i.e. `SIGHASH_DEFAULT`; a 65-byte
//!   signature with an explicit sighash byte is rejected ([`SignError::ExplicitSighashType`]).
//! - A **proof of possession** (`pop`, `btc_pop`) is a BIP-340 signature by the BTC key over
//!   `sha256(address bytes)` ([`pop_message`]).
//!
//! Signing is deterministic (BIP-340 with no auxiliary randomness) unless the `_with_aux_rand`
//! variant is used; verification accepts either, since BIP-340 verification does not depend on
//! how the nonce was chosen.
//!
//! # Error codes
//!
//! Stable, never renumbered.
//!
//! | code | variant                               | meaning                                              |
//! |------|---------------------------------------|------------------------------------------------------|
//! | 200  | [`SignError::KeyLength`]              | an x-only public key is not 32 bytes                 |
//! | 201  | [`SignError::KeyNotOnCurve`]          | 32 bytes that are not the x coordinate of a point    |
//! | 202  | [`SignError::SignatureLength`]        | a signature is not 64 bytes (65 handled by 203)      |
//! | 203  | [`SignError::ExplicitSighashType`]    | a 65-byte signature with an explicit sighash byte    |
//! | 204  | [`SignError::InvalidLeafSignature`]   | a leaf signature does not verify                     |
//! | 205  | [`SignError::InvalidPop`]             | a proof of possession does not verify                |
//! | 206  | [`SignError::InputIndexOutOfRange`]   | the input index is not an input of the transaction   |
//! | 207  | [`SignError::PrevoutCount`]           | not exactly one spent output per input               |
//! | 208  | [`SignError::Sighash`]                | any other failure computing the BIP-341 sighash      |

use bitcoin::hashes::Hash;
use bitcoin::sighash::{Prevouts, SighashCache, TapSighashType};
use bitcoin::taproot::{LeafVersion, TapLeafHash};
use bitcoin::{Script, TapSighash, Transaction, TxOut};
use secp256k1::{schnorr, Keypair, Message, SecretKey, XOnlyPublicKey, SECP256K1};
use sha2::{Digest, Sha256};

/// Length of a BIP-340 signature with `SIGHASH_DEFAULT`.
pub const SCHNORR_SIG_LEN: usize = 64;

/// Length of a BIP-340 x-only public key.
pub const XONLY_KEY_LEN: usize = 32;

/// Why a key, a signature or a sighash was rejected. See the module docs for the codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// An x-only public key of the wrong length.
    #[error("expected a {XONLY_KEY_LEN}-byte x-only public key, found {found} bytes")]
    KeyLength {
        /// The length that was given.
        found: usize,
    },
    /// 32 bytes that are not the x coordinate of a secp256k1 point.
    #[error("x-only public key {key_hex} is not the x coordinate of a point on secp256k1")]
    KeyNotOnCurve {
        /// The rejected key, hex.
        key_hex: String,
    },
    /// A signature that is not 64 bytes. For leaf signatures, 65 bytes gets
    /// [`SignError::ExplicitSighashType`] instead; a 65-byte proof of possession gets this.
    #[error("expected a {SCHNORR_SIG_LEN}-byte bip-340 signature, found {found} bytes")]
    SignatureLength {
        /// The length that was given.
        found: usize,
    },
    /// A 65-byte leaf signature: it carries an explicit sighash type, and only
    /// `SIGHASH_DEFAULT` (64-byte signatures) is accepted.
    #[error(
        "expected a {SCHNORR_SIG_LEN}-byte signature with sighash_default, found a 65-byte \
         signature with explicit sighash type 0x{sighash_type:02x}"
    )]
    ExplicitSighashType {
        /// The trailing sighash byte.
        sighash_type: u8,
    },
    /// A leaf signature that does not verify against the script-path sighash.
    #[error(
        "schnorr signature does not verify under key {key_hex} for the script-path sighash \
         {sighash_hex}"
    )]
    InvalidLeafSignature {
        /// The signer's x-only key, hex.
        key_hex: String,
        /// The BIP-341 sighash that was expected to be signed, hex.
        sighash_hex: String,
    },
    /// A proof of possession that does not verify.
    #[error(
        "proof of possession does not verify: key {key_hex} did not sign sha256 of address \
         {addr_hex}"
    )]
    InvalidPop {
        /// The BTC key, hex.
        key_hex: String,
        /// The address bytes, hex.
        addr_hex: String,
    },
    /// The input index is not an input of the transaction.
    #[error("input index {index} is out of range: the transaction has {inputs} inputs")]
    InputIndexOutOfRange {
        /// The index that was asked for.
        index: usize,
        /// How many inputs the transaction has.
        inputs: usize,
    },
    /// Not exactly one spent output per transaction input.
    #[error("expected one spent output per input ({inputs}), found {prevouts}")]
    PrevoutCount {
        /// How many spent outputs were given.
        prevouts: usize,
        /// How many inputs the transaction has.
        inputs: usize,
    },
    /// Any other failure computing the BIP-341 sighash.
    #[error("cannot compute the taproot script-path sighash: {0}")]
    Sighash(String),
}

impl SignError {
    /// The stable error code (200–208, see the module docs).
    pub fn code(&self) -> u32 {
        match self {
            SignError::KeyLength { .. } => 200,
            SignError::KeyNotOnCurve { .. } => 201,
            SignError::SignatureLength { .. } => 202,
            SignError::ExplicitSighashType { .. } => 203,
            SignError::InvalidLeafSignature { .. } => 204,
            SignError::InvalidPop { .. } => 205,
            SignError::InputIndexOutOfRange { .. } => 206,
            SignError::PrevoutCount { .. } => 207,
            SignError::Sighash(_) => 208,
        }
    }
}

/// Parses a BIP-340 x-only public key (32 bytes).
pub fn parse_xonly(bytes: &[u8]) -> Result<XOnlyPublicKey, SignError> {
    if bytes.len() != XONLY_KEY_LEN {
        return Err(SignError::KeyLength { found: bytes.len() });
    }
    XOnlyPublicKey::from_slice(bytes).map_err(|_| SignError::KeyNotOnCurve {
        key_hex: hex::encode(bytes),
    })
}

/// Parses a 64-byte BIP-340 signature as found in a tapscript witness with `SIGHASH_DEFAULT`.
///
/// A 65-byte signature (one with an explicit sighash type byte) is rejected with
/// [`SignError::ExplicitSighashType`]; any other length with [`SignError::SignatureLength`].
/// The bytes are not checked further here: a signature whose `r` is not on the curve or whose
/// `s` is not below the group order simply fails verification.
pub fn parse_schnorr_sig(bytes: &[u8]) -> Result<schnorr::Signature, SignError> {
    match bytes.len() {
        SCHNORR_SIG_LEN => schnorr::Signature::from_slice(bytes)
            .map_err(|_| SignError::SignatureLength { found: bytes.len() }),
        65 => Err(SignError::ExplicitSighashType {
            sighash_type: bytes[SCHNORR_SIG_LEN],
        }),
        found => Err(SignError::SignatureLength { found }),
    }
}

/// The BIP-341 script-path sighash of input `input_index` of `tx`, spending through the
/// tapscript leaf `leaf_script` (leaf version `0xc0`), with `SIGHASH_DEFAULT`.
///
/// `prevouts` are the outputs spent by each input of `tx`, in input order (BIP-341 commits to
/// all of their amounts and scripts).
pub fn leaf_sighash(
    tx: &Transaction,
    input_index: usize,
    prevouts: &[TxOut],
    leaf_script: &Script,
) -> Result<TapSighash, SignError> {
    let inputs = tx.input.len();
    if input_index >= inputs {
        return Err(SignError::InputIndexOutOfRange {
            index: input_index,
            inputs,
        });
    }
    if prevouts.len() != inputs {
        return Err(SignError::PrevoutCount {
            prevouts: prevouts.len(),
            inputs,
        });
    }
    let leaf_hash = TapLeafHash::from_script(leaf_script, LeafVersion::TapScript);
    SighashCache::new(tx)
        .taproot_script_spend_signature_hash(
            input_index,
            &Prevouts::All(prevouts),
            leaf_hash,
            TapSighashType::Default,
        )
        .map_err(|e| SignError::Sighash(e.to_string()))
}

/// [`leaf_sighash`] for a transaction with exactly one input (every staking spend: unbonding,
/// slashing, withdrawal), which spends `prevout`.
pub fn leaf_sighash_single_input(
    tx: &Transaction,
    prevout: &TxOut,
    leaf_script: &Script,
) -> Result<TapSighash, SignError> {
    leaf_sighash(tx, 0, std::slice::from_ref(prevout), leaf_script)
}

/// Signs a sighash with BIP-340, deterministically (no auxiliary randomness).
pub fn sign_sighash(sk: &SecretKey, sighash: &TapSighash) -> schnorr::Signature {
    let keypair = Keypair::from_secret_key(SECP256K1, sk);
    SECP256K1.sign_schnorr_no_aux_rand(&sighash_message(sighash), &keypair)
}

/// Signs a sighash with BIP-340 using the given 32 bytes of auxiliary randomness.
pub fn sign_sighash_with_aux_rand(
    sk: &SecretKey,
    sighash: &TapSighash,
    aux_rand: &[u8; 32],
) -> schnorr::Signature {
    let keypair = Keypair::from_secret_key(SECP256K1, sk);
    SECP256K1.sign_schnorr_with_aux_rand(&sighash_message(sighash), &keypair, aux_rand)
}

/// Verifies a 64-byte BIP-340 signature over a sighash (see [`parse_schnorr_sig`] for the
/// accepted encodings). Use this when several keys sign the same input, to compute the sighash
/// once.
pub fn verify_sighash(
    pk: &XOnlyPublicKey,
    sig: &[u8],
    sighash: &TapSighash,
) -> Result<(), SignError> {
    let sig = parse_schnorr_sig(sig)?;
    SECP256K1
        .verify_schnorr(&sig, &sighash_message(sighash), pk)
        .map_err(|_| SignError::InvalidLeafSignature {
            key_hex: hex::encode(pk.serialize()),
            sighash_hex: hex::encode(sighash.to_byte_array()),
        })
}

/// Signs input `input_index` of `tx` for a script-path spend through `leaf_script`
/// (deterministic BIP-340, `SIGHASH_DEFAULT`, so a 64-byte signature).
pub fn sign_leaf(
    sk: &SecretKey,
    tx: &Transaction,
    input_index: usize,
    prevouts: &[TxOut],
    leaf_script: &Script,
) -> Result<schnorr::Signature, SignError> {
    let sighash = leaf_sighash(tx, input_index, prevouts, leaf_script)?;
    Ok(sign_sighash(sk, &sighash))
}

/// Verifies `sig` as `pk`'s signature of input `input_index` of `tx`, spent through
/// `leaf_script`. Only 64-byte (`SIGHASH_DEFAULT`) signatures are accepted.
pub fn verify_leaf_sig(
    pk: &XOnlyPublicKey,
    sig: &[u8],
    tx: &Transaction,
    input_index: usize,
    prevouts: &[TxOut],
    leaf_script: &Script,
) -> Result<(), SignError> {
    // Reject a malformed signature before hashing the transaction.
    parse_schnorr_sig(sig)?;
    let sighash = leaf_sighash(tx, input_index, prevouts, leaf_script)?;
    verify_sighash(pk, sig, &sighash)
}

/// The message a proof of possession signs: `sha256(addr_bytes)`.
pub fn pop_message(addr_bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(addr_bytes).into()
}

/// Proves possession of `sk`'s BTC key for the address `addr_bytes` (deterministic BIP-340
/// over [`pop_message`]).
pub fn sign_pop(sk: &SecretKey, addr_bytes: &[u8]) -> schnorr::Signature {
    let keypair = Keypair::from_secret_key(SECP256K1, sk);
    SECP256K1.sign_schnorr_no_aux_rand(&Message::from_digest(pop_message(addr_bytes)), &keypair)
}

/// Verifies a proof of possession: a 64-byte BIP-340 signature by `pk` over
/// `sha256(addr_bytes)`.
pub fn verify_pop(pk: &XOnlyPublicKey, addr_bytes: &[u8], sig: &[u8]) -> Result<(), SignError> {
    if sig.len() != SCHNORR_SIG_LEN {
        return Err(SignError::SignatureLength { found: sig.len() });
    }
    let sig = parse_schnorr_sig(sig)?;
    SECP256K1
        .verify_schnorr(&sig, &Message::from_digest(pop_message(addr_bytes)), pk)
        .map_err(|_| SignError::InvalidPop {
            key_hex: hex::encode(pk.serialize()),
            addr_hex: hex::encode(addr_bytes),
        })
}

fn sighash_message(sighash: &TapSighash) -> Message {
    Message::from_digest(sighash.to_byte_array())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::opcodes::all::{OP_CHECKSIG, OP_CHECKSIGVERIFY};
    use bitcoin::script::Builder;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, TxIn, Txid, Witness};

    fn sk(byte: u8) -> SecretKey {
        SecretKey::from_slice(&[byte; 32]).expect("a constant below the group order")
    }

    fn xonly(sk: &SecretKey) -> XOnlyPublicKey {
        sk.x_only_public_key(SECP256K1).0
    }

    fn leaf(a: &XOnlyPublicKey, b: &XOnlyPublicKey) -> ScriptBuf {
        Builder::new()
            .push_x_only_key(a)
            .push_opcode(OP_CHECKSIGVERIFY)
            .push_x_only_key(b)
            .push_opcode(OP_CHECKSIG)
            .into_script()
    }

    fn prevout(value: u64) -> TxOut {
        let script = ScriptBuf::new_p2tr(SECP256K1, xonly(&sk(9)), None);
        TxOut {
            value: Amount::from_sat(value),
            script_pubkey: script,
        }
    }

    fn spend_tx(values: &[u64]) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint {
                    txid: Txid::from_byte_array([7; 32]),
                    vout: 0,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::from_height(5),
                witness: Witness::new(),
            }],
            output: values
                .iter()
                .map(|v| TxOut {
                    value: Amount::from_sat(*v),
                    script_pubkey: ScriptBuf::new_op_return([1u8, 2, 3]),
                })
                .collect(),
        }
    }

    #[test]
    fn leaf_signature_verifies_and_breaks_when_any_output_value_changes() {
        let (staker, covenant) = (sk(1), sk(2));
        let script = leaf(&xonly(&staker), &xonly(&covenant));
        let tx = spend_tx(&[9_000, 90_000]);
        let prev = [prevout(100_000)];
        let sig = sign_leaf(&staker, &tx, 0, &prev, &script).expect("one input, one prevout");
        verify_leaf_sig(&xonly(&staker), &sig.serialize(), &tx, 0, &prev, &script)
            .expect("own signature verifies");
        // The other key in the leaf did not sign it.
        let err = verify_leaf_sig(&xonly(&covenant), &sig.serialize(), &tx, 0, &prev, &script)
            .expect_err("wrong signer");
        assert_eq!(err.code(), 204);

        for i in 0..tx.output.len() {
            let mut changed = tx.clone();
            changed.output[i].value += Amount::from_sat(1);
            let err = verify_leaf_sig(
                &xonly(&staker),
                &sig.serialize(),
                &changed,
                0,
                &prev,
                &script,
            )
            .expect_err("an output value changed");
            assert!(
                matches!(err, SignError::InvalidLeafSignature { .. }),
                "{err}"
            );
        }
        // The spent amount, the leaf and the sequence are committed to as well.
        let err = verify_leaf_sig(
            &xonly(&staker),
            &sig.serialize(),
            &tx,
            0,
            &[prevout(100_001)],
            &script,
        )
        .expect_err("prevout amount changed");
        assert_eq!(err.code(), 204);
        let other_leaf = leaf(&xonly(&covenant), &xonly(&staker));
        assert!(verify_leaf_sig(
            &xonly(&staker),
            &sig.serialize(),
            &tx,
            0,
            &prev,
            &other_leaf
        )
        .is_err());
        let mut changed = tx.clone();
        changed.input[0].sequence = Sequence::from_height(6);
        assert!(verify_leaf_sig(
            &xonly(&staker),
            &sig.serialize(),
            &changed,
            0,
            &prev,
            &script
        )
        .is_err());
    }

    #[test]
    fn leaf_signing_is_deterministic_and_aux_rand_signatures_verify_too() {
        let staker = sk(3);
        let script = leaf(&xonly(&staker), &xonly(&sk(4)));
        let tx = spend_tx(&[1_000]);
        let prev = prevout(5_000);
        let a = sign_leaf(&staker, &tx, 0, std::slice::from_ref(&prev), &script).expect("sighash");
        let b = sign_leaf(&staker, &tx, 0, std::slice::from_ref(&prev), &script).expect("sighash");
        assert_eq!(a, b);
        let sighash = leaf_sighash_single_input(&tx, &prev, &script).expect("one input");
        assert_eq!(
            sighash,
            leaf_sighash(&tx, 0, std::slice::from_ref(&prev), &script).expect("same")
        );
        let c = sign_sighash_with_aux_rand(&staker, &sighash, &[42; 32]);
        assert_ne!(a, c);
        verify_sighash(&xonly(&staker), &c.serialize(), &sighash).expect("aux-rand signature");
        verify_sighash(&xonly(&staker), &a.serialize(), &sighash).expect("deterministic signature");
    }

    #[test]
    fn the_sighash_is_bitcoins_script_path_sighash_with_sighash_default() {
        let script = leaf(&xonly(&sk(5)), &xonly(&sk(6)));
        let tx = spend_tx(&[700, 800]);
        let prev = [prevout(2_000)];
        let expected = SighashCache::new(&tx)
            .taproot_script_spend_signature_hash(
                0,
                &Prevouts::All(&prev),
                TapLeafHash::from_script(&script, LeafVersion::TapScript),
                TapSighashType::Default,
            )
            .expect("valid");
        assert_eq!(
            leaf_sighash(&tx, 0, &prev, &script).expect("valid"),
            expected
        );
        // SIGHASH_ALL (0x01) is a different message: a signature made for it is not accepted.
        let all = SighashCache::new(&tx)
            .taproot_script_spend_signature_hash(
                0,
                &Prevouts::All(&prev),
                TapLeafHash::from_script(&script, LeafVersion::TapScript),
                TapSighashType::All,
            )
            .expect("valid");
        assert_ne!(all, expected);
        let sig_all = sign_sighash(&sk(5), &all);
        let mut with_byte = sig_all.serialize().to_vec();
        with_byte.push(0x01);
        assert_eq!(
            verify_leaf_sig(&xonly(&sk(5)), &with_byte, &tx, 0, &prev, &script),
            Err(SignError::ExplicitSighashType { sighash_type: 0x01 })
        );
        assert_eq!(
            verify_leaf_sig(&xonly(&sk(5)), &sig_all.serialize(), &tx, 0, &prev, &script)
                .map_err(|e| e.code()),
            Err(204)
        );
    }

    #[test]
    fn malformed_signatures_keys_and_indices_are_rejected_with_their_codes() {
        let staker = sk(7);
        let script = leaf(&xonly(&staker), &xonly(&sk(8)));
        let tx = spend_tx(&[1_000]);
        let prev = [prevout(5_000)];
        let sig = sign_leaf(&staker, &tx, 0, &prev, &script).expect("sighash");
        let pk = xonly(&staker);

        let mut explicit = sig.serialize().to_vec();
        explicit.push(0x00);
        let err = verify_leaf_sig(&pk, &explicit, &tx, 0, &prev, &script).expect_err("65 bytes");
        assert_eq!(err, SignError::ExplicitSighashType { sighash_type: 0 });
        assert_eq!(err.code(), 203);
        assert!(err.to_string().contains("sighash type 0x00"), "{err}");
        for len in [0usize, 32, 63, 66, 128] {
            let err = verify_leaf_sig(&pk, &vec![1; len], &tx, 0, &prev, &script)
                .expect_err("bad length");
            assert_eq!(err, SignError::SignatureLength { found: len });
            assert_eq!(err.code(), 202);
        }
        assert_eq!(
            verify_leaf_sig(&pk, &sig.serialize(), &tx, 1, &prev, &script),
            Err(SignError::InputIndexOutOfRange {
                index: 1,
                inputs: 1
            })
        );
        assert_eq!(
            sign_leaf(&staker, &tx, 0, &[], &script).map_err(|e| e.code()),
            Err(207)
        );
        assert_eq!(
            leaf_sighash(&tx, 0, &[prevout(1), prevout(2)], &script),
            Err(SignError::PrevoutCount {
                prevouts: 2,
                inputs: 1
            })
        );
        let mut two_inputs = tx.clone();
        two_inputs.input.push(tx.input[0].clone());
        assert_eq!(
            leaf_sighash_single_input(&two_inputs, &prev[0], &script).map_err(|e| e.code()),
            Err(207)
        );

        assert_eq!(parse_xonly(&pk.serialize()), Ok(pk));
        assert_eq!(
            parse_xonly(&[2; 33]),
            Err(SignError::KeyLength { found: 33 })
        );
        assert_eq!(parse_xonly(&[]).map_err(|e| e.code()), Err(200));
        // x = 5 is not the x coordinate of any secp256k1 point (5^3 + 7 = 132 is not a square
        // mod p), nor is any value >= p.
        let mut not_on_curve = [0u8; 32];
        not_on_curve[31] = 5;
        let err = parse_xonly(&not_on_curve).expect_err("not on the curve");
        assert_eq!(err.code(), 201);
        assert!(
            err.to_string().contains(&hex::encode(not_on_curve)),
            "{err}"
        );
        assert_eq!(parse_xonly(&[0xff; 32]).map_err(|e| e.code()), Err(201));
    }

    #[test]
    fn pop_signs_sha256_of_the_address_and_does_not_verify_for_another_address() {
        let key = sk(11);
        let addr = b"\x01\x02\x03 twenty address bytes"; // any byte string
        let pop = sign_pop(&key, addr);
        verify_pop(&xonly(&key), addr, &pop.serialize()).expect("own pop");
        // It is plain BIP-340 over sha256(addr).
        SECP256K1
            .verify_schnorr(
                &pop,
                &Message::from_digest(Sha256::digest(addr).into()),
                &xonly(&key),
            )
            .expect("bip-340 over sha256(addr)");
        assert_eq!(pop_message(addr), <[u8; 32]>::from(Sha256::digest(addr)));

        let err = verify_pop(&xonly(&key), b"another address", &pop.serialize())
            .expect_err("another address");
        assert_eq!(err.code(), 205);
        let err = verify_pop(&xonly(&sk(12)), addr, &pop.serialize()).expect_err("another key");
        assert!(matches!(err, SignError::InvalidPop { .. }));
        let mut long = pop.serialize().to_vec();
        long.push(0);
        assert_eq!(
            verify_pop(&xonly(&key), addr, &long),
            Err(SignError::SignatureLength { found: 65 })
        );
    }

    #[test]
    fn error_codes_are_distinct_and_start_at_200() {
        let all = [
            SignError::KeyLength { found: 0 },
            SignError::KeyNotOnCurve {
                key_hex: String::new(),
            },
            SignError::SignatureLength { found: 0 },
            SignError::ExplicitSighashType { sighash_type: 1 },
            SignError::InvalidLeafSignature {
                key_hex: String::new(),
                sighash_hex: String::new(),
            },
            SignError::InvalidPop {
                key_hex: String::new(),
                addr_hex: String::new(),
            },
            SignError::InputIndexOutOfRange {
                index: 0,
                inputs: 0,
            },
            SignError::PrevoutCount {
                prevouts: 0,
                inputs: 0,
            },
            SignError::Sighash(String::new()),
        ];
        let codes: Vec<u32> = all.iter().map(SignError::code).collect();
        assert_eq!(codes, (200..209).collect::<Vec<u32>>());
        for e in &all {
            let msg = e.to_string();
            assert_eq!(msg, msg.to_lowercase(), "messages are lower-case: {msg}");
        }
    }
}
