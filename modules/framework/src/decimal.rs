//! Fixed-point decimals for rates and prices. Never floats in state-machine code.

use std::fmt;
use std::str::FromStr;

/// An unsigned decimal with 18 fractional digits, stored as an integer scaled by 10^18.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Decimal(u128);

/// Why a decimal could not be parsed or computed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecimalError {
    /// The string is not a plain decimal number.
    #[error(
        "invalid decimal {0:?}: expected digits with an optional fraction of at most 18 digits"
    )]
    Parse(String),
    /// The result does not fit.
    #[error("decimal overflow")]
    Overflow,
}

impl Decimal {
    /// Number of fractional digits.
    pub const PRECISION: u32 = 18;
    const SCALE: u128 = 1_000_000_000_000_000_000;

    /// Zero.
    pub const ZERO: Decimal = Decimal(0);
    /// One.
    pub const ONE: Decimal = Decimal(Self::SCALE);

    /// From the raw scaled integer (value × 10^18).
    pub const fn from_atomics(raw: u128) -> Self {
        Decimal(raw)
    }

    /// The raw scaled integer.
    pub const fn atomics(self) -> u128 {
        self.0
    }

    /// A whole number.
    pub fn from_int(n: u128) -> Result<Self, DecimalError> {
        n.checked_mul(Self::SCALE)
            .map(Decimal)
            .ok_or(DecimalError::Overflow)
    }

    /// Whether this is zero.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self × n`, rounded down.
    pub fn mul_int_floor(self, n: u128) -> Result<u128, DecimalError> {
        let (hi, lo) = mul_wide(self.0, n);
        div_wide(hi, lo, Self::SCALE).map(|(q, _)| q)
    }

    /// `self × n`, rounded up.
    pub fn mul_int_ceil(self, n: u128) -> Result<u128, DecimalError> {
        let (hi, lo) = mul_wide(self.0, n);
        let (q, r) = div_wide(hi, lo, Self::SCALE)?;
        if r == 0 {
            Ok(q)
        } else {
            q.checked_add(1).ok_or(DecimalError::Overflow)
        }
    }

    /// `self + other`.
    pub fn checked_add(self, other: Decimal) -> Result<Decimal, DecimalError> {
        self.0
            .checked_add(other.0)
            .map(Decimal)
            .ok_or(DecimalError::Overflow)
    }
}

/// 128×128 → 256-bit product as (high, low).
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    const MASK: u128 = u64::MAX as u128;
    let (a_hi, a_lo) = (a >> 64, a & MASK);
    let (b_hi, b_lo) = (b >> 64, b & MASK);
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let hi_hi = a_hi * b_hi;
    let mid = (lo_lo >> 64) + (hi_lo & MASK) + (lo_hi & MASK);
    let low = (mid << 64) | (lo_lo & MASK);
    let high = hi_hi + (hi_lo >> 64) + (lo_hi >> 64) + (mid >> 64);
    (high, low)
}

/// 256-bit (high, low) divided by a 128-bit divisor; errors when the quotient exceeds u128.
fn div_wide(high: u128, low: u128, d: u128) -> Result<(u128, u128), DecimalError> {
    if high >= d {
        return Err(DecimalError::Overflow);
    }
    // Shift-subtract long division, one bit at a time (256 steps at most; only used on amounts).
    let mut rem = high;
    let mut q: u128 = 0;
    for i in (0..128).rev() {
        let carry = rem >> 127;
        rem = (rem << 1) | ((low >> i) & 1);
        q <<= 1;
        if carry == 1 || rem >= d {
            rem = rem.wrapping_sub(d);
            q |= 1;
        }
    }
    Ok((q, rem))
}

impl FromStr for Decimal {
    type Err = DecimalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DecimalError::Parse(s.to_string());
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        if frac.len() > Self::PRECISION as usize || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        if s.contains('.') && frac.is_empty() {
            return Err(err());
        }
        let int: u128 = int.parse().map_err(|_| err())?;
        let mut frac_val: u128 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| err())?
        };
        for _ in frac.len()..Self::PRECISION as usize {
            frac_val *= 10;
        }
        int.checked_mul(Self::SCALE)
            .and_then(|v| v.checked_add(frac_val))
            .map(Decimal)
            .ok_or(DecimalError::Overflow)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let int = self.0 / Self::SCALE;
        let frac = self.0 % Self::SCALE;
        if frac == 0 {
            return write!(f, "{int}");
        }
        let s = format!("{frac:018}");
        write!(f, "{int}.{}", s.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_and_display() {
        let d: Decimal = "0.025".parse().unwrap();
        assert_eq!(d.atomics(), 25_000_000_000_000_000);
        assert_eq!(d.to_string(), "0.025");
        assert_eq!("3".parse::<Decimal>().unwrap().to_string(), "3");
        for bad in [
            "",
            ".5",
            "5.",
            "-1",
            "1e5",
            "0.1234567890123456789",
            "abc",
            "1.2.3",
        ] {
            assert!(bad.parse::<Decimal>().is_err(), "{bad} must not parse");
        }
    }

    #[test]
    fn rounding() {
        let d: Decimal = "0.025".parse().unwrap();
        assert_eq!(d.mul_int_ceil(200_000).unwrap(), 5_000);
        assert_eq!(d.mul_int_ceil(1).unwrap(), 1);
        assert_eq!(d.mul_int_floor(1).unwrap(), 0);
        assert_eq!(Decimal::ONE.mul_int_floor(u128::MAX).unwrap(), u128::MAX);
        assert_eq!(
            Decimal::from_int(2).unwrap().mul_int_floor(u128::MAX),
            Err(DecimalError::Overflow)
        );
    }

    proptest! {
        #[test]
        fn wide_mul_matches_narrow(a in 0u128..(1u128 << 100), b in 0u64..u64::MAX) {
            let d = Decimal::from_atomics(a);
            let exact = a.checked_mul(b as u128);
            if let Some(p) = exact {
                prop_assert_eq!(d.mul_int_floor(b as u128).unwrap(), p / Decimal::SCALE);
                let ceil = p / Decimal::SCALE + u128::from(p % Decimal::SCALE != 0);
                prop_assert_eq!(d.mul_int_ceil(b as u128).unwrap(), ceil);
            }
        }
    }
}
