//! Starts, kills and restarts `ballastd` processes for socket and crash tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `ballastd` binary built by this workspace (`cargo test --workspace` builds it first;
/// `BALLASTD_BIN` overrides).
pub fn ballastd_bin() -> PathBuf {
    if let Ok(p) = std::env::var("BALLASTD_BIN") {
        return PathBuf::from(p);
    }
    // Test executables live in target/<profile>/deps; the binary in target/<profile>.
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps");
    let bin = dir.join("ballastd");
    assert!(
        bin.exists(),
        "ballastd is not built at {}: run `cargo build -p ballastd` or the whole `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// A running `ballastd start`.
pub struct Ballastd {
    child: Option<Child>,
    /// Its home.
    pub home: PathBuf,
    /// The ABCI address it printed (`tcp://...` or `unix://...`).
    pub addr: String,
    /// Captured stderr lines so far (read on exit).
    pub log_path: PathBuf,
}

/// A free loopback TCP port.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding port 0 on loopback works");
    l.local_addr()
        .expect("a bound listener has an address")
        .port()
}

impl Ballastd {
    /// Starts `ballastd start --home <home> --abci <abci>` with extra env vars and waits until
    /// it listens.
    pub fn start(home: &Path, abci: &str, env: &[(&str, &str)]) -> Result<Ballastd, String> {
        let log_path = home.join(format!("ballastd-{}.log", std::process::id()));
        std::fs::create_dir_all(home).map_err(|e| e.to_string())?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| e.to_string())?;
        let mut cmd = Command::new(ballastd_bin());
        cmd.args(["start", "--home"])
            .arg(home)
            .args(["--abci", abci])
            .stdout(Stdio::piped())
            .stderr(log);
        cmd.env_remove("BALLAST_FAULT");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| format!("spawning ballastd: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if let Some(addr) = line.strip_prefix("ABCI listening on ") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(50)) {
                return Ok(Ballastd {
                    child: Some(child),
                    home: home.to_path_buf(),
                    addr,
                    log_path,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!(
                    "ballastd exited with {status} before listening:\n{log}"
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("ballastd did not start listening within 30 s".into());
            }
        }
    }

    /// `host:port` of a TCP address.
    pub fn tcp_addr(&self) -> &str {
        self.addr.strip_prefix("tcp://").unwrap_or(&self.addr)
    }

    /// Sends SIGKILL and waits.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-9", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }

    /// Waits for the process to exit by itself (after a fault injection) and returns whether it
    /// died from SIGKILL.
    pub fn wait_killed(&mut self, timeout: Duration) -> Result<bool, String> {
        let c = self.child.as_mut().ok_or("not running")?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = c.try_wait().map_err(|e| e.to_string())? {
                self.child = None;
                use std::os::unix::process::ExitStatusExt;
                return Ok(status.signal() == Some(9));
            }
            if Instant::now() > deadline {
                return Err("process still running".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Ballastd {
    fn drop(&mut self) {
        self.kill9();
    }
}
