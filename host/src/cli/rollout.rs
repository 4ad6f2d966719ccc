//! `kbind rollout status <promise>`: where a promise's rollouts stand, read
//! from the cluster: the rollouts the policy last reported (the Promise's
//! `status.rollouts`), each wave with a progress bar, and every revision's
//! binding counts (`status.bindings`, kept current by the operator).

use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::watcher;
use serde::Serialize;

use super::args::{Global, OutputFormat, RolloutArgs, RolloutCommand, RolloutStatusArgs};
use super::{Failure, exit};
use kbind::api::{BindingCounts, Promise, PromiseRevision, RolloutStatus, WaveStatus};
use kbind::operator::api_error::Text;
use kbind::time::{now_millis, parse_time};

/// What `kbind rollout status` reports.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutReport {
    pub promise: String,
    pub revisions: Vec<RevisionLine>,
    pub rollouts: Vec<RolloutStatus>,
    /// When the policy asked to be asked again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_upgrade_check: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RevisionLine {
    pub name: String,
    pub version: String,
    pub latest: bool,
    pub bindings: BindingCounts,
}

pub fn run_rollout(global: &Global, args: RolloutArgs) -> Result<ExitCode, Failure> {
    let RolloutCommand::Status(args) = args.command;
    super::cluster::runtime()?.block_on(status(global.output, args))
}

