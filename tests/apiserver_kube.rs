//! kube-rs against the embedded API server, through the same client code
//! that talks to a real cluster: a `Controller` reconciles objects created
//! after it starts, finalizers hold deletion until removed, a stale write
//! gets 409 and a retry succeeds, and a reflector survives dropped watches
//! without losing events.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kbind::api::{ResourceBinding, ResourceBindingStatus};
use kbind::apiserver::{self, ObjectStore, Running};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, CustomResourceExt, ResourceExt};
use serde_json::json;

const FINALIZER: &str = "test.kbind.io/cleanup";

async fn client_for(running: &Running) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(&running.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

/// Creates the ResourceBinding CRD and waits, as a client of a real server
/// must, until it is established: its kind is served a moment after.
async fn install_binding_crd(client: &Client) -> Result<(), String> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = ResourceBinding::crd();
    crds.create(&PostParams::default(), &crd)
        .await
        .map_err(|e| e.to_string())?;
    let name = crd.name_any();
    let established = kube::runtime::wait::await_condition(
        crds,
        &name,
        kube::runtime::wait::conditions::is_crd_established(),
    );
    tokio::time::timeout(Duration::from_secs(10), established)
        .await
        .map_err(|_| "the CRD was not established in 10 s".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(())
}

async fn start() -> (Running, Client) {
    let running = apiserver::serve(
        ([127, 0, 0, 1], 0).into(),
        apiserver::new_token(),
        ObjectStore::new(),
    )
    .await
    .unwrap();
    let client = client_for(&running).await;
    install_binding_crd(&client).await.unwrap();
    (running, client)
}

fn binding(name: &str, version: &str) -> ResourceBinding {
    serde_json::from_value(json!({
        "apiVersion": "platform.kratix.io/v1alpha1", "kind": "ResourceBinding",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"version": version, "promiseRef": {"name": "redis"}, "resourceRef": {"name": name, "namespace": "default"}},
    }))
    .unwrap()
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Finalizer(#[from] Box<kube::runtime::finalizer::Error<kube::Error>>),
}

struct Ctx {
    client: Client,
    reconciles: AtomicUsize,
    errors: AtomicUsize,
}

async fn reconcile(obj: Arc<ResourceBinding>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    ctx.reconciles.fetch_add(1, Ordering::SeqCst);
    let api: Api<ResourceBinding> = Api::namespaced(ctx.client.clone(), "default");
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Event::Apply(b) => {
                let status = ResourceBindingStatus {
                    last_applied_version: b.spec.version.clone(),
                    ..Default::default()
                };
                api.patch_status(
                    &b.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": status})),
                )
                .await?;
                Ok(Action::await_change())
            }
            Event::Cleanup(_) => Ok(Action::await_change()),
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

fn error_policy(_: Arc<ResourceBinding>, _: &Error, ctx: Arc<Ctx>) -> Action {
    ctx.errors.fetch_add(1, Ordering::SeqCst);
    Action::requeue(Duration::from_millis(200))
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_reconciles_and_finalizers_hold_deletion() {
    let (running, client) = start().await;
    // Every first write to an object conflicts: the controller must retry.
    running.set_faults(apiserver::Faults {
        conflict_first_write: true,
        ..Default::default()
    });
    let api: Api<ResourceBinding> = Api::namespaced(client.clone(), "default");
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        reconciles: AtomicUsize::new(0),
        errors: AtomicUsize::new(0),
    });
    let controller = Controller::new(api.clone(), watcher::Config::default())
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|_| async {});
    let handle = tokio::spawn(controller);

    // Created after the controller started: reconciled.
    api.create(
        &PostParams::default(),
        &binding("example-redis-e7f90", "v0.1.0"),
    )
    .await
    .unwrap();
    eventually("status written by the controller", || async {
        api.get("example-redis-e7f90")
            .await
            .ok()
            .and_then(|b| b.status)
            .is_some_and(|s| s.last_applied_version == "v0.1.0")
    })
    .await;
    let b = api.get("example-redis-e7f90").await.unwrap();
    assert!(
        b.finalizers().iter().any(|f| f == FINALIZER),
        "finalizer added"
    );

    // A change is reconciled again.
    api.patch(
        "example-redis-e7f90",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"version": "v0.2.0"}})),
    )
    .await
    .unwrap();
    eventually("upgrade reconciled", || async {
        api.get("example-redis-e7f90")
            .await
            .ok()
            .and_then(|b| b.status)
            .is_some_and(|s| s.last_applied_version == "v0.2.0")
    })
    .await;

    // Deletion: the finalizer holds it until the controller's cleanup removes it.
    api.delete("example-redis-e7f90", &DeleteParams::default())
        .await
        .unwrap();
    eventually("object deleted after cleanup", || async {
        api.get_opt("example-redis-e7f90").await.unwrap().is_none()
    })
    .await;
    assert!(ctx.reconciles.load(Ordering::SeqCst) >= 3);
    assert!(
        ctx.errors.load(Ordering::SeqCst) >= 1,
        "the injected conflicts were met and retried"
    );
    handle.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_write_conflicts_and_a_fresh_one_succeeds() {
    let (_running, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"a": "1"}})).unwrap();
    let created = api.create(&PostParams::default(), &cm).await.unwrap();
    let mut first = created.clone();
    first.data = Some([("a".to_string(), "2".to_string())].into());
    api.replace("c", &PostParams::default(), &first)
        .await
        .unwrap();
    let mut stale = created;
    stale.data = Some([("a".to_string(), "3".to_string())].into());
    match api.replace("c", &PostParams::default(), &stale).await {
        Err(kube::Error::Api(e)) => assert_eq!((e.code, e.reason.as_str()), (409, "Conflict")),
        other => panic!("expected a 409 Conflict, got {other:?}"),
    }
    // Retry on conflict: re-read and write again.
    let mut fresh = api.get("c").await.unwrap();
    fresh.data = Some([("a".to_string(), "3".to_string())].into());
    let updated = api
        .replace("c", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_eq!(updated.data.unwrap()["a"], "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reflector_resumes_after_dropped_watches_without_losing_events() {
    let (running, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let (reader, writer) = reflector::store();
    // The test's own objects: a namespace also holds the cluster's
    // (`kube-root-ca.crt`), as a real one does.
    let mine = watcher::Config::default().labels("test=reflector");
    let stream = reflector(writer, watcher(api.clone(), mine))
        .default_backoff()
        .applied_objects()
        .for_each(|_| async {});
    let handle = tokio::spawn(stream);
    reader.wait_until_ready().await.unwrap();
    for round in 0..5 {
        running.drop_watches();
        for i in 0..10 {
            let cm: ConfigMap =
                serde_json::from_value(json!({"metadata": {"name": format!("cm-{round}-{i}"),
                    "labels": {"test": "reflector"}}}))
                .unwrap();
            api.create(&PostParams::default(), &cm).await.unwrap();
        }
    }
    eventually("all 50 objects seen by the reflector", || {
        let n = reader.state().len();
        async move { n == 50 }
    })
    .await;
    handle.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_a_state_file_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.jsonl");
    let store = ObjectStore::with_state_file(&state).unwrap();
    let running = apiserver::serve(([127, 0, 0, 1], 0).into(), apiserver::new_token(), store)
        .await
        .unwrap();
    let client = client_for(&running).await;
    install_binding_crd(&client).await.unwrap();
    let api: Api<ResourceBinding> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &binding("kept", "v0.1.0"))
        .await
        .unwrap();
    api.create(&PostParams::default(), &binding("gone", "v0.1.0"))
        .await
        .unwrap();
    api.delete("gone", &DeleteParams::default()).await.unwrap();
    let before = api.get("kept").await.unwrap();
    running.task.abort();

    let store = ObjectStore::with_state_file(&state).unwrap();
    let running = apiserver::serve(([127, 0, 0, 1], 0).into(), apiserver::new_token(), store)
        .await
        .unwrap();
    let api: Api<ResourceBinding> = Api::namespaced(client_for(&running).await, "default");
    let after = api.get("kept").await.unwrap();
    assert_eq!(
        after.metadata.resource_version,
        before.metadata.resource_version
    );
    assert_eq!(after.metadata.uid, before.metadata.uid);
    assert!(api.get_opt("gone").await.unwrap().is_none());
    // New writes continue the resourceVersion sequence.
    let updated = api
        .patch(
            "kept",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": "v0.2.0"}})),
        )
        .await
        .unwrap();
    let rv = |o: &ResourceBinding| {
        o.metadata
            .resource_version
            .clone()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(rv(&updated) > rv(&before));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_are_what_clients_see() {
    let (running, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "f"}, "data": {"a": "1"}})).unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();
    running.set_faults(apiserver::Faults {
        conflict_first_write: true,
        ..Default::default()
    });
    let patch = Patch::Merge(json!({"data": {"a": "2"}}));
    match api.patch("f", &PatchParams::default(), &patch).await {
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 409),
        other => panic!("expected an injected 409, got {other:?}"),
    }
    api.patch("f", &PatchParams::default(), &patch)
        .await
        .expect("the second write goes through");
    running.set_faults(apiserver::Faults {
        error_every: Some(1),
        ..Default::default()
    });
    match api.get("f").await {
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 500),
        other => panic!("expected an injected 500, got {other:?}"),
    }
    running.set_faults(apiserver::Faults::default());
    assert_eq!(api.get("f").await.unwrap().data.unwrap()["a"], "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_list_watcher_gets_the_initial_state_and_changes() {
    let (_running, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..3 {
        let cm: ConfigMap = serde_json::from_value(
            json!({"metadata": {"name": format!("s{i}"), "labels": {"test": "streaming"}}}),
        )
        .unwrap();
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(
            api.clone(),
            watcher::Config::default()
                .labels("test=streaming")
                .streaming_lists(),
        ),
    )
    .default_backoff()
    .applied_objects()
    .for_each(|_| async {});
    let handle = tokio::spawn(stream);
    tokio::time::timeout(Duration::from_secs(10), reader.wait_until_ready())
        .await
        .expect("initial events end")
        .unwrap();
    assert_eq!(reader.state().len(), 3);
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "s3", "labels": {"test": "streaming"}}}),
    )
    .unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();
    eventually("the new object", || {
        let n = reader.state().len();
        async move { n == 4 }
    })
    .await;
    handle.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paged_list_is_one_snapshot_and_a_watch_from_it_replays_changes_between_pages() {
    let (_running, client) = start().await;
    let bindings: Api<ResourceBinding> = Api::namespaced(client, "default");
    for name in ["a", "b", "c", "d"] {
        bindings
            .create(&PostParams::default(), &binding(name, "v1"))
            .await
            .unwrap();
    }
    let page = |token: Option<String>| {
        let mut params = kube::api::ListParams::default().limit(2);
        if let Some(token) = token {
            params = params.continue_token(&token);
        }
        params
    };
    let first = bindings.list(&page(None)).await.unwrap();
    let names = |l: &kube::api::ObjectList<ResourceBinding>| {
        l.items.iter().map(|b| b.name_any()).collect::<Vec<_>>()
    };
    assert_eq!(names(&first), ["a", "b"]);
    let snapshot = first.metadata.resource_version.clone().unwrap();
    // Between the pages: an object already listed changes, and one is
    // deleted (an offset into the live list would now skip "c").
    bindings
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": "v2"}})),
        )
        .await
        .unwrap();
    bindings
        .delete("b", &DeleteParams::default())
        .await
        .unwrap();
    let second = bindings
        .list(&page(first.metadata.continue_.clone()))
        .await
        .unwrap();
    assert_eq!(names(&second), ["c", "d"], "nothing skipped");
    assert_eq!(
        second.metadata.resource_version.as_deref(),
        Some(snapshot.as_str()),
        "every page reports the first page's version"
    );
    // A watch from the list's version sees what changed while it paged.
    let params = kube::api::WatchParams::default().timeout(2);
    let mut stream = bindings.watch(&params, &snapshot).await.unwrap().boxed();
    let mut seen = Vec::new();
    while let Some(Ok(event)) = stream.next().await {
        match event {
            kube::api::WatchEvent::Modified(b) => {
                seen.push(format!("modified {} {}", b.name_any(), b.spec.version))
            }
            kube::api::WatchEvent::Deleted(b) => seen.push(format!("deleted {}", b.name_any())),
            _ => {}
        }
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen, ["modified a v2", "deleted b"]);
    // A malformed token is refused, not read as "from the start".
    let err = bindings
        .list(&page(Some("garbage".into())))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(e) if e.code == 400),
        "{err}"
    );
}

