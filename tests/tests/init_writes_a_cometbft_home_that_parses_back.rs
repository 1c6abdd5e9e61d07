//! `ballastd init` writes a home whose every file parses back with tendermint-rs's own types
//! (genesis, config.toml, priv_validator_key, node_key), whose ports follow the flags, which it
//! refuses to overwrite without `--overwrite`, whose genesis `genesis add-account` edits with
//! checked input, and whose app_state the app accepts and applies at InitChain.

use ballast_app::{App, AppConfig};
use ballast_framework::Address;
use ballast_tests::consensus::MockConsensus;
use ballast_tests::driver::{Abci, InProcess};
use ballast_tests::node::ballastd_bin;
use cosmrs::proto::cosmos::bank::v1beta1::{QueryBalanceRequest, QueryBalanceResponse};
use prost::Message;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use tendermint_config::net::Address as NetAddress;
use tendermint_config::{NodeKey, PrivValidatorKey, TendermintConfig};
use tendermint_proto::v0_38::abci as pb;

const CHAIN: &str = "ballast-itest-1";

fn ballastd(home: &Path, args: &[&str]) -> Output {
    Command::new(ballastd_bin())
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("BALLAST_KEYRING_BACKEND")
        .output()
        .expect("ballastd runs")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "ballastd failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn fails_with(out: Output, needle: &str) {
    assert!(
        !out.status.success(),
        "expected failure, got: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("readable")).expect("JSON")
}

fn read_toml(path: &Path) -> toml::Value {
    toml::from_str(&std::fs::read_to_string(path).expect("readable")).expect("TOML")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

fn addr(s: &str) -> NetAddress {
    s.parse().expect("a valid address")
}

fn balance(node: &mut dyn Abci, who: &str, denom: &str) -> u128 {
    let resp = node
        .query(pb::RequestQuery {
            data: QueryBalanceRequest {
                address: who.to_string(),
                denom: denom.into(),
            }
            .encode_to_vec()
            .into(),
            path: "/cosmos.bank.v1beta1.Query/Balance".into(),
            height: 0,
            prove: false,
        })
        .expect("query answers");
    assert_eq!(resp.code, 0, "{}", resp.log);
    QueryBalanceResponse::decode(resp.value.as_ref())
        .expect("a balance response")
        .balance
        .expect("a balance")
        .amount
        .parse()
        .expect("a number")
}

#[test]
fn init_writes_a_cometbft_home_that_parses_back() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let home = tmp.path().join("a");
    let printed: serde_json::Value = serde_json::from_str(&ok(ballastd(
        &home,
        &["init", "node-a", "--chain-id", CHAIN],
    )))
    .expect("init prints JSON");
    let config_dir = home.join("config");

    // genesis.json, through tendermint-rs's Genesis type.
    let genesis_text =
        std::fs::read_to_string(config_dir.join("genesis.json")).expect("genesis exists");
    let genesis: tendermint::Genesis<serde_json::Value> =
        serde_json::from_str(&genesis_text).expect("tendermint-rs parses genesis.json");
    assert_eq!(genesis.chain_id.as_str(), CHAIN);
    assert_eq!(genesis.initial_height, 1);
    assert_eq!(
        genesis
            .consensus_params
            .abci
            .vote_extensions_enable_height
            .map(|h| h.value()),
        Some(1)
    );
    assert_eq!(genesis.consensus_params.validator.pub_key_types.len(), 1);
    assert!(genesis.app_hash.as_bytes().is_empty());
    assert_eq!(genesis.validators.len(), 1);
    let v = &genesis.validators[0];
    assert_eq!(
        v.address,
        tendermint::account::Id::from(v.pub_key),
        "the validator address is SHA-256(pubkey)[..20]"
    );
    // The validator is a restaking operator; its power is its 100 BAL self-bond's.
    assert_eq!(v.power.value(), 100);
    let mut expected = ballast_app::genesis::default_app_state();
    let bls = ballast_app::bls_key::load_bls_key(&home)
        .expect("the BLS key file loads")
        .expect("init writes a BLS key");
    let address: [u8; 20] = v.address.as_bytes().try_into().expect("20 bytes");
    expected["checkpointing"]["bls_keys"] =
        serde_json::json!([ballast_app::bls_key::genesis_bls_key(&bls, address)]);
    // The operator: its owner (the keyring's `operator` key) is funded and bonds 100 BAL.
    let owner = printed["operator_owner"]
        .as_str()
        .expect("init prints the owner");
    let keyring =
        ballast_client::keyring::Keyring::open(&home, ballast_client::keyring::Backend::Test, None)
            .expect("keyring opens");
    assert_eq!(
        keyring.show("operator").expect("operator key").address,
        owner
    );
    expected["accounts"]["accounts"] = serde_json::json!([
        { "address": owner, "coins": [{ "denom": "ubal", "amount": "1000000000000" }] }
    ]);
    let operators = &genesis.app_state["restaking"]["operators"];
    assert_eq!(operators.as_array().map(Vec::len), Some(1));
    let op = &operators[0];
    assert_eq!(op["owner"], owner);
    assert_eq!(op["btc_pk"], printed["operator_btc_pk"]);
    assert_eq!(
        op["consensus_pubkey"].as_str(),
        Some(hex::encode(v.pub_key.to_bytes()).as_str())
    );
    assert_eq!(op["self_bond"], "100000000");
    let operator_key =
        ballast_client::btc_key::load_btc_key(&config_dir.join("operator_btc_key.json"))
            .expect("the operator key file loads");
    assert_eq!(
        hex::encode(ballast_client::btc_key::xonly(&operator_key).serialize()),
        printed["operator_btc_pk"].as_str().expect("printed")
    );
    let btc = &genesis.app_state["restaking"]["params"]["btc"];
    assert_eq!(
        btc["covenant_pks"],
        serde_json::json!([printed["covenant_pk"]])
    );
    assert_eq!(btc["covenant_quorum"], 1);
    expected["restaking"] = genesis.app_state["restaking"].clone();
    assert_eq!(
        genesis.app_state, expected,
        "app_state is every module's default genesis plus the app section, this validator's \
         BLS key, and its operator with its funded owner"
    );
    assert_eq!(
        printed["validator_address"].as_str(),
        Some(v.address.to_string().as_str())
    );

    // config.toml, through tendermint-config.
    let config = TendermintConfig::load_toml_file(&config_dir.join("config.toml"))
        .expect("tendermint-config parses config.toml");
    assert_eq!(config.proxy_app, addr("tcp://127.0.0.1:26658"));
    assert_eq!(config.moniker.to_string(), "node-a");
    assert_eq!(config.rpc.laddr, addr("tcp://127.0.0.1:26657"));
    assert_eq!(config.p2p.laddr, addr("tcp://0.0.0.0:26656"));
    assert!(config.p2p.persistent_peers.is_empty());
    assert_eq!(
        config
            .load_genesis_file(&home)
            .expect("genesis_file points at genesis.json")
            .chain_id
            .as_str(),
        CHAIN
    );
    // Every section of CometBFT v0.38's template is there.
    let raw = read_toml(&config_dir.join("config.toml"));
    for section in [
        "rpc",
        "p2p",
        "mempool",
        "statesync",
        "blocksync",
        "consensus",
        "storage",
        "tx_index",
        "instrumentation",
    ] {
        assert!(raw.get(section).is_some(), "config.toml lacks [{section}]");
    }
    assert_eq!(raw["blocksync"]["version"].as_str(), Some("v0"));
    assert_eq!(raw["mempool"]["type"].as_str(), Some("flood"));
    assert_ne!(
        raw["instrumentation"]["prometheus_listen_addr"].as_str(),
        Some(":26660"),
        "CometBFT's Prometheus must not default onto ballastd's metrics port"
    );

    // The keys, through tendermint-config.
    let pv = PrivValidatorKey::load_json_file(&config_dir.join("priv_validator_key.json"))
        .expect("tendermint-config parses priv_validator_key.json");
    assert_eq!(pv.pub_key, v.pub_key);
    assert_eq!(pv.priv_key.public_key(), v.pub_key);
    assert_eq!(pv.address, v.address);
    let node_key = NodeKey::load_json_file(&config_dir.join("node_key.json"))
        .expect("tendermint-config parses node_key.json");
    assert_eq!(
        printed["node_id"].as_str(),
        Some(node_key.node_id().to_string().as_str())
    );
    assert_eq!(
        node_key.node_id(),
        config
            .load_node_key(&home)
            .expect("node_key_file")
            .node_id()
    );
    let state = read_json(&home.join("data/priv_validator_state.json"));
    assert_eq!(
        state,
        serde_json::json!({"height": "0", "round": 0, "step": 0})
    );
    for secret in [
        config_dir.join("priv_validator_key.json"),
        config_dir.join("node_key.json"),
        home.join("data/priv_validator_state.json"),
    ] {
        assert_eq!(mode(&secret), 0o600, "{}", secret.display());
    }

    // ballast.toml: every section, and addresses that agree with config.toml.
    let node = read_toml(&config_dir.join("ballast.toml"));
    assert_eq!(node["chain_id"].as_str(), Some(CHAIN));
    assert_eq!(node["moniker"].as_str(), Some("node-a"));
    assert_eq!(
        node["abci"]["address"].as_str(),
        Some("tcp://127.0.0.1:26658")
    );
    assert_eq!(node["grpc"]["address"].as_str(), Some("127.0.0.1:9090"));
    assert_eq!(node["grpc"]["enable"].as_bool(), Some(true));
    assert_eq!(node["metrics"]["address"].as_str(), Some("127.0.0.1:26660"));
    assert_eq!(
        node["cometbft"]["rpc"].as_str(),
        Some("http://127.0.0.1:26657")
    );
    assert_eq!(node["storage"]["keep_recent"].as_integer(), Some(0));
    assert_eq!(node["storage"]["min_retain_blocks"].as_integer(), Some(0));
    assert_eq!(node["dev"]["block_interval_ms"].as_integer(), Some(1000));
    assert_eq!(node["dev"]["rpc_address"].as_str(), Some("127.0.0.1:26657"));

    // Refuses to overwrite, and leaves the home untouched.
    fails_with(
        ballastd(&home, &["init", "node-a", "--chain-id", CHAIN]),
        "--overwrite",
    );
    assert_eq!(
        std::fs::read_to_string(config_dir.join("genesis.json")).expect("still there"),
        genesis_text
    );
    // --overwrite rewrites the configuration and keeps the keys.
    ok(ballastd(
        &home,
        &["init", "node-b", "--chain-id", "other-2", "--overwrite"],
    ));
    let again: tendermint::Genesis<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(config_dir.join("genesis.json")).unwrap())
            .unwrap();
    assert_eq!(again.chain_id.as_str(), "other-2");
    assert_eq!(again.validators[0].pub_key, v.pub_key);
    assert_eq!(
        read_toml(&config_dir.join("ballast.toml"))["moniker"].as_str(),
        Some("node-b")
    );
}

