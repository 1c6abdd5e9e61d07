//! `ballastd tx consumers …`: a consumer's owner registers, updates, funds and removes it; an
//! operator's owner opts the operator in to a consumer (with the ed25519 key it signs the
//! consumer chain with and an allocation in basis points of its power) and out again. Signed
//! and broadcast like `tx bank send`; a tx the chain refuses prints its code and codespace
//! (`consumers`) and the command exits with status 1.
//!
//! After a tx that went into a block, the command adds what changed to the outcome it prints
//! (`consumer_id`, the lease balance after `fund`, the status after `remove`, the epoch at
//! whose end an opt-in or opt-out takes effect), so one JSON object says both whether the tx
//! went through and where things stand.

use super::btc_delegation::parse_xonly_arg;
use super::client::runtime;
use super::query_consumers::{check_consumer_id, status_name};
use super::tx::TxFlags;
use super::tx_restaking::{finish, parse_ubal, query_flags, Signer};
use crate::Global;
use anyhow::{anyhow, bail, Context};
use ballast_client::btc_key::{load_btc_key, xonly};
use ballast_client::txbuild::TxOutcome;
use ballast_framework::Decimal;
use ballast_proto::ballast::consumers::v1 as pb;
use base64::Engine;
use serde_json::{json, Value};
use std::path::Path;
use std::str::FromStr;

/// Type URLs of the consumers messages.
pub mod type_url {
    /// `MsgRegisterConsumer`.
    pub const REGISTER_CONSUMER: &str = "/ballast.consumers.v1.MsgRegisterConsumer";
    /// `MsgUpdateConsumer`.
    pub const UPDATE_CONSUMER: &str = "/ballast.consumers.v1.MsgUpdateConsumer";
    /// `MsgFundLease`.
    pub const FUND_LEASE: &str = "/ballast.consumers.v1.MsgFundLease";
    /// `MsgRemoveConsumer`.
    pub const REMOVE_CONSUMER: &str = "/ballast.consumers.v1.MsgRemoveConsumer";
    /// `MsgOptIn`.
    pub const OPT_IN: &str = "/ballast.consumers.v1.MsgOptIn";
    /// `MsgOptOut`.
    pub const OPT_OUT: &str = "/ballast.consumers.v1.MsgOptOut";
}

