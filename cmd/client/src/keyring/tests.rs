use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

/// The BIP-39 test mnemonic (entropy all zero).
const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                       abandon abandon about";
/// Its key at m/44'/118'/0'/0/0, computed independently of this crate (a from-scratch Python
/// BIP-39/BIP-32/secp256k1 implementation); its `cosmos` address is
/// cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4, the one Cosmos wallets show.
const ABANDON_PUBKEY: &str = "024f4e2ad99c34d60b9ba6283c9431a8418af8673212961f97a77b6377fcd05b62";
const ABANDON_ADDRESS: &str = "ballast19rl4cm2hmr8afy4kldpxz3fka4jguq0atj70t3";
const PASS: &str = "correct horse battery";

fn keyring(home: &Path, backend: Backend) -> Keyring {
    Keyring::open(home, backend, Some(PASS.to_string())).unwrap()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_test_mnemonic_gives_the_known_cosmos_account_under_the_ballast_prefix() {
    let home = tempfile::tempdir().unwrap();
    for backend in [Backend::Test, Backend::File] {
        let info = keyring(home.path(), backend)
            .recover("abandon", ABANDON)
            .unwrap();
        assert_eq!(info.address, ABANDON_ADDRESS);
        assert_eq!(hex::encode(&info.pubkey), ABANDON_PUBKEY);
    }
    let key = derive_signing_key(ABANDON).unwrap();
    assert_eq!(hex::encode(pubkey_of(&key)), ABANDON_PUBKEY);
    // The same 20 bytes as the Cosmos address.
    let ours = Address::from_bech32(ABANDON_ADDRESS, "ballast").unwrap();
    let cosmos =
        Address::from_bech32("cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4", "cosmos").unwrap();
    assert_eq!(ours, cosmos);
    // Case and extra whitespace in a typed mnemonic are forgiven.
    let messy = format!("  {}\n", ABANDON.to_uppercase().replace(' ', "   "));
    assert_eq!(
        hex::encode(pubkey_of(&derive_signing_key(&messy).unwrap())),
        ABANDON_PUBKEY
    );
}

#[test]
fn address_of_gives_the_independently_computed_address() {
    let pk = hex::decode(ABANDON_PUBKEY).unwrap();
    assert_eq!(address_of(&pk), ABANDON_ADDRESS);
    let mut other = pk.clone();
    other[32] ^= 1;
    assert_ne!(address_of(&other), ABANDON_ADDRESS);
}

#[test]
fn a_new_key_has_a_24_word_mnemonic_that_recovers_it() {
    let home = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let (info, mnemonic) = keyring(home.path(), Backend::Test).add("alice").unwrap();
    assert_eq!(mnemonic.split(' ').count(), NEW_MNEMONIC_WORDS);
    let again = keyring(other.path(), Backend::Test)
        .recover("alice", &mnemonic)
        .unwrap();
    assert_eq!(again, info);
    let (second, m2) = keyring(home.path(), Backend::Test).add("bob").unwrap();
    assert_ne!(m2, mnemonic, "mnemonics are random");
    assert_ne!(second.address, info.address);
}

#[test]
fn both_backends_add_list_show_sign_and_delete() {
    for backend in [Backend::Test, Backend::File] {
        let home = tempfile::tempdir().unwrap();
        let kr = keyring(home.path(), backend);
        assert!(kr.list().unwrap().is_empty(), "a new keyring is empty");
        let (zed, _) = kr.add("zed").unwrap();
        let (amy, amy_words) = kr.add("amy").unwrap();
        let listed = kr.list().unwrap();
        assert_eq!(listed, vec![amy.clone(), zed.clone()], "sorted by name");
        assert_eq!(kr.show("amy").unwrap(), amy);
        assert_eq!(kr.show(&zed.address).unwrap(), zed);
        let sk = kr.signing_key("amy").unwrap();
        assert_eq!(pubkey_of(&sk), amy.pubkey);
        assert_eq!(
            pubkey_of(&derive_signing_key(&amy_words).unwrap()),
            amy.pubkey
        );
        assert_eq!(
            pubkey_of(&kr.signing_key(&zed.address).unwrap()),
            zed.pubkey
        );
        // A reopened keyring sees the same keys.
        let reopened = keyring(home.path(), backend);
        assert_eq!(reopened.list().unwrap(), listed);

        kr.delete("amy").unwrap();
        assert_eq!(kr.list().unwrap(), vec![zed.clone()]);
        assert!(matches!(kr.show("amy"), Err(KeyringError::NotFound(_))));
        assert!(matches!(
            kr.show(&amy.address),
            Err(KeyringError::NotFound(_))
        ));
        assert!(matches!(kr.delete("amy"), Err(KeyringError::NotFound(_))));
        assert!(matches!(
            kr.signing_key("amy"),
            Err(KeyringError::NotFound(_))
        ));
    }
}

#[test]
fn backends_are_separate_directories() {
    let home = tempfile::tempdir().unwrap();
    keyring(home.path(), Backend::Test).add("t").unwrap();
    keyring(home.path(), Backend::File).add("f").unwrap();
    let names = |b| -> Vec<String> {
        keyring(home.path(), b)
            .list()
            .unwrap()
            .into_iter()
            .map(|k| k.name)
            .collect()
    };
    assert_eq!(names(Backend::Test), vec!["t"]);
    assert_eq!(names(Backend::File), vec!["f"]);
    assert!(home.path().join("keyring-test/t.json").is_file());
    assert!(home.path().join("keyring-file/f.json").is_file());
}

#[test]
fn existing_names_and_accounts_are_not_overwritten() {
    for backend in [Backend::Test, Backend::File] {
        let home = tempfile::tempdir().unwrap();
        let kr = keyring(home.path(), backend);
        let first = kr.recover("k", ABANDON).unwrap();
        let e = kr.add("k").unwrap_err();
        assert!(
            matches!(e, KeyringError::AlreadyExists(ref n) if n == "k"),
            "{e}"
        );
        assert!(e.to_string().contains("already exists"), "{e}");
        let e = kr.recover("k2", ABANDON).unwrap_err();
        assert!(
            matches!(e, KeyringError::DuplicateAddress { ref existing, .. } if existing == "k"),
            "{e}"
        );
        assert_eq!(kr.list().unwrap(), vec![first]);
    }
}

#[test]
fn names_are_validated() {
    let home = tempfile::tempdir().unwrap();
    let kr = keyring(home.path(), Backend::Test);
    let long = "a".repeat(MAX_NAME_LEN + 1);
    for bad in ["", "a b", "../x", "a/b", ".hidden", "é", long.as_str()] {
        let e = kr.add(bad).unwrap_err();
        assert!(
            matches!(e, KeyringError::InvalidName { .. }),
            "{bad:?}: {e}"
        );
        let e = kr.recover(bad, ABANDON).unwrap_err();
        assert!(
            matches!(e, KeyringError::InvalidName { .. }),
            "{bad:?}: {e}"
        );
    }
    for good in ["a", "A.b_c-9", &"z".repeat(MAX_NAME_LEN)] {
        kr.add(good).unwrap();
    }
    assert_eq!(kr.list().unwrap().len(), 3);
    // Nothing was written outside the keyring directory.
    let mut entries: Vec<_> = fs::read_dir(home.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    assert_eq!(entries, vec!["keyring-test"]);
}

#[test]
fn bad_mnemonics_are_explained() {
    let home = tempfile::tempdir().unwrap();
    let kr = keyring(home.path(), Backend::Test);
    let wrong_checksum = ABANDON.replace("about", "abandon");
    let unknown_word = ABANDON.replacen("abandon", "abandonx", 1);
    let short = ABANDON.replacen("abandon ", "", 1);
    let cases = [
        (wrong_checksum.as_str(), "checksum"),
        (unknown_word.as_str(), "word 1 is not in"),
        (short.as_str(), "found 11"),
        ("", "found 0"),
    ];
    for (m, want) in cases {
        let e = kr.recover("x", m).unwrap_err();
        assert!(matches!(e, KeyringError::InvalidMnemonic(_)), "{m:?}: {e}");
        assert!(e.to_string().contains(want), "{m:?}: {e}");
        assert!(derive_signing_key(m).is_err());
    }
    assert!(kr.list().unwrap().is_empty());
}

#[test]
fn the_file_backend_encrypts_and_needs_the_right_passphrase() {
    let home = tempfile::tempdir().unwrap();
    let kr = keyring(home.path(), Backend::File);
    let info = kr.recover("abandon", ABANDON).unwrap();
    let secret = hex::encode(derive_secret(ABANDON));
    let file = fs::read_to_string(home.path().join("keyring-file/abandon.json")).unwrap();
    assert!(!file.contains(&secret), "the secret is not stored in clear");
    assert!(
        file.contains(&info.address),
        "the address is stored in clear"
    );

    // Listing and showing need no passphrase.
    let locked = Keyring::open(home.path(), Backend::File, None).unwrap();
    assert_eq!(locked.list().unwrap(), vec![info.clone()]);
    assert_eq!(locked.show(&info.address).unwrap(), info);
    assert!(matches!(
        locked.signing_key("abandon"),
        Err(KeyringError::PassphraseRequired)
    ));
    assert!(matches!(
        locked.add("other"),
        Err(KeyringError::PassphraseRequired)
    ));

    // A wrong passphrase is an error, for signing and for adding alike.
    let wrong = Keyring::open(
        home.path(),
        Backend::File,
        Some("not the passphrase".into()),
    )
    .unwrap();
    let e = wrong.signing_key("abandon").err().unwrap();
    assert!(matches!(e, KeyringError::WrongPassphrase(_)), "{e}");
    assert!(e.to_string().contains("wrong keyring passphrase"), "{e}");
    let e = wrong.add("other").unwrap_err();
    assert!(matches!(e, KeyringError::WrongPassphrase(_)), "{e}");
    assert!(matches!(
        wrong.export("abandon", "export passphrase"),
        Err(KeyringError::WrongPassphrase(_))
    ));
    assert_eq!(
        locked.list().unwrap(),
        vec![info.clone()],
        "nothing was added"
    );

    // The right one works.
    let sk = kr.signing_key("abandon").unwrap();
    assert_eq!(hex::encode(pubkey_of(&sk)), ABANDON_PUBKEY);
}

#[test]
fn a_new_file_keyring_refuses_a_short_passphrase() {
    let home = tempfile::tempdir().unwrap();
    let kr = Keyring::open(home.path(), Backend::File, Some("short".into())).unwrap();
    let e = kr.add("a").unwrap_err();
    assert!(
        matches!(e, KeyringError::WeakPassphrase { min: 8, found: 5 }),
        "{e}"
    );
    assert!(!kr.passphrase_is_set());
    assert!(kr.list().unwrap().is_empty());
    // The test backend has no passphrase at all.
    Keyring::open(home.path(), Backend::Test, Some("short".into()))
        .unwrap()
        .add("a")
        .unwrap();
}

#[test]
fn export_and_import_round_trip_between_backends() {
    let home = tempfile::tempdir().unwrap();
    let src = keyring(home.path(), Backend::File);
    let (info, _) = src.add("alice").unwrap();
    let armored = src.export("alice", "export passphrase").unwrap();
    assert!(armored.starts_with("-----BEGIN BALLAST PRIVATE KEY-----"));
    let secret = hex::encode(src.secret_of(&src.find("alice").unwrap().1).unwrap());
    assert!(!armored.contains(&secret));

    let other = tempfile::tempdir().unwrap();
    let dst = keyring(other.path(), Backend::Test);
    let e = dst
        .import("alice2", &armored, "wrong passphrase")
        .unwrap_err();
    assert!(matches!(e, KeyringError::WrongExportPassphrase), "{e}");
    let imported = dst.import("alice2", &armored, "export passphrase").unwrap();
    assert_eq!(imported.address, info.address);
    assert_eq!(imported.pubkey, info.pubkey);
    assert_eq!(imported.name, "alice2");
    assert_eq!(
        pubkey_of(&dst.signing_key("alice2").unwrap()),
        info.pubkey,
        "the imported key signs as the original"
    );
    // Not over an existing name, and not a second copy of the same account.
    let e = dst
        .import("alice2", &armored, "export passphrase")
        .unwrap_err();
    assert!(matches!(e, KeyringError::AlreadyExists(_)), "{e}");
    let e = dst
        .import("alice3", &armored, "export passphrase")
        .unwrap_err();
    assert!(matches!(e, KeyringError::DuplicateAddress { .. }), "{e}");
    // And back into a file keyring.
    let back = tempfile::tempdir().unwrap();
    let file_kr = keyring(back.path(), Backend::File);
    let exported = dst.export("alice2", "another passphrase").unwrap();
    assert_eq!(
        file_kr
            .import("alice", &exported, "another passphrase")
            .unwrap(),
        info
    );
    assert!(matches!(
        src.export("alice", "short"),
        Err(KeyringError::WeakPassphrase { .. })
    ));
    assert!(matches!(
        dst.import("x", "not armor", "export passphrase"),
        Err(KeyringError::Armor(_))
    ));
}

#[test]
fn key_files_are_private() {
    for backend in [Backend::Test, Backend::File] {
        let home = tempfile::tempdir().unwrap();
        let kr = keyring(home.path(), backend);
        kr.add("a").unwrap();
        kr.recover("b", ABANDON).unwrap();
        let dir = backend.dir(home.path());
        assert_eq!(mode(&dir), 0o700);
        for entry in fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
        if backend == Backend::File {
            assert!(dir.join(store::CHECK_FILE).is_file());
        }
    }
}

#[test]
fn damaged_key_files_are_errors_not_panics() {
    for backend in [Backend::Test, Backend::File] {
        let home = tempfile::tempdir().unwrap();
        let kr = keyring(home.path(), backend);
        kr.recover("a", ABANDON).unwrap();
        let (b, _) = kr.add("b").unwrap();
        let path = backend.dir(home.path()).join("a.json");
        let original = fs::read_to_string(&path).unwrap();
        let b_file = fs::read_to_string(backend.dir(home.path()).join("b.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&original).unwrap();
        let b_json: serde_json::Value = serde_json::from_str(&b_file).unwrap();
        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = json.clone();
            f(&mut v);
            serde_json::to_string(&v).unwrap()
        };
        let cases: Vec<(&str, String)> = vec![
            ("truncated", original[..original.len() / 2].to_string()),
            ("empty", String::new()),
            ("binary", "\u{0}\u{1}garbage".to_string()),
            ("other version", edit(&|v| v["version"] = 2.into())),
            ("renamed", edit(&|v| v["name"] = "z".into())),
            (
                "foreign address",
                edit(&|v| v["address"] = b.address.clone().into()),
            ),
            (
                "foreign pubkey",
                edit(&|v| v["pubkey"] = b_json["pubkey"].clone()),
            ),
            (
                "pubkey not a point",
                edit(&|v| v["pubkey"] = format!("05{}", "11".repeat(32)).into()),
            ),
            ("unknown field", edit(&|v| v["extra"] = 1.into())),
            (
                "secret of another key",
                edit(&|v| {
                    v["private_key"] = b_json["private_key"].clone();
                    v["encrypted_private_key"] = b_json["encrypted_private_key"].clone();
                }),
            ),
            (
                "secret field of the other backend",
                edit(&|v| {
                    let obj = v.as_object_mut().unwrap();
                    match backend {
                        Backend::Test => {
                            let s = obj.remove("private_key").unwrap();
                            obj.insert("encrypted_private_key".into(), s);
                        }
                        Backend::File => {
                            obj.remove("encrypted_private_key");
                            obj.insert("private_key".into(), "11".repeat(32).into());
                        }
                    }
                }),
            ),
        ];
        for (what, text) in cases {
            fs::write(&path, &text).unwrap();
            let e = kr.signing_key("a").err().expect(what);
            assert!(
                matches!(
                    e,
                    KeyringError::Corrupt { .. }
                        | KeyringError::UnsupportedVersion { .. }
                        | KeyringError::WrongPassphrase(_)
                ),
                "{backend} {what}: {e}"
            );
            // Listing names the damaged file rather than skipping it or panicking.
            if !matches!(what, "secret of another key") {
                let e = kr.list().expect_err(what);
                assert!(e.to_string().contains("a.json"), "{backend} {what}: {e}");
            }
        }
        // An edited ciphertext or stored secret never yields a different key.
        let flipped = edit(&|v| match backend {
            Backend::Test => v["private_key"] = "22".repeat(32).into(),
            Backend::File => {
                let c = v["encrypted_private_key"]["ciphertext"].as_str().unwrap();
                let first = if c.starts_with('0') { "1" } else { "0" };
                v["encrypted_private_key"]["ciphertext"] = format!("{first}{}", &c[1..]).into();
            }
        });
        fs::write(&path, flipped).unwrap();
        assert!(kr.signing_key("a").is_err());
        fs::write(&path, original).unwrap();
        assert_eq!(
            hex::encode(pubkey_of(&kr.signing_key("a").unwrap())),
            ABANDON_PUBKEY
        );
        // A damaged passphrase check is reported, not bypassed.
        if backend == Backend::File {
            let check = backend.dir(home.path()).join(store::CHECK_FILE);
            fs::write(&check, "{").unwrap();
            assert!(matches!(kr.add("c"), Err(KeyringError::Corrupt { .. })));
        }
    }
}

#[test]
fn backend_names_parse_and_print() {
    for b in [Backend::Test, Backend::File] {
        assert_eq!(b.to_string().parse::<Backend>().unwrap(), b);
    }
    assert!(matches!(
        "os".parse::<Backend>(),
        Err(KeyringError::UnknownBackend(_))
    ));
}

#[test]
fn key_json_has_the_cosmos_shape() {
    let info = KeyInfo::from_pubkey("abandon", hex::decode(ABANDON_PUBKEY).unwrap());
    let v = info.to_json();
    assert_eq!(v["name"], "abandon");
    assert_eq!(v["type"], "local");
    assert_eq!(v["address"], ABANDON_ADDRESS);
    let pk: serde_json::Value = serde_json::from_str(v["pubkey"].as_str().unwrap()).unwrap();
    assert_eq!(pk["@type"], PUBKEY_TYPE_URL);
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(pk["key"].as_str().unwrap())
            .unwrap(),
        info.pubkey
    );
    // cosmrs parses it as a Cosmos public key with the same bytes.
    let parsed = cosmrs::crypto::PublicKey::from_json(v["pubkey"].as_str().unwrap()).unwrap();
    assert_eq!(parsed.to_bytes(), info.pubkey);
}

fn derive_secret(m: &str) -> [u8; 32] {
    secret_from_mnemonic(&parse_mnemonic(m).unwrap()).unwrap()
}
