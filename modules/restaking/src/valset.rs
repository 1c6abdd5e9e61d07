//! The hub's CometBFT validator set: at each epoch's end, the top `max_validators` operators
//! that have a consensus key, are not jailed and have at least `min_validator_power`, in
//! checkpoint-bitmap order (power descending, then consensus address ascending).
//!
//! The difference from the set in force is stored as pending updates (power 0 removes a
//! validator); the app takes them with [`take_validator_updates`] right after the modules'
//! end-epoch hooks and returns them from FinalizeBlock. At genesis the first set is computed
//! from the genesis operators and stored without updates: the app returns it from InitChain.

use crate::error::corrupt;
use crate::operator::{self, consensus_key_address, OperatorId};
use crate::power::{self, MAX_TOTAL_POWER};
use crate::{events, params, state_key, RestakingError};
use ballast_framework::{ConsensusAddress, StateRead, StateReadExt, StateWrite, StateWriteExt};
use ballast_proto::ballast::restaking::v1 as pb;
use std::collections::BTreeMap;

/// A hub validator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HubValidator {
    /// The operator.
    pub operator: OperatorId,
    /// Its ed25519 consensus key.
    pub consensus_pubkey: [u8; 32],
    /// Its CometBFT voting power (at most [`MAX_TOTAL_POWER`] with the others).
    pub power: u64,
}

impl HubValidator {
    /// Its CometBFT address.
    pub fn consensus_address(&self) -> ConsensusAddress {
        consensus_key_address(&self.consensus_pubkey)
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::HubValidator {
        pb::HubValidator {
            operator_btc_pk: self.operator.to_bytes().to_vec(),
            consensus_pubkey: self.consensus_pubkey.to_vec(),
            power: self.power,
        }
    }
}

impl TryFrom<pb::HubValidator> for HubValidator {
    type Error = RestakingError;
    fn try_from(p: pb::HubValidator) -> Result<Self, Self::Error> {
        Ok(HubValidator {
            operator: OperatorId::from_slice(&p.operator_btc_pk, "operator_btc_pk")?,
            consensus_pubkey: p.consensus_pubkey.as_slice().try_into().map_err(|_| {
                RestakingError::InvalidConsensusKey(format!(
                    "expected 32 bytes, found {}",
                    p.consensus_pubkey.len()
                ))
            })?,
            power: p.power,
        })
    }
}

/// One change for CometBFT: an ed25519 key and its new power (0 removes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ValidatorUpdate {
    /// ed25519 consensus key.
    pub pubkey: [u8; 32],
    /// New voting power; 0 = removed.
    pub power: u64,
}

fn bitmap_order(a: &HubValidator, b: &HubValidator) -> std::cmp::Ordering {
    b.power
        .cmp(&a.power)
        .then_with(|| a.consensus_address().cmp(&b.consensus_address()))
}

/// The set the current state would give: eligible operators by power, cut at
/// `max_validators`.
pub fn compute_set<S: StateRead + ?Sized>(state: &S) -> Result<Vec<HubValidator>, RestakingError> {
    let p = params::load(state)?;
    let mut candidates = Vec::new();
    for entry in power::power_table(state)? {
        if entry.power < p.min_validator_power {
            continue;
        }
        let op = operator::load(state, &entry.operator)?.ok_or_else(|| {
            corrupt(format!(
                "power record of unknown operator {}",
                entry.operator
            ))
        })?;
        let Some(consensus_pubkey) = op.consensus_pubkey else {
            continue;
        };
        if op.jailed {
            continue;
        }
        candidates.push(HubValidator {
            operator: op.id,
            consensus_pubkey,
            power: entry.power,
        });
    }
    candidates.sort_by(bitmap_order);
    candidates.truncate(p.max_validators as usize);
    let mut total: u64 = 0;
    for v in &candidates {
        total = total
            .checked_add(v.power)
            .filter(|t| *t <= MAX_TOTAL_POWER)
            .ok_or_else(|| {
                RestakingError::PowerOverflow(format!(
                    "hub validator set power passes CometBFT's limit {MAX_TOTAL_POWER}"
                ))
            })?;
    }
    Ok(candidates)
}