/// `ballastd tx consumers` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Register a consumer (REGISTERED until its lease is funded and enough operators with
    /// power opted in). The signer owns it.
    Register {
        /// The consumer id: the consumer chain's chain id (1 to 50 characters of
        /// [a-zA-Z0-9._-]).
        consumer_id: String,
        /// Display name (default: the consumer id).
        #[arg(long)]
        name: Option<String>,
        /// ubal drawn from the lease at every epoch end while ACTIVE: `1000` or `1000ubal`.
        #[arg(long)]
        fee_per_epoch: String,
        /// Opted-in operators with power needed to become ACTIVE.
        #[arg(long, default_value_t = 1)]
        min_operators: u32,
        /// Most operators in the consumer's validator set (at most the chain's
        /// max_operators_cap).
        #[arg(long, default_value_t = 100)]
        max_operators: u32,
        /// Share of the allocated stake a double sign on the consumer slashes, a decimal
        /// from 0 to 1.
        #[arg(long, default_value = "0.05")]
        double_sign_slash_fraction: String,
        /// Epochs an operator is jailed on the hub after a double sign on the consumer.
        #[arg(long, default_value_t = 14)]
        jail_epochs: u64,
        /// `shared` (stake reused across consumers up to max_reuse_ratio) or `isolated`
        /// (never reused). Cannot change later.
        #[arg(long, default_value = "shared", value_parser = ["shared", "isolated"])]
        allocation_mode: String,
        /// Key name (or address) in the keyring that signs, pays and owns the consumer.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        tx: TxFlags,
    },
    /// Change a consumer's terms or owner (owner only); fields not given keep their value.
    /// Takes effect at the consumer's next epoch-end processing.
    Update {
        /// The consumer id.
        consumer_id: String,
        /// New display name.
        #[arg(long)]
        name: Option<String>,
        /// New fee per epoch: `1000` or `1000ubal`.
        #[arg(long)]
        fee_per_epoch: Option<String>,
        /// New minimum of operators with power.
        #[arg(long)]
        min_operators: Option<u32>,
        /// New maximum of operators in the set.
        #[arg(long)]
        max_operators: Option<u32>,
        /// New double-sign slash fraction, a decimal from 0 to 1.
        #[arg(long)]
        double_sign_slash_fraction: Option<String>,
        /// New jail epochs.
        #[arg(long)]
        jail_epochs: Option<u64>,
        /// Hand the consumer to this account (bech32).
        #[arg(long)]
        new_owner: Option<String>,
        /// Key name (or address) in the keyring of the consumer's owner.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        tx: TxFlags,
    },
    /// Add ubal to a consumer's lease (any account may pay).
    Fund {
        /// The consumer id.
        consumer_id: String,
        /// Amount: `1000000` or `1000000ubal`.
        amount: String,
        /// Key name (or address) in the keyring that pays.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        tx: TxFlags,
    },
    /// Stop a consumer now (owner only); what is left of its lease goes back to the owner.
    Remove {
        /// The consumer id.
        consumer_id: String,
        /// Key name (or address) in the keyring of the consumer's owner.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        tx: TxFlags,
    },
    /// Opt an operator in to a consumer, or change its allocation or consumer key. Takes
    /// effect at the end of the current epoch. Signed by the operator's owner.
    OptIn {
        /// The consumer id.
        consumer_id: String,
        /// The ed25519 public key the operator signs the consumer chain with: 64 hex digits,
        /// base64, or the path of a CometBFT priv_validator_key.json (its public key is read).
        consumer_key: String,
        /// Share of the operator's power allocated to the consumer, in basis points (1 to
        /// 10000).
        #[arg(long)]
        allocation_bps: u32,
        /// The operator's BTC key (64 hex digits; default: this home's
        /// config/operator_btc_key.json).
        #[arg(long)]
        operator: Option<String>,
        /// Key name (or address) in the keyring of the operator's owner.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        tx: TxFlags,
    },
    /// Opt an operator out of a consumer at the end of the current epoch; the allocation
    /// stays slashable for the chain's deallocation delay.
    OptOut {
        /// The consumer id.
        consumer_id: String,
        /// The operator's BTC key (64 hex digits; default: this home's
        /// config/operator_btc_key.json).
        #[arg(long)]
        operator: Option<String>,
        /// Key name (or address) in the keyring of the operator's owner.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        tx: TxFlags,
    },
}

