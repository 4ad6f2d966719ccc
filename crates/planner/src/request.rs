//! One resource request per step: binding create/adopt/update (R-11…R-17,
//! H-5), review of user edits, revision resolution (R-01…R-08, H-3), the
//! upgrade trigger (R-21…R-30 with a structured in-flight version, H-8),
//! the configure workflow and its outcome (R-18… …R-36, H-2),
//! failure handling by the policy, and deletion (R-50…R-54, H-4).

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use serde_json::{Value, json};

use super::pipeline_rbac;
use super::status::{self, StatusUpdate, UpgradeCondition};
use super::view::{self, RequestObj, RevisionSeen, View};
use super::workflow::{self, WorkflowSettings};
use super::workflow_job::{self, JobObj, JobPhase, WorkflowRun};
use super::{Action, Context, convert, event, rails};
use kbind_contract::{EditInput, FailureAction, FailureInput, InitialVersionInput};
use kbind_model::api::{
    self, LATEST_VERSION, ResourceBinding, UNVERSIONED, annotations, events, finalizers, labels,
    request_status, upgrade,
};
use kbind_model::key::ObjKey;
use kbind_model::naming;
use kbind_model::time::{after_delay, rfc3339};

const TRIGGER_LABELS: [&str; 2] = [labels::MANUAL_RECONCILIATION, labels::RUN_FROM_START];

fn bindings_of<'v>(view: &'v View, request: &RequestObj) -> Vec<&'v ResourceBinding> {
    let label = request.label_name();
    let promise_label = view.promise_label();
    view.bindings
        .iter()
        .filter(|b| {
            let l = |key| b.metadata.labels.as_ref().and_then(|l| l.get(key));
            b.metadata.namespace.as_deref() == Some(request.namespace())
                && l(labels::PROMISE_NAME) == Some(&promise_label)
                && l(labels::RESOURCE_NAME) == Some(&label)
        })
        .map(|b| &**b)
        .collect()
}

fn latest_revision(view: &View) -> Option<&RevisionSeen> {
    view.revisions
        .iter()
        .find(|r| r.status.as_ref().is_some_and(|s| s.latest))
        .map(|r| &**r)
}

/// exactly one revision with this version.
fn revision_at<'v>(view: &'v View, version: &str) -> Result<&'v RevisionSeen, String> {
    let found: Vec<_> = view
        .revisions
        .iter()
        .filter(|r| r.spec.version == version)
        .collect();
    match found.len() {
        1 => Ok(&**found[0]),
        0 => Err(format!(
            "cannot find a PromiseRevision for Promise {} with version {version}: promise revision not found",
            view.promise_name
        )),
        _ => Err(format!(
            "multiple PromiseRevisions for Promise {} with version {version}",
            view.promise_name
        )),
    }
}

fn no_latest(view: &View) -> String {
    format!(
        "cannot find any PromiseRevision for Promise {} with status.latest set to true: no latest promise revision yet",
        view.promise_name
    )
}

fn label(b: &ResourceBinding, key: &str) -> Option<String> {
    b.metadata.labels.as_ref().and_then(|l| l.get(key)).cloned()
}

/// A request of a cluster-scoped API has no namespace for its binding and
/// workflow Jobs (Kratix's `workflows.config.pipelineNamespace`, which would
/// give one, is not implemented): it is not reconciled, and says so rather
/// than failing every write. Finalizers kbind added (an earlier version
/// did) go when it is deleted, so it is never held.
fn plan_cluster_scoped(request: &RequestObj, out: &mut Vec<Action>) {
    if request.deleting {
        let kept: Vec<&String> = request
            .finalizers
            .iter()
            .filter(|f| !finalizers::REQUEST.contains(&f.as_str()))
            .collect();
        if kept.len() != request.finalizers.len() {
            out.push(Action::Patch {
                key: request.key.clone(),
                patch: json!({"metadata": {"finalizers": kept}}),
                why: "a cluster-scoped request kbind does not reconcile",
            });
        }
        return;
    }
    out.push(event(
        &request.key,
        true,
        events::CLUSTER_SCOPED_REQUEST,
        format!(
            "{} {} is cluster-scoped: kbind reconciles namespaced requests only (a ResourceBinding and its workflow Jobs live in the request's namespace, and Kratix's workflows.config.pipelineNamespace is not implemented), so it gets no binding and no workflow",
            request.key.kind,
            request.name()
        ),
    ));
}

fn annotation(b: &ResourceBinding, key: &str) -> Option<String> {
    b.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .cloned()
}

