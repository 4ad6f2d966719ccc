//! The embedded API server driven by the real kubectl (preinstalled as
//! /usr/bin/kubectl on our machines). Skipped, saying so, only if no kubectl
//! exists.

#[path = "kubectl/fidelity.rs"]
mod fidelity;
use crate::support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kbind::apiserver::{self, ObjectStore, Running};
use kube::CustomResourceExt;

struct Sandbox {
    runtime: tokio::runtime::Runtime,
    running: Running,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

pub(crate) fn kubectl_binary() -> Option<PathBuf> {
    let candidates = [
        PathBuf::from("/usr/bin/kubectl"),
        PathBuf::from("/usr/local/bin/kubectl"),
    ];
    candidates.into_iter().find(|p| p.exists()).or_else(|| {
        Command::new("kubectl")
            .arg("version")
            .arg("--client")
            .output()
            .ok()
            .map(|_| PathBuf::from("kubectl"))
    })
}

fn sandbox() -> Option<Sandbox> {
    if kubectl_binary().is_none() {
        eprintln!(
            "SKIPPED: no kubectl found (install Debian's kubernetes-client to run these tests)"
        );
        return None;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let running = runtime
        .block_on(apiserver::serve(
            ([127, 0, 0, 1], 0).into(),
            apiserver::new_token(),
            ObjectStore::new(),
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    running.write_kubeconfig(&kubeconfig).unwrap();
    Some(Sandbox {
        runtime,
        running,
        _dir: dir,
        kubeconfig,
    })
}

impl Sandbox {
    fn kubectl(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("kubectl runs")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(kubectl_binary().unwrap());
        // Its own discovery cache: kubectl's shared one is keyed by host
        // and port, and a port an earlier sandbox used would answer with
        // that sandbox's kinds.
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self._dir.path().join("kube-cache"))
            .env_remove("KUBERNETES_SERVICE_HOST");
        cmd
    }

    /// `manager:operation` of each managedFields entry of a ConfigMap, in
    /// the order the server lists them.
    fn config_map_managers(&self, name: &str) -> String {
        self.ok(&[
            "get",
            "configmap",
            name,
            "--show-managed-fields",
            "-o",
            "jsonpath={range .metadata.managedFields[*]}{.manager}:{.operation} {end}",
        ])
        .trim()
        .to_string()
    }

    /// Runs `kubectl <args>` (a watch) in the background; `until` then
    /// collects its output lines until one is `wanted` (or 15 s pass) and
    /// stops it.
    fn watch(&self, args: &[&str]) -> Watch {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Its initial list is in before the caller changes anything.
        std::thread::sleep(Duration::from_millis(1000));
        Watch { child, lines }
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.kubectl(args);
        assert!(
            o.status.success(),
            "kubectl {args:?} failed: {}{}",
            text(&o.stdout),
            text(&o.stderr)
        );
        text(&o.stdout)
    }

    fn apply(&self, yaml: &str) -> String {
        let path = self._dir.path().join(format!(
            "manifest-{}.yaml",
            Instant::now().elapsed().as_nanos()
        ));
        std::fs::write(&path, yaml).unwrap();
        self.ok(&["apply", "-f", path.to_str().unwrap()])
    }

    fn write(&self, name: &str, yaml: &str) -> String {
        let path = self._dir.path().join(name);
        std::fs::write(&path, yaml).unwrap();
        path.to_str().unwrap().to_string()
    }

    /// Applies CRDs and waits until each is established, as a script must
    /// on a real server (a new CRD's kind is served a moment after).
    fn apply_crd(&self, yaml: &str) -> String {
        self.apply_crd_until(yaml, "condition=Established")
    }

    /// Applies CRDs and waits for `condition` on each (`kubectl wait --for`).
    fn apply_crd_until(&self, yaml: &str, condition: &str) -> String {
        let path = self.write(
            &format!("crd-{}.yaml", Instant::now().elapsed().as_nanos()),
            yaml,
        );
        let out = self.ok(&["apply", "-f", &path]);
        self.ok(&[
            "wait",
            &format!("--for={condition}"),
            "-f",
            &path,
            "--timeout=10s",
        ]);
        out
    }
}

struct Watch {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Watch {
    fn until(mut self, wanted: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut seen: Vec<String> = vec![];
        while Instant::now() < deadline && !seen.iter().any(|l| l == wanted) {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                seen.push(line);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        seen
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn crd_yaml() -> String {
    serde_saphyr::to_string(&kbind::api::ResourceBinding::crd()).unwrap()
}

fn binding(name: &str, promise: &str, resource: &str, version: &str) -> String {
    format!(
        "apiVersion: platform.kratix.io/v1alpha1\nkind: ResourceBinding\nmetadata:\n  name: {name}\n  namespace: default\n  labels:\n    kratix.io/promise-name: {promise}\n    kratix.io/resource-name: {resource}\nspec:\n  version: {version}\n  promiseRef: {{name: {promise}}}\n  resourceRef: {{name: {resource}, namespace: default}}\n"
    )
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/kratix")
        .join(name)
}

#[test]
fn kubectl_applies_crds_and_gets_with_selectors_and_printer_columns() {
    let Some(s) = sandbox() else { return };
    assert!(s.apply_crd(&crd_yaml()).contains("created"));
    let api = s.ok(&["api-resources"]);
    assert!(api.lines().any(|l| l.starts_with("resourcebindings") && l.contains("platform.kratix.io/v1alpha1")), "{api}");
    s.ok(&[
        "apply",
        "-f",
        fixture("resourcebinding.yaml").to_str().unwrap(),
    ]);
    s.apply(&binding("other-redis", "other", "example", "v9"));
    s.apply(&binding("third-redis", "redis", "third", "latest"));

    // Equality requirements, comma-joined: ANDed.
    let out = s.ok(&[
        "-n",
        "default",
        "get",
        "resourcebindings",
        "-l",
        "kratix.io/promise-name=redis,kratix.io/resource-name=example",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "RESOURCE", "PROMISE", "VERSION", "APPLIED", "AGE"]
    );
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &row[..4],
        ["example-redis-e7f90", "example", "redis", "v0.1.0"]
    );
    // Status is written through /status only, as on a real server.
    assert!(
        row[4].ends_with('s') || row[4].ends_with('m'),
        "APPLIED empty, AGE next: {row:?}"
    );

    // kubectl 1.32 sends only the last of several -l flags: the user story's
    // two-flag command filters by resource-name alone.
    let out = s.ok(&[
        "-n",
        "default",
        "get",
        "resourcebindings",
        "-l",
        "kratix.io/promise-name=redis",
        "-l",
        "kratix.io/resource-name=example",
    ]);
    assert_eq!(
        out.lines().count(),
        3,
        "both bindings of resource `example` match: {out}"
    );

    // Set-based.
    let out = s.ok(&[
        "get",
        "resourcebindings",
        "-l",
        "kratix.io/resource-name in (third,nothing),kratix.io/promise-name notin (other)",
    ]);
    assert!(
        out.contains("third-redis")
            && !out.contains("example-redis")
            && !out.contains("other-redis"),
        "{out}"
    );

    // Field selector on the CRD's selectable field.
    let out = s.ok(&[
        "get",
        "resourcebindings",
        "--field-selector",
        "spec.version=latest",
    ]);
    assert!(
        out.contains("third-redis") && out.lines().count() == 2,
        "{out}"
    );

    // -o yaml round-trips the object.
    let out = s.ok(&[
        "get",
        "resourcebinding",
        "example-redis-e7f90",
        "-o",
        "yaml",
    ]);
    assert!(
        out.contains("kind: ResourceBinding")
            && out.contains("version: v0.1.0")
            && out.contains("resourceVersion:"),
        "{out}"
    );
}

#[test]
fn kubectl_label_patch_edit_and_delete() {
    let Some(s) = sandbox() else { return };
    s.apply_crd(&crd_yaml());
    s.apply(&binding(
        "example-redis-e7f90",
        "redis",
        "example",
        "v0.1.0",
    ));
    s.ok(&["label", "resourcebinding", "example-redis-e7f90", "team=a"]);
    s.ok(&[
        "patch",
        "resourcebinding",
        "example-redis-e7f90",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"version":"v0.2.0"}}"#,
    ]);
    let o = s
        .command(&["edit", "resourcebinding", "example-redis-e7f90"])
        .env("KUBE_EDITOR", "sed -i s/v0.2.0/v0.3.0/")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = s.ok(&[
        "get",
        "resourcebinding",
        "example-redis-e7f90",
        "-o",
        "jsonpath={.spec.version} {.metadata.labels.team} {.metadata.generation}",
    ]);
    assert_eq!(out, "v0.3.0 a 3");
    s.ok(&["delete", "resourcebinding", "example-redis-e7f90"]);
    let o = s.kubectl(&["get", "resourcebinding", "example-redis-e7f90"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("NotFound") || text(&o.stderr).contains("not found"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn kubectl_delete_waits_for_finalizers() {
    let Some(s) = sandbox() else { return };
    s.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: default\n  finalizers: [example.com/hold]\ndata: {a: b}\n");
    let mut delete = s
        .command(&["delete", "configmap", "held", "--timeout=30s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        delete.try_wait().unwrap().is_none(),
        "delete returned while the finalizer holds the object"
    );
    let out = s.ok(&[
        "get",
        "configmap",
        "held",
        "-o",
        "jsonpath={.metadata.deletionTimestamp}",
    ]);
    assert!(!out.is_empty(), "the object is only marked");
    s.ok(&[
        "patch",
        "configmap",
        "held",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    let o = delete.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(!s.kubectl(&["get", "configmap", "held"]).status.success());
}

#[test]
fn kubectl_get_watch_sees_a_change() {
    let Some(s) = sandbox() else { return };
    s.apply("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched\n  namespace: default\ndata: {a: b}\n");
    let watch = s.watch(&[
        "get",
        "configmaps",
        "-w",
        "--output-watch-events",
        "-o",
        "jsonpath={.type} {.object.data.a}{\"\\n\"}",
    ]);
    s.ok(&[
        "patch",
        "configmap",
        "watched",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"a":"changed"}}"#,
    ]);
    let seen = watch.until("MODIFIED changed");
    assert!(
        seen.iter().any(|l| l == "MODIFIED changed"),
        "watch lines: {seen:?}"
    );
    assert!(
        seen.iter().any(|l| l == "ADDED b"),
        "initial state first: {seen:?}"
    );
}

#[test]
fn requests_without_the_token_are_refused() {
    let Some(s) = sandbox() else { return };
    let o = Command::new(kubectl_binary().unwrap())
        .args([
            "--server",
            &s.running.url(),
            "--insecure-skip-tls-verify",
            "--token",
            "wrong",
            "get",
            "namespaces",
        ])
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("Unauthorized") || text(&o.stderr).contains("credentials"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn kbind_crds_apply_and_serve_kratix_yaml() {
    let Some(s) = sandbox() else { return };
    let crds = Command::new(env!("CARGO_BIN_EXE_kbind"))
        .arg("crds")
        .output()
        .unwrap();
    assert!(crds.status.success());
    let out = s.apply(&text(&crds.stdout));
    for name in ["resourcebindings", "promiserevisions", "promises"] {
        assert!(
            out.contains(&format!(
                "customresourcedefinition.apiextensions.k8s.io/{name}.platform.kratix.io created"
            )),
            "{out}"
        );
    }
    s.ok(&[
        "apply",
        "-f",
        fixture("promise-redis.yaml").to_str().unwrap(),
    ]);
    let spec = s.ok(&[
        "get",
        "promise",
        "redis",
        "-o",
        "jsonpath={.spec.destinationSelectors[0].matchLabels.environment}",
    ]);
    assert_eq!(spec, "dev", "fields kbind does not read are kept");
    s.ok(&[
        "apply",
        "-f",
        fixture("promiserevision.yaml").to_str().unwrap(),
    ]);
    let out = s.ok(&["get", "promiserevisions"]);
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME", "PROMISE", "VERSION", "LATEST", "AT", "MOVING", "FAILED", "AGE"
        ]
    );
}

/// Polls `kubectl` until its output satisfies `done` (20 s at most).
fn wait_for(s: &Sandbox, args: &[&str], done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = text(&s.kubectl(args).stdout);
        if done(&out) || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The Warning Events matching `selector` (a field selector besides
/// `type=Warning`), one `<kind>/<name> <reason>: <message>` line each, once
/// `done` holds for them (or the wait gives up).
fn warnings(s: &Sandbox, selector: &str, done: impl Fn(&str) -> bool) -> String {
    let selector = format!("type=Warning,{selector}");
    wait_for(
        s,
        &[
            "get",
            "events",
            "-A",
            "--field-selector",
            &selector,
            "-o",
            "jsonpath={range .items[*]}{.involvedObject.kind}/{.involvedObject.name} {.reason}: {.message}{\"\\n\"}{end}",
        ],
        done,
    )
}

/// The Kratix fixture's Promise, applied, once its request API is served.
fn apply_redis_promise(s: &Sandbox) {
    s.ok(&[
        "apply",
        "-f",
        fixture("promise-redis.yaml").to_str().unwrap(),
    ]);
    wait_for(s, &["api-resources"], |out| {
        out.contains("marketplace.kratix.io")
    });
}

/// Publishes a redis version (the user story's `kubectl label promise`)
/// and waits for its revision.
fn publish_redis(s: &Sandbox, version: &str) {
    s.ok(&[
        "label",
        "promise",
        "redis",
        &format!("kratix.io/promise-version={version}"),
        "--overwrite",
    ]);
    wait_for(
        s,
        &[
            "get",
            "promiserevisions",
            "-o",
            "jsonpath={.items[*].spec.version}",
        ],
        |out| out.split_whitespace().any(|v| v == version),
    );
}

/// What `kbind sandbox` runs, with the sandbox's admin client: kbind's
/// CRDs, the reconcile loop with `kratix-default` (these settings) and the
/// simulated runner.
fn start_operator(s: &Sandbox, settings: &[(&str, &str)]) -> support::Operator {
    start_operator_with(
        s,
        settings,
        kbind::operator::OperatorOptions {
            runner: Some(kbind::operator::SimulatedRunner::default()),
            ..Default::default()
        },
    )
}

/// [`start_operator`] with these operator options.
fn start_operator_with(
    s: &Sandbox,
    settings: &[(&str, &str)],
    options: kbind::operator::OperatorOptions,
) -> support::Operator {
    let engine = kbind::engine::PolicyEngine::new(kbind::engine::EngineOptions::default()).unwrap();
    let (policy, _) = engine
        .load(
            &kbind::shipped::KRATIX_DEFAULT.source(),
            None,
            support::settings_of(settings),
        )
        .unwrap();
    let operator = s.runtime.block_on(async {
        let client = support::client_for(&s.running).await;
        support::start_operator(client, std::sync::Arc::new(policy), None, options)
    });
    let crds = Command::new(env!("CARGO_BIN_EXE_kbind"))
        .arg("crds")
        .output()
        .unwrap();
    s.apply(&text(&crds.stdout));
    operator
}

#[test]
fn the_user_story_with_kubectl_against_the_sandbox_operator() {
    let Some(s) = sandbox() else { return };
    // Pinned, so the table shows v0.1.0 as in the story.
    let _operator = start_operator(&s, &[("strategy", "pinned")]);
    apply_redis_promise(&s);
    // The promise's columns, as Kratix's controller fills them.
    let promise = wait_for(&s, &["get", "promise", "redis", "--no-headers"], |out| {
        out.contains("Available")
    });
    assert_eq!(
        promise.split_whitespace().take(5).collect::<Vec<_>>(),
        [
            "redis",
            "Available",
            "redis",
            "marketplace.kratix.io/v1alpha1",
            "v0.1.0"
        ],
        "{promise}"
    );
    s.apply("apiVersion: marketplace.kratix.io/v1alpha1\nkind: redis\nmetadata: {name: example, namespace: default}\nspec: {size: small}\n");
    let story = [
        "-n",
        "default",
        "get",
        "resourcebindings",
        "-l",
        "kratix.io/promise-name=redis",
        "-l",
        "kratix.io/resource-name=example",
    ];
    let out = wait_for(&s, &story, |out| out.contains("v0.1.0    v0.1.0"));
    let row: Vec<&str> = out
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        &row[..5],
        [
            "example-redis-e7f90",
            "example",
            "redis",
            "v0.1.0",
            "v0.1.0"
        ],
        "{out}"
    );

    // The request's columns say what Kratix's would, and it can be waited on.
    s.ok(&[
        "wait",
        "--for=condition=Reconciled",
        "redis/example",
        "--timeout=20s",
    ]);
    let columns = s.ok(&["get", "redis", "example", "--no-headers"]);
    assert_eq!(
        columns.split_whitespace().collect::<Vec<_>>(),
        ["example", "Resource", "requested", "Reconciled"],
        "{columns}"
    );
    // And the run's summary as Kratix keeps it: readiness checks that
    // compare `observedGeneration` with the generation (kstatus, which
    // Flux's health checks use) can wait on it.
    s.ok(&[
        "wait",
        "--for=jsonpath={.status.observedGeneration}=1",
        "redis/example",
        "--timeout=20s",
    ]);
    let summary = s.ok(&[
        "get",
        "redis",
        "example",
        "-o",
        "jsonpath={.status.workflows} {.status.workflowsSucceeded} {.status.workflowsFailed} {.status.kratix.workflows.pipelines[*].phase}",
    ]);
    assert_eq!(summary, "1 1 0 Succeeded");

    // kbind's writes are its own in the fields' ownership, as a controller
    // names itself: what it set on the request and the binding it made.
    let managers = s.ok(&[
        "get",
        "redis",
        "example",
        "-o",
        "jsonpath={range .metadata.managedFields[*]}{.manager}:{.subresource} {end}",
    ]);
    assert!(
        managers.split_whitespace().any(|m| m == "kbind:")
            && managers.split_whitespace().any(|m| m == "kbind:status"),
        "{managers}"
    );
    let managers = s.ok(&[
        "get",
        "resourcebinding",
        "example-redis-e7f90",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert!(
        managers.split_whitespace().all(|m| m == "kbind"),
        "{managers}"
    );
    assert!(!managers.is_empty());

    // Publish v0.2.0, upgrade by editing the binding.
    publish_redis(&s, "v0.2.0");
    s.ok(&[
        "patch",
        "resourcebinding",
        "example-redis-e7f90",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"version":"v0.2.0"}}"#,
    ]);
    let out = wait_for(&s, &story, |out| out.contains("v0.2.0    v0.2.0"));
    assert!(out.contains("v0.2.0    v0.2.0"), "{out}");
    // The policy's reason names the edit; the Event says it once.
    let allowed = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=EditAllowed",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert_eq!(allowed, "edits are not restricted; v0.1.0 -> v0.2.0");
    let jobs = s.ok(&[
        "get",
        "jobs",
        "-o",
        "jsonpath={range .items[*]}{.metadata.labels.kbind\\.io/promise-version} {end}",
    ]);
    assert_eq!(jobs.trim(), "v0.1.0 v0.2.0", "one workflow per version");
    // The Jobs end as a 1.32 Job controller ends them (start and completion
    // times, `SuccessCriteriaMet` before `Complete`): the DURATION column
    // has a value, as on a cluster.
    let table = s.ok(&["get", "jobs", "--no-headers"]);
    for row in table.lines() {
        let columns: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            columns.len(),
            5,
            "NAME STATUS COMPLETIONS DURATION AGE: {row}"
        );
        assert_eq!(columns[1], "Complete", "{row}");
        assert!(columns[3].ends_with('s'), "a duration: {row}");
    }
    let conditions = s.ok(&[
        "get",
        "jobs",
        "-o",
        "jsonpath={range .items[*]}{range .status.conditions[*]}{.type} {end}{end}",
    ]);
    assert_eq!(
        conditions.trim(),
        "SuccessCriteriaMet Complete SuccessCriteriaMet Complete"
    );

    // Deleting the request removes its binding.
    s.ok(&["delete", "redis", "example"]);
    let out = wait_for(&s, &["get", "resourcebindings", "-o", "name"], |out| {
        out.trim().is_empty()
    });
    assert!(out.trim().is_empty(), "{out}");

    // The same request made again is another object (another uid), and
    // `kubectl describe` shows its Events, not the first one's: its run at
    // v0.2.0 says what the first object's upgrade said, word for word.
    s.apply("apiVersion: marketplace.kratix.io/v1alpha1\nkind: redis\nmetadata: {name: example, namespace: default}\nspec: {size: small}\n");
    let out = wait_for(&s, &story, |out| out.contains("v0.2.0    v0.2.0"));
    assert!(out.contains("v0.2.0    v0.2.0"), "{out}");
    let described = wait_for(&s, &["describe", "redis", "example"], |out| {
        out.contains("ReconcileSucceeded")
    });
    for reason in ["BindingCreated", "ReconcileStarted", "ReconcileSucceeded"] {
        assert!(
            described.contains(reason),
            "{reason} missing from the new object's Events:\n{described}"
        );
    }
}

/// A pipeline a real server refuses (here a container that mounts its own
/// volume where Kratix's shared directory already is: "must be unique")
/// cannot run; the operator says why on the request, as a Warning Event
/// the user finds with kubectl, and keeps retrying with backoff (the
/// Promise may be fixed).
#[test]
fn a_workflow_job_the_server_refuses_is_a_warning_on_the_request() {
    let Some(s) = sandbox() else { return };
    let _operator = start_operator(&s, &[]);
    let warnings = a_widget_that_cannot_start(
        &s,
        "            volumes: [{name: scratch, emptyDir: {}}]
            containers:
              - name: build
                image: example.com/widget-build:v1
                volumeMounts: [{name: scratch, mountPath: /kratix/output}]
",
    );
    assert!(
        warnings.contains("Widget/one WorkflowCannotStart: workflow Job one-widget-configure-1 cannot be created: ")
            && warnings.contains(
                "spec.template.spec.initContainers[1].volumeMounts[3].mountPath: Invalid value: \"/kratix/output\": must be unique"
            ),
        "{warnings}"
    );
    assert_eq!(
        s.ok(&["get", "jobs", "-o", "name"]).trim(),
        "",
        "no Job was made"
    );
}

/// A pipeline container asking for more memory than its limit: a real
/// server refuses the Job (`ValidateContainerResourceRequirements`), and
/// the request says so, where the sandbox used to run it.
#[test]
fn a_pipeline_requesting_more_than_its_limit_is_a_warning_on_the_request() {
    let Some(s) = sandbox() else { return };
    let _operator = start_operator(&s, &[]);
    let warnings = a_widget_that_cannot_start(
        &s,
        "            containers:
              - name: build
                image: example.com/widget-build:v1
                resources: {requests: {cpu: 0.5, memory: 1Gi}, limits: {cpu: 1, memory: 512Mi}}
",
    );
    assert!(
        warnings.contains(
            "spec.template.spec.initContainers[1].resources.requests: Invalid value: \"1Gi\": must be less than or equal to memory limit of 512Mi"
        ),
        "{warnings}"
    );
    assert_eq!(s.ok(&["get", "jobs", "-o", "name"]).trim(), "");
}

/// A pipeline container whose security context a real server refuses
/// (privileged, yet escalation forbidden): refused here too, and said on
/// the request.
#[test]
fn a_pipeline_with_a_contradictory_security_context_is_a_warning_on_the_request() {
    let Some(s) = sandbox() else { return };
    let _operator = start_operator(&s, &[]);
    let warnings = a_widget_that_cannot_start(
        &s,
        "            containers:
              - name: build
                image: example.com/widget-build:v1
                securityContext: {privileged: true, allowPrivilegeEscalation: false, runAsUser: -5}
",
    );
    for expected in [
        "securityContext.runAsUser: Invalid value: -5: must be between 0 and 2147483647, inclusive",
        "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
    ] {
        assert!(
            warnings.contains(expected),
            "{expected}\nnot in:\n{warnings}"
        );
    }
}

/// Quantities as the decoder reads them: stored canonical (`0.5` is
/// `500m`), and a string outside the grammar the 400 a real server gives.
#[test]
fn kubectl_quantities_are_stored_canonical_and_malformed_ones_refused() {
    let Some(s) = sandbox() else { return };
    let job = |memory: &str| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: sized, namespace: default}}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: main\n        image: busybox\n        resources: {{requests: {{cpu: 0.5, memory: {memory}}}, limits: {{cpu: 1000m}}}}\n"
        )
    };
    let bad = s.write("bad-job.yaml", &job("1Gb"));
    let o = s.kubectl(&["apply", "-f", &bad]);
    assert!(
        text(&o.stderr).contains(
            "Job in version \"v1\" cannot be handled as a Job: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        ),
        "{}",
        text(&o.stderr)
    );
    s.apply(&job("1024Mi"));
    let stored = s.ok(&[
        "get",
        "job",
        "sized",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].resources}",
    ]);
    assert_eq!(
        stored,
        r#"{"limits":{"cpu":"1"},"requests":{"cpu":"500m","memory":"1Gi"}}"#
    );
}

/// The `widget` Promise with `pipeline_spec`, a request `one`, and the
/// `WorkflowCannotStart` warnings once one names it.
fn a_widget_that_cannot_start(s: &Sandbox, pipeline_spec: &str) -> String {
    s.apply(&widget_promise(pipeline_spec));
    wait_for(s, &["api-resources"], |out| out.contains("example.com"));
    s.apply("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: one, namespace: default}\nspec: {}\n");
    warnings(s, "reason=WorkflowCannotStart", |out| {
        out.contains("Widget/one")
    })
}

/// A Promise `widget` whose one configure pipeline has `pipeline_spec`
/// (YAML indented as a pipeline's `spec` fields).
fn widget_promise(pipeline_spec: &str) -> String {
    format!(
        r#"apiVersion: platform.kratix.io/v1alpha1
kind: Promise
metadata: {{name: widget, labels: {{kratix.io/promise-version: v1.0.0}}}}
spec:
  api:
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata: {{name: widgets.example.com}}
    spec:
      group: example.com
      names: {{kind: Widget, plural: widgets, singular: widget}}
      scope: Namespaced
      versions:
        - name: v1
          served: true
          storage: true
          schema: {{openAPIV3Schema: {{type: object, properties: {{spec: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}}}}}
  workflows:
    resource:
      configure:
        - apiVersion: platform.kratix.io/v1alpha1
          kind: Pipeline
          metadata: {{name: configure}}
          spec:
{pipeline_spec}"#
    )
}

/// A Promise whose new `spec.api` a real server will not take (here its
/// version renamed, while objects are stored at the old one) cannot be
/// reconciled; the Promise says why in a Warning Event the platform team
/// finds with kubectl, not only the operator's log.
#[test]
fn a_promise_whose_api_change_the_server_refuses_says_why() {
    let Some(s) = sandbox() else { return };
    let _operator = start_operator(&s, &[]);
    let promise = std::fs::read_to_string(fixture("promise-redis.yaml")).unwrap();
    s.apply(&promise);
    wait_for(&s, &["api-resources"], |out| {
        out.contains("marketplace.kratix.io")
    });
    s.apply(
        &promise
            .replace("- name: v1alpha1", "- name: v1alpha2")
            .replace("promise-version: v0.1.0", "promise-version: v0.2.0"),
    );
    let warnings = warnings(&s, "involvedObject.kind=Promise", |out| {
        out.contains("PromiseWriteRefused")
    });
    assert!(
        warnings.contains("Promise/redis PromiseWriteRefused: the API server refused to patch CustomResourceDefinition/redis.marketplace.kratix.io")
            && warnings.contains("status.storedVersions[0]: Invalid value: \"v1alpha1\": must appear in spec.versions"),
        "{warnings}"
    );
}

/// Deleting a namespace that holds a request whose Promise has a delete
/// workflow: nothing can be created in a terminating namespace, so the
/// workflow cannot run and the request's finalizers hold the namespace in
/// Terminating. The Promise says so, with the command that lets it go.
#[test]
fn a_request_in_a_namespace_being_deleted_says_what_holds_it() {
    let Some(s) = sandbox() else { return };
    let _operator = start_operator(&s, &[]);
    apply_redis_promise(&s);
    s.ok(&["create", "namespace", "team-a"]);
    s.apply("apiVersion: marketplace.kratix.io/v1alpha1\nkind: redis\nmetadata: {name: example, namespace: team-a}\nspec: {size: small}\n");
    wait_for(&s, &["-n", "team-a", "get", "redis", "example"], |out| {
        out.contains("Reconciled")
    });
    s.ok(&["delete", "namespace", "team-a", "--wait=false"]);
    let warnings = warnings(
        &s,
        "involvedObject.kind=Promise,reason=PromiseWriteRefused",
        |out| out.contains("team-a"),
    );
    assert!(
        warnings.contains(
            "request team-a/example cannot run its workflow: namespace team-a is being deleted"
        ) && warnings.contains(
            "unable to create new content in namespace team-a because it is being terminated"
        ),
        "{warnings}"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "namespace",
            "team-a",
            "-o",
            "jsonpath={.status.phase}"
        ]),
        "Terminating"
    );
    // The command the Event gives lets the namespace go.
    s.ok(&[
        "-n",
        "team-a",
        "patch",
        "redis",
        "example",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    let gone = wait_for(&s, &["get", "namespaces", "-o", "name"], |out| {
        !out.contains("namespace/team-a")
    });
    assert!(!gone.contains("namespace/team-a"), "{gone}");
}

/// The user story's upgrade step with `kubectl apply --server-side` (as a
/// GitOps tool applies): kbind made the binding, so it owns `spec.version`
/// and the apply meets the real server's conflict naming it, as with
/// Kratix's controller; `--force-conflicts` takes the field over and the
/// upgrade runs. A client-side apply or a patch never conflicts.
#[test]
fn a_server_side_apply_of_a_bindings_version_conflicts_with_kbind_until_forced() {
    let Some(s) = sandbox() else { return };
    let _operator = start_operator(&s, &[("strategy", "pinned")]);
    apply_redis_promise(&s);
    s.apply("apiVersion: marketplace.kratix.io/v1alpha1\nkind: redis\nmetadata: {name: example, namespace: default}\nspec: {size: small}\n");
    let bindings = ["get", "resourcebindings", "--no-headers"];
    // VERSION and APPLIED.
    let at = |out: &str, version: &str| {
        let columns: Vec<&str> = out.split_whitespace().collect();
        columns.get(3..5) == Some(&[version, version][..])
    };
    wait_for(&s, &bindings, |out| at(out, "v0.1.0"));
    publish_redis(&s, "v0.2.0");
    let path = s._dir.path().join("binding.yaml");
    std::fs::write(
        &path,
        "apiVersion: platform.kratix.io/v1alpha1\nkind: ResourceBinding\nmetadata: {name: example-redis-e7f90, namespace: default}\nspec: {version: v0.2.0}\n",
    )
    .unwrap();
    let path = path.to_str().unwrap();
    let refused = s.kubectl(&["apply", "--server-side", "-f", path]);
    let forced = s.kubectl(&["apply", "--server-side", "--force-conflicts", "-f", path]);
    let out = wait_for(&s, &bindings, |out| at(out, "v0.2.0"));
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains(
            r#"Apply failed with 1 conflict: conflict with "kbind" using platform.kratix.io/v1alpha1: .spec.version"#
        ),
        "{}",
        text(&refused.stderr)
    );
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    assert!(at(&out, "v0.2.0"), "{out}");
    // An edit of the request: its generation is observed once the run for
    // it succeeded, which `kubectl wait` can wait for.
    s.ok(&[
        "patch",
        "redis",
        "example",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"size":"large"}}"#,
    ]);
    s.ok(&[
        "wait",
        "--for=jsonpath={.status.observedGeneration}=2",
        "redis/example",
        "--timeout=20s",
    ]);
}

/// A Promise whose API is cluster-scoped: its requests have no namespace
/// for a binding or workflow Jobs. kbind says so on each request instead of
/// failing its binding's create forever (400 "a namespace is required"),
/// and such a request deletes at once.
#[test]
fn a_cluster_scoped_request_is_told_it_is_not_bound() {
    let Some(s) = sandbox() else { return };
    let _operator = start_operator(&s, &[]);
    let promise = std::fs::read_to_string(fixture("promise-redis.yaml"))
        .unwrap()
        .replace("scope: Namespaced", "scope: Cluster");
    s.apply(&promise);
    wait_for(&s, &["api-resources"], |out| {
        out.contains("marketplace.kratix.io")
    });
    s.apply("apiVersion: marketplace.kratix.io/v1alpha1\nkind: redis\nmetadata: {name: global}\nspec: {size: small}\n");
    let warnings = warnings(&s, "reason=ClusterScopedRequestUnsupported", |out| {
        out.contains("global")
    });
    assert!(
        warnings.contains(
            "redis/global ClusterScopedRequestUnsupported: redis global is cluster-scoped: kbind reconciles namespaced requests only"
        ),
        "{warnings}"
    );
    assert_eq!(
        s.ok(&["get", "resourcebindings", "-A", "-o", "name"])
            .trim(),
        ""
    );
    assert_eq!(
        s.ok(&[
            "get",
            "redis",
            "global",
            "-o",
            "jsonpath={.metadata.finalizers}"
        ]),
        "",
        "nothing holds it"
    );
    s.ok(&["delete", "redis", "global", "--timeout=10s"]);
}

/// A workflow Job's pod is made by the server's Job controller and run by
/// the simulated node, so what a user debugging a workflow types on a
/// cluster works: `kubectl get pods` shows it `Completed`, `kubectl logs
/// job/<name>` finds it (and says no container ran here), `kubectl
/// describe job` shows the Job controller's Events, and deleting the Job
/// in the background takes its pod with it.
#[test]
fn a_workflow_jobs_pod_shows_in_kubectl_get_logs_and_describe() {
    let Some(s) = sandbox() else { return };
    let _operator = start_operator(&s, &[("strategy", "pinned")]);
    apply_redis_promise(&s);
    wait_for(&s, &["get", "promise", "redis", "--no-headers"], |out| {
        out.contains("Available")
    });
    s.apply("apiVersion: marketplace.kratix.io/v1alpha1\nkind: redis\nmetadata: {name: example, namespace: default}\nspec: {size: small}\n");
    s.ok(&[
        "wait",
        "--for=condition=Reconciled",
        "redis/example",
        "--timeout=20s",
    ]);
    let job = s.ok(&[
        "get",
        "jobs",
        "-l",
        "kratix.io/resource-name=example",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    let pods = s.ok(&["get", "pods", "-l", &format!("job-name={job}")]);
    let row: Vec<&str> = pods
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert!(
        row.first()
            .is_some_and(|n| n.starts_with(&format!("{job}-")))
            && row[1..4] == ["0/1", "Completed", "0"],
        "{pods}"
    );
    // The simulated node registered itself, as a kubelet does, and the
    // pod is on it.
    let nodes = s.ok(&["get", "nodes", "--no-headers"]);
    assert_eq!(
        nodes.split_whitespace().take(3).collect::<Vec<_>>(),
        ["kbind-node", "Ready", "<none>"],
        "{nodes}"
    );
    let placed = s.ok(&[
        "get",
        "pods",
        "-l",
        &format!("job-name={job}"),
        "-o",
        "wide",
        "--no-headers",
    ]);
    assert_eq!(
        placed.split_whitespace().nth(6),
        Some("kbind-node"),
        "{placed}"
    );
    let node = s.ok(&["describe", "node", "kbind-node"]);
    assert!(
        node.contains("KubeletReady")
            && node.contains("InternalIP:  127.0.0.1")
            && node.contains("HolderIdentity:  kbind-node")
            && node.contains("Taints:             kbind.io/simulated-node=true:NoSchedule"),
        "{node}"
    );
    let log = s.ok(&["logs", &format!("job/{job}")]);
    assert!(
        log.contains("runs no containers")
            && log.contains("\"status-writer\"")
            && log.contains("exit code 0"),
        "{log}"
    );
    let step = s.ok(&["logs", &format!("job/{job}"), "-c", "reader"]);
    assert!(step.contains("\"reader\""), "{step}");
    let missing = s.kubectl(&["logs", &format!("job/{job}"), "-c", "nope"]);
    assert!(
        text(&missing.stderr).contains("container nope is not valid for pod"),
        "{}",
        text(&missing.stderr)
    );
    let described = s.ok(&["describe", "job", &job]);
    assert!(
        described.contains("SuccessfulCreate")
            && described.contains("Created pod: ")
            && described.contains("Completed")
            && described.contains("job-controller"),
        "{described}"
    );
    s.ok(&["delete", "job", &job, "--cascade=background", "--wait=true"]);
    wait_for(
        &s,
        &[
            "get",
            "pods",
            "-l",
            &format!("job-name={job}"),
            "-o",
            "name",
        ],
        |out| out.trim().is_empty(),
    );
}

/// A cluster's TTL-after-finished controller deletes a finished workflow
/// Job once `--job-ttl` runs out: the request stays reconciled, its binding
/// at the version it ran, and a Job gone is not a run to repeat.
#[test]
fn a_workflow_job_its_ttl_deletes_is_not_run_again() {
    let Some(s) = sandbox() else { return };
    let mut controller = kbind::operator::ControllerOptions::default();
    controller.workflows.ttl_seconds_after_finished = Some(1);
    let _operator = start_operator_with(
        &s,
        &[],
        kbind::operator::OperatorOptions {
            runner: Some(kbind::operator::SimulatedRunner::default()),
            controller,
            ..Default::default()
        },
    );
    apply_redis_promise(&s);
    s.apply("apiVersion: marketplace.kratix.io/v1alpha1\nkind: redis\nmetadata: {name: example, namespace: default}\nspec: {size: small}\n");
    s.ok(&[
        "wait",
        "--for=create",
        "job/example-redis-configure-1",
        "--timeout=20s",
    ]);
    s.ok(&[
        "wait",
        "--for=delete",
        "job/example-redis-configure-1",
        "--timeout=20s",
    ]);
    // Time for a reconcile that would start the workflow again.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(s.ok(&["get", "jobs", "-o", "name"]), "");
    assert_eq!(
        s.ok(&[
            "get",
            "redis",
            "example",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Reconciled\")].status} {.status.promiseVersion}"
        ]),
        "True v0.1.0"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "resourcebindings",
            "-l",
            "kratix.io/resource-name=example",
            "-o",
            "jsonpath={.items[0].status.lastAppliedVersion}"
        ]),
        "v0.1.0"
    );
}

#[test]
fn kubectl_pages_through_lists_with_limit_and_continue() {
    let Some(s) = sandbox() else { return };
    for i in 0..5 {
        s.apply(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: page-{i}\n  namespace: default\n"
        ));
    }
    // --chunk-size makes kubectl request limit=2 and follow the continue tokens.
    let o = s.kubectl(&["get", "configmaps", "--chunk-size=2", "-o", "name", "-v=6"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let names: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("configmap/page-"))
        .collect();
    assert_eq!(names.len(), 5, "{out}");
    let log = text(&o.stderr);
    assert!(
        log.contains("limit=2") && log.contains("continue="),
        "kubectl paged: {log}"
    );
    // kubectl's default output asks for a server-side Table, and it follows the
    // Table's own `continue`, as a real server's table convertors copy it from the list.
    let o = s.kubectl(&["get", "configmaps", "--chunk-size=2", "--no-headers"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("page-")).collect();
    assert_eq!(rows.len(), 5, "every page of the table: {out}");
}

fn deploy_file(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(name)
        .to_str()
        .expect("utf-8")
        .to_string()
}

/// `deploy/` as the README installs it, through kubectl, against a server
/// that checks Deployments as a real one does: accepted without a Pod
/// Security warning in the namespace's restricted level, defaulted, listed;
/// then the registry policy's ConfigMap and Deployment patch, as the
/// comments in `deploy/registry/policy.yaml` say to run them. (The patch once
/// lived in the same file, which `kubectl patch --patch-file` reads as its
/// first document only: a ConfigMap patched onto the Deployment, refused.)
#[test]
fn the_deploy_manifests_pass_a_servers_checks_and_the_registry_patch_applies() {
    let Some(s) = sandbox() else { return };
    // The whole directory, as users apply it: the default install alone
    // (the registry variant is kept in a directory of its own).
    let o = s.kubectl(&["apply", "-f", &deploy_file("")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        !text(&o.stderr).contains("Warning"),
        "the operator's pods meet the namespace's restricted level: {}",
        text(&o.stderr)
    );
    // Its controller makes the two pods, which the restricted level
    // admits; no node reports them ready here.
    let wanted = ["kbind-operator", "0/2", "2", "0"];
    let row = wait_for(
        &s,
        &["-n", "kbind-system", "get", "deploy", "--no-headers"],
        |row| row.split_whitespace().take(4).eq(wanted),
    );
    assert!(row.split_whitespace().take(4).eq(wanted), "{row}");
    let pods = s.ok(&["-n", "kbind-system", "get", "pods", "--no-headers"]);
    assert_eq!(
        pods.lines().filter(|l| l.contains("Pending")).count(),
        2,
        "{pods}"
    );
    let defaulted = s.ok(&[
        "-n",
        "kbind-system",
        "get",
        "deployment",
        "kbind-operator",
        "-o",
        "jsonpath={.spec.strategy.rollingUpdate.maxSurge} {.spec.revisionHistoryLimit} {.spec.template.spec.containers[0].livenessProbe.timeoutSeconds} {.spec.template.spec.containers[0].livenessProbe.httpGet.scheme} {.status.unavailableReplicas} {.status.conditions[?(@.type==\"Available\")].reason}",
    ]);
    assert_eq!(defaulted, "25% 10 1 HTTP 2 MinimumReplicasUnavailable");

    s.ok(&["apply", "-f", &deploy_file("registry/policy.yaml")]);
    s.ok(&[
        "-n",
        "kbind-system",
        "patch",
        "deployment",
        "kbind-operator",
        "--patch-file",
        &deploy_file("registry/operator-patch.yaml"),
    ]);
    let patched: serde_json::Value = serde_json::from_str(&s.ok(&[
        "-n",
        "kbind-system",
        "get",
        "deployment",
        "kbind-operator",
        "-o",
        "json",
    ]))
    .expect("json");
    let pod = &patched["spec"]["template"]["spec"];
    let containers: Vec<&serde_json::Value> = pod["initContainers"]
        .as_array()
        .into_iter()
        .chain(pod["containers"].as_array())
        .flatten()
        .collect();
    assert_eq!(containers.len(), 2);
    for c in containers {
        let args = c["args"].to_string();
        assert!(
            args.contains("--registry-config=/etc/kbind-registry/.dockerconfigjson"),
            "{} pulls with the secret: {args}",
            c["name"]
        );
        assert!(
            c["volumeMounts"]
                .to_string()
                .contains("/etc/kbind-registry"),
            "{} mounts it",
            c["name"]
        );
    }
    assert_eq!(pod["volumes"][2]["secret"]["secretName"], "kbind-registry");
    // The patch did not take the rest away (what `kubectl apply` of a
    // partial Deployment would have done).
    assert_eq!(
        pod["containers"][0]["readinessProbe"]["httpGet"]["path"],
        "/readyz"
    );
    assert_eq!(patched["spec"]["replicas"], 2);
}

/// A Deployment a real server refuses, refused with its words; a
/// Deployment `kubectl create` sends as protobuf keeps an explicit zero.
#[test]
fn kubectl_deployments_are_validated_and_created_as_a_real_server_does() {
    let Some(s) = sandbox() else { return };
    let bad = s.write(
        "bad-deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\n  namespace: default\nspec:\n  selector:\n    matchLabels: {app: web}\n  strategy:\n    rollingUpdate: {maxSurge: 0, maxUnavailable: 0}\n  template:\n    metadata:\n      labels: {app: api}\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: web\n        image: nginx:1.27\n",
    );
    let o = s.kubectl(&["apply", "-f", &bad]);
    assert!(!o.status.success());
    let said = text(&o.stderr);
    for line in [
        "The Deployment \"bad\" is invalid: ",
        "* spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"api\"}: `selector` does not match template `labels`",
        "* spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
        "* spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0",
    ] {
        assert!(said.contains(line), "{line}\nnot in:\n{said}");
    }
    s.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=0",
        "--port=80",
    ]);
    let stored = s.ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].ports[0].protocol} {.metadata.generation}",
    ]);
    assert_eq!(stored, "0 web TCP 1");
    // The selector is fixed once the Deployment exists.
    let o = s.kubectl(&[
        "patch",
        "deployment",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"selector":{"matchLabels":{"app":"web2"}},"template":{"metadata":{"labels":{"app":"web2"}}}}}"#,
    ]);
    assert!(
        text(&o.stderr).contains("spec.selector: Invalid value: ")
            && text(&o.stderr).contains("field is immutable"),
        "{}",
        text(&o.stderr)
    );
    let all = s.ok(&["get", "all", "--no-headers"]);
    assert!(all.contains("deployment.apps/web"), "{all}");
    // Pod Security warns of a template that breaks a namespace's level.
    s.ok(&["create", "namespace", "strict"]);
    s.ok(&[
        "label",
        "namespace",
        "strict",
        "pod-security.kubernetes.io/enforce=restricted",
    ]);
    let o = s.kubectl(&[
        "-n",
        "strict",
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("Warning: would violate PodSecurity \"restricted:latest\""),
        "{}",
        text(&o.stderr)
    );
    // `kubectl scale` through the scale subresource: a patch, then (with a
    // precondition) a replace of the Scale under its resourceVersion.
    s.ok(&["scale", "deployment", "web", "--replicas=3"]);
    s.ok(&[
        "scale",
        "deployment",
        "web",
        "--current-replicas=3",
        "--replicas=2",
    ]);
    let scaled = s.ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.spec.replicas} {.metadata.generation}",
    ]);
    assert_eq!(scaled, "2 3");
    let scale = s.ok(&[
        "get",
        "--raw",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
    ]);
    let scale: serde_json::Value = serde_json::from_str(&scale).expect("json");
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 2);
    assert_eq!(scale["status"]["selector"], "app=web");
    let negative = s.write(
        "scale.json",
        r#"{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web","namespace":"default"},"spec":{"replicas":-1}}"#,
    );
    let o = s.kubectl(&[
        "replace",
        "--raw",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        "-f",
        &negative,
    ]);
    assert!(
        text(&o.stderr)
            .contains("spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
        "{}",
        text(&o.stderr)
    );
}

