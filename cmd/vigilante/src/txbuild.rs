//! Building the two checkpoint transactions, and the fee arithmetic of fee bumps.
//!
//! - tx1 = `OP_RETURN(part 0)` + a *carry* output to the wallet + the wallet's change. The
//!   wallet adds inputs and change (`fundrawtransaction`) and signs.
//! - tx2 spends tx1's carry output: `OP_RETURN(part 1)` + change back to the wallet. Its input
//!   is known before tx1 is broadcast, so both are signed (and persisted) before either is
//!   sent. The carry is large enough for tx2 to pay the highest fee rate a bump may reach.
//!
//! Every input signals BIP125 replaceability. A bump replaces tx1 by the same transaction with
//! less change (so it conflicts with tx1 and evicts tx2), then builds tx2 again on the new tx1.
//! All amounts are integer satoshis with checked arithmetic; fee rates are whole sat/vB.

use bitcoin::absolute::LockTime;
use bitcoin::consensus::Encodable;
use bitcoin::script::PushBytesBuf;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};

/// The highest fee rate the configuration accepts (sat/vB); keeps every product below in range.
pub const FEE_RATE_CEILING: u64 = 10_000;
/// Virtual size budgeted for tx2 when sizing the carry output (one P2WPKH input, an
/// 80-byte OP_RETURN and one change output come to about 190 vB).
pub const TX2_VSIZE_BUDGET: u64 = 200;
/// The least value of a change output (above every standard output type's dust limit).
pub const MIN_CHANGE_SAT: u64 = 1_000;
/// BIP125 incremental relay fee assumed for replacements (Bitcoin Core's default), sat/vB.
pub const INCREMENTAL_RELAY_SAT_VB: u64 = 1;
/// Most data bytes in one OP_RETURN output that Bitcoin Knots relays.
pub const MAX_OP_RETURN_DATA: usize = ballast_checkpointing::encoding::MAX_OP_RETURN_DATA;

/// Why a transaction could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxBuildError {
    /// The OP_RETURN data is too long.
    #[error("OP_RETURN data is {0} bytes, at most {MAX_OP_RETURN_DATA} are relayed")]
    OpReturnTooLong(usize),
    /// An output would fall below the change minimum.
    #[error("{what} would be {value_sat} sat after a {fee_sat} sat fee, below the {MIN_CHANGE_SAT} sat minimum")]
    ChangeTooSmall {
        /// Which output.
        what: &'static str,
        /// Its value before the fee, in sat.
        value_sat: u64,
        /// The fee, in sat.
        fee_sat: u64,
    },
    /// The output to take a fee from does not exist.
    #[error("tx has {outputs} outputs, expected an output at index {index}")]
    NoSuchOutput {
        /// The index asked for.
        index: usize,
        /// How many outputs there are.
        outputs: usize,
    },
    /// Fee arithmetic overflowed (a fee rate beyond [`FEE_RATE_CEILING`]).
    #[error("fee arithmetic overflowed: {0}")]
    Overflow(&'static str),
}

/// `OP_RETURN <data>` with one minimal push.
pub fn op_return_script(data: &[u8]) -> Result<ScriptBuf, TxBuildError> {
    if data.len() > MAX_OP_RETURN_DATA {
        return Err(TxBuildError::OpReturnTooLong(data.len()));
    }
    let push = PushBytesBuf::try_from(data.to_vec())
        .map_err(|_| TxBuildError::OpReturnTooLong(data.len()))?;
    Ok(ScriptBuf::new_op_return(push))
}

/// The carry output's value: enough for tx2 at `max_fee_rate` plus the change minimum.
pub fn carry_amount(max_fee_rate_sat_vb: u64) -> Result<Amount, TxBuildError> {
    max_fee_rate_sat_vb
        .checked_mul(TX2_VSIZE_BUDGET)
        .and_then(|f| f.checked_add(MIN_CHANGE_SAT))
        .map(Amount::from_sat)
        .ok_or(TxBuildError::Overflow("carry amount"))
}

/// tx1 before funding: no inputs; output 0 is `OP_RETURN(part0)`, output 1 the carry.
pub fn tx1_template(
    part0: &[u8],
    carry_script: ScriptBuf,
    carry: Amount,
) -> Result<Transaction, TxBuildError> {
    Ok(Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![],
        output: vec![
            TxOut {
                value: Amount::ZERO,
                script_pubkey: op_return_script(part0)?,
            },
            TxOut {
                value: carry,
                script_pubkey: carry_script,
            },
        ],
    })
}

/// The legacy (non-witness) serialization. bitcoind cannot decode an input-less transaction in
/// the segwit format that rust-bitcoin writes for it, so templates go out in this form.
pub fn serialize_no_witness(tx: &Transaction) -> Vec<u8> {
    let mut raw = Vec::new();
    tx.version
        .consensus_encode(&mut raw)
        .and_then(|_| tx.input.consensus_encode(&mut raw))
        .and_then(|_| tx.output.consensus_encode(&mut raw))
        .and_then(|_| tx.lock_time.consensus_encode(&mut raw))
        .expect("encoding into a Vec cannot fail");
    raw
}

