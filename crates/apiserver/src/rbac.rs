//! Authentication and RBAC authorization, as a real server does them for
//! the identities the sandbox has: its admin token (a member of
//! `system:masters`, allowed everything) and ServiceAccount tokens issued
//! by the TokenRequest API (`kubectl create token`), whose requests are
//! allowed only by the Roles, ClusterRoles and bindings stored here
//! (`k8s.io/apiserver`'s RBAC authorizer: rules matched by verb, API group,
//! resource/subresource and resource name; RoleBindings for their
//! namespace, ClusterRoleBindings everywhere).

use serde_json::Value;

use super::state::{ApiError, ObjectStore};

/// Who a request comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Identity {
    Admin,
    ServiceAccount { namespace: String, name: String },
}

impl Identity {
    pub fn user(&self) -> String {
        match self {
            Identity::Admin => "kbind-admin".into(),
            Identity::ServiceAccount { namespace, name } => {
                format!("system:serviceaccount:{namespace}:{name}")
            }
        }
    }

    pub fn groups(&self) -> Vec<String> {
        match self {
            Identity::Admin => vec!["system:masters".into(), "system:authenticated".into()],
            Identity::ServiceAccount { namespace, .. } => vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
        }
    }
}

/// What a request asks to do, as the authorizer sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Attributes<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: Option<&'a str>,
    pub namespace: &'a str,
    pub name: Option<&'a str>,
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// One PolicyRule against the attributes.
pub(super) fn rule_allows(rule: &Value, a: &Attributes<'_>) -> bool {
    let verbs = strings(&rule["verbs"]);
    let groups = strings(&rule["apiGroups"]);
    let resources = strings(&rule["resources"]);
    let names = strings(&rule["resourceNames"]);
    let resource = match a.subresource {
        Some(sub) => format!("{}/{sub}", a.resource),
        None => a.resource.to_string(),
    };
    let resource_matches = resources.iter().any(|r| {
        *r == "*" || *r == resource || a.subresource.is_some_and(|sub| *r == format!("*/{sub}"))
    });
    (verbs.contains(&"*") || verbs.contains(&a.verb))
        && (groups.contains(&"*") || groups.contains(&a.group))
        && resource_matches
        && (names.is_empty() || a.name.is_some_and(|n| names.contains(&n)))
}

fn subject_matches(subject: &Value, who: &Identity, binding_namespace: &str) -> bool {
    let name = subject["name"].as_str().unwrap_or_default();
    match subject["kind"].as_str() {
        Some("ServiceAccount") => {
            let ns = subject["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_namespace);
            matches!(who, Identity::ServiceAccount { namespace, name: sa } if namespace == ns && sa == name)
        }
        Some("User") => who.user() == name,
        Some("Group") => who.groups().iter().any(|g| g == name),
        _ => false,
    }
}

/// The rules of the role a binding refers to.
fn role_rules(store: &ObjectStore, binding: &Value, binding_namespace: &str) -> Vec<Value> {
    let name = binding["roleRef"]["name"].as_str().unwrap_or_default();
    let (plural, namespace) = match binding["roleRef"]["kind"].as_str() {
        Some("ClusterRole") => ("clusterroles", ""),
        Some("Role") => ("roles", binding_namespace),
        _ => return vec![],
    };
    store
        .find("rbac.authorization.k8s.io", plural, namespace, name)
        .and_then(|role| role["rules"].as_array().cloned())
        .unwrap_or_default()
}

/// True if `who` may do `a`.
pub fn allowed(store: &ObjectStore, who: &Identity, a: &Attributes<'_>) -> bool {
    if *who == Identity::Admin {
        return true;
    }
    // The bootstrap ClusterRole system:basic-user, bound to every
    // authenticated identity: anyone may ask what they may do.
    let review = matches!(
        (a.group, a.resource),
        (
            "authorization.k8s.io",
            "selfsubjectaccessreviews" | "selfsubjectrulesreviews"
        ) | ("authentication.k8s.io", "selfsubjectreviews")
    );
    if review && a.verb == "create" {
        return true;
    }

    let grants = |binding: &Value, namespace: &str| {
        binding["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| subject_matches(s, who, namespace))
            && role_rules(store, binding, namespace)
                .iter()
                .any(|rule| rule_allows(rule, a))
    };
    store
        .all("rbac.authorization.k8s.io", "clusterrolebindings", "")
        .any(|b| grants(b, ""))
        || (!a.namespace.is_empty()
            && store
                .all("rbac.authorization.k8s.io", "rolebindings", a.namespace)
                .any(|b| grants(b, a.namespace)))
}

/// The rules `who` has in `namespace` (cluster-wide bindings included), for
/// a SelfSubjectRulesReview.
pub fn rules_of(store: &ObjectStore, who: &Identity, namespace: &str) -> Vec<Value> {
    let mut rules = vec![];
    let mut collect = |plural: &str, ns: &str| {
        for b in store.all("rbac.authorization.k8s.io", plural, ns) {
            let bound = b["subjects"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| subject_matches(s, who, ns));
            if bound {
                rules.extend(role_rules(store, b, ns));
            }
        }
    };
    collect("clusterrolebindings", "");
    if !namespace.is_empty() {
        collect("rolebindings", namespace);
    }
    rules
}

/// A real server's 403 for a refused request.
pub fn forbidden(who: &Identity, a: &Attributes<'_>) -> ApiError {
    let resource = match a.subresource {
        Some(sub) => format!("{}/{sub}", a.resource),
        None => a.resource.to_string(),
    };
    let qualified = if a.group.is_empty() {
        a.resource.to_string()
    } else {
        format!("{}.{}", a.resource, a.group)
    };
    let what = match a.name {
        Some(name) => format!("{qualified} \"{name}\""),
        None => qualified,
    };
    let scope = if a.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{}\"", a.namespace)
    };
    ApiError::new(
        403,
        "Forbidden",
        format!(
            "{what} is forbidden: User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
            who.user(),
            a.verb,
            a.group
        ),
    )
    .about_kind(a.resource, a.group, a.name.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_match_verbs_groups_subresources_and_names() {
        let rule = json!({"verbs": ["get", "patch"], "apiGroups": ["platform.kratix.io"],
            "resources": ["resourcebindings/status"], "resourceNames": ["b"]});
        let a = Attributes {
            verb: "patch",
            group: "platform.kratix.io",
            resource: "resourcebindings",
            subresource: Some("status"),
            namespace: "default",
            name: Some("b"),
        };
        assert!(rule_allows(&rule, &a));
        assert!(!rule_allows(
            &rule,
            &Attributes {
                subresource: None,
                ..a.clone()
            }
        ));
        assert!(!rule_allows(
            &rule,
            &Attributes {
                name: Some("c"),
                ..a.clone()
            }
        ));
        assert!(!rule_allows(
            &rule,
            &Attributes {
                verb: "delete",
                ..a.clone()
            }
        ));
        let any = json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]});
        assert!(rule_allows(&any, &a));
    }
}
