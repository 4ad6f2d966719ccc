//! What the real kubectl meets on a real server, against the embedded one:
//! reads that never wedge it, objects refused as a real server refuses them,
//! CRDs with structural schemas that become Established, the status
//! subresource only where a CRD enables it, server-side dry runs, deletion
//! with cascade policies and terminating namespaces, Events found by the
//! object they are about.

use super::{Sandbox, crd_yaml, fixture, sandbox, text};
use std::path::Path;
use std::process::Command;

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

impl Sandbox {
    /// kubectl's output and error text, and whether it succeeded.
    fn run(&self, args: &[&str]) -> (bool, String) {
        let o = self.kubectl(args);
        (
            o.status.success(),
            format!("{}{}", text(&o.stdout), text(&o.stderr)),
        )
    }

    fn refused(&self, args: &[&str]) -> String {
        let (ok, out) = self.run(args);
        assert!(!ok, "kubectl {args:?} should have failed: {out}");
        out
    }

    /// A server-side dry run of applying `file`, until the server refuses
    /// it (a CRD's changed schema is served a moment after its update, as
    /// on a real server): the refusal, or the last answer after 10 s.
    fn refused_once_served(&self, file: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (ok, out) = self.run(&["apply", "--dry-run=server", "-f", file]);
            if !ok || std::time::Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Waits until `what` is gone, as a script must for what a controller
    /// deletes after the write that asked for it (`kubectl wait
    /// --for=delete`).
    fn gone(&self, what: &str) {
        self.ok(&["wait", "--for=delete", what, "--timeout=10s"]);
    }
}

/// An image pull secret as `kubectl create secret docker-registry` makes it.
fn create_pull_secret(s: &Sandbox) {
    s.ok(&[
        "create",
        "secret",
        "docker-registry",
        "pull",
        "--docker-server=r.example",
        "--docker-username=u",
        "--docker-password=p",
    ]);
}

const WIDGETS: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
";

#[test]
fn get_by_name_as_a_table_answers_and_the_server_keeps_serving() {
    let Some(s) = sandbox() else { return };
    s.apply_crd(&crd_yaml());
    s.ok(&[
        "apply",
        "-f",
        fixture("resourcebinding.yaml").to_str().unwrap(),
    ]);
    // kubectl's default output is a server-side Table: this request used to
    // lock the store twice and hang every request after it.
    let out = s.ok(&[
        "get",
        "resourcebinding",
        "example-redis-e7f90",
        "--request-timeout=5s",
    ]);
    assert!(
        out.lines()
            .nth(1)
            .unwrap_or_default()
            .starts_with("example-redis-e7f90"),
        "{out}"
    );
    let out = s.ok(&["get", "configmaps", "--request-timeout=5s"]);
    assert!(out.is_empty() || out.starts_with("NAME"), "{out}");
    s.ok(&["version", "--request-timeout=5s"]);
}

#[test]
fn names_and_labels_are_refused_as_a_real_server_refuses_them() {
    let Some(s) = sandbox() else { return };
    let out = s.refused(&[
        "apply",
        "-f",
        &s.write(
            "bad-name.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n",
        ),
    ]);
    assert!(
        out.contains("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of"),
        "{out}"
    );
    let long = "v".repeat(64);
    let out = s.refused(&[
        "apply",
        "-f",
        &s.write(
            "bad-label.yaml",
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: ok, labels: {{version: {long}}}}}\n"),
        ),
    ]);
    assert!(
        out.contains(&format!(
            "metadata.labels: Invalid value: \"{long}\": must be no more than 63 characters"
        )),
        "{out}"
    );
    let out = s.refused(&[
        "apply",
        "-f",
        &s.write(
            "bad-ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: team.a}\n",
        ),
    ]);
    assert!(
        out.contains("metadata.name: Invalid value: \"team.a\": must not contain dots"),
        "{out}"
    );

    // A Job's name is copied into a pod-template label by the Job strategy,
    // so a name a real cluster accepts for a ConfigMap is refused for a Job.
    let name = format!("example-redis-configure-{}", "x".repeat(50));
    let job = format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: {name}}}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: c, image: busybox}}]\n"
    );
    let out = s.refused(&["apply", "-f", &s.write("long-job.yaml", &job)]);
    assert!(
        // kubectl words the Status from its details: "The Job ... is invalid".
        out.contains(&format!("Job \"{name}\" is invalid"))
            && out.contains(&format!("spec.template.labels: Invalid value: \"{name}\": must be no more than 63 characters")),
        "{out}"
    );
    // What a pod template may not hold, worded as the real server words it
    // (kubectl prints each cause): a probe on a plain init container, a
    // container name that is no DNS label, a mount of a volume that is not
    // there, and a pod failure policy with a restart policy it cannot use.
    let bad_pod = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: bad-pod}\nspec:\n  podFailurePolicy: {rules: [{action: Ignore, onPodConditions: [{type: DisruptionTarget}]}]}\n  template:\n    spec:\n      restartPolicy: OnFailure\n      initContainers: [{name: wait, image: busybox, readinessProbe: {exec: {command: ['true']}}}]\n      containers: [{name: Main_Step, image: busybox, volumeMounts: [{name: data, mountPath: /data}]}]\n";
    let out = s.refused(&["apply", "-f", &s.write("bad-pod.yaml", bad_pod)]);
    for cause in [
        "spec.template.spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
        "spec.template.spec.containers[0].name: Invalid value: \"Main_Step\": a lowercase RFC 1123 label must consist of",
        "spec.template.spec.containers[0].volumeMounts[0].name: Not found: \"data\"",
        "spec.template.spec.restartPolicy: Invalid value: \"OnFailure\": only \"Never\" is supported when podFailurePolicy is specified",
    ] {
        assert!(out.contains(cause), "{cause:?} missing from:\n{out}");
    }
    // The same Job with a short name gets the labels and the selector.
    s.ok(&[
        "apply",
        "-f",
        &s.write("job.yaml", &job.replace(&name, "short")),
    ]);
    let labels = s.ok(&[
        "get",
        "job",
        "short",
        "-o",
        "jsonpath={.spec.template.metadata.labels.job-name} {.spec.selector.matchLabels}",
    ]);
    assert!(
        labels.starts_with("short {\"batch.kubernetes.io/controller-uid\":"),
        "{labels}"
    );

    // Finalizers: qualified names everywhere, and a built-in kind's without
    // a domain must be a standard one (custom resources may use any).
    let out = s.refused(&[
        "create",
        "-f",
        &s.write(
            "fin.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fin, finalizers: [kubernetes, cleanup, a/b/c, orphan, foregroundDeletion]}\n",
        ),
    ]);
    for cause in [
        r#"metadata.finalizers[1]: Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified"#,
        r#"metadata.finalizers: Invalid value: "a/b/c": a qualified name must consist of"#,
        r#"metadata.finalizers: Invalid value: []string{"kubernetes", "cleanup", "a/b/c", "orphan", "foregroundDeletion"}: finalizer orphan and foregroundDeletion cannot be both set"#,
    ] {
        assert!(out.contains(cause), "{cause:?} missing from:\n{out}");
    }
    assert!(!out.contains("finalizers[0]"), "{out}");
    // Go leaves empty metadata out: once the last finalizer is patched away,
    // and with labels set to nothing, neither is stored as an empty value.
    s.ok(&[
        "create",
        "-f",
        &s.write(
            "held.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, finalizers: [example.com/hold]}\n",
        ),
    ]);
    s.ok(&[
        "patch",
        "configmap",
        "held",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers/0"},{"op":"add","path":"/metadata/labels","value":{}}]"#,
    ]);
    let held = s.ok(&["get", "configmap", "held", "-o", "json"]);
    let held: serde_json::Value = serde_json::from_str(&held).unwrap();
    assert!(
        held["metadata"].get("finalizers").is_none() && held["metadata"].get("labels").is_none(),
        "{held}"
    );
    // Owner references name a version, kind, name and uid, and only one is
    // the controller.
    let owned = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: owned\n  ownerReferences:\n  - {apiVersion: v1, kind: ConfigMap, name: a, uid: '1', controller: true}\n  - {apiVersion: apps/, kind: '', name: b, uid: '', controller: true}\n  - {apiVersion: v1, kind: Event, name: e, uid: '3'}\n";
    let out = s.refused(&["create", "-f", &s.write("owned.yaml", owned)]);
    for cause in [
        r#"metadata.ownerReferences.apiVersion: Invalid value: "apps/": version must not be empty"#,
        r#"metadata.ownerReferences.kind: Invalid value: "": kind must not be empty"#,
        r#"metadata.ownerReferences.uid: Invalid value: "": uid must not be empty"#,
        "/v1, Kind=Event is disallowed from being an owner",
        r#"Only one reference can have Controller set to true. Found "true" in references for ConfigMap/a and /b"#,
    ] {
        assert!(out.contains(cause), "{cause:?} missing from:\n{out}");
    }
}

#[test]
fn crds_need_a_structural_schema_and_become_established() {
    let Some(s) = sandbox() else { return };
    let without = WIDGETS.replace(
        "      schema:\n        openAPIV3Schema:\n          type: object\n          x-kubernetes-preserve-unknown-fields: true\n",
        "",
    );
    let out = s.refused(&["apply", "-f", &s.write("no-schema.yaml", &without)]);
    assert!(
        out.contains(
            "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"
        ),
        "{out}"
    );
    let untyped = WIDGETS.replace(
        "          x-kubernetes-preserve-unknown-fields: true\n",
        "          properties:\n            spec: {description: no type}\n",
    );
    let out = s.refused(&["apply", "-f", &s.write("untyped.yaml", &untyped)]);
    assert!(
        out.contains("spec.validation.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"),
        "{out}"
    );
    let wrong_name = WIDGETS.replace("name: widgets.example.com", "name: gadgets.example.com");
    let out = s.refused(&["apply", "-f", &s.write("wrong-name.yaml", &wrong_name)]);
    assert!(
        out.contains("must be spec.names.plural+\".\"+spec.group"),
        "{out}"
    );

    s.ok(&["apply", "-f", &s.write("widgets.yaml", WIDGETS)]);
    s.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.com",
        "--timeout=10s",
    ]);
    let status = s.ok(&[
        "get",
        "crd",
        "widgets.example.com",
        "-o",
        "jsonpath={.status.storedVersions} {.status.acceptedNames.listKind} {.spec.names.singular}",
    ]);
    assert_eq!(status, "[\"v1\"] WidgetList widget");
    // A version objects were stored at cannot leave spec.versions while it
    // is in status.storedVersions (a Promise renaming its API's version
    // meets this on a cluster); served beside the new storage version, it
    // can, and both are then stored versions.
    let renamed = WIDGETS.replace("- name: v1\n", "- name: v2\n");
    let out = s.refused(&["apply", "-f", &s.write("widgets-v2.yaml", &renamed)]);
    assert!(
        out.contains(
            "status.storedVersions[0]: Invalid value: \"v1\": must appear in spec.versions"
        ),
        "{out}"
    );
    let both = format!(
        "{renamed}    - name: v1\n      served: true\n      storage: false\n      schema:\n        openAPIV3Schema:\n          type: object\n          x-kubernetes-preserve-unknown-fields: true\n"
    );
    s.ok(&["apply", "-f", &s.write("widgets-both.yaml", &both)]);
    assert_eq!(
        s.ok(&[
            "get",
            "crd",
            "widgets.example.com",
            "-o",
            "jsonpath={.status.storedVersions}"
        ]),
        "[\"v1\",\"v2\"]"
    );
}

#[test]
fn status_is_a_subresource_only_where_the_crd_enables_it() {
    let Some(s) = sandbox() else { return };
    s.ok(&["apply", "-f", &s.write("widgets.yaml", WIDGETS)]);
    s.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.com",
        "--timeout=10s",
    ]);
    let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 1}\nstatus: {phase: Ready}\n";
    s.ok(&["apply", "-f", &s.write("w.yaml", widget)]);
    // No subresource: status is an ordinary field, and /status is 404.
    assert_eq!(
        s.ok(&["get", "widget", "w", "-o", "jsonpath={.status.phase}"]),
        "Ready"
    );
    let out = s.refused(&[
        "patch",
        "widget",
        "w",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Gone"}}"#,
    ]);
    assert!(
        out.contains("NotFound") || out.contains("not found"),
        "{out}"
    );

    // With the subresource: the main resource ignores status, /status
    // ignores everything else.
    let with_status = WIDGETS.replace(
        "      storage: true\n",
        "      storage: true\n      subresources: {status: {}}\n",
    );
    s.ok(&["apply", "-f", &s.write("widgets-status.yaml", &with_status)]);
    s.ok(&[
        "apply",
        "-f",
        &s.write("w2.yaml", &widget.replace("name: w}", "name: w2}")),
    ]);
    assert_eq!(
        s.ok(&["get", "widget", "w2", "-o", "jsonpath={.status.phase}"]),
        ""
    );
    s.ok(&[
        "patch",
        "widget",
        "w2",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Ready"},"spec":{"size":9},"metadata":{"labels":{"x":"y"}}}"#,
    ]);
    assert_eq!(
        s.ok(&[
            "get",
            "widget",
            "w2",
            "-o",
            "jsonpath={.status.phase} {.spec.size} {.metadata.labels}"
        ]),
        "Ready 1 "
    );
}

