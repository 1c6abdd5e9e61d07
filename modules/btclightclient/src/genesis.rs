//! Genesis of the Bitcoin light client: params and the base header.
//!
//! ```json
//! "btclightclient": {
//!   "params": { "network": "regtest", "max_headers_per_msg": 2016 },
//!   "base_header": {
//!     "height": 0,
//!     "header": "0100000000000000…",
//!     "cumulative_work": "2"
//!   }
//! }
//! ```
//!
//! The default is the regtest genesis block at height 0, so a fresh local regtest bitcoind's
//! chain connects. On networks that retarget, the base must start a difficulty period (height a
//! multiple of 2016), because the first retarget above it needs the period's first timestamp.

use crate::chain::{decode_header, put_hash, put_record, Record};
use crate::network::RETARGET_INTERVAL;
use crate::{
    params, pow, state_key, BtcLightClientError, BtcNetwork, ChainWork, HeaderInfo, Params,
};
use ballast_framework::StateWrite;
use serde::{Deserialize, Serialize};

/// The base header as written in genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseHeader {
    /// Its height on its network.
    pub height: u64,
    /// The raw 80-byte header, hex.
    pub header: String,
    /// Cumulative work up to and including it: decimal, `0x` hex, or bitcoind's 64-digit
    /// `chainwork`.
    pub cumulative_work: String,
}

impl BaseHeader {
    /// The genesis block of `network` at height 0, with its own work.
    pub fn network_genesis(network: BtcNetwork) -> BaseHeader {
        let header = network.genesis_header();
        BaseHeader {
            height: 0,
            header: hex::encode(bitcoin::consensus::serialize(&header)),
            cumulative_work: ChainWork::from(header.work()).to_string(),
        }
    }
}

/// The module's genesis section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisState {
    /// Params (defaults when absent).
    #[serde(default)]
    pub params: Params,
    /// The header the light client starts from.
    pub base_header: BaseHeader,
}

impl Default for GenesisState {
    fn default() -> Self {
        GenesisState::network_genesis(BtcNetwork::Regtest)
    }
}

impl GenesisState {
    /// Default params for `network`, starting from its genesis block.
    pub fn network_genesis(network: BtcNetwork) -> GenesisState {
        GenesisState {
            params: Params {
                network,
                ..Params::default()
            },
            base_header: BaseHeader::network_genesis(network),
        }
    }

