//! The wasm engine against real components: the shipped policies and the
//! misbehaving fixtures built by `host/build.rs`.

use crate::support;

use std::time::Duration;

use kbind::contract::*;
use kbind::engine::{CompileSource, EngineOptions, Limits, PolicyEngine, PolicySource};
use kbind::policy::{Policy, PolicyError};
use kbind::shipped;
use support::*;

#[test]
fn kratix_default_decides_initial_versions() {
    let engine = engine();
    let floating = load(&engine, &shipped::KRATIX_DEFAULT.source(), &[]);
    let pinned = load(
        &engine,
        &shipped::KRATIX_DEFAULT.source(),
        &[("strategy", "pinned")],
    );
    let promise = redis(&["v0.1.0", "v0.2.0"], "v0.2.0");

    let d = floating
        .initial_version(&initial_input(&[], promise.clone()))
        .unwrap();
    assert_eq!(d.value.version, "latest");
    assert!(d.fuel > 0, "fuel is reported");

    let d = pinned
        .initial_version(&initial_input(&[("strategy", "pinned")], promise))
        .unwrap();
    assert_eq!(d.value.version, "v0.2.0");
    assert_eq!(floating.info().name, "kratix-default");
    assert_eq!(floating.settings().len(), 0);
}

#[test]
fn semver_auto_plans_upgrades_for_all_bindings_in_one_call() {
    let engine = engine();
    let policy = load(
        &engine,
        &shipped::SEMVER_AUTO.source(),
        &[("range", "patch")],
    );
    let promise = redis(&["v1.0.0", "v1.0.5", "v1.1.0", "v2.0.0"], "v2.0.0");
    let plan = policy
        .plan_upgrades(&PlanInput {
            now: NOW,
            settings: policy.settings().to_vec(),
            promise,
            bindings: vec![
                binding("a", "v1.0.0"),
                binding("b", "latest"),
                binding("c", "v1.1.0"),
            ],
            trigger: PlanTrigger::RevisionsChanged,
        })
        .unwrap()
        .value;
    let upgrades: Vec<_> = plan
        .upgrades
        .iter()
        .map(|u| (u.binding.name.as_str(), u.version.as_str()))
        .collect();
    assert_eq!(upgrades, [("a-redis", "v1.0.5")]);
}

#[test]
fn swapping_the_policy_file_changes_decisions_without_rebuilding() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.wasm");
    let engine = engine();
    let promise = redis(&["v0.1.0", "v0.2.0"], "v0.1.0");
    let input = initial_input(&[], promise);

    std::fs::write(&path, shipped::KRATIX_DEFAULT.bytes).unwrap();
    let before = load(&engine, &PolicySource::from_path(&path).unwrap(), &[]);
    std::fs::write(&path, shipped::SEMVER_AUTO.bytes).unwrap();
    let after = load(&engine, &PolicySource::from_path(&path).unwrap(), &[]);

    assert_eq!(
        before.initial_version(&input).unwrap().value.version,
        "latest"
    );
    // semver-auto pins the newest revision, not the latest marker.
    assert_eq!(
        after.initial_version(&input).unwrap().value.version,
        "v0.2.0"
    );
    assert_ne!(before.id().digest, after.id().digest);
}

#[test]
fn a_digest_mismatch_refuses_to_load() {
    let engine = engine();
    let source = shipped::KRATIX_DEFAULT.source();
    let wrong = "0".repeat(64);
    let err = engine
        .load(&source, Some(&wrong), vec![])
        .err()
        .expect("refused");
    assert!(matches!(err, PolicyError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&source.sha256()), "{err}");
    // The right digest (with or without the `sha256:` prefix) loads.
    engine
        .load(
            &source,
            Some(&format!("sha256:{}", source.sha256())),
            vec![],
        )
        .unwrap();
}

