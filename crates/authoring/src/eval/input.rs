//! The friendly YAML/JSON form of decision inputs, shared by `kbind eval`
//! and policy test suites. Every field is optional where a sensible default
//! exists, maps replace key/value lists, times are RFC 3339, and unknown
//! fields are errors so that typos do not silently change a decision.

use std::collections::BTreeMap;

use serde::Deserialize;

use kbind_contract::*;
pub use kbind_model::time::Time;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InputDoc {
    /// RFC 3339 time; defaults to the current time.
    pub now: Option<Time>,
    /// Policy settings; default: the settings the policy was loaded with.
    pub settings: Option<SettingsMap>,
    pub promise: Option<PromiseDoc>,
    pub request: Option<RequestDoc>,
    pub previous_version: Option<String>,
    pub bindings: Option<Vec<BindingDoc>>,
    pub binding: Option<BindingDoc>,
    pub trigger: Option<TriggerDoc>,
    pub requested_version: Option<String>,
    pub failed_version: Option<String>,
    pub message: Option<String>,
    pub attempts: Option<u32>,
    pub failed_at: Option<Time>,
    pub changed_version: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromiseDoc {
    pub name: String,
    #[serde(default)]
    pub revisions: Vec<RevisionDoc>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevisionDoc {
    pub version: String,
    #[serde(default)]
    pub latest: bool,
    /// Defaults to `<promise>-<version>`.
    pub name: Option<String>,
    pub created_at: Option<Time>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestDoc {
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BindingDoc {
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub name: String,
    /// Defaults to a request named like the binding, in its namespace.
    pub request: Option<RequestDoc>,
    pub version: String,
    pub last_applied_version: Option<String>,
    pub in_flight_version: Option<String>,
    pub failed_version: Option<String>,
    #[serde(default)]
    pub failed_versions: Vec<String>,
    pub state: Option<StateDoc>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// When an upgrade of this binding last succeeded.
    pub last_succeeded_at: Option<Time>,
    /// When an upgrade of this binding last failed.
    pub last_failed_at: Option<Time>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StateDoc {
    None,
    InProgress,
    Succeeded,
    Failed,
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerDoc {
    #[default]
    RevisionsChanged,
    Timer,
    PromiseChanged,
    PolicyChanged,
    BindingsChanged,
}

fn default_namespace() -> String {
    "default".into()
}

fn pairs(map: &BTreeMap<String, String>) -> Vec<KeyValue> {
    kbind_contract::key_values(map)
}

impl PromiseDoc {
    pub fn to_contract(&self, now: Timestamp) -> Promise {
        Promise {
            name: self.name.clone(),
            revisions: self
                .revisions
                .iter()
                .map(|r| Revision {
                    name: r
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("{}-{}", self.name, r.version)),
                    version: r.version.clone(),
                    latest: r.latest,
                    created_at: r.created_at.map_or(now, |t| t.0),
                })
                .collect(),
            labels: pairs(&self.labels),
            annotations: pairs(&self.annotations),
        }
    }
}

impl RequestDoc {
    pub fn to_contract(&self) -> Request {
        Request {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            labels: pairs(&self.labels),
            annotations: pairs(&self.annotations),
        }
    }
}

impl BindingDoc {
    pub fn to_contract(&self) -> Binding {
        let request = match &self.request {
            Some(r) => r.to_contract(),
            None => Request {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                labels: vec![],
                annotations: vec![],
            },
        };
        let state = match self.state {
            Some(StateDoc::None) => UpgradeState::None,
            Some(StateDoc::InProgress) => UpgradeState::InProgress,
            Some(StateDoc::Succeeded) => UpgradeState::Succeeded,
            Some(StateDoc::Failed) => UpgradeState::Failed,
            // Inferred from the status fields, as the planner would.
            None if self.in_flight_version.is_some() => UpgradeState::InProgress,
            None if self.failed_version.is_some() => UpgradeState::Failed,
            None if self.last_applied_version.is_some() => UpgradeState::Succeeded,
            None => UpgradeState::None,
        };
        Binding {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            request,
            version: self.version.clone(),
            last_applied_version: self.last_applied_version.clone(),
            in_flight_version: self.in_flight_version.clone(),
            failed_version: self.failed_version.clone(),
            failed_versions: self.failed_versions.clone(),
            state,
            labels: pairs(&self.labels),
            annotations: pairs(&self.annotations),
            last_succeeded_at: self.last_succeeded_at.map(|t| t.0),
            last_failed_at: self.last_failed_at.map(|t| t.0),
        }
    }
}
