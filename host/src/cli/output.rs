//! Human tables by default; `-o json|yaml` for machines.

use serde::Serialize;
use serde_json::Value;

use super::Failure;
use super::args::OutputFormat;
use kbind::eval::{DecisionKind, Evaluation};
use kbind::inspect::Inspection;
use kbind::policy::PolicyError;
use kbind::suite::{Outcome, SuiteReport};

fn print_machine<T: Serialize>(format: OutputFormat, value: &T) -> Result<(), Failure> {
    let text = match format {
        OutputFormat::Json => serde_json::to_string_pretty(value).map_err(|e| e.to_string()),
        _ => serde_saphyr::to_string(value).map_err(|e| e.to_string()),
    }
    .map_err(|e| Failure::input(format!("cannot render output: {e}")))?;
    println!("{}", text.trim_end());
    Ok(())
}

fn row(label: &str, value: impl std::fmt::Display) {
    println!("{label:<10} {value}");
}

/// `12345678` -> `12,345,678`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn print_inspection(format: OutputFormat, i: &Inspection) -> Result<(), Failure> {
    if format != OutputFormat::Human {
        return print_machine(format, i);
    }
    row("file", &i.origin);
    row("sha256", &i.sha256);
    row("size", format!("{} bytes", thousands(i.size as u64)));
    if let Some(shape) = &i.shape {
        row(
            "contract",
            match shape.contract {
                kbind::contract::Contract::V0_2 => format!(
                    "kbind:policy@{} (current: this kbind speaks {})",
                    shape.contract_version, i.host_contract
                ),
                kbind::contract::Contract::V0_1 => format!(
                    "kbind:policy@{} (an older contract, served through kbind's adapter; \
                     this kbind speaks {})",
                    shape.contract_version, i.host_contract
                ),
            },
        );
    } else {
        row(
            "contract",
            format!("this kbind serves {}", i.served_contracts.join(", ")),
        );
    }
    let list = |names: &[String]| {
        if names.is_empty() {
            "(none)".to_string()
        } else {
            names.join(", ")
        }
    };
    row("exports", list(&i.exports));
    row("imports", list(&i.imports));
    if i.shape.as_ref().is_some_and(|shape| shape.imports_wasi) {
        row(
            "",
            "WASI is served deny-all: no files, network or env; clock and random from the input",
        );
    }
    if let Some(meta) = &i.metadata {
        row("policy", format!("{} {}", meta.name, meta.version));
        row("", &meta.description);
        for (n, s) in meta.settings.iter().enumerate() {
            let mut line = s.name.clone();
            if let Some(default) = &s.default_value {
                line.push_str(&format!(" (default {default})"));
            }
            if !s.allowed_values.is_empty() {
                line.push_str(&format!(" one of: {}", s.allowed_values.join(", ")));
            }
            row(if n == 0 { "settings" } else { "" }, line);
            row("", format!("  {}", s.description));
        }
        if meta.settings.is_empty() {
            row("settings", "(none)");
        }
    }
    if let Some(load) = &i.load {
        row(
            "compiled",
            format!("{:?} ({:?})", load.compile_time, load.compile),
        );
    }
    if let Some(error) = &i.error {
        row("error", error);
    }
    Ok(())
}

pub fn print_evaluation(format: OutputFormat, e: &Evaluation) -> Result<(), Failure> {
    if format != OutputFormat::Human {
        return print_machine(format, e);
    }
    row("decision", e.decision.name());
    row("policy", &e.policy);
    let r = &e.result;
    let text = |key: &str| {
        r.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match e.decision {
        DecisionKind::ValidateSettings => row("result", "settings accepted"),
        DecisionKind::InitialVersion => row("version", text("version")),
        DecisionKind::ReviewEdit => row(
            "verdict",
            if r["allowed"].as_bool() == Some(true) {
                "allowed"
            } else {
                "denied"
            },
        ),
        DecisionKind::AfterFailure => {
            let mut action = text("action");
            if let Some(ms) = r.get("retryAfterMs").and_then(Value::as_u64) {
                action.push_str(&format!(" ({ms} ms)"));
            }
            row("action", action);
        }
        DecisionKind::PlanUpgrades => {
            let upgrades = r["upgrades"].as_array().cloned().unwrap_or_default();
            row(
                "upgrades",
                if upgrades.is_empty() {
                    "(none)".to_string()
                } else {
                    upgrades.len().to_string()
                },
            );
            for u in upgrades {
                let b = &u["binding"];
                println!(
                    "  {}/{} -> {}  {}",
                    b["namespace"].as_str().unwrap_or_default(),
                    b["name"].as_str().unwrap_or_default(),
                    u["version"].as_str().unwrap_or_default(),
                    u["reason"].as_str().unwrap_or_default()
                );
            }
            if let Some(ms) = r.get("recheckAfterMs").and_then(Value::as_u64) {
                row("recheck", format!("after {ms} ms"));
            }
        }
        DecisionKind::RerunOnSpecChange => {
            let rerun = r["rerun"].as_array().cloned().unwrap_or_default();
            row(
                "rerun",
                if rerun.is_empty() {
                    "(none)".to_string()
                } else {
                    rerun.len().to_string()
                },
            );
            for b in rerun {
                println!(
                    "  {}/{}",
                    b["namespace"].as_str().unwrap_or_default(),
                    b["name"].as_str().unwrap_or_default()
                );
            }
        }
    }
    if e.decision != DecisionKind::ValidateSettings {
        row("reason", text("reason"));
    }
    row(
        "cost",
        format!("{} fuel, {:?}", thousands(e.fuel), e.elapsed),
    );
    Ok(())
}

#[derive(Serialize)]
struct DecisionFailure<'a> {
    decision: DecisionKind,
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    kind: &'a str,
    message: String,
}

