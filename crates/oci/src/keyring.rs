//! Which entry of a docker config serves a repository, chosen as the kubelet
//! chooses an image pull secret's (`pkg/credentialprovider/keyring.go`),
//! since a mounted pull secret is what the operator reads.
//!
//! A key is a host, optionally with a port and a path (`https://` and a
//! `/v1/` or `/v2/` path ignored); its host labels may be `*` globs
//! (`*.azurecr.io`), its port must be the reference's, its path a prefix of
//! the repository's. The most specific key wins (the kubelet tries each
//! match in that order; a policy pull uses the first). Docker Hub
//! references fall back to `index.docker.io`, the key `docker login` and
//! `kubectl create secret docker-registry` write by default.

/// The entry among `entries` (docker config key, entry) that serves
/// `registry/repository`, `registry` as the reference writes it.
pub(crate) fn choose<'e, E>(
    entries: impl Iterator<Item = (&'e str, &'e E)>,
    registry: &str,
    repository: &str,
) -> Option<&'e E> {
    let target = format!("{registry}/{repository}");
    let target = Location::parse(&target);
    let mut keys: Vec<(String, &E)> = entries
        .map(|(key, entry)| (Location::key(key), entry))
        .collect();
    keys.sort_by(|a, b| b.0.cmp(&a.0));
    let served = keys
        .iter()
        .find(|(key, _)| Location::parse(key).serves(&target));
    let docker_hub = || {
        matches!(registry, "docker.io" | "index.docker.io")
            .then(|| keys.iter().find(|(key, _)| key == "index.docker.io"))
            .flatten()
    };
    served.or_else(docker_hub).map(|(_, entry)| *entry)
}

/// A registry location: host labels, port and path.
struct Location<'a> {
    labels: Vec<&'a str>,
    port: &'a str,
    path: &'a str,
}

impl<'a> Location<'a> {
    /// A config key as the kubelet indexes it: no scheme, a `/v1/` or
    /// `/v2/` path and a bare `/` dropped.
    fn key(key: &str) -> String {
        let bare = key
            .strip_prefix("https://")
            .or_else(|| key.strip_prefix("http://"))
            .unwrap_or(key);
        let (host, path) = bare.split_at(bare.find('/').unwrap_or(bare.len()));
        let path = if path.starts_with("/v1/") || path.starts_with("/v2/") {
            &path[3..]
        } else {
            path
        };
        if path.is_empty() || path == "/" {
            host.to_string()
        } else {
            format!("{host}{path}")
        }
    }

    fn parse(location: &'a str) -> Self {
        let (host, path) = location.split_at(location.find('/').unwrap_or(location.len()));
        // `[::1]:5000`, `host:5000`, `host`: the port is what follows the
        // last colon outside an IPv6 literal's brackets.
        let (host, port) = match host.rfind(':') {
            Some(i) if !host[i..].contains(']') => (&host[..i], &host[i + 1..]),
            _ => (host, ""),
        };
        Self {
            labels: host.split('.').collect(),
            port,
            path,
        }
    }

    /// Whether credentials kept under `self` (a key) serve `target`.
    fn serves(&self, target: &Location<'_>) -> bool {
        self.port == target.port
            && self.labels.len() == target.labels.len()
            && target.path.starts_with(self.path)
            && self
                .labels
                .iter()
                .zip(&target.labels)
                .all(|(pattern, label)| glob_matches(pattern, label))
    }
}

/// A host label against a pattern where `*` is any run of characters and
/// `?` any one (Go's `filepath.Match` within a label; character classes are
/// not used in registry hosts and are matched literally).
fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Classic backtracking over the last `*`.
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_label_globs() {
        for (pattern, label, matches) in [
            ("*", "acme", true),
            ("*", "", true),
            ("acme*", "acme-prod", true),
            ("*-prod", "acme-prod", true),
            ("a?me", "acme", true),
            ("a*e*d", "acmeprod", true),
            ("a*e*d", "acmeprox", false),
            ("acme", "acm", false),
            ("", "acme", false),
        ] {
            assert_eq!(glob_matches(pattern, label), matches, "{pattern} / {label}");
        }
    }
}
