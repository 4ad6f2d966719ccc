//! `/openapi/v2` as client-go reads it: gnostic's `openapi.v2.Document`
//! protobuf (field numbers of gnostic's `OpenAPIv2.proto`), holding the
//! served kinds' definitions.
//!
//! The definitions are the OpenAPI v3 schemas made into what a v2 reader
//! accepts, as the apiextensions-apiserver does when it publishes a CRD in
//! v2: no `nullable`, `oneOf`, `anyOf` or `not`, one type at most, a
//! reference standing alone, every array with exactly one item schema
//! (kube-openapi's `proto.NewOpenAPIData`, which kubectl runs over the
//! document, refuses the whole document otherwise).

use prost::Message;
use serde_json::{Map, Value};

#[derive(Clone, PartialEq, Message)]
struct Document {
    #[prost(string, tag = "1")]
    swagger: String,
    #[prost(message, optional, tag = "2")]
    info: Option<Info>,
    #[prost(message, optional, tag = "9")]
    definitions: Option<Properties>,
}

#[derive(Clone, PartialEq, Message)]
struct Info {
    #[prost(string, tag = "1")]
    title: String,
    #[prost(string, tag = "2")]
    version: String,
}

/// gnostic's `Definitions` and `Properties` share this shape.
#[derive(Clone, PartialEq, Message)]
struct Properties {
    #[prost(message, repeated, tag = "1")]
    additional_properties: Vec<NamedSchema>,
}

#[derive(Clone, PartialEq, Message)]
struct NamedSchema {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<Schema>,
}

/// A value gnostic keeps as the YAML it was written in (JSON is YAML).
#[derive(Clone, PartialEq, Message)]
struct Any {
    #[prost(string, tag = "2")]
    yaml: String,
}

#[derive(Clone, PartialEq, Message)]
struct NamedAny {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<Any>,
}

