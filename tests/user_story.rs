//! The user story as a cluster runs it: the embedded server in its strict
//! mode with RBAC enforced, the operator running as the `kbind-operator`
//! ServiceAccount of `deploy/rbac.yaml` (its token from the TokenRequest
//! API, as `kubectl create token` gets one), the unmodified Kratix fixture
//! `tests/fixtures/kratix/promise-redis.yaml`, and a request whose name is
//! 120 characters long.

use crate::support;

use std::sync::Arc;

use kbind::apiserver;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::cluster::ar;
use support::eventually;
use support::install::{create_all, installed, repo_file, token_for};

/// The ResourceBindings of the `default` namespace.
fn bindings_in_default(admin: &kube::Client) -> Api<DynamicObject> {
    Api::namespaced_with(
        admin.clone(),
        "default",
        &ar(
            "platform.kratix.io",
            "v1alpha1",
            "ResourceBinding",
            "resourcebindings",
        ),
    )
}

fn start(operator_client: kube::Client) -> support::Operator {
    let policy = support::load(
        &support::engine(),
        &kbind::shipped::KRATIX_DEFAULT.source(),
        &[("strategy", "pinned")],
    );
    support::start_operator(
        operator_client,
        Arc::new(policy),
        None,
        kbind::operator::OperatorOptions::default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_story_runs_under_deploy_rbac_with_the_kratix_fixture_and_a_long_name() {
    let (_running, admin, operator_client) = installed().await;
    // The operator's identity is really held to its rules.
    let secrets: Api<DynamicObject> = Api::namespaced_with(
        operator_client.clone(),
        "default",
        &ar("", "v1", "Secret", "secrets"),
    );
    let refused = secrets.list(&ListParams::default()).await.unwrap_err();
    assert!(
        matches!(&refused, kube::Error::Api(e) if e.code == 403),
        "{refused}"
    );
    let operator = start(operator_client);
    // Pods do not run here: Jobs are ended by the runner, as the admin.
    let runner = kbind::operator::SimulatedRunner::default();

    create_all(
        &admin,
        &repo_file("tests/fixtures/kratix/promise-redis.yaml"),
    )
    .await;
    let requests: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        "default",
        &ar("marketplace.kratix.io", "v1alpha1", "redis", "redis"),
    );
    eventually("the promise's API installed", || async {
        requests.list(&ListParams::default()).await.ok()
    })
    .await;
    let name = format!("example-{}", "x".repeat(112));
    assert_eq!(name.len(), 120);
    let request: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "marketplace.kratix.io/v1alpha1", "kind": "redis",
        "metadata": {"name": name, "namespace": "default"}, "spec": {"size": "small"}}))
    .unwrap();
    requests
        .create(&PostParams::default(), &request)
        .await
        .unwrap();

    let bindings: Api<DynamicObject> = bindings_in_default(&admin);
    let jobs: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), "default", &ar("batch", "v1", "Job", "jobs"));
    let binding = kbind::naming::binding_name(&name, "redis");
    let applied = |version: &'static str| {
        let (bindings, binding, runner, admin) = (
            bindings.clone(),
            binding.clone(),
            runner.clone(),
            admin.clone(),
        );
        async move {
            eventually(&format!("the request applied at {version}"), || async {
                runner.finish_jobs(&admin).await.ok()?;
                let b = bindings.get_opt(&binding).await.ok()??;
                (b.data["status"]["lastAppliedVersion"] == version).then_some(())
            })
            .await
        }
    };
    applied("v0.1.0").await;
    let stored = requests.get(&name).await.unwrap();
    assert_eq!(stored.data["status"]["promiseVersion"], "v0.1.0");
    let job_list = jobs.list(&ListParams::default()).await.unwrap();
    assert_eq!(job_list.items.len(), 1);
    let job = &job_list.items[0];
    assert!(job.metadata.name.as_ref().unwrap().len() <= 63);
    assert_eq!(
        job.metadata.owner_references.as_ref().unwrap()[0].uid,
        stored.metadata.uid.clone().unwrap()
    );

    // The upgrade, as the user story makes it: a new promise version, then
    // the binding's spec.version edited.
    let promises: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &ar("platform.kratix.io", "v1alpha1", "Promise", "promises"),
    );
    promises
        .patch(
            "redis",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"kratix.io/promise-version": "v0.2.0"}}})),
        )
        .await
        .unwrap();
    let revisions: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &ar(
            "platform.kratix.io",
            "v1alpha1",
            "PromiseRevision",
            "promiserevisions",
        ),
    );
    eventually("the v0.2.0 revision", || async {
        revisions
            .get_opt(&kbind::naming::revision_name("redis", "v0.2.0"))
            .await
            .ok()?
    })
    .await;
    bindings
        .patch(
            &binding,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": "v0.2.0"}})),
        )
        .await
        .unwrap();
    applied("v0.2.0").await;
    let stored = requests.get(&name).await.unwrap();
    assert_eq!(stored.data["status"]["promiseVersion"], "v0.2.0");

    // Its Events are found by its uid, as `kubectl describe` finds them.
    let events: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), "default", &ar("", "v1", "Event", "events"));
    let uid = stored.metadata.uid.clone().unwrap();
    let about = events
        .list(&ListParams::default().fields(&format!("involvedObject.uid={uid}")))
        .await
        .unwrap();
    let reasons: Vec<&str> = about
        .items
        .iter()
        .filter_map(|e| e.data["reason"].as_str())
        .collect();
    assert!(
        reasons.contains(&"ReconcileSucceeded"),
        "Events about the request: {reasons:?}"
    );

    // Deleting the request takes its binding and Jobs.
    requests
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the request and its binding gone", || async {
        runner.finish_jobs(&admin).await.ok()?;
        let gone = requests.get_opt(&name).await.ok()?.is_none()
            && bindings.get_opt(&binding).await.ok()?.is_none();
        gone.then_some(())
    })
    .await;
    eventually("its Jobs gone", || async {
        jobs.list(&ListParams::default())
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await;
    operator.kill();
}

/// A promise whose request group `deploy/rbac.yaml` does not grant says so
/// on the Promise, naming the rule; once the rule `kbind rbac` prints is
/// applied, the condition clears by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promise_whose_requests_are_not_granted_names_the_missing_rule() {
    let (running, admin, operator_client) = installed().await;
    let operator = start(operator_client);
    let promise = repo_file("tests/fixtures/kratix/promise-redis.yaml")
        .replace("name: redis\n", "name: databases\n")
        .replace("redis.marketplace.kratix.io", "databases.example.com")
        .replace("group: marketplace.kratix.io", "group: example.com")
        .replace("kind: redis", "kind: Database")
        .replace("plural: redis", "plural: databases")
        .replace("singular: redis", "singular: database");
    create_all(&admin, &promise).await;
    let promises: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &ar("platform.kratix.io", "v1alpha1", "Promise", "promises"),
    );
    let condition = |status: &'static str| {
        let promises = promises.clone();
        async move {
            eventually(&format!("RequestsAccessible {status}"), || async {
                let p = promises.get("databases").await.ok()?;
                let c = p.data["status"]["conditions"]
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == "RequestsAccessible")?
                    .clone();
                (c["status"] == status).then_some(c)
            })
            .await
        }
    };
    let refused = condition("False").await;
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("may not list databases, watch databases, patch databases, delete databases, patch databases/status in API group \"example.com\"")
            && message.contains("apiGroups: [\"example.com\"]"),
        "{message}"
    );
    let events: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), "default", &ar("", "v1", "Event", "events"));
    // The Event follows the condition's write.
    let warned = eventually("the RequestsForbidden Event", || async {
        let list = events
            .list(
                &ListParams::default()
                    .fields("involvedObject.name=databases,reason=RequestsForbidden"),
            )
            .await
            .ok()?;
        (!list.items.is_empty()).then_some(list)
    })
    .await;
    assert_eq!(warned.items.len(), 1);
    // Meanwhile the refused watch lists again with a growing delay (from
    // 0.8 s, doubling to 30 s), not every ~0.8 s forever as kube's
    // `default_backoff()` retried a list refused each time.
    let lists = || running.audit_count("", "list", "example.com", "databases");
    let before = lists();
    tokio::time::sleep(std::time::Duration::from_secs(8)).await;
    let during = lists() - before;
    assert!(
        during <= 3,
        "{during} lists of a refused kind in 8 s: the retry delay does not grow"
    );

    // The fix, as `kbind rbac` prints it: a ClusterRole of the promise's own,
    // added to what deploy/rbac.yaml grants.
    let manifest = kbind::operator::access::manifest(
        &[("databases".into(), "example.com".into())],
        "kbind-system",
    );
    assert!(
        message.contains("kbind-operator-requests-databases"),
        "{message}"
    );
    create_all(&admin, &manifest).await;
    condition("True").await;
    operator.kill();
}