pub fn run(c: Cmd, g: &Global) -> anyhow::Result<()> {
    match c {
        Cmd::Register {
            consumer_id,
            name,
            fee_per_epoch,
            min_operators,
            max_operators,
            double_sign_slash_fraction,
            jail_epochs,
            allocation_mode,
            from,
            tx,
        } => {
            check_consumer_id(&consumer_id)?;
            let fee_per_epoch = parse_ubal(&fee_per_epoch)?;
            check_fraction("--double-sign-slash-fraction", &double_sign_slash_fraction)?;
            let allocation_mode = match allocation_mode.as_str() {
                "isolated" => pb::AllocationMode::Isolated,
                _ => pb::AllocationMode::Shared,
            };
            let signer = Signer::open(g, &tx, &from)?;
            let msg = pb::MsgRegisterConsumer {
                owner: signer.address.to_string(),
                consumer_id: consumer_id.clone(),
                terms: Some(pb::ConsumerTerms {
                    name: name.unwrap_or_else(|| consumer_id.clone()),
                    fee_per_epoch,
                    min_operators,
                    max_operators,
                    double_sign_slash_fraction,
                    jail_epochs,
                }),
                allocation_mode: allocation_mode as i32,
            };
            let summary = json!({
                "owner": msg.owner,
                "consumer_id": msg.consumer_id,
                "terms": msg.terms.as_ref().map(super::query_consumers::terms_json),
                "allocation_mode": super::query_consumers::mode_name(msg.allocation_mode),
            });
            let outcome = send(&signer, &tx, type_url::REGISTER_CONSUMER, &msg, summary)?;
            let extra = after(
                &tx,
                &outcome,
                &consumer_id,
                |c| json!({ "status": status_name(c.status) }),
            );
            finish(&tx.client, &outcome, extra)
        }
        Cmd::Update {
            consumer_id,
            name,
            fee_per_epoch,
            min_operators,
            max_operators,
            double_sign_slash_fraction,
            jail_epochs,
            new_owner,
            from,
            tx,
        } => {
            check_consumer_id(&consumer_id)?;
            let fee_per_epoch = fee_per_epoch.map(|f| parse_ubal(&f)).transpose()?;
            if let Some(f) = &double_sign_slash_fraction {
                check_fraction("--double-sign-slash-fraction", f)?;
            }
            if let Some(o) = &new_owner {
                super::query::check_address(o)?;
            }
            if name.is_none()
                && fee_per_epoch.is_none()
                && min_operators.is_none()
                && max_operators.is_none()
                && double_sign_slash_fraction.is_none()
                && jail_epochs.is_none()
                && new_owner.is_none()
            {
                bail!("nothing to change: give at least one of --name, --fee-per-epoch, --min-operators, --max-operators, --double-sign-slash-fraction, --jail-epochs, --new-owner");
            }
            let signer = Signer::open(g, &tx, &from)?;
            let msg = pb::MsgUpdateConsumer {
                owner: signer.address.to_string(),
                consumer_id: consumer_id.clone(),
                name,
                fee_per_epoch,
                min_operators,
                max_operators,
                double_sign_slash_fraction,
                jail_epochs,
                new_owner,
            };
            let summary = json!({
                "owner": msg.owner,
                "consumer_id": msg.consumer_id,
                "name": msg.name,
                "fee_per_epoch": msg.fee_per_epoch,
                "min_operators": msg.min_operators,
                "max_operators": msg.max_operators,
                "double_sign_slash_fraction": msg.double_sign_slash_fraction,
                "jail_epochs": msg.jail_epochs.map(|j| j.to_string()),
                "new_owner": msg.new_owner,
            });
            let outcome = send(&signer, &tx, type_url::UPDATE_CONSUMER, &msg, summary)?;
            let extra = after(&tx, &outcome, &consumer_id, |c| {
                json!({
                    "owner": c.owner,
                    "terms": c.terms.as_ref().map(super::query_consumers::terms_json),
                })
            });
            finish(&tx.client, &outcome, extra)
        }
        Cmd::Fund {
            consumer_id,
            amount,
            from,
            tx,
        } => {
            check_consumer_id(&consumer_id)?;
            let amount = parse_ubal(&amount)?;
            let signer = Signer::open(g, &tx, &from)?;
            let msg = pb::MsgFundLease {
                funder: signer.address.to_string(),
                consumer_id: consumer_id.clone(),
                amount,
            };
            let summary = json!({
                "funder": msg.funder,
                "consumer_id": msg.consumer_id,
                "amount": msg.amount,
            });
            let outcome = send(&signer, &tx, type_url::FUND_LEASE, &msg, summary)?;
            let extra = after(
                &tx,
                &outcome,
                &consumer_id,
                |c| json!({ "lease_balance": c.lease_balance, "status": status_name(c.status) }),
            );
            finish(&tx.client, &outcome, extra)
        }
        Cmd::Remove {
            consumer_id,
            from,
            tx,
        } => {
            check_consumer_id(&consumer_id)?;
            let signer = Signer::open(g, &tx, &from)?;
            let msg = pb::MsgRemoveConsumer {
                owner: signer.address.to_string(),
                consumer_id: consumer_id.clone(),
            };
            let summary = json!({ "owner": msg.owner, "consumer_id": msg.consumer_id });
            let outcome = send(&signer, &tx, type_url::REMOVE_CONSUMER, &msg, summary)?;
            let extra = after(&tx, &outcome, &consumer_id, |c| {
                json!({
                    "status": status_name(c.status),
                    "stop_reason": super::query_consumers::stop_reason_name(c.stop_reason),
                    "lease_balance": c.lease_balance,
                })
            });
            finish(&tx.client, &outcome, extra)
        }
        Cmd::OptIn {
            consumer_id,
            consumer_key,
            allocation_bps,
            operator,
            from,
            tx,
        } => {
            check_consumer_id(&consumer_id)?;
            let consumer_pubkey = parse_consumer_key(&consumer_key)?;
            check_allocation_bps(allocation_bps)?;
            let operator = operator_or_home(g, operator.as_deref())?;
            let signer = Signer::open(g, &tx, &from)?;
            let msg = pb::MsgOptIn {
                owner: signer.address.to_string(),
                operator_btc_pk: operator.to_vec(),
                consumer_id: consumer_id.clone(),
                consumer_pubkey: consumer_pubkey.to_vec(),
                allocation_bps,
            };
            let summary = json!({
                "owner": msg.owner,
                "operator_btc_pk": hex::encode(&msg.operator_btc_pk),
                "consumer_id": msg.consumer_id,
                "consumer_pubkey": hex::encode(&msg.consumer_pubkey),
                "allocation_bps": msg.allocation_bps,
            });
            let outcome = send(&signer, &tx, type_url::OPT_IN, &msg, summary)?;
            let extra = after_opt(&tx, &outcome, &consumer_id, &operator);
            finish(&tx.client, &outcome, extra)
        }
        Cmd::OptOut {
            consumer_id,
            operator,
            from,
            tx,
        } => {
            check_consumer_id(&consumer_id)?;
            let operator = operator_or_home(g, operator.as_deref())?;
            let signer = Signer::open(g, &tx, &from)?;
            let msg = pb::MsgOptOut {
                owner: signer.address.to_string(),
                operator_btc_pk: operator.to_vec(),
                consumer_id: consumer_id.clone(),
            };
            let summary = json!({
                "owner": msg.owner,
                "operator_btc_pk": hex::encode(&msg.operator_btc_pk),
                "consumer_id": msg.consumer_id,
            });
            let outcome = send(&signer, &tx, type_url::OPT_OUT, &msg, summary)?;
            let extra = after_opt(&tx, &outcome, &consumer_id, &operator);
            finish(&tx.client, &outcome, extra)
        }
    }
}

