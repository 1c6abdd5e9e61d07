//! Checkpoint events for `SubscribeCheckpoints`: what a checkpoint record looks like to a
//! subscriber, and the dispatcher's tracker that turns each commit into one [`CheckpointPass`]
//! shared by every subscriber.
//!
//! Reads are bounded: a pass walks the status index of the checkpoints that are not FINALIZED
//! (keys only) and re-reads a record only when its status changed, when it can change without a
//! status change (SUBMITTED and CONFIRMED: their Bitcoin block and depth), or when its epoch
//! ended since the previous pass.

use crate::storage::Snapshot;
use ballast_btclightclient::BtcLightClientRead;
use ballast_checkpointing::{state_key, CheckpointStatus, CheckpointingRead, EpochConfig};
use ballast_framework::{StateRead, StateReadExt};
use ballast_proto::ballast::checkpointing::v1 as ckpt_pb;
use ballast_proto::ballast::consumer::v1::CheckpointEvent;
use std::collections::BTreeMap;

/// The statuses a checkpoint can still leave.
const OPEN_STATUSES: [CheckpointStatus; 4] = [
    CheckpointStatus::Accumulating,
    CheckpointStatus::Sealed,
    CheckpointStatus::Submitted,
    CheckpointStatus::Confirmed,
];

/// Whether an event is about a FINALIZED checkpoint (the last event of its epoch).
pub(crate) fn is_final(e: &CheckpointEvent) -> bool {
    e.status == ckpt_pb::CheckpointStatus::Finalized as i32
}

/// Whether two events say the same about their checkpoint (the hub height they were read at
/// aside).
pub(crate) fn same(a: &CheckpointEvent, b: &CheckpointEvent) -> bool {
    a.epoch == b.epoch
        && a.status == b.status
        && a.btc_block_hash == b.btc_block_hash
        && a.btc_height == b.btc_height
        && a.depth == b.depth
}

/// The block holding the later of a submission's two transactions (part 1 on a tie: it spends
/// part 0), as (hash, height).
pub(crate) fn later_block(rec: &ckpt_pb::CheckpointRecord) -> Option<(&[u8], u64)> {
    let sub = rec.submission.as_ref()?;
    let (p0, p1) = (sub.part0.as_ref()?, sub.part1.as_ref()?);
    let later = if p1.block_height >= p0.block_height {
        p1
    } else {
        p0
    };
    Some((later.block_hash.as_slice(), later.block_height))
}

/// The event a record gives, read at `hub_height` with the light client's tip at `tip`.
pub(crate) fn event_of(
    rec: &ckpt_pb::CheckpointRecord,
    tip: Option<u64>,
    hub_height: u64,
) -> CheckpointEvent {
    let later = later_block(rec);
    CheckpointEvent {
        epoch: rec.epoch,
        status: rec.status,
        btc_block_hash: later.map(|(h, _)| h.to_vec()).unwrap_or_default(),
        btc_height: later.map(|(_, h)| h),
        depth: later.and_then(|(_, h)| tip.map(|t| t.saturating_sub(h))),
        hub_height,
    }
}

/// The light client's tip height, if it has one.
pub(crate) fn btc_tip_height<S: StateRead + ?Sized>(state: &S) -> Option<u64> {
    state.btc_tip().ok().map(|t| t.height)
}

/// The highest epoch that has ended at `height` (0: none yet).
pub(crate) fn last_ended_epoch(cfg: &EpochConfig, height: u64) -> u64 {
    match cfg.epoch_of_height(height) {
        None => 0,
        Some(e) if cfg.epoch_ending_at(height) == Some(e) => e,
        Some(e) => e.saturating_sub(1),
    }
}

/// The stored record of an epoch, if its epoch has ended.
pub(crate) fn record<S: StateRead + ?Sized>(
    state: &S,
    epoch: u64,
) -> Result<Option<ckpt_pb::CheckpointRecord>, String> {
    state
        .get_proto::<ckpt_pb::CheckpointRecord>(state_key::checkpoint(epoch))
        .map_err(|e| format!("checkpoint of epoch {epoch}: {e}"))
}

