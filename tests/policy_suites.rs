//! The shipped policies' test suites pass, and the runner fails what it
//! should.

use crate::support;

use std::path::PathBuf;

use kbind::suite::{self, Outcome};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn shipped_policy_suites_pass() {
    let engine = support::engine();
    for policy in ["kratix-default", "semver-auto", "rollout"] {
        let file = workspace()
            .join("policies")
            .join(policy)
            .join("tests/decisions.yaml");
        let report = suite::run_file(&engine, &file, None);
        assert_eq!(report.error, None, "{policy}");
        assert!(report.cases.len() >= 10, "{policy} has a real suite");
        let failures: Vec<_> = report
            .cases
            .iter()
            .filter_map(|c| match &c.outcome {
                Outcome::Failed(d) => Some(format!("{}: {d}", c.name)),
                Outcome::Passed => None,
            })
            .collect();
        assert!(failures.is_empty(), "{policy}:\n{}", failures.join("\n"));
        assert_eq!(report.policy.as_ref().unwrap().name, policy);
    }
}

#[test]
fn wrong_expectations_fail_with_a_readable_diff() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wrong.yaml");
    std::fs::write(
        &file,
        r#"
cases:
  - name: wrong version
    decision: initial-version
    input: {promise: {name: redis, revisions: [{version: v1, latest: true}]}, request: {name: a}}
    expect: {version: v1}
  - name: error expected but none
    decision: initial-version
    input: {promise: {name: redis}, request: {name: a}}
    expectError: boom
  - name: fuel ceiling
    decision: initial-version
    input: {promise: {name: redis}, request: {name: a}}
    maxFuel: 10
  - name: passes
    decision: initial-version
    input: {promise: {name: redis}, request: {name: a}}
    expect: {version: latest}
"#,
    )
    .unwrap();
    let report = suite::run_file(&support::engine(), &file, Some("kratix-default"));
    let outcomes: Vec<_> = report.cases.iter().map(|c| &c.outcome).collect();
    let Outcome::Failed(diff) = outcomes[0] else {
        panic!("{outcomes:?}")
    };
    assert!(
        diff.contains("version") && diff.contains("\"v1\"") && diff.contains("\"latest\""),
        "{diff}"
    );
    assert!(matches!(outcomes[1], Outcome::Failed(d) if d.contains("expected an error")));
    assert!(matches!(outcomes[2], Outcome::Failed(d) if d.contains("ceiling of 10")));
    assert_eq!(outcomes[3], &Outcome::Passed);
    assert_eq!((report.passed(), report.failed()), (1, 3));

    let xml = suite::junit::render(&[report]);
    assert!(xml.contains("tests=\"4\" failures=\"3\""), "{xml}");
    assert!(
        xml.contains("<testcase classname=\"wrong\" name=\"passes\""),
        "{xml}"
    );
}

#[test]
fn an_invalid_suite_is_reported_not_panicked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "cases:\n  - name: x\n    decision: no-such-decision\n",
    )
    .unwrap();
    let report = suite::run_file(&support::engine(), &file, None);
    assert!(
        report
            .error
            .as_deref()
            .unwrap()
            .contains("no-such-decision"),
        "{:?}",
        report.error
    );
    assert_eq!(report.failed(), 1);
}
