//! The promise side: revisions from the Promise (R-62…R-67), the latest
//! marker (R-68…R-70, without the two-step race H-1), revision deletion
//! (R-71…R-77 with #820: refused while bound, never cascades), promise
//! deletion, and the policy's upgrade planning when revisions change.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Action, Context, PromiseSeen, View, convert, event, rails};
use kbind_contract::{PlanInput, PlanTrigger, SpecChangeInput};
use kbind_model::api::{
    self, UNVERSIONED, annotations, events, finalizers, labels, request_status,
};
use kbind_model::key::ObjKey;
use kbind_model::naming;
use kbind_model::patch::merge_patch_diff;
use kbind_model::time::{after_delay, rfc3339};

pub fn plan(view: &View, ctx: &Context<'_>, out: &mut Vec<Action>) {
    if let Some(PromiseSeen {
        key,
        promise,
        deleting,
        ..
    }) = view.promise.as_deref()
    {
        // Kratix's Promise controller checks the label first: a paused
        // promise is not reconciled at all, its deletion included. Its
        // requests are paused by the same label (request.rs).
        if has_label(&promise.metadata, labels::PAUSED, "true") {
            plan_paused(view, key, promise, out);
            return;
        }
        resume_after_pause(key, promise, out);
        if *deleting {
            plan_promise_deletion(view, key, promise, out);
        } else {
            plan_revision_for_promise(view, ctx, key, promise, out);
        }
    }
    plan_latest_marker(view, out);
    plan_revision_deletion(view, out);
    crate::rollout::plan_counts(view, out);
    plan_policy_upgrades(view, ctx, out);
}

/// What a paused promise shows, once (Kratix's
/// `setPausedReconciliationStatusConditions`): `Unavailable`, with
/// `Available` False and `Reconciled` Unknown, both `Paused`, and a
/// `PausedReconciliation` Warning.
fn plan_paused(view: &View, key: &ObjKey, promise: &api::Promise, out: &mut Vec<Action>) {
    let status = promise.status.clone().unwrap_or_default();
    let mut written = serde_json::Map::new();
    if let Some(conditions) = status.rest.get("conditions") {
        written.insert("conditions".into(), conditions.clone());
    }
    let now = rfc3339(view.now);
    let paused = request_status::PAUSED_RECONCILIATION;
    let available =
        request_status::set_condition(&mut written, "Available", "False", paused, "Paused", &now);
    let reconciled = request_status::set_condition(
        &mut written,
        request_status::RECONCILED,
        "Unknown",
        paused,
        "Paused",
        &now,
    );
    if available || reconciled || status.status.as_deref() != Some("Unavailable") {
        written.insert("status".into(), json!("Unavailable"));
        out.push(Action::PatchStatus {
            key: key.clone(),
            patch: json!({ "status": written }),
            why: "kratix.io/paused: promise reconciliation paused",
        });
        out.push(event(
            key,
            true,
            events::PAUSED_RECONCILIATION,
            "'kratix.io/paused' label set to 'true' for promise; pausing reconciliation",
        ));
    }
}

/// The pause's conditions go once the label has: kbind keeps no other
/// condition on a promise (its `status` column comes back with the rest of
/// the status), and runs no promise workflow to mark it reconciled. The
/// requests run again by themselves (request.rs).
fn resume_after_pause(key: &ObjKey, promise: &api::Promise, out: &mut Vec<Action>) {
    let Some(Value::Array(conditions)) = promise
        .status
        .as_ref()
        .and_then(|s| s.rest.get("conditions"))
    else {
        return;
    };
    let kept: Vec<&Value> = conditions
        .iter()
        .filter(|c| c["reason"] != request_status::PAUSED_RECONCILIATION)
        .collect();
    if kept.len() != conditions.len() {
        out.push(Action::PatchStatus {
            key: key.clone(),
            patch: json!({"status": {"conditions": kept}}),
            why: "kratix.io/paused removed: the pause's conditions go",
        });
    }
}

fn promise_version(promise: &api::Promise) -> String {
    promise
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::PROMISE_VERSION))
        .filter(|v| !v.is_empty())
        .cloned()
        .unwrap_or_else(|| UNVERSIONED.to_string())
}

fn has_label(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
    value: &str,
) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
        == Some(value)
}