pub fn plan(view: &View, ctx: &Context<'_>, request: &RequestObj, out: &mut Vec<Action>) {
    if request.namespace().is_empty() {
        plan_cluster_scoped(request, out);
        return;
    }
    if let Some(message) = paused_by(view, request) {
        plan_paused(view, request, message, out);
        return;
    }
    let found = bindings_of(view, request);
    if found.len() > 1 {
        //
        out.push(event(&request.key, true, events::FAILED_REVISION_LOOKUP, format!(
            "found multiple ResourceBindings for Resource {} in namespace {};there should be one ResourceBinding per Resource",
            request.name(), request.namespace()
        )));
        return;
    }
    let binding = found.first().copied();
    prune_job_history(view, ctx.workflows, request, out);
    if request.deleting {
        if let Some(b) = binding {
            flag_missing_version(view, b, out);
        }
        plan_deletion(view, ctx, request, binding, out);
        return;
    }
    let label_missing = request.labels.get(labels::PROMISE_NAME) != Some(&view.promise_label());
    let promise_live = view.promise.as_ref().is_some_and(|seen| !seen.deleting);
    let missing: Vec<&str> = finalizers::REQUEST
        .iter()
        .copied()
        .filter(|f| !request.finalizers.iter().any(|x| x == f))
        .collect();
    // The label and the finalizers in one write (each a write and a
    // reconcile of its own before); the binding follows in the same plan,
    // which stops at the first failed write.
    let mut metadata = serde_json::Map::new();
    if label_missing {
        metadata.insert(
            "labels".into(),
            json!({labels::PROMISE_NAME: view.promise_label()}),
        );
    }
    if promise_live && !missing.is_empty() {
        let mut all = request.finalizers.clone();
        all.extend(missing.iter().map(|f| f.to_string()));
        metadata.insert("finalizers".into(), json!(all));
    }
    if !metadata.is_empty() {
        out.push(Action::Patch {
            key: request.key.clone(),
            patch: json!({ "metadata": metadata }),
            why: if metadata.contains_key("finalizers") {
                "R-52: request finalizers (and its promise's name)"
            } else {
                "request carries its promise's name"
            },
        });
    }
    if !promise_live {
        // a promise being deleted runs no configure workflows.
        return;
    }
    // The rest of this plan sees the request as that write leaves it (the
    // binding copies its labels).
    let updated;
    let request = if label_missing {
        let mut r = request.clone();
        r.labels
            .insert(labels::PROMISE_NAME.into(), view.promise_label());
        updated = r;
        &updated
    } else {
        request
    };
    let Some(binding) = binding else {
        create_binding(view, ctx, request, out);
        return;
    };
    if maintain_binding(view, request, binding, out) || review_edit(view, ctx, binding, out) {
        return;
    }

    // R-02…R-07: the revision the binding names.
    let desired = if binding.spec.version == LATEST_VERSION || binding.spec.version.is_empty() {
        match latest_revision(view) {
            Some(r) => r,
            None => {
                out.push(event(
                    &request.key,
                    true,
                    events::FAILED_REVISION_LOOKUP,
                    no_latest(view),
                ));
                return;
            }
        }
    } else {
        match revision_at(view, &binding.spec.version) {
            Ok(r) => r,
            Err(message) => {
                // R-58 plus H-3: say so on the binding, not "in progress".
                out.push(event(
                    &request.key,
                    true,
                    events::FAILED_REVISION_LOOKUP,
                    message.clone(),
                ));
                mark_version_not_found(view, binding, message, out);
                return;
            }
        }
    };
    let target = desired.spec.version.clone();
    if upgrade_trigger(view, request, binding, &target, out) {
        return;
    }
    configure(view, ctx, request, binding, desired, out);
}

/// Kratix's `reconcileIfPaused`: a request carrying `kratix.io/paused:
/// "true"`, or whose promise does, is not reconciled at all (not even its
/// deletion); the message says which.
fn paused_by(view: &View, request: &RequestObj) -> Option<&'static str> {
    let paused = |labels: Option<&String>| labels.is_some_and(|v| v == "true");
    let promise_labels = view
        .promise
        .as_ref()
        .and_then(|seen| seen.promise.metadata.labels.as_ref());
    if paused(promise_labels.and_then(|l| l.get(labels::PAUSED))) {
        Some(
            "'kratix.io/paused' label set to 'true' for promise; pausing reconciliation for this resource request",
        )
    } else if paused(request.labels.get(labels::PAUSED)) {
        Some(
            "'kratix.io/paused' label set to 'true' for this resource request; pausing reconciliation",
        )
    } else {
        None
    }
}

/// The request says it is paused (`Reconciled` Unknown, `Paused`), with a
/// Warning Event, once.
fn plan_paused(view: &View, request: &RequestObj, message: &str, out: &mut Vec<Action>) {
    let now = rfc3339(view.now);
    if push_workflow_status(
        request,
        |s| request_status::paused(s, &now),
        "kratix.io/paused: reconciliation paused",
        out,
    ) {
        out.push(event(
            &request.key,
            true,
            events::PAUSED_RECONCILIATION,
            message,
        ));
    }
}

/// H-3 for a request being deleted: its binding still says when it names a
/// version that has no revision (deletion itself uses the applied version).
fn flag_missing_version(view: &View, b: &ResourceBinding, out: &mut Vec<Action>) {
    if b.spec.version == LATEST_VERSION || b.spec.version.is_empty() {
        return;
    }
    if let Err(message) = revision_at(view, &b.spec.version) {
        mark_version_not_found(view, b, message, out);
    }
}

/// H-3: the binding's condition says its version has no revision.
fn mark_version_not_found(
    view: &View,
    b: &ResourceBinding,
    message: String,
    out: &mut Vec<Action>,
) {
    let update = StatusUpdate {
        condition: Some(UpgradeCondition::not_met(
            upgrade::VERSION_NOT_FOUND,
            message,
        )),
        ..StatusUpdate::default()
    };
    status::push(out, b, update, view.now, "H-3: version has no revision");
}

