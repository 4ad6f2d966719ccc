//! `kbind inspect`: what a component is, whether this kbind can serve it,
//! and, if it can, what the policy says about itself.

use kbind_contract::policy::{Policy, PolicyError};
use kbind_contract::{CONTRACT_PACKAGE, CONTRACT_VERSION, PolicyInfo, SERVED_CONTRACTS};
use kbind_engine::{ComponentShape, LoadReport, PolicyEngine, PolicySource};

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspection {
    pub origin: String,
    pub sha256: String,
    pub size: usize,
    /// The contract this kbind speaks.
    pub host_contract: String,
    /// Every contract version it serves, newest first (older ones through
    /// its adapter).
    pub served_contracts: Vec<String>,
    /// Imports and exports, when the component compiled and is a policy.
    pub shape: Option<ComponentShape>,
    /// Import and export names, whenever the component compiled.
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    pub metadata: Option<PolicyInfo>,
    pub load: Option<LoadReport>,
    /// Why the component cannot be served, if it cannot.
    pub error: Option<String>,
    #[serde(skip)]
    pub failure: Option<PolicyError>,
}

pub fn inspect(engine: &PolicyEngine, source: &PolicySource) -> Inspection {
    let mut inspection = Inspection {
        origin: source.origin.clone(),
        sha256: source.sha256(),
        size: source.bytes.len(),
        host_contract: format!("{CONTRACT_PACKAGE}@{CONTRACT_VERSION}"),
        served_contracts: SERVED_CONTRACTS
            .iter()
            .map(|v| format!("{CONTRACT_PACKAGE}@{v}"))
            .collect(),
        shape: None,
        imports: vec![],
        exports: vec![],
        metadata: None,
        load: None,
        error: None,
        failure: None,
    };
    match engine.load(source, None, vec![]) {
        Ok((policy, report)) => {
            inspection.imports = policy.shape().imports.clone();
            inspection.exports = policy.shape().exports.clone();
            inspection.shape = Some(policy.shape().clone());
            inspection.metadata = Some(policy.info().clone());
            inspection.load = Some(report);
        }
        Err(err) => {
            if let Ok((imports, exports)) = engine.names(source) {
                inspection.imports = imports;
                inspection.exports = exports;
            }
            inspection.error = Some(err.to_string());
            inspection.failure = Some(err);
        }
    }
    inspection
}
