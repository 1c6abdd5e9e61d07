//! BTC delegations end to end on a MemState: the light client holds regtest headers mined here
//! (blocks with real Merkle trees over the staking and spending txs), the operator and the
//! covenant committee are the keys of `shared/vectors/btc-staking/local-3cov-q2.json`, and
//! every message goes through the wire path (`Any` → decode → execute on an overlay).
//!
//! The lifecycle (PENDING → VERIFIED → ACTIVE → UNBONDING → UNBONDED, and EXPIRED) is checked
//! with the power table, and every bad input asserts its exact code.

use super::testutil::*;
use crate::btc::scripts::{single_key_script, timelock_script, unspendable_key, StakingInfo};
use crate::btc::sign::sign_leaf;
use crate::delegation::state_key;
use crate::delegation::types::{inclusion_proof_to_proto, DelegationStatus, StakingTxid};
use crate::delegation::BtcDelegationRead;
use crate::operator;
use crate::{PowerTableRead, RestakingError};
use ballast_framework::{ErrorCode, StateRead, TxError};
use ballast_proto::ballast::restaking::v1 as pb;
use bitcoin::blockdata::opcodes::all::{OP_CHECKSIG, OP_CHECKSIGADD, OP_NUMEQUAL};
use bitcoin::script::Builder;
use bitcoin::secp256k1::{SecretKey, XOnlyPublicKey, SECP256K1};
use bitcoin::taproot::TaprootBuilder;
use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, TxOut, Witness};
use prost::Message;

/// The code of a failed message, checking the codespace: `restaking` for every delegation
/// failure (the sdk codes have their own tests).
#[track_caller]
fn code(r: Result<(), TxError>) -> u32 {
    let e = r.expect_err("the message must fail");
    assert_eq!(e.codespace, "restaking", "{e:?}");
    assert!(!e.fatal, "{e:?}");
    e.code
}

fn status(env: &Env, t: &StakingTxid) -> DelegationStatus {
    env.get(t).status
}

const VALUE: u64 = 500_000;
const TIME: u32 = 1_000;
/// Power of VALUE sat at the default weight (1 power per 10,000 sat).
const POWER: u64 = 50;

fn queue_len(env: &Env) -> usize {
    env.s
        .prefix_raw(state_key::queue_prefix().as_bytes())
        .count()
}

// ---- lifecycle --------------------------------------------------------------------------------

#[test]
fn delegation_goes_pending_verified_active_and_adds_power() {
    let mut env = Env::new();
    let d = env.draft(VALUE, TIME, 1);
    let t = d.txid();
    env.create(&d.msg()).unwrap();
    let stored = env.get(&t);
    assert_eq!(stored.status, DelegationStatus::Pending);
    assert_eq!(stored.created_height, 10);
    assert_eq!(stored.staker_addr, STAKER);
    assert_eq!(stored.covenant_quorum, 2);
    assert_eq!(stored.unbonding_time, 200);
    assert_eq!(stored.covenant_pks.len(), 3);
    assert_eq!(stored.inclusion, None);
    let events = env.s.take_events();
    assert!(events
        .iter()
        .any(|e| e.kind == "restaking.btc_delegation_created"
            && e.get("staking_txid") == Some(&t.to_string())));
    assert_eq!(env.power(), (0, 0));

    // One covenant signature: still PENDING.
    let m = covenant_msg(&env.get(&t), &env.keys.covenants[0].clone());
    env.cov(&m).unwrap();
    assert_eq!(status(&env, &t), DelegationStatus::Pending);
    assert_eq!(env.get(&t).covenant_sigs.len(), 1);
    // The second completes the quorum: VERIFIED, no power yet (not proven).
    let m = covenant_msg(&env.get(&t), &env.keys.covenants[2].clone());
    env.cov(&m).unwrap();
    assert_eq!(status(&env, &t), DelegationStatus::Verified);
    assert_eq!(env.power(), (0, 0));

    // The staking tx in block 1: too shallow until 3 blocks are on top (k = 3).
    let (block, proofs) = env.mine(std::slice::from_ref(&d.staking_tx));
    assert_eq!(code(env.prove(&t, &proofs[0])), 57);
    env.mine_empty(2);
    assert_eq!(code(env.prove(&t, &proofs[0])), 57);
    env.mine_empty(1);
    env.s.take_events();
    env.prove(&t, &proofs[0]).unwrap();
    let stored = env.get(&t);
    assert_eq!(stored.status, DelegationStatus::Active);
    let inc = stored.inclusion.expect("proven");
    assert_eq!(
        (inc.block_hash, inc.start_height, inc.end_height),
        (block, 1, 1 + 1000)
    );
    assert_eq!(env.power(), (VALUE, POWER));
    let pos = env.s.position(&STAKER, &env.op).unwrap().expect("position");
    assert_eq!((pos.btc_sat, pos.weight), (VALUE, POWER));
    let events = env.s.take_events();
    let moved = events
        .iter()
        .find(|e| e.kind == "restaking.btc_delegation_status")
        .expect("status event");
    assert_eq!(moved.get("from"), Some("VERIFIED"));
    assert_eq!(moved.get("to"), Some("ACTIVE"));
    assert_eq!(moved.get("btc_height"), Some("4"));
    // It waits in the time queue at its expiry height (end − unbonding time).
    assert!(env
        .s
        .get_raw(state_key::queue(1001 - 200, &t).as_bytes())
        .unwrap()
        .is_some());
    // And in the status index.
    assert_eq!(
        env.s
            .btc_delegations_of_operator(&env.op, Some(DelegationStatus::Active))
            .unwrap(),
        vec![t]
    );
}

