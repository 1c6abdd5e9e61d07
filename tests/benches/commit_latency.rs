//! Storage commit latency: `Storage::stage` (JMT update, new root) followed by `Storage::commit`
//! (one fsynced redb write transaction) of a version with 1k, 10k and 100k changed keys, against
//! a store that already holds `PRELOAD` keys.
//!
//! The keys look like account-state keys (a prefix byte and a 20-byte hash; 64-byte values).
//! Every version overwrites `n` existing keys with new values, taken in rotation over the preloaded
//! keys, so the tree keeps its size and every version does real work. The store keeps every
//! version (`keep_recent: 0`, the node's default), so nothing is pruned during commit. Building
//! the change set is not timed; one timed iteration is exactly `stage` + `commit` of one version.
//! A fresh preloaded store is built for each size. After each size, the split between stage and
//! commit over every version run (warm-up included) goes to stderr.
//!
//! Run: `cargo bench -p ballast-tests --bench commit_latency`. Under `cargo test --benches`
//! (no `--bench` argument) criterion runs each benchmark once; the sizes are then tiny.

// A bench harness, not state-machine code: it reads the wall clock and unwraps freely.
#![allow(clippy::disallowed_methods, clippy::unwrap_used)]

use ballast_app::storage::{Storage, StorageConfig};
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Keys in the store before any measured version.
const PRELOAD: usize = 200_000;

type ChangeSet = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn key(i: usize) -> Vec<u8> {
    let d = Sha256::digest((i as u64).to_be_bytes());
    let mut k = Vec::with_capacity(21);
    k.push(0x02);
    k.extend_from_slice(&d[..20]);
    k
}

fn value(i: usize, version: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(&Sha256::digest(
        [(i as u64).to_be_bytes(), version.to_be_bytes()].concat(),
    ));
    v.extend_from_slice(&version.to_be_bytes());
    v.resize(64, 0xab);
    v
}

/// A store at version 1 holding `preload` keys.
fn preloaded(preload: usize) -> (tempfile::TempDir, Storage) {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), StorageConfig { keep_recent: 0 }).unwrap();
    let changes: ChangeSet = (0..preload).map(|i| (key(i), Some(value(i, 1)))).collect();
    let t = Instant::now();
    let staged = storage.stage(1, &changes, BTreeMap::new()).unwrap();
    storage.commit(staged).unwrap();
    eprintln!(
        "[commit_latency] preloaded {preload} keys (stage+commit) in {:.2?}",
        t.elapsed()
    );
    (dir, storage)
}

fn stage_commit(c: &mut Criterion) {
    let (sizes, preload): (&[usize], usize) = if bench_mode() {
        (&[1_000, 10_000, 100_000], PRELOAD)
    } else {
        (&[100], 1_000)
    };
    let mut group = c.benchmark_group("storage_stage_commit");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    for &n in sizes {
        let (_dir, storage) = preloaded(preload);
        let mut version = 1u64;
        let mut cursor = 0usize;
        let (mut runs, mut stage_total, mut commit_total) = (0u32, Duration::ZERO, Duration::ZERO);
        group.throughput(Throughput::Elements(n as u64));
        // A 100k-key version takes seconds: give its 10 samples the time they need.
        group.measurement_time(Duration::from_secs(if n >= 100_000 { 35 } else { 8 }));
        group.bench_function(BenchmarkId::new("changed_keys", n), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    version += 1;
                    let changes: ChangeSet = (0..n)
                        .map(|j| {
                            let i = (cursor + j) % preload;
                            (key(i), Some(value(i, version)))
                        })
                        .collect();
                    cursor = (cursor + n) % preload;
                    let t0 = Instant::now();
                    let staged = storage.stage(version, &changes, BTreeMap::new()).unwrap();
                    let t1 = Instant::now();
                    storage.commit(staged).unwrap();
                    let t2 = Instant::now();
                    timed += t2 - t0;
                    stage_total += t1 - t0;
                    commit_total += t2 - t1;
                    runs += 1;
                }
                timed
            });
        });
        if runs > 0 {
            eprintln!(
                "[commit_latency] {n} changed keys over {preload} stored, {runs} versions \
                 (warm-up included): mean stage {:.2?}, mean commit {:.2?}",
                stage_total / runs,
                commit_total / runs
            );
        }
    }
    group.finish();
}

criterion_group!(benches, stage_commit);
criterion_main!(benches);
