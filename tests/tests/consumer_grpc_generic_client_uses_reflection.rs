//! A gRPC client that is not Ballast's follows a consumer: `tests/grpc-generic/consumer_client.py`
//! (Google's grpcio, grpcio-reflection and protobuf from PyPI, installed by
//! `tests/grpc-generic/setup.sh` into a venv under ~/.cache/ballast/py) learns
//! `ballast.consumer.v1.Consumer` and its messages from the server's reflection alone (no .proto
//! file, no generated code; it runs from an empty directory) and calls `GetConsumer` and
//! `SubscribeValidatorSet` on `ballastd dev`.
//!
//! The dev chain's operator opts in to a registered, funded consumer; once it is ACTIVE with its
//! first update the client subscribes from the start and reads two updates: the stored first one
//! (replayed) and the second, which the operator's allocation change produces at a later epoch
//! end (live). What it prints equals what `ballastd query consumers` reads: status, owner, lease,
//! params, every update's id, changes and set hash. An unknown consumer makes it exit 1 with the
//! gRPC status.
//!
//! When the Python packages cannot be installed (no python3 venv, no network to PyPI) this prints
//! "skipped: …" with the reason and passes.

// A test, not consensus code: it waits on a child process with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use ballast_tests::btc_staking::key_file_public_key;
use ballast_tests::cli::{json_ok, run as cli};
use ballast_tests::vigilante::{wait_for, DevChain};
use base64::Engine;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const NAME: &str = "consumer_grpc_generic_client_uses_reflection";
const WAIT: Duration = Duration::from_secs(90);

fn generic_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("grpc-generic")
}

/// The venv's python, or `None` (after printing why) when the packages cannot be installed.
fn python_or_skip() -> Option<PathBuf> {
    let out = Command::new("bash")
        .arg(generic_dir().join("setup.sh"))
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            let python = stdout.lines().last().expect("setup.sh prints the python");
            Some(PathBuf::from(python.trim()))
        }
        Some(3) => {
            // The script's own reason is its last line; pip's output comes before it.
            let why = stderr
                .lines()
                .rev()
                .find(|l| l.starts_with("grpc-generic setup: "))
                .unwrap_or(stderr.trim());
            println!("skipped: {NAME}: {why}");
            None
        }
        _ => panic!("tests/grpc-generic/setup.sh failed:\n{stderr}"),
    }
}

/// Starts the client from an empty directory, its stdout and stderr in files.
fn start_client(python: &Path, work: &Path, args: &[&str]) -> Child {
    std::fs::create_dir_all(work).unwrap();
    Command::new(python)
        .arg(generic_dir().join("consumer_client.py"))
        .args(args)
        .current_dir(work)
        .env_remove("PYTHONPATH")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(work.join("stdout")).unwrap())
        .stderr(std::fs::File::create(work.join("stderr")).unwrap())
        .spawn()
        .expect("the venv's python runs")
}

/// Waits (bounded) for the client to exit; returns its status and output.
fn finish_client(
    mut child: Child,
    work: &Path,
    timeout: Duration,
) -> (Option<i32>, String, String) {
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |f: &str| std::fs::read_to_string(work.join(f)).unwrap_or_default();
    (status, read("stdout"), read("stderr"))
}

