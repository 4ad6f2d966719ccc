//! Helpers every policy needs: semantic-version ordering, revision lookup,
//! settings and annotations.

use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;

use crate::bindings::kbind::policy::types::*;

/// Parses a promise version as semver, accepting a leading `v` (`v1.2.3`).
/// Returns `None` for versions that are not semver (e.g. `not-set`).
pub fn parse_version(version: &str) -> Option<semver::Version> {
    let bare = version
        .strip_prefix('v')
        .or_else(|| version.strip_prefix('V'))
        .unwrap_or(version);
    semver::Version::parse(bare).ok()
}

/// Orders two promise versions by semver; `None` if either is not semver.
pub fn compare_versions(a: &str, b: &str) -> Option<Ordering> {
    Some(parse_version(a)?.cmp(&parse_version(b)?))
}

/// How far an automatic upgrade may move a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpgradeRange {
    /// Never move automatically.
    None,
    /// Same major and minor: `1.2.3 -> 1.2.9`.
    Patch,
    /// Same major: `1.2.3 -> 1.9.0`.
    Minor,
}

impl UpgradeRange {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "none" => Some(Self::None),
            "patch" => Some(Self::Patch),
            "minor" => Some(Self::Minor),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Patch => "patch",
            Self::Minor => "minor",
        }
    }
}

/// True when `candidate` is newer than `current` and within `range` of it.
/// Never crosses a major version; pre-releases are never chosen
/// automatically. Versions that are not semver are never in range.
pub fn version_in_range(current: &str, candidate: &str, range: UpgradeRange) -> bool {
    let (Some(cur), Some(cand)) = (parse_version(current), parse_version(candidate)) else {
        return false;
    };
    if cand <= cur || !cand.pre.is_empty() || cand.major != cur.major {
        return false;
    }
    match range {
        UpgradeRange::None => false,
        UpgradeRange::Patch => cand.minor == cur.minor,
        UpgradeRange::Minor => true,
    }
}

/// The revision marked `status.latest`. If several are marked (a transient
/// state during the latest hand-off), the first in list order, as Kratix.
pub fn latest_revision(promise: &Promise) -> Option<&Revision> {
    promise.revisions.iter().find(|r| r.latest)
}

/// The revision with the highest semver version (pre-releases excluded);
/// revisions that are not semver are ignored.
pub fn newest_revision(promise: &Promise) -> Option<&Revision> {
    promise
        .revisions
        .iter()
        .filter_map(|r| parse_version(&r.version).map(|v| (v, r)))
        .filter(|(v, _)| v.pre.is_empty())
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, r)| r)
}

/// True if the promise has a revision with exactly this version.
pub fn has_revision(promise: &Promise, version: &str) -> bool {
    promise.revisions.iter().any(|r| r.version == version)
}

/// The text of a setting, if configured: a scalar as written, a list or a
/// map as its JSON.
pub fn setting<'a>(settings: &'a [Setting], name: &str) -> Option<&'a str> {
    find_setting(settings, name).map(|value| value.as_str())
}

/// The value of a setting, if configured, to tell a scalar from a list or
/// a map.
pub fn find_setting<'a>(settings: &'a [Setting], name: &str) -> Option<&'a SettingValue> {
    settings.iter().find(|s| s.name == name).map(|s| &s.value)
}

impl SettingValue {
    /// A scalar as written, a list or a map as its JSON.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Text(text) | Self::Json(text) => text,
        }
    }
}

impl Setting {
    /// A scalar setting.
    pub fn text(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: SettingValue::Text(value.into()),
        }
    }

    /// A list or map setting, given as JSON.
    pub fn json(name: impl Into<String>, json: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: SettingValue::Json(json.into()),
        }
    }
}

/// The value of a label or annotation.
pub fn lookup<'a>(pairs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|p| p.key == key)
        .map(|p| p.value.as_str())
}

/// `validate-settings` helper: an error naming every setting not in `known`.
pub fn check_known_settings(
    settings: &[Setting],
    known: &[&str],
    policy: &str,
) -> Result<(), String> {
    let unknown = unknown_settings(settings, known);
    if unknown.is_empty() {
        return Ok(());
    }
    let known: Vec<String> = known.iter().map(|k| alloc::format!("`{k}`")).collect();
    Err(alloc::format!(
        "unknown setting(s) {}; {policy} understands only {}",
        unknown.join(", "),
        known.join(", ")
    ))
}

/// `initial-version` helper (Kratix ): a binding recreated after
/// deletion keeps the version its request was last reconciled with.
pub fn restored_version(input: &InitialVersionInput) -> Option<VersionChoice> {
    let previous = input
        .previous_version
        .as_deref()
        .filter(|v| !v.is_empty())?;
    Some(VersionChoice::new(
        previous,
        alloc::format!(
            "restoring the binding version {previous} the request was last reconciled with"
        ),
    ))
}

/// Settings whose names are not in `known`, for `validate-settings`.
pub fn unknown_settings<'a>(settings: &'a [Setting], known: &[&str]) -> Vec<&'a str> {
    settings
        .iter()
        .map(|s| s.name.as_str())
        .filter(|name| !known.contains(name))
        .collect()
}

impl BindingRef {
    pub fn of(binding: &Binding) -> Self {
        Self {
            namespace: binding.namespace.clone(),
            name: binding.name.clone(),
        }
    }
}

impl VersionChoice {
    pub fn new(version: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            version: version.into(),
            reason: reason.into(),
        }
    }
}

impl Review {
    pub fn allow(reason: impl Into<String>) -> Self {
        Self {
            allowed: true,
            reason: reason.into(),
        }
    }

    pub fn deny(reason: impl Into<String>) -> Self {
        Self {
            allowed: false,
            reason: reason.into(),
        }
    }
}

impl FailureDecision {
    pub fn new(action: FailureAction, reason: impl Into<String>) -> Self {
        Self {
            action,
            reason: reason.into(),
        }
    }
}

impl PolicyInfo {
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            settings: Vec::new(),
        }
    }

    pub fn setting(
        mut self,
        name: &str,
        description: &str,
        default_value: Option<&str>,
        allowed_values: &[&str],
    ) -> Self {
        self.settings.push(SettingSpec {
            name: name.into(),
            description: description.into(),
            default_value: default_value.map(Into::into),
            allowed_values: allowed_values.iter().map(|v| (*v).into()).collect(),
        });
        self
    }
}
