//! Every scenario under tests/scenarios/ passes (Kratix conformance and the
//! deliberate improvements, through the planner and the real wasm policies).

mod support;

use std::path::PathBuf;

use kbind::authoring::scenario_policy;

#[test]
fn all_scenarios_pass() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let engine = support::engine();
    let mut failures = vec![];
    for file in &files {
        let report = scenario_policy::run_file(&engine, file, None);
        if let Some(error) = &report.error {
            failures.push(format!("{}: {error}", file.display()));
        }
        for step in report.steps.iter().filter(|s| !s.passed) {
            failures.push(format!(
                "{} step {} ({}):\n    {}",
                file.file_name().unwrap().to_string_lossy(),
                step.index,
                step.step,
                step.detail
                    .clone()
                    .unwrap_or_default()
                    .replace('\n', "\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} scenario step(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        files.len() >= 40,
        "the conformance set has {} scenarios",
        files.len()
    );
}