fn send<M: prost::Message>(
    signer: &Signer,
    tx: &TxFlags,
    type_url: &str,
    msg: &M,
    summary: Value,
) -> anyhow::Result<TxOutcome> {
    runtime()?.block_on(signer.send(tx, type_url, msg, summary))
}

/// What a command adds to a successful outcome: the consumer id and, once the tx is in a
/// block, `fields` of the consumer as the chain now has it. A read that fails after the tx
/// went through is reported in the output, never as a failed command.
fn after(
    tx: &TxFlags,
    outcome: &TxOutcome,
    consumer_id: &str,
    fields: impl FnOnce(&pb::Consumer) -> Value,
) -> Value {
    let mut extra = json!({ "consumer_id": consumer_id });
    if outcome.code != 0 || outcome.height == 0 {
        return extra;
    }
    let read = runtime().and_then(|rt| {
        rt.block_on(super::query_consumers::consumer(
            &query_flags(&tx.client),
            consumer_id,
        ))
    });
    match read {
        Ok(c) => {
            if let (Some(m), Value::Object(f)) = (extra.as_object_mut(), fields(&c)) {
                m.extend(f);
            }
        }
        Err(e) => extra["read_error"] = json!(format!("{e:#}")),
    }
    extra
}

/// What an opt-in or opt-out adds: the operator and, once in a block, the epoch at whose end
/// the change takes effect and the allocation it sets.
fn after_opt(tx: &TxFlags, outcome: &TxOutcome, consumer_id: &str, operator: &[u8; 32]) -> Value {
    let mut extra = json!({
        "consumer_id": consumer_id,
        "operator_btc_pk": hex::encode(operator),
    });
    if outcome.code != 0 || outcome.height == 0 {
        return extra;
    }
    let read = runtime().and_then(|rt| {
        rt.block_on(super::query_consumers::allocations(
            &query_flags(&tx.client),
            operator,
        ))
    });
    match read {
        Ok(r) => {
            if let Some(o) = r.opt_ins.iter().find(|o| o.consumer_id == consumer_id) {
                if o.has_pending {
                    extra["effective_after_epoch"] = json!(o.pending_epoch.to_string());
                    extra["pending_allocation_bps"] = json!(o.pending_allocation_bps);
                }
                extra["allocation_bps"] = json!(o.allocation_bps);
            }
            extra["encumbered_bps"] = json!(r.encumbered_bps);
            extra["cap_bps"] = json!(r.cap_bps);
        }
        Err(e) => extra["read_error"] = json!(format!("{e:#}")),
    }
    extra
}

