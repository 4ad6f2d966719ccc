//! The operator end to end against the embedded API server: watches, the
//! work queue and workers, through kube-rs exactly as on a cluster. Jobs are
//! completed by the simulated runner or by the test (there is no kubelet).

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use kbind::operator::hot_swap::{PolicySpec, PolicyWatcher};
use kbind::operator::leader::LeaseConfig;
use kbind::operator::metrics::Metrics;
use kbind::operator::{OperatorOptions, SimulatedRunner};
use kbind::policy::Policy;
use kbind::shipped;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::cluster::{BINDING, Env};
use support::{eventually, start_operator};

fn kratix_default(settings: &[(&str, &str)]) -> Arc<dyn Policy> {
    Arc::new(support::load(
        &support::engine(),
        &shipped::KRATIX_DEFAULT.source(),
        settings,
    ))
}

fn simulated() -> OperatorOptions {
    OperatorOptions {
        runner: Some(SimulatedRunner::default()),
        ..OperatorOptions::default()
    }
}

/// The operator on `client` (kratix-default, pinned, the simulated node),
/// the promise at v0.1.0 and the request `example`.
async fn pinned_example(env: &Env, client: kube::Client) -> support::Operator {
    let op = start_operator(
        client,
        kratix_default(&[("strategy", "pinned")]),
        None,
        simulated(),
    );
    env.install("v0.1.0").await;
    env.create("example").await;
    op
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_story_end_to_end_through_the_watch_driven_operator() {
    let env = Env::new().await;
    let op = pinned_example(&env, env.client.clone()).await;

    // The binding: 1:1, Kratix's deterministic name, labels, the version.
    env.wait_applied(BINDING, "v0.1.0").await;
    let b = env.bindings.get(BINDING).await.unwrap();
    let labels = b.metadata.labels.clone().unwrap();
    assert_eq!(labels["kratix.io/promise-name"], "redis");
    assert_eq!(labels["kratix.io/resource-name"], "example");
    assert_eq!(b.data["spec"]["version"], "v0.1.0");
    assert_eq!(
        env.bindings
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    eventually("the request's status names the version", || async {
        let r = env.requests.get("example").await.ok()?;
        (r.data["status"]["promiseVersion"] == "v0.1.0").then_some(())
    })
    .await;

    // The workflow Job is built from the revision's pipeline.
    let job = env
        .jobs
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .remove(0);
    // Between kbind's reader and status writer, as Kratix lays out a pod.
    let pod = &job.data["spec"]["template"]["spec"];
    assert_eq!(pod["initContainers"][0]["name"], "reader");
    assert_eq!(pod["containers"][0]["name"], "status-writer");
    let container = &pod["initContainers"][1];
    assert_eq!(container["image"], "example/redis:v0.1.0");
    assert!(
        container["env"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "KRATIX_PROMISE_VERSION", "value": "v0.1.0"}))
    );

    // Publish v0.2.0: pinned, so nothing moves until the binding is edited.
    env.publish("v0.2.0").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.configure_runs("example").await, ["v0.1.0"]);
    env.edit_version(BINDING, "v0.2.0").await;
    env.wait_applied(BINDING, "v0.2.0").await;
    assert_eq!(
        env.binding_field(BINDING, "/status/conditions/0/reason")
            .await,
        Some(json!("UpgradeComplete"))
    );
    assert_eq!(
        env.configure_runs("example").await,
        ["v0.1.0", "v0.2.0"],
        "exactly one workflow per version"
    );
    let reasons = env.event_reasons(BINDING).await;
    assert!(
        reasons.iter().any(|r| r == "EditAllowed"),
        "the policy's approval of the edit is an Event: {reasons:?}"
    );

    // Deleting the binding while the request exists recreates it with the
    // last good version.
    env.bindings
        .delete(BINDING, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the binding recreated at v0.2.0", || async {
        let b = env.bindings.get_opt(BINDING).await.ok()??;
        (b.metadata.deletion_timestamp.is_none() && b.data["spec"]["version"] == "v0.2.0")
            .then_some(())
    })
    .await;

    // Deleting the request removes its binding.
    env.delete_request_and_wait_gone("example", BINDING).await;

    let metrics = op.metrics.encode();
    for expected in [
        "kbind_reconciles_total{kind=\"request\"}",
        "kbind_policy_decisions_total{policy=\"kratix-default\",decision=\"initial-version\",outcome=\"ok\"}",
        "kbind_policy_decision_duration_seconds_bucket",
        "kbind_policy_decision_fuel_bucket",
        "kbind_api_writes_total{verb=\"create\"}",
        "kbind_leader 1",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing from:\n{metrics}"
        );
    }
    op.kill();
}

