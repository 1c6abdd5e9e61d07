//! Events of BTC delegations, kinds prefixed by `restaking.` like the rest of the module.

use crate::delegation::types::{BtcDelegation, DelegationStatus};
use ballast_framework::Event;
use bitcoin::secp256k1::XOnlyPublicKey;

/// A delegation was registered (PENDING).
pub const BTC_DELEGATION_CREATED: &str = "restaking.btc_delegation_created";
/// A covenant member's signatures were added.
pub const COVENANT_SIGS_ADDED: &str = "restaking.covenant_sigs_added";
/// The staking tx's inclusion was proven.
pub const BTC_INCLUSION_PROVEN: &str = "restaking.btc_inclusion_proven";
/// A delegation changed status.
pub const BTC_DELEGATION_STATUS: &str = "restaking.btc_delegation_status";

/// `btc_delegation_created{staking_txid, staker, staker_btc_pk, operator, staking_value,
/// staking_time, status}`.
pub fn created(d: &BtcDelegation) -> Event {
    Event::new(BTC_DELEGATION_CREATED)
        .attr("staking_txid", d.staking_txid)
        .attr("staker", d.staker_addr)
        .attr("staker_btc_pk", hex::encode(d.staker_pk.serialize()))
        .attr("operator", d.operator)
        .attr("staking_value", d.staking_value_sat)
        .attr("staking_time", d.staking_time)
        .attr("status", d.status)
}

/// `covenant_sigs_added{staking_txid, covenant_pk, signatures, quorum}`.
pub fn covenant_sigs_added(d: &BtcDelegation, pk: &XOnlyPublicKey) -> Event {
    Event::new(COVENANT_SIGS_ADDED)
        .attr("staking_txid", d.staking_txid)
        .attr("covenant_pk", hex::encode(pk.serialize()))
        .attr("signatures", d.covenant_sigs.len())
        .attr("quorum", d.covenant_quorum)
}

/// `btc_inclusion_proven{staking_txid, block_hash, start_height, end_height}`.
pub fn inclusion_proven(d: &BtcDelegation) -> Event {
    let e = Event::new(BTC_INCLUSION_PROVEN).attr("staking_txid", d.staking_txid);
    match d.inclusion {
        Some(i) => e
            .attr("block_hash", i.block_hash)
            .attr("start_height", i.start_height)
            .attr("end_height", i.end_height),
        None => e,
    }
}

/// `btc_delegation_status{staking_txid, operator, staker, from, to, staking_value,
/// hub_height, btc_height}`: every status change.
pub fn status_changed(
    d: &BtcDelegation,
    from: DelegationStatus,
    hub_height: u64,
    btc_height: u64,
) -> Event {
    Event::new(BTC_DELEGATION_STATUS)
        .attr("staking_txid", d.staking_txid)
        .attr("operator", d.operator)
        .attr("staker", d.staker_addr)
        .attr("from", from)
        .attr("to", d.status)
        .attr("staking_value", d.staking_value_sat)
        .attr("hub_height", hub_height)
        .attr("btc_height", btc_height)
}
