//! `ballast-consumer` against a `ballastd dev` hub that keeps only its last 20 state versions:
//! a consumer that starts after its updates' heights were pruned cannot prove them. It says
//! so (the update, its height, "pruned on the hub") and exits 1 without keeping anything; with
//! `run --resync-if-pruned` it instead jumps to the current set, proven at the latest height,
//! prints it with the updates it skipped, and then follows and verifies the next update live.

// A test, not consensus code: it polls with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use ballast_tests::consumer_demo::{
    assert_kept_equals_hub, command_ok, consumer_key, data_of, funded_owner, init, kept_set,
    last_update_id, line_field, opt_in, printed_ids, query, DemoConsumer,
};
use ballast_tests::vigilante::{wait_for, DevChain};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);
const ID: &str = "pruned-1";
const KEEP_RECENT: u64 = 20;

#[test]
fn a_consumer_behind_the_hubs_pruning_says_so_and_can_resync_to_the_proven_current_set() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("dev");
    let mut chain = DevChain::start(&home, 200);
    // Keep only the last KEEP_RECENT versions of the state.
    chain.stop();
    let cfg_path = home.join("config").join("ballast.toml");
    let text = std::fs::read_to_string(&cfg_path).unwrap();
    assert!(text.contains("keep_recent = 0"), "{text}");
    std::fs::write(
        &cfg_path,
        text.replace("keep_recent = 0", &format!("keep_recent = {KEEP_RECENT}")),
    )
    .unwrap();
    chain.start_again();
    let node = chain.rpc.clone();

    funded_owner(&chain);
    let config = init(dir.path(), "consumer", ID, &chain, &[]);
    command_ok(&config, &["register", "--fee-per-epoch", "1000"]);
    command_ok(&config, &["fund", "--amount", "1000000"]);

    // Two updates while no consumer follows, then their heights go out of the kept window.
    opt_in(&home, &node, ID, &consumer_key(5), 4000);
    assert!(wait_for(WAIT, || last_update_id(&home, &node, ID) >= 1));
    opt_in(&home, &node, ID, &consumer_key(5), 9000);
    assert!(wait_for(WAIT, || last_update_id(&home, &node, ID) >= 2));
    let set = query(&home, &node, &["validator-set", ID])["set"].clone();
    let h2: u64 = set["hub_height"].as_str().unwrap().parse().unwrap();
    ballast_tests::checkpoint_rpc::wait_for_height(&node, h2 + KEEP_RECENT + 5, WAIT);

    // Without --resync-if-pruned: a clear error, exit 1, nothing kept.
    let mut demo = DemoConsumer::start(
        &config,
        &["--trust-on-first-use"],
        &dir.path().join("strict.log"),
    );
    let status = demo.wait_exit(WAIT);
    let log = demo.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("update 1 cannot be verified"), "{log}");
    assert!(log.contains("is pruned on the hub"), "{log}");
    assert!(log.contains("--resync-if-pruned"), "{log}");
    assert!(demo.lines().is_empty(), "{:?}", demo.lines());
    assert!(kept_set(&data_of(&config)).is_none());

    // With it: the current set (update 2) is proven at the latest height and kept.
    let mut demo = DemoConsumer::start(
        &config,
        &["--trust-on-first-use", "--resync-if-pruned"],
        &dir.path().join("resync.log"),
    );
    let l2 = demo.wait_line("update_id=2 ", WAIT);
    assert!(l2.contains(" verified (resync at hub height "), "{l2}");
    assert!(l2.contains("updates 1..=1 skipped"), "{l2}");
    assert_eq!(line_field(&l2, "validators").as_deref(), Some("1"), "{l2}");
    assert_eq!(
        line_field(&l2, "hub_height").unwrap(),
        h2.to_string(),
        "{l2}"
    );
    assert_kept_equals_hub(&data_of(&config), &home, &node, ID);

    // The next update is followed live and verified at its own height.
    opt_in(&home, &node, ID, &consumer_key(5), 2500);
    let l3 = demo.wait_line("update_id=3 ", WAIT);
    assert!(l3.ends_with(" verified"), "{l3}");
    assert_kept_equals_hub(&data_of(&config), &home, &node, ID);
    let status = demo.signal("TERM", Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert_eq!(printed_ids(&demo.lines()), vec![2, 3]);
}
