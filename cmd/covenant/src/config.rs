//! The covenant signer's configuration: a TOML file (`ballast-covenant init-config` writes a
//! commented default), with command-line flags that override single fields.
//!
//! Relative paths in the file (`data_dir`, `ballast.keyring_dir`, `covenant.key_file`) are
//! taken relative to the directory of the config file.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the configuration cannot be used: the same errors as the vigilante's configuration.
pub use ballast_vigilante::config::ConfigError;

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
    /// `INFO added covenant signatures staking_txid=… txhash=…`
    Text,
    /// One JSON object per line.
    Json,
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the signer keeps its record of the signatures it sent (`signed.jsonl`).
    pub data_dir: PathBuf,
    /// Log line format.
    pub log_format: LogFormat,
    /// The Ballast node and the account that pays for `MsgAddCovenantSigs`.
    pub ballast: BallastConfig,
    /// The covenant key and the poll loop.
    pub covenant: CovenantConfig,
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
    /// Name (or address) of the key that signs and pays for `MsgAddCovenantSigs`. Any funded
    /// account will do: the chain checks the covenant signatures, not who sends them.
    pub key_name: String,
    /// Multiplier on simulated gas, as a decimal string.
    pub gas_adjustment: String,
    /// Gas price such as `0.025ubal`; empty: the chain's minimum gas price.
    pub gas_prices: String,
    /// How long to wait for a Ballast tx to be included, in seconds.
    pub tx_timeout_secs: u64,
}

/// The covenant side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CovenantConfig {
    /// The covenant member's BTC key file (`{secret_key, public_key}`, mode 0600), as
    /// `ballast-covenant keygen` writes it.
    pub key_file: PathBuf,
    /// Time between polls of the PENDING delegations, in milliseconds.
    pub poll_interval_ms: u64,
    /// Delegations asked for per page of `BtcDelegations` (0: the node's default).
    pub page_limit: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("covenant-data"),
            log_format: LogFormat::Text,
            ballast: BallastConfig::default(),
            covenant: CovenantConfig::default(),
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
            key_name: "covenant".into(),
            gas_adjustment: "1.5".into(),
            gas_prices: String::new(),
            tx_timeout_secs: 60,
        }
    }
}

impl Default for CovenantConfig {
    fn default() -> Self {
        CovenantConfig {
            key_file: PathBuf::from("covenant_key.json"),
            poll_interval_ms: 2000,
            page_limit: 100,
        }
    }
}

/// The file `ballast-covenant init-config` writes: every field with its default and a comment.
pub const DEFAULT_CONFIG_TOML: &str = r#"# ballast-covenant configuration.
# Relative paths are taken relative to this file's directory.

# Where the signer appends its record of the signatures it sent (signed.jsonl). Nothing in it is
# needed to restart: the chain says which delegations already carry this member's signatures.
data_dir = "covenant-data"
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
# Key that signs and pays for MsgAddCovenantSigs (any funded account; it is not the covenant key).
key_name = "covenant"
# Multiplier on simulated gas.
gas_adjustment = "1.5"
# Gas price such as "0.025ubal"; empty: the chain's minimum gas price.
gas_prices = ""
# Seconds to wait for a Ballast tx to be included in a block.
tx_timeout_secs = 60

[covenant]
# The covenant member's BTC key: {"secret_key", "public_key"} as hex, mode 0600.
# `ballast-covenant keygen --out <file>` writes a new one.
key_file = "covenant_key.json"
# Milliseconds between polls of the PENDING delegations.
poll_interval_ms = 2000
# Delegations asked for per page (0: the node's default).
page_limit = 100
"#;

impl Config {
    /// Reads `path` and resolves relative paths against its directory. Call
    /// [`Config::validate`] after applying overrides.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let mut cfg: Config = ballast_vigilante::config::read_toml(path)?;
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
        fix(&mut self.covenant.key_file);
    }

    /// Checks every value that can be checked without a node.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "expected a directory, found none"));
        }
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
        if self.covenant.key_file.as_os_str().is_empty() {
            return Err(invalid(
                "covenant.key_file",
                "expected the path of a btc key file, found none",
            ));
        }
        if self.covenant.poll_interval_ms == 0 {
            return Err(invalid(
                "covenant.poll_interval_ms",
                "expected at least 1 ms, found 0",
            ));
        }
        Ok(())
    }

    /// The poll interval.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.covenant.poll_interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commented_default_file_parses_to_the_defaults() {
        let parsed: Config = toml::from_str(DEFAULT_CONFIG_TOML).unwrap();
        assert_eq!(parsed, Config::default());
        parsed.validate().unwrap();
    }

    #[test]
    fn relative_paths_follow_the_config_file_and_unknown_fields_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "data_dir = \"state\"\n[ballast]\nkeyring_dir = \"/abs/home\"\nchain_id = \"x-1\"\n\
             [covenant]\nkey_file = \"keys/cov.json\"\npoll_interval_ms = 250\n",
        )
        .unwrap();
        let cfg = Config::load(&path).unwrap();
        assert_eq!(cfg.data_dir, dir.path().join("state"));
        assert_eq!(cfg.ballast.keyring_dir, PathBuf::from("/abs/home"));
        assert_eq!(cfg.ballast.chain_id, "x-1");
        assert_eq!(cfg.covenant.key_file, dir.path().join("keys/cov.json"));
        assert_eq!(cfg.poll_interval(), Duration::from_millis(250));
        // Fields the file leaves out keep their defaults.
        assert_eq!(cfg.ballast.key_name, "covenant");
        assert_eq!(cfg.covenant.page_limit, 100);
        cfg.validate().unwrap();

        std::fs::write(&path, "[covenant]\npoll_interval = 3\n").unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains("poll_interval"), "{err}");

        std::fs::write(&path, "[covenant]\npoll_interval_ms = \"fast\"\n").unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains("invalid"), "{err}");

        let err = Config::load(&dir.path().join("missing.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read"), "{err}");
    }

    #[test]
    fn validation_names_the_bad_field() {
        type Edit = Box<dyn Fn(&mut Config)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("data_dir", Box::new(|c| c.data_dir = PathBuf::new())),
            (
                "ballast.rpc_address",
                Box::new(|c| c.ballast.rpc_address.clear()),
            ),
            ("ballast.chain_id", Box::new(|c| c.ballast.chain_id.clear())),
            (
                "ballast.keyring_backend",
                Box::new(|c| c.ballast.keyring_backend = "os".into()),
            ),
            ("ballast.key_name", Box::new(|c| c.ballast.key_name.clear())),
            (
                "ballast.tx_timeout_secs",
                Box::new(|c| c.ballast.tx_timeout_secs = 0),
            ),
            (
                "covenant.key_file",
                Box::new(|c| c.covenant.key_file = PathBuf::new()),
            ),
            (
                "covenant.poll_interval_ms",
                Box::new(|c| c.covenant.poll_interval_ms = 0),
            ),
        ];
        for (field, f) in cases {
            let mut c = Config::default();
            c.validate().unwrap();
            f(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
