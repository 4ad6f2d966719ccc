//! A node where there is none (the sandbox, tests): the scheduler's binding
//! and the kubelet's status writes for the pods of kbind's workflow Jobs.
//! The API server's Job controller made the pods and turns their ends into
//! the Jobs' status, as on a cluster; this only decides how each pod ends:
//! successfully, or failing for chosen promise versions. No container runs.
//! A pod is reported ended in one status write (a kubelet's status manager
//! also reports a container that ran briefly in one), its pipeline steps
//! (init containers) and main container with it.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::watcher;
use serde_json::{Value, json};

/// Ends workflow pods: success, or failure for chosen versions.
#[derive(Clone, Debug, Default)]
pub struct SimulatedRunner {
    pub fail_versions: Vec<String>,
}

/// The node the simulated scheduler places pods on.
pub const NODE: &str = "kbind-node";
/// Its taint, which keeps a cluster's scheduler from placing pods on it.
pub const SIMULATED_TAINT: &str = "kbind.io/simulated-node";
/// The address it reports, and its pods' `hostIP`: the node is this process.
const NODE_IP: &str = "127.0.0.1";

fn node_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Node"), "nodes")
}

/// The Node a kubelet registers for itself (`initialNode`, then
/// `setNodeStatus`): its labels, a Ready status from a kubelet with
/// enough memory, disk and PIDs, its address and what it runs.
fn node_object(now: &str) -> Value {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    let resources =
        json!({"cpu": "2", "memory": "4Gi", "pods": "110", "ephemeral-storage": "20Gi"});
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": NODE, "labels": {
            "kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": arch, "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": arch}},
        // Nothing but the workflow pods this node binds itself may land on
        // it: on a cluster, a scheduler must not place real pods here.
        "spec": {"taints": [{"key": SIMULATED_TAINT, "value": "true", "effect": "NoSchedule"}]},
        "status": {
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": NODE_IP}, {"type": "Hostname", "address": NODE}],
            "capacity": resources, "allocatable": resources,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": arch, "operatingSystem": "linux",
                "osImage": "kbind simulated node", "kernelVersion": "",
                "containerRuntimeVersion": "kbind://simulated",
                "kubeletVersion": concat!("v", env!("CARGO_PKG_VERSION"), "-kbind"),
                "kubeProxyVersion": "", "bootID": "", "machineID": "", "systemUUID": ""},
        },
    })
}

/// Registers the node, as a kubelet does when it starts: created if
/// missing, otherwise left as it is (its status is this node's, already
/// reported). A client that may not create nodes (the operator's own
/// account, under `kbind operator --simulate-workflows`) leaves the pods'
/// node unregistered, as before; pods are placed on it all the same.
/// Returns the registered node's uid.
async fn register_node(client: &Client) -> Option<String> {
    let nodes: Api<DynamicObject> = Api::all_with(client.clone(), &node_resource());
    let now = kbind_model::time::rfc3339(kbind_model::time::now_millis());
    let node: DynamicObject = match serde_json::from_value(node_object(&now)) {
        Ok(node) => node,
        Err(e) => {
            tracing::warn!("the simulated node's object does not parse: {e}");
            return None;
        }
    };
    // A kubelet tries again until it is registered; a refusal (no rights
    // to nodes) will not change, a server that is not answering may.
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        let registered = match nodes.create(&PostParams::default(), &node).await {
            Ok(node) => {
                tracing::info!(node = NODE, "simulated node registered");
                Ok(node)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => nodes.get(NODE).await,
            Err(e) => Err(e),
        };
        let e = match registered {
            Ok(node) => return node.metadata.uid,
            Err(e) => e,
        };
        let refused =
            matches!(&e, kube::Error::Api(s) if (400..500).contains(&s.code) && s.code != 429);
        if refused || attempt == 5 {
            tracing::warn!(
                node = NODE,
                "the simulated node is not registered (pods are placed on it all the same): {}",
                crate::api_error::Text(&e)
            );
            return None;
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
        attempt += 1;
    }
}

/// The kubelet renews its node's Lease a quarter of the way through its
/// 40 s duration (`nodeLeaseRenewIntervalFraction`).
const NODE_LEASE_DURATION_SECONDS: i32 = 40;
const NODE_LEASE_RENEW: Duration = Duration::from_secs(10);

/// The node's heartbeat, as a kubelet keeps it: the Lease
/// `kube-node-lease/<node>`, owned by the Node, its `renewTime` renewed
/// every 10 s for as long as the node runs.
async fn keep_node_lease(client: Client, node_uid: String) {
    let leases: Api<Lease> = Api::namespaced(client, "kube-node-lease");
    loop {
        if let Err(e) = renew_node_lease(&leases, &node_uid).await {
            tracing::debug!(
                node = NODE,
                "the simulated node's lease was not renewed: {}",
                crate::api_error::Text(&e)
            );
        }
        tokio::time::sleep(NODE_LEASE_RENEW).await;
    }
}

async fn renew_node_lease(leases: &Api<Lease>, node_uid: &str) -> Result<(), kube::Error> {
    let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
    let renewed = json!({"spec": {"renewTime": now}});
    match leases
        .patch(NODE, &PatchParams::default(), &Patch::Merge(&renewed))
        .await
    {
        Err(kube::Error::Api(e)) if e.code == 404 => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(NODE.into()),
                    owner_references: Some(vec![OwnerReference {
                        api_version: "v1".into(),
                        kind: "Node".into(),
                        name: NODE.into(),
                        uid: node_uid.into(),
                        ..OwnerReference::default()
                    }]),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(NODE.into()),
                    lease_duration_seconds: Some(NODE_LEASE_DURATION_SECONDS),
                    renew_time: Some(now),
                    ..LeaseSpec::default()
                }),
            };
            leases
                .create(&PostParams::default(), &lease)
                .await
                .map(drop)
        }
        other => other.map(drop),
    }
}

