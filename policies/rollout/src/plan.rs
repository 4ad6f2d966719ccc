//! `plan-upgrades` for a rollout: what each binding's target is, where it
//! stands with it, and which bindings the gate lets start now.
//!
//! A binding's target is the highest revision within its range of the
//! version it last applied (of `spec.version` before any was applied) that
//! has not failed for it, as semver-auto chooses. Bindings with the same
//! target form one rollout; a newer revision therefore replaces a target,
//! paused or not, the moment it exists. Every rollout of the promise shares
//! one `maxInFlight`; each has its own `maxFailures`.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use kbind_policy_sdk::*;

use crate::budget::Budget;
use crate::gate::{self, Hold, Limits, Progress};
use crate::settings::Config;
use crate::waves::Member;
use crate::windows::{self, Opening};

/// The Promise annotation that pauses every rollout of it.
pub const PAUSED_ANNOTATION: &str = "kbind.io/rollout-paused";
/// The Promise annotation that resumes a rollout paused by failures: its
/// value is the target version.
pub const APPROVE_ANNOTATION: &str = "kbind.io/rollout-approve";

/// How far one binding may move on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reach {
    Within(UpgradeRange),
    AnyNewer,
}

fn reach_for(binding: &Binding, config: &Config, notes: &mut Vec<String>) -> Option<Reach> {
    let default = if config.cross_major {
        Reach::AnyNewer
    } else {
        Reach::Within(config.range)
    };
    match binding_annotation(binding, RANGE_ANNOTATION) {
        None => Some(default),
        Some("none") => None,
        Some("major") => Some(Reach::AnyNewer),
        Some(value) => match UpgradeRange::parse(value) {
            Some(range) => Some(Reach::Within(range)),
            None => {
                notes.push(format!(
                    "{}/{}: ignoring {RANGE_ANNOTATION}={value:?} (expected none, patch, minor or major)",
                    binding.namespace, binding.name
                ));
                Some(default)
            }
        },
    }
}

fn in_reach(current: &str, candidate: &str, reach: Reach) -> bool {
    match reach {
        Reach::Within(range) => version_in_range(current, candidate, range),
        Reach::AnyNewer => match (parse_version(current), parse_version(candidate)) {
            (Some(cur), Some(cand)) => cand > cur && cand.pre.is_empty(),
            _ => false,
        },
    }
}

fn has_failed(binding: &Binding, version: &str) -> bool {
    binding.failed_version.as_deref() == Some(version)
        || binding.failed_versions.iter().any(|v| v == version)
}

/// The version a binding is moving to: the one its workflow runs, or one
/// it has been asked to run and has neither applied nor failed yet (the
/// host is about to start it). Either holds a place in `maxInFlight`.
fn moving_to(binding: &Binding) -> Option<&str> {
    if binding.state == UpgradeState::InProgress {
        return Some(
            binding
                .in_flight_version
                .as_deref()
                .unwrap_or(&binding.version),
        );
    }
    let asked = binding
        .last_applied_version
        .as_deref()
        .is_some_and(|applied| applied != binding.version);
    (asked && binding.state != UpgradeState::Failed && !has_failed(binding, &binding.version))
        .then_some(binding.version.as_str())
}

/// The version a binding's target is measured from.
fn base(binding: &Binding) -> &str {
    binding
        .last_applied_version
        .as_deref()
        .unwrap_or(&binding.version)
}

fn target<'a>(promise: &'a Promise, binding: &Binding, reach: Reach) -> Option<&'a str> {
    let base = base(binding);
    promise
        .revisions
        .iter()
        .filter(|r| in_reach(base, &r.version, reach))
        .filter(|r| !has_failed(binding, &r.version))
        .filter_map(|r| parse_version(&r.version).map(|v| (v, r.version.as_str())))
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, v)| v)
}

/// One binding in one rollout.
struct Entry<'a> {
    binding: &'a Binding,
    wave: usize,
    progress: Progress,
}

/// The bindings of one target version.
#[derive(Default)]
struct Target<'a> {
    entries: Vec<Entry<'a>>,
}

/// The request's labels in the waves' form.
fn request_labels(binding: &Binding) -> Vec<(String, String)> {
    binding
        .request
        .labels
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone()))
        .collect()
}