/// R-62…R-67: create or update the revision of the Promise's current
/// version, mirror the version into the status, and re-run requests after a
/// spec change as the policy selects them.
fn plan_revision_for_promise(
    view: &View,
    ctx: &Context<'_>,
    key: &ObjKey,
    promise: &api::Promise,
    out: &mut Vec<Action>,
) {
    ensure_finalizers(key, promise, out);
    if keep_request_crd(view, promise, out) {
        // The rest is planned once the change is seen: a revision that
        // upgrades requests before their watch shows them as the new schema
        // reads them (defaults, pruning) would run each workflow from the
        // old reading, then again.
        return;
    }
    let version = promise_version(promise);
    keep_revision(view, key, promise, &version, out);
    plan_status(view, key, promise, &version, out);
    let status = promise.status.clone().unwrap_or_default();
    rerun_after_change(view, ctx, key, promise, &status, &version, out);
}

/// What Kratix's promise controller shows of a promise (its CRD's
/// columns), in one write when any of it changed: R-62's version, the
/// request kind and apiVersion (read with the promise), `Available` once
/// that API is served.
fn plan_status(
    view: &View,
    key: &ObjKey,
    promise: &api::Promise,
    version: &str,
    out: &mut Vec<Action>,
) {
    let Some(seen) = view.promise.as_deref() else {
        return;
    };
    let status = promise.status.as_ref();
    let have = |field: fn(&api::PromiseStatus) -> &Option<String>| {
        status.and_then(|s| field(s).as_deref())
    };
    // As Kratix's `ensureCRDExists`: available once the request CRD is
    // established; unavailable when the server refused its names, or when
    // another promise's requests are the kind's. While the server has not
    // judged a new CRD (a moment on a real server) nothing is written.
    let crd = view.request_crd.as_deref();
    let refused = crd.and_then(super::request_crd::names_refused);
    let established = crd.is_some_and(super::request_crd::established);
    let api_state = match &seen.request_kind {
        None => Some("Available"),
        Some(_) if refused.is_some() => Some("Unavailable"),
        Some(_) if established && view.request_kind_taken_by.is_some() => Some("Unavailable"),
        Some(_) if established => Some("Available"),
        Some(_) => None,
    };
    let becomes_unavailable =
        api_state == Some("Unavailable") && have(|s| &s.status) != Some("Unavailable");
    let wanted = [
        ("version", Some(version.to_string()), have(|s| &s.version)),
        (
            "kind",
            seen.request_kind.as_ref().map(|k| k.kind.clone()),
            have(|s| &s.kind),
        ),
        (
            "apiVersion",
            seen.request_api_version.clone(),
            have(|s| &s.api_version),
        ),
        ("status", api_state.map(str::to_string), have(|s| &s.status)),
    ];
    if becomes_unavailable {
        let crd_name = crd
            .and_then(|c| c.pointer("/metadata/name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let (reason, message) = match (&refused, &view.request_kind_taken_by, &seen.request_kind) {
            (Some((why, message)), _, _) => (
                events::API_NOT_SERVED,
                format!(
                    "the API server does not serve {crd_name}: {why}: {message} (another CRD of its group has the name; requests cannot be made until the Promise's API uses names of its own)"
                ),
            ),
            (None, Some(other), Some(kind)) => (
                events::REQUEST_KIND_TAKEN,
                format!(
                    "Promise {other} also declares request kind {}, and kbind reconciles the requests of one Promise per kind name: requests of {crd_name} are not reconciled while it exists",
                    kind.kind
                ),
            ),
            _ => (events::API_NOT_SERVED, String::new()),
        };
        if !message.is_empty() {
            out.push(event(key, true, reason, message));
        }
    }
    let changed: serde_json::Map<String, Value> = wanted
        .into_iter()
        .filter_map(|(field, want, have)| {
            let want = want?;
            (Some(want.as_str()) != have).then(|| (field.to_string(), json!(want)))
        })
        .collect();
    if !changed.is_empty() {
        out.push(Action::PatchStatus {
            key: key.clone(),
            patch: json!({"status": changed}),
            why: "R-62: status.version mirrors the version label; Kratix's kind, apiVersion and status",
        });
    }
}

/// the finalizers kbind needs on a promise, added to whatever else is
/// there.
fn ensure_finalizers(key: &ObjKey, promise: &api::Promise, out: &mut Vec<Action>) {
    let meta = &promise.metadata;
    let wanted: Vec<&str> = PROMISE_FINALIZERS.to_vec();
    let current = meta.finalizers.clone().unwrap_or_default();
    if wanted.iter().any(|f| !current.iter().any(|c| c == f)) {
        let mut all = current.clone();
        all.extend(
            wanted
                .iter()
                .filter(|f| !current.iter().any(|c| c == *f))
                .map(|f| f.to_string()),
        );
        out.push(Action::Patch {
            key: key.clone(),
            patch: json!({"metadata": {"finalizers": all}}),
            why: "R-82: promise finalizers",
        });
    }
}

/// The promise's API: the CRD of its requests, as Kratix installs it, kept
/// so when `spec.api` changes or someone edits the CRD.
/// True when it changes an installed CRD's spec.
fn keep_request_crd(view: &View, promise: &api::Promise, out: &mut Vec<Action>) -> bool {
    let Some(api) = promise.spec.api.as_ref() else {
        return false;
    };
    let crd = super::request_crd::request_crd(&view.promise_name, api);
    match (&view.request_crd, ObjKey::of(&crd)) {
        (None, Some(_)) => {
            out.push(Action::Create {
                object: crd,
                why: "the promise's API (its requests' CRD)",
            });
            false
        }
        (Some(installed), Some(key)) if !super::request_crd::holds(installed, &crd) => {
            let spec_changes = !super::request_crd::holds(&installed["spec"], &crd["spec"]);
            out.push(Action::Patch {
                key,
                patch: json!({"metadata": {"labels": crd["metadata"]["labels"]}, "spec": crd["spec"]}),
                why: "the promise's API changed (or its CRD was edited)",
            });
            spec_changes
        }
        _ => false,
    }
}

/// the revision of the promise's current version exists, holds
/// the current spec and is marked latest.
fn keep_revision(
    view: &View,
    key: &ObjKey,
    promise: &api::Promise,
    version: &str,
    out: &mut Vec<Action>,
) {
    let meta = &promise.metadata;
    let name = naming::revision_name(&view.promise_name, version);
    let spec = serde_json::to_value(&promise.spec).unwrap_or(Value::Null);
    match view
        .revisions
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(name.as_str()))
    {
        None => {
            out.push(Action::Create {
                object: json!({
                    "apiVersion": api::API_VERSION,
                    "kind": "PromiseRevision",
                    "metadata": {
                        "name": name,
                        "labels": {labels::PROMISE_NAME: view.promise_label(), labels::LATEST_REVISION: "true"},
                        "finalizers": [finalizers::REVISION],
                        "ownerReferences": [{
                            "apiVersion": api::API_VERSION, "kind": "Promise",
                            "name": view.promise_name, "uid": meta.uid.clone().unwrap_or_default(),
                            "controller": true, "blockOwnerDeletion": true,
                        }],
                    },
                    "spec": {"promiseRef": {"name": view.promise_name}, "promiseSpec": spec, "version": version},
                }),
                why: "R-64: revision for the promise's version",
            });
            out.push(event(
                key,
                false,
                events::REVISION_CREATED,
                format!("Revision {name} created"),
            ));
        }
        Some(rev) => {
            // a revision is overwritten with the current spec and
            // always made latest when its version is applied.
            let spec_differs = rev.spec.promise_spec != spec;
            let unlabelled = !has_label(&rev.metadata, labels::LATEST_REVISION, "true");
            if (spec_differs || unlabelled) && rev.metadata.deletion_timestamp.is_none() {
                {
                    out.push(Action::Patch {
                        key: convert::revision_key(rev),
                        patch: json!({
                            "metadata": {"labels": {labels::LATEST_REVISION: "true", labels::PROMISE_NAME: view.promise_label()}},
                            "spec": {"promiseSpec": merge_patch_diff(&rev.spec.promise_spec, &spec)},
                        }),
                        why: "R-64/R-66: revision takes the current spec and becomes latest",
                    });
                }
            }
        }
    }
}

