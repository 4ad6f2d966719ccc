//! `oci://<registry>/<repository>[:<tag>][@sha256:<digest>]`.

use std::fmt;
use std::str::FromStr;

use oci_client::Reference;

use super::OciError;

pub const SCHEME: &str = "oci://";

/// A policy in a registry: by tag, by digest, or a tag pinned to a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRef {
    inner: Reference,
    given: String,
}

impl PolicyRef {
    /// True if `text` names an OCI policy (starts with `oci://`).
    pub fn is_oci(text: &str) -> bool {
        text.starts_with(SCHEME)
    }

    pub fn registry(&self) -> &str {
        self.inner.resolve_registry()
    }

    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    /// The manifest digest (`sha256:<hex>`), if the reference pins one.
    pub fn digest(&self) -> Option<&str> {
        self.inner.digest()
    }

    /// The same repository at this manifest digest.
    pub fn at_digest(&self, digest: &str) -> PolicyRef {
        let inner = Reference::with_digest(
            self.inner.registry().to_string(),
            self.inner.repository().to_string(),
            digest.to_string(),
        );
        PolicyRef {
            given: format!("{SCHEME}{inner}"),
            inner,
        }
    }

    pub(crate) fn oci(&self) -> &Reference {
        &self.inner
    }
}

impl FromStr for PolicyRef {
    type Err = OciError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| OciError::Reference {
            reference: text.to_string(),
            reason,
        };
        let rest = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| invalid(format!("it must start with {SCHEME}")))?;
        // Without a registry host the reference would silently mean Docker
        // Hub; a policy's registry is always named.
        let host = rest.split('/').next().unwrap_or_default();
        if !rest.contains('/') || !(host.contains('.') || host.contains(':') || host == "localhost")
        {
            return Err(invalid(
                "name the registry: oci://<registry>/<repository>:<tag>".into(),
            ));
        }
        let inner = Reference::from_str(rest).map_err(|e| invalid(e.to_string()))?;
        if let Some(digest) = inner.digest()
            && !digest
                .strip_prefix("sha256:")
                .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(invalid(format!("{digest} is not a sha256 digest")));
        }
        Ok(PolicyRef {
            inner,
            given: text.to_string(),
        })
    }
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.given)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn tags_digests_and_both() {
        let r: PolicyRef = "oci://127.0.0.1:5000/policies/mine:v1".parse().unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag(), r.digest()),
            ("127.0.0.1:5000", "policies/mine", Some("v1"), None)
        );
        let r: PolicyRef = format!("oci://ghcr.io/acme/mine@{DIGEST}").parse().unwrap();
        assert_eq!((r.tag(), r.digest()), (None, Some(DIGEST)));
        let r: PolicyRef = format!("oci://localhost:5000/mine:v1@{DIGEST}")
            .parse()
            .unwrap();
        assert_eq!((r.tag(), r.digest()), (Some("v1"), Some(DIGEST)));
        assert_eq!(
            r.at_digest(DIGEST).to_string(),
            format!("oci://localhost:5000/mine@{DIGEST}")
        );
    }

    #[test]
    fn a_registry_must_be_named_and_a_digest_be_sha256() {
        for bad in [
            "mine:v1",
            "oci://mine:v1",
            "oci://acme/mine:v1",
            "oci://ghcr.io/acme/mine@sha256:abc",
            "oci://ghcr.io/acme/Mine:v1",
        ] {
            assert!(bad.parse::<PolicyRef>().is_err(), "{bad}");
        }
    }
}
