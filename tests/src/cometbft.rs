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

/// Runs `cometbft init` in `home`, then sets the chain id, the app state, vote extensions from
/// height 1, and loopback ports; returns the RPC address (`127.0.0.1:port`).
pub fn init_home(
    bin: &Path,
    home: &Path,
    chain_id: &str,
    app_state: &serde_json::Value,
    abci_addr: &str,
) -> Result<String, String> {
    let out = Command::new(bin)
        .args(["init", "--home"])
        .arg(home)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "cometbft init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let gpath = home.join("config/genesis.json");
    let mut genesis: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&gpath).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    genesis["chain_id"] = serde_json::json!(chain_id);
    genesis["app_state"] = app_state.clone();
    genesis["consensus_params"]["abci"] = serde_json::json!({"vote_extensions_enable_height": "1"});
    std::fs::write(
        &gpath,
        serde_json::to_vec_pretty(&genesis).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;

    let rpc_port = crate::node::free_port();
    let p2p_port = crate::node::free_port();
    let cpath = home.join("config/config.toml");
    let config = std::fs::read_to_string(&cpath).map_err(|e| e.to_string())?;
    let mut replaced = 0;
    let config: String = config
        .lines()
        .map(|l| {
            let t = l.trim_start();
            let new = if t.starts_with("proxy_app =") {
                format!("proxy_app = \"{abci_addr}\"")
            } else if t == "laddr = \"tcp://127.0.0.1:26657\"" {
                format!("laddr = \"tcp://127.0.0.1:{rpc_port}\"")
            } else if t == "laddr = \"tcp://0.0.0.0:26656\"" {
                format!("laddr = \"tcp://127.0.0.1:{p2p_port}\"")
            } else if t.starts_with("timeout_commit =") {
                "timeout_commit = \"300ms\"".to_string()
            } else {
                return l.to_string();
            };
            replaced += 1;
            new
        })
        .collect::<Vec<_>>()
        .join("\n");
    if replaced < 4 {
        return Err(format!(
            "config.toml did not have the expected v0.38 keys ({replaced} of 4 replaced)"
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
