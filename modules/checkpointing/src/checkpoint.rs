//! Checkpoint domain types: the raw checkpoint, its status and lifecycle, and its Bitcoin
//! submission. Proto types only parse the wire; these are built once through `TryFrom` and
//! then trusted.

use crate::bitmap::{ValidatorBitmap, BITMAP_LEN};
use crate::bls::{BlsSignature, SIGNATURE_LEN};
use crate::error::corrupt;
use crate::CheckpointingError;
use ballast_framework::{Address, BlockHash};
use ballast_proto::ballast::checkpointing::v1 as pb;
use bitcoin::hashes::Hash;
use bitcoin::Txid;

/// Size of [`RawCheckpoint::to_bytes`]: epoch 8, block hash 32, bitmap 13, signature 48.
pub const RAW_CHECKPOINT_LEN: usize = 8 + 32 + BITMAP_LEN + SIGNATURE_LEN;

/// What the validators of an epoch signed, with their aggregate signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawCheckpoint {
    /// The epoch.
    pub epoch: u64,
    /// CometBFT hash of the epoch's last block.
    pub block_hash: BlockHash,
    /// Which validators of the epoch's snapshot signed.
    pub bitmap: ValidatorBitmap,
    /// Their aggregate signature over `be_u64(epoch) || block_hash`.
    pub signature: BlsSignature,
}

impl RawCheckpoint {
    /// The fixed-size form carried by the injected tx: `be_u64(epoch) || block_hash (32) ||
    /// bitmap (13) || aggregate signature (48)`.
    pub fn to_bytes(&self) -> [u8; RAW_CHECKPOINT_LEN] {
        let mut out = [0u8; RAW_CHECKPOINT_LEN];
        out[..8].copy_from_slice(&self.epoch.to_be_bytes());
        out[8..40].copy_from_slice(&self.block_hash.0);
        out[40..53].copy_from_slice(&self.bitmap.to_bytes());
        out[53..].copy_from_slice(&self.signature.to_bytes());
        out
    }

    /// Decodes exactly [`RAW_CHECKPOINT_LEN`] bytes; the signature must be a G1 subgroup point.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointingError> {
        if bytes.len() != RAW_CHECKPOINT_LEN {
            return Err(CheckpointingError::MalformedCheckpoint(format!(
                "raw checkpoint must be {RAW_CHECKPOINT_LEN} bytes, found {}",
                bytes.len()
            )));
        }
        let mut epoch = [0u8; 8];
        epoch.copy_from_slice(&bytes[..8]);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&bytes[8..40]);
        let mut bitmap = [0u8; BITMAP_LEN];
        bitmap.copy_from_slice(&bytes[40..53]);
        let signature = BlsSignature::aggregate_from_bytes(&bytes[53..])
            .map_err(|e| CheckpointingError::MalformedCheckpoint(e.to_string()))?;
        Ok(RawCheckpoint {
            epoch: u64::from_be_bytes(epoch),
            block_hash: BlockHash(hash),
            bitmap: ValidatorBitmap::from_bytes(bitmap),
            signature,
        })
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::RawCheckpoint {
        pb::RawCheckpoint {
            epoch: self.epoch,
            block_hash: self.block_hash.0.to_vec(),
            bitmap: self.bitmap.to_bytes().to_vec(),
            bls_aggregate_sig: self.signature.to_bytes().to_vec(),
        }
    }
}

fn exact<const N: usize>(field: &str, bytes: &[u8]) -> Result<[u8; N], CheckpointingError> {
    bytes.try_into().map_err(|_| {
        CheckpointingError::MalformedCheckpoint(format!(
            "{field} must be {N} bytes, found {}",
            bytes.len()
        ))
    })
}

impl TryFrom<&pb::RawCheckpoint> for RawCheckpoint {
    type Error = CheckpointingError;
    fn try_from(p: &pb::RawCheckpoint) -> Result<Self, Self::Error> {
        let block_hash = BlockHash(exact::<32>("block_hash", &p.block_hash)?);
        let bitmap = ValidatorBitmap::from_bytes(exact::<BITMAP_LEN>("bitmap", &p.bitmap)?);
        let signature = BlsSignature::aggregate_from_bytes(&p.bls_aggregate_sig)
            .map_err(|e| CheckpointingError::MalformedCheckpoint(e.to_string()))?;
        Ok(RawCheckpoint {
            epoch: p.epoch,
            block_hash,
            bitmap,
            signature,
        })
    }
}

/// Where a checkpoint is in its life. The order of the variants is the order of the statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckpointStatus {
    /// The epoch has ended; signatures are being collected.
    Accumulating,
    /// More than 2/3 of the epoch's power signed.
    Sealed,
    /// Both Bitcoin transactions are on the light client's best chain.
    Submitted,
    /// The later of the two is at least `btc_confirmation_depth` deep.
    Confirmed,
    /// The later of the two is at least `btc_finalization_timeout` deep; never moves back.
    Finalized,
}

