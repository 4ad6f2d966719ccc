//! When the in-server CRD controllers act. The naming controller looks at
//! a CRD after each write to it; the establishing controller takes a CRD
//! whose names it accepted after `establishing_delay`: none with one API
//! server, five seconds with several (the real `crdHandler` queues it with
//! that delay when `masterCount > 1`), which a store can be set to model.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::state::Key;

#[derive(Default)]
pub struct CrdQueue {
    naming: BTreeSet<Key>,
    establishing: BTreeMap<Key, Instant>,
    establishing_delay: Duration,
    /// Wakes the server's controller task.
    signal: Arc<Notify>,
}

impl CrdQueue {
    pub fn signal(&self) -> Arc<Notify> {
        self.signal.clone()
    }

    pub fn set_establishing_delay(&mut self, delay: Duration) {
        self.establishing_delay = delay;
    }

    /// The CRD was written: the naming controller looks at it next.
    pub fn name(&mut self, key: Key) {
        self.naming.insert(key);
        self.signal.notify_one();
    }

    /// The CRD's names are accepted and it is not established yet; queued
    /// once, as the real establishing controller's queue keeps a key once.
    pub fn establish(&mut self, key: Key) {
        if !self.establishing.contains_key(&key) {
            self.establishing
                .insert(key, Instant::now() + self.establishing_delay);
            self.signal.notify_one();
        }
    }

    /// The work due at `now` (everything when `None`): the CRDs to name,
    /// then those to establish.
    pub fn take_due(&mut self, now: Option<Instant>) -> (BTreeSet<Key>, Vec<Key>) {
        let naming = std::mem::take(&mut self.naming);
        let due: Vec<Key> = self
            .establishing
            .iter()
            .filter(|(_, at)| now.is_none_or(|now| **at <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in &due {
            self.establishing.remove(key);
        }
        (naming, due)
    }

    /// When the next CRD is due to be established.
    pub fn next_due(&self) -> Option<Instant> {
        self.establishing.values().min().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.naming.is_empty() && self.establishing.is_empty()
    }
}
