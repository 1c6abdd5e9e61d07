//! Opt-ins: an operator's consumer key and allocation for one consumer, the pending change
//! that takes effect at the end of the epoch it was sent in, and the deallocation window of a
//! reduced allocation.
//!
//! Every key an opt-in ever names is recorded under [`state_key::consumer_key`] with the
//! (consumer, operator) it was first used for, and never deleted: a key never serves another
//! operator or another consumer.

use crate::consumer::ConsumerId;
use crate::error::corrupt;
use crate::params::BPS;
use crate::{state_key, ConsumersError};
use ballast_framework::{StateRead, StateReadExt, StateWrite, StateWriteExt};
use ballast_proto::ballast::consumers::v1 as pb;
use ballast_restaking::OperatorId;
use std::fmt;

/// An ed25519 key an operator signs a consumer chain with (a valid curve point).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsumerKey([u8; 32]);

impl ConsumerKey {
    /// Checks a key field: 32 bytes that are an ed25519 point.
    pub fn parse(bytes: &[u8]) -> Result<Self, ConsumersError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| {
            ConsumersError::InvalidConsumerKey(format!(
                "expected a 32-byte ed25519 key, found {} bytes",
                bytes.len()
            ))
        })?;
        ed25519_consensus::VerificationKey::try_from(arr).map_err(|e| {
            ConsumersError::InvalidConsumerKey(format!(
                "{} is not an ed25519 key: {e}",
                hex::encode(arr)
            ))
        })?;
        Ok(ConsumerKey(arr))
    }

    /// A key read back from state (checked when it was stored).
    pub(crate) fn from_stored(bytes: &[u8]) -> Result<Self, ConsumersError> {
        bytes
            .try_into()
            .map(ConsumerKey)
            .map_err(|_| corrupt(format!("stored consumer key has {} bytes", bytes.len())))
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The 32 bytes, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for ConsumerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ConsumerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConsumerKey({self})")
    }
}

/// Parses an operator id field: 32 bytes (whether the operator exists is checked against state).
pub fn parse_operator(field: &'static str, bytes: &[u8]) -> Result<OperatorId, ConsumersError> {
    <[u8; 32]>::try_from(bytes)
        .map(OperatorId::new)
        .map_err(|_| ConsumersError::InvalidOperatorKey {
            field,
            found: bytes.len(),
        })
}

/// Checks an allocation: 1 to 10000 basis points.
pub fn check_allocation(bps: u32) -> Result<u32, ConsumersError> {
    if bps == 0 || bps > BPS {
        return Err(ConsumersError::InvalidAllocation(bps));
    }
    Ok(bps)
}

/// A change waiting for the end of `epoch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingChange {
    /// New allocation (0: opt-out).
    pub allocation_bps: u32,
    /// New key (`None`: keep the key in force).
    pub key: Option<ConsumerKey>,
    /// The epoch it was sent in; it takes effect at that epoch's end.
    pub epoch: u64,
}

/// An operator's opt-in to a consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptIn {
    /// The consumer.
    pub consumer: ConsumerId,
    /// The operator.
    pub operator: OperatorId,
    /// The key in force.
    pub key: ConsumerKey,
    /// The allocation in force (0 before the first change takes effect, and after an opt-out).
    pub allocation_bps: u32,
    /// A change waiting for an epoch end.
    pub pending: Option<PendingChange>,
    /// The highest allocation still slashable after a reduction (0: none).
    pub slashable_bps: u32,
    /// The last epoch `slashable_bps` is slashable (and encumbered).
    pub slashable_until_epoch: u64,
    /// Jailed for this consumer until the end of this epoch (0: not jailed).
    pub jailed_until_epoch: u64,
    /// Never again in the consumer's set.
    pub tombstoned: bool,
}

/// What applying a pending change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppliedChange {
    /// Allocation before.
    pub old_bps: u32,
    /// Allocation after.
    pub new_bps: u32,
    /// The epoch whose end it took effect at.
    pub epoch: u64,
}

