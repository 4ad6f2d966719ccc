//! The watch-driven controller: watches feed the cache, each change wakes
//! the reconciles it affects, workers plan one promise or one request from
//! the cache and execute the plan against the API.
//!
//! Two guards keep a lagging cache from doing harm. Patches carry the
//! resourceVersion the plan was made from (a stale plan gets 409 and is
//! retried from a fresher view). And a key is not reconciled again until
//! the cache has seen the writes its last reconcile made (client-go's
//! "expectations"), so a Job created a moment ago is never created again
//! because the watch has not delivered it yet.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::cache::{self, Cache, WorkKey};
use super::executor::{ExecError, KubeExecutor, Written, now_millis};
use super::hot_swap::PolicySlot;
use super::metrics::{ErrorLabels, KindLabel, Metrics};
use kbind_model::key::ObjKey;
use kbind_planner::{self as planner, Action, Context};

/// How long a reconcile waits for the cache to show its own last writes
/// before it trusts the cache anyway (a write superseded by someone
/// else's, with an opaque resourceVersion, never "arrives").
/// Plans one reconcile makes at most, each from the writes of the one
/// before; a plan that still writes after this many is requeued.
const MAX_PLAN_ROUNDS: usize = 8;

const EXPECTATION_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a promise whose requests the operator may not reach is checked
/// again.
const ACCESS_RECHECK: Duration = Duration::from_secs(10);

/// How soon a conflicted or partly written reconcile runs again.
const CONFLICT_RETRY: Duration = Duration::from_millis(20);
/// How many write answers are parsed and recorded under one lock of the
/// cache.
const RECORD_CHUNK: usize = 256;

#[derive(Clone, Debug)]
pub struct ControllerOptions {
    pub workers: usize,
    /// Every key is reconciled at least this often.
    pub resync: Duration,
    pub workflows: kbind_planner::workflow::WorkflowSettings,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        Self {
            workers: 4,
            resync: Duration::from_secs(600),
            workflows: Default::default(),
        }
    }
}

struct Expectation {
    writes: Vec<Written>,
    deadline: Instant,
}

pub struct Controller {
    client: Client,
    cache: RwLock<Cache>,
    queue: super::queue::Queue,
    slot: Arc<PolicySlot>,
    metrics: Arc<Metrics>,
    options: ControllerOptions,
    expectations: Mutex<HashMap<WorkKey, Expectation>>,
    /// Per request kind: the `apiVersion` watched (its owner's CRD) and
    /// the watch.
    request_watches: Mutex<HashMap<String, (String, JoinHandle<()>)>>,
    synced: tokio::sync::Notify,
    /// What the workers applied (workflow ServiceAccounts and roles).
    applied: super::executor::Applied,
    /// The Events the workers recorded, so a repeat is one PATCH.
    event_counts: super::executor::EventCounts,
}

fn fixed_kinds() -> [(ApiResource, &'static str); 5] {
    use k8s_openapi::api::batch::v1::Job;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    [
        (
            ApiResource::erase::<kbind_model::api::Promise>(&()),
            cache::PROMISE,
        ),
        (
            ApiResource::erase::<kbind_model::api::PromiseRevision>(&()),
            cache::REVISION,
        ),
        (
            ApiResource::erase::<kbind_model::api::ResourceBinding>(&()),
            cache::BINDING,
        ),
        (ApiResource::erase::<Job>(&()), cache::JOB),
        (
            ApiResource::erase::<CustomResourceDefinition>(&()),
            cache::CRD,
        ),
    ]
}

/// What a watch of a fixed kind asks for. CRDs and Jobs are narrowed to
/// kbind's own (the promises' APIs carry `kratix.io/promise-name`, kbind's
/// workflow Jobs `kbind.io/promise-version`): a cluster's other CRDs (a
/// Crossplane install has hundreds of large ones) and Jobs never reach
/// the operator's memory.
fn watch_config(kind: &str) -> watcher::Config {
    match kind {
        cache::CRD => watcher::Config::default().labels(kbind_model::api::labels::PROMISE_NAME),
        cache::JOB => {
            watcher::Config::default().labels(kbind_model::api::labels::JOB_PROMISE_VERSION)
        }
        _ => watcher::Config::default(),
    }
}

/// The kind a CRD serves and how to reach it: its storage version, or the
/// served version kube-rs would prefer when the storage version is not
/// served (a watch of it would only be a 404); None while the API server
/// does not serve the kind (its names not accepted).
pub(super) fn request_resource(crd: &Value) -> Option<(String, (ApiResource, bool))> {
    if !kbind_planner::request_crd::served(crd) {
        return None;
    }
    let kind = crd.pointer("/spec/names/kind")?.as_str()?.to_string();
    let group = crd.pointer("/spec/group")?.as_str()?;
    let plural = crd.pointer("/spec/names/plural")?.as_str()?;
    let versions = crd.pointer("/spec/versions")?.as_array()?;
    let flag = |v: &Value, key: &str| v.get(key).and_then(Value::as_bool);
    let served: Vec<&Value> = versions
        .iter()
        .filter(|v| flag(v, "served") != Some(false))
        .collect();
    let name = |v: &Value| {
        v.get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let version = served
        .iter()
        .find(|v| flag(v, "storage") == Some(true))
        .or_else(|| {
            served
                .iter()
                .max_by_key(|v| kube::core::Version::parse(&name(v)).priority())
        })
        .map(|v| name(v))
        .filter(|n| !n.is_empty())?;
    let namespaced = crd.pointer("/spec/scope").and_then(Value::as_str) != Some("Cluster");
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, &version, &kind), plural);
    Some((kind, (ar, namespaced)))
}