/// The set in force and the epoch whose end computed it (0: genesis). Empty before genesis.
pub fn load_set<S: StateRead + ?Sized>(
    state: &S,
) -> Result<(u64, Vec<HubValidator>), RestakingError> {
    let Some(set) = state.get_proto::<pb::HubValidatorSet>(state_key::hub_validators())? else {
        return Ok((0, Vec::new()));
    };
    let validators = set
        .validators
        .into_iter()
        .map(HubValidator::try_from)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| corrupt(format!("stored hub validator set: {e}")))?;
    Ok((set.epoch, validators))
}

fn store_set<S: StateWrite + ?Sized>(
    state: &mut S,
    epoch: u64,
    set: &[HubValidator],
) -> Result<(), RestakingError> {
    if epoch == 0 && set.is_empty() {
        // Encodes to no bytes, which state must not hold; absent reads back the same.
        state.delete(state_key::hub_validators().as_bytes().to_vec())?;
        return Ok(());
    }
    state.put_proto(
        state_key::hub_validators(),
        &pb::HubValidatorSet {
            epoch,
            validators: set.iter().map(HubValidator::to_proto).collect(),
        },
    )?;
    Ok(())
}

/// The changes that turn `old` into `new`, ordered by key: new keys and changed powers with
/// their power, keys that left with power 0.
pub fn diff(old: &[HubValidator], new: &[HubValidator]) -> Vec<ValidatorUpdate> {
    let before: BTreeMap<[u8; 32], u64> =
        old.iter().map(|v| (v.consensus_pubkey, v.power)).collect();
    let after: BTreeMap<[u8; 32], u64> =
        new.iter().map(|v| (v.consensus_pubkey, v.power)).collect();
    let mut out = Vec::new();
    for (pk, power) in &after {
        if before.get(pk) != Some(power) {
            out.push(ValidatorUpdate {
                pubkey: *pk,
                power: *power,
            });
        }
    }
    for pk in before.keys() {
        if !after.contains_key(pk) {
            out.push(ValidatorUpdate {
                pubkey: *pk,
                power: 0,
            });
        }
    }
    out.sort();
    out
}

/// Computes and stores the genesis set, without pending updates (InitChain returns the set).
pub fn init_set<S: StateWrite + ?Sized>(
    state: &mut S,
) -> Result<Vec<HubValidator>, RestakingError> {
    let set = compute_set(state)?;
    store_set(state, 0, &set)?;
    state.delete(state_key::pending_validator_updates().as_bytes().to_vec())?;
    let total = set.iter().map(|v| v.power).sum::<u64>();
    state.emit_event(events::hub_validator_set(0, set.len(), total, 0));
    Ok(set)
}

/// At the end of `epoch`: computes the new set, stores it, and adds its difference from the
/// set in force to the pending updates. Returns that difference.
///
/// When no operator qualifies any more but a set is in force, the set in force stays (with no
/// updates, and a `restaking.hub_validator_set_kept` event): CometBFT refuses updates that
/// empty its validator set and would halt the chain.
pub fn update_set<S: StateWrite + ?Sized>(
    state: &mut S,
    epoch: u64,
) -> Result<Vec<ValidatorUpdate>, RestakingError> {
    let (_, old) = load_set(state)?;
    let mut new = compute_set(state)?;
    if new.is_empty() && !old.is_empty() {
        state.emit_event(events::hub_validator_set_kept(epoch, old.len()));
        new = old.clone();
    }
    let changes = diff(&old, &new);
    store_set(state, epoch, &new)?;
    if !changes.is_empty() {
        let mut merged: BTreeMap<[u8; 32], u64> = pending_updates(state)?
            .into_iter()
            .map(|u| (u.pubkey, u.power))
            .collect();
        for u in &changes {
            merged.insert(u.pubkey, u.power);
        }
        let updates: Vec<pb::HubValidator> = merged
            .into_iter()
            .map(|(pk, power)| pb::HubValidator {
                operator_btc_pk: Vec::new(),
                consensus_pubkey: pk.to_vec(),
                power,
            })
            .collect();
        state.put_proto(
            state_key::pending_validator_updates(),
            &pb::PendingValidatorUpdates { updates },
        )?;
    }
    for u in &changes {
        state.emit_event(events::validator_update(epoch, u));
    }
    let total = new.iter().map(|v| v.power).sum::<u64>();
    state.emit_event(events::hub_validator_set(
        epoch,
        new.len(),
        total,
        changes.len(),
    ));
    Ok(changes)
}

