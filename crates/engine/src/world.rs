//! Checks that a component is a kbind policy before linking it, so that a
//! wrong contract version, a missing export or an unknown import gets a
//! message that says exactly that.

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use kbind_contract::policy::PolicyError;
use kbind_contract::{
    CONTRACT_PACKAGE, CONTRACT_VERSION, Contract, DECISION_FUNCTIONS, DECISIONS_INTERFACE,
};

/// What a component imports and exports, as names.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ComponentShape {
    /// The contract version its `decisions` export was built against.
    pub contract_version: String,
    /// How this host serves it: natively, or through the 0.1 adapter.
    pub contract: Contract,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// True if it imports any WASI interface (served deny-all).
    pub imports_wasi: bool,
}

/// Splits `ns:pkg/iface@1.2.3` into (`ns:pkg/iface`, `1.2.3`).
fn split_version(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once('@') {
        Some((base, version)) => (base, Some(version)),
        None => (name, None),
    }
}

/// Import and export names of any component, policy or not.
pub(crate) fn names(engine: &Engine, component: &Component) -> (Vec<String>, Vec<String>) {
    let ty = component.component_type();
    (
        ty.imports(engine).map(|(n, _)| n.to_string()).collect(),
        ty.exports(engine).map(|(n, _)| n.to_string()).collect(),
    )
}

/// Checks the component against the contract this host serves.
pub(crate) fn check(
    engine: &Engine,
    component: &Component,
    origin: &str,
) -> Result<ComponentShape, PolicyError> {
    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    let exports: Vec<(String, ComponentItem)> = ty
        .exports(engine)
        .map(|(n, e)| (n.to_string(), e.ty))
        .collect();

    let decisions = exports
        .iter()
        .find(|(name, _)| split_version(name).0 == DECISIONS_INTERFACE);
    let Some((export_name, item)) = decisions else {
        let names: Vec<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
        if let Some(other) = names.iter().find(|n| n.starts_with(CONTRACT_PACKAGE)) {
            let found = split_version(other).1.unwrap_or("an unversioned package");
            return Err(PolicyError::ContractMismatch {
                origin: origin.into(),
                found: format!("{CONTRACT_PACKAGE}@{found}"),
            });
        }
        return Err(PolicyError::NotAPolicy {
            origin: origin.into(),
            exports: if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            },
        });
    };

    let version = split_version(export_name).1.unwrap_or("");
    let Some(contract) = Contract::of_version(version) else {
        return Err(PolicyError::ContractMismatch {
            origin: origin.into(),
            found: format!(
                "{CONTRACT_PACKAGE}@{}",
                if version.is_empty() {
                    "(none)"
                } else {
                    version
                }
            ),
        });
    };

    let ComponentItem::ComponentInstance(instance) = item else {
        return Err(PolicyError::NotAPolicy {
            origin: origin.into(),
            exports: format!("{export_name} (not an interface)"),
        });
    };
    let functions: Vec<&str> = instance.exports(engine).map(|(n, _)| n).collect();
    let missing: Vec<String> = DECISION_FUNCTIONS
        .iter()
        .filter(|f| !functions.contains(f))
        .map(|f| f.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(PolicyError::MissingExports {
            origin: origin.into(),
            interface: export_name.clone(),
            missing,
        });
    }

    let mut imports_wasi = false;
    for import in &imports {
        let (base, version) = split_version(import);
        if base.starts_with("wasi:") && version.is_some_and(|v| v.starts_with("0.2.")) {
            imports_wasi = true;
        } else if !base.starts_with(&format!("{CONTRACT_PACKAGE}/")) {
            return Err(PolicyError::UnsupportedImport {
                origin: origin.into(),
                import: import.clone(),
            });
        }
    }

    Ok(ComponentShape {
        contract_version: if version.is_empty() {
            CONTRACT_VERSION.into()
        } else {
            version.into()
        },
        contract,
        imports,
        exports: exports.into_iter().map(|(n, _)| n).collect(),
        imports_wasi,
    })
}
