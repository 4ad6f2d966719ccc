//! The helper containers of a workflow pod (`kbind pipeline reader|update-status`),
//! doing what Kratix's pipeline adapter (`work-creator`) does for the two
//! parts of the pipeline contract kbind honours:
//!
//! - `reader` gets the request and writes it to `/kratix/input/object.yaml`
//!   (YAML of the object as the API server returns it, as Kratix's does);
//! - `update-status` merges the pipeline's `/kratix/metadata/status.yaml`
//!   into the request's status as Kratix's `MergeStatuses` does (keys of
//!   the file replace the request's, `conditions` are merged by type),
//!   refuses a `kratix` key (Kratix's own), records its pipeline's phase
//!   `Succeeded` under `kratix.workflows.pipelines` (one pod runs every
//!   pipeline, so the pod knows first), and after the last pipeline
//!   marks the workflow done (`ConfigureWorkflowCompleted`, and a message
//!   of `Pending` becomes `Resource requested`).
//!
//! Both find the request from the `KRATIX_OBJECT_*` variables the pod
//! carries and talk to the API server as the pod's ServiceAccount.

use std::path::{Path, PathBuf};

use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Map, Value};

use kbind_model::api::request_status::{self, condition_type};

#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("{0} is not set (the workflow pod sets it)")]
    MissingEnv(&'static str),
    #[error("{action}: {}", crate::api_error::Text(source))]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Yaml { path: PathBuf, message: String },
    #[error(
        "'kratix' is a kratix managed status field that cannot be updated via workflows; remove update to 'kratix' from the '{}' file",
        path.display()
    )]
    KratixField { path: PathBuf },
    #[error("the status of {0} changed under every attempt to update it")]
    Conflicts(String),
}

/// Which request the pod works on, from its environment.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub name: String,
    pub namespace: Option<String>,
    pub workflow_type: String,
    /// `KRATIX_PIPELINE_NAME`: the pipeline this writer runs after.
    pub pipeline: String,
    pub is_last_pipeline: bool,
}

impl Params {
    /// Reads the variables Kratix's `defaultEnvVars` sets (and kbind sets the
    /// same way), with Kratix's defaults: namespace `default`, none when
    /// `KRATIX_CLUSTER_SCOPED` is `true`.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, AdapterError> {
        let need = |name: &'static str| {
            get(name)
                .filter(|v| !v.is_empty())
                .ok_or(AdapterError::MissingEnv(name))
        };
        let cluster_scoped = get("KRATIX_CLUSTER_SCOPED").as_deref() == Some("true");
        let namespace = (!cluster_scoped).then(|| {
            get("KRATIX_OBJECT_NAMESPACE")
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "default".into())
        });
        Ok(Self {
            group: get("KRATIX_OBJECT_GROUP").unwrap_or_default(),
            version: need("KRATIX_OBJECT_VERSION")?,
            kind: get("KRATIX_OBJECT_KIND").unwrap_or_default(),
            plural: need("KRATIX_CRD_PLURAL")?,
            name: need("KRATIX_OBJECT_NAME")?,
            namespace,
            workflow_type: get("KRATIX_WORKFLOW_TYPE").unwrap_or_default(),
            pipeline: get("KRATIX_PIPELINE_NAME").unwrap_or_default(),
            is_last_pipeline: get("IS_LAST_PIPELINE").as_deref() == Some("true"),
        })
    }

    fn api(&self, client: &kube::Client) -> Api<DynamicObject> {
        let gvk = GroupVersionKind::gvk(&self.group, &self.version, &self.kind);
        let ar = ApiResource::from_gvk_with_plural(&gvk, &self.plural);
        match &self.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        }
    }

    fn object(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{ns}/{}", self.plural, self.name),
            None => format!("{}/{}", self.plural, self.name),
        }
    }
}

async fn get(api: &Api<DynamicObject>, params: &Params) -> Result<DynamicObject, AdapterError> {
    api.get(&params.name)
        .await
        .map_err(|source| AdapterError::Api {
            action: format!("get {}", params.object()),
            source,
        })
}

