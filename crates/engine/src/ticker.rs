//! Advances the engine's epoch so that a decision past its deadline traps.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Epoch resolution: deadlines are rounded up to a multiple of this.
pub(crate) const TICK: Duration = Duration::from_millis(5);

pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    /// The thread holds the engine weakly: a strong reference would keep
    /// the engine, and its instance pool's mappings, alive until the next
    /// tick after the last user dropped it, and tear it down on this thread,
    /// at a moment nobody chose (it disturbed the load benchmark).
    pub(crate) fn start(engine: &wasmtime::Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let engine = engine.weak();
        std::thread::Builder::new()
            .name("kbind-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .ok();
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Number of ticks that covers `deadline` (at least one).
pub(crate) fn ticks_for(deadline: Duration) -> u64 {
    (deadline.as_nanos().div_ceil(TICK.as_nanos()) as u64).max(1)
}
