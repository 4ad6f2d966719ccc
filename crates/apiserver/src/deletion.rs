//! DELETE as a real server and its garbage collector carry it out:
//! `DeleteOptions` (propagation policy, preconditions, dry run), each kind's
//! default propagation, finalizers, foreground deletion, orphaning, and
//! namespaces that go through `Terminating` while their contents go.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::collector::Work;
use super::params::{flag, integer};
use super::registry::Resource;
use super::state::{ApiError, Key, ObjectStore};
use super::validation::FieldError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
pub const ORPHAN_FINALIZER: &str = "orphan";

/// `metav1.DeleteOptions`, from the body (kubectl, client-go, kube-rs send
/// one) or the query parameters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeleteOptions {
    pub propagation: Option<Propagation>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    /// `dryRun: [All]` in the body: kubectl sends a DELETE's dry run there,
    /// not in the query.
    pub dry_run: bool,
}

impl DeleteOptions {
    /// The options of a DELETE, as the real handler reads them: from the
    /// body when there is one (kubectl, client-go and kube-rs send one),
    /// else from the query through the parameter codec; then
    /// `ValidateDeleteOptions` (422 on `DeleteOptions.meta.k8s.io`).
    pub fn parse(body: &[u8], query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let options: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Self::from_query(query)?
        } else {
            serde_json::from_slice(body).map_err(|e| {
                ApiError::new(400, "BadRequest", format!("invalid DeleteOptions: {e}"))
            })?
        };
        let policy = options["propagationPolicy"].as_str();
        let orphan_dependents = options["orphanDependents"].as_bool();
        let dry_run = super::validation::strings(&options["dryRun"]);
        let mut errs = vec![];
        if let (Some(policy), Some(_)) = (policy, orphan_dependents) {
            errs.push(FieldError::invalid(
                "propagationPolicy",
                policy,
                "orphanDependents and deletionPropagation cannot be both set",
            ));
        }
        let propagation = match (policy, orphan_dependents) {
            (Some("Orphan"), _) => Some(Propagation::Orphan),
            (Some("Background"), _) => Some(Propagation::Background),
            (Some("Foreground"), _) => Some(Propagation::Foreground),
            (Some(other), _) => {
                errs.push(FieldError::not_supported(
                    "propagationPolicy",
                    other,
                    &["Foreground", "Background", "Orphan", "nil"],
                ));
                None
            }
            (None, Some(true)) => Some(Propagation::Orphan),
            (None, Some(false)) => Some(Propagation::Background),
            (None, None) => None,
        };
        errs.extend(super::write_options::dry_run_error(&dry_run));
        if !errs.is_empty() {
            return Err(ApiError::invalid_kind(
                "DeleteOptions",
                "meta.k8s.io",
                "",
                errs,
            ));
        }
        let precondition = |f: &str| {
            options["preconditions"][f]
                .as_str()
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        Ok(Self {
            propagation,
            uid: precondition("uid"),
            resource_version: precondition("resourceVersion"),
            dry_run: !dry_run.is_empty(),
        })
    }

    /// `DeleteOptions` from query parameters, as JSON the body would carry;
    /// a `gracePeriodSeconds` that is no integer is a 400.
    fn from_query(query: &HashMap<String, String>) -> Result<Value, ApiError> {
        let mut options = json!({});
        if let Some(policy) = query.get("propagationPolicy") {
            options["propagationPolicy"] = json!(policy);
        }
        if query.contains_key("orphanDependents") {
            options["orphanDependents"] = json!(flag(query, "orphanDependents"));
        }
        if let Some(grace) = integer(query, "gracePeriodSeconds")? {
            options["gracePeriodSeconds"] = json!(grace);
        }
        if let Some(dry_run) = query.get("dryRun") {
            options["dryRun"] = json!([dry_run]);
        }
        Ok(options)
    }
}

