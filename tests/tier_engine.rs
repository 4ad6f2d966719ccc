//! The engine tier: real wasm components through wasmtime — the engine's
//! contract and limits, misbehaving policies, the policy suites, the
//! native/wasm differential and every scenario. No server. One test binary
//! for the tier (each file is a module), so the suite links once.

mod support;

#[path = "differential.rs"]
mod differential;
#[path = "engine.rs"]
mod engine;
#[path = "policy_faults.rs"]
mod policy_faults;
#[path = "policy_suites.rs"]
mod policy_suites;
#[path = "polyglot.rs"]
mod polyglot;
#[path = "projection.rs"]
mod projection;
#[path = "scaffold.rs"]
mod scaffold;
#[path = "scenarios.rs"]
mod scenarios;
