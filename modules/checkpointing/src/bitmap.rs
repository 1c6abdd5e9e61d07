//! The 13-byte bitmap of a checkpoint: which validators of the epoch's snapshot signed.
//!
//! Bit `i` is bit `i % 8` (counted from the least significant) of byte `i / 8`, and stands for
//! the validator at position `i` of the snapshot (power descending, then address ascending).

use std::fmt;

/// Bytes in a bitmap.
pub const BITMAP_LEN: usize = 13;
/// Validators a bitmap can name.
pub const MAX_BITMAP_VALIDATORS: usize = BITMAP_LEN * 8;

/// Which validators of an epoch signed its checkpoint.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValidatorBitmap([u8; BITMAP_LEN]);

impl ValidatorBitmap {
    /// No validator.
    pub const fn empty() -> Self {
        ValidatorBitmap([0; BITMAP_LEN])
    }

    /// From the 13 raw bytes.
    pub const fn from_bytes(bytes: [u8; BITMAP_LEN]) -> Self {
        ValidatorBitmap(bytes)
    }

    /// The 13 raw bytes.
    pub const fn to_bytes(&self) -> [u8; BITMAP_LEN] {
        self.0
    }

    /// Marks position `i`; `false` when `i` is beyond the bitmap.
    pub fn set(&mut self, i: usize) -> bool {
        if i >= MAX_BITMAP_VALIDATORS {
            return false;
        }
        self.0[i / 8] |= 1 << (i % 8);
        true
    }

    /// Whether position `i` is marked.
    pub fn get(&self, i: usize) -> bool {
        i < MAX_BITMAP_VALIDATORS && self.0[i / 8] & (1 << (i % 8)) != 0
    }

    /// Marked positions, ascending.
    pub fn positions(&self) -> impl Iterator<Item = usize> + '_ {
        (0..MAX_BITMAP_VALIDATORS).filter(move |i| self.get(*i))
    }

    /// How many positions are marked.
    pub fn count(&self) -> usize {
        self.0.iter().map(|b| b.count_ones() as usize).sum()
    }

    /// The highest marked position.
    pub fn highest(&self) -> Option<usize> {
        (0..MAX_BITMAP_VALIDATORS).rev().find(|i| self.get(*i))
    }
}

impl fmt::Display for ValidatorBitmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ValidatorBitmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ValidatorBitmap({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_i_is_bit_i_mod_8_of_byte_i_div_8() {
        let mut b = ValidatorBitmap::empty();
        assert!(b.set(0));
        assert!(b.set(9));
        assert!(b.set(103));
        assert!(!b.set(104));
        let bytes = b.to_bytes();
        assert_eq!(bytes[0], 0b0000_0001);
        assert_eq!(bytes[1], 0b0000_0010);
        assert_eq!(bytes[12], 0b1000_0000);
        assert_eq!(b.positions().collect::<Vec<_>>(), vec![0, 9, 103]);
        assert_eq!(b.count(), 3);
        assert_eq!(b.highest(), Some(103));
        assert!(!b.get(104) && !b.get(1) && b.get(9));
        assert_eq!(ValidatorBitmap::from_bytes(bytes), b);
        assert_eq!(ValidatorBitmap::empty().highest(), None);
    }
}
