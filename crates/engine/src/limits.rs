use std::time::Duration;

/// Per-decision resource limits. Every decision runs in a fresh store with
/// these applied; exceeding one is a typed error and leaves the engine usable.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Limits {
    /// Deterministic budget: wasm fuel units per decision (roughly one per
    /// executed instruction). The same input always uses the same fuel, so a
    /// policy that passes in CI cannot run out in the cluster.
    pub fuel: u64,
    /// Wall-clock backstop for what fuel does not count (host calls).
    #[serde(with = "humantime_serde_compat")]
    pub deadline: Duration,
    /// Largest linear memory a policy may grow to, in bytes.
    pub memory_bytes: usize,
    /// Largest decision input accepted, in (approximate) bytes.
    pub input_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // A 10,000-binding upgrade plan of semver-auto uses ~1/10 of this.
            fuel: 2_000_000_000,
            deadline: Duration::from_secs(2),
            memory_bytes: 256 << 20,
            input_bytes: 64 << 20,
        }
    }
}

mod humantime_serde_compat {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}
