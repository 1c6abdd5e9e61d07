//! Difficulty rules: compact targets, the bits a header must carry (retargets, the testnet
//! min-difficulty rule, BIP94), and the proof-of-work check. These follow Bitcoin Core's
//! `pow.cpp` (`GetNextWorkRequired`, `CalculateNextWorkRequired`, `CheckProofOfWork`).

use crate::network::{BtcNetwork, RETARGET_INTERVAL, TARGET_SPACING, TARGET_TIMESPAN};
use crate::work::U256;

/// Why a compact target is not a usable target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CompactTargetError {
    /// The sign bit is set on a non-zero mantissa.
    #[error("compact target {0:#010x} is negative")]
    Negative(u32),
    /// The target does not fit in 256 bits.
    #[error("compact target {0:#010x} overflows 256 bits")]
    Overflow(u32),
    /// The target is zero.
    #[error("compact target {0:#010x} is zero")]
    Zero(u32),
}

/// Decodes a compact target (`nBits`) as Bitcoin Core's `arith_uint256::SetCompact` does,
/// rejecting negative, overflowing and zero targets (which `CheckProofOfWork` rejects).
pub(crate) fn decode_compact(bits: u32) -> Result<U256, CompactTargetError> {
    let size = bits >> 24;
    let word = bits & 0x007f_ffff;
    if word != 0 && bits & 0x0080_0000 != 0 {
        return Err(CompactTargetError::Negative(bits));
    }
    let mut out = [0u8; 32];
    if size <= 3 {
        let v = word >> (8 * (3 - size));
        out[28..].copy_from_slice(&v.to_be_bytes());
    } else {
        // Mantissa byte k (k = 0 least significant) lands at byte position size - 3 + k,
        // counted from the least significant end.
        for k in 0..3u32 {
            let byte = ((word >> (8 * k)) & 0xff) as u8;
            let pos = (size - 3 + k) as usize;
            if pos < 32 {
                out[31 - pos] = byte;
            } else if byte != 0 {
                return Err(CompactTargetError::Overflow(bits));
            }
        }
    }
    let v = U256::from_be_bytes(out);
    if v.is_zero() {
        return Err(CompactTargetError::Zero(bits));
    }
    Ok(v)
}

/// Encodes a target as compact bits (Bitcoin Core's `GetCompact`, for non-negative values).
pub(crate) fn encode_compact(target: U256) -> u32 {
    bitcoin::pow::Target::from_be_bytes(target.to_be_bytes())
        .to_compact_lossy()
        .to_consensus()
}

/// What the difficulty rules need to know about the parent of a new header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParentInfo {
    /// The parent's height.
    pub height: u64,
    /// The parent's timestamp.
    pub time: u32,
    /// The parent's bits.
    pub bits: u32,
    /// Timestamp of the first header of the parent's retarget period.
    pub period_start_time: u32,
    /// Bits of the first header of the parent's retarget period.
    pub period_start_bits: u32,
    /// The bits of the parent or of its nearest ancestor that is not a min-difficulty header
    /// (stopping at a period start or the base header).
    pub last_regular_bits: u32,
}

/// The bits a header at `parent.height + 1` with timestamp `time` must carry on `network`
/// (Bitcoin Core's `GetNextWorkRequired`).
pub fn next_bits(network: BtcNetwork, parent: &ParentInfo, time: u32) -> u32 {
    let rules = network.rules();
    let height = parent.height.saturating_add(1);
    if !height.is_multiple_of(RETARGET_INTERVAL) {
        if rules.allow_min_difficulty {
            // A header more than twice the target spacing after its parent may be mined at the
            // minimum difficulty; otherwise it carries the last regular difficulty.
            if i64::from(time) > i64::from(parent.time) + 2 * TARGET_SPACING as i64 {
                return rules.pow_limit_bits;
            }
            return parent.last_regular_bits;
        }
        return parent.bits;
    }
    if rules.no_retargeting {
        return parent.bits;
    }
    let start_bits = if rules.enforce_bip94 {
        parent.period_start_bits
    } else {
        parent.bits
    };
    let timespan = i64::from(parent.time) - i64::from(parent.period_start_time);
    retarget(network, start_bits, timespan)
}

/// The new compact target after a period that took `timespan` seconds, starting from
/// `start_bits` (Bitcoin Core's `CalculateNextWorkRequired`): the timespan is clamped to a
/// quarter and four times the two weeks, and the result to the network's PoW limit.
pub fn retarget(network: BtcNetwork, start_bits: u32, timespan: i64) -> u32 {
    let limit = network.pow_limit();
    let quarter = (TARGET_TIMESPAN / 4) as i64;
    let quadruple = (TARGET_TIMESPAN * 4) as i64;
    // The clamp makes the timespan positive and small.
    let timespan = timespan.clamp(quarter, quadruple).unsigned_abs();
    // Stored bits were validated when their header was accepted; an invalid start (impossible on
    // a consistent chain) is treated as the easiest target, which a real header then fails.
    let start = decode_compact(start_bits).unwrap_or(limit);
    let new = match start.checked_mul_u64(timespan) {
        Some(v) => v.div_rem_u64(TARGET_TIMESPAN).0,
        // Past 2^256 is past every limit.
        None => limit,
    };
    encode_compact(if new > limit { limit } else { new })
}

