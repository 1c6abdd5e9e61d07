//! Random sequences of bonds, unbonds, BTC delegations starting and stopping to count, fees,
//! withdrawals, blocks and epoch ends, run against the restaking module and against a reference
//! model made of plain maps. After every step both agree on each operator's collateral and
//! power, each position's weight, the bonded and unbonding totals, every balance, and the hub
//! validator set; and the module account holds exactly the bonded and unbonding ubal plus the
//! rewards it owes.

// Test code: a failing step should stop the case on the spot.
#![allow(clippy::unwrap_used)]

use ballast_accounts::genesis::{GenesisAccount, GenesisCoin};
use ballast_accounts::{bank, fee_collector, AccountsRead, Coin, Coins};
use ballast_framework::{Address, BlockContext, ErrorCode, MemState, Module, TxError};
use ballast_restaking::{
    adjust_collateral, genesis_operator, module_account, native, rewards, take_validator_updates,
    CollateralChange, GenesisState, OperatorId, Params, PowerTableRead, RestakingModule,
    BOND_DENOM,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

const OPERATORS: usize = 5;
/// Operators with a consensus key (the last one has none).
const VALIDATING: usize = 4;
const DELEGATORS: usize = 4;
const START_BALANCE: u128 = 20_000_000;
const UNBONDING_EPOCHS: u64 = 2;
const UNBONDINGS_PER_BLOCK: usize = 1;
const MAX_VALIDATORS: usize = 3;

fn params() -> Params {
    Params {
        native_unbonding_epochs: UNBONDING_EPOCHS,
        max_unbondings_per_block: UNBONDINGS_PER_BLOCK as u32,
        max_validators: MAX_VALIDATORS as u32,
        ..Params::default()
    }
}

fn btc_sk(i: usize) -> secp256k1::SecretKey {
    secp256k1::SecretKey::from_slice(&[i as u8 + 1; 32]).expect("small constants are valid keys")
}

fn cons_pk(i: usize) -> [u8; 32] {
    ed25519_consensus::SigningKey::from([i as u8 + 1; 32])
        .verification_key()
        .to_bytes()
}

fn owner(i: usize) -> Address {
    Address([0xa0 + i as u8; 20])
}

fn delegator(i: usize) -> Address {
    Address([0x10 + i as u8; 20])
}

fn op_id(i: usize) -> OperatorId {
    OperatorId::from_secret_key(&btc_sk(i))
}

fn consensus_address(pk: &[u8; 32]) -> [u8; 20] {
    use sha2::Digest;
    let d = sha2::Sha256::digest(pk);
    let mut a = [0u8; 20];
    a.copy_from_slice(&d[..20]);
    a
}

#[derive(Clone, Debug)]
enum Op {
    Bond(usize, usize, u128),
    Unbond(usize, usize, u128),
    /// A BTC delegation of this many sat starts counting.
    Delegate(usize, usize, u64),
    /// A BTC delegation of this many sat stops counting.
    Expire(usize, usize, u64),
    Fees(u128),
    Withdraw(usize),
    EndBlock,
    EndEpoch,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let d = 0..DELEGATORS;
    let o = 0..OPERATORS;
    prop_oneof![
        3 => (d.clone(), o.clone(), 0u128..6_000_000).prop_map(|(d, o, a)| Op::Bond(d, o, a)),
        3 => (d.clone(), o.clone(), 0u128..4_000_000).prop_map(|(d, o, a)| Op::Unbond(d, o, a)),
        2 => (d.clone(), o.clone(), 0u64..80_000).prop_map(|(d, o, a)| Op::Delegate(d, o, a)),
        1 => (d.clone(), o.clone(), 0u64..80_000).prop_map(|(d, o, a)| Op::Expire(d, o, a)),
        1 => (0u128..5_000).prop_map(Op::Fees),
        1 => d.prop_map(Op::Withdraw),
        2 => Just(Op::EndBlock),
        2 => Just(Op::EndEpoch),
    ]
}

/// The reference model.
#[derive(Default)]
struct Model {
    native: BTreeMap<(usize, usize), u128>,
    btc: BTreeMap<(usize, usize), u64>,
    /// (completion epoch, id) → (delegator, amount).
    queue: BTreeMap<(u64, u64), (usize, u128)>,
    next_id: u64,
    balances: BTreeMap<usize, u128>,
    epoch: u64,
    /// CometBFT's view: consensus key → power, from genesis and the updates taken.
    comet: BTreeMap<[u8; 32], u64>,
}

impl Model {
    fn weight(native: u128, sat: u64) -> u64 {
        let p = params();
        (p.native_power_weight.mul_int_floor(native).unwrap()
            + p.btc_power_weight.mul_int_floor(u128::from(sat)).unwrap()) as u64
    }

    fn operator_totals(&self, o: usize) -> (u128, u64) {
        let n = self
            .native
            .iter()
            .filter(|((_, oo), _)| *oo == o)
            .map(|(_, a)| *a)
            .sum();
        let b = self
            .btc
            .iter()
            .filter(|((_, oo), _)| *oo == o)
            .map(|(_, a)| *a)
            .sum();
        (n, b)
    }

    fn power(&self, o: usize) -> u64 {
        let (n, b) = self.operator_totals(o);
        Self::weight(n, b)
    }

    fn hub_set(&self) -> Vec<([u8; 32], u64)> {
        let mut set: Vec<([u8; 32], u64)> = (0..VALIDATING)
            .map(|o| (cons_pk(o), self.power(o)))
            .filter(|(_, p)| *p >= 1)
            .collect();
        set.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then(consensus_address(&a.0).cmp(&consensus_address(&b.0)))
        });
        set.truncate(MAX_VALIDATORS);
        set
    }
}

