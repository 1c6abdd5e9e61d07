//! Random transfers over several blocks, checked against an independent reference model.
//!
//! The model is a plain map of balances, per-account (number, sequence, has-key) records and the
//! fees collected. It knows the rules from the protocol, not from the app: the stateless checks
//! (a positive amount that fits in 128 bits, fee >= ceil(0.025 x gas)), the ante step (the
//! signer exists, its sequence and account number match, it can pay the fee; then the sequence
//! advances and the fee moves to the fee collector) and MsgSend (all or nothing; a new recipient
//! gets the next account number).
//!
//! Each case funds five accounts plus a "whale" whose balance brings the genesis supply to within
//! a million ubal of `u128::MAX`, so near-`u128::MAX` amounts really move and any unchecked sum
//! would wrap. The operations: valid sends, sends of everything but the fee, sends of more than the balance,
//! sends of amounts near `u128::MAX`, sends to (and later from) never-seen addresses, txs with a
//! wrong sequence, replays of earlier txs, txs with too low a fee and amounts beyond 128 bits.
//!
//! Per tx: the CheckTx code (ante only, on the mempool state) and the FinalizeBlock code match the
//! model; stateless failures never reach a block, and a block carrying one is rejected by
//! ProcessProposal; gas used never exceeds gas wanted. After every block: every balance (ABCI
//! `Query/Balance` and the committed snapshot), every account record, the number of account and
//! balance records, the supply (`Query/SupplyOf` and the snapshot) and the sum of all balances
//! match the model, and the supply equals the genesis total exactly.

#![allow(
    clippy::unwrap_used,
    reason = "helpers of a test: a failed unwrap is a test failure"
)]

use ballast_accounts::{fee_collector, state_key, AccountsRead};
use ballast_app::{App, AppConfig};
use ballast_framework::{Address, StateRead};
use ballast_tests::consensus::MockConsensus;
use ballast_tests::driver::{Abci, InProcess};
use ballast_tests::keys::{msg_send, TestAccount, TxSpec};
use ballast_tests::{genesis_app_state, CHAIN_ID};
use cosmrs::proto::cosmos::bank::v1beta1::{
    QueryBalanceRequest, QueryBalanceResponse, QuerySupplyOfRequest, QuerySupplyOfResponse,
};
use proptest::prelude::*;
use proptest::sample::Index;
use prost::Message;
use std::collections::BTreeMap;
use tendermint_proto::google::protobuf::Timestamp;
use tendermint_proto::v0_38::abci as pb;

const DENOM: &str = "ubal";
/// `TxSpec::send`'s gas limit.
const GAS_LIMIT: u64 = 200_000;
/// ceil(0.025 ubal/gas x 200_000 gas), the default minimum fee for `GAS_LIMIT`.
const MIN_FEE: u128 = 5_000;
/// Funded genesis accounts besides the whale.
const SMALL_ACCOUNTS: usize = 5;
/// Keys with no genesis account: they first receive funds, then send.
const FRESH_KEYS: usize = 4;
/// 2^128, one more than a `u128` holds.
const BEYOND_U128: &str = "340282366920938463463374607431768211456";

