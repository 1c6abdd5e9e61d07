//! The Bitcoin networks the light client can follow and their header consensus rules, as Bitcoin
//! Core's chain params define them.

use crate::work::U256;
use std::fmt;
use std::str::FromStr;

/// Blocks per difficulty period on every network.
pub const RETARGET_INTERVAL: u64 = 2016;
/// Intended duration of a difficulty period, in seconds (two weeks).
pub const TARGET_TIMESPAN: u64 = 14 * 24 * 60 * 60;
/// Intended time between blocks, in seconds.
pub const TARGET_SPACING: u64 = 10 * 60;
/// Timestamps taken for the median time past.
pub const MEDIAN_TIME_SPAN: usize = 11;
/// BIP94: how far before its parent a period's first header may be timestamped (testnet4).
pub const MAX_TIMEWARP: u64 = 600;

/// A Bitcoin network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BtcNetwork {
    /// Bitcoin mainnet.
    Mainnet,
    /// Testnet version 3.
    Testnet3,
    /// Testnet version 4 (BIP94).
    Testnet4,
    /// The default signet.
    Signet,
    /// A local regression-test network.
    Regtest,
}

/// Header rules of one network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsensusRules {
    /// The easiest target allowed, as the compact value Bitcoin Core derives from `powLimit`.
    pub pow_limit_bits: u32,
    /// Whether a header timestamped more than 20 minutes after its parent may use the PoW limit
    /// (`fPowAllowMinDifficultyBlocks`: testnet3, testnet4, regtest).
    pub allow_min_difficulty: bool,
    /// Whether the difficulty never changes (`fPowNoRetargeting`: regtest).
    pub no_retargeting: bool,
    /// BIP94 (testnet4): a retarget starts from the period's first header's bits, and a period's
    /// first header may not be timestamped more than 10 minutes before its parent.
    pub enforce_bip94: bool,
    /// Heights from which header versions below 2, 3 and 4 are invalid (BIP34, BIP66, BIP65).
    pub bip34_height: u64,
    /// See [`ConsensusRules::bip34_height`].
    pub bip66_height: u64,
    /// See [`ConsensusRules::bip34_height`].
    pub bip65_height: u64,
}

impl BtcNetwork {
    /// Every network, in a fixed order.
    pub const ALL: [BtcNetwork; 5] = [
        BtcNetwork::Mainnet,
        BtcNetwork::Testnet3,
        BtcNetwork::Testnet4,
        BtcNetwork::Signet,
        BtcNetwork::Regtest,
    ];

