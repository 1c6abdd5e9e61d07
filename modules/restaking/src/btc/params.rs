//! The rules BTC delegations are checked against, as plain Rust values, and the slashing
//! rate as a fixed-point decimal.
//!
//! - [`SlashingRate`] parses decimal text ("0.25") without floats and computes
//!   `rate × value` rounded half up ([`SlashingRate::slashed_amount`]).
//! - [`BtcStakingParams`] holds the covenant committee, quorum, value and time bounds,
//!   unbonding time and fee, slashing rate, least slashing fee and slashing output script;
//!   [`BtcStakingParams::validate`] checks they are consistent.
//! - [`parse_network`] reads a Bitcoin network name.

use std::fmt;
use std::str::FromStr;

use bitcoin::secp256k1::XOnlyPublicKey;
use bitcoin::{Network, ScriptBuf};

use super::error::BtcStakingError;

/// Most a relative timelock in blocks may be (a CSV block count is 16 bits).
pub const MAX_TIMELOCK_BLOCKS: u32 = 65_535;

/// Most satoshis that can exist.
pub const MAX_MONEY_SAT: u64 = 21_000_000 * 100_000_000;

/// A slashing rate strictly between 0 and 1, stored as an integer scaled by 10^18 (the same
/// scale as the state machine's decimals). Rates with more than 4 fractional digits are
/// refused, as Babylon does, so that every staking tool computes the same slashing amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlashingRate(u64);

impl SlashingRate {
    /// Number of fractional digits of the scale.
    pub const PRECISION: u32 = 18;
    /// 10^18.
    pub const SCALE: u64 = 1_000_000_000_000_000_000;
    /// Most fractional digits a valid rate may have.
    pub const MAX_FRACTION_DIGITS: u32 = 4;

    /// From the raw scaled integer (rate × 10^18). Checks the range and digits.
    pub fn from_atomics(raw: u64) -> Result<Self, BtcStakingError> {
        let rate = SlashingRate(raw);
        let step = Self::SCALE / 10u64.pow(Self::MAX_FRACTION_DIGITS);
        if raw == 0 || raw >= Self::SCALE || !raw.is_multiple_of(step) {
            return Err(BtcStakingError::InvalidSlashingRate {
                found: rate.to_string(),
            });
        }
        Ok(rate)
    }

    /// The raw scaled integer (rate × 10^18).
    pub fn atomics(self) -> u64 {
        self.0
    }

    /// `rate × value_sat`, rounded half up (`floor(rate × value + 1/2)`), which is what
    /// Babylon's staking library computes for output 0 of a slashing tx.
    pub fn slashed_amount(self, value_sat: u64) -> u64 {
        let scale = u128::from(Self::SCALE);
        let product = u128::from(self.0) * u128::from(value_sat);
        let rounded = (product + scale / 2) / scale;
        // rate < 1, so the result is at most value_sat.
        u64::try_from(rounded).expect("rate below one times a u64 fits in a u64")
    }
}

impl FromStr for SlashingRate {
    type Err = BtcStakingError;

    /// Parses plain decimal text such as `0.25` or `.1` (no sign, no exponent).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BtcStakingError::InvalidSlashingRate {
            found: s.to_string(),
        };
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || (s.contains('.') && frac.is_empty())
        {
            return Err(bad());
        }
        // The integer part must be zero: the rate is below one.
        if !int.bytes().all(|b| b == b'0') {
            return Err(bad());
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > Self::PRECISION as usize {
            return Err(bad());
        }
        let mut raw: u64 = 0;
        for b in frac.bytes() {
            raw = raw * 10 + u64::from(b - b'0');
        }
        let pad = Self::PRECISION - u32::try_from(frac.len()).map_err(|_| bad())?;
        raw *= 10u64.pow(pad);
        Self::from_atomics(raw).map_err(|_| bad())
    }
}

impl fmt::Display for SlashingRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let int = self.0 / Self::SCALE;
        let frac = self.0 % Self::SCALE;
        if frac == 0 {
            return write!(f, "{int}");
        }
        let digits = format!("{frac:018}");
        write!(f, "{int}.{}", digits.trim_end_matches('0'))
    }
}

