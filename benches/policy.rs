//! Policy overhead, wasm against native, side by side in one run:
//!
//!   cargo bench -p kbind --bench policy
//!
//! - `decision/*`: one `initial-version` of `kratix-default`: native, wasm
//!   on a warm instance, wasm on a fresh instance (what kbind does).
//! - `plan-upgrades/*`: the raw decision over N bindings of one promise
//!   (wasm cost here is marshalling N bindings across the boundary: the
//!   policy itself does nothing with them).
//! - `planner-step/*`: the promise reconcile step as the operator runs it
//!   (view to input, the decision, the answer checked) over N bindings.
//! - `load/*`: compiling a component against loading the cached artifact.
//!
//! Results and their reading: BENCHMARKS.md.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use kbind::contract::*;
use kbind::engine::{EngineOptions, PolicyEngine};
use kbind::planner::{self, Context, View};
use kbind::policy::Policy;
use kbind::policy::native::NativeKratixDefault;
use kbind::sim::{Simulation, WorkflowMode};
use serde_json::json;

const SIZES: [usize; 3] = [10, 1_000, 10_000];

fn wasm_policy() -> Arc<dyn Policy> {
    Arc::new(support::load(
        &support::engine(),
        &kbind::shipped::KRATIX_DEFAULT.source(),
        &[],
    ))
}

fn native_policy() -> Arc<dyn Policy> {
    Arc::new(NativeKratixDefault::new(vec![]))
}

fn decision(c: &mut Criterion) {
    let input = support::initial_input(&[], support::redis(&["v1.0.0", "v1.1.0"], "v1.1.0"));
    let native = native_policy();
    let loaded = support::load(
        &support::engine(),
        &kbind::shipped::KRATIX_DEFAULT.source(),
        &[],
    );
    let mut warm = loaded.warm_instance(input.now).expect("instance");
    let mut g = c.benchmark_group("decision");
    g.bench_function("native", |b| {
        b.iter(|| native.initial_version(&input).expect("decides"))
    });
    g.bench_function("wasm-warm-instance", |b| {
        b.iter(|| warm.initial_version(&input).expect("decides"))
    });
    g.bench_function("wasm-fresh-instance", |b| {
        b.iter(|| loaded.initial_version(&input).expect("decides"))
    });
    g.finish();
}

fn plan_input(n: usize) -> PlanInput {
    PlanInput {
        now: support::NOW,
        settings: vec![],
        promise: support::redis(&["v1.0.0", "v1.1.0"], "v1.1.0"),
        bindings: (0..n)
            .map(|i| support::binding(&format!("r{i}"), "v1.0.0"))
            .collect(),
        trigger: PlanTrigger::RevisionsChanged,
    }
}

fn plan_upgrades(c: &mut Criterion) {
    let native = native_policy();
    let wasm = wasm_policy();
    let mut g = c.benchmark_group("plan-upgrades");
    g.measurement_time(Duration::from_secs(5));
    for n in SIZES {
        let input = plan_input(n);
        g.bench_with_input(BenchmarkId::new("native", n), &input, |b, i| {
            b.iter(|| native.plan_upgrades(i).expect("plans"))
        });
        g.bench_with_input(BenchmarkId::new("wasm", n), &input, |b, i| {
            b.iter(|| wasm.plan_upgrades(i).expect("plans"))
        });
    }
    g.finish();
}