    /// The name used in params and genesis.
    pub fn as_str(self) -> &'static str {
        match self {
            BtcNetwork::Mainnet => "mainnet",
            BtcNetwork::Testnet3 => "testnet3",
            BtcNetwork::Testnet4 => "testnet4",
            BtcNetwork::Signet => "signet",
            BtcNetwork::Regtest => "regtest",
        }
    }

    /// The matching `bitcoin` crate network.
    pub fn to_bitcoin(self) -> bitcoin::Network {
        match self {
            BtcNetwork::Mainnet => bitcoin::Network::Bitcoin,
            BtcNetwork::Testnet3 => bitcoin::Network::Testnet,
            BtcNetwork::Testnet4 => bitcoin::Network::Testnet4,
            BtcNetwork::Signet => bitcoin::Network::Signet,
            BtcNetwork::Regtest => bitcoin::Network::Regtest,
        }
    }

    /// The header rules (Bitcoin Core's `kernel/chainparams.cpp`).
    pub fn rules(self) -> ConsensusRules {
        match self {
            BtcNetwork::Mainnet => ConsensusRules {
                pow_limit_bits: 0x1d00_ffff,
                allow_min_difficulty: false,
                no_retargeting: false,
                enforce_bip94: false,
                bip34_height: 227_931,
                bip66_height: 363_725,
                bip65_height: 388_381,
            },
            BtcNetwork::Testnet3 => ConsensusRules {
                pow_limit_bits: 0x1d00_ffff,
                allow_min_difficulty: true,
                no_retargeting: false,
                enforce_bip94: false,
                bip34_height: 21_111,
                bip66_height: 330_776,
                bip65_height: 581_885,
            },
            BtcNetwork::Testnet4 => ConsensusRules {
                pow_limit_bits: 0x1d00_ffff,
                allow_min_difficulty: true,
                no_retargeting: false,
                enforce_bip94: true,
                bip34_height: 1,
                bip66_height: 1,
                bip65_height: 1,
            },
            BtcNetwork::Signet => ConsensusRules {
                pow_limit_bits: 0x1e03_77ae,
                allow_min_difficulty: false,
                no_retargeting: false,
                enforce_bip94: false,
                bip34_height: 1,
                bip66_height: 1,
                bip65_height: 1,
            },
            // Bitcoin Core's regtest defaults (`-testactivationheight` can move them; the light
            // client follows the defaults).
            BtcNetwork::Regtest => ConsensusRules {
                pow_limit_bits: 0x207f_ffff,
                allow_min_difficulty: true,
                no_retargeting: true,
                enforce_bip94: false,
                bip34_height: 1,
                bip66_height: 1,
                bip65_height: 1,
            },
        }
    }

    /// The PoW limit as a 256-bit target.
    pub(crate) fn pow_limit(self) -> U256 {
        crate::pow::decode_compact(self.rules().pow_limit_bits)
            .expect("every network's PoW limit bits are a valid positive target")
    }

    /// The network's genesis header.
    pub fn genesis_header(self) -> bitcoin::block::Header {
        bitcoin::constants::genesis_block(bitcoin::params::Params::new(self.to_bitcoin())).header
    }
}

impl fmt::Display for BtcNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A network name that is not one of the five.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown bitcoin network {0:?}: expected mainnet, testnet3, testnet4, signet or regtest")]
pub struct UnknownNetworkError(pub String);

impl FromStr for BtcNetwork {
    type Err = UnknownNetworkError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BtcNetwork::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| UnknownNetworkError(s.to_string()))
    }
}

impl serde::Serialize for BtcNetwork {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for BtcNetwork {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_agree_with_the_bitcoin_crate_where_it_has_them() {
        for n in BtcNetwork::ALL {
            let p = bitcoin::params::Params::new(n.to_bitcoin());
            let r = n.rules();
            assert_eq!(
                r.pow_limit_bits,
                p.max_attainable_target.to_compact_lossy().to_consensus(),
                "{n}"
            );
            assert_eq!(
                n.pow_limit().to_be_bytes(),
                p.max_attainable_target.to_be_bytes(),
                "{n}"
            );
            assert_eq!(r.allow_min_difficulty, p.allow_min_difficulty_blocks, "{n}");
            assert_eq!(r.no_retargeting, p.no_pow_retargeting, "{n}");
            assert_eq!(p.pow_target_timespan, TARGET_TIMESPAN);
            assert_eq!(p.pow_target_spacing, TARGET_SPACING);
            // The bitcoin crate keeps regtest's historical BIP heights; Bitcoin Core now
            // activates them at height 1 (its `CRegTestParams`).
            if n != BtcNetwork::Regtest {
                assert_eq!(r.bip34_height, u64::from(p.bip34_height), "{n}");
                assert_eq!(r.bip65_height, u64::from(p.bip65_height), "{n}");
                assert_eq!(r.bip66_height, u64::from(p.bip66_height), "{n}");
            }
            // Every genesis header carries the PoW limit's bits.
            assert_eq!(n.genesis_header().bits.to_consensus(), r.pow_limit_bits);
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_rejected() {
        for n in BtcNetwork::ALL {
            assert_eq!(n.as_str().parse::<BtcNetwork>().unwrap(), n);
            let json = serde_json::to_string(&n).unwrap();
            assert_eq!(serde_json::from_str::<BtcNetwork>(&json).unwrap(), n);
        }
        assert!("bitcoin".parse::<BtcNetwork>().is_err());
        assert!("testnet".parse::<BtcNetwork>().is_err());
        assert!(serde_json::from_str::<BtcNetwork>("\"Mainnet\"").is_err());
    }
}