#[test]
fn init_follows_port_flags_and_rejects_bad_ones() {
    let tmp = tempfile::tempdir().expect("temp dir");

    // A base port moves every listener.
    let home = tmp.path().join("base");
    ok(ballastd(&home, &["init", "n", "--base-port", "31000"]));
    let config = TendermintConfig::load_toml_file(&home.join("config/config.toml")).unwrap();
    assert_eq!(config.p2p.laddr, addr("tcp://0.0.0.0:31000"));
    assert_eq!(config.rpc.laddr, addr("tcp://127.0.0.1:31001"));
    assert_eq!(config.proxy_app, addr("tcp://127.0.0.1:31002"));
    assert_eq!(
        config.instrumentation.prometheus_listen_addr,
        "127.0.0.1:31005"
    );
    let node = read_toml(&home.join("config/ballast.toml"));
    assert_eq!(
        node["abci"]["address"].as_str(),
        Some("tcp://127.0.0.1:31002")
    );
    assert_eq!(node["metrics"]["address"].as_str(), Some("127.0.0.1:31004"));
    assert_eq!(node["grpc"]["address"].as_str(), Some("127.0.0.1:31006"));
    assert_eq!(
        node["cometbft"]["rpc"].as_str(),
        Some("http://127.0.0.1:31001")
    );

    // Explicit addresses beat the base port.
    let home = tmp.path().join("explicit");
    ok(ballastd(
        &home,
        &[
            "init",
            "n",
            "--base-port",
            "32000",
            "--abci-address",
            "unix:///tmp/ballast-itest.sock",
            "--grpc-address",
            "127.0.0.1:19090",
            "--metrics-address",
            "127.0.0.1:19091",
            "--rpc-laddr",
            "tcp://0.0.0.0:19092",
            "--p2p-laddr",
            "tcp://127.0.0.1:19093",
        ],
    ));
    let config = TendermintConfig::load_toml_file(&home.join("config/config.toml")).unwrap();
    assert_eq!(config.proxy_app, addr("unix:///tmp/ballast-itest.sock"));
    assert_eq!(config.rpc.laddr, addr("tcp://0.0.0.0:19092"));
    assert_eq!(config.p2p.laddr, addr("tcp://127.0.0.1:19093"));
    let node = read_toml(&home.join("config/ballast.toml"));
    assert_eq!(
        node["abci"]["address"].as_str(),
        Some("unix:///tmp/ballast-itest.sock")
    );
    assert_eq!(node["grpc"]["address"].as_str(), Some("127.0.0.1:19090"));
    assert_eq!(node["metrics"]["address"].as_str(), Some("127.0.0.1:19091"));
    // A wildcard RPC bind is dialled on loopback.
    assert_eq!(
        node["cometbft"]["rpc"].as_str(),
        Some("http://127.0.0.1:19092")
    );

    // Bad input: a clear error, and nothing written.
    for (flag, value, needle) in [
        ("--rpc-laddr", "127.0.0.1:1", "expected tcp://host:port"),
        ("--p2p-laddr", "tcp://127.0.0.1", "expected tcp://host:port"),
        ("--abci-address", "udp://127.0.0.1:1", "abci.address"),
        ("--grpc-address", "localhost", "grpc.address"),
        ("--base-port", "65533", "beyond 65535"),
        ("--chain-id", "has space", "without spaces"),
    ] {
        let home = tmp.path().join("bad");
        fails_with(ballastd(&home, &["init", "n", flag, value]), needle);
        assert!(
            !home.join("config/genesis.json").exists(),
            "{flag} {value} left a genesis behind"
        );
    }
}

