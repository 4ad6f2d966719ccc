//! `semver-auto`: keeps bindings on the newest compatible revision.
//!
//! - New binding: pinned to the newest revision by semver (a recreated
//!   binding keeps the version its request was last reconciled with).
//! - When revisions change: each pinned binding moves to the highest revision
//!   within its range of its current version (`patch` or `minor`, setting
//!   `range`, overridable per binding or request by the annotation
//!   `kbind.io/upgrade-range: none|patch|minor`). Never crosses a major,
//!   never picks a pre-release, never re-selects a version that failed for
//!   that binding, leaves `latest` bindings and running upgrades alone.
//! - A user's edit to a lower version is denied unless the binding or request
//!   carries `kbind.io/allow-downgrade: "true"`.
//! - After a failed upgrade: roll back to the last applied version.
#![cfg_attr(target_arch = "wasm32", no_std)]

use kbind_policy_sdk::*;

const RANGE: &str = "range";
/// How soon to plan again when bindings were skipped because an upgrade
/// was running on them.
const BUSY_RECHECK_MS: u64 = 5_000;

pub struct SemverAuto;

fn configured_range(settings: &[Setting]) -> Result<UpgradeRange, String> {
    match setting(settings, RANGE) {
        None => Ok(UpgradeRange::Minor),
        Some(value) => match UpgradeRange::parse(value) {
            Some(UpgradeRange::None) | None => Err(format!(
                "setting `{RANGE}` must be `patch` or `minor`, not {value:?}"
            )),
            Some(range) => Ok(range),
        },
    }
}

fn range_for(binding: &Binding, default: UpgradeRange) -> (UpgradeRange, Option<String>) {
    match binding_annotation(binding, RANGE_ANNOTATION) {
        None => (default, None),
        Some(value) => match UpgradeRange::parse(value) {
            Some(range) => (range, None),
            None => (
                default,
                Some(format!(
                    "{}/{}: ignoring {RANGE_ANNOTATION}={value:?} (expected none, patch or minor)",
                    binding.namespace, binding.name
                )),
            ),
        },
    }
}

fn has_failed(binding: &Binding, version: &str) -> bool {
    binding.failed_version.as_deref() == Some(version)
        || binding.failed_versions.iter().any(|v| v == version)
}

/// The highest revision in range of the binding's version that has not
/// failed for it.
fn upgrade_target<'a>(
    promise: &'a Promise,
    binding: &Binding,
    range: UpgradeRange,
) -> Option<&'a Revision> {
    promise
        .revisions
        .iter()
        .filter(|r| version_in_range(&binding.version, &r.version, range))
        .filter(|r| !has_failed(binding, &r.version))
        .filter_map(|r| parse_version(&r.version).map(|v| (v, r)))
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, r)| r)
}

impl Policy for SemverAuto {
    fn metadata() -> PolicyInfo {
        PolicyInfo::new(
            "semver-auto",
            env!("CARGO_PKG_VERSION"),
            "Pins new bindings to the newest revision and upgrades them automatically within a \
             patch or minor range; never crosses a major, never retries a failed version, \
             rolls back failed upgrades and denies downgrades unless allowed.",
        )
        .setting(
            RANGE,
            "How far automatic upgrades may move a binding: `patch` (same minor) or `minor` \
             (same major). Override per binding or request with the annotation \
             kbind.io/upgrade-range: none|patch|minor.",
            Some("minor"),
            &["patch", "minor"],
        )
    }

    fn validate_settings(settings: Vec<Setting>) -> Result<(), String> {
        check_known_settings(&settings, &[RANGE], "semver-auto")?;
        configured_range(&settings).map(|_| ())
    }

    fn initial_version(input: InitialVersionInput) -> Result<VersionChoice, String> {
        pin_to_newest(&input)
    }