/// R-67 / #815: after a spec change, re-run the requests the policy selects;
/// the reconcile-resources label re-runs them all.
fn rerun_after_change(
    view: &View,
    ctx: &Context<'_>,
    key: &ObjKey,
    promise: &api::Promise,
    status: &api::PromiseStatus,
    version: &str,
    out: &mut Vec<Action>,
) {
    let meta = &promise.metadata;
    let generation = meta.generation.unwrap_or(1);
    let force_all = has_label(meta, labels::RECONCILE_RESOURCES, "true");
    if status.observed_generation != Some(generation) || force_all {
        let spec_changed = status.observed_generation.is_some() && generation != 1;
        let selected: Vec<&super::view::RequestObj> = if force_all {
            view.requests.iter().map(|r| &**r).collect()
        } else if spec_changed {
            select_reruns(view, ctx, version, out)
        } else {
            vec![]
        };
        for request in selected {
            if !request.deleting
                && request
                    .labels
                    .get(labels::RUN_FROM_START)
                    .map(String::as_str)
                    != Some("true")
            {
                out.push(Action::Patch {
                    key: request.key.clone(),
                    patch: json!({"metadata": {"labels": {labels::RUN_FROM_START: "true"}}}),
                    why: "R-67: re-run after a promise change",
                });
            }
        }
        if force_all {
            out.push(Action::Patch {
                key: key.clone(),
                patch: json!({"metadata": {"labels": {labels::RECONCILE_RESOURCES: null}}}),
                why: "R-67: reconcile-resources consumed",
            });
        }
        out.push(Action::PatchStatus {
            key: key.clone(),
            patch: json!({"status": {"observedGeneration": generation}}),
            why: "R-67: spec change observed",
        });
    }
}