/// R-11…R-16: a binding for a request that has none, at the version the
/// policy chooses (host rail: `latest` or a version with a revision).
fn create_binding(view: &View, ctx: &Context<'_>, request: &RequestObj, out: &mut Vec<Action>) {
    let input = InitialVersionInput {
        now: view.now,
        settings: ctx.policy.settings().to_vec(),
        promise: convert::promise(view),
        request: convert::request(request),
        previous_version: Some(request.binding_version.clone()).filter(|v| !v.is_empty()),
    };
    let choice = match ctx.policy.initial_version(&input) {
        Ok(d) => d.value,
        Err(err) => {
            out.push(rails::refusal(&request.key, err.to_string()));
            return;
        }
    };
    if let Err(refused) = rails::chosen_version(
        ctx.policy,
        &input.promise,
        &choice.version,
        rails::Chosen::NewBinding,
    ) {
        out.push(rails::refusal(&request.key, refused));
        return;
    }
    let name = naming::binding_name(request.name(), &view.promise_name);
    let (labels, copied) = binding_labels(view, request, &BTreeMap::new(), None);
    out.push(Action::Create {
        object: json!({
            "apiVersion": api::API_VERSION,
            "kind": "ResourceBinding",
            "metadata": {
                "name": name,
                "namespace": request.namespace(),
                "labels": labels,
                "annotations": {annotations::APPROVED_VERSION: choice.version, annotations::REQUEST_LABELS: copied},
            },
            "spec": {
                "version": choice.version,
                "promiseRef": {"name": view.promise_name},
                "resourceRef": {"name": request.name(), "namespace": request.namespace()},
            },
        }),
        why: "R-12: one binding per request",
    });
    out.push(event(
        &request.key,
        false,
        events::BINDING_CREATED,
        format!(
            "Binding {name} created for promise {} version {} ({})",
            view.promise_name, choice.version, choice.reason
        ),
    ));
}

/// R-13 with H-5: identity labels and the request's labels (minus the
/// one-shot trigger labels) over the binding's own labels, which survive;
/// labels copied earlier and since removed from the request are removed.
fn binding_labels(
    view: &View,
    request: &RequestObj,
    current: &BTreeMap<String, String>,
    previously_copied: Option<&str>,
) -> (BTreeMap<String, String>, String) {
    let mut labels = current.clone();
    for old in previously_copied
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
    {
        if !request.labels.contains_key(old) {
            labels.remove(old);
        }
    }
    let mut copied: Vec<&str> = vec![];
    for (k, v) in &request.labels {
        if TRIGGER_LABELS.contains(&k.as_str()) {
            continue;
        }
        labels.insert(k.clone(), v.clone());
        copied.push(k);
    }
    labels.insert(labels::PROMISE_NAME.into(), view.promise_label());
    labels.insert(labels::RESOURCE_NAME.into(), request.label_name());
    (labels, copied.join(","))
}

/// keep labels and references in shape. True if it wrote.
fn maintain_binding(
    view: &View,
    request: &RequestObj,
    b: &ResourceBinding,
    out: &mut Vec<Action>,
) -> bool {
    let current: BTreeMap<String, String> = b
        .metadata
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let copied_before = annotation(b, annotations::REQUEST_LABELS);
    let (wanted, copied) = binding_labels(view, request, &current, copied_before.as_deref());
    let refs_ok = b.spec.promise_ref.name == view.promise_name
        && b.spec.resource_ref.name == request.name()
        && b.spec.resource_ref.namespace == request.namespace();
    let approved = annotation(b, annotations::APPROVED_VERSION);
    if wanted == current
        && refs_ok
        && copied_before.as_deref() == Some(copied.as_str())
        && approved.is_some()
    {
        return false;
    }
    let mut label_patch = serde_json::Map::new();
    for (k, v) in &wanted {
        if current.get(k) != Some(v) {
            label_patch.insert(k.clone(), json!(v));
        }
    }
    for k in current.keys().filter(|k| !wanted.contains_key(*k)) {
        label_patch.insert(k.clone(), Value::Null);
    }
    let mut annotations_patch = json!({annotations::REQUEST_LABELS: copied});
    if approved.is_none() {
        // An adopted or pre-created binding: its version stands.
        annotations_patch[annotations::APPROVED_VERSION] = json!(b.spec.version);
    }
    out.push(Action::Patch {
        key: convert::key_of(b),
        patch: json!({
            "metadata": {"labels": label_patch, "annotations": annotations_patch},
            "spec": {
                "promiseRef": {"name": view.promise_name},
                "resourceRef": {"name": request.name(), "namespace": request.namespace(), "generation": null},
            },
        }),
        why: "R-13/R-15: binding labels and references",
    });
    true
}

