//! The delegation queries `/ballast.restaking.v1.Query/BtcDelegation` and `BtcDelegations`.
//!
//! `BtcDelegations` lists by at most one of staker BTC key (hex), staker address (bech32) and
//! operator (hex), or all delegations when none is given; `status` (not UNSPECIFIED) keeps only
//! delegations in that status. Pages are in staking txid order: `start_after` is the last txid
//! of the previous page (exclusive), `limit` is 1 to [`MAX_PAGE_LIMIT`] (0 means
//! [`DEFAULT_PAGE_LIMIT`]), and `next` is the txid to pass as `start_after` for the next page
//! (empty on the last page).

use crate::btc::params::parse_xonly_hex;
use crate::delegation::error::BtcDelegationError;
use crate::delegation::state_key;
use crate::delegation::types::{DelegationStatus, StakingTxid};
use crate::operator::OperatorId;
use ballast_framework::{sdk, Address, StateRead, StateReadExt, TxError};
use ballast_proto::ballast::restaking::v1 as pb;
use prost::Message;

/// Default page size of `BtcDelegations`.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;
/// Largest page of `BtcDelegations`.
pub const MAX_PAGE_LIMIT: u32 = 100;

fn decode<M: Message + Default>(data: &[u8]) -> Result<M, TxError> {
    M::decode(data).map_err(|e| TxError::new(sdk::CODESPACE, sdk::INVALID_REQUEST, e.to_string()))
}

fn bad(msg: impl Into<String>) -> BtcDelegationError {
    BtcDelegationError::InvalidQuery(msg.into())
}

/// One delegation, as stored.
pub fn delegation(
    state: &dyn StateRead,
    req: &pb::QueryBtcDelegationRequest,
) -> Result<pb::QueryBtcDelegationResponse, BtcDelegationError> {
    let txid: StakingTxid = req.staking_txid.parse()?;
    let d = state
        .get_proto::<pb::BtcDelegation>(state_key::delegation(&txid))?
        .ok_or_else(|| BtcDelegationError::UnknownDelegation {
            txid: txid.to_string(),
        })?;
    Ok(pb::QueryBtcDelegationResponse {
        delegation: Some(d),
    })
}

/// One page of delegations (see the module docs).
pub fn delegations(
    state: &dyn StateRead,
    req: &pb::QueryBtcDelegationsRequest,
) -> Result<pb::QueryBtcDelegationsResponse, BtcDelegationError> {
    let limit = match req.limit {
        0 => DEFAULT_PAGE_LIMIT,
        l if l > MAX_PAGE_LIMIT => {
            return Err(bad(format!(
                "limit {l} is above the maximum {MAX_PAGE_LIMIT}"
            )))
        }
        l => l,
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let status = match req.status {
        0 => None,
        n => Some(
            DelegationStatus::from_proto(n)
                .ok_or_else(|| bad(format!("status {n} is not a delegation status")))?,
        ),
    };
    let filters = [
        !req.staker_btc_pk.is_empty(),
        !req.staker_addr.is_empty(),
        !req.operator_btc_pk.is_empty(),
    ];
    if filters.iter().filter(|f| **f).count() > 1 {
        return Err(bad(
            "give at most one of staker_btc_pk, staker_addr and operator_btc_pk",
        ));
    }
    let prefix = if !req.staker_btc_pk.is_empty() {
        let pk = parse_xonly_hex("staker", &req.staker_btc_pk)
            .map_err(|e| bad(format!("staker_btc_pk: {e}")))?;
        state_key::by_staker_pk_prefix(&pk)
    } else if !req.staker_addr.is_empty() {
        let a: Address = req
            .staker_addr
            .parse()
            .map_err(|e| bad(format!("staker_addr: {e}")))?;
        state_key::by_staker_prefix(&a)
    } else if !req.operator_btc_pk.is_empty() {
        let op: OperatorId = req
            .operator_btc_pk
            .parse()
            .map_err(|e| bad(format!("operator_btc_pk: {e}")))?;
        state_key::by_operator_prefix(&op)
    } else if let Some(s) = status {
        state_key::by_status_prefix(s)
    } else {
        state_key::delegations_prefix().to_string()
    };
    let start_after: Option<StakingTxid> = match req.start_after.as_str() {
        "" => None,
        s => Some(s.parse()?),
    };
    let mut found: Vec<pb::BtcDelegation> = Vec::new();
    let mut more = false;
    for entry in state.prefix_raw(prefix.as_bytes()) {
        let (k, _) = entry?;
        let txid = state_key::txid_from_key(&k).ok_or_else(|| {
            crate::delegation::error::corrupt(format!(
                "malformed btc delegation key {}",
                String::from_utf8_lossy(&k)
            ))
        })?;
        // Txids list in display-order hex, so compare their text.
        if start_after.is_some_and(|s| txid.to_string() <= s.to_string()) {
            continue;
        }
        let d = state
            .get_proto::<pb::BtcDelegation>(state_key::delegation(&txid))?
            .ok_or_else(|| {
                crate::delegation::error::corrupt(format!(
                    "btc delegation index names {txid}, which has no record"
                ))
            })?;
        if status.is_some_and(|s| d.status != s.to_proto() as i32) {
            continue;
        }
        if found.len() == limit {
            more = true;
            break;
        }
        found.push(d);
    }
    let next = if more {
        found
            .last()
            .map(|d| d.staking_txid.clone())
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(pb::QueryBtcDelegationsResponse {
        delegations: found,
        next,
    })
}

/// Answers the delegation methods of `/ballast.restaking.v1.Query/<method>` (`None`: not one
/// of them).
pub fn route(state: &dyn StateRead, method: &str, data: &[u8]) -> Option<Result<Vec<u8>, TxError>> {
    let answer = match method {
        "BtcDelegation" => (|| {
            let req = decode::<pb::QueryBtcDelegationRequest>(data)?;
            Ok(delegation(state, &req)?.encode_to_vec())
        })(),
        "BtcDelegations" => (|| {
            let req = decode::<pb::QueryBtcDelegationsRequest>(data)?;
            Ok(delegations(state, &req)?.encode_to_vec())
        })(),
        _ => return None,
    };
    Some(answer)
}
