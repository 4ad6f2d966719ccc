//! The ServiceAccount a workflow's pods run as, and the Roles, ClusterRoles
//! and bindings that grant it what its pipelines need: named and labelled
//! as Kratix's `PipelineFactory` makes them, so a Promise author's
//! `rbac.permissions` mean on kbind what they mean on Kratix.
//!
//! Per pipeline (its id is `<promise>-resource-<action>-<pipeline>`):
//! - a Role `<id>` in the request's namespace on the request kind and its
//!   status (`get list update create patch`: the reader and status writer
//!   need it), bound by a RoleBinding `<id>`;
//! - `permissions` without `resourceNamespace`: a Role and RoleBinding named
//!   `GenerateDeterministicObjectName(<id>)`;
//! - `permissions` with `resourceNamespace: <ns>`: a ClusterRole
//!   `…(<id>-<ns>)` bound in `<ns>` by a RoleBinding `…(<id>-<sa namespace>)`;
//!   with `*`, a ClusterRole `…(<id>-kratix-all-namespaces)` and a
//!   ClusterRoleBinding `…(<id>-<sa namespace>)`.
//!
//! Kratix runs each pipeline as its own Job with its own ServiceAccount;
//! kbind runs a workflow's pipelines in one pod, which has one: the first
//! pipeline's (its `rbac.serviceAccount`, else `<id>`), to which every
//! pipeline's roles are bound. Kratix's Role also grants `works`, which
//! kbind does not write; it is left out.
//!
//! Every object is owned by the Promise (no `blockOwnerDeletion`), so the
//! garbage collector removes them with it.

use serde_json::{Value, json};

use super::workflow::{pipeline_name, pipelines};
use kbind_model::api::labels;
use kbind_model::naming;

const PIPELINE_NAME: &str = "kratix.io/pipeline-name";
const PIPELINE_NAMESPACE: &str = "kratix.io/pipeline-namespace";
const WORKFLOW_TYPE: &str = "kratix.io/workflow-type";
const RESOURCE_NAMESPACE: &str = "kratix.io/resource-namespace";
/// Kratix's label value for `resourceNamespace: "*"` (a label cannot be `*`).
const ALL_NAMESPACES_LABEL: &str = "kratix_all_namespaces";
/// …and the name part it uses for it.
const ALL_NAMESPACES_NAME: &str = "kratix-all-namespaces";
const RBAC_API: &str = "rbac.authorization.k8s.io/v1";
/// The verbs Kratix grants a resource pipeline on its request kind.
const REQUEST_VERBS: [&str; 5] = ["get", "list", "update", "create", "patch"];

/// The promise the objects belong to.
pub struct Owner<'a> {
    pub name: &'a str,
    /// `kratix.io/promise-name`'s value (a hash when the name is too long).
    pub label: &'a str,
    pub uid: &'a str,
}

/// The request kind the pipelines work on.
pub struct RequestApi<'a> {
    pub namespace: &'a str,
    pub group: &'a str,
    pub plural: &'a str,
}

pub struct PipelineAccess {
    pub service_account: String,
    /// Every object to apply before the workflow's Job is created.
    pub objects: Vec<Value>,
}

/// A name valid for any of these kinds (at most 253 characters).
fn fit(name: String) -> String {
    if name.len() <= 253 {
        name
    } else {
        naming::deterministic_name(&name, &[])
    }
}

fn deterministic(name: &str) -> String {
    naming::deterministic_name(name, &[])
}

/// A label value for a namespace or pipeline name (both may be longer than
/// a label allows).
fn label(value: &str) -> Value {
    json!(naming::label_value(value))
}