impl OptIn {
    /// A first opt-in: the key in force, no allocation yet, the change pending.
    pub fn new(
        consumer: ConsumerId,
        operator: OperatorId,
        key: ConsumerKey,
        allocation_bps: u32,
        epoch: u64,
    ) -> Self {
        OptIn {
            consumer,
            operator,
            key,
            allocation_bps: 0,
            pending: Some(PendingChange {
                allocation_bps,
                key: None,
                epoch,
            }),
            slashable_bps: 0,
            slashable_until_epoch: 0,
            jailed_until_epoch: 0,
            tombstoned: false,
        }
    }

    /// The still-slashable allocation at `epoch` (0 once its window has passed).
    pub fn slashable_at(&self, epoch: u64) -> u32 {
        if epoch <= self.slashable_until_epoch {
            self.slashable_bps
        } else {
            0
        }
    }

    /// What counts towards the operator's caps in `current_epoch`: the highest of the
    /// allocation in force, the pending allocation and the still-slashable allocation.
    pub fn encumbered(&self, current_epoch: u64) -> u32 {
        let pending = self.pending.map(|p| p.allocation_bps).unwrap_or(0);
        self.allocation_bps
            .max(pending)
            .max(self.slashable_at(current_epoch))
    }

    /// The allocation a double sign on the consumer at `epoch` may slash: the allocation in
    /// force and any reduced allocation still in its deallocation window.
    pub fn slashable_allocation(&self, epoch: u64) -> u32 {
        self.allocation_bps.max(self.slashable_at(epoch))
    }

    /// Marks `old_bps` slashable until `epoch + delay`. A higher allocation whose window is
    /// still open in `now` (the current epoch) is kept and its window extended, so that the
    /// operator's encumbered total never rises; a window that already closed is replaced. One
    /// (bps, until) pair cannot hold two windows exactly: the merge errs towards slashable.
    fn deallocate(&mut self, old_bps: u32, epoch: u64, now: u64, delay: u64) {
        if old_bps == 0 {
            return;
        }
        let open = self.slashable_at(now);
        let until = epoch.saturating_add(delay);
        if open > 0 {
            self.slashable_bps = old_bps.max(open);
            self.slashable_until_epoch = self.slashable_until_epoch.max(until);
        } else {
            self.slashable_bps = old_bps;
            self.slashable_until_epoch = until;
        }
    }

    /// Applies the pending change if it was sent in `up_to_epoch` or earlier; `now` is the
    /// current epoch. A reduction leaves the old allocation slashable until the change's epoch
    /// + `delay`.
    pub fn apply_due(&mut self, up_to_epoch: u64, now: u64, delay: u64) -> Option<AppliedChange> {
        let p = self.pending.filter(|p| p.epoch <= up_to_epoch)?;
        let old_bps = self.allocation_bps;
        if p.allocation_bps < old_bps {
            self.deallocate(old_bps, p.epoch, now, delay);
        }
        self.allocation_bps = p.allocation_bps;
        if let Some(k) = p.key {
            self.key = k;
        }
        self.pending = None;
        Some(AppliedChange {
            old_bps,
            new_bps: p.allocation_bps,
            epoch: p.epoch,
        })
    }

    /// Whether the record holds nothing any more in `now` (the current epoch): no allocation
    /// in force or pending, no open deallocation window, not jailed and not tombstoned. Such a
    /// record is deleted at the consumer's epoch-end processing (its key stays claimed).
    pub fn is_dead(&self, now: u64) -> bool {
        self.allocation_bps == 0
            && self.pending.is_none()
            && self.slashable_at(now) == 0
            && !self.tombstoned
            && self.jailed_until_epoch < now
    }