#[test]
fn server_side_dry_runs_answer_and_store_nothing() {
    let Some(s) = sandbox() else { return };
    let cm = s.write(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: \"1\"}\n",
    );
    let out = s.ok(&["apply", "-f", &cm, "--dry-run=server"]);
    assert!(
        out.contains("configmap/settings created (server dry run)"),
        "{out}"
    );
    s.refused(&["get", "configmap", "settings"]);
    // A dry run is validated like the real thing.
    let bad = s.write(
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad}\n",
    );
    let out = s.refused(&["apply", "-f", &bad, "--dry-run=server"]);
    assert!(out.contains("is invalid"), "{out}");

    s.ok(&["apply", "-f", &cm]);
    let changed = s.write(
        "cm2.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: \"2\"}\n",
    );
    let o = s.kubectl(&["diff", "-f", &changed]);
    let out = text(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "kubectl diff exits 1 on a difference: {out}{}",
        text(&o.stderr)
    );
    assert!(
        out.contains("-  a: \"1\"") && out.contains("+  a: \"2\""),
        "{out}"
    );
    // The dry run answers at the version it was made against.
    assert!(!out.contains("resourceVersion"), "{out}");
    assert_eq!(
        s.ok(&["get", "configmap", "settings", "-o", "jsonpath={.data.a}"]),
        "1",
        "diff changed nothing"
    );
    // A patch that changes nothing is no write: same version, and kubectl
    // says so.
    let version = |s: &Sandbox| {
        s.ok(&[
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
    };
    let before = version(&s);
    let out = s.ok(&[
        "patch",
        "configmap",
        "settings",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"a":"1"}}"#,
    ]);
    assert!(out.contains("patched (no change)"), "{out}");
    assert_eq!(version(&s), before);
    s.ok(&["delete", "configmap", "settings", "--dry-run=server"]);
    s.ok(&["get", "configmap", "settings"]);

    // Options in the query, read and checked as the real handlers do: a
    // DELETE without a body takes them from the query (a grace period that
    // is no integer is a 400, before anything is deleted), each write's
    // options kind is validated (422), and a read has no dryRun to check.
    let path = "/api/v1/namespaces/default/configmaps/settings";
    let out = s.refused(&[
        "delete",
        "--raw",
        &format!("{path}?gracePeriodSeconds=soon"),
    ]);
    assert!(
        out.contains(r#"strconv.ParseInt: parsing "soon": invalid syntax"#),
        "{out}"
    );
    let out = s.refused(&[
        "delete",
        "--raw",
        &format!("{path}?propagationPolicy=Bogus"),
    ]);
    assert!(
        out.contains(r#"propagationPolicy: Unsupported value: "Bogus": supported values: "Foreground", "Background", "Orphan", "nil""#),
        "{out}"
    );
    let out = s.refused(&["delete", "--raw", &format!("{path}?dryRun=Bogus")]);
    assert!(
        out.contains(r#"dryRun: Unsupported value: []string{"Bogus"}: supported values: "All""#),
        "{out}"
    );
    let out = s.refused(&[
        "delete",
        "--raw",
        &format!("{path}?propagationPolicy=Orphan&orphanDependents=false"),
    ]);
    assert!(
        out.contains(r#"propagationPolicy: Invalid value: "Orphan": orphanDependents and deletionPropagation cannot be both set"#),
        "{out}"
    );
    s.ok(&["get", "configmap", "settings"]);
    let out = s.refused(&[
        "create",
        "--raw",
        "/api/v1/namespaces/default/configmaps?dryRun=Bogus",
        "-f",
        &cm,
    ]);
    assert!(
        out.contains(r#"dryRun: Unsupported value: []string{"Bogus"}: supported values: "All""#),
        "{out}"
    );
    let long = "m".repeat(129);
    let out = s.refused(&["create", "configmap", "managed", "--field-manager", &long]);
    assert!(
        out.contains(r#"CreateOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than 128 bytes"#),
        "{out}"
    );
    let out = s.refused(&[
        "create",
        "--raw",
        "/api/v1/namespaces/default/configmaps?fieldValidation=Bogus",
        "-f",
        &cm,
    ]);
    assert!(
        out.contains(r#"fieldValidation: Unsupported value: "Bogus": supported values: "", "Ignore", "Strict", "Warn""#),
        "{out}"
    );
    s.ok(&[
        "get",
        "--raw",
        &format!("{path}?dryRun=Bogus&fieldValidation=Bogus"),
    ]);
    s.ok(&["delete", "--raw", &format!("{path}?dryRun=All")]);
    s.ok(&["get", "configmap", "settings"]);
    s.ok(&["delete", "--raw", &format!("{path}?gracePeriodSeconds=0")]);
    s.refused(&["get", "configmap", "settings"]);
}

fn owner_and_dependent(s: &Sandbox, tag: &str, dependent_finalizer: bool) -> String {
    s.ok(&[
        "apply",
        "-f",
        &s.write(
            &format!("owner-{tag}.yaml"),
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: owner-{tag}}}\n"),
        ),
    ]);
    let uid = s.ok(&[
        "get",
        "configmap",
        &format!("owner-{tag}"),
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let finalizers = if dependent_finalizer {
        "\n  finalizers: [example.com/hold]"
    } else {
        ""
    };
    s.ok(&["apply", "-f", &s.write(&format!("dependent-{tag}.yaml"), &format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dependent-{tag}{finalizers}\n  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: owner-{tag}, uid: {uid}, blockOwnerDeletion: true}}\n"
    ))]);
    uid
}

#[test]
fn delete_cascades_as_the_garbage_collector_does() {
    let Some(s) = sandbox() else { return };
    owner_and_dependent(&s, "bg", false);
    s.ok(&["delete", "configmap", "owner-bg", "--cascade=background"]);
    s.gone("configmap/dependent-bg");

    // Orphan: the owner is held by the collector's `orphan` finalizer until
    // its dependents let go of it; kubectl's delete waits for it to go.
    owner_and_dependent(&s, "orphan", false);
    s.ok(&["delete", "configmap", "owner-orphan", "--cascade=orphan"]);
    let refs = s.ok(&[
        "get",
        "configmap",
        "dependent-orphan",
        "-o",
        "jsonpath={.metadata.ownerReferences}",
    ]);
    assert_eq!(
        refs, "",
        "an orphan keeps no reference to its deleted owner"
    );

    // Foreground: the owner waits, marked, until its blocking dependent is gone.
    owner_and_dependent(&s, "fg", true);
    s.ok(&[
        "delete",
        "configmap",
        "owner-fg",
        "--cascade=foreground",
        "--wait=false",
    ]);
    let marked = s.ok(&[
        "get",
        "configmap",
        "owner-fg",
        "-o",
        "jsonpath={.metadata.finalizers} {.metadata.deletionTimestamp}",
    ]);
    assert!(
        marked.starts_with("[\"foregroundDeletion\"] 20"),
        "{marked}"
    );
    s.ok(&[
        "patch",
        "configmap",
        "dependent-fg",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    s.refused(&["get", "configmap", "dependent-fg"]);
    s.gone("configmap/owner-fg");

    // A dependent with two owners outlives the first: the collector only
    // drops the reference to the owner that went, and deletes it with the
    // second.
    let first = owner_and_dependent(&s, "two", false);
    s.ok(&[
        "apply",
        "-f",
        &s.write(
            "second.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: second}\n",
        ),
    ]);
    let second = s.ok(&[
        "get",
        "configmap",
        "second",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    s.ok(&["apply", "-f", &s.write("dependent-two-owners.yaml", &format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dependent-two\n  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: owner-two, uid: {first}}}\n  - {{apiVersion: v1, kind: ConfigMap, name: second, uid: {second}}}\n"
    ))]);
    s.ok(&["delete", "configmap", "owner-two"]);
    assert_eq!(
        super::wait_for(
            &s,
            &[
                "get",
                "configmap",
                "dependent-two",
                "-o",
                "jsonpath={.metadata.ownerReferences[*].name}"
            ],
            |refs| refs == "second"
        ),
        "second"
    );
    s.ok(&["delete", "configmap", "second"]);
    s.gone("configmap/dependent-two");

    // By label selector and --all.
    for i in 0..3 {
        s.ok(&["apply", "-f", &s.write(&format!("l{i}.yaml"), &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: l{i}, labels: {{set: {}}}}}\n", if i < 2 { "a" } else { "b" }))]);
    }
    s.ok(&["delete", "configmap", "-l", "set=a"]);
    assert_eq!(
        s.ok(&["get", "configmaps", "-o", "name", "-l", "set"])
            .trim(),
        "configmap/l2"
    );
    // `--all` takes the cluster's `kube-root-ca.crt` too, which its
    // publisher makes again, as on a real cluster.
    s.ok(&["delete", "configmap", "--all", "--wait"]);
    assert_eq!(
        super::wait_for(&s, &["get", "configmaps", "-o", "name"], |out| out.trim()
            == "configmap/kube-root-ca.crt")
        .trim(),
        "configmap/kube-root-ca.crt"
    );
}

#[test]
fn a_namespace_terminates_while_its_contents_go() {
    let Some(s) = sandbox() else { return };
    s.ok(&[
        "apply",
        "-f",
        &s.write(
            "ns.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n",
        ),
    ]);
    assert_eq!(
        s.ok(&[
            "get",
            "ns",
            "team-a",
            "-o",
            "jsonpath={.status.phase} {.metadata.labels.kubernetes\\.io/metadata\\.name}"
        ]),
        "Active team-a"
    );
    s.ok(&["apply", "-n", "team-a", "-f", &s.write("held.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, finalizers: [example.com/hold, example.com/second]}\n")]);
    s.ok(&["delete", "ns", "team-a", "--wait=false"]);
    assert_eq!(
        s.ok(&["get", "ns", "team-a", "-o", "jsonpath={.status.phase}"]),
        "Terminating"
    );
    // What the namespace controller reports while content remains: why a
    // namespace stays Terminating, read where users look for it, once the
    // controller has looked (a moment after the DELETE, and after each
    // change to what is left).
    let condition = |type_: &str, expected: &str| {
        let args = [
            "get",
            "ns",
            "team-a",
            "-o",
            &format!(
                "jsonpath={{.status.conditions[?(@.type==\"{type_}\")].status}} {{.status.conditions[?(@.type==\"{type_}\")].reason}}: {{.status.conditions[?(@.type==\"{type_}\")].message}}"
            ),
        ];
        assert_eq!(super::wait_for(&s, &args, |out| out == expected), expected);
    };
    condition(
        "NamespaceFinalizersRemaining",
        "True SomeFinalizersRemain: Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances, example.com/second in 1 resource instances",
    );
    condition(
        "NamespaceContentRemaining",
        "True SomeResourcesRemain: Some resources are remaining: configmaps. has 1 resource instances",
    );
    condition(
        "NamespaceDeletionContentFailure",
        "False ContentDeleted: All content successfully deleted, may be waiting on finalization",
    );
    let out = s.refused(&[
        "apply",
        "-n",
        "team-a",
        "-v=8",
        "-f",
        &s.write(
            "new.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: new}\n",
        ),
    ]);
    assert!(
        out.contains(
            "unable to create new content in namespace team-a because it is being terminated"
        ),
        "{out}"
    );
    // The cause controllers test for (`HasStatusCause(err, NamespaceTerminatingCause)`).
    assert!(
        out.contains(r#"\"reason\":\"NamespaceTerminating\",\"message\":\"namespace team-a is being terminated\",\"field\":\"metadata.namespace\""#),
        "{out}"
    );
    s.ok(&[
        "-n",
        "team-a",
        "patch",
        "configmap",
        "held",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers/1"}]"#,
    ]);
    condition(
        "NamespaceFinalizersRemaining",
        "True SomeFinalizersRemain: Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances",
    );
    s.ok(&[
        "-n",
        "team-a",
        "patch",
        "configmap",
        "held",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    s.ok(&["wait", "--for=delete", "ns/team-a", "--timeout=10s"]);
    for immortal in ["default", "kube-system", "kube-public"] {
        let out = s.refused(&["delete", "ns", immortal, "--dry-run=server"]);
        assert!(
            out.contains(&format!(
                r#"namespaces "{immortal}" is forbidden: this namespace may not be deleted"#
            )),
            "{out}"
        );
    }
    s.ok(&["delete", "ns", "kube-node-lease", "--dry-run=server"]);
}

/// What a real cluster's controllers put into every namespace: the
/// `default` ServiceAccount and `kube-root-ca.crt`, the CA kubectl verifies
/// the server with; a moment after the namespace is made (a script waits
/// with `--for=create`), and again after someone deletes them.
#[test]
fn a_new_namespace_gets_its_default_account_and_the_servers_ca() {
    let Some(s) = sandbox() else { return };
    s.ok(&["create", "namespace", "team-b"]);
    for what in ["serviceaccount/default", "configmap/kube-root-ca.crt"] {
        s.ok(&[
            "-n",
            "team-b",
            "wait",
            "--for=create",
            what,
            "--timeout=10s",
        ]);
    }
    let trusted = s.ok(&[
        "config",
        "view",
        "--raw",
        "-o",
        "jsonpath={.clusters[0].cluster.certificate-authority-data}",
    ]);
    let published = s.ok(&[
        "-n",
        "team-b",
        "get",
        "configmap",
        "kube-root-ca.crt",
        "-o",
        "jsonpath={.data.ca\\.crt}",
    ]);
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(published.as_bytes()),
        trusted,
        "the ConfigMap holds the CA kubectl trusts"
    );
    s.ok(&["-n", "team-b", "delete", "serviceaccount", "default"]);
    s.ok(&[
        "-n",
        "team-b",
        "wait",
        "--for=create",
        "serviceaccount/default",
        "--timeout=10s",
    ]);
}

#[test]
fn events_are_found_by_the_object_they_are_about() {
    let Some(s) = sandbox() else { return };
    s.apply_crd(&crd_yaml());
    s.ok(&[
        "apply",
        "-f",
        fixture("resourcebinding.yaml").to_str().unwrap(),
    ]);
    let uid = s.ok(&[
        "get",
        "resourcebinding",
        "example-redis-e7f90",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let event = |name: &str, about: &str, uid: &str, reason: &str| {
        format!(
            "apiVersion: v1\nkind: Event\nmetadata: {{name: {name}}}\ninvolvedObject: {{apiVersion: platform.kratix.io/v1alpha1, kind: ResourceBinding, name: {about}, namespace: default, uid: \"{uid}\"}}\nreason: {reason}\nmessage: {reason} happened\ntype: Normal\nsource: {{component: kbind}}\ncount: 1\nfirstTimestamp: \"2026-01-01T00:00:00Z\"\nlastTimestamp: \"2026-01-01T00:00:00Z\"\n"
        )
    };
    s.ok(&[
        "apply",
        "-f",
        &s.write(
            "e1.yaml",
            &event("e1", "example-redis-e7f90", &uid, "UpgradeSucceeded"),
        ),
    ]);
    s.ok(&[
        "apply",
        "-f",
        &s.write("e2.yaml", &event("e2", "other", "x", "Unrelated")),
    ]);
    let out = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=example-redis-e7f90",
        "-o",
        "name",
    ]);
    assert_eq!(out.trim(), "event/e1");
    let out = s.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=Unrelated,source=kbind",
        "-o",
        "name",
    ]);
    assert_eq!(out.trim(), "event/e2");
    // By type, as `kubectl get events --field-selector type=Warning` asks.
    for (selector, found) in [("type=Normal", "event/e1\nevent/e2"), ("type=Warning", "")] {
        let out = s.ok(&["get", "events", "--field-selector", selector, "-o", "name"]);
        assert_eq!(out.trim(), found, "{selector}");
    }
    let out = s.refused(&["get", "events", "--field-selector", "spec.nothing=x"]);
    assert!(
        out.contains("field label not supported: spec.nothing"),
        "{out}"
    );
    let described = s.ok(&["describe", "resourcebinding", "example-redis-e7f90"]);
    let events = described.split("Events:").nth(1).unwrap_or_default();
    assert!(
        events.contains("UpgradeSucceeded") && !events.contains("Unrelated"),
        "{described}"
    );

    // `ValidateEventCreate`: an Event lives in its object's namespace (a
    // cluster-scoped object's in `default`); one with an eventTime says who
    // reported it and what was done; an events.k8s.io Event is held to more.
    let elsewhere = event("e3", "example-redis-e7f90", &uid, "Moved")
        .replace("namespace: default", "namespace: team-b");
    let out = s.refused(&["create", "-f", &s.write("e3.yaml", &elsewhere)]);
    assert!(
        out.contains(
            r#"involvedObject.namespace: Invalid value: "team-b": does not match event.namespace"#
        ),
        "{out}"
    );
    let about_promise = "apiVersion: v1\nkind: Event\nmetadata: {name: e4, namespace: kube-system}\ninvolvedObject: {apiVersion: platform.kratix.io/v1alpha1, kind: Promise, name: redis}\nreason: Seen\ntype: Normal\n";
    let out = s.refused(&["create", "-f", &s.write("e4.yaml", about_promise)]);
    assert!(out.contains("does not match event.namespace"), "{out}");
    s.ok(&[
        "create",
        "-f",
        &s.write(
            "e5.yaml",
            &about_promise
                .replace("kube-system", "default")
                .replace("e4", "e5"),
        ),
    ]);
    let timed = "apiVersion: v1\nkind: Event\nmetadata: {name: e6}\ninvolvedObject: {kind: ConfigMap, name: a, namespace: default}\nreason: Seen\ntype: Normal\neventTime: \"2026-01-01T00:00:00.000000Z\"\n";
    let out = s.refused(&["create", "-f", &s.write("e6.yaml", timed)]);
    for cause in [
        "reportingComponent: Required value",
        "reportingInstance: Required value",
        "action: Required value",
    ] {
        assert!(out.contains(cause), "{cause:?} missing from:\n{out}");
    }
    let new_api = "apiVersion: events.k8s.io/v1\nkind: Event\nmetadata: {name: e7}\nregarding: {kind: ConfigMap, name: a, namespace: default}\nreason: Seen\ntype: Sometimes\ndeprecatedCount: 3\n";
    let out = s.refused(&["create", "-f", &s.write("e7.yaml", new_api)]);
    for cause in [
        "eventTime: Required value",
        r#"type: Invalid value: "": has invalid value: Sometimes"#,
        r#"count: Invalid value: "": needs to be unset"#,
    ] {
        assert!(out.contains(cause), "{cause:?} missing from:\n{out}");
    }
    // An eventTime is a MicroTime: six fractional digits, as Go parses it.
    let millis = timed
        .replace("e6", "e8")
        .replace(".000000Z", ".123Z")
        .replace(
            "type: Normal",
            "type: Normal\nreportingComponent: me\nreportingInstance: me-1\naction: Look",
        );
    let out = s.refused(&["create", "-f", &s.write("e8.yaml", &millis)]);
    assert!(
        out.contains(r#"Event in version "v1" cannot be handled as a Event: parsing time "2026-01-01T00:00:00.123Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse ".123Z" as ".000000""#),
        "{out}"
    );
    s.ok(&[
        "create",
        "-f",
        &s.write(
            "e9.yaml",
            &millis.replace("e8", "e9").replace(".123Z", ".123000+02:00"),
        ),
    ]);
}
#[test]
fn the_typed_generators_send_protobuf_and_read_it_back() {
    let Some(s) = sandbox() else { return };
    let (_, log) = s.run(&["create", "namespace", "team-a", "-v=8"]);
    assert!(
        log.contains("namespace/team-a created")
            && log.contains("application/vnd.kubernetes.protobuf"),
        "kubectl sent protobuf and understood the answer: {log}"
    );
    assert_eq!(
        s.ok(&["get", "ns", "team-a", "-o", "jsonpath={.status.phase}"]),
        "Active"
    );
    s.ok(&[
        "-n",
        "team-a",
        "create",
        "configmap",
        "app",
        "--from-literal=a=1",
        "--from-literal=b=two",
    ]);
    assert_eq!(
        s.ok(&[
            "-n",
            "team-a",
            "get",
            "configmap",
            "app",
            "-o",
            "jsonpath={.data.a} {.data.b}"
        ]),
        "1 two"
    );
    s.ok(&[
        "-n",
        "team-a",
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=password=s3cret",
    ]);
    assert_eq!(
        s.ok(&[
            "-n",
            "team-a",
            "get",
            "secret",
            "creds",
            "-o",
            "jsonpath={.data.password} {.type}"
        ]),
        "czNjcmV0 Opaque"
    );
    s.ok(&["-n", "team-a", "create", "serviceaccount", "robot"]);
    // Jobs and the RBAC kinds too: a Job comes back with the admission
    // defaults (selector, pod-template labels) in protobuf.
    let (ok, log) = s.run(&[
        "-n",
        "team-a",
        "create",
        "job",
        "once",
        "--image=busybox",
        "-v=8",
        "--",
        "echo",
        "hi",
    ]);
    assert!(
        ok && log.contains("job.batch/once created")
            && log.contains("Response Headers:")
            && log.contains("Content-Type: application/vnd.kubernetes.protobuf"),
        "{log}"
    );
    assert_eq!(
        s.ok(&[
            "-n",
            "team-a",
            "get",
            "job",
            "once",
            "-o",
            // With what a real server's defaulting adds: `SetDefaults_Job`,
            // the pod template's, and the template's labels on a Job
            // created without any.
            "jsonpath={.spec.template.spec.containers[0].command} {.spec.template.metadata.labels.job-name} {.spec.template.spec.restartPolicy} {.spec.backoffLimit} {.spec.completions} {.spec.parallelism} {.spec.completionMode} {.spec.podReplacementPolicy} {.spec.template.spec.dnsPolicy} {.spec.template.spec.terminationGracePeriodSeconds} {.spec.template.spec.containers[0].imagePullPolicy} {.spec.template.spec.containers[0].terminationMessagePolicy} {.metadata.labels.job-name}"
        ]),
        r#"["echo","hi"] once Never 6 1 1 NonIndexed TerminatingOrFailed ClusterFirst 30 Always File once"#
    );
    s.ok(&[
        "-n",
        "team-a",
        "create",
        "role",
        "reader",
        "--verb=get,list",
        "--resource=configmaps",
        "--resource-name=app",
    ]);
    s.ok(&[
        "-n",
        "team-a",
        "create",
        "rolebinding",
        "reader",
        "--role=reader",
        "--serviceaccount=team-a:robot",
    ]);
    s.ok(&[
        "create",
        "clusterrole",
        "watcher",
        "--verb=watch",
        "--resource=jobs.batch",
    ]);
    s.ok(&[
        "create",
        "clusterrole",
        "team-a",
        "--aggregation-rule=team=a",
    ]);
    s.ok(&[
        "create",
        "clusterrolebinding",
        "watcher",
        "--clusterrole=watcher",
        "--user=alice",
        "--group=devs",
    ]);
    assert_eq!(
        s.ok(&[
            "-n",
            "team-a",
            "get",
            "role,rolebinding",
            "reader",
            "-o",
            "jsonpath={.items[0].rules[0].verbs} {.items[0].rules[0].resourceNames} {.items[1].subjects[0].kind}:{.items[1].subjects[0].name} {.items[1].roleRef.name}"
        ]),
        r#"["get","list"] ["app"] ServiceAccount:robot reader"#
    );
    assert_eq!(
        s.ok(&[
            "get",
            "clusterrole/watcher",
            "clusterrole/team-a",
            "clusterrolebinding/watcher",
            "-o",
            "jsonpath={.items[0].rules[0].apiGroups} {.items[1].aggregationRule.clusterRoleSelectors[0].matchLabels.team} {.items[2].subjects[*].name}"
        ]),
        r#"["batch"] a alice devs"#
    );
    // Validation is the same whatever the encoding.
    let out = s.refused(&["create", "configmap", "Bad_Name", "--from-literal=a=1"]);
    assert!(
        out.contains("metadata.name: Invalid value: \"Bad_Name\""),
        "{out}"
    );
    // A typed server-side dry run stores nothing.
    s.ok(&[
        "create",
        "configmap",
        "dry",
        "--from-literal=a=1",
        "--dry-run=server",
    ]);
    s.refused(&["get", "configmap", "dry"]);
}

/// `kbind sandbox` as a user starts it: once the kubeconfig exists, the
/// first command of the walkthrough works (kbind's CRDs are already
/// served), and the sandbox logs nothing while nothing is wrong, without
/// colour codes when stderr is not a terminal.
/// `kbind sandbox` runs its operator as it runs once installed: as the
/// kbind-operator ServiceAccount under deploy/rbac.yaml. A Promise whose
/// request group those rules do not cover says so on the Promise; the fix
/// it names (`kbind rbac <file> | kubectl apply -f -`) adds that Promise's
/// grant without taking away another's.
#[test]
fn the_sandbox_operator_runs_as_installed_and_kbind_rbac_adds_grants() {
    if super::kubectl_binary().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut sandbox = std::process::Command::new(env!("CARGO_BIN_EXE_kbind"))
        .args(["sandbox", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !kubeconfig.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // A program run with `input` on its stdin: its stdout and stderr.
    let piped = |command: &mut std::process::Command, input: Option<&str>| {
        use std::io::Write;
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(input.unwrap_or_default().as_bytes())
            .unwrap();
        drop(stdin);
        let o = child.wait_with_output().unwrap();
        (text(&o.stdout), text(&o.stderr))
    };
    let kubectl = |args: &[&str], stdin: Option<&str>| {
        let (out, err) = piped(
            std::process::Command::new(super::kubectl_binary().unwrap())
                .args(args)
                .env("KUBECONFIG", &kubeconfig)
                .env("KUBECACHEDIR", kubeconfig.with_extension("cache")),
            stdin,
        );
        format!("{out}{err}")
    };
    let eventually = |args: &[&str], done: &dyn Fn(&str) -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let out = kubectl(args, None);
            if done(&out) || std::time::Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    let widget = dir.path().join("widget.yaml");
    std::fs::write(
        &widget,
        fixture_text("promise-redis.yaml")
            .replace("name: redis\n", "name: widget\n")
            .replace("redis.marketplace.kratix.io", "widgets.example.com")
            .replace("group: marketplace.kratix.io", "group: example.com")
            .replace("kind: redis", "kind: Widget")
            .replace("plural: redis", "plural: widgets")
            .replace("singular: redis", "singular: widget"),
    )
    .unwrap();
    kubectl(
        &[
            "apply",
            "-f",
            fixture("promise-redis.yaml").to_str().unwrap(),
        ],
        None,
    );
    kubectl(&["apply", "-f", widget.to_str().unwrap()], None);
    let operator = "--as=system:serviceaccount:kbind-system:kbind-operator";
    let can = |resource: &str| kubectl(&[operator, "auth", "can-i", "list", resource], None);
    let refused = eventually(
        &[
            "get",
            "promise",
            "widget",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"RequestsAccessible\")].status} {.status.conditions[?(@.type==\"RequestsAccessible\")].message}",
        ],
        &|out| out.starts_with("False"),
    );
    let before = (
        can("redis.marketplace.kratix.io"),
        can("widgets.example.com"),
    );
    // The fix as the condition words it:
    // `kubectl get promise widget -o yaml | kbind rbac - | kubectl apply -f -`.
    let installed = kubectl(&["get", "promise", "widget", "-o", "yaml"], None);
    let (rbac, _) = piped(
        std::process::Command::new(env!("CARGO_BIN_EXE_kbind")).args(["rbac", "-"]),
        Some(&installed),
    );
    let applied = kubectl(&["apply", "-f", "-"], Some(&rbac));
    let granted = eventually(
        &[
            "get",
            "promise",
            "widget",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"RequestsAccessible\")].status}",
        ],
        &|out| out == "True",
    );
    let after = (
        can("redis.marketplace.kratix.io"),
        can("widgets.example.com"),
    );
    // Deleting a Promise deletes its requests first (R-82), which the
    // operator may do under deploy/rbac.yaml (redis) and under what `kbind
    // rbac` granted (widget): each Promise goes, with its requests.
    kubectl(
        &["apply", "-f", "-"],
        Some(
            "apiVersion: marketplace.kratix.io/v1alpha1\nkind: redis\nmetadata: {name: r, namespace: default}\nspec: {size: small}\n---\napiVersion: example.com/v1alpha1\nkind: Widget\nmetadata: {name: w, namespace: default}\nspec: {size: small}\n",
        ),
    );
    let bound = eventually(&["get", "resourcebindings", "-o", "name"], &|out| {
        out.lines().count() == 2
    });
    let deleted: Vec<String> = ["widget", "redis"]
        .iter()
        .map(|p| kubectl(&["delete", "promise", p, "--timeout=20s"], None))
        .collect();
    let left = kubectl(
        &[
            "get",
            "promises,redis,widgets,resourcebindings",
            "-A",
            "-o",
            "name",
        ],
        None,
    );
    let _ = sandbox.kill();
    let _ = sandbox.wait();
    assert!(
        refused.contains("may not list widgets")
            && refused
                .contains("kubectl get promise widget -o yaml | kbind rbac - | kubectl apply -f -"),
        "{refused}"
    );
    assert_eq!(
        (before.0.trim(), before.1.trim()),
        ("yes", "no"),
        "{before:?}"
    );
    assert!(
        applied.contains(
            "clusterrole.rbac.authorization.k8s.io/kbind-operator-requests-widget created"
        ),
        "{applied}"
    );
    assert_eq!(granted, "True");
    assert_eq!(
        (after.0.trim(), after.1.trim()),
        ("yes", "yes"),
        "the grant added widgets and kept redis: {after:?}"
    );
    assert_eq!(bound.lines().count(), 2, "{bound}");
    assert_eq!(
        deleted,
        [
            "promise.platform.kratix.io \"widget\" deleted\n",
            "promise.platform.kratix.io \"redis\" deleted\n"
        ]
    );
    assert!(
        !left.contains("promise") && !left.contains("resourcebinding"),
        "{left}"
    );
}

#[test]
fn the_sandbox_is_ready_when_its_kubeconfig_appears() {
    if super::kubectl_binary().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let stderr_path = dir.path().join("stderr");
    let mut sandbox = std::process::Command::new(env!("CARGO_BIN_EXE_kbind"))
        .args(["--log-level", "info", "sandbox", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !kubeconfig.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let kubectl = |args: &[&str]| {
        std::process::Command::new(super::kubectl_binary().unwrap())
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .env("KUBECACHEDIR", kubeconfig.with_extension("cache"))
            .output()
            .unwrap()
    };
    let first = kubectl(&[
        "apply",
        "-f",
        fixture("promise-redis.yaml").to_str().unwrap(),
    ]);
    let listed = kubectl(&[
        "get",
        "crd",
        "resourcebindings.platform.kratix.io",
        "-o",
        "name",
    ]);
    // A request, then a new field with a default in the Promise's API: the
    // request is read with it (the server rebuilt the kind's storage, and
    // the operator's watch of it expired and listed again, which is
    // routine), so its spec changed and its workflow runs again.
    let eventually = |args: &[&str], done: &dyn Fn(&str) -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let out = text(&kubectl(args).stdout);
            if done(&out) || std::time::Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    let request = dir.path().join("request.yaml");
    std::fs::write(
        &request,
        "apiVersion: marketplace.kratix.io/v1alpha1\nkind: redis\nmetadata: {name: example, namespace: default}\nspec: {size: small}\n",
    )
    .unwrap();
    eventually(&["apply", "-f", request.to_str().unwrap()], &|out| {
        out.contains("created")
    });
    let one = eventually(&["get", "jobs", "-o", "name"], &|out| {
        out.lines().count() == 1
    });
    let changed_api = dir.path().join("promise.yaml");
    std::fs::write(
        &changed_api,
        fixture_text("promise-redis.yaml").replace(
            "                      default: small\n",
            "                      default: small\n                    replicas:\n                      type: integer\n                      default: 3\n",
        ),
    )
    .unwrap();
    let second = kubectl(&["apply", "-f", changed_api.to_str().unwrap()]);
    let spec = eventually(
        &["get", "redis", "example", "-o", "jsonpath={.spec}"],
        &|out| out.contains("replicas"),
    );
    // One run more, from the request as the new schema reads it: the
    // server keeps the old storage's watches open for a second after the
    // CRD changed, and the operator does not run a workflow from a request
    // cached under the old schema meanwhile.
    let two = eventually(&["get", "jobs", "-o", "name"], &|out| {
        out.lines().count() >= 2
    });
    // Long enough for the watch to list again and a stray run to show.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let after = text(&kubectl(&["get", "jobs", "-o", "name"]).stdout);
    let _ = sandbox.kill();
    let _ = sandbox.wait();
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(text(&listed.stdout).contains("resourcebindings.platform.kratix.io"));
    assert_eq!(one.lines().count(), 1, "{one}");
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert_eq!(spec, r#"{"replicas":3,"size":"small"}"#);
    assert_eq!(two.lines().count(), 2, "the workflow ran again: {two}");
    assert_eq!(after, two, "and once only");
    let log = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes in a log file: {log}"
    );
    assert!(
        !log.contains("WARN") && !log.contains("ERROR"),
        "nothing is wrong, so nothing is warned about: {log}"
    );
}

const GADGETS: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Gadget, plural: gadgets}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [tier]
              properties:
                size: {type: integer, minimum: 1, maximum: 9, default: 3}
                tier: {type: string, enum: [small, large]}
                extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
";

/// A kind whose `spec.name` is capped at `name_max` characters when given.
fn sprockets(name_max: Option<u32>) -> String {
    let cap = name_max.map_or(String::new(), |n| format!(", maxLength: {n}"));
    format!(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: sprockets.example.com}}
spec:
  group: example.com
  scope: Namespaced
  names: {{kind: Sprocket, plural: sprockets}}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {{status: {{}}}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                name: {{type: string{cap}}}
                other: {{type: string}}
            status:
              type: object
              properties:
                phase: {{type: string, maxLength: 3}}
"
    )
}

/// A schema tightened after objects were stored (as a Promise's new version
/// narrows its request API): 1.32 ratchets CRD validation, so an update is
/// refused only for what it changes, and a status write is checked against
/// the status schema alone. The embedded server refused every write of such
/// an object, an operator's status writes and finalizer removal included.
#[test]
fn a_tightened_schema_refuses_only_what_an_update_changes() {
    let Some(s) = sandbox() else { return };
    s.apply_crd(&sprockets(None));
    let sprocket = |name: &str, spec: &str| {
        s.write(
            &format!("{name}.yaml"),
            &format!("apiVersion: example.com/v1\nkind: Sprocket\nmetadata: {{name: {name}}}\nspec: {spec}\n"),
        )
    };
    s.ok(&["apply", "-f", &sprocket("old", "{name: toolong, other: a}")]);
    s.apply_crd(&sprockets(Some(2)));
    let fresh = sprocket("fresh", "{name: toolong}");
    let refused = s.refused_once_served(&fresh);
    assert!(
        refused.contains("spec.name: Too long: may not be more than 2 bytes"),
        "a new object is held to the new schema: {refused}"
    );
    // What the updates leave alone is not checked again.
    s.ok(&["label", "sprocket", "old", "team=a"]);
    s.ok(&[
        "patch",
        "sprocket",
        "old",
        "--type=merge",
        "-p",
        r#"{"spec":{"other":"b"}}"#,
    ]);
    s.ok(&[
        "patch",
        "sprocket",
        "old",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
    ]);
    s.ok(&[
        "patch",
        "sprocket",
        "old",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    s.ok(&[
        "patch",
        "sprocket",
        "old",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"ok"}}"#,
    ]);
    assert_eq!(
        s.ok(&[
            "get",
            "sprocket",
            "old",
            "-o",
            "jsonpath={.spec.name} {.spec.other} {.metadata.labels.team} {.status.phase}"
        ]),
        "toolong b a ok"
    );
    // What they change is.
    let out = s.refused(&[
        "patch",
        "sprocket",
        "old",
        "--type=merge",
        "-p",
        r#"{"spec":{"name":"stilltoolong"}}"#,
    ]);
    assert!(
        out.contains(
            r#"The Sprocket "old" is invalid: spec.name: Too long: may not be more than 2 bytes"#
        ),
        "{out}"
    );
    let out = s.refused(&[
        "patch",
        "sprocket",
        "old",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"toolong"}}"#,
    ]);
    assert!(
        out.contains(
            r#"The Sprocket "old" is invalid: status.phase: Too long: may not be more than 3 bytes"#
        ),
        "{out}"
    );
    s.ok(&["delete", "sprocket", "old"]);
}

const GEARS: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gears.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Gear, plural: gears}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              x-kubernetes-validations:
                - rule: self.min <= self.max
                  message: min must not exceed max
                - rule: \"!has(self.mode) || self.mode != 'fast' || self.max < 10\"
                  messageExpression: \"'max ' + string(self.max) + ' is too high for fast'\"
                  fieldPath: .max
                  reason: FieldValueForbidden
                - rule: \"!has(self.memory) || quantity(self.memory).isLessThan(quantity('1Gi'))\"
                  message: memory must be under 1Gi
                - rule: \"!has(self.site) || isURL(self.site)\"
              properties:
                min: {type: integer}
                max: {type: integer}
                mode: {type: string}
                memory: {type: string}
                site: {type: string}
                name:
                  type: string
                  x-kubernetes-validations:
                    - {rule: self == oldSelf, message: name is immutable}
";

/// `x-kubernetes-validations`: a CRD whose rule does not parse is refused;
/// the rules of a stored one judge every write of its objects, with their
/// messages, message expressions, reasons and field paths; a transition
/// rule judges updates only; a rule broken before an update that leaves
/// its part alone is a warning (ratcheting); a rule calling a Kubernetes
/// CEL library the embedded server does not serve is a warning, not a
/// verdict.
#[test]
fn cel_rules_of_a_crd_judge_its_objects() {
    let Some(s) = sandbox() else { return };
    let broken = GEARS.replace("self.min <= self.max", "self.min <=");
    let out = s.refused(&["apply", "-f", &s.write("broken.yaml", &broken)]);
    assert!(
        out.contains("spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Invalid value: apiextensions.ValidationRule{Rule:\"self.min <=\"")
            && out.contains("compilation failed: ERROR: <input>:1:12: Syntax error: mismatched input '<EOF>'"),
        "{out}"
    );
    // A field the schema does not declare, as cel-go's checker finds it.
    let typo = GEARS.replace("self.min <= self.max", "self.min <= self.maxi");
    let out = s.refused(&["apply", "-f", &s.write("typo.yaml", &typo)]);
    assert!(
        out.contains("compilation failed: ERROR: <input>:1:17: undefined field 'maxi'\n | self.min <= self.maxi\n | ................^"),
        "{out}"
    );
    s.apply_crd(GEARS);
    let gear = |name: &str, spec: &str| {
        s.write(
            &format!("{name}.yaml"),
            &format!(
                "apiVersion: example.com/v1\nkind: Gear\nmetadata: {{name: {name}}}\nspec: {spec}\n"
            ),
        )
    };
    let out = s.refused(&["apply", "-f", &gear("g1", "{min: 15, max: 12, mode: fast}")]);
    assert!(
        out.contains(r#"The Gear "g1" is invalid: "#)
            && out.contains(r#"spec: Invalid value: "object": min must not exceed max"#)
            && out.contains("spec.max: Forbidden: max 12 is too high for fast"),
        "{out}"
    );
    let out = s.refused(&["apply", "-f", &gear("g1", "{min: 1, max: 2, memory: 2Gi}")]);
    assert!(
        out.contains(r#"spec: Invalid value: "object": memory must be under 1Gi"#),
        "{out}"
    );
    let (ok, out) = s.run(&[
        "apply",
        "-f",
        &gear(
            "g1",
            "{min: 1, max: 2, name: a, memory: 1000Mi, site: 'https://x'}",
        ),
    ]);
    assert!(
        ok && out.contains("Warning: spec: x-kubernetes-validations rule not evaluated by the embedded API server (isURL is a Kubernetes CEL library function it does not serve)"),
        "{out}"
    );
    let out = s.refused(&[
        "patch",
        "gear",
        "g1",
        "--type=merge",
        "-p",
        r#"{"spec":{"name":"b"}}"#,
    ]);
    assert!(
        out.contains(
            r#"The Gear "g1" is invalid: spec.name: Invalid value: "string": name is immutable"#
        ),
        "{out}"
    );
    // Stored while a rule it breaks was not there; an update that leaves
    // `spec` alone is warned, one that changes it is refused.
    s.apply_crd(&GEARS.replace("self.min <= self.max", "self.min <= self.max || true"));
    s.ok(&["apply", "-f", &gear("g2", "{min: 3, max: 2}")]);
    s.apply_crd(GEARS);
    let out = s.refused_once_served(&gear("g3", "{min: 3, max: 2}"));
    assert!(
        out.contains("min must not exceed max"),
        "the rule is back: {out}"
    );
    let (ok, out) = s.run(&["label", "gear", "g2", "team=a"]);
    assert!(
        ok && out.contains(r#"Warning: spec: Invalid value: "object": min must not exceed max"#),
        "{out}"
    );
    let out = s.refused(&[
        "patch",
        "gear",
        "g2",
        "--type=merge",
        "-p",
        r#"{"spec":{"max":1}}"#,
    ]);
    assert!(out.contains("min must not exceed max"), "{out}");
}

/// A real server moves an object's generation when it is first marked as
/// being deleted (`markAsDeleting`), once: controllers comparing it with
/// their `observedGeneration` see the deletion as a change.
#[test]
fn a_delete_held_by_finalizers_moves_the_generation_once() {
    let Some(s) = sandbox() else { return };
    s.apply_crd(GADGETS);
    s.ok(&[
        "apply",
        "-f",
        &s.write(
            "held.yaml",
            "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: held, finalizers: [example.com/hold]}\nspec: {tier: small}\n",
        ),
    ]);
    let generation = || {
        s.ok(&[
            "get",
            "gadget",
            "held",
            "-o",
            "jsonpath={.metadata.generation}",
        ])
    };
    assert_eq!(generation(), "1");
    s.ok(&["delete", "gadget", "held", "--wait=false"]);
    assert_eq!(generation(), "2");
    s.ok(&["delete", "gadget", "held", "--wait=false"]);
    assert_eq!(generation(), "2", "only the first delete moves it");
    s.ok(&[
        "patch",
        "gadget",
        "held",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    s.gone("gadget/held");
}

/// A deprecated version of a CRD: every answer about it carries the
/// version's `deprecationWarning`, or the default one naming the newest
/// served version that is not deprecated, which kubectl prints.
#[test]
fn a_deprecated_crd_version_warns_with_every_answer() {
    let Some(s) = sandbox() else { return };
    let version = |name: &str, storage: bool, extra: &str| {
        format!(
            "    - name: {name}
      served: true
      storage: {storage}{extra}
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"
        )
    };
    let crd = format!(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: sprites.example.com}}
spec:
  group: example.com
  scope: Namespaced
  names: {{kind: Sprite, plural: sprites}}
  versions:
{}{}{}",
        version("v1alpha1", false, "\n      deprecated: true"),
        version(
            "v1beta1",
            false,
            "\n      deprecated: true\n      deprecationWarning: sprites/v1beta1 goes in 2027"
        ),
        version("v1", true, ""),
    );
    s.apply_crd(&crd);
    let (ok, out) = s.run(&["get", "sprites.v1alpha1.example.com"]);
    assert!(
        ok && out.contains(
            "Warning: example.com/v1alpha1 Sprite is deprecated; use example.com/v1 Sprite"
        ),
        "{out}"
    );
    let (ok, out) = s.run(&[
        "apply",
        "-f",
        &s.write(
            "sprite.yaml",
            "apiVersion: example.com/v1beta1\nkind: Sprite\nmetadata: {name: s1}\n",
        ),
    ]);
    assert!(
        ok && out.contains("Warning: sprites/v1beta1 goes in 2027"),
        "{out}"
    );
    let (ok, out) = s.run(&["get", "sprites.v1.example.com", "s1"]);
    assert!(ok && !out.contains("Warning"), "{out}");
}

/// Printer columns, selectable fields and deprecation warnings are held to
/// the real rules when a CRD is stored; one every version shares is named
/// from the spec (and a column's path as `JSONPath`), as the real server
/// names it.
#[test]
fn crd_columns_and_selectable_fields_are_validated() {
    let Some(s) = sandbox() else { return };
    let crd = GADGETS.replace(
        "      schema:\n",
        "      additionalPrinterColumns:\n        - {name: Tier, type: string, jsonPath: spec.tier}\n      selectableFields:\n        - {jsonPath: .spec.size}\n        - {jsonPath: .spec.colour}\n      schema:\n",
    );
    let out = s.refused(&["apply", "-f", &s.write("columns.yaml", &crd)]);
    assert!(
        out.contains(r#"spec.additionalPrinterColumns[0].JSONPath: Invalid value: "spec.tier": must be a simple json path starting with ."#)
            && out.contains(r#"spec.selectableFields[1].jsonPath: Invalid value: ".spec.colour": is an invalid path: does not refer to a valid field"#),
        "{out}"
    );
    s.apply_crd(
        &crd.replace("jsonPath: spec.tier", "jsonPath: .spec.tier")
            .replace("        - {jsonPath: .spec.colour}\n", ""),
    );
    // Accepted once fixed, its selectable field served.
    s.ok(&["get", "gadgets", "--field-selector", "spec.size=3"]);
}

/// A CRD version with the `scale` subresource: `kubectl scale` writes the
/// replicas where `specReplicasPath` says, the Scale shows the status's
/// replicas and selector, and discovery lists `<plural>/scale` as a
/// cluster lists it.
#[test]
fn kubectl_scales_a_custom_resource_whose_crd_enables_it() {
    let Some(s) = sandbox() else { return };
    let crd = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: pools.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Pool, plural: pools}
  versions:
    - name: v1
      served: true
      storage: true
      subresources:
        status: {}
        scale: {specReplicasPath: .spec.size, statusReplicasPath: .status.ready, labelSelectorPath: .status.selector}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {type: object, properties: {size: {type: integer}}}
            status: {type: object, properties: {ready: {type: integer}, selector: {type: string}}}
";
    let broken = crd.replace(
        "specReplicasPath: .spec.size",
        "specReplicasPath: .status.size",
    );
    let out = s.refused(&["apply", "-f", &s.write("broken-pool.yaml", &broken)]);
    assert!(
        out.contains(r#"spec.subresources.scale.specReplicasPath: Invalid value: ".status.size": should be a json path under .spec"#),
        "{out}"
    );
    s.apply_crd(crd);
    s.ok(&[
        "apply",
        "-f",
        &s.write(
            "pool.yaml",
            "apiVersion: example.com/v1\nkind: Pool\nmetadata: {name: p1}\nspec: {size: 1}\n",
        ),
    ]);
    s.ok(&[
        "patch",
        "pool",
        "p1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"ready":1,"selector":"app=p1"}}"#,
    ]);
    assert!(s.ok(&["api-resources"]).contains("pools"));
    s.ok(&["scale", "pool", "p1", "--replicas=3"]);
    assert_eq!(
        s.ok(&["get", "pool", "p1", "-o", "jsonpath={.spec.size}"]),
        "3"
    );
    let scale = s.ok(&[
        "get",
        "--raw",
        "/apis/example.com/v1/namespaces/default/pools/p1/scale",
    ]);
    let scale: serde_json::Value = serde_json::from_str(&scale).unwrap();
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 3);
    assert_eq!(
        scale["status"],
        serde_json::json!({"replicas": 1, "selector": "app=p1"})
    );
    // The object's own writes keep valid replicas there.
    let out = s.refused(&[
        "patch",
        "pool",
        "p1",
        "--type=merge",
        "-p",
        r#"{"spec":{"size":-1}}"#,
    ]);
    assert!(
        out.contains(r#"The Pool "p1" is invalid: .spec.size: Invalid value: -1: should be a non-negative integer"#),
        "{out}"
    );
}

/// Two CRDs of one group declaring the same kind: the second's names are
/// not accepted, so its kind is not served and its conditions say why,
/// until the first goes (the naming controller then accepts them).
#[test]
fn a_crd_whose_names_are_taken_is_not_served_until_they_are_free() {
    let Some(s) = sandbox() else { return };
    s.apply_crd(GADGETS);
    s.apply_crd_until(
        &GADGETS.replace("gadgets", "gizmos"),
        "condition=NamesAccepted=False",
    );
    let conditions = s.ok(&[
        "get",
        "crd",
        "gizmos.example.com",
        "-o",
        "jsonpath={range .status.conditions[*]}{.type}={.status} {.reason}: {.message}; {end}",
    ]);
    assert_eq!(
        conditions,
        "NamesAccepted=False ListKindConflict: \"GadgetList\" is already in use; Established=False NotAccepted: not all names are accepted; "
    );
    let out = s.refused(&["get", "gizmos"]);
    assert!(
        out.contains("the server doesn't have a resource type \"gizmos\""),
        "{out}"
    );
    s.ok(&["delete", "crd", "gadgets.example.com"]);
    s.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/gizmos.example.com",
        "--timeout=10s",
    ]);
    s.ok(&["get", "gizmos"]);
}

#[test]
fn custom_resources_are_pruned_defaulted_and_validated() {
    let Some(s) = sandbox() else { return };
    s.apply_crd(GADGETS);
    let gadget = |name: &str, spec: &str| {
        s.write(&format!("{name}.yaml"), &format!("apiVersion: example.com/v1\nkind: Gadget\nmetadata: {{name: {name}}}\nspec: {spec}\n"))
    };
    // kubectl validates strictly by default: an unknown field is refused.
    let out = s.refused(&["apply", "-f", &gadget("g1", "{tier: small, colour: red}")]);
    assert!(
        out.contains("strict decoding error: unknown field \"spec.colour\""),
        "{out}"
    );
    // --validate=warn: stored without it, with a warning.
    let (ok, out) = s.run(&[
        "apply",
        "--validate=warn",
        "-f",
        &gadget("g1", "{tier: small, colour: red, extra: {free: form}}"),
    ]);
    assert!(ok && out.contains("unknown field \"spec.colour\""), "{out}");
    assert_eq!(
        s.ok(&["get", "gadget", "g1", "-o", "jsonpath={.spec}"]),
        r#"{"extra":{"free":"form"},"size":3,"tier":"small"}"#,
        "pruned, preserved where the schema says so, and defaulted"
    );
    let out = s.refused(&["apply", "-f", &gadget("g2", "{tier: huge, size: 12}")]);
    assert!(
        out.contains(
            "spec.size: Invalid value: 12: spec.size in body should be less than or equal to 9"
        ) && out.contains(
            "spec.tier: Unsupported value: \"huge\": supported values: \"small\", \"large\""
        ),
        "{out}"
    );
    let out = s.refused(&["apply", "-f", &gadget("g3", "{size: \"big\"}")]);
    assert!(
        out.contains("spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\"")
            && out.contains("spec.tier: Required value"),
        "{out}"
    );
    // Built-in kinds drop what their type does not have, the same way.
    let out = s.refused(&[
        "apply",
        "-f",
        &s.write(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndatas: {a: b}\n",
        ),
    ]);
    assert!(out.contains("unknown field \"datas\""), "{out}");
}

#[test]
fn lists_apply_explain_reads_the_schemas_and_patches_follow_the_kind() {
    let Some(s) = sandbox() else { return };
    s.apply_crd(&crd_yaml());
    // What `kubectl get -o yaml` writes is a List; kubectl validates it
    // against /openapi/v2 before applying its items.
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- apiVersion: v1\n  kind: ServiceAccount\n  metadata: {name: robot}\n  secrets: [{name: one}, {name: two}]\n";
    let out = s.ok(&["apply", "-f", &s.write("list.yaml", list)]);
    assert!(
        out.contains("configmap/a created") && out.contains("serviceaccount/robot created"),
        "{out}"
    );
    let dumped = s.ok(&["get", "configmaps,serviceaccounts", "-o", "yaml"]);
    let out = s.ok(&["apply", "-f", &s.write("dumped.yaml", &dumped)]);
    assert!(out.contains("configmap/a"), "{out}");

    let explained = s.ok(&["explain", "resourcebindings.spec.version"]);
    assert!(explained.contains("FIELD: version <string>"), "{explained}");
    let explained = s.ok(&["explain", "configmaps.data"]);
    assert!(
        explained.contains("FIELD: data <map[string]string>"),
        "{explained}"
    );
    // The v2 reader (kube-openapi's proto models, which refuse the whole
    // document if one definition breaks its rules) finds the same schemas.
    let explained = s.ok(&[
        "explain",
        "--output=plaintext-openapiv2",
        "resourcebindings.spec",
    ]);
    assert!(
        explained.contains("KIND:     ResourceBinding")
            && explained.contains("version\t<string> -required-"),
        "{explained}"
    );
    let explained = s.ok(&[
        "explain",
        "--output=plaintext-openapiv2",
        "jobs.spec.template.spec.containers.image",
    ]);
    assert!(
        explained.contains("FIELD:    image <string>"),
        "{explained}"
    );

    // Strategic merge on a built-in merges a keyed list by its key...
    s.ok(&[
        "patch",
        "serviceaccount",
        "robot",
        "-p",
        r#"{"secrets":[{"name":"three"}]}"#,
    ]);
    assert_eq!(
        s.ok(&[
            "get",
            "serviceaccount",
            "robot",
            "-o",
            "jsonpath={.secrets[*].name}"
        ]),
        "one two three"
    );
    // ...a merge patch replaces it...
    s.ok(&[
        "patch",
        "serviceaccount",
        "robot",
        "--type=merge",
        "-p",
        r#"{"secrets":[{"name":"only"}]}"#,
    ]);
    assert_eq!(
        s.ok(&[
            "get",
            "serviceaccount",
            "robot",
            "-o",
            "jsonpath={.secrets[*].name}"
        ]),
        "only"
    );
    // ...a JSON patch edits it in place...
    s.ok(&[
        "patch",
        "serviceaccount",
        "robot",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/secrets/-","value":{"name":"more"}}]"#,
    ]);
    assert_eq!(
        s.ok(&[
            "get",
            "serviceaccount",
            "robot",
            "-o",
            "jsonpath={.secrets[*].name}"
        ]),
        "only more"
    );
    // ...and a custom resource has no strategy to merge by: 415.
    s.ok(&[
        "apply",
        "-f",
        fixture("resourcebinding.yaml").to_str().unwrap(),
    ]);
    let out = s.refused(&[
        "patch",
        "resourcebinding",
        "example-redis-e7f90",
        "--type=strategic",
        "-p",
        r#"{"spec":{"version":"v9"}}"#,
    ]);
    assert!(
        out.contains("UnsupportedMediaType") || out.contains("unknown format"),
        "{out}"
    );
}

#[test]
fn the_everyday_commands_work() {
    let Some(s) = sandbox() else { return };
    s.apply_crd(&crd_yaml());
    for (name, version) in [
        ("b-redis", "v0.2.0"),
        ("a-redis", "v0.1.0"),
        ("c-redis", "v0.3.0"),
    ] {
        s.apply(&super::binding(name, "redis", name, version));
    }
    // Custom columns sort the objects; the printed table asks for rows
    // with whole objects (`includeObject=Object`) and sorts by the field
    // in them.
    for output in [
        &[
            "-o",
            "custom-columns=NAME:.metadata.name,VERSION:.spec.version",
        ][..],
        &[],
    ] {
        let mut args = vec!["get", "resourcebindings", "--sort-by=.spec.version"];
        args.extend_from_slice(output);
        let out = s.ok(&args);
        assert_eq!(
            out.lines()
                .skip(1)
                .map(|l| l.split_whitespace().next().unwrap_or_default())
                .collect::<Vec<_>>(),
            ["a-redis", "b-redis", "c-redis"],
            "{out}"
        );
    }
    let out = s.ok(&["get", "resourcebindings", "-o", "wide"]);
    assert!(out.starts_with("NAME") && out.contains("a-redis"), "{out}");
    let out = s.ok(&[
        "get",
        "resourcebindings",
        "-o",
        "jsonpath={.items[?(@.spec.version==\"v0.2.0\")].metadata.name}",
    ]);
    assert_eq!(out, "b-redis");
    let out = s.ok(&["get", "resourcebinding", "a-redis", "-o", "json"]);
    assert!(out.contains("\"kind\": \"ResourceBinding\""), "{out}");
    s.ok(&["annotate", "resourcebinding", "a-redis", "team=platform"]);
    assert_eq!(
        s.ok(&[
            "get",
            "resourcebinding",
            "a-redis",
            "-o",
            "jsonpath={.metadata.annotations.team}"
        ]),
        "platform"
    );
    s.ok(&[
        "wait",
        "--for=jsonpath={.metadata.annotations.team}=platform",
        "resourcebinding/a-redis",
        "--timeout=10s",
    ]);
    // replace with a manifest of the current object, changed.
    let current = s.ok(&["get", "resourcebinding", "c-redis", "-o", "yaml"]);
    let changed = current.replace("version: v0.3.0", "version: v0.4.0");
    s.ok(&["replace", "-f", &s.write("replace.yaml", &changed)]);
    assert_eq!(
        s.ok(&[
            "get",
            "resourcebinding",
            "c-redis",
            "-o",
            "jsonpath={.spec.version}"
        ]),
        "v0.4.0"
    );
    let versions = s.ok(&["api-versions"]);
    assert!(
        versions.lines().any(|l| l == "platform.kratix.io/v1alpha1")
            && versions.lines().any(|l| l == "v1"),
        "{versions}"
    );
    let version = s.ok(&["version", "-o", "json"]);
    assert!(version.contains("\"serverVersion\""), "{version}");

    // -w --output-watch-events prints each event's type.
    let mut watch = s
        .command(&["get", "resourcebindings", "-w", "--output-watch-events"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    s.ok(&["delete", "resourcebinding", "b-redis"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _ = watch.kill();
    let out = watch.wait_with_output().unwrap();
    let events = text(&out.stdout);
    assert!(events.starts_with("EVENT"), "{events}");
    assert!(
        events
            .lines()
            .any(|l| l.starts_with("ADDED") && l.contains("a-redis"))
            && events
                .lines()
                .any(|l| l.starts_with("DELETED") && l.contains("b-redis")),
        "{events}"
    );
}

/// `kubectl auth can-i` sends a SelfSubjectAccessReview as protobuf; the
/// sandbox's one token may do everything, as `system:masters` may.
/// `kubectl --as` (how an admin checks what an account may do before it
/// runs) acts as the impersonated identity, as a real server's
/// `WithImpersonation` makes it; only someone allowed to `impersonate` may.
#[test]
fn impersonation_acts_as_the_user_asked_for() {
    let Some(s) = sandbox() else { return };
    s.apply_crd(&crd_yaml());
    let operator = "--as=system:serviceaccount:kbind-system:kbind-operator";
    // No RBAC for the operator yet: its requests are refused.
    let (_, out) = s.run(&[operator, "auth", "can-i", "create", "jobs", "-n", "default"]);
    assert_eq!(out.trim(), "no");
    let out = s.refused(&[operator, "get", "resourcebindings", "-A"]);
    assert!(
        out.contains("resourcebindings.platform.kratix.io is forbidden: User \"system:serviceaccount:kbind-system:kbind-operator\" cannot list resource \"resourcebindings\" in API group \"platform.kratix.io\" at the cluster scope"),
        "{out}"
    );
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    for file in ["namespace.yaml", "rbac.yaml"] {
        s.ok(&["apply", "-f", deploy.join(file).to_str().unwrap()]);
    }
    assert_eq!(
        s.ok(&[operator, "auth", "can-i", "create", "jobs", "-n", "default"])
            .trim(),
        "yes"
    );
    s.ok(&[operator, "get", "resourcebindings", "-A"]);
    // A user with the groups asked for, and `system:authenticated`.
    let who = s.ok(&[
        "--as=jane",
        "--as-group=devs",
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username} {.status.userInfo.groups}",
    ]);
    assert_eq!(who, r#"jane ["devs","system:authenticated"]"#);
    let out = s.refused(&["--as=jane", "get", "configmaps"]);
    assert!(
        out.contains("configmaps is forbidden: User \"jane\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\""),
        "{out}"
    );
    // Impersonating system:masters is being an admin.
    s.ok(&[
        "--as=jane",
        "--as-group=system:masters",
        "get",
        "configmaps",
    ]);
    // A service account may not impersonate unless RBAC says so.
    let token = s.ok(&["-n", "kbind-system", "create", "token", "kbind-operator"]);
    let token = format!("--token={}", token.trim());
    let out = s.refused(&[&token, "--as=jane", "get", "configmaps"]);
    assert!(
        out.contains("users \"jane\" is forbidden: User \"system:serviceaccount:kbind-system:kbind-operator\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"),
        "{out}"
    );
}

#[test]
fn auth_can_i_reviews_the_sandbox_token() {
    let Some(s) = sandbox() else { return };
    s.apply_crd(&crd_yaml());
    assert_eq!(
        s.ok(&["auth", "can-i", "create", "configmaps"]).trim(),
        "yes"
    );
    assert_eq!(
        s.ok(&[
            "auth",
            "can-i",
            "patch",
            "resourcebindings/status",
            "-n",
            "default"
        ])
        .trim(),
        "yes"
    );
    let rules = s.ok(&["auth", "can-i", "--list"]);
    assert!(
        rules.lines().nth(1).is_some_and(|l| l.starts_with("*.*")),
        "{rules}"
    );
}

#[test]
fn server_side_apply_tracks_field_managers_and_conflicts() {
    let Some(s) = sandbox() else { return };
    let config = |data: &str| {
        s.write(
            &format!("ssa-{}.yaml", data.len()),
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: ssa}}\ndata: {data}\n"),
        )
    };
    let out = s.ok(&[
        "apply",
        "--server-side",
        "--field-manager=alice",
        "-f",
        &config("{a: \"1\", b: \"2\"}"),
    ]);
    assert!(out.contains("configmap/ssa serverside-applied"), "{out}");
    // bob takes a over with an ordinary patch.
    s.ok(&[
        "patch",
        "configmap",
        "ssa",
        "--type=merge",
        "--field-manager=bob",
        "-p",
        r#"{"data":{"a":"bob"}}"#,
    ]);
    let managers = s.config_map_managers("ssa");
    assert_eq!(managers, "alice:Apply bob:Update");
    // alice applies a again: a conflict, named as a real server names it...
    let out = s.refused(&[
        "apply",
        "--server-side",
        "--field-manager=alice",
        "-f",
        &config("{a: \"1\"}"),
    ]);
    assert!(
        out.contains("Apply failed with 1 conflict: conflict with \"bob\" using v1: .data.a"),
        "{out}"
    );
    // ...until she forces it: a is hers again, and b, which only she owned
    // and no longer applies, is gone.
    s.ok(&[
        "apply",
        "--server-side",
        "--field-manager=alice",
        "--force-conflicts",
        "-f",
        &config("{a: \"1\"}"),
    ]);
    assert_eq!(
        s.ok(&["get", "configmap", "ssa", "-o", "jsonpath={.data}"]),
        r#"{"a":"1"}"#
    );
    let managers = s.config_map_managers("ssa");
    assert_eq!(managers, "alice:Apply");
}

/// Leases are validated as `ValidateLeaseSpec` does (leader election
/// writes them; kubectl can too).
#[test]
fn leases_are_held_to_their_rules() {
    let Some(s) = sandbox() else { return };
    let lease = |name: &str, spec: &str| {
        s.write(
            &format!("{name}.yaml"),
            &format!("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {{name: {name}}}\nspec: {spec}\n"),
        )
    };
    let out = s.refused(&[
        "create",
        "-f",
        &lease("bad", "{leaseDurationSeconds: 0, leaseTransitions: -1}"),
    ]);
    for cause in [
        "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
        "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
    ] {
        assert!(out.contains(cause), "{cause:?} missing from:\n{out}");
    }
    s.ok(&[
        "create",
        "-f",
        &lease(
            "good",
            "{holderIdentity: me, leaseDurationSeconds: 15, leaseTransitions: 0}",
        ),
    ]);
}

/// The move Kubernetes documents from client-side to server-side apply:
/// `kubectl apply --server-side` of an object `kubectl apply` made takes
/// over the fields the last-applied annotation still shows, without
/// conflicts, and the server keeps that annotation current, so a later
/// client-side apply diffs against what was really last applied.
#[test]
fn server_side_apply_takes_over_from_client_side_apply() {
    let Some(s) = sandbox() else { return };
    let config = |name: &str, data: &str| {
        s.write(
            name,
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: moved}}\ndata: {data}\n"),
        )
    };
    s.ok(&["apply", "-f", &config("csa.yaml", "{a: \"1\", b: \"2\"}")]);
    let out = s.ok(&[
        "apply",
        "--server-side",
        "-f",
        &config("ssa.yaml", "{a: \"10\", b: \"2\", c: \"<&>\"}"),
    ]);
    assert!(out.contains("configmap/moved serverside-applied"), "{out}");
    // Both Apply entries; the encoder orders them by time to the second,
    // then by name, so which comes first depends on whether a second
    // ticked between the two commands.
    let managers = s.config_map_managers("moved");
    let mut entries: Vec<&str> = managers.split(' ').collect();
    entries.sort_unstable();
    assert_eq!(
        entries,
        ["kubectl-last-applied:Apply", "kubectl:Apply"],
        "kubectl migrated client-side apply's fields: {managers}"
    );
    let annotation = s.ok(&[
        "get",
        "configmap",
        "moved",
        "-o",
        r"jsonpath={.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}",
    ]);
    assert_eq!(
        annotation,
        "{\"apiVersion\":\"v1\",\"data\":{\"a\":\"10\",\"b\":\"2\",\"c\":\"\\u003c\\u0026\\u003e\"},\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"moved\",\"namespace\":\"default\"}}\n"
    );
    // Another field manager does not get the move: its conflicts stand.
    let out = s.refused(&[
        "apply",
        "--server-side",
        "--field-manager=other",
        "-f",
        &config("other.yaml", "{a: \"20\"}"),
    ]);
    assert!(out.contains("conflict with \"kubectl\""), "{out}");
    // Back to client-side apply without b: b was in the last applied
    // configuration, so it goes.
    s.ok(&["apply", "-f", &config("back.yaml", "{a: \"10\", c: \"x\"}")]);
    assert_eq!(
        s.ok(&["get", "configmap", "moved", "-o", "jsonpath={.data}"]),
        r#"{"a":"10","c":"x"}"#
    );
}

/// ServiceAccount tokens from the TokenRequest API (`kubectl create
/// token`) are held to RBAC: the operator's ServiceAccount under
/// `deploy/rbac.yaml` may do what those rules grant and nothing else,
/// refused with a real server's 403.
#[test]
fn service_account_tokens_are_held_to_rbac() {
    let Some(s) = sandbox() else { return };
    s.apply_crd(&crd_yaml());
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    s.ok(&[
        "apply",
        "-f",
        deploy.join("namespace.yaml").to_str().unwrap(),
    ]);
    s.ok(&["apply", "-f", deploy.join("rbac.yaml").to_str().unwrap()]);
    let token = s.ok(&["-n", "kbind-system", "create", "token", "kbind-operator"]);
    let token = format!("--token={}", token.trim());
    let who = s.ok(&[&token, "auth", "whoami"]);
    assert!(
        who.contains("system:serviceaccount:kbind-system:kbind-operator"),
        "{who}"
    );
    s.ok(&[&token, "get", "resourcebindings", "-A"]);
    assert_eq!(
        s.ok(&[
            &token,
            "auth",
            "can-i",
            "patch",
            "resourcebindings/status",
            "-n",
            "default"
        ])
        .trim(),
        "yes"
    );
    assert_eq!(
        s.ok(&[
            &token,
            "-n",
            "kbind-system",
            "auth",
            "can-i",
            "update",
            "leases"
        ])
        .trim(),
        "yes"
    );
    let (_, out) = s.run(&[&token, "-n", "default", "auth", "can-i", "update", "leases"]);
    assert_eq!(out.trim(), "no", "the Lease Role is for kbind-system only");
    // Besides its own rules, what a real server's bootstrap roles give
    // every authenticated identity: asking what it may do, discovery,
    // version and health; no other URL.
    let listed = s.ok(&[&token, "auth", "can-i", "--list"]);
    let rows: Vec<String> = listed
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for row in [
        "selfsubjectaccessreviews.authorization.k8s.io [] [] [create]",
        "[/api/*] [] [get]",
        "[/version] [] [get]",
    ] {
        assert!(
            rows.iter().any(|r| r == row),
            "{row:?} missing from:\n{listed}"
        );
    }
    assert!(!rows.iter().any(|r| r == "[*] [] [*]"), "{listed}");
    assert_eq!(
        s.ok(&[&token, "auth", "can-i", "get", "/version"]).trim(),
        "yes"
    );
    let (_, out) = s.run(&[&token, "auth", "can-i", "get", "/metrics"]);
    assert_eq!(out.trim(), "no");
    let out = s.refused(&[&token, "get", "secrets"]);
    assert!(
        out.contains("secrets is forbidden: User \"system:serviceaccount:kbind-system:kbind-operator\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\""),
        "{out}"
    );
    // The operator creates and deletes Jobs; it never updates one.
    let out = s.refused(&[
        &token,
        "annotate",
        "--overwrite",
        "-f",
        &s.write(
            "job.yaml",
            "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x, namespace: default}\n",
        ),
        "--local=false",
        "a=b",
    ]);
    assert!(
        out.contains(
            "cannot get resource \"jobs\" in API group \"batch\" in the namespace \"default\""
        ),
        "{out}"
    );
    let out = s.refused(&["--token=not-a-token", "get", "configmaps"]);
    assert!(
        out.contains("Unauthorized") || out.contains("provide credentials"),
        "{out}"
    );
}

/// OwnerReferencesPermissionEnforcement, as hardened clusters run it:
/// `blockOwnerDeletion` needs `update` on the owner's `finalizers`.
#[test]
fn block_owner_deletion_needs_update_on_the_owners_finalizers() {
    let Some(s) = sandbox() else { return };
    s.ok(&["create", "serviceaccount", "robot"]);
    s.ok(&["create", "configmap", "owner", "--from-literal=a=1"]);
    let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: robot}\nrules:\n- {apiGroups: [\"\"], resources: [configmaps], verbs: [get, list, create, update, patch, delete]}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: robot}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: robot}\nsubjects: [{kind: ServiceAccount, name: robot, namespace: default}]\n";
    s.ok(&["apply", "-f", &s.write("robot.yaml", role)]);
    let token = format!("--token={}", s.ok(&["create", "token", "robot"]).trim());
    let uid = s.ok(&[
        "get",
        "configmap",
        "owner",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let dependent = |name: &str, block: bool| {
        s.write(&format!("{name}.yaml"), &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: owner, uid: {uid}, blockOwnerDeletion: {block}}}\n"
        ))
    };
    s.ok(&[&token, "apply", "-f", &dependent("free", false)]);
    let out = s.refused(&[&token, "apply", "-f", &dependent("blocking", true)]);
    assert!(
        out.contains("cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on")
            && out.contains("configmaps/finalizers"),
        "{out}"
    );
    let finalizers = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: robot}\nrules:\n- {apiGroups: [\"\"], resources: [configmaps], verbs: [get, list, create, update, patch, delete]}\n- {apiGroups: [\"\"], resources: [configmaps/finalizers], verbs: [update]}\n";
    s.ok(&["apply", "-f", &s.write("robot2.yaml", finalizers)]);
    s.ok(&[&token, "apply", "-f", &dependent("blocking", true)]);
}

#[test]
fn kustomize_directories_and_kubectl_events() {
    let Some(s) = sandbox() else { return };
    let dir = s._dir.path().join("kustomize");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("kustomization.yaml"),
        "resources: [cm.yaml]\nlabels:\n- pairs: {team: a}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kz}\ndata: {a: \"1\"}\n",
    )
    .unwrap();
    let out = s.ok(&["apply", "-k", dir.to_str().unwrap()]);
    assert!(out.contains("configmap/kz created"), "{out}");
    assert_eq!(
        s.ok(&[
            "get",
            "configmap",
            "kz",
            "-o",
            "jsonpath={.metadata.labels.team}"
        ]),
        "a"
    );
    let uid = s.ok(&["get", "configmap", "kz", "-o", "jsonpath={.metadata.uid}"]);
    let event = format!(
        "apiVersion: v1\nkind: Event\nmetadata: {{name: kz.1}}\ninvolvedObject: {{apiVersion: v1, kind: ConfigMap, name: kz, namespace: default, uid: \"{uid}\"}}\nreason: Configured\nmessage: kz configured\ntype: Normal\nsource: {{component: test}}\ncount: 1\nfirstTimestamp: \"2026-01-01T00:00:00Z\"\nlastTimestamp: \"2026-01-01T00:00:00Z\"\n"
    );
    s.ok(&["apply", "-f", &s.write("kz-event.yaml", &event)]);
    let out = s.ok(&["events", "--for", "configmap/kz"]);
    assert!(
        out.contains("Configured") && out.contains("kz configured"),
        "{out}"
    );
}

/// Updates a real server refuses: a started Job's pod template and
/// selector, the content of an immutable ConfigMap, a binding's roleRef;
/// and `metadata.generation` only on kinds whose strategy keeps it.
#[test]
fn immutable_fields_are_refused_as_on_a_real_server() {
    let Some(s) = sandbox() else { return };
    s.ok(&["create", "job", "once", "--image=busybox"]);
    let out = s.refused(&[
        "patch",
        "job",
        "once",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"alpine"}]"#,
    ]);
    assert!(
        out.contains("spec.template: Invalid value:") && out.contains("field is immutable"),
        "{out}"
    );
    let out = s.refused(&[
        "patch",
        "job",
        "once",
        "--type=merge",
        "-p",
        r#"{"spec":{"selector":{"matchLabels":{"a":"b"}}}}"#,
    ]);
    assert!(out.contains("spec.selector: Invalid value:"), "{out}");
    // A suspended Job that never started may be rescheduled, not rewritten.
    let suspended = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: later}\nspec:\n  suspend: true\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: main, image: busybox}]\n";
    s.ok(&["apply", "-f", &s.write("suspended.yaml", suspended)]);
    s.ok(&[
        "patch",
        "job",
        "later",
        "--type=merge",
        "-p",
        r#"{"spec":{"template":{"spec":{"nodeSelector":{"zone":"a"}}}}}"#,
    ]);
    let out = s.refused(&[
        "patch",
        "job",
        "later",
        "--type=merge",
        "-p",
        r#"{"spec":{"template":{"spec":{"restartPolicy":"OnFailure"}}}}"#,
    ]);
    assert!(out.contains("field is immutable"), "{out}");
    assert_eq!(
        s.ok(&[
            "get",
            "job",
            "once",
            "-o",
            "jsonpath={.metadata.generation}"
        ]),
        "1"
    );

    s.ok(&["create", "configmap", "frozen", "--from-literal=a=1"]);
    s.ok(&[
        "patch",
        "configmap",
        "frozen",
        "-p",
        r#"{"immutable":true}"#,
    ]);
    let out = s.refused(&[
        "patch",
        "configmap",
        "frozen",
        "-p",
        r#"{"data":{"a":"2"}}"#,
    ]);
    assert!(
        out.contains("data: Forbidden: field is immutable when `immutable` is set"),
        "{out}"
    );
    s.ok(&["label", "configmap", "frozen", "tier=gold"]);
    assert_eq!(
        s.ok(&[
            "get",
            "configmap",
            "frozen",
            "-o",
            "jsonpath={.metadata.generation}"
        ]),
        ""
    );

    s.ok(&["create", "secret", "generic", "typed", "--from-literal=a=b"]);
    let out = s.refused(&[
        "patch",
        "secret",
        "typed",
        "-p",
        r#"{"type":"kubernetes.io/tls"}"#,
    ]);
    assert!(
        out.contains("type: Invalid value:") && out.contains("field is immutable"),
        "{out}"
    );

    s.ok(&["create", "rolebinding", "rb", "--role=a", "--user=x"]);
    let out = s.refused(&[
        "patch",
        "rolebinding",
        "rb",
        "--type=merge",
        "-p",
        r#"{"roleRef":{"name":"b"}}"#,
    ]);
    assert!(
        out.contains("roleRef: Invalid value:") && out.contains("cannot change roleRef"),
        "{out}"
    );
}

fn header(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect()
}

/// `kubectl get` of a built-in kind prints the columns of the real
/// server's printers, not just NAME and AGE.
#[test]
fn built_in_kinds_print_their_own_columns() {
    let Some(s) = sandbox() else { return };
    s.ok(&["create", "job", "once", "--image=busybox"]);
    s.ok(&[
        "create",
        "configmap",
        "app",
        "--from-literal=a=1",
        "--from-literal=b=2",
    ]);
    s.ok(&[
        "create",
        "role",
        "reader",
        "--verb=get",
        "--resource=configmaps",
    ]);
    s.ok(&[
        "create",
        "rolebinding",
        "reader",
        "--role=reader",
        "--user=alice",
    ]);
    let jobs = s.ok(&["get", "jobs"]);
    assert_eq!(
        header(&jobs),
        ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
        "{jobs}"
    );
    assert!(jobs.contains("Running") && jobs.contains("0/1"), "{jobs}");
    let wide = s.ok(&["get", "jobs", "-o", "wide"]);
    assert!(
        header(&wide).ends_with(&["CONTAINERS".into(), "IMAGES".into(), "SELECTOR".into()])
            && wide.contains("busybox")
            && wide.contains("batch.kubernetes.io/controller-uid="),
        "{wide}"
    );
    let configmaps = s.ok(&["get", "configmap", "app"]);
    assert_eq!(header(&configmaps), ["NAME", "DATA", "AGE"]);
    assert!(
        configmaps
            .lines()
            .nth(1)
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("2")),
        "{configmaps}"
    );
    s.ok(&["create", "secret", "generic", "creds", "--from-literal=a=b"]);
    let secrets = s.ok(&["get", "secret", "creds"]);
    assert_eq!(header(&secrets), ["NAME", "TYPE", "DATA", "AGE"]);
    assert!(secrets.contains("Opaque"), "{secrets}");
    let namespaces = s.ok(&["get", "namespace", "default"]);
    assert_eq!(header(&namespaces), ["NAME", "STATUS", "AGE"]);
    assert!(namespaces.contains("Active"), "{namespaces}");
    let roles = s.ok(&["get", "role", "reader"]);
    assert_eq!(header(&roles), ["NAME", "CREATED AT"]);
    let bindings = s.ok(&["get", "rolebinding", "reader", "-o", "wide"]);
    assert_eq!(
        header(&bindings),
        ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    );
    assert!(
        bindings.contains("Role/reader") && bindings.contains("alice"),
        "{bindings}"
    );
    // The Job controller makes the Job's pod a moment after the Job; no
    // node runs it.
    let mut pods = String::new();
    for _ in 0..100 {
        pods = s.ok(&["get", "pods", "-l", "job-name=once"]);
        if pods.lines().count() > 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        header(&pods),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{pods}"
    );
    let row: Vec<&str> = pods
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert!(
        row.first().is_some_and(|n| n.starts_with("once-")) && row[1..4] == ["0/1", "Pending", "0"],
        "{pods}"
    );
    let wide = s.ok(&["get", "pods", "-l", "job-name=once", "-o", "wide"]);
    assert!(
        header(&wide).ends_with(&[
            "IP".into(),
            "NODE".into(),
            "NOMINATED NODE".into(),
            "READINESS GATES".into()
        ]),
        "{wide}"
    );
    // Of the kinds served, Services, Pods, Jobs and Deployments are in the
    // `all` category, each printed with its own columns and its kind in
    // front of its name; `default` holds the `kubernetes` Service, as on a
    // cluster.
    let all = s.ok(&["get", "all"]);
    let sections: Vec<&str> = all.split("\n\n").collect();
    assert_eq!(sections.len(), 3, "{all}");
    assert!(sections[0].contains("service/kubernetes "), "{all}");
    let sections = &sections[1..];
    assert_eq!(header(sections[0]), header(&pods), "{all}");
    assert!(sections[0].contains("pod/once-"), "{all}");
    assert_eq!(header(sections[1]), header(&jobs), "{all}");
    assert!(
        sections[1]
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("job.batch/once ")),
        "{all}"
    );
    // A running Job's pod deleted by hand goes (kubectl waits until it has:
    // the Job controller counts it and lets go of its tracking finalizer);
    // the Job deleted, its pods go too.
    let pod = row[0].to_string();
    s.ok(&["delete", "pod", &pod, "--timeout=10s"]);
    s.ok(&["delete", "job", "once", "--timeout=10s"]);
    s.ok(&[
        "wait",
        "--for=delete",
        "pod",
        "-l",
        "job-name=once",
        "--timeout=15s",
    ]);
    s.apply_crd(&crd_yaml());
    let crds = s.ok(&["get", "crd"]);
    assert_eq!(header(&crds), ["NAME", "CREATED AT"]);
}

/// Pod Security admission by namespace label, as kubectl meets it: a pod
/// that breaks the enforced level is refused with the policy's words, a
/// Job whose template does is created with a warning, and its pods are
/// refused when the Job controller makes them (`FailedCreate`).
#[test]
fn pod_security_refuses_pods_and_warns_of_jobs_by_namespace_label() {
    let Some(s) = sandbox() else { return };
    s.ok(&["create", "namespace", "secure"]);
    s.ok(&[
        "label",
        "namespace",
        "secure",
        "pod-security.kubernetes.io/enforce=restricted",
    ]);
    let words = "violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"c\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"c\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"c\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"c\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")";
    let out = s.refused(&[
        "run",
        "c",
        "-n",
        "secure",
        "--image=busybox",
        "--restart=Never",
    ]);
    assert!(
        out.contains(&format!("pods \"c\" is forbidden: {words}")),
        "{out}"
    );
    // A pod that meets the level is admitted.
    let compliant = "apiVersion: v1\nkind: Pod\nmetadata: {name: ok, namespace: secure}\nspec:\n  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\n  containers:\n  - name: c\n    image: busybox\n    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}\n";
    s.ok(&["create", "-f", &s.write("compliant.yaml", compliant)]);
    // A Job is not refused, only warned of; its pod is.
    let (created, out) = s.run(&["create", "job", "c", "-n", "secure", "--image=busybox"]);
    assert!(created, "{out}");
    assert!(
        out.contains("Warning: would violate PodSecurity \"restricted:latest\""),
        "{out}"
    );
    let mut events = String::new();
    for _ in 0..100 {
        events = s.ok(&[
            "get",
            "events",
            "-n",
            "secure",
            "--field-selector",
            "reason=FailedCreate",
            "-o",
            "jsonpath={.items[*].message}",
        ]);
        if !events.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        events.starts_with("Error creating: pods \"c-")
            && events.contains("is forbidden: violates PodSecurity"),
        "{events}"
    );
}

/// The built-in kinds' own field selectors, and list options a real server
/// validates (`ValidateListOptions`) or cannot serve.
#[test]
fn field_selectors_and_list_options_behave_as_on_a_real_server() {
    let Some(s) = sandbox() else { return };
    s.ok(&["create", "namespace", "team-a"]);
    assert_eq!(
        s.ok(&[
            "get",
            "ns",
            "--field-selector",
            "status.phase=Active",
            "-o",
            "name"
        ]),
        "namespace/default\nnamespace/kube-node-lease\nnamespace/kube-public\nnamespace/kube-system\nnamespace/team-a\n",
        "the namespaces a real server makes at start, and the new one"
    );
    s.ok(&["create", "secret", "generic", "plain", "--from-literal=a=b"]);
    create_pull_secret(&s);
    assert_eq!(
        s.ok(&[
            "get",
            "secrets",
            "--field-selector",
            "type=kubernetes.io/dockerconfigjson",
            "-o",
            "name"
        ]),
        "secret/pull\n"
    );
    // A Job no pod has finished for has status.successful=0, though its
    // status leaves `succeeded` out.
    s.ok(&["create", "job", "once", "--image=busybox"]);
    assert_eq!(
        s.ok(&[
            "get",
            "jobs",
            "--field-selector",
            "status.successful=0",
            "-o",
            "name"
        ]),
        "job.batch/once\n"
    );
    let out = s.refused(&["get", "configmaps", "--field-selector", "data.a=1"]);
    assert!(out.contains("field label not supported: data.a"), "{out}");
    // Query parameters as apimachinery's parameter codec reads them: a
    // number that is none is refused in Go's words; any flag value but
    // `0` or `false` is true, so `watch=yes` watches.
    let out = s.refused(&["get", "--raw", "/api/v1/configmaps?limit=abc"]);
    assert!(
        out.contains(r#"strconv.ParseInt: parsing "abc": invalid syntax"#),
        "{out}"
    );
    let out = s.refused(&[
        "get",
        "--raw",
        "/api/v1/configmaps?watch=1&timeoutSeconds=1e3",
    ]);
    assert!(out.contains("invalid syntax"), "{out}");
    let watched = s.ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/default/secrets?watch=yes&timeoutSeconds=1",
    ]);
    assert!(
        watched.starts_with(r#"{"type":"ADDED","object":{"#),
        "a watch stream: {watched}"
    );

    let out = s.refused(&[
        "get",
        "--raw",
        "/api/v1/configmaps?resourceVersionMatch=Exact",
    ]);
    assert!(
        out.contains("resourceVersionMatch is forbidden unless resourceVersion is provided"),
        "{out}"
    );
    let out = s.refused(&[
        "get",
        "--raw",
        "/api/v1/configmaps?resourceVersion=0&resourceVersionMatch=Exact",
    ]);
    assert!(
        out.contains(r#"resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""#)
            || out.contains(r#"resourceVersionMatch "exact" is forbidden"#),
        "{out}"
    );
    // kbind keeps no past states: an Exact list of an older version is
    // what a real server answers once etcd has compacted it.
    let out = s.refused(&[
        "get",
        "--raw",
        "/api/v1/configmaps?resourceVersion=1&resourceVersionMatch=Exact",
    ]);
    assert!(out.contains("too old resource version"), "{out}");
    let out = s.refused(&[
        "get",
        "--raw",
        "/api/v1/configmaps?resourceVersion=99999999",
    ]);
    assert!(out.contains("Too large resource version"), "{out}");
    let listed: serde_json::Value = serde_json::from_str(&s.ok(&[
        "get",
        "--raw",
        "/api/v1/configmaps?resourceVersion=0&resourceVersionMatch=NotOlderThan",
    ]))
    .unwrap();
    assert_eq!(listed["kind"], "ConfigMapList");
    let out = s.refused(&[
        "get",
        "--raw",
        "/api/v1/configmaps?watch=true&resourceVersionMatch=NotOlderThan",
    ]);
    assert!(
        out.contains(
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"
        ),
        "{out}"
    );
}

/// A CRD whose schema changes is served as a real server serves it: the
/// objects already stored are read through the new schema (a new default
/// appears, a field no longer in the schema is pruned) with nothing
/// written, and a `kubectl get -w` open on the kind ends, since the real
/// server rebuilds the kind's storage and so its watch cache.
#[test]
fn objects_are_read_through_their_crds_current_schema() {
    let Some(s) = sandbox() else { return };
    let crd = |properties: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: gadgets.example.com}}
spec:
  group: example.com
  scope: Namespaced
  names: {{kind: Gadget, plural: gadgets}}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties: {properties}
"
        )
    };
    s.apply(&crd("{size: {type: string}, old: {type: string}}"));
    s.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/gadgets.example.com",
    ]);
    s.apply("apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g, namespace: default}\nspec: {size: small, old: x}\n");
    let before = s.ok(&[
        "get",
        "gadget",
        "g",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    let mut watch = s
        .command(&["get", "gadgets", "-w"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    s.apply(&crd(
        "{size: {type: string}, colour: {type: string, default: blue}}",
    ));
    let read = s.ok(&[
        "get",
        "gadget",
        "g",
        "-o",
        "jsonpath={.spec} {.metadata.resourceVersion}",
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let ended = loop {
        match watch.try_wait().unwrap() {
            Some(status) => break Some(status),
            None if std::time::Instant::now() > deadline => break None,
            None => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    };
    if ended.is_none() {
        let _ = watch.kill();
        let _ = watch.wait();
    }
    assert_eq!(
        read,
        format!(r#"{{"colour":"blue","size":"small"}} {before}"#)
    );
    assert!(ended.is_some(), "kubectl get -w still running");
}

/// `ValidateConfigMap` and `ValidateSecret`: 1 MiB of data at most (the
/// bytes stored: `binaryData` counted decoded), no key in both of a
/// ConfigMap's bags, and what each well-known Secret type requires. A policy
/// shipped in a ConfigMap meets the first rule (README, "Shipping a policy").
#[test]
fn config_maps_and_secrets_are_held_to_their_size_and_type_rules() {
    let Some(s) = sandbox() else { return };
    let dir = s._dir.path();
    let file = |name: &str, bytes: Vec<u8>| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_string()
    };
    const MIB: usize = 1024 * 1024;
    let over = file("over.txt", vec![b'a'; MIB + 1]);
    let out = s.refused(&[
        "create",
        "configmap",
        "big",
        &format!("--from-file=f={over}"),
    ]);
    assert!(
        out.contains(
            r#"ConfigMap "big" is invalid: []: Too long: may not be more than 1048576 bytes"#
        ),
        "{out}"
    );
    // A body of 2.5 MB is read (and the ConfigMap refused by its own rule);
    // over 3 MiB the server reads no further, as kube-apiserver's
    // --max-request-body-bytes.
    let read = file("read.txt", vec![b'a'; 2_500_000]);
    let out = s.refused(&[
        "create",
        "configmap",
        "read",
        &format!("--from-file=f={read}"),
    ]);
    assert!(out.contains("[]: Too long"), "{out}");
    let unread = file("unread.txt", vec![b'a'; 3 * MIB + 1]);
    let out = s.refused(&[
        "create",
        "configmap",
        "unread",
        &format!("--from-file=f={unread}"),
    ]);
    assert!(
        out.contains("Request entity too large: limit is 3145728"),
        "{out}"
    );
    // Binary content goes to binaryData, base64 on the wire; what counts is
    // the bytes it stands for: exactly 1 MiB is accepted.
    let binary = file("exact.bin", vec![0xff; MIB]);
    s.ok(&[
        "create",
        "configmap",
        "exact",
        &format!("--from-file=w={binary}"),
    ]);
    let half = file("half.bin", vec![0xff; MIB / 2]);
    let rest = file("rest.txt", vec![b'a'; MIB / 2 + 1]);
    let out = s.refused(&[
        "create",
        "configmap",
        "mixed",
        &format!("--from-file=w={half}"),
        &format!("--from-file=t={rest}"),
    ]);
    assert!(out.contains("[]: Too long"), "{out}");
    let both = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: both}\ndata: {k: v}\nbinaryData: {k: AAEC}\n";
    let out = s.refused(&["create", "-f", &s.write("both.yaml", both)]);
    assert!(
        out.contains(r#"data[k]: Invalid value: "k": duplicate of key present in binaryData"#),
        "{out}"
    );
    let spaced = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: key}\ndata: {a b: c}\n";
    let out = s.refused(&["create", "-f", &s.write("key.yaml", spaced)]);
    assert!(
        out.contains(r#"data[a b]: Invalid value: "a b": a valid config key"#),
        "{out}"
    );

    let out = s.refused(&[
        "create",
        "secret",
        "generic",
        "big",
        &format!("--from-file=f={over}"),
    ]);
    assert!(
        out.contains(
            r#"Secret "big" is invalid: data: Too long: may not be more than 1048576 bytes"#
        ),
        "{out}"
    );
    let typed = |name: &str, kind: &str, literal: &str| {
        s.refused(&[
            "create",
            "secret",
            "generic",
            name,
            &format!("--type=kubernetes.io/{kind}"),
            &format!("--from-literal={literal}"),
        ])
    };
    let out = typed("pull", "dockerconfigjson", "x=y");
    assert!(
        out.contains("data[.dockerconfigjson]: Required value"),
        "{out}"
    );
    let out = typed("pull", "dockerconfigjson", ".dockerconfigjson=x");
    assert!(
        out.contains(r#"data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": invalid character 'x' looking for beginning of value"#),
        "{out}"
    );
    let out = typed("pull", "dockercfg", ".dockercfg=[]");
    assert!(
        out.contains("json: cannot unmarshal array into Go value of type map[string]interface {}"),
        "{out}"
    );
    let out = typed("ba", "basic-auth", "user=x");
    assert!(
        out.contains("data[%s][username]: Required value")
            && out.contains("data[%s][password]: Required value"),
        "{out}"
    );
    let out = typed("tls", "tls", "tls.crt=x");
    assert!(out.contains("data[tls.key]: Required value"), "{out}");
    assert!(!out.contains("data[tls.crt]"), "{out}");
    let out = typed("ssh", "ssh-auth", "ssh-privatekey=");
    assert!(
        out.contains("data[%s][ssh-privatekey]: Required value"),
        "{out}"
    );
    let out = typed("token", "service-account-token", "a=b");
    assert!(
        out.contains("metadata.annotations[kubernetes.io/service-account.name]: Required value"),
        "{out}"
    );
    // What a real server takes: a username alone, a pull secret made by kubectl.
    s.ok(&[
        "create",
        "secret",
        "generic",
        "ba",
        "--type=kubernetes.io/basic-auth",
        "--from-literal=username=x",
    ]);
    create_pull_secret(&s);
}

/// The command `deploy/policy.yaml` gives for shipping a policy in its
/// ConfigMap, run as written, after the ConfigMap was applied as the README
/// applies it: it takes a component `kubectl apply` could not (the
/// annotation limit), and a ConfigMap's 1 MiB is refused.
#[test]
fn the_documented_policy_configmap_command_ships_a_component() {
    let Some(s) = sandbox() else { return };
    let deploy = |name: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy")
            .join(name)
            .to_str()
            .unwrap()
            .to_string()
    };
    s.ok(&["apply", "-f", &deploy("namespace.yaml")]);
    s.ok(&["apply", "-f", &deploy("policy.yaml")]);
    let documented: String = std::fs::read_to_string(deploy("policy.yaml"))
        .unwrap()
        .lines()
        .skip_while(|l| !l.starts_with("#   kubectl"))
        .take_while(|l| l.starts_with("#   "))
        .map(|l| l.trim_start_matches('#').trim().trim_end_matches('\\'))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        documented.ends_with("| kubectl replace -f -"),
        "{documented}"
    );
    let work = s._dir.path();
    std::fs::write(work.join("my-config.yaml"), "policy: policy.wasm\n").unwrap();
    let kubectl = super::kubectl_binary().unwrap();
    let run = |command: &str, size: usize| {
        let component: Vec<u8> = (0..size).map(|i| (i * 7919 % 251) as u8).collect();
        std::fs::write(work.join("my.wasm"), &component).unwrap();
        let o = Command::new("sh")
            .arg("-c")
            .arg(command.replace("kubectl ", &format!("{} ", kubectl.display())))
            .current_dir(work)
            .env("KUBECONFIG", &s.kubeconfig)
            .env("KUBECACHEDIR", work.join("kube-cache"))
            .output()
            .unwrap();
        (
            o.status.success(),
            format!("{}{}", text(&o.stdout), text(&o.stderr)),
            component,
        )
    };
    let (ok, out, component) = run(&documented, 300_000);
    assert!(ok, "{out}");
    let stored = s.ok(&[
        "-n",
        "kbind-system",
        "get",
        "configmap",
        "kbind-policy",
        "-o",
        r"jsonpath={.binaryData.policy\.wasm}",
    ]);
    use base64::Engine as _;
    let stored = base64::engine::general_purpose::STANDARD
        .decode(stored.trim())
        .unwrap();
    assert!(stored == component, "the component as shipped");

    let applied = documented.replace("kubectl replace", "kubectl apply");
    let (ok, out, _) = run(&applied, 300_000);
    assert!(!ok, "{out}");
    assert!(
        out.contains("metadata.annotations: Too long: may not be more than 262144 bytes"),
        "{out}"
    );
    let (ok, out, _) = run(&documented, 1024 * 1024 + 1);
    assert!(!ok, "{out}");
    assert!(
        out.contains(r#"ConfigMap "kbind-policy" is invalid: []: Too long: may not be more than 1048576 bytes"#),
        "{out}"
    );
}

/// `pkg/apis/rbac/validation`: what a Promise's `rbac.permissions` become
/// (Roles, ClusterRoles and their bindings) is held to the real rules, so a
/// permission a cluster refuses is refused here too.
#[test]
fn rbac_objects_are_validated_as_a_real_server_validates_them() {
    let Some(s) = sandbox() else { return };
    let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r1}\nrules:\n- apiGroups: ['']\n  resources: [configmaps]\n- verbs: [get]\n  nonResourceURLs: [/healthz]\n  resources: [pods]\n- verbs: [get]\n";
    let out = s.refused(&["create", "-f", &s.write("role.yaml", role)]);
    for cause in [
        "rules[0].verbs: Required value: verbs must contain at least one value",
        r#"rules[1].nonResourceURLs: Invalid value: []string{"/healthz"}: namespaced rules cannot apply to non-resource URLs"#,
        r#"rules[1].nonResourceURLs: Invalid value: []string{"/healthz"}: rules cannot apply to both regular resources and non-resource URLs"#,
        "rules[2].apiGroups: Required value: resource rules must supply at least one api group",
        "rules[2].resources: Required value: resource rules must supply at least one resource",
    ] {
        assert!(out.contains(cause), "{cause:?} missing from:\n{out}");
    }
    let cluster_role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: health}\nrules:\n- verbs: [get]\n  nonResourceURLs: [/healthz]\n";
    s.ok(&["create", "-f", &s.write("cluster-role.yaml", cluster_role)]);
    let binding = "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: rb1}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Deployment, name: ''}\nsubjects:\n- {kind: ServiceAccount, name: ''}\n- {kind: Robot, name: x}\n- {kind: User, name: alice}\n";
    let out = s.refused(&["create", "-f", &s.write("rb.yaml", binding)]);
    for cause in [
        r#"roleRef.kind: Unsupported value: "Deployment": supported values: "Role", "ClusterRole""#,
        "roleRef.name: Required value",
        "subjects[0].name: Required value",
        r#"subjects[1].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group""#,
        r#"subjects[2].apiGroup: Unsupported value: "": supported values: "rbac.authorization.k8s.io""#,
    ] {
        assert!(out.contains(cause), "{cause:?} missing from:\n{out}");
    }
    let cluster_binding = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: crb1}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r1}\nsubjects:\n- {kind: ServiceAccount, name: robot}\n";
    let out = s.refused(&["create", "-f", &s.write("crb.yaml", cluster_binding)]);
    for cause in [
        r#"roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole""#,
        "subjects[0].namespace: Required value",
    ] {
        assert!(out.contains(cause), "{cause:?} missing from:\n{out}");
    }
    s.ok(&[
        "create",
        "clusterrolebinding",
        "health",
        "--clusterrole=health",
        "--serviceaccount=default:robot",
    ]);
}

/// A CRD's deletion as the CRD registry and its finalizer controller carry
/// it out: `Terminating` with the cleanup finalizer, every instance deleted,
/// an instance's own finalizers honoured (the CRD waits for them), no new
/// instance while it waits, and the CRD gone once the last one is.
#[test]
fn a_crd_is_deleted_after_its_instances_and_their_finalizers() {
    let Some(s) = sandbox() else { return };
    s.apply(WIDGETS);
    s.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.com",
        "--timeout=10s",
    ]);
    let widget = |name: &str, finalizers: &str| {
        format!(
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: {name}, finalizers: [{finalizers}]}}\n"
        )
    };
    s.apply(&widget("held", "example.com/hold"));
    s.apply(&widget("free", ""));
    s.ok(&["delete", "crd", "widgets.example.com", "--wait=false"]);
    // The finalizer controller deletes the instances a moment later.
    super::wait_for(&s, &["get", "widgets", "-o", "name"], |out| {
        !out.contains("widget.example.com/free")
    });
    let terminating = s.ok(&[
        "get",
        "crd",
        "widgets.example.com",
        "-o",
        r#"jsonpath={.metadata.finalizers} {.status.conditions[?(@.type=="Terminating")].status} {.status.conditions[?(@.type=="Terminating")].reason}: {.status.conditions[?(@.type=="Terminating")].message}"#,
    ]);
    assert_eq!(
        terminating,
        r#"["customresourcecleanup.apiextensions.k8s.io"] True InstanceDeletionInProgress: CustomResource deletion is in progress"#
    );
    assert_eq!(
        s.ok(&[
            "get",
            "widgets",
            "-o",
            "jsonpath={.items[*].metadata.name} {.items[*].metadata.deletionTimestamp}"
        ])
        .split(' ')
        .next(),
        Some("held"),
        "the instance without finalizers is gone, the held one waits"
    );
    let out = s.refused(&["create", "-f", &s.write("new.yaml", &widget("new", ""))]);
    assert!(
        out.contains("create not allowed while custom resource definition is terminating"),
        "{out}"
    );
    s.ok(&[
        "patch",
        "widget",
        "held",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    s.ok(&[
        "wait",
        "--for=delete",
        "crd/widgets.example.com",
        "--timeout=10s",
    ]);
    // kubectl's cached discovery still names the kind; the server has it no more.
    let out = s.refused(&["get", "widgets"]);
    assert!(
        out.contains("the server could not find the requested resource")
            || out.contains("the server doesn't have a resource type"),
        "{out}"
    );
}

/// Two versions of one kind, as a Promise's API grows one: `v1alpha1`
/// served, `v1` stored, each with a field the other lacks.
const TWO_VERSIONS: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: parts.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: parts, singular: part, kind: Part}
  versions:
  - name: v1alpha1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: string}, old: {type: string}}}
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: string}, color: {type: string, default: blue}}}
";

