//! CometBFT v0.38's `config/genesis.json`, with Ballast's `app_state`.
//!
//! Integers are JSON strings and durations are nanoseconds in a string, as CometBFT's JSON
//! codec writes them. `abci.vote_extensions_enable_height` is 1: Ballast's checkpoints ride on
//! vote extensions from the first block.

use super::keys::Ed25519Key;
use anyhow::Context;
use ballast_checkpointing::genesis::{GenesisBlsKey, GenesisState as CheckpointingGenesis};
use ballast_framework::Address;
use ballast_restaking::GenesisState as RestakingGenesis;
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

    /// Puts `entry` into `app_state.checkpointing.bls_keys`, replacing the entry of the same
    /// validator if there is one (so re-running `init` never leaves two keys for a validator).
    /// The section must parse before and after the edit.
    pub fn set_bls_key(&mut self, entry: GenesisBlsKey) -> anyhow::Result<()> {
        let name = ballast_checkpointing::MODULE_NAME;
        let section = self
            .app_state
            .get(name)
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        let mut state = CheckpointingGenesis::from_json(&section)
            .map_err(|e| anyhow::anyhow!("app_state.{name} is invalid: {e}"))?;
        state.bls_keys.retain(|k| {
            !k.validator_address
                .eq_ignore_ascii_case(&entry.validator_address)
        });
        state.bls_keys.push(entry);
        let obj = self
            .app_state
            .as_object_mut()
            .context("app_state is not a JSON object")?;
        obj.insert(
            name.to_string(),
            serde_json::to_value(&state).context("serialising the checkpointing section")?,
        );
        Ok(())
    }

    /// The restaking section, parsed (defaults when absent).
    pub fn restaking(&self) -> anyhow::Result<RestakingGenesis> {
        let name = ballast_restaking::MODULE_NAME;
        match self.app_state.get(name) {
            None => Ok(RestakingGenesis::default()),
            Some(v) => RestakingGenesis::from_json(v)
                .map_err(|e| anyhow::anyhow!("app_state.{name} is invalid: {e}")),
        }
    }

    fn set_restaking(&mut self, state: &RestakingGenesis) -> anyhow::Result<()> {
        let name = ballast_restaking::MODULE_NAME;
        self.app_state[name] = serde_json::to_value(state)
            .map_err(|e| anyhow::anyhow!("app_state.{name} does not serialise: {e}"))?;
        Ok(())
    }

    /// Makes the validator with consensus key `consensus` a restaking genesis operator owned by
    /// `owner`, with operator key `btc_sk` and a self-bond of `self_bond` ubal (the owner must
    /// hold it in the accounts genesis), replacing an entry with the same operator key. The
    /// validator's genesis power becomes the power restaking computes for the self-bond, so
    /// genesis.json's validator list and the app's agree.
    pub fn add_operator(
        &mut self,
        owner: &Address,
        btc_sk: &bitcoin::secp256k1::SecretKey,
        consensus: &Ed25519Key,
        self_bond: u128,
        moniker: &str,
    ) -> anyhow::Result<()> {
        let mut state = self.restaking()?;
        let entry = ballast_restaking::genesis_operator(
            owner,
            btc_sk,
            consensus.public_key(),
            self_bond,
            moniker,
        );
        state.operators.retain(|o| o.btc_pk != entry.btc_pk);
        state.operators.push(entry);
        let power = ballast_restaking::power::compute_power(&state.params, self_bond, 0, 0)
            .map_err(|e| anyhow::anyhow!("power of a {self_bond} ubal self-bond: {e}"))?;
        if power == 0 {
            anyhow::bail!(
                "a self-bond of {self_bond} ubal gives no power at the native power weight {}: \
                 bond more",
                state.params.native_power_weight
            );
        }
        self.set_restaking(&state)?;
        let address = consensus.address_hex();
        for v in self.validators.iter_mut().filter(|v| v.address == address) {
            v.power = power.to_string();
        }
        Ok(())
    }

    /// Sets the BTC staking covenant committee and its quorum.
    pub fn set_covenant_committee(
        &mut self,
        keys: &[bitcoin::secp256k1::XOnlyPublicKey],
        quorum: u32,
    ) -> anyhow::Result<()> {
        let mut state = self.restaking()?;
        state.params.btc.covenant_pks = keys.iter().map(|k| k.serialize()).collect();
        state.params.btc.covenant_quorum = quorum;
        state
            .params
            .validate()
            .map_err(|e| anyhow::anyhow!("covenant committee: {e}"))?;
        self.set_restaking(&state)
    }

    /// The BLS key entries in `app_state.checkpointing.bls_keys`.
    pub fn bls_keys(&self) -> anyhow::Result<Vec<GenesisBlsKey>> {
        let name = ballast_checkpointing::MODULE_NAME;
        match self.app_state.get(name) {
            None => Ok(Vec::new()),
            Some(section) => Ok(CheckpointingGenesis::from_json(section)
                .map_err(|e| anyhow::anyhow!("app_state.{name} is invalid: {e}"))?
                .bls_keys),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(address: u8, key: u8) -> GenesisBlsKey {
        GenesisBlsKey {
            validator_address: hex::encode([address; 20]),
            bls_pubkey: hex::encode([key; 96]),
            pop: hex::encode([key; 48]),
        }
    }

    #[test]
    fn a_validators_bls_key_is_added_once_and_replaced() {
        let mut g = GenesisDoc::new("c-1", Vec::new(), ballast_app::genesis::default_app_state());
        assert!(g.bls_keys().expect("parses").is_empty());
        g.set_bls_key(entry(1, 1)).expect("add");
        g.set_bls_key(entry(2, 2)).expect("add another");
        // The same validator, in upper-case hex, with a new key: replaced, not duplicated.
        let mut again = entry(1, 3);
        again.validator_address = again.validator_address.to_uppercase();
        g.set_bls_key(again.clone()).expect("replace");
        assert_eq!(g.bls_keys().expect("parses"), vec![entry(2, 2), again]);
        // The params are kept.
        assert!(g.app_state["checkpointing"]["params"].is_object());
        // A broken section is reported, not overwritten.
        g.app_state["checkpointing"] = serde_json::json!({"bls_keys": 5});
        let e = g.set_bls_key(entry(4, 4)).expect_err("broken section");
        assert!(e.to_string().contains("app_state.checkpointing"), "{e}");
    }
}
