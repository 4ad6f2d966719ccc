//! The `scale` subresource of Deployments, as `kubectl scale` and
//! autoscalers use it: an `autoscaling/v1` Scale read from the Deployment
//! (its desired replicas, the replicas its status counts, its selector as
//! a string), and a Scale written back as the Deployment's replicas.

use serde_json::{Value, json};

use super::error::ApiError;
use super::registry::Resource;
use super::selector::LabelSelector;
use super::state::ObjectStore;
use super::validation::FieldError;

/// The Scale a Deployment shows.
pub fn of(deployment: &Value) -> Value {
    let meta = &deployment["metadata"];
    let selector = LabelSelector::from_object(&deployment["spec"]["selector"])
        .map(|s| s.to_string())
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": deployment["spec"]["replicas"].as_i64().unwrap_or(0)},
        "status": {
            "replicas": deployment["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector,
        },
    })
}

/// `ValidateScale`, refused as a real server refuses a Scale.
fn validate(name: &str, scale: &Value) -> Result<i64, ApiError> {
    let replicas = scale["spec"]["replicas"].as_i64().unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid_kind(
            "Scale",
            "autoscaling",
            name,
            vec![FieldError::invalid(
                "spec.replicas",
                replicas,
                "must be greater than or equal to 0",
            )],
        ));
    }
    Ok(replicas)
}

/// A Scale written (PUT, or a patch already applied to the current one):
/// its replicas become the Deployment's, under its resourceVersion when it
/// names one.
pub fn write(
    store: &mut ObjectStore,
    r: &Resource,
    namespace: &str,
    name: &str,
    scale: &Value,
) -> Result<Value, ApiError> {
    let replicas = validate(name, scale)?;
    let resource_version = scale["metadata"]["resourceVersion"]
        .as_str()
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    let updated = store.patch(r, namespace, name, false, |deployment| {
        deployment["spec"]["replicas"] = json!(replicas);
        if let Some(rv) = resource_version {
            deployment["metadata"]["resourceVersion"] = json!(rv);
        }
        Ok(())
    })?;
    Ok(of(&updated))
}
