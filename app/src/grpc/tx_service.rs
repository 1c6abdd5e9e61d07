//! `cosmos.tx.v1beta1.Service`: BroadcastTx (through the node's [`Broadcaster`]), Simulate
//! ([`App::simulate`]), GetTx (the tx index), TxDecode and TxEncode. GetTxsEvent and the amino
//! methods answer UNIMPLEMENTED; GetBlockWithTxs is not in Ballast's definition of the service,
//! so tonic answers UNIMPLEMENTED for it too.

use super::status::{self, join_status};
use crate::broadcast::{BroadcastError, BroadcastMode, BroadcastResult, Broadcaster};
use crate::tx::SimulateOutcome;
use crate::App;
use ballast_framework::Event;
use ballast_proto::ballast::app::v1::TxRecord;
use ballast_proto::cosmos::base::abci::v1beta1 as abci_pb;
use ballast_proto::cosmos::tx::v1beta1 as tx_pb;
use ballast_proto::tendermint::abci as event_pb;
use prost::Message;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Type URL of a tx inside `TxResponse.tx`.
pub const TX_TYPE_URL: &str = "/cosmos.tx.v1beta1.Tx";

/// The tx service over an app and the node's way to consensus.
#[derive(Clone)]
pub(crate) struct TxService {
    pub(crate) app: App,
    pub(crate) broadcaster: Arc<dyn Broadcaster>,
}

/// Parses a tx hash given as 64 hex characters (either case).
pub(crate) fn parse_tx_hash(text: &str) -> Result<[u8; 32], Status> {
    if text.is_empty() {
        return Err(Status::invalid_argument("tx hash is empty"));
    }
    let bytes = hex::decode(text)
        .map_err(|e| Status::invalid_argument(format!("tx hash {text:?} is not hex: {e}")))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        Status::invalid_argument(format!(
            "tx hash has {} bytes, expected 32 (64 hex characters)",
            bytes.len()
        ))
    })
}

fn wire_event(e: &Event) -> event_pb::Event {
    event_pb::Event {
        r#type: e.kind.clone(),
        attributes: e
            .attributes
            .iter()
            .map(|(k, v)| event_pb::EventAttribute {
                key: k.clone(),
                value: v.clone(),
                index: true,
            })
            .collect(),
    }
}

/// RFC 3339 at whole seconds, as Cosmos SDK writes `TxResponse.timestamp`.
fn rfc3339(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| tendermint::Time::from_unix_timestamp(t.seconds, 0).ok())
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

