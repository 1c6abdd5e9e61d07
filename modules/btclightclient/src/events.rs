//! Events of the Bitcoin light client, in the Cosmos typed-event form: the event type is the
//! proto message name (`ballast.btclightclient.v1.EventHeaderInserted`), and each attribute is a
//! field with its proto3-JSON value (strings quoted, 64-bit integers as quoted decimals), so
//! Cosmos tooling can parse an event back into its proto message.
//!
//! [`emit_tip_change`] emits, for one [`TipChange`]:
//! 1. `EventHeaderInserted` for every new header, lowest first;
//! 2. `EventRollBack` for every block that left the best chain, highest first;
//! 3. `EventRollForward` for every block that joined it, lowest first.

use crate::{BlockRef, HeaderInfo, TipChange};
use ballast_framework::{Event, StateWrite};
use ballast_proto::ballast::btclightclient::v1 as pb;

/// Type of the event for a new header.
pub const HEADER_INSERTED: &str = "ballast.btclightclient.v1.EventHeaderInserted";
/// Type of the event for a block leaving the best chain.
pub const ROLL_BACK: &str = "ballast.btclightclient.v1.EventRollBack";
/// Type of the event for a block joining the best chain.
pub const ROLL_FORWARD: &str = "ballast.btclightclient.v1.EventRollForward";

fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// `EventHeaderInserted{hash, height, cumulative_work}`.
pub fn header_inserted(h: &HeaderInfo) -> Event {
    Event::new(HEADER_INSERTED)
        .attr("hash", json_str(&h.hash.to_string()))
        .attr("height", json_str(&h.height.to_string()))
        .attr("cumulative_work", json_str(&h.cumulative_work.to_string()))
}

/// `EventRollBack{hash, height}`.
pub fn roll_back(b: &BlockRef) -> Event {
    Event::new(ROLL_BACK)
        .attr("hash", json_str(&b.hash.to_string()))
        .attr("height", json_str(&b.height.to_string()))
}

/// `EventRollForward{hash, height}`.
pub fn roll_forward(b: &BlockRef) -> Event {
    Event::new(ROLL_FORWARD)
        .attr("hash", json_str(&b.hash.to_string()))
        .attr("height", json_str(&b.height.to_string()))
}

/// Emits the events of one insertion (see the module docs for the order).
pub fn emit_tip_change(state: &mut (impl StateWrite + ?Sized), change: &TipChange) {
    for h in &change.added {
        state.emit_event(header_inserted(h));
    }
    for b in &change.rolled_back {
        state.emit_event(roll_back(b));
    }
    for b in &change.rolled_forward {
        state.emit_event(roll_forward(b));
    }
}

fn attr_json(e: &Event, key: &str) -> Option<String> {
    let raw = e.get(key)?;
    match serde_json::from_str::<serde_json::Value>(raw).ok()? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    }
}

/// Parses a typed event back into its proto message (for indexers and tests).
pub fn parse_header_inserted(e: &Event) -> Option<pb::EventHeaderInserted> {
    (e.kind == HEADER_INSERTED).then_some(())?;
    Some(pb::EventHeaderInserted {
        hash: attr_json(e, "hash")?,
        height: attr_json(e, "height")?.parse().ok()?,
        cumulative_work: attr_json(e, "cumulative_work")?,
    })
}

/// Parses an `EventRollBack` or `EventRollForward` into `(kind, hash, height)`.
pub fn parse_block_event(e: &Event) -> Option<(&'static str, String, u64)> {
    let kind = match e.kind.as_str() {
        ROLL_BACK => ROLL_BACK,
        ROLL_FORWARD => ROLL_FORWARD,
        _ => return None,
    };
    Some((
        kind,
        attr_json(e, "hash")?,
        attr_json(e, "height")?.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChainWork;
    use bitcoin::hashes::Hash;

    #[test]
    fn events_are_typed_and_parse_back() {
        let header = bitcoin::constants::genesis_block(bitcoin::Network::Regtest).header;
        let info = HeaderInfo {
            hash: header.block_hash(),
            height: 0,
            header,
            cumulative_work: "2".parse::<ChainWork>().unwrap(),
        };
        let e = header_inserted(&info);
        assert_eq!(e.kind, HEADER_INSERTED);
        assert_eq!(e.get("height"), Some("\"0\""));
        let p = parse_header_inserted(&e).unwrap();
        assert_eq!(p.hash, info.hash.to_string());
        assert_eq!(p.cumulative_work, "2");
        let b = BlockRef {
            hash: bitcoin::BlockHash::all_zeros(),
            height: 5,
        };
        assert_eq!(
            parse_block_event(&roll_back(&b)),
            Some((ROLL_BACK, b.hash.to_string(), 5))
        );
        assert_eq!(
            parse_block_event(&roll_forward(&b)),
            Some((ROLL_FORWARD, b.hash.to_string(), 5))
        );
        assert_eq!(parse_block_event(&e), None);
    }
}
