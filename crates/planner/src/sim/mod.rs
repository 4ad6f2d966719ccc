//! `kbind simulate`: scenarios run through the planner and a policy against
//! the in-memory store, step by step, to quiescence after every mutating
//! step. Which policy runs is the caller's business (`scenario::PolicyLoader`):
//! the simulator never loads wasm itself.

pub mod project;
pub mod scenario;
pub mod snapshot;

use std::sync::Arc;

use serde_json::{Value, json};

use kbind_contract::policy::Policy;
use kbind_model::key::ObjKey;

use crate::store::{Store, StoreError};
use crate::workflow_job::KIND as JOB_KIND;
use crate::{self as planner, Action, Context, View};

/// Most plan/execute rounds one step may take before it is called divergent.
pub const MAX_ROUNDS: usize = 200;

/// Most timers one `advance` may stop at (a policy re-checking every few
/// seconds over a day would pass it).
pub const MAX_TIMER_STOPS: usize = 100_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkflowMode {
    /// Workflows run until a `workflow` step ends them.
    #[default]
    Manual,
    /// Every workflow succeeds at once (except at `failVersions`).
    Auto,
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("did not settle after {MAX_ROUNDS} rounds; still planning: {0}")]
    Diverged(String),
    #[error("{0}")]
    Step(String),
}

/// A cluster in memory with kbind's planner running against it.
pub struct Simulation {
    pub store: Store,
    policy: Arc<dyn Policy>,
    pub mode: WorkflowMode,
    /// In auto mode, workflows at these versions fail.
    pub fail_versions: Vec<String>,
    /// Every write the planner made, in order (for invariant checks).
    pub journal: Vec<Action>,
    pub workflows: crate::workflow::WorkflowSettings,
    /// Checked after every round of planning; an error ends the step.
    pub invariant: Option<Invariant>,
    /// Workflows succeed (or fail, at `fail_versions`) this many ms after
    /// their Job was created, and `advance_to` stops when one is due.
    pub workflow_duration: Option<i64>,
    /// Every Event recorded, with the time (for projections).
    pub events: Vec<(i64, Action)>,
}

/// A condition on the store that must hold between any two rounds.
pub type Invariant = Box<dyn Fn(&Store) -> Result<(), String>>;

impl Simulation {
    pub fn new(policy: Arc<dyn Policy>, now: i64, mode: WorkflowMode) -> Self {
        Self {
            store: Store::new(now),
            policy,
            mode,
            fail_versions: vec![],
            journal: vec![],
            workflows: Default::default(),
            invariant: None,
            workflow_duration: None,
            events: vec![],
        }
    }

    /// An operator restart: a fresh policy; the cluster's objects are all
    /// that carries over (the planner keeps nothing between rounds).
    pub fn restart(&mut self, policy: Arc<dyn Policy>) {
        self.policy = policy;
    }

    pub fn policy(&self) -> &dyn Policy {
        &*self.policy
    }

    /// Plans and executes until nothing is left to write.
    pub fn settle(&mut self) -> Result<(), SimError> {
        for _ in 0..MAX_ROUNDS {
            let mut wrote = false;
            let mut last = vec![];
            for promise in View::promise_names(&self.store) {
                let view = View::build(&self.store, &promise);
                let actions = planner::plan(
                    &view,
                    &Context {
                        policy: &*self.policy,
                        workflows: &self.workflows,
                    },
                );
                for action in actions {
                    if action.is_write() {
                        wrote = true;
                        last.push(describe(&action));
                    }
                    self.execute(action)?;
                }
            }
            if let Some(invariant) = &self.invariant {
                invariant(&self.store).map_err(|broken| {
                    SimError::Step(format!(
                        "invariant broken after {}: {broken}",
                        if last.is_empty() {
                            "no write".into()
                        } else {
                            last.join("; ")
                        }
                    ))
                })?;
            }
            if self.mode == WorkflowMode::Auto {
                wrote |= self.finish_running_jobs()?;
            }
            if let Some(duration) = self.workflow_duration {
                wrote |= self.finish_jobs_due(duration)?;
            }
            if !wrote {
                return Ok(());
            }
            if last.len() > 20 {
                last.truncate(20);
            }
            if self.journal.len() > 1_000_000 {
                return Err(SimError::Diverged(last.join("; ")));
            }
        }
        let view_actions: Vec<String> = View::promise_names(&self.store)
            .iter()
            .flat_map(|p| {
                planner::plan(
                    &View::build(&self.store, p),
                    &Context {
                        policy: &*self.policy,
                        workflows: &self.workflows,
                    },
                )
            })
            .filter(Action::is_write)
            .map(|a| describe(&a))
            .take(10)
            .collect();
        Err(SimError::Diverged(view_actions.join("; ")))
    }

    /// Moves the clock to `target`, stopping at every timer due on the way
    /// (an upgrade check, a retry) and settling there, as the operator
    /// would wake at each; then settles at `target`.
    pub fn advance_to(&mut self, target: i64) -> Result<(), SimError> {
        // The clock never runs backwards.
        let target = target.max(self.store.now);
        for _ in 0..MAX_TIMER_STOPS {
            let now = self.store.now;
            let due = self
                .next_due()
                .into_iter()
                .filter(|t| *t > now && *t <= target)
                .min();
            let Some(due) = due else {
                self.store.now = target;
                return self.settle();
            };
            self.store.now = due;
            self.settle()?;
        }
        Err(SimError::Step(format!(
            "more than {MAX_TIMER_STOPS} timers fell due before the clock reached the target"
        )))
    }