fn select_reruns<'v>(
    view: &'v View,
    ctx: &Context<'_>,
    changed_version: &str,
    out: &mut Vec<Action>,
) -> Vec<&'v super::view::RequestObj> {
    let input = SpecChangeInput {
        now: view.now,
        settings: ctx.policy.settings().to_vec(),
        promise: convert::promise(view),
        changed_version: changed_version.into(),
        bindings: convert::bindings(view),
    };
    let promise_key = ObjKey::new("Promise", "", &view.promise_name);
    match ctx.policy.rerun_on_spec_change(&input) {
        Ok(decided) => {
            let bindings = view.bindings_by_key();
            let requests = view.requests_by_key();
            decided
                .value
                .rerun
                .iter()
                .filter_map(|r| {
                    let binding =
                        rails::named_binding(ctx.policy, &bindings, r, rails::Named::Rerun)
                            .map_err(|refused| out.push(rails::refusal(&promise_key, refused)))
                            .ok()?;
                    let reference = &binding.spec.resource_ref;
                    requests
                        .get(&(reference.namespace.as_str(), reference.name.as_str()))
                        .copied()
                })
                .collect()
        }
        Err(err) => {
            out.push(rails::refusal(&promise_key, err.to_string()));
            vec![]
        }
    }
}

/// R-68 done atomically: the newest holder of the latest label wins, every
/// other revision loses label and status in the same step, so there is never
/// a window with two latest revisions or none (H-1).
fn plan_latest_marker(view: &View, out: &mut Vec<Action>) {
    // A revision whose deletion is pending still counts: deleting the latest
    // one is refused, so it stays latest until it is really gone.
    let labelled: Vec<_> = view
        .revisions
        .iter()
        .filter(|r| has_label(&r.metadata, labels::LATEST_REVISION, "true"))
        .collect();
    let is_latest = |r: &api::PromiseRevision| r.status.as_ref().is_some_and(|s| s.latest);
    let winner = labelled
        .iter()
        .find(|r| !is_latest(r))
        .or_else(|| labelled.first())
        .map(|r| r.metadata.name.clone());
    for rev in &view.revisions {
        let key = convert::revision_key(rev);
        let want = winner.is_some() && rev.metadata.name == winner.clone().flatten();
        if has_label(&rev.metadata, labels::LATEST_REVISION, "true") && !want {
            out.push(Action::Patch {
                key: key.clone(),
                patch: json!({"metadata": {"labels": {labels::LATEST_REVISION: null}}}),
                why: "R-68: only one revision carries the latest label",
            });
        }
        if !has_label(&rev.metadata, labels::PROMISE_NAME, &view.promise_label()) {
            out.push(Action::Patch {
                key: key.clone(),
                patch: json!({"metadata": {"labels": {labels::PROMISE_NAME: view.promise_label()}}}),
                why: "R-68: promise-name label",
            });
        }
        let skip_cleanup = rev.metadata.annotations.as_ref().is_some_and(|a| {
            a.get(annotations::SKIP_CLEANUP_ON_DELETE)
                .map(String::as_str)
                == Some("true")
        });
        let fins = rev.metadata.finalizers.clone().unwrap_or_default();
        if rev.metadata.deletion_timestamp.is_none()
            && !skip_cleanup
            && !fins.iter().any(|f| f == finalizers::REVISION)
        {
            let mut all = fins.clone();
            all.push(finalizers::REVISION.into());
            out.push(Action::Patch {
                key: key.clone(),
                patch: json!({"metadata": {"finalizers": all}}),
                why: "R-68: revision finalizer",
            });
        }
        if is_latest(rev) != want {
            out.push(Action::PatchStatus {
                key,
                // Kratix omits `latest` when false.
                patch: json!({"status": {"latest": if want { json!(true) } else { Value::Null }}}),
                why: "R-68: status.latest follows the label",
            });
        }
    }
}

