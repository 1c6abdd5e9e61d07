//! Allocation caps through real txs. With an isolated consumer among its allocations an
//! operator cannot allocate more than 100% in total (consumers/17); with only shared consumers
//! it cannot pass `max_reuse_ratio` (consumers/18). A refused opt-in changes nothing, a reduced
//! allocation keeps counting until its deallocation delay has passed, and then the stake is
//! free again.

mod consumers_support;

use ballast_proto::ballast::consumers::v1 as cpb;
use consumers_support::*;

fn allocations(chain: &mut Chain, op: usize) -> cpb::QueryOperatorAllocationsResponse {
    chain
        .query(
            "/ballast.consumers.v1.Query/OperatorAllocations",
            &cpb::QueryOperatorAllocationsRequest {
                operator_btc_pk: operator_id(op).to_vec(),
            },
        )
        .unwrap()
}

#[test]
fn isolated_allocations_stay_within_100_percent_and_shared_ones_within_the_reuse_cap() {
    // Operators 0 and 1; account 2 owns the consumers. Reuse ratio 2.5, delay 1 epoch.
    let mut chain = Chain::new(
        &[100, 100],
        1,
        serde_json::json!({"max_reuse_ratio": "2.5", "deallocation_delay_epochs": 1}),
    );
    // Funded: only consumers whose lease covers the fee are processed at epoch ends.
    let mut regs = Vec::new();
    for id in ["iso-a", "iso-b"] {
        regs.push(chain.register_msg(2, id, 10, 1, 10, cpb::AllocationMode::Isolated));
        regs.push(chain.fund_msg(2, id, 10_000));
    }
    for id in ["sh-a", "sh-b", "sh-c"] {
        regs.push(chain.register_msg(2, id, 10, 1, 10, cpb::AllocationMode::Shared));
        regs.push(chain.fund_msg(2, id, 10_000));
    }
    chain.send_ok(2, regs);

    // Isolated: 60% + 40% fit, one more basis point does not.
    chain.send_ok(0, vec![chain.opt_in_msg(0, "iso-a", 1, 6_000)]);
    let over = chain.send(0, vec![chain.opt_in_msg(0, "iso-b", 2, 4_001)]);
    assert_eq!(
        (over.codespace.as_str(), over.code),
        ("consumers", 17),
        "{}",
        over.log
    );
    chain.send_ok(0, vec![chain.opt_in_msg(0, "iso-b", 2, 4_000)]);
    // A shared consumer counts against the same 100% once an isolated one is there.
    let over = chain.send(0, vec![chain.opt_in_msg(0, "sh-a", 3, 1)]);
    assert_eq!((over.codespace.as_str(), over.code), ("consumers", 17));
    let a = allocations(&mut chain, 0);
    assert_eq!((a.encumbered_bps, a.cap_bps), (10_000, 10_000));
    assert_eq!(
        a.opt_ins.len(),
        2,
        "the refused opt-ins left nothing behind"
    );

    // Shared: 100% + 100% + 50% = the 2.5 cap; one more basis point is refused.
    chain.send_ok(1, vec![chain.opt_in_msg(1, "sh-a", 11, 10_000)]);
    chain.send_ok(1, vec![chain.opt_in_msg(1, "sh-b", 12, 10_000)]);
    let over = chain.send(1, vec![chain.opt_in_msg(1, "sh-c", 13, 5_001)]);
    assert_eq!(
        (over.codespace.as_str(), over.code),
        ("consumers", 18),
        "{}",
        over.log
    );
    chain.send_ok(1, vec![chain.opt_in_msg(1, "sh-c", 13, 5_000)]);
    let b = allocations(&mut chain, 1);
    assert_eq!((b.encumbered_bps, b.cap_bps), (25_000, 25_000));
    // An isolated consumer would cap operator 1 at 100%: refused.
    let over = chain.send(1, vec![chain.opt_in_msg(1, "iso-a", 14, 1)]);
    assert_eq!((over.codespace.as_str(), over.code), ("consumers", 17));

    // A reduction is always accepted, but the old allocation stays encumbered until the end
    // of its epoch + the delay.
    chain.finish_epoch();
    let epoch = chain.current_epoch();
    chain.send_ok(0, vec![chain.opt_in_msg(0, "iso-a", 1, 1_000)]);
    let over = chain.send(0, vec![chain.opt_in_msg(0, "iso-b", 2, 9_000)]);
    assert_eq!(over.code, 17, "the reduction is not in force yet");
    chain.finish_epoch();
    let a = allocations(&mut chain, 0);
    let iso_a = a.opt_ins.iter().find(|o| o.consumer_id == "iso-a").unwrap();
    assert_eq!(
        (
            iso_a.allocation_bps,
            iso_a.slashable_bps,
            iso_a.slashable_until_epoch
        ),
        (1_000, 6_000, epoch + 1)
    );
    assert_eq!(a.encumbered_bps, 10_000);
    let over = chain.send(0, vec![chain.opt_in_msg(0, "iso-b", 2, 9_000)]);
    assert_eq!(over.code, 17, "still slashable, so still encumbered");
    chain.finish_epoch();
    // The window closed: the stake is free.
    assert!(chain.current_epoch() > epoch + 1);
    chain.send_ok(0, vec![chain.opt_in_msg(0, "iso-b", 2, 9_000)]);
    let a = allocations(&mut chain, 0);
    assert_eq!((a.encumbered_bps, a.cap_bps), (10_000, 10_000));
}
