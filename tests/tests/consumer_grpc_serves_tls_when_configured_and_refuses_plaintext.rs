//! `[grpc] tls_cert_file` / `tls_key_file` in `ballast.toml` (a self-signed certificate for
//! `localhost`, paths relative to the home) make `ballastd dev` serve gRPC over TLS only: a
//! client that trusts the certificate follows the checkpoints (epoch 1 replayed, later epochs
//! live, until SEALED), asks `GetBtcTimestamp` (its ICS-23 proof verifies against the app hash of
//! the proof height, which the RPC's block header of the next height commits to) and
//! `GetConsumer`; a plaintext client gets no answer, and neither does a TLS client that does not
//! trust the certificate.

use ballast_proto::ballast::checkpointing::v1::CheckpointStatus;
use ballast_proto::ballast::consumer::v1 as pb;
use ballast_proto::ballast::consumer::v1::consumer_client::ConsumerClient;
use ballast_tests::consumer_grpc::{init_home, Setup, WAIT};
use ballast_tests::vigilante::DevChain;
use prost::Message;
use std::time::Duration;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grpc_is_served_over_tls_only_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("dev");
    let setup = Setup {
        epoch_length: 3,
        tls: Some(("config/grpc.crt".into(), "config/grpc.key".into())),
        ..Setup::default()
    };
    init_home(&home, &setup);
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = cert.cert.pem();
    std::fs::write(home.join("config/grpc.crt"), &cert_pem).unwrap();
    std::fs::write(home.join("config/grpc.key"), cert.key_pair.serialize_pem()).unwrap();
    let chain = tokio::task::block_in_place(|| DevChain::start(&home, 100));

    let tls = Endpoint::from_shared(format!("https://{}", chain.grpc))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&cert_pem))
                .domain_name("localhost"),
        )
        .unwrap()
        .connect_timeout(Duration::from_secs(10));
    let mut client = ConsumerClient::new(tls.connect().await.unwrap());

    // Checkpoints over TLS: epoch 1 from the replay, then each new epoch as it ends and seals.
    let mut events = client
        .subscribe_checkpoints(pb::SubscribeCheckpointsRequest { from_epoch: 1 })
        .await
        .unwrap()
        .into_inner();
    let mut sealed = std::collections::BTreeMap::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while sealed.len() < 3 {
        let e = tokio::time::timeout_at(deadline, events.message())
            .await
            .expect("checkpoint events arrive")
            .unwrap()
            .unwrap();
        assert!(e.epoch >= 1 && e.hub_height > 0, "{e:?}");
        if e.status == CheckpointStatus::Sealed as i32 {
            assert!(
                sealed.insert(e.epoch, e.hub_height).is_none(),
                "epoch {} sealed twice",
                e.epoch
            );
        }
    }
    assert_eq!(sealed.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3]);

    // A BTC timestamp of a height in epoch 2, proven against the app hash of the proof height.
    let ts = client
        .get_btc_timestamp(pb::GetBtcTimestampRequest { hub_height: 5 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((ts.epoch, ts.first_height, ts.last_height), (2, 4, 6));
    let record = ts.checkpoint.clone().unwrap();
    assert_eq!(record.epoch, 2);
    assert!(
        record.status >= CheckpointStatus::Sealed as i32,
        "{record:?}"
    );
    assert_eq!(ts.depth, None, "no Bitcoin submission on a dev chain");
    let app_hash = app_hash_of(&chain.rpc, ts.proof_height + 1).await;
    let proof = ics23::CommitmentProof::decode(ts.proof.as_slice()).unwrap();
    assert!(ics23::verify_membership::<ics23::HostFunctionsManager>(
        &proof,
        &jmt::ics23_spec(),
        &app_hash,
        &ts.proof_key,
        &record.encode_to_vec()
    ));

    let st = client
        .get_consumer(pb::GetConsumerRequest {
            consumer_id: "nobody".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::NotFound, "{st:?}");

    // Plaintext gets nowhere.
    let plain = Endpoint::from_shared(format!("http://{}", chain.grpc))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5));
    match plain.connect().await {
        Err(_) => {}
        Ok(ch) => {
            let st = ConsumerClient::new(ch)
                .get_consumer(pb::GetConsumerRequest {
                    consumer_id: "nobody".into(),
                })
                .await
                .unwrap_err();
            assert_ne!(
                st.code(),
                Code::NotFound,
                "a plaintext call was served: {st:?}"
            );
        }
    }
    // Neither does TLS without trusting the certificate.
    let untrusting = Endpoint::from_shared(format!("https://{}", chain.grpc))
        .unwrap()
        .tls_config(ClientTlsConfig::new().domain_name("localhost"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5));
    assert!(untrusting.connect().await.is_err());
}

/// The app hash in the header of `height`, from the node's CometBFT RPC.
async fn app_hash_of(rpc: &str, height: u64) -> Vec<u8> {
    let rpc = ballast_client::rpc::CometRpc::new(rpc).unwrap();
    rpc.wait_for_height(height, Duration::from_secs(30))
        .await
        .unwrap();
    let block = rpc
        .perform(tendermint_rpc::endpoint::block::Request::new(
            tendermint::block::Height::try_from(height).unwrap(),
        ))
        .await
        .unwrap();
    block.block.header.app_hash.as_bytes().to_vec()
}
