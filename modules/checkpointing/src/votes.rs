//! From vote extensions to a sealed checkpoint. These are the pure functions the app's
//! consensus hook calls:
//!
//! | ABCI call | height | function |
//! |---|---|---|
//! | ExtendVote | last block of epoch `e` | [`extend_vote`] |
//! | VerifyVoteExtension | last block of epoch `e` | [`verify_vote_extension`] |
//! | FinalizeBlock, end-epoch | last block of epoch `e` | [`begin_checkpoint`] (the module's `end_epoch` does it) |
//! | PrepareProposal | first block of epoch `e + 1` | [`aggregate`], injected as [`RawCheckpoint::to_bytes`] |
//! | ProcessProposal | first block of epoch `e + 1` | [`verify_raw_checkpoint`] |
//! | FinalizeBlock, injected tx | first block of epoch `e + 1` | [`apply_raw_checkpoint`] |
//!
//! A vote extension is exactly [`VOTE_EXTENSION_LEN`] bytes: `be_u64(epoch) || block_hash (32)
//! || BLS signature (48)`, the signature being over `be_u64(epoch) || block_hash` under
//! `BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_`.

use crate::bitmap::ValidatorBitmap;
use crate::bls::{checkpoint_message, BlsPublicKey, BlsSecretKey, BlsSignature, SIGNATURE_LEN};
use crate::checkpoint::{CheckpointRecord, CheckpointStatus, RawCheckpoint};
use crate::store::{self, CheckpointingRead};
use crate::validators::{load_snapshot_entry, ValidatorSnapshot};
use crate::CheckpointingError;
use ballast_btclightclient::BtcLightClientRead;
use ballast_framework::{BlockHash, ConsensusAddress, StateRead, StateWrite};
use std::collections::BTreeMap;

/// Size of a vote extension.
pub const VOTE_EXTENSION_LEN: usize = 8 + 32 + SIGNATURE_LEN;

/// A validator's signature of an epoch's last block, as carried in its vote extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoteExtension {
    /// The epoch.
    pub epoch: u64,
    /// The epoch's last block.
    pub block_hash: BlockHash,
    /// The validator's signature over `be_u64(epoch) || block_hash`.
    pub signature: BlsSignature,
}

impl VoteExtension {
    /// The wire form.
    pub fn to_bytes(&self) -> [u8; VOTE_EXTENSION_LEN] {
        let mut out = [0u8; VOTE_EXTENSION_LEN];
        out[..8].copy_from_slice(&self.epoch.to_be_bytes());
        out[8..40].copy_from_slice(&self.block_hash.0);
        out[40..].copy_from_slice(&self.signature.to_bytes());
        out
    }

    /// Decodes exactly [`VOTE_EXTENSION_LEN`] bytes; the signature must be a G1 subgroup point
    /// other than infinity.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointingError> {
        if bytes.len() != VOTE_EXTENSION_LEN {
            return Err(CheckpointingError::MalformedVoteExtension(format!(
                "expected {VOTE_EXTENSION_LEN} bytes (epoch, block hash, bls signature), found {}",
                bytes.len()
            )));
        }
        let mut epoch = [0u8; 8];
        epoch.copy_from_slice(&bytes[..8]);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&bytes[8..40]);
        let signature = BlsSignature::from_bytes(&bytes[40..])
            .map_err(|e| CheckpointingError::MalformedVoteExtension(e.to_string()))?;
        Ok(VoteExtension {
            epoch: u64::from_be_bytes(epoch),
            block_hash: BlockHash(hash),
            signature,
        })
    }
}

/// This validator's vote extension for the last block of `epoch`.
pub fn extend_vote(key: &BlsSecretKey, epoch: u64, block_hash: &BlockHash) -> Vec<u8> {
    VoteExtension {
        epoch,
        block_hash: *block_hash,
        signature: key.sign_checkpoint(epoch, &block_hash.0),
    }
    .to_bytes()
    .to_vec()
}

fn hex_addr(a: &ConsensusAddress) -> String {
    hex::encode(a.0)
}

fn snapshot<S: StateRead + ?Sized>(
    state: &S,
    epoch: u64,
) -> Result<ValidatorSnapshot, CheckpointingError> {
    state
        .validator_snapshot(epoch)?
        .ok_or(CheckpointingError::SnapshotNotFound { epoch })
}

