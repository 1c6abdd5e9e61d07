//! `ballastd keys` driven as a user would: the real binary, a temporary `--home`, secrets on
//! stdin or in the environment. Also checks the keyring's derivation against a second,
//! independent implementation (rust-bitcoin's BIP-32 and hashes, with PBKDF2 written here).

use ballast_framework::Address;
use ballast_tests::node::ballastd_bin;
use bitcoin::hashes::hmac::{Hmac, HmacEngine};
use bitcoin::hashes::{ripemd160, sha256, sha512, Hash, HashEngine};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                       abandon abandon about";
/// What Cosmos wallets show for ABANDON at m/44'/118'/0'/0/0.
const ABANDON_COSMOS: &str = "cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4";
const PASS: &str = "keyring passphrase";

/// Runs `ballastd --home <home> keys <args>` with `stdin` and extra environment. Any
/// `BALLAST_KEYRING_*` of the caller's environment is removed first.
fn keys(home: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(ballastd_bin());
    cmd.arg("--home")
        .arg(home)
        .arg("keys")
        .args(args)
        .env_remove("BALLAST_KEYRING_BACKEND")
        .env_remove("BALLAST_KEYRING_PASSPHRASE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("ballastd starts");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    // The command may exit before reading everything; a broken pipe is then fine.
    let _ = pipe.write_all(stdin.as_bytes());
    drop(pipe);
    child.wait_with_output().expect("ballastd runs to the end")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "ballastd failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

fn fails(out: Output) -> String {
    assert!(
        !out.status.success(),
        "ballastd should have failed\nstdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// BIP-39 seed: PBKDF2-HMAC-SHA512(mnemonic, "mnemonic", 2048), one 64-byte block.
fn bip39_seed(mnemonic: &str) -> [u8; 64] {
    let hmac = |data: &[u8]| {
        let mut e = HmacEngine::<sha512::Hash>::new(mnemonic.as_bytes());
        e.input(data);
        Hmac::<sha512::Hash>::from_engine(e).to_byte_array()
    };
    let mut u = hmac(b"mnemonic\x00\x00\x00\x01");
    let mut out = u;
    for _ in 1..2048 {
        u = hmac(&u);
        for (o, b) in out.iter_mut().zip(u) {
            *o ^= b;
        }
    }
    out
}

/// The 20-byte account of a mnemonic at m/44'/118'/0'/0/0, computed with rust-bitcoin.
fn reference_account(mnemonic: &str) -> (Vec<u8>, [u8; 20]) {
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let master =
        bitcoin::bip32::Xpriv::new_master(bitcoin::Network::Bitcoin, &bip39_seed(mnemonic))
            .unwrap();
    let path: bitcoin::bip32::DerivationPath = "m/44'/118'/0'/0/0".parse().unwrap();
    let child = master.derive_priv(&secp, &path).unwrap();
    let pk = bitcoin::bip32::Xpub::from_priv(&secp, &child)
        .public_key
        .serialize();
    let sha = sha256::Hash::hash(&pk);
    let rip = ripemd160::Hash::hash(sha.as_byte_array());
    (pk.to_vec(), rip.to_byte_array())
}

#[test]
fn the_pbkdf2_here_matches_the_bip39_reference_seed() {
    // The published BIP-39 vector for this mnemonic with an empty passphrase.
    assert_eq!(
        hex::encode(bip39_seed(ABANDON)),
        "5eb00bbddcf069084889a8ab9155568165f5c453ccb85e70811aaed6f6da5fc1\
         9a5ac40b389cd370d086206dec8aa6c43daea6690f20ad3d8d48b2d2ce9e38e4"
    );
}

#[test]
fn recover_from_stdin_gives_the_cosmos_account_of_the_mnemonic() {
    let home = tempfile::tempdir().unwrap();
    let out = ok(keys(
        home.path(),
        &[
            "add",
            "abandon",
            "--recover",
            "--keyring-backend",
            "test",
            "--output",
            "json",
        ],
        &format!("{ABANDON}\n"),
        &[],
    ));
    let v = json(&out);
    assert!(
        v.get("mnemonic").is_none(),
        "a recovered key prints no mnemonic"
    );
    let ours = Address::from_bech32(v["address"].as_str().unwrap(), "ballast").unwrap();
    let (ref_pk, ref_account) = reference_account(ABANDON);
    assert_eq!(ours.0, ref_account, "rust-bitcoin derives the same account");
    let cosmos = Address::from_bech32(ABANDON_COSMOS, "cosmos").unwrap();
    assert_eq!(ours, cosmos, "the same 20 bytes as the Cosmos address");
    let pk: serde_json::Value = serde_json::from_str(v["pubkey"].as_str().unwrap()).unwrap();
    assert_eq!(pk["@type"], "/cosmos.crypto.secp256k1.PubKey");
    use base64::Engine;
    let pk_bytes = base64::engine::general_purpose::STANDARD
        .decode(pk["key"].as_str().unwrap())
        .unwrap();
    assert_eq!(pk_bytes, ref_pk);

    // A new key's printed mnemonic recovers the same account elsewhere, and rust-bitcoin agrees.
    let v = json(&ok(keys(
        home.path(),
        &["add", "fresh", "--keyring-backend", "test", "-o", "json"],
        "",
        &[],
    )));
    let words = v["mnemonic"].as_str().unwrap();
    assert_eq!(words.split(' ').count(), 24);
    let (_, account) = reference_account(words);
    let addr = Address::from_bech32(v["address"].as_str().unwrap(), "ballast").unwrap();
    assert_eq!(addr.0, account);
    let other = tempfile::tempdir().unwrap();
    let again = json(&ok(keys(
        other.path(),
        &[
            "add",
            "again",
            "--recover",
            "--keyring-backend",
            "test",
            "-o",
            "json",
        ],
        &format!("{words}\n"),
        &[],
    )));
    assert_eq!(again["address"], v["address"]);

    // Bad mnemonics are refused with the reason, and nothing is stored.
    let bad_checksum = ABANDON.replace("about", "abandon");
    let err = fails(keys(
        home.path(),
        &["add", "bad", "--recover", "--keyring-backend", "test"],
        &format!("{bad_checksum}\n"),
        &[],
    ));
    assert!(err.contains("checksum"), "{err}");
    let err = fails(keys(
        home.path(),
        &["add", "bad", "--recover", "--keyring-backend", "test"],
        "",
        &[],
    ));
    assert!(err.contains("end of input"), "{err}");
    let err = fails(keys(
        home.path(),
        &["show", "bad", "--keyring-backend", "test"],
        "",
        &[],
    ));
    assert!(err.contains("no key named"), "{err}");
}

#[test]
fn test_backend_adds_lists_shows_and_deletes() {
    let home = tempfile::tempdir().unwrap();
    let tb = ["--keyring-backend", "test"];
    let add = |name: &str, extra: &[&str]| {
        let mut args = vec!["add", name];
        args.extend_from_slice(&tb);
        args.extend_from_slice(extra);
        keys(home.path(), &args, "", &[])
    };
    let bob = json(&ok(add("bob", &["--output", "json"])));
    assert_eq!(bob["name"], "bob");
    assert_eq!(bob["type"], "local");
    assert!(bob["address"].as_str().unwrap().starts_with("ballast1"));
    let text = ok(add("alice", &[]));
    assert!(text.contains("**Important**"), "{text}");
    assert!(text.contains("name: alice"), "{text}");
    let words = text.lines().last().unwrap();
    assert_eq!(words.split(' ').count(), 24, "{text}");

    let err = fails(add("bob", &[]));
    assert!(err.contains("already exists"), "{err}");
    let err = fails(add("no/slash", &[]));
    assert!(err.contains("invalid key name"), "{err}");

    // list: sorted, Cosmos JSON shape.
    let list = json(&ok(keys(
        home.path(),
        &["list", "-o", "json"],
        "",
        &[("BALLAST_KEYRING_BACKEND", "test")],
    )));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["name"], "alice");
    let mut bob_entry = bob.clone();
    bob_entry.as_object_mut().unwrap().remove("mnemonic");
    assert_eq!(
        list[1], bob_entry,
        "list shows what add printed, minus the mnemonic"
    );
    for k in list {
        let mut fields: Vec<_> = k.as_object().unwrap().keys().cloned().collect();
        fields.sort();
        assert_eq!(fields, ["address", "name", "pubkey", "type"]);
    }
    let alice_addr = list[0]["address"].as_str().unwrap().to_string();
    let text = ok(keys(
        home.path(),
        &["list", "--keyring-backend", "test"],
        "",
        &[],
    ));
    assert!(
        text.contains("- address: ") && text.contains("  name: bob"),
        "{text}"
    );

    // show: by name or address, whole or one field.
    let show = |args: &[&str]| {
        let mut a = vec!["show"];
        a.extend_from_slice(args);
        a.extend_from_slice(&tb);
        ok(keys(home.path(), &a, "", &[]))
    };
    assert_eq!(show(&["alice", "-a"]).trim(), alice_addr);
    assert_eq!(json(&show(&[&alice_addr, "-o", "json"])), list[0]);
    assert_eq!(
        show(&["bob", "--pubkey"]).trim(),
        bob["pubkey"].as_str().unwrap()
    );
    assert!(show(&["alice"]).contains(&format!("address: {alice_addr}")));
    let err = fails(keys(home.path(), &["show", "alice", "-a", "-p"], "", &[]));
    assert!(err.contains("cannot be used with"), "{err}");

    // delete: asks; only "y" deletes; --yes does not ask.
    let del = |args: &[&str], stdin: &str| {
        let mut a = vec!["delete"];
        a.extend_from_slice(args);
        a.extend_from_slice(&tb);
        keys(home.path(), &a, stdin, &[])
    };
    ok(del(&["alice"], "n\n"));
    assert_eq!(show(&["alice", "-a"]).trim(), alice_addr, "still there");
    let err = fails(del(&["alice"], ""));
    assert!(err.contains("--yes"), "{err}");
    ok(del(&["alice"], "y\n"));
    let err = fails(keys(
        home.path(),
        &["show", "alice", "--keyring-backend", "test"],
        "",
        &[],
    ));
    assert!(err.contains("no key named"), "{err}");
    ok(del(&["bob", "-y"], ""));
    let empty = json(&ok(keys(
        home.path(),
        &["list", "-o", "json", "--keyring-backend", "test"],
        "",
        &[],
    )));
    assert_eq!(empty, serde_json::json!([]));
    let err = fails(del(&["bob", "--yes"], ""));
    assert!(err.contains("no key named"), "{err}");

    // Files are private.
    let dir = home.path().join("keyring-test");
    assert_eq!(mode(&dir), 0o700);
    ok(add("carol", &[]));
    assert_eq!(mode(&dir.join("carol.json")), 0o600);
}

#[test]
fn file_backend_is_the_default_and_needs_the_passphrase() {
    let home = tempfile::tempdir().unwrap();
    // The first add sets the keyring passphrase (from stdin; nothing else is read).
    let v = json(&ok(keys(
        home.path(),
        &["add", "alice", "-o", "json"],
        &format!("{PASS}\n"),
        &[],
    )));
    let words = v["mnemonic"].as_str().unwrap().to_string();
    let dir = home.path().join("keyring-file");
    let file = std::fs::read_to_string(dir.join("alice.json")).unwrap();
    assert!(file.contains("encrypted_private_key"), "{file}");
    assert!(!file.contains("\"private_key\""), "{file}");
    assert_eq!(mode(&dir), 0o700);
    for e in std::fs::read_dir(&dir).unwrap() {
        assert_eq!(mode(&e.unwrap().path()), 0o600);
    }
    assert!(!home.path().join("keyring-test").exists());

    // Recover: the passphrase line first, then the mnemonic line.
    let rec = json(&ok(keys(
        home.path(),
        &["add", "abandon", "--recover", "-o", "json"],
        &format!("{PASS}\n{ABANDON}\n"),
        &[],
    )));
    let (_, account) = reference_account(ABANDON);
    assert_eq!(
        Address::from_bech32(rec["address"].as_str().unwrap(), "ballast")
            .unwrap()
            .0,
        account
    );

    // Reads need no passphrase: stdin is empty and nothing is asked.
    let list = json(&ok(keys(home.path(), &["list", "-o", "json"], "", &[])));
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["abandon", "alice"]);
    assert_eq!(
        ok(keys(
            home.path(),
            &["show", "alice", "-a", "--keyring-backend", "file"],
            "",
            &[]
        ))
        .trim(),
        v["address"].as_str().unwrap()
    );

    // A wrong passphrase is refused, from the environment or from stdin.
    let err = fails(keys(
        home.path(),
        &["add", "bob"],
        "",
        &[("BALLAST_KEYRING_PASSPHRASE", "wrong passphrase")],
    ));
    assert!(err.contains("wrong keyring passphrase"), "{err}");
    let err = fails(keys(
        home.path(),
        &["add", "bob"],
        "wrong passphrase\n",
        &[],
    ));
    assert!(err.contains("wrong keyring passphrase"), "{err}");
    let err = fails(keys(home.path(), &["add", "bob"], "", &[]));
    assert!(err.contains("keyring passphrase on stdin"), "{err}");
    assert_eq!(
        json(&ok(keys(home.path(), &["list", "-o", "json"], "", &[])))
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The right one, from the environment.
    ok(keys(
        home.path(),
        &["add", "bob"],
        "",
        &[("BALLAST_KEYRING_PASSPHRASE", PASS)],
    ));

    // The environment picks the backend; the flag beats the environment.
    let test_list = ok(keys(
        home.path(),
        &["list", "-o", "json"],
        "",
        &[("BALLAST_KEYRING_BACKEND", "test")],
    ));
    assert_eq!(json(&test_list), serde_json::json!([]));
    let file_list = ok(keys(
        home.path(),
        &["list", "-o", "json", "--keyring-backend", "file"],
        "",
        &[("BALLAST_KEYRING_BACKEND", "test")],
    ));
    assert_eq!(json(&file_list).as_array().unwrap().len(), 3);
    let err = fails(keys(
        home.path(),
        &["list"],
        "",
        &[("BALLAST_KEYRING_BACKEND", "os")],
    ));
    assert!(err.contains("unknown keyring backend"), "{err}");

    // The mnemonic printed by add recovers alice's account in a test keyring.
    let other = tempfile::tempdir().unwrap();
    let again = json(&ok(keys(
        other.path(),
        &[
            "add",
            "a",
            "--recover",
            "--keyring-backend",
            "test",
            "-o",
            "json",
        ],
        &format!("{words}\n"),
        &[],
    )));
    assert_eq!(again["address"], v["address"]);
}

#[test]
fn export_then_import_moves_a_key_between_homes() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let alice = json(&ok(keys(
        src.path(),
        &["add", "alice", "-o", "json"],
        &format!("{PASS}\n"),
        &[],
    )));

    // Export from the file backend: keyring passphrase, then the export passphrase.
    let armor = ok(keys(
        src.path(),
        &["export", "alice"],
        &format!("{PASS}\nexport passphrase\n"),
        &[],
    ));
    assert!(
        armor.starts_with("-----BEGIN BALLAST PRIVATE KEY-----"),
        "{armor}"
    );
    assert!(
        armor
            .trim_end()
            .ends_with("-----END BALLAST PRIVATE KEY-----"),
        "{armor}"
    );
    let err = fails(keys(
        src.path(),
        &["export", "alice"],
        "wrong passphrase\nexport passphrase\n",
        &[],
    ));
    assert!(err.contains("wrong keyring passphrase"), "{err}");
    let err = fails(keys(src.path(), &["export", "nobody"], "", &[]));
    assert!(err.contains("no key named"), "{err}");

    let armor_file = dst.path().join("alice.armor");
    std::fs::write(&armor_file, &armor).unwrap();
    let armor_arg = armor_file.to_str().unwrap();

    // Import into a test keyring: only the export passphrase is read.
    let err = fails(keys(
        dst.path(),
        &["import", "alice2", armor_arg, "--keyring-backend", "test"],
        "not it\n",
        &[],
    ));
    assert!(err.contains("wrong export passphrase"), "{err}");
    let imported = json(&ok(keys(
        dst.path(),
        &[
            "import",
            "alice2",
            armor_arg,
            "--keyring-backend",
            "test",
            "-o",
            "json",
        ],
        "export passphrase\n",
        &[],
    )));
    assert_eq!(imported["address"], alice["address"]);
    assert_eq!(imported["pubkey"], alice["pubkey"]);
    assert_eq!(imported["name"], "alice2");
    let err = fails(keys(
        dst.path(),
        &["import", "alice2", armor_arg, "--keyring-backend", "test"],
        "export passphrase\n",
        &[],
    ));
    assert!(err.contains("already exists"), "{err}");

    // Export from the test backend and import into a new file keyring, passphrase from env.
    let armor2 = ok(keys(
        dst.path(),
        &["export", "alice2", "--keyring-backend", "test"],
        "second export pass\n",
        &[],
    ));
    let armor2_file = dst.path().join("alice2.armor");
    std::fs::write(&armor2_file, &armor2).unwrap();
    let third = tempfile::tempdir().unwrap();
    let back = json(&ok(keys(
        third.path(),
        &[
            "import",
            "alice",
            armor2_file.to_str().unwrap(),
            "-o",
            "json",
        ],
        "second export pass\n",
        &[("BALLAST_KEYRING_PASSPHRASE", PASS)],
    )));
    assert_eq!(back["address"], alice["address"]);

    // A damaged armor file is refused, not imported as some other key.
    let damaged = armor.replace("kdf: scrypt", "kdf: nothing");
    std::fs::write(&armor_file, damaged).unwrap();
    let err = fails(keys(
        dst.path(),
        &["import", "x", armor_arg, "--keyring-backend", "test"],
        "export passphrase\n",
        &[],
    ));
    assert!(err.contains("invalid armored key"), "{err}");
    let err = fails(keys(
        dst.path(),
        &[
            "import",
            "x",
            "/nonexistent/armor",
            "--keyring-backend",
            "test",
        ],
        "",
        &[],
    ));
    assert!(err.contains("cannot read the armored key"), "{err}");
}

#[test]
fn help_documents_the_order_of_stdin_lines() {
    for sub in ["add", "export", "import"] {
        let out = Command::new(ballastd_bin())
            .args(["keys", sub, "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(help.contains("Lines of stdin, in order"), "{sub}: {help}");
        assert!(help.contains("BALLAST_KEYRING_PASSPHRASE"), "{sub}: {help}");
        assert!(help.contains("BALLAST_KEYRING_BACKEND"), "{sub}: {help}");
    }
}
