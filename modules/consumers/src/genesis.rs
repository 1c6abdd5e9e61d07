//! Genesis of the consumers module: its params. Consumers register after genesis.
//!
//! ```json
//! "consumers": {
//!   "params": {
//!     "max_reuse_ratio": "3", "deallocation_delay_epochs": 14,
//!     "max_consumers_per_block": 50, "max_operators_cap": 100, "min_fee_per_epoch": "1",
//!     "max_opt_ins_per_consumer": 500
//!   }
//! }
//! ```
//!
//! Missing params fields take their defaults; unknown fields are refused.

use crate::{params, ConsumersError, Params};
use ballast_framework::StateWrite;
use serde::{Deserialize, Serialize};

/// The module's genesis section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisState {
    /// Params (defaults when absent).
    #[serde(default)]
    pub params: Params,
}

impl GenesisState {
    /// Parses the JSON section.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, ConsumersError> {
        serde_json::from_value(v.clone()).map_err(|e| ConsumersError::InvalidGenesis(e.to_string()))
    }

    /// Validates and stores the params.
    pub fn apply<S: StateWrite + ?Sized>(&self, state: &mut S) -> Result<(), ConsumersError> {
        params::store(state, &self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_framework::{ErrorCode, MemState};

    #[test]
    fn parses_applies_and_refuses_bad_sections() {
        let gs = GenesisState::from_json(&serde_json::json!({
            "params": {"max_reuse_ratio": "2.5", "max_consumers_per_block": 7}
        }))
        .unwrap();
        assert_eq!(gs.params.max_consumers_per_block, 7);
        assert_eq!(gs.params.reuse_cap_bps(), 25_000);
        assert_eq!(gs.params.deallocation_delay_epochs, 14);
        let mut s = MemState::new();
        gs.apply(&mut s).unwrap();
        assert_eq!(params::load(&s).unwrap(), gs.params);
        assert_eq!(
            GenesisState::from_json(&serde_json::json!({})).unwrap(),
            GenesisState::default()
        );
        for bad in [
            serde_json::json!({"params": {"max_reuse_ratio": 3}}),
            serde_json::json!({"consumers": []}),
            serde_json::json!([1, 2]),
        ] {
            assert_eq!(
                GenesisState::from_json(&bad).unwrap_err().code(),
                3,
                "{bad}"
            );
        }
        let invalid = GenesisState::from_json(&serde_json::json!({
            "params": {"max_consumers_per_block": 0}
        }))
        .unwrap();
        assert_eq!(invalid.apply(&mut MemState::new()).unwrap_err().code(), 2);
    }
}