/// The key a validator signs epoch `epoch` with, and its position and power.
fn signer<'a>(
    snap: &'a ValidatorSnapshot,
    validator: &ConsensusAddress,
) -> Result<(usize, u64, &'a BlsPublicKey), CheckpointingError> {
    let pos = snap
        .position(validator)
        .ok_or_else(|| CheckpointingError::UnknownValidator {
            epoch: snap.epoch,
            validator: hex_addr(validator),
        })?;
    let v = &snap.validators[pos];
    let key = v
        .bls_key
        .as_ref()
        .ok_or_else(|| CheckpointingError::NoBlsKey {
            epoch: snap.epoch,
            validator: hex_addr(validator),
        })?;
    Ok((pos, v.power, key))
}

/// Checks another validator's extension for the last block of `epoch`, whose hash is
/// `block_hash`. Rejects a missing or malformed extension, another epoch, another block, a
/// validator outside the epoch's snapshot or without a BLS key, and a signature that does not
/// verify.
pub fn verify_vote_extension<S: StateRead + ?Sized>(
    state: &S,
    validator: &ConsensusAddress,
    epoch: u64,
    block_hash: &BlockHash,
    extension: &[u8],
) -> Result<(), CheckpointingError> {
    if extension.is_empty() {
        return Err(CheckpointingError::MissingVoteExtension {
            epoch,
            validator: hex_addr(validator),
        });
    }
    let ext = VoteExtension::from_bytes(extension)?;
    if ext.epoch != epoch {
        return Err(CheckpointingError::VoteExtensionEpochMismatch {
            expected: epoch,
            found: ext.epoch,
        });
    }
    if ext.block_hash != *block_hash {
        return Err(CheckpointingError::VoteExtensionHashMismatch {
            expected: hex::encode(block_hash.0),
            found: hex::encode(ext.block_hash.0),
        });
    }
    let entry = load_snapshot_entry(state, epoch, validator)?
        .ok_or(CheckpointingError::SnapshotNotFound { epoch })?
        .ok_or_else(|| CheckpointingError::UnknownValidator {
            epoch,
            validator: hex_addr(validator),
        })?;
    let key = entry
        .1
        .bls_key
        .ok_or_else(|| CheckpointingError::NoBlsKey {
            epoch,
            validator: hex_addr(validator),
        })?;
    key.verify(&checkpoint_message(epoch, &block_hash.0), &ext.signature)
        .map_err(|source| CheckpointingError::InvalidSignature {
            epoch,
            validator: hex_addr(validator),
            source,
        })
}

/// One usable extension: its signer's position, power, key and signature.
struct Vote<'a> {
    pos: usize,
    power: u64,
    key: &'a BlsPublicKey,
    sig: BlsSignature,
}

