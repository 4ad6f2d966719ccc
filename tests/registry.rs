//! Policies through a real OCI registry: the CNCF distribution registry
//! (Debian's `docker-registry`, started here on loopback). `kbind push`, then
//! `eval`, `test`, `simulate` and the sandbox's user story with
//! `--policy oci://…`, pinned by digest or by tag plus `--sha256`; the
//! operator following a tag; the artifact's media types as the CNCF wasm
//! layout defines them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use kbind::oci::{PolicyRef, Registry, RegistryOptions, artifact};
use kbind::operator::hot_swap::{PolicySpec, PolicyWatcher, Reload};

use crate::support;
use crate::support::registry::LocalRegistry;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

/// `kbind --plain-http --cache-dir <cache> <args>` from the workspace.
fn kbind(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kbind"))
        .args(["--plain-http", "--cache-dir"])
        .arg(cache)
        .args(args)
        .current_dir(workspace())
        .env("DOCKER_CONFIG", cache.join("no-docker-config"))
        .output()
        .expect("kbind runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", text(&o));
    text(&o)
}

/// The value of a `label   value` row of kbind's human output.
fn row(out: &str, label: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(label).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no {label} in:\n{out}"))
}

/// `eval` of `initial-version` on the example input with `policy`, after
/// `before` (global flags) and with `extra` (eval's own flags).
fn example_eval<'a>(before: &[&'a str], policy: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = before.to_vec();
    args.extend(["eval", "--policy", policy, "--decision", "initial-version"]);
    args.extend(extra);
    args.extend(["--input", "examples/eval/initial-version.yaml"]);
    args
}

/// What kratix-default decides for the example input.
const EXAMPLE_DECISION: &str = "pinned to the newest revision v0.2.0";

fn python_policy() -> PathBuf {
    let path = workspace().join("target/polyglot/kratix-default-python.wasm");
    assert!(
        path.exists(),
        "{} is missing: run `bash scripts/polyglot.sh` first",
        path.display()
    );
    path
}

#[test]
fn a_python_policy_pushed_to_a_registry_is_served_by_digest_and_by_tag() {
    let registry = LocalRegistry::start();
    let cache = tempfile::tempdir().expect("tempdir");
    let tag = registry.reference("policies/kratix-default-python:v1");
    let policy = python_policy();
    let pushed = ok(kbind(
        cache.path(),
        &["push", policy.to_str().unwrap(), &tag],
    ));
    let digest = row(&pushed, "digest");
    let pinned = row(&pushed, "pin");
    let component = row(&pushed, "sha256");
    assert!(digest.starts_with("sha256:"), "{pushed}");
    assert_eq!(
        pinned,
        registry.reference(&format!("policies/kratix-default-python@{digest}"))
    );
    let bytes = std::fs::read(&policy).expect("component");
    assert_eq!(
        format!("sha256:{component}"),
        artifact::sha256_digest(&bytes)
    );

    // By digest: eval, test, simulate.
    let eval = ok(kbind(
        cache.path(),
        &example_eval(&[], &pinned, &["--set", "strategy=pinned"]),
    ));
    assert!(eval.contains("strategy pinned"), "{eval}");
    let tested = ok(kbind(
        cache.path(),
        &[
            "test",
            "policies/kratix-default/tests/decisions.yaml",
            "--policy",
            &pinned,
        ],
    ));
    assert!(tested.contains(" passed, 0 failed"), "{tested}");
    ok(kbind(
        cache.path(),
        &[
            "simulate",
            "tests/scenarios/02-floating-follows-latest.yaml",
            "--policy",
            &pinned,
        ],
    ));

    // By tag with the component's digest pinned; a wrong pin is refused.
    ok(kbind(
        cache.path(),
        &example_eval(&[], &tag, &["--sha256", &component]),
    ));
    let zeros = "0".repeat(64);
    let wrong = kbind(
        cache.path(),
        &example_eval(&[], &tag, &["--sha256", &zeros]),
    );
    assert_eq!(wrong.status.code(), Some(3), "{}", text(&wrong));
    assert!(text(&wrong).contains("digest"), "{}", text(&wrong));

    // The user story in the sandbox, with the policy from the registry.
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    let story = ok(kbind(
        cache.path(),
        &[
            "sandbox",
            "--demo",
            "--exit-after-demo",
            "--set",
            "strategy=pinned",
            "--policy",
            &pinned,
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
        ],
    ));
    assert!(story.contains("example-redis-e7f90"), "{story}");
}