fn pod_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Pod"), "pods")
}

fn job_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("batch", "v1", "Job"), "jobs")
}

const WORKFLOW_PODS: &str = kbind_model::api::labels::WORKFLOW_ACTION;
/// The label the Deployment controller puts on its ReplicaSets' pods.
const REPLICA_SET_PODS: &str = "pod-template-hash";

fn ended(pod: &DynamicObject) -> bool {
    matches!(
        pod.data["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    ) || pod.metadata.deletion_timestamp.is_some()
}

fn job_finished(job: &DynamicObject) -> bool {
    job.data["status"]["conditions"]
        .as_array()
        .is_some_and(|c| {
            c.iter().any(|c| {
                (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True"
            })
        })
}

/// The node's pod network (`10.244.0.0/16`, kind's and flannel's), one
/// address per pod it runs, as its network plugin hands them out; a pod on
/// the host's network has the node's.
fn pod_ip(pod: &DynamicObject) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    if pod.data["spec"]["hostNetwork"] == true {
        return NODE_IP.to_string();
    }
    // 10.244.0.2 onwards (.1 is the gateway), skipping each /24's network
    // and broadcast addresses.
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 65_023 + 1;
    format!("10.244.{}.{}", n / 254, n % 254 + 1)
}

/// The status a kubelet reports for a long-running pod whose containers
/// started and passed their readiness probes: `Running`, every condition
/// True, each container running and ready (init containers ran to 0).
fn running_status(pod: &DynamicObject, now: &str) -> Value {
    let ip = pod_ip(pod);
    let spec = &pod.data["spec"];
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let status_of = |c: &Value, running: bool| {
        let name = c["name"].as_str().unwrap_or_default();
        let id = format!("kbind://{uid}/{name}");
        let state = if running {
            json!({"running": {"startedAt": now}})
        } else {
            json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now,
                "finishedAt": now, "containerID": id}})
        };
        json!({"name": name, "image": c["image"], "imageID": "", "ready": running,
            "restartCount": 0, "started": running, "containerID": id, "state": state})
    };
    let list = |key: &str, running: bool| -> Vec<Value> {
        spec[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| status_of(c, running))
            .collect()
    };
    let conditions: Vec<Value> = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    .iter()
    .map(|kind| {
        json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": now})
    })
    .collect();
    let mut status = json!({
        "phase": "Running",
        "hostIP": NODE_IP,
        "hostIPs": [{"ip": NODE_IP}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": now,
        "conditions": conditions,
        "containerStatuses": list("containers", true),
    });
    let init = list("initContainers", false);
    if !init.is_empty() {
        status["initContainerStatuses"] = Value::Array(init);
    }
    status
}

