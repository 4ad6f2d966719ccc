//! Kubernetes' protobuf encoding, as client-go's typed clients send it
//! (`kubectl create namespace|configmap|secret|serviceaccount`, `kubectl
//! auth can-i` …) and ask
//! for it back: the `k8s\0` magic, a `runtime.Unknown` envelope naming the
//! kind, and the kind's message inside (the messages of `k8s-pb`, kube-rs'
//! protobuf bindings).
//!
//! Each message's JSON form is declared once, field by field
//! ([`json_message!`]), with the JSON names the API uses. Kinds without a
//! declaration here (custom resources, and built-ins this table does not
//! cover yet) are refused with the 415 a real server gives a body in an
//! encoding it cannot read.

use std::collections::BTreeMap;

use base64::Engine;
use k8s_pb::api::authentication::v1 as authentication;
use k8s_pb::api::authorization::v1 as authorization;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;
use serde_json::{Map, Value, json};

pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

/// True if a Content-Type or Accept entry names the protobuf encoding.
pub fn is_protobuf(media_type: &str) -> bool {
    media_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim() == MEDIA_TYPE)
}

/// True if the client's first choice is protobuf (and not a Table, which
/// is served as JSON).
pub fn preferred(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| is_protobuf(first) && !first.contains("as=Table"))
}

/// The JSON form of a protobuf value, and back. Zero values are left out
/// of the JSON, as apimachinery's `omitempty` fields are.
trait Json: Sized {
    fn to_json(&self) -> Value;
    fn from_json(v: &Value) -> Option<Self>;
    /// Left out of a message's JSON even though its JSON is not a zero
    /// value (an empty map is `{}`, which a nested message keeps).
    fn omitted(&self) -> bool {
        false
    }
}

impl Json for String {
    fn to_json(&self) -> Value {
        json!(self)
    }
    fn from_json(v: &Value) -> Option<Self> {
        v.as_str().map(str::to_string)
    }
}

impl Json for bool {
    fn to_json(&self) -> Value {
        json!(self)
    }
    fn from_json(v: &Value) -> Option<Self> {
        v.as_bool()
    }
}

impl Json for i64 {
    fn to_json(&self) -> Value {
        json!(self)
    }
    fn from_json(v: &Value) -> Option<Self> {
        v.as_i64()
    }
}

impl Json for i32 {
    fn to_json(&self) -> Value {
        json!(self)
    }
    fn from_json(v: &Value) -> Option<Self> {
        v.as_i64().and_then(|n| i32::try_from(n).ok())
    }
}

/// `bytes` fields are base64 in JSON (Secret data, ConfigMap binaryData).
impl Json for Vec<u8> {
    fn to_json(&self) -> Value {
        json!(base64::engine::general_purpose::STANDARD.encode(self))
    }
    fn from_json(v: &Value) -> Option<Self> {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str()?)
            .ok()
    }
}

impl<T: Json> Json for Option<T> {
    fn to_json(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_json)
    }
    fn from_json(v: &Value) -> Option<Self> {
        Some(if v.is_null() { None } else { T::from_json(v) })
    }
}

impl<T: Json> Json for Vec<T> {
    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(T::to_json).collect())
    }
    fn from_json(v: &Value) -> Option<Self> {
        Some(
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(T::from_json)
                .collect(),
        )
    }
}

impl<T: Json> Json for BTreeMap<String, T> {
    /// Maps are `omitempty` everywhere in the API.
    fn omitted(&self) -> bool {
        self.is_empty()
    }
    fn to_json(&self) -> Value {
        Value::Object(self.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
    }
    fn from_json(v: &Value) -> Option<Self> {
        Some(
            v.as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), T::from_json(v)?)))
                .collect(),
        )
    }
}

/// `metav1.Time`: RFC 3339 at second precision; the zero time is null.
impl Json for meta::Time {
    fn to_json(&self) -> Value {
        let seconds = self.seconds.unwrap_or(0);
        if seconds <= 0 {
            return Value::Null;
        }
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds as u64);
        json!(humantime::format_rfc3339_seconds(t).to_string())
    }
    fn from_json(v: &Value) -> Option<Self> {
        let t = humantime::parse_rfc3339_weak(v.as_str()?).ok()?;
        let since = t.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(Self {
            seconds: Some(since.as_secs() as i64),
            nanos: Some(0),
        })
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(a) => a.is_empty(),
        Value::Object(_) => false,
    }
}

/// A message's JSON form, one `field: "jsonName"` per field. Messages keep
/// nested messages even when empty (`spec: {}`), as Go's encoding does.
macro_rules! json_message {
    ($ty:ty { $($field:ident : $key:literal),* $(,)? }) => {
        impl Json for $ty {
            fn to_json(&self) -> Value {
                let mut out = Map::new();
                $(
                    let v = self.$field.to_json();
                    if !is_zero(&v) && !self.$field.omitted() {
                        out.insert($key.to_string(), v);
                    }
                )*
                Value::Object(out)
            }
            fn from_json(v: &Value) -> Option<Self> {
                let object = v.as_object()?;
                let mut m = <$ty>::default();
                $(
                    if let Some(field) = object.get($key) {
                        if let Some(parsed) = Json::from_json(field) {
                            m.$field = parsed;
                        }
                    }
                )*
                Some(m)
            }
        }
    };
}