fn to_value(object: DynamicObject, ar: &ApiResource) -> Value {
    let mut value = serde_json::to_value(&object).unwrap_or(Value::Null);
    value["kind"] = json!(ar.kind);
    value["apiVersion"] = json!(ar.api_version);
    cache::cached_form(value)
}

/// Deleted, with no finalizer left to hold it.
fn gone(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some()
        && object
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
}

fn rv_reached(seen: &str, wanted: &str) -> bool {
    match (seen.parse::<u64>(), wanted.parse::<u64>()) {
        (Ok(s), Ok(w)) => s >= w,
        _ => seen == wanted,
    }
}

/// A reconcile that stopped at a failed write.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct ReconcileError {
    #[source]
    error: ExecError,
    /// Some of the plan was written before the failure.
    progressed: bool,
}

impl ReconcileError {
    fn reason(&self) -> &'static str {
        match &self.error {
            ExecError::Api {
                source: kube::Error::Api(e),
                ..
            } if e.code == 409 => "conflict",
            ExecError::Api { .. } => "api",
            ExecError::UnknownKind(_) => "unknown_kind",
        }
    }

    /// A conflict (someone else wrote first) or a partly written plan is
    /// retried at once from a fresh view; anything else backs off.
    fn retry_soon(&self) -> bool {
        self.progressed || self.reason() == "conflict"
    }
}

impl Controller {
    pub fn new(
        client: Client,
        slot: Arc<PolicySlot>,
        metrics: Arc<Metrics>,
        options: ControllerOptions,
    ) -> Arc<Self> {
        Arc::new(Self {
            client,
            cache: RwLock::new(Cache::default()),
            queue: super::queue::Queue::default(),
            slot,
            metrics,
            options,
            expectations: Mutex::new(HashMap::new()),
            request_watches: Mutex::new(HashMap::new()),
            synced: tokio::sync::Notify::new(),
            applied: Default::default(),
            event_counts: Default::default(),
        })
    }

    fn cache_read(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.cache.read().unwrap_or_else(|p| p.into_inner())
    }

    fn cache_write(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.cache.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the watches and workers; runs until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        super::compat::wait_until_compatible(&self.client, &self.metrics).await;
        let mut tasks = Vec::new();
        for (ar, kind) in fixed_kinds() {
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
            tasks.push(tokio::spawn(self.clone().watch(
                api,
                ar,
                kind.to_string(),
                watch_config(kind),
            )));
        }
        tasks.push(tokio::spawn(self.clone().watch_job_problems()));
        let _abort_on_drop = AbortOnDrop(tasks);
        let _stop_request_watches = StopRequestWatches(self.clone());
        let fixed: Vec<&str> = fixed_kinds().iter().map(|(_, k)| *k).collect();
        loop {
            let notified = self.synced.notified();
            if fixed.iter().all(|k| self.cache_read().is_synced(k)) {
                break;
            }
            notified.await;
        }
        tracing::info!(
            objects = self.cache_read().len(),
            "caches synced; reconciling"
        );
        self.metrics.set_ready(true);
        let mut workers = Vec::new();
        for _ in 0..self.options.workers.max(1) {
            workers.push(tokio::spawn(self.clone().work()));
        }
        let _abort_workers = AbortOnDrop(workers);
        let mut resync = tokio::time::interval(self.options.resync);
        resync.tick().await;
        let mut swaps = self.slot.swaps();
        loop {
            tokio::select! {
                _ = resync.tick() => {}
                changed = swaps.changed() => {
                    if changed.is_err() {
                        // The slot is gone; resyncs go on.
                        swaps = self.slot.swaps();
                        continue;
                    }
                    tracing::info!("policy swapped: reconciling everything with it");
                }
            }
            let keys = self.cache_read().all_keys();
            self.queue.add_all(keys);
        }
    }

