//! Random sequences of user and cluster actions against the planner, with
//! the binding invariants checked after every step.

use crate::support;

use std::sync::Arc;

use kbind::api::{LATEST_VERSION, ResourceBinding, annotations, upgrade};
use kbind::key::ObjKey;
use kbind::planner::Action;
use kbind::shipped;
use kbind::sim::{Simulation, WorkflowMode};
use proptest::prelude::*;
use serde_json::{Value, json};

const VERSIONS: [&str; 4] = ["v0.1.0", "v0.2.0", "v0.3.0", "v0.4.0"];
const REQUESTS: [&str; 3] = ["a", "b", "c"];

#[derive(Clone, Debug)]
enum Op {
    Publish(usize, bool),
    CreateRequest(usize),
    EditRequest(usize),
    EditBinding(usize, String),
    DeleteBinding(usize),
    DeleteRequest(usize),
    Workflow(usize, bool),
    DeleteRevision(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let version = prop_oneof![
        (0..VERSIONS.len()).prop_map(|i| VERSIONS[i].to_string()),
        Just(LATEST_VERSION.to_string()),
        Just("v9.9.9".to_string()),
    ];
    prop_oneof![
        (0..VERSIONS.len(), any::<bool>()).prop_map(|(i, p)| Op::Publish(i, p)),
        (0..REQUESTS.len()).prop_map(Op::CreateRequest),
        (0..REQUESTS.len()).prop_map(Op::EditRequest),
        (0..REQUESTS.len(), version).prop_map(|(r, v)| Op::EditBinding(r, v)),
        (0..REQUESTS.len()).prop_map(Op::DeleteBinding),
        (0..REQUESTS.len()).prop_map(Op::DeleteRequest),
        (0..REQUESTS.len(), any::<bool>()).prop_map(|(r, s)| Op::Workflow(r, s)),
        (0..VERSIONS.len()).prop_map(Op::DeleteRevision),
    ]
}

fn promise(version: &str, with_pipeline: bool) -> Value {
    let promise = support::promise(version);
    let promise = if with_pipeline {
        promise.workflows(json!({"resource": {
            "configure": [{"kind": "Pipeline", "metadata": {"name": "configure"}, "spec": {"image": version}}],
            "delete": [{"kind": "Pipeline", "metadata": {"name": "delete"}}],
        }}))
    } else {
        promise.without_workflows()
    };
    promise.build()
}

fn binding_key(request: &str) -> ObjKey {
    ObjKey::new(
        "ResourceBinding",
        "default",
        &kbind::naming::binding_name(request, "redis"),
    )
}

fn request_key(request: &str) -> ObjKey {
    ObjKey::new("redis", "default", request)
}

fn apply(sim: &mut Simulation, op: &Op) {
    let promise_exists = sim
        .store
        .get(&ObjKey::new("Promise", "", "redis"))
        .is_some();
    let _ = match op {
        Op::Publish(i, pipeline) => sim.store.apply(promise(VERSIONS[*i], *pipeline), false).map(|_| ()),
        Op::CreateRequest(r) if promise_exists => sim
            .store
            .apply(
                json!({"apiVersion": "marketplace.kratix.io/v1alpha1", "kind": "redis",
                    "metadata": {"name": REQUESTS[*r], "namespace": "default"}, "spec": {"size": "small"}}),
                false,
            )
            .map(|_| ()),
        Op::CreateRequest(_) => Ok(()),
        Op::EditRequest(r) => sim.store.patch(&request_key(REQUESTS[*r]), &json!({"spec": {"size": format!("{}", sim.store.now)}}), false),
        Op::EditBinding(r, v) => sim.store.patch(&binding_key(REQUESTS[*r]), &json!({"spec": {"version": v}}), false),
        Op::DeleteBinding(r) => sim.store.delete(&binding_key(REQUESTS[*r])),
        Op::DeleteRequest(r) => sim.store.delete(&request_key(REQUESTS[*r])),
        Op::Workflow(r, success) => sim
            .finish_workflow(&request_key(REQUESTS[*r]), *success, "boom")
            .map_err(|_| kbind::store::StoreError::NotFound(request_key(REQUESTS[*r]))),
        Op::DeleteRevision(i) => sim
            .store
            .delete(&ObjKey::new("PromiseRevision", "", &kbind::naming::revision_name("redis", VERSIONS[*i]))),
    };
    sim.store.now += 1000;
}

fn check_invariants(sim: &Simulation, journal_from: usize) -> Result<(), TestCaseError> {
    let store = &sim.store;
    let requests: Vec<&Value> = store.list("redis").collect();
    let bindings: Vec<ResourceBinding> = store
        .list("ResourceBinding")
        .map(|b| serde_json::from_value(b.clone()).unwrap())
        .collect();
    let revision_versions: Vec<String> = store
        .list("PromiseRevision")
        .filter_map(|r| {
            r.pointer("/spec/version")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    // One binding per live request.
    for request in &requests {
        if request.pointer("/metadata/deletionTimestamp").is_some() {
            continue;
        }
        let name = request
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap();
        let count = bindings
            .iter()
            .filter(|b| b.spec.resource_ref.name == name)
            .count();
        prop_assert_eq!(count, 1, "request {} has {} bindings", name, count);
    }
    for b in &bindings {
        // No binding outlives its request.
        let has_request = requests.iter().any(|r| {
            r.pointer("/metadata/name").and_then(Value::as_str)
                == Some(b.spec.resource_ref.name.as_str())
        });
        prop_assert!(has_request, "binding {:?} has no request", b.metadata.name);
        // No binding names a version without a revision unless it says so.
        if b.spec.version != LATEST_VERSION && !revision_versions.contains(&b.spec.version) {
            let condition = b.status.as_ref().and_then(|s| {
                kbind::api::find_condition(&s.conditions, upgrade::CONDITION).cloned()
            });
            prop_assert!(
                condition
                    .as_ref()
                    .is_some_and(|c| c.reason == upgrade::VERSION_NOT_FOUND),
                "binding {:?} names {} with no revision and says {:?}",
                b.metadata.name,
                b.spec.version,
                condition
            );
        }
    }
    // No workflow started without a binding decision: every configure Job
    // created in this step runs a version its request's binding approved.
    for action in &sim.journal[journal_from..] {
        let Action::Create { object, .. } = action else {
            continue;
        };
        if object["kind"] != "Job"
            || object.pointer("/metadata/labels/kratix.io~1workflow-action")
                != Some(&json!("configure"))
        {
            continue;
        }
        let request = object
            .pointer("/metadata/labels/kratix.io~1resource-name")
            .and_then(Value::as_str)
            .unwrap();
        let version = object
            .pointer("/metadata/labels/kbind.io~1promise-version")
            .and_then(Value::as_str)
            .unwrap();
        let binding = bindings
            .iter()
            .find(|b| b.spec.resource_ref.name == request);
        let approved = binding.and_then(|b| {
            b.metadata
                .annotations
                .as_ref()?
                .get(annotations::APPROVED_VERSION)
                .cloned()
        });
        prop_assert!(
            binding.is_some(),
            "workflow for {} without a binding",
            request
        );
        prop_assert!(
            approved.as_deref() == Some(version) || approved.as_deref() == Some(LATEST_VERSION),
            "workflow for {} at {} but the binding approved {:?}",
            request,
            version,
            approved
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("KBIND_PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64), ..ProptestConfig::default() })]

    #[test]
    fn binding_invariants_hold_after_every_step(
        ops in proptest::collection::vec(op(), 1..40),
        pinned in any::<bool>(),
    ) {
        thread_local! {
            static ENGINE: kbind::engine::PolicyEngine = support::engine();
        }
        let settings: &[(&str, &str)] = if pinned { &[("strategy", "pinned")] } else { &[] };
        let policy = ENGINE.with(|e| support::load(e, &shipped::KRATIX_DEFAULT.source(), settings));
        let mut sim = Simulation::new(Arc::new(policy), support::NOW, WorkflowMode::Manual);
        for op in &ops {
            let from = sim.journal.len();
            apply(&mut sim, op);
            sim.settle().map_err(|e| TestCaseError::fail(format!("after {op:?}: {e}")))?;
            check_invariants(&sim, from).map_err(|e| TestCaseError::fail(format!("after {op:?}: {e}")))?;
        }
    }
}
