//! `ballast-consumer run` needs a trust root for its light client: a configured hub header
//! (`light_client.trusted_height` and `trusted_hash`). Without one it refuses to start (exit 1,
//! naming the setting and the two ways to allow trust on first use) before contacting the hub
//! and without writing anything. `run --trust-on-first-use`, or `light_client.trust_on_first_use
//! = true` in the config, lets it start, with a warning in its log; a configured header needs
//! neither and logs no such warning. No hub runs here: a started demo keeps waiting for one
//! until SIGTERM.

// A test, not consensus code: it polls with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use ballast_tests::consumer_demo::{command_ok, data_of, DemoConsumer};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
const TOFU_WARNING: &str = "trusting the first header the hub serves (trust on first use)";

/// `init` of `<dir>/<name>.toml` for a hub that is not there, with `extra` flags.
fn init(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let config = dir.join(format!("{name}.toml"));
    let data = data_of(&config);
    let mut args = vec![
        "init",
        "--consumer-id",
        "demo-1",
        "--hub-grpc",
        "127.0.0.1:1",
        "--hub-rpc",
        "http://127.0.0.1:1",
        "--data-dir",
        data.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    assert!(command_ok(&config, &args).contains("wrote"));
    config
}

/// Waits until the demo's log contains `text`.
fn wait_log(demo: &DemoConsumer, text: &str) {
    let deadline = Instant::now() + WAIT;
    while !demo.log().contains(text) {
        assert!(
            Instant::now() < deadline,
            "no {text:?} in the log within {WAIT:?}:\n{}",
            demo.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The demo started with `config` and `extra` waits for the hub (it says so in its log) and
/// stops with status 0 on SIGTERM; returns its log.
fn starts_and_waits_for_the_hub(config: &Path, extra: &[&str], log: &Path) -> String {
    let mut demo = DemoConsumer::start(config, extra, log);
    wait_log(&demo, "cannot read the hub's chain id yet");
    let status = demo.signal("TERM", WAIT);
    assert!(status.success(), "{status}\n{}", demo.log());
    demo.log()
}

#[test]
fn the_demo_consumer_refuses_to_run_without_a_trusted_header_unless_told_to_trust_on_first_use() {
    let dir = tempfile::tempdir().unwrap();

    // No trusted header, nothing allowing trust on first use: refused at once.
    let bare = init(dir.path(), "bare", &[]);
    let text = std::fs::read_to_string(&bare).unwrap();
    assert!(text.contains("\ntrust_on_first_use = false\n"), "{text}");
    let mut demo = DemoConsumer::start(&bare, &[], &dir.path().join("bare.log"));
    let status = demo.wait_exit(WAIT);
    let log = demo.log();
    assert_eq!(status.code(), Some(1), "{log}");
    for part in [
        "light_client.trusted_height",
        "run --trust-on-first-use",
        "light_client.trust_on_first_use = true",
    ] {
        assert!(log.contains(part), "{part:?} not in:\n{log}");
    }
    assert!(!log.contains("chain id"), "it contacted the hub:\n{log}");
    assert!(demo.lines().is_empty(), "{:?}", demo.lines());
    assert!(
        !data_of(&bare).exists(),
        "the refused run wrote its data dir"
    );

    // `run --trust-on-first-use`: it starts, and warns.
    let log = starts_and_waits_for_the_hub(
        &bare,
        &["--trust-on-first-use"],
        &dir.path().join("flag.log"),
    );
    assert!(log.contains(TOFU_WARNING), "{log}");

    // `light_client.trust_on_first_use = true` in the config: the same without the flag.
    let keyed = init(dir.path(), "keyed", &[]);
    let text = std::fs::read_to_string(&keyed).unwrap();
    std::fs::write(
        &keyed,
        text.replace(
            "\ntrust_on_first_use = false\n",
            "\ntrust_on_first_use = true\n",
        ),
    )
    .unwrap();
    let log = starts_and_waits_for_the_hub(&keyed, &[], &dir.path().join("keyed.log"));
    assert!(log.contains(TOFU_WARNING), "{log}");

    // A configured header: no flag needed, no warning.
    let hash = "ab".repeat(32);
    let pinned = init(
        dir.path(),
        "pinned",
        &["--trusted-height", "5", "--trusted-hash", &hash],
    );
    let log = starts_and_waits_for_the_hub(&pinned, &[], &dir.path().join("pinned.log"));
    assert!(!log.contains("trust on first use"), "{log}");
}
