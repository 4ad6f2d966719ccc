//! `kbind new`: a policy project in Rust, Python or JavaScript, from the
//! templates in `host/templates/`. Python and JavaScript projects carry
//! their own copy of the SDK and the contract (written from this kbind's
//! own), so they build anywhere; a Rust project depends on a kbind
//! checkout's `guest/` crate by path.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::args::{Lang, NewArgs};
use super::{Failure, exit};

const CONTRACT: &str = include_str!("../../../wit/policy.wit");
const COMMON_SUITE: &str = include_str!("../../templates/common/decisions.yaml");
const COMMON_CI: &str = include_str!("../../templates/common/ci.yaml");
// The pinned tools, from their one home: what scripts/polyglot.sh installs.
const PY_REQUIREMENTS: &str = include_str!("../../../sdk/python/requirements.txt");
const JS_TOOLCHAIN: &str = include_str!("../../../package.json");

/// `(path in the project, template text)`.
type Files = &'static [(&'static str, &'static str)];

const RUST: Files = &[
    (
        "Cargo.toml",
        include_str!("../../templates/rust/Cargo.toml"),
    ),
    (
        "src/lib.rs",
        include_str!("../../templates/rust/src/lib.rs"),
    ),
    ("build.sh", include_str!("../../templates/rust/build.sh")),
    (".gitignore", "target/\n*.wasm\n"),
];

const PYTHON: Files = &[
    ("app.py", include_str!("../../templates/python/app.py")),
    (
        "test_app.py",
        include_str!("../../templates/python/test_app.py"),
    ),
    (
        "requirements.txt",
        include_str!("../../templates/python/requirements.txt"),
    ),
    ("build.sh", include_str!("../../templates/python/build.sh")),
    ("wit/policy.wit", CONTRACT),
    (
        "kbind_policy/__init__.py",
        include_str!("../../../sdk/python/kbind_policy/__init__.py"),
    ),
    (
        "kbind_policy/semver.py",
        include_str!("../../../sdk/python/kbind_policy/semver.py"),
    ),
    (
        "kbind_policy/testing.py",
        include_str!("../../../sdk/python/kbind_policy/testing.py"),
    ),
    (".gitignore", ".venv/\n.bindings/\n__pycache__/\n*.wasm\n"),
];

const JS: Files = &[
    (
        "package.json",
        include_str!("../../templates/js/package.json"),
    ),
    ("policy.js", include_str!("../../templates/js/policy.js")),
    (
        "component.js",
        include_str!("../../templates/js/component.js"),
    ),
    (
        "policy.test.js",
        include_str!("../../templates/js/policy.test.js"),
    ),
    ("build.sh", include_str!("../../templates/js/build.sh")),
    (
        "kbind-policy-sdk/package.json",
        include_str!("../../../sdk/js/package.json"),
    ),
    (
        "kbind-policy-sdk/index.js",
        include_str!("../../../sdk/js/index.js"),
    ),
    (
        "kbind-policy-sdk/semver.js",
        include_str!("../../../sdk/js/semver.js"),
    ),
    (
        "kbind-policy-sdk/testing.js",
        include_str!("../../../sdk/js/testing.js"),
    ),
    (
        "kbind-policy-sdk/build.mjs",
        include_str!("../../../sdk/js/build.mjs"),
    ),
    ("kbind-policy-sdk/wit/policy.wit", CONTRACT),
    (".gitignore", "node_modules/\n*.wasm\n"),
];

const EXECUTABLE: &[&str] = &["build.sh", "kbind-policy-sdk/build.mjs"];

pub fn run_new(args: NewArgs) -> Result<ExitCode, Failure> {
    check_name(&args.name).map_err(Failure::usage)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() && std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_some()) {
        return Err(Failure::usage(format!(
            "{} exists and is not empty; choose another name or --dir",
            dir.display()
        )));
    }
    let vars = variables(&args)?;
    let files = match args.lang {
        Lang::Rust => RUST,
        Lang::Python => PYTHON,
        Lang::Js => JS,
    };
    let shared: [(&str, &str); 2] = [
        ("tests/decisions.yaml", COMMON_SUITE),
        (".github/workflows/policy.yml", COMMON_CI),
    ];
    for (path, template) in files.iter().copied().chain(shared) {
        write(
            &dir.join(path),
            &render(template, &vars),
            EXECUTABLE.contains(&path),
        )?;
    }
    let lang = match args.lang {
        Lang::Rust => "Rust",
        Lang::Python => "Python",
        Lang::Js => "JavaScript",
    };
    println!("created {} ({lang}) in {}", args.name, dir.display());
    println!(
        "next: bash {}/build.sh && kbind test {}/tests/",
        dir.display(),
        dir.display()
    );
    Ok(ExitCode::from(exit::OK))
}

