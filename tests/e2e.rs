//! The user story with the unmodified Kratix fixture
//! (`tests/fixtures/kratix/promise-redis.yaml`), on a real cluster or, by
//! default, on the embedded server in its strict mode with `deploy/`
//! applied and RBAC enforced:
//!
//!   cargo test -p kbind --test cluster e2e::               # embedded server
//!   KBIND_E2E_KUBECONFIG=~/.kube/config cargo test -p kbind --test cluster e2e:: -- --nocapture
//!
//! On a cluster, the kbind CRDs are applied if missing and the operator runs
//! in-process (as `kbind operator` would, without leader election, as the
//! kubeconfig's user); with KBIND_E2E_OPERATOR=deployed it expects the one
//! from deploy/ to be running. Workflow Jobs really run there (the
//! fixture's marketplace images, with kbind's helper containers from
//! `kbind:dev`, which the nodes must be able to pull) unless
//! KBIND_E2E_SIMULATE_WORKFLOWS=1. On the embedded server, which runs no
//! pods, the operator runs as the `kbind-operator` ServiceAccount and the
//! test ends the Jobs. The promise, its request `example` and everything
//! they made are removed at the end.

use crate::support;

use std::sync::Arc;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::cluster::ar;
use support::eventually;
use support::install::{create_all, installed, repo_file};

const PROMISE: &str = "redis";
const REQUEST: &str = "example";

/// Where the story runs, and who ends its Jobs when pods do not run.
struct Cluster {
    admin: kube::Client,
    operator_client: Option<kube::Client>,
    runner: Option<kbind::operator::SimulatedRunner>,
    _embedded: Option<kbind::apiserver::Running>,
}

async fn cluster() -> Cluster {
    let Ok(path) = std::env::var("KBIND_E2E_KUBECONFIG") else {
        let (running, admin, operator_client) = installed().await;
        return Cluster {
            admin,
            operator_client: Some(operator_client),
            runner: Some(kbind::operator::SimulatedRunner::default()),
            _embedded: Some(running),
        };
    };
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let admin = kube::Client::try_from(config).unwrap();
    kbind::operator::install_crds(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot install the kbind CRDs: {e}"));
    let deployed = std::env::var("KBIND_E2E_OPERATOR").as_deref() == Ok("deployed");
    let simulate = std::env::var("KBIND_E2E_SIMULATE_WORKFLOWS").as_deref() == Ok("1");
    Cluster {
        operator_client: (!deployed).then(|| admin.clone()),
        admin,
        runner: simulate.then(kbind::operator::SimulatedRunner::default),
        _embedded: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_story_with_the_kratix_fixture() {
    let cluster = cluster().await;
    let admin = cluster.admin.clone();
    let promises = Api::<DynamicObject>::all_with(
        admin.clone(),
        &ar("platform.kratix.io", "v1alpha1", "Promise", "promises"),
    );
    let requests = Api::<DynamicObject>::namespaced_with(
        admin.clone(),
        "default",
        &ar("marketplace.kratix.io", "v1alpha1", "redis", "redis"),
    );
    let bindings = Api::<DynamicObject>::namespaced_with(
        admin.clone(),
        "default",
        &ar(
            "platform.kratix.io",
            "v1alpha1",
            "ResourceBinding",
            "resourcebindings",
        ),
    );
    let jobs = Api::<DynamicObject>::namespaced_with(
        admin.clone(),
        "default",
        &ar("batch", "v1", "Job", "jobs"),
    );

    let operator = cluster.operator_client.clone().map(|client| {
        let policy = support::load(
            &support::engine(),
            &kbind::shipped::KRATIX_DEFAULT.source(),
            &[("strategy", "pinned")],
        );
        support::start_operator(
            client,
            Arc::new(policy),
            None,
            kbind::operator::OperatorOptions::default(),
        )
    });
    let finish_jobs = || async {
        if let Some(runner) = &cluster.runner {
            runner.finish_jobs(&admin).await.ok()?;
        }
        Some(())
    };

    // The fixture, as `kubectl create -f` sends it: no CRD made by hand.
    create_all(
        &admin,
        &repo_file("tests/fixtures/kratix/promise-redis.yaml"),
    )
    .await;
    eventually("the promise's API installed", || async {
        requests.list(&ListParams::default()).await.ok()
    })
    .await;
    let r: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "marketplace.kratix.io/v1alpha1", "kind": "redis",
        "metadata": {"name": REQUEST, "namespace": "default"}, "spec": {}}))
    .unwrap();
    requests.create(&PostParams::default(), &r).await.unwrap();
    let stored = requests.get(REQUEST).await.unwrap();
    assert_eq!(
        stored.data["spec"]["size"], "small",
        "the promise's schema default applied"
    );

    let binding = kbind::naming::binding_name(REQUEST, PROMISE);
    let applied = |version: &'static str| {
        let (bindings, binding) = (bindings.clone(), binding.clone());
        let finish_jobs = &finish_jobs;
        async move {
            eventually(&format!("applied at {version}"), || async {
                finish_jobs().await?;
                let b = bindings.get_opt(&binding).await.ok()??;
                (b.data["status"]["lastAppliedVersion"] == version).then_some(())
            })
            .await
        }
    };
    applied("v0.1.0").await;
    let b = bindings.get(&binding).await.unwrap();
    let labels = b.metadata.labels.unwrap();
    assert_eq!(labels["kratix.io/promise-name"], PROMISE);
    assert_eq!(labels["kratix.io/resource-name"], REQUEST);
    let stored = requests.get(REQUEST).await.unwrap();
    assert_eq!(stored.data["status"]["promiseVersion"], "v0.1.0");

    // The upgrade: a new promise version, then the binding edited.
    promises
        .patch(
            PROMISE,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"kratix.io/promise-version": "v0.2.0"}}})),
        )
        .await
        .unwrap();
    let revisions = Api::<DynamicObject>::all_with(
        admin.clone(),
        &ar(
            "platform.kratix.io",
            "v1alpha1",
            "PromiseRevision",
            "promiserevisions",
        ),
    );
    eventually("v0.2.0 is the latest revision", || async {
        let all = revisions.list(&ListParams::default()).await.ok()?;
        all.items
            .iter()
            .any(|r| r.data["spec"]["version"] == "v0.2.0" && r.data["status"]["latest"] == true)
            .then_some(())
    })
    .await;
    bindings
        .patch(
            &binding,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": "v0.2.0"}})),
        )
        .await
        .unwrap();
    applied("v0.2.0").await;
    let mut runs: Vec<String> = jobs
        .list(&ListParams::default().labels(&format!(
            "kratix.io/promise-name={PROMISE},kratix.io/workflow-action=configure"
        )))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|j| j.metadata.labels.unwrap()["kbind.io/promise-version"].clone())
        .collect();
    runs.sort();
    assert_eq!(runs, ["v0.1.0", "v0.2.0"], "one workflow per version");

    bindings
        .delete(&binding, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the binding recreated at v0.2.0", || async {
        let b = bindings.get_opt(&binding).await.ok()??;
        (b.metadata.deletion_timestamp.is_none() && b.data["spec"]["version"] == "v0.2.0")
            .then_some(())
    })
    .await;
    requests
        .delete(REQUEST, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the request and its binding gone", || async {
        finish_jobs().await?;
        (requests.get_opt(REQUEST).await.ok()?.is_none()
            && bindings.get_opt(&binding).await.ok()?.is_none())
        .then_some(())
    })
    .await;
    promises
        .delete(PROMISE, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the promise gone", || async {
        promises
            .get_opt(PROMISE)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    if let Some(op) = operator {
        op.kill();
    }
}
