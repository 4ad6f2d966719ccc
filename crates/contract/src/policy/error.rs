use std::path::PathBuf;
use std::time::Duration;

use super::PolicyId;
use crate::{CONTRACT_PACKAGE, CONTRACT_VERSION, DECISIONS_INTERFACE};

/// Everything that can go wrong loading a policy or asking it for a decision.
/// Each variant names the policy (or the file) so the message stands alone in
/// an Event or a log line.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{origin} has sha256 {actual}, but {expected} was expected; refusing to load it \
         (update the pinned digest if this policy is the one you meant to ship)"
    )]
    DigestMismatch {
        origin: String,
        expected: String,
        actual: String,
    },

    #[error("{origin} is not a valid WebAssembly component: {reason}")]
    InvalidComponent { origin: String, reason: String },

    #[error(
        "{origin} was built against contract {found}, but this kbind serves \
         {CONTRACT_PACKAGE}@{CONTRACT_VERSION} (compatible: {CONTRACT_PACKAGE}@0.2.x, and \
         {CONTRACT_PACKAGE}@0.1.x through its adapter); rebuild the policy with \
         kbind-policy-sdk {CONTRACT_VERSION}"
    )]
    ContractMismatch { origin: String, found: String },

    #[error(
        "{origin} is not a kbind policy: it does not export {DECISIONS_INTERFACE}@{CONTRACT_VERSION} \
         (its exports: {exports})"
    )]
    NotAPolicy { origin: String, exports: String },

    #[error("{origin} exports {interface} but lacks {}", missing.join(", "))]
    MissingExports {
        origin: String,
        interface: String,
        missing: Vec<String>,
    },

    #[error(
        "{origin} imports {import}, which kbind does not provide \
         (a policy may import only kbind:policy/host and WASI 0.2, which is sandboxed deny-all)"
    )]
    UnsupportedImport { origin: String, import: String },

    #[error("{origin} cannot be linked against the contract: {reason}")]
    Link { origin: String, reason: String },

    #[error("policy {policy} rejected its settings: {reason}")]
    SettingsRejected { policy: PolicyId, reason: String },

    #[error("policy {policy} ran out of fuel in {decision} (budget {budget} units)")]
    FuelExhausted {
        policy: PolicyId,
        decision: &'static str,
        budget: u64,
    },

    #[error("policy {policy} exceeded its deadline of {deadline:?} in {decision}")]
    DeadlineExceeded {
        policy: PolicyId,
        decision: &'static str,
        deadline: Duration,
    },

    #[error("policy {policy} exceeded its memory cap of {limit} bytes in {decision}")]
    MemoryLimit {
        policy: PolicyId,
        decision: &'static str,
        limit: usize,
    },

    #[error(
        "input for {decision} is about {size} bytes, over the cap of {limit} bytes for policy {policy}"
    )]
    InputTooLarge {
        policy: PolicyId,
        decision: &'static str,
        size: usize,
        limit: usize,
    },

    /// The policy aborted: a Rust panic, an uncaught Python exception or
    /// JavaScript error all end in wasm `unreachable`.
    #[error(
        "policy {policy} failed in {decision} ({message}){}",
        stderr_suffix(stderr)
    )]
    Panicked {
        policy: PolicyId,
        decision: &'static str,
        message: String,
        /// The end of what the policy wrote to stderr (a traceback), if any.
        stderr: String,
    },

    #[error(
        "policy {policy} trapped in {decision}: {message}{}",
        stderr_suffix(stderr)
    )]
    Trap {
        policy: PolicyId,
        decision: &'static str,
        message: String,
        /// The end of what the policy wrote to stderr, if any.
        stderr: String,
    },

    #[error("policy {policy} returned an error from {decision}: {message}")]
    Declined {
        policy: PolicyId,
        decision: &'static str,
        message: String,
    },

    #[error("cannot start the wasm engine: {0}")]
    Engine(String),
}

/// How much of a failed policy's stderr its message carries: the end,
/// where a traceback names the exception, within the 1 KiB an Event keeps.
/// The whole of it (up to the engine's 16 KiB) stays in the `stderr` field.
const STDERR_SHOWN: usize = 768;

/// What a failed policy wrote to stderr, set off from the error itself.
fn stderr_suffix(stderr: &str) -> String {
    let stderr = stderr.trim_end();
    if stderr.is_empty() {
        return String::new();
    }
    if stderr.len() <= STDERR_SHOWN {
        return format!("; the policy's stderr:\n{stderr}");
    }
    let mut start = stderr.len() - STDERR_SHOWN;
    while !stderr.is_char_boundary(start) {
        start += 1;
    }
    format!("; the end of the policy's stderr:\n…{}", &stderr[start..])
}

impl PolicyError {
    /// A stable label for metrics and Event reasons.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Read { .. } => "read",
            Self::DigestMismatch { .. } => "digest_mismatch",
            Self::InvalidComponent { .. } => "invalid_component",
            Self::ContractMismatch { .. } => "contract_mismatch",
            Self::NotAPolicy { .. } => "not_a_policy",
            Self::MissingExports { .. } => "missing_exports",
            Self::UnsupportedImport { .. } => "unsupported_import",
            Self::Link { .. } => "link",
            Self::SettingsRejected { .. } => "settings_rejected",
            Self::FuelExhausted { .. } => "fuel_exhausted",
            Self::DeadlineExceeded { .. } => "deadline_exceeded",
            Self::MemoryLimit { .. } => "memory_limit",
            Self::InputTooLarge { .. } => "input_too_large",
            Self::Panicked { .. } => "panicked",
            Self::Trap { .. } => "trap",
            Self::Declined { .. } => "declined",
            Self::Engine(_) => "engine",
        }
    }

    /// True for failures of the policy itself while deciding (as opposed to
    /// failures to load it): the binding stays as it was and the next
    /// decision is attempted normally.
    pub fn is_decision_failure(&self) -> bool {
        matches!(
            self,
            Self::FuelExhausted { .. }
                | Self::DeadlineExceeded { .. }
                | Self::MemoryLimit { .. }
                | Self::InputTooLarge { .. }
                | Self::Panicked { .. }
                | Self::Trap { .. }
                | Self::Declined { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_stderr_shows_its_end() {
        let traceback = format!(
            "{}\nValueError: the end",
            "  File \"app.py\", line 1\n".repeat(100)
        );
        let shown = stderr_suffix(&traceback);
        assert!(shown.ends_with("ValueError: the end"), "{shown}");
        assert!(shown.len() < STDERR_SHOWN + 64, "{}", shown.len());
        assert_eq!(stderr_suffix("short\n"), "; the policy's stderr:\nshort");
        assert_eq!(stderr_suffix(" \n"), "");
    }
}
