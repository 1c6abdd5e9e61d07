//! Inclusion proofs of staking txs, and `/ballast.restaking.v1.MsgAddBtcInclusionProof`.
//!
//! A staking tx counts as included when the light client verifies its Merkle branch to a block
//! on its best chain ([`BtcLightClientRead::btc_verify_tx_inclusion`]) and that block is at
//! least `btc_confirmation_depth` deep (depth 0 is the tip). A block on a fork is refused with
//! [`BtcDelegationError::InclusionOnFork`] (56), a shallower block with
//! [`BtcDelegationError::InclusionTooShallow`] (57), and any other failure (unknown block,
//! wrong branch) with [`BtcDelegationError::InclusionProofInvalid`] (55). The proof sets
//! `start_height` (the block's height) and `end_height = start_height + staking_time`; when the
//! tip plus the unbonding time already reaches `end_height`, the delegation could never be
//! active and the proof is refused with [`BtcDelegationError::RemainingTimeTooShort`] (59).
//!
//! The proof can come with `MsgCreateBtcDelegation` or later with `MsgAddBtcInclusionProof`.
//! The latter is open to any account, for a PENDING or VERIFIED delegation with no proof yet,
//! or whose proven block has left the best chain (a reorg). A VERIFIED delegation becomes
//! ACTIVE at once; a PENDING one waits for the covenant quorum.

use crate::delegation::error::BtcDelegationError;
use crate::delegation::events;
use crate::delegation::lifecycle::{self, btc_tip_height, Transition};
use crate::delegation::state_key::QueueKind;
use crate::delegation::store::{self, BtcDelegationRead};
use crate::delegation::types::{
    parse_inclusion_proof, BtcDelegation, DelegationStatus, Inclusion, StakingTxid,
};
use crate::delegation::{decode_proto, parse_address};
use crate::params;
use ballast_btclightclient::{BtcLightClientRead, TxInclusion, TxInclusionProof};
use ballast_framework::{Address, MsgHandler, StateWrite, TxContext, TxError};
use ballast_proto::ballast::restaking::v1 as pb;
use bitcoin::Transaction;

/// Verifies that `tx` is in a best-chain block (any depth) and returns where.
pub fn verify_on_best_chain<S: BtcLightClientRead + ?Sized>(
    state: &S,
    tx: &Transaction,
    proof: &TxInclusionProof,
) -> Result<TxInclusion, BtcDelegationError> {
    state
        .btc_verify_tx_inclusion(tx, proof)
        .map_err(|e| BtcDelegationError::inclusion(tx.compute_txid(), e))
}

/// Verifies a staking tx's inclusion at least `k` deep and computes its timelock window
/// (see the module docs). `tip_height` is the light client's tip.
pub fn verify_staking_inclusion<S: BtcLightClientRead + ?Sized>(
    state: &S,
    staking_tx: &Transaction,
    proof: &TxInclusionProof,
    k: u64,
    staking_time: u32,
    unbonding_time: u32,
    tip_height: u64,
) -> Result<Inclusion, BtcDelegationError> {
    let inc = verify_on_best_chain(state, staking_tx, proof)?;
    if inc.depth < k {
        return Err(BtcDelegationError::InclusionTooShallow {
            txid: inc.txid.to_string(),
            block_hash: inc.block_hash.to_string(),
            depth: inc.depth,
            required: k,
        });
    }
    let end_height = inc.height.saturating_add(u64::from(staking_time));
    if tip_height.saturating_add(u64::from(unbonding_time)) >= end_height {
        return Err(BtcDelegationError::RemainingTimeTooShort {
            txid: inc.txid.to_string(),
            tip_height,
            unbonding_time,
            end_height,
        });
    }
    Ok(Inclusion {
        block_hash: inc.block_hash,
        start_height: inc.height,
        end_height,
    })
}