/// The rules a BTC delegation is checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BtcStakingParams {
    /// Covenant committee (BIP-340 x-only keys, distinct; scripts sort them).
    pub covenant_pks: Vec<XOnlyPublicKey>,
    /// Covenant signatures needed (1 to the committee size).
    pub covenant_quorum: u32,
    /// Least staking value.
    pub min_staking_value_sat: u64,
    /// Most staking value.
    pub max_staking_value_sat: u64,
    /// Least staking timelock, in blocks.
    pub min_staking_time: u32,
    /// Most staking timelock, in blocks (at most 65535).
    pub max_staking_time: u32,
    /// Timelock of the unbonding output and of the slashing change output, in blocks.
    pub unbonding_time: u32,
    /// Exact fee of the unbonding tx.
    pub unbonding_fee_sat: u64,
    /// Share of the spent value that a slashing tx sends to `slashing_pk_script`.
    pub slashing_rate: SlashingRate,
    /// Least fee of a slashing tx.
    pub min_slashing_tx_fee_sat: u64,
    /// Output script that receives the slashed share.
    pub slashing_pk_script: ScriptBuf,
}

impl BtcStakingParams {
    /// Checks that the params are consistent: distinct covenant keys, a quorum from 1 to the
    /// committee size, timelocks that are CSV block counts, value bounds in order and within
    /// the money supply, positive fees, and a non-empty slashing script.
    pub fn validate(&self) -> Result<(), BtcStakingError> {
        check_distinct_keys("covenant", &self.covenant_pks)?;
        check_quorum(self.covenant_quorum, self.covenant_pks.len())?;
        check_timelock("min staking time", self.min_staking_time)?;
        check_timelock("max staking time", self.max_staking_time)?;
        check_timelock("unbonding time", self.unbonding_time)?;
        if self.min_staking_time > self.max_staking_time {
            return Err(BtcStakingError::InvalidParams(format!(
                "expected min staking time <= max staking time, found {} > {}",
                self.min_staking_time, self.max_staking_time
            )));
        }
        if self.min_staking_value_sat == 0 {
            return Err(BtcStakingError::InvalidParams(
                "expected a min staking value above 0 sat, found 0".into(),
            ));
        }
        if self.min_staking_value_sat > self.max_staking_value_sat {
            return Err(BtcStakingError::InvalidParams(format!(
                "expected min staking value <= max staking value, found {} > {}",
                self.min_staking_value_sat, self.max_staking_value_sat
            )));
        }
        if self.max_staking_value_sat > MAX_MONEY_SAT {
            return Err(BtcStakingError::InvalidParams(format!(
                "expected a max staking value of at most {MAX_MONEY_SAT} sat, found {}",
                self.max_staking_value_sat
            )));
        }
        if self.unbonding_fee_sat == 0 {
            return Err(BtcStakingError::InvalidParams(
                "expected an unbonding fee above 0 sat, found 0".into(),
            ));
        }
        if self.unbonding_fee_sat >= self.min_staking_value_sat {
            return Err(BtcStakingError::InvalidParams(format!(
                "expected an unbonding fee below the min staking value {} sat, found {} sat",
                self.min_staking_value_sat, self.unbonding_fee_sat
            )));
        }
        if self.min_slashing_tx_fee_sat == 0 {
            return Err(BtcStakingError::InvalidParams(
                "expected a min slashing tx fee above 0 sat, found 0".into(),
            ));
        }
        if self.slashing_pk_script.is_empty() {
            return Err(BtcStakingError::InvalidParams(
                "expected a non-empty slashing pk script, found an empty one".into(),
            ));
        }
        // from_atomics is the only way to build a rate, but check again for a params struct
        // filled by hand from raw parts.
        SlashingRate::from_atomics(self.slashing_rate.atomics())?;
        Ok(())
    }

    /// Whether `value_sat` is within the staking value bounds.
    pub fn check_staking_value(&self, value_sat: u64) -> Result<(), BtcStakingError> {
        if value_sat < self.min_staking_value_sat || value_sat > self.max_staking_value_sat {
            return Err(BtcStakingError::StakingValueOutOfRange {
                min: self.min_staking_value_sat,
                max: self.max_staking_value_sat,
                found: value_sat,
            });
        }
        Ok(())
    }

