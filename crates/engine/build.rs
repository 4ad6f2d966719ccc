//! Builds the shipped policies for `wasm32-wasip2`, so that one `cargo
//! build` yields an engine with its default policies embedded.
//!
//! The guests are built by a nested cargo in a separate target directory
//! (`target/guests`) with the `guest` profile. The test fixture components
//! are built the same way by `crates/fixtures`, a dev-dependency only, so a
//! release build never compiles them; both build scripts share this file.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
/// The shipped policies: `no_std` guests.
pub const SHIPPED: &[&str] = &["kratix-default", "semver-auto", "rollout"];

#[allow(dead_code)] // The fixtures' build script has its own main.
fn main() {
    build_guests(&[SHIPPED], &["policies"], "KBIND_GUEST_DIR");
}

/// Builds each group of guests in one nested cargo invocation (groups are
/// kept apart where cargo would otherwise unify the SDK's features: a std
/// guest would link std into every policy), copies the components to
/// `OUT_DIR/guests` and points the environment variable `env_var` there.
/// `sources` are the workspace folders holding the guests' own code.
pub fn build_guests(groups: &[&[&str]], sources: &[&str], env_var: &str) {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    // crates/<name>/ sits two levels under the workspace.
    let workspace = manifest_dir
        .ancestors()
        .nth(2)
        .expect("crates/<name> is two levels under the workspace")
        .to_path_buf();
    // The `guest` profile the policies are built with lives in Cargo.toml.
    let shared = ["wit", "guest", "Cargo.toml", "Cargo.lock"];
    for dir in shared.iter().chain(sources) {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=KBIND_SKIP_TARGET_INSTALL");

    ensure_target_installed();

    let target_dir = workspace.join("target").join("guests");
    for group in groups {
        build(&workspace, &target_dir, group);
    }

    let out = PathBuf::from(env("OUT_DIR")).join("guests");
    std::fs::create_dir_all(&out).expect("create OUT_DIR/guests");
    let built = target_dir.join(TARGET).join("guest");
    for name in groups.iter().flat_map(|g| g.iter()) {
        let file = format!("{}.wasm", name.replace('-', "_"));
        let from = built.join(&file);
        let to = out.join(format!("{name}.wasm"));
        std::fs::copy(&from, &to)
            .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
    }
    println!("cargo:rustc-env={env_var}={}", out.display());
}

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("cargo sets {key}"))
}

/// The toolchain file lists the target, but rustup only installs listed
/// targets together with a missing toolchain; add it if it is not there.
fn ensure_target_installed() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if sysroot.is_some_and(|root| Path::new(&root).join("lib/rustlib").join(TARGET).exists()) {
        return;
    }
    if std::env::var_os("KBIND_SKIP_TARGET_INSTALL").is_some() {
        panic!("the {TARGET} target is not installed; run `rustup target add {TARGET}`");
    }
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", TARGET]);
    if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
        cmd.args(["--toolchain", &toolchain]);
    }
    let status = cmd.status();
    if !matches!(status, Ok(s) if s.success()) {
        panic!(
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed ({status:?}); \
             install it by hand and build again"
        );
    }
}

fn build(workspace: &Path, target_dir: &Path, packages: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args([
            "build",
            "--target",
            TARGET,
            "--profile",
            "guest",
            "--target-dir",
        ])
        .arg(target_dir);
    for package in packages {
        cmd.args(["-p", package]);
    }
    // The outer build's flags, wrappers and target are for the host, not for
    // the guests.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_LLVM_COV",
        "TARGET",
        "HOST",
        "OPT_LEVEL",
        "PROFILE",
        "DEBUG",
    ] {
        cmd.env_remove(var);
    }
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the policies: {e}"));
    if !output.status.success() {
        panic!(
            "building the policies ({}) for {TARGET} failed:\n{}",
            packages.join(", "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