#[derive(Clone, PartialEq, Message)]
struct StringList {
    #[prost(string, repeated, tag = "1")]
    value: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct ItemsItem {
    #[prost(message, repeated, tag = "1")]
    schema: Vec<Schema>,
}

#[derive(Clone, PartialEq, Message)]
struct AdditionalPropertiesItem {
    #[prost(oneof = "Additional", tags = "1, 2")]
    oneof: Option<Additional>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Additional {
    #[prost(message, tag = "1")]
    Schema(Box<Schema>),
    #[prost(bool, tag = "2")]
    Boolean(bool),
}

#[derive(Clone, PartialEq, Message)]
struct Schema {
    #[prost(string, tag = "1")]
    r#ref: String,
    #[prost(string, tag = "2")]
    format: String,
    #[prost(string, tag = "3")]
    title: String,
    #[prost(string, tag = "4")]
    description: String,
    #[prost(message, optional, tag = "5")]
    default: Option<Any>,
    #[prost(double, tag = "6")]
    multiple_of: f64,
    #[prost(double, tag = "7")]
    maximum: f64,
    #[prost(bool, tag = "8")]
    exclusive_maximum: bool,
    #[prost(double, tag = "9")]
    minimum: f64,
    #[prost(bool, tag = "10")]
    exclusive_minimum: bool,
    #[prost(int64, tag = "11")]
    max_length: i64,
    #[prost(int64, tag = "12")]
    min_length: i64,
    #[prost(string, tag = "13")]
    pattern: String,
    #[prost(int64, tag = "14")]
    max_items: i64,
    #[prost(int64, tag = "15")]
    min_items: i64,
    #[prost(bool, tag = "16")]
    unique_items: bool,
    #[prost(int64, tag = "17")]
    max_properties: i64,
    #[prost(int64, tag = "18")]
    min_properties: i64,
    #[prost(string, repeated, tag = "19")]
    required: Vec<String>,
    #[prost(message, repeated, tag = "20")]
    r#enum: Vec<Any>,
    #[prost(message, optional, tag = "21")]
    additional_properties: Option<AdditionalPropertiesItem>,
    #[prost(message, optional, tag = "22")]
    r#type: Option<StringList>,
    #[prost(message, optional, tag = "23")]
    items: Option<ItemsItem>,
    #[prost(message, optional, tag = "25")]
    properties: Option<Properties>,
    #[prost(bool, tag = "27")]
    read_only: bool,
    #[prost(message, optional, tag = "30")]
    example: Option<Any>,
    #[prost(message, repeated, tag = "31")]
    vendor_extension: Vec<NamedAny>,
}

/// True if the schema admits null (`nullable`, or a JSON Schema type list
/// naming `null`, as schemars writes optional fields).
fn nullable(schema: &Map<String, Value>) -> bool {
    schema.get("nullable") == Some(&Value::Bool(true))
        || matches!(schema.get("type"), Some(Value::Array(ts)) if ts.iter().any(|t| t == "null"))
}

/// An OpenAPI v3 schema (with `#/components/schemas/` references) as the
/// apiextensions-apiserver publishes it in v2 (`ToStructuralOpenAPIV2`),
/// with `#/definitions/` references.
pub fn to_v2(schema: &Value) -> Value {
    let Some(object) = schema.as_object() else {
        return Value::Object(Map::new());
    };
    let mut out = Map::new();
    // `allOf: [{$ref}]` is how v3 documents give a reference a description;
    // a v2 reference stands alone.
    let reference = object.get("$ref").or_else(|| match object.get("allOf") {
        Some(Value::Array(all)) if all.len() == 1 => all[0].get("$ref"),
        _ => None,
    });
    if let Some(Value::String(r)) = reference {
        let name = r.rsplit('/').next().unwrap_or(r);
        out.insert(
            "$ref".into(),
            Value::String(format!("#/definitions/{name}")),
        );
        if let Some(d) = object.get("description") {
            out.insert("description".into(), d.clone());
        }
        return Value::Object(out);
    }
    let nullable = nullable(object);
    // kubectl cannot cope with items or properties under an untyped value
    // or one that keeps unknown fields.
    let open =
        nullable || object.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    for (key, value) in object {
        match key.as_str() {
            "nullable" | "oneOf" | "anyOf" | "not" | "allOf" | "$defs" | "definitions" => {}
            "type" if nullable => {}
            "type" => match value {
                Value::String(_) => {
                    out.insert(key.clone(), value.clone());
                }
                Value::Array(types) => {
                    if let [single] = types.as_slice() {
                        out.insert(key.clone(), single.clone());
                    }
                }
                _ => {}
            },
            "properties" | "items" if open => {}
            "properties" => {
                let properties = value.as_object().cloned().unwrap_or_default();
                out.insert(
                    key.clone(),
                    Value::Object(
                        properties
                            .iter()
                            .map(|(k, v)| (k.clone(), to_v2(v)))
                            .collect(),
                    ),
                );
                // A field that may be null is not required in v2.
                if let Some(Value::Array(required)) = object.get("required") {
                    let kept: Vec<Value> = required
                        .iter()
                        .filter(|f| {
                            let field = f.as_str().and_then(|f| properties.get(f));
                            !field.and_then(Value::as_object).is_some_and(self::nullable)
                        })
                        .cloned()
                        .collect();
                    out.insert("required".into(), Value::Array(kept));
                }
            }
            "required" => {
                out.entry(key.clone()).or_insert_with(|| value.clone());
            }
            "items" => {
                let item = match value {
                    Value::Array(items) => items.first(),
                    other => Some(other),
                };
                if let Some(item) = item {
                    out.insert(key.clone(), to_v2(item));
                }
            }
            "additionalProperties" => {
                let converted = match value {
                    Value::Bool(b) => Value::Bool(*b),
                    other => to_v2(other),
                };
                out.insert(key.clone(), converted);
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    if let Some(Value::Object(additional)) = object.get("additionalProperties")
        && self::nullable(additional)
    {
        out.remove("required");
    }
    if out
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        out.remove("required");
    }
    if out.get("type").and_then(Value::as_str) == Some("array") && !out.contains_key("items") {
        out.remove("type");
    }
    Value::Object(out)
}

fn yaml(v: &Value) -> Any {
    Any {
        yaml: v.to_string(),
    }
}

fn message(schema: &Value) -> Schema {
    let mut s = Schema::default();
    let Some(object) = schema.as_object() else {
        return s;
    };
    let text = |key: &str| {
        object
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let number = |key: &str| object.get(key).and_then(Value::as_f64).unwrap_or_default();
    let integer = |key: &str| object.get(key).and_then(Value::as_i64).unwrap_or_default();
    let flag = |key: &str| object.get(key).and_then(Value::as_bool).unwrap_or_default();
    s.r#ref = text("$ref");
    s.format = text("format");
    s.title = text("title");
    s.description = text("description");
    s.default = object.get("default").map(yaml);
    s.multiple_of = number("multipleOf");
    s.maximum = number("maximum");
    s.exclusive_maximum = flag("exclusiveMaximum");
    s.minimum = number("minimum");
    s.exclusive_minimum = flag("exclusiveMinimum");
    s.max_length = integer("maxLength");
    s.min_length = integer("minLength");
    s.pattern = text("pattern");
    s.max_items = integer("maxItems");
    s.min_items = integer("minItems");
    s.unique_items = flag("uniqueItems");
    s.max_properties = integer("maxProperties");
    s.min_properties = integer("minProperties");
    s.required = object
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    s.r#enum = object
        .get("enum")
        .and_then(Value::as_array)
        .map(|e| e.iter().map(yaml).collect())
        .unwrap_or_default();
    s.additional_properties = object.get("additionalProperties").map(|a| {
        let oneof = match a {
            Value::Bool(b) => Additional::Boolean(*b),
            schema => Additional::Schema(Box::new(message(schema))),
        };
        AdditionalPropertiesItem { oneof: Some(oneof) }
    });
    s.r#type = object
        .get("type")
        .and_then(Value::as_str)
        .map(|t| StringList {
            value: vec![t.to_string()],
        });
    s.items = object.get("items").map(|item| ItemsItem {
        schema: vec![message(item)],
    });
    s.properties = object
        .get("properties")
        .and_then(Value::as_object)
        .map(named);
    s.read_only = flag("readOnly");
    s.example = object.get("example").map(yaml);
    s.vendor_extension = object
        .iter()
        .filter(|(k, _)| k.starts_with("x-"))
        .map(|(k, v)| NamedAny {
            name: k.clone(),
            value: Some(yaml(v)),
        })
        .collect();
    s
}

fn named(schemas: &Map<String, Value>) -> Properties {
    Properties {
        additional_properties: schemas
            .iter()
            .map(|(name, schema)| NamedSchema {
                name: name.clone(),
                value: Some(message(schema)),
            })
            .collect(),
    }
}

/// The v2 document with `definitions` (already made v2 by [`to_v2`]).
pub fn document(title: &str, version: &str, definitions: &Map<String, Value>) -> Vec<u8> {
    Document {
        swagger: "2.0".into(),
        info: Some(Info {
            title: title.into(),
            version: version.into(),
        }),
        definitions: Some(named(definitions)),
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_stand_alone_and_point_at_definitions() {
        let v3 = json!({"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}],
            "description": "Standard object's metadata."});
        assert_eq!(
            to_v2(&v3),
            json!({"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                "description": "Standard object's metadata."})
        );
    }

    #[test]
    fn what_a_v2_reader_refuses_is_taken_out_as_the_apiextensions_apiserver_does() {
        let v3 = json!({"type": "object", "required": ["a", "b"],
        "properties": {
            "a": {"type": "integer", "nullable": true},
            "b": {"type": ["string", "null"]},
            "c": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                "properties": {"d": {"type": "string"}}},
            "e": {"type": "array", "x-kubernetes-preserve-unknown-fields": true,
                "items": {"type": "string"}},
            "f": {"oneOf": [{"type": "string"}], "type": "string", "maxLength": 3},
        }});
        assert_eq!(
            to_v2(&v3),
            json!({"type": "object",
            "properties": {
                "a": {},
                "b": {},
                "c": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "e": {"x-kubernetes-preserve-unknown-fields": true},
                "f": {"type": "string", "maxLength": 3},
            }})
        );
    }

    #[test]
    fn the_document_carries_vendor_extensions_as_yaml() {
        let mut definitions = Map::new();
        definitions.insert(
            "io.example.v1.Widget".into(),
            json!({"type": "object", "properties": {"spec": {"type": "string"}},
                "x-kubernetes-group-version-kind": [{"group": "example.io", "version": "v1", "kind": "Widget"}]}),
        );
        let doc = Document::decode(document("t", "v", &definitions).as_slice()).unwrap();
        let widget = &doc.definitions.unwrap().additional_properties[0];
        let schema = widget.value.as_ref().unwrap();
        assert_eq!(widget.name, "io.example.v1.Widget");
        assert_eq!(schema.r#type.as_ref().unwrap().value, ["object"]);
        let extension = &schema.vendor_extension[0];
        assert_eq!(extension.name, "x-kubernetes-group-version-kind");
        let yaml: Value = serde_json::from_str(&extension.value.as_ref().unwrap().yaml).unwrap();
        assert_eq!(
            yaml,
            json!([{"group": "example.io", "version": "v1", "kind": "Widget"}])
        );
    }
}
