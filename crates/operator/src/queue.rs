//! The work queue, with client-go's guarantees: a key is queued at most
//! once, never processed by two workers at a time, and a key woken while
//! it is being processed runs again afterwards. Keys may be delayed
//! (backoff, timers); the earliest due time wins.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::cache::WorkKey;
use kbind_model::key::ObjKey;

/// An object change that woke a key: the object and its resourceVersion.
pub type Cause = (ObjKey, String);

#[derive(Default)]
struct Inner {
    due: HashMap<WorkKey, Instant>,
    order: BTreeSet<(Instant, WorkKey)>,
    processing: HashSet<WorkKey>,
    /// Woken while processing: re-queued at this time when done.
    again: HashMap<WorkKey, Instant>,
    /// What woke a key while it was processing, when every wake named
    /// its object change; a key woken otherwise too is not listed.
    again_causes: HashMap<WorkKey, Vec<Cause>>,
    /// Request keys woken by a change that also woke their promise while
    /// the promise's key was processing, with the changes: queued when it
    /// is done (its reconcile may write their bindings, which wakes them
    /// again), each change then noted as if it woke the key at that time.
    behind: HashMap<WorkKey, HashMap<WorkKey, Vec<Cause>>>,
    failures: HashMap<WorkKey, u32>,
}

#[derive(Default)]
pub struct Queue {
    inner: Mutex<Inner>,
    notify: Notify,
}

/// `rv` is no later than `mine` (resourceVersions compared as integers,
/// as every server kbind meets makes them; otherwise for equality).
fn rv_not_after(rv: &str, mine: &str) -> bool {
    match (rv.parse::<u64>(), mine.parse::<u64>()) {
        (Ok(a), Ok(b)) => a <= b,
        _ => rv == mine,
    }
}

