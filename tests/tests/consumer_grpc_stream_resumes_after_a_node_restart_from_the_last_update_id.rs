//! `SubscribeValidatorSet` across a node crash: a client follows a consumer on `ballastd dev`
//! (epochs of 2 blocks, a set change every epoch), the node is killed with SIGKILL (the stream
//! ends with an error, never with a silent OK), restarted on the same home, and the client
//! resubscribes from the last update id it holds. It gets every later update once and in
//! order; a replay from 0 after the restart gives byte for byte the updates it had before.

use ballast_tests::consumer_grpc::{
    check_against_store, next, read_through, subscribe, Setup, StreamChain,
};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_resumes_after_the_node_is_killed_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = StreamChain::start(&dir.path().join("dev"), &Setup::default()).await;
    chain.updates_until(2).await;
    let mut client = chain.client().await;
    let mut stream = subscribe(&mut client, 0).await;
    let mut got = read_through(&mut stream, 0, 2).await;
    chain.updates_until(4).await;
    got.extend(read_through(&mut stream, 2, 4).await);

    tokio::task::block_in_place(|| chain.chain.node.kill9());
    // The stream does not end as if the consumer had stopped: it fails.
    let end = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match next(&mut stream).await {
                Ok(Some(u)) => got.push(u),
                other => return other,
            }
        }
    })
    .await
    .expect("the stream notices the node is gone");
    assert!(end.is_err(), "the stream ended OK on a crash: {end:?}");
    let held = got.last().unwrap().update_id;
    let ids: Vec<u64> = got.iter().map(|u| u.update_id).collect();
    assert_eq!(ids, (1..=held).collect::<Vec<_>>());

    tokio::task::block_in_place(|| chain.chain.start_again());
    let mut client = chain.client().await;
    let mut stream = subscribe(&mut client, held).await;
    chain.updates_until(held + 3).await;
    got.extend(read_through(&mut stream, held, held + 3).await);
    let ids: Vec<u64> = got.iter().map(|u| u.update_id).collect();
    assert_eq!(ids, (1..=held + 3).collect::<Vec<_>>());
    // The store kept exactly what was streamed before the crash.
    let mut replay = subscribe(&mut client, 0).await;
    let again = read_through(&mut replay, 0, held + 3).await;
    assert_eq!(again, got);
    for u in &got {
        check_against_store(&mut client, u).await;
    }
}
