//! `ballastd dev` started from scratch signs and seals the checkpoint of epoch 1 with the BLS
//! key `init` wrote into its home: over CometBFT's RPC (`abci_query` on
//! `/ballast.checkpointing.v1.Query/Checkpoint`) the checkpoint is SEALED, names the hash of
//! block 10 (epoch_length 10), has the validator's bit set, and its aggregate signature verifies
//! under the key in `config/bls_key.json`.
//!
//! `ballastd tx checkpointing register-bls-key` is refused with code 8 for the dev validator,
//! whose key genesis registered; it is accepted for another consensus key's holder (any holder
//! may register, register.rs checks only the consensus signature), whose key is then served by
//! the BlsKey query; a second registration for that one is refused, and another consensus key
//! presenting the same BLS key is refused with code 9.

use ballast_checkpointing::{BlsPublicKey, BlsSignature};
use ballast_proto::ballast::checkpointing::v1::CheckpointStatus;
use ballast_tests::checkpoint_rpc;
use ballast_tests::cli::run as cli;
use ballast_tests::node::{ballastd_bin, free_port, Ballastd};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

fn start_dev(home: &Path, rpc: &str) -> Ballastd {
    let args: Vec<String> = [
        "dev",
        "--home",
        home.to_str().unwrap(),
        "--rpc-address",
        rpc,
        "--grpc-address",
        &format!("127.0.0.1:{}", free_port()),
        "--metrics-address",
        &format!("127.0.0.1:{}", free_port()),
        "--block-interval-ms",
        "100",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut node = Ballastd::spawn(home, &args, &[]).unwrap();
    node.wait_line("RPC listening on ", Duration::from_secs(60))
        .unwrap();
    node
}

/// The validator address (lower-case hex) of a home's priv_validator_key.json.
fn validator_address(home: &Path) -> String {
    let text = std::fs::read_to_string(home.join("config/priv_validator_key.json")).unwrap();
    let k = tendermint_config::PrivValidatorKey::parse_json(text).unwrap();
    hex::encode(k.address.as_bytes())
}

fn bls_pubkey(home: &Path) -> [u8; 96] {
    ballast_app::bls_key::load_bls_key(home)
        .unwrap()
        .unwrap()
        .public_key()
        .to_bytes()
}

/// `ballastd tx checkpointing register-bls-key --from <from>` against `node`: exit success and
/// the printed JSON result (code, codespace, raw_log, height).
fn register(home: &Path, from: &str, node: &str) -> (bool, serde_json::Value, String) {
    let out = cli(
        home,
        &[
            "tx",
            "checkpointing",
            "register-bls-key",
            "--from",
            from,
            "--keyring-backend",
            "test",
            "--yes",
            "--node",
            node,
            "-o",
            "json",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("register printed no JSON ({e}):\n{stdout}\n{stderr}"));
    (out.status.success(), v, stderr)
}

/// Adds the dev account's key (from its mnemonic) to `home`'s test keyring as `payer`.
fn recover_payer(home: &Path, mnemonic: &str) {
    let mut child = std::process::Command::new(ballastd_bin())
        .args([
            "keys",
            "add",
            "payer",
            "--recover",
            "--keyring-backend",
            "test",
        ])
        .arg("--home")
        .arg(home)
        .env_remove("BALLAST_KEYRING_BACKEND")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{mnemonic}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "keys add --recover: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn init(home: &Path, moniker: &str) {
    let out = cli(home, &["init", moniker]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_fresh_dev_chain_seals_epoch_one_and_bls_keys_register_once() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("dev");
    let rpc = format!("127.0.0.1:{}", free_port());
    let node = format!("tcp://{rpc}");
    let mut dev = start_dev(&home, &rpc);

    // The home dev initialised: genesis epoch length 10 and this validator's key listed.
    let genesis: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("config/genesis.json")).unwrap())
            .unwrap();
    assert_eq!(genesis["app_state"]["app"]["epoch_length"], 10);
    let dev_validator = validator_address(&home);
    let dev_pubkey = bls_pubkey(&home);
    assert_eq!(
        genesis["app_state"]["checkpointing"]["bls_keys"][0]["bls_pubkey"],
        hex::encode(dev_pubkey)
    );

    // Epoch 1 is heights 1..=10; its checkpoint is injected into block 11.
    checkpoint_rpc::wait_for_height(&node, 12, Duration::from_secs(60));
    let cp = checkpoint_rpc::checkpoint(&node, 1)
        .unwrap_or_else(|e| panic!("no checkpoint for epoch 1: {e:?}"));
    assert_eq!(
        cp.status,
        CheckpointStatus::Sealed as i32,
        "epoch 1 is not sealed: {cp:?}"
    );
    assert_eq!(cp.epoch, 1);
    let hash10 = checkpoint_rpc::block_hash(&node, 10);
    assert_eq!(
        cp.block_hash,
        hash10.to_vec(),
        "the checkpoint names block 10"
    );
    assert_eq!(cp.signed_power, cp.total_power);
    assert!(cp.total_power > 0);
    let raw = cp
        .raw
        .clone()
        .expect("a sealed checkpoint has its raw part");
    assert_eq!(raw.epoch, 1);
    assert_eq!(raw.block_hash, hash10.to_vec());
    assert_eq!(raw.bitmap.len(), 13);
    assert_eq!(raw.bitmap[0] & 1, 1, "the only validator signed");
    assert!(raw.bitmap[1..].iter().all(|b| *b == 0) && raw.bitmap[0] == 1);
    // With one signer the aggregate is that validator's signature over be_u64(1) || hash.
    let mut msg = 1u64.to_be_bytes().to_vec();
    msg.extend_from_slice(&hash10);
    let sig = BlsSignature::from_bytes(&raw.bls_aggregate_sig).unwrap();
    BlsPublicKey::from_bytes(&dev_pubkey)
        .unwrap()
        .verify(&msg, &sig)
        .expect("the aggregate verifies under the key in bls_key.json");
    let sealed_at = cp
        .lifecycle
        .iter()
        .find(|e| e.status == CheckpointStatus::Sealed as i32)
        .expect("the lifecycle records the sealing");
    assert_eq!(sealed_at.hub_height, 11);

    // The dev validator's key is registered by genesis: a second registration is refused.
    let (ok, v, stderr) = register(&home, "dev", &node);
    assert!(!ok, "a second key for the dev validator was accepted: {v}");
    assert_eq!(v["code"], 8, "{v}");
    assert_eq!(v["codespace"], "checkpointing", "{v}");
    assert!(
        stderr.contains("already has bls key") && stderr.contains(&dev_validator),
        "{stderr}"
    );

    // Another consensus key's holder (a home from `ballastd init`) registers its key, paid by
    // the dev account.
    let seed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("key_seed.json")).unwrap())
            .unwrap();
    let mnemonic = seed["secret"].as_str().unwrap();
    let other = dir.path().join("other");
    init(&other, "other");
    recover_payer(&other, mnemonic);
    let other_validator = validator_address(&other);
    assert!(checkpoint_rpc::bls_key(&node, &other_validator).is_err());
    let (ok, v, stderr) = register(&other, "payer", &node);
    assert!(ok, "registration failed: {v}\n{stderr}");
    assert_eq!(v["code"], 0, "{v}");
    let height: u64 = v["height"].as_str().unwrap().parse().unwrap();
    assert!(height > 0, "{v}");
    let record = checkpoint_rpc::bls_key(&node, &other_validator)
        .unwrap_or_else(|e| panic!("the registered key is not served: {e:?}"));
    assert_eq!(record.bls_pubkey, bls_pubkey(&other).to_vec());
    assert_eq!(hex::encode(&record.validator_address), other_validator);
    assert_eq!(record.registered_at_height, height);

    // Once is all: the same registration again is refused.
    let (ok, v, _) = register(&other, "payer", &node);
    assert!(!ok);
    assert_eq!(v["code"], 8, "{v}");

    // A third consensus key presenting the second home's BLS key: refused, the key is in use.
    let third = dir.path().join("third");
    init(&third, "third");
    recover_payer(&third, mnemonic);
    std::fs::copy(
        other.join("config/bls_key.json"),
        third.join("config/bls_key.json"),
    )
    .unwrap();
    let (ok, v, stderr) = register(&third, "payer", &node);
    assert!(!ok);
    assert_eq!(v["code"], 9, "{v}");
    assert!(stderr.contains(&other_validator), "{stderr}");
    let third_validator = validator_address(&third);
    assert!(checkpoint_rpc::bls_key(&node, &third_validator).is_err());

    // Later epochs keep being sealed by the dev validator alone.
    checkpoint_rpc::wait_for_height(&node, 22, Duration::from_secs(60));
    let cp2 = checkpoint_rpc::checkpoint(&node, 2).unwrap();
    assert_eq!(cp2.status, CheckpointStatus::Sealed as i32, "{cp2:?}");
    assert_eq!(
        cp2.block_hash,
        checkpoint_rpc::block_hash(&node, 20).to_vec()
    );

    let status = dev.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn dev_refuses_to_run_with_an_unsafe_bls_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("dev");
    init(&home, "dev");
    let path = home.join("config/bls_key.json");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = cli(
        &home,
        &[
            "dev",
            "--rpc-address",
            &format!("127.0.0.1:{}", free_port()),
            "--grpc-address",
            &format!("127.0.0.1:{}", free_port()),
            "--metrics-address",
            &format!("127.0.0.1:{}", free_port()),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to start") && err.contains(&path.display().to_string()),
        "{err}"
    );
    assert!(!home.join("data/dev").exists(), "no chain was started");

    // Without the file the dev validator cannot sign: dev says so instead of halting later.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let saved = std::fs::read(&path).unwrap();
    let started = {
        let rpc = format!("127.0.0.1:{}", free_port());
        let mut dev = start_dev(&home, &rpc);
        checkpoint_rpc::wait_for_height(&format!("tcp://{rpc}"), 1, Duration::from_secs(30));
        dev.terminate(Duration::from_secs(30)).unwrap()
    };
    assert!(started.success());
    std::fs::remove_file(&path).unwrap();
    let out = cli(
        &home,
        &[
            "dev",
            "--rpc-address",
            &format!("127.0.0.1:{}", free_port()),
            "--grpc-address",
            &format!("127.0.0.1:{}", free_port()),
            "--metrics-address",
            &format!("127.0.0.1:{}", free_port()),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not exist") && err.contains("BLS key"),
        "{err}"
    );
    std::fs::write(&path, saved).unwrap();
}
