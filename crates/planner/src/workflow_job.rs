//! The workflow Job, in one place: how kbind builds the `batch/v1` Job
//! that runs a request's configure or delete workflow (its name, labels,
//! annotations, owner and spec; the pod template is `workflow`'s), and how
//! it reads one back from the cluster. Its label keys are Kratix's
//! (`api::labels`); the annotations below are kbind's own.

use serde_json::{Value, json};

use kbind_model::api::{self as model, PromiseRevision, labels};
use kbind_model::key::ObjKey;
use kbind_model::naming;

use crate::view::{RequestObj, View};
use crate::workflow::{self, WorkflowSettings};

pub const KIND: &str = "Job";

/// kbind's annotations on a workflow Job.
pub mod annotations {
    /// The run's number among the request's runs (names and orders them).
    pub const SEQUENCE: &str = "kbind.io/sequence";
    /// The request's resourceVersion when a trigger label asked for this
    /// run; empty for runs no label asked for.
    pub const TRIGGER: &str = "kbind.io/trigger";
    /// Why the Job's pods cannot be created, set by the operator's cache
    /// from the Job controller's `FailedCreate` Events (never in the
    /// cluster).
    pub const START_PROBLEM: &str = "kbind.io/start-problem";
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobPhase {
    Running,
    Succeeded,
    Failed(String),
}

/// A workflow run (a `batch/v1` Job in the cluster).
#[derive(Clone, Debug, PartialEq)]
pub struct JobObj {
    pub key: ObjKey,
    /// `kratix.io/resource-name` of the request it runs for.
    pub request_label: String,
    pub action: String,
    pub version: String,
    pub hash: String,
    pub phase: JobPhase,
    /// `spec.suspend`: a run another run preempted (the Job controller
    /// removes its pods); it does not end, and is no longer in flight.
    pub suspended: bool,
    /// Creation order.
    pub sequence: u64,
    /// The request's resourceVersion when a trigger label started this run
    /// (`kbind.io/trigger`), empty for runs no label asked for.
    pub trigger: String,
    /// Why its pods cannot be created, while it runs (the Job controller's
    /// `FailedCreate` Events, as the operator's cache attaches them).
    pub start_problem: Option<String>,
}

/// One run of a request's workflow: whose, at which revision, which action,
/// the spec hash it runs for and what triggered it.
pub(crate) struct WorkflowRun<'a> {
    pub request: &'a RequestObj,
    pub revision: &'a PromiseRevision,
    /// `configure` or `delete`.
    pub action: &'a str,
    /// R-20's hash of the revision's and the request's spec.
    pub hash: &'a str,
    /// The request's resourceVersion that asked for the run, or empty.
    pub trigger: &'a str,
}

/// The Job for `run`, running as `service_account`.
pub(crate) fn build(
    view: &View,
    settings: &WorkflowSettings,
    run: &WorkflowRun<'_>,
    service_account: &str,
) -> Value {
    let WorkflowRun {
        request,
        revision,
        action,
        hash,
        trigger,
    } = *run;
    let version = revision.spec.version.as_str();
    // Numbered per request, so two requests planned in one step never clash.
    let label = request.label_name();
    let sequence = view
        .jobs
        .iter()
        .filter(|j| j.key.namespace == request.namespace() && j.request_label == label)
        .map(|j| j.sequence)
        .max()
        .unwrap_or(0)
        + 1;
    let job_labels = json!({
        labels::PROMISE_NAME: view.promise_label(),
        labels::RESOURCE_NAME: request.label_name(),
        labels::WORKFLOW_ACTION: action,
        labels::JOB_PROMISE_VERSION: version,
        labels::WORKFLOW_HASH: hash,
    });
    let id = workflow::JobIdentity {
        promise: &view.promise_name,
        version,
        action,
        helper_image: &settings.helper_image,
        service_account,
    };
    let mut template = workflow::pod_template(&revision.spec.promise_spec, request, &id);
    template["metadata"]["labels"] = job_labels.clone();
    let mut spec = settings.job_spec();
    if let Some(limit) = workflow::backoff_limit(&revision.spec.promise_spec, action) {
        spec.insert("backoffLimit".into(), json!(limit));
    }
    spec.insert("template".into(), template);
    let mut metadata = json!({
        "name": naming::job_name(request.name(), &view.promise_name, action, sequence),
        "namespace": request.namespace(),
        "labels": job_labels,
        "annotations": {
            annotations::SEQUENCE: sequence.to_string(),
            annotations::TRIGGER: trigger,
            model::annotations::JOB_PROMISE: view.promise_name,
        },
    });
    // Owned by its request, so deleting the request takes its Jobs. Not
    // blocking the owner's deletion: that would need `update` on the
    // request kind's finalizers, for every request group.
    if !request.uid.is_empty() {
        metadata["ownerReferences"] = json!([{
            "apiVersion": request.api_version,
            "kind": request.key.kind,
            "name": request.name(),
            "uid": request.uid,
            "controller": true,
        }]);
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": KIND,
        "metadata": metadata,
        "spec": spec,
    })
}

/// A Job condition that is True, by type.
fn job_condition<'a>(job: &'a Value, kind: &str) -> Option<&'a Value> {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == kind && c["status"] == "True")
}

impl JobObj {
    /// Running and not suspended: the run Kratix calls in flight.
    pub fn in_flight(&self) -> bool {
        self.phase == JobPhase::Running && !self.suspended
    }

    /// A workflow Job as the cluster holds it, read back (None for a Job
    /// without kbind's labels).
    pub fn read(j: &Value) -> Option<JobObj> {
        let status = j.get("status");
        let count = |k: &str| {
            status
                .and_then(|s| s.get(k))
                .and_then(Value::as_i64)
                .unwrap_or(0)
        };
        // The Job controller's terminal conditions decide: a Job that never
        // created a pod fails with `DeadlineExceeded` and no failed pod.
        let failed = job_condition(j, "Failed");
        let phase = if job_condition(j, "Complete").is_some()
            || (failed.is_none() && count("succeeded") > 0)
        {
            JobPhase::Succeeded
        } else if failed.is_some() || count("failed") > 0 {
            let message = failed
                .and_then(|c| {
                    let message = c.get("message").and_then(Value::as_str)?;
                    Some(match c.get("reason").and_then(Value::as_str) {
                        Some(reason) if !reason.is_empty() => format!("{reason}: {message}"),
                        _ => message.to_string(),
                    })
                })
                .or_else(|| {
                    status
                        .and_then(|s| s.get("conditions"))
                        .and_then(Value::as_array)
                        .and_then(|c| {
                            c.iter()
                                .find_map(|c| c.get("message").and_then(Value::as_str))
                        })
                        .map(str::to_string)
                })
                .unwrap_or_else(|| "the workflow failed".to_string());
            JobPhase::Failed(message)
        } else {
            JobPhase::Running
        };
        Some(JobObj {
            key: ObjKey::of(j)?,
            request_label: labels::label_of(j, labels::RESOURCE_NAME)?,
            action: labels::label_of(j, labels::WORKFLOW_ACTION)?,
            version: labels::label_of(j, labels::JOB_PROMISE_VERSION).unwrap_or_default(),
            hash: labels::label_of(j, labels::WORKFLOW_HASH).unwrap_or_default(),
            phase,
            suspended: j.pointer("/spec/suspend") == Some(&Value::Bool(true)),
            sequence: j
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(annotations::SEQUENCE))
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            trigger: j
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(annotations::TRIGGER))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            start_problem: j
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(annotations::START_PROBLEM))
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }
}
