//! Every key the checkpointing module writes. Keys are API: they change only through a
//! migration.
//!
//! Epochs and heights are zero-padded to 20 digits (`u64::MAX` has 20), so lexical key order is
//! numeric order. Addresses and keys are lower-case hex of fixed width.

use crate::checkpoint::CheckpointStatus;
use ballast_framework::ConsensusAddress;

/// Prefix of every key of this module.
pub const PREFIX: &str = "checkpointing/";

/// The module's params.
pub fn params() -> &'static str {
    "checkpointing/params"
}

/// The epoch configuration the app handed over (`EpochConfig`).
pub fn epoch_config() -> &'static str {
    "checkpointing/epoch_config"
}

/// The height of the block being executed (8 bytes big-endian), written at begin-block so that
/// light-client hooks can stamp lifecycle entries.
pub fn hub_height() -> &'static str {
    "checkpointing/hub_height"
}

/// The highest finalized epoch (8 bytes big-endian).
pub fn latest_finalized_epoch() -> &'static str {
    "checkpointing/latest_finalized_epoch"
}

/// A validator's BLS key (`BlsKeyRecord`).
pub fn bls_key(validator: &ConsensusAddress) -> String {
    format!("checkpointing/bls_key/{}", hex::encode(validator.0))
}

/// Prefix of every BLS key record.
pub fn bls_keys_prefix() -> &'static str {
    "checkpointing/bls_key/"
}

/// The validator (20 bytes) that registered a BLS key, by the key's 96 bytes in hex.
pub fn bls_key_owner(bls_pubkey: &[u8; 96]) -> String {
    format!("checkpointing/bls_key_owner/{}", hex::encode(bls_pubkey))
}

/// An epoch's validator snapshot (`ValidatorSnapshot`).
pub fn snapshot(epoch: u64) -> String {
    format!("checkpointing/snapshot/{epoch:020}")
}

/// An epoch's checkpoint (`CheckpointRecord`).
pub fn checkpoint(epoch: u64) -> String {
    format!("checkpointing/checkpoint/{epoch:020}")
}

/// Index of checkpoints by status: an empty value under the status and the epoch.
pub fn status_index(status: CheckpointStatus, epoch: u64) -> String {
    format!("checkpointing/status/{}/{epoch:020}", status.key_name())
}

/// Prefix of the index of one status.
pub fn status_index_prefix(status: CheckpointStatus) -> String {
    format!("checkpointing/status/{}/", status.key_name())
}

/// Index of finalized checkpoints by the Bitcoin height of their later block: the value is the
/// block hash (32 bytes, internal order). A reorg that rolls back that height un-finalizes
/// them, which halts the chain.
pub fn finalized_by_btc_height(btc_height: u64, epoch: u64) -> String {
    format!("checkpointing/finalized_btc/{btc_height:020}/{epoch:020}")
}

/// Prefix of the finalized checkpoints whose later block is at `btc_height`.
pub fn finalized_by_btc_height_prefix(btc_height: u64) -> String {
    format!("checkpointing/finalized_btc/{btc_height:020}/")
}

/// The epoch in the last 20 characters of an epoch-suffixed key.
pub fn epoch_from_key(key: &[u8]) -> Option<u64> {
    let tail = key.get(key.len().checked_sub(20)?..)?;
    std::str::from_utf8(tail).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_are_under_the_module_prefix_and_parse_back() {
        let v = ConsensusAddress([0xab; 20]);
        for k in [
            params().to_string(),
            epoch_config().to_string(),
            hub_height().to_string(),
            latest_finalized_epoch().to_string(),
            bls_key(&v),
            bls_key_owner(&[1; 96]),
            snapshot(1),
            checkpoint(u64::MAX),
            status_index(CheckpointStatus::Sealed, 3),
            finalized_by_btc_height(5, 6),
        ] {
            assert!(k.starts_with(PREFIX), "{k}");
        }
        assert_eq!(
            bls_key(&v),
            format!("checkpointing/bls_key/{}", "ab".repeat(20))
        );
        assert!(bls_key(&v).starts_with(bls_keys_prefix()));
        assert_eq!(
            checkpoint(9),
            "checkpointing/checkpoint/00000000000000000009"
        );
        assert_eq!(
            status_index(CheckpointStatus::Submitted, 12),
            "checkpointing/status/submitted/00000000000000000012"
        );
        assert!(status_index(CheckpointStatus::Sealed, 3)
            .starts_with(&status_index_prefix(CheckpointStatus::Sealed)));
        // Status prefixes do not nest into each other.
        for a in CheckpointStatus::ALL {
            for b in CheckpointStatus::ALL {
                if a != b {
                    assert!(!status_index(a, 1).starts_with(&status_index_prefix(b)));
                }
            }
        }
        assert!(finalized_by_btc_height(5, 6).starts_with(&finalized_by_btc_height_prefix(5)));
        assert!(!finalized_by_btc_height(50, 6).starts_with(&finalized_by_btc_height_prefix(5)));
        assert_eq!(
            epoch_from_key(checkpoint(u64::MAX).as_bytes()),
            Some(u64::MAX)
        );
        assert_eq!(
            epoch_from_key(finalized_by_btc_height(5, 77).as_bytes()),
            Some(77)
        );
        assert_eq!(epoch_from_key(b"short"), None);
    }

    proptest! {
        #[test]
        fn lexical_order_of_epoch_keys_is_numeric_order(a in any::<u64>(), b in any::<u64>()) {
            prop_assert_eq!(checkpoint(a).cmp(&checkpoint(b)), a.cmp(&b));
            prop_assert_eq!(
                status_index(CheckpointStatus::Finalized, a).cmp(&status_index(CheckpointStatus::Finalized, b)),
                a.cmp(&b)
            );
            prop_assert_eq!(snapshot(a).cmp(&snapshot(b)), a.cmp(&b));
        }
    }
}