#[test]
fn a_pulled_digest_is_served_from_the_cache_without_the_registry() {
    let registry = LocalRegistry::start();
    let cache = tempfile::tempdir().expect("tempdir");
    let pushed = ok(kbind(
        cache.path(),
        &[
            "push",
            "semver-auto",
            &registry.reference("policies/semver-auto:v1"),
        ],
    ));
    let pinned = row(&pushed, "pin");
    ok(kbind(cache.path(), &["inspect", &pinned]));
    drop(registry);
    let again = ok(kbind(cache.path(), &["inspect", &pinned]));
    assert!(again.contains("semver-auto"), "{again}");
}

#[test]
fn the_artifact_has_the_cncf_wasm_media_types() {
    let registry = LocalRegistry::start();
    let cache = tempfile::tempdir().expect("tempdir");
    let tag = registry.reference("policies/kratix-default:v1");
    ok(kbind(cache.path(), &["push", "kratix-default", &tag]));
    // Read back raw, as any OCI client would.
    let raw = Command::new("curl")
        .args([
            "-sf",
            "-H",
            &format!("Accept: {}", artifact::MANIFEST_MEDIA_TYPE),
        ])
        .arg(format!(
            "http://{}/v2/policies/kratix-default/manifests/v1",
            registry.host
        ))
        .output()
        .expect("curl runs");
    assert!(raw.status.success(), "{}", text(&raw));
    let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).expect("json");
    assert_eq!(manifest["mediaType"], artifact::MANIFEST_MEDIA_TYPE);
    assert_eq!(manifest["config"]["mediaType"], artifact::CONFIG_MEDIA_TYPE);
    assert_eq!(manifest["layers"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        artifact::LAYER_MEDIA_TYPE
    );
    let config = Command::new("curl")
        .arg("-sf")
        .arg(format!(
            "http://{}/v2/policies/kratix-default/blobs/{}",
            registry.host,
            manifest["config"]["digest"].as_str().expect("digest")
        ))
        .output()
        .expect("curl runs");
    let config: serde_json::Value = serde_json::from_slice(&config.stdout).expect("json");
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip2");
    assert_eq!(config["layerDigests"][0], manifest["layers"][0]["digest"]);
    assert!(
        config["component"]["exports"]
            .as_array()
            .is_some_and(|e| e.iter().any(|x| x == "kbind:policy/decisions@0.2.0")),
        "{config}"
    );
}

#[test]
fn the_operator_follows_a_tag_and_pins_what_it_loads_by_digest() {
    let registry = LocalRegistry::start();
    let cache = tempfile::tempdir().expect("tempdir");
    let tag = registry.reference("policies/platform:stable");
    ok(kbind(cache.path(), &["push", "kratix-default", &tag]));
    let options = RegistryOptions {
        plain_http: true,
        cache_dir: Some(cache.path().join("operator")),
        ..RegistryOptions::default()
    };
    let follow = |follow_tag: bool| PolicySpec {
        policy: tag.clone(),
        registry: options.clone(),
        follow_tag,
        follow_every: Some(Duration::ZERO),
        ..PolicySpec::default()
    };
    let engine = support::engine();
    let metrics = std::sync::Arc::new(kbind::operator::metrics::Metrics::new());
    let mut watchers = vec![];
    for following in [true, false] {
        let spec = follow(following);
        let (policy, fingerprint) = spec.load(&engine).expect("loads from the registry");
        assert_eq!(policy.info().name, "kratix-default");
        let slot = std::sync::Arc::new(kbind::operator::hot_swap::PolicySlot::new(
            policy,
            metrics.clone(),
        ));
        let watcher = PolicyWatcher::new(
            spec,
            engine.clone(),
            slot.clone(),
            metrics.clone(),
            fingerprint,
        );
        watchers.push((following, watcher, slot));
    }
    // The tag moves.
    ok(kbind(cache.path(), &["push", "semver-auto", &tag]));
    let moved_to = kbind::oci::block_on(async {
        Registry::new(&options)
            .expect("client")
            .resolve(&tag.parse::<PolicyRef>().expect("reference"))
            .await
    })
    .expect("runtime")
    .expect("resolves");
    for (following, watcher, slot) in &mut watchers {
        let reload = watcher.poll();
        if *following {
            assert!(matches!(reload, Reload::Loaded { .. }), "{reload:?}");
            assert_eq!(slot.current().info().name, "semver-auto");
        } else {
            assert!(matches!(reload, Reload::Unchanged), "pinned: {reload:?}");
            assert_eq!(slot.current().info().name, "kratix-default");
        }
    }
    assert!(moved_to.starts_with("sha256:"));
    // A poll where nothing moved reads no component: with the registry gone
    // and the pull cache emptied, the pinned policy is still unchanged.
    drop(registry);
    std::fs::remove_dir_all(cache.path().join("operator")).expect("cache removed");
    let (_, pinned, slot) = watchers
        .iter_mut()
        .find(|(following, ..)| !following)
        .expect("the pinned watcher");
    let reload = pinned.poll();
    assert!(matches!(reload, Reload::Unchanged), "{reload:?}");
    assert_eq!(slot.current().info().name, "kratix-default");
}

