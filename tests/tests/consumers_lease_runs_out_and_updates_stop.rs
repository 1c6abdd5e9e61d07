//! A consumer's lease pays `fee_per_epoch` at every epoch end, split among its operators by
//! their power on the consumer and credited through restaking's reward index: each operator's
//! commission goes to its owner and the rest to its delegators pro rata. When the lease no
//! longer covers the fee the consumer goes STOPPED (the rest is refunded to its owner), and no
//! update is written after that, whatever its operators do.

mod consumers_support;

use ballast_proto::ballast::consumers::v1 as cpb;
use consumers_support::*;

#[test]
fn the_lease_pays_operators_and_delegators_then_runs_out_and_updates_stop() {
    // Operators 0 and 1 with 100 BAL each; account 2 delegates 300 BAL to operator 0;
    // account 3 owns the consumer.
    let mut chain = Chain::new(&[100, 100], 2, serde_json::json!({}));
    let id = "demo-3";
    let fee: u128 = 10_000;
    chain.send_ok(2, vec![chain.bond_msg(2, 0, 300)]);
    chain.send_ok(
        3,
        vec![
            chain.register_msg(3, id, fee, 2, 10, cpb::AllocationMode::Shared),
            chain.fund_msg(3, id, 25_000),
        ],
    );
    chain.send_ok(0, vec![chain.opt_in_msg(0, id, 1, 10_000)]);
    chain.send_ok(1, vec![chain.opt_in_msg(1, id, 2, 10_000)]);
    // Epoch 1 ends: ACTIVE, the first fee is drawn.
    chain.finish_epoch();
    let c = chain.consumer(id);
    assert_eq!(c.status, cpb::ConsumerStatus::Active as i32);
    assert_eq!(
        (c.lease_balance.as_str(), c.total_paid.as_str()),
        ("15000", "10000")
    );
    let set = chain.validator_set(id).unwrap();
    assert_eq!(
        powers(&set),
        vec![(consumer_key(1), 400), (consumer_key(2), 100)]
    );
    let before: Vec<(u128, u128)> = (0..3).map(|i| chain.rewards(i)).collect();

    // Epoch 2 has no txs, so no fees: the rewards that appear are the lease's alone.
    // 10000 by power 400 / 100: 8000 and 2000. Commission 5%: 400 and 100 to the owners;
    // 7600 over operator 0's weights 100 (owner) / 300 (delegator): 1900 and 5700; 1900 to
    // operator 1's owner.
    let end2 = chain.finish_epoch();
    let after: Vec<(u128, u128)> = (0..3).map(|i| chain.rewards(i)).collect();
    let delta = |i: usize| (after[i].0 - before[i].0, after[i].1 - before[i].1);
    assert_eq!(delta(0), (400 + 1_900, 400));
    assert_eq!(delta(1), (100 + 1_900, 100));
    assert_eq!(delta(2), (5_700, 0));
    let paid = events_of(&end2, "ballast.consumers.v1.lease_paid");
    assert_eq!(paid.len(), 1);
    assert_eq!(attr(paid[0], "amount"), Some("10000"));
    let credited = events_of(&end2, "restaking.operators_paid");
    assert_eq!(attr(credited[0], "credited"), Some("10000"));
    assert_eq!(chain.consumer(id).lease_balance, "5000");
    let consumers_account = ballast_framework::Address::module("consumers");
    assert_eq!(chain.balance(&consumers_account), 5_000);

    // Epoch 3: 5000 < 10000: STOPPED, the 5000 go back to the owner, no update.
    let owner = chain.addr(3);
    let owner_before = chain.balance(&owner);
    chain.send_ok(0, vec![chain.opt_in_msg(0, id, 1, 5_000)]);
    let end3 = chain.finish_epoch();
    let c = chain.consumer(id);
    assert_eq!(c.status, cpb::ConsumerStatus::Stopped as i32);
    assert_eq!(c.stop_reason, cpb::StopReason::LeaseExhausted as i32);
    assert_eq!(c.stopped_height, end3.height as u64);
    assert_eq!(
        (c.lease_balance.as_str(), c.total_paid.as_str()),
        ("0", "20000")
    );
    // Account 3 sent nothing since: its balance rose by exactly the refund.
    assert_eq!(chain.balance(&owner), owner_before + 5_000);
    assert_eq!(chain.balance(&consumers_account), 0);
    assert!(events_of(&end3, "ballast.consumers.v1.validator_set_update").is_empty());
    let status = events_of(&end3, "ballast.consumers.v1.consumer_status");
    assert_eq!(
        attr(status[0], "stop_reason"),
        Some("STOP_REASON_LEASE_EXHAUSTED")
    );
    let last_update = c.last_update_id;

    // Stopped is final: opt-ins and funding are refused, and later epochs write nothing.
    let r = chain.send(1, vec![chain.opt_in_msg(1, id, 2, 2_000)]);
    assert_eq!((r.codespace.as_str(), r.code), ("consumers", 13));
    let r = chain.send(3, vec![chain.fund_msg(3, id, 50_000)]);
    assert_eq!((r.codespace.as_str(), r.code), ("consumers", 13));
    for _ in 0..2 {
        let b = chain.finish_epoch();
        assert!(events_of(&b, "ballast.consumers.v1.validator_set_update").is_empty());
    }
    let c = chain.consumer(id);
    assert_eq!((c.last_update_id, c.last_processed_epoch), (last_update, 3));
    assert_eq!(chain.updates(id).len() as u64, last_update);
    let live: cpb::QueryConsumersResponse = chain
        .query(
            "/ballast.consumers.v1.Query/Consumers",
            &cpb::QueryConsumersRequest {
                status: cpb::ConsumerStatus::Active as i32,
                start_after: String::new(),
                limit: 0,
            },
        )
        .unwrap();
    assert!(live.consumers.is_empty());
}
