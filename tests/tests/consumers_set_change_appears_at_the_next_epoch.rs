//! Two operators opt in to a consumer and one of them later raises its allocation. Each change
//! is accepted when sent but reaches the consumer's validator set only at the end of the epoch
//! it was sent in: the update then carries the powers (allocation × operator power), the next
//! update id, the epoch and the height of the block that wrote it, and the CometBFT hash of the
//! full set, which is also the committed value under `consumers/set_hash/<id>`. An epoch that
//! changes nothing writes no update.

mod consumers_support;

use ballast_proto::ballast::consumers::v1 as cpb;
use consumers_support::*;
use prost::Message;

#[test]
fn a_set_change_appears_at_the_next_epoch_end_with_the_right_powers_and_update_id() {
    // Operators 0 and 1 with 100 and 60 BAL; account 2 owns the consumer.
    let mut chain = Chain::new(&[100, 60], 1, serde_json::json!({}));
    let id = "demo-1";
    chain.send_ok(
        2,
        vec![
            chain.register_msg(2, id, 1_000, 1, 10, cpb::AllocationMode::Shared),
            chain.fund_msg(2, id, 1_000_000),
        ],
    );
    chain.send_ok(0, vec![chain.opt_in_msg(0, id, 1, 5_000)]);
    chain.send_ok(1, vec![chain.opt_in_msg(1, id, 2, 10_000)]);
    chain.advance_to(EPOCH_LENGTH - 1);
    // Accepted, but nothing in force before the epoch ends.
    assert_eq!(
        chain.consumer(id).status,
        cpb::ConsumerStatus::Registered as i32
    );
    assert!(chain.validator_set(id).is_none());
    assert!(chain.updates(id).is_empty());

    let end1 = chain.finish_epoch();
    assert_eq!(end1.height, EPOCH_LENGTH as i64);
    let c = chain.consumer(id);
    assert_eq!(c.status, cpb::ConsumerStatus::Active as i32);
    assert_eq!((c.activated_epoch, c.last_update_id), (1, 1));
    let set = chain.validator_set(id).unwrap();
    // 10000 bps of 60 = 60 and 5000 bps of 100 = 50, power descending.
    let expected = vec![(consumer_key(2), 60), (consumer_key(1), 50)];
    assert_eq!(powers(&set), expected);
    assert_eq!(set.validators[0].operator_btc_pk, operator_id(1).to_vec());
    let updates = chain.updates(id);
    assert_eq!(updates.len(), 1);
    let u1 = &updates[0];
    assert_eq!(
        (u1.update_id, u1.epoch, u1.hub_height),
        (1, 1, EPOCH_LENGTH)
    );
    let mut first = expected.clone();
    first.sort();
    assert_eq!(changes(u1), first, "the first update carries the whole set");
    assert_eq!(u1.set_hash, tendermint_set_hash(&expected));
    let stored = chain
        .store_value(&format!("consumers/set_hash/{id}"))
        .expect("the commitment is in the store");
    let commitment = cpb::SetCommitment::decode(stored.as_slice()).unwrap();
    assert_eq!(
        (
            commitment.update_id,
            commitment.epoch,
            commitment.set_hash.clone()
        ),
        (1, 1, u1.set_hash.clone())
    );
    let ev = events_of(&end1, "ballast.consumers.v1.validator_set_update");
    assert_eq!(ev.len(), 1);
    assert_eq!(attr(ev[0], "consumer_id"), Some(id));
    assert_eq!(attr(ev[0], "update_id"), Some("1"));

    // Epoch 2: operator 0 raises its allocation to 100%.
    chain.send_ok(0, vec![chain.opt_in_msg(0, id, 1, 10_000)]);
    chain.advance_to(2 * EPOCH_LENGTH - 1);
    assert_eq!(chain.validator_set(id).unwrap().update_id, 1);
    assert_eq!(chain.updates(id).len(), 1);
    let end2 = chain.finish_epoch();
    let updates = chain.updates(id);
    assert_eq!(updates.len(), 2);
    let u2 = &updates[1];
    assert_eq!(
        (u2.update_id, u2.epoch, u2.hub_height),
        (2, 2, 2 * EPOCH_LENGTH)
    );
    assert_eq!(changes(u2), vec![(consumer_key(1), 100)]);
    let set = chain.validator_set(id).unwrap();
    let expected = vec![(consumer_key(1), 100), (consumer_key(2), 60)];
    assert_eq!(powers(&set), expected);
    assert_eq!(u2.set_hash, tendermint_set_hash(&expected));
    assert_eq!(
        events_of(&end2, "ballast.consumers.v1.validator_set_update").len(),
        1
    );

    // Epoch 3 changes nothing: no update, but the lease keeps paying.
    let end3 = chain.finish_epoch();
    assert!(events_of(&end3, "ballast.consumers.v1.validator_set_update").is_empty());
    let c = chain.consumer(id);
    assert_eq!((c.last_update_id, c.last_processed_epoch), (2, 3));
    assert_eq!(c.lease_balance, (1_000_000 - 3 * 1_000).to_string());
    let ids: Vec<u64> = chain.updates(id).iter().map(|u| u.update_id).collect();
    assert_eq!(ids, vec![1, 2]);
}
