//! The planner driving the embedded API server through kube-rs: the user
//! story with real API calls (Jobs are completed by the test, standing in
//! for a kubelet).

mod support;

use kbind::apiserver::{self, ObjectStore};
use kbind::operator::KubeExecutor;
use kbind::shipped;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

async fn apply(api: &Api<DynamicObject>, value: Value) {
    let obj: DynamicObject = serde_json::from_value(value).unwrap();
    api.create(&PostParams::default(), &obj).await.unwrap();
}

async fn finish_jobs(jobs: &Api<DynamicObject>) -> usize {
    let mut finished = 0;
    for job in jobs.list(&Default::default()).await.unwrap().items {
        if job
            .data
            .get("status")
            .is_none_or(|s| s.as_object().is_none_or(|m| m.is_empty()))
        {
            let name = job.metadata.name.clone().unwrap();
            jobs.patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"succeeded": 1}})),
            )
            .await
            .unwrap();
            finished += 1;
        }
    }
    finished
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_story_through_the_kubernetes_api() {
    let running = apiserver::serve(
        ([127, 0, 0, 1], 0).into(),
        apiserver::new_token(),
        ObjectStore::new(),
    )
    .await
    .unwrap();
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::from_yaml(&running.kubeconfig()).unwrap(),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    for crd in kbind::api::crds() {
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    // The request CRD travels in the Promise's spec.api; the planner installs it.
    let redis_crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "redis.marketplace.kratix.io"},
        "spec": {"group": "marketplace.kratix.io", "scope": "Namespaced",
            "names": {"kind": "redis", "plural": "redis", "singular": "redis"},
            "versions": [{"name": "v1alpha1", "served": true, "storage": true, "subresources": {"status": {}}}]}});

    let promises = Api::<DynamicObject>::all_with(
        client.clone(),
        &ar("platform.kratix.io", "v1alpha1", "Promise", "promises"),
    );
    let requests = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "default",
        &ar("marketplace.kratix.io", "v1alpha1", "redis", "redis"),
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
    let promise = |version: &str| {
        json!({"apiVersion": "platform.kratix.io/v1alpha1", "kind": "Promise",
            "metadata": {"name": "redis", "labels": {"kratix.io/promise-version": version}},
            "spec": {"api": redis_crd, "workflows": {"resource": {"configure": [
                {"apiVersion": "platform.kratix.io/v1alpha1", "kind": "Pipeline", "metadata": {"name": "configure"},
                 "spec": {"containers": [{"name": "c", "image": format!("example/redis:{version}")}]}}]}}}})
    };

    let engine = support::engine();
    let policy = support::load(
        &engine,
        &shipped::KRATIX_DEFAULT.source(),
        &[("strategy", "pinned")],
    );
    let mut executor = KubeExecutor::new(client.clone());

    apply(&promises, promise("v0.1.0")).await;
    executor.settle(&policy, support::NOW, 100).await.unwrap();
    apply(
        &requests,
        json!({"apiVersion": "marketplace.kratix.io/v1alpha1", "kind": "redis",
        "metadata": {"name": "example", "namespace": "default"}, "spec": {"size": "small"}}),
    )
    .await;
    executor.settle(&policy, support::NOW, 100).await.unwrap();
    let b = bindings
        .get("example-redis-e7f90")
        .await
        .expect("binding created with Kratix's name");
    assert_eq!(b.data["spec"]["version"], "v0.1.0");
    assert_eq!(
        b.metadata.labels.as_ref().unwrap()["kratix.io/resource-name"],
        "example"
    );
    assert_eq!(finish_jobs(&jobs).await, 1, "one configure Job at v0.1.0");
    executor.settle(&policy, support::NOW, 100).await.unwrap();
    assert_eq!(
        requests.get("example").await.unwrap().data["status"]["promiseVersion"],
        "v0.1.0"
    );

    // Publish v0.2.0 and upgrade by editing the binding.
    promises
        .patch(
            "redis",
            &PatchParams::default(),
            &Patch::Merge(promise("v0.2.0")),
        )
        .await
        .unwrap();
    executor.settle(&policy, support::NOW, 100).await.unwrap();
    bindings
        .patch(
            "example-redis-e7f90",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": "v0.2.0"}})),
        )
        .await
        .unwrap();
    executor.settle(&policy, support::NOW, 100).await.unwrap();
    let running_jobs: Vec<String> = jobs
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|j| j.data.get("status").is_none())
        .map(|j| j.metadata.labels.unwrap()["kbind.io/promise-version"].clone())
        .collect();
    assert_eq!(running_jobs, ["v0.2.0"]);
    finish_jobs(&jobs).await;
    executor.settle(&policy, support::NOW, 100).await.unwrap();
    let b = bindings.get("example-redis-e7f90").await.unwrap();
    assert_eq!(b.data["status"]["lastAppliedVersion"], "v0.2.0");
    assert_eq!(
        b.data["status"]["conditions"][0]["reason"],
        "UpgradeComplete"
    );

    // Deleting the binding while the request exists recreates it.
    bindings
        .delete("example-redis-e7f90", &DeleteParams::default())
        .await
        .unwrap();
    executor.settle(&policy, support::NOW, 100).await.unwrap();
    assert_eq!(
        bindings.get("example-redis-e7f90").await.unwrap().data["spec"]["version"],
        "v0.2.0"
    );

    // Deleting the request removes its binding.
    requests
        .delete("example", &DeleteParams::default())
        .await
        .unwrap();
    executor.settle(&policy, support::NOW, 100).await.unwrap();
    assert!(requests.get_opt("example").await.unwrap().is_none());
    assert!(
        bindings
            .get_opt("example-redis-e7f90")
            .await
            .unwrap()
            .is_none()
    );
}
