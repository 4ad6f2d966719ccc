//! `as=Table` responses, so `kubectl get` prints a CRD's printer columns as
//! a real API server would.

use serde_json::{Value, json};

use super::registry::Resource;

/// Evaluates the simple JSON paths printer columns use (`.spec.a.b`).
fn cell(object: &Value, path: &str) -> Value {
    let pointer = format!("/{}", path.trim_start_matches('.').replace('.', "/"));
    match object.pointer(&pointer) {
        Some(Value::Null) | None => Value::Null,
        Some(Value::String(s)) => json!(s),
        Some(v @ (Value::Bool(_) | Value::Number(_))) => v.clone(),
        Some(other) => json!(other.to_string()),
    }
}

/// `kubectl`'s short age format ("42s", "5m", "3h", "2d", "1y"), computed
/// here as a real API server's table convertor does.
fn age(timestamp: Option<&str>) -> Value {
    let Some(t) = timestamp.and_then(|t| humantime::parse_rfc3339_weak(t).ok()) else {
        return json!("<unknown>");
    };
    let s = std::time::SystemTime::now()
        .duration_since(t)
        .map_or(0, |d| d.as_secs());
    json!(match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..172_800 => format!("{}h", s / 3600),
        172_800..63_072_000 => format!("{}d", s / 86_400),
        _ => format!("{}y", s / 31_536_000),
    })
}

fn render_cell(column_type: &str, value: Value) -> Value {
    match (column_type, &value) {
        ("date", Value::String(t)) => age(Some(t)),
        _ => value,
    }
}

fn row(r: &Resource, object: &Value) -> Value {
    let mut cells = vec![
        object
            .pointer("/metadata/name")
            .cloned()
            .unwrap_or(Value::Null),
    ];
    cells.extend(
        r.columns
            .iter()
            .map(|c| render_cell(&c.type_, cell(object, &c.json_path))),
    );
    cells.push(age(object
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)));
    json!({
        "cells": cells,
        "object": {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": object.get("metadata").cloned().unwrap_or(json!({})),
        },
    })
}

pub fn table(r: &Resource, objects: &[Value], resource_version: u64) -> Value {
    let mut columns = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    columns.extend(r.columns.iter().map(|c| {
        let type_ = if c.type_ == "date" { "string" } else { c.type_.as_str() };
        json!({"name": c.name, "type": type_, "format": "", "description": c.description, "priority": c.priority})
    }));
    columns.push(json!({"name": "Age", "type": "string", "format": "", "description": "Time since creation.", "priority": 0}));
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "columnDefinitions": columns,
        "rows": objects.iter().map(|o| row(r, o)).collect::<Vec<_>>(),
    })
}

/// True if the client asked for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|part| part.contains("as=Table"))
}
