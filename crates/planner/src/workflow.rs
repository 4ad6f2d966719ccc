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
    })
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
    let mut volumes: Vec<Value> = ["input", "output", "metadata"]
        .iter()
        .map(|v| json!({"name": format!("shared-{v}"), "emptyDir": {}}))
        .collect();
    let mut pull_secrets: Vec<Value> = Vec::new();
    let taken = |steps: &[Value], name: &str| {
        name == READER
            || name.starts_with(STATUS_WRITER)
            || steps
                .iter()
                .any(|x| x.get("name").and_then(Value::as_str) == Some(name))
    };
    for (index, pipeline) in all.iter().enumerate() {
        let name_of_pipeline = pipeline_name(pipeline);
        let env = kratix_env(promise_spec, request, id, name_of_pipeline);
        let spec = pipeline.get("spec").cloned().unwrap_or(Value::Null);
        let list = |field: &str| -> Vec<Value> {
            spec.get(field)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        for v in list("volumes") {
            if !volumes.iter().any(|x| x.get("name") == v.get("name")) {
                volumes.push(v);
            }
        }
        for s in list("imagePullSecrets") {
            if !pull_secrets.contains(&s) {
                pull_secrets.push(s);
            }
        }
        for c in list("containers") {
            let Some(mut c) = c.as_object().cloned() else {
                continue;
            };
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("step")
                .to_string();
            if taken(&steps, &name) {
                c.insert("name".into(), json!(format!("{name_of_pipeline}-{name}")));
            }
            // Kratix's variables first, the container's own after them (a
            // later entry wins in Kubernetes).
            let mut all_env = env.clone();
            all_env.extend(
                c.get("env")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            );
            c.insert("env".into(), Value::Array(all_env));
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
            c.insert("volumeMounts".into(), Value::Array(mounts));
            steps.push(Value::Object(c));
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
    spec.insert("volumes".into(), Value::Array(volumes));
    if !pull_secrets.is_empty() {
        spec.insert("imagePullSecrets".into(), Value::Array(pull_secrets));
    }
    spec.insert("serviceAccountName".into(), json!(id.service_account));
    json!({"spec": spec})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RequestObj {
        RequestObj::named("redis", "default", "example")
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
