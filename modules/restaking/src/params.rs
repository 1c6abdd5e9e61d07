//! Params of the restaking module: validated domain types, their proto and JSON forms, and the
//! defaults a generated genesis file carries.
//!
//! Default power weights (power per base unit of each collateral):
//!
//! | collateral | weight | meaning |
//! |---|---|---|
//! | native ubal | `0.000001` | 1 power per BAL (10^6 ubal): a 100 BAL self-bond gives power 100 |
//! | BTC sat | `0.0001` | 1 power per 10,000 sat (the least BTC stake): 1 BTC gives 10,000 |
//! | ETH wei | `0.000000000001` | 1 power per 10^12 wei: 1 ETH gives 1,000,000 |
//!
//! `native_unbonding_epochs` defaults to 7: with the 10-block local epochs, unbonded ubal returns
//! after 70 blocks; the hub set drops the power at the end of the epoch the unbonding started,
//! long before that.

use crate::error::corrupt;
use crate::{state_key, RestakingError};
use ballast_framework::{Decimal, StateRead, StateReadExt, StateWrite, StateWriteExt};
use ballast_proto::ballast::restaking::v1 as pb;
use serde::{Deserialize, Serialize};

/// Most validators a checkpoint bitmap (13 bytes) can name.
pub const MAX_HUB_VALIDATORS: u32 = 104;

/// Most blocks a CSV timelock can count.
pub const MAX_CSV_BLOCKS: u32 = 65_535;

/// Longest slashing output script accepted (Bitcoin's script size limit).
pub const MAX_SLASHING_SCRIPT_LEN: usize = 10_000;

/// `OP_RETURN "ballast-burn"`: where a slashed share goes by default.
pub const DEFAULT_SLASHING_PK_SCRIPT: &[u8] = b"\x6a\x0cballast-burn";

/// The BTC staking rules a delegation is checked against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BtcStakingParams {
    /// Covenant committee: distinct BIP-340 x-only keys (hex in JSON). Empty by default: a
    /// genesis that accepts BTC delegations must name its committee.
    #[serde(with = "serde_helpers::hex_keys")]
    pub covenant_pks: Vec<[u8; 32]>,
    /// Covenant signatures needed (1 to the committee size when there is a committee).
    pub covenant_quorum: u32,
    /// Least staking value.
    pub min_staking_value_sat: u64,
    /// Most staking value.
    pub max_staking_value_sat: u64,
    /// Least staking timelock, in Bitcoin blocks.
    pub min_staking_time: u32,
    /// Most staking timelock (at most 65,535).
    pub max_staking_time: u32,
    /// Timelock of the unbonding output, in Bitcoin blocks.
    pub unbonding_time: u32,
    /// Exact fee of the unbonding tx.
    pub unbonding_fee_sat: u64,
    /// Share of the value a slashing tx burns (strictly between 0 and 1).
    #[serde(with = "serde_helpers::decimal")]
    pub slashing_rate: Decimal,
    /// Least fee of a slashing tx.
    pub min_slashing_tx_fee_sat: u64,
    /// Output script that receives the slashed share (hex in JSON).
    #[serde(with = "serde_helpers::hex_bytes")]
    pub slashing_pk_script: Vec<u8>,
    /// Depth (0 is the tip) a staking tx needs in the light client to be ACTIVE (k).
    pub btc_confirmation_depth: u64,
}

impl Default for BtcStakingParams {
    fn default() -> Self {
        BtcStakingParams {
            covenant_pks: Vec::new(),
            covenant_quorum: 2,
            min_staking_value_sat: 10_000,
            max_staking_value_sat: 1_000_000_000,
            min_staking_time: 400,
            max_staking_time: MAX_CSV_BLOCKS,
            unbonding_time: 200,
            unbonding_fee_sat: 1_000,
            slashing_rate: Decimal::from_atomics(100_000_000_000_000_000),
            min_slashing_tx_fee_sat: 1_000,
            slashing_pk_script: DEFAULT_SLASHING_PK_SCRIPT.to_vec(),
            btc_confirmation_depth: 6,
        }
    }
}

