//! `SubscribeValidatorSet` on a running `ballastd dev` (epochs of 2 blocks; the operator's
//! allocation changes every epoch, so every epoch end writes an update): a client replays the
//! stored updates, follows live ones, disconnects (its connection closes) while the set keeps
//! changing, then resubscribes on a new connection from the last update id it holds. Together
//! it receives every update from 1 exactly once and in order, each equal to what the chain
//! stored (the set commitment at the update's height, proven with ICS-23 against that height's
//! root, has the same update id and set hash).

use ballast_tests::consumer_grpc::{
    check_against_store, next, read_through, subscribe, Setup, StreamChain,
};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_disconnects_resumes_from_its_last_update_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = StreamChain::start(&dir.path().join("dev"), &Setup::default()).await;
    chain.updates_until(3).await;

    let mut client = chain.client().await;
    let mut stream = subscribe(&mut client, 0).await;
    // The replay, then live updates.
    let mut got = read_through(&mut stream, 0, 3).await;
    chain.updates_until(6).await;
    got.extend(read_through(&mut stream, 3, 6).await);
    // Disconnect: the stream and its connection go away mid-flow.
    drop(stream);
    drop(client);
    let held = got.last().unwrap().update_id;
    chain.updates_until(held + 3).await;
    // Nothing in the store is lost while nobody listens; resume on a new connection.
    let mut client = chain.client().await;
    let mut stream = subscribe(&mut client, held).await;
    got.extend(read_through(&mut stream, held, held + 3).await);
    chain.updates_until(held + 5).await;
    got.extend(read_through(&mut stream, held + 3, held + 5).await);

    let ids: Vec<u64> = got.iter().map(|u| u.update_id).collect();
    assert_eq!(ids, (1..=held + 5).collect::<Vec<_>>());
    for u in &got {
        check_against_store(&mut client, u).await;
    }
    // No more than was written: nothing else arrives while the set stays.
    assert!(
        tokio::time::timeout(Duration::from_millis(600), next(&mut stream))
            .await
            .is_err(),
        "an update arrived that was never written"
    );
}
