//! A rollout on the embedded API server through the watch-driven operator,
//! seen the way users see it: `kubectl get promiserevisions`, the Promise's
//! Events and status, `kbind rollout status`. The operator is restarted in
//! the middle and the rollout goes on from what the cluster holds.

use crate::support;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kbind::contract::Setting;
use kbind::operator::{OperatorOptions, SimulatedRunner};
use kbind::policy::Policy;
use kbind::shipped;
use kube::api::{DynamicObject, ListParams, PostParams};
use serde_json::{Value, json};
use support::cluster::Env;
use support::{eventually, start_operator};

fn rollout(soak: &str) -> Arc<dyn Policy> {
    let settings = vec![
        Setting::json(
            "waves",
            r#"[{"name":"canary","selector":{"matchLabels":{"kbind.io/ring":"canary"}}},{"name":"rest"}]"#,
        ),
        Setting::text("soak", soak),
        Setting::text("maxInFlight", "2"),
    ];
    let (policy, _) = support::engine()
        .load(&shipped::ROLLOUT.source(), None, settings)
        .expect("rollout loads");
    Arc::new(policy)
}

fn simulated() -> OperatorOptions {
    OperatorOptions {
        runner: Some(SimulatedRunner::default()),
        ..OperatorOptions::default()
    }
}

fn request(name: &str, ring: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "marketplace.kratix.io/v1alpha1", "kind": "redis",
        "metadata": {"name": name, "namespace": "default", "labels": {"kbind.io/ring": ring}},
        "spec": {"size": "small"}}))
    .unwrap()
}

/// Each request's binding: (request, spec.version, status.lastAppliedVersion).
async fn bindings(env: &Env) -> Vec<(String, String, String)> {
    let mut all: Vec<_> = env
        .bindings
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|b| {
            let text = |p: &str| {
                b.data
                    .pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            (
                text("/spec/resourceRef/name"),
                text("/spec/version"),
                text("/status/lastAppliedVersion"),
            )
        })
        .collect();
    all.sort();
    all
}

async fn applied_at(env: &Env, version: &str) -> Vec<String> {
    bindings(env)
        .await
        .into_iter()
        .filter(|(_, _, applied)| applied == version)
        .map(|(r, _, _)| r)
        .collect()
}

