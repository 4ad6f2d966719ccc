//! Structural schemas of CustomResourceDefinitions, as
//! `k8s.io/apiextensions-apiserver/pkg/apiserver/schema` defines them.

use serde_json::Value;

use super::validation::FieldError;

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key) == Some(&Value::Bool(true))
}

/// Why `schema` (a version's `openAPIV3Schema`, at `path`) is not
/// structural: a type at the root and on every specified field and array
/// item, unless the node preserves unknown fields or is an int-or-string;
/// and what is wrong with its `x-kubernetes-validations`.
pub fn structural_errors(schema: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = vec![];
    match schema.get("type").and_then(Value::as_str) {
        None | Some("") => errs.push(FieldError::required(
            format!("{path}.type"),
            "must not be empty at the root",
        )),
        Some("object") => {}
        Some(other) => errs.push(FieldError::invalid(
            format!("{path}.type"),
            other,
            "must be object at the root",
        )),
    }
    walk(schema, path, true, &mut errs);
    errs
}

/// `root`: the node is a resource's root (the schema's, or an embedded
/// resource's), whose rules see `apiVersion`, `kind` and `metadata`.
fn walk(schema: &Value, path: &str, root: bool, errs: &mut Vec<FieldError>) {
    errs.extend(super::cel_rules::crd_errors(
        schema,
        path,
        root || flag(schema, "x-kubernetes-embedded-resource"),
    ));
    if schema.get("properties").is_some() && schema.get("additionalProperties").is_some() {
        errs.push(FieldError::forbidden(
            format!("{path}.additionalProperties"),
            "additionalProperties and properties are mutual exclusive",
        ));
    }
    if flag(schema, "x-kubernetes-embedded-resource")
        && schema.get("type").and_then(Value::as_str) != Some("object")
    {
        errs.push(FieldError::required(
            format!("{path}.type"),
            "must be object if x-kubernetes-embedded-resource is true",
        ));
    }
    let typed = |s: &Value| {
        s.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| !t.is_empty())
            || flag(s, "x-kubernetes-int-or-string")
            || flag(s, "x-kubernetes-preserve-unknown-fields")
    };
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, p)| (format!("{path}.properties[{name}]"), p, "object fields"));
    let items = schema
        .get("items")
        .map(|i| (format!("{path}.items"), i, "array items"));
    let additional = schema
        .get("additionalProperties")
        .filter(|a| a.is_object())
        .map(|a| (format!("{path}.additionalProperties"), a, "object fields"));
    for (at, child, what) in properties.chain(items).chain(additional) {
        if !typed(child) {
            errs.push(FieldError::required(
                format!("{at}.type"),
                format!("must not be empty for specified {what}"),
            ));
        }
        walk(child, &at, false, errs);
    }
}
