//! Self-subject reviews (`kubectl auth can-i`, `auth can-i --list`): what
//! the requester may do, by the same RBAC decision as its requests. The
//! admin token may do everything, as a member of `system:masters` may on a
//! real server.

use serde_json::{Value, json};

use super::rbac::{self, Attributes, Identity};
use super::registry::Resource;
use super::state::ObjectStore;

/// The review `review` with its status filled in.
pub fn answer(r: &Resource, mut review: Value, store: &ObjectStore, who: &Identity) -> Value {
    review["apiVersion"] = json!(r.group_version());
    review["kind"] = json!(r.kind);
    if !review["metadata"].is_object() {
        review["metadata"] = json!({});
    }
    review["metadata"]["creationTimestamp"] = Value::Null;
    review["status"] = match r.kind.as_str() {
        "SelfSubjectReview" => {
            json!({"userInfo": {"username": who.user(), "groups": who.groups()}})
        }
        "SelfSubjectRulesReview" => {
            let namespace = review["spec"]["namespace"].as_str().unwrap_or_default();
            let mut rules = rbac::rules_of(store, who, namespace);
            if who.is_superuser() {
                // cluster-admin, which system:masters is bound to.
                rules.insert(
                    0,
                    json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}),
                );
                rules.insert(1, json!({"verbs": ["*"], "nonResourceURLs": ["*"]}));
            }
            // A rule names resources or URLs; the review lists them apart.
            let (urls, resources): (Vec<Value>, Vec<Value>) = rules
                .into_iter()
                .partition(|r| r.get("nonResourceURLs").is_some());
            json!({
                "resourceRules": resources,
                "nonResourceRules": urls,
                "incomplete": false,
            })
        }
        _ => {
            let attrs = &review["spec"]["resourceAttributes"];
            let text = |k: &str| attrs[k].as_str().unwrap_or_default();
            let allowed = if attrs.is_object() {
                let subresource = Some(text("subresource")).filter(|s| !s.is_empty());
                let name = Some(text("name")).filter(|s| !s.is_empty());
                rbac::allowed(
                    store,
                    who,
                    &Attributes {
                        verb: text("verb"),
                        group: text("group"),
                        resource: text("resource"),
                        subresource,
                        namespace: text("namespace"),
                        name,
                    },
                )
            } else {
                let url = &review["spec"]["nonResourceAttributes"];
                rbac::allowed_url(
                    store,
                    who,
                    url["verb"].as_str().unwrap_or_default(),
                    url["path"].as_str().unwrap_or_default(),
                )
            };
            json!({"allowed": allowed})
        }
    };
    review
}
