//! `ballastd query btclightclient …`: the Bitcoin light client's queries
//! (`/ballast.btclightclient.v1.Query/<Method>`), over CometBFT's `abci_query` or gRPC.
//!
//! Block hashes are read and printed in Bitcoin's display order (byte-reversed, as bitcoind
//! prints them); other bytes are lower-case hex; 64-bit numbers are strings, as Cosmos CLIs
//! print them.

use super::query::QueryFlags;
use anyhow::Context;
use ballast_proto::ballast::btclightclient::v1 as pb;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Length of a raw Bitcoin block header.
pub const HEADER_LEN: usize = 80;

/// `ballastd query btclightclient` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// The tip of the best chain.
    Tip {
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// The base header (the lowest the light client knows).
    BaseHeader {
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// A known header (best chain or fork) by its block hash.
    Header {
        /// Block hash, 64 hex digits in Bitcoin's display order.
        hash: String,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// The best chain's header at a Bitcoin height.
    HeaderAt {
        /// Bitcoin block height.
        #[arg(value_name = "HEIGHT")]
        btc_height: u64,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// Depth of a best-chain header (0 for the tip).
    Depth {
        /// Block hash, 64 hex digits in Bitcoin's display order.
        hash: String,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// Whether a header is known at all (best chain or fork).
    Contains {
        /// Block hash, 64 hex digits in Bitcoin's display order.
        hash: String,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// A page of best-chain headers, by height.
    MainChain {
        /// First height of the page (default: the base header, or the tip with --descending).
        #[arg(long)]
        start_height: Option<u64>,
        /// Headers in the page (0 = 100; at most 1000).
        #[arg(long, default_value_t = 0)]
        limit: u32,
        /// Walk from the start towards the base instead of towards the tip.
        #[arg(long)]
        descending: bool,
        #[command(flatten)]
        flags: QueryFlags,
    },
    /// The light client's params.
    Params {
        #[command(flatten)]
        flags: QueryFlags,
    },
}

/// Runs one query and prints its answer.
pub async fn run(c: Cmd) -> anyhow::Result<()> {
    match c {
        Cmd::Tip { flags } => {
            let r: pb::QueryTipResponse = flags
                .query(
                    "/ballast.btclightclient.v1.Query/Tip",
                    pb::QueryTipRequest {},
                )
                .await?;
            flags.print(&json!({ "header": opt_header_json(r.header.as_ref())? }));
        }
        Cmd::BaseHeader { flags } => {
            let r: pb::QueryBaseHeaderResponse = flags
                .query(
                    "/ballast.btclightclient.v1.Query/BaseHeader",
                    pb::QueryBaseHeaderRequest {},
                )
                .await?;
            flags.print(&json!({ "header": opt_header_json(r.header.as_ref())? }));
        }
        Cmd::Header { hash, flags } => {
            let hash = parse_block_hash(&hash)?;
            let r: pb::QueryHeaderByHashResponse = flags
                .query(
                    "/ballast.btclightclient.v1.Query/HeaderByHash",
                    pb::QueryHeaderByHashRequest { hash },
                )
                .await?;
            flags.print(&json!({
                "header": opt_header_json(r.header.as_ref())?,
                "on_best_chain": r.on_best_chain,
            }));
        }
        Cmd::HeaderAt { btc_height, flags } => {
            let r: pb::QueryHeaderByHeightResponse = flags
                .query(
                    "/ballast.btclightclient.v1.Query/HeaderByHeight",
                    pb::QueryHeaderByHeightRequest { height: btc_height },
                )
                .await?;
            flags.print(&json!({ "header": opt_header_json(r.header.as_ref())? }));
        }
        Cmd::Depth { hash, flags } => {
            let hash = parse_block_hash(&hash)?;
            let r: pb::QueryDepthResponse = flags
                .query(
                    "/ballast.btclightclient.v1.Query/Depth",
                    pb::QueryDepthRequest { hash },
                )
                .await?;
            flags.print(&json!({ "depth": r.depth.to_string() }));
        }
        Cmd::Contains { hash, flags } => {
            let hash = parse_block_hash(&hash)?;
            let r: pb::QueryContainsHashResponse = flags
                .query(
                    "/ballast.btclightclient.v1.Query/ContainsHash",
                    pb::QueryContainsHashRequest { hash },
                )
                .await?;
            flags.print(&json!({ "contains": r.contains }));
        }
        Cmd::MainChain {
            start_height,
            limit,
            descending,
            flags,
        } => {
            let r: pb::QueryMainChainResponse = flags
                .query(
                    "/ballast.btclightclient.v1.Query/MainChain",
                    pb::QueryMainChainRequest {
                        start_height,
                        limit,
                        descending,
                    },
                )
                .await?;
            let headers = r
                .headers
                .iter()
                .map(header_json)
                .collect::<anyhow::Result<Vec<_>>>()?;
            flags.print(&json!({
                "headers": headers,
                "next_height": r.next_height.map(|h| h.to_string()),
            }));
        }
        Cmd::Params { flags } => {
            let r: pb::QueryParamsResponse = flags
                .query(
                    "/ballast.btclightclient.v1.Query/Params",
                    pb::QueryParamsRequest {},
                )
                .await?;
            let p = r.params.context("the answer has no params")?;
            flags.print(&json!({
                "params": {
                    "network": p.network,
                    "max_headers_per_msg": p.max_headers_per_msg,
                }
            }));
        }
    }
    Ok(())
}

/// Checks a block hash argument (64 hex digits, display order, optional `0x`) and returns it
/// in lower case, as the chain reads it.
pub fn parse_block_hash(s: &str) -> anyhow::Result<String> {
    let t = s.trim().trim_start_matches("0x");
    if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        anyhow::bail!(
            "bad block hash {s:?}: expected 64 hex digits in Bitcoin's display order, found {} characters",
            t.len()
        );
    }
    Ok(t.to_ascii_lowercase())
}

/// `bytes` reversed, in hex: how Bitcoin displays hashes stored in internal byte order.
pub fn display_hex(bytes: &[u8]) -> String {
    let mut b = bytes.to_vec();
    b.reverse();
    hex::encode(b)
}

/// The block hash of a raw 80-byte header, in display order.
pub fn header_hash(raw: &[u8]) -> String {
    let once = Sha256::digest(raw);
    display_hex(&Sha256::digest(once))
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    u32::from_le_bytes(a)
}

/// The fields of a raw 80-byte header, `None` when it is not 80 bytes.
pub fn header_fields(raw: &[u8]) -> Option<Value> {
    if raw.len() != HEADER_LEN {
        return None;
    }
    Some(json!({
        "version": le_u32(&raw[0..4]) as i32,
        "prev_block_hash": display_hex(&raw[4..36]),
        "merkle_root": display_hex(&raw[36..68]),
        "time": le_u32(&raw[68..72]),
        "bits": format!("{:08x}", le_u32(&raw[72..76])),
        "nonce": le_u32(&raw[76..80]),
    }))
}

/// A header as the CLI prints it: the answer's fields plus the decoded header.
pub fn header_json(h: &pb::BtcHeaderInfo) -> anyhow::Result<Value> {
    let fields = header_fields(&h.header).with_context(|| {
        format!(
            "the chain answered a {}-byte header for {}, expected {HEADER_LEN}",
            h.header.len(),
            h.hash
        )
    })?;
    let mut v = json!({
        "hash": h.hash,
        "height": h.height.to_string(),
        "cumulative_work": h.cumulative_work,
        "header": hex::encode(&h.header),
    });
    if let (Some(m), Value::Object(f)) = (v.as_object_mut(), fields) {
        m.extend(f);
    }
    Ok(v)
}

fn opt_header_json(h: Option<&pb::BtcHeaderInfo>) -> anyhow::Result<Value> {
    header_json(h.context("the answer has no header")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bitcoin's regtest genesis header.
    const REGTEST_GENESIS: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4adae5494dffff7f2002000000";

    #[test]
    fn header_fields_and_hash_read_like_bitcoind() {
        let raw = hex::decode(REGTEST_GENESIS).unwrap();
        assert_eq!(
            header_hash(&raw),
            "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
        );
        let f = header_fields(&raw).unwrap();
        assert_eq!(f["version"], 1);
        assert_eq!(f["prev_block_hash"], "0".repeat(64));
        assert_eq!(
            f["merkle_root"],
            "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
        );
        assert_eq!(f["time"], 1_296_688_602u32);
        assert_eq!(f["bits"], "207fffff");
        assert_eq!(f["nonce"], 2);
        assert!(header_fields(&raw[..79]).is_none());
    }

    #[test]
    fn block_hash_arguments_are_display_hex() {
        let h = "0F9188F13CB7B2C71F2A335E3A4FC328BF5BEB436012AFCA590B1A11466E2206";
        assert_eq!(parse_block_hash(h).unwrap(), h.to_ascii_lowercase());
        assert_eq!(
            parse_block_hash(&format!("0x{h}")).unwrap(),
            h.to_ascii_lowercase()
        );
        for bad in ["", "00", &h[..63], &format!("{h}00"), &h.replace('F', "g")] {
            let e = parse_block_hash(bad).unwrap_err().to_string();
            assert!(e.contains("64 hex digits"), "{bad:?}: {e}");
        }
    }
}