#[test]
fn a_proof_given_at_creation_activates_the_delegation_when_the_quorum_signs() {
    let mut env = Env::new();
    let mut d = env.draft(VALUE, TIME, 2);
    let t = d.txid();
    let (_, proofs) = env.mine(std::slice::from_ref(&d.staking_tx));
    env.mine_empty(3);
    d.proof = Some(proofs[0].clone());
    env.create(&d.msg()).unwrap();
    let stored = env.get(&t);
    assert_eq!(stored.status, DelegationStatus::Pending);
    assert_eq!(stored.inclusion.map(|i| i.start_height), Some(1));
    // A second proof is refused: the first is on the best chain.
    assert_eq!(code(env.prove(&t, &proofs[0])), 58);
    env.sign_as(&t, 0);
    assert_eq!(status(&env, &t), DelegationStatus::Pending);
    assert_eq!(env.power(), (0, 0));
    env.sign_as(&t, 1);
    assert_eq!(status(&env, &t), DelegationStatus::Active);
    assert_eq!(env.power(), (VALUE, POWER));
    // A third member may still add its signatures to the active delegation.
    let m = covenant_msg(&env.get(&t), &env.keys.covenants[2].clone());
    env.cov(&m).unwrap();
    assert_eq!(env.get(&t).covenant_sigs.len(), 3);
    assert_eq!(status(&env, &t), DelegationStatus::Active);
}

#[test]
fn undelegation_unbonds_removes_power_and_ends_after_the_unbonding_time() {
    let mut env = Env::new();
    let t = env.active(VALUE, TIME, 3);
    assert_eq!(env.power(), (VALUE, POWER));
    let tip = env.tip().0;
    let m = undelegate_msg(&env.get(&t), &env.keys.staker.clone());
    env.send("/ballast.restaking.v1.MsgBtcUndelegate", &m)
        .unwrap();
    let stored = env.get(&t);
    assert_eq!(stored.status, DelegationStatus::Unbonding);
    assert_eq!(stored.unbonding_btc_height, tip);
    assert!(stored.spend_tx.is_some());
    assert_eq!(env.power(), (0, 0));
    // A replay is refused with its own code.
    assert_eq!(
        code(env.send("/ballast.restaking.v1.MsgBtcUndelegate", &m)),
        63
    );
    // Its expiry entry left the queue; its unbonded entry is at tip + 200.
    assert_eq!(queue_len(&env), 1);
    assert!(env
        .s
        .get_raw(state_key::queue(tip + 200, &t).as_bytes())
        .unwrap()
        .is_some());

    env.mine_to(tip + 199);
    assert!(env.end_block().is_empty());
    assert_eq!(status(&env, &t), DelegationStatus::Unbonding);
    env.mine_to(tip + 200);
    let moved = env.end_block();
    assert_eq!(moved.len(), 1);
    assert_eq!(
        (moved[0].from, moved[0].to),
        (DelegationStatus::Unbonding, DelegationStatus::Unbonded)
    );
    assert_eq!(moved[0].power, None);
    assert_eq!(status(&env, &t), DelegationStatus::Unbonded);
    assert_eq!(queue_len(&env), 0);
    assert_eq!(env.power(), (0, 0));
    // Nothing more to undelegate.
    assert_eq!(
        code(env.send("/ballast.restaking.v1.MsgBtcUndelegate", &m)),
        62
    );
}

#[test]
fn a_pending_delegation_can_be_undelegated_without_touching_power() {
    let mut env = Env::new();
    let d = env.draft(VALUE, TIME, 4);
    env.create(&d.msg()).unwrap();
    let m = undelegate_msg(&env.get(&d.txid()), &env.keys.staker.clone());
    env.send("/ballast.restaking.v1.MsgBtcUndelegate", &m)
        .unwrap();
    assert_eq!(status(&env, &d.txid()), DelegationStatus::Unbonding);
    assert_eq!(env.power(), (0, 0));
    // Covenant signatures no longer apply.
    let m = covenant_msg(&env.get(&d.txid()), &env.keys.covenants[0].clone());
    assert_eq!(code(env.cov(&m)), 62);
}

fn spend_of(outpoint: OutPoint) -> Transaction {
    let mut tx = staking_tx_with(
        TxOut {
            value: Amount::from_sat(400_000),
            script_pubkey: ScriptBuf::new_op_return([7u8; 8]),
        },
        99,
    );
    tx.input[0].previous_output = outpoint;
    tx
}

#[test]
fn a_proven_spend_of_the_staking_output_unbonds_the_delegation() {
    let mut env = Env::new();
    let t = env.active(VALUE, TIME, 5);
    let outpoint = env.get(&t).staking_outpoint();
    let spend = spend_of(outpoint);
    let (_, proofs) = env.mine(std::slice::from_ref(&spend));
    let report =
        |tx: &Transaction, p: &ballast_btclightclient::TxInclusionProof| pb::MsgReportBtcSpend {
            signer: RELAYER.to_string(),
            staking_txid: t.to_string(),
            spend_tx: bitcoin::consensus::serialize(tx),
            proof: Some(inclusion_proof_to_proto(p)),
        };
    // A tx that spends something else.
    let other = spend_of(OutPoint::new(outpoint.txid, 1));
    assert_eq!(
        code(env.send(
            "/ballast.restaking.v1.MsgReportBtcSpend",
            &report(&other, &proofs[0])
        )),
        66
    );
    // The right tx with a proof of another position in the block.
    let mut wrong = proofs[0].clone();
    wrong.index = 0;
    assert_eq!(
        code(env.send(
            "/ballast.restaking.v1.MsgReportBtcSpend",
            &report(&spend, &wrong)
        )),
        55
    );
    // At depth 0 on the best chain: accepted at once.
    env.send(
        "/ballast.restaking.v1.MsgReportBtcSpend",
        &report(&spend, &proofs[0]),
    )
    .unwrap();
    let stored = env.get(&t);
    assert_eq!(stored.status, DelegationStatus::Unbonding);
    assert_eq!(stored.spend_tx, Some(spend.clone()));
    assert_eq!(stored.unbonding_btc_height, env.tip().0);
    assert_eq!(env.power(), (0, 0));
    assert_eq!(
        code(env.send(
            "/ballast.restaking.v1.MsgReportBtcSpend",
            &report(&spend, &proofs[0])
        )),
        63
    );
}