/// #820 instead of R-72…R-75: a revision being deleted keeps its finalizer
/// while any binding names its version, any request still runs at it, or it
/// is the latest revision of a live promise. Nothing cascades.
fn plan_revision_deletion(view: &View, out: &mut Vec<Action>) {
    let promise_live = view.promise.as_ref().is_some_and(|seen| !seen.deleting);
    for rev in view
        .revisions
        .iter()
        .filter(|r| r.metadata.deletion_timestamp.is_some())
    {
        let fins = rev.metadata.finalizers.clone().unwrap_or_default();
        if !fins.iter().any(|f| f == finalizers::REVISION) {
            continue;
        }
        let key = convert::revision_key(rev);
        let skip = rev.metadata.annotations.as_ref().is_some_and(|a| {
            a.get(annotations::SKIP_CLEANUP_ON_DELETE)
                .map(String::as_str)
                == Some("true")
        });
        let rest: Vec<String> = fins
            .iter()
            .filter(|f| *f != finalizers::REVISION)
            .cloned()
            .collect();
        if skip {
            //
            out.push(Action::Patch {
                key,
                patch: json!({"metadata": {"finalizers": rest}}),
                why: "R-74: skip cleanup",
            });
            continue;
        }
        let version = &rev.spec.version;
        let mut holders: Vec<String> = view
            .bindings
            .iter()
            .filter(|b| &b.spec.version == version)
            .map(|b| format!("binding {}", convert::key_of(b)))
            .collect();
        holders.extend(
            view.requests
                .iter()
                .filter(|r| &r.promise_version == version && !r.deleting)
                .map(|r| format!("request {}/{}", r.namespace(), r.name())),
        );
        let latest = rev.status.as_ref().is_some_and(|s| s.latest);
        if latest && promise_live {
            out.push(event(
                &key,
                true,
                events::REVISION_DELETE_BLOCKED,
                "can not delete the latest PromiseRevision",
            ));
        } else if !holders.is_empty() {
            holders.sort();
            out.push(event(
                &key,
                true,
                events::REVISION_DELETE_BLOCKED,
                format!(
                    "version {version} is still in use by {}; move them to another version first",
                    holders.join(", ")
                ),
            ));
        } else {
            out.push(Action::Patch {
                key,
                patch: json!({"metadata": {"finalizers": rest}}),
                why: "#820: an unused revision goes",
            });
        }
    }
}

/// The finalizers kbind puts on a promise, and the only ones it removes.
const PROMISE_FINALIZERS: [&str; 2] = [finalizers::REVISION, "kratix.io/revision-cleanup"];

/// requests first, then revisions, then the finalizers.
fn plan_promise_deletion(view: &View, key: &ObjKey, promise: &api::Promise, out: &mut Vec<Action>) {
    let fins = promise.metadata.finalizers.clone().unwrap_or_default();
    if !view.requests.is_empty() {
        for request in view.requests.iter().filter(|r| !r.deleting) {
            out.push(Action::Delete {
                key: request.key.clone(),
                why: "R-82: deleting a promise deletes its requests",
            });
        }
        return;
    }
    if !view.revisions.is_empty() {
        for rev in view
            .revisions
            .iter()
            .filter(|r| r.metadata.deletion_timestamp.is_none())
        {
            out.push(Action::Delete {
                key: convert::revision_key(rev),
                why: "R-82: then its revisions",
            });
        }
        return;
    }
    if let Some(kind) = promise
        .spec
        .request_kind()
        .filter(|_| view.request_api_installed())
    {
        out.push(Action::Delete {
            key: ObjKey::new(
                "CustomResourceDefinition",
                "",
                &format!("{}.{}", kind.plural, kind.group),
            ),
            why: "R-82: then the promise's API",
        });
        return;
    }
    // Only kbind's own: another controller's finalizer is its to remove.
    // The patch is guarded by the resourceVersion the plan saw, so a
    // finalizer added meanwhile is not lost either.
    let rest: Vec<&String> = fins
        .iter()
        .filter(|f| !PROMISE_FINALIZERS.contains(&f.as_str()))
        .collect();
    if rest.len() != fins.len() {
        out.push(Action::Patch {
            key: key.clone(),
            patch: json!({"metadata": {"finalizers": rest}}),
            why: "R-82: promise cleaned up",
        });
    }
}

