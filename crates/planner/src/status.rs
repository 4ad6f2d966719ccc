//! Binding status writes: the `UpgradeSucceeded` condition with Kratix's
//! reasons and messages, `lastAppliedVersion`, `failedVersion`, and kbind's
//! structured `inFlightVersion` / `failedVersions`.

use serde_json::{Value, json};

use kbind_model::api::{
    Condition, ResourceBinding, ResourceBindingStatus, find_condition, upgrade,
};
use kbind_model::time::rfc3339;

/// The binding's upgrade condition (`UpgradeSucceeded`) as a step sets it.
pub struct UpgradeCondition {
    /// "True", "False" or "Unknown".
    pub status: &'static str,
    pub reason: &'static str,
    pub message: String,
}

impl UpgradeCondition {
    /// A workflow at the target version is running (`Unknown`).
    pub fn in_progress(message: String) -> Self {
        Self {
            status: "Unknown",
            reason: upgrade::IN_PROGRESS,
            message,
        }
    }

    /// The upgrade failed or cannot start (`False`), for `reason`.
    pub fn not_met(reason: &'static str, message: String) -> Self {
        Self {
            status: "False",
            reason,
            message,
        }
    }

    /// The target version was applied (`True`).
    pub fn complete(message: String) -> Self {
        Self {
            status: "True",
            reason: upgrade::COMPLETE,
            message,
        }
    }
}

/// What to change; `None` leaves a field as it is.
#[derive(Default)]
pub struct StatusUpdate {
    pub condition: Option<UpgradeCondition>,
    pub last_applied: Option<String>,
    pub failed_version: Option<String>,
    pub in_flight: Option<String>,
    pub add_failed_version: Option<String>,
    pub workflow_hash: Option<String>,
}

pub fn current(b: &ResourceBinding) -> ResourceBindingStatus {
    b.status.clone().unwrap_or_default()
}

pub fn condition(b: &ResourceBinding) -> Option<Condition> {
    find_condition(&current(b).conditions, upgrade::CONDITION).cloned()
}

/// The status patch for `update`, or `None` when nothing would change.
/// `lastTransitionTime` moves only when the condition's status does
/// (`SetStatusCondition` semantics).
pub fn patch(b: &ResourceBinding, update: StatusUpdate, now: i64) -> Option<Value> {
    let before = current(b);
    let mut after = before.clone();
    if let Some(UpgradeCondition {
        status,
        reason,
        message,
    }) = update.condition
    {
        let existing = find_condition(&before.conditions, upgrade::CONDITION);
        let transition = match existing {
            Some(c) if c.status == status => c.last_transition_time.clone(),
            _ => rfc3339(now),
        };
        // An upgrade succeeds when the condition turns True, not each time a
        // True condition is written again.
        if status == "True" && existing.is_none_or(|c| c.status != status) {
            after.last_succeeded_at = rfc3339(now);
        }
        let condition = Condition {
            type_: upgrade::CONDITION.into(),
            status: status.into(),
            reason: reason.into(),
            message: crate::rails::bounded(message),
            last_transition_time: transition,
            observed_generation: None,
        };
        after.conditions.retain(|c| c.type_ != upgrade::CONDITION);
        after.conditions.push(condition);
    }
    if let Some(v) = update.last_applied {
        after.last_applied_version = v;
    }
    if let Some(v) = update.failed_version {
        after.failed_version = v;
    }
    if let Some(v) = update.in_flight {
        after.in_flight_version = v;
    }
    if let Some(v) = update.workflow_hash {
        after.workflow_hash = v;
    }
    if let Some(v) = update.add_failed_version {
        // Every failed run counts, a version failing again included.
        after.last_failed_at = rfc3339(now);
        if !after.failed_versions.contains(&v) {
            after.failed_versions.push(v);
        }
    }
    if after == before {
        return None;
    }
    // Merge patch of the whole status; empty fields are cleared with null.
    let mut status = serde_json::to_value(&after).unwrap_or_default();
    for field in [
        "lastAppliedVersion",
        "failedVersion",
        "inFlightVersion",
        "failedVersions",
        "workflowHash",
        "lastSucceededAt",
        "lastFailedAt",
        "conditions",
    ] {
        if status.get(field).is_none() {
            status[field] = Value::Null;
        }
    }
    Some(json!({ "status": status }))
}

/// Pushes the status patch for `update`, if it changes anything.
pub fn push(
    out: &mut Vec<super::Action>,
    b: &ResourceBinding,
    update: StatusUpdate,
    now: i64,
    why: &'static str,
) {
    if let Some(patch) = patch(b, update, now) {
        out.push(super::Action::PatchStatus {
            key: super::convert::key_of(b),
            patch,
            why,
        });
    }
}
