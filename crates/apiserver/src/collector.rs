//! The controllers a real cluster runs beside the API server that finish
//! what a DELETE starts: the garbage collector (dependents of an owner that
//! went, orphaning, foreground deletion), the namespace controller (a
//! terminating namespace's content) and the CRD finalizer (a deleted CRD's
//! instances), the TTL-after-finished controller (a finished Job with
//! `ttlSecondsAfterFinished` deleted when it runs out), and the two that
//! put into every namespace what a real one
//! holds (the `default` ServiceAccount, the `kube-root-ca.crt` ConfigMap). A
//! DELETE only marks or removes its object and queues their
//! work here; the server's controller task runs it a moment later, each
//! step a write of its own that watches see, so a client finds dependents
//! still there right after the owner's DELETE, as on a real cluster.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;

use super::state::Key;

/// One piece of work, named by what the real controller keys its queue on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Work {
    /// The garbage collector's `attemptToDelete` for the dependents of the
    /// object with this uid (gone, or waiting for them in the foreground).
    Owner(String),
    /// `attemptToDelete` for one object: written with an owner reference
    /// that finds no owner (a wrong name, kind or uid, an owner not made
    /// yet), so it is collected as a dependent of an owner that went.
    Dependent(Key),
    /// The object with this uid may wait for its dependents in the
    /// foreground (it was just deleted so, or a dependent went): released
    /// if none blocks it any more.
    Foreground(String),
    /// `attemptToOrphan`: the object with this uid holds the `orphan`
    /// finalizer; its dependents lose their references to it, then it
    /// loses the finalizer.
    Orphan(String),
    /// The namespace controller's pass over a terminating namespace.
    Namespace(String),
    /// The CRD finalizer's pass over a terminating CRD.
    Crd(String),
    /// The ServiceAccounts controller and the root CA publisher: the
    /// `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap every
    /// active namespace holds, made again when deleted.
    Populate(String),
    /// The Job controller's `syncJob` for the Job at this key.
    Job(Key),
    /// The Job controller's `syncOrphanPod`: the tracking finalizer taken
    /// off a pod whose Job is gone (or finished).
    OrphanPod(Key),
    /// The TTL-after-finished controller's look at the Job at this key.
    JobTtl(Key),
    /// The Deployment controller's `syncDeployment`.
    Deployment(Key),
    /// The ReplicaSet controller's `syncReplicaSet`.
    ReplicaSet(Key),
    /// The Endpoints controller's `syncService` for the Service at this key.
    Endpoints(Key),
    /// The Event at this key may have outlived the server's `--event-ttl`
    /// since its last write (etcd's lease on it).
    EventTtl(Key),
}

/// The most work one pass does while it holds the store: a cascade over
/// thousands of objects is many short passes, not one that keeps every
/// client waiting.
const PASS_LIMIT: usize = 128;

pub struct Collector {
    /// First in, first out, each piece once.
    queued: VecDeque<Work>,
    pending: HashSet<Work>,
    /// Work to be queued at a time of its own (a workqueue's `AddAfter`):
    /// a Job's TTL or active deadline running out, a retry after backoff,
    /// an Event's TTL; by work, and in the order it falls due (every
    /// Event and finished Job has some, so a pass must not walk them all).
    later: HashMap<Work, Instant>,
    due: std::collections::BTreeSet<(Instant, Work)>,
    /// Wakes the server's controller task (shared with the CRD controllers).
    signal: Arc<Notify>,
}

impl Collector {
    pub fn new(signal: Arc<Notify>) -> Self {
        Self {
            queued: VecDeque::new(),
            pending: HashSet::new(),
            later: HashMap::new(),
            due: std::collections::BTreeSet::new(),
            signal,
        }
    }

    /// Queued once however often it is asked for, as a controller's work
    /// queue keeps a key once.
    pub fn queue(&mut self, work: Work) {
        if self.pending.insert(work.clone()) {
            self.queued.push_back(work);
            self.signal.notify_one();
        }
    }

    /// The oldest work queued (with what fell due by `now`), at most a
    /// pass's worth; what this work queues waits for a later pass, as each
    /// step of a cascade waits for the watch event of the last.
    pub fn take(&mut self, now: Instant) -> Vec<Work> {
        while let Some((at, _)) = self.due.first()
            && *at <= now
        {
            let Some((_, work)) = self.due.pop_first() else {
                break;
            };
            self.later.remove(&work);
            self.queue(work);
        }
        let n = self.queued.len().min(PASS_LIMIT);
        let batch: Vec<Work> = self.queued.drain(..n).collect();
        for work in &batch {
            self.pending.remove(work);
        }
        if !self.queued.is_empty() {
            self.signal.notify_one();
        }
        batch
    }

    /// Work due now; work queued for later is not.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// `work` is to be queued at `at` (`AddAfter`); asked twice, the
    /// earlier time holds.
    pub fn queue_at(&mut self, work: Work, at: Instant) {
        // The controller task sleeps until the next work falls due; only
        // work due before that needs to wake it (an Event's TTL an hour
        // away, at every Event write, does not).
        let sooner = self.next_due().is_none_or(|next| at < next);
        match self.later.get(&work).copied() {
            Some(when) if when <= at => {}
            earlier => {
                if let Some(when) = earlier {
                    self.due.remove(&(when, work.clone()));
                }
                self.later.insert(work.clone(), at);
                self.due.insert((at, work));
            }
        }
        if sooner {
            self.signal.notify_one();
        }
    }

    /// When the next work queued for later falls due.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.first().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_taken_oldest_first_once_each_and_a_pass_at_a_time() {
        let mut collector = Collector::new(Arc::new(Notify::new()));
        for i in 0..300 {
            collector.queue(Work::Owner(format!("u{i}")));
        }
        collector.queue(Work::Owner("u0".into()));
        collector.queue(Work::Namespace("team-a".into()));
        let now = Instant::now();
        let first = collector.take(now);
        assert_eq!(first.len(), PASS_LIMIT);
        assert_eq!(first[0], Work::Owner("u0".into()));
        assert_eq!(collector.take(now).len(), PASS_LIMIT);
        let last = collector.take(now);
        assert_eq!(last.len(), 300 - 2 * PASS_LIMIT + 1, "u0 once");
        assert_eq!(last.last(), Some(&Work::Namespace("team-a".into())));
        assert!(collector.is_empty());
        collector.queue(Work::Owner("u0".into()));
        assert_eq!(
            collector.take(now),
            [Work::Owner("u0".into())],
            "queued again once taken"
        );
    }
}
