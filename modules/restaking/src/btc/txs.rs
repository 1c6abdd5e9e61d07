//! Unbonding and slashing transactions of a BTC delegation: building them, and the checks
//! the chain runs on the ones a staker submits.
//!
//! Building (unsigned, version 2, lock time 0, every input final with sequence 0xffffffff,
//! byte-identical to Babylon's staking library):
//! - [`build_unbonding_tx`]: spends the staking output; one output worth
//!   `staking_value − unbonding_fee_sat` to the unbonding output ([`UnbondingInfo`]).
//! - [`build_slashing_tx`]: spends the staking output or the unbonding output; output 0 is
//!   `slashing_rate × value` (rounded half up, [`SlashingRate::slashed_amount`]) to
//!   `slashing_pk_script`, output 1 is `value − slashed − min_slashing_tx_fee_sat` to the
//!   staker's unbonding-timelock output ([`SlashingChangeInfo`]). The fee is exactly
//!   `min_slashing_tx_fee_sat`.
//!
//! Checking (the scripts are always rebuilt from the keys and params and compared with the
//! tx, so an output made with another key order, quorum or timelock is refused):
//! - [`validate_staking_tx`]: time and value within bounds, the output at the index has the
//!   rebuilt script and the declared value;
//! - [`validate_unbonding_tx`]: one final unsigned input spending the staking outpoint, one
//!   output with the exact value and the rebuilt script;
//! - [`validate_slashing_tx`]: one final unsigned input spending the given outpoint, exactly
//!   two outputs: the slashed share, exactly, to `slashing_pk_script`, then the change to the
//!   rebuilt unbonding-timelock output, a fee of at least `min_slashing_tx_fee_sat`, no dust;
//! - [`validate_delegation_txs`]: all of the above for the four txs of one delegation.
//!
//! Params are assumed to have passed [`BtcStakingParams::validate`].
//!
//! [`SlashingRate::slashed_amount`]: super::params::SlashingRate::slashed_amount

use bitcoin::absolute::LockTime;
use bitcoin::consensus::encode::deserialize;
use bitcoin::secp256k1::XOnlyPublicKey;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, Script, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};

use super::error::BtcStakingError;
use super::params::BtcStakingParams;
use super::scripts::{SlashingChangeInfo, StakingInfo, UnbondingInfo};

/// The version of every staking, unbonding and slashing tx.
pub const TX_VERSION: i32 = 2;

/// Decodes exactly one consensus-encoded transaction (`what` names it in the error).
pub fn decode_tx(what: &'static str, bytes: &[u8]) -> Result<Transaction, BtcStakingError> {
    deserialize(bytes).map_err(|e| BtcStakingError::MalformedTx {
        what,
        reason: e.to_string(),
    })
}

/// The least value an output paying `script` may have to be relayed by Bitcoin Core with
/// its default dust relay fee (330 sat for P2TR, 0 for OP_RETURN).
pub fn dust_limit(script: &Script) -> u64 {
    script.minimal_non_dust().to_sat()
}

fn check_not_dust(what: &'static str, out: &TxOut) -> Result<(), BtcStakingError> {
    let min = dust_limit(&out.script_pubkey);
    if out.value.to_sat() < min {
        return Err(BtcStakingError::DustOutput {
            what,
            min,
            found: out.value.to_sat(),
        });
    }
    Ok(())
}

fn unsigned_tx(spent: OutPoint, outputs: Vec<TxOut>) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: spent,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: outputs,
    }
}

/// `staking_value − unbonding_fee_sat`.
pub fn unbonding_value(
    params: &BtcStakingParams,
    staking_value_sat: u64,
) -> Result<u64, BtcStakingError> {
    staking_value_sat
        .checked_sub(params.unbonding_fee_sat)
        .ok_or(BtcStakingError::ValueOverflow {
            what: "unbonding tx",
            outputs: params.unbonding_fee_sat,
            available: staking_value_sat,
        })
}

