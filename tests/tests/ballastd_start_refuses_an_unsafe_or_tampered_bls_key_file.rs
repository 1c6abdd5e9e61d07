//! `ballastd start` loads the validator's BLS key from `config/bls_key.json`. It refuses to
//! start when the file is readable or writable by the group or others, malformed, or edited
//! (its public key or proof is not the secret's), with a message naming the file; without a
//! file it starts and warns that the node cannot sign checkpoints.

use ballast_tests::cli::run as ballastd;
use ballast_tests::node::{free_port, Ballastd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

/// An initialised home whose every listener is on a free loopback port.
fn home(dir: &Path) -> std::path::PathBuf {
    let home = dir.join("node");
    let abci = format!("tcp://127.0.0.1:{}", free_port());
    let grpc = format!("127.0.0.1:{}", free_port());
    let metrics = format!("127.0.0.1:{}", free_port());
    let out = ballastd(
        &home,
        &[
            "init",
            "node-a",
            "--abci-address",
            &abci,
            "--grpc-address",
            &grpc,
            "--metrics-address",
            &metrics,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    home
}

fn key_path(home: &Path) -> std::path::PathBuf {
    home.join("config").join("bls_key.json")
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs `ballastd start`, which must exit with an error before serving; returns its stderr.
fn start_fails(home: &Path) -> String {
    let out = ballastd(home, &["start"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "start succeeded:\n{stdout}\n{stderr}"
    );
    assert!(
        !stdout.contains("ABCI listening"),
        "it served before refusing: {stdout}"
    );
    assert!(stderr.contains("refusing to start"), "{stderr}");
    assert!(
        stderr.contains(&key_path(home).display().to_string()),
        "the message names the file: {stderr}"
    );
    stderr
}

/// Starts `ballastd start`, which must serve; stops it and returns its log.
fn start_serves(home: &Path) -> String {
    let mut node = Ballastd::start_with(home, &[], &[]).unwrap_or_else(|e| panic!("{e}"));
    node.terminate(Duration::from_secs(30)).unwrap();
    std::fs::read_to_string(&node.log_path).unwrap()
}

#[test]
fn start_refuses_a_key_file_others_can_read_or_write() {
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    let path = key_path(&home);
    for mode in [0o644, 0o640, 0o604, 0o660, 0o606] {
        chmod(&path, mode);
        let err = start_fails(&home);
        assert!(err.contains(&format!("{mode:04o}")), "{err}");
        assert!(err.contains("chmod 600"), "{err}");
    }
    // Back to 0600, the same home starts and signs with its key.
    chmod(&path, 0o600);
    let log = start_serves(&home);
    let pubkey = ballast_app::bls_key::load_bls_key(&home)
        .unwrap()
        .unwrap()
        .public_key()
        .to_bytes();
    assert!(
        log.contains("loaded the BLS key that signs checkpoints")
            && log.contains(&hex::encode(pubkey)),
        "{log}"
    );
}

#[test]
fn start_refuses_a_tampered_or_malformed_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    let path = key_path(&home);
    let original = std::fs::read_to_string(&path).unwrap();
    let good: serde_json::Value = serde_json::from_str(&original).unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let other = ballast_app::bls_key::generate_bls_key(other_dir.path()).unwrap();

    // Another key's public key next to this secret.
    let mut v = good.clone();
    v["bls_pubkey"] = hex::encode(other.public_key().to_bytes()).into();
    std::fs::write(&path, v.to_string()).unwrap();
    let err = start_fails(&home);
    assert!(
        err.contains("bls_pubkey does not match the secret key"),
        "{err}"
    );

    // Another key's proof of possession.
    let mut v = good.clone();
    v["pop"] = hex::encode(other.proof_of_possession().to_bytes()).into();
    std::fs::write(&path, v.to_string()).unwrap();
    let err = start_fails(&home);
    assert!(err.contains("pop does not match the secret key"), "{err}");

    // A secret key cut short, and a file that is not JSON.
    let mut v = good.clone();
    v["secret_key"] = "00ff".into();
    std::fs::write(&path, v.to_string()).unwrap();
    let err = start_fails(&home);
    assert!(err.contains("malformed"), "{err}");
    std::fs::write(&path, "{\"secret_key\": ").unwrap();
    let err = start_fails(&home);
    assert!(err.contains("malformed"), "{err}");

    // The original file starts again.
    std::fs::write(&path, &original).unwrap();
    chmod(&path, 0o600);
    start_serves(&home);
}

#[test]
fn start_without_a_key_file_serves_and_warns_that_it_cannot_sign() {
    let dir = tempfile::tempdir().unwrap();
    let home = home(dir.path());
    std::fs::remove_file(key_path(&home)).unwrap();
    let log = start_serves(&home);
    assert!(
        log.contains("no BLS key file") && log.contains("cannot sign checkpoints"),
        "{log}"
    );
}
