use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::{Condition, PromiseRef};

/// A PromiseRevision: a promise's spec at one version.
#[derive(
    CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[kube(
    group = "platform.kratix.io",
    version = "v1alpha1",
    kind = "PromiseRevision",
    plural = "promiserevisions",
    status = "PromiseRevisionStatus",
    category = "kratix",
    printcolumn = r#"{"name":"Promise","type":"string","jsonPath":".spec.promiseRef.name"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".spec.version"}"#,
    printcolumn = r#"{"name":"Latest","type":"boolean","jsonPath":".status.latest"}"#,
    printcolumn = r#"{"name":"At","type":"integer","description":"Bindings at this version","jsonPath":".status.bindings.at"}"#,
    printcolumn = r#"{"name":"Moving","type":"integer","description":"Bindings whose upgrade to this version runs","jsonPath":".status.bindings.moving"}"#,
    printcolumn = r#"{"name":"Failed","type":"integer","description":"Bindings whose upgrade to this version failed","jsonPath":".status.bindings.failed"}"#,
    // A CRD that declares columns gets no AGE unless it asks for one.
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PromiseRevisionSpec {
    pub promise_ref: PromiseRef,
    /// A full copy of the Promise's `spec` at this version.
    #[schemars(schema_with = "super::promise::preserve_unknown_fields")]
    pub promise_spec: serde_json::Value,
    pub version: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromiseRevisionStatus {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub latest: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// kbind: the promise's bindings by where they stand with this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bindings: Option<BindingCounts>,
}

/// kbind: how many of a promise's bindings are at a version, moving to it
/// and failed at it (`kubectl get promiserevisions` shows them).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct BindingCounts {
    /// Last applied at this version (`status.lastAppliedVersion`).
    pub at: u32,
    /// A workflow to this version runs (`status.inFlightVersion`).
    pub moving: u32,
    /// Failed at this version (it is among `status.failedVersions`).
    pub failed: u32,
}
