//! The `Policy` trait the planner talks to, and what a decision returns.
//!
//! The wasm engine (kbind's `engine`) is the production implementation; a
//! native implementation of `kratix-default` (`native`) exists to measure the
//! engine's overhead and to cross-check its answers.

mod error;
pub mod native;

use std::fmt;
use std::time::Duration;

use crate::*;
pub use error::PolicyError;

/// Which policy answered: its metadata name and the sha256 of its component.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyId {
    pub name: String,
    /// Lowercase hex sha256 of the component bytes (`native` for native code).
    pub digest: String,
}

impl PolicyId {
    /// The first 12 hex digits, enough to tell policies apart in messages.
    pub fn short_digest(&self) -> &str {
        &self.digest[..self.digest.len().min(12)]
    }
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.digest == "native" {
            write!(f, "{} (native)", self.name)
        } else {
            write!(f, "{} (sha256:{})", self.name, self.short_digest())
        }
    }
}

/// A decision with what it cost.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Decided<T> {
    pub value: T,
    /// Wasm fuel consumed (0 for native policies).
    pub fuel: u64,
    /// Wall-clock time of the call, instantiation included.
    #[serde(with = "duration_micros")]
    pub elapsed: Duration,
}

mod duration_micros {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_micros() as u64)
    }
}

/// The decision points of the contract. Implementations must be pure: the
/// same input gives the same answer.
pub trait Policy: Send + Sync {
    fn id(&self) -> &PolicyId;
    fn info(&self) -> &PolicyInfo;
    /// The settings the policy was loaded with (already validated).
    fn settings(&self) -> &[Setting];

    fn initial_version(
        &self,
        input: &InitialVersionInput,
    ) -> Result<Decided<VersionChoice>, PolicyError>;
    fn plan_upgrades(&self, input: &PlanInput) -> Result<Decided<UpgradePlan>, PolicyError>;
    fn review_edit(&self, input: &EditInput) -> Result<Decided<Review>, PolicyError>;
    fn after_failure(&self, input: &FailureInput) -> Result<Decided<FailureDecision>, PolicyError>;
    fn rerun_on_spec_change(
        &self,
        input: &SpecChangeInput,
    ) -> Result<Decided<RerunSelection>, PolicyError>;
}
