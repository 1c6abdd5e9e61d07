//! A newcomer's flow against `ballastd dev`: the dev chain starts on a fresh home with a funded
//! dev account; `ballastd keys add`, `tx bank send` and `query bank balances` (over CometBFT's
//! RPC and over gRPC) show the transfer; a failing tx prints its code and exits non-zero;
//! unmodified CosmJS reads the account, simulates, sends with "auto" gas and reads the new
//! balance; SIGTERM stops the chain cleanly and a restart resumes it.

use ballast_tests::cli::{json_ok, run as cli, ubal_balance as balance};
use ballast_tests::node::{free_port, spawn_dev, Ballastd};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

fn start_dev(home: &Path, rpc: &str, grpc: &str) -> Ballastd {
    let node = spawn_dev(home, rpc, grpc, 300);
    // The first block commits the genesis state that queries read.
    for _ in 0..300 {
        let out = cli(
            home,
            &["status", "--node", &format!("tcp://{rpc}"), "-o", "json"],
        );
        if out.status.success() {
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            if v["sync_info"]["latest_block_height"] != "0" {
                return node;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no first block within 30 s");
}

#[test]
fn keys_send_query_and_cosmjs_work_against_ballastd_dev_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("dev");
    let rpc = format!("127.0.0.1:{}", free_port());
    let grpc = format!("127.0.0.1:{}", free_port());
    let node_url = format!("tcp://{rpc}");
    let mut dev = start_dev(&home, &rpc, &grpc);

    // The dev account exists, with its mnemonic in key_seed.json and its key in the test keyring.
    let seed: Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("key_seed.json")).unwrap())
            .unwrap();
    let dev_addr = seed["address"].as_str().unwrap().to_string();
    let mnemonic = seed["secret"].as_str().unwrap().to_string();
    assert_eq!(mnemonic.split_whitespace().count(), 24);
    let shown = json_ok(
        &home,
        &[
            "keys",
            "show",
            "dev",
            "--keyring-backend",
            "test",
            "--output",
            "json",
        ],
    );
    assert_eq!(shown["address"], dev_addr.as_str());
    let dev_funds = balance(&home, &node_url, &dev_addr);
    assert!(
        dev_funds >= 1_000_000_000_000,
        "dev account holds {dev_funds}"
    );

    // keys add, then send from the dev key.
    let bob = json_ok(
        &home,
        &[
            "keys",
            "add",
            "bob",
            "--keyring-backend",
            "test",
            "--output",
            "json",
        ],
    );
    let bob_addr = bob["address"].as_str().unwrap().to_string();
    let sent = json_ok(
        &home,
        &[
            "tx",
            "bank",
            "send",
            "dev",
            &bob_addr,
            "5000ubal",
            "--yes",
            "--keyring-backend",
            "test",
            "--node",
            &node_url,
            "-o",
            "json",
        ],
    );
    assert_eq!(sent["code"], 0, "{sent}");
    let height: u64 = sent["height"].as_str().unwrap().parse().unwrap();
    assert!(height > 0, "{sent}");
    assert_eq!(balance(&home, &node_url, &bob_addr), 5000);

    // The same balance over gRPC, the tx by hash, and the node status.
    let over_grpc = json_ok(
        &home,
        &[
            "query", "bank", "balances", &bob_addr, "--grpc", &grpc, "-o", "json",
        ],
    );
    assert_eq!(over_grpc["balances"][0]["amount"], "5000", "{over_grpc}");
    let txhash = sent["txhash"].as_str().unwrap();
    let tx = json_ok(
        &home,
        &["query", "tx", txhash, "--node", &node_url, "-o", "json"],
    );
    assert_eq!(tx["height"], sent["height"]);
    assert_eq!(tx["code"], 0);
    let status = json_ok(&home, &["status", "--node", &node_url, "-o", "json"]);
    assert_eq!(status["node_info"]["network"], "ballast-local-1");

    // A tx that fails in execution: code and log on stderr, non-zero exit, funds untouched.
    let out = cli(
        &home,
        &[
            "tx",
            "bank",
            "send",
            "bob",
            &dev_addr,
            "999999ubal",
            "--yes",
            "--gas",
            "100000",
            "--keyring-backend",
            "test",
            "--node",
            &node_url,
            "-o",
            "json",
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("code 5") && stderr.contains("insufficient funds"),
        "{stderr}"
    );
    let failed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(failed["code"], 5);
    assert_eq!(failed["codespace"], "sdk");
    let bob_after_fee = balance(&home, &node_url, &bob_addr);
    assert!(bob_after_fee < 5000, "the failed tx still pays its fee");

    // With --gas auto a doomed tx is caught by simulation and never broadcast.
    let out = cli(
        &home,
        &[
            "tx",
            "bank",
            "send",
            "bob",
            &dev_addr,
            "999999ubal",
            "--yes",
            "--keyring-backend",
            "test",
            "--node",
            &node_url,
            "-o",
            "json",
        ],
    );
    assert!(!out.status.success());
    assert_eq!(balance(&home, &node_url, &bob_addr), bob_after_fee);

    // Unmodified CosmJS against the dev chain's CometBFT-compatible RPC.
    let r = ballast_tests::cosmjs::wallet_flow(&format!("http://{rpc}"), &mnemonic, &bob_addr, 777)
        .unwrap();
    assert_eq!(r["chainId"], "ballast-local-1", "{r}");
    assert_eq!(r["sender"], dev_addr.as_str(), "{r}");
    assert_eq!(r["code"], 0, "{r}");
    assert!(r["simulatedGas"].as_u64().unwrap() > 0, "{r}");
    assert!(
        r["gasWanted"].as_u64().unwrap() >= r["gasUsed"].as_u64().unwrap(),
        "{r}"
    );
    let before: u128 = r["before"].as_str().unwrap().parse().unwrap();
    let after: u128 = r["after"].as_str().unwrap().parse().unwrap();
    assert_eq!(before, bob_after_fee, "{r}");
    assert_eq!(after, before + 777, "{r}");
    assert_eq!(
        r["sequenceAfter"].as_u64().unwrap(),
        r["sequence"].as_u64().unwrap() + 1,
        "{r}"
    );
    assert_eq!(r["txFound"], true, "{r}");
    assert_eq!(balance(&home, &node_url, &bob_addr), after);

    // Clean stop, then the chain resumes where it was.
    let stopped_at = {
        let st = dev.terminate(Duration::from_secs(30)).unwrap();
        assert!(st.success(), "{st}");
        let line = dev
            .stdout_lines()
            .into_iter()
            .find_map(|l| {
                l.strip_prefix("stopped cleanly at height ")
                    .map(str::to_string)
            })
            .expect("dev prints the height it stopped at");
        line.parse::<u64>().unwrap()
    };
    assert!(stopped_at >= height);
    let _dev = start_dev(&home, &rpc, &grpc);
    assert_eq!(balance(&home, &node_url, &bob_addr), after);
    let status = json_ok(&home, &["status", "--node", &node_url, "-o", "json"]);
    let h: u64 = status["sync_info"]["latest_block_height"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(h >= stopped_at, "resumed at {h}, stopped at {stopped_at}");
    // The first funded account is unchanged by the restart: no second genesis, no second key.
    let seed2: Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("key_seed.json")).unwrap())
            .unwrap();
    assert_eq!(seed2["address"], dev_addr.as_str());
}
