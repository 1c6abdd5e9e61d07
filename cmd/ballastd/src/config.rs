//! `config/ballast.toml`: the node's own settings (CometBFT's are in `config/config.toml`).
//!
//! `ballastd init` writes it with a comment above every key; `ballastd start` and `ballastd dev`
//! read it. Unknown keys are an error, so a typo never silently falls back to a default.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Default ABCI listen address (CometBFT's `proxy_app` points here).
pub const DEFAULT_ABCI_ADDRESS: &str = "tcp://127.0.0.1:26658";
/// Default gRPC listen address.
pub const DEFAULT_GRPC_ADDRESS: &str = "127.0.0.1:9090";
/// Default Prometheus metrics listen address.
pub const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:26660";
/// Default CometBFT RPC URL (where gRPC `BroadcastTx` forwards).
pub const DEFAULT_COMETBFT_RPC: &str = "http://127.0.0.1:26657";
/// Default block interval of `ballastd dev`.
pub const DEFAULT_DEV_BLOCK_INTERVAL_MS: u64 = 1000;
/// Default address of the CometBFT-compatible RPC that `ballastd dev` serves.
pub const DEFAULT_DEV_RPC_ADDRESS: &str = "127.0.0.1:26657";

/// The node's settings, as stored in `config/ballast.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The chain this home belongs to (the same as `chain_id` in `genesis.json`).
    pub chain_id: String,
    /// A human-readable name for this node (also CometBFT's `moniker`).
    pub moniker: String,
    /// The ABCI server CometBFT connects to.
    pub abci: AbciConfig,
    /// The gRPC server (queries, tx simulation and broadcast, reflection, health).
    pub grpc: GrpcConfig,
    /// The Prometheus metrics endpoint.
    pub metrics: MetricsConfig,
    /// How the node reaches its own CometBFT.
    pub cometbft: CometConfig,
    /// State retention.
    pub storage: StorageConfig,
    /// `ballastd dev` only.
    pub dev: DevConfig,
}

/// `[abci]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbciConfig {
    /// `tcp://host:port` or `unix:///path`.
    pub address: String,
}

/// `[grpc]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcConfig {
    /// Whether to serve gRPC.
    pub enable: bool,
    /// `host:port`.
    pub address: String,
    /// PEM certificate chain to serve TLS with ("" = plaintext); relative to the home. Set with
    /// `tls_key_file`.
    #[serde(default)]
    pub tls_cert_file: String,
    /// PEM private key of `tls_cert_file` ("" = plaintext); relative to the home.
    #[serde(default)]
    pub tls_key_file: String,
    /// Messages a stream subscriber may have waiting before it is cut off with
    /// RESOURCE_EXHAUSTED.
    #[serde(default = "default_subscriber_buffer")]
    pub subscriber_buffer: usize,
}

fn default_subscriber_buffer() -> usize {
    ballast_app::config::DEFAULT_SUBSCRIBER_BUFFER
}

impl GrpcConfig {
    /// The gRPC server's settings, with TLS paths resolved against `home`.
    pub fn server_config(&self, home: &Path) -> ballast_app::config::GrpcServerConfig {
        let tls = (!self.tls_cert_file.is_empty() && !self.tls_key_file.is_empty()).then(|| {
            ballast_app::config::GrpcTlsFiles {
                cert: home.join(&self.tls_cert_file),
                key: home.join(&self.tls_key_file),
            }
        });
        ballast_app::config::GrpcServerConfig {
            tls,
            subscriber_buffer: self.subscriber_buffer,
        }
    }
}

/// `[metrics]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Whether to serve `/metrics`.
    pub enable: bool,
    /// `host:port`.
    pub address: String,
}

/// `[cometbft]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CometConfig {
    /// CometBFT's RPC URL, `http://host:port`.
    pub rpc: String,
}

/// `[storage]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// State versions to keep (0 = keep all).
    pub keep_recent: u64,
    /// Blocks CometBFT must keep (0 = all).
    pub min_retain_blocks: u64,
}