async fn status(format: OutputFormat, args: RolloutStatusArgs) -> Result<ExitCode, Failure> {
    let client = super::cluster::client(args.kubeconfig.as_deref()).await?;
    let promises: Api<Promise> = Api::all(client.clone());
    let revisions: Api<PromiseRevision> = Api::all(client);
    let mut last = None;
    let mut changes = if args.watch {
        let promise_events = watcher(
            promises.clone(),
            watcher::Config::default().fields(&format!("metadata.name={}", args.promise)),
        )
        .map(|_| ());
        let revision_events = watcher(revisions.clone(), watcher::Config::default()).map(|_| ());
        Some(futures::stream::select(promise_events, revision_events).boxed())
    } else {
        None
    };
    loop {
        let report = fetch(&promises, &revisions, &args.promise).await?;
        if last.as_ref() != Some(&report) {
            print(format, &report, now_millis())?;
            last = Some(report);
        }
        let Some(stream) = changes.as_mut() else {
            return Ok(ExitCode::from(exit::OK));
        };
        // A soak counts down with nothing changing: look again now and then.
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        // Coalesce a burst of events (a wave starting writes many).
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn fetch(
    promises: &Api<Promise>,
    revisions: &Api<PromiseRevision>,
    name: &str,
) -> Result<RolloutReport, Failure> {
    let promise = promises
        .get_opt(name)
        .await
        .map_err(|e| Failure::environment(format!("cannot read Promise {name}: {}", Text(&e))))?
        .ok_or_else(|| Failure::input(format!("Promise {name} not found")))?;
    let revisions = revisions
        .list(&ListParams::default())
        .await
        .map_err(|e| Failure::environment(format!("cannot list PromiseRevisions: {}", Text(&e))))?;
    Ok(report(&promise, &revisions.items))
}

/// The report from the Promise and the cluster's revisions (any promise's).
pub fn report(promise: &Promise, revisions: &[PromiseRevision]) -> RolloutReport {
    let name = promise.metadata.name.clone().unwrap_or_default();
    let status = promise.status.clone().unwrap_or_default();
    let mut lines: Vec<RevisionLine> = revisions
        .iter()
        .filter(|r| r.spec.promise_ref.name == name)
        .map(|r| RevisionLine {
            name: r.metadata.name.clone().unwrap_or_default(),
            version: r.spec.version.clone(),
            latest: r.status.as_ref().is_some_and(|s| s.latest),
            bindings: r
                .status
                .as_ref()
                .and_then(|s| s.bindings)
                .unwrap_or_default(),
        })
        .collect();
    lines.sort_by(
        |a, b| match (semver_of(&a.version), semver_of(&b.version)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => a.version.cmp(&b.version),
        },
    );
    RolloutReport {
        promise: name,
        revisions: lines,
        rollouts: status.rollouts,
        next_upgrade_check: status.next_upgrade_check,
    }
}

/// A promise version as semver, a leading `v` allowed (as policies read it).
fn semver_of(version: &str) -> Option<semver::Version> {
    semver::Version::parse(version.strip_prefix('v').unwrap_or(version)).ok()
}

fn print(format: OutputFormat, report: &RolloutReport, now: i64) -> Result<(), Failure> {
    match format {
        OutputFormat::Json => {
            let text = serde_json::to_string_pretty(report)
                .map_err(|e| Failure::input(format!("cannot render output: {e}")))?;
            println!("{text}");
        }
        OutputFormat::Yaml => {
            let text = serde_saphyr::to_string(report)
                .map_err(|e| Failure::input(format!("cannot render output: {e}")))?;
            println!("---\n{}", text.trim_end());
        }
        OutputFormat::Human => print!("{}", human(report, now)),
    }
    Ok(())
}

const BAR: usize = 20;

fn bar(done: u32, total: u32) -> String {
    let filled = if total == 0 {
        0
    } else {
        (done as usize * BAR).div_ceil(total as usize).min(BAR)
    };
    format!("[{}{}]", "#".repeat(filled), "-".repeat(BAR - filled))
}

/// `5m 59s`, `2h 3m`, `3d 4h`: the two largest units.
fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn waits_for(r: &RolloutStatus, now: i64) -> String {
    let until = r.until.as_deref();
    let left = until
        .and_then(|t| parse_time(t).ok())
        .map(|t| span(t - now));
    match r.phase.as_str() {
        "soaking" => format!(
            "the soak after the last success: {} left (until {})",
            left.unwrap_or_default(),
            until.unwrap_or("?")
        ),
        "outside-window" => match until {
            Some(t) => format!(
                "a window: the next opens at {t} (in {})",
                left.unwrap_or_default()
            ),
            None => "a window: none ever opens".into(),
        },
        "paused-by-failures" => format!("approval: {}", r.message),
        "paused" => "the Promise's kbind.io/rollout-paused annotation to be removed".into(),
        _ => {
            if r.message.is_empty() {
                "its upgrades to finish".into()
            } else {
                r.message.clone()
            }
        }
    }
}

fn wave_line(out: &mut String, w: &WaveStatus, version: &str, current: bool, width: usize) {
    let total = w.at_target + w.moving + w.waiting + w.failed;
    out.push_str(&format!(
        "  {} {:<width$}  {}  {}/{} at {version}, {} moving, {} waiting, {} failed\n",
        if current { ">" } else { " " },
        w.name,
        bar(w.at_target + w.failed, total),
        w.at_target,
        total,
        w.moving,
        w.waiting,
        w.failed,
    ));
}

pub fn human(report: &RolloutReport, now: i64) -> String {
    let mut out = format!("Promise {}\n\n", report.promise);
    let width = report
        .revisions
        .iter()
        .map(|r| r.version.len())
        .max()
        .unwrap_or(7)
        .max(7);
    out.push_str(&format!(
        "  {:<width$}  {:<6}  {:>6}  {:>6}  {:>6}\n",
        "VERSION", "LATEST", "AT", "MOVING", "FAILED"
    ));
    for r in &report.revisions {
        out.push_str(&format!(
            "  {:<width$}  {:<6}  {:>6}  {:>6}  {:>6}\n",
            r.version,
            if r.latest { "true" } else { "" },
            r.bindings.at,
            r.bindings.moving,
            r.bindings.failed
        ));
    }
    out.push('\n');
    if report.rollouts.is_empty() {
        out.push_str("No rollout in progress.\n");
        return out;
    }
    for r in &report.rollouts {
        let t = r.totals();
        let total = t.at_target + t.moving + t.waiting + t.failed;
        out.push_str(&format!(
            "Rollout to {}: wave {} of {} ({}), {}\n",
            r.version,
            r.wave_index,
            r.waves.len(),
            r.wave().map_or("?", |w| w.name.as_str()),
            r.phase
        ));
        out.push_str(&format!(
            "  {}  {}/{} at {}, {} moving, {} waiting, {} failed\n",
            bar(t.at_target + t.failed, total),
            t.at_target,
            total,
            r.version,
            t.moving,
            t.waiting,
            t.failed
        ));
        let width = r.waves.iter().map(|w| w.name.len()).max().unwrap_or(4);
        for (i, w) in r.waves.iter().enumerate() {
            wave_line(
                &mut out,
                w,
                &r.version,
                i + 1 == r.wave_index as usize,
                width,
            );
        }
        out.push_str(&format!("  waiting for: {}\n\n", waits_for(r, now)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(phase: &str, until: Option<&str>, message: &str) -> RolloutStatus {
        RolloutStatus {
            version: "v1.1.0".into(),
            wave_index: 2,
            phase: phase.into(),
            until: until.map(Into::into),
            message: message.into(),
            waves: vec![
                WaveStatus {
                    name: "canary".into(),
                    at_target: 2,
                    ..WaveStatus::default()
                },
                WaveStatus {
                    name: "rest".into(),
                    waiting: 6,
                    moving: 2,
                    ..WaveStatus::default()
                },
            ],
        }
    }

    fn with(rollouts: Vec<RolloutStatus>) -> RolloutReport {
        RolloutReport {
            promise: "redis".into(),
            revisions: vec![RevisionLine {
                name: "redis-1".into(),
                version: "v1.1.0".into(),
                latest: true,
                bindings: BindingCounts {
                    at: 2,
                    moving: 2,
                    failed: 0,
                },
            }],
            rollouts,
            next_upgrade_check: None,
        }
    }

    #[test]
    fn each_wave_has_a_bar_and_the_current_one_is_marked() {
        let text = human(&with(vec![rollout("progressing", None, "starting 2")]), 0);
        assert!(
            text.contains("Rollout to v1.1.0: wave 2 of 2 (rest), progressing"),
            "{text}"
        );
        assert!(
            text.contains("    canary  [####################]  2/2 at v1.1.0"),
            "{text}"
        );
        assert!(
            text.contains("  > rest    [--------------------]  0/8 at v1.1.0, 2 moving, 6 waiting"),
            "{text}"
        );
        assert!(text.contains("waiting for: starting 2"), "{text}");
        assert!(
            text.contains("  v1.1.0   true         2       2       0"),
            "{text}"
        );
    }

    #[test]
    fn what_it_waits_for_is_said_in_words() {
        let now = parse_time("2026-01-01T00:06:01Z").unwrap();
        let soak = human(
            &with(vec![rollout("soaking", Some("2026-01-01T00:12:00Z"), "")]),
            now,
        );
        assert!(
            soak.contains(
                "the soak after the last success: 5m 59s left (until 2026-01-01T00:12:00Z)"
            ),
            "{soak}"
        );
        let window = human(
            &with(vec![rollout(
                "outside-window",
                Some("2026-01-05T09:00:00Z"),
                "",
            )]),
            now,
        );
        assert!(
            window.contains("the next opens at 2026-01-05T09:00:00Z (in 4d 8h)"),
            "{window}"
        );
        let paused = human(&with(vec![rollout("paused", None, "")]), now);
        assert!(
            paused.contains("kbind.io/rollout-paused annotation to be removed"),
            "{paused}"
        );
        assert!(human(&with(vec![]), now).contains("No rollout in progress."));
    }
}
