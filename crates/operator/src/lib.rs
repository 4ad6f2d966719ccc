//! The operator: watches, a work queue and workers that run the planner
//! against a Kubernetes API (the embedded server or a cluster), with leader
//! election, metrics and policy hot swap.

pub mod access;
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
mod run;
pub mod throttle;

pub use cache::WorkKey;
pub use compat::install_crds;
pub use controller::{Controller, ControllerOptions};
pub use executor::{ExecError, KubeExecutor};
pub use run::{OperatorError, OperatorOptions, SimulatedRunner, run};
