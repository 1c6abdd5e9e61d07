//! BTC staking end to end: a regtest [`BitcoinD`], a `ballastd dev` chain
//! ([`crate::vigilante::DevChain`]), the vigilante's reporter and a `ballast-covenant` signer,
//! driven through the `ballastd` CLI as a staker would.
//!
//! - [`bitcoind_or_skip`]: a started bitcoind, or `None` after printing "skipped: …" when it
//!   cannot be installed.
//! - [`CovenantSigner`]: `ballast-covenant start` as a process, from a config file it writes.
//! - [`StakingCli`]: `ballastd` commands against one home and node, answers parsed from JSON;
//!   the restaking queries the tests read (delegation, operator power, hub set, snapshots).
//! - [`restaking_events`]: the restaking events of a range of blocks, from `block_results`.
//! - [`weighted_floor`]: `floor(amount × weight)` for a decimal weight, without floats.

use crate::bitcoind::BitcoinD;
use ballast_client::rpc::CometRpc;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `ballast-covenant` binary: `$BALLAST_COVENANT_BIN`, or the one built beside the test
/// binary (`cargo build -p ballast-covenant`).
pub fn covenant_bin() -> PathBuf {
    crate::node::workspace_bin("ballast-covenant", "BALLAST_COVENANT_BIN")
}

