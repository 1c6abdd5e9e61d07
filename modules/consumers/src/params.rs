//! Params of the consumers module: the validated domain type, its proto and JSON forms, and
//! the defaults of a generated genesis file.
//!
//! | param | default | rule |
//! |---|---|---|
//! | `max_reuse_ratio` | `"3"` | decimal from 1 to [`MAX_REUSE_RATIO`] |
//! | `deallocation_delay_epochs` | 14 | any (0: a reduction is free at once) |
//! | `max_consumers_per_block` | 50 | at least 1 |
//! | `max_operators_cap` | 100 | 1 to [`MAX_OPERATORS_CAP`] |
//! | `min_fee_per_epoch` | `"1"` | ubal, at least 1 |
//! | `max_opt_ins_per_consumer` | 500 | at least `max_operators_cap` |

use crate::error::corrupt;
use crate::{state_key, ConsumersError};
use ballast_framework::{Decimal, StateRead, StateReadExt, StateWrite, StateWriteExt};
use ballast_proto::ballast::consumers::v1 as pb;
use serde::{Deserialize, Serialize};

/// Basis points in 100%.
pub const BPS: u32 = 10_000;

/// Largest `max_reuse_ratio`: 100 times an operator's stake.
pub const MAX_REUSE_RATIO: u128 = 100;

/// Largest `max_operators_cap`.
pub const MAX_OPERATORS_CAP: u32 = 10_000;

/// Validated params of the consumers module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// How many times an operator's stake may be allocated in total when none of its
    /// allocations is to an isolated consumer.
    #[serde(with = "serde_helpers::decimal")]
    pub max_reuse_ratio: Decimal,
    /// Epochs a reduced or withdrawn allocation stays slashable and encumbered.
    pub deallocation_delay_epochs: u64,
    /// Most consumers processed per block hook.
    pub max_consumers_per_block: u32,
    /// Upper bound of a consumer's `max_operators`.
    pub max_operators_cap: u32,
    /// Least `fee_per_epoch` a consumer may set (ubal).
    #[serde(with = "serde_helpers::amount")]
    pub min_fee_per_epoch: u128,
    /// Most opt-in records a consumer may hold when a new operator opts in.
    pub max_opt_ins_per_consumer: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            max_reuse_ratio: Decimal::from_atomics(3 * Decimal::ONE.atomics()),
            deallocation_delay_epochs: 14,
            max_consumers_per_block: 50,
            max_operators_cap: 100,
            min_fee_per_epoch: 1,
            max_opt_ins_per_consumer: 500,
        }
    }
}

impl Params {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ConsumersError> {
        let bad = |m: String| Err(ConsumersError::InvalidParams(m));
        let max_ratio = Decimal::from_int(MAX_REUSE_RATIO)
            .map_err(|_| ConsumersError::InvalidParams("reuse ratio bound".into()))?;
        if self.max_reuse_ratio < Decimal::ONE || self.max_reuse_ratio > max_ratio {
            return bad(format!(
                "max_reuse_ratio must be between 1 and {MAX_REUSE_RATIO}, found {}",
                self.max_reuse_ratio
            ));
        }
        if self.max_consumers_per_block == 0 {
            return bad("max_consumers_per_block must be at least 1".into());
        }
        if self.max_operators_cap == 0 || self.max_operators_cap > MAX_OPERATORS_CAP {
            return bad(format!(
                "max_operators_cap must be between 1 and {MAX_OPERATORS_CAP}, found {}",
                self.max_operators_cap
            ));
        }
        if self.min_fee_per_epoch == 0 {
            return bad("min_fee_per_epoch must be at least 1 ubal".into());
        }
        if self.max_opt_ins_per_consumer < self.max_operators_cap {
            return bad(format!(
                "max_opt_ins_per_consumer must be at least max_operators_cap {}, found {}",
                self.max_operators_cap, self.max_opt_ins_per_consumer
            ));
        }
        Ok(())
    }

    /// The shared-mode cap: `floor(max_reuse_ratio × 10000)` basis points.
    pub fn reuse_cap_bps(&self) -> u64 {
        // At most 100 × 10000 after validation, so the conversion cannot fail on stored params.
        self.max_reuse_ratio
            .mul_int_floor(u128::from(BPS))
            .ok()
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(u64::MAX)
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::Params {
        pb::Params {
            max_reuse_ratio: self.max_reuse_ratio.to_string(),
            deallocation_delay_epochs: self.deallocation_delay_epochs,
            max_consumers_per_block: self.max_consumers_per_block,
            max_operators_cap: self.max_operators_cap,
            min_fee_per_epoch: self.min_fee_per_epoch.to_string(),
            max_opt_ins_per_consumer: self.max_opt_ins_per_consumer,
        }
    }
}

impl TryFrom<pb::Params> for Params {
    type Error = ConsumersError;
    fn try_from(p: pb::Params) -> Result<Self, Self::Error> {
        let out = Params {
            max_reuse_ratio: p
                .max_reuse_ratio
                .parse()
                .map_err(|e| ConsumersError::InvalidParams(format!("max_reuse_ratio: {e}")))?,
            deallocation_delay_epochs: p.deallocation_delay_epochs,
            max_consumers_per_block: p.max_consumers_per_block,
            max_operators_cap: p.max_operators_cap,
            min_fee_per_epoch: parse_u128(&p.min_fee_per_epoch).map_err(|reason| {
                ConsumersError::InvalidParams(format!(
                    "min_fee_per_epoch {:?}: {reason}",
                    p.min_fee_per_epoch
                ))
            })?,
            max_opt_ins_per_consumer: p.max_opt_ins_per_consumer,
        };
        out.validate()?;
        Ok(out)
    }
}

/// Parses a base-10 unsigned integer of at most 128 bits.
pub(crate) fn parse_u128(s: &str) -> Result<u128, &'static str> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a base-10 unsigned integer");
    }
    s.parse().map_err(|_| "does not fit in 128 bits")
}

