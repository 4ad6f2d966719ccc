//! The Kubernetes Job that runs a request's configure or delete workflow,
//! built from the revision's pipelines (`spec.workflows.resource.<action>`).
//!
//! Kratix runs each Pipeline as its own Job, one after another. kbind runs
//! one Job per workflow with every pipeline container in order: all but the
//! last as init containers (Kubernetes runs those one at a time and stops
//! at the first failure), the last as the main container. One Job per
//! (request, revision, run) keeps "exactly one workflow per version" a
//! property of one object.

use serde_json::{Map, Value, json};

use kbind_model::naming;

use super::view::RequestObj;

/// How workflow Jobs are bounded and cleaned up (`kbind operator` flags).
#[derive(Clone, Debug, PartialEq)]
pub struct WorkflowSettings {
    /// `ttlSecondsAfterFinished`: the Job controller deletes a finished Job
    /// (and its pods) this long after it ends. kbind records each run's
    /// outcome on the binding, so a Job gone is not a run to repeat.
    pub ttl_seconds_after_finished: Option<u32>,
    /// Finished Jobs kept per request and action beyond the newest; older
    /// ones are deleted (Kratix keeps 5).
    pub history_limit: usize,
    /// `activeDeadlineSeconds`: a Job whose pods cannot start (missing
    /// ServiceAccount, Pod Security, quota) fails after this, instead of
    /// showing an upgrade in progress forever.
    pub active_deadline_seconds: u32,
    /// The image of kbind's helper containers (the reader and the status
    /// writers): the operator's own (`--pipeline-image`).
    pub helper_image: String,
}

/// The image `docker build -t kbind:dev .` makes, which `deploy/` runs.
pub const DEFAULT_HELPER_IMAGE: &str = "kbind:dev";

impl Default for WorkflowSettings {
    fn default() -> Self {
        Self {
            ttl_seconds_after_finished: Some(86_400),
            history_limit: 5,
            active_deadline_seconds: 3_600,
            helper_image: DEFAULT_HELPER_IMAGE.to_string(),
        }
    }
}

impl WorkflowSettings {
    /// The Job spec fields these settings and kbind's failure rules decide.
    /// `backoffLimit: 0`: a failed workflow is reported to the policy, not
    /// retried by the Job controller; the pod failure policy keeps an
    /// eviction, preemption or node drain (the `DisruptionTarget` condition)
    /// from counting as that failure: the pod is replaced instead.
    pub fn job_spec(&self) -> Map<String, Value> {
        let mut spec = Map::new();
        spec.insert("backoffLimit".into(), json!(0));
        spec.insert(
            "activeDeadlineSeconds".into(),
            json!(self.active_deadline_seconds),
        );
        if let Some(ttl) = self.ttl_seconds_after_finished {
            spec.insert("ttlSecondsAfterFinished".into(), json!(ttl));
        }
        spec.insert(
            "podFailurePolicy".into(),
            json!({"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]}),
        );
        spec
    }
}

/// The pipelines of `action` in a promise spec, in order.
pub(crate) fn pipelines<'a>(promise_spec: &'a Value, action: &str) -> Vec<&'a Value> {
    promise_spec
        .pointer(&format!("/workflows/resource/{action}"))
        .and_then(Value::as_array)
        .map(|p| p.iter().collect())
        .unwrap_or_default()
}

/// The plural of the request kind the promise spec's `api` serves.
pub(crate) fn request_plural(promise_spec: &Value) -> &str {
    promise_spec
        .pointer("/api/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A pipeline's `metadata.name`.
pub(crate) fn pipeline_name(pipeline: &Value) -> &str {
    pipeline
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("pipeline")
}

pub struct JobIdentity<'a> {
    pub promise: &'a str,
    pub version: &'a str,
    pub action: &'a str,
    /// The image kbind's own helper containers run from (`kbind pipeline
    /// reader|update-status`): the operator's image (`--pipeline-image`).
    pub helper_image: &'a str,
    /// The ServiceAccount the pods run as (see `pipeline_rbac`).
    pub service_account: &'a str,
}

/// Where kbind's image keeps its binary (the Dockerfile's ENTRYPOINT).
pub const HELPER_BINARY: &str = "/usr/local/bin/kbind";

/// Names kbind's helper containers take; a pipeline container with one of
/// them gets its pipeline's name as a prefix, as repeated names do.
const READER: &str = "reader";
const STATUS_WRITER: &str = "status-writer";

/// Kratix's `kratixSecurityContext`, which its helper containers run with.
fn helper_security_context() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]},
        "privileged": false,
        "runAsNonRoot": true,
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

