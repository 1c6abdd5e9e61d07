//! Epoch-end processing over the real restaking state: set changes, statuses, lease payments,
//! caps, the per-block bound, and properties over random message sequences.

use crate::consumer::{self, Status, StopReason};
use crate::epoch::load_run;
use crate::msg::{MsgOptIn, MsgOptOut, MsgRegisterConsumer, MsgUpdateConsumer};
use crate::opt_in::{self, ConsumerKey};

use crate::testutil::*;
use crate::valset::ConsumerValidator;
use crate::{allocation, events, hash, module_account, read, ConsumersRead, Params};
use ballast_accounts::AccountsRead;
use ballast_framework::{Address, MemState, MsgHandler, TxError};
use ballast_proto::ballast::consumers::v1 as pb;
use ballast_restaking::{native, rewards, OperatorId, PowerTableRead};
use prost::Message;

fn opt_out(s: &mut MemState, i: u8, op: &OperatorId, id: &str) -> Result<(), TxError> {
    let m = pb::MsgOptOut {
        owner: owner(i).to_string(),
        operator_btc_pk: op.to_bytes().to_vec(),
        consumer_id: id.into(),
    };
    run(s, &MsgOptOut::decode(&m.encode_to_vec()).unwrap())
}

fn update_terms(s: &mut MemState, id: &str, f: impl FnOnce(&mut pb::MsgUpdateConsumer)) {
    let mut m = pb::MsgUpdateConsumer {
        owner: user(1).to_string(),
        consumer_id: id.into(),
        ..Default::default()
    };
    f(&mut m);
    run(s, &MsgUpdateConsumer::decode(&m.encode_to_vec()).unwrap()).unwrap();
}

fn status(s: &MemState, id: &str) -> Status {
    consumer::require(s, &cid(id)).unwrap().status
}

fn powers(set: &pb::ConsumerValidatorSet) -> Vec<(Vec<u8>, u64)> {
    set.validators
        .iter()
        .map(|v| (v.pubkey.clone(), v.power))
        .collect()
}

fn key_bytes(i: u8) -> Vec<u8> {
    consumer_key(i).to_bytes().to_vec()
}

