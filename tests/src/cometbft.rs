//! Real CometBFT v0.38 networks for end-to-end tests. Every test that needs one calls
//! [`cometbft_bin`] first: without `COMETBFT_BIN` it prints "skipped: COMETBFT_BIN not set" and
//! the test returns without asserting anything else.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The cometbft binary named by `COMETBFT_BIN`, or `None` after printing that the test is
/// skipped.
pub fn cometbft_bin(test: &str) -> Option<PathBuf> {
    match std::env::var("COMETBFT_BIN") {
        Ok(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            assert!(p.exists(), "COMETBFT_BIN={} does not exist", p.display());
            Some(p)
        }
        _ => {
            // Written to the stderr file descriptor directly: libtest captures print!/eprint! of
            // passing tests, and a skip must show in every log, CI's included.
            let line = format!(
                "skipped: COMETBFT_BIN not set ({test} needs a real cometbft v0.38 binary)\n"
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
            None
        }
    }
}

/// Writes a complete CometBFT v0.38 home with `ballastd init` (so every real-CometBFT test also
/// checks that CometBFT accepts what `init` writes), then sets the genesis app state and a short
/// `timeout_commit`; every listener gets a free loopback port. Returns the RPC address
/// (`127.0.0.1:port`). `_cometbft` is not needed to write the home; it stays for callers.
pub fn init_home(
    _cometbft: &Path,
    home: &Path,
    chain_id: &str,
    app_state: &serde_json::Value,
    abci_addr: &str,
) -> Result<String, String> {
    let port = crate::node::free_port;
    let rpc_port = port();
    let out = Command::new(crate::node::ballastd_bin())
        .arg("--home")
        .arg(home)
        .args([
            "init",
            "test-node",
            "--chain-id",
            chain_id,
            "--abci-address",
            abci_addr,
        ])
        .arg("--rpc-laddr")
        .arg(format!("tcp://127.0.0.1:{rpc_port}"))
        .arg("--p2p-laddr")
        .arg(format!("tcp://127.0.0.1:{}", port()))
        .arg("--grpc-address")
        .arg(format!("127.0.0.1:{}", port()))
        .arg("--metrics-address")
        .arg(format!("127.0.0.1:{}", port()))
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "ballastd init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let gpath = home.join("config/genesis.json");
    let mut genesis: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&gpath).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    genesis["app_state"] = app_state.clone();
    std::fs::write(
        &gpath,
        serde_json::to_vec_pretty(&genesis).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;

    let cpath = home.join("config/config.toml");
    let config = std::fs::read_to_string(&cpath).map_err(|e| e.to_string())?;
    let mut replaced = 0;
    let config: String = config
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("timeout_commit =") {
                replaced += 1;
                "timeout_commit = \"300ms\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    if replaced != 1 {
        return Err(format!(
            "config.toml has {replaced} timeout_commit lines, expected 1"
        ));
    }
    std::fs::write(&cpath, config).map_err(|e| e.to_string())?;
    Ok(format!("127.0.0.1:{rpc_port}"))
}

/// A running `cometbft start`.
pub struct CometBft {
    child: Option<Child>,
}

impl CometBft {
    /// Starts `cometbft start --home <home>`, logging to `<home>/cometbft.log`.
    pub fn start(bin: &Path, home: &Path) -> Result<Self, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.join("cometbft.log"))
            .map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .args(["start", "--home"])
            .arg(home)
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .map_err(|e| format!("spawning cometbft: {e}"))?;
        Ok(CometBft { child: Some(child) })
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
}

impl Drop for CometBft {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// GET `path` on the CometBFT RPC at `addr`; returns the JSON-RPC `result`.
pub fn rpc(addr: &str, path: &str) -> Result<serde_json::Value, String> {
    let mut s = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&buf);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .ok_or("no HTTP body")?;
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?;
    if let Some(err) = v.get("error") {
        return Err(format!("rpc error: {err}"));
    }
    v.get("result")
        .cloned()
        .ok_or_else(|| format!("no result in {body}"))
}

/// The latest block height reported by `/status`.
pub fn height(addr: &str) -> Result<u64, String> {
    let r = rpc(addr, "/status")?;
    r["sync_info"]["latest_block_height"]
        .as_str()
        .and_then(|h| h.parse().ok())
        .ok_or_else(|| format!("no height in {r}"))
}

