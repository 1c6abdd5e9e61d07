//! The demo consumer's configuration: a TOML file that `ballast-consumer init` writes (with a
//! comment on every field), read by every other command.
//!
//! Relative paths in the file (`data_dir`, `hub.keyring_dir`, `hub.tls_ca_file`) are taken
//! relative to the directory of the config file.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the configuration cannot be used: the same errors as the other daemons' configuration.
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
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The consumer id: the consumer chain's chain id (1 to 50 of `[a-zA-Z0-9._-]`).
    pub consumer_id: String,
    /// Where the verified set and the light client's state are kept.
    pub data_dir: PathBuf,
    /// Log line format.
    pub log_format: LogFormat,
    /// The hub and the account that signs `register` and `fund`.
    pub hub: HubConfig,
    /// The light client's trust root and parameters.
    pub light_client: LightClientConfig,
    /// The terms `register` sends (flags override them).
    pub terms: TermsConfig,
}

/// The hub side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HubConfig {
    /// The hub's gRPC (`host:port`, `http://host:port` or `https://host:port`): the
    /// `ballast.consumer.v1.Consumer` service.
    pub grpc_address: String,
    /// The hub's CometBFT JSON-RPC (`tcp://host:port` or `http://host:port`): the light client's
    /// headers and tx broadcast.
    pub rpc_address: String,
    /// The hub's chain id (empty: the one the RPC node reports).
    pub chain_id: String,
    /// PEM file of the CA that signed the hub's gRPC TLS certificate (empty: plain gRPC, unless
    /// the address is https, which then needs it).
    pub tls_ca_file: PathBuf,
    /// The name in the hub's certificate (empty: the host of `grpc_address`).
    pub tls_domain: String,
    /// Home directory holding the keyring (`<dir>/keyring-test/` or `<dir>/keyring-file/`).
    pub keyring_dir: PathBuf,
    /// `test` or `file` (the `file` passphrase comes from `$BALLAST_KEYRING_PASSPHRASE`).
    pub keyring_backend: String,
    /// Name (or address) of the key that signs `register` (it becomes the consumer's owner) and
    /// pays for `fund`.
    pub key_name: String,
    /// Multiplier on simulated gas, as a decimal string.
    pub gas_adjustment: String,
    /// Gas price such as `0.025ubal`; empty: the chain's minimum gas price.
    pub gas_prices: String,
    /// How long to wait for a tx to be included, in seconds.
    pub tx_timeout_secs: u64,
}

/// The light client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LightClientConfig {
    /// Height of a hub header the operator trusts (0: none; `run` then refuses to start unless
    /// trust on first use is allowed).
    pub trusted_height: u64,
    /// Its hash (hex, 32 bytes), with `trusted_height`.
    pub trusted_hash: String,
    /// With no trusted header configured, trust the first header the light client needs, as
    /// the hub it follows serves it (`run --trust-on-first-use` allows it too).
    pub trust_on_first_use: bool,
    /// How long a verified header vouches for later ones, in seconds (below the hub's
    /// unbonding period).
    pub trusting_period_secs: u64,
    /// Allowed drift between the hub's block times and this machine's clock, in seconds.
    pub clock_drift_secs: u64,
    /// Fraction of the trusted validators' power that must sign a header the client skips to,
    /// as `n/d` (at least 1/3, at most 1).
    pub trust_threshold: String,
}

/// The consumer's terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TermsConfig {
    /// Display name (empty: the consumer id).
    pub name: String,
    /// ubal drawn from the lease every epoch while ACTIVE.
    pub fee_per_epoch: String,
    /// Opted-in operators with power needed to become ACTIVE.
    pub min_operators: u32,
    /// Most operators in the set.
    pub max_operators: u32,
    /// Share of the allocated stake a double sign on this consumer slashes (decimal, 0 to 1).
    pub double_sign_slash_fraction: String,
    /// Epochs an operator is jailed on the hub after a double sign here.
    pub jail_epochs: u64,
    /// `shared` or `isolated`.
    pub allocation_mode: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            consumer_id: String::new(),
            data_dir: PathBuf::from("consumer-data"),
            log_format: LogFormat::Text,
            hub: HubConfig::default(),
            light_client: LightClientConfig::default(),
            terms: TermsConfig::default(),
        }
    }
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            grpc_address: "http://127.0.0.1:9090".into(),
            rpc_address: "tcp://127.0.0.1:26657".into(),
            chain_id: String::new(),
            tls_ca_file: PathBuf::new(),
            tls_domain: String::new(),
            keyring_dir: PathBuf::from("."),
            keyring_backend: "test".into(),
            key_name: "consumer".into(),
            gas_adjustment: "1.5".into(),
            gas_prices: String::new(),
            tx_timeout_secs: 60,
        }
    }
}

