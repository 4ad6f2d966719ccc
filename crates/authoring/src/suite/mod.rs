//! `kbind test`: policy test suites, the policy author's `opa test`.
//!
//! A suite is a YAML file of cases; each names a decision point, settings and
//! an input document (the same format as `kbind eval`), and expects either a
//! result (matched as a subset of the JSON `kbind eval -o json` prints under
//! `result`) or an error, optionally under a fuel ceiling.

pub mod bench;
pub mod junit;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::eval::{self, DecisionKind, EvalError, InputDoc};
use kbind_contract::SettingsMap;
use kbind_contract::policy::PolicyId;
use kbind_engine::shipped;
use kbind_engine::{LoadedPolicy, PolicyEngine, PolicySource};
use kbind_model::subset;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SuiteDoc {
    /// Shown in reports; defaults to the file name.
    pub name: Option<String>,
    /// A shipped policy's name or a path relative to the suite file.
    /// `kbind test --policy` overrides it.
    pub policy: Option<String>,
    /// Refuse the policy unless its sha256 is this.
    pub sha256: Option<String>,
    /// Settings the policy is loaded with, unless a case has its own.
    #[serde(default)]
    pub settings: SettingsMap,
    /// Which policies the cases' `maxFuel` ceilings hold: only the one the
    /// suite names (`own-policy`, the default: another policy run with
    /// `--policy` is compared on decisions, not costs), or any.
    #[serde(default)]
    pub fuel_ceilings: FuelCeilings,
    pub cases: Vec<CaseDoc>,
}

/// See [`SuiteDoc::fuel_ceilings`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FuelCeilings {
    #[default]
    OwnPolicy,
    AnyPolicy,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaseDoc {
    pub name: String,
    pub decision: DecisionKind,
    /// Replaces the suite's settings for this case.
    pub settings: Option<SettingsMap>,
    #[serde(default)]
    pub input: InputDoc,
    /// Fields the result must contain.
    pub expect: Option<Value>,
    /// The decision must fail: a substring of the message, or
    /// `{kind: <error kind>, message: <substring>}`.
    pub expect_error: Option<ErrorExpectation>,
    /// The decision must use at most this much fuel.
    pub max_fuel: Option<u64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum ErrorExpectation {
    Message(String),
    #[serde(rename_all = "camelCase")]
    Detailed {
        kind: Option<String>,
        message: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "kebab-case")]
pub enum Outcome {
    Passed,
    Failed(String),
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct CaseReport {
    pub name: String,
    pub decision: DecisionKind,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub fuel: Option<u64>,
    #[serde(skip)]
    pub elapsed: Duration,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct SuiteReport {
    pub file: PathBuf,
    pub name: String,
    pub policy: Option<PolicyId>,
    pub cases: Vec<CaseReport>,
    /// The suite could not run at all (unreadable, invalid, policy unusable).
    pub error: Option<String>,
    /// Why the cases' `maxFuel` ceilings were not applied, if they were not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel_ceilings_skipped: Option<String>,
}

impl SuiteReport {
    pub fn passed(&self) -> usize {
        self.cases
            .iter()
            .filter(|c| c.outcome == Outcome::Passed)
            .count()
    }

    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed() + usize::from(self.error.is_some())
    }
}

/// Reads and runs one suite file. `policy_override` (a shipped name or a
/// path) replaces the suite's own `policy:`.
pub fn run_file(engine: &PolicyEngine, file: &Path, policy_override: Option<&str>) -> SuiteReport {
    let mut report = SuiteReport {
        file: file.to_path_buf(),
        name: file.file_stem().map_or_else(
            || file.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        ),
        policy: None,
        cases: vec![],
        error: None,
        fuel_ceilings_skipped: None,
    };
    let doc = match std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))
        .and_then(|text| {
            kbind_model::yaml::from_str::<SuiteDoc>(&text)
                .map_err(|e| format!("invalid suite {}: {e}", file.display()))
        }) {
        Ok(doc) => doc,
        Err(err) => {
            report.error = Some(err);
            return report;
        }
    };
    if let Some(name) = &doc.name {
        report.name = name.clone();
    }
    let base = file.parent().unwrap_or(Path::new("."));
    let source = match resolve_policy(&doc, policy_override, base) {
        Ok(source) => source,
        Err(err) => {
            report.error = Some(err.to_string());
            return report;
        }
    };
    report.fuel_ceilings_skipped = fuel_ceilings_skipped(&doc, policy_override, base, &source);
    let mut runner = Runner {
        engine,
        source,
        sha256: doc.sha256.clone(),
        loaded: HashMap::new(),
        fuel_ceilings: report.fuel_ceilings_skipped.is_none(),
    };
    for case in &doc.cases {
        let settings = case.settings.as_ref().unwrap_or(&doc.settings);
        let case_report = runner.run(case, settings);
        if report.policy.is_none() {
            report.policy = runner
                .loaded
                .values()
                .find_map(|p| p.as_ref().ok())
                .map(|p| {
                    use kbind_contract::policy::Policy;
                    p.id().clone()
                });
        }
        report.cases.push(case_report);
    }
    report
}

/// The policy a suite runs: `--policy` (a shipped name, or a path from where
/// the command runs) or else the suite's `policy:` (a path from the suite's
/// folder).
pub(crate) fn resolve_policy(
    doc: &SuiteDoc,
    policy_override: Option<&str>,
    base: &Path,
) -> Result<PolicySource, kbind_contract::policy::PolicyError> {
    match policy_override {
        Some(given) => shipped::resolve_in(Some(given), Path::new(".")),
        None => shipped::resolve_in(doc.policy.as_deref(), base),
    }
}