/// A settled promise (revision, latest marker) with `n` bindings whose
/// upgrade planning is due (the revision set changed since it last ran).
fn view_with_bindings(n: usize) -> View {
    let mut sim = Simulation::new(native_policy(), support::NOW, WorkflowMode::Auto);
    let promise: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/kratix/promise-redis.yaml"
        ))
        .expect("fixture"),
    )
    .expect("yaml");
    sim.store.apply(promise, false).expect("promise");
    sim.settle().expect("settles");
    for i in 0..n {
        let name = format!("r{i}");
        sim.store.insert_observed(json!({
            "apiVersion": "platform.kratix.io/v1alpha1", "kind": "ResourceBinding",
            "metadata": {"name": kbind::naming::binding_name(&name, "redis"), "namespace": "default",
                "labels": {"kratix.io/promise-name": "redis", "kratix.io/resource-name": name},
                "annotations": {"kbind.io/approved-version": "v0.1.0"}},
            "spec": {"version": "v0.1.0", "promiseRef": {"name": "redis"},
                "resourceRef": {"name": name, "namespace": "default"}},
            "status": {"lastAppliedVersion": "v0.1.0"},
        }));
    }
    let key = kbind::key::ObjKey::new("Promise", "", "redis");
    sim.store
        .patch(
            &key,
            &json!({"status": {"observedRevisions": "stale"}}),
            true,
        )
        .expect("status");
    View::build(&sim.store, "redis")
}

fn planner_step(c: &mut Criterion) {
    let native = native_policy();
    let wasm = wasm_policy();
    let mut g = c.benchmark_group("planner-step");
    g.measurement_time(Duration::from_secs(5));
    for n in SIZES {
        let view = view_with_bindings(n);
        // The step must ask the policy, or it measures nothing.
        let asked = planner::plan_promise(
            &view,
            &Context {
                policy: &*native,
                workflows: &Default::default(),
            },
        );
        assert!(
            asked.iter().any(
                |a| matches!(a, planner::Action::PatchStatus { key, .. } if key.kind == "Promise")
            ),
            "upgrade planning did not run: {asked:?}"
        );
        g.bench_with_input(BenchmarkId::new("native", n), &view, |b, v| {
            b.iter(|| {
                planner::plan_promise(
                    v,
                    &Context {
                        policy: &*native,
                        workflows: &Default::default(),
                    },
                )
            })
        });
        g.bench_with_input(BenchmarkId::new("wasm", n), &view, |b, v| {
            b.iter(|| {
                planner::plan_promise(
                    v,
                    &Context {
                        policy: &*wasm,
                        workflows: &Default::default(),
                    },
                )
            })
        });
    }
    g.finish();
}

fn load(c: &mut Criterion) {
    let source = kbind::shipped::KRATIX_DEFAULT.source();
    let dir = tempfile::tempdir().expect("tempdir");
    let cached = || {
        PolicyEngine::new(EngineOptions {
            limits: Default::default(),
            cache_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        })
        .expect("engine")
    };
    // Fill the cache once.
    cached().load(&source, None, vec![]).expect("loads");
    let mut g = c.benchmark_group("load");
    g.sample_size(20);
    g.bench_function("cold-compile", |b| {
        b.iter_batched(
            support::engine,
            |engine| engine.load(&source, None, vec![]).expect("loads"),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("cached-artifact", |b| {
        b.iter_batched(
            cached,
            |engine| engine.load(&source, None, vec![]).expect("loads"),
            BatchSize::PerIteration,
        )
    });
    g.finish();

    // Where a cached load's time goes: getting the compiled component from
    // the disk cache (read, integrity check, deserialize) against the rest
    // (contract check, linking, the metadata and validate-settings calls).
    let (mut artifact, mut total) = (Duration::ZERO, Duration::ZERO);
    let rounds = 50u32;
    for _ in 0..rounds {
        let engine = cached();
        let started = std::time::Instant::now();
        let (_, report) = engine.load(&source, None, vec![]).expect("loads");
        total += started.elapsed();
        artifact += report.compile_time;
    }
    println!(
        "load/cached-artifact breakdown: artifact from disk {:.0} µs, total {:.0} µs (mean of {rounds})",
        artifact.as_secs_f64() * 1e6 / f64::from(rounds),
        total.as_secs_f64() * 1e6 / f64::from(rounds)
    );
}

criterion_group!(benches, decision, plan_upgrades, planner_step, load);
criterion_main!(benches);
