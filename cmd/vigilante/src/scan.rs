//! Finding checkpoint parts in Bitcoin blocks and pairing them into submissions.
//!
//! A block is scanned once: every non-coinbase transaction whose single OP_RETURN output starts
//! with the chain's tag and a valid part header is kept with its position and Merkle branch
//! ([`parts_in_block`]). Parts are paired by part 1's checksum of part 0's body, and part 1's
//! transaction must spend an output of part 0's other than its OP_RETURN ([`pair_parts`]).
//! [`spv_message`] then turns a pair into `MsgInsertBtcSpvProof`.

use ballast_btclightclient::TxInclusionProof;
use ballast_checkpointing::encoding::{
    self, CheckpointTag, CHECKSUM_LEN, FORMAT_VERSION, HEADER_LEN, PART0_LEN, PART1_LEN,
};
use ballast_checkpointing::spv::{MsgInsertBtcSpvProof, UncheckedSpvProof};
use ballast_checkpointing::RawCheckpoint;
use ballast_framework::Address;
use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::{Block, BlockHash, Transaction, TxMerkleNode, Txid};
use sha2::{Digest, Sha256};

/// One checkpoint part found in a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundPart {
    /// 0 or 1.
    pub index: u8,
    /// The OP_RETURN data (a whole part, header included).
    pub data: Vec<u8>,
    /// The transaction.
    pub tx: Transaction,
    /// Its id.
    pub txid: Txid,
    /// Index of its OP_RETURN output.
    pub op_return_index: usize,
    /// The block holding it.
    pub block_hash: BlockHash,
    /// That block's height.
    pub height: u64,
    /// Its position in the block.
    pub tx_index: u32,
    /// Its Merkle branch, leaf level first.
    pub branch: Vec<TxMerkleNode>,
}

impl FoundPart {
    /// The checksum that pairs the parts: for part 0 the one it hashes to, for part 1 the one
    /// it carries.
    pub fn checksum(&self) -> [u8; CHECKSUM_LEN] {
        let mut out = [0u8; CHECKSUM_LEN];
        if self.index == 0 {
            out.copy_from_slice(&Sha256::digest(&self.data[HEADER_LEN..])[..CHECKSUM_LEN]);
        } else {
            out.copy_from_slice(&self.data[PART1_LEN - CHECKSUM_LEN..]);
        }
        out
    }

    /// The SPV proof of this part.
    pub fn proof(&self) -> UncheckedSpvProof {
        UncheckedSpvProof {
            tx: self.tx.clone(),
            proof: TxInclusionProof {
                block_hash: self.block_hash,
                index: self.tx_index,
                branch: self.branch.clone(),
            },
            op_return_index: self.op_return_index,
            part: self.data.clone(),
        }
    }
}

/// The Merkle branch of the transaction at `index` among `txids` (the block's order): sibling
/// hashes from the leaves up, an odd level's last node paired with itself, as in Bitcoin's
/// `merkleblock`.
pub fn merkle_branch(txids: &[Txid], index: usize) -> Vec<TxMerkleNode> {
    let mut level: Vec<[u8; 32]> = txids.iter().map(|t| t.to_byte_array()).collect();
    let mut pos = index;
    let mut branch = Vec::new();
    while level.len() > 1 {
        let sibling = if pos % 2 == 1 {
            pos - 1
        } else if pos + 1 < level.len() {
            pos + 1
        } else {
            pos
        };
        branch.push(TxMerkleNode::from_byte_array(level[sibling]));
        level = level
            .chunks(2)
            .map(|pair| {
                let mut e = sha256d::Hash::engine();
                e.input(&pair[0]);
                e.input(pair.get(1).unwrap_or(&pair[0]));
                sha256d::Hash::from_engine(e).to_byte_array()
            })
            .collect();
        pos /= 2;
    }
    branch
}