    fn plan_upgrades(input: PlanInput) -> Result<UpgradePlan, String> {
        let default_range = configured_range(&input.settings)?;
        let mut upgrades = Vec::new();
        let mut notes = Vec::new();
        let mut busy = 0usize;
        for binding in &input.bindings {
            if binding.version == LATEST {
                continue;
            }
            if binding.state == UpgradeState::InProgress {
                // Left alone now, but not forgotten: ask to be asked again.
                busy += 1;
                continue;
            }
            let (range, note) = range_for(binding, default_range);
            notes.extend(note);
            if let Some(target) = upgrade_target(&input.promise, binding, range) {
                upgrades.push(Upgrade {
                    binding: BindingRef::of(binding),
                    version: target.version.clone(),
                    reason: format!(
                        "{} -> {}: newest revision within the {} range",
                        binding.version,
                        target.version,
                        range.as_str()
                    ),
                });
            }
        }
        let mut reason = format!(
            "{} of {} binding(s) upgraded within their range",
            upgrades.len(),
            input.bindings.len()
        );
        for note in notes {
            reason.push_str("; ");
            reason.push_str(&note);
        }
        if busy > 0 {
            reason.push_str(&format!(
                "; {busy} binding(s) with an upgrade running, checked again in {}s",
                BUSY_RECHECK_MS / 1000
            ));
        }
        Ok(UpgradePlan {
            upgrades,
            recheck_after_ms: (busy > 0).then_some(BUSY_RECHECK_MS),
            reason,
            rollouts: Vec::new(),
        })
    }

    fn review_edit(input: EditInput) -> Result<Review, String> {
        Ok(review_no_downgrade(&input))
    }

    fn after_failure(input: FailureInput) -> Result<FailureDecision, String> {
        Ok(roll_back(&input))
    }
}

export_policy!(SemverAuto);

#[cfg(test)]
mod tests {
    use super::*;
    use kbind_policy_sdk::testing::*;

    fn revisions() -> Promise {
        promise("redis")
            .revision("v1.0.0")
            .revision("v1.0.3")
            .revision("v1.2.0")
            .revision("v1.3.0-rc.1")
            .revision("v2.0.0")
            .latest("v2.0.1")
            .build()
    }

    fn plan(settings_: &[(&str, &str)], bindings: Vec<Binding>) -> UpgradePlan {
        SemverAuto::plan_upgrades(PlanInput {
            now: NOW,
            settings: settings(settings_),
            promise: revisions(),
            bindings,
            trigger: PlanTrigger::RevisionsChanged,
        })
        .unwrap()
    }

    fn targets(plan: &UpgradePlan) -> Vec<(&str, &str)> {
        plan.upgrades
            .iter()
            .map(|u| (u.binding.name.as_str(), u.version.as_str()))
            .collect()
    }

    #[test]
    fn new_bindings_pin_the_newest_revision_not_the_latest_marker() {
        let choice = SemverAuto::initial_version(InitialVersionInput {
            now: NOW,
            settings: vec![],
            promise: promise("redis").latest("v1.0.0").revision("v1.1.0").build(),
            request: request("default", "a"),
            previous_version: None,
        })
        .unwrap();
        assert_eq!(choice.version, "v1.1.0");
    }

    #[test]
    fn minor_range_moves_to_highest_in_major_and_skips_prereleases() {
        let p = plan(
            &[],
            vec![binding("default", "a", "v1.0.0").applied("v1.0.0")],
        );
        assert_eq!(targets(&p), [("a-binding", "v1.2.0")]);
    }

    #[test]
    fn patch_range_stays_in_minor() {
        let p = plan(
            &[("range", "patch")],
            vec![binding("default", "a", "v1.0.0")],
        );
        assert_eq!(targets(&p), [("a-binding", "v1.0.3")]);
    }

    #[test]
    fn never_crosses_a_major() {
        let p = plan(&[], vec![binding("default", "a", "v1.2.0")]);
        assert!(p.upgrades.is_empty(), "{:?}", targets(&p));
        let p = plan(&[], vec![binding("default", "b", "v2.0.0")]);
        assert_eq!(targets(&p), [("b-binding", "v2.0.1")]);
    }

    #[test]
    fn annotation_overrides_range_per_request() {
        let p = plan(
            &[],
            vec![
                binding("default", "a", "v1.0.0").request_annotated(RANGE_ANNOTATION, "patch"),
                binding("default", "b", "v1.0.0").annotated(RANGE_ANNOTATION, "none"),
                binding("default", "c", "v1.0.0"),
            ],
        );
        assert_eq!(
            targets(&p),
            [("a-binding", "v1.0.3"), ("c-binding", "v1.2.0")]
        );
    }

