//! A CRD version's structural schema, compiled once when the CRD is stored,
//! and what a real server does with it to every custom resource: pruning
//! (`structuralpruning`), defaulting (`structuraldefaulting`) and
//! validation (`apiextensions-apiserver/pkg/apiserver/validation`). Reading
//! the schema as JSON on every object cost half the create throughput.

use std::collections::BTreeMap;

use serde_json::{Number, Value};

use super::validation::{ErrorKind, FieldError};

/// A `pattern`, compiled when the CRD is stored (None if it does not
/// compile: a real server refuses such a CRD; here it checks nothing).
#[derive(Clone, Debug)]
struct Pattern {
    text: String,
    regex: Option<regex::Regex>,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// One node of a structural schema, with the keywords the server acts on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Structural {
    type_: Option<String>,
    nullable: bool,
    preserve_unknown: bool,
    embedded: bool,
    int_or_string: bool,
    properties: Option<BTreeMap<String, Structural>>,
    additional: Option<Box<Structural>>,
    items: Option<Box<Structural>>,
    default: Option<Value>,
    enum_: Option<Vec<Value>>,
    required: Vec<String>,
    pattern: Option<Pattern>,
    format: Option<String>,
    max_length: Option<u64>,
    min_length: Option<u64>,
    maximum: Option<Number>,
    minimum: Option<Number>,
    exclusive_maximum: bool,
    exclusive_minimum: bool,
    multiple_of: Option<f64>,
    max_items: Option<u64>,
    min_items: Option<u64>,
    max_properties: Option<u64>,
    min_properties: Option<u64>,
    list_type: Option<String>,
    list_map_keys: Vec<String>,
    all_of: Vec<Structural>,
}

impl Structural {
    /// A node and everything below it; its `default` is pruned by the node
    /// here, once, as a real server prunes defaults when the CRD is stored.
    pub fn compile(schema: &Value) -> Self {
        let mut node = Self::compile_node(schema);
        if let Some(mut d) = node.default.take() {
            prune(&mut d, &node, false, "", &mut vec![]);
            node.default = Some(d);
        }
        node
    }

    fn compile_node(schema: &Value) -> Self {
        let flag = |k: &str| schema.get(k) == Some(&Value::Bool(true));
        let string = |k: &str| schema.get(k).and_then(Value::as_str).map(str::to_string);
        let count = |k: &str| schema.get(k).and_then(Value::as_u64);
        let number = |k: &str| match schema.get(k) {
            Some(Value::Number(n)) => Some(n.clone()),
            _ => None,
        };
        let strings = |k: &str| -> Vec<String> {
            schema
                .get(k)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        Self {
            type_: string("type"),
            nullable: flag("nullable"),
            preserve_unknown: flag("x-kubernetes-preserve-unknown-fields"),
            embedded: flag("x-kubernetes-embedded-resource"),
            int_or_string: flag("x-kubernetes-int-or-string"),
            properties: schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| {
                    p.iter()
                        .map(|(k, v)| (k.clone(), Self::compile(v)))
                        .collect()
                }),
            additional: schema
                .get("additionalProperties")
                .filter(|a| a.is_object())
                .map(|a| Box::new(Self::compile(a))),
            items: schema
                .get("items")
                .filter(|i| i.is_object())
                .map(|i| Box::new(Self::compile(i))),
            default: schema.get("default").cloned(),
            enum_: schema.get("enum").and_then(Value::as_array).cloned(),
            required: strings("required"),
            pattern: string("pattern").map(|text| Pattern {
                regex: regex::Regex::new(&text).ok(),
                text,
            }),
            format: string("format"),
            max_length: count("maxLength"),
            min_length: count("minLength"),
            maximum: number("maximum"),
            minimum: number("minimum"),
            exclusive_maximum: flag("exclusiveMaximum"),
            exclusive_minimum: flag("exclusiveMinimum"),
            multiple_of: schema.get("multipleOf").and_then(Value::as_f64),
            max_items: count("maxItems"),
            min_items: count("minItems"),
            max_properties: count("maxProperties"),
            min_properties: count("minProperties"),
            list_type: string("x-kubernetes-list-type"),
            list_map_keys: strings("x-kubernetes-list-map-keys"),
            all_of: schema
                .get("allOf")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(Self::compile)
                .collect(),
        }
    }

    /// The schema of a field (or of any key of a map).
    pub(crate) fn child(&self, key: &str) -> Option<&Structural> {
        self.properties
            .as_ref()
            .and_then(|p| p.get(key))
            .or(self.additional.as_deref())
    }

    pub(crate) fn items(&self) -> Option<&Structural> {
        self.items.as_deref()
    }

    /// `x-kubernetes-list-type`, and the map keys of a `map` list.
    pub(crate) fn list_type(&self) -> (Option<&str>, &[String]) {
        (self.list_type.as_deref(), &self.list_map_keys)
    }

    pub(crate) fn default_value(&self) -> Option<&Value> {
        self.default.as_ref()
    }
}