/// A `spec.version` that differs from the one kbind approved is a user's
/// edit: the policy reviews it; denied edits are reverted with the reason.
fn review_edit(view: &View, ctx: &Context<'_>, b: &ResourceBinding, out: &mut Vec<Action>) -> bool {
    let Some(approved) = annotation(b, annotations::APPROVED_VERSION) else {
        return false;
    };
    if approved == b.spec.version {
        return false;
    }
    let key = convert::key_of(b);
    let mut before = convert::binding(view, b);
    before.version = approved.clone();
    let input = EditInput {
        now: view.now,
        settings: ctx.policy.settings().to_vec(),
        promise: convert::promise(view),
        binding: before,
        requested_version: b.spec.version.clone(),
    };
    // The policy's reason usually names the edit itself ("edits are not
    // restricted; latest -> v0.2.0"); the Event says it once.
    let transition = format!("{approved} -> {}", b.spec.version);
    let names_edit = |reason: &str| reason.contains(&format!("-> {}", b.spec.version));
    match ctx.policy.review_edit(&input) {
        Ok(d) if d.value.allowed => {
            out.push(Action::Patch {
                key: key.clone(),
                patch: json!({"metadata": {"annotations": {annotations::APPROVED_VERSION: b.spec.version}}}),
                why: "user edit allowed by the policy",
            });
            out.push(event(
                &key,
                false,
                events::EDIT_ALLOWED,
                if names_edit(&d.value.reason) {
                    d.value.reason.clone()
                } else {
                    format!("{transition}: {}", d.value.reason)
                },
            ));
        }
        Ok(d) => {
            out.push(Action::Patch {
                key: key.clone(),
                patch: json!({"spec": {"version": approved}}),
                why: "user edit denied by the policy",
            });
            out.push(event(
                &key,
                true,
                events::EDIT_DENIED,
                if names_edit(&d.value.reason) && d.value.reason.contains("denied") {
                    d.value.reason.clone()
                } else {
                    format!("{transition} denied: {}", d.value.reason)
                },
            ));
        }
        Err(err) => {
            let message = err.to_string();
            out.push(rails::refusal(&key, message.clone()));
            status::push(
                out,
                b,
                StatusUpdate {
                    condition: Some(UpgradeCondition::not_met(upgrade::POLICY_FAILED, message)),
                    ..StatusUpdate::default()
                },
                view.now,
                "policy failed to review the edit",
            );
        }
    }
    true
}

/// R-23…R-30 (the binding controller), with the in-flight version as a
/// status field (H-8). Also fires a retry the policy scheduled. True when
/// the plan stops here (the run starts from the request's trigger label).
fn upgrade_trigger(
    view: &View,
    request: &RequestObj,
    b: &ResourceBinding,
    target: &str,
    out: &mut Vec<Action>,
) -> bool {
    let rr_version = request.promise_version.as_str();
    if rr_version.is_empty() || rr_version == UNVERSIONED {
        return false;
    }
    let st = status::current(b);
    let condition = status::condition(b);
    let retry_due = annotation(b, annotations::RETRY_AT)
        .and_then(|t| kbind_model::time::parse_time(&t).ok())
        .is_some_and(|due| due <= view.now);
    let manual = label(b, labels::MANUAL_RECONCILIATION).as_deref() == Some("true") || retry_due;
    if !manual {
        if rr_version == target {
            return false;
        }
        // R-26 guard: never retry the same failed version on its own.
        if condition.as_ref().is_some_and(|c| c.status == "False") && st.failed_version == target {
            return false;
        }
        if st.in_flight_version == target {
            return false; // already running for this version
        }
    }
    let key = convert::key_of(b);
    // Kratix's binding controller asks its request controller for a run
    // by labelling the request. For a new version kbind's planner,
    // both in one, starts the run in this same plan (the Job is stale):
    // the label would be two writes and two reconciles for nothing. A
    // re-run of the same version (manual, a retry) has no other trigger.
    if manual {
        out.push(Action::Patch {
            key: request.key.clone(),
            patch: json!({"metadata": {"labels": {labels::MANUAL_RECONCILIATION: "true"}}}),
            why: "R-28: re-run the request at the binding's version",
        });
    }
    if label(b, labels::MANUAL_RECONCILIATION).is_some() || retry_due {
        out.push(Action::Patch {
            key: key.clone(),
            patch: json!({"metadata": {
                "labels": {labels::MANUAL_RECONCILIATION: null},
                "annotations": {annotations::RETRY_AT: null},
            }}),
            why: "R-29: manual reconciliation consumed",
        });
    }
    let message = if manual {
        format!("Reconciliation requested for version {target}")
    } else {
        format!("Upgrade to version {target} is in progress")
    };
    status::push(
        out,
        b,
        StatusUpdate {
            condition: Some(UpgradeCondition::in_progress(message)),
            failed_version: Some(String::new()),
            in_flight: Some(target.to_string()),
            ..StatusUpdate::default()
        },
        view.now,
        "R-30: upgrade in progress",
    );
    manual
}

/// md5 of the revision's promise spec and the request's spec.
fn workflow_hash(revision: &RevisionSeen, request: &RequestObj) -> String {
    hex::encode(Md5::digest(format!(
        "{}-{}",
        revision.promise_spec_md5,
        view::md5_hex(&request.spec)
    )))
}

fn jobs_of<'v>(view: &'v View, request: &RequestObj, action: &str) -> Vec<&'v JobObj> {
    let label = request.label_name();
    let mut jobs: Vec<_> = view
        .jobs
        .iter()
        .filter(|j| {
            j.key.namespace == request.namespace() && j.request_label == label && j.action == action
        })
        .map(|j| &**j)
        .collect();
    jobs.sort_by_key(|j| j.sequence);
    jobs
}

/// Deletes a request's finished Jobs beyond the newest and the
/// `history_limit` before it, per action (the newest is the run the
/// planner reads; a running Job is never pruned).
fn prune_job_history(
    view: &View,
    settings: &WorkflowSettings,
    request: &RequestObj,
    out: &mut Vec<Action>,
) {
    for action in ["configure", "delete"] {
        let jobs = jobs_of(view, request, action);
        let Some((_, older)) = jobs.split_last() else {
            continue;
        };
        let finished: Vec<&&JobObj> = older.iter().filter(|j| !j.in_flight()).collect();
        let excess = finished.len().saturating_sub(settings.history_limit);
        for job in finished.into_iter().take(excess) {
            out.push(Action::Delete {
                key: job.key.clone(),
                why: "workflow history limit",
            });
        }
    }
}

