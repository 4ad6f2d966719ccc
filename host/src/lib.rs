//! kbind: Kratix-style Resource Bindings with revision-selection and upgrade
//! rules in a swappable WebAssembly policy.

/// The embedded Kubernetes API server.
pub use kbind_apiserver as apiserver;
pub use kbind_model::{api, key, naming, patch, time, yaml};

/// The policy contract's types (`wit/policy.wit`).
pub use kbind_contract as contract;
/// `kbind sandbox --demo`: the user story against the sandbox.
pub mod demo;
/// Loading, validating, caching and running wasm policies.
pub mod engine;
/// `kbind eval`: one decision from a YAML/JSON input.
pub mod eval;
/// `kbind inspect`: what a component is.
pub mod inspect;
/// The planner against a Kubernetes API through kube-rs.
pub mod operator;
/// The pure planner: Kratix's binding rules as a function of state.
pub mod pipeline_adapter;
pub mod planner;
/// The `Policy` trait, decisions and their errors, the native reference policy.
pub use kbind_contract::policy;
/// The policies shipped inside the binary.
pub mod shipped;
/// `kbind simulate`: scenarios against the planner and an in-memory store.
pub mod sim;
/// An in-memory object store with Kubernetes semantics.
pub mod store;
/// Subset matching of JSON values for expectations.
pub mod subset;
/// `kbind test`: policy test suites.
pub mod suite;