#[test]
fn a_spend_proven_on_a_fork_is_refused() {
    let mut env = Env::new();
    let t = env.active(VALUE, TIME, 6);
    let fork_point = env.tip().1.block_hash();
    let spend = spend_of(env.get(&t).staking_outpoint());
    let (_, proofs) = env.mine(std::slice::from_ref(&spend));
    // Two blocks on the fork point outweigh the block with the spend.
    let (b1, _) = env.mine_at(Some(fork_point), &[]);
    env.mine_at(Some(b1), &[]);
    let m = pb::MsgReportBtcSpend {
        signer: RELAYER.to_string(),
        staking_txid: t.to_string(),
        spend_tx: bitcoin::consensus::serialize(&spend),
        proof: Some(inclusion_proof_to_proto(&proofs[0])),
    };
    assert_eq!(
        code(env.send("/ballast.restaking.v1.MsgReportBtcSpend", &m)),
        56
    );
    assert_eq!(status(&env, &t), DelegationStatus::Active);
}

fn short_params(env_keys: &Keys, max_transitions: u32) -> crate::Params {
    let mut p = test_params(env_keys);
    p.btc.min_staking_time = 20;
    p.btc.unbonding_time = 10;
    p.max_btc_transitions_per_block = max_transitions;
    p
}

#[test]
fn a_delegation_expires_when_its_timelock_has_less_than_the_unbonding_time_left() {
    let k = keys();
    let mut env = Env::with_params(k.clone(), short_params(&k, 100));
    // Staking tx in block 1, time 30: the timelock ends at 31, so it expires at 21.
    let t = env.active(VALUE, 30, 7);
    assert_eq!(env.tip().0, 4);
    assert_eq!(env.power(), (VALUE, POWER));
    // A PENDING delegation with a proof expires too.
    let mut p = env.draft(VALUE, 30, 8);
    let (_, proofs) = env.mine(std::slice::from_ref(&p.staking_tx)); // block 5, ends at 35
    env.mine_empty(3);
    p.proof = Some(proofs[0].clone());
    env.create(&p.msg()).unwrap();
    env.mine_to(20);
    assert!(env.end_block().is_empty());
    assert_eq!(status(&env, &t), DelegationStatus::Active);
    env.mine_to(21);
    let moved = env.end_block();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].to, DelegationStatus::Expired);
    let change = moved[0].power.expect("it left ACTIVE");
    assert_eq!((change.old_power, change.new_power), (POWER, 0));
    assert_eq!(status(&env, &t), DelegationStatus::Expired);
    assert_eq!(env.power(), (0, 0));
    env.mine_to(25);
    let moved = env.end_block();
    assert_eq!(moved.len(), 1);
    assert_eq!(
        (moved[0].from, moved[0].to),
        (DelegationStatus::Pending, DelegationStatus::Expired)
    );
    assert_eq!(queue_len(&env), 0);
    // An expired delegation cannot be undelegated, proven or signed.
    let m = undelegate_msg(&env.get(&t), &env.keys.staker.clone());
    assert_eq!(
        code(env.send("/ballast.restaking.v1.MsgBtcUndelegate", &m)),
        62
    );
    assert_eq!(code(env.prove(&p.txid(), &proofs[0])), 62);
}

#[test]
fn the_end_block_moves_at_most_max_btc_transitions_per_block_and_resumes() {
    let k = keys();
    let mut env = Env::with_params(k.clone(), short_params(&k, 2));
    let drafts: Vec<_> = (0..3).map(|i| env.draft(VALUE, 30, 20 + i)).collect();
    let txs: Vec<Transaction> = drafts.iter().map(|d| d.staking_tx.clone()).collect();
    let (_, proofs) = env.mine(&txs);
    env.mine_empty(3);
    for (d, p) in drafts.iter().zip(&proofs) {
        env.create(&d.msg()).unwrap();
        env.quorum(&d.txid(), 2);
        env.prove(&d.txid(), p).unwrap();
    }
    assert_eq!(env.power(), (3 * VALUE, 3 * POWER));
    env.mine_to(21);
    assert_eq!(env.end_block().len(), 2);
    assert_eq!(env.power(), (VALUE, POWER));
    assert_eq!(env.end_block().len(), 1);
    assert_eq!(env.power(), (0, 0));
    assert!(env.end_block().is_empty());
    for d in &drafts {
        assert_eq!(status(&env, &d.txid()), DelegationStatus::Expired);
    }
}

