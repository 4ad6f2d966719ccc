//! The operator: watches, a work queue and workers that run the planner
//! against a Kubernetes API (the embedded server or a cluster), with leader
//! election, metrics and policy hot swap.

pub mod access;
pub mod api_error;
mod cache;
pub mod compat;
mod controller;
/// `kbind sandbox --demo`: the user story against a running operator.
pub mod demo;
pub mod executor;
pub mod hot_swap;
pub mod leader;
pub mod metrics;
/// `kbind pipeline`: the helper containers of a workflow's pod.
pub mod pipeline_adapter;
mod queue;
mod retry;
mod run;
mod runner;
pub mod throttle;

/// The field manager every write of kbind names (`fieldManager`), so
/// `managedFields` and server-side apply conflicts say which fields are
/// kbind's, as a controller's own name does.
pub const FIELD_MANAGER: &str = "kbind";

/// `fieldManager=kbind` for a create or update.
pub fn post_params() -> kube::api::PostParams {
    kube::api::PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..kube::api::PostParams::default()
    }
}

/// `fieldManager=kbind` for a (merge) patch.
pub fn patch_params() -> kube::api::PatchParams {
    kube::api::PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..kube::api::PatchParams::default()
    }
}

pub use cache::WorkKey;
pub use compat::{InstallCrdsError, install_crds};
pub use controller::{Controller, ControllerOptions};
pub use executor::{ExecError, KubeExecutor};
pub use run::{OperatorError, OperatorOptions, run};
pub use runner::SimulatedRunner;