/// The updates not yet taken, ordered by key.
pub fn pending_updates<S: StateRead + ?Sized>(
    state: &S,
) -> Result<Vec<ValidatorUpdate>, RestakingError> {
    let Some(p) =
        state.get_proto::<pb::PendingValidatorUpdates>(state_key::pending_validator_updates())?
    else {
        return Ok(Vec::new());
    };
    p.updates
        .into_iter()
        .map(|u| {
            Ok(ValidatorUpdate {
                pubkey: u
                    .consensus_pubkey
                    .as_slice()
                    .try_into()
                    .map_err(|_| corrupt("pending validator update key is not 32 bytes"))?,
                power: u.power,
            })
        })
        .collect()
}

/// Returns the pending validator updates and clears them. The app calls this right after the
/// modules' end-epoch hooks and returns the updates from FinalizeBlock (empty in other blocks).
pub fn take_validator_updates(
    state: &mut dyn StateWrite,
) -> Result<Vec<ValidatorUpdate>, RestakingError> {
    let out = pending_updates(state)?;
    if !out.is_empty() {
        state.delete(state_key::pending_validator_updates().as_bytes().to_vec())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::{adjust_collateral, CollateralChange, PowerTableRead};
    use crate::testutil::*;
    use crate::Params;
    use ballast_framework::{Address, ErrorCode, MemState};

    fn bond(s: &mut MemState, op: &OperatorId, bal: u128) {
        adjust_collateral(
            s,
            op,
            &Address([0xee; 20]),
            CollateralChange::AddNative(bal * 1_000_000),
        )
        .unwrap();
    }

    fn unbond(s: &mut MemState, op: &OperatorId, bal: u128) {
        adjust_collateral(
            s,
            op,
            &Address([0xee; 20]),
            CollateralChange::SubNative(bal * 1_000_000),
        )
        .unwrap();
    }

    fn upd(i: u8, power: u64) -> ValidatorUpdate {
        ValidatorUpdate {
            pubkey: cons_pk(i),
            power,
        }
    }

    fn sorted(mut v: Vec<ValidatorUpdate>) -> Vec<ValidatorUpdate> {
        v.sort();
        v
    }

    #[test]
    fn genesis_set_has_no_updates_and_epoch_ends_return_only_changes() {
        let mut s = MemState::new();
        init(&mut s);
        let a = register_op(&mut s, 1, Some(cons_pk(1)));
        let b = register_op(&mut s, 2, Some(cons_pk(2)));
        let c = register_op(&mut s, 3, Some(cons_pk(3)));
        bond(&mut s, &a, 10);
        bond(&mut s, &b, 20);
        let set = init_set(&mut s).unwrap();
        assert_eq!(
            set.iter().map(|v| v.operator).collect::<Vec<_>>(),
            vec![b, a]
        );
        assert_eq!(s.hub_validators().unwrap(), set);
        assert!(pending_updates(&s).unwrap().is_empty());
        assert!(take_validator_updates(&mut s).unwrap().is_empty());

        // Nothing changed: no updates.
        assert!(update_set(&mut s, 1).unwrap().is_empty());
        // A power change and an addition.
        bond(&mut s, &a, 5);
        bond(&mut s, &c, 1);
        let u = update_set(&mut s, 2).unwrap();
        assert_eq!(u, sorted(vec![upd(1, 15), upd(3, 1)]));
        let taken = take_validator_updates(&mut s).unwrap();
        assert_eq!(taken, u);
        assert!(
            take_validator_updates(&mut s).unwrap().is_empty(),
            "taken once"
        );
        // A removal: power below the minimum leaves the set with power 0.
        unbond(&mut s, &c, 1);
        assert_eq!(update_set(&mut s, 3).unwrap(), vec![upd(3, 0)]);
        assert_eq!(load_set(&s).unwrap().0, 3);
    }

    #[test]
    fn jailed_and_keyless_operators_are_excluded() {
        let mut s = MemState::new();
        init(&mut s);
        let a = register_op(&mut s, 1, Some(cons_pk(1)));
        let keyless = register_op(&mut s, 2, None);
        let c = register_op(&mut s, 3, Some(cons_pk(3)));
        bond(&mut s, &a, 10);
        bond(&mut s, &keyless, 50);
        bond(&mut s, &c, 4);
        init_set(&mut s).unwrap();
        let ids: Vec<OperatorId> = s
            .hub_validators()
            .unwrap()
            .iter()
            .map(|v| v.operator)
            .collect();
        assert_eq!(ids, vec![a, c], "the keyless operator is not a validator");
        operator::set_jailed(&mut s, &a, true).unwrap();
        assert_eq!(update_set(&mut s, 1).unwrap(), vec![upd(1, 0)]);
        assert_eq!(s.hub_validators().unwrap().len(), 1);
        operator::set_jailed(&mut s, &a, false).unwrap();
        assert_eq!(update_set(&mut s, 2).unwrap(), vec![upd(1, 10)]);
        // Both epochs' changes wait merged until the app takes them: the latest wins.
        assert_eq!(take_validator_updates(&mut s).unwrap(), vec![upd(1, 10)]);
    }

    #[test]
    fn max_validators_cuts_by_power_then_consensus_address() {
        let mut s = MemState::new();
        init_with(
            &mut s,
            Params {
                max_validators: 3,
                min_validator_power: 2,
                ..Params::default()
            },
        );
        let ops: Vec<OperatorId> = (1..=5u8)
            .map(|i| register_op(&mut s, i, Some(cons_pk(i))))
            .collect();
        // Powers 5, 7, 7, 7, 1: three tie at 7.
        for (op, bal) in ops.iter().zip([5u128, 7, 7, 7, 1]) {
            bond(&mut s, op, bal);
        }
        let set = compute_set(&s).unwrap();
        assert_eq!(set.len(), 3);
        assert!(set.iter().all(|v| v.power == 7));
        let addrs: Vec<ConsensusAddress> = set.iter().map(|v| v.consensus_address()).collect();
        let mut sorted_addrs = addrs.clone();
        sorted_addrs.sort();
        assert_eq!(addrs, sorted_addrs, "ties in consensus-address order");
        // The operator at power 5 is cut; the one at power 1 is below the minimum anyway.
        assert!(!set
            .iter()
            .any(|v| v.operator == ops[0] || v.operator == ops[4]));
        init_set(&mut s).unwrap();
        // Operator 1 rises to the top: it enters, the last of the tied ones leaves.
        bond(&mut s, &ops[0], 10);
        let last = set[2];
        let u = update_set(&mut s, 1).unwrap();
        assert_eq!(
            u,
            sorted(vec![
                upd(1, 15),
                ValidatorUpdate {
                    pubkey: last.consensus_pubkey,
                    power: 0
                }
            ])
        );
        let now = s.hub_validators().unwrap();
        assert_eq!(now[0].operator, ops[0]);
        assert_eq!(now.len(), 3);
    }

    #[test]
    fn a_set_that_would_be_empty_is_kept() {
        let mut s = MemState::new();
        init(&mut s);
        let a = register_op(&mut s, 1, Some(cons_pk(1)));
        bond(&mut s, &a, 3);
        init_set(&mut s).unwrap();
        unbond(&mut s, &a, 3);
        assert!(update_set(&mut s, 1).unwrap().is_empty());
        assert_eq!(s.hub_validators().unwrap().len(), 1);
        assert!(s
            .events()
            .iter()
            .any(|e| e.kind == "restaking.hub_validator_set_kept"));
        // Once someone qualifies again, the set moves to the new one.
        let b = register_op(&mut s, 2, Some(cons_pk(2)));
        bond(&mut s, &b, 2);
        assert_eq!(
            update_set(&mut s, 2).unwrap(),
            sorted(vec![upd(1, 0), upd(2, 2)])
        );
    }

    #[test]
    fn stored_updates_that_are_malformed_are_state_corruption() {
        let mut s = MemState::new();
        s.put_proto(
            state_key::pending_validator_updates(),
            &pb::PendingValidatorUpdates {
                updates: vec![pb::HubValidator {
                    operator_btc_pk: Vec::new(),
                    consensus_pubkey: vec![1; 31],
                    power: 1,
                }],
            },
        )
        .unwrap();
        let e = take_validator_updates(&mut s).unwrap_err();
        assert!(e.is_fatal());
    }
}