#[test]
fn a_proof_that_leaves_less_than_the_unbonding_time_is_refused() {
    let k = keys();
    let mut env = Env::with_params(k.clone(), short_params(&k, 100));
    let d = env.draft(VALUE, 30, 9);
    let (_, proofs) = env.mine(std::slice::from_ref(&d.staking_tx)); // ends at 31
    env.create(&d.msg()).unwrap();
    env.mine_to(21);
    assert_eq!(code(env.prove(&d.txid(), &proofs[0])), 59);
    assert_eq!(env.get(&d.txid()).inclusion, None);
}

#[test]
fn a_verified_delegation_whose_block_was_reorged_out_is_proven_again() {
    let mut env = Env::new();
    let d = env.draft(VALUE, TIME, 10);
    let t = d.txid();
    let fork_point = env.tip().1.block_hash();
    let (_, old) = env.mine(std::slice::from_ref(&d.staking_tx));
    env.mine_empty(3);
    env.create(&d.msg()).unwrap();
    env.prove(&t, &old[0]).unwrap();
    // A longer branch without the staking tx; then the tx confirms on it.
    let mut parent = fork_point;
    for _ in 0..5 {
        parent = env.mine_at(Some(parent), &[]).0;
    }
    let (_, new) = env.mine(std::slice::from_ref(&d.staking_tx));
    env.mine_empty(3);
    // Quorum with the recorded block off the best chain: VERIFIED, not ACTIVE.
    env.quorum(&t, 2);
    assert_eq!(status(&env, &t), DelegationStatus::Verified);
    // The old proof is now on a fork; the new one activates it.
    assert_eq!(code(env.prove(&t, &old[0])), 56);
    env.prove(&t, &new[0]).unwrap();
    assert_eq!(status(&env, &t), DelegationStatus::Active);
    assert_eq!(env.get(&t).inclusion.map(|i| i.start_height), Some(6));
    assert_eq!(env.power(), (VALUE, POWER));
}

#[test]
fn a_slashed_operators_delegations_are_marked_slashed_and_leave_the_power_table() {
    let mut env = Env::new();
    let active = env.active(VALUE, TIME, 26);
    let pending = env.draft(VALUE, TIME, 27);
    env.create(&pending.msg()).unwrap();
    assert_eq!(env.power(), (VALUE, POWER));
    for t in env.s.btc_delegations_of_operator(&env.op, None).unwrap() {
        let moved = crate::delegation::mark_slashed(&mut env.s, &t, 50)
            .unwrap()
            .expect("bonded delegations move");
        assert_eq!(moved.to, DelegationStatus::Slashed);
        assert_eq!(moved.power.is_some(), t == active);
        // Only once.
        assert_eq!(
            crate::delegation::mark_slashed(&mut env.s, &t, 50).unwrap(),
            None
        );
    }
    assert_eq!(status(&env, &pending.txid()), DelegationStatus::Slashed);
    assert_eq!(env.power(), (0, 0));
    assert_eq!(queue_len(&env), 0);
    assert!(env.end_block().is_empty());
}

// ---- bad inputs ----------------------------------------------------------------------------

/// The staking output with the covenant multisig's keys in the given order (scripts must
/// sort them).
fn output_with_key_order(env: &Env, covenant_order: &[XOnlyPublicKey], quorum: i64) -> TxOut {
    let staker = xonly(&env.keys.staker);
    let op = xonly(&env.keys.operator);
    let mut multisig = Builder::new();
    for (i, k) in covenant_order.iter().enumerate() {
        multisig = multisig.push_slice(k.serialize()).push_opcode(if i == 0 {
            OP_CHECKSIG
        } else {
            OP_CHECKSIGADD
        });
    }
    let multisig = multisig
        .push_int(quorum)
        .push_opcode(OP_NUMEQUAL)
        .into_script();
    let mut unbonding = single_key_script(&staker, true).into_bytes();
    unbonding.extend_from_slice(multisig.as_bytes());
    let mut slashing = single_key_script(&staker, true).into_bytes();
    slashing.extend_from_slice(single_key_script(&op, true).as_bytes());
    slashing.extend_from_slice(multisig.as_bytes());
    let timelock = timelock_script(&staker, "staking time", TIME).unwrap();
    let info = TaprootBuilder::new()
        .add_leaf(1, ScriptBuf::from_bytes(slashing))
        .unwrap()
        .add_leaf(2, ScriptBuf::from_bytes(unbonding))
        .unwrap()
        .add_leaf(2, timelock)
        .unwrap()
        .finalize(SECP256K1, unspendable_key())
        .unwrap();
    TxOut {
        value: Amount::from_sat(VALUE),
        script_pubkey: ScriptBuf::new_p2tr_tweaked(info.output_key()),
    }
}

/// `d` with its staking output replaced (and its spends rebuilt on the new staking tx).
fn with_output(env: &Env, mut d: Draft, out: TxOut) -> Draft {
    d.staking_tx = staking_tx_with(out, 1000);
    d.rebuild_spends(&env.rules);
    d
}

