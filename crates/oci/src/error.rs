use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("invalid OCI reference {reference:?}: {reason}")]
    Reference { reference: String, reason: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the policy cache {path}: {source}")]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("docker config {path}: {reason}")]
    Credentials { path: PathBuf, reason: String },
    #[error("custom CA {path}: {reason}")]
    Ca { path: PathBuf, reason: String },
    #[error("registry {registry}: {reason}")]
    Registry { registry: String, reason: String },
    #[error("{reference} is not a wasm policy artifact: {reason}")]
    NotAPolicy { reference: String, reason: String },
    #[error("{reference}: {what} digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        reference: String,
        what: &'static str,
        expected: String,
        actual: String,
    },
    #[error("cannot start the registry client's runtime: {0}")]
    Runtime(std::io::Error),
}
