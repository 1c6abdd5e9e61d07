//! How a checkpoint is written to Bitcoin: two parts, each the data of one OP_RETURN output.
//!
//! Every part starts with a 5-byte header: the `checkpoint_tag` param (4 bytes, default ASCII
//! `bal0`) and one byte `(part_index << 4) | format_version`, with `format_version` 0.
//!
//! | part | bytes | layout |
//! |---|---|---|
//! | 0 | 78 | header ‖ epoch (u64 big-endian) ‖ block hash (32) ‖ bitmap (13) ‖ submitter account address (20) |
//! | 1 | 63 | header ‖ BLS aggregate signature (48) ‖ first 10 bytes of SHA-256 over part 0's 73 bytes after its header |
//!
//! The checksum pairs the parts: a part 1 only completes the part 0 whose body it hashes.
//! Each part travels in its own transaction, which has exactly one OP_RETURN output (at most 80
//! data bytes, one minimal push) and at least one other output, because Bitcoin Knots rejects
//! transactions whose only outputs are OP_RETURN. The submitter makes the second transaction
//! spend the first one's change output, so that it can only confirm with or after the first.

use crate::bitmap::{ValidatorBitmap, BITMAP_LEN};
use crate::bls::{BlsError, BlsSignature, SIGNATURE_LEN};
use crate::checkpoint::RawCheckpoint;
use ballast_framework::{Address, BlockHash};
use bitcoin::script::Instruction;
use bitcoin::Transaction;
use sha2::{Digest, Sha256};
use std::fmt;

/// Bytes of a part's header.
pub const HEADER_LEN: usize = 5;
/// Bytes of part 0.
pub const PART0_LEN: usize = HEADER_LEN + 8 + 32 + BITMAP_LEN + 20;
/// Bytes of part 1.
pub const PART1_LEN: usize = HEADER_LEN + SIGNATURE_LEN + CHECKSUM_LEN;
/// Bytes of the checksum that pairs part 1 with part 0.
pub const CHECKSUM_LEN: usize = 10;
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u8 = 0;
/// Most data bytes in an OP_RETURN output that Bitcoin Knots relays.
pub const MAX_OP_RETURN_DATA: usize = 80;

/// The 4-byte tag that starts every part (a module param).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckpointTag(pub [u8; 4]);

impl CheckpointTag {
    /// The default, ASCII `bal0`.
    pub const DEFAULT: CheckpointTag = CheckpointTag(*b"bal0");
}

impl fmt::Display for CheckpointTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.iter().all(|b| b.is_ascii_graphic()) {
            write!(f, "{:?}", String::from_utf8_lossy(&self.0))
        } else {
            write!(f, "0x{}", hex::encode(self.0))
        }
    }
}

impl fmt::Debug for CheckpointTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckpointTag({self})")
    }
}

