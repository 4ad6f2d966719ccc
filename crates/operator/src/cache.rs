//! The operator's view of the cluster: every object its watches report,
//! indexed so that one request's view (its bindings and Jobs) is read
//! without scanning the others. kube-runtime's reflector `Store` keeps one
//! map per kind with no secondary index; reconciling one request out of
//! 10,000 needs the index, so the watches feed this cache instead.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Deserialize;
use serde_json::Value;

use kbind_model::api::{PromiseSpec, RequestKind, annotations, labels};
use kbind_model::key::ObjKey;
use kbind_model::naming;
use kbind_planner::workflow_job;
use kbind_planner::{ObjectSource, View};

pub use super::executor::Seen;

/// What the operator reconciles: a promise (its revisions, marker, deletion
/// and upgrade planning) or one request with its bindings and workflows.
/// A request is named by its `kratix.io/resource-name` label value, so a
/// binding or Job whose request is gone still has a key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkKey {
    Promise(String),
    Request {
        promise: String,
        namespace: String,
        label: String,
    },
}

impl std::fmt::Display for WorkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkKey::Promise(p) => write!(f, "promise {p}"),
            WorkKey::Request {
                promise,
                namespace,
                label,
            } => write!(f, "request {namespace}/{label} of promise {promise}"),
        }
    }
}

pub const PROMISE: &str = "Promise";
pub const REVISION: &str = "PromiseRevision";
pub const BINDING: &str = "ResourceBinding";
pub const JOB: &str = workflow_job::KIND;
pub const CRD: &str = "CustomResourceDefinition";

type Member = (String, String, String);

/// One cached object. Promises, revisions and CRDs are few and read by
/// every reconcile, so they stay parsed. Requests, bindings and Jobs are
/// thousands and read only when their own view is built, so they are kept
/// as JSON text: a `Value` tree is ~8x the size of its JSON, and at 10,000
/// requests the trees alone were ~200 MiB.
struct Entry {
    object: Stored,
    /// The request it belongs to, as indexed when it was stored.
    member: Option<Member>,
    resource_version: Box<str>,
    /// What an Event about the object names.
    uid: Box<str>,
    api_version: Box<str>,
}

enum Stored {
    Tree(Value),
    Text(Box<str>),
}

impl Entry {
    fn new(key: &ObjKey, object: Value, member: Option<Member>) -> Self {
        let resource_version = str_at(&object, "/metadata/resourceVersion")
            .unwrap_or_default()
            .into();
        let uid = str_at(&object, "/metadata/uid").unwrap_or_default().into();
        let api_version = str_at(&object, "/apiVersion").unwrap_or_default().into();
        let object = match key.kind.as_str() {
            PROMISE | REVISION | CRD => Stored::Tree(object),
            // Serializing a Value cannot fail (its keys are strings).
            _ => Stored::Text(object.to_string().into_boxed_str()),
        };
        Self {
            object,
            member,
            resource_version,
            uid,
            api_version,
        }
    }

    fn value(&self) -> Option<Cow<'_, Value>> {
        match &self.object {
            Stored::Tree(v) => Some(Cow::Borrowed(v)),
            Stored::Text(json) => serde_json::from_str(json).ok().map(Cow::Owned),
        }
    }
}

#[derive(Default)]
pub struct Cache {
    objects: HashMap<ObjKey, Entry>,
    by_kind: HashMap<String, BTreeSet<ObjKey>>,
    /// (promise, namespace, resource label) -> requests, bindings, Jobs.
    members: HashMap<Member, BTreeSet<ObjKey>>,
    /// promise -> its (namespace, label) request keys.
    requests_of: HashMap<String, BTreeSet<(String, String)>>,
    /// Request kind -> the promise that serves it.
    promise_of_kind: HashMap<String, String>,
    /// Promise -> the request kind its spec serves (parsed once, when the
    /// Promise is stored: every plan asks).
    kind_of_promise: HashMap<String, RequestKind>,
    /// Kinds whose initial list has arrived.
    synced: HashSet<String>,
    /// Why a workflow Job cannot create its pods (the Job controller's
    /// `FailedCreate` Events), by Job.
    job_problems: HashMap<ObjKey, String>,
    /// Objects deleted lately, with the resourceVersion of their deletion:
    /// a write's answer recorded after the watch reported the deletion
    /// must not bring the object back.
    deleted: HashMap<ObjKey, (Box<str>, std::time::Instant)>,
}

