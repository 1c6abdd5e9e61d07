//! `/ballast.restaking.v1.MsgCreateBtcDelegation`: registers a BTC delegation (PENDING).
//!
//! Checks, in order (each failure has its own code, see [`crate::delegation::error`]):
//!
//! 1. Decoding ([`MsgCreateBtcDelegation::from_proto`]), no state: the staker address; the
//!    staker and operator keys are BIP-340 x-only keys; the proof of possession is the
//!    staker key's signature over `sha256(staker address bytes)`; the four transactions
//!    decode; the staker's two signatures are 64 bytes; the inclusion proof, if any, is well
//!    formed.
//! 2. Against the params in state, but no other record ([`MsgCreateBtcDelegation::verify`]):
//!    the staking time and value are within bounds; the staking output rebuilt from the keys,
//!    the committee, the quorum and the staking time equals the tx's output at the index (so a
//!    script with another key order, quorum or timelock is refused with 112) and holds the
//!    declared value; the unbonding tx spends the staking output into the rebuilt unbonding
//!    output with exactly the unbonding fee; both slashing txs send exactly the slashing rate
//!    to `slashing_pk_script` and the change to the staker's unbonding-timelock output, with
//!    at least `min_slashing_tx_fee_sat`; and the staker's BIP-340 signatures verify on both
//!    slashing txs (the slashing leaf of the staking output, and of the unbonding output).
//! 3. Against state: no delegation of this staking tx exists (52); the operator is registered
//!    (restaking code 12) and not jailed (53); the inclusion proof, if any, is on the best
//!    chain and k deep with enough time left ([`crate::delegation::inclusion`]).
//!
//! The params are state: check and execute both read them from the state the tx executes on,
//! so there is no gap between the two. The delegation keeps a copy of the committee, quorum
//! and unbonding time it was created under; later covenant signatures are checked against that
//! copy.

use crate::btc::error::BtcStakingError;
use crate::btc::params::{parse_xonly, BtcStakingParams as Rules, SlashingRate};
use crate::btc::scripts::Leaf;
use crate::btc::sign::{parse_schnorr_sig, verify_leaf_sig, verify_pop};
use crate::btc::txs::{decode_tx, validate_delegation_txs, DelegationTxs};
use crate::delegation::error::BtcDelegationError;
use crate::delegation::events;
use crate::delegation::inclusion::verify_staking_inclusion;
use crate::delegation::lifecycle::btc_tip_height;
use crate::delegation::store::{self, BtcDelegationRead};
use crate::delegation::types::{
    inclusion_proof_to_proto, parse_inclusion_proof, BtcDelegation, DelegationStatus, StakingTxid,
};
use crate::delegation::{decode_proto, parse_address};
use crate::operator::{self, OperatorId};
use crate::{params, BtcStakingParams};
use ballast_btclightclient::TxInclusionProof;
use ballast_framework::{Address, MsgHandler, StateWrite, TxContext, TxError};
use ballast_proto::ballast::restaking::v1 as pb;
use bitcoin::secp256k1::{schnorr, XOnlyPublicKey};
use bitcoin::Transaction;

/// The BTC staking library's form of the module's BTC params. Fails when the committee is
/// empty (102: such a chain accepts no delegations), a key is not a curve point (100), or the
/// slashing rate has more than 4 fractional digits (105).
pub fn staking_rules(p: &BtcStakingParams) -> Result<Rules, BtcStakingError> {
    if p.covenant_pks.is_empty() {
        return Err(BtcStakingError::NoKeys { what: "covenant" });
    }
    let covenant_pks = p
        .covenant_pks
        .iter()
        .map(|k| parse_xonly("covenant", k))
        .collect::<Result<Vec<_>, _>>()?;
    let rate = u64::try_from(p.slashing_rate.atomics()).map_err(|_| {
        BtcStakingError::InvalidSlashingRate {
            found: p.slashing_rate.to_string(),
        }
    })?;
    Ok(Rules {
        covenant_pks,
        covenant_quorum: p.covenant_quorum,
        min_staking_value_sat: p.min_staking_value_sat,
        max_staking_value_sat: p.max_staking_value_sat,
        min_staking_time: p.min_staking_time,
        max_staking_time: p.max_staking_time,
        unbonding_time: p.unbonding_time,
        unbonding_fee_sat: p.unbonding_fee_sat,
        slashing_rate: SlashingRate::from_atomics(rate)?,
        min_slashing_tx_fee_sat: p.min_slashing_tx_fee_sat,
        slashing_pk_script: bitcoin::ScriptBuf::from_bytes(p.slashing_pk_script.clone()),
    })
}