/// What kubectl's default output reads: a Table carries the list's paging
/// metadata (kubectl follows its `continue`), and a single object's Table its
/// resourceVersion, as the real table convertors copy them. A page under a
/// selector carries no `remainingItemCount`, as a real server, counting etcd
/// keys, does not guess one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_and_pages_carry_the_list_metadata_a_real_server_gives() {
    let (_running, client) = start().await;
    let bindings: Api<ResourceBinding> = Api::namespaced(client.clone(), "default");
    for name in ["a", "b", "c"] {
        bindings
            .create(&PostParams::default(), &binding(name, "v1"))
            .await
            .unwrap();
    }
    let a = bindings.get("a").await.unwrap();
    let table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let get = |path: &str| {
        let request = http::Request::get(path)
            .header(http::header::ACCEPT, table)
            .body(Vec::new())
            .unwrap();
        let client = client.clone();
        async move {
            let text = client.request_text(request).await.unwrap();
            serde_json::from_str::<serde_json::Value>(&text).unwrap()
        }
    };
    let base = "/apis/platform.kratix.io/v1alpha1/namespaces/default/resourcebindings";
    let one = get(&format!("{base}/a")).await;
    assert_eq!(
        one["metadata"],
        json!({"resourceVersion": a.resource_version().unwrap()}),
        "a single object's Table has the object's version"
    );
    let first = get(&format!("{base}?limit=2")).await;
    assert_eq!(first["rows"].as_array().map(Vec::len), Some(2));
    assert_eq!(first["metadata"]["remainingItemCount"], json!(1));
    let token = first["metadata"]["continue"].as_str().unwrap().to_string();
    let second = get(&format!("{base}?limit=2&continue={token}")).await;
    assert_eq!(second["rows"].as_array().map(Vec::len), Some(1));
    assert_eq!(second["metadata"].get("continue"), None, "the last page");

    let selected = bindings
        .list(&kube::api::ListParams::default().limit(1).labels("!absent"))
        .await
        .unwrap();
    assert!(selected.metadata.continue_.is_some());
    assert_eq!(
        selected.metadata.remaining_item_count, None,
        "no count under a selector"
    );
    let all = bindings
        .list(&kube::api::ListParams::default().limit(1))
        .await
        .unwrap();
    assert_eq!(all.metadata.remaining_item_count, Some(2));
}

