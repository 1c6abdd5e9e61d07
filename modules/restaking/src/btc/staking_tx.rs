//! The staking tx: funds the staking output from one UTXO, with change back to the staker.
//!
//! [`build_staking_tx`] reproduces what Babylon's staking library (`btc-staking-ts`) builds
//! for a single funding UTXO, byte for byte, so a Ballast staker and that library agree on
//! the txid. The tx is version 2, lock time 0, one input with sequence 0xffffffff, output 0
//! the staking output, output 1 the change (only if it is above [`CHANGE_DUST_SAT`]).
//!
//! The fee is the library's estimate ([`estimate_staking_tx_fee`]), not a measured vsize:
//!
//! ```text
//! size = input_size(funding script) + 43 (staking output) + 11 (tx overhead)
//! fee  = size × fee_rate + (30 if fee_rate ≤ 2 else 0)
//! fee += 43 × fee_rate   if funding_value − (staking_value + fee) > 546 (a change output)
//! ```
//!
//! with `input_size` 68 for P2WPKH, 58 for P2TR and 180 for anything else. The change is
//! `funding_value − staking_value − fee` and is dropped (left to the fee) when it is 546 sat
//! or less.

use bitcoin::absolute::LockTime;
use bitcoin::secp256k1::XOnlyPublicKey;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, Script, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};

use super::error::BtcStakingError;

/// Estimated size of a P2WPKH input, vbytes.
pub const P2WPKH_INPUT_SIZE: u64 = 68;
/// Estimated size of a P2TR key-path input, vbytes.
pub const P2TR_INPUT_SIZE: u64 = 58;
/// Estimated size of any other input, vbytes.
pub const DEFAULT_INPUT_SIZE: u64 = 180;
/// Estimated size of a P2TR output (the staking output and the change), vbytes.
pub const OUTPUT_SIZE: u64 = 43;
/// Estimated tx overhead (version, counts, lock time), vbytes.
pub const TX_OVERHEAD_SIZE: u64 = 11;
/// Fee rates at or below this (sat/vB) get [`LOW_RATE_BUFFER_SAT`] extra.
pub const LOW_RATE_THRESHOLD: u64 = 2;
/// Extra fee at low fee rates, sat.
pub const LOW_RATE_BUFFER_SAT: u64 = 30;
/// Change at or below this is not worth an output and goes to the fee, sat.
pub const CHANGE_DUST_SAT: u64 = 546;

/// The coin that pays for a staking tx.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FundingUtxo {
    /// Where it is.
    pub outpoint: OutPoint,
    /// Its value.
    pub value_sat: u64,
    /// Its output script.
    pub script_pubkey: ScriptBuf,
}

/// A built staking tx.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StakingTx {
    /// The unsigned tx.
    pub tx: Transaction,
    /// Its fee.
    pub fee_sat: u64,
    /// Index of the staking output (always 0).
    pub staking_output_index: u32,
}

/// The estimated input size for a coin with output script `script`, vbytes.
pub fn input_size(script: &Script) -> u64 {
    if script.is_p2wpkh() {
        P2WPKH_INPUT_SIZE
    } else if script.is_p2tr() && XOnlyPublicKey::from_slice(&script.as_bytes()[2..]).is_ok() {
        P2TR_INPUT_SIZE
    } else {
        DEFAULT_INPUT_SIZE
    }
}

fn rate_overflow(fee_rate: u64) -> BtcStakingError {
    BtcStakingError::InvalidFeeRate { found: fee_rate }
}

/// The fee of a staking tx spending one coin with `funding_script`, without (`with_change`
/// false) or with a change output.
pub fn estimate_staking_tx_fee(
    funding_script: &Script,
    fee_rate_sat_vb: u64,
    with_change: bool,
) -> Result<u64, BtcStakingError> {
    if fee_rate_sat_vb == 0 {
        return Err(rate_overflow(fee_rate_sat_vb));
    }
    let size = input_size(funding_script) + OUTPUT_SIZE + TX_OVERHEAD_SIZE;
    let buffer = if fee_rate_sat_vb <= LOW_RATE_THRESHOLD {
        LOW_RATE_BUFFER_SAT
    } else {
        0
    };
    let change = if with_change { OUTPUT_SIZE } else { 0 };
    size.checked_add(change)
        .and_then(|s| s.checked_mul(fee_rate_sat_vb))
        .and_then(|f| f.checked_add(buffer))
        .ok_or_else(|| rate_overflow(fee_rate_sat_vb))
}

