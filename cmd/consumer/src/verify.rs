//! Checking one validator-set update, without any I/O.
//!
//! An update is accepted in two steps:
//!
//! 1. [`apply_update`]: it must follow the local set (same consumer, `update_id` one above the
//!    last, hub height and epoch not going back), its changes must be well formed (32-byte
//!    ed25519 keys in ascending order, removals of keys that are in the set), and the CometBFT
//!    validator-set hash of the set after the changes, computed here with the `tendermint`
//!    crate, must equal the update's `set_hash`.
//! 2. [`verify_commitment`]: the hub's answer to `GetValidatorSet{height: hub_height, prove:
//!    true}` must carry the commitment of exactly this update (consumer, update id, epoch, hub
//!    height, set hash), and its ICS-23 proof (JMT spec) must prove the protobuf encoding of that
//!    commitment under `consumers/set_hash/<consumer_id>` against the app hash of `hub_height`,
//!    which the caller takes from a light-client-verified header of height `hub_height + 1`.
//!
//! Only a set that passed both is persisted ([`crate::store`]).

use ballast_proto::ballast::consumer::v1 as svc;
use ballast_proto::ballast::consumers::v1 as pb;
use prost::Message;
use std::collections::BTreeMap;
use tendermint::validator::{Info, Set};

/// The key a consumer's set commitment is stored (and proven) under.
pub fn proof_key(consumer_id: &str) -> Vec<u8> {
    format!("consumers/set_hash/{consumer_id}").into_bytes()
}

/// One validator of the local set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// CometBFT voting power on the consumer chain (never 0 in a set).
    pub power: u64,
    /// The operator behind the key (BIP-340 x-only key) as the hub reported it: UNVERIFIED.
    /// Neither the set hash nor the proven commitment covers it (they commit to keys and
    /// powers only), so a lying hub can put any operator here.
    pub unverified_operator: Vec<u8>,
}

/// The consumer's validator set after update `update_id` (update 0: the empty set before the
/// first update).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerSet {
    /// The consumer id (the consumer chain's chain id).
    pub consumer_id: String,
    /// The last update applied (0: none).
    pub update_id: u64,
    /// Hub height of the block that wrote that update.
    pub hub_height: u64,
    /// The hub epoch it reflects.
    pub epoch: u64,
    /// CometBFT validator-set hash of `validators`.
    pub set_hash: [u8; 32],
    /// The validators by ed25519 public key.
    pub validators: BTreeMap<[u8; 32], Member>,
}

impl ConsumerSet {
    /// The empty set before the first update.
    pub fn empty(consumer_id: &str) -> ConsumerSet {
        ConsumerSet {
            consumer_id: consumer_id.to_string(),
            update_id: 0,
            hub_height: 0,
            epoch: 0,
            set_hash: set_hash(&BTreeMap::new()).expect("the empty set always hashes"),
            validators: BTreeMap::new(),
        }
    }

    /// Sum of the powers.
    pub fn total_power(&self) -> u64 {
        // `set_hash` refused any set whose total overflows CometBFT's limit.
        self.validators
            .values()
            .fold(0u64, |acc, m| acc.saturating_add(m.power))
    }

    /// The validators in CometBFT order: power descending, then address
    /// (`sha256(pubkey)[..20]`) ascending.
    pub fn cometbft_order(&self) -> Vec<([u8; 32], Member)> {
        let mut v: Vec<([u8; 32], Member, [u8; 20])> = self
            .validators
            .iter()
            .map(|(k, m)| (*k, m.clone(), address_of(k)))
            .collect();
        v.sort_by(|a, b| b.1.power.cmp(&a.1.power).then(a.2.cmp(&b.2)));
        v.into_iter().map(|(k, m, _)| (k, m)).collect()
    }
}

fn address_of(pubkey: &[u8; 32]) -> [u8; 20] {
    use sha2::Digest;
    let d = sha2::Sha256::digest(pubkey);
    let mut a = [0u8; 20];
    a.copy_from_slice(&d[..20]);
    a
}

