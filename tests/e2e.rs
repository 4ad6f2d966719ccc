//! Opt-in: the user story against any cluster.
//!
//!   KBIND_E2E_KUBECONFIG=~/.kube/config cargo test -p kbind --test e2e -- --nocapture
//!
//! The kbind CRDs are applied if missing. By default the test runs the
//! operator in-process (as `kbind operator` would, without leader
//! election); with KBIND_E2E_OPERATOR=deployed it expects the one from
//! deploy/ to be running. Workflow Jobs really run (busybox) unless
//! KBIND_E2E_SIMULATE_WORKFLOWS=1 (clusters without nodes, the sandbox).
//! Everything it creates is named kbind-e2e and removed at the end.

mod support;

use std::sync::Arc;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use support::eventually;

const PROMISE: &str = "kbind-e2e";
const REQUEST: &str = "example";

fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn promise(version: &str) -> Value {
    json!({"apiVersion": "platform.kratix.io/v1alpha1", "kind": "Promise",
        "metadata": {"name": PROMISE, "labels": {"kratix.io/promise-version": version}},
        "spec": {
            "api": {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "kbinde2es.e2e.kbind.io"},
                "spec": {"group": "e2e.kbind.io", "scope": "Namespaced",
                    "names": {"kind": "KbindE2e", "plural": "kbinde2es", "singular": "kbinde2e"},
                    "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object",
                            "x-kubernetes-preserve-unknown-fields": true}}}]}},
            "workflows": {"resource": {"configure": [
                {"apiVersion": "platform.kratix.io/v1alpha1", "kind": "Pipeline",
                 "metadata": {"name": "configure"},
                 "spec": {"containers": [{"name": "configure", "image": "busybox:1.36",
                    "command": ["sh", "-c", "echo configure at $KRATIX_PROMISE_VERSION"]}]}}]}}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_story_on_a_real_cluster() {
    let Ok(path) = std::env::var("KBIND_E2E_KUBECONFIG") else {
        eprintln!("KBIND_E2E_KUBECONFIG is not set: the cluster suite is opt-in, nothing ran");
        return;
    };
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();

    kbind::api::install_crds(&client)
        .await
        .unwrap_or_else(|e| panic!("cannot install the kbind CRDs: {e}"));
    let promises = Api::<DynamicObject>::all_with(
        client.clone(),
        &ar("platform.kratix.io", "v1alpha1", "Promise", "promises"),
    );
    let requests = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "default",
        &ar("e2e.kbind.io", "v1alpha1", "KbindE2e", "kbinde2es"),
    );
    let bindings = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "default",
        &ar(
            "platform.kratix.io",
            "v1alpha1",
            "ResourceBinding",
            "resourcebindings",
        ),
    );
    let jobs = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "default",
        &ar("batch", "v1", "Job", "jobs"),
    );

    let operator = if std::env::var("KBIND_E2E_OPERATOR").as_deref() == Ok("deployed") {
        None
    } else {
        let policy = support::load(
            &support::engine(),
            &kbind::shipped::KRATIX_DEFAULT.source(),
            &[("strategy", "pinned")],
        );
        let simulate = std::env::var("KBIND_E2E_SIMULATE_WORKFLOWS").as_deref() == Ok("1");
        Some(support::start_operator(
            client.clone(),
            Arc::new(policy),
            None,
            kbind::operator::OperatorOptions {
                runner: simulate.then(kbind::operator::SimulatedRunner::default),
                ..Default::default()
            },
        ))
    };

    let p: DynamicObject = serde_json::from_value(promise("v0.1.0")).unwrap();
    promises.create(&PostParams::default(), &p).await.unwrap();
    eventually("the promise's API installed", || async {
        requests.list(&ListParams::default()).await.ok()
    })
    .await;
    let r: DynamicObject = serde_json::from_value(json!({"apiVersion": "e2e.kbind.io/v1alpha1",
        "kind": "KbindE2e", "metadata": {"name": REQUEST, "namespace": "default"},
        "spec": {"size": "small"}}))
    .unwrap();
    requests.create(&PostParams::default(), &r).await.unwrap();

    let binding = kbind::naming::binding_name(REQUEST, PROMISE);
    let applied = |version: &'static str| {
        let bindings = bindings.clone();
        let binding = binding.clone();
        async move {
            eventually(&format!("applied at {version}"), || async {
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

    promises
        .patch(
            PROMISE,
            &PatchParams::default(),
            &Patch::Merge(promise("v0.2.0")),
        )
        .await
        .unwrap();
    let revisions = Api::<DynamicObject>::all_with(
        client.clone(),
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
    let runs: Vec<String> = jobs
        .list(&ListParams::default().labels(&format!(
            "kratix.io/promise-name={PROMISE},kratix.io/workflow-action=configure"
        )))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|j| j.metadata.labels.unwrap()["kbind.io/promise-version"].clone())
        .collect();
    let mut sorted = runs.clone();
    sorted.sort();
    assert_eq!(sorted, ["v0.1.0", "v0.2.0"], "one workflow per version");

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