fn is_type_meta(key: &str) -> bool {
    matches!(key, "apiVersion" | "kind" | "metadata")
}

/// Pruning: fields the schema does not specify are dropped, except below
/// `x-kubernetes-preserve-unknown-fields`; the root and embedded resources
/// keep their apiVersion, kind and metadata. Dropped paths are added to
/// `dropped` (for `fieldValidation`).
pub fn prune(
    value: &mut Value,
    schema: &Structural,
    root: bool,
    path: &str,
    dropped: &mut Vec<String>,
) {
    match value {
        Value::Object(map) => {
            if schema.int_or_string {
                return;
            }
            let keep_type_meta = root || schema.embedded;
            let keeps_any = schema.preserve_unknown || schema.additional.is_some();
            map.retain(|key, v| {
                let keep = (keep_type_meta && is_type_meta(key))
                    || keeps_any
                    || schema
                        .properties
                        .as_ref()
                        .is_some_and(|p| p.contains_key(key));
                if !keep && !v.is_null() {
                    dropped.push(child_path(path, key));
                }
                keep
            });
            for (key, child) in map.iter_mut() {
                if keep_type_meta && is_type_meta(key) {
                    continue;
                }
                if let Some(s) = schema.child(key) {
                    prune(child, s, false, &child_path(path, key), dropped);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = &schema.items {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item, s, false, &format!("{path}[{i}]"), dropped);
                }
            }
        }
        _ => {}
    }
}

