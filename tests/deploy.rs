//! The deployment manifests and the `kbind operator` process as a
//! Deployment runs it: flags, config file, probes, metrics, SIGTERM.

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use kbind::apiserver::{self, ObjectStore};
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::{Value, json};

fn deploy_file(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../deploy/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn yaml_docs(text: &str) -> Vec<Value> {
    text.split("\n---")
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|d| serde_saphyr::from_str(d).unwrap())
        .collect()
}

fn kbind() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kbind"))
}

#[test]
fn deploy_crds_are_the_ones_kbind_generates() {
    assert_eq!(
        deploy_file("crds.yaml"),
        kbind::api::crds_yaml().unwrap(),
        "regenerate with: cargo run -p kbind -- crds > deploy/crds.yaml"
    );
}

fn operator_container() -> Value {
    let deployment = yaml_docs(&deploy_file("operator.yaml")).remove(0);
    assert_eq!(deployment["kind"], "Deployment");
    deployment["spec"]["template"]["spec"]["containers"][0].clone()
}

#[test]
fn the_deployment_runs_hardened_with_probes_and_limits() {
    let deployment = yaml_docs(&deploy_file("operator.yaml")).remove(0);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["serviceAccountName"], "kbind-operator");
    let c = operator_container();
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(c["resources"]["limits"]["memory"].is_string());
    assert!(c["resources"]["requests"]["cpu"].is_string());
    let mounts: Vec<&str> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert!(mounts.contains(&"/etc/kbind"), "the policy ConfigMap");
    let cache_env = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "KBIND_CACHE_DIR")
        .unwrap();
    assert!(
        mounts.contains(&cache_env["value"].as_str().unwrap()),
        "the compile cache is a writable volume under a read-only root"
    );
}

/// The Deployment's arguments, with the config from the policy ConfigMap,
/// are accepted by this kbind: it gets as far as looking for a cluster.
#[test]
fn the_deployment_args_and_the_policy_configmap_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let configmap = yaml_docs(&deploy_file("policy.yaml")).remove(0);
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, configmap["data"]["config.yaml"].as_str().unwrap()).unwrap();
    let args: Vec<String> = operator_container()["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a.as_str()
                .unwrap()
                .replace("/etc/kbind/config.yaml", config.to_str().unwrap())
        })
        .collect();
    let out = kbind()
        .args(&args)
        .arg("--kubeconfig")
        .arg(dir.path().join("no-such-kubeconfig"))
        .arg("--no-cache")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("cannot read kubeconfig"), "{stderr}");
}

#[test]
fn a_bad_config_file_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "policy: kratix-default\nstrategy: pinned\n").unwrap();
    let out = kbind()
        .args(["operator", "--no-cache", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("unknown field"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text[9..12].parse().unwrap();
    (code, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kbind_operator_reconciles_serves_metrics_and_stops_on_sigterm() {
    let running = apiserver::serve(
        ([127, 0, 0, 1], 0).into(),
        apiserver::new_token(),
        ObjectStore::new(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    running.write_kubeconfig(&kubeconfig).unwrap();
    let client = support::client_for(&running).await;
    let crds: Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = Api::all(client.clone());
    for crd in kbind::api::crds() {
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    let policy = kbind_fixtures::dir().join("semver-auto.wasm");
    let mut child = kbind()
        .args([
            "operator",
            "--no-cache",
            "--metrics-addr",
            "127.0.0.1:0",
            "--simulate-workflows",
        ])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--policy")
        .arg(&policy)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no metrics address in {line:?}"))
        .to_string();
    assert!(line.contains("semver-auto"), "{line}");
    assert_eq!(http_get(&addr, "/healthz").0, 200);

    let promise: DynamicObject = serde_saphyr::from_str(
        &std::fs::read_to_string(format!(
            "{}/../tests/fixtures/kratix/promise-redis.yaml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let promises = Api::<DynamicObject>::all_with(
        client.clone(),
        &kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("platform.kratix.io", "v1alpha1", "Promise"),
            "promises",
        ),
    );
    promises
        .create(&PostParams::default(), &promise)
        .await
        .unwrap();
    let revisions = Api::<DynamicObject>::all_with(
        client.clone(),
        &kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("platform.kratix.io", "v1alpha1", "PromiseRevision"),
            "promiserevisions",
        ),
    );
    support::eventually("the operator created the revision", || async {
        (!revisions
            .list(&Default::default())
            .await
            .ok()?
            .items
            .is_empty())
        .then_some(())
    })
    .await;
    assert_eq!(http_get(&addr, "/readyz").0, 200);
    let (_, metrics) = http_get(&addr, "/metrics");
    assert!(
        metrics.contains("kbind_reconciles_total{kind=\"promise\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kbind_policy_info{policy=\"semver-auto\""),
        "{metrics}"
    );

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

/// The init container compiles the ConfigMap's policy into the cache the
/// operator container reads, hardened like the operator.
#[test]
fn the_init_container_compiles_the_policy_into_the_operators_cache() {
    let deployment = yaml_docs(&deploy_file("operator.yaml")).remove(0);
    let init = &deployment["spec"]["template"]["spec"]["initContainers"][0];
    let operator = operator_container();
    let cache_of = |c: &Value| {
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "KBIND_CACHE_DIR")
            .map(|e| e["value"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(cache_of(init), cache_of(&operator));
    assert_eq!(init["securityContext"], operator["securityContext"]);
    assert_eq!(init["image"], operator["image"]);

    let dir = tempfile::tempdir().unwrap();
    let configmap = yaml_docs(&deploy_file("policy.yaml")).remove(0);
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, configmap["data"]["config.yaml"].as_str().unwrap()).unwrap();
    let args: Vec<String> = init["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a.as_str()
                .unwrap()
                .replace("/etc/kbind/config.yaml", config.to_str().unwrap())
        })
        .collect();
    let cache = dir.path().join("cache");
    let out = kbind()
        .args(&args)
        .env("KBIND_CACHE_DIR", &cache)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let compiled = std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .count();
    assert_eq!(compiled, 1, "one compiled policy in the operator's cache");
}