/// The first commands a user runs against a cluster: `kubectl cluster-info`
/// lists the control plane (it reads Services, which the server now keeps,
/// with the `kubernetes` one it keeps for itself); Services get their
/// cluster IP and node ports, keep them through a `kubectl replace` of the
/// manifest that named none, and are refused in `ValidateService`'s words.
#[test]
fn kubectl_cluster_info_and_services_behave_as_on_a_cluster() {
    let Some(s) = sandbox() else { return };
    let info = s.ok(&["cluster-info"]);
    assert!(
        info.contains("Kubernetes control plane is running at https://127.0.0.1:"),
        "{info}"
    );
    let row = s.ok(&["get", "svc", "kubernetes", "--no-headers"]);
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells[..5],
        ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"],
        "{row}"
    );
    // Its endpoint is the server itself.
    let port = s.running.addr.port();
    let endpoints = s.ok(&["get", "endpoints", "kubernetes", "--no-headers"]);
    assert!(
        endpoints.contains(&format!("127.0.0.1:{port}")),
        "{endpoints}"
    );
    // `kubectl create service` sends protobuf.
    s.ok(&["create", "service", "nodeport", "web", "--tcp=8080:80"]);
    let allocated = s.ok(&[
        "get",
        "svc",
        "web",
        "-o",
        "jsonpath={.spec.clusterIP} {.spec.ports[0].nodePort} {.spec.ports[0].targetPort} {.spec.externalTrafficPolicy} {.spec.ipFamilyPolicy}",
    ]);
    let fields: Vec<&str> = allocated.split(' ').collect();
    assert!(fields[0].starts_with("10.96."), "{allocated}");
    assert_eq!(fields[1..], ["30086", "80", "Cluster", "SingleStack"]);
    // The manifest as first written, without what was allocated.
    let manifest = s.write(
        "web-service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec:\n  type: NodePort\n  selector: {app: web}\n  ports: [{name: 8080-80, port: 8080, targetPort: 80}]\n",
    );
    s.ok(&["replace", "-f", &manifest]);
    let kept = s.ok(&[
        "get",
        "svc",
        "web",
        "-o",
        "jsonpath={.spec.clusterIP} {.spec.ports[0].nodePort}",
    ]);
    assert_eq!(kept, format!("{} 30086", fields[0]));
    let o = s.kubectl(&[
        "patch",
        "svc",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"clusterIP":"10.96.0.99"}}"#,
    ]);
    assert!(
        text(&o.stderr)
            .contains("spec.clusterIP: Invalid value: \"10.96.0.99\": field is immutable"),
        "{}",
        text(&o.stderr)
    );
    // A type that no longer uses the node port lets it go; one that does
    // gets one again.
    let retype = |to: &str| {
        let patch = format!(r#"{{"spec":{{"type":"{to}"}}}}"#);
        s.ok(&["patch", "svc", "web", "--type=merge", "-p", &patch]);
        s.ok(&[
            "get",
            "svc",
            "web",
            "-o",
            "jsonpath={.spec.type} {.spec.ports[0].nodePort}",
        ])
    };
    assert_eq!(retype("ClusterIP").trim(), "ClusterIP");
    assert_eq!(retype("NodePort"), "NodePort 30086");
    let bad = s.write(
        "bad-service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: bad, namespace: default}\nspec:\n  clusterIP: 10.96.0.1\n  ports: [{port: 80}]\n",
    );
    let o = s.kubectl(&["apply", "-f", &bad]);
    assert!(
        text(&o.stderr).contains(
            "spec.clusterIPs: Invalid value: []string{\"10.96.0.1\"}: failed to allocate IP 10.96.0.1: provided IP is already allocated"
        ),
        "{}",
        text(&o.stderr)
    );
    let o = s.kubectl(&["create", "service", "clusterip", "Bad_Name", "--tcp=80"]);
    assert!(
        text(&o.stderr)
            .contains("a DNS-1035 label must consist of lower case alphanumeric characters"),
        "{}",
        text(&o.stderr)
    );
}

