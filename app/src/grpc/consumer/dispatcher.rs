//! The one task that feeds every live stream.
//!
//! After each Commit (and when a subscriber registers) it reads the latest committed version
//! once: the new updates of each consumer that has subscribers, and one [`CheckpointPass`] when
//! anyone follows checkpoints. It hands each message to every subscriber with `try_send` into
//! that subscriber's bounded buffer. A subscriber whose buffer is full is cut off on the spot
//! (its stream ends with RESOURCE_EXHAUSTED once it has drained what it holds) and removed, so
//! a slow or dead client costs at most its buffer and never delays the others, let alone
//! block execution, which only ever sets a `watch` value.

use super::checkpoints::{CheckpointPass, CheckpointTracker};
use crate::metrics::Metrics;
use crate::App;
use ballast_proto::ballast::consumers::v1 as cpb;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch, Notify};

/// Most updates of one consumer read in one pass; more wait for the next pass, which follows
/// at once.
const MAX_UPDATES_PER_PASS: usize = 1024;

/// Why the dispatcher let go of a subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Its buffer was full when a message came.
    CutOff,
    /// The consumer is STOPPED and its last update was handed over.
    Finished,
    /// Reading the state failed.
    Failed(String),
}

/// The stream kinds, as the subscribers gauge labels them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamKind {
    /// `SubscribeValidatorSet`.
    ValidatorSet,
    /// `SubscribeCheckpoints`.
    Checkpoints,
}

impl StreamKind {
    fn label(self) -> &'static str {
        match self {
            StreamKind::ValidatorSet => "validator_set",
            StreamKind::Checkpoints => "checkpoints",
        }
    }
}

struct Sub<T> {
    tx: mpsc::Sender<T>,
    ended: Arc<OnceLock<Ended>>,
}

impl<T> Sub<T> {
    /// Hands `msg` over; `false` (after recording why) when the subscriber is to be dropped.
    fn offer(&self, msg: T, metrics: &Metrics, kind: StreamKind) -> bool {
        match self.tx.try_send(msg) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                let _ = self.ended.set(Ended::CutOff);
                metrics
                    .grpc_subscribers_cut_off
                    .with_label_values(&[kind.label()])
                    .inc();
                false
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }

    fn end(&self, why: Ended) {
        let _ = self.ended.set(why);
    }
}

struct ConsumerEntry {
    /// Tells this entry from an earlier one of the same consumer.
    generation: u64,
    /// Updates up to this id were handed over (or predate every subscriber).
    cursor: u64,
    subs: BTreeMap<u64, Sub<Arc<cpb::ValidatorSetUpdate>>>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    consumers: BTreeMap<String, ConsumerEntry>,
    checkpoints: BTreeMap<u64, Sub<Arc<CheckpointPass>>>,
}

struct Shared {
    registry: Mutex<Registry>,
    wake: Notify,
    buffer: usize,
    metrics: Arc<Metrics>,
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        // Nothing here panics while holding the lock; if something did, the registry is still
        // a set of channels, each consistent on its own.
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Handle to the dispatcher: registers subscribers. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Dispatcher {
    shared: Arc<Shared>,
}

/// A registered subscriber: its end of the buffer. Dropping it unregisters.
pub(crate) struct Subscription<T> {
    /// Messages, in order; `None` once the dispatcher let go (see `ended`).
    pub(crate) rx: mpsc::Receiver<T>,
    ended: Arc<OnceLock<Ended>>,
    /// For a validator-set subscriber: every update above this id will arrive on `rx`.
    pub(crate) cursor: u64,
    key: Option<String>,
    id: u64,
    shared: Arc<Shared>,
    kind: StreamKind,
}

impl<T> Subscription<T> {
    /// Why the dispatcher let go (once `rx` has returned `None`).
    pub(crate) fn ended(&self) -> Option<Ended> {
        self.ended.get().cloned()
    }

    /// The buffer size.
    pub(crate) fn buffer(&self) -> usize {
        self.shared.buffer
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        let mut reg = self.shared.registry();
        match &self.key {
            Some(consumer) => {
                if let Some(entry) = reg.consumers.get_mut(consumer) {
                    entry.subs.remove(&self.id);
                    if entry.subs.is_empty() {
                        reg.consumers.remove(consumer);
                    }
                }
            }
            None => {
                reg.checkpoints.remove(&self.id);
            }
        }
        drop(reg);
        self.shared
            .metrics
            .grpc_subscribers
            .with_label_values(&[self.kind.label()])
            .dec();
    }
}

impl Dispatcher {
    /// Starts the dispatcher over `app`, woken by `commits` (normally
    /// [`App::subscribe_commits`]); each subscriber gets a buffer of `buffer` messages. The task
    /// ends when the commit sender is gone; abort it to stop it sooner.
    pub(crate) fn spawn(
        app: App,
        commits: watch::Receiver<u64>,
        buffer: usize,
    ) -> (Dispatcher, tokio::task::JoinHandle<()>) {
        let shared = Arc::new(Shared {
            registry: Mutex::new(Registry::default()),
            wake: Notify::new(),
            buffer: buffer.max(1),
            metrics: app.metrics(),
        });
        let task = tokio::spawn(run(shared.clone(), app, commits));
        (Dispatcher { shared }, task)
    }

