//! The vigilante's configuration: a TOML file (`ballast-vigilante init-config` writes a
//! commented default), with command-line flags that override single fields.
//!
//! Relative paths in the file (`data_dir`, `ballast.keyring_dir`, `bitcoin.rpc_cookie_file`)
//! are taken relative to the directory of the config file.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("config file {path} is invalid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, as the TOML parser says it.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid config value {field}: {message}")]
    Invalid {
        /// The dotted field name.
        field: &'static str,
        /// What was expected and found.
        message: String,
    },
}

fn invalid(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        message: message.into(),
    }
}

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `INFO submitted checkpoint epoch=1 tx1=… tx2=…`
    Text,
    /// One JSON object per line.
    Json,
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the vigilante keeps its state (the submitter's record of what it sent).
    pub data_dir: PathBuf,
    /// Log line format.
    pub log_format: LogFormat,
    /// The Ballast node and the signing key.
    pub ballast: BallastConfig,
    /// The bitcoind node and its wallet.
    pub bitcoin: BitcoinConfig,
    /// The checkpoint submitter.
    pub submitter: SubmitterConfig,
    /// The header and proof reporter.
    pub reporter: ReporterConfig,
}

/// The Ballast side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BallastConfig {
    /// CometBFT JSON-RPC of a Ballast node (`tcp://host:port` or `http://host:port`): tx
    /// broadcast, and queries when `grpc_address` is empty.
    pub rpc_address: String,
    /// Ballast gRPC (`host:port` or `http://host:port`); empty: queries go over ABCI through
    /// `rpc_address`.
    pub grpc_address: String,
    /// Chain id signed over.
    pub chain_id: String,
    /// Home directory holding the keyring (`<dir>/keyring-test/` or `<dir>/keyring-file/`).
    pub keyring_dir: PathBuf,
    /// `test` or `file` (the `file` passphrase comes from `$BALLAST_KEYRING_PASSPHRASE`).
    pub keyring_backend: String,
    /// Name (or address) of the key that signs and pays for Ballast txs; its account is named
    /// as the submitter in every checkpoint this vigilante writes to Bitcoin.
    pub key_name: String,
    /// Multiplier on simulated gas, as a decimal string.
    pub gas_adjustment: String,
    /// Gas price such as `0.025ubal`; empty: the chain's minimum gas price.
    pub gas_prices: String,
    /// How long to wait for a Ballast tx to be included, in seconds.
    pub tx_timeout_secs: u64,
}

/// Where the bitcoind password comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BitcoinAuth {
    /// `rpc_user` / `rpc_password`.
    UserPass(String, String),
    /// The `.cookie` file, read again on every reconnect (it changes when bitcoind restarts).
    Cookie(PathBuf),
}

/// The Bitcoin side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BitcoinConfig {
    /// bitcoind JSON-RPC URL, without the wallet path.
    pub rpc_url: String,
    /// The wallet that funds and signs checkpoint txs (loaded if bitcoind has not).
    pub wallet: String,
    /// RPC user (with `rpc_password`).
    pub rpc_user: String,
    /// RPC password.
    pub rpc_password: String,
    /// bitcoind's cookie file; used when `rpc_user` is empty.
    pub rpc_cookie_file: PathBuf,
    /// `mainnet`, `testnet3`, `testnet4`, `signet` or `regtest`; checked against bitcoind and
    /// against Ballast's light client.
    pub network: String,
}

/// The checkpoint submitter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubmitterConfig {
    /// Run the submitter.
    pub enable: bool,
    /// Time between polls of Ballast and bitcoind, in milliseconds.
    pub poll_interval_ms: u64,
    /// Fee rate of new checkpoint txs, in sat/vB.
    pub fee_rate_sat_vb: u64,
    /// Highest fee rate fee bumps go to, in sat/vB.
    pub max_fee_rate_sat_vb: u64,
    /// Replace (RBF) a submission that is still unconfirmed this many blocks after it was
    /// broadcast; 0 never bumps.
    pub rbf_after_blocks: u64,
    /// Confirmations the wallet's coins need before they fund a checkpoint (at least 1, so
    /// that one epoch's transactions never hang on another epoch's unconfirmed change).
    pub min_input_confirmations: u64,
}