/// `ValidatePatchOptions`: `force` belongs to server-side apply alone, and an
/// apply names its field manager (kube-rs checks both before sending; a
/// client that does not meets the server's 422).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_options_are_validated_as_a_real_server_validates_them() {
    let (_running, client) = start().await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap();
    configmaps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let patch = |query: &str, content_type: &str| {
        let request =
            http::Request::patch(format!("/api/v1/namespaces/default/configmaps/a?{query}"))
                .header(http::header::CONTENT_TYPE, content_type)
                .body(br#"{"data":{"k":"v"}}"#.to_vec())
                .unwrap();
        let client = client.clone();
        async move { client.request_text(request).await }
    };
    let refused = |result: Result<String, kube::Error>| match result {
        Err(kube::Error::Api(e)) => (e.code, e.message),
        other => panic!("refused: {other:?}"),
    };
    let (code, message) = refused(patch("force=true", "application/merge-patch+json").await);
    assert_eq!(code, 422);
    assert_eq!(
        message,
        r#"PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch"#
    );
    let (code, message) = refused(patch("force=true", "application/apply-patch+yaml").await);
    assert_eq!(code, 422);
    assert_eq!(
        message,
        r#"PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch"#
    );
    patch("fieldManager=me&force=true", "application/apply-patch+yaml")
        .await
        .unwrap();
}