pub fn plan(input: &PlanInput, config: &Config) -> UpgradePlan {
    let mut notes = Vec::new();
    let promise = &input.promise;
    let paused = lookup(&promise.annotations, PAUSED_ANNOTATION) == Some("true");
    let approved = lookup(&promise.annotations, APPROVE_ANNOTATION);

    // Deterministic order: the order a wave's bindings start in.
    let mut bindings: Vec<&Binding> = input.bindings.iter().collect();
    bindings.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));

    let moving_total = bindings.iter().filter(|b| moving_to(b).is_some()).count() as u32;

    let mut rollouts: BTreeMap<String, Target<'_>> = BTreeMap::new();
    let mut unassigned = 0usize;
    for binding in &bindings {
        if binding.version == LATEST {
            continue;
        }
        let Some(reach) = reach_for(binding, config, &mut notes) else {
            continue;
        };
        let labels = request_labels(binding);
        let Some(wave) = config.waves.assign(&Member {
            namespace: &binding.request.namespace,
            name: &binding.request.name,
            labels: &labels,
        }) else {
            unassigned += 1;
            continue;
        };
        // Failed at a version: a member of that version's rollout, through
        // with it (rolled back, or rolling back).
        for failed in binding
            .failed_versions
            .iter()
            .chain(binding.failed_version.iter())
        {
            let rollout = rollouts.entry(failed.clone()).or_default();
            if !rollout
                .entries
                .iter()
                .any(|e| core::ptr::eq(e.binding, *binding))
            {
                rollout.entries.push(Entry {
                    binding,
                    wave,
                    progress: Progress::Failed,
                });
            }
        }
        match target(promise, binding, reach) {
            Some(t) => {
                let progress = if moving_to(binding) == Some(t) {
                    Progress::Moving
                } else {
                    Progress::Waiting
                };
                rollouts.entry(t.into()).or_default().entries.push(Entry {
                    binding,
                    wave,
                    progress,
                });
            }
            None if binding.state == UpgradeState::Succeeded
                && binding.last_applied_version.as_deref() == Some(binding.version.as_str()) =>
            {
                rollouts
                    .entry(binding.version.clone())
                    .or_default()
                    .entries
                    .push(Entry {
                        binding,
                        wave,
                        progress: Progress::Arrived {
                            at: binding.last_succeeded_at.unwrap_or(0).max(0) as u64,
                        },
                    });
            }
            None => {}
        }
    }

    let total = bindings.len() as u32;
    let in_flight_budget = config.max_in_flight.of(total);
    let opening = windows::opening(&config.windows, input.now);
    let now = input.now.max(0) as u64;

    let mut upgrades = Vec::new();
    let mut started = 0u32;
    // Upgrades that finish need no re-check: the host plans again when a
    // binding's outcome changes while a rollout is reported
    // (`bindings-changed`). Only clocks do: a soak ending, a window opening.
    let mut recheck: Option<u64> = None;
    let soonest = |ms: u64, recheck: &mut Option<u64>| {
        *recheck = Some(recheck.map_or(ms, |r| r.min(ms)));
    };
    let mut parts = Vec::new();
    let mut reports = Vec::new();

    // Newest target first: it gets the in-flight room before older ones.
    let mut targets: Vec<(&String, &Target<'_>)> = rollouts.iter().collect();
    targets.sort_by(|(a, _), (b, _)| compare_versions(b, a).unwrap_or(b.cmp(a)));
    for (version, rollout) in targets {
        let members: Vec<(usize, Progress)> = rollout
            .entries
            .iter()
            .map(|e| (e.wave, e.progress))
            .collect();
        let moving_here = members
            .iter()
            .filter(|(_, p)| *p == Progress::Moving)
            .count() as u32;
        let moving_elsewhere = moving_total.saturating_sub(moving_here);
        let max_failures = if approved == Some(version.as_str()) {
            u32::MAX
        } else {
            failure_budget(config.max_failures, members.len() as u32)
        };
        let limits = Limits {
            max_in_flight: in_flight_budget
                .saturating_sub(moving_elsewhere)
                .saturating_sub(started),
            max_failures,
            soak_ms: config.soak_ms,
        };
        let step = gate::step(now, &members, &limits, paused);
        let Some(wave) = step.wave else {
            continue;
        };
        let wave_name = &config.waves.waves()[wave].name;
        let mut start = step.start;
        let mut phase = RolloutPhase::Progressing;
        let mut until = None;
        let mut waits = String::new();
        if !start.is_empty() {
            match opening {
                Opening::Open => {}
                Opening::OpensAt(at) => {
                    start.clear();
                    soonest(at.saturating_sub(input.now).max(0) as u64, &mut recheck);
                    phase = RolloutPhase::OutsideWindow;
                    until = Some(at);
                    waits = format!(
                        "outside its windows; the next opens {}",
                        windows::describe(&config.windows, at)
                    );
                }
                Opening::Never => {
                    start.clear();
                    phase = RolloutPhase::OutsideWindow;
                    waits = "outside its windows; none ever opens".into();
                }
            }
        }
        for i in &start {
            let entry = &rollout.entries[*i];
            upgrades.push(Upgrade {
                binding: BindingRef::of(entry.binding),
                version: version.clone(),
                // The host's Event already says from which version to which.
                reason: format!("rollout wave {wave_name} of {version}"),
            });
        }
        started += start.len() as u32;
        match step.hold {
            None => {}
            Some(Hold::Soak { until: end, .. }) => {
                soonest(end.saturating_sub(now), &mut recheck);
                phase = RolloutPhase::Soaking;
                until = Some(end as i64);
                waits = format!("soaking until {}", utc(end as i64));
            }
            Some(Hold::InFlight) if waits.is_empty() => {
                waits = format!("at maxInFlight ({in_flight_budget})");
            }
            Some(Hold::InFlight) => {}
            Some(Hold::Failures { failed }) => {
                phase = RolloutPhase::PausedByFailures;
                waits = format!(
                    "paused: {failed} failed upgrade(s) reached maxFailures; annotate the Promise \
                     {APPROVE_ANNOTATION}: \"{version}\" to resume"
                );
            }
            Some(Hold::Paused) => {
                phase = RolloutPhase::Paused;
                waits = format!("paused by {PAUSED_ANNOTATION}");
            }
        }
        // Where each wave stands once this plan's upgrades have started.
        let mut waves: Vec<WaveProgress> = config
            .waves
            .waves()
            .iter()
            .map(|w| WaveProgress {
                name: w.name.clone(),
                at_target: 0,
                moving: 0,
                waiting: 0,
                failed: 0,
            })
            .collect();
        for (i, (w, progress)) in members.iter().enumerate() {
            let Some(wave) = waves.get_mut(*w) else {
                continue;
            };
            match progress {
                Progress::Arrived { .. } => wave.at_target += 1,
                Progress::Moving => wave.moving += 1,
                Progress::Waiting if start.contains(&i) => wave.moving += 1,
                Progress::Waiting => wave.waiting += 1,
                Progress::Failed => wave.failed += 1,
            }
        }
        let just_started = start.len();
        let record = Rollout {
            version: version.clone(),
            waves,
            wave_index: wave as u32 + 1,
            phase,
            until,
            message: if just_started > 0 && waits.is_empty() {
                format!("starting {just_started}")
            } else if just_started > 0 {
                format!("starting {just_started}; {waits}")
            } else {
                waits
            },
        };
        let sum = |f: fn(&WaveProgress) -> u32| record.waves.iter().map(f).sum::<u32>();
        parts.push(format!(
            "{version}: wave {wave_name} ({}/{}); {} at it, {} moving, {} waiting, {} failed{}{}",
            record.wave_index,
            record.waves.len(),
            sum(|w| w.at_target),
            sum(|w| w.moving),
            sum(|w| w.waiting),
            sum(|w| w.failed),
            if record.message.is_empty() { "" } else { "; " },
            record.message
        ));
        reports.push(record);
    }

    let mut reason = if parts.is_empty() {
        String::from("no rollout in progress: every binding is at its newest revision in range")
    } else {
        parts.join("; ")
    };
    if unassigned > 0 {
        reason.push_str(&format!(
            "; {unassigned} binding(s) in no wave (add a last wave with no selector to roll them out)"
        ));
    }
    for note in notes {
        reason.push_str("; ");
        reason.push_str(&note);
    }
    UpgradePlan {
        upgrades,
        recheck_after_ms: recheck,
        reason,
        rollouts: reports,
    }
}