/// The operator id: `--operator`, or the home's `config/operator_btc_key.json`.
fn operator_or_home(g: &Global, operator: Option<&str>) -> anyhow::Result<[u8; 32]> {
    if let Some(o) = operator {
        return Ok(parse_xonly_arg("operator", o)?.serialize());
    }
    let path = crate::home::keys::operator_btc_key_path(&g.home);
    if !path.exists() {
        bail!(
            "no --operator given and {} does not exist: pass the operator's BTC key (64 hex digits)",
            path.display()
        );
    }
    let sk = load_btc_key(&path)
        .with_context(|| format!("reading the operator key {}", path.display()))?;
    Ok(xonly(&sk).serialize())
}

/// Checks an allocation: 1 to 10000 basis points.
pub fn check_allocation_bps(bps: u32) -> anyhow::Result<()> {
    if !(1..=10_000).contains(&bps) {
        bail!("bad --allocation-bps {bps}: expected 1 to 10000 basis points (opt-out takes the allocation to 0)");
    }
    Ok(())
}

/// Checks a decimal from 0 to 1.
fn check_fraction(flag: &str, s: &str) -> anyhow::Result<()> {
    let d = Decimal::from_str(s)
        .map_err(|e| anyhow!("bad {flag} {s:?}: expected a decimal from 0 to 1, {e}"))?;
    if d > Decimal::ONE {
        bail!("bad {flag} {s:?}: expected a decimal from 0 to 1, found more than 1");
    }
    Ok(())
}

/// Parses a consumer key: an ed25519 public key as 64 hex digits, as base64, or the path of a
/// CometBFT `priv_validator_key.json` (its `pub_key`). The key must be a valid curve point.
pub fn parse_consumer_key(s: &str) -> anyhow::Result<[u8; 32]> {
    const EXPECTED: &str = "expected an ed25519 public key as 64 hex digits, as base64, or the \
                            path of a CometBFT priv_validator_key.json";
    let t = s.trim();
    let bytes = if Path::new(t).is_file() {
        key_from_file(Path::new(t))?
    } else {
        let h = t.trim_start_matches("0x");
        if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(h).map_err(|e| anyhow!("bad consumer key {s:?}: {EXPECTED}, {e}"))?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(t)
                .map_err(|_| anyhow!("bad consumer key {s:?}: {EXPECTED} (and no such file)"))?
        }
    };
    let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        anyhow!(
            "bad consumer key {s:?}: {EXPECTED}, found {} bytes",
            bytes.len()
        )
    })?;
    ed25519_consensus::VerificationKey::try_from(key)
        .map_err(|e| anyhow!("bad consumer key {s:?}: not an ed25519 curve point ({e})"))?;
    Ok(key)
}