/// `Some(why)` when the suite's fuel ceilings do not hold the policy under
/// test: it was given with `--policy`, differs (by digest) from the policy
/// the suite names, and the suite does not say `fuelCeilings: any-policy`.
fn fuel_ceilings_skipped(
    doc: &SuiteDoc,
    policy_override: Option<&str>,
    base: &Path,
    tested: &PolicySource,
) -> Option<String> {
    let (Some(other), Some(own)) = (policy_override, doc.policy.as_deref()) else {
        return None;
    };
    if doc.fuel_ceilings == FuelCeilings::AnyPolicy {
        return None;
    }
    let written_for = shipped::resolve_in(Some(own), base).ok();
    if written_for.is_some_and(|s| s.sha256() == tested.sha256()) {
        return None;
    }
    Some(format!(
        "maxFuel ceilings not applied: the suite was written for {own}, this run tests {other} \
         (decisions are compared, not costs; `fuelCeilings: any-policy` applies them)"
    ))
}

struct Runner<'a> {
    engine: &'a PolicyEngine,
    source: PolicySource,
    sha256: Option<String>,
    /// One load per distinct settings, kept with its outcome.
    loaded: HashMap<SettingsMap, Result<LoadedPolicy, String>>,
    /// Whether cases' `maxFuel` ceilings hold this policy.
    fuel_ceilings: bool,
}

/// What a case produced, normalised for comparison.
struct Produced {
    result: Result<Value, (String, String)>,
    fuel: Option<u64>,
    elapsed: Duration,
}

impl Runner<'_> {
    fn policy(&mut self, settings: &SettingsMap) -> Result<LoadedPolicy, (String, String)> {
        let engine = self.engine;
        let source = &self.source;
        let sha256 = self.sha256.as_deref();
        self.loaded
            .entry(settings.clone())
            .or_insert_with(|| {
                engine
                    .load(source, sha256, kbind_contract::settings_from(settings))
                    .map(|(p, _)| p)
                    .map_err(|e| format!("{}\u{0}{e}", e.metric_label()))
            })
            .clone()
            .map_err(|e| {
                let (kind, message) = e.split_once('\u{0}').unwrap_or(("load", &e));
                (kind.to_string(), message.to_string())
            })
    }

    fn produce(&mut self, case: &CaseDoc, settings: &SettingsMap) -> Produced {
        let failed = |kind: &str, message: String| Produced {
            result: Err((kind.to_string(), message)),
            fuel: None,
            elapsed: Duration::ZERO,
        };
        if case.decision == DecisionKind::ValidateSettings {
            return match self.policy(settings) {
                Ok(_) => Produced {
                    result: Ok(serde_json::json!({"valid": true})),
                    fuel: None,
                    elapsed: Duration::ZERO,
                },
                Err((kind, message)) => failed(&kind, message),
            };
        }
        let policy = match self.policy(settings) {
            Ok(policy) => policy,
            Err((kind, message)) => return failed(&kind, message),
        };
        match eval::decide(&policy, case.decision, &case.input) {
            Ok(e) => Produced {
                result: Ok(e.result),
                fuel: Some(e.fuel),
                elapsed: e.elapsed,
            },
            Err(EvalError::Input(message)) => failed("input", message),
            Err(EvalError::Policy(err)) => failed(err.metric_label(), err.to_string()),
        }
    }

    fn run(&mut self, case: &CaseDoc, settings: &SettingsMap) -> CaseReport {
        let produced = self.produce(case, settings);
        let outcome = judge(case, &produced, self.fuel_ceilings);
        CaseReport {
            name: case.name.clone(),
            decision: case.decision,
            outcome,
            fuel: produced.fuel,
            elapsed: produced.elapsed,
        }
    }
}

fn judge(case: &CaseDoc, produced: &Produced, fuel_ceilings: bool) -> Outcome {
    let verdict = match (&case.expect_error, &produced.result) {
        (Some(want), Err((kind, message))) => match want {
            ErrorExpectation::Message(sub) if !message.contains(sub.as_str()) => Err(format!(
                "expected an error containing {sub:?}, got: {message}"
            )),
            ErrorExpectation::Detailed { kind: Some(k), .. } if k != kind => Err(format!(
                "expected an error of kind {k}, got {kind}: {message}"
            )),
            ErrorExpectation::Detailed {
                message: Some(sub), ..
            } if !message.contains(sub.as_str()) => Err(format!(
                "expected an error containing {sub:?}, got: {message}"
            )),
            _ => Ok(()),
        },
        (Some(_), Ok(result)) => Err(format!("expected an error, got the decision {result}")),
        (None, Err((kind, message))) => Err(format!("the decision failed ({kind}): {message}")),
        (None, Ok(result)) => case.expect.as_ref().map_or(Ok(()), |want| {
            subset::contains(want, result).map_err(|d| format!("{d}\n  result: {result}"))
        }),
    };
    let ceiling = case.max_fuel.filter(|_| fuel_ceilings);
    let verdict = verdict.and_then(|()| match (ceiling, produced.fuel) {
        (Some(max), Some(used)) if used > max => {
            Err(format!("used {used} fuel, over the ceiling of {max}"))
        }
        _ => Ok(()),
    });
    match verdict {
        Ok(()) => Outcome::Passed,
        Err(detail) => Outcome::Failed(detail),
    }
}
