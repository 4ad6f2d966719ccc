//! The planner's input: one promise with its revisions, requests, bindings
//! and workflow Jobs, read from any object source (the in-memory store in
//! `simulate` and tests, reflectors in the operator).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::Value;

use crate::store::Store;
use crate::workflow_job::{self, JobObj};
use kbind_model::api::{self, Promise, PromiseRevision, ResourceBinding, labels};
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
}

impl RequestObj {
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
        }
    }
}

/// Where a view is read from: the in-memory [`Store`], or the operator's
/// cache, which keeps most objects as text and parses each one only while
/// the view takes what it needs from it.
pub trait ObjectSource {
    /// The current time, milliseconds since the epoch.
    fn now(&self) -> i64;
    fn get(&self, key: &ObjKey) -> Option<Cow<'_, Value>>;
    /// Calls `f` with every object of `kind`.
    fn each(&self, kind: &str, f: &mut dyn FnMut(&Value));
}

impl ObjectSource for Store {
    fn now(&self) -> i64 {
        self.now
    }
    fn get(&self, key: &ObjKey) -> Option<Cow<'_, Value>> {
        Store::get(self, key).map(Cow::Borrowed)
    }
    fn each(&self, kind: &str, f: &mut dyn FnMut(&Value)) {
        self.list(kind).for_each(f);
    }
}

/// The Promise as the view saw it.
#[derive(Clone, Debug)]
pub struct PromiseSeen {
    pub key: ObjKey,
    pub promise: Promise,
    /// Its deletion has started (a deletionTimestamp is set).
    pub deleting: bool,
}

#[derive(Clone, Debug)]
pub struct View {
    pub now: i64,
    pub promise_name: String,
    pub promise: Option<PromiseSeen>,
    pub revisions: Vec<PromiseRevision>,
    pub requests: Vec<RequestObj>,
    pub bindings: Vec<ResourceBinding>,
    pub jobs: Vec<JobObj>,
    /// The CRD of the promise's requests (from `spec.api`) exists.
    pub request_api_installed: bool,
    /// That CRD as the cluster has it.
    pub request_crd: Option<Value>,
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

fn is_deleting(object: &Value) -> bool {
    object.pointer("/metadata/deletionTimestamp").is_some()
}

impl View {
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
                    b,
                )
            })
            .collect()
    }

    /// The view's requests by (namespace, name), for bindings that name many.
    pub fn requests_by_key(&self) -> HashMap<(&str, &str), &RequestObj> {
        self.requests
            .iter()
            .map(|r| ((r.namespace(), r.name()), r))
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

    pub fn build(source: &(impl ObjectSource + ?Sized), promise_name: &str) -> Self {
        let promise = source
            .get(&ObjKey::new("Promise", "", promise_name))
            .and_then(|v| {
                let deleting = is_deleting(&v);
                Promise::deserialize(&*v).ok().map(|promise| PromiseSeen {
                    key: ObjKey::new("Promise", "", promise_name),
                    promise,
                    deleting,
                })
            });
        let mut revisions: Vec<PromiseRevision> = Vec::new();
        source.each("PromiseRevision", &mut |r| {
            if r.pointer("/spec/promiseRef/name").and_then(Value::as_str) == Some(promise_name)
                && let Ok(r) = PromiseRevision::deserialize(r)
            {
                revisions.push(r);
            }
        });
        let request_kind = promise
            .as_ref()
            .and_then(|seen| seen.promise.spec.request_kind())
            .or_else(|| {
                revisions.iter().find_map(|r| {
                    api::PromiseSpec::deserialize(&r.spec.promise_spec)
                        .ok()
                        .and_then(|s| s.request_kind())
                })
            });
        let request_crd = request_kind.as_ref().and_then(|k| {
            source
                .get(&ObjKey::new(
                    "CustomResourceDefinition",
                    "",
                    &format!("{}.{}", k.plural, k.group),
                ))
                .map(|crd| crd.into_owned())
        });
        let request_api_installed = request_crd.is_some();
        let mut requests = Vec::new();
        if let Some(kind) = request_kind {
            source.each(&kind.kind, &mut |r| requests.extend(request_obj(r)));
        }
        let mut bindings = Vec::new();
        source.each("ResourceBinding", &mut |b| {
            if b.pointer("/spec/promiseRef/name").and_then(Value::as_str) == Some(promise_name)
                && let Ok(b) = ResourceBinding::deserialize(b)
            {
                bindings.push(b);
            }
        });
        let mut jobs = Vec::new();
        source.each(workflow_job::KIND, &mut |j| {
            if labels::label_of(j, labels::PROMISE_NAME) == Some(naming::label_value(promise_name))
            {
                jobs.extend(JobObj::read(j));
            }
        });
        Self {
            now: source.now(),
            promise_name: promise_name.into(),
            promise,
            revisions,
            requests,
            bindings,
            jobs,
            request_api_installed,
            request_crd,
        }
    }
}

fn request_obj(r: &Value) -> Option<RequestObj> {
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
        promise_version: r
            .pointer("/status/promiseVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        binding_version: r
            .pointer("/status/resourceBindingVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        resource_version: r
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        uid: r
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        api_version: r
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}
