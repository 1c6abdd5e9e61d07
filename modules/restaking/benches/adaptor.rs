//! Costs of the BTC signature checks a delegation goes through:
//!
//! - `adaptor/verify`: one covenant adaptor signature on a slashing tx (`MsgAddCovenantSigs`
//!   checks one per slashing tx per covenant member);
//! - `adaptor/verify_leaf`: the same, from bytes, including the BIP-341 sighash of a 1-input,
//!   2-output slashing-shaped tx;
//! - `adaptor/enc_sign` and `adaptor/decrypt`: the covenant signer's and the vigilante's side;
//! - `leaf_sig/verify`: one staker or covenant BIP-340 signature on a leaf spend, sighash
//!   included.

use ballast_restaking::btc::adaptor::{enc_sign_leaf, verify_leaf_adaptor, AdaptorSignature};
use ballast_restaking::btc::sign::{sign_leaf, verify_leaf_sig};
use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::opcodes::all::{OP_CHECKSIG, OP_CHECKSIGVERIFY};
use bitcoin::script::Builder;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use criterion::{criterion_group, criterion_main, Criterion};
use secp256k1::{SecretKey, XOnlyPublicKey, SECP256K1};
use std::hint::black_box;

fn key(byte: u8) -> (SecretKey, XOnlyPublicKey) {
    let sk = SecretKey::from_slice(&[byte; 32]).expect("a constant below the group order");
    (sk, sk.x_only_public_key(SECP256K1).0)
}

fn fixture() -> (Transaction, Vec<TxOut>, ScriptBuf) {
    let (_, staker) = key(1);
    let (_, covenant) = key(2);
    let script = Builder::new()
        .push_x_only_key(&staker)
        .push_opcode(OP_CHECKSIGVERIFY)
        .push_x_only_key(&covenant)
        .push_opcode(OP_CHECKSIG)
        .into_script();
    let prevout = TxOut {
        value: Amount::from_sat(100_000),
        script_pubkey: ScriptBuf::new_p2tr(SECP256K1, key(9).1, None),
    };
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: Txid::from_byte_array([7; 32]),
                vout: 0,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![
            TxOut {
                value: Amount::from_sat(10_000),
                script_pubkey: ScriptBuf::new_op_return(b"ballast-burn"),
            },
            TxOut {
                value: Amount::from_sat(89_000),
                script_pubkey: ScriptBuf::new_p2tr(SECP256K1, staker, None),
            },
        ],
    };
    (tx, vec![prevout], script)
}

fn bench(c: &mut Criterion) {
    let (tx, prevouts, script) = fixture();
    let (staker_sk, staker) = key(1);
    let (covenant_sk, covenant) = key(2);
    let (operator_sk, operator) = key(3);
    let msg = [0x5a; 32];

    let asig = AdaptorSignature::enc_sign(&covenant_sk, &operator, &msg).expect("not degenerate");
    c.bench_function("adaptor/verify", |b| {
        b.iter(|| black_box(&asig).verify(&covenant, &operator, black_box(&msg)))
    });
    let leaf_asig = enc_sign_leaf(&covenant_sk, &operator, &tx, 0, &prevouts, &script)
        .expect("sighash")
        .to_bytes();
    c.bench_function("adaptor/verify_leaf", |b| {
        b.iter(|| {
            verify_leaf_adaptor(
                black_box(&leaf_asig),
                &covenant,
                &operator,
                &tx,
                0,
                &prevouts,
                &script,
            )
        })
    });
    c.bench_function("adaptor/enc_sign", |b| {
        b.iter(|| AdaptorSignature::enc_sign(&covenant_sk, &operator, black_box(&msg)))
    });
    c.bench_function("adaptor/decrypt", |b| {
        b.iter(|| black_box(&asig).decrypt(&operator_sk))
    });

    let sig = sign_leaf(&staker_sk, &tx, 0, &prevouts, &script)
        .expect("sighash")
        .serialize();
    c.bench_function("leaf_sig/verify", |b| {
        b.iter(|| verify_leaf_sig(&staker, black_box(&sig), &tx, 0, &prevouts, &script))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