pub fn print_decision_failure(
    format: OutputFormat,
    decision: DecisionKind,
    err: &PolicyError,
) -> Result<(), Failure> {
    if format != OutputFormat::Human {
        return print_machine(
            format,
            &DecisionFailure {
                decision,
                error: ErrorBody {
                    kind: err.metric_label(),
                    message: err.to_string(),
                },
            },
        );
    }
    eprintln!("error: {err}");
    Ok(())
}

pub fn print_suites(format: OutputFormat, reports: &[SuiteReport]) -> Result<(), Failure> {
    if format != OutputFormat::Human {
        return print_machine(format, &reports);
    }
    let (mut passed, mut failed) = (0, 0);
    for report in reports {
        let policy = report
            .policy
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        println!("{}  {}  {policy}", report.file.display(), report.name);
        if let Some(error) = &report.error {
            println!("  FAIL  (suite)  {error}");
        }
        if let Some(note) = &report.fuel_ceilings_skipped {
            println!("  note  {note}");
        }
        for case in &report.cases {
            let fuel = case
                .fuel
                .map(|f| format!("  {} fuel", thousands(f)))
                .unwrap_or_default();
            match &case.outcome {
                Outcome::Passed => println!("  ok    {}{fuel}", case.name),
                Outcome::Failed(detail) => {
                    println!("  FAIL  {} [{}]", case.name, case.decision.name());
                    for line in detail.lines() {
                        println!("        {line}");
                    }
                }
            }
        }
        passed += report.passed();
        failed += report.failed();
    }
    println!("{passed} passed, {failed} failed");
    Ok(())
}

pub fn print_scenarios(
    format: OutputFormat,
    reports: &[kbind::sim::scenario::ScenarioReport],
) -> Result<(), Failure> {
    if format != OutputFormat::Human {
        return print_machine(format, &reports);
    }
    let (mut passed, mut failed) = (0, 0);
    for report in reports {
        println!("{}  {}", report.file.display(), report.name);
        if let Some(error) = &report.error {
            println!("  FAIL  {error}");
        }
        for step in &report.steps {
            if step.passed {
                println!("  ok    {:>2} {}", step.index, step.step);
            } else {
                println!("  FAIL  {:>2} {}", step.index, step.step);
                for line in step.detail.as_deref().unwrap_or_default().lines() {
                    println!("           {line}");
                }
            }
        }
        if report.passed() {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(())
}

pub fn print_bench(
    format: OutputFormat,
    report: &kbind::suite::bench::BenchReport,
    regressions: &[kbind::suite::bench::Regression],
    max_regression: f64,
) -> Result<(), Failure> {
    if format != OutputFormat::Human {
        let doc = serde_json::json!({"report": report, "regressions": regressions});
        return print_machine(format, &doc);
    }
    if let Some(p) = &report.policy {
        println!("policy {p}, suite {}", report.suite);
    }
    println!(
        "{:<22} {:>9} {:>9} {:>9} {:>12} {:>10}  CASE",
        "DECISION", "P50 µs", "P95 µs", "P99 µs", "DECISIONS/S", "FUEL"
    );
    for (name, c) in &report.cases {
        match c.fuel {
            Some(fuel) => println!(
                "{:<22} {:>9.1} {:>9.1} {:>9.1} {:>12.0} {:>10}  {name}",
                c.decision, c.p50_us, c.p95_us, c.p99_us, c.decisions_per_sec, fuel
            ),
            // An expected error or a settings check: nothing decided to time.
            None => println!(
                "{:<22} {:>9} {:>9} {:>9} {:>12} {:>10}  {name}",
                c.decision, "-", "-", "-", "-", "-"
            ),
        }
    }
    for r in regressions {
        println!(
            "REGRESSION {}: {} {:.1} -> {:.1} (+{:.1}%, limit {max_regression}%)",
            r.case, r.metric, r.baseline, r.current, r.percent
        );
    }
    Ok(())
}

pub fn print_pushed(
    format: OutputFormat,
    reference: &kbind::oci::PolicyRef,
    pushed: &kbind::oci::Pushed,
) -> Result<(), Failure> {
    if format != OutputFormat::Human {
        return print_machine(
            format,
            &serde_json::json!({
                "reference": reference.to_string(),
                "digest": pushed.manifest_digest,
                "pinned": pushed.pinned.to_string(),
                "componentSha256": pushed.layer_digest,
            }),
        );
    }
    row("pushed", reference);
    row("digest", &pushed.manifest_digest);
    row("pin", &pushed.pinned);
    row("sha256", pushed.layer_digest.trim_start_matches("sha256:"));
    Ok(())
}

pub fn print_compiled(
    format: OutputFormat,
    source: &kbind::engine::PolicySource,
    compiled: &kbind::engine::Precompiled,
    elapsed: std::time::Duration,
) -> Result<(), Failure> {
    if format != OutputFormat::Human {
        return print_machine(format, compiled);
    }
    row("policy", &source.origin);
    row("sha256", &compiled.sha256);
    row("artifact", compiled.artifact.display());
    row(
        "compiled",
        format!(
            "{:.2?} ({})",
            elapsed,
            match compiled.report.compile {
                kbind::engine::CompileSource::Compiled => "compiled now",
                kbind::engine::CompileSource::DiskCache => "already in the cache",
                kbind::engine::CompileSource::MemoryCache => "already loaded",
            }
        ),
    );
    Ok(())
}