impl CheckpointStatus {
    /// Every status, in order.
    pub const ALL: [CheckpointStatus; 5] = [
        CheckpointStatus::Accumulating,
        CheckpointStatus::Sealed,
        CheckpointStatus::Submitted,
        CheckpointStatus::Confirmed,
        CheckpointStatus::Finalized,
    ];

    /// The proto enum.
    pub fn to_proto(self) -> pb::CheckpointStatus {
        match self {
            CheckpointStatus::Accumulating => pb::CheckpointStatus::Accumulating,
            CheckpointStatus::Sealed => pb::CheckpointStatus::Sealed,
            CheckpointStatus::Submitted => pb::CheckpointStatus::Submitted,
            CheckpointStatus::Confirmed => pb::CheckpointStatus::Confirmed,
            CheckpointStatus::Finalized => pb::CheckpointStatus::Finalized,
        }
    }

    /// From the proto enum's number (`None` for UNSPECIFIED and unknown numbers).
    pub fn from_proto(n: i32) -> Option<Self> {
        match pb::CheckpointStatus::try_from(n).ok()? {
            pb::CheckpointStatus::Unspecified => None,
            pb::CheckpointStatus::Accumulating => Some(CheckpointStatus::Accumulating),
            pb::CheckpointStatus::Sealed => Some(CheckpointStatus::Sealed),
            pb::CheckpointStatus::Submitted => Some(CheckpointStatus::Submitted),
            pb::CheckpointStatus::Confirmed => Some(CheckpointStatus::Confirmed),
            pb::CheckpointStatus::Finalized => Some(CheckpointStatus::Finalized),
        }
    }

    /// The proto name, such as `CHECKPOINT_STATUS_SEALED` (used in events).
    pub fn as_str(self) -> &'static str {
        self.to_proto().as_str_name()
    }

    /// A short lower-case name, such as `sealed` (used in state keys).
    pub fn key_name(self) -> &'static str {
        match self {
            CheckpointStatus::Accumulating => "accumulating",
            CheckpointStatus::Sealed => "sealed",
            CheckpointStatus::Submitted => "submitted",
            CheckpointStatus::Confirmed => "confirmed",
            CheckpointStatus::Finalized => "finalized",
        }
    }

    /// The next status forward, if any.
    pub fn next(self) -> Option<Self> {
        match self {
            CheckpointStatus::Accumulating => Some(CheckpointStatus::Sealed),
            CheckpointStatus::Sealed => Some(CheckpointStatus::Submitted),
            CheckpointStatus::Submitted => Some(CheckpointStatus::Confirmed),
            CheckpointStatus::Confirmed => Some(CheckpointStatus::Finalized),
            CheckpointStatus::Finalized => None,
        }
    }
}

impl std::fmt::Display for CheckpointStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One status change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LifecycleEntry {
    /// The status entered.
    pub status: CheckpointStatus,
    /// Hub height of the change.
    pub hub_height: u64,
    /// The light client's tip height at the change.
    pub btc_height: u64,
}

/// One Bitcoin transaction of a submission and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubmissionTx {
    /// The transaction.
    pub txid: Txid,
    /// Its block.
    pub block_hash: bitcoin::BlockHash,
    /// The block's height.
    pub block_height: u64,
    /// Position in the block.
    pub tx_index: u32,
}

/// A recorded Bitcoin submission of a checkpoint. While it is stored, both blocks are on the
/// light client's best chain (a reorg that removes one prunes the submission).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Submission {
    /// The account named in part 0.
    pub submitter: Address,
    /// The account that reported the proofs.
    pub reporter: Address,
    /// Part 0's transaction.
    pub part0: SubmissionTx,
    /// Part 1's transaction.
    pub part1: SubmissionTx,
    /// Hub height of the report.
    pub recorded_at_height: u64,
}

impl Submission {
    /// Height of the later (higher) of the two blocks: the submission is as deep as this block.
    pub fn later_height(&self) -> u64 {
        self.part0.block_height.max(self.part1.block_height)
    }

    /// Depth of the submission given the tip height: the depth of its later block.
    pub fn depth(&self, tip_height: u64) -> u64 {
        tip_height.saturating_sub(self.later_height())
    }
}