    async fn watch(
        self: Arc<Self>,
        api: Api<DynamicObject>,
        ar: ApiResource,
        kind: String,
        config: watcher::Config,
    ) {
        let mut stream = watcher(api, config).boxed();
        let mut buffer: Vec<Value> = Vec::new();
        let mut retry = super::retry::RetryDelay::default();
        while let Some(event) = stream.next().await {
            let mut cause = None;
            let woken = match event {
                Ok(watcher::Event::Init) => {
                    buffer.clear();
                    if !fixed_kinds().iter().any(|(_, k)| *k == kind) {
                        let crd = format!("{}.{}", ar.plural, ar.group);
                        self.cache_write().list_starting(&kind, &crd);
                    }
                    continue;
                }
                Ok(watcher::Event::InitApply(o)) => {
                    buffer.push(to_value(o, &ar));
                    continue;
                }
                Ok(watcher::Event::InitDone) => {
                    retry.succeeded();
                    let objects = std::mem::take(&mut buffer);
                    let woken = self.cache_write().replace_kind(&kind, objects);
                    self.synced.notify_waiters();
                    woken
                }
                Ok(watcher::Event::Apply(o)) => {
                    let value = to_value(o, &ar);
                    cause = ObjKey::of(&value).zip(
                        value
                            .pointer("/metadata/resourceVersion")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    );
                    self.cache_write().apply(value)
                }
                Ok(watcher::Event::Delete(o)) => {
                    let value = to_value(o, &ar);
                    match ObjKey::of(&value) {
                        Some(key) => {
                            let rv = value
                                .pointer("/metadata/resourceVersion")
                                .and_then(Value::as_str);
                            self.cache_write().remove_at(&key, rv)
                        }
                        None => Vec::new(),
                    }
                }
                // Said once, not on every retry: not installed (yet), or
                // not granted (the Promise's RequestsAccessible condition
                // names the rule).
                Err(e) => {
                    let message = watch_error_message(&kind, &ar, &e);
                    retry.after_watch_error(&e, &message).await;
                    continue;
                }
            };
            if kind == cache::PROMISE || kind == cache::CRD {
                self.ensure_request_watches();
            }
            if !woken.is_empty() {
                tracing::trace!(kind, woken = ?woken, "watch event");
            }
            match cause {
                Some(cause) => self.queue.add_caused(woken, &cause),
                None => self.queue.add_all(woken),
            }
            self.metrics.queue_depth.set(self.queue.depth() as i64);
        }
    }