/// The unsigned unbonding tx spending `staking_outpoint` (worth `staking_value_sat`).
pub fn build_unbonding_tx(
    params: &BtcStakingParams,
    staker_pk: XOnlyPublicKey,
    operator_pks: &[XOnlyPublicKey],
    staking_outpoint: OutPoint,
    staking_value_sat: u64,
) -> Result<Transaction, BtcStakingError> {
    let value = unbonding_value(params, staking_value_sat)?;
    let unbonding = UnbondingInfo::from_params(params, staker_pk, operator_pks, value)?;
    let out = unbonding.output();
    check_not_dust("unbonding output", &out)?;
    Ok(unsigned_tx(staking_outpoint, vec![out]))
}

/// The two outputs of a slashing tx spending `spent_value_sat`: the slashed share to
/// `slashing_pk_script` and the change to the staker's unbonding-timelock output.
pub fn slashing_outputs(
    params: &BtcStakingParams,
    staker_pk: XOnlyPublicKey,
    spent_value_sat: u64,
) -> Result<[TxOut; 2], BtcStakingError> {
    let slashed = params.slashing_rate.slashed_amount(spent_value_sat);
    let change = spent_value_sat
        .checked_sub(slashed)
        .and_then(|v| v.checked_sub(params.min_slashing_tx_fee_sat))
        .ok_or(BtcStakingError::ValueOverflow {
            what: "slashing tx",
            outputs: slashed.saturating_add(params.min_slashing_tx_fee_sat),
            available: spent_value_sat,
        })?;
    let slash_out = TxOut {
        value: Amount::from_sat(slashed),
        script_pubkey: params.slashing_pk_script.clone(),
    };
    let change_out = SlashingChangeInfo::from_params(params, staker_pk, change)?.output();
    check_not_dust("slashing output", &slash_out)?;
    check_not_dust("slashing change output", &change_out)?;
    Ok([slash_out, change_out])
}

/// The unsigned slashing tx spending `spent` (the staking output, or output 0 of the
/// unbonding tx) worth `spent_value_sat`.
pub fn build_slashing_tx(
    params: &BtcStakingParams,
    staker_pk: XOnlyPublicKey,
    spent: OutPoint,
    spent_value_sat: u64,
) -> Result<Transaction, BtcStakingError> {
    let outputs = slashing_outputs(params, staker_pk, spent_value_sat)?;
    Ok(unsigned_tx(spent, outputs.to_vec()))
}

/// The shape every pre-signed tx (unbonding, slashing) must have: version 2, lock time 0,
/// one final input spending `spent`, no signatures yet, `outputs` outputs.
fn check_presigned(
    what: &'static str,
    tx: &Transaction,
    spent: OutPoint,
    outputs: usize,
) -> Result<(), BtcStakingError> {
    if tx.version.0 != TX_VERSION {
        return Err(BtcStakingError::WrongTxVersion {
            what,
            found: tx.version.0,
        });
    }
    let [input] = tx.input.as_slice() else {
        return Err(BtcStakingError::WrongInputCount {
            what,
            expected: 1,
            found: tx.input.len(),
        });
    };
    if tx.output.len() != outputs {
        return Err(BtcStakingError::WrongOutputCount {
            what,
            expected: outputs,
            found: tx.output.len(),
        });
    }
    if input.previous_output != spent {
        return Err(BtcStakingError::WrongSpentOutpoint {
            what,
            expected: spent.to_string(),
            found: input.previous_output.to_string(),
        });
    }
    if tx.lock_time != LockTime::ZERO || input.sequence != Sequence::MAX {
        return Err(BtcStakingError::NotFinal {
            what,
            lock_time: tx.lock_time.to_consensus_u32(),
            sequence: input.sequence.to_consensus_u32(),
        });
    }
    if !input.script_sig.is_empty() || !input.witness.is_empty() {
        return Err(BtcStakingError::UnexpectedSignatures { what });
    }
    Ok(())
}

