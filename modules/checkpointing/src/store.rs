//! Reads ([`CheckpointingRead`], for the app and other modules) and the writes that keep the
//! checkpoint records, their status index and their lifecycle consistent.

use crate::checkpoint::{CheckpointRecord, CheckpointStatus, LifecycleEntry};
use crate::epoch::EpochConfig;
use crate::error::corrupt;
use crate::validators::{load_bls_key, load_bls_key_owner, load_snapshot};
use crate::validators::{BlsKeyInfo, ValidatorSnapshot};
use crate::{events, params, state_key, BlsPublicKey, CheckpointingError, Params};
use ballast_framework::{ConsensusAddress, StateRead, StateReadExt, StateWrite, StateWriteExt};
use ballast_proto::ballast::checkpointing::v1 as pb;

fn read_u64<S: StateRead + ?Sized>(
    state: &S,
    key: &str,
) -> Result<Option<u64>, CheckpointingError> {
    match state.get_raw(key.as_bytes())? {
        None => Ok(None),
        Some(b) => {
            let arr: [u8; 8] = b
                .as_slice()
                .try_into()
                .map_err(|_| corrupt(format!("{key} does not hold 8 bytes")))?;
            Ok(Some(u64::from_be_bytes(arr)))
        }
    }
}

/// Read access to checkpointing, for every state.
pub trait CheckpointingRead: StateRead {
    /// The params.
    fn checkpointing_params(&self) -> Result<Params, CheckpointingError> {
        params::load(self)
    }

    /// The epoch configuration the app handed over at InitChain.
    fn epoch_config(&self) -> Result<EpochConfig, CheckpointingError> {
        let p: pb::EpochConfig = self.get_proto(state_key::epoch_config())?.ok_or_else(|| {
            CheckpointingError::InvalidEpochConfig(
                "not set: the app calls set_epoch_config at InitChain".into(),
            )
        })?;
        EpochConfig::new(p.initial_height, p.epoch_length)
            .map_err(|e| corrupt(format!("stored epoch config: {e}")))
    }

    /// A validator's BLS key.
    fn bls_key(
        &self,
        validator: &ConsensusAddress,
    ) -> Result<Option<BlsKeyInfo>, CheckpointingError> {
        load_bls_key(self, validator)
    }

    /// The validator that registered a key.
    fn bls_key_owner(
        &self,
        key: &BlsPublicKey,
    ) -> Result<Option<ConsensusAddress>, CheckpointingError> {
        load_bls_key_owner(self, key)
    }

    /// An epoch's validator snapshot.
    fn validator_snapshot(
        &self,
        epoch: u64,
    ) -> Result<Option<ValidatorSnapshot>, CheckpointingError> {
        load_snapshot(self, epoch)
    }

    /// An epoch's checkpoint.
    fn checkpoint(&self, epoch: u64) -> Result<Option<CheckpointRecord>, CheckpointingError> {
        match self.get_proto::<pb::CheckpointRecord>(state_key::checkpoint(epoch))? {
            None => Ok(None),
            Some(p) => {
                let r = CheckpointRecord::from_proto(&p)?;
                if r.epoch != epoch {
                    return Err(corrupt(format!(
                        "checkpoint record under epoch {epoch} is for epoch {}",
                        r.epoch
                    )));
                }
                Ok(Some(r))
            }
        }
    }

    /// The highest finalized epoch, if any.
    fn latest_finalized_epoch(&self) -> Result<Option<u64>, CheckpointingError> {
        read_u64(self, state_key::latest_finalized_epoch())
    }

    /// Height of the block being executed (written at begin-block).
    fn hub_height(&self) -> Result<u64, CheckpointingError> {
        read_u64(self, state_key::hub_height())?.ok_or_else(|| {
            corrupt("checkpointing hub height missing: the module's begin-block has not run")
        })
    }
}
impl<T: StateRead + ?Sized> CheckpointingRead for T {}

/// Stores the epoch configuration; the app calls this once at InitChain with its
/// `ChainInfo.initial_height` and `ChainInfo.epoch_length`.
pub fn set_epoch_config<S: StateWrite + ?Sized>(
    state: &mut S,
    config: &EpochConfig,
) -> Result<(), CheckpointingError> {
    state.put_proto(
        state_key::epoch_config(),
        &pb::EpochConfig {
            initial_height: config.initial_height(),
            epoch_length: config.epoch_length(),
        },
    )?;
    Ok(())
}

/// Records the height of the block being executed.
pub fn set_hub_height<S: StateWrite + ?Sized>(
    state: &mut S,
    height: u64,
) -> Result<(), CheckpointingError> {
    state.put_raw(
        state_key::hub_height().as_bytes().to_vec(),
        height.to_be_bytes().to_vec(),
    )?;
    Ok(())
}