fn tx_ok(home: &Path, node: &str, from: &str, args: &[&str]) -> Value {
    let mut all = vec!["tx", "consumers"];
    all.extend_from_slice(args);
    all.extend([
        "--from",
        from,
        "--yes",
        "--keyring-backend",
        "test",
        "--node",
        node,
        "-o",
        "json",
    ]);
    let out: Output = cli(home, &all);
    assert!(
        out.status.success(),
        "ballastd {all:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn query(home: &Path, node: &str, args: &[&str]) -> Value {
    let mut all = vec!["query", "consumers"];
    all.extend_from_slice(args);
    all.extend(["--node", node, "-o", "json"]);
    json_ok(home, &all)
}

fn b64_to_hex(v: &Value) -> String {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    hex::encode(
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .unwrap_or_else(|e| panic!("not base64 {s:?}: {e}")),
    )
}

/// The JSON after `prefix` on each line that starts with it.
fn json_lines(stdout: &str, prefix: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(|j| serde_json::from_str(j).unwrap_or_else(|e| panic!("{j}: {e}")))
        .collect()
}

#[test]
fn a_python_grpcio_client_built_from_reflection_gets_a_consumer_and_follows_its_updates() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("dev");
    let chain = DevChain::start(&home, 250);
    let node = chain.rpc.clone();

    // A registered, funded consumer with the dev operator opted in.
    tx_ok(
        &home,
        &node,
        "dev",
        &["register", "generic-1", "--fee-per-epoch", "1000"],
    );
    tx_ok(&home, &node, "dev", &["fund", "generic-1", "1000000"]);
    let op_pk = key_file_public_key(&home.join("config/operator_btc_key.json"));
    let ckey = hex::encode(
        ed25519_consensus::SigningKey::from([9u8; 32])
            .verification_key()
            .to_bytes(),
    );
    tx_ok(
        &home,
        &node,
        "operator",
        &["opt-in", "generic-1", &ckey, "--allocation-bps", "10000"],
    );
    let active = wait_for(WAIT, || {
        query(&home, &node, &["consumer", "generic-1"])["consumer"]["last_update_id"] == "1"
    });
    assert!(
        active,
        "{}",
        query(&home, &node, &["consumer", "generic-1"])
    );

    // Subscribe from the start for two updates; the second comes from this allocation change.
    let work = dir.path().join("client");
    let client = start_client(
        &python,
        &work,
        &[
            "--addr",
            &chain.grpc,
            "--consumer-id",
            "generic-1",
            "--updates",
            "2",
            "--timeout",
            "90",
        ],
    );
    tx_ok(
        &home,
        &node,
        "operator",
        &["opt-in", "generic-1", &ckey, "--allocation-bps", "4000"],
    );
    let (status, stdout, stderr) = finish_client(client, &work, WAIT + Duration::from_secs(30));
    let all = format!("exit {status:?}\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}");
    eprintln!("consumer_client.py printed:\n{all}");
    assert_eq!(status, Some(0), "{all}");

    // Everything came from reflection.
    let services = stdout
        .lines()
        .find_map(|l| l.strip_prefix("reflection: services "))
        .unwrap_or_else(|| panic!("no services line:\n{all}"));
    assert!(
        services
            .split(' ')
            .any(|s| s == "ballast.consumer.v1.Consumer"),
        "{all}"
    );
    for line in [
        "method GetConsumer: ballast.consumer.v1.GetConsumerRequest -> ballast.consumer.v1.GetConsumerResponse",
        "method SubscribeValidatorSet: ballast.consumer.v1.SubscribeValidatorSetRequest -> stream ballast.consumers.v1.ValidatorSetUpdate",
        "done: 2 updates",
    ] {
        assert!(stdout.lines().any(|l| l == line), "no {line:?}:\n{all}");
    }

    // GetConsumer says what the CLI reads.
    let got = json_lines(&stdout, "GetConsumer ");
    assert_eq!(got.len(), 1, "{all}");
    let c = &got[0]["consumer"];
    let cli_c = query(&home, &node, &["consumer", "generic-1"])["consumer"].clone();
    assert_eq!(c["consumer_id"], "generic-1", "{all}");
    assert_eq!(c["owner"], cli_c["owner"], "{all}");
    assert_eq!(c["status"], "CONSUMER_STATUS_ACTIVE", "{all}");
    assert_eq!(c["terms"]["fee_per_epoch"], "1000", "{all}");
    let lease: u128 = c["lease_balance"].as_str().unwrap().parse().unwrap();
    assert!(lease > 0 && lease < 1_000_000, "{all}");
    let params = query(&home, &node, &["params"])["params"].clone();
    assert_eq!(
        got[0]["params"]["max_reuse_ratio"], params["max_reuse_ratio"],
        "{all}"
    );
    assert!(
        got[0]["height"].as_str().unwrap().parse::<u64>().unwrap() > 0,
        "{all}"
    );

    // Both updates, in order, equal to the stored ones.
    let updates = json_lines(&stdout, "update ");
    let stored = query(&home, &node, &["updates", "generic-1"])["updates"].clone();
    assert_eq!(updates.len(), 2, "{all}");
    for (i, u) in updates.iter().enumerate() {
        let s = &stored[i];
        assert_eq!(u["consumer_id"], "generic-1", "{all}");
        assert_eq!(u["update_id"], s["update_id"], "{all}\n{stored}");
        assert_eq!(u["update_id"], (i + 1).to_string(), "{all}");
        assert_eq!(u["epoch"], s["epoch"], "{all}\n{stored}");
        assert_eq!(b64_to_hex(&u["set_hash"]), s["set_hash"], "{all}\n{stored}");
        let changes = u["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 1, "{all}");
        assert_eq!(b64_to_hex(&changes[0]["pubkey"]), ckey, "{all}");
        assert_eq!(b64_to_hex(&changes[0]["operator_btc_pk"]), op_pk, "{all}");
        assert_eq!(
            changes[0]["power"], s["changes"][0]["power"],
            "{all}\n{stored}"
        );
    }
    let p1: u64 = updates[0]["changes"][0]["power"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let p2: u64 = updates[1]["changes"][0]["power"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(p2, p1 * 4000 / 10_000, "{all}");

    // An unknown consumer: exit 1 with the gRPC status.
    let work = dir.path().join("client-unknown");
    let client = start_client(
        &python,
        &work,
        &[
            "--addr",
            &chain.grpc,
            "--consumer-id",
            "nobody-1",
            "--timeout",
            "20",
        ],
    );
    let (status, stdout, stderr) = finish_client(client, &work, Duration::from_secs(60));
    assert_eq!(status, Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("consumer_client: GetConsumer: "),
        "{stdout}\n{stderr}"
    );
    assert!(!stdout.contains("GetConsumer {"), "{stdout}");
}
