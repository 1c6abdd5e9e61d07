//! Starts, kills and restarts `ballastd` processes for socket and crash tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `ballastd` binary built by this workspace (`cargo test --workspace` builds it first;
/// `BALLASTD_BIN` overrides).
pub fn ballastd_bin() -> PathBuf {
    workspace_bin("ballastd", "BALLASTD_BIN")
}

/// A binary of this workspace, next to the test executables (`cargo test --workspace` builds
/// every binary first); the environment variable `env` overrides it.
pub fn workspace_bin(name: &str, env: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return PathBuf::from(p);
    }
    // Test executables live in target/<profile>/deps; the binaries in target/<profile>.
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in target/<profile>/deps");
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{name} is not built at {}: run `cargo build -p {name}` or the whole `cargo test --workspace`",
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
    /// Its stderr (logs).
    pub log_path: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
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
        Self::start_with(home, &["--abci", abci], env)
    }

    /// Starts `ballastd start --home <home> <args...>` and waits for its "ABCI listening" line.
    pub fn start_with(
        home: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Ballastd, String> {
        let mut full = vec!["start".to_string(), "--home".to_string()];
        full.push(home.to_string_lossy().into_owned());
        full.extend(args.iter().map(|a| a.to_string()));
        let mut node = Self::spawn(home, &full, env)?;
        node.addr = node.wait_line("ABCI listening on ", Duration::from_secs(30))?;
        Ok(node)
    }

    /// Spawns `ballastd <args...>` (any subcommand) with its stdout lines collected and its
    /// stderr in a log file under `home`.
    pub fn spawn(home: &Path, args: &[String], env: &[(&str, &str)]) -> Result<Ballastd, String> {
        let log_path = home.join(format!("ballastd-{}.log", std::process::id()));
        std::fs::create_dir_all(home).map_err(|e| e.to_string())?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| e.to_string())?;
        let mut cmd = Command::new(ballastd_bin());
        cmd.args(args).stdout(Stdio::piped()).stderr(log);
        cmd.env_remove("BALLAST_FAULT");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| format!("spawning ballastd: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            let mut it = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = it.next() {
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        Ok(Ballastd {
            child: Some(child),
            home: home.to_path_buf(),
            addr: String::new(),
            log_path,
            lines,
            reader: Some(reader),
        })
    }

    /// Waits for a stdout line starting with `prefix` and returns the rest of it.
    pub fn wait_line(&mut self, prefix: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(rest) = self
                .stdout_lines()
                .iter()
                .find_map(|l| l.strip_prefix(prefix).map(str::to_string))
            {
                return Ok(rest);
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
                    return Err(format!(
                        "ballastd exited with {status} before printing {prefix:?}:\n{log}"
                    ));
                }
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
                return Err(format!(
                    "ballastd did not print {prefix:?} within {timeout:?}:\n{log}"
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Every stdout line so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Result<std::process::ExitStatus, String> {
        self.stop_with("TERM", timeout)
    }

    /// Sends `SIG<signal>` and waits (bounded) for the exit status.
    pub fn stop_with(
        &mut self,
        signal: &str,
        timeout: Duration,
    ) -> Result<std::process::ExitStatus, String> {
        let c = self.child.as_mut().ok_or("not running")?;
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &c.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = c.try_wait().map_err(|e| e.to_string())? {
                self.child = None;
                // Every line the process printed is collected once its stdout reaches EOF.
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                return Ok(status);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "ballastd did not exit within {timeout:?} of SIG{signal}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
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

/// `ballastd dev` on `home` with its JSON-RPC on `rpc`, gRPC on `grpc`, metrics on a free port
/// and a block every `block_interval_ms`; returns once its RPC listens.
pub fn spawn_dev(home: &Path, rpc: &str, grpc: &str, block_interval_ms: u64) -> Ballastd {
    let args: Vec<String> = vec![
        "dev".into(),
        "--home".into(),
        home.display().to_string(),
        "--rpc-address".into(),
        rpc.into(),
        "--grpc-address".into(),
        grpc.into(),
        "--metrics-address".into(),
        format!("127.0.0.1:{}", free_port()),
        "--block-interval-ms".into(),
        block_interval_ms.to_string(),
    ];
    let mut node = Ballastd::spawn(home, &args, &[]).expect("ballastd dev starts");
    node.wait_line("RPC listening on ", Duration::from_secs(60))
        .expect("ballastd dev serves its RPC");
    node
}
