//! The planner's input: one promise with its revisions, requests, bindings
//! and workflow Jobs, each read once from its object into the record the
//! planner uses (here from the in-memory store of the simulator and tests;
//! the operator's cache reads its objects into the same records when a
//! watch reports them).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::Value;

use crate::store::Store;
use crate::workflow_job::{self, JobObj};
use kbind_model::api::{
    Promise, PromiseRevision, PromiseSpec, RequestKind, ResourceBinding, labels,
};
use kbind_model::key::ObjKey;
use kbind_model::naming;

/// A resource request, read generically (its kind comes from the promise).
#[derive(Clone, Debug, PartialEq)]
pub struct RequestObj {
    pub key: ObjKey,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub finalizers: Vec<String>,
    pub deleting: bool,
    pub spec: Value,
    /// `status.promiseVersion`.
    pub promise_version: String,
    /// `status.resourceBindingVersion`.
    pub binding_version: String,
    /// `metadata.resourceVersion`: ties a triggered workflow run to the
    /// request state that asked for it.
    pub resource_version: String,
    /// `metadata.uid` and `apiVersion`: what an owner reference to the
    /// request names.
    pub uid: String,
    pub api_version: String,
    /// `metadata.generation`: what the status's `observedGeneration`
    /// records once a run for it succeeded.
    pub generation: i64,
    /// The status fields a run writes (`request_status::FIELDS`: the
    /// message, conditions and run summary) as JSON text, empty when it has
    /// none: read only when a run starts or ends, so kept as compact text.
    pub workflow_status: Box<str>,
}

impl RequestObj {
    /// The status fields a run writes, to edit and write back whole (a
    /// merge patch replaces a list).
    pub fn workflow_status(&self) -> serde_json::Map<String, Value> {
        serde_json::from_str(&self.workflow_status).unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        &self.key.name
    }
    pub fn namespace(&self) -> &str {
        &self.key.namespace
    }
    /// The API group and version of `apiVersion` (the core group is "").
    pub fn group_version(&self) -> (&str, &str) {
        self.api_version
            .rsplit_once('/')
            .unwrap_or(("", self.api_version.as_str()))
    }
    /// The `kratix.io/resource-name` value that identifies its binding.
    pub fn label_name(&self) -> String {
        naming::resource_name_label(self.name())
    }
}

#[cfg(test)]
impl RequestObj {
    /// A live request with an empty spec and nothing else set.
    pub(crate) fn named(kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            key: ObjKey::new(kind, namespace, name),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            finalizers: vec![],
            deleting: false,
            spec: Value::Object(Default::default()),
            promise_version: String::new(),
            binding_version: String::new(),
            resource_version: String::new(),
            uid: String::new(),
            api_version: String::new(),
            generation: 0,
            workflow_status: Box::default(),
        }
    }
}

/// The Promise as the view saw it.
#[derive(Clone, Debug)]
pub struct PromiseSeen {
    pub key: ObjKey,
    pub promise: Promise,
    /// Its deletion has started (a deletionTimestamp is set).
    pub deleting: bool,
    /// The request kind its `spec.api` serves, read with the rest.
    pub request_kind: Option<RequestKind>,
    /// The `apiVersion` of its requests, as Kratix writes it into the
    /// Promise's status.
    pub request_api_version: Option<String>,
}

impl PromiseSeen {
    pub fn read(object: &Value) -> Option<Self> {
        let promise = Promise::deserialize(object).ok()?;
        Some(Self {
            key: ObjKey::of(object)?,
            deleting: is_deleting(object),
            request_kind: promise.spec.request_kind(),
            request_api_version: promise.spec.request_api_version(),
            promise,
        })
    }
}

/// A PromiseRevision with its `spec.promiseSpec` read as a Promise spec
/// (the revision keeps the copy as it is stored: it is hashed and diffed
/// as text the cluster has).
#[derive(Clone, Debug)]
pub struct RevisionSeen {
    pub revision: PromiseRevision,
    /// An unreadable `promiseSpec` reads as an empty one: no API, no
    /// workflows.
    pub promise_spec: PromiseSpec,
    pub request_kind: Option<RequestKind>,
    /// The md5 of the stored `promiseSpec`: the revision's half of R-20's
    /// workflow hash, which every request reconcile at the revision needs.
    pub promise_spec_md5: String,
}

