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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btc::params::SlashingRate;
    use crate::btc::scripts::{
        multisig_script, single_key_script, slashing_script, timelock_script, unspendable_key,
    };
    use crate::btc::staking_tx::{build_staking_tx, FundingUtxo};
    use bitcoin::hashes::Hash;
    use bitcoin::secp256k1::{SecretKey, SECP256K1};
    use bitcoin::taproot::TaprootBuilder;
    use bitcoin::Txid;
    use proptest::prelude::*;

    fn key(i: u8) -> XOnlyPublicKey {
        SecretKey::from_slice(&[i; 32])
            .expect("valid scalar")
            .x_only_public_key(SECP256K1)
            .0
    }

    const STAKER: u8 = 40;
    const OPERATOR: u8 = 41;
    const TIME: u32 = 1_000;
    const VALUE: u64 = 500_000;

    fn params() -> BtcStakingParams {
        BtcStakingParams {
            covenant_pks: vec![key(3), key(1), key(2)],
            covenant_quorum: 2,
            min_staking_value_sat: 10_000,
            max_staking_value_sat: 1_000_000_000,
            min_staking_time: 400,
            max_staking_time: 65_535,
            unbonding_time: 200,
            unbonding_fee_sat: 1_000,
            slashing_rate: "0.1".parse().expect("rate"),
            min_slashing_tx_fee_sat: 1_000,
            slashing_pk_script: ScriptBuf::from_bytes(
                hex::decode("6a0c62616c6c6173742d6275726e").expect("hex"),
            ),
        }
    }

    fn funding() -> FundingUtxo {
        FundingUtxo {
            outpoint: OutPoint::new(Txid::from_byte_array([0x11; 32]), 0),
            value_sat: 10_000_000,
            script_pubkey: StakingInfo::new(key(50), &[key(51)], &[key(52)], 1, 10, 1)
                .expect("any p2tr")
                .script_pubkey(),
        }
    }

    /// A staking tx whose output 0 is `out`.
    fn staking_tx_paying(out: TxOut) -> Transaction {
        let f = funding();
        build_staking_tx(&out, &f, &f.script_pubkey, 2)
            .expect("funded")
            .tx
    }

    fn good_staking_tx() -> Transaction {
        let info = StakingInfo::from_params(&params(), key(STAKER), &[key(OPERATOR)], TIME, VALUE)
            .expect("valid");
        staking_tx_paying(info.output())
    }

    fn code<T: std::fmt::Debug>(r: Result<T, BtcStakingError>) -> u32 {
        r.expect_err("refused").code()
    }

    fn validate_staking(tx: &Transaction) -> Result<StakingInfo, BtcStakingError> {
        validate_staking_tx(&params(), key(STAKER), &[key(OPERATOR)], TIME, VALUE, tx, 0)
    }

    /// A P2TR output with the staking tree shape built from arbitrary leaves.
    fn p2tr_of(slashing: ScriptBuf, unbonding: ScriptBuf, timelock: ScriptBuf) -> TxOut {
        let spend = TaprootBuilder::new()
            .add_leaf(1, slashing)
            .and_then(|b| b.add_leaf(2, unbonding))
            .and_then(|b| b.add_leaf(2, timelock))
            .expect("valid depths")
            .finalize(SECP256K1, unspendable_key())
            .expect("complete");
        TxOut {
            value: Amount::from_sat(VALUE),
            script_pubkey: ScriptBuf::new_p2tr_tweaked(spend.output_key()),
        }
    }

    #[test]
    fn the_rebuilt_staking_output_is_accepted() {
        let info = validate_staking(&good_staking_tx()).expect("valid");
        assert_eq!(info.value_sat(), VALUE);
    }

    #[test]
    fn staking_outputs_with_unsorted_keys_another_quorum_or_time_are_refused() {
        let p = params();
        let staker = key(STAKER);
        // Covenant keys in the order given, not sorted.
        let unsorted_multisig = {
            let mut b = bitcoin::script::Builder::new();
            for (i, k) in p.covenant_pks.iter().enumerate() {
                b = b.push_slice(k.serialize()).push_opcode(if i == 0 {
                    bitcoin::opcodes::all::OP_CHECKSIG
                } else {
                    bitcoin::opcodes::all::OP_CHECKSIGADD
                });
            }
            b.push_int(2)
                .push_opcode(bitcoin::opcodes::all::OP_NUMEQUAL)
                .into_script()
        };
        assert_ne!(
            unsorted_multisig,
            multisig_script("covenant", &p.covenant_pks, 2, false).expect("valid")
        );
        let with_unsorted = |prefix: ScriptBuf| {
            let mut b = prefix.into_bytes();
            b.extend_from_slice(unsorted_multisig.as_bytes());
            ScriptBuf::from_bytes(b)
        };
        let mut slashing_prefix = single_key_script(&staker, true).into_bytes();
        slashing_prefix.extend_from_slice(single_key_script(&key(OPERATOR), true).as_bytes());
        let unsorted = p2tr_of(
            with_unsorted(ScriptBuf::from_bytes(slashing_prefix)),
            with_unsorted(single_key_script(&staker, true)),
            timelock_script(&staker, "t", TIME).expect("valid"),
        );
        let e = validate_staking(&staking_tx_paying(unsorted)).expect_err("unsorted keys");
        assert_eq!(e.code(), 112);
        assert!(
            e.to_string().contains("differs from the one rebuilt"),
            "{e}"
        );

        // Quorum − 1, staking time + 1, another operator, another staker.
        let other = |staker: u8, operator: u8, quorum: u32, time: u32| {
            StakingInfo::new(
                key(staker),
                &[key(operator)],
                &p.covenant_pks,
                quorum,
                time,
                VALUE,
            )
            .expect("valid")
            .output()
        };
        for out in [
            other(STAKER, OPERATOR, 1, TIME),
            other(STAKER, OPERATOR, 2, TIME + 1),
            other(STAKER, 42, 2, TIME),
            other(43, OPERATOR, 2, TIME),
        ] {
            assert_eq!(code(validate_staking(&staking_tx_paying(out))), 112);
        }
        // The slashing leaf with the operator key after the covenants.
        let reordered = p2tr_of(
            slashing_script(&staker, &p.covenant_pks, &[key(OPERATOR)], 1).expect("valid"),
            crate::btc::scripts::unbonding_script(&staker, &p.covenant_pks, 2).expect("valid"),
            timelock_script(&staker, "t", TIME).expect("valid"),
        );
        assert_eq!(code(validate_staking(&staking_tx_paying(reordered))), 112);
    }

    #[test]
    fn staking_value_time_and_index_are_checked() {
        let p = params();
        let tx = good_staking_tx();
        let v = |time: u32, value: u64, index: u32| {
            validate_staking_tx(&p, key(STAKER), &[key(OPERATOR)], time, value, &tx, index)
        };
        assert_eq!(code(v(TIME, VALUE, 2)), 111);
        assert_eq!(code(v(TIME, 9_999, 0)), 114);
        assert_eq!(code(v(TIME, 1_000_000_001, 0)), 114);
        assert_eq!(code(v(399, VALUE, 0)), 115);
        // Scripts do not depend on the value: a declared value that differs from the
        // output's is WrongStakingValue.
        assert_eq!(code(v(TIME, VALUE + 1, 0)), 113);
        assert_eq!(code(decode_tx("staking tx", &[0x02, 0x00])), 110);
        let mut bytes = bitcoin::consensus::encode::serialize(&tx);
        bytes.push(0);
        assert_eq!(code(decode_tx("staking tx", &bytes)), 110);
    }

    fn staking_outpoint() -> OutPoint {
        OutPoint::new(good_staking_tx().compute_txid(), 0)
    }

    fn good_unbonding_tx() -> Transaction {
        build_unbonding_tx(
            &params(),
            key(STAKER),
            &[key(OPERATOR)],
            staking_outpoint(),
            VALUE,
        )
        .expect("valid")
    }

    fn validate_unbonding(tx: &Transaction) -> Result<UnbondingInfo, BtcStakingError> {
        validate_unbonding_tx(
            &params(),
            key(STAKER),
            &[key(OPERATOR)],
            staking_outpoint(),
            VALUE,
            tx,
        )
    }

    #[test]
    fn unbonding_tx_shape_value_and_script_are_checked() {
        let good = good_unbonding_tx();
        let info = validate_unbonding(&good).expect("valid");
        assert_eq!(info.value_sat(), VALUE - 1_000);
        let with = |f: &dyn Fn(&mut Transaction)| {
            let mut t = good.clone();
            f(&mut t);
            validate_unbonding(&t)
        };
        assert_eq!(code(with(&|t| t.input.push(t.input[0].clone()))), 116);
        assert_eq!(code(with(&|t| t.input.clear())), 116);
        assert_eq!(code(with(&|t| t.output.push(t.output[0].clone()))), 117);
        assert_eq!(code(with(&|t| t.input[0].previous_output.vout = 1)), 118);
        assert_eq!(
            code(with(&|t| t.lock_time = LockTime::from_consensus(5))),
            119
        );
        assert_eq!(
            code(with(
                &|t| t.input[0].sequence = Sequence::ENABLE_RBF_NO_LOCKTIME
            )),
            119
        );
        assert_eq!(code(with(&|t| t.version = Version::ONE)), 120);
        assert_eq!(code(with(&|t| t.input[0].witness.push([1u8; 64]))), 121);
        assert_eq!(
            code(with(&|t| t.output[0].value = Amount::from_sat(VALUE - 999))),
            122
        );
        let mut other_time = params();
        other_time.unbonding_time = 201;
        let wrong_script = build_unbonding_tx(
            &other_time,
            key(STAKER),
            &[key(OPERATOR)],
            staking_outpoint(),
            VALUE,
        )
        .expect("valid");
        let e = validate_unbonding(&wrong_script).expect_err("other time");
        assert_eq!(e.code(), 123);
        // A staking value below the unbonding fee.
        assert_eq!(
            code(validate_unbonding_tx(
                &params(),
                key(STAKER),
                &[key(OPERATOR)],
                staking_outpoint(),
                999,
                &good,
            )),
            129
        );
        // An unbonding output that would be dust.
        assert_eq!(
            code(build_unbonding_tx(
                &params(),
                key(STAKER),
                &[key(OPERATOR)],
                staking_outpoint(),
                1_329,
            )),
            128
        );
    }

    fn good_slashing_tx() -> Transaction {
        build_slashing_tx(&params(), key(STAKER), staking_outpoint(), VALUE).expect("valid")
    }

    fn validate_slashing(tx: &Transaction) -> Result<(), BtcStakingError> {
        validate_slashing_tx(&params(), key(STAKER), staking_outpoint(), VALUE, tx)
    }

    #[test]
    fn slashing_tx_destination_amounts_and_fee_are_checked() {
        let good = good_slashing_tx();
        validate_slashing(&good).expect("valid");
        assert_eq!(good.output[0].value.to_sat(), 50_000);
        assert_eq!(good.output[1].value.to_sat(), VALUE - 50_000 - 1_000);
        let with = |f: &dyn Fn(&mut Transaction)| {
            let mut t = good.clone();
            f(&mut t);
            validate_slashing(&t)
        };
        assert_eq!(
            code(with(&|t| {
                t.output.pop();
            })),
            117
        );
        assert_eq!(
            code(with(
                &|t| t.output[0].script_pubkey = t.output[1].script_pubkey.clone()
            )),
            124
        );
        assert_eq!(
            code(with(&|t| t.output[0].value = Amount::from_sat(49_999))),
            125
        );
        assert_eq!(
            code(with(&|t| t.output[0].value = Amount::from_sat(50_001))),
            125
        );
        let other_staker = SlashingChangeInfo::new(key(44), 200, 0).expect("valid");
        assert_eq!(
            code(with(
                &|t| t.output[1].script_pubkey = other_staker.script_pubkey()
            )),
            126
        );
        let other_time = SlashingChangeInfo::new(key(STAKER), 199, 0).expect("valid");
        assert_eq!(
            code(with(
                &|t| t.output[1].script_pubkey = other_time.script_pubkey()
            )),
            126
        );
        // A fee below the minimum, and outputs worth more than the input.
        assert_eq!(
            code(with(
                &|t| t.output[1].value = Amount::from_sat(VALUE - 50_000 - 999)
            )),
            127
        );
        assert_eq!(
            code(with(&|t| t.output[1].value = Amount::from_sat(VALUE))),
            129
        );
        assert_eq!(code(with(&|t| t.output[1].value = Amount::MAX)), 129);
        // A larger fee is fine.
        with(&|t| t.output[1].value = Amount::from_sat(VALUE - 50_000 - 5_000)).expect("ok");
        // Dust change: the build refuses it, and so does the check.
        assert_eq!(
            code(build_slashing_tx(
                &params(),
                key(STAKER),
                staking_outpoint(),
                1_400
            )),
            128
        );
        assert_eq!(
            code(with(&|t| t.output[1].value = Amount::from_sat(329))),
            128
        );
        // Not enough to pay the slashed share and the fee.
        assert_eq!(
            code(build_slashing_tx(
                &params(),
                key(STAKER),
                staking_outpoint(),
                1_000
            )),
            129
        );
        // A slashing destination that is not OP_RETURN must not receive dust.
        let mut p2tr_dest = params();
        p2tr_dest.slashing_pk_script = other_staker.script_pubkey();
        p2tr_dest.slashing_rate = SlashingRate::from_atomics(100_000_000_000_000).expect("1e-4");
        assert_eq!(
            code(build_slashing_tx(
                &p2tr_dest,
                key(STAKER),
                staking_outpoint(),
                VALUE
            )),
            128
        );
    }

    #[test]
    fn a_whole_delegation_is_checked_in_order() {
        let p = params();
        let staking_tx = good_staking_tx();
        let slashing = good_slashing_tx();
        let unbonding = good_unbonding_tx();
        let unbonding_slashing = build_slashing_tx(
            &p,
            key(STAKER),
            OutPoint::new(unbonding.compute_txid(), 0),
            VALUE - 1_000,
        )
        .expect("valid");
        let d = DelegationTxs {
            staker_pk: key(STAKER),
            operator_pks: &[key(OPERATOR)],
            staking_time: TIME,
            staking_value_sat: VALUE,
            staking_tx: &staking_tx,
            staking_output_index: 0,
            slashing_tx: &slashing,
            unbonding_tx: &unbonding,
            unbonding_slashing_tx: &unbonding_slashing,
        };
        let ok = validate_delegation_txs(&p, &d).expect("valid");
        assert_eq!(ok.unbonding.value_sat(), VALUE - 1_000);
        // The slashing txs swapped: each spends the other's outpoint.
        let swapped = DelegationTxs {
            slashing_tx: &unbonding_slashing,
            unbonding_slashing_tx: &slashing,
            ..d
        };
        assert_eq!(code(validate_delegation_txs(&p, &swapped)), 118);
    }

    fn arb_case() -> impl Strategy<Value = (BtcStakingParams, u64, u32)> {
        (
            prop::sample::subsequence((1u8..=30).collect::<Vec<_>>(), 1..=6).prop_shuffle(),
            any::<prop::sample::Index>(),
            1u32..=65_535,
            1u32..=65_535,
            1u64..=50_000,
            1u64..=5_000,
            1u64..=100_000,
            any::<prop::sample::Index>(),
        )
            .prop_map(
                |(cov, q, time, unbonding_time, ufee, rate_e4, min_fee, v)| {
                    let quorum = u32::try_from(q.index(cov.len()) + 1).expect("small");
                    let min_value = 2 * (ufee + min_fee) + 2_000;
                    let value = min_value + u64::try_from(v.index(1_000_000_000)).expect("fits");
                    let params = BtcStakingParams {
                        covenant_pks: cov.iter().map(|i| key(*i)).collect(),
                        covenant_quorum: quorum,
                        min_staking_value_sat: min_value,
                        max_staking_value_sat: min_value + 1_000_000_000,
                        min_staking_time: 1,
                        max_staking_time: 65_535,
                        unbonding_time,
                        unbonding_fee_sat: ufee,
                        slashing_rate: SlashingRate::from_atomics(rate_e4 * 100_000_000_000_000)
                            .expect("below one half"),
                        min_slashing_tx_fee_sat: min_fee,
                        slashing_pk_script: ScriptBuf::from_bytes(
                            hex::decode("6a0c62616c6c6173742d6275726e").expect("hex"),
                        ),
                    };
                    (params, value, time)
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn built_txs_pass_their_checks((p, value, time) in arb_case()) {
            prop_assert_eq!(p.validate(), Ok(()));
            let staker = key(STAKER);
            let ops = [key(OPERATOR)];
            let info = StakingInfo::from_params(&p, staker, &ops, time, value).expect("valid");
            let f = FundingUtxo { value_sat: value + 1_000_000, ..funding() };
            let staking_tx = build_staking_tx(&info.output(), &f, &f.script_pubkey, 3)
                .expect("funded").tx;
            let outpoint = OutPoint::new(staking_tx.compute_txid(), 0);
            let slashing = build_slashing_tx(&p, staker, outpoint, value).expect("valid");
            let unbonding = build_unbonding_tx(&p, staker, &ops, outpoint, value).expect("valid");
            let unbonding_value = value - p.unbonding_fee_sat;
            let unbonding_slashing = build_slashing_tx(
                &p, staker, OutPoint::new(unbonding.compute_txid(), 0), unbonding_value,
            ).expect("valid");
            // Fees: exactly the minimum; amounts: rounded half up.
            let slashed = slashing.output[0].value.to_sat();
            prop_assert_eq!(
                u128::from(slashed),
                (u128::from(p.slashing_rate.atomics()) * u128::from(value)
                    + u128::from(SlashingRate::SCALE) / 2) / u128::from(SlashingRate::SCALE)
            );
            prop_assert_eq!(
                value - slashed - slashing.output[1].value.to_sat(),
                p.min_slashing_tx_fee_sat
            );
            let d = DelegationTxs {
                staker_pk: staker,
                operator_pks: &ops,
                staking_time: time,
                staking_value_sat: value,
                staking_tx: &staking_tx,
                staking_output_index: 0,
                slashing_tx: &slashing,
                unbonding_tx: &unbonding,
                unbonding_slashing_tx: &unbonding_slashing,
            };
            let checked = validate_delegation_txs(&p, &d);
            prop_assert!(checked.is_ok(), "{:?}", checked.err());
            // Through the wire and back.
            let again = decode_tx("slashing tx", &bitcoin::consensus::encode::serialize(&slashing))
                .expect("decodes");
            prop_assert_eq!(&again, &slashing);
            // One satoshi more or less slashed is refused.
            for delta in [-1i64, 1] {
                let mut t = slashing.clone();
                t.output[0].value = Amount::from_sat(slashed.saturating_add_signed(delta));
                prop_assert_eq!(
                    validate_slashing_tx(&p, staker, outpoint, value, &t).map_err(|e| e.code()),
                    Err(125)
                );
            }
            // Another quorum (when there is one) is refused.
            if p.covenant_pks.len() > 1 {
                let mut q = p.clone();
                q.covenant_quorum = if p.covenant_quorum > 1 { p.covenant_quorum - 1 } else { 2 };
                prop_assert_eq!(
                    validate_unbonding_tx(&q, staker, &ops, outpoint, value, &unbonding)
                        .map(|_| ()).map_err(|e| e.code()),
                    Err(123)
                );
            }
        }
    }
}