fn guest(name: &str) -> std::path::PathBuf {
    kbind_fixtures::dir().join(format!("{name}.wasm"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_policy_file_is_swapped_in_and_a_bad_one_is_refused() {
    let env = Env::new().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.wasm");
    std::fs::copy(guest("kratix-default"), &path).unwrap();
    let spec = PolicySpec {
        policy: path.display().to_string(),
        ..PolicySpec::default()
    };
    let metrics = Arc::new(Metrics::new());
    let engine = support::engine();
    let (policy, fingerprint) = spec.load(&engine).unwrap();
    let op = support::start_operator_with(
        env.client.clone(),
        policy,
        None,
        OperatorOptions {
            policy_poll: Some(Duration::from_millis(100)),
            ..simulated()
        },
        metrics.clone(),
    );
    // The watcher needs the operator's slot: start a second poller on it.
    let mut watcher =
        PolicyWatcher::new(spec, engine, op.slot.clone(), metrics.clone(), fingerprint);
    env.install("v0.1.0").await;
    env.create("a").await;
    eventually("a floats on latest (kratix-default)", || async {
        let a = kbind::naming::binding_name("a", "redis");
        (env.binding_field(&a, "/spec/version").await? == "latest").then_some(())
    })
    .await;

    // Ship semver-auto by replacing the file (a rename, as a ConfigMap update does).
    let staged = dir.path().join("staged.wasm");
    std::fs::copy(guest("semver-auto"), &staged).unwrap();
    std::fs::rename(&staged, &path).unwrap();
    assert!(matches!(
        watcher.poll(),
        kbind::operator::hot_swap::Reload::Loaded { .. }
    ));
    assert_eq!(op.slot.current().id().name, "semver-auto");
    env.create("b").await;
    let b_name = kbind::naming::binding_name("b", "redis");
    eventually("b pinned to the newest version (semver-auto)", || async {
        (env.binding_field(&b_name, "/spec/version").await? == "v0.1.0").then_some(())
    })
    .await;

    // A broken file: refused, counted, the old policy serves on.
    std::fs::write(&path, b"\0asm not really").unwrap();
    match watcher.poll() {
        kbind::operator::hot_swap::Reload::Refused { error } => {
            assert!(error.contains("policy.wasm"), "{error}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(
        watcher.poll(),
        kbind::operator::hot_swap::Reload::Unchanged
    ));
    assert_eq!(op.slot.current().id().name, "semver-auto");
    assert!(
        metrics
            .encode()
            .contains("kbind_policy_reloads_total{outcome=\"refused\"} 1")
    );
    env.create("c").await;
    let c_name = kbind::naming::binding_name("c", "redis");
    eventually("c decided by the policy that kept serving", || async {
        (env.binding_field(&c_name, "/spec/version").await? == "v0.1.0").then_some(())
    })
    .await;
    op.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_own_poller_swaps_the_policy_and_reports_a_refusal_as_an_event() {
    let env = Env::new().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.wasm");
    std::fs::copy(guest("kratix-default"), &path).unwrap();
    let spec = PolicySpec {
        policy: path.display().to_string(),
        ..PolicySpec::default()
    };
    let metrics = Arc::new(Metrics::new());
    let engine = support::engine();
    let (policy, fingerprint) = spec.load(&engine).unwrap();
    // The slot must exist before the watcher: build the operator by hand.
    let slot = Arc::new(kbind::operator::hot_swap::PolicySlot::new(
        policy,
        metrics.clone(),
    ));
    let watcher = PolicyWatcher::new(spec, engine, slot.clone(), metrics.clone(), fingerprint);
    let task = tokio::spawn(kbind::operator::run(
        env.client.clone(),
        slot.clone(),
        metrics.clone(),
        Some(watcher),
        OperatorOptions {
            policy_poll: Some(Duration::from_millis(100)),
            ..simulated()
        },
        std::future::pending(),
    ));
    std::fs::write(&path, b"not a component").unwrap();
    let reasons = eventually("a PolicyRefused Event", || async {
        let r = env.event_reasons("kbind-operator").await;
        r.iter().any(|r| r == "PolicyRefused").then_some(r)
    })
    .await;
    assert!(!reasons.iter().any(|r| r == "PolicyLoaded"));
    assert_eq!(slot.current().id().name, "kratix-default");
    std::fs::copy(guest("semver-auto"), &path).unwrap();
    eventually("semver-auto swapped in by the poller", || async {
        (slot.current().id().name == "semver-auto").then_some(())
    })
    .await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_killed_mid_upgrade_is_restarted_and_finishes_it_exactly_once() {
    let env = Env::new().await;
    let policy = kratix_default(&[("strategy", "pinned")]);
    // No runner: the test ends Jobs, so it controls where the upgrade is.
    let runner = SimulatedRunner::default();
    let op = start_operator(
        env.client.clone(),
        policy.clone(),
        None,
        OperatorOptions::default(),
    );
    env.install("v0.1.0").await;
    let names = ["a", "b", "c"];
    for n in names {
        env.create(n).await;
    }
    let binding = |n: &str| kbind::naming::binding_name(n, "redis");
    eventually("three v0.1.0 workflows", || async {
        let mut all = 0;
        for n in names {
            all += env.configure_runs(n).await.len();
        }
        (all == 3).then_some(())
    })
    .await;
    runner.finish_jobs(&env.client).await.unwrap();
    for n in names {
        env.wait_applied(&binding(n), "v0.1.0").await;
    }
    env.publish("v0.2.0").await;

    // Kill 1: right after the edits, before the operator has seen them.
    for n in names {
        env.edit_version(&binding(n), "v0.2.0").await;
    }
    op.kill();
    // Kill 2: once the new workflows exist but have not finished.
    let op = start_operator(
        env.client.clone(),
        policy.clone(),
        None,
        OperatorOptions::default(),
    );
    eventually("the v0.2.0 workflows started", || async {
        for n in names {
            if env.configure_runs(n).await.last()? != "v0.2.0" {
                return None;
            }
        }
        Some(())
    })
    .await;
    op.kill();
    let op = start_operator(env.client.clone(), policy, None, OperatorOptions::default());
    // Let the third operator see everything before the workflows end.
    tokio::time::sleep(Duration::from_millis(500)).await;
    runner.finish_jobs(&env.client).await.unwrap();
    for n in names {
        env.wait_applied(&binding(n), "v0.2.0").await;
        assert_eq!(
            env.configure_runs(n).await,
            ["v0.1.0", "v0.2.0"],
            "{n}: one workflow per version across two restarts"
        );
        assert_eq!(
            env.binding_field(&binding(n), "/status/conditions/0/reason")
                .await,
            Some(json!("UpgradeComplete"))
        );
    }
    op.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_writes_and_a_standby_takes_over_when_it_dies() {
    let env = Env::new().await;
    let lease = |id: &str| {
        let mut cfg = LeaseConfig::new("default", id);
        cfg.duration = Duration::from_secs(2);
        cfg.renew_every = Duration::from_millis(300);
        OperatorOptions {
            lease: Some(cfg),
            ..simulated()
        }
    };
    let one = start_operator(env.client.clone(), kratix_default(&[]), None, lease("one"));
    // Let "one" take the Lease first, so the roles are known.
    let leases =
        Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(env.client.clone(), "default");
    eventually("one holds the Lease", || async {
        let l = leases.get_opt("kbind-operator").await.ok()??;
        (l.spec?.holder_identity? == "one").then_some(())
    })
    .await;
    let two = start_operator(env.client.clone(), kratix_default(&[]), None, lease("two"));
    env.install("v0.1.0").await;
    env.create("first").await;
    env.wait_applied(&kbind::naming::binding_name("first", "redis"), "v0.1.0")
        .await;
    let writes = |m: &Metrics| m.encode().contains("kbind_api_writes_total");
    assert!(writes(&one.metrics));
    assert!(!writes(&two.metrics), "the standby wrote nothing");
    assert!(two.metrics.encode().contains("kbind_leader 0"));

    one.kill();
    eventually("two takes over", || async {
        let l = leases.get_opt("kbind-operator").await.ok()??;
        (l.spec?.holder_identity? == "two").then_some(())
    })
    .await;
    env.create("second").await;
    env.wait_applied(&kbind::naming::binding_name("second", "redis"), "v0.1.0")
        .await;
    assert!(writes(&two.metrics));
    two.kill();
}

/// The rules of deploy/rbac.yaml: (apiGroups, resources, verbs).
fn rbac_rules() -> Vec<(Vec<String>, Vec<String>, Vec<String>)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/rbac.yaml"))
        .unwrap();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let mut rules = Vec::new();
    for doc in text.split("\n---") {
        let doc: Value = serde_saphyr::from_str(doc).unwrap();
        for rule in doc["rules"].as_array().into_iter().flatten() {
            rules.push((
                strings(&rule["apiGroups"]),
                strings(&rule["resources"]),
                strings(&rule["verbs"]),
            ));
        }
    }
    rules
}

fn granted(
    rules: &[(Vec<String>, Vec<String>, Vec<String>)],
    verb: &str,
    group: &str,
    resource: &str,
) -> bool {
    rules.iter().any(|(groups, resources, verbs)| {
        groups.iter().any(|g| g == group || g == "*")
            && verbs.iter().any(|v| v == verb)
            && resources.iter().any(|r| {
                r == resource
                    || (r == "*" && !resource.contains('/'))
                    || (r == "*/status" && resource.ends_with("/status"))
            })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_rbac_grants_exactly_the_verbs_the_operator_uses() {
    let env = Env::new().await;
    let operator_client = support::client_as(&env.running, "operator").await;
    let mut lease = LeaseConfig::new("default", "rbac");
    lease.renew_every = Duration::from_millis(200);
    let op = start_operator(
        operator_client,
        kratix_default(&[("strategy", "pinned")]),
        None,
        OperatorOptions {
            lease: Some(lease),
            ..OperatorOptions::default()
        },
    );
    let runner = SimulatedRunner::default();
    env.install("v0.1.0").await;
    env.create("example").await;
    eventually("the first workflow", || async {
        (env.configure_runs("example").await.len() == 1).then_some(())
    })
    .await;
    runner.finish_jobs(&env.client).await.unwrap();
    env.wait_applied(BINDING, "v0.1.0").await;
    env.publish("v0.2.0").await;
    env.edit_version(BINDING, "v0.2.0").await;
    eventually("the upgrade workflow", || async {
        (env.configure_runs("example").await.len() == 2).then_some(())
    })
    .await;
    runner.finish_jobs(&env.client).await.unwrap();
    env.wait_applied(BINDING, "v0.2.0").await;
    env.requests
        .delete("example", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the request gone", || async {
        env.requests
            .get_opt("example")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    // A promise deleted while it still has a request: the operator deletes
    // the request, whose delete workflow runs, then the rest.
    env.create("second").await;
    eventually("the second request's workflow", || async {
        (env.configure_runs("second").await.len() == 1).then_some(())
    })
    .await;
    runner.finish_jobs(&env.client).await.unwrap();
    env.promises
        .delete("redis", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the promise gone", || async {
        runner.finish_jobs(&env.client).await.ok()?;
        env.promises
            .get_opt("redis")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    op.kill();

    let used = env.running.audit("operator");
    let rules = rbac_rules();
    // Every identity may review its own access (system:basic-user).
    let everyone = [("create", "authorization.k8s.io", "selfsubjectaccessreviews")];
    let missing: Vec<_> = used
        .iter()
        .filter(|(v, g, r)| !granted(&rules, v, g, r))
        .filter(|(v, g, r)| !everyone.contains(&(v.as_str(), g.as_str(), r.as_str())))
        .collect();
    assert!(
        missing.is_empty(),
        "used but not granted by deploy/rbac.yaml: {missing:?}"
    );
    // Least privilege: every grant on a named resource was used, but for
    // Event get/patch (only when an Event repeats).
    // A CRD is patched only when a promise's spec.api changes; the
    // finalizers grant is checked by admission, not requested.
    let situational = [
        ("get", "", "events"),
        ("patch", "", "events"),
        ("patch", "apiextensions.k8s.io", "customresourcedefinitions"),
        // A Job is patched only to suspend a run another preempts
        // (a_run_asked_for_while_one_is_in_flight_waits_or_preempts_it).
        ("patch", "batch", "jobs"),
        ("update", "platform.kratix.io", "promises/finalizers"),
        ("get", "apiextensions.k8s.io", "customresourcedefinitions"),
        // A workflow's ServiceAccount and roles are patched only when they
        // exist already, ClusterRoles made only for permissions in other
        // namespaces; escalate/bind are checked by the authorizer when a
        // role is written, and delete when an owner reference is set, not
        // requested (the garbage collector deletes them).
        ("get", "", "serviceaccounts"),
        ("patch", "", "serviceaccounts"),
        ("patch", "rbac.authorization.k8s.io", "roles"),
        ("patch", "rbac.authorization.k8s.io", "rolebindings"),
        ("patch", "rbac.authorization.k8s.io", "clusterroles"),
        ("patch", "rbac.authorization.k8s.io", "clusterrolebindings"),
        ("create", "rbac.authorization.k8s.io", "clusterroles"),
        ("create", "rbac.authorization.k8s.io", "clusterrolebindings"),
        ("delete", "", "serviceaccounts"),
        ("delete", "rbac.authorization.k8s.io", "roles"),
        ("delete", "rbac.authorization.k8s.io", "rolebindings"),
        ("delete", "rbac.authorization.k8s.io", "clusterroles"),
        ("delete", "rbac.authorization.k8s.io", "clusterrolebindings"),
        ("escalate", "rbac.authorization.k8s.io", "roles"),
        ("escalate", "rbac.authorization.k8s.io", "clusterroles"),
        ("bind", "rbac.authorization.k8s.io", "roles"),
        ("bind", "rbac.authorization.k8s.io", "clusterroles"),
    ];
    let mut unused = Vec::new();
    for (groups, resources, verbs) in &rules {
        for g in groups.iter().filter(|g| *g != "*") {
            for r in resources.iter().filter(|r| !r.contains('*')) {
                for v in verbs {
                    let used_it = used
                        .iter()
                        .any(|(uv, ug, ur)| uv == v && ug == g && ur == r);
                    if !used_it && !situational.contains(&(v.as_str(), g.as_str(), r.as_str())) {
                        unused.push(format!("{v} {g}/{r}"));
                    }
                }
            }
        }
    }
    assert!(
        unused.is_empty(),
        "granted but never used: {unused:?}\nused: {used:?}"
    );
}

/// Kratix's own ResourceBinding CRD has no place for kbind's status fields;
/// a real server would prune them and every upgrade would re-trigger. The
/// operator refuses to reconcile (and is not ready) until kbind's CRDs are
/// applied, then carries on by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crds_that_cannot_hold_what_kbind_writes_stop_the_operator_until_fixed() {
    let env = Env::new().await;
    let crds: Api<kube::api::DynamicObject> = Api::all_with(
        env.client.clone(),
        &support::cluster::ar(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
        ),
    );
    let name = "resourcebindings.platform.kratix.io";
    let mut kratix = crds.get(name).await.unwrap();
    let status = &mut kratix.data["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
        ["status"]["properties"];
    for field in ["inFlightVersion", "failedVersions", "workflowHash"] {
        status.as_object_mut().unwrap().remove(field);
    }
    crds.replace(name, &Default::default(), &kratix)
        .await
        .unwrap();

    let metrics = Arc::new(Metrics::new());
    let op = support::start_operator_with(
        env.client.clone(),
        kratix_default(&[("strategy", "pinned")]),
        None,
        simulated(),
        metrics.clone(),
    );
    let promise: kube::api::DynamicObject =
        serde_json::from_value(support::cluster::promise("v0.1.0")).unwrap();
    env.promises
        .create(&Default::default(), &promise)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !metrics.is_ready(),
        "ready while it cannot record its state"
    );
    assert!(
        env.revisions
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "reconciled half-blind"
    );

    let kbinds = serde_json::to_value(
        kbind::api::crds()
            .into_iter()
            .find(|c| c.metadata.name.as_deref() == Some(name))
            .unwrap(),
    )
    .unwrap();
    let mut fixed = crds.get(name).await.unwrap();
    fixed.data["spec"] = kbinds["spec"].clone();
    crds.replace(name, &Default::default(), &fixed)
        .await
        .unwrap();
    eventually("the request CRD installed from spec.api", || async {
        env.requests.list(&ListParams::default()).await.ok()
    })
    .await;
    env.create("example").await;
    env.wait_applied(BINDING, "v0.1.0").await;
    assert!(metrics.is_ready());
    op.kill();
}

/// An aggregated API whose backend is down (a `metrics.k8s.io` without
/// metrics-server answers 503) must not stop kbind from finding the kinds
/// it writes: the reconcilers know theirs, and what is left to discovery
/// (the policy poller's Events) is found group by group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_aggregated_api_does_not_stop_discovery() {
    let env = Env::new().await;
    env.running.set_faults(kbind::apiserver::Faults {
        unavailable_api: Some(("metrics.k8s.io".into(), "v1beta1".into())),
        ..Default::default()
    });
    let mut executor = kbind::operator::KubeExecutor::new(env.client.clone());
    let lease = kbind::key::ObjKey::new("Lease", "default", "kbind-operator");
    executor
        .event(
            &kbind::operator::executor::Involved {
                key: &lease,
                api_version: "coordination.k8s.io/v1",
                uid: "",
            },
            false,
            "PolicyLoaded",
            "policy a replaced by b",
        )
        .await
        .unwrap();
    let op = pinned_example(&env, env.client.clone()).await;
    env.wait_applied(BINDING, "v0.1.0").await;
    op.kill();
}

/// Waits until the binding says its workflow cannot start because the API
/// server refused the pod, naming `refusal`.
async fn cannot_start(env: &Env, refusal: &str) {
    eventually("the binding says the workflow cannot start", || async {
        let b = env.bindings.get(BINDING).await.ok()?;
        let message = b.data["status"]["conditions"][0]["message"]
            .as_str()?
            .to_string();
        (message.contains("cannot start: Error creating: pods") && message.contains(refusal))
            .then_some(())
    })
    .await;
}

/// An upgrade whose workflow fails, end to end: the node fails the pod's
/// last pipeline step, the server's Job controller fails the Job at its
/// backoff limit, and the operator records the version as failed on the
/// binding while the request stays at the version it ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_whose_pod_fails_is_recorded_failed_and_the_request_stays() {
    let env = Env::new().await;
    let op = start_operator(
        env.client.clone(),
        kratix_default(&[("strategy", "pinned")]),
        None,
        OperatorOptions {
            runner: Some(SimulatedRunner {
                fail_versions: vec!["v0.2.0".into()],
            }),
            ..OperatorOptions::default()
        },
    );
    env.install("v0.1.0").await;
    env.create("example").await;
    env.wait_applied(BINDING, "v0.1.0").await;
    env.publish("v0.2.0").await;
    env.edit_version(BINDING, "v0.2.0").await;
    eventually("v0.2.0 recorded as failed", || async {
        let failed = env.binding_field(BINDING, "/status/failedVersions").await?;
        failed.as_array()?.contains(&json!("v0.2.0")).then_some(())
    })
    .await;
    assert_eq!(
        env.binding_field(BINDING, "/status/lastAppliedVersion")
            .await,
        Some(json!("v0.1.0"))
    );
    let request = env.requests.get("example").await.unwrap();
    assert_eq!(request.data["status"]["promiseVersion"], "v0.1.0");
    let jobs = env.jobs.list(&ListParams::default()).await.unwrap().items;
    let failed = jobs
        .iter()
        .find(|j| {
            j.data["spec"]["template"]["metadata"]["labels"]["kbind.io/promise-version"] == "v0.2.0"
        })
        .expect("the upgrade's Job");
    let conditions = failed.data["status"]["conditions"].as_array().unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "Failed" && c["reason"] == "BackoffLimitExceeded"),
        "{conditions:?}"
    );
    assert_eq!(failed.data["status"]["failed"], 1);
    op.kill();
}

/// A request in a namespace that enforces the restricted Pod Security
/// level: the Promise's pipeline container sets no security context (as
/// most Kratix pipelines), so the API server refuses the workflow's pod and
/// the operator reports why; once the namespace allows it, the Job
/// controller's retry runs it and the request is reconciled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_pod_pod_security_refuses_is_reported_until_allowed() {
    let env = Env::new().await;
    let namespaces: Api<DynamicObject> = Api::all_with(
        env.client.clone(),
        &kube::core::ApiResource::erase::<k8s_openapi::api::core::v1::Namespace>(&()),
    );
    let label = |level: &str| json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": level}}});
    namespaces
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Merge(label("restricted")),
        )
        .await
        .unwrap();
    let op = pinned_example(&env, env.client.clone()).await;
    cannot_start(&env, "violates PodSecurity \"restricted:latest\"").await;
    namespaces
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Merge(label("baseline")),
        )
        .await
        .unwrap();
    env.wait_applied(BINDING, "v0.1.0").await;
    op.kill();
}

/// A workflow Job whose pods cannot be created is reported: here its
/// ServiceAccount was deleted after the first run (kbind re-applies a
/// pipeline's objects only when its record of them expires), so the API
/// server's admission refuses the re-run's pod and its Job controller
/// records `FailedCreate`, retrying with backoff. The refusal is surfaced
/// on the binding's condition and as a Warning Event on the request; once
/// the account is back, the Job controller's retry runs the pod.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_cannot_create_its_pods_is_reported() {
    let env = Env::new().await;
    let op = pinned_example(&env, env.client.clone()).await;
    env.wait_applied(BINDING, "v0.1.0").await;
    let job = env
        .jobs
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .remove(0);
    let account = job.data["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .unwrap()
        .to_string();
    let accounts: Api<DynamicObject> = Api::namespaced_with(
        env.client.clone(),
        "default",
        &kube::core::ApiResource::erase::<k8s_openapi::api::core::v1::ServiceAccount>(&()),
    );
    let kept = accounts.get(&account).await.unwrap();
    accounts
        .delete(&account, &DeleteParams::default())
        .await
        .unwrap();
    // A change of the request runs its workflow again.
    env.requests
        .patch(
            "example",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": "large"}})),
        )
        .await
        .unwrap();
    let refusal = format!(
        "is forbidden: error looking up service account default/{account}: serviceaccount \"{account}\" not found"
    );
    cannot_start(&env, &refusal).await;
    eventually("a Warning Event on the request", || async {
        env.event_reasons("example")
            .await
            .contains(&"WorkflowCannotStart".to_string())
            .then_some(())
    })
    .await;
    let events: Api<DynamicObject> = Api::namespaced_with(
        env.client.clone(),
        "default",
        &kube::core::ApiResource::erase::<k8s_openapi::api::core::v1::Event>(&()),
    );
    let failed_create = events
        .list(&ListParams::default().fields("reason=FailedCreate"))
        .await
        .unwrap()
        .items;
    assert!(
        failed_create
            .iter()
            .all(|e| e.data["source"]["component"] == "job-controller"),
        "recorded by the Job controller: {failed_create:?}"
    );
    let mut back: DynamicObject = serde_json::from_value(json!({"apiVersion": "v1",
        "kind": "ServiceAccount", "metadata": {"name": account,
            "labels": kept.metadata.labels}}))
    .unwrap();
    back.metadata.namespace = Some("default".into());
    accounts.create(&Default::default(), &back).await.unwrap();
    eventually(
        "the retried pod runs and the request is reconciled",
        || async {
            let r = env.requests.get("example").await.ok()?;
            let reconciled = r.data["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Reconciled" && c["status"] == "True");
            (reconciled && env.configure_runs("example").await.len() == 2).then_some(())
        },
    )
    .await;
    op.kill();
}

/// A workflow's ServiceAccount and roles are applied on every run; the
/// executor sends an object again only when its content changed (or its
/// memo expired), and leaves a ServiceAccount someone else made (no
/// promise label) as it found it, as Kratix does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applied_objects_are_sent_once_and_a_foreign_service_account_is_left_alone() {
    let env = Env::new().await;
    let metrics = Arc::new(Metrics::new());
    let mut executor =
        kbind::operator::KubeExecutor::new(env.client.clone()).with_metrics(metrics.clone());
    let creates = |m: &Metrics| {
        m.encode()
            .lines()
            .find(|l| l.starts_with("kbind_api_writes_total{verb=\"create\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let service_account = |name: &str, team: &str| kbind::planner::Action::Apply {
        object: json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": "default",
                "labels": {"kratix.io/promise-name": "redis", "team": team}}}),
        why: "the pipeline's ServiceAccount",
    };
    let accounts: Api<DynamicObject> = Api::namespaced_with(
        env.client.clone(),
        "default",
        &kube::core::ApiResource::erase::<k8s_openapi::api::core::v1::ServiceAccount>(&()),
    );
    let labels = |o: DynamicObject| o.metadata.labels.unwrap_or_default();
    async fn edited_again(accounts: &Api<DynamicObject>) -> DynamicObject {
        let mut o = accounts.get("mine").await.unwrap();
        o.metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("team".into(), "y".into());
        o
    }

    executor
        .execute(&service_account("mine", "a"))
        .await
        .unwrap();
    executor
        .execute(&service_account("mine", "a"))
        .await
        .unwrap();
    assert_eq!(creates(&metrics), 1, "the same content is not sent twice");

    // An edit is repaired by the next apply whose content differs, or
    // once the memo expires (here at once).
    let mut edited = accounts.get("mine").await.unwrap();
    edited
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("team".into(), "x".into());
    accounts
        .replace("mine", &Default::default(), &edited)
        .await
        .unwrap();
    executor
        .execute(&service_account("mine", "b"))
        .await
        .unwrap();
    assert_eq!(creates(&metrics), 2, "changed content is sent");
    assert_eq!(labels(accounts.get("mine").await.unwrap())["team"], "b");
    accounts
        .replace("mine", &Default::default(), &edited_again(&accounts).await)
        .await
        .unwrap();
    let mut expiring = kbind::operator::KubeExecutor::new(env.client.clone())
        .with_metrics(metrics.clone())
        .with_applied(kbind::operator::executor::Applied::lasting(Duration::ZERO));
    expiring
        .execute(&service_account("mine", "b"))
        .await
        .unwrap();
    expiring
        .execute(&service_account("mine", "b"))
        .await
        .unwrap();
    assert_eq!(creates(&metrics), 4, "an expired memo sends again");
    assert_eq!(labels(accounts.get("mine").await.unwrap())["team"], "b");

    // A ServiceAccount without the promise label is not kbind's.
    let foreign: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "theirs", "namespace": "default", "labels": {"team": "theirs"}}}))
    .unwrap();
    accounts
        .create(&Default::default(), &foreign)
        .await
        .unwrap();
    executor
        .execute(&service_account("theirs", "a"))
        .await
        .unwrap();
    let left = labels(accounts.get("theirs").await.unwrap());
    assert_eq!(left.get("team").map(String::as_str), Some("theirs"));
    assert!(!left.contains_key("kratix.io/promise-name"), "{left:?}");
}

