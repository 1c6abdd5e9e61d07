//! The dev chain's JSON-RPC server, wire-compatible with CometBFT v0.38's: JSON-RPC 2.0 POSTs at
//! `/` (single and batch) and the URI form `GET /<method>?arg=value` (strings in quotes, bytes
//! as `0x`-hex, numbers bare). Results are the `tendermint-rpc` crate's response types, so
//! `tendermint-rpc` and CosmJS parse them as they parse CometBFT's; where that crate's serializer
//! differs from CometBFT's wire format, [`compat`] fixes the JSON up (each fix-up is listed there).
//!
//! Methods: `status`, `health`, `genesis`, `abci_info`, `abci_query`, `broadcast_tx_async`,
//! `broadcast_tx_sync`, `broadcast_tx_commit`, `tx`, `tx_search`, `block`, `block_by_hash`,
//! `block_results`, `commit`, `validators`.
//!
//! Errors have CometBFT's shape: `{"code":-32603,"message":"Internal error","data":"..."}`;
//! -32700 for unparsable JSON, -32600 for a bad request (a wrong path, a height of zero),
//! -32601 for an unknown method, -32602 for params that do not convert.

use super::block::tx_proof;
use super::producer::Admission;
use super::{DevError, DevHandle};
use axum::body::Bytes as Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use prost::bytes::Bytes;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::str::FromStr;
use tendermint::block::Height;
use tendermint_proto::v0_38::abci as pb;
use tendermint_rpc::endpoint;
use tendermint_rpc::query::{Operand, Operation, Query};

/// The CometBFT version `status` reports.
pub const COMETBFT_VERSION: &str = "0.38.17";
/// CometBFT's p2p protocol version.
const P2P_PROTOCOL: u64 = 8;
/// The channels a CometBFT v0.38 node reports.
const CHANNELS: &str = "40202122233038606100";
/// Default and largest page sizes of the search methods.
const DEFAULT_PER_PAGE: usize = 30;
const MAX_PER_PAGE: usize = 100;

/// A JSON-RPC error, as CometBFT writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcError {
    /// JSON-RPC error code.
    pub code: i32,
    /// The fixed message of the code.
    pub message: &'static str,
    /// Details (omitted when empty).
    pub data: String,
}

impl RpcError {
    /// -32700.
    pub fn parse(data: impl Into<String>) -> RpcError {
        RpcError {
            code: -32700,
            message: "Parse error",
            data: data.into(),
        }
    }
    /// -32600.
    pub fn invalid_request(data: impl Into<String>) -> RpcError {
        RpcError {
            code: -32600,
            message: "Invalid Request",
            data: data.into(),
        }
    }
    /// -32601.
    pub fn method_not_found() -> RpcError {
        RpcError {
            code: -32601,
            message: "Method not found",
            data: String::new(),
        }
    }
    /// -32602.
    pub fn invalid_params(data: impl Into<String>) -> RpcError {
        RpcError {
            code: -32602,
            message: "Invalid params",
            data: format!("error converting json params to arguments: {}", data.into()),
        }
    }
    /// -32603.
    pub fn internal(data: impl Into<String>) -> RpcError {
        RpcError {
            code: -32603,
            message: "Internal error",
            data: data.into(),
        }
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("code".into(), json!(self.code));
        m.insert("message".into(), json!(self.message));
        if !self.data.is_empty() {
            m.insert("data".into(), json!(self.data));
        }
        Value::Object(m)
    }
}

impl From<DevError> for RpcError {
    fn from(e: DevError) -> Self {
        RpcError::internal(e.to_string())
    }
}

/// A response envelope: `result` or `error`, never both (CometBFT omits the empty one).
fn envelope(id: &Value, r: Result<Value, RpcError>) -> Value {
    match r {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": e.to_json()}),
    }
}

/// What the method's arguments are, for converting params.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A string.
    Str,
    /// Bytes: base64 in JSON-RPC.
    Bytes,
    /// Bytes: hex in JSON-RPC.
    HexBytes,
    /// An integer (a JSON number or a string of digits).
    Int,
    /// A boolean.
    Bool,
}

#[derive(Clone, Debug)]
enum ArgValue {
    Str(String),
    Bytes(Vec<u8>),
    Int(i64),
    Bool(bool),
}

/// The params of a call, before conversion.
enum Params {
    Json(Value),
    Uri(Vec<(String, String)>),
}

/// Converted arguments.
#[derive(Clone)]
struct Args(BTreeMap<&'static str, ArgValue>);

impl Args {
    fn str(&self, name: &str) -> Option<String> {
        match self.0.get(name) {
            Some(ArgValue::Str(s)) => Some(s.clone()),
            _ => None,
        }
    }
    fn bytes(&self, name: &str) -> Option<Vec<u8>> {
        match self.0.get(name) {
            Some(ArgValue::Bytes(b)) => Some(b.clone()),
            _ => None,
        }
    }
    fn int(&self, name: &str) -> Option<i64> {
        match self.0.get(name) {
            Some(ArgValue::Int(i)) => Some(*i),
            _ => None,
        }
    }
    fn bool(&self, name: &str) -> bool {
        matches!(self.0.get(name), Some(ArgValue::Bool(true)))
    }
}

fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s).map_err(|e| format!("invalid hex {s:?}: {e}"))
}