/// Checks the staking tx of a delegation: `staking_time` and `staking_value_sat` within the
/// params' bounds, and the output at `output_index` paying exactly `staking_value_sat` to the
/// staking output rebuilt from the keys and params. Returns the rebuilt staking output.
#[allow(clippy::too_many_arguments)]
pub fn validate_staking_tx(
    params: &BtcStakingParams,
    staker_pk: XOnlyPublicKey,
    operator_pks: &[XOnlyPublicKey],
    staking_time: u32,
    staking_value_sat: u64,
    staking_tx: &Transaction,
    output_index: u32,
) -> Result<StakingInfo, BtcStakingError> {
    params.check_staking_time(staking_time)?;
    params.check_staking_value(staking_value_sat)?;
    let out = usize::try_from(output_index)
        .ok()
        .and_then(|i| staking_tx.output.get(i))
        .ok_or(BtcStakingError::StakingOutputIndexOutOfRange {
            index: output_index,
            outputs: staking_tx.output.len(),
        })?;
    let info = StakingInfo::from_params(
        params,
        staker_pk,
        operator_pks,
        staking_time,
        staking_value_sat,
    )?;
    let expected = info.script_pubkey();
    if out.script_pubkey != expected {
        return Err(BtcStakingError::WrongStakingOutput {
            expected: hex::encode(expected.as_bytes()),
            found: hex::encode(out.script_pubkey.as_bytes()),
        });
    }
    if out.value.to_sat() != staking_value_sat {
        return Err(BtcStakingError::WrongStakingValue {
            expected: staking_value_sat,
            found: out.value.to_sat(),
        });
    }
    Ok(info)
}

/// Checks an unbonding tx: one final unsigned input spending `staking_outpoint` and one
/// output worth `staking_value_sat − unbonding_fee_sat` paying the unbonding output rebuilt
/// from the keys and params. Returns the rebuilt unbonding output.
pub fn validate_unbonding_tx(
    params: &BtcStakingParams,
    staker_pk: XOnlyPublicKey,
    operator_pks: &[XOnlyPublicKey],
    staking_outpoint: OutPoint,
    staking_value_sat: u64,
    unbonding_tx: &Transaction,
) -> Result<UnbondingInfo, BtcStakingError> {
    check_presigned("unbonding tx", unbonding_tx, staking_outpoint, 1)?;
    let expected_value = unbonding_value(params, staking_value_sat)?;
    let out = &unbonding_tx.output[0];
    if out.value.to_sat() != expected_value {
        return Err(BtcStakingError::WrongUnbondingValue {
            expected: expected_value,
            found: out.value.to_sat(),
        });
    }
    let info = UnbondingInfo::from_params(params, staker_pk, operator_pks, expected_value)?;
    let expected = info.script_pubkey();
    if out.script_pubkey != expected {
        return Err(BtcStakingError::WrongUnbondingOutput {
            expected: hex::encode(expected.as_bytes()),
            found: hex::encode(out.script_pubkey.as_bytes()),
        });
    }
    check_not_dust("unbonding output", out)?;
    Ok(info)
}

/// Checks a slashing tx spending `spent` (worth `spent_value_sat`): one final unsigned
/// input, exactly two outputs: output 0 pays exactly `slashing_rate × spent_value_sat`
/// (rounded half up) to `slashing_pk_script`, output 1 pays the staker's unbonding-timelock
/// output, the fee is at least `min_slashing_tx_fee_sat`, and neither output is dust.
pub fn validate_slashing_tx(
    params: &BtcStakingParams,
    staker_pk: XOnlyPublicKey,
    spent: OutPoint,
    spent_value_sat: u64,
    slashing_tx: &Transaction,
) -> Result<(), BtcStakingError> {
    check_presigned("slashing tx", slashing_tx, spent, 2)?;
    let (slash_out, change_out) = (&slashing_tx.output[0], &slashing_tx.output[1]);
    if slash_out.script_pubkey != params.slashing_pk_script {
        return Err(BtcStakingError::WrongSlashingDestination {
            expected: hex::encode(params.slashing_pk_script.as_bytes()),
            found: hex::encode(slash_out.script_pubkey.as_bytes()),
        });
    }
    let slashed = params.slashing_rate.slashed_amount(spent_value_sat);
    if slash_out.value.to_sat() != slashed {
        return Err(BtcStakingError::WrongSlashingAmount {
            expected: slashed,
            value: spent_value_sat,
            found: slash_out.value.to_sat(),
        });
    }
    // The change script does not depend on the value.
    let expected_change = SlashingChangeInfo::from_params(params, staker_pk, 0)?.script_pubkey();
    if change_out.script_pubkey != expected_change {
        return Err(BtcStakingError::WrongSlashingChangeOutput {
            expected: hex::encode(expected_change.as_bytes()),
            found: hex::encode(change_out.script_pubkey.as_bytes()),
        });
    }
    let total = slash_out
        .value
        .to_sat()
        .checked_add(change_out.value.to_sat())
        .filter(|t| *t <= spent_value_sat)
        .ok_or(BtcStakingError::ValueOverflow {
            what: "slashing tx",
            outputs: slash_out
                .value
                .to_sat()
                .saturating_add(change_out.value.to_sat()),
            available: spent_value_sat,
        })?;
    let fee = spent_value_sat - total;
    if fee < params.min_slashing_tx_fee_sat {
        return Err(BtcStakingError::SlashingFeeTooLow {
            min: params.min_slashing_tx_fee_sat,
            found: fee,
        });
    }
    check_not_dust("slashing output", slash_out)?;
    check_not_dust("slashing change output", change_out)?;
    Ok(())
}