/// Builds the staking tx paying `staking_output` from `funding`, with change (if any) to
/// `change_script`, at `fee_rate_sat_vb`.
pub fn build_staking_tx(
    staking_output: &TxOut,
    funding: &FundingUtxo,
    change_script: &Script,
    fee_rate_sat_vb: u64,
) -> Result<StakingTx, BtcStakingError> {
    if funding.script_pubkey.instructions().any(|i| i.is_err()) {
        return Err(BtcStakingError::InvalidFundingScript {
            found: hex::encode(funding.script_pubkey.as_bytes()),
        });
    }
    let amount = staking_output.value.to_sat();
    let min = super::txs::dust_limit(&staking_output.script_pubkey);
    if amount < min || amount == 0 {
        return Err(BtcStakingError::DustOutput {
            what: "staking output",
            min: min.max(1),
            found: amount,
        });
    }
    let value = funding.value_sat;
    let leftover = |fee: u64| amount.checked_add(fee).and_then(|n| value.checked_sub(n));
    let mut fee = estimate_staking_tx_fee(&funding.script_pubkey, fee_rate_sat_vb, false)?;
    if leftover(fee).is_some_and(|c| c > CHANGE_DUST_SAT) {
        fee = estimate_staking_tx_fee(&funding.script_pubkey, fee_rate_sat_vb, true)?;
    }
    let change = leftover(fee).ok_or(BtcStakingError::InsufficientFunds {
        needed: amount.saturating_add(fee),
        found: value,
    })?;
    let mut output = vec![staking_output.clone()];
    if change > CHANGE_DUST_SAT {
        output.push(TxOut {
            value: Amount::from_sat(change),
            script_pubkey: change_script.to_owned(),
        });
    }
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: funding.outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output,
    };
    // Whatever change was dropped as dust is part of the fee.
    let fee_sat = value - amount - if change > CHANGE_DUST_SAT { change } else { 0 };
    Ok(StakingTx {
        tx,
        fee_sat,
        staking_output_index: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::Txid;

    fn p2tr_script() -> ScriptBuf {
        ScriptBuf::from_bytes(
            hex::decode("51204651679d4986e6be3beb30740b0a6c92570d804936775d9f011a42d2eaab5158")
                .expect("hex"),
        )
    }

    fn funding(value_sat: u64, script_pubkey: ScriptBuf) -> FundingUtxo {
        FundingUtxo {
            outpoint: OutPoint::new(Txid::from_byte_array([0x11; 32]), 0),
            value_sat,
            script_pubkey,
        }
    }

    fn staking_out(v: u64) -> TxOut {
        TxOut {
            value: Amount::from_sat(v),
            script_pubkey: p2tr_script(),
        }
    }

    #[test]
    fn fee_follows_the_estimate_for_each_input_kind_and_rate() {
        let p2wpkh = ScriptBuf::from_bytes(
            hex::decode("0014751e76e8199196d454941c45d1b3a323f1433bd6").expect("hex"),
        );
        let p2pkh = ScriptBuf::from_bytes(
            hex::decode("76a914751e76e8199196d454941c45d1b3a323f1433bd688ac").expect("hex"),
        );
        assert_eq!(estimate_staking_tx_fee(&p2tr_script(), 3, true), Ok(465));
        assert_eq!(estimate_staking_tx_fee(&p2tr_script(), 2, true), Ok(340));
        assert_eq!(estimate_staking_tx_fee(&p2tr_script(), 1, false), Ok(142));
        assert_eq!(
            estimate_staking_tx_fee(&p2wpkh, 10, false),
            Ok((68 + 43 + 11) * 10)
        );
        assert_eq!(
            estimate_staking_tx_fee(&p2pkh, 10, false),
            Ok((180 + 43 + 11) * 10)
        );
        assert_eq!(
            estimate_staking_tx_fee(&p2tr_script(), 0, false).map_err(|e| e.code()),
            Err(131)
        );
        assert_eq!(
            estimate_staking_tx_fee(&p2tr_script(), u64::MAX, false).map_err(|e| e.code()),
            Err(131)
        );
    }

    #[test]
    fn change_is_added_only_above_dust() {
        // Plenty: change output, fee with change.
        let t = build_staking_tx(
            &staking_out(100_000),
            &funding(200_000, p2tr_script()),
            &p2tr_script(),
            3,
        )
        .expect("funded");
        assert_eq!(t.tx.output.len(), 2);
        assert_eq!(t.fee_sat, 465);
        assert_eq!(t.tx.output[1].value.to_sat(), 200_000 - 100_000 - 465);
        // Exactly enough for the fee without change: no change output.
        let t = build_staking_tx(
            &staking_out(100_000),
            &funding(100_336, p2tr_script()),
            &p2tr_script(),
            3,
        )
        .expect("funded");
        assert_eq!(t.tx.output.len(), 1);
        assert_eq!(t.fee_sat, 336);
        // Leftover above dust without the change's fee, at most dust with it: the change
        // output's fee is charged, but the change is dropped into the fee.
        let t = build_staking_tx(
            &staking_out(100_000),
            &funding(100_336 + 547, p2tr_script()),
            &p2tr_script(),
            3,
        )
        .expect("funded");
        assert_eq!(t.tx.output.len(), 1);
        assert_eq!(t.fee_sat, 336 + 547);
        // Not enough.
        let e = build_staking_tx(
            &staking_out(100_000),
            &funding(100_335, p2tr_script()),
            &p2tr_script(),
            3,
        )
        .expect_err("short by one");
        assert_eq!(e.code(), 130);
        // A dust staking output, an unparseable funding script.
        let e = build_staking_tx(
            &staking_out(100),
            &funding(100_000, p2tr_script()),
            &p2tr_script(),
            3,
        )
        .expect_err("dust");
        assert_eq!(e.code(), 128);
        let e = build_staking_tx(
            &staking_out(10_000),
            &funding(100_000, ScriptBuf::from_bytes(vec![0x4c])),
            &p2tr_script(),
            3,
        )
        .expect_err("truncated push");
        assert_eq!(e.code(), 132);
    }
}