/// The `TxResponse` of an indexed tx.
pub(crate) fn indexed_tx_response(hash: &[u8; 32], r: &TxRecord) -> abci_pb::TxResponse {
    abci_pb::TxResponse {
        height: i64::try_from(r.height).unwrap_or(i64::MAX),
        txhash: hex::encode_upper(hash),
        codespace: r.codespace.clone(),
        code: r.code,
        data: String::new(),
        raw_log: r.log.clone(),
        logs: Vec::new(),
        info: String::new(),
        gas_wanted: r.gas_wanted,
        gas_used: r.gas_used,
        // TxRaw and Tx encode alike, so the stored bytes are the Tx's encoding.
        tx: Some(prost_types::Any {
            type_url: TX_TYPE_URL.into(),
            value: r.tx.clone(),
        }),
        timestamp: rfc3339(r.block_time.as_ref()),
        events: r
            .events
            .iter()
            .map(|e| event_pb::Event {
                r#type: e.r#type.clone(),
                attributes: e
                    .attributes
                    .iter()
                    .map(|a| event_pb::EventAttribute {
                        key: a.key.clone(),
                        value: a.value.clone(),
                        index: true,
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn broadcast_response(r: &BroadcastResult) -> abci_pb::TxResponse {
    abci_pb::TxResponse {
        height: i64::try_from(r.height).unwrap_or(i64::MAX),
        txhash: hex::encode_upper(r.hash),
        codespace: r.codespace.clone(),
        code: r.code,
        raw_log: r.log.clone(),
        gas_wanted: r.gas_wanted,
        gas_used: r.gas_used,
        ..Default::default()
    }
}

fn broadcast_status(e: BroadcastError) -> Status {
    let msg = e.to_string();
    match e {
        BroadcastError::Unavailable(_) => Status::unavailable(msg),
        BroadcastError::Timeout(_) => Status::deadline_exceeded(msg),
        BroadcastError::Protocol(_) => Status::internal(msg),
    }
}

fn simulate_response(o: SimulateOutcome) -> tx_pb::SimulateResponse {
    tx_pb::SimulateResponse {
        gas_info: Some(abci_pb::GasInfo {
            gas_wanted: o.gas_wanted,
            gas_used: o.gas_used,
        }),
        result: Some(abci_pb::Result {
            data: Vec::new(),
            log: o.log,
            events: o.events.iter().map(wire_event).collect(),
            msg_responses: Vec::new(),
        }),
    }
}

impl TxService {
    async fn tx_record(&self, hash: [u8; 32]) -> Result<Option<TxRecord>, Status> {
        let app = self.app.clone();
        tokio::task::spawn_blocking(move || app.tx_record(&hash))
            .await
            .map_err(join_status)?
            .map_err(|e| {
                tracing::error!(error = %e, "reading the tx index failed");
                Status::internal(format!("reading the tx index failed: {e}"))
            })
    }
}

#[tonic::async_trait]
impl tx_pb::service_server::Service for TxService {
    async fn simulate(
        &self,
        request: Request<tx_pb::SimulateRequest>,
    ) -> Result<Response<tx_pb::SimulateResponse>, Status> {
        let req = request.into_inner();
        // `tx` is the older form of the request; `tx_bytes` wins when both are set.
        let tx_bytes = match (req.tx_bytes.is_empty(), req.tx) {
            (false, _) => req.tx_bytes,
            (true, Some(tx)) => tx.encode_to_vec(),
            (true, None) => return Err(Status::invalid_argument("empty tx: set tx_bytes")),
        };
        let app = self.app.clone();
        let outcome = tokio::task::spawn_blocking(move || app.simulate(&tx_bytes))
            .await
            .map_err(join_status)?;
        match outcome {
            Ok(o) => Ok(Response::new(simulate_response(o))),
            Err(e) => Err(status::tx_status(&e)),
        }
    }

    async fn get_tx(
        &self,
        request: Request<tx_pb::GetTxRequest>,
    ) -> Result<Response<tx_pb::GetTxResponse>, Status> {
        let hash = parse_tx_hash(&request.get_ref().hash)?;
        let Some(record) = self.tx_record(hash).await? else {
            return Err(Status::not_found(format!(
                "tx {} not found",
                hex::encode_upper(hash)
            )));
        };
        // A block can hold bytes that are not a tx (they failed with a decode error).
        let tx = tx_pb::Tx::decode(record.tx.as_slice()).ok();
        Ok(Response::new(tx_pb::GetTxResponse {
            tx,
            tx_response: Some(indexed_tx_response(&hash, &record)),
        }))
    }

    async fn broadcast_tx(
        &self,
        request: Request<tx_pb::BroadcastTxRequest>,
    ) -> Result<Response<tx_pb::BroadcastTxResponse>, Status> {
        let req = request.into_inner();
        if req.tx_bytes.is_empty() {
            return Err(Status::invalid_argument("empty tx_bytes"));
        }
        let mode = match tx_pb::BroadcastMode::try_from(req.mode) {
            Ok(tx_pb::BroadcastMode::Sync) => BroadcastMode::Sync,
            Ok(tx_pb::BroadcastMode::Async) => BroadcastMode::Async,
            // Cosmos dropped BLOCK; Ballast keeps it as "wait until committed".
            Ok(tx_pb::BroadcastMode::Block) => BroadcastMode::Commit,
            _ => {
                return Err(Status::invalid_argument(format!(
                    "unsupported broadcast mode {}: use BROADCAST_MODE_SYNC, BROADCAST_MODE_ASYNC or BROADCAST_MODE_BLOCK",
                    req.mode
                )))
            }
        };
        let result = self
            .broadcaster
            .broadcast(req.tx_bytes, mode)
            .await
            .map_err(broadcast_status)?;
        let mut response = broadcast_response(&result);
        if mode == BroadcastMode::Commit && result.height > 0 {
            // The index has the block's events and time, which the broadcaster does not report.
            if let Some(record) = self.tx_record(result.hash).await? {
                response = indexed_tx_response(&result.hash, &record);
            }
        }
        Ok(Response::new(tx_pb::BroadcastTxResponse {
            tx_response: Some(response),
        }))
    }

    async fn get_txs_event(
        &self,
        _request: Request<tx_pb::GetTxsEventRequest>,
    ) -> Result<Response<tx_pb::GetTxsEventResponse>, Status> {
        Err(Status::unimplemented(
            "Ballast keeps no event index: search txs with CometBFT's tx_search RPC",
        ))
    }

    async fn tx_decode(
        &self,
        request: Request<tx_pb::TxDecodeRequest>,
    ) -> Result<Response<tx_pb::TxDecodeResponse>, Status> {
        let bytes = &request.get_ref().tx_bytes;
        if bytes.is_empty() {
            return Err(Status::invalid_argument("empty tx_bytes"));
        }
        let tx = tx_pb::Tx::decode(bytes.as_slice())
            .map_err(|e| Status::invalid_argument(format!("tx_bytes is not a tx: {e}")))?;
        Ok(Response::new(tx_pb::TxDecodeResponse { tx: Some(tx) }))
    }

    async fn tx_encode(
        &self,
        request: Request<tx_pb::TxEncodeRequest>,
    ) -> Result<Response<tx_pb::TxEncodeResponse>, Status> {
        let tx = request
            .into_inner()
            .tx
            .ok_or_else(|| Status::invalid_argument("no tx to encode"))?;
        Ok(Response::new(tx_pb::TxEncodeResponse {
            tx_bytes: tx.encode_to_vec(),
        }))
    }

    async fn tx_encode_amino(
        &self,
        _request: Request<tx_pb::TxEncodeAminoRequest>,
    ) -> Result<Response<tx_pb::TxEncodeAminoResponse>, Status> {
        Err(Status::unimplemented(
            "Ballast has no amino encoding: txs are SIGN_MODE_DIRECT protobuf",
        ))
    }

    async fn tx_decode_amino(
        &self,
        _request: Request<tx_pb::TxDecodeAminoRequest>,
    ) -> Result<Response<tx_pb::TxDecodeAminoResponse>, Status> {
        Err(Status::unimplemented(
            "Ballast has no amino encoding: txs are SIGN_MODE_DIRECT protobuf",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tx_hashes_parse_in_either_case_and_bad_ones_are_invalid_arguments() {
        let h = [0xabu8; 32];
        assert_eq!(parse_tx_hash(&hex::encode_upper(h)).unwrap(), h);
        assert_eq!(parse_tx_hash(&hex::encode(h)).unwrap(), h);
        for bad in [
            "",
            "abc",
            "zz",
            &hex::encode([1u8; 31]),
            &hex::encode([1u8; 33]),
        ] {
            let st = parse_tx_hash(bad).unwrap_err();
            assert_eq!(st.code(), tonic::Code::InvalidArgument, "{bad:?}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_at_whole_seconds() {
        let t = prost_types::Timestamp {
            seconds: 1_700_000_005,
            nanos: 123,
        };
        assert_eq!(rfc3339(Some(&t)), "2023-11-14T22:13:25Z");
        assert_eq!(rfc3339(None), "");
    }
}