/// A decoded, statelessly checked `MsgCreateBtcDelegation`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgCreateBtcDelegation {
    /// The staker's account (signer), which receives the rewards.
    pub staker_addr: Address,
    /// The staker's BTC key.
    pub staker_pk: XOnlyPublicKey,
    /// The proof of possession (verified).
    pub pop: schnorr::Signature,
    /// The operator.
    pub operator: OperatorId,
    /// The operator's key, parsed.
    pub operator_pk: XOnlyPublicKey,
    /// Staking timelock, blocks.
    pub staking_time: u32,
    /// Staked satoshis.
    pub staking_value_sat: u64,
    /// The staking tx.
    pub staking_tx: Transaction,
    /// Index of the staking output.
    pub staking_output_index: u32,
    /// Slashing tx of the staking output.
    pub slashing_tx: Transaction,
    /// The staker's signature on it (not yet verified: that needs the params).
    pub delegator_slashing_sig: schnorr::Signature,
    /// The unbonding tx.
    pub unbonding_tx: Transaction,
    /// Slashing tx of the unbonding output.
    pub unbonding_slashing_tx: Transaction,
    /// The staker's signature on it (not yet verified).
    pub delegator_unbonding_slashing_sig: schnorr::Signature,
    /// The staking tx's inclusion, when given.
    pub inclusion_proof: Option<TxInclusionProof>,
}

fn sig(field: &'static str, bytes: &[u8]) -> Result<schnorr::Signature, BtcDelegationError> {
    parse_schnorr_sig(bytes).map_err(|source| BtcDelegationError::Sign { field, source })
}