/// A checkpoint as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointRecord {
    /// The epoch.
    pub epoch: u64,
    /// Hash of the epoch's last block, recorded when the epoch ended.
    pub block_hash: BlockHash,
    /// Current status.
    pub status: CheckpointStatus,
    /// The sealed checkpoint (from SEALED on).
    pub raw: Option<RawCheckpoint>,
    /// Every status change, oldest first.
    pub lifecycle: Vec<LifecycleEntry>,
    /// The recorded submission (from SUBMITTED on).
    pub submission: Option<Submission>,
    /// Power that signed (from SEALED on).
    pub signed_power: u64,
    /// The epoch's total power (from SEALED on).
    pub total_power: u64,
}

fn txid_proto(t: &SubmissionTx) -> pb::SubmissionTx {
    pb::SubmissionTx {
        txid: t.txid.to_byte_array().to_vec(),
        block_hash: t.block_hash.to_byte_array().to_vec(),
        block_height: t.block_height,
        tx_index: t.tx_index,
    }
}

fn txid_from_proto(p: Option<&pb::SubmissionTx>) -> Result<SubmissionTx, CheckpointingError> {
    let p = p.ok_or_else(|| corrupt("stored submission lacks a transaction"))?;
    let txid: [u8; 32] = p
        .txid
        .as_slice()
        .try_into()
        .map_err(|_| corrupt("stored submission txid is not 32 bytes"))?;
    let block: [u8; 32] = p
        .block_hash
        .as_slice()
        .try_into()
        .map_err(|_| corrupt("stored submission block hash is not 32 bytes"))?;
    Ok(SubmissionTx {
        txid: Txid::from_byte_array(txid),
        block_hash: bitcoin::BlockHash::from_byte_array(block),
        block_height: p.block_height,
        tx_index: p.tx_index,
    })
}

impl Submission {
    /// The stored form.
    pub fn to_proto(&self) -> pb::Submission {
        pb::Submission {
            submitter: self.submitter.0.to_vec(),
            reporter: self.reporter.0.to_vec(),
            part0: Some(txid_proto(&self.part0)),
            part1: Some(txid_proto(&self.part1)),
            recorded_at_height: self.recorded_at_height,
        }
    }

    fn from_proto(p: &pb::Submission) -> Result<Self, CheckpointingError> {
        let addr = |b: &[u8]| {
            Address::from_slice(b).map_err(|e| corrupt(format!("stored submission address: {e}")))
        };
        Ok(Submission {
            submitter: addr(&p.submitter)?,
            reporter: addr(&p.reporter)?,
            part0: txid_from_proto(p.part0.as_ref())?,
            part1: txid_from_proto(p.part1.as_ref())?,
            recorded_at_height: p.recorded_at_height,
        })
    }
}

impl CheckpointRecord {
    /// The stored (and queried) form.
    pub fn to_proto(&self) -> pb::CheckpointRecord {
        pb::CheckpointRecord {
            epoch: self.epoch,
            block_hash: self.block_hash.0.to_vec(),
            status: self.status.to_proto() as i32,
            raw: self.raw.map(|r| r.to_proto()),
            lifecycle: self
                .lifecycle
                .iter()
                .map(|l| pb::LifecycleEntry {
                    status: l.status.to_proto() as i32,
                    hub_height: l.hub_height,
                    btc_height: l.btc_height,
                })
                .collect(),
            submission: self.submission.map(|s| s.to_proto()),
            signed_power: self.signed_power,
            total_power: self.total_power,
        }
    }

