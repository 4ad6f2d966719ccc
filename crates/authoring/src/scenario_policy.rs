use std::path::Path;
use std::sync::Arc;

use kbind_contract::Setting;
use kbind_contract::policy::Policy;
use kbind_engine::{PolicyEngine, shipped};
use kbind_planner::sim::scenario::{self, PolicyLoader, ScenarioReport};

/// Loads a scenario's policy (a shipped name or a `.wasm` beside the
/// scenario) with the wasm engine.
pub struct EngineLoader<'a>(pub &'a PolicyEngine);

impl PolicyLoader for EngineLoader<'_> {
    fn load(
        &self,
        name: Option<&str>,
        base: &Path,
        settings: Vec<Setting>,
    ) -> Result<Arc<dyn Policy>, String> {
        let source = shipped::resolve_in(name, base).map_err(|e| e.to_string())?;
        let (policy, _) = self
            .0
            .load(&source, None, settings)
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(policy))
    }
}

/// Reads and runs one scenario file with the engine's policies.
pub fn run_file(
    engine: &PolicyEngine,
    file: &Path,
    policy_override: Option<&str>,
) -> ScenarioReport {
    scenario::run_file(&EngineLoader(engine), file, policy_override)
}
