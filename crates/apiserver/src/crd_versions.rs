//! A CRD version's printer columns, selectable fields, scale subresource
//! and deprecation warning, validated as
//! `validateCustomResourceDefinitionVersion` does.
//! A field every version shares is validated once, at the spec level, and
//! named from there (`spec.additionalPrinterColumns[0].JSONPath`), since
//! the v1 conversion moves it to the internal type's spec; with its
//! quirk: a column's `jsonPath` is named `JSONPath` in the path.

use serde_json::Value;

use super::validation::{ErrorKind, FieldError};

const COLUMN_TYPES: [&str; 5] = ["boolean", "date", "integer", "number", "string"];
const COLUMN_FORMATS: [&str; 8] = [
    "byte",
    "date",
    "date-time",
    "double",
    "float",
    "int32",
    "int64",
    "password",
];
/// `MaxSelectableFields`.
const MAX_SELECTABLE_FIELDS: usize = 8;

/// Everything wrong with the versions' columns, selectable fields and
/// deprecation warnings.
pub fn errors(versions: &[Value]) -> Vec<FieldError> {
    let mut errs = vec![];
    let shared = |key: &str| {
        versions
            .iter()
            .all(|v| v.get(key) == versions.first().and_then(|f| f.get(key)))
    };
    let columns_shared = shared("additionalPrinterColumns");
    let subresources_shared = shared("subresources");
    let fields_shared = shared("selectableFields") && shared("schema");
    for (i, version) in versions.iter().enumerate() {
        let at = format!("spec.versions[{i}]");
        errs.extend(deprecation_warning(version, &at));
        if !columns_shared || i == 0 {
            let base = if columns_shared {
                "spec".to_string()
            } else {
                at.clone()
            };
            for (c, column) in array(version, "additionalPrinterColumns")
                .iter()
                .enumerate()
            {
                errs.extend(column_errors(
                    column,
                    &format!("{base}.additionalPrinterColumns[{c}]"),
                ));
            }
        }
        if !subresources_shared || i == 0 {
            let base = if subresources_shared {
                "spec".to_string()
            } else {
                at.clone()
            };
            errs.extend(scale_errors(version, &format!("{base}.subresources")));
        }
        if !fields_shared || i == 0 {
            let base = if fields_shared {
                "spec".to_string()
            } else {
                at
            };
            errs.extend(selectable_fields(version, &base));
        }
    }
    errs
}

fn array<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// `validateDeprecationWarning`.
fn deprecation_warning(version: &Value, at: &str) -> Vec<FieldError> {
    let Some(warning) = version.get("deprecationWarning").and_then(Value::as_str) else {
        return vec![];
    };
    let path = format!("{at}.deprecationWarning");
    if version["deprecated"] != Value::Bool(true) {
        return vec![FieldError::invalid(
            path,
            warning,
            "can only be set for deprecated versions",
        )];
    }
    let mut problems = vec![];
    if warning.len() > 256 {
        problems.push("must be <= 256 characters long".to_string());
    }
    if warning.is_empty() {
        problems.push("must not be an empty string".to_string());
    }
    // Go's `unicode.IsPrint` (approximated: no control characters, no
    // spaces but U+0020) is tested first, so a control character is
    // reported as non-printable.
    if let Some((index, _)) = warning
        .char_indices()
        .find(|(_, c)| c.is_control() || (c.is_whitespace() && *c != ' '))
    {
        problems.push(format!(
            "must only contain printable UTF-8 characters; non-printable character found at index {index}"
        ));
    }
    problems
        .into_iter()
        .map(|p| FieldError::invalid(path.clone(), warning, p))
        .collect()
}

/// `validateSimpleJSONPath`, and the prefix a scale path must have.
fn scale_path(path: Option<&str>, at: String, under: &[&str], wanted: &str) -> Option<FieldError> {
    match path {
        None | Some("") => Some(FieldError::required(at, "")),
        Some(p) if !p.starts_with('.') => Some(not_simple_json_path(at, p)),
        Some(p) if !under.iter().any(|u| p.starts_with(u)) => Some(FieldError::invalid(
            at,
            p,
            format!("should be a json path under {wanted}"),
        )),
        Some(_) => None,
    }
}

