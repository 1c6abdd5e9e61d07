//! A consumer's validator set at an ended epoch, its difference from the stored set, and the
//! stored set, commitment and updates.
//!
//! The set for epoch `e`: the opt-ins whose operator is registered, that are not tombstoned,
//! not jailed for it (`jailed_until_epoch <= e`) and have an allocation in force; power =
//! `floor(allocation_bps × operator power in restaking's snapshot of e / 10000)`; power 0 is
//! dropped; the top `max_operators` by power (descending), then key (ascending); stored and
//! hashed in CometBFT order (power descending, then address ascending).

use crate::consumer::ConsumerId;
use crate::error::corrupt;
use crate::hash;
use crate::opt_in::{ConsumerKey, OptIn};
use crate::params::BPS;
use crate::{state_key, ConsumersError};
use ballast_framework::{StateRead, StateReadExt, StateWrite, StateWriteExt};
use ballast_proto::ballast::consumers::v1 as pb;
use ballast_restaking::{OperatorId, PowerSnapshot, PowerTableRead};
use std::collections::BTreeMap;

/// One validator of a consumer set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsumerValidator {
    /// Its consumer key.
    pub key: ConsumerKey,
    /// Its voting power on the consumer chain.
    pub power: u64,
    /// The operator behind the key.
    pub operator: OperatorId,
}

impl ConsumerValidator {
    /// The proto form.
    pub fn to_proto(&self) -> pb::ValidatorPower {
        pb::ValidatorPower {
            pubkey: self.key.to_bytes().to_vec(),
            power: self.power,
            operator_btc_pk: self.operator.to_bytes().to_vec(),
        }
    }

    fn from_stored(p: &pb::ValidatorPower) -> Result<Self, ConsumersError> {
        Ok(ConsumerValidator {
            key: ConsumerKey::from_stored(&p.pubkey)?,
            power: p.power,
            operator: crate::opt_in::parse_operator("operator_btc_pk", &p.operator_btc_pk)
                .map_err(|e| corrupt(format!("stored validator: {e}")))?,
        })
    }
}

/// The set hash of validators in CometBFT order.
pub fn set_hash(validators: &[ConsumerValidator]) -> [u8; 32] {
    hash::validator_set_hash(validators.iter().map(|v| (v.key.as_bytes(), v.power)))
}

/// Computes the set of `opt_ins` (those of one consumer) for the ended epoch of `snapshot`,
/// with at most `max_operators` validators, in CometBFT order.
pub fn compute<S: StateRead + ?Sized>(
    state: &S,
    opt_ins: &[OptIn],
    snapshot: &PowerSnapshot,
    max_operators: u32,
) -> Result<Vec<ConsumerValidator>, ConsumersError> {
    let epoch = snapshot.epoch;
    let powers: BTreeMap<OperatorId, u64> = snapshot
        .powers
        .iter()
        .map(|p| (p.operator, p.power))
        .collect();
    let mut out = Vec::new();
    for o in opt_ins {
        if o.allocation_bps == 0 || o.tombstoned || o.jailed_until_epoch > epoch {
            continue;
        }
        if state.operator(&o.operator)?.is_none() {
            continue;
        }
        let op_power = powers.get(&o.operator).copied().unwrap_or(0);
        // allocation ≤ 10000, so the product fits in u128 and the quotient in u64.
        let power = u128::from(o.allocation_bps)
            .checked_mul(u128::from(op_power))
            .map(|p| p / u128::from(BPS))
            .and_then(|p| u64::try_from(p).ok())
            .ok_or_else(|| corrupt("consumer power overflows"))?;
        if power == 0 {
            continue;
        }
        out.push(ConsumerValidator {
            key: o.key,
            power,
            operator: o.operator,
        });
    }
    out.sort_by(|a, b| b.power.cmp(&a.power).then(a.key.cmp(&b.key)));
    out.truncate(max_operators as usize);
    hash::sort_cometbft(&mut out, |v| (v.key.as_bytes(), v.power));
    Ok(out)
}