    /// The consumer stopped at `stop_epoch` (`now` is the current epoch): the allocation in
    /// force becomes slashable until `stop_epoch + delay`, and nothing is allocated or pending
    /// any more.
    pub fn stop(&mut self, stop_epoch: u64, now: u64, delay: u64) {
        let old = self.allocation_bps;
        self.deallocate(old, stop_epoch, now, delay);
        self.allocation_bps = 0;
        self.pending = None;
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::OptIn {
        let (has_pending, pending_bps, pending_key, pending_epoch) = match &self.pending {
            Some(p) => (
                true,
                p.allocation_bps,
                p.key.map(|k| k.to_bytes().to_vec()).unwrap_or_default(),
                p.epoch,
            ),
            None => (false, 0, Vec::new(), 0),
        };
        pb::OptIn {
            consumer_id: self.consumer.to_string(),
            operator_btc_pk: self.operator.to_bytes().to_vec(),
            consumer_pubkey: self.key.to_bytes().to_vec(),
            allocation_bps: self.allocation_bps,
            has_pending,
            pending_allocation_bps: pending_bps,
            pending_consumer_pubkey: pending_key,
            pending_epoch,
            slashable_bps: self.slashable_bps,
            slashable_until_epoch: self.slashable_until_epoch,
            jailed_until_epoch: self.jailed_until_epoch,
            tombstoned: self.tombstoned,
        }
    }

    /// Parses a stored record.
    pub fn from_stored(p: pb::OptIn) -> Result<Self, ConsumersError> {
        let pending = if p.has_pending {
            Some(PendingChange {
                allocation_bps: p.pending_allocation_bps,
                key: if p.pending_consumer_pubkey.is_empty() {
                    None
                } else {
                    Some(ConsumerKey::from_stored(&p.pending_consumer_pubkey)?)
                },
                epoch: p.pending_epoch,
            })
        } else {
            None
        };
        Ok(OptIn {
            consumer: ConsumerId::parse(&p.consumer_id)?,
            operator: parse_operator("operator_btc_pk", &p.operator_btc_pk)?,
            key: ConsumerKey::from_stored(&p.consumer_pubkey)?,
            allocation_bps: p.allocation_bps,
            pending,
            slashable_bps: p.slashable_bps,
            slashable_until_epoch: p.slashable_until_epoch,
            jailed_until_epoch: p.jailed_until_epoch,
            tombstoned: p.tombstoned,
        })
    }
}

/// An operator's opt-in to a consumer.
pub fn load<S: StateRead + ?Sized>(
    state: &S,
    consumer: &ConsumerId,
    operator: &OperatorId,
) -> Result<Option<OptIn>, ConsumersError> {
    match state.get_proto::<pb::OptIn>(state_key::opt_in(consumer.as_str(), operator.as_bytes()))? {
        None => Ok(None),
        Some(p) => OptIn::from_stored(p)
            .map(Some)
            .map_err(|e| corrupt(format!("stored opt-in of {operator} to {consumer}: {e}"))),
    }
}

/// Writes an opt-in and its entry in the operator's index.
pub fn save<S: StateWrite + ?Sized>(state: &mut S, o: &OptIn) -> Result<(), ConsumersError> {
    state.put_proto(
        state_key::opt_in(o.consumer.as_str(), o.operator.as_bytes()),
        &o.to_proto(),
    )?;
    state.put_raw(
        state_key::opt_in_by_operator(o.operator.as_bytes(), o.consumer.as_str()).into_bytes(),
        ballast_framework::INDEX_MARKER.to_vec(),
    )?;
    Ok(())
}

/// Deletes an opt-in and its entry in the operator's index (the key record stays).
pub fn delete<S: StateWrite + ?Sized>(state: &mut S, o: &OptIn) -> Result<(), ConsumersError> {
    state.delete(state_key::opt_in(o.consumer.as_str(), o.operator.as_bytes()).into_bytes())?;
    state.delete(
        state_key::opt_in_by_operator(o.operator.as_bytes(), o.consumer.as_str()).into_bytes(),
    )?;
    Ok(())
}

/// Every opt-in of a consumer, in operator order.
pub fn of_consumer<S: StateRead + ?Sized>(
    state: &S,
    consumer: &ConsumerId,
) -> Result<Vec<OptIn>, ConsumersError> {
    let mut out = Vec::new();
    for item in state.prefix_proto::<pb::OptIn>(state_key::opt_ins_prefix(consumer.as_str())) {
        let (_, p) = item?;
        out.push(
            OptIn::from_stored(p)
                .map_err(|e| corrupt(format!("stored opt-in to {consumer}: {e}")))?,
        );
    }
    Ok(out)
}

/// Every opt-in of an operator, in consumer id order.
pub fn of_operator<S: StateRead + ?Sized>(
    state: &S,
    operator: &OperatorId,
) -> Result<Vec<OptIn>, ConsumersError> {
    let prefix = state_key::opt_in_by_operator_prefix(operator.as_bytes());
    let mut out = Vec::new();
    for item in state.prefix_raw(prefix.as_bytes()) {
        let (k, _) = item?;
        let id = std::str::from_utf8(&k[prefix.len()..])
            .map_err(|_| corrupt("operator opt-in index key is not utf-8"))
            .and_then(|s| {
                ConsumerId::parse(s).map_err(|e| corrupt(format!("operator opt-in index: {e}")))
            })?;
        out.push(load(state, &id, operator)?.ok_or_else(|| {
            corrupt(format!(
                "operator opt-in index names a missing opt-in of {operator} to {id}"
            ))
        })?);
    }
    Ok(out)
}

/// The (consumer, operator) a consumer key was first used for.
pub fn key_user<S: StateRead + ?Sized>(
    state: &S,
    key: &ConsumerKey,
) -> Result<Option<(ConsumerId, OperatorId)>, ConsumersError> {
    let Some(raw) = state.get_raw(state_key::consumer_key(key.as_bytes()).as_bytes())? else {
        return Ok(None);
    };
    let bad = || corrupt(format!("consumer key record of {key} is malformed"));
    let s = std::str::from_utf8(&raw).map_err(|_| bad())?;
    let (consumer, op_hex) = s.rsplit_once('/').ok_or_else(bad)?;
    let op = hex::decode(op_hex).map_err(|_| bad())?;
    Ok(Some((
        ConsumerId::parse(consumer).map_err(|_| bad())?,
        parse_operator("consumer_key", &op).map_err(|_| bad())?,
    )))
}

/// Records `key` for (consumer, operator), or checks that it already serves exactly them.
pub fn claim_key<S: StateWrite + ?Sized>(
    state: &mut S,
    key: &ConsumerKey,
    consumer: &ConsumerId,
    operator: &OperatorId,
) -> Result<(), ConsumersError> {
    match key_user(state, key)? {
        Some((c, o)) if c == *consumer && o == *operator => Ok(()),
        Some((c, o)) => Err(ConsumersError::ConsumerKeyInUse {
            key: key.to_string(),
            consumer_id: c.to_string(),
            operator: o.to_string(),
        }),
        None => {
            state.put_raw(
                state_key::consumer_key(key.as_bytes()).into_bytes(),
                format!("{consumer}/{operator}").into_bytes(),
            )?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::consumer_key;
    use ballast_framework::{ErrorCode, MemState};

    fn opt_in(bps: u32, epoch: u64) -> OptIn {
        OptIn::new(
            ConsumerId::parse("c").unwrap(),
            OperatorId::new([1; 32]),
            consumer_key(1),
            bps,
            epoch,
        )
    }

    #[test]
    fn keys_must_be_ed25519_points() {
        let k = consumer_key(3);
        assert_eq!(ConsumerKey::parse(k.as_bytes()).unwrap(), k);
        assert_eq!(ConsumerKey::parse(&[1; 31]).unwrap_err().code(), 7);
        assert_eq!(ConsumerKey::parse(&[]).unwrap_err().code(), 7);
        // y = 2 is not the y coordinate of any point of the curve.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert_eq!(ConsumerKey::parse(&not_a_point).unwrap_err().code(), 7);
        assert_eq!(check_allocation(0).unwrap_err().code(), 8);
        assert_eq!(check_allocation(10_001).unwrap_err().code(), 8);
        assert_eq!(check_allocation(10_000).unwrap(), 10_000);
        assert_eq!(parse_operator("f", &[0; 33]).unwrap_err().code(), 14);
    }

    #[test]
    fn pending_changes_apply_at_their_epoch_and_reductions_stay_slashable() {
        let mut o = opt_in(6_000, 3);
        assert_eq!(o.encumbered(3), 6_000);
        assert_eq!(o.apply_due(2, 3, 14), None, "not before its epoch ends");
        let a = o.apply_due(3, 4, 14).unwrap();
        assert_eq!((a.old_bps, a.new_bps, a.epoch), (0, 6_000, 3));
        assert_eq!((o.slashable_bps, o.slashable_until_epoch), (0, 0));
        // Reduce to 2000 in epoch 5: 6000 stays slashable until 5 + 14.
        o.pending = Some(PendingChange {
            allocation_bps: 2_000,
            key: None,
            epoch: 5,
        });
        assert_eq!(o.encumbered(5), 6_000);
        o.apply_due(7, 8, 14).unwrap();
        assert_eq!((o.allocation_bps, o.slashable_bps), (2_000, 6_000));
        assert_eq!(o.slashable_until_epoch, 19);
        assert_eq!(o.encumbered(19), 6_000);
        assert_eq!(o.encumbered(20), 2_000);
        assert_eq!(o.slashable_allocation(19), 6_000);
        assert_eq!(o.slashable_allocation(20), 2_000);
        // Opting out in epoch 10 keeps the higher open window and extends it to 24.
        o.pending = Some(PendingChange {
            allocation_bps: 0,
            key: None,
            epoch: 10,
        });
        o.apply_due(10, 11, 14).unwrap();
        assert_eq!(
            (o.allocation_bps, o.slashable_bps, o.slashable_until_epoch),
            (0, 6_000, 24)
        );
        // A raise leaves the window alone; a key change takes effect with it.
        o.pending = Some(PendingChange {
            allocation_bps: 9_000,
            key: Some(consumer_key(2)),
            epoch: 30,
        });
        o.apply_due(30, 31, 14).unwrap();
        assert_eq!((o.allocation_bps, o.key), (9_000, consumer_key(2)));
        assert_eq!(o.slashable_at(30), 0);
        o.stop(31, 31, 14);
        assert_eq!(
            (o.allocation_bps, o.slashable_bps, o.slashable_until_epoch),
            (0, 9_000, 45)
        );
        assert_eq!(OptIn::from_stored(o.to_proto()).unwrap(), o);
    }

    #[test]
    fn a_window_closed_by_now_is_replaced_never_revived() {
        // 6000 slashable until epoch 10; a reduction from 5000 sent in epoch 10 is applied in
        // epoch 11 (the run reaches the consumer late). Reviving 6000 would raise the
        // operator's encumbered total from 5000 to 6000 in epoch 11.
        let mut o = opt_in(5_000, 1);
        o.apply_due(1, 2, 14).unwrap();
        o.slashable_bps = 6_000;
        o.slashable_until_epoch = 10;
        o.pending = Some(PendingChange {
            allocation_bps: 0,
            key: None,
            epoch: 10,
        });
        assert_eq!(o.encumbered(11), 5_000);
        o.apply_due(10, 11, 14).unwrap();
        assert_eq!((o.slashable_bps, o.slashable_until_epoch), (5_000, 24));
        assert_eq!(o.encumbered(11), 5_000);
    }

    #[test]
    fn a_key_serves_one_operator_on_one_consumer() {
        let mut s = MemState::new();
        let (c1, c2) = (
            ConsumerId::parse("c1").unwrap(),
            ConsumerId::parse("c2").unwrap(),
        );
        let (o1, o2) = (OperatorId::new([1; 32]), OperatorId::new([2; 32]));
        let k = consumer_key(5);
        claim_key(&mut s, &k, &c1, &o1).unwrap();
        claim_key(&mut s, &k, &c1, &o1).unwrap();
        assert_eq!(claim_key(&mut s, &k, &c2, &o1).unwrap_err().code(), 19);
        assert_eq!(claim_key(&mut s, &k, &c1, &o2).unwrap_err().code(), 19);
        assert_eq!(key_user(&s, &k).unwrap(), Some((c1, o1)));
        assert_eq!(key_user(&s, &consumer_key(6)).unwrap(), None);
    }
}
