//! The Job controller (1.32, `pkg/controller/job`), for the Jobs a batch
//! workflow makes: non-indexed, one pod at a time. A Job's pods are made
//! from its template (named `<job>-<5 characters>`, owned by the Job, held
//! by the `batch.kubernetes.io/job-tracking` finalizer until counted), each
//! create recorded as a `SuccessfulCreate` Event, or as `FailedCreate` with
//! the API server's refusal (a missing ServiceAccount …) and tried again
//! with backoff. The pods' phases become the Job's status: `active`,
//! `ready`, `succeeded`, `failed`; then `SuccessCriteriaMet` and `Complete`
//! (Event `Completed`), or `FailureTarget` and `Failed` once the backoff
//! limit or the active deadline is passed, or a pod failure policy rule
//! says so (the Event names the reason), the active pods deleted. A pod
//! failure that a policy rule ignores (a disruption) is not counted, and
//! the pod is replaced. No kubelet runs here: what moves a pod along is
//! whatever node stands in (the sandbox's simulated one).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::collector::Work;
use super::deletion::{BACKGROUND, DeleteOptions};
use super::pods::{deleting, ready};
use super::state::{Key, ObjectStore};

/// The finalizer that keeps a finished pod until the controller counted it.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
/// `DefaultJobApiBackOff` and `MaxJobApiBackOff`: retries after a failed
/// pod create.
const API_BACKOFF: Duration = Duration::from_secs(1);
const MAX_API_BACKOFF: Duration = Duration::from_secs(60);
/// `DefaultJobPodFailureBackOff` and its maximum: a replacement for a
/// failed pod waits this long, doubled per failure.
const POD_FAILURE_BACKOFF: Duration = Duration::from_secs(10);
const MAX_POD_FAILURE_BACKOFF: Duration = Duration::from_secs(600);
const COMPONENT: &str = "job-controller";

/// What the controller remembers of each Job between syncs: its backoff
/// records, forgotten with the Job.
#[derive(Debug, Default)]
pub(crate) struct Backoffs {
    /// Failed pod creates in a row, for the API backoff.
    failed_creates: HashMap<Key, u32>,
    /// When the Job's last pod failed (milliseconds since the epoch), for
    /// the pod failure backoff.
    pod_failures: HashMap<Key, i64>,
}

impl Backoffs {
    pub(crate) fn note_pod_failure(&mut self, job: &Key, at: i64) {
        let last = self.pod_failures.entry(job.clone()).or_insert(at);
        *last = (*last).max(at);
    }

    pub(crate) fn last_pod_failure(&self, job: &Key) -> Option<i64> {
        self.pod_failures.get(job).copied()
    }

    pub(crate) fn forget_failed_creates(&mut self, job: &Key) {
        self.failed_creates.remove(job);
    }

    /// One more failed pod create for `job`: the how-manyth.
    pub(crate) fn note_failed_create(&mut self, job: &Key) -> u32 {
        let n = self.failed_creates.entry(job.clone()).or_insert(0);
        *n += 1;
        *n
    }

    /// Whatever `key` named is gone.
    pub(crate) fn forget(&mut self, key: &Key) {
        self.failed_creates.remove(key);
        self.pod_failures.remove(key);
    }
}

fn condition(kind: &str, reason: &str, message: &str, at: &str) -> Value {
    json!({"type": kind, "status": "True", "reason": reason, "message": message,
        "lastProbeTime": at, "lastTransitionTime": at})
}

