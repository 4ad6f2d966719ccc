//! Pods as a real server (1.32) keeps them: `SetDefaults_Pod` on decode, the
//! pod strategy's `PrepareForCreate` (phase `Pending`, the QoS class), the
//! admission plugins every cluster enables that change a pod or refuse it
//! (ServiceAccount, Priority, DefaultTolerationSeconds), and what an update
//! may change. The spec itself is validated by `pod.rs`, as a template's.

use serde_json::{Value, json};

use super::error::ApiError;
use super::registry::Resource;
use super::state::ObjectStore;
use super::validation::FieldError;

/// Where the ServiceAccount admission plugin mounts the token.
const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The projected token's lifetime the plugin asks for: an hour and seven
/// seconds, the value the API server recognises as the plugin's (it
/// extends such tokens and warns when a stale one is used).
const TOKEN_EXPIRATION_SECONDS: i64 = 3607;
/// DefaultTolerationSeconds' default for not-ready and unreachable nodes.
const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// `SetDefaults_Pod` (beyond the pod spec's, which `pod.rs` applies as a
/// template's): service links on.
/// A pod its node reports ready (`Ready` True): what the Job, ReplicaSet
/// and Endpoints controllers count.
pub(super) fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// An object marked for deletion, waiting on its finalizers.
pub(super) fn deleting(object: &Value) -> bool {
    object["metadata"]["deletionTimestamp"].is_string()
}

pub fn defaults(pod: &mut Value) {
    super::pod::default_template(pod);
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        spec.entry("enableServiceLinks").or_insert(json!(true));
    }
}

/// `podStrategy.PrepareForCreate`: a new pod is `Pending`, with the QoS
/// class its containers' resources give it.
pub fn prepare_create(pod: &mut Value) {
    let qos = qos_class(&pod["spec"]);
    pod["status"] = json!({"phase": "Pending", "qosClass": qos});
}

/// `qos.GetPodQOS`, for the resources kbind's workflows can set: no
/// requests or limits anywhere is BestEffort; limits equal to requests for
/// both cpu and memory in every container is Guaranteed; anything else
/// Burstable.
fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|list| spec[*list].as_array().into_iter().flatten())
        .collect();
    let set = |c: &Value, which: &str| {
        c["resources"][which]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| *k == "cpu" || *k == "memory")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<std::collections::BTreeMap<_, _>>()
            })
            .unwrap_or_default()
    };
    if containers
        .iter()
        .all(|c| set(c, "requests").is_empty() && set(c, "limits").is_empty())
    {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        let limits = set(c, "limits");
        let requests = set(c, "requests");
        limits.len() == 2 && (requests.is_empty() || requests == limits)
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// The admission plugins' changes to a pod being created, once its
/// ServiceAccount is known to exist: the deprecated `serviceAccount` set
/// beside `serviceAccountName`, the API access token mounted unless
/// automounting is off (the pod's choice first, then the account's), the
/// default priority, and the tolerations for not-ready and unreachable
/// nodes. `token_volume` is the generated volume name.
pub fn admit(pod: &mut Value, account: &Value, token_volume: &str) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let name = spec
        .get("serviceAccountName")
        .cloned()
        .unwrap_or(json!(super::namespace_defaults::DEFAULT_SERVICE_ACCOUNT));
    spec.insert("serviceAccount".into(), name);
    let automount = spec
        .get("automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or_else(|| account["automountServiceAccountToken"].as_bool())
        .unwrap_or(true);
    let mounted = |c: &Value| {
        c["volumeMounts"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["mountPath"] == TOKEN_MOUNT_PATH))
    };
    if automount {
        let volumes = spec.entry("volumes").or_insert(json!([]));
        if let Some(volumes) = volumes.as_array_mut() {
            volumes.push(json!({"name": token_volume, "projected": {
            "defaultMode": 0o644,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS,
                    "path": "token"}},
                {"configMap": {"name": super::namespace_defaults::ROOT_CA_CONFIG_MAP,
                    "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace",
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ]}}));
        }
        super::pod::for_each_container(spec, |c| {
            if mounted(c) {
                return;
            }
            if !c["volumeMounts"].is_array() {
                c["volumeMounts"] = json!([]);
            }
            if let Some(mounts) = c["volumeMounts"].as_array_mut() {
                mounts.push(json!({"name": token_volume, "readOnly": true,
                    "mountPath": TOKEN_MOUNT_PATH}));
            }
        });
    }
    if spec.get("priorityClassName").is_none_or(Value::is_null) {
        spec.entry("priority").or_insert(json!(0));
    }
    spec.entry("preemptionPolicy")
        .or_insert(json!("PreemptLowerPriority"));
    let tolerations = spec.entry("tolerations").or_insert(json!([]));
    if let Some(tolerations) = tolerations.as_array_mut() {
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            let tolerated = tolerations
                .iter()
                .any(|t| t["key"] == key && (t["effect"] == "NoExecute" || t["effect"] == ""));
            if !tolerated {
                tolerations.push(json!({"key": key, "operator": "Exists",
                    "effect": "NoExecute", "tolerationSeconds": DEFAULT_TOLERATION_SECONDS}));
            }
        }
    }
}