    /// Parses the JSON section.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        serde_json::from_value(v.clone()).map_err(|e| e.to_string())
    }

    /// Validates the section and returns the base header.
    pub fn validate(&self) -> Result<HeaderInfo, BtcLightClientError> {
        self.params.validate()?;
        let network = self.params.network;
        let bad = |m: String| BtcLightClientError::InvalidGenesis(m);
        let b = &self.base_header;
        let raw = hex::decode(&b.header).map_err(|e| bad(format!("base header hex: {e}")))?;
        let header = decode_header(&raw)
            .ok_or_else(|| bad(format!("base header is {} bytes, expected 80", raw.len())))?;
        let hash = header.block_hash();
        if !network.rules().no_retargeting && !b.height.is_multiple_of(RETARGET_INTERVAL) {
            return Err(bad(format!(
                "base header height {} does not start a difficulty period on {network}: use a multiple of {RETARGET_INTERVAL}",
                b.height
            )));
        }
        let bits = header.bits.to_consensus();
        let target = pow::checked_target(network, bits)
            .map_err(|e| bad(format!("base header {hash}: {e}")))?;
        if !pow::hash_meets_target(&hash, target) {
            return Err(bad(format!(
                "base header {hash} does not meet its target {bits:#010x}: is it a {network} header?"
            )));
        }
        if b.height == 0 && hash != network.genesis_header().block_hash() {
            return Err(bad(format!(
                "a base header at height 0 must be the {network} genesis block {}, found {hash}",
                network.genesis_header().block_hash()
            )));
        }
        let cumulative_work: ChainWork = b
            .cumulative_work
            .parse()
            .map_err(|e| bad(format!("cumulative_work {:?}: {e}", b.cumulative_work)))?;
        let own = ChainWork::from_target(target);
        if b.height == 0 && cumulative_work != own {
            return Err(bad(format!(
                "cumulative_work of a height-0 base must be its own work {own}, found {cumulative_work}"
            )));
        }
        if cumulative_work < own {
            return Err(bad(format!(
                "cumulative_work {cumulative_work} is below the base header's own work {own}"
            )));
        }
        Ok(HeaderInfo {
            hash,
            height: b.height,
            header,
            cumulative_work,
        })
    }

    /// Validates and writes params, the base header, the best chain and the tip.
    pub fn apply<S: StateWrite + ?Sized>(&self, state: &mut S) -> Result<(), BtcLightClientError> {
        let base = self.validate()?;
        params::store(state, &self.params)?;
        put_record(state, &Record::base(base.clone()))?;
        put_hash(state, state_key::main_chain(base.height), &base.hash)?;
        put_hash(state, state_key::tip().to_string(), &base.hash)?;
        put_hash(state, state_key::base().to_string(), &base.hash)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BtcLightClientRead;
    use ballast_framework::MemState;

    #[test]
    fn default_is_the_regtest_genesis_with_work_two() {
        let gs = GenesisState::default();
        assert_eq!(gs.params.network, BtcNetwork::Regtest);
        assert_eq!(gs.base_header.cumulative_work, "2");
        let mut s = MemState::new();
        gs.apply(&mut s).unwrap();
        let tip = s.btc_tip().unwrap();
        assert_eq!(
            tip.hash.to_string(),
            "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
        );
        assert_eq!(tip.height, 0);
        assert_eq!(s.btc_base_header().unwrap(), tip);
        assert_eq!(s.btc_header_at_height(0).unwrap().unwrap(), tip);
        // The JSON form round-trips.
        let json = serde_json::to_value(&gs).unwrap();
        assert_eq!(GenesisState::from_json(&json).unwrap(), gs);
    }

    #[test]
    fn every_network_genesis_is_valid_and_mainnet_work_matches_bitcoind() {
        for n in BtcNetwork::ALL {
            GenesisState::network_genesis(n).validate().unwrap();
        }
        // bitcoind reports chainwork 0x100010001 for the mainnet genesis.
        assert_eq!(
            BaseHeader::network_genesis(BtcNetwork::Mainnet).cumulative_work,
            "4295032833"
        );
    }

    fn with_base(f: impl FnOnce(&mut GenesisState)) -> Result<HeaderInfo, BtcLightClientError> {
        let mut gs = GenesisState::network_genesis(BtcNetwork::Mainnet);
        f(&mut gs);
        gs.validate()
    }

    #[test]
    fn rejects_bad_base_headers() {
        let err = |r: Result<HeaderInfo, BtcLightClientError>| match r {
            Err(BtcLightClientError::InvalidGenesis(m)) => m,
            other => panic!("expected InvalidGenesis, got {other:?}"),
        };
        assert!(err(with_base(|g| g.base_header.header = "zz".into())).contains("hex"));
        assert!(err(with_base(|g| g.base_header.header.push_str("00"))).contains("81 bytes"));
        // The mainnet genesis at a height that does not start a period.
        assert!(err(with_base(|g| g.base_header.height = 2015)).contains("multiple of 2016"));
        // ... and at a period start other than 0 it passes that check.
        assert!(with_base(|g| {
            g.base_header.height = 2016;
            g.base_header.cumulative_work = (4_295_032_833u64 * 2017).to_string();
        })
        .is_ok());
        // The regtest genesis presented as mainnet's: its bits exceed mainnet's limit.
        assert!(err(with_base(|g| {
            g.base_header = BaseHeader::network_genesis(BtcNetwork::Regtest);
            g.base_header.height = 4032;
        }))
        .contains("above the network's limit"));
        // A tampered nonce breaks the PoW.
        assert!(err(with_base(|g| {
            let mut raw = hex::decode(&g.base_header.header).unwrap();
            raw[79] ^= 1;
            g.base_header.header = hex::encode(raw);
            g.base_header.height = 2016;
        }))
        .contains("does not meet its target"));
        assert!(
            err(with_base(|g| g.base_header.cumulative_work = "5".into())).contains("own work")
        );
        assert!(
            err(with_base(|g| g.base_header.cumulative_work = "x".into()))
                .contains("cumulative_work")
        );
        assert!(err(with_base(|g| {
            g.base_header.height = 2016;
            g.base_header.cumulative_work = "1".into();
        }))
        .contains("below"));
        // Height 0 must be the network's genesis: signet's genesis is not testnet4's.
        let mut gs = GenesisState::network_genesis(BtcNetwork::Testnet4);
        gs.base_header = BaseHeader::network_genesis(BtcNetwork::Testnet3);
        assert!(err(gs.validate()).contains("genesis block"));
        // Regtest does not retarget, so any height is a valid base.
        let mut gs = GenesisState::default();
        gs.base_header.height = 5;
        gs.base_header.cumulative_work = "12".into();
        assert!(gs.validate().is_ok());
        // Bad params.
        let mut gs = GenesisState::default();
        gs.params.max_headers_per_msg = 0;
        assert!(matches!(
            gs.validate(),
            Err(BtcLightClientError::InvalidParams(_))
        ));
        assert!(GenesisState::from_json(&serde_json::json!({"params": {}})).is_err());
    }
}