/// Runs a workflow Job's pod as a node would, one container at a time:
/// kbind's helper containers are the `kbind` binary with the container's
/// arguments and environment, talking to the server as the pod's
/// ServiceAccount (a kubeconfig holding its token stands in for the
/// in-cluster config); the pipeline's own image, which cannot run here, is
/// played by `pipeline`. The shared volumes are directories under `root`.
async fn run_pod<F, Fut>(
    running: &apiserver::Running,
    admin: &kube::Client,
    job: &DynamicObject,
    root: &std::path::Path,
    mut pipeline: F,
) where
    F: FnMut(kube::Client, Value) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let namespace = job.metadata.namespace.clone().unwrap();
    let pod = &job.data["spec"]["template"]["spec"];
    let account = pod["serviceAccountName"].as_str().unwrap();
    let token = token_for(admin, &namespace, account).await;
    let mut kubeconfig = kube::config::Kubeconfig::from_yaml(&running.kubeconfig()).unwrap();
    kubeconfig.auth_infos[0].auth_info.as_mut().unwrap().token = Some(token.clone().into());
    let kubeconfig_path = root.join("kubeconfig");
    std::fs::write(
        &kubeconfig_path,
        serde_json::to_string(&kubeconfig).unwrap(),
    )
    .unwrap();
    let (input, metadata) = (root.join("input"), root.join("metadata"));
    for dir in [&input, &metadata, &root.join("output")] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let containers = pod["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(pod["containers"].as_array().unwrap());
    for container in containers {
        if container["command"] != json!([kbind::planner::workflow::HELPER_BINARY]) {
            let client = support::client_with_token(running, token.clone()).await;
            pipeline(client, container.clone()).await;
            continue;
        }
        let args: Vec<String> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_kbind"));
        command
            .args(&args)
            .arg("--input-dir")
            .arg(&input)
            .env_clear()
            .env("KUBECONFIG", &kubeconfig_path);
        if args.last().map(String::as_str) == Some("update-status") {
            command.arg("--metadata-dir").arg(&metadata);
        }
        for var in container["env"].as_array().unwrap() {
            command.env(
                var["name"].as_str().unwrap(),
                var["value"].as_str().unwrap(),
            );
        }
        let out = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            out.status.success(),
            "container {} failed: {}",
            container["name"],
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Kratix's pipeline contract, as a Promise author's pipeline image meets
/// it: it runs as a ServiceAccount made and named as Kratix makes it,
/// holding the Promise's `rbac.permissions` and nothing else; it finds the
/// request in `/kratix/input/object.yaml`; what it writes to
/// `/kratix/metadata/status.yaml` ends up in the request's status, merged
/// with what kbind writes there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_pod_meets_kratixs_pipeline_contract() {
    let (running, admin, operator_client) = installed().await;
    let operator = start(operator_client);
    create_all(
        &admin,
        &repo_file("tests/fixtures/kratix/promise-redis.yaml"),
    )
    .await;
    let requests: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        "default",
        &ar("marketplace.kratix.io", "v1alpha1", "redis", "redis"),
    );
    eventually("the promise's API installed", || async {
        requests.list(&ListParams::default()).await.ok()
    })
    .await;
    let request: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "marketplace.kratix.io/v1alpha1", "kind": "redis",
        "metadata": {"name": "example", "namespace": "default"}, "spec": {"size": "large"}}))
    .unwrap();
    requests
        .create(&PostParams::default(), &request)
        .await
        .unwrap();
    let jobs: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), "default", &ar("batch", "v1", "Job", "jobs"));
    let job = eventually("the configure Job", || async {
        jobs.list(&ListParams::default()).await.ok()?.items.pop()
    })
    .await;

    // Named as Kratix's PipelineFactory names them.
    let id = "redis-resource-configure-instance-configure";
    let pod = &job.data["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], id);
    let get = |group: &str, kind: &str, plural: &str, name: &str| {
        let api: Api<DynamicObject> =
            Api::namespaced_with(admin.clone(), "default", &ar(group, "v1", kind, plural));
        let (kind, name) = (kind.to_string(), name.to_string());
        async move {
            api.get(&name)
                .await
                .unwrap_or_else(|e| panic!("{kind} {name}: {e}"))
        }
    };
    let rbac = "rbac.authorization.k8s.io";
    let account = get("", "ServiceAccount", "serviceaccounts", id).await;
    assert_eq!(
        account.metadata.labels.unwrap()["kratix.io/promise-name"],
        "redis"
    );
    let role = get(rbac, "Role", "roles", id).await;
    assert_eq!(
        role.data["rules"],
        json!([{"apiGroups": ["marketplace.kratix.io"], "resources": ["redis", "redis/status"],
            "verbs": ["get", "list", "update", "create", "patch"]}])
    );
    get(rbac, "RoleBinding", "rolebindings", id).await;
    let user_role_name = kbind::naming::deterministic_name(id, &[]);
    let user_role = get(rbac, "Role", "roles", &user_role_name).await;
    assert_eq!(
        user_role.data["rules"],
        json!([{"apiGroups": [""], "verbs": ["get"], "resources": ["configmaps"]}])
    );
    get(rbac, "RoleBinding", "rolebindings", &user_role_name).await;

    let root = tempfile::tempdir().unwrap();
    let input = root.path().join("input");
    let metadata = root.path().join("metadata");
    let mut ran = 0;
    run_pod(&running, &admin, &job, root.path(), |client, container| {
        ran += 1;
        let (input, metadata) = (input.clone(), metadata.clone());
        async move {
            assert_eq!(
                container["image"],
                "ghcr.io/syntasso/kratix-marketplace/redis-configure-pipeline:v0.1.0"
            );
            let object: Value =
                kbind::yaml::from_str(&std::fs::read_to_string(input.join("object.yaml")).unwrap())
                    .unwrap();
            assert_eq!(object["kind"], "redis");
            assert_eq!(object["metadata"]["name"], "example");
            assert_eq!(object["spec"]["size"], "large");
            // Its rbac.permissions, and no more.
            let configmaps: Api<DynamicObject> = Api::namespaced_with(
                client.clone(),
                "default",
                &ar("", "v1", "ConfigMap", "configmaps"),
            );
            match configmaps.get("anything").await {
                Err(kube::Error::Api(e)) => assert_eq!(e.code, 404, "{e:?}"),
                other => panic!("{other:?}"),
            }
            let secrets: Api<DynamicObject> = Api::namespaced_with(
                client,
                "default",
                &ar("", "v1", "Secret", "secrets"),
            );
            match secrets.get("anything").await {
                Err(kube::Error::Api(e)) => assert_eq!(e.code, 403, "{e:?}"),
                other => panic!("{other:?}"),
            }
            std::fs::write(
                metadata.join("status.yaml"),
                "message: redis is up\nconnection:\n  host: example.default.svc\nconditions:\n  - type: Ready\n    status: \"True\"\n    reason: Running\n",
            )
            .unwrap();
        }
    })
    .await;
    assert_eq!(ran, 1, "one pipeline container");
    assert!(
        !metadata.join("status.yaml").exists(),
        "consumed by the status writer"
    );
    let stored = requests.get("example").await.unwrap();
    let status = &stored.data["status"];
    assert_eq!(status["message"], "redis is up");
    assert_eq!(status["connection"]["host"], "example.default.svc");
    let conditions: Vec<(&str, &str)> = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["type"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert!(conditions.contains(&("Ready", "True")), "{conditions:?}");
    assert!(
        conditions.contains(&("ConfigureWorkflowCompleted", "True")),
        "{conditions:?}"
    );
    // The pod's writer records its pipeline's phase, as Kratix's
    // controller does from the pipeline's Job.
    assert_eq!(
        status["kratix"]["workflows"]["pipelines"][0]["phase"], "Succeeded",
        "{status}"
    );
    assert_eq!(status["workflowsSucceeded"], 1, "{status}");
    let refreshed: Value =
        kbind::yaml::from_str(&std::fs::read_to_string(input.join("object.yaml")).unwrap())
            .unwrap();
    assert_eq!(refreshed["status"]["message"], "redis is up");

    // The run ends; kbind's own status fields join the pipeline's.
    let runner = kbind::operator::SimulatedRunner::default();
    let bindings: Api<DynamicObject> = bindings_in_default(&admin);
    let binding = kbind::naming::binding_name("example", "redis");
    eventually("the request applied at v0.1.0", || async {
        runner.finish_jobs(&admin).await.ok()?;
        let b = bindings.get_opt(&binding).await.ok()??;
        (b.data["status"]["lastAppliedVersion"] == "v0.1.0").then_some(())
    })
    .await;
    let stored = requests.get("example").await.unwrap();
    let status = &stored.data["status"];
    assert_eq!(status["promiseVersion"], "v0.1.0");
    assert_eq!(status["message"], "redis is up");
    // The run's summary as Kratix keeps it, which readiness checks that
    // compare `observedGeneration` with the generation (kstatus) rely on.
    assert_eq!(status["observedGeneration"], 1, "{status}");
    assert_eq!(
        [
            &status["workflows"],
            &status["workflowsSucceeded"],
            &status["workflowsFailed"]
        ],
        [&json!(1), &json!(1), &json!(0)],
        "{status}"
    );
    let completed_at = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "ConfigureWorkflowCompleted")
        .map(|c| c["lastTransitionTime"].clone())
        .unwrap();
    assert_eq!(status["lastSuccessfulConfigureWorkflowTime"], completed_at);
    assert_eq!(
        status["kratix"]["workflows"]["lastSuccessfulConfigureWorkflowTime"],
        completed_at
    );
    assert_eq!(
        status["kratix"]["workflows"]["pipelines"],
        json!([{"name": "instance-configure", "phase": "Succeeded",
            "lastTransitionTime": status["kratix"]["workflows"]["pipelines"][0]["lastTransitionTime"]}])
    );
    operator.kill();
}

