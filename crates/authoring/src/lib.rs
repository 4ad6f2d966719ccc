//! What a policy author runs offline, with the wasm engine and no cluster:
//! one decision from an input file (`kbind eval`), policy test suites and
//! their benchmarks (`kbind test`, `kbind bench`), what a component is
//! (`kbind inspect`) and scenarios with a wasm policy (`kbind simulate`).

/// `kbind eval`: one decision from a YAML/JSON input.
pub mod eval;
/// `kbind inspect`: what a component is.
pub mod inspect;
/// The policy a scenario names, loaded by the engine.
pub mod scenario_policy;
/// `kbind test`: policy test suites.
pub mod suite;
