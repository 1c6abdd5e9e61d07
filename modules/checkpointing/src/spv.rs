//! `/ballast.checkpointing.v1.MsgInsertBtcSpvProof`: a report that a checkpoint was written to
//! Bitcoin. Open to anyone.
//!
//! Decoding ([`MsgInsertBtcSpvProof::decode`]) checks the shape: exactly two proofs, each with
//! a transaction that decodes, a Merkle branch of whole 32-byte hashes (at most 32) and a
//! 32-byte block hash; each transaction has exactly one OP_RETURN output of at most 80 bytes
//! plus another output; and the second transaction spends an output of the first other than
//! its OP_RETURN (the submitter chains them so that part 1 can only confirm with or after part
//! 0). Execution ([`insert_spv_proof`]) then:
//!
//! 1. decodes the two parts under this chain's `checkpoint_tag` and pairs them by checksum;
//! 2. has the light client verify each inclusion: the block is known and on its best chain,
//!    and the Merkle branch leads to the block's root (forks are refused: a submission is only
//!    recorded while both blocks are on the best chain);
//! 3. requires the epoch's checkpoint to be SEALED or later (not FINALIZED) and identical to
//!    the Bitcoin data: epoch, block hash, bitmap and aggregate signature;
//! 4. records the submission if none is recorded, or replaces the recorded one if the new one
//!    is deeper (its later block is lower); the same transactions in the same blocks, or a
//!    submission that is not deeper, are refused, so the first valid submission wins;
//! 5. moves the checkpoint to SUBMITTED, and on to CONFIRMED and FINALIZED at once if the
//!    submission is already that deep (see [`crate::tracking`]).

use crate::checkpoint::{CheckpointStatus, RawCheckpoint, Submission, SubmissionTx};
use crate::encoding::{self, EncodingError};
use crate::store::{self, CheckpointingRead};
use crate::tracking::{settle, status_for_depth, StatusChange};
use crate::{events, params, CheckpointingError};
use ballast_btclightclient::{BtcLightClientRead, TxInclusionProof};
use ballast_framework::{Address, Event, MsgHandler, StateWrite, TxContext, TxError};
use ballast_proto::ballast::checkpointing::v1 as pb;
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Transaction, TxMerkleNode};
use prost::Message;

/// Longest Merkle branch accepted (a block would need more than 2^32 transactions).
pub const MAX_MERKLE_NODES: usize = ballast_btclightclient::merkle::MAX_MERKLE_BRANCH_LEN;

/// One statelessly checked proof: the transaction, where it claims to be, and its checkpoint
/// part (the OP_RETURN data, not yet decoded: that needs the tag param).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UncheckedSpvProof {
    /// The transaction.
    pub tx: Transaction,
    /// Its claimed place in a block.
    pub proof: TxInclusionProof,
    /// Index of its OP_RETURN output.
    pub op_return_index: usize,
    /// The OP_RETURN data.
    pub part: Vec<u8>,
}