/// Defaulting: a missing field with a `default` gets it (a null one too,
/// unless the field is nullable), then defaults apply inside it, top down.
pub fn default(value: &mut Value, schema: &Structural) {
    match value {
        Value::Object(map) => {
            if let Some(properties) = &schema.properties {
                for (key, s) in properties {
                    let Some(d) = &s.default else { continue };
                    match map.get(key) {
                        None => {
                            map.insert(key.clone(), d.clone());
                        }
                        Some(Value::Null) if !s.nullable => {
                            map.insert(key.clone(), d.clone());
                        }
                        _ => {}
                    }
                }
            }
            for (key, child) in map.iter_mut() {
                if let Some(s) = schema.child(key) {
                    default(child, s);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = &schema.items {
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

fn type_error(path: &str, shown: &str, want: &str, actual: &str) -> FieldError {
    FieldError::invalid(
        path,
        actual,
        format!("{shown} in body must be of type {want}: \"{actual}\""),
    )
    .with_kind(ErrorKind::TypeInvalid)
}

/// Validation, each problem a field error worded as the real server's
/// conversion of kube-openapi's errors words it (`spec.size: Invalid value:
/// "string": spec.size in body must be of type integer: "string"`). CEL
/// rules are not evaluated.
pub fn validate(value: &Value, schema: &Structural, path: &str, errs: &mut Vec<FieldError>) {
    let shown = if path.is_empty() { "<root>" } else { path };
    if value.is_null() {
        if let Some(want) = schema.type_.as_deref().filter(|_| !schema.nullable) {
            errs.push(type_error(path, shown, want, "null"));
        }
        return;
    }
    let actual = type_name(value);
    if schema.int_or_string {
        if !matches!(actual, "integer" | "string") {
            errs.push(type_error(path, shown, "integer-or-string", actual));
            return;
        }
    } else if let Some(want) = schema.type_.as_deref()
        && want != actual
        && !(want == "number" && actual == "integer")
    {
        errs.push(type_error(path, shown, want, actual));
        return;
    }
    if let Some(allowed) = &schema.enum_
        && !allowed.contains(value)
    {
        let listed: Vec<String> = allowed
            .iter()
            .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
            .collect();
        errs.push(
            FieldError::invalid(path, value.clone(), "").with_kind(ErrorKind::NotSupported(listed)),
        );
    }
    match value {
        Value::String(s) => string_checks(s, schema, path, shown, errs),
        Value::Number(n) => number_checks(n, value, schema, path, shown, errs),
        Value::Array(items) => {
            let count = items.len() as u64;
            if let Some(max) = schema.max_items
                && count > max
            {
                errs.push(
                    FieldError::invalid(path, count, "")
                        .with_kind(ErrorKind::TooMany(max as usize)),
                );
            }
            if let Some(min) = schema.min_items
                && count < min
            {
                errs.push(FieldError::invalid(
                    path,
                    Value::Array(items.clone()),
                    format!("{shown} in body should have at least {min} items"),
                ));
            }
            list_type_checks(items, schema, path, errs);
            if let Some(s) = &schema.items {
                for (i, item) in items.iter().enumerate() {
                    validate(item, s, &format!("{path}[{i}]"), errs);
                }
            }
        }
        Value::Object(map) => {
            let count = map.len() as u64;
            if let Some(max) = schema.max_properties
                && count > max
            {
                errs.push(FieldError::invalid(
                    path,
                    count,
                    format!("{shown} in body should have at most {max} properties"),
                ));
            }
            if let Some(min) = schema.min_properties
                && count < min
            {
                errs.push(FieldError::invalid(
                    path,
                    count,
                    format!("{shown} in body should have at least {min} properties"),
                ));
            }
            for key in &schema.required {
                if !map.contains_key(key) {
                    errs.push(FieldError::required(child_path(path, key), ""));
                }
            }
            let root = path.is_empty();
            for (key, child) in map {
                if root && is_type_meta(key) {
                    continue;
                }
                if let Some(s) = schema.child(key) {
                    validate(child, s, &child_path(path, key), errs);
                }
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
    for s in &schema.all_of {
        validate(value, s, path, errs);
    }
}

fn string_checks(
    s: &str,
    schema: &Structural,
    path: &str,
    shown: &str,
    errs: &mut Vec<FieldError>,
) {
    if schema.max_length.is_some() || schema.min_length.is_some() {
        let chars = s.chars().count() as u64;
        if let Some(max) = schema.max_length
            && chars > max
        {
            errs.push(FieldError::invalid(path, s, "").with_kind(ErrorKind::TooLong(max as usize)));
        }
        if let Some(min) = schema.min_length
            && chars < min
        {
            errs.push(FieldError::invalid(
                path,
                s,
                format!("{shown} in body should be at least {min} chars long"),
            ));
        }
    }
    if let Some(Pattern {
        text,
        regex: Some(re),
    }) = &schema.pattern
        && !re.is_match(s)
    {
        errs.push(FieldError::invalid(
            path,
            s,
            format!("{shown} in body should match '{text}'"),
        ));
    }
    if let Some(format) = &schema.format
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
    n: &Number,
    value: &Value,
    schema: &Structural,
    path: &str,
    shown: &str,
    errs: &mut Vec<FieldError>,
) {
    let Some(x) = n.as_f64() else { return };
    if let Some(max) = &schema.maximum {
        let m = max.as_f64().unwrap_or(f64::MAX);
        if schema.exclusive_maximum && x >= m {
            errs.push(FieldError::invalid(
                path,
                value.clone(),
                format!("{shown} in body should be less than {max}"),
            ));
        } else if x > m {
            errs.push(FieldError::invalid(
                path,
                value.clone(),
                format!("{shown} in body should be less than or equal to {max}"),
            ));
        }
    }
    if let Some(min) = &schema.minimum {
        let m = min.as_f64().unwrap_or(f64::MIN);
        if schema.exclusive_minimum && x <= m {
            errs.push(FieldError::invalid(
                path,
                value.clone(),
                format!("{shown} in body should be greater than {min}"),
            ));
        } else if x < m {
            errs.push(FieldError::invalid(
                path,
                value.clone(),
                format!("{shown} in body should be greater than or equal to {min}"),
            ));
        }
    }
    if let Some(of) = schema.multiple_of
        && of != 0.0
        && (x / of).fract() != 0.0
    {
        errs.push(FieldError::invalid(
            path,
            value.clone(),
            format!("{shown} in body should be a multiple of {of}"),
        ));
    }
    if schema.format.as_deref() == Some("int32")
        && n.as_i64().is_none_or(|i| i32::try_from(i).is_err())
    {
        errs.push(
            FieldError::invalid(
                path,
                value.clone(),
                format!("{shown} in body must be of type int32: {value}"),
            )
            .with_kind(ErrorKind::TypeInvalid),
        );
    }
}

/// `x-kubernetes-list-type`: `set` items are unique, `map` items unique by
/// their `x-kubernetes-list-map-keys`.
fn list_type_checks(items: &[Value], schema: &Structural, path: &str, errs: &mut Vec<FieldError>) {
    match schema.list_type.as_deref() {
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
            let key_of = |item: &Value| -> Value {
                Value::Object(
                    schema
                        .list_map_keys
                        .iter()
                        .filter_map(|k| item.get(k).map(|v| (k.clone(), v.clone())))
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
        let mut dropped = vec![];
        prune(
            &mut w,
            &Structural::compile(&widget_schema()),
            true,
            "",
            &mut dropped,
        );
        assert_eq!(dropped, ["other", "spec.colour"]);
        assert_eq!(
            w,
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": 2, "free": {"anything": {"goes": 1}}, "labels": {"a": "b"}}, "status": {"x": 1}})
        );
    }

    #[test]
    fn defaults_fill_missing_and_null_fields_top_down() {
        let mut w = json!({"spec": {"tier": null}});
        default(&mut w, &Structural::compile(&widget_schema()));
        assert_eq!(w["spec"], json!({"size": 3, "tier": "small"}));
    }

    #[test]
    fn problems_are_worded_as_a_real_server_words_them() {
        let mut errs = vec![];
        let w = json!({"spec": {"size": "big", "tier": "huge", "name": "ABCDEFG", "tags": ["a", "a"], "labels": {"k": 1}}});
        validate(&w, &Structural::compile(&widget_schema()), "", &mut errs);
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
        validate(
            &json!({"spec": {}}),
            &Structural::compile(&widget_schema()),
            "",
            &mut errs,
        );
        assert_eq!(errs[0].field, "spec.size");
        assert_eq!(errs[0].body(), "Required value");
    }
}
