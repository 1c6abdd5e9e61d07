//! `ballastd query …` and `ballastd status`: reads through CometBFT's `abci_query` (or gRPC
//! with `--grpc`), printed like Cosmos SDK CLIs print them.

use super::client::{runtime, ClientFlags};
use crate::Global;
use anyhow::Context;
use ballast_client::txbuild::{self, ClientError};
use prost::Message;
use serde_json::{json, Value};

/// `ballastd query` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Bank queries.
    #[command(subcommand)]
    Bank(BankCmd),
    /// An account's number and sequence.
    Account {
        /// bech32 address.
        address: String,
        #[command(flatten)]
        flags: ClientFlags,
    },
    /// A committed tx by hash.
    Tx {
        /// Hex tx hash.
        hash: String,
        #[command(flatten)]
        flags: ClientFlags,
    },
    /// Bitcoin light client queries.
    #[command(subcommand)]
    Btclightclient(super::query_btclightclient::Cmd),
    /// Checkpointing queries.
    #[command(subcommand)]
    Checkpointing(super::query_checkpointing::Cmd),
    /// Restaking queries: operators, power, native bonds, BTC delegations, rewards.
    #[command(subcommand)]
    Restaking(super::query_restaking::Cmd),
    /// Consumers queries: consumers, opt-ins, allocations, validator sets and their updates.
    #[command(subcommand)]
    Consumers(super::query_consumers::Cmd),
}

/// Flags of the module queries: the node, the output format, and the height to read at.
#[derive(clap::Args, Clone, Debug)]
pub struct QueryFlags {
    /// Read at this height (0 = latest).
    #[arg(long, default_value_t = 0)]
    pub height: u64,
    #[command(flatten)]
    pub client: ClientFlags,
}

impl QueryFlags {
    /// Runs the query `path` (the ABCI path, which is also the gRPC method) and decodes the
    /// answer.
    pub async fn query<Req, Resp>(&self, path: &'static str, req: Req) -> anyhow::Result<Resp>
    where
        Req: Message + Send + Sync + 'static,
        Resp: Message + Default + Send + Sync + 'static,
    {
        Ok(self.query_at(path, req).await?.0)
    }

    /// [`QueryFlags::query`], with the height the answer was read at.
    pub async fn query_at<Req, Resp>(
        &self,
        path: &'static str,
        req: Req,
    ) -> anyhow::Result<(Resp, u64)>
    where
        Req: Message + Send + Sync + 'static,
        Resp: Message + Default + Send + Sync + 'static,
    {
        if let Some(url) = self.client.grpc_url() {
            return crate::grpc_client::unary(&url, path, req, self.height).await;
        }
        let rpc = self.client.rpc()?;
        let r = rpc
            .abci_query(path, req.encode_to_vec(), self.height, false)
            .await?;
        if r.code.is_err() {
            return Err(ClientError::Query {
                path: path.to_string(),
                code: r.code.value(),
                codespace: r.codespace,
                log: r.log,
            }
            .into());
        }
        let answer = Resp::decode(r.value.as_slice()).map_err(|e| ClientError::Decode {
            what: path.to_string(),
            why: e.to_string(),
        })?;
        Ok((answer, r.height.value()))
    }

    /// Prints `v` as `--output` says.
    pub fn print(&self, v: &Value) {
        self.client.print(v)
    }
}

/// `ballastd query bank` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum BankCmd {
    /// Balances of an account.
    Balances {
        /// bech32 address.
        address: String,
        /// Only this denom.
        #[arg(long)]
        denom: Option<String>,
        /// Read at this height (0 = latest).
        #[arg(long, default_value_t = 0)]
        height: u64,
        #[command(flatten)]
        flags: ClientFlags,
    },
}

/// `ballastd status` options.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    flags: ClientFlags,
}

fn coin_json(c: &cosmrs::proto::cosmos::base::v1beta1::Coin) -> Value {
    json!({"amount": c.amount, "denom": c.denom})
}

