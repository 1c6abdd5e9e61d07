//! The consumer service over a store whose versions the tests write directly with the
//! consumers' and checkpointing's state keys, and a commit signal the tests send by hand.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::AppConfig;
use ballast_checkpointing::{state_key as ckpt_key, CheckpointStatus};
use ballast_consumers::state_key as key;
use ballast_framework::{BlockContext, MemState, Module};
use ballast_proto::ballast::checkpointing::v1 as ckpt_pb;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tonic::Code;

type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

struct Fixture {
    _dir: tempfile::TempDir,
    app: App,
    commits: watch::Sender<u64>,
    svc: ConsumerService,
    task: tokio::task::JoinHandle<()>,
    height: u64,
    /// The writes of the next commit.
    pending: Writes,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn put(w: &mut Writes, k: impl Into<String>, v: &impl Message) {
    w.insert(k.into().into_bytes(), Some(v.encode_to_vec()));
}

fn consumer(id: &str, status: cpb::ConsumerStatus, last_update_id: u64) -> cpb::Consumer {
    cpb::Consumer {
        consumer_id: id.into(),
        owner: "ballast1owner".into(),
        status: status as i32,
        lease_balance: "1000".into(),
        last_update_id,
        ..Default::default()
    }
}

fn update(id: &str, n: u64, hub_height: u64) -> cpb::ValidatorSetUpdate {
    cpb::ValidatorSetUpdate {
        consumer_id: id.into(),
        update_id: n,
        hub_height,
        epoch: n,
        changes: vec![cpb::ValidatorPower {
            pubkey: vec![(n % 251) as u8; 32],
            power: n,
            operator_btc_pk: vec![7; 32],
        }],
        set_hash: vec![(n % 251) as u8; 32],
    }
}

impl Fixture {
    async fn new(buffer: usize) -> Fixture {
        Self::with_config(buffer, 0).await
    }

    async fn with_config(buffer: usize, keep_recent: u64) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = AppConfig::new(dir.path());
        cfg.keep_recent = keep_recent;
        let app = App::open(cfg).unwrap();
        let (commits, rx) = watch::channel(0);
        let (dispatcher, task) = Dispatcher::spawn(app.clone(), rx, buffer);
        let mut f = Fixture {
            _dir: dir,
            svc: ConsumerService {
                app: app.clone(),
                dispatcher,
            },
            app,
            commits,
            task,
            height: 0,
            pending: Writes::new(),
        };
        // Genesis-like facts every read needs: the epoch layout (1, 5) and params.
        put(
            &mut f.pending,
            ckpt_key::epoch_config(),
            &ckpt_pb::EpochConfig {
                initial_height: 1,
                epoch_length: 5,
            },
        );
        put(
            &mut f.pending,
            ckpt_key::params(),
            &ballast_checkpointing::Params::default().to_proto(),
        );
        put(
            &mut f.pending,
            key::params(),
            &cpb::Params {
                max_reuse_ratio: "3.0".into(),
                deallocation_delay_epochs: 14,
                ..Default::default()
            },
        );
        f.commit();
        f
    }

    /// Commits the pending writes as the next version and signals it.
    fn commit(&mut self) {
        self.height += 1;
        let writes = std::mem::take(&mut self.pending);
        let staged = self
            .app
            .storage()
            .stage(self.height, &writes, BTreeMap::new())
            .unwrap();
        self.app.storage().commit(staged).unwrap();
        self.commits.send_replace(self.height);
    }

    fn register(&mut self, id: &str) {
        put(
            &mut self.pending,
            key::consumer(id),
            &consumer(id, cpb::ConsumerStatus::Registered, 0),
        );
    }

    /// Writes update `n` of `id` as the consumers module does (update, set, commitment,
    /// consumer's last update id), with `status`.
    fn add_update(&mut self, id: &str, n: u64, status: cpb::ConsumerStatus) {
        let h = self.height + 1;
        let u = update(id, n, h);
        put(&mut self.pending, key::update(id, n), &u);
        put(
            &mut self.pending,
            key::validator_set(id),
            &cpb::ConsumerValidatorSet {
                consumer_id: id.into(),
                update_id: n,
                hub_height: h,
                epoch: n,
                validators: u.changes.clone(),
                set_hash: u.set_hash.clone(),
            },
        );
        put(
            &mut self.pending,
            key::set_hash(id),
            &cpb::SetCommitment {
                consumer_id: id.into(),
                update_id: n,
                epoch: n,
                hub_height: h,
                set_hash: u.set_hash.clone(),
            },
        );
        put(
            &mut self.pending,
            key::consumer(id),
            &consumer(id, status, n),
        );
    }