fn sum_power(votes: &[Vote<'_>]) -> u64 {
    votes
        .iter()
        .fold(0u64, |acc, v| acc.saturating_add(v.power))
}

/// Builds epoch `epoch`'s raw checkpoint from the extensions of the last commit (the proposer
/// of the first block of epoch `epoch + 1` calls this).
///
/// Extensions that are empty, malformed, for another epoch, from a validator outside the
/// snapshot, without a key, or repeated are ignored (CometBFT has already checked them; the
/// proposer does not trust that). They are grouped by block hash, and the hash carrying the
/// most power wins (ties go to the lower hash). The group's signatures are aggregated and
/// checked in one go; if that fails, each is checked and the invalid ones dropped. The result
/// must carry more than 2/3 of the epoch's power and pass [`verify_raw_checkpoint`], so that
/// what the proposer injects is what ProcessProposal accepts.
pub fn aggregate<S: StateRead + ?Sized, B: AsRef<[u8]>>(
    state: &S,
    epoch: u64,
    extensions: &[(ConsensusAddress, B)],
) -> Result<RawCheckpoint, CheckpointingError> {
    let snap = snapshot(state, epoch)?;
    let mut groups: BTreeMap<[u8; 32], Vec<Vote<'_>>> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for (validator, bytes) in extensions {
        let Ok(ext) = VoteExtension::from_bytes(bytes.as_ref()) else {
            continue;
        };
        if ext.epoch != epoch {
            continue;
        }
        let Ok((pos, power, key)) = signer(&snap, validator) else {
            continue;
        };
        if !seen.insert(pos) {
            continue;
        }
        groups.entry(ext.block_hash.0).or_default().push(Vote {
            pos,
            power,
            key,
            sig: ext.signature,
        });
    }
    // The optimistic path: the heaviest group's aggregate verifies at once.
    let heaviest = |groups: &BTreeMap<[u8; 32], Vec<Vote<'_>>>| -> Option<[u8; 32]> {
        let mut best: Option<([u8; 32], u64)> = None;
        for (hash, votes) in groups {
            let p = sum_power(votes);
            if best.is_none_or(|(_, bp)| p > bp) {
                best = Some((*hash, p));
            }
        }
        best.map(|(h, _)| h)
    };
    let Some(mut hash) = heaviest(&groups) else {
        return Err(CheckpointingError::InsufficientPower {
            epoch,
            signed: 0,
            total: snap.total_power,
            needed: snap.quorum_power(),
        });
    };
    let msg = |h: &[u8; 32]| checkpoint_message(epoch, h);
    let group_ok = |h: &[u8; 32], votes: &[Vote<'_>]| -> bool {
        let sigs: Vec<&BlsSignature> = votes.iter().map(|v| &v.sig).collect();
        let keys: Vec<&BlsPublicKey> = votes.iter().map(|v| v.key).collect();
        BlsSignature::aggregate(&sigs)
            .and_then(|agg| agg.fast_aggregate_verify(&msg(h), &keys))
            .is_ok()
    };
    let optimistic = groups
        .get(&hash)
        .is_some_and(|votes| snap.exceeds_two_thirds(sum_power(votes)) && group_ok(&hash, votes));
    if !optimistic {
        // Check every signature on its own and keep the valid ones.
        for (h, votes) in groups.iter_mut() {
            let m = msg(h);
            votes.retain(|v| v.key.verify(&m, &v.sig).is_ok());
        }
        groups.retain(|_, votes| !votes.is_empty());
        hash = match heaviest(&groups) {
            Some(h) => h,
            None => {
                return Err(CheckpointingError::InsufficientPower {
                    epoch,
                    signed: 0,
                    total: snap.total_power,
                    needed: snap.quorum_power(),
                })
            }
        };
    }
    let votes = groups.get(&hash).map(Vec::as_slice).unwrap_or_default();
    let signed = sum_power(votes);
    if !snap.exceeds_two_thirds(signed) {
        return Err(CheckpointingError::InsufficientPower {
            epoch,
            signed,
            total: snap.total_power,
            needed: snap.quorum_power(),
        });
    }
    let mut bitmap = ValidatorBitmap::empty();
    for v in votes {
        bitmap.set(v.pos);
    }
    let sigs: Vec<&BlsSignature> = votes.iter().map(|v| &v.sig).collect();
    let signature =
        BlsSignature::aggregate(&sigs).map_err(|source| CheckpointingError::InvalidSignature {
            epoch,
            validator: "aggregate".into(),
            source,
        })?;
    let raw = RawCheckpoint {
        epoch,
        block_hash: BlockHash(hash),
        bitmap,
        signature,
    };
    verify_raw_checkpoint(state, &raw)?;
    Ok(raw)
}

/// A raw checkpoint that passed [`verify_raw_checkpoint`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    raw: RawCheckpoint,
    signed_power: u64,
    total_power: u64,
}

impl VerifiedCheckpoint {
    /// The checkpoint.
    pub fn raw(&self) -> &RawCheckpoint {
        &self.raw
    }

    /// Power of its signers.
    pub fn signed_power(&self) -> u64 {
        self.signed_power
    }

    /// The epoch's total power.
    pub fn total_power(&self) -> u64 {
        self.total_power
    }
}