/// How long a deletion is remembered (a write's answer comes back within
/// a request timeout of the write).
const TOMBSTONE_FOR: std::time::Duration = std::time::Duration::from_secs(300);

fn str_at<'v>(object: &'v Value, pointer: &str) -> Option<&'v str> {
    object.pointer(pointer).and_then(Value::as_str)
}

/// The request kind a Promise object serves, from `spec.api`.
/// resourceVersions are opaque to clients, but every server kbind meets
/// (etcd's revisions, the embedded server's counter) makes them increasing
/// integers; anything else is compared for equality only.
fn not_newer(incoming: &str, held: &str) -> bool {
    match (incoming.parse::<u64>(), held.parse::<u64>()) {
        (Ok(i), Ok(h)) => i <= h,
        _ => !held.is_empty() && incoming == held,
    }
}

/// An object as the cache keeps it: what the planner never reads is left
/// out (field managers, often the largest part of an object on a real
/// cluster, and a Job's pod template: the planner reads its labels,
/// annotations and status).
pub fn cached_form(mut value: Value) -> Value {
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    if value["kind"] == JOB
        && let Some(job) = value.as_object_mut()
    {
        job.remove("spec");
    }
    value
}

pub fn request_kind_of(promise: &Value) -> Option<RequestKind> {
    PromiseSpec::deserialize(promise.get("spec")?)
        .ok()?
        .request_kind()
}