/// A repeated Event is one PATCH of its count, as client-go's recorder
/// sends it from its correlator's cache: not a create the server refuses
/// with 409, then a GET and a PATCH. Here a binding edited to a version
/// with no revision makes each reconcile of its request fail, and say so;
/// touching the request reconciles it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_event_is_one_patch_of_its_count() {
    let env = Env::new().await;
    let operator_client = support::client_as(&env.running, "operator").await;
    let op = pinned_example(&env, operator_client).await;
    env.wait_applied(BINDING, "v0.1.0").await;
    env.edit_version(BINDING, "v9.9.9").await;
    let events = &env.events;
    let count = || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .find(|e| e.data["reason"] == "FailedPromiseRevisionLookup")?
            .data["count"]
            .as_i64()
    };
    let mut seen = eventually("the lookup failure", count).await;
    for touch in 0..3 {
        env.requests
            .patch(
                "example",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(
                    json!({"metadata": {"annotations": {"touch": touch.to_string()}}}),
                ),
            )
            .await
            .unwrap();
        let before = seen;
        seen = eventually("the failure said again", || async {
            count().await.filter(|c| *c > before)
        })
        .await;
    }
    op.kill();
    // The failure may be said once more (a retry) between the last look
    // and the kill: count the Event as the operator left it.
    let last = count().await.unwrap_or(seen);
    let gets = env.running.audit_count("operator", "get", "", "events");
    let patches = env.running.audit_count("operator", "patch", "", "events");
    assert!(seen >= 4, "{seen}");
    assert_eq!(gets, 0, "a repeat needs no read");
    assert_eq!(patches, (last - 1) as u64, "one patch per repeat");
}