/// RBAC escalation prevention, as the real server's RBAC storage does it:
/// an identity may write a Role only with rules it holds, unless it may
/// `escalate`, and bind a role only if it holds its rules or may `bind`
/// it (why `deploy/rbac.yaml` grants the operator both, as Kratix's does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_grants_only_what_it_holds_unless_it_may_escalate_or_bind() {
    let (running, admin, _) = installed().await;
    let rbac = "rbac.authorization.k8s.io";
    let api = |client: &kube::Client, kind: &str, plural: &str, namespaced: bool| {
        let resource = ar(rbac, "v1", kind, plural);
        if namespaced {
            Api::<DynamicObject>::namespaced_with(client.clone(), "default", &resource)
        } else {
            Api::<DynamicObject>::all_with(client.clone(), &resource)
        }
    };
    let object = |v: Value| serde_json::from_value::<DynamicObject>(v).unwrap();
    create_all(
        &admin,
        r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: granter, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: granter}
rules:
  - {apiGroups: ["rbac.authorization.k8s.io"], resources: ["roles", "rolebindings"], verbs: ["create"]}
  - {apiGroups: [""], resources: ["configmaps"], verbs: ["get"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: granter}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: granter}
subjects: [{kind: ServiceAccount, name: granter, namespace: default}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: read-secrets}
rules:
  - {apiGroups: [""], resources: ["secrets"], verbs: ["get", "list"]}
