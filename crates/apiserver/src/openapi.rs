//! `/openapi/v3` and `/openapi/v2`: what kubectl reads to validate
//! manifests, to know which parameters the server takes, and to `explain`
//! a kind. v3 carries each served kind's schema (a CRD's own, the built-ins'
//! from k8s-openapi); v2 — which client-go reads as gnostic protobuf —
//! carries the same schemas as v2 definitions.

use serde_json::{Map, Value, json};

use super::gnostic;
use super::registry::Resource;

fn gv_path(r: &Resource) -> String {
    if r.group.is_empty() {
        format!("api/{}", r.version)
    } else {
        format!("apis/{}/{}", r.group, r.version)
    }
}

/// The schema name a real server gives a kind: its group reversed
/// (`platform.kratix.io` → `io.kratix.platform`), version and kind.
fn schema_name(r: &Resource) -> String {
    match r.group.as_str() {
        "" => format!("io.k8s.api.core.{}.{}", r.version, r.kind),
        g if g.ends_with(".k8s.io") || !g.contains('.') => {
            let short = g.split('.').next().unwrap_or(g);
            format!("io.k8s.api.{short}.{}.{}", r.version, r.kind)
        }
        g => {
            let reversed: Vec<&str> = g.split('.').rev().collect();
            format!("{}.{}.{}", reversed.join("."), r.version, r.kind)
        }
    }
}