fn has_condition(job: &Value, kind: &str) -> bool {
    job["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

fn finished(job: &Value) -> bool {
    has_condition(job, "Complete") || has_condition(job, "Failed")
}

fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or_default()
}

fn terminal(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

fn tracked(pod: &Value) -> bool {
    pod["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == TRACKING_FINALIZER))
}

/// The Job a pod's controller reference names, if any.
pub fn controller_of(pod_key: &Key, pod: &Value) -> Option<Key> {
    pod["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
        .filter(|r| r["kind"] == "Job" && r["apiVersion"] == "batch/v1")
        .and_then(|r| r["name"].as_str())
        .map(|name| Key {
            group: "batch".into(),
            plural: "jobs".into(),
            namespace: pod_key.namespace.clone(),
            name: name.into(),
        })
}

/// What a pod failure policy makes of a failed pod (`matchPodFailurePolicy`):
/// the first rule that matches decides; none matching counts it.
#[derive(Debug, PartialEq)]
enum OnFailure {
    Count,
    Ignore,
    FailJob(String),
}

fn on_failure(job: &Value, pod: &Value) -> OnFailure {
    let rules = job["spec"]["podFailurePolicy"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    for (index, rule) in rules.iter().enumerate() {
        let action = rule["action"].as_str().unwrap_or_default();
        let by_condition = rule["onPodConditions"].as_array().is_some_and(|patterns| {
            patterns.iter().any(|p| {
                let status = p["status"].as_str().unwrap_or("True");
                pod["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == p["type"] && c["status"] == status)
                })
            })
        });
        let codes = &rule["onExitCodes"];
        let by_exit_code = codes.is_object().then_some(()).and_then(|()| {
            let values: Vec<i64> = codes["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_i64)
                .collect();
            let within = codes["operator"] == "In";
            let only = codes["containerName"].as_str();
            pod["status"]["containerStatuses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| only.is_none_or(|name| s["name"] == name))
                .filter_map(|s| {
                    let code = s["state"]["terminated"]["exitCode"].as_i64()?;
                    (code != 0 && values.contains(&code) == within)
                        .then(|| (s["name"].as_str().unwrap_or_default().to_string(), code))
                })
                .next()
        });
        if !by_condition && by_exit_code.is_none() {
            continue;
        }
        return match action {
            "Ignore" => OnFailure::Ignore,
            "FailJob" => OnFailure::FailJob(match by_exit_code {
                Some((container, code)) => format!(
                    "Container {container} for pod {}/{pod_name} failed with exit code {code} matching FailJob rule at index {index}",
                    pod["metadata"]["namespace"].as_str().unwrap_or_default()
                ),
                None => format!(
                    "Pod {}/{pod_name} has condition matching FailJob rule at index {index}",
                    pod["metadata"]["namespace"].as_str().unwrap_or_default()
                ),
            }),
            _ => OnFailure::Count,
        };
    }
    OnFailure::Count
}

/// When a failed pod failed (`getFinishedTime`): its containers' latest
/// `finishedAt`, else when it was deleted; in milliseconds since the epoch.
fn failed_at(pod: &Value) -> Option<i64> {
    ["initContainerStatuses", "containerStatuses"]
        .iter()
        .flat_map(|list| pod["status"][*list].as_array().into_iter().flatten())
        .filter_map(|s| s["state"]["terminated"]["finishedAt"].as_str())
        .filter_map(|t| kbind_model::time::parse_time(t).ok())
        .max()
        .or_else(|| {
            pod["metadata"]["deletionTimestamp"]
                .as_str()
                .and_then(|t| kbind_model::time::parse_time(t).ok())
        })
}

/// The pod the controller makes from a Job's template (`GetPodFromTemplate`).
fn pod_for(job: &Value) -> Value {
    let template = &job["spec"]["template"];
    let name = job["metadata"]["name"].as_str().unwrap_or_default();
    let mut metadata = json!({
        "generateName": format!("{name}-"),
        "finalizers": [TRACKING_FINALIZER],
        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name,
            "uid": job["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}],
    });
    for field in ["labels", "annotations"] {
        if template["metadata"][field].is_object() {
            metadata[field] = template["metadata"][field].clone();
        }
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
        "spec": template["spec"].clone()})
}

impl ObjectStore {
    /// A write the Job controller follows: a Job's, or a pod's its
    /// controller reference names.
    pub(super) fn follow_job_controller(&mut self, key: &Key, object: &Value) {
        if key.group == "batch" && key.plural == "jobs" {
            self.queue_work(Work::Job(key.clone()));
            if self.objects_ref(key).is_none() {
                // `deleteJob`: the pods it still holds are let go.
                let uid = object["metadata"]["uid"].as_str().unwrap_or_default();
                for pod in self.dependent_keys(uid) {
                    if pod.group.is_empty() && pod.plural == "pods" {
                        self.queue_work(Work::OrphanPod(pod));
                    }
                }
            }
        } else if key.group.is_empty() && key.plural == "pods" {
            match controller_of(key, object) {
                Some(job) if self.job_controls(&job, object) => self.queue_work(Work::Job(job)),
                _ if tracked(object) => self.queue_work(Work::OrphanPod(key.clone())),
                _ => {}
            }
        }
    }

    /// Whether the Job at `job` is there and is the one `pod`'s controller
    /// reference names (`resolveControllerRef`: by name, then uid).
    fn job_controls(&self, job: &Key, pod: &Value) -> bool {
        let Some(found) = self.objects_ref(job) else {
            return false;
        };
        pod["metadata"]["ownerReferences"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["controller"] == true && r["uid"] == found["metadata"]["uid"])
    }

    /// `syncOrphanPod`: a pod still holding the tracking finalizer whose
    /// Job is gone, finished or not a Job of this controller's is let go,
    /// unless a running Job of its own adopted it.
    pub(super) fn sync_orphan_pod(&mut self, key: &Key) {
        let Some(pod) = self.objects_get(key) else {
            return;
        };
        if !tracked(&pod) {
            return;
        }
        let controller = pod["metadata"]["ownerReferences"]
            .as_array()
            .and_then(|refs| refs.iter().find(|r| r["controller"] == true))
            .cloned();
        if let Some(reference) = controller {
            if reference["kind"] != "Job" || reference["apiVersion"] != "batch/v1" {
                return;
            }
            if let Some(job_key) = controller_of(key, &pod)
                && self.job_controls(&job_key, &pod)
                && let Some(job) = self.objects_get(&job_key)
                && !finished(&job)
            {
                return;
            }
        }
        self.untrack(key, &pod);
    }

    /// `syncJob` for one Job.
    pub(super) fn sync_job(&mut self, key: &Key) {
        let Some(job) = self.objects_get(key) else {
            return;
        };
        let uid = job["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let pods: Vec<(Key, Value)> = self
            .dependent_keys(&uid)
            .into_iter()
            .filter(|k| k.group.is_empty() && k.plural == "pods")
            .filter_map(|k| self.objects_get(&k).map(|o| (k, o)))
            .filter(|(k, o)| controller_of(k, o).as_ref() == Some(key))
            .collect();
        let managed_elsewhere = job["spec"]["managedBy"]
            .as_str()
            .is_some_and(|m| m != "kubernetes.io/job-controller");
        if managed_elsewhere {
            return;
        }
        if finished(&job) || deleting(&job) {
            // Nothing more is counted: the pods are let go.
            for (k, pod) in &pods {
                if tracked(pod) {
                    self.untrack(k, pod);
                }
            }
            return;
        }
        let now = self.now();
        let mut status = job["status"].clone();
        if !status.is_object() {
            status = json!({});
        }
        let count = |status: &Value, field: &str| status[field].as_i64().unwrap_or(0);
        let mut succeeded = count(&status, "succeeded");
        let mut failed = count(&status, "failed");
        let mut fail_job: Option<String> = None;
        let mut ignored_failure = false;
        // Pods that ended (or went) and are still held: counted once, then
        // let go.
        for (k, pod) in &pods {
            if !tracked(pod) || !(terminal(pod) || deleting(pod)) {
                continue;
            }
            if phase(pod) == "Succeeded" {
                succeeded += 1;
            } else {
                let at = failed_at(pod).unwrap_or_else(|| self.now_millis());
                self.job_backoffs.note_pod_failure(key, at);
                match on_failure(&job, pod) {
                    OnFailure::Count => failed += 1,
                    OnFailure::Ignore => ignored_failure = true,
                    OnFailure::FailJob(message) => {
                        failed += 1;
                        fail_job.get_or_insert(message);
                    }
                }
            }
            self.untrack(k, pod);
        }
        let active: Vec<&(Key, Value)> = pods
            .iter()
            .filter(|(_, p)| !terminal(p) && !deleting(p))
            .collect();
        let suspended = job["spec"]["suspend"] == true;
        if status["startTime"].is_null() && !suspended {
            status["startTime"] = json!(now);
        }
        let backoff_limit = job["spec"]["backoffLimit"].as_i64().unwrap_or(6);
        let deadline = job["spec"]["activeDeadlineSeconds"].as_i64();
        let started = status["startTime"]
            .as_str()
            .and_then(|t| kbind_model::time::parse_time(t).ok());
        let past_deadline = match (deadline, started) {
            (Some(seconds), Some(start)) if !suspended => {
                let due = start.saturating_add(seconds.saturating_mul(1000));
                let left = due - self.now_millis();
                if left > 0 {
                    let wait = Duration::from_millis(u64::try_from(left).unwrap_or(0));
                    self.queue_work_at(Work::Job(key.clone()), Instant::now() + wait);
                }
                left <= 0
            }
            _ => false,
        };
        let failure = if has_condition(&job, "FailureTarget") {
            let c = job["status"]["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "FailureTarget"))
                .cloned()
                .unwrap_or_default();
            Some((
                c["reason"].as_str().unwrap_or_default().to_string(),
                c["message"].as_str().unwrap_or_default().to_string(),
            ))
        } else if let Some(message) = fail_job {
            Some(("PodFailurePolicy".to_string(), message))
        } else if failed > backoff_limit {
            Some((
                "BackoffLimitExceeded".to_string(),
                "Job has reached the specified backoff limit".to_string(),
            ))
        } else if past_deadline {
            Some((
                "DeadlineExceeded".to_string(),
                "Job was active longer than specified deadline".to_string(),
            ))
        } else {
            None
        };
        let mut events: Vec<(&'static str, String, String)> = vec![];
        let mut active_count = active.len() as i64;
        if let Some((reason, message)) = &failure {
            for (k, pod) in &active {
                if self.delete_pod(k, pod) {
                    events.push((
                        "Normal",
                        "SuccessfulDelete".into(),
                        format!("Deleted pod: {}", k.name),
                    ));
                }
            }
            active_count = 0;
            status["conditions"] = json!([
                condition("FailureTarget", reason, message, &now),
                condition("Failed", reason, message, &now),
            ]);
            events.push(("Warning", reason.clone(), message.clone()));
        } else {
            let completions = job["spec"]["completions"].as_i64().unwrap_or(1);
            if succeeded >= completions && active.is_empty() {
                let message = "Reached expected number of succeeded pods";
                status["completionTime"] = json!(now);
                status["conditions"] = json!([
                    condition("SuccessCriteriaMet", "CompletionsReached", message, &now),
                    condition("Complete", "CompletionsReached", message, &now),
                ]);
                events.push(("Normal", "Completed".into(), "Job completed".into()));
            } else if suspended {
                for (k, pod) in &active {
                    self.delete_pod(k, pod);
                }
                active_count = 0;
                if !has_condition(&job, "Suspended") {
                    status["conditions"] = json!([condition(
                        "Suspended",
                        "JobSuspended",
                        "Job suspended",
                        &now
                    )]);
                    events.push(("Normal", "Suspended".into(), "Job suspended".into()));
                }
            } else {
                let parallelism = job["spec"]["parallelism"].as_i64().unwrap_or(1);
                let wanted = parallelism.min(completions - succeeded).max(0);
                if (active.len() as i64) < wanted {
                    active_count += self.start_pods(
                        key,
                        &job,
                        wanted - active.len() as i64,
                        failed,
                        ignored_failure,
                        &mut events,
                    );
                }
            }
        }
        let ready_count = active.iter().filter(|(_, p)| ready(p)).count() as i64;
        status["ready"] = json!(if failure.is_some() { 0 } else { ready_count });
        status["terminating"] = json!(0);
        status["uncountedTerminatedPods"] = json!({});
        // Counters Go leaves out at zero (`omitempty`).
        if let Some(m) = status.as_object_mut() {
            for (field, n) in [
                ("active", active_count),
                ("succeeded", succeeded),
                ("failed", failed),
            ] {
                if n > 0 {
                    m.insert(field.into(), json!(n));
                } else {
                    m.remove(field);
                }
            }
        }
        if status != job["status"] {
            let mut next = job.clone();
            next["status"] = status;
            let (written, _) = self.serving(super::namespace_defaults::controller_manager(), |s| {
                let r = s.resource_of(key)?;
                s.update(&r, &key.namespace, &key.name, next, true).ok()
            });
            if written.is_none() {
                // Conflicts and refusals are retried, as the workqueue does.
                self.queue_work_at(Work::Job(key.clone()), Instant::now() + API_BACKOFF);
                return;
            }
        }
        let job = self.objects_get(key).unwrap_or(job);
        for (type_, reason, message) in events {
            self.record_event(&job, COMPONENT, type_, &reason, &message);
        }
    }

    /// Creates up to `n` pods for `job`; returns how many were made. A
    /// replacement for a failed pod waits out the pod failure backoff; a
    /// refused create is recorded and tried again after the API backoff.
    fn start_pods(
        &mut self,
        key: &Key,
        job: &Value,
        n: i64,
        failed: i64,
        replacing: bool,
        events: &mut Vec<(&'static str, String, String)>,
    ) -> i64 {
        let failures = u32::try_from(failed).unwrap_or(u32::MAX);
        if (failures > 0 || replacing) && !self.backoff_elapsed(key, failures.max(1)) {
            return 0;
        }
        let Some(pods) = self.resource("", "v1", "pods").cloned() else {
            return 0;
        };
        let mut made = 0;
        for _ in 0..n {
            let pod = pod_for(job);
            match self
                .serving(super::namespace_defaults::controller_manager(), |s| {
                    s.create(&pods, &key.namespace, pod)
                })
                .0
            {
                Ok(created) => {
                    made += 1;
                    self.job_backoffs.forget_failed_creates(key);
                    let name = created["metadata"]["name"].as_str().unwrap_or_default();
                    events.push((
                        "Normal",
                        "SuccessfulCreate".into(),
                        format!("Created pod: {name}"),
                    ));
                }
                Err(e) => {
                    events.push((
                        "Warning",
                        "FailedCreate".into(),
                        format!("Error creating: {}", e.message),
                    ));
                    let attempt = self.job_backoffs.note_failed_create(key);
                    let wait = API_BACKOFF
                        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
                        .min(MAX_API_BACKOFF);
                    self.queue_work_at(Work::Job(key.clone()), Instant::now() + wait);
                    break;
                }
            }
        }
        made
    }

    /// Whether the pod failure backoff after the `failures`th failure has
    /// passed since the Job's last pod failed (`getRemainingTime`); if not,
    /// the Job is looked at again when it has.
    fn backoff_elapsed(&mut self, key: &Key, failures: u32) -> bool {
        let wait = POD_FAILURE_BACKOFF
            .saturating_mul(2u32.saturating_pow(failures - 1))
            .min(MAX_POD_FAILURE_BACKOFF);
        let Some(ended) = self.job_backoffs.last_pod_failure(key) else {
            return true;
        };
        let due = ended.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
        let left = due - self.now_millis();
        if left <= 0 {
            return true;
        }
        let wait = Duration::from_millis(u64::try_from(left).unwrap_or(0));
        self.queue_work_at(Work::Job(key.clone()), Instant::now() + wait);
        false
    }

    /// The tracking finalizer taken off a pod that was counted.
    fn untrack(&mut self, key: &Key, pod: &Value) {
        let mut next = pod.clone();
        let left: Vec<Value> = pod["metadata"]["finalizers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| *f != TRACKING_FINALIZER)
            .cloned()
            .collect();
        next["metadata"]["finalizers"] = json!(left);
        self.serving(super::namespace_defaults::controller_manager(), |s| {
            if let Some(r) = s.resource_of(key) {
                let _ = s.update(&r, &key.namespace, &key.name, next, false);
            }
        });
    }

    /// Deletes an active pod (the Job failed or was suspended); true if it
    /// was.
    fn delete_pod(&mut self, key: &Key, pod: &Value) -> bool {
        let options = DeleteOptions {
            uid: pod["metadata"]["uid"].as_str().map(str::to_string),
            ..BACKGROUND.clone()
        };
        self.serving(super::namespace_defaults::controller_manager(), |s| {
            s.resource_of(key).is_some_and(|r| {
                s.delete_with(&r, &key.namespace, &key.name, &options)
                    .is_ok()
            })
        })
        .0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job_with(policy: Value) -> Value {
        json!({"spec": {"podFailurePolicy": policy}})
    }

    fn failed_pod(code: i64, conditions: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "default"},
            "status": {"phase": "Failed", "conditions": conditions,
                "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": code}}}]}})
    }

    #[test]
    fn a_pod_failure_policy_ignores_disruptions_and_fails_on_chosen_codes() {
        let policy = json!({"rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]});
        let job = job_with(policy);
        let disrupted = failed_pod(137, json!([{"type": "DisruptionTarget", "status": "True"}]));
        assert_eq!(on_failure(&job, &disrupted), OnFailure::Ignore);
        assert_eq!(
            on_failure(&job, &failed_pod(42, json!([]))),
            OnFailure::FailJob(
                "Container c for pod default/p failed with exit code 42 matching FailJob rule at index 1"
                    .into()
            )
        );
        assert_eq!(
            on_failure(&job, &failed_pod(1, json!([]))),
            OnFailure::Count
        );
        assert_eq!(
            on_failure(&json!({}), &disrupted),
            OnFailure::Count,
            "no policy: every failure counts"
        );
    }

    fn objects_in(store: &ObjectStore, group: &str, plural: &str, ns: &str) -> Vec<(Key, Value)> {
        store
            .objects_iter()
            .filter(|(k, _)| k.group == group && k.plural == plural && k.namespace == ns)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn store_with_job(spec: Value) -> (ObjectStore, super::super::registry::Resource) {
        let mut store = ObjectStore::new();
        store.settle();
        let jobs = store.resource("batch", "v1", "jobs").cloned().unwrap();
        let mut spec = spec;
        spec["template"] = json!({"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}]}});
        store
            .create(
                &jobs,
                "default",
                json!({"metadata": {"name": "j"}, "spec": spec}),
            )
            .unwrap();
        store.settle();
        (store, jobs)
    }

    fn pods(store: &ObjectStore) -> Vec<Value> {
        objects_in(store, "", "pods", "default")
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    fn reasons(store: &ObjectStore) -> Vec<String> {
        let mut events: Vec<Value> = objects_in(store, "", "events", "default")
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        events.sort_by_key(|e| {
            e["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        });
        events
            .iter()
            .map(|e| e["reason"].as_str().unwrap().to_string())
            .collect()
    }

    /// What a node writes when the pod's one container exits with `code`.
    fn end_pod(store: &mut ObjectStore, code: i64) {
        let pods_r = store.resource("", "v1", "pods").cloned().unwrap();
        let mut pod = pods(store).pop().unwrap();
        let now = store.now();
        pod["status"]["phase"] = json!(if code == 0 { "Succeeded" } else { "Failed" });
        pod["status"]["containerStatuses"] = json!([{"name": "c", "image": "busybox",
            "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": code, "startedAt": now, "finishedAt": now,
                "reason": if code == 0 { "Completed" } else { "Error" }}}}]);
        let name = pod["metadata"]["name"].as_str().unwrap().to_string();
        store.update(&pods_r, "default", &name, pod, true).unwrap();
        store.settle();
    }

    #[test]
    fn a_job_runs_a_pod_and_completes_when_it_succeeds() {
        let (mut store, jobs) = store_with_job(json!({"backoffLimit": 0}));
        let made = pods(&store);
        assert_eq!(made.len(), 1, "one pod for the Job");
        let pod = &made[0];
        let name = pod["metadata"]["name"].as_str().unwrap();
        assert!(name.starts_with("j-"));
        let volume = pod["spec"]["volumes"][0]["name"].as_str().unwrap();
        assert!(volume.starts_with("kube-api-access-"));
        assert_ne!(name[2..], volume[16..], "each name generated on its own");
        assert_eq!(pod["metadata"]["finalizers"], json!([TRACKING_FINALIZER]));
        assert_eq!(
            pod["spec"]["serviceAccountName"],
            json!(null),
            "defaulted only as serviceAccount"
        );
        assert_eq!(pod["spec"]["serviceAccount"], "default");
        assert_eq!(pod["status"]["phase"], "Pending");
        let job = store.get(&jobs, "default", "j").unwrap();
        assert_eq!(job["status"]["active"], 1);
        assert!(job["status"]["startTime"].is_string());

        end_pod(&mut store, 0);
        let job = store.get(&jobs, "default", "j").unwrap();
        assert!(has_condition(&job, "SuccessCriteriaMet") && has_condition(&job, "Complete"));
        assert_eq!(job["status"]["succeeded"], 1);
        assert!(job["status"]["completionTime"].is_string());
        assert!(
            pods(&store)[0]["metadata"].get("finalizers").is_none(),
            "counted, then let go"
        );
        assert_eq!(reasons(&store), ["SuccessfulCreate", "Completed"]);
    }

    #[test]
    fn a_failed_pod_past_the_backoff_limit_fails_the_job() {
        let (mut store, jobs) = store_with_job(json!({"backoffLimit": 0}));
        end_pod(&mut store, 1);
        let job = store.get(&jobs, "default", "j").unwrap();
        assert!(has_condition(&job, "FailureTarget") && has_condition(&job, "Failed"));
        assert_eq!(job["status"]["failed"], 1);
        assert_eq!(
            job["status"]["conditions"][1]["reason"],
            "BackoffLimitExceeded"
        );
        assert_eq!(pods(&store).len(), 1, "no second pod");
        assert_eq!(
            reasons(&store),
            ["SuccessfulCreate", "BackoffLimitExceeded"]
        );
    }

    #[test]
    fn a_deleted_pod_is_counted_failed_and_let_go() {
        let (mut store, jobs) = store_with_job(json!({"backoffLimit": 6}));
        let pods_r = store.resource("", "v1", "pods").cloned().unwrap();
        let name = pods(&store)[0]["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_string();
        let held = store
            .delete_with(&pods_r, "default", &name, &Default::default())
            .unwrap();
        assert!(
            held["metadata"]["deletionTimestamp"].is_string(),
            "held by the tracking finalizer"
        );
        store.settle();
        assert!(
            store.get(&pods_r, "default", &name).is_err(),
            "the Job controller let it go"
        );
        let job = store.get(&jobs, "default", "j").unwrap();
        assert_eq!(job["status"]["failed"], 1);
        assert!(!finished(&job), "within its backoff limit");
        assert!(
            pods(&store).is_empty(),
            "its replacement waits out the pod failure backoff"
        );
    }

    #[test]
    fn a_running_jobs_pods_go_with_it() {
        let (mut store, jobs) = store_with_job(json!({}));
        assert_eq!(pods(&store).len(), 1);
        store
            .delete_with(&jobs, "default", "j", &super::super::deletion::BACKGROUND)
            .unwrap();
        store.settle();
        assert!(
            pods(&store).is_empty(),
            "collected, the tracking finalizer let go: {:?}",
            pods(&store)
        );
    }

    #[test]
    fn a_pod_whose_account_is_missing_is_a_failed_create_counted_again_on_retry() {
        let mut store = ObjectStore::new();
        store.settle();
        let jobs = store.resource("batch", "v1", "jobs").cloned().unwrap();
        store
            .create(
                &jobs,
                "default",
                json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {
                "restartPolicy": "Never", "serviceAccountName": "pipeline",
                "containers": [{"name": "c", "image": "busybox"}]}}}}),
            )
            .unwrap();
        store.settle();
        assert!(pods(&store).is_empty());
        let events = objects_in(&store, "", "events", "default");
        assert_eq!(events.len(), 1);
        let event = &events[0].1;
        assert_eq!(event["reason"], "FailedCreate");
        assert_eq!(event["type"], "Warning");
        assert_eq!(event["source"]["component"], "job-controller");
        assert_eq!(event["involvedObject"]["kind"], "Job");
        assert_eq!(
            event["message"],
            "Error creating: pods \"j-\" is forbidden: error looking up service account default/pipeline: serviceaccount \"pipeline\" not found"
        );
        // The retry after the API backoff fails the same way: counted.
        let key = Key {
            group: "batch".into(),
            plural: "jobs".into(),
            namespace: "default".into(),
            name: "j".into(),
        };
        let count = |store: &ObjectStore| {
            let events = objects_in(store, "", "events", "default");
            assert_eq!(events.len(), 1, "the same Event");
            events[0].1["count"].as_i64().unwrap()
        };
        let before = count(&store);
        store.sync_job(&key);
        assert_eq!(count(&store), before + 1);
        // Once the account exists, the pod is made.
        let accounts = store
            .resource("", "v1", "serviceaccounts")
            .cloned()
            .unwrap();
        store
            .create(
                &accounts,
                "default",
                json!({"metadata": {"name": "pipeline"}}),
            )
            .unwrap();
        store.sync_job(&key);
        assert_eq!(pods(&store).len(), 1);
    }

    #[test]
    fn a_job_past_its_active_deadline_fails_and_its_pod_goes() {
        // Two seconds: `startTime` is kept to the second, so a one-second
        // deadline could already be past when the test first looks.
        let (mut store, jobs) = store_with_job(json!({"activeDeadlineSeconds": 2}));
        assert_eq!(pods(&store).len(), 1);
        assert!(!finished(&store.get(&jobs, "default", "j").unwrap()));
        // The controller looks again when the deadline is due.
        let give_up = Instant::now() + Duration::from_secs(5);
        let job = loop {
            std::thread::sleep(Duration::from_millis(100));
            store.run_controllers(Some(Instant::now()));
            store.settle();
            let job = store.get(&jobs, "default", "j").unwrap();
            if finished(&job) || Instant::now() > give_up {
                break job;
            }
        };
        assert_eq!(job["status"]["conditions"][1]["type"], "Failed");
        assert_eq!(job["status"]["conditions"][1]["reason"], "DeadlineExceeded");
        assert!(pods(&store).is_empty(), "the active pod is deleted");
        assert_eq!(
            reasons(&store),
            ["SuccessfulCreate", "SuccessfulDelete", "DeadlineExceeded"]
        );
    }

    #[test]
    fn a_pod_is_made_from_the_template_owned_and_tracked() {
        let job = json!({"metadata": {"name": "j", "uid": "u1"}, "spec": {"template": {
            "metadata": {"labels": {"job-name": "j"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let pod = pod_for(&job);
        assert_eq!(pod["metadata"]["generateName"], "j-");
        assert_eq!(pod["metadata"]["labels"]["job-name"], "j");
        assert_eq!(pod["metadata"]["finalizers"], json!([TRACKING_FINALIZER]));
        assert_eq!(pod["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(
            controller_of(
                &Key {
                    group: String::new(),
                    plural: "pods".into(),
                    namespace: "ns".into(),
                    name: "j-abcde".into()
                },
                &pod
            )
            .map(|k| (k.namespace, k.name)),
            Some(("ns".into(), "j".into()))
        );
    }
}
