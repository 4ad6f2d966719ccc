//! The operator's view of the cluster: every object its watches report,
//! indexed so that one request's view (its bindings and Jobs) is read
//! without scanning the others. kube-runtime's reflector `Store` keeps one
//! map per kind with no secondary index; reconciling one request out of
//! 10,000 needs the index, so the watches feed this cache instead.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use kbind_model::api::{RequestKind, ResourceBinding, annotations, labels};
use kbind_model::key::ObjKey;
use kbind_model::naming;
use kbind_planner::View;
use kbind_planner::view::{self, PromiseSeen, RequestObj, RevisionSeen};
use kbind_planner::workflow_job::{self, JobObj};

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

/// One cached object, read into the record the planner uses when its
/// watch event (or a write's answer) arrives: a view shares the records
/// and parses nothing. Field managers and a Job's pod template are left
/// out before it is read (`cached_form`).
struct Entry {
    record: Record,
    /// The request it belongs to, as indexed when it was stored.
    member: Option<Member>,
    resource_version: Box<str>,
    /// What an Event about the object names.
    uid: Box<str>,
    api_version: Box<str>,
}

// Clone: every variant is an `Arc` (or nothing), so a clone is a count.
#[derive(Clone)]
enum Record {
    Promise(Arc<PromiseSeen>),
    Revision(Arc<RevisionSeen>),
    Crd(Arc<Value>),
    Request(Arc<RequestObj>),
    Binding(Arc<ResourceBinding>),
    Job(Arc<JobObj>),
    /// An object the planner cannot read, or a Job labelled for another
    /// promise than it is indexed under: no view shows it, but it still
    /// guards a plan and wakes its request, as it did when views parsed it.
    Unread,
}

fn paused_label(seen: &PromiseSeen) -> Option<&String> {
    seen.promise
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::PAUSED))
}

impl Record {
    fn read(key: &ObjKey, object: Value, member: Option<&Member>) -> Self {
        let read = match key.kind.as_str() {
            PROMISE => PromiseSeen::read(&object).map(|p| Record::Promise(Arc::new(p))),
            REVISION => RevisionSeen::read(&object).map(|r| Record::Revision(Arc::new(r))),
            CRD => Some(Record::Crd(Arc::new(object))),
            BINDING => ResourceBinding::deserialize(&object)
                .ok()
                .map(|b| Record::Binding(Arc::new(b))),
            JOB => member
                .filter(|m| {
                    labels::label_of(&object, labels::PROMISE_NAME)
                        == Some(naming::label_value(&m.0))
                })
                .and_then(|_| JobObj::read(&object))
                .map(|j| Record::Job(Arc::new(j))),
            _ => RequestObj::read(&object).map(|r| Record::Request(Arc::new(r))),
        };
        read.unwrap_or(Record::Unread)
    }
}

