//! Faults: the API server misbehaving under the operator, and the operator
//! itself killed mid-wave. Each run must end in the fault-free final state,
//! start no workflow twice for the same (request, revision) and lose no
//! binding.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use kbind::apiserver::{Faults, ObjectStore};
use kbind::operator::{OperatorOptions, SimulatedRunner};
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use support::Operator;
use support::cluster::{Env, promise};

const REQUESTS: usize = 30;

/// The waves run one at a time: each is a server, an operator and a
/// runner, and ten of them at once on a 2-core CI machine measure the
/// scheduler, not the operator.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("r{i:03}")).collect()
}

fn semver_auto() -> Arc<dyn kbind::policy::Policy> {
    Arc::new(support::load(
        &support::engine(),
        &kbind::shipped::SEMVER_AUTO.source(),
        &[],
    ))
}

async fn start(env: &Env) -> Operator {
    start_on(&support::client_as(&env.running, "operator").await)
}

fn start_on(client: &kube::Client) -> Operator {
    let client = client.clone();
    support::start_operator(
        client,
        semver_auto(),
        None,
        OperatorOptions {
            runner: Some(SimulatedRunner::default()),
            ..OperatorOptions::default()
        },
    )
}

/// Per request: binding version, last applied version, the versions of
/// its configure workflows in creation order.
async fn final_state(env: &Env, names: &[String]) -> Vec<(String, Value, Value, Vec<String>)> {
    let mut out = Vec::new();
    for n in names {
        let b = env
            .bindings
            .get(&kbind::naming::binding_name(n, "redis"))
            .await
            .unwrap();
        out.push((
            n.clone(),
            b.data["spec"]["version"].clone(),
            b.data["status"]["lastAppliedVersion"].clone(),
            env.configure_runs(n).await,
        ));
    }
    out
}

async fn all_applied(env: &Env, names: &[String], version: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let list = env.bindings.list(&ListParams::default()).await;
        let pending: Vec<String> = match &list {
            Ok(list) => list
                .items
                .iter()
                .filter(|b| b.data["status"]["lastAppliedVersion"] != version)
                .map(|b| {
                    format!(
                        "{}: spec {} status {}",
                        b.metadata.name.as_deref().unwrap_or_default(),
                        b.data["spec"],
                        b.data["status"]
                    )
                })
                .collect(),
            Err(e) => vec![format!("the bindings could not be listed: {e}")],
        };
        let seen = list.as_ref().map_or(0, |l| l.items.len());
        if pending.is_empty() && seen == names.len() {
            return;
        }
        if std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        // Requests with no binding at all, as the server holds them.
        let mut unbound = Vec::new();
        if let Ok(list) = &list {
            let events = env
                .events
                .list(&ListParams::default())
                .await
                .map(|l| l.items)
                .unwrap_or_default();
            for name in names {
                let bound = list
                    .items
                    .iter()
                    .any(|b| b.data["spec"]["resourceRef"]["name"] == name.as_str());
                if !bound {
                    let request = env.requests.get(name).await.ok();
                    let events: Vec<String> = events
                        .iter()
                        .filter(|e| e.data["involvedObject"]["name"] == name.as_str())
                        .map(|e| format!("{}: {}", e.data["reason"], e.data["message"]))
                        .collect();
                    unbound.push(format!(
                        "{name} (no binding): metadata {} status {} events {events:?}",
                        request.as_ref().map_or(Value::Null, |r| {
                            let mut metadata = r.metadata.clone();
                            metadata.managed_fields = None;
                            json!(metadata)
                        }),
                        request
                            .as_ref()
                            .map_or(Value::Null, |r| r.data["status"].clone())
                    ));
                }
            }
        }
        let pending: Vec<String> = pending.into_iter().chain(unbound).collect();
        // A wave that does not converge says where each request stands.
        panic!(
            "not all {} requests applied at {version} after 60 s ({seen} bindings); \
             not there yet:\n{}",
            names.len(),
            pending.join("\n")
        );
    }
}

