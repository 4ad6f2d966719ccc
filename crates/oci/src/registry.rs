//! Push and pull policy artifacts.

use std::future::Future;
use std::path::PathBuf;

use oci_client::Client;
use oci_client::client::{
    Certificate, CertificateEncoding, ClientConfig, ClientProtocol, Config, ImageLayer,
};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;

use super::artifact::{self, ComponentInfo, WasmConfig, sha256_digest};
use super::auth::Credentials;
use super::cache::Cache;
use super::{OciError, PolicyRef};

/// How to reach registries.
#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// A docker config file (an image pull secret's `.dockerconfigjson`)
    /// [default: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`].
    pub docker_config: Option<PathBuf>,
    /// PEM certificates to trust besides the system's (a private CA).
    pub ca_file: Option<PathBuf>,
    /// Speak plain HTTP (a local registry on loopback).
    pub plain_http: bool,
    /// Where pulled components are kept, by manifest digest; `None` keeps
    /// nothing.
    pub cache_dir: Option<PathBuf>,
}

pub struct Registry {
    client: Client,
    credentials: Credentials,
    cache: Option<Cache>,
}

/// What a push left in the registry.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// The manifest digest: what `oci://…@sha256:` pins.
    pub manifest_digest: String,
    /// The component's own sha256 (`kbind inspect`, `--sha256`).
    pub layer_digest: String,
    /// The pushed reference, pinned to the manifest digest.
    pub pinned: PolicyRef,
}

/// A pulled (or cached) policy.
#[derive(Clone, Debug)]
pub struct Pulled {
    pub bytes: Vec<u8>,
    pub manifest_digest: String,
    pub layer_digest: String,
    /// The reference pinned to the manifest digest it resolved to.
    pub pinned: PolicyRef,
    /// Served from the cache, without asking the registry.
    pub cached: bool,
    /// Where the cache keeps it, if a cache is configured.
    pub path: Option<PathBuf>,
}

impl Registry {
    pub fn new(options: &RegistryOptions) -> Result<Self, OciError> {
        // reqwest is built without a default crypto provider; kbind's is ring.
        // Already installed (a second Registry) is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = ClientConfig {
            protocol: if options.plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            ..ClientConfig::default()
        };
        if let Some(path) = &options.ca_file {
            let data = std::fs::read(path).map_err(|source| OciError::Read {
                path: path.clone(),
                source,
            })?;
            if !String::from_utf8_lossy(&data).contains("-----BEGIN CERTIFICATE-----") {
                return Err(OciError::Ca {
                    path: path.clone(),
                    reason: "no PEM certificate in it".into(),
                });
            }
            config.extra_root_certificates.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        Ok(Self {
            client: Client::new(config),
            credentials: Credentials::discover(options.docker_config.as_deref())?,
            cache: options.cache_dir.clone().map(Cache::new),
        })
    }

    fn auth(&self, reference: &PolicyRef) -> Result<RegistryAuth, OciError> {
        self.credentials
            .for_repository(reference.oci().registry(), reference.repository())
    }

    fn failed(
        reference: &PolicyRef,
        attempt: Attempt,
        auth: &RegistryAuth,
    ) -> impl Fn(oci_client::errors::OciDistributionError) -> OciError {
        let registry = reference.registry().to_string();
        let attempt = Attempted {
            attempt,
            repository: reference.oci().repository().to_string(),
            anonymous: matches!(auth, RegistryAuth::Anonymous),
        };
        move |e| OciError::Registry {
            registry: registry.clone(),
            reason: describe(&e, &attempt),
        }
    }

