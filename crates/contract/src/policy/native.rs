//! Native `kratix-default`, written independently of the wasm one: the
//! differential test checks that both give identical decisions on the same
//! inputs, and the benches measure the engine's overhead against it.

use std::time::Instant;

use super::{Decided, Policy, PolicyError, PolicyId};
use crate::*;

const STRATEGY: &str = "strategy";

pub struct NativeKratixDefault {
    id: PolicyId,
    info: PolicyInfo,
    settings: Vec<Setting>,
}

impl NativeKratixDefault {
    pub fn new(settings: Vec<Setting>) -> Self {
        Self {
            id: PolicyId {
                name: "kratix-default".into(),
                digest: "native".into(),
            },
            info: PolicyInfo {
                name: "kratix-default".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                description: "native reference implementation of kratix-default".into(),
                settings: vec![],
            },
            settings,
        }
    }

    fn timed<T>(
        &self,
        decision: &'static str,
        f: impl FnOnce() -> Result<T, String>,
    ) -> Result<Decided<T>, PolicyError> {
        let started = Instant::now();
        match f() {
            Ok(value) => Ok(Decided {
                value,
                fuel: 0,
                elapsed: started.elapsed(),
            }),
            Err(message) => Err(PolicyError::Declined {
                policy: self.id.clone(),
                decision,
                message,
            }),
        }
    }
}

/// `resourceBindingVersionStrategy` (§1.5): `pinned` pins, anything else
/// floats; an unrecognised value is reported in the reason.
fn floating_note(settings: &[Setting]) -> Option<Option<String>> {
    match setting(settings, STRATEGY) {
        Some("pinned") => None,
        None | Some("floating") | Some("") => Some(None),
        Some(other) => Some(Some(format!(
            "strategy {other:?} is not `floating` or `pinned`; using floating"
        ))),
    }
}

fn initial_version(input: &InitialVersionInput) -> Result<VersionChoice, String> {
    // a recreated binding keeps the version its request declared.
    if let Some(previous) = input.previous_version.as_deref().filter(|v| !v.is_empty()) {
        return Ok(VersionChoice {
            version: previous.to_string(),
            reason: format!(
                "restoring the binding version {previous} the request was last reconciled with"
            ),
        });
    }
    match floating_note(&input.settings) {
        Some(warning) => Ok(VersionChoice {
            version: LATEST.into(),
            reason: format!(
                "strategy floating: new bindings follow the latest revision{}",
                warning.map(|w| format!(" ({w})")).unwrap_or_default()
            ),
        }),
        None => match input.promise.latest_revision() {
            Some(rev) => Ok(VersionChoice {
                version: rev.version.clone(),
                reason: format!(
                    "strategy pinned: pinned to the latest revision {}",
                    rev.version
                ),
            }),
            None => Err(format!(
                "cannot find any PromiseRevision for Promise {} with status.latest set to true: no latest promise revision yet",
                input.promise.name
            )),
        },
    }
}

fn rerun_on_spec_change(input: &SpecChangeInput) -> RerunSelection {
    let changed = &input.changed_version;
    let changed_is_latest = input
        .promise
        .latest_revision()
        .is_some_and(|r| &r.version == changed);
    RerunSelection {
        rerun: input
            .bindings
            .iter()
            .filter(|b| &b.version == changed || (changed_is_latest && b.version == LATEST))
            .map(BindingRef::of)
            .collect(),
        reason: if changed_is_latest {
            format!(
                "re-running requests on {changed} and on latest; requests pinned to other versions are untouched"
            )
        } else {
            format!(
                "re-running requests pinned to {changed}; requests on other versions are untouched"
            )
        },
    }
}

impl Policy for NativeKratixDefault {
    fn id(&self) -> &PolicyId {
        &self.id
    }

    fn info(&self) -> &PolicyInfo {
        &self.info
    }

    fn settings(&self) -> &[Setting] {
        &self.settings
    }

    fn initial_version(
        &self,
        input: &InitialVersionInput,
    ) -> Result<Decided<VersionChoice>, PolicyError> {
        self.timed("initial-version", || initial_version(input))
    }

    fn plan_upgrades(&self, _input: &PlanInput) -> Result<Decided<UpgradePlan>, PolicyError> {
        self.timed("plan-upgrades", || {
            Ok(UpgradePlan {
                upgrades: vec![],
                recheck_after_ms: None,
                reason: "this policy never upgrades on its own; edit spec.version to upgrade"
                    .into(),
                rollouts: Vec::new(),
            })
        })
    }

    fn review_edit(&self, input: &EditInput) -> Result<Decided<Review>, PolicyError> {
        self.timed("review-edit", || {
            Ok(Review {
                allowed: true,
                reason: format!(
                    "edits are not restricted; {} -> {}",
                    input.binding.version, input.requested_version
                ),
            })
        })
    }

    fn after_failure(&self, input: &FailureInput) -> Result<Decided<FailureDecision>, PolicyError> {
        self.timed("after-failure", || {
            Ok(FailureDecision {
                action: FailureAction::Hold,
                reason: format!(
                    "upgrade to {} failed; holding until spec.version is edited",
                    input.failed_version
                ),
            })
        })
    }

    fn rerun_on_spec_change(
        &self,
        input: &SpecChangeInput,
    ) -> Result<Decided<RerunSelection>, PolicyError> {
        self.timed("rerun-on-spec-change", || Ok(rerun_on_spec_change(input)))
    }
}
