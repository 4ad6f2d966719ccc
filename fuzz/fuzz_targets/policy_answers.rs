//! Policy answers: a policy whose every answer (versions, bindings named,
//! failure actions, errors) comes from the fuzzer drives the planner through
//! a whole upgrade story. Whatever it answers, the host must not panic and
//! its rails must hold: no binding ends at a version without a revision.
#![no_main]
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kbind::contract::*;
use kbind::policy::native::NativeKratixDefault;
use kbind::policy::{Decided, Policy, PolicyError, PolicyId};
use kbind::sim::{Simulation, WorkflowMode};
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const VERSIONS: [&str; 3] = ["v0.1.0", "v0.2.0", "v0.3.0"];

struct Scripted {
    id: PolicyId,
    info: PolicyInfo,
    /// The fuzzer's bytes and how far the answers have read into them.
    script: Mutex<(Vec<u8>, usize)>,
}

impl Scripted {
    /// Runs `answer` on the unread rest of the script.
    fn next<T>(
        &self,
        decision: &'static str,
        answer: impl FnOnce(&mut Unstructured) -> T,
    ) -> Result<Decided<T>, PolicyError> {
        let mut script = self.script.lock().unwrap_or_else(|p| p.into_inner());
        let (bytes, at) = &mut *script;
        let mut u = Unstructured::new(&bytes[(*at).min(bytes.len())..]);
        let fails = u.ratio(1, 8).unwrap_or(false);
        let value = answer(&mut u);
        *at = bytes.len() - u.len();
        if fails {
            return Err(PolicyError::Declined {
                policy: self.id.clone(),
                decision,
                message: "scripted".into(),
            });
        }
        Ok(Decided {
            value,
            fuel: 0,
            elapsed: Duration::ZERO,
        })
    }
}

fn version(u: &mut Unstructured) -> String {
    match u.int_in_range(0..=6u8).unwrap_or(0) {
        0 => "latest".into(),
        n @ 1..=3 => VERSIONS[usize::from(n - 1)].into(),
        4 => "v9.9.9".into(),
        5 => String::new(),
        _ => u.arbitrary().unwrap_or_default(),
    }
}

fn binding_ref(u: &mut Unstructured, asked: &[Binding]) -> BindingRef {
    if !asked.is_empty() && u.ratio(3, 4).unwrap_or(true) {
        let i = u.choose_index(asked.len()).unwrap_or(0);
        return BindingRef::of(&asked[i]);
    }
    BindingRef {
        namespace: u.arbitrary().unwrap_or_default(),
        name: u.arbitrary().unwrap_or_default(),
    }
}

fn text(u: &mut Unstructured) -> String {
    u.arbitrary().unwrap_or_default()
}

impl Policy for Scripted {
    fn id(&self) -> &PolicyId {
        &self.id
    }
    fn info(&self) -> &PolicyInfo {
        &self.info
    }
    fn settings(&self) -> &[Setting] {
        &[]
    }
    fn initial_version(&self, _: &InitialVersionInput) -> Result<Decided<VersionChoice>, PolicyError> {
        self.next("initial-version", |u| VersionChoice {
            version: version(u),
            reason: text(u),
        })
    }
    fn plan_upgrades(&self, input: &PlanInput) -> Result<Decided<UpgradePlan>, PolicyError> {
        self.next("plan-upgrades", |u| {
            let n = u.int_in_range(0..=4u8).unwrap_or(0);
            UpgradePlan {
                upgrades: (0..n)
                    .map(|_| Upgrade {
                        binding: binding_ref(u, &input.bindings),
                        version: version(u),
                        reason: text(u),
                    })
                    .collect(),
                recheck_after_ms: u.arbitrary().unwrap_or_default(),
                reason: text(u),
            }
        })
    }
    fn review_edit(&self, _: &EditInput) -> Result<Decided<Review>, PolicyError> {
        self.next("review-edit", |u| Review {
            allowed: u.arbitrary().unwrap_or(true),
            reason: text(u),
        })
    }
    fn after_failure(&self, _: &FailureInput) -> Result<Decided<FailureDecision>, PolicyError> {
        self.next("after-failure", |u| FailureDecision {
            action: match u.int_in_range(0..=2u8).unwrap_or(0) {
                0 => FailureAction::Hold,
                1 => FailureAction::RetryAfter(u.arbitrary().unwrap_or_default()),
                _ => FailureAction::RollBack,
            },
            reason: text(u),
        })
    }
    fn rerun_on_spec_change(
        &self,
        input: &SpecChangeInput,
    ) -> Result<Decided<RerunSelection>, PolicyError> {
        self.next("rerun-on-spec-change", |u| {
            let n = u.int_in_range(0..=3u8).unwrap_or(0);
            RerunSelection {
                rerun: (0..n).map(|_| binding_ref(u, &input.bindings)).collect(),
                reason: text(u),
            }
        })
    }
}

fn promise(version: &str, image: &str) -> Value {
    json!({"apiVersion": "platform.kratix.io/v1alpha1", "kind": "Promise",
        "metadata": {"name": "redis", "labels": {"kratix.io/promise-version": version}},
        "spec": {"api": {"spec": {"group": "marketplace.kratix.io",
                "names": {"kind": "redis", "plural": "redis"}}},
            "workflows": {"resource": {"configure": [{"apiVersion": "platform.kratix.io/v1alpha1",
                "kind": "Pipeline", "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "image": image}]}}]}}}})
}

fn request(name: &str) -> Value {
    json!({"apiVersion": "marketplace.kratix.io/v1alpha1", "kind": "redis",
        "metadata": {"name": name, "namespace": "default"}, "spec": {}})
}

fn edit(sim: &Simulation, request: &str, version: &str) -> Option<Value> {
    let key = kbind::store::ObjKey::new(
        "ResourceBinding",
        "default",
        &kbind::naming::binding_name(request, "redis"),
    );
    let mut binding = sim.store.get(&key)?.clone();
    binding["spec"]["version"] = json!(version);
    Some(binding)
}

fuzz_target!(|data: &[u8]| {
    let base = NativeKratixDefault::new(vec![]);
    let policy = Scripted {
        id: PolicyId {
            name: "scripted".into(),
            digest: "native".into(),
        },
        info: base.info().clone(),
        script: Mutex::new((data.to_vec(), 0)),
    };
    let mut sim = Simulation::new(Arc::new(policy), 1_700_000_000_000, WorkflowMode::Auto);
    sim.fail_versions = vec!["v0.2.0".into()];
    let mut steps = vec![
        promise("v0.1.0", "a:1"),
        request("a"),
        request("b"),
        promise("v0.2.0", "a:2"),
    ];
    let step = |sim: &mut Simulation, object: Value| {
        if sim.store.apply(object, false).is_ok() {
            // A scripted policy may flap forever; that ends the run, it is
            // not a host bug. Panics are.
            let _ = sim.settle();
        }
    };
    for object in steps.drain(..) {
        step(&mut sim, object);
    }
    if let Some(b) = edit(&sim, "b", "v0.1.0") {
        step(&mut sim, b);
    }
    step(&mut sim, promise("v0.3.0", "a:3"));
    step(&mut sim, promise("v0.3.0", "a:4"));
    if let Some(b) = edit(&sim, "a", "v0.3.0") {
        step(&mut sim, b);
    }

    for binding in sim.store.list("ResourceBinding") {
        let version = binding["spec"]["version"].as_str().unwrap_or_default();
        assert!(
            version == "latest" || VERSIONS.contains(&version),
            "a binding ended at {version:?}, which has no revision"
        );
    }
});
