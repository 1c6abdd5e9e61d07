//! `ballast-consumer`, the demo consumer, against `ballastd dev`: it writes its config,
//! registers and funds a consumer with its own signed txs; the dev chain's operator opts in
//! (`ballastd tx consumers opt-in`), and the demo prints one "verified" line per update, each
//! checked against the app hash of a light-client-verified header, keeping the set the hub
//! reports. Killed with SIGKILL while an update happens, it resumes from its last update id
//! without printing old ones; across a restart of the hub it reconnects and goes on.
//!
//! A fresh data directory replays every update and verifies it again, also from a trusted
//! header configured above all of them (headers below it are linked by hash); a wrong trusted
//! hash is refused. Configs without a trusted header run with `--trust-on-first-use`. And a tampered update (power, key, set hash, proof, app hash) is refused:
//! exit code 2, the failed check named, nothing kept.

// A test, not consensus code: it polls with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use ballast_tests::consumer_demo::{
    assert_kept_equals_hub, command, command_ok, consumer_key, data_of, funded_owner, init,
    kept_set, last_update_id, line_field, opt_in, printed_ids, query, DemoConsumer,
};
use ballast_tests::vigilante::{wait_for, DevChain};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);
const ID: &str = "demo-1";
/// The configs without a trusted header trust the hub's first header, asked for explicitly.
const TOFU: &str = "--trust-on-first-use";

