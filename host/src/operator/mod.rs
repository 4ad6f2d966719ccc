//! Running the planner against a real Kubernetes API (the embedded server or
//! a cluster) through kube-rs: a snapshot of the promise objects becomes the
//! planner's view, and each planned action becomes an API call.
//!
//! This is the executor and a settle loop; the watch-driven controllers,
//! leader election, metrics and hot swap of the operator are issue 5.

mod executor;
mod run;

pub use executor::{ExecError, KubeExecutor};
pub use run::{SimulatedRunner, run};