/// A digest of the policy deciding: its component and its settings.
fn policy_digest(policy: &dyn kbind_contract::policy::Policy) -> String {
    let mut h = Sha256::new();
    h.update(policy.id().digest.as_bytes());
    for s in policy.settings() {
        h.update(b"\0");
        h.update(s.name.as_bytes());
        h.update(b"=");
        h.update(s.value.as_str().as_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

/// A digest of the Promise labels and annotations a policy is given.
fn metadata_digest(promise: &kbind_contract::Promise) -> String {
    let mut h = Sha256::new();
    for kv in promise.labels.iter().chain(&promise.annotations) {
        h.update(kv.key.as_bytes());
        h.update(b"\0");
        h.update(kv.value.as_bytes());
        h.update(b"\0");
    }
    // Labels and annotations apart: moving a key from one to the other is a change.
    h.update(promise.labels.len().to_le_bytes());
    hex::encode(&h.finalize()[..8])
}

/// A digest of what `plan-upgrades` depends on from the revisions.
fn revisions_digest(view: &View) -> String {
    let mut entries: BTreeMap<String, (String, bool)> = BTreeMap::new();
    for r in view
        .revisions
        .iter()
        .filter(|r| r.metadata.deletion_timestamp.is_none())
    {
        entries.insert(
            r.metadata.name.clone().unwrap_or_default(),
            (
                r.spec.version.clone(),
                r.status.as_ref().is_some_and(|s| s.latest),
            ),
        );
    }
    hex::encode(&Sha256::digest(serde_json::to_vec(&entries).unwrap_or_default())[..8])
}

/// A digest of what a rollout waits on from the bindings: which exist, the
/// version each is asked to run (`upgraded` folds in the plan's own
/// answers, so they do not wake the policy again) and how its upgrades
/// ended.
fn bindings_digest(view: &View, upgraded: &BTreeMap<(&str, &str), &str>) -> String {
    let mut keyed: Vec<(&str, &str, &api::ResourceBinding)> = view
        .bindings
        .iter()
        .map(|b| {
            (
                b.metadata.namespace.as_deref().unwrap_or_default(),
                b.metadata.name.as_deref().unwrap_or_default(),
                &**b,
            )
        })
        .collect();
    keyed.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut h = Sha256::new();
    let empty = Default::default();
    for (namespace, name, b) in keyed {
        let status = b.status.as_ref().unwrap_or(&empty);
        let version = upgraded
            .get(&(namespace, name))
            .copied()
            .unwrap_or(&b.spec.version);
        for field in [
            namespace,
            name,
            version,
            &status.last_applied_version,
            &status.failed_version,
            &status.last_succeeded_at,
            &status.last_failed_at,
        ]
        .into_iter()
        .chain(status.failed_versions.iter().map(String::as_str))
        {
            h.update(field.as_bytes());
            h.update(b"\0");
        }
        h.update(b"\n");
    }
    hex::encode(&h.finalize()[..8])
}

/// When the revision set changed (or the policy's re-check is due), ask the
/// policy to plan upgrades for every binding of the promise at once, and
/// apply the answers that pass the host's rails.
fn plan_policy_upgrades(view: &View, ctx: &Context<'_>, out: &mut Vec<Action>) {
    let Some(PromiseSeen {
        key,
        promise,
        deleting: false,
        ..
    }) = view.promise.as_deref()
    else {
        return;
    };
    let status = promise.status.clone().unwrap_or_default();
    let digest = revisions_digest(view);
    let timer_due = status
        .next_upgrade_check
        .as_deref()
        .and_then(|t| kbind_model::time::parse_time(t).ok())
        .is_some_and(|due| due <= view.now);
    let promise_input = convert::promise(view);
    let metadata = metadata_digest(&promise_input);
    let policy_digest = policy_digest(ctx.policy);
    let trigger = if status.observed_revisions.as_deref() != Some(digest.as_str()) {
        PlanTrigger::RevisionsChanged
    } else if status.observed_metadata.as_deref() != Some(metadata.as_str()) {
        PlanTrigger::PromiseChanged
    } else if status
        .observed_policy
        .as_deref()
        .is_some_and(|seen| seen != policy_digest.as_str())
    {
        // A promise planned before kbind recorded its policy is not asked
        // again for that alone.
        PlanTrigger::PolicyChanged
    } else if !status.rollouts.is_empty()
        && status.observed_bindings.as_deref()
            != Some(bindings_digest(view, &BTreeMap::new()).as_str())
    {
        PlanTrigger::BindingsChanged
    } else if timer_due {
        PlanTrigger::Timer
    } else {
        return;
    };
    // Wait for the latest marker to settle before asking (no decision on a
    // half-moved marker).
    let latest = view
        .revisions
        .iter()
        .filter(|r| r.status.as_ref().is_some_and(|s| s.latest))
        .count();
    if out.iter().any(|a| matches!(a, Action::PatchStatus { key, .. } | Action::Patch { key, .. } if key.kind == "PromiseRevision")) || latest > 1 {
        return;
    }
    let input = PlanInput {
        now: view.now,
        settings: ctx.policy.settings().to_vec(),
        promise: promise_input,
        bindings: convert::bindings(view),
        trigger,
    };
    let mut next_check = Value::Null;
    let mut rollouts = None;
    let mut observed_bindings = Value::Null;
    match ctx.policy.plan_upgrades(&input) {
        Ok(decided) => {
            let plan = decided.value;
            let now = crate::rollout::statuses(view, &plan.rollouts);
            crate::rollout::transitions(view, key, &status.rollouts, &now, out);
            rollouts = Some(if now.is_empty() {
                Value::Null
            } else {
                json!(now)
            });
            let bindings = view.bindings_by_key();
            let mut upgraded = BTreeMap::new();
            for upgrade in &plan.upgrades {
                let b = match rails::named_binding(
                    ctx.policy,
                    &bindings,
                    &upgrade.binding,
                    rails::Named::Upgrade,
                ) {
                    Ok(b) => b,
                    Err(refused) => {
                        out.push(rails::refusal(key, refused));
                        continue;
                    }
                };
                let bkey = convert::key_of(b);
                if let Err(refused) = rails::chosen_version(
                    ctx.policy,
                    &input.promise,
                    &upgrade.version,
                    rails::Chosen::Upgrade,
                ) {
                    out.push(rails::refusal(&bkey, refused));
                    continue;
                }
                if b.spec.version == upgrade.version {
                    continue;
                }
                upgraded.insert(
                    (
                        b.metadata.namespace.as_deref().unwrap_or_default(),
                        b.metadata.name.as_deref().unwrap_or_default(),
                    ),
                    upgrade.version.as_str(),
                );
                out.push(Action::Patch {
                    key: bkey.clone(),
                    patch: json!({
                        "metadata": {"annotations": {annotations::APPROVED_VERSION: upgrade.version}},
                        "spec": {"version": upgrade.version},
                    }),
                    why: "policy plan-upgrades",
                });
                out.push(event(
                    &bkey,
                    false,
                    events::POLICY_UPGRADE,
                    format!(
                        "{} -> {}: {}",
                        b.spec.version, upgrade.version, upgrade.reason
                    ),
                ));
            }
            if !now.is_empty() {
                observed_bindings = json!(bindings_digest(view, &upgraded));
            }
            if let Some(ms) = plan.recheck_after_ms {
                next_check = json!(rfc3339(after_delay(view.now, ms)));
            }
        }
        Err(err) => out.push(rails::refusal(key, err.to_string())),
    }
    out.push(Action::PatchStatus {
        key: key.clone(),
        patch: {
            let mut patch = json!({"status": {
                "observedRevisions": digest,
                "observedMetadata": metadata,
                "observedPolicy": policy_digest,
                "observedBindings": observed_bindings,
                "nextUpgradeCheck": next_check,
            }});
            // A policy that failed leaves the rollouts as they were reported.
            if let Some(rollouts) = rollouts {
                patch["status"]["rollouts"] = rollouts;
            }
            patch
        },
        why: "upgrade planning done for this revision set",
    });
}
