//! One task per stream subscriber: it replays from stored state, then forwards what the
//! dispatcher hands it, into the one-message channel tonic reads the response stream from.
//!
//! The task waits on the client (a send into that channel) and never on the node; while it
//! waits, the dispatcher fills the subscriber's bounded buffer, and cuts it off when full.

use super::checkpoints::{self, is_final, same, CheckpointPass};
use super::dispatcher::{Ended, Subscription};
use super::{blocking, internal};
use crate::App;
use ballast_proto::ballast::consumer::v1::CheckpointEvent;
use ballast_proto::ballast::consumers::v1 as cpb;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tonic::Status;

/// Stored updates or checkpoints read per replay page.
pub(crate) const REPLAY_PAGE: usize = 64;

type Out<T> = mpsc::Sender<Result<T, Status>>;

/// Sends one message; `false` when the client is gone.
async fn send<T>(out: &Out<T>, item: Result<T, Status>) -> bool {
    out.send(item).await.is_ok()
}

/// The consumer and the stored updates above `after` (at most `limit`), from the latest
/// committed version.
fn read_updates(
    app: &App,
    consumer_id: &str,
    after: u64,
    limit: usize,
) -> Result<(Option<cpb::Consumer>, Vec<cpb::ValidatorSetUpdate>), Status> {
    let snap = super::latest_snapshot(app)?;
    let consumer = ballast_consumers::read::consumer(&snap, consumer_id).map_err(internal)?;
    let updates = ballast_consumers::read::updates_after(&snap, consumer_id, after, limit)
        .map_err(internal)?;
    Ok((consumer, updates))
}

fn cut_off_status(what: &str, buffer: usize, resume: &str) -> Status {
    Status::resource_exhausted(format!(
        "this subscriber fell more than {buffer} {what} behind (its buffer is full) and was \
         cut off so that it does not hold up the node or other subscribers; read faster or \
         resubscribe {resume}"
    ))
}

fn failed_status(why: &str, resume: &str) -> Status {
    Status::unavailable(format!(
        "the node could not read its committed state for this stream ({why}); resubscribe \
         {resume}"
    ))
}

/// Sends every stored update above `*last` of `consumer_id` (in pages), advancing `*last`.
/// Returns the consumer as last read, or `None` when the client is gone.
async fn send_stored(
    app: &App,
    consumer_id: &str,
    last: &mut u64,
    out: &Out<cpb::ValidatorSetUpdate>,
) -> Result<Option<cpb::Consumer>, Status> {
    loop {
        let (a, id, after) = (app.clone(), consumer_id.to_string(), *last);
        let (consumer, page) = blocking(move || read_updates(&a, &id, after, REPLAY_PAGE)).await?;
        let Some(consumer) = consumer else {
            return Err(Status::not_found(format!(
                "consumer {consumer_id:?} is not registered"
            )));
        };
        let full = page.len() == REPLAY_PAGE;
        for u in page {
            let id = u.update_id;
            if !send(out, Ok(u)).await {
                return Ok(None);
            }
            *last = id;
        }
        if !full {
            return Ok(Some(consumer));
        }
    }
}