impl MsgCreateBtcDelegation {
    /// From the proto form, with every check that needs neither params nor state.
    pub fn from_proto(m: &pb::MsgCreateBtcDelegation) -> Result<Self, BtcDelegationError> {
        let staker_addr = parse_address("staker_addr", &m.staker_addr)?;
        let staker_pk = parse_xonly("staker", &m.btc_pk)?;
        let operator_pk = parse_xonly("operator", &m.operator_btc_pk)?;
        verify_pop(&staker_pk, &staker_addr.0, &m.pop).map_err(|source| {
            BtcDelegationError::Sign {
                field: "pop",
                source,
            }
        })?;
        Ok(MsgCreateBtcDelegation {
            staker_addr,
            staker_pk,
            pop: sig("pop", &m.pop)?,
            operator: OperatorId::new(operator_pk.serialize()),
            operator_pk,
            staking_time: m.staking_time,
            staking_value_sat: m.staking_value,
            staking_tx: decode_tx("staking tx", &m.staking_tx)?,
            staking_output_index: m.staking_output_index,
            slashing_tx: decode_tx("slashing tx", &m.slashing_tx)?,
            delegator_slashing_sig: sig("delegator_slashing_sig", &m.delegator_slashing_sig)?,
            unbonding_tx: decode_tx("unbonding tx", &m.unbonding_tx)?,
            unbonding_slashing_tx: decode_tx("unbonding slashing tx", &m.unbonding_slashing_tx)?,
            delegator_unbonding_slashing_sig: sig(
                "delegator_unbonding_slashing_sig",
                &m.delegator_unbonding_slashing_sig,
            )?,
            inclusion_proof: m
                .inclusion_proof
                .as_ref()
                .map(parse_inclusion_proof)
                .transpose()?,
        })
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::MsgCreateBtcDelegation {
        let ser = bitcoin::consensus::serialize::<Transaction>;
        pb::MsgCreateBtcDelegation {
            staker_addr: self.staker_addr.to_string(),
            btc_pk: self.staker_pk.serialize().to_vec(),
            pop: self.pop.serialize().to_vec(),
            operator_btc_pk: self.operator.to_bytes().to_vec(),
            staking_time: self.staking_time,
            staking_value: self.staking_value_sat,
            staking_tx: ser(&self.staking_tx),
            staking_output_index: self.staking_output_index,
            slashing_tx: ser(&self.slashing_tx),
            delegator_slashing_sig: self.delegator_slashing_sig.serialize().to_vec(),
            unbonding_tx: ser(&self.unbonding_tx),
            unbonding_slashing_tx: ser(&self.unbonding_slashing_tx),
            delegator_unbonding_slashing_sig: self
                .delegator_unbonding_slashing_sig
                .serialize()
                .to_vec(),
            inclusion_proof: self.inclusion_proof.as_ref().map(inclusion_proof_to_proto),
        }
    }

    /// The staking txid: the delegation's id.
    pub fn staking_txid(&self) -> StakingTxid {
        StakingTxid::of(&self.staking_tx)
    }

    /// Every check against the params that reads no other record (step 2 of the module docs).
    pub fn verify(&self, rules: &Rules) -> Result<(), BtcDelegationError> {
        let checked = validate_delegation_txs(
            rules,
            &DelegationTxs {
                staker_pk: self.staker_pk,
                operator_pks: std::slice::from_ref(&self.operator_pk),
                staking_time: self.staking_time,
                staking_value_sat: self.staking_value_sat,
                staking_tx: &self.staking_tx,
                staking_output_index: self.staking_output_index,
                slashing_tx: &self.slashing_tx,
                unbonding_tx: &self.unbonding_tx,
                unbonding_slashing_tx: &self.unbonding_slashing_tx,
            },
        )?;
        let staking_out = checked.staking.output();
        let slashing_leaf = checked.staking.leaf(Leaf::Slashing)?;
        verify_leaf_sig(
            &self.staker_pk,
            self.delegator_slashing_sig.as_ref(),
            &self.slashing_tx,
            0,
            std::slice::from_ref(&staking_out),
            slashing_leaf,
        )
        .map_err(|source| BtcDelegationError::Sign {
            field: "delegator_slashing_sig",
            source,
        })?;
        let unbonding_out = checked.unbonding.output();
        let unbonding_slashing_leaf = checked.unbonding.leaf(Leaf::Slashing)?;
        verify_leaf_sig(
            &self.staker_pk,
            self.delegator_unbonding_slashing_sig.as_ref(),
            &self.unbonding_slashing_tx,
            0,
            std::slice::from_ref(&unbonding_out),
            unbonding_slashing_leaf,
        )
        .map_err(|source| BtcDelegationError::Sign {
            field: "delegator_unbonding_slashing_sig",
            source,
        })?;
        Ok(())
    }
}

/// Registers the delegation (see the module docs) at hub height `hub_height`. Returns it as
/// stored.
pub fn create_delegation<S: StateWrite + ?Sized>(
    state: &mut S,
    msg: &MsgCreateBtcDelegation,
    hub_height: u64,
) -> Result<BtcDelegation, BtcDelegationError> {
    let params = params::load(state)?;
    let rules = staking_rules(&params.btc)?;
    msg.verify(&rules)?;

    let txid = msg.staking_txid();
    if let Some(existing) = state.btc_delegation(&txid)? {
        return Err(BtcDelegationError::DelegationExists {
            txid: txid.to_string(),
            status: existing.status.as_str(),
        });
    }
    let op = operator::require(state, &msg.operator)?;
    if op.jailed {
        return Err(BtcDelegationError::OperatorJailed {
            operator: msg.operator.to_string(),
        });
    }
    let inclusion = match &msg.inclusion_proof {
        None => None,
        Some(proof) => {
            let tip = btc_tip_height(state)?;
            Some(verify_staking_inclusion(
                state,
                &msg.staking_tx,
                proof,
                params.btc.btc_confirmation_depth,
                msg.staking_time,
                rules.unbonding_time,
                tip,
            )?)
        }
    };
    let d = BtcDelegation {
        staking_txid: txid,
        staker_addr: msg.staker_addr,
        staker_pk: msg.staker_pk,
        operator: msg.operator,
        operator_pk: msg.operator_pk,
        staking_time: msg.staking_time,
        staking_value_sat: msg.staking_value_sat,
        staking_tx: msg.staking_tx.clone(),
        staking_output_index: msg.staking_output_index,
        slashing_tx: msg.slashing_tx.clone(),
        delegator_slashing_sig: msg.delegator_slashing_sig,
        unbonding_tx: msg.unbonding_tx.clone(),
        unbonding_slashing_tx: msg.unbonding_slashing_tx.clone(),
        delegator_unbonding_slashing_sig: msg.delegator_unbonding_slashing_sig,
        covenant_sigs: Vec::new(),
        status: DelegationStatus::Pending,
        inclusion,
        unbonding_btc_height: 0,
        spend_tx: None,
        created_height: hub_height,
        covenant_pks: rules.covenant_pks.clone(),
        covenant_quorum: rules.covenant_quorum,
        unbonding_time: rules.unbonding_time,
    };
    store::insert(state, &d)?;
    if let Some(h) = d.expiry_height() {
        store::enqueue(
            state,
            h,
            &d.staking_txid,
            crate::delegation::state_key::QueueKind::Expire,
        )?;
    }
    state.emit_event(events::created(&d));
    if d.inclusion.is_some() {
        state.emit_event(events::inclusion_proven(&d));
    }
    Ok(d)
}

impl MsgHandler for MsgCreateBtcDelegation {
    const TYPE_URL: &'static str = "/ballast.restaking.v1.MsgCreateBtcDelegation";

    fn decode(value: &[u8]) -> Result<Self, TxError> {
        Ok(Self::from_proto(&decode_proto(value)?)?)
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        // `decode` built the message through `from_proto`, which checks everything that needs
        // neither params nor state; the checks against the params run in `execute`, on the
        // state the tx executes on.
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.staker_addr]
    }

    fn execute(&self, state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), TxError> {
        create_delegation(state, self, ctx.block.height)?;
        state.emit_event(crate::msg::message_event(Self::TYPE_URL, &self.staker_addr));
        Ok(())
    }
}
