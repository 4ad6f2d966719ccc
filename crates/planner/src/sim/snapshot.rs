//! A cluster's kbind-relevant objects at one instant, as `kbind snapshot`
//! writes them and `kbind plan --snapshot` (and a scenario's `snapshot:`)
//! reads them: Promises, PromiseRevisions, the request CRDs and requests,
//! ResourceBindings and workflow Jobs.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use kbind_model::time::Time;

use crate::store::Store;

pub const API_VERSION: &str = "kbind.io/v1alpha1";
pub const KIND: &str = "Snapshot";

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Snapshot {
    pub api_version: String,
    pub kind: String,
    /// When it was taken: the clock a plan from it starts at.
    pub taken_at: Time,
    pub objects: Vec<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read snapshot {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a kbind snapshot: {reason}")]
    Invalid { path: String, reason: String },
}

impl Snapshot {
    pub fn new(taken_at: i64, mut objects: Vec<Value>) -> Self {
        for object in &mut objects {
            // Bookkeeping of the server's, not state: kept out of the file.
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("managedFields");
            }
        }
        Self {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            taken_at: Time(taken_at),
            objects,
        }
    }

    pub fn read(path: &Path) -> Result<Self, SnapshotError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SnapshotError::Read {
            path: shown.clone(),
            source,
        })?;
        let snapshot: Snapshot =
            kbind_model::yaml::from_str(&text).map_err(|e| SnapshotError::Invalid {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
        if snapshot.api_version != API_VERSION || snapshot.kind != KIND {
            return Err(SnapshotError::Invalid {
                path: shown,
                reason: format!(
                    "apiVersion/kind are {}/{}, expected {API_VERSION}/{KIND}",
                    snapshot.api_version, snapshot.kind
                ),
            });
        }
        Ok(snapshot)
    }

    /// An in-memory store holding the objects as they were, at `taken_at`.
    pub fn store(&self) -> Store {
        let mut store = Store::new(self.taken_at.0);
        for object in &self.objects {
            store.insert_observed(object.clone());
        }
        store
    }
}
