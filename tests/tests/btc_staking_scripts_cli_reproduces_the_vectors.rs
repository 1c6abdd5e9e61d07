//! `ballastd btc staking-scripts --input <vector>` prints, for every reference vector in
//! `shared/vectors/btc-staking/`, the same scripts, taproot outputs (script, address, output
//! key, merkle root, control blocks) and unsigned staking, unbonding and slashing txs as the
//! vector holds; bad input exits non-zero with a clear message.

use ballast_tests::node::ballastd_bin;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The fields the command prints, each compared whole with the vector's.
const FIELDS: [&str; 8] = [
    "scripts",
    "stakingOutput",
    "unbondingOutput",
    "slashingChangeOutput",
    "stakingTx",
    "unbondingTx",
    "slashStakingTxUnsigned",
    "slashUnbondingTxUnsigned",
];

fn vector_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors/btc-staking");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vectors in {}", dir.display());
    files
}

fn run(input: &Path) -> Output {
    Command::new(ballastd_bin())
        .args(["btc", "staking-scripts", "--input"])
        .arg(input)
        .output()
        .expect("ballastd runs")
}

fn ok_json(out: Output) -> Value {
    assert!(
        out.status.success(),
        "ballastd failed: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

fn fails(out: Output) -> String {
    assert!(
        !out.status.success(),
        "ballastd should have failed\nstdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).expect("stderr is UTF-8")
}

fn compare(name: &str, printed: &Value, vector: &Value) {
    for field in FIELDS {
        let expected = vector
            .get(field)
            .unwrap_or_else(|| panic!("{name}: the vector has {field}"));
        assert_eq!(
            printed.get(field),
            Some(expected),
            "{name}: {field} differs"
        );
    }
}

#[test]
fn the_cli_prints_every_vector_field() {
    let tmp = tempfile::tempdir().expect("temp dir");
    for path in vector_files() {
        let name = path
            .file_name()
            .expect("file")
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(&path).expect("read vector");
        let vector: Value = serde_json::from_str(&text).expect("vector is JSON");
        compare(&name, &ok_json(run(&path)), &vector);

        // Without the vector's stakingTx, the txs are built on the one built from the
        // funding UTXO, which is the same tx.
        let mut bare = vector.clone();
        bare.as_object_mut().expect("object").remove("stakingTx");
        let bare_path = tmp.path().join(format!("bare-{name}"));
        std::fs::write(&bare_path, serde_json::to_vec(&bare).expect("json")).expect("write");
        compare(&name, &ok_json(run(&bare_path)), &vector);
    }
}

#[test]
fn bad_input_exits_non_zero_with_a_clear_message() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let missing = tmp.path().join("missing.json");
    let err = fails(run(&missing));
    assert!(
        err.contains("reading") && err.contains("missing.json"),
        "{err}"
    );

    let malformed = tmp.path().join("malformed.json");
    std::fs::write(&malformed, "{\"network\": ").expect("write");
    let err = fails(run(&malformed));
    assert!(err.contains("not a valid staking description"), "{err}");

    let vector = vector_files().into_iter().next().expect("a vector");
    let original: Value =
        serde_json::from_str(&std::fs::read_to_string(vector).expect("read")).expect("json");

    let mut bad_key = original.clone();
    bad_key["keys"]["stakerPk"] = Value::from("zz");
    let path = tmp.path().join("bad-key.json");
    std::fs::write(&path, serde_json::to_vec(&bad_key).expect("json")).expect("write");
    let err = fails(run(&path));
    assert!(err.contains("invalid staker key"), "{err}");

    let mut bad_network = original.clone();
    bad_network["network"] = Value::from("moonnet");
    let path = tmp.path().join("bad-network.json");
    std::fs::write(&path, serde_json::to_vec(&bad_network).expect("json")).expect("write");
    let err = fails(run(&path));
    assert!(err.contains("unknown bitcoin network \"moonnet\""), "{err}");

    // The vector's staking tx does not pay the staking output that another quorum gives.
    let multi = vector_files()
        .into_iter()
        .map(|p| -> Value {
            serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json")
        })
        .find(|v| {
            v["keys"]["covenantPks"]
                .as_array()
                .is_some_and(|a| a.len() > 1)
        })
        .expect("a vector with several covenant keys");
    let mut other_quorum = multi;
    let q = other_quorum["params"]["covenantQuorum"]
        .as_u64()
        .expect("quorum");
    other_quorum["params"]["covenantQuorum"] = Value::from(if q > 1 { q - 1 } else { 2 });
    let path = tmp.path().join("other-quorum.json");
    std::fs::write(&path, serde_json::to_vec(&other_quorum).expect("json")).expect("write");
    let err = fails(run(&path));
    assert!(err.contains("no output paying the staking script"), "{err}");
}