    /// The Job controller's `FailedCreate` Events (a Job whose pods cannot
    /// be created: a missing ServiceAccount, Pod Security, quota), which no
    /// Job condition reports until its deadline.
    async fn watch_job_problems(self: Arc<Self>) {
        let events: Api<DynamicObject> = Api::all_with(
            self.client.clone(),
            &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Event"), "events"),
        );
        let config =
            watcher::Config::default().fields("involvedObject.kind=Job,reason=FailedCreate");
        let mut stream = watcher(events, config).boxed();
        let mut retry = super::retry::RetryDelay::default();
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(event) | watcher::Event::InitApply(event)) => {
                    let value = serde_json::to_value(&event).unwrap_or(Value::Null);
                    let woken = self.cache_write().note_job_problem(&value);
                    self.queue.add_all(woken);
                }
                Ok(watcher::Event::InitDone) => retry.succeeded(),
                Ok(watcher::Event::Init | watcher::Event::Delete(_)) => {}
                Err(e) => {
                    retry
                        .after_watch_error(&e, &format!("Job event watch failed: {e}"))
                        .await
                }
            }
        }
    }

    /// One watch per request kind whose CRD is installed and whose promise
    /// exists; watches of kinds no longer served stop and their objects
    /// leave the cache.
    fn ensure_request_watches(self: &Arc<Self>) {
        // Per kind, the CRD of the promise that owns it (two promises may
        // declare one kind).
        let wanted: HashMap<String, (ApiResource, bool)> = {
            let cache = self.cache_read();
            cache
                .promises()
                .filter(|p| cache.kind_taken_by(&p.key.name).is_none())
                .filter_map(|p| p.request_kind.as_ref())
                .filter_map(|k| cache.crd(&format!("{}.{}", k.plural, k.group)))
                .filter_map(request_resource)
                .collect()
        };
        let mut running = self
            .request_watches
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // A kind no longer served, or now another CRD's (another promise
        // owns it, or its storage version changed): its watch and objects go.
        let stale: Vec<String> = running
            .iter()
            .filter(|(kind, (api_version, _))| {
                wanted.get(*kind).map(|(ar, _)| &ar.api_version) != Some(api_version)
            })
            .map(|(kind, _)| kind.clone())
            .collect();
        for kind in stale {
            if let Some((_, task)) = running.remove(&kind) {
                task.abort();
            }
            tracing::info!(kind, "request kind no longer served here; watch stopped");
            let woken = self.cache_write().drop_kind(&kind);
            self.queue.add_all(woken);
        }
        for (kind, (ar, _)) in wanted {
            if running.contains_key(&kind) {
                continue;
            }
            tracing::info!(kind, "watching requests of a new kind");
            tokio::spawn(self.clone().report_access(kind.clone(), ar.clone()));
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
            let api_version = ar.api_version.clone();
            running.insert(
                kind.clone(),
                (
                    api_version,
                    tokio::spawn(
                        self.clone()
                            .watch(api, ar, kind, watcher::Config::default()),
                    ),
                ),
            );
        }
    }

    /// Says on each promise serving `kind` whether the operator may reach
    /// its requests, asking the server's authorizer; while it may not,
    /// asks again now and then (someone may grant the rule).
    async fn report_access(self: Arc<Self>, kind: String, ar: ApiResource) {
        let mut executor =
            KubeExecutor::new(self.client.clone()).with_event_counts(self.event_counts.clone());
        loop {
            let refused = match super::access::missing(&self.client, &ar.group, &ar.plural).await {
                Ok(refused) => refused,
                Err(e) => {
                    tracing::warn!(kind, "cannot review the operator's access to {kind}: {e}");
                    return;
                }
            };
            let promises: Vec<(String, Option<Value>, String)> = {
                let cache = self.cache_read();
                cache
                    .promises()
                    .filter(|p| p.request_kind.as_ref().is_some_and(|k| k.kind == kind))
                    .map(|p| {
                        let condition = p
                            .promise
                            .status
                            .as_ref()
                            .and_then(|s| s.rest.get("conditions"))
                            .and_then(Value::as_array)
                            .and_then(|cs| {
                                cs.iter()
                                    .find(|c| c["type"] == super::access::CONDITION)
                                    .cloned()
                            });
                        let uid = p.promise.metadata.uid.clone().unwrap_or_default();
                        (p.key.name.clone(), condition, uid)
                    })
                    .collect()
            };
            let now = kbind_model::time::rfc3339(super::executor::now_millis());
            for (promise, condition, uid) in promises {
                let key = ObjKey::new(cache::PROMISE, "", &promise);
                let (status, reason, message) = if refused.is_empty() {
                    if condition.as_ref().is_none_or(|c| c["status"] == "True") {
                        continue;
                    }
                    (
                        "True",
                        "Granted",
                        format!("the kbind operator may reach {}.{}", ar.plural, ar.group),
                    )
                } else {
                    let message = super::access::refusal(&promise, &ar.group, &ar.plural, &refused);
                    if condition
                        .as_ref()
                        .is_some_and(|c| c["status"] == "False" && c["message"] == message.as_str())
                    {
                        continue;
                    }
                    ("False", "Forbidden", message)
                };
                let patch = json!({"status": {"conditions": [{"type": super::access::CONDITION,
                    "status": status, "reason": reason, "message": message, "lastTransitionTime": now}]}});
                let actions = [
                    Action::PatchStatus {
                        key: key.clone(),
                        patch,
                        why: "the operator's access to the promise's requests",
                    },
                    Action::Event {
                        regarding: key,
                        warning: status == "False",
                        reason: if status == "False" {
                            "RequestsForbidden"
                        } else {
                            "RequestsAccessible"
                        },
                        message: message.clone(),
                    },
                ];
                let seen = super::executor::Seen {
                    resource_version: String::new(),
                    uid,
                    api_version: format!(
                        "{}/{}",
                        kbind_model::api::GROUP,
                        kbind_model::api::VERSION
                    ),
                };
                for action in &actions {
                    if let Err(e) = executor.execute_guarded(action, Some(&seen)).await {
                        tracing::warn!(promise, "cannot report the operator's access: {e}");
                    }
                }
                if status == "False" {
                    tracing::error!(promise, "{message}");
                }
            }
            if refused.is_empty() {
                return;
            }
            tokio::time::sleep(ACCESS_RECHECK).await;
        }
    }

    async fn work(self: Arc<Self>) {
        let mut executor = KubeExecutor::new(self.client.clone())
            .with_metrics(self.metrics.clone())
            .with_applied(self.applied.clone())
            .with_event_counts(self.event_counts.clone());
        // Every kind the operator writes is known without discovery (which
        // is many requests, each of which can fail).
        for (ar, kind) in fixed_kinds() {
            let namespaced = matches!(kind, cache::BINDING | cache::JOB);
            executor.register(kind, ar, namespaced);
        }
        let gvk = GroupVersionKind::gvk;
        for (group, kind, plural, namespaced) in [
            ("", "Event", "events", true),
            ("", "ServiceAccount", "serviceaccounts", true),
            ("rbac.authorization.k8s.io", "Role", "roles", true),
            (
                "rbac.authorization.k8s.io",
                "RoleBinding",
                "rolebindings",
                true,
            ),
            (
                "rbac.authorization.k8s.io",
                "ClusterRole",
                "clusterroles",
                false,
            ),
            (
                "rbac.authorization.k8s.io",
                "ClusterRoleBinding",
                "clusterrolebindings",
                false,
            ),
        ] {
            let ar = ApiResource::from_gvk_with_plural(&gvk(group, "v1", kind), plural);
            executor.register(kind, ar, namespaced);
        }
        loop {
            let key = self.queue.next().await;
            let mut own = Vec::new();
            let outcome = self.reconcile(&key, &mut executor, &mut own).await;
            let next = match outcome {
                Ok(requeue) => Ok(requeue),
                Err(e) => {
                    let kind = kind_label(&key);
                    self.metrics
                        .reconcile_errors
                        .get_or_create(&ErrorLabels {
                            kind,
                            reason: e.reason(),
                        })
                        .inc();
                    if e.retry_soon() {
                        tracing::debug!("{key}: {e}; retrying from a fresh view");
                        Ok(Some(Instant::now() + CONFLICT_RETRY))
                    } else {
                        tracing::warn!("{key}: {e}; retrying with backoff");
                        self.report_refusal(&key, &e, &mut executor).await;
                        Err(())
                    }
                }
            };
            self.queue.done_after(key, next, &own);
            self.metrics.queue_depth.set(self.queue.depth() as i64);
        }
    }

    /// A reconcile whose write the API server refused as invalid or
    /// forbidden stops there until the cause goes; the Promise says why in
    /// a Warning Event, not only the log:
    /// - a promise's own write (a request CRD update a real server does not
    ///   allow, a status its schema does not hold);
    /// - a request's write refused because its namespace is being deleted
    ///   (nothing new can be made there, the workflow's Job and the Event on
    ///   the request included), so its delete workflow can never run and its
    ///   finalizers hold the namespace in Terminating until someone removes
    ///   them. Other refusals of a request's writes are reported on the
    ///   request where they happen (a refused workflow Job).
    async fn report_refusal(&self, key: &WorkKey, e: &ReconcileError, executor: &mut KubeExecutor) {
        let ExecError::Api {
            action,
            source: kube::Error::Api(status),
        } = &e.error
        else {
            return;
        };
        if !matches!(status.code, 403 | 422) {
            return;
        }
        let (promise, message) = match key {
            WorkKey::Promise(promise) => (
                promise,
                format!(
                    "the API server refused to {action}: {}; retrying with backoff",
                    status.message
                ),
            ),
            WorkKey::Request {
                promise,
                namespace,
                label,
            } if namespace_terminating(&e.error) => {
                let kind = self
                    .cache_read()
                    .promise_request_kind(promise)
                    .unwrap_or_else(|| "<kind>".to_string());
                (
                    promise,
                    format!(
                        "request {namespace}/{label} cannot run its workflow: namespace {namespace} is being deleted, so nothing can be created in it ({}). The request keeps its finalizers, and the namespace stays Terminating, until they are removed; `kubectl -n {namespace} patch {kind} {label} --type=merge -p '{{\"metadata\":{{\"finalizers\":null}}}}'` deletes it without its delete workflow",
                        status.message
                    ),
                )
            }
            WorkKey::Request { .. } => return,
        };
        self.warn_on_promise(promise, message, executor).await;
    }

    /// A Warning `PromiseWriteRefused` Event on the Promise: what the API
    /// server refused of a write the Promise's definition asked for.
    async fn warn_on_promise(&self, promise: &str, message: String, executor: &mut KubeExecutor) {
        let uid = self.cache_read().promise_uid(promise).unwrap_or_default();
        let seen = super::executor::Seen {
            resource_version: String::new(),
            uid,
            api_version: format!("{}/{}", kbind_model::api::GROUP, kbind_model::api::VERSION),
        };
        let event = Action::Event {
            regarding: ObjKey::new(cache::PROMISE, "", promise),
            warning: true,
            reason: kbind_model::api::events::PROMISE_WRITE_REFUSED,
            message,
        };
        if let Err(e) = executor.execute_guarded(&event, Some(&seen)).await {
            tracing::warn!(promise, "cannot report a refused write: {e}");
        }
    }

    /// A workflow's ServiceAccount or role the server refused (a permission
    /// a real server finds invalid, a namespace that is not there): the
    /// Job still runs, as Kratix's `applyResources` goes on, but without
    /// those permissions; the Promise says which and why, not only the log.
    async fn report_refused_access(
        &self,
        key: &WorkKey,
        refused: &[ExecError],
        executor: &mut KubeExecutor,
    ) {
        let (WorkKey::Promise(promise) | WorkKey::Request { promise, .. }) = key;
        // In a namespace being deleted nothing can be made; the refused
        // Job says so (`report_refusal`).
        for e in refused.iter().filter(|e| !namespace_terminating(e)) {
            let message = format!(
                "a workflow will run without the access its pipeline's rbac.permissions give it: {e}"
            );
            self.warn_on_promise(promise, message, executor).await;
        }
    }

    /// True when the cache shows the writes of the key's last reconcile.
    fn caught_up(&self, key: &WorkKey) -> bool {
        let mut expectations = self.expectations.lock().unwrap_or_else(|p| p.into_inner());
        let Some(exp) = expectations.get(key) else {
            return true;
        };
        let cache = self.cache_read();
        let seen = exp.writes.iter().all(|w| {
            let Some(seen) = cache.resource_version(&w.key) else {
                return !w.created;
            };
            match &w.resource_version {
                None => false,
                Some(rv) => rv_reached(seen, rv),
            }
        });
        if seen || Instant::now() >= exp.deadline {
            expectations.remove(key);
            return true;
        }
        false
    }

    /// One reconcile of `key`; `own` collects the objects it wrote, at the
    /// resourceVersions its writes left them.
    async fn reconcile(
        &self,
        key: &WorkKey,
        executor: &mut KubeExecutor,
        own: &mut Vec<super::queue::Cause>,
    ) -> Result<Option<Instant>, ReconcileError> {
        if !self.caught_up(key) {
            tracing::trace!(%key, "waiting for the cache to show the last writes");
            // The watch event of our own write will wake the key; the
            // delay is a safety net.
            return Ok(Some(Instant::now() + Duration::from_millis(200)));
        }
        let started = Instant::now();
        let kind = kind_label(key);
        self.metrics
            .reconciles
            .get_or_create(&KindLabel { kind })
            .inc();
        let mut rounds = 0;
        // The other keys this reconcile's writes concern, woken once at
        // its end: a promise writing its revisions in three plans wakes
        // each of its requests once, not three times.
        let mut woken = BTreeSet::new();
        // Writes recorded in the cache by the last plan; once another plan
        // has been made from them, their own watch events are no reason to
        // run again (a delete, or a plan that ends the loop, is not
        // planned from: its events still wake the key).
        let mut planned_from: Vec<super::queue::Cause> = Vec::new();
        let result = loop {
            rounds += 1;
            let now = now_millis();
            let policy = self.slot.current();
            let (view, guards) = {
                let cache = self.cache_read();
                let promise = match key {
                    WorkKey::Promise(p) | WorkKey::Request { promise: p, .. } => p,
                };
                if let Some((kind, (ar, namespaced))) = cache
                    .request_kind(promise)
                    .and_then(|k| cache.crd(&format!("{}.{}", k.plural, k.group)))
                    .and_then(request_resource)
                {
                    executor.register(&kind, ar, namespaced);
                }
                if !cache.ready_for(promise) {
                    tracing::debug!(%key, "request kind not listed yet; the list will wake it");
                    break Ok(Some(Instant::now() + Duration::from_secs(1)));
                }
                // A promise's plan goes on (its revision, its status): it
                // reads no request's spec.
                if matches!(key, WorkKey::Request { .. }) && cache.awaiting_relist(promise) {
                    tracing::debug!(%key, "request kind's schema changed; waiting for its watch to list again");
                    break Ok(Some(Instant::now() + Duration::from_secs(1)));
                }
                match key {
                    WorkKey::Promise(p) => cache.promise_view(p, now),
                    WorkKey::Request {
                        promise,
                        namespace,
                        label,
                    } => cache.request_view(promise, namespace, label, now),
                }
            };
            let ctx = Context {
                policy: &*policy,
                workflows: &self.options.workflows,
            };
            let actions = match key {
                WorkKey::Promise(_) => planner::plan_promise(&view, &ctx),
                WorkKey::Request { .. } => planner::plan_requests(&view, &ctx),
            };
            self.metrics.plans.get_or_create(&KindLabel { kind }).inc();
            if let WorkKey::Promise(p) = key {
                let counts = planner::rollout::counts(&view);
                let versions = view.revisions.iter().map(|r| r.spec.version.clone());
                self.metrics.set_bindings(p, &counts, versions);
            }
            own.append(&mut planned_from);
            // A promise's plan for 10,000 bindings takes seconds to write; the
            // view it was planned from is not kept alive that long.
            let timer = next_timer(key, &view, now);
            drop(view);
            let (written, refused, outcome) = execute_plan(executor, guards, &actions).await;
            self.report_refused_access(key, &refused, executor).await;
            tracing::debug!(
                %key,
                round = rounds,
                actions = actions.len(),
                written = written.len(),
                ok = outcome.is_ok(),
                elapsed_us = started.elapsed().as_micros() as u64,
                "planned"
            );
            let progressed = !written.is_empty();
            // The objects as the server answered go into the cache now: the
            // next plan sees them at once, and the watch events of these
            // writes, arriving later at the same resourceVersion, change
            // and wake nothing.
            let mut written = written;
            let recorded = self.record_writes(key, &mut written, &mut woken, &mut planned_from);
            if progressed {
                // Also after a failure part-way: the next run must see these.
                self.expectations
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(
                        key.clone(),
                        Expectation {
                            writes: written,
                            deadline: Instant::now() + EXPECTATION_TIMEOUT,
                        },
                    );
            }
            if let Err(error) = outcome {
                break Err(ReconcileError { error, progressed });
            }
            // Plan again from what this plan wrote, as the simulator does,
            // until nothing is left to write; a delete waits for its watch
            // event (what the object looks like after it is not known).
            if !progressed || !recorded || rounds >= MAX_PLAN_ROUNDS || !self.caught_up(key) {
                break Ok(timer);
            }
        };
        if !woken.is_empty() {
            self.queue.add_all(woken);
            self.metrics.queue_depth.set(self.queue.depth() as i64);
        }
        self.metrics
            .reconcile_seconds
            .get_or_create(&KindLabel { kind })
            .observe(started.elapsed().as_secs_f64());
        result
    }

    /// Puts the objects a plan wrote into the cache; adds to `woken` the
    /// other keys they concern (woken once the reconcile ends, as their
    /// watch events would have). False when some write left nothing to
    /// record (a delete).
    /// The objects are taken out of `written` (which the expectations
    /// keep: a promise's wave writes 10,000 of them), and what was
    /// recorded is added to `recorded`.
    fn record_writes(
        &self,
        key: &WorkKey,
        written: &mut [Written],
        woken: &mut BTreeSet<WorkKey>,
        recorded: &mut Vec<super::queue::Cause>,
    ) -> bool {
        let mut all = true;
        // Parsed before the cache is locked (readers wait for the lock), a
        // chunk at a time: a wave's 10,000 answers parsed at once were the
        // operator's peak memory.
        for chunk in written.chunks_mut(RECORD_CHUNK) {
            let mut objects = Vec::with_capacity(chunk.len());
            for w in chunk.iter_mut() {
                let object = w
                    .object
                    .take()
                    .and_then(|text| serde_json::from_str::<Value>(&text).ok());
                match object {
                    // An object whose last finalizer this write removed is
                    // gone: its watch event says so.
                    Some(object) if !gone(&object) => {
                        if let Some(rv) = object
                            .pointer("/metadata/resourceVersion")
                            .and_then(Value::as_str)
                        {
                            recorded.push((w.key.clone(), rv.to_string()));
                        }
                        objects.push(cache::cached_form(object));
                    }
                    _ => all = false,
                }
            }
            let mut cache = self.cache_write();
            for object in objects {
                woken.extend(cache.apply(object).into_iter().filter(|k| k != key));
            }
        }
        all
    }

    /// Reconciles a key at once (tests and the `--once` path use it).
    pub fn wake(&self, key: WorkKey) {
        self.queue.add(key);
    }

    pub fn queue_depth(&self) -> usize {
        self.queue.depth()
    }

    /// Objects in the cache (for tests and logs).
    pub fn cached_objects(&self) -> usize {
        self.cache_read().len()
    }
}

