//! What kbind writes is what a real cluster accepts and keeps: workflow
//! Jobs shaped for the Job controller (owner, deadline, TTL, pod failure
//! policy, history), runs remembered after their Jobs are gone, only its
//! own finalizers removed, and every object, label and Event name valid
//! whatever the lengths of the request and promise names (checked against
//! the embedded server's validation, which is the real server's).

use crate::support;

use std::sync::Arc;

use kbind::apiserver::ObjectStore;
use kbind::key::ObjKey;
use kbind::operator::executor::{Involved, event_object};
use kbind::planner::Action;
use kbind::policy::native::NativeKratixDefault;
use kbind::sim::{Simulation, WorkflowMode};
use proptest::prelude::*;
use serde_json::{Value, json};

fn promise(name: &str, version: &str) -> Value {
    promise_with(name, version, &Pipelines::default())
}

/// The names a Promise's author chose for its configure pipelines and their
/// containers (Kratix passes them through; kbind must keep them valid).
#[derive(Debug)]
struct Pipelines {
    first: String,
    second: String,
    container: String,
}

impl Default for Pipelines {
    fn default() -> Self {
        Self {
            first: "configure".into(),
            second: "notify".into(),
            container: "c".into(),
        }
    }
}

fn promise_with(name: &str, version: &str, p: &Pipelines) -> Value {
    // Two pipelines whose containers share a name, and one named as a
    // helper is: every name in the pod must still be unique and a label.
    // The probe is a field Kratix's container type does not have; an init
    // container may not carry one.
    let container = |image: &str| {
        json!({"name": p.container, "image": image,
        "livenessProbe": {"exec": {"command": ["true"]}}, "ports": [{"containerPort": 8080}]})
    };
    support::promise(version)
        .named(name)
        .workflows(json!({"resource": {
            "configure": [
                {"kind": "Pipeline", "metadata": {"name": p.first, "annotations": {"example.com/owner": "team-a"}},
                    "spec": {"rbac": {"permissions": [
                        {"apiGroups": [""], "verbs": ["get"], "resources": ["configmaps"]},
                        {"resourceNamespace": "other", "apiGroups": [""], "verbs": ["get"], "resources": ["secrets"]},
                        {"resourceNamespace": "*", "apiGroups": [""], "verbs": ["list"], "resources": ["namespaces"]}]},
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "pipelines", "effect": "NoSchedule"}],
                    "containers": [container(&format!("example/redis:{version}")), {"name": "reader", "image": "example/check"}]}},
                {"kind": "Pipeline", "metadata": {"name": p.second},
                    "spec": {"containers": [container("example/notify")]}},
            ],
            "delete": [{"kind": "Pipeline", "metadata": {"name": "delete"},
                "spec": {"containers": [{"name": "d", "image": "example/redis-delete"}]}}],
        }}))
        .build()
}

fn request(name: &str) -> Value {
    json!({"apiVersion": "marketplace.kratix.io/v1alpha1", "kind": "redis",
        "metadata": {"name": name, "namespace": "default"}, "spec": {"size": "small"}})
}

fn simulation(mode: WorkflowMode) -> Simulation {
    Simulation::new(
        Arc::new(NativeKratixDefault::new(vec![])),
        1_700_000_000_000,
        mode,
    )
}

fn jobs(sim: &Simulation) -> Vec<Value> {
    sim.store.list("Job").cloned().collect()
}

fn binding_key(request: &str, promise: &str) -> ObjKey {
    ObjKey::new(
        "ResourceBinding",
        "default",
        &kbind::naming::binding_name(request, promise),
    )
}

