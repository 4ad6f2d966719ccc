//! What a real cluster puts into every namespace a moment after it is
//! made, and puts back when someone deletes it: the `default`
//! ServiceAccount (the ServiceAccounts controller) and the
//! `kube-root-ca.crt` ConfigMap holding the API server's CA (the root CA
//! publisher, which also rewrites it when edited). A `kubectl get
//! configmaps` on a cluster lists it; so does one here.

use serde_json::{Value, json};

use super::managed::Manager;
use super::state::{ObjectStore, RequestContext};

pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// True for the objects these controllers keep: a change to one of them
/// (its deletion, an edit of the CA) sends them back to its namespace.
pub fn kept(group: &str, plural: &str, name: &str) -> bool {
    group.is_empty()
        && ((plural == "serviceaccounts" && name == DEFAULT_SERVICE_ACCOUNT)
            || (plural == "configmaps" && name == ROOT_CA_CONFIG_MAP))
}

/// Writes as the controller manager makes them (`managedFields`).
pub(super) fn controller_manager() -> RequestContext {
    RequestContext {
        manager: Some(Manager {
            name: "kube-controller-manager".into(),
            apply: false,
            force: false,
        }),
        ..RequestContext::default()
    }
}

impl ObjectStore {
    /// Both controllers' sync of one namespace; nothing while it is being
    /// deleted (or gone), as they skip a namespace that is not active.
    pub(super) fn populate(&mut self, namespace: &str) {
        let Some(namespaces) = self.resource("", "v1", "namespaces").cloned() else {
            return;
        };
        if self.get(&namespaces, "", namespace).is_err() || self.namespace_terminating(namespace) {
            return;
        }
        if let Some(accounts) = self.resource("", "v1", "serviceaccounts").cloned()
            && self
                .get(&accounts, namespace, DEFAULT_SERVICE_ACCOUNT)
                .is_err()
        {
            let account = json!({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": DEFAULT_SERVICE_ACCOUNT}});
            let _ = self.serving(controller_manager(), |s| {
                s.create(&accounts, namespace, account)
            });
        }
        self.publish_root_ca(namespace);
    }

    /// The root CA publisher: the ConfigMap made, or its data and
    /// description put back if they differ. A store that serves no TLS
    /// (a test's, a tool's) has no CA to publish.
    fn publish_root_ca(&mut self, namespace: &str) {
        let Some(ca) = self.root_ca().map(str::to_string) else {
            return;
        };
        let Some(config_maps) = self.resource("", "v1", "configmaps").cloned() else {
            return;
        };
        let data = json!({"ca.crt": ca});
        match self.get(&config_maps, namespace, ROOT_CA_CONFIG_MAP) {
            Err(_) => {
                let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": ROOT_CA_CONFIG_MAP,
                        "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
                    "data": data});
                let _ = self.serving(controller_manager(), |s| {
                    s.create(&config_maps, namespace, config_map)
                });
            }
            Ok(current) => {
                let described = current["metadata"]["annotations"][DESCRIPTION_ANNOTATION]
                    .as_str()
                    .is_some_and(|d| !d.is_empty());
                if current["data"] == data && described {
                    return;
                }
                let mut next: Value = current;
                next["data"] = data;
                next["metadata"]["annotations"][DESCRIPTION_ANNOTATION] = json!(DESCRIPTION);
                let _ = self.serving(controller_manager(), |s| {
                    s.update(&config_maps, namespace, ROOT_CA_CONFIG_MAP, next, false)
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(store: &ObjectStore, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let r = store.resource("", "v1", plural).cloned()?;
        store.get(&r, namespace, name).ok()
    }

    #[test]
    fn every_active_namespace_gets_its_account_and_ca_after_it_is_made_and_again_when_they_go() {
        let mut store = ObjectStore::new();
        store.set_root_ca("PEM");
        let namespaces = store.resource("", "v1", "namespaces").cloned().unwrap();
        let config_maps = store.resource("", "v1", "configmaps").cloned().unwrap();
        store
            .create(&namespaces, "", json!({"metadata": {"name": "team-a"}}))
            .unwrap();
        assert!(
            get(&store, "configmaps", "team-a", ROOT_CA_CONFIG_MAP).is_none(),
            "made by the controllers after the namespace's create, not in it"
        );
        store.settle();
        let ca = get(&store, "configmaps", "team-a", ROOT_CA_CONFIG_MAP).unwrap();
        assert_eq!(ca["data"], json!({"ca.crt": "PEM"}));
        assert_eq!(
            ca["metadata"]["annotations"][DESCRIPTION_ANNOTATION],
            DESCRIPTION
        );
        assert_eq!(
            ca["metadata"]["managedFields"][0]["manager"],
            "kube-controller-manager"
        );
        assert!(get(&store, "serviceaccounts", "team-a", DEFAULT_SERVICE_ACCOUNT).is_some());
        assert!(
            get(
                &store,
                "serviceaccounts",
                "default",
                DEFAULT_SERVICE_ACCOUNT
            )
            .is_some(),
            "the namespaces a server starts with too"
        );

        // Edited: the publisher puts its data back; deleted: made again.
        let mut edited = ca.clone();
        edited["data"] = json!({"ca.crt": "mine"});
        store
            .update(&config_maps, "team-a", ROOT_CA_CONFIG_MAP, edited, false)
            .unwrap();
        store.settle();
        let ca = get(&store, "configmaps", "team-a", ROOT_CA_CONFIG_MAP).unwrap();
        assert_eq!(ca["data"], json!({"ca.crt": "PEM"}));
        store
            .delete(&config_maps, "team-a", ROOT_CA_CONFIG_MAP)
            .unwrap();
        store.settle();
        assert!(get(&store, "configmaps", "team-a", ROOT_CA_CONFIG_MAP).is_some());

        // A terminating namespace gets nothing back, and goes.
        store.delete(&namespaces, "", "team-a").unwrap();
        store.settle();
        assert!(get(&store, "namespaces", "", "team-a").is_none());
        assert!(get(&store, "configmaps", "team-a", ROOT_CA_CONFIG_MAP).is_none());
    }
}
