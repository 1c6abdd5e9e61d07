//! Reads checkpointing state from a running node through CometBFT's JSON-RPC (`abci_query` on
//! the module's gRPC paths, `block`, `status`), as a vigilante or an explorer would.

use ballast_client::rpc::CometRpc;
use ballast_proto::ballast::checkpointing::v1 as pb;
use prost::Message;
use std::time::Duration;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime starts")
        .block_on(f)
}

fn rpc(node: &str) -> CometRpc {
    CometRpc::new(node).unwrap_or_else(|e| panic!("bad node address {node:?}: {e}"))
}

/// An ABCI query of `path` with `req` at the latest height: the decoded answer, or the
/// query's `(code, codespace, log)` when the node refuses it.
pub fn query<Req: Message, Resp: Message + Default>(
    node: &str,
    path: &str,
    req: &Req,
) -> Result<Resp, (u32, String, String)> {
    let r = block_on(rpc(node).abci_query(path, req.encode_to_vec(), 0, false))
        .unwrap_or_else(|e| panic!("abci_query {path} on {node}: {e}"));
    if r.code.is_err() {
        return Err((r.code.value(), r.codespace, r.log));
    }
    Ok(Resp::decode(r.value.as_slice())
        .unwrap_or_else(|e| panic!("{path} answered bytes that do not decode: {e}")))
}

/// `/ballast.checkpointing.v1.Query/Checkpoint` for `epoch`.
pub fn checkpoint(node: &str, epoch: u64) -> Result<pb::CheckpointRecord, (u32, String, String)> {
    let r: pb::QueryCheckpointResponse = query(
        node,
        "/ballast.checkpointing.v1.Query/Checkpoint",
        &pb::QueryCheckpointRequest { epoch },
    )?;
    Ok(r.checkpoint.expect("a found checkpoint has a record"))
}

/// `/ballast.checkpointing.v1.Query/BlsKey` for a validator (40 hex digits).
pub fn bls_key(node: &str, validator_hex: &str) -> Result<pb::BlsKeyRecord, (u32, String, String)> {
    let r: pb::QueryBlsKeyResponse = query(
        node,
        "/ballast.checkpointing.v1.Query/BlsKey",
        &pb::QueryBlsKeyRequest {
            validator_address: validator_hex.to_string(),
        },
    )?;
    Ok(r.bls_key.expect("a found key has a record"))
}

/// Waits until the node has a block at or above `height`; returns the latest height.
pub fn wait_for_height(node: &str, height: u64, timeout: Duration) -> u64 {
    block_on(rpc(node).wait_for_height(height, timeout))
        .unwrap_or_else(|e| panic!("waiting for height {height} on {node}: {e}"))
}

/// The CometBFT hash of the block at `height` (RPC `block`).
pub fn block_hash(node: &str, height: u64) -> [u8; 32] {
    let h = tendermint::block::Height::try_from(height).expect("a valid height");
    let r = block_on(rpc(node).perform(tendermint_rpc::endpoint::block::Request::new(h)))
        .unwrap_or_else(|e| panic!("block {height} on {node}: {e}"));
    r.block_id
        .hash
        .as_bytes()
        .try_into()
        .expect("a block hash is 32 bytes")
}
