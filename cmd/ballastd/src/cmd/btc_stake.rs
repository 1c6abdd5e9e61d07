//! The staker's Bitcoin commands, under `ballastd btc`:
//!
//! - `keygen --out <file>`: a new BTC key file; prints its x-only public key.
//! - `stake`: builds the staking output from the chain's params, has bitcoind's wallet fund
//!   and sign the staking tx, registers the delegation on Ballast, broadcasts the tx, and with
//!   `--wait-inclusion` proves its inclusion once it is k deep in Ballast's light client.
//! - `unbond`: completes the unbonding tx with the staker's signature and the covenant
//!   signatures gathered on chain, broadcasts it, and tells Ballast (`MsgBtcUndelegate`).
//! - `withdraw`: after the staking time (or the unbonding time, for the unbonding output or a
//!   slashing tx's change) spends the output through its timelock leaf to an address.
//!
//! `stake` registers the delegation *before* it broadcasts the staking tx: the delegation then
//! exists (and the covenant committee can sign it) by the time the tx confirms, and a request
//! the chain refuses costs no Bitcoin fee and locks no coins (the wallet's coins are unlocked
//! again). The cost of this order is a PENDING delegation with no Bitcoin tx behind it when the
//! broadcast then fails; it never gains power, and the signed tx is printed so it can be sent
//! later.

use super::btc_bitcoind::BitcoindFlags;
use super::btc_delegation::{
    blocks_remaining, chain_btc_params, delegation_outputs, inclusion_proof, parse_txid,
    parse_xonly_arg, signed_unbonding_tx, timelocked_outputs, type_url, withdrawal_tx,
};
use super::client::runtime;
use super::tx::{outcome_json, report, TxFlags};
use super::tx_restaking::{
    delegation_json, query_flags, send_delegation, send_inclusion_proof, Signer,
};
use crate::Global;
use anyhow::{anyhow, bail, Context};
use ballast_client::btc_key::{load_btc_key, new_btc_key, write_btc_key, xonly};
use ballast_proto::ballast::btclightclient::v1 as lc_pb;
use ballast_proto::ballast::restaking::v1 as pb;
use ballast_restaking::btc::scripts::StakingInfo;
use bitcoin::absolute::LockTime;
use bitcoin::consensus::encode::{serialize, serialize_hex};
use bitcoin::transaction::Version;
use bitcoin::{Address, Network, Transaction};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The staker's `ballastd btc` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Write a new BTC key file (mode 0600, never overwriting) and print its public key.
    Keygen {
        /// The key file to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Stake BTC from bitcoind's wallet to an operator, and register the delegation.
    Stake(Box<StakeArgs>),
    /// Unbond early: broadcast the covenant-signed unbonding tx and tell Ballast.
    Unbond(Box<UnbondArgs>),
    /// Take the BTC back after its timelock (staking time, or unbonding time after unbonding).
    Withdraw(Box<WithdrawArgs>),
}

/// `ballastd btc stake` options.
#[derive(clap::Args, Debug)]
pub struct StakeArgs {
    /// Satoshis to stake.
    #[arg(long)]
    pub amount: u64,
    /// The operator's BTC key (64 hex digits).
    #[arg(long)]
    pub operator: String,
    /// Staking timelock, in Bitcoin blocks.
    #[arg(long)]
    pub staking_time: u32,
    /// The staker's BTC key file.
    #[arg(long)]
    pub btc_key: PathBuf,
    /// Fee rate of the staking tx, sat/vB (default: the wallet's estimate).
    #[arg(long)]
    pub fee_rate: Option<u64>,
    /// After broadcasting, wait until the staking tx is k blocks deep in Ballast's light
    /// client (k = the chain's btc_confirmation_depth) and send its inclusion proof.
    #[arg(long)]
    pub wait_inclusion: bool,
    /// How long --wait-inclusion waits, in seconds.
    #[arg(long, default_value_t = 7200)]
    pub inclusion_timeout: u64,
    /// How often --wait-inclusion looks, in seconds.
    #[arg(long, default_value_t = 5)]
    pub poll_interval: u64,
    #[command(flatten)]
    pub bitcoind: BitcoindFlags,
    /// Key name (or address) in the keyring that signs, pays and receives the rewards.
    #[arg(long)]
    pub from: String,
    #[command(flatten)]
    pub tx: TxFlags,
}