impl UncheckedSpvProof {
    /// Parses one proto proof (`index` is its position in the message, for errors).
    pub fn from_proto(index: usize, p: &pb::BtcSpvProof) -> Result<Self, CheckpointingError> {
        let bad = |reason: String| CheckpointingError::MalformedProof { index, reason };
        let tx: Transaction = bitcoin::consensus::deserialize(&p.btc_transaction)
            .map_err(|e| bad(format!("btc_transaction does not decode: {e}")))?;
        if !p.merkle_nodes.len().is_multiple_of(32) {
            return Err(bad(format!(
                "merkle_nodes is {} bytes, expected a multiple of 32",
                p.merkle_nodes.len()
            )));
        }
        if p.merkle_nodes.len() / 32 > MAX_MERKLE_NODES {
            return Err(bad(format!(
                "merkle_nodes has {} hashes, at most {MAX_MERKLE_NODES} are possible",
                p.merkle_nodes.len() / 32
            )));
        }
        let branch = p
            .merkle_nodes
            .chunks_exact(32)
            .map(|c| {
                let mut a = [0u8; 32];
                a.copy_from_slice(c);
                TxMerkleNode::from_byte_array(a)
            })
            .collect();
        let block: [u8; 32] = p
            .confirming_btc_header_hash
            .as_slice()
            .try_into()
            .map_err(|_| {
                bad(format!(
                    "confirming_btc_header_hash is {} bytes, expected 32",
                    p.confirming_btc_header_hash.len()
                ))
            })?;
        let (op_return_index, part) = encoding::op_return_data(&tx)
            .map_err(|source| CheckpointingError::Encoding { index, source })?;
        Ok(UncheckedSpvProof {
            tx,
            proof: TxInclusionProof {
                block_hash: BlockHash::from_byte_array(block),
                index: p.btc_transaction_index,
                branch,
            },
            op_return_index,
            part,
        })
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::BtcSpvProof {
        pb::BtcSpvProof {
            btc_transaction: bitcoin::consensus::serialize(&self.tx),
            btc_transaction_index: self.proof.index,
            merkle_nodes: self
                .proof
                .branch
                .iter()
                .flat_map(|n| n.to_byte_array())
                .collect(),
            confirming_btc_header_hash: self.proof.block_hash.to_byte_array().to_vec(),
        }
    }
}

/// Checks that `second` spends an output of `first` other than its OP_RETURN.
pub fn check_chained(
    first: &UncheckedSpvProof,
    second: &UncheckedSpvProof,
) -> Result<(), CheckpointingError> {
    let first_txid = first.tx.compute_txid();
    let chained = second.tx.input.iter().any(|i| {
        let vout = i.previous_output.vout as usize;
        i.previous_output.txid == first_txid
            && vout < first.tx.output.len()
            && vout != first.op_return_index
    });
    if !chained {
        return Err(CheckpointingError::NotChained {
            part0_txid: first_txid.to_string(),
            part1_txid: second.tx.compute_txid().to_string(),
        });
    }
    Ok(())
}

/// A decoded, statelessly checked report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgInsertBtcSpvProof {
    /// The reporter (signer).
    pub reporter: Address,
    /// Part 0's proof, then part 1's.
    pub proofs: [UncheckedSpvProof; 2],
}

impl MsgInsertBtcSpvProof {
    /// The proto form.
    pub fn to_proto(&self) -> pb::MsgInsertBtcSpvProof {
        pb::MsgInsertBtcSpvProof {
            submitter: self.reporter.to_string(),
            proofs: self.proofs.iter().map(|p| p.to_proto()).collect(),
        }
    }

    /// From the proto form, with every stateless check.
    pub fn from_proto(m: &pb::MsgInsertBtcSpvProof) -> Result<Self, CheckpointingError> {
        let reporter = m
            .submitter
            .parse()
            .map_err(CheckpointingError::InvalidSigner)?;
        let [p0, p1] = m.proofs.as_slice() else {
            return Err(CheckpointingError::ProofCount(m.proofs.len()));
        };
        let first = UncheckedSpvProof::from_proto(0, p0)?;
        let second = UncheckedSpvProof::from_proto(1, p1)?;
        check_chained(&first, &second)?;
        Ok(MsgInsertBtcSpvProof {
            reporter,
            proofs: [first, second],
        })
    }
}

/// What a recorded submission changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmissionOutcome {
    /// The epoch.
    pub epoch: u64,
    /// The submission now recorded.
    pub submission: Submission,
    /// Whether it replaced a shallower one.
    pub replaced: bool,
    /// Status changes, in order.
    pub changes: Vec<StatusChange>,
}

fn encoding_part(e: &EncodingError) -> usize {
    match e {
        EncodingError::TooShort { part, .. }
        | EncodingError::Tag { part, .. }
        | EncodingError::Version { part, .. }
        | EncodingError::Length { part, .. } => usize::from(*part),
        EncodingError::PartIndex { expected, .. } => usize::from(*expected),
        _ => 1,
    }
}

fn compare(
    epoch: u64,
    field: &'static str,
    expected: &[u8],
    found: &[u8],
) -> Result<(), CheckpointingError> {
    if expected != found {
        return Err(CheckpointingError::CheckpointMismatch {
            epoch,
            field,
            expected: hex::encode(expected),
            found: hex::encode(found),
        });
    }
    Ok(())
}

