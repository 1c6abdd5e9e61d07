//! `testnet/install-bitcoind.sh`: a second run over a complete install does no work and prints
//! the same prefix; the wrappers run; an install left incomplete (marker gone, a killed run's
//! staging folder beside it) is detected and redone, by exactly one of several concurrent runs.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use ballast_tests::bitcoind::{install, run_install_script};

const MARKER: &str = ".ballast-install-complete";

fn version_of(bin: &Path) -> String {
    let out = Command::new(bin).arg("-version").output().unwrap();
    assert!(
        out.status.success(),
        "{} -version failed: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (inode of the prefix, inode of the marker): a reinstall renames a new directory into place.
fn identity(prefix: &Path) -> (u64, u64) {
    (
        std::fs::metadata(prefix).unwrap().ino(),
        std::fs::metadata(prefix.join(MARKER)).unwrap().ino(),
    )
}

#[test]
fn second_run_does_no_work_and_prints_the_same_prefix() {
    // The default prefix, shared with every other bitcoind test (installed now if needed).
    let prefix = install().unwrap();
    let before = identity(&prefix);

    let (again, stderr) = run_install_script(&[]).unwrap();
    assert_eq!(again, prefix);
    assert!(
        stderr.is_empty(),
        "a complete install needs no work, found stderr {stderr:?}"
    );
    assert_eq!(identity(&prefix), before, "the install was not redone");

    let bitcoind = version_of(&prefix.join("bin").join("bitcoind"));
    assert!(
        bitcoind.contains("Bitcoin Knots daemon"),
        "found {bitcoind:?}"
    );
    let cli = version_of(&prefix.join("bin").join("bitcoin-cli"));
    assert!(cli.contains("Bitcoin Knots RPC client"), "found {cli:?}");
    let recorded = std::fs::read_to_string(prefix.join(MARKER)).unwrap();
    assert_eq!(recorded.trim(), bitcoind.lines().next().unwrap().trim());
}

#[test]
fn an_incomplete_install_is_redone_once_by_concurrent_runs() {
    let installed = install().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("bitcoin-knots");

    // A copy of a complete install without its marker, as a run killed before the end would
    // leave a directory (the script never does that itself), plus a killed run's staging dir.
    let status = Command::new("cp")
        .arg("-a")
        .arg(&installed)
        .arg(&prefix)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(prefix.join(MARKER)).unwrap();
    let stale = dir.path().join("bitcoin-knots.staging.killed");
    std::fs::create_dir_all(stale.join("debs")).unwrap();
    let old_inode = std::fs::metadata(&prefix).unwrap().ino();

    let arg = prefix.to_str().unwrap().to_string();
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let arg = arg.clone();
            std::thread::spawn(move || run_install_script(&["--prefix", &arg]).unwrap())
        })
        .collect();
    let results: Vec<_> = runs.into_iter().map(|h| h.join().unwrap()).collect();
    for (p, _) in &results {
        assert_eq!(p, &prefix);
    }
    let installs = results
        .iter()
        .filter(|(_, stderr)| stderr.contains("installed Bitcoin Knots"))
        .count();
    assert_eq!(installs, 1, "exactly one run reinstalls: {results:?}");
    let redo = results
        .iter()
        .find(|(_, stderr)| stderr.contains("installed Bitcoin Knots"))
        .unwrap();
    assert!(
        redo.1.contains("removing the incomplete install"),
        "found {:?}",
        redo.1
    );

    assert!(prefix.join(MARKER).exists());
    assert_ne!(std::fs::metadata(&prefix).unwrap().ino(), old_inode);
    assert!(!stale.exists(), "the killed run's staging dir is gone");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("staging"))
        .collect();
    assert!(leftovers.is_empty(), "found {leftovers:?}");
    let v = version_of(&prefix.join("bin").join("bitcoind"));
    assert!(v.contains("Bitcoin Knots daemon"), "found {v:?}");
}
