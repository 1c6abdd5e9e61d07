//! CometBFT v0.38's `config/config.toml`.
//!
//! The text is CometBFT v0.38's own template (every section and comment, defaults filled in),
//! kept in `cometbft_config.toml` next to this file; the keys a Ballast home needs to set are
//! `{{name}}` placeholders that [`CometBftConfig::render`] fills. Three pre-v0.38 keys
//! (`fast_sync`, `p2p.upnp`, `[fastsync]`) are added for tendermint-rs's parser; CometBFT v0.38
//! ignores them.

const TEMPLATE: &str = include_str!("cometbft_config.toml");

/// The CometBFT version this template follows (written as `version`, which must be semver).
pub const COMETBFT_VERSION: &str = "0.38.17";

/// Default CometBFT RPC listen address.
pub const DEFAULT_RPC_LADDR: &str = "tcp://127.0.0.1:26657";
/// Default CometBFT P2P listen address.
pub const DEFAULT_P2P_LADDR: &str = "tcp://0.0.0.0:26656";

/// The `config.toml` keys a Ballast home sets; everything else keeps CometBFT's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CometBftConfig {
    /// `moniker`.
    pub moniker: String,
    /// `proxy_app`: ballastd's ABCI address.
    pub proxy_app: String,
    /// `log_level`.
    pub log_level: String,
    /// `rpc.laddr`.
    pub rpc_laddr: String,
    /// `rpc.pprof_laddr` (empty: off).
    pub pprof_laddr: String,
    /// `p2p.laddr`.
    pub p2p_laddr: String,
    /// `p2p.external_address` (empty: taken from the listener).
    pub external_address: String,
    /// `p2p.seeds`, each `nodeid@host:port`.
    pub seeds: Vec<String>,
    /// `p2p.persistent_peers`, each `nodeid@host:port`.
    pub persistent_peers: Vec<String>,
    /// `p2p.addr_book_strict`: false lets private and loopback addresses in.
    pub addr_book_strict: bool,
    /// `p2p.allow_duplicate_ip`: true lets several peers share an IP (local testnets).
    pub allow_duplicate_ip: bool,
    /// `consensus.timeout_propose`, a Go duration such as `3s`.
    pub timeout_propose: String,
    /// `consensus.timeout_commit`, a Go duration such as `1s`.
    pub timeout_commit: String,
    /// `instrumentation.prometheus`.
    pub prometheus: bool,
    /// `instrumentation.prometheus_listen_addr`.
    pub prometheus_listen_addr: String,
}

impl CometBftConfig {
    /// CometBFT's defaults, with `proxy_app` pointing at ballastd.
    pub fn new(moniker: &str, proxy_app: &str) -> CometBftConfig {
        CometBftConfig {
            moniker: moniker.to_string(),
            proxy_app: proxy_app.to_string(),
            log_level: "info".to_string(),
            rpc_laddr: DEFAULT_RPC_LADDR.to_string(),
            pprof_laddr: String::new(),
            p2p_laddr: DEFAULT_P2P_LADDR.to_string(),
            external_address: String::new(),
            seeds: Vec::new(),
            persistent_peers: Vec::new(),
            addr_book_strict: true,
            allow_duplicate_ip: false,
            timeout_propose: "3s".to_string(),
            timeout_commit: "1s".to_string(),
            prometheus: false,
            // CometBFT's default is ":26660", where ballastd serves its own metrics.
            prometheus_listen_addr: "127.0.0.1:26661".to_string(),
        }
    }

    /// The full `config.toml` text.
    pub fn render(&self) -> String {
        let s = |v: &str| toml::Value::String(v.to_string()).to_string();
        let values: [(&str, String); 16] = [
            ("version", s(COMETBFT_VERSION)),
            ("proxy_app", s(&self.proxy_app)),
            ("moniker", s(&self.moniker)),
            ("log_level", s(&self.log_level)),
            ("rpc_laddr", s(&self.rpc_laddr)),
            ("pprof_laddr", s(&self.pprof_laddr)),
            ("p2p_laddr", s(&self.p2p_laddr)),
            ("external_address", s(&self.external_address)),
            ("seeds", s(&self.seeds.join(","))),
            ("persistent_peers", s(&self.persistent_peers.join(","))),
            ("addr_book_strict", self.addr_book_strict.to_string()),
            ("allow_duplicate_ip", self.allow_duplicate_ip.to_string()),
            ("timeout_propose", s(&self.timeout_propose)),
            ("timeout_commit", s(&self.timeout_commit)),
            ("prometheus", self.prometheus.to_string()),
            ("prometheus_listen_addr", s(&self.prometheus_listen_addr)),
        ];
        // One pass over the template, so a value that itself looks like a placeholder (a
        // moniker such as "{{seeds}}") is written as is.
        let mut out = String::with_capacity(TEMPLATE.len() + 256);
        let mut rest = TEMPLATE;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .expect("every placeholder in the template is closed");
            let name = &after[..end];
            let value = values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
                .expect("every placeholder in the template has a value");
            out.push_str(value);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled_and_the_result_is_toml() {
        let mut c = CometBftConfig::new("node \"zero\" {{seeds}}", "tcp://127.0.0.1:1");
        c.persistent_peers = vec!["ab@127.0.0.1:2".into(), "cd@127.0.0.1:3".into()];
        let text = c.render();
        assert!(!text.contains("= {{"), "unfilled placeholder");
        let v: toml::Value = toml::from_str(&text).expect("valid TOML");
        assert_eq!(v["moniker"].as_str(), Some("node \"zero\" {{seeds}}"));
        assert_eq!(v["proxy_app"].as_str(), Some("tcp://127.0.0.1:1"));
        assert_eq!(
            v["p2p"]["persistent_peers"].as_str(),
            Some("ab@127.0.0.1:2,cd@127.0.0.1:3")
        );
        for section in [
            "rpc",
            "p2p",
            "mempool",
            "statesync",
            "blocksync",
            "consensus",
            "storage",
            "tx_index",
            "instrumentation",
        ] {
            assert!(v.get(section).is_some(), "missing [{section}]");
        }
    }
}
