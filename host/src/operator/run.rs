//! The settle loop as a long-running task, with an optional simulated
//! workflow runner for clusters without a kubelet (the sandbox).

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use super::KubeExecutor;
use crate::policy::Policy;

/// Completes workflow Jobs: success, or failure for chosen versions.
#[derive(Clone, Debug, Default)]
pub struct SimulatedRunner {
    pub fail_versions: Vec<String>,
}

impl SimulatedRunner {
    /// Ends every Job that has no status yet. Returns how many it ended.
    pub async fn finish_jobs(&self, client: &Client) -> Result<usize, kube::Error> {
        let ar =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("batch", "v1", "Job"), "jobs");
        let all: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let mut finished = 0;
        for job in all
            .list(&ListParams::default().labels("kratix.io/workflow-action"))
            .await?
            .items
        {
            if job
                .data
                .get("status")
                .and_then(Value::as_object)
                .is_some_and(|s| !s.is_empty())
            {
                continue;
            }
            let version = job
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kbind.io/promise-version"))
                .cloned()
                .unwrap_or_default();
            let status = if self.fail_versions.contains(&version) {
                json!({"status": {"failed": 1, "conditions": [{"type": "Failed", "status": "True",
                    "message": format!("simulated failure at {version}")}]}})
            } else {
                json!({"status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}})
            };
            let ns = job.metadata.namespace.clone().unwrap_or_default();
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
            api.patch_status(
                &job.metadata.name.clone().unwrap_or_default(),
                &PatchParams::default(),
                &Patch::Merge(&status),
            )
            .await?;
            finished += 1;
        }
        Ok(finished)
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Settles every `interval` until the task is dropped; errors are logged and
/// retried on the next tick.
pub async fn run(
    client: Client,
    policy: Arc<dyn Policy>,
    interval: Duration,
    runner: Option<SimulatedRunner>,
) {
    let mut executor = KubeExecutor::new(client.clone());
    loop {
        if let Err(err) = executor.settle(&*policy, now_millis(), 50).await {
            tracing::warn!("reconcile round failed: {err}");
        }
        if let Some(runner) = &runner {
            match runner.finish_jobs(&client).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!("simulated runner finished {n} workflow Job(s)");
                    continue;
                }
                Err(err) => tracing::warn!("simulated runner failed: {err}"),
            }
        }
        tokio::time::sleep(interval).await;
    }
}