struct World {
    state: MemState,
    model: Model,
    height: u64,
    minted_fees: u128,
}

fn coins(amount: u128) -> Coins {
    Coins::from_proto(&[Coin {
        denom: BOND_DENOM.into(),
        amount,
    }
    .to_proto()])
    .expect("a positive ubal amount")
}

fn setup() -> World {
    let mut state = MemState::new();
    // Owners start with 5 BAL each and self-bond 2 (operators 0 and 1) or nothing.
    let mut accounts: Vec<GenesisAccount> = (0..OPERATORS)
        .map(|o| GenesisAccount {
            address: owner(o).to_string(),
            coins: vec![GenesisCoin {
                denom: BOND_DENOM.into(),
                amount: "5000000".into(),
            }],
        })
        .collect();
    accounts.extend((0..DELEGATORS).map(|d| GenesisAccount {
        address: delegator(d).to_string(),
        coins: vec![GenesisCoin {
            denom: BOND_DENOM.into(),
            amount: START_BALANCE.to_string(),
        }],
    }));
    ballast_accounts::GenesisState {
        accounts,
        ..Default::default()
    }
    .apply(&mut state)
    .unwrap();
    let operators = (0..OPERATORS)
        .map(|o| {
            let bond = if o < 2 { 2_000_000 } else { 0 };
            let mut g =
                genesis_operator(&owner(o), &btc_sk(o), cons_pk(o), bond, &format!("op{o}"));
            if o >= VALIDATING {
                g.consensus_pubkey = String::new();
            }
            g
        })
        .collect();
    let gs = GenesisState {
        params: params(),
        operators,
    };
    let genesis = serde_json::to_value(&gs).unwrap();
    let ctx = BlockContext {
        height: 1,
        ..BlockContext::default()
    };
    RestakingModule
        .init_genesis(&mut state, &ctx, Some(&genesis))
        .unwrap();
    // Owners are delegators DELEGATORS.. in the model.
    let mut model = Model {
        epoch: 1,
        next_id: 1,
        ..Model::default()
    };
    for d in 0..DELEGATORS {
        model.balances.insert(d, START_BALANCE);
    }
    for o in 0..2 {
        model.native.insert((DELEGATORS + o, o), 2_000_000);
    }
    model.comet = state
        .hub_validators()
        .unwrap()
        .iter()
        .map(|v| (v.consensus_pubkey, v.power))
        .collect();
    World {
        state,
        model,
        height: 1,
        minted_fees: 0,
    }
}

fn code(e: TxError) -> (String, u32) {
    (e.codespace.to_string(), e.code)
}