impl Cache {
    /// An object as last seen (parsed again if it is kept as text).
    pub fn get(&self, key: &ObjKey) -> Option<Cow<'_, Value>> {
        let value = self.objects.get(key)?.value()?;
        // Every view reads through here: only Jobs look further.
        let problem = (key.kind == JOB)
            .then(|| self.job_problems.get(key))
            .flatten();
        match problem {
            // The planner reads a Job's start problem as an annotation.
            Some(problem) => {
                let mut job = value.into_owned();
                if !job["metadata"]["annotations"].is_object() {
                    job["metadata"]["annotations"] = serde_json::json!({});
                }
                job["metadata"]["annotations"][workflow_job::annotations::START_PROBLEM] =
                    serde_json::json!(problem);
                Some(Cow::Owned(job))
            }
            None => Some(value),
        }
    }

    /// Records a `FailedCreate` Event about a Job; returns what to wake.
    pub fn note_job_problem(&mut self, event: &Value) -> Vec<WorkKey> {
        let (Some(namespace), Some(name)) = (
            str_at(event, "/involvedObject/namespace"),
            str_at(event, "/involvedObject/name"),
        ) else {
            return Vec::new();
        };
        let key = ObjKey::new(JOB, namespace, name);
        let message = str_at(event, "/message")
            .unwrap_or("its pods cannot be created")
            .to_string();
        if self.job_problems.get(&key) == Some(&message) {
            return Vec::new();
        }
        let member = self.objects.get(&key).and_then(|e| e.member.clone());
        self.job_problems.insert(key.clone(), message);
        self.wake_for(&key, None, member)
    }

    /// The resourceVersion an object was last seen at.
    pub fn resource_version(&self, key: &ObjKey) -> Option<&str> {
        self.objects.get(key).map(|e| &*e.resource_version)
    }

    fn seen(&self, key: &ObjKey) -> Option<Seen> {
        let e = self.objects.get(key)?;
        Some(Seen {
            resource_version: e.resource_version.to_string(),
            uid: e.uid.to_string(),
            api_version: e.api_version.to_string(),
        })
    }

    pub fn list<'a>(&'a self, kind: &str) -> impl Iterator<Item = Cow<'a, Value>> + 'a {
        self.by_kind
            .get(kind)
            .into_iter()
            .flatten()
            .filter_map(|k| self.get(k))
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn mark_synced(&mut self, kind: &str) {
        self.synced.insert(kind.to_string());
    }

    pub fn is_synced(&self, kind: &str) -> bool {
        self.synced.contains(kind)
    }

    /// Forgets a kind entirely (its watch stopped). Returns the keys to wake.
    pub fn drop_kind(&mut self, kind: &str) -> Vec<WorkKey> {
        self.synced.remove(kind);
        let keys: Vec<ObjKey> = self
            .by_kind
            .get(kind)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        keys.iter().flat_map(|k| self.remove(k)).collect()
    }

    /// The member index entry of an object, if it belongs to a request.
    fn member_of(&self, key: &ObjKey, object: &Value) -> Option<Member> {
        match key.kind.as_str() {
            // The promise label is a hash when the name is too long for a
            // label: bindings name their promise in full, Jobs in an
            // annotation.
            BINDING => Some((
                str_at(object, "/spec/promiseRef/name")?.to_string(),
                key.namespace.clone(),
                labels::label_of(object, labels::RESOURCE_NAME)?,
            )),
            JOB => Some((
                object
                    .pointer("/metadata/annotations")
                    .and_then(|a| a.get(annotations::JOB_PROMISE))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| labels::label_of(object, labels::PROMISE_NAME))?,
                key.namespace.clone(),
                labels::label_of(object, labels::RESOURCE_NAME)?,
            )),
            PROMISE | REVISION | CRD => None,
            kind => Some((
                self.promise_of_kind.get(kind)?.clone(),
                key.namespace.clone(),
                naming::resource_name_label(&key.name),
            )),
        }
    }

    fn unindex(&mut self, key: &ObjKey) {
        let Some(old) = self.objects.get(key) else {
            return;
        };
        let served_kind = (key.kind == PROMISE)
            .then(|| self.kind_of_promise.get(&key.name).cloned())
            .flatten();
        if let Some(member) = old.member.clone()
            && let Some(set) = self.members.get_mut(&member)
        {
            set.remove(key);
            if set.is_empty() {
                self.members.remove(&member);
                if let Some(r) = self.requests_of.get_mut(&member.0) {
                    r.remove(&(member.1.clone(), member.2.clone()));
                }
            }
        }
        if key.kind == PROMISE {
            self.kind_of_promise.remove(&key.name);
        }
        if let Some(kind) = served_kind
            && self.promise_of_kind.get(&kind.kind) == Some(&key.name)
        {
            self.promise_of_kind.remove(&kind.kind);
        }
    }

    /// Records an added or modified object. Returns the keys to wake. A
    /// version the cache already holds (the watch event of a write the
    /// operator made and recorded itself) or an older one changes and
    /// wakes nothing.
    pub fn apply(&mut self, object: Value) -> Vec<WorkKey> {
        let Some(key) = ObjKey::of(&object) else {
            return Vec::new();
        };
        if let Some(incoming) = str_at(&object, "/metadata/resourceVersion") {
            let held = self
                .objects
                .get(&key)
                .map(|e| &*e.resource_version)
                .or_else(|| self.deleted.get(&key).map(|(rv, _)| &**rv));
            if held.is_some_and(|held| not_newer(incoming, held)) {
                return Vec::new();
            }
        }
        self.deleted.remove(&key);
        let mut wake = self.wake_for_stored(&key);
        self.unindex(&key);
        if key.kind == PROMISE
            && let Some(kind) = request_kind_of(&object)
        {
            self.promise_of_kind
                .insert(kind.kind.clone(), key.name.clone());
            self.kind_of_promise.insert(key.name.clone(), kind);
        }
        let member = self.member_of(&key, &object);
        if let Some(member) = &member {
            self.requests_of
                .entry(member.0.clone())
                .or_default()
                .insert((member.1.clone(), member.2.clone()));
            self.members
                .entry(member.clone())
                .or_default()
                .insert(key.clone());
        }
        self.by_kind
            .entry(key.kind.clone())
            .or_default()
            .insert(key.clone());
        wake.extend(self.wake_for(&key, Some(&object), member.clone()));
        self.objects
            .insert(key.clone(), Entry::new(&key, object, member));
        wake
    }

    /// What the stored version of an object wakes (it is being replaced or
    /// removed).
    fn wake_for_stored(&self, key: &ObjKey) -> Vec<WorkKey> {
        let Some(old) = self.objects.get(key) else {
            return Vec::new();
        };
        match &old.object {
            Stored::Tree(v) => self.wake_for(key, Some(v), old.member.clone()),
            // Text is kept for members only, whose wakes come from `member`.
            Stored::Text(_) => self.wake_for(key, None, old.member.clone()),
        }
    }

    /// Forgets a deleted object. Returns the keys to wake.
    pub fn remove(&mut self, key: &ObjKey) -> Vec<WorkKey> {
        self.remove_at(key, None)
    }

    /// Forgets an object deleted at `resource_version` (a watch's Delete
    /// event). Returns the keys to wake.
    pub fn remove_at(&mut self, key: &ObjKey, resource_version: Option<&str>) -> Vec<WorkKey> {
        let now = std::time::Instant::now();
        self.deleted
            .retain(|_, (_, at)| now.duration_since(*at) < TOMBSTONE_FOR);
        let held = self.objects.get(key).map(|e| e.resource_version.clone());
        let last = match (held.as_deref(), resource_version) {
            (Some(h), Some(r)) if not_newer(r, h) => Some(h.into()),
            (_, Some(r)) => Some(r.into()),
            (h, None) => h.map(Into::into),
        };
        if let Some(last) = last {
            self.deleted.insert(key.clone(), (last, now));
        }
        if held.is_none() {
            return Vec::new();
        }
        let wake = self.wake_for_stored(key);
        self.unindex(key);
        self.objects.remove(key);
        self.job_problems.remove(key);
        if let Some(set) = self.by_kind.get_mut(&key.kind) {
            set.remove(key);
        }
        wake
    }

    /// Replaces everything of one kind (a watch's initial list). Objects
    /// that vanished while the watch was down are removed and woken.
    pub fn replace_kind(&mut self, kind: &str, objects: Vec<Value>) -> Vec<WorkKey> {
        let fresh: HashSet<ObjKey> = objects.iter().filter_map(ObjKey::of).collect();
        let gone: Vec<ObjKey> = self
            .by_kind
            .get(kind)
            .map(|s| s.iter().filter(|k| !fresh.contains(*k)).cloned().collect())
            .unwrap_or_default();
        let mut wake: Vec<WorkKey> = gone.iter().flat_map(|k| self.remove(k)).collect();
        for object in objects {
            wake.extend(self.apply(object));
        }
        self.mark_synced(kind);
        // Promise reconciles skipped while this kind was unlisted.
        if let Some(promise) = self.promise_of_kind.get(kind) {
            wake.push(WorkKey::Promise(promise.clone()));
        }
        wake
    }

    /// Which reconciles a change to this object affects. `tree` (the object
    /// as a tree) is read only for promises, revisions and CRDs; a member's
    /// request is given.
    fn wake_for(&self, key: &ObjKey, tree: Option<&Value>, member: Option<Member>) -> Vec<WorkKey> {
        match key.kind.as_str() {
            PROMISE => vec![WorkKey::Promise(key.name.clone())],
            // The latest marker, the set of versions and revision deletion
            // concern every request of the promise.
            REVISION => {
                let Some(promise) = tree.and_then(|o| str_at(o, "/spec/promiseRef/name")) else {
                    return Vec::new();
                };
                let mut keys = vec![WorkKey::Promise(promise.to_string())];
                keys.extend(self.request_keys(promise));
                keys
            }
            CRD => {
                let kind = tree
                    .and_then(|o| str_at(o, "/spec/names/kind"))
                    .unwrap_or_default();
                self.promise_of_kind
                    .get(kind)
                    .map(|p| vec![WorkKey::Promise(p.clone())])
                    .unwrap_or_default()
            }
            _ => {
                let Some((promise, namespace, label)) = member else {
                    return Vec::new();
                };
                let mut keys = Vec::new();
                // Promise and revision deletion wait on requests and
                // bindings; only then does a request change concern the
                // promise.
                if self.promise_is_deleting_something(&promise) {
                    keys.push(WorkKey::Promise(promise.clone()));
                }
                keys.push(WorkKey::Request {
                    promise,
                    namespace,
                    label,
                });
                keys
            }
        }
    }

    fn promise_is_deleting_something(&self, promise: &str) -> bool {
        let deleting = |v: &Value| v.pointer("/metadata/deletionTimestamp").is_some();
        self.get(&ObjKey::new(PROMISE, "", promise))
            .is_some_and(|p| deleting(&p))
            || self
                .list(REVISION)
                .any(|r| str_at(&r, "/spec/promiseRef/name") == Some(promise) && deleting(&r))
    }

    /// Every request key of a promise (requests, or bindings and Jobs left
    /// by one).
    pub fn request_keys(&self, promise: &str) -> Vec<WorkKey> {
        self.requests_of
            .get(promise)
            .into_iter()
            .flatten()
            .map(|(namespace, label)| WorkKey::Request {
                promise: promise.to_string(),
                namespace: namespace.clone(),
                label: label.clone(),
            })
            .collect()
    }

    /// Every key worth reconciling (a resync).
    pub fn all_keys(&self) -> Vec<WorkKey> {
        let mut promises: BTreeSet<String> = self
            .list(PROMISE)
            .filter_map(|p| str_at(&p, "/metadata/name").map(str::to_string))
            .collect();
        promises.extend(
            self.list(REVISION)
                .filter_map(|r| str_at(&r, "/spec/promiseRef/name").map(str::to_string)),
        );
        promises.extend(self.requests_of.keys().cloned());
        let mut keys = Vec::new();
        for p in promises {
            keys.extend(self.request_keys(&p));
            keys.push(WorkKey::Promise(p));
        }
        keys
    }

    /// The request kind of a promise, from the Promise or its revisions.
    pub fn request_kind(&self, promise: &str) -> Option<RequestKind> {
        self.kind_of_promise.get(promise).cloned().or_else(|| {
            self.list(REVISION)
                .filter(|r| str_at(r, "/spec/promiseRef/name") == Some(promise))
                .find_map(|r| {
                    PromiseSpec::deserialize(r.pointer("/spec/promiseSpec")?)
                        .ok()?
                        .request_kind()
                })
        })
    }

    /// True when the view of `promise` can be trusted: the request kind's
    /// initial list arrived (or it has no installed request kind, so there
    /// are no requests). Reconciling before that would see bindings without
    /// their requests and delete them.
    pub fn ready_for(&self, promise: &str) -> bool {
        match self.request_kind(promise) {
            None => true,
            Some(kind) => {
                let crd = ObjKey::new(CRD, "", &format!("{}.{}", kind.plural, kind.group));
                self.is_synced(&kind.kind) || !self.objects.contains_key(&crd)
            }
        }
    }

    /// The promise, its revisions and its request kind's CRD.
    fn common(&self, promise: &str) -> Vec<ObjKey> {
        let mut keys = vec![ObjKey::new(PROMISE, "", promise)];
        keys.extend(
            self.by_kind
                .get(REVISION)
                .into_iter()
                .flatten()
                .filter(|k| {
                    self.get(k)
                        .is_some_and(|r| str_at(&r, "/spec/promiseRef/name") == Some(promise))
                })
                .cloned(),
        );
        if let Some(kind) = self.request_kind(promise) {
            keys.push(ObjKey::new(
                CRD,
                "",
                &format!("{}.{}", kind.plural, kind.group),
            ));
        }
        keys
    }

    fn member_keys<'a>(&'a self, member: &Member) -> impl Iterator<Item = &'a ObjKey> + 'a {
        self.members.get(member).into_iter().flatten()
    }

    /// The planner's input for a whole promise (its requests and bindings,
    /// not their Jobs), and the resourceVersion of every object it was
    /// built from (they guard the writes).
    pub fn promise_view(&self, promise: &str, now: i64) -> (View, Guards) {
        let mut keys = self.common(promise);
        for (namespace, label) in self.requests_of.get(promise).into_iter().flatten() {
            let member = (promise.to_string(), namespace.clone(), label.clone());
            keys.extend(self.member_keys(&member).filter(|k| k.kind != JOB).cloned());
        }
        self.view(promise, keys, now)
    }

    /// The planner's input for one request: the promise, its revisions, the
    /// request, its bindings and its Jobs.
    pub fn request_view(
        &self,
        promise: &str,
        namespace: &str,
        label: &str,
        now: i64,
    ) -> (View, Guards) {
        let mut keys = self.common(promise);
        let member = (
            promise.to_string(),
            namespace.to_string(),
            label.to_string(),
        );
        keys.extend(self.member_keys(&member).cloned());
        self.view(promise, keys, now)
    }

    fn view(&self, promise: &str, keys: Vec<ObjKey>, now: i64) -> (View, Guards) {
        let selection = Selection {
            cache: self,
            keys,
            now,
        };
        let view = View::build(&selection, promise);
        let guards = selection
            .keys
            .iter()
            .filter_map(|k| Some((k.clone(), self.seen(k)?)))
            .collect();
        (view, guards)
    }
}

