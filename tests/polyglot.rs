//! Policies written in Python (componentize-py) and JavaScript
//! (componentize-js), built by `scripts/polyglot.sh` into
//! `target/polyglot/`: they pass the Rust policies' suites and scenarios,
//! load with the WASI their tools import by default (`wasi:http` included,
//! refused), show their tracebacks when they fail, and are served 10,000
//! bindings in one decision under the default budgets.

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kbind::authoring::scenario_policy;
use kbind::contract::*;
use kbind::engine::{Limits, PolicyEngine, PolicySource};
use kbind::policy::{Policy, PolicyError};
use kbind::suite::{self, Outcome};

const LANGUAGES: [&str; 2] = ["python", "js"];
const POLICIES: [&str; 2] = ["kratix-default", "semver-auto"];

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// Where `scripts/polyglot.sh` put the components.
fn built(name: &str) -> PathBuf {
    let dir = std::env::var_os("KBIND_POLYGLOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/polyglot"));
    let path = dir.join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `bash scripts/polyglot.sh` first (README, Tests)",
        path.display()
    );
    path
}

/// One engine for the module: an 18 MB component compiles once.
fn engine() -> &'static PolicyEngine {
    static ENGINE: OnceLock<PolicyEngine> = OnceLock::new();
    ENGINE.get_or_init(support::engine)
}

fn source(name: &str) -> PolicySource {
    PolicySource::from_path(&built(name)).expect("component readable")
}

