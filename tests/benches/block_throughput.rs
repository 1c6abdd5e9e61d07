//! Signed `MsgSend` throughput through `FinalizeBlock` + `Commit`, called directly on
//! `ballast_app::App` (no socket, no CometBFT), with 1k, 10k and 100k funded genesis accounts.
//!
//! Every block holds `TXS_PER_BLOCK` txs, each a `MsgSend` of 1 ubal from a distinct funded
//! account to another funded account, signed (SIGN_MODE_DIRECT, pubkey included) with the
//! sender's correct sequence. Signing happens outside the timed section; each timed iteration is
//! one whole block: `finalize_block` (decode, ante, signature check, execution, JMT root, stage)
//! followed by `commit` (one fsynced redb write transaction). Every tx result is checked to be
//! code 0, so the figure is never that of failing txs. Genesis (key derivation, InitChain and the
//! first commit that persists the genesis state) is built once per size, outside the timing.
//!
//! Throughput is reported in elements = txs, so criterion prints txs/s. After each size, the
//! split between FinalizeBlock and Commit over every block run (warm-up included) goes to stderr.
//!
//! Run: `cargo bench -p ballast-tests --bench block_throughput`. Under `cargo test --benches`
//! (no `--bench` argument) criterion runs each benchmark once; the sizes are then tiny.

// A bench harness, not state-machine code: it reads the wall clock and unwraps freely.
#![allow(clippy::disallowed_methods, clippy::unwrap_used)]

use ballast_app::{App, AppConfig};
use ballast_tests::keys::{TestAccount, TxSpec};
use ballast_tests::{genesis_app_state, CHAIN_ID};
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use std::time::{Duration, Instant};
use tendermint_proto::google::protobuf::Timestamp;
use tendermint_proto::v0_38::abci as pb;

/// Txs in every benchmarked block.
const TXS_PER_BLOCK: usize = 1_000;

fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn time(height: i64) -> Timestamp {
    Timestamp {
        seconds: 1_700_000_000 + height * 5,
        nanos: 0,
    }
}

fn finalize_request(height: i64, txs: Vec<Vec<u8>>) -> pb::RequestFinalizeBlock {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&height.to_be_bytes());
    pb::RequestFinalizeBlock {
        txs: txs.into_iter().map(Into::into).collect(),
        decided_last_commit: None,
        misbehavior: Vec::new(),
        hash: hash.to_vec().into(),
        height,
        time: Some(time(height)),
        next_validators_hash: vec![0u8; 32].into(),
        proposer_address: vec![7u8; 20].into(),
    }
}

/// A chain at height 1 (genesis committed) with `n` funded accounts, and its block producer.
struct Chain {
    _dir: tempfile::TempDir,
    app: App,
    accounts: Vec<TestAccount>,
    sequences: Vec<u64>,
    /// Index of the next sender.
    cursor: usize,
    /// Last committed height.
    height: i64,
}

impl Chain {
    fn new(n: usize) -> Chain {
        let t = Instant::now();
        let accounts = TestAccount::many(n);
        let keys_took = t.elapsed();
        let app_state = genesis_app_state(&accounts, 1_000_000_000_000);
        let dir = tempfile::tempdir().unwrap();
        let app = App::open(AppConfig::new(dir.path())).unwrap();
        let t = Instant::now();
        app.init_chain(pb::RequestInitChain {
            time: Some(time(0)),
            chain_id: CHAIN_ID.into(),
            consensus_params: None,
            validators: Vec::new(),
            app_state_bytes: serde_json::to_vec(&app_state).unwrap().into(),
            initial_height: 1,
        })
        .unwrap();
        let init_took = t.elapsed();
        // Block 1 is empty: its commit persists the whole genesis state.
        let t = Instant::now();
        app.finalize_block(finalize_request(1, Vec::new())).unwrap();
        app.commit().unwrap();
        eprintln!(
            "[block_throughput] {n} accounts: keys {keys_took:.2?}, InitChain {init_took:.2?}, \
             genesis block (finalize+commit) {:.2?}",
            t.elapsed()
        );
        Chain {
            _dir: dir,
            app,
            sequences: vec![0; n],
            accounts,
            cursor: 0,
            height: 1,
        }
    }

    /// The next block's txs: `count` senders in rotation, each to the account half the set away.
    fn sign_block(&mut self, count: usize) -> Vec<Vec<u8>> {
        let n = self.accounts.len();
        assert!(
            count <= n,
            "a block may not hold two txs of one sender here"
        );
        (0..count)
            .map(|_| {
                let i = self.cursor;
                self.cursor = (self.cursor + 1) % n;
                let to = &self.accounts[(i + n / 2 + 1) % n].address;
                let from = &self.accounts[i];
                let tx = TxSpec::send(from, to, 1, self.sequences[i]).sign(from);
                self.sequences[i] += 1;
                tx
            })
            .collect()
    }
}

fn finalize_commit(c: &mut Criterion) {
    let (sizes, per_block): (&[usize], usize) = if bench_mode() {
        (&[1_000, 10_000, 100_000], TXS_PER_BLOCK)
    } else {
        (&[100], 10)
    };
    let mut group = c.benchmark_group("finalize_commit_msgsend");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(per_block as u64));
    for &n in sizes {
        let mut chain = Chain::new(n);
        let (mut blocks, mut fin_total, mut commit_total) = (0u32, Duration::ZERO, Duration::ZERO);
        group.bench_function(BenchmarkId::new("accounts", n), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let txs = chain.sign_block(per_block);
                    let height = chain.height + 1;
                    let req = finalize_request(height, txs);
                    let t0 = Instant::now();
                    let resp = chain.app.finalize_block(req).unwrap();
                    let t1 = Instant::now();
                    chain.app.commit().unwrap();
                    let t2 = Instant::now();
                    chain.height = height;
                    assert_eq!(resp.tx_results.len(), per_block);
                    if let Some(bad) = resp.tx_results.iter().find(|r| r.code != 0) {
                        panic!(
                            "tx failed at height {height}: code {} {}",
                            bad.code, bad.log
                        );
                    }
                    timed += t2 - t0;
                    fin_total += t1 - t0;
                    commit_total += t2 - t1;
                    blocks += 1;
                }
                timed
            });
        });
        if blocks > 0 {
            eprintln!(
                "[block_throughput] {n} accounts, {per_block} txs/block, {blocks} blocks \
                 (warm-up included): mean FinalizeBlock {:.2?}, mean Commit {:.2?}",
                fin_total / blocks,
                commit_total / blocks
            );
        }
    }
    group.finish();
}

criterion_group!(benches, finalize_commit);
criterion_main!(benches);
