//! What one decision's `Store` holds: the deny-all WASI context (built only
//! if the component touches WASI) with its bounded stderr, the deny-all
//! `wasi:http` context, the memory cap and the log sink.

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings;
use super::bindings::kbind::policy::host::LogLevel;

/// Most log lines one decision may write; the rest are dropped.
const MAX_LOG_LINES: u32 = 64;
/// Longest log line kept, in bytes.
const MAX_LOG_LINE: usize = 4096;
/// Most of a decision's stderr kept to show with its error (a Python
/// traceback is a few KiB); writes beyond it fail as a closed stream, they
/// do not trap the policy.
pub(crate) const MAX_STDERR: usize = 16 << 10;

pub(crate) struct State {
    policy: Arc<str>,
    /// The decision input's `now`: the only time a policy can see.
    now_ms: i64,
    wasi: Option<WasiCtx>,
    /// Shared with `wasi`'s stderr; created with it.
    stderr: Option<MemoryOutputPipe>,
    http: WasiHttpCtx,
    deny_http: super::deny_http::DenyAll,
    pub(crate) table: ResourceTable,
    pub(crate) memory: MemoryCap,
    log_lines: u32,
}

impl State {
    pub(crate) fn new(policy: Arc<str>, now_ms: i64, memory_bytes: usize) -> Self {
        Self {
            policy,
            now_ms,
            wasi: None,
            stderr: None,
            http: WasiHttpCtx::new(),
            deny_http: super::deny_http::DenyAll,
            table: ResourceTable::new(),
            memory: MemoryCap {
                limit: memory_bytes,
                hit: false,
            },
            log_lines: 0,
        }
    }
}

impl State {
    /// What the policy wrote to stderr in this decision, lossily decoded.
    pub(crate) fn stderr(&self) -> String {
        self.stderr
            .as_ref()
            .map(|pipe| String::from_utf8_lossy(&pipe.contents()).into_owned())
            .unwrap_or_default()
    }

    /// Logged as the policy's own warning, within its line budget: a policy
    /// that fetches in a loop cannot flood the log.
    pub(crate) fn refused_http(&mut self, url: &str) {
        let message = format!(
            "refused an outgoing HTTP request to {url}: policies have no network \
             (kbind's wasi:http answers HTTP-request-denied)"
        );
        bindings::kbind::policy::host::Host::log(self, LogLevel::Warn, message);
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let now_ms = self.now_ms;
        let stderr = &mut self.stderr;
        let ctx = self.wasi.get_or_insert_with(|| {
            let pipe = MemoryOutputPipe::new(MAX_STDERR);
            *stderr = Some(pipe.clone());
            deny_all(now_ms, pipe)
        });
        WasiCtxView {
            ctx,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.deny_http,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

/// WASI with nothing behind it: no preopened directories, no environment, no
/// arguments, no network, stdin closed, stdout discarded and stderr kept
/// (bounded) to show with an error. Clocks read the decision's `now`,
/// randomness is seeded from it, so the same input gives the same answer
/// everywhere.
fn deny_all(now_ms: i64, stderr: MemoryOutputPipe) -> WasiCtx {
    let seed = now_ms as u64 ^ 0x6b62_696e_645f_7273; // "kbind_rs"
    WasiCtxBuilder::new()
        .stderr(stderr)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .wall_clock(FrozenWallClock(now_ms))
        .monotonic_clock(FrozenMonotonicClock)
        // Both are a fast, seeded PRNG: a policy must not depend on secrecy,
        // only on the input, and componentize-py seeds Python's `random` from
        // 2.5 KB of "secure" random on each fresh instance, which ChaCha12
        // made ~10% of a Python decision (BENCHMARKS.md).
        .secure_random(rand::rngs::SmallRng::seed_from_u64(seed))
        .insecure_random(rand::rngs::SmallRng::seed_from_u64(seed.rotate_left(17)))
        .insecure_random_seed(u128::from(seed))
        .build()
}

struct FrozenWallClock(i64);

impl HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn now(&self) -> Duration {
        Duration::from_millis(self.0.max(0) as u64)
    }
}

struct FrozenMonotonicClock;

impl HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// The WASI version whose `poll` functions are replaced (the one
/// wasmtime-wasi registers; older 0.2.x imports resolve to it).
const WASI_IO_POLL: &str = "wasi:io/poll@0.2.12";

/// WASI's `poll` and `pollable.block` wait in host code, in real time, where
/// neither fuel nor the epoch deadline can interrupt them: a policy that
/// sleeps would hold an operator thread. A pure policy has nothing to wait
/// for, so waiting is a trap.
pub(crate) fn forbid_blocking(
    linker: &mut wasmtime::component::Linker<State>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut poll = linker.instance(WASI_IO_POLL)?;
    for name in ["poll", "[method]pollable.block"] {
        poll.func_new(name, move |_store, _ty, _params, _results| {
            Err(wasmtime::Error::msg(format!(
                "the policy tried to block (wasi:io/poll {name}); policies must not wait"
            )))
        })?;
    }
    linker.allow_shadowing(false);
    Ok(())
}

/// Caps linear-memory growth and remembers whether the cap was hit, so that
/// the trap that follows (an allocation failure) is reported as what it is.
pub(crate) struct MemoryCap {
    pub(crate) limit: usize,
    pub(crate) hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// The `types` interface has no functions; linking it needs this marker.
impl bindings::kbind::policy::types::Host for State {}

impl bindings::contract_0_1::kbind::policy::types::Host for State {}

/// A 0.1 policy logs through the same sink as a current one.
impl bindings::contract_0_1::kbind::policy::host::Host for State {
    fn log(
        &mut self,
        level: bindings::contract_0_1::kbind::policy::host::LogLevel,
        message: String,
    ) {
        use bindings::contract_0_1::kbind::policy::host::LogLevel as Old;
        let level = match level {
            Old::Debug => LogLevel::Debug,
            Old::Info => LogLevel::Info,
            Old::Warn => LogLevel::Warn,
            Old::Error => LogLevel::Error,
        };
        bindings::kbind::policy::host::Host::log(self, level, message);
    }
}

impl bindings::kbind::policy::host::Host for State {
    fn log(&mut self, level: LogLevel, mut message: String) {
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            return;
        }
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let policy = &*self.policy;
        match level {
            LogLevel::Debug => tracing::debug!(policy, "{message}"),
            LogLevel::Info => tracing::info!(policy, "{message}"),
            LogLevel::Warn => tracing::warn!(policy, "{message}"),
            LogLevel::Error => tracing::error!(policy, "{message}"),
        }
    }
}
