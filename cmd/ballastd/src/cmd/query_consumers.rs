//! `ballastd query consumers …`: the consumers module's queries
//! (`/ballast.consumers.v1.Query/<Method>`), over CometBFT's `abci_query` or gRPC (`--grpc`).
//!
//! Statuses and modes print by name (`ACTIVE`, `SHARED`); operator ids (BIP-340 x-only BTC
//! keys), consumer keys (ed25519) and set hashes in lower-case hex; accounts in bech32; 64-bit
//! numbers and ubal amounts as strings, as Cosmos CLIs print them.

use super::btc_delegation::parse_xonly_arg;
use super::query::QueryFlags;
use anyhow::{bail, Context};
use ballast_proto::ballast::consumers::v1 as pb;
use serde_json::{json, Value};

/// `ballastd query consumers` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// The module's params (reuse cap, deallocation delay, per-block work, bounds).
    Params {
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// One consumer: owner, terms, status, lease balance, last update.
    Consumer {
        /// The consumer id (its chain id).
        consumer_id: String,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// Consumers by id, one page at a time, optionally in one status.
    Consumers {
        /// Only consumers in this status.
        #[arg(long, value_parser = ["registered", "active", "stopped"])]
        status: Option<String>,
        /// Start after this consumer id (the previous page's `next`).
        #[arg(long, default_value = "")]
        start_after: String,
        /// Consumers in the page (0: the chain's default).
        #[arg(long, default_value_t = 0)]
        limit: u32,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// The operators opted in to a consumer, by operator id, one page at a time.
    OptIns {
        /// The consumer id.
        consumer_id: String,
        /// Start after this operator (a BTC key from the previous page's `next`).
        #[arg(long, default_value = "")]
        start_after: String,
        /// Opt-ins in the page (0: the chain's default).
        #[arg(long, default_value_t = 0)]
        limit: u32,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// Every opt-in of one operator, with the basis points it has encumbered and its cap.
    Allocations {
        /// The operator's BTC key (64 hex digits, x-only).
        operator: String,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// A consumer's current validator set (CometBFT order) and its set hash.
    ValidatorSet {
        /// The consumer id.
        consumer_id: String,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// A consumer's stored validator-set updates after an update id, in order.
    Updates {
        /// The consumer id.
        consumer_id: String,
        /// Only updates with a larger update id (0: from the first).
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Updates in the answer (0: the chain's default).
        #[arg(long, default_value_t = 0)]
        limit: u32,
        #[command(flatten)]
        flags: QueryFlags,
    },
}

/// The query paths (each is also the gRPC method).
pub mod path {
    /// `Params`.
    pub const PARAMS: &str = "/ballast.consumers.v1.Query/Params";
    /// `Consumer`.
    pub const CONSUMER: &str = "/ballast.consumers.v1.Query/Consumer";
    /// `Consumers`.
    pub const CONSUMERS: &str = "/ballast.consumers.v1.Query/Consumers";
    /// `OptIns`.
    pub const OPT_INS: &str = "/ballast.consumers.v1.Query/OptIns";
    /// `OperatorAllocations`.
    pub const OPERATOR_ALLOCATIONS: &str = "/ballast.consumers.v1.Query/OperatorAllocations";
    /// `ValidatorSet`.
    pub const VALIDATOR_SET: &str = "/ballast.consumers.v1.Query/ValidatorSet";
    /// `Updates`.
    pub const UPDATES: &str = "/ballast.consumers.v1.Query/Updates";
}

/// Runs one query and prints its answer.
pub async fn run(c: Cmd) -> anyhow::Result<()> {
    match c {
        Cmd::Params { flags } => {
            let r: pb::QueryParamsResponse =
                flags.query(path::PARAMS, pb::QueryParamsRequest {}).await?;
            let p = r.params.context("the answer has no params")?;
            flags.print(&json!({ "params": params_json(&p) }));
        }
        Cmd::Consumer { consumer_id, flags } => {
            check_consumer_id(&consumer_id)?;
            let c = consumer(&flags, &consumer_id).await?;
            flags.print(&json!({ "consumer": consumer_json(&c) }));
        }
        Cmd::Consumers {
            status,
            start_after,
            limit,
            flags,
        } => {
            let status = match status {
                Some(s) => parse_status(&s)? as i32,
                None => pb::ConsumerStatus::Unspecified as i32,
            };
            let r: pb::QueryConsumersResponse = flags
                .query(
                    path::CONSUMERS,
                    pb::QueryConsumersRequest {
                        status,
                        start_after,
                        limit,
                    },
                )
                .await?;
            flags.print(&json!({
                "consumers": r.consumers.iter().map(consumer_json).collect::<Vec<_>>(),
                "next": r.next,
            }));
        }
        Cmd::OptIns {
            consumer_id,
            start_after,
            limit,
            flags,
        } => {
            check_consumer_id(&consumer_id)?;
            let start_after = if start_after.is_empty() {
                Vec::new()
            } else {
                parse_xonly_arg("operator", &start_after)?
                    .serialize()
                    .to_vec()
            };
            let r: pb::QueryOptInsResponse = flags
                .query(
                    path::OPT_INS,
                    pb::QueryOptInsRequest {
                        consumer_id,
                        start_after,
                        limit,
                    },
                )
                .await?;
            flags.print(&json!({
                "opt_ins": r.opt_ins.iter().map(opt_in_json).collect::<Vec<_>>(),
                "next": hex::encode(&r.next),
            }));
        }
        Cmd::Allocations { operator, flags } => {
            let op = parse_xonly_arg("operator", &operator)?;
            let r = allocations(&flags, &op.serialize()).await?;
            flags.print(&json!({
                "operator_btc_pk": hex::encode(op.serialize()),
                "opt_ins": r.opt_ins.iter().map(opt_in_json).collect::<Vec<_>>(),
                "encumbered_bps": r.encumbered_bps,
                "cap_bps": r.cap_bps,
            }));
        }
        Cmd::ValidatorSet { consumer_id, flags } => {
            check_consumer_id(&consumer_id)?;
            let r: pb::QueryValidatorSetResponse = flags
                .query(
                    path::VALIDATOR_SET,
                    pb::QueryValidatorSetRequest { consumer_id },
                )
                .await?;
            flags.print(&json!({ "set": r.set.as_ref().map(set_json) }));
        }
        Cmd::Updates {
            consumer_id,
            after,
            limit,
            flags,
        } => {
            check_consumer_id(&consumer_id)?;
            let r: pb::QueryUpdatesResponse = flags
                .query(
                    path::UPDATES,
                    pb::QueryUpdatesRequest {
                        consumer_id,
                        after_update_id: after,
                        limit,
                    },
                )
                .await?;
            flags.print(&json!({
                "updates": r.updates.iter().map(update_json).collect::<Vec<_>>(),
            }));
        }
    }
    Ok(())
}

/// Reads one consumer.
pub async fn consumer(flags: &QueryFlags, consumer_id: &str) -> anyhow::Result<pb::Consumer> {
    let r: pb::QueryConsumerResponse = flags
        .query(
            path::CONSUMER,
            pb::QueryConsumerRequest {
                consumer_id: consumer_id.to_string(),
            },
        )
        .await?;
    r.consumer
        .with_context(|| format!("the answer has no consumer {consumer_id:?}"))
}

/// Reads every opt-in of one operator.
pub async fn allocations(
    flags: &QueryFlags,
    operator: &[u8; 32],
) -> anyhow::Result<pb::QueryOperatorAllocationsResponse> {
    flags
        .query(
            path::OPERATOR_ALLOCATIONS,
            pb::QueryOperatorAllocationsRequest {
                operator_btc_pk: operator.to_vec(),
            },
        )
        .await
}

/// Refuses a consumer id that cannot be one (empty, or with a `/`, which would make the query
/// address another key); the chain checks the rest of its rules.
pub fn check_consumer_id(id: &str) -> anyhow::Result<()> {
    if id.is_empty() {
        bail!("bad consumer id \"\": expected 1 to 50 characters of [a-zA-Z0-9._-]");
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        bail!("bad consumer id {id:?}: expected 1 to 50 characters of [a-zA-Z0-9._-], found {c:?}");
    }
    if id.len() > 50 {
        bail!(
            "bad consumer id {id:?}: expected 1 to 50 characters of [a-zA-Z0-9._-], found {}",
            id.len()
        );
    }
    Ok(())
}

/// Every status a consumer can be in.
const ALL_STATUSES: [pb::ConsumerStatus; 3] = [
    pb::ConsumerStatus::Registered,
    pb::ConsumerStatus::Active,
    pb::ConsumerStatus::Stopped,
];

fn parse_status(s: &str) -> anyhow::Result<pb::ConsumerStatus> {
    ALL_STATUSES
        .into_iter()
        .find(|st| status_name(*st as i32).eq_ignore_ascii_case(s))
        .with_context(|| format!("bad status {s:?}: expected registered, active or stopped"))
}

/// A consumer status by name (`ACTIVE`); an unknown number as itself.
pub fn status_name(s: i32) -> String {
    match pb::ConsumerStatus::try_from(s) {
        Ok(st) => st
            .as_str_name()
            .trim_start_matches("CONSUMER_STATUS_")
            .to_string(),
        Err(_) => s.to_string(),
    }
}

/// An allocation mode by name (`ISOLATED`, `SHARED`).
pub fn mode_name(m: i32) -> String {
    match pb::AllocationMode::try_from(m) {
        Ok(m) => m
            .as_str_name()
            .trim_start_matches("ALLOCATION_MODE_")
            .to_string(),
        Err(_) => m.to_string(),
    }
}

/// A stop reason by name (`LEASE_EXHAUSTED`, `REMOVED`).
pub fn stop_reason_name(r: i32) -> String {
    match pb::StopReason::try_from(r) {
        Ok(r) => r
            .as_str_name()
            .trim_start_matches("STOP_REASON_")
            .to_string(),
        Err(_) => r.to_string(),
    }
}

/// The params as the CLI prints them.
pub fn params_json(p: &pb::Params) -> Value {
    json!({
        "max_reuse_ratio": p.max_reuse_ratio,
        "deallocation_delay_epochs": p.deallocation_delay_epochs.to_string(),
        "max_consumers_per_block": p.max_consumers_per_block,
        "max_operators_cap": p.max_operators_cap,
        "min_fee_per_epoch": p.min_fee_per_epoch,
        "max_opt_ins_per_consumer": p.max_opt_ins_per_consumer,
    })
}

/// A consumer's terms as the CLI prints them.
pub fn terms_json(t: &pb::ConsumerTerms) -> Value {
    json!({
        "name": t.name,
        "fee_per_epoch": t.fee_per_epoch,
        "min_operators": t.min_operators,
        "max_operators": t.max_operators,
        "double_sign_slash_fraction": t.double_sign_slash_fraction,
        "jail_epochs": t.jail_epochs.to_string(),
    })
}

/// A consumer as the CLI prints it.
pub fn consumer_json(c: &pb::Consumer) -> Value {
    json!({
        "consumer_id": c.consumer_id,
        "owner": c.owner,
        "terms": c.terms.as_ref().map(terms_json),
        "allocation_mode": mode_name(c.allocation_mode),
        "status": status_name(c.status),
        "lease_balance": c.lease_balance,
        "registered_height": c.registered_height.to_string(),
        "registered_epoch": c.registered_epoch.to_string(),
        "activated_epoch": c.activated_epoch.to_string(),
        "stopped_height": c.stopped_height.to_string(),
        "stop_reason": stop_reason_name(c.stop_reason),
        "last_update_id": c.last_update_id.to_string(),
        "last_processed_epoch": c.last_processed_epoch.to_string(),
        "total_paid": c.total_paid,
    })
}

/// An opt-in as the CLI prints it.
pub fn opt_in_json(o: &pb::OptIn) -> Value {
    json!({
        "consumer_id": o.consumer_id,
        "operator_btc_pk": hex::encode(&o.operator_btc_pk),
        "consumer_pubkey": hex::encode(&o.consumer_pubkey),
        "allocation_bps": o.allocation_bps,
        "has_pending": o.has_pending,
        "pending_allocation_bps": o.pending_allocation_bps,
        "pending_consumer_pubkey": hex::encode(&o.pending_consumer_pubkey),
        "pending_epoch": o.pending_epoch.to_string(),
        "slashable_bps": o.slashable_bps,
        "slashable_until_epoch": o.slashable_until_epoch.to_string(),
        "jailed_until_epoch": o.jailed_until_epoch.to_string(),
        "tombstoned": o.tombstoned,
    })
}

/// One validator (or one change, power 0 = removed) as the CLI prints it.
pub fn validator_json(v: &pb::ValidatorPower) -> Value {
    json!({
        "pubkey": hex::encode(&v.pubkey),
        "power": v.power.to_string(),
        "operator_btc_pk": hex::encode(&v.operator_btc_pk),
    })
}

/// A full validator set as the CLI prints it.
pub fn set_json(s: &pb::ConsumerValidatorSet) -> Value {
    json!({
        "consumer_id": s.consumer_id,
        "update_id": s.update_id.to_string(),
        "hub_height": s.hub_height.to_string(),
        "epoch": s.epoch.to_string(),
        "validators": s.validators.iter().map(validator_json).collect::<Vec<_>>(),
        "set_hash": hex::encode(&s.set_hash),
    })
}

/// A validator-set update as the CLI prints it.
pub fn update_json(u: &pb::ValidatorSetUpdate) -> Value {
    json!({
        "consumer_id": u.consumer_id,
        "update_id": u.update_id.to_string(),
        "hub_height": u.hub_height.to_string(),
        "epoch": u.epoch.to_string(),
        "changes": u.changes.iter().map(validator_json).collect::<Vec<_>>(),
        "set_hash": hex::encode(&u.set_hash),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct QueryCli {
        #[command(subcommand)]
        cmd: Cmd,
    }

    #[test]
    fn consumers_query_commands_are_well_formed_and_parse() {
        QueryCli::command().debug_assert();
        let parsed = QueryCli::try_parse_from([
            "consumers",
            "updates",
            "demo-1",
            "--after",
            "3",
            "--limit",
            "10",
        ])
        .unwrap();
        match parsed.cmd {
            Cmd::Updates {
                consumer_id,
                after,
                limit,
                ..
            } => assert_eq!((consumer_id.as_str(), after, limit), ("demo-1", 3, 10)),
            other => panic!("parsed as {other:?}"),
        }
        assert!(
            QueryCli::try_parse_from(["consumers", "consumers", "--status", "paused"]).is_err()
        );
    }

    #[test]
    fn consumer_ids_statuses_and_names_are_checked() {
        check_consumer_id("consumer-1.test_A").unwrap();
        check_consumer_id(&"a".repeat(50)).unwrap();
        let e = check_consumer_id(&"a".repeat(51)).unwrap_err().to_string();
        assert!(e.contains("found 51"), "{e}");
        let e = check_consumer_id("a/b").unwrap_err().to_string();
        assert!(e.contains("found '/'"), "{e}");
        assert!(check_consumer_id("").is_err());
        assert_eq!(parse_status("Active").unwrap(), pb::ConsumerStatus::Active);
        assert!(parse_status("unspecified").is_err());
        assert_eq!(status_name(pb::ConsumerStatus::Stopped as i32), "STOPPED");
        assert_eq!(status_name(42), "42");
        assert_eq!(mode_name(pb::AllocationMode::Isolated as i32), "ISOLATED");
        assert_eq!(
            stop_reason_name(pb::StopReason::LeaseExhausted as i32),
            "LEASE_EXHAUSTED"
        );
    }
}
