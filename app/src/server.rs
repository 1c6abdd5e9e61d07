//! The ABCI socket server (TCP or unix socket).
//!
//! Speaks CometBFT's socket protocol: each message is a protobuf `Request`/`Response` prefixed by
//! its length as an unsigned varint. Dispatch goes through the `tendermint_abci::Application`
//! trait. The server is Ballast's own rather than `tendermint_abci::Server` because that one
//! listens on TCP only and panics its connection on a request with no value; here malformed
//! input gets an `Exception` response and the connection is closed, and no input can panic.
//!
//! CometBFT opens four connections (consensus, mempool, query, snapshot); each gets a thread.
//! Consensus calls arrive on one connection and the app serialises them with its lock.

use std::io::{BufReader, BufWriter, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use tendermint_abci::Application;
use tendermint_proto::v0_38::abci::{request, response, Request, Response, ResponseException};

/// Largest request accepted (CometBFT's own cap on a block is 100 MiB).
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024 * 1024;

/// Where the ABCI server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    /// `tcp://host:port`.
    Tcp(String),
    /// `unix:///path`.
    Unix(PathBuf),
}

impl ListenAddr {
    /// Parses `tcp://127.0.0.1:26658`, `127.0.0.1:26658` or `unix:///path/to/sock`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(p) = s.strip_prefix("unix://") {
            if p.is_empty() {
                return Err("empty unix socket path".into());
            }
            return Ok(ListenAddr::Unix(PathBuf::from(p)));
        }
        let hostport = s.strip_prefix("tcp://").unwrap_or(s);
        if !hostport.contains(':') {
            return Err(format!("address {s:?} has no port"));
        }
        Ok(ListenAddr::Tcp(hostport.to_string()))
    }
}

/// Why the server stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Could not bind or accept.
    #[error("abci listener on {addr}: {source}")]
    Io {
        /// The address.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A bound listener.
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// Unix socket.
    Unix(UnixListener, PathBuf),
}

impl Listener {
    /// Binds; a stale unix socket file from a previous run is replaced.
    pub fn bind(addr: &ListenAddr) -> Result<Listener, ServerError> {
        match addr {
            ListenAddr::Tcp(a) => {
                TcpListener::bind(a)
                    .map(Listener::Tcp)
                    .map_err(|source| ServerError::Io {
                        addr: a.clone(),
                        source,
                    })
            }
            ListenAddr::Unix(p) => {
                if p.exists() {
                    let _ = std::fs::remove_file(p);
                }
                UnixListener::bind(p)
                    .map(|l| Listener::Unix(l, p.clone()))
                    .map_err(|source| ServerError::Io {
                        addr: p.display().to_string(),
                        source,
                    })
            }
        }
    }

    /// The bound address, as `tcp://ip:port` or `unix://path`.
    pub fn local_addr(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .local_addr()
                .map(|a| format!("tcp://{a}"))
                .unwrap_or_default(),
            Listener::Unix(_, p) => format!("unix://{}", p.display()),
        }
    }

    /// Serves connections until the listener fails; each connection gets its own thread.
    pub fn serve<A: Application>(self, app: A) -> Result<(), ServerError> {
        let addr = self.local_addr();
        loop {
            match &self {
                Listener::Tcp(l) => {
                    let (stream, peer) = l.accept().map_err(|source| ServerError::Io {
                        addr: addr.clone(),
                        source,
                    })?;
                    let _ = stream.set_nodelay(true);
                    let app = app.clone();
                    let name = format!("abci-{peer}");
                    spawn(name, move || handle_connection(stream, app));
                }
                Listener::Unix(l, _) => {
                    let (stream, _) = l.accept().map_err(|source| ServerError::Io {
                        addr: addr.clone(),
                        source,
                    })?;
                    let app = app.clone();
                    spawn("abci-unix".into(), move || handle_connection(stream, app));
                }
            }
        }
    }
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) {
    let builder = std::thread::Builder::new().name(name.clone());
    if let Err(e) = builder.spawn(f) {
        tracing::error!(connection = %name, error = %e, "could not start a thread for an ABCI connection");
    }
}

trait Stream: Read + Write + Send {
    fn try_clone_box(&self) -> std::io::Result<Box<dyn Stream>>;
}
impl Stream for std::net::TcpStream {
    fn try_clone_box(&self) -> std::io::Result<Box<dyn Stream>> {
        Ok(Box::new(self.try_clone()?))
    }
}
impl Stream for std::os::unix::net::UnixStream {
    fn try_clone_box(&self) -> std::io::Result<Box<dyn Stream>> {
        Ok(Box::new(self.try_clone()?))
    }
}

