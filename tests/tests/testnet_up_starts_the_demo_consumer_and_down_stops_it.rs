//! `BALLAST_TESTNET_CONSUMER=1 testnet/up.sh` starts the demo consumer beside the nodes, with
//! real `ballastd` processes and a stand-in for cometbft (as in
//! `testnet_scripts_track_nodes_by_pid_files.rs`, so it runs without a CometBFT binary; no
//! Bitcoin side): up.sh records the ballast-consumer it runs in bin.env, writes
//! `consumer/consumer.toml` for `BALLAST_TESTNET_CONSUMER_ID` pointing at node 0's gRPC and RPC
//! with the consumer's own key in `consumer/`'s keyring, and tracks the process by
//! `pids/consumer`. The stand-in RPC has no chain behind it, so the demo consumer keeps retrying,
//! and stays up. status.sh shows it running with no verified update yet; down.sh stops it, and
//! status.sh then shows it down. The demo consumer following a real chain is in
//! `consumer_scenario_script_opts_two_operators_in_on_a_dev_chain.rs`.

// Test code waits on the wall clock; only consensus code must not read it.
#![allow(clippy::disallowed_methods)]

use ballast_tests::cli::run as cli;
use ballast_tests::cometbft::{free_port_block, process_running, ScriptTestnet};
use ballast_tests::node::workspace_bin;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Stand-in for cometbft: `version`, and `start --home H` serving /status and /abci_info on the
/// home's RPC port (the same stand-in as testnet_scripts_track_nodes_by_pid_files.rs).
const FAKE_COMETBFT: &str = r#"#!/usr/bin/env bash
case "$1" in
  version) echo "0.38.17" ;;
  start)
    home="$3"
    laddr="$(awk '/^\[rpc\]/{s=1;next} /^\[/{s=0} s && /^laddr/ {gsub(/"/,"",$3); print $3; exit}' "$home/config/config.toml")"
    exec python3 -c '
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/status"):
            r = {"sync_info": {"latest_block_height": "7", "latest_app_hash": "AB" * 32}}
        elif self.path.startswith("/abci_info"):
            r = {"response": {"last_block_height": "7"}}
        else:
            self.send_response(404); self.end_headers(); return
        b = json.dumps({"jsonrpc": "2.0", "id": -1, "result": r}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[3])), H).serve_forever()
' --home "$home" "${laddr##*:}"
    ;;
  *) exit 1 ;;
esac
"#;

fn write_fake(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("cometbft");
    std::fs::write(&path, FAKE_COMETBFT).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn toml_of(path: &Path) -> toml::Value {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .parse()
        .unwrap_or_else(|e| panic!("{} is not TOML: {e}", path.display()))
}

fn consumer_line(status: &str) -> String {
    status
        .lines()
        .find(|l| l.starts_with("CONSUMER "))
        .unwrap_or_else(|| panic!("no CONSUMER line in:\n{status}"))
        .to_string()
}

#[test]
fn testnet_up_starts_the_demo_consumer_and_down_stops_it() {
    let consumer = workspace_bin("ballast-consumer", "BALLAST_CONSUMER_BIN");
    let tmp = tempfile::tempdir().unwrap();
    let fake = write_fake(tmp.path());
    let mut net = ScriptTestnet::new(&tmp.path().join("net"), &fake, free_port_block(20), "");
    net.set_env("BALLAST_TESTNET_NO_BITCOIN", "1");
    net.set_env("BALLAST_TESTNET_CONSUMER", "1");
    net.set_env("BALLAST_TESTNET_CONSUMER_ID", "lease-test-1");
    net.set_env("BALLAST_CONSUMER_BIN", consumer.to_str().unwrap());

    let up = net.up(2).unwrap();
    for line in [
        "== starting the demo consumer",
        "  consumer: PID ",
        "demo consumer lease-test-1: config ",
    ] {
        assert!(up.contains(line), "no {line:?} in:\n{up}");
    }
    let bin_env = std::fs::read_to_string(net.dir.join("bin.env")).unwrap();
    assert!(
        bin_env.contains(&format!("TESTNET_CONSUMER={}", consumer.display())),
        "{bin_env}"
    );

    // The config follows node 0, with the consumer's own key.
    let cfg = toml_of(&net.dir.join("consumer/consumer.toml"));
    let node0 = toml_of(&net.home(0).join("config/ballast.toml"));
    assert_eq!(cfg["consumer_id"].as_str(), Some("lease-test-1"), "{cfg}");
    let grpc = node0["grpc"]["address"].as_str().unwrap();
    assert!(
        cfg["hub"]["grpc_address"].as_str().unwrap().ends_with(grpc),
        "{cfg}"
    );
    assert_eq!(
        cfg["hub"]["rpc_address"].as_str(),
        Some(format!("http://{}", net.rpc_addr(0).unwrap()).as_str()),
        "{cfg}"
    );
    assert_eq!(cfg["hub"]["key_name"].as_str(), Some("consumer"), "{cfg}");
    let key = cli(
        &net.dir.join("consumer"),
        &["keys", "show", "consumer", "--keyring-backend", "test"],
    );
    assert!(
        key.status.success(),
        "{}",
        String::from_utf8_lossy(&key.stderr)
    );

    // Tracked by its PID file; status.sh shows it.
    let pid: u32 = std::fs::read_to_string(net.dir.join("pids/consumer"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(process_running(pid), "the demo consumer (PID {pid}) runs");
    let status = net.script("status.sh", &[]).unwrap();
    let line = consumer_line(&status);
    assert_eq!(
        line,
        format!("CONSUMER running({pid})  ID lease-test-1  LAST_VERIFIED none yet"),
        "{status}"
    );

    // down.sh stops it with the nodes.
    let down = net.down().unwrap();
    assert!(
        down.contains(&format!("stopped consumer (PID {pid})")),
        "{down}"
    );
    assert!(!process_running(pid), "the demo consumer still runs");
    assert!(!net.dir.join("pids/consumer").exists());
    for i in 0..2 {
        assert!(!net.dir.join(format!("pids/node{i}.ballastd")).exists());
    }
    let status = net.script("status.sh", &[]).unwrap();
    assert!(
        consumer_line(&status).starts_with("CONSUMER down  ID lease-test-1"),
        "{status}"
    );
}
