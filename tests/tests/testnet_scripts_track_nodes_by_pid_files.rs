//! The process handling of `testnet/up.sh`, `status.sh` and `down.sh`, with real `ballastd`
//! processes and a stand-in for cometbft (a small HTTP server answering `/status` and
//! `/abci_info` on the home's RPC port), so it runs without a CometBFT binary. What CometBFT
//! itself does with the homes is covered by the `cometbft_*` tests.
//!
//! - up.sh refuses to start without cometbft, saying so, and never wipes a foreign directory;
//! - it starts N pairs, records their PIDs, and waits for every RPC;
//! - status.sh reports live and dead processes;
//! - after kill -9, `up.sh --node I` restarts that node, and refuses while it runs;
//! - down.sh stops every recorded process and nothing else;
//! - the Bitcoin side: up.sh installs and starts a regtest bitcoind (it runs under the sid
//!   loader, so it is tracked by its PID file and its `-datadir` argument), a mining loop and the
//!   vigilante; status.sh shows them and the Bitcoin height grows; down.sh stops all three.

// Test code waits on the wall clock; only consensus code must not read it.
#![allow(clippy::disallowed_methods)]

use ballast_tests::cometbft::{free_port_block, process_running, rpc, ScriptTestnet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const FAKE_COMETBFT: &str = r#"#!/usr/bin/env bash
# Stand-in for cometbft: `version`, and `start --home H` serving /status and /abci_info.
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

#[test]
fn testnet_scripts_track_nodes_by_pid_files() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = write_fake(tmp.path());

    // No cometbft: a clear message and a non-zero exit, before anything is written.
    let missing = ScriptTestnet::new(
        &tmp.path().join("none"),
        &tmp.path().join("no-such-cometbft"),
        free_port_block(20),
        "",
    );
    let err = missing.up(2).unwrap_err();
    assert!(err.contains("cometbft not found"), "{err}");
    assert!(!tmp.path().join("none").exists());

    // A directory up.sh did not make is never wiped.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("precious.txt"), "keep me").unwrap();
    let err = ScriptTestnet::new(&foreign, &fake, free_port_block(20), "")
        .up(2)
        .unwrap_err();
    assert!(err.contains("not made by testnet/up.sh"), "{err}");
    assert!(foreign.join("precious.txt").exists());

    let mut net = ScriptTestnet::new(&tmp.path().join("net"), &fake, free_port_block(20), "");
    net.up(2).unwrap();
    let mut pids = Vec::new();
    for i in 0..2 {
        let addr = net.rpc_addr(i).unwrap();
        assert_eq!(
            rpc(&addr, "/status").unwrap()["sync_info"]["latest_block_height"],
            "7"
        );
        for proc in ["ballastd", "cometbft"] {
            let pid = net.pid(i, proc).unwrap();
            assert!(process_running(pid), "node{i} {proc} PID {pid}");
            pids.push(pid);
        }
        let log =
            std::fs::read_to_string(net.dir.join(format!("logs/node{i}.ballastd.log"))).unwrap();
        assert!(log.contains("ABCI listening on"), "{log}");
    }
    let status = net.script("status.sh", &[]).unwrap();
    let node_lines: Vec<&str> = status.lines().filter(|l| l.starts_with("node")).collect();
    assert_eq!(node_lines.len(), 2, "{status}");
    assert!(
        node_lines.iter().all(|l| l.matches("up(").count() == 2),
        "{status}"
    );
    // bitcoind, the miner and the vigilante run, and Bitcoin blocks are being mined.
    let btc_line = |status: &str| {
        status
            .lines()
            .find(|l| l.starts_with("BITCOIND"))
            .unwrap_or_else(|| panic!("no Bitcoin line in {status}"))
            .to_string()
    };
    let line = btc_line(&status);
    assert_eq!(line.matches("up(").count(), 3, "{line}");
    let btc_height = |line: &str| -> u64 { line.rsplit(' ').next().unwrap().parse().unwrap_or(0) };
    let first = btc_height(&line);
    assert!(first >= 101, "up.sh mines 101 blocks first: {line}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while btc_height(&btc_line(&net.script("status.sh", &[]).unwrap())) <= first {
        assert!(
            std::time::Instant::now() < deadline,
            "the miner mines no block"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let side_pids: Vec<u32> = ["bitcoind", "miner", "vigilante"]
        .iter()
        .map(|p| {
            std::fs::read_to_string(net.dir.join("pids").join(p))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(side_pids.iter().all(|p| process_running(*p)));

    // kill -9 node 1: status.sh sees it down, up.sh --node restarts only it.
    net.kill9(1).unwrap();
    let status = net.script("status.sh", &[]).unwrap();
    let node1 = status.lines().find(|l| l.starts_with("node1")).unwrap();
    assert_eq!(node1.matches("down").count(), 2, "{status}");
    let err = net.script("up.sh", &["--node", "0"]).unwrap_err();
    assert!(err.contains("already running"), "{err}");
    net.script("up.sh", &["--node", "1"]).unwrap();
    let restarted = [
        net.pid(1, "ballastd").unwrap(),
        net.pid(1, "cometbft").unwrap(),
    ];
    assert!(restarted
        .iter()
        .all(|p| process_running(*p) && !pids.contains(p)));
    assert!(rpc(&net.rpc_addr(1).unwrap(), "/status").is_ok());

    // An unrelated process whose PID is written into a PID file is not signalled.
    let mut bystander = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    std::fs::write(
        net.dir.join("pids/node9.ballastd"),
        bystander.id().to_string(),
    )
    .unwrap();

    let all: Vec<u32> = [pids[0], pids[1]]
        .into_iter()
        .chain(restarted)
        .chain(side_pids)
        .collect();
    net.down().unwrap();
    for pid in all {
        assert!(!process_running(pid), "PID {pid} survived down.sh");
    }
    assert!(
        bystander.try_wait().unwrap().is_none(),
        "down.sh signalled a process that is not a node"
    );
    bystander.kill().unwrap();
    let _ = bystander.wait();
    assert_eq!(
        std::fs::read_dir(net.dir.join("pids")).unwrap().count(),
        0,
        "down.sh leaves no PID files"
    );
}
