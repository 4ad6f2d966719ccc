//! What Python and JavaScript policies cost, against the Rust one, in one run:
//!
//!   bash scripts/polyglot.sh && cargo bench -p kbind --bench polyglot
//!
//! - `fresh-instance/<lang>/<tuning>`: one `initial-version` of kratix-default
//!   on a fresh instance (what kbind does for every decision), with the
//!   engine's instance-allocation levers varied: the pooling allocator or
//!   not, copy-on-write memory images or not, and how much of a pooled
//!   memory is kept resident between instances.
//! - `split/<lang>/*`: where a fresh decision's time goes: `instantiate`
//!   alone, `first-call` on a just-made instance (the call a fresh decision
//!   makes), and `warm-call` on an instance already called once.
//! - `load/python/*`: a cold compile of the 18 MB Python component against
//!   a load of its cached artifact.
//!
//! Results and their reading: BENCHMARKS.md, "Python and JavaScript policies".

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use kbind::engine::{EngineOptions, PolicyEngine, PolicySource, Tuning};
use kbind::policy::Policy;

fn component(name: &str) -> PolicySource {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/polyglot")
        .join(format!("{name}.wasm"));
    PolicySource::from_path(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run `bash scripts/polyglot.sh` first",
            path.display()
        )
    })
}

fn engine(tuning: Tuning) -> PolicyEngine {
    PolicyEngine::new(EngineOptions {
        tuning,
        ..Default::default()
    })
    .expect("engine")
}

fn tunings() -> Vec<(&'static str, Tuning)> {
    let default = Tuning::default();
    vec![
        ("default", default.clone()),
        (
            "no-cow",
            Tuning {
                memory_init_cow: false,
                ..default.clone()
            },
        ),
        (
            "keep-resident-1MiB",
            Tuning {
                keep_resident_bytes: 1 << 20,
                ..default.clone()
            },
        ),
        (
            "keep-resident-16MiB",
            Tuning {
                keep_resident_bytes: 16 << 20,
                ..default.clone()
            },
        ),
        (
            "keep-resident-64MiB",
            Tuning {
                keep_resident_bytes: 64 << 20,
                ..default.clone()
            },
        ),
        (
            "pagemap-scan-16MiB",
            Tuning {
                keep_resident_bytes: 16 << 20,
                pagemap_scan: true,
                ..default.clone()
            },
        ),
        (
            "pagemap-scan-64MiB",
            Tuning {
                keep_resident_bytes: 64 << 20,
                pagemap_scan: true,
                ..default.clone()
            },
        ),
        (
            "on-demand",
            Tuning {
                pooling: false,
                ..default
            },
        ),
    ]
}

fn fresh_instance(c: &mut Criterion) {
    let input = support::initial_input(&[], support::redis(&["v1.0.0", "v1.1.0"], "v1.1.0"));
    let mut g = c.benchmark_group("fresh-instance");
    g.measurement_time(Duration::from_secs(4));
    for (lang, source) in [
        ("rust", kbind::shipped::KRATIX_DEFAULT.source()),
        ("python", component("kratix-default-python")),
        ("js", component("kratix-default-js")),
    ] {
        for (name, tuning) in tunings() {
            // Loaded on the closure's first call (criterion calls it once per
            // sample, and only for a benchmark its filter selects), so a
            // filtered run does not compile all 24 variants.
            let loaded = std::cell::OnceCell::new();
            g.bench_function(format!("{lang}/{name}"), |b| {
                let (_engine, policy) = loaded.get_or_init(|| {
                    let engine = engine(tuning.clone());
                    let policy = support::load(&engine, &source, &[]);
                    (engine, policy)
                });
                b.iter(|| policy.initial_version(&input).expect("decides"))
            });
        }
    }
    g.finish();
}

fn split(c: &mut Criterion) {
    let input = support::initial_input(&[], support::redis(&["v1.0.0", "v1.1.0"], "v1.1.0"));
    let mut g = c.benchmark_group("split");
    g.measurement_time(Duration::from_secs(4));
    let engine = engine(Tuning::default());
    for (lang, source) in [
        ("rust", kbind::shipped::KRATIX_DEFAULT.source()),
        ("python", component("kratix-default-python")),
        ("js", component("kratix-default-js")),
    ] {
        // Loaded when a selected benchmark first needs it (as above).
        let loaded = std::cell::OnceCell::new();
        let fresh = || {
            loaded
                .get_or_init(|| support::load(&engine, &source, &[]))
                .warm_instance(input.now)
                .expect("instance")
        };
        g.bench_function(format!("{lang}/instantiate"), |b| b.iter(fresh));
        g.bench_function(format!("{lang}/first-call"), |b| {
            b.iter_batched(
                fresh,
                |mut instance| {
                    instance.initial_version(&input).expect("decides");
                    instance
                },
                BatchSize::PerIteration,
            )
        });
        let mut warm = None;
        g.bench_function(format!("{lang}/warm-call"), |b| {
            let warm = warm.get_or_insert_with(|| {
                let mut instance = fresh();
                instance.initial_version(&input).expect("decides");
                instance
            });
            b.iter(|| warm.initial_version(&input).expect("decides"))
        });
    }
    g.finish();
}

fn load(c: &mut Criterion) {
    let source = component("kratix-default-python");
    let dir = tempfile::tempdir().expect("tempdir");
    let cached = || {
        PolicyEngine::new(EngineOptions {
            cache_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        })
        .expect("engine")
    };
    let mut g = c.benchmark_group("load/python");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(60));
    g.bench_function("cold-compile", |b| {
        b.iter_batched(
            support::engine,
            |engine| engine.load(&source, None, vec![]).expect("loads"),
            BatchSize::PerIteration,
        )
    });
    // Its artifact is written once, before the first sample.
    let written = std::cell::OnceCell::new();
    g.bench_function("cached-artifact", |b| {
        written.get_or_init(|| cached().load(&source, None, vec![]).expect("loads"));
        b.iter_batched(
            cached,
            |engine| engine.load(&source, None, vec![]).expect("loads"),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, fresh_instance, split, load);
criterion_main!(benches);
