//! Builds the shipped policies and the test fixture components for
//! `wasm32-wasip2`, so that one `cargo build`/`cargo test` yields a host with
//! its default policies embedded and the fixtures its tests load.
//!
//! The guests are built by a nested cargo in a separate target directory
//! (`target/guests`) with the `guest` profile, in two invocations: `no_std`
//! guests, and the one std guest (kept apart because cargo would otherwise
//! unify the SDK's features and link std into every policy).

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const NO_STD_GUESTS: &[&str] = &[
    "kratix-default",
    "semver-auto",
    "fixture-runaway-loop",
    "fixture-memory-bomb",
    "fixture-panicking",
    "fixture-wrong-contract",
    "fixture-missing-export",
    "fixture-rogue",
];
const STD_GUESTS: &[&str] = &["fixture-wasi-probe"];

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("host/ has a parent")
        .to_path_buf();
    for dir in [
        "wit",
        "guest",
        "policies",
        "tests/fixtures/policies",
        // The `guest` profile the policies are built with lives here.
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=KBIND_SKIP_TARGET_INSTALL");

    ensure_target_installed();

    let target_dir = workspace.join("target").join("guests");
    build(&workspace, &target_dir, NO_STD_GUESTS);
    build(&workspace, &target_dir, STD_GUESTS);

    let out = PathBuf::from(env("OUT_DIR")).join("guests");
    std::fs::create_dir_all(&out).expect("create OUT_DIR/guests");
    let built = target_dir.join(TARGET).join("guest");
    for name in NO_STD_GUESTS.iter().chain(STD_GUESTS) {
        let file = format!("{}.wasm", name.replace('-', "_"));
        let from = built.join(&file);
        let to = out.join(format!("{name}.wasm"));
        std::fs::copy(&from, &to)
            .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", from.display(), to.display()));
    }
    println!("cargo:rustc-env=KBIND_GUEST_DIR={}", out.display());
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
