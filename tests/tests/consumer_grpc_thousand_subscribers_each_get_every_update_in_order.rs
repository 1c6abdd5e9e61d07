//! 1,000 concurrent `SubscribeValidatorSet` streams on one `ballastd dev` (over 10 HTTP/2
//! connections, 100 streams each), subscribed from different update ids: while the consumer's
//! set changes at every epoch end, each one receives every update above its starting id,
//! exactly once and in order, all identical to what the others got. None is cut off (the
//! default buffer of 256 is far above what a reading client lags).

use ballast_tests::consumer_grpc::{read_through, subscribe, Setup, StreamChain};

const SUBSCRIBERS: usize = 1000;
const CONNECTIONS: usize = 10;
const LIVE_UPDATES: u64 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_subscribers_each_get_every_update_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = StreamChain::start(&dir.path().join("dev"), &Setup::default()).await;
    chain.updates_until(2).await;
    let base = chain.last_update_id().await;
    let last = base + LIVE_UPDATES;

    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        clients.push(chain.client().await);
    }
    let mut streams = Vec::with_capacity(SUBSCRIBERS);
    for i in 0..SUBSCRIBERS {
        let client = &mut clients[i % CONNECTIONS];
        // Half from the start (replay then live), half from now (live only).
        let from = if i % 2 == 0 { 0 } else { base };
        streams.push((from, subscribe(client, from).await));
    }
    let readers: Vec<_> = streams
        .into_iter()
        .map(|(from, mut s)| tokio::spawn(async move { read_through(&mut s, from, last).await }))
        .collect();
    chain.updates_until(last).await;
    let mut reference: Option<Vec<_>> = None;
    for (i, r) in readers.into_iter().enumerate() {
        let got = r.await.unwrap_or_else(|e| panic!("subscriber {i}: {e}"));
        let ids: Vec<u64> = got.iter().map(|u| u.update_id).collect();
        let from = if i % 2 == 0 { 0 } else { base };
        assert_eq!(ids, (from + 1..=last).collect::<Vec<_>>(), "subscriber {i}");
        if from == 0 {
            match &reference {
                None => reference = Some(got),
                Some(want) => assert_eq!(&got, want, "subscriber {i} got other updates"),
            }
        } else {
            let want = reference.as_ref().expect("subscriber 0 came first");
            assert_eq!(&got[..], &want[base as usize..], "subscriber {i}");
        }
    }
}
