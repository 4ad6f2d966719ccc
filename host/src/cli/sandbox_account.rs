//! The sandbox's operator runs as it runs once installed: as the
//! `kbind-operator` ServiceAccount, held to the rules of `deploy/rbac.yaml`,
//! with a token from the TokenRequest API. So a Promise whose request group
//! those rules do not cover meets in the sandbox what it meets on a cluster
//! (the Promise's `RBACMissing` condition and Event naming the rule, and
//! `kbind rbac` as the fix), not an admin that may do anything.

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use super::Failure;

const NAMESPACE: &str = include_str!("../../../deploy/namespace.yaml");
const RBAC: &str = include_str!("../../../deploy/rbac.yaml");
pub const OPERATOR_NAMESPACE: &str = "kbind-system";
pub const OPERATOR_ACCOUNT: &str = "kbind-operator";

/// The plural and scope of each kind `deploy/namespace.yaml` and
/// `deploy/rbac.yaml` hold.
fn resource_of(api_version: &str, kind: &str) -> Option<(ApiResource, bool)> {
    let (plural, namespaced) = match kind {
        "Namespace" => ("namespaces", false),
        "ServiceAccount" => ("serviceaccounts", true),
        "ClusterRole" => ("clusterroles", false),
        "ClusterRoleBinding" => ("clusterrolebindings", false),
        "Role" => ("roles", true),
        "RoleBinding" => ("rolebindings", true),
        _ => return None,
    };
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    Some((ApiResource::from_gvk_with_plural(&gvk, plural), namespaced))
}

/// Installs the operator's namespace, ServiceAccount and rules with the
/// admin client (what `kubectl apply -f deploy/` does; what is there from
/// a `--state` file stays), and returns a token of the account.
pub async fn operator_token(admin: &kube::Client) -> Result<String, Failure> {
    for doc in NAMESPACE.split("\n---").chain(RBAC.split("\n---")) {
        let object: Value = kbind::yaml::from_str(doc)
            .map_err(|e| Failure::environment(format!("deploy/ manifest: {e}")))?;
        if object.is_null() {
            continue;
        }
        let text = |pointer: &str| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let Some((resource, namespaced)) = resource_of(text("/apiVersion"), text("/kind")) else {
            return Err(Failure::environment(format!(
                "deploy/ holds a {} the sandbox does not install",
                text("/kind")
            )));
        };
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(admin.clone(), text("/metadata/namespace"), &resource)
        } else {
            Api::all_with(admin.clone(), &resource)
        };
        let typed: DynamicObject = serde_json::from_value(object.clone())
            .map_err(|e| Failure::environment(format!("deploy/ manifest: {e}")))?;
        match api.create(&PostParams::default(), &typed).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => {
                return Err(Failure::environment(format!(
                    "cannot install the operator's {} {}: {e}",
                    text("/kind"),
                    text("/metadata/name")
                )));
            }
        }
    }
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), OPERATOR_NAMESPACE);
    let issued = accounts
        .create_token_request(
            OPERATOR_ACCOUNT,
            &PostParams::default(),
            &TokenRequest {
                spec: TokenRequestSpec::default(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| Failure::environment(format!("no token for the operator's account: {e}")))?;
    issued
        .status
        .map(|s| s.token)
        .ok_or_else(|| Failure::environment("the TokenRequest API answered without a token"))
}
