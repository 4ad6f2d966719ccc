//! kbind: Kratix-style Resource Bindings with revision-selection and upgrade
//! rules in a swappable WebAssembly policy.
//!
//! The layers below this crate are crates of their own (`crates/`); they
//! are re-exported here under the module names the code and tests use.

/// The embedded Kubernetes API server.
pub use kbind_apiserver as apiserver;
/// What a policy author runs offline: eval, suites, inspect.
pub use kbind_authoring as authoring;
pub use kbind_authoring::{eval, inspect, suite};
/// The policy contract's types (`wit/policy.wit`).
pub use kbind_contract as contract;
/// The `Policy` trait, decisions and their errors, the native reference policy.
pub use kbind_contract::policy;
/// Loading, validating, caching and running wasm policies.
pub use kbind_engine as engine;
/// The policies shipped inside the binary.
pub use kbind_engine::shipped;
pub use kbind_model::{api, key, naming, patch, subset, time, yaml};
/// Policies in OCI registries.
pub use kbind_oci as oci;
/// The planner against a Kubernetes API through kube-rs.
pub use kbind_operator as operator;
pub use kbind_operator::{demo, pipeline_adapter};
/// The pure planner: Kratix's binding rules as a function of state.
pub use kbind_planner as planner;
/// `kbind simulate`: scenarios against the planner and an in-memory store.
pub use kbind_planner::sim;
/// An in-memory object store with Kubernetes semantics.
pub use kbind_planner::store;