#[test]
fn staking_outputs_with_a_wrong_key_order_quorum_or_timelock_are_refused() {
    let mut env = Env::new();
    let base = env.draft(VALUE, TIME, 11);
    let cov: Vec<XOnlyPublicKey> = env.keys.covenants.iter().map(xonly).collect();
    let mut sorted = cov.clone();
    sorted.sort_by_key(|k| k.serialize());
    assert_ne!(cov, sorted, "the vector lists its committee unsorted");
    // The same keys and quorum, sorted by hand: the staking output the chain rebuilds.
    assert_eq!(
        output_with_key_order(&env, &sorted, 2),
        base.staking_tx.output[0]
    );
    // Keys in the committee's listed (unsorted) order.
    let d = with_output(&env, base.clone(), output_with_key_order(&env, &cov, 2));
    assert_eq!(code(env.create(&d.msg())), 112);
    // Quorum 3 instead of 2.
    let q3 = StakingInfo::new(
        xonly(&env.keys.staker),
        &[xonly(&env.keys.operator)],
        &cov,
        3,
        TIME,
        VALUE,
    )
    .unwrap();
    let d = with_output(&env, base.clone(), q3.output());
    assert_eq!(code(env.create(&d.msg())), 112);
    // A timelock of 1001 blocks while the message says 1000.
    let t1001 = StakingInfo::from_params(
        &env.rules,
        xonly(&env.keys.staker),
        &[xonly(&env.keys.operator)],
        TIME + 1,
        VALUE,
    )
    .unwrap();
    let d = with_output(&env, base.clone(), t1001.output());
    assert_eq!(code(env.create(&d.msg())), 112);
    // The declared value differs from the output's (the script does not depend on it).
    let mut d = base.clone();
    d.value = VALUE - 1;
    assert_eq!(code(env.create(&d.msg())), 113);
    // Nothing was stored.
    assert!(env.s.btc_delegation(&base.txid()).unwrap().is_none());
    env.create(&base.msg()).unwrap();
}

#[test]
fn staking_values_and_times_out_of_range_are_refused() {
    let mut env = Env::new();
    assert_eq!(code(env.create(&env.draft(5_000, TIME, 12).msg())), 114);
    assert_eq!(
        code(env.create(&env.draft(1_000_000_001, TIME, 12).msg())),
        114
    );
    assert_eq!(code(env.create(&env.draft(VALUE, 399, 12).msg())), 115);
}

#[test]
fn slashing_txs_with_a_wrong_rate_destination_or_too_low_a_fee_are_refused() {
    let mut env = Env::new();
    let base = env.draft(VALUE, TIME, 13);
    // 20% instead of 10%.
    let mut d = base.clone();
    d.slashing_tx.output[0].value = Amount::from_sat(VALUE / 5);
    d.slashing_tx.output[1].value = Amount::from_sat(VALUE - VALUE / 5 - 1_000);
    assert_eq!(code(env.create(&d.msg())), 125);
    // The slashed share to another script.
    let mut d = base.clone();
    d.slashing_tx.output[0].script_pubkey = ScriptBuf::new_op_return(b"elsewhere");
    assert_eq!(code(env.create(&d.msg())), 124);
    // A fee of 500 < 1000.
    let mut d = base.clone();
    d.slashing_tx.output[1].value += Amount::from_sat(500);
    assert_eq!(code(env.create(&d.msg())), 127);
    // The same faults in the unbonding output's slashing tx.
    let mut d = base.clone();
    d.unbonding_slashing_tx.output[0].script_pubkey = ScriptBuf::new_op_return(b"elsewhere");
    assert_eq!(code(env.create(&d.msg())), 124);
    let mut d = base.clone();
    d.unbonding_slashing_tx.output[1].value += Amount::from_sat(1);
    assert_eq!(code(env.create(&d.msg())), 127);
    // An unbonding tx paying another fee.
    let mut d = base.clone();
    d.unbonding_tx.output[0].value -= Amount::from_sat(1);
    assert_eq!(code(env.create(&d.msg())), 122);
    env.create(&base.msg()).unwrap();
}

#[test]
fn forged_staker_signatures_and_proofs_of_possession_are_refused() {
    let mut env = Env::new();
    let base = env.draft(VALUE, TIME, 14);
    let forger = env.keys.covenants[0];
    // The slashing tx signed by another key.
    let mut m = base.msg();
    m.delegator_slashing_sig = sign_leaf(
        &forger,
        &base.slashing_tx,
        0,
        &[base.staking_tx.output[0].clone()],
        &base.slashing_leaf,
    )
    .unwrap()
    .serialize()
    .to_vec();
    assert_eq!(code(env.create(&m)), 204);
    // The staker's signature of the staking slashing tx given for the unbonding one.
    let mut m = base.msg();
    m.delegator_unbonding_slashing_sig = m.delegator_slashing_sig.clone();
    assert_eq!(code(env.create(&m)), 204);
    // A 65-byte signature (explicit sighash type) and a short one.
    let mut m = base.msg();
    m.delegator_slashing_sig.push(0x01);
    assert_eq!(code(env.create(&m)), 203);
    let mut m = base.msg();
    m.delegator_slashing_sig.truncate(10);
    assert_eq!(code(env.create(&m)), 202);
    // A proof of possession for another address.
    let mut m = base.msg();
    m.pop = crate::btc::sign::sign_pop(&env.keys.staker, &RELAYER.0)
        .serialize()
        .to_vec();
    assert_eq!(code(env.create(&m)), 205);
    // A staker key that is not a curve point.
    let mut m = base.msg();
    m.btc_pk = vec![0xff; 32];
    assert_eq!(code(env.create(&m)), 100);
    env.create(&base.msg()).unwrap();
}

#[test]
fn a_staking_tx_registers_one_delegation() {
    let mut env = Env::new();
    let d = env.draft(VALUE, TIME, 15);
    env.create(&d.msg()).unwrap();
    let before = env.s.entries().clone();
    assert_eq!(code(env.create(&d.msg())), 52);
    assert_eq!(env.s.entries(), &before);
}

