//! From cluster objects to the policy contract's records.

use std::collections::BTreeMap;

use crate::api::{self, ResourceBinding, find_condition, upgrade};
use crate::contract::{self, KeyValue, UpgradeState};
use crate::store::ObjKey;

use super::view::{RequestObj, View};

fn pairs(map: &BTreeMap<String, String>) -> Vec<KeyValue> {
    crate::contract::key_values(map)
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
    contract::Promise {
        name: view.promise_name.clone(),
        revisions,
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

fn labels_of(b: &ResourceBinding) -> BTreeMap<String, String> {
    b.metadata
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn annotations_of(b: &ResourceBinding) -> BTreeMap<String, String> {
    b.metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

pub fn binding(view: &View, b: &ResourceBinding) -> contract::Binding {
    let status = b.status.clone().unwrap_or_default();
    let condition = find_condition(&status.conditions, upgrade::CONDITION);
    let state = match condition.map(|c| c.status.as_str()) {
        Some("Unknown") => UpgradeState::InProgress,
        Some("False") => UpgradeState::Failed,
        Some("True") => UpgradeState::Succeeded,
        _ if !status.in_flight_version.is_empty() => UpgradeState::InProgress,
        _ if !status.last_applied_version.is_empty() => UpgradeState::Succeeded,
        _ => UpgradeState::None,
    };
    let ns = b.metadata.namespace.clone().unwrap_or_default();
    let request = view
        .requests
        .iter()
        .find(|r| r.namespace() == ns && r.name() == b.spec.resource_ref.name)
        .map(request)
        .unwrap_or_else(|| contract::Request {
            namespace: b.spec.resource_ref.namespace.clone(),
            name: b.spec.resource_ref.name.clone(),
            labels: vec![],
            annotations: vec![],
        });
    contract::Binding {
        namespace: ns,
        name: b.metadata.name.clone().unwrap_or_default(),
        request,
        version: b.spec.version.clone(),
        last_applied_version: non_empty(&status.last_applied_version),
        in_flight_version: non_empty(&status.in_flight_version),
        failed_version: non_empty(&status.failed_version),
        failed_versions: status.failed_versions.clone(),
        state,
        labels: pairs(&labels_of(b)),
        annotations: pairs(&annotations_of(b)),
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