/// Why an update was refused. Each names the check that failed; [`VerifyError::check`] gives
/// a stable short name for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The update is for another consumer.
    #[error("update {update_id} is for consumer {found:?}, expected {expected:?}")]
    WrongConsumer {
        /// The update's id.
        update_id: u64,
        /// This consumer.
        expected: String,
        /// The update's consumer id.
        found: String,
    },
    /// The update does not follow the last applied one.
    #[error("expected update_id {expected} (the one after the last applied), found {found}")]
    OutOfOrder {
        /// Last applied + 1.
        expected: u64,
        /// The update's id.
        found: u64,
    },
    /// The update's hub height or epoch is below the last applied update's.
    #[error("update {update_id} goes back: {field} {found} is below the last update's {last}")]
    GoesBack {
        /// The update's id.
        update_id: u64,
        /// `hub_height` or `epoch`.
        field: &'static str,
        /// The last applied update's value.
        last: u64,
        /// The update's value.
        found: u64,
    },
    /// A change is malformed (bad key, keys out of order, removal of an absent key, power out
    /// of CometBFT's range).
    #[error("update {update_id} has a bad change: {message}")]
    BadChange {
        /// The update's id.
        update_id: u64,
        /// What is wrong.
        message: String,
    },
    /// The set after the changes does not hash to the update's `set_hash`.
    #[error("set hash mismatch for update {update_id}: the set after its changes hashes to {computed}, the update claims {claimed}")]
    SetHashMismatch {
        /// The update's id.
        update_id: u64,
        /// Hex of the locally computed CometBFT validator-set hash.
        computed: String,
        /// Hex of the update's `set_hash`.
        claimed: String,
    },
    /// The full set in a `GetValidatorSet` answer is malformed.
    #[error("the validator set the hub sent for height {height} is malformed: {message}")]
    BadSet {
        /// The answer's height.
        height: u64,
        /// What is wrong.
        message: String,
    },
    /// The hub answered `GetValidatorSet` for another height than asked.
    #[error("GetValidatorSet answered height {answered}, asked for hub height {asked}")]
    WrongHeight {
        /// The update's hub height.
        asked: u64,
        /// The answer's height.
        answered: u64,
    },
    /// The hub has no commitment for this consumer at the update's height.
    #[error("the hub has no set commitment for update {update_id} at hub height {hub_height}")]
    CommitmentMissing {
        /// The update's id.
        update_id: u64,
        /// Its hub height.
        hub_height: u64,
    },
    /// The commitment at the update's height is not this update's.
    #[error("the set commitment at hub height {hub_height} does not match update {update_id}: {field} is {found}, expected {expected}")]
    CommitmentMismatch {
        /// The update's id.
        update_id: u64,
        /// Its hub height.
        hub_height: u64,
        /// The commitment field that differs.
        field: &'static str,
        /// The update's value.
        expected: String,
        /// The commitment's value.
        found: String,
    },
    /// The hub sent no proof.
    #[error("the hub sent no proof of the set commitment of update {update_id} at hub height {hub_height}")]
    ProofMissing {
        /// The update's id.
        update_id: u64,
        /// Its hub height.
        hub_height: u64,
    },
    /// The proof bytes are not an ICS-23 CommitmentProof.
    #[error("the proof of update {update_id} is not an ICS-23 CommitmentProof: {message}")]
    ProofUndecodable {
        /// The update's id.
        update_id: u64,
        /// The decoder's error.
        message: String,
    },
    /// The proof does not prove the commitment against the app hash.
    #[error("the ICS-23 proof of {key} = the commitment of update {update_id} does not verify against app hash {app_hash} of hub height {hub_height} (from the light-client-verified header {header_height})")]
    ProofInvalid {
        /// The update's id.
        update_id: u64,
        /// The proven key.
        key: String,
        /// Its hub height.
        hub_height: u64,
        /// The header the app hash was taken from (`hub_height + 1`).
        header_height: u64,
        /// Hex of the app hash.
        app_hash: String,
    },
}