/// The part in `tx`'s OP_RETURN, if it is a well-formed part of this chain: `(part index,
/// OP_RETURN output index, data)`.
pub fn part_of_tx(tx: &Transaction, tag: CheckpointTag) -> Option<(u8, usize, Vec<u8>)> {
    let (out_index, data) = encoding::op_return_data(tx).ok()?;
    if data.len() < HEADER_LEN || data[..4] != tag.0 || data[4] & 0x0f != FORMAT_VERSION {
        return None;
    }
    let part = data[4] >> 4;
    let expected_len = match part {
        0 => PART0_LEN,
        1 => PART1_LEN,
        _ => return None,
    };
    (data.len() == expected_len).then_some((part, out_index, data))
}

/// Every checkpoint part in `block` (at `height`).
pub fn parts_in_block(block: &Block, height: u64, tag: CheckpointTag) -> Vec<FoundPart> {
    let block_hash = block.block_hash();
    let mut txids: Option<Vec<Txid>> = None;
    let mut found = Vec::new();
    for (i, tx) in block.txdata.iter().enumerate().skip(1) {
        let Some((index, op_return_index, data)) = part_of_tx(tx, tag) else {
            continue;
        };
        let Ok(tx_index) = u32::try_from(i) else {
            continue;
        };
        let txids = txids
            .get_or_insert_with(|| block.txdata.iter().map(Transaction::compute_txid).collect());
        found.push(FoundPart {
            index,
            data,
            tx: tx.clone(),
            txid: txids[i],
            op_return_index,
            block_hash,
            height,
            tx_index,
            branch: merkle_branch(txids, i),
        });
    }
    found
}

/// A part 0 and a part 1 that belong together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairedSubmission {
    /// The checkpoint they carry.
    pub raw: RawCheckpoint,
    /// The account named in part 0.
    pub submitter: Address,
    /// Part 0.
    pub part0: FoundPart,
    /// Part 1.
    pub part1: FoundPart,
}

impl PairedSubmission {
    /// The epoch.
    pub fn epoch(&self) -> u64 {
        self.raw.epoch
    }

    /// The height of the later of the two blocks (Ballast prefers the lowest).
    pub fn later_height(&self) -> u64 {
        self.part0.height.max(self.part1.height)
    }
}

/// Every valid pairing among `parts`: same checksum, part 1's tx spends a non-OP_RETURN output
/// of part 0's tx, and the two decode together under `tag`.
pub fn pair_parts(parts: &[FoundPart], tag: CheckpointTag) -> Vec<PairedSubmission> {
    let mut out = Vec::new();
    for p1 in parts.iter().filter(|p| p.index == 1) {
        let sum = p1.checksum();
        for p0 in parts.iter().filter(|p| p.index == 0 && p.checksum() == sum) {
            let chained = p1.tx.input.iter().any(|i| {
                i.previous_output.txid == p0.txid
                    && (i.previous_output.vout as usize) < p0.tx.output.len()
                    && i.previous_output.vout as usize != p0.op_return_index
            });
            if !chained {
                continue;
            }
            if let Ok((raw, submitter)) = encoding::decode(&p0.data, &p1.data, tag) {
                out.push(PairedSubmission {
                    raw,
                    submitter,
                    part0: p0.clone(),
                    part1: p1.clone(),
                });
            }
        }
    }
    out
}

/// The deepest pair (lowest later block) that carries exactly `sealed`, if any.
pub fn best_pair_for<'a>(
    sealed: &RawCheckpoint,
    pairs: &'a [PairedSubmission],
) -> Option<&'a PairedSubmission> {
    pairs
        .iter()
        .filter(|p| &p.raw == sealed)
        .min_by_key(|p| (p.later_height(), p.part0.height))
}

