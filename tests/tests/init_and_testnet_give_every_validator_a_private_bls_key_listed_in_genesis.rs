//! `ballastd init` and `ballastd testnet generate` give every validator a BLS key in
//! `config/bls_key.json` (mode 0600) and list it in genesis `app_state.checkpointing.bls_keys`
//! under the validator's consensus address, with a proof of possession that verifies. A re-init
//! keeps the key; an unsafe key file stops init before it writes anything; and the app accepts
//! the generated genesis at InitChain, but refuses it once a validator's entry is removed.

use ballast_app::{App, AppConfig};
use ballast_checkpointing::{BlsPublicKey, BlsSignature, ProvenBlsKey};
use ballast_tests::cli::run as ballastd;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tendermint_config::PrivValidatorKey;
use tendermint_proto::v0_38::abci as pb;

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "ballastd failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn key_path(home: &Path) -> PathBuf {
    home.join("config").join("bls_key.json")
}

/// The home's consensus address (lower-case hex) and ed25519 public key, from
/// priv_validator_key.json as tendermint-rs parses it.
fn consensus_key(home: &Path) -> (String, [u8; 32]) {
    let text = std::fs::read_to_string(home.join("config/priv_validator_key.json")).unwrap();
    let k = PrivValidatorKey::parse_json(text).unwrap();
    let pk: [u8; 32] = k.pub_key.to_bytes().try_into().unwrap();
    (hex::encode(k.address.as_bytes()), pk)
}

fn bls_entries(genesis: &serde_json::Value) -> Vec<serde_json::Value> {
    genesis["app_state"]["checkpointing"]["bls_keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no bls_keys array in {}", genesis["app_state"]))
        .clone()
}

/// Checks a genesis entry: its proof of possession verifies, and its public key is the one in
/// the home's key file (which is 0600 and whose secret derives the stored public key).
fn check_entry(entry: &serde_json::Value, home: &Path) {
    let pubkey = hex::decode(entry["bls_pubkey"].as_str().unwrap()).unwrap();
    let pop = hex::decode(entry["pop"].as_str().unwrap()).unwrap();
    let proven = ProvenBlsKey::new(&pubkey, &pop).expect("the proof of possession verifies");
    // The proof is over the right key, checked here independently of ProvenBlsKey.
    let pk = BlsPublicKey::from_bytes(&pubkey).unwrap();
    pk.verify_possession(&BlsSignature::from_bytes(&pop).unwrap())
        .unwrap();
    assert_eq!(*proven.pubkey(), pk);
    let path = key_path(home);
    assert_eq!(mode(&path), 0o600, "{}", path.display());
    let file = read_json(&path);
    assert_eq!(file["bls_pubkey"], entry["bls_pubkey"]);
    let loaded = ballast_app::bls_key::load_bls_key(home).unwrap().unwrap();
    assert_eq!(loaded.public_key().to_bytes().to_vec(), pubkey);
    assert_eq!(
        hex::encode(loaded.to_bytes()),
        file["secret_key"].as_str().unwrap()
    );
}