/// `SubscribeValidatorSet`: replays the stored updates above `from`, then forwards live ones,
/// each update id exactly once and in order, until the consumer is STOPPED (after its last
/// update), the client leaves, or the subscriber is cut off.
pub(crate) async fn validator_set(
    app: App,
    consumer_id: String,
    from: u64,
    mut sub: Subscription<Arc<cpb::ValidatorSetUpdate>>,
    out: Out<cpb::ValidatorSetUpdate>,
) {
    let mut last = from;
    let resume = |last: u64| format!("with from_update_id {last}");
    // Replay: every stored update above `from`; they include every update up to the cursor
    // the dispatcher registered us at, which were all committed before we registered.
    match send_stored(&app, &consumer_id, &mut last, &out).await {
        Ok(None) => return,
        Ok(Some(c)) => {
            if c.status == cpb::ConsumerStatus::Stopped as i32 && last >= c.last_update_id {
                return;
            }
        }
        Err(st) => {
            send(&out, Err(st)).await;
            return;
        }
    }
    if last < sub.cursor {
        tracing::error!(consumer = %consumer_id, last, cursor = sub.cursor, "replay ended below the dispatcher's cursor");
    }
    loop {
        let next = tokio::select! {
            _ = out.closed() => return,
            next = sub.rx.recv() => next,
        };
        match next {
            Some(u) => {
                if u.update_id <= last {
                    continue;
                }
                if u.update_id > last.saturating_add(1) {
                    // Not expected (the dispatcher hands over every id above our cursor), but
                    // a gap must never reach a client: fill it from the store, and count it.
                    tracing::error!(consumer = %consumer_id, last, next = u.update_id, "the dispatcher skipped updates; refilling from the store");
                    app.metrics().grpc_stream_gaps_filled.inc();
                    if let Err(st) = send_stored(&app, &consumer_id, &mut last, &out).await {
                        send(&out, Err(st)).await;
                        return;
                    }
                    if u.update_id <= last {
                        continue;
                    }
                }
                let id = u.update_id;
                if !send(&out, Ok(Arc::unwrap_or_clone(u))).await {
                    return;
                }
                last = id;
            }
            None => {
                let end = match sub.ended() {
                    Some(Ended::Finished) => {
                        // Whatever is stored past what we sent, then the stream ends OK.
                        send_stored(&app, &consumer_id, &mut last, &out).await.err()
                    }
                    Some(Ended::CutOff) => {
                        Some(cut_off_status("updates", sub.buffer(), &resume(last)))
                    }
                    Some(Ended::Failed(why)) => Some(failed_status(&why, &resume(last))),
                    None => Some(failed_status(
                        "the stream dispatcher stopped",
                        &resume(last),
                    )),
                };
                if let Some(st) = end {
                    send(&out, Err(st)).await;
                }
                return;
            }
        }
    }
}

/// The checkpoint events of epochs `from..` up to `last_ended` at `height`, one page.
fn read_checkpoints(
    app: &App,
    height: u64,
    from: u64,
    last_ended: u64,
) -> Result<Vec<CheckpointEvent>, Status> {
    let snap = app.storage().snapshot(height).map_err(|e| {
        Status::aborted(format!(
            "the state at height {height} that this replay reads is no longer available ({e}); \
             resubscribe"
        ))
    })?;
    let tip = checkpoints::btc_tip_height(&snap);
    let to = last_ended.min(from.saturating_add(REPLAY_PAGE as u64 - 1));
    let mut out = Vec::new();
    for epoch in from..=to {
        if let Some(r) = checkpoints::record(&snap, epoch).map_err(internal)? {
            out.push(checkpoints::event_of(&r, tip, height));
        }
    }
    Ok(out)
}

