//! `rollout`: progressive upgrades of a promise's bindings, wave by wave.
//!
//! - New binding: pinned to the newest revision (a recreated one keeps its
//!   request's version), as semver-auto.
//! - `plan-upgrades`: each binding's target is the newest revision within
//!   its range (`range`, or the annotation `kbind.io/upgrade-range:
//!   none|patch|minor|major`) that has not failed for it. The bindings of a
//!   target move in waves ([`waves`]): a wave starts once every binding of
//!   the waves before it is through (at the target, or failed and rolled
//!   back) and the last success before it is `soak` old; at most
//!   `maxInFlight` upgrades run at once for the promise; `maxFailures`
//!   failed upgrades to a target pause it until the Promise is annotated
//!   `kbind.io/rollout-approve: <version>` or a newer revision replaces the
//!   target; `kbind.io/rollout-paused: "true"` pauses every rollout by hand;
//!   new upgrades start only inside `windows` ([`windows`]).
//! - The policy keeps no state and never polls: it asks to be called again
//!   when a soak ends, a window opens or running upgrades may have finished.
//! - A user's edit to a lower version is denied unless allowed by
//!   `kbind.io/allow-downgrade: "true"`; a failed upgrade rolls back to the
//!   last applied version.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

pub mod budget;
pub mod duration;
pub mod gate;
pub mod plan;
pub mod settings;
pub mod waves;
pub mod windows;

use alloc::string::{String, ToString};

use kbind_policy_sdk::*;

use settings::Config;

/// A setting the policy refuses, with the field it is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingsError {
    /// Where in the settings: `soak`, `waves[2].percent`, …
    pub field: String,
    pub message: String,
}

impl SettingsError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl core::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "settings.{}: {}", self.field, self.message)
    }
}

pub struct Rollout;

impl Policy for Rollout {
    fn metadata() -> PolicyInfo {
        use settings::*;
        PolicyInfo::new(
            "rollout",
            env!("CARGO_PKG_VERSION"),
            "Upgrades a promise's bindings progressively: in waves chosen by request labels or \
             a stable percent, with a soak between waves, at most maxInFlight at once, pausing \
             after maxFailures failed upgrades until approved, and only inside the configured \
             windows. Failed upgrades roll back; downgrades are denied unless allowed.",
        )
        .setting(
            RANGE,
            "How far a binding may move on its own: patch, minor or major. Override per \
             binding or request with kbind.io/upgrade-range: none|patch|minor|major.",
            Some("minor"),
            &["patch", "minor", "major"],
        )
        .setting(
            WAVES,
            "A list of waves, in order: {name, selector: {matchLabels, matchExpressions} over \
             the request's labels, percent: a stable share of the bindings still unassigned}; \
             a wave with neither takes the rest and must be last.",
            Some("[{name: all}]"),
            &[],
        )
        .setting(
            SOAK,
            "How long after a wave's last success the next wave starts (10m, 1h30m).",
            Some("0"),
            &[],
        )
        .setting(
            MAX_IN_FLIGHT,
            "Upgrades running at once for the promise: a number or a percent of its bindings.",
            Some(DEFAULT_MAX_IN_FLIGHT),
            &[],
        )
        .setting(
            MAX_FAILURES,
            "Failed upgrades to a target version that pause its rollout: a number or a percent.",
            Some(DEFAULT_MAX_FAILURES),
            &[],
        )
        .setting(
            WINDOWS,
            "A list of {days: [Mon, ...], start: \"09:00\", end: \"16:00\", timeZone: \
             Europe/London}: new upgrades start only inside one (running ones finish).",
            None,
            &[],
        )
    }

    fn validate_settings(settings: Vec<Setting>) -> Result<(), String> {
        Config::read(&settings)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn initial_version(input: InitialVersionInput) -> Result<VersionChoice, String> {
        pin_to_newest(&input)
    }

    fn plan_upgrades(input: PlanInput) -> Result<UpgradePlan, String> {
        let config = Config::read(&input.settings).map_err(|e| e.to_string())?;
        Ok(plan::plan(&input, &config))
    }

    fn review_edit(input: EditInput) -> Result<Review, String> {
        Ok(review_no_downgrade(&input))
    }

    fn after_failure(input: FailureInput) -> Result<FailureDecision, String> {
        Ok(roll_back(&input))
    }
}

export_policy!(Rollout);

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use kbind_policy_sdk::testing::*;

    #[test]
    fn failed_upgrades_roll_back_and_downgrades_need_allowing() {
        let failed = Rollout::after_failure(FailureInput {
            now: NOW,
            settings: vec![],
            promise: promise("redis").revision("v1.0.0").latest("v1.1.0").build(),
            binding: binding("default", "a", "v1.1.0").applied("v1.0.0"),
            failed_version: "v1.1.0".into(),
            message: "A Configure Pipeline has failed".into(),
            attempts: 1,
            failed_at: NOW,
        })
        .unwrap();
        assert_eq!(failed.action, FailureAction::RollBack);
        let edit = |b: Binding| {
            Rollout::review_edit(EditInput {
                now: NOW,
                settings: vec![],
                promise: promise("redis").revision("v1.0.0").latest("v1.1.0").build(),
                binding: b,
                requested_version: "v1.0.0".into(),
            })
            .unwrap()
            .allowed
        };
        let at = || binding("default", "a", "v1.1.0").applied("v1.1.0");
        assert!(!edit(at()));
        assert!(edit(
            at().request_annotated(ALLOW_DOWNGRADE_ANNOTATION, "true")
        ));
    }

    #[test]
    fn validate_settings_answers_with_the_field() {
        let err = Rollout::validate_settings(vec![Setting::text("soak", "soon")]).unwrap_err();
        assert!(
            err.starts_with("settings.soak: \"soon\" is not a duration"),
            "{err}"
        );
        assert!(Rollout::validate_settings(vec![]).is_ok());
    }
}