/// The common Promise at `version`, its request API's `spec.<field>`
/// given `schema`.
fn promise_with_spec_field(
    version: &str,
    field: &str,
    schema: serde_json::Value,
) -> serde_json::Value {
    let mut promise = support::cluster::promise(version);
    promise["spec"]["api"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        ["properties"][field] = schema;
    promise
}

/// A version whose API adds a field with a default: the server reads every
/// request with it once the kind's storage is rebuilt, which the operator's
/// watch shows only when it lists again (a second after the CRD changed,
/// as the real server tears the old storage down). The upgrade's workflow
/// runs once, from the request as the new schema reads it: not once from
/// the cached request and again when the list brings the default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_change_runs_each_workflow_once_from_the_request_it_defaults() {
    let env = Env::new().await;
    let op = start_operator(env.client.clone(), kratix_default(&[]), None, simulated());
    env.install("v0.1.0").await;
    env.create("example").await;
    env.wait_applied(BINDING, "v0.1.0").await;
    let next = promise_with_spec_field(
        "v0.2.0",
        "replicas",
        json!({"type": "integer", "default": 3}),
    );
    env.promises
        .patch("redis", &PatchParams::default(), &Patch::Merge(next))
        .await
        .unwrap();
    env.wait_applied(BINDING, "v0.2.0").await;
    // Past the relist, and long enough for a second run to start.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        env.configure_runs("example").await,
        ["v0.1.0", "v0.2.0"],
        "one workflow for the new version"
    );
    let request = env.requests.get("example").await.unwrap();
    assert_eq!(request.data["spec"]["replicas"], 3);
    op.kill();
}