impl World {
    fn ctx(&self) -> BlockContext {
        BlockContext {
            height: self.height,
            ..BlockContext::default()
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let ctx = self.ctx();
        let m = &mut self.model;
        match *op {
            Op::Bond(d, o, a) => {
                let r = native::bond(&mut self.state, &delegator(d), &op_id(o), a);
                let bal = m.balances[&d];
                if a == 0 {
                    prop_assert_eq!(r.map_err(|e| e.code()).err(), Some(9));
                } else if a > bal {
                    let e = TxError::from(r.unwrap_err());
                    prop_assert_eq!(code(e), ("sdk".to_string(), 5));
                } else {
                    r.map_err(|e| TestCaseError::fail(e.to_string()))?;
                    *m.balances.get_mut(&d).unwrap() -= a;
                    *m.native.entry((d, o)).or_default() += a;
                }
            }
            Op::Unbond(d, o, a) => {
                let r = native::unbond(&mut self.state, &delegator(d), &op_id(o), a);
                let held = m.native.get(&(d, o)).copied().unwrap_or(0);
                if a == 0 {
                    prop_assert_eq!(r.map_err(|e| e.code()).err(), Some(9));
                } else if a > held {
                    prop_assert_eq!(r.map_err(|e| e.code()).err(), Some(15));
                } else {
                    let u = r.map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(u.completion_epoch, m.epoch + UNBONDING_EPOCHS);
                    prop_assert_eq!(u.id, m.next_id);
                    m.queue.insert((u.completion_epoch, u.id), (d, a));
                    m.next_id += 1;
                    *m.native.get_mut(&(d, o)).unwrap() -= a;
                }
            }
            Op::Delegate(d, o, sat) => {
                let r = adjust_collateral(
                    &mut self.state,
                    &op_id(o),
                    &delegator(d),
                    CollateralChange::AddBtc(sat),
                );
                if sat == 0 {
                    prop_assert_eq!(r.map_err(|e| e.code()).err(), Some(9));
                } else {
                    let c = r.map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(c.old_power, m.power(o));
                    *m.btc.entry((d, o)).or_default() += sat;
                    prop_assert_eq!(c.new_power, m.power(o));
                }
            }
            Op::Expire(d, o, sat) => {
                let r = adjust_collateral(
                    &mut self.state,
                    &op_id(o),
                    &delegator(d),
                    CollateralChange::SubBtc(sat),
                );
                let held = m.btc.get(&(d, o)).copied().unwrap_or(0);
                if sat == 0 {
                    prop_assert_eq!(r.map_err(|e| e.code()).err(), Some(9));
                } else if sat > held {
                    prop_assert_eq!(r.map_err(|e| e.code()).err(), Some(15));
                } else {
                    r.map_err(|e| TestCaseError::fail(e.to_string()))?;
                    *m.btc.get_mut(&(d, o)).unwrap() -= sat;
                }
            }
            Op::Fees(a) => {
                if a > 0 {
                    bank::mint(&mut self.state, &fee_collector(), &coins(a)).unwrap();
                    self.minted_fees += a;
                }
            }
            Op::Withdraw(d) => {
                let pending = rewards::pending(&self.state, &delegator(d)).unwrap().total;
                let r = rewards::withdraw(&mut self.state, &delegator(d), None);
                if pending == 0 {
                    prop_assert_eq!(r.map_err(|e| e.code()).err(), Some(20));
                } else {
                    prop_assert_eq!(r.map_err(|e| TestCaseError::fail(e.to_string()))?, pending);
                    *m.balances.get_mut(&d).unwrap() += pending;
                }
            }
            Op::EndBlock => {
                RestakingModule
                    .end_block(&mut self.state, &ctx)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let due: Vec<(u64, u64)> = m
                    .queue
                    .keys()
                    .filter(|(c, _)| *c <= m.epoch)
                    .take(UNBONDINGS_PER_BLOCK)
                    .copied()
                    .collect();
                for k in due {
                    let (d, a) = m.queue.remove(&k).unwrap();
                    // Owners (delegator ids past DELEGATORS) never unbond here.
                    *m.balances.get_mut(&d).unwrap() += a;
                }
                self.height += 1;
            }
            Op::EndEpoch => {
                RestakingModule
                    .end_block(&mut self.state, &ctx)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let due: Vec<(u64, u64)> = m
                    .queue
                    .keys()
                    .filter(|(c, _)| *c <= m.epoch)
                    .take(UNBONDINGS_PER_BLOCK)
                    .copied()
                    .collect();
                for k in due {
                    let (d, a) = m.queue.remove(&k).unwrap();
                    *m.balances.get_mut(&d).unwrap() += a;
                }
                RestakingModule
                    .end_epoch(&mut self.state, &ctx, m.epoch)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let snap = self.state.power_snapshot(m.epoch).unwrap().unwrap();
                prop_assert_eq!(
                    snap.total_power,
                    (0..OPERATORS).map(|o| m.power(o)).sum::<u64>()
                );
                for u in take_validator_updates(&mut self.state).unwrap() {
                    if u.power == 0 {
                        prop_assert!(
                            m.comet.remove(&u.pubkey).is_some(),
                            "removal of a non-member"
                        );
                    } else {
                        m.comet.insert(u.pubkey, u.power);
                    }
                }
                m.epoch += 1;
                self.height += 1;
                // CometBFT, fed only the updates, holds exactly the model's set. (Operators 0
                // and 1 keep their owners' self-bonds, so the set never empties and the module
                // never has to keep a stale one.)
                prop_assert!(!m.comet.is_empty());
                let want: BTreeMap<[u8; 32], u64> = m.hub_set().into_iter().collect();
                prop_assert_eq!(&m.comet, &want);
                let got: Vec<([u8; 32], u64)> = self
                    .state
                    .hub_validators()
                    .unwrap()
                    .iter()
                    .map(|v| (v.consensus_pubkey, v.power))
                    .collect();
                prop_assert_eq!(got, m.hub_set());
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<(), TestCaseError> {
        let s = &self.state;
        let m = &self.model;
        prop_assert_eq!(s.current_epoch().unwrap(), m.epoch);
        let mut total = 0u64;
        for o in 0..OPERATORS {
            let p = s.operator_power(&op_id(o)).unwrap().unwrap();
            let (n, b) = m.operator_totals(o);
            prop_assert_eq!(
                (p.native_ubal, p.btc_sat, p.power),
                (n, b, m.power(o)),
                "operator {}",
                o
            );
            total += p.power;
        }
        prop_assert_eq!(s.total_power().unwrap(), total);
        for d in 0..DELEGATORS {
            for o in 0..OPERATORS {
                let n = m.native.get(&(d, o)).copied().unwrap_or(0);
                let b = m.btc.get(&(d, o)).copied().unwrap_or(0);
                let pos = s.position(&delegator(d), &op_id(o)).unwrap();
                let (pn, pb, pw) = pos
                    .map(|p| (p.native_ubal, p.btc_sat, p.weight))
                    .unwrap_or((0, 0, 0));
                prop_assert_eq!((pn, pb, pw), (n, b, Model::weight(n, b)));
            }
            prop_assert_eq!(
                s.balance(&delegator(d), BOND_DENOM).unwrap(),
                m.balances[&d]
            );
        }
        // Total bonded = module-held funds minus unbonding minus what it owes as rewards.
        let l = rewards::liabilities(s).unwrap();
        let bonded: u128 = m.native.values().sum();
        let unbonding: u128 = m.queue.values().map(|(_, a)| *a).sum();
        let held = s.balance(&module_account(), BOND_DENOM).unwrap();
        prop_assert_eq!(l.bonded, bonded);
        prop_assert_eq!(l.unbonding, unbonding);
        prop_assert_eq!(held - unbonding - l.rewards().unwrap(), bonded);
        // No ubal is created or lost: the supply is genesis plus the fees minted here.
        let mut accounts: Vec<Address> = (0..DELEGATORS).map(delegator).collect();
        accounts.extend((0..OPERATORS).map(owner));
        accounts.push(module_account());
        accounts.push(fee_collector());
        let sum: u128 = accounts
            .iter()
            .map(|a| s.balance(a, BOND_DENOM).unwrap())
            .sum();
        prop_assert_eq!(sum, s.supply(BOND_DENOM).unwrap());
        prop_assert_eq!(
            sum,
            START_BALANCE * DELEGATORS as u128 + 5_000_000 * OPERATORS as u128 + self.minted_fees
        );
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_power_table_and_the_funds_follow_the_reference_model(
        ops in proptest::collection::vec(op_strategy(), 1..120)
    ) {
        let mut w = setup();
        w.check()?;
        for op in &ops {
            w.apply(op)?;
            w.check()?;
        }
    }
}
