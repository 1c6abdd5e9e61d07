//! `ballast-consumer` (the demo consumer) as a process: its one-shot commands, and `run` with
//! its stdout lines collected (one per verified update) and its stderr in a log file.

use crate::node::workspace_bin;
use crate::vigilante::DevChain;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `ballast-consumer` binary: `$BALLAST_CONSUMER_BIN`, or the one built beside the test
/// binary (`cargo build -p ballast-consumer`, or a workspace-wide `cargo test`).
pub fn consumer_bin() -> PathBuf {
    workspace_bin("ballast-consumer", "BALLAST_CONSUMER_BIN")
}

/// Runs `ballast-consumer --config <config> <args…>` to completion.
pub fn command(config: &Path, args: &[&str]) -> Output {
    Command::new(consumer_bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("BALLAST_KEYRING_BACKEND")
        .output()
        .expect("the ballast-consumer binary runs")
}

/// Runs a command that must succeed; returns its stdout.
pub fn command_ok(config: &Path, args: &[&str]) -> String {
    let out = command(config, args);
    assert!(
        out.status.success(),
        "ballast-consumer {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running `ballast-consumer run`.
pub struct DemoConsumer {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// stderr (the log).
    pub log_path: PathBuf,
}

impl DemoConsumer {
    /// Starts `ballast-consumer --config <config> run <extra…>`; its log goes to `log_path`.
    pub fn start(config: &Path, extra: &[&str], log_path: &Path) -> DemoConsumer {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .unwrap();
        let mut child = Command::new(consumer_bin())
            .arg("--config")
            .arg(config)
            .arg("run")
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .env("RUST_LOG", "info")
            .spawn()
            .expect("spawning ballast-consumer");
        let stdout = child.stdout.take().expect("stdout is piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            let mut it = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = it.next() {
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        DemoConsumer {
            child: Some(child),
            lines,
            reader: Some(reader),
            log_path: log_path.to_path_buf(),
        }
    }

    /// Every stdout line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits for a stdout line starting with `prefix`; panics (with the log) after `timeout`
    /// or when the process exits first.
    pub fn wait_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.lines().into_iter().find(|l| l.starts_with(prefix)) {
                return l;
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    self.child = None;
                    panic!(
                        "ballast-consumer exited with {status} before printing {prefix:?}; stdout: {:?}\n{}",
                        self.lines(),
                        self.log()
                    );
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "ballast-consumer did not print {prefix:?} within {timeout:?}; stdout: {:?}\n{}",
                    self.lines(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit by itself and returns its status (every stdout line is
    /// collected by then).
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let c = self.child.as_mut().expect("running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                self.child = None;
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "ballast-consumer still runs after {timeout:?}; stdout: {:?}\n{}",
                    self.lines(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `SIG<signal>` and waits for the exit status.
    pub fn signal(&mut self, signal: &str, timeout: Duration) -> ExitStatus {
        let pid = self.child.as_ref().expect("running").id();
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status();
        self.wait_exit(timeout)
    }
}

impl Drop for DemoConsumer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The demo's kept set, `<data_dir>/consumer_set.json`, if written.
pub fn kept_set(data_dir: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(data_dir.join("consumer_set.json")).ok()?;
    Some(serde_json::from_str(&text).expect("consumer_set.json is JSON"))
}

/// The `key=value` fields of an update line.
pub fn line_field(line: &str, key: &str) -> Option<String> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_string)
}

/// The consumer key of `seed` (a valid ed25519 point), hex.
pub fn consumer_key(seed: u8) -> String {
    hex::encode(
        ed25519_consensus::SigningKey::from([seed; 32])
            .verification_key()
            .to_bytes(),
    )
}

/// `ballastd query consumers <args…>` over `node`, as JSON.
pub fn query(home: &Path, node: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["query", "consumers"];
    all.extend_from_slice(args);
    all.extend(["--node", node, "-o", "json"]);
    crate::cli::json_ok(home, &all)
}

/// The hub's last update id of `consumer_id` (0: none).
pub fn last_update_id(home: &Path, node: &str, consumer_id: &str) -> u64 {
    query(home, node, &["consumer", consumer_id])["consumer"]["last_update_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The dev chain's operator (key `operator` of the dev home) opts in to `consumer_id` with
/// consumer key `key` (hex) and `bps`, through `ballastd tx consumers opt-in`.
pub fn opt_in(home: &Path, node: &str, consumer_id: &str, key: &str, bps: u32) {
    let out = crate::cli::run(
        home,
        &[
            "tx",
            "consumers",
            "opt-in",
            consumer_id,
            key,
            "--allocation-bps",
            &bps.to_string(),
            "--from",
            "operator",
            "--yes",
            "--keyring-backend",
            "test",
            "--node",
            node,
            "-o",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "opt-in failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Creates key `owner` in the dev home's test keyring, funded by the dev account; returns its
/// address.
pub fn funded_owner(chain: &DevChain) -> String {
    let owner = crate::cli::json_ok(
        &chain.home,
        &[
            "keys",
            "add",
            "owner",
            "--keyring-backend",
            "test",
            "-o",
            "json",
        ],
    )["address"]
        .as_str()
        .expect("keys add prints the address")
        .to_string();
    let sent = crate::cli::json_ok(
        &chain.home,
        &[
            "tx",
            "bank",
            "send",
            "dev",
            &owner,
            "100000000ubal",
            "--yes",
            "--keyring-backend",
            "test",
            "--node",
            &chain.rpc,
            "-o",
            "json",
        ],
    );
    assert_eq!(sent["code"], 0, "{sent}");
    owner
}

/// `ballast-consumer init` of `<dir>/<name>.toml` for `consumer_id` on `chain`, signing with
/// key `owner` of the dev home, data in `<dir>/<name>-data`, with `extra` flags; returns the
/// config path.
pub fn init(
    dir: &Path,
    name: &str,
    consumer_id: &str,
    chain: &DevChain,
    extra: &[&str],
) -> PathBuf {
    let config = dir.join(format!("{name}.toml"));
    let data = data_of(&config);
    let mut args = vec![
        "init",
        "--consumer-id",
        consumer_id,
        "--hub-grpc",
        &chain.grpc,
        "--hub-rpc",
        &chain.rpc,
        "--keyring-dir",
        chain.home.to_str().expect("utf-8 path"),
        "--key-name",
        "owner",
        "--data-dir",
        data.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    let out = command_ok(&config, &args);
    assert!(out.contains("wrote"), "{out}");
    config
}

/// The data directory [`init`] gives `config`.
pub fn data_of(config: &Path) -> PathBuf {
    let name = config
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("a config file name");
    config.with_file_name(format!("{name}-data"))
}

/// The kept set equals the hub's stored set: update id, set hash and validators (in order).
pub fn assert_kept_equals_hub(data: &Path, home: &Path, node: &str, consumer_id: &str) {
    let kept = kept_set(data).expect("a set is kept");
    let hub = query(home, node, &["validator-set", consumer_id])["set"].clone();
    assert_eq!(
        kept["update_id"].to_string(),
        hub["update_id"].as_str().unwrap_or_default(),
        "{kept}\n{hub}"
    );
    assert_eq!(kept["set_hash"], hub["set_hash"], "{kept}\n{hub}");
    let rows = |v: &serde_json::Value, power_is_string: bool| -> Vec<(String, String, String)> {
        v["validators"]
            .as_array()
            .expect("validators")
            .iter()
            .map(|x| {
                let power = if power_is_string {
                    x["power"].as_str().unwrap_or_default().to_string()
                } else {
                    x["power"].to_string()
                };
                (
                    x["pubkey"].as_str().unwrap_or_default().to_string(),
                    power,
                    // The kept file names the hub-reported operator `unverified_operator`.
                    x.get("operator_btc_pk")
                        .or_else(|| x.get("unverified_operator"))
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    };
    assert_eq!(rows(&kept, false), rows(&hub, true), "{kept}\n{hub}");
}

/// The update ids of the update lines among `lines`.
pub fn printed_ids(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| line_field(l, "update_id")?.parse().ok())
        .collect()
}
