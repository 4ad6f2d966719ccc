//! What the RBAC kinds' validation refuses (`pkg/apis/rbac/validation`):
//! rules without verbs, API groups or resources, non-resource URLs in a
//! Role or beside resources, a binding's `roleRef` outside the RBAC group or
//! to a kind it cannot bind, subjects of an unknown kind or without a name.

use serde_json::Value;

use super::validation::{FieldError, NameRule, strings};

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

fn text<'a>(object: &'a Value, key: &str) -> &'a str {
    object[key].as_str().unwrap_or_default()
}

/// `ValidatePolicyRule` of each rule of a Role (`namespaced`) or ClusterRole.
pub fn rules(role: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = vec![];
    for (i, rule) in role["rules"].as_array().into_iter().flatten().enumerate() {
        let at = |child: &str| format!("rules[{i}].{child}");
        if strings(&rule["verbs"]).is_empty() {
            errs.push(FieldError::required(
                at("verbs"),
                "verbs must contain at least one value",
            ));
        }
        let urls = strings(&rule["nonResourceURLs"]);
        if !urls.is_empty() {
            if namespaced {
                errs.push(
                    FieldError::invalid(
                        at("nonResourceURLs"),
                        Value::Null,
                        "namespaced rules cannot apply to non-resource URLs",
                    )
                    .with_string_list(&urls),
                );
            }
            if ["apiGroups", "resources", "resourceNames"]
                .iter()
                .any(|f| !strings(&rule[*f]).is_empty())
            {
                errs.push(
                    FieldError::invalid(
                        at("nonResourceURLs"),
                        Value::Null,
                        "rules cannot apply to both regular resources and non-resource URLs",
                    )
                    .with_string_list(&urls),
                );
            }
            continue;
        }
        if strings(&rule["apiGroups"]).is_empty() {
            errs.push(FieldError::required(
                at("apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if strings(&rule["resources"]).is_empty() {
            errs.push(FieldError::required(
                at("resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
    let aggregation = &role["aggregationRule"];
    if !namespaced
        && aggregation.is_object()
        && aggregation["clusterRoleSelectors"]
            .as_array()
            .is_none_or(Vec::is_empty)
    {
        errs.push(FieldError::required(
            "aggregationRule.clusterRoleSelectors",
            "at least one clusterRoleSelector required if aggregationRule is non-nil",
        ));
    }
    errs
}

/// `ValidateRoleBinding` (`namespaced`) or `ValidateClusterRoleBinding`
/// beyond the object's metadata.
pub fn binding(binding: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = vec![];
    let role_ref = &binding["roleRef"];
    let api_group = text(role_ref, "apiGroup");
    if api_group != RBAC_GROUP {
        errs.push(FieldError::not_supported(
            "roleRef.apiGroup",
            api_group,
            &[RBAC_GROUP],
        ));
    }
    let kind = text(role_ref, "kind");
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !kinds.contains(&kind) {
        errs.push(FieldError::not_supported("roleRef.kind", kind, kinds));
    }
    let name = text(role_ref, "name");
    if name.is_empty() {
        errs.push(FieldError::required("roleRef.name", ""));
    }
    for msg in NameRule::PathSegment.check(name) {
        errs.push(FieldError::invalid("roleRef.name", name, msg));
    }
    for (i, subject) in binding["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        errs.extend(subject_errors(
            subject,
            namespaced,
            &format!("subjects[{i}]"),
        ));
    }
    errs
}

/// `ValidateRoleBindingSubject`.
fn subject_errors(subject: &Value, namespaced: bool, path: &str) -> Vec<FieldError> {
    let mut errs = vec![];
    let name = text(subject, "name");
    let api_group = text(subject, "apiGroup");
    if name.is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), ""));
    }
    match text(subject, "kind") {
        "ServiceAccount" => {
            if !name.is_empty() {
                for msg in NameRule::Dns1123Subdomain.check(name) {
                    errs.push(FieldError::invalid(format!("{path}.name"), name, msg));
                }
            }
            if !api_group.is_empty() {
                errs.push(FieldError::not_supported(
                    format!("{path}.apiGroup"),
                    api_group,
                    &[""],
                ));
            }
            if !namespaced && text(subject, "namespace").is_empty() {
                errs.push(FieldError::required(format!("{path}.namespace"), ""));
            }
        }
        "User" | "Group" => {
            if api_group != RBAC_GROUP {
                errs.push(FieldError::not_supported(
                    format!("{path}.apiGroup"),
                    api_group,
                    &[RBAC_GROUP],
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            format!("{path}.kind"),
            other,
            &["ServiceAccount", "User", "Group"],
        )),
    }
    errs
}
