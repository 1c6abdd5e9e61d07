//! The CometBFT validator-set hash of a consumer set, which a consumer chain compares with the
//! `validators_hash` of its own headers.
//!
//! The hash is the RFC 6962-style simple Merkle root CometBFT uses (leaf
//! `sha256(0x00 || bytes)`, inner node `sha256(0x01 || left || right)`, split at the largest
//! power of two below the count, the empty tree `sha256("")`) over the protobuf encoding of
//! `tendermint.types.SimpleValidator{pub_key: tendermint.crypto.PublicKey{ed25519: key},
//! voting_power}` of each validator, in CometBFT order (power descending, then address
//! ascending, the address being the first 20 bytes of `sha256(key)`).

use sha2::{Digest, Sha256};

/// A validator's CometBFT address: the first 20 bytes of `sha256(pubkey)`.
pub fn address(pubkey: &[u8; 32]) -> [u8; 20] {
    let d = Sha256::digest(pubkey);
    let mut a = [0u8; 20];
    a.copy_from_slice(&d[..20]);
    a
}

/// Sorts `(pubkey, power)` pairs into CometBFT order: power descending, then address
/// ascending.
pub fn sort_cometbft<T>(items: &mut [T], key: impl Fn(&T) -> (&[u8; 32], u64)) {
    items.sort_by_cached_key(|t| {
        let (pk, power) = key(t);
        (std::cmp::Reverse(power), address(pk))
    });
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The protobuf encoding of `SimpleValidator{pub_key: {ed25519: pubkey}, voting_power: power}`.
pub fn simple_validator_bytes(pubkey: &[u8; 32], power: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    // Field 1 (pub_key), length-delimited: the PublicKey message, itself field 1 (ed25519),
    // length-delimited, 32 bytes: 2 + 32 = 34 bytes.
    out.extend_from_slice(&[0x0a, 34, 0x0a, 32]);
    out.extend_from_slice(pubkey);
    if power != 0 {
        // Field 2 (voting_power), varint. proto3 leaves a zero out.
        out.push(0x10);
        put_varint(&mut out, power);
    }
    out
}

fn leaf_hash(bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(bytes);
    h.finalize().into()
}

fn inner_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The simple Merkle root of `items`.
pub fn merkle_root(items: &[Vec<u8>]) -> [u8; 32] {
    match items.len() {
        0 => Sha256::digest([]).into(),
        1 => leaf_hash(&items[0]),
        n => {
            // The largest power of two strictly below n.
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            inner_hash(&merkle_root(&items[..k]), &merkle_root(&items[k..]))
        }
    }
}

/// The CometBFT validator-set hash of `(pubkey, power)` pairs, which must already be in
/// CometBFT order.
pub fn validator_set_hash<'a>(
    validators: impl IntoIterator<Item = (&'a [u8; 32], u64)>,
) -> [u8; 32] {
    let leaves: Vec<Vec<u8>> = validators
        .into_iter()
        .map(|(pk, power)| simple_validator_bytes(pk, power))
        .collect();
    merkle_root(&leaves)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(seed: u64) -> [u8; 32] {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_be_bytes());
        ed25519_consensus::SigningKey::from(s)
            .verification_key()
            .to_bytes()
    }

    fn tendermint_hash(vals: &[([u8; 32], u64)]) -> [u8; 32] {
        let list: Vec<tendermint::validator::Info> = vals
            .iter()
            .map(|(pk, power)| {
                tendermint::validator::Info::new(
                    tendermint::PublicKey::from_raw_ed25519(pk).unwrap(),
                    tendermint::vote::Power::try_from(*power).unwrap(),
                )
            })
            .collect();
        let hash = tendermint::validator::Set::without_proposer(list).hash();
        hash.as_bytes().try_into().unwrap()
    }

    fn ours(vals: &[([u8; 32], u64)]) -> [u8; 32] {
        let mut sorted = vals.to_vec();
        sort_cometbft(&mut sorted, |(pk, p)| (pk, *p));
        validator_set_hash(sorted.iter().map(|(pk, p)| (pk, *p)))
    }

    #[test]
    fn known_shapes_match_the_tendermint_crate() {
        assert_eq!(ours(&[]), tendermint_hash(&[]));
        assert_eq!(ours(&[(key(1), 10)]), tendermint_hash(&[(key(1), 10)]));
        // Equal powers are ordered by address; a power above one varint byte.
        let vals: Vec<([u8; 32], u64)> = (0..7)
            .map(|i| (key(i), if i < 3 { 5 } else { 300 + i }))
            .collect();
        assert_eq!(ours(&vals), tendermint_hash(&vals));
        let big = [(key(9), (i64::MAX / 8) as u64)];
        assert_eq!(ours(&big), tendermint_hash(&big));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_sets_match_the_tendermint_crate(
            powers in proptest::collection::vec(1u64..1_000_000_000, 0..40),
            seed in any::<u32>(),
        ) {
            let vals: Vec<([u8; 32], u64)> = powers
                .iter()
                .enumerate()
                .map(|(i, p)| (key(u64::from(seed) * 100 + i as u64), *p))
                .collect();
            prop_assert_eq!(ours(&vals), tendermint_hash(&vals));
        }
    }
}