/// Installs v1.0.0, creates the requests, publishes v1.1.0 (semver-auto
/// moves every binding) and returns the final state. With `kill_after`,
/// the operator is killed and restarted that long after the requests are
/// created and half that long after the publish.
async fn wave(
    env: &Env,
    names: &[String],
    kill_after: Option<Duration>,
) -> Vec<(String, Value, Value, Vec<String>)> {
    let client = support::client_as(&env.running, "operator").await;
    wave_with(env, names, kill_after, client).await
}

/// [`wave`] with the operator on this client.
async fn wave_with(
    env: &Env,
    names: &[String],
    kill_after: Option<Duration>,
    client: kube::Client,
) -> Vec<(String, Value, Value, Vec<String>)> {
    let mut op = start_on(&client);
    env.install("v1.0.0").await;
    for n in names {
        env.create(n).await;
    }
    if let Some(after) = kill_after {
        tokio::time::sleep(after).await;
        op.kill();
        op = start_on(&client);
    }
    all_applied(env, names, "v1.0.0").await;
    env.promises
        .patch(
            "redis",
            &PatchParams::default(),
            &Patch::Merge(promise("v1.1.0")),
        )
        .await
        .unwrap();
    if let Some(after) = kill_after {
        tokio::time::sleep(after / 2).await;
        op.kill();
        op = start_on(&client);
    }
    all_applied(env, names, "v1.1.0").await;
    // Nothing more happens once converged.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let state = final_state(env, names).await;
    op.kill();
    state
}

fn expected(names: &[String]) -> Vec<(String, Value, Value, Vec<String>)> {
    names
        .iter()
        .map(|n| {
            (
                n.clone(),
                json!("v1.1.0"),
                json!("v1.1.0"),
                vec!["v1.0.0".to_string(), "v1.1.0".to_string()],
            )
        })
        .collect()
}

