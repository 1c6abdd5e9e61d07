//! `ballastd query restaking …`: the restaking module's queries
//! (`/ballast.restaking.v1.Query/<Method>`), over CometBFT's `abci_query` or gRPC (`--grpc`).
//!
//! Statuses print by name (`PENDING`); BTC keys, consensus keys, signatures and transactions
//! in lower-case hex; Bitcoin txids and block hashes in Bitcoin's display order (byte-reversed);
//! accounts in bech32; 64-bit numbers as strings, as Cosmos CLIs print them.

use super::btc_delegation::{parse_txid, parse_xonly_arg, status_name};
use super::query::{check_address, QueryFlags};
use super::query_btclightclient::display_hex;
use anyhow::Context;
use ballast_proto::ballast::restaking::v1 as pb;
use pb::BtcDelegationStatus;
use serde_json::{json, Value};

/// `ballastd query restaking` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// The module's params (BTC staking rules included).
    Params {
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// One operator and its collateral.
    Operator {
        /// The operator's BTC key (64 hex digits, x-only).
        btc_pk: String,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// Operators by BTC key, one page at a time.
    Operators {
        /// Start after this operator (a BTC key from the previous page's `next`).
        #[arg(long, default_value = "")]
        start_after: String,
        /// Operators in the page (0: the chain's default).
        #[arg(long, default_value_t = 0)]
        limit: u32,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// The live power table.
    PowerTable {
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// The power table snapshotted at the end of an epoch.
    PowerSnapshot {
        /// Epoch number.
        epoch: u64,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// The hub's current CometBFT validator set.
    HubValidators {
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// An account's native bonds and unbondings.
    NativeBonds {
        /// bech32 account address.
        address: String,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// One BTC delegation by its staking txid.
    BtcDelegation {
        /// Staking txid (64 hex digits, display order).
        staking_txid: String,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// BTC delegations, filtered by at most one of staker key, staker account and operator,
    /// and by status.
    BtcDelegations {
        /// Only the delegations of this staker BTC key.
        #[arg(long, conflicts_with_all = ["staker_addr", "operator"])]
        staker_btc_pk: Option<String>,
        /// Only the delegations of this staker account (bech32).
        #[arg(long, conflicts_with = "operator")]
        staker_addr: Option<String>,
        /// Only the delegations to this operator (BTC key).
        #[arg(long)]
        operator: Option<String>,
        /// Only delegations in this status.
        #[arg(long, value_parser = ["pending", "verified", "active", "unbonding", "unbonded", "expired", "slashed"])]
        status: Option<String>,
        /// Start after this staking txid (the previous page's `next`).
        #[arg(long, default_value = "")]
        start_after: String,
        /// Delegations in the page (0: the chain's default).
        #[arg(long, default_value_t = 0)]
        limit: u32,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// An account's withdrawable rewards, per operator and in total.
    Rewards {
        /// bech32 account address.
        address: String,
        #[command(flatten)]
        flags: QueryFlags,
    },
}

/// Runs one query and prints its answer.
pub async fn run(c: Cmd) -> anyhow::Result<()> {
    match c {
        Cmd::Params { flags } => {
            let r: pb::QueryParamsResponse = flags
                .query(
                    super::btc_delegation::QUERY_PARAMS,
                    pb::QueryParamsRequest {},
                )
                .await?;
            let p = r.params.context("the answer has no params")?;
            flags.print(&json!({ "params": params_json(&p) }));
        }
        Cmd::Operator { btc_pk, flags } => {
            let key = parse_xonly_arg("operator", &btc_pk)?;
            let r: pb::QueryOperatorResponse = flags
                .query(
                    const_path::OPERATOR,
                    pb::QueryOperatorRequest {
                        btc_pk: hex::encode(key.serialize()),
                    },
                )
                .await?;
            let o = r.operator.context("the answer has no operator")?;
            flags.print(&json!({
                "operator": operator_json(&o),
                "power": r.power.as_ref().map(power_json),
            }));
        }
        Cmd::Operators {
            start_after,
            limit,
            flags,
        } => {
            let start_after = if start_after.is_empty() {
                start_after
            } else {
                hex::encode(parse_xonly_arg("operator", &start_after)?.serialize())
            };
            let r: pb::QueryOperatorsResponse = flags
                .query(
                    const_path::OPERATORS,
                    pb::QueryOperatorsRequest { start_after, limit },
                )
                .await?;
            flags.print(&json!({
                "operators": r.operators.iter().map(operator_json).collect::<Vec<_>>(),
                "powers": r.powers.iter().map(power_json).collect::<Vec<_>>(),
                "next": r.next,
            }));
        }
        Cmd::PowerTable { flags } => {
            let r: pb::QueryPowerTableResponse = flags
                .query(const_path::POWER_TABLE, pb::QueryPowerTableRequest {})
                .await?;
            flags.print(&json!({
                "powers": r.powers.iter().map(power_json).collect::<Vec<_>>(),
                "total_power": r.total_power.to_string(),
            }));
        }
        Cmd::PowerSnapshot { epoch, flags } => {
            let r: pb::QueryPowerSnapshotResponse = flags
                .query(
                    const_path::POWER_SNAPSHOT,
                    pb::QueryPowerSnapshotRequest { epoch },
                )
                .await?;
            flags.print(&json!({
                "epoch": epoch.to_string(),
                "powers": r.powers.iter().map(power_json).collect::<Vec<_>>(),
                "total_power": r.total_power.to_string(),
            }));
        }
        Cmd::HubValidators { flags } => {
            let r: pb::QueryHubValidatorsResponse = flags
                .query(const_path::HUB_VALIDATORS, pb::QueryHubValidatorsRequest {})
                .await?;
            flags.print(&json!({
                "validators": r.validators.iter().map(|v| json!({
                    "operator_btc_pk": hex::encode(&v.operator_btc_pk),
                    "consensus_pubkey": hex::encode(&v.consensus_pubkey),
                    "power": v.power.to_string(),
                })).collect::<Vec<_>>(),
                "epoch": r.epoch.to_string(),
            }));
        }
        Cmd::NativeBonds { address, flags } => {
            check_address(&address)?;
            let r: pb::QueryNativeBondsResponse = flags
                .query(
                    const_path::NATIVE_BONDS,
                    pb::QueryNativeBondsRequest { delegator: address },
                )
                .await?;
            flags.print(&json!({
                "bonds": r.bonds.iter().map(|b| json!({
                    "delegator": b.delegator,
                    "operator_btc_pk": hex::encode(&b.operator_btc_pk),
                    "amount": b.amount,
                })).collect::<Vec<_>>(),
                "unbondings": r.unbondings.iter().map(|u| json!({
                    "id": u.id.to_string(),
                    "delegator": u.delegator,
                    "operator_btc_pk": hex::encode(&u.operator_btc_pk),
                    "amount": u.amount,
                    "completion_epoch": u.completion_epoch.to_string(),
                })).collect::<Vec<_>>(),
            }));
        }
        Cmd::BtcDelegation {
            staking_txid,
            flags,
        } => {
            let d = btc_delegation(&flags, &staking_txid).await?;
            flags.print(&json!({ "delegation": delegation_json(&d) }));
        }
        Cmd::BtcDelegations {
            staker_btc_pk,
            staker_addr,
            operator,
            status,
            start_after,
            limit,
            flags,
        } => {
            let staker_btc_pk = staker_btc_pk
                .map(|k| parse_xonly_arg("staker", &k).map(|k| hex::encode(k.serialize())))
                .transpose()?
                .unwrap_or_default();
            if let Some(a) = &staker_addr {
                check_address(a)?;
            }
            let operator_btc_pk = operator
                .map(|k| parse_xonly_arg("operator", &k).map(|k| hex::encode(k.serialize())))
                .transpose()?
                .unwrap_or_default();
            let status = match status {
                Some(s) => parse_status(&s)? as i32,
                None => BtcDelegationStatus::Unspecified as i32,
            };
            let start_after = if start_after.is_empty() {
                start_after
            } else {
                parse_txid(&start_after)?.to_string()
            };
            let r: pb::QueryBtcDelegationsResponse = flags
                .query(
                    const_path::BTC_DELEGATIONS,
                    pb::QueryBtcDelegationsRequest {
                        staker_btc_pk,
                        staker_addr: staker_addr.unwrap_or_default(),
                        operator_btc_pk,
                        status,
                        start_after,
                        limit,
                    },
                )
                .await?;
            flags.print(&json!({
                "delegations": r.delegations.iter().map(delegation_json).collect::<Vec<_>>(),
                "next": r.next,
            }));
        }
        Cmd::Rewards { address, flags } => {
            check_address(&address)?;
            let r: pb::QueryRewardsResponse = flags
                .query(
                    const_path::REWARDS,
                    pb::QueryRewardsRequest { delegator: address },
                )
                .await?;
            flags.print(&json!({
                "positions": r.positions.iter().map(|p| json!({
                    "delegator": p.delegator,
                    "operator_btc_pk": hex::encode(&p.operator_btc_pk),
                    "power": p.power.to_string(),
                    "index_at_settle": p.index_at_settle,
                    "owed": p.owed,
                })).collect::<Vec<_>>(),
                "total": r.total,
                "commission": r.commission,
            }));
        }
    }
    Ok(())
}

/// The query paths (each is also the gRPC method).
mod const_path {
    pub const OPERATOR: &str = "/ballast.restaking.v1.Query/Operator";
    pub const OPERATORS: &str = "/ballast.restaking.v1.Query/Operators";
    pub const POWER_TABLE: &str = "/ballast.restaking.v1.Query/PowerTable";
    pub const POWER_SNAPSHOT: &str = "/ballast.restaking.v1.Query/PowerSnapshot";
    pub const HUB_VALIDATORS: &str = "/ballast.restaking.v1.Query/HubValidators";
    pub const NATIVE_BONDS: &str = "/ballast.restaking.v1.Query/NativeBonds";
    pub const BTC_DELEGATIONS: &str = "/ballast.restaking.v1.Query/BtcDelegations";
    pub const REWARDS: &str = "/ballast.restaking.v1.Query/Rewards";
}

/// Reads one delegation (the staking txid in display order).
pub async fn btc_delegation(
    flags: &QueryFlags,
    staking_txid: &str,
) -> anyhow::Result<pb::BtcDelegation> {
    let txid = parse_txid(staking_txid)?;
    let r: pb::QueryBtcDelegationResponse = flags
        .query(
            super::btc_delegation::QUERY_BTC_DELEGATION,
            pb::QueryBtcDelegationRequest {
                staking_txid: txid.to_string(),
            },
        )
        .await?;
    r.delegation
        .with_context(|| format!("the answer has no delegation for staking tx {txid}"))
}

/// Reads the module's params.
pub async fn params(flags: &QueryFlags) -> anyhow::Result<pb::Params> {
    let r: pb::QueryParamsResponse = flags
        .query(
            super::btc_delegation::QUERY_PARAMS,
            pb::QueryParamsRequest {},
        )
        .await?;
    r.params
        .context("the chain's answer has no restaking params")
}

/// Every status a delegation can be in, in lifecycle order.
const ALL_STATUSES: [BtcDelegationStatus; 7] = [
    BtcDelegationStatus::Pending,
    BtcDelegationStatus::Verified,
    BtcDelegationStatus::Active,
    BtcDelegationStatus::Unbonding,
    BtcDelegationStatus::Unbonded,
    BtcDelegationStatus::Expired,
    BtcDelegationStatus::Slashed,
];

fn parse_status(s: &str) -> anyhow::Result<BtcDelegationStatus> {
    ALL_STATUSES
        .into_iter()
        .find(|st| status_name(*st as i32).eq_ignore_ascii_case(s))
        .with_context(|| {
            format!(
                "bad status {s:?}: expected pending, verified, active, unbonding, unbonded, \
                 expired or slashed"
            )
        })
}

/// The params as the CLI prints them.
pub fn params_json(p: &pb::Params) -> Value {
    json!({
        "native_unbonding_epochs": p.native_unbonding_epochs.to_string(),
        "max_unbondings_per_block": p.max_unbondings_per_block,
        "native_power_weight": p.native_power_weight,
        "btc_power_weight": p.btc_power_weight,
        "eth_power_weight": p.eth_power_weight,
        "max_validators": p.max_validators,
        "min_validator_power": p.min_validator_power.to_string(),
        "max_commission_change": p.max_commission_change,
        "max_btc_transitions_per_block": p.max_btc_transitions_per_block,
        "btc": p.btc.as_ref().map(|b| json!({
            "covenant_pks": b.covenant_pks.iter().map(hex::encode).collect::<Vec<_>>(),
            "covenant_quorum": b.covenant_quorum,
            "min_staking_value_sat": b.min_staking_value_sat.to_string(),
            "max_staking_value_sat": b.max_staking_value_sat.to_string(),
            "min_staking_time": b.min_staking_time,
            "max_staking_time": b.max_staking_time,
            "unbonding_time": b.unbonding_time,
            "unbonding_fee_sat": b.unbonding_fee_sat.to_string(),
            "slashing_rate": b.slashing_rate,
            "min_slashing_tx_fee_sat": b.min_slashing_tx_fee_sat.to_string(),
            "slashing_pk_script": hex::encode(&b.slashing_pk_script),
            "btc_confirmation_depth": b.btc_confirmation_depth.to_string(),
        })),
    })
}

/// An operator as the CLI prints it.
pub fn operator_json(o: &pb::Operator) -> Value {
    json!({
        "btc_pk": hex::encode(&o.btc_pk),
        "owner": o.owner,
        "consensus_pubkey": hex::encode(&o.consensus_pubkey),
        "commission": o.commission,
        "description": o.description.as_ref().map(|d| json!({
            "moniker": d.moniker,
            "identity": d.identity,
            "website": d.website,
            "details": d.details,
        })),
        "jailed": o.jailed,
        "registered_height": o.registered_height.to_string(),
        "commission_epoch": o.commission_epoch.to_string(),
        "commission_at_epoch_start": o.commission_at_epoch_start,
    })
}

/// An operator's power as the CLI prints it.
pub fn power_json(p: &pb::OperatorPower) -> Value {
    json!({
        "operator_btc_pk": hex::encode(&p.operator_btc_pk),
        "native_ubal": p.native_ubal,
        "btc_sat": p.btc_sat.to_string(),
        "eth_wei": p.eth_wei,
        "power": p.power.to_string(),
    })
}

/// A BTC delegation as the CLI prints it.
pub fn delegation_json(d: &pb::BtcDelegation) -> Value {
    json!({
        "staking_txid": d.staking_txid,
        "status": status_name(d.status),
        "staker_addr": d.staker_addr,
        "btc_pk": hex::encode(&d.btc_pk),
        "operator_btc_pk": hex::encode(&d.operator_btc_pk),
        "staking_time": d.staking_time,
        "staking_value": d.staking_value.to_string(),
        "staking_output_index": d.staking_output_index,
        "start_height": d.start_height.to_string(),
        "end_height": d.end_height.to_string(),
        "inclusion_block_hash": if d.inclusion_block_hash.is_empty() {
            Value::Null
        } else {
            json!(display_hex(&d.inclusion_block_hash))
        },
        "unbonding_btc_height": d.unbonding_btc_height.to_string(),
        "created_height": d.created_height.to_string(),
        "covenant_pks": d.covenant_pks.iter().map(hex::encode).collect::<Vec<_>>(),
        "covenant_quorum": d.covenant_quorum,
        "unbonding_time": d.unbonding_time,
        "covenant_sigs": d.covenant_sigs.iter().map(|c| json!({
            "covenant_pk": hex::encode(&c.covenant_pk),
            "slashing_adaptor_sig": hex::encode(&c.slashing_adaptor_sig),
            "unbonding_slashing_adaptor_sig": hex::encode(&c.unbonding_slashing_adaptor_sig),
            "unbonding_sig": hex::encode(&c.unbonding_sig),
        })).collect::<Vec<_>>(),
        "staking_tx": hex::encode(&d.staking_tx),
        "slashing_tx": hex::encode(&d.slashing_tx),
        "delegator_slashing_sig": hex::encode(&d.delegator_slashing_sig),
        "unbonding_tx": hex::encode(&d.unbonding_tx),
        "unbonding_slashing_tx": hex::encode(&d.unbonding_slashing_tx),
        "delegator_unbonding_slashing_sig": hex::encode(&d.delegator_unbonding_slashing_sig),
        "spend_tx": hex::encode(&d.spend_tx),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct QueryCli {
        #[command(subcommand)]
        cmd: Cmd,
    }

    #[test]
    fn statuses_print_and_parse_by_name() {
        for st in ALL_STATUSES {
            let name = status_name(st as i32);
            assert_eq!(parse_status(&name.to_ascii_lowercase()).unwrap(), st);
        }
        assert_eq!(status_name(BtcDelegationStatus::Active as i32), "ACTIVE");
        assert!(parse_status("unspecified").is_err());
    }

    #[test]
    fn delegation_filters_exclude_each_other_and_statuses_are_checked() {
        use clap::CommandFactory;
        QueryCli::command().debug_assert();
        let ok = QueryCli::try_parse_from([
            "restaking",
            "btc-delegations",
            "--operator",
            "ab",
            "--status",
            "active",
            "--limit",
            "5",
        ])
        .unwrap();
        match ok.cmd {
            Cmd::BtcDelegations {
                operator,
                status,
                limit,
                ..
            } => assert_eq!(
                (operator.as_deref(), status.as_deref(), limit),
                (Some("ab"), Some("active"), 5)
            ),
            other => panic!("parsed as {other:?}"),
        }
        for args in [
            vec!["--operator", "ab", "--staker-addr", "x"],
            vec!["--staker-btc-pk", "ab", "--staker-addr", "x"],
            vec!["--staker-btc-pk", "ab", "--operator", "x"],
            vec!["--status", "bogus"],
        ] {
            let mut v = vec!["restaking", "btc-delegations"];
            v.extend(args.iter().copied());
            assert!(QueryCli::try_parse_from(&v).is_err(), "{v:?}");
        }
    }

    #[test]
    fn delegations_print_bitcoin_hashes_in_display_order_and_numbers_as_strings() {
        let mut block = vec![0u8; 32];
        block[0] = 0xbb;
        let d = pb::BtcDelegation {
            staking_txid: "ff".repeat(32),
            status: BtcDelegationStatus::Verified as i32,
            staking_value: 50_000,
            inclusion_block_hash: block,
            btc_pk: vec![1; 32],
            covenant_sigs: vec![pb::CovenantSignatures {
                covenant_pk: vec![2; 32],
                unbonding_sig: vec![3; 64],
                ..Default::default()
            }],
            ..Default::default()
        };
        let v = delegation_json(&d);
        assert_eq!(v["status"], "VERIFIED");
        assert_eq!(v["staking_value"], "50000");
        assert!(v["inclusion_block_hash"].as_str().unwrap().ends_with("bb"));
        assert_eq!(v["btc_pk"], "01".repeat(32));
        assert_eq!(v["covenant_sigs"][0]["unbonding_sig"], "03".repeat(64));
        let none = delegation_json(&pb::BtcDelegation::default());
        assert_eq!(none["inclusion_block_hash"], Value::Null);
        assert_eq!(none["status"], "UNSPECIFIED");
    }
}