/// `ballastd btc unbond` options.
#[derive(clap::Args, Debug)]
pub struct UnbondArgs {
    /// The delegation's staking txid (64 hex digits, display order).
    #[arg(long)]
    pub staking_txid: String,
    /// The staker's BTC key file.
    #[arg(long)]
    pub btc_key: PathBuf,
    #[command(flatten)]
    pub bitcoind: BitcoindFlags,
    /// Key name (or address) in the keyring that signs and pays the Ballast tx.
    #[arg(long)]
    pub from: String,
    #[command(flatten)]
    pub tx: TxFlags,
}

/// `ballastd btc withdraw` options.
#[derive(clap::Args, Debug)]
pub struct WithdrawArgs {
    /// The delegation's staking txid (64 hex digits, display order).
    #[arg(long)]
    pub staking_txid: String,
    /// The staker's BTC key file.
    #[arg(long)]
    pub btc_key: PathBuf,
    /// Bitcoin address that receives the BTC.
    #[arg(long)]
    pub to: String,
    /// Fee rate, sat/vB.
    #[arg(long, default_value_t = 2)]
    pub fee_rate: u64,
    #[command(flatten)]
    pub bitcoind: BitcoindFlags,
    /// CometBFT RPC of a Ballast node (where the delegation is read).
    #[command(flatten)]
    pub query: super::query::QueryFlags,
}

pub fn run(c: Cmd, g: &Global) -> anyhow::Result<()> {
    match c {
        Cmd::Keygen { out } => {
            let sk = new_btc_key();
            write_btc_key(&out, &sk)?;
            println!(
                "{}",
                json!({
                    "public_key": hex::encode(xonly(&sk).serialize()),
                    "file": out.display().to_string(),
                })
            );
            Ok(())
        }
        Cmd::Stake(a) => stake(*a, g),
        Cmd::Unbond(a) => unbond(*a, g),
        Cmd::Withdraw(a) => withdraw(*a),
    }
}

/// The light client's name of a Bitcoin network.
fn light_client_network(n: Network) -> &'static str {
    match n {
        Network::Bitcoin => "mainnet",
        Network::Testnet => "testnet3",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        _ => "regtest",
    }
}

fn stake(a: StakeArgs, g: &Global) -> anyhow::Result<()> {
    let sk = load_btc_key(&a.btc_key)?;
    let operator = parse_xonly_arg("operator", &a.operator)?;
    let signer = Signer::open(g, &a.tx, &a.from)?;
    runtime()?.block_on(async {
        let qf = query_flags(&a.tx.client);
        let params = chain_btc_params(&super::query_restaking::params(&qf).await?)?;
        params.staking.check_staking_time(a.staking_time)?;
        params.staking.check_staking_value(a.amount)?;
        let btc = a.bitcoind.connect().await?;
        let lc: lc_pb::QueryParamsResponse = qf
            .query(
                "/ballast.btclightclient.v1.Query/Params",
                lc_pb::QueryParamsRequest {},
            )
            .await?;
        let lc_network = lc.params.map(|p| p.network).unwrap_or_default();
        if lc_network != light_client_network(btc.network) {
            bail!(
                "bitcoind runs {} but Ballast's light client follows {lc_network:?}: refusing to stake on the wrong network",
                light_client_network(btc.network)
            );
        }
        let staking = StakingInfo::from_params(
            &params.staking,
            xonly(&sk),
            &[operator],
            a.staking_time,
            a.amount,
        )?;
        let template = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: Vec::new(),
            output: vec![staking.output()],
        };
        let signed = btc.fund_and_sign(&template, a.fee_rate).await?;
        let (built, outcome) = match send_delegation(
            &signer,
            &a.tx,
            &sk,
            operator,
            a.staking_time,
            &signed,
            Some(0),
        )
        .await
        {
            Ok(r) => r,
            Err(e) => {
                btc.unlock(&signed).await;
                return Err(e);
            }
        };
        if outcome.code != 0 {
            btc.unlock(&signed).await;
            eprintln!("the staking tx was not broadcast: Ballast refused the delegation");
            report(&a.tx.client, &outcome);
            std::process::exit(1);
        }
        let txid = btc.send(&signed).await.map_err(|e| {
            anyhow!(
                "{e:#}\nthe delegation is registered (PENDING) but its staking tx was not \
                 broadcast; the signed tx is:\n{}",
                serialize_hex(&signed)
            )
        })?;
        eprintln!("staking tx {txid} broadcast; delegation registered");
        let mut inclusion = serde_json::Value::Null;
        if a.wait_inclusion {
            let proof_outcome = wait_and_prove(&a, &btc, &signer, txid, params.confirmation_depth)
                .await?;
            if proof_outcome.code != 0 {
                report(&a.tx.client, &proof_outcome);
                std::process::exit(1);
            }
            inclusion = outcome_json(&proof_outcome);
        }
        let mut v = delegation_json(&built);
        v["staking_tx"] = json!(hex::encode(serialize(&signed)));
        v["delegation_tx"] = outcome_json(&outcome);
        v["inclusion_proof_tx"] = inclusion;
        a.tx.client.print(&v);
        Ok(())
    })
}