/// `fee_rate × vsize`, in sat.
pub fn fee_for(vsize: u64, fee_rate_sat_vb: u64) -> Result<Amount, TxBuildError> {
    vsize
        .checked_mul(fee_rate_sat_vb)
        .map(Amount::from_sat)
        .ok_or(TxBuildError::Overflow("fee"))
}

/// `value - fee`, refused below [`MIN_CHANGE_SAT`].
pub fn after_fee(what: &'static str, value: Amount, fee: Amount) -> Result<Amount, TxBuildError> {
    match value.checked_sub(fee) {
        Some(v) if v.to_sat() >= MIN_CHANGE_SAT => Ok(v),
        _ => Err(TxBuildError::ChangeTooSmall {
            what,
            value_sat: value.to_sat(),
            fee_sat: fee.to_sat(),
        }),
    }
}

/// Unsigned tx2: spends `carry_outpoint` (worth `carry`), outputs `OP_RETURN(part1)` and
/// `carry - fee` to `change_script`.
pub fn tx2_unsigned(
    carry_outpoint: OutPoint,
    carry: Amount,
    part1: &[u8],
    change_script: ScriptBuf,
    fee: Amount,
) -> Result<Transaction, TxBuildError> {
    Ok(Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: carry_outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![
            TxOut {
                value: Amount::ZERO,
                script_pubkey: op_return_script(part1)?,
            },
            TxOut {
                value: after_fee("tx2 change", carry, fee)?,
                script_pubkey: change_script,
            },
        ],
    })
}

/// The fee for a signed transaction of `signed_vsize` at `rate`, with one vbyte of slack
/// because a re-signed ECDSA signature can be a byte longer.
pub fn fee_for_signed(signed_vsize: u64, fee_rate_sat_vb: u64) -> Result<Amount, TxBuildError> {
    let vsize = signed_vsize
        .checked_add(1)
        .ok_or(TxBuildError::Overflow("vsize"))?;
    fee_for(vsize, fee_rate_sat_vb)
}

/// The next fee rate of a bump: one and a half times the old (at least one more), capped at
/// `max`. `None` when the old rate is already at the cap.
pub fn bumped_rate(old_sat_vb: u64, max_sat_vb: u64) -> Option<u64> {
    if old_sat_vb >= max_sat_vb {
        return None;
    }
    let step = (old_sat_vb / 2).max(1);
    Some(old_sat_vb.saturating_add(step).min(max_sat_vb))
}

/// The fee a replacement must pay (BIP125 rules 3, 4 and 6): at least the new rate on its own
/// size, and at least every fee it evicts plus the incremental relay fee on its own size.
pub fn replacement_fee(
    replacement_vsize: u64,
    new_rate_sat_vb: u64,
    evicted_fees: &[Amount],
) -> Result<Amount, TxBuildError> {
    let by_rate = fee_for_signed(replacement_vsize, new_rate_sat_vb)?;
    let evicted = evicted_fees
        .iter()
        .try_fold(Amount::ZERO, |a, f| a.checked_add(*f))
        .ok_or(TxBuildError::Overflow("evicted fees"))?;
    let by_rules = evicted
        .checked_add(fee_for_signed(replacement_vsize, INCREMENTAL_RELAY_SAT_VB)?)
        .ok_or(TxBuildError::Overflow("replacement fee"))?;
    Ok(by_rate.max(by_rules))
}

/// `tx` without signatures, with output `index` lowered by `delta` (a replacement that pays
/// `delta` more fee from its change).
pub fn with_less_change(
    tx: &Transaction,
    index: usize,
    delta: Amount,
) -> Result<Transaction, TxBuildError> {
    let mut out = strip_signatures(tx);
    let outputs = out.output.len();
    let o = out
        .output
        .get_mut(index)
        .ok_or(TxBuildError::NoSuchOutput { index, outputs })?;
    o.value = after_fee("change", o.value, delta)?;
    Ok(out)
}

/// `tx` with every scriptSig and witness emptied, for signing again.
pub fn strip_signatures(tx: &Transaction) -> Transaction {
    let mut out = tx.clone();
    for i in &mut out.input {
        i.script_sig = ScriptBuf::new();
        i.witness = Witness::new();
    }
    out
}

/// The sum of the outputs.
pub fn output_total(tx: &Transaction) -> Result<Amount, TxBuildError> {
    tx.output
        .iter()
        .try_fold(Amount::ZERO, |a, o| a.checked_add(o.value))
        .ok_or(TxBuildError::Overflow("outputs"))
}

