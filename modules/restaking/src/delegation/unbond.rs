//! Early unbonding: `/ballast.restaking.v1.MsgBtcUndelegate` and
//! `/ballast.restaking.v1.MsgReportBtcSpend`. Both are open to any account and move a PENDING,
//! VERIFIED or ACTIVE delegation to UNBONDING, recording the light client's tip as
//! `unbonding_btc_height`; an ACTIVE one loses its power at once in the live table, so the hub
//! set drops it at the end of the current epoch. A second report is refused with
//! [`BtcDelegationError::AlreadyUnbonding`] (63); a delegation past UNBONDING with
//! [`BtcDelegationError::WrongStatus`] (62).
//!
//! - **Undelegate**: the message carries the delegation's unbonding tx (same txid as the one
//!   registered, 64) with the staker's signature in its witness (65 if there is none). The
//!   signature is the element right under the unbonding leaf script in a script-path witness
//!   (`… <staker sig> <unbonding leaf> <control block>`), or the only element of a one-element
//!   witness. It must verify on the unbonding leaf of the staking output (204). It is the
//!   staker's own request: the covenant signatures gathered on chain complete the tx.
//! - **Spend report**: any tx that spends the staking outpoint (66 otherwise), proven in the
//!   light client on its best chain at **any depth** (a fork: 56, a bad proof: 55). Any depth,
//!   and not `btc_confirmation_depth`, because a spend only takes power away: waiting k
//!   blocks would let stake that already left keep voting, while a spend a reorg later undoes
//!   costs only the delegation's power, which is the safe direction. The stake stays slashable
//!   for the unbonding time either way.

use crate::btc::sign::verify_leaf_sig;
use crate::btc::txs::decode_tx;
use crate::delegation::error::BtcDelegationError;
use crate::delegation::inclusion::verify_on_best_chain;
use crate::delegation::lifecycle::{self, btc_tip_height, Transition};
use crate::delegation::store::BtcDelegationRead;
use crate::delegation::types::{
    inclusion_proof_to_proto, parse_inclusion_proof, BtcDelegation, DelegationStatus, StakingTxid,
};
use crate::delegation::{decode_proto, parse_address};
use ballast_btclightclient::TxInclusionProof;
use ballast_framework::{Address, MsgHandler, StateWrite, TxContext, TxError};
use ballast_proto::ballast::restaking::v1 as pb;
use bitcoin::Transaction;

/// A decoded `MsgBtcUndelegate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgBtcUndelegate {
    /// The sender (signer), any account.
    pub signer: Address,
    /// The delegation.
    pub staking_txid: StakingTxid,
    /// The unbonding tx with the staker's signature in its witness.
    pub unbonding_tx: Transaction,
}

impl MsgBtcUndelegate {
    /// From the proto form, with every stateless check.
    pub fn from_proto(m: &pb::MsgBtcUndelegate) -> Result<Self, BtcDelegationError> {
        Ok(MsgBtcUndelegate {
            signer: parse_address("signer", &m.signer)?,
            staking_txid: m.staking_txid.parse()?,
            unbonding_tx: decode_tx("unbonding tx", &m.unbonding_tx)?,
        })
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::MsgBtcUndelegate {
        pb::MsgBtcUndelegate {
            signer: self.signer.to_string(),
            staking_txid: self.staking_txid.to_string(),
            unbonding_tx: bitcoin::consensus::serialize(&self.unbonding_tx),
        }
    }
}

/// A decoded `MsgReportBtcSpend`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgReportBtcSpend {
    /// The sender (signer), any account.
    pub signer: Address,
    /// The delegation.
    pub staking_txid: StakingTxid,
    /// The spending tx.
    pub spend_tx: Transaction,
    /// Its inclusion.
    pub proof: TxInclusionProof,
}

impl MsgReportBtcSpend {
    /// From the proto form, with every stateless check.
    pub fn from_proto(m: &pb::MsgReportBtcSpend) -> Result<Self, BtcDelegationError> {
        Ok(MsgReportBtcSpend {
            signer: parse_address("signer", &m.signer)?,
            staking_txid: m.staking_txid.parse()?,
            spend_tx: decode_tx("spend tx", &m.spend_tx)?,
            proof: parse_inclusion_proof(
                m.proof
                    .as_ref()
                    .ok_or(BtcDelegationError::MissingField("proof"))?,
            )?,
        })
    }

    /// The proto form.
    pub fn to_proto(&self) -> pb::MsgReportBtcSpend {
        pb::MsgReportBtcSpend {
            signer: self.signer.to_string(),
            staking_txid: self.staking_txid.to_string(),
            spend_tx: bitcoin::consensus::serialize(&self.spend_tx),
            proof: Some(inclusion_proof_to_proto(&self.proof)),
        }
    }
}

/// Loads a delegation that an undelegation or spend report may move.
fn load_bonded<S: ballast_framework::StateRead + ?Sized>(
    state: &S,
    txid: &StakingTxid,
    action: &'static str,
) -> Result<BtcDelegation, BtcDelegationError> {
    let d = state.require_btc_delegation(txid)?;
    match d.status {
        s if s.is_bonded() => Ok(d),
        DelegationStatus::Unbonding => Err(BtcDelegationError::AlreadyUnbonding {
            txid: txid.to_string(),
            since: d.unbonding_btc_height,
        }),
        s => Err(BtcDelegationError::WrongStatus {
            action,
            txid: txid.to_string(),
            status: s.as_str(),
            expected: "PENDING, VERIFIED or ACTIVE",
        }),
    }
}