#[test]
fn set_changes_take_effect_at_the_epoch_end_with_strictly_increasing_update_ids() {
    let mut s = MemState::new();
    init(&mut s);
    let a = register_op(&mut s, 1, 100);
    let b = register_op(&mut s, 2, 60);
    register(&mut s, &user(1), "c", 10, pb::AllocationMode::Shared);
    fund_lease(&mut s, &user(1), "c", 1_000);
    opt_in_op(&mut s, 1, &a, "c", 1, 5_000).unwrap();
    opt_in_op(&mut s, 2, &b, "c", 2, 10_000).unwrap();
    // Nothing before the epoch ends.
    end_block(&mut s, 9);
    assert_eq!(status(&s, "c"), Status::Registered);
    assert_eq!(read::validator_set(&s, "c").unwrap(), None);

    end_epoch(&mut s, 10);
    let c = consumer::require(&s, &cid("c")).unwrap();
    assert_eq!(
        (c.status, c.activated_epoch, c.last_update_id),
        (Status::Active, 1, 1)
    );
    let set = read::validator_set(&s, "c").unwrap().unwrap();
    // b: 10000 bps of 60; a: 5000 bps of 100 = 50. Power descending.
    assert_eq!(powers(&set), vec![(key_bytes(2), 60), (key_bytes(1), 50)]);
    assert_eq!(
        set.validators[0].operator_btc_pk,
        b.to_bytes().to_vec(),
        "each validator names its operator"
    );
    let u1 = read::update(&s, "c", 1).unwrap().unwrap();
    assert_eq!((u1.epoch, u1.hub_height), (1, 10));
    assert_eq!(u1.changes.len(), 2);
    assert!(
        u1.changes[0].pubkey < u1.changes[1].pubkey,
        "changes by key"
    );
    let expected_hash = hash::validator_set_hash(
        set.validators
            .iter()
            .map(|v| (<&[u8; 32]>::try_from(v.pubkey.as_slice()).unwrap(), v.power)),
    );
    assert_eq!(u1.set_hash, expected_hash.to_vec());
    let commitment = read::set_commitment(&s, "c").unwrap().unwrap();
    assert_eq!(
        (commitment.update_id, commitment.epoch, commitment.set_hash),
        (1, 1, expected_hash.to_vec())
    );
    assert!(s
        .events()
        .iter()
        .any(|e| e.kind == events::VALIDATOR_SET_UPDATE && e.get("update_id") == Some("1")));

    // Unchanged: no update, but the fee is drawn.
    end_epoch(&mut s, 20);
    let c = consumer::require(&s, &cid("c")).unwrap();
    assert_eq!((c.last_update_id, c.lease_balance), (1, 980));
    assert!(read::updates_after(&s, "c", 1, 10).unwrap().is_empty());

    // a raises its allocation in epoch 3: in force only after epoch 3 ends.
    opt_in_op(&mut s, 1, &a, "c", 1, 10_000).unwrap();
    end_block(&mut s, 21);
    assert_eq!(read::validator_set(&s, "c").unwrap().unwrap().update_id, 1);
    end_epoch(&mut s, 30);
    let u2 = read::update(&s, "c", 2).unwrap().unwrap();
    assert_eq!(u2.epoch, 3);
    assert_eq!(
        u2.changes
            .iter()
            .map(|v| (v.pubkey.clone(), v.power))
            .collect::<Vec<_>>(),
        vec![(key_bytes(1), 100)]
    );

    // A key change: the old key leaves (power 0), the new one joins.
    opt_in_op(&mut s, 1, &a, "c", 3, 10_000).unwrap();
    end_epoch(&mut s, 40);
    let u3 = read::update(&s, "c", 3).unwrap().unwrap();
    let mut want = vec![(key_bytes(1), 0), (key_bytes(3), 100)];
    want.sort();
    assert_eq!(
        u3.changes
            .iter()
            .map(|v| (v.pubkey.clone(), v.power))
            .collect::<Vec<_>>(),
        want
    );

    // More stake behind b moves its consumer power at the next epoch end.
    fund(&mut s, &owner(2), 90_000_000);
    native::bond(&mut s, &owner(2), &b, 90_000_000).unwrap();
    end_epoch(&mut s, 50);
    let set = read::validator_set(&s, "c").unwrap().unwrap();
    assert_eq!(powers(&set), vec![(key_bytes(2), 150), (key_bytes(3), 100)]);

    let all = read::updates_after(&s, "c", 0, 100).unwrap();
    assert_eq!(
        all.iter().map(|u| u.update_id).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(
        all.iter().map(|u| u.epoch).collect::<Vec<_>>(),
        vec![1, 3, 4, 5]
    );
    assert_eq!(set.update_id, 4);
}

#[test]
fn the_top_max_operators_form_the_set_and_jailed_or_tombstoned_opt_ins_are_left_out() {
    let mut s = MemState::new();
    init(&mut s);
    let ops: Vec<OperatorId> = [(1, 100), (2, 80), (3, 80), (4, 70)]
        .iter()
        .map(|(i, bal)| register_op(&mut s, *i, *bal))
        .collect();
    register(&mut s, &user(1), "c", 1, pb::AllocationMode::Shared);
    update_terms(&mut s, "c", |m| m.max_operators = Some(2));
    fund_lease(&mut s, &user(1), "c", 100);
    for (i, op) in ops.iter().enumerate() {
        opt_in_op(&mut s, i as u8 + 1, op, "c", 10 + i as u8, 10_000).unwrap();
    }
    end_epoch(&mut s, 10);
    let set = read::validator_set(&s, "c").unwrap().unwrap();
    // 100, then the smaller key of the two 80s.
    let tie = if consumer_key(11) < consumer_key(12) {
        11
    } else {
        12
    };
    assert_eq!(
        powers(&set),
        vec![(key_bytes(10), 100), (key_bytes(tie), 80)]
    );

    // Jailed for the consumer until the end of epoch 3, and another tombstoned.
    let mut o = opt_in::load(&s, &cid("c"), &ops[0]).unwrap().unwrap();
    o.jailed_until_epoch = 3;
    opt_in::save(&mut s, &o).unwrap();
    let mut o = opt_in::load(&s, &cid("c"), &ops[1]).unwrap().unwrap();
    o.tombstoned = true;
    opt_in::save(&mut s, &o).unwrap();
    end_epoch(&mut s, 20);
    let set = read::validator_set(&s, "c").unwrap().unwrap();
    assert_eq!(powers(&set), vec![(key_bytes(12), 80), (key_bytes(13), 70)]);
    // Free again at the end of epoch 3 (jailed until then); the tombstoned one never is.
    end_epoch(&mut s, 30);
    let set = read::validator_set(&s, "c").unwrap().unwrap();
    assert_eq!(set.epoch, 3);
    assert_eq!(
        powers(&set),
        vec![(key_bytes(10), 100), (key_bytes(12), 80)]
    );
}

#[test]
fn activation_waits_for_min_operators_and_an_exhausted_lease_stops_updates() {
    let mut s = MemState::new();
    init(&mut s);
    let a = register_op(&mut s, 1, 100);
    let b = register_op(&mut s, 2, 100);
    register(&mut s, &user(1), "c", 100, pb::AllocationMode::Shared);
    update_terms(&mut s, "c", |m| m.min_operators = Some(2));
    fund_lease(&mut s, &user(1), "c", 250);
    opt_in_op(&mut s, 1, &a, "c", 1, 10_000).unwrap();
    end_epoch(&mut s, 10);
    let c = consumer::require(&s, &cid("c")).unwrap();
    assert_eq!(
        (c.status, c.lease_balance, c.last_update_id),
        (Status::Registered, 250, 0)
    );
    assert_eq!(c.last_processed_epoch, 1);
    opt_in_op(&mut s, 2, &b, "c", 2, 10_000).unwrap();
    end_epoch(&mut s, 20);
    let c = consumer::require(&s, &cid("c")).unwrap();
    assert_eq!(
        (c.status, c.activated_epoch, c.lease_balance, c.total_paid),
        (Status::Active, 2, 150, 100)
    );
    assert_eq!(c.last_update_id, 1);
    end_epoch(&mut s, 30);
    assert_eq!(consumer::require(&s, &cid("c")).unwrap().lease_balance, 50);
    let owner_before = s.balance(&user(1), "ubal").unwrap();
    end_epoch(&mut s, 40);
    let c = consumer::require(&s, &cid("c")).unwrap();
    assert_eq!(c.status, Status::Stopped(StopReason::LeaseExhausted));
    assert_eq!(
        (c.lease_balance, c.stopped_height, c.total_paid),
        (0, 40, 200)
    );
    assert_eq!(s.balance(&user(1), "ubal").unwrap(), owner_before + 50);
    assert_eq!(s.balance(&module_account(), "ubal").unwrap(), 0);
    assert!(s.events().iter().any(|e| e.kind == events::CONSUMER_STATUS
        && e.get("stop_reason") == Some("STOP_REASON_LEASE_EXHAUSTED")));
    // Deallocating: slashable until the stop epoch + 14.
    assert_eq!(s.slashable_allocation(&a, &cid("c"), 18).unwrap(), 10_000);
    assert_eq!(s.slashable_allocation(&a, &cid("c"), 19).unwrap(), 0);
    // Final: no opt-ins, no funding, no more processing or updates.
    assert_eq!(opt_in_op(&mut s, 1, &a, "c", 1, 500).unwrap_err().code, 13);
    end_epoch(&mut s, 50);
    end_epoch(&mut s, 60);
    let c2 = consumer::require(&s, &cid("c")).unwrap();
    assert_eq!((c2.last_update_id, c2.last_processed_epoch), (1, 4));
    assert!(consumer::live_after(&s, None, 10).unwrap().is_empty());
}

#[test]
fn the_lease_is_paid_into_restaking_rewards_commission_first_then_delegators() {
    let mut s = MemState::new();
    init(&mut s);
    let a = register_op(&mut s, 1, 100);
    let b = register_op(&mut s, 2, 100);
    let d = Address([0x55; 20]);
    fund(&mut s, &d, 300_000_000);
    native::bond(&mut s, &d, &a, 300_000_000).unwrap();
    register(&mut s, &user(1), "c", 1_000, pb::AllocationMode::Shared);
    fund_lease(&mut s, &user(1), "c", 5_000);
    opt_in_op(&mut s, 1, &a, "c", 1, 10_000).unwrap();
    opt_in_op(&mut s, 2, &b, "c", 2, 10_000).unwrap();
    end_epoch(&mut s, 10);
    // Powers 400 and 100: 800 and 200. Commission 10%: 80 and 20 to the owners; 720 over
    // weights 100 (owner 1) and 300 (d); 180 to owner 2's position.
    let p1 = rewards::pending(&s, &owner(1)).unwrap();
    assert_eq!((p1.commission, p1.total), (80, 80 + 180));
    assert_eq!(rewards::pending(&s, &d).unwrap().total, 540);
    assert_eq!(rewards::pending(&s, &owner(2)).unwrap().total, 200);
    let c = consumer::require(&s, &cid("c")).unwrap();
    assert_eq!((c.lease_balance, c.total_paid), (4_000, 1_000));
    assert_eq!(s.balance(&module_account(), "ubal").unwrap(), 4_000);
    let l = rewards::liabilities(&s).unwrap();
    assert_eq!(
        s.balance(&ballast_restaking::module_account(), "ubal")
            .unwrap(),
        l.total().unwrap()
    );
    assert!(s
        .events()
        .iter()
        .any(|e| e.kind == events::LEASE_PAID && e.get("amount") == Some("1000")));
}

#[test]
fn a_set_without_power_draws_nothing() {
    let mut s = MemState::new();
    init(&mut s);
    let a = register_op(&mut s, 1, 100);
    register(&mut s, &user(1), "c", 10, pb::AllocationMode::Shared);
    fund_lease(&mut s, &user(1), "c", 100);
    opt_in_op(&mut s, 1, &a, "c", 1, 10_000).unwrap();
    end_epoch(&mut s, 10);
    opt_out(&mut s, 1, &a, "c").unwrap();
    end_epoch(&mut s, 20);
    let c = consumer::require(&s, &cid("c")).unwrap();
    assert_eq!(
        (c.status, c.lease_balance, c.last_update_id),
        (Status::Active, 90, 2)
    );
    let u2 = read::update(&s, "c", 2).unwrap().unwrap();
    assert_eq!(u2.changes.len(), 1);
    assert_eq!(u2.changes[0].power, 0, "the operator left");
    assert!(read::validator_set(&s, "c")
        .unwrap()
        .unwrap()
        .validators
        .is_empty());
    end_epoch(&mut s, 30);
    assert_eq!(consumer::require(&s, &cid("c")).unwrap().lease_balance, 90);
}

#[test]
fn caps_hold_in_isolated_and_shared_modes_with_deallocation_encumbrance() {
    let mut s = MemState::new();
    init_with(
        &mut s,
        Params {
            deallocation_delay_epochs: 2,
            ..Params::default()
        },
    );
    let a = register_op(&mut s, 1, 100);
    let b = register_op(&mut s, 2, 100);
    for id in ["i1", "i2"] {
        register(&mut s, &user(1), id, 1, pb::AllocationMode::Isolated);
        fund_lease(&mut s, &user(1), id, 100);
    }
    for id in ["s1", "s2", "s3", "s4"] {
        register(&mut s, &user(1), id, 1, pb::AllocationMode::Shared);
        fund_lease(&mut s, &user(1), id, 100);
    }
    // Shared: up to 3.0 × 100%.
    opt_in_op(&mut s, 1, &a, "s1", 1, 10_000).unwrap();
    opt_in_op(&mut s, 1, &a, "s2", 2, 10_000).unwrap();
    opt_in_op(&mut s, 1, &a, "s3", 3, 10_000).unwrap();
    let e = opt_in_op(&mut s, 1, &a, "s4", 4, 1).unwrap_err();
    assert_eq!((e.codespace, e.code), ("consumers", 18));
    // An isolated consumer caps everything at 100%.
    let e = opt_in_op(&mut s, 1, &a, "i1", 5, 1).unwrap_err();
    assert_eq!((e.codespace, e.code), ("consumers", 17));
    // Lowering is always allowed.
    opt_in_op(&mut s, 1, &a, "s3", 3, 5_000).unwrap();

    opt_in_op(&mut s, 2, &b, "i1", 11, 6_000).unwrap();
    let e = opt_in_op(&mut s, 2, &b, "i2", 12, 5_000).unwrap_err();
    assert_eq!(e.code, 17);
    opt_in_op(&mut s, 2, &b, "i2", 12, 4_000).unwrap();
    let e = opt_in_op(&mut s, 2, &b, "s1", 13, 1).unwrap_err();
    assert_eq!(
        e.code, 17,
        "with an isolated allocation, shared ones count against 100% too"
    );
    end_epoch(&mut s, 10);

    // Epoch 2: b reduces i1 to 1000. Until the reduction's window ends, 6000 stays encumbered.
    opt_in_op(&mut s, 2, &b, "i1", 11, 1_000).unwrap();
    assert_eq!(
        opt_in_op(&mut s, 2, &b, "i2", 12, 9_000).unwrap_err().code,
        17
    );
    end_epoch(&mut s, 20);
    let o = opt_in::load(&s, &cid("i1"), &b).unwrap().unwrap();
    assert_eq!(
        (o.allocation_bps, o.slashable_bps, o.slashable_until_epoch),
        (1_000, 6_000, 4)
    );
    let summary = allocation::summary(&s, &b, 3, &crate::params::load(&s).unwrap()).unwrap();
    assert_eq!((summary.encumbered_bps, summary.cap_bps), (10_000, 10_000));
    assert_eq!(
        opt_in_op(&mut s, 2, &b, "i2", 12, 9_000).unwrap_err().code,
        17
    );
    end_epoch(&mut s, 30);
    end_epoch(&mut s, 40);
    // Epoch 5: the window (until 4) closed.
    opt_in_op(&mut s, 2, &b, "i2", 12, 9_000).unwrap();
    assert_eq!(
        opt_in_op(&mut s, 2, &b, "i2", 12, 9_001).unwrap_err().code,
        17
    );

    // Removing an isolated consumer leaves its allocation encumbered for the delay too.
    end_epoch(&mut s, 50);
    remove(&mut s, &user(1), "i2");
    assert_eq!(
        allocation::summary(&s, &b, 6, &crate::params::load(&s).unwrap())
            .unwrap()
            .encumbered_bps,
        10_000
    );
    assert_eq!(
        opt_in_op(&mut s, 2, &b, "i1", 11, 2_000).unwrap_err().code,
        17
    );
    end_epoch(&mut s, 60);
    end_epoch(&mut s, 70);
    end_epoch(&mut s, 80);
    // Epoch 9 > 6 + 2: free.
    opt_in_op(&mut s, 2, &b, "i1", 11, 10_000).unwrap();
}

#[test]
fn a_consumer_key_is_never_reused_by_another_operator_or_consumer() {
    let mut s = MemState::new();
    init(&mut s);
    let a = register_op(&mut s, 1, 100);
    let b = register_op(&mut s, 2, 100);
    register(&mut s, &user(1), "c", 1, pb::AllocationMode::Shared);
    register(&mut s, &user(1), "d", 1, pb::AllocationMode::Shared);
    opt_in_op(&mut s, 1, &a, "c", 1, 100).unwrap();
    // Moving to another key frees nothing: key 1 stays a's on c.
    opt_in_op(&mut s, 1, &a, "c", 2, 100).unwrap();
    end_epoch(&mut s, 10);
    assert_eq!(opt_in_op(&mut s, 2, &b, "c", 1, 100).unwrap_err().code, 19);
    assert_eq!(opt_in_op(&mut s, 1, &a, "d", 1, 100).unwrap_err().code, 19);
    assert_eq!(opt_in_op(&mut s, 1, &a, "d", 2, 100).unwrap_err().code, 19);
    // And a may go back to it on c.
    opt_in_op(&mut s, 1, &a, "c", 1, 100).unwrap();
    assert_eq!(
        s.consumer_key_owner(consumer_key(1).as_bytes()).unwrap(),
        Some((cid("c"), a))
    );
    assert_eq!(s.consumer_key_owner(&[7; 32]).unwrap(), None);
}

fn processed_for(s: &MemState, epoch: u64) -> usize {
    (0..120)
        .filter(|i| {
            consumer::require(s, &cid(&format!("c{i:03}")))
                .unwrap()
                .last_processed_epoch
                == epoch
        })
        .count()
}

/// 120 funded consumers with one operator opted in to each (250 bps each: exactly 3.0 × 100%).
fn many_consumers(s: &mut MemState) {
    init_with(
        s,
        Params {
            max_consumers_per_block: 50,
            ..Params::default()
        },
    );
    let a = register_op(s, 1, 100);
    for i in 0..120u8 {
        let id = format!("c{i:03}");
        register(s, &user(1), &id, 1, pb::AllocationMode::Shared);
        fund_lease(s, &user(1), &id, 10);
        opt_in_op(s, 1, &a, &id, i + 1, 250).unwrap();
    }
}

#[test]
fn epoch_work_is_bounded_per_block_and_resumes_from_the_cursor() {
    let mut s = MemState::new();
    many_consumers(&mut s);
    end_epoch(&mut s, 10);
    assert_eq!(processed_for(&s, 1), 50);
    let run = load_run(&s).unwrap().unwrap();
    assert_eq!(
        (run.epoch, run.cursor.as_str(), run.next_epoch),
        (1, "c049", 0)
    );
    end_block(&mut s, 11);
    assert_eq!(processed_for(&s, 1), 100);
    end_block(&mut s, 12);
    assert_eq!(processed_for(&s, 1), 120);
    assert_eq!(load_run(&s).unwrap(), None);
    // Each consumer's first update carries the height of the block that processed it.
    for (i, height) in [(0, 10), (49, 10), (50, 11), (99, 11), (100, 12), (119, 12)] {
        let u = read::update(&s, &format!("c{i:03}"), 1).unwrap().unwrap();
        assert_eq!((u.hub_height, u.epoch), (height, 1), "c{i:03}");
        assert_eq!(u.changes[0].power, 2, "250 bps of power 100");
    }
    end_block(&mut s, 13);
    assert_eq!(processed_for(&s, 1), 120);
}

#[test]
fn an_epoch_that_ends_during_a_run_is_processed_after_it() {
    let mut s = MemState::new();
    many_consumers(&mut s);
    end_epoch(&mut s, 10);
    // Epoch 2 ends one block later (a very short epoch): queued behind the run.
    end_epoch(&mut s, 11);
    let run = load_run(&s).unwrap().unwrap();
    assert_eq!((run.epoch, run.next_epoch), (1, 2));
    assert_eq!(
        processed_for(&s, 1),
        100,
        "end-block worked on epoch 1's run"
    );
    end_block(&mut s, 12);
    // Epoch 1's run finished; epoch 2's starts in the next block.
    assert_eq!(processed_for(&s, 1), 120);
    let run = load_run(&s).unwrap().unwrap();
    assert_eq!((run.epoch, run.cursor.as_str(), run.next_epoch), (2, "", 0));
    for h in 13..=15 {
        end_block(&mut s, h);
    }
    assert_eq!(processed_for(&s, 2), 120);
    assert_eq!(load_run(&s).unwrap(), None);
    // Leases drawn twice, once per epoch.
    assert_eq!(
        consumer::require(&s, &cid("c007")).unwrap().lease_balance,
        8
    );
}

#[test]
fn unfunded_registrations_cost_the_epoch_run_nothing() {
    let mut s = MemState::new();
    init_with(
        &mut s,
        Params {
            max_consumers_per_block: 2,
            ..Params::default()
        },
    );
    let a = register_op(&mut s, 1, 100);
    // Spam: many registrations, none funded (or funded below the fee).
    for i in 0..30u8 {
        register(
            &mut s,
            &user(1),
            &format!("spam{i:02}"),
            10,
            pb::AllocationMode::Shared,
        );
    }
    fund_lease(&mut s, &user(1), "spam00", 9);
    register(&mut s, &user(1), "real", 10, pb::AllocationMode::Shared);
    opt_in_op(&mut s, 1, &a, "real", 1, 1_000).unwrap();
    assert!(consumer::live_after(&s, None, 100).unwrap().is_empty());
    // The run has nothing to walk: it finishes in the epoch-end block.
    end_epoch(&mut s, 10);
    assert_eq!(load_run(&s).unwrap(), None);
    assert_eq!(
        consumer::require(&s, &cid("spam05"))
            .unwrap()
            .last_processed_epoch,
        0
    );
    // Funding up to the fee enters the index; the next run processes and activates it.
    fund_lease(&mut s, &user(1), "real", 10);
    assert_eq!(
        consumer::live_after(&s, None, 100).unwrap(),
        vec![cid("real")]
    );
    let ended = end_restaking_epoch(&mut s, 20);
    let progress = crate::epoch::end_epoch(
        &mut s,
        &ballast_framework::BlockContext {
            height: 20,
            ..Default::default()
        },
        ended,
    )
    .unwrap();
    assert_eq!((progress.processed, progress.finished), (1, true));
    assert_eq!(status(&s, "real"), Status::Active);
    // Raising the fee above the lease keeps an ACTIVE consumer walked (its next processing
    // stops it and refunds the rest).
    update_terms(&mut s, "real", |m| m.fee_per_epoch = Some("1000".into()));
    assert_eq!(
        consumer::live_after(&s, None, 100).unwrap(),
        vec![cid("real")]
    );
    end_epoch(&mut s, 30);
    assert_eq!(
        status(&s, "real"),
        Status::Stopped(StopReason::LeaseExhausted)
    );
    assert!(consumer::live_after(&s, None, 100).unwrap().is_empty());
}

#[test]
fn withdrawn_opt_ins_are_deleted_once_nothing_is_slashable_and_their_keys_stay_claimed() {
    let mut s = MemState::new();
    init_with(
        &mut s,
        Params {
            deallocation_delay_epochs: 1,
            ..Params::default()
        },
    );
    let a = register_op(&mut s, 1, 100);
    let b = register_op(&mut s, 2, 100);
    let d = register_op(&mut s, 3, 100);
    register(&mut s, &user(1), "c", 1, pb::AllocationMode::Shared);
    fund_lease(&mut s, &user(1), "c", 1_000);
    opt_in_op(&mut s, 1, &a, "c", 1, 3_000).unwrap();
    opt_in_op(&mut s, 2, &b, "c", 2, 2_000).unwrap();
    opt_in_op(&mut s, 3, &d, "c", 3, 1_000).unwrap();
    // b withdraws before anything was in force.
    opt_out(&mut s, 2, &b, "c").unwrap();
    let count = |s: &MemState| consumer::require(s, &cid("c")).unwrap().opt_in_count;
    assert_eq!(count(&s), 3);
    end_epoch(&mut s, 10);
    assert_eq!(opt_in::load(&s, &cid("c"), &b).unwrap(), None);
    assert!(opt_in::of_operator(&s, &b).unwrap().is_empty());
    assert_eq!(count(&s), 2);
    assert!(s
        .events()
        .iter()
        .any(|e| e.kind == events::OPT_IN_REMOVED
            && e.get("operator") == Some(b.to_string().as_str())));
    assert_eq!(
        s.consumer_key_owner(consumer_key(2).as_bytes()).unwrap(),
        Some((cid("c"), b)),
        "the key stays b's on c"
    );
    // a and d withdraw in epoch 2: 3000 and 1000 stay slashable until 2 + 1; d is tombstoned.
    opt_out(&mut s, 1, &a, "c").unwrap();
    opt_out(&mut s, 3, &d, "c").unwrap();
    let mut o = opt_in::load(&s, &cid("c"), &d).unwrap().unwrap();
    o.tombstoned = true;
    opt_in::save(&mut s, &o).unwrap();
    end_epoch(&mut s, 20);
    let o = opt_in::load(&s, &cid("c"), &a).unwrap().unwrap();
    assert_eq!(
        (o.allocation_bps, o.slashable_bps, o.slashable_until_epoch),
        (0, 3_000, 3),
        "kept while slashable"
    );
    end_epoch(&mut s, 30);
    // Processed for epoch 3 in epoch 4: the window closed.
    assert_eq!(opt_in::load(&s, &cid("c"), &a).unwrap(), None);
    assert!(opt_in::of_operator(&s, &a).unwrap().is_empty());
    assert!(
        opt_in::load(&s, &cid("c"), &d).unwrap().is_some(),
        "a tombstoned opt-in is kept"
    );
    assert_eq!(count(&s), 1);
    // a comes back with its own key; another operator still cannot use it.
    opt_in_op(&mut s, 1, &a, "c", 1, 1_000).unwrap();
    assert_eq!(count(&s), 2);
    assert_eq!(
        opt_in_op(&mut s, 2, &b, "c", 1, 1_000).unwrap_err().code,
        19
    );
}

#[test]
fn a_consumer_takes_a_new_operator_only_below_max_opt_ins_and_never_one_without_power() {
    let mut s = MemState::new();
    init_with(
        &mut s,
        Params {
            max_operators_cap: 2,
            max_opt_ins_per_consumer: 2,
            ..Params::default()
        },
    );
    let ops: Vec<OperatorId> = (1..=3).map(|i| register_op(&mut s, i, 100)).collect();
    let powerless = register_op(&mut s, 4, 0);
    let mut m = register_msg(&user(1), "c", 1, pb::AllocationMode::Shared);
    m.terms.as_mut().unwrap().max_operators = 2;
    run(
        &mut s,
        &MsgRegisterConsumer::decode(&m.encode_to_vec()).unwrap(),
    )
    .unwrap();
    fund_lease(&mut s, &user(1), "c", 100);
    let e = opt_in_op(&mut s, 4, &powerless, "c", 4, 1_000).unwrap_err();
    assert_eq!((e.codespace, e.code), ("consumers", 24), "{e:?}");
    opt_in_op(&mut s, 1, &ops[0], "c", 1, 1_000).unwrap();
    opt_in_op(&mut s, 2, &ops[1], "c", 2, 1_000).unwrap();
    let e = opt_in_op(&mut s, 3, &ops[2], "c", 3, 1_000).unwrap_err();
    assert_eq!((e.codespace, e.code), ("consumers", 23), "{e:?}");
    assert_eq!(opt_in::load(&s, &cid("c"), &ops[2]).unwrap(), None);
    assert_eq!(
        s.consumer_key_owner(consumer_key(3).as_bytes()).unwrap(),
        None,
        "a refused opt-in claims no key"
    );
    // Opted-in operators still change their opt-ins.
    opt_in_op(&mut s, 1, &ops[0], "c", 1, 2_000).unwrap();
    // The second withdraws before its opt-in takes effect: deleted at the epoch end.
    opt_out(&mut s, 2, &ops[1], "c").unwrap();
    end_epoch(&mut s, 10);
    assert_eq!(consumer::require(&s, &cid("c")).unwrap().opt_in_count, 1);
    opt_in_op(&mut s, 3, &ops[2], "c", 3, 1_000).unwrap();
    assert_eq!(consumer::require(&s, &cid("c")).unwrap().opt_in_count, 2);
}

#[test]
fn a_run_that_finishes_in_an_epoch_end_block_leaves_the_next_run_to_the_next_block() {
    let mut s = MemState::new();
    init_with(
        &mut s,
        Params {
            max_consumers_per_block: 2,
            ..Params::default()
        },
    );
    let op = register_op(&mut s, 1, 100);
    for (k, id) in ["a", "b", "c"].iter().enumerate() {
        register(&mut s, &user(1), id, 1, pb::AllocationMode::Shared);
        fund_lease(&mut s, &user(1), id, 100);
        opt_in_op(&mut s, 1, &op, id, k as u8 + 1, 1_000).unwrap();
    }
    // Epoch 1 ends at height 10: a and b are processed, c is left for the next block.
    end_epoch(&mut s, 10);
    assert_eq!(load_run(&s).unwrap().unwrap().cursor, "b");
    // a and b go away, so c comes first in the next run; c's set changes in epoch 2.
    remove(&mut s, &user(1), "a");
    remove(&mut s, &user(1), "b");
    opt_in_op(&mut s, 1, &op, "c", 3, 2_000).unwrap();
    // Epoch 2 ends at height 11, whose end-block finishes epoch 1's run with c.
    end_epoch(&mut s, 11);
    let c = consumer::require(&s, &cid("c")).unwrap();
    assert_eq!(
        (c.last_processed_epoch, c.last_update_id),
        (1, 1),
        "c is processed once in block 11"
    );
    let run = load_run(&s).unwrap().unwrap();
    assert_eq!((run.epoch, run.cursor.as_str(), run.next_epoch), (2, "", 0));
    end_block(&mut s, 12);
    assert_eq!(load_run(&s).unwrap(), None);
    let updates = read::updates_after(&s, "c", 0, 10).unwrap();
    assert_eq!(
        updates
            .iter()
            .map(|u| (u.update_id, u.epoch, u.hub_height))
            .collect::<Vec<_>>(),
        vec![(1, 1, 11), (2, 2, 12)]
    );
}

#[test]
fn a_change_of_an_ended_epoch_is_never_applied_before_a_lagging_run_processes_an_earlier_one() {
    let mut s = MemState::new();
    init_with(
        &mut s,
        Params {
            max_consumers_per_block: 1,
            ..Params::default()
        },
    );
    let op = register_op(&mut s, 1, 100);
    for (k, id) in ["a", "a2", "b"].iter().enumerate() {
        register(&mut s, &user(1), id, 1, pb::AllocationMode::Shared);
        fund_lease(&mut s, &user(1), id, 100);
        opt_in_op(&mut s, 1, &op, id, k as u8 + 1, 2_000).unwrap();
    }
    // Epoch 1 ends: its run processes a only.
    end_epoch(&mut s, 10);
    // Epoch 2: b's epoch-1 change (2000) is applied at once (epoch 1's run has yet to reach
    // b and will apply it too); 6000 is pending for epoch 2.
    opt_in_op(&mut s, 1, &op, "b", 3, 6_000).unwrap();
    let o = opt_in::load(&s, &cid("b"), &op).unwrap().unwrap();
    assert_eq!(
        (
            o.allocation_bps,
            o.pending.map(|p| (p.allocation_bps, p.epoch))
        ),
        (2_000, Some((6_000, 2)))
    );
    // Epoch 2 ends while epoch 1's run still lags (a2 in this block, b not yet).
    end_epoch(&mut s, 11);
    assert_eq!(
        consumer::require(&s, &cid("b"))
            .unwrap()
            .last_processed_epoch,
        0
    );
    // Applying 6000 now would put it in force for epoch 1: a new change is refused.
    let e = opt_in_op(&mut s, 1, &op, "b", 3, 1_000).unwrap_err();
    assert_eq!((e.codespace, e.code), ("consumers", 25), "{e:?}");
    assert!(e.log.contains("still pending for epoch 2"), "{}", e.log);
    let e = opt_out(&mut s, 1, &op, "b").unwrap_err();
    assert_eq!(e.code, 25);
    // b is processed for epoch 1 with 2000 bps (power 20), not 6000.
    end_block(&mut s, 12);
    let u1 = read::update(&s, "b", 1).unwrap().unwrap();
    assert_eq!(u1.epoch, 1);
    assert_eq!(u1.changes[0].power, 20);
    // Epoch 2's run is next for b, and would apply 6000 anyway: accepted now.
    opt_in_op(&mut s, 1, &op, "b", 3, 1_000).unwrap();
    for h in 13..=15 {
        end_block(&mut s, h);
    }
    let u2 = read::update(&s, "b", 2).unwrap().unwrap();
    assert_eq!((u2.epoch, u2.changes[0].power), (2, 60));
    let o = opt_in::load(&s, &cid("b"), &op).unwrap().unwrap();
    assert_eq!(
        o.pending.map(|p| (p.allocation_bps, p.epoch)),
        Some((1_000, 3))
    );
}

#[test]
fn a_consumer_removed_before_the_run_reaches_it_is_processed_for_the_ended_epoch_first() {
    let mut s = MemState::new();
    init_with(
        &mut s,
        Params {
            max_consumers_per_block: 1,
            ..Params::default()
        },
    );
    let op = register_op(&mut s, 1, 100);
    for (k, id) in ["a", "b"].iter().enumerate() {
        register(&mut s, &user(1), id, 10, pb::AllocationMode::Shared);
        fund_lease(&mut s, &user(1), id, 1_000);
        opt_in_op(&mut s, 1, &op, id, k as u8 + 1, 1_000).unwrap();
    }
    end_epoch(&mut s, 10);
    end_block(&mut s, 11);
    assert_eq!(status(&s, "b"), Status::Active);
    // Epoch 2: b's operator raises its allocation; epoch 2's run reaches a only.
    opt_in_op(&mut s, 1, &op, "b", 2, 3_000).unwrap();
    end_epoch(&mut s, 20);
    assert_eq!(
        consumer::require(&s, &cid("b"))
            .unwrap()
            .last_processed_epoch,
        1
    );
    let owner_before = s.balance(&user(1), "ubal").unwrap();
    let m = pb::MsgRemoveConsumer {
        owner: user(1).to_string(),
        consumer_id: "b".into(),
    };
    run_at(
        &mut s,
        &crate::msg::MsgRemoveConsumer::decode(&m.encode_to_vec()).unwrap(),
        21,
    )
    .unwrap();
    let c = consumer::require(&s, &cid("b")).unwrap();
    assert_eq!(c.status, Status::Stopped(StopReason::Removed));
    // Epoch 2's fee was paid and its update written before the stop; the rest came back.
    assert_eq!(
        (c.last_processed_epoch, c.total_paid, c.last_update_id),
        (2, 20, 2)
    );
    let u2 = read::update(&s, "b", 2).unwrap().unwrap();
    assert_eq!((u2.epoch, u2.hub_height, u2.changes[0].power), (2, 21, 30));
    assert_eq!(s.balance(&user(1), "ubal").unwrap(), owner_before + 980);
    // The run passes b by.
    end_block(&mut s, 22);
    assert_eq!(load_run(&s).unwrap(), None);
    assert_eq!(consumer::require(&s, &cid("b")).unwrap().last_update_id, 2);
    assert_eq!(
        s.balance(&module_account(), "ubal").unwrap(),
        consumer::require(&s, &cid("a")).unwrap().lease_balance
    );
}

#[test]
fn module_routes_its_messages_and_genesis() {
    use crate::msg::{MsgFundLease, MsgRemoveConsumer};
    use ballast_framework::{BlockContext, Module};
    let m = crate::ConsumersModule;
    assert_eq!(m.name(), "consumers");
    assert_eq!(m.default_genesis()["params"]["max_consumers_per_block"], 50);
    for url in [
        MsgRegisterConsumer::TYPE_URL,
        MsgUpdateConsumer::TYPE_URL,
        MsgFundLease::TYPE_URL,
        MsgRemoveConsumer::TYPE_URL,
        MsgOptIn::TYPE_URL,
        MsgOptOut::TYPE_URL,
    ] {
        // Empty bodies decode to empty fields, which the field checks refuse.
        let r = m.decode_msg(&prost_types::Any {
            type_url: url.into(),
            value: Vec::new(),
        });
        assert!(matches!(r, Some(Err(_))), "{url}");
    }
    let reg = register_msg(&user(1), "c", 1, pb::AllocationMode::Shared);
    let d = m
        .decode_msg(&prost_types::Any {
            type_url: MsgRegisterConsumer::TYPE_URL.into(),
            value: reg.encode_to_vec(),
        })
        .unwrap()
        .unwrap();
    assert_eq!(d.signers(), vec![user(1)]);
    assert!(m
        .decode_msg(&prost_types::Any {
            type_url: "/cosmos.bank.v1beta1.MsgSend".into(),
            value: Vec::new(),
        })
        .is_none());
    let mut s = MemState::new();
    let ctx = BlockContext::default();
    let e = m
        .init_genesis(
            &mut s,
            &ctx,
            Some(&serde_json::json!({"params": {"max_operators_cap": 0}})),
        )
        .unwrap_err();
    assert!(e.to_string().contains("max_operators_cap"), "{e}");
    m.init_genesis(&mut s, &ctx, None).unwrap();
    assert_eq!(crate::params::load(&s).unwrap(), Params::default());
    // No run: the end-block hook does nothing.
    m.end_block(&mut s, &ctx).unwrap();
    assert_eq!(load_run(&s).unwrap(), None);
}

mod props {
    use super::*;
    use crate::msg::{MsgFundLease, MsgRemoveConsumer};
    use proptest::prelude::*;

    const CONSUMERS: [&str; 4] = ["iso-a", "iso-b", "sh-a", "sh-b"];

    #[derive(Clone, Debug)]
    enum Op {
        Register(usize),
        Fund(usize, u128),
        OptIn(u8, usize, u8, u32),
        OptOut(u8, usize),
        Remove(usize),
        Fee(usize, u128),
        Block,
        Epoch,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => (0..4usize).prop_map(Op::Register),
            3 => (0..4usize, 1..300u128).prop_map(|(c, a)| Op::Fund(c, a)),
            6 => (1..4u8, 0..4usize, 1..6u8, 1..10_001u32)
                .prop_map(|(o, c, k, b)| Op::OptIn(o, c, k, b)),
            2 => (1..4u8, 0..4usize).prop_map(|(o, c)| Op::OptOut(o, c)),
            1 => (0..4usize).prop_map(Op::Remove),
            1 => (0..4usize, 1..100u128).prop_map(|(c, f)| Op::Fee(c, f)),
            2 => Just(Op::Block),
            3 => Just(Op::Epoch),
        ]
    }

    fn refused_not_fatal(r: Result<(), TxError>) -> Result<(), TestCaseError> {
        if let Err(e) = r {
            prop_assert!(!e.fatal, "{e:?}");
        }
        Ok(())
    }

    fn check_invariants(s: &MemState) -> Result<(), TestCaseError> {
        let mut leases: u128 = 0;
        for id in CONSUMERS {
            if let Some(c) = consumer::load(s, &cid(id)).unwrap() {
                prop_assert_eq!(
                    opt_in::of_consumer(s, &c.id).unwrap().len() as u64,
                    c.opt_in_count
                );
                leases += c.lease_balance;
                if c.status.is_stopped() {
                    prop_assert_eq!(c.lease_balance, 0);
                }
            }
        }
        prop_assert_eq!(s.balance(&module_account(), "ubal").unwrap(), leases);
        let params = crate::params::load(s).unwrap();
        let now = s.current_epoch().unwrap();
        for i in 1..4u8 {
            let op = OperatorId::from_secret_key(&btc_sk(i));
            let sum = allocation::summary(s, &op, now, &params).unwrap();
            prop_assert!(
                sum.encumbered_bps <= sum.cap_bps,
                "operator {i}: {} > {}",
                sum.encumbered_bps,
                sum.cap_bps
            );
        }
        let l = rewards::liabilities(s).unwrap();
        prop_assert_eq!(
            s.balance(&ballast_restaking::module_account(), "ubal")
                .unwrap(),
            l.total().unwrap()
        );
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Over random message sequences and epoch ends, the module account holds exactly the
        /// sum of the lease balances, no operator is ever above its cap, and restaking's reward
        /// accounting stays whole.
        #[test]
        fn leases_are_conserved_and_caps_always_hold(ops in proptest::collection::vec(op(), 1..60)) {
            let mut s = MemState::new();
            init_with(&mut s, Params {
                max_consumers_per_block: 2,
                deallocation_delay_epochs: 2,
                max_reuse_ratio: "1.5".parse().unwrap(),
                ..Params::default()
            });
            let ops_ids: Vec<OperatorId> =
                (1..4u8).map(|i| register_op(&mut s, i, 50 * u128::from(i))).collect();
            // Every consumer starts registered (a later Register is a refused duplicate).
            for (c, id) in CONSUMERS.iter().enumerate() {
                let mode = if c < 2 { pb::AllocationMode::Isolated } else { pb::AllocationMode::Shared };
                register(&mut s, &user(1), id, 20, mode);
            }
            let mut height = 1u64;
            for op in ops {
                height += 1;
                match op {
                    Op::Register(c) => {
                        let mode = if c < 2 { pb::AllocationMode::Isolated } else { pb::AllocationMode::Shared };
                        let m = register_msg(&user(1), CONSUMERS[c], 20, mode);
                        refused_not_fatal(run_at(&mut s, &MsgRegisterConsumer::decode(&m.encode_to_vec()).unwrap(), height))?;
                    }
                    Op::Fund(c, amount) => {
                        fund(&mut s, &user(2), amount);
                        let m = pb::MsgFundLease { funder: user(2).to_string(), consumer_id: CONSUMERS[c].into(), amount: amount.to_string() };
                        refused_not_fatal(run_at(&mut s, &MsgFundLease::decode(&m.encode_to_vec()).unwrap(), height))?;
                    }
                    Op::OptIn(o, c, k, bps) => {
                        let key = consumer_key(k + 10 * o);
                        let m = opt_in_msg(&owner(o), &ops_ids[usize::from(o - 1)], CONSUMERS[c], &key, bps);
                        refused_not_fatal(run_at(&mut s, &MsgOptIn::decode(&m.encode_to_vec()).unwrap(), height))?;
                    }
                    Op::OptOut(o, c) => {
                        let m = pb::MsgOptOut { owner: owner(o).to_string(), operator_btc_pk: ops_ids[usize::from(o - 1)].to_bytes().to_vec(), consumer_id: CONSUMERS[c].into() };
                        refused_not_fatal(run_at(&mut s, &MsgOptOut::decode(&m.encode_to_vec()).unwrap(), height))?;
                    }
                    Op::Remove(c) => {
                        let m = pb::MsgRemoveConsumer { owner: user(1).to_string(), consumer_id: CONSUMERS[c].into() };
                        refused_not_fatal(run_at(&mut s, &MsgRemoveConsumer::decode(&m.encode_to_vec()).unwrap(), height))?;
                    }
                    Op::Fee(c, fee) => {
                        let m = pb::MsgUpdateConsumer { owner: user(1).to_string(), consumer_id: CONSUMERS[c].into(), fee_per_epoch: Some(fee.to_string()), ..Default::default() };
                        refused_not_fatal(run_at(&mut s, &MsgUpdateConsumer::decode(&m.encode_to_vec()).unwrap(), height))?;
                    }
                    Op::Block => end_block(&mut s, height),
                    Op::Epoch => { end_epoch(&mut s, height); }
                }
                check_invariants(&s)?;
            }
            // Every stored set matches its commitment; the stored updates are exactly ids
            // 1..=last_update_id (walked in the store, not looked up by id), each written at
            // its own height.
            for id in CONSUMERS {
                if let Some(c) = consumer::load(&s, &cid(id)).unwrap() {
                    let prefix = crate::state_key::updates_prefix(id);
                    let mut ids = Vec::new();
                    let mut heights = Vec::new();
                    for item in ballast_framework::StateRead::prefix_raw(&s, prefix.as_bytes()) {
                        let (k, v) = item.unwrap();
                        let n: u64 = std::str::from_utf8(&k[prefix.len()..]).unwrap().parse().unwrap();
                        let u = pb::ValidatorSetUpdate::decode(v.as_slice()).unwrap();
                        prop_assert_eq!(u.update_id, n);
                        ids.push(n);
                        heights.push(u.hub_height);
                    }
                    prop_assert_eq!(ids, (1..=c.last_update_id).collect::<Vec<u64>>());
                    prop_assert!(
                        heights.windows(2).all(|w| w[0] < w[1]),
                        "{}: update heights {:?}",
                        id,
                        heights
                    );
                    if let Some(set) = read::validator_set(&s, id).unwrap() {
                        let vals: Vec<ConsumerValidator> = s.consumer_validators(&cid(id)).unwrap();
                        prop_assert_eq!(crate::valset::set_hash(&vals).to_vec(), set.set_hash.clone());
                        prop_assert_eq!(read::set_commitment(&s, id).unwrap().unwrap().set_hash, set.set_hash);
                    }
                }
            }
        }

        /// Bytes from anywhere never panic a decoder or a query; they get an error or a value.
        #[test]
        fn random_bytes_never_panic_decoders_or_queries(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = MsgRegisterConsumer::decode(&bytes);
            let _ = MsgUpdateConsumer::decode(&bytes);
            let _ = MsgFundLease::decode(&bytes);
            let _ = MsgRemoveConsumer::decode(&bytes);
            let _ = MsgOptIn::decode(&bytes);
            let _ = MsgOptOut::decode(&bytes);
            let _ = ConsumerKey::parse(&bytes);
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                let _ = crate::GenesisState::from_json(&v);
            }
            let mut s = MemState::new();
            init(&mut s);
            for method in ["Params", "Consumer", "Consumers", "OptIns", "OperatorAllocations", "ValidatorSet", "Updates"] {
                let path = format!("{}{method}", crate::query::QUERY_PREFIX);
                let r = crate::query::route(&s, &path, &bytes).unwrap();
                if let Err(e) = r {
                    prop_assert!(!e.fatal, "{method}: {e:?}");
                }
            }
        }

        /// Valid-looking messages with random field values decode or are refused, never panic.
        #[test]
        fn random_fields_never_panic(
            id in "[ -~]{0,60}", amount in "[0-9a-z.-]{0,45}", key in proptest::collection::vec(any::<u8>(), 0..40),
            bps in any::<u32>(), mode in any::<i32>(), op in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let _ = MsgOptIn::decode(&pb::MsgOptIn { owner: owner(1).to_string(), operator_btc_pk: op.clone(), consumer_id: id.clone(), consumer_pubkey: key, allocation_bps: bps }.encode_to_vec());
            let _ = MsgFundLease::decode(&pb::MsgFundLease { funder: user(1).to_string(), consumer_id: id.clone(), amount: amount.clone() }.encode_to_vec());
            let mut reg = register_msg(&user(1), &id, 1, pb::AllocationMode::Shared);
            reg.allocation_mode = mode;
            reg.terms.as_mut().unwrap().fee_per_epoch = amount.clone();
            reg.terms.as_mut().unwrap().double_sign_slash_fraction = amount;
            let _ = MsgRegisterConsumer::decode(&reg.encode_to_vec());
        }
    }
}