/// `maxFailures` as a count for a rollout of `members` bindings.
fn failure_budget(budget: Budget, members: u32) -> u32 {
    budget.of(members).max(1)
}

/// An instant as RFC 3339 in UTC, to the second.
pub fn utc(ms: i64) -> String {
    use chrono::{Datelike, TimeZone, Timelike, Utc};
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        None => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Config;
    use alloc::vec;
    use kbind_policy_sdk::testing::*;

    const MIN: i64 = 60_000;

    fn config(settings: &[Setting]) -> Config {
        Config::read(settings).unwrap()
    }

    fn waves() -> Setting {
        Setting::json(
            "waves",
            r#"[{"name":"canary","selector":{"matchLabels":{"kbind.io/ring":"canary"}}},
                {"name":"rest"}]"#,
        )
    }

    /// `n` bindings at v1.0.0 of requests r0…, the first `canaries` labelled canary.
    fn fleet(n: usize, canaries: usize) -> Vec<Binding> {
        (0..n)
            .map(|i| {
                let b = binding("default", &format!("r{i:02}"), "v1.0.0").applied("v1.0.0");
                if i < canaries {
                    b.request_labelled("kbind.io/ring", "canary")
                } else {
                    b
                }
            })
            .collect()
    }

    fn input(bindings: Vec<Binding>, promise: Promise, now: i64) -> PlanInput {
        PlanInput {
            now,
            settings: vec![],
            promise,
            bindings,
            trigger: PlanTrigger::RevisionsChanged,
        }
    }

    fn two_revisions() -> Promise {
        promise("redis").revision("v1.0.0").latest("v1.1.0").build()
    }

    fn names(plan: &UpgradePlan) -> Vec<&str> {
        plan.upgrades
            .iter()
            .map(|u| u.binding.name.as_str())
            .collect()
    }

    /// Marks the named bindings as having arrived at `version` at `at`.
    fn arrive(bindings: &mut [Binding], names: &[&str], version: &str, at: i64) {
        for b in bindings
            .iter_mut()
            .filter(|b| names.contains(&b.name.as_str()))
        {
            b.version = version.into();
            b.last_applied_version = Some(version.into());
            b.state = UpgradeState::Succeeded;
            b.last_succeeded_at = Some(at);
        }
    }

    #[test]
    fn the_canary_wave_goes_first_within_max_in_flight() {
        let c = config(&[waves(), Setting::text("maxInFlight", "2")]);
        let plan = plan(&input(fleet(6, 3), two_revisions(), NOW), &c);
        assert_eq!(names(&plan), ["r00-binding", "r01-binding"]);
        assert!(plan.upgrades.iter().all(|u| u.version == "v1.1.0"));
        assert!(plan.reason.contains("wave canary"), "{}", plan.reason);
        assert!(
            plan.reason.contains("at maxInFlight (2)"),
            "{}",
            plan.reason
        );
        // Waiting on running upgrades is not a clock: no re-check.
        assert_eq!(plan.recheck_after_ms, None);
    }

    #[test]
    fn a_moving_binding_uses_the_budget_wherever_it_moves() {
        let c = config(&[waves(), Setting::text("maxInFlight", "2")]);
        let mut bindings = fleet(6, 3);
        // One canary moving to the target, one binding moving by a user's edit.
        bindings[0] = bindings[0].clone().in_flight("v1.1.0");
        bindings[0].version = "v1.1.0".into();
        bindings[5] = bindings[5].clone().in_flight("v1.0.0");
        let plan = plan(&input(bindings, two_revisions(), NOW), &c);
        assert!(plan.upgrades.is_empty(), "{:?}", names(&plan));
    }

    #[test]
    fn a_binding_asked_to_move_holds_its_place_before_its_workflow_starts() {
        // Planned again (another binding's upgrade finished) before the host
        // started r00's workflow: r00 still counts against maxInFlight.
        let c = config(&[waves(), Setting::text("maxInFlight", "2")]);
        let mut bindings = fleet(6, 3);
        bindings[0].version = "v1.1.0".into();
        let plan = plan(&input(bindings, two_revisions(), NOW), &c);
        assert_eq!(names(&plan), ["r01-binding"]);
        let canary = &plan.rollouts[0].waves[0];
        assert_eq!((canary.moving, canary.waiting), (2, 1), "{canary:?}");
    }

    #[test]
    fn the_next_wave_waits_for_the_canaries_then_the_soak() {
        let c = config(&[
            waves(),
            Setting::text("soak", "10m"),
            Setting::text("maxInFlight", "10"),
        ]);
        let mut bindings = fleet(5, 2);
        arrive(&mut bindings, &["r00-binding"], "v1.1.0", NOW);
        bindings[1] = bindings[1].clone().in_flight("v1.1.0");
        bindings[1].version = "v1.1.0".into();
        let p = plan(&input(bindings.clone(), two_revisions(), NOW + MIN), &c);
        assert!(
            p.upgrades.is_empty(),
            "a canary still moves: {:?}",
            names(&p)
        );
        arrive(&mut bindings, &["r01-binding"], "v1.1.0", NOW + 2 * MIN);
        let p = plan(&input(bindings.clone(), two_revisions(), NOW + 3 * MIN), &c);
        assert!(p.upgrades.is_empty());
        assert!(
            p.reason.contains("soaking until 2026-01-01T00:12:00Z"),
            "{}",
            p.reason
        );
        assert_eq!(p.recheck_after_ms, Some(9 * MIN as u64));
        assert_eq!(p.rollouts[0].phase, RolloutPhase::Soaking);
        assert_eq!(p.rollouts[0].until, Some(NOW + 12 * MIN));
        assert_eq!(p.rollouts[0].wave_index, 2);
        let p = plan(&input(bindings, two_revisions(), NOW + 12 * MIN), &c);
        assert_eq!(names(&p), ["r02-binding", "r03-binding", "r04-binding"]);
        assert!(p.reason.contains("wave rest"), "{}", p.reason);
    }

    #[test]
    fn failures_pause_the_target_until_approved() {
        let c = config(&[waves(), Setting::text("maxInFlight", "10")]);
        let mut bindings = fleet(4, 2);
        // One canary failed at v1.1.0 and was rolled back; one arrived.
        bindings[0] = bindings[0].clone().failed("v1.1.0");
        bindings[0].state = UpgradeState::Succeeded;
        arrive(&mut bindings, &["r01-binding"], "v1.1.0", NOW);
        let p = plan(&input(bindings.clone(), two_revisions(), NOW + MIN), &c);
        assert!(p.upgrades.is_empty());
        assert!(
            p.reason
                .contains("kbind.io/rollout-approve: \"v1.1.0\" to resume"),
            "{}",
            p.reason
        );
        assert_eq!(
            p.recheck_after_ms, None,
            "a paused rollout waits to be told"
        );
        let approved = promise("redis")
            .revision("v1.0.0")
            .latest("v1.1.0")
            .annotated(APPROVE_ANNOTATION, "v1.1.0")
            .build();
        let p = plan(&input(bindings.clone(), approved, NOW + MIN), &c);
        assert_eq!(names(&p), ["r02-binding", "r03-binding"]);
        // Approving another version resumes nothing.
        let other = promise("redis")
            .revision("v1.0.0")
            .latest("v1.1.0")
            .annotated(APPROVE_ANNOTATION, "v1.0.9")
            .build();
        assert!(
            plan(&input(bindings, other, NOW + MIN), &c)
                .upgrades
                .is_empty()
        );
    }

    #[test]
    fn a_newer_revision_replaces_a_paused_target() {
        let c = config(&[waves(), Setting::text("maxInFlight", "10")]);
        let mut bindings = fleet(3, 1);
        bindings[0] = bindings[0].clone().failed("v1.1.0");
        bindings[0].state = UpgradeState::Succeeded;
        let newer = promise("redis")
            .revision("v1.0.0")
            .revision("v1.1.0")
            .latest("v1.2.0")
            .build();
        let p = plan(&input(bindings, newer, NOW), &c);
        // The canary, rolled back from v1.1.0, leads the v1.2.0 rollout.
        assert_eq!(names(&p), ["r00-binding"]);
        assert_eq!(p.upgrades[0].version, "v1.2.0");
    }

    #[test]
    fn the_pause_annotation_stops_every_rollout() {
        let c = config(&[]);
        let paused = promise("redis")
            .revision("v1.0.0")
            .latest("v1.1.0")
            .annotated(PAUSED_ANNOTATION, "true")
            .build();
        let p = plan(&input(fleet(3, 0), paused, NOW), &c);
        assert!(p.upgrades.is_empty());
        assert!(
            p.reason.contains("paused by kbind.io/rollout-paused"),
            "{}",
            p.reason
        );
    }

    #[test]
    fn a_closed_window_defers_the_start_to_its_opening() {
        // NOW is Thursday 2026-01-01 00:00 UTC.
        let c = config(&[Setting::json(
            "windows",
            r#"[{"days":["Mon","Tue","Wed","Thu"],"start":"09:00","end":"16:00","timeZone":"Europe/London"}]"#,
        )]);
        let p = plan(&input(fleet(2, 0), two_revisions(), NOW), &c);
        assert!(p.upgrades.is_empty());
        assert_eq!(p.recheck_after_ms, Some(9 * 60 * MIN as u64));
        assert!(
            p.reason.contains("Thu 2026-01-01 09:00 Europe/London"),
            "{}",
            p.reason
        );
        let p = plan(&input(fleet(2, 0), two_revisions(), NOW + 9 * 60 * MIN), &c);
        assert_eq!(p.upgrades.len(), 1, "10% of 2 rounds up to 1 in flight");
    }

    #[test]
    fn latest_and_opted_out_bindings_are_left_alone() {
        let c = config(&[Setting::text("maxInFlight", "10")]);
        let bindings = vec![
            binding("default", "floating", "latest").applied("v1.0.0"),
            binding("default", "own", "v1.0.0")
                .applied("v1.0.0")
                .annotated(RANGE_ANNOTATION, "none"),
            binding("default", "req", "v1.0.0")
                .applied("v1.0.0")
                .request_annotated(RANGE_ANNOTATION, "none"),
            binding("default", "moves", "v1.0.0").applied("v1.0.0"),
        ];
        let p = plan(&input(bindings, two_revisions(), NOW), &c);
        assert_eq!(names(&p), ["moves-binding"]);
    }

    #[test]
    fn the_range_decides_the_target() {
        let revisions = promise("redis")
            .revision("v1.0.0")
            .revision("v1.0.1")
            .revision("v1.1.0")
            .latest("v2.0.0")
            .build();
        let target = |settings: &[Setting], b: Binding| {
            let p = plan(&input(vec![b], revisions.clone(), NOW), &config(settings));
            p.upgrades.first().map(|u| u.version.clone())
        };
        let at = || binding("default", "a", "v1.0.0").applied("v1.0.0");
        assert_eq!(target(&[], at()).as_deref(), Some("v1.1.0"));
        assert_eq!(
            target(&[Setting::text("range", "patch")], at()).as_deref(),
            Some("v1.0.1")
        );
        assert_eq!(
            target(&[Setting::text("range", "major")], at()).as_deref(),
            Some("v2.0.0")
        );
        assert_eq!(
            target(&[], at().annotated(RANGE_ANNOTATION, "major")).as_deref(),
            Some("v2.0.0")
        );
        // A version that failed for the binding is not chosen again.
        assert_eq!(
            target(&[], at().failed("v1.1.0")).as_deref(),
            Some("v1.0.1")
        );
    }

    #[test]
    fn percent_waves_and_bindings_no_wave_takes() {
        let c = config(&[
            Setting::json(
                "waves",
                r#"[{"name":"canary","selector":{"matchLabels":{"kbind.io/ring":"canary"}}},
                    {"name":"half","percent":50}]"#,
            ),
            Setting::text("maxInFlight", "100"),
        ]);
        let p = plan(&input(fleet(40, 0), two_revisions(), NOW), &c);
        let started = p.upgrades.len();
        assert!(
            (10..=30).contains(&started),
            "{started} of 40 in a 50% wave"
        );
        assert!(
            p.reason
                .contains(&format!("{} binding(s) in no wave", 40 - started)),
            "{}",
            p.reason
        );
    }

    #[test]
    fn a_finished_rollout_says_so_and_asks_for_nothing() {
        let mut bindings = fleet(2, 0);
        arrive(
            &mut bindings,
            &["r00-binding", "r01-binding"],
            "v1.1.0",
            NOW,
        );
        let p = plan(&input(bindings, two_revisions(), NOW + MIN), &config(&[]));
        assert!(p.upgrades.is_empty());
        assert_eq!(p.recheck_after_ms, None);
        assert!(
            p.reason.starts_with("no rollout in progress"),
            "{}",
            p.reason
        );
    }
}