/// The public key of a CometBFT key file (`{"pub_key": {"type": "tendermint/PubKeyEd25519",
/// "value": "<base64>"}, …}`).
fn key_from_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the consumer key file {}", path.display()))?;
    let v: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not JSON: expected a CometBFT priv_validator_key.json",
            path.display()
        )
    })?;
    let pk = &v["pub_key"];
    let kind = pk["type"].as_str().unwrap_or_default();
    if kind != "tendermint/PubKeyEd25519" {
        bail!(
            "{}: expected pub_key.type \"tendermint/PubKeyEd25519\", found {:?}",
            path.display(),
            pk["type"]
        );
    }
    let value = pk["value"]
        .as_str()
        .with_context(|| format!("{}: pub_key.value is not a string", path.display()))?;
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|e| anyhow!("{}: pub_key.value is not base64: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct TxCli {
        #[command(subcommand)]
        cmd: Cmd,
    }

    /// An ed25519 public key (of the secret key 7…7).
    fn key() -> [u8; 32] {
        ed25519_consensus::SigningKey::from([7u8; 32])
            .verification_key()
            .to_bytes()
    }

    #[test]
    fn consumers_tx_commands_are_well_formed_and_parse() {
        TxCli::command().debug_assert();
        let parsed = TxCli::try_parse_from([
            "consumers",
            "opt-in",
            "demo-1",
            "ab",
            "--allocation-bps",
            "5000",
            "--from",
            "op",
        ])
        .unwrap();
        match parsed.cmd {
            Cmd::OptIn {
                consumer_id,
                allocation_bps,
                operator,
                ..
            } => assert_eq!(
                (consumer_id.as_str(), allocation_bps, operator),
                ("demo-1", 5000, None)
            ),
            other => panic!("parsed as {other:?}"),
        }
        let parsed = TxCli::try_parse_from([
            "consumers",
            "register",
            "demo-1",
            "--fee-per-epoch",
            "1000ubal",
            "--from",
            "dev",
        ])
        .unwrap();
        match parsed.cmd {
            Cmd::Register {
                min_operators,
                max_operators,
                allocation_mode,
                ..
            } => assert_eq!(
                (min_operators, max_operators, allocation_mode.as_str()),
                (1, 100, "shared")
            ),
            other => panic!("parsed as {other:?}"),
        }
        assert!(TxCli::try_parse_from([
            "consumers",
            "register",
            "demo-1",
            "--fee-per-epoch",
            "1",
            "--allocation-mode",
            "exclusive",
            "--from",
            "dev",
        ])
        .is_err());
    }

    #[test]
    fn consumer_keys_parse_from_hex_base64_and_key_files() {
        let k = key();
        assert_eq!(parse_consumer_key(&hex::encode(k)).unwrap(), k);
        assert_eq!(
            parse_consumer_key(&format!("0x{}", hex::encode(k))).unwrap(),
            k
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(k);
        assert_eq!(parse_consumer_key(&b64).unwrap(), k);

        // No tempfile crate in this package: a file named after the process, removed below.
        let file = std::env::temp_dir().join(format!(
            "ballastd-test-priv_validator_key-{}.json",
            std::process::id()
        ));
        std::fs::write(
            &file,
            json!({
                "address": "00",
                "pub_key": {"type": "tendermint/PubKeyEd25519", "value": b64},
                "priv_key": {"type": "tendermint/PrivKeyEd25519", "value": ""},
            })
            .to_string(),
        )
        .unwrap();
        assert_eq!(parse_consumer_key(file.to_str().unwrap()).unwrap(), k);

        let e = parse_consumer_key("abcd").unwrap_err().to_string();
        assert!(e.contains("found 3 bytes"), "{e}");
        let e = parse_consumer_key("not a key!").unwrap_err().to_string();
        assert!(e.contains("no such file"), "{e}");
        // 32 bytes that are not a point on the curve.
        let not_a_point = (0..=255u8)
            .map(|b| [b; 32])
            .find(|c| ed25519_consensus::VerificationKey::try_from(*c).is_err())
            .expect("some repeated byte is not a curve point");
        let e = parse_consumer_key(&hex::encode(not_a_point))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an ed25519 curve point"), "{e}");
        std::fs::write(
            &file,
            r#"{"pub_key": {"type": "tendermint/PubKeySecp256k1", "value": ""}}"#,
        )
        .unwrap();
        let e = parse_consumer_key(file.to_str().unwrap())
            .unwrap_err()
            .to_string();
        let _ = std::fs::remove_file(&file);
        assert!(e.contains("PubKeyEd25519"), "{e}");
    }

    #[test]
    fn allocations_and_fractions_are_checked() {
        check_allocation_bps(1).unwrap();
        check_allocation_bps(10_000).unwrap();
        assert!(check_allocation_bps(0).is_err());
        assert!(check_allocation_bps(10_001)
            .unwrap_err()
            .to_string()
            .contains("1 to 10000"));
        check_fraction("--f", "0.05").unwrap();
        assert!(check_fraction("--f", "1.01").is_err());
        assert!(check_fraction("--f", "x").is_err());
    }
}
