//! Regtest Bitcoin headers mined in-process, and the `MsgInsertHeaders` that carries them.
//!
//! Regtest's target (bits `0x207fffff`) is met by about every second hash, so a header is
//! mined in a couple of tries: tests get real proof of work without a bitcoind.

use ballast_framework::Address;
use ballast_proto::ballast::btclightclient::v1::MsgInsertHeaders;
use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::pow::CompactTarget;
use bitcoin::{BlockHash, TxMerkleNode};
use prost::Message;

/// Regtest's bits.
pub const REGTEST_BITS: u32 = 0x207f_ffff;

/// Type URL of the light client's message.
pub const MSG_INSERT_HEADERS_TYPE_URL: &str = "/ballast.btclightclient.v1.MsgInsertHeaders";

/// The regtest genesis header (the light client's default base header).
pub fn regtest_genesis() -> Header {
    ballast_btclightclient::BtcNetwork::Regtest.genesis_header()
}

/// A regtest header on `prev` whose hash meets (`valid`) or misses its target; `tag` goes into
/// the Merkle root so that branches differ.
pub fn mine(prev: &Header, tag: u32, valid: bool) -> Header {
    let mut root = [0u8; 32];
    root[..4].copy_from_slice(&tag.to_le_bytes());
    let mut h = Header {
        version: Version::from_consensus(0x2000_0000),
        prev_blockhash: prev.block_hash(),
        merkle_root: TxMerkleNode::from_byte_array(root),
        time: prev.time + 600,
        bits: CompactTarget::from_consensus(REGTEST_BITS),
        nonce: 0,
    };
    let target = h.target();
    while target.is_met_by(h.block_hash()) != valid {
        h.nonce += 1;
    }
    h
}

/// `n` valid regtest headers on `parent`, 10 minutes apart; `tag` keeps branches apart.
pub fn regtest_chain(parent: &Header, n: usize, tag: u32) -> Vec<Header> {
    let mut out: Vec<Header> = Vec::with_capacity(n);
    let mut prev = *parent;
    for i in 0..n {
        let h = mine(&prev, tag.wrapping_mul(1000).wrapping_add(i as u32), true);
        out.push(h);
        prev = h;
    }
    out
}

/// The raw 80 bytes of a header.
pub fn raw(h: &Header) -> Vec<u8> {
    bitcoin::consensus::serialize(h)
}

/// The raw header in hex, as `bitcoin-cli getblockheader <hash> false` prints it.
pub fn raw_hex(h: &Header) -> String {
    hex::encode(raw(h))
}

/// The block hash in Bitcoin's display order.
pub fn display_hash(h: &Header) -> String {
    h.block_hash().to_string()
}

/// A hash no header has.
pub fn unknown_hash() -> BlockHash {
    BlockHash::from_byte_array([0x5a; 32])
}

/// `MsgInsertHeaders` from `signer` as an `Any`.
pub fn msg_insert_headers(signer: &Address, headers: &[Header]) -> cosmrs::Any {
    cosmrs::Any {
        type_url: MSG_INSERT_HEADERS_TYPE_URL.into(),
        value: MsgInsertHeaders {
            signer: signer.to_string(),
            headers: headers.iter().map(raw).collect(),
        }
        .encode_to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mined_headers_meet_or_miss_their_target_and_chain() {
        let g = regtest_genesis();
        let chain = regtest_chain(&g, 3, 1);
        let mut prev = g;
        for h in &chain {
            assert_eq!(h.prev_blockhash, prev.block_hash());
            assert!(h.target().is_met_by(h.block_hash()));
            prev = *h;
        }
        let bad = mine(&g, 9, false);
        assert!(!bad.target().is_met_by(bad.block_hash()));
        assert_eq!(raw(&g).len(), 80);
        assert_eq!(
            display_hash(&g),
            "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
        );
    }
}
