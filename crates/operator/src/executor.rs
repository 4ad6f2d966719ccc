use std::collections::HashMap;
use std::sync::Arc;

use md5::Digest;

use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch};
use kube::core::ApiResource;
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

use super::metrics::{Metrics, ReasonLabel, RolloutLabels, VerbLabel};
use kbind_model::api::events;
use kbind_model::key::ObjKey;
use kbind_planner::Action;
use kbind_planner::workflow_job::KIND as JOB_KIND;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("the API server does not serve kind {0}")]
    UnknownKind(String),
    #[error("{action}: {}", crate::api_error::Text(source))]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
}

pub struct KubeExecutor {
    client: Client,
    resources: HashMap<String, (ApiResource, bool)>,
    metrics: Option<Arc<Metrics>>,
    applied: Applied,
    event_counts: EventCounts,
}

/// The count of each Event this process recorded, by name, as client-go's
/// correlator keeps them: a repeat is one PATCH of its count, not a create
/// refused with 409, a GET and a PATCH. Bounded (client-go keeps 4096);
/// shared by every worker; the lock is never held across an await.
#[derive(Clone, Default)]
pub struct EventCounts(Arc<std::sync::Mutex<HashMap<String, i64>>>);

impl EventCounts {
    const CAPACITY: usize = 4096;

    fn get(&self, name: &str) -> Option<i64> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied()
    }

    fn set(&self, name: &str, count: i64) {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() >= Self::CAPACITY && !counts.contains_key(name) {
            // Forgetting costs a repeat the slower path, nothing more.
            counts.clear();
        }
        counts.insert(name.to_string(), count);
    }

    fn forget(&self, name: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }
}

/// How long an applied object is taken to be as kbind left it: within
/// this, an `Apply` of the same content is not sent again (every workflow
/// run would otherwise re-send its ServiceAccount and roles); after it,
/// the next run re-applies them, repairing one deleted or edited since.
const APPLIED_FOR: std::time::Duration = std::time::Duration::from_secs(600);

/// Objects this process applied: key -> (digest of the content, when),
/// shared by every worker. The lock is never held across an await.
#[derive(Clone)]
pub struct Applied {
    seen: Arc<std::sync::Mutex<HashMap<ObjKey, AppliedAt>>>,
    lasting: std::time::Duration,
}

impl Default for Applied {
    fn default() -> Self {
        Self::lasting(APPLIED_FOR)
    }
}

/// The digest of what was applied, and when.
type AppliedAt = ([u8; 16], std::time::Instant);

impl Applied {
    /// A record whose entries count as fresh for `lasting`.
    pub fn lasting(lasting: std::time::Duration) -> Self {
        Self {
            seen: Arc::default(),
            lasting,
        }
    }

    fn digest(object: &Value) -> [u8; 16] {
        md5::Md5::digest(serde_json::to_vec(object).unwrap_or_default()).into()
    }

    fn fresh(&self, key: &ObjKey, object: &Value) -> bool {
        let digest = Self::digest(object);
        self.seen
            .lock()
            .map(|m| {
                m.get(key)
                    .is_some_and(|(d, at)| *d == digest && at.elapsed() < self.lasting)
            })
            .unwrap_or(false)
    }

    fn record(&self, key: &ObjKey, object: &Value) {
        if let Ok(mut m) = self.seen.lock() {
            m.insert(
                key.clone(),
                (Self::digest(object), std::time::Instant::now()),
            );
        }
    }
}

