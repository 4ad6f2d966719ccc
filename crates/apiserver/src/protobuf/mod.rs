//! Kubernetes' protobuf encoding, as client-go's typed clients send it
//! (`kubectl create namespace|configmap|secret|serviceaccount|job|role…`,
//! `kubectl auth can-i` …) and ask for it back: the `k8s\0` magic, a
//! `runtime.Unknown` envelope naming the kind, and the kind's message inside
//! (the messages of `k8s-pb`, kube-rs' protobuf bindings).
//!
//! Each message's JSON form is declared once, field by field, in
//! [`messages`] and [`crd`]: every built-in kind the server serves has one.
//! Custom resources have no protobuf form on a real server either: they are
//! refused with the 415 a real server gives a body in an encoding it cannot
//! read.

mod crd;
mod json;
mod messages;

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::authentication::v1 as authentication;
use k8s_pb::api::authorization::v1 as authorization;
use k8s_pb::api::batch::v1 as batch;
use k8s_pb::api::coordination::v1 as coordination;
use k8s_pb::api::core::v1 as core;
use k8s_pb::api::events::v1 as events;
use k8s_pb::api::rbac::v1 as rbac;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;
use serde_json::{Value, json};

use json::Json;

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

/// Why a protobuf body was not read.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("{0}")]
    Malformed(String),
    /// The body's kind has no message here (custom resources, CRDs).
    #[error("kbind reads no {0} in protobuf")]
    NoMessage(String),
    /// The object sets a field kbind does not translate; storing it
    /// without that field would lose what the client asked for.
    #[error("kbind cannot read {kind} field {field} from protobuf: send this object as JSON")]
    Unsupported { kind: String, field: String },
}

/// Decodes `raw` as `T` and gives its JSON form, or the path of a field it
/// sets that has no JSON form here.
fn decode_as<T: Message + Default + Json>(raw: &[u8], kind: &str) -> Result<Value, DecodeError> {
    let message = T::decode(raw)
        .map_err(|e| DecodeError::Malformed(format!("invalid protobuf body: {e}")))?;
    if let Some(field) = message.unsupported() {
        return Err(DecodeError::Unsupported {
            kind: kind.to_string(),
            field: field.trim_start_matches('.').to_string(),
        });
    }
    Ok(message.to_json())
}

fn encode_as<T: Message + Json>(object: &Value) -> Option<Vec<u8>> {
    T::from_json(object).map(|m| m.encode_to_vec())
}

/// How one kind goes to and from its message.
struct Codec {
    decode: fn(&[u8], &str) -> Result<Value, DecodeError>,
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
        ("v1", "Service") => codec!(core::Service),
        ("v1", "Event") => codec!(core::Event),
        ("v1", "Status") => codec!(meta::Status),
        ("events.k8s.io/v1", "Event") => codec!(events::Event),
        ("batch/v1", "Job") => codec!(batch::Job),
        ("apps/v1", "Deployment") => codec!(apps::Deployment),
        ("apps/v1", "ReplicaSet") => codec!(apps::ReplicaSet),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
            codec!(k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition)
        }
        ("coordination.k8s.io/v1", "Lease") => codec!(coordination::Lease),
        ("rbac.authorization.k8s.io/v1", "Role") => codec!(rbac::Role),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => codec!(rbac::ClusterRole),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => codec!(rbac::RoleBinding),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            codec!(rbac::ClusterRoleBinding)
        }
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

/// A protobuf request body as the JSON object the store keeps.
pub fn decode(body: &[u8]) -> Result<Value, DecodeError> {
    let envelope = body.strip_prefix(MAGIC).ok_or_else(|| {
        DecodeError::Malformed("the body is not Kubernetes protobuf (no k8s magic)".into())
    })?;
    let unknown = Unknown::decode(envelope)
        .map_err(|e| DecodeError::Malformed(format!("invalid protobuf envelope: {e}")))?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    let codec = codec(&api_version, &kind)
        .ok_or_else(|| DecodeError::NoMessage(format!("{api_version}, Kind={kind}")))?;
    let mut object = (codec.decode)(&raw, &kind)?;
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    Ok(object)
}