/// A version whose API narrows a field the request already uses (`size`
/// may now only be `large`): a 1.32 server ratchets the validation of the
/// stored request, so the operator's status writes and its finalizer's
/// removal still go through, the upgrade reaches the request and its
/// delete finishes; only a new request is held to the narrower API. (The
/// embedded server refused every write of the old request.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_narrowed_under_a_stored_request_still_upgrades_and_deletes_it() {
    let env = Env::new().await;
    let op = start_operator(env.client.clone(), kratix_default(&[]), None, simulated());
    env.install("v0.1.0").await;
    env.create("example").await;
    env.wait_applied(BINDING, "v0.1.0").await;
    let next = promise_with_spec_field(
        "v0.2.0",
        "size",
        json!({"type": "string", "enum": ["large"]}),
    );
    env.promises
        .patch("redis", &PatchParams::default(), &Patch::Merge(next))
        .await
        .unwrap();
    eventually("the narrower API served", || async {
        let refused = env
            .requests
            .create(&PostParams::default(), &support::cluster::request("fresh"))
            .await;
        matches!(refused, Err(kube::Error::Api(e)) if e.code == 422).then_some(())
    })
    .await;
    env.wait_applied(BINDING, "v0.2.0").await;
    eventually("the request's status at v0.2.0", || async {
        let r = env.requests.get("example").await.ok()?;
        (r.data["status"]["promiseVersion"] == "v0.2.0").then_some(())
    })
    .await;
    env.delete_request_and_wait_gone("example", BINDING).await;
    op.kill();
}

