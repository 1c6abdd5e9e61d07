//! `ballast-consumer` against a `ballastd dev` hub whose gRPC is TLS only (a self-signed
//! certificate for `localhost`): configured with `--tls-ca` and `--tls-domain`, the demo
//! registers, funds and follows its consumer over TLS and verifies the first update. Without the
//! CA (plain gRPC) it gets nothing from the hub and keeps retrying. When the owner removes the
//! consumer, its stream ends and the demo says the consumer is STOPPED and exits 0.

// A test, not consensus code: it polls with wall-clock deadlines.
#![allow(clippy::disallowed_methods)]

use ballast_tests::consumer_demo::{
    assert_kept_equals_hub, command_ok, consumer_key, data_of, funded_owner, init, kept_set,
    opt_in, DemoConsumer,
};
use ballast_tests::consumer_grpc::{init_home, Setup};
use ballast_tests::vigilante::DevChain;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);
const ID: &str = "tls-1";

#[test]
fn the_demo_consumer_follows_over_tls_with_the_configured_ca_and_exits_when_the_consumer_stops() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("dev");
    init_home(
        &home,
        &Setup {
            epoch_length: 4,
            tls: Some(("config/grpc.crt".into(), "config/grpc.key".into())),
            ..Setup::default()
        },
    );
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let ca = dir.path().join("hub-ca.pem");
    std::fs::write(home.join("config/grpc.crt"), cert.cert.pem()).unwrap();
    std::fs::write(home.join("config/grpc.key"), cert.key_pair.serialize_pem()).unwrap();
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let chain = DevChain::start(&home, 150);
    let node = chain.rpc.clone();
    funded_owner(&chain);

    let config = init(
        dir.path(),
        "consumer",
        ID,
        &chain,
        &[
            "--tls-ca",
            ca.to_str().unwrap(),
            "--tls-domain",
            "localhost",
        ],
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("hub-ca.pem"), "{text}");
    command_ok(&config, &["register", "--fee-per-epoch", "500"]);
    command_ok(&config, &["fund", "--amount", "100000"]);
    // The status command reads the consumer over TLS.
    let status: serde_json::Value =
        serde_json::from_str(&command_ok(&config, &["status"])).unwrap();
    assert_eq!(status["hub"]["lease_balance"], "100000", "{status}");

    // A plaintext demo gets nothing from the TLS-only hub.
    let plain = init(dir.path(), "plain", ID, &chain, &[]);
    let mut blind = DemoConsumer::start(
        &plain,
        &["--trust-on-first-use"],
        &dir.path().join("plain.log"),
    );

    let mut demo = DemoConsumer::start(
        &config,
        &["--trust-on-first-use"],
        &dir.path().join("demo.log"),
    );
    opt_in(&home, &node, ID, &consumer_key(9), 10000);
    let l1 = demo.wait_line("update_id=1 ", WAIT);
    assert!(l1.ends_with(" verified"), "{l1}");
    assert_kept_equals_hub(&data_of(&config), &home, &node, ID);

    assert!(blind.lines().is_empty(), "{:?}", blind.lines());
    assert!(kept_set(&data_of(&plain)).is_none());
    assert!(blind.log().contains("reconnecting"), "{}", blind.log());
    let status = blind.signal("TERM", Duration::from_secs(10));
    assert!(status.success(), "{status}");

    // The owner removes the consumer: the demo reports it STOPPED and exits by itself.
    let removed = ballast_tests::cli::json_ok(
        &home,
        &[
            "tx",
            "consumers",
            "remove",
            ID,
            "--from",
            "owner",
            "--yes",
            "--keyring-backend",
            "test",
            "--node",
            &node,
            "-o",
            "json",
        ],
    );
    assert_eq!(removed["code"], 0, "{removed}");
    let status = demo.wait_exit(WAIT);
    assert!(status.success(), "{status}: {}", demo.log());
    let lines = demo.lines();
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("consumer tls-1 STOPPED at hub height ")
            && last.contains("STOP_REASON_REMOVED")
            && last.ends_with("after update_id=1"),
        "{lines:?}"
    );
}
