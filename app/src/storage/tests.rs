use super::db::{CHANGES, NODES, PREIMAGES, ROOTS, STALE, VALUES};
use super::*;
use ballast_framework::StateRead;
use ics23::HostFunctionsManager;
use proptest::prelude::*;
use redb::ReadableTableMetadata;
use tempfile::TempDir;

fn changes(pairs: &[(&str, Option<&str>)]) -> ChangeSet {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
        .collect()
}

fn puts(pairs: &[(&str, &str)]) -> ChangeSet {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), Some(v.as_bytes().to_vec())))
        .collect()
}

fn open(dir: &TempDir, keep_recent: u64) -> Storage {
    Storage::open(dir.path(), StorageConfig { keep_recent }).unwrap()
}

fn commit(storage: &Storage, version: u64, c: &ChangeSet) -> RootHash {
    let staged = storage.stage(version, c, ChangeSet::new()).unwrap();
    let root = staged.root;
    assert_eq!(storage.commit(staged).unwrap(), root);
    assert_eq!(storage.latest(), Some((version, root)));
    root
}

fn prefix(snapshot: &Snapshot, p: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    snapshot
        .prefix_raw(p.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

fn kv(k: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
    (k.as_bytes().to_vec(), v.as_bytes().to_vec())
}

fn verify_exists(
    proof: &ics23::CommitmentProof,
    root: &RootHash,
    key: &[u8],
    value: &[u8],
) -> bool {
    ics23::verify_membership::<HostFunctionsManager>(
        proof,
        &jmt::ics23_spec(),
        &root.to_vec(),
        key,
        value,
    )
}

fn verify_absent(proof: &ics23::CommitmentProof, root: &RootHash, key: &[u8]) -> bool {
    ics23::verify_non_membership::<HostFunctionsManager>(
        proof,
        &jmt::ics23_spec(),
        &root.to_vec(),
        key,
    )
}

fn table_len<K: redb::Key + 'static, V: redb::Value + 'static>(
    storage: &Storage,
    def: redb::TableDefinition<K, V>,
) -> u64 {
    let txn = storage.db().unwrap().begin_read().unwrap();
    txn.open_table(def).unwrap().len().unwrap()
}

#[test]
fn root_is_independent_of_order_and_of_version_splits() {
    let all = puts(&[("a", "1"), ("b", "2"), ("c", "3"), ("ab", "4"), ("zz", "5")]);
    let dir_a = TempDir::new().unwrap();
    let a = open(&dir_a, 0);
    let root_a = commit(&a, 1, &all);
    assert_eq!(Storage::genesis_root(&all).unwrap(), root_a);
    assert_ne!(root_a, EMPTY_ROOT);

    // Same final state reached over four versions, with a temporary key, an overwritten value
    // and an empty version.
    let dir_b = TempDir::new().unwrap();
    let b = open(&dir_b, 0);
    commit(&b, 1, &puts(&[("zz", "5"), ("tmp", "x"), ("a", "old")]));
    commit(
        &b,
        2,
        &changes(&[("tmp", None), ("b", Some("2")), ("a", Some("1"))]),
    );
    commit(&b, 3, &ChangeSet::new());
    let root_b = commit(&b, 4, &puts(&[("c", "3"), ("ab", "4")]));
    assert_eq!(root_a, root_b);

    // Different value, different root.
    let root_c = commit(&b, 5, &puts(&[("c", "changed")]));
    assert_ne!(root_b, root_c);
    // Back to the old value, the old root.
    assert_eq!(commit(&b, 6, &puts(&[("c", "3")])), root_a);
    // Deleting every key gives the empty root.
    let delete_all: ChangeSet = all.keys().map(|k| (k.clone(), None)).collect();
    assert_eq!(commit(&b, 7, &delete_all), EMPTY_ROOT);
    assert_eq!(
        Storage::genesis_root(&ChangeSet::new()).unwrap(),
        EMPTY_ROOT
    );
    // And the tree is usable again after being emptied.
    assert_eq!(commit(&b, 8, &all), root_a);
}

#[test]
fn genesis_root_matches_first_commit_at_initial_height() {
    let genesis = puts(&[("acct/1", "x"), ("acct/2", "y"), ("params", "p")]);
    let root = Storage::genesis_root(&genesis).unwrap();
    let dir = TempDir::new().unwrap();
    let storage = open(&dir, 0);
    assert_eq!(storage.latest(), None);
    assert_eq!(storage.earliest_version(), None);
    assert!(storage.latest_snapshot().unwrap().is_none());
    assert_eq!(commit(&storage, 100, &genesis), root);
    assert_eq!(storage.earliest_version(), Some(100));
    assert_eq!(storage.root_at(100).unwrap(), root);
    assert!(matches!(
        storage.snapshot(99),
        Err(StorageError::Pruned {
            version: 99,
            earliest: 100
        })
    ));
    let next = commit(&storage, 101, &puts(&[("acct/3", "z")]));
    assert_ne!(next, root);
    assert_eq!(storage.root_at(100).unwrap(), root);

    // An empty first version works too, and keeps the empty root.
    let dir2 = TempDir::new().unwrap();
    let empty = open(&dir2, 0);
    assert_eq!(commit(&empty, 1, &ChangeSet::new()), EMPTY_ROOT);
    assert_eq!(commit(&empty, 2, &ChangeSet::new()), EMPTY_ROOT);
    assert_eq!(commit(&empty, 3, &genesis), root);
}

#[test]
fn historical_reads_and_prefix_iteration() {
    let dir = TempDir::new().unwrap();
    let storage = open(&dir, 0);
    commit(
        &storage,
        1,
        &puts(&[("a/1", "v1"), ("a/2", "v1"), ("b/1", "v1"), ("a", "top")]),
    );
    commit(
        &storage,
        2,
        &changes(&[("a/1", Some("v2")), ("a/2", None), ("a/3", Some("v2"))]),
    );
    commit(&storage, 3, &changes(&[("a/2", Some("v3")), ("b/1", None)]));
    for v in 4..=20u64 {
        // Many versions of one key.
        commit(&storage, v, &puts(&[("a/3", &format!("v{v}"))]));
    }

    let s1 = storage.snapshot(1).unwrap();
    let s2 = storage.snapshot(2).unwrap();
    let s3 = storage.snapshot(3).unwrap();
    let s20 = storage.latest_snapshot().unwrap().unwrap();
    assert_eq!((s1.version(), s20.version()), (1, 20));
    assert_eq!(s1.root(), storage.root_at(1).unwrap());

    assert_eq!(s1.get_raw(b"a/2").unwrap(), Some(b"v1".to_vec()));
    assert_eq!(s2.get_raw(b"a/2").unwrap(), None);
    assert_eq!(s3.get_raw(b"a/2").unwrap(), Some(b"v3".to_vec()));
    assert_eq!(s1.get_raw(b"a/3").unwrap(), None);
    assert_eq!(s20.get_raw(b"a/3").unwrap(), Some(b"v20".to_vec()));
    assert_eq!(
        storage.snapshot(7).unwrap().get_raw(b"a/3").unwrap(),
        Some(b"v7".to_vec())
    );
    assert_eq!(s20.get_raw(b"missing").unwrap(), None);

    assert_eq!(prefix(&s1, "a/"), vec![kv("a/1", "v1"), kv("a/2", "v1")]);
    assert_eq!(prefix(&s2, "a/"), vec![kv("a/1", "v2"), kv("a/3", "v2")]);
    assert_eq!(
        prefix(&s3, ""),
        vec![
            kv("a", "top"),
            kv("a/1", "v2"),
            kv("a/2", "v3"),
            kv("a/3", "v2")
        ]
    );
    assert_eq!(
        prefix(&s20, "a"),
        vec![
            kv("a", "top"),
            kv("a/1", "v2"),
            kv("a/2", "v3"),
            kv("a/3", "v20")
        ]
    );
    assert_eq!(prefix(&s2, "b"), vec![kv("b/1", "v1")]);
    assert_eq!(prefix(&s3, "b"), vec![]);
    assert_eq!(prefix(&s20, "zzz"), vec![]);
    // Lazy: taking one entry works without draining.
    assert_eq!(
        s20.iter_prefix(b"a/").next().unwrap().unwrap(),
        kv("a/1", "v2")
    );
}

#[test]
fn ics23_proofs_at_latest_and_older_versions() {
    let dir = TempDir::new().unwrap();
    let storage = open(&dir, 0);
    let keys: Vec<String> = (0..40).map(|i| format!("key/{i:03}")).collect();
    let first: ChangeSet = keys
        .iter()
        .map(|k| (k.as_bytes().to_vec(), Some(format!("{k}=1").into_bytes())))
        .collect();
    let root1 = commit(&storage, 1, &first);
    let root2 = commit(
        &storage,
        2,
        &changes(&[
            ("key/005", Some("new")),
            ("key/006", None),
            ("extra", Some("e")),
        ]),
    );

    // Existence at the latest version.
    let (value, proof) = storage.get_with_proof(b"key/005", 2).unwrap();
    assert_eq!(value.as_deref(), Some(&b"new"[..]));
    assert!(verify_exists(&proof, &root2, b"key/005", b"new"));
    assert!(!verify_exists(&proof, &root2, b"key/005", b"key/005=1"));
    assert!(!verify_exists(&proof, &root1, b"key/005", b"new"));
    assert!(!verify_exists(&proof, &root2, b"key/004", b"new"));

    // Existence at an older version, of the older value.
    let (value, proof) = storage.get_with_proof(b"key/005", 1).unwrap();
    assert_eq!(value.as_deref(), Some(&b"key/005=1"[..]));
    assert!(verify_exists(&proof, &root1, b"key/005", b"key/005=1"));
    assert!(!verify_exists(&proof, &root2, b"key/005", b"key/005=1"));
    let (value, proof) = storage.get_with_proof(b"key/006", 1).unwrap();
    assert_eq!(value.as_deref(), Some(&b"key/006=1"[..]));
    assert!(verify_exists(&proof, &root1, b"key/006", b"key/006=1"));

    // Non-existence of a deleted key at the latest version, and of a never-written key.
    let (value, proof) = storage.get_with_proof(b"key/006", 2).unwrap();
    assert_eq!(value, None);
    assert!(verify_absent(&proof, &root2, b"key/006"));
    assert!(!verify_absent(&proof, &root1, b"key/006"));
    assert!(!verify_exists(&proof, &root2, b"key/006", b"key/006=1"));
    for missing in [&b"nope"[..], b"a", b"zzzzzz", b"key/0055"] {
        let (value, proof) = storage.get_with_proof(missing, 2).unwrap();
        assert_eq!(value, None);
        assert!(verify_absent(&proof, &root2, missing));
        assert!(!verify_absent(&proof, &root2, b"key/005"));
    }

    // Non-existence at an older version of a key that exists now.
    let (value, proof) = storage.get_with_proof(b"extra", 1).unwrap();
    assert_eq!(value, None);
    assert!(verify_absent(&proof, &root1, b"extra"));
    assert!(!verify_absent(&proof, &root2, b"extra"));
    // A proof of existence is no proof of absence.
    let (_, proof) = storage.get_with_proof(b"extra", 2).unwrap();
    assert!(!verify_absent(&proof, &root2, b"extra"));

    // A tree with a single key proves both ways.
    let dir2 = TempDir::new().unwrap();
    let single = open(&dir2, 0);
    let root = commit(&single, 1, &puts(&[("only", "1")]));
    let (_, proof) = single.get_with_proof(b"only", 1).unwrap();
    assert!(verify_exists(&proof, &root, b"only", b"1"));
    let (_, proof) = single.get_with_proof(b"other", 1).unwrap();
    assert!(verify_absent(&proof, &root, b"other"));
}

#[test]
fn staged_changes_vanish_and_committed_ones_survive_reopen() {
    let dir = TempDir::new().unwrap();
    let (root1, root2) = {
        let storage = open(&dir, 0);
        let staged = storage
            .stage(1, &puts(&[("a", "1")]), puts(&[("tx/1", "h1")]))
            .unwrap();
        let root1 = storage.commit(staged).unwrap();
        let staged = storage
            .stage(2, &puts(&[("b", "2")]), puts(&[("tx/2", "h2")]))
            .unwrap();
        let root2 = staged.root;
        // Staging writes nothing.
        assert_eq!(storage.latest(), Some((1, root1)));
        assert!(matches!(
            storage.snapshot(2),
            Err(StorageError::NotCommitted {
                version: 2,
                latest: Some(1)
            })
        ));
        assert_eq!(storage.get_aux(b"tx/2").unwrap(), None);
        drop(staged);
        (root1, root2)
    };
    let storage = open(&dir, 0);
    assert_eq!(storage.latest(), Some((1, root1)));
    assert_eq!(storage.get_aux(b"tx/1").unwrap(), Some(b"h1".to_vec()));
    assert_eq!(storage.get_aux(b"tx/2").unwrap(), None);
    let snapshot = storage.latest_snapshot().unwrap().unwrap();
    assert_eq!(snapshot.get_raw(b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(snapshot.get_raw(b"b").unwrap(), None);

    // Re-executing the block gives the same root; committing it survives another reopen.
    let staged = storage
        .stage(
            2,
            &puts(&[("b", "2")]),
            changes(&[("tx/2", Some("h2")), ("tx/1", None)]),
        )
        .unwrap();
    assert_eq!(staged.root, root2);
    storage.commit(staged).unwrap();
    drop(snapshot);
    drop(storage);
    let storage = open(&dir, 0);
    assert_eq!(storage.latest(), Some((2, root2)));
    assert_eq!(storage.earliest_version(), Some(1));
    assert_eq!(storage.root_at(1).unwrap(), root1);
    assert_eq!(storage.get_aux(b"tx/1").unwrap(), None);
    assert_eq!(storage.get_aux(b"tx/2").unwrap(), Some(b"h2".to_vec()));
    let (value, proof) = storage.get_with_proof(b"b", 2).unwrap();
    assert_eq!(value, Some(b"2".to_vec()));
    assert!(verify_exists(&proof, &root2, b"b", b"2"));
    // And it keeps going.
    commit(&storage, 3, &puts(&[("c", "3")]));
}

#[test]
fn snapshots_are_isolated_from_later_commits_and_pruning() {
    let dir = TempDir::new().unwrap();
    let storage = open(&dir, 1);
    commit(&storage, 1, &puts(&[("k", "1")]));
    let old = storage.snapshot(1).unwrap();
    let clone = old.clone();
    commit(&storage, 2, &puts(&[("k", "2")]));
    commit(&storage, 3, &changes(&[("k", None)]));
    // Version 1 is pruned for new readers...
    assert!(matches!(
        storage.snapshot(1),
        Err(StorageError::Pruned { .. })
    ));
    // ...but a snapshot taken before keeps reading it, proofs included.
    assert_eq!(old.get_raw(b"k").unwrap(), Some(b"1".to_vec()));
    assert_eq!(prefix(&clone, ""), vec![kv("k", "1")]);
    let (value, proof) = old.get_with_proof(b"k").unwrap();
    assert_eq!(value, Some(b"1".to_vec()));
    assert!(verify_exists(&proof, &old.root(), b"k", b"1"));
    let reader = std::thread::spawn(move || clone.get_raw(b"k").unwrap());
    assert_eq!(reader.join().unwrap(), Some(b"1".to_vec()));
}

#[test]
fn pruning_keeps_recent_versions_and_bounds_the_database() {
    let dir = TempDir::new().unwrap();
    let storage = open(&dir, 3);
    let mut roots = BTreeMap::new();
    let last = 120u64;
    let (mut nodes_at_60, mut stale_at_60) = (0, 0);
    for v in 1..=last {
        let mut c = puts(&[
            ("hot", &format!("{v}")),
            (&format!("cold/{}", v % 7), &format!("{v}")),
        ]);
        // A key that comes and goes.
        c.insert(b"blink".to_vec(), (v % 2 == 0).then(|| b"on".to_vec()));
        // Keys that are written once and later deleted for good.
        c.insert(format!("once/{v}").into_bytes(), Some(b"x".to_vec()));
        if v > 2 {
            c.insert(format!("once/{}", v - 2).into_bytes(), None);
        }
        roots.insert(v, commit(&storage, v, &c));
        assert_eq!(storage.earliest_version(), Some(v.saturating_sub(3).max(1)));
        if v == 60 {
            nodes_at_60 = table_len(&storage, NODES);
            stale_at_60 = table_len(&storage, STALE);
        }
    }
    assert_eq!(storage.earliest_version(), Some(last - 3));
    for v in 1..last - 3 {
        assert!(matches!(
            storage.snapshot(v),
            Err(StorageError::Pruned { .. })
        ));
        assert!(matches!(
            storage.root_at(v),
            Err(StorageError::Pruned { .. })
        ));
        assert!(matches!(
            storage.get_with_proof(b"hot", v),
            Err(StorageError::Pruned { .. })
        ));
    }
    for v in last - 3..=last {
        let s = storage.snapshot(v).unwrap();
        assert_eq!(s.root(), roots[&v]);
        assert_eq!(storage.root_at(v).unwrap(), roots[&v]);
        assert_eq!(s.get_raw(b"hot").unwrap(), Some(v.to_string().into_bytes()));
        assert_eq!(
            s.get_raw(b"blink").unwrap(),
            (v % 2 == 0).then(|| b"on".to_vec())
        );
        for c in 0..7u64 {
            // The newest write of cold/c at or below v.
            let expected = (1..=v)
                .rev()
                .find(|w| w % 7 == c)
                .map(|w| w.to_string().into_bytes());
            assert_eq!(s.get_raw(format!("cold/{c}").as_bytes()).unwrap(), expected);
        }
        assert_eq!(prefix(&s, "once/").len(), 2);
        let (value, proof) = s.get_with_proof(b"cold/3").unwrap();
        assert!(verify_exists(
            &proof,
            &roots[&v],
            b"cold/3",
            &value.unwrap()
        ));
        let (value, proof) = s.get_with_proof(b"once/1").unwrap();
        assert_eq!(value, None);
        assert!(verify_absent(&proof, &roots[&v], b"once/1"));
        let (value, proof) = storage.get_with_proof(b"blink", v).unwrap();
        match value {
            Some(value) => assert!(verify_exists(&proof, &roots[&v], b"blink", &value)),
            None => assert!(verify_absent(&proof, &roots[&v], b"blink")),
        }
    }

    // The database stays bounded: a few versions of a few keys, not 120 versions.
    let values = table_len(&storage, VALUES);
    assert!(values <= 4 * 12, "values table holds {values} entries");
    let preimages = table_len(&storage, PREIMAGES);
    assert!(preimages <= 16, "preimages table holds {preimages} entries");
    assert!(table_len(&storage, ROOTS) == 4);
    assert!(table_len(&storage, CHANGES) <= 4 * 6);
    let nodes = table_len(&storage, NODES);
    let stale = table_len(&storage, STALE);
    assert!(
        nodes <= nodes_at_60 + 10 && stale <= stale_at_60 + 10,
        "tree tables grow: {nodes_at_60} -> {nodes} nodes, {stale_at_60} -> {stale} stale entries"
    );

    // Reopening with the same config keeps the bounds, and carries on.
    drop(storage);
    let storage = open(&dir, 3);
    assert_eq!(storage.earliest_version(), Some(last - 3));
    assert_eq!(storage.latest(), Some((last, roots[&last])));
    commit(&storage, last + 1, &puts(&[("hot", "again")]));
    assert_eq!(storage.earliest_version(), Some(last - 2));
}

#[test]
fn bad_calls_return_errors() {
    let dir = TempDir::new().unwrap();
    let storage = open(&dir, 0);
    let c = puts(&[("a", "1")]);
    assert!(matches!(
        storage.stage(0, &c, ChangeSet::new()),
        Err(StorageError::ZeroVersion)
    ));
    assert!(matches!(
        storage.snapshot(1),
        Err(StorageError::NotCommitted {
            version: 1,
            latest: None
        })
    ));
    assert!(matches!(
        storage.root_at(0),
        Err(StorageError::NotCommitted { .. })
    ));
    assert!(matches!(
        storage.get_with_proof(b"a", 1),
        Err(StorageError::NotCommitted { .. })
    ));
    assert!(matches!(
        storage.stage(1, &changes(&[("", Some("x"))]), ChangeSet::new()),
        Err(StorageError::EmptyKey)
    ));
    assert!(matches!(
        Storage::genesis_root(&changes(&[("", Some("x"))])),
        Err(StorageError::EmptyKey)
    ));

    commit(&storage, 5, &c);
    for wrong in [0, 1, 4, 5, 7, u64::MAX] {
        let err = storage.stage(wrong, &c, ChangeSet::new()).unwrap_err();
        assert!(
            matches!(
                err,
                StorageError::UnexpectedVersion { expected: 6, .. } | StorageError::ZeroVersion
            ),
            "{err}"
        );
    }
    assert_eq!(
        storage
            .stage(7, &c, ChangeSet::new())
            .unwrap_err()
            .to_string(),
        "cannot stage version 7: the next version is 6"
    );
    assert!(matches!(
        storage.snapshot(6),
        Err(StorageError::NotCommitted {
            version: 6,
            latest: Some(5)
        })
    ));
    assert!(matches!(
        storage.snapshot(u64::MAX),
        Err(StorageError::NotCommitted { .. })
    ));
    assert!(matches!(
        storage.snapshot(4),
        Err(StorageError::Pruned { .. })
    ));
    assert!(matches!(
        storage.get_with_proof(b"", 5),
        Err(StorageError::EmptyKey)
    ));

    // Two stagings of the same version: only the first commit wins.
    let first = storage
        .stage(6, &puts(&[("b", "1")]), ChangeSet::new())
        .unwrap();
    let second = storage
        .stage(6, &puts(&[("b", "2")]), ChangeSet::new())
        .unwrap();
    let root = storage.commit(first).unwrap();
    let err = storage.commit(second).unwrap_err();
    assert!(matches!(
        err,
        StorageError::StaleStage {
            version: 6,
            staged_on: Some(5),
            latest: Some(6)
        }
    ));
    assert_eq!(storage.latest(), Some((6, root)));
    assert_eq!(
        storage.snapshot(6).unwrap().get_raw(b"b").unwrap(),
        Some(b"1".to_vec())
    );

    // An empty tree has no ICS-23 non-existence proof.
    commit(&storage, 7, &changes(&[("a", None), ("b", None)]));
    assert!(matches!(
        storage.get_with_proof(b"a", 7),
        Err(StorageError::EmptyTree { version: 7 })
    ));
    // Deleting a key that never existed is a no-op for the root.
    assert_eq!(
        commit(&storage, 8, &changes(&[("ghost", None)])),
        EMPTY_ROOT
    );

    // Errors chain their sources, and convert into the framework's backend error.
    let err = StorageError::Db {
        op: "read value",
        source: redb::Error::Corrupted("bad page".to_owned()),
    };
    assert!(error_chain(&err).starts_with("database read value failed: "));
    assert!(matches!(
        ballast_framework::StateError::from(err),
        ballast_framework::StateError::Backend(_)
    ));
}

#[test]
fn empty_values_are_stored_but_cannot_be_proven() {
    let dir = TempDir::new().unwrap();
    let storage = open(&dir, 0);
    commit(&storage, 1, &puts(&[("empty", ""), ("full", "1")]));
    let s = storage.snapshot(1).unwrap();
    assert_eq!(s.get_raw(b"empty").unwrap(), Some(Vec::new()));
    assert_eq!(prefix(&s, ""), vec![kv("empty", ""), kv("full", "1")]);
    let err = storage.get_with_proof(b"empty", 1).unwrap_err();
    assert!(
        matches!(err, StorageError::Unprovable { version: 1, .. }),
        "{err}"
    );
    // A non-empty neighbour still proves.
    let (value, proof) = storage.get_with_proof(b"full", 1).unwrap();
    assert!(verify_exists(&proof, &s.root(), b"full", &value.unwrap()));
}

#[test]
fn empty_versions_do_not_leak_nodes_when_pruning() {
    let dir = TempDir::new().unwrap();
    let storage = open(&dir, 2);
    let data = puts(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]);
    let root = commit(&storage, 1, &data);
    let nodes_before = table_len(&storage, NODES);
    for v in 2..=60 {
        assert_eq!(commit(&storage, v, &ChangeSet::new()), root);
    }
    // The data nodes plus the copied roots of the three retained versions.
    assert!(table_len(&storage, NODES) <= nodes_before + 3);
    assert!(table_len(&storage, STALE) <= 3);
    for v in 58..=60 {
        let (value, proof) = storage.get_with_proof(b"c", v).unwrap();
        assert!(verify_exists(&proof, &root, b"c", &value.unwrap()));
    }
}

#[test]
fn readers_see_consistent_versions_while_blocks_commit() {
    let dir = TempDir::new().unwrap();
    let storage = std::sync::Arc::new(open(&dir, 2));
    commit(&storage, 1, &puts(&[("height", "1"), ("mirror", "1")]));
    let reader = {
        let storage = storage.clone();
        std::thread::spawn(move || {
            let mut seen = 0;
            while seen < 40 {
                let s = storage.latest_snapshot().unwrap().unwrap();
                let height = s.get_raw(b"height").unwrap().unwrap();
                // Both keys are written in the same version: a snapshot never sees half a block.
                assert_eq!(s.get_raw(b"mirror").unwrap().unwrap(), height);
                assert_eq!(height, s.version().to_string().into_bytes());
                assert_eq!(prefix(&s, "").len(), 2);
                seen = s.version();
                std::thread::yield_now();
            }
        })
    };
    for v in 2..=40u64 {
        let h = v.to_string();
        commit(&storage, v, &puts(&[("height", &h), ("mirror", &h)]));
    }
    reader.join().unwrap();
}

// ---- model-based property test ----

/// Keys with shared prefixes, so that prefix iteration has something to get wrong.
const KEYS: &[&str] = &[
    "a", "a/1", "a/2", "a/22", "ab", "b", "b/1", "b/2", "c", "c/x/1", "c/x/2", "d",
];
const PREFIXES: &[&str] = &["", "a", "a/", "a/2", "b/", "c/x/", "d", "e"];

fn change_set() -> impl Strategy<Value = ChangeSet> {
    proptest::collection::btree_map(
        (0..KEYS.len()).prop_map(|i| KEYS[i].as_bytes().to_vec()),
        proptest::option::weighted(
            0.7,
            prop_oneof![9 => proptest::collection::vec(0u8..4, 1..3), 1 => Just(Vec::new())],
        ),
        0..7,
    )
}

fn model_prefix(model: &BTreeMap<Vec<u8>, Vec<u8>>, p: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    model
        .iter()
        .filter(|(k, _)| k.starts_with(p.as_bytes()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn check_version(
    storage: &Storage,
    version: u64,
    model: &BTreeMap<Vec<u8>, Vec<u8>>,
) -> Result<(), TestCaseError> {
    let s = storage.snapshot(version).unwrap();
    prop_assert_eq!(s.version(), version);
    for key in KEYS {
        prop_assert_eq!(
            s.get_raw(key.as_bytes()).unwrap(),
            model.get(key.as_bytes()).cloned()
        );
    }
    for p in PREFIXES {
        prop_assert_eq!(
            prefix(&s, p),
            model_prefix(model, p),
            "prefix {:?} at {}",
            p,
            version
        );
    }
    let root = s.root();
    prop_assert_eq!(root, storage.root_at(version).unwrap());
    if model.is_empty() {
        prop_assert_eq!(root, EMPTY_ROOT);
        return Ok(());
    }
    for key in [KEYS[0], KEYS[3], KEYS[7], "zz"] {
        match storage.get_with_proof(key.as_bytes(), version) {
            Ok((value, proof)) => {
                prop_assert_eq!(&value, &model.get(key.as_bytes()).cloned());
                match value {
                    Some(value) => {
                        prop_assert!(verify_exists(&proof, &root, key.as_bytes(), &value))
                    }
                    None => prop_assert!(verify_absent(&proof, &root, key.as_bytes())),
                }
            }
            // Only empty values (of the key or of a neighbour) make a key unprovable.
            Err(StorageError::Unprovable { .. }) => {
                prop_assert!(model.values().any(Vec::is_empty))
            }
            Err(e) => prop_assert!(false, "{}", error_chain(&e)),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn matches_a_btreemap_model(
        sets in proptest::collection::vec(change_set(), 1..7),
        first in prop_oneof![Just(1u64), Just(9u64)],
        keep_recent in prop_oneof![Just(0u64), Just(1u64), Just(2u64)],
    ) {
        let dir = TempDir::new().unwrap();
        let storage = open(&dir, keep_recent);
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut history = Vec::new();
        for (i, set) in sets.iter().enumerate() {
            let version = first + i as u64;
            for (k, v) in set {
                match v {
                    Some(v) => model.insert(k.clone(), v.clone()),
                    None => model.remove(k),
                };
            }
            let root = commit(&storage, version, set);
            // History independence: the same state has the same root however it was reached.
            let as_genesis: ChangeSet = model.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
            prop_assert_eq!(root, Storage::genesis_root(&as_genesis).unwrap());
            history.push((version, model.clone()));
            // Every retained version still reads as it did.
            let earliest = storage.earliest_version().unwrap();
            let expected_earliest = if keep_recent == 0 { first } else { version.saturating_sub(keep_recent).max(first) };
            prop_assert_eq!(earliest, expected_earliest);
            for (v, m) in &history {
                if *v >= earliest {
                    check_version(&storage, *v, m)?;
                } else {
                    let pruned = matches!(storage.snapshot(*v), Err(StorageError::Pruned { .. }));
                    prop_assert!(pruned, "version {} should be pruned", v);
                }
            }
        }
    }
}
