//! `--policy` values that live in a registry: `oci://…` is pulled (once per
//! manifest digest: the pull cache is `<cache dir>/oci`) and handed on as
//! bytes or as a local file; shipped names and paths pass through.

use std::path::PathBuf;

use kbind::engine::PolicySource;
use kbind::oci::{self, PolicyRef, Pulled, Registry, RegistryOptions};
use kbind::shipped;

use super::{Failure, Global, exit};

impl From<oci::OciError> for Failure {
    fn from(err: oci::OciError) -> Self {
        let code = match err {
            oci::OciError::Reference { .. } => exit::USAGE,
            oci::OciError::Runtime(_) | oci::OciError::Cache { .. } => exit::ENVIRONMENT,
            _ => exit::POLICY_UNUSABLE,
        };
        Failure::with_code(code, err.to_string())
    }
}

/// How this command reaches registries, from the global flags.
pub fn registry_options(global: &Global) -> RegistryOptions {
    let cache_dir = global.cache_root().map(|dir| dir.join("oci"));
    RegistryOptions {
        docker_config: global.registry_config.clone(),
        ca_file: global.registry_ca.clone(),
        plain_http: global.plain_http,
        cache_dir,
    }
}

/// Pulls an `oci://` reference (the pinned digest says where it came from).
pub fn pull(global: &Global, reference: &str) -> Result<Pulled, Failure> {
    let reference: PolicyRef = reference.parse()?;
    let registry = Registry::new(&registry_options(global))?;
    let pulled = oci::block_on(registry.pull(&reference))??;
    tracing::info!(
        reference = %reference,
        pinned = %pulled.pinned,
        cached = pulled.cached,
        "policy pulled"
    );
    Ok(pulled)
}

/// A `--policy` value as component bytes.
pub fn policy_source(global: &Global, policy: &str) -> Result<PolicySource, Failure> {
    if PolicyRef::is_oci(policy) {
        let pulled = pull(global, policy)?;
        return Ok(PolicySource::from_bytes(
            pulled.pinned.to_string(),
            pulled.bytes,
        ));
    }
    Ok(shipped::resolve(policy)?)
}

/// A `--policy` value as what suites and scenarios take (a shipped name or a
/// path); a pulled component is a file in the pull cache, or with
/// `--no-cache` a temporary file that lives as long as this value.
pub struct LocalPolicy {
    pub arg: String,
    _temporary: Option<tempfile::TempPath>,
}

pub fn local_policy(global: &Global, policy: Option<&str>) -> Result<Option<LocalPolicy>, Failure> {
    let Some(policy) = policy else {
        return Ok(None);
    };
    if !PolicyRef::is_oci(policy) {
        return Ok(Some(LocalPolicy {
            arg: policy.to_string(),
            _temporary: None,
        }));
    }
    let pulled = pull(global, policy)?;
    if let Some(path) = pulled.path {
        return Ok(Some(LocalPolicy {
            arg: path.display().to_string(),
            _temporary: None,
        }));
    }
    let write =
        |e: std::io::Error| Failure::environment(format!("cannot keep the pulled policy: {e}"));
    let file = tempfile::Builder::new()
        .suffix(".wasm")
        .tempfile()
        .map_err(write)?;
    std::fs::write(file.path(), &pulled.bytes).map_err(write)?;
    let path: PathBuf = file.path().to_path_buf();
    Ok(Some(LocalPolicy {
        arg: path.display().to_string(),
        _temporary: Some(file.into_temp_path()),
    }))
}
