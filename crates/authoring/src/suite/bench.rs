//! `kbind bench`: the cases of a policy test suite, each decided many
//! times on fresh instances (as the operator decides), summarised as
//! latency percentiles, decisions per second and fuel; saved as a baseline
//! and compared against one, so a policy's CI can refuse a slower policy.
//!
//! Fuel is deterministic (same input, same fuel on any machine): a fuel
//! regression is exact. Latency is measured on whatever machine runs the
//! bench, so compare baselines from the same machine.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Runner, SuiteDoc};
use kbind_contract::policy::PolicyId;
use kbind_engine::PolicyEngine;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseStats {
    pub decision: String,
    pub iterations: usize,
    pub p50_us: f64,
    pub p95_us: f64,
    pub p99_us: f64,
    pub decisions_per_sec: f64,
    /// None when the decision failed (the case expects an error).
    pub fuel: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub policy: Option<PolicyId>,
    pub suite: String,
    pub cases: BTreeMap<String, CaseStats>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Regression {
    pub case: String,
    pub metric: &'static str,
    pub baseline: f64,
    pub current: f64,
    pub percent: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("invalid suite {path}: {message}")]
    Suite { path: String, message: String },
    #[error("{0}")]
    Policy(String),
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Decides every case of the suite `iterations` times.
pub fn run(
    engine: &PolicyEngine,
    suite: &Path,
    policy_override: Option<&str>,
    iterations: usize,
) -> Result<BenchReport, BenchError> {
    let text = std::fs::read_to_string(suite).map_err(|e| BenchError::Read {
        path: suite.display().to_string(),
        message: e.to_string(),
    })?;
    let doc: SuiteDoc =
        kbind_model::yaml::from_str(&text).map_err(|message| BenchError::Suite {
            path: suite.display().to_string(),
            message,
        })?;
    let base = suite.parent().unwrap_or(Path::new("."));
    let source = super::resolve_policy(&doc, policy_override, base)
        .map_err(|e| BenchError::Policy(e.to_string()))?;
    let mut runner = Runner {
        engine,
        source,
        sha256: doc.sha256.clone(),
        loaded: Default::default(),
        // A bench measures costs; it judges no case.
        fuel_ceilings: false,
    };
    let mut report = BenchReport {
        policy: None,
        suite: doc
            .name
            .clone()
            .unwrap_or_else(|| suite.display().to_string()),
        cases: BTreeMap::new(),
    };
    for case in &doc.cases {
        let settings = case.settings.as_ref().unwrap_or(&doc.settings);
        if let Ok(p) = runner.policy(settings)
            && report.policy.is_none()
        {
            report.policy = Some(kbind_contract::policy::Policy::id(&p).clone());
        }
        let mut samples: Vec<f64> = Vec::with_capacity(iterations);
        let mut fuel = None;
        let mut total = Duration::ZERO;
        for _ in 0..iterations.max(1) {
            let produced = runner.produce(case, settings);
            total += produced.elapsed;
            samples.push(produced.elapsed.as_secs_f64() * 1e6);
            fuel = produced.result.is_ok().then_some(produced.fuel).flatten();
        }
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        report.cases.insert(
            case.name.clone(),
            CaseStats {
                decision: case.decision.name().to_string(),
                iterations: n,
                p50_us: percentile(&samples, 50.0),
                p95_us: percentile(&samples, 95.0),
                p99_us: percentile(&samples, 99.0),
                decisions_per_sec: if total.is_zero() {
                    0.0
                } else {
                    n as f64 / total.as_secs_f64()
                },
                fuel,
            },
        );
    }
    Ok(report)
}

/// Cases slower (p50) or hungrier (fuel) than the baseline by more than
/// `max_percent`. Cases missing from either side are not compared.
pub fn compare(baseline: &BenchReport, current: &BenchReport, max_percent: f64) -> Vec<Regression> {
    let mut out = Vec::new();
    for (name, now) in &current.cases {
        let Some(before) = baseline.cases.get(name) else {
            continue;
        };
        let mut check = |metric: &'static str, b: f64, c: f64| {
            if b > 0.0 {
                let percent = (c - b) / b * 100.0;
                if percent > max_percent {
                    out.push(Regression {
                        case: name.clone(),
                        metric,
                        baseline: b,
                        current: c,
                        percent,
                    });
                }
            }
        };
        check("p50_us", before.p50_us, now.p50_us);
        if let (Some(b), Some(c)) = (before.fuel, now.fuel) {
            check("fuel", b as f64, c as f64);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(p50: f64, fuel: u64) -> BenchReport {
        BenchReport {
            policy: None,
            suite: "s".into(),
            cases: BTreeMap::from([(
                "case".to_string(),
                CaseStats {
                    decision: "initial-version".into(),
                    iterations: 10,
                    p50_us: p50,
                    p95_us: p50,
                    p99_us: p50,
                    decisions_per_sec: 1e6 / p50,
                    fuel: Some(fuel),
                },
            )]),
        }
    }

    #[test]
    fn regressions_over_the_threshold_are_reported_by_metric() {
        let base = report(100.0, 1_000);
        assert!(compare(&base, &report(109.0, 1_000), 10.0).is_empty());
        let r = compare(&base, &report(150.0, 1_200), 10.0);
        let metrics: Vec<_> = r.iter().map(|r| r.metric).collect();
        assert_eq!(metrics, ["p50_us", "fuel"]);
        assert!((r[0].percent - 50.0).abs() < 1e-9);
        assert!(
            compare(&base, &report(50.0, 900), 10.0).is_empty(),
            "faster is fine"
        );
    }

    #[test]
    fn percentiles_pick_ranks() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&s, 50.0), 51.0);
        assert_eq!(percentile(&s, 99.0), 99.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
