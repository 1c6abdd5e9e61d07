//! Validators' BLS keys and the per-epoch validator snapshots.
//!
//! # BLS keys
//!
//! A validator (named by its 20-byte CometBFT consensus address) has at most one BLS key, set
//! once, either in genesis or by `MsgRegisterBlsKey`:
//!
//! - the key must be a valid G2 subgroup point and come with a valid proof of possession
//!   ([`ProvenBlsKey`]);
//! - a validator that has a key cannot register another one, nor the same one again
//!   ([`CheckpointingError::BlsKeyAlreadyRegistered`]). Rotation is not supported: a key in use
//!   is part of every later snapshot, and replacing it would need a rule for the epoch in
//!   flight;
//! - a key registered by one validator cannot be registered by another
//!   ([`CheckpointingError::BlsKeyInUse`]), since two validators with one key could not be told
//!   apart in an aggregate.
//!
//! # Snapshots
//!
//! [`snapshot_validators`] stores the validators that sign epoch `e`'s checkpoint, each with its
//! power and its BLS key at that moment, ordered by power (descending) and then by consensus
//! address (ascending). A validator's position in this order is its bit in the checkpoint's
//! bitmap. The app writes epoch 1's snapshot at genesis and epoch `e + 1`'s when epoch `e`
//! ends (the power table is snapshotted at the epoch's end, and set changes take effect at
//! epoch boundaries). A validator without a BLS key is kept in the snapshot (its power counts
//! towards the total) but cannot sign; the snapshot's event lists such validators.

use crate::bitmap::MAX_BITMAP_VALIDATORS;
use crate::bls::{BlsPublicKey, BlsSignature};
use crate::error::corrupt;
use crate::{events, params, state_key, CheckpointingError};
use ballast_framework::{ConsensusAddress, StateRead, StateReadExt, StateWrite, StateWriteExt};
use ballast_proto::ballast::checkpointing::v1 as pb;

/// A BLS key whose proof of possession has been checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProvenBlsKey {
    pubkey: BlsPublicKey,
    pop: BlsSignature,
}

impl ProvenBlsKey {
    /// Decodes the key (96 bytes) and the proof (48 bytes), and verifies the proof.
    pub fn new(pubkey: &[u8], pop: &[u8]) -> Result<Self, CheckpointingError> {
        let pk = BlsPublicKey::from_bytes(pubkey).map_err(CheckpointingError::InvalidBlsKey)?;
        let proof = BlsSignature::from_bytes(pop)
            .and_then(|p| pk.verify_possession(&p).map(|_| p))
            .map_err(|source| CheckpointingError::InvalidProofOfPossession {
                bls_pubkey: pk.to_string(),
                source,
            })?;
        Ok(ProvenBlsKey {
            pubkey: pk,
            pop: proof,
        })
    }

    /// The key.
    pub fn pubkey(&self) -> &BlsPublicKey {
        &self.pubkey
    }

    /// Its proof of possession.
    pub fn pop(&self) -> &BlsSignature {
        &self.pop
    }
}

/// A registered BLS key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlsKeyInfo {
    /// The validator.
    pub validator: ConsensusAddress,
    /// Its key, with the proof it was registered with.
    pub key: ProvenBlsKey,
    /// Hub height of the registration (0 for genesis).
    pub registered_at_height: u64,
}

impl BlsKeyInfo {
    /// The stored form.
    pub fn to_proto(&self) -> pb::BlsKeyRecord {
        pb::BlsKeyRecord {
            validator_address: self.validator.0.to_vec(),
            bls_pubkey: self.key.pubkey.to_bytes().to_vec(),
            pop: self.key.pop.to_bytes().to_vec(),
            registered_at_height: self.registered_at_height,
        }
    }

    pub(crate) fn from_proto(p: &pb::BlsKeyRecord) -> Result<Self, CheckpointingError> {
        let validator = consensus_address(&p.validator_address)
            .map_err(|_| corrupt("stored bls key record has a bad validator address"))?;
        // Stored keys were validated when registered; re-checking the proof (a pairing) and the
        // key's subgroup on every read would be costly, so only the encodings are checked here.
        let pubkey = BlsPublicKey::from_trusted_bytes(&p.bls_pubkey).map_err(|e| {
            corrupt(format!(
                "stored bls key of {}: {e}",
                hex::encode(validator.0)
            ))
        })?;
        let pop = BlsSignature::from_bytes(&p.pop)
            .map_err(|e| corrupt(format!("stored pop of {}: {e}", hex::encode(validator.0))))?;
        Ok(BlsKeyInfo {
            validator,
            key: ProvenBlsKey { pubkey, pop },
            registered_at_height: p.registered_at_height,
        })
    }
}

/// Parses a 20-byte consensus address.
pub fn consensus_address(bytes: &[u8]) -> Result<ConsensusAddress, CheckpointingError> {
    <[u8; 20]>::try_from(bytes)
        .map(ConsensusAddress)
        .map_err(|_| CheckpointingError::InvalidValidatorAddress {
            input: hex::encode(bytes),
        })
}

