//! Params of the Bitcoin light client: the network it follows and the message size limit.

use crate::chain::HEADERS_PER_MSG_HARD_LIMIT;
use crate::{state_key, BtcLightClientError, BtcNetwork};
use ballast_framework::{StateRead, StateReadExt, StateWrite, StateWriteExt};
use ballast_proto::ballast::btclightclient::v1 as pb;
use serde::{Deserialize, Serialize};

/// Default for [`Params::max_headers_per_msg`]: one full difficulty period, so a relayer can
/// catch up a period per tx (2016 headers are about 165 kB of tx, under the default 256 KiB tx
/// limit).
pub const DEFAULT_MAX_HEADERS_PER_MSG: u32 = 2016;

/// Validated params.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// The Bitcoin network followed.
    pub network: BtcNetwork,
    /// Most headers in one `MsgInsertHeaders` (1 to 10 000).
    pub max_headers_per_msg: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            network: BtcNetwork::Regtest,
            max_headers_per_msg: DEFAULT_MAX_HEADERS_PER_MSG,
        }
    }
}

impl Params {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), BtcLightClientError> {
        if self.max_headers_per_msg == 0 || self.max_headers_per_msg > HEADERS_PER_MSG_HARD_LIMIT {
            return Err(BtcLightClientError::InvalidParams(format!(
                "max_headers_per_msg must be between 1 and {HEADERS_PER_MSG_HARD_LIMIT}, found {}",
                self.max_headers_per_msg
            )));
        }
        Ok(())
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::Params {
        pb::Params {
            network: self.network.as_str().to_string(),
            max_headers_per_msg: self.max_headers_per_msg,
        }
    }
}

impl TryFrom<pb::Params> for Params {
    type Error = BtcLightClientError;
    fn try_from(p: pb::Params) -> Result<Self, Self::Error> {
        let network = p
            .network
            .parse()
            .map_err(|e| BtcLightClientError::InvalidParams(format!("network: {e}")))?;
        let out = Params {
            network,
            max_headers_per_msg: p.max_headers_per_msg,
        };
        out.validate()?;
        Ok(out)
    }
}

/// Reads the params; they are written at genesis, so their absence means corrupt state.
pub fn load<S: StateRead + ?Sized>(state: &S) -> Result<Params, BtcLightClientError> {
    let p: pb::Params = state
        .get_proto(state_key::params())?
        .ok_or_else(|| crate::error::corrupt("btclightclient params missing from state"))?;
    Params::try_from(p)
        .map_err(|e| crate::error::corrupt(format!("stored btclightclient params invalid: {e}")))
}

/// Validates and stores the params.
pub fn store<S: StateWrite + ?Sized>(
    state: &mut S,
    params: &Params,
) -> Result<(), BtcLightClientError> {
    params.validate()?;
    state.put_proto(state_key::params(), &params.to_proto())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_framework::MemState;

    #[test]
    fn validates_bounds_and_network_names() {
        assert!(Params::default().validate().is_ok());
        for bad in [0, HEADERS_PER_MSG_HARD_LIMIT + 1] {
            let p = Params {
                max_headers_per_msg: bad,
                ..Params::default()
            };
            assert!(matches!(
                p.validate(),
                Err(BtcLightClientError::InvalidParams(_))
            ));
        }
        let bad_net = pb::Params {
            network: "bitcoin".into(),
            max_headers_per_msg: 10,
        };
        let e = Params::try_from(bad_net).unwrap_err();
        assert!(e.to_string().contains("unknown bitcoin network"), "{e}");
        let json: Params =
            serde_json::from_value(serde_json::json!({"network": "testnet4"})).unwrap();
        assert_eq!(json.network, BtcNetwork::Testnet4);
        assert_eq!(json.max_headers_per_msg, DEFAULT_MAX_HEADERS_PER_MSG);
        assert!(serde_json::from_value::<Params>(serde_json::json!({"nope": 1})).is_err());
    }

    #[test]
    fn stores_and_loads() {
        let mut s = MemState::new();
        assert!(load(&s).unwrap_err().to_string().contains("missing"));
        let p = Params {
            network: BtcNetwork::Signet,
            max_headers_per_msg: 7,
        };
        store(&mut s, &p).unwrap();
        assert_eq!(load(&s).unwrap(), p);
    }
}