/// InitChain with `genesis.json`'s app_state and validators, on a fresh in-process app.
/// Runs InitChain with `genesis` and the validators CometBFT would pass: each key with the
/// power genesis.json gives it (the operator's self-bond power, which the app checks).
fn init_chain(genesis: &serde_json::Value, pubkeys: &[[u8; 32]]) -> Result<(), String> {
    use base64::Engine;
    use tendermint_proto::v0_38::crypto::{public_key::Sum, PublicKey};
    let power_of = |k: &[u8; 32]| -> i64 {
        let b64 = base64::engine::general_purpose::STANDARD.encode(k);
        let v = genesis["validators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["pub_key"]["value"] == b64.as_str())
            .expect("every key is a genesis validator");
        v["power"].as_str().unwrap().parse().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(AppConfig::new(dir.path())).unwrap();
    let req = pb::RequestInitChain {
        chain_id: genesis["chain_id"].as_str().unwrap().to_string(),
        initial_height: 1,
        app_state_bytes: serde_json::to_vec(&genesis["app_state"]).unwrap().into(),
        validators: pubkeys
            .iter()
            .map(|k| pb::ValidatorUpdate {
                pub_key: Some(PublicKey {
                    sum: Some(Sum::Ed25519(k.to_vec())),
                }),
                power: power_of(k),
            })
            .collect(),
        ..Default::default()
    };
    app.init_chain(req).map(|_| ()).map_err(|e| e.to_string())
}

#[test]
fn init_writes_a_private_bls_key_that_genesis_lists_for_the_validator() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("node");
    let printed: serde_json::Value =
        serde_json::from_str(&ok(ballastd(&home, &["init", "node-a"]))).unwrap();
    assert_eq!(mode(&home.join("config")), 0o700);
    let genesis = read_json(&home.join("config/genesis.json"));
    let entries = bls_entries(&genesis);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let (address, consensus_pk) = consensus_key(&home);
    assert_eq!(entries[0]["validator_address"], address.as_str());
    assert_eq!(
        genesis["validators"][0]["address"]
            .as_str()
            .unwrap()
            .to_lowercase(),
        address
    );
    check_entry(&entries[0], &home);
    assert_eq!(printed["bls_pubkey"], entries[0]["bls_pubkey"]);
    init_chain(&genesis, &[consensus_pk]).expect("the app accepts init's genesis");

    // Re-init with --overwrite: the same key file, the same single entry.
    let file_before = std::fs::read(key_path(&home)).unwrap();
    ok(ballastd(&home, &["init", "node-a", "--overwrite"]));
    assert_eq!(std::fs::read(key_path(&home)).unwrap(), file_before);
    assert_eq!(mode(&key_path(&home)), 0o600);
    let again = read_json(&home.join("config/genesis.json"));
    assert_eq!(bls_entries(&again), entries);

    // A genesis edited by hand to list a stale key for this validator gets the right one
    // back on re-init (replaced, not duplicated).
    let mut edited = again.clone();
    let other_dir = tempfile::tempdir().unwrap();
    let other = ballast_app::bls_key::generate_bls_key(other_dir.path()).unwrap();
    let stale = ballast_app::bls_key::genesis_bls_key(
        &other,
        hex::decode(&address).unwrap().try_into().unwrap(),
    );
    edited["app_state"]["checkpointing"]["bls_keys"] = serde_json::json!([stale]);
    std::fs::write(
        home.join("config/genesis.json"),
        serde_json::to_vec_pretty(&edited).unwrap(),
    )
    .unwrap();
    ok(ballastd(&home, &["init", "node-a", "--overwrite"]));
    assert_eq!(
        bls_entries(&read_json(&home.join("config/genesis.json"))),
        entries
    );
}

#[test]
fn init_refuses_an_unsafe_or_edited_bls_key_file_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("node");
    ok(ballastd(&home, &["init", "node-a"]));
    let path = key_path(&home);
    let genesis_before = std::fs::read(home.join("config/genesis.json")).unwrap();

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = ballastd(&home, &["init", "node-a", "--overwrite"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&path.display().to_string()) && err.contains("0644"),
        "{err}"
    );
    assert_eq!(mode(&path), 0o644, "init does not touch the key file");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut v = read_json(&path);
    let other_dir = tempfile::tempdir().unwrap();
    let other = ballast_app::bls_key::generate_bls_key(other_dir.path()).unwrap();
    v["secret_key"] = hex::encode(other.to_bytes()).into();
    std::fs::write(&path, v.to_string()).unwrap();
    let out = ballastd(&home, &["init", "node-a", "--overwrite"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not match the secret key"), "{err}");
    assert_eq!(
        std::fs::read(home.join("config/genesis.json")).unwrap(),
        genesis_before,
        "genesis is untouched"
    );
}

#[test]
fn testnet_generate_gives_four_nodes_distinct_keys_all_in_the_shared_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("net");
    let out = std::process::Command::new(ballast_tests::node::ballastd_bin())
        .args(["testnet", "generate", "--validators", "4", "--output-dir"])
        .arg(&out_dir)
        .args(["--base-port", "36000"])
        .output()
        .unwrap();
    ok(out);
    let homes: Vec<PathBuf> = (0..4).map(|i| out_dir.join(format!("node{i}"))).collect();
    let genesis = read_json(&homes[0].join("config/genesis.json"));
    for h in &homes[1..] {
        assert_eq!(
            read_json(&h.join("config/genesis.json")),
            genesis,
            "every home has the same genesis"
        );
    }
    let entries = bls_entries(&genesis);
    assert_eq!(entries.len(), 4, "{entries:?}");
    let mut pubkeys = Vec::new();
    let mut secrets = BTreeSet::new();
    let mut listed = BTreeSet::new();
    for h in &homes {
        let (address, pk) = consensus_key(h);
        pubkeys.push(pk);
        let entry = entries
            .iter()
            .find(|e| e["validator_address"] == address.as_str())
            .unwrap_or_else(|| panic!("no genesis entry for {address} of {}", h.display()));
        check_entry(entry, h);
        secrets.insert(read_json(&key_path(h))["secret_key"].clone().to_string());
        listed.insert(entry["bls_pubkey"].to_string());
    }
    assert_eq!(secrets.len(), 4, "four distinct secret keys");
    assert_eq!(listed.len(), 4, "four distinct public keys");
    let validators: BTreeSet<String> = genesis["validators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["address"].as_str().unwrap().to_lowercase())
        .collect();
    let with_keys: BTreeSet<String> = entries
        .iter()
        .map(|e| e["validator_address"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(validators, with_keys);

    // The app accepts the shared genesis with its four validators...
    init_chain(&genesis, &pubkeys).expect("the app accepts the testnet genesis");
    // ...and refuses it when one validator's key is missing, naming that validator.
    let mut missing = genesis.clone();
    let dropped = entries[2]["validator_address"]
        .as_str()
        .unwrap()
        .to_string();
    missing["app_state"]["checkpointing"]["bls_keys"]
        .as_array_mut()
        .unwrap()
        .remove(2);
    let e = init_chain(&missing, &pubkeys).expect_err("a validator without a key");
    assert!(e.contains(&dropped), "{e}");
}
