//! A cluster installed as the README installs kbind: the embedded server
//! (RBAC enforced) with kbind's CRDs and `deploy/` applied, and the
//! operator's client holding a token of the `kbind-operator`
//! ServiceAccount from the TokenRequest API.

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kbind::apiserver::{self, ObjectStore};
use kube::api::{Api, DynamicObject, PostParams};
use kube::discovery::{Discovery, Scope};
use serde_json::Value;

pub fn repo_file(path: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Creates every document of a manifest, as `kubectl create -f` does.
pub async fn create_all(client: &kube::Client, manifest: &str) {
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    for doc in manifest.split("\n---") {
        let object: Value = kbind::yaml::from_str(doc).unwrap();
        if object.is_null() {
            continue;
        }
        let gvk = kube::core::GroupVersionKind::try_from(
            &serde_json::from_value::<kube::core::TypeMeta>(object.clone()).unwrap(),
        )
        .unwrap();
        let (resource, caps) = discovery.resolve_gvk(&gvk).unwrap();
        let api: Api<DynamicObject> = match (caps.scope, object.pointer("/metadata/namespace")) {
            (Scope::Namespaced, Some(Value::String(ns))) => {
                Api::namespaced_with(client.clone(), ns, &resource)
            }
            (Scope::Namespaced, _) => Api::namespaced_with(client.clone(), "default", &resource),
            (Scope::Cluster, _) => Api::all_with(client.clone(), &resource),
        };
        api.create(
            &PostParams::default(),
            &serde_json::from_value(object).unwrap(),
        )
        .await
        .unwrap_or_else(|e| panic!("cannot create {gvk:?}: {e}"));
    }
}

/// A token the TokenRequest API issued for a ServiceAccount, as `kubectl
/// create token` gets one.
pub async fn token_for(admin: &kube::Client, namespace: &str, name: &str) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
    let issued = accounts
        .create_token_request(
            name,
            &PostParams::default(),
            &TokenRequest {
                spec: TokenRequestSpec::default(),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("no token for ServiceAccount {namespace}/{name}: {e}"));
    issued.status.unwrap().token
}

/// A client holding a token the TokenRequest API issued for a ServiceAccount.
pub async fn client_as_service_account(
    running: &apiserver::Running,
    admin: &kube::Client,
    namespace: &str,
    name: &str,
) -> kube::Client {
    super::client_with_token(running, token_for(admin, namespace, name).await).await
}

/// The embedded server with kbind's CRDs and `deploy/` applied (as the
/// README's install steps do), an admin client, and the operator's.
pub async fn installed() -> (apiserver::Running, kube::Client, kube::Client) {
    let running = apiserver::serve(
        ([127, 0, 0, 1], 0).into(),
        apiserver::new_token(),
        ObjectStore::new(),
    )
    .await
    .unwrap();
    let admin = super::client_for(&running).await;
    create_all(&admin, &kbind::api::crds_yaml().unwrap()).await;
    create_all(&admin, &repo_file("deploy/namespace.yaml")).await;
    create_all(&admin, &repo_file("deploy/rbac.yaml")).await;
    let operator_client =
        client_as_service_account(&running, &admin, "kbind-system", "kbind-operator").await;
    (running, admin, operator_client)
}