/// One configure run of a request at a time, as Kratix keeps it: a spec
/// change while a run is in flight waits for it to end; a new version on
/// the binding suspends the run in flight and starts its own. The
/// operator runs under `deploy/rbac.yaml`'s rules, which must let it
/// suspend a Job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_asked_for_while_one_is_in_flight_waits_or_preempts_it() {
    let env = Env::new().await;
    let op = start_operator(
        support::client_as(&env.running, "operator").await,
        kratix_default(&[("strategy", "pinned")]),
        None,
        OperatorOptions::default(),
    );
    let runner = SimulatedRunner::default();
    env.install("v0.1.0").await;
    env.create("example").await;
    eventually("the first run", || async {
        (env.configure_runs("example").await.len() == 1).then_some(())
    })
    .await;
    env.patch_request("example", json!({"spec": {"size": "large"}}))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        env.configure_runs("example").await,
        ["v0.1.0"],
        "a spec change started a second run beside the one in flight"
    );
    runner.finish_jobs(&env.client).await.unwrap();
    eventually("the spec change's run, once the first ended", || async {
        (env.configure_runs("example").await.len() == 2).then_some(())
    })
    .await;

    env.publish("v0.2.0").await;
    env.edit_version(BINDING, "v0.2.0").await;
    eventually("the upgrade's run", || async {
        {
            let r = env.configure_runs("example").await;
            eprintln!("RUNS {r:?}");
            (r == ["v0.1.0", "v0.1.0", "v0.2.0"]).then_some(())
        }
    })
    .await;
    let jobs = env
        .jobs
        .list(&ListParams::default().labels("kratix.io/resource-name=example"))
        .await
        .unwrap();
    let suspended: Vec<(String, bool)> = jobs
        .items
        .iter()
        .map(|j| {
            (
                j.metadata.labels.as_ref().unwrap()["kbind.io/promise-version"].clone(),
                j.data["spec"]["suspend"] == true,
            )
        })
        .collect();
    assert_eq!(
        suspended.iter().filter(|(_, s)| *s).count(),
        1,
        "only the preempted run is suspended: {suspended:?}"
    );
    assert!(suspended.contains(&("v0.2.0".to_string(), false)));
    runner.finish_jobs(&env.client).await.unwrap();
    env.wait_applied(BINDING, "v0.2.0").await;
    op.kill();
}