    async fn subscribe(
        &self,
        id: &str,
        from: u64,
    ) -> Result<ReceiverStream<Result<cpb::ValidatorSetUpdate, Status>>, Status> {
        self.svc
            .subscribe_validator_set(Request::new(pb::SubscribeValidatorSetRequest {
                consumer_id: id.into(),
                from_update_id: from,
            }))
            .await
            .map(Response::into_inner)
    }

    /// Writes the checkpoint of `epoch` with `status`, moving its status index entry.
    fn set_checkpoint(
        &mut self,
        epoch: u64,
        old: Option<CheckpointStatus>,
        status: CheckpointStatus,
        later_btc_height: Option<u64>,
    ) {
        if let Some(old) = old {
            self.pending
                .insert(ckpt_key::status_index(old, epoch).into_bytes(), None);
        }
        self.pending.insert(
            ckpt_key::status_index(status, epoch).into_bytes(),
            Some(Vec::new()),
        );
        let tx = |h: u64, b: u8| ckpt_pb::SubmissionTx {
            txid: vec![b; 32],
            block_hash: vec![b; 32],
            block_height: h,
            tx_index: 1,
        };
        let rec = ckpt_pb::CheckpointRecord {
            epoch,
            block_hash: vec![epoch as u8; 32],
            status: status.to_proto() as i32,
            submission: later_btc_height.map(|h| ckpt_pb::Submission {
                part0: Some(tx(h - 1, 0xa0)),
                part1: Some(tx(h, 0xa1)),
                ..Default::default()
            }),
            ..Default::default()
        };
        put(&mut self.pending, ckpt_key::checkpoint(epoch), &rec);
    }

    /// Puts the light client's tip at `height` (the regtest genesis header as the base).
    fn set_btc_tip(&mut self, height: u64) {
        let genesis = serde_json::json!({
            "base_header": {
                "height": height,
                "header": ballast_btclightclient::BaseHeader::network_genesis(
                    ballast_btclightclient::BtcNetwork::Regtest
                ).header,
                "cumulative_work": "2",
            }
        });
        let mut mem = MemState::new();
        ballast_btclightclient::BtcLightClientModule::with_hooks(Vec::new())
            .init_genesis(&mut mem, &BlockContext::default(), Some(&genesis))
            .unwrap();
        for (k, v) in mem.entries() {
            self.pending.insert(k.clone(), Some(v.clone()));
        }
    }
}

async fn next<T>(s: &mut ReceiverStream<Result<T, Status>>) -> Option<Result<T, Status>> {
    tokio::time::timeout(Duration::from_secs(20), s.next())
        .await
        .expect("the stream answers within 20 s")
}

async fn next_ok<T: std::fmt::Debug>(s: &mut ReceiverStream<Result<T, Status>>) -> T {
    next(s).await.expect("the stream is open").unwrap()
}

