//! Policies as OCI artifacts, the way Kubewarden and OPA users ship theirs.
//!
//! - [`reference`]. `oci://<registry>/<repository>[:<tag>][@sha256:<digest>]`.
//! - [`artifact`]. The CNCF wasm artifact layout (TAG Runtime): an OCI image
//!   manifest whose config is `application/vnd.wasm.config.v0+json` and
//!   whose one layer is the component, `application/wasm`.
//! - [`auth`]. Credentials from a docker config file, the format of an
//!   image pull secret (`.dockerconfigjson`), an entry chosen for each
//!   repository as the kubelet chooses one (`keyring`).
//! - [`Registry`]. Push, resolve a tag to a digest, pull by digest into a
//!   cache keyed by manifest digest (a digest pulled once is never fetched
//!   again), verifying the manifest and layer digests.

pub mod artifact;
pub mod auth;
mod cache;
mod error;
mod keyring;
pub mod reference;
mod registry;

pub use error::OciError;
pub use reference::PolicyRef;
pub use registry::{Pulled, Pushed, Registry, RegistryOptions, block_on};
