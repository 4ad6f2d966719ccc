//! Builders for policy unit tests. Policies run natively under `cargo test`
//! by calling their `Policy` methods with inputs built here; no wasm needed.
//!
//! ```
//! use kbind_policy_sdk::testing::*;
//! let p = promise("redis").revision("v0.1.0").latest("v0.2.0").build();
//! let b = binding("default", "example", "v0.1.0").applied("v0.1.0");
//! assert_eq!(p.revisions.len(), 2);
//! assert_eq!(b.version, "v0.1.0");
//! ```

use alloc::format;
use alloc::vec::Vec;

use crate::bindings::kbind::policy::types::*;

/// A fixed instant (2026-01-01T00:00:00Z) for deterministic tests.
pub const NOW: Timestamp = 1_767_225_600_000;

pub struct PromiseBuilder {
    promise: Promise,
}

/// Starts a promise with no revisions.
pub fn promise(name: &str) -> PromiseBuilder {
    PromiseBuilder {
        promise: Promise {
            name: name.into(),
            revisions: Vec::new(),
            labels: Vec::new(),
            annotations: Vec::new(),
        },
    }
}

impl PromiseBuilder {
    /// Adds a non-latest revision.
    pub fn revision(self, version: &str) -> Self {
        self.push(version, false)
    }

    /// Adds the revision marked `status.latest`.
    pub fn latest(self, version: &str) -> Self {
        self.push(version, true)
    }

    fn push(mut self, version: &str, latest: bool) -> Self {
        let created_at = NOW + self.promise.revisions.len() as i64 * 1000;
        self.promise.revisions.push(Revision {
            name: format!("{}-{}", self.promise.name, version),
            version: version.into(),
            latest,
            created_at,
        });
        self
    }

    /// Adds an annotation to the Promise.
    pub fn annotated(mut self, key: &str, value: &str) -> Self {
        self.promise.annotations.push(kv(key, value));
        self
    }

    /// Adds a label to the Promise.
    pub fn labelled(mut self, key: &str, value: &str) -> Self {
        self.promise.labels.push(kv(key, value));
        self
    }

    pub fn build(self) -> Promise {
        self.promise
    }
}

/// A request with no labels or annotations.
pub fn request(namespace: &str, name: &str) -> Request {
    Request {
        namespace: namespace.into(),
        name: name.into(),
        labels: Vec::new(),
        annotations: Vec::new(),
    }
}

/// A fresh binding of request `<namespace>/<name>` at `version`.
pub fn binding(namespace: &str, name: &str, version: &str) -> Binding {
    Binding {
        namespace: namespace.into(),
        name: format!("{name}-binding"),
        request: request(namespace, name),
        version: version.into(),
        last_applied_version: None,
        in_flight_version: None,
        failed_version: None,
        failed_versions: Vec::new(),
        state: UpgradeState::None,
        labels: Vec::new(),
        annotations: Vec::new(),
        last_succeeded_at: None,
        last_failed_at: None,
    }
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
    }
}

impl Binding {
    /// Marks `version` as successfully applied.
    pub fn applied(mut self, version: &str) -> Self {
        self.last_applied_version = Some(version.into());
        self.state = UpgradeState::Succeeded;
        self
    }

    /// Marks an upgrade to `version` as failed.
    pub fn failed(mut self, version: &str) -> Self {
        self.failed_version = Some(version.into());
        self.failed_versions.push(version.into());
        self.state = UpgradeState::Failed;
        self
    }

    /// Says when the last upgrade succeeded.
    pub fn succeeded_at(mut self, at: Timestamp) -> Self {
        self.last_succeeded_at = Some(at);
        self
    }

    /// Says when the last upgrade failed.
    pub fn failed_at(mut self, at: Timestamp) -> Self {
        self.last_failed_at = Some(at);
        self
    }

    /// Adds a label to the binding's request.
    pub fn request_labelled(mut self, key: &str, value: &str) -> Self {
        self.request.labels.push(kv(key, value));
        self
    }

    /// Marks an upgrade to `version` as running.
    pub fn in_flight(mut self, version: &str) -> Self {
        self.in_flight_version = Some(version.into());
        self.state = UpgradeState::InProgress;
        self
    }

    /// Adds an annotation to the binding.
    pub fn annotated(mut self, key: &str, value: &str) -> Self {
        self.annotations.push(kv(key, value));
        self
    }

    /// Adds an annotation to the binding's request.
    pub fn request_annotated(mut self, key: &str, value: &str) -> Self {
        self.request.annotations.push(kv(key, value));
        self
    }
}

/// Scalar settings from `(name, value)` pairs.
pub fn settings(pairs: &[(&str, &str)]) -> Vec<Setting> {
    pairs
        .iter()
        .map(|(name, value)| Setting::text(*name, *value))
        .collect()
}