"#,
    )
    .await;
    let granter =
        support::client_with_token(&running, token_for(&admin, "default", "granter").await).await;
    let roles = api(&granter, "Role", "roles", true);
    let role = |name: &str, resource: &str| {
        object(
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": "default"},
            "rules": [{"apiGroups": [""], "resources": [resource], "verbs": ["get", "list"]}]}),
        )
    };
    // Only `get` on configmaps is held: `list` is an escalation.
    let refused = roles
        .create(&PostParams::default(), &role("cm", "configmaps"))
        .await
        .unwrap_err();
    let kube::Error::Api(e) = refused else {
        panic!("{refused}")
    };
    assert_eq!(e.code, 403);
    assert_eq!(
        e.message,
        "roles.rbac.authorization.k8s.io \"cm\" is forbidden: user \"system:serviceaccount:default:granter\" \
         (groups=[\"system:serviceaccounts\" \"system:serviceaccounts:default\" \"system:authenticated\"]) \
         is attempting to grant RBAC permissions not currently held:\n\
         {APIGroups:[\"\"], Resources:[\"configmaps\"], Verbs:[\"list\"]}"
    );
    let bindings = api(&granter, "RoleBinding", "rolebindings", true);
    let binding = |name: &str, role: &str| {
        object(
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": "default"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}]}),
        )
    };
    let code = |r: Result<DynamicObject, kube::Error>| match r {
        Ok(_) => 200,
        Err(kube::Error::Api(e)) => e.code,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        code(
            bindings
                .create(&PostParams::default(), &binding("b1", "read-secrets"))
                .await
        ),
        403,
        "binding a role whose rules it does not hold"
    );
    assert_eq!(
        code(
            bindings
                .create(&PostParams::default(), &binding("b0", "missing"))
                .await
        ),
        404,
        "the role a binding names must exist"
    );

    // `escalate` on roles and `bind` on that one ClusterRole.
    let mut grants = api(&admin, "ClusterRole", "clusterroles", false)
        .get("granter")
        .await
        .unwrap();
    grants.data["rules"]
        .as_array_mut()
        .unwrap()
        .extend([
            json!({"apiGroups": [rbac], "resources": ["roles"], "verbs": ["escalate"]}),
            json!({"apiGroups": [rbac], "resources": ["clusterroles"], "verbs": ["bind"], "resourceNames": ["read-secrets"]}),
        ]);
    api(&admin, "ClusterRole", "clusterroles", false)
        .replace("granter", &PostParams::default(), &grants)
        .await
        .unwrap();
    assert_eq!(
        code(
            roles
                .create(&PostParams::default(), &role("secrets", "secrets"))
                .await
        ),
        200
    );
    assert_eq!(
        code(
            bindings
                .create(&PostParams::default(), &binding("b1", "read-secrets"))
                .await
        ),
        200
    );
}

