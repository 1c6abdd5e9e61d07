//! Shared by the `dev_*` tests: a minimal CometBFT home for the dev chain, a raw HTTP client
//! for its JSON-RPC, and a consensus hook that records the vote-extension calls.

#![allow(dead_code)]

use ballast_app::hooks::{ConsensusHook, ExtendedVote, VoteContext};
use ballast_framework::{BlockContext, StateRead, TxError};
use ballast_tests::keys::TestAccount;
use ballast_tests::{genesis_app_state, CHAIN_ID};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tendermint::private_key::PrivateKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Funds of every genesis account.
pub const FUNDS: u128 = 1_000_000_000;

/// The dev validator's key (a fixed seed).
pub fn validator_key() -> tendermint::private_key::Ed25519 {
    tendermint::private_key::Ed25519::try_from(&[42u8; 32][..]).unwrap()
}

/// The dev validator's BLS key (fixed key material), listed in genesis by [`write_home`].
pub fn validator_bls_key() -> ballast_checkpointing::BlsSecretKey {
    ballast_checkpointing::BlsSecretKey::from_ikm(&[42u8; 32]).unwrap()
}

/// The dev validator.
pub fn validator() -> tendermint::validator::Info {
    tendermint::validator::Info::new(
        tendermint::PublicKey::from(validator_key().verification_key()),
        10u32.into(),
    )
}

/// Writes `<home>/config/genesis.json` (one ed25519 validator, `accounts` funded with
/// [`FUNDS`]) and `<home>/config/priv_validator_key.json`, in CometBFT's formats.
pub fn write_home(home: &Path, accounts: &[TestAccount], max_block_bytes: u64) {
    let v = validator();
    let config = home.join("config");
    // Every genesis validator must have a BLS key in genesis (the app refuses InitChain
    // otherwise).
    let mut app_state = genesis_app_state(accounts, FUNDS);
    let address: [u8; 20] = v.address.as_bytes().try_into().unwrap();
    app_state["checkpointing"] = serde_json::json!({
        "bls_keys": [ballast_app::bls_key::genesis_bls_key(&validator_bls_key(), address)]
    });
    std::fs::create_dir_all(&config).unwrap();
    let genesis = serde_json::json!({
        "genesis_time": "2024-05-01T12:00:00.000000000Z",
        "chain_id": CHAIN_ID,
        "initial_height": "1",
        "consensus_params": {
            "block": {"max_bytes": max_block_bytes.to_string(), "max_gas": "-1"},
            "evidence": {"max_age_num_blocks": "100000", "max_age_duration": "172800000000000", "max_bytes": "1048576"},
            "validator": {"pub_key_types": ["ed25519"]},
            "version": {"app": "0"},
            "abci": {"vote_extensions_enable_height": "1"}
        },
        "validators": [{
            "address": v.address.to_string(),
            "pub_key": serde_json::to_value(v.pub_key).unwrap(),
            "power": "10",
            "name": "dev"
        }],
        "app_hash": "",
        "app_state": app_state
    });
    std::fs::write(
        config.join("genesis.json"),
        serde_json::to_vec_pretty(&genesis).unwrap(),
    )
    .unwrap();
    let key = tendermint_config::PrivValidatorKey {
        address: v.address,
        pub_key: v.pub_key,
        priv_key: PrivateKey::Ed25519(validator_key()),
    };
    std::fs::write(
        config.join("priv_validator_key.json"),
        serde_json::to_vec_pretty(&key).unwrap(),
    )
    .unwrap();
}

/// An HTTP answer: status and body.
pub struct HttpReply {
    /// HTTP status code.
    pub status: u16,
    /// The body as text.
    pub body: String,
}

impl HttpReply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request over a fresh connection.
pub async fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> HttpReply {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        let mut out = String::new();
        let mut rest = rest;
        loop {
            let (len, tail) = rest.split_once("\r\n").unwrap();
            let len = usize::from_str_radix(len.trim(), 16).unwrap();
            if len == 0 {
                break;
            }
            out.push_str(&tail[..len]);
            rest = &tail[len + 2..];
        }
        out
    } else {
        rest.to_string()
    };
    HttpReply { status, body }
}

/// A JSON-RPC 2.0 call: the raw body text of the answer.
pub async fn rpc(addr: &str, method: &str, params: serde_json::Value) -> HttpReply {
    let req = serde_json::json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    http(addr, "POST", "/", &serde_json::to_vec(&req).unwrap()).await
}

/// Parses a CometBFT JSON-RPC answer with tendermint-rpc's own envelope and response type.
pub fn parse<R: tendermint_rpc::Response>(r: &HttpReply) -> R {
    R::from_string(&r.body)
        .unwrap_or_else(|e| panic!("tendermint-rpc cannot parse it: {e}\n{}", r.body))
}

/// Every vote-extension call the app received.
#[derive(Default)]
pub struct Calls {
    /// (height, block hash) of each ExtendVote.
    pub extend: Vec<(u64, [u8; 32])>,
    /// (height, block hash, extension) of each VerifyVoteExtension.
    pub verify: Vec<(u64, [u8; 32], Vec<u8>)>,
    /// (height, extensions in the last commit) of each PrepareProposal.
    pub prepare: Vec<(u64, Vec<Vec<u8>>)>,
}

/// Extends every vote with `be_u64(height) || block_hash` and records every call.
pub struct RecordingHook(pub Arc<Mutex<Calls>>);

/// The extension [`RecordingHook`] makes.
pub fn extension(height: u64, hash: &[u8; 32]) -> Vec<u8> {
    let mut v = height.to_be_bytes().to_vec();
    v.extend_from_slice(hash);
    v
}

impl ConsensusHook for RecordingHook {
    fn kind(&self) -> u8 {
        9
    }
    fn extend_vote(&self, _s: &dyn StateRead, ctx: &VoteContext) -> Result<Vec<u8>, TxError> {
        self.0
            .lock()
            .unwrap()
            .extend
            .push((ctx.height, ctx.block_hash));
        Ok(extension(ctx.height, &ctx.block_hash))
    }
    fn verify_vote_extension(
        &self,
        _s: &dyn StateRead,
        ctx: &VoteContext,
        _validator: [u8; 20],
        ext: &[u8],
    ) -> Result<(), TxError> {
        self.0
            .lock()
            .unwrap()
            .verify
            .push((ctx.height, ctx.block_hash, ext.to_vec()));
        if ext == extension(ctx.height, &ctx.block_hash).as_slice() {
            Ok(())
        } else {
            Err(TxError::new("devtest", 1, "wrong extension"))
        }
    }
    fn prepare(
        &self,
        _s: &dyn StateRead,
        ctx: &BlockContext,
        votes: &[ExtendedVote],
    ) -> Result<Option<Vec<u8>>, TxError> {
        self.0.lock().unwrap().prepare.push((
            ctx.height,
            votes.iter().map(|v| v.extension.clone()).collect(),
        ));
        Ok(None)
    }
}
