//! A CRD version's structural schema, compiled once when the CRD is stored,
//! and what a real server does with it to every custom resource: pruning
//! (`structuralpruning`), defaulting (`structuraldefaulting`) and
//! validation (`apiextensions-apiserver/pkg/apiserver/validation`). Reading
//! the schema as JSON on every object cost half the create throughput.

use std::collections::BTreeMap;

use serde_json::{Number, Value};

use super::cel_rules::{self, Rule};
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
    /// `x-kubernetes-validations`.
    rules: Vec<Rule>,
    /// Whether this node or one below it has rules.
    rules_below: bool,
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
        let mut node = Self {
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
            rules: cel_rules::compile(schema),
            rules_below: false,
        };
        node.rules_below = !node.rules.is_empty()
            || node
                .properties
                .iter()
                .flat_map(|p| p.values())
                .any(|p| p.rules_below)
            || node.additional.as_ref().is_some_and(|a| a.rules_below)
            || node.items.as_ref().is_some_and(|i| i.rules_below)
            || node.all_of.iter().any(|a| a.rules_below);
        node
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

    pub(crate) fn type_name(&self) -> Option<&str> {
        self.type_.as_deref()
    }

    pub(crate) fn format_name(&self) -> Option<&str> {
        self.format.as_deref()
    }

    /// An object with fields (not a map, nor an object of unknown fields).
    pub(crate) fn has_properties(&self) -> bool {
        self.properties.is_some()
    }

    pub(crate) fn is_embedded(&self) -> bool {
        self.embedded
    }

    pub(crate) fn all_of(&self) -> &[Structural] {
        &self.all_of
    }

    pub(crate) fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether this node or any below it has `x-kubernetes-validations`.
    pub(crate) fn has_rules(&self) -> bool {
        self.rules_below
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

/// A create's validation, each problem a field error worded as the real
/// server's conversion of kube-openapi's errors words it (`spec.size:
/// Invalid value: "string": spec.size in body must be of type integer:
/// "string"`), then the list types' (`structurallisttype`), which a real
/// server checks after the schema. CEL rules are not evaluated.
pub fn validate(value: &Value, schema: &Structural, path: &str, errs: &mut Vec<FieldError>) {
    walk(value, None, schema, path, errs);
    list_types(value, schema, path, errs);
}

/// An update's validation as 1.32 does it with `CRDValidationRatcheting`
/// (beta there, on by default): a problem found at a part of the object
/// that the update left as it was is not an error (it becomes a warning
/// the server keeps to itself), so an object stored before its CRD's
/// schema was tightened can still be labelled, have its finalizers removed
/// or another field changed; what the update changes must be valid. A part
/// is compared with its old value through the schema, as
/// `common.CorrelatedObject` does: fields by name, items of a `map` list by
/// their keys, items of other lists only with the whole list. The list
/// types' rules apply only if the old object kept them.
pub fn validate_update(
    value: &Value,
    old: &Value,
    schema: &Structural,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    walk(value, Some(old), schema, path, errs);
    list_types_unless_old_broke_them(value, old, schema, path, errs);
}

/// A write of the status subresource, as `ValidateStatusUpdate` and the
/// status strategy check it: only `status`, against its own schema and not
/// ratcheted (the rest of the object is the stored one: a spec that a
/// tightened schema no longer admits does not stop status writes), then
/// the whole object's list types unless the old object broke them.
pub fn validate_status_update(
    object: &Value,
    old: &Value,
    schema: &Structural,
    errs: &mut Vec<FieldError>,
) {
    if let Some(status) = object.get("status")
        && let Some(status_schema) = schema.properties.as_ref().and_then(|p| p.get("status"))
    {
        walk(status, None, status_schema, "status", errs);
    }
    list_types_unless_old_broke_them(object, old, schema, "", errs);
}

fn list_types_unless_old_broke_them(
    value: &Value,
    old: &Value,
    schema: &Structural,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let mut new_errs = vec![];
    list_types(value, schema, path, &mut new_errs);
    if new_errs.is_empty() {
        return;
    }
    let mut old_errs = vec![];
    list_types(old, schema, path, &mut old_errs);
    if old_errs.is_empty() {
        errs.extend(new_errs);
    }
}

/// The schema's own checks of `value` and of everything below it. With
/// `old` (an update, where this part has a counterpart in the stored
/// object), what is found here is dropped if this part did not change.
fn walk(
    value: &Value,
    old: Option<&Value>,
    schema: &Structural,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
    let found_before = errs.len();
    checks(value, old, schema, path, errs);
    if errs.len() > found_before
        && let Some(old) = old
        && unchanged(value, old, schema)
    {
        errs.truncate(found_before);
    }
}

/// The old item a `map` list's item is compared with: the one with the
/// same values of the list's keys (all of them present).
pub(crate) fn correlated_item<'o>(
    item: &Value,
    old: Option<&'o Value>,
    schema: &Structural,
) -> Option<&'o Value> {
    if schema.list_type.as_deref() != Some("map") || schema.list_map_keys.is_empty() {
        return None;
    }
    let key_of = |v: &Value| -> Option<Vec<Value>> {
        schema
            .list_map_keys
            .iter()
            .map(|k| v.get(k).cloned())
            .collect()
    };
    let key = key_of(item)?;
    old?.as_array()?
        .iter()
        .find(|o| key_of(o).as_ref() == Some(&key))
}

