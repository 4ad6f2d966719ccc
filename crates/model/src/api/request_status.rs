//! What Kratix keeps in a resource request's status besides its versions:
//! `message` and the `ConfigureWorkflowCompleted` and `Reconciled`
//! conditions, and the run's summary (`observedGeneration`, the
//! `workflows*` counters, `lastSuccessfulConfigureWorkflowTime` and each
//! pipeline's phase under `kratix.workflows`). The request CRD's printer
//! columns show the first (MESSAGE, and STATUS from `Reconciled`),
//! `kubectl wait --for=condition=Reconciled` waits on them, and tools that
//! judge readiness by `observedGeneration` (kstatus, which Flux's health
//! checks and `kpt` use) read the last. A request's status is the
//! pipelines' too (their `status.yaml`), so these edit it as an untyped
//! map and leave every other field and condition as it is.

use serde_json::{Map, Value, json};

pub const CONFIGURE_WORKFLOW_COMPLETED: &str = "ConfigureWorkflowCompleted";
pub const RECONCILED: &str = "Reconciled";
pub const PIPELINES_IN_PROGRESS: &str = "PipelinesInProgress";
pub const PIPELINES_EXECUTED_SUCCESSFULLY: &str = "PipelinesExecutedSuccessfully";
pub const CONFIGURE_WORKFLOW_FAILED: &str = "ConfigureWorkflowFailed";
/// `Reconciled`'s reason while a workflow runs.
pub const WORKFLOW_PENDING: &str = "WorkflowPending";
/// `status.message` while a workflow runs, and `Reconciled`'s message then.
pub const PENDING: &str = "Pending";
/// `Reconciled`'s reason (and the Warning Event's) while the request or its
/// promise carries `kratix.io/paused: "true"`.
pub const PAUSED_RECONCILIATION: &str = "PausedReconciliation";
/// A pipeline's phase under `status.kratix.workflows.pipelines` (Kratix's
/// `WorkflowPhase*`; `Pending` is `PENDING`).
pub const PHASE_SUCCEEDED: &str = "Succeeded";
pub const PHASE_FAILED: &str = "Failed";
/// The status fields the functions below read and write: what a planner
/// keeps of a request's status between runs.
pub const FIELDS: [&str; 8] = [
    "message",
    "conditions",
    "observedGeneration",
    "workflows",
    "workflowsSucceeded",
    "workflowsFailed",
    "lastSuccessfulConfigureWorkflowTime",
    "kratix",
];

/// A condition's `type` (none when it has no string type).
pub fn condition_type(c: &Value) -> Option<&str> {
    c.get("type").and_then(Value::as_str)
}

/// Sets the condition of `type_` as cluster-api's `SetCondition`, which
/// Kratix uses: its transition time moves only when its status does.
/// True when the condition changed.
pub fn set_condition(
    status: &mut Map<String, Value>,
    type_: &str,
    condition_status: &str,
    reason: &str,
    message: &str,
    now: &str,
) -> bool {
    let conditions = status
        .entry("conditions")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !conditions.is_array() {
        *conditions = Value::Array(Vec::new());
    }
    let Some(list) = conditions.as_array_mut() else {
        return false;
    };
    let slot = list.iter_mut().find(|c| condition_type(c) == Some(type_));
    let field = |c: &Value, name: &str| c.get(name).and_then(Value::as_str).map(str::to_string);
    let transition = match &slot {
        Some(old) if field(old, "status").as_deref() == Some(condition_status) => {
            if field(old, "reason").as_deref() == Some(reason)
                && field(old, "message").as_deref() == Some(message)
            {
                return false;
            }
            field(old, "lastTransitionTime").unwrap_or_else(|| now.to_string())
        }
        _ => now.to_string(),
    };
    let condition = json!({
        "type": type_,
        "status": condition_status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    });
    match slot {
        Some(slot) => *slot = condition,
        None => list.push(condition),
    }
    true
}

fn set_message(status: &mut Map<String, Value>, message: &str) -> bool {
    if status.get("message").and_then(Value::as_str) == Some(message) {
        return false;
    }
    status.insert("message".into(), json!(message));
    true
}

fn set_field(status: &mut Map<String, Value>, key: &str, value: Value) -> bool {
    if status.get(key) == Some(&value) {
        return false;
    }
    status.insert(key.into(), value);
    true
}

