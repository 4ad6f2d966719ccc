//! `kratix-default`: exactly the decisions Kratix hard-codes.
//!
//! - New binding: the version the request was last reconciled with if
//!   the binding is being recreated; else `latest` (strategy `floating`, the
//!   default) or the latest revision's version (strategy `pinned`). A missing
//!   or unknown strategy value means `floating`, as in Kratix.
//! - Never upgrades on its own; every edit is allowed (the host still refuses
//!   versions with no revision).
//! - After a failed upgrade: hold; the same version is not retried until the
//!   binding is edited (R-26 guard).
//! - Promise spec change: re-run requests on `latest` and those pinned to the
//!   changed version only (Kratix issue #815, fixed).
#![cfg_attr(target_arch = "wasm32", no_std)]

use kbind_policy_sdk::*;

const STRATEGY: &str = "strategy";
const FLOATING: &str = "floating";
const PINNED: &str = "pinned";

pub struct KratixDefault;

#[derive(Debug, PartialEq, Eq)]
enum Strategy {
    Floating,
    Pinned,
}

/// Kratix reads `resourceBindingVersionStrategy` case-sensitively; anything
/// but `pinned` floats (an invalid value is reported, not fatal).
fn strategy(settings: &[Setting]) -> (Strategy, Option<String>) {
    match setting(settings, STRATEGY) {
        Some(PINNED) => (Strategy::Pinned, None),
        None | Some(FLOATING) | Some("") => (Strategy::Floating, None),
        Some(other) => (
            Strategy::Floating,
            Some(format!(
                "strategy {other:?} is not `floating` or `pinned`; using floating"
            )),
        ),
    }
}

impl Policy for KratixDefault {
    fn metadata() -> PolicyInfo {
        PolicyInfo::new(
            "kratix-default",
            env!("CARGO_PKG_VERSION"),
            "Kratix's built-in decisions: bindings float on `latest` (or are pinned at creation), \
             upgrades happen only when a user edits spec.version, failed upgrades hold.",
        )
        .setting(
            STRATEGY,
            "Version of new bindings: `floating` (spec.version: latest) or `pinned` (the latest \
             revision's version at creation). Invalid values mean floating, as in Kratix.",
            Some(FLOATING),
            &[FLOATING, PINNED],
        )
    }

    fn validate_settings(settings: Vec<Setting>) -> Result<(), String> {
        check_known_settings(&settings, &[STRATEGY], "kratix-default")
    }

    fn initial_version(input: InitialVersionInput) -> Result<VersionChoice, String> {
        // a recreated binding keeps the version the request declared,
        // whatever the strategy.
        if let Some(restored) = restored_version(&input) {
            return Ok(restored);
        }
        let (strategy, warning) = strategy(&input.settings);
        let note = warning.map(|w| format!(" ({w})")).unwrap_or_default();
        match strategy {
            Strategy::Floating => Ok(VersionChoice::new(
                LATEST,
                format!("strategy floating: new bindings follow the latest revision{note}"),
            )),
            Strategy::Pinned => match latest_revision(&input.promise) {
                Some(rev) => Ok(VersionChoice::new(
                    rev.version.clone(),
                    format!(
                        "strategy pinned: pinned to the latest revision {}",
                        rev.version
                    ),
                )),
                None => Err(format!(
                    "cannot find any PromiseRevision for Promise {} with status.latest set to true: no latest promise revision yet",
                    input.promise.name
                )),
            },
        }
    }
}

export_policy!(KratixDefault);

#[cfg(test)]
mod tests {
    use super::*;
    use kbind_policy_sdk::testing::*;

    fn initial(
        settings_: &[(&str, &str)],
        previous: Option<&str>,
    ) -> Result<VersionChoice, String> {
        KratixDefault::initial_version(InitialVersionInput {
            now: NOW,
            settings: settings(settings_),
            promise: promise("redis").revision("v0.1.0").latest("v0.2.0").build(),
            request: request("default", "example"),
            previous_version: previous.map(Into::into),
        })
    }

    #[test]
    fn floating_is_the_default_and_binds_latest() {
        assert_eq!(initial(&[], None).unwrap().version, "latest");
        assert_eq!(
            initial(&[("strategy", "floating")], None).unwrap().version,
            "latest"
        );
    }

    #[test]
    fn pinned_binds_the_latest_revision_version() {
        let choice = initial(&[("strategy", "pinned")], None).unwrap();
        assert_eq!(choice.version, "v0.2.0");
        assert!(choice.reason.contains("pinned"));
    }