/// The status a kubelet reports for a pod whose containers all ran:
/// every pipeline step (init container) exits 0, then the main container
/// exits 0 — or, failing, the last step exits 1 and the main container
/// never starts.
fn ended_status(pod: &DynamicObject, fail: bool, now: &str) -> Value {
    let ip = pod_ip(pod);
    let spec = &pod.data["spec"];
    let containers = |list: &str| spec[list].as_array().cloned().unwrap_or_default();
    let init = containers("initContainers");
    let main = containers("containers");
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let terminated = |c: &Value, code: i64| {
        let name = c["name"].as_str().unwrap_or_default();
        json!({"name": name, "image": c["image"], "imageID": "", "ready": false,
            "restartCount": 0, "started": false,
            "containerID": format!("kbind://{uid}/{name}"),
            "state": {"terminated": {"exitCode": code,
                "reason": if code == 0 { "Completed" } else { "Error" },
                "startedAt": now, "finishedAt": now,
                "containerID": format!("kbind://{uid}/{name}")}}})
    };
    let waiting = |c: &Value| {
        json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": false,
            "restartCount": 0, "started": false,
            "state": {"waiting": {"reason": "PodInitializing"}}})
    };
    let failing_step = if fail {
        init.len().checked_sub(1)
    } else {
        None
    };
    let init_statuses: Vec<Value> = init
        .iter()
        .enumerate()
        .map(|(i, c)| terminated(c, i64::from(Some(i) == failing_step)))
        .collect();
    let main_statuses: Vec<Value> = main
        .iter()
        .map(|c| match (fail, failing_step) {
            (true, Some(_)) => waiting(c),
            (true, None) => terminated(c, 1),
            (false, _) => terminated(c, 0),
        })
        .collect();
    let condition = |kind: &str, status: &str, reason: Option<&str>| {
        let mut c = json!({"type": kind, "status": status, "lastProbeTime": null,
            "lastTransitionTime": now});
        if let Some(reason) = reason {
            c["reason"] = json!(reason);
        }
        c
    };
    let (init_status, init_reason) = if failing_step.is_some() {
        ("False", Some("ContainersNotInitialized"))
    } else {
        ("True", Some("PodCompleted"))
    };
    let not_ready = if failing_step.is_some() {
        "ContainersNotInitialized"
    } else {
        "PodCompleted"
    };
    let mut status = json!({
        "phase": if fail { "Failed" } else { "Succeeded" },
        "hostIP": NODE_IP,
        "hostIPs": [{"ip": NODE_IP}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": now,
        "conditions": [
            condition("PodReadyToStartContainers", "False", None),
            condition("Initialized", init_status, init_reason),
            condition("Ready", "False", Some(not_ready)),
            condition("ContainersReady", "False", Some(not_ready)),
            condition("PodScheduled", "True", None),
        ],
        "containerStatuses": main_statuses,
    });
    if !init_statuses.is_empty() {
        status["initContainerStatuses"] = Value::Array(init_statuses);
    }
    status
}