/// A write refused because its namespace is being deleted (NamespaceLifecycle).
fn namespace_terminating(e: &ExecError) -> bool {
    matches!(e, ExecError::Api { source: kube::Error::Api(status), .. }
        if status.code == 403 && status.message.contains("because it is being terminated"))
}

fn kind_label(key: &WorkKey) -> &'static str {
    match key {
        WorkKey::Promise(_) => "promise",
        WorkKey::Request { .. } => "request",
    }
}

/// Executes a plan in order. Each patch is guarded by the resourceVersion
/// of the object as the plan saw it, or as this plan's own earlier write
/// left it.
async fn execute_plan(
    executor: &mut KubeExecutor,
    // The resourceVersion of every object as the plan saw it.
    mut versions: cache::Guards,
    actions: &[Action],
) -> (Vec<Written>, Vec<ExecError>, Result<(), ExecError>) {
    let mut written: Vec<Written> = Vec::new();
    let mut refused: Vec<ExecError> = Vec::new();
    // Where each key's write sits in `written`: a promise's plan patches
    // thousands of bindings, and a search per write made it quadratic.
    let mut position: HashMap<ObjKey, usize> = HashMap::new();
    for action in actions {
        let seen = match action {
            Action::Patch { key, .. } | Action::PatchStatus { key, .. } => versions.get(key),
            Action::Event { regarding, .. } => versions.get(regarding),
            _ => None,
        };
        // The plan is ordered: stop at the first failure, keep what was
        // written so far.
        match executor.execute_guarded(action, seen).await {
            Ok(Some(w)) => {
                let entry = versions.entry(w.key.clone()).or_default();
                if let Some(rv) = &w.resource_version {
                    entry.resource_version = rv.clone();
                }
                if let Some(uid) = &w.uid {
                    entry.uid = uid.clone();
                }
                if let Some(api_version) = &w.api_version {
                    entry.api_version = api_version.clone();
                }
                // Only the last write of a key tells whether the cache
                // has caught up with it.
                match position.get(&w.key) {
                    Some(&at) => written[at] = w,
                    None => {
                        position.insert(w.key.clone(), written.len());
                        written.push(w);
                    }
                }
            }
            Ok(None) => {}
            // An Event is a report, not state: losing one must not undo
            // the reconcile that made it.
            Err(e) if matches!(action, Action::Event { .. }) => {
                tracing::debug!("cannot record an Event: {e}");
            }
            // As Kratix's applyResources: a workflow's ServiceAccount or
            // role that cannot be written (a permission's namespace that
            // does not exist) is reported and the Job still created; pods
            // that then cannot start say why on the binding.
            Err(e) if matches!(action, Action::Apply { .. }) => {
                tracing::warn!("{e}");
                refused.push(e);
            }
            Err(e) => return (written, refused, Err(e)),
        }
    }
    (written, refused, Ok(()))
}