/// A pipeline permission a real server refuses (no verbs): as Kratix's
/// `applyResources`, the workflow still runs, without that access; the
/// Promise says which permission and why in a Warning Event, where a
/// Promise author looks, not only in the operator's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permission_the_server_refuses_is_reported_on_the_promise() {
    let (_running, admin, operator_client) = installed().await;
    let operator = start(operator_client);
    let promise = repo_file("tests/fixtures/kratix/promise-redis.yaml")
        .replace("                  verbs: [\"get\"]\n", "");
    assert!(!promise.contains("verbs: [\"get\"]"), "the fixture changed");
    create_all(&admin, &promise).await;
    request_example(&admin).await;
    let events: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), "default", &ar("", "v1", "Event", "events"));
    let event = eventually("a Warning Event on the Promise", || async {
        events
            .list(
                &ListParams::default()
                    .fields("involvedObject.kind=Promise,reason=PromiseWriteRefused"),
            )
            .await
            .ok()?
            .items
            .pop()
    })
    .await;
    let message = event.data["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("a workflow will run without the access its pipeline's rbac.permissions give it: apply Role default/")
            && message.contains("rules[0].verbs: Required value: verbs must contain at least one value")
            && message.ends_with("(422 Invalid)"),
        "{message}"
    );
    // The server's answer as kubectl shows it, not kube's debug dump of it.
    assert!(!message.contains("Status {"), "{message}");
    assert_eq!(event.data["type"], "Warning");
    let jobs: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), "default", &ar("batch", "v1", "Job", "jobs"));
    eventually("the configure Job, as Kratix still runs it", || async {
        jobs.list(&ListParams::default()).await.ok()?.items.pop()
    })
    .await;
    operator.kill();
}

