//! Params of the checkpointing module.

use crate::bitmap::MAX_BITMAP_VALIDATORS;
use crate::encoding::CheckpointTag;
use crate::error::corrupt;
use crate::{state_key, CheckpointingError};
use ballast_framework::{StateRead, StateReadExt, StateWrite, StateWriteExt};
use ballast_proto::ballast::checkpointing::v1 as pb;
use serde::{Deserialize, Serialize};

/// Validated params.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Most validators in an epoch's snapshot (1 to 104, the bitmap's 13 bytes).
    pub max_validators: u32,
    /// k: depth of the later of the two Bitcoin transactions for CONFIRMED.
    pub btc_confirmation_depth: u64,
    /// w: depth of the later of the two Bitcoin transactions for FINALIZED.
    pub btc_finalization_timeout: u64,
    /// The tag that starts every part written to Bitcoin: 4 printable ASCII characters.
    pub checkpoint_tag: String,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            max_validators: 100,
            btc_confirmation_depth: 6,
            btc_finalization_timeout: 20,
            checkpoint_tag: "bal0".into(),
        }
    }
}

impl Params {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), CheckpointingError> {
        let bad = |m: String| Err(CheckpointingError::InvalidParams(m));
        if self.max_validators == 0 || self.max_validators as usize > MAX_BITMAP_VALIDATORS {
            return bad(format!(
                "max_validators must be between 1 and {MAX_BITMAP_VALIDATORS} (a checkpoint bitmap has 13 bytes), found {}",
                self.max_validators
            ));
        }
        if self.btc_confirmation_depth == 0 {
            return bad("btc_confirmation_depth must be at least 1".into());
        }
        if self.btc_finalization_timeout <= self.btc_confirmation_depth {
            return bad(format!(
                "btc_finalization_timeout ({}) must be greater than btc_confirmation_depth ({})",
                self.btc_finalization_timeout, self.btc_confirmation_depth
            ));
        }
        self.tag()?;
        Ok(())
    }

    /// The checkpoint tag as bytes.
    pub fn tag(&self) -> Result<CheckpointTag, CheckpointingError> {
        let b = self.checkpoint_tag.as_bytes();
        match <[u8; 4]>::try_from(b) {
            Ok(arr) if arr.iter().all(|c| c.is_ascii_graphic()) => Ok(CheckpointTag(arr)),
            _ => Err(CheckpointingError::InvalidParams(format!(
                "checkpoint_tag must be exactly 4 printable ASCII characters, found {:?}",
                self.checkpoint_tag
            ))),
        }
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::Params {
        pb::Params {
            max_validators: self.max_validators,
            btc_confirmation_depth: self.btc_confirmation_depth,
            btc_finalization_timeout: self.btc_finalization_timeout,
            checkpoint_tag: self.checkpoint_tag.clone(),
        }
    }
}

impl TryFrom<pb::Params> for Params {
    type Error = CheckpointingError;
    fn try_from(p: pb::Params) -> Result<Self, Self::Error> {
        let out = Params {
            max_validators: p.max_validators,
            btc_confirmation_depth: p.btc_confirmation_depth,
            btc_finalization_timeout: p.btc_finalization_timeout,
            checkpoint_tag: p.checkpoint_tag,
        };
        out.validate()?;
        Ok(out)
    }
}

/// Reads the params; they are written at genesis, so their absence means corrupt state.
pub fn load<S: StateRead + ?Sized>(state: &S) -> Result<Params, CheckpointingError> {
    let p: pb::Params = state
        .get_proto(state_key::params())?
        .ok_or_else(|| corrupt("checkpointing params missing from state"))?;
    Params::try_from(p).map_err(|e| corrupt(format!("stored checkpointing params invalid: {e}")))
}

/// Validates and stores the params.
pub fn store<S: StateWrite + ?Sized>(
    state: &mut S,
    params: &Params,
) -> Result<(), CheckpointingError> {
    params.validate()?;
    state.put_proto(state_key::params(), &params.to_proto())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_framework::MemState;

    #[test]
    fn defaults_follow_the_protocol_and_bounds_are_enforced() {
        let p = Params::default();
        p.validate().unwrap();
        assert_eq!(
            (
                p.max_validators,
                p.btc_confirmation_depth,
                p.btc_finalization_timeout
            ),
            (100, 6, 20)
        );
        assert_eq!(p.tag().unwrap(), CheckpointTag(*b"bal0"));
        let with = |f: fn(&mut Params)| {
            let mut p = Params::default();
            f(&mut p);
            p.validate()
        };
        assert!(with(|p| p.max_validators = 104).is_ok());
        for bad in [
            with(|p| p.max_validators = 105),
            with(|p| p.max_validators = 0),
            with(|p| p.btc_confirmation_depth = 0),
            with(|p| p.btc_finalization_timeout = 6),
            with(|p| p.checkpoint_tag = "bal".into()),
            with(|p| p.checkpoint_tag = "bal00".into()),
            with(|p| p.checkpoint_tag = "ba l".into()),
            with(|p| p.checkpoint_tag = "bä0".into()),
        ] {
            assert!(matches!(bad, Err(CheckpointingError::InvalidParams(_))));
        }
        let e = with(|p| p.max_validators = 105).unwrap_err().to_string();
        assert!(e.contains("between 1 and 104") && e.contains("105"), "{e}");
        assert!(serde_json::from_value::<Params>(serde_json::json!({"nope": 1})).is_err());
        let json: Params =
            serde_json::from_value(serde_json::json!({"checkpoint_tag": "tst0"})).unwrap();
        assert_eq!(json.btc_finalization_timeout, 20);
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
    }
}
