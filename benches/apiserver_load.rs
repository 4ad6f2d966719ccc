//! Load test of the embedded API server (issue 4): 10,000 objects, listed
//! with a label selector while 3 clients watch them.
//!
//!     cargo bench --bench apiserver_load            # 10,000 objects
//!     KBIND_LOAD_OBJECTS=2000 cargo bench --bench apiserver_load
//!
//! Prints create throughput, list-with-selector requests/s and latency
//! percentiles, watch delivery, and the process's peak RSS (server and
//! clients share the process, so it is an upper bound for the server).
//!
//! First, the cost of a real server's checks: the same custom resources
//! (a CRD with a structural schema, defaults and bounds) created on a
//! server that prunes, defaults and validates them and on one that does
//! not (`ObjectStore::without_checks`), alternating rounds in one run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kbind::apiserver::{self, ObjectStore};
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use serde_json::json;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn client_of(running: &apiserver::Running) -> kube::Client {
    let kubeconfig = Kubeconfig::from_yaml(&running.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

const WIDGETS: &str = r#"{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.example.com"},
  "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"},
    "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
      "schema": {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "required": ["tier"], "properties": {
          "size": {"type": "integer", "minimum": 1, "maximum": 9, "default": 3},
          "tier": {"type": "string", "enum": ["small", "large"]},
          "owner": {"type": "string", "pattern": "^[a-z-]+$", "maxLength": 63},
          "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
            "items": {"type": "object", "required": ["name"], "properties": {
              "name": {"type": "string"}, "port": {"type": "integer", "format": "int32"}}}},
          "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}}"#;

/// Creates `n` Widgets (32 at a time) and returns the time it took.
async fn create_widgets(client: &kube::Client, round: usize, n: usize) -> Duration {
    use kube::api::DynamicObject;
    use kube::core::{ApiResource, GroupVersionKind};
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let started = Instant::now();
    futures::stream::iter(0..n)
        .for_each_concurrent(32, |i| {
            let api = api.clone();
            async move {
                let w: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": "example.com/v1", "kind": "Widget",
                    "metadata": {"name": format!("w-{round}-{i}"), "labels": {"app": "load"}},
                    "spec": {"tier": "small", "owner": "team-a",
                        "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}],
                        "extra": {"note": "kept"}, "unknown": "pruned"},
                }))
                .unwrap();
                api.create(&PostParams::default(), &w)
                    .await
                    .expect("create");
            }
        })
        .await;
    started.elapsed()
}

/// `WIDGETS` with three CEL rules on `spec`, of the kinds CRDs carry: a
/// cross-field bound, a rule over a list's items, an optional field's.
fn widgets_with_rules() -> serde_json::Value {
    let mut crd: serde_json::Value = serde_json::from_str(WIDGETS).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"] = json!([
        {"rule": "self.size <= 5 || self.tier == 'large'", "message": "small widgets have at most 5"},
        {"rule": "!has(self.ports) || self.ports.all(p, p.port > 0)"},
        {"rule": "!has(self.owner) || !self.owner.startsWith('-')"}
    ]);
    crd
}