    #[test]
    fn invalid_strategy_floats_like_kratix() {
        for bad in ["Pinned", "invalid", "PINNED"] {
            let choice = initial(&[("strategy", bad)], None).unwrap();
            assert_eq!(choice.version, "latest", "{bad}");
            assert!(
                choice.reason.contains("using floating"),
                "{}",
                choice.reason
            );
        }
        assert_eq!(
            initial(&[("strategy", "")], None).unwrap().version,
            "latest"
        );
    }

    #[test]
    fn recreated_binding_keeps_the_recorded_version_regardless_of_strategy() {
        assert_eq!(
            initial(&[("strategy", "pinned")], Some("latest"))
                .unwrap()
                .version,
            "latest"
        );
        assert_eq!(initial(&[], Some("v0.1.0")).unwrap().version, "v0.1.0");
        // An empty recorded version is "none" (brand-new request).
        assert_eq!(initial(&[], Some("")).unwrap().version, "latest");
    }

    #[test]
    fn pinned_without_latest_revision_is_an_error() {
        let err = KratixDefault::initial_version(InitialVersionInput {
            now: NOW,
            settings: settings(&[("strategy", "pinned")]),
            promise: promise("redis").revision("v0.1.0").build(),
            request: request("default", "example"),
            previous_version: None,
        })
        .unwrap_err();
        assert!(err.contains("no latest promise revision yet"), "{err}");
    }

    #[test]
    fn unknown_setting_names_are_rejected() {
        assert!(KratixDefault::validate_settings(settings(&[("strategy", "pinned")])).is_ok());
        let err = KratixDefault::validate_settings(settings(&[("stratgy", "pinned")])).unwrap_err();
        assert!(err.contains("stratgy"));
    }

    #[test]
    fn never_upgrades_on_its_own() {
        let plan = KratixDefault::plan_upgrades(PlanInput {
            now: NOW,
            settings: vec![],
            promise: promise("redis").revision("v0.1.0").latest("v0.2.0").build(),
            bindings: vec![binding("default", "a", "v0.1.0").applied("v0.1.0")],
            trigger: PlanTrigger::RevisionsChanged,
        })
        .unwrap();
        assert!(plan.upgrades.is_empty());
        assert_eq!(plan.recheck_after_ms, None);
    }

    #[test]
    fn every_edit_is_allowed_including_downgrades() {
        let review = KratixDefault::review_edit(EditInput {
            now: NOW,
            settings: vec![],
            promise: promise("redis").revision("v0.1.0").latest("v0.2.0").build(),
            binding: binding("default", "a", "v0.2.0").applied("v0.2.0"),
            requested_version: "v0.1.0".into(),
        })
        .unwrap();
        assert!(review.allowed);
    }

    #[test]
    fn failed_upgrade_holds() {
        let decision = KratixDefault::after_failure(FailureInput {
            now: NOW,
            settings: vec![],
            promise: promise("redis").revision("v0.1.0").latest("v0.2.0").build(),
            binding: binding("default", "a", "v0.2.0")
                .applied("v0.1.0")
                .failed("v0.2.0"),
            failed_version: "v0.2.0".into(),
            message: "A Configure Pipeline has failed: x".into(),
            attempts: 1,
            failed_at: NOW,
        })
        .unwrap();
        assert_eq!(decision.action, FailureAction::Hold);
    }

    #[test]
    fn spec_change_reruns_latest_and_same_version_only() {
        let bindings = vec![
            binding("default", "floating", "latest"),
            binding("default", "on-new", "v0.2.0"),
            binding("default", "on-old", "v0.1.0"),
        ];
        let selection = KratixDefault::rerun_on_spec_change(SpecChangeInput {
            now: NOW,
            settings: vec![],
            promise: promise("redis").revision("v0.1.0").latest("v0.2.0").build(),
            changed_version: "v0.2.0".into(),
            bindings: bindings.clone(),
        })
        .unwrap();
        let names: Vec<_> = selection.rerun.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["floating-binding", "on-new-binding"]);

        // A change to a non-latest revision re-runs only its pinned requests.
        let selection = KratixDefault::rerun_on_spec_change(SpecChangeInput {
            now: NOW,
            settings: vec![],
            promise: promise("redis").revision("v0.1.0").latest("v0.2.0").build(),
            changed_version: "v0.1.0".into(),
            bindings,
        })
        .unwrap();
        let names: Vec<_> = selection.rerun.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["on-old-binding"]);
    }
}
