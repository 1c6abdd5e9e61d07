//! `ballastd tx restaking …`: operators (register, edit), native bonds (bond, unbond),
//! rewards, and BTC delegations (`btc-delegate` for a staking tx built by any wallet,
//! `add-inclusion-proof` once it is in a Bitcoin block). Signed and broadcast like
//! `tx bank send`.
//!
//! Commands that create something print the tx outcome with what they created added
//! (`staking_txid`, `btc_pk`), so one JSON object says both whether the tx went through and
//! what to query next.

use super::btc_bitcoind::BitcoindFlags;
use super::btc_delegation::{
    build_delegation, chain_btc_params, inclusion_proof, parse_txid, parse_xonly_arg, type_url,
    BuiltDelegation, DelegationInput,
};
use super::client::{runtime, ClientFlags};
use super::query::QueryFlags;
use super::tx::{broadcast_msgs, outcome_json, report, TxFlags};
use crate::Global;
use anyhow::{anyhow, bail, Context};
use ballast_client::btc_key::{load_btc_key, xonly};
use ballast_client::keyring::input::{open_keyring, resolve_backend};
use ballast_client::txbuild::TxOutcome;
use ballast_framework::{Address, Decimal};
use ballast_proto::ballast::restaking::v1 as pb;
use ballast_restaking::btc::sign::sign_pop;
use bitcoin::secp256k1::{SecretKey, XOnlyPublicKey};
use bitcoin::{BlockHash, Transaction, Txid};
use prost::Message;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::str::FromStr;

/// `ballastd tx restaking` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Register an operator: its BTC key (the id, with a proof of possession), optionally a
    /// consensus key to validate the hub, a commission and a description.
    RegisterOperator {
        /// BTC key file of the operator (`ballastd btc keygen` writes one).
        #[arg(long)]
        btc_key: PathBuf,
        /// Use this node's consensus key (`<home>/config/priv_validator_key.json`).
        #[arg(long, conflicts_with = "consensus_pubkey")]
        consensus_key_from_home: bool,
        /// An ed25519 consensus public key, 64 hex digits. Without it (and without
        /// --consensus-key-from-home) the operator does not validate the hub.
        #[arg(long)]
        consensus_pubkey: Option<String>,
        /// Commission on rewards, a decimal from 0 to 1 (e.g. 0.05).
        #[arg(long)]
        commission: String,
        #[command(flatten)]
        description: DescriptionFlags,
        /// Key name (or address) in the keyring that signs, pays and owns the operator.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        tx: TxFlags,
    },
    /// Change an operator's commission and/or description (owner only); fields not given
    /// keep their value.
    EditOperator {
        /// The operator's BTC key (64 hex digits).
        operator: String,
        /// New commission, a decimal from 0 to 1.
        #[arg(long)]
        commission: Option<String>,
        #[command(flatten)]
        description: EditDescriptionFlags,
        /// Key name (or address) in the keyring of the operator's owner.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        tx: TxFlags,
    },
    /// Bond ubal to an operator.
    Bond {
        /// The operator's BTC key (64 hex digits).
        operator: String,
        /// Amount: `1000000` or `1000000ubal`.
        amount: String,
        /// Key name (or address) in the keyring that bonds.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        tx: TxFlags,
    },
    /// Start unbonding ubal from an operator (returned after the unbonding epochs).
    Unbond {
        /// The operator's BTC key (64 hex digits).
        operator: String,
        /// Amount: `1000000` or `1000000ubal`.
        amount: String,
        /// Key name (or address) in the keyring that unbonds.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        tx: TxFlags,
    },
    /// Withdraw settled rewards (and commission, for an owner), from one operator or all.
    WithdrawRewards {
        /// Only from this operator (BTC key); all when absent.
        operator: Option<String>,
        /// Key name (or address) in the keyring that withdraws.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        tx: TxFlags,
    },
    /// Register a BTC delegation for a staking tx built by any wallet.
    BtcDelegate(BtcDelegateArgs),
    /// Prove that a delegation's staking tx is in a Bitcoin block (read from bitcoind).
    AddInclusionProof {
        /// The staking txid (64 hex digits, display order).
        staking_txid: String,
        /// The block holding it (display order); default: asked of bitcoind.
        #[arg(long)]
        block_hash: Option<String>,
        #[command(flatten)]
        bitcoind: BitcoindFlags,
        /// Key name (or address) in the keyring that signs and pays.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        tx: TxFlags,
    },
}