/// A deterministic xorshift, so a failing soak run repeats.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One random request of any verb, against ConfigMaps and ResourceBindings,
/// in JSON or as a Table, by name or by collection, with selectors and pages.
/// Errors a real server also gives under such a mix (404, 409) are expected;
/// only a hang counts, and the probe catches that.
async fn random_request(client: &Client, rng: &mut Rng, worker: u64) {
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let bindings: Api<ResourceBinding> = Api::namespaced(client.clone(), "default");
    let name = format!("soak-{}", rng.below(12));
    let table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let raw = |path: String, accept: &str| {
        http::Request::get(path)
            .header(http::header::ACCEPT, accept)
            .body(Vec::new())
            .unwrap()
    };
    match rng.below(13) {
        0 => {
            let cm: ConfigMap = serde_json::from_value(json!({
                "metadata": {"name": name, "labels": {"worker": worker.to_string()}},
                "data": {"n": "0"}}))
            .unwrap();
            let _ = configmaps.create(&PostParams::default(), &cm).await;
        }
        1 => {
            let _ = configmaps.get(&name).await;
        }
        2 => {
            let lp = kube::api::ListParams::default().labels(&format!("worker={worker}"));
            let _ = configmaps.list(&lp).await;
        }
        3 => {
            // Paged: walk every page.
            let mut lp = kube::api::ListParams::default().limit(3);
            while let Ok(page) = configmaps.list(&lp).await {
                match page.metadata.continue_ {
                    Some(token) if !token.is_empty() => lp = lp.continue_token(&token),
                    _ => break,
                }
            }
        }
        4 => {
            if let Ok(mut cm) = configmaps.get(&name).await {
                cm.data
                    .get_or_insert_default()
                    .insert("n".into(), rng.below(1000).to_string());
                let _ = configmaps.replace(&name, &PostParams::default(), &cm).await;
            }
        }
        5 => {
            let patch = json!({"data": {"m": rng.below(1000).to_string()}});
            let _ = configmaps
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await;
        }
        6 => {
            let _ = configmaps.delete(&name, &DeleteParams::default()).await;
        }
        7 => {
            let wp = kube::api::WatchParams::default().timeout(1);
            if let Ok(stream) = configmaps.watch(&wp, "0").await {
                let _ = tokio::time::timeout(
                    Duration::from_millis(300),
                    stream.take(5).collect::<Vec<_>>(),
                )
                .await;
            }
        }
        8 => {
            // `kubectl get configmap <name>`: a Table of one object.
            let _ = client
                .request_text(raw(
                    format!("/api/v1/namespaces/default/configmaps/{name}"),
                    table,
                ))
                .await;
        }
        9 => {
            let _ = client
                .request_text(raw(
                    "/api/v1/namespaces/default/configmaps?limit=4".into(),
                    table,
                ))
                .await;
        }
        10 => {
            let _ = bindings
                .create(&PostParams::default(), &binding(&name, "v1"))
                .await;
            let _ = client
                .request_text(raw(
                    format!("/apis/platform.kratix.io/v1alpha1/namespaces/default/resourcebindings/{name}"),
                    table,
                ))
                .await;
        }
        11 => {
            let patch = json!({"status": {"lastAppliedVersion": "v1"}});
            let _ = bindings
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await;
        }
        _ => {
            let _ = bindings
                .delete_collection(
                    &DeleteParams::default(),
                    &kube::api::ListParams::default().fields(&format!("metadata.name={name}")),
                )
                .await;
        }
    }
}

