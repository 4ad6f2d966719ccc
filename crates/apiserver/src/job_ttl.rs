//! The TTL-after-finished controller: a Job that has finished (its
//! `Complete` or `Failed` condition true) and sets `ttlSecondsAfterFinished`
//! is deleted that long after the condition's transition — in the
//! foreground, with its uid as a precondition, as the real controller
//! deletes it — so a Job kbind made can vanish under it, as on a cluster.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::collector::Work;
use super::deletion::{DeleteOptions, Propagation};
use super::state::{Key, ObjectStore};

/// When `job` finished (`jobFinishTime`), in milliseconds since the epoch,
/// if it has finished.
fn finished_at(job: &Value) -> Option<i64> {
    job.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
        .and_then(|c| c["lastTransitionTime"].as_str())
        .and_then(|t| kbind_model::time::parse_time(t).ok())
}

/// When `job`'s TTL runs out, in milliseconds since the epoch, if it is one
/// the controller cleans up (`needsCleanup`, and not being deleted).
fn expires_at(job: &Value) -> Option<i64> {
    if job["metadata"]["deletionTimestamp"].is_string() {
        return None;
    }
    let ttl = job.pointer("/spec/ttlSecondsAfterFinished")?.as_i64()?;
    Some(finished_at(job)?.saturating_add(ttl.saturating_mul(1000)))
}

fn is_job(key: &Key) -> bool {
    key.group == "batch" && key.plural == "jobs"
}

impl ObjectStore {
    /// A Job was written: if it needs cleaning up, the controller looks at
    /// it again when its TTL runs out (`processTTL`'s `enqueueAfter`).
    pub(super) fn follow_job_ttl(&mut self, key: &Key, job: &Value) {
        if !is_job(key) {
            return;
        }
        if let Some(expires) = expires_at(job) {
            let left = expires.saturating_sub(self.now_millis()).max(0);
            let left = Duration::from_millis(u64::try_from(left).unwrap_or(0));
            self.queue_work_at(Work::JobTtl(key.clone()), Instant::now() + left);
        }
    }

    /// `processJob` for a Job whose TTL was due to run out: looked at
    /// afresh (its TTL may have changed), deleted if it truly has.
    pub(super) fn expire_job(&mut self, key: &Key) {
        let Some(job) = self.objects_get(key) else {
            return;
        };
        let Some(expires) = expires_at(&job) else {
            return;
        };
        if expires > self.now_millis() {
            self.follow_job_ttl(key, &job);
            return;
        }
        let Some(r) = self.resource_of(key) else {
            return;
        };
        let options = DeleteOptions {
            propagation: Some(Propagation::Foreground),
            uid: job["metadata"]["uid"].as_str().map(str::to_string),
            ..DeleteOptions::default()
        };
        let _ = self.delete_with(&r, &key.namespace, &key.name, &options);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn finished_job(ttl: Option<i64>, finished: &str) -> Value {
        let mut spec = json!({"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}]}}});
        if let Some(ttl) = ttl {
            spec["ttlSecondsAfterFinished"] = json!(ttl);
        }
        json!({"metadata": {"name": "j"}, "spec": spec, "status": {"conditions": [
            {"type": "Complete", "status": "True", "lastTransitionTime": finished}]}})
    }

    #[test]
    fn a_finished_job_goes_when_its_ttl_runs_out_and_not_before() {
        assert_eq!(
            expires_at(&finished_job(Some(10), "2026-01-01T00:00:00Z")),
            Some(1_767_225_610_000)
        );
        assert_eq!(
            expires_at(&finished_job(None, "2026-01-01T00:00:00Z")),
            None
        );
        let mut running = finished_job(Some(10), "2026-01-01T00:00:00Z");
        running["status"] = json!({"active": 1});
        assert_eq!(expires_at(&running), None, "not finished");

        let mut store = ObjectStore::new();
        let jobs = store.resource("batch", "v1", "jobs").cloned().unwrap();
        let now = kbind_model::time::rfc3339(kbind_model::time::now_millis());
        // Made, then finished by the Job controller's status write.
        let mut finish = |name: &str, ttl: i64| {
            let mut job = finished_job(Some(ttl), &now);
            job["metadata"]["name"] = json!(name);
            let mut done = store.create(&jobs, "default", job).unwrap();
            done["status"] = json!({"startTime": now, "completionTime": now, "succeeded": 1,
                "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
                    {"type": "Complete", "status": "True", "lastTransitionTime": now}]});
            store.update(&jobs, "default", name, done, true).unwrap();
        };
        finish("expired", 0);
        finish("kept", 3600);
        assert!(
            store.get(&jobs, "default", "expired").is_ok(),
            "deleted by the controller, after the write"
        );
        store.run_controllers(Some(Instant::now()));
        store.settle();
        assert!(
            store.get(&jobs, "default", "expired").is_err(),
            "its TTL ran out"
        );
        assert!(store.get(&jobs, "default", "kept").is_ok(), "an hour to go");
    }
}