#[test]
fn delegations_to_unknown_or_jailed_operators_are_refused() {
    let mut env = Env::new();
    // An operator key that is not registered (the staking output is built for it).
    let other = SecretKey::from_slice(&[0x42; 32]).unwrap();
    let mut d = env.draft(VALUE, TIME, 16);
    d.operator_pk = xonly(&other);
    let info = StakingInfo::from_params(
        &env.rules,
        xonly(&env.keys.staker),
        &[xonly(&other)],
        TIME,
        VALUE,
    )
    .unwrap();
    d.slashing_leaf = info
        .leaf(crate::btc::scripts::Leaf::Slashing)
        .unwrap()
        .to_owned();
    let d = with_output(&env, d, info.output());
    let e = env.create(&d.msg()).expect_err("unknown operator");
    assert_eq!(
        (e.codespace, e.code),
        (
            "restaking",
            RestakingError::UnknownOperator {
                operator: String::new()
            }
            .code()
        )
    );
    assert_eq!(e.code, 12);
    operator::set_jailed(&mut env.s, &env.op, true).unwrap();
    assert_eq!(code(env.create(&env.draft(VALUE, TIME, 17).msg())), 53);
}

#[test]
fn inclusion_proofs_too_shallow_on_a_fork_or_wrong_are_refused() {
    let mut env = Env::new();
    let mut d = env.draft(VALUE, TIME, 18);
    let t = d.txid();
    let fork_point = env.tip().1.block_hash();
    let (_, on_fork) = env.mine(std::slice::from_ref(&d.staking_tx));
    let mut parent = fork_point;
    for _ in 0..4 {
        parent = env.mine_at(Some(parent), &[]).0;
    }
    // At creation: the block holding the tx is on a fork.
    d.proof = Some(on_fork[0].clone());
    assert_eq!(code(env.create(&d.msg())), 56);
    // At creation: on the best chain, too shallow.
    let (_, best) = env.mine(std::slice::from_ref(&d.staking_tx));
    d.proof = Some(best[0].clone());
    assert_eq!(code(env.create(&d.msg())), 57);
    d.proof = None;
    env.create(&d.msg()).unwrap();
    // Later: a fork, too shallow, an unknown block, a wrong branch, a missing proof.
    assert_eq!(code(env.prove(&t, &on_fork[0])), 56);
    assert_eq!(code(env.prove(&t, &best[0])), 57);
    env.mine_empty(3);
    let mut unknown = best[0].clone();
    unknown.block_hash = bitcoin::BlockHash::from_byte_array([0x77; 32]);
    assert_eq!(code(env.prove(&t, &unknown)), 55);
    let mut wrong = best[0].clone();
    wrong.index = 0;
    assert_eq!(code(env.prove(&t, &wrong)), 55);
    let missing = pb::MsgAddBtcInclusionProof {
        signer: RELAYER.to_string(),
        staking_txid: t.to_string(),
        proof: None,
    };
    assert_eq!(
        code(env.send("/ballast.restaking.v1.MsgAddBtcInclusionProof", &missing)),
        67
    );
    let bad_len = pb::MsgAddBtcInclusionProof {
        proof: Some(pb::BtcInclusionProof {
            tx_index: 1,
            merkle_nodes: vec![0; 31],
            block_hash: vec![0; 32],
        }),
        ..missing.clone()
    };
    assert_eq!(
        code(env.send("/ballast.restaking.v1.MsgAddBtcInclusionProof", &bad_len)),
        54
    );
    let bad_id = pb::MsgAddBtcInclusionProof {
        staking_txid: "nope".into(),
        ..missing
    };
    assert_eq!(
        code(env.send("/ballast.restaking.v1.MsgAddBtcInclusionProof", &bad_id)),
        50
    );
    // The good proof still works after all that.
    env.prove(&t, &best[0]).unwrap();
    assert!(env.get(&t).inclusion.is_some());
    // Unknown delegation.
    let other = env.draft(VALUE, TIME, 19);
    assert_eq!(code(env.prove(&other.txid(), &best[0])), 51);
}

use bitcoin::hashes::Hash;

#[test]
fn covenant_signatures_under_a_wrong_key_or_from_outsiders_are_refused() {
    let mut env = Env::new();
    let d = env.draft(VALUE, TIME, 20);
    let t = d.txid();
    env.create(&d.msg()).unwrap();
    let stored = env.get(&t);
    let c0 = env.keys.covenants[0];
    // Adaptor signatures encrypted to the staker's key instead of the operator's.
    let m = covenant_msg_to(&stored, &c0, &xonly(&env.keys.staker));
    assert_eq!(code(env.cov(&m)), 233);
    // Only the unbonding-slashing one encrypted to a wrong key.
    let good = covenant_msg(&stored, &c0);
    let mut m = good.clone();
    m.unbonding_slashing_adaptor_sig = m.slashing_adaptor_sig.clone();
    assert_eq!(code(env.cov(&m)), 233);
    // A malformed adaptor signature.
    let mut m = good.clone();
    m.slashing_adaptor_sig.truncate(64);
    assert_eq!(code(env.cov(&m)), 230);
    // The unbonding signature over another tx.
    let mut m = good.clone();
    m.unbonding_sig = sign_leaf(
        &c0,
        &stored.slashing_tx,
        0,
        std::slice::from_ref(stored.staking_output().unwrap()),
        &stored.unbonding_script().unwrap(),
    )
    .unwrap()
    .serialize()
    .to_vec();
    assert_eq!(code(env.cov(&m)), 204);
    // A key outside the committee (the operator's), signing correctly.
    let m = covenant_msg(&stored, &env.keys.operator.clone());
    assert_eq!(code(env.cov(&m)), 60);
    // A member signs once.
    env.cov(&good).unwrap();
    assert_eq!(code(env.cov(&good)), 61);
    assert_eq!(env.get(&t).covenant_sigs.len(), 1);
    // No such delegation.
    let mut m = good;
    m.staking_txid = env.draft(VALUE, TIME, 21).txid().to_string();
    assert_eq!(code(env.cov(&m)), 51);
}