/// The reporter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReporterConfig {
    /// Run the reporter.
    pub enable: bool,
    /// Time between polls, in milliseconds.
    pub poll_interval_ms: u64,
    /// Most headers per `MsgInsertHeaders` (lowered to the light client's
    /// `max_headers_per_msg`).
    pub header_batch_size: u32,
    /// How many blocks below bitcoind's tip are scanned for checkpoint txs at start.
    pub scan_depth: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("vigilante-data"),
            log_format: LogFormat::Text,
            ballast: BallastConfig::default(),
            bitcoin: BitcoinConfig::default(),
            submitter: SubmitterConfig::default(),
            reporter: ReporterConfig::default(),
        }
    }
}

impl Default for BallastConfig {
    fn default() -> Self {
        BallastConfig {
            rpc_address: "tcp://127.0.0.1:26657".into(),
            grpc_address: String::new(),
            chain_id: "ballast-local-1".into(),
            keyring_dir: PathBuf::from("."),
            keyring_backend: "test".into(),
            key_name: "vigilante".into(),
            gas_adjustment: "1.5".into(),
            gas_prices: String::new(),
            tx_timeout_secs: 60,
        }
    }
}

impl Default for BitcoinConfig {
    fn default() -> Self {
        BitcoinConfig {
            rpc_url: "http://127.0.0.1:18443".into(),
            wallet: "ballast".into(),
            rpc_user: String::new(),
            rpc_password: String::new(),
            rpc_cookie_file: PathBuf::new(),
            network: "regtest".into(),
        }
    }
}

impl Default for SubmitterConfig {
    fn default() -> Self {
        SubmitterConfig {
            enable: true,
            poll_interval_ms: 2000,
            fee_rate_sat_vb: 2,
            max_fee_rate_sat_vb: 100,
            rbf_after_blocks: 3,
            min_input_confirmations: 1,
        }
    }
}

impl Default for ReporterConfig {
    fn default() -> Self {
        ReporterConfig {
            enable: true,
            poll_interval_ms: 1000,
            header_batch_size: 500,
            scan_depth: 1000,
        }
    }
}

/// The file `ballast-vigilante init-config` writes: every field with its default and a comment.
pub const DEFAULT_CONFIG_TOML: &str = r#"# ballast-vigilante configuration.
# Relative paths are taken relative to this file's directory.

# Where the vigilante keeps its state: the record of the Bitcoin txs it sent, written before
# each broadcast so that a restart never pays twice.
data_dir = "vigilante-data"
# Log format on stderr: "text" or "json".
log_format = "text"

[ballast]
# CometBFT JSON-RPC of a Ballast node: tx broadcast, and queries when grpc_address is empty.
rpc_address = "tcp://127.0.0.1:26657"
# Ballast gRPC (host:port); empty: queries go over ABCI through rpc_address.
grpc_address = ""
# Chain id signed over.
chain_id = "ballast-local-1"
# Home directory holding the keyring (<dir>/keyring-test/ or <dir>/keyring-file/).
keyring_dir = "."
# "test" or "file"; the file backend's passphrase is read from $BALLAST_KEYRING_PASSPHRASE.
keyring_backend = "test"
# Key that signs and pays for MsgInsertHeaders and MsgInsertBtcSpvProof. Its account is named
# as the submitter in every checkpoint this vigilante writes to Bitcoin.
key_name = "vigilante"
# Multiplier on simulated gas.
gas_adjustment = "1.5"
# Gas price such as "0.025ubal"; empty: the chain's minimum gas price.
gas_prices = ""
# Seconds to wait for a Ballast tx to be included in a block.
tx_timeout_secs = 60

[bitcoin]
# bitcoind JSON-RPC URL, without the /wallet/ path.
rpc_url = "http://127.0.0.1:18443"
# Wallet that funds and signs checkpoint txs (loaded if bitcoind has not loaded it).
wallet = "ballast"
# RPC credentials: user and password, or (when rpc_user is empty) bitcoind's cookie file.
rpc_user = ""
rpc_password = ""
rpc_cookie_file = ""
# mainnet, testnet3, testnet4, signet or regtest; checked against bitcoind and Ballast.
network = "regtest"

