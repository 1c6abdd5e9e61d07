//! Node-local settings of the app (not consensus parameters).

use ballast_checkpointing::BlsSecretKey;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a test asks the node to kill itself with SIGKILL, to prove crash safety.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPoint {
    /// Half way through FinalizeBlock's txs.
    MidFinalize,
    /// At Commit, before anything is persisted.
    BeforeCommit,
    /// At Commit, after persisting and before answering.
    AfterCommit,
}

impl FaultPoint {
    /// Parses `mid-finalize:H`, `before-commit:H` or `after-commit:H`.
    pub fn parse(s: &str) -> Result<(FaultPoint, u64), String> {
        let (name, h) = s
            .split_once(':')
            .ok_or_else(|| format!("fault {s:?}: expected <point>:<height>"))?;
        let height: u64 = h
            .parse()
            .map_err(|_| format!("fault {s:?}: height {h:?} is not a number"))?;
        let point = match name {
            "mid-finalize" => FaultPoint::MidFinalize,
            "before-commit" => FaultPoint::BeforeCommit,
            "after-commit" => FaultPoint::AfterCommit,
            other => return Err(format!("fault {s:?}: unknown point {other:?}")),
        };
        Ok((point, height))
    }
}

/// App settings.
#[derive(Clone)]
pub struct AppConfig {
    /// Node home; the store lives in `<home>/data/ballast`.
    pub home: PathBuf,
    /// Versions of state to keep (0 = all).
    pub keep_recent: u64,
    /// Blocks CometBFT must keep (0 = all); sent as Commit's retain height.
    pub min_retain_blocks: u64,
    /// Crash injection for restart-safety tests (`BALLAST_FAULT`); never set in production.
    pub fault: Option<(FaultPoint, u64)>,
    /// This validator's BLS key, which signs the checkpoint at every epoch's last block. `None`
    /// on a node that does not validate (it still verifies every extension and checkpoint).
    pub bls_key: Option<Arc<BlsSecretKey>>,
}

impl std::fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppConfig")
            .field("home", &self.home)
            .field("keep_recent", &self.keep_recent)
            .field("min_retain_blocks", &self.min_retain_blocks)
            .field("fault", &self.fault)
            .field(
                "bls_key",
                &self
                    .bls_key
                    .as_ref()
                    .map(|k| hex::encode(k.public_key().to_bytes())),
            )
            .finish()
    }
}

impl AppConfig {
    /// Defaults for `home`.
    pub fn new(home: impl Into<PathBuf>) -> Self {
        AppConfig {
            home: home.into(),
            keep_recent: 0,
            min_retain_blocks: 0,
            fault: None,
            bls_key: None,
        }
    }

    /// The store directory.
    pub fn db_dir(&self) -> PathBuf {
        self.home.join("data").join("ballast")
    }
}

/// Default of how many messages a gRPC stream subscriber may have waiting before it is cut off.
pub const DEFAULT_SUBSCRIBER_BUFFER: usize = 256;
/// Largest subscriber buffer accepted.
pub const MAX_SUBSCRIBER_BUFFER: usize = 65_536;

/// The PEM files the gRPC server serves TLS with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcTlsFiles {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key of the first certificate (PEM).
    pub key: PathBuf,
}

/// Node-local settings of the gRPC server (not consensus parameters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcServerConfig {
    /// Serve TLS with these files; plaintext when `None`.
    pub tls: Option<GrpcTlsFiles>,
    /// Messages a stream subscriber (`SubscribeValidatorSet`, `SubscribeCheckpoints`) may have
    /// waiting; one more and it is cut off with RESOURCE_EXHAUSTED. 1 to
    /// [`MAX_SUBSCRIBER_BUFFER`].
    pub subscriber_buffer: usize,
}

impl Default for GrpcServerConfig {
    fn default() -> Self {
        GrpcServerConfig {
            tls: None,
            subscriber_buffer: DEFAULT_SUBSCRIBER_BUFFER,
        }
    }
}

impl GrpcServerConfig {
    /// Checks the buffer size.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_SUBSCRIBER_BUFFER).contains(&self.subscriber_buffer) {
            return Err(format!(
                "subscriber buffer must be 1 to {MAX_SUBSCRIBER_BUFFER} messages, found {}",
                self.subscriber_buffer
            ));
        }
        Ok(())
    }
}

/// Kills this process with SIGKILL, exactly as `kill -9` would: no destructors, no flushing.
pub fn kill_self(point: FaultPoint, height: u64) -> ! {
    tracing::warn!(
        ?point,
        height,
        "fault injection: killing the process with SIGKILL"
    );
    let pid = std::process::id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status();
    // `kill` was unavailable: abort, which also skips every destructor.
    std::process::abort()
}