/// Why checkpoint data from Bitcoin was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodingError {
    /// Shorter than a header.
    #[error("part {part} is {found} bytes, shorter than the {HEADER_LEN}-byte header")]
    TooShort {
        /// The part expected in this position.
        part: u8,
        /// Its length.
        found: usize,
    },
    /// The tag is not this chain's.
    #[error(
        "part {part} starts with tag {found}, expected this chain's checkpoint_tag {expected}"
    )]
    Tag {
        /// The part expected in this position.
        part: u8,
        /// This chain's tag.
        expected: CheckpointTag,
        /// The tag found.
        found: CheckpointTag,
    },
    /// An unknown format version.
    #[error("part {part} has format version {found}, expected {FORMAT_VERSION}")]
    Version {
        /// The part expected in this position.
        part: u8,
        /// The version found.
        found: u8,
    },
    /// The header names another part (parts swapped, or one part given twice).
    #[error("expected part {expected} here, found part {found}; give part 0 first, then part 1")]
    PartIndex {
        /// The part expected in this position.
        expected: u8,
        /// The part index in the header.
        found: u8,
    },
    /// The part has the wrong length.
    #[error("part {part} is {found} bytes, expected {expected}")]
    Length {
        /// The part.
        part: u8,
        /// Its required length.
        expected: usize,
        /// Its length.
        found: usize,
    },
    /// Part 1's checksum is not part 0's: the parts belong to different checkpoints.
    #[error("part 1 checksum {found} does not match part 0, whose checksum is {expected}: the parts come from different submissions")]
    Checksum {
        /// SHA-256 of part 0's body, first 10 bytes, hex.
        expected: String,
        /// The checksum in part 1, hex.
        found: String,
    },
    /// The signature bytes are not a G1 subgroup point.
    #[error("part 1 aggregate signature: {0}")]
    Signature(#[source] BlsError),
    /// The transaction has no OP_RETURN output.
    #[error("transaction has no OP_RETURN output, expected exactly one")]
    NoOpReturn,
    /// The transaction has several OP_RETURN outputs.
    #[error("transaction has {0} OP_RETURN outputs, expected exactly one")]
    SeveralOpReturns(usize),
    /// The OP_RETURN is the only output.
    #[error("transaction has only its OP_RETURN output, expected at least one other output")]
    NoOtherOutput,
    /// The OP_RETURN output is not `OP_RETURN <one minimal push>`.
    #[error("OP_RETURN output must be OP_RETURN followed by one minimal data push: {0}")]
    OpReturnScript(String),
    /// The OP_RETURN carries more than 80 bytes.
    #[error("OP_RETURN carries {0} bytes, at most {MAX_OP_RETURN_DATA} are allowed")]
    OpReturnTooLong(usize),
}

fn header(tag: CheckpointTag, part: u8) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&tag.0);
    h[4] = (part << 4) | FORMAT_VERSION;
    h
}

fn checksum(part0_body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let digest = Sha256::digest(part0_body);
    let mut out = [0u8; CHECKSUM_LEN];
    out.copy_from_slice(&digest[..CHECKSUM_LEN]);
    out
}

/// Writes a checkpoint and its submitter as the two parts.
pub fn encode(
    raw: &RawCheckpoint,
    submitter: &Address,
    tag: CheckpointTag,
) -> ([u8; PART0_LEN], [u8; PART1_LEN]) {
    let mut p0 = [0u8; PART0_LEN];
    p0[..HEADER_LEN].copy_from_slice(&header(tag, 0));
    p0[5..13].copy_from_slice(&raw.epoch.to_be_bytes());
    p0[13..45].copy_from_slice(&raw.block_hash.0);
    p0[45..58].copy_from_slice(&raw.bitmap.to_bytes());
    p0[58..78].copy_from_slice(&submitter.0);
    let mut p1 = [0u8; PART1_LEN];
    p1[..HEADER_LEN].copy_from_slice(&header(tag, 1));
    p1[5..53].copy_from_slice(&raw.signature.to_bytes());
    p1[53..63].copy_from_slice(&checksum(&p0[HEADER_LEN..]));
    (p0, p1)
}

