use std::collections::HashMap;

use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use kube::discovery::{Discovery, Scope};
use serde_json::{Value, json};

use crate::planner::{self, Action, Context, View};
use crate::policy::Policy;
use crate::store::{ObjKey, Store};

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("the API server does not serve kind {0}")]
    UnknownKind(String),
    #[error("{action}: {source}")]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
    #[error("did not settle after {0} rounds")]
    Diverged(usize),
}

/// Kinds the planner reads, besides each promise's request kind.
const KINDS: [&str; 5] = [
    "Promise",
    "PromiseRevision",
    "ResourceBinding",
    "Job",
    "CustomResourceDefinition",
];

pub struct KubeExecutor {
    client: Client,
    resources: HashMap<String, (ApiResource, bool)>,
}

impl KubeExecutor {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            resources: HashMap::new(),
        }
    }

    /// Kind -> API resource, from discovery (refreshed when a kind is new,
    /// e.g. a request CRD that was just installed). Core kinds win ties.
    async fn resource(&mut self, kind: &str) -> Result<(ApiResource, bool), ExecError> {
        if let Some(found) = self.resources.get(kind) {
            return Ok(found.clone());
        }
        let discovery = Discovery::new(self.client.clone())
            .run()
            .await
            .map_err(|source| ExecError::Api {
                action: "discovery".into(),
                source,
            })?;
        for group in discovery.groups() {
            for (ar, caps) in group.recommended_resources() {
                let namespaced = caps.scope == Scope::Namespaced;
                let entry = self
                    .resources
                    .entry(ar.kind.clone())
                    .or_insert((ar.clone(), namespaced));
                if !ar.group.is_empty() && entry.0.group.is_empty() {
                    continue;
                }
                if ar.group.is_empty() {
                    *entry = (ar, namespaced);
                }
            }
        }
        self.resources
            .get(kind)
            .cloned()
            .ok_or_else(|| ExecError::UnknownKind(kind.into()))
    }

    async fn api(&mut self, key: &ObjKey) -> Result<Api<DynamicObject>, ExecError> {
        let (ar, namespaced) = self.resource(&key.kind).await?;
        Ok(if namespaced && !key.namespace.is_empty() {
            Api::namespaced_with(self.client.clone(), &key.namespace, &ar)
        } else {
            Api::all_with(self.client.clone(), &ar)
        })
    }

    /// A snapshot of everything the planner reads, as an in-memory store.
    pub async fn snapshot(&mut self, now: i64) -> Result<Store, ExecError> {
        let mut store = Store::new(now);
        let mut kinds: Vec<String> = KINDS.iter().map(|k| k.to_string()).collect();
        let mut i = 0;
        while i < kinds.len() {
            let kind = kinds[i].clone();
            i += 1;
            let Ok((ar, _)) = self.resource(&kind).await else {
                continue;
            };
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
            let list = api
                .list(&ListParams::default())
                .await
                .map_err(|source| ExecError::Api {
                    action: format!("list {kind}"),
                    source,
                })?;
            for item in list.items {
                let mut value = serde_json::to_value(&item).unwrap_or(Value::Null);
                value["kind"] = json!(ar.kind);
                value["apiVersion"] = json!(ar.api_version);
                let request_kind = value
                    .pointer("/spec/api/spec/names/kind")
                    .and_then(Value::as_str)
                    .filter(|_| kind == "Promise")
                    .map(str::to_string);
                if let Some(request_kind) = request_kind.filter(|k| !kinds.contains(k)) {
                    kinds.push(request_kind);
                }
                store.insert_observed(value);
            }
        }
        Ok(store)
    }

    pub async fn execute(&mut self, action: &Action) -> Result<(), ExecError> {
        let wrap = |what: String| {
            move |source| ExecError::Api {
                action: what,
                source,
            }
        };
        match action {
            Action::Create { object, why } => {
                let key = ObjKey::of(object)
                    .ok_or_else(|| ExecError::UnknownKind("(object without kind)".into()))?;
                let api = self.api(&key).await?;
                let obj: DynamicObject =
                    serde_json::from_value(object.clone()).map_err(|e| ExecError::Api {
                        action: format!("create {key}"),
                        source: kube::Error::SerdeError(e),
                    })?;
                match api.create(&PostParams::default(), &obj).await {
                    Ok(_) => Ok(()),
                    // Created by an earlier round whose answer was lost: fine.
                    Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
                    Err(e) => Err(wrap(format!("create {key} ({why})"))(e)),
                }
            }
            Action::Patch { key, patch, why } => {
                let api = self.api(key).await?;
                api.patch(&key.name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
                    .map(|_| ())
                    .map_err(wrap(format!("patch {key} ({why})")))
            }
            Action::PatchStatus { key, patch, why } => {
                let api = self.api(key).await?;
                api.patch_status(&key.name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
                    .map(|_| ())
                    .map_err(wrap(format!("patch status {key} ({why})")))
            }
            Action::Delete { key, why } => {
                let api = self.api(key).await?;
                match api.delete(&key.name, &DeleteParams::default()).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                    Err(e) => Err(wrap(format!("delete {key} ({why})"))(e)),
                }
            }
            Action::Event {
                regarding,
                warning,
                reason,
                message,
            } => {
                let namespace = if regarding.namespace.is_empty() {
                    "default"
                } else {
                    &regarding.namespace
                };
                let key = ObjKey::new("Event", namespace, "");
                let api = self.api(&key).await?;
                let event: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": "v1", "kind": "Event",
                    "metadata": {"generateName": "kbind-", "namespace": namespace},
                    "involvedObject": {"kind": regarding.kind, "name": regarding.name, "namespace": regarding.namespace},
                    "type": if *warning { "Warning" } else { "Normal" },
                    "reason": reason, "message": message,
                    "source": {"component": "kbind"},
                }))
                .map_err(|e| ExecError::Api { action: "event".into(), source: kube::Error::SerdeError(e) })?;
                api.create(&PostParams::default(), &event)
                    .await
                    .map(|_| ())
                    .map_err(wrap(format!("event {reason} on {regarding}")))
            }
        }
    }

    /// Plans and executes until nothing is left to write. Returns the
    /// number of writes. An Event is sent once per settle, however many
    /// rounds plan it.
    pub async fn settle(
        &mut self,
        policy: &dyn Policy,
        now: i64,
        max_rounds: usize,
    ) -> Result<usize, ExecError> {
        let mut writes = 0;
        let mut sent = std::collections::HashSet::new();
        for _ in 0..max_rounds {
            let store = self.snapshot(now).await?;
            let mut wrote = false;
            for promise in View::promise_names(&store) {
                let view = View::build(&store, &promise);
                for action in planner::plan(&view, &Context { policy }) {
                    if action.is_write() {
                        wrote = true;
                        writes += 1;
                        self.execute(&action).await?;
                    } else if let Action::Event {
                        regarding,
                        reason,
                        message,
                        ..
                    } = &action
                        && sent.insert((regarding.clone(), *reason, message.clone()))
                    {
                        self.execute(&action).await?;
                    }
                }
            }
            if !wrote {
                return Ok(writes);
            }
        }
        Err(ExecError::Diverged(max_rounds))
    }
}
