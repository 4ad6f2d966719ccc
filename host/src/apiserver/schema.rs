//! Structural schemas of CustomResourceDefinitions, as
//! `k8s.io/apiextensions-apiserver/pkg/apiserver/schema` defines them.

use serde_json::Value;

use super::validation::{ErrorKind, FieldError};

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key) == Some(&Value::Bool(true))
}

/// Why `schema` (a version's `openAPIV3Schema`, at `path`) is not
/// structural: a type at the root and on every specified field and array
/// item, unless the node preserves unknown fields or is an int-or-string.
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
    walk(schema, path, &mut errs);
    errs
}

fn walk(schema: &Value, path: &str, errs: &mut Vec<FieldError>) {
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
    for (name, property) in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let at = format!("{path}.properties[{name}]");
        if !typed(property) {
            errs.push(FieldError::required(
                format!("{at}.type"),
                "must not be empty for specified object fields",
            ));
        }
        walk(property, &at, errs);
    }
    if let Some(items) = schema.get("items") {
        let at = format!("{path}.items");
        if !typed(items) {
            errs.push(FieldError::required(
                format!("{at}.type"),
                "must not be empty for specified array items",
            ));
        }
        walk(items, &at, errs);
    }
    if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
        let at = format!("{path}.additionalProperties");
        if !typed(additional) {
            errs.push(FieldError::required(
                format!("{at}.type"),
                "must not be empty for specified object fields",
            ));
        }
        walk(additional, &at, errs);
    }
}