/// When the key must run again with nothing changing in the cluster: a
/// retry the policy scheduled, or its next upgrade check.
fn next_timer(key: &WorkKey, view: &planner::View, now: i64) -> Option<Instant> {
    let due = match key {
        WorkKey::Promise(_) => planner::timers::upgrade_check(view),
        WorkKey::Request { .. } => planner::timers::retry(view),
    }?;
    let wait = u64::try_from(due.saturating_sub(now)).unwrap_or(0);
    // A little after the due time, so the planner sees it as due.
    // A time too far away to represent is never.
    Instant::now().checked_add(Duration::from_millis(wait.saturating_add(10)))
}

/// Aborts its tasks when dropped, so a stopped run leaves nothing behind.
pub(super) struct AbortOnDrop(pub(super) Vec<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Stops the request-kind watches when the controller's run ends (they
/// hold the controller, so they would otherwise outlive it).
struct StopRequestWatches(Arc<Controller>);

impl Drop for StopRequestWatches {
    fn drop(&mut self) {
        for (_, (_, t)) in self
            .0
            .request_watches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
        {
            t.abort();
        }
    }
}

/// What the operator logs, once, when a kind's watch cannot list: the
/// kbind CRDs missing, a request kind its Promise's CRD does not serve
/// (yet), or a rule the operator lacks.
fn watch_error_message(kind: &str, ar: &ApiResource, e: &watcher::Error) -> String {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
            if s.code == 404 && fixed_kinds().iter().any(|(_, k)| *k == kind) =>
        {
            format!(
                "the API server does not serve {kind} (are the kbind CRDs installed? `kbind crds | kubectl apply -f -`)"
            )
        }
        // A request kind: its CRD is the Promise's, which
        // the server has not accepted yet or has removed.
        watcher::Error::InitialListFailed(kube::Error::Api(s)) if s.code == 404 => {
            format!(
                "the API server does not serve {kind} ({}.{}) yet: its Promise's CRD is not served (see `kubectl get crd {}.{} -o jsonpath='{{.status.conditions}}'`)",
                ar.plural, ar.group, ar.plural, ar.group
            )
        }
        watcher::Error::InitialListFailed(kube::Error::Api(s)) if s.code == 403 => {
            format!(
                "the operator may not list {kind} (its Promise's RequestsAccessible condition names the rule to grant): {}",
                s.message
            )
        }
        other => format!("{kind} watch failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_found() -> watcher::Error {
        watcher::Error::InitialListFailed(kube::Error::Api(
            kube::core::Status::failure(
                "the server could not find the requested resource",
                "NotFound",
            )
            .with_code(404)
            .boxed(),
        ))
    }

    #[test]
    fn requests_are_watched_at_the_storage_version_or_the_preferred_served_one() {
        let crd = |versions: Value| {
            json!({"spec": {"group": "marketplace.kratix.io", "names": {"kind": "redis", "plural": "redis"},
                "versions": versions},
                "status": {"acceptedNames": {"kind": "redis", "plural": "redis"},
                    "conditions": [{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}]}})
        };
        let version =
            |versions: Value| request_resource(&crd(versions)).map(|(_, (ar, _))| ar.version);
        assert_eq!(
            version(
                json!([{"name": "v1alpha1", "served": true, "storage": false},
                {"name": "v1beta1", "served": true, "storage": true}])
            ),
            Some("v1beta1".into())
        );
        // A storage version no longer served cannot be watched.
        assert_eq!(
            version(
                json!([{"name": "v1alpha1", "served": true, "storage": false},
                {"name": "v1", "served": true, "storage": false},
                {"name": "v1beta1", "served": false, "storage": true}])
            ),
            Some("v1".into())
        );
    }

    #[test]
    fn a_missing_kind_is_explained_by_whose_crd_it_is() {
        let binding = ApiResource::erase::<kbind_model::api::ResourceBinding>(&());
        let message = watch_error_message("ResourceBinding", &binding, &not_found());
        assert!(message.contains("kbind crds | kubectl apply"), "{message}");
        let redis = ApiResource {
            group: "marketplace.kratix.io".into(),
            version: "v1alpha1".into(),
            api_version: "marketplace.kratix.io/v1alpha1".into(),
            kind: "redis".into(),
            plural: "redis".into(),
        };
        let message = watch_error_message("redis", &redis, &not_found());
        assert!(!message.contains("kbind crds"), "{message}");
        assert!(
            message.contains("kubectl get crd redis.marketplace.kratix.io"),
            "{message}"
        );
    }
}