/// The README's uninstall, run with kubectl as written against the strict
/// server with the operator under `deploy/rbac.yaml`: the Promises go first
/// (their requests' delete workflows run), then what `deploy/` made, and
/// nothing of kbind's is left — no CRD stuck `Terminating` on a finalizer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_uninstall_leaves_nothing_behind() {
    let Some(kubectl) = crate::kubectl::kubectl_binary() else {
        eprintln!("SKIPPED: no kubectl found");
        return;
    };
    let (running, admin, operator_client) = installed().await;
    create_all(&admin, &repo_file("deploy/policy.yaml")).await;
    let operator = start(operator_client);
    // The Job controller's part: workflow Jobs finish.
    let job_controller = finish_jobs_meanwhile(&admin);
    create_all(
        &admin,
        &repo_file("tests/fixtures/kratix/promise-redis.yaml"),
    )
    .await;
    request_example(&admin).await;
    let bindings: Api<DynamicObject> = bindings_in_default(&admin);
    eventually("the request's binding", || async {
        bindings
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .pop()
    })
    .await;

    let kubectl = Kubectl::new(kubectl, &running);
    let run = |args: &'static [&'static str]| kubectl.run(args);
    assert!(
        run(&["delete", "promises", "--all", "--wait", "--timeout=60s"])
            .await
            .0
    );
    // The operator runs in-process here: stopping it is its Deployment's deletion.
    operator.kill();
    job_controller.abort();
    run(&[
        "delete",
        "-f",
        "deploy/policy.yaml",
        "-f",
        "deploy/rbac.yaml",
    ])
    .await;
    run(&["delete", "-f", "deploy/crds.yaml", "--timeout=30s"]).await;
    run(&["delete", "-f", "deploy/namespace.yaml", "--timeout=30s"]).await;

    let crds: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &ar(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
        ),
    );
    let left: Vec<String> = crds
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert!(left.is_empty(), "CRDs left: {left:?}");
    let namespaces: Api<DynamicObject> =
        Api::all_with(admin.clone(), &ar("", "v1", "Namespace", "namespaces"));
    assert!(
        namespaces.get_opt("kbind-system").await.unwrap().is_none(),
        "kbind-system is gone"
    );
}

/// The README's install ("Running against a real cluster"), each line run
/// by a shell as written, against a bare strict server (nothing installed
/// before it). No container runs here: the image and kind lines are
/// skipped, the Deployment is the operator started in-process under
/// `deploy/rbac.yaml`'s account with leader election (its rollout is it
/// holding the Lease), and Jobs are ended by a runner as the admin. The
/// server establishes CRDs as one with several API servers does, five
/// seconds after accepting their names: a kind kubectl cannot discover
/// until then, which a script must wait out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_install_runs_as_written() {
    let Some(binary) = crate::kubectl::kubectl_binary() else {
        eprintln!("SKIPPED: no kubectl found");
        return;
    };
    let mut store = apiserver::ObjectStore::new();
    store.set_establishing_delay(std::time::Duration::from_secs(5));
    let running = apiserver::serve(([127, 0, 0, 1], 0).into(), apiserver::new_token(), store)
        .await
        .unwrap();
    let admin = support::client_for(&running).await;
    let readme = repo_file("README.md");
    let section = readme
        .split("\n## Running against a real cluster\n")
        .nth(1)
        .expect("the README's real-cluster section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("its install commands");
    let kubectl = Kubectl::new(binary, &running);
    let mut operator = None;
    let mut job_controller = None;
    let mut last = String::new();
    for line in block.lines() {
        let command = line.split(" #").next().unwrap_or_default().trim();
        if command.starts_with("docker ") || command.starts_with("kind ") {
            continue;
        }
        // The server's Deployment controller makes the operator's pods and
        // the simulated node reports them ready (so `kubectl rollout status`
        // runs as written); nothing runs their containers, so the
        // operator's work is done by one in-process, under the same account.
        if command == "kubectl apply -f deploy/operator.yaml" {
            let (ok, out) = kubectl.shell(line).await;
            assert!(
                ok && out.contains("deployment.apps/kbind-operator created"),
                "`{line}` failed:\n{out}"
            );
            let client = support::install::client_as_service_account(
                &running,
                &admin,
                "kbind-system",
                "kbind-operator",
            )
            .await;
            let policy = support::load(
                &support::engine(),
                &kbind::shipped::KRATIX_DEFAULT.source(),
                &[],
            );
            operator = Some(support::start_operator(
                client,
                Arc::new(policy),
                None,
                kbind::operator::OperatorOptions {
                    lease: Some(kbind::operator::leader::LeaseConfig::new(
                        "kbind-system",
                        "kbind-operator-0",
                    )),
                    ..Default::default()
                },
            ));
            job_controller = Some(tokio::spawn(
                kbind::operator::SimulatedRunner::default().run(admin.clone()),
            ));
            let leases: Api<DynamicObject> = Api::namespaced_with(
                admin.clone(),
                "kbind-system",
                &ar("coordination.k8s.io", "v1", "Lease", "leases"),
            );
            eventually("the operator holding its Lease", || async {
                leases.get_opt("kbind-operator").await.ok().flatten()
            })
            .await;
            continue;
        }
        let (ok, out) = kubectl.shell(line).await;
        assert!(ok, "`{line}` failed:\n{out}");
        last = out;
    }
    assert!(
        last.contains("example-redis-e7f90"),
        "the request's binding is listed: {last}"
    );
    if let Some(operator) = operator {
        operator.kill();
    }
    if let Some(job_controller) = job_controller {
        job_controller.abort();
    }
}

