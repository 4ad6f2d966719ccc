//! `kbind operator`, and the operator start-up the sandbox shares.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use kbind::operator::hot_swap::{PolicySlot, PolicySpec, PolicyWatcher, SpecError};
use kbind::operator::leader::LeaseConfig;
use kbind::operator::metrics::Metrics;
use kbind::operator::{ControllerOptions, OperatorOptions};

use super::args::OperatorArgs;
use super::{Failure, Global, engine, exit};

impl From<SpecError> for Failure {
    fn from(err: SpecError) -> Self {
        match err {
            SpecError::Policy(e) => e.into(),
            other => Failure::input(other.to_string()),
        }
    }
}

/// The serving policy and, when it comes from a file, its poller.
pub(super) fn load_policy(
    global: &Global,
    spec: PolicySpec,
    metrics: &Arc<Metrics>,
) -> Result<(Arc<PolicySlot>, Option<PolicyWatcher>), Failure> {
    let engine = engine(global)?;
    let (policy, fingerprint) = spec.load(&engine)?;
    let slot = Arc::new(PolicySlot::new(policy, metrics.clone()));
    // Files and followed tags can change; a shipped policy cannot.
    let from_file = spec.config_file.is_some() || kbind::shipped::by_name(&spec.policy).is_none();
    let watcher = from_file
        .then(|| PolicyWatcher::new(spec, engine, slot.clone(), metrics.clone(), fingerprint));
    Ok((slot, watcher))
}

async fn client(args: &OperatorArgs) -> Result<kube::Client, Failure> {
    let config = super::cluster::config(args.kubeconfig.as_deref()).await?;
    kbind::operator::throttle::client(config, args.kube_qps, args.kube_burst)
        .map_err(|e| Failure::environment(format!("cannot make a Kubernetes client: {e}")))
}

fn identity(args: &OperatorArgs) -> String {
    args.identity.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "kbind".into());
        format!("{host}-{}", std::process::id())
    })
}

async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub(super) fn run_operator(global: &Global, args: OperatorArgs) -> Result<ExitCode, Failure> {
    let spec = PolicySpec {
        policy: args.policy.clone(),
        sha256: args.policy_sha256.clone(),
        settings: args.settings.read().map_err(Failure::usage)?,
        config_file: args.config.clone(),
        registry: super::fetch::registry_options(global),
        follow_tag: args.follow_tag,
        follow_every: args.follow_every,
        ..Default::default()
    };
    let metrics = Arc::new(Metrics::new());
    let (slot, watcher) = load_policy(global, spec, &metrics)?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| Failure::environment(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let client = client(&args).await?;
        let (bound, _server) =
            kbind::apiserver::probes::serve(args.metrics_addr, Arc::new(Probes(metrics.clone())))
                .await
                .map_err(|e| {
                    Failure::environment(format!("cannot listen on {}: {e}", args.metrics_addr))
                })?;
        let identity = identity(&args);
        tracing::info!(
            policy = %kbind::policy::Policy::id(&*slot.current()),
            %bound,
            identity,
            "kbind operator starting"
        );
        eprintln!(
            "kbind operator: policy {}, metrics on http://{bound}/metrics",
            kbind::policy::Policy::id(&*slot.current())
        );
        let options = OperatorOptions {
            controller: ControllerOptions {
                workers: args.workers,
                resync: args.resync,
                workflows: args.workflows(),
            },
            lease: args
                .leader_elect
                .then(|| LeaseConfig::new(&args.lease_namespace, &identity)),
            policy_poll: Some(args.policy_poll),
            runner: args
                .simulate_workflows
                .then(|| kbind::operator::SimulatedRunner {
                    fail_versions: args.fail_versions.clone(),
                }),
            events_regarding: None,
        };
        kbind::operator::run(client, slot, metrics, watcher, options, terminated())
            .await
            .map_err(|e| Failure::environment(e.to_string()))?;
        Ok(ExitCode::from(exit::OK))
    })
}

/// The sandbox's operator: no leader election, simulated workflows.
pub(super) fn sandbox_options() -> OperatorOptions {
    OperatorOptions {
        controller: ControllerOptions::default(),
        lease: None,
        policy_poll: Some(Duration::from_secs(2)),
        runner: None,
        events_regarding: None,
    }
}

/// The operator's metrics, as the probe endpoints report them.
struct Probes(Arc<Metrics>);

impl kbind::apiserver::probes::Probed for Probes {
    fn encode(&self) -> String {
        self.0.encode()
    }

    fn is_ready(&self) -> bool {
        self.0.is_ready()
    }
}