fn json_arg(name: &str, kind: Kind, v: &Value) -> Result<Option<ArgValue>, String> {
    if v.is_null() {
        return Ok(None);
    }
    let want = |what: &str| format!("{name}: expected {what}, got {v}");
    Ok(Some(match kind {
        Kind::Str => ArgValue::Str(v.as_str().ok_or_else(|| want("a string"))?.to_string()),
        Kind::Bytes => {
            let s = v.as_str().ok_or_else(|| want("a base64 string"))?;
            ArgValue::Bytes(
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|e| format!("{name}: invalid base64: {e}"))?,
            )
        }
        Kind::HexBytes => {
            let s = v.as_str().ok_or_else(|| want("a hex string"))?;
            ArgValue::Bytes(decode_hex(s).map_err(|e| format!("{name}: {e}"))?)
        }
        Kind::Int => ArgValue::Int(match v {
            Value::Number(n) => n.as_i64().ok_or_else(|| want("an integer"))?,
            Value::String(s) => s.parse().map_err(|_| want("an integer"))?,
            _ => return Err(want("an integer")),
        }),
        Kind::Bool => ArgValue::Bool(match v {
            Value::Bool(b) => *b,
            Value::String(s) if s == "true" => true,
            Value::String(s) if s == "false" => false,
            _ => return Err(want("a boolean")),
        }),
    }))
}

/// CometBFT's URI argument rules: bare integers, `0x`-hex for bytes and strings, quoted
/// strings (raw bytes for byte arguments), otherwise the value parsed as JSON.
fn uri_arg(name: &str, kind: Kind, raw: &str) -> Result<Option<ArgValue>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    let is_int = {
        let digits = raw.strip_prefix('-').unwrap_or(raw);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    let quoted = raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"');
    let hex_str = raw.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"));
    match kind {
        Kind::Int if is_int => {
            return Ok(Some(ArgValue::Int(
                raw.parse()
                    .map_err(|_| format!("{name}: {raw} is out of range"))?,
            )))
        }
        Kind::Bytes | Kind::HexBytes if hex_str => {
            return Ok(Some(ArgValue::Bytes(
                decode_hex(&raw[2..]).map_err(|e| format!("{name}: {e}"))?,
            )))
        }
        Kind::Str if hex_str => {
            let b = decode_hex(&raw[2..]).map_err(|e| format!("{name}: {e}"))?;
            return Ok(Some(ArgValue::Str(
                String::from_utf8(b).map_err(|_| format!("{name}: hex is not UTF-8"))?,
            )));
        }
        Kind::Bytes | Kind::HexBytes if quoted => {
            let s: String = serde_json::from_str(raw)
                .map_err(|e| format!("{name}: invalid quoted string: {e}"))?;
            return Ok(Some(ArgValue::Bytes(s.into_bytes())));
        }
        _ => {}
    }
    if hex_str {
        return Err(format!(
            "{name}: got a hex string arg, but expected {kind:?}"
        ));
    }
    let v: Value = serde_json::from_str(raw).map_err(|e| {
        format!("{name}: {raw:?} is not valid (strings go in double quotes, bytes as 0x-hex): {e}")
    })?;
    json_arg(name, kind, &v)
}