/// Installs (once per process) and starts a regtest bitcoind. When the install script fails
/// (no network, no package), prints "skipped: …" on stderr and returns `None`; a bitcoind that
/// installs but does not start is a failure, not a skip.
pub fn bitcoind_or_skip(test: &str) -> Option<BitcoinD> {
    if let Err(e) = crate::bitcoind::install() {
        // Written to the stderr file descriptor directly: libtest captures eprint! of passing
        // tests, and a skip must show in every log.
        let line = format!(
            "skipped: bitcoind cannot be installed ({test} needs a regtest bitcoind): {e:#}\n"
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
        return None;
    }
    Some(BitcoinD::start().expect("the installed bitcoind starts in regtest"))
}

/// The `--bitcoin-*` flags of the staker commands for `btc` and its wallet.
pub fn bitcoind_flags(btc: &BitcoinD) -> Vec<String> {
    let (user, password) = btc.credentials();
    vec![
        "--bitcoin-rpc-url".into(),
        btc.rpc_url(),
        "--bitcoin-wallet".into(),
        crate::bitcoind::WALLET.into(),
        "--bitcoin-rpc-user".into(),
        user.into(),
        "--bitcoin-rpc-password".into(),
        password.into(),
    ]
}

/// The last `n` lines of a log file (empty when it cannot be read).
pub fn file_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The `public_key` field of a BTC key file (`ballastd btc keygen`, `init`'s operator and
/// covenant keys).
pub fn key_file_public_key(path: &Path) -> String {
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    v["public_key"]
        .as_str()
        .unwrap_or_else(|| panic!("no public_key in {}", path.display()))
        .to_string()
}

/// A running `ballast-covenant start`.
pub struct CovenantSigner {
    child: Option<Child>,
    /// Its config file.
    pub config: PathBuf,
    /// Its stderr (the log).
    pub log_path: PathBuf,
}

/// What a [`CovenantSigner`]'s config names.
#[derive(Clone, Debug)]
pub struct CovenantSignerConfig {
    /// Ballast CometBFT RPC (`http://host:port`).
    pub ballast_rpc: String,
    /// Ballast gRPC (`host:port`; `""`: ABCI queries).
    pub ballast_grpc: String,
    /// Chain id.
    pub chain_id: String,
    /// The keyring home of the paying key.
    pub keyring_dir: PathBuf,
    /// The paying key's name (test keyring).
    pub key_name: String,
    /// The covenant member's key file.
    pub key_file: PathBuf,
    /// Poll interval.
    pub poll_interval_ms: u64,
}

impl CovenantSigner {
    /// Writes `<dir>/covenant.toml` from `cfg` and starts the signer with it; the log goes to
    /// `<dir>/covenant.log`, its state to `<dir>/data`.
    pub fn start(dir: &Path, cfg: &CovenantSignerConfig) -> CovenantSigner {
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("covenant.toml");
        let text = format!(
            r#"data_dir = {data:?}
log_format = "text"
[ballast]
rpc_address = {rpc:?}
grpc_address = {grpc:?}
chain_id = {chain_id:?}
keyring_dir = {keyring:?}
keyring_backend = "test"
key_name = {key:?}
tx_timeout_secs = 30
[covenant]
key_file = {key_file:?}
poll_interval_ms = {poll}
"#,
            data = dir.join("data").display().to_string(),
            rpc = cfg.ballast_rpc,
            grpc = cfg.ballast_grpc,
            chain_id = cfg.chain_id,
            keyring = cfg.keyring_dir.display().to_string(),
            key = cfg.key_name,
            key_file = cfg.key_file.display().to_string(),
            poll = cfg.poll_interval_ms,
        );
        std::fs::write(&config, text).unwrap();
        let log_path = dir.join("covenant.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let child = Command::new(covenant_bin())
            .arg("start")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .env("RUST_LOG", "info")
            .spawn()
            .expect("spawning ballast-covenant");
        CovenantSigner {
            child: Some(child),
            config,
            log_path,
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last `n` log lines.
    pub fn log_tail(&self, n: usize) -> String {
        file_tail(&self.log_path, n)
    }

    /// Log lines containing every one of `needles`.
    pub fn lines_with(&self, needles: &[&str]) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_string)
            .collect()
    }

    /// Waits for a log line containing every one of `needles`; panics with `context()` if the
    /// process exits first or after `timeout`.
    pub fn wait_log(
        &mut self,
        needles: &[&str],
        timeout: Duration,
        context: impl Fn() -> String,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.lines_with(needles).into_iter().next() {
                return l;
            }
            if !self.is_running() {
                panic!(
                    "ballast-covenant exited before logging {needles:?}:\n{}\n{}",
                    self.log_tail(40),
                    context()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "ballast-covenant did not log {needles:?} within {timeout:?}:\n{}\n{}",
                    self.log_tail(40),
                    context()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sends SIGTERM and waits for the exit; returns whether it exited with success.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for CovenantSigner {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An operator's power as the restaking queries print it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Power {
    /// `power`.
    pub power: u64,
    /// `btc_sat`: the satoshis of its ACTIVE delegations.
    pub btc_sat: u64,
}

impl Power {
    fn from_json(v: &Value) -> Power {
        let num = |k: &str| -> u64 {
            v[k].as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("no numeric {k} in {v}"))
        };
        Power {
            power: num("power"),
            btc_sat: num("btc_sat"),
        }
    }
}

/// The hub validator set as `query restaking hub-validators` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubSet {
    /// The epoch whose end computed it.
    pub epoch: u64,
    /// Operator BTC key → power.
    pub powers: BTreeMap<String, u64>,
}

/// `ballastd` commands against one home (its test keyring) and one node.
#[derive(Clone, Debug)]
pub struct StakingCli {
    /// The home (`--home`): the keyring of `--from`.
    pub home: PathBuf,
    /// CometBFT RPC (`--node`).
    pub node: String,
}

impl StakingCli {
    /// Commands on `home` against `node`.
    pub fn new(home: &Path, node: &str) -> StakingCli {
        StakingCli {
            home: home.to_path_buf(),
            node: node.to_string(),
        }
    }

    /// `ballastd <args> --home <home>` as is.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(crate::node::ballastd_bin())
            .args(args)
            .arg("--home")
            .arg(&self.home)
            .env_remove("BALLAST_KEYRING_BACKEND")
            .stdin(Stdio::null())
            .output()
            .expect("the ballastd binary runs")
    }

    fn json_of(args: &[&str], out: &Output) -> Result<Value, String> {
        let text = format!(
            "ballastd {args:?} exited with {}:\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            return Err(text);
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{text}\nnot JSON: {e}"))
    }

    /// A command that must exit 0 and print JSON, run as given (no flags added).
    pub fn json_ok(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        Self::json_of(args, &out).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A query command with `--node` and JSON output.
    pub fn query(&self, args: &[&str]) -> Result<Value, String> {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["--node", &self.node, "-o", "json"]);
        let out = self.run(&full);
        Self::json_of(&full, &out)
    }

    /// A query that must succeed.
    pub fn query_ok(&self, args: &[&str]) -> Value {
        self.query(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The argument list of a tx command: `args` with `--node`, the test keyring, `-y` and JSON
    /// output.
    pub fn tx_args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut full: Vec<&str> = args.to_vec();
        full.extend([
            "--node",
            &self.node,
            "--keyring-backend",
            "test",
            "-y",
            "-o",
            "json",
        ]);
        full
    }

    /// A tx command: its JSON output when it exits 0, else everything it printed.
    pub fn tx(&self, args: &[&str]) -> Result<Value, String> {
        let full = self.tx_args(args);
        let out = self.run(&full);
        Self::json_of(&full, &out)
    }

    /// A tx command that must succeed with code 0.
    pub fn tx_ok(&self, args: &[&str]) -> Value {
        let v = self.tx(args).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v["code"].as_u64(), Some(0), "ballastd {args:?}: {v}");
        v
    }

    /// The restaking params (`query restaking params`'s `params`).
    pub fn restaking_params(&self) -> Value {
        self.query_ok(&["query", "restaking", "params"])["params"].clone()
    }

    /// One BTC delegation (`query restaking btc-delegation`'s `delegation`).
    pub fn delegation(&self, staking_txid: &str) -> Result<Value, String> {
        self.query(&["query", "restaking", "btc-delegation", staking_txid])
            .map(|v| v["delegation"].clone())
    }

    /// The status name of a delegation, or the query's error.
    pub fn status(&self, staking_txid: &str) -> String {
        match self.delegation(staking_txid) {
            Ok(d) => d["status"].as_str().unwrap_or("(no status)").to_string(),
            Err(e) => format!("(query failed: {e})"),
        }
    }

    /// Waits until the delegation has `status`; panics with `context()` after `timeout`.
    pub fn wait_status(
        &self,
        staking_txid: &str,
        status: &str,
        timeout: Duration,
        context: impl Fn() -> String,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(d) = self.delegation(staking_txid) {
                if d["status"] == status {
                    return d;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "delegation {staking_txid} is {}, expected {status} within {timeout:?}\n{}",
                    self.status(staking_txid),
                    context()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn height_args(height: Option<u64>) -> Vec<String> {
        match height {
            Some(h) => vec!["--height".into(), h.to_string()],
            None => Vec::new(),
        }
    }

    /// An operator's live power at `height` (latest when `None`).
    pub fn operator_power(&self, btc_pk: &str, height: Option<u64>) -> Power {
        let h = Self::height_args(height);
        let mut args = vec!["query", "restaking", "operator", btc_pk];
        args.extend(h.iter().map(String::as_str));
        let v = self.query_ok(&args);
        Power::from_json(&v["power"])
    }

    /// The hub validator set in force at `height` (latest when `None`).
    pub fn hub_set(&self, height: Option<u64>) -> HubSet {
        let h = Self::height_args(height);
        let mut args = vec!["query", "restaking", "hub-validators"];
        args.extend(h.iter().map(String::as_str));
        let v = self.query_ok(&args);
        let epoch = v["epoch"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no epoch in {v}"));
        let powers = v["validators"]
            .as_array()
            .unwrap_or_else(|| panic!("no validators in {v}"))
            .iter()
            .map(|x| {
                (
                    x["operator_btc_pk"].as_str().unwrap().to_string(),
                    x["power"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        HubSet { epoch, powers }
    }

    /// The power snapshot of `epoch`: operator BTC key → power, and the total.
    pub fn power_snapshot(&self, epoch: u64) -> (BTreeMap<String, Power>, u64) {
        let v = self.query_ok(&["query", "restaking", "power-snapshot", &epoch.to_string()]);
        let powers = v["powers"]
            .as_array()
            .unwrap_or_else(|| panic!("no powers in {v}"))
            .iter()
            .map(|p| {
                (
                    p["operator_btc_pk"].as_str().unwrap().to_string(),
                    Power::from_json(p),
                )
            })
            .collect();
        let total = v["total_power"].as_str().unwrap().parse().unwrap();
        (powers, total)
    }

    /// Waits until the latest hub set was computed at the end of `epoch` or later; panics with
    /// `context()` after `timeout`.
    pub fn wait_hub_epoch(
        &self,
        epoch: u64,
        timeout: Duration,
        context: impl Fn() -> String,
    ) -> HubSet {
        let deadline = Instant::now() + timeout;
        loop {
            let set = self.hub_set(None);
            if set.epoch >= epoch {
                return set;
            }
            if Instant::now() > deadline {
                panic!(
                    "the hub set is still epoch {}'s, expected epoch {epoch}'s within {timeout:?}\n{}",
                    set.epoch,
                    context()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// `floor(amount × weight)` for a plain decimal `weight` such as `0.0001`, in integers.
pub fn weighted_floor(amount: u128, weight: &str) -> u128 {
    let (int, frac) = weight.split_once('.').unwrap_or((weight, ""));
    let digits = format!("{int}{frac}");
    let num: u128 = digits
        .parse()
        .unwrap_or_else(|e| panic!("weight {weight:?}: {e}"));
    let den = 10u128.pow(u32::try_from(frac.len()).unwrap());
    amount * num / den
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime starts")
        .block_on(f)
}

/// The node's latest block height.
pub fn hub_height(node: &str) -> u64 {
    let rpc = CometRpc::new(node).unwrap_or_else(|e| panic!("bad node {node:?}: {e}"));
    block_on(rpc.status())
        .unwrap_or_else(|e| panic!("status of {node}: {e}"))
        .sync_info
        .latest_block_height
        .value()
}

/// One event of a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockEvent {
    /// The block.
    pub height: u64,
    /// The event type.
    pub kind: String,
    /// Its attributes.
    pub attrs: BTreeMap<String, String>,
}

/// The events whose type starts with `restaking.` of blocks `from..=to` (their txs' events,
/// then the block's own), in order.
pub fn restaking_events(node: &str, from: u64, to: u64) -> Vec<BlockEvent> {
    let rpc = CometRpc::new(node).unwrap_or_else(|e| panic!("bad node {node:?}: {e}"));
    let mut out = Vec::new();
    block_on(async {
        for height in from..=to {
            let h = tendermint::block::Height::try_from(height).expect("a valid height");
            let r = rpc
                .perform(tendermint_rpc::endpoint::block_results::Request::new(h))
                .await
                .unwrap_or_else(|e| panic!("block_results {height} on {node}: {e}"));
            let tx_events = r.txs_results.iter().flatten().flat_map(|t| t.events.iter());
            for e in tx_events.chain(r.finalize_block_events.iter()) {
                if !e.kind.starts_with("restaking.") {
                    continue;
                }
                let attrs = e
                    .attributes
                    .iter()
                    .map(|a| {
                        (
                            a.key_str().unwrap_or("").to_string(),
                            a.value_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect();
                out.push(BlockEvent {
                    height,
                    kind: e.kind.clone(),
                    attrs,
                });
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::weighted_floor;

    #[test]
    fn weighted_floor_rounds_down() {
        assert_eq!(weighted_floor(5_000_000, "0.0001"), 500);
        assert_eq!(weighted_floor(9_999, "0.0001"), 0);
        assert_eq!(weighted_floor(123_456_789, "0.000001"), 123);
        assert_eq!(weighted_floor(7, "2"), 14);
        assert_eq!(weighted_floor(15, "1.5"), 22);
    }
}
