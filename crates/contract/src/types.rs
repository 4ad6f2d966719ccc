//! The records of `wit/policy.wit`'s `types` interface as plain Rust,
//! so the planner and the CLI use them without wasmtime. With the
//! `component` feature they also carry wasmtime's component traits, and the
//! engine's bindings use these types as they are (`with:` in its
//! `bindgen!`); wasmtime type-checks every field against the WIT when a
//! policy is linked, so a field that drifts from the contract fails the
//! engine's tests.

#[cfg(feature = "component")]
use wasmtime::component::{ComponentType, Lift, Lower};

/// Milliseconds since the Unix epoch (UTC). Inputs carry `now` so that a
/// decision made in CI and in the cluster on the same input is identical.
pub type Timestamp = i64;

/// A setting's value as the platform operator wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(variant)
)]
pub enum SettingValue {
    /// A scalar (a string, a number or a boolean) as its text.
    #[cfg_attr(feature = "component", component(name = "text"))]
    Text(String),
    /// A list or a map, as compact JSON.
    #[cfg_attr(feature = "component", component(name = "json"))]
    Json(String),
}

/// One policy parameter, as configured by the platform operator.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct Setting {
    pub name: String,
    pub value: SettingValue,
}

/// A label or an annotation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// A PromiseRevision of the promise the decision is about.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct Revision {
    /// `metadata.name` of the PromiseRevision.
    pub name: String,
    /// `spec.version`; bindings name revisions by exact string equality.
    pub version: String,
    /// `status.latest`: the revision `latest` bindings resolve to.
    pub latest: bool,
    /// `metadata.creationTimestamp`.
    #[cfg_attr(feature = "component", component(name = "created-at"))]
    pub created_at: Timestamp,
}

/// The promise, with all of its revisions (in no particular order).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct Promise {
    pub name: String,
    pub revisions: Vec<Revision>,
    /// The Promise's own labels and annotations (kubectl's
    /// last-applied-configuration left out).
    pub labels: Vec<KeyValue>,
    pub annotations: Vec<KeyValue>,
}

/// A resource request (an instance of the promise's API).
///
/// Labels and annotations, here and on `binding`, leave out the keys
/// kbind and Kratix write for their own bookkeeping (`kratix.io/promise-name`,
/// `kratix.io/resource-name`, `kratix.io/promise-version`,
/// `kbind.io/approved-version`, `kbind.io/request-labels`,
/// `kbind.io/retry-at`) and kubectl's last-applied-configuration.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct Request {
    pub namespace: String,
    pub name: String,
    pub labels: Vec<KeyValue>,
    pub annotations: Vec<KeyValue>,
}

/// Where a binding's upgrade stands (its `UpgradeSucceeded` condition).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(enum)
)]
#[repr(u8)]
pub enum UpgradeState {
    /// No upgrade has been attempted (a fresh binding).
    #[cfg_attr(feature = "component", component(name = "none"))]
    None,
    /// A configure workflow is running for `in-flight-version`.
    #[cfg_attr(feature = "component", component(name = "in-progress"))]
    InProgress,
    /// The last upgrade finished; `last-applied-version` is current.
    #[cfg_attr(feature = "component", component(name = "succeeded"))]
    Succeeded,
    /// The last upgrade failed at `failed-version`.
    #[cfg_attr(feature = "component", component(name = "failed"))]
    Failed,
}

/// A ResourceBinding together with the request it binds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct Binding {
    pub namespace: String,
    pub name: String,
    pub request: Request,
    /// `spec.version`: `latest` or an exact promise version.
    pub version: String,
    /// `status.lastAppliedVersion`.
    #[cfg_attr(feature = "component", component(name = "last-applied-version"))]
    pub last_applied_version: Option<String>,
    /// `status.inFlightVersion`: the version a running workflow targets.
    #[cfg_attr(feature = "component", component(name = "in-flight-version"))]
    pub in_flight_version: Option<String>,
    /// `status.failedVersion`: the version whose workflow last failed.
    #[cfg_attr(feature = "component", component(name = "failed-version"))]
    pub failed_version: Option<String>,
    /// Every version whose upgrade failed for this binding, oldest first.
    #[cfg_attr(feature = "component", component(name = "failed-versions"))]
    pub failed_versions: Vec<String>,
    pub state: UpgradeState,
    pub labels: Vec<KeyValue>,
    pub annotations: Vec<KeyValue>,
    /// When an upgrade of this binding last succeeded (`status.lastSucceededAt`).
    #[cfg_attr(feature = "component", component(name = "last-succeeded-at"))]
    pub last_succeeded_at: Option<Timestamp>,
    /// When an upgrade of this binding last failed (`status.lastFailedAt`).
    #[cfg_attr(feature = "component", component(name = "last-failed-at"))]
    pub last_failed_at: Option<Timestamp>,
}

