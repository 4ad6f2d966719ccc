//! How an object's lists are merged and owned under server-side apply, as
//! structured-merge-diff reads a kind's schema: a list is `atomic` (one
//! field, replaced whole), a `set` of scalars (each value its own field) or
//! a `map` keyed by some of its items' fields (each item its own field,
//! with fields of its own). A custom resource's lists say so in its schema
//! (`x-kubernetes-list-type`, atomic by default); the built-in kinds' come
//! from their Go types' `+listType`/`+listMapKey` tags, here for the kinds
//! served and the lists that are not atomic. A strategic merge patch reads
//! the same tags for its merge keys (`+patchMergeKey`, the first map key
//! here but where a list is atomic to apply and merged by patches).

use serde_json::{Map, Value};

use super::registry::Resource;
use super::structural::Structural;

/// How the list at some position merges.
#[derive(Debug, PartialEq)]
pub enum ListKind {
    Atomic,
    Set,
    /// Keyed by these fields of each item.
    Map(Vec<String>),
}

/// How a strategic merge patch merges a list.
#[derive(Debug, PartialEq)]
pub enum PatchList {
    /// The patch's list replaces it.
    Replace,
    /// Primitive values added (`patchStrategy: merge`, no key).
    Set,
    /// Items merged by this field.
    Merge(&'static str),
}

/// A position in an object, as far as its lists' kinds go.
#[derive(Clone, Copy, Debug)]
pub enum Shape<'a> {
    /// A field of a built-in Go type, by the type's name.
    Type(&'static str),
    /// A built-in list that is not atomic: its items' type and keys (none:
    /// a set).
    List {
        items: &'static str,
        keys: &'static [&'static str],
    },
    /// A built-in list atomic to server-side apply that strategic merge
    /// patches merge by `key` (`+listType=atomic` beside
    /// `+patchStrategy=merge`).
    PatchMerged {
        items: &'static str,
        key: &'static str,
    },
    /// A custom resource's root: its `metadata` is ObjectMeta.
    Root(&'a Structural),
    Schema(&'a Structural),
    /// Nothing is known: lists are atomic.
    Unknown,
}

impl<'a> Shape<'a> {
    /// The shape of an object of the kind `r` serves.
    pub fn of(r: &'a Resource) -> Self {
        match &r.schema {
            Some(schema) if r.crd.is_some() => Shape::Root(schema),
            _ => Shape::Type(root_type(&r.group, &r.kind)),
        }
    }

    /// The shape of field `name` here.
    pub fn field(self, name: &str) -> Shape<'a> {
        match self {
            Shape::Type(t) => builtin_field(t, name),
            Shape::Root(_) if name == "metadata" => Shape::Type("ObjectMeta"),
            Shape::Root(s) | Shape::Schema(s) => {
                s.child(name).map_or(Shape::Unknown, Shape::Schema)
            }
            Shape::List { .. } | Shape::PatchMerged { .. } | Shape::Unknown => Shape::Unknown,
        }
    }

    /// How a strategic merge patch merges the list here.
    pub fn patch_list(self) -> PatchList {
        match self {
            Shape::List { keys: [], .. } => PatchList::Set,
            Shape::List {
                keys: [key, ..], ..
            } => PatchList::Merge(key),
            Shape::PatchMerged { key, .. } => PatchList::Merge(key),
            _ => PatchList::Replace,
        }
    }

    /// How the list here merges.
    pub fn list(self) -> ListKind {
        match self {
            Shape::List { keys: [], .. } => ListKind::Set,
            Shape::List { keys, .. } => ListKind::Map(keys.iter().map(|k| k.to_string()).collect()),
            Shape::Schema(s) => match s.list_type() {
                (Some("set"), _) => ListKind::Set,
                (Some("map"), keys) if !keys.is_empty() => ListKind::Map(keys.to_vec()),
                _ => ListKind::Atomic,
            },
            _ => ListKind::Atomic,
        }
    }

    /// The shape of the items of the list here.
    pub fn items(self) -> Shape<'a> {
        match self {
            Shape::List { items, .. } | Shape::PatchMerged { items, .. } => Shape::Type(items),
            Shape::Schema(s) => s.items().map_or(Shape::Unknown, Shape::Schema),
            _ => Shape::Unknown,
        }
    }

