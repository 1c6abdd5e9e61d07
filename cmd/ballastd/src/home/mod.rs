//! Writers of a node home: Ballast's `config/ballast.toml` plus a complete CometBFT v0.38 home
//! that `cometbft start --home <home>` accepts unchanged.
//!
//! ```text
//! <home>/config/ballast.toml              ballastd's settings (crate::config::NodeConfig)
//! <home>/config/config.toml               CometBFT's settings (cometbft_config)
//! <home>/config/genesis.json              CometBFT genesis with Ballast's app_state (genesis)
//! <home>/config/priv_validator_key.json   ed25519 consensus key, 0600 (keys)
//! <home>/config/node_key.json             ed25519 P2P key, 0600 (keys)
//! <home>/config/bls_key.json              BLS12-381 checkpoint key, 0600 (ballast_app::bls_key)
//! <home>/data/priv_validator_state.json   last signed height/round/step, 0600 (keys)
//! <home>/data/ballast/                    ballastd's store (created by `ballastd start`)
//! ```

pub mod cometbft_config;
pub mod genesis;
pub mod keys;
pub mod ports;

use crate::config::NodeConfig;
use anyhow::Context;
use cometbft_config::CometBftConfig;
use keys::NodeKeys;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// `<home>/config`.
pub fn config_dir(home: &Path) -> PathBuf {
    home.join("config")
}

/// `<home>/data`.
pub fn data_dir(home: &Path) -> PathBuf {
    home.join("data")
}

/// `<home>/config/config.toml`.
pub fn cometbft_config_path(home: &Path) -> PathBuf {
    config_dir(home).join("config.toml")
}

/// `<home>/config/genesis.json`.
pub fn genesis_path(home: &Path) -> PathBuf {
    config_dir(home).join("genesis.json")
}

/// `<home>/config/priv_validator_key.json`.
pub fn priv_validator_key_path(home: &Path) -> PathBuf {
    config_dir(home).join("priv_validator_key.json")
}

/// `<home>/config/node_key.json`.
pub fn node_key_path(home: &Path) -> PathBuf {
    config_dir(home).join("node_key.json")
}

/// `<home>/data/priv_validator_state.json`.
pub fn priv_validator_state_path(home: &Path) -> PathBuf {
    data_dir(home).join("priv_validator_state.json")
}

/// The configuration files `init` writes (and refuses to replace without `--overwrite`).
pub fn config_files(home: &Path) -> [PathBuf; 3] {
    [
        NodeConfig::path(home),
        cometbft_config_path(home),
        genesis_path(home),
    ]
}

/// Writes `text` to `path` with `mode` through a temporary file and a rename, so a crash never
/// leaves a half-written file.
pub fn write_file(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    drop(f);
    // The umask may have narrowed the mode; set it exactly.
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// [`write_file`] with mode 0600, for secrets.
pub fn write_private_file(path: &Path, text: &str) -> anyhow::Result<()> {
    write_file(path, text, 0o600)
}

/// Creates `dir` (and parents) with mode 0700, as CometBFT does for its home.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Everything one node home holds, ready to be written.
#[derive(Clone, Debug)]
pub struct NodeHome {
    /// `config/ballast.toml`.
    pub node: NodeConfig,
    /// `config/config.toml`.
    pub cometbft: CometBftConfig,
    /// The key files.
    pub keys: NodeKeys,
}

impl NodeHome {
    /// Writes the home's directories, configs, keys and `genesis`.
    pub fn write(&self, home: &Path, genesis: &genesis::GenesisDoc) -> anyhow::Result<()> {
        create_private_dir(&config_dir(home))?;
        create_private_dir(&data_dir(home))?;
        self.keys.write(home)?;
        self.node.save(home)?;
        write_file(&cometbft_config_path(home), &self.cometbft.render(), 0o644)?;
        genesis.save(&genesis_path(home))
    }
}

/// Where each listener of a node binds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listeners {
    /// ballastd ABCI, `tcp://host:port` or `unix:///path` (CometBFT's `proxy_app`).
    pub abci: String,
    /// ballastd gRPC, `host:port`.
    pub grpc: String,
    /// ballastd metrics, `host:port`.
    pub metrics: String,
    /// CometBFT RPC, `tcp://host:port`.
    pub rpc_laddr: String,
    /// CometBFT P2P, `tcp://host:port`.
    pub p2p_laddr: String,
    /// CometBFT Prometheus, `host:port` (used when enabled).
    pub prometheus: String,
}