/// Pruning (`structuralpruning.Prune`): fields a structural schema does not
/// specify are dropped, except below `x-kubernetes-preserve-unknown-fields`;
/// an embedded resource keeps its apiVersion, kind and metadata.
pub fn prune(value: &mut Value, schema: &Value, root: bool) {
    match value {
        Value::Object(map) => {
            if flag(schema, "x-kubernetes-int-or-string") {
                return;
            }
            let keep_type_meta = root || flag(schema, "x-kubernetes-embedded-resource");
            let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            map.retain(|key, _| {
                (keep_type_meta && matches!(key.as_str(), "apiVersion" | "kind" | "metadata"))
                    || preserve
                    || additional.is_some()
                    || properties.is_some_and(|p| p.contains_key(key))
            });
            for (key, child) in map.iter_mut() {
                if keep_type_meta && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(s) = properties.and_then(|p| p.get(key)).or(additional) {
                    prune(child, s, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for item in items {
                    prune(item, s, false);
                }
            }
        }
        _ => {}
    }
}

/// Defaulting (`structuraldefaulting.Default`): a missing field with a
/// `default` gets it (a null one too, unless the field is nullable), then
/// defaults apply inside it, top down.
pub fn default(value: &mut Value, schema: &Value) {
    match value {
        Value::Object(map) => {
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (key, s) in properties {
                    let Some(d) = s.get("default") else { continue };
                    let nullable = flag(s, "nullable");
                    match map.get(key) {
                        None => {
                            map.insert(key.clone(), d.clone());
                        }
                        Some(Value::Null) if !nullable => {
                            map.insert(key.clone(), d.clone());
                        }
                        _ => {}
                    }
                }
                for (key, child) in map.iter_mut() {
                    if let Some(s) = properties.get(key) {
                        default(child, s);
                    }
                }
            } else if let Some(s) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for child in map.values_mut() {
                    default(child, s);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for item in items {
                    default(item, s);
                }
            }
        }
        _ => {}
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Validation of a custom resource against its schema
/// (`apiextensions-apiserver/pkg/apiserver/validation`), each problem a
/// field error worded as the real server's conversion of kube-openapi's
/// errors words it (`spec.size: Invalid value: "string": spec.size in body
/// must be of type integer: "string"`). CEL rules are not evaluated.
pub fn validate(value: &Value, schema: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let shown_path = if path.is_empty() { "<root>" } else { path };
    if value.is_null() {
        if !flag(schema, "nullable") && schema.get("type").is_some() {
            let want = schema["type"].as_str().unwrap_or_default();
            errs.push(
                FieldError::invalid(
                    path,
                    "null",
                    format!("{shown_path} in body must be of type {want}: \"null\""),
                )
                .with_kind(ErrorKind::TypeInvalid),
            );
        }
        return;
    }
    let actual = type_name(value);
    let int_or_string = flag(schema, "x-kubernetes-int-or-string");
    if int_or_string {
        if !matches!(actual, "integer" | "string") {
            errs.push(
                FieldError::invalid(
                    path,
                    actual,
                    format!("{shown_path} in body must be of type integer-or-string: \"{actual}\""),
                )
                .with_kind(ErrorKind::TypeInvalid),
            );
            return;
        }
    } else if let Some(want) = schema.get("type").and_then(Value::as_str) {
        let ok = want == actual || (want == "number" && actual == "integer");
        if !ok {
            errs.push(
                FieldError::invalid(
                    path,
                    actual,
                    format!("{shown_path} in body must be of type {want}: \"{actual}\""),
                )
                .with_kind(ErrorKind::TypeInvalid),
            );
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let shown: Vec<String> = allowed
            .iter()
            .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
            .collect();
        errs.push(
            FieldError::invalid(path, value.clone(), "").with_kind(ErrorKind::NotSupported(shown)),
        );
    }
    match value {
        Value::String(s) => string_checks(s, schema, path, shown_path, errs),
        Value::Number(n) => number_checks(n, value, schema, path, shown_path, errs),
        Value::Array(items) => {
            let count = items.len() as u64;
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && count > max
            {
                errs.push(
                    FieldError::invalid(path, count, "")
                        .with_kind(ErrorKind::TooMany(max as usize)),
                );
            }
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && count < min
            {
                errs.push(FieldError::invalid(
                    path,
                    Value::Array(items.clone()),
                    format!("{shown_path} in body should have at least {min} items"),
                ));
            }
            list_type_checks(items, schema, path, errs);
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate(item, s, &format!("{path}[{i}]"), errs);
                }
            }
        }
        Value::Object(map) => {
            let count = map.len() as u64;
            if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
                && count > max
            {
                errs.push(FieldError::invalid(
                    path,
                    count,
                    format!("{shown_path} in body should have at most {max} properties"),
                ));
            }
            if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
                && count < min
            {
                errs.push(FieldError::invalid(
                    path,
                    count,
                    format!("{shown_path} in body should have at least {min} properties"),
                ));
            }
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(key) = required.as_str()
                    && !map.contains_key(key)
                {
                    errs.push(FieldError::required(child_path(path, key), ""));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let root = path.is_empty();
            for (key, child) in map {
                if root && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(s) = properties.and_then(|p| p.get(key)) {
                    validate(child, s, &child_path(path, key), errs);
                } else if let Some(s) = additional {
                    validate(child, s, &child_path(path, key), errs);
                }
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
    for s in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        validate(value, s, path, errs);
    }
}

fn string_checks(s: &str, schema: &Value, path: &str, shown: &str, errs: &mut Vec<FieldError>) {
    let chars = s.chars().count() as u64;
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && chars > max
    {
        errs.push(FieldError::invalid(path, s, "").with_kind(ErrorKind::TooLong(max as usize)));
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && chars < min
    {
        errs.push(FieldError::invalid(
            path,
            s,
            format!("{shown} in body should be at least {min} chars long"),
        ));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        match regex::Regex::new(pattern) {
            Ok(re) if !re.is_match(s) => {
                errs.push(FieldError::invalid(
                    path,
                    s,
                    format!("{shown} in body should match '{pattern}'"),
                ));
            }
            _ => {}
        }
    }
    if let Some(format) = schema.get("format").and_then(Value::as_str)
        && !format_ok(format, s)
    {
        errs.push(
            FieldError::invalid(
                path,
                s,
                format!("{shown} in body must be of type {format}: {s:?}"),
            )
            .with_kind(ErrorKind::TypeInvalid),
        );
    }
}

/// The formats kube-openapi checks that CRDs use in practice; others pass,
/// as unknown formats do on a real server.
fn format_ok(format: &str, s: &str) -> bool {
    match format {
        "date-time" | "datetime" => humantime::parse_rfc3339_weak(s).is_ok(),
        "date" => {
            let parts: Vec<&str> = s.split('-').collect();
            parts.len() == 3 && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()))
        }
        "byte" => base64::Engine::decode(&base64::engine::general_purpose::STANDARD, s).is_ok(),
        "uuid" => {
            let hex: String = s.chars().filter(|c| *c != '-').collect();
            hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) && s.len() == 36
        }
        _ => true,
    }
}

fn number_checks(
    n: &serde_json::Number,
    value: &Value,
    schema: &Value,
    path: &str,
    shown: &str,
    errs: &mut Vec<FieldError>,
) {
    let Some(x) = n.as_f64() else { return };
    let exclusive = |k: &str| flag(schema, k);
    let bound = |v: &Value| v.to_string();
    if let Some(max) = schema.get("maximum") {
        let m = max.as_f64().unwrap_or(f64::MAX);
        if exclusive("exclusiveMaximum") && x >= m {
            errs.push(FieldError::invalid(
                path,
                value.clone(),
                format!("{shown} in body should be less than {}", bound(max)),
            ));
        } else if x > m {
            errs.push(FieldError::invalid(
                path,
                value.clone(),
                format!(
                    "{shown} in body should be less than or equal to {}",
                    bound(max)
                ),
            ));
        }
    }
    if let Some(min) = schema.get("minimum") {
        let m = min.as_f64().unwrap_or(f64::MIN);
        if exclusive("exclusiveMinimum") && x <= m {
            errs.push(FieldError::invalid(
                path,
                value.clone(),
                format!("{shown} in body should be greater than {}", bound(min)),
            ));
        } else if x < m {
            errs.push(FieldError::invalid(
                path,
                value.clone(),
                format!(
                    "{shown} in body should be greater than or equal to {}",
                    bound(min)
                ),
            ));
        }
    }
    if let Some(of) = schema.get("multipleOf").and_then(Value::as_f64)
        && of != 0.0
        && (x / of).fract() != 0.0
    {
        errs.push(FieldError::invalid(
            path,
            value.clone(),
            format!("{shown} in body should be a multiple of {of}"),
        ));
    }
    match schema.get("format").and_then(Value::as_str) {
        Some("int32") if n.as_i64().is_none_or(|i| i32::try_from(i).is_err()) => {
            errs.push(
                FieldError::invalid(
                    path,
                    value.clone(),
                    format!("{shown} in body must be of type int32: {value}"),
                )
                .with_kind(ErrorKind::TypeInvalid),
            );
        }
        _ => {}
    }
}

/// `x-kubernetes-list-type`: `set` items are unique, `map` items unique by
/// their `x-kubernetes-list-map-keys`.
fn list_type_checks(items: &[Value], schema: &Value, path: &str, errs: &mut Vec<FieldError>) {
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) {
                    errs.push(
                        FieldError::invalid(format!("{path}[{i}]"), item.clone(), "")
                            .with_kind(ErrorKind::Duplicate),
                    );
                }
            }
        }
        Some("map") => {
            let keys: Vec<&str> = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let key_of = |item: &Value| -> Value {
                Value::Object(
                    keys.iter()
                        .filter_map(|k| item.get(*k).map(|v| (k.to_string(), v.clone())))
                        .collect(),
                )
            };
            for (i, item) in items.iter().enumerate() {
                let key = key_of(item);
                if items[..i].iter().any(|earlier| key_of(earlier) == key) {
                    errs.push(
                        FieldError::invalid(format!("{path}[{i}]"), key, "")
                            .with_kind(ErrorKind::Duplicate),
                    );
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn widget_schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["size"], "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 9, "default": 3},
                "tier": {"type": "string", "enum": ["small", "large"], "default": "small"},
                "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}})
    }

    #[test]
    fn unknown_fields_are_pruned_except_where_preserved() {
        let mut w = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": 2, "colour": "red", "free": {"anything": {"goes": 1}}, "labels": {"a": "b"}},
            "other": true, "status": {"x": 1}});
        prune(&mut w, &widget_schema(), true);
        assert_eq!(
            w,
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": 2, "free": {"anything": {"goes": 1}}, "labels": {"a": "b"}}, "status": {"x": 1}})
        );
    }

    #[test]
    fn defaults_fill_missing_and_null_fields_top_down() {
        let mut w = json!({"spec": {"tier": null}});
        default(&mut w, &widget_schema());
        assert_eq!(w["spec"], json!({"size": 3, "tier": "small"}));
    }

    #[test]
    fn problems_are_worded_as_a_real_server_words_them() {
        let mut errs = vec![];
        let w = json!({"spec": {"size": "big", "tier": "huge", "name": "ABCDEFG", "tags": ["a", "a"], "labels": {"k": 1}}});
        validate(&w, &widget_schema(), "", &mut errs);
        let texts: Vec<String> = errs
            .iter()
            .map(|e| format!("{}: {}", e.field, e.body()))
            .collect();
        assert_eq!(
            texts,
            [
                "spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\"",
                "spec.tier: Unsupported value: \"huge\": supported values: \"small\", \"large\"",
                "spec.name: Too long: may not be more than 5 bytes",
                "spec.name: Invalid value: \"ABCDEFG\": spec.name in body should match '^[a-z]+$'",
                "spec.tags[1]: Duplicate value: \"a\"",
                "spec.labels.k: Invalid value: \"integer\": spec.labels.k in body must be of type string: \"integer\"",
            ],
            "{texts:#?}"
        );
        let mut errs = vec![];
        validate(&json!({"spec": {}}), &widget_schema(), "", &mut errs);
        assert_eq!(errs[0].field, "spec.size");
        assert_eq!(errs[0].body(), "Required value");
    }
}