/// How an object is deleted (`shouldOrphanDependents`,
/// `shouldDeleteDependents`): as the client says, else as the collector's
/// finalizer it already holds says, else its kind's default.
fn propagation(r: &Resource, current: &Value, options: &DeleteOptions) -> Propagation {
    if let Some(p) = options.propagation {
        return p;
    }
    let held = finalizers(current);
    if held.iter().any(|f| f == ORPHAN_FINALIZER) {
        Propagation::Orphan
    } else if held.iter().any(|f| f == FOREGROUND_FINALIZER) {
        Propagation::Foreground
    } else {
        default_propagation(r)
    }
}

/// An owner reference as the garbage collector resolves it.
pub(super) enum Owner {
    Present(Value),
    Absent,
    /// Its kind is not served: nothing can be decided.
    Unknown,
}

/// What the namespace controller and the CRD finalizer delete with.
pub(super) const BACKGROUND: DeleteOptions = DeleteOptions {
    propagation: Some(Propagation::Background),
    uid: None,
    resource_version: None,
    dry_run: false,
};

/// A kind's default when the client names no policy
/// (`DefaultGarbageCollectionPolicy`): batch/v1 Jobs orphan their pods, for
/// compatibility; everything else is collected in the background.
pub fn default_propagation(r: &Resource) -> Propagation {
    if r.group == "batch" && r.kind == "Job" {
        Propagation::Orphan
    } else {
        Propagation::Background
    }
}

fn meta_str<'a>(o: &'a Value, field: &str) -> &'a str {
    o["metadata"][field].as_str().unwrap_or_default()
}

/// The finalizers an object holds.
pub(super) fn finalizers(o: &Value) -> Vec<String> {
    o["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect()
}

fn blocks_owner(o: &Value, uid: &str) -> bool {
    o["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r["uid"].as_str() == Some(uid) && r["blockOwnerDeletion"] == json!(true))
        })
}

/// The finalizer a CRD holds while its instances are deleted.
const CRD_CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn is_crd(r: &Resource) -> bool {
    r.group == "apiextensions.k8s.io" && r.kind == "CustomResourceDefinition"
}

/// `SetCRDCondition`: the transition time moves only with the status.
fn set_crd_condition(
    crd: &mut Value,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
) {
    if !crd["status"]["conditions"].is_array() {
        crd["status"]["conditions"] = json!([]);
    }
    let Some(conditions) = crd["status"]["conditions"].as_array_mut() else {
        return;
    };
    let condition = json!({"type": type_, "status": status, "lastTransitionTime": now,
        "reason": reason, "message": message});
    match conditions.iter_mut().find(|c| c["type"] == type_) {
        Some(c) if c["status"] == status => {
            c["reason"] = json!(reason);
            c["message"] = json!(message);
        }
        Some(c) => *c = condition,
        None => conditions.push(condition),
    }
}

/// The namespaces kube-apiserver's NamespaceLifecycle never lets go.
const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

