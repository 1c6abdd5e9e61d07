//! `ballastd testnet generate --validators 4` writes four homes that share one genesis with the
//! four validators and a funded account per node, wire each node to the three others by their
//! real node IDs, give every listener its own port, and leave each account's mnemonic in
//! `key_seed.json` (which recovers to the funded address) and its key in the home's keyring.

use ballast_app::{App, AppConfig};
use ballast_client::keyring::{Backend, Keyring};
use ballast_tests::consensus::MockConsensus;
use ballast_tests::driver::InProcess;
use ballast_tests::node::ballastd_bin;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use tendermint_config::net::Address as NetAddress;
use tendermint_config::{NodeKey, PrivValidatorKey, TendermintConfig};

const N: usize = 4;
const CHAIN: &str = "ballast-tn-itest-1";

fn generate(out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(ballastd_bin())
        .args([
            "testnet",
            "generate",
            "--validators",
            "4",
            "--chain-id",
            CHAIN,
        ])
        .arg("--output-dir")
        .arg(out)
        .args(extra)
        .output()
        .expect("ballastd runs")
}

fn tcp(a: &NetAddress) -> (Option<String>, String, u16) {
    match a {
        NetAddress::Tcp {
            peer_id,
            host,
            port,
        } => (peer_id.map(|p| p.to_string()), host.clone(), *port),
        other => panic!("expected a TCP address, found {other}"),
    }
}

fn port_of(host_port: &str) -> u16 {
    host_port
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {host_port:?}"))
}

struct Home {
    dir: PathBuf,
    config: TendermintConfig,
    node: toml::Value,
    node_id: String,
    validator: PrivValidatorKey,
    genesis_text: String,
    seed: serde_json::Value,
}

fn load(dir: PathBuf) -> Home {
    let config = TendermintConfig::load_toml_file(&dir.join("config/config.toml"))
        .expect("tendermint-config parses config.toml");
    let node: toml::Value =
        toml::from_str(&std::fs::read_to_string(dir.join("config/ballast.toml")).unwrap())
            .expect("ballast.toml is TOML");
    let node_id = NodeKey::load_json_file(&dir.join("config/node_key.json"))
        .expect("node_key.json parses")
        .node_id()
        .to_string();
    let validator = PrivValidatorKey::load_json_file(&dir.join("config/priv_validator_key.json"))
        .expect("priv_validator_key.json parses");
    let genesis_text = std::fs::read_to_string(dir.join("config/genesis.json")).unwrap();
    let seed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("key_seed.json")).unwrap())
            .expect("key_seed.json is JSON");
    Home {
        dir,
        config,
        node,
        node_id,
        validator,
        genesis_text,
        seed,
    }
}

