//! CustomResourceDefinitions in protobuf: the apiextensions messages,
//! whose schema (`JSONSchemaProps`) is recursive and carries raw JSON
//! (`default`, `enum`, `example`) and the either-or forms of JSON Schema
//! (`items`: a schema or a list, `additionalProperties`: a schema or a
//! boolean).

use k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1 as ext;
use serde_json::Value;

use super::json::{Json, inline_json, json_message, raw_json};

/// `apiextensions/v1.JSON`: raw JSON bytes, inline in JSON.
impl Json for ext::Json {
    fn to_json(&self) -> Value {
        inline_json(self.raw.as_deref())
    }
    fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            raw: Some(raw_json(v)?),
        })
    }
    fn always_kept(&self) -> bool {
        true
    }
}

/// `items`: one schema (an object) or one per position (an array).
impl Json for ext::JsonSchemaPropsOrArray {
    fn to_json(&self) -> Value {
        match &self.schema {
            Some(schema) => schema.to_json(),
            None => self.j_son_schemas.to_json(),
        }
    }
    fn from_json(v: &Value) -> Option<Self> {
        Some(match v {
            Value::Array(_) => Self {
                schema: None,
                j_son_schemas: Json::from_json(v)?,
            },
            _ => Self {
                schema: Some(Box::new(Json::from_json(v)?)),
                j_son_schemas: vec![],
            },
        })
    }
    fn always_kept(&self) -> bool {
        true
    }
}

/// `additionalProperties` (and `additionalItems`): a boolean or a schema.
impl Json for ext::JsonSchemaPropsOrBool {
    fn to_json(&self) -> Value {
        match &self.schema {
            Some(schema) => schema.to_json(),
            None => Value::Bool(self.allows.unwrap_or(false)),
        }
    }
    fn from_json(v: &Value) -> Option<Self> {
        Some(match v {
            Value::Bool(allows) => Self {
                allows: Some(*allows),
                schema: None,
            },
            _ => Self {
                allows: Some(true),
                schema: Some(Box::new(Json::from_json(v)?)),
            },
        })
    }
    fn always_kept(&self) -> bool {
        true
    }
}

/// `dependencies` values: a schema or a list of property names.
impl Json for ext::JsonSchemaPropsOrStringArray {
    fn to_json(&self) -> Value {
        match &self.schema {
            Some(schema) => schema.to_json(),
            None => self.property.to_json(),
        }
    }
    fn from_json(v: &Value) -> Option<Self> {
        Some(match v {
            Value::Array(_) => Self {
                schema: None,
                property: Json::from_json(v)?,
            },
            _ => Self {
                schema: Some(Json::from_json(v)?),
                property: vec![],
            },
        })
    }
    fn always_kept(&self) -> bool {
        true
    }
}

json_message!(ext::ExternalDocumentation {
    description: "description",
    url: "url"
});
json_message!(ext::ValidationRule {
    rule: "rule",
    message: "message",
    message_expression: "messageExpression",
    reason: "reason",
    field_path: "fieldPath",
    optional_old_self: "optionalOldSelf",
});
json_message!(ext::JsonSchemaProps {
    id: "id",
    schema: "$schema",
    r#ref: "$ref",
    description: "description",
    r#type: "type",
    format: "format",
    title: "title",
    default: "default",
    maximum: "maximum",
    exclusive_maximum: "exclusiveMaximum",
    minimum: "minimum",
    exclusive_minimum: "exclusiveMinimum",
    max_length: "maxLength",
    min_length: "minLength",
    pattern: "pattern",
    max_items: "maxItems",
    min_items: "minItems",
    unique_items: "uniqueItems",
    multiple_of: "multipleOf",
    r#enum: "enum",
    max_properties: "maxProperties",
    min_properties: "minProperties",
    required: "required",
    items: "items",
    all_of: "allOf",
    one_of: "oneOf",
    any_of: "anyOf",
    not: "not",
    properties: "properties",
    additional_properties: "additionalProperties",
    pattern_properties: "patternProperties",
    dependencies: "dependencies",
    additional_items: "additionalItems",
    definitions: "definitions",
    external_docs: "externalDocs",
    example: "example",
    nullable: "nullable",
    x_kubernetes_preserve_unknown_fields: "x-kubernetes-preserve-unknown-fields",
    x_kubernetes_embedded_resource: "x-kubernetes-embedded-resource",
    x_kubernetes_int_or_string: "x-kubernetes-int-or-string",
    x_kubernetes_list_map_keys: "x-kubernetes-list-map-keys",
    x_kubernetes_list_type: "x-kubernetes-list-type",
    x_kubernetes_map_type: "x-kubernetes-map-type",
    x_kubernetes_validations: "x-kubernetes-validations",
});
json_message!(ext::CustomResourceValidation {
    open_apiv3_schema: "openAPIV3Schema"
});
/// The status subresource is switched on by an empty object.
impl Json for ext::CustomResourceSubresourceStatus {
    fn to_json(&self) -> Value {
        Value::Object(Default::default())
    }
    fn from_json(v: &Value) -> Option<Self> {
        v.as_object().filter(|o| o.is_empty()).map(|_| Self {})
    }
}
json_message!(ext::CustomResourceSubresourceScale {
    spec_replicas_path: "specReplicasPath",
    status_replicas_path: "statusReplicasPath",
    label_selector_path: "labelSelectorPath",
});
json_message!(ext::CustomResourceSubresources {
    status: "status",
    scale: "scale"
});
json_message!(ext::CustomResourceColumnDefinition {
    name: "name",
    r#type: "type",
    format: "format",
    description: "description",
    priority: "priority",
    json_path: "jsonPath",
});
json_message!(ext::SelectableField {
    json_path: "jsonPath"
});
json_message!(ext::CustomResourceDefinitionVersion {
    name: "name",
    served: "served",
    storage: "storage",
    deprecated: "deprecated",
    deprecation_warning: "deprecationWarning",
    schema: "schema",
    subresources: "subresources",
    additional_printer_columns: "additionalPrinterColumns",
    selectable_fields: "selectableFields",
});
json_message!(ext::CustomResourceDefinitionNames {
    plural: "plural",
    singular: "singular",
    short_names: "shortNames",
    kind: "kind",
    list_kind: "listKind",
    categories: "categories",
});
json_message!(ext::ServiceReference {
    namespace: "namespace",
    name: "name",
    path: "path",
    port: "port",
});
json_message!(ext::WebhookClientConfig {
    url: "url",
    service: "service",
    ca_bundle: "caBundle",
});
json_message!(ext::WebhookConversion {
    client_config: "clientConfig",
    conversion_review_versions: "conversionReviewVersions",
});
json_message!(ext::CustomResourceConversion {
    strategy: "strategy",
    webhook: "webhook"
});
json_message!(ext::CustomResourceDefinitionSpec {
    group: "group",
    names: "names",
    scope: "scope",
    versions: "versions",
    conversion: "conversion",
    preserve_unknown_fields: "preserveUnknownFields",
});
json_message!(ext::CustomResourceDefinitionCondition {
    r#type: "type",
    status: "status",
    last_transition_time: "lastTransitionTime",
    reason: "reason",
    message: "message",
    observed_generation: "observedGeneration",
});
json_message!(ext::CustomResourceDefinitionStatus {
    conditions: "conditions",
    accepted_names: "acceptedNames",
    stored_versions: "storedVersions",
    observed_generation: "observedGeneration",
});
json_message!(ext::CustomResourceDefinition {
    metadata: "metadata",
    spec: "spec",
    status: "status"
});
