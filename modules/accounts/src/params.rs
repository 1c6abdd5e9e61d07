//! Params of the accounts module: the fee rule and the gas schedule.

use crate::{state_key, validate_denom, AccountsError};
use ballast_framework::{
    Decimal, GasCosts, StateError, StateRead, StateReadExt, StateWrite, StateWriteExt,
};
use ballast_proto::ballast::accounts::v1 as pb;
use serde::{Deserialize, Serialize};

/// Validated params.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Minimum gas price in `fee_denom` per unit of gas.
    pub min_gas_price: String,
    /// The denom fees are paid in.
    pub fee_denom: String,
    /// Gas per byte of encoded tx.
    pub tx_size_cost_per_byte: u64,
    /// Gas per read.
    pub read_cost_flat: u64,
    /// Gas per byte read.
    pub read_cost_per_byte: u64,
    /// Gas per write.
    pub write_cost_flat: u64,
    /// Gas per byte written.
    pub write_cost_per_byte: u64,
    /// Gas per delete.
    pub delete_cost: u64,
    /// Gas per iterated entry.
    pub iter_next_cost: u64,
    /// Gas per secp256k1 signature check.
    pub sig_verify_cost_secp256k1: u64,
    /// Largest encoded tx, in bytes.
    pub max_tx_bytes: u64,
    /// Largest memo, in characters.
    pub max_memo_chars: u64,
    /// Most messages per tx.
    pub max_msgs_per_tx: u64,
    /// Largest gas limit per tx.
    pub max_tx_gas: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_gas_price: "0.025".into(),
            fee_denom: "ubal".into(),
            tx_size_cost_per_byte: 10,
            read_cost_flat: 1000,
            read_cost_per_byte: 3,
            write_cost_flat: 2000,
            write_cost_per_byte: 30,
            delete_cost: 1000,
            iter_next_cost: 30,
            sig_verify_cost_secp256k1: 1000,
            max_tx_bytes: 262_144,
            max_memo_chars: 256,
            max_msgs_per_tx: 64,
            max_tx_gas: 50_000_000,
        }
    }
}

impl Params {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), AccountsError> {
        self.min_gas_price_decimal()?;
        validate_denom(&self.fee_denom).map_err(|_| {
            AccountsError::InvalidParams(format!("invalid fee_denom {:?}", self.fee_denom))
        })?;
        if self.max_tx_bytes == 0 || self.max_msgs_per_tx == 0 || self.max_tx_gas == 0 {
            return Err(AccountsError::InvalidParams(
                "max_tx_bytes, max_msgs_per_tx and max_tx_gas must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The minimum gas price as a decimal.
    pub fn min_gas_price_decimal(&self) -> Result<Decimal, AccountsError> {
        self.min_gas_price
            .parse()
            .map_err(|e| AccountsError::InvalidParams(format!("min_gas_price: {e}")))
    }

    /// The gas schedule.
    pub fn gas_costs(&self) -> GasCosts {
        GasCosts {
            tx_size_per_byte: self.tx_size_cost_per_byte,
            read_flat: self.read_cost_flat,
            read_per_byte: self.read_cost_per_byte,
            write_flat: self.write_cost_flat,
            write_per_byte: self.write_cost_per_byte,
            delete: self.delete_cost,
            iter_next: self.iter_next_cost,
            sig_verify_secp256k1: self.sig_verify_cost_secp256k1,
        }
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::Params {
        pb::Params {
            min_gas_price: self.min_gas_price.clone(),
            fee_denom: self.fee_denom.clone(),
            tx_size_cost_per_byte: self.tx_size_cost_per_byte,
            read_cost_flat: self.read_cost_flat,
            read_cost_per_byte: self.read_cost_per_byte,
            write_cost_flat: self.write_cost_flat,
            write_cost_per_byte: self.write_cost_per_byte,
            delete_cost: self.delete_cost,
            iter_next_cost: self.iter_next_cost,
            sig_verify_cost_secp256k1: self.sig_verify_cost_secp256k1,
            max_tx_bytes: self.max_tx_bytes,
            max_memo_chars: self.max_memo_chars,
            max_msgs_per_tx: self.max_msgs_per_tx,
            max_tx_gas: self.max_tx_gas,
        }
    }
}

impl TryFrom<pb::Params> for Params {
    type Error = AccountsError;
    fn try_from(p: pb::Params) -> Result<Self, Self::Error> {
        let out = Params {
            min_gas_price: p.min_gas_price,
            fee_denom: p.fee_denom,
            tx_size_cost_per_byte: p.tx_size_cost_per_byte,
            read_cost_flat: p.read_cost_flat,
            read_cost_per_byte: p.read_cost_per_byte,
            write_cost_flat: p.write_cost_flat,
            write_cost_per_byte: p.write_cost_per_byte,
            delete_cost: p.delete_cost,
            iter_next_cost: p.iter_next_cost,
            sig_verify_cost_secp256k1: p.sig_verify_cost_secp256k1,
            max_tx_bytes: p.max_tx_bytes,
            max_memo_chars: p.max_memo_chars,
            max_msgs_per_tx: p.max_msgs_per_tx,
            max_tx_gas: p.max_tx_gas,
        };
        out.validate()?;
        Ok(out)
    }
}

/// Reads the params; they are written at genesis, so their absence means corrupt state.
pub fn load(state: &(impl StateRead + ?Sized)) -> Result<Params, AccountsError> {
    let p: pb::Params = state
        .get_proto(state_key::params())?
        .ok_or_else(|| StateError::Backend("accounts params missing from state".into()))?;
    // Stored params were validated when written; a failure here is corruption.
    Params::try_from(p).map_err(|e| {
        AccountsError::State(StateError::Backend(format!(
            "stored accounts params invalid: {e}"
        )))
    })
}

/// Validates and stores the params.
pub fn store(state: &mut (impl StateWrite + ?Sized), params: &Params) -> Result<(), AccountsError> {
    params.validate()?;
    state.put_proto(state_key::params(), &params.to_proto())?;
    Ok(())
}
