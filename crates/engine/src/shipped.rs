//! The policies compiled into the kbind binary (built by `build.rs`).

use crate::PolicySource;

/// A policy that ships inside kbind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shipped {
    pub name: &'static str,
    pub bytes: &'static [u8],
}

/// `kratix-default`: Kratix's own decisions. The default policy.
pub const KRATIX_DEFAULT: Shipped = Shipped {
    name: "kratix-default",
    bytes: include_bytes!(concat!(env!("KBIND_GUEST_DIR"), "/kratix-default.wasm")),
};

/// `semver-auto`: automatic upgrades within a semver range.
pub const SEMVER_AUTO: Shipped = Shipped {
    name: "semver-auto",
    bytes: include_bytes!(concat!(env!("KBIND_GUEST_DIR"), "/semver-auto.wasm")),
};

/// `rollout`: progressive upgrades in waves, with soak, budgets and windows.
pub const ROLLOUT: Shipped = Shipped {
    name: "rollout",
    bytes: include_bytes!(concat!(env!("KBIND_GUEST_DIR"), "/rollout.wasm")),
};

pub const ALL: [Shipped; 3] = [KRATIX_DEFAULT, SEMVER_AUTO, ROLLOUT];

/// The shipped policy with this name.
pub fn by_name(name: &str) -> Option<Shipped> {
    ALL.into_iter().find(|p| p.name == name)
}

impl Shipped {
    pub fn source(self) -> PolicySource {
        PolicySource::from_bytes(format!("built-in policy {}", self.name), self.bytes)
    }
}

/// Resolves `--policy`: a shipped policy's name, or a path to a `.wasm`.
pub fn resolve(policy: &str) -> Result<PolicySource, kbind_contract::policy::PolicyError> {
    resolve_in(Some(policy), std::path::Path::new(""))
}

/// Resolves the policy a file names (a suite, a scenario): a shipped
/// policy's name, or a path relative to `base`, the file's folder; no name
/// means kratix-default.
pub fn resolve_in(
    policy: Option<&str>,
    base: &std::path::Path,
) -> Result<PolicySource, kbind_contract::policy::PolicyError> {
    let policy = policy.unwrap_or(KRATIX_DEFAULT.name);
    match by_name(policy) {
        Some(shipped) => Ok(shipped.source()),
        // An absolute path replaces `base`.
        None => PolicySource::from_path(&base.join(policy)),
    }
}
