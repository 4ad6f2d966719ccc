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
    let out = kbind(&kubeconfig, &["rollout", "status", "redis", "-o", "yaml"]);
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(yaml.contains("phase: soaking"), "{yaml}");
    // --watch prints again when the rollout changes: pause it by hand.
    let mut watching = Command::new(env!("CARGO_BIN_EXE_kbind"))
        .args([
            "rollout",
            "status",
            "redis",
            "--watch",
            "-o",
            "json",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = watching.stdout.take().unwrap();
    let reports = std::thread::spawn(move || {
        let mut phases = Vec::new();
        for report in serde_json::Deserializer::from_reader(stdout).into_iter::<Value>() {
            let Ok(report) = report else { break };
            let phase = report["rollouts"][0]["phase"]
                .as_str()
                .unwrap_or("")
                .to_string();
            // Another field may change between (a revision's counts).
            if phases.last() != Some(&phase) {
                phases.push(phase);
            }
            if phases.last().is_some_and(|p| p == "paused") {
                break;
            }
        }
        phases
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    env.promises
        .patch(
            "redis",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                json!({"metadata": {"annotations": {"kbind.io/rollout-paused": "true"}}}),
            ),
        )
        .await
        .unwrap();
    eventually("the watch printed the pause", || async {
        reports.is_finished().then_some(())
    })
    .await;
    let _ = watching.kill();
    let _ = watching.wait();
    assert_eq!(reports.join().unwrap(), ["soaking", "paused"]);
    env.promises
        .patch(
            "redis",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                json!({"metadata": {"annotations": {"kbind.io/rollout-paused": null}}}),
            ),
        )
        .await
        .unwrap();
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
    let op = start_operator(env.client.clone(), rollout("0"), None, simulated());
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
    // Its metrics: bindings per promise, version and state; rollout events.
    eventually("the binding gauges caught up", || async {
        let text = op.metrics.encode();
        text.contains(r#"kbind_bindings{promise="redis",version="v1.1.0",state="at"} 6"#)
            .then_some(())
    })
    .await;
    let text = op.metrics.encode();
    assert!(
        text.contains(r#"kbind_bindings{promise="redis",version="v1.0.0",state="at"} 0"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"kbind_rollout_events_total{promise="redis",reason="RolloutWaveStarted"} 1"#
        ) && text
            .contains(r#"kbind_rollout_events_total{promise="redis",reason="RolloutCompleted"} 1"#),
        "{text}"
    );
    sampler.abort();
    let most = most_in_flight.load(Ordering::Relaxed);
    assert!(most <= 2, "{most} upgrades ran at once; maxInFlight is 2");
    assert!(most >= 1, "the sampler saw no upgrade run at all");
}

/// `kbind snapshot` and `kbind plan` against the embedded server: the plan
/// from the cluster and from the snapshot file agree, say what the rollout
/// would do wave by wave, and write nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kbind_plan_projects_a_rollout_from_the_cluster_and_from_a_snapshot() {
    let env = Env::new().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    env.running.write_kubeconfig(&kubeconfig).unwrap();
    // Kratix's own policy, pinned: nothing upgrades on its own.
    let kratix = support::load(
        &support::engine(),
        &shipped::KRATIX_DEFAULT.source(),
        &[("strategy", "pinned")],
    );
    let _op = start_operator(env.client.clone(), Arc::new(kratix), None, simulated());
    env.install("v1.0.0").await;
    for (name, ring) in [("c1", "canary"), ("r1", "general"), ("r2", "general")] {
        env.requests
            .create(&PostParams::default(), &request(name, ring))
            .await
            .unwrap();
    }
    eventually("three bindings applied at v1.0.0", || async {
        (applied_at(&env, "v1.0.0").await.len() == 3).then_some(())
    })
    .await;
    env.publish("v1.1.0").await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let snapshot = dir.path().join("snapshot.yaml");
    let out = kbind(&kubeconfig, &["snapshot", "-f", snapshot.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&snapshot).unwrap();
    if let Ok(keep) = std::env::var("KBIND_KEEP_SNAPSHOT") {
        std::fs::write(keep, &text).unwrap();
    }
    assert!(
        text.starts_with("apiVersion: kbind.io/v1alpha1\nkind: Snapshot\n"),
        "{text}"
    );
    assert!(!text.contains("managedFields"));

    let plan_args = [
        "plan",
        "--policy",
        "rollout",
        "--set-json",
        r#"waves=[{"name":"canary","selector":{"matchLabels":{"kbind.io/ring":"canary"}}},{"name":"rest"}]"#,
        "--set",
        "soak=10m",
        "--set",
        "maxInFlight=1",
        "--assume-duration",
        "2m",
    ];
    let from_snapshot = Command::new(env!("CARGO_BIN_EXE_kbind"))
        .args(plan_args)
        .args(["--snapshot", snapshot.to_str().unwrap(), "-o", "json"])
        .output()
        .unwrap();
    assert!(
        from_snapshot.status.success(),
        "{}",
        String::from_utf8_lossy(&from_snapshot.stderr)
    );
    let projection: Value = serde_json::from_slice(&from_snapshot.stdout).expect("json");
    let next = projection["nextReconcile"].to_string();
    assert!(next.contains("patch ResourceBinding default/c1-"), "{next}");
    // When each binding is upgraded, by the projection.
    let upgrades: Vec<(i64, String)> = projection["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["events"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["reason"] == "PolicyUpgrade")
                .map(|e| {
                    let who = e["regarding"].as_str().unwrap();
                    let request = who.trim_start_matches("ResourceBinding default/");
                    (s["offsetMs"].as_i64().unwrap(), request[..2].to_string())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    // The canary first; the soak runs 10 minutes from its success at +2m;
    // then one at a time, 2 minutes each, the next one as the last ends
    // (the policy is called when an upgrade finishes; it does not poll).
    assert_eq!(
        upgrades,
        [
            (0, "c1".to_string()),
            (12 * 60_000, "r1".to_string()),
            (14 * 60_000, "r2".to_string())
        ]
    );
    assert_eq!(projection["end"]["why"], "settled");

    // From the cluster directly: the same events in the same order (the
    // times differ by how long ago the snapshot was taken: a workflow is
    // assumed to end 2 minutes after its Job was created).
    let from_cluster = kbind(&kubeconfig, &[&plan_args[..], &["-o", "json"]].concat());
    let live: Value = serde_json::from_slice(&from_cluster.stdout).expect("json");
    let happenings = |p: &Value| -> Vec<String> {
        p["steps"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["events"].as_array().unwrap().clone())
            .filter(|e| {
                e["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("Rollout") || r == "PolicyUpgrade")
            })
            .map(|e| format!("{} {}", e["reason"], e["regarding"]))
            .collect()
    };
    assert_eq!(happenings(&live), happenings(&projection));
    // The human timeline says it in words.
    let human = Command::new(env!("CARGO_BIN_EXE_kbind"))
        .args(plan_args)
        .args(["--snapshot", snapshot.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("RolloutWaveStarted: v1.1.0: wave canary (1 of 2) started"),
        "{text}"
    );
    assert!(text.contains("+12m 0s"), "{text}");
    assert!(text.contains("Ends"), "{text}");

    // Nothing was written: every binding is still at v1.0.0.
    let all = bindings(&env).await;
    assert!(all.iter().all(|(_, spec, _)| spec == "v1.0.0"), "{all:?}");
}