/// What a plan knows of every object its view was built from.
pub type Guards = HashMap<ObjKey, Seen>;

/// Some of the cache's objects, read by [`View::build`] one at a time: a
/// promise's view covers every binding and request, and parsing them all
/// into one store first cost ~150 MiB at 10,000 requests.
struct Selection<'a> {
    cache: &'a Cache,
    keys: Vec<ObjKey>,
    now: i64,
}

impl ObjectSource for Selection<'_> {
    fn now(&self) -> i64 {
        self.now
    }

    fn get(&self, key: &ObjKey) -> Option<Cow<'_, Value>> {
        if self.keys.contains(key) {
            self.cache.get(key)
        } else {
            None
        }
    }

    fn each(&self, kind: &str, f: &mut dyn FnMut(&Value)) {
        for key in self.keys.iter().filter(|k| k.kind == kind) {
            if let Some(object) = self.cache.get(key) {
                f(&object);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn promise() -> Value {
        json!({"apiVersion": "platform.kratix.io/v1alpha1", "kind": "Promise",
            "metadata": {"name": "redis"},
            "spec": {"api": {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "redis.marketplace.kratix.io"},
                "spec": {"group": "marketplace.kratix.io", "scope": "Namespaced",
                    "names": {"kind": "redis", "plural": "redis"},
                    "versions": [{"name": "v1alpha1", "served": true, "storage": true}]}}}})
    }

    fn binding(name: &str, request: &str) -> Value {
        json!({"apiVersion": "platform.kratix.io/v1alpha1", "kind": "ResourceBinding",
            "metadata": {"name": name, "namespace": "default", "labels": {
                "kratix.io/promise-name": "redis", "kratix.io/resource-name": request}},
            "spec": {"version": "latest", "promiseRef": {"name": "redis"},
                "resourceRef": {"name": request, "namespace": "default"}}})
    }

    fn request(name: &str) -> Value {
        json!({"apiVersion": "marketplace.kratix.io/v1alpha1", "kind": "redis",
            "metadata": {"name": name, "namespace": "default"}, "spec": {}})
    }

    fn key(label: &str) -> WorkKey {
        WorkKey::Request {
            promise: "redis".into(),
            namespace: "default".into(),
            label: label.into(),
        }
    }

    #[test]
    fn a_binding_change_wakes_only_its_request() {
        let mut cache = Cache::default();
        cache.apply(promise());
        cache.apply(request("a"));
        cache.apply(request("b"));
        assert_eq!(cache.apply(binding("a-redis-1", "a")), vec![key("a")]);
        let (view, _) = cache.request_view("redis", "default", "a", 0);
        assert_eq!(view.requests.len(), 1);
        assert_eq!(view.bindings.len(), 1);
        let (view, _) = cache.request_view("redis", "default", "b", 0);
        assert_eq!(view.requests.len(), 1);
        assert!(view.bindings.is_empty());
    }

    #[test]
    fn a_revision_change_wakes_the_promise_and_all_its_requests() {
        let mut cache = Cache::default();
        cache.apply(promise());
        cache.apply(request("a"));
        cache.apply(binding("b-redis-1", "b"));
        let woken = cache.apply(json!({"apiVersion": "platform.kratix.io/v1alpha1",
            "kind": "PromiseRevision", "metadata": {"name": "redis-v1"},
            "spec": {"version": "v1", "promiseRef": {"name": "redis"}, "promiseSpec": {}}}));
        assert!(woken.contains(&WorkKey::Promise("redis".into())));
        assert!(woken.contains(&key("a")));
        assert!(
            woken.contains(&key("b")),
            "a binding left by a request is woken too"
        );
    }

    #[test]
    fn a_relist_removes_and_wakes_what_vanished() {
        let mut cache = Cache::default();
        cache.apply(promise());
        cache.apply(binding("a-redis-1", "a"));
        cache.apply(binding("c-redis-1", "c"));
        let woken = cache.replace_kind(BINDING, vec![binding("a-redis-1", "a")]);
        assert!(woken.contains(&key("c")));
        assert!(
            cache
                .get(&ObjKey::new(BINDING, "default", "c-redis-1"))
                .is_none()
        );
        assert!(cache.request_keys("redis").iter().all(|k| *k != key("c")));
    }

    #[test]
    fn requests_are_not_planned_until_their_kind_is_listed() {
        let mut cache = Cache::default();
        cache.apply(promise());
        assert!(cache.ready_for("redis"), "no CRD yet, so no requests");
        cache.apply(json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "redis.marketplace.kratix.io"},
            "spec": {"group": "marketplace.kratix.io", "names": {"kind": "redis", "plural": "redis"}}}));
        assert!(!cache.ready_for("redis"));
        let woken = cache.replace_kind("redis", vec![request("a")]);
        assert!(cache.ready_for("redis"));
        assert!(
            woken.contains(&WorkKey::Promise("redis".into())),
            "skipped reconciles resume"
        );
    }
}