/// Checks a part's header and length.
fn check_part(bytes: &[u8], tag: CheckpointTag, part: u8, len: usize) -> Result<(), EncodingError> {
    if bytes.len() < HEADER_LEN {
        return Err(EncodingError::TooShort {
            part,
            found: bytes.len(),
        });
    }
    let found_tag = CheckpointTag([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if found_tag != tag {
        return Err(EncodingError::Tag {
            part,
            expected: tag,
            found: found_tag,
        });
    }
    let version = bytes[4] & 0x0f;
    if version != FORMAT_VERSION {
        return Err(EncodingError::Version {
            part,
            found: version,
        });
    }
    let index = bytes[4] >> 4;
    if index != part {
        return Err(EncodingError::PartIndex {
            expected: part,
            found: index,
        });
    }
    if bytes.len() != len {
        return Err(EncodingError::Length {
            part,
            expected: len,
            found: bytes.len(),
        });
    }
    Ok(())
}

/// Reads a checkpoint and its submitter back from the two parts, checking the tag, version and
/// part index of each header, each length, and that part 1's checksum is part 0's.
pub fn decode(
    part0: &[u8],
    part1: &[u8],
    tag: CheckpointTag,
) -> Result<(RawCheckpoint, Address), EncodingError> {
    check_part(part0, tag, 0, PART0_LEN)?;
    check_part(part1, tag, 1, PART1_LEN)?;
    let expected = checksum(&part0[HEADER_LEN..]);
    if part1[53..63] != expected {
        return Err(EncodingError::Checksum {
            expected: hex::encode(expected),
            found: hex::encode(&part1[53..63]),
        });
    }
    let mut epoch = [0u8; 8];
    epoch.copy_from_slice(&part0[5..13]);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&part0[13..45]);
    let mut bitmap = [0u8; BITMAP_LEN];
    bitmap.copy_from_slice(&part0[45..58]);
    let mut submitter = [0u8; 20];
    submitter.copy_from_slice(&part0[58..78]);
    let signature =
        BlsSignature::aggregate_from_bytes(&part1[5..53]).map_err(EncodingError::Signature)?;
    Ok((
        RawCheckpoint {
            epoch: u64::from_be_bytes(epoch),
            block_hash: BlockHash(hash),
            bitmap: ValidatorBitmap::from_bytes(bitmap),
            signature,
        },
        Address(submitter),
    ))
}

/// The data of a transaction's single OP_RETURN output, with its output index. The transaction
/// must have exactly one OP_RETURN output, of the form `OP_RETURN <one minimal push of at most
/// 80 bytes>`, and at least one other output.
pub fn op_return_data(tx: &Transaction) -> Result<(usize, Vec<u8>), EncodingError> {
    let op_returns: Vec<usize> = tx
        .output
        .iter()
        .enumerate()
        .filter(|(_, o)| o.script_pubkey.is_op_return())
        .map(|(i, _)| i)
        .collect();
    let index = match op_returns.as_slice() {
        [] => return Err(EncodingError::NoOpReturn),
        [i] => *i,
        many => return Err(EncodingError::SeveralOpReturns(many.len())),
    };
    if tx.output.len() < 2 {
        return Err(EncodingError::NoOtherOutput);
    }
    let script = &tx.output[index].script_pubkey;
    let mut it = script.instructions_minimal();
    match it.next() {
        Some(Ok(Instruction::Op(op))) if op == bitcoin::opcodes::all::OP_RETURN => {}
        _ => {
            return Err(EncodingError::OpReturnScript(
                "does not start with OP_RETURN".into(),
            ))
        }
    }
    let data = match it.next() {
        Some(Ok(Instruction::PushBytes(p))) => p.as_bytes().to_vec(),
        Some(Ok(Instruction::Op(op))) => {
            return Err(EncodingError::OpReturnScript(format!(
                "found opcode {op} instead of a push"
            )))
        }
        Some(Err(e)) => return Err(EncodingError::OpReturnScript(e.to_string())),
        None => return Err(EncodingError::OpReturnScript("no data push".into())),
    };
    if it.next().is_some() {
        return Err(EncodingError::OpReturnScript(
            "more than one instruction after OP_RETURN".into(),
        ));
    }
    if data.len() > MAX_OP_RETURN_DATA {
        return Err(EncodingError::OpReturnTooLong(data.len()));
    }
    Ok((index, data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bls::BlsSecretKey;
    use bitcoin::absolute::LockTime;
    use bitcoin::hashes::Hash;
    use bitcoin::script::{Builder, PushBytesBuf};
    use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, TxIn, TxOut, Witness};

    fn raw() -> RawCheckpoint {
        let sk = BlsSecretKey::from_ikm(&[9; 32]).unwrap();
        let mut bitmap = ValidatorBitmap::empty();
        bitmap.set(1);
        bitmap.set(99);
        RawCheckpoint {
            epoch: 42,
            block_hash: BlockHash([0x11; 32]),
            bitmap,
            signature: sk.sign_checkpoint(42, &[0x11; 32]),
        }
    }

    const SUBMITTER: Address = Address([0x5a; 20]);

    #[test]
    fn parts_have_the_documented_bytes_and_round_trip() {
        let r = raw();
        let (p0, p1) = encode(&r, &SUBMITTER, CheckpointTag::DEFAULT);
        assert_eq!(p0.len(), 78);
        assert_eq!(p1.len(), 63);
        assert_eq!(&p0[..5], b"bal0\x00");
        assert_eq!(&p1[..5], b"bal0\x10");
        assert_eq!(&p0[5..13], &42u64.to_be_bytes());
        assert_eq!(&p0[13..45], &[0x11; 32]);
        assert_eq!(&p0[45..58], &r.bitmap.to_bytes());
        assert_eq!(&p0[58..78], &[0x5a; 20]);
        assert_eq!(&p1[5..53], &r.signature.to_bytes());
        let digest = Sha256::digest(&p0[5..]);
        assert_eq!(&p1[53..], &digest[..10]);
        assert_eq!(
            decode(&p0, &p1, CheckpointTag::DEFAULT).unwrap(),
            (r, SUBMITTER)
        );
        // Another tag round-trips under that tag only.
        let tag = CheckpointTag(*b"tst1");
        let (q0, q1) = encode(&r, &SUBMITTER, tag);
        assert_eq!(decode(&q0, &q1, tag).unwrap(), (r, SUBMITTER));
    }

    #[test]
    fn every_malformed_pair_is_rejected() {
        let r = raw();
        let tag = CheckpointTag::DEFAULT;
        let (p0, p1) = encode(&r, &SUBMITTER, tag);
        // Wrong tag (in either part).
        let (o0, o1) = encode(&r, &SUBMITTER, CheckpointTag(*b"xyz0"));
        assert!(matches!(
            decode(&o0, &p1, tag),
            Err(EncodingError::Tag { part: 0, .. })
        ));
        assert!(matches!(
            decode(&p0, &o1, tag),
            Err(EncodingError::Tag { part: 1, .. })
        ));
        // Unknown version.
        let mut v0 = p0;
        v0[4] = 0x01;
        assert_eq!(
            decode(&v0, &p1, tag),
            Err(EncodingError::Version { part: 0, found: 1 })
        );
        let mut v1 = p1;
        v1[4] = 0x1f;
        assert_eq!(
            decode(&p0, &v1, tag),
            Err(EncodingError::Version { part: 1, found: 15 })
        );
        // Swapped parts, or one part twice.
        assert_eq!(
            decode(&p1, &p0, tag),
            Err(EncodingError::PartIndex {
                expected: 0,
                found: 1
            })
        );
        assert_eq!(
            decode(&p0, &p0, tag),
            Err(EncodingError::PartIndex {
                expected: 1,
                found: 0
            })
        );
        let mut i2 = p1;
        i2[4] = 0x20;
        assert!(matches!(
            decode(&p0, &i2, tag),
            Err(EncodingError::PartIndex { found: 2, .. })
        ));
        // Lengths: short, long, shorter than a header.
        assert_eq!(
            decode(&p0[..77], &p1, tag),
            Err(EncodingError::Length {
                part: 0,
                expected: 78,
                found: 77
            })
        );
        let mut long1 = p1.to_vec();
        long1.push(0);
        assert_eq!(
            decode(&p0, &long1, tag),
            Err(EncodingError::Length {
                part: 1,
                expected: 63,
                found: 64
            })
        );
        assert_eq!(
            decode(&p0[..4], &p1, tag),
            Err(EncodingError::TooShort { part: 0, found: 4 })
        );
        // A part 1 of another checkpoint (another epoch) does not pair.
        let mut other = r;
        other.epoch = 43;
        let (_, x1) = encode(&other, &SUBMITTER, tag);
        assert!(matches!(
            decode(&p0, &x1, tag),
            Err(EncodingError::Checksum { .. })
        ));
        // Any change to part 0's body breaks the pairing, the submitter included.
        for i in HEADER_LEN..PART0_LEN {
            let mut t = p0;
            t[i] ^= 0x01;
            assert!(
                matches!(decode(&t, &p1, tag), Err(EncodingError::Checksum { .. })),
                "byte {i}"
            );
        }
        // A signature that is not a curve point.
        let mut s1 = p1;
        s1[5] = 0x80;
        s1[6..53].fill(0);
        assert!(matches!(
            decode(&p0, &s1, tag),
            Err(EncodingError::Signature(_))
        ));
    }

    fn tx_with(outputs: Vec<ScriptBuf>) -> Transaction {
        Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: outputs
                .into_iter()
                .map(|s| TxOut {
                    value: Amount::from_sat(1000),
                    script_pubkey: s,
                })
                .collect(),
        }
    }

    fn op_return(data: &[u8]) -> ScriptBuf {
        ScriptBuf::new_op_return(PushBytesBuf::try_from(data.to_vec()).unwrap())
    }

    #[test]
    fn op_return_extraction_enforces_the_transaction_shape() {
        let change = ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([1; 20]));
        let (p0, p1) = encode(&raw(), &SUBMITTER, CheckpointTag::DEFAULT);
        let tx = tx_with(vec![change.clone(), op_return(&p0)]);
        assert_eq!(op_return_data(&tx).unwrap(), (1, p0.to_vec()));
        let tx = tx_with(vec![op_return(&p1), change.clone()]);
        assert_eq!(op_return_data(&tx).unwrap(), (0, p1.to_vec()));
        // 80 bytes is the most.
        let tx = tx_with(vec![op_return(&[7; 80]), change.clone()]);
        assert_eq!(op_return_data(&tx).unwrap().1.len(), 80);
        let tx = tx_with(vec![op_return(&[7; 81]), change.clone()]);
        assert_eq!(op_return_data(&tx), Err(EncodingError::OpReturnTooLong(81)));
        // No OP_RETURN, two of them, or only an OP_RETURN.
        assert_eq!(
            op_return_data(&tx_with(vec![change.clone()])),
            Err(EncodingError::NoOpReturn)
        );
        assert_eq!(
            op_return_data(&tx_with(vec![
                op_return(&p0),
                op_return(&p1),
                change.clone()
            ])),
            Err(EncodingError::SeveralOpReturns(2))
        );
        assert_eq!(
            op_return_data(&tx_with(vec![op_return(&p0)])),
            Err(EncodingError::NoOtherOutput)
        );
        // Not a single push: two pushes, a bare OP_RETURN, an opcode, a non-minimal push.
        let two = Builder::new()
            .push_opcode(bitcoin::opcodes::all::OP_RETURN)
            .push_slice([1u8; 3])
            .push_slice([2u8; 3])
            .into_script();
        let bare = Builder::new()
            .push_opcode(bitcoin::opcodes::all::OP_RETURN)
            .into_script();
        let opcode = Builder::new()
            .push_opcode(bitcoin::opcodes::all::OP_RETURN)
            .push_opcode(bitcoin::opcodes::all::OP_CHECKSIG)
            .into_script();
        // OP_PUSHDATA1 for 3 bytes (a direct push would do): not minimal.
        let non_minimal = ScriptBuf::from_bytes(vec![0x6a, 0x4c, 0x03, 1, 2, 3]);
        for s in [two, bare, opcode, non_minimal] {
            assert!(
                matches!(
                    op_return_data(&tx_with(vec![s.clone(), change.clone()])),
                    Err(EncodingError::OpReturnScript(_))
                ),
                "{s:?}"
            );
        }
    }
}
