//! `kbind plan`'s projection against what `simulate` then does: from the
//! same snapshot and policy, every upgrade the projection puts at +t has not
//! happened a millisecond before t in the simulator, and has at t.

use crate::support;

use std::sync::Arc;

use kbind::contract::Setting;
use kbind::policy::Policy;
use kbind::shipped;
use kbind::sim::project::{ProjectOptions, project};
use kbind::sim::snapshot::Snapshot;
use kbind::sim::{Simulation, WorkflowMode};
use serde_json::{Value, json};

const MIN: i64 = 60_000;

fn redis(version: &str) -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/scenarios/common/redis-promise.yaml"
    ))
    .unwrap()
    .replace("${version}", version);
    kbind::yaml::from_str(&text).unwrap()
}

fn request(name: &str, ring: &str) -> Value {
    json!({"apiVersion": "marketplace.kratix.io/v1alpha1", "kind": "redis",
        "metadata": {"name": name, "namespace": "default", "labels": {"kbind.io/ring": ring}},
        "spec": {"size": "small"}})
}

fn rollout() -> Arc<dyn Policy> {
    let settings = vec![
        Setting::json(
            "waves",
            r#"[{"name":"canary","selector":{"matchLabels":{"kbind.io/ring":"canary"}}},{"name":"half","percent":50},{"name":"rest"}]"#,
        ),
        Setting::text("soak", "10m"),
        Setting::text("maxInFlight", "2"),
    ];
    let (policy, _) = support::engine()
        .load(&shipped::ROLLOUT.source(), None, settings)
        .unwrap();
    Arc::new(policy)
}

/// Eight requests bound at v1.0.0 under Kratix's pinned policy, v1.1.0
/// published: the cluster a platform team plans a rollout for.
fn snapshot() -> Snapshot {
    let pinned = support::load(
        &support::engine(),
        &shipped::KRATIX_DEFAULT.source(),
        &[("strategy", "pinned")],
    );
    let mut sim = Simulation::new(Arc::new(pinned), 1_767_225_600_000, WorkflowMode::Auto);
    sim.store.apply(redis("v1.0.0"), true).unwrap();
    for (name, ring) in [
        ("c1", "canary"),
        ("c2", "canary"),
        ("a1", "general"),
        ("a2", "general"),
        ("a3", "general"),
        ("a4", "general"),
        ("a5", "general"),
        ("a6", "general"),
    ] {
        sim.store.apply(request(name, ring), true).unwrap();
    }
    sim.settle().unwrap();
    sim.store.apply(redis("v1.1.0"), true).unwrap();
    sim.settle().unwrap();
    let objects = sim.store.all().map(|(_, v)| v.clone()).collect();
    Snapshot::new(sim.store.now, objects)
}

fn version_of(sim: &Simulation, binding: &str) -> String {
    let key = kbind::key::ObjKey::new(
        "ResourceBinding",
        "default",
        binding.trim_start_matches("ResourceBinding default/"),
    );
    sim.store.get(&key).unwrap()["spec"]["version"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_projection_is_what_simulate_then_does() {
    let snapshot = snapshot();
    let start = snapshot.taken_at.0;
    let options = ProjectOptions {
        assume_ms: 3 * MIN,
        horizon_ms: 24 * 60 * MIN,
        max_steps: 1_000,
    };
    let projection = project(snapshot.store(), rollout(), options).unwrap();
    let upgrades: Vec<(i64, String)> = projection
        .steps
        .iter()
        .flat_map(|s| {
            s.events
                .iter()
                .filter(|e| e.reason == "PolicyUpgrade")
                .map(move |e| (s.offset_ms, e.regarding.clone()))
        })
        .collect();
    assert_eq!(upgrades.len(), 8, "{upgrades:?}");
    assert_eq!(projection.end.why, "settled");
    // Canaries at once, the next wave after the canaries' workflows (3 min)
    // and the soak (10 min).
    assert_eq!(upgrades[0].0, 0);
    assert_eq!(upgrades[1].0, 0);
    assert!(upgrades[2].0 >= 13 * MIN, "{upgrades:?}");

    let mut sim = Simulation::new(rollout(), start, WorkflowMode::Manual);
    sim.store = snapshot.store();
    sim.workflow_duration = Some(options.assume_ms);
    sim.settle().unwrap();
    let mut checked_before = -1;
    for (offset, binding) in &upgrades {
        if *offset > checked_before && *offset > 0 {
            checked_before = *offset;
            sim.advance_to(start + offset - 1).unwrap();
            // Every upgrade the projection puts at this instant, not yet.
            for (_, same) in upgrades.iter().filter(|(o, _)| o == offset) {
                assert_eq!(
                    version_of(&sim, same),
                    "v1.0.0",
                    "{same} moved before +{offset}ms"
                );
            }
        }
        sim.advance_to(start + offset).unwrap();
        assert_eq!(
            version_of(&sim, binding),
            "v1.1.0",
            "{binding} did not move at +{offset}ms"
        );
    }
    // And the simulator ends where the projection says it does.
    sim.advance_to(start + projection.end.offset_ms).unwrap();
    let at_target = sim
        .store
        .list("ResourceBinding")
        .filter(|b| b["status"]["lastAppliedVersion"] == "v1.1.0")
        .count();
    assert_eq!(at_target, 8);
}