    fn subscription<T>(
        &self,
        rx: mpsc::Receiver<T>,
        ended: Arc<OnceLock<Ended>>,
        cursor: u64,
        key: Option<String>,
        id: u64,
        kind: StreamKind,
    ) -> Subscription<T> {
        self.shared
            .metrics
            .grpc_subscribers
            .with_label_values(&[kind.label()])
            .inc();
        Subscription {
            rx,
            ended,
            cursor,
            key,
            id,
            shared: self.shared.clone(),
            kind,
        }
    }

    /// Registers a subscriber to `consumer_id`'s updates. `last_update_id` is the consumer's
    /// last update id in a committed version read before this call. Every update above the
    /// returned subscription's `cursor` will be handed over; the caller replays the stored
    /// ones up to at least `cursor` itself (they are all committed).
    pub(crate) fn subscribe_validator_set(
        &self,
        consumer_id: &str,
        last_update_id: u64,
    ) -> Subscription<Arc<cpb::ValidatorSetUpdate>> {
        let (tx, rx) = mpsc::channel(self.shared.buffer);
        let ended = Arc::new(OnceLock::new());
        let mut reg = self.shared.registry();
        reg.next_id += 1;
        let id = reg.next_id;
        let entry = reg
            .consumers
            .entry(consumer_id.to_string())
            .or_insert(ConsumerEntry {
                generation: id,
                cursor: last_update_id,
                subs: BTreeMap::new(),
            });
        entry.subs.insert(
            id,
            Sub {
                tx,
                ended: ended.clone(),
            },
        );
        let cursor = entry.cursor;
        drop(reg);
        // A pass now catches a new entry up without waiting for the next block.
        self.shared.wake.notify_one();
        self.subscription(
            rx,
            ended,
            cursor,
            Some(consumer_id.to_string()),
            id,
            StreamKind::ValidatorSet,
        )
    }

    /// Registers a checkpoint subscriber: it gets one [`CheckpointPass`] per pass from now on.
    pub(crate) fn subscribe_checkpoints(&self) -> Subscription<Arc<CheckpointPass>> {
        let (tx, rx) = mpsc::channel(self.shared.buffer);
        let ended = Arc::new(OnceLock::new());
        let mut reg = self.shared.registry();
        reg.next_id += 1;
        let id = reg.next_id;
        reg.checkpoints.insert(
            id,
            Sub {
                tx,
                ended: ended.clone(),
            },
        );
        drop(reg);
        self.shared.wake.notify_one();
        self.subscription(rx, ended, 0, None, id, StreamKind::Checkpoints)
    }

