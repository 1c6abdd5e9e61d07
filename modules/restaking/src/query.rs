//! The ABCI query paths `/ballast.restaking.v1.Query/<Method>` (protobuf request as data,
//! protobuf response), served from the last committed state.
//!
//! `BtcDelegation` and `BtcDelegations` are answered by [`crate::delegation::query`].

use crate::operator::{self, OperatorId};
use crate::power::{load_power, PowerTableRead};
use crate::{native, rewards, valset, RestakingError};
use ballast_framework::{sdk, Address, StateRead, TxError};
use ballast_proto::ballast::restaking::v1 as pb;
use prost::Message;

/// Default page size of the operators listing.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;
/// Largest page of the operators listing.
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// Prefix of every query path of this module.
pub const QUERY_PREFIX: &str = "/ballast.restaking.v1.Query/";

fn decode<M: Message + Default>(data: &[u8]) -> Result<M, TxError> {
    M::decode(data).map_err(|e| TxError::new(sdk::CODESPACE, sdk::INVALID_REQUEST, e.to_string()))
}

fn operator_id(s: &str) -> Result<OperatorId, RestakingError> {
    s.parse()
        .map_err(|e: RestakingError| RestakingError::InvalidQuery(e.to_string()))
}

fn delegator(s: &str) -> Result<Address, RestakingError> {
    s.parse().map_err(|source| RestakingError::InvalidAddress {
        field: "delegator",
        source,
    })
}

fn power_of<S: StateRead + ?Sized>(
    state: &S,
    id: &OperatorId,
) -> Result<pb::OperatorPower, RestakingError> {
    Ok(load_power(state, id)?
        .ok_or_else(|| crate::error::corrupt(format!("operator {id} has no power record")))?
        .to_proto())
}

fn operators_page(
    state: &dyn StateRead,
    req: &pb::QueryOperatorsRequest,
) -> Result<pb::QueryOperatorsResponse, RestakingError> {
    let limit = match req.limit {
        0 => DEFAULT_PAGE_LIMIT,
        l if l > MAX_PAGE_LIMIT => {
            return Err(RestakingError::InvalidQuery(format!(
                "limit {l} is above the maximum {MAX_PAGE_LIMIT}"
            )))
        }
        l => l,
    };
    let start = match req.start_after.as_str() {
        "" => None,
        s => Some(operator_id(s)?),
    };
    let (ops, next) = operator::page(state, start.as_ref(), limit as usize)?;
    let mut powers = Vec::with_capacity(ops.len());
    for o in &ops {
        powers.push(power_of(state, &o.id)?);
    }
    Ok(pb::QueryOperatorsResponse {
        operators: ops.iter().map(|o| o.to_proto()).collect(),
        powers,
        next: next.map(|n| n.to_string()).unwrap_or_default(),
    })
}

fn rewards_of(
    state: &dyn StateRead,
    who: &Address,
) -> Result<pb::QueryRewardsResponse, RestakingError> {
    let p = rewards::pending(state, who)?;
    Ok(pb::QueryRewardsResponse {
        positions: p
            .positions
            .iter()
            .map(|(pos, amount)| pb::RewardPosition {
                delegator: pos.delegator.to_string(),
                operator_btc_pk: pos.operator.to_bytes().to_vec(),
                power: pos.weight,
                index_at_settle: pos.index_at_settle.to_string(),
                owed: amount.to_string(),
            })
            .collect(),
        total: p.total.to_string(),
        commission: p.commission.to_string(),
    })
}