/// Exponential backoff per key: 50 ms doubling to 10 s. The cap is low
/// because a failure here is usually transient (an API hiccup) and the
/// resync is the only other thing that would retry the key.
fn backoff(failures: u32) -> Duration {
    let ms = 50u64.saturating_mul(1u64 << failures.min(20));
    Duration::from_millis(ms.min(10_000))
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A worker that panicked mid-update leaves a consistent map.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add(&self, key: WorkKey) {
        self.add_at(key, Instant::now());
    }

    pub fn add_all(&self, keys: impl IntoIterator<Item = WorkKey>) {
        let now = Instant::now();
        let mut inner = self.lock();
        for key in keys {
            Self::insert(&mut inner, key, now);
        }
        drop(inner);
        self.notify.notify_waiters();
    }

    pub fn add_at(&self, key: WorkKey, at: Instant) {
        Self::insert(&mut self.lock(), key, at);
        self.notify.notify_waiters();
    }

    /// Wakes keys for an object change; a key being processed notes the
    /// change, so that `done` can tell the change was its own write.
    pub fn add_caused(&self, keys: impl IntoIterator<Item = WorkKey>, cause: &Cause) {
        let now = Instant::now();
        let mut inner = self.lock();
        let keys: Vec<WorkKey> = keys.into_iter().collect();
        // The promises this change woke whose reconcile is running.
        let running: HashSet<String> = keys
            .iter()
            .filter_map(|k| match k {
                WorkKey::Promise(p) if inner.processing.contains(k) => Some(p.clone()),
                _ => None,
            })
            .collect();
        for key in keys {
            if let WorkKey::Request { promise, .. } = &key
                && running.contains(promise)
            {
                inner
                    .behind
                    .entry(WorkKey::Promise(promise.clone()))
                    .or_default()
                    .entry(key)
                    .or_default()
                    .push(cause.clone());
                continue;
            }
            Self::note_cause(&mut inner, &key, cause);
            Self::schedule(&mut inner, key, now);
        }
        drop(inner);
        self.notify.notify_waiters();
    }

    /// Notes that `cause` woke `key`, if it is being processed: `done`
    /// tells from the causes whether the wakes were all its own writes.
    /// Only while every wake named its change (a wake naming none means
    /// run again whatever was written).
    fn note_cause(inner: &mut Inner, key: &WorkKey, cause: &Cause) {
        if inner.processing.contains(key) {
            let first = !inner.again.contains_key(key);
            if first || inner.again_causes.contains_key(key) {
                inner
                    .again_causes
                    .entry(key.clone())
                    .or_default()
                    .push(cause.clone());
            }
        }
    }

    /// A wake with no object change named: a key being processed runs
    /// again whatever it wrote.
    fn insert(inner: &mut Inner, key: WorkKey, at: Instant) {
        if inner.processing.contains(&key) {
            inner.again_causes.remove(&key);
        }
        Self::schedule(inner, key, at);
    }

    fn schedule(inner: &mut Inner, key: WorkKey, at: Instant) {
        if inner.processing.contains(&key) {
            let e = inner.again.entry(key).or_insert(at);
            *e = (*e).min(at);
            return;
        }
        if let Some(old) = inner.due.get(&key).copied() {
            if old <= at {
                return;
            }
            inner.order.remove(&(old, key.clone()));
        }
        inner.due.insert(key.clone(), at);
        inner.order.insert((at, key));
    }

    /// Waits for a due key and marks it as processing.
    pub async fn next(&self) -> WorkKey {
        loop {
            let notified = self.notify.notified();
            let wait = {
                let mut inner = self.lock();
                match inner.order.first().cloned() {
                    Some((at, key)) if at <= Instant::now() => {
                        inner.order.remove(&(at, key.clone()));
                        inner.due.remove(&key);
                        inner.processing.insert(key.clone());
                        return key;
                    }
                    Some((at, _)) => Some(at),
                    None => None,
                }
            };
            match wait {
                Some(at) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(at.into()) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Ends processing. `Ok(Some(at))` asks for another run at `at`;
    /// `Err(())` backs off exponentially.
    #[cfg(test)]
    pub fn done(&self, key: WorkKey, outcome: Result<Option<Instant>, ()>) {
        self.done_after(key, outcome, &[]);
    }

    /// `done`, for a run that wrote `own` (objects at the resourceVersions
    /// its writes left them): a wake during the run by those writes alone
    /// (their watch events) is not a reason to run again, since the run
    /// planned from them already.
    pub fn done_after(&self, key: WorkKey, outcome: Result<Option<Instant>, ()>, own: &[Cause]) {
        let mut inner = self.lock();
        inner.processing.remove(&key);
        let mut at = inner.again.remove(&key);
        let causes = inner.again_causes.remove(&key);
        let own_only = causes.is_some_and(|causes| {
            causes.iter().all(|(object, rv)| {
                own.iter()
                    .any(|(o, mine)| o == object && rv_not_after(rv, mine))
            })
        });
        if own_only && outcome.is_ok() {
            at = None;
        }
        let now = Instant::now();
        // A key held behind this one may be processing now, having seen
        // its own writes' events: the changes it was held for are not its
        // own, and must not be taken for them (or the wake is lost).
        for (waiting, causes) in inner.behind.remove(&key).unwrap_or_default() {
            for cause in &causes {
                Self::note_cause(&mut inner, &waiting, cause);
            }
            Self::schedule(&mut inner, waiting, now);
        }
        match outcome {
            Ok(requeue) => {
                inner.failures.remove(&key);
                if let Some(r) = requeue {
                    at = Some(at.map_or(r, |a| a.min(r)));
                }
            }
            Err(()) => {
                let n = inner.failures.entry(key.clone()).or_insert(0);
                *n += 1;
                let retry = Instant::now() + backoff(*n);
                // A wake during a failed run does not skip the backoff.
                at = Some(at.map_or(retry, |a| a.max(retry)));
            }
        }
        if let Some(at) = at {
            Self::insert(&mut inner, key, at);
        }
        drop(inner);
        self.notify.notify_waiters();
    }

    /// Keys queued or being processed.
    pub fn depth(&self) -> usize {
        let inner = self.lock();
        inner.due.len() + inner.processing.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::cache::WorkKey as Key;

    /// The promise `redis` and its request `default/example`.
    fn promise_and_request() -> (Key, Key) {
        let promise = Key::Promise("redis".into());
        let request = Key::Request {
            promise: "redis".into(),
            namespace: "default".into(),
            label: "example".into(),
        };
        (promise, request)
    }

    fn cause(name: &str, rv: &str) -> super::Cause {
        (
            kbind_model::key::ObjKey::new("Job", "default", name),
            rv.to_string(),
        )
    }

    #[tokio::test]
    async fn requests_woken_with_their_running_promise_wait_for_it() {
        let q = super::Queue::default();
        let (promise, request) = promise_and_request();
        q.add(promise.clone());
        assert_eq!(q.next().await, promise);
        q.add_caused([promise.clone(), request.clone()], &cause("r", "3"));
        assert_eq!(q.depth(), 1, "only the promise, processing");
        q.done_after(promise.clone(), Ok(None), &[]);
        assert_eq!(q.next().await, promise, "woken again: not its own write");
        assert_eq!(q.next().await, request);
    }

    #[tokio::test]
    async fn a_wake_by_the_runs_own_write_does_not_run_it_again() {
        let q = super::Queue::default();
        let key = Key::Promise("redis".into());
        q.add(key.clone());
        assert_eq!(q.next().await, key);
        q.add_caused([key.clone()], &cause("j1", "7"));
        q.done_after(key.clone(), Ok(None), &[cause("j1", "7")]);
        assert_eq!(q.depth(), 0, "its own write's event");

        q.add(key.clone());
        assert_eq!(q.next().await, key);
        q.add_caused([key.clone()], &cause("j1", "9"));
        q.done_after(key.clone(), Ok(None), &[cause("j1", "8")]);
        assert_eq!(q.depth(), 1, "a later change by someone else");
        assert_eq!(q.next().await, key);

        q.add_caused([key.clone()], &cause("j1", "10"));
        q.add(key.clone());
        q.done_after(key.clone(), Ok(None), &[cause("j1", "10")]);
        assert_eq!(q.depth(), 1, "a wake with no cause named");
    }

    /// A request running beside its promise, which makes a revision: the
    /// revision's event wakes the request behind the promise; the request
    /// has meanwhile seen its own write's event. The change it has not
    /// planned from must run it again once the promise is done.
    #[tokio::test]
    async fn a_wake_held_behind_the_promise_is_not_taken_for_the_runs_own_write() {
        let q = super::Queue::default();
        let (promise, request) = promise_and_request();
        q.add(request.clone());
        assert_eq!(q.next().await, request);
        q.add(promise.clone());
        assert_eq!(q.next().await, promise);
        q.add_caused([request.clone()], &cause("own", "5"));
        q.add_caused([promise.clone(), request.clone()], &cause("revision", "6"));
        q.done_after(promise.clone(), Ok(None), &[cause("revision", "6")]);
        q.done_after(request.clone(), Ok(None), &[cause("own", "5")]);
        assert_eq!(q.depth(), 1, "the revision's wake kept");
        assert_eq!(q.next().await, request);
    }

    use super::*;

    fn key(n: &str) -> WorkKey {
        WorkKey::Promise(n.into())
    }

    #[tokio::test]
    async fn a_key_is_queued_once_and_rerun_when_woken_while_processing() {
        let q = Queue::default();
        q.add(key("a"));
        q.add(key("a"));
        assert_eq!(q.depth(), 1);
        let k = q.next().await;
        q.add(key("a"));
        assert_eq!(q.depth(), 1, "processing, not queued twice");
        q.done(k, Ok(None));
        assert_eq!(
            q.next().await,
            key("a"),
            "woken while processing: runs again"
        );
        q.done(key("a"), Ok(None));
        assert_eq!(q.depth(), 0);
    }

    #[tokio::test]
    async fn the_earliest_due_time_wins_and_failures_back_off() {
        let q = Queue::default();
        q.add_at(key("late"), Instant::now() + Duration::from_secs(3600));
        q.add(key("now"));
        assert_eq!(q.next().await, key("now"));
        q.done(key("now"), Err(()));
        q.add_at(key("late"), Instant::now());
        assert_eq!(q.next().await, key("late"));
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(30), Duration::from_secs(10));
    }
}