/// deploy/registry/policy.yaml and deploy/registry/operator-patch.yaml as shipped,
/// pointed at a private registry (TLS from a private CA, htpasswd): the
/// init container's arguments pull the policy with the mounted pull secret
/// and compile it into the cache; the operator's then load it before they
/// reach for the cluster. Before the patch named the init container, it
/// pulled without credentials and the pod never started.
#[test]
fn the_deploy_example_pulls_the_operators_policy_from_a_private_registry() {
    let (registry, secured) = LocalRegistry::start_secured();
    let pushed = tempfile::tempdir().expect("tempdir");
    let cache = tempfile::tempdir().expect("tempdir");
    let read = |file: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(workspace().join(file)).expect("file");
        serde_saphyr::from_str(&text).expect("yaml")
    };
    let config = read("deploy/registry/policy.yaml")["data"]["config.yaml"]
        .as_str()
        .expect("config.yaml")
        .replace("registry.example.com", &registry.host);
    let tag = config
        .lines()
        .find_map(|l| l.strip_prefix("policy: "))
        .expect("a policy line")
        .to_string();
    let secret = secured.pull_secret_file(
        &registry.host,
        support::registry::USER,
        support::registry::PASSWORD,
    );
    let secret = secret.to_str().expect("utf-8").to_string();
    let ca = secured.ca.to_str().expect("utf-8").to_string();
    ok(kbind_tls(
        pushed.path(),
        &[
            "--registry-config",
            &secret,
            "--registry-ca",
            &ca,
            "push",
            "kratix-default",
            &tag,
        ],
    ));
    let file = cache.path().join("config.yaml");
    std::fs::write(&file, &config).expect("config");
    let patch = read("deploy/registry/operator-patch.yaml");
    let pod = &patch["spec"]["template"]["spec"];
    // The container's paths, where this test keeps the mounted files; the
    // private CA stands for a registry's public one.
    let args = |container: &serde_json::Value| -> Vec<String> {
        let mut args = vec!["--registry-ca".to_string(), ca.clone()];
        args.extend(
            container["args"]
                .as_array()
                .expect("args")
                .iter()
                .filter_map(|a| a.as_str())
                .map(|a| {
                    a.replace("/etc/kbind/config.yaml", file.to_str().expect("utf-8"))
                        .replace("/etc/kbind-registry/.dockerconfigjson", &secret)
                }),
        );
        args
    };
    let init = args(&pod["initContainers"][0]);
    let init: Vec<&str> = init.iter().map(String::as_str).collect();
    assert_eq!(init[2], "compile", "{init:?}");
    ok(kbind_tls(cache.path(), &init));
    assert!(
        std::fs::read_dir(cache.path().join("oci")).is_ok_and(|mut d| d.next().is_some()),
        "the init container's pull is cached by digest"
    );
    let operator = args(&pod["containers"][0]);
    let mut command: Vec<&str> = operator.iter().map(String::as_str).collect();
    let kubeconfig = cache.path().join("no-such-kubeconfig");
    command.extend(["--kubeconfig", kubeconfig.to_str().expect("utf-8")]);
    let out = kbind_tls(cache.path(), &command);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        text(&out).contains("cannot read kubeconfig"),
        "the policy loaded, then the cluster was reached for: {}",
        text(&out)
    );
}

/// The `error:` line kbind reports, without the log lines around it.
fn error_line(out: &Output) -> String {
    text(out)
        .lines()
        .find(|line| line.starts_with("error:"))
        .unwrap_or_default()
        .to_string()
}

