//! `/ballast.restaking.v1.MsgAddCovenantSigs`: one covenant member's signatures on a
//! delegation. Any account may send it (the signatures prove the member).
//!
//! The key must be in the committee the delegation was created under (60) and must not have
//! signed it yet (61); the delegation must be PENDING, VERIFIED or ACTIVE (62: later members
//! of an active delegation may still add theirs, which only adds adaptor signatures for
//! slashing). Then, against the delegation's own transactions:
//!
//! - the adaptor signature on the staking output's slashing tx (slashing leaf) and the one on
//!   the unbonding output's slashing tx must verify under the member's key, **encrypted to the
//!   operator's BTC key** (an adaptor signature encrypted to any other key fails with 233);
//! - the BIP-340 signature on the unbonding tx (unbonding leaf of the staking output) must
//!   verify (204).
//!
//! When this member completes the quorum, the delegation is VERIFIED, and ACTIVE at once if
//! its staking tx is already proven k deep ([`crate::delegation::lifecycle::try_activate`]).

use crate::btc::adaptor::{AdaptorError, AdaptorSignature};
use crate::btc::params::parse_xonly;
use crate::btc::sign::{leaf_sighash_single_input, parse_schnorr_sig, verify_sighash};
use crate::delegation::error::BtcDelegationError;
use crate::delegation::events;
use crate::delegation::lifecycle::{self, btc_tip_height, Transition};
use crate::delegation::store::{self, BtcDelegationRead};
use crate::delegation::types::{BtcDelegation, CovenantSigs, DelegationStatus, StakingTxid};
use crate::delegation::{decode_proto, parse_address};
use crate::params;
use ballast_framework::{Address, MsgHandler, StateWrite, TxContext, TxError};
use ballast_proto::ballast::restaking::v1 as pb;
use bitcoin::hashes::Hash;
use bitcoin::{Script, Transaction, TxOut};

/// A decoded `MsgAddCovenantSigs` (signatures parsed, not yet verified: that needs the
/// delegation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgAddCovenantSigs {
    /// The sender (signer), any account.
    pub signer: Address,
    /// The delegation.
    pub staking_txid: StakingTxid,
    /// The member's key and signatures.
    pub sigs: CovenantSigs,
}

fn adaptor(field: &'static str, bytes: &[u8]) -> Result<AdaptorSignature, BtcDelegationError> {
    AdaptorSignature::from_bytes(bytes)
        .map_err(|source| BtcDelegationError::Adaptor { field, source })
}