const GROUP_DISCOVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Every resource the server serves (preferred versions), one group at a
/// time: a group whose aggregated API is down (a `metrics.k8s.io` with no
/// backend answers 503) is skipped with a warning instead of failing the
/// whole discovery, as kube's `Discovery::run` does.
async fn discover(client: &Client) -> Result<Vec<(ApiResource, bool)>, kube::Error> {
    let mut found = Vec::new();
    let mut add =
        |group: &str,
         version: &str,
         list: k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList| {
            for r in list.resources.into_iter().filter(|r| !r.name.contains('/')) {
                let gvk = GroupVersionKind::gvk(group, version, &r.kind);
                found.push((
                    ApiResource::from_gvk_with_plural(&gvk, &r.name),
                    r.namespaced,
                ));
            }
        };
    let core = client.list_core_api_versions().await?;
    for version in &core.versions {
        match client.list_core_api_resources(version).await {
            Ok(list) => add("", version, list),
            Err(e) => tracing::warn!(
                "discovery of core/{version} failed, skipped: {}",
                crate::api_error::Text(&e)
            ),
        }
    }
    for group in client.list_api_groups().await?.groups {
        let Some(preferred) = group
            .preferred_version
            .as_ref()
            .or_else(|| group.versions.first())
        else {
            continue;
        };
        // kube's client retries a 503 for minutes (15 times, backing off to
        // 1000 s); a group that does not answer soon is skipped.
        let listed = tokio::time::timeout(
            GROUP_DISCOVERY_TIMEOUT,
            client.list_api_group_resources(&preferred.group_version),
        )
        .await;
        match listed {
            Ok(Ok(list)) => add(&group.name, &preferred.version, list),
            Ok(Err(e)) => tracing::warn!(
                "discovery of {} failed, skipped (an aggregated API down?): {}",
                preferred.group_version,
                crate::api_error::Text(&e)
            ),
            Err(_) => tracing::warn!(
                "discovery of {} did not answer in {GROUP_DISCOVERY_TIMEOUT:?}, skipped (an aggregated API down?)",
                preferred.group_version
            ),
        }
    }
    Ok(found)
}

/// What a plan knows of an object it may write or report on: the
/// resourceVersion its patches are guarded by, and what an Event about it
/// names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Seen {
    pub resource_version: String,
    pub uid: String,
    pub api_version: String,
}

/// An object as a write left it.
#[derive(Clone, Debug)]
pub struct Written {
    pub key: ObjKey,
    /// None when the object is gone.
    pub resource_version: Option<String>,
    pub uid: Option<String>,
    pub api_version: Option<String>,
    /// The write created the object: until the cache shows it, it is not
    /// caught up. (After any other write, an object missing from the cache
    /// was deleted since, which is caught up too.)
    pub created: bool,
    /// The object the server answered with, as JSON text (a wave's plan
    /// holds 10,000 of these until it is written; text is a tenth of a
    /// parsed tree). None for a delete.
    pub object: Option<Box<str>>,
}

impl Written {
    /// From a write's answer, kept as the server's text: only the fields a
    /// plan needs are read from it (kube's typed calls would parse the
    /// whole answer into a `DynamicObject`, whose flattened fields cost
    /// twice a tree's parse, for the cache to turn it into a tree again).
    fn from_answer(key: &ObjKey, answer: String, created: bool) -> Self {
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct Meta {
            resource_version: Option<String>,
            uid: Option<String>,
        }
        #[derive(serde::Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            api_version: Option<String>,
            #[serde(default)]
            metadata: Meta,
        }
        let read: Answer = serde_json::from_str(&answer).unwrap_or_default();
        Self {
            key: key.clone(),
            resource_version: read.metadata.resource_version,
            uid: read.metadata.uid,
            api_version: read.api_version,
            created,
            object: Some(answer.into_boxed_str()),
        }
    }
}

pub(crate) use kbind_model::time::now_millis;

