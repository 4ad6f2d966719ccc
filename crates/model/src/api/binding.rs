use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::Condition;

/// A ResourceBinding binds one resource request to a promise version.
#[derive(
    CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[kube(
    group = "platform.kratix.io",
    version = "v1alpha1",
    kind = "ResourceBinding",
    plural = "resourcebindings",
    namespaced,
    status = "ResourceBindingStatus",
    category = "kratix",
    printcolumn = r#"{"name":"Resource","type":"string","jsonPath":".spec.resourceRef.name"}"#,
    printcolumn = r#"{"name":"Promise","type":"string","jsonPath":".spec.promiseRef.name"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".spec.version"}"#,
    printcolumn = r#"{"name":"Applied","type":"string","jsonPath":".status.lastAppliedVersion"}"#,
    // A CRD that declares columns gets no AGE unless it asks for one.
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    selectable = ".spec.version"
)]
#[serde(rename_all = "camelCase")]
pub struct ResourceBindingSpec {
    /// `latest`, or an exact promise version.
    pub version: String,
    pub promise_ref: PromiseRef,
    pub resource_ref: ResourceRef,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PromiseRef {
    pub name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResourceRef {
    pub name: String,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceBindingStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The concrete version the request was last reconciled at successfully.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_applied_version: String,
    /// The version whose configure workflow last failed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub failed_version: String,
    /// kbind (H-8): the version a running workflow targets, as a field
    /// rather than parsed from a condition message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub in_flight_version: String,
    /// kbind: every version that failed for this binding, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_versions: Vec<String>,
    /// kbind: the workflow hash (promise spec and request) of the last
    /// configure run that finished, so a finished Job deleted by its TTL or
    /// the history limit is not taken for a run still to make.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workflow_hash: String,
    /// kbind: when an upgrade of this binding last succeeded (RFC 3339), for
    /// policies that wait after a success (a rollout's soak).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_succeeded_at: String,
    /// kbind: when an upgrade of this binding last failed (RFC 3339).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_failed_at: String,
}
