//! Registry credentials from a docker config file: `~/.docker/config.json`,
//! `$DOCKER_CONFIG/config.json`, or a file given (an image pull secret's
//! `.dockerconfigjson`, mounted: the same format).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use super::OciError;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    /// An OAuth2 refresh token, which a client trades at the registry's
    /// token endpoint for an access token (Docker's `IdentityToken`).
    #[serde(default)]
    identitytoken: Option<String>,
    /// A bearer token sent to the registry as it is (Docker's
    /// `RegistryToken`).
    #[serde(default)]
    registrytoken: Option<String>,
}

/// The credentials of a docker config file, by registry host.
#[derive(Debug, Default)]
pub struct Credentials {
    path: Option<PathBuf>,
    config: DockerConfig,
}

impl Credentials {
    /// The file given, else `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`; none found is anonymous access.
    pub fn discover(given: Option<&Path>) -> Result<Self, OciError> {
        if let Some(path) = given {
            return Self::read(path);
        }
        let candidate = std::env::var_os("DOCKER_CONFIG")
            .map(|d| PathBuf::from(d).join("config.json"))
            .or_else(|| {
                directories::BaseDirs::new().map(|b| b.home_dir().join(".docker/config.json"))
            });
        match candidate {
            Some(path) if path.is_file() => Self::read(&path),
            _ => Ok(Self::default()),
        }
    }

    pub fn read(path: &Path) -> Result<Self, OciError> {
        let text = std::fs::read_to_string(path).map_err(|source| OciError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config = serde_json::from_str(&text).map_err(|e| OciError::Credentials {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            path: Some(path.to_path_buf()),
            config,
        })
    }

    /// How to authenticate to `registry` (a host, with its port).
    pub fn for_registry(&self, registry: &str) -> Result<RegistryAuth, OciError> {
        let fail = |reason: String| OciError::Credentials {
            path: self.path.clone().unwrap_or_default(),
            reason,
        };
        // Keys are hosts, sometimes written as URLs (`https://host/v1/`).
        let entry = self.config.auths.iter().find_map(|(key, entry)| {
            let host = key
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or_default();
            (host == registry).then_some(entry)
        });
        let Some(entry) = entry else {
            if let Some(helper) = self
                .config
                .cred_helpers
                .get(registry)
                .or(self.config.creds_store.as_ref())
            {
                return Err(fail(format!(
                    "{registry} uses the credential helper {helper:?}, which kbind does not run; \
                     put the credentials under `auths` (an image pull secret's format)"
                )));
            }
            return Ok(RegistryAuth::Anonymous);
        };
        if let Some(token) = &entry.registrytoken {
            return Ok(RegistryAuth::Bearer(token.clone()));
        }
        // oci-client cannot make the refresh-token exchange; sending the
        // refresh token as a bearer would be refused by the registry with a
        // 401 that names nothing.
        if entry.identitytoken.is_some() && entry.username.is_none() && entry.auth.is_none() {
            return Err(fail(format!(
                "{registry}: an `identitytoken` (an OAuth2 refresh token, as `az acr login` \
                 and `docker login` with a token flow write) needs an exchange kbind does not \
                 make; use a username and password or access token under `auth` (an image pull \
                 secret's format)"
            )));
        }
        if let (Some(user), Some(password)) = (&entry.username, &entry.password) {
            return Ok(RegistryAuth::Basic(user.clone(), password.clone()));
        }
        let Some(encoded) = &entry.auth else {
            return Ok(RegistryAuth::Anonymous);
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| fail(format!("{registry}: `auth` is not base64: {e}")))?;
        let text = String::from_utf8(decoded)
            .map_err(|_| fail(format!("{registry}: `auth` is not UTF-8")))?;
        let (user, password) = text
            .split_once(':')
            .ok_or_else(|| fail(format!("{registry}: `auth` is not <user>:<password>")))?;
        Ok(RegistryAuth::Basic(user.to_string(), password.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(json: &str) -> Credentials {
        Credentials {
            path: Some("config.json".into()),
            config: serde_json::from_str(json).unwrap(),
        }
    }

    #[test]
    fn auth_entries_by_host() {
        let c = creds(
            r#"{"auths": {"127.0.0.1:5000": {"auth": "YWxpY2U6czNjcmV0"},
                          "https://ghcr.io/v1/": {"username": "bob", "password": "pw"}}}"#,
        );
        assert!(matches!(c.for_registry("127.0.0.1:5000").unwrap(),
            RegistryAuth::Basic(u, p) if u == "alice" && p == "s3cret"));
        assert!(matches!(c.for_registry("ghcr.io").unwrap(),
            RegistryAuth::Basic(u, _) if u == "bob"));
        assert!(matches!(
            c.for_registry("quay.io").unwrap(),
            RegistryAuth::Anonymous
        ));
    }

    #[test]
    fn a_registry_token_is_a_bearer_and_an_identity_token_is_refused_by_name() {
        let c = creds(
            r#"{"auths": {"a.io": {"registrytoken": "tok"},
                          "b.io": {"identitytoken": "refresh"}}}"#,
        );
        assert!(matches!(c.for_registry("a.io").unwrap(),
            RegistryAuth::Bearer(t) if t == "tok"));
        let err = c.for_registry("b.io").unwrap_err().to_string();
        assert!(
            err.contains("identitytoken") && err.contains("b.io"),
            "{err}"
        );
    }

    #[test]
    fn a_credential_helper_is_named_not_ignored() {
        let c = creds(r#"{"credsStore": "desktop"}"#);
        let err = c.for_registry("ghcr.io").unwrap_err().to_string();
        assert!(err.contains("desktop"), "{err}");
    }
}