    /// Pushes a component as a wasm artifact under `reference`'s tag.
    pub async fn push(
        &self,
        bytes: &[u8],
        component: ComponentInfo,
        reference: &PolicyRef,
    ) -> Result<Pushed, OciError> {
        if reference.digest().is_some() || reference.tag().is_none() {
            return Err(OciError::Reference {
                reference: reference.to_string(),
                reason: "push to a tag (oci://<registry>/<repository>:<tag>); a digest is what \
                         the push yields"
                    .into(),
            });
        }
        let auth = self.auth(reference)?;
        let layer_digest = sha256_digest(bytes);
        let config = WasmConfig::for_component(&layer_digest, component, None);
        let config = Config {
            data: serde_json::to_vec(&config)
                .map_err(|e| OciError::Registry {
                    registry: reference.registry().into(),
                    reason: format!("cannot encode the config: {e}"),
                })?
                .into(),
            media_type: artifact::CONFIG_MEDIA_TYPE.into(),
            annotations: None,
        };
        let layers = [ImageLayer::new(
            bytes.to_vec(),
            artifact::LAYER_MEDIA_TYPE.into(),
            None,
        )];
        // The image spec says a manifest SHOULD carry its media type, and the
        // wasm layout shows it; oci-client's builder leaves it out.
        let mut manifest = OciImageManifest::build(&layers, &config, None);
        manifest.media_type = Some(artifact::MANIFEST_MEDIA_TYPE.into());
        self.client
            .push(reference.oci(), &layers, config, &auth, Some(manifest))
            .await
            .map_err(Self::failed(reference, Attempt::Push, &auth))?;
        let manifest_digest = self
            .client
            .fetch_manifest_digest(reference.oci(), &auth)
            .await
            .map_err(Self::failed(reference, Attempt::Push, &auth))?;
        Ok(Pushed {
            pinned: reference.at_digest(&manifest_digest),
            manifest_digest,
            layer_digest,
        })
    }

    /// The manifest digest a reference names now: its own digest, or what
    /// its tag points at (asked of the registry).
    pub async fn resolve(&self, reference: &PolicyRef) -> Result<String, OciError> {
        if let Some(digest) = reference.digest() {
            return Ok(digest.to_string());
        }
        let auth = self.auth(reference)?;
        self.client
            .fetch_manifest_digest(reference.oci(), &auth)
            .await
            .map_err(Self::failed(reference, Attempt::Pull, &auth))
    }

    /// The component a reference names, from the cache when its digest is
    /// known and cached, else from the registry (then cached). Both the
    /// manifest and the layer are checked against their digests.
    pub async fn pull(&self, reference: &PolicyRef) -> Result<Pulled, OciError> {
        if let Some(digest) = reference.digest()
            && let Some(pulled) = self.cached(reference, digest)
        {
            return Ok(pulled);
        }
        let auth = self.auth(reference)?;
        let (raw, _) = self
            .client
            .pull_manifest_raw(reference.oci(), &auth, &[artifact::MANIFEST_MEDIA_TYPE])
            .await
            .map_err(Self::failed(reference, Attempt::Pull, &auth))?;
        let manifest_digest = sha256_digest(&raw);
        if let Some(expected) = reference.digest()
            && expected != manifest_digest
        {
            return Err(OciError::DigestMismatch {
                reference: reference.to_string(),
                what: "manifest",
                expected: expected.into(),
                actual: manifest_digest,
            });
        }
        if let Some(pulled) = self.cached(reference, &manifest_digest) {
            return Ok(pulled);
        }
        let not_a_policy = |reason: String| OciError::NotAPolicy {
            reference: reference.to_string(),
            reason,
        };
        let manifest: OciImageManifest = serde_json::from_slice(&raw)
            .map_err(|e| not_a_policy(format!("its manifest does not parse: {e}")))?;
        if manifest.config.media_type != artifact::CONFIG_MEDIA_TYPE {
            return Err(not_a_policy(format!(
                "its config is {}, not {}",
                manifest.config.media_type,
                artifact::CONFIG_MEDIA_TYPE
            )));
        }
        let [layer] = manifest.layers.as_slice() else {
            return Err(not_a_policy(format!(
                "it has {} layers, not one component",
                manifest.layers.len()
            )));
        };
        if layer.media_type != artifact::LAYER_MEDIA_TYPE {
            return Err(not_a_policy(format!(
                "its layer is {}, not {}",
                layer.media_type,
                artifact::LAYER_MEDIA_TYPE
            )));
        }
        let pinned = reference.at_digest(&manifest_digest);
        let mut bytes = Vec::new();
        self.client
            .pull_blob(pinned.oci(), layer, &mut bytes)
            .await
            .map_err(Self::failed(reference, Attempt::Pull, &auth))?;
        let layer_digest = sha256_digest(&bytes);
        if layer_digest != layer.digest {
            return Err(OciError::DigestMismatch {
                reference: reference.to_string(),
                what: "layer",
                expected: layer.digest.clone(),
                actual: layer_digest,
            });
        }
        let path = match &self.cache {
            Some(cache) => Some(cache.put(&manifest_digest, &bytes, &layer_digest)?),
            None => None,
        };
        Ok(Pulled {
            bytes,
            manifest_digest,
            layer_digest,
            pinned,
            cached: false,
            path,
        })
    }

