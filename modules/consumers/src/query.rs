//! The ABCI query paths `/ballast.consumers.v1.Query/<Method>` (protobuf request as data,
//! protobuf response), served from the last committed state. Listings are paged: a `limit` of
//! 0 means [`DEFAULT_PAGE_LIMIT`], above [`MAX_PAGE_LIMIT`] is refused (consumers/22).

use crate::consumer::{self, ConsumerId};
use crate::opt_in::{self, parse_operator};
use crate::{allocation, params, read, state_key, ConsumersError};
use ballast_framework::{sdk, StateRead, StateReadExt, TxError};
use ballast_proto::ballast::consumers::v1 as pb;
use ballast_restaking::PowerTableRead;
use prost::Message;

/// Page size when a request names none.
pub const DEFAULT_PAGE_LIMIT: u32 = 100;
/// Largest page.
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// Prefix of every query path of this module.
pub const QUERY_PREFIX: &str = "/ballast.consumers.v1.Query/";

fn decode<M: Message + Default>(data: &[u8]) -> Result<M, TxError> {
    M::decode(data).map_err(|e| TxError::new(sdk::CODESPACE, sdk::INVALID_REQUEST, e.to_string()))
}

fn page_limit(limit: u32) -> Result<usize, ConsumersError> {
    match limit {
        0 => Ok(DEFAULT_PAGE_LIMIT as usize),
        l if l > MAX_PAGE_LIMIT => Err(ConsumersError::InvalidQuery(format!(
            "limit {l} is above the maximum {MAX_PAGE_LIMIT}"
        ))),
        l => Ok(l as usize),
    }
}

fn consumer_id(s: &str) -> Result<ConsumerId, ConsumersError> {
    ConsumerId::parse(s).map_err(|e| ConsumersError::InvalidQuery(e.to_string()))
}

