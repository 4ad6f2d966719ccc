//! `kbind sandbox --demo`: the user story (reference/user-story.md), step by
//! step against the running sandbox, printing the kubectl command a user
//! would type for each step and what kbind did.

use std::time::{Duration, Instant};

use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

const PROMISE: &str = include_str!("../../../tests/fixtures/kratix/promise-redis.yaml");

fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn step(n: u32, title: &str, kubectl: &str) {
    println!("\n[{n}] {title}\n    $ {kubectl}");
}

async fn wait<F, Fut>(what: &str, mut check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if check().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("timed out waiting for {what}"))
}

fn table(bindings: &[DynamicObject]) {
    println!(
        "    {:<21} {:<10} {:<9} {:<9} APPLIED",
        "NAME", "RESOURCE", "PROMISE", "VERSION"
    );
    for b in bindings {
        let d = &b.data;
        let s = |p: &str| {
            d.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        println!(
            "    {:<21} {:<10} {:<9} {:<9} {}",
            b.metadata.name.clone().unwrap_or_default(),
            s("/spec/resourceRef/name"),
            s("/spec/promiseRef/name"),
            s("/spec/version"),
            s("/status/lastAppliedVersion")
        );
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Runs the story. The operator must be running against `client`.
pub async fn run(client: Client) -> Result<(), String> {
    step(0, "install kbind's CRDs", "kbind crds | kubectl apply -f -");
    crate::install_crds(&client).await.map_err(err)?;
    let promises = Api::<DynamicObject>::all_with(
        client.clone(),
        &ApiResource::erase::<kbind_model::api::Promise>(&()),
    );
    let revisions = Api::<DynamicObject>::all_with(
        client.clone(),
        &ApiResource::erase::<kbind_model::api::PromiseRevision>(&()),
    );
    let bindings = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::erase::<kbind_model::api::ResourceBinding>(&()),
    );
    let requests = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        "default",
        &ar("marketplace.kratix.io", "v1alpha1", "redis", "redis"),
    );

    step(
        1,
        "install the redis Promise at v0.1.0",
        "kubectl apply -f tests/fixtures/kratix/promise-redis.yaml",
    );
    let promise: DynamicObject = serde_saphyr::from_str(PROMISE).map_err(err)?;
    promises
        .create(&PostParams::default(), &promise)
        .await
        .map_err(err)?;
    wait("the v0.1.0 revision", || async {
        revisions
            .list(&Default::default())
            .await
            .is_ok_and(|l| !l.items.is_empty())
    })
    .await?;
    wait("the redis API", || async {
        requests.list(&Default::default()).await.is_ok()
    })
    .await?;
    println!("    PromiseRevision redis-77ba1 (v0.1.0) is the latest");

    step(
        2,
        "request a redis",
        "kubectl apply -f examples/request-example.yaml   # kind: redis, name: example",
    );
    let request: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "marketplace.kratix.io/v1alpha1", "kind": "redis",
        "metadata": {"name": "example", "namespace": "default"}, "spec": {"size": "small"},
    }))
    .map_err(err)?;
    requests
        .create(&PostParams::default(), &request)
        .await
        .map_err(err)?;
    let applied = |version: &'static str| {
        let bindings = bindings.clone();
        move || {
            let bindings = bindings.clone();
            async move {
                bindings.get("example-redis-e7f90").await.is_ok_and(|b| {
                    b.data
                        .pointer("/status/lastAppliedVersion")
                        .and_then(Value::as_str)
                        == Some(version)
                })
            }
        }
    };
    wait("the binding at v0.1.0", applied("v0.1.0")).await?;
    step(
        3,
        "find the binding kbind created",
        "kubectl -n default get resourcebindings -l kratix.io/promise-name=redis,kratix.io/resource-name=example",
    );
    table(&bindings.list(&Default::default()).await.map_err(err)?.items);

    step(
        4,
        "publish redis v0.2.0",
        "kubectl label promise redis kratix.io/promise-version=v0.2.0 --overwrite",
    );
    promises
        .patch(
            "redis",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"kratix.io/promise-version": "v0.2.0"}}})),
        )
        .await
        .map_err(err)?;
    wait("the v0.2.0 revision", || async {
        revisions
            .list(&Default::default())
            .await
            .is_ok_and(|l| l.items.len() == 2)
    })
    .await?;
    let floating = bindings
        .get("example-redis-e7f90")
        .await
        .is_ok_and(|b| b.data.pointer("/spec/version").and_then(Value::as_str) == Some("latest"));
    if floating {
        println!("    the binding floats on `latest`: kbind moves it to v0.2.0 on its own");
    } else {
        println!("    the binding stays at v0.1.0: upgrades happen by editing it");
    }

    step(
        5,
        "upgrade by editing the binding",
        r#"kubectl -n default patch resourcebinding example-redis-e7f90 --type merge -p '{"spec":{"version":"v0.2.0"}}'"#,
    );
    bindings
        .patch(
            "example-redis-e7f90",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": "v0.2.0"}})),
        )
        .await
        .map_err(err)?;
    wait("the binding at v0.2.0", applied("v0.2.0")).await?;
    table(&bindings.list(&Default::default()).await.map_err(err)?.items);

    step(
        6,
        "delete the binding while the request exists: kbind recreates it",
        "kubectl -n default delete resourcebinding example-redis-e7f90",
    );
    bindings
        .delete("example-redis-e7f90", &DeleteParams::default())
        .await
        .map_err(err)?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait("the binding back", applied("v0.2.0")).await?;
    table(&bindings.list(&Default::default()).await.map_err(err)?.items);

    step(
        7,
        "delete the request: its binding goes too",
        "kubectl -n default delete redis example",
    );
    requests
        .delete("example", &DeleteParams::default())
        .await
        .map_err(err)?;
    wait("the binding gone", || async {
        bindings
            .list(&Default::default())
            .await
            .is_ok_and(|l| l.items.is_empty())
    })
    .await?;
    println!("    No resources found in default namespace.");
    Ok(())
}