    #[test]
    fn invalid_annotation_falls_back_and_is_reported() {
        let p = plan(
            &[],
            vec![binding("default", "a", "v1.0.0").annotated(RANGE_ANNOTATION, "major")],
        );
        assert_eq!(targets(&p), [("a-binding", "v1.2.0")]);
        assert!(
            p.reason.contains("ignoring kbind.io/upgrade-range"),
            "{}",
            p.reason
        );
    }

    #[test]
    fn never_reselects_a_failed_version() {
        let p = plan(
            &[],
            vec![
                binding("default", "a", "v1.0.0")
                    .applied("v1.0.0")
                    .failed("v1.2.0"),
            ],
        );
        assert_eq!(targets(&p), [("a-binding", "v1.0.3")]);
    }

    #[test]
    fn leaves_latest_and_running_upgrades_alone() {
        let p = plan(
            &[],
            vec![
                binding("default", "a", "latest"),
                binding("default", "b", "v1.0.0").in_flight("v1.0.0"),
            ],
        );
        assert!(p.upgrades.is_empty());
        assert_eq!(
            p.recheck_after_ms,
            Some(BUSY_RECHECK_MS),
            "a running binding is checked again, not forgotten"
        );
    }

    #[test]
    fn settings_are_validated() {
        assert!(SemverAuto::validate_settings(settings(&[("range", "patch")])).is_ok());
        assert!(SemverAuto::validate_settings(settings(&[("range", "major")])).is_err());
        assert!(SemverAuto::validate_settings(settings(&[("range", "none")])).is_err());
        assert!(SemverAuto::validate_settings(settings(&[("rnage", "patch")])).is_err());
    }

    fn review(binding: Binding, to: &str) -> Review {
        SemverAuto::review_edit(EditInput {
            now: NOW,
            settings: vec![],
            promise: revisions(),
            binding,
            requested_version: to.into(),
        })
        .unwrap()
    }

    #[test]
    fn downgrades_are_denied_unless_annotated() {
        let r = review(binding("default", "a", "v1.2.0"), "v1.0.0");
        assert!(!r.allowed);
        assert!(r.reason.contains(ALLOW_DOWNGRADE_ANNOTATION));
        assert!(
            review(
                binding("default", "a", "v1.2.0").annotated(ALLOW_DOWNGRADE_ANNOTATION, "true"),
                "v1.0.0"
            )
            .allowed
        );
        assert!(
            review(
                binding("default", "a", "v1.2.0")
                    .request_annotated(ALLOW_DOWNGRADE_ANNOTATION, "true"),
                "v1.0.0"
            )
            .allowed
        );
        assert!(review(binding("default", "a", "v1.0.0"), "v2.0.0").allowed);
        assert!(review(binding("default", "a", "v1.0.0"), "latest").allowed);
        // From `latest`, a downgrade is judged against the applied version.
        assert!(
            !review(
                binding("default", "a", "latest").applied("v2.0.1"),
                "v1.0.0"
            )
            .allowed
        );
    }

    #[test]
    fn failed_upgrade_rolls_back_to_the_applied_version() {
        let d = SemverAuto::after_failure(FailureInput {
            now: NOW,
            settings: vec![],
            promise: revisions(),
            binding: binding("default", "a", "v1.2.0")
                .applied("v1.0.0")
                .failed("v1.2.0"),
            failed_version: "v1.2.0".into(),
            message: "boom".into(),
            attempts: 1,
            failed_at: NOW,
        })
        .unwrap();
        assert_eq!(d.action, FailureAction::RollBack);
        let d = SemverAuto::after_failure(FailureInput {
            now: NOW,
            settings: vec![],
            promise: revisions(),
            binding: binding("default", "a", "v1.2.0").failed("v1.2.0"),
            failed_version: "v1.2.0".into(),
            message: "boom".into(),
            attempts: 1,
            failed_at: NOW,
        })
        .unwrap();
        assert_eq!(d.action, FailureAction::Hold);
    }
}
