//! Shared by the workspace-level integration tests.
#![allow(dead_code)]

use kbind::contract::*;
use kbind::engine::{EngineOptions, Limits, LoadedPolicy, PolicyEngine, PolicySource};
use kbind::shipped;

/// 2026-01-01T00:00:00Z.
pub const NOW: Timestamp = 1_767_225_600_000;

pub fn engine() -> PolicyEngine {
    engine_with(Limits::default())
}

pub fn engine_with(limits: Limits) -> PolicyEngine {
    PolicyEngine::new(EngineOptions {
        limits,
        cache_dir: None,
    })
    .expect("engine starts")
}

pub fn fixture(name: &str) -> PolicySource {
    PolicySource::from_path(&shipped::guest_dir().join(format!("{name}.wasm")))
        .expect("fixture built by build.rs")
}

pub fn load(
    engine: &PolicyEngine,
    source: &PolicySource,
    settings: &[(&str, &str)],
) -> LoadedPolicy {
    engine
        .load(source, None, settings_of(settings))
        .expect("policy loads")
        .0
}

pub fn settings_of(pairs: &[(&str, &str)]) -> Vec<Setting> {
    pairs
        .iter()
        .map(|(n, v)| Setting {
            name: (*n).into(),
            value: (*v).into(),
        })
        .collect()
}

pub fn revision(promise: &str, version: &str, latest: bool) -> Revision {
    Revision {
        name: format!("{promise}-{version}"),
        version: version.into(),
        latest,
        created_at: NOW,
    }
}

pub fn redis(versions: &[&str], latest: &str) -> Promise {
    Promise {
        name: "redis".into(),
        revisions: versions
            .iter()
            .map(|v| revision("redis", v, *v == latest))
            .collect(),
    }
}

pub fn request(namespace: &str, name: &str) -> Request {
    Request {
        namespace: namespace.into(),
        name: name.into(),
        labels: vec![],
        annotations: vec![],
    }
}

pub fn binding(name: &str, version: &str) -> Binding {
    Binding {
        namespace: "default".into(),
        name: format!("{name}-redis"),
        request: request("default", name),
        version: version.into(),
        last_applied_version: None,
        in_flight_version: None,
        failed_version: None,
        failed_versions: vec![],
        state: UpgradeState::None,
        labels: vec![],
        annotations: vec![],
    }
}

pub fn initial_input(settings: &[(&str, &str)], promise: Promise) -> InitialVersionInput {
    InitialVersionInput {
        now: NOW,
        settings: settings_of(settings),
        promise,
        request: request("default", "example"),
        previous_version: None,
    }
}