#[test]
fn a_custom_resource_is_read_at_the_version_asked_for() {
    let Some(s) = sandbox() else { return };
    s.apply_crd(TWO_VERSIONS);
    s.apply(
        "apiVersion: example.com/v1alpha1\nkind: Part\nmetadata: {name: g1, namespace: default}\nspec: {size: big, old: x}\n",
    );
    // Written at v1alpha1, stored at v1: the None strategy changes the
    // apiVersion, the storage version's schema prunes `old`, and reading
    // from storage applies that schema's defaults.
    let shape = "jsonpath={.apiVersion} {.spec}";
    assert_eq!(
        s.ok(&["get", "parts.v1.example.com", "g1", "-o", shape]),
        r#"example.com/v1 {"color":"blue","size":"big"}"#
    );
    // Read at v1alpha1: converted back, and pruned by v1alpha1's schema,
    // which has no `color`.
    assert_eq!(
        s.ok(&["get", "parts.v1alpha1.example.com", "g1", "-o", shape]),
        r#"example.com/v1alpha1 {"size":"big"}"#
    );
    assert_eq!(
        s.ok(&[
            "get",
            "parts.v1alpha1.example.com",
            "-o",
            "jsonpath={.items[*].apiVersion}"
        ]),
        "example.com/v1alpha1"
    );
    // With no version named, kubectl reads the preferred one: discovery
    // ranks GA before alpha, whatever the CRD's order.
    assert_eq!(
        s.ok(&["get", "parts", "-o", "jsonpath={.items[*].apiVersion}"]),
        "example.com/v1"
    );
    // A patch at v1alpha1 of a field storage drops writes nothing.
    let rv = |s: &Sandbox| {
        s.ok(&[
            "get",
            "parts.v1.example.com",
            "g1",
            "-o",
            "jsonpath={.metadata.resourceVersion}",
        ])
    };
    let before = rv(&s);
    s.ok(&[
        "patch",
        "parts.v1alpha1.example.com",
        "g1",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"old":"y"}}"#,
    ]);
    assert_eq!(rv(&s), before, "nothing stored changed");
    // A watch at v1alpha1 sees a change written at v1 at its own version.
    let watch = s.watch(&[
        "get",
        "parts.v1alpha1.example.com",
        "-w",
        "--output-watch-events",
        "-o",
        "jsonpath={.type} {.object.apiVersion} {.object.spec}{\"\\n\"}",
    ]);
    s.ok(&[
        "patch",
        "parts.v1.example.com",
        "g1",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"size":"small","color":"red"}}"#,
    ]);
    let wanted = r#"MODIFIED example.com/v1alpha1 {"size":"small"}"#;
    let seen = watch.until(wanted);
    assert!(seen.iter().any(|l| l == wanted), "watch lines: {seen:?}");
    assert_eq!(
        seen.first().map(String::as_str),
        Some(r#"ADDED example.com/v1alpha1 {"size":"big"}"#),
        "{seen:?}"
    );
}

