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
    ServiceAccount {
        namespace: String,
        name: String,
    },
    /// Who a request acts as through `Impersonate-*` headers (kubectl's
    /// `--as`, `--as-group`), once the requester was allowed to.
    Impersonated {
        name: String,
        groups: Vec<String>,
    },
}

const SUPERUSERS: &str = "system:masters";
const AUTHENTICATED: &str = "system:authenticated";
const UNAUTHENTICATED: &str = "system:unauthenticated";
const ANONYMOUS: &str = "system:anonymous";
const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

impl Identity {
    pub fn user(&self) -> String {
        match self {
            Identity::Admin => "kbind-admin".into(),
            Identity::ServiceAccount { namespace, name } => {
                format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}")
            }
            Identity::Impersonated { name, .. } => name.clone(),
        }
    }

    pub fn groups(&self) -> Vec<String> {
        match self {
            Identity::Admin => vec![SUPERUSERS.into(), AUTHENTICATED.into()],
            Identity::ServiceAccount { namespace, .. } => {
                let mut groups = service_account_groups(namespace);
                groups.push(AUTHENTICATED.into());
                groups
            }
            Identity::Impersonated { groups, .. } => groups.clone(),
        }
    }

    /// A member of `system:masters`, which a real server's authorizer lets
    /// do anything before RBAC is asked.
    pub fn is_superuser(&self) -> bool {
        self.groups().iter().any(|g| g == SUPERUSERS)
    }
}

fn service_account_groups(namespace: &str) -> Vec<String> {
    vec![
        "system:serviceaccounts".into(),
        format!("system:serviceaccounts:{namespace}"),
    ]
}

/// The `Impersonate-*` headers of a request, as `buildImpersonationRequests`
/// reads them.
#[derive(Debug, Default)]
pub struct Impersonation {
    pub user: Option<String>,
    pub groups: Vec<String>,
    /// `Impersonate-Extra-<key>` values, key lowercased and unescaped.
    pub extra: Vec<(String, String)>,
    pub uid: Option<String>,
}

impl Impersonation {
    pub fn is_empty(&self) -> bool {
        self.user.is_none() && self.groups.is_empty() && self.extra.is_empty() && self.uid.is_none()
    }
}

/// What impersonating `name` asks the authorizer.
fn impersonating<'a>(
    resource: &'a str,
    group: &'a str,
    namespace: &'a str,
    name: &'a str,
) -> Attributes<'a> {
    Attributes {
        verb: "impersonate",
        group,
        resource,
        subresource: None,
        namespace,
        name: Some(name),
    }
}

/// `WithImpersonation`: `who` becomes the impersonated identity, after the
/// authorizer allowed `who` to `impersonate` each user, service account,
/// group, extra and uid asked for (403 on the first that is not).
pub fn impersonate(
    store: &ObjectStore,
    who: Identity,
    asked: &Impersonation,
) -> Result<Identity, ApiError> {
    if asked.is_empty() {
        return Ok(who);
    }
    let Some(requested_user) = asked.user.as_deref() else {
        return Err(ApiError::new(
            400,
            "BadRequest",
            "requested impersonation of groups, extras or a uid without impersonating a user",
        ));
    };
    let groups_specified = !asked.groups.is_empty();
    let mut groups: Vec<String> = vec![];
    let check = |a: Attributes<'_>| -> Result<(), ApiError> {
        if allowed(store, &who, &a) {
            Ok(())
        } else {
            Err(forbidden(&who, &a))
        }
    };
    let service_account = requested_user
        .strip_prefix(SERVICE_ACCOUNT_PREFIX)
        .and_then(|rest| rest.split_once(':'))
        .filter(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains(':'));
    match service_account {
        Some((namespace, name)) => {
            check(impersonating("serviceaccounts", "", namespace, name))?;
            if !groups_specified {
                groups = service_account_groups(namespace);
            }
        }
        None => check(impersonating("users", "", "", requested_user))?,
    }
    for group in &asked.groups {
        check(impersonating("groups", "", "", group))?;
        groups.push(group.clone());
    }
    for (key, value) in &asked.extra {
        check(Attributes {
            verb: "impersonate",
            group: "authentication.k8s.io",
            resource: "userextras",
            subresource: Some(key),
            namespace: "",
            name: Some(value),
        })?;
    }
    if let Some(uid) = &asked.uid {
        check(impersonating("uids", "authentication.k8s.io", "", uid))?;
    }
    if requested_user != ANONYMOUS {
        if !groups
            .iter()
            .any(|g| g == AUTHENTICATED || g == UNAUTHENTICATED)
        {
            groups.push(AUTHENTICATED.into());
        }
    } else if !groups.iter().any(|g| g == UNAUTHENTICATED) {
        groups.push(UNAUTHENTICATED.into());
    }
    Ok(Identity::Impersonated {
        name: requested_user.to_string(),
        groups,
    })
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
        // A service account is a user name: its own token, or someone
        // impersonating it.
        Some("ServiceAccount") => {
            let ns = subject["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_namespace);
            who.user() == format!("{SERVICE_ACCOUNT_PREFIX}{ns}:{name}")
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

/// The rules of the bootstrap ClusterRoles a real server binds to every
/// authenticated identity (`system:basic-user`: ask what one may do;
/// `system:discovery` and `system:public-info-viewer`: read discovery,
/// OpenAPI, health and version), or to everyone (`system:public-info-viewer`).
fn bootstrap_rules(who: &Identity) -> &'static [Value] {
    // Built once: the authorizer asks on every request.
    static AUTHENTICATED_RULES: std::sync::LazyLock<Vec<Value>> = std::sync::LazyLock::new(|| {
        vec![
            serde_json::json!({"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
                "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]}),
            serde_json::json!({"verbs": ["create"], "apiGroups": ["authentication.k8s.io"],
                "resources": ["selfsubjectreviews"]}),
            serde_json::json!({"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*",
                "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
                "/version", "/version/"]}),
            PUBLIC_INFO.clone(),
        ]
    });
    static PUBLIC_INFO: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
        serde_json::json!({"verbs": ["get"],
            "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"]})
    });
    let groups = who.groups();
    let has = |g: &str| groups.iter().any(|x| x == g);
    if has(AUTHENTICATED) {
        &AUTHENTICATED_RULES
    } else if has(UNAUTHENTICATED) {
        std::slice::from_ref(&*PUBLIC_INFO)
    } else {
        &[]
    }
}