/// Create throughput with the checks on, against the same without them,
/// and with CEL rules besides.
async fn checks_cost(n: usize) {
    let mut clients = vec![];
    let mut servers = vec![];
    let plain: serde_json::Value = serde_json::from_str(WIDGETS).unwrap();
    for (store, crd) in [
        (ObjectStore::new(), plain.clone()),
        (ObjectStore::without_checks(), plain),
        (ObjectStore::new(), widgets_with_rules()),
    ] {
        let running = apiserver::serve(([127, 0, 0, 1], 0).into(), apiserver::new_token(), store)
            .await
            .expect("server starts");
        let client = client_of(&running).await;
        let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
            Api::all(client.clone());
        crds.create(
            &PostParams::default(),
            &serde_json::from_value(crd).unwrap(),
        )
        .await
        .expect("CRD");
        // Served once established, a moment after, as on a real server.
        let established = kube::runtime::wait::await_condition(
            crds.clone(),
            "widgets.example.com",
            kube::runtime::wait::conditions::is_crd_established(),
        );
        tokio::time::timeout(Duration::from_secs(10), established)
            .await
            .expect("CRD established in time")
            .expect("CRD watched");
        clients.push(client);
        servers.push(running);
    }
    // Alternating rounds, so a noisy moment hurts every side alike.
    let rounds = 5;
    let (mut on, mut off, mut rules) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for round in 0..rounds {
        on += create_widgets(&clients[0], round, n / rounds).await;
        off += create_widgets(&clients[1], round, n / rounds).await;
        rules += create_widgets(&clients[2], round, n / rounds).await;
    }
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "custom resources:        {n}, created in {rounds} alternating rounds of {}",
        n / rounds
    );
    println!(
        "  checks on (prune, default, validate): {:.0} objects/s",
        rate(on)
    );
    println!(
        "  checks off (baseline):                {:.0} objects/s",
        rate(off)
    );
    println!(
        "  checks on / off:                      {:.1}%",
        100.0 * rate(on) / rate(off)
    );
    println!(
        "  checks on, with 3 CEL rules:          {:.0} objects/s ({:.1}% of checks on)",
        rate(rules),
        100.0 * rate(rules) / rate(on)
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let objects: usize = std::env::var("KBIND_LOAD_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let lists: usize = 200;
    checks_cost(objects).await;
    let running = apiserver::serve(
        ([127, 0, 0, 1], 0).into(),
        apiserver::new_token(),
        ObjectStore::new(),
    )
    .await
    .expect("server starts");
    let client = client_of(&running).await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    // Three watchers, counting every event they receive.
    let seen = Arc::new(AtomicUsize::new(0));
    let mut watchers = vec![];
    for _ in 0..3 {
        let (api, seen) = (api.clone(), seen.clone());
        watchers.push(tokio::spawn(async move {
            let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
            while let Ok(Some(event)) = stream.try_next().await {
                if let watcher::Event::Apply(_) = event {
                    seen.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    futures::stream::iter(0..objects)
        .for_each_concurrent(32, |i| {
            let api = api.clone();
            async move {
                let cm: ConfigMap = serde_json::from_value(json!({
                    "metadata": {"name": format!("cm-{i}"), "labels": {"shard": format!("s{}", i % 10), "app": "load"}},
                    "data": {"i": i.to_string()},
                }))
                .unwrap();
                api.create(&PostParams::default(), &cm).await.expect("create");
            }
        })
        .await;
    let create_time = started.elapsed();

    let expected = objects * 3;
    let watch_started = Instant::now();
    while seen.load(Ordering::Relaxed) < expected
        && watch_started.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered = seen.load(Ordering::Relaxed);

    let mut latencies = Vec::with_capacity(lists);
    let list_started = Instant::now();
    for i in 0..lists {
        let t = Instant::now();
        let items = api
            .list(&ListParams::default().labels(&format!("app=load,shard=s{}", i % 10)))
            .await
            .unwrap();
        latencies.push(t.elapsed());
        assert_eq!(items.items.len(), objects / 10);
    }
    let list_time = list_started.elapsed();
    latencies.sort();

    println!("objects:                 {objects}");
    println!(
        "create (32 concurrent):  {:.0} objects/s ({:.2?} total)",
        objects as f64 / create_time.as_secs_f64(),
        create_time
    );
    println!("watch events delivered:  {delivered}/{expected} to 3 watchers");
    println!(
        "list by selector:        {:.0} requests/s, {} items each; p50 {:.2?}, p99 {:.2?}",
        lists as f64 / list_time.as_secs_f64(),
        objects / 10,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99)
    );
    println!("peak RSS (server + clients): {:.0} MiB", peak_rss_mib());
    for w in watchers {
        w.abort();
    }
}
