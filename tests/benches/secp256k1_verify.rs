//! The physical reference for tx throughput: single-threaded secp256k1 ECDSA verification on
//! this machine, with the `secp256k1` crate (libsecp256k1) that the app uses.
//!
//! - `raw_verify_ecdsa`: `SECP256K1.verify_ecdsa` on a prehashed 32-byte message with a parsed
//!   public key and signature: the bare curve operation.
//! - `ballast_verify_secp256k1`: `ballast_accounts::verify_secp256k1`, what the ante handler
//!   calls: parse the 64-byte compact signature, SHA-256 a 256-byte sign doc, verify.
//!
//! A pool of 256 distinct keys, messages and signatures is built outside the timing and cycled.
//! Throughput is one element per verification, so criterion prints verifies/s.
//!
//! Run: `cargo bench -p ballast-tests --bench secp256k1_verify`.

// A bench harness: it unwraps freely.
#![allow(clippy::unwrap_used)]

use ballast_accounts::{verify_secp256k1, PubKey};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use secp256k1::{ecdsa::Signature, Message, PublicKey, SecretKey, SECP256K1};
use sha2::{Digest, Sha256};
use std::hint::black_box;
use std::time::Duration;

const POOL: usize = 256;

struct Item {
    pk: PublicKey,
    ballast_pk: PubKey,
    doc: Vec<u8>,
    digest: Message,
    sig: Signature,
    compact: [u8; 64],
}

fn pool() -> Vec<Item> {
    (0..POOL)
        .map(|i| {
            let seed: [u8; 32] = Sha256::digest(format!("bench-key-{i}").as_bytes()).into();
            let sk = SecretKey::from_slice(&seed).unwrap();
            let pk = PublicKey::from_secret_key(SECP256K1, &sk);
            // About the size of a MsgSend sign doc.
            let doc: Vec<u8> = (0..256).map(|j| (i * 31 + j * 7) as u8).collect();
            let digest = Message::from_digest(Sha256::digest(&doc).into());
            let sig = SECP256K1.sign_ecdsa(&digest, &sk);
            let compact = sig.serialize_compact();
            let ballast_pk = PubKey::from_bytes(&pk.serialize()).unwrap();
            assert!(verify_secp256k1(&ballast_pk, &doc, &compact));
            Item {
                pk,
                ballast_pk,
                doc,
                digest,
                sig,
                compact,
            }
        })
        .collect()
}

fn verify(c: &mut Criterion) {
    let items = pool();
    let mut group = c.benchmark_group("secp256k1_verify");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function("raw_verify_ecdsa", |b| {
        b.iter(|| {
            let it = &items[i % POOL];
            i = i.wrapping_add(1);
            SECP256K1
                .verify_ecdsa(black_box(&it.digest), black_box(&it.sig), black_box(&it.pk))
                .unwrap();
        })
    });
    let mut i = 0usize;
    group.bench_function("ballast_verify_secp256k1", |b| {
        b.iter(|| {
            let it = &items[i % POOL];
            i = i.wrapping_add(1);
            assert!(verify_secp256k1(
                black_box(&it.ballast_pk),
                black_box(&it.doc),
                black_box(&it.compact)
            ));
        })
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