/// The staker's signature in an unbonding tx's witness (see the module docs).
fn staker_sig_in_witness<'a>(
    d: &BtcDelegation,
    tx: &'a Transaction,
    unbonding_leaf: &[u8],
) -> Result<&'a [u8], BtcDelegationError> {
    let missing = |reason: &str| BtcDelegationError::MissingStakerSignature {
        txid: d.staking_txid.to_string(),
        reason: reason.to_string(),
    };
    let input = tx
        .input
        .first()
        .ok_or_else(|| missing("the tx has no input"))?;
    let w = &input.witness;
    match w.len() {
        0 => Err(missing("the witness is empty")),
        1 => w.nth(0).ok_or_else(|| missing("the witness is empty")),
        n => {
            if n < 3 || w.nth(n - 2) != Some(unbonding_leaf) {
                return Err(missing(
                    "expected the staker signature under the unbonding leaf script and its control block, or a one-element witness",
                ));
            }
            w.nth(n - 3)
                .ok_or_else(|| missing("the witness is too short"))
        }
    }
}

/// Moves a delegation to UNBONDING on the staker's signed unbonding tx (see the module docs).
pub fn undelegate<S: StateWrite + ?Sized>(
    state: &mut S,
    txid: &StakingTxid,
    unbonding_tx: &Transaction,
    hub_height: u64,
) -> Result<Transition, BtcDelegationError> {
    let mut d = load_bonded(state, txid, "undelegate")?;
    let expected = d.unbonding_tx.compute_txid();
    let found = unbonding_tx.compute_txid();
    if expected != found {
        return Err(BtcDelegationError::UnbondingTxMismatch {
            txid: txid.to_string(),
            expected: expected.to_string(),
            found: found.to_string(),
        });
    }
    let leaf = d.unbonding_script()?;
    let sig = staker_sig_in_witness(&d, unbonding_tx, leaf.as_bytes())?;
    let staking_out = d.staking_output()?.clone();
    verify_leaf_sig(
        &d.staker_pk,
        sig,
        unbonding_tx,
        0,
        std::slice::from_ref(&staking_out),
        &leaf,
    )
    .map_err(|source| BtcDelegationError::Sign {
        field: "unbonding_tx witness",
        source,
    })?;
    let tip = btc_tip_height(state)?;
    d.spend_tx = Some(unbonding_tx.clone());
    lifecycle::transition(state, &mut d, DelegationStatus::Unbonding, hub_height, tip)
}

/// Moves a delegation to UNBONDING on a proven spend of its staking output (see the module
/// docs).
pub fn report_spend<S: StateWrite + ?Sized>(
    state: &mut S,
    txid: &StakingTxid,
    spend_tx: &Transaction,
    proof: &TxInclusionProof,
    hub_height: u64,
) -> Result<Transition, BtcDelegationError> {
    let mut d = load_bonded(state, txid, "report a spend of")?;
    let outpoint = d.staking_outpoint();
    if !spend_tx.input.iter().any(|i| i.previous_output == outpoint) {
        return Err(BtcDelegationError::NotAStakingSpend {
            spend_txid: spend_tx.compute_txid().to_string(),
            outpoint: outpoint.to_string(),
        });
    }
    verify_on_best_chain(state, spend_tx, proof)?;
    let tip = btc_tip_height(state)?;
    d.spend_tx = Some(spend_tx.clone());
    lifecycle::transition(state, &mut d, DelegationStatus::Unbonding, hub_height, tip)
}

impl MsgHandler for MsgBtcUndelegate {
    const TYPE_URL: &'static str = "/ballast.restaking.v1.MsgBtcUndelegate";

    fn decode(value: &[u8]) -> Result<Self, TxError> {
        Ok(Self::from_proto(&decode_proto(value)?)?)
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        // `decode` built the message through `from_proto`; the signature needs the delegation.
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.signer]
    }

    fn execute(&self, state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), TxError> {
        undelegate(
            state,
            &self.staking_txid,
            &self.unbonding_tx,
            ctx.block.height,
        )?;
        state.emit_event(crate::msg::message_event(Self::TYPE_URL, &self.signer));
        Ok(())
    }
}

impl MsgHandler for MsgReportBtcSpend {
    const TYPE_URL: &'static str = "/ballast.restaking.v1.MsgReportBtcSpend";

    fn decode(value: &[u8]) -> Result<Self, TxError> {
        Ok(Self::from_proto(&decode_proto(value)?)?)
    }

    fn check_stateless(&self) -> Result<(), TxError> {
        // `decode` built the message through `from_proto`; the spend needs the delegation.
        Ok(())
    }

    fn signers(&self) -> Vec<Address> {
        vec![self.signer]
    }

    fn execute(&self, state: &mut dyn StateWrite, ctx: &TxContext<'_>) -> Result<(), TxError> {
        report_spend(
            state,
            &self.staking_txid,
            &self.spend_tx,
            &self.proof,
            ctx.block.height,
        )?;
        state.emit_event(crate::msg::message_event(Self::TYPE_URL, &self.signer));
        Ok(())
    }
}