/// Reads the params; genesis writes them, so their absence means corrupt state.
pub fn load<S: StateRead + ?Sized>(state: &S) -> Result<Params, ConsumersError> {
    let p: pb::Params = state
        .get_proto(state_key::params())?
        .ok_or_else(|| corrupt("consumers params missing from state"))?;
    Params::try_from(p).map_err(|e| corrupt(format!("stored consumers params invalid: {e}")))
}

/// Validates and stores the params.
pub fn store<S: StateWrite + ?Sized>(state: &mut S, params: &Params) -> Result<(), ConsumersError> {
    params.validate()?;
    state.put_proto(state_key::params(), &params.to_proto())?;
    Ok(())
}

/// serde adapters for the JSON forms of decimals and amounts (both strings).
mod serde_helpers {
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

    pub mod amount {
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&v.to_string())
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
            let s = String::deserialize(d)?;
            super::super::parse_u128(&s)
                .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_framework::{ErrorCode, MemState};

    #[test]
    fn defaults_are_the_protocol_values_and_round_trip() {
        let p = Params::default();
        p.validate().unwrap();
        assert_eq!(p.max_reuse_ratio.to_string(), "3");
        assert_eq!(p.reuse_cap_bps(), 30_000);
        assert_eq!(
            (
                p.deallocation_delay_epochs,
                p.max_consumers_per_block,
                p.max_operators_cap,
                p.min_fee_per_epoch,
                p.max_opt_ins_per_consumer
            ),
            (14, 50, 100, 1, 500)
        );
        assert_eq!(Params::try_from(p.to_proto()).unwrap(), p);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["max_reuse_ratio"], "3");
        assert_eq!(json["min_fee_per_epoch"], "1");
        assert_eq!(json["max_opt_ins_per_consumer"], 500);
        assert_eq!(serde_json::from_value::<Params>(json).unwrap(), p);
        let from_3_0: Params =
            serde_json::from_value(serde_json::json!({"max_reuse_ratio": "3.0"})).unwrap();
        assert_eq!(from_3_0, p);
        let mut s = MemState::new();
        store(&mut s, &p).unwrap();
        assert_eq!(load(&s).unwrap(), p);
    }

    #[test]
    fn every_bound_is_checked() {
        let ok = Params::default();
        let cases = [
            Params {
                max_reuse_ratio: "0.99".parse().unwrap(),
                ..ok.clone()
            },
            Params {
                max_reuse_ratio: "100.000000000000000001".parse().unwrap(),
                ..ok.clone()
            },
            Params {
                max_consumers_per_block: 0,
                ..ok.clone()
            },
            Params {
                max_operators_cap: 0,
                ..ok.clone()
            },
            Params {
                max_operators_cap: MAX_OPERATORS_CAP + 1,
                ..ok.clone()
            },
            Params {
                min_fee_per_epoch: 0,
                ..ok.clone()
            },
            Params {
                max_opt_ins_per_consumer: 99,
                ..ok.clone()
            },
            Params {
                max_operators_cap: 600,
                ..ok.clone()
            },
        ];
        for p in cases {
            assert_eq!(p.validate().unwrap_err().code(), 2, "{p:?}");
        }
        let mut pb = ok.to_proto();
        pb.min_fee_per_epoch = "1e3".into();
        assert_eq!(Params::try_from(pb).unwrap_err().code(), 2);
        let mut pb = ok.to_proto();
        pb.max_reuse_ratio = "x".into();
        assert_eq!(Params::try_from(pb).unwrap_err().code(), 2);
        assert!(serde_json::from_value::<Params>(serde_json::json!({"nope": 1})).is_err());
        assert!(
            serde_json::from_value::<Params>(serde_json::json!({"min_fee_per_epoch": "-1"}))
                .is_err()
        );
        Params {
            max_opt_ins_per_consumer: 100,
            ..ok.clone()
        }
        .validate()
        .unwrap();
        let mut pb = ok.to_proto();
        pb.max_opt_ins_per_consumer = 0;
        assert_eq!(Params::try_from(pb).unwrap_err().code(), 2);
        let one: Params =
            serde_json::from_value(serde_json::json!({"max_reuse_ratio": "1"})).unwrap();
        assert_eq!(one.reuse_cap_bps(), 10_000);
        assert_eq!(
            load(&MemState::new()).unwrap_err().code(),
            ballast_framework::sdk::INTERNAL
        );
    }
}