/// An operator's description.
#[derive(clap::Args, Clone, Debug)]
pub struct DescriptionFlags {
    /// Display name.
    #[arg(long)]
    pub moniker: String,
    /// Optional identity (e.g. a keybase id).
    #[arg(long, default_value = "")]
    pub identity: String,
    /// Optional website.
    #[arg(long, default_value = "")]
    pub website: String,
    /// Optional details.
    #[arg(long, default_value = "")]
    pub details: String,
}

/// Description fields to change.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct EditDescriptionFlags {
    /// New display name.
    #[arg(long)]
    pub moniker: Option<String>,
    /// New identity.
    #[arg(long)]
    pub identity: Option<String>,
    /// New website.
    #[arg(long)]
    pub website: Option<String>,
    /// New details.
    #[arg(long)]
    pub details: Option<String>,
}

impl EditDescriptionFlags {
    fn is_empty(&self) -> bool {
        self.moniker.is_none()
            && self.identity.is_none()
            && self.website.is_none()
            && self.details.is_none()
    }

    /// `current` with the given fields replaced.
    fn apply(&self, current: Option<pb::Description>) -> pb::Description {
        let mut d = current.unwrap_or_default();
        let set = |field: &mut String, new: &Option<String>| {
            if let Some(v) = new {
                field.clone_from(v);
            }
        };
        set(&mut d.moniker, &self.moniker);
        set(&mut d.identity, &self.identity);
        set(&mut d.website, &self.website);
        set(&mut d.details, &self.details);
        d
    }
}

/// `ballastd tx restaking btc-delegate` options.
#[derive(clap::Args, Debug)]
pub struct BtcDelegateArgs {
    /// The staking tx: raw tx hex, PSBT hex or base64 (finalized or not), or `@file` with
    /// any of those or a binary PSBT.
    #[arg(long)]
    pub staking_tx: String,
    /// The staker's BTC key file.
    #[arg(long)]
    pub btc_key: PathBuf,
    /// The operator's BTC key (64 hex digits).
    #[arg(long)]
    pub operator: String,
    /// Staking timelock of the staking output, in Bitcoin blocks.
    #[arg(long)]
    pub staking_time: u32,
    /// Index of the staking output (default: the one output that pays it).
    #[arg(long)]
    pub staking_output_index: Option<u32>,
    /// Key name (or address) in the keyring that signs, pays and receives the rewards.
    #[arg(long)]
    pub from: String,
    #[command(flatten)]
    pub tx: TxFlags,
}

