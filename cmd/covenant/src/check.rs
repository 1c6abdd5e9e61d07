//! What a covenant member checks before it signs a delegation, and the signing itself.
//!
//! A covenant member never signs what it has not checked: [`sign_delegation`] takes a
//! [`CheckedDelegation`], and the only way to get one is [`check_delegation`], which rebuilds
//! everything from the delegation's keys and params with the BTC staking library and compares
//! it with what the chain stored:
//!
//! 1. the delegation is PENDING, and its committee (`covenant_pks`, the copy it was created
//!    under) names this member's key;
//! 2. the params it is checked against (the chain's BTC staking params, with the delegation's
//!    own committee, quorum and unbonding time) are consistent;
//! 3. the staker and operator keys are BIP-340 keys, and the four transactions decode;
//! 4. the staking tx's id is the delegation's `staking_txid` (the id the signatures are sent
//!    for);
//! 5. the staking output at `staking_output_index` is the P2TR output rebuilt from the staker,
//!    operator and covenant keys, the quorum and the staking time, worth `staking_value`, and
//!    the staking time and value are within the params' bounds;
//! 6. the unbonding tx spends exactly that output into the rebuilt unbonding output, worth
//!    `staking_value − unbonding_fee_sat`;
//! 7. both slashing txs (of the staking output and of the unbonding output) have the exact
//!    shape: the slashed share to `slashing_pk_script`, the change to the staker's
//!    unbonding-timelock output, at least `min_slashing_tx_fee_sat` of fee, no dust;
//! 8. the staker's own signatures on both slashing txs verify, so that once the operator's key
//!    is revealed the slashing txs can actually be completed and broadcast.
//!
//! Signing ([`sign_delegation`]) then produces what `MsgAddCovenantSigs` carries: an adaptor
//! signature on each slashing tx (slashing leaf), encrypted to the operator's key, and a plain
//! BIP-340 signature on the unbonding tx (unbonding leaf of the staking output). All three are
//! deterministic: signing the same delegation again gives the same bytes.

use ballast_proto::ballast::restaking::v1 as pb;
use ballast_restaking::btc::adaptor::{enc_sign_leaf, verify_leaf_adaptor, AdaptorError};
use ballast_restaking::btc::error::BtcStakingError;
use ballast_restaking::btc::params::{parse_xonly, BtcStakingParams, SlashingRate};
use ballast_restaking::btc::scripts::{Leaf, StakingInfo, UnbondingInfo};
use ballast_restaking::btc::sign::{sign_leaf, verify_leaf_sig, SignError};
use ballast_restaking::btc::txs::{decode_tx, validate_delegation_txs, DelegationTxs};
use bitcoin::{ScriptBuf, Transaction};
use secp256k1::{SecretKey, XOnlyPublicKey};