/// The environment Kratix gives every container of a resource workflow
/// (`defaultEnvVars`), plus the version kbind reconciles at.
fn kratix_env(
    promise_spec: &Value,
    request: &RequestObj,
    id: &JobIdentity<'_>,
    pipeline: &str,
) -> Vec<Value> {
    let (group, api_version) = request.group_version();
    let plural = request_plural(promise_spec);
    let cluster_scoped = promise_spec
        .pointer("/api/spec/scope")
        .and_then(Value::as_str)
        == Some("Cluster");
    let var = |name: &str, value: &str| json!({"name": name, "value": value});
    vec![
        var("KRATIX_WORKFLOW_ACTION", id.action),
        var("KRATIX_WORKFLOW_TYPE", "resource"),
        var("KRATIX_PROMISE_NAME", id.promise),
        var("KRATIX_PIPELINE_NAME", pipeline),
        var("KRATIX_OBJECT_KIND", &request.key.kind),
        var("KRATIX_OBJECT_GROUP", group),
        var("KRATIX_OBJECT_VERSION", api_version),
        var("KRATIX_OBJECT_NAME", request.name()),
        var("KRATIX_OBJECT_NAMESPACE", request.namespace()),
        var("KRATIX_CRD_PLURAL", plural),
        var(
            "KRATIX_CLUSTER_SCOPED",
            if cluster_scoped { "true" } else { "false" },
        ),
        var("KRATIX_PROMISE_VERSION", id.version),
    ]
}

fn mount(volume: &str, read_only: bool) -> Value {
    let mut m =
        json!({"name": format!("shared-{volume}"), "mountPath": format!("/kratix/{volume}")});
    if read_only {
        m["readOnly"] = json!(true);
    }
    m
}

/// One of kbind's own containers: `kbind pipeline <args…>` from its image.
fn helper(
    name: String,
    id: &JobIdentity<'_>,
    args: &[&str],
    env: Vec<Value>,
    mounts: Vec<Value>,
) -> Value {
    let mut all_args = vec!["pipeline"];
    all_args.extend_from_slice(args);
    json!({
        "name": name,
        "image": id.helper_image,
        "command": [HELPER_BINARY],
        "args": all_args,
        "env": env,
        "volumeMounts": mounts,
        "securityContext": helper_security_context(),
        "resources": default_resources(),
    })
}

/// Kratix's `DefaultResourceRequirements`, which its helper containers and
/// every pipeline container that names no resources run with (a namespace
/// with a compute quota refuses pods without them).
fn default_resources() -> Value {
    json!({
        "requests": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "128Mi"},
        "limits": {"cpu": "200m", "memory": "256Mi", "ephemeral-storage": "256Mi"},
    })
}

/// The fields of a pipeline container Kratix passes on to the pod (its
/// `Container` type); anything else a Promise puts there (probes, ports,
/// lifecycle hooks, which an init container may not even have) is dropped.
const CONTAINER_FIELDS: &[&str] = &[
    "name",
    "image",
    "args",
    "command",
    "env",
    "envFrom",
    "volumeMounts",
    "imagePullPolicy",
    "securityContext",
    "resources",
];

/// What a pod takes from each pipeline besides its containers: volumes,
/// pull secrets, node selector, tolerations and annotations (Kratix gives
/// each pipeline its own pod; kbind's one pod takes the first pipeline's
/// value where two disagree), and the Job's `jobOptions.backoffLimit`.
#[derive(Default)]
struct PodShared {
    volumes: Vec<Value>,
    pull_secrets: Vec<Value>,
    node_selector: Map<String, Value>,
    tolerations: Vec<Value>,
    annotations: Map<String, Value>,
}