/// Whether `hash` (a block hash in its internal little-endian byte order) is at most `target`.
pub(crate) fn hash_meets_target(hash: &bitcoin::BlockHash, target: U256) -> bool {
    use bitcoin::hashes::Hash;
    U256::from_le_bytes(hash.to_byte_array()) <= target
}

/// The target for `bits` on `network`, if `bits` is a valid positive target within the PoW
/// limit (Bitcoin Core's `CheckProofOfWork` range check).
pub(crate) fn checked_target(network: BtcNetwork, bits: u32) -> Result<U256, PowTargetError> {
    let target = decode_compact(bits).map_err(PowTargetError::Invalid)?;
    if target > network.pow_limit() {
        return Err(PowTargetError::AboveLimit {
            bits,
            limit: network.rules().pow_limit_bits,
        });
    }
    Ok(target)
}

/// A target outside the range a network allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PowTargetError {
    /// Not a positive 256-bit target.
    #[error(transparent)]
    Invalid(CompactTargetError),
    /// Easier than the network allows.
    #[error("target {bits:#010x} is above the network's limit {limit:#010x}")]
    AboveLimit {
        /// The bits.
        bits: u32,
        /// The limit's bits.
        limit: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::pow::CompactTarget;
    use proptest::prelude::*;

    #[test]
    fn decode_matches_core_edge_cases() {
        // Values from Bitcoin Core's arith_uint256 SetCompact tests.
        assert_eq!(decode_compact(0), Err(CompactTargetError::Zero(0)));
        assert_eq!(
            decode_compact(0x0012_3456),
            Err(CompactTargetError::Zero(0x0012_3456))
        );
        assert_eq!(decode_compact(0x0112_3456).unwrap(), U256::from_u64(0x12));
        assert_eq!(decode_compact(0x0212_3456).unwrap(), U256::from_u64(0x1234));
        assert_eq!(
            decode_compact(0x0312_3456).unwrap(),
            U256::from_u64(0x12_3456)
        );
        assert_eq!(
            decode_compact(0x0412_3456).unwrap(),
            U256::from_u64(0x1234_5600)
        );
        assert_eq!(
            decode_compact(0x0492_3456),
            Err(CompactTargetError::Negative(0x0492_3456))
        );
        assert_eq!(
            decode_compact(0x0500_9234).unwrap(),
            U256::from_u64(0x9234_0000)
        );
        assert_eq!(
            decode_compact(0xff12_3456),
            Err(CompactTargetError::Overflow(0xff12_3456))
        );
        // 0x20 size with a full mantissa fits exactly; 0x21 with a 2-byte mantissa does not.
        assert!(decode_compact(0x207f_ffff).is_ok());
        assert_eq!(
            decode_compact(0x2101_0000),
            Err(CompactTargetError::Overflow(0x2101_0000))
        );
        // A size-0x22 target whose only set byte still fits.
        assert!(decode_compact(0x2200_0001).is_ok());
    }

    proptest! {
        /// Where the bitcoin crate decodes a valid target, both decoders agree, and encoding
        /// round-trips canonical bits.
        #[test]
        fn decode_agrees_with_the_bitcoin_crate(size in 0u32..=0x20, mantissa in 0u32..0x0080_0000) {
            let bits = (size << 24) | mantissa;
            let theirs = bitcoin::pow::Target::from_compact(CompactTarget::from_consensus(bits));
            match decode_compact(bits) {
                Ok(ours) => {
                    prop_assert_eq!(ours.to_be_bytes(), theirs.to_be_bytes());
                    let re = encode_compact(ours);
                    prop_assert_eq!(decode_compact(re).unwrap(), ours);
                }
                Err(CompactTargetError::Zero(_)) => prop_assert_eq!(theirs, bitcoin::pow::Target::ZERO),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }

        /// Retargets agree with `bitcoin::CompactTarget::from_next_work_required` for every
        /// timespan the bitcoin crate accepts (it takes no negative timespans).
        #[test]
        fn retarget_agrees_with_the_bitcoin_crate(
            net in prop::sample::select(vec![BtcNetwork::Mainnet, BtcNetwork::Testnet3, BtcNetwork::Testnet4, BtcNetwork::Signet]),
            exp in 0x17u32..=0x1d,
            mantissa in 0x8000u32..0x0080_0000,
            timespan in 0i64..(TARGET_TIMESPAN as i64 * 6),
        ) {
            let bits = (exp << 24) | mantissa;
            prop_assume!(checked_target(net, bits).is_ok());
            let p = bitcoin::params::Params::new(net.to_bitcoin());
            let theirs = CompactTarget::from_next_work_required(
                CompactTarget::from_consensus(bits), timespan as u64, &p);
            prop_assert_eq!(retarget(net, bits, timespan), theirs.to_consensus());
        }
    }

    #[test]
    fn negative_timespans_clamp_to_a_quarter() {
        let bits = 0x1b04_864c;
        assert_eq!(
            retarget(BtcNetwork::Mainnet, bits, -5_000_000),
            retarget(BtcNetwork::Mainnet, bits, 0)
        );
        assert_eq!(
            retarget(BtcNetwork::Mainnet, bits, 0),
            retarget(BtcNetwork::Mainnet, bits, (TARGET_TIMESPAN / 4) as i64)
        );
    }

    fn parent(height: u64, time: u32, bits: u32, last_regular_bits: u32) -> ParentInfo {
        ParentInfo {
            height,
            time,
            bits,
            period_start_time: 1_000_000,
            period_start_bits: 0x1c00_8000,
            last_regular_bits,
        }
    }

    #[test]
    fn mainnet_and_signet_keep_bits_inside_a_period_whatever_the_time() {
        for net in [BtcNetwork::Mainnet, BtcNetwork::Signet] {
            let p = parent(100, 2_000_000, 0x1c00_4000, 0x1c00_4000);
            assert_eq!(next_bits(net, &p, 2_000_001), 0x1c00_4000);
            assert_eq!(next_bits(net, &p, 2_100_000), 0x1c00_4000);
        }
    }

    #[test]
    fn testnet_min_difficulty_rule_needs_more_than_twenty_minutes() {
        for net in [BtcNetwork::Testnet3, BtcNetwork::Testnet4] {
            // The parent is itself a min-difficulty header; the last regular bits are older.
            let p = parent(100, 2_000_000, 0x1d00_ffff, 0x1c00_4000);
            assert_eq!(next_bits(net, &p, 2_000_000 + 1200), 0x1c00_4000, "{net}");
            assert_eq!(next_bits(net, &p, 2_000_000 + 1201), 0x1d00_ffff, "{net}");
            // A timestamp before the parent's never qualifies.
            assert_eq!(next_bits(net, &p, 1_000_000), 0x1c00_4000, "{net}");
        }
    }

    #[test]
    fn testnet3_retargets_from_the_last_header_and_testnet4_from_the_first() {
        // The period's last header is a min-difficulty one (0x1d00ffff), the period started at
        // 0x1c008000; the period took exactly two weeks, so the target is unchanged from the
        // base the rule picks.
        let p = ParentInfo {
            height: 4031,
            time: 1_000_000 + TARGET_TIMESPAN as u32,
            bits: 0x1d00_ffff,
            period_start_time: 1_000_000,
            period_start_bits: 0x1c00_8000,
            last_regular_bits: 0x1c00_8000,
        };
        // Testnet3 (Bitcoin Core before BIP94): the min-difficulty bits of the last header.
        assert_eq!(next_bits(BtcNetwork::Testnet3, &p, p.time + 1), 0x1d00_ffff);
        // Testnet4: the first header's bits.
        assert_eq!(next_bits(BtcNetwork::Testnet4, &p, p.time + 1), 0x1c00_8000);
        // The 20-minute rule does not apply at a period boundary.
        assert_eq!(
            next_bits(BtcNetwork::Testnet4, &p, p.time + 10_000),
            0x1c00_8000
        );
    }

    #[test]
    fn regtest_never_retargets() {
        let p = ParentInfo {
            height: 2015,
            time: 1_000,
            bits: 0x207f_ffff,
            period_start_time: 0,
            period_start_bits: 0x207f_ffff,
            last_regular_bits: 0x207f_ffff,
        };
        assert_eq!(next_bits(BtcNetwork::Regtest, &p, 5_000_000), 0x207f_ffff);
        assert_eq!(next_bits(BtcNetwork::Regtest, &p, 1_001), 0x207f_ffff);
    }

    #[test]
    fn targets_above_the_limit_are_rejected() {
        assert!(checked_target(BtcNetwork::Mainnet, 0x1d00_ffff).is_ok());
        assert_eq!(
            checked_target(BtcNetwork::Mainnet, 0x1d01_0000),
            Err(PowTargetError::AboveLimit {
                bits: 0x1d01_0000,
                limit: 0x1d00_ffff
            })
        );
        assert!(checked_target(BtcNetwork::Regtest, 0x207f_ffff).is_ok());
        assert!(checked_target(BtcNetwork::Signet, 0x1e03_77ae).is_ok());
        assert!(checked_target(BtcNetwork::Signet, 0x1e03_77af).is_err());
        assert!(matches!(
            checked_target(BtcNetwork::Mainnet, 0x0180_0001),
            Err(PowTargetError::Invalid(CompactTargetError::Negative(_)))
        ));
    }
}