/// The four transactions of a delegation request, with what fixes their scripts.
#[derive(Clone, Copy, Debug)]
pub struct DelegationTxs<'a> {
    /// The staker's key.
    pub staker_pk: XOnlyPublicKey,
    /// The operator key(s) the delegation is to.
    pub operator_pks: &'a [XOnlyPublicKey],
    /// Staking timelock, blocks.
    pub staking_time: u32,
    /// Staking value.
    pub staking_value_sat: u64,
    /// The staking tx.
    pub staking_tx: &'a Transaction,
    /// Index of the staking output in the staking tx.
    pub staking_output_index: u32,
    /// Slashing tx spending the staking output.
    pub slashing_tx: &'a Transaction,
    /// Unbonding tx spending the staking output.
    pub unbonding_tx: &'a Transaction,
    /// Slashing tx spending the unbonding output.
    pub unbonding_slashing_tx: &'a Transaction,
}

/// What [`validate_delegation_txs`] rebuilt and checked.
#[derive(Clone, Debug)]
pub struct ValidatedDelegation {
    /// The staking output.
    pub staking: StakingInfo,
    /// The staking outpoint.
    pub staking_outpoint: OutPoint,
    /// The unbonding output.
    pub unbonding: UnbondingInfo,
    /// The unbonding outpoint (output 0 of the unbonding tx).
    pub unbonding_outpoint: OutPoint,
}

/// Checks all four txs of a delegation: the staking tx, its slashing tx, the unbonding tx
/// and the unbonding output's slashing tx.
pub fn validate_delegation_txs(
    params: &BtcStakingParams,
    d: &DelegationTxs<'_>,
) -> Result<ValidatedDelegation, BtcStakingError> {
    let staking = validate_staking_tx(
        params,
        d.staker_pk,
        d.operator_pks,
        d.staking_time,
        d.staking_value_sat,
        d.staking_tx,
        d.staking_output_index,
    )?;
    let staking_outpoint = OutPoint::new(d.staking_tx.compute_txid(), d.staking_output_index);
    validate_slashing_tx(
        params,
        d.staker_pk,
        staking_outpoint,
        d.staking_value_sat,
        d.slashing_tx,
    )?;
    let unbonding = validate_unbonding_tx(
        params,
        d.staker_pk,
        d.operator_pks,
        staking_outpoint,
        d.staking_value_sat,
        d.unbonding_tx,
    )?;
    let unbonding_outpoint = OutPoint::new(d.unbonding_tx.compute_txid(), 0);
    validate_slashing_tx(
        params,
        d.staker_pk,
        unbonding_outpoint,
        unbonding.value_sat(),
        d.unbonding_slashing_tx,
    )?;
    Ok(ValidatedDelegation {
        staking,
        staking_outpoint,
        unbonding,
        unbonding_outpoint,
    })
}