/// A Deployment rolled out as on a cluster: its controller makes a
/// ReplicaSet per template and the ReplicaSet its pods, the node reports
/// them ready, and `kubectl rollout status` returns; a new image is a new
/// ReplicaSet with the old one scaled to zero, `kubectl scale` scales the
/// current one, and deleting the Deployment takes them all.
#[test]
fn kubectl_rolls_a_deployment_out_through_its_replica_sets() {
    let Some(s) = sandbox() else { return };
    let client = s
        .runtime
        .block_on(async { support::client_for(&s.running).await });
    let node = s
        .runtime
        .spawn(kbind::operator::SimulatedRunner::default().run(client));
    s.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.26",
        "--replicas=2",
    ]);
    s.ok(&["rollout", "status", "deployment/web", "--timeout=20s"]);
    let rs = s.ok(&["get", "rs", "-l", "app=web", "--no-headers"]);
    let cells: Vec<&str> = rs.split_whitespace().collect();
    assert!(cells[0].starts_with("web-"), "{rs}");
    assert_eq!(cells[1..4], ["2", "2", "2"], "{rs}");
    let first = cells[0].to_string();
    let pods = s.ok(&["get", "pods", "-l", "app=web", "--no-headers"]);
    assert_eq!(
        pods.lines()
            .filter(|l| l.contains("1/1") && l.contains("Running"))
            .count(),
        2,
        "{pods}"
    );
    // A Service in front of them: its Endpoints and EndpointSlice list the
    // pods' addresses (the node gives each one), which `kubectl describe`
    // reads.
    s.ok(&[
        "expose",
        "deployment",
        "web",
        "--port=8080",
        "--target-port=80",
    ]);
    let endpoints = wait_for(&s, &["get", "endpoints", "web", "--no-headers"], |out| {
        out.matches(":80").count() == 2
    });
    assert_eq!(endpoints.matches("10.244.").count(), 2, "{endpoints}");
    let described = s.ok(&["describe", "service", "web"]);
    let line = described
        .lines()
        .find(|l| l.starts_with("Endpoints:"))
        .unwrap_or_default();
    assert_eq!(line.matches("10.244.").count(), 2, "{described}");
    let slice = s.ok(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=web",
        "-o",
        "jsonpath={.items[0].addressType} {.items[0].ports[0].port} {.items[0].endpoints[*].conditions.ready}",
    ]);
    assert_eq!(slice, "IPv4 80 true true");
    s.ok(&["set", "image", "deployment/web", "nginx=nginx:1.27"]);
    s.ok(&["rollout", "status", "deployment/web", "--timeout=20s"]);
    let sets = s.ok(&[
        "get",
        "rs",
        "-l",
        "app=web",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.spec.replicas}:{.metadata.annotations.deployment\\.kubernetes\\.io/revision} {end}",
    ]);
    assert!(sets.contains(&format!("{first}=0:1")), "{sets}");
    assert_eq!(
        sets.split_whitespace()
            .filter(|s| s.ends_with("=2:2"))
            .count(),
        1,
        "{sets}"
    );
    // `kubectl rollout undo` puts the first template back: its ReplicaSet
    // is scaled up again and takes the next revision.
    s.ok(&["rollout", "undo", "deployment/web"]);
    s.ok(&["rollout", "status", "deployment/web", "--timeout=20s"]);
    let first_now = s.ok(&[
        "get",
        "rs",
        &first,
        "-o",
        "jsonpath={.spec.replicas}:{.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
    ]);
    assert_eq!(first_now, "2:3");
    let history = s.ok(&["rollout", "history", "deployment/web"]);
    let revisions: Vec<&str> = history
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(revisions, ["2", "3"], "{history}");
    // Paused, a new template makes no ReplicaSet until the rollout resumes.
    s.ok(&["rollout", "pause", "deployment/web"]);
    s.ok(&["set", "image", "deployment/web", "nginx=nginx:1.28"]);
    let progressing = wait_for(
        &s,
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}",
        ],
        |out| out == "DeploymentPaused",
    );
    assert_eq!(progressing, "DeploymentPaused");
    let sets = s.ok(&["get", "rs", "-l", "app=web", "-o", "name"]);
    assert_eq!(sets.lines().count(), 2, "{sets}");
    s.ok(&["rollout", "resume", "deployment/web"]);
    s.ok(&["rollout", "status", "deployment/web", "--timeout=20s"]);
    let sets = s.ok(&["get", "rs", "-l", "app=web", "-o", "name"]);
    assert_eq!(sets.lines().count(), 3, "{sets}");
    // `kubectl rollout restart` stamps the template: one more ReplicaSet.
    s.ok(&["rollout", "restart", "deployment/web"]);
    s.ok(&["rollout", "status", "deployment/web", "--timeout=20s"]);
    let sets = s.ok(&["get", "rs", "-l", "app=web", "-o", "name"]);
    assert_eq!(sets.lines().count(), 4, "{sets}");
    s.ok(&["scale", "deployment", "web", "--replicas=1"]);
    let pods = wait_for(
        &s,
        &["get", "pods", "-l", "app=web", "--no-headers"],
        |out| out.lines().filter(|l| l.contains("Running")).count() == 1,
    );
    assert_eq!(
        pods.lines().filter(|l| l.contains("Running")).count(),
        1,
        "{pods}"
    );
    let status = s.ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.status.readyReplicas}/{.status.replicas} {.status.conditions[?(@.type==\"Available\")].status}",
    ]);
    assert_eq!(status, "1/1 True");
    s.ok(&["delete", "deployment", "web"]);
    let left = wait_for(
        &s,
        &["get", "rs,pods", "-l", "app=web", "--no-headers"],
        |out| out.trim().is_empty(),
    );
    assert_eq!(
        left.trim(),
        "",
        "the collector takes the ReplicaSets and pods"
    );
    // Pods the API server refuses (their ServiceAccount is missing): the
    // ReplicaSet says so, and tries again until it can.
    let lonely = s.write(
        "lonely.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: lonely, namespace: default}\nspec:\n  selector: {matchLabels: {app: lonely}}\n  template:\n    metadata: {labels: {app: lonely}}\n    spec:\n      serviceAccountName: lonely\n      containers: [{name: main, image: busybox}]\n",
    );
    s.ok(&["apply", "-f", &lonely]);
    let condition = wait_for(
        &s,
        &[
            "get",
            "rs",
            "-l",
            "app=lonely",
            "-o",
            "jsonpath={.items[0].status.conditions[0].type} {.items[0].status.conditions[0].reason}",
        ],
        |out| !out.trim().is_empty(),
    );
    assert_eq!(condition, "ReplicaFailure FailedCreate");
    let events = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=FailedCreate",
        "-o",
        "jsonpath={.items[0].message}",
    ]);
    assert!(
        events.contains("serviceaccount \"lonely\" not found"),
        "{events}"
    );
    s.ok(&["create", "serviceaccount", "lonely"]);
    s.ok(&["rollout", "status", "deployment/lonely", "--timeout=30s"]);
    node.abort();
}
