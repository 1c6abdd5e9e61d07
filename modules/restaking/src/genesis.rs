//! Genesis of the restaking module: params and the genesis operators with their self-bonds.
//!
//! ```json
//! "restaking": {
//!   "params": {
//!     "native_unbonding_epochs": 7, "max_unbondings_per_block": 100,
//!     "native_power_weight": "0.000001", "btc_power_weight": "0.0001",
//!     "eth_power_weight": "0.000000000001", "max_validators": 100, "min_validator_power": 1,
//!     "max_commission_change": "0.01", "max_btc_transitions_per_block": 1000,
//!     "btc": { "covenant_pks": ["<64 hex>", ...], "covenant_quorum": 2,
//!              "min_staking_value_sat": 10000, "max_staking_value_sat": 1000000000,
//!              "min_staking_time": 400, "max_staking_time": 65535, "unbonding_time": 200,
//!              "unbonding_fee_sat": 1000, "slashing_rate": "0.1",
//!              "min_slashing_tx_fee_sat": 1000,
//!              "slashing_pk_script": "6a0c62616c6c6173742d6275726e",
//!              "btc_confirmation_depth": 6 }
//!   },
//!   "operators": [ {
//!     "owner": "ballast1...", "btc_pk": "<64 hex>", "btc_pop": "<128 hex>",
//!     "consensus_pubkey": "<64 hex, or empty>", "commission": "0.05",
//!     "description": { "moniker": "node0", "identity": "", "website": "", "details": "" },
//!     "self_bond": "100000000"
//!   } ]
//! }
//! ```
//!
//! Missing params fields take their defaults. Each operator goes through the same checks as
//! `MsgRegisterOperator` (its proof of possession is verified), then its owner's `self_bond`
//! ubal moves from the owner's genesis balance (accounts' genesis runs first) to the module
//! account. Last, the first hub validator set is computed and stored, without updates: the app
//! returns it from InitChain ([`crate::PowerTableRead::hub_validators`]).

use crate::operator::{self, sign_pop, OperatorId, OperatorRegistration};
use crate::power::parse_amount;
use crate::{native, params, valset, Params, RestakingError};
use ballast_framework::{Address, StateWrite};
use ballast_proto::ballast::restaking::v1 as pb;
use serde::{Deserialize, Serialize};

/// Commission of the operators [`genesis_operator`] writes.
pub const DEFAULT_GENESIS_COMMISSION: &str = "0.05";

/// An operator's description in genesis JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisDescription {
    /// Display name.
    pub moniker: String,
    /// Identity.
    #[serde(default)]
    pub identity: String,
    /// Website.
    #[serde(default)]
    pub website: String,
    /// Details.
    #[serde(default)]
    pub details: String,
}

/// A genesis operator and its owner's self-bond.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisOperator {
    /// bech32 owner account (must hold `self_bond` ubal in the accounts genesis).
    pub owner: String,
    /// BIP-340 x-only key, 64 hex digits.
    pub btc_pk: String,
    /// BIP-340 signature by `btc_pk` over sha256(owner address bytes), 128 hex digits.
    pub btc_pop: String,
    /// ed25519 consensus key, 64 hex digits; empty for an operator that does not validate.
    #[serde(default)]
    pub consensus_pubkey: String,
    /// Decimal from 0 to 1.
    pub commission: String,
    /// Description.
    pub description: GenesisDescription,
    /// ubal bonded from the owner's balance (base-10; "0" for none).
    pub self_bond: String,
}

impl GenesisOperator {
    fn registration(&self) -> Result<OperatorRegistration, RestakingError> {
        let hex_field = |field: &'static str, s: &str| {
            hex::decode(s).map_err(|e| {
                RestakingError::InvalidGenesis(format!("{field} {s:?} is not hex: {e}"))
            })
        };
        OperatorRegistration::from_proto(&pb::MsgRegisterOperator {
            owner: self.owner.clone(),
            btc_pk: hex_field("btc_pk", &self.btc_pk)?,
            btc_pop: hex_field("btc_pop", &self.btc_pop)?,
            consensus_pubkey: hex_field("consensus_pubkey", &self.consensus_pubkey)?,
            commission: self.commission.clone(),
            description: Some(pb::Description {
                moniker: self.description.moniker.clone(),
                identity: self.description.identity.clone(),
                website: self.description.website.clone(),
                details: self.description.details.clone(),
            }),
        })
    }
}

/// A valid genesis operator entry: `btc_sk`'s key, its proof of possession for `owner`, the
/// consensus key, [`DEFAULT_GENESIS_COMMISSION`], and a self-bond of `self_bond` ubal (the owner
/// must hold it in the accounts genesis). For `ballastd init` and `testnet generate`.
pub fn genesis_operator(
    owner: &Address,
    btc_sk: &secp256k1::SecretKey,
    consensus_pubkey: [u8; 32],
    self_bond: u128,
    moniker: &str,
) -> GenesisOperator {
    GenesisOperator {
        owner: owner.to_string(),
        btc_pk: OperatorId::from_secret_key(btc_sk).to_string(),
        btc_pop: hex::encode(sign_pop(btc_sk, owner)),
        consensus_pubkey: hex::encode(consensus_pubkey),
        commission: DEFAULT_GENESIS_COMMISSION.into(),
        description: GenesisDescription {
            moniker: moniker.into(),
            ..GenesisDescription::default()
        },
        self_bond: self_bond.to_string(),
    }
}

/// The module's genesis section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisState {
    /// Params (defaults when absent).
    #[serde(default)]
    pub params: Params,
    /// Genesis operators, registered in this order.
    #[serde(default)]
    pub operators: Vec<GenesisOperator>,
}

