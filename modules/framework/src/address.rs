//! Account addresses: 20 bytes, shown as bech32 with the `ballast` prefix.

use bech32::{Bech32, Hrp};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// The bech32 prefix of account addresses.
pub const ACCOUNT_HRP: &str = "ballast";

/// A 20-byte account address (RIPEMD160(SHA256(pubkey)) for secp256k1 keys, as in Cosmos).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub [u8; 20]);

/// Why an address string or byte slice was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddressError {
    /// The string is not valid bech32.
    #[error("invalid bech32 address {addr:?}: {reason}")]
    Bech32 {
        /// The address as given.
        addr: String,
        /// What the decoder said.
        reason: String,
    },
    /// The bech32 prefix is not the expected one.
    #[error("wrong address prefix: expected {expected:?}, found {found:?}")]
    Prefix {
        /// Expected prefix.
        expected: String,
        /// Prefix found.
        found: String,
    },
    /// The payload is not 20 bytes.
    #[error("wrong address length: expected 20 bytes, found {0}")]
    Length(usize),
}

impl Address {
    /// The address of a module account: the first 20 bytes of SHA-256 over its name.
    pub fn module(name: &str) -> Self {
        let digest = Sha256::digest(name.as_bytes());
        let mut out = [0u8; 20];
        out.copy_from_slice(&digest[..20]);
        Address(out)
    }

    /// Builds an address from a 20-byte slice.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, AddressError> {
        let arr: [u8; 20] = bytes
            .try_into()
            .map_err(|_| AddressError::Length(bytes.len()))?;
        Ok(Address(arr))
    }

    /// Encodes with the given bech32 prefix.
    pub fn to_bech32(&self, hrp: &str) -> String {
        let hrp = Hrp::parse(hrp).expect("prefixes used by Ballast are valid bech32 hrps");
        bech32::encode::<Bech32>(hrp, &self.0).expect("a 20-byte payload always fits in bech32")
    }

    /// Decodes a bech32 address and checks its prefix.
    pub fn from_bech32(s: &str, expected_hrp: &str) -> Result<Self, AddressError> {
        let (hrp, data) = bech32::decode(s).map_err(|e| AddressError::Bech32 {
            addr: s.to_string(),
            reason: e.to_string(),
        })?;
        if hrp.as_str() != expected_hrp {
            return Err(AddressError::Prefix {
                expected: expected_hrp.to_string(),
                found: hrp.to_string(),
            });
        }
        Self::from_slice(&data)
    }

    /// Hex of the 20 bytes, as used in state keys.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_bech32(ACCOUNT_HRP))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_bech32(s, ACCOUNT_HRP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bech32_round_trip_and_prefix_check() {
        let a = Address([7u8; 20]);
        let s = a.to_string();
        assert!(s.starts_with("ballast1"));
        assert_eq!(s.parse::<Address>(), Ok(a));
        let other = a.to_bech32("cosmos");
        assert!(matches!(
            other.parse::<Address>(),
            Err(AddressError::Prefix { .. })
        ));
        assert!(matches!(
            "ballast1garbage".parse::<Address>(),
            Err(AddressError::Bech32 { .. })
        ));
    }

    #[test]
    fn wrong_length_is_rejected() {
        let hrp = Hrp::parse("ballast").unwrap();
        let s = bech32::encode::<Bech32>(hrp, &[1u8; 32]).unwrap();
        assert_eq!(s.parse::<Address>(), Err(AddressError::Length(32)));
    }

    #[test]
    fn module_address_matches_cosmos_derivation() {
        // Cosmos derives module accounts as sha256(name)[:20]; fee_collector's is well known.
        assert_eq!(
            Address::module("fee_collector").to_bech32("cosmos"),
            "cosmos17xpfvakm2amg962yls6f84z3kell8c5lserqta"
        );
    }
}