pub fn run(c: Cmd, g: &Global) -> anyhow::Result<()> {
    match c {
        Cmd::RegisterOperator {
            btc_key,
            consensus_key_from_home,
            consensus_pubkey,
            commission,
            description,
            from,
            tx,
        } => {
            let sk = load_btc_key(&btc_key)?;
            check_commission(&commission)?;
            let consensus_pubkey = if consensus_key_from_home {
                crate::home::keys::read_consensus_key(&g.home)?
                    .public_key()
                    .to_vec()
            } else {
                match consensus_pubkey {
                    Some(h) => parse_consensus_pubkey(&h)?,
                    None => Vec::new(),
                }
            };
            let signer = Signer::open(g, &tx, &from)?;
            let btc_pk = xonly(&sk);
            let msg = pb::MsgRegisterOperator {
                owner: signer.address.to_string(),
                btc_pk: btc_pk.serialize().to_vec(),
                btc_pop: sign_pop(&sk, &signer.address.0).as_ref().to_vec(),
                consensus_pubkey,
                commission,
                description: Some(pb::Description {
                    moniker: description.moniker,
                    identity: description.identity,
                    website: description.website,
                    details: description.details,
                }),
            };
            let summary = json!({
                "@type": type_url::REGISTER_OPERATOR,
                "owner": msg.owner,
                "btc_pk": hex::encode(&msg.btc_pk),
                "consensus_pubkey": hex::encode(&msg.consensus_pubkey),
                "commission": msg.commission,
                "moniker": msg.description.as_ref().map(|d| d.moniker.clone()),
            });
            let outcome = signer.send_blocking(&tx, type_url::REGISTER_OPERATOR, &msg, summary)?;
            finish(
                &tx.client,
                &outcome,
                json!({ "btc_pk": hex::encode(btc_pk.serialize()) }),
            )
        }
        Cmd::EditOperator {
            operator,
            commission,
            description,
            from,
            tx,
        } => {
            let op = parse_xonly_arg("operator", &operator)?;
            if let Some(c) = &commission {
                check_commission(c)?;
            }
            if commission.is_none() && description.is_empty() {
                bail!("nothing to change: give --commission and/or description fields (--moniker, --identity, --website, --details)");
            }
            let signer = Signer::open(g, &tx, &from)?;
            let description = if description.is_empty() {
                None
            } else {
                // The message replaces the whole description: start from the current one.
                let current = runtime()?.block_on(current_description(&tx.client, op))?;
                Some(description.apply(current))
            };
            let msg = pb::MsgEditOperator {
                owner: signer.address.to_string(),
                btc_pk: op.serialize().to_vec(),
                commission: commission.unwrap_or_default(),
                description,
            };
            let summary = json!({
                "@type": type_url::EDIT_OPERATOR,
                "owner": msg.owner,
                "btc_pk": hex::encode(&msg.btc_pk),
                "commission": msg.commission,
                "description": msg.description.as_ref().map(|d| json!({
                    "moniker": d.moniker, "identity": d.identity,
                    "website": d.website, "details": d.details,
                })),
            });
            let outcome = signer.send_blocking(&tx, type_url::EDIT_OPERATOR, &msg, summary)?;
            finish(&tx.client, &outcome, json!({}))
        }
        Cmd::Bond {
            operator,
            amount,
            from,
            tx,
        } => {
            let op = parse_xonly_arg("operator", &operator)?;
            let amount = parse_ubal(&amount)?;
            let signer = Signer::open(g, &tx, &from)?;
            let msg = pb::MsgBondNative {
                delegator: signer.address.to_string(),
                operator_btc_pk: op.serialize().to_vec(),
                amount,
            };
            let summary = json!({
                "@type": type_url::BOND_NATIVE,
                "delegator": msg.delegator,
                "operator_btc_pk": hex::encode(&msg.operator_btc_pk),
                "amount": msg.amount,
            });
            let outcome = signer.send_blocking(&tx, type_url::BOND_NATIVE, &msg, summary)?;
            finish(&tx.client, &outcome, json!({}))
        }
        Cmd::Unbond {
            operator,
            amount,
            from,
            tx,
        } => {
            let op = parse_xonly_arg("operator", &operator)?;
            let amount = parse_ubal(&amount)?;
            let signer = Signer::open(g, &tx, &from)?;
            let msg = pb::MsgUnbondNative {
                delegator: signer.address.to_string(),
                operator_btc_pk: op.serialize().to_vec(),
                amount,
            };
            let summary = json!({
                "@type": type_url::UNBOND_NATIVE,
                "delegator": msg.delegator,
                "operator_btc_pk": hex::encode(&msg.operator_btc_pk),
                "amount": msg.amount,
            });
            let outcome = signer.send_blocking(&tx, type_url::UNBOND_NATIVE, &msg, summary)?;
            finish(&tx.client, &outcome, json!({}))
        }
        Cmd::WithdrawRewards { operator, from, tx } => {
            let op = operator
                .map(|o| parse_xonly_arg("operator", &o))
                .transpose()?;
            let signer = Signer::open(g, &tx, &from)?;
            let msg = pb::MsgWithdrawRewards {
                delegator: signer.address.to_string(),
                operator_btc_pk: op.map(|k| k.serialize().to_vec()).unwrap_or_default(),
            };
            let summary = json!({
                "@type": type_url::WITHDRAW_REWARDS,
                "delegator": msg.delegator,
                "operator_btc_pk": hex::encode(&msg.operator_btc_pk),
            });
            let outcome = signer.send_blocking(&tx, type_url::WITHDRAW_REWARDS, &msg, summary)?;
            finish(&tx.client, &outcome, json!({}))
        }
        Cmd::BtcDelegate(a) => {
            let sk = load_btc_key(&a.btc_key)?;
            let staking_tx = super::btc_delegation::read_staking_tx(&a.staking_tx)?;
            let operator = parse_xonly_arg("operator", &a.operator)?;
            let signer = Signer::open(g, &a.tx, &a.from)?;
            let (built, outcome) = runtime()?.block_on(send_delegation(
                &signer,
                &a.tx,
                &sk,
                operator,
                a.staking_time,
                &staking_tx,
                a.staking_output_index,
            ))?;
            finish(&a.tx.client, &outcome, delegation_json(&built))
        }
        Cmd::AddInclusionProof {
            staking_txid,
            block_hash,
            bitcoind,
            from,
            tx,
        } => {
            let txid = parse_txid(&staking_txid)?;
            let block_hash = block_hash
                .map(|h| {
                    BlockHash::from_str(&super::query_btclightclient::parse_block_hash(&h)?)
                        .map_err(|e| anyhow!("bad --block-hash {h:?}: {e}"))
                })
                .transpose()?;
            let signer = Signer::open(g, &tx, &from)?;
            let outcome = runtime()?.block_on(async {
                let btc = bitcoind.connect().await?;
                let hash = match block_hash {
                    Some(h) => h,
                    None => btc.block_of_tx(txid).await?.with_context(|| {
                        format!("staking tx {txid} is not in a block of bitcoind's best chain yet")
                    })?,
                };
                let block = btc.block(hash).await?;
                let proof = inclusion_proof(&block, txid)?;
                send_inclusion_proof(&signer, &tx, txid, proof).await
            })?;
            finish(
                &tx.client,
                &outcome,
                json!({ "staking_txid": txid.to_string() }),
            )
        }
    }
}