impl PodShared {
    fn take(&mut self, pipeline: &Value) {
        let spec = &pipeline["spec"];
        let list = |field: &str| spec[field].as_array().cloned().unwrap_or_default();
        for v in list("volumes") {
            if !self.volumes.iter().any(|x| x.get("name") == v.get("name")) {
                self.volumes.push(v);
            }
        }
        for (into, field) in [
            (&mut self.pull_secrets, "imagePullSecrets"),
            (&mut self.tolerations, "tolerations"),
        ] {
            for item in list(field) {
                if !into.contains(&item) {
                    into.push(item);
                }
            }
        }
        for (into, from) in [
            (&mut self.node_selector, &spec["nodeSelector"]),
            (&mut self.annotations, &pipeline["metadata"]["annotations"]),
        ] {
            for (k, v) in from.as_object().into_iter().flatten() {
                into.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
}

/// The largest `jobOptions.backoffLimit` among `action`'s pipelines: they
/// run in one Job, so a retry repeats them all. None when none sets one
/// (kbind's 0: a failure goes to the policy's `after-failure`).
pub(crate) fn backoff_limit(promise_spec: &Value, action: &str) -> Option<u64> {
    pipelines(promise_spec, action)
        .iter()
        .filter_map(|p| {
            p.pointer("/spec/jobOptions/backoffLimit")
                .and_then(Value::as_u64)
        })
        .max()
}

/// One pipeline container as Kratix passes it on: its own fields, Kratix's
/// variables before its env, the shared directories before its mounts,
/// Kratix's default resources when it names none, and a name no other
/// container of the pod has.
fn pipeline_container(
    c: &Map<String, Value>,
    pipeline: &str,
    env: &[Value],
    steps: &[Value],
) -> Value {
    let mut out: Map<String, Value> = c
        .iter()
        .filter(|(k, _)| CONTAINER_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let own = c.get("name").and_then(Value::as_str).unwrap_or("step");
    let taken = |name: &str| {
        name == READER
            || name.starts_with(STATUS_WRITER)
            || steps
                .iter()
                .any(|x| x.get("name").and_then(Value::as_str) == Some(name))
    };
    let mut name = own.to_string();
    let mut attempt = 0;
    while taken(&name) {
        name = naming::prefixed_container_name(pipeline, own, attempt);
        attempt += 1;
    }
    out.insert("name".into(), json!(name));
    // Kratix's variables first, the container's own after them (a later
    // entry wins in Kubernetes).
    let mut all_env = env.to_vec();
    all_env.extend(
        c.get("env")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    );
    out.insert("env".into(), Value::Array(all_env));
    let mut mounts = vec![
        mount("input", true),
        mount("output", false),
        mount("metadata", false),
    ];
    mounts.extend(
        c.get("volumeMounts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    );
    out.insert("volumeMounts".into(), Value::Array(mounts));
    if out.get("resources").is_none_or(Value::is_null) {
        out.insert("resources".into(), default_resources());
    }
    Value::Object(out)
}

/// The pod template, laid out as Kratix lays out a pipeline's pod: a
/// `reader` writes the request to `/kratix/input/object.yaml`; each
/// pipeline's containers run in order; after each pipeline a status
/// writer merges its `/kratix/metadata/status.yaml` into the request's
/// status (Kratix runs one Job per pipeline, each with its status writer;
/// kbind runs them in one pod, so the writer also clears `status.yaml`
/// and refreshes `object.yaml` for the next pipeline). All but the last
/// status writer are init containers, which Kubernetes runs one at a time
/// and stops at the first failure.
pub fn pod_template(promise_spec: &Value, request: &RequestObj, id: &JobIdentity<'_>) -> Value {
    let all = pipelines(promise_spec, id.action);
    let first = all.first().map_or("pipeline", |p| pipeline_name(p));
    let mut steps: Vec<Value> = vec![helper(
        READER.into(),
        id,
        &["reader"],
        kratix_env(promise_spec, request, id, first),
        vec![mount("input", false), mount("output", false)],
    )];
    let mut shared = PodShared {
        volumes: ["input", "output", "metadata"]
            .iter()
            .map(|v| json!({"name": format!("shared-{v}"), "emptyDir": {}}))
            .collect(),
        ..PodShared::default()
    };
    for (index, pipeline) in all.iter().enumerate() {
        let name_of_pipeline = pipeline_name(pipeline);
        let env = kratix_env(promise_spec, request, id, name_of_pipeline);
        shared.take(pipeline);
        for c in pipeline
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
        {
            let container = pipeline_container(c, name_of_pipeline, &env, &steps);
            steps.push(container);
        }
        let last = index + 1 == all.len();
        let mut writer_env = env;
        writer_env.push(
            json!({"name": "IS_LAST_PIPELINE", "value": if last { "true" } else { "false" }}),
        );
        let writer_name = if last {
            STATUS_WRITER.to_string()
        } else {
            format!("{STATUS_WRITER}-{}", index + 1)
        };
        steps.push(helper(
            writer_name,
            id,
            &["update-status"],
            writer_env,
            vec![mount("input", false), mount("metadata", false)],
        ));
    }
    let main = steps.pop().unwrap_or(Value::Null);
    let mut spec = Map::new();
    spec.insert("restartPolicy".into(), json!("Never"));
    spec.insert("initContainers".into(), Value::Array(steps));
    spec.insert("containers".into(), json!([main]));
    spec.insert("volumes".into(), Value::Array(shared.volumes));
    if !shared.pull_secrets.is_empty() {
        spec.insert("imagePullSecrets".into(), Value::Array(shared.pull_secrets));
    }
    if !shared.node_selector.is_empty() {
        spec.insert("nodeSelector".into(), Value::Object(shared.node_selector));
    }
    if !shared.tolerations.is_empty() {
        spec.insert("tolerations".into(), Value::Array(shared.tolerations));
    }
    spec.insert("serviceAccountName".into(), json!(id.service_account));
    let mut template = json!({"spec": spec});
    if !shared.annotations.is_empty() {
        template["metadata"] = json!({"annotations": shared.annotations});
    }
    template
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RequestObj {
        RequestObj::named("redis", "default", "example")
    }

    #[test]
    fn a_pipeline_pod_carries_what_kratix_carries_and_nothing_else() {
        let spec = json!({"api": {"spec": {"scope": "Namespaced", "names": {"plural": "redis"}}},
            "workflows": {"resource": {"configure": [
            {"metadata": {"name": "first", "annotations": {"a": "1"}}, "spec": {
                "nodeSelector": {"pool": "ci"},
                "tolerations": [{"key": "ci", "operator": "Exists"}],
                "jobOptions": {"backoffLimit": 2},
                "containers": [{"name": "a", "image": "img/a", "ports": [{"containerPort": 80}],
                    "livenessProbe": {"exec": {"command": ["true"]}}, "resources": {"limits": {"cpu": "1"}}}]}},
            {"metadata": {"name": "second", "annotations": {"a": "2", "b": "2"}}, "spec": {
                "nodeSelector": {"pool": "other", "zone": "z1"},
                "tolerations": [{"key": "ci", "operator": "Exists"}],
                "jobOptions": {"backoffLimit": 1},
                "containers": [{"name": "b", "image": "img/b"}]}},
        ]}}});
        let id = JobIdentity {
            promise: "redis",
            version: "v1",
            action: "configure",
            helper_image: "kbind:test",
            service_account: "sa",
        };
        let pod = pod_template(&spec, &request(), &id);
        let init = pod["spec"]["initContainers"].as_array().unwrap();
        let a = &init[1];
        assert_eq!(a["name"], "a");
        for dropped in ["ports", "livenessProbe"] {
            assert!(a.get(dropped).is_none(), "{dropped} is not Kratix's: {a}");
        }
        assert_eq!(
            a["resources"],
            json!({"limits": {"cpu": "1"}}),
            "its own kept"
        );
        assert_eq!(
            init[3]["resources"],
            default_resources(),
            "Kratix's default"
        );
        assert_eq!(
            init[0]["resources"],
            default_resources(),
            "the reader's too"
        );
        assert_eq!(
            pod["spec"]["nodeSelector"],
            json!({"pool": "ci", "zone": "z1"})
        );
        assert_eq!(
            pod["spec"]["tolerations"],
            json!([{"key": "ci", "operator": "Exists"}])
        );
        assert_eq!(pod["metadata"]["annotations"], json!({"a": "1", "b": "2"}));
        assert_eq!(backoff_limit(&spec, "configure"), Some(2));
        assert_eq!(backoff_limit(&spec, "delete"), None);
    }

    #[test]
    fn pipelines_run_in_order_between_the_reader_and_their_status_writers() {
        let spec = json!({"api": {"spec": {"scope": "Namespaced", "names": {"plural": "redis"}}},
            "workflows": {"resource": {"configure": [
            {"metadata": {"name": "first"}, "spec": {"containers": [
                {"name": "a", "image": "img/a", "env": [{"name": "SIZE", "value": "small"}]},
                {"name": "reader", "image": "img/b"}]}},
            {"metadata": {"name": "second"}, "spec": {"containers": [{"name": "a", "image": "img/c"}]}},
        ]}}});
        let id = JobIdentity {
            promise: "redis",
            version: "v0.2.0",
            action: "configure",
            helper_image: "kbind:test",
            service_account: "redis-resource-configure-first",
        };
        let mut request = request();
        request.api_version = "marketplace.kratix.io/v1alpha1".into();
        let pod = pod_template(&spec, &request, &id);
        let init = pod["spec"]["initContainers"].as_array().unwrap();
        let steps: Vec<(&str, &str)> = init
            .iter()
            .map(|c| (c["name"].as_str().unwrap(), c["image"].as_str().unwrap()))
            .collect();
        assert_eq!(
            steps,
            [
                ("reader", "kbind:test"),
                ("a", "img/a"),
                ("first-reader", "img/b"),
                ("status-writer-1", "kbind:test"),
                ("second-a", "img/c"),
            ],
            "a name taken (by a helper or an earlier container) gets its pipeline's prefix"
        );
        let main = &pod["spec"]["containers"][0];
        assert_eq!(main["name"], "status-writer");
        assert_eq!(main["args"], json!(["pipeline", "update-status"]));
        assert_eq!(init[0]["args"], json!(["pipeline", "reader"]));
        assert_eq!(init[0]["command"], json!([HELPER_BINARY]));
        assert_eq!(
            pod["spec"]["serviceAccountName"],
            "redis-resource-configure-first"
        );
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        let env_of = |c: &Value, name: &str| {
            c["env"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == name)
                .map(|e| e["value"].clone())
        };
        for c in init.iter().chain([main]) {
            assert_eq!(env_of(c, "KRATIX_PROMISE_VERSION"), Some(json!("v0.2.0")));
            assert_eq!(env_of(c, "KRATIX_OBJECT_NAME"), Some(json!("example")));
            assert_eq!(
                env_of(c, "KRATIX_OBJECT_GROUP"),
                Some(json!("marketplace.kratix.io"))
            );
            assert_eq!(env_of(c, "KRATIX_OBJECT_VERSION"), Some(json!("v1alpha1")));
            assert_eq!(env_of(c, "KRATIX_CRD_PLURAL"), Some(json!("redis")));
            assert_eq!(env_of(c, "KRATIX_CLUSTER_SCOPED"), Some(json!("false")));
        }
        assert_eq!(env_of(&init[3], "IS_LAST_PIPELINE"), Some(json!("false")));
        assert_eq!(env_of(main, "IS_LAST_PIPELINE"), Some(json!("true")));
        assert_eq!(
            env_of(&init[4], "KRATIX_PIPELINE_NAME"),
            Some(json!("second"))
        );
        let own = init[1]["env"].as_array().unwrap();
        assert_eq!(
            own.last(),
            Some(&json!({"name": "SIZE", "value": "small"})),
            "the container's own env after Kratix's, as Kratix orders them"
        );
        let mounts = |c: &Value| -> Vec<(String, bool)> {
            c["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    (
                        m["mountPath"].as_str().unwrap().to_string(),
                        m["readOnly"] == true,
                    )
                })
                .collect()
        };
        assert_eq!(
            mounts(&init[1]),
            [
                ("/kratix/input".to_string(), true),
                ("/kratix/output".to_string(), false),
                ("/kratix/metadata".to_string(), false)
            ]
        );
    }
}
