//! Header insertion throughput: one `insert_headers` call with a full difficulty period (2016
//! real mainnet headers, 822529 to 824544, across the retarget at 824544) on top of a light
//! client whose base is mainnet 822528, over the in-memory state.
//!
//! Each iteration starts from a copy of the freshly initialised state (made outside the timing)
//! and times the statelessly checked headers going through the full check (known-prefix lookup,
//! parent lookup, median-time window, bits, PoW, version, work) and the writes (2016 records, the
//! best-chain index, the tip), plus building the events. Throughput is in elements = headers, so
//! criterion prints headers/s. A second benchmark times the stateless part (80-byte decoding,
//! hashing and linkage), which happens in CheckTx as well.
//!
//! Run: `cargo bench -p ballast-btclightclient --bench insert_headers`.

// A bench harness, not state-machine code: it reads the wall clock (inside criterion).
#![allow(clippy::disallowed_methods)]

use ballast_btclightclient::{
    events, insert_headers, BaseHeader, BtcNetwork, GenesisState, Params, UncheckedHeaders,
};
use ballast_framework::MemState;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const HEADERS: &[u8] = include_bytes!("../testdata/mainnet_822528_824544.bin");
const CHAINWORK: &[u8] = include_bytes!("../testdata/mainnet_retarget_chainwork.bin");
/// Entry of height 822528 (= 2016 × 408) in the chainwork file (0, then 2016k - 1, 2016k pairs).
const CHAINWORK_ENTRY_822528: usize = 816;

fn base_state() -> MemState {
    let work = &CHAINWORK[CHAINWORK_ENTRY_822528 * 32..CHAINWORK_ENTRY_822528 * 32 + 32];
    let gs = GenesisState {
        params: Params {
            network: BtcNetwork::Mainnet,
            max_headers_per_msg: 2016,
        },
        base_header: BaseHeader {
            height: 822_528,
            header: hex::encode(&HEADERS[..80]),
            cumulative_work: hex::encode(work),
        },
    };
    let mut s = MemState::new();
    gs.apply(&mut s)
        .expect("the bundled mainnet base header is valid");
    s
}

fn raw_batch() -> Vec<&'static [u8]> {
    HEADERS[80..].chunks(80).collect()
}

fn bench(c: &mut Criterion) {
    let raw = raw_batch();
    assert_eq!(raw.len(), 2016);
    let unchecked = UncheckedHeaders::from_raw(&raw).expect("the bundled headers link");
    let base = base_state();

    let mut g = c.benchmark_group("btclightclient");
    g.throughput(Throughput::Elements(raw.len() as u64));
    g.sample_size(20);
    g.bench_function("insert_headers/2016_mainnet", |b| {
        b.iter_batched(
            || base.clone(),
            |mut s| {
                let change = insert_headers(&mut s, &unchecked).expect("real headers insert");
                events::emit_tip_change(&mut s, &change);
                assert_eq!(change.new_tip.height, 824_544);
                s
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("decode_and_link/2016_mainnet", |b| {
        b.iter(|| UncheckedHeaders::from_raw(&raw).expect("the bundled headers link"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