/// `CorrelatedObject.CachedDeepEqual`: equal through the schema. A field
/// the schema does not describe, or a `map` list's item with no old
/// counterpart, makes a part changed.
pub(crate) fn unchanged(value: &Value, old: &Value, schema: &Structural) -> bool {
    match (value, old) {
        (Value::Array(items), Value::Array(old_items)) => {
            if items.len() != old_items.len() {
                return false;
            }
            if schema.list_type.as_deref() != Some("map") {
                return items == old_items;
            }
            let Some(item_schema) = schema.items.as_deref() else {
                return false;
            };
            items.iter().all(|item| {
                correlated_item(item, Some(old), schema)
                    .is_some_and(|o| unchanged(item, o, item_schema))
            })
        }
        (Value::Object(map), Value::Object(old_map)) => {
            map.len() == old_map.len()
                && map
                    .iter()
                    .all(|(key, v)| match (old_map.get(key), schema.child(key)) {
                        (Some(o), Some(s)) => unchanged(v, o, s),
                        _ => false,
                    })
        }
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => false,
        _ => value == old,
    }
}

fn checks(
    value: &Value,
    old: Option<&Value>,
    schema: &Structural,
    path: &str,
    errs: &mut Vec<FieldError>,
) {
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
            if let Some(s) = &schema.items {
                for (i, item) in items.iter().enumerate() {
                    let old_item = correlated_item(item, old, schema);
                    walk(item, old_item, s, &format!("{path}[{i}]"), errs);
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
                    let old_child = old.and_then(|o| o.get(key));
                    walk(child, old_child, s, &child_path(path, key), errs);
                }
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
    for s in &schema.all_of {
        checks(value, old, s, path, errs);
    }
}

/// `structurallisttype.ValidateListSetsAndMaps`: along the schema's spine
/// (fields, map values, items), `set` lists' items unique and `map` lists'
/// keys.
fn list_types(value: &Value, schema: &Structural, path: &str, errs: &mut Vec<FieldError>) {
    match value {
        Value::Array(items) => {
            list_type_checks(items, schema, path, errs);
            if let Some(s) = &schema.items {
                for (i, item) in items.iter().enumerate() {
                    list_types(item, s, &format!("{path}[{i}]"), errs);
                }
            }
        }
        Value::Object(map) => {
            let type_meta_kept = path.is_empty() || schema.embedded;
            for (key, child) in map {
                if type_meta_kept && is_type_meta(key) {
                    continue;
                }
                if let Some(s) = schema.child(key) {
                    list_types(child, s, &child_path(path, key), errs);
                }
            }
        }
        _ => {}
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
                "spec.labels.k: Invalid value: \"integer\": spec.labels.k in body must be of type string: \"integer\"",
                // The list types are checked after the schema, as
                // `customResourceStrategy.Validate` does.
                "spec.tags[1]: Duplicate value: \"a\"",
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

    fn texts(errs: &[FieldError]) -> Vec<String> {
        errs.iter()
            .map(|e| format!("{}: {}", e.field, e.body()))
            .collect()
    }

    fn update_errors(next: &Value, old: &Value) -> Vec<String> {
        let mut errs = vec![];
        validate_update(
            next,
            old,
            &Structural::compile(&widget_schema()),
            "",
            &mut errs,
        );
        texts(&errs)
    }

    #[test]
    fn an_update_is_not_refused_for_what_it_left_as_it_was() {
        // Stored before the schema said `name` is at most 5 lowercase
        // letters; the update changes another field, or nothing in spec.
        let old = json!({"metadata": {"name": "w"}, "spec": {"size": 2, "name": "TOOLONGNAME"}});
        let label = json!({"metadata": {"name": "w", "labels": {"a": "b"}},
            "spec": {"size": 2, "name": "TOOLONGNAME"}});
        assert_eq!(update_errors(&label, &old), Vec::<String>::new());
        let other = json!({"metadata": {"name": "w"}, "spec": {"size": 3, "name": "TOOLONGNAME"}});
        assert_eq!(update_errors(&other, &old), Vec::<String>::new());
        // What the update changes is checked, and so is a new field.
        let changed =
            json!({"metadata": {"name": "w"}, "spec": {"size": 2, "name": "STILLTOOLONG"}});
        assert_eq!(
            update_errors(&changed, &old),
            [
                "spec.name: Too long: may not be more than 5 bytes",
                "spec.name: Invalid value: \"STILLTOOLONG\": spec.name in body should match '^[a-z]+$'",
            ]
        );
        let added = json!({"metadata": {"name": "w"}, "spec": {"size": 2, "name": "TOOLONGNAME", "tier": "huge"}});
        assert_eq!(
            update_errors(&added, &old),
            ["spec.tier: Unsupported value: \"huge\": supported values: \"small\", \"large\""]
        );
        // A create of the same object is refused.
        let mut errs = vec![];
        validate(
            &label,
            &Structural::compile(&widget_schema()),
            "",
            &mut errs,
        );
        assert_eq!(errs.len(), 2, "{:?}", texts(&errs));
    }

    #[test]
    fn a_changed_part_keeps_its_own_problems_an_unchanged_child_does_not() {
        // `spec` changes (a new key), so its own `required` problem stays;
        // `name`, unchanged, is not checked again.
        let old = json!({"spec": {"name": "TOOLONGNAME"}});
        let next = json!({"spec": {"name": "TOOLONGNAME", "labels": {"a": "b"}}});
        assert_eq!(update_errors(&next, &old), ["spec.size: Required value"]);
        // Items of a `set` list are compared only as the whole list.
        let old = json!({"spec": {"size": 1, "tags": ["a", "b"]}});
        let next = json!({"spec": {"size": 1, "tags": ["a", "b", "c"], "labels": {"k": 1}}});
        assert_eq!(
            update_errors(&next, &old),
            [
                "spec.labels.k: Invalid value: \"integer\": spec.labels.k in body must be of type string: \"integer\""
            ]
        );
    }

    #[test]
    fn map_list_items_are_compared_by_their_keys() {
        let schema = Structural::compile(&json!({"type": "object", "properties": {
            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"},
                    "port": {"type": "integer", "maximum": 100}}}}}}));
        let old = json!({"ports": [{"name": "a", "port": 500}, {"name": "b", "port": 1}]});
        // Reordered, with `b` changed: `a` (too high since the schema
        // changed) is the same item, found by its key.
        let next = json!({"ports": [{"name": "b", "port": 2}, {"name": "a", "port": 500}]});
        let mut errs = vec![];
        validate_update(&next, &old, &schema, "", &mut errs);
        assert_eq!(texts(&errs), Vec::<String>::new());
        let next = json!({"ports": [{"name": "b", "port": 2}, {"name": "a", "port": 501}]});
        let mut errs = vec![];
        validate_update(&next, &old, &schema, "", &mut errs);
        assert_eq!(
            texts(&errs),
            [
                "ports[1].port: Invalid value: 501: ports[1].port in body should be less than or equal to 100"
            ]
        );
    }

    #[test]
    fn list_types_are_checked_on_update_only_if_the_old_object_kept_them() {
        let old = json!({"spec": {"size": 1, "tags": ["a", "a"]}});
        let next = json!({"spec": {"size": 1, "tags": ["a", "a", "b", "b"]}});
        assert_eq!(update_errors(&next, &old), Vec::<String>::new());
        let old = json!({"spec": {"size": 1, "tags": ["a"]}});
        assert_eq!(
            update_errors(&next, &old),
            [
                "spec.tags[1]: Duplicate value: \"a\"",
                "spec.tags[3]: Duplicate value: \"b\""
            ]
        );
    }

    #[test]
    fn a_status_write_checks_status_alone_and_without_ratcheting() {
        let schema = Structural::compile(&json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 2}}},
            "status": {"type": "object", "properties": {"phase": {"type": "string", "maxLength": 3}}}}}));
        let old = json!({"spec": {"name": "toolong"}, "status": {"phase": "toolong"}});
        let next = json!({"spec": {"name": "toolong"}, "status": {"phase": "ok"}});
        let mut errs = vec![];
        validate_status_update(&next, &old, &schema, &mut errs);
        assert_eq!(texts(&errs), Vec::<String>::new());
        let mut errs = vec![];
        validate_status_update(&old, &old, &schema, &mut errs);
        assert_eq!(
            texts(&errs),
            ["status.phase: Too long: may not be more than 3 bytes"]
        );
    }
}