[submitter]
enable = true
# Milliseconds between polls.
poll_interval_ms = 2000
# Fee rate of new checkpoint txs (sat/vB), and the highest rate fee bumps go to.
fee_rate_sat_vb = 2
max_fee_rate_sat_vb = 100
# Replace (RBF) a submission still unconfirmed this many blocks after its broadcast; 0: never.
rbf_after_blocks = 3
# Confirmations a wallet coin needs before it funds a checkpoint (at least 1).
min_input_confirmations = 1

[reporter]
enable = true
# Milliseconds between polls.
poll_interval_ms = 1000
# Most headers per MsgInsertHeaders (lowered to the light client's max_headers_per_msg).
header_batch_size = 500
# Blocks below bitcoind's tip scanned for checkpoint txs at start.
scan_depth = 1000
"#;

/// Reads and parses a TOML config file (the daemons' configs share this).
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.message().to_string(),
    })
}

impl Config {
    /// Reads `path`, resolves relative paths against its directory, and validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let mut cfg: Config = read_toml(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.resolve_paths(base);
        Ok(cfg)
    }

    /// Makes relative paths relative to `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if !p.as_os_str().is_empty() && p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        fix(&mut self.ballast.keyring_dir);
        fix(&mut self.bitcoin.rpc_cookie_file);
    }

    /// Checks every value that can be checked without a node.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.ballast.rpc_address.is_empty() {
            return Err(invalid(
                "ballast.rpc_address",
                "expected tcp://host:port, found an empty value",
            ));
        }
        if self.ballast.chain_id.is_empty() {
            return Err(invalid(
                "ballast.chain_id",
                "expected a chain id, found none",
            ));
        }
        if !matches!(self.ballast.keyring_backend.as_str(), "test" | "file") {
            return Err(invalid(
                "ballast.keyring_backend",
                format!(
                    "expected \"test\" or \"file\", found {:?}",
                    self.ballast.keyring_backend
                ),
            ));
        }
        if self.ballast.key_name.is_empty() {
            return Err(invalid(
                "ballast.key_name",
                "expected a key name, found none",
            ));
        }
        if self.ballast.tx_timeout_secs == 0 {
            return Err(invalid(
                "ballast.tx_timeout_secs",
                "expected at least 1, found 0",
            ));
        }
        if self.bitcoin.rpc_url.is_empty() {
            return Err(invalid(
                "bitcoin.rpc_url",
                "expected http://host:port, found an empty value",
            ));
        }
        if self.bitcoin.wallet.is_empty() {
            return Err(invalid(
                "bitcoin.wallet",
                "expected a wallet name, found none",
            ));
        }
        self.bitcoin_auth()?;
        self.bitcoin_network()?;
        let s = &self.submitter;
        if s.poll_interval_ms == 0 || self.reporter.poll_interval_ms == 0 {
            return Err(invalid(
                "poll_interval_ms",
                "expected at least 1 ms, found 0",
            ));
        }
        if s.fee_rate_sat_vb == 0 {
            return Err(invalid(
                "submitter.fee_rate_sat_vb",
                "expected at least 1 sat/vB, found 0",
            ));
        }
        if s.max_fee_rate_sat_vb < s.fee_rate_sat_vb {
            return Err(invalid(
                "submitter.max_fee_rate_sat_vb",
                format!(
                    "expected at least fee_rate_sat_vb ({}), found {}",
                    s.fee_rate_sat_vb, s.max_fee_rate_sat_vb
                ),
            ));
        }
        if s.max_fee_rate_sat_vb > crate::txbuild::FEE_RATE_CEILING {
            return Err(invalid(
                "submitter.max_fee_rate_sat_vb",
                format!(
                    "expected at most {} sat/vB, found {}",
                    crate::txbuild::FEE_RATE_CEILING,
                    s.max_fee_rate_sat_vb
                ),
            ));
        }
        if s.min_input_confirmations == 0 {
            return Err(invalid(
                "submitter.min_input_confirmations",
                "expected at least 1 (unconfirmed coins would chain epochs together), found 0",
            ));
        }
        if self.reporter.header_batch_size == 0 {
            return Err(invalid(
                "reporter.header_batch_size",
                "expected at least 1, found 0",
            ));
        }
        Ok(())
    }

    /// The bitcoind credentials.
    pub fn bitcoin_auth(&self) -> Result<BitcoinAuth, ConfigError> {
        let b = &self.bitcoin;
        if !b.rpc_user.is_empty() {
            return Ok(BitcoinAuth::UserPass(
                b.rpc_user.clone(),
                b.rpc_password.clone(),
            ));
        }
        if !b.rpc_cookie_file.as_os_str().is_empty() {
            return Ok(BitcoinAuth::Cookie(b.rpc_cookie_file.clone()));
        }
        Err(invalid(
            "bitcoin.rpc_user",
            "expected rpc_user/rpc_password or rpc_cookie_file, found neither",
        ))
    }

    /// The Bitcoin network.
    pub fn bitcoin_network(&self) -> Result<bitcoin::Network, ConfigError> {
        network_from_name(&self.bitcoin.network).ok_or_else(|| {
            invalid(
                "bitcoin.network",
                format!(
                    "expected mainnet, testnet3, testnet4, signet or regtest, found {:?}",
                    self.bitcoin.network
                ),
            )
        })
    }

    /// The submitter's poll interval.
    pub fn submitter_interval(&self) -> Duration {
        Duration::from_millis(self.submitter.poll_interval_ms)
    }

    /// The reporter's poll interval.
    pub fn reporter_interval(&self) -> Duration {
        Duration::from_millis(self.reporter.poll_interval_ms)
    }
}

