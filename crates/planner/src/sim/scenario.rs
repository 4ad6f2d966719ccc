//! The scenario file format and its runner (README: "Scenarios").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use kbind_contract::policy::Policy;
use kbind_contract::{Setting, settings_from};
use kbind_model::key::ObjKey;
use kbind_model::subset;
use kbind_model::time::Time;

use super::{SimError, Simulation, WorkflowMode};
use crate::store::Store;

/// 2026-01-01T00:00:00Z: scenarios start here unless they say otherwise.
pub const DEFAULT_START: i64 = 1_767_225_600_000;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    /// A shipped policy's name or a path relative to the scenario file.
    pub policy: Option<String>,
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    #[serde(default)]
    pub workflows: WorkflowMode,
    /// With `workflows: auto`, workflows at these versions fail.
    #[serde(default)]
    pub fail_versions: Vec<String>,
    /// The clock at the first step (default 2026-01-01T00:00:00Z).
    pub start: Option<Time>,
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Step {
    /// Objects to create, or merge into existing ones (like `kubectl apply`).
    Apply(OneOrMany),
    /// A JSON merge patch (`merge`) of one object; labels included.
    Patch(PatchStep),
    Delete(Target),
    /// Ends the running workflow of a request.
    Workflow(WorkflowStep),
    /// Moves the clock (`10m`, `1h`).
    Advance(String),
    Expect(Vec<Expectation>),
    ExpectAbsent(Vec<Expectation>),
    /// Events that must have been recorded.
    ExpectEvents(Vec<EventExpectation>),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    Many(Vec<Value>),
    One(Value),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchStep {
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
    pub merge: Value,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkflowResult {
    Success,
    Fail,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowStep {
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
    pub result: WorkflowResult,
    #[serde(default)]
    pub message: Option<String>,
}

/// Selects one object by kind + namespace + name, or by kind + namespace +
/// labels; every other key must be contained in it.
#[derive(Clone, Debug, Deserialize)]
pub struct Expectation {
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub fields: serde_json::Map<String, Value>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventExpectation {
    /// `Kind namespace/name` or `Kind/name`, as in reports.
    pub regarding: Option<String>,
    pub reason: String,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// A substring of the message.
    pub message: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StepReport {
    pub index: usize,
    pub step: String,
    pub passed: bool,
    pub detail: Option<String>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ScenarioReport {
    pub file: PathBuf,
    pub name: String,
    pub steps: Vec<StepReport>,
    /// The scenario could not run (unreadable, invalid, policy unusable).
    pub error: Option<String>,
}

impl ScenarioReport {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.steps.iter().all(|s| s.passed)
    }
}

/// Gives a scenario its policy: the simulator names it, the caller (the CLI,
/// with the wasm engine) loads it.
pub trait PolicyLoader {
    /// `name` is a shipped policy's name or a path relative to `base`, the
    /// scenario file's folder; `None` asks for the default policy.
    fn load(
        &self,
        name: Option<&str>,
        base: &Path,
        settings: Vec<Setting>,
    ) -> Result<Arc<dyn Policy>, String>;
}

/// Reads and runs one scenario file.
pub fn run_file(
    loader: &dyn PolicyLoader,
    file: &Path,
    policy_override: Option<&str>,
) -> ScenarioReport {
    let mut report = ScenarioReport {
        file: file.to_path_buf(),
        name: file.display().to_string(),
        steps: vec![],
        error: None,
    };
    let scenario = match std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))
        .and_then(|t| {
            kbind_model::yaml::from_str::<Scenario>(&t)
                .map_err(|e| format!("invalid scenario {}: {e}", file.display()))
        }) {
        Ok(s) => s,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    report.name = scenario.name.clone();
    let base = file.parent().unwrap_or(Path::new("."));
    let name = policy_override.or(scenario.policy.as_deref());
    match loader.load(name, base, settings_from(&scenario.settings)) {
        Ok(policy) => report.steps = run(&scenario, policy),
        Err(e) => report.error = Some(e),
    }
    report
}

/// Runs a parsed scenario with a loaded policy.
pub fn run(scenario: &Scenario, policy: Arc<dyn Policy>) -> Vec<StepReport> {
    let start = scenario.start.map_or(DEFAULT_START, |t| t.0);
    let mut sim = Simulation::new(policy, start, scenario.workflows);
    sim.fail_versions = scenario.fail_versions.clone();
    let mut reports = vec![];
    for (i, step) in scenario.steps.iter().enumerate() {
        let (label, result) = run_step(&mut sim, step);
        let fatal = matches!(result, Err(StepFailure::Fatal(_)));
        reports.push(StepReport {
            index: i + 1,
            step: label,
            passed: result.is_ok(),
            detail: result.err().map(|e| match e {
                StepFailure::Fatal(d) | StepFailure::Mismatch(d) => d,
            }),
        });
        if fatal {
            break;
        }
    }
    reports
}

enum StepFailure {
    /// The scenario cannot go on (a mutation failed).
    Fatal(String),
    /// An expectation failed; later steps still run.
    Mismatch(String),
}

impl From<SimError> for StepFailure {
    fn from(e: SimError) -> Self {
        StepFailure::Fatal(e.to_string())
    }
}

fn key(kind: &str, namespace: &str, name: &str) -> ObjKey {
    ObjKey::new(kind, namespace, name)
}

fn run_step(sim: &mut Simulation, step: &Step) -> (String, Result<(), StepFailure>) {
    match step {
        Step::Apply(objects) => {
            let objects = match objects {
                OneOrMany::Many(v) => v.clone(),
                OneOrMany::One(v) => vec![v.clone()],
            };
            let names: Vec<String> = objects
                .iter()
                .filter_map(ObjKey::of)
                .map(|k| k.to_string())
                .collect();
            let result = (|| {
                for object in objects {
                    sim.store.apply(object, true).map_err(SimError::from)?;
                }
                sim.settle()
            })();
            (
                format!("apply {}", names.join(", ")),
                result.map_err(Into::into),
            )
        }
        Step::Patch(p) => {
            let k = key(&p.kind, &p.namespace, &p.name);
            let result = (|| {
                sim.store.patch(&k, &p.merge, false)?;
                if p.merge.get("status").is_some() {
                    sim.store.patch(&k, &p.merge, true)?;
                }
                sim.settle()
            })();
            (format!("patch {k} {}", p.merge), result.map_err(Into::into))
        }
        Step::Delete(t) => {
            let k = key(&t.kind, &t.namespace, &t.name);
            let result = sim
                .store
                .delete(&k)
                .map_err(SimError::from)
                .and_then(|()| sim.settle());
            (format!("delete {k}"), result.map_err(Into::into))
        }
        Step::Workflow(w) => {
            let k = key(&w.kind, &w.namespace, &w.name);
            let success = matches!(w.result, WorkflowResult::Success);
            let message = w
                .message
                .clone()
                .unwrap_or_else(|| "workflow failed".into());
            let result = sim
                .finish_workflow(&k, success, &message)
                .and_then(|()| sim.settle());
            let outcome = if success { "succeeds" } else { "fails" };
            (
                format!("workflow of {k} {outcome}"),
                result.map_err(Into::into),
            )
        }
        Step::Advance(d) => {
            let result = humantime::parse_duration(d)
                .map_err(|e| SimError::Step(format!("advance {d:?}: {e}")))
                .and_then(|d| {
                    sim.store.now += d.as_millis() as i64;
                    sim.settle()
                });
            (format!("advance {d}"), result.map_err(Into::into))
        }
        Step::Expect(list) => {
            let label = format!(
                "expect {}",
                list.iter().map(describe).collect::<Vec<_>>().join(", ")
            );
            let failures: Vec<String> = list
                .iter()
                .filter_map(|e| expect(&sim.store, e).err())
                .collect();
            (
                label,
                if failures.is_empty() {
                    Ok(())
                } else {
                    Err(StepFailure::Mismatch(failures.join("\n")))
                },
            )
        }
        Step::ExpectAbsent(list) => {
            let label = format!(
                "expect absent {}",
                list.iter().map(describe).collect::<Vec<_>>().join(", ")
            );
            let present: Vec<String> = list
                .iter()
                .filter_map(|e| {
                    let found = select(&sim.store, e);
                    (!found.is_empty()).then(|| {
                        format!(
                            "{} exists: {}",
                            describe(e),
                            found
                                .iter()
                                .map(|(k, _)| k.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
                })
                .collect();
            (
                label,
                if present.is_empty() {
                    Ok(())
                } else {
                    Err(StepFailure::Mismatch(present.join("\n")))
                },
            )
        }
        Step::ExpectEvents(list) => {
            let label = format!(
                "expect events {}",
                list.iter()
                    .map(|e| e.reason.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let missing: Vec<String> = list
                .iter()
                .filter(|want| {
                    !sim.store.events().iter().any(|e| {
                        e.reason == want.reason
                            && want.regarding.as_ref().is_none_or(|r| &e.regarding == r)
                            && want.type_.as_ref().is_none_or(|t| &e.type_ == t)
                            && want
                                .message
                                .as_ref()
                                .is_none_or(|m| e.message.contains(m.as_str()))
                    })
                })
                .map(|want| {
                    let seen: Vec<String> = sim
                        .store
                        .events()
                        .iter()
                        .filter(|e| e.reason == want.reason)
                        .map(|e| format!("{} {}: {}", e.regarding, e.reason, e.message))
                        .collect();
                    format!(
                        "no event {} {:?} (events with that reason: {})",
                        want.reason,
                        want.message.as_deref().unwrap_or(""),
                        if seen.is_empty() {
                            "none".into()
                        } else {
                            seen.join(" | ")
                        }
                    )
                })
                .collect();
            (
                label,
                if missing.is_empty() {
                    Ok(())
                } else {
                    Err(StepFailure::Mismatch(missing.join("\n")))
                },
            )
        }
    }
}

fn describe(e: &Expectation) -> String {
    match (&e.name, &e.labels) {
        (Some(name), _) => key(&e.kind, &e.namespace, name).to_string(),
        (None, Some(labels)) => format!(
            "{} in {} with {}",
            e.kind,
            if e.namespace.is_empty() {
                "(cluster)"
            } else {
                &e.namespace
            },
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        ),
        (None, None) => format!("any {}", e.kind),
    }
}

fn select<'s>(store: &'s Store, e: &Expectation) -> Vec<(ObjKey, &'s Value)> {
    if let Some(name) = &e.name {
        let k = key(&e.kind, &e.namespace, name);
        return store.get(&k).map(|v| vec![(k, v)]).unwrap_or_default();
    }
    store
        .all()
        .filter(|(k, _)| k.kind == e.kind && (e.namespace.is_empty() || k.namespace == e.namespace))
        .filter(|(_, v)| {
            e.labels.as_ref().is_none_or(|want| {
                want.iter().all(|(lk, lv)| {
                    v.pointer("/metadata/labels")
                        .and_then(|l| l.get(lk))
                        .and_then(Value::as_str)
                        == Some(lv.as_str())
                })
            })
        })
        .map(|(k, v)| (k.clone(), v))
        .collect()
}

fn expect(store: &Store, e: &Expectation) -> Result<(), String> {
    let found = select(store, e);
    let (k, object) = match found.as_slice() {
        [one] => one,
        [] => return Err(format!("{}: not found", describe(e))),
        many => {
            return Err(format!(
                "{}: {} objects match, expected exactly one ({})",
                describe(e),
                many.len(),
                many.iter()
                    .map(|(k, _)| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };
    subset::contains(&Value::Object(e.fields.clone()), object)
        .map_err(|diff| format!("{k}: {diff}"))
}