impl VerifyError {
    /// A stable short name of the failed check.
    pub fn check(&self) -> &'static str {
        match self {
            VerifyError::WrongConsumer { .. } => "wrong_consumer",
            VerifyError::OutOfOrder { .. } => "out_of_order",
            VerifyError::GoesBack { .. } => "goes_back",
            VerifyError::BadChange { .. } => "bad_change",
            VerifyError::SetHashMismatch { .. } => "set_hash_mismatch",
            VerifyError::BadSet { .. } => "bad_set",
            VerifyError::WrongHeight { .. } => "wrong_height",
            VerifyError::CommitmentMissing { .. } => "commitment_missing",
            VerifyError::CommitmentMismatch { .. } => "commitment_mismatch",
            VerifyError::ProofMissing { .. } => "proof_missing",
            VerifyError::ProofUndecodable { .. } => "proof_undecodable",
            VerifyError::ProofInvalid { .. } => "proof_invalid",
        }
    }
}

/// The CometBFT validator-set hash of `validators`, computed by the `tendermint` crate. Refuses
/// keys that are not ed25519 keys and powers beyond CometBFT's limits.
pub fn set_hash(validators: &BTreeMap<[u8; 32], Member>) -> Result<[u8; 32], String> {
    let mut total: u64 = 0;
    let mut infos = Vec::with_capacity(validators.len());
    for (key, m) in validators {
        let pk = tendermint::PublicKey::from_raw_ed25519(key)
            .ok_or_else(|| format!("{} is not an ed25519 public key", hex::encode(key)))?;
        let power = tendermint::vote::Power::try_from(m.power).map_err(|_| {
            format!(
                "power {} of {} is above CometBFT's maximum",
                m.power,
                hex::encode(key)
            )
        })?;
        total = total
            .checked_add(m.power)
            .filter(|t| *t <= Set::MAX_TOTAL_VOTING_POWER)
            .ok_or_else(|| {
                format!(
                    "the total power is above CometBFT's maximum of {}",
                    Set::MAX_TOTAL_VOTING_POWER
                )
            })?;
        infos.push(Info::new(pk, power));
    }
    // The total is checked above, so the set constructor cannot fail.
    match Set::without_proposer(infos).hash() {
        tendermint::Hash::Sha256(h) => Ok(h),
        tendermint::Hash::None => Err("the validator-set hash is empty".into()),
    }
}

/// Applies `update` to `set` and checks it (step 1 in the module docs). Returns the new set;
/// `set` is left as it was.
pub fn apply_update(
    set: &ConsumerSet,
    update: &pb::ValidatorSetUpdate,
) -> Result<ConsumerSet, VerifyError> {
    let id = update.update_id;
    if update.consumer_id != set.consumer_id {
        return Err(VerifyError::WrongConsumer {
            update_id: id,
            expected: set.consumer_id.clone(),
            found: update.consumer_id.clone(),
        });
    }
    let expected = set
        .update_id
        .checked_add(1)
        .ok_or(VerifyError::OutOfOrder {
            expected: u64::MAX,
            found: id,
        })?;
    if id != expected {
        return Err(VerifyError::OutOfOrder {
            expected,
            found: id,
        });
    }
    for (field, last, found) in [
        ("hub_height", set.hub_height, update.hub_height),
        ("epoch", set.epoch, update.epoch),
    ] {
        if found < last {
            return Err(VerifyError::GoesBack {
                update_id: id,
                field,
                last,
                found,
            });
        }
    }
    let bad = |message: String| VerifyError::BadChange {
        update_id: id,
        message,
    };
    let mut validators = set.validators.clone();
    let mut previous: Option<[u8; 32]> = None;
    for change in &update.changes {
        let key: [u8; 32] = change.pubkey.as_slice().try_into().map_err(|_| {
            bad(format!(
                "consumer key {} has {} bytes, expected 32",
                hex::encode(&change.pubkey),
                change.pubkey.len()
            ))
        })?;
        if previous.is_some_and(|p| p >= key) {
            return Err(bad(format!(
                "changes are not in strictly ascending key order at {}",
                hex::encode(key)
            )));
        }
        previous = Some(key);
        if change.power == 0 {
            if validators.remove(&key).is_none() {
                return Err(bad(format!(
                    "it removes {}, which is not in the set",
                    hex::encode(key)
                )));
            }
        } else {
            validators.insert(
                key,
                Member {
                    power: change.power,
                    // Not covered by the set hash: kept as reported, under an unverified name.
                    unverified_operator: change.operator_btc_pk.clone(),
                },
            );
        }
    }
    let computed = set_hash(&validators).map_err(bad)?;
    if update.set_hash.as_slice() != computed.as_slice() {
        return Err(VerifyError::SetHashMismatch {
            update_id: id,
            computed: hex::encode(computed),
            claimed: hex::encode(&update.set_hash),
        });
    }
    Ok(ConsumerSet {
        consumer_id: set.consumer_id.clone(),
        update_id: id,
        hub_height: update.hub_height,
        epoch: update.epoch,
        set_hash: computed,
        validators,
    })
}

