//! RBAC privilege-escalation prevention, as the RBAC registry's storage
//! does it (`pkg/registry/rbac/{role,clusterrole,rolebinding,
//! clusterrolebinding}/policybased`, `ConfirmNoEscalation`): a client may
//! write a Role or ClusterRole only with rules it holds itself (in that
//! namespace; cluster-wide for a ClusterRole) unless it may `escalate`
//! roles, and bind a role only if it holds the role's rules or may `bind`
//! it. `system:masters` (the sandbox's admin) is exempt. A write that
//! changes only owner references or finalizers is not checked.

use serde_json::Value;

use super::rbac::{self, Attributes, Identity};
use super::registry::Resource;
use super::state::{ApiError, ObjectStore};

const GROUP: &str = "rbac.authorization.k8s.io";

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// Everything but the fields the garbage collector writes.
fn without_gc_fields(o: &Value) -> Value {
    let mut o = o.clone();
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "ownerReferences",
            "finalizers",
            "resourceVersion",
            "managedFields",
            "generation",
        ] {
            meta.remove(field);
        }
    }
    o
}

/// One permission a rule grants, broken down as the real check does.
#[derive(Clone, Debug, PartialEq)]
enum Grant {
    Resource {
        group: String,
        resource: String,
        name: Option<String>,
        verb: String,
    },
    Url {
        url: String,
        verb: String,
    },
}

fn breakdown(rule: &Value) -> Vec<Grant> {
    let verbs = strings(&rule["verbs"]);
    let mut out = Vec::new();
    for url in strings(&rule["nonResourceURLs"]) {
        for verb in &verbs {
            out.push(Grant::Url {
                url: url.clone(),
                verb: verb.clone(),
            });
        }
    }
    let names = strings(&rule["resourceNames"]);
    for group in strings(&rule["apiGroups"]) {
        for resource in strings(&rule["resources"]) {
            for verb in &verbs {
                let mut push = |name: Option<String>| {
                    out.push(Grant::Resource {
                        group: group.clone(),
                        resource: resource.clone(),
                        name,
                        verb: verb.clone(),
                    })
                };
                if names.is_empty() {
                    push(None);
                } else {
                    for n in &names {
                        push(Some(n.clone()));
                    }
                }
            }
        }
    }
    out
}

/// Whether an owner rule covers one broken-down permission (`Covers`:
/// wildcards in the owner's rule; the permission's own `*` must be
/// matched by a `*`).
fn covers(owner: &Value, grant: &Grant) -> bool {
    let has = |field: &str, value: &str| {
        let values = strings(&owner[field]);
        values.iter().any(|v| v == "*" || v == value)
    };
    match grant {
        Grant::Url { url, verb } => {
            has("verbs", verb)
                && strings(&owner["nonResourceURLs"]).iter().any(|u| {
                    u == url
                        || u == "*"
                        || u.strip_suffix('*')
                            .is_some_and(|prefix| url.starts_with(prefix))
                })
        }
        // The authorizer's own rule match, the permission as the request.
        Grant::Resource {
            group,
            resource,
            name,
            verb,
        } => {
            let (resource, subresource) = match resource.split_once('/') {
                Some((r, sub)) => (r, Some(sub)),
                None => (resource.as_str(), None),
            };
            rbac::rule_allows(
                owner,
                &Attributes {
                    verb,
                    group,
                    resource,
                    subresource,
                    namespace: "",
                    name: name.as_deref(),
                },
            )
        }
    }
}

/// Go's `%q` of a string slice: `["a" "b"]`.
fn quoted(values: &[String]) -> String {
    let inner: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[{}]", inner.join(" "))
}