/// The keys whose power differs between `old` and `new`, by key ascending; power 0 for a key
/// that left.
pub fn diff(old: &[ConsumerValidator], new: &[ConsumerValidator]) -> Vec<ConsumerValidator> {
    let old_map: BTreeMap<ConsumerKey, &ConsumerValidator> =
        old.iter().map(|v| (v.key, v)).collect();
    let new_map: BTreeMap<ConsumerKey, &ConsumerValidator> =
        new.iter().map(|v| (v.key, v)).collect();
    let mut out: BTreeMap<ConsumerKey, ConsumerValidator> = BTreeMap::new();
    for (k, v) in &new_map {
        if old_map.get(k).map(|o| o.power) != Some(v.power) {
            out.insert(*k, **v);
        }
    }
    for (k, v) in &old_map {
        if !new_map.contains_key(k) {
            out.insert(*k, ConsumerValidator { power: 0, ..**v });
        }
    }
    out.into_values().collect()
}

/// A consumer's stored set (empty before its first update).
pub fn load_set<S: StateRead + ?Sized>(
    state: &S,
    consumer: &ConsumerId,
) -> Result<Vec<ConsumerValidator>, ConsumersError> {
    match state
        .get_proto::<pb::ConsumerValidatorSet>(state_key::validator_set(consumer.as_str()))?
    {
        None => Ok(Vec::new()),
        Some(s) => s
            .validators
            .iter()
            .map(ConsumerValidator::from_stored)
            .collect(),
    }
}

/// Stores update `update_id` of `consumer` (the set `new`, which differs from `old` by
/// `changes`), the full set and the commitment. Returns the update.
#[allow(clippy::too_many_arguments)]
pub fn write_update<S: StateWrite + ?Sized>(
    state: &mut S,
    consumer: &ConsumerId,
    update_id: u64,
    hub_height: u64,
    epoch: u64,
    new: &[ConsumerValidator],
    changes: &[ConsumerValidator],
) -> Result<pb::ValidatorSetUpdate, ConsumersError> {
    let hash = set_hash(new).to_vec();
    let update = pb::ValidatorSetUpdate {
        consumer_id: consumer.to_string(),
        update_id,
        hub_height,
        epoch,
        changes: changes.iter().map(|v| v.to_proto()).collect(),
        set_hash: hash.clone(),
    };
    state.put_proto(state_key::update(consumer.as_str(), update_id), &update)?;
    state.put_proto(
        state_key::validator_set(consumer.as_str()),
        &pb::ConsumerValidatorSet {
            consumer_id: consumer.to_string(),
            update_id,
            hub_height,
            epoch,
            validators: new.iter().map(|v| v.to_proto()).collect(),
            set_hash: hash.clone(),
        },
    )?;
    state.put_proto(
        state_key::set_hash(consumer.as_str()),
        &pb::SetCommitment {
            consumer_id: consumer.to_string(),
            update_id,
            epoch,
            hub_height,
            set_hash: hash,
        },
    )?;
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::consumer_key;

    fn v(k: u8, power: u64) -> ConsumerValidator {
        ConsumerValidator {
            key: consumer_key(k),
            power,
            operator: OperatorId::new([k; 32]),
        }
    }

    #[test]
    fn diff_lists_changed_added_and_removed_keys_in_key_order() {
        let old = vec![v(1, 10), v(2, 20), v(3, 30)];
        let new = vec![v(1, 10), v(2, 25), v(4, 5)];
        let d = diff(&old, &new);
        let mut want = vec![v(2, 25), v(3, 0), v(4, 5)];
        want.sort_by_key(|v| v.key);
        assert_eq!(d, want);
        assert!(diff(&new, &new).is_empty());
        assert_eq!(diff(&[], &new).len(), 3);
    }
}
