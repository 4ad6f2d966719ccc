//! Registry credentials from a docker config file: `~/.docker/config.json`,
//! `$DOCKER_CONFIG/config.json`, or a file given (an image pull secret's
//! `.dockerconfigjson`, mounted: the same format).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use super::OciError;
use super::keyring;

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

    /// How to authenticate to `registry` (a host, with its port, as the
    /// reference writes it) for `repository`.
    pub fn for_repository(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<RegistryAuth, OciError> {
        let fail = |reason: String| OciError::Credentials {
            path: self.path.clone().unwrap_or_default(),
            reason,
        };
        let entry = keyring::choose(
            self.config
                .auths
                .iter()
                .map(|(key, entry)| (key.as_str(), entry)),
            registry,
            repository,
        );
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
        let basic = match (&entry.username, &entry.password, &entry.auth) {
            (Some(user), Some(password), _) => Some((user.clone(), password.clone())),
            (_, _, Some(encoded)) => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .map_err(|e| fail(format!("{registry}: `auth` is not base64: {e}")))?;
                let text = String::from_utf8(decoded)
                    .map_err(|_| fail(format!("{registry}: `auth` is not UTF-8")))?;
                let (user, password) = text
                    .split_once(':')
                    .ok_or_else(|| fail(format!("{registry}: `auth` is not <user>:<password>")))?;
                Some((user.to_string(), password.to_string()))
            }
            _ => None,
        };
        // oci-client cannot make the refresh-token exchange, and an entry
        // that holds one usually has no password beside it (`az acr login`
        // writes a null-GUID user with an empty one): sending either would be
        // refused with a 401 that names nothing.
        let no_password = basic.as_ref().is_none_or(|(_, p)| p.is_empty());
        if entry.identitytoken.is_some() && no_password {
            return Err(fail(format!(
                "{registry}: an `identitytoken` (an OAuth2 refresh token, as `az acr login` \
                 and `docker login` with a token flow write) needs an exchange kbind does not \
                 make; use a username and password or access token under `auth` (an image pull \
                 secret's format)"
            )));
        }
        Ok(basic.map_or(RegistryAuth::Anonymous, |(user, password)| {
            RegistryAuth::Basic(user, password)
        }))
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
        assert!(
            matches!(c.for_repository("127.0.0.1:5000", "policies/p").unwrap(),
            RegistryAuth::Basic(u, p) if u == "alice" && p == "s3cret")
        );
        assert!(matches!(c.for_repository("ghcr.io", "policies/p").unwrap(),
            RegistryAuth::Basic(u, _) if u == "bob"));
        assert!(matches!(
            c.for_repository("quay.io", "policies/p").unwrap(),
            RegistryAuth::Anonymous
        ));
    }

    fn user(c: &Credentials, registry: &str, repository: &str) -> Option<String> {
        match c.for_repository(registry, repository).unwrap() {
            RegistryAuth::Basic(u, _) => Some(u),
            _ => None,
        }
    }

    /// The kubelet's choice of a pull secret's entry
    /// (`pkg/credentialprovider/keyring.go`), case by case.
    #[test]
    fn entries_are_chosen_as_the_kubelet_chooses_a_pull_secrets() {
        let c = creds(
            r#"{"auths": {
                "https://index.docker.io/v1/": {"username": "hub", "password": "p"},
                "registry.example.com": {"username": "all", "password": "p"},
                "registry.example.com/team-a": {"username": "team-a", "password": "p"},
                "https://registry.example.com/v2/team-b": {"username": "team-b", "password": "p"},
                "*.azurecr.io": {"username": "acr", "password": "p"},
                "127.0.0.1:5000": {"username": "local", "password": "p"}
            }}"#,
        );
        // kubectl's and docker login's default key serves Docker Hub, however
        // the reference names it.
        assert_eq!(user(&c, "docker.io", "acme/policy").as_deref(), Some("hub"));
        assert_eq!(
            user(&c, "index.docker.io", "acme/policy").as_deref(),
            Some("hub")
        );
        // A path narrows a key to the repositories under it; the most
        // specific key wins; `/v2/` is not part of the path.
        assert_eq!(
            user(&c, "registry.example.com", "team-a/p").as_deref(),
            Some("team-a")
        );
        assert_eq!(
            user(&c, "registry.example.com", "team-b/p").as_deref(),
            Some("team-b")
        );
        assert_eq!(
            user(&c, "registry.example.com", "team-c/p").as_deref(),
            Some("all")
        );
        // A `*` is one host label, no more and no fewer.
        assert_eq!(user(&c, "acme.azurecr.io", "p").as_deref(), Some("acr"));
        assert_eq!(user(&c, "azurecr.io", "p"), None);
        assert_eq!(user(&c, "a.b.azurecr.io", "p"), None);
        // The port is part of the match.
        assert_eq!(user(&c, "127.0.0.1:5000", "p").as_deref(), Some("local"));
        assert_eq!(user(&c, "127.0.0.1:5001", "p"), None);
        assert_eq!(user(&c, "127.0.0.1", "p"), None);
        assert_eq!(user(&c, "quay.io", "p"), None);
    }

    #[test]
    fn a_registry_token_is_a_bearer_and_an_identity_token_is_refused_by_name() {
        let c = creds(
            r#"{"auths": {"a.io": {"registrytoken": "tok"},
                          "b.io": {"identitytoken": "refresh"},
                          "c.azurecr.io": {"auth": "MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwOg==",
                                           "identitytoken": "refresh"},
                          "d.io": {"auth": "ZDpwdw==", "identitytoken": "refresh"}}}"#,
        );
        assert!(matches!(c.for_repository("a.io", "policies/p").unwrap(),
            RegistryAuth::Bearer(t) if t == "tok"));
        let err = c
            .for_repository("b.io", "policies/p")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("identitytoken") && err.contains("b.io"),
            "{err}"
        );
        // What `az acr login` writes: the null GUID with an empty password
        // beside the refresh token.
        let err = c
            .for_repository("c.azurecr.io", "policies/p")
            .unwrap_err()
            .to_string();
        assert!(err.contains("identitytoken"), "{err}");
        // A password beside it is used.
        assert!(matches!(c.for_repository("d.io", "policies/p").unwrap(),
            RegistryAuth::Basic(u, p) if u == "d" && p == "pw"));
    }

    #[test]
    fn a_credential_helper_is_named_not_ignored() {
        let c = creds(r#"{"credsStore": "desktop"}"#);
        let err = c
            .for_repository("ghcr.io", "policies/p")
            .unwrap_err()
            .to_string();
        assert!(err.contains("desktop"), "{err}");
    }
}