impl Entry {
    fn new(key: &ObjKey, object: Value, member: Option<Member>) -> Self {
        let resource_version = str_at(&object, "/metadata/resourceVersion")
            .unwrap_or_default()
            .into();
        let uid = str_at(&object, "/metadata/uid").unwrap_or_default().into();
        let api_version = str_at(&object, "/apiVersion").unwrap_or_default().into();
        Self {
            record: Record::read(key, object, member.as_ref()),
            member,
            resource_version,
            uid,
            api_version,
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
    /// Kinds whose initial list has arrived.
    synced: HashSet<String>,
    /// Request kind -> its CRD and that CRD's generation when the running
    /// list started, and when the list the cache holds started.
    listing_under: HashMap<String, (String, i64)>,
    listed_under: HashMap<String, i64>,
    /// Request kinds whose CRD's spec changed after their cached list was
    /// made, since when: the server reads their objects through the new
    /// schema (defaults, pruning) but the watch shows that only when it
    /// lists again.
    schema_ahead_since: HashMap<String, std::time::Instant>,
    /// Why a workflow Job cannot create its pods (the Job controller's
    /// `FailedCreate` Events), by Job.
    job_problems: HashMap<ObjKey, String>,
    /// Objects deleted lately, with the resourceVersion of their deletion:
    /// a write's answer recorded after the watch reported the deletion
    /// must not bring the object back.
    deleted: HashMap<ObjKey, (Box<str>, std::time::Instant)>,
}

/// How long a request kind's reconciles wait for its watch to list again
/// after its CRD's spec changed. A real server ends the old storage's
/// watches a second after the change (`crdHandler.tearDown`) and the list
/// follows; past this, the cache is trusted as it is.
pub const RELIST_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a deletion is remembered (a write's answer comes back within
/// a request timeout of the write).
const TOMBSTONE_FOR: std::time::Duration = std::time::Duration::from_secs(300);

/// What a binding's status says of its upgrades: what the revisions'
/// binding counts and a rollout's progress (the planner's bindings digest)
/// are made of.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct UpgradeOutcome {
    applied: String,
    in_flight: String,
    failed: String,
    failed_versions: Vec<String>,
    succeeded_at: String,
    failed_at: String,
}

/// A binding's outcome (empty when it has no status); `None` for anything
/// else.
fn upgrade_outcome(record: Option<&Record>) -> Option<UpgradeOutcome> {
    let Some(Record::Binding(binding)) = record else {
        return None;
    };
    let status = binding.status.as_ref();
    Some(
        status.map_or_else(UpgradeOutcome::default, |s| UpgradeOutcome {
            applied: s.last_applied_version.clone(),
            in_flight: s.in_flight_version.clone(),
            failed: s.failed_version.clone(),
            failed_versions: s.failed_versions.clone(),
            succeeded_at: s.last_succeeded_at.clone(),
            failed_at: s.last_failed_at.clone(),
        }),
    )
}

fn generation(object: &Value) -> i64 {
    object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn str_at<'v>(object: &'v Value, pointer: &str) -> Option<&'v str> {
    object.pointer(pointer).and_then(Value::as_str)
}

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

impl Cache {
    /// The CRD named `name`, as last seen.
    pub fn crd(&self, name: &str) -> Option<&Value> {
        match &self.objects.get(&ObjKey::new(CRD, "", name))?.record {
            Record::Crd(crd) => Some(crd),
            _ => None,
        }
    }

    #[cfg(test)]
    fn contains(&self, key: &ObjKey) -> bool {
        self.objects.contains_key(key)
    }

    fn records<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Record> + 'a {
        self.by_kind
            .get(kind)
            .into_iter()
            .flatten()
            .filter_map(|k| self.objects.get(k).map(|e| &e.record))
    }

    fn revisions(&self) -> impl Iterator<Item = &Arc<RevisionSeen>> {
        self.records(REVISION).filter_map(|r| match r {
            Record::Revision(r) => Some(r),
            _ => None,
        })
    }

    fn promise(&self, name: &str) -> Option<&Arc<PromiseSeen>> {
        match &self.objects.get(&ObjKey::new(PROMISE, "", name))?.record {
            Record::Promise(p) => Some(p),
            _ => None,
        }
    }

    /// The kind of a promise's requests, as the cache read it.
    pub fn promise_request_kind(&self, name: &str) -> Option<String> {
        Some(self.promise(name)?.request_kind.as_ref()?.kind.clone())
    }