/// A network name as Ballast's light client params write it.
pub fn network_from_name(name: &str) -> Option<bitcoin::Network> {
    Some(match name {
        "mainnet" | "bitcoin" | "main" => bitcoin::Network::Bitcoin,
        "testnet3" | "testnet" | "test" => bitcoin::Network::Testnet,
        "testnet4" => bitcoin::Network::Testnet4,
        "signet" => bitcoin::Network::Signet,
        "regtest" => bitcoin::Network::Regtest,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commented_default_file_parses_to_the_defaults() {
        let parsed: Config = toml::from_str(DEFAULT_CONFIG_TOML).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn relative_paths_follow_the_config_file_and_unknown_fields_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.toml");
        std::fs::write(
            &path,
            "data_dir = \"state\"\n[bitcoin]\nrpc_cookie_file = \"/abs/.cookie\"\n",
        )
        .unwrap();
        let cfg = Config::load(&path).unwrap();
        assert_eq!(cfg.data_dir, dir.path().join("state"));
        assert_eq!(cfg.ballast.keyring_dir, dir.path().join("."));
        assert_eq!(
            cfg.bitcoin_auth().unwrap(),
            BitcoinAuth::Cookie(PathBuf::from("/abs/.cookie"))
        );
        cfg.validate().unwrap();

        std::fs::write(&path, "[submitter]\nfee_rate = 3\n").unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains("fee_rate"), "{err}");
    }

    #[test]
    fn validation_names_the_bad_field() {
        type Edit = Box<dyn Fn(&mut Config)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("bitcoin.rpc_user", Box::new(|c| c.bitcoin.rpc_user.clear())),
            (
                "bitcoin.network",
                Box::new(|c| c.bitcoin.network = "moon".into()),
            ),
            (
                "submitter.fee_rate_sat_vb",
                Box::new(|c| c.submitter.fee_rate_sat_vb = 0),
            ),
            (
                "submitter.max_fee_rate_sat_vb",
                Box::new(|c| c.submitter.max_fee_rate_sat_vb = 1),
            ),
            (
                "submitter.min_input_confirmations",
                Box::new(|c| c.submitter.min_input_confirmations = 0),
            ),
            (
                "ballast.keyring_backend",
                Box::new(|c| c.ballast.keyring_backend = "os".into()),
            ),
            (
                "reporter.header_batch_size",
                Box::new(|c| c.reporter.header_batch_size = 0),
            ),
        ];
        for (field, f) in cases {
            let mut c = Config::default();
            c.bitcoin.rpc_user = "u".into();
            c.submitter.fee_rate_sat_vb = 5;
            c.validate().unwrap();
            f(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