/// Parses a consensus address written as 40 hex digits (either case, as CometBFT prints it).
pub fn consensus_address_hex(s: &str) -> Result<ConsensusAddress, CheckpointingError> {
    let bytes = hex::decode(s).map_err(|_| CheckpointingError::InvalidValidatorAddress {
        input: s.to_string(),
    })?;
    consensus_address(&bytes).map_err(|_| CheckpointingError::InvalidValidatorAddress {
        input: s.to_string(),
    })
}

/// The stored BLS key of a validator.
pub(crate) fn load_bls_key<S: StateRead + ?Sized>(
    state: &S,
    validator: &ConsensusAddress,
) -> Result<Option<BlsKeyInfo>, CheckpointingError> {
    match state.get_proto::<pb::BlsKeyRecord>(state_key::bls_key(validator))? {
        None => Ok(None),
        Some(p) => {
            let info = BlsKeyInfo::from_proto(&p)?;
            if info.validator != *validator {
                return Err(corrupt(format!(
                    "bls key record of {} names validator {}",
                    hex::encode(validator.0),
                    hex::encode(info.validator.0)
                )));
            }
            Ok(Some(info))
        }
    }
}

/// The validator that registered a key.
pub(crate) fn load_bls_key_owner<S: StateRead + ?Sized>(
    state: &S,
    key: &BlsPublicKey,
) -> Result<Option<ConsensusAddress>, CheckpointingError> {
    match state.get_raw(state_key::bls_key_owner(&key.to_bytes()).as_bytes())? {
        None => Ok(None),
        Some(b) => Ok(Some(
            consensus_address(&b).map_err(|_| corrupt("bls key owner is not 20 bytes"))?,
        )),
    }
}

/// Registers a validator's key (see the module docs for the rules). On error nothing is
/// written.
pub fn register_bls_key<S: StateWrite + ?Sized>(
    state: &mut S,
    validator: ConsensusAddress,
    key: ProvenBlsKey,
    height: u64,
) -> Result<BlsKeyInfo, CheckpointingError> {
    if let Some(existing) = load_bls_key(state, &validator)? {
        return Err(CheckpointingError::BlsKeyAlreadyRegistered {
            validator: hex::encode(validator.0),
            existing: existing.key.pubkey.to_string(),
        });
    }
    if let Some(owner) = load_bls_key_owner(state, &key.pubkey)? {
        return Err(CheckpointingError::BlsKeyInUse {
            bls_pubkey: key.pubkey.to_string(),
            owner: hex::encode(owner.0),
            validator: hex::encode(validator.0),
        });
    }
    let info = BlsKeyInfo {
        validator,
        key,
        registered_at_height: height,
    };
    let pk = key.pubkey.to_bytes();
    state.put_proto(state_key::bls_key(&validator), &info.to_proto())?;
    state.put_raw(
        state_key::bls_key_owner(&pk).into_bytes(),
        validator.0.to_vec(),
    )?;
    state.emit_event(events::bls_key_registered(&validator, &pk));
    Ok(info)
}

/// One validator of a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotValidator {
    /// Consensus address.
    pub address: ConsensusAddress,
    /// Voting power.
    pub power: u64,
    /// BLS key when the snapshot was taken.
    pub bls_key: Option<BlsPublicKey>,
}

/// The validators that sign an epoch's checkpoint, in bitmap order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSnapshot {
    /// The epoch.
    pub epoch: u64,
    /// Validators by power descending, then address ascending.
    pub validators: Vec<SnapshotValidator>,
    /// Sum of their powers.
    pub total_power: u64,
}

impl ValidatorSnapshot {
    /// A validator's position (its bit in the bitmap).
    pub fn position(&self, address: &ConsensusAddress) -> Option<usize> {
        self.validators.iter().position(|v| v.address == *address)
    }

    /// The least power that is more than 2/3 of the total: `floor(2 × total / 3) + 1`.
    pub fn quorum_power(&self) -> u64 {
        let two_thirds = u128::from(self.total_power) * 2 / 3;
        // total_power fits u64, so 2/3 of it plus one does too.
        u64::try_from(two_thirds + 1).unwrap_or(u64::MAX)
    }

    /// Whether `power` is more than 2/3 of the total.
    pub fn exceeds_two_thirds(&self, power: u64) -> bool {
        u128::from(power) * 3 > u128::from(self.total_power) * 2
    }

    /// The stored form.
    pub fn to_proto(&self) -> pb::ValidatorSnapshot {
        pb::ValidatorSnapshot {
            epoch: self.epoch,
            validators: self
                .validators
                .iter()
                .map(|v| pb::ValidatorEntry {
                    validator_address: v.address.0.to_vec(),
                    power: v.power,
                    bls_pubkey: v.bls_key.map(|k| k.to_bytes().to_vec()).unwrap_or_default(),
                })
                .collect(),
            total_power: self.total_power,
        }
    }

