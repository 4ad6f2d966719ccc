//! What the operator may do with a promise's requests. Request kinds come
//! from Promises, so no fixed RBAC can name them: each group has to be
//! granted (`kbind rbac` prints the rules). A promise whose requests the
//! operator may not read or write says so on the Promise — a condition and
//! an Event naming the missing rule — instead of its reconciles parking in
//! silence.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};

/// What the operator does with a promise's requests: watches them, sets
/// its finalizers and labels, writes their status.
pub const REQUEST_VERBS: [(&str, &str); 4] = [
    ("list", ""),
    ("watch", ""),
    ("patch", ""),
    ("patch", "status"),
];

/// The condition on a Promise saying whether its requests are reachable.
pub const CONDITION: &str = "RequestsAccessible";

/// The verbs (with subresource) the operator is refused on `plural.group`,
/// by the server's own authorizer (SelfSubjectAccessReview).
pub async fn missing(
    client: &Client,
    group: &str,
    plural: &str,
) -> Result<Vec<(String, String)>, kube::Error> {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut refused = vec![];
    for (verb, subresource) in REQUEST_VERBS {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    group: Some(group.to_string()),
                    resource: Some(plural.to_string()),
                    subresource: (!subresource.is_empty()).then(|| subresource.to_string()),
                    verb: Some(verb.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let answer = reviews.create(&PostParams::default(), &review).await?;
        if !answer.status.is_some_and(|s| s.allowed) {
            refused.push((verb.to_string(), subresource.to_string()));
        }
    }
    Ok(refused)
}

/// The ClusterRole rules that grant a request group what the operator does
/// ([`REQUEST_VERBS`]: on the kinds, and on their status).
pub fn rules_for(group: &str) -> String {
    let verbs = |subresource: &str| {
        let mut verbs: Vec<String> = REQUEST_VERBS
            .iter()
            .filter(|(_, sub)| *sub == subresource)
            .map(|(verb, _)| format!("\"{verb}\""))
            .collect();
        verbs.dedup();
        verbs.join(", ")
    };
    format!(
        "  - apiGroups: [\"{group}\"]\n    resources: [\"*\"]\n    verbs: [{}]\n  - apiGroups: [\"{group}\"]\n    resources: [\"*/status\"]\n    verbs: [{}]\n",
        verbs(""),
        verbs("status")
    )
}

/// The message of a refusal: what is missing and the rule that grants it.
pub fn refusal(group: &str, plural: &str, refused: &[(String, String)]) -> String {
    let what: Vec<String> = refused
        .iter()
        .map(|(verb, sub)| {
            if sub.is_empty() {
                format!("{verb} {plural}")
            } else {
                format!("{verb} {plural}/{sub}")
            }
        })
        .collect();
    format!(
        "the kbind operator may not {} in API group \"{group}\": add to ClusterRole kbind-operator-requests (kbind rbac prints it):\n{}",
        what.join(", "),
        rules_for(group)
    )
}

/// `kbind rbac`: the ClusterRole and its binding for the request groups of
/// the given Promises (`apiGroups` deduplicated, in order).
pub fn manifest(groups: &[String], namespace: &str) -> String {
    let mut out = String::from(
        "# The kbind operator's access to these Promises' requests (their spec.api groups).\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: kbind-operator-requests\nrules:\n",
    );
    for group in groups {
        out.push_str(&rules_for(group));
    }
    out.push_str(&format!(
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: kbind-operator-requests\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: kbind-operator-requests\nsubjects:\n  - kind: ServiceAccount\n    name: kbind-operator\n    namespace: {namespace}\n"
    ));
    out
}