/// The commitment the hub must have stored for `set` (what the proof must prove).
pub fn expected_commitment(set: &ConsumerSet) -> pb::SetCommitment {
    pb::SetCommitment {
        consumer_id: set.consumer_id.clone(),
        update_id: set.update_id,
        epoch: set.epoch,
        hub_height: set.hub_height,
        set_hash: set.set_hash.to_vec(),
    }
}

/// Checks the hub's `GetValidatorSet` answer at `next.hub_height` against the set that
/// [`apply_update`] produced, and its proof against `app_hash`, the app hash of that height
/// from the light-client-verified header of height `next.hub_height + 1` (step 2).
pub fn verify_commitment(
    next: &ConsumerSet,
    answer: &svc::GetValidatorSetResponse,
    app_hash: &[u8],
) -> Result<(), VerifyError> {
    verify_commitment_at(next, answer, next.hub_height, app_hash)
}

/// [`verify_commitment`] for an answer read at `proof_height` (at or above `next.hub_height`:
/// the commitment stays until the next update), against the app hash of `proof_height`.
pub fn verify_commitment_at(
    next: &ConsumerSet,
    answer: &svc::GetValidatorSetResponse,
    proof_height: u64,
    app_hash: &[u8],
) -> Result<(), VerifyError> {
    let id = next.update_id;
    let hub_height = proof_height;
    if answer.height != hub_height {
        return Err(VerifyError::WrongHeight {
            asked: hub_height,
            answered: answer.height,
        });
    }
    let found = answer
        .commitment
        .as_ref()
        .ok_or(VerifyError::CommitmentMissing {
            update_id: id,
            hub_height,
        })?;
    let expected = expected_commitment(next);
    let mismatch = |field: &'static str, expected: String, found: String| {
        Err(VerifyError::CommitmentMismatch {
            update_id: id,
            hub_height,
            field,
            expected,
            found,
        })
    };
    if found.consumer_id != expected.consumer_id {
        return mismatch(
            "consumer_id",
            expected.consumer_id.clone(),
            found.consumer_id.clone(),
        );
    }
    if found.update_id != expected.update_id {
        return mismatch(
            "update_id",
            expected.update_id.to_string(),
            found.update_id.to_string(),
        );
    }
    if found.set_hash != expected.set_hash {
        return mismatch(
            "set_hash",
            hex::encode(&expected.set_hash),
            hex::encode(&found.set_hash),
        );
    }
    if found.hub_height != expected.hub_height {
        return mismatch(
            "hub_height",
            expected.hub_height.to_string(),
            found.hub_height.to_string(),
        );
    }
    if found.epoch != expected.epoch {
        return mismatch("epoch", expected.epoch.to_string(), found.epoch.to_string());
    }
    if answer.proof.is_empty() {
        return Err(VerifyError::ProofMissing {
            update_id: id,
            hub_height,
        });
    }
    let proof = ics23::CommitmentProof::decode(answer.proof.as_slice()).map_err(|e| {
        VerifyError::ProofUndecodable {
            update_id: id,
            message: e.to_string(),
        }
    })?;
    let key = proof_key(&next.consumer_id);
    // The value proven is the encoding of the commitment built from the checked update, so the
    // proof binds exactly what was checked above.
    let value = expected.encode_to_vec();
    let ok = ics23::verify_membership::<ics23::HostFunctionsManager>(
        &proof,
        &jmt::ics23_spec(),
        &app_hash.to_vec(),
        &key,
        &value,
    );
    if !ok {
        return Err(VerifyError::ProofInvalid {
            update_id: id,
            key: String::from_utf8_lossy(&key).into_owned(),
            hub_height,
            header_height: hub_height.saturating_add(1),
            app_hash: hex::encode(app_hash),
        });
    }
    Ok(())
}