/// A decoded `MsgAddBtcInclusionProof`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgAddBtcInclusionProof {
    /// Any account (signer).
    pub signer: Address,
    /// The delegation.
    pub staking_txid: StakingTxid,
    /// The proof of its staking tx.
    pub proof: TxInclusionProof,
}

impl MsgAddBtcInclusionProof {
    /// From the proto form, with every stateless check.
    pub fn from_proto(m: &pb::MsgAddBtcInclusionProof) -> Result<Self, BtcDelegationError> {
        Ok(MsgAddBtcInclusionProof {
            signer: parse_address("signer", &m.signer)?,
            staking_txid: m.staking_txid.parse()?,
            proof: parse_inclusion_proof(
                m.proof
                    .as_ref()
                    .ok_or(BtcDelegationError::MissingField("proof"))?,
            )?,
        })
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::MsgAddBtcInclusionProof {
        pb::MsgAddBtcInclusionProof {
            signer: self.signer.to_string(),
            staking_txid: self.staking_txid.to_string(),
            proof: Some(crate::delegation::types::inclusion_proof_to_proto(
                &self.proof,
            )),
        }
    }
}

/// Records a staking tx's inclusion (see the module docs). Returns the delegation as stored
/// and its transition, if it moved.
pub fn add_inclusion_proof<S: StateWrite + ?Sized>(
    state: &mut S,
    txid: &StakingTxid,
    proof: &TxInclusionProof,
    hub_height: u64,
) -> Result<(BtcDelegation, Option<Transition>), BtcDelegationError> {
    let params = params::load(state)?;
    let mut d = state.require_btc_delegation(txid)?;
    match (d.status, d.inclusion) {
        (DelegationStatus::Pending | DelegationStatus::Verified, _) => {}
        (DelegationStatus::Active, Some(inc)) => {
            return Err(BtcDelegationError::InclusionAlreadyProven {
                txid: txid.to_string(),
                block_hash: inc.block_hash.to_string(),
            })
        }
        (status, _) => {
            return Err(BtcDelegationError::WrongStatus {
                action: "prove the inclusion of",
                txid: txid.to_string(),
                status: status.as_str(),
                expected: "PENDING or VERIFIED",
            })
        }
    }
    if let Some(old) = d.inclusion {
        let still_there = state
            .btc_is_on_best_chain(&old.block_hash)
            .map_err(BtcDelegationError::light_client)?;
        if still_there {
            return Err(BtcDelegationError::InclusionAlreadyProven {
                txid: txid.to_string(),
                block_hash: old.block_hash.to_string(),
            });
        }
    }
    let tip = btc_tip_height(state)?;
    let inclusion = verify_staking_inclusion(
        state,
        &d.staking_tx,
        proof,
        params.btc.btc_confirmation_depth,
        d.staking_time,
        d.unbonding_time,
        tip,
    )?;
    if let Some(h) = d.expiry_height() {
        store::dequeue(state, h, txid)?;
    }
    d.inclusion = Some(inclusion);
    if let Some(h) = d.expiry_height() {
        store::enqueue(state, h, txid, QueueKind::Expire)?;
    }
    store::save(state, &d)?;
    state.emit_event(events::inclusion_proven(&d));
    let moved = lifecycle::try_activate(state, &mut d, &params, hub_height, tip)?;
    Ok((d, moved))
}

impl MsgHandler for MsgAddBtcInclusionProof {
    const TYPE_URL: &'static str = "/ballast.restaking.v1.MsgAddBtcInclusionProof";

    fn decode(value: &[u8]) -> Result<Self, TxError> {
        Ok(Self::from_proto(&decode_proto(value)?)?)
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        // `decode` built the message through `from_proto`, which checks everything stateless.
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.signer]
    }

    fn execute(&self, state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), TxError> {
        add_inclusion_proof(state, &self.staking_txid, &self.proof, ctx.block.height)?;
        state.emit_event(crate::msg::message_event(Self::TYPE_URL, &self.signer));
        Ok(())
    }
}