    /// The uid of a promise in the cache.
    pub fn promise_uid(&self, name: &str) -> Option<String> {
        self.promise(name)?.promise.metadata.uid.clone()
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
        self.listing_under.remove(kind);
        self.listed_under.remove(kind);
        self.schema_ahead_since.remove(kind);
        let keys: Vec<ObjKey> = self
            .by_kind
            .get(kind)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        let woken = keys.iter().flat_map(|k| self.remove(k)).collect();
        // Forgotten, not deleted: the next watch of the kind (at a new
        // storage version, say) lists the same objects at the versions
        // they had, which a tombstone would take for stale and drop.
        for key in &keys {
            self.deleted.remove(key);
        }
        woken
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
            kind => Some(request_member(self.promise_of_kind.get(kind)?, key)),
        }
    }

    fn unindex(&mut self, key: &ObjKey) {
        let Some(old) = self.objects.get(key) else {
            return;
        };
        if let Some(member) = old.member.clone() {
            self.forget_member(key, &member);
        }
    }

    /// `key` no longer counts as one of `member`'s objects.
    fn forget_member(&mut self, key: &ObjKey, member: &Member) {
        if let Some(set) = self.members.get_mut(member) {
            set.remove(key);
            if set.is_empty() {
                self.members.remove(member);
                if let Some(r) = self.requests_of.get_mut(&member.0) {
                    r.remove(&(member.1.clone(), member.2.clone()));
                }
            }
        }
    }

    /// `key` counts as one of `member`'s objects.
    fn note_member(&mut self, key: &ObjKey, member: &Member) {
        self.requests_of
            .entry(member.0.clone())
            .or_default()
            .insert((member.1.clone(), member.2.clone()));
        self.members
            .entry(member.clone())
            .or_default()
            .insert(key.clone());
    }

    /// The request kinds an object bears on: a promise's, a CRD's.
    fn kinds_concerned(&self, key: &ObjKey) -> Vec<String> {
        match self.objects.get(key).map(|e| &e.record) {
            Some(Record::Promise(p)) => p.request_kind.iter().map(|k| k.kind.clone()).collect(),
            Some(Record::Crd(crd)) => str_at(crd, "/spec/names/kind")
                .map(|k| vec![k.to_string()])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The promise whose requests a kind's objects are. Two promises may
    /// declare one kind (in one group only one CRD is served; in two
    /// groups both are): the one whose CRD the server serves, then the
    /// oldest, then by name. kbind reconciles that one's requests.
    fn kind_owner(&self, kind: &str) -> Option<String> {
        self.promises()
            .filter(|p| p.request_kind.as_ref().is_some_and(|k| k.kind == kind))
            .min_by_key(|p| {
                let served = p.request_kind.as_ref().is_some_and(|k| {
                    let crd = ObjKey::new(CRD, "", &format!("{}.{}", k.plural, k.group));
                    matches!(self.objects.get(&crd).map(|e| &e.record),
                        Some(Record::Crd(c)) if kbind_planner::request_crd::served(c))
                });
                (
                    !served,
                    p.promise.metadata.creation_timestamp.clone(),
                    p.key.name.clone(),
                )
            })
            .map(|p| p.key.name.clone())
    }

    /// The promise another one's request kind is reconciled for, when it
    /// is not this one.
    pub fn kind_taken_by(&self, promise: &str) -> Option<String> {
        let kind = self.request_kind(promise)?;
        self.promise_of_kind
            .get(&kind.kind)
            .filter(|owner| *owner != promise)
            .cloned()
    }

    /// Settles who owns `kind` after a promise or CRD changed; when that
    /// moves, its objects are re-indexed under the new owner, and both
    /// promises and the new owner's requests are woken.
    fn settle_kind(&mut self, kind: &str) -> Vec<WorkKey> {
        let owner = self.kind_owner(kind);
        let before = self.promise_of_kind.get(kind).cloned();
        if before == owner {
            return Vec::new();
        }
        match &owner {
            Some(o) => {
                self.promise_of_kind.insert(kind.to_string(), o.clone());
            }
            None => {
                self.promise_of_kind.remove(kind);
            }
        }
        let keys: Vec<ObjKey> = self
            .by_kind
            .get(kind)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default();
        for key in keys {
            if let Some(member) = self.objects.get(&key).and_then(|e| e.member.clone()) {
                self.forget_member(&key, &member);
            }
            let member = owner.as_ref().map(|o| request_member(o, &key));
            if let Some(m) = &member {
                self.note_member(&key, m);
            }
            if let Some(entry) = self.objects.get_mut(&key) {
                entry.member = member;
            }
        }
        let mut wake: Vec<WorkKey> = before
            .into_iter()
            .chain(owner.clone())
            .map(WorkKey::Promise)
            .collect();
        if let Some(o) = &owner {
            wake.extend(self.request_keys(o));
        }
        wake
    }

    /// Records an added or modified object. Returns the keys to wake. A
    /// version the cache already holds (the watch event of a write the
    /// operator made and recorded itself) or an older one changes and
    /// wakes nothing.
    pub fn apply(&mut self, object: Value) -> Vec<WorkKey> {
        self.apply_read(object, false)
    }

    /// As [`Cache::apply`]; `reread`: the object may read differently at
    /// the resourceVersion the cache holds (its kind's schema changed, and
    /// the server prunes and defaults on every read without a write).
    fn apply_read(&mut self, object: Value, reread: bool) -> Vec<WorkKey> {
        let Some(key) = ObjKey::of(&object) else {
            return Vec::new();
        };
        let mut same_version = false;
        if let Some(incoming) = str_at(&object, "/metadata/resourceVersion") {
            let held = self
                .objects
                .get(&key)
                .map(|e| &*e.resource_version)
                .or_else(|| self.deleted.get(&key).map(|(rv, _)| &**rv));
            if let Some(held) = held
                && not_newer(incoming, held)
            {
                same_version = not_newer(held, incoming) && self.objects.contains_key(&key);
                if !(reread && same_version) {
                    return Vec::new();
                }
            }
        }
        let member = self.member_of(&key, &object);
        let entry = Entry::new(&key, object, member.clone());
        if same_version
            && self.objects.get(&key).is_some_and(|held| {
                matches!((&held.record, &entry.record),
                    (Record::Request(a), Record::Request(b)) if a == b)
            })
        {
            // Read again as it was: nothing to record or wake.
            return Vec::new();
        }
        self.deleted.remove(&key);
        let stored = self
            .objects
            .get(&key)
            .map(|e| (e.record.clone(), e.member.clone()));
        let outcome_before = upgrade_outcome(self.objects.get(&key).map(|e| &e.record));
        self.unindex(&key);
        let counts_only = match (&stored, &entry.record) {
            (Some((Record::Revision(old), _)), Record::Revision(new)) => old.same_for_requests(new),
            _ => false,
        };
        // A Job's status moving on while it runs (the Job controller's
        // `active`, `ready`, `startTime` writes) changes nothing its request
        // plans from.
        let same_run = match (&stored, &entry.record) {
            (Some((Record::Job(old), old_member)), Record::Job(new)) => {
                old == new && *old_member == member
            }
            _ => false,
        };
        // Kratix reads a promise's `kratix.io/paused` on each of its
        // requests' reconciles: a change pauses or resumes them all.
        let pause_moved = match (&stored, &entry.record) {
            (Some((Record::Promise(old), _)), Record::Promise(new)) => {
                paused_label(old) != paused_label(new)
            }
            _ => false,
        };
        let mut wake = match stored {
            Some((record, old_member)) if !counts_only && !same_run => {
                self.wake_for(&key, Some(&record), old_member)
            }
            _ => Vec::new(),
        };
        if pause_moved {
            wake.extend(self.request_keys(&key.name));
        }
        if let Record::Crd(crd) = &entry.record {
            self.note_schema_change(crd);
        }
        let kinds_before = self.kinds_concerned(&key);
        if let Some(member) = &member {
            self.note_member(&key, member);
        }
        self.by_kind
            .entry(key.kind.clone())
            .or_default()
            .insert(key.clone());
        if counts_only {
            // Only the promise's own counts changed: its requests need not look.
            if let Record::Revision(revision) = &entry.record {
                wake.push(WorkKey::Promise(revision.promise_name().to_string()));
            }
        } else if !same_run {
            wake.extend(self.wake_for(&key, Some(&entry.record), member.clone()));
        }
        // The revisions' binding counts are the promise's to write.
        // A new binding with no status yet changes no count.
        if upgrade_outcome(Some(&entry.record))
            .is_some_and(|after| after != outcome_before.unwrap_or_default())
            && let Some((promise, ..)) = member
        {
            wake.push(WorkKey::Promise(promise));
        }
        self.objects.insert(key.clone(), entry);
        let mut kinds = kinds_before;
        kinds.extend(self.kinds_concerned(&key));
        kinds.dedup();
        for kind in kinds {
            wake.extend(self.settle_kind(&kind));
        }
        wake
    }

    /// What the stored version of an object wakes (it is being replaced or
    /// removed).
    fn wake_for_stored(&self, key: &ObjKey) -> Vec<WorkKey> {
        let Some(old) = self.objects.get(key) else {
            return Vec::new();
        };
        self.wake_for(key, Some(&old.record), old.member.clone())
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
        let mut wake = self.wake_for_stored(key);
        if let Some(entry) = self.objects.get(key)
            && upgrade_outcome(Some(&entry.record)).is_some_and(|o| o != UpgradeOutcome::default())
            && let Some((promise, ..)) = &entry.member
        {
            wake.push(WorkKey::Promise(promise.clone()));
        }
        let kinds = self.kinds_concerned(key);
        self.unindex(key);
        self.objects.remove(key);
        self.job_problems.remove(key);
        if let Some(set) = self.by_kind.get_mut(&key.kind) {
            set.remove(key);
        }
        for kind in kinds {
            wake.extend(self.settle_kind(&kind));
        }
        wake
    }

    /// A watch of `kind` starts to list; `crd` names the kind's CRD, whose
    /// generation as the cache holds it now is what the list will show.
    pub fn list_starting(&mut self, kind: &str, crd: &str) {
        let generation = self.crd_generation(crd);
        self.listing_under
            .insert(kind.to_string(), (crd.to_string(), generation));
    }

    fn crd_generation(&self, crd: &str) -> i64 {
        let key = ObjKey::new(CRD, "", crd);
        match self.objects.get(&key).map(|e| &e.record) {
            Some(Record::Crd(crd)) => generation(crd),
            _ => 0,
        }
    }

    /// A request kind's CRD at a generation its cached list predates: the
    /// server now reads its objects differently, unseen until it lists.
    fn note_schema_change(&mut self, crd: &Value) {
        let kind = str_at(crd, "/spec/names/kind").unwrap_or_default();
        if self
            .listed_under
            .get(kind)
            .is_some_and(|listed| generation(crd) > *listed)
        {
            self.schema_ahead_since
                .entry(kind.to_string())
                .or_insert_with(std::time::Instant::now);
        }
    }

    /// True while the CRD of `promise`'s request kind has a spec the cached
    /// list predates, within [`RELIST_GRACE`] of the change: its requests
    /// are cached as the old schema read them, and a workflow run from that
    /// would run again once the list shows the new defaults.
    pub fn awaiting_relist(&self, promise: &str) -> bool {
        self.request_kind(promise).is_some_and(|kind| {
            self.schema_ahead_since
                .get(&kind.kind)
                .is_some_and(|since| since.elapsed() < RELIST_GRACE)
        })
    }

    /// Replaces everything of one kind (a watch's initial list). Objects
    /// that vanished while the watch was down are removed and woken.
    pub fn replace_kind(&mut self, kind: &str, objects: Vec<Value>) -> Vec<WorkKey> {
        // A request kind's list may show an object at the version the
        // cache holds, read through a schema changed since (whether or not
        // the change was seen before the list began).
        let mut reread = false;
        if let Some((crd, listed)) = self.listing_under.remove(kind) {
            if listed >= self.crd_generation(&crd) {
                self.schema_ahead_since.remove(kind);
            }
            reread = true;
            self.listed_under.insert(kind.to_string(), listed);
        }
        let fresh: HashSet<ObjKey> = objects.iter().filter_map(ObjKey::of).collect();
        let gone: Vec<ObjKey> = self
            .by_kind
            .get(kind)
            .map(|s| s.iter().filter(|k| !fresh.contains(*k)).cloned().collect())
            .unwrap_or_default();
        let mut wake: Vec<WorkKey> = gone.iter().flat_map(|k| self.remove(k)).collect();
        for object in objects {
            wake.extend(self.apply_read(object, reread));
        }
        self.mark_synced(kind);
        // Promise reconciles skipped while this kind was unlisted.
        if let Some(promise) = self.promise_of_kind.get(kind) {
            wake.push(WorkKey::Promise(promise.clone()));
        }
        wake
    }

    /// Which reconciles a change to this object affects. The record is
    /// read only for revisions and CRDs; a member's request is given.
    fn wake_for(
        &self,
        key: &ObjKey,
        record: Option<&Record>,
        member: Option<Member>,
    ) -> Vec<WorkKey> {
        match key.kind.as_str() {
            PROMISE => vec![WorkKey::Promise(key.name.clone())],
            // The latest marker, the set of versions and revision deletion
            // concern every request of the promise.
            REVISION => {
                let Some(Record::Revision(revision)) = record else {
                    return Vec::new();
                };
                let promise = revision.promise_name();
                let mut keys = vec![WorkKey::Promise(promise.to_string())];
                keys.extend(self.request_keys(promise));
                keys
            }
            // Every promise whose API it is, by the CRD's name (two
            // promises may declare one kind).
            CRD => self
                .promises()
                .filter(|p| {
                    p.request_kind
                        .as_ref()
                        .is_some_and(|k| format!("{}.{}", k.plural, k.group) == key.name)
                })
                .map(|p| WorkKey::Promise(p.key.name.clone()))
                .collect(),
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
        self.promise(promise).is_some_and(|p| p.deleting)
            || self
                .revisions()
                .any(|r| r.promise_name() == promise && r.metadata.deletion_timestamp.is_some())
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
        let mut promises: BTreeSet<String> = self.promises().map(|p| p.key.name.clone()).collect();
        promises.extend(self.revisions().map(|r| r.promise_name().to_string()));
        promises.extend(self.requests_of.keys().cloned());
        let mut keys = Vec::new();
        for p in promises {
            keys.extend(self.request_keys(&p));
            keys.push(WorkKey::Promise(p));
        }
        keys
    }

    /// The request kind of a promise, from the Promise or its revisions.
    pub fn request_kind(&self, promise: &str) -> Option<&RequestKind> {
        view::request_kind(
            self.promise(promise).map(|p| &**p),
            self.revisions()
                .filter(|r| r.promise_name() == promise)
                .map(|r| &**r),
        )
    }

    /// Every Promise, as last seen.
    pub fn promises(&self) -> impl Iterator<Item = &Arc<PromiseSeen>> {
        self.records(PROMISE).filter_map(|r| match r {
            Record::Promise(p) => Some(p),
            _ => None,
        })
    }

    /// True when the view of `promise` can be trusted: the request kind's
    /// initial list arrived (or it has no installed request kind, so there
    /// are no requests). Reconciling before that would see bindings without
    /// their requests and delete them. A CRD the server does not serve (its
    /// names taken) holds no requests either.
    pub fn ready_for(&self, promise: &str) -> bool {
        match self.request_kind(promise) {
            None => true,
            Some(kind) => {
                let crd = ObjKey::new(CRD, "", &format!("{}.{}", kind.plural, kind.group));
                let served = match self.objects.get(&crd).map(|e| &e.record) {
                    Some(Record::Crd(crd)) => kbind_planner::request_crd::served(crd),
                    _ => false,
                };
                self.is_synced(&kind.kind) || !served
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
                    matches!(self.objects.get(k).map(|e| &e.record),
                        Some(Record::Revision(r)) if r.promise_name() == promise)
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

    /// A view of the objects under `keys`, sharing their records. What
    /// each kind contributes is what `View::build` takes from a store.
    fn view(&self, promise: &str, keys: Vec<ObjKey>, now: i64) -> (View, Guards) {
        let request_kind = self.request_kind(promise).map(|k| k.kind.as_str());
        let mut view = View {
            now,
            promise_name: promise.to_string(),
            promise: None,
            revisions: Vec::new(),
            requests: Vec::new(),
            bindings: Vec::new(),
            jobs: Vec::new(),
            request_crd: None,
            request_kind_taken_by: self.kind_taken_by(promise),
        };
        let mut guards = Guards::with_capacity(keys.len());
        for key in keys {
            let Some(entry) = self.objects.get(&key) else {
                continue;
            };
            match &entry.record {
                Record::Promise(p) => view.promise = Some(p.clone()),
                Record::Revision(r) => view.revisions.push(r.clone()),
                Record::Crd(c) => view.request_crd = Some(c.clone()),
                Record::Request(r) if Some(key.kind.as_str()) == request_kind => {
                    view.requests.push(r.clone())
                }
                Record::Binding(b) => view.bindings.push(b.clone()),
                Record::Job(j) => view.jobs.push(match self.job_problems.get(&key) {
                    // The Job controller's Events say why its pods cannot
                    // be created; the Job itself does not.
                    Some(problem) => Arc::new(JobObj {
                        start_problem: Some(problem.clone()),
                        ..(**j).clone()
                    }),
                    None => j.clone(),
                }),
                Record::Request(_) | Record::Unread => {}
            }
            guards.insert(
                key,
                Seen {
                    resource_version: entry.resource_version.to_string(),
                    uid: entry.uid.to_string(),
                    api_version: entry.api_version.to_string(),
                },
            );
        }
        (view, guards)
    }
}

/// What a plan knows of every object its view was built from.
pub type Guards = HashMap<ObjKey, Seen>;

/// The member a request belongs to: its Promise, namespace and name label.
fn request_member(promise: &str, request: &ObjKey) -> Member {
    (
        promise.to_string(),
        request.namespace.clone(),
        naming::resource_name_label(&request.name),
    )
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
        // Its upgrade finishing changes the revisions' counts: the promise
        // wakes too.
        let mut applied = binding("a-redis-1", "a");
        applied["metadata"]["resourceVersion"] = "9".into();
        applied["status"] = serde_json::json!({"lastAppliedVersion": "v1"});
        let woke = cache.apply(applied.clone());
        assert!(woke.contains(&WorkKey::Promise("redis".into())), "{woke:?}");
        assert!(
            woke.iter()
                .all(|k| *k == key("a") || matches!(k, WorkKey::Promise(_)))
        );
        // The same outcome again (another status write) leaves the promise be.
        applied["metadata"]["resourceVersion"] = "10".into();
        applied["status"]["conditions"] = serde_json::json!([]);
        let woke = cache.apply(applied);
        assert!(
            !woke.contains(&WorkKey::Promise("redis".into())),
            "{woke:?}"
        );
        let (view, _) = cache.request_view("redis", "default", "a", 0);
        assert_eq!(view.requests.len(), 1);
        assert_eq!(view.bindings.len(), 1);
        let (view, _) = cache.request_view("redis", "default", "b", 0);
        assert_eq!(view.requests.len(), 1);
        assert!(view.bindings.is_empty());
    }

    #[test]
    fn a_running_jobs_status_writes_wake_nothing_its_end_wakes_its_request() {
        let mut cache = Cache::default();
        cache.apply(promise());
        cache.apply(request("a"));
        let job = |rv: &str, status: Value| {
            json!({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "a-redis-configure-1", "namespace": "default",
                    "resourceVersion": rv, "creationTimestamp": "2026-01-01T00:00:00Z",
                    "labels": {"kratix.io/promise-name": "redis", "kratix.io/resource-name": "a",
                        "kratix.io/workflow-action": "configure",
                        "kbind.io/promise-version": "v1", "kratix.io/hash": "h"}},
                "spec": {}, "status": status})
        };
        assert_eq!(cache.apply(job("5", json!({}))), vec![key("a")]);
        assert!(
            cache
                .apply(job("6", json!({"active": 1, "ready": 0, "startTime": "t"})))
                .is_empty(),
            "still running"
        );
        let done = job(
            "7",
            json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
        );
        assert!(cache.apply(done).contains(&key("a")), "it ended");
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
        // The promise writing its binding counts wakes only the promise.
        let revision = |rv: &str, status: Value| {
            json!({"apiVersion": "platform.kratix.io/v1alpha1",
                "kind": "PromiseRevision", "metadata": {"name": "redis-v1", "resourceVersion": rv},
                "spec": {"version": "v1", "promiseRef": {"name": "redis"}, "promiseSpec": {}},
                "status": status})
        };
        cache.apply(revision("5", json!({})));
        let woken = cache.apply(revision(
            "6",
            json!({"bindings": {"at": 1, "moving": 0, "failed": 0}}),
        ));
        assert_eq!(woken, vec![WorkKey::Promise("redis".into())]);
        // The latest marker concerns every request.
        let woken = cache.apply(revision(
            "7",
            json!({"latest": true, "bindings": {"at": 1, "moving": 0, "failed": 0}}),
        ));
        assert!(woken.contains(&key("a")), "{woken:?}");
    }

    #[test]
    fn a_relist_removes_and_wakes_what_vanished() {
        let mut cache = Cache::default();
        cache.apply(promise());
        cache.apply(binding("a-redis-1", "a"));
        cache.apply(binding("c-redis-1", "c"));
        let woken = cache.replace_kind(BINDING, vec![binding("a-redis-1", "a")]);
        assert!(woken.contains(&key("c")));
        assert!(!cache.contains(&ObjKey::new(BINDING, "default", "c-redis-1")));
        assert!(cache.request_keys("redis").iter().all(|k| *k != key("c")));
    }

    #[test]
    fn a_kind_watched_again_reads_its_objects_anew() {
        let mut cache = Cache::default();
        cache.apply(promise());
        let mut a = request("a");
        a["metadata"]["resourceVersion"] = json!("7");
        cache.replace_kind("redis", vec![a.clone()]);
        // The watch moves (a new storage version): the kind is forgotten,
        // and the new watch lists the same object at the same version.
        cache.drop_kind("redis");
        assert!(
            !cache
                .objects
                .contains_key(&ObjKey::new("redis", "default", "a"))
        );
        let woken = cache.replace_kind("redis", vec![a]);
        assert!(
            cache
                .objects
                .contains_key(&ObjKey::new("redis", "default", "a")),
            "read again, not taken for a stale event of a deleted object"
        );
        assert!(woken.contains(&key("a")), "{woken:?}");
    }

    #[test]
    fn requests_are_not_planned_until_their_kind_is_listed() {
        let mut cache = Cache::default();
        cache.apply(promise());
        assert!(cache.ready_for("redis"), "no CRD yet, so no requests");
        let mut crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "redis.marketplace.kratix.io", "resourceVersion": "1"},
            "spec": {"group": "marketplace.kratix.io", "names": {"kind": "redis", "plural": "redis"}},
            "status": {"acceptedNames": {"kind": "", "plural": ""}}});
        cache.apply(crd.clone());
        assert!(
            cache.ready_for("redis"),
            "not served (names not accepted), so no requests"
        );
        crd["metadata"]["resourceVersion"] = json!("2");
        crd["status"]["conditions"] = json!([{"type": "NamesAccepted", "status": "True"}]);
        cache.apply(crd);
        assert!(!cache.ready_for("redis"));
        let woken = cache.replace_kind("redis", vec![request("a")]);
        assert!(cache.ready_for("redis"));
        assert!(
            woken.contains(&WorkKey::Promise("redis".into())),
            "skipped reconciles resume"
        );
    }

    #[test]
    fn a_schema_change_holds_requests_until_the_list_reads_them_through_it() {
        let crd = |generation: i64| {
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "redis.marketplace.kratix.io", "generation": generation,
                    "resourceVersion": (10 + generation).to_string()},
                "spec": {"group": "marketplace.kratix.io", "names": {"kind": "redis", "plural": "redis"}}})
        };
        let at = |name: &str, spec: Value| {
            let mut r = request(name);
            r["metadata"]["resourceVersion"] = json!("5");
            r["spec"] = spec;
            r
        };
        let mut cache = Cache::default();
        cache.apply(promise());
        cache.apply(crd(1));
        cache.list_starting("redis", "redis.marketplace.kratix.io");
        cache.replace_kind(
            "redis",
            vec![at("a", json!({"size": "s"})), at("b", json!({}))],
        );
        assert!(!cache.awaiting_relist("redis"));
        cache.apply(crd(2));
        assert!(
            cache.awaiting_relist("redis"),
            "the cached requests predate it"
        );
        assert!(cache.ready_for("redis"), "the promise's own plans go on");
        // The list shows `a` with a default, at the version the cache holds.
        cache.list_starting("redis", "redis.marketplace.kratix.io");
        let woken = cache.replace_kind(
            "redis",
            vec![
                at("a", json!({"size": "s", "replicas": 3})),
                at("b", json!({})),
            ],
        );
        assert!(!cache.awaiting_relist("redis"));
        assert!(woken.contains(&key("a")), "{woken:?}");
        assert!(!woken.contains(&key("b")), "read as it was: {woken:?}");
        let view = cache.request_view("redis", "default", "a", 0);
        assert_eq!(view.0.requests[0].spec, json!({"size": "s", "replicas": 3}));
        // A watch event at a version the cache holds is still nothing new.
        assert!(cache.apply(at("a", json!({"size": "s"}))).is_empty());
    }
}