#[test]
fn genesis_add_account_edits_genesis_and_the_app_applies_it() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let home = tmp.path().join("g");
    ok(ballastd(&home, &["init", "n", "--chain-id", CHAIN]));
    let gpath = home.join("config/genesis.json");

    let alice = Address([0xA1; 20]).to_string();
    ok(ballastd(
        &home,
        &["genesis", "add-account", &alice, "1000000ubal,5stake"],
    ));
    // Adding it again is refused; --append adds to its balances.
    fails_with(
        ballastd(&home, &["genesis", "add-account", &alice, "1ubal"]),
        "--append",
    );
    ok(ballastd(
        &home,
        &["genesis", "add-account", &alice, "500ubal", "--append"],
    ));

    // A key name goes through the keyring.
    let keyring =
        ballast_client::keyring::Keyring::open(&home, ballast_client::keyring::Backend::Test, None)
            .expect("keyring opens");
    let (bob, _mnemonic) = keyring.add("bob").expect("key added");
    ok(ballastd(
        &home,
        &[
            "genesis",
            "add-account",
            "bob",
            "42ubal",
            "--keyring-backend",
            "test",
        ],
    ));

    // Bad input changes nothing.
    let before = std::fs::read_to_string(&gpath).expect("genesis");
    for (who, coins, needle) in [
        (alice.as_str(), "0ubal", "zero amount"),
        (
            alice.as_str(),
            "10",
            "expected an amount followed by a denom",
        ),
        (alice.as_str(), "5ubal,5ubal", "duplicate denom"),
        (alice.as_str(), "5u", "invalid denom"),
        (
            alice.as_str(),
            "-5ubal",
            "expected an amount followed by a denom",
        ),
        ("carol", "5ubal", "neither an address"),
        (
            "cosmos1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnrql8a",
            "5ubal",
            "neither an address",
        ),
    ] {
        fails_with(
            ballastd(
                &home,
                &[
                    "genesis",
                    "add-account",
                    "--keyring-backend",
                    "test",
                    "--",
                    who,
                    coins,
                ],
            ),
            needle,
        );
    }
    assert_eq!(std::fs::read_to_string(&gpath).expect("genesis"), before);

    let genesis = read_json(&gpath);
    let owner = &genesis["app_state"]["restaking"]["operators"][0]["owner"];
    assert_eq!(
        genesis["app_state"]["accounts"]["accounts"],
        serde_json::json!([
            { "address": owner, "coins": [{ "denom": "ubal", "amount": "1000000000000" }] },
            { "address": alice, "coins": [
                { "denom": "stake", "amount": "5" },
                { "denom": "ubal", "amount": "1000500" }
            ]},
            { "address": bob.address, "coins": [{ "denom": "ubal", "amount": "42" }] }
        ])
    );
    // Still a genesis tendermint-rs reads.
    let _: tendermint::Genesis<serde_json::Value> =
        serde_json::from_str(&before).expect("tendermint-rs parses the edited genesis");

    // The app accepts the generated app_state at InitChain and applies it.
    let data = tempfile::tempdir().expect("temp dir");
    let mut node = InProcess(App::open(AppConfig::new(data.path())).expect("app opens"));
    let mut consensus = MockConsensus::new(CHAIN, 1, genesis["app_state"].clone());
    consensus
        .handshake(&mut node)
        .expect("InitChain accepts the app_state");
    consensus
        .produce_block(&mut [&mut node], Vec::new())
        .expect("first block");
    assert_eq!(balance(&mut node, &alice, "ubal"), 1_000_500);
    assert_eq!(balance(&mut node, &alice, "stake"), 5);
    assert_eq!(balance(&mut node, &bob.address, "ubal"), 42);
}
