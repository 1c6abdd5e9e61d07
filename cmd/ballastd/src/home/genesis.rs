//! CometBFT v0.38's `config/genesis.json`, with Ballast's `app_state`.
//!
//! Integers are JSON strings and durations are nanoseconds in a string, as CometBFT's JSON
//! codec writes them. `abci.vote_extensions_enable_height` is 1: Ballast's checkpoints ride on
//! vote extensions from the first block.

use super::keys::Ed25519Key;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Voting power of each genesis validator.
pub const GENESIS_POWER: u64 = 10;
/// `consensus_params.block.max_bytes` (CometBFT's default, 21 MiB).
pub const BLOCK_MAX_BYTES: u64 = 22_020_096;
/// CometBFT rejects chain ids longer than this.
pub const MAX_CHAIN_ID_LEN: usize = 50;

/// A genesis validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisValidator {
    /// Upper-case hex of the first 20 bytes of SHA-256 of the public key.
    pub address: String,
    /// `{"type": "tendermint/PubKeyEd25519", "value": <base64>}`.
    pub pub_key: serde_json::Value,
    /// Voting power, a decimal string.
    pub power: String,
    /// A label (the node's moniker).
    pub name: String,
}

impl GenesisValidator {
    /// The validator of a consensus key.
    pub fn new(key: &Ed25519Key, name: &str) -> GenesisValidator {
        GenesisValidator {
            address: key.address_hex(),
            pub_key: key.pub_key_json(),
            power: GENESIS_POWER.to_string(),
            name: name.to_string(),
        }
    }
}

/// `genesis.json`. Fields are in CometBFT's order; unknown top-level fields are kept when a
/// file is edited.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenesisDoc {
    /// RFC 3339 time, UTC.
    pub genesis_time: String,
    /// Chain id.
    pub chain_id: String,
    /// First block height, a decimal string.
    pub initial_height: String,
    /// Consensus params.
    pub consensus_params: serde_json::Value,
    /// The initial validator set.
    #[serde(default)]
    pub validators: Vec<GenesisValidator>,
    /// The app hash before the first block: empty.
    pub app_hash: String,
    /// Ballast's genesis: one section per module plus `app`.
    pub app_state: serde_json::Value,
    /// Any other field, kept as is.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// Checks a chain id the way CometBFT does (non-empty, at most 50 bytes), and refuses
/// whitespace, which no tool expects in one.
pub fn validate_chain_id(chain_id: &str) -> anyhow::Result<()> {
    if chain_id.is_empty() {
        anyhow::bail!("expected a non-empty chain id");
    }
    if chain_id.len() > MAX_CHAIN_ID_LEN {
        anyhow::bail!(
            "expected a chain id of at most {MAX_CHAIN_ID_LEN} bytes, found {} bytes",
            chain_id.len()
        );
    }
    if chain_id
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        anyhow::bail!("expected a chain id without spaces, found {chain_id:?}");
    }
    Ok(())
}

/// CometBFT v0.38's default consensus params, with vote extensions on from height 1.
pub fn default_consensus_params() -> serde_json::Value {
    serde_json::json!({
        "block": { "max_bytes": BLOCK_MAX_BYTES.to_string(), "max_gas": "-1" },
        "evidence": {
            "max_age_num_blocks": "100000",
            // 48 hours in nanoseconds.
            "max_age_duration": "172800000000000",
            "max_bytes": "1048576"
        },
        "validator": { "pub_key_types": ["ed25519"] },
        "version": { "app": "0" },
        "abci": { "vote_extensions_enable_height": "1" }
    })
}

impl GenesisDoc {
    /// A genesis starting at height 1 now.
    pub fn new(
        chain_id: &str,
        validators: Vec<GenesisValidator>,
        app_state: serde_json::Value,
    ) -> GenesisDoc {
        GenesisDoc {
            genesis_time: now_rfc3339(),
            chain_id: chain_id.to_string(),
            initial_height: "1".to_string(),
            consensus_params: default_consensus_params(),
            validators,
            app_hash: String::new(),
            app_state,
            other: serde_json::Map::new(),
        }
    }

    /// Reads a `genesis.json`.
    pub fn load(path: &Path) -> anyhow::Result<GenesisDoc> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Writes it, indented by two spaces as CometBFT does (mode 0644).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(self).context("serialising genesis")?;
        text.push('\n');
        super::write_file(path, &text, 0o644)
    }
}

/// The current time as CometBFT writes `genesis_time` (RFC 3339, UTC, nanoseconds).
pub fn now_rfc3339() -> String {
    tendermint::Time::now().to_rfc3339()
}