/// What the ServiceAccount plugin answers when the pod's account does not
/// exist (`admission.NewForbidden`). `name` is what admission sees: the
/// generate-name prefix when the client named none, as names are generated
/// after admission.
pub fn missing_account_message(name: &str, namespace: &str, account: &str) -> String {
    let name = if name.is_empty() { "Unknown" } else { name };
    format!(
        "pods \"{name}\" is forbidden: error looking up service account {namespace}/{account}: serviceaccount \"{account}\" not found"
    )
}

/// The account a pod runs as, defaulted as the plugin defaults it.
pub fn service_account(pod: &Value) -> String {
    pod["spec"]["serviceAccountName"]
        .as_str()
        .filter(|a| !a.is_empty())
        .unwrap_or(super::namespace_defaults::DEFAULT_SERVICE_ACCOUNT)
        .to_string()
}

/// `ValidatePodUpdate`: of the spec, only images, `activeDeadlineSeconds`,
/// added tolerations and (from negative) the grace period may change. The
/// real message ends with a diff of the two specs, not reproduced here.
pub fn validate_update(next: &Value, current: &Value) -> Vec<FieldError> {
    let comparable = |pod: &Value| {
        let mut spec = pod["spec"].clone();
        if let Some(m) = spec.as_object_mut() {
            super::pod::for_each_container(m, |c| {
                if let Some(c) = c.as_object_mut() {
                    c.remove("image");
                }
            });
            m.remove("activeDeadlineSeconds");
            m.remove("tolerations");
        }
        spec
    };
    let added_only = {
        let before = current["spec"]["tolerations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let after = next["spec"]["tolerations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        before.iter().all(|t| after.contains(t))
    };
    if comparable(next) == comparable(current) && added_only {
        return vec![];
    }
    vec![FieldError::forbidden(
        "spec",
        "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
    )]
}

/// `GET pods/<name>/log`, as the API server and the node answer it. No
/// container runs here, so a container the node reported started gets a
/// line saying what the node reported, not what it printed.
pub fn log(pod: &Value, container: Option<&str>) -> Result<String, ApiError> {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let bad = |message: String| ApiError::new(400, "BadRequest", message);
    let names = |list: &str| -> Vec<String> {
        pod["spec"][list]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect()
    };
    let containers = names("containers");
    let init = names("initContainers");
    let container = match container.filter(|c| !c.is_empty()) {
        Some(c) => c.to_string(),
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            let mut message = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                message.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            return Err(bad(message));
        }
    };
    if !containers.contains(&container) && !init.contains(&container) {
        return Err(bad(format!(
            "container {container} is not valid for pod {name}"
        )));
    }
    if pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty) {
        return Err(bad(format!("pod {name} does not have a host assigned")));
    }
    let status = ["containerStatuses", "initContainerStatuses"]
        .iter()
        .flat_map(|list| pod["status"][*list].as_array().into_iter().flatten())
        .find(|s| s["name"] == container.as_str());
    let state = status.map(|s| &s["state"]);
    let waiting = state
        .and_then(|s| s["waiting"]["reason"].as_str())
        .map(str::to_string);
    let image = status.and_then(|s| s["image"].as_str()).unwrap_or_default();
    if let Some(terminated) = state.map(|s| &s["terminated"]).filter(|t| t.is_object()) {
        let code = terminated["exitCode"].as_i64().unwrap_or(0);
        return Ok(format!(
            "kbind: this API server runs no containers; the node reported container \"{container}\" (image {image}) terminated with exit code {code}\n"
        ));
    }
    if state.is_some_and(|s| s["running"].is_object()) {
        return Ok(format!(
            "kbind: this API server runs no containers; the node reported container \"{container}\" (image {image}) running\n"
        ));
    }
    Err(bad(format!(
        "container \"{container}\" in pod \"{name}\" is waiting to start: {}",
        waiting.unwrap_or_else(|| "ContainerCreating".into())
    )))
}