/// Kratix's ReconcileDelete: a request deleted while its configure run is
/// in flight gets its delete workflow once that run has ended, not beside
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_workflow_waits_for_the_configure_run_in_flight() {
    let env = Env::new().await;
    let op = start_operator(
        env.client.clone(),
        kratix_default(&[]),
        None,
        OperatorOptions::default(),
    );
    let runner = SimulatedRunner::default();
    let pipeline = |name: &str| {
        json!({"apiVersion": "platform.kratix.io/v1alpha1", "kind": "Pipeline",
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "example/redis:v0.1.0"}]}})
    };
    let promise = support::fixture::promise("v0.1.0")
        .workflows(json!({"resource": {
            "configure": [pipeline("configure")],
            "delete": [pipeline("delete")]}}))
        .build();
    env.promises
        .create(
            &PostParams::default(),
            &serde_json::from_value(promise).unwrap(),
        )
        .await
        .unwrap();
    eventually("the request CRD", || async {
        env.requests.list(&ListParams::default()).await.ok()
    })
    .await;
    env.create("example").await;
    eventually("the configure run", || async {
        (env.configure_runs("example").await.len() == 1).then_some(())
    })
    .await;
    env.requests
        .delete("example", &DeleteParams::default())
        .await
        .unwrap();
    let delete_runs = || async {
        env.jobs
            .list(
                &ListParams::default()
                    .labels("kratix.io/resource-name=example,kratix.io/workflow-action=delete"),
            )
            .await
            .unwrap()
            .items
            .len()
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        delete_runs().await,
        0,
        "the delete workflow started beside the configure run in flight"
    );
    runner.finish_jobs(&env.client).await.unwrap();
    eventually(
        "the delete workflow, once the configure run ended",
        || async { (delete_runs().await == 1).then_some(()) },
    )
    .await;
    eventually("the request gone", || async {
        runner.finish_jobs(&env.client).await.ok()?;
        env.requests
            .get_opt("example")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    op.kill();
}

/// Kratix's `kratix.io/paused` label, on a request or on its promise:
/// nothing of the request is reconciled, it says so (`Reconciled` Unknown,
/// `Paused`, and a `PausedReconciliation` Warning), and once the label goes
/// the workflow runs again from the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_request_is_left_alone_and_runs_again_when_unpaused() {
    let env = Env::new().await;
    let op = start_operator(env.client.clone(), kratix_default(&[]), None, simulated());
    env.install("v0.1.0").await;
    env.create("example").await;
    env.wait_applied(BINDING, "v0.1.0").await;
    let reconciled = || async {
        let request = env.requests.get("example").await.unwrap();
        let conditions = request.data["status"]["conditions"].as_array().cloned();
        conditions
            .unwrap_or_default()
            .into_iter()
            .find(|c| c["type"] == "Reconciled")
            .map(|c| (c["status"].clone(), c["reason"].clone()))
    };
    let label = |target: &'static str, value: Value| {
        let api = if target == "request" {
            env.requests.clone()
        } else {
            env.promises.clone()
        };
        let name = if target == "request" {
            "example"
        } else {
            "redis"
        };
        async move {
            api.patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"kratix.io/paused": value}}})),
            )
            .await
            .unwrap();
        }
    };
    let paused = Some((json!("Unknown"), json!("PausedReconciliation")));

    label("request", json!("true")).await;
    eventually("the request says it is paused", || async {
        (reconciled().await == paused).then_some(())
    })
    .await;
    // The Warning follows the status write.
    eventually("the request's PausedReconciliation Warning", || async {
        env.event_reasons("example")
            .await
            .contains(&"PausedReconciliation".to_string())
            .then_some(())
    })
    .await;
    env.patch_request("example", json!({"spec": {"size": "large"}}))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        env.configure_runs("example").await,
        ["v0.1.0"],
        "a paused request's spec change ran its workflow"
    );
    assert_eq!(reconciled().await, paused);

    label("request", Value::Null).await;
    eventually("the run after the pause", || async {
        (env.configure_runs("example").await.len() == 2
            && reconciled().await == Some((json!("True"), json!("Reconciled"))))
        .then_some(())
    })
    .await;

    // The promise's label pauses the promise and its requests: it shows
    // Unavailable, and a new version makes no revision until it goes.
    label("promise", json!("true")).await;
    eventually("the request paused by its promise", || async {
        (reconciled().await == paused).then_some(())
    })
    .await;
    let promise_status = || async {
        let p = env.promises.get("redis").await.unwrap();
        let conditions: Vec<(Value, Value)> = p.data["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|c| (c["type"].clone(), c["status"].clone()))
            .collect();
        (p.data["status"]["status"].clone(), conditions)
    };
    eventually("the promise shown paused", || async {
        let (status, conditions) = promise_status().await;
        (status == "Unavailable"
            && conditions.contains(&(json!("Available"), json!("False")))
            && conditions.contains(&(json!("Reconciled"), json!("Unknown"))))
        .then_some(())
    })
    .await;
    eventually("the promise's PausedReconciliation Warning", || async {
        env.event_reasons("redis")
            .await
            .contains(&"PausedReconciliation".to_string())
            .then_some(())
    })
    .await;
    env.promises
        .patch(
            "redis",
            &PatchParams::default(),
            &Patch::Merge(support::cluster::promise("v0.2.0")),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        env.revisions
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1,
        "a paused promise's new version made a revision"
    );
    label("promise", Value::Null).await;
    // The request resumes with its promise: its run from the start may
    // begin at the old revision before the promise has made the new one,
    // which then runs too (both controllers resume at once in Kratix).
    eventually(
        "the run after the promise's pause, at its new version",
        || async {
            let runs = env.configure_runs("example").await;
            (runs.len() >= 3 && runs.last().is_some_and(|v| v == "v0.2.0")).then_some(())
        },
    )
    .await;
    eventually(
        "the promise available again, without the pause's conditions",
        || async { (promise_status().await == (json!("Available"), vec![])).then_some(()) },
    )
    .await;
    op.kill();
}

