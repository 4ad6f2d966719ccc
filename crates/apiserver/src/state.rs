//! The server's object store: one resourceVersion counter, finalizers,
//! generation, status split, garbage collection by owner, CRD-driven kinds,
//! and a bounded change history for watches.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::admission;
use super::collector::Work;
use super::conversion;
use super::decoding::{self, FieldValidation};
use super::deletion::DeleteOptions;
pub use super::error::ApiError;
use super::managed::{self, Manager};
use super::rbac::{self, Identity};
use super::registry::{self, Resource};
use super::selector::{FieldSelector, LabelSelector};
use super::validation::MAX_GENERATED_PREFIX;
use super::validation::{ErrorKind, FieldError};
use kbind_model::patch::merge_patch;

/// Watch events retained for resuming; older resourceVersions get 410 Gone.
pub const HISTORY: usize = 50_000;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub name: String,
}

impl Key {
    /// The key of a CustomResourceDefinition.
    fn is_crd(&self) -> bool {
        self.group == "apiextensions.k8s.io" && self.plural == "customresourcedefinitions"
    }

    /// The key of a Namespace.
    fn is_namespace(&self) -> bool {
        self.group.is_empty() && self.plural == "namespaces"
    }

    /// The key of the Namespace `name`.
    fn namespace(name: &str) -> Self {
        Self {
            group: String::new(),
            plural: "namespaces".into(),
            namespace: String::new(),
            name: name.into(),
        }
    }

    /// The key of the CustomResourceDefinition `name`.
    fn crd(name: &str) -> Self {
        Self {
            group: "apiextensions.k8s.io".into(),
            plural: "customresourcedefinitions".into(),
            namespace: String::new(),
            name: name.into(),
        }
    }
}

/// One write as watches see it. Shared (`Arc`) between the history and
/// every watch's receiver: each watch used to get a deep copy of the
/// object, whether or not it wanted it (a fifth of the server's CPU).
#[derive(Clone, Debug)]
pub struct Change {
    pub rv: u64,
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub type_: &'static str,
    pub object: Value,
}

/// The `type_` of a [`Change`] that is not an event: the kind's storage
/// was torn down (its CRD's spec changed), so its watches end.
pub const STORAGE_RESET: &str = "STORAGE-RESET";

/// What a request brings to the store besides its operation.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    /// `dryRun=All`: validated and answered, nothing stored or watched.
    pub dry_run: bool,
    pub field_validation: FieldValidation,
    /// Who writes (for `managedFields`).
    pub manager: Option<Manager>,
    /// Who asks (admission that authorizes asks about them).
    pub requester: Option<Identity>,
}

pub struct ObjectStore {
    objects: BTreeMap<Key, Value>,
    /// Who names whom as an owner, kept with `objects`.
    owners: super::owner_index::OwnerIndex,
    /// The Job controller's backoff records, per Job.
    pub(super) job_backoffs: super::job_controller::Backoffs,
    /// When each Event expires (`--event-ttl`).
    pub(super) event_leases: super::event_ttl::EventLeases,
    /// The in-server controllers' Event recorder's memory: an Event's
    /// correlation key to the Event it wrote.
    recorded_events: std::collections::HashMap<String, Key>,
    rv: u64,
    history: VecDeque<Arc<Change>>,
    /// Watches from before this resourceVersion are gone (a compaction).
    compacted: u64,
    /// Per custom resource (group, plural): the resourceVersion at which
    /// its CRD's spec last changed. A real server then tears the kind's
    /// storage down (its watches end; its new watch cache starts there), so
    /// a watch resuming from before it is 410 Gone.
    storage_reset: std::collections::HashMap<(String, String), u64>,
    /// Custom resources not written since their CRD's schema changed: what
    /// they were written as (etcd's unchanged bytes), which each later
    /// schema reads again. `objects` holds them as the current schema
    /// reads them.
    as_written: std::collections::HashMap<Key, Value>,
    resources: Vec<Resource>,
    pub changes: broadcast::Sender<Arc<Change>>,
    /// Milliseconds since the epoch, for timestamps (settable in tests).
    clock: fn() -> i64,
    /// `--state`: every change is appended here before it is acknowledged.
    journal: Option<std::fs::File>,
    /// What the request being served brings besides its operation.
    request: RequestContext,
    /// Decoding (pruning, defaulting, typed round trips) and validation on;
    /// off only in the load bench's baseline, which measures their cost.
    checks: bool,
    /// The warnings the request's decoding gave (`Warning` headers).
    warnings: Vec<String>,
    /// CRDs the naming and establishing controllers have yet to look at.
    /// They run after the write that queued them (the server's controller
    /// task), never inside it: a client sees a new CRD with no conditions,
    /// and its kind served a moment later.
    crd_queue: super::crd_queue::CrdQueue,
    /// What the garbage collector, the namespace controller and the CRD
    /// finalizer have yet to do, run by the same task after the writes
    /// that queued it.
    collector: super::collector::Collector,
    /// The CA a client verifies this server with (PEM), which every
    /// namespace's `kube-root-ca.crt` holds; none for a store no server
    /// serves.
    root_ca: Option<String>,
}

fn meta_str<'a>(o: &'a Value, field: &str) -> Option<&'a str> {
    o.pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_str)
}

/// A new object's uid, shaped as a real server's (`uuid.New()`: a random
/// RFC 4122 version 4 UUID), since clients may parse it as one. The first
/// half is a bijection of the resourceVersion, which no two creates share,
/// so uids cannot repeat within a store; the clock sets the second half
/// apart from another store's.
fn uid(resource_version: u64, millis: i64) -> String {
    fn mix(mut z: u64) -> u64 {
        // splitmix64's finaliser: a bijection on u64.
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    let high = mix(resource_version);
    let low = mix(resource_version ^ (millis as u64).rotate_left(32));
    // Every bit of `high` is kept: 48 before the version nibble, 12 after
    // it, and the last 4 at the head of the node field.
    let time_hi = ((high >> 4) & 0x0fff) | 0x4000;
    let clock_seq = ((low >> 48) & 0x3fff) | 0x8000;
    let node = ((high & 0xf) << 44) | (low & 0x0fff_ffff_ffff);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        time_hi,
        clock_seq,
        node
    )
}

/// Whether a write moves `metadata.generation`: for custom resources any
/// change outside metadata (and outside status where status is a
/// subresource), as apiextensions' strategy does; for built-ins a change of
/// `spec`.
fn generation_changes(r: &Resource, current: &Value, next: &Value) -> bool {
    if r.crd.is_none() {
        return tracks_generation(r) && current.get("spec") != next.get("spec");
    }
    let counted = |key: &str| key != "metadata" && !(r.status_subresource && key == "status");
    let (Some(a), Some(b)) = (current.as_object(), next.as_object()) else {
        return current != next;
    };
    a.iter()
        .filter(|(k, _)| counted(k))
        .any(|(k, v)| b.get(k) != Some(v))
        || b.keys().filter(|k| counted(k)).any(|k| !a.contains_key(k))
}

/// Whether the kind's strategy keeps `metadata.generation` at all: custom
/// resources, and of the built-ins served, Jobs, Deployments and CRDs (ConfigMaps,
/// Namespaces, Events … have none on a real server).
fn tracks_generation(r: &Resource) -> bool {
    r.crd.is_some()
        || matches!(
            (r.group.as_str(), r.kind.as_str()),
            ("batch", "Job")
                | ("apps", "Deployment" | "ReplicaSet")
                | ("apiextensions.k8s.io", "CustomResourceDefinition")
        )
}

