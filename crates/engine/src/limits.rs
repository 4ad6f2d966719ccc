use std::time::Duration;

/// Per-decision resource limits. Every decision runs in a fresh store with
/// these applied; exceeding one is a typed error and leaves the engine usable.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Limits {
    /// Deterministic budget: wasm fuel units per decision (roughly one per
    /// executed instruction), before the per-binding allowance. The same
    /// input always uses the same fuel, so a policy that passes in CI cannot
    /// run out in the cluster.
    pub fuel: u64,
    /// Fuel added for each binding a decision's input carries
    /// (`plan-upgrades`, `rerun-on-spec-change`): a decision over N bindings
    /// may use `fuel + N × fuelPerBinding`. Interpreted policies (Python,
    /// JavaScript) spend far more per binding than compiled ones.
    pub fuel_per_binding: u64,
    /// Wall-clock backstop for what fuel does not count (host calls), before
    /// the per-binding allowance.
    #[serde(with = "humantime_serde_compat")]
    pub deadline: Duration,
    /// Wall-clock time added for each binding of a decision's input.
    #[serde(with = "humantime_serde_compat")]
    pub deadline_per_binding: Duration,
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
            // The JavaScript semver-auto uses ~1.25·10⁶ per binding, the
            // Python one ~0.54·10⁶, the Rust one ~1.0·10⁴ (BENCHMARKS.md,
            // "Budgets"): 3·10⁶ serves 10,000 bindings of either with
            // room for a heavier policy.
            fuel_per_binding: FUEL_PER_BINDING,
            deadline: Duration::from_secs(2),
            deadline_per_binding: DEADLINE_PER_BINDING,
            memory_bytes: 256 << 20,
            input_bytes: 64 << 20,
        }
    }
}

const FUEL_PER_BINDING: u64 = 3_000_000;
const DEADLINE_PER_BINDING: Duration = Duration::from_millis(2);

impl Limits {
    /// The fuel a decision over `bindings` bindings may use.
    pub fn fuel_for(&self, bindings: usize) -> u64 {
        self.fuel
            .saturating_add(self.fuel_per_binding.saturating_mul(bindings as u64))
    }

    /// The deadline of a decision over `bindings` bindings.
    pub fn deadline_for(&self, bindings: usize) -> Duration {
        self.deadline.saturating_add(
            self.deadline_per_binding
                .saturating_mul(u32::try_from(bindings).unwrap_or(u32::MAX)),
        )
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