    /// Subscribers registered now (validator set, checkpoints).
    #[cfg(test)]
    pub(crate) fn counts(&self) -> (usize, usize) {
        let reg = self.shared.registry();
        (
            reg.consumers.values().map(|e| e.subs.len()).sum(),
            reg.checkpoints.len(),
        )
    }
}

/// What one pass read for one consumer.
struct ConsumerRead {
    consumer_id: String,
    generation: u64,
    outcome: Result<(Vec<Arc<cpb::ValidatorSetUpdate>>, bool), String>,
}

async fn run(shared: Arc<Shared>, app: App, mut commits: watch::Receiver<u64>) {
    let mut tracker = CheckpointTracker::default();
    let mut again = false;
    loop {
        if !again {
            tokio::select! {
                changed = commits.changed() => {
                    if changed.is_err() {
                        tracing::debug!("the app is gone; the stream dispatcher stops");
                        return;
                    }
                }
                _ = shared.wake.notified() => {}
            }
        }
        commits.borrow_and_update();
        let (more, back) = pass(&shared, &app, tracker).await;
        tracker = back;
        again = more;
    }
}

/// One pass over the latest committed version. Returns whether updates are left for another
/// pass right away, and the tracker.
async fn pass(
    shared: &Arc<Shared>,
    app: &App,
    mut tracker: CheckpointTracker,
) -> (bool, CheckpointTracker) {
    let (targets, follow_checkpoints): (Vec<(String, u64, u64)>, bool) = {
        let reg = shared.registry();
        (
            reg.consumers
                .iter()
                .map(|(id, e)| (id.clone(), e.generation, e.cursor))
                .collect(),
            !reg.checkpoints.is_empty(),
        )
    };
    if !follow_checkpoints {
        tracker.reset();
    }
    if targets.is_empty() && !follow_checkpoints {
        return (false, tracker);
    }
    let app = app.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let snap = match app.storage().latest_snapshot() {
            Ok(Some(s)) => s,
            Ok(None) => return (Ok((Vec::new(), None, false)), tracker),
            Err(e) => return (Err(format!("latest committed state: {e}")), tracker),
        };
        let mut reads = Vec::with_capacity(targets.len());
        let mut more = false;
        for (consumer_id, generation, cursor) in targets {
            let outcome = read_new_updates(&snap, &consumer_id, cursor);
            if let Ok((_, _, left)) = &outcome {
                more |= *left;
            }
            reads.push(ConsumerRead {
                consumer_id,
                generation,
                outcome: outcome.map(|(u, stopped, _)| (u, stopped)),
            });
        }
        let checkpoints = follow_checkpoints.then(|| tracker.pass(&snap));
        (Ok((reads, checkpoints, more)), tracker)
    })
    .await;
    let (result, tracker) = match joined {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "the stream dispatcher's read panicked");
            fail_all(shared, &format!("the node could not read its state: {e}"));
            return (false, CheckpointTracker::default());
        }
    };
    let (reads, checkpoints, more) = match result {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "the stream dispatcher cannot read committed state");
            fail_all(shared, &e);
            return (false, tracker);
        }
    };
    let mut tracker = tracker;
    let metrics = &shared.metrics;
    let mut reg = shared.registry();
    for r in reads {
        let Some(entry) = reg.consumers.get_mut(&r.consumer_id) else {
            continue;
        };
        if entry.generation != r.generation {
            continue;
        }
        match r.outcome {
            Ok((updates, stopped)) => {
                for u in updates {
                    let id = u.update_id;
                    entry
                        .subs
                        .retain(|_, s| s.offer(u.clone(), metrics, StreamKind::ValidatorSet));
                    entry.cursor = id;
                }
                if stopped {
                    for s in entry.subs.values() {
                        s.end(Ended::Finished);
                    }
                    entry.subs.clear();
                }
            }
            Err(e) => {
                tracing::error!(consumer = %r.consumer_id, error = %e, "the stream dispatcher cannot read a consumer's updates");
                for s in entry.subs.values() {
                    s.end(Ended::Failed(e.clone()));
                }
                entry.subs.clear();
            }
        }
        if entry.subs.is_empty() {
            reg.consumers.remove(&r.consumer_id);
        }
    }
    match checkpoints {
        None => {}
        Some(Ok(p)) => {
            let p = Arc::new(p);
            reg.checkpoints
                .retain(|_, s| s.offer(p.clone(), metrics, StreamKind::Checkpoints));
        }
        Some(Err(e)) => {
            tracing::error!(error = %e, "the stream dispatcher cannot read the checkpoints");
            for s in reg.checkpoints.values() {
                s.end(Ended::Failed(e.clone()));
            }
            reg.checkpoints.clear();
            tracker.reset();
        }
    }
    (more, tracker)
}

/// The updates of `consumer_id` above `cursor` (at most [`MAX_UPDATES_PER_PASS`]), whether the
/// consumer is STOPPED with all of them read, and whether more are left.
#[allow(clippy::type_complexity)]
fn read_new_updates(
    snap: &crate::storage::Snapshot,
    consumer_id: &str,
    cursor: u64,
) -> Result<(Vec<Arc<cpb::ValidatorSetUpdate>>, bool, bool), String> {
    let consumer = ballast_consumers::read::consumer(snap, consumer_id)
        .map_err(|e| format!("consumer {consumer_id:?}: {e}"))?
        .ok_or_else(|| format!("consumer {consumer_id:?} is not in the committed state"))?;
    let updates = if consumer.last_update_id > cursor {
        ballast_consumers::read::updates_after(snap, consumer_id, cursor, MAX_UPDATES_PER_PASS)
            .map_err(|e| format!("updates of consumer {consumer_id:?}: {e}"))?
    } else {
        Vec::new()
    };
    let reached = updates.last().map_or(cursor, |u| u.update_id);
    let all_read = reached >= consumer.last_update_id;
    let stopped = consumer.status == cpb::ConsumerStatus::Stopped as i32 && all_read;
    Ok((
        updates.into_iter().map(Arc::new).collect(),
        stopped,
        !all_read,
    ))
}

fn fail_all(shared: &Shared, why: &str) {
    let mut reg = shared.registry();
    for entry in reg.consumers.values() {
        for s in entry.subs.values() {
            s.end(Ended::Failed(why.to_string()));
        }
    }
    reg.consumers.clear();
    for s in reg.checkpoints.values() {
        s.end(Ended::Failed(why.to_string()));
    }
    reg.checkpoints.clear();
}