/// Whether every input signals BIP125 replaceability.
pub fn signals_rbf(tx: &Transaction) -> bool {
    tx.input.iter().all(|i| i.sequence.is_rbf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballast_checkpointing::encoding::{op_return_data, PART0_LEN, PART1_LEN};
    use bitcoin::hashes::Hash;
    use bitcoin::{Txid, WPubkeyHash};

    fn p2wpkh(b: u8) -> ScriptBuf {
        ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array([b; 20]))
    }

    #[test]
    fn the_two_txs_have_the_shape_ballast_accepts() {
        let part0 = [7u8; PART0_LEN];
        let part1 = [8u8; PART1_LEN];
        let carry = carry_amount(100).unwrap();
        assert_eq!(carry, Amount::from_sat(21_000));
        let t1 = tx1_template(&part0, p2wpkh(1), carry).unwrap();
        assert!(t1.input.is_empty());
        // The template decodes as bitcoind reads it: legacy format, no inputs.
        let raw = serialize_no_witness(&t1);
        assert_eq!(
            raw[4], 0,
            "input count right after the version, no segwit marker"
        );
        // A funded tx1 (the wallet adds an input and change) still has one OP_RETURN.
        let mut funded = t1.clone();
        funded.input.push(TxIn {
            previous_output: OutPoint::new(Txid::all_zeros(), 3),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        });
        funded.output.push(TxOut {
            value: Amount::from_sat(5_000_000),
            script_pubkey: p2wpkh(2),
        });
        assert_eq!(op_return_data(&funded).unwrap(), (0, part0.to_vec()));

        let carry_out = OutPoint::new(funded.compute_txid(), 1);
        let t2 = tx2_unsigned(carry_out, carry, &part1, p2wpkh(3), Amount::from_sat(400)).unwrap();
        assert_eq!(op_return_data(&t2).unwrap(), (0, part1.to_vec()));
        assert_eq!(t2.input[0].previous_output, carry_out);
        assert!(signals_rbf(&t2));
        assert_eq!(t2.output[1].value, Amount::from_sat(20_600));
        // Fee = carry - outputs.
        assert_eq!(
            carry - output_total(&t2).unwrap(),
            Amount::from_sat(400),
            "tx2 pays exactly the fee asked"
        );
    }

    #[test]
    fn op_return_data_over_80_bytes_and_change_below_the_minimum_are_refused() {
        assert!(op_return_script(&[0; 80]).is_ok());
        assert_eq!(
            op_return_script(&[0; 81]),
            Err(TxBuildError::OpReturnTooLong(81))
        );
        let err = tx2_unsigned(
            OutPoint::null(),
            Amount::from_sat(1_500),
            &[1; 63],
            p2wpkh(1),
            Amount::from_sat(501),
        )
        .unwrap_err();
        assert_eq!(
            err,
            TxBuildError::ChangeTooSmall {
                what: "tx2 change",
                value_sat: 1_500,
                fee_sat: 501
            }
        );
        assert!(tx2_unsigned(
            OutPoint::null(),
            Amount::from_sat(1_500),
            &[1; 63],
            p2wpkh(1),
            Amount::from_sat(500),
        )
        .is_ok());
    }

    #[test]
    fn bumps_grow_by_half_up_to_the_cap() {
        assert_eq!(bumped_rate(1, 100), Some(2));
        assert_eq!(bumped_rate(2, 100), Some(3));
        assert_eq!(bumped_rate(10, 100), Some(15));
        assert_eq!(bumped_rate(80, 100), Some(100));
        assert_eq!(bumped_rate(100, 100), None);
        assert_eq!(bumped_rate(150, 100), None);
    }

    #[test]
    fn a_replacement_pays_for_everything_it_evicts() {
        // Rate dominates: 200 vB at 10 sat/vB = 2010 (one vbyte of slack) > 300 + 201.
        let f = replacement_fee(200, 10, &[Amount::from_sat(200), Amount::from_sat(100)]).unwrap();
        assert_eq!(f, Amount::from_sat(2_010));
        // Evicted fees dominate: 2000 + 1000 + 201 (incremental relay on 201 vB).
        let f =
            replacement_fee(200, 3, &[Amount::from_sat(2_000), Amount::from_sat(1_000)]).unwrap();
        assert_eq!(f, Amount::from_sat(3_201));
        assert!(replacement_fee(u64::MAX, 2, &[]).is_err());
    }

    #[test]
    fn less_change_lowers_one_output_and_drops_signatures() {
        let mut tx = tx1_template(&[1; 78], p2wpkh(1), Amount::from_sat(21_000)).unwrap();
        tx.input.push(TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(vec![1, 2, 3]),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::from_slice(&[vec![9u8; 72]]),
        });
        tx.output.push(TxOut {
            value: Amount::from_sat(10_000),
            script_pubkey: p2wpkh(2),
        });
        let r = with_less_change(&tx, 2, Amount::from_sat(2_500)).unwrap();
        assert_eq!(r.output[2].value, Amount::from_sat(7_500));
        assert_eq!(r.output[1], tx.output[1]);
        assert!(r.input[0].script_sig.is_empty() && r.input[0].witness.is_empty());
        assert_eq!(r.input[0].previous_output, tx.input[0].previous_output);
        assert!(matches!(
            with_less_change(&tx, 2, Amount::from_sat(9_500)),
            Err(TxBuildError::ChangeTooSmall { .. })
        ));
        assert!(matches!(
            with_less_change(&tx, 5, Amount::from_sat(1)),
            Err(TxBuildError::NoSuchOutput {
                index: 5,
                outputs: 3
            })
        ));
    }
}
