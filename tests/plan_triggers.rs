//! When the host asks `plan-upgrades` again: a policy that reports a
//! rollout hears of each finished upgrade (`bindings-changed`) with no
//! clock; its own answers do not call it back; a policy that reports no
//! rollout is not called for finished upgrades at all.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kbind::contract::*;
use kbind::key::ObjKey;
use kbind::policy::native::NativeKratixDefault;
use kbind::policy::{Decided, Policy, PolicyError, PolicyId};
use kbind::sim::{Simulation, WorkflowMode};
use serde_json::{Value, json};

const TARGET: &str = "v2.0.0";

/// kratix-default, except that it moves bindings to TARGET one at a time
/// and says which triggers it was called with.
struct OneAtATime {
    base: NativeKratixDefault,
    id: PolicyId,
    reports_rollouts: bool,
    calls: Arc<Mutex<Vec<PlanTrigger>>>,
}

fn decided<T>(value: T) -> Result<Decided<T>, PolicyError> {
    Ok(Decided {
        value,
        fuel: 0,
        elapsed: Duration::ZERO,
    })
}

impl Policy for OneAtATime {
    fn id(&self) -> &PolicyId {
        &self.id
    }
    fn info(&self) -> &PolicyInfo {
        self.base.info()
    }
    fn settings(&self) -> &[Setting] {
        &[]
    }
    /// Pinned at the first version (kratix-default would float on `latest`).
    fn initial_version(
        &self,
        _input: &InitialVersionInput,
    ) -> Result<Decided<VersionChoice>, PolicyError> {
        decided(VersionChoice {
            version: "v1.0.0".into(),
            reason: "pinned".into(),
        })
    }
    fn plan_upgrades(&self, input: &PlanInput) -> Result<Decided<UpgradePlan>, PolicyError> {
        self.calls.lock().unwrap().push(input.trigger);
        let has_target = input.promise.revisions.iter().any(|r| r.version == TARGET);
        let arrived = |b: &Binding| b.last_applied_version.as_deref() == Some(TARGET);
        let moving = input
            .bindings
            .iter()
            .any(|b| b.version == TARGET && !arrived(b));
        let next = input.bindings.iter().find(|b| b.version != TARGET);
        let upgrades = match next {
            Some(b) if has_target && !moving => vec![Upgrade {
                binding: BindingRef {
                    namespace: b.namespace.clone(),
                    name: b.name.clone(),
                },
                version: TARGET.into(),
                reason: "one at a time".into(),
            }],
            _ => vec![],
        };
        let left = input.bindings.iter().filter(|b| !arrived(b)).count() as u32;
        let rollouts = if self.reports_rollouts && has_target && left > 0 {
            vec![Rollout {
                version: TARGET.into(),
                waves: vec![WaveProgress {
                    name: "all".into(),
                    at_target: input.bindings.len() as u32 - left,
                    moving: u32::from(moving || !upgrades.is_empty()),
                    waiting: left - u32::from(moving || !upgrades.is_empty()),
                    failed: 0,
                }],
                wave_index: 1,
                phase: RolloutPhase::Progressing,
                until: None,
                message: String::new(),
            }]
        } else {
            vec![]
        };
        decided(UpgradePlan {
            upgrades,
            recheck_after_ms: None,
            reason: "one at a time".into(),
            rollouts,
        })
    }
    fn review_edit(&self, input: &EditInput) -> Result<Decided<Review>, PolicyError> {
        self.base.review_edit(input)
    }
    fn after_failure(&self, input: &FailureInput) -> Result<Decided<FailureDecision>, PolicyError> {
        self.base.after_failure(input)
    }
    fn rerun_on_spec_change(
        &self,
        input: &SpecChangeInput,
    ) -> Result<Decided<RerunSelection>, PolicyError> {
        self.base.rerun_on_spec_change(input)
    }
}

fn request(name: &str) -> Value {
    json!({"apiVersion": "marketplace.kratix.io/v1alpha1", "kind": "redis",
        "metadata": {"name": name, "namespace": "default"}, "spec": {}})
}

fn request_key(name: &str) -> ObjKey {
    ObjKey::new("redis", "default", name)
}

fn version_of(sim: &Simulation, request: &str) -> String {
    let binding = sim
        .store
        .get(&ObjKey::new(
            "ResourceBinding",
            "default",
            &kbind::naming::binding_name(request, "redis"),
        ))
        .expect("binding");
    binding["spec"]["version"].as_str().unwrap().to_string()
}

/// Two requests at v1.0.0 with their first workflows done, then TARGET
/// published; returns the simulation and the calls since TARGET came.
fn published(reports_rollouts: bool) -> (Simulation, Arc<Mutex<Vec<PlanTrigger>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let policy = OneAtATime {
        base: NativeKratixDefault::new(vec![]),
        id: PolicyId {
            name: "one-at-a-time".into(),
            digest: "native".into(),
        },
        reports_rollouts,
        calls: calls.clone(),
    };
    let mut sim = Simulation::new(Arc::new(policy), support::NOW, WorkflowMode::Manual);
    let apply = |sim: &mut Simulation, object: Value| {
        sim.store.apply(object, false).unwrap();
        sim.settle().unwrap();
    };
    apply(&mut sim, support::promise("v1.0.0").build());
    apply(&mut sim, request("a"));
    apply(&mut sim, request("b"));
    for name in ["a", "b"] {
        sim.finish_workflow(&request_key(name), true, "").unwrap();
        sim.settle().unwrap();
    }
    calls.lock().unwrap().clear();
    apply(&mut sim, support::promise(TARGET).build());
    (sim, calls)
}

fn finish(sim: &mut Simulation, name: &str) {
    sim.finish_workflow(&request_key(name), true, "").unwrap();
    sim.settle().unwrap();
}

#[test]
fn a_reported_rollout_hears_of_each_finished_upgrade_and_not_of_its_own_answers() {
    let (mut sim, calls) = published(true);
    assert_eq!(version_of(&sim, "a"), TARGET);
    assert_eq!(version_of(&sim, "b"), "v1.0.0");
    // Its own write, and the workflow that write started, called it no more.
    assert_eq!(*calls.lock().unwrap(), [PlanTrigger::RevisionsChanged]);

    finish(&mut sim, "a");
    assert_eq!(
        version_of(&sim, "b"),
        TARGET,
        "b moves when a's upgrade ends"
    );
    assert_eq!(
        *calls.lock().unwrap(),
        [PlanTrigger::RevisionsChanged, PlanTrigger::BindingsChanged]
    );

    finish(&mut sim, "b");
    assert_eq!(
        *calls.lock().unwrap(),
        [
            PlanTrigger::RevisionsChanged,
            PlanTrigger::BindingsChanged,
            PlanTrigger::BindingsChanged
        ]
    );
    // The rollout is over: nothing is recorded to compare with any more.
    let promise = sim.store.get(&ObjKey::new("Promise", "", "redis")).unwrap();
    assert_eq!(promise["status"]["observedBindings"], Value::Null);
    assert_eq!(promise["status"]["rollouts"], Value::Null);
}

#[test]
fn a_policy_reporting_no_rollout_is_not_called_when_an_upgrade_ends() {
    let (mut sim, calls) = published(false);
    assert_eq!(version_of(&sim, "a"), TARGET);
    finish(&mut sim, "a");
    // Without a rollout reported, and with no re-check asked for, nothing
    // calls the policy again: b waits (as a re-check-less 0.1 policy would).
    assert_eq!(version_of(&sim, "b"), "v1.0.0");
    assert_eq!(*calls.lock().unwrap(), [PlanTrigger::RevisionsChanged]);
}
