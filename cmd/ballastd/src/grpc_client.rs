//! The CLI's gRPC path (`--grpc host:port`): the same reads and broadcasts as over CometBFT's
//! RPC, through a ballastd's gRPC server.

use anyhow::Context;
use ballast_client::txbuild::{AccountInfo, ClientError};
use ballast_proto::cosmos::auth::v1beta1 as auth;
use ballast_proto::cosmos::bank::v1beta1 as bank;
use ballast_proto::cosmos::tx::v1beta1 as txpb;
use cosmrs::proto::cosmos::base::v1beta1::Coin;
use prost::Message;
use tonic::transport::Channel;

async fn channel(url: &str) -> anyhow::Result<Channel> {
    Channel::from_shared(url.to_string())
        .with_context(|| format!("bad gRPC address {url}"))?
        .connect_timeout(std::time::Duration::from_secs(10))
        .connect()
        .await
        .with_context(|| format!("cannot reach gRPC at {url}"))
}

fn at_height<T>(msg: T, height: u64) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if height > 0 {
        if let Ok(v) = height.to_string().parse() {
            req.metadata_mut().insert("x-cosmos-block-height", v);
        }
    }
    req
}

/// Every balance of `address`.
pub async fn all_balances(url: &str, address: &str, height: u64) -> anyhow::Result<Vec<Coin>> {
    let mut c = bank::query_client::QueryClient::new(channel(url).await?);
    let r = c
        .all_balances(at_height(
            bank::QueryAllBalancesRequest {
                address: address.to_string(),
                ..Default::default()
            },
            height,
        ))
        .await
        .map_err(|s| anyhow::anyhow!("AllBalances: {}: {}", s.code(), s.message()))?
        .into_inner();
    Ok(r.balances
        .into_iter()
        .map(|c| Coin {
            denom: c.denom,
            amount: c.amount,
        })
        .collect())
}

/// The account at `address`, `None` if the chain does not know it.
pub async fn account(url: &str, address: &str) -> anyhow::Result<Option<AccountInfo>> {
    let mut c = auth::query_client::QueryClient::new(channel(url).await?);
    let r = match c
        .account(auth::QueryAccountRequest {
            address: address.to_string(),
        })
        .await
    {
        Ok(r) => r.into_inner(),
        Err(s) if s.code() == tonic::Code::NotFound => return Ok(None),
        Err(s) => anyhow::bail!("Account: {}: {}", s.code(), s.message()),
    };
    let any = r.account.context("Account: no account in the answer")?;
    let acc = cosmrs::proto::cosmos::auth::v1beta1::BaseAccount::decode(any.value.as_slice())
        .context("Account: the answer is not a BaseAccount")?;
    Ok(Some(AccountInfo {
        address: acc.address,
        account_number: acc.account_number,
        sequence: acc.sequence,
    }))
}

/// Broadcasts through `cosmos.tx.v1beta1.Service/BroadcastTx` (SYNC) and returns
/// `(code, codespace, raw_log)`.
pub async fn broadcast_sync(url: &str, tx: Vec<u8>) -> anyhow::Result<(u32, String, String)> {
    let mut c = txpb::service_client::ServiceClient::new(channel(url).await?);
    let r = c
        .broadcast_tx(txpb::BroadcastTxRequest {
            tx_bytes: tx,
            mode: txpb::BroadcastMode::Sync as i32,
        })
        .await
        .map_err(|s| anyhow::anyhow!("BroadcastTx: {}: {}", s.code(), s.message()))?
        .into_inner();
    let t = r.tx_response.context("BroadcastTx: no tx_response")?;
    Ok((t.code, t.codespace, t.raw_log))
}

/// A unary call of the gRPC method `path` (e.g. `/ballast.checkpointing.v1.Query/Checkpoint`),
/// at `height` (0 = latest). Returns the answer and the height it was read at. A failure that
/// carries a Ballast codespace and code becomes the same [`ClientError::Query`] as over
/// CometBFT's `abci_query`, so both transports report it alike.
pub async fn unary<Req, Resp>(
    url: &str,
    path: &'static str,
    req: Req,
    height: u64,
) -> anyhow::Result<(Resp, u64)>
where
    Req: Message + Send + Sync + 'static,
    Resp: Message + Default + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel(url).await?);
    grpc.ready()
        .await
        .with_context(|| format!("gRPC at {url} is not ready"))?;
    let codec = tonic::codec::ProstCodec::<Req, Resp>::default();
    let answer = grpc
        .unary(
            at_height(req, height),
            tonic::codegen::http::uri::PathAndQuery::from_static(path),
            codec,
        )
        .await
        .map_err(|s| status_error(path, &s))?;
    let answered = answer
        .metadata()
        .get("x-cosmos-block-height")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(height);
    Ok((answer.into_inner(), answered))
}

/// The error of a failed call: the chain's (codespace, code, log) when the status carries them.
fn status_error(path: &str, s: &tonic::Status) -> anyhow::Error {
    let md = s.metadata();
    let codespace = md
        .get(ballast_app::grpc::status::CODESPACE_HEADER)
        .and_then(|v| v.to_str().ok());
    let code = md
        .get(ballast_app::grpc::status::CODE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok());
    match (codespace, code) {
        (Some(codespace), Some(code)) => {
            // The server appends " (codespace X, code N)" to the log; the error says it already.
            let suffix = format!(" (codespace {codespace}, code {code})");
            let log = s.message().strip_suffix(&suffix).unwrap_or(s.message());
            ClientError::Query {
                path: path.to_string(),
                code,
                codespace: codespace.to_string(),
                log: log.to_string(),
            }
            .into()
        }
        _ => anyhow::anyhow!("{path}: {}: {}", s.code(), s.message()),
    }
}