/// `[dev]`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevConfig {
    /// Time between blocks.
    pub block_interval_ms: u64,
    /// `host:port` of the CometBFT-compatible JSON-RPC it serves.
    pub rpc_address: String,
}

impl NodeConfig {
    /// `<home>/config/ballast.toml`.
    pub fn path(home: &Path) -> PathBuf {
        home.join("config").join("ballast.toml")
    }

    /// Reads and checks `<home>/config/ballast.toml`.
    pub fn load(home: &Path) -> anyhow::Result<NodeConfig> {
        let path = Self::path(home);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (run `ballastd init` to create a home)",
                path.display()
            )
        })?;
        Self::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Parses the TOML text of a `ballast.toml`.
    pub fn parse(text: &str) -> anyhow::Result<NodeConfig> {
        let config: NodeConfig = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Writes `<home>/config/ballast.toml`, with comments, creating `config/` if needed.
    pub fn save(&self, home: &Path) -> anyhow::Result<()> {
        self.validate()?;
        let path = Self::path(home);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, self.to_toml()).with_context(|| format!("writing {}", path.display()))
    }

    /// The defaults for a new home.
    pub fn default_for(chain_id: &str, moniker: &str) -> NodeConfig {
        NodeConfig {
            chain_id: chain_id.to_string(),
            moniker: moniker.to_string(),
            abci: AbciConfig {
                address: DEFAULT_ABCI_ADDRESS.to_string(),
            },
            grpc: GrpcConfig {
                enable: true,
                address: DEFAULT_GRPC_ADDRESS.to_string(),
                tls_cert_file: String::new(),
                tls_key_file: String::new(),
                subscriber_buffer: default_subscriber_buffer(),
            },
            metrics: MetricsConfig {
                enable: true,
                address: DEFAULT_METRICS_ADDRESS.to_string(),
            },
            cometbft: CometConfig {
                rpc: DEFAULT_COMETBFT_RPC.to_string(),
            },
            storage: StorageConfig {
                keep_recent: 0,
                min_retain_blocks: 0,
            },
            dev: DevConfig {
                block_interval_ms: DEFAULT_DEV_BLOCK_INTERVAL_MS,
                rpc_address: DEFAULT_DEV_RPC_ADDRESS.to_string(),
            },
        }
    }

    /// Checks what TOML types cannot: non-empty names and well-formed addresses.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.chain_id.is_empty() {
            anyhow::bail!("chain_id: expected a non-empty chain id, found \"\"");
        }
        if self.moniker.is_empty() {
            anyhow::bail!("moniker: expected a non-empty name, found \"\"");
        }
        check_listen_url("abci.address", &self.abci.address, &["tcp", "unix"])?;
        check_host_port("grpc.address", &self.grpc.address)?;
        if self.grpc.tls_cert_file.is_empty() != self.grpc.tls_key_file.is_empty() {
            anyhow::bail!(
                "grpc.tls_cert_file and grpc.tls_key_file: expected both set (TLS) or both empty \
                 (plaintext), found only {}",
                if self.grpc.tls_cert_file.is_empty() {
                    "tls_key_file"
                } else {
                    "tls_cert_file"
                }
            );
        }
        self.grpc
            .server_config(Path::new(""))
            .validate()
            .map_err(|e| anyhow::anyhow!("grpc.subscriber_buffer: {e}"))?;
        check_host_port("metrics.address", &self.metrics.address)?;
        check_listen_url("cometbft.rpc", &self.cometbft.rpc, &["http", "https"])?;
        check_host_port("dev.rpc_address", &self.dev.rpc_address)?;
        if self.dev.block_interval_ms == 0 {
            anyhow::bail!(
                "dev.block_interval_ms: expected a positive number of milliseconds, found 0"
            );
        }
        Ok(())
    }

    /// The commented TOML text of this config.
    pub fn to_toml(&self) -> String {
        let s = |v: &str| toml::Value::String(v.to_string()).to_string();
        format!(
            r#"# Ballast node settings, read by `ballastd start` (and `ballastd dev`).
# CometBFT's own settings are in config.toml next to this file.

# The chain this home belongs to; must equal chain_id in genesis.json.
chain_id = {chain_id}

# A human-readable name for this node (CometBFT's moniker in config.toml is the same).
moniker = {moniker}

[abci]
# Where ballastd serves ABCI for CometBFT: tcp://host:port or unix:///path.
# CometBFT's proxy_app in config.toml must point here.
address = {abci}

[grpc]
# Serve the gRPC API (queries, tx simulation and broadcast, reflection, health).
enable = {grpc_enable}
# host:port to listen on.
address = {grpc}
# TLS: a PEM certificate chain and its PEM private key (paths relative to the home). Both empty
# serves plaintext; both set serves TLS only.
tls_cert_file = {grpc_cert}
# The private key of tls_cert_file.
tls_key_file = {grpc_key}
# Messages a stream subscriber (SubscribeValidatorSet, SubscribeCheckpoints) may have waiting;
# one that falls further behind is cut off with RESOURCE_EXHAUSTED and resubscribes.
subscriber_buffer = {grpc_buffer}

[metrics]
# Serve Prometheus metrics under /metrics.
enable = {metrics_enable}
# host:port to listen on.
address = {metrics}

[cometbft]
# This node's CometBFT RPC URL; gRPC BroadcastTx forwards transactions here.
rpc = {rpc}

[storage]
# State versions to keep on disk (0 = keep every version).
keep_recent = {keep_recent}
# Blocks CometBFT must keep, sent as Commit's retain height (0 = keep every block).
min_retain_blocks = {min_retain}

[dev]
# `ballastd dev` only: time between blocks, in milliseconds.
block_interval_ms = {interval}
# `ballastd dev` only: host:port of the CometBFT-compatible JSON-RPC it serves.
rpc_address = {dev_rpc}
"#,
            chain_id = s(&self.chain_id),
            moniker = s(&self.moniker),
            abci = s(&self.abci.address),
            grpc_enable = self.grpc.enable,
            grpc = s(&self.grpc.address),
            grpc_cert = s(&self.grpc.tls_cert_file),
            grpc_key = s(&self.grpc.tls_key_file),
            grpc_buffer = self.grpc.subscriber_buffer,
            metrics_enable = self.metrics.enable,
            metrics = s(&self.metrics.address),
            rpc = s(&self.cometbft.rpc),
            keep_recent = self.storage.keep_recent,
            min_retain = self.storage.min_retain_blocks,
            interval = self.dev.block_interval_ms,
            dev_rpc = s(&self.dev.rpc_address),
        )
    }
}

