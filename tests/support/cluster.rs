//! An embedded API server with kbind's CRDs and typed handles on the
//! objects of the user story (a redis promise, its requests, bindings,
//! Jobs, Events), shared by the operator and fault tests.

use kbind::apiserver::{self, ObjectStore};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use super::eventually;

pub const BINDING: &str = "example-redis-e7f90";

pub fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

pub struct Env {
    pub running: apiserver::Running,
    pub client: kube::Client,
    pub promises: Api<DynamicObject>,
    pub revisions: Api<DynamicObject>,
    pub requests: Api<DynamicObject>,
    pub bindings: Api<DynamicObject>,
    pub jobs: Api<DynamicObject>,
    pub events: Api<DynamicObject>,
}

/// The common Promise at `version` (`support::fixture`).
pub fn promise(version: &str) -> Value {
    super::fixture::promise(version).build()
}

pub fn request(name: &str) -> DynamicObject {
    serde_json::from_value(
        json!({"apiVersion": "marketplace.kratix.io/v1alpha1", "kind": "redis",
        "metadata": {"name": name, "namespace": "default"}, "spec": {"size": "small"}}),
    )
    .unwrap()
}

impl Env {
    pub async fn new() -> Self {
        Self::with_store(ObjectStore::new()).await
    }

    /// Stops the server and starts it again (same address, token and
    /// certificate) on the same `--state` file.
    pub async fn restart_server(&mut self, state_file: &std::path::Path) {
        let running = std::mem::replace(
            &mut self.running,
            apiserver::serve(
                ([127, 0, 0, 1], 0).into(),
                String::new(),
                ObjectStore::new(),
            )
            .await
            .unwrap(),
        );
        let old_placeholder = std::mem::replace(
            &mut self.running,
            apiserver::restart(running, || ObjectStore::with_state_file(state_file))
                .await
                .unwrap(),
        );
        old_placeholder.task.abort();
    }

    pub async fn with_store(store: ObjectStore) -> Self {
        let running = apiserver::serve(([127, 0, 0, 1], 0).into(), apiserver::new_token(), store)
            .await
            .unwrap();
        let client = super::client_for(&running).await;
        kbind::operator::install_crds(&client).await.unwrap();
        let ns =
            |r: ApiResource| Api::<DynamicObject>::namespaced_with(client.clone(), "default", &r);
        Self {
            promises: Api::all_with(
                client.clone(),
                &ar("platform.kratix.io", "v1alpha1", "Promise", "promises"),
            ),
            revisions: Api::all_with(
                client.clone(),
                &ar(
                    "platform.kratix.io",
                    "v1alpha1",
                    "PromiseRevision",
                    "promiserevisions",
                ),
            ),
            requests: ns(ar("marketplace.kratix.io", "v1alpha1", "redis", "redis")),
            bindings: ns(ar(
                "platform.kratix.io",
                "v1alpha1",
                "ResourceBinding",
                "resourcebindings",
            )),
            jobs: ns(ar("batch", "v1", "Job", "jobs")),
            events: ns(ar("", "v1", "Event", "events")),
            client,
            running,
        }
    }

    pub async fn install(&self, version: &str) {
        let p: DynamicObject = serde_json::from_value(promise(version)).unwrap();
        self.promises
            .create(&PostParams::default(), &p)
            .await
            .unwrap();
        eventually("the request CRD installed from spec.api", || async {
            self.requests.list(&ListParams::default()).await.ok()
        })
        .await;
    }

    pub async fn publish(&self, version: &str) {
        self.promises
            .patch(
                "redis",
                &PatchParams::default(),
                &Patch::Merge(promise(version)),
            )
            .await
            .unwrap();
        eventually("the new revision marked latest", || async {
            let all = self.revisions.list(&ListParams::default()).await.ok()?;
            all.items
                .iter()
                .any(|r| r.data["spec"]["version"] == version && r.data["status"]["latest"] == true)
                .then_some(())
        })
        .await;
    }

    pub async fn create(&self, name: &str) {
        self.requests
            .create(&PostParams::default(), &request(name))
            .await
            .unwrap();
    }

    /// Deletes a request, as a user does, and waits until it and its
    /// binding are gone (the operator's delete workflow and finalizers).
    pub async fn delete_request_and_wait_gone(&self, name: &str, binding: &str) {
        self.requests
            .delete(name, &kube::api::DeleteParams::default())
            .await
            .unwrap();
        super::eventually("request and binding gone", || async {
            (self.requests.get_opt(name).await.ok()?.is_none()
                && self.bindings.get_opt(binding).await.ok()?.is_none())
            .then_some(())
        })
        .await;
    }

    /// A merge patch of a request, as a user's edit.
    pub async fn patch_request(&self, name: &str, patch: Value) {
        self.requests
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap();
    }

    pub async fn binding_field(&self, name: &str, pointer: &str) -> Option<Value> {
        let b = self.bindings.get_opt(name).await.ok()??;
        b.data.pointer(pointer).cloned().filter(|v| !v.is_null())
    }

    pub async fn wait_applied(&self, name: &str, version: &str) {
        eventually(&format!("{name} applied at {version}"), || async {
            (self
                .binding_field(name, "/status/lastAppliedVersion")
                .await?
                == version)
                .then_some(())
        })
        .await;
    }

    pub async fn edit_version(&self, name: &str, version: &str) {
        self.bindings
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"version": version}})),
            )
            .await
            .unwrap();
    }

    /// Versions of the configure Jobs of one request, in creation order.
    pub async fn configure_runs(&self, request: &str) -> Vec<String> {
        let mut jobs: Vec<(u64, String)> = self
            .jobs
            .list(&ListParams::default().labels(&format!(
                "kratix.io/resource-name={request},kratix.io/workflow-action=configure"
            )))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|j| {
                let seq = j.metadata.annotations.as_ref().unwrap()["kbind.io/sequence"]
                    .parse()
                    .unwrap();
                (
                    seq,
                    j.metadata.labels.unwrap()["kbind.io/promise-version"].clone(),
                )
            })
            .collect();
        jobs.sort();
        jobs.into_iter().map(|(_, v)| v).collect()
    }

    pub async fn event_reasons(&self, object: &str) -> Vec<String> {
        self.events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.data["involvedObject"]["name"] == object)
            .filter_map(|e| e.data["reason"].as_str().map(str::to_string))
            .collect()
    }
}
