//! SPV proofs: a transaction's Merkle branch up to a header's Merkle root.
//!
//! Bitcoin's transaction Merkle tree has two known ambiguities, and both are rejected:
//!
//! - **Duplicate padding (CVE-2012-2459).** A level with an odd number of nodes pairs its last
//!   node with itself. A branch in which the node is a *right* child equal to its left sibling
//!   therefore claims a position that only exists as padding (for example index 3 in a
//!   three-transaction block). Such branches are rejected. A *left* child equal to its sibling
//!   is the legitimate last node of an odd level and is accepted.
//! - **64-byte transactions.** An inner node is the double SHA-256 of 64 bytes, exactly like
//!   the txid of a 64-byte transaction, so a branch can be cut short to "prove" an inner node as
//!   a transaction or a crafted 64-byte transaction as a subtree. Proofs are therefore checked
//!   for a full transaction (whose txid is computed here), and transactions whose non-witness
//!   serialization is 64 bytes are rejected.

use crate::BtcLightClientError;
use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::{BlockHash, Transaction, TxMerkleNode, Txid};

/// Longest branch accepted: a block would need more than 2^32 transactions to need more.
pub const MAX_MERKLE_BRANCH_LEN: usize = 32;

/// A claim that a transaction is in a block: the block, the transaction's position, and the
/// sibling hashes from the leaves up (internal byte order, as in Bitcoin's `merkleblock`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxInclusionProof {
    /// The block that holds the transaction.
    pub block_hash: BlockHash,
    /// Position of the transaction in the block (0 is the coinbase).
    pub index: u32,
    /// Sibling hashes, leaf level first.
    pub branch: Vec<TxMerkleNode>,
}

/// A verified inclusion: where the transaction's block sits on the best chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxInclusion {
    /// The transaction.
    pub txid: Txid,
    /// Its block.
    pub block_hash: BlockHash,
    /// The block's height.
    pub height: u64,
    /// The block's depth: 0 at the tip, 1 for its parent, and so on.
    pub depth: u64,
}

/// The Merkle root that `branch` gives for `txid` at `index`. Fails when the index does not fit
/// the branch or when the branch uses the duplicate padding as a position. The caller compares
/// the result with a header's root, and must make sure `txid` is not that of a 64-byte
/// transaction ([`check_not_64_bytes`]).
pub fn merkle_root_from_branch(
    txid: Txid,
    index: u32,
    branch: &[TxMerkleNode],
) -> Result<TxMerkleNode, BtcLightClientError> {
    if branch.len() > MAX_MERKLE_BRANCH_LEN || (u64::from(index) >> branch.len()) != 0 {
        return Err(BtcLightClientError::MerkleIndexOutOfRange {
            index,
            branch_len: branch.len(),
            max_len: MAX_MERKLE_BRANCH_LEN,
        });
    }
    let mut node = txid.to_byte_array();
    let mut pos = index;
    for (level, sibling) in branch.iter().enumerate() {
        let sibling = sibling.to_byte_array();
        let mut engine = sha256d::Hash::engine();
        if pos & 1 == 1 {
            if sibling == node {
                return Err(BtcLightClientError::AmbiguousMerkleBranch { txid, index, level });
            }
            engine.input(&sibling);
            engine.input(&node);
        } else {
            engine.input(&node);
            engine.input(&sibling);
        }
        node = sha256d::Hash::from_engine(engine).to_byte_array();
        pos >>= 1;
    }
    Ok(TxMerkleNode::from_byte_array(node))
}

/// Rejects transactions whose non-witness serialization is 64 bytes.
pub fn check_not_64_bytes(tx: &Transaction) -> Result<(), BtcLightClientError> {
    if tx.base_size() == 64 {
        return Err(BtcLightClientError::SixtyFourByteTransaction(
            tx.compute_txid(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::merkle_tree;

    fn txids(n: u32) -> Vec<Txid> {
        (0..n).map(|i| Txid::hash(&i.to_le_bytes())).collect()
    }

    #[test]
    fn every_position_of_trees_of_every_small_size_verifies() {
        for n in 1..=17u32 {
            let leaves = txids(n);
            let root = merkle_tree::calculate_root(leaves.iter().map(|t| t.to_raw_hash()))
                .map(TxMerkleNode::from_raw_hash)
                .unwrap();
            for i in 0..n {
                let branch = crate::testutil::merkle_branch(&leaves, i as usize);
                assert_eq!(
                    merkle_root_from_branch(leaves[i as usize], i, &branch).unwrap(),
                    root,
                    "n={n} i={i}"
                );
                // Any other index with the same branch gives another root or an error.
                for j in 0..(1u32 << branch.len()) {
                    if j != i {
                        assert_ne!(
                            merkle_root_from_branch(leaves[i as usize], j, &branch).ok(),
                            Some(root),
                            "n={n} i={i} j={j}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_duplicate_padding_position_is_rejected() {
        // Three transactions: the last is paired with itself, so "index 3" would also reach the
        // root with the same branch, with the node as a right child equal to its sibling.
        let leaves = txids(3);
        let branch = crate::testutil::merkle_branch(&leaves, 2);
        assert_eq!(branch[0].to_byte_array(), leaves[2].to_byte_array());
        assert!(merkle_root_from_branch(leaves[2], 2, &branch).is_ok());
        assert!(matches!(
            merkle_root_from_branch(leaves[2], 3, &branch),
            Err(BtcLightClientError::AmbiguousMerkleBranch { level: 0, .. })
        ));
    }

    #[test]
    fn index_must_fit_the_branch() {
        let leaves = txids(4);
        let branch = crate::testutil::merkle_branch(&leaves, 1);
        assert!(matches!(
            merkle_root_from_branch(leaves[1], 5, &branch),
            Err(BtcLightClientError::MerkleIndexOutOfRange {
                index: 5,
                branch_len: 2,
                ..
            })
        ));
        let long = vec![TxMerkleNode::all_zeros(); MAX_MERKLE_BRANCH_LEN + 1];
        assert!(matches!(
            merkle_root_from_branch(leaves[0], 0, &long),
            Err(BtcLightClientError::MerkleIndexOutOfRange { .. })
        ));
        // A single-transaction block: the txid is the root and the index must be 0.
        assert_eq!(
            merkle_root_from_branch(leaves[0], 0, &[])
                .unwrap()
                .to_byte_array(),
            leaves[0].to_byte_array()
        );
        assert!(merkle_root_from_branch(leaves[0], 1, &[]).is_err());
        // The largest index fits a 32-hash branch.
        let full = vec![TxMerkleNode::all_zeros(); MAX_MERKLE_BRANCH_LEN];
        assert!(merkle_root_from_branch(leaves[0], u32::MAX, &full).is_ok());
    }
}
