//! Test helpers: a regtest header miner, real mainnet headers, and state dumps.

use crate::{insert_headers, BtcLightClientError, GenesisState, TipChange, UncheckedHeaders};
use ballast_framework::MemState;
use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::pow::CompactTarget;
use bitcoin::{BlockHash, TxMerkleNode};
use std::collections::BTreeMap;

/// Regtest's bits.
pub const REGTEST_BITS: u32 = 0x207f_ffff;

/// Real mainnet headers 822528..=824544 (two difficulty periods' boundaries and the period
/// between them).
pub const MAINNET_822528_824544: &[u8] = include_bytes!("../testdata/mainnet_822528_824544.bin");
/// A real mainnet stale header at height 823226 (it lost to the best chain's 823226).
pub const MAINNET_STALE_823226: &[u8] = include_bytes!("../testdata/mainnet_stale_823226.bin");
/// Real mainnet headers at heights 0, 2015, 2016, 4031, 4032, ..., 832607, 832608.
pub const MAINNET_RETARGET_HEADERS: &[u8] =
    include_bytes!("../testdata/mainnet_retarget_headers.bin");
/// bitcoind's chainwork (32 bytes big-endian) at the same heights.
pub const MAINNET_RETARGET_CHAINWORK: &[u8] =
    include_bytes!("../testdata/mainnet_retarget_chainwork.bin");

/// Splits concatenated 80-byte headers.
pub fn parse_headers(bytes: &[u8]) -> Vec<Header> {
    assert_eq!(bytes.len() % 80, 0);
    bytes
        .chunks(80)
        .map(|c| bitcoin::consensus::deserialize(c).unwrap())
        .collect()
}

/// The height of entry `i` of the retarget files.
pub fn retarget_file_height(i: usize) -> u64 {
    // 0, then (2016k - 1, 2016k) pairs.
    if i == 0 {
        0
    } else {
        let k = i.div_ceil(2) as u64;
        if i % 2 == 1 {
            2016 * k - 1
        } else {
            2016 * k
        }
    }
}

/// bitcoind's chainwork at retarget-file entry `i`, as a decimal string.
pub fn retarget_chainwork(i: usize) -> crate::ChainWork {
    let mut b = [0u8; 32];
    b.copy_from_slice(&MAINNET_RETARGET_CHAINWORK[i * 32..i * 32 + 32]);
    crate::ChainWork::from_be_bytes(b)
}

/// Mines a regtest header on `prev` (grinding the nonce; about two tries on average).
pub fn mine(prev: BlockHash, time: u32, tag: u32) -> Header {
    mine_with(
        prev,
        time,
        tag,
        REGTEST_BITS,
        Version::from_consensus(0x2000_0000),
        true,
    )
}

/// Mines a header whose hash meets (`valid`) or misses the target of `bits`.
pub fn mine_with(
    prev: BlockHash,
    time: u32,
    tag: u32,
    bits: u32,
    version: Version,
    valid: bool,
) -> Header {
    let mut root = [0u8; 32];
    root[..4].copy_from_slice(&tag.to_le_bytes());
    mine_root(
        prev,
        time,
        TxMerkleNode::from_byte_array(root),
        bits,
        version,
        valid,
    )
}

/// Mines a header with a given Merkle root.
pub fn mine_root(
    prev: BlockHash,
    time: u32,
    merkle_root: TxMerkleNode,
    bits: u32,
    version: Version,
    valid: bool,
) -> Header {
    let mut h = Header {
        version,
        prev_blockhash: prev,
        merkle_root,
        time,
        bits: CompactTarget::from_consensus(bits),
        nonce: 0,
    };
    let target = h.target();
    loop {
        if target.is_met_by(h.block_hash()) == valid {
            return h;
        }
        h.nonce += 1;
    }
}

/// `n` regtest headers on `parent`, 10 minutes apart; `tag` keeps branches apart.
pub fn regtest_chain(parent: &Header, n: usize, tag: u32) -> Vec<Header> {
    let mut out: Vec<Header> = Vec::with_capacity(n);
    let mut prev = *parent;
    for i in 0..n {
        let h = mine(
            prev.block_hash(),
            prev.time + 600,
            tag.wrapping_mul(1000).wrapping_add(i as u32),
        );
        out.push(h);
        prev = h;
    }
    out
}

/// A state with the default (regtest genesis) genesis applied.
pub fn regtest_state() -> MemState {
    let mut s = MemState::new();
    GenesisState::default().apply(&mut s).unwrap();
    s
}

/// The regtest genesis header.
pub fn regtest_genesis() -> Header {
    crate::BtcNetwork::Regtest.genesis_header()
}

/// Inserts headers (statelessly checked first).
pub fn insert(s: &mut MemState, headers: &[Header]) -> Result<TipChange, BtcLightClientError> {
    let u = UncheckedHeaders::new(headers.to_vec())?;
    insert_headers(s, &u)
}

/// A copy of every entry, to compare before and after a rejected message.
pub fn dump(s: &MemState) -> BTreeMap<Vec<u8>, Vec<u8>> {
    s.entries().clone()
}

/// The Merkle branch for `index` among `txids`, built level by level as Bitcoin Core builds its
/// tree (an odd level pairs its last node with itself).
pub fn merkle_branch(txids: &[bitcoin::Txid], index: usize) -> Vec<TxMerkleNode> {
    use bitcoin::hashes::{sha256d, HashEngine};
    let mut level: Vec<[u8; 32]> = txids.iter().map(|t| t.to_byte_array()).collect();
    let mut pos = index;
    let mut out = Vec::new();
    while level.len() > 1 {
        let sib = if pos ^ 1 < level.len() { pos ^ 1 } else { pos };
        out.push(TxMerkleNode::from_byte_array(level[sib]));
        level = level
            .chunks(2)
            .map(|p| {
                let mut e = sha256d::Hash::engine();
                e.input(&p[0]);
                e.input(p.get(1).unwrap_or(&p[0]));
                sha256d::Hash::from_engine(e).to_byte_array()
            })
            .collect();
        pos /= 2;
    }
    out
}

impl crate::CheckedHeaders {
    /// Overrides the cumulative work of new header `i` (to reach cases regtest cannot mine).
    pub fn set_work_for_test(&mut self, i: usize, work: crate::ChainWork) {
        self.records_mut()[i].info.cumulative_work = work;
    }

    /// Writes the checked headers.
    pub fn apply_for_test(self, s: &mut MemState) -> Result<TipChange, BtcLightClientError> {
        self.apply(s)
    }
}
