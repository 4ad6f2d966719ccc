//! The user story as a cluster runs it: the embedded server in its strict
//! mode with RBAC enforced, the operator running as the `kbind-operator`
//! ServiceAccount of `deploy/rbac.yaml` (its token from the TokenRequest
//! API, as `kubectl create token` gets one), the unmodified Kratix fixture
//! `tests/fixtures/kratix/promise-redis.yaml`, and a request whose name is
//! 120 characters long.

mod support;

use std::sync::Arc;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kbind::apiserver::{self, ObjectStore};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::{Discovery, Scope};
use serde_json::{Value, json};
use support::cluster::ar;
use support::eventually;

fn repo_file(path: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Creates every document of a manifest, as `kubectl create -f` does.
async fn create_all(client: &kube::Client, manifest: &str) {
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

/// A client holding a token the TokenRequest API issued for a ServiceAccount.
async fn client_as_service_account(
    running: &apiserver::Running,
    admin: &kube::Client,
    namespace: &str,
    name: &str,
) -> kube::Client {
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
        .unwrap();
    support::client_with_token(running, issued.status.unwrap().token).await
}

/// The embedded server with kbind's CRDs and `deploy/` applied (as the
/// README's install steps do), an admin client, and the operator's.
async fn installed() -> (apiserver::Running, kube::Client, kube::Client) {
    let running = apiserver::serve(
        ([127, 0, 0, 1], 0).into(),
        apiserver::new_token(),
        ObjectStore::new(),
    )
    .await
    .unwrap();
    let admin = support::client_for(&running).await;
    create_all(&admin, &kbind::api::crds_yaml().unwrap()).await;
    create_all(&admin, &repo_file("deploy/namespace.yaml")).await;
    create_all(&admin, &repo_file("deploy/rbac.yaml")).await;
    let operator_client =
        client_as_service_account(&running, &admin, "kbind-system", "kbind-operator").await;
    (running, admin, operator_client)
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

    let bindings: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        "default",
        &ar(
            "platform.kratix.io",
            "v1alpha1",
            "ResourceBinding",
            "resourcebindings",
        ),
    );
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
    let (_running, admin, operator_client) = installed().await;
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
        message.contains("may not list databases, watch databases, patch databases, patch databases/status in API group \"example.com\"")
            && message.contains("apiGroups: [\"example.com\"]"),
        "{message}"
    );
    let events: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), "default", &ar("", "v1", "Event", "events"));
    let warned = events
        .list(
            &ListParams::default().fields("involvedObject.name=databases,reason=RequestsForbidden"),
        )
        .await
        .unwrap();
    assert_eq!(warned.items.len(), 1);

    // The fix, as `kbind rbac` prints it.
    let manifest = kbind::operator::access::manifest(
        &["marketplace.kratix.io".into(), "example.com".into()],
        "kbind-system",
    );
    let roles: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &ar(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
        ),
    );
    let role_doc: Value = kbind::yaml::from_str(manifest.split("\n---").next().unwrap()).unwrap();
    let mut role = roles.get("kbind-operator-requests").await.unwrap();
    role.data["rules"] = role_doc["rules"].clone();
    roles
        .replace("kbind-operator-requests", &PostParams::default(), &role)
        .await
        .unwrap();
    condition("True").await;
    operator.kill();
}