impl MsgAddCovenantSigs {
    /// From the proto form, with every stateless check.
    pub fn from_proto(m: &pb::MsgAddCovenantSigs) -> Result<Self, BtcDelegationError> {
        Ok(MsgAddCovenantSigs {
            signer: parse_address("signer", &m.signer)?,
            staking_txid: m.staking_txid.parse()?,
            sigs: CovenantSigs {
                covenant_pk: parse_xonly("covenant", &m.covenant_pk)?,
                slashing_adaptor_sig: adaptor("slashing_adaptor_sig", &m.slashing_adaptor_sig)?,
                unbonding_slashing_adaptor_sig: adaptor(
                    "unbonding_slashing_adaptor_sig",
                    &m.unbonding_slashing_adaptor_sig,
                )?,
                unbonding_sig: parse_schnorr_sig(&m.unbonding_sig).map_err(|source| {
                    BtcDelegationError::Sign {
                        field: "unbonding_sig",
                        source,
                    }
                })?,
            },
        })
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::MsgAddCovenantSigs {
        let c = self.sigs.to_proto();
        pb::MsgAddCovenantSigs {
            signer: self.signer.to_string(),
            covenant_pk: c.covenant_pk,
            staking_txid: self.staking_txid.to_string(),
            slashing_adaptor_sig: c.slashing_adaptor_sig,
            unbonding_slashing_adaptor_sig: c.unbonding_slashing_adaptor_sig,
            unbonding_sig: c.unbonding_sig,
        }
    }
}

fn verify_adaptor(
    field: &'static str,
    sig: &AdaptorSignature,
    d: &BtcDelegation,
    c: &CovenantSigs,
    tx: &Transaction,
    prevout: &TxOut,
    leaf: &Script,
) -> Result<(), BtcDelegationError> {
    let wrap = |source: AdaptorError| BtcDelegationError::Adaptor { field, source };
    let sighash =
        leaf_sighash_single_input(tx, prevout, leaf).map_err(|e| wrap(AdaptorError::Sign(e)))?;
    sig.verify(&c.covenant_pk, &d.operator_pk, &sighash.to_byte_array())
        .map_err(wrap)
}

/// Verifies one member's signatures against a delegation's transactions (see the module docs).
pub fn verify_covenant_sigs(d: &BtcDelegation, c: &CovenantSigs) -> Result<(), BtcDelegationError> {
    let slashing_leaf = d.slashing_script()?;
    let staking_out = d.staking_output()?;
    let unbonding_out = d.unbonding_output()?;
    verify_adaptor(
        "slashing_adaptor_sig",
        &c.slashing_adaptor_sig,
        d,
        c,
        &d.slashing_tx,
        staking_out,
        &slashing_leaf,
    )?;
    verify_adaptor(
        "unbonding_slashing_adaptor_sig",
        &c.unbonding_slashing_adaptor_sig,
        d,
        c,
        &d.unbonding_slashing_tx,
        unbonding_out,
        &slashing_leaf,
    )?;
    let unbonding_leaf = d.unbonding_script()?;
    let wrap = |source| BtcDelegationError::Sign {
        field: "unbonding_sig",
        source,
    };
    let sighash =
        leaf_sighash_single_input(&d.unbonding_tx, staking_out, &unbonding_leaf).map_err(wrap)?;
    verify_sighash(&c.covenant_pk, c.unbonding_sig.as_ref(), &sighash).map_err(wrap)
}

/// Adds a member's signatures (see the module docs). Returns the delegation as stored and the
/// transitions it made (to VERIFIED, then perhaps to ACTIVE or EXPIRED).
pub fn add_covenant_sigs<S: StateWrite + ?Sized>(
    state: &mut S,
    txid: &StakingTxid,
    sigs: &CovenantSigs,
    hub_height: u64,
) -> Result<(BtcDelegation, Vec<Transition>), BtcDelegationError> {
    let mut d = state.require_btc_delegation(txid)?;
    let pk = sigs.covenant_pk;
    if !d.covenant_pks.contains(&pk) {
        return Err(BtcDelegationError::NotCovenantMember {
            covenant_pk: hex::encode(pk.serialize()),
            txid: txid.to_string(),
            committee: d
                .covenant_pks
                .iter()
                .map(|k| hex::encode(k.serialize()))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    if !matches!(
        d.status,
        DelegationStatus::Pending | DelegationStatus::Verified | DelegationStatus::Active
    ) {
        return Err(BtcDelegationError::WrongStatus {
            action: "add covenant signatures to",
            txid: txid.to_string(),
            status: d.status.as_str(),
            expected: "PENDING, VERIFIED or ACTIVE",
        });
    }
    if d.has_signed(&pk) {
        return Err(BtcDelegationError::CovenantAlreadySigned {
            covenant_pk: hex::encode(pk.serialize()),
            txid: txid.to_string(),
        });
    }
    verify_covenant_sigs(&d, sigs)?;
    d.covenant_sigs.push(sigs.clone());
    store::save(state, &d)?;
    state.emit_event(events::covenant_sigs_added(&d, &pk));
    let mut moved = Vec::new();
    if d.status == DelegationStatus::Pending && d.has_quorum() {
        let tip = if d.inclusion.is_some() {
            btc_tip_height(state)?
        } else {
            0
        };
        moved.push(lifecycle::transition(
            state,
            &mut d,
            DelegationStatus::Verified,
            hub_height,
            tip,
        )?);
        if d.inclusion.is_some() {
            let params = params::load(state)?;
            moved.extend(lifecycle::try_activate(
                state, &mut d, &params, hub_height, tip,
            )?);
        }
    }
    Ok((d, moved))
}

impl MsgHandler for MsgAddCovenantSigs {
    const TYPE_URL: &'static str = "/ballast.restaking.v1.MsgAddCovenantSigs";

    fn decode(value: &[u8]) -> Result<Self, TxError> {
        Ok(Self::from_proto(&decode_proto(value)?)?)
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        // `decode` built the message through `from_proto`, which checks everything stateless;
        // the signatures need the delegation and are verified in `execute`.
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.signer]
    }

    fn execute(&self, state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), TxError> {
        add_covenant_sigs(state, &self.staking_txid, &self.sigs, ctx.block.height)?;
        state.emit_event(crate::msg::message_event(Self::TYPE_URL, &self.signer));
        Ok(())
    }
}