#[test]
fn covenant_signatures_follow_the_committee_the_delegation_was_created_under() {
    let mut env = Env::new();
    let d = env.draft(VALUE, TIME, 22);
    env.create(&d.msg()).unwrap();
    // Governance replaces the committee afterwards.
    let mut p = crate::params::load(&env.s).unwrap();
    p.btc.covenant_pks = vec![xonly(&SecretKey::from_slice(&[0x33; 32]).unwrap()).serialize()];
    p.btc.covenant_quorum = 1;
    crate::params::store(&mut env.s, &p).unwrap();
    env.quorum(&d.txid(), 2);
    assert_eq!(status(&env, &d.txid()), DelegationStatus::Verified);
}

#[test]
fn undelegations_with_the_wrong_tx_or_signature_are_refused() {
    let mut env = Env::new();
    let t = env.active(VALUE, TIME, 23);
    let stored = env.get(&t);
    let send = |env: &mut Env, tx: &Transaction| {
        env.send(
            "/ballast.restaking.v1.MsgBtcUndelegate",
            &pb::MsgBtcUndelegate {
                signer: RELAYER.to_string(),
                staking_txid: t.to_string(),
                unbonding_tx: bitcoin::consensus::serialize(tx),
            },
        )
    };
    // Another tx.
    assert_eq!(code(send(&mut env, &stored.slashing_tx)), 64);
    // The unbonding tx without a witness.
    assert_eq!(code(send(&mut env, &stored.unbonding_tx)), 65);
    // A witness whose second-last element is not the unbonding leaf.
    let mut tx = signed_unbonding_tx(&stored, &env.keys.staker.clone());
    let mut w: Vec<Vec<u8>> = tx.input[0].witness.iter().map(<[u8]>::to_vec).collect();
    w[1] = vec![0x51];
    tx.input[0].witness = Witness::from_slice(&w);
    assert_eq!(code(send(&mut env, &tx)), 65);
    // Signed by a covenant member instead of the staker.
    let forged = signed_unbonding_tx(&stored, &env.keys.covenants[0].clone());
    assert_eq!(code(send(&mut env, &forged)), 204);
    // A one-element witness with the staker's signature is enough.
    let mut tx = signed_unbonding_tx(&stored, &env.keys.staker.clone());
    let sig = tx.input[0].witness.nth(0).unwrap().to_vec();
    tx.input[0].witness = Witness::from_slice(&[sig]);
    send(&mut env, &tx).unwrap();
    assert_eq!(status(&env, &t), DelegationStatus::Unbonding);
}

#[test]
fn malformed_messages_get_decode_and_address_codes() {
    let mut env = Env::new();
    let any = prost_types::Any {
        type_url: "/ballast.restaking.v1.MsgCreateBtcDelegation".into(),
        value: vec![0xff, 0xff, 0xff],
    };
    let e = crate::delegation::decode_msg(&any).unwrap().unwrap_err();
    assert_eq!((e.codespace, e.code), ("sdk", 2));
    let mut m = env.draft(VALUE, TIME, 24).msg();
    m.staker_addr = "cosmos1xyz".into();
    let e = env.create(&m).unwrap_err();
    assert_eq!((e.codespace, e.code), ("sdk", 7));
    let mut m = env.draft(VALUE, TIME, 24).msg();
    m.staking_tx = vec![1, 2, 3];
    assert_eq!(code(env.create(&m)), 110);
    let mut m = env.draft(VALUE, TIME, 24).msg();
    m.staking_output_index = 5;
    assert_eq!(code(env.create(&m)), 111);
    let other = prost_types::Any {
        type_url: "/ballast.restaking.v1.MsgBondNative".into(),
        value: vec![],
    };
    assert!(crate::delegation::decode_msg(&other).is_none());
}

#[test]
fn a_chain_without_a_covenant_committee_accepts_no_delegations() {
    let k = keys();
    let mut p = test_params(&k);
    p.btc.covenant_pks.clear();
    let rules_from = test_params(&k);
    let mut env = Env::with_params(k, rules_from);
    let m = env.draft(VALUE, TIME, 25).msg();
    crate::params::store(&mut env.s, &p).unwrap();
    assert_eq!(code(env.create(&m)), 102);
}

// ---- queries -----------------------------------------------------------------------------------

fn query<Req: Message, Resp: Message + Default>(
    env: &Env,
    method: &str,
    req: &Req,
) -> Result<Resp, TxError> {
    let bytes = crate::delegation::query(&env.s, method, &req.encode_to_vec())
        .expect("a delegation query")?;
    Ok(Resp::decode(bytes.as_slice()).unwrap())
}

