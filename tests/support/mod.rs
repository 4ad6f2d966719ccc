//! Shared by the workspace-level integration tests.
#![allow(dead_code)]

pub mod cluster;
pub mod fixture;
pub mod install;
pub mod registry;
pub mod token_server;

// Not every test binary builds a Promise.
#[allow(unused_imports)]
pub use fixture::promise;

use kbind::contract::*;
use kbind::engine::{EngineOptions, Limits, LoadedPolicy, PolicyEngine, PolicySource};

/// 2026-01-01T00:00:00Z.
pub const NOW: Timestamp = 1_767_225_600_000;

pub fn engine() -> PolicyEngine {
    engine_with(Limits::default())
}

pub fn engine_with(limits: Limits) -> PolicyEngine {
    PolicyEngine::new(EngineOptions {
        limits,
        cache_dir: None,
        ..Default::default()
    })
    .expect("engine starts")
}

pub fn fixture(name: &str) -> PolicySource {
    PolicySource::from_path(&kbind_fixtures::dir().join(format!("{name}.wasm")))
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
        labels: vec![],
        annotations: vec![],
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
        last_succeeded_at: None,
        last_failed_at: None,
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

/// A kube-rs client for an embedded API server.
pub async fn client_for(running: &kbind::apiserver::Running) -> kube::Client {
    client_as(running, "").await
}

/// The sandbox kubeconfig's client configuration.
pub async fn config_for(running: &kbind::apiserver::Running) -> kube::Config {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&running.kubeconfig()).unwrap();
    kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap()
}

/// A client holding `token` instead of the sandbox's admin token.
#[allow(dead_code)]
pub async fn client_with_token(running: &kbind::apiserver::Running, token: String) -> kube::Client {
    let mut config = config_for(running).await;
    config.auth_info.token = Some(token.into());
    kube::Client::try_from(config).unwrap()
}

/// A client whose requests the server's audit records under `who`.
pub async fn client_as(running: &kbind::apiserver::Running, who: &str) -> kube::Client {
    let mut config = config_for(running).await;
    if !who.is_empty() {
        config.headers.push((
            http::HeaderName::from_static("x-kbind-audit-as"),
            http::HeaderValue::from_str(who).unwrap(),
        ));
    }
    kube::Client::try_from(config).unwrap()
}

/// A running operator (no leader election) and its handles.
pub struct Operator {
    pub task: tokio::task::JoinHandle<Result<(), kbind::operator::OperatorError>>,
    pub metrics: std::sync::Arc<kbind::operator::metrics::Metrics>,
    pub slot: std::sync::Arc<kbind::operator::hot_swap::PolicySlot>,
}

impl Operator {
    /// Stops it the way a killed process stops: nothing is released.
    pub fn kill(self) {
        self.task.abort();
    }
}

pub fn start_operator(
    client: kube::Client,
    policy: std::sync::Arc<dyn kbind::policy::Policy>,
    watcher: Option<kbind::operator::hot_swap::PolicyWatcher>,
    options: kbind::operator::OperatorOptions,
) -> Operator {
    let metrics = std::sync::Arc::new(kbind::operator::metrics::Metrics::new());
    start_operator_with(client, policy, watcher, options, metrics)
}

pub fn start_operator_with(
    client: kube::Client,
    policy: std::sync::Arc<dyn kbind::policy::Policy>,
    watcher: Option<kbind::operator::hot_swap::PolicyWatcher>,
    options: kbind::operator::OperatorOptions,
    metrics: std::sync::Arc<kbind::operator::metrics::Metrics>,
) -> Operator {
    // KBIND_TEST_LOG=debug shows the operator's logs for a failing test.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("KBIND_TEST_LOG"))
        .with_test_writer()
        .try_init();
    let slot = std::sync::Arc::new(kbind::operator::hot_swap::PolicySlot::new(
        policy,
        metrics.clone(),
    ));
    let task = tokio::spawn(kbind::operator::run(
        client,
        slot.clone(),
        metrics.clone(),
        watcher,
        options,
        std::future::pending(),
    ));
    Operator {
        task,
        metrics,
        slot,
    }
}

/// Polls `check` until it returns Some, or panics naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