/// The epoch layout and the last ended epoch at `snap`'s height.
pub(crate) fn layout(snap: &Snapshot) -> Result<(EpochConfig, u64), String> {
    let cfg = snap
        .epoch_config()
        .map_err(|e| format!("epoch layout: {e}"))?;
    let last = last_ended_epoch(&cfg, snap.version());
    Ok((cfg, last))
}

/// What the dispatcher hands every checkpoint subscriber after a commit.
#[derive(Debug, Default)]
pub(crate) struct CheckpointPass {
    /// The hub height read.
    pub(crate) height: u64,
    /// Every checkpoint that is not FINALIZED at `height`, every one that was not at the
    /// previous pass, and every one whose epoch ended since: a subscriber that just replayed
    /// synchronises on it.
    pub(crate) full: BTreeMap<u64, CheckpointEvent>,
    /// The events of `full` that differ from the previous pass (or are new), by epoch.
    pub(crate) changed: Vec<CheckpointEvent>,
}

/// The dispatcher's memory of the previous pass. Reset when nobody subscribes.
#[derive(Debug, Default)]
pub(crate) struct CheckpointTracker {
    /// The checkpoints that were not FINALIZED at the previous pass.
    open: BTreeMap<u64, CheckpointEvent>,
    /// The last ended epoch at the previous pass (`None` before the first pass).
    last_ended: Option<u64>,
}

impl CheckpointTracker {
    /// Forgets everything (no subscriber is left to keep in step).
    pub(crate) fn reset(&mut self) {
        *self = CheckpointTracker::default();
    }

    /// Reads the checkpoints at `snap` and returns what changed since the previous pass.
    pub(crate) fn pass(&mut self, snap: &Snapshot) -> Result<CheckpointPass, String> {
        let height = snap.version();
        let (_, last_ended) = layout(snap)?;
        let tip = btc_tip_height(snap);
        let mut open_now: BTreeMap<u64, i32> = BTreeMap::new();
        for status in OPEN_STATUSES {
            let prefix = state_key::status_index_prefix(status);
            for entry in snap.prefix_raw(prefix.as_bytes()) {
                let (key, _) = entry.map_err(|e| format!("checkpoint status index: {e}"))?;
                let epoch = state_key::epoch_from_key(&key).ok_or_else(|| {
                    format!(
                        "checkpoint status index key {:?} does not end in an epoch",
                        String::from_utf8_lossy(&key)
                    )
                })?;
                open_now.insert(epoch, status.to_proto() as i32);
            }
        }
        let read = |epoch: u64| -> Result<Option<CheckpointEvent>, String> {
            Ok(record(snap, epoch)?.map(|r| event_of(&r, tip, height)))
        };
        let mut full = BTreeMap::new();
        for (&epoch, &status) in &open_now {
            let unchanged_without_btc = self.open.get(&epoch).filter(|e| {
                e.status == status
                    && (status == ckpt_pb::CheckpointStatus::Accumulating as i32
                        || status == ckpt_pb::CheckpointStatus::Sealed as i32)
            });
            let event = match unchanged_without_btc {
                Some(e) => Some(CheckpointEvent {
                    hub_height: height,
                    ..e.clone()
                }),
                None => read(epoch)?,
            };
            if let Some(e) = event {
                full.insert(epoch, e);
            }
        }
        let mut others: Vec<u64> = self.open.keys().copied().collect();
        if let Some(prev) = self.last_ended {
            others.extend(prev.saturating_add(1)..=last_ended);
        }
        for epoch in others {
            if let std::collections::btree_map::Entry::Vacant(slot) = full.entry(epoch) {
                if let Some(e) = read(epoch)? {
                    slot.insert(e);
                }
            }
        }
        let changed = full
            .values()
            .filter(|e| !self.open.get(&e.epoch).is_some_and(|old| same(old, e)))
            .cloned()
            .collect();
        self.open = full
            .iter()
            .filter(|(_, e)| !is_final(e))
            .map(|(k, e)| (*k, e.clone()))
            .collect();
        self.last_ended = Some(last_ended);
        Ok(CheckpointPass {
            height,
            full,
            changed,
        })
    }
}