/// `kbind --cache-dir <cache> <args>` over TLS (no `--plain-http`).
fn kbind_tls(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kbind"))
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .current_dir(workspace())
        .env("DOCKER_CONFIG", cache.join("no-docker-config"))
        .output()
        .expect("kbind runs")
}

#[test]
fn a_private_registry_behind_tls_and_htpasswd_takes_a_pull_secret_and_a_ca() {
    let (registry, secured) = LocalRegistry::start_secured();
    let cache = tempfile::tempdir().expect("tempdir");
    let tag = registry.reference("policies/semver-auto:v1");
    let ca = secured.ca.to_str().unwrap().to_string();
    let good = secured.pull_secret_file(
        &registry.host,
        support::registry::USER,
        support::registry::PASSWORD,
    );
    let good = good.to_str().unwrap().to_string();
    let bad = secured.pull_secret_file(&registry.host, support::registry::USER, "wrong");
    let bad = bad.to_str().unwrap().to_string();

    // The registry's certificate is from a CA only --registry-ca names.
    let untrusted = kbind_tls(
        cache.path(),
        &["--registry-config", &good, "push", "semver-auto", &tag],
    );
    assert!(!untrusted.status.success(), "{}", text(&untrusted));
    // The error itself (not a log line beside it) names the cause and the fix.
    let said = error_line(&untrusted);
    assert!(
        said.contains("certificate") && said.contains("--registry-ca"),
        "the error should name the certificate and --registry-ca:\n{}",
        text(&untrusted)
    );
    // Trusted, but without credentials or with a wrong password: refused,
    // and the error says which.
    for (config, says) in [
        (None, "needs credentials"),
        (Some(bad.as_str()), "refused the credentials"),
    ] {
        let mut args = vec!["--registry-ca", ca.as_str()];
        if let Some(config) = config {
            args.extend(["--registry-config", config]);
        }
        args.extend(["push", "semver-auto", tag.as_str()]);
        let refused = kbind_tls(cache.path(), &args);
        assert!(!refused.status.success(), "{}", text(&refused));
        let said = error_line(&refused);
        assert!(
            said.contains(says) && said.contains("--registry-config"),
            "the error should say the registry {says}:\n{}",
            text(&refused)
        );
    }

    // With the CA and the pull secret, as the operator's Deployment runs.
    let trusted = |cache: &Path, args: &[&str]| {
        let mut all = vec![
            "--registry-ca",
            ca.as_str(),
            "--registry-config",
            good.as_str(),
        ];
        all.extend(args);
        kbind_tls(cache, &all)
    };
    let pushed = ok(trusted(cache.path(), &["push", "semver-auto", &tag]));
    let pinned = row(&pushed, "pin");
    // A pull needs the credentials too; with them, by digest, into an empty
    // cache.
    let fresh = tempfile::tempdir().expect("tempdir");
    let anonymous = kbind_tls(fresh.path(), &["--registry-ca", &ca, "inspect", &pinned]);
    assert!(!anonymous.status.success(), "{}", text(&anonymous));
    let inspected = ok(trusted(fresh.path(), &["inspect", &pinned]));
    assert!(inspected.contains("semver-auto"), "{inspected}");
    let decided = ok(trusted(fresh.path(), &example_eval(&[], &tag, &[])));
    assert!(decided.contains(EXAMPLE_DECISION), "{decided}");
}