json_message!(TypeMeta {
    api_version: "apiVersion",
    kind: "kind"
});
json_message!(meta::OwnerReference {
    api_version: "apiVersion",
    kind: "kind",
    name: "name",
    uid: "uid",
    controller: "controller",
    block_owner_deletion: "blockOwnerDeletion",
});
json_message!(meta::ObjectMeta {
    name: "name",
    generate_name: "generateName",
    namespace: "namespace",
    self_link: "selfLink",
    uid: "uid",
    resource_version: "resourceVersion",
    generation: "generation",
    creation_timestamp: "creationTimestamp",
    deletion_timestamp: "deletionTimestamp",
    deletion_grace_period_seconds: "deletionGracePeriodSeconds",
    labels: "labels",
    annotations: "annotations",
    owner_references: "ownerReferences",
    finalizers: "finalizers",
});
json_message!(meta::StatusCause {
    reason: "reason",
    message: "message",
    field: "field"
});
json_message!(meta::StatusDetails {
    name: "name",
    group: "group",
    kind: "kind",
    uid: "uid",
    causes: "causes",
    retry_after_seconds: "retryAfterSeconds",
});
json_message!(meta::ListMeta {
    resource_version: "resourceVersion",
    r#continue: "continue",
    remaining_item_count: "remainingItemCount",
});
json_message!(meta::Status {
    metadata: "metadata",
    status: "status",
    message: "message",
    reason: "reason",
    details: "details",
    code: "code",
});
json_message!(core::NamespaceSpec {
    finalizers: "finalizers"
});
json_message!(core::NamespaceStatus { phase: "phase" });
json_message!(core::Namespace {
    metadata: "metadata",
    spec: "spec",
    status: "status"
});
json_message!(core::ConfigMap {
    metadata: "metadata",
    immutable: "immutable",
    data: "data",
    binary_data: "binaryData",
});
json_message!(core::Secret {
    metadata: "metadata",
    immutable: "immutable",
    data: "data",
    string_data: "stringData",
    r#type: "type",
});
json_message!(core::ObjectReference {
    kind: "kind",
    namespace: "namespace",
    name: "name",
    uid: "uid",
    api_version: "apiVersion",
    resource_version: "resourceVersion",
    field_path: "fieldPath",
});
json_message!(core::LocalObjectReference { name: "name" });
json_message!(core::ServiceAccount {
    metadata: "metadata",
    secrets: "secrets",
    image_pull_secrets: "imagePullSecrets",
    automount_service_account_token: "automountServiceAccountToken",
});

json_message!(authorization::ResourceAttributes {
    namespace: "namespace",
    verb: "verb",
    group: "group",
    version: "version",
    resource: "resource",
    subresource: "subresource",
    name: "name",
});
json_message!(authorization::NonResourceAttributes {
    path: "path",
    verb: "verb"
});
json_message!(authorization::SelfSubjectAccessReviewSpec {
    resource_attributes: "resourceAttributes",
    non_resource_attributes: "nonResourceAttributes",
});
json_message!(authorization::SubjectAccessReviewStatus {
    allowed: "allowed",
    denied: "denied",
    reason: "reason",
    evaluation_error: "evaluationError",
});
json_message!(authorization::SelfSubjectAccessReview {
    metadata: "metadata",
    spec: "spec",
    status: "status"
});
json_message!(authorization::SelfSubjectRulesReviewSpec {
    namespace: "namespace"
});
json_message!(authorization::ResourceRule {
    verbs: "verbs",
    api_groups: "apiGroups",
    resources: "resources",
    resource_names: "resourceNames",
});
json_message!(authorization::NonResourceRule {
    verbs: "verbs",
    non_resource_ur_ls: "nonResourceURLs"
});
json_message!(authorization::SubjectRulesReviewStatus {
    resource_rules: "resourceRules",
    non_resource_rules: "nonResourceRules",
    incomplete: "incomplete",
    evaluation_error: "evaluationError",
});
json_message!(authorization::SelfSubjectRulesReview {
    metadata: "metadata",
    spec: "spec",
    status: "status"
});