/// A workflow run: the ServiceAccount and roles its pods need (applied
/// first), then its Job.
fn start_workflow(
    view: &View,
    settings: &WorkflowSettings,
    run: &WorkflowRun<'_>,
    why: &'static str,
    out: &mut Vec<Action>,
) {
    let WorkflowRun {
        request,
        revision,
        action,
        ..
    } = *run;
    let promise_uid = view
        .promise
        .as_ref()
        .and_then(|seen| seen.promise.metadata.uid.clone())
        .unwrap_or_default();
    let promise_label = view.promise_label();
    let (group, _) = request.group_version();
    let plural = workflow::request_plural(&revision.spec.promise_spec);
    let access = pipeline_rbac::pipeline_access(
        &pipeline_rbac::Owner {
            name: &view.promise_name,
            label: &promise_label,
            uid: &promise_uid,
        },
        &pipeline_rbac::RequestApi {
            namespace: request.namespace(),
            group,
            plural,
        },
        &revision.spec.promise_spec,
        action,
    );
    for object in access.objects {
        out.push(Action::Apply {
            object,
            why: "the workflow's ServiceAccount and roles",
        });
    }
    let object = workflow_job::build(view, settings, run, &access.service_account);
    out.push(Action::Create { object, why });
}

/// The configure workflow and its outcome (RR controller, R-18…R-20,
/// R-31…R-36).
fn configure(
    view: &View,
    ctx: &Context<'_>,
    request: &RequestObj,
    b: &ResourceBinding,
    revision: &RevisionSeen,
    out: &mut Vec<Action>,
) {
    let target = revision.spec.version.clone();
    let triggers = Triggers::on(request);
    if !revision.promise_spec.has_resource_pipeline("configure") {
        // no workflow, the version is recorded at once.
        triggers.clear(request, out);
        record_success(view, request, b, &target, None, out);
        return;
    }
    let pipelines: Vec<&str> = workflow::pipelines(&revision.spec.promise_spec, "configure")
        .into_iter()
        .map(workflow::pipeline_name)
        .collect();
    let hash = workflow_hash(revision, request);
    let jobs = jobs_of(view, request, "configure");
    let last = jobs.last().copied();
    // A run that finished is recorded on the binding: its Job may be gone
    // since (its TTL, the history limit) without there being one to make.
    let recorded = {
        let st = status::current(b);
        st.workflow_hash == hash
            && (st.last_applied_version == target || st.failed_version == target)
    };
    // R-20, and H-2: a different version always runs, even with an
    // identical promise spec.
    let stale = match last {
        None => !recorded,
        Some(j) => j.hash != hash || j.version != target,
    };
    // The run this trigger asked for exists (the label could not be removed
    // after it started): consume the label, start nothing.
    let already_started = triggers.any()
        && !request.resource_version.is_empty()
        && !stale
        && last.is_some_and(|j| j.trigger == request.resource_version);
    if already_started {
        triggers.clear(request, out);
        return;
    }
    // Kratix: the first reconcile after a pause ends runs the workflow
    // from the start (`ensureWorkflowRunsFromStart`).
    let unpaused = request_status::was_paused(&request.workflow_status());
    if triggers.any() || stale || unpaused {
        // One configure run of a request at a time, as Kratix's
        // executeReconcileAction keeps it: a run for another spec waits
        // for the one in flight; a new version (R-28's manual
        // reconciliation) or a manual-reconciliation label suspends it
        // first. Two runs at once would race on the request's outputs.
        if let Some(running) = last.filter(|j| j.in_flight()) {
            if running.version == target && !triggers.has(labels::MANUAL_RECONCILIATION) {
                return;
            }
            out.push(Action::Patch {
                key: running.key.clone(),
                patch: json!({"spec": {"suspend": true}}),
                why: "R-28: a newer run suspends the one in flight",
            });
        }
        let trigger = if triggers.any() {
            request.resource_version.as_str()
        } else {
            ""
        };
        let run = WorkflowRun {
            request,
            revision,
            action: "configure",
            hash: &hash,
            trigger,
        };
        start_workflow(
            view,
            ctx.workflows,
            &run,
            "R-20: configure workflow at the binding's revision",
            out,
        );
        triggers.clear(request, out);
        let now = rfc3339(view.now);
        push_workflow_status(
            request,
            |s| request_status::workflow_started(s, &pipelines, &now),
            "a configure run started: the request is pending",
            out,
        );
        out.push(reconcile_started(&run));
        return;
    }
    let Some(job) = last else { return };
    match &job.phase {
        JobPhase::Running => observe_running(view, request, b, job, &target, out),
        JobPhase::Failed(message) => {
            let run = FailedRun {
                message,
                version: &target,
                hash: &hash,
                pipelines: &pipelines,
            };
            observe_failure(view, ctx, request, b, &run, &jobs, out);
        }
        JobPhase::Succeeded => {
            let run = SucceededRun {
                hash: &hash,
                pipelines: &pipelines,
            };
            record_success(view, request, b, &target, Some(&run), out)
        }
    }
}