fn convert(spec: &[(&'static str, Kind)], params: &Params) -> Result<Args, RpcError> {
    let mut out = BTreeMap::new();
    match params {
        Params::Json(Value::Null) => {}
        Params::Json(Value::Object(m)) => {
            for (name, kind) in spec {
                if let Some(v) = m.get(*name) {
                    if let Some(a) = json_arg(name, *kind, v).map_err(RpcError::invalid_params)? {
                        out.insert(*name, a);
                    }
                }
            }
        }
        Params::Json(Value::Array(list)) => {
            if list.len() > spec.len() {
                return Err(RpcError::invalid_params(format!(
                    "expected {} parameters, got {}",
                    spec.len(),
                    list.len()
                )));
            }
            for ((name, kind), v) in spec.iter().zip(list) {
                if let Some(a) = json_arg(name, *kind, v).map_err(RpcError::invalid_params)? {
                    out.insert(*name, a);
                }
            }
        }
        Params::Json(other) => {
            return Err(RpcError::invalid_params(format!(
                "params must be an object or an array, got {other}"
            )))
        }
        Params::Uri(pairs) => {
            for (name, kind) in spec {
                if let Some((_, raw)) = pairs.iter().find(|(k, _)| k == name) {
                    if let Some(a) = uri_arg(name, *kind, raw).map_err(RpcError::invalid_params)? {
                        out.insert(*name, a);
                    }
                }
            }
        }
    }
    Ok(Args(out))
}

/// The arguments of each method, in positional order.
fn spec(method: &str) -> Option<&'static [(&'static str, Kind)]> {
    use Kind::*;
    Some(match method {
        "status" | "health" | "genesis" | "abci_info" => &[],
        "abci_query" => &[
            ("path", Str),
            ("data", HexBytes),
            ("height", Int),
            ("prove", Bool),
        ],
        "broadcast_tx_async" | "broadcast_tx_sync" | "broadcast_tx_commit" => &[("tx", Bytes)],
        "tx" => &[("hash", Bytes), ("prove", Bool)],
        "tx_search" => &[
            ("query", Str),
            ("prove", Bool),
            ("page", Int),
            ("per_page", Int),
            ("order_by", Str),
        ],
        "block" | "block_results" | "commit" => &[("height", Int)],
        "block_by_hash" => &[("hash", Bytes)],
        "validators" => &[("height", Int), ("page", Int), ("per_page", Int)],
        _ => return None,
    })
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, RpcError> {
    serde_json::to_value(v)
        .map_err(|e| RpcError::internal(format!("cannot encode the result: {e}")))
}

/// Where `tendermint-rpc`'s serializers differ from CometBFT v0.38's JSON, the JSON is fixed up
/// to CometBFT's:
/// - validators (in `status` and `validators`) carry `voting_power` (and, in `validators`,
///   `proposer_priority`), not genesis-style `power` and `name`;
/// - the first block's `last_commit` is an empty commit, not `null` (CosmJS reads
///   `last_commit.block_id.hash`);
/// - `block_results` has no `begin_block_events`/`end_block_events` (gone in v0.38);
/// - CheckTx results have no `sender`/`priority`/`mempool_error` (gone in v0.38);
/// - `abci_info`'s `last_block_app_hash` is base64, not a list of numbers.
pub mod compat {
    use serde_json::{json, Value};

    /// A validator as `status`/`validators` show it.
    pub fn validator(v: &mut Value, with_priority: bool) {
        if let Some(m) = v.as_object_mut() {
            if let Some(p) = m.remove("power") {
                m.insert("voting_power".into(), p);
            }
            m.remove("name");
            if with_priority {
                m.entry("proposer_priority").or_insert(json!("0"));
            }
        }
    }

    /// A block as `block` shows it.
    pub fn block(b: &mut Value) {
        if b.get("last_commit").is_some_and(Value::is_null) {
            b["last_commit"] = json!({
                "height": "0",
                "round": 0,
                "block_id": {"hash": "", "parts": {"total": 0, "hash": ""}},
                "signatures": []
            });
        }
    }

    /// A CheckTx result.
    pub fn check_tx(c: &mut Value) {
        if let Some(m) = c.as_object_mut() {
            m.remove("sender");
            m.remove("priority");
            m.remove("mempool_error");
        }
    }

    /// A `block_results` result.
    pub fn block_results(r: &mut Value) {
        if let Some(m) = r.as_object_mut() {
            m.remove("begin_block_events");
            m.remove("end_block_events");
            m.entry("finalize_block_events").or_insert(json!([]));
        }
    }

    /// An `abci_info` result: the app hash is base64, not a list of numbers.
    pub fn abci_info(r: &mut Value) {
        use base64::Engine;
        let hash = &mut r["response"]["last_block_app_hash"];
        if let Value::Array(items) = hash {
            let bytes: Option<Vec<u8>> = items
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            if let Some(bytes) = bytes {
                *hash = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
            }
        }
    }
}

fn hash32(b: &[u8]) -> Result<[u8; 32], RpcError> {
    b.try_into()
        .map_err(|_| RpcError::invalid_params(format!("hash has {} bytes, expected 32", b.len())))
}

fn tm_hash(b: &[u8; 32]) -> tendermint::Hash {
    tendermint::Hash::Sha256(*b)
}

fn height_of(h: i64) -> Result<Height, RpcError> {
    Height::try_from(h).map_err(|e| RpcError::internal(format!("height {h}: {e}")))
}

fn latest_height(h: &DevHandle) -> i64 {
    h.latest().map(|l| l.height).unwrap_or(0)
}

/// CometBFT's height argument: none = the latest; at least the first height, at most the
/// latest.
fn resolve_height(h: &DevHandle, arg: Option<i64>) -> Result<i64, RpcError> {
    let latest = latest_height(h);
    let base = h.setup().initial_height;
    let Some(height) = arg else {
        if latest == 0 {
            return Err(RpcError::internal("no block has been committed yet"));
        }
        return Ok(latest);
    };
    if height <= 0 {
        return Err(RpcError::invalid_request(format!(
            "height must be greater than zero (requested height: {height})"
        )));
    }
    if height > latest {
        return Err(RpcError::internal(format!(
            "height must be less than or equal to the head of the node's blockchain (requested height: {height}, blockchain height: {latest})"
        )));
    }
    if height < base {
        return Err(RpcError::internal(format!(
            "height is not available (requested height: {height}, base height: {base})"
        )));
    }
    Ok(height)
}

fn u64h(h: i64) -> u64 {
    u64::try_from(h).unwrap_or(0)
}

fn exec_result(r: &pb::ExecTxResult) -> Result<tendermint::abci::types::ExecTxResult, RpcError> {
    tendermint::abci::types::ExecTxResult::try_from(r.clone())
        .map_err(|e| RpcError::internal(format!("tx result: {e}")))
}

fn stored_block(
    h: &DevHandle,
    height: i64,
) -> Result<(tendermint::Block, tendermint::block::Id), RpcError> {
    let s = h
        .store()
        .block(u64h(height))
        .map_err(|e| RpcError::internal(e.to_string()))?
        .ok_or_else(|| RpcError::internal(format!("no block at height {height}")))?;
    let block = tendermint::Block::try_from(s.block.unwrap_or_default())
        .map_err(|e| RpcError::internal(format!("stored block {height}: {e}")))?;
    let id = tendermint::block::Id::try_from(s.block_id.unwrap_or_default())
        .map_err(|e| RpcError::internal(format!("stored block id {height}: {e}")))?;
    Ok((block, id))
}

fn block_response(h: &DevHandle, height: i64) -> Result<Value, RpcError> {
    let (block, block_id) = stored_block(h, height)?;
    let mut v = to_value(&endpoint::block::Response { block_id, block })?;
    compat::block(&mut v["block"]);
    Ok(v)
}

fn validator_json(h: &DevHandle, with_priority: bool) -> Result<Value, RpcError> {
    let mut v = to_value(&h.setup().validator)?;
    compat::validator(&mut v, with_priority);
    Ok(v)
}

fn status(h: &DevHandle) -> Result<Value, RpcError> {
    let setup = h.setup();
    let latest = h.latest();
    let (earliest_hash, earliest_app_hash, earliest_height, earliest_time) =
        match h.store().block(u64h(setup.initial_height)).ok().flatten() {
            Some(_) if latest.is_some() => {
                let (b, id) = stored_block(h, setup.initial_height)?;
                (
                    id.hash,
                    b.header.app_hash.clone(),
                    b.header.height,
                    b.header.time,
                )
            }
            _ => (
                tendermint::Hash::None,
                tendermint::AppHash::default(),
                Height::from(0u32),
                setup.genesis_time(),
            ),
        };
    let (latest_hash, latest_app_hash, latest_height, latest_time) = match &latest {
        Some(l) => (
            tm_hash(&l.hash),
            tendermint::AppHash::try_from(l.header_app_hash.clone())
                .map_err(|e| RpcError::internal(e.to_string()))?,
            height_of(l.height)?,
            l.time,
        ),
        None => (
            tendermint::Hash::None,
            tendermint::AppHash::default(),
            Height::from(0u32),
            setup.genesis_time(),
        ),
    };
    let node_info = tendermint::node::Info {
        protocol_version: tendermint::node::info::ProtocolVersionInfo {
            p2p: P2P_PROTOCOL,
            block: super::block::BLOCK_PROTOCOL,
            app: crate::APP_VERSION,
        },
        id: setup.node_id,
        listen_addr: tendermint::node::info::ListenAddress::new("none".into()),
        network: setup.chain_id.clone(),
        version: serde_json::from_value(json!(COMETBFT_VERSION))
            .map_err(|e| RpcError::internal(e.to_string()))?,
        channels: serde_json::from_value(json!(CHANNELS))
            .map_err(|e| RpcError::internal(e.to_string()))?,
        moniker: "ballast-dev"
            .parse()
            .map_err(|e| RpcError::internal(format!("moniker: {e}")))?,
        other: tendermint::node::info::OtherInfo {
            tx_index: tendermint::node::info::TxIndexStatus::On,
            rpc_address: "".into(),
        },
    };
    let resp = endpoint::status::Response {
        node_info,
        sync_info: endpoint::status::SyncInfo {
            earliest_block_hash: earliest_hash,
            earliest_app_hash,
            earliest_block_height: earliest_height,
            earliest_block_time: earliest_time,
            latest_block_hash: latest_hash,
            latest_app_hash,
            latest_block_height: latest_height,
            latest_block_time: latest_time,
            catching_up: false,
        },
        validator_info: setup.validator.clone(),
    };
    let mut v = to_value(&resp)?;
    v["validator_info"] = validator_json(h, false)?;
    Ok(v)
}

fn tx_response(
    h: &DevHandle,
    hash: [u8; 32],
    c: &super::CommittedTx,
    prove: bool,
) -> Result<endpoint::tx::Response, RpcError> {
    let proof = if prove {
        let txs: Vec<Bytes> = h
            .store()
            .block(u64h(c.height))
            .map_err(|e| RpcError::internal(e.to_string()))?
            .and_then(|b| b.block)
            .and_then(|b| b.data)
            .map(|d| d.txs.into_iter().map(Bytes::from).collect())
            .unwrap_or_default();
        tx_proof(&txs, usize::try_from(c.index).unwrap_or(usize::MAX))
    } else {
        None
    };
    Ok(endpoint::tx::Response {
        hash: tm_hash(&hash),
        height: height_of(c.height)?,
        index: c.index,
        tx_result: exec_result(&c.result)?,
        tx: c.tx.clone(),
        proof,
    })
}

fn attr_matches(op: &Operation, value: &str) -> bool {
    let cmp_num = |o: &Operand| -> Option<std::cmp::Ordering> {
        let v: i128 = value.parse().ok()?;
        let o: i128 = match o {
            Operand::Signed(i) => i128::from(*i),
            Operand::Unsigned(u) => i128::from(*u),
            Operand::String(s) => s.parse().ok()?,
            _ => return None,
        };
        Some(v.cmp(&o))
    };
    use std::cmp::Ordering::*;
    match op {
        Operation::Eq(Operand::String(s)) => value == s,
        Operation::Eq(o) => cmp_num(o) == Some(Equal),
        Operation::Lt(o) => cmp_num(o) == Some(Less),
        Operation::Lte(o) => matches!(cmp_num(o), Some(Less | Equal)),
        Operation::Gt(o) => cmp_num(o) == Some(Greater),
        Operation::Gte(o) => matches!(cmp_num(o), Some(Greater | Equal)),
        Operation::Contains(s) => value.contains(s.as_str()),
        Operation::Exists => true,
    }
}

fn tx_search(h: &DevHandle, a: &Args) -> Result<Value, RpcError> {
    let q = a
        .str("query")
        .ok_or_else(|| RpcError::internal("query cannot be empty"))?;
    let query = Query::from_str(&q).map_err(|e| RpcError::internal(e.to_string()))?;
    let descending = match a.str("order_by").as_deref() {
        None | Some("") | Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            return Err(RpcError::internal(
                "expected order_by to be either `asc` or `desc` or empty",
            ))
        }
    };
    let prove = a.bool("prove");
    let latest = latest_height(h);
    let mut lo = h.setup().initial_height;
    let mut hi = latest;
    let mut by_hash: Option<[u8; 32]> = None;
    let mut event_conds = Vec::new();
    for c in &query.conditions {
        match (c.key.as_str(), &c.operation) {
            ("tx.hash", Operation::Eq(Operand::String(s))) => {
                let b = decode_hex(s).map_err(RpcError::internal)?;
                by_hash = Some(hash32(&b)?);
            }
            ("tx.hash", _) => return Err(RpcError::internal("tx.hash supports only =")),
            ("tx.height", op) => {
                let n = |o: &Operand| -> Result<i64, RpcError> {
                    match o {
                        Operand::Signed(i) => Ok(*i),
                        Operand::Unsigned(u) => i64::try_from(*u)
                            .map_err(|_| RpcError::internal("tx.height is out of range")),
                        _ => Err(RpcError::internal(
                            "tx.height must be compared with an integer",
                        )),
                    }
                };
                match op {
                    Operation::Eq(o) => {
                        let v = n(o)?;
                        lo = lo.max(v);
                        hi = hi.min(v);
                    }
                    Operation::Gt(o) => lo = lo.max(n(o)?.saturating_add(1)),
                    Operation::Gte(o) => lo = lo.max(n(o)?),
                    Operation::Lt(o) => hi = hi.min(n(o)?.saturating_sub(1)),
                    Operation::Lte(o) => hi = hi.min(n(o)?),
                    Operation::Exists => {}
                    Operation::Contains(_) => {
                        return Err(RpcError::internal("tx.height does not support CONTAINS"))
                    }
                }
            }
            _ => event_conds.push(c.clone()),
        }
    }
    let matches_events = |r: &pb::ExecTxResult| {
        event_conds.iter().all(|c| {
            let Some((ty, key)) = c.key.split_once('.') else {
                return false;
            };
            r.events.iter().any(|e| {
                e.r#type == ty
                    && e.attributes
                        .iter()
                        .any(|at| at.key == key && attr_matches(&c.operation, &at.value))
            })
        })
    };
    // (height, index, tx hash, committed tx)
    let mut found: Vec<(i64, u32, [u8; 32], super::CommittedTx)> = Vec::new();
    if let Some(hash) = by_hash {
        if let Some(c) = h.committed_tx(&hash)? {
            if c.height >= lo && c.height <= hi && matches_events(&c.result) {
                found.push((c.height, c.index, hash, c));
            }
        }
    } else {
        let mut height = lo;
        while height <= hi {
            let store = h.store();
            let txs = store
                .block(u64h(height))
                .map_err(|e| RpcError::internal(e.to_string()))?
                .and_then(|b| b.block)
                .and_then(|b| b.data)
                .map(|d| d.txs)
                .unwrap_or_default();
            if !txs.is_empty() {
                let results = store
                    .results(u64h(height))
                    .map_err(|e| RpcError::internal(e.to_string()))?
                    .map(|r| r.tx_results)
                    .unwrap_or_default();
                for (i, (tx, r)) in txs.iter().zip(&results).enumerate() {
                    if matches_events(r) {
                        let index = u32::try_from(i).unwrap_or(u32::MAX);
                        found.push((
                            height,
                            index,
                            crate::tx::tx_hash(tx),
                            super::CommittedTx {
                                height,
                                index,
                                tx: tx.clone(),
                                result: r.clone(),
                            },
                        ));
                    }
                }
            }
            height += 1;
        }
    }
    found.sort_by_key(|(h, i, _, _)| (*h, *i));
    if descending {
        found.reverse();
    }
    let total = found.len();
    let per_page = match a.int("per_page") {
        Some(n) if n >= 1 => usize::try_from(n).unwrap_or(MAX_PER_PAGE).min(MAX_PER_PAGE),
        _ => DEFAULT_PER_PAGE,
    };
    let pages = total.saturating_sub(1) / per_page + 1;
    let page = match a.int("page") {
        None => 1,
        Some(p) if p >= 1 && usize::try_from(p).is_ok_and(|p| p <= pages) => {
            usize::try_from(p).unwrap_or(1)
        }
        Some(p) => {
            return Err(RpcError::invalid_request(format!(
                "page should be within [1, {pages}] range, given {p}"
            )))
        }
    };
    let txs = found
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|(_, _, hash, c)| tx_response(h, *hash, c, prove))
        .collect::<Result<Vec<_>, _>>()?;
    to_value(&endpoint::tx_search::Response {
        txs,
        total_count: u32::try_from(total).unwrap_or(u32::MAX),
    })
}