    fn cached(&self, reference: &PolicyRef, manifest_digest: &str) -> Option<Pulled> {
        let cache = self.cache.as_ref()?;
        let (bytes, layer_digest) = cache.get(manifest_digest)?;
        Some(Pulled {
            bytes,
            manifest_digest: manifest_digest.to_string(),
            layer_digest,
            pinned: reference.at_digest(manifest_digest),
            cached: true,
            path: cache.path(manifest_digest),
        })
    }
}

/// Runs a registry call to completion from synchronous code (the CLI), on a
/// runtime of its own.
pub fn block_on<T>(future: impl Future<Output = T>) -> Result<T, OciError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(OciError::Runtime)?;
    Ok(runtime.block_on(future))
}

/// What a registry request was for, so a refusal can say what was refused.
#[derive(Clone, Copy)]
enum Attempt {
    Pull,
    Push,
}

/// The request a failure belongs to.
struct Attempted {
    attempt: Attempt,
    repository: String,
    anonymous: bool,
}

/// An error with its causes, which reqwest keeps out of its own message (a
/// TLS failure reads "error sending request" until its sources are shown),
/// and what to do about the two a user meets first: an untrusted
/// certificate and refused credentials.
fn describe(error: &oci_client::errors::OciDistributionError, attempted: &Attempted) -> String {
    use oci_client::errors::OciDistributionError as E;
    let mut reason = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !reason.contains(&text) {
            reason.push_str(": ");
            reason.push_str(&text);
        }
        cause = inner.source();
    }
    // A registry's error body ends in a newline; the hint belongs on the line.
    reason.truncate(reason.trim_end().len());
    // oci-client drops a token service's refusal and goes on without a
    // token, so a refusal at the realm also arrives as the registry's 401.
    let denied = matches!(
        error,
        E::AuthenticationFailure(_)
            | E::UnauthorizedError { .. }
            | E::ServerError {
                code: 401 | 403,
                ..
            }
    );
    const GIVE: &str = "give a docker config file holding them, e.g. a pull secret's \
                        .dockerconfigjson, with --registry-config";
    let action = match attempted.attempt {
        Attempt::Pull => "pulling from",
        Attempt::Push => "pushing to",
    };
    let hint = if denied && attempted.anonymous {
        format!("the registry needs credentials: {GIVE}")
    } else if denied {
        // A registry answers a wrong password and a user without the right
        // to this repository alike (with a token scoped to less, or with
        // htpasswd's 401), so both are named.
        format!(
            "the registry refused the credentials, or they do not allow {action} {}: \
             check the docker config given with --registry-config",
            attempted.repository
        )
    } else if reason.contains("certificate") {
        // rustls's "invalid peer certificate: UnknownIssuer" and the like.
        "the registry's TLS certificate is not trusted: name the CA that signed it with \
         --registry-ca, or use --plain-http for a local plain-HTTP registry"
            .to_string()
    } else {
        return reason;
    };
    format!("{reason} ({hint})")
}