#[test]
fn python_and_js_policies_pass_the_rust_policies_suites() {
    let mut failures = vec![];
    for policy in POLICIES {
        let file = workspace().join(format!("policies/{policy}/tests/decisions.yaml"));
        for lang in LANGUAGES {
            let component = built(&format!("{policy}-{lang}"));
            let report = suite::run_file(engine(), &file, component.to_str());
            if let Some(error) = &report.error {
                failures.push(format!("{policy} ({lang}): {error}"));
            }
            for case in &report.cases {
                if let Outcome::Failed(detail) = &case.outcome {
                    failures.push(format!("{policy} ({lang}) {}: {detail}", case.name));
                }
            }
            assert!(report.cases.len() >= 10, "{policy} has a real suite");
            assert_eq!(
                report.policy.as_ref().map(|p| p.name.as_str()),
                Some(policy)
            );
            // Written for the Rust build: its costs are not this build's.
            assert!(report.fuel_ceilings_skipped.is_some(), "{policy} ({lang})");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn python_and_js_policies_pass_the_rust_policies_scenarios() {
    let dir = workspace().join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut failures = vec![];
    let mut ran = 0;
    for file in &files {
        let Some(policy) = scenario_policy_name(file).filter(|p| POLICIES.contains(&p.as_str()))
        else {
            continue;
        };
        for lang in LANGUAGES {
            let component = built(&format!("{policy}-{lang}"));
            let report = scenario_policy::run_file(engine(), file, component.to_str());
            ran += 1;
            if let Some(error) = &report.error {
                failures.push(format!("{} ({lang}): {error}", file.display()));
            }
            for step in report.steps.iter().filter(|s| !s.passed) {
                failures.push(format!(
                    "{} ({lang}) step {} ({}): {}",
                    file.file_name().unwrap_or_default().to_string_lossy(),
                    step.index,
                    step.step,
                    step.detail.clone().unwrap_or_default()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(ran >= 80, "ran {ran} scenario runs");
}

fn scenario_policy_name(file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("policy:"))
        .map(|p| p.trim().to_string())
}

#[test]
fn a_js_policy_built_with_default_features_loads_and_its_fetch_is_refused() {
    let policy = support::load(engine(), &source("fixture-misbehaving-js"), &[]);
    assert!(
        policy
            .shape()
            .imports
            .iter()
            .any(|i| i.starts_with("wasi:http/outgoing-handler@0.2.")),
        "componentize-js links wasi:http by default: {:?}",
        policy.shape().imports
    );
    // A listener the policy is told to fetch from: a refused fetch must not
    // reach it, so the failure is kbind's and not a closed port's.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}/", listener.local_addr().expect("its address"));
    let mut input = support::initial_input(&[], support::redis(&["v1"], "v1"));
    input.request.name = "fetch".into();
    input.request.annotations = vec![KeyValue {
        key: "fetch-url".into(),
        value: url,
    }];
    let decided = policy.initial_version(&input).expect("the policy answers");
    let reason = &decided.value.reason;
    // componentize-js turns every wasi:http error code into this text.
    assert!(
        reason.starts_with("fetch failed") && reason.contains("host API"),
        "{reason}"
    );
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "nothing may leave the process"
    );
    // The policy sees a generic host error; kbind's log names the request.
    let dir = tempfile::tempdir().expect("tempdir");
    let doc = dir.path().join("fetch.yaml");
    std::fs::write(
        &doc,
        "promise: {name: redis, revisions: [{version: v1, latest: true}]}\n\
         request: {name: fetch, annotations: {fetch-url: 'http://127.0.0.1:9/metrics?x=1'}}\n",
    )
    .expect("input");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kbind"))
        .args(["eval", "--decision", "initial-version", "--policy"])
        .arg(built("fixture-misbehaving-js"))
        .arg("--input")
        .arg(&doc)
        .env_remove("KBIND_LOG")
        .output()
        .expect("kbind runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("refused an outgoing HTTP request to http://127.0.0.1:9/metrics?x=1"),
        "kbind should warn naming the refused request:\n{stderr}"
    );
    input.request.name = "anything".into();
    assert_eq!(
        policy
            .initial_version(&input)
            .expect("decides")
            .value
            .reason,
        "nothing to see"
    );
}

fn failure(component: &str, request: &str) -> PolicyError {
    let policy = support::load(engine(), &source(component), &[]);
    let mut input = support::initial_input(&[], support::redis(&["v1"], "v1"));
    input.request.name = request.into();
    policy
        .initial_version(&input)
        .expect_err("the policy fails")
}

#[test]
fn an_uncaught_python_exception_is_shown_with_its_traceback() {
    let err = failure("fixture-misbehaving-python", "raise");
    let PolicyError::Panicked { stderr, .. } = &err else {
        panic!("{err}")
    };
    assert!(stderr.contains("Traceback"), "{stderr}");
    assert!(stderr.contains("in fail_deep"), "{stderr}");
    assert!(
        stderr.contains("ValueError: the request is named raise"),
        "{stderr}"
    );
    let shown = err.to_string();
    assert!(
        shown.contains("ValueError: the request is named raise"),
        "{shown}"
    );
    assert!(
        !shown.contains("which is how a Rust policy panics"),
        "{shown}"
    );
}

#[test]
fn an_uncaught_javascript_error_is_shown_with_its_message() {
    let err = failure("fixture-misbehaving-js", "throw");
    assert!(
        err.to_string().contains("the request is named throw"),
        "{err}"
    );
}

#[test]
fn a_flood_of_stderr_is_kept_bounded_and_does_not_trap() {
    let err = failure("fixture-misbehaving-python", "flood");
    let PolicyError::Panicked { stderr, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        stderr.starts_with("line 0 "),
        "{}",
        &stderr[..80.min(stderr.len())]
    );
    assert!(stderr.len() <= 16 << 10, "{} bytes kept", stderr.len());
}

fn plan_input(n: usize) -> PlanInput {
    PlanInput {
        now: support::NOW,
        settings: vec![],
        promise: support::redis(&["v1.0.0", "v1.0.1", "v1.1.0", "v2.0.0"], "v2.0.0"),
        bindings: (0..n)
            .map(|i| support::binding(&format!("r{i}"), "v1.0.0"))
            .collect(),
        trigger: PlanTrigger::RevisionsChanged,
    }
}

#[test]
fn default_budgets_serve_ten_thousand_bindings_in_python_and_js() {
    let input = plan_input(10_000);
    for lang in LANGUAGES {
        let policy = support::load(engine(), &source(&format!("semver-auto-{lang}")), &[]);
        let decided = policy
            .plan_upgrades(&input)
            .unwrap_or_else(|e| panic!("{lang}: {e}"));
        assert_eq!(decided.value.upgrades.len(), 10_000, "{lang}");
        assert!(decided.value.upgrades.iter().all(|u| u.version == "v1.1.0"));
    }
}

#[test]
fn without_the_per_binding_allowance_ten_thousand_bindings_run_out_of_fuel() {
    let engine = support::engine_with(Limits {
        fuel_per_binding: 0,
        ..Limits::default()
    });
    let policy = support::load(&engine, &source("semver-auto-js"), &[]);
    let err = policy
        .plan_upgrades(&plan_input(10_000))
        .expect_err("runs out");
    assert!(matches!(err, PolicyError::FuelExhausted { .. }), "{err}");
}
