//! The one wasmtime `Config` kbind uses, every knob with its reason.

use wasmtime::{
    Config, Enabled, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
    ProfilingStrategy,
};

use super::Limits;

/// Instances that may be alive at once (one per in-flight decision).
const POOLED_INSTANCES: u32 = 64;

/// How instances are allocated. A fresh instance per decision is kbind's
/// rule; these decide what that costs for a large component (CPython or
/// SpiderMonkey inside, tens of MB of initialised memory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// Pre-mapped instance slots, reused (else each instance maps its own).
    pub pooling: bool,
    /// Map a module's initialised memory copy-on-write from its compiled
    /// image instead of copying its data segments in at each instantiation.
    pub memory_init_cow: bool,
    /// Of a pooled memory, how many bytes are reset with `memset` and kept
    /// resident when its instance ends, rather than given back to the OS
    /// (and faulted in again by the next instance).
    pub keep_resident_bytes: usize,
    /// Reset only the pages an instance dirtied (Linux 6.7+ `PAGEMAP_SCAN`)
    /// within `keep_resident_bytes`, instead of `memset` of all of them.
    pub pagemap_scan: bool,
}

/// Measured (BENCHMARKS.md, "Python and JavaScript policies"): keeping
/// 16 MiB resident and resetting only dirtied pages took a fresh Rust
/// instance from 48 to 28 µs, JavaScript from 1.0 ms to 0.49 ms, Python from
/// 2.0 to 1.7 ms. On kernels before 6.7 the scan falls back to `memset`.
impl Default for Tuning {
    fn default() -> Self {
        Self {
            pooling: true,
            memory_init_cow: true,
            keep_resident_bytes: 16 << 20,
            pagemap_scan: true,
        }
    }
}

pub(crate) fn wasmtime_config(limits: &Limits, tuning: &Tuning) -> Config {
    let mut config = Config::new();
    // Policies are called synchronously; without the component-model
    // concurrency machinery a warm call costs ~0.17 µs instead of ~0.6 µs.
    config.concurrency_support(false);
    // Fuel is the deterministic budget reported with every decision.
    config.consume_fuel(true);
    // Epochs are the wall-clock deadline (host calls burn no fuel).
    config.epoch_interruption(true);
    config.cranelift_opt_level(OptLevel::Speed);
    // `perf` can name a policy's functions when the engine writes a perf map
    // (README, "Writing a policy": profile it).
    if std::env::var_os("KBIND_PERFMAP").is_some() {
        config.profiler(ProfilingStrategy::PerfMap);
    }
    // Large components (componentize-py ships CPython, ~18 MB) compile on
    // all cores; the result is cached on disk anyway.
    config.parallel_compilation(true);

    config.memory_init_cow(tuning.memory_init_cow);
    if !tuning.pooling {
        return config;
    }
    // A fresh instance per decision: the pooling allocator makes that ~5 µs
    // instead of ~17 µs by reusing pre-mapped slots.
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOLED_INSTANCES)
        // CPython-based components link several core modules.
        .total_core_instances(POOLED_INSTANCES * 16)
        .total_memories(POOLED_INSTANCES * 4)
        .total_tables(POOLED_INSTANCES * 16)
        .max_memories_per_component(16)
        .max_tables_per_component(32)
        .max_core_instance_size(16 << 20)
        .max_component_instance_size(1 << 20)
        .table_elements(100_000)
        .max_memory_size(limits.memory_bytes)
        .linear_memory_keep_resident(tuning.keep_resident_bytes)
        .table_keep_resident(tuning.keep_resident_bytes)
        .pagemap_scan(if tuning.pagemap_scan {
            Enabled::Auto
        } else {
            Enabled::No
        });
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}