/// Names one binding of the input.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct BindingRef {
    pub namespace: String,
    pub name: String,
}

/// Describes one setting the policy understands.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct SettingSpec {
    pub name: String,
    pub description: String,
    #[cfg_attr(feature = "component", component(name = "default-value"))]
    pub default_value: Option<String>,
    /// Empty when any value is accepted.
    #[cfg_attr(feature = "component", component(name = "allowed-values"))]
    pub allowed_values: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct PolicyInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    pub settings: Vec<SettingSpec>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct InitialVersionInput {
    pub now: Timestamp,
    pub settings: Vec<Setting>,
    pub promise: Promise,
    pub request: Request,
    /// The binding version this request was last reconciled with
    /// (`status.resourceBindingVersion`), when a binding is being
    /// recreated after it was deleted.
    #[cfg_attr(feature = "component", component(name = "previous-version"))]
    pub previous_version: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct VersionChoice {
    /// `latest` or an exact promise version.
    pub version: String,
    pub reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(enum)
)]
#[repr(u8)]
pub enum PlanTrigger {
    /// A revision of the promise was created, changed, deleted or
    /// became latest.
    #[cfg_attr(feature = "component", component(name = "revisions-changed"))]
    RevisionsChanged,
    /// The periodic re-check asked for by `recheck-after-ms`.
    #[cfg_attr(feature = "component", component(name = "timer"))]
    Timer,
    /// The Promise's labels or annotations changed.
    #[cfg_attr(feature = "component", component(name = "promise-changed"))]
    PromiseChanged,
    /// The policy or its settings changed since the last plan.
    #[cfg_attr(feature = "component", component(name = "policy-changed"))]
    PolicyChanged,
    /// While the last plan reported a rollout, a binding's upgrade finished
    /// or a binding came or went.
    #[cfg_attr(feature = "component", component(name = "bindings-changed"))]
    BindingsChanged,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct PlanInput {
    pub now: Timestamp,
    pub settings: Vec<Setting>,
    pub promise: Promise,
    /// All bindings of the promise, in every namespace.
    pub bindings: Vec<Binding>,
    pub trigger: PlanTrigger,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct Upgrade {
    pub binding: BindingRef,
    /// The new `spec.version`.
    pub version: String,
    pub reason: String,
}

/// Where a rollout stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(enum)
)]
#[repr(u8)]
pub enum RolloutPhase {
    #[cfg_attr(feature = "component", component(name = "progressing"))]
    Progressing,
    #[cfg_attr(feature = "component", component(name = "soaking"))]
    Soaking,
    #[cfg_attr(feature = "component", component(name = "outside-window"))]
    OutsideWindow,
    #[cfg_attr(feature = "component", component(name = "paused-by-failures"))]
    PausedByFailures,
    #[cfg_attr(feature = "component", component(name = "paused"))]
    Paused,
}

/// The bindings of one wave of a rollout by where they stand.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct WaveProgress {
    pub name: String,
    #[cfg_attr(feature = "component", component(name = "at-target"))]
    pub at_target: u32,
    pub moving: u32,
    pub waiting: u32,
    pub failed: u32,
}

