//! 256-bit arithmetic for targets and cumulative work.
//!
//! `bitcoin`'s own 256-bit integer is private, and its public `Work` addition only
//! `debug_assert`s against overflow, so the light client keeps a small checked integer of its own
//! and converts at the edges.

use std::fmt;
use std::str::FromStr;

/// An unsigned 256-bit integer; limbs are most significant first, so the derived `Ord` is the
/// numeric order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct U256([u64; 4]);

impl U256 {
    pub(crate) const ZERO: U256 = U256([0; 4]);

    pub(crate) fn from_u64(v: u64) -> U256 {
        U256([0, 0, 0, v])
    }

    pub(crate) fn from_be_bytes(b: [u8; 32]) -> U256 {
        let mut limbs = [0u64; 4];
        for (i, limb) in limbs.iter_mut().enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i * 8..i * 8 + 8]);
            *limb = u64::from_be_bytes(w);
        }
        U256(limbs)
    }

    pub(crate) fn from_le_bytes(mut b: [u8; 32]) -> U256 {
        b.reverse();
        U256::from_be_bytes(b)
    }

    pub(crate) fn to_be_bytes(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, limb) in self.0.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&limb.to_be_bytes());
        }
        out
    }

    pub(crate) fn is_zero(self) -> bool {
        self == U256::ZERO
    }

    pub(crate) fn checked_add(self, rhs: U256) -> Option<U256> {
        let mut out = [0u64; 4];
        let mut carry = 0u64;
        for i in (0..4).rev() {
            let (s1, c1) = self.0[i].overflowing_add(rhs.0[i]);
            let (s2, c2) = s1.overflowing_add(carry);
            out[i] = s2;
            carry = u64::from(c1) + u64::from(c2);
        }
        (carry == 0).then_some(U256(out))
    }

    pub(crate) fn checked_mul_u64(self, m: u64) -> Option<U256> {
        let mut out = [0u64; 4];
        let mut carry = 0u128;
        for i in (0..4).rev() {
            let p = u128::from(self.0[i]) * u128::from(m) + carry;
            // Truncation to the low 64 bits is the point: the high bits carry on.
            out[i] = (p & u128::from(u64::MAX)) as u64;
            carry = p >> 64;
        }
        (carry == 0).then_some(U256(out))
    }

    /// Quotient and remainder by a non-zero `d`.
    pub(crate) fn div_rem_u64(self, d: u64) -> (U256, u64) {
        debug_assert!(d != 0, "callers divide by non-zero constants");
        let d = u128::from(d.max(1));
        let mut out = [0u64; 4];
        let mut rem = 0u128;
        for (o, limb) in out.iter_mut().zip(self.0) {
            let cur = (rem << 64) | u128::from(limb);
            // cur < d * 2^64, so the quotient fits in 64 bits.
            *o = (cur / d) as u64;
            rem = cur % d;
        }
        // rem < d ≤ u64::MAX.
        (U256(out), rem as u64)
    }

    pub(crate) fn checked_add_u64(self, v: u64) -> Option<U256> {
        self.checked_add(U256::from_u64(v))
    }
}

impl fmt::Display for U256 {
    /// Decimal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        const CHUNK: u64 = 10_000_000_000_000_000_000; // 10^19, the largest power of 10 in a u64
        let mut chunks = Vec::new();
        let mut v = *self;
        while !v.is_zero() {
            let (q, r) = v.div_rem_u64(CHUNK);
            chunks.push(r);
            v = q;
        }
        let mut s = String::new();
        for (i, c) in chunks.iter().rev().enumerate() {
            if i == 0 {
                s.push_str(&c.to_string());
            } else {
                s.push_str(&format!("{c:019}"));
            }
        }
        f.write_str(&s)
    }
}

impl fmt::LowerHex for U256 {
    /// 64 hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.to_be_bytes()))
    }
}

/// Why a work string did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainWorkParseError {
    /// The string is empty.
    #[error("empty work string")]
    Empty,
    /// A character is not a digit of the base.
    #[error("invalid digit {0:?} in work string")]
    InvalidDigit(char),
    /// The value does not fit in 256 bits.
    #[error("work does not fit in 256 bits")]
    Overflow,
}

/// Cumulative proof of work of a chain up to and including a header: the expected number of
/// hashes, as Bitcoin Core's `chainwork`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChainWork(pub(crate) U256);

impl ChainWork {
    /// No work.
    pub const ZERO: ChainWork = ChainWork(U256::ZERO);

    /// From 32 big-endian bytes.
    pub fn from_be_bytes(b: [u8; 32]) -> ChainWork {
        ChainWork(U256::from_be_bytes(b))
    }

    /// To 32 big-endian bytes.
    pub fn to_be_bytes(self) -> [u8; 32] {
        self.0.to_be_bytes()
    }

    /// `self + rhs`, or `None` past 2^256 - 1.
    pub fn checked_add(self, rhs: ChainWork) -> Option<ChainWork> {
        self.0.checked_add(rhs.0).map(ChainWork)
    }

    /// The work of one header with this target: `2^256 / (target + 1)`, as Bitcoin Core's
    /// `GetBlockProof`. The target must be non-zero (the caller has validated it).
    pub(crate) fn from_target(target: U256) -> ChainWork {
        let work = bitcoin::pow::Target::from_be_bytes(target.to_be_bytes()).to_work();
        ChainWork(U256::from_be_bytes(work.to_be_bytes()))
    }
}

