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
}

impl Default for WorkflowSettings {
    fn default() -> Self {
        Self {
            ttl_seconds_after_finished: Some(86_400),
            history_limit: 5,
            active_deadline_seconds: 3_600,
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
fn pipelines<'a>(promise_spec: &'a Value, action: &str) -> Vec<&'a Value> {
    promise_spec
        .pointer(&format!("/workflows/resource/{action}"))
        .and_then(Value::as_array)
        .map(|p| p.iter().collect())
        .unwrap_or_default()
}

pub struct JobIdentity<'a> {
    pub promise: &'a str,
    pub version: &'a str,
    pub action: &'a str,
}

/// The pod template: the pipelines' containers with the environment Kratix
/// gives them plus the promise version, shared scratch volumes, and the
/// pipelines' own volumes and pull secrets.
pub fn pod_template(promise_spec: &Value, request: &RequestObj, id: &JobIdentity<'_>) -> Value {
    let mut containers: Vec<Value> = Vec::new();
    let mut volumes: Vec<Value> = ["input", "output", "metadata"]
        .iter()
        .map(|v| json!({"name": format!("kratix-{v}"), "emptyDir": {}}))
        .collect();
    let mut pull_secrets: Vec<Value> = Vec::new();
    let mut service_account = None;
    for pipeline in pipelines(promise_spec, id.action) {
        let pipeline_name = pipeline
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("pipeline");
        let spec = pipeline.get("spec").cloned().unwrap_or(Value::Null);
        for v in spec
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !volumes.iter().any(|x| x.get("name") == v.get("name")) {
                volumes.push(v.clone());
            }
        }
        for s in spec
            .get("imagePullSecrets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !pull_secrets.contains(s) {
                pull_secrets.push(s.clone());
            }
        }
        if service_account.is_none() {
            service_account = spec
                .pointer("/rbac/serviceAccount")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        for c in spec
            .get("containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(mut c) = c.as_object().cloned() else {
                continue;
            };
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("step")
                .to_string();
            let taken = containers
                .iter()
                .any(|x| x.get("name").and_then(Value::as_str) == Some(&name));
            if taken {
                c.insert("name".into(), json!(format!("{pipeline_name}-{name}")));
            }
            let mut env: Vec<Value> = c
                .get("env")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            env.extend([
                json!({"name": "KRATIX_WORKFLOW_ACTION", "value": id.action}),
                json!({"name": "KRATIX_WORKFLOW_TYPE", "value": "resource"}),
                json!({"name": "KRATIX_PROMISE_NAME", "value": id.promise}),
                json!({"name": "KRATIX_PROMISE_VERSION", "value": id.version}),
                json!({"name": "KRATIX_PIPELINE_NAME", "value": pipeline_name}),
                json!({"name": "KRATIX_OBJECT_KIND", "value": request.key.kind}),
                json!({"name": "KRATIX_OBJECT_NAME", "value": request.name()}),
                json!({"name": "KRATIX_OBJECT_NAMESPACE", "value": request.namespace()}),
            ]);
            c.insert("env".into(), Value::Array(env));
            let mut mounts: Vec<Value> = c
                .get("volumeMounts")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for v in ["input", "output", "metadata"] {
                mounts.push(
                    json!({"name": format!("kratix-{v}"), "mountPath": format!("/kratix/{v}")}),
                );
            }
            c.insert("volumeMounts".into(), Value::Array(mounts));
            containers.push(Value::Object(c));
        }
    }
    let main = containers
        .pop()
        .unwrap_or_else(|| json!({"name": "pipeline", "image": "busybox", "command": ["true"]}));
    let mut spec = Map::new();
    spec.insert("restartPolicy".into(), json!("Never"));
    if !containers.is_empty() {
        spec.insert("initContainers".into(), Value::Array(containers));
    }
    spec.insert("containers".into(), json!([main]));
    spec.insert("volumes".into(), Value::Array(volumes));
    if !pull_secrets.is_empty() {
        spec.insert("imagePullSecrets".into(), Value::Array(pull_secrets));
    }
    if let Some(sa) = service_account {
        spec.insert("serviceAccountName".into(), json!(sa));
    }
    json!({"spec": spec})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RequestObj {
        RequestObj::named("redis", "default", "example")
    }

    #[test]
    fn pipelines_run_in_order_with_the_promise_version_in_every_container() {
        let spec = json!({"workflows": {"resource": {"configure": [
            {"metadata": {"name": "first"}, "spec": {"containers": [
                {"name": "a", "image": "img/a", "env": [{"name": "SIZE", "value": "small"}]},
                {"name": "b", "image": "img/b"}]}},
            {"metadata": {"name": "second"}, "spec": {"rbac": {"serviceAccount": "sa"},
                "containers": [{"name": "a", "image": "img/c"}]}},
        ]}}});
        let id = JobIdentity {
            promise: "redis",
            version: "v0.2.0",
            action: "configure",
        };
        let pod = pod_template(&spec, &request(), &id);
        let init: Vec<&str> = pod["spec"]["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["image"].as_str().unwrap())
            .collect();
        assert_eq!(init, ["img/a", "img/b"]);
        let main = &pod["spec"]["containers"][0];
        assert_eq!(main["image"], "img/c");
        assert_eq!(
            main["name"], "second-a",
            "a repeated name gets its pipeline's prefix"
        );
        assert_eq!(pod["spec"]["serviceAccountName"], "sa");
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        for c in pod["spec"]["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .chain([main])
        {
            let env = c["env"].as_array().unwrap();
            assert!(env.contains(&json!({"name": "KRATIX_PROMISE_VERSION", "value": "v0.2.0"})));
            assert!(env.contains(&json!({"name": "KRATIX_OBJECT_NAME", "value": "example"})));
        }
        let first_env = pod["spec"]["initContainers"][0]["env"].as_array().unwrap();
        assert_eq!(
            first_env[0],
            json!({"name": "SIZE", "value": "small"}),
            "own env kept first"
        );
    }
}