pub fn run(c: Cmd, _g: &Global) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        match c {
            Cmd::Bank(BankCmd::Balances {
                address,
                denom,
                height,
                flags,
            }) => {
                check_address(&address)?;
                let balances = match &flags.grpc_url() {
                    Some(url) => crate::grpc_client::all_balances(url, &address, height).await?,
                    None => {
                        let rpc = flags.rpc()?;
                        txbuild::query_all_balances(&rpc, &address, height).await?
                    }
                };
                match denom {
                    Some(d) => {
                        let c = balances
                            .iter()
                            .find(|c| c.denom == d)
                            .map(coin_json)
                            .unwrap_or_else(|| json!({"amount": "0", "denom": d}));
                        flags.print(&json!({ "balance": c }));
                    }
                    None => flags.print(&json!({
                        "balances": balances.iter().map(coin_json).collect::<Vec<_>>(),
                        "pagination": {"next_key": null, "total": balances.len().to_string()},
                    })),
                }
                Ok(())
            }
            Cmd::Account { address, flags } => {
                check_address(&address)?;
                let acc = match &flags.grpc_url() {
                    Some(url) => crate::grpc_client::account(url, &address).await?,
                    None => txbuild::query_account(&flags.rpc()?, &address).await?,
                };
                let acc = acc.with_context(|| format!("account {address} not found"))?;
                flags.print(&json!({
                    "account": {
                        "@type": "/cosmos.auth.v1beta1.BaseAccount",
                        "address": acc.address,
                        "account_number": acc.account_number.to_string(),
                        "sequence": acc.sequence.to_string(),
                    }
                }));
                Ok(())
            }
            Cmd::Tx { hash, flags } => {
                let h = parse_hash(&hash)?;
                let rpc = flags.rpc()?;
                let r = rpc
                    .tx(h)
                    .await?
                    .with_context(|| format!("tx {} not found", hex::encode_upper(h)))?;
                let events: Vec<Value> = r
                    .tx_result
                    .events
                    .iter()
                    .map(|e| {
                        json!({
                            "type": e.kind,
                            "attributes": e.attributes.iter().map(|a| json!({
                                "key": a.key_str().unwrap_or_default(),
                                "value": a.value_str().unwrap_or_default(),
                                "index": a.index(),
                            })).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                flags.print(&json!({
                    "height": r.height.value().to_string(),
                    "txhash": hex::encode_upper(h),
                    "codespace": r.tx_result.codespace,
                    "code": r.tx_result.code.value(),
                    "raw_log": r.tx_result.log,
                    "gas_wanted": r.tx_result.gas_wanted.to_string(),
                    "gas_used": r.tx_result.gas_used.to_string(),
                    "index": r.index,
                    "tx": base64_encode(&r.tx),
                    "events": events,
                }));
                if r.tx_result.code.is_err() {
                    std::process::exit(1);
                }
                Ok(())
            }
            Cmd::Btclightclient(c) => super::query_btclightclient::run(c).await,
            Cmd::Checkpointing(c) => super::query_checkpointing::run(c).await,
            Cmd::Restaking(c) => super::query_restaking::run(c).await,
            Cmd::Consumers(c) => super::query_consumers::run(c).await,
        }
    })
}

pub fn status(a: StatusArgs, _g: &Global) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let s = a.flags.rpc()?.status().await?;
        // CometBFT's own JSON, as `<chain>d status` prints it.
        let v = serde_json::to_value(&s)?;
        if a.flags.output == "json" {
            println!("{v}");
        } else {
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Ok(())
    })
}

/// Rejects an address that is not a `ballast1…` bech32 account address.
pub fn check_address(a: &str) -> anyhow::Result<()> {
    a.parse::<ballast_framework::Address>()
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("bad address {a:?}: {e}"))
}

/// Parses a 64-hex-digit tx hash.
pub fn parse_hash(s: &str) -> anyhow::Result<[u8; 32]> {
    let b = hex::decode(s.trim_start_matches("0x"))
        .map_err(|e| anyhow::anyhow!("bad tx hash {s:?}: {e}"))?;
    b.try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("bad tx hash {s:?}: {} bytes, expected 32", b.len()))
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
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
    fn query_commands_are_well_formed_and_parse() {
        QueryCli::command().debug_assert();
        let parsed = QueryCli::try_parse_from([
            "query",
            "checkpointing",
            "epoch-of-height",
            "15",
            "--height",
            "7",
        ])
        .unwrap();
        match parsed.cmd {
            Cmd::Checkpointing(super::super::query_checkpointing::Cmd::EpochOfHeight {
                hub_height,
                flags,
            }) => assert_eq!((hub_height, flags.height), (15, 7)),
            other => panic!("parsed as {other:?}"),
        }
    }
}