/// The objects for the `action` workflow of `promise_spec`, run for a
/// request in `api.namespace`.
pub fn pipeline_access(
    owner: &Owner<'_>,
    api: &RequestApi<'_>,
    promise_spec: &Value,
    action: &str,
) -> PipelineAccess {
    let all = pipelines(promise_spec, action);
    let id_of = |p: &Value| format!("{}-resource-{action}-{}", owner.name, pipeline_name(p));
    let service_account = all
        .first()
        .map(|p| {
            p.pointer("/spec/rbac/serviceAccount")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map_or_else(|| fit(id_of(p)), str::to_string)
        })
        .unwrap_or_default();
    let metadata = |name: &str, namespace: Option<&str>, labels: &Value| {
        let mut m = json!({"name": name, "labels": labels});
        if let Some(ns) = namespace {
            m["namespace"] = json!(ns);
        }
        if !owner.uid.is_empty() {
            m["ownerReferences"] = json!([{
                "apiVersion": "platform.kratix.io/v1alpha1",
                "kind": "Promise",
                "name": owner.name,
                "uid": owner.uid,
            }]);
        }
        m
    };
    let subjects =
        json!([{"kind": "ServiceAccount", "name": service_account, "namespace": api.namespace}]);
    let object = |kind: &str, meta: Value, body: Value| {
        let mut o = json!({"apiVersion": RBAC_API, "kind": kind, "metadata": meta});
        if let (Some(o), Some(body)) = (o.as_object_mut(), body.as_object()) {
            o.extend(body.clone());
        }
        o
    };
    let binding = |kind: &str,
                   name: &str,
                   namespace: Option<&str>,
                   labels: &Value,
                   role: (&str, &str)| {
        object(
            kind,
            metadata(name, namespace, labels),
            json!({
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role.0, "name": role.1},
                "subjects": subjects,
            }),
        )
    };
    let promise_labels = json!({labels::PROMISE_NAME: owner.label});
    let mut objects = Vec::new();
    if !service_account.is_empty() {
        objects.push(json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata(&service_account, Some(api.namespace), &promise_labels),
        }));
    }
    for pipeline in all {
        let id = id_of(pipeline);
        let role_name = fit(id.clone());
        let request_rule = json!({
            "apiGroups": [api.group],
            "resources": [api.plural, format!("{}/status", api.plural)],
            "verbs": REQUEST_VERBS,
        });
        objects.push(object(
            "Role",
            metadata(&role_name, Some(api.namespace), &promise_labels),
            json!({"rules": [request_rule]}),
        ));
        objects.push(binding(
            "RoleBinding",
            &role_name,
            Some(api.namespace),
            &promise_labels,
            ("Role", &role_name),
        ));
        let permissions: Vec<&Value> = pipeline
            .pointer("/spec/rbac/permissions")
            .and_then(Value::as_array)
            .map(|p| p.iter().collect())
            .unwrap_or_default();
        if permissions.is_empty() {
            continue;
        }
        let user_labels = json!({
            labels::PROMISE_NAME: owner.label,
            WORKFLOW_TYPE: "resource",
            PIPELINE_NAME: label(pipeline_name(pipeline)),
            labels::WORKFLOW_ACTION: action,
            PIPELINE_NAMESPACE: label(api.namespace),
        });
        // A permission is a PolicyRule plus `resourceNamespace`.
        let rule_of = |p: &Value| {
            let mut rule = p.clone();
            if let Some(m) = rule.as_object_mut() {
                m.remove("resourceNamespace");
            }
            rule
        };
        let target = |p: &Value| {
            p.get("resourceNamespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let local: Vec<Value> = permissions
            .iter()
            .filter(|p| target(p).is_empty())
            .map(|p| rule_of(p))
            .collect();
        if !local.is_empty() {
            let name = deterministic(&id);
            objects.push(object(
                "Role",
                metadata(&name, Some(api.namespace), &user_labels),
                json!({"rules": local}),
            ));
            objects.push(binding(
                "RoleBinding",
                &name,
                Some(api.namespace),
                &user_labels,
                ("Role", &name),
            ));
        }
        // Grouped per namespace, in the order the namespaces first appear.
        let mut namespaces: Vec<String> = Vec::new();
        for p in &permissions {
            let ns = target(p);
            if !ns.is_empty() && !namespaces.contains(&ns) {
                namespaces.push(ns);
            }
        }
        for ns in namespaces {
            let rules: Vec<Value> = permissions
                .iter()
                .filter(|p| target(p) == ns)
                .map(|p| rule_of(p))
                .collect();
            let all_namespaces = ns == "*";
            let mut cluster_labels = user_labels.clone();
            cluster_labels[RESOURCE_NAMESPACE] = if all_namespaces {
                json!(ALL_NAMESPACES_LABEL)
            } else {
                label(&ns)
            };
            let part = if all_namespaces {
                ALL_NAMESPACES_NAME
            } else {
                ns.as_str()
            };
            let role = deterministic(&format!("{id}-{part}"));
            objects.push(object(
                "ClusterRole",
                metadata(&role, None, &cluster_labels),
                json!({"rules": rules}),
            ));
            let binding_name = deterministic(&format!("{id}-{}", api.namespace));
            if all_namespaces {
                objects.push(binding(
                    "ClusterRoleBinding",
                    &binding_name,
                    None,
                    &user_labels,
                    ("ClusterRole", &role),
                ));
            } else {
                objects.push(binding(
                    "RoleBinding",
                    &binding_name,
                    Some(&ns),
                    &cluster_labels,
                    ("ClusterRole", &role),
                ));
            }
        }
    }
    PipelineAccess {
        service_account,
        objects,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(access: &PipelineAccess) -> Vec<(String, String, String)> {
        access
            .objects
            .iter()
            .map(|o| {
                (
                    o["kind"].as_str().unwrap().to_string(),
                    o["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    o["metadata"]["name"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn objects_are_named_as_kratix_names_them() {
        let spec = json!({"workflows": {"resource": {"configure": [{
            "metadata": {"name": "instance-configure"},
            "spec": {"rbac": {"permissions": [
                {"apiGroups": [""], "verbs": ["get"], "resources": ["configmaps"]},
                {"resourceNamespace": "shared", "apiGroups": [""], "verbs": ["get"], "resources": ["secrets"]},
                {"resourceNamespace": "*", "apiGroups": [""], "verbs": ["list"], "resources": ["namespaces"]},
            ]}, "containers": [{"name": "c", "image": "i"}]}}]}}});
        let owner = Owner {
            name: "redis",
            label: "redis",
            uid: "u-1",
        };
        let api = RequestApi {
            namespace: "team-a",
            group: "marketplace.kratix.io",
            plural: "redis",
        };
        let access = pipeline_access(&owner, &api, &spec, "configure");
        let id = "redis-resource-configure-instance-configure";
        assert_eq!(access.service_account, id);
        let user = naming::deterministic_name(id, &[]);
        let binding = naming::deterministic_name(&format!("{id}-team-a"), &[]);
        let expected = [
            ("ServiceAccount", "team-a", id.to_string()),
            ("Role", "team-a", id.to_string()),
            ("RoleBinding", "team-a", id.to_string()),
            ("Role", "team-a", user.clone()),
            ("RoleBinding", "team-a", user),
            (
                "ClusterRole",
                "",
                naming::deterministic_name(&format!("{id}-shared"), &[]),
            ),
            ("RoleBinding", "shared", binding.clone()),
            (
                "ClusterRole",
                "",
                naming::deterministic_name(&format!("{id}-kratix-all-namespaces"), &[]),
            ),
            ("ClusterRoleBinding", "", binding),
        ]
        .map(|(k, n, name)| (k.to_string(), n.to_string(), name));
        assert_eq!(names(&access), expected);
        let role = &access.objects[1];
        assert_eq!(
            role["rules"],
            json!([{"apiGroups": ["marketplace.kratix.io"], "resources": ["redis", "redis/status"],
                "verbs": ["get", "list", "update", "create", "patch"]}])
        );
        assert_eq!(
            access.objects[3]["rules"],
            json!([{"apiGroups": [""], "verbs": ["get"], "resources": ["configmaps"]}]),
            "resourceNamespace is not part of the rule"
        );
        assert_eq!(
            access.objects[7]["metadata"]["labels"][RESOURCE_NAMESPACE],
            ALL_NAMESPACES_LABEL
        );
        for o in &access.objects {
            assert_eq!(o["metadata"]["ownerReferences"][0]["uid"], "u-1");
            if let Some(subjects) = o.get("subjects") {
                assert_eq!(
                    subjects,
                    &json!([{"kind": "ServiceAccount", "name": id, "namespace": "team-a"}])
                );
            }
        }
    }

    #[test]
    fn a_named_service_account_is_the_pods_and_later_pipelines_bind_to_it() {
        let spec = json!({"workflows": {"resource": {"delete": [
            {"metadata": {"name": "one"}, "spec": {"rbac": {"serviceAccount": "mine"}}},
            {"metadata": {"name": "two"}, "spec": {}},
        ]}}});
        let owner = Owner {
            name: "redis",
            label: "redis",
            uid: "",
        };
        let api = RequestApi {
            namespace: "default",
            group: "g",
            plural: "ps",
        };
        let access = pipeline_access(&owner, &api, &spec, "delete");
        assert_eq!(access.service_account, "mine");
        let two = access
            .objects
            .iter()
            .find(|o| {
                o["kind"] == "RoleBinding" && o["metadata"]["name"] == "redis-resource-delete-two"
            })
            .unwrap();
        assert_eq!(two["subjects"][0]["name"], "mine");
        assert!(
            access.objects[0]["metadata"]
                .get("ownerReferences")
                .is_none()
        );
    }
}