/// Why a delegation is not signed. Each variant says what was expected and what was found.
#[derive(Debug, thiserror::Error)]
pub enum DelegationCheckError {
    /// The delegation is not waiting for covenant signatures.
    #[error("expected a PENDING delegation, found status {0}")]
    NotPending(String),
    /// This member's key is not in the delegation's committee.
    #[error("covenant key {key} is not in the delegation's committee ({committee})")]
    NotInCommittee {
        /// This member's key, hex.
        key: String,
        /// The committee, hex, comma-separated.
        committee: String,
    },
    /// The chain's params or the delegation's copy of the committee, quorum or unbonding
    /// time are not consistent.
    #[error("the delegation's params are invalid: {0}")]
    Params(#[source] BtcStakingError),
    /// A key field is not a BIP-340 x-only key.
    #[error("{field} is not a bip-340 key: {source}")]
    Key {
        /// The field.
        field: &'static str,
        /// Why.
        #[source]
        source: BtcStakingError,
    },
    /// A transaction does not decode.
    #[error("{field} does not decode: {source}")]
    Tx {
        /// The field.
        field: &'static str,
        /// Why.
        #[source]
        source: BtcStakingError,
    },
    /// The staking tx is not the one the delegation is registered under.
    #[error("expected the staking tx to have id {declared} (the delegation's staking_txid), found {found}")]
    TxidMismatch {
        /// `staking_txid`.
        declared: String,
        /// The id of `staking_tx`.
        found: String,
    },
    /// A transaction or output is not the one rebuilt from the keys and params.
    #[error("the delegation's transactions do not match its keys and params: {0}")]
    Txs(#[source] BtcStakingError),
    /// A staker pre-signature does not verify.
    #[error("the staker's signature on the {which} does not verify: {source}")]
    StakerSignature {
        /// Which slashing tx.
        which: &'static str,
        /// Why.
        #[source]
        source: SignError,
    },
}

/// Why signing a checked delegation failed (with negligible probability, or a library bug:
/// every input was checked before).
#[derive(Debug, thiserror::Error)]
pub enum SignDelegationError {
    /// A leaf the tree was built with is missing.
    #[error("{0}")]
    Leaf(#[from] BtcStakingError),
    /// The BIP-340 signature failed.
    #[error("signing the unbonding tx failed: {0}")]
    Sign(#[from] SignError),
    /// An adaptor signature failed.
    #[error("adaptor-signing a slashing tx failed: {0}")]
    Adaptor(#[from] AdaptorError),
}

/// The chain's BTC staking params (from the `Params` query) as the library's type.
pub fn params_from_proto(p: &pb::BtcStakingParams) -> Result<BtcStakingParams, BtcStakingError> {
    let covenant_pks = p
        .covenant_pks
        .iter()
        .map(|k| parse_xonly("covenant key", k))
        .collect::<Result<Vec<_>, _>>()?;
    let slashing_rate: SlashingRate = p.slashing_rate.parse()?;
    Ok(BtcStakingParams {
        covenant_pks,
        covenant_quorum: p.covenant_quorum,
        min_staking_value_sat: p.min_staking_value_sat,
        max_staking_value_sat: p.max_staking_value_sat,
        min_staking_time: p.min_staking_time,
        max_staking_time: p.max_staking_time,
        unbonding_time: p.unbonding_time,
        unbonding_fee_sat: p.unbonding_fee_sat,
        slashing_rate,
        min_slashing_tx_fee_sat: p.min_slashing_tx_fee_sat,
        slashing_pk_script: ScriptBuf::from_bytes(p.slashing_pk_script.clone()),
    })
}

/// Whether the delegation names `key` in its committee.
pub fn in_committee(d: &pb::BtcDelegation, key: &XOnlyPublicKey) -> bool {
    let key = key.serialize();
    d.covenant_pks.iter().any(|k| k.as_slice() == key)
}

/// Whether the delegation already carries `key`'s signatures.
pub fn already_signed_by(d: &pb::BtcDelegation, key: &XOnlyPublicKey) -> bool {
    let key = key.serialize();
    d.covenant_sigs
        .iter()
        .any(|s| s.covenant_pk.as_slice() == key)
}

/// A delegation that passed every check of [`check_delegation`], with what signing needs.
/// Only [`check_delegation`] makes one.
#[derive(Clone, Debug)]
pub struct CheckedDelegation {
    staking_txid: String,
    operator_pk: XOnlyPublicKey,
    staking: StakingInfo,
    unbonding: UnbondingInfo,
    slashing_tx: Transaction,
    unbonding_tx: Transaction,
    unbonding_slashing_tx: Transaction,
}

impl CheckedDelegation {
    /// The delegation's id (display-order hex staking txid).
    pub fn staking_txid(&self) -> &str {
        &self.staking_txid
    }

    /// The operator's key, which the adaptor signatures are encrypted to.
    pub fn operator_pk(&self) -> XOnlyPublicKey {
        self.operator_pk
    }
}

/// Checks `d` (see the module docs) for the covenant member `signer`, against the chain's
/// params `chain` with the delegation's own committee, quorum and unbonding time.
pub fn check_delegation(
    chain: &BtcStakingParams,
    d: &pb::BtcDelegation,
    signer: &XOnlyPublicKey,
) -> Result<CheckedDelegation, DelegationCheckError> {
    use DelegationCheckError as E;
    if d.status != pb::BtcDelegationStatus::Pending as i32 {
        let status = pb::BtcDelegationStatus::try_from(d.status)
            .map(|s| s.as_str_name().to_string())
            .unwrap_or_else(|_| d.status.to_string());
        return Err(E::NotPending(status));
    }
    let committee = d
        .covenant_pks
        .iter()
        .map(|k| parse_xonly("covenant key", k))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| E::Key {
            field: "covenant_pks",
            source,
        })?;
    if !committee.contains(signer) {
        return Err(E::NotInCommittee {
            key: hex::encode(signer.serialize()),
            committee: d
                .covenant_pks
                .iter()
                .map(hex::encode)
                .collect::<Vec<_>>()
                .join(","),
        });
    }
    let params = BtcStakingParams {
        covenant_pks: committee,
        covenant_quorum: d.covenant_quorum,
        unbonding_time: d.unbonding_time,
        ..chain.clone()
    };
    params.validate().map_err(E::Params)?;

    let key = |field: &'static str, bytes: &[u8]| {
        parse_xonly(field, bytes).map_err(|source| E::Key { field, source })
    };
    let staker_pk = key("btc_pk", &d.btc_pk)?;
    let operator_pk = key("operator_btc_pk", &d.operator_btc_pk)?;
    let tx = |field: &'static str, bytes: &[u8]| {
        decode_tx(field, bytes).map_err(|source| E::Tx { field, source })
    };
    let staking_tx = tx("staking_tx", &d.staking_tx)?;
    let slashing_tx = tx("slashing_tx", &d.slashing_tx)?;
    let unbonding_tx = tx("unbonding_tx", &d.unbonding_tx)?;
    let unbonding_slashing_tx = tx("unbonding_slashing_tx", &d.unbonding_slashing_tx)?;

    let txid = staking_tx.compute_txid().to_string();
    if txid != d.staking_txid {
        return Err(E::TxidMismatch {
            declared: d.staking_txid.clone(),
            found: txid,
        });
    }

    let operator_pks = [operator_pk];
    let checked = validate_delegation_txs(
        &params,
        &DelegationTxs {
            staker_pk,
            operator_pks: &operator_pks,
            staking_time: d.staking_time,
            staking_value_sat: d.staking_value,
            staking_tx: &staking_tx,
            staking_output_index: d.staking_output_index,
            slashing_tx: &slashing_tx,
            unbonding_tx: &unbonding_tx,
            unbonding_slashing_tx: &unbonding_slashing_tx,
        },
    )
    .map_err(E::Txs)?;

    // The staker's pre-signatures, over the same sighashes the covenant signs.
    let staking_slashing_leaf = checked.staking.leaf(Leaf::Slashing).map_err(E::Txs)?;
    verify_leaf_sig(
        &staker_pk,
        &d.delegator_slashing_sig,
        &slashing_tx,
        0,
        &[checked.staking.output()],
        staking_slashing_leaf,
    )
    .map_err(|source| E::StakerSignature {
        which: "staking output's slashing tx",
        source,
    })?;
    let unbonding_slashing_leaf = checked.unbonding.leaf(Leaf::Slashing).map_err(E::Txs)?;
    verify_leaf_sig(
        &staker_pk,
        &d.delegator_unbonding_slashing_sig,
        &unbonding_slashing_tx,
        0,
        &[checked.unbonding.output()],
        unbonding_slashing_leaf,
    )
    .map_err(|source| E::StakerSignature {
        which: "unbonding output's slashing tx",
        source,
    })?;

    Ok(CheckedDelegation {
        staking_txid: txid,
        operator_pk,
        staking: checked.staking,
        unbonding: checked.unbonding,
        slashing_tx,
        unbonding_tx,
        unbonding_slashing_tx,
    })
}

/// One covenant member's signatures on a delegation, as `MsgAddCovenantSigs` carries them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CovenantSigs {
    /// The member's x-only key.
    pub covenant_pk: XOnlyPublicKey,
    /// Adaptor signature (65 bytes) on the staking output's slashing tx, slashing leaf,
    /// encrypted to the operator's key.
    pub slashing_adaptor_sig: Vec<u8>,
    /// Adaptor signature (65 bytes) on the unbonding output's slashing tx, slashing leaf,
    /// encrypted to the operator's key.
    pub unbonding_slashing_adaptor_sig: Vec<u8>,
    /// BIP-340 signature (64 bytes) on the unbonding tx, unbonding leaf of the staking output.
    pub unbonding_sig: Vec<u8>,
}

impl CovenantSigs {
    /// The message that adds them to delegation `staking_txid`, sent by account `signer`.
    pub fn to_msg(&self, signer: &str, staking_txid: &str) -> pb::MsgAddCovenantSigs {
        pb::MsgAddCovenantSigs {
            signer: signer.to_string(),
            covenant_pk: self.covenant_pk.serialize().to_vec(),
            staking_txid: staking_txid.to_string(),
            slashing_adaptor_sig: self.slashing_adaptor_sig.clone(),
            unbonding_slashing_adaptor_sig: self.unbonding_slashing_adaptor_sig.clone(),
            unbonding_sig: self.unbonding_sig.clone(),
        }
    }
}

/// Signs a checked delegation with the covenant key `sk`, then verifies the three signatures
/// before returning them (a member never sends a signature the chain would refuse).
pub fn sign_delegation(
    sk: &SecretKey,
    c: &CheckedDelegation,
) -> Result<CovenantSigs, SignDelegationError> {
    let covenant_pk = ballast_client::btc_key::xonly(sk);
    let staking_out = [c.staking.output()];
    let unbonding_out = [c.unbonding.output()];
    let slashing = enc_sign_leaf(
        sk,
        &c.operator_pk,
        &c.slashing_tx,
        0,
        &staking_out,
        c.staking.leaf(Leaf::Slashing)?,
    )?;
    let unbonding_slashing = enc_sign_leaf(
        sk,
        &c.operator_pk,
        &c.unbonding_slashing_tx,
        0,
        &unbonding_out,
        c.unbonding.leaf(Leaf::Slashing)?,
    )?;
    let unbonding = sign_leaf(
        sk,
        &c.unbonding_tx,
        0,
        &staking_out,
        c.staking.leaf(Leaf::Unbonding)?,
    )?;
    let sigs = CovenantSigs {
        covenant_pk,
        slashing_adaptor_sig: slashing.to_bytes().to_vec(),
        unbonding_slashing_adaptor_sig: unbonding_slashing.to_bytes().to_vec(),
        unbonding_sig: unbonding.serialize().to_vec(),
    };
    verify_sigs(c, &sigs)?;
    Ok(sigs)
}

/// Verifies `sigs` as their member's signatures on the checked delegation `c`.
pub fn verify_sigs(c: &CheckedDelegation, sigs: &CovenantSigs) -> Result<(), SignDelegationError> {
    let staking_out = [c.staking.output()];
    let unbonding_out = [c.unbonding.output()];
    verify_leaf_adaptor(
        &sigs.slashing_adaptor_sig,
        &sigs.covenant_pk,
        &c.operator_pk,
        &c.slashing_tx,
        0,
        &staking_out,
        c.staking.leaf(Leaf::Slashing)?,
    )?;
    verify_leaf_adaptor(
        &sigs.unbonding_slashing_adaptor_sig,
        &sigs.covenant_pk,
        &c.operator_pk,
        &c.unbonding_slashing_tx,
        0,
        &unbonding_out,
        c.unbonding.leaf(Leaf::Slashing)?,
    )?;
    verify_leaf_sig(
        &sigs.covenant_pk,
        &sigs.unbonding_sig,
        &c.unbonding_tx,
        0,
        &staking_out,
        c.staking.leaf(Leaf::Unbonding)?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{xonly_hex, Vector};
    use ballast_restaking::btc::adaptor::AdaptorSignature;
    use bitcoin::consensus::encode::serialize;

    fn chain(v: &Vector) -> BtcStakingParams {
        params_from_proto(&v.chain_params()).unwrap()
    }

    #[test]
    fn every_member_signs_and_the_signatures_verify_against_the_vector_outputs() {
        let v = Vector::load();
        let d = v.delegation();
        let params = chain(&v);
        let operator_pk = v.operator_pk();
        // Prevouts and leaves as the reference vector states them, not as this crate rebuilds
        // them: the signatures must be over the sighashes the chain and Bitcoin compute.
        let staking_out = [v.staking_output()];
        let unbonding_out = [v.unbonding_output()];
        let slashing_leaf = v.script("slashingScript");
        let unbonding_leaf = v.script("unbondingScript");
        let slashing_tx = v.tx(&["slashStakingTxUnsigned"]);
        let unbonding_slashing_tx = v.tx(&["slashUnbondingTxUnsigned"]);
        let unbonding_tx = v.tx(&["unbondingTx", "hex"]);
        let pks = v.covenant_pks();
        for (i, sk) in v.covenant_sks().iter().enumerate() {
            let pk = pks[i];
            let checked = check_delegation(&params, &d, &pk).unwrap();
            assert_eq!(checked.staking_txid(), d.staking_txid);
            assert_eq!(checked.operator_pk(), operator_pk);
            let sigs = sign_delegation(sk, &checked).unwrap();
            assert_eq!(sigs.covenant_pk, pk);
            assert_eq!(sigs.slashing_adaptor_sig.len(), 65);
            assert_eq!(sigs.unbonding_slashing_adaptor_sig.len(), 65);
            assert_eq!(sigs.unbonding_sig.len(), 64);

            // Both adaptor signatures verify under the member's key, encrypted to the operator.
            let a1 = verify_leaf_adaptor(
                &sigs.slashing_adaptor_sig,
                &pk,
                &operator_pk,
                &slashing_tx,
                0,
                &staking_out,
                &slashing_leaf,
            )
            .unwrap();
            let a2 = verify_leaf_adaptor(
                &sigs.unbonding_slashing_adaptor_sig,
                &pk,
                &operator_pk,
                &unbonding_slashing_tx,
                0,
                &unbonding_out,
                &slashing_leaf,
            )
            .unwrap();
            // They are not plain signatures, and they are not encrypted to any other key.
            assert!(verify_leaf_sig(
                &pk,
                &sigs.slashing_adaptor_sig[1..],
                &slashing_tx,
                0,
                &staking_out,
                &slashing_leaf
            )
            .is_err());
            assert!(verify_leaf_adaptor(
                &sigs.slashing_adaptor_sig,
                &pk,
                &pks[(i + 1) % 3],
                &slashing_tx,
                0,
                &staking_out,
                &slashing_leaf,
            )
            .is_err());
            // Decrypted with the operator's secret, each is the member's BIP-340 signature of
            // the slashing tx, ready for the witness; and it gives the secret back.
            let op_sk = v.operator_sk();
            let s1 = a1.decrypt(&op_sk);
            verify_leaf_sig(
                &pk,
                &s1.serialize(),
                &slashing_tx,
                0,
                &staking_out,
                &slashing_leaf,
            )
            .unwrap();
            let s2 = a2.decrypt(&op_sk);
            verify_leaf_sig(
                &pk,
                &s2.serialize(),
                &unbonding_slashing_tx,
                0,
                &unbonding_out,
                &slashing_leaf,
            )
            .unwrap();
            let t = a1.extract_secret(&s1, &operator_pk).unwrap();
            assert_eq!(ballast_client::btc_key::xonly(&t), operator_pk);

            // The unbonding signature is a BIP-340 signature on the unbonding leaf, by this
            // member only.
            verify_leaf_sig(
                &pk,
                &sigs.unbonding_sig,
                &unbonding_tx,
                0,
                &staking_out,
                &unbonding_leaf,
            )
            .unwrap();
            assert!(verify_leaf_sig(
                &pks[(i + 1) % 3],
                &sigs.unbonding_sig,
                &unbonding_tx,
                0,
                &staking_out,
                &unbonding_leaf,
            )
            .is_err());

            // Signing again gives the same bytes, and the message carries them.
            assert_eq!(sign_delegation(sk, &checked).unwrap(), sigs);
            let msg = sigs.to_msg("bal1signer", checked.staking_txid());
            assert_eq!(msg.signer, "bal1signer");
            assert_eq!(msg.covenant_pk, pk.serialize().to_vec());
            assert_eq!(msg.staking_txid, d.staking_txid);
            assert_eq!(msg.slashing_adaptor_sig, sigs.slashing_adaptor_sig);
            assert_eq!(
                msg.unbonding_slashing_adaptor_sig,
                sigs.unbonding_slashing_adaptor_sig
            );
            assert_eq!(msg.unbonding_sig, sigs.unbonding_sig);
            AdaptorSignature::from_bytes(&msg.slashing_adaptor_sig).unwrap();
        }
    }

    #[test]
    fn verify_sigs_refuses_signatures_of_another_member_or_swapped_fields() {
        let v = Vector::load();
        let d = v.delegation();
        let sks = v.covenant_sks();
        let pks = v.covenant_pks();
        let checked = check_delegation(&chain(&v), &d, &pks[0]).unwrap();
        let sigs = sign_delegation(&sks[0], &checked).unwrap();
        verify_sigs(&checked, &sigs).unwrap();
        let mut other = sigs.clone();
        other.covenant_pk = pks[1];
        assert!(verify_sigs(&checked, &other).is_err());
        let mut swapped = sigs.clone();
        std::mem::swap(
            &mut swapped.slashing_adaptor_sig,
            &mut swapped.unbonding_slashing_adaptor_sig,
        );
        assert!(verify_sigs(&checked, &swapped).is_err());
    }

    /// Edits the vector's delegation and returns the check's error for member 0.
    fn refused(edit: impl FnOnce(&Vector, &mut pb::BtcDelegation)) -> DelegationCheckError {
        let v = Vector::load();
        let mut d = v.delegation();
        edit(&v, &mut d);
        check_delegation(&chain(&v), &d, &v.covenant_pks()[0])
            .expect_err("the edited delegation must be refused")
    }

    #[test]
    fn a_staking_output_that_does_not_match_the_keys_is_refused() {
        // Another operator key: the rebuilt staking output differs from the tx's.
        let other_operator =
            xonly_hex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");
        let e = refused(|_, d| d.operator_btc_pk = other_operator.serialize().to_vec());
        assert!(
            matches!(
                e,
                DelegationCheckError::Txs(BtcStakingError::WrongStakingOutput { .. })
            ),
            "{e}"
        );
        // Another staker key.
        let e = refused(|_, d| d.btc_pk = other_operator.serialize().to_vec());
        assert!(
            matches!(
                e,
                DelegationCheckError::Txs(BtcStakingError::WrongStakingOutput { .. })
            ),
            "{e}"
        );
        // Another staking time.
        let e = refused(|_, d| d.staking_time += 1);
        assert!(
            matches!(
                e,
                DelegationCheckError::Txs(BtcStakingError::WrongStakingOutput { .. })
            ),
            "{e}"
        );
        // The delegation's committee copy with another quorum: not the output's multisig.
        let e = refused(|_, d| d.covenant_quorum = 3);
        assert!(
            matches!(
                e,
                DelegationCheckError::Txs(BtcStakingError::WrongStakingOutput { .. })
            ),
            "{e}"
        );
        // A committee that names this member but not the keys the output was built with.
        let e = refused(|_, d| d.covenant_pks.truncate(2));
        assert!(
            matches!(
                e,
                DelegationCheckError::Txs(BtcStakingError::WrongStakingOutput { .. })
            ),
            "{e}"
        );
        // A staking value that is not the output's.
        let e = refused(|_, d| d.staking_value += 1);
        assert!(
            matches!(
                e,
                DelegationCheckError::Txs(BtcStakingError::WrongStakingValue { .. })
            ),
            "{e}"
        );
        // The output index points at the change output.
        let e = refused(|_, d| d.staking_output_index = 1);
        assert!(
            matches!(
                e,
                DelegationCheckError::Txs(BtcStakingError::WrongStakingOutput { .. })
            ),
            "{e}"
        );
    }

    #[test]
    fn bad_unbonding_and_slashing_txs_and_staker_signatures_are_refused() {
        // A slashing tx that slashes one satoshi less.
        let e = refused(|v, d| {
            let mut tx = v.tx(&["slashStakingTxUnsigned"]);
            tx.output[0].value -= bitcoin::Amount::from_sat(1);
            d.slashing_tx = serialize(&tx);
        });
        assert!(matches!(e, DelegationCheckError::Txs(_)), "{e}");
        // An unbonding tx that pays a bigger fee.
        let e = refused(|v, d| {
            let mut tx = v.tx(&["unbondingTx", "hex"]);
            tx.output[0].value -= bitcoin::Amount::from_sat(100);
            d.unbonding_tx = serialize(&tx);
        });
        assert!(
            matches!(
                e,
                DelegationCheckError::Txs(BtcStakingError::WrongUnbondingValue { .. })
            ),
            "{e}"
        );
        // The unbonding output's slashing tx presented as the staking output's.
        let e = refused(|v, d| d.slashing_tx = v.bytes(&["slashUnbondingTxUnsigned"]));
        assert!(matches!(e, DelegationCheckError::Txs(_)), "{e}");
        // A staker signature by another key, on either slashing tx.
        let e = refused(|v, d| {
            let sig = sign_leaf(
                &v.operator_sk(),
                &v.tx(&["slashStakingTxUnsigned"]),
                0,
                &[v.staking_output()],
                &v.script("slashingScript"),
            )
            .unwrap();
            d.delegator_slashing_sig = sig.serialize().to_vec();
        });
        assert!(
            matches!(e, DelegationCheckError::StakerSignature { .. }),
            "{e}"
        );
        let e = refused(|_, d| d.delegator_unbonding_slashing_sig[10] ^= 1);
        assert!(
            matches!(e, DelegationCheckError::StakerSignature { .. }),
            "{e}"
        );
        let e = refused(|_, d| d.delegator_slashing_sig.clear());
        assert!(
            matches!(e, DelegationCheckError::StakerSignature { .. }),
            "{e}"
        );
    }

    #[test]
    fn delegations_this_member_must_not_sign_are_refused() {
        // Not PENDING.
        let e = refused(|_, d| d.status = pb::BtcDelegationStatus::Verified as i32);
        assert!(
            matches!(e, DelegationCheckError::NotPending(ref s) if s == "VERIFIED"),
            "{e}"
        );
        // A committee without this member.
        let e = refused(|_, d| {
            d.covenant_pks.remove(0);
        });
        assert!(
            matches!(e, DelegationCheckError::NotInCommittee { .. }),
            "{e}"
        );
        // Registered under another txid than its staking tx's.
        let e = refused(|_, d| d.staking_txid = "11".repeat(32));
        assert!(
            matches!(e, DelegationCheckError::TxidMismatch { .. }),
            "{e}"
        );
        // Garbage where a tx should be.
        let e = refused(|_, d| d.unbonding_tx = vec![1, 2, 3]);
        assert!(
            matches!(
                e,
                DelegationCheckError::Tx {
                    field: "unbonding_tx",
                    ..
                }
            ),
            "{e}"
        );
        // Not a key.
        let e = refused(|_, d| d.operator_btc_pk = vec![7; 31]);
        assert!(
            matches!(
                e,
                DelegationCheckError::Key {
                    field: "operator_btc_pk",
                    ..
                }
            ),
            "{e}"
        );
        // A committee copy with a quorum above its size.
        let e = refused(|_, d| d.covenant_quorum = 4);
        assert!(matches!(e, DelegationCheckError::Params(_)), "{e}");
    }

    #[test]
    fn chain_params_convert_and_bad_ones_are_refused() {
        let v = Vector::load();
        let p = chain(&v);
        assert_eq!(p.covenant_pks, v.covenant_pks());
        assert_eq!(p.slashing_rate.to_string(), "0.1");
        assert_eq!(
            p.slashing_pk_script.as_bytes(),
            v.bytes(&["params", "slashingPkScriptHex"])
        );
        let mut bad = v.chain_params();
        bad.slashing_rate = "1.5".into();
        assert!(params_from_proto(&bad).is_err());
        let mut bad = v.chain_params();
        bad.covenant_pks[1] = vec![0; 32];
        assert!(params_from_proto(&bad).is_err());
    }
}