impl KubeExecutor {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            resources: HashMap::new(),
            metrics: None,
            applied: Applied::default(),
            event_counts: EventCounts::default(),
        }
    }

    /// Shares the record of Events recorded with other executors.
    pub fn with_event_counts(mut self, counts: EventCounts) -> Self {
        self.event_counts = counts;
        self
    }

    /// Shares the record of applied objects with other executors.
    pub fn with_applied(mut self, applied: Applied) -> Self {
        self.applied = applied;
        self
    }

    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Registers a kind without discovery (the operator knows request
    /// kinds from their CRDs).
    pub fn register(&mut self, kind: &str, resource: ApiResource, namespaced: bool) {
        self.resources
            .insert(kind.to_string(), (resource, namespaced));
    }

    pub fn forget(&mut self, kind: &str) {
        self.resources.remove(kind);
    }

    /// Kind -> API resource, from discovery (refreshed when a kind is new,
    /// e.g. a request CRD that was just installed). Core kinds win ties.
    async fn resource(&mut self, kind: &str) -> Result<(ApiResource, bool), ExecError> {
        if let Some(found) = self.resources.get(kind) {
            return Ok(found.clone());
        }
        let discovered = discover(&self.client)
            .await
            .map_err(|source| ExecError::Api {
                action: format!("discovery (looking for kind {kind})"),
                source,
            })?;
        for (ar, namespaced) in discovered {
            let entry = self
                .resources
                .entry(ar.kind.clone())
                .or_insert((ar.clone(), namespaced));
            if ar.group.is_empty() && !entry.0.group.is_empty() {
                *entry = (ar, namespaced);
            }
        }
        self.resources
            .get(kind)
            .cloned()
            .ok_or_else(|| ExecError::UnknownKind(kind.into()))
    }

    async fn api(&mut self, key: &ObjKey) -> Result<Api<DynamicObject>, ExecError> {
        let (ar, namespaced) = self.resource(&key.kind).await?;
        Ok(if namespaced && !key.namespace.is_empty() {
            Api::namespaced_with(self.client.clone(), &key.namespace, &ar)
        } else {
            Api::all_with(self.client.clone(), &ar)
        })
    }

    /// POSTs an object as it is, answered as text.
    async fn create_text(
        &self,
        api: &Api<DynamicObject>,
        object: &Value,
    ) -> Result<String, kube::Error> {
        let body = serde_json::to_vec(object).map_err(kube::Error::SerdeError)?;
        let mut request = kube::core::Request::new(api.resource_url())
            .create(&crate::post_params(), body)
            .map_err(kube::Error::BuildRequest)?;
        request.extensions_mut().insert("create");
        self.client.request_text(request).await
    }

    /// A JSON merge patch of an object (or of its `subresource`), answered
    /// as text.
    async fn patch_text(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        patch: &Value,
        subresource: Option<&str>,
    ) -> Result<String, kube::Error> {
        let request = kube::core::Request::new(api.resource_url());
        let patch = Patch::Merge(patch);
        let mut request = match subresource {
            Some(sub) => request.patch_subresource(sub, name, &crate::patch_params(), &patch),
            None => request.patch(name, &crate::patch_params(), &patch),
        }
        .map_err(kube::Error::BuildRequest)?;
        request.extensions_mut().insert("patch");
        self.client.request_text(request).await
    }

    pub async fn execute(&mut self, action: &Action) -> Result<(), ExecError> {
        self.execute_guarded(action, None).await.map(|_| ())
    }

    /// Executes one action. Patches carry the resourceVersion the plan was
    /// made from (`seen`) so a plan made from a stale view fails with 409
    /// instead of overwriting a newer change; Events name the object's uid.
    /// Returns the object as the write left it, when there is one.
    pub async fn execute_guarded(
        &mut self,
        action: &Action,
        seen: Option<&Seen>,
    ) -> Result<Option<Written>, ExecError> {
        let guard_rv = seen
            .map(|s| s.resource_version.as_str())
            .filter(|rv| !rv.is_empty());
        let wrap = |what: String| {
            move |source| ExecError::Api {
                action: what,
                source,
            }
        };
        let guarded = |patch: &Value| {
            let mut patch = patch.clone();
            if let Some(rv) = guard_rv {
                patch["metadata"]["resourceVersion"] = json!(rv);
            }
            patch
        };
        if let Action::Apply { object, .. } = action
            && let Some(key) = ObjKey::of(object)
            && self.applied.fresh(&key, object)
        {
            return Ok(None);
        }
        self.count_write(action);
        match action {
            Action::Apply { object, why } => {
                let key = ObjKey::of(object)
                    .ok_or_else(|| ExecError::UnknownKind("(object without kind)".into()))?;
                let api = self.api(&key).await?;
                // Not reported as written: the cache does not watch these
                // kinds, so it could never be seen to catch up.
                match self.create_text(&api, object).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 409 => {
                        // Kratix leaves a ServiceAccount it did not make
                        // (no promise label) as it is.
                        let foreign = key.kind == "ServiceAccount"
                            && api
                                .get(&key.name)
                                .await
                                .map_err(wrap(format!("apply {key} ({why})")))?
                                .metadata
                                .labels
                                .is_none_or(|l| {
                                    !l.contains_key(kbind_model::api::labels::PROMISE_NAME)
                                });
                        if !foreign {
                            let mut body = object.clone();
                            if let Some(m) = body.as_object_mut() {
                                m.remove("apiVersion");
                                m.remove("kind");
                            }
                            self.patch_text(&api, &key.name, &body, None)
                                .await
                                .map_err(wrap(format!("apply {key} ({why})")))?;
                        }
                    }
                    Err(e) => return Err(wrap(format!("apply {key} ({why})"))(e)),
                }
                self.applied.record(&key, object);
                Ok(None)
            }
            Action::Create { object, why } => {
                let key = ObjKey::of(object)
                    .ok_or_else(|| ExecError::UnknownKind("(object without kind)".into()))?;
                let api = self.api(&key).await?;
                match self.create_text(&api, object).await {
                    Ok(created) => Ok(Some(Written::from_answer(&key, created, true))),
                    // A promise's API already installed by someone else
                    // (Kratix, a previous install without kbind's label,
                    // which kbind's narrowed watch does not see): adopted,
                    // as Kratix updates an existing CRD.
                    Err(kube::Error::Api(e))
                        if e.code == 409 && key.kind == "CustomResourceDefinition" =>
                    {
                        let adopt = json!({"metadata": {"labels": object["metadata"]["labels"]}, "spec": object["spec"]});
                        self.patch_text(&api, &key.name, &adopt, None)
                            .await
                            .map(|o| Some(Written::from_answer(&key, o, true)))
                            .map_err(wrap(format!("adopt {key} ({why})")))
                    }
                    // Created by an earlier run whose answer was lost, or
                    // seen by a view that lagged: the name is deterministic,
                    // so this is the same object.
                    Err(kube::Error::Api(e)) if e.code == 409 => Ok(None),
                    // A workflow Job the server refuses (a pipeline a real
                    // server finds invalid, a quota, an admission policy)
                    // is retried with backoff like any failed write; the
                    // request's owner reads why in a Warning Event, not
                    // only the operator's log (Kratix's webhook refuses
                    // such a Promise at apply; kbind has no webhook).
                    Err(kube::Error::Api(e))
                        if key.kind == JOB_KIND && matches!(e.code, 403 | 422) =>
                    {
                        self.report_refused_job(object, &e.message).await;
                        Err(wrap(format!("create {key} ({why})"))(kube::Error::Api(e)))
                    }
                    Err(e) => Err(wrap(format!("create {key} ({why})"))(e)),
                }
            }
            Action::Patch { key, patch, why } => {
                let api = self.api(key).await?;
                self.patch_text(&api, &key.name, &guarded(patch), None)
                    .await
                    .map(|o| Some(Written::from_answer(key, o, false)))
                    .map_err(wrap(format!("patch {key} ({why})")))
            }
            Action::PatchStatus { key, patch, why } => {
                let api = self.api(key).await?;
                self.patch_text(&api, &key.name, &guarded(patch), Some("status"))
                    .await
                    .map(|o| Some(Written::from_answer(key, o, false)))
                    .map_err(wrap(format!("patch status {key} ({why})")))
            }
            Action::Delete { key, why } => {
                let api = self.api(key).await?;
                // Background, as the garbage collector does for most kinds:
                // batch/v1 Jobs would orphan their pods by default.
                match api.delete(&key.name, &DeleteParams::background()).await {
                    Ok(either) => {
                        let left = either.left();
                        Ok(Some(Written {
                            key: key.clone(),
                            resource_version: left
                                .as_ref()
                                .and_then(|o| o.metadata.resource_version.clone()),
                            uid: left.as_ref().and_then(|o| o.metadata.uid.clone()),
                            api_version: None,
                            created: false,
                            object: None,
                        }))
                    }
                    Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
                    Err(e) => Err(wrap(format!("delete {key} ({why})"))(e)),
                }
            }
            Action::Event {
                regarding,
                warning,
                reason,
                message,
            } => {
                let involved = Involved {
                    key: regarding,
                    api_version: seen.map_or("", |s| s.api_version.as_str()),
                    uid: seen.map_or("", |s| s.uid.as_str()),
                };
                self.event(&involved, *warning, reason, message).await?;
                Ok(None)
            }
        }
    }

    fn count_write(&self, action: &Action) {
        let verb = match action {
            Action::Create { .. } | Action::Apply { .. } => "create",
            Action::Patch { .. } => "patch",
            Action::PatchStatus { .. } => "patch_status",
            Action::Delete { .. } => "delete",
            Action::Event { .. } => "event",
        };
        if let Some(m) = &self.metrics {
            m.writes.get_or_create(&VerbLabel { verb }).inc();
            if let Action::Event {
                reason, regarding, ..
            } = action
            {
                m.events.get_or_create(&ReasonLabel { reason }).inc();
                if regarding.kind == "Promise" && reason.starts_with("Rollout") {
                    m.rollouts
                        .get_or_create(&RolloutLabels {
                            promise: regarding.name.clone(),
                            reason,
                        })
                        .inc();
                }
            }
        }
    }

    /// A Warning `WorkflowCannotStart` on the request a refused workflow Job
    /// was for (its controller owner), with the server's reason.
    async fn report_refused_job(&mut self, job: &Value, refusal: &str) {
        let Some(owner) = job
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .and_then(|o| o.first())
        else {
            return;
        };
        let request = ObjKey::new(
            str_at(owner, "/kind"),
            str_at(job, "/metadata/namespace"),
            str_at(owner, "/name"),
        );
        let involved = Involved {
            key: &request,
            api_version: str_at(owner, "/apiVersion"),
            uid: str_at(owner, "/uid"),
        };
        let message = format!(
            "workflow Job {} cannot be created: {refusal}",
            str_at(job, "/metadata/name")
        );
        if let Err(e) = self
            .event(&involved, true, events::WORKFLOW_CANNOT_START, &message)
            .await
        {
            tracing::warn!("could not record why a workflow Job was refused: {e}");
        }
    }

    /// Records an Event the way client-go's recorder does: one object per
    /// (object and its uid, reason, message), its count raised when it
    /// repeats (at once when this process recorded it before).
    pub async fn event(
        &mut self,
        regarding: &Involved<'_>,
        warning: bool,
        reason: &str,
        message: &str,
    ) -> Result<(), ExecError> {
        let object = event_object(regarding, warning, reason, message, now_millis());
        let key = ObjKey::new("Event", str_at(&object, "/metadata/namespace"), "");
        let name = str_at(&object, "/metadata/name").to_string();
        let now = object["lastTimestamp"].clone();
        let api = self.api(&key).await?;
        let err = |source| ExecError::Api {
            action: format!("event {reason} on {}", regarding.key),
            source,
        };
        if let Some(count) = self.event_counts.get(&name) {
            let repeat = json!({"count": count + 1, "lastTimestamp": now});
            match self.patch_text(&api, &name, &repeat, None).await {
                Ok(_) => {
                    self.event_counts.set(&name, count + 1);
                    return Ok(());
                }
                // Gone since (Events expire after an hour): made anew below.
                Err(kube::Error::Api(e)) if e.code == 404 => self.event_counts.forget(&name),
                Err(e) => return Err(err(e)),
            }
        }
        match self.create_text(&api, &object).await {
            Ok(_) => {
                self.event_counts.set(&name, 1);
                Ok(())
            }
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let count = api
                    .get(&name)
                    .await
                    .map_err(err)?
                    .data
                    .get("count")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                self.patch_text(
                    &api,
                    &name,
                    &json!({"count": count + 1, "lastTimestamp": now}),
                    None,
                )
                .await
                .map_err(err)?;
                self.event_counts.set(&name, count + 1);
                Ok(())
            }
            Err(e) => Err(err(e)),
        }
    }
}

fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The object an Event is about, as `involvedObject` names it: `kubectl
/// describe` lists an object's Events by its uid, so they carry it.
#[derive(Clone, Copy, Debug)]
pub struct Involved<'a> {
    pub key: &'a ObjKey,
    pub api_version: &'a str,
    pub uid: &'a str,
}

/// A core/v1 Event about `regarding`, named as client-go's recorder names
/// them (`<object>.<digest>`, cut to a valid name whatever the object's).
pub fn event_object(
    regarding: &Involved<'_>,
    warning: bool,
    reason: &str,
    message: &str,
    now_ms: i64,
) -> Value {
    let key = regarding.key;
    // Cluster-scoped objects' Events live in `default`, as client-go's.
    let namespace = if key.namespace.is_empty() {
        "default"
    } else {
        &key.namespace
    };
    // The uid is part of the identity, as in client-go's correlator: a
    // request deleted and made again under its name is another object, and
    // `kubectl describe` lists only the Events that carry its own uid.
    let digest = hex::encode(
        &md5::Md5::digest(format!(
            "{}/{}/{}/{}/{reason}/{message}",
            key.kind, key.namespace, key.name, regarding.uid
        ))[..8],
    );
    let now = kbind_model::time::rfc3339(now_ms);
    let mut involved = json!({"kind": key.kind, "name": key.name});
    if !key.namespace.is_empty() {
        involved["namespace"] = json!(key.namespace);
    }
    if !regarding.api_version.is_empty() {
        involved["apiVersion"] = json!(regarding.api_version);
    }
    if !regarding.uid.is_empty() {
        involved["uid"] = json!(regarding.uid);
    }
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": kbind_model::naming::event_name(&key.name, &digest), "namespace": namespace},
        "involvedObject": involved,
        "type": if warning { "Warning" } else { "Normal" },
        "reason": reason, "message": message, "count": 1,
        "firstTimestamp": now, "lastTimestamp": now,
        "source": {"component": "kbind"},
    })
}