impl BtcStakingParams {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), RestakingError> {
        let bad = |m: String| Err(RestakingError::InvalidParams(format!("btc: {m}")));
        for (i, k) in self.covenant_pks.iter().enumerate() {
            if secp256k1::XOnlyPublicKey::from_slice(k).is_err() {
                return bad(format!(
                    "covenant_pks[{i}] {} is not a bip-340 x-only key",
                    hex::encode(k)
                ));
            }
            if self.covenant_pks[..i].contains(k) {
                return bad(format!(
                    "covenant_pks[{i}] {} appears twice; committee keys must be distinct",
                    hex::encode(k)
                ));
            }
        }
        if self.covenant_quorum == 0 {
            return bad("covenant_quorum must be at least 1".into());
        }
        let committee = self.covenant_pks.len();
        if committee > 0 && self.covenant_quorum as usize > committee {
            return bad(format!(
                "covenant_quorum {} exceeds the committee size {committee}",
                self.covenant_quorum
            ));
        }
        if self.min_staking_value_sat == 0
            || self.min_staking_value_sat > self.max_staking_value_sat
        {
            return bad(format!(
                "expected 0 < min_staking_value_sat <= max_staking_value_sat, found {} and {}",
                self.min_staking_value_sat, self.max_staking_value_sat
            ));
        }
        if self.min_staking_time == 0
            || self.min_staking_time > self.max_staking_time
            || self.max_staking_time > MAX_CSV_BLOCKS
        {
            return bad(format!(
                "expected 0 < min_staking_time <= max_staking_time <= {MAX_CSV_BLOCKS}, found {} and {}",
                self.min_staking_time, self.max_staking_time
            ));
        }
        if self.unbonding_time == 0 || self.unbonding_time >= self.min_staking_time {
            return bad(format!(
                "expected 0 < unbonding_time < min_staking_time ({}), found {}: a delegation expires when its timelock has less than unbonding_time blocks left",
                self.min_staking_time, self.unbonding_time
            ));
        }
        if self.unbonding_fee_sat == 0 || self.unbonding_fee_sat >= self.min_staking_value_sat {
            return bad(format!(
                "expected 0 < unbonding_fee_sat < min_staking_value_sat ({}), found {}",
                self.min_staking_value_sat, self.unbonding_fee_sat
            ));
        }
        if self.slashing_rate.is_zero() || self.slashing_rate >= Decimal::ONE {
            return bad(format!(
                "slashing_rate must be strictly between 0 and 1, found {}",
                self.slashing_rate
            ));
        }
        if self.min_slashing_tx_fee_sat == 0 {
            return bad("min_slashing_tx_fee_sat must be at least 1".into());
        }
        if self.slashing_pk_script.is_empty()
            || self.slashing_pk_script.len() > MAX_SLASHING_SCRIPT_LEN
        {
            return bad(format!(
                "slashing_pk_script must hold 1 to {MAX_SLASHING_SCRIPT_LEN} bytes, found {}",
                self.slashing_pk_script.len()
            ));
        }
        if self.btc_confirmation_depth == 0 {
            return bad("btc_confirmation_depth must be at least 1".into());
        }
        Ok(())
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::BtcStakingParams {
        pb::BtcStakingParams {
            covenant_pks: self.covenant_pks.iter().map(|k| k.to_vec()).collect(),
            covenant_quorum: self.covenant_quorum,
            min_staking_value_sat: self.min_staking_value_sat,
            max_staking_value_sat: self.max_staking_value_sat,
            min_staking_time: self.min_staking_time,
            max_staking_time: self.max_staking_time,
            unbonding_time: self.unbonding_time,
            unbonding_fee_sat: self.unbonding_fee_sat,
            slashing_rate: self.slashing_rate.to_string(),
            min_slashing_tx_fee_sat: self.min_slashing_tx_fee_sat,
            slashing_pk_script: self.slashing_pk_script.clone(),
            btc_confirmation_depth: self.btc_confirmation_depth,
        }
    }
}

impl TryFrom<pb::BtcStakingParams> for BtcStakingParams {
    type Error = RestakingError;
    fn try_from(p: pb::BtcStakingParams) -> Result<Self, Self::Error> {
        let mut covenant_pks = Vec::with_capacity(p.covenant_pks.len());
        for (i, k) in p.covenant_pks.iter().enumerate() {
            let arr: [u8; 32] = k.as_slice().try_into().map_err(|_| {
                RestakingError::InvalidParams(format!(
                    "btc: covenant_pks[{i}] must be 32 bytes, found {}",
                    k.len()
                ))
            })?;
            covenant_pks.push(arr);
        }
        let out = BtcStakingParams {
            covenant_pks,
            covenant_quorum: p.covenant_quorum,
            min_staking_value_sat: p.min_staking_value_sat,
            max_staking_value_sat: p.max_staking_value_sat,
            min_staking_time: p.min_staking_time,
            max_staking_time: p.max_staking_time,
            unbonding_time: p.unbonding_time,
            unbonding_fee_sat: p.unbonding_fee_sat,
            slashing_rate: parse_decimal("btc.slashing_rate", &p.slashing_rate)?,
            min_slashing_tx_fee_sat: p.min_slashing_tx_fee_sat,
            slashing_pk_script: p.slashing_pk_script,
            btc_confirmation_depth: p.btc_confirmation_depth,
        };
        out.validate()?;
        Ok(out)
    }
}

