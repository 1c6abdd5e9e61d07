//! Costs of checkpoint signatures with a full validator set:
//!
//! - `verify_raw_checkpoint/100_validators`: ProcessProposal's check of a checkpoint signed by
//!   all 100 validators (bitmap, power, one `fast_aggregate_verify`);
//! - `verify_vote_extension/per_validator`: VerifyVoteExtension of one validator's extension
//!   (decode, snapshot lookup, one signature verification); CometBFT runs it once per vote at
//!   the last block of an epoch;
//! - `aggregate/100_validators`: PrepareProposal's aggregation of 100 extensions.

use ballast_checkpointing::{
    aggregate, begin_checkpoint, extend_vote, register_bls_key, snapshot_validators,
    verify_raw_checkpoint, verify_vote_extension, BlsSecretKey, GenesisState, ProvenBlsKey,
};
use ballast_framework::{BlockHash, ConsensusAddress, MemState};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

const VALIDATORS: usize = 100;
const EPOCH: u64 = 7;

fn setup() -> (MemState, Vec<(ConsensusAddress, Vec<u8>)>, BlockHash) {
    let mut s = MemState::new();
    ballast_btclightclient::GenesisState::default()
        .apply(&mut s)
        .expect("default light-client genesis is valid");
    GenesisState::default()
        .apply(&mut s)
        .expect("default checkpointing genesis is valid");
    let hash = BlockHash([0x42; 32]);
    let mut set = Vec::new();
    let mut exts = Vec::new();
    for i in 0..VALIDATORS {
        let mut ikm = [0u8; 32];
        ikm[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let sk = BlsSecretKey::from_ikm(&ikm).expect("32 bytes of key material");
        let addr = ConsensusAddress([i as u8; 20]);
        let key = ProvenBlsKey::new(
            &sk.public_key().to_bytes(),
            &sk.proof_of_possession().to_bytes(),
        )
        .expect("own proof of possession");
        register_bls_key(&mut s, addr, key, 0).expect("fresh key");
        set.push((addr, 10 + i as u64));
        exts.push((addr, extend_vote(&sk, EPOCH, &hash)));
    }
    snapshot_validators(&mut s, EPOCH, &set).expect("valid set");
    begin_checkpoint(&mut s, EPOCH, &hash, 70).expect("epoch ends once");
    (s, exts, hash)
}

fn benches(c: &mut Criterion) {
    let (s, exts, hash) = setup();
    let raw = aggregate(&s, EPOCH, &exts).expect("every validator signed");
    assert_eq!(raw.bitmap.count(), VALIDATORS);
    c.bench_function("verify_raw_checkpoint/100_validators", |b| {
        b.iter(|| verify_raw_checkpoint(black_box(&s), black_box(&raw)).expect("valid"))
    });
    let (addr, ext) = &exts[50];
    c.bench_function("verify_vote_extension/per_validator", |b| {
        b.iter(|| {
            verify_vote_extension(black_box(&s), addr, EPOCH, &hash, black_box(ext)).expect("valid")
        })
    });
    c.bench_function("aggregate/100_validators", |b| {
        b.iter(|| aggregate(black_box(&s), EPOCH, black_box(&exts)).expect("valid"))
    });
}

criterion_group! {
    name = checkpoint;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(checkpoint);