    /// Reads a stored record back; any inconsistency is state corruption.
    pub fn from_proto(p: &pb::CheckpointRecord) -> Result<Self, CheckpointingError> {
        let status = CheckpointStatus::from_proto(p.status)
            .ok_or_else(|| corrupt(format!("stored checkpoint has status {}", p.status)))?;
        let block_hash = BlockHash(
            p.block_hash
                .as_slice()
                .try_into()
                .map_err(|_| corrupt("stored checkpoint block hash is not 32 bytes"))?,
        );
        let raw = match &p.raw {
            None => None,
            Some(r) => Some(
                RawCheckpoint::try_from(r)
                    .map_err(|e| corrupt(format!("stored raw checkpoint: {e}")))?,
            ),
        };
        let mut lifecycle = Vec::with_capacity(p.lifecycle.len());
        for l in &p.lifecycle {
            lifecycle.push(LifecycleEntry {
                status: CheckpointStatus::from_proto(l.status)
                    .ok_or_else(|| corrupt(format!("stored lifecycle status {}", l.status)))?,
                hub_height: l.hub_height,
                btc_height: l.btc_height,
            });
        }
        let submission = match &p.submission {
            None => None,
            Some(s) => Some(Submission::from_proto(s)?),
        };
        if (status >= CheckpointStatus::Sealed) != raw.is_some()
            || (status >= CheckpointStatus::Submitted) != submission.is_some()
        {
            return Err(corrupt(format!(
                "stored checkpoint of epoch {} in status {status} has raw={} submission={}",
                p.epoch,
                raw.is_some(),
                submission.is_some()
            )));
        }
        Ok(CheckpointRecord {
            epoch: p.epoch,
            block_hash,
            status,
            raw,
            lifecycle,
            submission,
            signed_power: p.signed_power,
            total_power: p.total_power,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bls::BlsSecretKey;

    pub(crate) fn sample_raw() -> RawCheckpoint {
        let sk = BlsSecretKey::from_ikm(&[5; 32]).unwrap();
        let mut bitmap = ValidatorBitmap::empty();
        bitmap.set(0);
        bitmap.set(3);
        RawCheckpoint {
            epoch: 0x0102_0304_0506_0708,
            block_hash: BlockHash([0xab; 32]),
            bitmap,
            signature: sk.sign_checkpoint(1, &[0xab; 32]),
        }
    }

    #[test]
    fn raw_checkpoint_bytes_have_the_documented_layout_and_decode_strictly() {
        let raw = sample_raw();
        let b = raw.to_bytes();
        assert_eq!(b.len(), 101);
        assert_eq!(&b[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&b[8..40], &[0xab; 32]);
        assert_eq!(&b[40..53], &raw.bitmap.to_bytes());
        assert_eq!(&b[53..], &raw.signature.to_bytes());
        assert_eq!(RawCheckpoint::from_bytes(&b).unwrap(), raw);
        assert!(RawCheckpoint::from_bytes(&b[..100]).is_err());
        let mut long = b.to_vec();
        long.push(0);
        assert!(RawCheckpoint::from_bytes(&long).is_err());
        let mut bad_sig = b;
        bad_sig[53] = 0x80;
        bad_sig[54..].fill(0);
        assert!(RawCheckpoint::from_bytes(&bad_sig).is_err());
        // The proto form checks every length.
        let p = raw.to_proto();
        assert_eq!(RawCheckpoint::try_from(&p).unwrap(), raw);
        for f in [
            |p: &mut pb::RawCheckpoint| p.block_hash.pop(),
            |p: &mut pb::RawCheckpoint| p.bitmap.pop(),
            |p: &mut pb::RawCheckpoint| p.bls_aggregate_sig.pop(),
        ] {
            let mut bad = p.clone();
            f(&mut bad);
            assert!(matches!(
                RawCheckpoint::try_from(&bad),
                Err(CheckpointingError::MalformedCheckpoint(_))
            ));
        }
    }

    #[test]
    fn statuses_are_ordered_and_named_like_the_proto() {
        let mut s = CheckpointStatus::Accumulating;
        let mut seen = vec![s];
        while let Some(n) = s.next() {
            assert!(n > s);
            seen.push(n);
            s = n;
        }
        assert_eq!(seen, CheckpointStatus::ALL);
        for s in CheckpointStatus::ALL {
            assert_eq!(CheckpointStatus::from_proto(s.to_proto() as i32), Some(s));
        }
        assert_eq!(CheckpointStatus::from_proto(0), None);
        assert_eq!(CheckpointStatus::from_proto(9), None);
        assert_eq!(
            CheckpointStatus::Sealed.as_str(),
            "CHECKPOINT_STATUS_SEALED"
        );
    }

    #[test]
    fn a_stored_record_round_trips_and_inconsistent_ones_are_corrupt() {
        let raw = sample_raw();
        let tx = SubmissionTx {
            txid: Txid::all_zeros(),
            block_hash: bitcoin::BlockHash::all_zeros(),
            block_height: 7,
            tx_index: 1,
        };
        let rec = CheckpointRecord {
            epoch: 3,
            block_hash: raw.block_hash,
            status: CheckpointStatus::Submitted,
            raw: Some(raw),
            lifecycle: vec![LifecycleEntry {
                status: CheckpointStatus::Accumulating,
                hub_height: 30,
                btc_height: 2,
            }],
            submission: Some(Submission {
                submitter: Address([1; 20]),
                reporter: Address([2; 20]),
                part0: tx,
                part1: SubmissionTx {
                    block_height: 9,
                    ..tx
                },
                recorded_at_height: 33,
            }),
            signed_power: 3,
            total_power: 4,
        };
        assert_eq!(CheckpointRecord::from_proto(&rec.to_proto()).unwrap(), rec);
        assert_eq!(rec.submission.unwrap().later_height(), 9);
        assert_eq!(rec.submission.unwrap().depth(15), 6);
        let mut no_sub = rec.to_proto();
        no_sub.submission = None;
        assert!(CheckpointRecord::from_proto(&no_sub).is_err());
        let mut no_raw = rec.to_proto();
        no_raw.raw = None;
        assert!(CheckpointRecord::from_proto(&no_raw).is_err());
    }
}