/// Most hosted registries (Docker Hub, GHCR, Harbor, GitLab) authenticate
/// with tokens: the registry answers a Bearer challenge, the client trades
/// its credentials at the challenge's realm for a token scoped to what it
/// does, and sends the token. Here the realm is a token server the test
/// runs, and the distribution registry verifies its signed tokens itself.
#[test]
fn a_token_authenticated_registry_takes_credentials_at_its_realm_or_a_registry_token() {
    use support::registry::{PASSWORD, USER, pull_secret_file};
    use support::token_server::{READER, READER_PASSWORD};

    let (registry, tokens) = LocalRegistry::start_token_auth();
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = tempfile::tempdir().expect("tempdir");
    let tag = registry.reference("policies/semver-auto:v1");
    let writer = pull_secret_file(dir.path(), &registry.host, USER, PASSWORD);
    let writer = writer.to_str().unwrap().to_string();
    let reader = pull_secret_file(dir.path(), &registry.host, READER, READER_PASSWORD);
    let reader = reader.to_str().unwrap().to_string();
    let wrong = pull_secret_file(dir.path(), &registry.host, USER, "wrong");
    let wrong = wrong.to_str().unwrap().to_string();

    // No credentials, or wrong ones: the token server refuses them, and the
    // error says which.
    for (config, says) in [
        (None, "needs credentials"),
        (Some(wrong.as_str()), "refused the credentials"),
    ] {
        let mut args = vec![];
        if let Some(config) = config {
            args.extend(["--registry-config", config]);
        }
        args.extend(["push", "semver-auto", tag.as_str()]);
        let refused = kbind(cache.path(), &args);
        assert!(!refused.status.success(), "{}", text(&refused));
        let said = error_line(&refused);
        assert!(
            said.contains(says) && said.contains("--registry-config"),
            "the error should say the registry {says}:\n{}",
            text(&refused)
        );
    }
    assert!(tokens.refusals() >= 2, "the realm was never asked");

    // A user who may only pull cannot push: the registry refuses its token.
    let denied = kbind(
        cache.path(),
        &["--registry-config", &reader, "push", "semver-auto", &tag],
    );
    assert!(!denied.status.success(), "{}", text(&denied));
    assert!(
        error_line(&denied).contains("do not allow pushing to policies/semver-auto"),
        "the error should say pushing may not be allowed:\n{}",
        text(&denied)
    );

    // The writer pushes, with a token scoped to push to this repository.
    let pushed = ok(kbind(
        cache.path(),
        &["--registry-config", &writer, "push", "semver-auto", &tag],
    ));
    let pinned = row(&pushed, "pin");
    assert!(
        tokens
            .grants()
            .iter()
            .any(|g| g.user == USER && g.scope == "repository:policies/semver-auto:pull,push"),
        "no push token was handed out: {:?}",
        tokens.grants()
    );

    // One config for several teams, as a pull secret can hold: the entry
    // whose path covers the repository serves it, as the kubelet picks one.
    let b64 = |pair: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(pair)
    };
    let teams = dir.path().join("teams.json");
    std::fs::write(
        &teams,
        serde_json::json!({"auths": {
            &registry.host: {"auth": b64(&format!("{READER}:{READER_PASSWORD}"))},
            format!("{}/policies", registry.host): {"auth": b64(&format!("{USER}:{PASSWORD}"))},
        }})
        .to_string(),
    )
    .expect("docker config");
    ok(kbind(
        cache.path(),
        &[
            "--registry-config",
            teams.to_str().unwrap(),
            "push",
            "semver-auto",
            &registry.reference("policies/semver-auto:v2"),
        ],
    ));
    let elsewhere = kbind(
        cache.path(),
        &[
            "--registry-config",
            teams.to_str().unwrap(),
            "push",
            "semver-auto",
            &registry.reference("other/semver-auto:v1"),
        ],
    );
    assert!(
        !elsewhere.status.success(),
        "outside policies/ the reader's entry serves, which may not push: {}",
        text(&elsewhere)
    );

    // Anonymous pulls are refused; the reader pulls by tag and by digest
    // into empty caches, with a pull-only token.
    let anonymous = kbind(
        tempfile::tempdir().expect("tempdir").path(),
        &["inspect", &pinned],
    );
    assert!(!anonymous.status.success(), "{}", text(&anonymous));
    let fresh = tempfile::tempdir().expect("tempdir");
    let decided = ok(kbind(
        fresh.path(),
        &example_eval(&["--registry-config", &reader], &tag, &[]),
    ));
    assert!(decided.contains(EXAMPLE_DECISION), "{decided}");
    assert!(
        tokens
            .grants()
            .iter()
            .any(|g| g.user == READER && g.scope == "repository:policies/semver-auto:pull"),
        "no pull token was handed out: {:?}",
        tokens.grants()
    );

    // A docker config's `registrytoken`, a token got elsewhere, is sent as
    // it is: no trip to the realm.
    let token = tokens.token_for(READER, "repository:policies/semver-auto:pull");
    let asked = tokens.grants().len();
    let config = dir.path().join("registrytoken.json");
    std::fs::write(
        &config,
        serde_json::json!({"auths": {&registry.host: {"registrytoken": token}}}).to_string(),
    )
    .expect("docker config");
    let inspected = ok(kbind(
        tempfile::tempdir().expect("tempdir").path(),
        &[
            "--registry-config",
            config.to_str().unwrap(),
            "inspect",
            &pinned,
        ],
    ));
    assert!(inspected.contains("semver-auto"), "{inspected}");
    assert_eq!(tokens.grants().len(), asked, "the realm was asked again");
}
