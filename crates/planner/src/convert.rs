//! From cluster objects to the policy contract's records.

use std::collections::BTreeMap;

use kbind_contract::{self as contract, KeyValue, UpgradeState};
use kbind_model::api::{self, NOT_FOR_POLICIES, ResourceBinding, find_condition, upgrade};
use kbind_model::key::ObjKey;
use kbind_model::time::parse_time;

use super::view::{RequestObj, View};

/// The labels or annotations a policy is given (see [`NOT_FOR_POLICIES`]).
fn pairs(map: &BTreeMap<String, String>) -> Vec<KeyValue> {
    map.iter()
        .filter(|(key, _)| !NOT_FOR_POLICIES.contains(&key.as_str()))
        .map(|(key, value)| KeyValue {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}

pub fn promise(view: &View) -> contract::Promise {
    let mut revisions: Vec<contract::Revision> = view
        .revisions
        .iter()
        .map(|r| contract::Revision {
            name: r.metadata.name.clone().unwrap_or_default(),
            version: r.spec.version.clone(),
            latest: r.status.as_ref().is_some_and(|s| s.latest),
            created_at: r
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(0, |t| t.0.as_millisecond()),
        })
        .collect();
    revisions.sort_by(|a, b| a.name.cmp(&b.name));
    let meta = view.promise.as_ref().map(|p| &p.promise.metadata);
    let of = |map: Option<&BTreeMap<String, String>>| map.map(pairs).unwrap_or_default();
    contract::Promise {
        name: view.promise_name.clone(),
        revisions,
        labels: of(meta.and_then(|m| m.labels.as_ref())),
        annotations: of(meta.and_then(|m| m.annotations.as_ref())),
    }
}

pub fn request(request: &RequestObj) -> contract::Request {
    contract::Request {
        namespace: request.namespace().into(),
        name: request.name().into(),
        labels: pairs(&request.labels),
        annotations: pairs(&request.annotations),
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// A status timestamp; one that does not parse is as good as absent.
fn millis(s: &str) -> Option<i64> {
    parse_time(s).ok()
}

/// Every binding of the view, each with its request (found through one
/// index rather than a search per binding).
pub fn bindings(view: &View) -> Vec<contract::Binding> {
    let requests = view.requests_by_key();
    view.bindings
        .iter()
        .map(|b| {
            let ns = b.metadata.namespace.as_deref().unwrap_or_default();
            binding_with(
                b,
                requests
                    .get(&(ns, b.spec.resource_ref.name.as_str()))
                    .copied(),
            )
        })
        .collect()
}

/// One binding of the view, with its request.
pub fn binding(view: &View, b: &ResourceBinding) -> contract::Binding {
    let ns = b.metadata.namespace.as_deref().unwrap_or_default();
    let request = view
        .requests
        .iter()
        .find(|r| r.namespace() == ns && r.name() == b.spec.resource_ref.name);
    binding_with(b, request.map(|r| &**r))
}

fn binding_with(b: &ResourceBinding, request_obj: Option<&RequestObj>) -> contract::Binding {
    let empty = Default::default();
    let status = b.status.as_ref().unwrap_or(&empty);
    let condition = find_condition(&status.conditions, upgrade::CONDITION);
    let state = match condition.map(|c| c.status.as_str()) {
        Some("Unknown") => UpgradeState::InProgress,
        Some("False") => UpgradeState::Failed,
        Some("True") => UpgradeState::Succeeded,
        _ if !status.in_flight_version.is_empty() => UpgradeState::InProgress,
        _ if !status.last_applied_version.is_empty() => UpgradeState::Succeeded,
        _ => UpgradeState::None,
    };
    let request = request_obj
        .map(request)
        .unwrap_or_else(|| contract::Request {
            namespace: b.spec.resource_ref.namespace.clone(),
            name: b.spec.resource_ref.name.clone(),
            labels: vec![],
            annotations: vec![],
        });
    contract::Binding {
        namespace: b.metadata.namespace.clone().unwrap_or_default(),
        name: b.metadata.name.clone().unwrap_or_default(),
        request,
        version: b.spec.version.clone(),
        last_applied_version: non_empty(&status.last_applied_version),
        in_flight_version: non_empty(&status.in_flight_version),
        failed_version: non_empty(&status.failed_version),
        failed_versions: status.failed_versions.clone(),
        state,
        labels: b.metadata.labels.as_ref().map(pairs).unwrap_or_default(),
        annotations: b
            .metadata
            .annotations
            .as_ref()
            .map(pairs)
            .unwrap_or_default(),
        last_succeeded_at: millis(&status.last_succeeded_at),
        last_failed_at: millis(&status.last_failed_at),
    }
}

pub fn key_of(b: &ResourceBinding) -> ObjKey {
    ObjKey::new(
        "ResourceBinding",
        b.metadata.namespace.as_deref().unwrap_or_default(),
        b.metadata.name.as_deref().unwrap_or_default(),
    )
}

pub fn revision_key(r: &api::PromiseRevision) -> ObjKey {
    ObjKey::new(
        "PromiseRevision",
        "",
        r.metadata.name.as_deref().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn keys(pairs: &[KeyValue]) -> Vec<&str> {
        pairs.iter().map(|p| p.key.as_str()).collect()
    }

    #[test]
    fn policies_get_user_labels_and_annotations_without_bookkeeping() {
        let mut request = RequestObj::named("redis", "default", "example");
        request.labels = [("team", "payments"), ("kratix.io/promise-name", "redis")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        request.annotations = [
            ("kbind.io/upgrade-range", "patch"),
            (
                "kubectl.kubernetes.io/last-applied-configuration",
                "{\"kind\":\"redis\"}",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let bound: ResourceBinding = serde_json::from_value(json!({
            "apiVersion": "platform.kratix.io/v1alpha1", "kind": "ResourceBinding",
            "metadata": {"name": "example-redis", "namespace": "default",
                "labels": {"kratix.io/promise-name": "redis",
                    "kratix.io/resource-name": "example", "team": "payments"},
                "annotations": {"kbind.io/approved-version": "v1.0.0",
                    "kbind.io/request-labels": "team", "kbind.io/allow-downgrade": "true"}},
            "spec": {"version": "v1.0.0", "promiseRef": {"name": "redis"},
                "resourceRef": {"name": "example", "namespace": "default"}},
        }))
        .unwrap();
        let view = View {
            now: 0,
            promise_name: "redis".into(),
            promise: None,
            revisions: vec![],
            requests: vec![request.into()],
            bindings: vec![bound.into()],
            jobs: vec![],
            request_crd: None,
            request_kind_taken_by: None,
        };

        let all = bindings(&view);
        let one = binding(&view, &view.bindings[0]);
        assert_eq!(all, vec![one.clone()], "both paths see the same binding");
        assert_eq!(keys(&one.labels), ["team"]);
        assert_eq!(keys(&one.annotations), ["kbind.io/allow-downgrade"]);
        assert_eq!(keys(&one.request.labels), ["team"]);
        assert_eq!(keys(&one.request.annotations), ["kbind.io/upgrade-range"]);
        // Every hidden key really was there to hide.
        let seen: Vec<String> = view.requests[0]
            .labels
            .keys()
            .chain(view.requests[0].annotations.keys())
            .cloned()
            .collect();
        assert!(seen.iter().any(|k| NOT_FOR_POLICIES.contains(&k.as_str())));
    }
}