/// Records a submission (see the module docs). On error nothing is written.
pub fn insert_spv_proof<S: StateWrite + ?Sized>(
    state: &mut S,
    msg: &MsgInsertBtcSpvProof,
    hub_height: u64,
) -> Result<SubmissionOutcome, CheckpointingError> {
    let params = params::load(state)?;
    let [first, second] = &msg.proofs;
    let (raw, submitter) =
        encoding::decode(&first.part, &second.part, params.tag()?).map_err(|source| {
            CheckpointingError::Encoding {
                index: encoding_part(&source),
                source,
            }
        })?;
    let inclusions = [
        state
            .btc_verify_tx_inclusion(&first.tx, &first.proof)
            .map_err(|e| CheckpointingError::btc_proof(0, e))?,
        state
            .btc_verify_tx_inclusion(&second.tx, &second.proof)
            .map_err(|e| CheckpointingError::btc_proof(1, e))?,
    ];
    let epoch = raw.epoch;
    let mut rec = state
        .checkpoint(epoch)?
        .ok_or(CheckpointingError::CheckpointNotFound {
            epoch,
            hint: "the epoch has not ended, or the part 0 epoch is wrong",
        })?;
    match rec.status {
        CheckpointStatus::Accumulating => {
            return Err(CheckpointingError::NotSealed {
                epoch,
                status: rec.status,
            })
        }
        CheckpointStatus::Finalized => return Err(CheckpointingError::AlreadyFinalized { epoch }),
        _ => {}
    }
    let sealed: RawCheckpoint = rec
        .raw
        .ok_or_else(|| crate::error::corrupt("sealed checkpoint without raw"))?;
    compare(epoch, "block hash", &sealed.block_hash.0, &raw.block_hash.0)?;
    compare(
        epoch,
        "bitmap",
        &sealed.bitmap.to_bytes(),
        &raw.bitmap.to_bytes(),
    )?;
    compare(
        epoch,
        "aggregate signature",
        &sealed.signature.to_bytes(),
        &raw.signature.to_bytes(),
    )?;

    let tx = |i: usize, p: &UncheckedSpvProof| SubmissionTx {
        txid: inclusions[i].txid,
        block_hash: inclusions[i].block_hash,
        block_height: inclusions[i].height,
        tx_index: p.proof.index,
    };
    let submission = Submission {
        submitter,
        reporter: msg.reporter,
        part0: tx(0, first),
        part1: tx(1, second),
        recorded_at_height: hub_height,
    };
    let replaced = match rec.submission {
        None => false,
        Some(old) => {
            if old.part0.txid == submission.part0.txid
                && old.part1.txid == submission.part1.txid
                && old.part0.block_hash == submission.part0.block_hash
                && old.part1.block_hash == submission.part1.block_hash
            {
                return Err(CheckpointingError::DuplicateSubmission { epoch });
            }
            if submission.later_height() >= old.later_height() {
                return Err(CheckpointingError::SubmissionNotBetter {
                    epoch,
                    recorded_height: old.later_height(),
                    found_height: submission.later_height(),
                });
            }
            true
        }
    };
    let tip_height = state.btc_tip()?.height;
    rec.submission = Some(submission);
    state.emit_event(events::submission_recorded(epoch, &submission, replaced));
    let mut changes = Vec::new();
    let target = status_for_depth(submission.depth(tip_height), &params);
    if target > rec.status {
        settle(
            state,
            &mut rec,
            target,
            hub_height,
            tip_height,
            &mut changes,
        )?;
    }
    store::put_checkpoint(state, &rec)?;
    Ok(SubmissionOutcome {
        epoch,
        submission,
        replaced,
        changes,
    })
}

impl MsgHandler for MsgInsertBtcSpvProof {
    const TYPE_URL: &'static str = "/ballast.checkpointing.v1.MsgInsertBtcSpvProof";

    /// Decodes and runs every stateless check (see the module docs).
    fn decode(value: &[u8]) -> Result<Self, TxError> {
        let m = pb::MsgInsertBtcSpvProof::decode(value)
            .map_err(|e| CheckpointingError::Decode(e.to_string()))?;
        Ok(MsgInsertBtcSpvProof::from_proto(&m)?)
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        // `decode` built the message through `from_proto`, which checks everything stateless.
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.reporter]
    }

    fn execute(&self, state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), TxError> {
        insert_spv_proof(state, self, ctx.block.height)?;
        state.emit_event(
            Event::new("message")
                .attr("action", Self::TYPE_URL)
                .attr("sender", self.reporter)
                .attr("module", crate::MODULE_NAME),
        );
        Ok(())
    }
}