/// The conditions the namespace controller keeps on a terminating
/// namespace, each with its reason and message when nothing is wrong
/// (`okReasons`, `okMessages`).
const NAMESPACE_DELETION_CONDITIONS: [(&str, &str, &str); 5] = [
    (
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    (
        "NamespaceContentRemaining",
        "ContentRemoved",
        "All content successfully removed",
    ),
    (
        "NamespaceFinalizersRemaining",
        "ContentHasNoFinalizers",
        "All content-preserving finalizers finished",
    ),
];

impl ObjectStore {
    /// DELETE of one object with `options`.
    pub fn delete_with(
        &mut self,
        r: &Resource,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Value, ApiError> {
        let current = self.get(r, namespace, name)?;
        // NamespaceLifecycle's immortal namespaces, dry runs included.
        if r.group.is_empty() && r.kind == "Namespace" && IMMORTAL_NAMESPACES.contains(&name) {
            return Err(ApiError::new(
                403,
                "Forbidden",
                format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"),
            )
            .about(r, name));
        }
        let conflict = |what: &str, wanted: &str, actual: &str| {
            ApiError::new(
                409,
                "Conflict",
                format!(
                    "Precondition failed: {what} in precondition: {wanted}, {what} in object meta: {actual}"
                ),
            )
        };
        if let Some(uid) = &options.uid
            && uid != meta_str(&current, "uid")
        {
            return Err(conflict("UID", uid, meta_str(&current, "uid")));
        }
        if let Some(rv) = &options.resource_version
            && rv != meta_str(&current, "resourceVersion")
        {
            return Err(conflict(
                "ResourceVersion",
                rv,
                meta_str(&current, "resourceVersion"),
            ));
        }
        if self.is_dry_run() {
            let mut shown = current;
            if !finalizers(&shown).is_empty() && shown["metadata"]["deletionTimestamp"].is_null() {
                bump_generation(&mut shown);
                shown["metadata"]["deletionTimestamp"] = json!(self.now());
            }
            return Ok(shown);
        }
        let key = self.key_of(r, namespace, name);
        if r.group.is_empty() && r.kind == "Namespace" {
            return Ok(self.terminate_namespace(r, key, current));
        }
        if is_crd(r) && current["metadata"]["deletionTimestamp"].is_null() {
            return Ok(self.terminate_crd(r, key, current));
        }
        if current["metadata"]["deletionTimestamp"].is_string() {
            return Ok(current);
        }
        let uid = meta_str(&current, "uid").to_string();
        let propagation = propagation(r, &current, options);
        // `deletionFinalizersForGarbageCollection`: the collector's own
        // finalizers go, and the one the propagation asks for comes back;
        // the collector removes it once it has done its part.
        let mut held: Vec<String> = finalizers(&current)
            .into_iter()
            .filter(|f| f != ORPHAN_FINALIZER && f != FOREGROUND_FINALIZER)
            .collect();
        match propagation {
            Propagation::Orphan => held.push(ORPHAN_FINALIZER.to_string()),
            Propagation::Foreground => held.push(FOREGROUND_FINALIZER.to_string()),
            Propagation::Background => {}
        }
        let deleted = self.finalize_or_remove(r, key, current, held);
        match propagation {
            Propagation::Orphan => self.queue_work(Work::Orphan(uid)),
            Propagation::Foreground => {
                // Its dependents deleted, then it is released once none
                // blocks it (again after each that goes).
                self.queue_work(Work::Owner(uid.clone()));
                self.queue_work(Work::Foreground(uid));
            }
            Propagation::Background => {}
        }
        Ok(deleted)
    }

    /// Marks an object being deleted (deletionTimestamp, and `held` as its
    /// finalizers) when finalizers hold it, or removes it at once.
    fn finalize_or_remove(
        &mut self,
        r: &Resource,
        key: Key,
        current: Value,
        held: Vec<String>,
    ) -> Value {
        let mut next = current;
        if held.is_empty() {
            if let Some(m) = next["metadata"].as_object_mut() {
                m.remove("finalizers");
            }
        } else {
            next["metadata"]["finalizers"] = json!(held);
        }
        if finalizers(&next).is_empty() {
            self.stamp(&mut next);
            self.remove(r, key, next.clone());
            return next;
        }
        bump_generation(&mut next);
        next["metadata"]["deletionTimestamp"] = json!(self.now());
        next["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        self.stamp(&mut next);
        self.replace(r, key, next.clone());
        next
    }

    /// Every object with an owner reference to `uid`, with its resource.
    pub(super) fn dependents(&self, uid: &str) -> Vec<(Resource, Key)> {
        self.dependent_keys(uid)
            .into_iter()
            .filter_map(|k| self.resource_of(&k).map(|res| (res, k)))
            .collect()
    }

    /// The garbage collector's decision on a dependent whose owner went or
    /// waits for its dependents (`attemptToDeleteItem`): while another
    /// owner is still there, only the references to the others go;
    /// otherwise it is deleted — in the foreground when an owner waits on
    /// it and it has dependents of its own, else as its own finalizers say
    /// (background by default, whatever its kind's DELETE default).
    pub(super) fn collect_dependent(&mut self, r: &Resource, key: &Key) {
        let Some(mut object) = self.objects_get(key) else {
            return;
        };
        if object["metadata"]["deletionTimestamp"].is_string() {
            return;
        }
        let references: Vec<Value> = object["metadata"]["ownerReferences"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut solid = false;
        let mut waiting = false;
        let mut unsolid: Vec<String> = Vec::new();
        for reference in &references {
            let uid = reference["uid"].as_str().unwrap_or_default().to_string();
            match self.owner(key, reference) {
                Owner::Absent => unsolid.push(uid),
                Owner::Present(owner)
                    if owner["metadata"]["deletionTimestamp"].is_string()
                        && finalizers(&owner).iter().any(|f| f == FOREGROUND_FINALIZER) =>
                {
                    waiting = true;
                    unsolid.push(uid);
                }
                // A kind the server does not serve: the real collector
                // cannot look the owner up and tries again later.
                Owner::Present(_) | Owner::Unknown => solid = true,
            }
        }
        if solid {
            if unsolid.is_empty() {
                return;
            }
            if let Some(refs) = object["metadata"]["ownerReferences"].as_array_mut() {
                refs.retain(|o| {
                    !o["uid"]
                        .as_str()
                        .is_some_and(|u| unsolid.iter().any(|x| x == u))
                });
            }
            self.stamp(&mut object);
            self.replace(r, key.clone(), object);
            return;
        }
        let own = finalizers(&object);
        let propagation = if waiting && !self.dependents(meta_str(&object, "uid")).is_empty() {
            Propagation::Foreground
        } else if own.iter().any(|f| f == ORPHAN_FINALIZER) {
            Propagation::Orphan
        } else if own.iter().any(|f| f == FOREGROUND_FINALIZER) {
            Propagation::Foreground
        } else {
            Propagation::Background
        };
        let options = DeleteOptions {
            propagation: Some(propagation),
            ..DeleteOptions::default()
        };
        let _ = self.delete_with(r, &key.namespace, &key.name, &options);
    }

    /// `attemptToOrphan`: the dependents of the object with `uid` lose
    /// their references to it, then it loses its `orphan` finalizer (and
    /// goes, if no other finalizer holds it).
    pub(super) fn finish_orphan(&mut self, uid: &str) {
        self.orphan_dependents(uid);
        self.drop_finalizer(uid, ORPHAN_FINALIZER);
    }

    /// The owner `reference` names, as the collector finds it
    /// (`isDangling`): by its kind and name — in the dependent's namespace
    /// when the kind is namespaced — and then its uid. A reference whose
    /// name, kind or uid is wrong, or a cluster-scoped dependent's
    /// reference to a namespaced kind, finds no owner: the dependent is
    /// collected.
    pub(super) fn owner(&self, dependent: &Key, reference: &Value) -> Owner {
        let api_version = reference["apiVersion"].as_str().unwrap_or_default();
        let kind = reference["kind"].as_str().unwrap_or_default();
        let Some(owner_resource) = self.resource_of_kind(api_version, kind) else {
            return Owner::Unknown;
        };
        if owner_resource.namespaced && dependent.namespace.is_empty() {
            return Owner::Absent;
        }
        let namespace = if owner_resource.namespaced {
            dependent.namespace.as_str()
        } else {
            ""
        };
        let name = reference["name"].as_str().unwrap_or_default();
        match self.objects_ref(&self.key_of(owner_resource, namespace, name)) {
            Some(owner) if meta_str(owner, "uid") == reference["uid"].as_str().unwrap_or("-") => {
                Owner::Present(owner.clone())
            }
            _ => Owner::Absent,
        }
    }

    /// The garbage collector's orphaning: owner references to `uid` removed.
    fn orphan_dependents(&mut self, uid: &str) {
        for (res, k) in self.dependents(uid) {
            let Some(mut o) = self.objects_get(&k) else {
                continue;
            };
            if let Some(refs) = o["metadata"]["ownerReferences"].as_array_mut() {
                refs.retain(|r| r["uid"].as_str() != Some(uid));
                if refs.is_empty()
                    && let Some(m) = o["metadata"].as_object_mut()
                {
                    m.remove("ownerReferences");
                }
            }
            self.stamp(&mut o);
            self.replace(&res, k, o);
        }
    }

    /// A foreground deletion ends once no dependent blocks it: the
    /// `foregroundDeletion` finalizer goes, and with it the owner if no
    /// other finalizer holds it.
    pub(super) fn finish_foreground(&mut self, uid: &str) {
        let Some((res, key, owner)) = self.object_with_uid(uid) else {
            return;
        };
        if !finalizers(&owner).iter().any(|f| f == FOREGROUND_FINALIZER)
            || self
                .dependent_keys(uid)
                .iter()
                .filter_map(|k| self.objects_get(k))
                .any(|o| blocks_owner(&o, uid))
        {
            return;
        }
        self.release(&res, key, owner, FOREGROUND_FINALIZER);
    }

    /// The collector's finalizer `finalizer` taken off the object with
    /// `uid`, if it holds it.
    fn drop_finalizer(&mut self, uid: &str, finalizer: &str) {
        let Some((res, key, object)) = self.object_with_uid(uid) else {
            return;
        };
        if finalizers(&object).iter().any(|f| f == finalizer) {
            self.release(&res, key, object, finalizer);
        }
    }

    /// The object with `uid`, with its resource and key (the collector's
    /// graph knows objects by uid).
    fn object_with_uid(&self, uid: &str) -> Option<(Resource, Key, Value)> {
        let key = self.key_of_uid(uid)?;
        let object = self.objects_get(&key)?;
        self.resource_of(&key).map(|r| (r, key, object))
    }

    /// Writes `object` without `finalizer`; it goes if that was the last.
    fn release(&mut self, r: &Resource, key: Key, object: Value, finalizer: &str) {
        let mut next = object;
        let left: Vec<String> = finalizers(&next)
            .into_iter()
            .filter(|f| f != finalizer)
            .collect();
        next["metadata"]["finalizers"] = json!(left);
        super::decoding::omit_empty_metadata(&mut next);
        self.stamp(&mut next);
        if left.is_empty() {
            self.remove(r, key, next);
        } else {
            self.replace(r, key, next);
        }
    }

    /// A namespace's deletion: `Terminating` at once, its contents deleted,
    /// and the namespace itself gone once nothing is left in it.
    fn terminate_namespace(&mut self, r: &Resource, key: Key, current: Value) -> Value {
        let name = key.name.clone();
        let mut next = current;
        if next["metadata"]["deletionTimestamp"].is_null() {
            next["metadata"]["deletionTimestamp"] = json!(self.now());
            next["status"] = json!({"phase": "Terminating"});
            self.stamp(&mut next);
            self.replace(r, key, next.clone());
        }
        // The namespace controller deletes the content a moment later; the
        // answer is the namespace as the delete left it.
        self.queue_work(Work::Namespace(name));
        next
    }

    /// The namespace controller's pass over a terminating namespace: what
    /// is in it deleted (in the background, as its deleter asks, so no
    /// `orphan` finalizer holds a Job), the namespace finalized once
    /// empty, and otherwise what remains reported on it.
    pub(super) fn namespace_pass(&mut self, name: &str) {
        if !self.namespace_terminating(name) {
            return;
        }
        let inside: Vec<(Resource, Key)> = self
            .objects_iter()
            .filter(|(k, o)| k.namespace == name && o["metadata"]["deletionTimestamp"].is_null())
            .filter_map(|(k, _)| self.resource_of(k).map(|res| (res, k.clone())))
            .collect();
        for (res, k) in inside {
            let _ = self.delete_with(&res, &k.namespace, &k.name, &BACKGROUND);
        }
        self.finish_namespace(name);
        self.report_namespace_content(name);
    }

    /// A CRD's deletion as the CRD registry and its finalizer controller
    /// carry it out: marked `Terminating` with the cleanup finalizer, every
    /// instance deleted (those with finalizers wait for them), and the CRD
    /// gone once no instance is left.
    fn terminate_crd(&mut self, r: &Resource, key: Key, current: Value) -> Value {
        let name = key.name.clone();
        let mut next = current;
        next["metadata"]["deletionTimestamp"] = json!(self.now());
        let mut held = finalizers(&next);
        if !held.iter().any(|f| f == CRD_CLEANUP_FINALIZER) {
            held.push(CRD_CLEANUP_FINALIZER.to_string());
        }
        next["metadata"]["finalizers"] = json!(held);
        set_crd_condition(
            &mut next,
            "Terminating",
            "True",
            "InstanceDeletionInProgress",
            "CustomResource deletion is in progress",
            &self.now(),
        );
        self.stamp(&mut next);
        self.replace(r, key, next.clone());
        self.queue_work(Work::Crd(name));
        next
    }

    /// The CRD finalizer's pass over a terminating CRD: its instances
    /// deleted (those with finalizers wait for them), and the CRD's own
    /// finalizer gone once none is left.
    pub(super) fn crd_pass(&mut self, name: &str) {
        if !self.crd_terminating(name) {
            return;
        }
        for (res, k) in self.crd_instances(name) {
            let deleting = self
                .objects_ref(&k)
                .is_some_and(|o| o["metadata"]["deletionTimestamp"].is_string());
            if !deleting {
                let _ = self.delete_with(&res, &k.namespace, &k.name, &BACKGROUND);
            }
        }
        self.finish_crd(name);
    }

    /// The stored instances of the CRD `name`, whichever version serves them.
    fn crd_instances(&self, name: &str) -> Vec<(Resource, Key)> {
        // One resource per stored kind: every served version shares it.
        let mut kinds: Vec<&Resource> = vec![];
        for res in self
            .resources()
            .iter()
            .filter(|r| r.crd.as_deref() == Some(name))
        {
            if !kinds
                .iter()
                .any(|k| k.group == res.group && k.plural == res.plural)
            {
                kinds.push(res);
            }
        }
        self.objects_iter()
            .filter_map(|(k, _)| {
                kinds
                    .iter()
                    .find(|r| r.group == k.group && r.plural == k.plural)
                    .map(|r| ((*r).clone(), k.clone()))
            })
            .collect()
    }

    /// True while the CRD `name` is being deleted: no new instance may be made.
    pub(super) fn crd_terminating(&self, name: &str) -> bool {
        self.crd_resource()
            .map(|r| self.key_of(&r, "", name))
            .and_then(|k| self.objects_ref(&k))
            .is_some_and(|crd| crd["metadata"]["deletionTimestamp"].is_string())
    }

    /// The finalizer controller's last step: a terminating CRD whose
    /// instances are all gone loses its cleanup finalizer, and goes.
    pub(super) fn finish_crd(&mut self, name: &str) {
        if !self.crd_terminating(name) || !self.crd_instances(name).is_empty() {
            return;
        }
        let Some(r) = self.crd_resource() else {
            return;
        };
        let key = self.key_of(&r, "", name);
        let Some(mut next) = self.objects_get(&key) else {
            return;
        };
        let left: Vec<String> = finalizers(&next)
            .into_iter()
            .filter(|f| f != CRD_CLEANUP_FINALIZER)
            .collect();
        next["metadata"]["finalizers"] = json!(left);
        set_crd_condition(
            &mut next,
            "Terminating",
            "False",
            "InstanceDeletionCompleted",
            "removed all instances",
            &self.now(),
        );
        self.stamp(&mut next);
        if left.is_empty() {
            self.remove(&r, key, next);
        } else {
            self.replace(&r, key, next);
        }
    }

    /// The namespace controller's last step: an empty terminating namespace
    /// loses its `kubernetes` finalizer and goes.
    pub(super) fn finish_namespace(&mut self, name: &str) {
        let Some(r) = self.resource("", "v1", "namespaces").cloned() else {
            return;
        };
        let key = self.key_of(&r, "", name);
        let Some(ns) = self.objects_get(&key) else {
            return;
        };
        if ns["metadata"]["deletionTimestamp"].is_null()
            || self.objects_iter().any(|(k, _)| k.namespace == name)
        {
            return;
        }
        let mut next = ns;
        next["spec"]["finalizers"] = json!([]);
        self.stamp(&mut next);
        if finalizers(&next).is_empty() {
            self.remove(&r, key, next);
        } else {
            self.replace(&r, key, next);
        }
    }

    /// The namespace controller's report on a terminating namespace whose
    /// content is still there: its five deletion conditions, the remaining
    /// content counted by resource and by finalizer (what `kubectl get ns -o
    /// yaml` shows when a namespace stays `Terminating`). Written only when
    /// they change, as `updateConditions` does.
    pub(super) fn report_namespace_content(&mut self, name: &str) {
        if !self.namespace_terminating(name) {
            return;
        }
        let Some(r) = self.resource("", "v1", "namespaces").cloned() else {
            return;
        };
        let key = self.key_of(&r, "", name);
        let Some(ns) = self.objects_get(&key) else {
            return;
        };
        let mut by_resource: BTreeMap<String, usize> = BTreeMap::new();
        let mut by_finalizer: BTreeMap<String, usize> = BTreeMap::new();
        for (k, object) in self.objects_iter().filter(|(k, _)| k.namespace == name) {
            *by_resource
                .entry(format!("{}.{}", k.plural, k.group))
                .or_default() += 1;
            for f in finalizers(object) {
                *by_finalizer.entry(f).or_default() += 1;
            }
        }
        if by_resource.is_empty() {
            return;
        }
        let mut resources: Vec<String> = by_resource
            .iter()
            .map(|(r, n)| format!("{r} has {n} resource instances"))
            .collect();
        resources.sort();
        let mut held: Vec<String> = by_finalizer
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        held.sort();
        let failing = |type_: &str| -> Option<(&'static str, String)> {
            match type_ {
                "NamespaceContentRemaining" => Some((
                    "SomeResourcesRemain",
                    format!("Some resources are remaining: {}", resources.join(", ")),
                )),
                "NamespaceFinalizersRemaining" if !held.is_empty() => Some((
                    "SomeFinalizersRemain",
                    format!(
                        "Some content in the namespace has finalizers remaining: {}",
                        held.join(", ")
                    ),
                )),
                _ => None,
            }
        };
        let now = self.now();
        let mut conditions: Vec<Value> = ns
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let before = conditions.clone();
        for (type_, ok_reason, ok_message) in NAMESPACE_DELETION_CONDITIONS {
            let (status, reason, message) = match failing(type_) {
                Some((reason, message)) => ("True", reason.to_string(), message),
                None => ("False", ok_reason.to_string(), ok_message.to_string()),
            };
            match conditions.iter_mut().find(|c| c["type"] == *type_) {
                None => conditions.push(json!({"type": type_, "status": status,
                    "lastTransitionTime": now, "reason": reason, "message": message})),
                Some(c) => {
                    if c["status"] != status {
                        c["lastTransitionTime"] = json!(now);
                    }
                    c["status"] = json!(status);
                    c["reason"] = json!(reason);
                    c["message"] = json!(message);
                }
            }
        }
        if conditions == before {
            return;
        }
        let mut next = ns;
        next["status"]["conditions"] = json!(conditions);
        self.stamp(&mut next);
        self.replace(&r, key, next);
    }

    /// True while a namespace is being deleted: nothing new may be made in it.
    pub(super) fn namespace_terminating(&self, name: &str) -> bool {
        self.resource("", "v1", "namespaces")
            .map(|r| self.key_of(r, "", name))
            .and_then(|k| self.objects_ref(&k))
            .is_some_and(|ns| ns["metadata"]["deletionTimestamp"].is_string())
    }
}

/// `markAsDeleting`: an object first marked as being deleted has its
/// `metadata.generation` moved on (where the kind keeps one), since its
/// controllers must now act differently; a controller comparing it with
/// its `observedGeneration` sees the deletion as a change.
fn bump_generation(object: &mut Value) {
    if let Some(generation) = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .filter(|g| *g > 0)
    {
        object["metadata"]["generation"] = json!(generation + 1);
    }
}