/// The Ballast account that signs a command's txs.
pub struct Signer {
    key: cosmrs::crypto::secp256k1::SigningKey,
    /// Its address.
    pub address: Address,
}

impl Signer {
    /// The keyring key `from` (name or address).
    pub fn open(g: &Global, tx: &TxFlags, from: &str) -> anyhow::Result<Signer> {
        let backend = resolve_backend(tx.keyring_backend.as_deref())?;
        let keyring = open_keyring(&g.home, backend, true)?;
        let key = keyring.signing_key(from)?;
        let addr = keyring.show(from)?.address;
        let address = addr
            .parse()
            .map_err(|e| anyhow!("the keyring's address {addr:?} does not parse: {e}"))?;
        Ok(Signer { key, address })
    }

    /// Signs and broadcasts one message.
    pub async fn send<M: Message>(
        &self,
        tx: &TxFlags,
        type_url: &str,
        msg: &M,
        mut summary: Value,
    ) -> anyhow::Result<TxOutcome> {
        let any = prost_types::Any {
            type_url: type_url.into(),
            value: msg.encode_to_vec(),
        };
        summary["@type"] = json!(type_url);
        let summary = json!({ "body": { "messages": [summary], "memo": tx.memo } });
        broadcast_msgs(tx, &self.key, vec![any], &summary).await
    }

    fn send_blocking<M: Message>(
        &self,
        tx: &TxFlags,
        type_url: &str,
        msg: &M,
        summary: Value,
    ) -> anyhow::Result<TxOutcome> {
        runtime()?.block_on(self.send(tx, type_url, msg, summary))
    }
}

/// Prints the outcome with `extra` fields added; exits with status 1 if the tx failed.
pub fn finish(flags: &ClientFlags, outcome: &TxOutcome, extra: Value) -> anyhow::Result<()> {
    if outcome.code != 0 {
        report(flags, outcome);
        std::process::exit(1);
    }
    let mut v = outcome_json(outcome);
    if let (Some(m), Value::Object(e)) = (v.as_object_mut(), extra) {
        m.extend(e);
    }
    flags.print(&v);
    Ok(())
}