/// The wave under `faults` (for the operator's requests only), with
/// `tick` applied to the server every 150 ms while it runs.
async fn faulty_wave(faults: Faults, tick: Option<fn(&Env)>) {
    let env = Env::new().await;
    env.running.set_faults(Faults {
        only_client: Some("operator".into()),
        ..faults
    });
    let names = names(REQUESTS);
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let ticker = async {
        let Some(tick) = tick else { return };
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = tokio::time::sleep(Duration::from_millis(150)) => tick(&env),
            }
        }
    };
    let run = async {
        let state = wave(&env, &names, None).await;
        let _ = stop.send(());
        state
    };
    let (state, ()) = tokio::join!(run, ticker);
    assert_eq!(state, expected(&names));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_faults_the_wave_reaches_the_reference_state() {
    let _one = ONE_AT_A_TIME.lock().await;
    let env = Env::new().await;
    let names = names(REQUESTS);
    assert_eq!(wave(&env, &names, None).await, expected(&names));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_on_every_first_write_changes_nothing_in_the_end() {
    let _one = ONE_AT_A_TIME.lock().await;
    faulty_wave(
        Faults {
            conflict_first_write: true,
            ..Faults::default()
        },
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_errors_on_a_seventh_of_the_requests_change_nothing_in_the_end() {
    let _one = ONE_AT_A_TIME.lock().await;
    faulty_wave(
        Faults {
            error_probability: Some((1.0 / 7.0, 42)),
            ..Faults::default()
        },
        None,
    )
    .await;
}

/// API Priority and Fairness refuses requests with 429 and `Retry-After`
/// when a priority level's queues are full (the operator's account is in
/// `workload-low`, the first to be refused under load). The client waits
/// and retries as client-go does; nothing is lost or run twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_refused_by_flow_control_change_nothing_in_the_end() {
    let _one = ONE_AT_A_TIME.lock().await;
    let env = Env::new().await;
    env.running.set_faults(Faults {
        only_client: Some("operator".into()),
        too_many_requests: Some((1.0 / 12.0, 7)),
        ..Faults::default()
    });
    let names = names(REQUESTS);
    // The operator's own client (`kbind operator`'s stack), at its default
    // limits.
    let mut config = support::config_for(&env.running).await;
    config.headers.push((
        http::HeaderName::from_static("x-kbind-audit-as"),
        http::HeaderValue::from_static("operator"),
    ));
    let client = kbind::operator::throttle::client(config, 50.0, 100).unwrap();
    assert_eq!(
        wave_with(&env, &names, None, client).await,
        expected(&names)
    );
    assert!(
        env.running.refused_requests() > 10,
        "flow control refused {} requests",
        env.running.refused_requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_responses_change_nothing_in_the_end() {
    let _one = ONE_AT_A_TIME.lock().await;
    faulty_wave(
        Faults {
            latency: Some(Duration::from_millis(15)),
            ..Faults::default()
        },
        None,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_watches_change_nothing_in_the_end() {
    let _one = ONE_AT_A_TIME.lock().await;
    faulty_wave(
        Faults::default(),
        Some(|env: &Env| env.running.drop_watches()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_with_410_gone_on_resume_changes_nothing_in_the_end() {
    let _one = ONE_AT_A_TIME.lock().await;
    faulty_wave(
        Faults::default(),
        Some(|env: &Env| env.running.compact_and_drop_watches()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_with_persisted_state_changes_nothing_in_the_end() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.jsonl");
    let mut env = Env::with_store(ObjectStore::with_state_file(&state_file).unwrap()).await;
    let names = names(REQUESTS);
    let op = start(&env).await;
    env.install("v1.0.0").await;
    for n in &names {
        env.create(n).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    env.restart_server(&state_file).await;
    all_applied(&env, &names, "v1.0.0").await;
    env.promises
        .patch(
            "redis",
            &PatchParams::default(),
            &Patch::Merge(promise("v1.1.0")),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    env.restart_server(&state_file).await;
    all_applied(&env, &names, "v1.1.0").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(final_state(&env, &names).await, expected(&names));
    op.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_killed_during_the_wave_reaches_the_same_state() {
    let _one = ONE_AT_A_TIME.lock().await;
    for kill_after_ms in [20, 120] {
        let env = Env::new().await;
        let names = names(REQUESTS);
        let state = wave(&env, &names, Some(Duration::from_millis(kill_after_ms))).await;
        assert_eq!(state, expected(&names), "killed after {kill_after_ms} ms");
    }
}

/// The plan that starts an upgrade's workflow creates the Job, then
/// removes the trigger label from the request. If that removal fails, the
/// next reconcile still sees the label: it must not start a second run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_label_that_cannot_be_removed_starts_one_workflow_not_two() {
    let _one = ONE_AT_A_TIME.lock().await;
    let env = Env::new().await;
    env.running.set_faults(Faults {
        only_client: Some("operator".into()),
        fail_writes_containing: Some(("\"kratix.io/manual-reconciliation\":null".into(), 3)),
        ..Faults::default()
    });
    let names = names(3);
    let state = wave(&env, &names, None).await;
    assert_eq!(state, expected(&names));
}

/// Kill delays from a seed (splitmix64), so a failing run can be repeated
/// with `KBIND_FAULT_SEED=<seed>`.
fn kill_points(seed: u64, n: usize, max_ms: u64) -> Vec<Duration> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            Duration::from_millis((z ^ (z >> 31)) % max_ms)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_killed_at_seeded_points_of_a_200_request_upgrade_wave_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let seed = std::env::var("KBIND_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let env = Env::new().await;
    let names = names(200);
    let mut op = start(&env).await;
    env.install("v1.0.0").await;
    for n in &names {
        env.create(n).await;
    }
    all_applied(&env, &names, "v1.0.0").await;
    env.promises
        .patch(
            "redis",
            &PatchParams::default(),
            &Patch::Merge(promise("v1.1.0")),
        )
        .await
        .unwrap();
    for delay in kill_points(seed, 4, 400) {
        tokio::time::sleep(delay).await;
        op.kill();
        op = start(&env).await;
    }
    all_applied(&env, &names, "v1.1.0").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        final_state(&env, &names).await,
        expected(&names),
        "seed {seed}: killed at {:?}",
        kill_points(seed, 4, 400)
    );
    assert_eq!(
        env.bindings
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        200,
        "no binding lost or doubled"
    );
    op.kill();
}
