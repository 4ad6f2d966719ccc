//! The operator at scale against the embedded API server:
//!
//!   cargo bench -p kbind --bench scale                # 1,000 and 10,000 requests
//!   cargo bench -p kbind --bench scale -- 2000        # other sizes
//!   cargo bench -p kbind --bench scale -- 1000 foreign-crds=500
//!                                                     # and 500 large CRDs not kbind's
//!   cargo bench -p kbind --bench scale -- 10000 rollout
//!                                                     # the rollout policy instead
//!
//! `rollout`: the operator runs the shipped `rollout` policy (waves canary
//! by label (1% of the requests carry it), 10%, the rest; `maxInFlight:
//! 500`; no soak) instead of semver-auto, and the most upgrades ever in
//! flight at once is counted from the server's own watch of the bindings
//! (every change, in order), which must never pass 500.
//!
//! For each size: a fresh server in this process, `kbind operator` as a
//! separate process (`--policy semver-auto --simulate-workflows`), N
//! requests created, the time until every binding is applied at v1.0.0;
//! then v1.1.0 published and the time until semver-auto has upgraded and
//! re-applied all of them. Reported: both times, the operator's policy time
//! and reconcile time (from its /metrics), its peak RSS (VmHWM of the
//! operator process alone), writes sent, and the CPU time of the operator
//! and of the server (this process). Results: BENCHMARKS.md.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use support::cluster::{Env, promise};

fn metrics(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("metrics endpoint");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    text
}

/// Sum of every sample of a metric (over its label sets).
fn sum(text: &str, metric: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Every sample of a metric with one label, as `value=count` pairs divided
/// by `per` (writes per request by verb, Events by reason).
fn breakdown(text: &str, metric: &str, per: f64) -> String {
    let mut parts: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with('{'))
        .filter_map(|l| {
            let label = l.split('"').nth(1)?;
            let value = l.rsplit(' ').next()?.parse::<f64>().ok()?;
            Some(format!("{label}={:.2}", value / per))
        })
        .collect();
    parts.sort();
    parts.join(",")
}

fn peak_rss_mib(child: &Child) -> f64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// CPU seconds (user + system) a process has used so far, from
/// `/proc/<pid>/stat`: on two cores the operator and the server (this
/// process) share the machine, so a change that costs the operator CPU
/// slows the server's writes.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces) are counted from
    // its closing parenthesis: utime and stime are the 12th and 13th.
    let ticks: f64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|t| t.parse::<f64>().ok())
                .sum()
        })
        .unwrap_or(f64::NAN);
    // USER_HZ is 100 on every Linux kbind's benches run on.
    ticks / 100.0
}

/// Waits until `n` bindings report `version` as applied, following a watch
/// (polling lists of 10,000 bindings would load the server more than the
/// operator does).
async fn applied(
    bindings: &Api<DynamicObject>,
    n: usize,
    version: &str,
    deadline: Duration,
) -> bool {
    applied_counting(bindings, n, version, deadline).await.0
}

/// As `applied`, and the most bindings with an upgrade in flight
/// (`status.inFlightVersion` set) at any point of the watch.
async fn applied_counting(
    bindings: &Api<DynamicObject>,
    n: usize,
    version: &str,
    deadline: Duration,
) -> (bool, usize) {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let mut seen = std::collections::HashMap::new();
    let mut finished = 0usize;
    let mut moving = std::collections::HashSet::new();
    let mut most_moving = 0usize;
    let stream = watcher(bindings.clone(), watcher::Config::default()).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let until = tokio::time::Instant::now() + deadline;
    loop {
        let event = match tokio::time::timeout_at(until, stream.next()).await {
            Ok(Some(Ok(event))) => event,
            Ok(Some(Err(_))) => continue,
            _ => return (false, most_moving),
        };
        let objects = match event {
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => vec![o],
            _ => vec![],
        };
        for o in objects {
            let name = o.metadata.name.clone().unwrap_or_default();
            let in_flight = o.data["status"]["inFlightVersion"]
                .as_str()
                .is_some_and(|v| !v.is_empty());
            if in_flight {
                moving.insert(name.clone());
                most_moving = most_moving.max(moving.len());
            } else {
                moving.remove(&name);
            }
            let done = o.data["status"]["lastAppliedVersion"] == version;
            let was = seen.insert(name, done);
            // A running count: counting the map on every event made this
            // waiter quadratic, and on two cores it took CPU from the
            // operator it measures.
            match (was.unwrap_or(false), done) {
                (false, true) => finished += 1,
                (true, false) => finished -= 1,
                _ => {}
            }
        }
        if finished == n {
            return (true, most_moving);
        }
    }
}

