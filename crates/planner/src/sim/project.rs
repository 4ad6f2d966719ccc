//! `kbind plan`'s projection: what a policy would do to a cluster from now
//! on. The cluster's objects (a snapshot) go into the simulator; workflows
//! are assumed to succeed a fixed time after they start; the clock jumps
//! from one due time to the next (a policy's re-check, a retry, the end of a
//! workflow), through soaks and windows, until nothing is due or the horizon
//! is reached. Nothing is written anywhere but the simulator's memory.

use std::sync::Arc;

use serde::Serialize;

use kbind_contract::policy::Policy;
use kbind_model::api::RolloutStatus;
use kbind_model::time::rfc3339;

use super::{SimError, Simulation, WorkflowMode, describe};
use crate::store::Store;
use crate::{self as planner, Action, Context, View};

#[derive(Clone, Copy, Debug)]
pub struct ProjectOptions {
    /// How long a workflow runs before it is assumed to succeed.
    pub assume_ms: i64,
    /// How far ahead to project.
    pub horizon_ms: i64,
    /// Most projected steps kept (each is one instant something happened).
    pub max_steps: usize,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Projection {
    pub start: String,
    /// The writes the next reconcile makes, as it would make them now.
    pub next_reconcile: Vec<String>,
    /// Every instant at which something happens, in order.
    pub steps: Vec<Step>,
    pub end: End,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub at: String,
    pub offset_ms: i64,
    pub events: Vec<Happening>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Happening {
    pub regarding: String,
    pub reason: String,
    pub message: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct End {
    pub at: String,
    pub offset_ms: i64,
    /// `settled` (nothing more is due), `horizon` or `too-many-steps`.
    pub why: &'static str,
    /// Rollouts still in progress then, as the policy last reported them.
    pub rollouts: Vec<(String, RolloutStatus)>,
}

/// The writes `planner::plan` makes for every promise of `store` now.
fn next_reconcile(store: &Store, policy: &dyn Policy) -> Vec<String> {
    let workflows = Default::default();
    View::promise_names(store)
        .iter()
        .flat_map(|p| {
            planner::plan(
                &View::build(store, p),
                &Context {
                    policy,
                    workflows: &workflows,
                },
            )
        })
        .filter(Action::is_write)
        .map(|a| describe(&a))
        .collect()
}

pub fn project(
    store: Store,
    policy: Arc<dyn Policy>,
    options: ProjectOptions,
) -> Result<Projection, SimError> {
    let start = store.now;
    let next = next_reconcile(&store, &*policy);
    let mut sim = Simulation::new(policy, start, WorkflowMode::Manual);
    sim.store = store;
    sim.workflow_duration = Some(options.assume_ms);
    let horizon = start.saturating_add(options.horizon_ms);
    let mut steps = Vec::new();
    let mut seen = 0;
    let mut why = "settled";
    sim.settle()?;
    loop {
        if sim.events.len() > seen {
            let now = sim.store.now;
            steps.push(Step {
                at: rfc3339(now),
                offset_ms: now - start,
                events: sim.events[seen..]
                    .iter()
                    .filter_map(|(_, a)| match a {
                        Action::Event {
                            regarding,
                            reason,
                            message,
                            ..
                        } => Some(Happening {
                            regarding: regarding.to_string(),
                            reason: reason.to_string(),
                            message: message.clone(),
                        }),
                        _ => None,
                    })
                    .collect(),
            });
            seen = sim.events.len();
        }
        if steps.len() >= options.max_steps {
            why = "too-many-steps";
            break;
        }
        let now = sim.store.now;
        let Some(due) = sim.next_due().into_iter().filter(|t| *t > now).min() else {
            break;
        };
        if due > horizon {
            why = "horizon";
            break;
        }
        sim.store.now = due;
        sim.settle()?;
    }
    let rollouts = sim
        .store
        .list("Promise")
        .filter_map(|p| {
            let name = p.pointer("/metadata/name")?.as_str()?.to_string();
            let list: Vec<RolloutStatus> =
                serde_json::from_value(p.pointer("/status/rollouts")?.clone()).ok()?;
            Some(list.into_iter().map(move |r| (name.clone(), r)))
        })
        .flatten()
        .collect();
    Ok(Projection {
        start: rfc3339(start),
        next_reconcile: next,
        steps,
        end: End {
            at: rfc3339(sim.store.now),
            offset_ms: sim.store.now - start,
            why,
            rollouts,
        },
    })
}