/// The full set in a `GetValidatorSet` answer, as the set after the update its commitment
/// names: every key 32 bytes and listed once, every power above 0, and the set hashing to the
/// commitment's set hash. Its proof is checked separately ([`verify_commitment_at`]).
pub fn set_from_answer(
    consumer_id: &str,
    answer: &svc::GetValidatorSetResponse,
) -> Result<ConsumerSet, VerifyError> {
    let height = answer.height;
    let c = answer
        .commitment
        .as_ref()
        .ok_or(VerifyError::CommitmentMissing {
            update_id: 0,
            hub_height: height,
        })?;
    let bad = |message: String| VerifyError::BadSet { height, message };
    let set = answer
        .set
        .as_ref()
        .ok_or_else(|| bad("the answer has no set".into()))?;
    if set.consumer_id != consumer_id || c.consumer_id != consumer_id {
        return Err(bad(format!(
            "the set is for consumer {:?} and the commitment for {:?}, expected {consumer_id:?}",
            set.consumer_id, c.consumer_id
        )));
    }
    if set.update_id != c.update_id {
        return Err(bad(format!(
            "the set is of update {}, the commitment of update {}",
            set.update_id, c.update_id
        )));
    }
    let mut validators = BTreeMap::new();
    for v in &set.validators {
        let key: [u8; 32] = v.pubkey.as_slice().try_into().map_err(|_| {
            bad(format!(
                "consumer key {} has {} bytes, expected 32",
                hex::encode(&v.pubkey),
                v.pubkey.len()
            ))
        })?;
        if v.power == 0 {
            return Err(bad(format!("{} has power 0", hex::encode(key))));
        }
        let m = Member {
            power: v.power,
            unverified_operator: v.operator_btc_pk.clone(),
        };
        if validators.insert(key, m).is_some() {
            return Err(bad(format!("{} is listed twice", hex::encode(key))));
        }
    }
    let computed = set_hash(&validators).map_err(bad)?;
    if c.set_hash.as_slice() != computed.as_slice() {
        return Err(VerifyError::SetHashMismatch {
            update_id: c.update_id,
            computed: hex::encode(computed),
            claimed: hex::encode(&c.set_hash),
        });
    }
    Ok(ConsumerSet {
        consumer_id: consumer_id.to_string(),
        update_id: c.update_id,
        hub_height: c.hub_height,
        epoch: c.epoch,
        set_hash: computed,
        validators,
    })
}

/// Both steps: the set after `update`, if the update and the hub's proof check out.
pub fn verify_update(
    set: &ConsumerSet,
    update: &pb::ValidatorSetUpdate,
    answer: &svc::GetValidatorSetResponse,
    app_hash: &[u8],
) -> Result<ConsumerSet, VerifyError> {
    let next = apply_update(set, update)?;
    verify_commitment(&next, answer, app_hash)?;
    Ok(next)
}

#[cfg(test)]
pub(crate) mod tests;