/// `MsgInsertBtcSpvProof` for `pair`, signed by `reporter`.
pub fn spv_message(reporter: Address, pair: &PairedSubmission) -> MsgInsertBtcSpvProof {
    MsgInsertBtcSpvProof {
        reporter,
        proofs: [pair.part0.proof(), pair.part1.proof()],
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::txbuild;
    use ballast_checkpointing::{BlsSecretKey, ValidatorBitmap};
    use bitcoin::absolute::LockTime;
    use bitcoin::block::{Header, Version as BlockVersion};
    use bitcoin::transaction::Version;
    use bitcoin::{
        Amount, CompactTarget, OutPoint, ScriptBuf, Sequence, TxIn, TxOut, WPubkeyHash, Witness,
    };

    pub(crate) fn raw(epoch: u64) -> RawCheckpoint {
        let sk = BlsSecretKey::from_ikm(&[3; 32]).unwrap();
        let mut bitmap = ValidatorBitmap::empty();
        bitmap.set(0);
        RawCheckpoint {
            epoch,
            block_hash: ballast_framework::BlockHash([epoch as u8; 32]),
            bitmap,
            signature: sk.sign_checkpoint(epoch, &[epoch as u8; 32]),
        }
    }

    fn spk(b: u8) -> ScriptBuf {
        ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([b; 20]))
    }

    fn input(prev: OutPoint) -> TxIn {
        TxIn {
            previous_output: prev,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }
    }

    /// tx1 and tx2 of a checkpoint, spending `funding`.
    pub(crate) fn pair_txs(
        r: &RawCheckpoint,
        submitter: Address,
        funding: OutPoint,
    ) -> (Transaction, Transaction) {
        let (p0, p1) = encoding::encode(r, &submitter, CheckpointTag::DEFAULT);
        let mut tx1 =
            txbuild::tx1_template(&p0, spk(1), txbuild::carry_amount(100).unwrap()).unwrap();
        tx1.input.push(input(funding));
        tx1.output.push(TxOut {
            value: Amount::from_sat(1_000_000),
            script_pubkey: spk(2),
        });
        let tx2 = txbuild::tx2_unsigned(
            OutPoint::new(tx1.compute_txid(), 1),
            txbuild::carry_amount(100).unwrap(),
            &p1,
            spk(3),
            Amount::from_sat(500),
        )
        .unwrap();
        (tx1, tx2)
    }

    fn filler(n: u8) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![input(OutPoint::new(Txid::from_byte_array([n; 32]), 0))],
            output: vec![TxOut {
                value: Amount::from_sat(5_000),
                script_pubkey: spk(n),
            }],
        }
    }

    pub(crate) fn block(prev: BlockHash, txs: Vec<Transaction>) -> Block {
        let mut coinbase = filler(0);
        coinbase.input[0].previous_output = OutPoint::null();
        let mut txdata = vec![coinbase];
        txdata.extend(txs);
        let mut b = Block {
            header: Header {
                version: BlockVersion::TWO,
                prev_blockhash: prev,
                merkle_root: TxMerkleNode::all_zeros(),
                time: 1_700_000_000,
                bits: CompactTarget::from_consensus(0x207f_ffff),
                nonce: 0,
            },
            txdata,
        };
        b.header.merkle_root = b.compute_merkle_root().unwrap();
        b
    }

    #[test]
    fn branches_lead_to_the_block_root_at_every_position() {
        for n in 1..=13u8 {
            let b = block(BlockHash::all_zeros(), (1..n).map(filler).collect());
            let txids: Vec<Txid> = b.txdata.iter().map(Transaction::compute_txid).collect();
            for (i, txid) in txids.iter().enumerate() {
                let branch = merkle_branch(&txids, i);
                let root = ballast_btclightclient::merkle::merkle_root_from_branch(
                    *txid, i as u32, &branch,
                )
                .unwrap();
                assert_eq!(root, b.header.merkle_root, "n={n} i={i}");
            }
        }
    }

    #[test]
    fn parts_are_found_paired_and_make_a_message_that_passes_ballasts_stateless_checks() {
        let me = Address([0x42; 20]);
        let r = raw(7);
        let (tx1, tx2) = pair_txs(&r, me, OutPoint::new(Txid::from_byte_array([9; 32]), 0));
        // A part of another chain (other tag) and a non-checkpoint OP_RETURN are ignored.
        let (p0_other, _) = encoding::encode(&r, &me, CheckpointTag(*b"zzz0"));
        let mut foreign = filler(4);
        foreign.output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: txbuild::op_return_script(&p0_other).unwrap(),
        });
        let mut junk = filler(5);
        junk.output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: txbuild::op_return_script(b"hello").unwrap(),
        });
        // tx1 in one block, tx2 (with fillers) in the next.
        let b1 = block(
            BlockHash::all_zeros(),
            vec![filler(1), tx1.clone(), foreign],
        );
        let b2 = block(
            b1.block_hash(),
            vec![junk, filler(2), filler(3), tx2.clone()],
        );
        let mut parts = parts_in_block(&b1, 101, CheckpointTag::DEFAULT);
        assert_eq!(parts.len(), 1);
        assert_eq!(
            (parts[0].index, parts[0].tx_index, parts[0].height),
            (0, 2, 101)
        );
        parts.extend(parts_in_block(&b2, 102, CheckpointTag::DEFAULT));
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[1].index, parts[1].tx_index), (1, 4));

        let pairs = pair_parts(&parts, CheckpointTag::DEFAULT);
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].raw, r);
        assert_eq!(pairs[0].submitter, me);
        assert_eq!(pairs[0].later_height(), 102);
        assert_eq!(best_pair_for(&r, &pairs), Some(&pairs[0]));
        assert_eq!(best_pair_for(&raw(8), &pairs), None);

        let msg = spv_message(Address([0x11; 20]), &pairs[0]);
        let proto = msg.to_proto();
        let back = MsgInsertBtcSpvProof::from_proto(&proto).unwrap();
        assert_eq!(back, msg);
        for (p, b) in back.proofs.iter().zip([&b1, &b2]) {
            let root = ballast_btclightclient::merkle::merkle_root_from_branch(
                p.tx.compute_txid(),
                p.proof.index,
                &p.proof.branch,
            )
            .unwrap();
            assert_eq!(root, b.header.merkle_root);
            assert_eq!(p.proof.block_hash, b.block_hash());
        }
    }

    #[test]
    fn parts_pair_only_by_checksum_and_chaining() {
        let me = Address([0x42; 20]);
        let (a1, a2) = pair_txs(
            &raw(1),
            me,
            OutPoint::new(Txid::from_byte_array([1; 32]), 0),
        );
        let (b1, b2) = pair_txs(
            &raw(2),
            me,
            OutPoint::new(Txid::from_byte_array([2; 32]), 0),
        );
        // A part 1 of epoch 1 that does not spend epoch 1's tx1 (it spends b1's carry).
        let mut unchained = a2.clone();
        unchained.input[0].previous_output = OutPoint::new(b1.compute_txid(), 1);
        // A part 1 of epoch 1 spending a1's OP_RETURN output: not chained either.
        let mut via_op_return = a2.clone();
        via_op_return.input[0].previous_output = OutPoint::new(a1.compute_txid(), 0);
        let blk = block(
            BlockHash::all_zeros(),
            vec![a1, b1, b2, unchained, via_op_return, a2],
        );
        let parts = parts_in_block(&blk, 5, CheckpointTag::DEFAULT);
        assert_eq!(parts.len(), 6);
        let mut epochs: Vec<(u64, u32, u32)> = pair_parts(&parts, CheckpointTag::DEFAULT)
            .iter()
            .map(|p| (p.epoch(), p.part0.tx_index, p.part1.tx_index))
            .collect();
        epochs.sort();
        assert_eq!(epochs, vec![(1, 1, 6), (2, 2, 3)]);
        // Under another tag nothing is a part at all.
        assert!(parts_in_block(&blk, 5, CheckpointTag(*b"bal1")).is_empty());
    }

    #[test]
    fn the_deepest_pair_wins() {
        let me = Address([0x42; 20]);
        let r = raw(4);
        let (a1, a2) = pair_txs(&r, me, OutPoint::new(Txid::from_byte_array([1; 32]), 0));
        let (c1, c2) = pair_txs(&r, me, OutPoint::new(Txid::from_byte_array([3; 32]), 0));
        let hi = block(BlockHash::all_zeros(), vec![a1, a2]);
        let lo = block(BlockHash::all_zeros(), vec![c1, c2]);
        let mut parts = parts_in_block(&hi, 50, CheckpointTag::DEFAULT);
        parts.extend(parts_in_block(&lo, 40, CheckpointTag::DEFAULT));
        let pairs = pair_parts(&parts, CheckpointTag::DEFAULT);
        assert_eq!(pairs.len(), 2);
        assert_eq!(best_pair_for(&r, &pairs).unwrap().later_height(), 40);
    }
}