/// Writes the request's `message` and workflow conditions as `edit`
/// leaves them, when it changed them (the whole list: a merge patch
/// replaces a list; the write is guarded by the version it was read at).
/// True when it wrote.
fn push_workflow_status(
    request: &RequestObj,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>) -> bool,
    why: &'static str,
    out: &mut Vec<Action>,
) -> bool {
    let mut status = request.workflow_status();
    let changed = edit(&mut status);
    if changed {
        out.push(Action::PatchStatus {
            key: request.key.clone(),
            patch: json!({"status": status}),
            why,
        });
    }
    changed
}

/// The trigger labels a request carries as `"true"`.
struct Triggers(Vec<&'static str>);

impl Triggers {
    fn on(request: &RequestObj) -> Self {
        Self(
            TRIGGER_LABELS
                .iter()
                .copied()
                .filter(|l| request.labels.get(*l).map(String::as_str) == Some("true"))
                .collect(),
        )
    }

    fn any(&self) -> bool {
        !self.0.is_empty()
    }

    fn has(&self, label: &str) -> bool {
        self.0.contains(&label)
    }

    /// Consumes them: they asked for one run.
    fn clear(&self, request: &RequestObj, out: &mut Vec<Action>) {
        if self.0.is_empty() {
            return;
        }
        let nulls: serde_json::Map<String, Value> = self
            .0
            .iter()
            .map(|l| (l.to_string(), Value::Null))
            .collect();
        out.push(Action::Patch {
            key: request.key.clone(),
            patch: json!({"metadata": {"labels": nulls}}),
            why: "trigger labels consumed",
        });
    }
}

/// The Event that says a configure run started, and at which revision.
fn reconcile_started(run: &WorkflowRun<'_>) -> Action {
    event(
        &run.request.key,
        false,
        events::RECONCILE_STARTED,
        format!(
            "reconciling resource request with promise revision {}",
            run.revision.metadata.name.clone().unwrap_or_default()
        ),
    )
}

/// a running workflow marks an upgrade in progress, or says why its
/// pods cannot start.
fn observe_running(
    view: &View,
    request: &RequestObj,
    b: &ResourceBinding,
    job: &JobObj,
    target: &str,
    out: &mut Vec<Action>,
) {
    let st = status::current(b);
    let mark = !st.failed_version.is_empty()
        || status::condition(b).is_some_and(|c| c.status == "False")
        || (!st.last_applied_version.is_empty() && st.last_applied_version != target);
    let same_run_requested = status::condition(b).is_some_and(|c| {
        c.reason == upgrade::IN_PROGRESS && c.message.ends_with(&format!("version {target}"))
    });
    // A Job whose pods cannot be created says why, on the binding
    // and in an Event on the request, once per reason.
    if let Some(problem) = &job.start_problem {
        let message = format!(
            "Upgrade to version {target} is in progress, but its workflow cannot start: {problem}"
        );
        if status::condition(b).is_none_or(|c| c.message != message) {
            out.push(event(
                &request.key,
                true,
                events::WORKFLOW_CANNOT_START,
                format!("workflow Job {} cannot start: {problem}", job.key.name),
            ));
        }
        let update = StatusUpdate {
            condition: Some(UpgradeCondition::in_progress(message)),
            in_flight: Some(target.to_string()),
            ..StatusUpdate::default()
        };
        status::push(out, b, update, view.now, "workflow cannot start");
        return;
    }
    let update = StatusUpdate {
        condition: (mark && !same_run_requested).then(|| {
            UpgradeCondition::in_progress(format!("Upgrade to version {target} is in progress"))
        }),
        failed_version: mark.then(String::new),
        in_flight: Some(target.to_string()),
        ..StatusUpdate::default()
    };
    status::push(out, b, update, view.now, "R-32: workflow running");
}

/// A configure run that failed: the failure, and the version and spec hash
/// it ran for.
struct FailedRun<'a> {
    message: &'a str,
    version: &'a str,
    hash: &'a str,
    /// The workflow's pipelines, by name, in order.
    pipelines: &'a [&'a str],
}

/// A configure run that succeeded: the spec hash it ran for and its
/// pipelines.
struct SucceededRun<'a> {
    hash: &'a str,
    pipelines: &'a [&'a str],
}

/// the failure is recorded; the first time it is seen, the policy
/// decides what follows.
fn observe_failure(
    view: &View,
    ctx: &Context<'_>,
    request: &RequestObj,
    b: &ResourceBinding,
    run: &FailedRun<'_>,
    jobs: &[&JobObj],
    out: &mut Vec<Action>,
) {
    let st = status::current(b);
    let target = run.version;
    let first_report = st.failed_version != target || !st.in_flight_version.is_empty();
    // Kratix copies the request's condition message to the binding.
    let failure = format!("A Configure Pipeline has failed: {}", run.message);
    let update = StatusUpdate {
        condition: Some(UpgradeCondition::not_met(upgrade::FAILED, failure.clone())),
        failed_version: Some(target.to_string()),
        in_flight: Some(String::new()),
        add_failed_version: Some(target.to_string()),
        workflow_hash: Some(run.hash.to_string()),
        ..StatusUpdate::default()
    };
    status::push(out, b, update, view.now, "R-33: workflow failed");
    let now = rfc3339(view.now);
    push_workflow_status(
        request,
        |s| {
            let summary = request_status::run_summary_failed(s, run.pipelines, &now);
            request_status::workflow_failed(s, &failure, &now) || summary
        },
        "the request's configure workflow failed",
        out,
    );
    if first_report {
        out.push(event(
            &request.key,
            true,
            events::CONFIGURE_WORKFLOW_FAILED,
            format!("A resource/configure Pipeline has failed: {}", run.message),
        ));
        after_failure(view, ctx, request, b, run, jobs, out);
    }
}