/// Reads one varint-length-prefixed message; `Ok(None)` on a clean end of stream.
pub fn read_message<R: Read>(r: &mut R) -> Result<Option<Vec<u8>>, String> {
    let mut len: u64 = 0;
    let mut shift = 0u32;
    let mut first = true;
    loop {
        let mut byte = [0u8; 1];
        match r.read(&mut byte) {
            Ok(0) if first => return Ok(None),
            Ok(0) => return Err("connection closed inside a length prefix".into()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        }
        first = false;
        if shift >= 64 {
            return Err("length prefix is longer than 10 bytes".into());
        }
        len |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let len = usize::try_from(len).map_err(|_| "length does not fit in memory".to_string())?;
    if len > MAX_MESSAGE_BYTES {
        return Err(format!(
            "message of {len} bytes is over the {MAX_MESSAGE_BYTES}-byte limit"
        ));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)
        .map_err(|e| format!("reading a {len}-byte message: {e}"))?;
    Ok(Some(buf))
}

/// Writes one varint-length-prefixed message.
pub fn write_message<W: Write>(w: &mut W, msg: &impl prost::Message) -> std::io::Result<()> {
    w.write_all(&msg.encode_length_delimited_to_vec())
}

fn handle_connection<S: Stream + 'static>(stream: S, app: impl Application) {
    let read_half = match stream.try_clone_box() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot split an ABCI connection");
            return;
        }
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = BufWriter::new(stream);
    loop {
        let bytes = match read_message(&mut reader) {
            Ok(Some(b)) => b,
            Ok(None) => {
                tracing::debug!("ABCI connection closed by the client");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "malformed ABCI framing; closing the connection");
                let _ = send_exception(&mut writer, &e);
                return;
            }
        };
        let request = match <Request as prost::Message>::decode(bytes.as_slice()) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "undecodable ABCI request; closing the connection");
                let _ = send_exception(&mut writer, &format!("undecodable request: {e}"));
                return;
            }
        };
        let Some(response) = dispatch(&app, request) else {
            let _ = send_exception(&mut writer, "request carries no value");
            return;
        };
        if let Err(e) = write_message(&mut writer, &response).and_then(|_| writer.flush()) {
            tracing::warn!(error = %e, "ABCI connection write failed");
            return;
        }
    }
}

fn send_exception<W: Write>(w: &mut W, error: &str) -> std::io::Result<()> {
    let resp = Response {
        value: Some(response::Value::Exception(ResponseException {
            error: error.to_string(),
        })),
    };
    write_message(w, &resp)?;
    w.flush()
}

/// Routes one request to the application; `None` for a request with no value.
pub fn dispatch<A: Application>(app: &A, request: Request) -> Option<Response> {
    use request::Value as Rq;
    use response::Value as Rs;
    let value = match request.value? {
        Rq::Echo(r) => Rs::Echo(app.echo(r)),
        Rq::Flush(_) => Rs::Flush(app.flush()),
        Rq::Info(r) => Rs::Info(app.info(r)),
        Rq::InitChain(r) => Rs::InitChain(app.init_chain(r)),
        Rq::Query(r) => Rs::Query(app.query(r)),
        Rq::CheckTx(r) => Rs::CheckTx(app.check_tx(r)),
        Rq::Commit(_) => Rs::Commit(app.commit()),
        Rq::ListSnapshots(_) => Rs::ListSnapshots(app.list_snapshots()),
        Rq::OfferSnapshot(r) => Rs::OfferSnapshot(app.offer_snapshot(r)),
        Rq::LoadSnapshotChunk(r) => Rs::LoadSnapshotChunk(app.load_snapshot_chunk(r)),
        Rq::ApplySnapshotChunk(r) => Rs::ApplySnapshotChunk(app.apply_snapshot_chunk(r)),
        Rq::PrepareProposal(r) => Rs::PrepareProposal(app.prepare_proposal(r)),
        Rq::ProcessProposal(r) => Rs::ProcessProposal(app.process_proposal(r)),
        Rq::ExtendVote(r) => Rs::ExtendVote(app.extend_vote(r)),
        Rq::VerifyVoteExtension(r) => Rs::VerifyVoteExtension(app.verify_vote_extension(r)),
        Rq::FinalizeBlock(r) => Rs::FinalizeBlock(app.finalize_block(r)),
    };
    Some(Response { value: Some(value) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_round_trips_and_rejects_oversize_and_truncation() {
        let req = Request {
            value: Some(request::Value::Echo(Default::default())),
        };
        let mut buf = Vec::new();
        write_message(&mut buf, &req).unwrap();
        let mut r = buf.as_slice();
        let got = read_message(&mut r).unwrap().unwrap();
        assert_eq!(
            <Request as prost::Message>::decode(got.as_slice()).unwrap(),
            req
        );
        assert_eq!(read_message(&mut r).unwrap(), None);
        // 2^40 bytes announced.
        let mut huge: &[u8] = &[0x80, 0x80, 0x80, 0x80, 0x80, 0x20];
        assert!(read_message(&mut huge).is_err());
        let mut truncated: &[u8] = &[0x05, 1, 2];
        assert!(read_message(&mut truncated).is_err());
        let mut endless: &[u8] = &[0xff; 12];
        assert!(read_message(&mut endless).is_err());
    }

    #[test]
    fn addresses_parse() {
        assert_eq!(
            ListenAddr::parse("tcp://127.0.0.1:26658").unwrap(),
            ListenAddr::Tcp("127.0.0.1:26658".into())
        );
        assert_eq!(
            ListenAddr::parse("unix:///tmp/x.sock").unwrap(),
            ListenAddr::Unix("/tmp/x.sock".into())
        );
        assert!(ListenAddr::parse("localhost").is_err());
        assert!(ListenAddr::parse("unix://").is_err());
    }
}