#[test]
fn a_wrong_contract_version_is_refused_naming_both_versions() {
    let err = engine()
        .load(&fixture("fixture-wrong-contract"), None, vec![])
        .err()
        .expect("refused");
    assert!(matches!(err, PolicyError::ContractMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("kbind:policy@9.0.0") && msg.contains("kbind:policy@0.2.0"),
        "{msg}"
    );
}

#[test]
fn a_missing_export_is_refused_naming_what_is_missing() {
    let err = engine()
        .load(&fixture("fixture-missing-export"), None, vec![])
        .err()
        .expect("refused");
    let PolicyError::MissingExports { missing, .. } = &err else {
        panic!("{err}")
    };
    assert!(missing.contains(&"initial-version".to_string()), "{err}");
    assert!(!missing.contains(&"validate-settings".to_string()), "{err}");
}

#[test]
fn malformed_bytes_are_not_a_component() {
    let source = PolicySource::from_bytes("garbage.wasm", b"\0asm not really".to_vec());
    let err = engine().load(&source, None, vec![]).err().expect("refused");
    assert!(matches!(err, PolicyError::InvalidComponent { .. }), "{err}");
    assert!(err.to_string().contains("garbage.wasm"));
}

#[test]
fn settings_are_validated_at_load() {
    let err = engine()
        .load(
            &shipped::SEMVER_AUTO.source(),
            None,
            settings_of(&[("range", "major")]),
        )
        .err()
        .expect("refused");
    assert!(matches!(err, PolicyError::SettingsRejected { .. }), "{err}");
    assert!(err.to_string().contains("semver-auto"), "{err}");
}

/// After any failure, the same engine serves a good decision.
fn engine_still_serves(engine: &PolicyEngine) {
    let good = load(engine, &shipped::KRATIX_DEFAULT.source(), &[]);
    let d = good
        .initial_version(&initial_input(&[], redis(&["v1"], "v1")))
        .unwrap();
    assert_eq!(d.value.version, "latest");
}

fn input() -> InitialVersionInput {
    initial_input(&[], redis(&["v1"], "v1"))
}

#[test]
fn a_runaway_loop_runs_out_of_fuel() {
    let engine = engine_with(Limits {
        fuel: 50_000_000,
        deadline: Duration::from_secs(30),
        ..Limits::default()
    });
    let policy = load(&engine, &fixture("fixture-runaway-loop"), &[]);
    let err = policy.initial_version(&input()).unwrap_err();
    let PolicyError::FuelExhausted {
        policy: id,
        budget,
        decision,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(
        (id.name.as_str(), *budget, *decision),
        ("runaway-loop", 50_000_000, "initial-version")
    );
    assert!(
        err.to_string().contains(id.short_digest()),
        "names the digest: {err}"
    );
    engine_still_serves(&engine);
}

#[test]
fn a_runaway_loop_hits_the_deadline_when_fuel_is_plentiful() {
    let engine = engine_with(Limits {
        fuel: u64::MAX / 2,
        deadline: Duration::from_millis(50),
        ..Limits::default()
    });
    let policy = load(&engine, &fixture("fixture-runaway-loop"), &[]);
    let err = policy.initial_version(&input()).unwrap_err();
    assert!(matches!(err, PolicyError::DeadlineExceeded { .. }), "{err}");
    engine_still_serves(&engine);
}

#[test]
fn a_memory_bomb_hits_the_memory_cap() {
    let engine = engine_with(Limits {
        memory_bytes: 16 << 20,
        ..Limits::default()
    });
    let policy = load(&engine, &fixture("fixture-memory-bomb"), &[]);
    let err = policy.initial_version(&input()).unwrap_err();
    let PolicyError::MemoryLimit { limit, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*limit, 16 << 20);
    engine_still_serves(&engine);
}

#[test]
fn a_panicking_policy_is_reported_as_a_panic() {
    let engine = engine();
    let policy = load(&engine, &fixture("fixture-panicking"), &[]);
    let err = policy.initial_version(&input()).unwrap_err();
    assert!(matches!(err, PolicyError::Panicked { .. }), "{err}");
    assert!(err.to_string().contains("panicking"), "{err}");
    // The trapped instance is gone; the same policy is called afresh.
    assert!(matches!(
        policy.initial_version(&input()).unwrap_err(),
        PolicyError::Panicked { .. }
    ));
    engine_still_serves(&engine);
}

#[test]
fn oversized_input_is_refused_before_running() {
    let engine = engine_with(Limits {
        input_bytes: 4096,
        ..Limits::default()
    });
    let policy = load(&engine, &shipped::KRATIX_DEFAULT.source(), &[]);
    let mut big = input();
    big.request.name = "x".repeat(10_000);
    let err = policy.initial_version(&big).unwrap_err();
    let PolicyError::InputTooLarge { size, limit, .. } = err else {
        panic!("{err}")
    };
    assert!(size > 10_000 && limit == 4096);
    engine_still_serves(&engine);
}

#[test]
fn a_policy_error_is_reported_as_declined() {
    let engine = engine();
    let policy = load(
        &engine,
        &shipped::KRATIX_DEFAULT.source(),
        &[("strategy", "pinned")],
    );
    let mut no_latest = initial_input(&[("strategy", "pinned")], redis(&["v1"], "none"));
    no_latest.previous_version = None;
    let err = policy.initial_version(&no_latest).unwrap_err();
    assert!(matches!(err, PolicyError::Declined { .. }), "{err}");
    assert!(
        err.to_string().contains("no latest promise revision yet"),
        "{err}"
    );
}

#[test]
fn shipped_policies_import_nothing() {
    let engine = engine();
    for policy in shipped::ALL {
        let shape = engine.check(&policy.source()).unwrap();
        assert!(
            shape.imports.iter().all(|i| !i.starts_with("wasi:")),
            "{}: {:?}",
            policy.name,
            shape.imports
        );
        assert!(!shape.imports_wasi);
        assert!(
            shape
                .exports
                .iter()
                .any(|e| e == "kbind:policy/decisions@0.2.0"),
            "{:?}",
            shape.exports
        );
    }
}

#[test]
fn a_std_component_gets_a_deny_all_wasi_fed_from_the_input() {
    let engine = engine();
    let source = fixture("fixture-wasi-probe");
    let shape = engine.check(&source).unwrap();
    assert!(
        shape.imports_wasi,
        "the probe imports WASI: {:?}",
        shape.imports
    );
    let policy = load(&engine, &source, &[]);
    let first = policy.initial_version(&input()).unwrap().value.reason;
    assert!(first.contains("file=denied"), "{first}");
    assert!(first.contains("dir=denied"), "{first}");
    assert!(first.contains("env=0"), "{first}");
    assert!(first.contains("tcp=denied"), "{first}");
    assert!(
        first.contains(&format!("now={NOW}")),
        "the clock is the input's now: {first}"
    );
    // Deterministic: same input, same answer.
    assert_eq!(
        policy.initial_version(&input()).unwrap().value.reason,
        first
    );
}

#[test]
fn compiled_components_are_cached_on_disk_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let options = || EngineOptions {
        limits: Limits::default(),
        cache_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let source = shipped::SEMVER_AUTO.source();

    let first = PolicyEngine::new(options()).unwrap();
    let (_, report) = first.load(&source, None, vec![]).unwrap();
    assert_eq!(report.compile, CompileSource::Compiled);
    let (_, report) = first.load(&source, None, vec![]).unwrap();
    assert_eq!(report.compile, CompileSource::MemoryCache);

    let second = PolicyEngine::new(options()).unwrap();
    let (policy, report) = second.load(&source, None, vec![]).unwrap();
    assert_eq!(report.compile, CompileSource::DiskCache);
    assert_eq!(policy.info().name, "semver-auto");

    // A tampered artifact is never deserialized: it is a miss and recompiles.
    let entry = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&entry).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&entry, bytes).unwrap();
    let third = PolicyEngine::new(options()).unwrap();
    let (_, report) = third.load(&source, None, vec![]).unwrap();
    assert_eq!(report.compile, CompileSource::Compiled);
}

