//! The `kbind` binary as a user runs it: output, formats and exit codes.

use std::path::PathBuf;
use std::process::{Command, Output};

fn kbind(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kbind"))
        .arg("--no-cache")
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("kbind runs")
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fixture(name: &str) -> String {
    kbind_fixtures::dir()
        .join(format!("{name}.wasm"))
        .display()
        .to_string()
}

#[test]
fn eval_initial_version_on_kratix_default_prints_a_summary() {
    let o = kbind(&[
        "eval",
        "--decision",
        "initial-version",
        "--input",
        "examples/eval/initial-version.yaml",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("version    latest"), "{out}");
    assert!(out.contains("policy     kratix-default (sha256:"), "{out}");
    assert!(out.contains(" fuel, "), "{out}");
}

#[test]
fn eval_settings_change_the_decision_and_json_is_parseable() {
    let o = kbind(&[
        "eval",
        "--decision",
        "initial-version",
        "--set",
        "strategy=pinned",
        "--input",
        "examples/eval/initial-version.yaml",
        "-o",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["result"]["version"], "v0.2.0");
    assert_eq!(v["decision"], "initial-version");
    assert!(v["fuel"].as_u64().unwrap() > 0);
}

#[test]
fn eval_on_semver_auto_plans_and_reviews() {
    let o = kbind(&[
        "eval",
        "--policy",
        "semver-auto",
        "--decision",
        "plan-upgrades",
        "--input",
        "examples/eval/plan-upgrades.yaml",
        "-o",
        "yaml",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("name: example-redis-e7f90"), "{out}");
    assert!(out.contains("version: v1.2.0"), "{out}");

    let o = kbind(&[
        "eval",
        "--policy",
        "semver-auto",
        "--decision",
        "review-edit",
        "--input",
        "examples/eval/review-edit.yaml",
    ]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("verdict    denied"), "{}", stdout(&o));
}

#[test]
fn eval_from_stdin_and_from_a_path() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kbind"))
        .args(["--no-cache", "eval", "--policy"])
        .arg(kbind_fixtures::dir().join("semver-auto.wasm"))
        .args(["--decision", "after-failure", "--input", "-", "-o", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"promise: {name: redis}\nbinding: {name: b, version: v2, lastAppliedVersion: v1, failedVersion: v2}\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["result"]["action"], "roll-back");
}

#[test]
fn exit_codes_tell_failures_apart() {
    // 4: the input is not what the decision needs.
    let o = kbind(&[
        "eval",
        "--decision",
        "review-edit",
        "--input",
        "examples/eval/initial-version.yaml",
    ]);
    assert_eq!(o.status.code(), Some(4));
    assert!(
        stderr(&o).contains("review-edit needs `binding`"),
        "{}",
        stderr(&o)
    );
    // 4: a typo in the input is an error, not a silently different decision.
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo.yaml");
    std::fs::write(
        &typo,
        "promise: {name: redis}\nrequest: {name: a}\npreviousVersoin: v1\n",
    )
    .unwrap();
    let o = kbind(&[
        "eval",
        "--decision",
        "initial-version",
        "--input",
        typo.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(4));
    assert!(stderr(&o).contains("previousVersoin"), "{}", stderr(&o));
    // 3: the policy cannot be loaded.
    let o = kbind(&[
        "eval",
        "--decision",
        "initial-version",
        "--sha256",
        "00",
        "--input",
        "examples/eval/initial-version.yaml",
    ]);
    assert_eq!(o.status.code(), Some(3));
    let o = kbind(&[
        "eval",
        "--policy",
        "no/such/policy.wasm",
        "--decision",
        "initial-version",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("no/such/policy.wasm"));
    let o = kbind(&[
        "eval",
        "--policy",
        "semver-auto",
        "--set",
        "range=major",
        "--decision",
        "initial-version",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("rejected its settings"),
        "{}",
        stderr(&o)
    );
    // 1: the policy was asked and failed.
    let o = kbind(&[
        "eval",
        "--policy",
        &fixture("fixture-runaway-loop"),
        "--fuel",
        "1000000",
        "--decision",
        "initial-version",
        "--input",
        "examples/eval/initial-version.yaml",
        "-o",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "fuel_exhausted");
    // 2: usage.
    let o = kbind(&["eval", "--decision", "no-such-decision"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn validate_settings_is_a_decision_too() {
    let o = kbind(&[
        "eval",
        "--policy",
        "semver-auto",
        "--decision",
        "validate-settings",
        "--set",
        "range=patch",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("settings accepted"));
}

#[test]
fn inspect_says_which_contract_a_component_speaks() {
    let old = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/components/semver-auto-contract-0.1.0.wasm"
    );
    let o = kbind(&["inspect", old]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("kbind:policy@0.1.0 (an older contract, served through kbind's adapter"),
        "{out}"
    );
    let o = kbind(&["inspect", old, "-o", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(json["shape"]["contract"], "0.1");
    assert_eq!(json["shape"]["contract_version"], "0.1.0");
    assert_eq!(json["servedContracts"][1], "kbind:policy@0.1.0");
}

#[test]
fn inspect_reports_contract_exports_imports_and_metadata() {
    let o = kbind(&["inspect", "kratix-default"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "sha256",
        "size",
        "kbind:policy@0.2.0 (current",
        "kbind:policy/decisions@0.2.0",
        "kratix-default",
        "strategy",
    ] {
        assert!(out.contains(needle), "missing {needle}: {out}");
    }
    let o = kbind(&["inspect", &fixture("fixture-wrong-contract"), "-o", "json"]);
    assert_eq!(o.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["exports"][0], "kbind:policy/decisions@9.0.0");
    assert!(v["error"].as_str().unwrap().contains("kbind:policy@9.0.0"));
}

#[test]
fn help_is_everywhere() {
    for args in [&["--help"][..], &["eval", "--help"], &["inspect", "--help"]] {
        let o = kbind(args);
        assert!(o.status.success());
        assert!(stdout(&o).contains("Usage"), "{args:?}");
    }
}

#[test]
fn test_command_runs_suites_and_writes_junit() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("report.xml");
    let o = kbind(&[
        "test",
        "policies/kratix-default/tests/decisions.yaml",
        "policies/semver-auto/tests",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.lines().last().unwrap().ends_with(" passed, 0 failed"),
        "{out}"
    );
    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .contains("<testsuite name=\"semver-auto\"")
    );

    // Testing a different policy against a suite fails it, exit 1.
    let o = kbind(&[
        "test",
        "policies/kratix-default/tests/decisions.yaml",
        "--policy",
        "semver-auto",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("FAIL"));
}

/// `--policy` given as a path relative to where the command runs, the
/// same component as the suite's own (no note) and another one (fuel
/// ceilings not applied, said so) — for `test`, `bench` and `simulate`.
#[test]
fn a_policy_path_on_the_command_line_is_taken_from_the_working_directory() {
    let relative = |name: &str| {
        let absolute = kbind_fixtures::component(name);
        absolute
            .strip_prefix(workspace())
            .expect("fixtures are built under the workspace")
            .display()
            .to_string()
    };
    let same = relative("kratix-default");
    let o = kbind(&[
        "test",
        "policies/kratix-default/tests/decisions.yaml",
        "--policy",
        &same,
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        !stdout(&o).contains("maxFuel ceilings not applied"),
        "{}",
        stdout(&o)
    );

    let other = relative("semver-auto");
    let o = kbind(&[
        "test",
        "policies/semver-auto/tests/decisions.yaml",
        "--policy",
        &same,
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "kratix-default fails semver-auto's cases"
    );
    assert!(
        stdout(&o).contains("maxFuel ceilings not applied"),
        "{}",
        stdout(&o)
    );

    let o = kbind(&[
        "bench",
        "--suite",
        "policies/semver-auto/tests/decisions.yaml",
        "--policy",
        &other,
        "--iterations",
        "2",
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));

    let o = kbind(&[
        "simulate",
        "tests/scenarios/02-floating-follows-latest.yaml",
        "--policy",
        &same,
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

/// `kbind compile` fills the compiled-policy cache ahead of time; a later
/// load by the same kbind takes the artifact from it.
#[test]
fn compile_ahead_of_time_fills_the_cache_a_later_load_uses() {
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kbind"))
            .arg("--cache-dir")
            .arg(cache.path())
            .args(args)
            .current_dir(workspace())
            .output()
            .expect("kbind runs")
    };
    let o = run(&["compile", "semver-auto"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("compiled now"), "{out}");
    let artifact = out
        .lines()
        .find_map(|l| l.strip_prefix("artifact"))
        .map(|p| PathBuf::from(p.trim()))
        .expect("an artifact row");
    assert!(
        artifact.starts_with(cache.path()) && artifact.is_file(),
        "{out}"
    );
    let o = run(&["inspect", "semver-auto"]);
    assert!(stdout(&o).contains("(DiskCache)"), "{}", stdout(&o));
    let o = run(&["compile", "semver-auto"]);
    assert!(
        stdout(&o).contains("already in the cache"),
        "{}",
        stdout(&o)
    );
    // The operator's config file names the policy as well.
    let config = cache.path().join("config.yaml");
    std::fs::write(&config, "policy: kratix-default\n").unwrap();
    let o = run(&["compile", "--config", config.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let o = run(&["--no-cache", "compile", "kratix-default"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn simulate_runs_the_scenarios_and_reports_failures_with_a_diff() {
    let o = kbind(&["simulate", "tests/scenarios"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    let last = out.lines().last().unwrap();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
    let passed: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert!(passed >= 40, "{last}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wrong.yaml");
    std::fs::write(
        &file,
        r#"
name: wrong expectation
steps:
  - apply:
      apiVersion: platform.kratix.io/v1alpha1
      kind: Promise
      metadata: {name: redis, labels: {kratix.io/promise-version: v0.1.0}}
      spec: {api: {spec: {group: marketplace.kratix.io, names: {kind: redis, plural: redis}}}}
  - apply: {apiVersion: marketplace.kratix.io/v1alpha1, kind: redis, metadata: {name: example, namespace: default}, spec: {}}
  - expect: [{kind: ResourceBinding, namespace: default, name: example-redis-e7f90, spec: {version: v0.1.0}}]
"#,
    )
    .unwrap();
    let o = kbind(&["simulate", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("FAIL") && out.contains("spec.version: expected \"v0.1.0\", got \"latest\""),
        "{out}"
    );
    assert!(out.ends_with("0 passed, 1 failed\n"), "{out}");
}

#[test]
fn sandbox_demo_walks_through_the_user_story() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let o = kbind(&[
        "sandbox",
        "--demo",
        "--exit-after-demo",
        "--set",
        "strategy=pinned",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("example-redis-e7f90"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "example-redis-e7f90",
            "example",
            "redis",
            "v0.1.0",
            "v0.1.0"
        ],
        "{out}"
    );
    assert_eq!(
        rows[1],
        [
            "example-redis-e7f90",
            "example",
            "redis",
            "v0.2.0",
            "v0.2.0"
        ],
        "{out}"
    );
    assert!(out.contains("No resources found"), "{out}");
    assert!(
        std::fs::read_to_string(&kubeconfig)
            .unwrap()
            .contains("token:")
    );
}

#[test]
fn bench_saves_a_baseline_and_fails_on_a_regression_against_it() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");
    let suite = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../policies/kratix-default/tests/decisions.yaml"
    );
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kbind"))
            .args(["bench", "--suite", suite, "--iterations", "5"])
            .args(extra)
            .output()
            .unwrap()
    };
    let saved = run(&["--save", baseline.to_str().unwrap()]);
    assert!(
        saved.status.success(),
        "{}",
        String::from_utf8_lossy(&saved.stderr)
    );
    let stdout = String::from_utf8_lossy(&saved.stdout);
    assert!(
        stdout.contains("P99 µs") && stdout.contains("floating is the default"),
        "{stdout}"
    );

    // The same policy against its own baseline. Timing is no test here:
    // five iterations on a loaded 2-core machine vary by more than tenfold
    // (a p50 of 20.9 µs measured at 356.9 µs in a full test run), so the
    // limit only has to admit the same fuel; a timing regression is a
    // bench's to find.
    let same = run(&[
        "--compare",
        baseline.to_str().unwrap(),
        "--max-regression",
        "1000000",
    ]);
    assert!(
        same.status.success(),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );

    // A baseline that claims less fuel: fuel is deterministic, so this is a
    // regression on any machine.
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    for case in doc["cases"].as_object_mut().unwrap().values_mut() {
        if let Some(f) = case["fuel"].as_u64() {
            case["fuel"] = serde_json::json!(f / 100);
        }
    }
    std::fs::write(&baseline, doc.to_string()).unwrap();
    let worse = run(&[
        "--compare",
        baseline.to_str().unwrap(),
        "--max-regression",
        "1000",
    ]);
    assert_eq!(worse.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&worse.stdout);
    assert!(
        stdout.contains("REGRESSION") && stdout.contains("fuel"),
        "{stdout}"
    );
}

/// Bad input through every command that reads files: one line on stderr
/// naming the problem, a non-zero exit, never a panic.
#[test]
fn bad_input_gives_one_line_errors_and_no_panics() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let malformed = write("malformed.yaml", "now: [unclosed\n  promise: {\n");
    let unknown = write(
        "unknown.yaml",
        "now: 2026-01-01T00:00:00Z\npromise: {name: redis, revisions: []}\nrequest: {namespace: d, name: e}\ncolour: blue\n",
    );
    let bad_version = write(
        "bad-version.yaml",
        "now: 2026-01-01T00:00:00Z\npromise: {name: redis, revisions: [{version: \"not a version!\", latest: true}]}\nrequest: {namespace: d, name: e}\n",
    );
    let bad_time = write(
        "bad-time.yaml",
        "now: yesterday\npromise: {name: redis, revisions: []}\nrequest: {namespace: d, name: e}\n",
    );
    let huge = {
        let mut text =
            String::from("now: 2026-01-01T00:00:00Z\npromise: {name: redis, revisions: [");
        for i in 0..20_000 {
            text.push_str(&format!("{{version: v0.0.{i}}},"));
        }
        text.push_str("]}\nrequest: {namespace: d, name: e}\n");
        write("huge.yaml", &text)
    };
    let binary = {
        let p = dir.path().join("binary.yaml");
        std::fs::write(&p, [0xff, 0xfe, 0x00, 0x01, 0x80]).unwrap();
        p.display().to_string()
    };
    let bad_suite = write(
        "suite.yaml",
        "cases:\n  - name: x\n    decision: no-such-decision\n",
    );
    let bad_scenario = write("scenario.yaml", "steps: 42\n");
    let eval = |input: &str, extra: &[&str]| {
        let mut args = vec!["eval", "--decision", "initial-version", "--input", input];
        args.extend_from_slice(extra);
        kbind(&args)
    };
    let cases: Vec<(&str, Output, &str)> = vec![
        ("malformed YAML", eval(&malformed, &[]), "invalid input"),
        (
            "unknown field",
            eval(&unknown, &[]),
            "unknown field `colour`",
        ),
        ("invalid time", eval(&bad_time, &[]), "invalid time"),
        ("not UTF-8", eval(&binary, &[]), ""),
        (
            "oversized input",
            eval(&huge, &["--max-input", "64KiB"]),
            "over the cap",
        ),
        (
            "missing file",
            eval("/nonexistent/input.yaml", &[]),
            "nonexistent",
        ),
        (
            "bad suite",
            kbind(&["test", &bad_suite]),
            "no-such-decision",
        ),
        (
            "bad scenario",
            kbind(&["simulate", &bad_scenario]),
            "invalid scenario",
        ),
        (
            "bad bench suite",
            kbind(&["bench", "--suite", &bad_suite]),
            "no-such-decision",
        ),
        (
            "bad --set",
            kbind(&[
                "eval",
                "--decision",
                "initial-version",
                "--input",
                "examples/eval/initial-version.yaml",
                "--set",
                "novalue",
            ]),
            "NAME=VALUE",
        ),
    ];
    for (what, out, says) in &cases {
        let err = stderr(out);
        let all = format!("{}{}", stdout(out), err);
        assert_ne!(out.status.code(), Some(0), "{what}: exit 0\n{all}");
        assert!(!all.contains("panicked"), "{what}: panicked\n{all}");
        assert!(all.contains(says), "{what}: expected {says:?} in\n{all}");
        if !err.trim().is_empty() {
            assert_eq!(
                err.trim().lines().count(),
                1,
                "{what}: more than one line\n{err}"
            );
        }
    }
    // A version that is not semver is the policy's business: kratix-default
    // decides on it (latest marker), it is not an input error.
    let out = eval(&bad_version, &[]);
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

/// README, "Writing a policy": with `KBIND_PERFMAP` set the engine writes
/// the perf map `perf report` reads to name a policy's compiled functions.
#[cfg(target_os = "linux")]
#[test]
fn kbind_perfmap_writes_a_perf_map_of_the_policy_code() {
    let child = Command::new(env!("CARGO_BIN_EXE_kbind"))
        .args([
            "--no-cache",
            "eval",
            "--decision",
            "initial-version",
            "--input",
            "examples/eval/initial-version.yaml",
        ])
        .env("KBIND_PERFMAP", "1")
        .current_dir(workspace())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("kbind runs");
    let map = PathBuf::from(format!("/tmp/perf-{}.map", child.id()));
    let status = child.wait_with_output().expect("kbind ends").status;
    assert!(status.success());
    let text = std::fs::read_to_string(&map).unwrap_or_default();
    let _ = std::fs::remove_file(&map);
    assert!(
        text.lines().any(|l| l.contains("wasm")),
        "no wasm functions in {}: {text:.200}",
        map.display()
    );
}

#[test]
fn rbac_prints_the_request_rules_of_the_promises_given() {
    let promise = workspace().join("tests/fixtures/kratix/promise-redis.yaml");
    let o = kbind(&["rbac", promise.to_str().unwrap(), "--namespace", "platform"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("apiGroups: [\"marketplace.kratix.io\"]")
            && out.contains("resources: [\"*/status\"]")
            && out.contains("namespace: platform"),
        "{out}"
    );
    let revision = workspace().join("tests/fixtures/kratix/promiserevision.yaml");
    let o = kbind(&["rbac", revision.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4), "no Promise in it: {}", stdout(&o));
    assert!(stderr(&o).contains("no Promise"), "{}", stderr(&o));

    // What `kubectl get promises -o yaml` prints: a List, here with a
    // second Promise and one with no API (dependencies only).
    let fixture: serde_json::Value =
        kbind::yaml::from_str(&std::fs::read_to_string(&promise).unwrap()).unwrap();
    let mut widget = fixture.clone();
    widget["metadata"]["name"] = serde_json::json!("widget");
    widget["spec"]["api"]["spec"]["group"] = serde_json::json!("example.com");
    let mut no_api = fixture.clone();
    no_api["metadata"]["name"] = serde_json::json!("deps");
    no_api["spec"].as_object_mut().unwrap().remove("api");
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List",
        "items": [fixture, widget, no_api]});
    let dir = tempfile::tempdir().unwrap();
    let listed = dir.path().join("promises.json");
    std::fs::write(&listed, list.to_string()).unwrap();
    let o = kbind(&["rbac", listed.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for expected in [
        "name: kbind-operator-requests-redis",
        "name: kbind-operator-requests-widget",
        "apiGroups: [\"example.com\"]",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
    assert!(!out.contains("kbind-operator-requests-deps"), "{out}");
    assert!(
        stderr(&o).contains("Promise deps has no spec.api"),
        "{}",
        stderr(&o)
    );
}

/// `kbind sandbox --event-ttl` reaches the server: an Event written through
/// kubectl is gone that long after its last write, as etcd's lease on it
/// runs out (the default is an hour).
#[test]
fn sandbox_event_ttl_flag_expires_events() {
    let Some(kubectl) = crate::kubectl::kubectl_binary() else {
        eprintln!("SKIPPED: no kubectl found");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut sandbox = Command::new(env!("CARGO_BIN_EXE_kbind"))
        .args([
            "sandbox",
            "--no-operator",
            "--event-ttl",
            "2s",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !kubeconfig.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let run = |args: &[&str]| {
        Command::new(&kubectl)
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .env("KUBECACHEDIR", dir.path().join("kube-cache"))
            .output()
            .unwrap()
    };
    let event = dir.path().join("event.yaml");
    std::fs::write(
        &event,
        "apiVersion: v1\nkind: Event\nmetadata: {name: short-lived, namespace: default}\ninvolvedObject: {kind: ConfigMap, name: x, namespace: default}\nreason: Testing\nmessage: gone in two seconds\ntype: Normal\nsource: {component: test}\n",
    )
    .unwrap();
    let created = run(&["create", "-f", event.to_str().unwrap()]);
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(run(&["get", "event", "short-lived"]).status.success());
    let mut gone = false;
    for _ in 0..100 {
        let got = run(&["get", "event", "short-lived"]);
        if stderr(&got).contains("NotFound") {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = sandbox.kill();
    let _ = sandbox.wait();
    assert!(gone, "the Event outlived --event-ttl 2s");
}