fn has_finalizers(o: &Value) -> bool {
    o.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

impl Default for ObjectStore {
    fn default() -> Self {
        Self::new()
    }
}

impl ObjectStore {
    pub fn new() -> Self {
        let (changes, _) = broadcast::channel(4096);
        let crd_queue = super::crd_queue::CrdQueue::default();
        let mut store = Self {
            objects: BTreeMap::new(),
            owners: Default::default(),
            job_backoffs: Default::default(),
            event_leases: Default::default(),
            recorded_events: Default::default(),
            rv: 0,
            history: VecDeque::new(),
            compacted: 0,
            storage_reset: Default::default(),
            as_written: Default::default(),
            resources: registry::builtins(),
            changes,
            clock: kbind_model::time::now_millis,
            journal: None,
            request: RequestContext::default(),
            checks: true,
            warnings: vec![],
            collector: super::collector::Collector::new(crd_queue.signal()),
            crd_queue,
            root_ca: None,
        };
        // What a real server makes at start: `default` (its bootstrap
        // controller) and the system namespaces.
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let r = store.resource("", "v1", "namespaces").cloned();
            if let Some(r) = r {
                let _ = store.create(
                    &r,
                    "",
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                );
            }
        }
        store
    }

    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// What discovery and OpenAPI list: a custom resource only once its
    /// CRD is established (the real discovery and OpenAPI controllers skip
    /// the others), though it is served as soon as its names are accepted.
    pub fn discoverable_resources(&self) -> Vec<Resource> {
        self.resources
            .iter()
            .filter(|r| match &r.crd {
                None => true,
                Some(crd) => self
                    .objects
                    .get(&Key::crd(crd))
                    .is_some_and(super::crd_names::established),
            })
            .cloned()
            .collect()
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<&Resource> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// The resource an `apiVersion` and `kind` name (an owner reference's
    /// RESTMapping), if it is served.
    pub(super) fn resource_of_kind(&self, api_version: &str, kind: &str) -> Option<&Resource> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
    }

    pub(super) fn key(r: &Resource, namespace: &str, name: &str) -> Key {
        Key {
            group: r.group.clone(),
            plural: r.plural.clone(),
            namespace: if r.namespaced {
                namespace.into()
            } else {
                String::new()
            },
            name: name.into(),
        }
    }

    /// Opens (or creates) a state file: replays its changes, compacts it to
    /// the current objects, and journals every later change to it, so a
    /// restart loses nothing that was acknowledged.
    pub fn with_state_file(path: &std::path::Path) -> std::io::Result<Self> {
        use std::io::{BufRead, Write};
        let mut store = Self::new();
        if path.exists() {
            let file = std::fs::File::open(path)?;
            let lines: Vec<String> = std::io::BufReader::new(file)
                .lines()
                .collect::<Result<_, _>>()?;
            let last = lines.len().saturating_sub(1);
            for (n, line) in lines.iter().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Value>(line) {
                    Ok(entry) => store.replay(&entry),
                    // A write cut short by a crash: it was never
                    // acknowledged, so dropping it loses nothing.
                    Err(e) if n == last && e.is_eof() => {}
                    Err(e) => {
                        return Err(std::io::Error::other(format!(
                            "{} line {}: {e}",
                            path.display(),
                            n + 1
                        )));
                    }
                }
            }
        }
        // Custom resources are read through their CRD's schema as it is
        // now, as a real server decodes what etcd holds.
        // One entry per CRD (its kind has a resource per version).
        let crds: std::collections::BTreeSet<String> = store
            .resources
            .iter()
            .filter_map(|r| r.crd.clone())
            .collect();
        for crd in crds {
            store.coerce_stored(&crd);
        }
        store.resync();
        // The change history is not persisted: a watch resuming from
        // before the restart must list again (410), as after a compaction.
        store.compacted = store.rv;
        let tmp = path.with_extension("compacting");
        {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            for (key, object) in &store.objects {
                let object = store.as_written.get(key).unwrap_or(object);
                let entry = json!({"rv": store.rv, "type": "ADDED", "group": key.group, "plural": key.plural, "object": object});
                writeln!(out, "{entry}")?;
            }
            out.flush()?;
            out.get_ref().sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        store.journal = Some(std::fs::OpenOptions::new().append(true).open(path)?);
        Ok(store)
    }

    /// What the in-server controllers find to do when they start, as a
    /// real controller's first list gives it whatever was left half done:
    /// CRDs to name and establish, deletions to finish, dependents whose
    /// owner is gone.
    fn resync(&mut self) {
        let keys: Vec<Key> = self.objects.keys().cloned().collect();
        for key in keys {
            let Some(object) = self.objects.get(&key).cloned() else {
                continue;
            };
            if key.is_crd() {
                self.crd_queue.name(key.clone());
            }
            // As if just written: what `put` tells the controllers.
            self.follow_write(&key, &object, "ADDED");
            if object["metadata"]["deletionTimestamp"].is_string() {
                let uid = meta_str(&object, "uid").unwrap_or_default().to_string();
                if key.is_namespace() {
                    self.queue_work(Work::Namespace(key.name.clone()));
                }
                if key.is_crd() {
                    self.queue_work(Work::Crd(key.name.clone()));
                }
                let held = super::deletion::finalizers(&object);
                if held.iter().any(|f| f == super::deletion::ORPHAN_FINALIZER) {
                    self.queue_work(Work::Orphan(uid));
                } else if held
                    .iter()
                    .any(|f| f == super::deletion::FOREGROUND_FINALIZER)
                {
                    self.queue_work(Work::Owner(uid.clone()));
                    self.queue_work(Work::Foreground(uid));
                }
            }
        }
    }

    fn replay(&mut self, entry: &Value) {
        let (Some(group), Some(plural), Some(object)) = (
            entry["group"].as_str(),
            entry["plural"].as_str(),
            entry.get("object"),
        ) else {
            return;
        };
        let key = Key {
            group: group.into(),
            plural: plural.into(),
            namespace: meta_str(object, "namespace").unwrap_or_default().into(),
            name: meta_str(object, "name").unwrap_or_default().into(),
        };
        let rv = meta_str(object, "resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        self.rv = self.rv.max(rv).max(entry["rv"].as_u64().unwrap_or(0));
        self.as_written.remove(&key);
        if entry["type"] == "DELETED" {
            let removed = self.drop_object(&key);
            if let Some(old) = removed.filter(|_| group == "apiextensions.k8s.io") {
                self.unregister_crd(&old);
            }
        } else {
            if group == "apiextensions.k8s.io" {
                self.register_crd(object);
            }
            // Restarted, an Event's lease starts over (a real server's
            // survive a restart in etcd; here its time left is not kept).
            self.follow_event_ttl(&key);
            self.keep_object(key, object.clone());
        }
    }

    fn record(&mut self, r: &Resource, type_: &'static str, object: &Value) {
        if let Some(journal) = self.journal.as_mut() {
            use std::io::Write;
            let entry = json!({"rv": self.rv, "type": type_, "group": r.group, "plural": r.plural, "object": object});
            if let Err(e) = writeln!(journal, "{entry}").and_then(|()| journal.sync_data()) {
                tracing::error!("cannot journal a change to the state file: {e}");
            }
        }
        let change = Arc::new(Change {
            rv: self.rv,
            group: r.group.clone(),
            plural: r.plural.clone(),
            namespace: meta_str(object, "namespace")
                .unwrap_or_default()
                .to_string(),
            type_,
            object: object.clone(),
        });
        self.history.push_back(change.clone());
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        let _ = self.changes.send(change);
    }

    /// Forgets the change history, as etcd's compaction does: a watch
    /// resuming from any earlier resourceVersion gets 410 Gone.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    /// True when changes after `rv` are no longer kept (a watch or a list
    /// continued from `rv` must get 410 Gone).
    pub fn expired(&self, rv: u64) -> bool {
        rv < self.compacted
            || self
                .history
                .front()
                .is_some_and(|first| rv + 1 < first.rv && rv < self.rv)
    }

    /// Changes after `rv` for a resource, or `None` if they are no longer kept.
    pub fn changes_since(&self, r: &Resource, rv: u64) -> Option<Vec<Arc<Change>>> {
        let reset = self
            .storage_reset
            .get(&(r.group.clone(), r.plural.clone()))
            .copied()
            .unwrap_or(0);
        if self.expired(rv) || rv < reset {
            return None;
        }
        Some(
            self.history
                .iter()
                .filter(|c| c.rv > rv && c.group == r.group && c.plural == r.plural)
                .cloned()
                .collect(),
        )
    }

    pub(super) fn stamp(&mut self, object: &mut Value) {
        if self.request.dry_run {
            return;
        }
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
    }

    pub fn get(&self, r: &Resource, namespace: &str, name: &str) -> Result<Value, ApiError> {
        self.objects
            .get(&Self::key(r, namespace, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(r, name))
    }

    pub fn list(
        &self,
        r: &Resource,
        namespace: &str,
        labels: &LabelSelector,
        fields: &FieldSelector,
    ) -> Vec<Value> {
        self.list_page(r, namespace, labels, fields, None, usize::MAX)
            .0
    }

    /// Every object of a resource (in one namespace, or all when empty), as
    /// the ADDED events a watch from no resourceVersion starts with.
    pub fn snapshot(&self, r: &Resource, namespace: &str) -> Vec<Arc<Change>> {
        self.list(
            r,
            namespace,
            &LabelSelector::default(),
            &FieldSelector::default(),
        )
        .into_iter()
        .map(|object| {
            Arc::new(Change {
                rv: self.rv,
                group: r.group.clone(),
                plural: r.plural.clone(),
                namespace: meta_str(&object, "namespace")
                    .unwrap_or_default()
                    .to_string(),
                type_: "ADDED",
                object,
            })
        })
        .collect()
    }

    /// One page of a list: at most `limit` matching objects after the
    /// position `after` (namespace, name), in key order, and how many more
    /// match. Only the page is copied, and only the resource's own key range
    /// is read (a page used to copy every match and scan every object).
    pub fn list_page(
        &self,
        r: &Resource,
        namespace: &str,
        labels: &LabelSelector,
        fields: &FieldSelector,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> (Vec<Value>, usize) {
        let position = |namespace: &str, name: &str| Key {
            group: r.group.clone(),
            plural: r.plural.clone(),
            namespace: namespace.into(),
            name: name.into(),
        };
        // A token from another namespace's list resumes nowhere useful:
        // start at this namespace, or past it.
        let start = match after {
            Some((after_namespace, after_name))
                if namespace.is_empty() || after_namespace >= namespace =>
            {
                Bound::Excluded(position(after_namespace, after_name))
            }
            _ => Bound::Included(position(namespace, "")),
        };
        let mut matching = self
            .objects
            .range((start, Bound::Unbounded))
            .take_while(|(k, _)| {
                k.group == r.group
                    && k.plural == r.plural
                    && (namespace.is_empty() || k.namespace == namespace)
            })
            .map(|(_, o)| conversion::served(r, o))
            .filter(|o| labels.matches(o) && fields.matches(o));
        let page: Vec<Value> = matching
            .by_ref()
            .take(limit)
            .map(std::borrow::Cow::into_owned)
            .collect();
        (page, matching.count())
    }

    pub fn create(
        &mut self,
        r: &Resource,
        namespace: &str,
        mut object: Value,
    ) -> Result<Value, ApiError> {
        // The crdHandler refuses before it reads the object.
        if let Some(crd) = &r.crd
            && self.crd_terminating(crd)
        {
            let mut e = ApiError::new(
                405,
                "MethodNotAllowed",
                "create not allowed while custom resource definition is terminating",
            );
            e.details.group = r.group.clone();
            e.details.kind = r.plural.clone();
            return Err(e);
        }
        if !object.get("metadata").is_some_and(Value::is_object) {
            object["metadata"] = json!({});
        }
        let mut name = meta_str(&object, "name").unwrap_or_default().to_string();
        // The name admission sees: names are generated after it.
        let admitted_as = if name.is_empty() {
            meta_str(&object, "generateName")
                .unwrap_or_default()
                .to_string()
        } else {
            name.clone()
        };
        if name.is_empty()
            && let Some(prefix) = meta_str(&object, "generateName").filter(|p| !p.is_empty())
        {
            name = self.generate_name(prefix);
            object["metadata"]["name"] = json!(name);
        }
        if r.namespaced {
            if namespace.is_empty() {
                return Err(ApiError::new(400, "BadRequest", "a namespace is required"));
            }
            if let Some(body_ns) =
                meta_str(&object, "namespace").filter(|n| !n.is_empty() && *n != namespace)
            {
                return Err(ApiError::new(
                    400,
                    "BadRequest",
                    format!(
                        "the namespace of the provided object ({body_ns}) does not match the namespace sent on the request ({namespace})"
                    ),
                ));
            }
            object["metadata"]["namespace"] = json!(namespace);
        } else if let Some(m) = object["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        object["apiVersion"] = json!(r.group_version());
        object["kind"] = json!(r.kind);
        if self.checks {
            let warnings = decoding::decode(r, &mut object, self.request.field_validation)?;
            self.warnings.extend(warnings);
        }
        if !admission::status_on_create(r)
            && let Some(m) = object.as_object_mut()
        {
            // A built-in's strategy resets its status to the empty struct,
            // which Go writes as `status: {}`; a custom resource's is gone.
            if r.crd.is_some() {
                m.remove("status");
            } else {
                m.insert("status".into(), json!({}));
            }
        }
        let ts = kbind_model::time::rfc3339((self.clock)());
        let meta = &mut object["metadata"];
        meta["uid"] = json!(uid(self.rv + 1, (self.clock)()));
        meta["creationTimestamp"] = json!(ts);
        if let Some(m) = meta.as_object_mut() {
            if tracks_generation(r) {
                m.insert("generation".into(), json!(1));
            } else {
                m.remove("generation");
            }
            m.remove("deletionTimestamp");
            m.remove("resourceVersion");
        }
        admission::prepare_create(r, &mut object);
        let errs = self.validate_new(r, &object);
        if !errs.is_empty() {
            return Err(ApiError::invalid(r, &name, errs));
        }
        // The namespace is looked up after validation, as a real server's
        // admission does: a bad object is refused as invalid first.
        if r.namespaced && !self.namespace_exists(namespace) {
            return Err(ApiError::new(
                404,
                "NotFound",
                format!("namespaces \"{namespace}\" not found"),
            )
            .about_kind("namespaces", "", namespace));
        }
        if r.namespaced && self.namespace_terminating(namespace) {
            return Err(ApiError::new(
                403,
                "Forbidden",
                format!("{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated", r.plural),
            )
            .about(r, &name)
            .because(
                FieldError::required(
                    "metadata.namespace",
                    format!("namespace {namespace} is being terminated"),
                )
                .with_kind(ErrorKind::Cause("NamespaceTerminating")),
            ));
        }
        if r.group.is_empty() && r.kind == "Pod" {
            self.admit_pod(namespace, &admitted_as, &mut object)?;
        }
        if r.group.is_empty() && r.kind == "Service" {
            self.allocate_service(r, &name, &mut object)?;
        }
        self.check_pod_security(r, namespace, &name, &object)?;
        let key = Self::key(r, namespace, &name);
        // The RBAC storage checks escalation before it looks for a conflict.
        if let Some(who) = &self.request.requester {
            super::escalation::check(self, who, r, &object, None)?;
        }
        if self.objects.contains_key(&key) {
            let what = if r.group.is_empty() {
                r.plural.clone()
            } else {
                format!("{}.{}", r.plural, r.group)
            };
            return Err(ApiError::new(
                409,
                "AlreadyExists",
                format!("{what} \"{name}\" already exists"),
            )
            .about(r, &name));
        }
        self.check_owner_references(r, &object, None)?;
        self.record_fields(r, None, &mut object, false);
        self.stamp(&mut object);
        Ok(self.put_served(r, key, object, "ADDED"))
    }

    /// apimachinery's SimpleNameGenerator: the prefix cut to 58
    /// characters, then 5 of an alphabet without vowels.
    fn generate_name(&self, prefix: &str) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let prefix: String = prefix.chars().take(MAX_GENERATED_PREFIX).collect();
        // The prefix is part of the seed: two names generated in one write
        // (a pod's and its token volume's) differ.
        let salt = prefix.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let mut seed = (self.rv + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (self.clock)() as u64
            ^ self.objects.len() as u64
            ^ salt;
        let suffix: String = (0..5)
            .map(|_| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                ALPHABET[((seed >> 33) % ALPHABET.len() as u64) as usize] as char
            })
            .collect();
        format!("{prefix}{suffix}")
    }

    /// The admission plugins a pod meets on create: ServiceAccount (the
    /// account must exist; its token is mounted), Priority and
    /// DefaultTolerationSeconds.
    fn admit_pod(
        &mut self,
        namespace: &str,
        admitted_as: &str,
        pod: &mut Value,
    ) -> Result<(), ApiError> {
        let account_name = super::pods::service_account(pod);
        let account = self
            .resource("", "v1", "serviceaccounts")
            .cloned()
            .and_then(|accounts| self.get(&accounts, namespace, &account_name).ok());
        let Some(account) = account else {
            let mut e = ApiError::new(
                403,
                "Forbidden",
                super::pods::missing_account_message(admitted_as, namespace, &account_name),
            );
            e.details.name = admitted_as.to_string();
            e.details.kind = "pods".into();
            return Err(e);
        };
        let volume = self.generate_name("kube-api-access-");
        super::pods::admit(pod, &account, &volume);
        Ok(())
    }

    /// Pod Security admission: a pod that breaks its namespace's enforced
    /// level is refused; one that breaks its warned level, or a Job or
    /// Deployment whose template breaks either, is answered with a warning.
    fn check_pod_security(
        &mut self,
        r: &Resource,
        namespace: &str,
        name: &str,
        object: &Value,
    ) -> Result<(), ApiError> {
        use super::pod_security::{policy, violations, warning};
        let Some(spec) = decoding::pod_spec_pointer(r).and_then(|p| object.pointer(p)) else {
            return Ok(());
        };
        let Some(ns) = self.objects.get(&Key::namespace(namespace)) else {
            return Ok(());
        };
        let enforce = policy(ns, "enforce");
        let warn = policy(ns, "warn");
        let pod = r.kind == "Pod";
        if pod && let Some(refusal) = enforce.as_ref().and_then(|p| violations(p, spec)) {
            let mut e = ApiError::new(
                403,
                "Forbidden",
                format!("pods \"{name}\" is forbidden: {refusal}"),
            );
            e.details.name = name.to_string();
            e.details.kind = "pods".into();
            return Err(e);
        }
        let mut warned: Vec<String> = vec![];
        let asked = if pod { vec![warn] } else { vec![enforce, warn] };
        for p in asked.into_iter().flatten() {
            if let Some(w) = warning(&p, spec)
                && !warned.contains(&w)
            {
                warned.push(w);
            }
        }
        self.warnings.extend(warned);
        Ok(())
    }

    /// The Service allocators: what every other Service holds is taken.
    fn allocate_service(
        &self,
        r: &Resource,
        name: &str,
        object: &mut Value,
    ) -> Result<(), ApiError> {
        let taken = self.service_allocations(None);
        super::service::allocate(object, &taken).map_err(|errs| ApiError::invalid(r, name, errs))
    }

    /// The cluster IPs and node ports every Service holds (but `except`).
    fn service_allocations(&self, except: Option<&Key>) -> super::service::Allocated {
        let mut taken = super::service::Allocated::default();
        let services = self
            .objects
            .iter()
            .filter(|(k, _)| k.group.is_empty() && k.plural == "services" && Some(*k) != except);
        for (_, service) in services {
            taken.add(service);
        }
        taken
    }

    /// The `kubernetes` Service the API server keeps in `default`, pointing
    /// at the port it serves on; made at start, its port mended after a
    /// restart on another one.
    pub fn keep_kubernetes_service(&mut self, port: u16) {
        let Some(r) = self.resource("", "v1", "services").cloned() else {
            return;
        };
        self.keep_own(&r, super::service::kubernetes(port), "/spec/ports");
        self.keep_kubernetes_endpoints(port);
    }

    /// An object the server keeps for itself: made when it is missing, the
    /// value at `pointer` mended when it differs (a restart on another
    /// port).
    pub(super) fn keep_own(&mut self, r: &Resource, wanted: Value, pointer: &str) {
        let namespace = meta_str(&wanted, "namespace")
            .unwrap_or_default()
            .to_string();
        let name = meta_str(&wanted, "name").unwrap_or_default().to_string();
        let key = Self::key(r, &namespace, &name);
        match self.objects.get(&key).cloned() {
            None => {
                let _ = self.create(r, &namespace, wanted);
            }
            Some(mut current) if current.pointer(pointer) != wanted.pointer(pointer) => {
                if let (Some(slot), Some(value)) =
                    (current.pointer_mut(pointer), wanted.pointer(pointer))
                {
                    *slot = value.clone();
                    let _ = self.update(r, &namespace, &name, current, false);
                }
            }
            Some(_) => {}
        }
    }

    fn namespace_exists(&self, namespace: &str) -> bool {
        self.objects.contains_key(&Key::namespace(namespace))
    }

    /// Stores a stamped object, records the change, follows CRDs.
    fn put(&mut self, r: &Resource, key: Key, mut object: Value, type_: &'static str) -> Value {
        let crd = r.kind == "CustomResourceDefinition" && r.group == "apiextensions.k8s.io";
        if crd {
            self.keep_crd_names(&key, &mut object);
        }
        if self.request.dry_run {
            return object;
        }
        let namespace = key.namespace.clone();
        self.as_written.remove(&key);
        let previous = self.keep_object(key.clone(), object.clone());
        self.record(r, type_, &object);
        self.namespace_content_changed(&namespace);
        self.follow_write(&key, &object, type_);
        self.follow_endpoints_controller(&key, &object, previous.as_ref());
        if r.kind == "CustomResourceDefinition" {
            self.register_crd(&object);
            if previous.is_some_and(|p| p.get("spec") != object.get("spec")) {
                let name = meta_str(&object, "name").unwrap_or_default().to_string();
                self.reset_storage(&name);
            }
        }
        if crd {
            // The controllers' own writes follow the client's: the client
            // is answered with the CRD as it wrote it (a new one with no
            // conditions yet), and watchers see the names accepted, then
            // the CRD established, in later MODIFIED events.
            self.crd_queue.name(key);
        }
        object
    }

    /// Stores an object written at `r`'s version: moved to its storage
    /// version first (what the storage's encoder writes), and answered as
    /// read back at `r`'s version.
    fn put_served(
        &mut self,
        r: &Resource,
        key: Key,
        mut object: Value,
        type_: &'static str,
    ) -> Value {
        let written = conversion::to_storage(r, &mut object);
        let stored = self.put(r, key.clone(), object, type_);
        if let Some(written) = written.filter(|_| !self.request.dry_run) {
            self.as_written.insert(key, written);
        }
        conversion::to_served(r, stored)
    }

    /// The server's CA: what the root CA publisher puts in every namespace.
    pub fn set_root_ca(&mut self, pem: &str) {
        self.root_ca = Some(pem.to_string());
        // Namespaces made before the server knew its CA get it now.
        let namespaces: Vec<String> = self
            .objects
            .keys()
            .filter(|k| k.is_namespace())
            .map(|k| k.name.clone())
            .collect();
        for namespace in namespaces {
            self.queue_work(Work::Populate(namespace));
        }
    }

    pub(super) fn root_ca(&self) -> Option<&str> {
        self.root_ca.as_deref()
    }

    /// What the controllers learn from an object a client wrote (`type_`
    /// as its watch event says).
    fn follow_write(&mut self, key: &Key, object: &Value, type_: &str) {
        self.namespace_defaults_changed(key, type_);
        self.check_owners(key, object);
        self.follow_job_ttl(key, object);
        self.follow_job_controller(key, object);
        self.follow_deployment_controller(key, object);
        self.follow_event_ttl(key);
    }

    /// A write the namespace-populating controllers follow: a new
    /// namespace, or a change to what they keep in one.
    fn namespace_defaults_changed(&mut self, key: &Key, type_: &str) {
        if key.is_namespace() && type_ == "ADDED" {
            self.queue_work(Work::Populate(key.name.clone()));
        } else if super::namespace_defaults::kept(&key.group, &key.plural, &key.name) {
            self.queue_work(Work::Populate(key.namespace.clone()));
        }
    }

    /// What wakes the server's controller task: a CRD was queued.
    pub(crate) fn controller_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.crd_queue.signal()
    }

    /// How long the establishing controller waits after a CRD's names are
    /// accepted: none by default (one API server); a real server with
    /// several waits five seconds, during which the kind is served but
    /// not in discovery, so kubectl does not know it.
    pub fn set_establishing_delay(&mut self, delay: std::time::Duration) {
        self.crd_queue.set_establishing_delay(delay);
    }

    /// One pass of the in-server controllers: those that finish deletions
    /// over the work queued before it (`collector.rs`), then the CRD
    /// naming and establishing controllers over the CRDs due at `now` (all
    /// queued ones when `None`), each writing what it changes. Returns when
    /// the next CRD is due to be established.
    pub fn run_controllers(
        &mut self,
        now: Option<std::time::Instant>,
    ) -> Option<std::time::Instant> {
        self.collect(now.unwrap_or_else(std::time::Instant::now));
        let (naming, establishing) = self.crd_queue.take_due(now);
        let crds = self.crd_resource()?;
        for key in naming {
            let Some(before) = self.objects.get(&key).cloned() else {
                continue;
            };
            let mut next = before.clone();
            self.name_crd(&key, &mut next);
            if next["status"] != before["status"] {
                self.stamp(&mut next);
                self.replace(&crds, key.clone(), next.clone());
                self.register_crd(&next);
            }
            if super::crd_names::all_accepted(&next) && !super::crd_names::established(&next) {
                self.crd_queue.establish(key);
            }
        }
        for key in establishing {
            let Some(mut next) = self.objects.get(&key).cloned() else {
                continue;
            };
            if super::crd_names::establish(&mut next, &self.now()) {
                self.stamp(&mut next);
                self.replace(&crds, key, next.clone());
                self.register_crd(&next);
            }
        }
        [self.crd_queue.next_due(), self.collector.next_due()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs the in-server controllers until they have nothing left to do: for a
    /// store served by no server (tests, tools), where no task runs them.
    pub fn settle(&mut self) {
        while !self.crd_queue.is_empty() || !self.collector.is_empty() {
            self.run_controllers(None);
        }
    }

    /// One pass of the controllers that finish deletions over what was
    /// queued before it.
    fn collect(&mut self, now: std::time::Instant) {
        for work in self.collector.take(now) {
            match work {
                Work::Owner(uid) => {
                    for (res, k) in self.dependents(&uid) {
                        self.collect_dependent(&res, &k);
                    }
                }
                Work::Dependent(key) => {
                    if let Some(r) = self.resource_of(&key) {
                        self.collect_dependent(&r, &key);
                    }
                }
                Work::Foreground(uid) => self.finish_foreground(&uid),
                Work::Orphan(uid) => self.finish_orphan(&uid),
                Work::Namespace(name) => self.namespace_pass(&name),
                Work::Crd(name) => self.crd_pass(&name),
                Work::Populate(namespace) => self.populate(&namespace),
                Work::Job(key) => self.sync_job(&key),
                Work::OrphanPod(key) => self.sync_orphan_pod(&key),
                Work::JobTtl(key) => self.expire_job(&key),
                Work::Deployment(key) => self.sync_deployment(&key),
                Work::ReplicaSet(key) => self.sync_replica_set(&key),
                Work::Endpoints(key) => self.sync_endpoints(&key),
                Work::EventTtl(key) => self.expire_event(&key),
            }
        }
    }

    /// A CRD's spec changed: as the real server's `crdHandler`, the kind's
    /// storage is rebuilt, so what is stored is read through the new
    /// schema (pruned and defaulted, as its storage decoder does on every
    /// read; nothing is written, no resourceVersion moves), its watches
    /// end and a watch from before now is 410 Gone: clients list again.
    fn reset_storage(&mut self, crd: &str) {
        let Some(r) = self
            .resources
            .iter()
            .find(|r| r.crd.as_deref() == Some(crd))
            .cloned()
        else {
            return;
        };
        self.coerce_stored(crd);
        self.storage_reset
            .insert((r.group.clone(), r.plural.clone()), self.rv);
        let _ = self.changes.send(Arc::new(Change {
            rv: self.rv,
            group: r.group,
            plural: r.plural,
            namespace: String::new(),
            type_: STORAGE_RESET,
            object: Value::Null,
        }));
    }

    /// Reads every stored object of a CRD's kind through the schema of the
    /// version it is stored at (pruning, then defaults), in place.
    fn coerce_stored(&mut self, crd: &str) {
        let Some((group, plural, Some(storage))) = self
            .resources
            .iter()
            .find(|r| r.crd.as_deref() == Some(crd))
            .map(|r| (r.group.clone(), r.plural.clone(), r.storage.clone()))
        else {
            return;
        };
        for (key, object) in self
            .objects
            .iter_mut()
            .filter(|(k, _)| k.group == group && k.plural == plural)
        {
            // Read from what was written, not from an earlier reading: a
            // field one schema pruned comes back under a later one that
            // has it again.
            let written = self
                .as_written
                .get(key)
                .cloned()
                .unwrap_or_else(|| object.clone());
            let Some(read) = conversion::read_stored(&storage, &written) else {
                continue;
            };
            if read == written {
                self.as_written.remove(key);
            } else {
                self.as_written.insert(key.clone(), written);
            }
            *object = read;
        }
    }

    /// PUT semantics: the status split for kinds with a status subresource,
    /// optimistic concurrency on `metadata.resourceVersion`.
    pub fn update(
        &mut self,
        r: &Resource,
        namespace: &str,
        name: &str,
        mut object: Value,
        status_only: bool,
    ) -> Result<Value, ApiError> {
        let key = Self::key(r, namespace, name);
        let current = self
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(r, name))?;
        // The update is made at the request's version, from the stored
        // object read at it; what is stored is kept to compare with only
        // when the two differ.
        let stored = conversion::moves(r).then(|| current.clone());
        let current = conversion::to_served(r, current);
        if let Some(body_name) = meta_str(&object, "name").filter(|n| !n.is_empty() && *n != name) {
            return Err(ApiError::new(
                400,
                "BadRequest",
                format!(
                    "the name of the object ({body_name}) does not match the name on the URL ({name})"
                ),
            ));
        }
        let stale = meta_str(&object, "resourceVersion")
            .filter(|v| !v.is_empty())
            .is_some_and(|rv| Some(rv) != meta_str(&current, "resourceVersion"));
        {
            if stale {
                return Err(ApiError::new(
                    409,
                    "Conflict",
                    format!(
                        "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                        if r.group.is_empty() { r.plural.clone() } else { format!("{}.{}", r.plural, r.group) }
                    ),
                )
                .about(r, name));
            }
        }
        let mut next = if status_only {
            let mut next = current.clone();
            next["status"] = object.get("status").cloned().unwrap_or(Value::Null);
            next
        } else {
            if r.status_subresource {
                match current.get("status") {
                    Some(s) => object["status"] = s.clone(),
                    None => {
                        if let Some(m) = object.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            // Server-owned metadata stays.
            for field in [
                "uid",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "namespace",
                "name",
            ] {
                match current["metadata"].get(field) {
                    Some(v) => object["metadata"][field] = v.clone(),
                    None => {
                        if let Some(m) = object["metadata"].as_object_mut() {
                            m.remove(field);
                        }
                    }
                }
            }
            object["apiVersion"] = current["apiVersion"].clone();
            object["kind"] = current["kind"].clone();
            object
        };
        if let Some(m) = next
            .as_object_mut()
            .filter(|m| m.get("status").is_some_and(Value::is_null))
        {
            m.remove("status");
        }
        // The version the update starts from (it matched, or none was
        // named): an update that changes nothing is no write, and a dry
        // run answers with the version it was made against, as etcd's
        // GuaranteedUpdate leaves both.
        if let Some(rv) = current.pointer("/metadata/resourceVersion") {
            next["metadata"]["resourceVersion"] = rv.clone();
        }
        if self.checks {
            let warnings = decoding::decode(r, &mut next, self.request.field_validation)?;
            self.warnings.extend(warnings);
        }
        admission::prepare_update(r, &mut next, &current);
        if r.group.is_empty() && r.kind == "Service" && !status_only {
            let taken = self.service_allocations(Some(&key));
            super::service::allocate_on_update(&mut next, &taken)
                .map_err(|errs| ApiError::invalid(r, name, errs))?;
        }
        let mut errs = vec![];
        if self.checks {
            let write = if status_only {
                admission::Write::Status(&current)
            } else {
                admission::Write::Update(&current)
            };
            errs = admission::validate_as(r, &next, write, &mut self.warnings);
            errs.extend(admission::validate_update(r, &next, &current, status_only));
        }
        if !errs.is_empty() {
            return Err(ApiError::invalid(r, name, errs));
        }
        // An update that leaves managedFields out keeps them, as on a real
        // server (clients reset them only by sending a list).
        if next.pointer("/metadata/managedFields").is_none()
            && let Some(m) = current.pointer("/metadata/managedFields")
        {
            next["metadata"]["managedFields"] = m.clone();
        }
        if next == current {
            return Ok(current);
        }
        // What would be stored is what it stores now: a field only the
        // request's version has changed, and storage drops it.
        if let Some(stored) = &stored
            && conversion::stored(r, &next).as_ref() == stored
        {
            return Ok(current);
        }
        self.check_owner_references(r, &next, Some(&current))?;
        if let Some(who) = &self.request.requester {
            super::escalation::check(self, who, r, &next, Some(&current))?;
        }
        self.record_fields(r, Some(&current), &mut next, status_only);
        if generation_changes(r, &current, &next) {
            let generation = current
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            next["metadata"]["generation"] = json!(generation + 1);
        }
        self.stamp(&mut next);
        let namespace_held = next["spec"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
            && r.group.is_empty()
            && r.kind == "Namespace";
        if next.pointer("/metadata/deletionTimestamp").is_some()
            && !has_finalizers(&next)
            && !namespace_held
        {
            self.remove(r, key, conversion::stored(r, &next).into_owned());
            return Ok(next);
        }
        Ok(self.put_served(r, key, next, "MODIFIED"))
    }

    /// Applies a patch function to the current object, then updates.
    pub fn patch(
        &mut self,
        r: &Resource,
        namespace: &str,
        name: &str,
        status_only: bool,
        apply: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Value, ApiError> {
        let mut object = conversion::to_served(r, self.get(r, namespace, name)?);
        let rv_before = meta_str(&object, "resourceVersion").map(str::to_string);
        apply(&mut object)?;
        // A patch only conflicts when it names a resourceVersion itself.
        let unchanged = meta_str(&object, "resourceVersion").map(str::to_string) == rv_before;
        if let Some(m) = object["metadata"].as_object_mut().filter(|_| unchanged) {
            m.remove("resourceVersion");
        }
        self.update(r, namespace, name, object, status_only)
    }

    pub fn merge(
        &mut self,
        r: &Resource,
        namespace: &str,
        name: &str,
        patch: &Value,
        status_only: bool,
    ) -> Result<Value, ApiError> {
        self.patch(r, namespace, name, status_only, |o| {
            merge_patch(o, patch);
            Ok(())
        })
    }

    /// DELETE with the kind's default options.
    pub fn delete(&mut self, r: &Resource, namespace: &str, name: &str) -> Result<Value, ApiError> {
        self.delete_with(r, namespace, name, &DeleteOptions::default())
    }

    /// A store that neither decodes nor validates what it is given: the
    /// baseline `benches/apiserver_load.rs` measures the checks against.
    /// Not a mode of `kbind sandbox`.
    pub fn without_checks() -> Self {
        let mut store = Self::new();
        store.checks = false;
        store
    }

    fn validate_new(&mut self, r: &Resource, object: &Value) -> Vec<super::validation::FieldError> {
        if !self.checks {
            return vec![];
        }
        let mut errs =
            admission::validate_as(r, object, admission::Write::Create, &mut self.warnings);
        errs.extend(admission::validate_create(r, object));
        errs
    }

    pub(super) fn key_of(&self, r: &Resource, namespace: &str, name: &str) -> Key {
        Self::key(r, namespace, name)
    }

    pub(super) fn objects_get(&self, key: &Key) -> Option<Value> {
        self.objects.get(key).cloned()
    }

    pub(super) fn objects_ref(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Stores `object` at `key`, keeping the owner index in step.
    fn keep_object(&mut self, key: Key, object: Value) -> Option<Value> {
        let previous = self.objects.get(&key);
        self.owners.stored(&key, &object, previous);
        self.objects.insert(key, object)
    }

    /// Removes what `key` holds, keeping the owner index in step.
    fn drop_object(&mut self, key: &Key) -> Option<Value> {
        let removed = self.objects.remove(key)?;
        self.owners.removed(key, &removed);
        Some(removed)
    }

    /// The key of the object whose uid is `uid`.
    pub(super) fn key_of_uid(&self, uid: &str) -> Option<Key> {
        self.owners.with_uid(uid).cloned()
    }

    /// The keys of the objects naming `uid` as an owner.
    pub(super) fn dependent_keys(&self, uid: &str) -> Vec<Key> {
        self.owners.dependents(uid)
    }

    pub(super) fn recorded_event(&self, correlated: &str) -> Option<Key> {
        self.recorded_events.get(correlated).cloned()
    }

    /// Remembers the Event written for `correlated`; a full memory starts
    /// afresh (the recorder's cache is bounded).
    pub(super) fn remember_event(&mut self, correlated: String, key: Key, bound: usize) {
        if self.recorded_events.len() >= bound {
            self.recorded_events.clear();
        }
        self.recorded_events.insert(correlated, key);
    }

    pub(super) fn objects_iter(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.objects.iter()
    }

    /// One object by group, plural, namespace and name, unparsed.
    pub(super) fn find(
        &self,
        group: &str,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Option<&Value> {
        self.objects.get(&Key {
            group: group.into(),
            plural: plural.into(),
            namespace: namespace.into(),
            name: name.into(),
        })
    }

    /// Every object of a group and plural in one namespace ("" for
    /// cluster-scoped kinds), by reference: RBAC reads every binding on
    /// every request and copies none.
    pub(super) fn all<'a>(
        &'a self,
        group: &'a str,
        plural: &'a str,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        let start = Key {
            group: group.into(),
            plural: plural.into(),
            namespace: namespace.into(),
            name: String::new(),
        };
        self.objects
            .range(start..)
            .take_while(move |(k, _)| {
                k.group == group && k.plural == plural && k.namespace == namespace
            })
            .map(|(_, o)| o)
    }

    /// The served resource an object is stored under: its storage
    /// version where that is served (the controllers here then read and
    /// write what is stored as it is), else the first served.
    pub(super) fn resource_of(&self, key: &Key) -> Option<Resource> {
        let mut served = self
            .resources
            .iter()
            .filter(|res| res.group == key.group && res.plural == key.plural);
        let first = served.clone().next();
        served
            .find(|res| {
                res.storage
                    .as_ref()
                    .is_some_and(|s| s.version == res.version)
            })
            .or(first)
            .cloned()
    }

    pub(super) fn now(&self) -> String {
        kbind_model::time::rfc3339((self.clock)())
    }

    pub(super) fn is_dry_run(&self) -> bool {
        self.request.dry_run
    }

    /// Runs `f` as the request `request` describes (dry run, field
    /// validation, who writes and who asks), and returns what it answered
    /// with the warnings decoding gave.
    pub(super) fn serving<T>(
        &mut self,
        request: RequestContext,
        f: impl FnOnce(&mut Self) -> T,
    ) -> (T, Vec<String>) {
        self.request = request;
        self.warnings.clear();
        let out = f(self);
        self.request = RequestContext::default();
        (out, std::mem::take(&mut self.warnings))
    }

    /// OwnerReferencesPermissionEnforcement: changing an object's owner
    /// references needs `delete` on the object, and setting
    /// `blockOwnerDeletion` needs `update` on the owner's `finalizers`.
    fn check_owner_references(
        &self,
        r: &Resource,
        object: &Value,
        current: Option<&Value>,
    ) -> Result<(), ApiError> {
        let Some(who) = self
            .request
            .requester
            .as_ref()
            .filter(|w| !w.is_superuser())
        else {
            return Ok(());
        };
        let refs = |o: Option<&Value>| -> Vec<Value> {
            o.and_then(|o| o.pointer("/metadata/ownerReferences"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let (new, old) = (refs(Some(object)), refs(current));
        if new == old {
            return Ok(());
        }
        let namespace = meta_str(object, "namespace").unwrap_or_default();
        let name = meta_str(object, "name").unwrap_or_default();
        let refused = |why: String| {
            let what = if r.group.is_empty() {
                r.plural.clone()
            } else {
                format!("{}.{}", r.plural, r.group)
            };
            ApiError::new(
                403,
                "Forbidden",
                format!("{what} \"{name}\" is forbidden: {why}"),
            )
            .about(r, name)
        };
        let may =
            |verb: &str, group: &str, resource: &str, sub: Option<&str>, ns: &str, n: &str| {
                rbac::allowed(
                    self,
                    who,
                    &rbac::Attributes {
                        verb,
                        group,
                        resource,
                        subresource: sub,
                        namespace: ns,
                        name: Some(n),
                    },
                )
            };
        if !may("delete", &r.group, &r.plural, None, namespace, name) {
            return Err(refused(
                "cannot set an ownerRef on a resource you can't delete: , <nil>".into(),
            ));
        }
        let blocking = |o: &Value| o["blockOwnerDeletion"] == json!(true);
        for owner in new
            .iter()
            .filter(|o| blocking(o) && !old.iter().any(|p| p == *o && blocking(p)))
        {
            let api_version = owner["apiVersion"].as_str().unwrap_or_default();
            let kind = owner["kind"].as_str().unwrap_or_default();
            let owner_name = owner["name"].as_str().unwrap_or_default();
            let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
            let Some(owner_resource) = self.resource_of_kind(api_version, kind) else {
                return Err(refused(format!(
                    "cannot set blockOwnerDeletion in this case because cannot find RESTMapping for APIVersion {api_version} Kind {kind}"
                )));
            };
            let owner_ns = if owner_resource.namespaced {
                namespace
            } else {
                ""
            };
            if !may(
                "update",
                group,
                &owner_resource.plural,
                Some("finalizers"),
                owner_ns,
                owner_name,
            ) {
                return Err(refused(format!(
                    "cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on: User \"{}\" cannot update resource \"{}/finalizers\" in API group \"{group}\", {owner}",
                    who.user(),
                    owner_resource.plural
                )));
            }
        }
        Ok(())
    }

    /// Field ownership after a write that is not an apply.
    fn record_fields(
        &self,
        r: &Resource,
        before: Option<&Value>,
        after: &mut Value,
        status_only: bool,
    ) {
        if let Some(m) = self.request.manager.as_ref().filter(|m| !m.apply) {
            managed::record_update(
                before,
                after,
                super::list_types::Shape::of(r),
                &m.name,
                &self.now(),
                status_only.then_some("status"),
            );
        }
    }

    /// Stores a changed object (already stamped) and tells watches.
    pub(super) fn replace(&mut self, r: &Resource, key: Key, object: Value) {
        if self.request.dry_run {
            return;
        }
        let namespace = key.namespace.clone();
        self.as_written.remove(&key);
        self.namespace_defaults_changed(&key, "MODIFIED");
        // A pod marked for deletion (or bound) is news to its Job.
        self.follow_job_controller(&key, &object);
        self.follow_deployment_controller(&key, &object);
        let previous = self.objects_get(&key);
        self.follow_endpoints_controller(&key, &object, previous.as_ref());
        self.follow_event_ttl(&key);
        self.keep_object(key, object.clone());
        self.record(r, "MODIFIED", &object);
        self.namespace_content_changed(&namespace);
    }

    /// Something in `namespace` was written or went: a terminating
    /// namespace's controller looks again (to report what is left, or to
    /// finalize it).
    fn namespace_content_changed(&mut self, namespace: &str) {
        if !namespace.is_empty() && self.namespace_terminating(namespace) {
            self.queue_work(Work::Namespace(namespace.to_string()));
        }
    }

    /// The collector's graph learns of every object a client writes: one
    /// whose owner reference finds no owner is queued for collection.
    fn check_owners(&mut self, key: &Key, object: &Value) {
        let Some(references) = object["metadata"]["ownerReferences"].as_array() else {
            return;
        };
        let dangling = references
            .iter()
            .any(|reference| matches!(self.owner(key, reference), super::deletion::Owner::Absent));
        if dangling {
            self.queue_work(Work::Dependent(key.clone()));
        }
    }

    pub(super) fn now_millis(&self) -> i64 {
        (self.clock)()
    }

    /// Work for the controllers, queued at `at` (`AddAfter`).
    pub(super) fn queue_work_at(&mut self, work: Work, at: std::time::Instant) {
        if !self.request.dry_run {
            self.collector.queue_at(work, at);
        }
    }

    /// Work for the controllers that finish deletions (`collector.rs`).
    pub(super) fn queue_work(&mut self, work: Work) {
        if !self.request.dry_run {
            self.collector.queue(work);
        }
    }

    pub(super) fn remove(&mut self, r: &Resource, key: Key, object: Value) {
        if self.request.dry_run {
            return;
        }
        self.drop_object(&key);
        self.as_written.remove(&key);
        self.record(r, "DELETED", &object);
        self.job_backoffs.forget(&key);
        self.forget_event_lease(&key);
        self.follow_job_controller(&key, &object);
        self.follow_deployment_controller(&key, &object);
        self.follow_endpoints_controller(&key, &object, None);
        self.namespace_defaults_changed(&key, "DELETED");
        let uid = meta_str(&object, "uid").unwrap_or_default().to_string();
        // Garbage collection of the owner's dependents, in the background
        // (an orphaning or foreground deletion has dealt with them before
        // the owner goes).
        self.queue_work(Work::Owner(uid));
        if r.kind == "CustomResourceDefinition" {
            self.unregister_crd(&object);
            if let Some(group) = object.pointer("/spec/group").and_then(Value::as_str) {
                self.rename_group(group);
            }
        }
        // Owners waiting in the foreground for this dependent.
        let owners: Vec<String> = object
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o["uid"].as_str().map(str::to_string))
            .collect();
        for owner in owners {
            self.queue_work(Work::Foreground(owner));
        }
        self.namespace_content_changed(&key.namespace);
        if let Some(crd) = r.crd.as_deref().filter(|crd| self.crd_terminating(crd)) {
            self.queue_work(Work::Crd(crd.to_string()));
        }
    }

    /// A CRD written without its names and conditions keeps the stored
    /// ones: they are the controllers' (the strategy keeps the status).
    fn keep_crd_names(&self, key: &Key, crd: &mut Value) {
        if let Some(before) = self.objects.get(key) {
            for field in ["acceptedNames", "conditions"] {
                if crd["status"].get(field).is_none()
                    && let Some(held) = before["status"].get(field)
                {
                    crd["status"][field] = held.clone();
                }
            }
        }
    }

    /// The naming and establishing controllers' decision on a CRD: its
    /// names against the other CRDs of its group.
    fn name_crd(&self, key: &Key, crd: &mut Value) {
        let others: Vec<&Value> = self
            .objects
            .iter()
            .filter(|(k, _)| k.is_crd() && k.name != key.name)
            .map(|(_, o)| o)
            .collect();
        super::crd_names::accept(crd, &others, &self.now());
    }

    /// A CRD left its group: the others it kept from their names get them
    /// now (the real naming controller requeues the group).
    fn rename_group(&mut self, group: &str) {
        let waiting: Vec<Key> = self
            .objects
            .iter()
            .filter(|(k, o)| {
                k.is_crd()
                    && o.pointer("/spec/group").and_then(Value::as_str) == Some(group)
                    && !super::crd_names::all_accepted(o)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in waiting {
            self.crd_queue.name(key);
        }
    }

    /// The CustomResourceDefinition resource itself.
    pub(super) fn crd_resource(&self) -> Option<Resource> {
        self.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .cloned()
    }

    fn register_crd(&mut self, crd: &Value) {
        let name = meta_str(crd, "name").unwrap_or_default().to_string();
        self.resources
            .retain(|r| r.crd.as_deref() != Some(name.as_str()));
        if super::crd_names::served(crd) {
            self.resources.extend(registry::from_crd(crd));
        }
    }

    fn unregister_crd(&mut self, crd: &Value) {
        let name = meta_str(crd, "name").unwrap_or_default().to_string();
        let gone: Vec<Resource> = self
            .resources
            .iter()
            .filter(|r| r.crd.as_deref() == Some(name.as_str()))
            .cloned()
            .collect();
        for r in &gone {
            let keys: Vec<Key> = self
                .objects
                .keys()
                .filter(|k| k.group == r.group && k.plural == r.plural)
                .cloned()
                .collect();
            for k in keys {
                self.as_written.remove(&k);
                if let Some(o) = self.drop_object(&k) {
                    self.rv += 1;
                    self.record(r, "DELETED", &o);
                }
            }
        }
        self.resources
            .retain(|r| r.crd.as_deref() != Some(name.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configmaps(store: &ObjectStore) -> Resource {
        store.resource("", "v1", "configmaps").cloned().unwrap()
    }

    fn cm(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "b"}})
    }

    fn names(store: &ObjectStore, r: &Resource, ns: &str) -> Vec<String> {
        store
            .list(r, ns, &LabelSelector::default(), &FieldSelector::default())
            .iter()
            .map(|o| meta_str(o, "name").unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn a_node_is_registered_with_its_status_which_only_status_writes_change() {
        let mut store = ObjectStore::new();
        let nodes = store.resource("", "v1", "nodes").cloned().unwrap();
        let ready = |status: &str| {
            json!({"conditions": [{"type": "Ready", "status": status}],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]})
        };
        let created = store
            .create(
                &nodes,
                "",
                json!({"metadata": {"name": "n1"}, "spec": {}, "status": ready("True")}),
            )
            .unwrap();
        assert_eq!(created["status"]["conditions"][0]["status"], "True");
        let mut edited = created.clone();
        edited["spec"]["unschedulable"] = json!(true);
        edited["status"] = ready("False");
        let updated = store.update(&nodes, "", "n1", edited, false).unwrap();
        assert_eq!(
            (
                &updated["spec"]["unschedulable"],
                &updated["status"]["conditions"][0]["status"]
            ),
            (&json!(true), &json!("True")),
            "a spec write keeps the status"
        );
        let mut reported = updated.clone();
        reported["status"] = ready("False");
        let reported = store.update(&nodes, "", "n1", reported, true).unwrap();
        assert_eq!(reported["status"]["conditions"][0]["status"], "False");
        let unschedulable =
            FieldSelector::parse("spec.unschedulable=true", &nodes.selectable_fields).unwrap();
        assert_eq!(
            store
                .list(&nodes, "", &LabelSelector::default(), &unschedulable)
                .len(),
            1
        );
    }

    #[test]
    fn pages_walk_one_resource_in_key_order_and_count_what_is_left() {
        let mut store = ObjectStore::new();
        let r = configmaps(&store);
        let ns = store.resource("", "v1", "namespaces").cloned().unwrap();
        store
            .create(&ns, "", json!({"metadata": {"name": "team-a"}}))
            .unwrap();
        for (namespace, name) in [
            ("team-a", "x"),
            ("default", "c"),
            ("default", "a"),
            ("team-a", "y"),
            ("default", "b"),
        ] {
            store.create(&r, namespace, cm(name)).unwrap();
        }
        let all = (LabelSelector::default(), FieldSelector::default());
        let names = |page: &[Value]| -> Vec<String> {
            page.iter()
                .map(|o| {
                    format!(
                        "{}/{}",
                        meta_str(o, "namespace").unwrap_or_default(),
                        meta_str(o, "name").unwrap_or_default()
                    )
                })
                .collect()
        };

        let (page, left) = store.list_page(&r, "", &all.0, &all.1, None, 2);
        assert_eq!(names(&page), ["default/a", "default/b"]);
        assert_eq!(left, 3);
        let (page, left) = store.list_page(&r, "", &all.0, &all.1, Some(("default", "b")), 2);
        assert_eq!(names(&page), ["default/c", "team-a/x"]);
        assert_eq!(left, 1);
        let (page, left) = store.list_page(&r, "", &all.0, &all.1, Some(("team-a", "x")), 2);
        assert_eq!(names(&page), ["team-a/y"]);
        assert_eq!(left, 0);

        // One namespace: other namespaces and other resources stay out,
        // even with a token from elsewhere.
        let (page, left) = store.list_page(&r, "team-a", &all.0, &all.1, None, 10);
        assert_eq!(
            (names(&page), left),
            (vec!["team-a/x".into(), "team-a/y".into()], 0)
        );
        let (page, _) = store.list_page(&r, "team-a", &all.0, &all.1, Some(("default", "z")), 10);
        assert_eq!(names(&page), ["team-a/x", "team-a/y"]);
        let (page, _) = store.list_page(&r, "default", &all.0, &all.1, Some(("team-a", "x")), 10);
        assert!(page.is_empty());
        assert!(
            store
                .list(&ns, "", &all.0, &all.1)
                .iter()
                .all(|o| o["kind"] == "Namespace")
        );
    }

    #[test]
    fn generate_name_makes_a_unique_name_with_the_prefix() {
        let mut store = ObjectStore::new();
        let r = configmaps(&store);
        let a = store
            .create(
                &r,
                "default",
                json!({"metadata": {"generateName": "kbind-"}}),
            )
            .unwrap();
        let b = store
            .create(
                &r,
                "default",
                json!({"metadata": {"generateName": "kbind-"}}),
            )
            .unwrap();
        let (a, b) = (meta_str(&a, "name").unwrap(), meta_str(&b, "name").unwrap());
        assert!(
            a.starts_with("kbind-") && b.starts_with("kbind-") && a != b,
            "{a} {b}"
        );
    }

    #[test]
    fn uids_are_distinct_version_4_uuids_as_a_real_server_makes() {
        let mut store = ObjectStore::new();
        let r = configmaps(&store);
        let uids: std::collections::BTreeSet<String> = (0..200)
            .map(|i| {
                let o = store
                    .create(
                        &r,
                        "default",
                        json!({"metadata": {"name": format!("c{i}")}}),
                    )
                    .unwrap();
                meta_str(&o, "uid").unwrap().to_string()
            })
            .collect();
        assert_eq!(uids.len(), 200);
        for uid in &uids {
            let groups: Vec<&str> = uid.split('-').collect();
            let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            assert_eq!(lengths, [8, 4, 4, 4, 12], "{uid}");
            assert!(
                uid.chars()
                    .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
                "{uid}"
            );
            assert!(groups[2].starts_with('4'), "version 4: {uid}");
            assert!(
                matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
                "RFC 4122 variant: {uid}"
            );
        }
    }

    /// A ConfigMap `name` owned by `owner` (as the server answered it).
    fn dependent_of(name: &str, owner: &Value) -> Value {
        let mut dependent = cm(name);
        dependent["metadata"]["ownerReferences"] = json!([{"apiVersion": owner["apiVersion"],
            "kind": owner["kind"], "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}]);
        dependent
    }

    #[test]
    fn deleting_an_owner_collects_its_dependents() {
        let mut store = ObjectStore::new();
        let r = configmaps(&store);
        let owner = store.create(&r, "default", cm("owner")).unwrap();
        store
            .create(&r, "default", dependent_of("dependent", &owner))
            .unwrap();
        store.create(&r, "default", cm("unrelated")).unwrap();
        store.delete(&r, "default", "owner").unwrap();
        assert_eq!(
            names(&store, &r, "default"),
            ["dependent", "unrelated"],
            "the collector acts after the owner's DELETE, not in it"
        );
        store.settle();
        assert_eq!(names(&store, &r, "default"), ["unrelated"]);
    }

    #[test]
    fn an_object_being_deleted_may_lose_finalizers_but_not_gain_one() {
        let mut store = ObjectStore::new();
        let r = configmaps(&store);
        let mut held = cm("held");
        held["metadata"]["finalizers"] = json!(["example.com/a"]);
        store.create(&r, "default", held).unwrap();
        store.delete(&r, "default", "held").unwrap();
        let refused = store
            .merge(
                &r,
                "default",
                "held",
                &json!({"metadata": {"finalizers": ["example.com/a", "example.com/c", "example.com/b"]}}),
                false,
            )
            .unwrap_err();
        assert_eq!(refused.code, 422);
        assert!(
            refused.message.ends_with(r#"metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"example.com/b", "example.com/c"}"#),
            "{}",
            refused.message
        );
        store
            .merge(
                &r,
                "default",
                "held",
                &json!({"metadata": {"finalizers": null}}),
                false,
            )
            .unwrap();
        assert!(
            store.get(&r, "default", "held").is_err(),
            "gone with its last finalizer"
        );
    }

    /// The collector finds an owner by kind, name and namespace, then uid:
    /// a reference that finds none makes its object garbage at once.
    #[test]
    fn an_owner_reference_that_finds_no_owner_is_collected() {
        let mut store = ObjectStore::new();
        let r = configmaps(&store);
        let owner = store.create(&r, "default", cm("owner")).unwrap();
        let uid = owner["metadata"]["uid"].clone();
        let owned_by = |name: &str, reference: Value| {
            let mut o = cm(name);
            o["metadata"]["ownerReferences"] = json!([reference]);
            o
        };
        let cases = [
            (
                "right",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}),
            ),
            (
                "stale-uid",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "0b8f0a4e-0000-4000-8000-000000000000"}),
            ),
            (
                "wrong-name",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "other", "uid": uid}),
            ),
            (
                "wrong-kind",
                json!({"apiVersion": "v1", "kind": "Secret", "name": "owner", "uid": uid}),
            ),
            (
                "unserved-kind",
                json!({"apiVersion": "example.com/v1", "kind": "Widget", "name": "owner", "uid": uid}),
            ),
        ];
        for (name, reference) in cases {
            store
                .create(&r, "default", owned_by(name, reference))
                .unwrap();
        }
        store.create(&r, "other", cm("x")).unwrap_err();
        let namespaces = store.resource("", "v1", "namespaces").cloned().unwrap();
        store
            .create(&namespaces, "", json!({"metadata": {"name": "team-a"}}))
            .unwrap();
        store
            .create(
                &r,
                "team-a",
                owned_by(
                    "elsewhere",
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}),
                ),
            )
            .unwrap();
        // A cluster-scoped object cannot be owned by a namespaced one.
        let mut cluster_scoped = json!({"metadata": {"name": "team-b", "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]}});
        store
            .create(&namespaces, "", cluster_scoped.take())
            .unwrap();
        store.settle();
        assert_eq!(
            names(&store, &r, "default"),
            ["owner", "right", "unserved-kind"]
        );
        assert!(
            names(&store, &r, "team-a").is_empty(),
            "an owner is looked for in its dependent's namespace"
        );
        assert!(store.get(&namespaces, "", "team-b").is_err());
    }

    #[test]
    fn deleting_a_namespace_deletes_what_is_in_it() {
        let mut store = ObjectStore::new();
        let ns = store.resource("", "v1", "namespaces").cloned().unwrap();
        let r = configmaps(&store);
        store
            .create(&ns, "", json!({"metadata": {"name": "team-a"}}))
            .unwrap();
        store.create(&r, "team-a", cm("x")).unwrap();
        store.create(&r, "default", cm("y")).unwrap();
        assert_eq!(store.create(&r, "nowhere", cm("z")).unwrap_err().code, 404);
        store.delete(&ns, "", "team-a").unwrap();
        assert_eq!(
            names(&store, &r, "team-a"),
            ["x"],
            "the namespace controller acts after the namespace's DELETE"
        );
        store.settle();
        assert!(names(&store, &r, "team-a").is_empty());
        assert!(store.get(&ns, "", "team-a").is_err(), "finalized and gone");
        assert_eq!(names(&store, &r, "default"), ["y"]);
    }

    #[test]
    fn a_crd_whose_schema_changes_serves_its_objects_through_the_new_one() {
        let crds = ObjectStore::new()
            .resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .cloned()
            .unwrap();
        let crd = |spec_properties: Value| {
            json!({"metadata": {"name": "widgets.example.com"}, "spec": {
                "group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": spec_properties}}}}}]}})
        };
        let with_old = || json!({"size": {"type": "string"}, "old": {"type": "string"}});
        let set_schema = |store: &mut ObjectStore, spec_properties: Value| {
            let mut next = store.get(&crds, "", "widgets.example.com").unwrap();
            next["spec"] = crd(spec_properties)["spec"].clone();
            store
                .update(&crds, "", "widgets.example.com", next, false)
                .unwrap();
        };
        // The schema gains a defaulted `colour` and loses `old`.
        let add_colour = |store: &mut ObjectStore| {
            set_schema(
                store,
                json!({"size": {"type": "string"}, "colour": {"type": "string", "default": "blue"}}),
            )
        };
        let widgets = |store: &ObjectStore| {
            store
                .resource("example.com", "v1", "widgets")
                .cloned()
                .unwrap()
        };
        // A store holding the CRD and one widget, `w`, with this spec.
        let with_widget = |mut store: ObjectStore, spec_properties: Value, spec: Value| {
            store.create(&crds, "", crd(spec_properties)).unwrap();
            store.settle();
            let created = store
                .create(
                    &widgets(&store),
                    "default",
                    json!({"apiVersion": "example.com/v1", "kind": "Widget",
                    "metadata": {"name": "w"}, "spec": spec}),
                )
                .unwrap();
            (store, created)
        };
        let spec_of_w = |store: &ObjectStore| {
            store.get(&widgets(store), "default", "w").unwrap()["spec"].clone()
        };
        let (mut store, created) = with_widget(
            ObjectStore::new(),
            with_old(),
            json!({"size": "small", "old": "x"}),
        );
        let rv = meta_str(&created, "resourceVersion").unwrap().to_string();
        let mut watch = store.changes.subscribe();
        add_colour(&mut store);
        let read = store.get(&widgets(&store), "default", "w").unwrap();
        assert_eq!(read["spec"], json!({"size": "small", "colour": "blue"}));
        assert_eq!(
            meta_str(&read, "resourceVersion"),
            Some(rv.as_str()),
            "nothing was written"
        );
        // The kind's watches end, and one cannot resume from before.
        let mut types = vec![];
        while let Ok(c) = watch.try_recv() {
            types.push((c.plural.clone(), c.type_));
        }
        assert!(
            types.contains(&("widgets".to_string(), STORAGE_RESET)),
            "{types:?}"
        );
        assert!(
            store
                .changes_since(&widgets(&store), rv.parse().unwrap())
                .is_none()
        );
        // A restart reads what the state file holds through the schema too.
        let path = std::env::temp_dir().join(format!("kbind-crd-schema-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let (mut persisted, _) = with_widget(
            ObjectStore::with_state_file(&path).unwrap(),
            json!({"size": {"type": "string"}}),
            json!({"size": "small"}),
        );
        add_colour(&mut persisted);
        drop(persisted);
        let restored = ObjectStore::with_state_file(&path).unwrap();
        assert_eq!(
            spec_of_w(&restored),
            json!({"size": "small", "colour": "blue"})
        );
        drop(restored);
        // A change of the CRD's metadata alone rebuilds nothing.
        let mut metadata_only = store.get(&crds, "", "widgets.example.com").unwrap();
        metadata_only["metadata"]["labels"] = json!({"a": "b"});
        store
            .update(&crds, "", "widgets.example.com", metadata_only, false)
            .unwrap();
        assert!(watch.try_recv().is_ok_and(|c| c.type_ != STORAGE_RESET));
        // `old` was pruned by reading, not by a write: a schema that has it
        // again shows it again (etcd kept it), and `colour`, only ever a
        // default of a read, goes. The same after restarts: the state file
        // keeps what was written.
        set_schema(&mut store, with_old());
        assert_eq!(spec_of_w(&store), json!({"size": "small", "old": "x"}));
        let _ = std::fs::remove_file(&path);
        let (mut persisted, _) = with_widget(
            ObjectStore::with_state_file(&path).unwrap(),
            with_old(),
            json!({"size": "small", "old": "x"}),
        );
        add_colour(&mut persisted);
        drop(persisted);
        drop(ObjectStore::with_state_file(&path).unwrap());
        let mut restored = ObjectStore::with_state_file(&path).unwrap();
        set_schema(&mut restored, with_old());
        assert_eq!(spec_of_w(&restored), json!({"size": "small", "old": "x"}));
        drop(restored);
        let _ = std::fs::remove_file(&path);
    }

    /// A restart finishes what the controllers had left: a dependent whose
    /// owner went before the collector got to it is collected after.
    #[test]
    fn a_restart_finishes_a_deletion_the_collector_had_not_done() {
        let path = std::env::temp_dir().join(format!("kbind-gc-restart-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut store = ObjectStore::with_state_file(&path).unwrap();
        let r = configmaps(&store);
        let owner = store.create(&r, "default", cm("owner")).unwrap();
        store
            .create(&r, "default", dependent_of("dependent", &owner))
            .unwrap();
        store.delete(&r, "default", "owner").unwrap();
        drop(store);
        let mut restored = ObjectStore::with_state_file(&path).unwrap();
        assert_eq!(names(&restored, &r, "default"), ["dependent"]);
        restored.settle();
        assert!(names(&restored, &r, "default").is_empty());
        drop(restored);
        let _ = std::fs::remove_file(&path);
    }

    /// A new CRD: answered with no conditions; the naming controller's
    /// write serves the kind (`Established` still `Installing`, so not in
    /// discovery); the establishing controller's write puts it there.
    #[test]
    fn a_new_crd_is_served_then_established_by_writes_of_their_own() {
        let mut store = ObjectStore::new();
        let crds = store.crd_resource().unwrap();
        let mut changes = store.changes.subscribe();
        let created = store
            .create(&crds, "", json!({"metadata": {"name": "widgets.example.com"}, "spec": {
                "group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}))
            .unwrap();
        assert_eq!(created["status"].get("conditions"), None);
        let discoverable = |store: &ObjectStore| {
            store
                .discoverable_resources()
                .iter()
                .any(|r| r.plural == "widgets")
        };
        let conditions = |store: &ObjectStore| {
            let crd = store.get(&crds, "", "widgets.example.com").unwrap();
            crd["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    format!(
                        "{}={} {}",
                        c["type"].as_str().unwrap(),
                        c["status"].as_str().unwrap(),
                        c["reason"].as_str().unwrap()
                    )
                })
                .collect::<Vec<_>>()
        };
        assert!(store.resource("example.com", "v1", "widgets").is_none());
        store.run_controllers(None);
        assert!(store.resource("example.com", "v1", "widgets").is_some());
        assert!(!discoverable(&store), "served, not yet in discovery");
        assert_eq!(
            conditions(&store),
            [
                "NamesAccepted=True NoConflicts",
                "Established=False Installing"
            ]
        );
        store.run_controllers(None);
        assert!(discoverable(&store));
        assert_eq!(
            conditions(&store),
            [
                "NamesAccepted=True NoConflicts",
                "Established=True InitialNamesAccepted"
            ]
        );
        let rv = store.resource_version();
        store.run_controllers(None);
        assert_eq!(store.resource_version(), rv, "nothing left to write");
        let events: Vec<&str> = std::iter::from_fn(|| changes.try_recv().ok())
            .filter(|c| c.plural == "customresourcedefinitions")
            .map(|c| c.type_)
            .collect();
        assert_eq!(events, ["ADDED", "MODIFIED", "MODIFIED"]);
    }

    /// With several API servers a real server establishes a CRD five
    /// seconds after accepting its names; a store can be set to do so.
    #[test]
    fn establishing_can_wait_as_with_several_api_servers() {
        let mut store = ObjectStore::new();
        store.set_establishing_delay(std::time::Duration::from_secs(5));
        let crds = store.crd_resource().unwrap();
        store
            .create(&crds, "", json!({"metadata": {"name": "widgets.example.com"}, "spec": {
                "group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}))
            .unwrap();
        let start = std::time::Instant::now();
        let due = store.run_controllers(Some(start)).unwrap();
        assert!(due >= start + std::time::Duration::from_secs(5));
        assert!(store.resource("example.com", "v1", "widgets").is_some());
        let established = |store: &ObjectStore| {
            super::super::crd_names::established(
                &store.get(&crds, "", "widgets.example.com").unwrap(),
            )
        };
        assert_eq!(
            store.run_controllers(Some(start + std::time::Duration::from_secs(1))),
            Some(due)
        );
        assert!(!established(&store));
        assert_eq!(store.run_controllers(Some(due)), None);
        assert!(established(&store));
    }

    #[test]
    fn deleting_a_crd_removes_its_kind_and_objects() {
        let mut store = ObjectStore::new();
        let crds = store
            .resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .cloned()
            .unwrap();
        store
            .create(&crds, "", json!({"metadata": {"name": "widgets.example.com"}, "spec": {
                "group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}))
            .unwrap();
        assert!(
            store.resource("example.com", "v1", "widgets").is_none(),
            "served only once the naming controller has run"
        );
        store.settle();
        let widgets = store
            .resource("example.com", "v1", "widgets")
            .cloned()
            .expect("served once its names are accepted");
        store
            .create(&widgets, "default", json!({"metadata": {"name": "w"}}))
            .unwrap();
        store.delete(&crds, "", "widgets.example.com").unwrap();
        assert!(
            store.get(&widgets, "default", "w").is_ok(),
            "the CRD finalizer deletes the instances after the CRD's DELETE"
        );
        store.settle();
        assert!(store.resource("example.com", "v1", "widgets").is_none());
        assert!(store.get(&widgets, "default", "w").is_err());
    }

    #[test]
    fn watches_older_than_the_history_are_gone() {
        let mut store = ObjectStore::new();
        let r = configmaps(&store);
        let start = store.resource_version();
        assert!(store.changes_since(&r, start).is_some());
        for i in 0..HISTORY + 10 {
            store.create(&r, "default", cm(&format!("c{i}"))).unwrap();
        }
        assert!(
            store.changes_since(&r, start).is_none(),
            "410 Gone for a resourceVersion past the history"
        );
        let recent = store.resource_version() - 5;
        assert_eq!(store.changes_since(&r, recent).map(|c| c.len()), Some(5));
    }

    fn resource(store: &ObjectStore, group: &str, plural: &str) -> Resource {
        store
            .resources()
            .iter()
            .find(|r| r.group == group && r.plural == plural)
            .cloned()
            .unwrap()
    }

    #[test]
    fn jobs_orphan_their_dependents_unless_told_otherwise_and_preconditions_hold() {
        let mut store = ObjectStore::new();
        let jobs = resource(&store, "batch", "jobs");
        let r = configmaps(&store);
        let job = json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}});
        let job = store.create(&jobs, "default", job).unwrap();
        store
            .create(&r, "default", dependent_of("pod-like", &job))
            .unwrap();
        let stale = DeleteOptions {
            uid: Some("someone-else".into()),
            ..DeleteOptions::default()
        };
        let refused = store
            .delete_with(&jobs, "default", "j", &stale)
            .unwrap_err();
        assert_eq!(refused.code, 409);
        assert!(
            refused
                .message
                .starts_with("Precondition failed: UID in precondition: someone-else"),
            "{}",
            refused.message
        );
        let marked = store.delete(&jobs, "default", "j").unwrap();
        assert_eq!(
            marked["metadata"]["finalizers"],
            json!(["orphan"]),
            "the collector's finalizer holds the Job until it has orphaned its dependents"
        );
        assert!(marked["metadata"]["deletionTimestamp"].is_string());
        store.settle();
        assert!(
            store.get(&jobs, "default", "j").is_err(),
            "gone once orphaned"
        );
        let left = store
            .get(&r, "default", "pod-like")
            .expect("orphaned, not collected");
        assert!(left.pointer("/metadata/ownerReferences").is_none());
    }

    #[test]
    fn secrets_store_string_data_as_data_and_names_must_match_the_url() {
        let mut store = ObjectStore::new();
        let secrets = resource(&store, "", "secrets");
        let s = store
            .create(
                &secrets,
                "default",
                json!({"metadata": {"name": "s"}, "stringData": {"password": "s3cret"}}),
            )
            .unwrap();
        assert_eq!(s["data"], json!({"password": "czNjcmV0"}));
        assert_eq!(s["type"], "Opaque");
        assert!(s.get("stringData").is_none());
        let r = configmaps(&store);
        store.create(&r, "default", cm("a")).unwrap();
        let err = store
            .update(&r, "default", "a", cm("b"), false)
            .unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (
                400,
                "the name of the object (b) does not match the name on the URL (a)"
            )
        );
        let bad = json!({"metadata": {"name": "c"}, "data": {"no spaces": "x"}});
        assert_eq!(
            store.create(&r, "default", bad).unwrap_err().code,
            422,
            "ConfigMap keys are checked"
        );
    }

    #[test]
    fn generated_names_keep_at_most_58_characters_of_the_prefix() {
        let mut store = ObjectStore::new();
        let r = configmaps(&store);
        let prefix = "p".repeat(70);
        let o = store
            .create(&r, "default", json!({"metadata": {"generateName": prefix}}))
            .unwrap();
        let name = meta_str(&o, "name").unwrap();
        assert_eq!(name.len(), 63);
        assert!(name.starts_with(&"p".repeat(58)));
    }

    #[test]
    fn field_validation_decides_what_happens_to_unknown_fields() {
        let mut store = ObjectStore::new();
        let r = configmaps(&store);
        let with_unknown = |name: &str| json!({"metadata": {"name": name}, "datas": {"a": "b"}});
        let request = |v| RequestContext {
            field_validation: v,
            ..RequestContext::default()
        };
        let (out, warnings) = store.serving(request(FieldValidation::Strict), |s| {
            s.create(&r, "default", with_unknown("strict"))
        });
        assert_eq!(out.unwrap_err().code, 400);
        assert!(warnings.is_empty());
        let (out, warnings) = store.serving(request(FieldValidation::Warn), |s| {
            s.create(&r, "default", with_unknown("warn"))
        });
        assert!(out.unwrap().get("datas").is_none());
        assert_eq!(warnings, ["unknown field \"datas\""]);
        let (out, warnings) = store.serving(request(FieldValidation::Ignore), |s| {
            s.create(&r, "default", with_unknown("ignore"))
        });
        assert!(out.unwrap().get("datas").is_none());
        assert!(warnings.is_empty());
    }
}