/// The `binding` subresource (what a scheduler posts): the pod is placed
/// on `node` and marked scheduled, once.
pub fn bind(pod: &mut Value, node: &str, now: &str) -> Result<(), ApiError> {
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Some(assigned) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
        let mut e = ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is already assigned to node \"{assigned}\""
            ),
        );
        e.details.name = name;
        e.details.kind = "pods/binding".into();
        return Err(e);
    }
    if pod["metadata"]["deletionTimestamp"].is_string() {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is being deleted, cannot be assigned to a host"
            ),
        ));
    }
    pod["spec"]["nodeName"] = json!(node);
    if !pod["status"]["conditions"].is_array() {
        pod["status"]["conditions"] = json!([]);
    }
    if let Some(conditions) = pod["status"]["conditions"].as_array_mut() {
        conditions.retain(|c| c["type"] != "PodScheduled");
        conditions.push(json!({"type": "PodScheduled", "status": "True",
            "lastProbeTime": null, "lastTransitionTime": now}));
    }
    Ok(())
}

impl ObjectStore {
    /// POST `pods/<name>/binding`: the pod placed on the node the Binding
    /// names (a write watches see, as the scheduler's is).
    pub(super) fn bind_pod(
        &mut self,
        r: &Resource,
        namespace: &str,
        name: &str,
        binding: &Value,
    ) -> Result<Value, ApiError> {
        let node = binding["target"]["name"].as_str().unwrap_or_default();
        if node.is_empty() {
            return Err(ApiError::invalid_kind(
                "Binding",
                "",
                name,
                vec![FieldError::required("target.name", "")],
            ));
        }
        let mut pod = self.get(r, namespace, name)?;
        bind(&mut pod, node, &self.now())?;
        self.stamp(&mut pod);
        self.replace(r, Self::key(r, namespace, name), pod);
        Ok(json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Success", "code": 201}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"generateName": "job-"}, "spec": spec})
    }

    #[test]
    fn a_new_pod_is_pending_with_the_qos_its_resources_give_it() {
        let mut best_effort = pod(json!({"containers": [{"name": "c", "image": "i"}]}));
        prepare_create(&mut best_effort);
        assert_eq!(
            best_effort["status"],
            json!({"phase": "Pending", "qosClass": "BestEffort"})
        );
        let limits = json!({"cpu": "1", "memory": "1Gi"});
        let mut guaranteed = pod(json!({"containers": [{"name": "c", "image": "i",
            "resources": {"limits": limits, "requests": limits}}]}));
        prepare_create(&mut guaranteed);
        assert_eq!(guaranteed["status"]["qosClass"], "Guaranteed");
        let mut burstable = pod(json!({"containers": [{"name": "c", "image": "i",
            "resources": {"requests": {"cpu": "1"}}}]}));
        prepare_create(&mut burstable);
        assert_eq!(burstable["status"]["qosClass"], "Burstable");
    }

    #[test]
    fn admission_mounts_the_token_unless_the_pod_or_its_account_says_not_to() {
        let mut mounted = pod(json!({"containers": [{"name": "c", "image": "i"}]}));
        admit(&mut mounted, &json!({}), "kube-api-access-abcde");
        let spec = &mounted["spec"];
        assert_eq!(spec["serviceAccount"], "default");
        assert_eq!(spec["volumes"][0]["name"], "kube-api-access-abcde");
        assert_eq!(
            spec["containers"][0]["volumeMounts"][0]["mountPath"],
            TOKEN_MOUNT_PATH
        );
        assert_eq!(spec["priority"], 0);
        assert_eq!(spec["tolerations"].as_array().map(Vec::len), Some(2));

        let mut by_account = pod(json!({"containers": [{"name": "c", "image": "i"}]}));
        admit(
            &mut by_account,
            &json!({"automountServiceAccountToken": false}),
            "v",
        );
        assert!(by_account["spec"]["volumes"].is_null());
        let mut by_pod = pod(json!({"automountServiceAccountToken": true,
            "containers": [{"name": "c", "image": "i"}]}));
        admit(
            &mut by_pod,
            &json!({"automountServiceAccountToken": false}),
            "v",
        );
        assert_eq!(by_pod["spec"]["volumes"][0]["name"], "v", "the pod decides");
    }

    #[test]
    fn a_missing_account_is_named_with_the_generate_name_before_the_name_exists() {
        assert_eq!(
            missing_account_message("job-", "default", "pipeline"),
            "pods \"job-\" is forbidden: error looking up service account default/pipeline: serviceaccount \"pipeline\" not found"
        );
    }

    #[test]
    fn an_update_may_change_images_but_not_commands() {
        let current = pod(json!({"containers": [{"name": "c", "image": "a"}]}));
        let image = pod(json!({"containers": [{"name": "c", "image": "b"}]}));
        assert!(validate_update(&image, &current).is_empty());
        let command = pod(json!({"containers": [{"name": "c", "image": "a",
            "command": ["x"]}]}));
        assert_eq!(validate_update(&command, &current).len(), 1);
    }
}
