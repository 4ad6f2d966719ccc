//! One decision from a YAML/JSON input document: what `kbind eval` runs and
//! what policy test suites are built on.

pub mod input;

use std::time::Duration;

use serde_json::{Value, json};

pub use input::InputDoc;
use kbind_contract::policy::{Decided, Policy, PolicyError, PolicyId};
use kbind_contract::*;
use kbind_engine::{PolicyEngine, PolicySource};

/// The decision points, as named in the WIT contract.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionKind {
    ValidateSettings,
    InitialVersion,
    PlanUpgrades,
    ReviewEdit,
    AfterFailure,
    RerunOnSpecChange,
}

impl DecisionKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::ValidateSettings => "validate-settings",
            Self::InitialVersion => "initial-version",
            Self::PlanUpgrades => "plan-upgrades",
            Self::ReviewEdit => "review-edit",
            Self::AfterFailure => "after-failure",
            Self::RerunOnSpecChange => "rerun-on-spec-change",
        }
    }
}

/// Why an evaluation could not produce a decision.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The input document lacks something this decision needs.
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// A decision, rendered in the stable JSON shape used by `-o json` and by
/// the `expect:` of policy test suites.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Evaluation {
    pub policy: PolicyId,
    pub decision: DecisionKind,
    pub result: Value,
    pub fuel: u64,
    #[serde(rename = "elapsedMicros", serialize_with = "micros")]
    pub elapsed: Duration,
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros() as u64)
}

fn need<T: Clone>(field: &Option<T>, name: &str, decision: DecisionKind) -> Result<T, EvalError> {
    field
        .clone()
        .ok_or_else(|| EvalError::Input(format!("{} needs `{name}` in its input", decision.name())))
}

/// Runs one decision on a loaded policy. `validate-settings` is not handled
/// here: it is part of loading (see [`validate_settings`]).
pub fn decide(
    policy: &dyn Policy,
    decision: DecisionKind,
    doc: &InputDoc,
) -> Result<Evaluation, EvalError> {
    let now = doc.now.map_or_else(kbind_model::time::now_millis, |t| t.0);
    let settings = doc
        .settings
        .as_ref()
        .map_or_else(|| policy.settings().to_vec(), kbind_contract::settings_from);
    let promise = || need(&doc.promise, "promise", decision).map(|p| p.to_contract(now));
    let binding = || need(&doc.binding, "binding", decision).map(|b| b.to_contract());
    let bindings = || {
        doc.bindings
            .iter()
            .flatten()
            .map(|b| b.to_contract())
            .collect::<Vec<_>>()
    };
    let finish = |d: Decided<Value>| Evaluation {
        policy: policy.id().clone(),
        decision,
        result: d.value,
        fuel: d.fuel,
        elapsed: d.elapsed,
    };
    let rendered = match decision {
        DecisionKind::ValidateSettings => {
            return Err(EvalError::Input(
                "validate-settings runs when a policy is loaded; use eval::validate_settings"
                    .into(),
            ));
        }
        DecisionKind::InitialVersion => {
            let input = InitialVersionInput {
                now,
                settings,
                promise: promise()?,
                request: need(&doc.request, "request", decision)?.to_contract(),
                previous_version: doc.previous_version.clone(),
            };
            map(policy.initial_version(&input)?, render_version_choice)
        }
        DecisionKind::PlanUpgrades => {
            let input = PlanInput {
                now,
                settings,
                promise: promise()?,
                bindings: bindings(),
                trigger: match doc.trigger.unwrap_or_default() {
                    input::TriggerDoc::RevisionsChanged => PlanTrigger::RevisionsChanged,
                    input::TriggerDoc::Timer => PlanTrigger::Timer,
                    input::TriggerDoc::PromiseChanged => PlanTrigger::PromiseChanged,
                    input::TriggerDoc::PolicyChanged => PlanTrigger::PolicyChanged,
                    input::TriggerDoc::BindingsChanged => PlanTrigger::BindingsChanged,
                },
            };
            map(policy.plan_upgrades(&input)?, render_plan)
        }
        DecisionKind::ReviewEdit => {
            let input = EditInput {
                now,
                settings,
                promise: promise()?,
                binding: binding()?,
                requested_version: need(&doc.requested_version, "requestedVersion", decision)?,
            };
            map(policy.review_edit(&input)?, render_review)
        }
        DecisionKind::AfterFailure => {
            let binding = binding()?;
            let failed_version = doc
                .failed_version
                .clone()
                .or_else(|| binding.failed_version.clone())
                .ok_or_else(|| {
                    EvalError::Input(
                        "after-failure needs `failedVersion` (or binding.failedVersion)".into(),
                    )
                })?;
            let input = FailureInput {
                now,
                settings,
                promise: promise()?,
                binding,
                failed_version,
                message: doc.message.clone().unwrap_or_default(),
                attempts: doc.attempts.unwrap_or(1),
                failed_at: doc.failed_at.map_or(now, |t| t.0),
            };
            map(policy.after_failure(&input)?, render_failure)
        }
        DecisionKind::RerunOnSpecChange => {
            let input = SpecChangeInput {
                now,
                settings,
                promise: promise()?,
                changed_version: need(&doc.changed_version, "changedVersion", decision)?,
                bindings: bindings(),
            };
            map(policy.rerun_on_spec_change(&input)?, render_rerun)
        }
    };
    Ok(finish(rendered))
}

