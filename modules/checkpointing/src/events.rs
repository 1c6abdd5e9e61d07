//! Events of the checkpointing module, in the Cosmos typed-event form: the event type is the
//! proto message name (`ballast.checkpointing.v1.EventCheckpointStatus`), and each attribute is
//! a field with its proto3-JSON value (strings quoted, 64-bit integers as quoted decimals), so
//! Cosmos tooling can parse an event back into its proto message.
//!
//! Every status change of a checkpoint emits exactly one `EventCheckpointStatus`, in the order
//! of the changes, and adds the same entry to the checkpoint's lifecycle.

use crate::checkpoint::{CheckpointStatus, Submission};
use ballast_framework::{ConsensusAddress, Event};
use ballast_proto::ballast::checkpointing::v1 as pb;

/// Type of the event for a registered BLS key.
pub const BLS_KEY_REGISTERED: &str = "ballast.checkpointing.v1.EventBlsKeyRegistered";
/// Type of the event for a stored validator snapshot.
pub const VALIDATOR_SNAPSHOT: &str = "ballast.checkpointing.v1.EventValidatorSnapshot";
/// Type of the event for a status change.
pub const CHECKPOINT_STATUS: &str = "ballast.checkpointing.v1.EventCheckpointStatus";
/// Type of the event for a recorded submission.
pub const SUBMISSION_RECORDED: &str = "ballast.checkpointing.v1.EventSubmissionRecorded";
/// Type of the event for a pruned submission.
pub const SUBMISSION_PRUNED: &str = "ballast.checkpointing.v1.EventSubmissionPruned";

fn s(v: impl ToString) -> String {
    serde_json::Value::String(v.to_string()).to_string()
}

/// `EventBlsKeyRegistered{validator_address, bls_pubkey}`.
pub fn bls_key_registered(validator: &ConsensusAddress, bls_pubkey: &[u8; 96]) -> Event {
    Event::new(BLS_KEY_REGISTERED)
        .attr("validator_address", s(hex::encode(validator.0)))
        .attr("bls_pubkey", s(hex::encode(bls_pubkey)))
}

/// `EventValidatorSnapshot{epoch, validators, total_power, without_bls_key}`.
pub fn validator_snapshot(
    epoch: u64,
    validators: usize,
    total_power: u64,
    without_bls_key: &[ConsensusAddress],
) -> Event {
    let missing: Vec<serde_json::Value> = without_bls_key
        .iter()
        .map(|a| serde_json::Value::String(hex::encode(a.0)))
        .collect();
    Event::new(VALIDATOR_SNAPSHOT)
        .attr("epoch", s(epoch))
        .attr("validators", validators)
        .attr("total_power", s(total_power))
        .attr("without_bls_key", serde_json::Value::Array(missing))
}

/// `EventCheckpointStatus{epoch, old_status, new_status, hub_height, btc_height}`.
pub fn checkpoint_status(
    epoch: u64,
    old: Option<CheckpointStatus>,
    new: CheckpointStatus,
    hub_height: u64,
    btc_height: u64,
) -> Event {
    Event::new(CHECKPOINT_STATUS)
        .attr("epoch", s(epoch))
        .attr("old_status", s(old.map(|o| o.as_str()).unwrap_or("")))
        .attr("new_status", s(new.as_str()))
        .attr("hub_height", s(hub_height))
        .attr("btc_height", s(btc_height))
}

/// `EventSubmissionRecorded{...}`.
pub fn submission_recorded(epoch: u64, sub: &Submission, replaced: bool) -> Event {
    Event::new(SUBMISSION_RECORDED)
        .attr("epoch", s(epoch))
        .attr("submitter", s(sub.submitter))
        .attr("reporter", s(sub.reporter))
        .attr("part0_txid", s(sub.part0.txid))
        .attr("part1_txid", s(sub.part1.txid))
        .attr("part0_block_hash", s(sub.part0.block_hash))
        .attr("part1_block_hash", s(sub.part1.block_hash))
        .attr("part0_block_height", s(sub.part0.block_height))
        .attr("part1_block_height", s(sub.part1.block_height))
        .attr("replaced", replaced)
}

/// `EventSubmissionPruned{epoch, part0_txid, part1_txid}`.
pub fn submission_pruned(epoch: u64, sub: &Submission) -> Event {
    Event::new(SUBMISSION_PRUNED)
        .attr("epoch", s(epoch))
        .attr("part0_txid", s(sub.part0.txid))
        .attr("part1_txid", s(sub.part1.txid))
}

fn attr_str(e: &Event, key: &str) -> Option<String> {
    match serde_json::from_str::<serde_json::Value>(e.get(key)?).ok()? {
        serde_json::Value::String(v) => Some(v),
        _ => None,
    }
}

/// Parses an `EventCheckpointStatus` back into its proto message (for indexers and tests).
pub fn parse_checkpoint_status(e: &Event) -> Option<pb::EventCheckpointStatus> {
    (e.kind == CHECKPOINT_STATUS).then_some(())?;
    Some(pb::EventCheckpointStatus {
        epoch: attr_str(e, "epoch")?.parse().ok()?,
        old_status: attr_str(e, "old_status")?,
        new_status: attr_str(e, "new_status")?,
        hub_height: attr_str(e, "hub_height")?.parse().ok()?,
        btc_height: attr_str(e, "btc_height")?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_events_are_typed_and_parse_back() {
        let e = checkpoint_status(
            3,
            Some(CheckpointStatus::Sealed),
            CheckpointStatus::Submitted,
            31,
            120,
        );
        assert_eq!(e.kind, CHECKPOINT_STATUS);
        assert_eq!(e.get("epoch"), Some("\"3\""));
        let p = parse_checkpoint_status(&e).unwrap();
        assert_eq!(p.old_status, "CHECKPOINT_STATUS_SEALED");
        assert_eq!(p.new_status, "CHECKPOINT_STATUS_SUBMITTED");
        assert_eq!((p.epoch, p.hub_height, p.btc_height), (3, 31, 120));
        let first = checkpoint_status(1, None, CheckpointStatus::Accumulating, 10, 0);
        assert_eq!(parse_checkpoint_status(&first).unwrap().old_status, "");
        let snap = validator_snapshot(2, 3, 30, &[ConsensusAddress([1; 20])]);
        assert_eq!(
            snap.get("without_bls_key"),
            Some(format!("[\"{}\"]", "01".repeat(20)).as_str())
        );
        assert_eq!(parse_checkpoint_status(&snap), None);
    }
}
