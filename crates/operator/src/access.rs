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
/// its finalizers and labels, writes their status, and deletes them when
/// their promise is deleted (R-82: without it, a deleted promise would wait
/// for its requests forever).
pub const REQUEST_VERBS: [(&str, &str); 5] = [
    ("list", ""),
    ("watch", ""),
    ("patch", ""),
    ("delete", ""),
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

/// The name of the ClusterRole (and its binding) `kbind rbac` makes for
/// one Promise's requests: one per Promise, so granting one never replaces
/// another's grant (a ClusterRole's `rules` are replaced whole by `kubectl
/// apply`). Cut with a hash when the Promise's name would make it longer
/// than an object name may be.
pub fn role_name(promise: &str) -> String {
    let name = format!("kbind-operator-requests-{promise}");
    if name.len() <= 253 {
        name
    } else {
        format!(
            "kbind-operator-requests-{}",
            kbind_model::naming::label_value(promise)
        )
    }
}

/// The message of a refusal: what is missing and how to grant it.
pub fn refusal(promise: &str, group: &str, plural: &str, refused: &[(String, String)]) -> String {
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
        "the kbind operator may not {} in API group \"{group}\": grant it with `kubectl get promise {promise} -o yaml | kbind rbac - | kubectl apply -f -` (ClusterRole and ClusterRoleBinding {}, holding):\n{}",
        what.join(", "),
        role_name(promise),
        rules_for(group)
    )
}

/// `kbind rbac`: for each Promise given (its name and request group), a
/// ClusterRole with the rules its requests need and a binding to the
/// operator's ServiceAccount in `namespace`.
pub fn manifest(promises: &[(String, String)], namespace: &str) -> String {
    let mut out = String::from(
        "# The kbind operator's access to these Promises' requests (their spec.api groups), one\n# ClusterRole per Promise: applying it adds to what the operator may do, never replaces it.\n",
    );
    for (i, (promise, group)) in promises.iter().enumerate() {
        let name = role_name(promise);
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {name}\n  labels:\n    kratix.io/promise-name: {label}\nrules:\n{rules}---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: {name}\n  labels:\n    kratix.io/promise-name: {label}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: {name}\nsubjects:\n  - kind: ServiceAccount\n    name: kbind-operator\n    namespace: {namespace}\n",
            label = kbind_model::naming::label_value(promise),
            rules = rules_for(group),
        ));
    }
    out
}
