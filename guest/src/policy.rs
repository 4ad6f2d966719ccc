use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::bindings::kbind::policy::types::*;
use crate::{BindingRef, LATEST, latest_revision};

/// A policy: one method per decision point of the contract. Only
/// `metadata` and `initial_version` are required; the others default to
/// Kratix's behaviour.
pub trait Policy {
    fn metadata() -> PolicyInfo;

    /// Accepts any settings by default.
    fn validate_settings(_settings: Vec<Setting>) -> Result<(), String> {
        Ok(())
    }

    fn initial_version(input: InitialVersionInput) -> Result<VersionChoice, String>;

    /// Never upgrades on its own by default: users upgrade by editing
    /// `spec.version`.
    fn plan_upgrades(_input: PlanInput) -> Result<UpgradePlan, String> {
        Ok(UpgradePlan {
            upgrades: Vec::new(),
            recheck_after_ms: None,
            reason: "this policy never upgrades on its own; edit spec.version to upgrade".into(),
            rollouts: Vec::new(),
        })
    }

    /// Allows every edit by default (Kratix does not validate bindings).
    fn review_edit(input: EditInput) -> Result<Review, String> {
        Ok(Review::allow(format!(
            "edits are not restricted; {} -> {}",
            input.binding.version, input.requested_version
        )))
    }

    /// Holds by default: the failed version is not retried until a user
    /// edits the binding (Kratix's oscillation guard).
    fn after_failure(input: FailureInput) -> Result<FailureDecision, String> {
        Ok(FailureDecision::new(
            FailureAction::Hold,
            format!(
                "upgrade to {} failed; holding until spec.version is edited",
                input.failed_version
            ),
        ))
    }

    /// By default re-runs requests on `latest` when the changed revision is
    /// the latest one, and requests pinned to the changed version
    /// (Kratix issue #815 fixed).
    fn rerun_on_spec_change(input: SpecChangeInput) -> Result<RerunSelection, String> {
        Ok(default_rerun_selection(&input))
    }
}

/// Requests bound to the changed version, plus `latest` requests if the
/// changed revision is the latest one.
pub fn default_rerun_selection(input: &SpecChangeInput) -> RerunSelection {
    let changed_is_latest =
        latest_revision(&input.promise).is_some_and(|r| r.version == input.changed_version);
    let rerun = input
        .bindings
        .iter()
        .filter(|b| {
            b.version == input.changed_version || (changed_is_latest && b.version == LATEST)
        })
        .map(BindingRef::of)
        .collect();
    let reason = if changed_is_latest {
        format!(
            "re-running requests on {} and on latest; requests pinned to other versions are untouched",
            input.changed_version
        )
    } else {
        format!(
            "re-running requests pinned to {}; requests on other versions are untouched",
            input.changed_version
        )
    };
    RerunSelection { rerun, reason }
}