/// A CRD the size of a large foreign one (Crossplane's run to hundreds of
/// kilobytes): 300 described string fields.
fn foreign_crd(i: usize) -> DynamicObject {
    let properties: serde_json::Map<String, serde_json::Value> = (0..300)
        .map(|f| {
            (
                format!("field{f:03}"),
                serde_json::json!({"type": "string", "description": "x".repeat(400)}),
            )
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("things{i}.foreign.example.com")},
        "spec": {"group": "foreign.example.com", "scope": "Namespaced",
            "names": {"kind": format!("Thing{i}"), "plural": format!("things{i}")},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": properties}}}}}]}}))
    .expect("a CRD")
}

/// The rollout run's policy settings (`-- rollout`).
const ROLLOUT_WAVES: &str = r#"waves=[{"name":"canary","selector":{"matchLabels":{"kbind.io/ring":"canary"}}},{"name":"early","percent":10},{"name":"rest"}]"#;
const ROLLOUT_MAX_IN_FLIGHT: usize = 500;

async fn run(n: usize, foreign_crds: usize, rollout: bool) {
    let env = Env::new().await;
    if foreign_crds > 0 {
        let crds: Api<DynamicObject> = Api::all_with(
            env.client.clone(),
            &support::cluster::ar(
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                "customresourcedefinitions",
            ),
        );
        for i in 0..foreign_crds {
            crds.create(&Default::default(), &foreign_crd(i))
                .await
                .expect("a foreign CRD");
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    env.running
        .write_kubeconfig(&kubeconfig)
        .expect("kubeconfig");
    let mut operator = Command::new(env!("CARGO_BIN_EXE_kbind"));
    operator.args(["operator", "--no-cache", "--simulate-workflows"]);
    if rollout {
        operator.args([
            "--policy",
            "rollout",
            "--set-json",
            ROLLOUT_WAVES,
            "--set",
            &format!("maxInFlight={ROLLOUT_MAX_IN_FLIGHT}"),
            "--set",
            "soak=0",
        ]);
    } else {
        operator.args(["--policy", "semver-auto"]);
    }
    let mut child = operator
        // The server's own write rate is what is measured, not the
        // client-side limit (--kube-qps 50 by default).
        .args([
            "--metrics-addr",
            "127.0.0.1:0",
            "--workers",
            "4",
            "--kube-qps",
            "0",
        ])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stderr(Stdio::piped())
        .spawn()
        .expect("kbind operator");
    let mut line = String::new();
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    // The banner names the metrics address (log lines may come first).
    while !line.contains("metrics on http://") {
        line.clear();
        if stderr.read_line(&mut line).expect("banner") == 0 {
            panic!("the operator ended before its banner");
        }
    }
    // The rest of the operator's log is kept (a closed pipe would lose it).
    let log_path = std::env::temp_dir().join("kbind-scale-operator.log");
    eprintln!("operator log: {}", log_path.display());
    std::thread::spawn(move || {
        if let Ok(mut log) = std::fs::File::create(&log_path) {
            let _ = std::io::copy(&mut stderr, &mut log);
        }
    });
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("metrics address")
        .to_string();

    env.install("v1.0.0").await;
    let started = Instant::now();
    for i in 0..n {
        let name = format!("r{i:05}");
        if rollout {
            // Every hundredth request is a canary.
            let ring = if i % 100 == 0 { "canary" } else { "general" };
            let mut request = support::cluster::request(&name);
            request.metadata.labels =
                Some([("kbind.io/ring".to_string(), ring.to_string())].into());
            env.requests
                .create(&Default::default(), &request)
                .await
                .expect("a request");
        } else {
            env.create(&name).await;
        }
    }
    let created = started.elapsed();
    let deadline = Duration::from_secs(60 + n as u64 / 10);
    let converged = applied(&env.bindings, n, "v1.0.0", deadline).await;
    let converge = started.elapsed();
    let converge_rss = peak_rss_mib(&child);
    let operator_pid = child.id().to_string();
    let converge_cpu = (cpu_seconds(&operator_pid), cpu_seconds("self"));
    let before = metrics(&addr);
    let upgrade_started = Instant::now();
    env.promises
        .patch(
            "redis",
            &PatchParams::default(),
            &Patch::Merge(promise("v1.1.0")),
        )
        .await
        .expect("publish");
    let (upgraded, most_in_flight) = if converged {
        applied_counting(&env.bindings, n, "v1.1.0", deadline).await
    } else {
        (false, 0)
    };
    let upgrade = upgrade_started.elapsed();
    let after = metrics(&addr);
    let rss = peak_rss_mib(&child);
    let cpu = (cpu_seconds(&operator_pid), cpu_seconds("self"));
    let _ = child.kill();
    let _ = child.wait();

    let policy_s = sum(&after, "kbind_policy_decision_duration_seconds_sum");
    let reconcile_s = sum(&after, "kbind_reconcile_duration_seconds_sum");
    let upgrade_policy_s = policy_s - sum(&before, "kbind_policy_decision_duration_seconds_sum");
    let writes = sum(&after, "kbind_api_writes_total");
    let reconciles = sum(&after, "kbind_reconciles_total");
    let total = converge + upgrade;
    println!(
        "foreign_crds={foreign_crds} requests={n} created_in={:.2}s converged={converged} converge={:.2}s upgraded={upgraded} upgrade={:.2}s \
         reconciles={reconciles} writes={writes} reconcile_time={reconcile_s:.2}s policy_time={policy_s:.3}s \
         policy_share_of_reconcile={:.2}% policy_share_of_wall={:.2}% upgrade_policy_time={upgrade_policy_s:.3}s \
         operator_peak_rss={rss:.0}MiB (after converging: {converge_rss:.0}MiB)",
        created.as_secs_f64(),
        converge.as_secs_f64(),
        upgrade.as_secs_f64(),
        100.0 * policy_s / reconcile_s.max(f64::MIN_POSITIVE),
        100.0 * policy_s / total.as_secs_f64(),
    );
    println!(
        "cpu: operator converge={:.1}s upgrade={:.1}s; server and this bench converge={:.1}s upgrade={:.1}s",
        converge_cpu.0,
        cpu.0 - converge_cpu.0,
        converge_cpu.1,
        cpu.1 - converge_cpu.1,
    );
    if rollout {
        println!(
            "rollout: waves canary (1%)/10%/rest, maxInFlight={ROLLOUT_MAX_IN_FLIGHT}, soak 0: \
             most in flight at once (server's watch)={most_in_flight} ({}); rollout events=({})",
            if most_in_flight <= ROLLOUT_MAX_IN_FLIGHT {
                "within maxInFlight"
            } else {
                "OVER maxInFlight"
            },
            after
                .lines()
                .filter(|l| l.starts_with("kbind_rollout_events_total{"))
                .filter_map(|l| l.split("reason=\"").nth(1))
                .map(|l| l.replace("\"} ", "="))
                .collect::<Vec<_>>()
                .join(" "),
        );
        assert!(
            most_in_flight <= ROLLOUT_MAX_IN_FLIGHT,
            "{most_in_flight} upgrades in flight at once"
        );
    }
    let per = n.max(1) as f64;
    println!(
        "per request: writes={:.2} ({}) events=({}) reconciles={:.2} ({}) plans={:.2}",
        writes / per,
        breakdown(&after, "kbind_api_writes_total", per),
        breakdown(&after, "kbind_events_total", per),
        reconciles / per,
        breakdown(&after, "kbind_reconciles_total", per),
        sum(&after, "kbind_plans_total") / per,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // and gets a quick smoke run.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let benching = args.iter().any(|a| a == "--bench");
    let mut sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    // `foreign-crds=500`: the cluster also holds that many large CRDs that
    // are not kbind's.
    let foreign_crds = args
        .iter()
        .find_map(|a| a.strip_prefix("foreign-crds=")?.parse().ok())
        .unwrap_or(0);
    if sizes.is_empty() {
        sizes = if benching {
            vec![1_000, 10_000]
        } else {
            vec![20]
        };
    }
    let rollout = args.iter().any(|a| a == "rollout");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for n in sizes {
        runtime.block_on(run(n, foreign_crds, rollout));
    }
}