/// Checks a proposed raw checkpoint against state: the epoch has ended and is still
/// ACCUMULATING, the checkpoint signs the epoch's last block, the bitmap only names validators
/// of the epoch's snapshot that have BLS keys, they carry more than 2/3 of the power, and the
/// aggregate signature verifies against their keys (`fast_aggregate_verify`).
pub fn verify_raw_checkpoint<S: StateRead + ?Sized>(
    state: &S,
    raw: &RawCheckpoint,
) -> Result<VerifiedCheckpoint, CheckpointingError> {
    let epoch = raw.epoch;
    let rec = state
        .checkpoint(epoch)?
        .ok_or(CheckpointingError::CheckpointNotFound {
            epoch,
            hint: "the epoch has not ended yet",
        })?;
    if rec.status != CheckpointStatus::Accumulating {
        return Err(CheckpointingError::AlreadySealed {
            epoch,
            status: rec.status,
        });
    }
    if rec.block_hash != raw.block_hash {
        return Err(CheckpointingError::BlockHashMismatch {
            epoch,
            expected: hex::encode(rec.block_hash.0),
            found: hex::encode(raw.block_hash.0),
        });
    }
    let snap = snapshot(state, epoch)?;
    if let Some(highest) = raw.bitmap.highest() {
        if highest >= snap.validators.len() {
            return Err(CheckpointingError::BitmapOutOfRange {
                epoch,
                position: highest,
                validators: snap.validators.len(),
            });
        }
    }
    let mut keys = Vec::with_capacity(raw.bitmap.count());
    let mut signed: u64 = 0;
    for pos in raw.bitmap.positions() {
        let v = &snap.validators[pos];
        let key = v
            .bls_key
            .as_ref()
            .ok_or_else(|| CheckpointingError::NoBlsKey {
                epoch,
                validator: hex_addr(&v.address),
            })?;
        keys.push(key);
        signed = signed.saturating_add(v.power);
    }
    if !snap.exceeds_two_thirds(signed) {
        return Err(CheckpointingError::InsufficientPower {
            epoch,
            signed,
            total: snap.total_power,
            needed: snap.quorum_power(),
        });
    }
    raw.signature
        .fast_aggregate_verify(&checkpoint_message(epoch, &raw.block_hash.0), &keys)
        .map_err(|_| CheckpointingError::InvalidAggregateSignature {
            epoch,
            signers: keys.len(),
        })?;
    Ok(VerifiedCheckpoint {
        raw: *raw,
        signed_power: signed,
        total_power: snap.total_power,
    })
}

/// Opens epoch `epoch`'s checkpoint as ACCUMULATING when the epoch's last block (`block_hash`,
/// at `hub_height`) executes. The module's `end_epoch` calls this.
pub fn begin_checkpoint<S: StateWrite + ?Sized>(
    state: &mut S,
    epoch: u64,
    block_hash: &BlockHash,
    hub_height: u64,
) -> Result<CheckpointRecord, CheckpointingError> {
    if state.checkpoint(epoch)?.is_some() {
        return Err(CheckpointingError::CheckpointExists { epoch });
    }
    let btc_height = state.btc_tip()?.height;
    let mut rec = CheckpointRecord {
        epoch,
        block_hash: *block_hash,
        status: CheckpointStatus::Accumulating,
        raw: None,
        lifecycle: Vec::new(),
        submission: None,
        signed_power: 0,
        total_power: 0,
    };
    store::create(state, &mut rec, hub_height, btc_height)?;
    Ok(rec)
}

/// Verifies (again: FinalizeBlock does not trust ProcessProposal) and seals a raw checkpoint
/// carried by the injected tx at `hub_height`: status SEALED, the raw checkpoint and the
/// signed power are stored, and the lifecycle entry and event are added. On error nothing is
/// written.
pub fn apply_raw_checkpoint<S: StateWrite + ?Sized>(
    state: &mut S,
    hub_height: u64,
    raw: &RawCheckpoint,
) -> Result<CheckpointRecord, CheckpointingError> {
    let verified = verify_raw_checkpoint(&*state, raw)?;
    let btc_height = state.btc_tip()?.height;
    let mut rec = state
        .checkpoint(raw.epoch)?
        .ok_or_else(|| crate::error::corrupt("verified checkpoint vanished"))?;
    rec.raw = Some(verified.raw);
    rec.signed_power = verified.signed_power;
    rec.total_power = verified.total_power;
    store::transition(
        state,
        &mut rec,
        CheckpointStatus::Sealed,
        hub_height,
        btc_height,
    )?;
    store::put_checkpoint(state, &rec)?;
    Ok(rec)
}