/// A pipeline's `jobOptions.backoffLimit` is the Job's (the largest of the
/// workflow's pipelines): its retries are the pipeline author's to allow.
#[test]
fn a_pipelines_job_options_set_the_jobs_backoff_limit() {
    let mut sim = simulation(WorkflowMode::Manual);
    let mut with_retries = promise("redis", "v0.1.0");
    with_retries["spec"]["workflows"]["resource"]["configure"][0]["spec"]["jobOptions"] =
        json!({"backoffLimit": 2});
    with_retries["spec"]["workflows"]["resource"]["configure"][1]["spec"]["jobOptions"] =
        json!({"backoffLimit": 1});
    sim.store.apply(with_retries, false).unwrap();
    sim.settle().unwrap();
    sim.store.create(request("example")).unwrap();
    sim.settle().unwrap();
    let job = jobs(&sim).pop().expect("a configure Job");
    assert_eq!(job["spec"]["backoffLimit"], 2);
}

#[test]
fn a_workflow_job_is_owned_bounded_and_not_counted_failed_for_a_disruption() {
    let mut sim = simulation(WorkflowMode::Manual);
    sim.store.apply(promise("redis", "v0.1.0"), false).unwrap();
    sim.settle().unwrap();
    sim.store.create(request("example")).unwrap();
    sim.settle().unwrap();
    let job = jobs(&sim).pop().expect("a configure Job");
    let request_uid = sim
        .store
        .get(&ObjKey::new("redis", "default", "example"))
        .unwrap()["metadata"]["uid"]
        .clone();
    let owner = &job["metadata"]["ownerReferences"][0];
    assert_eq!(owner["uid"], request_uid);
    assert_eq!(owner["kind"], "redis");
    assert_eq!(owner["controller"], true);
    assert!(
        owner.get("blockOwnerDeletion").is_none(),
        "that would need update on the request kind's finalizers"
    );
    let spec = &job["spec"];
    assert_eq!(spec["backoffLimit"], 0);
    assert_eq!(spec["activeDeadlineSeconds"], 3600);
    assert_eq!(spec["ttlSecondsAfterFinished"], 86_400);
    assert_eq!(
        spec["podFailurePolicy"]["rules"][0],
        json!({"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]})
    );
}

#[test]
fn a_finished_run_whose_job_was_deleted_is_not_run_again() {
    let mut sim = simulation(WorkflowMode::Auto);
    sim.store.apply(promise("redis", "v0.1.0"), false).unwrap();
    sim.settle().unwrap();
    sim.store.create(request("example")).unwrap();
    sim.settle().unwrap();
    assert_eq!(jobs(&sim).len(), 1);
    // The TTL controller deletes the finished Job.
    let job = ObjKey::of(&jobs(&sim)[0]).unwrap();
    sim.store.delete(&job).unwrap();
    sim.store.now += 90_000_000;
    sim.settle().unwrap();
    assert!(
        jobs(&sim).is_empty(),
        "the run was repeated: {:?}",
        jobs(&sim)
    );
    // A change to the request is a new run, Job or no Job.
    sim.store
        .patch(
            &ObjKey::new("redis", "default", "example"),
            &json!({"spec": {"size": "large"}}),
            false,
        )
        .unwrap();
    sim.settle().unwrap();
    assert_eq!(jobs(&sim).len(), 1);
}

#[test]
fn finished_jobs_beyond_the_history_limit_are_deleted() {
    let mut sim = simulation(WorkflowMode::Auto);
    sim.workflows.history_limit = 2;
    sim.store.apply(promise("redis", "v0.1.0"), false).unwrap();
    sim.settle().unwrap();
    sim.store.create(request("example")).unwrap();
    sim.settle().unwrap();
    for size in 0..6 {
        sim.store
            .patch(
                &ObjKey::new("redis", "default", "example"),
                &json!({"spec": {"size": format!("s{size}")}}),
                false,
            )
            .unwrap();
        sim.settle().unwrap();
    }
    let mut kept: Vec<u64> = jobs(&sim)
        .iter()
        .map(|j| {
            j["metadata"]["annotations"]["kbind.io/sequence"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    kept.sort();
    assert_eq!(kept, [5, 6, 7], "the newest and two before it");
    let deletes = sim
        .journal
        .iter()
        .filter(|a| matches!(a, Action::Delete { why, .. } if *why == "workflow history limit"))
        .count();
    assert_eq!(deletes, 4);
}

#[test]
fn promise_cleanup_removes_only_kbinds_finalizers() {
    let mut sim = simulation(WorkflowMode::Auto);
    sim.store.apply(promise("redis", "v0.1.0"), false).unwrap();
    sim.settle().unwrap();
    let key = ObjKey::new("Promise", "", "redis");
    let mut finalizers = sim.store.get(&key).unwrap()["metadata"]["finalizers"].clone();
    finalizers
        .as_array_mut()
        .unwrap()
        .push(json!("example.com/keep"));
    sim.store
        .patch(
            &key,
            &json!({"metadata": {"finalizers": finalizers}}),
            false,
        )
        .unwrap();
    sim.store.delete(&key).unwrap();
    sim.settle().unwrap();
    let left = sim.store.get(&key).expect("held by the other finalizer");
    assert_eq!(left["metadata"]["finalizers"], json!(["example.com/keep"]));
}

/// A DNS-1123 subdomain of `len` characters, as random as the rules allow.
fn subdomain(len: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![8 => proptest::char::range('a', 'z'), 2 => proptest::char::range('0', '9'), 1 => Just('-'), 1 => Just('.')],
        len,
    )
    .prop_map(|chars| {
        let mut s: Vec<char> = chars;
        let n = s.len();
        for i in 0..n {
            let edge = i == 0 || i == n - 1;
            let next_to_dot = (i > 0 && s[i - 1] == '.') || (i + 1 < n && s[i + 1] == '.');
            if (s[i] == '-' || s[i] == '.') && (edge || next_to_dot) {
                s[i] = 'a';
            }
        }
        s.into_iter().collect()
    })
}

/// A DNS-1123 label of `len` characters (a container's name).
fn label(len: usize) -> impl Strategy<Value = String> {
    subdomain(len).prop_map(|s| s.replace('.', "a"))
}

fn pipelines() -> impl Strategy<Value = Pipelines> {
    (1usize..=63, 1usize..=63, 1usize..=63)
        .prop_flat_map(|(a, b, c)| (subdomain(a), subdomain(b), label(c)))
        .prop_map(|(first, second, container)| Pipelines {
            // Two pipelines of one action have different names (Kratix's
            // webhook refuses duplicates).
            second: if second == first {
                format!("{second}0")
            } else {
                second
            },
            first,
            container,
        })
}

fn names() -> impl Strategy<Value = (String, String)> {
    (1usize..=253, 1usize..=253).prop_flat_map(|(r, p)| (subdomain(r), subdomain(p)))
}

/// `object` with each owner reference's uid that of the owner this store
/// holds under its kind and name (the simulation made its own uids): the
/// store's collector deletes what a reference finds no owner for.
fn with_owner_uids(server: &ObjectStore, namespace: &str, object: &Value) -> Value {
    let mut object = object.clone();
    let Some(references) = object["metadata"]["ownerReferences"].as_array_mut() else {
        return object;
    };
    for reference in references {
        let kind = reference["kind"].as_str().unwrap_or_default();
        let api_version = reference["apiVersion"].as_str().unwrap_or_default();
        let Some(r) = server
            .resources()
            .iter()
            .find(|r| r.kind == kind && r.group_version() == api_version)
        else {
            continue;
        };
        let owner_namespace = if r.namespaced { namespace } else { "" };
        let name = reference["name"].as_str().unwrap_or_default();
        if let Ok(owner) = server.get(r, owner_namespace, name) {
            reference["uid"] = owner["metadata"]["uid"].clone();
        }
    }
    object
}

/// Replays what the planner wrote against the embedded server's store, which
/// validates names, labels and schemas as a real server does.
fn replay(sim: &Simulation, request_name: &str, promise: &Value) -> Result<(), String> {
    let mut server = ObjectStore::new();
    let find = |server: &ObjectStore, object: &Value| {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        server
            .resources()
            .iter()
            .find(|r| r.kind == kind && r.group_version() == api_version)
            .cloned()
    };
    let find_kind = |server: &ObjectStore, kind: &str| {
        server.resources().iter().find(|r| r.kind == kind).cloned()
    };
    for crd in kbind::api::crds() {
        let crd = serde_json::to_value(crd).unwrap();
        let r = find(&server, &crd).unwrap();
        server.create(&r, "", crd).unwrap();
    }
    // The namespace a pipeline's permissions name exists.
    let other = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}});
    let r = find(&server, &other).unwrap();
    server.create(&r, "", other).unwrap();
    // kbind's kinds served (as `kubectl wait --for=condition=Established`
    // waits for), and the Promise the platform team applied, which what
    // kbind writes for it names as its owner.
    server.settle();
    let r = find(&server, promise).unwrap();
    server
        .create(&r, "", promise.clone())
        .map_err(|e| format!("the Promise itself: {}", e.message))?;
    for action in &sim.journal {
        match action {
            Action::Create { object, .. } | Action::Apply { object, .. } => {
                let Some(r) = find(&server, object) else {
                    return Err(format!("no kind for {object}"));
                };
                let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
                let object = with_owner_uids(&server, namespace, object);
                match server.create(&r, namespace, object.clone()) {
                    Ok(_) => {}
                    Err(e) if e.code == 409 => {}
                    Err(e) => return Err(format!("{}: {}", object["kind"], e.message)),
                }
                // The user's request, once its kind is served (after the
                // CRD controllers' writes, as a client waits for them), so
                // that what kbind writes to it is checked too.
                if object["kind"] == "CustomResourceDefinition" {
                    server.settle();
                    let r = find(&server, &request(request_name)).unwrap();
                    server
                        .create(&r, "default", request(request_name))
                        .map_err(|e| format!("the request itself: {}", e.message))?;
                }
            }
            Action::Patch { key, patch, .. } | Action::PatchStatus { key, patch, .. } => {
                let Some(r) = find_kind(&server, &key.kind) else {
                    continue;
                };
                let status = matches!(action, Action::PatchStatus { .. });
                match server.merge(&r, &key.namespace, &key.name, patch, status) {
                    Ok(_) => {}
                    Err(e) if e.code == 404 || e.code == 409 => {}
                    Err(e) => return Err(format!("patch {key}: {}", e.message)),
                }
            }
            Action::Event {
                regarding,
                warning,
                reason,
                message,
            } => {
                let event = event_object(
                    &Involved {
                        key: regarding,
                        api_version: "",
                        uid: "",
                    },
                    *warning,
                    reason,
                    message,
                    1_700_000_000_000,
                );
                let r = find(&server, &event).unwrap();
                let namespace = event["metadata"]["namespace"].as_str().unwrap_or_default();
                match server.create(&r, namespace, event.clone()) {
                    Ok(_) => {}
                    Err(e) if e.code == 409 => {}
                    Err(e) => return Err(format!("Event {reason}: {}", e.message)),
                }
            }
            Action::Delete { .. } => {}
        }
    }
    // What the garbage collector makes of the owner references kbind
    // wrote: every one must find its owner (kind, name, namespace), or a
    // real cluster deletes the object a moment after kbind made it.
    let stored = |server: &ObjectStore| -> Vec<Value> {
        let mut all = vec![];
        for r in server.resources() {
            all.extend(server.list(r, "", &Default::default(), &Default::default()));
        }
        all
    };
    // Objects by identity: the controllers write to what they keep (the
    // Job controller records a Job's pods in its status).
    let identity = |o: &Value| {
        (
            o["kind"].clone(),
            o["metadata"]["namespace"].clone(),
            o["metadata"]["name"].clone(),
        )
    };
    let before = stored(&server);
    server.settle();
    let after: Vec<_> = stored(&server).iter().map(identity).collect();
    let collected: Vec<String> = before
        .iter()
        .filter(|o| !after.contains(&identity(o)))
        .map(|o| {
            format!(
                "{} {} (owners {})",
                o["kind"], o["metadata"]["name"], o["metadata"]["ownerReferences"]
            )
        })
        .collect();
    if !collected.is_empty() {
        return Err(format!(
            "the garbage collector deleted what kbind wrote (an owner reference names no owner): {}",
            collected.join("; ")
        ));
    }
    // The server's Job controller made every Job's pod: admission (the
    // pipeline's ServiceAccount, which kbind applied) and the pod's own
    // validation let each through.
    let events = find_kind(&server, "Event").unwrap();
    let refused: Vec<String> = server
        .list(&events, "", &Default::default(), &Default::default())
        .iter()
        .filter(|e| e["reason"] == "FailedCreate")
        .map(|e| format!("{}: {}", e["involvedObject"]["name"], e["message"]))
        .collect();
    if !refused.is_empty() {
        return Err(format!(
            "the Job controller could not make a workflow pod: {}",
            refused.join("; ")
        ));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_object_kbind_writes_is_valid_whatever_the_name_lengths((request_name, promise_name) in names(), chosen in pipelines()) {
        let mut sim = simulation(WorkflowMode::Auto);
        sim.store.apply(promise_with(&promise_name, "v0.1.0", &chosen), false).unwrap();
        sim.settle().unwrap();
        sim.store.create(request(&request_name)).unwrap();
        sim.settle().unwrap();
        sim.store.apply(promise_with(&promise_name, "v0.2.0", &chosen), false).unwrap();
        sim.settle().unwrap();
        sim.store
            .patch(&binding_key(&request_name, &promise_name), &json!({"spec": {"version": "v0.2.0"}}), false)
            .unwrap();
        sim.settle().unwrap();
        sim.store.delete(&ObjKey::new("redis", "default", &request_name)).unwrap();
        sim.settle().unwrap();
        prop_assert!(
            sim.journal.iter().any(|a| matches!(a, Action::Create { object, .. } if object["kind"] == "Job")),
            "the story ran its workflows"
        );
        let applied: Vec<&str> = sim.journal.iter().filter_map(|a| match a {
            Action::Apply { object, .. } => object["kind"].as_str(),
            _ => None,
        }).collect();
        for kind in ["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"] {
            prop_assert!(applied.contains(&kind), "the workflow's {} applied: {:?}", kind, applied);
        }
        if let Err(refused) = replay(&sim, &request_name, &promise_with(&promise_name, "v0.1.0", &chosen)) {
            return Err(TestCaseError::fail(format!(
                "request {} ({} chars), promise {} ({} chars), pipelines {:?} and {:?}, container {:?}: {refused}",
                request_name, request_name.len(), promise_name, promise_name.len(),
                chosen.first, chosen.second, chosen.container
            )));
        }
    }
}

/// A Job whose pods were never created (a missing ServiceAccount, Pod
/// Security, quota) ends at its deadline with a Failed condition and no
/// failed pod: that is a failed run, not one in progress forever.
#[test]
fn a_job_failed_by_its_deadline_without_a_pod_is_a_failed_run() {
    let mut sim = simulation(WorkflowMode::Manual);
    sim.store.apply(promise("redis", "v0.1.0"), false).unwrap();
    sim.settle().unwrap();
    sim.store.create(request("example")).unwrap();
    sim.settle().unwrap();
    let job = ObjKey::of(&jobs(&sim)[0]).unwrap();
    sim.store
        .patch(
            &job,
            &json!({"status": {"conditions": [{"type": "Failed", "status": "True",
                "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}]}}),
            true,
        )
        .unwrap();
    sim.settle().unwrap();
    let binding = sim.store.get(&binding_key("example", "redis")).unwrap();
    let condition = binding["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "UpgradeSucceeded")
        .unwrap();
    assert_eq!(condition["status"], "False", "{binding}");
    assert!(
        condition["message"]
            .as_str()
            .unwrap()
            .contains("DeadlineExceeded: Job was active longer than specified deadline"),
        "{condition}"
    );
}
