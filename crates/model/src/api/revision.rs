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
}