/// Answers the query paths of this module, or `None` for another module's path.
pub fn route(state: &dyn StateRead, path: &str, data: &[u8]) -> Option<Result<Vec<u8>, TxError>> {
    let method = path.strip_prefix(QUERY_PREFIX)?;
    let answer: Result<Vec<u8>, TxError> = match method {
        "Params" => (|| {
            decode::<pb::QueryParamsRequest>(data)?;
            Ok(pb::QueryParamsResponse {
                params: Some(state.restaking_params()?.to_proto()),
            }
            .encode_to_vec())
        })(),
        "Operator" => (|| {
            let req = decode::<pb::QueryOperatorRequest>(data)?;
            let id = operator_id(&req.btc_pk)?;
            let op = operator::require(state, &id)?;
            Ok(pb::QueryOperatorResponse {
                operator: Some(op.to_proto()),
                power: Some(power_of(state, &id)?),
            }
            .encode_to_vec())
        })(),
        "Operators" => (|| {
            let req = decode::<pb::QueryOperatorsRequest>(data)?;
            Ok(operators_page(state, &req)?.encode_to_vec())
        })(),
        "PowerTable" => (|| {
            decode::<pb::QueryPowerTableRequest>(data)?;
            Ok(pb::QueryPowerTableResponse {
                powers: state.power_table()?.iter().map(|p| p.to_proto()).collect(),
                total_power: state.total_power()?,
            }
            .encode_to_vec())
        })(),
        "PowerSnapshot" => (|| {
            let req = decode::<pb::QueryPowerSnapshotRequest>(data)?;
            let snap = state.power_snapshot(req.epoch)?.ok_or_else(|| {
                RestakingError::InvalidQuery(format!(
                    "no power snapshot for epoch {}: snapshots are taken when an epoch ends",
                    req.epoch
                ))
            })?;
            Ok(pb::QueryPowerSnapshotResponse {
                powers: snap.powers.iter().map(|p| p.to_proto()).collect(),
                total_power: snap.total_power,
            }
            .encode_to_vec())
        })(),
        "HubValidators" => (|| {
            decode::<pb::QueryHubValidatorsRequest>(data)?;
            let (epoch, set) = valset::load_set(state)?;
            Ok(pb::QueryHubValidatorsResponse {
                validators: set.iter().map(|v| v.to_proto()).collect(),
                epoch,
            }
            .encode_to_vec())
        })(),
        "NativeBonds" => (|| {
            let req = decode::<pb::QueryNativeBondsRequest>(data)?;
            let who = delegator(&req.delegator)?;
            Ok(pb::QueryNativeBondsResponse {
                bonds: native::bonds_of(state, &who)?
                    .into_iter()
                    .map(|(op, amount)| pb::NativeBond {
                        delegator: who.to_string(),
                        operator_btc_pk: op.to_bytes().to_vec(),
                        amount: amount.to_string(),
                    })
                    .collect(),
                unbondings: native::unbondings_of(state, &who)?
                    .iter()
                    .map(|u| u.to_proto())
                    .collect(),
            }
            .encode_to_vec())
        })(),
        "Rewards" => (|| {
            let req = decode::<pb::QueryRewardsRequest>(data)?;
            Ok(rewards_of(state, &delegator(&req.delegator)?)?.encode_to_vec())
        })(),
        other => match crate::delegation::query(state, other, data) {
            Some(answer) => answer,
            None => Err(TxError::new(
                sdk::CODESPACE,
                sdk::UNKNOWN_REQUEST,
                format!("unknown restaking query method {other:?}"),
            )),
        },
    };
    Some(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::{set_epoch_ended, snapshot_power};
    use crate::testutil::*;
    use ballast_accounts::fee_collector;
    use ballast_framework::MemState;

    fn ask<Req: Message, Resp: Message + Default>(
        s: &MemState,
        method: &str,
        req: &Req,
    ) -> Result<Resp, TxError> {
        let bytes = route(s, &format!("{QUERY_PREFIX}{method}"), &req.encode_to_vec())
            .expect("a restaking path")?;
        Ok(Resp::decode(bytes.as_slice()).unwrap())
    }

    #[test]
    fn answers_every_method() {
        let mut s = MemState::new();
        init(&mut s);
        let a = register_op(&mut s, 1, Some(cons_pk(1)));
        let b = register_op(&mut s, 2, None);
        let d = Address([0x81; 20]);
        fund(&mut s, &d, 9_000_000);
        native::bond(&mut s, &d, &a, 5_000_000).unwrap();
        native::unbond(&mut s, &d, &a, 1_000_000).unwrap();
        crate::valset::init_set(&mut s).unwrap();

        let p: pb::QueryParamsResponse = ask(&s, "Params", &pb::QueryParamsRequest {}).unwrap();
        assert_eq!(p.params.unwrap().max_validators, 100);

        let o: pb::QueryOperatorResponse = ask(
            &s,
            "Operator",
            &pb::QueryOperatorRequest {
                btc_pk: a.to_string(),
            },
        )
        .unwrap();
        assert_eq!(o.power.unwrap().power, 4);
        let e = ask::<_, pb::QueryOperatorResponse>(
            &s,
            "Operator",
            &pb::QueryOperatorRequest {
                btc_pk: "ab".into(),
            },
        )
        .unwrap_err();
        assert_eq!((e.codespace, e.code), ("restaking", 18));
        let e = ask::<_, pb::QueryOperatorResponse>(
            &s,
            "Operator",
            &pb::QueryOperatorRequest {
                btc_pk: "ab".repeat(32),
            },
        )
        .unwrap_err();
        assert_eq!(e.code, 12);

        let page: pb::QueryOperatorsResponse = ask(
            &s,
            "Operators",
            &pb::QueryOperatorsRequest {
                start_after: String::new(),
                limit: 1,
            },
        )
        .unwrap();
        assert_eq!(page.operators.len(), 1);
        let rest: pb::QueryOperatorsResponse = ask(
            &s,
            "Operators",
            &pb::QueryOperatorsRequest {
                start_after: page.next.clone(),
                limit: 0,
            },
        )
        .unwrap();
        assert_eq!(rest.operators.len(), 1);
        assert_eq!(rest.next, "");
        let mut ids = vec![
            page.operators[0].btc_pk.clone(),
            rest.operators[0].btc_pk.clone(),
        ];
        ids.sort();
        let mut want = vec![a.to_bytes().to_vec(), b.to_bytes().to_vec()];
        want.sort();
        assert_eq!(ids, want);
        assert!(ask::<_, pb::QueryOperatorsResponse>(
            &s,
            "Operators",
            &pb::QueryOperatorsRequest {
                start_after: String::new(),
                limit: 1001
            },
        )
        .is_err());

        let t: pb::QueryPowerTableResponse =
            ask(&s, "PowerTable", &pb::QueryPowerTableRequest {}).unwrap();
        assert_eq!((t.powers.len(), t.total_power), (2, 4));

        assert!(ask::<_, pb::QueryPowerSnapshotResponse>(
            &s,
            "PowerSnapshot",
            &pb::QueryPowerSnapshotRequest { epoch: 1 }
        )
        .is_err());
        fund(&mut s, &fee_collector(), 100);
        let snap = snapshot_power(&mut s, 1).unwrap();
        rewards::distribute(&mut s, &snap).unwrap();
        set_epoch_ended(&mut s, 1).unwrap();
        let sn: pb::QueryPowerSnapshotResponse = ask(
            &s,
            "PowerSnapshot",
            &pb::QueryPowerSnapshotRequest { epoch: 1 },
        )
        .unwrap();
        assert_eq!((sn.powers.len(), sn.total_power), (1, 4));

        let h: pb::QueryHubValidatorsResponse =
            ask(&s, "HubValidators", &pb::QueryHubValidatorsRequest {}).unwrap();
        assert_eq!(h.validators.len(), 1);
        assert_eq!(h.validators[0].consensus_pubkey, cons_pk(1).to_vec());

        let nb: pb::QueryNativeBondsResponse = ask(
            &s,
            "NativeBonds",
            &pb::QueryNativeBondsRequest {
                delegator: d.to_string(),
            },
        )
        .unwrap();
        assert_eq!(nb.bonds.len(), 1);
        assert_eq!(nb.bonds[0].amount, "4000000");
        assert_eq!(nb.unbondings.len(), 1);
        assert_eq!(nb.unbondings[0].completion_epoch, 8);
        let e = ask::<_, pb::QueryNativeBondsResponse>(
            &s,
            "NativeBonds",
            &pb::QueryNativeBondsRequest {
                delegator: "nope".into(),
            },
        )
        .unwrap_err();
        assert_eq!((e.codespace, e.code), ("sdk", 7));

        let r: pb::QueryRewardsResponse = ask(
            &s,
            "Rewards",
            &pb::QueryRewardsRequest {
                delegator: d.to_string(),
            },
        )
        .unwrap();
        // Operator 1 (commission 5%) got all 100: 95 to its only weighted position.
        assert_eq!(r.total, "95");
        assert_eq!(r.positions[0].owed, "95");
        let r: pb::QueryRewardsResponse = ask(
            &s,
            "Rewards",
            &pb::QueryRewardsRequest {
                delegator: owner(1).to_string(),
            },
        )
        .unwrap();
        assert_eq!((r.total.as_str(), r.commission.as_str()), ("5", "5"));

        let e = route(&s, &format!("{QUERY_PREFIX}Nope"), &[])
            .unwrap()
            .unwrap_err();
        assert_eq!((e.codespace, e.code), ("sdk", sdk::UNKNOWN_REQUEST));
        let e = route(&s, &format!("{QUERY_PREFIX}Params"), &[0xff])
            .unwrap()
            .unwrap_err();
        assert_eq!(e.code, sdk::INVALID_REQUEST);
        assert!(route(&s, "/ballast.accounts.v1.Query/Params", &[]).is_none());
    }
}
