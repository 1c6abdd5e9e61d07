//! `ballastd query checkpointing …`: the checkpointing module's queries
//! (`/ballast.checkpointing.v1.Query/<Method>`), over CometBFT's `abci_query` or gRPC.
//!
//! Statuses print by name (`SEALED`); Bitcoin block hashes and txids in Bitcoin's display order
//! (byte-reversed); hub block hashes, keys, signatures and bitmaps in lower-case hex; consensus
//! addresses in lower-case hex and accounts in bech32; 64-bit numbers as strings, as Cosmos CLIs
//! print them.

use super::query::QueryFlags;
use super::query_btclightclient::display_hex;
use anyhow::Context;
use ballast_proto::ballast::checkpointing::v1 as pb;
use pb::CheckpointStatus;
use serde_json::{json, Value};

/// `ballastd query checkpointing` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// An epoch's checkpoint, with its lifecycle and Bitcoin submission.
    Checkpoint {
        /// Epoch number (epoch 1 starts at the chain's initial height).
        epoch: u64,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// Checkpoints by epoch ascending, in one status or (without --status) in any.
    Checkpoints {
        /// Only checkpoints in this status.
        #[arg(long, value_parser = ["accumulating", "sealed", "submitted", "confirmed", "finalized"])]
        status: Option<String>,
        /// First epoch of the page (0: from the lowest).
        #[arg(long, default_value_t = 0)]
        start_epoch: u64,
        /// Checkpoints in the page (0 = 100; at most 1000).
        #[arg(long, default_value_t = 0)]
        limit: u32,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// The epoch a hub height belongs to, with the epoch's first and last heights.
    EpochOfHeight {
        /// Hub block height.
        #[arg(value_name = "HEIGHT")]
        hub_height: u64,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// The latest epoch whose checkpoint is FINALIZED (null when none is).
    LatestFinalized {
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// A validator's registered BLS key.
    BlsKey {
        /// Consensus address of the validator, 40 hex digits.
        validator: String,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// The validators (power, BLS key) that sign an epoch's checkpoint.
    Snapshot {
        /// Epoch number.
        epoch: u64,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// The module's params.
    Params {
        #[command(flatten)]
        flags: QueryFlags,
    },
}

/// Page size the chain uses for `limit = 0`.
const DEFAULT_LIMIT: u32 = 100;

/// Runs one query and prints its answer.
pub async fn run(c: Cmd) -> anyhow::Result<()> {
    match c {
        Cmd::Checkpoint { epoch, flags } => {
            let r: pb::QueryCheckpointResponse = flags
                .query(
                    "/ballast.checkpointing.v1.Query/Checkpoint",
                    pb::QueryCheckpointRequest { epoch },
                )
                .await?;
            let c = r.checkpoint.context("the answer has no checkpoint")?;
            flags.print(&json!({ "checkpoint": checkpoint_json(&c) }));
        }
        Cmd::Checkpoints {
            status,
            start_epoch,
            limit,
            flags,
        } => {
            let statuses = match status {
                Some(s) => vec![parse_status(&s)?],
                None => ALL_STATUSES.to_vec(),
            };
            let (list, next) = checkpoints(&flags, &statuses, start_epoch, limit).await?;
            flags.print(&json!({
                "checkpoints": list.iter().map(checkpoint_json).collect::<Vec<_>>(),
                "next_epoch": next.map(|e| e.to_string()),
            }));
        }
        Cmd::EpochOfHeight { hub_height, flags } => {
            let r: pb::QueryEpochOfHeightResponse = flags
                .query(
                    "/ballast.checkpointing.v1.Query/EpochOfHeight",
                    pb::QueryEpochOfHeightRequest { height: hub_height },
                )
                .await?;
            flags.print(&json!({
                "epoch": r.epoch.to_string(),
                "first_height": r.first_height.to_string(),
                "last_height": r.last_height.to_string(),
            }));
        }
        Cmd::LatestFinalized { flags } => {
            let r: pb::QueryLatestFinalizedEpochResponse = flags
                .query(
                    "/ballast.checkpointing.v1.Query/LatestFinalizedEpoch",
                    pb::QueryLatestFinalizedEpochRequest {},
                )
                .await?;
            flags.print(&json!({ "epoch": r.epoch.map(|e| e.to_string()) }));
        }
        Cmd::BlsKey { validator, flags } => {
            let validator_address = validator
                .trim()
                .trim_start_matches("0x")
                .to_ascii_lowercase();
            let r: pb::QueryBlsKeyResponse = flags
                .query(
                    "/ballast.checkpointing.v1.Query/BlsKey",
                    pb::QueryBlsKeyRequest { validator_address },
                )
                .await?;
            let k = r.bls_key.context("the answer has no bls key")?;
            flags.print(&json!({
                "bls_key": {
                    "validator_address": hex::encode(&k.validator_address),
                    "bls_pubkey": hex::encode(&k.bls_pubkey),
                    "pop": hex::encode(&k.pop),
                    "registered_at_height": k.registered_at_height.to_string(),
                }
            }));
        }
        Cmd::Snapshot { epoch, flags } => {
            let r: pb::QueryValidatorSnapshotResponse = flags
                .query(
                    "/ballast.checkpointing.v1.Query/ValidatorSnapshot",
                    pb::QueryValidatorSnapshotRequest { epoch },
                )
                .await?;
            let s = r.snapshot.context("the answer has no snapshot")?;
            flags.print(&json!({
                "snapshot": {
                    "epoch": s.epoch.to_string(),
                    "validators": s.validators.iter().map(|v| json!({
                        "validator_address": hex::encode(&v.validator_address),
                        "power": v.power.to_string(),
                        "bls_pubkey": hex::encode(&v.bls_pubkey),
                    })).collect::<Vec<_>>(),
                    "total_power": s.total_power.to_string(),
                }
            }));
        }
        Cmd::Params { flags } => {
            let r: pb::QueryParamsResponse = flags
                .query(
                    "/ballast.checkpointing.v1.Query/Params",
                    pb::QueryParamsRequest {},
                )
                .await?;
            let p = r.params.context("the answer has no params")?;
            flags.print(&json!({
                "params": {
                    "max_validators": p.max_validators,
                    "btc_confirmation_depth": p.btc_confirmation_depth.to_string(),
                    "btc_finalization_timeout": p.btc_finalization_timeout.to_string(),
                    "checkpoint_tag": p.checkpoint_tag,
                }
            }));
        }
    }
    Ok(())
}

/// Every status a checkpoint can be in, in lifecycle order.
const ALL_STATUSES: [CheckpointStatus; 5] = [
    CheckpointStatus::Accumulating,
    CheckpointStatus::Sealed,
    CheckpointStatus::Submitted,
    CheckpointStatus::Confirmed,
    CheckpointStatus::Finalized,
];

fn parse_status(s: &str) -> anyhow::Result<CheckpointStatus> {
    ALL_STATUSES
        .into_iter()
        .find(|st| status_name(*st as i32).eq_ignore_ascii_case(s))
        .with_context(|| {
            format!(
                "bad status {s:?}: expected accumulating, sealed, submitted, confirmed or finalized"
            )
        })
}

/// A status by name without its `CHECKPOINT_STATUS_` prefix (`SEALED`); an unknown number as
/// itself.
pub fn status_name(s: i32) -> String {
    match CheckpointStatus::try_from(s) {
        Ok(st) => st
            .as_str_name()
            .trim_start_matches("CHECKPOINT_STATUS_")
            .to_string(),
        Err(_) => s.to_string(),
    }
}

/// One page of checkpoints in any of `statuses`, by epoch ascending, and the first epoch of the
/// next page. The chain lists one status at a time, so each status's page is read and the pages
/// are merged: the lowest `limit` epochs of the union are the lowest `limit` of the pages.
async fn checkpoints(
    flags: &QueryFlags,
    statuses: &[CheckpointStatus],
    start_epoch: u64,
    limit: u32,
) -> anyhow::Result<(Vec<pb::CheckpointRecord>, Option<u64>)> {
    let mut all = Vec::new();
    let mut next: Option<u64> = None;
    // Every page is read at the height the first one was answered at.
    let mut at = flags.clone();
    for st in statuses {
        let (r, height): (pb::QueryCheckpointsResponse, u64) = at
            .query_at(
                "/ballast.checkpointing.v1.Query/Checkpoints",
                pb::QueryCheckpointsRequest {
                    status: *st as i32,
                    start_epoch,
                    limit,
                },
            )
            .await?;
        if at.height == 0 {
            at.height = height;
        }
        all.extend(r.checkpoints);
        next = min_opt(next, r.next_epoch);
    }
    if statuses.len() == 1 {
        return Ok((all, next));
    }
    all.sort_by_key(|c| c.epoch);
    let page = if limit == 0 { DEFAULT_LIMIT } else { limit } as usize;
    if all.len() > page {
        next = min_opt(next, Some(all[page].epoch));
        all.truncate(page);
    }
    Ok((all, next))
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// A checkpoint as the CLI prints it.
pub fn checkpoint_json(c: &pb::CheckpointRecord) -> Value {
    json!({
        "epoch": c.epoch.to_string(),
        "status": status_name(c.status),
        "block_hash": hex::encode(&c.block_hash),
        "raw": c.raw.as_ref().map(|r| json!({
            "epoch": r.epoch.to_string(),
            "block_hash": hex::encode(&r.block_hash),
            "bitmap": hex::encode(&r.bitmap),
            "bls_aggregate_sig": hex::encode(&r.bls_aggregate_sig),
        })),
        "lifecycle": c.lifecycle.iter().map(|l| json!({
            "status": status_name(l.status),
            "hub_height": l.hub_height.to_string(),
            "btc_height": l.btc_height.to_string(),
        })).collect::<Vec<_>>(),
        "submission": c.submission.as_ref().map(submission_json),
        "signed_power": c.signed_power.to_string(),
        "total_power": c.total_power.to_string(),
    })
}

fn account(bytes: &[u8]) -> String {
    ballast_framework::Address::from_slice(bytes)
        .map(|a| a.to_string())
        .unwrap_or_else(|_| hex::encode(bytes))
}

fn submission_tx_json(t: Option<&pb::SubmissionTx>) -> Value {
    t.map(|t| {
        json!({
            "txid": display_hex(&t.txid),
            "block_hash": display_hex(&t.block_hash),
            "block_height": t.block_height.to_string(),
            "tx_index": t.tx_index,
        })
    })
    .unwrap_or(Value::Null)
}

fn submission_json(s: &pb::Submission) -> Value {
    json!({
        "submitter": account(&s.submitter),
        "reporter": account(&s.reporter),
        "part0": submission_tx_json(s.part0.as_ref()),
        "part1": submission_tx_json(s.part1.as_ref()),
        "recorded_at_height": s.recorded_at_height.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_print_and_parse_by_name() {
        assert_eq!(status_name(CheckpointStatus::Sealed as i32), "SEALED");
        assert_eq!(status_name(CheckpointStatus::Finalized as i32), "FINALIZED");
        assert_eq!(status_name(99), "99");
        for st in ALL_STATUSES {
            let name = status_name(st as i32).to_ascii_lowercase();
            assert_eq!(parse_status(&name).unwrap(), st);
        }
        assert!(parse_status("unspecified").is_err());
        assert!(parse_status("sealedx").is_err());
    }

    #[test]
    fn checkpoint_json_reverses_bitcoin_hashes_only() {
        let mut txid = vec![0u8; 32];
        txid[0] = 0xaa;
        let mut btc_block = vec![0u8; 32];
        btc_block[0] = 0xbb;
        let hub_block = {
            let mut b = vec![0u8; 32];
            b[0] = 0xcc;
            b
        };
        let tx = pb::SubmissionTx {
            txid: txid.clone(),
            block_hash: btc_block.clone(),
            block_height: 7,
            tx_index: 1,
        };
        let rec = pb::CheckpointRecord {
            epoch: 3,
            block_hash: hub_block.clone(),
            status: CheckpointStatus::Submitted as i32,
            raw: Some(pb::RawCheckpoint {
                epoch: 3,
                block_hash: hub_block,
                bitmap: vec![1; 13],
                bls_aggregate_sig: vec![2; 48],
            }),
            lifecycle: vec![
                pb::LifecycleEntry {
                    status: CheckpointStatus::Accumulating as i32,
                    hub_height: 31,
                    btc_height: 0,
                },
                pb::LifecycleEntry {
                    status: CheckpointStatus::Sealed as i32,
                    hub_height: 31,
                    btc_height: 0,
                },
            ],
            submission: Some(pb::Submission {
                submitter: vec![9; 20],
                reporter: vec![9; 19],
                part0: Some(tx.clone()),
                part1: Some(tx),
                recorded_at_height: 40,
            }),
            signed_power: 10,
            total_power: 10,
        };
        let v = checkpoint_json(&rec);
        assert_eq!(v["status"], "SUBMITTED");
        assert_eq!(v["epoch"], "3");
        assert!(v["block_hash"].as_str().unwrap().starts_with("cc"));
        assert_eq!(v["raw"]["bitmap"], "01".repeat(13));
        let life: Vec<&str> = v["lifecycle"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["status"].as_str().unwrap())
            .collect();
        assert_eq!(life, ["ACCUMULATING", "SEALED"]);
        let part0 = &v["submission"]["part0"];
        assert!(part0["txid"].as_str().unwrap().ends_with("aa"));
        assert!(part0["block_hash"].as_str().unwrap().ends_with("bb"));
        assert!(v["submission"]["submitter"]
            .as_str()
            .unwrap()
            .starts_with("ballast1"));
        // Not an account address: printed as hex rather than dropped.
        assert_eq!(v["submission"]["reporter"], "09".repeat(19));
        let none = checkpoint_json(&pb::CheckpointRecord::default());
        assert_eq!(none["raw"], Value::Null);
        assert_eq!(none["submission"], Value::Null);
        assert_eq!(none["status"], "UNSPECIFIED");
    }
}