/// kubectl against a running embedded server, from the repository's root
/// (so `deploy/...` paths read as the README writes them).
struct Kubectl {
    binary: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl Kubectl {
    fn new(binary: std::path::PathBuf, running: &apiserver::Running) -> Self {
        let dir = tempfile::tempdir().unwrap();
        running
            .write_kubeconfig(&dir.path().join("kubeconfig"))
            .unwrap();
        Self { binary, dir }
    }

    /// Whether it succeeded, and what it printed.
    async fn run(&self, args: &[&str]) -> (bool, String) {
        let mut command = std::process::Command::new(&self.binary);
        command.args(args);
        self.output(command).await
    }

    /// A command line run by `sh` as a user types it, `kubectl` being this
    /// binary.
    async fn shell(&self, line: &str) -> (bool, String) {
        let bin = self.dir.path().join("bin");
        if !bin.exists() {
            std::fs::create_dir(&bin).unwrap();
            std::os::unix::fs::symlink(&self.binary, bin.join("kubectl")).unwrap();
        }
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = std::process::Command::new("sh");
        command.args(["-c", line]).env("PATH", path);
        self.output(command).await
    }

    async fn output(&self, mut command: std::process::Command) -> (bool, String) {
        command
            .current_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
            .env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .env("KUBECACHEDIR", self.dir.path().join("cache"));
        // kubectl blocks; the server it talks to runs on this runtime.
        let out = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

/// Why the README's uninstall order matters: with the operator gone first,
/// kbind's CRDs stay `Terminating` on the finalizers only it removes, as a
/// real server keeps them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kbinds_crds_wait_for_the_finalizers_of_their_objects() {
    let Some(binary) = crate::kubectl::kubectl_binary() else {
        eprintln!("SKIPPED: no kubectl found");
        return;
    };
    let (running, admin, operator_client) = installed().await;
    let operator = start(operator_client);
    create_all(
        &admin,
        &repo_file("tests/fixtures/kratix/promise-redis.yaml"),
    )
    .await;
    let promises: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &ar("platform.kratix.io", "v1alpha1", "Promise", "promises"),
    );
    eventually("the Promise's finalizers", || async {
        let promise = promises.get("redis").await.ok()?;
        promise.metadata.finalizers.filter(|f| !f.is_empty())
    })
    .await;
    operator.kill();
    let kubectl = Kubectl::new(binary, &running);
    let (ok, out) = kubectl
        .run(&["delete", "-f", "deploy/crds.yaml", "--wait=false"])
        .await;
    assert!(ok, "{out}");
    let crds: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &ar(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
        ),
    );
    let crd = crds.get("promises.platform.kratix.io").await.unwrap();
    assert!(crd.metadata.deletion_timestamp.is_some());
    let terminating = crd.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Terminating")
        .cloned()
        .unwrap_or_default();
    assert_eq!(terminating["status"], "True", "{crd:?}");
    // The CRD finalizer deletes the Promise a moment later; its own
    // finalizer, which only the operator removes, holds it.
    let promise = eventually("the Promise marked for deletion", || async {
        let promise = promises.get("redis").await.ok()?;
        promise
            .metadata
            .deletion_timestamp
            .is_some()
            .then_some(promise)
    })
    .await;
    assert!(
        promise
            .metadata
            .finalizers
            .is_some_and(|f| f.iter().any(|f| f == "kratix.io/resource-request-cleanup")),
        "the Promise waits for the operator that is gone"
    );
}

/// The redis request `example` in `default`, once the Promise's API is served.
async fn request_example(admin: &kube::Client) {
    let requests: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        "default",
        &ar("marketplace.kratix.io", "v1alpha1", "redis", "redis"),
    );
    eventually("the promise's API installed", || async {
        requests.list(&ListParams::default()).await.ok()
    })
    .await;
    let request: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "marketplace.kratix.io/v1alpha1", "kind": "redis",
        "metadata": {"name": "example", "namespace": "default"}, "spec": {}}))
    .unwrap();
    requests
        .create(&PostParams::default(), &request)
        .await
        .unwrap();
}

