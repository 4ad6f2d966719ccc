//! Self-subject reviews (`kubectl auth can-i`, `auth can-i --list`): what
//! the requester may do. The sandbox has one identity, its admin token,
//! which may do everything — as a member of `system:masters` may on a real
//! server, where such reviews are allowed with no RBAC rule to name.

use serde_json::{Value, json};

use super::registry::Resource;

/// The review `review` with its status filled in.
pub fn answer(r: &Resource, mut review: Value) -> Value {
    review["apiVersion"] = json!(r.group_version());
    review["kind"] = json!(r.kind);
    if !review["metadata"].is_object() {
        review["metadata"] = json!({});
    }
    review["metadata"]["creationTimestamp"] = Value::Null;
    review["status"] = match r.kind.as_str() {
        "SelfSubjectRulesReview" => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        _ => json!({"allowed": true}),
    };
    review
}