/// Whether a rule with `nonResourceURLs` lets `verb` reach `path`.
fn url_rule_allows(rule: &Value, verb: &str, path: &str) -> bool {
    let verbs = strings(&rule["verbs"]);
    (verbs.contains(&"*") || verbs.contains(&verb))
        && strings(&rule["nonResourceURLs"]).iter().any(|u| {
            *u == "*" || *u == path || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
        })
}

/// True if `who` may `verb` the non-resource URL `path` (discovery, health,
/// version, OpenAPI for every authenticated identity; the rest by RBAC).
pub fn allowed_url(store: &ObjectStore, who: &Identity, verb: &str, path: &str) -> bool {
    who.is_superuser()
        || rules_of(store, who, "")
            .iter()
            .any(|rule| url_rule_allows(rule, verb, path))
}

/// True if `who` may do `a`.
pub fn allowed(store: &ObjectStore, who: &Identity, a: &Attributes<'_>) -> bool {
    if who.is_superuser() {
        return true;
    }
    if bootstrap_rules(who).iter().any(|rule| rule_allows(rule, a)) {
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
    let mut rules = bootstrap_rules(who).to_vec();
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

    /// Extras and a uid are authorized like the rest of an impersonation
    /// (`userextras/<key>`, `uids` in authentication.k8s.io), then dropped.
    #[test]
    fn impersonated_extras_and_uids_need_the_impersonate_verb() {
        let store = ObjectStore::new();
        let asked = Impersonation {
            user: Some("jane".into()),
            extra: vec![("scopes".into(), "view".into())],
            uid: Some("1234".into()),
            ..Impersonation::default()
        };
        let jane = impersonate(&store, Identity::Admin, &asked).unwrap();
        assert_eq!(jane.user(), "jane");
        assert_eq!(jane.groups(), ["system:authenticated"]);
        let account = Identity::ServiceAccount {
            namespace: "ns".into(),
            name: "sa".into(),
        };
        let refused = impersonate(&store, account.clone(), &asked).unwrap_err();
        assert!(
            refused
                .message
                .contains("cannot impersonate resource \"users\""),
            "{}",
            refused.message
        );
        // Allowed to impersonate users only: the extra is what is refused.
        let mut store = store;
        for object in [
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "impersonate-users"},
                "rules": [{"verbs": ["impersonate"], "apiGroups": [""], "resources": ["users"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "impersonate-users"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "impersonate-users"},
                "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}]}),
        ] {
            let r = store
                .resources()
                .iter()
                .find(|r| r.kind == object["kind"])
                .cloned()
                .unwrap();
            store.create(&r, "", object).unwrap();
        }
        let refused = impersonate(&store, account.clone(), &asked).unwrap_err();
        assert!(
            refused
                .message
                .contains("cannot impersonate resource \"userextras/scopes\" in API group \"authentication.k8s.io\""),
            "{}",
            refused.message
        );
        let only_uid = Impersonation {
            uid: Some("1234".into()),
            ..Impersonation::default()
        };
        assert_eq!(
            impersonate(&store, account, &only_uid).unwrap_err().code,
            400,
            "a uid without a user"
        );
    }

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
