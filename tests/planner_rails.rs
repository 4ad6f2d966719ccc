//! The host's safety rails hold whatever a policy answers: a version with no
//! revision, an answer for a binding it was not asked about, a failing
//! policy — each is refused, said in an Event, and changes nothing.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use kbind::contract::*;
use kbind::key::ObjKey;
use kbind::policy::native::NativeKratixDefault;
use kbind::policy::{Decided, Policy, PolicyError, PolicyId};
use kbind::sim::{Simulation, WorkflowMode};
use serde_json::{Value, json};

/// kratix-default, except for the answers a test overrides.
struct Rogue {
    base: NativeKratixDefault,
    id: PolicyId,
    initial: Option<String>,
    upgrades: Vec<Upgrade>,
    recheck_after_ms: Option<u64>,
    fail_plans: bool,
}

impl Rogue {
    fn new() -> Self {
        Self {
            base: NativeKratixDefault::new(vec![]),
            id: PolicyId {
                name: "rogue".into(),
                digest: "native".into(),
            },
            initial: None,
            upgrades: vec![],
            recheck_after_ms: None,
            fail_plans: false,
        }
    }
}

fn decided<T>(value: T) -> Result<Decided<T>, PolicyError> {
    Ok(Decided {
        value,
        fuel: 0,
        elapsed: Duration::ZERO,
    })
}

impl Policy for Rogue {
    fn id(&self) -> &PolicyId {
        &self.id
    }
    fn info(&self) -> &PolicyInfo {
        self.base.info()
    }
    fn settings(&self) -> &[Setting] {
        &[]
    }
    fn initial_version(
        &self,
        input: &InitialVersionInput,
    ) -> Result<Decided<VersionChoice>, PolicyError> {
        match &self.initial {
            Some(v) => decided(VersionChoice {
                version: v.clone(),
                reason: "rogue".into(),
            }),
            None => self.base.initial_version(input),
        }
    }
    fn plan_upgrades(&self, _input: &PlanInput) -> Result<Decided<UpgradePlan>, PolicyError> {
        if self.fail_plans {
            return Err(PolicyError::FuelExhausted {
                policy: self.id.clone(),
                decision: "plan-upgrades",
                budget: 1,
            });
        }
        decided(UpgradePlan {
            upgrades: self.upgrades.clone(),
            recheck_after_ms: self.recheck_after_ms,
            reason: "rogue".into(),
            rollouts: Vec::new(),
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

fn promise(version: &str) -> Value {
    support::promise(version).without_workflows().build()
}

fn request(name: &str) -> Value {
    json!({"apiVersion": "marketplace.kratix.io/v1alpha1", "kind": "redis",
        "metadata": {"name": name, "namespace": "default"}, "spec": {}})
}

fn run(policy: Rogue, steps: &[Value]) -> Simulation {
    let mut sim = Simulation::new(Arc::new(policy), support::NOW, WorkflowMode::Manual);
    for object in steps {
        sim.store.apply(object.clone(), false).unwrap();
        sim.settle().unwrap();
    }
    sim
}

fn binding(sim: &Simulation, request: &str) -> Option<Value> {
    sim.store
        .get(&ObjKey::new(
            "ResourceBinding",
            "default",
            &kbind::naming::binding_name(request, "redis"),
        ))
        .cloned()
}

fn has_event(sim: &Simulation, reason: &str, needle: &str) -> bool {
    sim.store
        .events()
        .iter()
        .any(|e| e.reason == reason && e.message.contains(needle))
}

#[test]
fn an_initial_version_with_no_revision_creates_no_binding() {
    let mut rogue = Rogue::new();
    rogue.initial = Some("v9.9.9".into());
    let sim = run(rogue, &[promise("v0.1.0"), request("a")]);
    assert!(binding(&sim, "a").is_none());
    assert!(
        has_event(&sim, "PolicyFailed", "has no PromiseRevision"),
        "{:?}",
        sim.store.events()
    );
    assert!(
        sim.store.list("Job").next().is_none(),
        "no workflow without a binding"
    );
}

#[test]
fn upgrades_for_unknown_bindings_or_versions_are_refused() {
    let mut rogue = Rogue::new();
    rogue.upgrades = vec![
        Upgrade {
            binding: BindingRef {
                namespace: "default".into(),
                name: "not-asked".into(),
            },
            version: "v0.1.0".into(),
            reason: "x".into(),
        },
        Upgrade {
            binding: BindingRef {
                namespace: "default".into(),
                name: kbind::naming::binding_name("a", "redis"),
            },
            version: "v7.7.7".into(),
            reason: "x".into(),
        },
    ];
    let sim = run(rogue, &[promise("v0.1.0"), request("a"), promise("v0.2.0")]);
    assert!(
        has_event(&sim, "PolicyFailed", "not-asked which was not in its input"),
        "{:?}",
        sim.store.events()
    );
    assert!(has_event(
        &sim,
        "PolicyFailed",
        "v7.7.7 which has no PromiseRevision"
    ));
    assert_eq!(
        binding(&sim, "a").unwrap()["spec"]["version"],
        "latest",
        "binding unchanged"
    );
}

#[test]
fn a_failing_policy_changes_nothing_and_says_why() {
    let mut rogue = Rogue::new();
    rogue.fail_plans = true;
    let sim = run(rogue, &[promise("v0.1.0"), request("a"), promise("v0.2.0")]);
    assert!(
        has_event(&sim, "PolicyFailed", "ran out of fuel"),
        "{:?}",
        sim.store.events()
    );
    assert_eq!(binding(&sim, "a").unwrap()["spec"]["version"], "latest");
}

#[test]
fn a_recheck_delay_too_large_to_write_means_never() {
    // 2^62 ms is past year 9999 (RFC 3339 cannot write it: this aborted
    // the reconcile, found by the policy_answers fuzz target); u64::MAX
    // read as a signed -1 meant "at once".
    for delay in [1u64 << 62, u64::MAX] {
        let mut rogue = Rogue::new();
        rogue.recheck_after_ms = Some(delay);
        let sim = run(rogue, &[promise("v0.1.0"), request("a"), promise("v0.2.0")]);
        let promise = sim.store.get(&ObjKey::new("Promise", "", "redis")).unwrap();
        assert_eq!(
            promise["status"]["nextUpgradeCheck"], "9999-12-31T23:59:59Z",
            "delay {delay}"
        );
    }
}
