//! One interface over the ways to reach a Ballast app.

use ballast_app::server::{read_message, write_message};
use ballast_app::App;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use tendermint_proto::v0_38::abci::{self as pb, request, response, Request, Response};

/// The ABCI calls CometBFT makes. An `Err` means the app failed or the connection broke.
pub trait Abci {
    /// Info.
    fn info(&mut self) -> Result<pb::ResponseInfo, String>;
    /// InitChain.
    fn init_chain(&mut self, r: pb::RequestInitChain) -> Result<pb::ResponseInitChain, String>;
    /// PrepareProposal.
    fn prepare_proposal(
        &mut self,
        r: pb::RequestPrepareProposal,
    ) -> Result<pb::ResponsePrepareProposal, String>;
    /// ProcessProposal; true = accept.
    fn process_proposal(&mut self, r: pb::RequestProcessProposal) -> Result<bool, String>;
    /// ExtendVote.
    fn extend_vote(&mut self, r: pb::RequestExtendVote) -> Result<Vec<u8>, String>;
    /// VerifyVoteExtension; true = accept.
    fn verify_vote_extension(&mut self, r: pb::RequestVerifyVoteExtension) -> Result<bool, String>;
    /// FinalizeBlock.
    fn finalize_block(
        &mut self,
        r: pb::RequestFinalizeBlock,
    ) -> Result<pb::ResponseFinalizeBlock, String>;
    /// Commit.
    fn commit(&mut self) -> Result<pb::ResponseCommit, String>;
    /// CheckTx.
    fn check_tx(&mut self, r: pb::RequestCheckTx) -> Result<pb::ResponseCheckTx, String>;
    /// Query.
    fn query(&mut self, r: pb::RequestQuery) -> Result<pb::ResponseQuery, String>;
}

/// The app in this process.
pub struct InProcess(pub App);

impl Abci for InProcess {
    fn info(&mut self) -> Result<pb::ResponseInfo, String> {
        Ok(self.0.info())
    }
    fn init_chain(&mut self, r: pb::RequestInitChain) -> Result<pb::ResponseInitChain, String> {
        self.0.init_chain(r).map_err(|e| e.to_string())
    }
    fn prepare_proposal(
        &mut self,
        r: pb::RequestPrepareProposal,
    ) -> Result<pb::ResponsePrepareProposal, String> {
        self.0.prepare_proposal(r).map_err(|e| e.to_string())
    }
    fn process_proposal(&mut self, r: pb::RequestProcessProposal) -> Result<bool, String> {
        self.0.process_proposal(r).map_err(|e| e.to_string())
    }
    fn extend_vote(&mut self, r: pb::RequestExtendVote) -> Result<Vec<u8>, String> {
        self.0.extend_vote(r).map_err(|e| e.to_string())
    }
    fn verify_vote_extension(&mut self, r: pb::RequestVerifyVoteExtension) -> Result<bool, String> {
        self.0.verify_vote_extension(r).map_err(|e| e.to_string())
    }
    fn finalize_block(
        &mut self,
        r: pb::RequestFinalizeBlock,
    ) -> Result<pb::ResponseFinalizeBlock, String> {
        self.0.finalize_block(r).map_err(|e| e.to_string())
    }
    fn commit(&mut self) -> Result<pb::ResponseCommit, String> {
        self.0.commit().map_err(|e| e.to_string())
    }
    fn check_tx(&mut self, r: pb::RequestCheckTx) -> Result<pb::ResponseCheckTx, String> {
        self.0.check_tx(r).map_err(|e| e.to_string())
    }
    fn query(&mut self, r: pb::RequestQuery) -> Result<pb::ResponseQuery, String> {
        Ok(self.0.query(r))
    }
}

/// ABCI over a TCP or unix socket, speaking CometBFT's length-prefixed protocol.
pub struct SocketClient {
    reader: BufReader<Box<dyn Read + Send>>,
    writer: Box<dyn Write + Send>,
}

