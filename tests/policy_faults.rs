//! Misbehaving policies under the running operator: each failure leaves the
//! binding as it was, says why (Event, condition where there is a
//! binding), is counted, and the next good policy decision works.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use kbind::engine::{Limits, PolicySource};
use kbind::operator::{OperatorOptions, SimulatedRunner};
use kbind::policy::Policy;
use support::cluster::{BINDING, Env};
use support::eventually;

fn engine() -> kbind::engine::PolicyEngine {
    // Small budgets so a runaway policy is stopped quickly.
    support::engine_with(Limits {
        fuel: 50_000_000,
        fuel_per_binding: 0,
        deadline: Duration::from_secs(2),
        deadline_per_binding: Duration::ZERO,
        memory_bytes: 64 << 20,
        input_bytes: 1 << 20,
    })
}

fn fixture(name: &str, settings: &[(&str, &str)]) -> Arc<dyn Policy> {
    Arc::new(support::load(&engine(), &support::fixture(name), settings))
}

fn good() -> Arc<dyn Policy> {
    Arc::new(support::load(
        &engine(),
        &kbind::shipped::KRATIX_DEFAULT.source(),
        &[("strategy", "pinned")],
    ))
}

fn start(env: &Env, policy: Arc<dyn Policy>) -> support::Operator {
    support::start_operator(
        env.client.clone(),
        policy,
        None,
        OperatorOptions {
            runner: Some(SimulatedRunner::default()),
            ..OperatorOptions::default()
        },
    )
}