#[test]
fn testnet_generate_writes_n_wired_homes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("net");
    let run = generate(&out, &["--base-port", "36000"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let homes: Vec<Home> = (0..N).map(|i| load(out.join(format!("node{i}")))).collect();

    // One genesis, byte for byte, with the four validators.
    for h in &homes[1..] {
        assert_eq!(h.genesis_text, homes[0].genesis_text, "{}", h.dir.display());
    }
    let genesis: tendermint::Genesis<serde_json::Value> =
        serde_json::from_str(&homes[0].genesis_text).expect("tendermint-rs parses genesis.json");
    assert_eq!(genesis.chain_id.as_str(), CHAIN);
    assert_eq!(genesis.validators.len(), N);
    for (h, v) in homes.iter().zip(&genesis.validators) {
        assert_eq!(v.pub_key, h.validator.pub_key, "{}", h.dir.display());
        assert_eq!(v.address, h.validator.address);
        assert_eq!(v.address, tendermint::account::Id::from(v.pub_key));
        // Each validator is an operator whose 100 BAL genesis self-bond gives power 100.
        assert_eq!(v.power.value(), 100);
    }
    let distinct: BTreeSet<_> = genesis.validators.iter().map(|v| v.address).collect();
    assert_eq!(distinct.len(), N);
    let operators = genesis.app_state["restaking"]["operators"]
        .as_array()
        .expect("restaking operators");
    assert_eq!(operators.len(), N);
    for (h, op) in homes.iter().zip(operators) {
        assert_eq!(
            op["consensus_pubkey"].as_str(),
            Some(hex::encode(h.validator.pub_key.to_bytes()).as_str())
        );
        assert_eq!(op["self_bond"], "100000000");
        let key =
            ballast_client::btc_key::load_btc_key(&h.dir.join("config/operator_btc_key.json"))
                .expect("each node has a private operator key");
        assert_eq!(
            op["btc_pk"].as_str(),
            Some(hex::encode(ballast_client::btc_key::xonly(&key).serialize()).as_str())
        );
    }
    // Three covenant members with quorum 2, each key in its own directory.
    let btc = &genesis.app_state["restaking"]["params"]["btc"];
    assert_eq!(btc["covenant_quorum"], 2);
    let committee: Vec<String> = (0..3)
        .map(|i| {
            let key = ballast_client::btc_key::load_btc_key(
                &out.join(format!("covenant-{i}/covenant_key.json")),
            )
            .expect("covenant key");
            hex::encode(ballast_client::btc_key::xonly(&key).serialize())
        })
        .collect();
    let mut sorted_committee = committee.clone();
    sorted_committee.sort();
    let mut in_genesis: Vec<String> = btc["covenant_pks"]
        .as_array()
        .expect("covenant_pks")
        .iter()
        .map(|k| k.as_str().expect("hex").to_string())
        .collect();
    in_genesis.sort();
    assert_eq!(in_genesis, sorted_committee);
    assert_eq!(
        genesis
            .consensus_params
            .abci
            .vote_extensions_enable_height
            .map(|h| h.value()),
        Some(1)
    );

    // Each node's persistent peers are exactly the three others, by node ID and P2P address.
    for (i, h) in homes.iter().enumerate() {
        assert!(!h.config.p2p.addr_book_strict);
        assert!(h.config.p2p.allow_duplicate_ip);
        assert_eq!(
            h.config.proxy_app,
            h.node["abci"]["address"]
                .as_str()
                .unwrap()
                .parse::<NetAddress>()
                .unwrap(),
            "proxy_app points at this node's ballastd"
        );
        let peers: BTreeSet<(Option<String>, String, u16)> =
            h.config.p2p.persistent_peers.iter().map(tcp).collect();
        let expected: BTreeSet<(Option<String>, String, u16)> = homes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, o)| {
                let (_, host, port) = tcp(&o.config.p2p.laddr);
                (Some(o.node_id.clone()), host, port)
            })
            .collect();
        assert_eq!(peers.len(), N - 1);
        assert_eq!(peers, expected, "peers of node{i}");
        assert_eq!(
            *h.config.consensus.timeout_commit,
            std::time::Duration::from_secs(1)
        );
    }

    // Every listener of every node has its own port.
    let mut ports = Vec::new();
    for h in &homes {
        ports.push(tcp(&h.config.rpc.laddr).2);
        ports.push(tcp(&h.config.p2p.laddr).2);
        ports.push(tcp(&h.config.proxy_app).2);
        ports.push(port_of(&h.config.instrumentation.prometheus_listen_addr));
        ports.push(port_of(h.node["grpc"]["address"].as_str().unwrap()));
        ports.push(port_of(h.node["metrics"]["address"].as_str().unwrap()));
        assert_eq!(
            h.node["cometbft"]["rpc"].as_str().unwrap(),
            format!("http://127.0.0.1:{}", tcp(&h.config.rpc.laddr).2),
            "gRPC broadcasts go to this node's own CometBFT"
        );
    }
    let unique: BTreeSet<u16> = ports.iter().copied().collect();
    assert_eq!(unique.len(), ports.len(), "a port is used twice: {ports:?}");
    assert!(ports
        .iter()
        .all(|p| (36000..36000 + 10 * N as u16).contains(p)));

    // Funded accounts: key_seed.json recovers to the funded address, which is in the keyring.
    let accounts = genesis.app_state["accounts"]["accounts"]
        .as_array()
        .expect("accounts list")
        .clone();
    assert_eq!(accounts.len(), N);
    let scratch = tempfile::tempdir().expect("temp dir");
    let recovered = Keyring::open(scratch.path(), Backend::Test, None).unwrap();
    for (i, h) in homes.iter().enumerate() {
        let address = h.seed["address"].as_str().expect("address");
        let mnemonic = h.seed["secret"].as_str().expect("secret");
        assert_eq!(mnemonic.split_whitespace().count(), 24);
        let info = recovered
            .recover(&format!("check{i}"), mnemonic)
            .expect("the mnemonic recovers");
        assert_eq!(info.address, address, "key_seed.json of node{i}");
        assert_eq!(accounts[i]["address"].as_str(), Some(address));
        assert_eq!(
            accounts[i]["coins"],
            serde_json::json!([{ "denom": "ubal", "amount": "1000000000000" }])
        );
        let in_home = Keyring::open(&h.dir, Backend::Test, None)
            .unwrap()
            .show(&format!("node{i}"))
            .expect("the key is in the home's keyring");
        assert_eq!(in_home.address, address);
    }

    // The app takes this genesis at InitChain.
    let data = tempfile::tempdir().expect("temp dir");
    let mut node = InProcess(App::open(AppConfig::new(data.path())).unwrap());
    MockConsensus::new(CHAIN, N, genesis.app_state.clone())
        .handshake(&mut node)
        .expect("InitChain accepts the testnet's app_state");

    // It never writes over existing homes.
    let again = generate(&out, &[]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("node0/config/genesis.json")).unwrap(),
        homes[0].genesis_text
    );
}

#[test]
fn testnet_generate_rejects_bad_arguments() {
    let tmp = tempfile::tempdir().expect("temp dir");
    for (args, needle) in [
        (vec!["--validators", "0"], "--validators"),
        (vec!["--account-coins", "0ubal"], "--account-coins"),
        (vec!["--timeout-commit", "1m"], "--timeout-commit"),
        (vec!["--base-port", "65530"], "beyond 65535"),
        // Node 3's ports overflow: nodes 0 to 2 must not be written either.
        (vec!["--base-port", "65500"], "beyond 65535"),
        (vec!["--keyring-backend", "os"], "os"),
    ] {
        let out = tmp.path().join("bad");
        let mut cmd = Command::new(ballastd_bin());
        cmd.args(["testnet", "generate", "--output-dir"])
            .arg(&out)
            .args(&args);
        let r = cmd.output().expect("ballastd runs");
        assert!(!r.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!out.join("node0").exists(), "{args:?} left a home behind");
    }
}