impl Default for LightClientConfig {
    fn default() -> Self {
        LightClientConfig {
            trusted_height: 0,
            trusted_hash: String::new(),
            trust_on_first_use: false,
            trusting_period_secs: 14 * 24 * 3600,
            clock_drift_secs: 10,
            trust_threshold: "1/3".into(),
        }
    }
}

impl Default for TermsConfig {
    fn default() -> Self {
        TermsConfig {
            name: String::new(),
            fee_per_epoch: "1000".into(),
            min_operators: 1,
            max_operators: 10,
            double_sign_slash_fraction: "0.05".into(),
            jail_epochs: 10,
            allocation_mode: "shared".into(),
        }
    }
}

/// `s` as a TOML string literal.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn qp(p: &Path) -> String {
    q(&p.to_string_lossy())
}

/// Whether `id` is a valid consumer id (a chain id: 1 to 50 of `[a-zA-Z0-9._-]`).
pub fn valid_consumer_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 50
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Config {
    /// The file `ballast-consumer init` writes: every field with a comment.
    pub fn render(&self) -> String {
        let h = &self.hub;
        let l = &self.light_client;
        let t = &self.terms;
        let log = match self.log_format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        };
        format!(
            r#"# ballast-consumer configuration (written by `ballast-consumer init`).
# Relative paths are taken relative to this file's directory.

# The consumer id: the consumer chain's chain id (1 to 50 of [a-zA-Z0-9._-]).
consumer_id = {consumer_id}
# Where the verified validator set (consumer_set.json) and the light client's trusted header
# (light_client.json) are kept.
data_dir = {data_dir}
# Log format on stderr: "text" or "json". Verified updates are printed on stdout.
log_format = {log}

[hub]
# The hub's gRPC (host:port, http://host:port or https://host:port): ballast.consumer.v1.Consumer.
grpc_address = {grpc}
# The hub's CometBFT JSON-RPC: headers for the light client, and tx broadcast.
rpc_address = {rpc}
# The hub's chain id; empty: the one the RPC node reports.
chain_id = {chain_id}
# PEM of the CA of the hub's gRPC TLS certificate; empty: plain gRPC (https addresses need it).
tls_ca_file = {tls_ca}
# The name in the hub's certificate; empty: the host of grpc_address.
tls_domain = {tls_domain}
# Home directory holding the keyring (<dir>/keyring-test/ or <dir>/keyring-file/).
keyring_dir = {keyring_dir}
# "test" or "file"; the file backend's passphrase is read from $BALLAST_KEYRING_PASSPHRASE.
keyring_backend = {keyring_backend}
# Key that signs `register` (it becomes the consumer's owner) and pays for `fund`.
key_name = {key_name}
# Multiplier on simulated gas.
gas_adjustment = {gas_adjustment}
# Gas price such as "0.025ubal"; empty: the chain's minimum gas price.
gas_prices = {gas_prices}
# Seconds to wait for a tx to be included in a block.
tx_timeout_secs = {tx_timeout}

[light_client]
# A hub header you trust: its height and hash (hex), e.g. from a hub node you run yourself.
# `run` verifies every header from it. With none (0 and ""), `run` refuses to start unless
# trust_on_first_use is true (or `run --trust-on-first-use` is given).
trusted_height = {trusted_height}
trusted_hash = {trusted_hash}
# With no trusted header: trust the first header needed as the followed hub serves it (a hub
# that lies from the start is not caught), and record it in data_dir.
trust_on_first_use = {tofu}
# Seconds a verified header vouches for later ones (keep it below the hub's unbonding period).
trusting_period_secs = {trusting_period}
# Seconds the hub's block times may be ahead of this machine's clock.
clock_drift_secs = {clock_drift}
# Share of the trusted validators' power that must sign a header the client skips to.
trust_threshold = {trust_threshold}

[terms]
# What `ballast-consumer register` sends (its flags override these).
# Display name; empty: the consumer id.
name = {name}
# ubal drawn from the lease at every epoch end while ACTIVE.
fee_per_epoch = {fee}
# Opted-in operators with power needed to become ACTIVE.
min_operators = {min_ops}
# Most operators in the consumer's validator set.
max_operators = {max_ops}
# Share of the allocated stake a double sign on this consumer slashes (0 to 1).
double_sign_slash_fraction = {slash}
# Epochs an operator is jailed on the hub after a double sign on this consumer.
jail_epochs = {jail}
# "shared" (stake reused up to the hub's max_reuse_ratio) or "isolated".
allocation_mode = {mode}
"#,
            consumer_id = q(&self.consumer_id),
            data_dir = qp(&self.data_dir),
            log = q(log),
            grpc = q(&h.grpc_address),
            rpc = q(&h.rpc_address),
            chain_id = q(&h.chain_id),
            tls_ca = qp(&h.tls_ca_file),
            tls_domain = q(&h.tls_domain),
            keyring_dir = qp(&h.keyring_dir),
            keyring_backend = q(&h.keyring_backend),
            key_name = q(&h.key_name),
            gas_adjustment = q(&h.gas_adjustment),
            gas_prices = q(&h.gas_prices),
            tx_timeout = h.tx_timeout_secs,
            trusted_height = l.trusted_height,
            trusted_hash = q(&l.trusted_hash),
            tofu = l.trust_on_first_use,
            trusting_period = l.trusting_period_secs,
            clock_drift = l.clock_drift_secs,
            trust_threshold = q(&l.trust_threshold),
            name = q(&t.name),
            fee = q(&t.fee_per_epoch),
            min_ops = t.min_operators,
            max_ops = t.max_operators,
            slash = q(&t.double_sign_slash_fraction),
            jail = t.jail_epochs,
            mode = q(&t.allocation_mode),
        )
    }

    /// Reads `path`, resolves relative paths against its directory and validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let mut cfg: Config = ballast_vigilante::config::read_toml(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.resolve_paths(base);
        cfg.validate()?;
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
        fix(&mut self.hub.keyring_dir);
        fix(&mut self.hub.tls_ca_file);
    }

    /// The configured light-client trust root, if any.
    pub fn trusted_root(&self) -> Result<Option<(u64, [u8; 32])>, ConfigError> {
        let l = &self.light_client;
        match (l.trusted_height, l.trusted_hash.is_empty()) {
            (0, true) => Ok(None),
            (0, false) => Err(invalid(
                "light_client.trusted_height",
                "expected the height of light_client.trusted_hash, found 0",
            )),
            (_, true) => Err(invalid(
                "light_client.trusted_hash",
                "expected the hex hash of the header at light_client.trusted_height, found none",
            )),
            (h, false) => {
                let hash: [u8; 32] = hex::decode(&l.trusted_hash)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| {
                        invalid(
                            "light_client.trusted_hash",
                            format!("expected 32 bytes of hex, found {:?}", l.trusted_hash),
                        )
                    })?;
                Ok(Some((h, hash)))
            }
        }
    }

    /// The light client's trust root for `run`: the configured header, or `None` (trust on
    /// first use) when that is allowed by `trust_on_first_use_flag` (`run
    /// --trust-on-first-use`) or `light_client.trust_on_first_use`. Without either, no trusted
    /// header is an error.
    pub fn light_anchor(
        &self,
        trust_on_first_use_flag: bool,
    ) -> Result<Option<(u64, [u8; 32])>, ConfigError> {
        match self.trusted_root()? {
            Some(root) => Ok(Some(root)),
            None if trust_on_first_use_flag || self.light_client.trust_on_first_use => Ok(None),
            None => Err(invalid(
                "light_client.trusted_height",
                "expected a trusted hub header (light_client.trusted_height and trusted_hash, or \
                 `init --trusted-height N --trusted-hash HEX`), found none; to trust the first \
                 header the hub serves instead, pass `run --trust-on-first-use` or set \
                 light_client.trust_on_first_use = true",
            )),
        }
    }

    /// The trust threshold as a fraction.
    pub fn trust_threshold(
        &self,
    ) -> Result<tendermint_light_client_verifier::types::TrustThreshold, ConfigError> {
        let s = &self.light_client.trust_threshold;
        let bad = || {
            invalid(
                "light_client.trust_threshold",
                format!("expected a fraction n/d from 1/3 to 1, found {s:?}"),
            )
        };
        let (n, d) = s.split_once('/').ok_or_else(bad)?;
        let n: u64 = n.trim().parse().map_err(|_| bad())?;
        let d: u64 = d.trim().parse().map_err(|_| bad())?;
        // Small terms only: the fraction's own checks multiply them.
        if n > d || d > 1_000_000 {
            return Err(bad());
        }
        tendermint_light_client_verifier::types::TrustThreshold::new(n, d).map_err(|_| bad())
    }

    /// Checks every value that can be checked without a node.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !valid_consumer_id(&self.consumer_id) {
            return Err(invalid(
                "consumer_id",
                format!(
                    "expected 1 to 50 characters of [a-zA-Z0-9._-], found {:?}",
                    self.consumer_id
                ),
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "expected a directory, found none"));
        }
        if self.hub.grpc_address.is_empty() {
            return Err(invalid(
                "hub.grpc_address",
                "expected host:port, found an empty value",
            ));
        }
        if self.hub.grpc_address.starts_with("https://")
            && self.hub.tls_ca_file.as_os_str().is_empty()
        {
            return Err(invalid(
                "hub.tls_ca_file",
                "an https grpc_address needs the PEM file of the hub's CA, found none",
            ));
        }
        ballast_client::rpc::normalize_node_url(&self.hub.rpc_address)
            .map_err(|e| invalid("hub.rpc_address", e.to_string()))?;
        if !matches!(self.hub.keyring_backend.as_str(), "test" | "file") {
            return Err(invalid(
                "hub.keyring_backend",
                format!(
                    "expected \"test\" or \"file\", found {:?}",
                    self.hub.keyring_backend
                ),
            ));
        }
        if self.hub.key_name.is_empty() {
            return Err(invalid("hub.key_name", "expected a key name, found none"));
        }
        if self.hub.tx_timeout_secs == 0 {
            return Err(invalid(
                "hub.tx_timeout_secs",
                "expected at least 1, found 0",
            ));
        }
        self.trusted_root()?;
        if self.light_client.trusting_period_secs == 0 {
            return Err(invalid(
                "light_client.trusting_period_secs",
                "expected at least 1, found 0",
            ));
        }
        self.trust_threshold()?;
        if !matches!(self.terms.allocation_mode.as_str(), "shared" | "isolated") {
            return Err(invalid(
                "terms.allocation_mode",
                format!(
                    "expected \"shared\" or \"isolated\", found {:?}",
                    self.terms.allocation_mode
                ),
            ));
        }
        Ok(())
    }

    /// The trusting period.
    pub fn trusting_period(&self) -> Duration {
        Duration::from_secs(self.light_client.trusting_period_secs)
    }

    /// The allowed clock drift.
    pub fn clock_drift(&self) -> Duration {
        Duration::from_secs(self.light_client.clock_drift_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Config {
        let mut c = Config {
            consumer_id: "demo-1".into(),
            ..Config::default()
        };
        c.hub.grpc_address = "127.0.0.1:19090".into();
        c.hub.tls_domain = "hub \"one\"".into();
        c.light_client.trusted_height = 7;
        c.light_client.trusted_hash = "ab".repeat(32);
        c.terms.allocation_mode = "isolated".into();
        c
    }

    #[test]
    fn the_rendered_file_parses_back_to_the_same_configuration() {
        let c = sample();
        c.validate().unwrap();
        let text = c.render();
        let parsed: Config = toml::from_str(&text).unwrap();
        assert_eq!(parsed, c);
        // The defaults render and parse too (an id is all they lack).
        let d = Config::default();
        assert_eq!(toml::from_str::<Config>(&d.render()).unwrap(), d);
        assert!(d
            .validate()
            .unwrap_err()
            .to_string()
            .contains("consumer_id"));
    }

    #[test]
    fn relative_paths_follow_the_file_and_unknown_fields_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "consumer_id = \"x.1\"\ndata_dir = \"d\"\n[hub]\nkeyring_dir = \"/k\"\ntls_ca_file = \"ca.pem\"\n",
        )
        .unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.data_dir, dir.path().join("d"));
        assert_eq!(c.hub.keyring_dir, PathBuf::from("/k"));
        assert_eq!(c.hub.tls_ca_file, dir.path().join("ca.pem"));
        assert_eq!(c.trusted_root().unwrap(), None);
        std::fs::write(&path, "consumer_id = \"x\"\n[hub]\ngrpc = \"a\"\n").unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains("grpc"), "{err}");
    }

    #[test]
    fn validation_names_the_bad_field() {
        type Edit = Box<dyn Fn(&mut Config)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("consumer_id", Box::new(|c| c.consumer_id = "a/b".into())),
            ("consumer_id", Box::new(|c| c.consumer_id = "x".repeat(51))),
            ("data_dir", Box::new(|c| c.data_dir = PathBuf::new())),
            ("hub.grpc_address", Box::new(|c| c.hub.grpc_address.clear())),
            (
                "hub.tls_ca_file",
                Box::new(|c| c.hub.grpc_address = "https://hub:9090".into()),
            ),
            (
                "hub.rpc_address",
                Box::new(|c| c.hub.rpc_address = "https://hub:26657".into()),
            ),
            (
                "hub.keyring_backend",
                Box::new(|c| c.hub.keyring_backend = "os".into()),
            ),
            ("hub.key_name", Box::new(|c| c.hub.key_name.clear())),
            (
                "hub.tx_timeout_secs",
                Box::new(|c| c.hub.tx_timeout_secs = 0),
            ),
            (
                "light_client.trusted_hash",
                Box::new(|c| c.light_client.trusted_hash = "abcd".into()),
            ),
            (
                "light_client.trusted_hash",
                Box::new(|c| c.light_client.trusted_hash.clear()),
            ),
            (
                "light_client.trusted_height",
                Box::new(|c| c.light_client.trusted_height = 0),
            ),
            (
                "light_client.trusting_period_secs",
                Box::new(|c| c.light_client.trusting_period_secs = 0),
            ),
            (
                "light_client.trust_threshold",
                Box::new(|c| c.light_client.trust_threshold = "1/4".into()),
            ),
            (
                "light_client.trust_threshold",
                Box::new(|c| c.light_client.trust_threshold = "half".into()),
            ),
            (
                "light_client.trust_threshold",
                Box::new(|c| {
                    c.light_client.trust_threshold =
                        "9999999999999999999/9999999999999999999".into()
                }),
            ),
            (
                "terms.allocation_mode",
                Box::new(|c| c.terms.allocation_mode = "both".into()),
            ),
        ];
        for (field, f) in cases {
            let mut c = sample();
            c.validate().unwrap();
            f(&mut c);
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
        let c = sample();
        assert_eq!(c.trusted_root().unwrap(), Some((7, [0xab; 32])));
        assert_eq!(
            c.trust_threshold().unwrap(),
            tendermint_light_client_verifier::types::TrustThreshold::ONE_THIRD
        );
    }

    #[test]
    fn without_a_trusted_header_trust_on_first_use_must_be_asked_for() {
        let mut c = sample();
        assert_eq!(c.light_anchor(false).unwrap(), Some((7, [0xab; 32])));
        assert_eq!(c.light_anchor(true).unwrap(), Some((7, [0xab; 32])));
        c.light_client.trusted_height = 0;
        c.light_client.trusted_hash.clear();
        c.validate().unwrap();
        let err = c.light_anchor(false).unwrap_err().to_string();
        assert!(err.contains("light_client.trusted_height"), "{err}");
        assert!(err.contains("--trust-on-first-use"), "{err}");
        assert!(err.contains("trust_on_first_use = true"), "{err}");
        assert_eq!(c.light_anchor(true).unwrap(), None);
        c.light_client.trust_on_first_use = true;
        assert_eq!(c.light_anchor(false).unwrap(), None);
        // The key renders and parses back; off by default.
        let back: Config = toml::from_str(&c.render()).unwrap();
        assert!(back.light_client.trust_on_first_use);
        assert!(!Config::default().light_client.trust_on_first_use);
        assert!(Config::default()
            .render()
            .contains("\ntrust_on_first_use = false\n"));
    }
}