#[test]
fn a_policy_that_sleeps_is_stopped_instead_of_blocking_the_host() {
    let engine = engine();
    let policy = load(&engine, &fixture("fixture-wasi-probe"), &[]);
    let started = std::time::Instant::now();
    let err = policy
        .plan_upgrades(&PlanInput {
            now: NOW,
            settings: vec![],
            promise: redis(&["v1"], "v1"),
            bindings: vec![],
            trigger: PlanTrigger::Timer,
        })
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "returned without sleeping"
    );
    assert!(matches!(err, PolicyError::Trap { .. }), "{err}");
    assert!(err.to_string().contains("must not wait"), "{err}");
    engine_still_serves(&engine);
}

/// The guest runtime serves argument memory from an arena that starts over
/// once every block of it is freed. Answers built out of the input's own
/// memory (moved, grown in place) come out whole, and input memory a policy
/// keeps across calls on a warm instance is not handed out again.
#[test]
fn answers_built_from_input_memory_survive_the_argument_arena() {
    let policy = load(
        &engine(),
        &fixture("fixture-rogue"),
        &[("mode", "moves-input")],
    );
    let grown = "-grown".repeat(64);
    let ask = |name: &str| {
        let mut input = initial_input(&[("mode", "moves-input")], redis(&["v3", "v4"], "v4"));
        input.request.name = name.into();
        input
    };

    let fresh = policy.initial_version(&ask("example")).unwrap().value;
    assert_eq!(fresh.version, "v3");
    assert_eq!(fresh.reason, format!("redis{grown} after "));

    let mut warm = policy.warm_instance(NOW).unwrap();
    let mut previous = String::new();
    for call in 0..40 {
        let name = format!("{call:03}.").repeat(100 + call * 37);
        let answer = warm
            .initial_version(&ask(&name))
            .unwrap_or_else(|e| panic!("call {call}: {e}"));
        assert_eq!(answer.version, "v3", "call {call}");
        assert!(
            answer.reason == format!("redis{grown} after {previous}"),
            "call {call}: the name kept from the call before was overwritten"
        );
        previous = name;
    }
}