json_message!(authentication::BoundObjectReference {
    kind: "kind",
    api_version: "apiVersion",
    name: "name",
    u_id: "uid",
});
json_message!(authentication::TokenRequestSpec {
    audiences: "audiences",
    expiration_seconds: "expirationSeconds",
    bound_object_ref: "boundObjectRef",
});
json_message!(authentication::TokenRequestStatus {
    token: "token",
    expiration_timestamp: "expirationTimestamp"
});
json_message!(authentication::TokenRequest {
    metadata: "metadata",
    spec: "spec",
    status: "status"
});
json_message!(authentication::UserInfo {
    username: "username",
    uid: "uid",
    groups: "groups"
});
json_message!(authentication::SelfSubjectReviewStatus {
    user_info: "userInfo"
});
json_message!(authentication::SelfSubjectReview {
    metadata: "metadata",
    status: "status"
});

/// Decodes `raw` as `T` and gives its JSON form.
fn decode_as<T: Message + Default + Json>(raw: &[u8]) -> Result<Value, String> {
    T::decode(raw)
        .map(|m| m.to_json())
        .map_err(|e| format!("invalid protobuf body: {e}"))
}

fn encode_as<T: Message + Json>(object: &Value) -> Option<Vec<u8>> {
    T::from_json(object).map(|m| m.encode_to_vec())
}

/// How one kind goes to and from its message.
struct Codec {
    decode: fn(&[u8]) -> Result<Value, String>,
    encode: fn(&Value) -> Option<Vec<u8>>,
}

/// The kinds with a message here, each named once.
fn codec(api_version: &str, kind: &str) -> Option<Codec> {
    macro_rules! codec {
        ($ty:ty) => {
            Codec {
                decode: decode_as::<$ty>,
                encode: encode_as::<$ty>,
            }
        };
    }
    Some(match (api_version, kind) {
        ("v1", "Namespace") => codec!(core::Namespace),
        ("v1", "ConfigMap") => codec!(core::ConfigMap),
        ("v1", "Secret") => codec!(core::Secret),
        ("v1", "ServiceAccount") => codec!(core::ServiceAccount),
        ("v1", "Status") => codec!(meta::Status),
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => {
            codec!(authorization::SelfSubjectAccessReview)
        }
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => {
            codec!(authorization::SelfSubjectRulesReview)
        }
        ("authentication.k8s.io/v1", "TokenRequest") => codec!(authentication::TokenRequest),
        ("authentication.k8s.io/v1", "SelfSubjectReview") => {
            codec!(authentication::SelfSubjectReview)
        }
        _ => return None,
    })
}

/// A protobuf request body as the JSON object the store keeps; Err(None)
/// when the body's kind has no message here (the caller answers 415).
pub fn decode(body: &[u8]) -> Result<Value, Option<String>> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| Some("the body is not Kubernetes protobuf (no k8s magic)".to_string()))?;
    let unknown =
        Unknown::decode(envelope).map_err(|e| Some(format!("invalid protobuf envelope: {e}")))?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    let codec = codec(&api_version, &kind).ok_or(None)?;
    let mut object = (codec.decode)(&raw).map_err(Some)?;
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    Ok(object)
}

/// `object` in the protobuf encoding, or None when its kind has no message
/// here (it is then served as JSON).
pub fn encode(object: &Value) -> Option<Vec<u8>> {
    let api_version = object["apiVersion"].as_str()?;
    let kind = object["kind"].as_str()?;
    let raw = (codec(api_version, kind)?.encode)(object)?;
    let envelope = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = MAGIC.to_vec();
    out.extend(envelope.encode_to_vec());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_goes_through_protobuf_and_back() {
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "default", "labels": {"a": "b"},
                "creationTimestamp": "2026-01-01T00:00:00Z", "generation": 1,
                "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u", "blockOwnerDeletion": true}]},
            "data": {"k": "dmFsdWU="}, "type": "Opaque"});
        let bytes = encode(&secret).expect("a Secret has a message");
        assert!(bytes.starts_with(MAGIC));
        assert_eq!(decode(&bytes).unwrap(), secret);
    }

    #[test]
    fn go_style_empty_fields_are_left_out_and_empty_messages_kept() {
        let ns = core::Namespace {
            metadata: Some(meta::ObjectMeta {
                name: Some("team-a".into()),
                generate_name: Some(String::new()),
                creation_timestamp: Some(meta::Time::default()),
                ..Default::default()
            }),
            spec: Some(core::NamespaceSpec::default()),
            status: Some(core::NamespaceStatus::default()),
        };
        assert_eq!(
            ns.to_json(),
            json!({"metadata": {"name": "team-a"}, "spec": {}, "status": {}})
        );
    }

    #[test]
    fn kinds_without_a_message_are_told_apart_from_broken_bodies() {
        let job = Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some("batch/v1".into()),
                kind: Some("Job".into()),
            }),
            raw: Some(vec![]),
            ..Default::default()
        };
        let mut body = MAGIC.to_vec();
        body.extend(job.encode_to_vec());
        assert_eq!(decode(&body), Err(None));
        assert!(matches!(decode(b"{}"), Err(Some(_))));
        assert_eq!(
            encode(&json!({"apiVersion": "example.com/v1", "kind": "Widget"})),
            None
        );
    }
}