/// `object` in the protobuf encoding, or None when its kind has no message
/// here or it holds a field the message cannot carry (it is then served
/// as JSON, which every client accepts too).
pub fn encode(object: &Value) -> Option<Vec<u8>> {
    let api_version = object["apiVersion"].as_str()?;
    let kind = object["kind"].as_str()?;
    let mut body = object.as_object()?.clone();
    body.remove("apiVersion");
    body.remove("kind");
    let raw = (codec(api_version, kind)?.encode)(&Value::Object(body))?;
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

    fn enveloped(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let envelope = Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
            ..Default::default()
        };
        let mut body = MAGIC.to_vec();
        body.extend(envelope.encode_to_vec());
        body
    }

    #[test]
    fn kinds_without_a_message_are_told_apart_from_broken_bodies() {
        let widget = enveloped("example.com/v1", "Widget", vec![]);
        assert!(matches!(decode(&widget), Err(DecodeError::NoMessage(_))));
        assert!(matches!(decode(b"{}"), Err(DecodeError::Malformed(_))));
        assert_eq!(
            encode(&json!({"apiVersion": "example.com/v1", "kind": "Widget"})),
            None
        );
    }

    fn job(volumes: Vec<core::Volume>) -> batch::Job {
        batch::Job {
            metadata: Some(meta::ObjectMeta {
                name: Some("once".into()),
                ..Default::default()
            }),
            spec: Some(batch::JobSpec {
                template: Some(core::PodTemplateSpec {
                    metadata: None,
                    spec: Some(core::PodSpec {
                        containers: vec![core::Container {
                            name: Some("main".into()),
                            image: Some("busybox".into()),
                            ..Default::default()
                        }],
                        volumes,
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn a_field_kbind_does_not_translate_is_refused_not_dropped() {
        let body = enveloped("batch/v1", "Job", job(vec![]).encode_to_vec());
        let object = decode(&body).expect("a plain Job is read");
        assert_eq!(
            object["spec"]["template"]["spec"]["containers"][0]["image"],
            "busybox"
        );
        let with_volume = job(vec![core::Volume {
            name: Some("scratch".into()),
            ..Default::default()
        }]);
        let body = enveloped("batch/v1", "Job", with_volume.encode_to_vec());
        assert_eq!(
            decode(&body),
            Err(DecodeError::Unsupported {
                kind: "Job".into(),
                field: "spec.template.spec.volumes".into()
            })
        );
        // An object holding such a field is answered as JSON instead.
        let mut stored = object.clone();
        assert!(encode(&stored).is_some());
        stored["spec"]["template"]["spec"]["volumes"] =
            json!([{"name": "scratch", "emptyDir": {}}]);
        assert_eq!(encode(&stored), None);
    }

    /// A Go pointer's zero is a value: a Job that must not retry, a pod
    /// that must not mount a token, a Deployment scaled to nothing.
    #[test]
    fn pointer_zeros_survive_the_way_through_protobuf() {
        let mut sent = job(vec![]);
        let spec = sent.spec.as_mut().expect("spec");
        spec.backoff_limit = Some(0);
        spec.suspend = Some(false);
        let pod = spec
            .template
            .as_mut()
            .and_then(|t| t.spec.as_mut())
            .expect("pod spec");
        pod.automount_service_account_token = Some(false);
        pod.termination_grace_period_seconds = Some(0);
        let object = decode(&enveloped("batch/v1", "Job", sent.encode_to_vec())).expect("read");
        assert_eq!(object["spec"]["backoffLimit"], 0);
        assert_eq!(object["spec"]["suspend"], false);
        let pod = &object["spec"]["template"]["spec"];
        assert_eq!(pod["automountServiceAccountToken"], false);
        assert_eq!(pod["terminationGracePeriodSeconds"], 0);
        // Unset stays unset, and the way back keeps the zeros.
        assert!(object["spec"].get("parallelism").is_none());
        assert_eq!(
            decode(&encode(&object).expect("a message")).expect("read"),
            object
        );
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "0%"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}});
        let bytes = encode(&deployment).expect("a Deployment has a message");
        assert_eq!(decode(&bytes).unwrap(), deployment);
        let replica_set = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-abc", "namespace": "default"},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
            "status": {"replicas": 0}});
        let bytes = encode(&replica_set).expect("a ReplicaSet has a message");
        assert_eq!(decode(&bytes).unwrap(), replica_set);
    }

    #[test]
    fn lease_times_keep_microseconds_and_managed_fields_survive() {
        let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "kbind", "namespace": "kbind-system",
                "managedFields": [{"manager": "kbind", "operation": "Apply", "apiVersion": "coordination.k8s.io/v1",
                    "time": "2026-12-01T10:00:00Z", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:holderIdentity": {}}}}]},
            "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15,
                "renewTime": "2026-12-01T10:00:01.123456Z"}});
        let bytes = encode(&lease).expect("a Lease has a message");
        assert_eq!(decode(&bytes).unwrap(), lease);
    }

    #[test]
    fn a_value_of_the_wrong_type_is_not_encoded_as_a_zero() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c"}, "data": {"a": 1}});
        assert_eq!(encode(&cm), None);
    }

    #[test]
    fn crds_go_through_protobuf_and_back_unchanged() {
        let mut crds: Vec<Value> = kbind_model::api::crds()
            .into_iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .collect();
        // What the JSON forms of JSON Schema allow beyond kbind's own CRDs.
        crds.push(json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wd"]},
                "conversion": {"strategy": "None"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "additionalProperties": false, "required": ["size"],
                            "x-kubernetes-validations": [{"rule": "self.size != 'huge'", "message": "too big"}],
                            "properties": {
                                "size": {"type": "string", "enum": ["small", "large"], "default": "small"},
                                "replicas": {"type": "integer", "format": "int32", "minimum": 1.5, "default": 0},
                                "count": {"type": "integer", "format": "uint32", "minimum": 0.0},
                                "enabled": {"type": "boolean", "default": false},
                                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}}}}}}}]}}));
        for crd in crds {
            let bytes = encode(&crd).expect("a CRD has a message");
            assert_eq!(decode(&bytes).unwrap(), crd);
        }
    }
}