/// A name every toolchain accepts as a package name and a file name.
fn check_name(name: &str) -> Result<(), String> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid policy name {name:?}: use lowercase letters, digits and `-`, starting with a \
             letter (at most 64 characters)"
        ))
    }
}

fn variables(args: &NewArgs) -> Result<Vec<(&'static str, String)>, Failure> {
    let mut vars = vec![
        ("name", args.name.clone()),
        ("crate", args.name.replace('-', "_")),
        ("componentize_py", pinned_python("componentize-py")?),
    ];
    for (var, package) in [
        ("componentize_js", "@bytecodealliance/componentize-js"),
        ("preview2_shim", "@bytecodealliance/preview2-shim"),
        ("esbuild", "esbuild"),
    ] {
        vars.push((var, pinned_js(package)?));
    }
    if args.lang == Lang::Rust {
        vars.push(("sdk", rust_sdk(args.sdk.as_deref())?));
    }
    Ok(vars)
}

fn pinned_python(package: &str) -> Result<String, Failure> {
    PY_REQUIREMENTS
        .lines()
        .find_map(|l| l.trim().strip_prefix(package)?.strip_prefix("=="))
        .map(str::to_string)
        .ok_or_else(|| Failure::environment(format!("this kbind pins no {package} version")))
}

fn pinned_js(package: &str) -> Result<String, Failure> {
    let manifest: serde_json::Value = serde_json::from_str(JS_TOOLCHAIN)
        .map_err(|e| Failure::environment(format!("this kbind's package.json: {e}")))?;
    manifest["devDependencies"][package]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| Failure::environment(format!("this kbind pins no {package} version")))
}

/// The kbind checkout holding `guest/`, as an absolute path.
fn rust_sdk(given: Option<&Path>) -> Result<String, Failure> {
    let checkout = match given {
        Some(path) => path.to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
    };
    let checkout = checkout.canonicalize().unwrap_or(checkout);
    if !checkout.join("guest/Cargo.toml").is_file() {
        return Err(Failure::usage(format!(
            "{} is not a kbind checkout (no guest/Cargo.toml): pass --sdk <kbind checkout>",
            checkout.display()
        )));
    }
    Ok(checkout.display().to_string())
}

fn render(template: &str, vars: &[(&str, String)]) -> String {
    vars.iter()
        .fold(template.to_string(), |text, (name, value)| {
            text.replace(&format!("{{{{{name}}}}}"), value)
        })
}

fn write(path: &Path, text: &str, executable: bool) -> Result<(), Failure> {
    let fail =
        |e: std::io::Error| Failure::environment(format!("cannot write {}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    std::fs::write(path, text).map_err(fail)?;
    if executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_package_names() {
        for good in ["mine", "my-policy", "p2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Mine", "2p", "my_policy", "my-", "../x", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_placeholder_is_filled() {
        let vars: Vec<(&str, String)> = [
            "name",
            "crate",
            "sdk",
            "componentize_py",
            "componentize_js",
            "preview2_shim",
            "esbuild",
        ]
        .into_iter()
        .map(|v| (v, "x".to_string()))
        .collect();
        for (path, template) in RUST.iter().chain(PYTHON).chain(JS) {
            let text = render(template, &vars);
            // `{{word}}` is a placeholder; Python's `f"{{"` is not.
            let left = text.split("{{").skip(1).find(|rest| {
                rest.split_once("}}").is_some_and(|(word, _)| {
                    !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                })
            });
            assert!(left.is_none(), "{path} keeps a placeholder: {{{{{:?}", left);
        }
    }
}