/// A version whose API adds a version and stores requests at it (a Promise
/// moving its API from v1alpha1 to v1beta1): the operator's request watch
/// moves to the new storage version and lists again. Until that list is in,
/// no request of the kind is known, and none may be taken for gone: the
/// binding a request had is kept (and so is its version), and the upgrade
/// reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_storage_version_of_the_api_keeps_every_binding() {
    let env = Env::new().await;
    let op = start_operator(
        env.client.clone(),
        kratix_default(&[("strategy", "pinned")]),
        None,
        simulated(),
    );
    env.install("v0.1.0").await;
    env.create("example").await;
    env.wait_applied(BINDING, "v0.1.0").await;
    let mut next = support::cluster::promise("v0.2.0");
    let versions = &mut next["spec"]["api"]["spec"]["versions"];
    let mut beta = versions[0].clone();
    versions[0]["storage"] = json!(false);
    beta["name"] = json!("v1beta1");
    versions.as_array_mut().unwrap().push(beta);
    env.promises
        .patch("redis", &PatchParams::default(), &Patch::Merge(next))
        .await
        .unwrap();
    // Past the watch's move to v1beta1 and its list.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let binding = env.bindings.get(BINDING).await;
    assert!(binding.is_ok(), "the binding was deleted: {binding:?}");
    assert_eq!(
        env.binding_field(BINDING, "/spec/version").await,
        Some(json!("v0.1.0")),
        "pinned where it was"
    );
    env.edit_version(BINDING, "v0.2.0").await;
    env.wait_applied(BINDING, "v0.2.0").await;
    op.kill();
}

/// A real server deletes an Event `--event-ttl` (an hour) after its last
/// write. kbind raises the count of an Event it recorded before; one that
/// has expired since is recorded anew (count 1), not lost in a 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_expired_is_recorded_anew() {
    let mut store = kbind::apiserver::ObjectStore::new();
    store.set_event_ttl(Duration::from_millis(400));
    let env = Env::with_store(store).await;
    let mut executor = kbind::operator::executor::KubeExecutor::new(
        support::client_as(&env.running, "operator").await,
    );
    let key = kbind::key::ObjKey::new("ConfigMap", "default", "said");
    let about = kbind::operator::executor::Involved {
        key: &key,
        api_version: "v1",
        uid: "0c6e1f0e-0000-4000-8000-000000000001",
    };
    let events = &env.events;
    let counts = || async {
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|e| e.data["reason"] == "Said")
            .map(|e| e.data["count"].as_i64().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    for _ in 0..2 {
        executor
            .event(&about, false, "Said", "said again")
            .await
            .unwrap();
    }
    assert_eq!(counts().await, [2]);
    eventually("the Event expired", || async {
        counts().await.is_empty().then_some(())
    })
    .await;
    executor
        .event(&about, false, "Said", "said again")
        .await
        .unwrap();
    assert_eq!(counts().await, [1]);
}
