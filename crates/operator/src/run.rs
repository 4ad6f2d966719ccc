//! The operator process: leader election, the controller, the policy file
//! poller and (in the sandbox) a simulated workflow runner.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;

use super::controller::{AbortOnDrop, Controller, ControllerOptions};
use super::executor::KubeExecutor;
use super::hot_swap::{PolicySlot, PolicyWatcher, Reload};
use super::leader::{Elector, LeaseConfig};
use super::metrics::Metrics;
use super::runner::SimulatedRunner;
use kbind_model::key::ObjKey;

#[derive(Clone, Debug, Default)]
pub struct OperatorOptions {
    pub controller: ControllerOptions,
    /// Leader election; None runs unconditionally (one replica, sandbox).
    pub lease: Option<LeaseConfig>,
    /// How often the policy file is checked for a new version.
    pub policy_poll: Option<Duration>,
    /// Ends workflow Jobs where there is no kubelet.
    pub runner: Option<SimulatedRunner>,
    /// The object policy reload Events are about.
    pub events_regarding: Option<ObjKey>,
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("lost the leader Lease {namespace}/{name}; stopping so that only one replica writes")]
    LostLease { namespace: String, name: String },
}

/// Runs the operator until `shutdown` completes (Ok) or leadership is lost
/// (Err: the process should exit and be restarted, as client-go does).
pub async fn run(
    client: Client,
    slot: Arc<PolicySlot>,
    metrics: Arc<Metrics>,
    policy_watcher: Option<PolicyWatcher>,
    options: OperatorOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), OperatorError> {
    let mut side_tasks = Vec::new();
    let regarding = options.events_regarding.clone().unwrap_or_else(|| {
        let (ns, name) = options
            .lease
            .as_ref()
            .map_or(("default", "kbind-operator"), |l| {
                (l.namespace.as_str(), l.name.as_str())
            });
        ObjKey::new("Lease", ns, name)
    });
    if let (Some(watcher), Some(every)) = (policy_watcher, options.policy_poll) {
        side_tasks.push(tokio::spawn(poll_policy(
            watcher,
            every,
            KubeExecutor::new(client.clone()),
            regarding,
        )));
    }
    if let Some(runner) = options.runner.clone() {
        side_tasks.push(tokio::spawn(runner.run(client.clone())));
    }
    let _side = AbortOnDrop(side_tasks);
    tokio::pin!(shutdown);
    let mut elector = options
        .lease
        .clone()
        .map(|cfg| Elector::new(client.clone(), cfg));
    if let Some(e) = elector.as_mut() {
        tracing::info!(
            identity = e.config().identity,
            "waiting for the leader Lease {}/{}",
            e.config().namespace,
            e.config().name
        );
        tokio::select! {
            _ = e.acquire() => {}
            _ = &mut shutdown => return Ok(()),
        }
        tracing::info!("leader Lease acquired");
    }
    metrics.leader.set(1);
    let controller = Controller::new(client, slot, metrics.clone(), options.controller);
    let task = tokio::spawn(controller.run());
    let _controller = AbortOnDrop(vec![task]);
    let lost = async {
        match elector.as_mut() {
            Some(e) => e.hold().await,
            None => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        _ = lost => {
            let cfg = options.lease.clone().unwrap_or_else(|| LeaseConfig::new("", ""));
            Err(OperatorError::LostLease { namespace: cfg.namespace, name: cfg.name })
        }
        _ = &mut shutdown => Ok(()),
    };
    metrics.leader.set(0);
    metrics.set_ready(false);
    if outcome.is_ok()
        && let Some(e) = elector.as_mut()
    {
        e.release().await;
    }
    outcome
}

async fn poll_policy(
    mut watcher: PolicyWatcher,
    every: Duration,
    mut executor: KubeExecutor,
    regarding: ObjKey,
) {
    loop {
        tokio::time::sleep(every).await;
        let (warning, reason, message) = match watcher.poll() {
            Reload::Unchanged => continue,
            Reload::Loaded { old, new } => {
                tracing::info!(%old, %new, "policy swapped");
                (
                    false,
                    "PolicyLoaded",
                    format!("policy {old} replaced by {new}"),
                )
            }
            Reload::Refused { error } => {
                tracing::error!("new policy refused; the old one keeps serving: {error}");
                (
                    true,
                    "PolicyRefused",
                    format!("new policy refused, the previous one keeps serving: {error}"),
                )
            }
        };
        let involved = super::executor::Involved {
            key: &regarding,
            api_version: "",
            uid: "",
        };
        if let Err(e) = executor.event(&involved, warning, reason, &message).await {
            tracing::warn!("cannot record the policy Event: {e}");
        }
    }
}
