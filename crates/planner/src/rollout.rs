//! What the cluster shows of upgrades and rollouts: how many bindings are at
//! each revision, moving to it and failed at it (the revision's status, for
//! any policy), and the rollouts a policy reports (the Promise's status),
//! with an Event on the Promise whenever a wave starts, a rollout pauses or
//! one ends.

use std::collections::HashMap;

use serde_json::json;

use kbind_contract::{Rollout, RolloutPhase};
use kbind_model::api::{BindingCounts, RolloutStatus, WaveStatus, events};
use kbind_model::key::ObjKey;
use kbind_model::time::rfc3339;

use crate::{Action, View, convert, event, rails};

/// Most rollouts one Promise's status keeps (a policy could report one per
/// binding).
pub const MAX_ROLLOUTS: usize = 32;
/// Most waves kept of one rollout.
pub const MAX_WAVES: usize = 64;

/// Every revision's bindings by where they stand with it.
pub fn counts(view: &View) -> HashMap<&str, BindingCounts> {
    let mut counts: HashMap<&str, BindingCounts> = HashMap::new();
    for b in &view.bindings {
        let Some(status) = b.status.as_ref() else {
            continue;
        };
        let applied = status.last_applied_version.as_str();
        if !applied.is_empty() {
            counts.entry(applied).or_default().at += 1;
        }
        if !status.in_flight_version.is_empty() {
            counts
                .entry(status.in_flight_version.as_str())
                .or_default()
                .moving += 1;
        }
        // A version that failed and was applied later is not failed any more.
        let mut failed: Vec<&str> = status
            .failed_versions
            .iter()
            .map(String::as_str)
            .chain((!status.failed_version.is_empty()).then_some(status.failed_version.as_str()))
            .filter(|v| *v != applied)
            .collect();
        failed.sort_unstable();
        failed.dedup();
        for version in failed {
            counts.entry(version).or_default().failed += 1;
        }
    }
    counts
}

/// Patches each revision whose counts changed.
pub fn plan_counts(view: &View, out: &mut Vec<Action>) {
    let counts = counts(view);
    for rev in view
        .revisions
        .iter()
        .filter(|r| r.metadata.deletion_timestamp.is_none())
    {
        let want = counts
            .get(rev.spec.version.as_str())
            .copied()
            .unwrap_or_default();
        if rev.status.as_ref().and_then(|s| s.bindings) != Some(want) {
            out.push(Action::PatchStatus {
                key: convert::revision_key(rev),
                patch: json!({"status": {"bindings": want}}),
                why: "the revision's binding counts",
            });
        }
    }
}

fn phase_name(phase: RolloutPhase) -> &'static str {
    match phase {
        RolloutPhase::Progressing => "progressing",
        RolloutPhase::Soaking => "soaking",
        RolloutPhase::OutsideWindow => "outside-window",
        RolloutPhase::PausedByFailures => "paused-by-failures",
        RolloutPhase::Paused => "paused",
    }
}

/// The rollouts to keep in the Promise's status: those for a version the
/// promise has, bounded.
pub fn statuses(view: &View, reported: &[Rollout]) -> Vec<RolloutStatus> {
    reported
        .iter()
        .filter(|r| {
            view.revisions
                .iter()
                .any(|rev| rev.spec.version == r.version)
        })
        .take(MAX_ROLLOUTS)
        .map(|r| RolloutStatus {
            version: r.version.clone(),
            wave_index: r.wave_index,
            phase: phase_name(r.phase).into(),
            until: r.until.map(rfc3339),
            message: rails::bounded(r.message.clone()),
            waves: r
                .waves
                .iter()
                .take(MAX_WAVES)
                .map(|w| WaveStatus {
                    name: rails::bounded(w.name.clone()),
                    at_target: w.at_target,
                    moving: w.moving,
                    waiting: w.waiting,
                    failed: w.failed,
                })
                .collect(),
        })
        .collect()
}

/// `v1.1.0: wave canary (1 of 3)`, and the rollout's counts.
fn describe(r: &RolloutStatus) -> (String, String) {
    let wave = r.wave().map_or("(none)", |w| w.name.as_str());
    let t = r.totals();
    (
        format!(
            "{}: wave {wave} ({} of {})",
            r.version,
            r.wave_index,
            r.waves.len()
        ),
        format!(
            "{} at it, {} moving, {} waiting, {} failed",
            t.at_target, t.moving, t.waiting, t.failed
        ),
    )
}

/// The Events for going from the rollouts `before` to those `after`.
pub fn transitions(
    view: &View,
    promise: &ObjKey,
    before: &[RolloutStatus],
    after: &[RolloutStatus],
    out: &mut Vec<Action>,
) {
    for now in after {
        let was = before.iter().find(|r| r.version == now.version);
        let same_phase =
            was.is_some_and(|w| w.wave_index == now.wave_index && w.phase == now.phase);
        if same_phase {
            continue;
        }
        let resumed =
            was.is_some_and(|w| w.wave_index == now.wave_index && w.phase.starts_with("paused"));
        let (wave, counts) = describe(now);
        match now.phase.as_str() {
            "progressing" if resumed => out.push(event(
                promise,
                false,
                events::ROLLOUT_RESUMED,
                format!("{wave} resumed; {counts}"),
            )),
            "progressing" => out.push(event(
                promise,
                false,
                events::ROLLOUT_WAVE_STARTED,
                format!("{wave} started; {counts}"),
            )),
            "paused-by-failures" | "paused" => out.push(event(
                promise,
                now.phase == "paused-by-failures",
                events::ROLLOUT_PAUSED,
                format!("{wave}: {}", now.message),
            )),
            _ => {}
        }
    }
    let ended: Vec<&RolloutStatus> = before
        .iter()
        .filter(|b| !after.iter().any(|a| a.version == b.version))
        .collect();
    if ended.is_empty() {
        return;
    }
    // Counted only when a rollout ended: this runs at every plan.
    let counts = counts(view);
    for ended in ended {
        let c = counts
            .get(ended.version.as_str())
            .copied()
            .unwrap_or_default();
        let current: Vec<&str> = after.iter().map(|a| a.version.as_str()).collect();
        out.push(event(
            promise,
            false,
            events::ROLLOUT_COMPLETED,
            if current.is_empty() {
                format!(
                    "{}: rollout complete; {} at it, {} failed",
                    ended.version, c.at, c.failed
                )
            } else {
                format!(
                    "{}: rollout ended, {} in progress now; {} at it, {} failed",
                    ended.version,
                    current.join(", "),
                    c.at,
                    c.failed
                )
            },
        ));
    }
}
