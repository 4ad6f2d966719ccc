//! Every scenario under tests/scenarios/ passes (Kratix conformance and the
//! deliberate improvements, through the planner and the real wasm policies).

use crate::support;

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

/// Rule ids (`R-` or `H-` and a number, `R-14.1`) cited in `text`, with the
/// line they are on.
fn cited_ids(text: &str) -> Vec<(String, usize)> {
    let mut found = vec![];
    for (n, line) in text.lines().enumerate() {
        let bytes = line.as_bytes();
        for (i, pair) in bytes.windows(2).enumerate() {
            let starts_id = (pair[0] == b'R' || pair[0] == b'H') && pair[1] == b'-';
            let after_word = i > 0 && bytes[i - 1].is_ascii_alphanumeric();
            if !starts_id || after_word {
                continue;
            }
            let rest = &line[i + 2..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                continue;
            }
            let mut end = digits;
            let tail = &rest[digits..];
            if let Some(sub) = tail.strip_prefix('.') {
                let sub_digits = sub.bytes().take_while(u8::is_ascii_digit).count();
                if sub_digits > 0 {
                    end += 1 + sub_digits;
                }
            }
            found.push((format!("{}-{}", pair[0] as char, &rest[..end]), n + 1));
        }
    }
    found
}

/// Every file under `dir` (recursively) whose name ends with one of `exts`,
/// skipping build output.
fn files_under(dir: &std::path::Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                files_under(&path, exts, out);
            }
        } else if exts.iter().any(|e| name.ends_with(e)) {
            out.push(path);
        }
    }
}

#[test]
fn every_cited_rule_is_in_the_rules_document() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let rules = std::fs::read_to_string(root.join("docs/rules.md")).expect("docs/rules.md");
    // A rule is defined by a list item that starts with its id in bold.
    let mut defined = std::collections::BTreeMap::new();
    for (n, line) in rules.lines().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("- **") else {
            continue;
        };
        let Some((id, _)) = rest.split_once("**") else {
            continue;
        };
        if let Some(earlier) = defined.insert(id.to_string(), n + 1) {
            panic!(
                "docs/rules.md defines {id} twice (lines {earlier} and {})",
                n + 1
            );
        }
    }
    assert!(
        defined.len() > 90,
        "docs/rules.md defines {} rules",
        defined.len()
    );

    let mut files = vec![root.join("README.md")];
    for dir in [
        "crates", "host", "guest", "policies", "tests", "benches", "examples",
    ] {
        files_under(
            &root.join(dir),
            &[".rs", ".yaml", ".yml", ".py", ".js", ".md"],
            &mut files,
        );
    }
    let mut missing = vec![];
    let mut cited = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for (id, line) in cited_ids(&text) {
            cited += 1;
            if !defined.contains_key(&id) {
                missing.push(format!("{}:{line}: {id}", file.display()));
            }
        }
    }
    assert!(
        cited > 100,
        "only {cited} citations found: is the scan looking in the right place?"
    );
    assert!(
        missing.is_empty(),
        "rule ids cited but not defined in docs/rules.md:\n{}",
        missing.join("\n")
    );
}
