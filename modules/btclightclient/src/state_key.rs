//! Every key the Bitcoin light client writes. Keys are API: they change only through a migration.
//!
//! Heights are zero-padded to 20 digits (`u64::MAX` has 20), so the lexical order of the
//! best-chain keys is their numeric order.

use bitcoin::BlockHash;

/// Prefix of every key of this module.
pub const PREFIX: &str = "btclightclient/";

/// The module's params.
pub fn params() -> &'static str {
    "btclightclient/params"
}

/// Hash (32 bytes, internal byte order) of the base header.
pub fn base() -> &'static str {
    "btclightclient/base"
}

/// Hash (32 bytes, internal byte order) of the tip of the best chain.
pub fn tip() -> &'static str {
    "btclightclient/tip"
}

/// A known header (`HeaderRecord`), by hash in display order.
pub fn header(hash: &BlockHash) -> String {
    format!("btclightclient/header/{hash}")
}

/// Prefix of every header record.
pub fn headers_prefix() -> &'static str {
    "btclightclient/header/"
}

/// Hash (32 bytes, internal byte order) of the best chain's header at `height`.
pub fn main_chain(height: u64) -> String {
    format!("btclightclient/main/{height:020}")
}

/// Prefix of the best-chain index.
pub fn main_chain_prefix() -> &'static str {
    "btclightclient/main/"
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use proptest::prelude::*;

    #[test]
    fn keys_are_under_the_module_prefix() {
        let h = BlockHash::all_zeros();
        for k in [
            params().to_string(),
            base().to_string(),
            tip().to_string(),
            header(&h),
            main_chain(0),
            main_chain(u64::MAX),
        ] {
            assert!(k.starts_with(PREFIX), "{k}");
        }
        assert!(header(&h).starts_with(headers_prefix()));
        assert!(main_chain(7).starts_with(main_chain_prefix()));
        assert_eq!(
            main_chain(u64::MAX),
            "btclightclient/main/18446744073709551615"
        );
        assert_eq!(main_chain(9), "btclightclient/main/00000000000000000009");
        // The header key shows the hash as bitcoind prints it.
        let genesis = bitcoin::constants::genesis_block(bitcoin::Network::Bitcoin).block_hash();
        assert_eq!(
            header(&genesis),
            "btclightclient/header/000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
    }

    #[test]
    fn height_keys_sort_numerically_at_the_edges() {
        let heights = [
            0u64,
            1,
            9,
            10,
            99,
            100,
            2015,
            2016,
            822_528,
            u64::MAX - 1,
            u64::MAX,
        ];
        for w in heights.windows(2) {
            assert!(main_chain(w[0]) < main_chain(w[1]), "{} vs {}", w[0], w[1]);
        }
    }

    proptest! {
        #[test]
        fn lexical_order_of_height_keys_is_numeric_order(a in any::<u64>(), b in any::<u64>()) {
            prop_assert_eq!(main_chain(a).cmp(&main_chain(b)), a.cmp(&b));
        }
    }
}