/// The policy decides what follows a failure: hold, retry later, roll back.
fn after_failure(
    view: &View,
    ctx: &Context<'_>,
    request: &RequestObj,
    b: &ResourceBinding,
    run: &FailedRun<'_>,
    jobs: &[&JobObj],
    out: &mut Vec<Action>,
) {
    let (failed, message) = (run.version, run.message);
    let key = convert::key_of(b);
    let attempts = jobs
        .iter()
        .rev()
        .take_while(|j| j.version == failed && matches!(j.phase, JobPhase::Failed(_)))
        .count() as u32;
    let mut binding = convert::binding(view, b);
    binding.failed_version = Some(failed.to_string());
    let input = FailureInput {
        now: view.now,
        settings: ctx.policy.settings().to_vec(),
        promise: convert::promise(view),
        binding,
        failed_version: failed.to_string(),
        message: message.to_string(),
        attempts: attempts.max(1),
        failed_at: view.now,
    };
    match ctx.policy.after_failure(&input) {
        Ok(d) => match d.value.action {
            FailureAction::Hold => {}
            FailureAction::RetryAfter(ms) => {
                let at = rfc3339(after_delay(view.now, ms));
                out.push(Action::Patch {
                    key: key.clone(),
                    patch: json!({"metadata": {"annotations": {annotations::RETRY_AT: at}}}),
                    why: "policy: retry the failed version later",
                });
                out.push(event(
                    &key,
                    false,
                    events::POLICY_RETRY,
                    format!("retry at {at}: {}", d.value.reason),
                ));
            }
            FailureAction::RollBack => {
                let applied = status::current(b).last_applied_version;
                let back = if applied.is_empty() {
                    request.promise_version.clone()
                } else {
                    applied
                };
                if back.is_empty() || back == b.spec.version {
                    return;
                }
                out.push(Action::Patch {
                    key: key.clone(),
                    patch: json!({
                        "metadata": {"annotations": {annotations::APPROVED_VERSION: back}},
                        "spec": {"version": back},
                    }),
                    why: "policy: roll back to the last applied version",
                });
                out.push(event(
                    &key,
                    false,
                    events::POLICY_ROLLBACK,
                    format!("{} -> {back}: {}", b.spec.version, d.value.reason),
                ));
            }
        },
        Err(err) => out.push(rails::refusal(&key, err.to_string())),
    }
}

/// R-18 + R-31/R-34: the request records the version, the binding the
/// applied version; a fresh deployment gets no condition.
fn record_success(
    view: &View,
    request: &RequestObj,
    b: &ResourceBinding,
    applied: &str,
    run: Option<&SucceededRun<'_>>,
    out: &mut Vec<Action>,
) {
    let mut rr_status = serde_json::Map::new();
    if request.promise_version != applied {
        rr_status.insert("promiseVersion".into(), json!(applied));
        out.push(event(
            &request.key,
            false,
            events::RECONCILE_SUCCEEDED,
            format!(
                "Resource request reconciled with promise {} version {applied}",
                view.promise_name
            ),
        ));
    }
    if request.binding_version != b.spec.version {
        rr_status.insert("resourceBindingVersion".into(), json!(b.spec.version));
        out.push(event(
            &request.key,
            false,
            events::BINDING_VERSION_UPDATED,
            format!("Resource binding version updated to {}", b.spec.version),
        ));
    }
    // With the versions, as Kratix's status writer and its request
    // controller leave them: the workflow completed (the pod's writer has
    // done it on a cluster; not the simulated runner), the request
    // reconciled.
    let now = rfc3339(view.now);
    let mut workflow_status = request.workflow_status();
    let completed =
        run.is_some() && request_status::workflow_completed(&mut workflow_status, "resource", &now);
    let reconciled = request_status::reconciled(&mut workflow_status, &now);
    let summary = request_status::run_summary_succeeded(
        &mut workflow_status,
        run.map(|r| r.pipelines).unwrap_or_default(),
        request.generation,
        &now,
    );
    if completed || reconciled || summary {
        rr_status.extend(workflow_status);
    }
    if !rr_status.is_empty() {
        out.push(Action::PatchStatus {
            key: request.key.clone(),
            patch: json!({"status": rr_status}),
            why: "R-18: request records its version",
        });
    }
    let st = status::current(b);
    let existing = status::condition(b);
    let message = format!("Resource is at version {applied}");
    let record = !st.failed_version.is_empty()
        || existing
            .as_ref()
            .is_some_and(|c| c.reason == upgrade::IN_PROGRESS || c.status == "False")
        || (!st.last_applied_version.is_empty() && st.last_applied_version != applied);
    let update = StatusUpdate {
        condition: record.then(|| UpgradeCondition::complete(message)),
        last_applied: Some(applied.to_string()),
        failed_version: Some(String::new()),
        in_flight: Some(String::new()),
        workflow_hash: run.map(|r| r.hash.to_string()),
        ..StatusUpdate::default()
    };
    status::push(out, b, update, view.now, "R-34: upgrade complete");
}