    /// Every time something is due: the planner's timers and, with a
    /// workflow duration, the end of each running workflow.
    pub fn next_due(&self) -> Vec<i64> {
        let mut due: Vec<i64> = View::promise_names(&self.store)
            .iter()
            .filter_map(|p| crate::timers::next(&View::build(&self.store, p)))
            .collect();
        if let Some(duration) = self.workflow_duration {
            due.extend(
                self.running_jobs()
                    .iter()
                    .filter_map(|(key, _)| self.store.get(key))
                    .filter_map(job_created)
                    .map(|t| t.saturating_add(duration)),
            );
        }
        due
    }

    /// Ends the workflows that have run `duration` by now.
    fn finish_jobs_due(&mut self, duration: i64) -> Result<bool, SimError> {
        let now = self.store.now;
        let due: Vec<(ObjKey, String)> = self
            .running_jobs()
            .into_iter()
            .filter(|(key, _)| {
                self.store
                    .get(key)
                    .and_then(job_created)
                    .is_some_and(|t| t.saturating_add(duration) <= now)
            })
            .collect();
        for (key, version) in &due {
            let fail = self.fail_versions.contains(version);
            self.complete_job(key, !fail, &format!("assumed to fail at {version}"))?;
        }
        Ok(!due.is_empty())
    }

    fn execute(&mut self, action: Action) -> Result<(), SimError> {
        match &action {
            Action::Create { object, .. } => {
                self.store.create(object.clone())?;
            }
            Action::Apply { object, .. } => match self.store.create(object.clone()) {
                Err(StoreError::AlreadyExists(key)) => self.store.patch(&key, object, false)?,
                other => {
                    other?;
                }
            },
            Action::Patch { key, patch, .. } => self.store.patch(key, patch, false)?,
            Action::PatchStatus { key, patch, .. } => self.store.patch(key, patch, true)?,
            Action::Delete { key, .. } => match self.store.delete(key) {
                Ok(()) | Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            },
            Action::Event {
                regarding,
                warning,
                reason,
                message,
            } => {
                self.store.event(
                    regarding,
                    if *warning { "Warning" } else { "Normal" },
                    reason,
                    message,
                );
                self.events.push((self.store.now, action.clone()));
            }
        }
        if action.is_write() {
            self.journal.push(action);
        }
        Ok(())
    }

    fn running_jobs(&self) -> Vec<(ObjKey, String)> {
        self.store
            .list(JOB_KIND)
            .filter(|j| is_running(j))
            .filter_map(|j| {
                let version = j
                    .pointer("/metadata/labels/kbind.io~1promise-version")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                Some((ObjKey::of(j)?, version))
            })
            .collect()
    }

    fn finish_running_jobs(&mut self) -> Result<bool, SimError> {
        let running = self.running_jobs();
        for (key, version) in &running {
            let fail = self.fail_versions.contains(version);
            self.complete_job(key, !fail, &format!("simulated failure at {version}"))?;
        }
        Ok(!running.is_empty())
    }

    fn complete_job(&mut self, key: &ObjKey, success: bool, message: &str) -> Result<(), SimError> {
        let status = if success {
            json!({"status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}})
        } else {
            json!({"status": {"failed": 1, "conditions": [{"type": "Failed", "status": "True", "message": message}]}})
        };
        Ok(self.store.patch(key, &status, true)?)
    }

    /// Ends the running workflow of a request.
    pub fn finish_workflow(
        &mut self,
        request: &ObjKey,
        success: bool,
        message: &str,
    ) -> Result<(), SimError> {
        let label = kbind_model::naming::resource_name_label(&request.name);
        let job = self
            .store
            .list(JOB_KIND)
            .filter(|j| {
                j.pointer("/metadata/namespace").and_then(Value::as_str)
                    == Some(request.namespace.as_str())
                    && j.pointer("/metadata/labels/kratix.io~1resource-name")
                        .and_then(Value::as_str)
                        == Some(label.as_str())
                    && is_running(j)
            })
            .filter_map(|j| {
                let seq = j
                    .pointer("/metadata/annotations/kbind.io~1sequence")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0);
                Some((seq, ObjKey::of(j)?))
            })
            .max_by_key(|(seq, _)| *seq)
            .map(|(_, key)| key)
            .ok_or_else(|| SimError::Step(format!("no running workflow for {request}")))?;
        self.complete_job(&job, success, message)
    }
}

/// A Job with no Complete or Failed condition set true (a cluster's
/// running Job has a status with `active`; the simulator's has none).
fn is_running(job: &Value) -> bool {
    !job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions.iter().any(|c| {
                matches!(c["type"].as_str(), Some("Complete" | "Failed")) && c["status"] == "True"
            })
        })
}

fn job_created(job: &Value) -> Option<i64> {
    job.pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| kbind_model::time::parse_time(t).ok())
}

pub fn describe(action: &Action) -> String {
    match action {
        Action::Create { object, why } => {
            format!(
                "create {} ({why})",
                ObjKey::of(object)
                    .map(|k| k.to_string())
                    .unwrap_or_default()
            )
        }
        Action::Apply { object, why } => {
            format!(
                "apply {} ({why})",
                ObjKey::of(object)
                    .map(|k| k.to_string())
                    .unwrap_or_default()
            )
        }
        Action::Patch { key, why, .. } => format!("patch {key} ({why})"),
        Action::PatchStatus { key, why, .. } => format!("patch status {key} ({why})"),
        Action::Delete { key, why } => format!("delete {key} ({why})"),
        Action::Event { reason, .. } => format!("event {reason}"),
    }
}