    pub(crate) fn from_proto(p: &pb::ValidatorSnapshot) -> Result<Self, CheckpointingError> {
        let mut validators = Vec::with_capacity(p.validators.len());
        for v in &p.validators {
            let address = consensus_address(&v.validator_address)
                .map_err(|_| corrupt("stored snapshot has a bad validator address"))?;
            let bls_key = if v.bls_pubkey.is_empty() {
                None
            } else {
                Some(
                    BlsPublicKey::from_trusted_bytes(&v.bls_pubkey)
                        .map_err(|e| corrupt(format!("stored snapshot key: {e}")))?,
                )
            };
            validators.push(SnapshotValidator {
                address,
                power: v.power,
                bls_key,
            });
        }
        if validators.len() > MAX_BITMAP_VALIDATORS {
            return Err(corrupt(format!(
                "stored snapshot of epoch {} has {} validators",
                p.epoch,
                validators.len()
            )));
        }
        Ok(ValidatorSnapshot {
            epoch: p.epoch,
            validators,
            total_power: p.total_power,
        })
    }
}

/// One validator's entry in the stored snapshot of an epoch, without decoding the other
/// validators' keys: `None` when the epoch has no snapshot, `Some(None)` when the validator is
/// not in it, else its position and entry. Vote-extension checks run once per validator, so
/// they decompress only the key they need.
pub(crate) fn load_snapshot_entry<S: StateRead + ?Sized>(
    state: &S,
    epoch: u64,
    validator: &ConsensusAddress,
) -> Result<Option<Option<(usize, SnapshotValidator)>>, CheckpointingError> {
    let Some(p) = state.get_proto::<pb::ValidatorSnapshot>(state_key::snapshot(epoch))? else {
        return Ok(None);
    };
    let Some(pos) = p
        .validators
        .iter()
        .position(|v| v.validator_address.as_slice() == validator.0)
    else {
        return Ok(Some(None));
    };
    let v = &p.validators[pos];
    let bls_key = if v.bls_pubkey.is_empty() {
        None
    } else {
        Some(
            BlsPublicKey::from_trusted_bytes(&v.bls_pubkey)
                .map_err(|e| corrupt(format!("stored snapshot key: {e}")))?,
        )
    };
    Ok(Some(Some((
        pos,
        SnapshotValidator {
            address: *validator,
            power: v.power,
            bls_key,
        },
    ))))
}

/// The stored snapshot of an epoch.
pub(crate) fn load_snapshot<S: StateRead + ?Sized>(
    state: &S,
    epoch: u64,
) -> Result<Option<ValidatorSnapshot>, CheckpointingError> {
    match state.get_proto::<pb::ValidatorSnapshot>(state_key::snapshot(epoch))? {
        None => Ok(None),
        Some(p) => Ok(Some(ValidatorSnapshot::from_proto(&p)?)),
    }
}

/// Stores the validators that sign epoch `epoch`'s checkpoint, with their current BLS keys,
/// in bitmap order. Fails (writing nothing) for epoch 0, an empty set, more than
/// `max_validators`, a repeated address, a zero power, a total above `u64::MAX`, or an epoch
/// that already has a snapshot.
pub fn snapshot_validators<S: StateWrite + ?Sized>(
    state: &mut S,
    epoch: u64,
    validators: &[(ConsensusAddress, u64)],
) -> Result<ValidatorSnapshot, CheckpointingError> {
    let bad = |reason: String| CheckpointingError::InvalidSnapshot { epoch, reason };
    if epoch == 0 {
        return Err(bad("epochs start at 1".into()));
    }
    let params = params::load(state)?;
    if validators.is_empty() {
        return Err(bad("the validator set is empty".into()));
    }
    if validators.len() > params.max_validators as usize {
        return Err(bad(format!(
            "{} validators, at most max_validators = {} can sign a checkpoint; pass the top {} by power",
            validators.len(),
            params.max_validators,
            params.max_validators
        )));
    }
    if state
        .get_raw(state_key::snapshot(epoch).as_bytes())?
        .is_some()
    {
        return Err(CheckpointingError::SnapshotExists { epoch });
    }
    let mut sorted: Vec<(ConsensusAddress, u64)> = validators.to_vec();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut total: u64 = 0;
    let mut out = Vec::with_capacity(sorted.len());
    let mut without_key = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (address, power) in sorted {
        if !seen.insert(address) {
            return Err(bad(format!(
                "validator {} appears twice",
                hex::encode(address.0)
            )));
        }
        if power == 0 {
            return Err(bad(format!(
                "validator {} has zero power",
                hex::encode(address.0)
            )));
        }
        total = total
            .checked_add(power)
            .ok_or_else(|| bad("total power exceeds 2^64 - 1".into()))?;
        let bls_key = load_bls_key(state, &address)?.map(|k| k.key.pubkey);
        if bls_key.is_none() {
            without_key.push(address);
        }
        out.push(SnapshotValidator {
            address,
            power,
            bls_key,
        });
    }
    let snapshot = ValidatorSnapshot {
        epoch,
        validators: out,
        total_power: total,
    };
    state.put_proto(state_key::snapshot(epoch), &snapshot.to_proto())?;
    state.emit_event(events::validator_snapshot(
        epoch,
        snapshot.validators.len(),
        total,
        &without_key,
    ));
    Ok(snapshot)
}