/// Writes a record (its status index is kept by [`create`] and [`transition`]).
pub(crate) fn put_checkpoint<S: StateWrite + ?Sized>(
    state: &mut S,
    rec: &CheckpointRecord,
) -> Result<(), CheckpointingError> {
    state.put_proto(state_key::checkpoint(rec.epoch), &rec.to_proto())?;
    Ok(())
}

/// Writes a new record in its first status, with its index entry, lifecycle entry and event.
pub(crate) fn create<S: StateWrite + ?Sized>(
    state: &mut S,
    rec: &mut CheckpointRecord,
    hub_height: u64,
    btc_height: u64,
) -> Result<(), CheckpointingError> {
    rec.lifecycle.push(LifecycleEntry {
        status: rec.status,
        hub_height,
        btc_height,
    });
    state.put_raw(
        state_key::status_index(rec.status, rec.epoch).into_bytes(),
        ballast_framework::INDEX_MARKER.to_vec(),
    )?;
    state.emit_event(events::checkpoint_status(
        rec.epoch, None, rec.status, hub_height, btc_height,
    ));
    put_checkpoint(state, rec)
}

/// Moves a record to `to` in memory and in the status index, appends the lifecycle entry and
/// emits the event. The caller writes the record with [`put_checkpoint`].
pub(crate) fn transition<S: StateWrite + ?Sized>(
    state: &mut S,
    rec: &mut CheckpointRecord,
    to: CheckpointStatus,
    hub_height: u64,
    btc_height: u64,
) -> Result<(), CheckpointingError> {
    let from = rec.status;
    state.delete(state_key::status_index(from, rec.epoch).into_bytes())?;
    state.put_raw(
        state_key::status_index(to, rec.epoch).into_bytes(),
        ballast_framework::INDEX_MARKER.to_vec(),
    )?;
    rec.status = to;
    rec.lifecycle.push(LifecycleEntry {
        status: to,
        hub_height,
        btc_height,
    });
    state.emit_event(events::checkpoint_status(
        rec.epoch,
        Some(from),
        to,
        hub_height,
        btc_height,
    ));
    Ok(())
}

/// Epochs in a status, ascending, starting at `start` (bounded by `limit`). Keys are
/// zero-padded, so the epochs at or above `start` are the prefix scans of `start` itself and
/// then, digit by digit from the last, of every larger digit at that position: at most 181
/// prefix scans, each lazily read, whatever the number of entries below `start`.
pub(crate) fn epochs_in_status<S: StateRead + ?Sized>(
    state: &S,
    status: CheckpointStatus,
    start: u64,
    limit: usize,
) -> Result<(Vec<u64>, Option<u64>), CheckpointingError> {
    let base = state_key::status_index_prefix(status);
    let digits = format!("{start:020}");
    let mut prefixes = vec![format!("{base}{digits}")];
    for pos in (0..20).rev() {
        let d = digits.as_bytes()[pos] - b'0';
        for c in (d + 1)..=9 {
            prefixes.push(format!("{base}{}{c}", &digits[..pos]));
        }
    }
    let mut out = Vec::new();
    for p in prefixes {
        for item in state.prefix_raw(p.as_bytes()) {
            let (k, _) = item?;
            let epoch = state_key::epoch_from_key(&k)
                .ok_or_else(|| corrupt("status index key does not end in an epoch"))?;
            if out.len() == limit {
                return Ok((out, Some(epoch)));
            }
            out.push(epoch);
        }
    }
    Ok((out, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_framework::MemState;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn paging_from_any_epoch_matches_a_filter(
            epochs in proptest::collection::btree_set(any::<u64>(), 0..40),
            small in proptest::collection::btree_set(0u64..300, 0..40),
            start_pick in any::<prop::sample::Index>(),
            start_raw in any::<u64>(),
            limit in 1usize..10,
        ) {
            let mut s = MemState::new();
            let all: std::collections::BTreeSet<u64> = epochs.union(&small).copied().collect();
            for e in &all {
                s.put_raw(state_key::status_index(CheckpointStatus::Finalized, *e).into_bytes(), vec![]).unwrap();
                // Another status must never leak in.
                s.put_raw(state_key::status_index(CheckpointStatus::Sealed, e.wrapping_add(1)).into_bytes(), vec![]).unwrap();
            }
            let v: Vec<u64> = all.iter().copied().collect();
            let start = if v.is_empty() || start_raw % 2 == 0 { start_raw % 400 } else { v[start_pick.index(v.len())] };
            let expected: Vec<u64> = v.iter().copied().filter(|e| *e >= start).collect();
            let mut got = Vec::new();
            let mut next = Some(start);
            while let Some(n) = next {
                let (page, after) = epochs_in_status(&s, CheckpointStatus::Finalized, n, limit).unwrap();
                prop_assert!(page.len() <= limit);
                got.extend(page);
                next = after;
            }
            prop_assert_eq!(got, expected);
        }
    }
}