impl Listeners {
    /// Every listener on `ip` at `ports`, except P2P, which binds `p2p_ip` (`0.0.0.0` for a
    /// node that takes peers from other machines).
    pub fn on(ip: &str, p2p_ip: &str, ports: &ports::Ports) -> Listeners {
        Listeners {
            abci: format!("tcp://{ip}:{}", ports.abci),
            grpc: format!("{ip}:{}", ports.grpc),
            metrics: format!("{ip}:{}", ports.metrics),
            rpc_laddr: format!("tcp://{ip}:{}", ports.rpc),
            p2p_laddr: format!("tcp://{p2p_ip}:{}", ports.p2p),
            prometheus: format!("{ip}:{}", ports.prometheus),
        }
    }
}

impl NodeHome {
    /// A home for `moniker` on `chain_id` with the given listeners and keys; CometBFT's
    /// settings are its defaults otherwise.
    pub fn new(
        chain_id: &str,
        moniker: &str,
        listeners: &Listeners,
        keys: NodeKeys,
    ) -> anyhow::Result<NodeHome> {
        genesis::validate_chain_id(chain_id)?;
        if moniker.is_empty() {
            anyhow::bail!("expected a non-empty moniker");
        }
        let (rpc_host, rpc_port) = tcp_host_port("CometBFT RPC address", &listeners.rpc_laddr)?;
        tcp_host_port("CometBFT P2P address", &listeners.p2p_laddr)?;
        let rpc_dial = format!("{}:{rpc_port}", dial_host(rpc_host));
        let mut node = NodeConfig::default_for(chain_id, moniker);
        node.abci.address = listeners.abci.clone();
        node.grpc.address = listeners.grpc.clone();
        node.metrics.address = listeners.metrics.clone();
        node.cometbft.rpc = format!("http://{rpc_dial}");
        // `ballastd dev` stands in for CometBFT, so it serves where CometBFT's RPC would be.
        node.dev.rpc_address = format!("{rpc_host}:{rpc_port}");
        node.validate()?;
        let mut cometbft = CometBftConfig::new(moniker, &listeners.abci);
        cometbft.rpc_laddr = listeners.rpc_laddr.clone();
        cometbft.p2p_laddr = listeners.p2p_laddr.clone();
        cometbft.prometheus_listen_addr = listeners.prometheus.clone();
        crate::config::check_host_port("CometBFT Prometheus address", &listeners.prometheus)?;
        Ok(NodeHome {
            node,
            cometbft,
            keys,
        })
    }
}

/// `host:port` of a `tcp://host:port` address (`what` names it in the error).
pub fn tcp_host_port<'a>(what: &str, addr: &'a str) -> anyhow::Result<(&'a str, u16)> {
    let rest = addr
        .strip_prefix("tcp://")
        .ok_or_else(|| anyhow::anyhow!("{what}: expected tcp://host:port, found {addr:?}"))?;
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("{what}: expected tcp://host:port, found {addr:?}"))?;
    if host.is_empty() {
        anyhow::bail!("{what}: expected a host in {addr:?}");
    }
    let port = port.parse::<u16>().map_err(|_| {
        anyhow::anyhow!("{what}: expected a port number, found {port:?} in {addr:?}")
    })?;
    Ok((host, port))
}

/// The address a local client dials for a listener bound to `host`: a wildcard bind
/// (`0.0.0.0`, `::`) is reached on loopback.
pub fn dial_host(host: &str) -> &str {
    match host {
        "0.0.0.0" | "" => "127.0.0.1",
        "[::]" | "::" => "[::1]",
        h => h,
    }
}

#[cfg(test)]
pub(crate) mod test_dir {
    //! A temporary directory removed on drop (the crate has no dev-dependencies).

    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    static NEXT: AtomicU32 = AtomicU32::new(0);

    pub struct TestDir(PathBuf);

    impl TestDir {
        pub fn new() -> TestDir {
            let n = NEXT.fetch_add(1, Ordering::SeqCst);
            let p = std::env::temp_dir().join(format!("ballastd-unit-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).expect("the temp dir is writable");
            TestDir(p)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_written_with_the_requested_mode() {
        let dir = test_dir::TestDir::new();
        let p = dir.path().join("secret.json");
        write_private_file(&p, "{}").expect("write");
        let mode = std::fs::metadata(&p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        write_file(&p, "{\"a\":1}", 0o644).expect("rewrite");
        let mode = std::fs::metadata(&p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "{\"a\":1}");
    }

    #[test]
    fn tcp_addresses_are_checked() {
        assert_eq!(
            tcp_host_port("x", "tcp://127.0.0.1:26657").expect("ok"),
            ("127.0.0.1", 26657)
        );
        assert!(tcp_host_port("x", "127.0.0.1:26657").is_err());
        assert!(tcp_host_port("x", "tcp://127.0.0.1").is_err());
        assert!(tcp_host_port("x", "tcp://:1").is_err());
        assert!(tcp_host_port("x", "tcp://h:70000").is_err());
        assert_eq!(dial_host("0.0.0.0"), "127.0.0.1");
        assert_eq!(dial_host("10.0.0.2"), "10.0.0.2");
    }
}