/// `ValidateCustomResourceDefinitionSubresources`' scale paths: replicas
/// under `.spec` and `.status`, a selector under either.
fn scale_errors(version: &Value, at: &str) -> Vec<FieldError> {
    let Some(scale) = version.pointer("/subresources/scale") else {
        return vec![];
    };
    let path = |k: &str| scale.get(k).and_then(Value::as_str);
    let mut errs: Vec<FieldError> = [
        scale_path(
            path("specReplicasPath"),
            format!("{at}.scale.specReplicasPath"),
            &[".spec."],
            ".spec",
        ),
        scale_path(
            path("statusReplicasPath"),
            format!("{at}.scale.statusReplicasPath"),
            &[".status."],
            ".status",
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(selector) = path("labelSelectorPath").filter(|p| !p.is_empty()) {
        errs.extend(scale_path(
            Some(selector),
            format!("{at}.scale.labelSelectorPath"),
            &[".spec.", ".status."],
            "either .spec or .status",
        ));
    }
    errs
}

/// `ValidateCustomResourceColumnDefinition`.
fn column_errors(column: &Value, at: &str) -> Vec<FieldError> {
    let mut errs = vec![];
    let text = |k: &str| column.get(k).and_then(Value::as_str).unwrap_or("");
    if text("name").is_empty() {
        errs.push(FieldError::required(format!("{at}.name"), ""));
    }
    let types = format!("must be one of {}", COLUMN_TYPES.join(","));
    match text("type") {
        "" => errs.push(FieldError::required(format!("{at}.type"), types)),
        t if !COLUMN_TYPES.contains(&t) => {
            errs.push(FieldError::invalid(format!("{at}.type"), t, types));
        }
        _ => {}
    }
    let format = text("format");
    if !format.is_empty() && !COLUMN_FORMATS.contains(&format) {
        errs.push(FieldError::invalid(
            format!("{at}.format"),
            format,
            format!("must be one of {}", COLUMN_FORMATS.join(",")),
        ));
    }
    let path = text("jsonPath");
    if path.is_empty() {
        errs.push(FieldError::required(format!("{at}.JSONPath"), ""));
    } else if !path.starts_with('.') {
        errs.push(not_simple_json_path(format!("{at}.JSONPath"), path));
    }
    errs
}

/// `validateSimpleJSONPath`'s refusal of a path not starting with `.`.
fn not_simple_json_path(at: String, path: &str) -> FieldError {
    FieldError::invalid(at, path, "must be a simple json path starting with .")
}

/// `ValidateCustomResourceSelectableFields`: each a path in the dot
/// notation to a string, boolean or integer field of the schema, outside
/// `metadata`, once, at most eight.
fn selectable_fields(version: &Value, base: &str) -> Vec<FieldError> {
    let fields = array(version, "selectableFields");
    if fields.is_empty() {
        return vec![];
    }
    let Some(schema) = version.pointer("/schema/openAPIV3Schema") else {
        return vec![FieldError::invalid(
            format!("{base}.selectableFields"),
            "",
            "selectableFields may only be set when version.schema.openAPIV3Schema is not included",
        )];
    };
    let mut errs = vec![];
    let mut seen: Vec<&str> = vec![];
    for (i, field) in fields.iter().enumerate() {
        let at = format!("{base}.selectableFields[{i}].jsonPath");
        let Some(path) = field
            .get("jsonPath")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
        else {
            errs.push(FieldError::required(at, ""));
            continue;
        };
        let found = match super::cel_rules::valid_field_path(path, schema, false) {
            Ok((_, found)) => found,
            Err(why) => {
                errs.push(FieldError::invalid(
                    at,
                    path,
                    format!("is an invalid path: {why}"),
                ));
                continue;
            }
        };
        if path.trim_start_matches('.').split('.').next() == Some("metadata") {
            errs.push(FieldError::invalid(
                at.clone(),
                path,
                "must not point to fields in metadata",
            ));
        }
        if !matches!(
            found.get("type").and_then(Value::as_str),
            Some("string" | "boolean" | "integer")
        ) {
            errs.push(FieldError::invalid(
                at.clone(),
                path,
                "must point to a field of type string, boolean or integer. Enum string fields and strings with formats are allowed.",
            ));
        }
        if seen.contains(&path) {
            errs.push(FieldError::duplicate(at, path));
        } else {
            seen.push(path);
        }
    }
    if seen.len() > MAX_SELECTABLE_FIELDS {
        errs.push(
            FieldError::invalid(format!("{base}.selectableFields"), seen.len(), "")
                .with_kind(ErrorKind::TooMany(MAX_SELECTABLE_FIELDS)),
        );
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn texts(errs: &[FieldError]) -> Vec<String> {
        errs.iter()
            .map(|e| format!("{}: {}", e.field, e.body()))
            .collect()
    }

    #[test]
    fn columns_fields_and_warnings_are_held_to_the_real_rules() {
        let version = json!({"name": "v1", "served": true, "storage": true,
            "deprecationWarning": "soon",
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {
                    "size": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}}}}}},
            "additionalPrinterColumns": [
                {"name": "Size", "type": "string", "jsonPath": "spec.size"},
                {"name": "Odd", "type": "strange", "format": "money", "jsonPath": ".spec.size"}],
            "selectableFields": [
                {"jsonPath": ".spec.size"}, {"jsonPath": ".spec.tags"},
                {"jsonPath": ".spec.sise"}, {"jsonPath": ".spec.size"}]});
        assert_eq!(
            texts(&errors(&[version])),
            [
                "spec.versions[0].deprecationWarning: Invalid value: \"soon\": can only be set for deprecated versions",
                "spec.additionalPrinterColumns[0].JSONPath: Invalid value: \"spec.size\": must be a simple json path starting with .",
                "spec.additionalPrinterColumns[1].type: Invalid value: \"strange\": must be one of boolean,date,integer,number,string",
                "spec.additionalPrinterColumns[1].format: Invalid value: \"money\": must be one of byte,date,date-time,double,float,int32,int64,password",
                "spec.selectableFields[1].jsonPath: Invalid value: \".spec.tags\": must point to a field of type string, boolean or integer. Enum string fields and strings with formats are allowed.",
                "spec.selectableFields[2].jsonPath: Invalid value: \".spec.sise\": is an invalid path: does not refer to a valid field",
                "spec.selectableFields[3].jsonPath: Duplicate value: \".spec.size\"",
            ]
        );
    }

    #[test]
    fn scale_paths_must_point_under_spec_and_status() {
        let version = |scale: Value| {
            json!({"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": scale}})
        };
        assert_eq!(
            texts(&errors(&[version(
                json!({"specReplicasPath": ".spec.replicas",
                "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"})
            )])),
            Vec::<String>::new()
        );
        assert_eq!(
            texts(&errors(&[version(
                json!({"specReplicasPath": "spec.replicas",
                "statusReplicasPath": ".spec.replicas", "labelSelectorPath": ".metadata.labels"})
            )])),
            [
                "spec.subresources.scale.specReplicasPath: Invalid value: \"spec.replicas\": must be a simple json path starting with .",
                "spec.subresources.scale.statusReplicasPath: Invalid value: \".spec.replicas\": should be a json path under .status",
                "spec.subresources.scale.labelSelectorPath: Invalid value: \".metadata.labels\": should be a json path under either .spec or .status",
            ]
        );
        assert_eq!(
            texts(&errors(&[version(
                json!({"statusReplicasPath": ".status.replicas"})
            )])),
            ["spec.subresources.scale.specReplicasPath: Required value"]
        );
    }

    #[test]
    fn a_deprecation_warning_is_short_and_printable() {
        let version = |warning: &str| {
            json!({"name": "v1", "served": true, "storage": true, "deprecated": true,
                "deprecationWarning": warning})
        };
        assert_eq!(texts(&errors(&[version("going")])), Vec::<String>::new());
        let long = "x".repeat(257);
        assert_eq!(
            texts(&errors(&[version(&long)])),
            [format!(
                "spec.versions[0].deprecationWarning: Invalid value: \"{long}\": must be <= 256 characters long"
            )]
        );
        assert_eq!(
            texts(&errors(&[version("a\tb")])),
            [
                "spec.versions[0].deprecationWarning: Invalid value: \"a\\tb\": must only contain printable UTF-8 characters; non-printable character found at index 1"
            ]
        );
    }
}
