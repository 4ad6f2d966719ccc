//! What every layer of kbind shares, and nothing that runs: Kratix's
//! `platform.kratix.io/v1alpha1` types, the names kbind derives for what it
//! creates, object keys, time and JSON merge patches. No tokio, no kube
//! client, no wasmtime.

/// Kratix's `platform.kratix.io/v1alpha1` types and names.
pub mod api;
/// What a CRD's conditions say about its kind.
pub mod crd_conditions;
/// Object identity: kind, namespace, name.
pub mod key;
/// Kratix's deterministic names for bindings, revisions, Jobs and labels.
pub mod naming;
/// RFC 7386 JSON merge patches.
pub mod patch;
/// Subset matching of JSON values: what an expectation asks of a result.
pub mod subset;
/// Milliseconds since the epoch, and RFC 3339.
pub mod time;
/// YAML parsing with one-line errors.
pub mod yaml;