/// A result code: codespace and code ("" and 0 on success).
type Code = (&'static str, u32);
const OK: Code = ("", 0);
const INSUFFICIENT_FUNDS: Code = ("sdk", 5);
const UNAUTHORIZED: Code = ("sdk", 4);
const UNKNOWN_ADDRESS: Code = ("sdk", 9);
const INVALID_COINS: Code = ("sdk", 10);
const INSUFFICIENT_FEE: Code = ("sdk", 13);
const WRONG_SEQUENCE: Code = ("sdk", 32);
const BALANCE_OVERFLOW: Code = ("accounts", 2);

#[derive(Clone, Debug, PartialEq, Eq)]
struct ModelAccount {
    number: u64,
    sequence: u64,
    has_pubkey: bool,
}

/// What a signed tx says, as the model reads it.
#[derive(Clone, Debug)]
struct TxDesc {
    from: Address,
    to: Address,
    amount: String,
    fee: u128,
    sequence: u64,
    account_number: u64,
}

#[derive(Clone, Debug)]
struct Model {
    accounts: BTreeMap<Address, ModelAccount>,
    /// Non-zero balances only (the app deletes zero balances).
    balances: BTreeMap<Address, u128>,
    next_number: u64,
    fees: u128,
}

impl Model {
    fn genesis(funded: &[(Address, u128)]) -> Self {
        let mut m = Model {
            accounts: BTreeMap::new(),
            balances: BTreeMap::new(),
            next_number: 0,
            fees: 0,
        };
        // The fee collector is created first, then the genesis accounts in order.
        m.create(fee_collector());
        for (a, amount) in funded {
            m.create(*a);
            m.set_balance(*a, *amount);
        }
        m
    }

    fn create(&mut self, a: Address) {
        let number = self.next_number;
        self.next_number += 1;
        self.accounts.insert(
            a,
            ModelAccount {
                number,
                sequence: 0,
                has_pubkey: false,
            },
        );
    }

    fn balance(&self, a: &Address) -> u128 {
        self.balances.get(a).copied().unwrap_or(0)
    }

    fn set_balance(&mut self, a: Address, v: u128) {
        if v == 0 {
            self.balances.remove(&a);
        } else {
            self.balances.insert(a, v);
        }
    }

    fn total(&self) -> u128 {
        self.balances
            .values()
            .try_fold(0u128, |s, v| s.checked_add(*v))
            .expect("the model's balances sum to at most the supply")
    }

    /// The checks that need no state; `Err` means no honest proposer includes the tx.
    fn stateless(tx: &TxDesc) -> Result<u128, Code> {
        let amount = match tx.amount.parse::<u128>() {
            Ok(a) if a > 0 => a,
            _ => return Err(INVALID_COINS),
        };
        if tx.fee < MIN_FEE {
            return Err(INSUFFICIENT_FEE);
        }
        Ok(amount)
    }

    /// Signer checks and fee; all or nothing.
    fn ante(&mut self, tx: &TxDesc) -> Result<(), Code> {
        let acc = self.accounts.get(&tx.from).ok_or(UNKNOWN_ADDRESS)?;
        if tx.sequence != acc.sequence {
            return Err(WRONG_SEQUENCE);
        }
        if tx.account_number != acc.number {
            return Err(UNAUTHORIZED);
        }
        let left = self
            .balance(&tx.from)
            .checked_sub(tx.fee)
            .ok_or(INSUFFICIENT_FUNDS)?;
        let fc = fee_collector();
        let collected = self
            .balance(&fc)
            .checked_add(tx.fee)
            .ok_or(BALANCE_OVERFLOW)?;
        let acc = self.accounts.get_mut(&tx.from).expect("checked above");
        acc.sequence += 1;
        acc.has_pubkey = true;
        self.set_balance(tx.from, left);
        self.set_balance(fc, collected);
        self.fees += tx.fee;
        Ok(())
    }

    /// MsgSend; all or nothing.
    fn send(&mut self, from: Address, to: Address, amount: u128) -> Code {
        let Some(left) = self.balance(&from).checked_sub(amount) else {
            return INSUFFICIENT_FUNDS;
        };
        let to_before = if to == from { left } else { self.balance(&to) };
        let Some(to_after) = to_before.checked_add(amount) else {
            return BALANCE_OVERFLOW;
        };
        self.set_balance(from, left);
        if !self.accounts.contains_key(&to) {
            self.create(to);
        }
        self.set_balance(to, to_after);
        OK
    }

    /// CheckTx: stateless checks and ante.
    fn check(&mut self, tx: &TxDesc) -> Code {
        match Self::stateless(tx).and_then(|_| self.ante(tx)) {
            Ok(()) => OK,
            Err(c) => c,
        }
    }

    /// FinalizeBlock of one tx: `Err` if the tx fails the stateless checks (it never reaches
    /// a block), else its result code. Ante effects stay even if the message fails.
    fn deliver(&mut self, tx: &TxDesc) -> Result<Code, Code> {
        let amount = Self::stateless(tx)?;
        if let Err(c) = self.ante(tx) {
            return Ok(c);
        }
        Ok(self.send(tx.from, tx.to, amount))
    }
}

#[derive(Clone, Debug)]
enum Kind {
    /// A modest amount.
    Send { amount: u128 },
    /// Everything but the fee and `keep`.
    AllButFee { keep: u128 },
    /// One more than the balance left after the fee, plus `extra`.
    Overdraw { extra: u128 },
    /// `u128::MAX - sub`.
    NearMax { sub: u128 },
    /// The sequence off by `delta`.
    WrongSequence { delta: u64, back: bool },
    /// A fee below the minimum.
    LowFee { fee: u128 },
    /// 2^128 in the amount field.
    AmountBeyondU128,
    /// The exact bytes of an earlier tx again.
    Replay { pick: Index },
}

#[derive(Clone, Debug)]
struct Op {
    /// Mostly a genesis account (which can pay), sometimes any key, fresh ones included.
    from_any: bool,
    from: Index,
    to: Index,
    fee_extra: u128,
    kind: Kind,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        6 => (1u128..=2_000_000).prop_map(|amount| Kind::Send { amount }),
        2 => (0u128..3).prop_map(|keep| Kind::AllButFee { keep }),
        2 => (0u128..1_000).prop_map(|extra| Kind::Overdraw { extra }),
        2 => (0u128..2_000_000).prop_map(|sub| Kind::NearMax { sub }),
        2 => (1u64..4, any::<bool>()).prop_map(|(delta, back)| Kind::WrongSequence { delta, back }),
        1 => prop_oneof![Just(MIN_FEE - 1), 1u128..MIN_FEE].prop_map(|fee| Kind::LowFee { fee }),
        1 => Just(Kind::AmountBeyondU128),
        2 => any::<Index>().prop_map(|pick| Kind::Replay { pick }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    (
        prop::bool::weighted(0.3),
        any::<Index>(),
        any::<Index>(),
        prop_oneof![3 => Just(0u128), 1 => 1u128..5_000],
        kind(),
    )
        .prop_map(|(from_any, from, to, fee_extra, kind)| Op {
            from_any,
            from,
            to,
            fee_extra,
            kind,
        })
}

/// Builds and signs the tx an op describes, from what the sender's wallet knows (the model).
fn build(
    op: &Op,
    model: &Model,
    keys: &[TestAccount],
    history: &[(Vec<u8>, TxDesc)],
) -> (Vec<u8>, TxDesc) {
    if let Kind::Replay { pick } = &op.kind {
        if !history.is_empty() {
            return history[pick.index(history.len())].clone();
        }
    }
    let senders = if op.from_any {
        keys.len()
    } else {
        SMALL_ACCOUNTS + 1
    };
    let from = &keys[op.from.index(senders)];
    let to = keys[op.to.index(keys.len())].address;
    let fee = MIN_FEE + op.fee_extra;
    let sequence = model.accounts.get(&from.address).map_or(0, |a| a.sequence);
    let spendable = model.balance(&from.address).saturating_sub(fee);
    let mut spec = TxSpec::send(from, &to, 1, sequence);
    spec.fee = fee;
    let amount = match &op.kind {
        Kind::Send { amount } => amount.to_string(),
        Kind::AllButFee { keep } => spendable.saturating_sub(*keep).max(1).to_string(),
        Kind::Overdraw { extra } => spendable
            .saturating_add(1)
            .saturating_add(*extra)
            .to_string(),
        Kind::NearMax { sub } => (u128::MAX - sub).to_string(),
        Kind::WrongSequence { delta, back } => {
            spec.sequence = if *back && sequence >= *delta {
                sequence - delta
            } else {
                sequence + delta
            };
            "1".to_string()
        }
        Kind::LowFee { fee } => {
            spec.fee = *fee;
            "1".to_string()
        }
        Kind::AmountBeyondU128 => BEYOND_U128.to_string(),
        Kind::Replay { .. } => "1".to_string(),
    };
    spec.msgs = vec![msg_send(&from.address, &to, &amount)];
    assert_eq!(spec.gas_limit, GAS_LIMIT);
    let desc = TxDesc {
        from: from.address,
        to,
        amount,
        fee: spec.fee,
        sequence: spec.sequence,
        account_number: spec.account_number,
    };
    (spec.sign(from), desc)
}

fn query(node: &mut InProcess, path: &str, data: Vec<u8>) -> Vec<u8> {
    let resp = node
        .query(pb::RequestQuery {
            data: data.into(),
            path: path.into(),
            height: 0,
            prove: false,
        })
        .unwrap();
    assert_eq!(resp.code, 0, "{path}: {}", resp.log);
    resp.value.to_vec()
}

fn query_balance(node: &mut InProcess, addr: &Address) -> u128 {
    let req = QueryBalanceRequest {
        address: addr.to_string(),
        denom: DENOM.into(),
    };
    let value = query(
        node,
        "/cosmos.bank.v1beta1.Query/Balance",
        req.encode_to_vec(),
    );
    let coin = QueryBalanceResponse::decode(value.as_slice())
        .unwrap()
        .balance
        .unwrap();
    assert_eq!(coin.denom, DENOM);
    coin.amount.parse().unwrap()
}

fn query_supply(node: &mut InProcess) -> u128 {
    let req = QuerySupplyOfRequest {
        denom: DENOM.into(),
    };
    let value = query(
        node,
        "/cosmos.bank.v1beta1.Query/SupplyOf",
        req.encode_to_vec(),
    );
    QuerySupplyOfResponse::decode(value.as_slice())
        .unwrap()
        .amount
        .unwrap()
        .amount
        .parse()
        .unwrap()
}

/// The committed state matches the model exactly, and the supply is the genesis total.
fn check_state(
    node: &mut InProcess,
    model: &Model,
    keys: &[TestAccount],
    genesis_total: u128,
    height: u64,
) {
    assert_eq!(model.total(), genesis_total, "the model conserves supply");
    assert_eq!(model.balance(&fee_collector()), model.fees);
    let snap = node.0.storage().latest_snapshot().unwrap().unwrap();
    assert_eq!(snap.version(), height);
    let addrs: Vec<Address> = keys
        .iter()
        .map(|k| k.address)
        .chain([fee_collector()])
        .collect();
    let mut sum = 0u128;
    for a in &addrs {
        let queried = query_balance(node, a);
        assert_eq!(
            queried,
            model.balance(a),
            "balance of {a} at height {height}"
        );
        assert_eq!(snap.balance(a, DENOM).unwrap(), queried);
        sum = sum
            .checked_add(queried)
            .expect("balances sum past u128::MAX: more coins than the supply");
        let acc = snap.account(a).unwrap().map(|acc| ModelAccount {
            number: acc.account_number,
            sequence: acc.sequence,
            has_pubkey: acc.pubkey.is_some(),
        });
        assert_eq!(
            acc.as_ref(),
            model.accounts.get(a),
            "account {a} at height {height}"
        );
    }
    assert_eq!(sum, genesis_total, "sum of balances at height {height}");
    assert_eq!(query_supply(node), genesis_total, "SupplyOf at {height}");
    assert_eq!(snap.supply(DENOM).unwrap(), genesis_total);
    // Nothing exists beyond what the model knows: no stray accounts or balances.
    let records = |prefix: &str| {
        snap.prefix_raw(prefix.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .len()
    };
    assert_eq!(
        records(state_key::accounts_prefix()),
        model.accounts.len(),
        "account records at height {height}"
    );
    assert_eq!(
        records("accounts/balance/"),
        model.balances.len(),
        "balance records at height {height}"
    );
}

fn run(small: &[u128], slack: u128, blocks: &[Vec<Op>]) {
    let dir = tempfile::tempdir().unwrap();
    let mut keys = TestAccount::many(SMALL_ACCOUNTS + 1);
    // The whale brings the total to u128::MAX - slack.
    let small_total: u128 = small.iter().sum();
    let whale = u128::MAX - small_total - slack;
    let funded: Vec<(Address, u128)> = keys
        .iter()
        .zip(small.iter().copied().chain([whale]))
        .map(|(k, a)| (k.address, a))
        .collect();
    let genesis_total = u128::MAX - slack;
    let mut app_state = genesis_app_state(&keys, 1);
    for (entry, (_, amount)) in app_state["accounts"]["accounts"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip(&funded)
    {
        entry["coins"][0]["amount"] = serde_json::Value::String(amount.to_string());
    }
    let fresh_first = keys.len();
    keys.extend((0..FRESH_KEYS).map(|i| TestAccount::new(1_000 + i as u64, 0)));

    let mut model = Model::genesis(&funded);
    for k in &keys[..fresh_first] {
        assert_eq!(k.account_number, model.accounts[&k.address].number);
    }
    let mut cons = MockConsensus::new(CHAIN_ID, 4, app_state);
    let mut node = InProcess(App::open(AppConfig::new(dir.path())).unwrap());
    cons.handshake(&mut node).unwrap();

    let mut history: Vec<(Vec<u8>, TxDesc)> = Vec::new();
    for (b, ops) in blocks.iter().enumerate() {
        let height = b as u64 + 1;
        // CheckTx runs ante on the mempool state, which starts at the last commit.
        let mut mempool = model.clone();
        let mut txs = Vec::new();
        let mut want_check = Vec::new();
        let mut want_block_txs = Vec::new();
        let mut want_results = Vec::new();
        let mut stateless_rejects = Vec::new();
        for op in ops {
            let (bytes, desc) = build(op, &model, &keys, &history);
            want_check.push(mempool.check(&desc));
            match model.deliver(&desc) {
                Ok(code) => {
                    want_block_txs.push(bytes.clone());
                    want_results.push((code, desc.clone()));
                }
                Err(_) => stateless_rejects.push(bytes.clone()),
            }
            // A fresh key learns its account number once the model has created its account.
            for k in keys[fresh_first..].iter_mut() {
                if let Some(acc) = model.accounts.get(&k.address) {
                    k.account_number = acc.number;
                }
            }
            history.push((bytes.clone(), desc));
            txs.push(bytes);
        }

        let checks = MockConsensus::check_txs(&mut node, &txs).unwrap();
        for (i, (c, want)) in checks.iter().zip(&want_check).enumerate() {
            assert_eq!(
                (c.codespace.as_str(), c.code),
                *want,
                "CheckTx of tx {i} at height {height}: {}",
                c.log
            );
            assert!(c.gas_used <= c.gas_wanted);
        }

        if !stateless_rejects.is_empty() {
            // A proposal carrying a tx that fails the stateless checks is rejected.
            let proposer = cons.validators[(height as usize) % cons.validators.len()];
            let accepted = node
                .process_proposal(pb::RequestProcessProposal {
                    txs: txs.iter().map(|t| t.clone().into()).collect(),
                    proposed_last_commit: None,
                    misbehavior: Vec::new(),
                    hash: vec![7u8; 32].into(),
                    height: height as i64,
                    time: Some(Timestamp {
                        seconds: 1_700_000_000 + height as i64 * 5,
                        nanos: 0,
                    }),
                    next_validators_hash: vec![0u8; 32].into(),
                    proposer_address: proposer.to_vec().into(),
                })
                .unwrap();
            assert!(!accepted, "a proposal with an invalid tx was accepted");
        }

        let (block, left) = cons.produce_block(&mut [&mut node], txs).unwrap();
        assert_eq!(block.height as u64, height);
        assert!(
            block.txs == want_block_txs,
            "the proposer keeps exactly the txs that pass the stateless checks, in order"
        );
        assert!(
            left.is_empty(),
            "txs failing the stateless checks do not survive the recheck"
        );
        for (i, (r, (want, desc))) in block.tx_results.iter().zip(&want_results).enumerate() {
            assert_eq!(
                (r.codespace.as_str(), r.code),
                *want,
                "result of tx {i} at height {height} ({desc:?}): {}",
                r.log
            );
            assert_eq!(r.gas_wanted, GAS_LIMIT as i64);
            assert!(
                r.gas_used > 0 && r.gas_used <= r.gas_wanted,
                "gas used {} of {}",
                r.gas_used,
                r.gas_wanted
            );
            if r.code == 0 {
                assert!(r.events.iter().any(|e| e.r#type == "transfer"));
            }
        }
        check_state(&mut node, &model, &keys, genesis_total, height);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20, ..ProptestConfig::default() })]

    #[test]
    fn balances_are_conserved_under_random_transfers(
        small in prop::collection::vec(
            prop_oneof![1 => 1u128..20_000, 3 => 1_000_000u128..1_000_000_000_000],
            SMALL_ACCOUNTS,
        ),
        slack in prop_oneof![Just(0u128), 1u128..1_000_000],
        blocks in prop::collection::vec(prop::collection::vec(op(), 0..12), 3..7),
    ) {
        run(&small, slack, &blocks);
    }
}