impl SocketClient {
    /// Connects to `tcp://host:port`, `host:port` or `unix:///path`.
    pub fn connect(addr: &str) -> Result<Self, String> {
        if let Some(path) = addr.strip_prefix("unix://") {
            let s =
                UnixStream::connect(Path::new(path)).map_err(|e| format!("connect {path}: {e}"))?;
            let r = s.try_clone().map_err(|e| e.to_string())?;
            return Ok(SocketClient {
                reader: BufReader::new(Box::new(r)),
                writer: Box::new(s),
            });
        }
        let hostport = addr.strip_prefix("tcp://").unwrap_or(addr);
        let s = TcpStream::connect(hostport).map_err(|e| format!("connect {hostport}: {e}"))?;
        let _ = s.set_nodelay(true);
        let r = s.try_clone().map_err(|e| e.to_string())?;
        Ok(SocketClient {
            reader: BufReader::new(Box::new(r)),
            writer: Box::new(s),
        })
    }

    /// Sends one request and reads one response.
    pub fn call(&mut self, v: request::Value) -> Result<response::Value, String> {
        write_message(&mut self.writer, &Request { value: Some(v) }).map_err(|e| e.to_string())?;
        self.writer.flush().map_err(|e| e.to_string())?;
        let bytes = read_message(&mut self.reader)?.ok_or("connection closed")?;
        let resp =
            <Response as prost::Message>::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
        match resp.value {
            Some(response::Value::Exception(e)) => Err(format!("exception: {}", e.error)),
            Some(v) => Ok(v),
            None => Err("empty response".into()),
        }
    }
}

macro_rules! unix_call {
    ($self:ident, $req:ident($r:expr) => $resp:ident) => {
        match $self.call(request::Value::$req($r))? {
            response::Value::$resp(x) => Ok(x),
            other => Err(format!("unexpected response {other:?}")),
        }
    };
}

impl Abci for SocketClient {
    fn info(&mut self) -> Result<pb::ResponseInfo, String> {
        unix_call!(self, Info(Default::default()) => Info)
    }
    fn init_chain(&mut self, r: pb::RequestInitChain) -> Result<pb::ResponseInitChain, String> {
        unix_call!(self, InitChain(r) => InitChain)
    }
    fn prepare_proposal(
        &mut self,
        r: pb::RequestPrepareProposal,
    ) -> Result<pb::ResponsePrepareProposal, String> {
        unix_call!(self, PrepareProposal(r) => PrepareProposal)
    }
    fn process_proposal(&mut self, r: pb::RequestProcessProposal) -> Result<bool, String> {
        let x: pb::ResponseProcessProposal =
            unix_call!(self, ProcessProposal(r) => ProcessProposal)?;
        Ok(x.status == 1)
    }
    fn extend_vote(&mut self, r: pb::RequestExtendVote) -> Result<Vec<u8>, String> {
        let x: pb::ResponseExtendVote = unix_call!(self, ExtendVote(r) => ExtendVote)?;
        Ok(x.vote_extension.to_vec())
    }
    fn verify_vote_extension(&mut self, r: pb::RequestVerifyVoteExtension) -> Result<bool, String> {
        let x: pb::ResponseVerifyVoteExtension =
            unix_call!(self, VerifyVoteExtension(r) => VerifyVoteExtension)?;
        Ok(x.status == 1)
    }
    fn finalize_block(
        &mut self,
        r: pb::RequestFinalizeBlock,
    ) -> Result<pb::ResponseFinalizeBlock, String> {
        unix_call!(self, FinalizeBlock(r) => FinalizeBlock)
    }
    fn commit(&mut self) -> Result<pb::ResponseCommit, String> {
        unix_call!(self, Commit(Default::default()) => Commit)
    }
    fn check_tx(&mut self, r: pb::RequestCheckTx) -> Result<pb::ResponseCheckTx, String> {
        unix_call!(self, CheckTx(r) => CheckTx)
    }
    fn query(&mut self, r: pb::RequestQuery) -> Result<pb::ResponseQuery, String> {
        unix_call!(self, Query(r) => Query)
    }
}
