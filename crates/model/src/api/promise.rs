use kube::CustomResource;
use serde::{Deserialize, Serialize};

/// The part of a Kratix Promise kbind reads. Every other field of the spec
/// (dependencies, destinationSelectors, requiredPromises, …) is kept
/// verbatim in `rest`, so a revision's `promiseSpec` is the whole spec.
#[derive(
    CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[kube(
    group = "platform.kratix.io",
    version = "v1alpha1",
    kind = "Promise",
    plural = "promises",
    status = "PromiseStatus",
    category = "kratix",
    // Kratix's columns, but its `Message` (of promise workflows, which
    // kbind does not run).
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.status"}"#,
    printcolumn = r#"{"name":"Kind","type":"string","jsonPath":".status.kind"}"#,
    printcolumn = r#"{"name":"API Version","type":"string","jsonPath":".status.apiVersion"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.version"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct PromiseSpec {
    /// The CustomResourceDefinition of the promise's resource requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_fields")]
    pub api: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown_fields")]
    pub workflows: Option<serde_json::Value>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct PromiseStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `Available` once the request API it serves is installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The kind of its requests (`spec.api`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The `apiVersion` of its requests: the group and the storage version
    /// of `spec.api`, lowercased as Kratix writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// kbind: digest of the revision set last given to `plan-upgrades`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_revisions: Option<String>,
    /// kbind: digest of the Promise labels and annotations last given to
    /// `plan-upgrades`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_metadata: Option<String>,
    /// kbind: digest of the policy (its sha256 and settings) last asked to
    /// `plan-upgrades`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_policy: Option<String>,
    /// kbind: digest of the bindings' upgrade outcomes last given to
    /// `plan-upgrades`, kept while a rollout is in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_bindings: Option<String>,
    /// kbind: when the policy asked to be asked again (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_upgrade_check: Option<String>,
    /// kbind: the rollouts in progress, as the policy last reported them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollouts: Vec<RolloutStatus>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

pub(crate) fn preserve_unknown_fields(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// The request kind a promise serves, from `spec.api` (a CRD).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestKind {
    pub group: String,
    pub kind: String,
    pub plural: String,
}

impl PromiseSpec {
    pub fn request_kind(&self) -> Option<RequestKind> {
        let spec = self.api.as_ref()?.get("spec")?;
        let names = spec.get("names")?;
        Some(RequestKind {
            group: spec.get("group")?.as_str()?.to_string(),
            kind: names.get("kind")?.as_str()?.to_string(),
            plural: names.get("plural")?.as_str()?.to_string(),
        })
    }

    /// The `apiVersion` of its requests, as Kratix's promise controller
    /// writes it into the Promise's status: the group and the storage
    /// version (else the first), lowercased.
    pub fn request_api_version(&self) -> Option<String> {
        let spec = self.api.as_ref()?.get("spec")?;
        let versions = spec.get("versions")?.as_array()?;
        let stored = versions
            .iter()
            .find(|v| v.get("storage").and_then(serde_json::Value::as_bool) == Some(true))
            .or_else(|| versions.first())?;
        let group = spec.get("group")?.as_str()?;
        let version = stored.get("name")?.as_str()?;
        Some(format!("{group}/{version}").to_lowercase())
    }

    /// The workflows declare a `resource.<action>` pipeline.
    pub fn has_resource_pipeline(&self, action: &str) -> bool {
        self.workflows
            .as_ref()
            .and_then(|w| w.get("resource"))
            .and_then(|r| r.get(action))
            .and_then(|p| p.as_array())
            .is_some_and(|p| !p.is_empty())
    }
}

/// kbind: one rollout in progress, as the policy's last `plan-upgrades`
/// reported it (`kbind rollout status` reads it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// The target version.
    pub version: String,
    /// The wave in progress (or waiting to start), from 1.
    pub wave_index: u32,
    /// progressing, soaking, outside-window, paused-by-failures or paused.
    pub phase: String,
    /// When a soak ends or a window opens (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// What it waits for, in words.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Every wave, in order, with its bindings by where they stand.
    pub waves: Vec<WaveStatus>,
}

/// kbind: one wave of a rollout.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaveStatus {
    pub name: String,
    pub at_target: u32,
    pub moving: u32,
    pub waiting: u32,
    pub failed: u32,
}

impl RolloutStatus {
    /// The wave in progress.
    pub fn wave(&self) -> Option<&WaveStatus> {
        self.waves.get((self.wave_index as usize).checked_sub(1)?)
    }

    /// All its bindings by where they stand.
    pub fn totals(&self) -> WaveStatus {
        let mut t = WaveStatus {
            name: "all".into(),
            ..WaveStatus::default()
        };
        for w in &self.waves {
            t.at_target += w.at_target;
            t.moving += w.moving;
            t.waiting += w.waiting;
            t.failed += w.failed;
        }
        t
    }
}