fn consumers_page(
    state: &dyn StateRead,
    req: &pb::QueryConsumersRequest,
) -> Result<pb::QueryConsumersResponse, ConsumersError> {
    let limit = page_limit(req.limit)?;
    let status = match req.status {
        0 => None,
        s if pb::ConsumerStatus::try_from(s).is_ok() => Some(s),
        s => {
            return Err(ConsumersError::InvalidQuery(format!(
                "unknown consumer status {s}"
            )))
        }
    };
    let prefix = state_key::consumers_prefix();
    let mut out = Vec::new();
    let mut more = false;
    for item in state.prefix_proto::<pb::Consumer>(prefix) {
        let (k, c) = item?;
        let id = &k[prefix.len()..];
        if !req.start_after.is_empty() && id <= req.start_after.as_bytes() {
            continue;
        }
        if status.is_some_and(|s| s != c.status) {
            continue;
        }
        if out.len() == limit {
            more = true;
            break;
        }
        out.push(c);
    }
    let next = if more {
        out.last()
            .map(|c| c.consumer_id.clone())
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(pb::QueryConsumersResponse {
        consumers: out,
        next,
    })
}

fn opt_ins_page(
    state: &dyn StateRead,
    req: &pb::QueryOptInsRequest,
) -> Result<pb::QueryOptInsResponse, ConsumersError> {
    let id = consumer_id(&req.consumer_id)?;
    let limit = page_limit(req.limit)?;
    let start = if req.start_after.is_empty() {
        None
    } else {
        Some(
            parse_operator("start_after", &req.start_after)
                .map_err(|e| ConsumersError::InvalidQuery(e.to_string()))?,
        )
    };
    consumer::require(state, &id)?;
    let mut out = Vec::new();
    let mut more = false;
    for o in opt_in::of_consumer(state, &id)? {
        if start.is_some_and(|s| o.operator <= s) {
            continue;
        }
        if out.len() == limit {
            more = true;
            break;
        }
        out.push(o.to_proto());
    }
    let next = if more {
        out.last()
            .map(|o| o.operator_btc_pk.clone())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    Ok(pb::QueryOptInsResponse { opt_ins: out, next })
}

/// Answers the query paths of this module, or `None` for another module's path.
pub fn route(state: &dyn StateRead, path: &str, data: &[u8]) -> Option<Result<Vec<u8>, TxError>> {
    let method = path.strip_prefix(QUERY_PREFIX)?;
    let answer: Result<Vec<u8>, TxError> = match method {
        "Params" => (|| {
            decode::<pb::QueryParamsRequest>(data)?;
            Ok(pb::QueryParamsResponse {
                params: Some(params::load(state)?.to_proto()),
            }
            .encode_to_vec())
        })(),
        "Consumer" => (|| {
            let req = decode::<pb::QueryConsumerRequest>(data)?;
            let c = consumer::require(state, &consumer_id(&req.consumer_id)?)?;
            Ok(pb::QueryConsumerResponse {
                consumer: Some(c.to_proto()),
            }
            .encode_to_vec())
        })(),
        "Consumers" => (|| {
            let req = decode::<pb::QueryConsumersRequest>(data)?;
            Ok(consumers_page(state, &req)?.encode_to_vec())
        })(),
        "OptIns" => (|| {
            let req = decode::<pb::QueryOptInsRequest>(data)?;
            Ok(opt_ins_page(state, &req)?.encode_to_vec())
        })(),
        "OperatorAllocations" => (|| {
            let req = decode::<pb::QueryOperatorAllocationsRequest>(data)?;
            let op = parse_operator("operator_btc_pk", &req.operator_btc_pk)
                .map_err(|e| ConsumersError::InvalidQuery(e.to_string()))?;
            let current = state.current_epoch().map_err(ConsumersError::from)?;
            let s = allocation::summary(state, &op, current, &params::load(state)?)?;
            let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
            Ok(pb::QueryOperatorAllocationsResponse {
                opt_ins: s.opt_ins.iter().map(|(o, _)| o.to_proto()).collect(),
                encumbered_bps: clamp(s.encumbered_bps),
                cap_bps: clamp(s.cap_bps),
            }
            .encode_to_vec())
        })(),
        "ValidatorSet" => (|| {
            let req = decode::<pb::QueryValidatorSetRequest>(data)?;
            let id = consumer_id(&req.consumer_id)?;
            consumer::require(state, &id)?;
            Ok(pb::QueryValidatorSetResponse {
                set: read::validator_set(state, id.as_str())?,
            }
            .encode_to_vec())
        })(),
        "Updates" => (|| {
            let req = decode::<pb::QueryUpdatesRequest>(data)?;
            let id = consumer_id(&req.consumer_id)?;
            let limit = page_limit(req.limit)?;
            consumer::require(state, &id)?;
            Ok(pb::QueryUpdatesResponse {
                updates: read::updates_after(state, id.as_str(), req.after_update_id, limit)?,
            }
            .encode_to_vec())
        })(),
        other => Err(TxError::new(
            sdk::CODESPACE,
            sdk::UNKNOWN_REQUEST,
            format!("unknown consumers query method {other:?}"),
        )),
    };
    Some(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use ballast_framework::MemState;

    fn ask<Req: Message, Resp: Message + Default>(
        s: &MemState,
        method: &str,
        req: &Req,
    ) -> Result<Resp, TxError> {
        let bytes = route(s, &format!("{QUERY_PREFIX}{method}"), &req.encode_to_vec())
            .expect("a consumers path")?;
        Ok(Resp::decode(bytes.as_slice()).unwrap())
    }

    #[test]
    fn answers_every_method_with_paging_bounds() {
        let mut s = MemState::new();
        init(&mut s);
        let a = register_op(&mut s, 1, 100);
        let b = register_op(&mut s, 2, 50);
        for id in ["c1", "c2", "c3"] {
            register(&mut s, &user(1), id, 10, pb::AllocationMode::Shared);
        }
        register(&mut s, &user(1), "iso", 10, pb::AllocationMode::Isolated);
        fund_lease(&mut s, &user(1), "c1", 100);
        opt_in_op(&mut s, 1, &a, "c1", 1, 5_000).unwrap();
        opt_in_op(&mut s, 2, &b, "c1", 2, 10_000).unwrap();
        opt_in_op(&mut s, 1, &a, "c2", 3, 2_000).unwrap();
        end_epoch(&mut s, 10);

        let p: pb::QueryParamsResponse = ask(&s, "Params", &pb::QueryParamsRequest {}).unwrap();
        assert_eq!(p.params.unwrap().max_consumers_per_block, 50);

        let c: pb::QueryConsumerResponse = ask(
            &s,
            "Consumer",
            &pb::QueryConsumerRequest {
                consumer_id: "c1".into(),
            },
        )
        .unwrap();
        let c = c.consumer.unwrap();
        assert_eq!(c.status, pb::ConsumerStatus::Active as i32);
        assert_eq!(c.lease_balance, "90");
        let e = ask::<_, pb::QueryConsumerResponse>(
            &s,
            "Consumer",
            &pb::QueryConsumerRequest {
                consumer_id: "zz".into(),
            },
        )
        .unwrap_err();
        assert_eq!((e.codespace, e.code), ("consumers", 11));
        let e = ask::<_, pb::QueryConsumerResponse>(
            &s,
            "Consumer",
            &pb::QueryConsumerRequest {
                consumer_id: "a b".into(),
            },
        )
        .unwrap_err();
        assert_eq!(e.code, 22);

        let page: pb::QueryConsumersResponse = ask(
            &s,
            "Consumers",
            &pb::QueryConsumersRequest {
                status: 0,
                start_after: String::new(),
                limit: 3,
            },
        )
        .unwrap();
        let ids: Vec<&str> = page
            .consumers
            .iter()
            .map(|c| c.consumer_id.as_str())
            .collect();
        assert_eq!(ids, vec!["c1", "c2", "c3"]);
        assert_eq!(page.next, "c3");
        let rest: pb::QueryConsumersResponse = ask(
            &s,
            "Consumers",
            &pb::QueryConsumersRequest {
                status: 0,
                start_after: page.next.clone(),
                limit: 0,
            },
        )
        .unwrap();
        assert_eq!(rest.consumers.len(), 1);
        assert_eq!(rest.next, "");
        let active: pb::QueryConsumersResponse = ask(
            &s,
            "Consumers",
            &pb::QueryConsumersRequest {
                status: pb::ConsumerStatus::Active as i32,
                start_after: String::new(),
                limit: 0,
            },
        )
        .unwrap();
        assert_eq!(active.consumers.len(), 1);
        for (status, limit) in [(0, 1001), (9, 1)] {
            let e = ask::<_, pb::QueryConsumersResponse>(
                &s,
                "Consumers",
                &pb::QueryConsumersRequest {
                    status,
                    start_after: String::new(),
                    limit,
                },
            )
            .unwrap_err();
            assert_eq!((e.codespace, e.code), ("consumers", 22));
        }

        let o: pb::QueryOptInsResponse = ask(
            &s,
            "OptIns",
            &pb::QueryOptInsRequest {
                consumer_id: "c1".into(),
                start_after: Vec::new(),
                limit: 1,
            },
        )
        .unwrap();
        assert_eq!(o.opt_ins.len(), 1);
        assert_eq!(o.next, o.opt_ins[0].operator_btc_pk);
        let o2: pb::QueryOptInsResponse = ask(
            &s,
            "OptIns",
            &pb::QueryOptInsRequest {
                consumer_id: "c1".into(),
                start_after: o.next.clone(),
                limit: 1,
            },
        )
        .unwrap();
        assert_eq!(o2.opt_ins.len(), 1);
        assert!(o2.next.is_empty());
        assert_ne!(o.opt_ins[0].operator_btc_pk, o2.opt_ins[0].operator_btc_pk);

        let al: pb::QueryOperatorAllocationsResponse = ask(
            &s,
            "OperatorAllocations",
            &pb::QueryOperatorAllocationsRequest {
                operator_btc_pk: a.to_bytes().to_vec(),
            },
        )
        .unwrap();
        assert_eq!(al.opt_ins.len(), 2);
        assert_eq!((al.encumbered_bps, al.cap_bps), (7_000, 30_000));
        let e = ask::<_, pb::QueryOperatorAllocationsResponse>(
            &s,
            "OperatorAllocations",
            &pb::QueryOperatorAllocationsRequest {
                operator_btc_pk: vec![1],
            },
        )
        .unwrap_err();
        assert_eq!(e.code, 22);

        let vs: pb::QueryValidatorSetResponse = ask(
            &s,
            "ValidatorSet",
            &pb::QueryValidatorSetRequest {
                consumer_id: "c1".into(),
            },
        )
        .unwrap();
        let set = vs.set.unwrap();
        // a: 5000 bps of 100 = 50; b: 10000 bps of 50 = 50.
        assert_eq!(
            set.validators.iter().map(|v| v.power).collect::<Vec<_>>(),
            vec![50, 50]
        );
        let none: pb::QueryValidatorSetResponse = ask(
            &s,
            "ValidatorSet",
            &pb::QueryValidatorSetRequest {
                consumer_id: "c2".into(),
            },
        )
        .unwrap();
        assert!(none.set.is_none(), "c2 is not ACTIVE: no set yet");

        let u: pb::QueryUpdatesResponse = ask(
            &s,
            "Updates",
            &pb::QueryUpdatesRequest {
                consumer_id: "c1".into(),
                after_update_id: 0,
                limit: 0,
            },
        )
        .unwrap();
        assert_eq!(u.updates.len(), 1);
        assert_eq!(u.updates[0].update_id, 1);
        let e = ask::<_, pb::QueryUpdatesResponse>(
            &s,
            "Updates",
            &pb::QueryUpdatesRequest {
                consumer_id: "c1".into(),
                after_update_id: 0,
                limit: 5000,
            },
        )
        .unwrap_err();
        assert_eq!(e.code, 22);

        let e = route(&s, &format!("{QUERY_PREFIX}Nope"), &[])
            .unwrap()
            .unwrap_err();
        assert_eq!((e.codespace, e.code), ("sdk", sdk::UNKNOWN_REQUEST));
        let e = route(&s, &format!("{QUERY_PREFIX}Params"), &[0xff])
            .unwrap()
            .unwrap_err();
        assert_eq!(e.code, sdk::INVALID_REQUEST);
        assert!(route(&s, "/ballast.restaking.v1.Query/Params", &[]).is_none());
    }
}
