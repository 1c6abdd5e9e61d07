//! An operator that opts out of a consumer stays in its set until the end of the epoch it
//! opted out in; the next update removes its key (power 0) and it is gone from the set, while
//! its allocation stays slashable (and encumbered) for `deallocation_delay_epochs`.

mod consumers_support;

use ballast_proto::ballast::consumers::v1 as cpb;
use consumers_support::*;

#[test]
fn an_operator_that_opts_out_disappears_at_the_epoch_end() {
    let mut chain = Chain::new(
        &[100, 100, 100],
        1,
        serde_json::json!({"deallocation_delay_epochs": 3}),
    );
    let id = "demo-2";
    chain.send_ok(
        3,
        vec![
            chain.register_msg(3, id, 10, 2, 10, cpb::AllocationMode::Shared),
            chain.fund_msg(3, id, 10_000),
        ],
    );
    for op in 0..3 {
        chain.send_ok(op, vec![chain.opt_in_msg(op, id, 10 + op as u8, 2_000)]);
    }
    chain.finish_epoch();
    assert_eq!(chain.validator_set(id).unwrap().validators.len(), 3);

    // Operator 1 opts out in epoch 2.
    chain.send_ok(1, vec![chain.opt_out_msg(1, id)]);
    // Opting out twice is refused with its code.
    let again = chain.send(1, vec![chain.opt_out_msg(1, id)]);
    assert_eq!((again.codespace.as_str(), again.code), ("consumers", 20));
    chain.advance_to(2 * EPOCH_LENGTH - 1);
    assert_eq!(
        chain.validator_set(id).unwrap().validators.len(),
        3,
        "still in the set until the epoch ends"
    );
    chain.finish_epoch();
    let updates = chain.updates(id);
    assert_eq!(updates.len(), 2);
    assert_eq!(changes(&updates[1]), vec![(consumer_key(11), 0)]);
    let set = chain.validator_set(id).unwrap();
    assert_eq!(set.update_id, 2);
    let mut keys: Vec<[u8; 32]> = powers(&set).iter().map(|(k, _)| *k).collect();
    keys.sort();
    let mut want = vec![consumer_key(10), consumer_key(12)];
    want.sort();
    assert_eq!(keys, want);
    assert!(set
        .validators
        .iter()
        .all(|v| v.operator_btc_pk != operator_id(1).to_vec()));
    let expected = powers(&set);
    assert_eq!(set.set_hash, tendermint_set_hash(&expected));

    // The withdrawn 2000 bps stay encumbered until epoch 2 + 3.
    let alloc: cpb::QueryOperatorAllocationsResponse = chain
        .query(
            "/ballast.consumers.v1.Query/OperatorAllocations",
            &cpb::QueryOperatorAllocationsRequest {
                operator_btc_pk: operator_id(1).to_vec(),
            },
        )
        .unwrap();
    assert_eq!(alloc.encumbered_bps, 2_000);
    assert_eq!(alloc.opt_ins[0].allocation_bps, 0);
    assert_eq!(
        (
            alloc.opt_ins[0].slashable_bps,
            alloc.opt_ins[0].slashable_until_epoch
        ),
        (2_000, 5)
    );
    // It does not come back at later epoch ends.
    chain.finish_epoch();
    assert_eq!(chain.updates(id).len(), 2);
    assert!(chain
        .validator_set(id)
        .unwrap()
        .validators
        .iter()
        .all(|v| v.operator_btc_pk != operator_id(1).to_vec()));
}