/// `status.kratix.workflows`, made an object if it is not one.
fn kratix_workflows(status: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let kratix = status
        .entry("kratix")
        .or_insert_with(|| Value::Object(Map::new()));
    if !kratix.is_object() {
        *kratix = Value::Object(Map::new());
    }
    let workflows = &mut kratix["workflows"];
    if !workflows.is_object() {
        *workflows = Value::Object(Map::new());
    }
    match workflows {
        Value::Object(map) => map,
        _ => unreachable!("made an object above"),
    }
}

/// The phases of `status.kratix.workflows.pipelines`, by name, in order.
fn pipeline_phases(status: &Map<String, Value>) -> Vec<(String, String)> {
    status
        .get("kratix")
        .and_then(|k| k.pointer("/workflows/pipelines"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|p| {
                    let field = |f: &str| p.get(f).and_then(Value::as_str).unwrap_or_default();
                    (field("name").to_string(), field("phase").to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Sets each pipeline's phase with `phase_of(index, name, current phase)`;
/// the list is rebuilt from `names` when it does not name them in order,
/// and a transition time moves only with the phase (Kratix's
/// `MarkCurrentPipelineAs`). True when anything changed.
fn set_pipeline_phases(
    status: &mut Map<String, Value>,
    names: &[&str],
    now: &str,
    phase_of: impl Fn(usize, &str, &str) -> String,
) -> bool {
    let current = pipeline_phases(status);
    let same_list = current.len() == names.len()
        && current
            .iter()
            .zip(names)
            .all(|((name, _), want)| name == want);
    let old: Vec<Value> = if same_list {
        status
            .get("kratix")
            .and_then(|k| k.pointer("/workflows/pipelines"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut changed = !same_list;
    let list: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let was = old.get(i);
            let was_phase = was
                .and_then(|p| p.get("phase"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let phase = phase_of(i, name, was_phase);
            match was {
                Some(p) if was_phase == phase => p.clone(),
                _ => {
                    changed = true;
                    json!({"name": name, "phase": phase, "lastTransitionTime": now})
                }
            }
        })
        .collect();
    if changed {
        kratix_workflows(status).insert("pipelines".into(), Value::Array(list));
    }
    changed
}

fn set_counters(
    status: &mut Map<String, Value>,
    workflows: usize,
    succeeded: usize,
    failed: usize,
) -> bool {
    let a = set_field(status, "workflows", json!(workflows));
    let b = set_field(status, "workflowsSucceeded", json!(succeeded));
    let c = set_field(status, "workflowsFailed", json!(failed));
    a || b || c
}

/// A configure workflow starts (Kratix's `setPipelineStartingStatus`):
/// the message is `Pending`, `Reconciled` Unknown and the workflow not
/// completed; the counters and every pipeline's phase start over
/// (`ensureConfigureWorkflowStatus`, `ResetPipelineStatusToPending`).
/// True when anything changed.
pub fn workflow_started(status: &mut Map<String, Value>, pipelines: &[&str], now: &str) -> bool {
    let counters = set_counters(status, pipelines.len(), 0, 0);
    let phases = set_pipeline_phases(status, pipelines, now, |_, _, _| PENDING.to_string());
    let message = set_message(status, PENDING);
    let reconciled = set_condition(
        status,
        RECONCILED,
        "Unknown",
        WORKFLOW_PENDING,
        PENDING,
        now,
    );
    let running = set_condition(
        status,
        CONFIGURE_WORKFLOW_COMPLETED,
        "False",
        PIPELINES_IN_PROGRESS,
        "Pipelines are still in progress",
        now,
    );
    counters || phases || message || reconciled || running
}

/// Kratix's `MarkReconciledPaused`: `Reconciled` Unknown, `Paused`. True
/// when it changed.
pub fn paused(status: &mut Map<String, Value>, now: &str) -> bool {
    set_condition(
        status,
        RECONCILED,
        "Unknown",
        PAUSED_RECONCILIATION,
        "Paused",
        now,
    )
}

/// Paused when last reconciled (`HasReconcilePausedCondition`): the next
/// reconcile after the label goes runs the workflow from the start.
pub fn was_paused(status: &Map<String, Value>) -> bool {
    status
        .get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            condition_type(c) == Some(RECONCILED)
                && c.get("status").and_then(Value::as_str) == Some("Unknown")
                && c.get("reason").and_then(Value::as_str) == Some(PAUSED_RECONCILIATION)
        })
}

/// One pipeline of a run ended well (kbind's status writer in the pod,
/// which runs after each pipeline: what Kratix's controller records from
/// each pipeline's Job). True when it changed.
pub fn pipeline_succeeded(status: &mut Map<String, Value>, pipeline: &str, now: &str) -> bool {
    let current = pipeline_phases(status);
    let names: Vec<&str> = current.iter().map(|(n, _)| n.as_str()).collect();
    if !names.contains(&pipeline) {
        return false;
    }
    let done = names
        .iter()
        .zip(&current)
        .filter(|(n, (_, phase))| **n == pipeline || phase == PHASE_SUCCEEDED)
        .count();
    let phases = set_pipeline_phases(status, &names, now, |_, name, was| {
        if name == pipeline {
            PHASE_SUCCEEDED.into()
        } else {
            was.into()
        }
    });
    let counter = set_field(status, "workflowsSucceeded", json!(done));
    phases || counter
}

/// A run ended well, as the controller sees it: every pipeline
/// `Succeeded`, the counters full, `lastSuccessfulConfigureWorkflowTime`
/// (in both of Kratix's places) the completion's time, and the request's
/// generation observed. `pipelines` is empty for a promise without a
/// configure workflow (Kratix then keeps zero counters and no phases).
/// True when anything changed.
pub fn run_summary_succeeded(
    status: &mut Map<String, Value>,
    pipelines: &[&str],
    generation: i64,
    now: &str,
) -> bool {
    let mut changed = set_counters(status, pipelines.len(), pipelines.len(), 0);
    if pipelines.is_empty() {
        // Kratix's `cleanupWorkflowCountersAndExecution`: no phases are
        // left from a revision that had pipelines (null: what a merge
        // patch removes).
        if let Some(workflows) = status
            .get_mut("kratix")
            .and_then(|k| k.get_mut("workflows"))
            .and_then(Value::as_object_mut)
            && workflows.get("pipelines").is_some_and(|p| !p.is_null())
        {
            workflows.insert("pipelines".into(), Value::Null);
            changed = true;
        }
    } else {
        changed |= set_pipeline_phases(status, pipelines, now, |_, _, _| PHASE_SUCCEEDED.into());
        let completed_at = status
            .get("conditions")
            .and_then(Value::as_array)
            .and_then(|list| {
                list.iter()
                    .find(|c| condition_type(c) == Some(CONFIGURE_WORKFLOW_COMPLETED))
            })
            .and_then(|c| c.get("lastTransitionTime"))
            .cloned()
            .unwrap_or_else(|| json!(now));
        changed |= set_field(
            status,
            "lastSuccessfulConfigureWorkflowTime",
            completed_at.clone(),
        );
        let workflows = kratix_workflows(status);
        if workflows.get("lastSuccessfulConfigureWorkflowTime") != Some(&completed_at) {
            workflows.insert("lastSuccessfulConfigureWorkflowTime".into(), completed_at);
            changed = true;
        }
    }
    if generation > 0 {
        changed |= set_field(status, "observedGeneration", json!(generation));
    }
    changed
}

/// A run failed: the first pipeline that had not succeeded is the one
/// that failed (one pod runs them in order), and the failure is counted.
/// True when anything changed.
pub fn run_summary_failed(status: &mut Map<String, Value>, pipelines: &[&str], now: &str) -> bool {
    let current = pipeline_phases(status);
    let failed_at = pipelines
        .iter()
        .position(|name| {
            !current
                .iter()
                .any(|(n, phase)| n == name && phase == PHASE_SUCCEEDED)
        })
        .unwrap_or(pipelines.len().saturating_sub(1));
    let succeeded = failed_at;
    let phases = set_pipeline_phases(status, pipelines, now, |i, _, was| {
        if i == failed_at {
            PHASE_FAILED.into()
        } else if i < failed_at {
            PHASE_SUCCEEDED.into()
        } else if was.is_empty() {
            PENDING.into()
        } else {
            was.into()
        }
    });
    let counters = set_counters(status, pipelines.len(), succeeded, 1);
    phases || counters
}

/// The last pipeline of a workflow ended well: Kratix's `MarkAsCompleted`,
/// which its status writer runs in the pod. A `Pending` message becomes
/// the workflow type's done message (a message a pipeline wrote stays),
/// and `ConfigureWorkflowCompleted` is replaced by a True one, stamped now
/// whatever it was.
pub fn mark_completed(status: &mut Map<String, Value>, workflow_type: &str, now: &str) {
    let done = match workflow_type {
        "resource" => Some("Resource requested"),
        "promise" => Some("Promise configured"),
        _ => None,
    };
    if let Some(done) = done
        && status.get("message").and_then(Value::as_str) == Some(PENDING)
    {
        set_message(status, done);
    }
    let conditions = status
        .entry("conditions")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !conditions.is_array() {
        *conditions = Value::Array(Vec::new());
    }
    let completed = json!({
        "type": CONFIGURE_WORKFLOW_COMPLETED,
        "status": "True",
        "reason": PIPELINES_EXECUTED_SUCCESSFULLY,
        "message": "Pipelines completed",
        "lastTransitionTime": now,
    });
    if let Some(list) = conditions.as_array_mut() {
        match list
            .iter_mut()
            .find(|c| condition_type(c) == Some(CONFIGURE_WORKFLOW_COMPLETED))
        {
            Some(slot) => *slot = completed,
            None => list.push(completed),
        }
    }
}

/// The operator's side of a finished run: `mark_completed` unless the
/// workflow is completed already (on a cluster the pod's status writer
/// has done it; the simulated runner does not). True when it changed.
pub fn workflow_completed(status: &mut Map<String, Value>, workflow_type: &str, now: &str) -> bool {
    let done = status
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|list| {
            list.iter()
                .find(|c| condition_type(c) == Some(CONFIGURE_WORKFLOW_COMPLETED))
        })
        .is_some_and(|c| c.get("status").and_then(Value::as_str) == Some("True"));
    if done {
        return false;
    }
    mark_completed(status, workflow_type, now);
    true
}

/// The request is at its version (Kratix's `MarkReconciledTrue`; kbind
/// writes no Works, so there are none to wait for).
pub fn reconciled(status: &mut Map<String, Value>, now: &str) -> bool {
    set_condition(status, RECONCILED, "True", RECONCILED, RECONCILED, now)
}

/// A configure workflow failed (Kratix's `MarkConfigureWorkflowAsFailed`
/// and `MarkReconciledFailing`).
pub fn workflow_failed(status: &mut Map<String, Value>, message: &str, now: &str) -> bool {
    let failed = set_condition(
        status,
        CONFIGURE_WORKFLOW_COMPLETED,
        "False",
        CONFIGURE_WORKFLOW_FAILED,
        message,
        now,
    );
    let reconciled = set_condition(
        status,
        RECONCILED,
        "False",
        CONFIGURE_WORKFLOW_FAILED,
        "Failing",
        now,
    );
    failed || reconciled
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn find(status: &Map<String, Value>, type_: &str) -> Value {
        status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == type_)
            .cloned()
            .unwrap()
    }

    #[test]
    fn a_run_marks_pending_then_completed_keeping_what_pipelines_wrote() {
        let mut status = of(json!({"conditions": [
            {"type": "Ready", "status": "True", "reason": "Up", "message": "from a pipeline"}]}));
        assert!(workflow_started(&mut status, &["p"], "t1"));
        assert!(
            !workflow_started(&mut status, &["p"], "t2"),
            "nothing left to change"
        );
        assert_eq!(status["message"], "Pending");
        let types: Vec<&str> = status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(condition_type)
            .collect();
        assert_eq!(types, ["Ready", RECONCILED, CONFIGURE_WORKFLOW_COMPLETED]);
        assert!(workflow_completed(&mut status, "resource", "t3"));
        assert!(reconciled(&mut status, "t3"));
        assert_eq!(status["message"], "Resource requested");
        assert_eq!(find(&status, RECONCILED)["status"], "True");
        assert_eq!(
            find(&status, CONFIGURE_WORKFLOW_COMPLETED)["lastTransitionTime"],
            "t3"
        );
        assert_eq!(find(&status, "Ready")["message"], "from a pipeline");
        // The pod's writer already completed it: the time it wrote stays.
        assert!(!workflow_completed(&mut status, "resource", "t4"));
        assert_eq!(
            find(&status, CONFIGURE_WORKFLOW_COMPLETED)["lastTransitionTime"],
            "t3"
        );
        // The writer itself stamps the condition anew each time, as Kratix's.
        mark_completed(&mut status, "resource", "t5");
        assert_eq!(
            find(&status, CONFIGURE_WORKFLOW_COMPLETED)["lastTransitionTime"],
            "t5"
        );
    }

    fn phases(status: &Map<String, Value>) -> Vec<(String, String)> {
        pipeline_phases(status)
    }

    fn pair(name: &str, phase: &str) -> (String, String) {
        (name.to_string(), phase.to_string())
    }

    #[test]
    fn a_run_keeps_kratixs_summary_counters_phases_and_observed_generation() {
        let mut status = of(json!({"observedGeneration": 1, "workflows": 1,
            "workflowsSucceeded": 1, "workflowsFailed": 0}));
        assert!(workflow_started(&mut status, &["a", "b"], "t1"));
        assert_eq!(
            (
                status["workflows"].clone(),
                status["workflowsSucceeded"].clone(),
                status["workflowsFailed"].clone()
            ),
            (json!(2), json!(0), json!(0))
        );
        assert_eq!(phases(&status), [pair("a", PENDING), pair("b", PENDING)]);
        // The pod's writer after the first pipeline.
        assert!(pipeline_succeeded(&mut status, "a", "t2"));
        assert!(
            !pipeline_succeeded(&mut status, "a", "t3"),
            "already recorded"
        );
        assert!(
            !pipeline_succeeded(&mut status, "other", "t3"),
            "not a pipeline of this run"
        );
        assert_eq!(status["workflowsSucceeded"], 1);
        assert_eq!(
            phases(&status),
            [pair("a", PHASE_SUCCEEDED), pair("b", PENDING)]
        );
        // The second fails: it is the one marked, and the failure counted.
        let mut failed = status.clone();
        assert!(run_summary_failed(&mut failed, &["a", "b"], "t4"));
        assert_eq!(
            phases(&failed),
            [pair("a", PHASE_SUCCEEDED), pair("b", PHASE_FAILED)]
        );
        assert_eq!(
            (
                failed["workflowsSucceeded"].clone(),
                failed["workflowsFailed"].clone()
            ),
            (json!(1), json!(1))
        );
        assert_eq!(
            failed["observedGeneration"], 1,
            "observed only after a success"
        );
        // Or it succeeds: every phase, the counters, the completion time and
        // the generation.
        workflow_completed(&mut status, "resource", "t5");
        assert!(run_summary_succeeded(&mut status, &["a", "b"], 2, "t6"));
        assert_eq!(
            phases(&status),
            [pair("a", PHASE_SUCCEEDED), pair("b", PHASE_SUCCEEDED)]
        );
        let pipelines = status["kratix"]["workflows"]["pipelines"]
            .as_array()
            .unwrap();
        assert_eq!(
            pipelines[0]["lastTransitionTime"], "t2",
            "a phase that stays keeps its time"
        );
        assert_eq!(pipelines[1]["lastTransitionTime"], "t6");
        assert_eq!(
            (
                status["workflowsSucceeded"].clone(),
                status["workflowsFailed"].clone()
            ),
            (json!(2), json!(0))
        );
        assert_eq!(status["lastSuccessfulConfigureWorkflowTime"], "t5");
        assert_eq!(
            status["kratix"]["workflows"]["lastSuccessfulConfigureWorkflowTime"],
            "t5"
        );
        assert_eq!(status["observedGeneration"], 2);
        assert!(
            !run_summary_succeeded(&mut status, &["a", "b"], 2, "t7"),
            "nothing left to write"
        );
        // A revision without a configure workflow: the phases go.
        assert!(run_summary_succeeded(&mut status, &[], 2, "t8"));
        assert!(status["kratix"]["workflows"]["pipelines"].is_null());
        assert!(
            !run_summary_succeeded(&mut status, &[], 2, "t9"),
            "removed once"
        );
        assert_eq!(status["workflows"], 0);
        // No configure workflow: zero counters, the generation observed.
        let mut none = Map::new();
        assert!(run_summary_succeeded(&mut none, &[], 3, "t1"));
        assert_eq!(
            Value::Object(none),
            json!({"workflows": 0, "workflowsSucceeded": 0, "workflowsFailed": 0, "observedGeneration": 3})
        );
    }

    #[test]
    fn a_message_a_pipeline_wrote_is_kept_and_a_new_reason_keeps_the_transition_time() {
        let mut status = of(json!({"message": "redis at redis.default:6379"}));
        workflow_completed(&mut status, "resource", "t1");
        assert_eq!(status["message"], "redis at redis.default:6379");
        assert!(workflow_failed(
            &mut status,
            "A Configure Pipeline has failed: x",
            "t2"
        ));
        assert!(set_condition(
            &mut status,
            RECONCILED,
            "False",
            "Other",
            "Failing",
            "t3"
        ));
        assert_eq!(find(&status, RECONCILED)["lastTransitionTime"], "t2");
    }
}
