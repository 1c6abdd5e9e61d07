//! Unmodified CosmJS for wallet-compatibility tests: installed from npm (versions pinned by
//! `tests/cosmjs/package-lock.json`) into a cache outside the clone, then run with node.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn cosmjs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cosmjs")
}

fn cache_root() -> PathBuf {
    if let Ok(c) = std::env::var("BALLAST_CACHE") {
        return PathBuf::from(c);
    }
    PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()))
        .join(".cache")
        .join("ballast")
}

/// Installs CosmJS once per lock file (`npm ci`, under `flock` so parallel tests share one
/// install) and returns its `node_modules`.
pub fn node_modules() -> Result<PathBuf, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(install).clone()
}

fn install() -> Result<PathBuf, String> {
    let src = cosmjs_dir();
    let lock = std::fs::read(src.join("package-lock.json")).map_err(|e| e.to_string())?;
    let tag = hex::encode(&Sha256::digest(&lock)[..6]);
    let dir = cache_root().join(format!("cosmjs-{tag}"));
    let marker = dir.join("node_modules/@cosmjs/stargate/package.json");
    if marker.exists() {
        return Ok(dir.join("node_modules"));
    }
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let script = format!(
        "set -e; cd '{d}'; if [ ! -f '{m}' ]; then cp '{s}/package.json' '{s}/package-lock.json' .; \
         rm -rf node_modules; npm ci --no-audit --no-fund --loglevel=error; fi",
        d = dir.display(),
        m = marker.display(),
        s = src.display()
    );
    let out = Command::new("flock")
        .arg(dir.join(".lock"))
        .args(["sh", "-c", &script])
        .output()
        .map_err(|e| format!("running npm (is node installed?): {e}"))?;
    if !out.status.success() || !marker.exists() {
        return Err(format!(
            "npm ci of CosmJS failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(dir.join("node_modules"))
}

/// Runs `tests/cosmjs/wallet_flow.cjs` against the CometBFT RPC at `rpc` (http://host:port):
/// connect, read the account, simulate, `sendTokens` `amount` ubal to `to` with "auto" gas, read
/// balances. Returns the JSON line it prints.
pub fn wallet_flow(
    rpc: &str,
    mnemonic: &str,
    to: &str,
    amount: u64,
) -> Result<serde_json::Value, String> {
    let modules = node_modules()?;
    let out = Command::new("node")
        .arg(cosmjs_dir().join("wallet_flow.cjs"))
        .args([rpc, mnemonic, to, &amount.to_string()])
        .env("NODE_PATH", &modules)
        .output()
        .map_err(|e| format!("running node: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "CosmJS wallet flow failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let line = stdout
        .lines()
        .last()
        .ok_or_else(|| "CosmJS printed nothing".to_string())?;
    serde_json::from_str(line).map_err(|e| format!("CosmJS output {line:?}: {e}"))
}