#[test]
fn consumer_ids_are_checked() {
    for ok in ["a", "consumer-1", "chain_9.x", &"z".repeat(50)] {
        check_consumer_id(ok).unwrap();
    }
    for bad in ["", "a/b", "a b", "é", &"z".repeat(51)] {
        assert_eq!(
            check_consumer_id(bad).unwrap_err().code(),
            Code::InvalidArgument,
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn get_consumer_answers_the_record_params_and_height_or_a_clear_code() {
    let mut f = Fixture::new(8).await;
    f.register("alpha");
    f.commit();
    let r = f
        .svc
        .get_consumer(Request::new(pb::GetConsumerRequest {
            consumer_id: "alpha".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.height, 2);
    assert_eq!(r.consumer.unwrap().consumer_id, "alpha");
    assert_eq!(r.params.unwrap().deallocation_delay_epochs, 14);
    for (id, code) in [
        ("beta", Code::NotFound),
        ("", Code::InvalidArgument),
        ("a/b", Code::InvalidArgument),
    ] {
        let st = f
            .svc
            .get_consumer(Request::new(pb::GetConsumerRequest {
                consumer_id: id.into(),
            }))
            .await
            .unwrap_err();
        assert_eq!(st.code(), code, "{id:?}: {st:?}");
    }
    let st = f
        .svc
        .submit_evidence(Request::new(pb::SubmitEvidenceRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::Unimplemented);
    assert!(st.message().contains("slashing"), "{}", st.message());
}

fn verify(resp: &pb::GetValidatorSetResponse, value: Option<&[u8]>) -> bool {
    let proof = ics23::CommitmentProof::decode(resp.proof.as_slice()).unwrap();
    let spec = jmt::ics23_spec();
    match value {
        Some(v) => ics23::verify_membership::<ics23::HostFunctionsManager>(
            &proof,
            &spec,
            &resp.app_hash,
            &resp.proof_key,
            v,
        ),
        None => ics23::verify_non_membership::<ics23::HostFunctionsManager>(
            &proof,
            &spec,
            &resp.app_hash,
            &resp.proof_key,
        ),
    }
}

async fn get_set(
    f: &Fixture,
    id: &str,
    height: u64,
    prove: bool,
) -> Result<pb::GetValidatorSetResponse, Status> {
    f.svc
        .get_validator_set(Request::new(pb::GetValidatorSetRequest {
            consumer_id: id.into(),
            height,
            prove,
        }))
        .await
        .map(Response::into_inner)
}

#[tokio::test]
async fn validator_set_proofs_verify_against_the_root_and_a_tampered_commitment_fails() {
    let mut f = Fixture::new(8).await;
    f.register("alpha");
    f.commit(); // 2: registered, no update yet
    f.add_update("alpha", 1, cpb::ConsumerStatus::Active);
    f.commit(); // 3
    f.add_update("alpha", 2, cpb::ConsumerStatus::Active);
    f.commit(); // 4

    // Before the first update: an empty set and a non-existence proof.
    let r = get_set(&f, "alpha", 2, true).await.unwrap();
    assert_eq!(r.height, 2);
    assert_eq!(r.set.as_ref().unwrap().update_id, 0);
    assert!(r.commitment.is_none());
    assert_eq!(r.app_hash, f.app.storage().root_at(2).unwrap().to_vec());
    assert!(verify(&r, None));
    assert!(!verify(&r, Some(b"anything")));

    // The latest (height 0) and an older height, each proven against its own root.
    for (height, want_update, want_height) in [(0, 2, 4), (3, 1, 3)] {
        let r = get_set(&f, "alpha", height, true).await.unwrap();
        assert_eq!(r.height, want_height);
        assert_eq!(r.set.as_ref().unwrap().update_id, want_update);
        let c = r.commitment.clone().unwrap();
        assert_eq!(c.update_id, want_update);
        assert_eq!(r.proof_key, b"consumers/set_hash/alpha");
        assert_eq!(
            r.app_hash,
            f.app.storage().root_at(want_height).unwrap().to_vec()
        );
        assert!(verify(&r, Some(&c.encode_to_vec())), "height {height}");
        assert!(!verify(&r, None));
        // Tampering with the commitment (set hash or update id) breaks the proof.
        let mut t = c.clone();
        t.set_hash[0] ^= 1;
        assert!(!verify(&r, Some(&t.encode_to_vec())));
        let mut t = c.clone();
        t.update_id += 1;
        assert!(!verify(&r, Some(&t.encode_to_vec())));
        // And against another height's root.
        let mut other = r.clone();
        other.app_hash = f.app.storage().root_at(2).unwrap().to_vec();
        assert!(!verify(&other, Some(&c.encode_to_vec())));
    }
    // Without prove: no proof bytes.
    assert!(get_set(&f, "alpha", 0, false)
        .await
        .unwrap()
        .proof
        .is_empty());

    for (id, height, code) in [
        ("alpha", 5, Code::OutOfRange),
        ("alpha", 1_000, Code::OutOfRange),
        ("beta", 0, Code::NotFound),
        ("alpha", 1, Code::NotFound), // not registered yet at height 1
        ("bad id", 0, Code::InvalidArgument),
    ] {
        let st = get_set(&f, id, height, true).await.unwrap_err();
        assert_eq!(st.code(), code, "{id} at {height}: {st:?}");
    }
}

#[tokio::test]
async fn an_absence_that_ics23_cannot_prove_is_a_clear_error() {
    let mut f = Fixture::new(8).await;
    f.register("alpha");
    // Empty values (index entries) all around: ICS-23 proves neither them nor absence next to
    // them.
    for i in 0..64 {
        f.pending.insert(
            format!("consumers/live/c{i}").into_bytes(),
            Some(Vec::new()),
        );
    }
    f.commit();
    let st = get_set(&f, "alpha", 0, true).await.unwrap_err();
    assert_eq!(st.code(), Code::FailedPrecondition, "{st:?}");
    assert!(
        st.message().contains("cannot be proven"),
        "{}",
        st.message()
    );
    // Without prove the answer is there; after the first update the proof is too.
    assert_eq!(
        get_set(&f, "alpha", 0, false)
            .await
            .unwrap()
            .set
            .unwrap()
            .update_id,
        0
    );
    f.add_update("alpha", 1, cpb::ConsumerStatus::Active);
    f.commit();
    let r = get_set(&f, "alpha", 0, true).await.unwrap();
    assert!(verify(
        &r,
        Some(&r.commitment.clone().unwrap().encode_to_vec())
    ));
}

#[tokio::test]
async fn a_pruned_height_is_out_of_range() {
    let mut f = Fixture::with_config(8, 2).await;
    f.register("alpha");
    for _ in 0..5 {
        f.commit();
    }
    let earliest = f.app.storage().earliest_version().unwrap();
    assert!(earliest > 2, "pruning kept {earliest}");
    let st = get_set(&f, "alpha", earliest - 1, false).await.unwrap_err();
    assert_eq!(st.code(), Code::OutOfRange);
    assert!(st.message().contains("pruned"), "{}", st.message());
    get_set(&f, "alpha", earliest, true).await.unwrap();
}

#[tokio::test]
async fn subscribing_to_an_unknown_or_malformed_consumer_fails_at_once() {
    let f = Fixture::new(8).await;
    assert_eq!(
        f.subscribe("nobody", 0).await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(
        f.subscribe("no/body", 0).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    assert_eq!(f.svc.dispatcher.counts(), (0, 0));
}

#[tokio::test]
async fn the_stream_replays_then_goes_live_without_gap_or_duplicate() {
    let mut f = Fixture::new(256).await;
    f.register("alpha");
    for n in 1..=5 {
        f.add_update("alpha", n, cpb::ConsumerStatus::Active);
        f.commit();
    }
    let mut s = f.subscribe("alpha", 2).await.unwrap();
    for want in 3..=5 {
        assert_eq!(next_ok(&mut s).await.update_id, want);
    }
    // Live; a block without an update sends nothing.
    f.commit();
    for n in 6..=8 {
        f.add_update("alpha", n, cpb::ConsumerStatus::Active);
        f.commit();
    }
    for want in 6..=8 {
        assert_eq!(next_ok(&mut s).await.update_id, want);
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), s.next())
            .await
            .is_err(),
        "nothing more"
    );
    assert_eq!(f.svc.dispatcher.counts(), (1, 0));
    drop(s);
    // The dropped client is unregistered.
    for _ in 0..100 {
        if f.svc.dispatcher.counts() == (0, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(f.svc.dispatcher.counts(), (0, 0));
    assert_eq!(
        f.app
            .metrics()
            .grpc_subscribers
            .with_label_values(&["validator_set"])
            .get(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscribers_joining_while_blocks_commit_see_every_update_once_in_order() {
    const LAST: u64 = 300;
    let mut f = Fixture::new(1024).await;
    f.register("alpha");
    f.commit();
    let svc = f.svc.clone();
    // Subscribers join at different points while the updates commit, from different ids.
    let mut readers = Vec::new();
    let mut n = 0;
    while n < LAST {
        n += 1;
        f.add_update("alpha", n, cpb::ConsumerStatus::Active);
        f.commit();
        if n % 20 == 0 {
            let svc = svc.clone();
            let from = n / 3;
            readers.push(tokio::spawn(async move {
                let mut s = svc
                    .subscribe_validator_set(Request::new(pb::SubscribeValidatorSetRequest {
                        consumer_id: "alpha".into(),
                        from_update_id: from,
                    }))
                    .await
                    .unwrap()
                    .into_inner();
                let mut got = Vec::new();
                while got.last().copied() != Some(LAST) {
                    got.push(next_ok(&mut s).await.update_id);
                }
                (from, got)
            }));
        }
        if n % 7 == 0 {
            tokio::task::yield_now().await;
        }
    }
    assert_eq!(readers.len(), 15);
    for r in readers {
        let (from, got) = r.await.unwrap();
        let want: Vec<u64> = (from + 1..=LAST).collect();
        assert_eq!(got, want, "subscriber from {from}");
    }
    // Every update came from the dispatcher's hand-over, none from the gap refill.
    assert_eq!(f.app.metrics().grpc_stream_gaps_filled.get(), 0);
}

#[tokio::test]
async fn a_subscriber_with_a_full_buffer_is_cut_off_and_the_others_keep_up() {
    const BUFFER: usize = 2;
    let mut f = Fixture::new(BUFFER).await;
    f.register("alpha");
    f.commit();
    let mut idle = f.subscribe("alpha", 0).await.unwrap();
    let mut reader = f.subscribe("alpha", 0).await.unwrap();
    for n in 1..=12 {
        f.add_update("alpha", n, cpb::ConsumerStatus::Active);
        f.commit();
        assert_eq!(next_ok(&mut reader).await.update_id, n);
    }
    // The idle one held a few (its buffer, the message in flight), then got the error.
    let mut got = Vec::new();
    let status = loop {
        match next(&mut idle)
            .await
            .expect("the cut-off stream ends with an error")
        {
            Ok(u) => got.push(u.update_id),
            Err(st) => break st,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status
            .message()
            .contains(&format!("more than {BUFFER} updates behind")),
        "{}",
        status.message()
    );
    assert!(
        status
            .message()
            .contains(&format!("from_update_id {}", got.len())),
        "{}",
        status.message()
    );
    assert!(!got.is_empty() && got.len() < 12, "{got:?}");
    assert_eq!(got, (1..=got.len() as u64).collect::<Vec<_>>());
    assert!(next(&mut idle).await.is_none(), "the stream ended");
    assert_eq!(
        f.app
            .metrics()
            .grpc_subscribers_cut_off
            .with_label_values(&["validator_set"])
            .get(),
        1
    );
    // The reader goes on.
    f.add_update("alpha", 13, cpb::ConsumerStatus::Active);
    f.commit();
    assert_eq!(next_ok(&mut reader).await.update_id, 13);
    assert_eq!(f.svc.dispatcher.counts(), (1, 0));
}

#[tokio::test]
async fn a_stopped_consumers_stream_ends_ok_after_its_last_update() {
    let mut f = Fixture::new(8).await;
    f.register("alpha");
    f.add_update("alpha", 1, cpb::ConsumerStatus::Active);
    f.commit();
    let mut live = f.subscribe("alpha", 0).await.unwrap();
    assert_eq!(next_ok(&mut live).await.update_id, 1);
    f.add_update("alpha", 2, cpb::ConsumerStatus::Stopped);
    f.commit();
    assert_eq!(next_ok(&mut live).await.update_id, 2);
    assert!(next(&mut live).await.is_none(), "ends OK after the last");
    // Subscribing to a stopped one replays and ends.
    let mut late = f.subscribe("alpha", 0).await.unwrap();
    assert_eq!(next_ok(&mut late).await.update_id, 1);
    assert_eq!(next_ok(&mut late).await.update_id, 2);
    assert!(next(&mut late).await.is_none());
    let mut done = f.subscribe("alpha", 2).await.unwrap();
    assert!(next(&mut done).await.is_none());
}

async fn subscribe_checkpoints(
    f: &Fixture,
    from_epoch: u64,
) -> ReceiverStream<Result<pb::CheckpointEvent, Status>> {
    f.svc
        .subscribe_checkpoints(Request::new(pb::SubscribeCheckpointsRequest { from_epoch }))
        .await
        .unwrap()
        .into_inner()
}

fn brief(e: &pb::CheckpointEvent) -> (u64, i32, Option<u64>, Option<u64>) {
    (e.epoch, e.status, e.btc_height, e.depth)
}

#[tokio::test]
async fn checkpoint_events_replay_then_follow_status_block_and_depth_until_finalized() {
    use CheckpointStatus::*;
    let s = |st: CheckpointStatus| st.to_proto() as i32;
    let mut f = Fixture::new(64).await;
    f.set_btc_tip(100);
    // Heights 2..=5: epoch 1 ends at 5.
    for _ in 2..5 {
        f.commit();
    }
    f.set_checkpoint(1, None, Accumulating, None);
    f.commit(); // 5
    f.set_checkpoint(1, Some(Accumulating), Sealed, None);
    f.commit(); // 6
    let mut all = subscribe_checkpoints(&f, 0).await;
    let mut later = subscribe_checkpoints(&f, 2).await;
    let e = next_ok(&mut all).await;
    assert_eq!(brief(&e), (1, s(Sealed), None, None));
    assert_eq!(e.hub_height, 6);

    f.set_checkpoint(1, Some(Sealed), Submitted, Some(98));
    f.commit(); // 7
    let e = next_ok(&mut all).await;
    assert_eq!(brief(&e), (1, s(Submitted), Some(98), Some(2)));
    assert_eq!(e.btc_block_hash, vec![0xa1; 32]);
    assert_eq!(e.hub_height, 7);
    // The tip moves: only the depth changes.
    f.set_btc_tip(103);
    f.commit(); // 8
    assert_eq!(
        brief(&next_ok(&mut all).await),
        (1, s(Submitted), Some(98), Some(5))
    );
    f.commit(); // 9: nothing changes
    f.set_checkpoint(2, None, Accumulating, None);
    f.commit(); // 10: epoch 2 ends
    assert_eq!(
        brief(&next_ok(&mut all).await),
        (2, s(Accumulating), None, None)
    );
    assert_eq!(
        brief(&next_ok(&mut later).await),
        (2, s(Accumulating), None, None)
    );
    f.set_checkpoint(1, Some(Submitted), Finalized, Some(98));
    f.set_btc_tip(130);
    f.commit(); // 11
    assert_eq!(
        brief(&next_ok(&mut all).await),
        (1, s(Finalized), Some(98), Some(32))
    );
    // A finalized checkpoint says nothing more, whatever the tip does.
    f.set_btc_tip(140);
    f.commit();
    f.set_checkpoint(2, Some(Accumulating), Sealed, None);
    f.commit();
    assert_eq!(brief(&next_ok(&mut all).await), (2, s(Sealed), None, None));
    assert_eq!(
        brief(&next_ok(&mut later).await),
        (2, s(Sealed), None, None)
    );
    // A late subscriber replays the current state of each.
    let mut replay = subscribe_checkpoints(&f, 1).await;
    assert_eq!(
        brief(&next_ok(&mut replay).await),
        (1, s(Finalized), Some(98), Some(42))
    );
    assert_eq!(
        brief(&next_ok(&mut replay).await),
        (2, s(Sealed), None, None)
    );
    f.commit();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), replay.next())
            .await
            .is_err(),
        "no change, no event"
    );
    assert!(tokio::time::timeout(Duration::from_millis(50), all.next())
        .await
        .is_err());
}

#[tokio::test]
async fn get_btc_timestamp_gives_the_epoch_its_checkpoint_depth_and_a_proof() {
    let mut f = Fixture::new(8).await;
    f.set_btc_tip(120);
    for _ in 2..5 {
        f.commit();
    }
    f.set_checkpoint(1, None, CheckpointStatus::Confirmed, Some(110));
    f.commit(); // 5
    f.commit(); // 6
    let ask = |hub_height| {
        f.svc
            .get_btc_timestamp(Request::new(pb::GetBtcTimestampRequest { hub_height }))
    };
    let r = ask(3).await.unwrap().into_inner();
    assert_eq!((r.epoch, r.first_height, r.last_height), (1, 1, 5));
    assert_eq!(r.depth, Some(10));
    assert_eq!((r.confirmation_depth, r.finalization_timeout), (6, 20));
    assert_eq!(r.proof_height, 6);
    assert_eq!(r.proof_key, ckpt_key::checkpoint(1).into_bytes());
    let rec = r.checkpoint.clone().unwrap();
    assert_eq!(rec.status, CheckpointStatus::Confirmed.to_proto() as i32);
    let proof = ics23::CommitmentProof::decode(r.proof.as_slice()).unwrap();
    let root = f.app.storage().root_at(6).unwrap().to_vec();
    let spec = jmt::ics23_spec();
    assert!(ics23::verify_membership::<ics23::HostFunctionsManager>(
        &proof,
        &spec,
        &root,
        &r.proof_key,
        &rec.encode_to_vec()
    ));
    let mut tampered = rec.clone();
    tampered.status = CheckpointStatus::Finalized.to_proto() as i32;
    assert!(!ics23::verify_membership::<ics23::HostFunctionsManager>(
        &proof,
        &spec,
        &root,
        &r.proof_key,
        &tampered.encode_to_vec()
    ));
    // Epoch 2 has not ended: no checkpoint, a non-existence proof.
    let r = ask(6).await.unwrap().into_inner();
    assert_eq!((r.epoch, r.first_height, r.last_height), (2, 6, 10));
    assert!(r.checkpoint.is_none() && r.depth.is_none());
    let proof = ics23::CommitmentProof::decode(r.proof.as_slice()).unwrap();
    assert!(ics23::verify_non_membership::<ics23::HostFunctionsManager>(
        &proof,
        &spec,
        &root,
        &r.proof_key
    ));
    assert_eq!(ask(0).await.unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(ask(7).await.unwrap_err().code(), Code::OutOfRange);
}
