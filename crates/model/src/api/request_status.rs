//! What Kratix keeps in a resource request's status besides its versions:
//! `message` and the `ConfigureWorkflowCompleted` and `Reconciled`
//! conditions. The request CRD's printer columns show them (MESSAGE, and
//! STATUS from `Reconciled`), and `kubectl wait --for=condition=Reconciled`
//! waits on them. A request's status is the pipelines' too (their
//! `status.yaml`), so these edit it as an untyped map and leave every
//! other field and condition as it is.

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

/// A configure workflow starts (Kratix's `setPipelineStartingStatus`):
/// the message is `Pending`, `Reconciled` Unknown and the workflow not
/// completed. True when anything changed.
pub fn workflow_started(status: &mut Map<String, Value>, now: &str) -> bool {
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
    message || reconciled || running
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
        assert!(workflow_started(&mut status, "t1"));
        assert!(
            !workflow_started(&mut status, "t2"),
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