    /// Whether `time` (blocks) is within the staking time bounds.
    pub fn check_staking_time(&self, time: u32) -> Result<(), BtcStakingError> {
        if time < self.min_staking_time || time > self.max_staking_time {
            return Err(BtcStakingError::StakingTimeOutOfRange {
                min: self.min_staking_time,
                max: self.max_staking_time,
                found: time,
            });
        }
        Ok(())
    }
}

/// Reads a Bitcoin network name: `bitcoin` (or `mainnet`), `testnet`, `signet`, `regtest`.
pub fn parse_network(name: &str) -> Result<Network, BtcStakingError> {
    match name {
        "bitcoin" | "mainnet" => Ok(Network::Bitcoin),
        "testnet" => Ok(Network::Testnet),
        "signet" => Ok(Network::Signet),
        "regtest" => Ok(Network::Regtest),
        other => Err(BtcStakingError::UnknownNetwork {
            found: other.to_string(),
        }),
    }
}

/// Reads a BIP-340 x-only public key from hex.
pub fn parse_xonly_hex(what: &'static str, s: &str) -> Result<XOnlyPublicKey, BtcStakingError> {
    let bad = || BtcStakingError::InvalidKey {
        what,
        found: s.to_string(),
    };
    let bytes = hex::decode(s).map_err(|_| bad())?;
    parse_xonly(what, &bytes)
}

/// Reads a BIP-340 x-only public key from its 32 bytes.
pub fn parse_xonly(what: &'static str, bytes: &[u8]) -> Result<XOnlyPublicKey, BtcStakingError> {
    if bytes.len() != 32 {
        return Err(BtcStakingError::InvalidKey {
            what,
            found: format!("{} bytes", bytes.len()),
        });
    }
    XOnlyPublicKey::from_slice(bytes).map_err(|_| BtcStakingError::InvalidKey {
        what,
        found: hex::encode(bytes),
    })
}

pub(crate) fn check_distinct_keys(
    what: &'static str,
    keys: &[XOnlyPublicKey],
) -> Result<(), BtcStakingError> {
    if keys.is_empty() {
        return Err(BtcStakingError::NoKeys { what });
    }
    let mut sorted: Vec<[u8; 32]> = keys.iter().map(XOnlyPublicKey::serialize).collect();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(BtcStakingError::DuplicateKey {
            what,
            key: hex::encode(w[0]),
        });
    }
    Ok(())
}

pub(crate) fn check_quorum(quorum: u32, keys: usize) -> Result<(), BtcStakingError> {
    let fits = usize::try_from(quorum).is_ok_and(|q| q >= 1 && q <= keys);
    if !fits {
        return Err(BtcStakingError::InvalidQuorum { quorum, keys });
    }
    Ok(())
}