/// `SubscribeCheckpoints`: replays the state of every checkpoint from `from_epoch` at one
/// height, synchronises on the first dispatcher pass above it, then forwards each change until
/// the client leaves or is cut off.
pub(crate) async fn checkpoints(
    app: App,
    from_epoch: u64,
    mut sub: Subscription<Arc<CheckpointPass>>,
    out: Out<CheckpointEvent>,
) {
    let from = from_epoch.max(1);
    let resume = |from: u64| format!("with from_epoch {from}");
    let a = app.clone();
    let start = blocking(move || {
        let snap = super::latest_snapshot(&a)?;
        let (_, last_ended) = checkpoints::layout(&snap).map_err(internal)?;
        Ok((snap.version(), last_ended))
    })
    .await;
    let (replay_height, replay_last_ended) = match start {
        Ok(v) => v,
        Err(st) => {
            send(&out, Err(st)).await;
            return;
        }
    };
    // Replay at one height; remember what was sent for the checkpoints that may still change.
    let mut sent_open: BTreeMap<u64, CheckpointEvent> = BTreeMap::new();
    let mut epoch = from;
    while epoch <= replay_last_ended {
        let a = app.clone();
        let page =
            match blocking(move || read_checkpoints(&a, replay_height, epoch, replay_last_ended))
                .await
            {
                Ok(p) => p,
                Err(st) => {
                    send(&out, Err(st)).await;
                    return;
                }
            };
        epoch = epoch.saturating_add(REPLAY_PAGE as u64);
        for e in page {
            if !is_final(&e) {
                sent_open.insert(e.epoch, e.clone());
            }
            if !send(&out, Ok(e)).await {
                return;
            }
        }
        if epoch == u64::MAX {
            break;
        }
    }
    let mut synced = false;
    loop {
        let next = tokio::select! {
            _ = out.closed() => return,
            next = sub.rx.recv() => next,
        };
        let Some(pass) = next else {
            let st = match sub.ended() {
                Some(Ended::CutOff) => {
                    cut_off_status("checkpoint passes", sub.buffer(), &resume(from))
                }
                Some(Ended::Failed(why)) => failed_status(&why, &resume(from)),
                Some(Ended::Finished) | None => {
                    failed_status("the stream dispatcher stopped", &resume(from))
                }
            };
            send(&out, Err(st)).await;
            return;
        };
        if pass.height <= replay_height {
            continue;
        }
        let events: Vec<CheckpointEvent> = if synced {
            pass.changed
                .iter()
                .filter(|e| e.epoch >= from)
                .cloned()
                .collect()
        } else {
            synced = true;
            match sync_events(&app, &pass, from, replay_last_ended, &sent_open).await {
                Ok(v) => v,
                Err(st) => {
                    send(&out, Err(st)).await;
                    return;
                }
            }
        };
        sent_open.clear();
        for e in events {
            if !send(&out, Ok(e)).await {
                return;
            }
        }
    }
}

/// The events that bring a subscriber who replayed up to `replay_last_ended` (with `sent_open`
/// the not-final checkpoints it sent) to the state of `pass`.
async fn sync_events(
    app: &App,
    pass: &CheckpointPass,
    from: u64,
    replay_last_ended: u64,
    sent_open: &BTreeMap<u64, CheckpointEvent>,
) -> Result<Vec<CheckpointEvent>, Status> {
    let mut events = Vec::new();
    for e in pass.full.values().filter(|e| e.epoch >= from) {
        if e.epoch <= replay_last_ended {
            // Sent in the replay: again only if it changed; a replayed FINALIZED one never.
            if let Some(old) = sent_open.get(&e.epoch) {
                if !same(old, e) {
                    events.push(e.clone());
                }
            }
        } else {
            events.push(e.clone());
        }
    }
    // A checkpoint open at the replay that the pass does not list (the dispatcher had no
    // earlier pass to notice its finalization): read it at the pass's height.
    let missing: Vec<u64> = sent_open
        .keys()
        .filter(|e| !pass.full.contains_key(e))
        .copied()
        .collect();
    if !missing.is_empty() {
        let (a, height) = (app.clone(), pass.height);
        let read = blocking(move || {
            let snap = a.storage().snapshot(height).map_err(internal)?;
            let tip = checkpoints::btc_tip_height(&snap);
            let mut out = Vec::new();
            for epoch in missing {
                if let Some(r) = checkpoints::record(&snap, epoch).map_err(internal)? {
                    out.push(checkpoints::event_of(&r, tip, height));
                }
            }
            Ok(out)
        })
        .await?;
        for e in read {
            if sent_open.get(&e.epoch).is_some_and(|old| !same(old, &e)) {
                events.push(e);
            }
        }
        events.sort_by_key(|e| e.epoch);
    }
    Ok(events)
}