/// Validated params of the restaking module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Epochs a native unbonding waits before the ubal is returned (at least 1).
    pub native_unbonding_epochs: u64,
    /// Most matured native unbondings paid out per block.
    pub max_unbondings_per_block: u32,
    /// Power per ubal.
    #[serde(with = "serde_helpers::decimal")]
    pub native_power_weight: Decimal,
    /// Power per satoshi.
    #[serde(with = "serde_helpers::decimal")]
    pub btc_power_weight: Decimal,
    /// Power per wei.
    #[serde(with = "serde_helpers::decimal")]
    pub eth_power_weight: Decimal,
    /// Most operators in the hub's validator set (1 to 104).
    pub max_validators: u32,
    /// Least power a hub validator needs (at least 1: CometBFT reads power 0 as removal).
    pub min_validator_power: u64,
    /// Most the commission may move within one epoch (0 to 1).
    #[serde(with = "serde_helpers::decimal")]
    pub max_commission_change: Decimal,
    /// Most BTC delegations moved by time per block.
    pub max_btc_transitions_per_block: u32,
    /// BTC staking rules.
    pub btc: BtcStakingParams,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            native_unbonding_epochs: 7,
            max_unbondings_per_block: 100,
            // 10^-6: 1 power per BAL.
            native_power_weight: Decimal::from_atomics(1_000_000_000_000),
            // 10^-4: 1 power per 10,000 sat.
            btc_power_weight: Decimal::from_atomics(100_000_000_000_000),
            // 10^-12: 1 power per 10^12 wei.
            eth_power_weight: Decimal::from_atomics(1_000_000),
            max_validators: 100,
            min_validator_power: 1,
            // 0.01
            max_commission_change: Decimal::from_atomics(10_000_000_000_000_000),
            max_btc_transitions_per_block: 1000,
            btc: BtcStakingParams::default(),
        }
    }
}

impl Params {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), RestakingError> {
        let bad = |m: String| Err(RestakingError::InvalidParams(m));
        if self.native_unbonding_epochs == 0 {
            return bad("native_unbonding_epochs must be at least 1, so that the hub set drops the power before the ubal returns".into());
        }
        if self.max_unbondings_per_block == 0 {
            return bad("max_unbondings_per_block must be at least 1".into());
        }
        if self.max_validators == 0 || self.max_validators > MAX_HUB_VALIDATORS {
            return bad(format!(
                "max_validators must be between 1 and {MAX_HUB_VALIDATORS} (a checkpoint bitmap has 13 bytes), found {}",
                self.max_validators
            ));
        }
        if self.min_validator_power == 0 {
            return bad(
                "min_validator_power must be at least 1 (power 0 removes a validator in CometBFT)"
                    .into(),
            );
        }
        if self.max_commission_change > Decimal::ONE {
            return bad(format!(
                "max_commission_change must be between 0 and 1, found {}",
                self.max_commission_change
            ));
        }
        if self.max_btc_transitions_per_block == 0 {
            return bad("max_btc_transitions_per_block must be at least 1".into());
        }
        self.btc.validate()
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::Params {
        pb::Params {
            native_unbonding_epochs: self.native_unbonding_epochs,
            max_unbondings_per_block: self.max_unbondings_per_block,
            native_power_weight: self.native_power_weight.to_string(),
            btc_power_weight: self.btc_power_weight.to_string(),
            eth_power_weight: self.eth_power_weight.to_string(),
            max_validators: self.max_validators,
            min_validator_power: self.min_validator_power,
            max_commission_change: self.max_commission_change.to_string(),
            max_btc_transitions_per_block: self.max_btc_transitions_per_block,
            btc: Some(self.btc.to_proto()),
        }
    }
}