#[test]
fn the_demo_consumer_verifies_every_update_resumes_after_a_kill_and_a_hub_restart_and_refuses_tampering(
) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("dev");
    let mut chain = DevChain::start(&home, 250);
    let node = chain.rpc.clone();

    // The consumer's owner: a funded key in the dev home's test keyring.
    let owner = funded_owner(&chain);

    // init, register, fund.
    let config = init(dir.path(), "consumer", ID, &chain, &[]);
    let data = data_of(&config);
    let out = command_ok(
        &config,
        &[
            "register",
            "--fee-per-epoch",
            "1000",
            "--max-operators",
            "5",
        ],
    );
    assert!(
        out.contains(&format!("registered consumer {ID} (owner {owner}")),
        "{out}"
    );
    let out = command_ok(&config, &["fund", "--amount", "1000000ubal"]);
    assert!(
        out.contains("funded consumer demo-1 with 1000000 ubal"),
        "{out}"
    );
    let c = query(&home, &node, &["consumer", ID])["consumer"].clone();
    assert_eq!(c["owner"], owner.as_str(), "{c}");
    assert_eq!(c["lease_balance"], "1000000", "{c}");
    let status: Value = serde_json::from_str(&command_ok(&config, &["status"])).unwrap();
    assert_eq!(status["hub"]["owner"], owner.as_str(), "{status}");
    assert_eq!(status["local"]["update_id"], 0, "{status}");
    // A bad amount is refused before anything is sent.
    let bad = command(&config, &["fund", "--amount", "12uatom"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("whole number of ubal"));

    // Follow from before the first update; the operator opts in.
    let mut demo = DemoConsumer::start(&config, &[TOFU], &dir.path().join("demo.log"));
    opt_in(&home, &node, ID, &consumer_key(1), 5000);
    let l1 = demo.wait_line("update_id=1 ", WAIT);
    assert!(l1.ends_with(" verified"), "{l1}");
    assert_eq!(line_field(&l1, "validators").as_deref(), Some("1"), "{l1}");
    let hub_set = query(&home, &node, &["validator-set", ID])["set"].clone();
    assert_eq!(
        line_field(&l1, "total_power").unwrap(),
        hub_set["validators"][0]["power"].as_str().unwrap(),
        "{l1}\n{hub_set}"
    );
    assert!(
        hub_set["set_hash"]
            .as_str()
            .unwrap()
            .starts_with(&line_field(&l1, "set_hash").unwrap()),
        "{l1}\n{hub_set}"
    );
    assert_eq!(
        line_field(&l1, "hub_height").unwrap(),
        hub_set["hub_height"].as_str().unwrap()
    );
    assert_eq!(
        line_field(&l1, "epoch").unwrap(),
        hub_set["epoch"].as_str().unwrap()
    );
    assert_kept_equals_hub(&data, &home, &node, ID);
    // The light client recorded the header it verified.
    assert!(data.join("light_client.json").exists());

    // A larger allocation: update 2.
    opt_in(&home, &node, ID, &consumer_key(1), 8000);
    let l2 = demo.wait_line("update_id=2 ", WAIT);
    assert!(l2.ends_with(" verified"), "{l2}");
    let p1: u64 = line_field(&l1, "total_power").unwrap().parse().unwrap();
    let p2: u64 = line_field(&l2, "total_power").unwrap().parse().unwrap();
    assert!(p2 > p1, "{l1} / {l2}");
    assert_kept_equals_hub(&data, &home, &node, ID);

    // Killed; the operator changes its consumer key meanwhile (update 3).
    demo.signal("KILL", Duration::from_secs(10));
    assert_eq!(printed_ids(&demo.lines()), vec![1, 2]);
    opt_in(&home, &node, ID, &consumer_key(2), 8000);
    assert!(
        wait_for(WAIT, || last_update_id(&home, &node, ID) >= 3),
        "no update 3"
    );
    assert_eq!(kept_set(&data).unwrap()["update_id"], 2);

    // Restarted: it resumes after update 2, printing update 3 only.
    let mut demo = DemoConsumer::start(&config, &[TOFU], &dir.path().join("demo2.log"));
    let l3 = demo.wait_line("update_id=3 ", WAIT);
    assert!(l3.ends_with(" verified"), "{l3}");
    assert_eq!(line_field(&l3, "validators").as_deref(), Some("1"), "{l3}");
    assert_kept_equals_hub(&data, &home, &node, ID);
    let kept = kept_set(&data).unwrap();
    assert_eq!(
        kept["validators"][0]["pubkey"],
        consumer_key(2).as_str(),
        "{kept}"
    );
    assert!(demo.log().contains("from_update_id=2"), "{}", demo.log());

    // The hub restarts under it: it reconnects and goes on with update 4.
    chain.restart();
    opt_in(&home, &node, ID, &consumer_key(2), 3000);
    let l4 = demo.wait_line("update_id=4 ", WAIT);
    assert!(l4.ends_with(" verified"), "{l4}");
    assert_kept_equals_hub(&data, &home, &node, ID);
    assert!(demo.log().contains("reconnecting"), "{}", demo.log());
    let status = demo.signal("TERM", Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert_eq!(printed_ids(&demo.lines()), vec![3, 4]);
    let hub_last = last_update_id(&home, &node, ID);
    assert_eq!(hub_last, 4);

    // A fresh data directory replays and verifies every update (trust on first use).
    let fresh = init(dir.path(), "fresh", ID, &chain, &[]);
    let mut replay = DemoConsumer::start(&fresh, &[TOFU], &dir.path().join("fresh.log"));
    replay.wait_line("update_id=4 ", WAIT);
    assert_eq!(printed_ids(&replay.lines()), vec![1, 2, 3, 4]);
    assert_eq!(replay.lines()[..4], demo_lines_for(&[&l1, &l2, &l3, &l4]));
    drop(replay);

    // From a trusted header configured above every update: older headers are verified by
    // their hash links to it.
    let top = ballast_tests::checkpoint_rpc::wait_for_height(&node, 1, WAIT);
    let hash = hex::encode(ballast_tests::checkpoint_rpc::block_hash(&node, top));
    let pinned = init(
        dir.path(),
        "pinned",
        ID,
        &chain,
        &[
            "--trusted-height",
            &top.to_string(),
            "--trusted-hash",
            &hash,
        ],
    );
    let mut replay = DemoConsumer::start(&pinned, &[], &dir.path().join("pinned.log"));
    replay.wait_line("update_id=4 ", WAIT);
    assert_eq!(printed_ids(&replay.lines()), vec![1, 2, 3, 4]);
    drop(replay);
    // A wrong trusted hash is refused (exit 2), nothing kept.
    let mut wrong = hash.clone().into_bytes();
    wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong).unwrap();
    let bad_root = init(
        dir.path(),
        "badroot",
        ID,
        &chain,
        &[
            "--trusted-height",
            &top.to_string(),
            "--trusted-hash",
            &wrong,
        ],
    );
    let mut refused = DemoConsumer::start(&bad_root, &[], &dir.path().join("badroot.log"));
    let status = refused.wait_exit(WAIT);
    assert_eq!(status.code(), Some(2), "{}", refused.log());
    assert!(refused.log().contains("trusted_hash"), "{}", refused.log());
    assert!(refused.lines().is_empty());
    assert!(kept_set(&data_of(&bad_root)).is_none());

    // Tampered updates are refused with the check that caught them; nothing is kept.
    for (kind, check) in [
        ("power", "set_hash_mismatch"),
        ("key", "set_hash_mismatch"),
        ("set-hash", "set_hash_mismatch"),
        ("proof", "proof_invalid"),
        ("app-hash", "proof_invalid"),
    ] {
        let cfg = init(dir.path(), &format!("tamper-{kind}"), ID, &chain, &[]);
        let log = dir.path().join(format!("tamper-{kind}.log"));
        let mut t = DemoConsumer::start(&cfg, &[TOFU, "--tamper", kind], &log);
        let status = t.wait_exit(WAIT);
        let text = t.log();
        assert_eq!(status.code(), Some(2), "{kind}: {text}");
        assert!(text.contains("update 1 refused"), "{kind}: {text}");
        assert!(
            text.contains(&format!("[check: {check}]")),
            "{kind}: {text}"
        );
        assert!(t.lines().is_empty(), "{kind}: {:?}", t.lines());
        assert!(kept_set(&data_of(&cfg)).is_none(), "{kind}");
    }
}

/// The same update lines as printed by another run.
fn demo_lines_for(lines: &[&String]) -> Vec<String> {
    lines.iter().map(|l| l.to_string()).collect()
}