fn write(path: &Path, text: &str) -> Result<(), AdapterError> {
    std::fs::write(path, text).map_err(|source| AdapterError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write_object(object: &DynamicObject, input_dir: &Path) -> Result<PathBuf, AdapterError> {
    let path = input_dir.join("object.yaml");
    let text = serde_saphyr::to_string(object).map_err(|e| AdapterError::Yaml {
        path: path.clone(),
        message: e.to_string(),
    })?;
    write(&path, &text)?;
    Ok(path)
}

/// `kbind pipeline reader`: the request to `<input_dir>/object.yaml`.
pub async fn read(
    client: &kube::Client,
    params: &Params,
    input_dir: &Path,
) -> Result<PathBuf, AdapterError> {
    let object = get(&params.api(client), params).await?;
    write_object(&object, input_dir)
}

/// Kratix's `MergeStatuses`: the incoming keys replace the existing ones,
/// except `conditions`, merged by `type` (an incoming condition replaces
/// the one of its type). Kratix rebuilds the list from a Go map, in no
/// order; kbind keeps the existing order and appends new types.
pub fn merge_statuses(
    existing: &Map<String, Value>,
    incoming: &Map<String, Value>,
) -> Map<String, Value> {
    let mut merged = existing.clone();
    for (key, value) in incoming {
        if key == "conditions"
            && let (Some(Value::Array(old)), Value::Array(new)) = (merged.get(key), value)
        {
            let conditions = merge_conditions(old, new);
            merged.insert(key.clone(), Value::Array(conditions));
            continue;
        }
        merged.insert(key.clone(), value.clone());
    }
    merged
}

fn merge_conditions(existing: &[Value], incoming: &[Value]) -> Vec<Value> {
    // Kratix drops entries without a string type (they have no map key).
    let mut merged: Vec<Value> = existing
        .iter()
        .filter(|c| condition_type(c).is_some())
        .cloned()
        .collect();
    for c in incoming.iter().filter(|c| condition_type(c).is_some()) {
        match merged
            .iter_mut()
            .find(|m| condition_type(m) == condition_type(c))
        {
            Some(slot) => *slot = c.clone(),
            None => merged.push(c.clone()),
        }
    }
    merged
}

/// Kratix's `MarkAsCompleted`, after the last pipeline: the
/// `ConfigureWorkflowCompleted` condition set true, `Pending` replaced by
/// the workflow type's done message, a suspension forgotten.
pub fn mark_as_completed(status: &mut Map<String, Value>, workflow_type: &str, now: &str) {
    request_status::mark_completed(status, workflow_type, now);
    if let Some(workflows) = status
        .get_mut("kratix")
        .and_then(|k| k.get_mut("workflows"))
        .and_then(Value::as_object_mut)
    {
        workflows.remove("suspendedGeneration");
    }
}

/// `status.yaml` as a map (none when the pipeline wrote no file).
pub fn read_status_file(path: &Path) -> Result<Map<String, Value>, AdapterError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(source) => {
            return Err(AdapterError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let value: Value =
        kbind_model::yaml::from_str(&text).map_err(|message| AdapterError::Yaml {
            path: path.to_path_buf(),
            message,
        })?;
    match value {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => Ok(map),
        other => Err(AdapterError::Yaml {
            path: path.to_path_buf(),
            message: format!("expected a mapping of status fields, found {other}"),
        }),
    }
}

/// Attempts at a status update that keeps meeting newer writes (kbind's
/// own, on the same request) before giving up.
const UPDATE_ATTEMPTS: usize = 5;

/// `kbind pipeline update-status`: merges `<metadata_dir>/status.yaml` into
/// the request's status (PUT of `/status` at the resourceVersion read, so a
/// concurrent write is never overwritten: a conflict re-reads and merges
/// again), then removes the file and refreshes `<input_dir>/object.yaml`
/// for the pipeline that runs next in the pod.
pub async fn update_status(
    client: &kube::Client,
    params: &Params,
    metadata_dir: &Path,
    input_dir: &Path,
) -> Result<(), AdapterError> {
    let status_file = metadata_dir.join("status.yaml");
    let incoming = read_status_file(&status_file)?;
    if incoming.contains_key("kratix") {
        return Err(AdapterError::KratixField { path: status_file });
    }
    let api = params.api(client);
    for _ in 0..UPDATE_ATTEMPTS {
        let mut object = get(&api, params).await?;
        let existing = object
            .data
            .get("status")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut merged = merge_statuses(&existing, &incoming);
        let now = kbind_model::time::rfc3339(kbind_model::time::now_millis());
        request_status::pipeline_succeeded(&mut merged, &params.pipeline, &now);
        if params.is_last_pipeline {
            mark_as_completed(&mut merged, &params.workflow_type, &now);
        }
        object.data["status"] = Value::Object(merged);
        match api
            .replace_status(&params.name, &crate::post_params(), &object)
            .await
        {
            Ok(updated) => {
                match std::fs::remove_file(&status_file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => {
                        return Err(AdapterError::Io {
                            path: status_file,
                            source,
                        });
                    }
                }
                if input_dir.is_dir() {
                    write_object(&updated, input_dir)?;
                }
                return Ok(());
            }
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(source) => {
                return Err(AdapterError::Api {
                    action: format!("update {}/status", params.object()),
                    source,
                });
            }
        }
    }
    Err(AdapterError::Conflicts(params.object()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn incoming_keys_replace_and_conditions_merge_by_type() {
        let existing = map(json!({
            "promiseVersion": "v0.1.0",
            "message": "Pending",
            "nested": {"a": 1, "b": 2},
            "conditions": [
                {"type": "Reconciled", "status": "True"},
                {"type": "Ready", "status": "False"},
            ],
        }));
        let incoming = map(json!({
            "message": "redis is up",
            "nested": {"a": 3},
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "Backup", "status": "True"}],
        }));
        let merged = merge_statuses(&existing, &incoming);
        assert_eq!(
            merged["promiseVersion"], "v0.1.0",
            "a key the file lacks is kept"
        );
        assert_eq!(merged["message"], "redis is up");
        assert_eq!(
            merged["nested"],
            json!({"a": 3}),
            "replaced, not deep-merged, as Kratix does"
        );
        assert_eq!(
            merged["conditions"],
            json!([
                {"type": "Reconciled", "status": "True"},
                {"type": "Ready", "status": "True"},
                {"type": "Backup", "status": "True"},
            ])
        );
    }

    #[test]
    fn the_last_pipeline_marks_the_workflow_completed() {
        let mut status = map(json!({"message": "Pending", "conditions": [
            {"type": "ConfigureWorkflowCompleted", "status": "False", "reason": "PipelinesInProgress"}]}));
        mark_as_completed(&mut status, "resource", "2026-12-01T00:00:00Z");
        assert_eq!(status["message"], "Resource requested");
        assert_eq!(
            status["conditions"],
            json!([{"type": "ConfigureWorkflowCompleted", "status": "True",
                "reason": "PipelinesExecutedSuccessfully", "message": "Pipelines completed",
                "lastTransitionTime": "2026-12-01T00:00:00Z"}])
        );
        let mut custom = map(json!({"message": "all good"}));
        mark_as_completed(&mut custom, "resource", "2026-12-01T00:00:00Z");
        assert_eq!(custom["message"], "all good", "only Pending is replaced");
    }

    #[test]
    fn params_follow_kratix_defaults() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let p = Params::from_env(env(&[
            ("KRATIX_OBJECT_VERSION", "v1alpha1"),
            ("KRATIX_CRD_PLURAL", "redis"),
            ("KRATIX_OBJECT_NAME", "example"),
        ]))
        .unwrap();
        assert_eq!(p.namespace.as_deref(), Some("default"));
        let cluster = Params::from_env(env(&[
            ("KRATIX_OBJECT_VERSION", "v1"),
            ("KRATIX_CRD_PLURAL", "things"),
            ("KRATIX_OBJECT_NAME", "x"),
            ("KRATIX_OBJECT_NAMESPACE", "ignored"),
            ("KRATIX_CLUSTER_SCOPED", "true"),
        ]))
        .unwrap();
        assert_eq!(cluster.namespace, None);
        let missing = Params::from_env(env(&[("KRATIX_OBJECT_VERSION", "v1")])).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "KRATIX_CRD_PLURAL is not set (the workflow pod sets it)"
        );
    }

    #[test]
    fn a_status_file_must_be_a_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.yaml");
        assert!(
            read_status_file(&path).unwrap().is_empty(),
            "no file, nothing to merge"
        );
        std::fs::write(&path, "- a\n- b\n").unwrap();
        let err = read_status_file(&path).unwrap_err().to_string();
        assert!(err.contains("expected a mapping"), "{err}");
        std::fs::write(&path, "message: hi\nkratix: {}\n").unwrap();
        assert!(read_status_file(&path).unwrap().contains_key("kratix"));
    }
}