/// The query flags that read from the node a tx command sends to.
pub fn query_flags(client: &ClientFlags) -> QueryFlags {
    QueryFlags {
        height: 0,
        client: client.clone(),
    }
}

/// Builds the delegation request for `staking_tx` under the chain's current params and sends
/// it from `signer`. Returns what was built and the tx outcome (failed or not).
pub async fn send_delegation(
    signer: &Signer,
    tx: &TxFlags,
    sk: &SecretKey,
    operator: XOnlyPublicKey,
    staking_time: u32,
    staking_tx: &Transaction,
    staking_output_index: Option<u32>,
) -> anyhow::Result<(BuiltDelegation, TxOutcome)> {
    let params = super::query_restaking::params(&query_flags(&tx.client)).await?;
    let params = chain_btc_params(&params)?;
    let built = build_delegation(&DelegationInput {
        params: &params.staking,
        staker_sk: sk,
        staker_addr: &signer.address,
        operator_pk: operator,
        staking_time,
        staking_tx,
        staking_output_index,
    })?;
    let m = &built.msg;
    let summary = json!({
        "staker_addr": m.staker_addr,
        "btc_pk": hex::encode(&m.btc_pk),
        "operator_btc_pk": hex::encode(&m.operator_btc_pk),
        "staking_txid": built.staking_txid.to_string(),
        "staking_output_index": m.staking_output_index,
        "staking_value": m.staking_value.to_string(),
        "staking_time": m.staking_time,
    });
    let outcome = signer
        .send(tx, type_url::CREATE_BTC_DELEGATION, m, summary)
        .await?;
    Ok((built, outcome))
}

/// Sends `MsgAddBtcInclusionProof` for `staking_txid`.
pub async fn send_inclusion_proof(
    signer: &Signer,
    tx: &TxFlags,
    staking_txid: Txid,
    proof: pb::BtcInclusionProof,
) -> anyhow::Result<TxOutcome> {
    let summary = json!({
        "signer": signer.address.to_string(),
        "staking_txid": staking_txid.to_string(),
        "proof": {
            "tx_index": proof.tx_index,
            "merkle_nodes": hex::encode(&proof.merkle_nodes),
            "block_hash": super::query_btclightclient::display_hex(&proof.block_hash),
        },
    });
    let msg = pb::MsgAddBtcInclusionProof {
        signer: signer.address.to_string(),
        staking_txid: staking_txid.to_string(),
        proof: Some(proof),
    };
    signer
        .send(tx, type_url::ADD_BTC_INCLUSION_PROOF, &msg, summary)
        .await
}

/// What a delegation command adds to the tx outcome it prints.
pub fn delegation_json(b: &BuiltDelegation) -> Value {
    json!({
        "staking_txid": b.staking_txid.to_string(),
        "staking_output_index": b.staking_output_index,
        "staking_value": b.staking_value_sat.to_string(),
    })
}

async fn current_description(
    client: &ClientFlags,
    op: XOnlyPublicKey,
) -> anyhow::Result<Option<pb::Description>> {
    let r: pb::QueryOperatorResponse = query_flags(client)
        .query(
            "/ballast.restaking.v1.Query/Operator",
            pb::QueryOperatorRequest {
                btc_pk: hex::encode(op.serialize()),
            },
        )
        .await
        .with_context(|| format!("reading operator {op}"))?;
    Ok(r.operator.and_then(|o| o.description))
}

/// Checks a commission: a decimal from 0 to 1.
pub fn check_commission(s: &str) -> anyhow::Result<()> {
    let d = Decimal::from_str(s)
        .map_err(|e| anyhow!("bad --commission {s:?}: expected a decimal from 0 to 1, {e}"))?;
    if d > Decimal::ONE {
        bail!("bad --commission {s:?}: expected a decimal from 0 to 1, found more than 1");
    }
    Ok(())
}