/// `/openapi/v3`: one entry per group/version, its URL naming the hash of
/// its document (kube-openapi's `serverRelativeURL`), so a client caches
/// each document for as long as it does not change.
pub fn v3_root(resources: &[Resource]) -> Value {
    let mut paths = Map::new();
    for r in resources {
        let gv = gv_path(r);
        if paths.contains_key(&gv) {
            continue;
        }
        if let Some((_, etag)) = v3_document(resources, &gv) {
            paths.insert(
                gv.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash={etag}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// A group version's document as served, and its ETag: the SHA-512 of
/// those bytes in upper-case hex (kube-openapi's `computeETag`).
pub fn v3_document(resources: &[Resource], gv: &str) -> Option<(String, String)> {
    let body = v3_group_version(resources, gv)?.to_string();
    let etag = content_hash(body.as_bytes());
    Some((body, etag))
}

/// The SHA-512 of a document in upper-case hex: kube-openapi's
/// `computeETag`, and the aggregated discovery handler's `calculateETag`.
pub fn content_hash(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:X}", sha2::Sha512::digest(bytes))
}

/// A reference with other keywords beside it (a field's description) put
/// in an `allOf`, as kube-openapi's `WrapRefs` does for v3: OpenAPI 3.0
/// ignores a `$ref`'s siblings, and `kubectl explain` reads the field's
/// description and the type's through the `allOf`.
fn wrap_refs(value: &mut Value) {
    match value {
        Value::Object(m) => {
            // A reference is a string: a `properties` map may name a field
            // `$ref` (JSONSchemaProps does), whose value is a schema.
            if m.len() > 1
                && m.get("$ref").is_some_and(Value::is_string)
                && let Some(reference) = m.remove("$ref")
            {
                m.insert("allOf".into(), json!([{"$ref": reference}]));
            }
            m.values_mut().for_each(wrap_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(wrap_refs),
        _ => {}
    }
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

fn object_meta() -> Value {
    let string = |d: &str| json!({"type": "string", "description": d});
    json!({
        "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
        "type": "object",
        "properties": {
            "name": string("Name must be unique within a namespace."),
            "generateName": string("GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided."),
            "namespace": string("Namespace defines the space within which each name must be unique."),
            "uid": string("UID is the unique in time and space value for this object."),
            "resourceVersion": string("An opaque value that represents the internal version of this object."),
            "generation": {"type": "integer", "format": "int64", "description": "A sequence number representing a specific generation of the desired state."},
            "creationTimestamp": string("CreationTimestamp is a timestamp representing the server time when this object was created."),
            "deletionTimestamp": string("DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted."),
            "labels": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Map of string keys and values that can be used to organize and categorize objects."},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Annotations is an unstructured key value map stored with a resource."},
            "finalizers": {"type": "array", "items": {"type": "string"}, "description": "Must be empty before the object is deleted from the registry."},
            "ownerReferences": {"type": "array", "items": {"type": "object"}, "description": "List of objects depended by this object."},
        },
    })
}

/// A built-in kind's schema from its k8s-openapi type (JSON Schema from
/// schemars, its `$defs` moved into the document's components). Generated
/// once per process: kubectl reads these documents on every apply.
fn builtin_schema(r: &Resource, components: &mut Map<String, Value>) -> Option<Value> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static SCHEMAS: OnceLock<HashMap<(&'static str, &'static str), Generated>> = OnceLock::new();
    let schemas = SCHEMAS.get_or_init(generate_builtin_schemas);
    let (schema, defs) = schemas.get(&(r.group.as_str(), r.kind.as_str()))?;
    for (name, def) in defs {
        components
            .entry(name.clone())
            .or_insert_with(|| def.clone());
    }
    Some(schema.clone())
}

/// A kind's schema and the definitions it refers to.
type Generated = (Value, Map<String, Value>);

fn generate_builtin_schemas() -> std::collections::HashMap<(&'static str, &'static str), Generated>
{
    use k8s_openapi::api::{apps, batch, coordination, core, events, rbac};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    const RBAC: &str = "rbac.authorization.k8s.io";
    let generated = [
        ((RBAC, "Role"), schemars::schema_for!(rbac::v1::Role)),
        (
            (RBAC, "ClusterRole"),
            schemars::schema_for!(rbac::v1::ClusterRole),
        ),
        (
            (RBAC, "RoleBinding"),
            schemars::schema_for!(rbac::v1::RoleBinding),
        ),
        (
            (RBAC, "ClusterRoleBinding"),
            schemars::schema_for!(rbac::v1::ClusterRoleBinding),
        ),
        (
            ("", "Namespace"),
            schemars::schema_for!(core::v1::Namespace),
        ),
        (
            ("", "ConfigMap"),
            schemars::schema_for!(core::v1::ConfigMap),
        ),
        (("", "Secret"), schemars::schema_for!(core::v1::Secret)),
        (
            ("", "ServiceAccount"),
            schemars::schema_for!(core::v1::ServiceAccount),
        ),
        (("", "Event"), schemars::schema_for!(core::v1::Event)),
        (
            ("events.k8s.io", "Event"),
            schemars::schema_for!(events::v1::Event),
        ),
        (
            ("coordination.k8s.io", "Lease"),
            schemars::schema_for!(coordination::v1::Lease),
        ),
        (("batch", "Job"), schemars::schema_for!(batch::v1::Job)),
        (
            ("apps", "Deployment"),
            schemars::schema_for!(apps::v1::Deployment),
        ),
        (
            ("apps", "ReplicaSet"),
            schemars::schema_for!(apps::v1::ReplicaSet),
        ),
        (("", "Pod"), schemars::schema_for!(core::v1::Pod)),
        (("", "Node"), schemars::schema_for!(core::v1::Node)),
        (("", "Service"), schemars::schema_for!(core::v1::Service)),
        (
            ("", "Endpoints"),
            schemars::schema_for!(core::v1::Endpoints),
        ),
        (
            ("discovery.k8s.io", "EndpointSlice"),
            schemars::schema_for!(k8s_openapi::api::discovery::v1::EndpointSlice),
        ),
        (
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            schemars::schema_for!(apiextensions::CustomResourceDefinition),
        ),
    ];
    generated
        .into_iter()
        .filter_map(|(key, schema)| {
            let mut schema = serde_json::to_value(schema).ok()?;
            rewrite_refs(&mut schema);
            let m = schema.as_object_mut()?;
            m.remove("$schema");
            let defs = match m.remove("$defs") {
                Some(Value::Object(defs)) => defs,
                _ => Map::new(),
            };
            Some((key, (schema, defs)))
        })
        .collect()
}

/// `#/$defs/X` (JSON Schema) → `#/components/schemas/X` (OpenAPI 3).
fn rewrite_refs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/$defs/")
            {
                *r = format!("#/components/schemas/{name}");
            }
            for child in m.values_mut() {
                rewrite_refs(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// A custom resource's schema as a real server publishes it: the CRD's,
/// with apiVersion, kind and metadata described.
fn custom_schema(r: &Resource) -> Option<Value> {
    let mut schema = r.schema_json.as_deref()?.clone();
    let properties = schema
        .as_object_mut()?
        .entry("properties")
        .or_insert_with(|| json!({}));
    if let Some(p) = properties.as_object_mut() {
        p.insert("apiVersion".into(), json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}));
        p.insert("kind".into(), json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}));
        p.insert("metadata".into(), json!({"allOf": [{"$ref": format!("#/components/schemas/{OBJECT_META}")}], "description": "Standard object's metadata."}));
    }
    Some(schema)
}

/// `/openapi/v3/<gv>`: each kind's operations, with the `fieldValidation`
/// parameter (kubectl then leaves validation to the server), and its schema.
pub fn v3_group_version(resources: &[Resource], gv: &str) -> Option<Value> {
    let mut doc = v3_unwrapped(resources, gv)?;
    wrap_refs(&mut doc);
    Some(doc)
}

fn v3_unwrapped(resources: &[Resource], gv: &str) -> Option<Value> {
    let matching: Vec<&Resource> = resources.iter().filter(|r| gv_path(r) == gv).collect();
    if matching.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut components = Map::new();
    components.insert(OBJECT_META.into(), object_meta());
    for r in matching {
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let name = schema_name(r);
        let reference = json!({"$ref": format!("#/components/schemas/{name}")});
        let op = |action: &str| {
            json!({
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                "requestBody": {"content": {"application/json": {"schema": reference}}},
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference}}}},
            })
        };
        let base = if r.namespaced {
            format!("/{gv}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("/{gv}/{}", r.plural)
        };
        paths.insert(base.clone(), json!({"post": op("post")}));
        paths.insert(
            format!("{base}/{{name}}"),
            json!({"get": op("get"), "put": op("put"), "patch": op("patch")}),
        );
        let schema = custom_schema(r)
            .or_else(|| builtin_schema(r, &mut components))
            .unwrap_or_else(|| json!({"type": "object"}));
        let mut schema = schema;
        if let Some(m) = schema.as_object_mut() {
            m.insert("x-kubernetes-group-version-kind".into(), json!([gvk]));
        }
        components.insert(name, schema);
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0-kbind"},
        "paths": paths,
        "components": {"schemas": components},
    }))
}