/// Checks `scheme://rest` with one of `schemes`; tcp/http need `host:port`, unix a path.
fn check_listen_url(key: &str, value: &str, schemes: &[&str]) -> anyhow::Result<()> {
    let Some((scheme, rest)) = value.split_once("://") else {
        anyhow::bail!(
            "{key}: expected {}://..., found {value:?}",
            schemes.join("|")
        );
    };
    if !schemes.contains(&scheme) {
        anyhow::bail!(
            "{key}: expected scheme {}, found {scheme:?} in {value:?}",
            schemes.join(" or ")
        );
    }
    if scheme == "unix" {
        if rest.is_empty() {
            anyhow::bail!("{key}: expected a socket path after unix://, found {value:?}");
        }
        return Ok(());
    }
    check_host_port(key, rest.trim_end_matches('/'))
}

/// Checks `host:port` with a non-empty host and a port number.
pub fn check_host_port(key: &str, value: &str) -> anyhow::Result<()> {
    let Some((host, port)) = value.rsplit_once(':') else {
        anyhow::bail!("{key}: expected host:port, found {value:?}");
    };
    if host.is_empty() {
        anyhow::bail!("{key}: expected a host before the port, found {value:?}");
    }
    if port.parse::<u16>().is_err() {
        anyhow::bail!("{key}: expected a port number 0-65535, found {port:?} in {value:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_config_loads_back_and_every_key_is_commented() {
        let dir = crate::home::test_dir::TestDir::new();
        let mut c = NodeConfig::default_for("ballast-local-1", "my \"node\"");
        c.storage.keep_recent = 100;
        c.grpc.enable = false;
        c.save(dir.path()).expect("save");
        assert_eq!(NodeConfig::load(dir.path()).expect("load"), c);
        let text = std::fs::read_to_string(NodeConfig::path(dir.path())).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.contains(" = ") && !line.starts_with('#') {
                assert!(
                    i > 0 && lines[i - 1].starts_with('#'),
                    "key without a comment above it: {line}"
                );
            }
        }
    }

    #[test]
    fn unknown_keys_and_bad_addresses_are_rejected() {
        let good = NodeConfig::default_for("c", "m").to_toml();
        let unknown = good.replace("keep_recent = 0", "keep_recent = 0\nkeep_recnt = 5");
        let e = NodeConfig::parse(&unknown).expect_err("unknown key");
        assert!(format!("{e:#}").contains("keep_recnt"), "{e:#}");
        let bad = good.replace("127.0.0.1:9090", "127.0.0.1");
        let e = NodeConfig::parse(&bad).expect_err("bad address");
        assert!(format!("{e:#}").contains("grpc.address"), "{e:#}");
        let bad = good.replace("tcp://127.0.0.1:26658", "udp://127.0.0.1:26658");
        let e = NodeConfig::parse(&bad).expect_err("bad scheme");
        assert!(format!("{e:#}").contains("abci.address"), "{e:#}");
        let unix = good.replace("tcp://127.0.0.1:26658", "unix:///tmp/ballast.sock");
        NodeConfig::parse(&unix).expect("unix socket is fine");
    }

    #[test]
    fn grpc_tls_and_subscriber_buffer_are_read_and_checked() {
        let good = NodeConfig::default_for("c", "m").to_toml();
        let c = NodeConfig::parse(&good).expect("defaults");
        let server = c.grpc.server_config(Path::new("/home/n"));
        assert_eq!(server.tls, None);
        assert_eq!(
            server.subscriber_buffer,
            ballast_app::config::DEFAULT_SUBSCRIBER_BUFFER
        );
        let tls = good
            .replace(
                "tls_cert_file = \"\"",
                "tls_cert_file = \"config/grpc.crt\"",
            )
            .replace("tls_key_file = \"\"", "tls_key_file = \"/etc/grpc.key\"")
            .replace("subscriber_buffer = 256", "subscriber_buffer = 4");
        let server = NodeConfig::parse(&tls)
            .expect("tls")
            .grpc
            .server_config(Path::new("/home/n"));
        assert_eq!(
            server.tls,
            Some(ballast_app::config::GrpcTlsFiles {
                cert: PathBuf::from("/home/n/config/grpc.crt"),
                key: PathBuf::from("/etc/grpc.key"),
            })
        );
        assert_eq!(server.subscriber_buffer, 4);
        let half = good.replace("tls_key_file = \"\"", "tls_key_file = \"k.pem\"");
        let e = NodeConfig::parse(&half).expect_err("key without cert");
        assert!(format!("{e:#}").contains("tls_cert_file"), "{e:#}");
        let zero = good.replace("subscriber_buffer = 256", "subscriber_buffer = 0");
        let e = NodeConfig::parse(&zero).expect_err("zero buffer");
        assert!(format!("{e:#}").contains("subscriber_buffer"), "{e:#}");
        // A ballast.toml written before these keys existed still loads, with the defaults.
        let old: String = good
            .lines()
            .filter(|l| !l.starts_with("tls_") && !l.starts_with("subscriber_buffer"))
            .map(|l| format!("{l}\n"))
            .collect();
        let c = NodeConfig::parse(&old).expect("old file");
        assert_eq!(c.grpc.subscriber_buffer, 256);
        assert!(c.grpc.tls_cert_file.is_empty());
    }
}
