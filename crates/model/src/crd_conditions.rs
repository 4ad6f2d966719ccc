//! What a CustomResourceDefinition's conditions say about its kind, read
//! the same way by the embedded server (which writes them) and by the
//! operator (which waits on them).

use serde_json::Value;

pub const NAMES_ACCEPTED: &str = "NamesAccepted";
pub const ESTABLISHED: &str = "Established";

/// The condition of this type, if the CRD has one.
pub fn condition<'v>(crd: &'v Value, type_: &str) -> Option<&'v Value> {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == type_)
}

/// The condition of this type is `True`.
pub fn condition_true(crd: &Value, type_: &str) -> bool {
    condition(crd, type_).is_some_and(|c| c["status"] == "True")
}

/// The API server serves the CRD's kind: its names are accepted, or it was
/// established before (what the real `crdHandler` checks).
pub fn served(crd: &Value) -> bool {
    condition_true(crd, NAMES_ACCEPTED) || condition_true(crd, ESTABLISHED)
}

/// The CRD is established: its kind is in discovery and stays served.
pub fn established(crd: &Value) -> bool {
    condition_true(crd, ESTABLISHED)
}
