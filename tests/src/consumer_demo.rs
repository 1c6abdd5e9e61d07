//! `ballast-consumer` (the demo consumer) as a process: its one-shot commands, and `run` with
//! its stdout lines collected (one per verified update) and its stderr in a log file.

use crate::node::workspace_bin;
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