pub(crate) fn check_timelock(what: &'static str, blocks: u32) -> Result<(), BtcStakingError> {
    if blocks == 0 || blocks > MAX_TIMELOCK_BLOCKS {
        return Err(BtcStakingError::InvalidTimelock {
            what,
            found: u64::from(blocks),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> XOnlyPublicKey {
        let sk = bitcoin::secp256k1::SecretKey::from_slice(&[i; 32]).expect("valid scalar");
        sk.x_only_public_key(bitcoin::secp256k1::SECP256K1).0
    }

    pub(crate) fn sample() -> BtcStakingParams {
        BtcStakingParams {
            covenant_pks: vec![key(1), key(2), key(3)],
            covenant_quorum: 2,
            min_staking_value_sat: 10_000,
            max_staking_value_sat: 1_000_000_000,
            min_staking_time: 400,
            max_staking_time: 65_535,
            unbonding_time: 200,
            unbonding_fee_sat: 1_000,
            slashing_rate: "0.1".parse().expect("valid rate"),
            min_slashing_tx_fee_sat: 1_000,
            slashing_pk_script: ScriptBuf::from_bytes(
                hex::decode("6a0c62616c6c6173742d6275726e").expect("hex"),
            ),
        }
    }

    #[test]
    fn slashing_rate_parses_decimal_text_exactly() {
        let cases = [
            ("0.25", 250_000_000_000_000_000u64),
            ("0.1", 100_000_000_000_000_000),
            ("0.001", 1_000_000_000_000_000),
            ("0.05", 50_000_000_000_000_000),
            (".5", 500_000_000_000_000_000),
            ("0.0001", 100_000_000_000_000),
            ("0.10000", 100_000_000_000_000_000),
        ];
        for (text, raw) in cases {
            let r: SlashingRate = text.parse().expect(text);
            assert_eq!(r.atomics(), raw, "{text}");
        }
        assert_eq!(
            "0.25".parse::<SlashingRate>().expect("ok").to_string(),
            "0.25"
        );
        for bad in [
            "", ".", "0", "1", "1.0", "0.00001", "-0.1", "0.1e1", "abc", "0..1", "0.", " 0.1",
        ] {
            let e = bad.parse::<SlashingRate>().expect_err(bad);
            assert_eq!(e.code(), 105, "{bad}");
        }
    }

    #[test]
    fn slashed_amount_rounds_half_up() {
        let r: SlashingRate = "0.25".parse().expect("ok");
        assert_eq!(r.slashed_amount(1_234_567), 308_642); // 308641.75
        assert_eq!(r.slashed_amount(1_234_066), 308_517); // 308516.5
        assert_eq!(r.slashed_amount(1_234_065), 308_516); // 308516.25
        let r: SlashingRate = "0.0001".parse().expect("ok");
        assert_eq!(r.slashed_amount(u64::MAX), 1_844_674_407_370_955);
    }

    #[test]
    fn params_validate() {
        assert_eq!(sample().validate(), Ok(()));
        let mut p = sample();
        p.covenant_quorum = 4;
        assert_eq!(p.validate().map_err(|e| e.code()), Err(103));
        p.covenant_quorum = 0;
        assert_eq!(p.validate().map_err(|e| e.code()), Err(103));
        let mut p = sample();
        p.covenant_pks.push(key(1));
        assert_eq!(p.validate().map_err(|e| e.code()), Err(101));
        let mut p = sample();
        p.covenant_pks.clear();
        assert_eq!(p.validate().map_err(|e| e.code()), Err(102));
        let mut p = sample();
        p.max_staking_time = 65_536;
        assert_eq!(p.validate().map_err(|e| e.code()), Err(104));
        let mut p = sample();
        p.min_staking_time = 70_000;
        assert_eq!(p.validate().map_err(|e| e.code()), Err(104));
        let mut p = sample();
        p.min_staking_time = 1_000;
        p.max_staking_time = 999;
        assert_eq!(p.validate().map_err(|e| e.code()), Err(106));
        let mut p = sample();
        p.min_staking_value_sat = p.max_staking_value_sat + 1;
        assert_eq!(p.validate().map_err(|e| e.code()), Err(106));
        let mut p = sample();
        p.unbonding_fee_sat = 0;
        assert_eq!(p.validate().map_err(|e| e.code()), Err(106));
        let mut p = sample();
        p.slashing_pk_script = ScriptBuf::new();
        assert_eq!(p.validate().map_err(|e| e.code()), Err(106));
        let mut p = sample();
        p.slashing_rate = SlashingRate(1);
        assert_eq!(p.validate().map_err(|e| e.code()), Err(105));
    }

    #[test]
    fn networks_and_keys_parse() {
        assert_eq!(parse_network("regtest"), Ok(Network::Regtest));
        assert_eq!(parse_network("bitcoin"), Ok(Network::Bitcoin));
        assert_eq!(parse_network("moon").map_err(|e| e.code()), Err(107));
        let k = key(7);
        assert_eq!(
            parse_xonly_hex("staker", &hex::encode(k.serialize())),
            Ok(k)
        );
        assert_eq!(
            parse_xonly_hex("staker", "zz").map_err(|e| e.code()),
            Err(100)
        );
        assert_eq!(
            parse_xonly_hex("staker", "00").map_err(|e| e.code()),
            Err(100)
        );
        // 32 bytes that are not the x coordinate of a curve point.
        assert_eq!(
            parse_xonly("staker", &[0xff; 32]).map_err(|e| e.code()),
            Err(100)
        );
    }
}
