//! Decisions that policies which upgrade on their own share (semver-auto,
//! rollout): pin a new binding to the newest revision, never downgrade
//! silently, roll a failed upgrade back. A policy calls them from its
//! `Policy` methods; each answers with the reason users will see.

use alloc::format;

use crate::bindings::kbind::policy::types::*;
use crate::{
    LATEST, VersionChoice, compare_versions, latest_revision, newest_revision, restored_version,
};

/// Per-binding (or per-request) override of how far a binding may move on
/// its own; `none` opts it out.
pub const RANGE_ANNOTATION: &str = "kbind.io/upgrade-range";
/// Lets a user edit a binding to a lower version.
pub const ALLOW_DOWNGRADE_ANNOTATION: &str = "kbind.io/allow-downgrade";

/// An annotation of the binding, or else of its request: the binding's own
/// wins.
pub fn binding_annotation<'a>(binding: &'a Binding, key: &str) -> Option<&'a str> {
    crate::lookup(&binding.annotations, key)
        .or_else(|| crate::lookup(&binding.request.annotations, key))
}

/// `initial-version`: a recreated binding keeps its request's version;
/// otherwise the newest revision by semver, or the latest one when no
/// revision has a semver version.
pub fn pin_to_newest(input: &InitialVersionInput) -> Result<VersionChoice, alloc::string::String> {
    if let Some(restored) = restored_version(input) {
        return Ok(restored);
    }
    if let Some(rev) = newest_revision(&input.promise) {
        return Ok(VersionChoice::new(
            rev.version.clone(),
            format!("pinned to the newest revision {}", rev.version),
        ));
    }
    match latest_revision(&input.promise) {
        Some(rev) => Ok(VersionChoice::new(
            rev.version.clone(),
            format!(
                "no revision has a semver version; pinned to the latest revision {}",
                rev.version
            ),
        )),
        None => Err(format!(
            "promise {} has no revisions to pin a new binding to",
            input.promise.name
        )),
    }
}

/// `review-edit`: any edit but a downgrade; a downgrade only where the
/// binding or its request says [`ALLOW_DOWNGRADE_ANNOTATION`]: "true".
pub fn review_no_downgrade(input: &EditInput) -> Review {
    let requested = input.requested_version.as_str();
    let binding = &input.binding;
    let current = if binding.version == LATEST {
        binding.last_applied_version.as_deref().unwrap_or(LATEST)
    } else {
        binding.version.as_str()
    };
    let is_downgrade = compare_versions(requested, current) == Some(core::cmp::Ordering::Less);
    if !is_downgrade {
        return Review::allow(format!("{current} -> {requested} is not a downgrade"));
    }
    if binding_annotation(binding, ALLOW_DOWNGRADE_ANNOTATION) == Some("true") {
        return Review::allow(format!(
            "downgrade {current} -> {requested} allowed by {ALLOW_DOWNGRADE_ANNOTATION}"
        ));
    }
    Review::deny(format!(
        "downgrade {current} -> {requested} denied; annotate the binding or its request with \
         {ALLOW_DOWNGRADE_ANNOTATION}: \"true\" to allow it"
    ))
}

/// `after-failure`: back to the last applied version, or hold when there
/// is none other.
pub fn roll_back(input: &FailureInput) -> FailureDecision {
    match input.binding.last_applied_version.as_deref() {
        Some(applied) if applied != input.failed_version => FailureDecision::new(
            FailureAction::RollBack,
            format!(
                "upgrade to {} failed; rolling back to {applied}",
                input.failed_version
            ),
        ),
        _ => FailureDecision::new(
            FailureAction::Hold,
            format!(
                "{} failed and there is no other applied version to roll back to; holding",
                input.failed_version
            ),
        ),
    }
}