impl SimulatedRunner {
    fn fails(&self, pod: &DynamicObject) -> bool {
        let version = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(kbind_model::api::labels::JOB_PROMISE_VERSION))
            .cloned()
            .unwrap_or_default();
        self.fail_versions.contains(&version)
    }

    /// Places a pod on the node and reports it ended (a workflow's) or
    /// running and ready (a ReplicaSet's, which restarts for ever); false
    /// if it had already ended (or is going).
    async fn run_pod(&self, client: &Client, pod: &DynamicObject) -> Result<bool, kube::Error> {
        if ended(pod) {
            return Ok(false);
        }
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let pods: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &pod_resource());
        if pod.data["spec"]["nodeName"]
            .as_str()
            .is_none_or(str::is_empty)
        {
            let binding = json!({"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": name}, "target": {"kind": "Node", "name": NODE}});
            let placed: Result<Value, _> = pods
                .create_subresource("binding", &name, &PostParams::default(), &binding)
                .await;
            match placed {
                Ok(_) => {}
                // Placed already (a retry after a lost answer).
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        let now = kbind_model::time::rfc3339(kbind_model::time::now_millis());
        let status = if pod.data["spec"]["restartPolicy"] == "Always" {
            if pod.data["status"]["phase"] == "Running" {
                return Ok(false);
            }
            json!({"status": running_status(pod, &now)})
        } else {
            json!({"status": ended_status(pod, self.fails(pod), &now)})
        };
        pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await?;
        Ok(true)
    }

    /// Ends the pod of every workflow Job that has not finished, waiting
    /// (up to 10 s each) for the API server's Job controller to make the
    /// pod and then to record the Job's end. Returns how many it ended.
    pub async fn finish_jobs(&self, client: &Client) -> Result<usize, kube::Error> {
        let jobs: Api<DynamicObject> = Api::all_with(client.clone(), &job_resource());
        let pods: Api<DynamicObject> = Api::all_with(client.clone(), &pod_resource());
        let mut finished = 0;
        for job in jobs
            .list(&ListParams::default().labels(WORKFLOW_PODS))
            .await?
            .items
        {
            if job_finished(&job) || job.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let uid = job.metadata.uid.clone().unwrap_or_default();
            let selector = format!("batch.kubernetes.io/controller-uid={uid}");
            let mut ended_one = false;
            for _ in 0..200 {
                let found = pods.list(&ListParams::default().labels(&selector)).await?;
                for pod in &found.items {
                    ended_one |= self.run_pod(client, pod).await?;
                }
                if ended_one || found.items.iter().any(ended) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if !ended_one {
                continue;
            }
            finished += 1;
            let ns = job.metadata.namespace.clone().unwrap_or_default();
            let name = job.metadata.name.clone().unwrap_or_default();
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &ns, &job_resource());
            for _ in 0..200 {
                match api.get_opt(&name).await? {
                    Some(j) if !job_finished(&j) => {
                        tokio::time::sleep(Duration::from_millis(50)).await
                    }
                    _ => break,
                }
            }
        }
        Ok(finished)
    }

    /// Registers the node and keeps its lease, as a kubelet does, and ends
    /// each workflow pod as it appears.
    pub async fn run(self, client: Client) {
        match register_node(&client).await {
            // The heartbeat runs for as long as the node does.
            Some(uid) => tokio::select! {
                () = keep_node_lease(client.clone(), uid) => {}
                () = self.run_pods(client) => {}
            },
            None => self.run_pods(client).await,
        }
    }

    /// Watches workflow pods, and the pods of Deployments' ReplicaSets,
    /// and runs each one as it appears. The watch only hands pods on (each
    /// once, by uid), so it is read as fast as the server sends; a few pods
    /// are run at a time, as a node runs several.
    async fn run_pods(self, client: Client) {
        let (queue, pending) = tokio::sync::mpsc::unbounded_channel::<DynamicObject>();
        let node = self.clone();
        let worker_client = client.clone();
        let mut pending = pending;
        let work = tokio::spawn(
            futures::stream::poll_fn(move |cx| pending.poll_recv(cx)).for_each_concurrent(
                PODS_AT_ONCE,
                move |pod| {
                    let node = node.clone();
                    let client = worker_client.clone();
                    async move { node.run_with_retries(&client, &pod).await }
                },
            ),
        );
        let all: Api<DynamicObject> = Api::all_with(client.clone(), &pod_resource());
        let mut pods = futures::stream::select(
            watcher(
                all.clone(),
                watcher::Config::default().labels(WORKFLOW_PODS),
            ),
            watcher(all, watcher::Config::default().labels(REPLICA_SET_PODS)),
        )
        .boxed();
        let mut retry = super::retry::RetryDelay::default();
        let mut taken: std::collections::HashSet<String> = Default::default();
        while let Some(event) = pods.next().await {
            let pod = match event {
                Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => pod,
                Ok(watcher::Event::InitDone) => {
                    retry.succeeded();
                    continue;
                }
                Ok(watcher::Event::Delete(pod)) => {
                    if let Some(uid) = &pod.metadata.uid {
                        taken.remove(uid);
                    }
                    continue;
                }
                Ok(watcher::Event::Init) => continue,
                Err(e) => {
                    retry
                        .after_watch_error(&e, &format!("simulated node watch: {e}"))
                        .await;
                    continue;
                }
            };
            let Some(uid) = pod.metadata.uid.clone() else {
                continue;
            };
            if ended(&pod) || !taken.insert(uid) {
                continue;
            }
            if queue.send(pod).is_err() {
                break;
            }
        }
        work.abort();
    }

    /// Runs one pod, retrying as a kubelet keeps trying to report a pod's
    /// end.
    async fn run_with_retries(&self, client: &Client, pod: &DynamicObject) {
        let mut delay = Duration::from_millis(50);
        for attempt in 1..=10 {
            match self.run_pod(client, pod).await {
                Ok(true) => tracing::debug!(
                    pod = pod.metadata.name.as_deref().unwrap_or_default(),
                    "simulated node ran a workflow pod"
                ),
                Ok(false) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) if attempt < 10 => {
                    tracing::debug!("simulated node: {e}; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    continue;
                }
                Err(e) => tracing::warn!("simulated node gave up on a pod: {e}"),
            }
            return;
        }
    }
}

/// How many pods the simulated node runs at once.
const PODS_AT_ONCE: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(init: usize) -> DynamicObject {
        let steps: Vec<Value> = (0..init)
            .map(|i| json!({"name": format!("step-{i}"), "image": "img"}))
            .collect();
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "uid": "u"},
            "spec": {"initContainers": steps,
                "containers": [{"name": "status-writer", "image": "kbind:dev"}]}}))
        .unwrap()
    }

    #[test]
    fn a_failing_pod_fails_at_its_last_pipeline_step() {
        let status = ended_status(&pod(2), true, "t");
        assert_eq!(status["phase"], "Failed");
        assert_eq!(
            status["initContainerStatuses"][1]["state"]["terminated"]["exitCode"],
            1
        );
        assert_eq!(
            status["containerStatuses"][0]["state"]["waiting"]["reason"],
            "PodInitializing"
        );
        let succeeded = ended_status(&pod(2), false, "t");
        assert_eq!(succeeded["phase"], "Succeeded");
        assert_eq!(
            succeeded["containerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed"
        );
        let alone = ended_status(&pod(0), true, "t");
        assert_eq!(
            alone["containerStatuses"][0]["state"]["terminated"]["exitCode"],
            1
        );
        assert!(alone.get("initContainerStatuses").is_none());
    }
}