/// The Job controller's part, played until aborted: workflow Jobs finish.
fn finish_jobs_meanwhile(admin: &kube::Client) -> tokio::task::JoinHandle<()> {
    let admin = admin.clone();
    tokio::spawn(async move {
        let runner = kbind::operator::SimulatedRunner::default();
        loop {
            let _ = runner.finish_jobs(&admin).await;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
}

/// The Promises and what their STATUS column shows.
struct Promises(Api<DynamicObject>);

impl Promises {
    fn new(admin: &kube::Client) -> Self {
        Self(Api::all_with(
            admin.clone(),
            &ar("platform.kratix.io", "v1alpha1", "Promise", "promises"),
        ))
    }

    async fn status(&self, name: &str) -> Option<Value> {
        let p = self.0.get(name).await.ok()?;
        Some(p.data["status"]["status"].clone())
    }

    async fn wait_status(&self, name: &str, status: &str) {
        eventually(&format!("Promise {name} {status}"), || async {
            (self.status(name).await? == status).then_some(())
        })
        .await;
    }

    /// The message of the Warning Event with `reason` on the Promise.
    async fn warning(&self, admin: &kube::Client, name: &str, reason: &str) -> String {
        let events: Api<DynamicObject> =
            Api::namespaced_with(admin.clone(), "default", &ar("", "v1", "Event", "events"));
        let fields =
            format!("involvedObject.kind=Promise,involvedObject.name={name},reason={reason}");
        let event = eventually(&format!("a {reason} Event on {name}"), || async {
            events
                .list(&ListParams::default().fields(&fields))
                .await
                .ok()?
                .items
                .pop()
        })
        .await;
        assert_eq!(event.data["type"], "Warning");
        event.data["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Deletes the Promise (its requests' delete workflows run) and waits
    /// until `other` is available.
    async fn delete_until_available(&self, admin: &kube::Client, name: &str, other: &str) {
        let job_controller = finish_jobs_meanwhile(admin);
        self.0.delete(name, &DeleteParams::default()).await.unwrap();
        self.wait_status(other, "Available").await;
        job_controller.abort();
    }
}

/// The strict sandbox with the operator running and the Kratix fixture's
/// Promise available; its YAML, for variants of it.
async fn the_redis_promise_available() -> (
    apiserver::Running,
    kube::Client,
    support::Operator,
    Promises,
    String,
) {
    let (running, admin, operator_client) = installed().await;
    let operator = start(operator_client);
    let promises = Promises::new(&admin);
    let first = repo_file("tests/fixtures/kratix/promise-redis.yaml");
    create_all(&admin, &first).await;
    promises.wait_status("redis", "Available").await;
    (running, admin, operator, promises, first)
}

/// Two Promises whose APIs declare the same kind in one group: the API
/// server does not accept the second CRD's names while the first holds
/// them. The second Promise is `Unavailable` (as Kratix leaves a Promise
/// whose CRD is not established) with a Warning Event saying why; once the
/// first Promise and its CRD are gone, the server accepts the names and the
/// second becomes `Available`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promise_whose_api_names_are_taken_is_unavailable_until_they_are_free() {
    // The first CRD made takes the names: the first Promise's, once it is
    // available.
    let (_running, admin, operator, promises, first) = the_redis_promise_available().await;
    let second = first
        .replacen("  name: redis\n", "  name: redis-two\n", 1)
        .replace(
            "redis.marketplace.kratix.io",
            "redisen.marketplace.kratix.io",
        )
        .replace("plural: redis", "plural: redisen")
        .replace("singular: redis", "singular: redisen");
    assert!(second.contains("name: redis-two"), "the fixture changed");
    create_all(&admin, &second).await;
    promises.wait_status("redis-two", "Unavailable").await;
    assert_eq!(promises.status("redis").await, Some(json!("Available")));
    let message = promises
        .warning(&admin, "redis-two", "RequestAPINotServed")
        .await;
    assert!(
        message.starts_with(
            "the API server does not serve redisen.marketplace.kratix.io: ListKindConflict: \"redisList\" is already in use"
        ),
        "{message}"
    );
    promises
        .delete_until_available(&admin, "redis", "redis-two")
        .await;
    operator.kill();
}

/// Two Promises declaring one request kind in two groups: both CRDs are
/// served, and kbind reconciles the requests of one Promise per kind name —
/// the older. The other is `Unavailable` with a Warning Event saying so,
/// and the first's requests are reconciled as before (none of them taken
/// for the other's); once the first goes, the second is available.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_promises_declaring_one_kind_reconcile_the_older_and_say_so() {
    let (_running, admin, operator, promises, first) = the_redis_promise_available().await;
    let other_group = first
        .replacen("  name: redis\n", "  name: redis-elsewhere\n", 1)
        .replace("marketplace.kratix.io", "elsewhere.example.com");
    assert!(
        other_group.contains("group: elsewhere.example.com"),
        "the fixture changed"
    );
    create_all(&admin, &other_group).await;
    // Its group granted, as `kbind rbac` prints it.
    create_all(
        &admin,
        &kbind::operator::access::manifest(
            &[("redis-elsewhere".into(), "elsewhere.example.com".into())],
            "kbind-system",
        ),
    )
    .await;
    promises.wait_status("redis-elsewhere", "Unavailable").await;
    assert_eq!(
        promises
            .warning(&admin, "redis-elsewhere", "RequestKindTaken")
            .await,
        "Promise redis also declares request kind redis, and kbind reconciles the requests of one Promise per kind name: requests of redis.elsewhere.example.com are not reconciled while it exists"
    );
    request_example(&admin).await;
    let bindings: Api<DynamicObject> = bindings_in_default(&admin);
    let binding = eventually("the first Promise's request bound", || async {
        bindings
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .pop()
    })
    .await;
    assert_eq!(binding.data["spec"]["promiseRef"]["name"], "redis");
    assert_eq!(promises.status("redis").await, Some(json!("Available")));
    promises
        .delete_until_available(&admin, "redis", "redis-elsewhere")
        .await;
    // The kind is the second's now: its requests are watched and bound.
    let requests: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        "default",
        &ar("elsewhere.example.com", "v1alpha1", "redis", "redis"),
    );
    let request: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "elsewhere.example.com/v1alpha1", "kind": "redis",
        "metadata": {"name": "other", "namespace": "default"}, "spec": {}}))
    .unwrap();
    requests
        .create(&PostParams::default(), &request)
        .await
        .unwrap();
    eventually("the second Promise's request bound", || async {
        bindings
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|b| b.data["spec"]["promiseRef"]["name"] == "redis-elsewhere")
    })
    .await;
    operator.kill();
}
