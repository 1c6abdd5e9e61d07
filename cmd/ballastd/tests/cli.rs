//! The ballastd command line rejects bad arguments with a clear message.

use std::process::Command;

fn ballastd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ballastd"))
}

#[test]
fn start_rejects_a_bad_abci_address_and_a_bad_fault_spec() {
    let home = std::env::temp_dir().join(format!("ballastd-cli-{}", std::process::id()));
    let out = ballastd()
        .args(["start", "--home"])
        .arg(&home)
        .args(["--abci", "nonsense"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no port"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = ballastd()
        .env("BALLAST_FAULT", "sometime")
        .args(["start", "--home"])
        .arg(&home)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected <point>:<height>"));
    let _ = std::fs::remove_dir_all(home);
}

#[test]
fn version_prints() {
    let out = ballastd().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ballastd "));
}
