//! A real 1-node CometBFT v0.38 network on a home written by `ballastd init`: `ballastd start`
//! plus `cometbft start --home <same home>` produce 20 blocks while `ballastd tx bank send`
//! lands transfers; balances read back over the CLI, gRPC forwards BroadcastTx to CometBFT, and
//! unmodified CosmJS sends BAL through CometBFT's RPC. Runs only with `COMETBFT_BIN`; says
//! "skipped: COMETBFT_BIN not set" otherwise.

use ballast_tests::cli::{json_ok, run as cli, ubal_balance as balance};
use ballast_tests::cometbft::{cometbft_bin, wait_for_height, CometBft};
use ballast_tests::node::Ballastd;
use std::time::Duration;

/// A base port whose 7 ports (P2P, RPC, ABCI, pprof, metrics, Prometheus, gRPC) are all free.
fn free_base() -> u16 {
    for _ in 0..200 {
        let base = ballast_tests::node::free_port();
        if base > 65_000 {
            continue;
        }
        let ok = (0..7).all(|o| std::net::TcpListener::bind(("127.0.0.1", base + o)).is_ok());
        if ok {
            return base;
        }
    }
    panic!("no 7 consecutive free ports");
}

#[test]
fn one_node_produces_20_blocks_with_cli_txs_and_serves_cosmjs() {
    let Some(bin) = cometbft_bin("one_node_produces_20_blocks_with_cli_txs_and_serves_cosmjs")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("node0");
    let base = free_base();
    let chain_id = "ballast-cli-1";
    json_ok(
        &home,
        &[
            "init",
            "node0",
            "--chain-id",
            chain_id,
            "--base-port",
            &base.to_string(),
        ],
    );
    let alice = json_ok(
        &home,
        &[
            "keys",
            "add",
            "alice",
            "--keyring-backend",
            "test",
            "--output",
            "json",
        ],
    );
    let alice_addr = alice["address"].as_str().unwrap().to_string();
    let mnemonic = alice["mnemonic"].as_str().unwrap().to_string();
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
    let out = cli(
        &home,
        &[
            "genesis",
            "add-account",
            "alice",
            "1000000000ubal",
            "--keyring-backend",
            "test",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let _app = Ballastd::start_with(&home, &[], &[]).unwrap();
    let _comet = CometBft::start(&bin, &home).unwrap();
    let rpc = format!("127.0.0.1:{}", base + 1);
    let node = format!("tcp://{rpc}");
    wait_for_height(&rpc, 2, Duration::from_secs(60)).unwrap();

    let mut sent = 0u128;
    let mut i = 0u128;
    loop {
        let h = ballast_tests::cometbft::height(&rpc).unwrap();
        if h >= 20 {
            break;
        }
        i += 1;
        let amount = 1_000 + i;
        let r = json_ok(
            &home,
            &[
                "tx",
                "bank",
                "send",
                "alice",
                &bob_addr,
                &format!("{amount}ubal"),
                "--yes",
                "--keyring-backend",
                "test",
                "--node",
                &node,
                "--chain-id",
                chain_id,
                "-o",
                "json",
            ],
        );
        assert_eq!(r["code"], 0, "{r}");
        sent += amount;
        assert!(i < 60, "height 20 not reached after {i} txs");
    }
    assert!(i >= 2, "only {i} txs landed before height 20");
    assert_eq!(balance(&home, &node, &bob_addr), sent);

    // gRPC BroadcastTx is forwarded to CometBFT's mempool.
    let grpc = format!("127.0.0.1:{}", base + 6);
    let r = json_ok(
        &home,
        &[
            "tx",
            "bank",
            "send",
            "alice",
            &bob_addr,
            "5ubal",
            "--yes",
            "--keyring-backend",
            "test",
            "--node",
            &node,
            "--grpc",
            &grpc,
            "-o",
            "json",
        ],
    );
    assert_eq!(r["code"], 0, "{r}");
    sent += 5;
    assert_eq!(balance(&home, &node, &bob_addr), sent);

    // Unmodified CosmJS through CometBFT's own RPC.
    let r = ballast_tests::cosmjs::wallet_flow(&format!("http://{rpc}"), &mnemonic, &bob_addr, 321)
        .unwrap();
    assert_eq!(r["chainId"], chain_id, "{r}");
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(
        r["after"].as_str().unwrap().parse::<u128>().unwrap(),
        sent + 321,
        "{r}"
    );
    assert_eq!(r["txFound"], true, "{r}");
    // Alice paid every amount plus fees.
    assert!(balance(&home, &node, &alice_addr) < 1_000_000_000 - sent - 321);
}
