//! `kbind new` as a new policy author runs it, in each language, to the end
//! of the README's walk: the project it writes builds with its own script
//! (native unit tests first), its `kbind test` suite passes against the
//! component it built, the component is pushed to a real registry and the
//! sandbox runs the user story with it, pulled by digest.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::registry::LocalRegistry;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf()
}

fn run(what: &str, command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    text
}

fn kbind(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kbind"));
    command.current_dir(dir).arg("--no-cache");
    command
}

/// `kbind new`, `bash build.sh`, `kbind test tests/` in a fresh folder.
fn scaffold_builds_and_passes(lang: &str, build_env: &[(&str, PathBuf)]) {
    let root = tempfile::tempdir().expect("tempdir");
    let name = format!("my-{lang}-policy");
    let created = run(
        "kbind new",
        kbind(root.path()).args(["new", &name, "--lang", lang]),
    );
    assert!(created.contains("created"), "{created}");
    let project = root.path().join(&name);
    let mut build = Command::new("bash");
    build.arg("build.sh").current_dir(&project);
    for (key, value) in build_env {
        build.env(key, value);
    }
    let built = run(&format!("{lang} build.sh"), &mut build);
    assert!(built.contains(&format!("built {name}.wasm")), "{built}");
    let tested = run("kbind test", kbind(&project).args(["test", "tests/"]));
    assert!(tested.contains("4 passed, 0 failed"), "{tested}");
    let inspected = run(
        "kbind inspect",
        kbind(&project).args(["inspect", &format!("{name}.wasm")]),
    );
    assert!(
        inspected.contains(&format!("policy     {name} 0.1.0")),
        "{inspected}"
    );

    let registry = LocalRegistry::start();
    let tag = registry.reference(&format!("policies/{name}:v1"));
    let pushed = run(
        "kbind push",
        kbind(&project).args(["--plain-http", "push", &format!("{name}.wasm"), &tag]),
    );
    let pinned = pushed
        .lines()
        .find_map(|l| l.strip_prefix("pin"))
        .map(|p| p.trim().to_string())
        .unwrap_or_else(|| panic!("no pin in:\n{pushed}"));
    let kubeconfig = root.path().join("kubeconfig");
    let story = run(
        "kbind sandbox",
        kbind(&project)
            .args([
                "--plain-http",
                "sandbox",
                "--demo",
                "--exit-after-demo",
                "--policy",
                &pinned,
            ])
            .arg("--kubeconfig")
            .arg(&kubeconfig),
    );
    assert!(story.contains("example-redis-e7f90"), "{story}");
}

#[test]
fn a_new_rust_policy_is_built_tested_pushed_and_served() {
    // Shared across runs, apart from the suite's own target (its lock).
    scaffold_builds_and_passes(
        "rust",
        &[("CARGO_TARGET_DIR", workspace().join("target/scaffold"))],
    );
}

#[test]
fn a_new_python_policy_is_built_tested_pushed_and_served() {
    scaffold_builds_and_passes("python", &[]);
}

#[test]
fn a_new_javascript_policy_is_built_tested_pushed_and_served() {
    scaffold_builds_and_passes("js", &[]);
}