/// Waits until the chain at `addr` reaches `target`.
pub fn wait_for_height(addr: &str, target: u64, timeout: Duration) -> Result<u64, String> {
    let deadline = Instant::now() + timeout;
    let mut last = Err("no answer yet".to_string());
    while Instant::now() < deadline {
        last = height(addr);
        if let Ok(h) = last {
            if h >= target {
                return Ok(h);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!(
        "height {target} not reached within {timeout:?}; last answer {last:?}"
    ))
}

/// The repository root (where `testnet/` and `scripts/` are).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the repository root")
        .to_path_buf()
}

/// A base port `b` such that `b..b+len` are all free on loopback right now (for
/// `testnet/up.sh`'s `BALLAST_TESTNET_BASE_PORT`).
pub fn free_port_block(len: u16) -> u16 {
    let start = 20_000 + (std::process::id() % 1_000) as u16 * 30;
    let mut base = start;
    loop {
        let all_free =
            (0..len).all(|o| std::net::TcpListener::bind(("127.0.0.1", base + o)).is_ok());
        if all_free {
            return base;
        }
        base = if base > 60_000 { 20_000 } else { base + len };
        assert_ne!(base, start, "no block of {len} free ports on loopback");
    }
}

/// A testnet run by the repository's `testnet/up.sh`, in its own directory. `testnet/down.sh`
/// runs when it is dropped, so a failing test never leaves nodes behind.
pub struct ScriptTestnet {
    /// `BALLAST_TESTNET_DIR`.
    pub dir: PathBuf,
    env: Vec<(String, String)>,
    stopped: bool,
}

impl ScriptTestnet {
    /// The environment the scripts get: this testnet's directory, this workspace's ballastd,
    /// ballast-vigilante and ballast-covenant, `cometbft`, node 0's base port, extra
    /// `ballastd testnet generate` flags, free ports for bitcoind and a Bitcoin block every
    /// second.
    pub fn new(dir: &Path, cometbft: &Path, base_port: u16, generate_flags: &str) -> Self {
        ScriptTestnet {
            dir: dir.to_path_buf(),
            env: vec![
                ("BALLAST_TESTNET_DIR".into(), dir.display().to_string()),
                (
                    "BALLASTD_BIN".into(),
                    crate::node::ballastd_bin().display().to_string(),
                ),
                ("COMETBFT_BIN".into(), cometbft.display().to_string()),
                ("BALLAST_TESTNET_BASE_PORT".into(), base_port.to_string()),
                ("BALLAST_TESTNET_FLAGS".into(), generate_flags.into()),
                (
                    "BALLAST_VIGILANTE_BIN".into(),
                    crate::node::workspace_bin("ballast-vigilante", "BALLAST_VIGILANTE_BIN")
                        .display()
                        .to_string(),
                ),
                (
                    "BALLAST_COVENANT_BIN".into(),
                    crate::node::workspace_bin("ballast-covenant", "BALLAST_COVENANT_BIN")
                        .display()
                        .to_string(),
                ),
                (
                    "BALLAST_TESTNET_BTC_RPC_PORT".into(),
                    crate::node::free_port().to_string(),
                ),
                (
                    "BALLAST_TESTNET_BTC_P2P_PORT".into(),
                    crate::node::free_port().to_string(),
                ),
                ("BALLAST_TESTNET_BTC_BLOCK_SECS".into(), "1".into()),
            ],
            stopped: false,
        }
    }

    /// Runs `testnet/<script> <args>` with this testnet's environment; Ok(stdout) on success,
    /// Err(stdout + stderr) otherwise.
    pub fn script(&self, script: &str, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new("bash");
        cmd.arg(repo_root().join("testnet").join(script))
            .args(args)
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().map_err(|e| format!("running {script}: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "{script} {args:?} exited with {}:\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Sets (or replaces) one environment variable of the scripts.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// `testnet/up.sh <n>`.
    pub fn up(&self, n: usize) -> Result<String, String> {
        self.script("up.sh", &[&n.to_string()])
    }

    /// `testnet/down.sh`; after it, dropping does nothing more.
    pub fn down(&mut self) -> Result<String, String> {
        self.stopped = true;
        self.script("down.sh", &[])
    }

    /// Node `i`'s home.
    pub fn home(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node{i}"))
    }

    /// Node `i`'s CometBFT RPC address, `127.0.0.1:port`, from its config.toml.
    pub fn rpc_addr(&self, i: usize) -> Result<String, String> {
        let config = tendermint_config::TendermintConfig::load_toml_file(
            &self.home(i).join("config/config.toml"),
        )
        .map_err(|e| e.to_string())?;
        match config.rpc.laddr {
            tendermint_config::net::Address::Tcp { host, port, .. } => Ok(format!(
                "{}:{port}",
                if host == "0.0.0.0" {
                    "127.0.0.1"
                } else {
                    &host
                }
            )),
            other => Err(format!("node{i}'s RPC is not TCP: {other}")),
        }
    }

    /// The PID `up.sh` recorded for node `i`'s `proc` (`ballastd` or `cometbft`).
    pub fn pid(&self, i: usize, proc: &str) -> Result<u32, String> {
        let path = self.dir.join("pids").join(format!("node{i}.{proc}"));
        std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .trim()
            .parse()
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// SIGKILL to node `i`'s cometbft and ballastd (by their PID files); waits until both are
    /// gone.
    pub fn kill9(&self, i: usize) -> Result<(), String> {
        for proc in ["cometbft", "ballastd"] {
            let pid = self.pid(i, proc)?;
            let status = Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status()
                .map_err(|e| e.to_string())?;
            if !status.success() {
                return Err(format!("kill -9 {pid} ({proc} of node{i}) failed"));
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while process_running(pid) {
                if Instant::now() > deadline {
                    return Err(format!("{proc} of node{i} (PID {pid}) survived kill -9"));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }
}

impl Drop for ScriptTestnet {
    fn drop(&mut self) {
        if !self.stopped {
            if let Err(e) = self.down() {
                let _ = std::io::stderr().write_all(format!("testnet/down.sh: {e}\n").as_bytes());
            }
        }
    }
}

/// Whether `pid` is a running process (a zombie does not count).
pub fn process_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .map(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
            .unwrap_or(false),
        Err(_) => false,
    }
}
