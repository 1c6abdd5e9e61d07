//! A `SubscribeValidatorSet` client that never reads, on `ballastd dev` with
//! `[grpc] subscriber_buffer = 4`: it holds its connection open (with small HTTP/2 windows, so
//! the node's socket cannot absorb much) while the consumer's set changes every epoch. The
//! node cuts it off: once it reads, it gets a contiguous prefix of the updates and then
//! RESOURCE_EXHAUSTED saying it fell more than 4 updates behind and where to resume. Meanwhile
//! the readers (on another connection) get every update in order, and blocks keep coming.

use ballast_proto::ballast::consumer::v1::consumer_client::ConsumerClient;
use ballast_tests::consumer_grpc::{next, read_through, subscribe, Setup, StreamChain};
use tonic::transport::Endpoint;
use tonic::Code;

const BUFFER: usize = 4;
const UPDATES: u64 = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_that_never_reads_is_cut_off_and_the_others_keep_up() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        subscriber_buffer: BUFFER,
        ..Setup::default()
    };
    let mut chain = StreamChain::start(&dir.path().join("dev"), &setup).await;
    chain.updates_until(1).await;

    let endpoint = Endpoint::from_shared(format!("http://{}", chain.chain.grpc))
        .unwrap()
        .initial_stream_window_size(Some(256))
        .initial_connection_window_size(Some(256));
    let mut idle_client = ConsumerClient::new(chain.channel(endpoint).await);
    let mut idle = subscribe(&mut idle_client, 0).await;

    let mut client = chain.client().await;
    let mut readers = Vec::new();
    for from in [0, 1] {
        let mut s = subscribe(&mut client, from).await;
        readers.push(tokio::spawn(async move {
            read_through(&mut s, from, UPDATES).await
        }));
    }
    chain.updates_until(UPDATES).await;
    for r in readers {
        let got = r.await.unwrap();
        assert_eq!(got.last().unwrap().update_id, UPDATES);
    }

    // Now the idle one reads: what its buffers held, then the cut-off.
    let mut got = Vec::new();
    let status = loop {
        match next(&mut idle).await {
            Ok(Some(u)) => got.push(u.update_id),
            Ok(None) => panic!("the idle stream ended OK after {got:?}"),
            Err(st) => break st,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status
            .message()
            .contains(&format!("fell more than {BUFFER} updates behind")),
        "{}",
        status.message()
    );
    let held = got.len() as u64;
    eprintln!(
        "the idle subscriber held {held} updates, then: {}",
        status.message()
    );
    assert_eq!(got, (1..=held).collect::<Vec<_>>(), "a contiguous prefix");
    assert!(held < UPDATES, "it was never cut off: {got:?}");
    assert!(
        status.message().contains(&format!("from_update_id {held}")),
        "{}",
        status.message()
    );
    assert!(
        matches!(next(&mut idle).await, Ok(None)),
        "the stream ended"
    );
    // It resumes where the message says.
    let mut again = subscribe(&mut client, held).await;
    let rest = read_through(&mut again, held, UPDATES).await;
    assert_eq!(rest.first().unwrap().update_id, held + 1);
}
