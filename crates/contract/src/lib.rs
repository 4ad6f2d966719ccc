//! The policy contract (`wit/policy.wit`): its records as plain Rust types,
//! its names and version, and the helpers host code builds inputs with.
//! Host code (planner, CLI, native policies) uses these records directly,
//! and the engine lowers them into a component as they are (see `types`).

/// The `Policy` trait the planner talks to, decisions and their errors, and
/// the native reference implementation of kratix-default.
pub mod policy;
pub mod types;

pub use types::*;

/// The contract version this host implements (the WIT package version).
pub const CONTRACT_VERSION: &str = "0.2.0";

/// The contract versions this host serves, newest first: the current one
/// natively, the older ones through the engine's adapter.
pub const SERVED_CONTRACTS: [&str; 2] = ["0.2.0", "0.1.0"];

/// The WIT package name, without version.
pub const CONTRACT_PACKAGE: &str = "kbind:policy";

/// The exported interface every policy must provide, without version.
pub const DECISIONS_INTERFACE: &str = "kbind:policy/decisions";

/// The functions of the `decisions` interface, in WIT order.
pub const DECISION_FUNCTIONS: [&str; 7] = [
    "metadata",
    "validate-settings",
    "initial-version",
    "plan-upgrades",
    "review-edit",
    "after-failure",
    "rerun-on-spec-change",
];

/// The floating version: a binding on `latest` follows the latest revision.
pub const LATEST: &str = "latest";

/// The contract a component's `decisions` export speaks, as this host
/// serves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Contract {
    /// `kbind:policy@0.1.x`, served through the engine's adapter.
    #[serde(rename = "0.1")]
    V0_1,
    /// `kbind:policy@0.2.x`, the current contract.
    #[serde(rename = "0.2")]
    V0_2,
}

impl Contract {
    /// The contract a component built against `version` speaks, if this host
    /// serves it: the same major and, while 0.x, the same minor as one of
    /// [`SERVED_CONTRACTS`].
    pub fn of_version(version: &str) -> Option<Self> {
        let theirs = semver::Version::parse(version).ok()?;
        let compatible = |served: &str| {
            semver::Version::parse(served).is_ok_and(|ours| {
                ours.major == theirs.major && (ours.major != 0 || ours.minor == theirs.minor)
            })
        };
        if compatible("0.2.0") {
            Some(Self::V0_2)
        } else if compatible("0.1.0") {
            Some(Self::V0_1)
        } else {
            None
        }
    }
}

/// True when a component built against contract `version` can be served by
/// this host.
pub fn is_compatible(version: &str) -> bool {
    Contract::of_version(version).is_some()
}

/// Approximate size in bytes of a value once lowered into the guest, used to
/// enforce the input size cap before any wasm runs.
pub trait WireSize {
    fn wire_size(&self) -> usize;
}

impl WireSize for String {
    fn wire_size(&self) -> usize {
        8 + self.len()
    }
}

impl<T: WireSize> WireSize for Vec<T> {
    fn wire_size(&self) -> usize {
        8 + self.iter().map(WireSize::wire_size).sum::<usize>()
    }
}

impl<T: WireSize> WireSize for Option<T> {
    fn wire_size(&self) -> usize {
        4 + self.as_ref().map_or(0, WireSize::wire_size)
    }
}

macro_rules! wire_size_of_record {
    ($ty:ty { $($field:ident),* } + $fixed:expr) => {
        impl WireSize for $ty {
            fn wire_size(&self) -> usize {
                $fixed $(+ self.$field.wire_size())*
            }
        }
    };
}

wire_size_of_record!(Setting { name, value } + 0);

