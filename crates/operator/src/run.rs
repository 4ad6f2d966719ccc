//! The operator process: leader election, the controller, the policy file
//! poller and (in the sandbox) a simulated workflow runner.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::controller::{AbortOnDrop, Controller, ControllerOptions};
use super::executor::KubeExecutor;
use super::hot_swap::{PolicySlot, PolicyWatcher, Reload};
use super::leader::{Elector, LeaseConfig};
use super::metrics::Metrics;
use kbind_model::api::job_status;
use kbind_model::key::ObjKey;

/// Completes workflow Jobs: success, or failure for chosen versions. It
/// stands in for the kubelet where there is none (the sandbox, tests).
#[derive(Clone, Debug, Default)]
pub struct SimulatedRunner {
    pub fail_versions: Vec<String>,
}

fn job_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("batch", "v1", "Job"), "jobs")
}

const WORKFLOW_JOBS: &str = kbind_model::api::labels::WORKFLOW_ACTION;

impl SimulatedRunner {
    /// Ends every Job that has no status yet. Returns how many it ended.
    pub async fn finish_jobs(&self, client: &Client) -> Result<usize, kube::Error> {
        let all: Api<DynamicObject> = Api::all_with(client.clone(), &job_resource());
        let mut finished = 0;
        for job in all
            .list(&ListParams::default().labels(WORKFLOW_JOBS))
            .await?
            .items
        {
            finished += usize::from(self.finish(client, &job).await?);
        }
        Ok(finished)
    }

    async fn finish(&self, client: &Client, job: &DynamicObject) -> Result<bool, kube::Error> {
        if job
            .data
            .get("status")
            .and_then(Value::as_object)
            .is_some_and(|s| !s.is_empty())
        {
            return Ok(false);
        }
        let version = job
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(kbind_model::api::labels::JOB_PROMISE_VERSION))
            .cloned()
            .unwrap_or_default();
        // As the Job controller writes it: started when it was created,
        // ended now.
        let end = kbind_model::time::rfc3339(kbind_model::time::now_millis());
        let start = job
            .metadata
            .creation_timestamp
            .as_ref()
            .and_then(|t| serde_json::to_value(t).ok())
            .and_then(|t| t.as_str().map(str::to_string))
            .unwrap_or_else(|| end.clone());
        let status = if self.fail_versions.contains(&version) {
            job_status::failed_at_backoff_limit(&start, &end)
        } else {
            job_status::succeeded(&start, &end)
        };
        let status = json!({ "status": status });
        let ns = job.metadata.namespace.clone().unwrap_or_default();
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &job_resource());
        api.patch_status(
            &job.metadata.name.clone().unwrap_or_default(),
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await?;
        Ok(true)
    }

    /// Watches workflow Jobs and ends each one as it appears.
    pub async fn run(self, client: Client) {
        let all: Api<DynamicObject> = Api::all_with(client.clone(), &job_resource());
        let mut jobs = watcher(all, watcher::Config::default().labels(WORKFLOW_JOBS)).boxed();
        let mut retry = super::retry::RetryDelay::default();
        while let Some(event) = jobs.next().await {
            let job = match event {
                Ok(watcher::Event::Apply(job) | watcher::Event::InitApply(job)) => job,
                Ok(watcher::Event::InitDone) => {
                    retry.succeeded();
                    continue;
                }
                Ok(watcher::Event::Init | watcher::Event::Delete(_)) => continue,
                Err(e) => {
                    retry
                        .after_watch_error(&e, &format!("simulated runner watch: {e}"))
                        .await;
                    continue;
                }
            };
            // A kubelet keeps trying to report a Job's end; so does this.
            let mut delay = Duration::from_millis(50);
            for attempt in 1..=10 {
                match self.finish(&client, &job).await {
                    Ok(true) => tracing::info!(
                        job = job.metadata.name.as_deref().unwrap_or_default(),
                        "simulated runner finished a workflow Job"
                    ),
                    Ok(false) => {}
                    Err(e) if attempt < 10 => {
                        tracing::debug!("simulated runner: {e}; retrying");
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                        continue;
                    }
                    Err(e) => tracing::warn!("simulated runner gave up on a Job: {e}"),
                }
                break;
            }
        }
    }
}

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