impl TryFrom<pb::Params> for Params {
    type Error = RestakingError;
    fn try_from(p: pb::Params) -> Result<Self, Self::Error> {
        let btc = p
            .btc
            .ok_or_else(|| RestakingError::InvalidParams("btc params missing".into()))?;
        let out = Params {
            native_unbonding_epochs: p.native_unbonding_epochs,
            max_unbondings_per_block: p.max_unbondings_per_block,
            native_power_weight: parse_decimal("native_power_weight", &p.native_power_weight)?,
            btc_power_weight: parse_decimal("btc_power_weight", &p.btc_power_weight)?,
            eth_power_weight: parse_decimal("eth_power_weight", &p.eth_power_weight)?,
            max_validators: p.max_validators,
            min_validator_power: p.min_validator_power,
            max_commission_change: parse_decimal(
                "max_commission_change",
                &p.max_commission_change,
            )?,
            max_btc_transitions_per_block: p.max_btc_transitions_per_block,
            btc: BtcStakingParams::try_from(btc)?,
        };
        out.validate()?;
        Ok(out)
    }
}

fn parse_decimal(field: &str, s: &str) -> Result<Decimal, RestakingError> {
    s.parse()
        .map_err(|e| RestakingError::InvalidParams(format!("{field}: {e}")))
}

/// Reads the params; they are written at genesis, so their absence means corrupt state.
pub fn load<S: StateRead + ?Sized>(state: &S) -> Result<Params, RestakingError> {
    let p: pb::Params = state
        .get_proto(state_key::params())?
        .ok_or_else(|| corrupt("restaking params missing from state"))?;
    Params::try_from(p).map_err(|e| corrupt(format!("stored restaking params invalid: {e}")))
}

/// Validates and stores the params.
pub fn store<S: StateWrite + ?Sized>(state: &mut S, params: &Params) -> Result<(), RestakingError> {
    params.validate()?;
    state.put_proto(state_key::params(), &params.to_proto())?;
    Ok(())
}