impl GenesisState {
    /// Parses the JSON section.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        serde_json::from_value(v.clone()).map_err(|e| e.to_string())
    }

    /// Stores the params, registers and self-bonds the operators (registered at `height`), and
    /// computes the first hub validator set.
    pub fn apply<S: StateWrite + ?Sized>(
        &self,
        state: &mut S,
        height: u64,
    ) -> Result<(), RestakingError> {
        params::store(state, &self.params)?;
        for (i, g) in self.operators.iter().enumerate() {
            let bad = |e: RestakingError| {
                RestakingError::InvalidGenesis(format!(
                    "operators[{i}] ({}): {}",
                    g.btc_pk,
                    crate::error::with_sources(&e)
                ))
            };
            let reg = g.registration().map_err(bad)?;
            operator::register(state, &reg, height).map_err(bad)?;
            let bond = parse_amount("self_bond", &g.self_bond, true).map_err(bad)?;
            if bond > 0 {
                native::bond(state, &reg.owner, &reg.id, bond).map_err(bad)?;
            }
        }
        valset::init_set(state)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::PowerTableRead;
    use crate::testutil::*;
    use crate::{module_account, BOND_DENOM};
    use ballast_accounts::AccountsRead;
    use ballast_framework::{ErrorCode, MemState};

    fn state_with_balances(balances: &[(Address, u128)]) -> MemState {
        let mut s = MemState::new();
        ballast_accounts::GenesisState::default()
            .apply(&mut s)
            .unwrap();
        for (a, amount) in balances {
            fund(&mut s, a, *amount);
        }
        s
    }

    #[test]
    fn genesis_operators_are_registered_bonded_and_form_the_first_set() {
        let mut s = state_with_balances(&[(owner(1), 150_000_000), (owner(2), 300_000_000)]);
        let gs = GenesisState {
            params: Params::default(),
            operators: vec![
                genesis_operator(&owner(1), &btc_sk(1), cons_pk(1), 100_000_000, "node0"),
                genesis_operator(&owner(2), &btc_sk(2), cons_pk(2), 300_000_000, "node1"),
            ],
        };
        // Through JSON, as genesis.json carries it.
        let json = serde_json::to_value(&gs).unwrap();
        assert_eq!(json["operators"][0]["self_bond"], "100000000");
        assert_eq!(json["operators"][0]["commission"], "0.05");
        let parsed = GenesisState::from_json(&json).unwrap();
        assert_eq!(parsed, gs);
        parsed.apply(&mut s, 1).unwrap();
        let set = s.hub_validators().unwrap();
        assert_eq!(
            set.iter()
                .map(|v| (v.consensus_pubkey, v.power))
                .collect::<Vec<_>>(),
            vec![(cons_pk(2), 300), (cons_pk(1), 100)]
        );
        assert_eq!(s.balance(&owner(1), BOND_DENOM).unwrap(), 50_000_000);
        assert_eq!(
            s.balance(&module_account(), BOND_DENOM).unwrap(),
            400_000_000
        );
        assert_eq!(s.current_epoch().unwrap(), 1);
        assert!(crate::valset::pending_updates(&s).unwrap().is_empty());
        let op = s
            .operator(&OperatorId::from_secret_key(&btc_sk(1)))
            .unwrap()
            .unwrap();
        assert_eq!(op.description.moniker, "node0");
        assert_eq!(op.registered_height, 1);
    }

    #[test]
    fn a_bad_pop_a_short_balance_or_a_duplicate_is_refused() {
        let base = genesis_operator(&owner(1), &btc_sk(1), cons_pk(1), 100, "node0");
        let apply = |ops: Vec<GenesisOperator>| {
            let mut s = state_with_balances(&[(owner(1), 1_000)]);
            GenesisState {
                params: Params::default(),
                operators: ops,
            }
            .apply(&mut s, 1)
        };
        apply(vec![base.clone()]).unwrap();
        // The pop was signed for owner(1); claiming owner(2) breaks it.
        let mut stolen = base.clone();
        stolen.owner = owner(2).to_string();
        let e = apply(vec![stolen]).unwrap_err();
        assert_eq!(e.code(), 3);
        assert!(e.to_string().contains("proof of possession"), "{e}");
        let mut rich = base.clone();
        rich.self_bond = "1001".into();
        assert!(apply(vec![rich])
            .unwrap_err()
            .to_string()
            .contains("insufficient funds"));
        assert_eq!(
            apply(vec![base.clone(), base.clone()]).unwrap_err().code(),
            3
        );
        let mut bad_hex = base.clone();
        bad_hex.btc_pop = "zz".into();
        assert_eq!(apply(vec![bad_hex]).unwrap_err().code(), 3);
        let mut zero = base;
        zero.self_bond = "0".into();
        zero.consensus_pubkey = String::new();
        apply(vec![zero]).unwrap();
        assert!(
            GenesisState::from_json(&serde_json::json!({"operators": [{"owner": "x"}]})).is_err()
        );
        assert!(GenesisState::from_json(&serde_json::json!({"unknown": 1})).is_err());
    }

    #[test]
    fn the_default_genesis_has_default_params_and_no_operators() {
        let v = serde_json::to_value(GenesisState::default()).unwrap();
        assert_eq!(v["operators"], serde_json::json!([]));
        assert_eq!(v["params"]["max_validators"], 100);
        let mut s = state_with_balances(&[]);
        GenesisState::from_json(&v)
            .unwrap()
            .apply(&mut s, 1)
            .unwrap();
        assert!(s.hub_validators().unwrap().is_empty());
        assert_eq!(s.restaking_params().unwrap(), Params::default());
    }
}