/// Many clients issue a random mix of every verb for a bounded time while a
/// probe requires `/version` to answer within a second throughout: no
/// request may wedge the server (a Table of one object used to lock the
/// store twice and hang every later request). The server runs on its own
/// runtime, as `kbind sandbox` runs in its own process, so a server that
/// blocks its threads cannot stop the probe from noticing.
#[test]
fn a_random_mix_of_every_verb_never_wedges_the_server() {
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let running = server
        .block_on(apiserver::serve(
            ([127, 0, 0, 1], 0).into(),
            apiserver::new_token(),
            ObjectStore::new(),
        ))
        .unwrap();
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let outcome = clients.block_on(soak(&running));
    // A wedged server's threads never finish; leave them behind.
    drop(running);
    server.shutdown_background();
    let (answered, requests) = outcome.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        answered > 20,
        "the probe ran throughout ({answered} answers)"
    );
    assert!(
        requests > 500,
        "the clients kept the server busy ({requests} requests)"
    );
}

async fn soak(running: &Running) -> Result<(u32, u64), String> {
    let client = client_for(running).await;
    install_binding_crd(&client).await?;
    let soak = Duration::from_secs(8);
    let stop = std::time::Instant::now() + soak;
    let probe = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut answered = 0u32;
            while std::time::Instant::now() < stop {
                let request = http::Request::get("/version").body(Vec::new()).unwrap();
                match tokio::time::timeout(Duration::from_secs(1), client.request_text(request))
                    .await
                {
                    Ok(Ok(_)) => answered += 1,
                    Ok(Err(e)) => {
                        return Err(format!("/version failed after {answered} answers: {e}"));
                    }
                    Err(_) => {
                        return Err(format!(
                            "/version took over 1 s after {answered} answers: the server is wedged"
                        ));
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(answered)
        })
    };
    let workers: Vec<_> = (0..12u64)
        .map(|worker| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (worker + 1));
                let mut requests = 0u64;
                while std::time::Instant::now() < stop {
                    // A hung request is the probe's to report; the worker
                    // moves on.
                    let _ = tokio::time::timeout(
                        Duration::from_secs(2),
                        random_request(&client, &mut rng, worker % 3),
                    )
                    .await;
                    requests += 1;
                }
                requests
            })
        })
        .collect();
    let answered = probe.await.map_err(|e| e.to_string())??;
    let mut requests = 0;
    for w in workers {
        requests += w.await.map_err(|e| e.to_string())?;
    }
    Ok((answered, requests))
}