async fn promise_events(env: &Env) -> Vec<(String, String)> {
    let events: kube::Api<DynamicObject> = kube::Api::all_with(
        env.client.clone(),
        &support::cluster::ar("", "v1", "Event", "events"),
    );
    events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|e| e.data["involvedObject"]["kind"] == "Promise")
        .map(|e| {
            (
                e.data["reason"].as_str().unwrap_or("").to_string(),
                e.data["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// kubectl's table as rows of column name to cell, cut where the header's
/// columns start (an empty cell leaves a gap, not a shift).
fn table(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return vec![];
    };
    let mut starts: Vec<(usize, &str)> = Vec::new();
    let mut at = 0;
    for name in header.split_whitespace() {
        let start = header[at..].find(name).map_or(at, |i| at + i);
        starts.push((start, name));
        at = start + name.len();
    }
    lines
        .map(|line| {
            starts
                .iter()
                .enumerate()
                .map(|(i, (start, name))| {
                    let end = starts
                        .get(i + 1)
                        .map_or(line.len(), |(s, _)| *s)
                        .min(line.len());
                    let cell = line.get((*start).min(end)..end).unwrap_or("").trim();
                    (name.to_string(), cell.to_string())
                })
                .collect()
        })
        .collect()
}

fn kbind(kubeconfig: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kbind"))
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .output()
        .expect("kbind runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_goes_wave_by_wave_survives_a_restart_and_is_seen_by_kubectl_and_kbind() {
    let env = Env::new().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    env.running.write_kubeconfig(&kubeconfig).unwrap();
    let op = start_operator(env.client.clone(), rollout("1h"), None, simulated());
    env.install("v1.0.0").await;
    for (name, ring) in [
        ("c1", "canary"),
        ("c2", "canary"),
        ("r1", "general"),
        ("r2", "general"),
        ("r3", "general"),
        ("r4", "general"),
    ] {
        env.requests
            .create(&PostParams::default(), &request(name, ring))
            .await
            .unwrap();
    }
    eventually("six bindings applied at v1.0.0", || async {
        (applied_at(&env, "v1.0.0").await.len() == 6).then_some(())
    })
    .await;

    // Sample the bindings with an upgrade running while the rollout goes.
    let most_in_flight = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let bindings = env.bindings.clone();
        let most = most_in_flight.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(list) = bindings.list(&ListParams::default()).await {
                    let running = list
                        .items
                        .iter()
                        .filter(|b| {
                            b.data
                                .pointer("/status/inFlightVersion")
                                .and_then(Value::as_str)
                                .is_some_and(|v| !v.is_empty())
                        })
                        .count();
                    most.fetch_max(running, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    env.publish("v1.1.0").await;
    eventually("the canaries at v1.1.0 and the rest soaking", || async {
        let promise = env.promises.get("redis").await.ok()?;
        let soaking = promise.data["status"]["rollouts"][0]["phase"] == "soaking";
        (applied_at(&env, "v1.1.0").await == ["c1", "c2"] && soaking).then_some(())
    })
    .await;
    let events = promise_events(&env).await;
    assert!(
        events.iter().any(|(r, m)| r == "RolloutWaveStarted"
            && m.starts_with("v1.1.0: wave canary (1 of 2) started")),
        "{events:?}"
    );

    // kubectl shows each revision's counts in its printer columns.
    let have_kubectl = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_kubectl {
        eprintln!("SKIPPED the kubectl part: no kubectl (install Debian's kubernetes-client)");
    }
    eventually("the revisions count their bindings", || async {
        if !have_kubectl {
            return Some(());
        }
        let out = Command::new("kubectl")
            .args(["get", "promiserevisions", "--kubeconfig"])
            .arg(&kubeconfig)
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let rows = table(&text);
        let row = |version: &str| {
            rows.iter()
                .find(|r| r.get("VERSION").map(String::as_str) == Some(version))
                .map(|r| ["AT", "MOVING", "FAILED"].map(|c| r.get(c).cloned().unwrap_or_default()))
        };
        let ok = text.lines().next().is_some_and(|h| {
            h.split_whitespace().collect::<Vec<_>>()
                == [
                    "NAME", "PROMISE", "VERSION", "LATEST", "AT", "MOVING", "FAILED", "AGE",
                ]
        }) && row("v1.0.0") == Some(["4", "0", "0"].map(String::from))
            && row("v1.1.0") == Some(["2", "0", "0"].map(String::from));
        if !ok {
            eprintln!(
                "kubectl get promiserevisions:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        ok.then_some(())
    })
    .await;

    // kbind rollout status: each wave, and what the rollout waits for.
    let out = kbind(&kubeconfig, &["rollout", "status", "redis"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("Rollout to v1.1.0: wave 2 of 2 (rest), soaking"),
        "{text}"
    );
    assert!(
        text.contains("waiting for: the soak after the last success: 59m"),
        "{text}"
    );
    assert!(
        text.contains("canary  [####################]  2/2 at v1.1.0"),
        "{text}"
    );
    let out = kbind(&kubeconfig, &["rollout", "status", "redis", "-o", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["rollouts"][0]["waves"][1]["waiting"], 4);
    assert_eq!(report["revisions"][1]["bindings"]["at"], 2);
    let missing = kbind(&kubeconfig, &["rollout", "status", "memcached"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("Promise memcached not found"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );

    // The operator restarts mid-soak: nothing moves early, nothing is lost.
    op.kill();
    let op = start_operator(env.client.clone(), rollout("1h"), None, simulated());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(applied_at(&env, "v1.1.0").await, ["c1", "c2"]);
    // New settings (no soak) are a new policy: asked again, the rest moves.
    op.kill();
    let _op = start_operator(env.client.clone(), rollout("0"), None, simulated());
    eventually("every binding at v1.1.0", || async {
        (applied_at(&env, "v1.1.0").await.len() == 6).then_some(())
    })
    .await;
    eventually("the rollout complete", || async {
        let events = promise_events(&env).await;
        events
            .iter()
            .any(|(r, m)| {
                r == "RolloutCompleted" && m.starts_with("v1.1.0: rollout complete; 6 at it")
            })
            .then_some(())
    })
    .await;
    sampler.abort();
    let most = most_in_flight.load(Ordering::Relaxed);
    assert!(most <= 2, "{most} upgrades ran at once; maxInFlight is 2");
    assert!(most >= 1, "the sampler saw no upgrade run at all");
}