pub const V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

/// `/openapi/v2` as client-go asks for it (gnostic protobuf), or as JSON:
/// every served kind's definition, made v2 ([`gnostic::to_v2`]).
pub fn v2(resources: &[Resource], protobuf: bool) -> (&'static str, Vec<u8>) {
    let (title, version) = ("Kubernetes", "v1.32.0-kbind");
    let mut group_versions: Vec<String> = resources.iter().map(gv_path).collect();
    group_versions.sort();
    group_versions.dedup();
    let mut definitions = Map::new();
    for gv in &group_versions {
        let Some(Value::Object(schemas)) = v3_unwrapped(resources, gv)
            .and_then(|mut doc| doc.pointer_mut("/components/schemas").map(Value::take))
        else {
            continue;
        };
        for (name, schema) in schemas {
            definitions
                .entry(name)
                .or_insert_with(|| gnostic::to_v2(&schema));
        }
    }
    if protobuf {
        // kube-openapi answers the protobuf form as an octet stream: the
        // media type clients ask for does not parse as a Content-Type.
        (
            "application/octet-stream",
            gnostic::document(title, version, &definitions),
        )
    } else {
        let doc = json!({"swagger": "2.0", "info": {"title": title, "version": version}, "paths": {}, "definitions": definitions});
        ("application/json", doc.to_string().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_with_a_description_is_wrapped_and_a_field_named_ref_is_not() {
        let mut schema = json!({"properties": {
            "strategy": {"description": "how", "$ref": "#/components/schemas/S"},
            "plain": {"$ref": "#/components/schemas/P"},
            "props": {"type": "object", "properties": {"$ref": {"type": "string"}, "id": {"type": "string"}}},
        }});
        wrap_refs(&mut schema);
        assert_eq!(
            schema["properties"]["strategy"],
            json!({"description": "how", "allOf": [{"$ref": "#/components/schemas/S"}]})
        );
        assert_eq!(
            schema["properties"]["plain"],
            json!({"$ref": "#/components/schemas/P"})
        );
        assert_eq!(
            schema["properties"]["props"]["properties"]["$ref"],
            json!({"type": "string"})
        );
    }
}