/// `validate-settings`: loads the policy with the document's settings.
pub fn validate_settings(
    engine: &PolicyEngine,
    source: &PolicySource,
    expected_sha256: Option<&str>,
    doc: &InputDoc,
) -> Result<Evaluation, EvalError> {
    let settings = doc
        .settings
        .as_ref()
        .map(kbind_contract::settings_from)
        .unwrap_or_default();
    let started = std::time::Instant::now();
    let (policy, _) = engine.load(source, expected_sha256, settings)?;
    Ok(Evaluation {
        policy: policy.id().clone(),
        decision: DecisionKind::ValidateSettings,
        result: json!({"valid": true}),
        fuel: 0,
        elapsed: started.elapsed(),
    })
}

fn map<T>(d: Decided<T>, render: impl FnOnce(&T) -> Value) -> Decided<Value> {
    Decided {
        value: render(&d.value),
        fuel: d.fuel,
        elapsed: d.elapsed,
    }
}

fn render_ref(r: &BindingRef) -> Value {
    json!({"namespace": r.namespace, "name": r.name})
}

pub fn render_version_choice(v: &VersionChoice) -> Value {
    json!({"version": v.version, "reason": v.reason})
}

pub fn render_plan(p: &UpgradePlan) -> Value {
    let upgrades: Vec<Value> = p
        .upgrades
        .iter()
        .map(|u| json!({"binding": render_ref(&u.binding), "version": u.version, "reason": u.reason}))
        .collect();
    let mut out = json!({"upgrades": upgrades, "reason": p.reason});
    if let Some(ms) = p.recheck_after_ms {
        out["recheckAfterMs"] = json!(ms);
    }
    out
}

pub fn render_review(r: &Review) -> Value {
    json!({"allowed": r.allowed, "reason": r.reason})
}

pub fn render_failure(f: &FailureDecision) -> Value {
    match f.action {
        FailureAction::Hold => json!({"action": "hold", "reason": f.reason}),
        FailureAction::RollBack => json!({"action": "roll-back", "reason": f.reason}),
        FailureAction::RetryAfter(ms) => {
            json!({"action": "retry-after", "retryAfterMs": ms, "reason": f.reason})
        }
    }
}

pub fn render_rerun(r: &RerunSelection) -> Value {
    let rerun: Vec<Value> = r.rerun.iter().map(render_ref).collect();
    json!({"rerun": rerun, "reason": r.reason})
}