/// serde adapters for the JSON forms of decimals, keys and byte strings.
pub(crate) mod serde_helpers {
    /// A [`ballast_framework::Decimal`] as its decimal string.
    pub mod decimal {
        use ballast_framework::Decimal;
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&d.to_string())
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
            let s = String::deserialize(d)?;
            s.parse().map_err(serde::de::Error::custom)
        }
    }

    /// Bytes as lower-case hex.
    pub mod hex_bytes {
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&hex::encode(b))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
            let s = String::deserialize(d)?;
            hex::decode(&s).map_err(|e| serde::de::Error::custom(format!("{s:?} is not hex: {e}")))
        }
    }

    /// A list of 32-byte keys as 64-digit hex strings.
    pub mod hex_keys {
        use serde::ser::SerializeSeq;
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(keys: &[[u8; 32]], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(keys.len()))?;
            for k in keys {
                seq.serialize_element(&hex::encode(k))?;
            }
            seq.end()
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 32]>, D::Error> {
            let list = Vec::<String>::deserialize(d)?;
            list.iter()
                .map(|s| {
                    let b = hex::decode(s)
                        .map_err(|e| serde::de::Error::custom(format!("{s:?} is not hex: {e}")))?;
                    <[u8; 32]>::try_from(b.as_slice()).map_err(|_| {
                        serde::de::Error::custom(format!(
                            "{s:?} is not a 32-byte key (64 hex digits)"
                        ))
                    })
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_framework::MemState;

    #[test]
    fn defaults_follow_the_protocol() {
        let p = Params::default();
        p.validate().unwrap();
        assert_eq!(p.native_power_weight.to_string(), "0.000001");
        assert_eq!(p.btc_power_weight.to_string(), "0.0001");
        assert_eq!(p.eth_power_weight.to_string(), "0.000000000001");
        assert_eq!(p.max_commission_change.to_string(), "0.01");
        // 100 BAL self-bond gives power 100.
        assert_eq!(
            p.native_power_weight.mul_int_floor(100_000_000).unwrap(),
            100
        );
        assert_eq!(
            (
                p.max_validators,
                p.min_validator_power,
                p.native_unbonding_epochs
            ),
            (100, 1, 7)
        );
        let b = &p.btc;
        assert!(b.covenant_pks.is_empty());
        assert_eq!(b.covenant_quorum, 2);
        assert_eq!(
            (b.min_staking_value_sat, b.max_staking_value_sat),
            (10_000, 1_000_000_000)
        );
        assert_eq!(
            (b.min_staking_time, b.max_staking_time, b.unbonding_time),
            (400, 65_535, 200)
        );
        assert_eq!(
            (b.unbonding_fee_sat, b.min_slashing_tx_fee_sat),
            (1_000, 1_000)
        );
        assert_eq!(b.slashing_rate.to_string(), "0.1");
        assert_eq!(
            hex::encode(&b.slashing_pk_script),
            "6a0c62616c6c6173742d6275726e"
        );
        assert_eq!(b.btc_confirmation_depth, 6);
    }

    #[test]
    fn bounds_are_enforced() {
        let with = |f: fn(&mut Params)| {
            let mut p = Params::default();
            f(&mut p);
            p.validate()
        };
        assert!(with(|p| p.max_validators = 104).is_ok());
        assert!(
            with(|p| p.btc.covenant_quorum = 7).is_ok(),
            "no committee: any quorum"
        );
        let key = |b: u8| {
            let sk = secp256k1::SecretKey::from_slice(&[b; 32]).unwrap();
            sk.x_only_public_key(secp256k1::SECP256K1).0.serialize()
        };
        for bad in [
            with(|p| p.max_validators = 105),
            with(|p| p.max_validators = 0),
            with(|p| p.min_validator_power = 0),
            with(|p| p.native_unbonding_epochs = 0),
            with(|p| p.max_unbondings_per_block = 0),
            with(|p| p.max_btc_transitions_per_block = 0),
            with(|p| p.max_commission_change = Decimal::from_int(2).unwrap()),
            with(|p| p.btc.covenant_quorum = 0),
            with(|p| p.btc.min_staking_value_sat = 0),
            with(|p| p.btc.max_staking_value_sat = 9_999),
            with(|p| p.btc.max_staking_time = 65_536),
            with(|p| p.btc.min_staking_time = 0),
            with(|p| p.btc.unbonding_time = 400),
            with(|p| p.btc.unbonding_fee_sat = 10_000),
            with(|p| p.btc.slashing_rate = Decimal::ONE),
            with(|p| p.btc.slashing_rate = Decimal::ZERO),
            with(|p| p.btc.min_slashing_tx_fee_sat = 0),
            with(|p| p.btc.slashing_pk_script = Vec::new()),
            with(|p| p.btc.btc_confirmation_depth = 0),
            with(|p| p.btc.covenant_pks = vec![[0xff; 32]]),
        ] {
            assert!(
                matches!(bad, Err(RestakingError::InvalidParams(_))),
                "{bad:?}"
            );
        }
        let mut p = Params::default();
        p.btc.covenant_pks = vec![key(1), key(2), key(3)];
        p.validate().unwrap();
        p.btc.covenant_quorum = 4;
        let e = p.validate().unwrap_err().to_string();
        assert!(e.contains("exceeds the committee size 3"), "{e}");
        p.btc.covenant_quorum = 2;
        p.btc.covenant_pks = vec![key(1), key(1)];
        assert!(p.validate().unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn proto_and_json_round_trip() {
        let mut p = Params::default();
        let sk = secp256k1::SecretKey::from_slice(&[5; 32]).unwrap();
        p.btc.covenant_pks = vec![sk.x_only_public_key(secp256k1::SECP256K1).0.serialize()];
        p.btc.covenant_quorum = 1;
        assert_eq!(Params::try_from(p.to_proto()).unwrap(), p);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["native_power_weight"], "0.000001");
        assert_eq!(
            json["btc"]["slashing_pk_script"],
            "6a0c62616c6c6173742d6275726e"
        );
        assert_eq!(serde_json::from_value::<Params>(json).unwrap(), p);
        // Missing fields take defaults; unknown fields and bad decimals are rejected.
        let partial: Params =
            serde_json::from_value(serde_json::json!({"max_validators": 4})).unwrap();
        assert_eq!(partial.native_unbonding_epochs, 7);
        assert!(serde_json::from_value::<Params>(serde_json::json!({"nope": 1})).is_err());
        assert!(serde_json::from_value::<Params>(
            serde_json::json!({"native_power_weight": "1e-6"})
        )
        .is_err());
        let mut bad = p.to_proto();
        bad.btc_power_weight = "0.5.5".into();
        assert!(matches!(
            Params::try_from(bad),
            Err(RestakingError::InvalidParams(_))
        ));
        let mut bad = p.to_proto();
        bad.btc = None;
        assert!(Params::try_from(bad).is_err());
    }

    #[test]
    fn stores_and_loads() {
        let mut s = MemState::new();
        assert!(load(&s).unwrap_err().to_string().contains("missing"));
        let p = Params {
            max_validators: 4,
            ..Params::default()
        };
        store(&mut s, &p).unwrap();
        assert_eq!(load(&s).unwrap(), p);
        let bad = Params {
            max_validators: 0,
            ..Params::default()
        };
        assert!(store(&mut s, &bad).is_err());
    }
}
