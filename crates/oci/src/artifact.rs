//! The CNCF wasm OCI artifact layout (TAG Runtime, "Wasm OCI Artifact"):
//! an OCI image manifest, a config of media type
//! `application/vnd.wasm.config.v0+json` describing the component, and one
//! layer of media type `application/wasm` holding it.

use serde::{Deserialize, Serialize};

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
/// The artifact's architecture, always `wasm`.
pub const ARCHITECTURE: &str = "wasm";
/// Components are WASI 0.2 (`wasip2`); the config names their world.
pub const COMPONENT_OS: &str = "wasip2";

/// The config blob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// RFC 3339.
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub architecture: String,
    pub os: String,
    /// The layers' digests, in manifest order (this makes each config, and
    /// so its digest, unique to its layers).
    pub layer_digests: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentInfo>,
}

/// What the component imports and exports, as the spec asks for `wasip2`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentInfo {
    pub exports: Vec<String>,
    pub imports: Vec<String>,
    /// The world it targets, when known (`kbind:policy/policy@0.2.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl WasmConfig {
    pub fn for_component(
        layer_digest: &str,
        component: ComponentInfo,
        author: Option<String>,
    ) -> Self {
        Self {
            created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            author,
            architecture: ARCHITECTURE.into(),
            os: COMPONENT_OS.into(),
            layer_digests: vec![layer_digest.to_string()],
            component: Some(component),
        }
    }
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
