//! Genesis of the checkpointing module: params and the validators' BLS keys.
//!
//! ```json
//! "checkpointing": {
//!   "params": { "max_validators": 100, "btc_confirmation_depth": 6,
//!               "btc_finalization_timeout": 20, "checkpoint_tag": "bal0" },
//!   "bls_keys": [ { "validator_address": "<40 hex>", "bls_pubkey": "<192 hex>", "pop": "<96 hex>" } ]
//! }
//! ```
//!
//! Every key's proof of possession is verified, and the rules of `MsgRegisterBlsKey` apply:
//! one key per validator and no key shared by two validators. The validator set itself and the
//! epoch length come from the app: it calls [`crate::set_epoch_config`] and
//! [`crate::snapshot_validators`] for epoch 1 at InitChain.

use crate::validators::{consensus_address_hex, register_bls_key, ProvenBlsKey};
use crate::{params, CheckpointingError, Params};
use ballast_framework::StateWrite;
use serde::{Deserialize, Serialize};

/// One genesis BLS key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisBlsKey {
    /// Consensus address, 40 hex digits.
    pub validator_address: String,
    /// Compressed G2 public key, 192 hex digits.
    pub bls_pubkey: String,
    /// Proof of possession, 96 hex digits.
    pub pop: String,
}

/// The module's genesis section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisState {
    /// Params (defaults when absent).
    #[serde(default)]
    pub params: Params,
    /// Validators' BLS keys.
    #[serde(default)]
    pub bls_keys: Vec<GenesisBlsKey>,
}

impl GenesisState {
    /// Parses the JSON section.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        serde_json::from_value(v.clone()).map_err(|e| e.to_string())
    }

    /// Validates and writes the params and keys.
    pub fn apply<S: StateWrite + ?Sized>(&self, state: &mut S) -> Result<(), CheckpointingError> {
        params::store(state, &self.params)?;
        for (i, k) in self.bls_keys.iter().enumerate() {
            let bad = |e: CheckpointingError| {
                CheckpointingError::InvalidGenesis(format!(
                    "bls_keys[{i}]: {}",
                    crate::error::with_sources(&e)
                ))
            };
            let validator = consensus_address_hex(&k.validator_address).map_err(bad)?;
            let hex_field = |name: &str, v: &str| {
                hex::decode(v).map_err(|e| {
                    CheckpointingError::InvalidGenesis(format!("bls_keys[{i}].{name}: {e}"))
                })
            };
            let pubkey = hex_field("bls_pubkey", &k.bls_pubkey)?;
            let pop = hex_field("pop", &k.pop)?;
            let key = ProvenBlsKey::new(&pubkey, &pop).map_err(bad)?;
            register_bls_key(state, validator, key, 0).map_err(bad)?;
        }
        Ok(())
    }
}