/// One rollout in progress: the bindings a policy moves to one target.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct Rollout {
    pub version: String,
    /// Every wave, in order, with its bindings.
    pub waves: Vec<WaveProgress>,
    /// The wave in progress (or waiting to start), from 1.
    #[cfg_attr(feature = "component", component(name = "wave-index"))]
    pub wave_index: u32,
    pub phase: RolloutPhase,
    /// When a soak ends or a window opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct UpgradePlan {
    pub upgrades: Vec<Upgrade>,
    /// Ask to be called again (trigger `timer`) after this long.
    #[cfg_attr(feature = "component", component(name = "recheck-after-ms"))]
    pub recheck_after_ms: Option<u64>,
    pub reason: String,
    /// The rollouts in progress; empty for a policy that does not roll out
    /// in waves.
    pub rollouts: Vec<Rollout>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct EditInput {
    pub now: Timestamp,
    pub settings: Vec<Setting>,
    pub promise: Promise,
    /// The binding as it was before the edit.
    pub binding: Binding,
    /// The `spec.version` the user wrote.
    #[cfg_attr(feature = "component", component(name = "requested-version"))]
    pub requested_version: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct Review {
    pub allowed: bool,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct FailureInput {
    pub now: Timestamp,
    pub settings: Vec<Setting>,
    pub promise: Promise,
    pub binding: Binding,
    /// The version whose configure workflow failed.
    #[cfg_attr(feature = "component", component(name = "failed-version"))]
    pub failed_version: String,
    /// The workflow's failure message.
    pub message: String,
    /// Consecutive failed attempts at `failed-version`, this one included.
    pub attempts: u32,
    #[cfg_attr(feature = "component", component(name = "failed-at"))]
    pub failed_at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(variant)
)]
pub enum FailureAction {
    /// Leave the binding failed until a user edits it (Kratix).
    #[cfg_attr(feature = "component", component(name = "hold"))]
    Hold,
    /// Run the workflow at the failed version again after this many ms.
    #[cfg_attr(feature = "component", component(name = "retry-after"))]
    RetryAfter(u64),
    /// Set `spec.version` back to `last-applied-version`.
    #[cfg_attr(feature = "component", component(name = "roll-back"))]
    RollBack,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct FailureDecision {
    pub action: FailureAction,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct SpecChangeInput {
    pub now: Timestamp,
    pub settings: Vec<Setting>,
    /// The promise after the change.
    pub promise: Promise,
    /// The version whose revision's promise spec changed.
    #[cfg_attr(feature = "component", component(name = "changed-version"))]
    pub changed_version: String,
    pub bindings: Vec<Binding>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(
    feature = "component",
    derive(ComponentType, Lift, Lower),
    component(record)
)]
pub struct RerunSelection {
    /// Requests whose configure workflow runs again.
    pub rerun: Vec<BindingRef>,
    pub reason: String,
}

/// Settings as every input file writes them: a map of names to values.
pub type SettingsMap = std::collections::BTreeMap<String, SettingValue>;

/// Settings from a map, in name order.
pub fn settings_from(map: &SettingsMap) -> Vec<Setting> {
    map.iter()
        .map(|(name, value)| Setting {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

impl Setting {
    /// A scalar setting.
    pub fn text(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: SettingValue::Text(value.into()),
        }
    }

    /// A list or map setting, given as JSON.
    pub fn json(name: impl Into<String>, json: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: SettingValue::Json(json.into()),
        }
    }
}

impl SettingValue {
    /// The value's text: a scalar as written, a list or map as JSON.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Text(text) | Self::Json(text) => text,
        }
    }
}

impl From<&str> for SettingValue {
    fn from(text: &str) -> Self {
        Self::Text(text.into())
    }
}

/// A scalar as its text, a list or a map as its JSON value: a settings file
/// read and written back reads the same.
impl serde::Serialize for SettingValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Text(text) => serializer.serialize_str(text),
            Self::Json(json) => match serde_json::from_str::<serde_json::Value>(json) {
                Ok(value) => value.serialize(serializer),
                Err(_) => serializer.serialize_str(json),
            },
        }
    }
}

/// Any YAML or JSON value but null: scalars keep their text (`25`, `true`,
/// `10m`), lists and maps become compact JSON.
impl<'de> serde::Deserialize<'de> for SettingValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde_json::Value;
        match Value::deserialize(deserializer)? {
            Value::Null => Err(serde::de::Error::custom(
                "a setting needs a value (null given)",
            )),
            Value::String(text) => Ok(Self::Text(text)),
            Value::Bool(b) => Ok(Self::Text(b.to_string())),
            Value::Number(n) => Ok(Self::Text(n.to_string())),
            structured => Ok(Self::Json(structured.to_string())),
        }
    }
}