/// Waits until the staking tx's block is `k` deep in Ballast's light client, then sends its
/// inclusion proof.
async fn wait_and_prove(
    a: &StakeArgs,
    btc: &super::btc_bitcoind::Bitcoind,
    signer: &Signer,
    txid: bitcoin::Txid,
    k: u64,
) -> anyhow::Result<ballast_client::txbuild::TxOutcome> {
    let qf = query_flags(&a.tx.client);
    let deadline = Instant::now() + Duration::from_secs(a.inclusion_timeout);
    let mut last = String::new();
    loop {
        let status = match btc.block_of_tx(txid).await? {
            None => "waiting for the staking tx to be mined".to_string(),
            Some(block) => {
                let depth: anyhow::Result<lc_pb::QueryDepthResponse> = qf
                    .query(
                        "/ballast.btclightclient.v1.Query/Depth",
                        lc_pb::QueryDepthRequest {
                            hash: block.to_string(),
                        },
                    )
                    .await;
                match depth {
                    Ok(d) if d.depth >= k => {
                        let proof = inclusion_proof(&btc.block(block).await?, txid)?;
                        return send_inclusion_proof(signer, &a.tx, txid, proof).await;
                    }
                    Ok(d) => format!(
                        "block {block} is {} deep in Ballast's light client, waiting for {k}",
                        d.depth
                    ),
                    Err(_) => format!(
                        "block {block} is not on Ballast's light client's best chain yet \
                         (its headers are relayed by a vigilante reporter)"
                    ),
                }
            }
        };
        if status != last {
            eprintln!("{status}");
            last = status;
        }
        if Instant::now() >= deadline {
            bail!(
                "gave up after {} s: {last}; send the proof later with `ballastd tx restaking \
                 add-inclusion-proof {txid}`",
                a.inclusion_timeout
            );
        }
        tokio::time::sleep(Duration::from_secs(a.poll_interval.max(1))).await;
    }
}

fn unbond(a: UnbondArgs, g: &Global) -> anyhow::Result<()> {
    let sk = load_btc_key(&a.btc_key)?;
    let txid = parse_txid(&a.staking_txid)?;
    let signer = Signer::open(g, &a.tx, &a.from)?;
    runtime()?.block_on(async {
        let del =
            super::query_restaking::btc_delegation(&query_flags(&a.tx.client), &txid.to_string())
                .await?;
        let unbonding = signed_unbonding_tx(&del, &sk)?;
        let btc = a.bitcoind.connect().await?;
        let unbonding_txid = btc.send(&unbonding).await?;
        eprintln!("unbonding tx {unbonding_txid} broadcast");
        let msg = pb::MsgBtcUndelegate {
            signer: signer.address.to_string(),
            staking_txid: txid.to_string(),
            unbonding_tx: serialize(&unbonding),
        };
        let summary = json!({
            "signer": msg.signer,
            "staking_txid": msg.staking_txid,
            "unbonding_txid": unbonding_txid.to_string(),
        });
        let outcome = signer
            .send(&a.tx, type_url::BTC_UNDELEGATE, &msg, summary)
            .await?;
        super::tx_restaking::finish(
            &a.tx.client,
            &outcome,
            json!({
                "staking_txid": txid.to_string(),
                "unbonding_txid": unbonding_txid.to_string(),
            }),
        )
    })
}