#[test]
fn server_side_apply_owns_a_map_lists_items_one_by_one() {
    let Some(s) = sandbox() else { return };
    let web = s.write(
        "web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - {name: app, image: nginx:1}\n",
    );
    s.ok(&["apply", "--server-side", "-f", &web]);
    // A second manager adds a container of its own: a real server merges
    // `containers` by name, so this is no conflict over the list.
    let sidecar = |image_of_app: Option<&str>| {
        let mut containers = String::from("      - {name: proxy, image: envoy:1}\n");
        if let Some(image) = image_of_app {
            containers.push_str(&format!("      - {{name: app, image: {image}}}\n"));
        }
        s.write(
            "sidecar.yaml",
            &format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: default}}\nspec:\n  template:\n    spec:\n      containers:\n{containers}"),
        )
    };
    s.ok(&[
        "apply",
        "--server-side",
        "--field-manager=mesh",
        "-f",
        &sidecar(None),
    ]);
    let names = |s: &Sandbox| {
        s.ok(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].name}",
        ])
    };
    assert_eq!(names(&s), "app proxy");
    let owned = s.ok(&[
        "get",
        "deployment",
        "web",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[?(@.manager==\"mesh\")].fieldsV1.f:spec.f:template.f:spec.f:containers}",
    ]);
    assert_eq!(
        owned,
        r#"{"k:{\"name\":\"proxy\"}":{".":{},"f:image":{},"f:name":{}}}"#
    );
    // The other manager's container's fields stay its own.
    let out = s.refused(&[
        "apply",
        "--server-side",
        "--field-manager=mesh",
        "-f",
        &sidecar(Some("nginx:2")),
    ]);
    assert!(
        out.contains(r#"conflict with "kubectl" using apps/v1: .spec.template.spec.containers[name="app"].image"#),
        "{out}"
    );
    // Applying without its container removes that one alone.
    let without = s.write(
        "mesh-none.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\n",
    );
    s.ok(&[
        "apply",
        "--server-side",
        "--field-manager=mesh",
        "-f",
        &without,
    ]);
    assert_eq!(names(&s), "app");
}

#[test]
fn kubectl_apply_merges_a_services_ports_by_port() {
    let Some(s) = sandbox() else { return };
    let service = |target: u16| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: two, namespace: default}}\nspec:\n  selector: {{app: two}}\n  ports:\n  - {{name: http, port: 80, targetPort: 8080}}\n  - {{name: https, port: 443, targetPort: {target}}}\n"
        )
    };
    s.apply(&service(8443));
    // kubectl sends only the changed port, keyed by `port` (the Service
    // port's patchMergeKey; a container port's is `containerPort`).
    s.apply(&service(9443));
    assert_eq!(
        s.ok(&[
            "get",
            "service",
            "two",
            "-o",
            "jsonpath={.spec.ports[*].targetPort}"
        ]),
        "8080 9443"
    );
}