#[test]
fn queries_list_delegations_by_staker_operator_and_status_in_pages() {
    let mut env = Env::new();
    let active = env.active(VALUE, TIME, 30);
    let mut pending = Vec::new();
    for seed in 31..34 {
        let d = env.draft(VALUE, TIME, seed);
        env.create(&d.msg()).unwrap();
        pending.push(d.txid());
    }
    let one: pb::QueryBtcDelegationResponse = query(
        &env,
        "BtcDelegation",
        &pb::QueryBtcDelegationRequest {
            staking_txid: active.to_string(),
        },
    )
    .unwrap();
    let got = one.delegation.unwrap();
    assert_eq!(got.status, pb::BtcDelegationStatus::Active as i32);
    assert_eq!(got, env.get(&active).to_proto());
    let e = query::<_, pb::QueryBtcDelegationResponse>(
        &env,
        "BtcDelegation",
        &pb::QueryBtcDelegationRequest {
            staking_txid: env.draft(VALUE, TIME, 99).txid().to_string(),
        },
    )
    .unwrap_err();
    assert_eq!(e.code, 51);

    let mut all: Vec<String> = pending.iter().map(|t| t.to_string()).collect();
    all.push(active.to_string());
    all.sort();
    let list = |req: pb::QueryBtcDelegationsRequest| -> Vec<String> {
        let r: pb::QueryBtcDelegationsResponse = query(&env, "BtcDelegations", &req).unwrap();
        r.delegations.into_iter().map(|d| d.staking_txid).collect()
    };
    let staker_pk = hex::encode(xonly(&env.keys.staker).serialize());
    for req in [
        pb::QueryBtcDelegationsRequest::default(),
        pb::QueryBtcDelegationsRequest {
            staker_btc_pk: staker_pk.clone(),
            ..Default::default()
        },
        pb::QueryBtcDelegationsRequest {
            staker_addr: STAKER.to_string(),
            ..Default::default()
        },
        pb::QueryBtcDelegationsRequest {
            operator_btc_pk: env.op.to_string(),
            ..Default::default()
        },
    ] {
        assert_eq!(list(req), all);
    }
    let mut want_pending: Vec<String> = pending.iter().map(|t| t.to_string()).collect();
    want_pending.sort();
    assert_eq!(
        list(pb::QueryBtcDelegationsRequest {
            status: pb::BtcDelegationStatus::Pending as i32,
            ..Default::default()
        }),
        want_pending
    );
    assert_eq!(
        list(pb::QueryBtcDelegationsRequest {
            operator_btc_pk: env.op.to_string(),
            status: pb::BtcDelegationStatus::Active as i32,
            ..Default::default()
        }),
        vec![active.to_string()]
    );
    assert!(list(pb::QueryBtcDelegationsRequest {
        staker_addr: RELAYER.to_string(),
        ..Default::default()
    })
    .is_empty());
    // Pages of two.
    let mut seen = Vec::new();
    let mut start_after = String::new();
    loop {
        let r: pb::QueryBtcDelegationsResponse = query(
            &env,
            "BtcDelegations",
            &pb::QueryBtcDelegationsRequest {
                start_after: start_after.clone(),
                limit: 2,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(r.delegations.len() <= 2);
        seen.extend(r.delegations.into_iter().map(|d| d.staking_txid));
        if r.next.is_empty() {
            break;
        }
        start_after = r.next;
    }
    assert_eq!(seen, all);
    // Bad requests.
    for req in [
        pb::QueryBtcDelegationsRequest {
            limit: 101,
            ..Default::default()
        },
        pb::QueryBtcDelegationsRequest {
            staker_addr: STAKER.to_string(),
            operator_btc_pk: env.op.to_string(),
            ..Default::default()
        },
        pb::QueryBtcDelegationsRequest {
            status: 42,
            ..Default::default()
        },
        pb::QueryBtcDelegationsRequest {
            staker_btc_pk: "zz".into(),
            ..Default::default()
        },
    ] {
        let e =
            query::<_, pb::QueryBtcDelegationsResponse>(&env, "BtcDelegations", &req).unwrap_err();
        assert_eq!(e.code, 68, "{req:?}");
    }
    assert!(crate::delegation::query(&env.s, "Params", &[]).is_none());
}

// ---- robustness ----------------------------------------------------------------------------

mod robustness {
    use super::*;
    use proptest::prelude::*;

    const TYPES: [&str; 5] = [
        "/ballast.restaking.v1.MsgCreateBtcDelegation",
        "/ballast.restaking.v1.MsgAddCovenantSigs",
        "/ballast.restaking.v1.MsgAddBtcInclusionProof",
        "/ballast.restaking.v1.MsgBtcUndelegate",
        "/ballast.restaking.v1.MsgReportBtcSpend",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Random bytes never panic the decoder: every message type answers Ok or a coded
        /// error.
        #[test]
        fn random_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..600), which in 0usize..5) {
            let any = prost_types::Any { type_url: TYPES[which].into(), value: bytes };
            if let Err(e) = crate::delegation::decode_msg(&any).expect("a delegation type") {
                prop_assert!(!e.fatal);
                prop_assert!(e.code != 0);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// A valid create message with one byte of one field changed either still executes or
        /// fails with a coded, non-fatal error; it never panics.
        #[test]
        fn mutated_create_messages_never_panic(field in 0usize..8, pos in any::<usize>(), byte in any::<u8>()) {
            let mut env = Env::new();
            let mut m = env.draft(VALUE, TIME, 40).msg();
            let target: &mut Vec<u8> = match field {
                0 => &mut m.btc_pk,
                1 => &mut m.pop,
                2 => &mut m.staking_tx,
                3 => &mut m.slashing_tx,
                4 => &mut m.delegator_slashing_sig,
                5 => &mut m.unbonding_tx,
                6 => &mut m.unbonding_slashing_tx,
                _ => &mut m.delegator_unbonding_slashing_sig,
            };
            let i = pos % target.len();
            target[i] ^= byte | 1;
            if let Err(e) = env.create(&m) {
                prop_assert!(!e.fatal, "{e:?}");
                prop_assert!(e.codespace == "restaking" || e.codespace == "sdk");
            }
        }
    }
}
