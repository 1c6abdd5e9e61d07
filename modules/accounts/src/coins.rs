//! Coins: a denom and an unsigned amount, with the Cosmos denom rules.

use crate::AccountsError;
use std::collections::BTreeMap;
use std::fmt;

/// One coin.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Coin {
    /// The denom, such as `ubal`.
    pub denom: String,
    /// The amount in the denom's base unit.
    pub amount: u128,
}

impl fmt::Display for Coin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.amount, self.denom)
    }
}

impl Coin {
    /// Parses a proto coin: a valid denom and a base-10 amount that fits in 128 bits.
    pub fn from_proto(
        c: &cosmrs::proto::cosmos::base::v1beta1::Coin,
    ) -> Result<Self, AccountsError> {
        validate_denom(&c.denom)?;
        if c.amount.is_empty() || !c.amount.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AccountsError::InvalidCoins(format!(
                "amount {:?} of {} is not an unsigned integer",
                c.amount, c.denom
            )));
        }
        let amount: u128 = c.amount.parse().map_err(|_| {
            AccountsError::InvalidCoins(format!(
                "amount {} of {} does not fit in 128 bits",
                c.amount, c.denom
            ))
        })?;
        Ok(Coin {
            denom: c.denom.clone(),
            amount,
        })
    }

    /// The proto form.
    pub fn to_proto(&self) -> cosmrs::proto::cosmos::base::v1beta1::Coin {
        cosmrs::proto::cosmos::base::v1beta1::Coin {
            denom: self.denom.clone(),
            amount: self.amount.to_string(),
        }
    }
}

/// Checks a denom against the Cosmos rule `[a-zA-Z][a-zA-Z0-9/:._-]{2,127}`.
pub fn validate_denom(denom: &str) -> Result<(), AccountsError> {
    let bytes = denom.as_bytes();
    let ok = (3..=128).contains(&bytes.len())
        && bytes[0].is_ascii_alphabetic()
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"/:._-".contains(b));
    if ok {
        Ok(())
    } else {
        Err(AccountsError::InvalidCoins(format!(
            "invalid denom {denom:?}"
        )))
    }
}

/// A set of positive coins with distinct denoms, in denom order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coins(BTreeMap<String, u128>);

impl Coins {
    /// Parses proto coins: each valid and positive, no denom twice.
    pub fn from_proto(
        list: &[cosmrs::proto::cosmos::base::v1beta1::Coin],
    ) -> Result<Self, AccountsError> {
        let mut out = BTreeMap::new();
        for c in list {
            let coin = Coin::from_proto(c)?;
            if coin.amount == 0 {
                return Err(AccountsError::InvalidCoins(format!(
                    "zero amount of {}",
                    coin.denom
                )));
            }
            if out.insert(coin.denom.clone(), coin.amount).is_some() {
                return Err(AccountsError::InvalidCoins(format!(
                    "duplicate denom {}",
                    coin.denom
                )));
            }
        }
        Ok(Coins(out))
    }

    /// Whether there are no coins.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The coins in denom order.
    pub fn iter(&self) -> impl Iterator<Item = Coin> + '_ {
        self.0.iter().map(|(d, a)| Coin {
            denom: d.clone(),
            amount: *a,
        })
    }

    /// The amount of one denom (0 if absent).
    pub fn amount_of(&self, denom: &str) -> u128 {
        self.0.get(denom).copied().unwrap_or(0)
    }

    /// The proto form.
    pub fn to_proto(&self) -> Vec<cosmrs::proto::cosmos::base::v1beta1::Coin> {
        self.iter().map(|c| c.to_proto()).collect()
    }
}

impl fmt::Display for Coins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.iter().map(|c| c.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmrs::proto::cosmos::base::v1beta1::Coin as P;

    fn p(d: &str, a: &str) -> P {
        P {
            denom: d.into(),
            amount: a.into(),
        }
    }

    #[test]
    fn parses_and_rejects() {
        let c = Coins::from_proto(&[p("ubal", "5"), p("uatom", "7")]).unwrap();
        assert_eq!(c.to_string(), "7uatom,5ubal");
        for bad in [
            vec![p("ubal", "0")],
            vec![p("ubal", "1"), p("ubal", "2")],
            vec![p("ub", "1")],
            vec![p("1bal", "1")],
            vec![p("ubal", "-1")],
            vec![p("ubal", "")],
            vec![p("ubal", "340282366920938463463374607431768211456")],
        ] {
            assert!(
                matches!(Coins::from_proto(&bad), Err(AccountsError::InvalidCoins(_))),
                "{bad:?}"
            );
        }
    }
}
