//! Costs of the restaking state machine core:
//!
//! - `restaking_core/bond_native`: one `MsgBondNative` (funds moved, position settled, power
//!   and total updated) on a state with 100 operators;
//! - `restaking_core/end_epoch_100_operators_10k_positions`: an epoch's end with 100 validating
//!   operators and 10,000 bonded positions: the power snapshot, the distribution of the epoch's
//!   fees (lazy: per operator, not per position), the new hub set and its updates;
//! - `restaking_core/withdraw_rewards_all`: `MsgWithdrawRewards` for a delegator with positions
//!   at 10 operators.
//!
//! Run: `cargo bench -p ballast-restaking --bench power_epoch`.

#![allow(clippy::unwrap_used)] // Bench setup: a failure should stop the run.

use ballast_accounts::{bank, fee_collector, Coin, Coins};
use ballast_framework::{Address, BlockContext, MemState};
use ballast_restaking::operator::{self, Description, OperatorRegistration};
use ballast_restaking::{end_epoch, native, params, rewards, OperatorId, Params, BOND_DENOM};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::hint::black_box;

const OPERATORS: usize = 100;
const POSITIONS: usize = 10_000;

fn ubal(amount: u128) -> Coins {
    Coins::from_proto(&[Coin {
        denom: BOND_DENOM.into(),
        amount,
    }
    .to_proto()])
    .unwrap()
}

fn delegator(i: usize) -> Address {
    let mut a = [0u8; 20];
    a[..8].copy_from_slice(&(i as u64).to_be_bytes());
    a[19] = 1;
    Address(a)
}

fn operator_id(i: usize) -> (OperatorId, secp256k1::SecretKey) {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    let sk = secp256k1::SecretKey::from_slice(&seed).unwrap();
    (OperatorId::from_secret_key(&sk), sk)
}

/// 100 operators with consensus keys; `positions` delegators bonded round-robin.
fn world(positions: usize) -> (MemState, Vec<OperatorId>) {
    let mut s = MemState::new();
    ballast_accounts::GenesisState::default()
        .apply(&mut s)
        .unwrap();
    params::store(&mut s, &Params::default()).unwrap();
    let mut ids = Vec::new();
    for i in 0..OPERATORS {
        let (id, _) = operator_id(i);
        let mut seed = [9u8; 32];
        seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let reg = OperatorRegistration {
            owner: Address([0xaa; 20]),
            id,
            consensus_pubkey: Some(
                ed25519_consensus::SigningKey::from(seed)
                    .verification_key()
                    .to_bytes(),
            ),
            commission: "0.05".parse().unwrap(),
            description: Description {
                moniker: format!("op{i}"),
                ..Description::default()
            },
        };
        operator::register(&mut s, &reg, 1).unwrap();
        ids.push(id);
    }
    for p in 0..positions {
        let d = delegator(p);
        let amount = 1_000_000 * (1 + (p % 7) as u128);
        bank::mint(&mut s, &d, &ubal(amount)).unwrap();
        native::bond(&mut s, &d, &ids[p % OPERATORS], amount).unwrap();
    }
    s.take_events();
    (s, ids)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("restaking_core");
    g.sample_size(10);

    let (base, ids) = world(1_000);
    let d = Address([0x77; 20]);
    let mut funded = base.clone();
    bank::mint(&mut funded, &d, &ubal(10_000_000)).unwrap();
    g.bench_function("bond_native", |b| {
        b.iter_batched(
            || funded.clone(),
            |mut s| {
                native::bond(&mut s, &d, black_box(&ids[42]), 1_000_000).unwrap();
                // Returned, so that dropping the state is not timed.
                s
            },
            BatchSize::LargeInput,
        )
    });

    let (mut big, ids) = world(POSITIONS);
    bank::mint(&mut big, &fee_collector(), &ubal(123_456_789)).unwrap();
    let ctx = BlockContext {
        height: 10,
        ..BlockContext::default()
    };
    g.bench_function("end_epoch_100_operators_10k_positions", |b| {
        b.iter_batched(
            || big.clone(),
            |mut s| {
                end_epoch(&mut s, &ctx, 1).unwrap();
                s
            },
            BatchSize::LargeInput,
        )
    });

    // One delegator with positions at 10 operators, after a distribution.
    let mut rich = base.clone();
    bank::mint(&mut rich, &d, &ubal(10_000_000)).unwrap();
    for id in ids.iter().take(10) {
        native::bond(&mut rich, &d, id, 1_000_000).unwrap();
    }
    bank::mint(&mut rich, &fee_collector(), &ubal(1_000_000)).unwrap();
    end_epoch(&mut rich, &ctx, 1).unwrap();
    g.bench_function("withdraw_rewards_all", |b| {
        b.iter_batched(
            || rich.clone(),
            |mut s| {
                rewards::withdraw(&mut s, black_box(&d), None).unwrap();
                s
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