impl RevisionSeen {
    pub fn read(object: &Value) -> Option<Self> {
        PromiseRevision::deserialize(object).ok().map(Self::from)
    }

    /// The promise it is a revision of.
    pub fn promise_name(&self) -> &str {
        &self.revision.spec.promise_ref.name
    }

    /// True when `other` differs from this only in what no request reads:
    /// the binding counts in its status (and the server's bookkeeping).
    /// Those are the promise's to write, and a promise of 10,000 requests
    /// would otherwise wake every one of them at each count.
    pub fn same_for_requests(&self, other: &Self) -> bool {
        let (a, b) = (&self.revision, &other.revision);
        let status = |r: &PromiseRevision| {
            r.status
                .as_ref()
                .map(|s| (s.latest, s.conditions.clone()))
                .unwrap_or_default()
        };
        a.spec == b.spec
            && status(a) == status(b)
            && a.metadata.labels == b.metadata.labels
            && a.metadata.annotations == b.metadata.annotations
            && a.metadata.finalizers == b.metadata.finalizers
            && a.metadata.deletion_timestamp == b.metadata.deletion_timestamp
            && a.metadata.owner_references == b.metadata.owner_references
    }
}

impl From<PromiseRevision> for RevisionSeen {
    fn from(revision: PromiseRevision) -> Self {
        let promise_spec =
            PromiseSpec::deserialize(&revision.spec.promise_spec).unwrap_or_default();
        Self {
            request_kind: promise_spec.request_kind(),
            promise_spec,
            promise_spec_md5: md5_hex(&revision.spec.promise_spec),
            revision,
        }
    }
}

impl std::ops::Deref for RevisionSeen {
    type Target = PromiseRevision;
    fn deref(&self) -> &PromiseRevision {
        &self.revision
    }
}

/// The md5 of an object's JSON (R-20's workflow hash is made of two).
pub fn md5_hex(value: &Value) -> String {
    hex::encode(Md5::digest(serde_json::to_vec(value).unwrap_or_default()))
}

/// The request kind of a promise: its Promise's, or while the Promise is
/// gone (being deleted, or not applied yet) the first of its revisions'.
pub fn request_kind<'a>(
    promise: Option<&'a PromiseSeen>,
    mut revisions: impl Iterator<Item = &'a RevisionSeen>,
) -> Option<&'a RequestKind> {
    promise
        .and_then(|seen| seen.request_kind.as_ref())
        .or_else(|| revisions.find_map(|r| r.request_kind.as_ref()))
}

