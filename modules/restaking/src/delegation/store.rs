//! Reading and writing delegation records, their indexes and the time queue.
//!
//! Other modules read delegations through [`BtcDelegationRead`]; writes happen only in this
//! module's message handlers and end-block, through the lifecycle
//! ([`crate::delegation::lifecycle`]), which keeps the record, the status index, the time
//! queue and the power table in step.

use crate::delegation::error::{corrupt, BtcDelegationError};
use crate::delegation::state_key::{self, QueueKind};
use crate::delegation::types::{BtcDelegation, DelegationStatus, StakingTxid};
use crate::operator::OperatorId;
use ballast_framework::{StateRead, StateReadExt, StateWrite, StateWriteExt};
use ballast_proto::ballast::restaking::v1 as pb;

/// Read access to BTC delegations, for every state.
pub trait BtcDelegationRead: StateRead {
    /// The delegation of a staking tx.
    fn btc_delegation(
        &self,
        txid: &StakingTxid,
    ) -> Result<Option<BtcDelegation>, BtcDelegationError> {
        match self.get_proto::<pb::BtcDelegation>(state_key::delegation(txid))? {
            None => Ok(None),
            Some(p) => {
                let d = BtcDelegation::from_stored(&p)?;
                if d.staking_txid != *txid {
                    return Err(corrupt(format!(
                        "delegation stored under {txid} is that of {}",
                        d.staking_txid
                    )));
                }
                Ok(Some(d))
            }
        }
    }

    /// The delegation of a staking tx, which must exist.
    fn require_btc_delegation(
        &self,
        txid: &StakingTxid,
    ) -> Result<BtcDelegation, BtcDelegationError> {
        self.btc_delegation(txid)?
            .ok_or_else(|| BtcDelegationError::UnknownDelegation {
                txid: txid.to_string(),
            })
    }

    /// The staking txids of an operator's delegations in `status`, in txid order (for the
    /// slashing module, which marks every affected delegation SLASHED).
    fn btc_delegations_of_operator(
        &self,
        operator: &OperatorId,
        status: Option<DelegationStatus>,
    ) -> Result<Vec<StakingTxid>, BtcDelegationError> {
        let mut out = Vec::new();
        for entry in self.prefix_raw(state_key::by_operator_prefix(operator).as_bytes()) {
            let (k, _) = entry?;
            let txid = state_key::txid_from_key(&k)
                .ok_or_else(|| corrupt("malformed btc delegation operator index key"))?;
            if let Some(want) = status {
                let in_status = self
                    .get_raw(state_key::by_status(want, &txid).as_bytes())?
                    .is_some();
                if !in_status {
                    continue;
                }
            }
            out.push(txid);
        }
        Ok(out)
    }
}
impl<T: StateRead + ?Sized> BtcDelegationRead for T {}

/// Writes a new delegation: its record and its four index entries.
pub(crate) fn insert<S: StateWrite + ?Sized>(
    state: &mut S,
    d: &BtcDelegation,
) -> Result<(), BtcDelegationError> {
    let t = &d.staking_txid;
    save(state, d)?;
    state.put_raw(
        state_key::by_staker_pk(&d.staker_pk, t).into_bytes(),
        ballast_framework::INDEX_MARKER.to_vec(),
    )?;
    state.put_raw(
        state_key::by_staker(&d.staker_addr, t).into_bytes(),
        ballast_framework::INDEX_MARKER.to_vec(),
    )?;
    state.put_raw(
        state_key::by_operator(&d.operator, t).into_bytes(),
        ballast_framework::INDEX_MARKER.to_vec(),
    )?;
    state.put_raw(
        state_key::by_status(d.status, t).into_bytes(),
        ballast_framework::INDEX_MARKER.to_vec(),
    )?;
    Ok(())
}

/// Overwrites a delegation's record (its indexes other than status never change).
pub(crate) fn save<S: StateWrite + ?Sized>(
    state: &mut S,
    d: &BtcDelegation,
) -> Result<(), BtcDelegationError> {
    state.put_proto(state_key::delegation(&d.staking_txid), &d.to_proto())?;
    Ok(())
}

/// Moves a delegation from one status index to another.
pub(crate) fn move_status<S: StateWrite + ?Sized>(
    state: &mut S,
    txid: &StakingTxid,
    from: DelegationStatus,
    to: DelegationStatus,
) -> Result<(), BtcDelegationError> {
    state.delete(state_key::by_status(from, txid).into_bytes())?;
    state.put_raw(
        state_key::by_status(to, txid).into_bytes(),
        ballast_framework::INDEX_MARKER.to_vec(),
    )?;
    Ok(())
}

/// Puts a delegation in the time queue at `btc_height`.
pub(crate) fn enqueue<S: StateWrite + ?Sized>(
    state: &mut S,
    btc_height: u64,
    txid: &StakingTxid,
    kind: QueueKind,
) -> Result<(), BtcDelegationError> {
    state.put_raw(
        state_key::queue(btc_height, txid).into_bytes(),
        kind.to_value(),
    )?;
    Ok(())
}

/// Removes a delegation's entry at `btc_height` from the time queue (if there is one).
pub(crate) fn dequeue<S: StateWrite + ?Sized>(
    state: &mut S,
    btc_height: u64,
    txid: &StakingTxid,
) -> Result<(), BtcDelegationError> {
    state.delete(state_key::queue(btc_height, txid).into_bytes())?;
    Ok(())
}

/// Up to `limit` queue entries due at `tip_height` or before, in height then txid order.
pub(crate) fn due_entries<S: StateRead + ?Sized>(
    state: &S,
    tip_height: u64,
    limit: usize,
) -> Result<Vec<(u64, StakingTxid, QueueKind)>, BtcDelegationError> {
    let mut out = Vec::new();
    for entry in state.prefix_raw(state_key::queue_prefix().as_bytes()) {
        if out.len() >= limit {
            break;
        }
        let (k, v) = entry?;
        let (height, txid) = state_key::parse_queue_key(&k).ok_or_else(|| {
            corrupt(format!(
                "malformed btc delegation queue key {}",
                String::from_utf8_lossy(&k)
            ))
        })?;
        if height > tip_height {
            break;
        }
        let kind = QueueKind::from_value(&v)
            .ok_or_else(|| corrupt(format!("malformed btc delegation queue value at {txid}")))?;
        out.push((height, txid, kind));
    }
    Ok(out)
}