fn withdraw(a: WithdrawArgs) -> anyhow::Result<()> {
    let sk = load_btc_key(&a.btc_key)?;
    let txid = parse_txid(&a.staking_txid)?;
    let to: Address<bitcoin::address::NetworkUnchecked> =
        a.to.parse()
            .map_err(|e| anyhow!("bad --to address {:?}: {e}", a.to))?;
    runtime()?.block_on(async {
        let del = super::query_restaking::btc_delegation(&a.query, &txid.to_string()).await?;
        let outs = delegation_outputs(&del, &sk)?;
        let btc = a.bitcoind.connect().await?;
        let to = to
            .require_network(btc.network)
            .map_err(|e| anyhow!("bad --to address {:?}: {e}", a.to))?;
        let mut found = None;
        for out in timelocked_outputs(&outs)? {
            if let Some(conf) = btc.unspent_confirmations(out.outpoint).await? {
                found = Some((out, conf));
                break;
            }
        }
        let (out, confirmations) = found.with_context(|| {
            format!(
                "nothing to withdraw for delegation {txid}: bitcoind knows no unspent staking \
                 output, unbonding output or slashing change output of it (already withdrawn, \
                 or the staking tx is not broadcast?)"
            )
        })?;
        let remaining = blocks_remaining(confirmations, out.lock_blocks);
        if remaining > 0 {
            bail!(
                "the {} {} has {confirmations} confirmations and a timelock of {} blocks: it can \
                 be withdrawn in {remaining} more blocks",
                out.what,
                out.outpoint,
                out.lock_blocks
            );
        }
        let tx = withdrawal_tx(&out, &sk, to.script_pubkey(), a.fee_rate)?;
        let sent = btc.send(&tx).await?;
        let value = tx.output[0].value.to_sat();
        a.query.print(&json!({
            "txid": sent.to_string(),
            "spent": out.outpoint.to_string(),
            "spent_output": out.what,
            "value": value.to_string(),
            "fee": out.txout.value.to_sat().saturating_sub(value).to_string(),
            "to": to.to_string(),
        }));
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser)]
    struct BtcCli {
        #[command(subcommand)]
        cmd: Cmd,
    }

    #[test]
    fn staker_commands_are_well_formed_and_parse() {
        BtcCli::command().debug_assert();
        let parsed = BtcCli::try_parse_from([
            "btc",
            "stake",
            "--amount",
            "50000",
            "--operator",
            "ab",
            "--staking-time",
            "1000",
            "--btc-key",
            "k.json",
            "--bitcoin-rpc-url",
            "http://127.0.0.1:18443",
            "--bitcoin-wallet",
            "w",
            "--bitcoin-rpc-cookie",
            "/c",
            "--fee-rate",
            "3",
            "--wait-inclusion",
            "--from",
            "dev",
        ])
        .unwrap();
        match parsed.cmd {
            Cmd::Stake(s) => {
                assert_eq!(
                    (s.amount, s.staking_time, s.fee_rate),
                    (50_000, 1000, Some(3))
                );
                assert!(s.wait_inclusion);
                assert_eq!(s.bitcoind.bitcoin_wallet, "w");
            }
            other => panic!("parsed as {other:?}"),
        }
        let parsed = BtcCli::try_parse_from([
            "btc",
            "withdraw",
            "--staking-txid",
            "ab",
            "--btc-key",
            "k",
            "--to",
            "bcrt1q",
            "--node",
            "tcp://127.0.0.1:1",
        ])
        .unwrap();
        match parsed.cmd {
            Cmd::Withdraw(w) => assert_eq!(
                (w.fee_rate, w.query.client.node.as_str()),
                (2, "tcp://127.0.0.1:1")
            ),
            other => panic!("parsed as {other:?}"),
        }
        assert!(BtcCli::try_parse_from(["btc", "keygen"]).is_err());
    }

    #[test]
    fn network_names_match_the_light_clients() {
        assert_eq!(light_client_network(Network::Regtest), "regtest");
        assert_eq!(light_client_network(Network::Bitcoin), "mainnet");
        assert_eq!(light_client_network(Network::Testnet), "testnet3");
    }

    #[test]
    fn keygen_writes_a_key_file_that_loads_and_refuses_to_overwrite() {
        let dir = std::env::temp_dir().join(format!(
            "ballastd-keygen-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k.json");
        let g = Global {
            home: dir.clone(),
            log_level: "info".into(),
            log_format: "plain".into(),
        };
        run(Cmd::Keygen { out: path.clone() }, &g).unwrap();
        let sk = load_btc_key(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(&hex::encode(xonly(&sk).serialize())));
        let e = run(Cmd::Keygen { out: path.clone() }, &g)
            .unwrap_err()
            .to_string();
        assert!(e.contains("already exists"), "{e}");
        assert_eq!(load_btc_key(&path).unwrap(), sk);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
