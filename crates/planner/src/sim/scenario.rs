//! The scenario file format and its runner (README: "Scenarios").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use kbind_contract::policy::Policy;
use kbind_contract::{Setting, SettingsMap, settings_from};
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
    pub settings: SettingsMap,
    #[serde(default)]
    pub workflows: WorkflowMode,
    /// With `workflows: auto`, workflows at these versions fail.
    #[serde(default)]
    pub fail_versions: Vec<String>,
    /// The clock at the first step (default 2026-01-01T00:00:00Z).
    pub start: Option<Time>,
    /// Counts that must hold after every round of planning, in every step
    /// (e.g. at most `maxInFlight` upgrades running).
    #[serde(default)]
    pub invariants: Vec<Count>,
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
    /// How many objects match.
    ExpectCount(Vec<Count>),
    /// The operator restarts: the policy is loaded afresh and nothing but
    /// the cluster's objects carries over.
    Restart,
}

/// A number of objects: of a kind, in a namespace (all when empty), with
/// labels, containing `match` (a subset, as `expect`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Count {
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "match")]
    pub matching: Option<Value>,
    pub count: Option<usize>,
    pub at_most: Option<usize>,
    pub at_least: Option<usize>,
}

impl Count {
    fn matching<'s>(&self, store: &'s Store) -> Vec<(ObjKey, &'s Value)> {
        select_by(
            store,
            &self.kind,
            &self.namespace,
            None,
            self.labels.as_ref(),
        )
        .into_iter()
        .filter(|(_, v)| {
            self.matching
                .as_ref()
                .is_none_or(|m| subset::contains(m, v).is_ok())
        })
        .collect()
    }

    /// `Ok` when the number matching is within bounds.
    fn check(&self, store: &Store) -> Result<(), String> {
        let found = self.matching(store);
        let n = found.len();
        let bad = [
            self.count
                .filter(|c| n != *c)
                .map(|c| format!("exactly {c}")),
            self.at_most
                .filter(|c| n > *c)
                .map(|c| format!("at most {c}")),
            self.at_least
                .filter(|c| n < *c)
                .map(|c| format!("at least {c}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
        if bad.is_empty() {
            return Ok(());
        }
        let mut names: Vec<String> = found.iter().take(10).map(|(k, _)| k.to_string()).collect();
        if n > 10 {
            names.push(format!("and {} more", n - 10));
        }
        Err(format!(
            "{}: {n} match, expected {} ({})",
            self.describe(),
            bad.join(" and "),
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        ))
    }

    fn describe(&self) -> String {
        let mut text = format!(
            "{} in {}",
            self.kind,
            if self.namespace.is_empty() {
                "all namespaces"
            } else {
                &self.namespace
            }
        );
        if let Some(labels) = &self.labels {
            let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            text.push_str(&format!(" with {}", pairs.join(",")));
        }
        if let Some(m) = &self.matching {
            text.push_str(&format!(" matching {m}"));
        }
        text
    }
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
    let mut scenario = match std::fs::read_to_string(file)
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
    if let Err(e) = expand_includes(&mut scenario, base) {
        report.error = Some(format!("{}: {e}", file.display()));
        return report;
    }
    // A policy given on the command line is a path from where the command
    // runs; the scenario's own, from the scenario's folder.
    let (name, policy_base) = match policy_override {
        Some(given) => (Some(given), Path::new(".")),
        None => (scenario.policy.as_deref(), base),
    };
    let settings = settings_from(&scenario.settings);
    let load = || loader.load(name, policy_base, settings.clone());
    // A policy that cannot load is the scenario's error, not a step's.
    if let Err(e) = load() {
        report.error = Some(e);
        return report;
    }
    report.steps = run(&scenario, &load);
    report
}

/// Replaces every `{include: <file>, with: {name: value}}` among an `apply`
/// step's objects by the object in that file (relative to `base`), with each
/// `${name}` in its strings replaced by the value: a common Promise is
/// written once and applied at any version.
pub fn expand_includes(scenario: &mut Scenario, base: &Path) -> Result<(), String> {
    for step in &mut scenario.steps {
        let Step::Apply(objects) = step else { continue };
        let items = match objects {
            OneOrMany::Many(v) => v.iter_mut().collect::<Vec<_>>(),
            OneOrMany::One(v) => vec![v],
        };
        for item in items {
            if let Some(include) = Include::of(item)? {
                *item = include.expand(base)?;
            }
        }
    }
    Ok(())
}

/// An `apply` item that names a file instead of being an object.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Include {
    include: PathBuf,
    #[serde(default, rename = "with")]
    values: BTreeMap<String, String>,
}

impl Include {
    /// The include `item` asks for, if it is one (an object with `include`
    /// and no `kind`).
    fn of(item: &Value) -> Result<Option<Include>, String> {
        let Some(map) = item.as_object() else {
            return Ok(None);
        };
        if !map.contains_key("include") || map.contains_key("kind") {
            return Ok(None);
        }
        serde_json::from_value(item.clone())
            .map(Some)
            .map_err(|e| format!("invalid include {item}: {e}"))
    }

    fn expand(&self, base: &Path) -> Result<Value, String> {
        let path = base.join(&self.include);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read include {}: {e}", path.display()))?;
        let mut object: Value = kbind_model::yaml::from_str(&text)
            .map_err(|e| format!("invalid include {}: {e}", path.display()))?;
        let mut used = std::collections::BTreeSet::new();
        substitute(&mut object, &self.values, &mut used)
            .map_err(|e| format!("include {}: {e}", path.display()))?;
        if let Some(unused) = self.values.keys().find(|k| !used.contains(k.as_str())) {
            return Err(format!(
                "include {}: `with` gives {unused}, which the file never uses",
                path.display()
            ));
        }
        Ok(object)
    }
}

/// Replaces `${name}` in every string of `value`; a placeholder with no
/// value is an error, so a typo cannot apply a literal `${versoin}`.
fn substitute<'a>(
    value: &mut Value,
    values: &'a BTreeMap<String, String>,
    used: &mut std::collections::BTreeSet<&'a str>,
) -> Result<(), String> {
    match value {
        Value::String(text) => {
            let mut out = String::with_capacity(text.len());
            let mut rest = text.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                let Some(end) = after.find('}') else {
                    return Err(format!("unclosed placeholder in {text:?}"));
                };
                let name = &after[..end];
                let Some((key, replacement)) = values.get_key_value(name) else {
                    return Err(format!("placeholder ${{{name}}} has no value in `with`"));
                };
                used.insert(key.as_str());
                out.push_str(replacement);
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            *text = out;
        }
        Value::Array(items) => {
            for item in items {
                substitute(item, values, used)?;
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                substitute(item, values, used)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Runs a parsed scenario; `load` gives it its policy, again at each
/// `restart`.
pub fn run(
    scenario: &Scenario,
    load: &dyn Fn() -> Result<Arc<dyn Policy>, String>,
) -> Vec<StepReport> {
    let start = scenario.start.map_or(DEFAULT_START, |t| t.0);
    let policy = match load() {
        Ok(policy) => policy,
        Err(e) => {
            return vec![StepReport {
                index: 0,
                step: "load the policy".into(),
                passed: false,
                detail: Some(e),
            }];
        }
    };
    let mut sim = Simulation::new(policy, start, scenario.workflows);
    sim.fail_versions = scenario.fail_versions.clone();
    let invariants = scenario.invariants.clone();
    if !invariants.is_empty() {
        sim.invariant = Some(Box::new(move |store: &Store| {
            invariants.iter().try_for_each(|c| c.check(store))
        }));
    }
    let mut reports = vec![];
    for (i, step) in scenario.steps.iter().enumerate() {
        let (label, result) = match step {
            Step::Restart => (
                "restart".to_string(),
                load()
                    .map(|policy| sim.restart(policy))
                    .map_err(StepFailure::Fatal)
                    .and_then(|()| sim.settle().map_err(Into::into)),
            ),
            other => run_step(&mut sim, other),
        };
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

/// One step: its label in the report, and whether it passed.
fn run_step(sim: &mut Simulation, step: &Step) -> (String, Result<(), StepFailure>) {
    match step {
        Step::Apply(objects) => apply(sim, objects),
        Step::Patch(p) => patch(sim, p),
        Step::Delete(t) => delete(sim, t),
        Step::Workflow(w) => end_workflow(sim, w),
        Step::Advance(d) => advance(sim, d),
        Step::Expect(list) => expect_present(sim, list),
        Step::ExpectAbsent(list) => expect_absent(sim, list),
        Step::ExpectEvents(list) => expect_events(sim, list),
        Step::ExpectCount(list) => {
            let label = format!(
                "expect count {}",
                list.iter()
                    .map(Count::describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let failures = list
                .iter()
                .filter_map(|c| c.check(&sim.store).err())
                .collect();
            (label, mismatch_unless_empty(failures))
        }
        // `run` restarts, with the loader.
        Step::Restart => ("restart".into(), Ok(())),
    }
}

type StepOutcome = (String, Result<(), StepFailure>);

fn apply(sim: &mut Simulation, objects: &OneOrMany) -> StepOutcome {
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

fn patch(sim: &mut Simulation, p: &PatchStep) -> StepOutcome {
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

fn delete(sim: &mut Simulation, t: &Target) -> StepOutcome {
    let k = key(&t.kind, &t.namespace, &t.name);
    let result = sim
        .store
        .delete(&k)
        .map_err(SimError::from)
        .and_then(|()| sim.settle());
    (format!("delete {k}"), result.map_err(Into::into))
}

fn end_workflow(sim: &mut Simulation, w: &WorkflowStep) -> StepOutcome {
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

fn advance(sim: &mut Simulation, d: &str) -> StepOutcome {
    let result = humantime::parse_duration(d)
        .map_err(|e| SimError::Step(format!("advance {d:?}: {e}")))
        .and_then(|d| {
            let target = sim.store.now.saturating_add(d.as_millis() as i64);
            sim.advance_to(target)
        });
    (format!("advance {d}"), result.map_err(Into::into))
}

/// Passes when `problems` is empty; otherwise a mismatch listing them.
fn mismatch_unless_empty(problems: Vec<String>) -> Result<(), StepFailure> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(StepFailure::Mismatch(problems.join("\n")))
    }
}

fn expect_present(sim: &Simulation, list: &[Expectation]) -> StepOutcome {
    let label = format!(
        "expect {}",
        list.iter().map(describe).collect::<Vec<_>>().join(", ")
    );
    let failures: Vec<String> = list
        .iter()
        .filter_map(|e| expect(&sim.store, e).err())
        .collect();
    (label, mismatch_unless_empty(failures))
}

fn expect_absent(sim: &Simulation, list: &[Expectation]) -> StepOutcome {
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
    (label, mismatch_unless_empty(present))
}

fn expect_events(sim: &Simulation, list: &[EventExpectation]) -> StepOutcome {
    let label = format!(
        "expect events {}",
        list.iter()
            .map(|e| e.reason.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let missing: Vec<String> = list
        .iter()
        .filter(|want| !sim.store.events().iter().any(|e| event_matches(e, want)))
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
    (label, mismatch_unless_empty(missing))
}

fn event_matches(e: &crate::store::Event, want: &EventExpectation) -> bool {
    e.reason == want.reason
        && want.regarding.as_ref().is_none_or(|r| &e.regarding == r)
        && want.type_.as_ref().is_none_or(|t| &e.type_ == t)
        && want
            .message
            .as_ref()
            .is_none_or(|m| e.message.contains(m.as_str()))
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
    select_by(
        store,
        &e.kind,
        &e.namespace,
        e.name.as_deref(),
        e.labels.as_ref(),
    )
}

fn select_by<'s>(
    store: &'s Store,
    kind: &str,
    namespace: &str,
    name: Option<&str>,
    labels: Option<&BTreeMap<String, String>>,
) -> Vec<(ObjKey, &'s Value)> {
    if let Some(name) = name {
        let k = key(kind, namespace, name);
        return store.get(&k).map(|v| vec![(k, v)]).unwrap_or_default();
    }
    store
        .all()
        .filter(|(k, _)| k.kind == kind && (namespace.is_empty() || k.namespace == namespace))
        .filter(|(_, v)| {
            labels.is_none_or(|want| {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario_with(dir: &Path, template: &str, item: &str) -> Result<Scenario, String> {
        std::fs::write(dir.join("common.yaml"), template).unwrap();
        let mut scenario: Scenario =
            kbind_model::yaml::from_str(&format!("name: t\nsteps:\n  - apply:\n      - {item}\n"))
                .unwrap();
        expand_includes(&mut scenario, dir).map(|()| scenario)
    }

    fn applied(scenario: &Scenario) -> Value {
        match &scenario.steps[0] {
            Step::Apply(OneOrMany::Many(v)) => v[0].clone(),
            other => panic!("not an apply step: {other:?}"),
        }
    }

    #[test]
    fn an_include_is_the_file_with_its_placeholders_filled() {
        let dir = tempfile::tempdir().unwrap();
        let template = "kind: Promise\nmetadata: {name: redis, labels: {v: \"${version}\"}}\nspec: {image: \"x:${version}-${suffix}\"}\n";
        let s = scenario_with(
            dir.path(),
            template,
            "{include: common.yaml, with: {version: v2, suffix: a}}",
        )
        .unwrap();
        assert_eq!(
            applied(&s),
            serde_json::json!({"kind": "Promise", "metadata": {"name": "redis", "labels": {"v": "v2"}}, "spec": {"image": "x:v2-a"}})
        );
    }

    #[test]
    fn a_placeholder_without_a_value_or_a_value_without_a_placeholder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let template = "kind: Promise\nmetadata: {name: \"${version}\"}\n";
        let missing = scenario_with(dir.path(), template, "{include: common.yaml}").unwrap_err();
        assert!(missing.contains("${version} has no value"), "{missing}");
        let unused = scenario_with(
            dir.path(),
            template,
            "{include: common.yaml, with: {version: a, versoin: b}}",
        )
        .unwrap_err();
        assert!(
            unused.contains("versoin, which the file never uses"),
            "{unused}"
        );
        let absent = scenario_with(dir.path(), template, "{include: nope.yaml}").unwrap_err();
        assert!(absent.contains("cannot read include"), "{absent}");
    }
}