/// R-50…R-54: finalizers in Kratix's order; the delete workflow runs at the
/// applied revision (falling back to the latest when that revision is gone,
/// H-4); the binding goes last.
fn plan_deletion(
    view: &View,
    ctx: &Context<'_>,
    request: &RequestObj,
    binding: Option<&ResourceBinding>,
    out: &mut Vec<Action>,
) {
    let Some(next) = finalizers::REQUEST
        .iter()
        .find(|f| request.finalizers.iter().any(|x| x == *f))
    else {
        // held by someone else's finalizer: still remove our binding.
        if let Some(b) = binding {
            out.push(Action::Delete {
                key: convert::key_of(b),
                why: "R-53: binding of a deleted request",
            });
        }
        return;
    };
    let release = Release { request, next };
    match *next {
        finalizers::DELETE_WORKFLOWS => {
            run_delete_workflow(view, ctx, request, binding, &release, out)
        }
        finalizers::RESOURCE_BINDING_CLEANUP => match binding {
            Some(b) => out.push(Action::Delete {
                key: convert::key_of(b),
                why: "R-52: binding cleanup",
            }),
            None => release.push(out, "R-52: binding gone"),
        },
        finalizers::WORKFLOWS_CLEANUP => clean_up_workflows(view, request, &release, out),
        _ => release.push(out, "R-52: works cleaned up"),
    }
}

/// Removing the request's finalizer that is being processed (R-52: one per
/// reconcile).
struct Release<'a> {
    request: &'a RequestObj,
    next: &'a str,
}

impl Release<'_> {
    fn push(&self, out: &mut Vec<Action>, why: &'static str) {
        let rest: Vec<&String> = self
            .request
            .finalizers
            .iter()
            .filter(|f| f.as_str() != self.next)
            .collect();
        out.push(Action::Patch {
            key: self.request.key.clone(),
            patch: json!({"metadata": {"finalizers": rest}}),
            why,
        });
    }
}

/// R-50/R-51 (H-4): the delete workflow runs at the applied revision, or the
/// latest when that is gone; the finalizer goes once it has finished.
fn run_delete_workflow(
    view: &View,
    ctx: &Context<'_>,
    request: &RequestObj,
    binding: Option<&ResourceBinding>,
    release: &Release<'_>,
    out: &mut Vec<Action>,
) {
    let applied = if !request.promise_version.is_empty() {
        request.promise_version.clone()
    } else {
        binding
            .map(|b| status::current(b).last_applied_version)
            .unwrap_or_default()
    };
    let revision = if applied.is_empty() || applied == LATEST_VERSION {
        latest_revision(view)
    } else {
        revision_at(view, &applied)
            .ok()
            .or_else(|| latest_revision(view))
    };
    let Some(revision) = revision else {
        out.push(event(
            &request.key,
            true,
            events::FAILED_REVISION_LOOKUP,
            no_latest(view),
        ));
        return;
    };
    if !revision.promise_spec.has_resource_pipeline("delete") {
        release.push(out, "R-51: no delete workflow");
        return;
    }
    match jobs_of(view, request, "delete").last() {
        // Kratix's ReconcileDelete: the delete workflow waits for a
        // configure run still in flight, which would otherwise write for a
        // request being torn down.
        None if jobs_of(view, request, "configure")
            .iter()
            .any(|j| j.in_flight()) => {}
        None => {
            let hash = workflow_hash(revision, request);
            let run = WorkflowRun {
                request,
                revision,
                action: "delete",
                hash: &hash,
                trigger: "",
            };
            start_workflow(
                view,
                ctx.workflows,
                &run,
                "R-51: delete workflow at the applied revision",
                out,
            )
        }
        Some(job) if job.phase == JobPhase::Running => {}
        Some(_) => release.push(out, "R-51: delete workflow finished"),
    }
}

/// the request's workflow Jobs are deleted; the finalizer goes once
/// none is left.
fn clean_up_workflows(
    view: &View,
    request: &RequestObj,
    release: &Release<'_>,
    out: &mut Vec<Action>,
) {
    let jobs: Vec<_> = view
        .jobs
        .iter()
        .filter(|j| {
            j.key.namespace == request.namespace() && j.request_label == request.label_name()
        })
        .collect();
    for job in &jobs {
        out.push(Action::Delete {
            key: job.key.clone(),
            why: "R-52: workflow cleanup",
        });
    }
    if jobs.is_empty() {
        release.push(out, "R-52: workflows cleaned up");
    }
}

/// Bindings whose request is gone. Kratix leaves them until a revision
/// cascade; kbind deletes the ones it managed (a binding raised before its
/// request, R-12, has no approval yet and is kept for the request).
pub fn plan_orphans(view: &View, out: &mut Vec<Action>) {
    for b in &view.bindings {
        let ns = b.metadata.namespace.clone().unwrap_or_default();
        let label = label(b, labels::RESOURCE_NAME).unwrap_or_default();
        let has_request = view
            .requests
            .iter()
            .any(|r| r.namespace() == ns && r.label_name() == label);
        if !has_request && annotation(b, annotations::APPROVED_VERSION).is_some() {
            out.push(Action::Delete {
                key: ObjKey::new(
                    "ResourceBinding",
                    &ns,
                    b.metadata.name.as_deref().unwrap_or_default(),
                ),
                why: "no binding outlives its request",
            });
        }
    }
}
