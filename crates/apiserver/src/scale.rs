//! The `scale` subresource, as `kubectl scale` and autoscalers use it: an
//! `autoscaling/v1` Scale read from the object (its desired replicas, the
//! replicas its status counts, its selector as a string), and a Scale
//! written back as the object's replicas. A Deployment's are its spec's
//! and status's `replicas` and its selector; a custom resource's are where
//! its CRD's `subresources.scale` paths say (`scaleFromCustomResource`).

use serde_json::{Value, json};

use super::error::ApiError;
use super::registry::{Resource, ScalePaths};
use super::selector::LabelSelector;
use super::state::ObjectStore;
use super::validation::FieldError;

/// A `.a.b` path as a JSON pointer.
fn pointer(path: &str) -> String {
    path.replace('.', "/")
}

/// The Scale an object shows.
pub fn of(r: &Resource, object: &Value) -> Value {
    let meta = &object["metadata"];
    let (spec_replicas, status_replicas, selector) = match &r.scale {
        Some(paths) => (
            object.pointer(&pointer(&paths.spec_replicas)),
            object.pointer(&pointer(&paths.status_replicas)),
            paths
                .label_selector
                .as_ref()
                .and_then(|p| object.pointer(&pointer(p)))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        ),
        None => (
            object.pointer("/spec/replicas"),
            object.pointer("/status/replicas"),
            LabelSelector::from_object(&object["spec"]["selector"])
                .map(|s| s.to_string())
                .unwrap_or_default(),
        ),
    };
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
        "spec": {"replicas": spec_replicas.and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": status_replicas.and_then(Value::as_i64).unwrap_or(0),
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
/// its replicas become the object's, under its resourceVersion when it
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
    let at = r.scale.as_ref().map_or_else(
        || "/spec/replicas".to_string(),
        |p| pointer(&p.spec_replicas),
    );
    let updated = store.patch(r, namespace, name, false, |object| {
        set_at(object, &at, json!(replicas));
        if let Some(rv) = resource_version {
            object["metadata"]["resourceVersion"] = json!(rv);
        }
        Ok(())
    })?;
    Ok(of(r, &updated))
}

/// `SetNestedField`: the value at a JSON pointer, the objects on the way
/// made where missing.
fn set_at(object: &mut Value, at: &str, value: Value) {
    let mut node = object;
    let mut keys = at.split('/').skip(1).peekable();
    while let Some(key) = keys.next() {
        if !node.is_object() {
            *node = json!({});
        }
        let Some(map) = node.as_object_mut() else {
            return;
        };
        if keys.peek().is_none() {
            map.insert(key.to_string(), value);
            return;
        }
        node = map.entry(key.to_string()).or_insert_with(|| json!({}));
    }
}

/// Go's `%v` and `%T` of a JSON value as `unstructured` holds it.
fn go_value_and_type(value: &Value) -> (String, &'static str) {
    match value {
        Value::String(s) => (s.clone(), "string"),
        Value::Bool(b) => (b.to_string(), "bool"),
        Value::Number(n) if n.is_i64() => (n.to_string(), "int64"),
        Value::Number(n) => (n.to_string(), "float64"),
        Value::Array(_) => (value.to_string(), "[]interface {}"),
        Value::Object(_) => (value.to_string(), "map[string]interface {}"),
        Value::Null => ("<nil>".to_string(), "<nil>"),
    }
}

/// A custom resource's replicas at a scale path, checked as
/// `ValidateScaleSpec`/`ValidateScaleStatus` check them: an int64 (the
/// `NestedInt64` accessor's error otherwise), not negative, at most
/// `MaxInt32`. Absent is 0.
fn replicas_at(object: &Value, path: &str) -> Option<FieldError> {
    let value = object.pointer(&pointer(path))?;
    let Some(n) = value.as_i64() else {
        let (shown, type_) = go_value_and_type(value);
        return Some(FieldError::invalid(
            path,
            0,
            format!("{path} accessor error: {shown} is of the type {type_}, expected int64"),
        ));
    };
    if n < 0 {
        Some(FieldError::invalid(
            path,
            n,
            "should be a non-negative integer",
        ))
    } else if n > i64::from(i32::MAX) {
        Some(FieldError::invalid(
            path,
            n,
            format!("should be less than or equal to {}", i32::MAX),
        ))
    } else {
        None
    }
}

/// What a custom resource's write must keep at its scale paths: the spec's
/// replicas (not on a status write), the status's, and a selector that is
/// a string.
pub fn validate_object(paths: &ScalePaths, object: &Value, status_only: bool) -> Vec<FieldError> {
    let mut errs = vec![];
    if !status_only {
        errs.extend(replicas_at(object, &paths.spec_replicas));
    }
    errs.extend(replicas_at(object, &paths.status_replicas));
    if let Some(path) = &paths.label_selector
        && let Some(value) = object.pointer(&pointer(path))
        && !value.is_string()
    {
        let (shown, type_) = go_value_and_type(value);
        errs.push(FieldError::invalid(
            path.as_str(),
            "",
            format!("{path} accessor error: {shown} is of the type {type_}, expected string"),
        ));
    }
    errs
}