impl From<bitcoin::pow::Work> for ChainWork {
    fn from(w: bitcoin::pow::Work) -> Self {
        ChainWork(U256::from_be_bytes(w.to_be_bytes()))
    }
}

impl fmt::Display for ChainWork {
    /// Decimal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::LowerHex for ChainWork {
    /// 64 hex digits, as bitcoind prints `chainwork`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

impl FromStr for ChainWork {
    type Err = ChainWorkParseError;

    /// Accepts a `0x`-prefixed hex integer, exactly 64 hex digits (bitcoind's `chainwork`), or a
    /// decimal integer. A 64-character all-digit string is read as hex: as a decimal it would be
    /// at least 10^63, far above any real chain's work.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or(s.strip_prefix("0X")) {
            (h, 16u64)
        } else if s.len() == 64 {
            (s, 16)
        } else {
            (s, 10)
        };
        if digits.is_empty() {
            return Err(ChainWorkParseError::Empty);
        }
        let mut v = U256::ZERO;
        for c in digits.chars() {
            let d = c
                .to_digit(radix as u32)
                .ok_or(ChainWorkParseError::InvalidDigit(c))?;
            v = v
                .checked_mul_u64(radix)
                .and_then(|v| v.checked_add_u64(u64::from(d)))
                .ok_or(ChainWorkParseError::Overflow)?;
        }
        Ok(ChainWork(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn from_u128(v: u128) -> U256 {
        U256([0, 0, (v >> 64) as u64, v as u64])
    }

    #[test]
    fn parses_decimal_prefixed_hex_and_bitcoind_chainwork() {
        let genesis_work = "4295032833"; // 0x100010001, mainnet genesis chainwork
        let a: ChainWork = genesis_work.parse().unwrap();
        let b: ChainWork = "0x100010001".parse().unwrap();
        let c: ChainWork = "0000000000000000000000000000000000000000000000000000000100010001"
            .parse()
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.to_string(), genesis_work);
        assert_eq!(
            format!("{a:x}"),
            "0000000000000000000000000000000000000000000000000000000100010001"
        );
        assert_eq!("".parse::<ChainWork>(), Err(ChainWorkParseError::Empty));
        assert_eq!("0x".parse::<ChainWork>(), Err(ChainWorkParseError::Empty));
        assert_eq!(
            "12a".parse::<ChainWork>(),
            Err(ChainWorkParseError::InvalidDigit('a'))
        );
        assert_eq!(
            "-1".parse::<ChainWork>(),
            Err(ChainWorkParseError::InvalidDigit('-'))
        );
        let max = format!("0x{}", "f".repeat(64));
        assert!(max.parse::<ChainWork>().is_ok());
        assert_eq!(
            format!("0x1{}", "0".repeat(64)).parse::<ChainWork>(),
            Err(ChainWorkParseError::Overflow)
        );
        // 2^256 in decimal overflows; 2^256 - 1 does not.
        let two_256_minus_1 =
            "115792089237316195423570985008687907853269984665640564039457584007913129639935";
        let two_256 =
            "115792089237316195423570985008687907853269984665640564039457584007913129639936";
        assert_eq!(
            two_256_minus_1.parse::<ChainWork>().unwrap().to_be_bytes(),
            [0xff; 32]
        );
        assert_eq!(
            two_256.parse::<ChainWork>(),
            Err(ChainWorkParseError::Overflow)
        );
    }

    #[test]
    fn add_and_mul_report_overflow() {
        let max = U256([u64::MAX; 4]);
        assert_eq!(max.checked_add(U256::from_u64(1)), None);
        assert_eq!(max.checked_mul_u64(2), None);
        assert_eq!(
            U256([0, 0, 0, u64::MAX]).checked_add(U256::from_u64(1)),
            Some(U256([0, 0, 1, 0]))
        );
    }

    proptest! {
        /// Against u128 arithmetic where it applies.
        #[test]
        fn matches_u128_arithmetic(a in any::<u64>(), b in any::<u64>(), c in 1u64..) {
            let (a128, b128) = (u128::from(a), u128::from(b));
            prop_assert_eq!(from_u128(a128).checked_add(from_u128(b128)), Some(from_u128(a128 + b128)));
            prop_assert_eq!(from_u128(a128).checked_mul_u64(b), Some(from_u128(a128 * b128)));
            let big = (a128 << 64) | b128;
            let (q, r) = from_u128(big).div_rem_u64(c);
            prop_assert_eq!(q, from_u128(big / u128::from(c)));
            prop_assert_eq!(u128::from(r), big % u128::from(c));
            prop_assert_eq!(from_u128(big).to_string(), big.to_string());
            prop_assert_eq!(big.to_string().parse::<ChainWork>().unwrap().0, from_u128(big));
            prop_assert_eq!(from_u128(a128) < from_u128(b128), a < b);
        }

        #[test]
        fn byte_round_trips(bytes in any::<[u8; 32]>()) {
            let v = U256::from_be_bytes(bytes);
            prop_assert_eq!(v.to_be_bytes(), bytes);
            let mut le = bytes;
            le.reverse();
            prop_assert_eq!(U256::from_le_bytes(le), v);
            prop_assert_eq!(v.to_string().parse::<ChainWork>().unwrap().0, v);
        }
    }
}