/// Parses an ubal amount, `1000` or `1000ubal`, into its decimal digits; refuses zero.
pub fn parse_ubal(s: &str) -> anyhow::Result<String> {
    let digits = s.trim().strip_suffix("ubal").unwrap_or(s.trim());
    let n: u128 = digits.parse().map_err(|_| {
        anyhow!("bad amount {s:?}: expected a whole number of ubal, such as 1000000 or 1000000ubal")
    })?;
    if n == 0 {
        bail!("bad amount {s:?}: expected more than 0 ubal");
    }
    Ok(n.to_string())
}

/// Parses a 32-byte ed25519 public key in hex.
pub fn parse_consensus_pubkey(s: &str) -> anyhow::Result<Vec<u8>> {
    let b = hex::decode(s.trim().trim_start_matches("0x"))
        .map_err(|e| anyhow!("bad --consensus-pubkey {s:?}: expected 64 hex digits, {e}"))?;
    if b.len() != 32 {
        bail!(
            "bad --consensus-pubkey {s:?}: expected a 32-byte ed25519 key, found {} bytes",
            b.len()
        );
    }
    Ok(b)
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

    #[test]
    fn restaking_tx_commands_are_well_formed_and_parse() {
        TxCli::command().debug_assert();
        let parsed = TxCli::try_parse_from([
            "restaking",
            "btc-delegate",
            "--staking-tx",
            "@tx.psbt",
            "--btc-key",
            "k.json",
            "--operator",
            "ab",
            "--staking-time",
            "1000",
            "--from",
            "dev",
            "--yes",
        ])
        .unwrap();
        match parsed.cmd {
            Cmd::BtcDelegate(a) => {
                assert_eq!(a.staking_tx, "@tx.psbt");
                assert_eq!(a.staking_time, 1000);
                assert_eq!(a.staking_output_index, None);
                assert!(a.tx.yes);
            }
            other => panic!("parsed as {other:?}"),
        }
        // Both consensus key sources at once are refused.
        assert!(TxCli::try_parse_from([
            "restaking",
            "register-operator",
            "--btc-key",
            "k",
            "--consensus-key-from-home",
            "--consensus-pubkey",
            "00",
            "--commission",
            "0.1",
            "--moniker",
            "m",
            "--from",
            "dev",
        ])
        .is_err());
        let parsed = TxCli::try_parse_from([
            "restaking",
            "add-inclusion-proof",
            &"ab".repeat(32),
            "--bitcoin-rpc-url",
            "http://127.0.0.1:18443",
            "--bitcoin-rpc-user",
            "u",
            "--bitcoin-rpc-password",
            "p",
            "--from",
            "dev",
        ])
        .unwrap();
        match parsed.cmd {
            Cmd::AddInclusionProof { bitcoind, .. } => {
                assert_eq!(bitcoind.bitcoin_rpc_url, "http://127.0.0.1:18443")
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn amounts_commissions_and_consensus_keys_are_checked() {
        assert_eq!(parse_ubal("1000").unwrap(), "1000");
        assert_eq!(parse_ubal("1000ubal").unwrap(), "1000");
        assert!(parse_ubal("0").is_err());
        assert!(parse_ubal("10uatom")
            .unwrap_err()
            .to_string()
            .contains("ubal"));
        assert!(parse_ubal("-5").is_err());
        check_commission("0.05").unwrap();
        check_commission("1").unwrap();
        assert!(check_commission("1.5").is_err());
        assert!(check_commission("abc").is_err());
        assert_eq!(
            parse_consensus_pubkey(&"11".repeat(32)).unwrap(),
            vec![0x11; 32]
        );
        let e = parse_consensus_pubkey("1122").unwrap_err().to_string();
        assert!(e.contains("found 2 bytes"), "{e}");
    }

    #[test]
    fn an_edit_keeps_the_description_fields_not_given() {
        let edit = EditDescriptionFlags {
            website: Some("https://new".into()),
            ..Default::default()
        };
        let d = edit.apply(Some(pb::Description {
            moniker: "m".into(),
            identity: "i".into(),
            website: "https://old".into(),
            details: "d".into(),
        }));
        assert_eq!(
            (d.moniker.as_str(), d.website.as_str(), d.details.as_str()),
            ("m", "https://new", "d")
        );
        assert!(EditDescriptionFlags::default().is_empty());
        assert!(!edit.is_empty());
    }
}