#[test]
fn kubectl_discovers_everything_in_two_requests_and_revalidates_them() {
    let Some(s) = sandbox() else { return };
    s.apply_crd(&crd_yaml());
    let cache = s._dir.path().join("discovery-cache");
    let cache = cache.to_str().unwrap();
    let discover = || {
        let o = s.kubectl(&["api-resources", "--cache-dir", cache, "-v=8"]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        (text(&o.stdout), text(&o.stderr))
    };
    // Aggregated discovery, as a 1.32 server answers kubectl: /api and
    // /apis hold every group's resources; no group version is fetched.
    let (out, log) = discover();
    let gets: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" GET https://"))
        .collect();
    assert_eq!(gets.len(), 2, "{gets:#?}");
    assert!(
        gets[0].contains("/api?") && gets[1].contains("/apis?"),
        "{gets:#?}"
    );
    for kind in ["Deployment", "ResourceBinding", "Pod", "Lease"] {
        assert!(out.contains(kind), "{kind} listed: {out}");
    }
    // Its ETag lets kubectl's HTTP cache revalidate (the server's 304)
    // and answer from what it holds.
    let (_, log) = discover();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("X-From-Cache: 1"))
            .count(),
        2,
        "{log}"
    );
}

#[test]
fn kubectl_explain_reads_a_fields_description_and_its_types_from_a_cached_document() {
    let Some(s) = sandbox() else { return };
    let cache = s._dir.path().join("openapi-cache");
    let cache = cache.to_str().unwrap();
    let explain = |verbosity: &str| {
        let o = s.kubectl(&[
            "explain",
            "deployment.spec.strategy",
            "--cache-dir",
            cache,
            verbosity,
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        (text(&o.stdout), text(&o.stderr))
    };
    // A reference with a description beside it goes in an `allOf`, as a
    // real server's v3 documents have it: kubectl shows both descriptions.
    let (out, _) = explain("-v=0");
    assert!(
        out.contains("The deployment strategy to use to replace existing pods with new ones.\n    DeploymentStrategy describes how to replace existing pods with new ones."),
        "{out}"
    );
    // The document is named by its hash: kubectl's cache keeps it.
    let (_, log) = explain("-v=8");
    let fetched = log
        .lines()
        .skip_while(|l| !l.contains("GET https") || !l.contains("/openapi/v3/apis/apps/v1?hash="))
        .take_while(|l| !l.contains("Response Body"))
        .any(|l| l.contains("X-From-Cache: 1"));
    assert!(fetched, "served from kubectl's cache: {log}");
    // A hash it no longer has is redirected to the current one.
    let o = s.kubectl(&["get", "--raw", "/openapi/v3/apis/apps/v1?hash=0", "-v=6"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let log = text(&o.stderr);
    assert!(log.contains("hash=0 301 Moved Permanently"), "{log}");
}

#[test]
fn server_side_apply_merges_a_custom_resources_map_list_by_its_keys() {
    let Some(s) = sandbox() else { return };
    s.apply_crd(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: routes.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: routes, singular: route, kind: Route}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              backends:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties: {name: {type: string}, weight: {type: integer}}
              hosts:
                type: array
                items: {type: string}
",
    );
    let route = |backend: &str, weight: u32, host: &str| {
        format!(
            "apiVersion: example.com/v1\nkind: Route\nmetadata: {{name: r, namespace: default}}\nspec:\n  backends:\n  - {{name: {backend}, weight: {weight}}}\n  hosts: [{host}]\n"
        )
    };
    s.ok(&[
        "apply",
        "--server-side",
        "--field-manager=team-a",
        "-f",
        &s.write("a.yaml", &route("a", 1, "a.example.com")),
    ]);
    // Another manager's backend joins by its key; `hosts` has no list type,
    // so it is atomic: setting it differently is a conflict over the list.
    let out = s.refused(&[
        "apply",
        "--server-side",
        "--field-manager=team-b",
        "-f",
        &s.write("b.yaml", &route("b", 2, "b.example.com")),
    ]);
    assert!(
        out.contains(r#"conflict with "team-a" using example.com/v1: .spec.hosts"#),
        "{out}"
    );
    let b = "apiVersion: example.com/v1\nkind: Route\nmetadata: {name: r, namespace: default}\nspec:\n  backends:\n  - {name: b, weight: 2}\n";
    s.ok(&[
        "apply",
        "--server-side",
        "--field-manager=team-b",
        "-f",
        &s.write("b2.yaml", b),
    ]);
    assert_eq!(
        s.ok(&[
            "get",
            "route",
            "r",
            "-o",
            "jsonpath={.spec.backends[*].name} {.spec.hosts}"
        ]),
        r#"a b ["a.example.com"]"#
    );
}

#[test]
fn an_unavailable_aggregated_api_is_listed_stale_in_discovery() {
    let Some(s) = sandbox() else { return };
    s.running.set_faults(kbind::apiserver::Faults {
        unavailable_api: Some(("metrics.k8s.io".into(), "v1beta1".into())),
        ..Default::default()
    });
    let cache = s._dir.path().join("stale-cache");
    let o = s.kubectl(&[
        "api-resources",
        "--cache-dir",
        cache.to_str().unwrap(),
        "-v=9",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // The aggregated document kubectl received (its -v=9 log quotes it)
    // lists the group with its version Stale and no resources; kubectl
    // 1.32 lists the rest and says nothing.
    let log = text(&o.stderr);
    assert!(
        log.contains(r#"{\"name\":\"metrics.k8s.io\",\"creationTimestamp\":null},\"versions\":[{\"version\":\"v1beta1\",\"freshness\":\"Stale\"}]"#),
        "{log}"
    );
    assert!(
        text(&o.stdout).contains("deployments"),
        "the rest is listed"
    );
}