    /// The path element that names `item` in the list here, as
    /// structured-merge-diff writes it in `fieldsV1`: `k:{"name":"a"}` for
    /// a map list (key fields sorted; one left out takes its default),
    /// `v:"a"` for a set. None for an atomic list, or an item that has
    /// none of its keys.
    pub fn element(self, item: &Value) -> Option<String> {
        match self.list() {
            ListKind::Atomic => None,
            ListKind::Set => Some(format!("v:{item}")),
            ListKind::Map(mut keys) => {
                keys.sort();
                let items = self.items();
                let mut key = Map::new();
                for k in keys {
                    if let Some(v) = item.get(&k).cloned().or_else(|| items.key_default(&k)) {
                        key.insert(k, v);
                    }
                }
                (!key.is_empty()).then(|| format!("k:{}", Value::Object(key)))
            }
        }
    }

    /// The default of a key field of the items here.
    fn key_default(self, key: &str) -> Option<Value> {
        match self {
            // `+default="TCP"` on ContainerPort and ServicePort.
            Shape::Type("ContainerPort" | "ServicePort") if key == "protocol" => {
                Some(Value::from("TCP"))
            }
            Shape::Schema(s) => s.child(key)?.default_value().cloned(),
            _ => None,
        }
    }
}

/// The Go type of a built-in kind's object.
fn root_type(group: &str, kind: &str) -> &'static str {
    match (group, kind) {
        ("", "Pod") => "Pod",
        ("", "Service") => "Service",
        ("", "ServiceAccount") => "ServiceAccount",
        ("", "Node") => "Node",
        ("apps", "Deployment") => "Deployment",
        ("apps", "ReplicaSet") => "ReplicaSet",
        ("batch", "Job") => "Job",
        _ => "Object",
    }
}