#[derive(Clone, Debug)]
pub struct View {
    pub now: i64,
    pub promise_name: String,
    // The objects are shared with where they were read from (the
    // operator's cache holds them parsed): a view copies none of them.
    pub promise: Option<Arc<PromiseSeen>>,
    pub revisions: Vec<Arc<RevisionSeen>>,
    pub requests: Vec<Arc<RequestObj>>,
    pub bindings: Vec<Arc<ResourceBinding>>,
    pub jobs: Vec<Arc<JobObj>>,
    /// The CRD of the promise's requests (from `spec.api`) as the cluster
    /// has it, if it exists.
    pub request_crd: Option<Arc<Value>>,
    /// Another promise declaring the same request kind, whose requests the
    /// kind's objects are (kbind reconciles one promise per kind name).
    pub request_kind_taken_by: Option<String>,
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The string at `pointer`, or "" where there is none.
fn text_at(object: &Value, pointer: &str) -> String {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn is_deleting(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some()
}

impl View {
    /// The CRD of the promise's requests (from `spec.api`) exists.
    pub fn request_api_installed(&self) -> bool {
        self.request_crd.is_some()
    }

    /// The `kratix.io/promise-name` label value of this promise's objects.
    pub fn promise_label(&self) -> String {
        naming::label_value(&self.promise_name)
    }

    /// The view's bindings by (namespace, name), for answers that name many.
    pub fn bindings_by_key(&self) -> HashMap<(&str, &str), &ResourceBinding> {
        self.bindings
            .iter()
            .map(|b| {
                (
                    (
                        b.metadata.namespace.as_deref().unwrap_or_default(),
                        b.metadata.name.as_deref().unwrap_or_default(),
                    ),
                    &**b,
                )
            })
            .collect()
    }

    /// The view's requests by (namespace, name), for bindings that name many.
    pub fn requests_by_key(&self) -> HashMap<(&str, &str), &RequestObj> {
        self.requests
            .iter()
            .map(|r| ((r.namespace(), r.name()), &**r))
            .collect()
    }

    /// Names of every promise the store knows, from Promises and revisions.
    pub fn promise_names(store: &Store) -> Vec<String> {
        let mut names: Vec<String> = store
            .list("Promise")
            .filter_map(|p| {
                p.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .chain(store.list("PromiseRevision").filter_map(|r| {
                r.pointer("/spec/promiseRef/name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            }))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The view of one promise in the in-memory store (the simulator and
    /// tests; the operator assembles its views from its cache).
    pub fn build(store: &Store, promise_name: &str) -> Self {
        let promise = store
            .get(&ObjKey::new("Promise", "", promise_name))
            .and_then(PromiseSeen::read)
            .map(Arc::new);
        let revisions: Vec<Arc<RevisionSeen>> = store
            .list("PromiseRevision")
            .filter(|r| {
                r.pointer("/spec/promiseRef/name").and_then(Value::as_str) == Some(promise_name)
            })
            .filter_map(RevisionSeen::read)
            .map(Arc::new)
            .collect();
        let request_kind =
            request_kind(promise.as_deref(), revisions.iter().map(|r| &**r)).cloned();
        let request_crd = request_kind.as_ref().and_then(|k| {
            store
                .get(&ObjKey::new(
                    "CustomResourceDefinition",
                    "",
                    &format!("{}.{}", k.plural, k.group),
                ))
                .cloned()
                .map(Arc::new)
        });
        let requests = match &request_kind {
            Some(kind) => store
                .list(&kind.kind)
                .filter_map(RequestObj::read)
                .map(Arc::new)
                .collect(),
            None => Vec::new(),
        };
        let bindings = store
            .list("ResourceBinding")
            .filter(|b| {
                b.pointer("/spec/promiseRef/name").and_then(Value::as_str) == Some(promise_name)
            })
            .filter_map(|b| ResourceBinding::deserialize(b).ok())
            .map(Arc::new)
            .collect();
        let jobs = store
            .list(workflow_job::KIND)
            .filter(|j| {
                labels::label_of(j, labels::PROMISE_NAME) == Some(naming::label_value(promise_name))
            })
            .filter_map(JobObj::read)
            .map(Arc::new)
            .collect();
        Self {
            now: store.now,
            promise_name: promise_name.into(),
            promise,
            revisions,
            requests,
            bindings,
            jobs,
            request_crd,
            request_kind_taken_by: None,
        }
    }
}

/// The fields of a request's status its runs write
/// (`request_status::FIELDS`), as JSON text.
fn workflow_status_text(status: Option<&Value>) -> Box<str> {
    let kept: serde_json::Map<String, Value> = kbind_model::api::request_status::FIELDS
        .iter()
        .filter_map(|k| Some((k.to_string(), status?.get(*k)?.clone())))
        .collect();
    if kept.is_empty() {
        return Box::default();
    }
    Value::Object(kept).to_string().into_boxed_str()
}

impl RequestObj {
    /// A request as the cluster has it; `None` without a name or kind.
    pub fn read(r: &Value) -> Option<RequestObj> {
        Some(RequestObj {
            key: ObjKey::of(r)?,
            labels: string_map(r.pointer("/metadata/labels")),
            annotations: string_map(r.pointer("/metadata/annotations")),
            finalizers: r
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .map(|f| {
                    f.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            deleting: is_deleting(r),
            spec: r.get("spec").cloned().unwrap_or(Value::Null),
            promise_version: text_at(r, "/status/promiseVersion"),
            binding_version: text_at(r, "/status/resourceBindingVersion"),
            resource_version: text_at(r, "/metadata/resourceVersion"),
            uid: text_at(r, "/metadata/uid"),
            api_version: text_at(r, "/apiVersion"),
            generation: r
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or_default(),
            workflow_status: workflow_status_text(r.get("status")),
        })
    }
}