/// The missing permissions as `ConfirmNoEscalation` prints them
/// (compacted: one rule per group, resource and name, its verbs together).
fn describe(missing: &[Grant]) -> String {
    let mut rules: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for grant in missing {
        let (head, verb) = match grant {
            Grant::Url { url, verb } => (
                format!("NonResourceURLs:{}", quoted(std::slice::from_ref(url))),
                verb,
            ),
            Grant::Resource {
                group,
                resource,
                name,
                verb,
            } => {
                let mut head = format!(
                    "APIGroups:{}, Resources:{}",
                    quoted(std::slice::from_ref(group)),
                    quoted(std::slice::from_ref(resource))
                );
                if let Some(n) = name {
                    head.push_str(&format!(
                        ", ResourceNames:{}",
                        quoted(std::slice::from_ref(n))
                    ));
                }
                (head, verb)
            }
        };
        match rules.iter_mut().find(|(h, _)| h.first() == Some(&head)) {
            Some((_, verbs)) => {
                if !verbs.contains(verb) {
                    verbs.push(verb.clone());
                }
            }
            None => rules.push((vec![head], vec![verb.clone()])),
        }
    }
    rules
        .iter()
        .map(|(head, verbs)| format!("{{{}, Verbs:{}}}", head[0], quoted(verbs)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `ConfirmNoEscalation`: every permission of `rules` is held by `who` in
/// `namespace` ("" for cluster-wide only).
fn confirm_no_escalation(
    store: &ObjectStore,
    who: &Identity,
    namespace: &str,
    rules: &[Value],
) -> Result<(), String> {
    let held = rbac::rules_of(store, who, namespace);
    let missing: Vec<Grant> = rules
        .iter()
        .flat_map(breakdown)
        .filter(|g| !held.iter().any(|owner| covers(owner, g)))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "user {:?} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        who.user(),
        quoted(&who.groups()),
        describe(&missing)
    ))
}

fn may(
    store: &ObjectStore,
    who: &Identity,
    verb: &str,
    resource: &str,
    namespace: &str,
    name: &str,
) -> bool {
    rbac::allowed(
        store,
        who,
        &Attributes {
            verb,
            group: GROUP,
            resource,
            subresource: None,
            namespace,
            name: Some(name),
        },
    )
}

/// Checks a create (`current` None) or update of an RBAC object by the
/// request's identity.
pub fn check(
    store: &ObjectStore,
    who: &Identity,
    r: &Resource,
    object: &Value,
    current: Option<&Value>,
) -> Result<(), ApiError> {
    if r.group != GROUP || who.is_superuser() {
        return Ok(());
    }
    if current.is_some_and(|c| without_gc_fields(c) == without_gc_fields(object)) {
        return Ok(());
    }
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
    let forbidden = |why: String| {
        ApiError::new(
            403,
            "Forbidden",
            format!("{}.{GROUP} \"{name}\" is forbidden: {why}", r.plural),
        )
        .about(r, name)
    };
    match r.plural.as_str() {
        "roles" | "clusterroles" => {
            if may(store, who, "escalate", &r.plural, namespace, name) {
                return Ok(());
            }
            let rules = object["rules"].as_array().cloned().unwrap_or_default();
            confirm_no_escalation(store, who, namespace, &rules).map_err(forbidden)
        }
        "rolebindings" | "clusterrolebindings" => {
            let role = object["roleRef"]["name"].as_str().unwrap_or_default();
            let (role_plural, role_namespace) = match object["roleRef"]["kind"].as_str() {
                Some("Role") => ("roles", namespace),
                _ => ("clusterroles", ""),
            };
            if may(store, who, "bind", role_plural, namespace, role) {
                return Ok(());
            }
            // GetRoleReferenceRules: a role that does not exist is that
            // error, as is.
            let Some(found) = store.find(GROUP, role_plural, role_namespace, role) else {
                return Err(ApiError::new(
                    404,
                    "NotFound",
                    format!("{role_plural}.{GROUP} \"{role}\" not found"),
                ));
            };
            let rules = found["rules"].as_array().cloned().unwrap_or_default();
            confirm_no_escalation(store, who, namespace, &rules).map_err(forbidden)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn owner_wildcards_cover_and_the_missing_are_printed_as_kubernetes_prints_them() {
        let owner =
            json!({"apiGroups": [""], "resources": ["configmaps", "*/status"], "verbs": ["*"]});
        let rule = json!({"apiGroups": [""], "resources": ["configmaps", "pods/status", "secrets"], "verbs": ["get", "list"]});
        let missing: Vec<Grant> = breakdown(&rule)
            .into_iter()
            .filter(|g| !covers(&owner, g))
            .collect();
        assert_eq!(
            describe(&missing),
            r#"{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}"#
        );
        let named = json!({"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["a"], "verbs": ["get"]});
        assert!(breakdown(&named).iter().all(|g| covers(
            &json!({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}),
            g
        )));
        assert!(
            !breakdown(
                &json!({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]})
            )
            .iter()
            .all(|g| covers(&named, g)),
            "a named grant does not cover all names"
        );
        let url = json!({"nonResourceURLs": ["/healthz"], "verbs": ["get"]});
        assert!(breakdown(&url).iter().all(|g| covers(
            &json!({"nonResourceURLs": ["/health*"], "verbs": ["get"]}),
            g
        )));
    }
}