fn check_tx_json(r: &pb::ResponseCheckTx) -> Result<tendermint::abci::response::CheckTx, RpcError> {
    tendermint::abci::response::CheckTx::try_from(r.clone())
        .map_err(|e| RpcError::internal(format!("check tx result: {e}")))
}

async fn admit(h: &DevHandle, a: &Args) -> Result<([u8; 32], pb::ResponseCheckTx), RpcError> {
    let tx = a
        .bytes("tx")
        .ok_or_else(|| RpcError::invalid_params("tx: missing"))?;
    let hash = crate::tx::tx_hash(&tx);
    match h.check_tx(tx).await? {
        Admission::Refused(e) => Err(RpcError::internal(e.to_string())),
        Admission::Checked(r) => Ok((hash, r)),
    }
}

/// Runs one call.
async fn call(h: &DevHandle, method: &str, params: &Params) -> Result<Value, RpcError> {
    let spec = spec(method).ok_or_else(RpcError::method_not_found)?;
    let a = convert(spec, params)?;
    match method {
        "health" => to_value(&endpoint::health::Response {}),
        "status" => status(h),
        "genesis" => {
            let mut v = to_value(&endpoint::genesis::Response {
                genesis: h.setup().genesis.clone(),
            })?;
            // Keep app_state exactly as the file has it.
            v["genesis"]["app_state"] = h.setup().genesis.app_state.clone();
            Ok(v)
        }
        "abci_info" => {
            let info = h.info().await?;
            let mut v = to_value(&endpoint::abci_info::Response {
                response: tendermint::abci::response::Info::try_from(info)
                    .map_err(|e| RpcError::internal(e.to_string()))?,
            })?;
            compat::abci_info(&mut v);
            Ok(v)
        }
        "abci_query" => {
            let req = pb::RequestQuery {
                data: a.bytes("data").unwrap_or_default().into(),
                path: a.str("path").unwrap_or_default(),
                height: a.int("height").unwrap_or(0),
                prove: a.bool("prove"),
            };
            let r = h.query(req).await?;
            let proof = r
                .proof_ops
                .map(tendermint::merkle::proof::ProofOps::try_from)
                .transpose()
                .map_err(|e| RpcError::internal(format!("proof: {e}")))?;
            let mut v = to_value(&endpoint::abci_query::Response {
                response: endpoint::abci_query::AbciQuery {
                    code: r.code.into(),
                    log: r.log,
                    info: r.info,
                    index: r.index,
                    key: r.key.to_vec(),
                    value: r.value.to_vec(),
                    proof,
                    height: Height::try_from(r.height)
                        .map_err(|e| RpcError::internal(e.to_string()))?,
                    codespace: r.codespace,
                },
            })?;
            // CometBFT names the field proofOps.
            if let Some(m) = v["response"].as_object_mut() {
                if let Some(p) = m.remove("proof") {
                    m.insert("proofOps".into(), p);
                }
            }
            Ok(v)
        }
        "broadcast_tx_async" => {
            let (hash, _) = admit(h, &a).await?;
            to_value(&endpoint::broadcast::tx_async::Response {
                codespace: String::new(),
                code: 0.into(),
                data: Default::default(),
                log: String::new(),
                hash: tm_hash(&hash),
            })
        }
        "broadcast_tx_sync" => {
            let (hash, r) = admit(h, &a).await?;
            to_value(&endpoint::broadcast::tx_sync::Response {
                codespace: r.codespace,
                code: r.code.into(),
                data: r.data,
                log: r.log,
                hash: tm_hash(&hash),
            })
        }
        "broadcast_tx_commit" => {
            let (hash, r) = admit(h, &a).await?;
            let check_tx = check_tx_json(&r)?;
            let (tx_result, height) = if r.code != 0 {
                (pb::ExecTxResult::default(), 0)
            } else {
                let timeout = h.config().commit_timeout;
                match h.wait_for_tx(hash, timeout).await? {
                    Some(c) => (c.result, c.height),
                    None => {
                        return Err(RpcError::internal(
                            "timed out waiting for tx to be included in a block",
                        ))
                    }
                }
            };
            let mut v = to_value(&endpoint::broadcast::tx_commit::Response {
                check_tx,
                tx_result: exec_result(&tx_result)?,
                hash: tm_hash(&hash),
                height: Height::try_from(height).map_err(|e| RpcError::internal(e.to_string()))?,
            })?;
            compat::check_tx(&mut v["check_tx"]);
            Ok(v)
        }
        "tx" => {
            let b = a
                .bytes("hash")
                .ok_or_else(|| RpcError::invalid_params("hash: missing"))?;
            let hash = hash32(&b)?;
            let c = h.committed_tx(&hash)?.ok_or_else(|| {
                RpcError::internal(format!("tx ({}) not found", hex::encode_upper(hash)))
            })?;
            to_value(&tx_response(h, hash, &c, a.bool("prove"))?)
        }
        "tx_search" => {
            // A search may read many blocks: keep it off the async workers.
            let h = h.clone();
            tokio::task::spawn_blocking(move || tx_search(&h, &a))
                .await
                .map_err(|e| RpcError::internal(format!("search task failed: {e}")))?
        }
        "block" => {
            let height = resolve_height(h, a.int("height"))?;
            block_response(h, height)
        }
        "commit" => {
            let height = resolve_height(h, a.int("height"))?;
            let latest = latest_height(h);
            // The latest block's commit is the one this node saw; older ones are the canonical
            // commits carried by the next block.
            let (commit, canonical) = if height == latest {
                let s = h
                    .store()
                    .block(u64h(height))
                    .map_err(|e| RpcError::internal(e.to_string()))?
                    .ok_or_else(|| RpcError::internal(format!("no block at height {height}")))?;
                let c = tendermint::block::Commit::try_from(s.seen_commit.unwrap_or_default())
                    .map_err(|e| RpcError::internal(format!("stored commit {height}: {e}")))?;
                (c, false)
            } else {
                let (next, _) = stored_block(h, height + 1)?;
                let c = next.last_commit.ok_or_else(|| {
                    RpcError::internal(format!("block {} has no last commit", height + 1))
                })?;
                (c, true)
            };
            let (b, _) = stored_block(h, height)?;
            let signed_header =
                tendermint::block::signed_header::SignedHeader::new(b.header, commit)
                    .map_err(|e| RpcError::internal(format!("signed header: {e}")))?;
            to_value(&endpoint::commit::Response {
                signed_header,
                canonical,
            })
        }
        "block_by_hash" => {
            let b = a
                .bytes("hash")
                .ok_or_else(|| RpcError::invalid_params("hash: missing"))?;
            match h
                .store()
                .height_of(&hash32(&b)?)
                .map_err(|e| RpcError::internal(e.to_string()))?
            {
                Some(height) => block_response(h, i64::try_from(height).unwrap_or(i64::MAX)),
                None => Ok(
                    json!({"block_id": {"hash": "", "parts": {"total": 0, "hash": ""}}, "block": null}),
                ),
            }
        }
        "block_results" => {
            let height = resolve_height(h, a.int("height"))?;
            let r = h
                .store()
                .results(u64h(height))
                .map_err(|e| RpcError::internal(e.to_string()))?
                .ok_or_else(|| {
                    RpcError::internal(format!("could not find results for height #{height}"))
                })?;
            let txs_results = r
                .tx_results
                .iter()
                .map(exec_result)
                .collect::<Result<Vec<_>, _>>()?;
            let events = r
                .events
                .iter()
                .map(|e| {
                    tendermint::abci::Event::try_from(e.clone())
                        .map_err(|e| RpcError::internal(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut v = to_value(&endpoint::block_results::Response {
                height: height_of(height)?,
                txs_results: Some(txs_results),
                finalize_block_events: events,
                begin_block_events: None,
                end_block_events: None,
                validator_updates: Vec::new(),
                consensus_param_updates: None,
                app_hash: tendermint::AppHash::try_from(r.app_hash.to_vec())
                    .map_err(|e| RpcError::internal(e.to_string()))?,
            })?;
            compat::block_results(&mut v);
            Ok(v)
        }
        "validators" => {
            let height = resolve_height(h, a.int("height"))?;
            if let Some(p) = a.int("page") {
                if p != 1 {
                    return Err(RpcError::invalid_request(format!(
                        "page should be within [1, 1] range, given {p}"
                    )));
                }
            }
            let mut v = to_value(&endpoint::validators::Response::new(
                height_of(height)?,
                vec![h.setup().validator.clone()],
                1,
            ))?;
            v["validators"] = json!([validator_json(h, true)?]);
            Ok(v)
        }
        _ => Err(RpcError::method_not_found()),
    }
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec_pretty(v).unwrap_or_default(),
    )
        .into_response()
}

/// A valid request id: a string or a number; `None` for a notification.
fn request_id(req: &Map<String, Value>) -> Result<Option<Value>, String> {
    match req.get("id") {
        None | Some(Value::Null) => Ok(None),
        Some(v @ (Value::String(_) | Value::Number(_))) => Ok(Some(v.clone())),
        Some(v) => Err(format!("invalid id {v}: expected a string or a number")),
    }
}

async fn json_rpc(h: &DevHandle, path: &str, body: &[u8]) -> Response {
    let parse_error = |msg: String| {
        json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &envelope(
                &json!(-1),
                Err(RpcError::parse(format!(
                    "error unmarshaling request: {msg}"
                ))),
            ),
        )
    };
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return parse_error(e.to_string()),
    };
    let list = match v {
        Value::Array(list) => list,
        single @ Value::Object(_) => vec![single],
        other => return parse_error(format!("expected a request object or a batch, got {other}")),
    };
    let mut reqs = Vec::with_capacity(list.len());
    for r in list {
        let Value::Object(m) = r else {
            return parse_error(format!("a batch element is not a request object: {r}"));
        };
        let id = match request_id(&m) {
            Ok(id) => id,
            Err(e) => return parse_error(e),
        };
        let method = match m.get("method") {
            Some(Value::String(s)) => s.clone(),
            None => String::new(),
            Some(other) => return parse_error(format!("method must be a string, got {other}")),
        };
        let params = m.get("params").cloned().unwrap_or(Value::Null);
        reqs.push((id, method, params));
    }
    let mut out = Vec::new();
    for (id, method, params) in reqs {
        // A request without an id is a notification: it gets no answer.
        let Some(id) = id else { continue };
        let r = if path != "/" {
            Err(RpcError::invalid_request(format!("path {path} is invalid")))
        } else {
            call(h, &method, &Params::Json(params)).await
        };
        out.push(envelope(&id, r));
    }
    match out.len() {
        0 => StatusCode::OK.into_response(),
        1 => json_response(StatusCode::OK, &out[0]),
        _ => json_response(StatusCode::OK, &Value::Array(out)),
    }
}

fn percent_decode(s: &str) -> String {
    fn hexval(c: u8) -> Option<u8> {
        (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hexval(b[i + 1]), hexval(b[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

async fn uri_call(h: &DevHandle, method: &str, query: Option<&str>) -> Response {
    let id = json!(-1);
    let r = call(h, method, &Params::Uri(query_pairs(query))).await;
    let status = match &r {
        Ok(_) => StatusCode::OK,
        Err(e) if e.code == -32601 => StatusCode::NOT_FOUND,
        Err(e) if e.code == -32600 => StatusCode::BAD_REQUEST,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    json_response(status, &envelope(&id, r))
}

fn index() -> Response {
    let methods = [
        "abci_info",
        "abci_query",
        "block",
        "block_by_hash",
        "block_results",
        "broadcast_tx_async",
        "broadcast_tx_commit",
        "broadcast_tx_sync",
        "genesis",
        "health",
        "status",
        "tx",
        "tx_search",
        "validators",
    ];
    let mut s = String::from(
        "Ballast dev chain: CometBFT v0.38 JSON-RPC (POST / or GET /<method>?arg=...)\n\n",
    );
    for m in methods {
        s.push_str(m);
        s.push('\n');
    }
    ([(header::CONTENT_TYPE, "text/plain")], s).into_response()
}

/// The axum router of the JSON-RPC server (for embedding in another server).
pub fn router(handle: DevHandle) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { index() }).post(|State(h): State<DevHandle>, body: Body| async move {
                json_rpc(&h, "/", &body).await
            }),
        )
        .route(
            "/{method}",
            get(
                |State(h): State<DevHandle>, Path(method): Path<String>, RawQuery(q): RawQuery| async move {
                    uri_call(&h, &method, q.as_deref()).await
                },
            )
            .post(
                |State(h): State<DevHandle>, Path(method): Path<String>, body: Body| async move {
                    json_rpc(&h, &format!("/{method}"), &body).await
                },
            ),
        )
        .with_state(handle)
}

/// Serves the JSON-RPC on `listener` until `shutdown` resolves.
pub async fn serve_rpc(
    handle: DevHandle,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DevError> {
    axum::serve(listener, router(handle))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| DevError::Rpc(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(v: Option<ArgValue>) -> Vec<u8> {
        match v {
            Some(ArgValue::Bytes(b)) => b,
            other => panic!("not bytes: {other:?}"),
        }
    }

    #[test]
    fn uri_args_follow_cometbft_rules() {
        assert!(matches!(
            uri_arg("h", Kind::Int, "12"),
            Ok(Some(ArgValue::Int(12)))
        ));
        assert!(matches!(
            uri_arg("h", Kind::Int, "\"12\""),
            Ok(Some(ArgValue::Int(12)))
        ));
        assert!(uri_arg("h", Kind::Int, "abc").is_err());
        assert!(uri_arg("h", Kind::Int, "99999999999999999999").is_err());
        assert!(matches!(uri_arg("h", Kind::Int, ""), Ok(None)));
        assert_eq!(
            bytes(uri_arg("tx", Kind::Bytes, "0x0aFF").unwrap()),
            vec![0x0a, 0xff]
        );
        assert_eq!(
            bytes(uri_arg("tx", Kind::Bytes, "\"ab\"").unwrap()),
            b"ab".to_vec()
        );
        assert!(uri_arg("tx", Kind::Bytes, "0xzz").is_err());
        assert!(uri_arg("tx", Kind::Bytes, "ab").is_err());
        assert!(matches!(
            uri_arg("q", Kind::Str, "\"tx.height=5\""),
            Ok(Some(ArgValue::Str(s))) if s == "tx.height=5"
        ));
        assert!(matches!(
            uri_arg("q", Kind::Str, "0x6869"),
            Ok(Some(ArgValue::Str(s))) if s == "hi"
        ));
        assert!(uri_arg("q", Kind::Str, "unquoted").is_err());
        assert!(uri_arg("p", Kind::Bool, "0x01").is_err());
        assert!(matches!(
            uri_arg("p", Kind::Bool, "true"),
            Ok(Some(ArgValue::Bool(true)))
        ));
    }

    #[test]
    fn json_args_accept_what_tendermint_rpc_and_cosmjs_send() {
        assert!(matches!(
            json_arg("h", Kind::Int, &json!(5)),
            Ok(Some(ArgValue::Int(5)))
        ));
        assert!(matches!(
            json_arg("h", Kind::Int, &json!("5")),
            Ok(Some(ArgValue::Int(5)))
        ));
        assert!(json_arg("h", Kind::Int, &json!(5.5)).is_err());
        assert!(json_arg("h", Kind::Int, &json!([])).is_err());
        assert!(matches!(json_arg("h", Kind::Int, &Value::Null), Ok(None)));
        assert_eq!(
            bytes(json_arg("tx", Kind::Bytes, &json!("AQI=")).unwrap()),
            vec![1, 2]
        );
        assert!(json_arg("tx", Kind::Bytes, &json!("%%%")).is_err());
        assert_eq!(
            bytes(json_arg("d", Kind::HexBytes, &json!("0102")).unwrap()),
            vec![1, 2]
        );
        assert!(json_arg("d", Kind::HexBytes, &json!("0x")).is_err());
        let spec = &[("a", Kind::Int), ("b", Kind::Str)];
        let args = convert(spec, &Params::Json(json!([1, "x"])))
            .map_err(|e| e.data)
            .unwrap();
        assert_eq!(args.int("a"), Some(1));
        assert_eq!(args.str("b").as_deref(), Some("x"));
        let e = convert(spec, &Params::Json(json!([1, "x", 3])))
            .err()
            .unwrap();
        assert_eq!(e.code, -32602);
        let e = convert(spec, &Params::Json(json!(true))).err().unwrap();
        assert_eq!(e.code, -32602);
    }

    #[test]
    fn query_strings_are_percent_decoded() {
        assert_eq!(percent_decode("%22tx.height%3D1%22"), "\"tx.height=1\"");
        assert_eq!(percent_decode("a+b%2"), "a b%2");
        assert_eq!(percent_decode("%zz%"), "%zz%");
        assert_eq!(
            query_pairs(Some("height=5&&x&prove=true")),
            vec![
                ("height".to_string(), "5".to_string()),
                ("x".to_string(), String::new()),
                ("prove".to_string(), "true".to_string())
            ]
        );
    }

    #[test]
    fn errors_have_cometbft_shape() {
        assert_eq!(
            envelope(&json!(1), Err(RpcError::method_not_found())),
            json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "Method not found"}})
        );
        assert_eq!(
            envelope(&json!("a"), Err(RpcError::internal("boom"))),
            json!({"jsonrpc": "2.0", "id": "a", "error": {"code": -32603, "message": "Internal error", "data": "boom"}})
        );
        assert_eq!(
            envelope(&json!(1), Ok(json!({}))),
            json!({"jsonrpc": "2.0", "id": 1, "result": {}})
        );
    }
}
