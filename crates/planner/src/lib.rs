//! The pure planner: a view of one promise (revisions, requests, bindings,
//! workflow Jobs) plus the current time and a policy, in; ordered actions
//! out. No I/O and no clock: the same view gives the same plan. Kratix's
//! rules (`docs/rules.md`, R-01…R-83) live here, each branch named after its
//! rule; the policy decides what DESIGN.md gives it, and the host's safety
//! rails check every answer.
//!
//! A plan is one reconcile step per object. Executing it changes the view,
//! and planning again continues the work; a view that plans no writes is
//! quiescent.

mod convert;
pub mod pipeline_rbac;
mod promise;
/// The host's checks on every policy answer.
mod rails;
mod request;
pub mod request_crd;
pub mod rollout;
/// `kbind simulate`: scenarios against the planner and the in-memory store.
pub mod sim;
mod status;
/// An in-memory object store with the Kubernetes semantics the planner
/// relies on (the simulator's cluster, the planner's tests).
pub mod store;
pub mod timers;
pub mod view;
pub mod workflow;
pub mod workflow_job;

use serde_json::Value;

use kbind_contract::policy::Policy;
use kbind_model::key::ObjKey;
pub use rails::MAX_MESSAGE_BYTES;
pub use view::{PromiseSeen, RevisionSeen, View};

/// One change to make.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Create {
        object: Value,
        why: &'static str,
    },
    /// Create, or bring an existing object to this content (Kratix's
    /// `applyResources`): objects kbind shares between requests, such as a
    /// workflow's ServiceAccount and roles. Repeats of an object already
    /// applied with the same content are not sent again (for a while).
    Apply {
        object: Value,
        why: &'static str,
    },
    /// JSON merge patch of metadata/spec.
    Patch {
        key: ObjKey,
        patch: Value,
        why: &'static str,
    },
    /// JSON merge patch of the status subresource.
    PatchStatus {
        key: ObjKey,
        patch: Value,
        why: &'static str,
    },
    Delete {
        key: ObjKey,
        why: &'static str,
    },
    Event {
        regarding: ObjKey,
        warning: bool,
        reason: &'static str,
        message: String,
    },
}

impl Action {
    pub fn is_write(&self) -> bool {
        !matches!(self, Action::Event { .. })
    }
}

/// Everything a plan step needs besides the view.
pub struct Context<'a> {
    pub policy: &'a dyn Policy,
    pub workflows: &'a workflow::WorkflowSettings,
}

/// Plans one step for the whole promise.
pub fn plan(view: &View, ctx: &Context<'_>) -> Vec<Action> {
    let mut actions = plan_promise(view, ctx);
    actions.extend(plan_requests(view, ctx));
    actions
}

/// The promise-level rules only: revisions, the latest marker, revision and
/// promise deletion, policy upgrade planning. Needs every request and
/// binding of the promise in the view.
pub fn plan_promise(view: &View, ctx: &Context<'_>) -> Vec<Action> {
    let mut actions = Vec::new();
    promise::plan(view, ctx, &mut actions);
    actions
}

/// The request-level rules for the requests and bindings in the view. A
/// view holding one request with its bindings and Jobs (and the promise and
/// its revisions) plans exactly that request, which is how the operator
/// reconciles one request without reading the others.
pub fn plan_requests(view: &View, ctx: &Context<'_>) -> Vec<Action> {
    let mut actions = Vec::new();
    for request in &view.requests {
        request::plan(view, ctx, request, &mut actions);
    }
    request::plan_orphans(view, &mut actions);
    actions
}

fn event(
    regarding: &ObjKey,
    warning: bool,
    reason: &'static str,
    message: impl Into<String>,
) -> Action {
    Action::Event {
        regarding: regarding.clone(),
        warning,
        reason,
        message: rails::bounded(message.into()),
    }
}