impl WireSize for SettingValue {
    fn wire_size(&self) -> usize {
        4 + 8 + self.as_str().len()
    }
}
wire_size_of_record!(KeyValue { key, value } + 0);
wire_size_of_record!(Revision { name, version } + 16);
wire_size_of_record!(
    Promise {
        name,
        revisions,
        labels,
        annotations
    } + 0
);
wire_size_of_record!(
    Request {
        namespace,
        name,
        labels,
        annotations
    } + 0
);
wire_size_of_record!(
    Binding {
        namespace,
        name,
        request,
        version,
        last_applied_version,
        in_flight_version,
        failed_version,
        failed_versions,
        labels,
        annotations
    } + 4
        + 2 * 16
);
wire_size_of_record!(
    InitialVersionInput {
        settings,
        promise,
        request,
        previous_version
    } + 8
);
wire_size_of_record!(
    PlanInput {
        settings,
        promise,
        bindings
    } + 12
);
wire_size_of_record!(
    EditInput {
        settings,
        promise,
        binding,
        requested_version
    } + 8
);
wire_size_of_record!(
    FailureInput {
        settings,
        promise,
        binding,
        failed_version,
        message
    } + 20
);
wire_size_of_record!(
    SpecChangeInput {
        settings,
        promise,
        changed_version,
        bindings
    } + 8
);

impl BindingRef {
    pub fn of(binding: &Binding) -> Self {
        Self {
            namespace: binding.namespace.clone(),
            name: binding.name.clone(),
        }
    }
}

impl std::fmt::Display for BindingRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl std::fmt::Display for FailureAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Hold => f.write_str("hold"),
            Self::RetryAfter(ms) => write!(f, "retry after {ms}ms"),
            Self::RollBack => f.write_str("roll back"),
        }
    }
}

impl Promise {
    /// The revision marked `status.latest` (the first, if several are).
    pub fn latest_revision(&self) -> Option<&Revision> {
        self.revisions.iter().find(|r| r.latest)
    }

    pub fn has_version(&self, version: &str) -> bool {
        self.revisions.iter().any(|r| r.version == version)
    }
}

/// Labels or annotations as the contract's key/value list (sorted by key).
pub fn key_values(map: &std::collections::BTreeMap<String, String>) -> Vec<KeyValue> {
    map.iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

/// Looks up a setting by name.
pub fn setting<'a>(settings: &'a [Setting], name: &str) -> Option<&'a str> {
    settings
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_follows_semver_for_0x() {
        assert_eq!(Contract::of_version("0.1.0"), Some(Contract::V0_1));
        assert_eq!(Contract::of_version("0.1.7"), Some(Contract::V0_1));
        assert_eq!(Contract::of_version("0.2.0"), Some(Contract::V0_2));
        assert_eq!(Contract::of_version("0.2.3"), Some(Contract::V0_2));
        assert!(!is_compatible("0.3.0"));
        assert!(!is_compatible("0.0.1"));
        assert!(!is_compatible("1.0.0"));
        assert!(!is_compatible("9.0.0"));
        assert!(!is_compatible("garbage"));
    }

    #[test]
    fn wire_size_grows_with_content() {
        let small = Setting::text("a", "b");
        let big = Setting::text("a", "b".repeat(1000));
        assert!(big.wire_size() > small.wire_size() + 900);
    }
}

#[cfg(test)]
mod setting_values {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn scalars_keep_their_text_and_structures_become_json() {
        let doc = r#"{"range": "minor", "maxInFlight": 25, "paused": true,
                      "waves": [{"name": "canary"}, {"name": "rest"}]}"#;
        let map: BTreeMap<String, SettingValue> = serde_json::from_str(doc).unwrap();
        assert_eq!(map["range"], SettingValue::Text("minor".into()));
        assert_eq!(map["maxInFlight"], SettingValue::Text("25".into()));
        assert_eq!(map["paused"], SettingValue::Text("true".into()));
        assert_eq!(
            map["waves"],
            SettingValue::Json(r#"[{"name":"canary"},{"name":"rest"}]"#.into())
        );
        let back = serde_json::to_value(&map).unwrap();
        assert_eq!(back["waves"][1]["name"], "rest");
        assert_eq!(back["maxInFlight"], "25");
    }

    #[test]
    fn a_null_setting_is_refused() {
        let err = serde_json::from_str::<BTreeMap<String, SettingValue>>(r#"{"soak": null}"#)
            .unwrap_err();
        assert!(err.to_string().contains("needs a value"), "{err}");
    }
}
