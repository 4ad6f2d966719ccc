//! Events expire: a real server stores each Event under an etcd lease of
//! `--event-ttl` (an hour by default), renewed by every write of it
//! (`TTLFunc` answers the same TTL for creates and updates), and etcd
//! deletes it when the lease runs out — no deletion mark, no finalizers,
//! a DELETED watch event. A client that raises an Event's count must be
//! ready to find it gone, as client-go's recorder is.

use std::time::{Duration, Instant};

use super::collector::Work;
use super::state::{Key, ObjectStore};

/// `--event-ttl`'s default.
pub const DEFAULT_EVENT_TTL: Duration = Duration::from_secs(3600);

pub(super) fn is_event(key: &Key) -> bool {
    key.plural == "events" && (key.group.is_empty() || key.group == "events.k8s.io")
}

/// When each stored Event was last written, and how long it outlives that.
#[derive(Debug)]
pub(crate) struct EventLeases {
    ttl: Duration,
    written: std::collections::HashMap<Key, Instant>,
}

impl Default for EventLeases {
    fn default() -> Self {
        Self {
            ttl: DEFAULT_EVENT_TTL,
            written: Default::default(),
        }
    }
}

impl ObjectStore {
    /// `--event-ttl`: how long an Event outlives its last write.
    pub fn set_event_ttl(&mut self, ttl: Duration) {
        self.event_leases.ttl = ttl;
        // Events already stored (replayed from a state file) are looked at
        // by the new TTL; a longer one defers them when they fall due.
        let due: Vec<(Key, Instant)> = self
            .event_leases
            .written
            .iter()
            .map(|(key, written)| (key.clone(), *written + ttl))
            .collect();
        for (key, at) in due {
            self.queue_work_at(Work::EventTtl(key), at);
        }
    }

    /// An Event was written (or replayed at start): its lease starts over.
    pub(super) fn follow_event_ttl(&mut self, key: &Key) {
        if !is_event(key) {
            return;
        }
        let now = Instant::now();
        self.event_leases.written.insert(key.clone(), now);
        let due = now + self.event_leases.ttl;
        self.queue_work_at(Work::EventTtl(key.clone()), due);
    }

    pub(super) fn forget_event_lease(&mut self, key: &Key) {
        self.event_leases.written.remove(key);
    }

    /// The lease of the Event at `key` may have run out: gone if it has,
    /// looked at again when it will if it was written since.
    pub(super) fn expire_event(&mut self, key: &Key) {
        let Some(written) = self.event_leases.written.get(key).copied() else {
            return;
        };
        let due = written + self.event_leases.ttl;
        if due > Instant::now() {
            self.queue_work_at(Work::EventTtl(key.clone()), due);
            return;
        }
        let (Some(r), Some(event)) = (self.resource_of(key), self.objects_get(key)) else {
            self.forget_event_lease(key);
            return;
        };
        self.remove(&r, key.clone(), event);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(name: &str) -> serde_json::Value {
        json!({"metadata": {"name": name, "namespace": "default"},
            "involvedObject": {"kind": "ConfigMap", "name": "c", "namespace": "default"},
            "reason": "Made", "message": "m", "type": "Normal", "count": 1})
    }

    #[test]
    fn an_event_goes_when_its_lease_runs_out_and_a_write_renews_it() {
        let mut store = ObjectStore::new();
        store.set_event_ttl(Duration::from_millis(200));
        let events = store.resource("", "v1", "events").cloned().unwrap();
        store.create(&events, "default", event("old")).unwrap();
        store.create(&events, "default", event("renewed")).unwrap();
        std::thread::sleep(Duration::from_millis(120));
        let mut raised = store.get(&events, "default", "renewed").unwrap();
        raised["count"] = json!(2);
        store
            .update(&events, "default", "renewed", raised, false)
            .unwrap();
        std::thread::sleep(Duration::from_millis(120));
        store.run_controllers(None);
        assert_eq!(
            store.get(&events, "default", "old").unwrap_err().code,
            404,
            "written 240 ms ago with a 200 ms lease"
        );
        assert_eq!(
            store.get(&events, "default", "renewed").unwrap()["count"],
            2,
            "written again 120 ms ago"
        );
        std::thread::sleep(Duration::from_millis(120));
        store.run_controllers(None);
        assert_eq!(
            store.get(&events, "default", "renewed").unwrap_err().code,
            404
        );
    }
}