async fn events_on(env: &Env, object: &str, reason: &str) -> Vec<String> {
    env.events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.data["involvedObject"]["name"] == object && e.data["reason"] == reason)
        .map(|e| e.data["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A policy that fails `initial-version`: no binding, a PolicyFailed Event
/// on the request naming the failure, the outcome counted; after a swap to
/// a good policy the binding appears.
async fn failing_initial_version(policy: Arc<dyn Policy>, outcome: &str, says: &str) {
    let env = Env::new().await;
    let op = start(&env, policy);
    env.install("v0.1.0").await;
    env.create("example").await;
    let messages = eventually("a PolicyFailed Event on the request", || async {
        let m = events_on(&env, "example", "PolicyFailed").await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert!(messages[0].contains(says), "{messages:?}");
    assert!(env.bindings.get_opt(BINDING).await.unwrap().is_none());
    let metrics = op.metrics.encode();
    assert!(
        metrics.contains(&format!(
            "decision=\"initial-version\",outcome=\"{outcome}\"}}"
        )),
        "{metrics}"
    );
    assert!(metrics.contains("kbind_events_total{reason=\"PolicyFailed\"}"));
    assert!(!op.task.is_finished(), "the operator keeps running");

    op.slot.swap(good());
    env.wait_applied(BINDING, "v0.1.0").await;
    op.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_is_stopped_and_counted() {
    failing_initial_version(
        fixture("fixture-runaway-loop", &[]),
        "fuel_exhausted",
        "fuel",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_is_stopped_and_counted() {
    // Fuel to spare, so the memory cap is what stops it.
    let engine = support::engine_with(Limits {
        memory_bytes: 16 << 20,
        ..Limits::default()
    });
    let policy = Arc::new(support::load(
        &engine,
        &support::fixture("fixture-memory-bomb"),
        &[],
    ));
    failing_initial_version(policy, "memory_limit", "memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_contained_and_counted() {
    failing_initial_version(
        fixture("fixture-panicking", &[]),
        "panicked",
        "failed in initial-version (it aborted",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_without_a_revision_is_refused() {
    let env = Env::new().await;
    let op = start(
        &env,
        fixture("fixture-rogue", &[("mode", "missing-version")]),
    );
    env.install("v0.1.0").await;
    env.create("example").await;
    let messages = eventually("the refusal", || async {
        let m = events_on(&env, "example", "PolicyFailed").await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert!(messages[0].contains("v9.9.9"), "{messages:?}");
    assert!(env.bindings.get_opt(BINDING).await.unwrap().is_none());
    assert!(
        op.metrics
            .encode()
            .contains("kbind_events_total{reason=\"PolicyFailed\"}")
    );
    op.slot.swap(good());
    env.wait_applied(BINDING, "v0.1.0").await;
    op.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_reason_is_cut_before_it_reaches_the_api() {
    let env = Env::new().await;
    let op = start(&env, fixture("fixture-rogue", &[("mode", "huge-output")]));
    env.install("v0.1.0").await;
    env.create("example").await;
    env.wait_applied(BINDING, "v0.1.0").await;
    let messages = events_on(&env, "example", "BindingCreated").await;
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].len() <= kbind::planner::MAX_MESSAGE_BYTES,
        "{}",
        messages[0].len()
    );
    assert!(messages[0].ends_with("more bytes cut)"));
    op.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_reaching_for_files_and_sockets_gets_nothing() {
    let env = Env::new().await;
    let op = start(&env, fixture("fixture-wasi-probe", &[]));
    env.install("v0.1.0").await;
    env.create("example").await;
    let messages = eventually("the probe's decision", || async {
        let m = events_on(&env, "example", "BindingCreated").await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    // The probe reports what it reached in its reason.
    assert!(!messages[0].contains("read:"), "{messages:?}");
    assert!(messages[0].contains("denied"), "{messages:?}");
    op.kill();
}

/// Upgrade planning that names a version without a revision, or a binding
/// it was not asked about: refused, the binding stays where it is, a
/// PolicyFailed Event says why, and a good policy then plans normally.
async fn refused_plan(mode: &str, regarding: &str) {
    let env = Env::new().await;
    let op = start(&env, good());
    env.install("v0.1.0").await;
    env.create("example").await;
    env.wait_applied(BINDING, "v0.1.0").await;
    op.slot.swap(fixture("fixture-rogue", &[("mode", mode)]));
    env.publish("v0.2.0").await;
    let object = if regarding == "binding" {
        BINDING
    } else {
        "redis"
    };
    let messages = eventually("the refusal", || async {
        let m = events_on(&env, object, "PolicyFailed").await;
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert!(messages[0].contains("refused"), "{messages:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        env.binding_field(BINDING, "/spec/version").await,
        Some(serde_json::json!("v0.1.0")),
        "the binding did not move"
    );
    assert_eq!(env.configure_runs("example").await, ["v0.1.0"]);
    assert!(
        op.metrics
            .encode()
            .contains("kbind_events_total{reason=\"PolicyFailed\"}")
    );
    // The next good decision works: an edit is reviewed and applied.
    op.slot.swap(good());
    env.edit_version(BINDING, "v0.2.0").await;
    env.wait_applied(BINDING, "v0.2.0").await;
    op.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_upgrade_to_a_missing_version_is_refused() {
    refused_plan("missing-version", "binding").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planned_upgrade_of_a_binding_not_asked_about_is_refused() {
    refused_plan("unasked-binding", "promise").await;
}

#[test]
fn policies_that_cannot_load_are_refused_by_the_operator_start_up() {
    // Wrong contract, missing export and malformed bytes never get as far
    // as serving: the operator refuses to start on them (exit 3), and a
    // running one keeps its policy (tests/operator.rs, hot swap).
    for (name, bytes) in [
        ("fixture-wrong-contract", None),
        ("fixture-missing-export", None),
        ("malformed", Some(b"\0asm\x01\0\0\0garbage".to_vec())),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.wasm");
        match bytes {
            Some(b) => std::fs::write(&path, b).unwrap(),
            None => {
                let source: PolicySource = support::fixture(name);
                std::fs::write(&path, &*source.bytes).unwrap();
            }
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kbind"))
            .args([
                "operator",
                "--no-cache",
                "--kubeconfig",
                "/nonexistent",
                "--policy",
            ])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{name}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{name}: {stderr}");
    }
}
