//! The offline tier: Kratix's API types, the input parsers, the pure planner
//! and the simulator, with native policies. No wasm, no server. One test
//! binary for the tier (each file is a module), so the suite links once.

mod support;

#[path = "api_types.rs"]
mod api_types;
#[path = "parsers.rs"]
mod parsers;
#[path = "plan_triggers.rs"]
mod plan_triggers;
#[path = "planner_properties.rs"]
mod planner_properties;
#[path = "planner_rails.rs"]
mod planner_rails;
#[path = "workflow_jobs.rs"]
mod workflow_jobs;