/// The built-in types' fields on the way to their lists that are not
/// atomic (every other built-in list is: `+listType=atomic`, or untagged).
fn builtin_field(type_: &str, field: &str) -> Shape<'static> {
    let map = |items: &'static str, keys: &'static [&'static str]| Shape::List { items, keys };
    let by_name = |items: &'static str| map(items, &["name"]);
    match (type_, field) {
        (_, "metadata") if type_ != "ObjectMeta" => Shape::Type("ObjectMeta"),
        ("ObjectMeta", "ownerReferences") => map("OwnerReference", &["uid"]),
        ("ObjectMeta", "finalizers") => map("string", &[]),
        ("Pod", "spec") => Shape::Type("PodSpec"),
        ("Pod", "status") => Shape::Type("PodStatus"),
        ("Deployment", "spec") => Shape::Type("DeploymentSpec"),
        ("Deployment", "status") => Shape::Type("DeploymentStatus"),
        ("ReplicaSet", "spec") => Shape::Type("ReplicaSetSpec"),
        ("ReplicaSet", "status") => Shape::Type("ReplicaSetStatus"),
        ("Job", "spec") => Shape::Type("JobSpec"),
        ("Job", "status") => Shape::Type("JobStatus"),
        ("JobStatus", "conditions") => Shape::PatchMerged {
            items: "JobCondition",
            key: "type",
        },
        ("Service", "spec") => Shape::Type("ServiceSpec"),
        ("Service", "status") => Shape::Type("ServiceStatus"),
        ("ServiceAccount", "secrets") => by_name("ObjectReference"),
        ("Node", "spec") => Shape::Type("NodeSpec"),
        ("Node", "status") => Shape::Type("NodeStatus"),
        ("DeploymentSpec" | "ReplicaSetSpec" | "JobSpec", "template") => {
            Shape::Type("PodTemplateSpec")
        }
        ("PodTemplateSpec", "spec") => Shape::Type("PodSpec"),
        ("PodSpec", "containers" | "initContainers" | "ephemeralContainers") => {
            by_name("Container")
        }
        ("PodSpec", "volumes") => by_name("Volume"),
        ("PodSpec", "imagePullSecrets") => by_name("LocalObjectReference"),
        ("PodSpec", "schedulingGates") => by_name("PodSchedulingGate"),
        ("PodSpec", "resourceClaims") => by_name("PodResourceClaim"),
        ("PodSpec", "hostAliases") => map("HostAlias", &["ip"]),
        ("PodSpec", "topologySpreadConstraints") => map(
            "TopologySpreadConstraint",
            &["topologyKey", "whenUnsatisfiable"],
        ),
        ("Container", "ports") => map("ContainerPort", &["containerPort", "protocol"]),
        ("Container", "env") => by_name("EnvVar"),
        ("Container", "volumeMounts") => map("VolumeMount", &["mountPath"]),
        ("Container", "volumeDevices") => map("VolumeDevice", &["devicePath"]),
        ("PodStatus", "conditions") => map("PodCondition", &["type"]),
        ("PodStatus", "podIPs") => map("PodIP", &["ip"]),
        ("PodStatus", "hostIPs") => Shape::PatchMerged {
            items: "HostIP",
            key: "ip",
        },
        ("PodStatus", "resourceClaimStatuses") => by_name("PodResourceClaimStatus"),
        ("DeploymentStatus" | "ReplicaSetStatus" | "ServiceStatus", "conditions") => {
            map("Condition", &["type"])
        }
        ("ServiceSpec", "ports") => map("ServicePort", &["port", "protocol"]),
        ("NodeSpec", "podCIDRs") => map("string", &[]),
        ("NodeStatus", "conditions") => map("NodeCondition", &["type"]),
        ("NodeStatus", "addresses") => map("NodeAddress", &["type"]),
        _ => Shape::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn built_in_lists_are_keyed_as_their_go_tags_say() {
        let pod_spec = Shape::Type("Deployment")
            .field("spec")
            .field("template")
            .field("spec");
        let containers = pod_spec.field("containers");
        assert_eq!(containers.list(), ListKind::Map(vec!["name".into()]));
        assert_eq!(
            containers.element(&json!({"name": "a", "image": "x"})),
            Some(r#"k:{"name":"a"}"#.into())
        );
        let ports = containers.items().field("ports");
        // A key left out takes its default, and keys are sorted.
        assert_eq!(
            ports.element(&json!({"containerPort": 80})),
            Some(r#"k:{"containerPort":80,"protocol":"TCP"}"#.into())
        );
        assert_eq!(pod_spec.field("tolerations").list(), ListKind::Atomic);
        let finalizers = Shape::Type("Object").field("metadata").field("finalizers");
        assert_eq!(finalizers.list(), ListKind::Set);
        assert_eq!(finalizers.element(&json!("a/b")), Some(r#"v:"a/b""#.into()));
    }

    #[test]
    fn a_custom_resource_says_in_its_schema() {
        let schema = Structural::compile(&json!({
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {
                "items": {"type": "array", "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["id", "zone"],
                    "items": {"type": "object", "properties": {
                        "id": {"type": "string"}, "zone": {"type": "string", "default": "a"}}}},
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "plain": {"type": "array", "items": {"type": "string"}},
            }}},
        }));
        let spec = Shape::Root(&schema).field("spec");
        assert_eq!(
            spec.field("items").element(&json!({"id": "x"})),
            Some(r#"k:{"id":"x","zone":"a"}"#.into())
        );
        assert_eq!(spec.field("tags").list(), ListKind::Set);
        assert_eq!(spec.field("plain").list(), ListKind::Atomic);
        assert_eq!(
            Shape::Root(&schema)
                .field("metadata")
                .field("finalizers")
                .list(),
            ListKind::Set
        );
    }
}