/// A client-go controller built with protobuf content types sends CRDs as
/// protobuf; the server reads them and answers in kind.
#[tokio::test]
async fn a_crd_sent_as_protobuf_is_stored_and_answered_as_protobuf() {
    let running = apiserver::serve(
        ([127, 0, 0, 1], 0).into(),
        apiserver::new_token(),
        ObjectStore::new(),
    )
    .await
    .unwrap();
    let client = client_for(&running).await;
    let crd = serde_json::to_value(kbind::api::PromiseRevision::crd()).unwrap();
    let body = apiserver::protobuf::encode(&crd).expect("CRDs have a message");
    let request = http::Request::post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        .header(http::header::CONTENT_TYPE, apiserver::protobuf::MEDIA_TYPE)
        .header(
            http::header::ACCEPT,
            format!("{},application/json", apiserver::protobuf::MEDIA_TYPE),
        )
        .body(body)
        .unwrap();
    let response = client.send(request.map(Into::into)).await.unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers()[http::header::CONTENT_TYPE],
        apiserver::protobuf::MEDIA_TYPE
    );
    let bytes = response.into_body().collect_bytes().await.unwrap();
    let answered = apiserver::protobuf::decode(&bytes).unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    // The names are accepted after the create is answered, as the naming
    // controller does on a real server, and the establishing controller
    // follows.
    let established = kube::runtime::wait::await_condition(
        crds.clone(),
        "promiserevisions.platform.kratix.io",
        kube::runtime::wait::conditions::is_crd_established(),
    );
    tokio::time::timeout(Duration::from_secs(10), established)
        .await
        .unwrap()
        .unwrap();
    let stored = crds
        .get("promiserevisions.platform.kratix.io")
        .await
        .unwrap();
    let stored = serde_json::to_value(stored).unwrap();
    assert_eq!(stored["spec"]["versions"], crd["spec"]["versions"]);
    assert_eq!(
        answered
            .pointer("/status/acceptedNames/kind")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default(),
        ""
    );
    assert_eq!(stored["status"]["acceptedNames"]["kind"], "PromiseRevision");
}

/// What a client watching CRDs sees of a new one, as on a real server: the
/// create (no conditions), the naming controller's write (names accepted,
/// `Established` False `Installing`), the establishing controller's
/// (`Established`); the kind is in discovery only then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_crd_is_named_then_established_in_writes_a_watch_sees() {
    let running = apiserver::serve(
        ([127, 0, 0, 1], 0).into(),
        apiserver::new_token(),
        ObjectStore::new(),
    )
    .await
    .unwrap();
    let client = client_for(&running).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut events = watcher::watcher(crds.clone(), watcher::Config::default()).boxed();
    while !matches!(events.next().await, Some(Ok(watcher::Event::InitDone))) {}
    install_binding_crd(&client).await.unwrap();
    let mut seen = vec![];
    while let Ok(Some(Ok(event))) =
        tokio::time::timeout(Duration::from_millis(500), events.next()).await
    {
        if let watcher::Event::Apply(crd) = event {
            let conditions = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .map(|c| {
                    format!(
                        "{}={} {}",
                        c.type_,
                        c.status,
                        c.reason.as_deref().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            seen.push(conditions);
        }
    }
    assert_eq!(
        seen,
        [
            "",
            "NamesAccepted=True NoConflicts, Established=False Installing",
            "NamesAccepted=True NoConflicts, Established=True InitialNamesAccepted",
        ]
    );
    let discovery = kube::Discovery::new(client).run().await.unwrap();
    assert!(
        discovery
            .groups()
            .flat_map(|g| g.recommended_resources())
            .any(|(r, _)| r.kind == "ResourceBinding")
    );
}
