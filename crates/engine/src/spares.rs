//! Instances made ahead of the decisions that will use them. Every decision
//! still runs on an instance nothing else has touched (kbind's fresh-instance
//! rule); only the making moves off the decision's path, to a thread that
//! keeps one such instance ready. For a component whose instantiation is
//! dear (CPython: ~0.5 ms of eager table initialisation, BENCHMARKS.md) that
//! is most of a decision's latency; for a small one a handoff would cost more
//! than it saves, so spares are only kept for big components.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use wasmtime::Store;

use super::adapter::{Instance, Pre};
use super::state::State;
use super::{EngineInner, ticker};

/// Components bigger than this (bytes) get a spare. Instantiation grows with
/// what a component links: 5 µs for the 69 KB Rust policy, 28 µs for a 12 MB
/// componentize-js one, 530 µs for an 18 MB componentize-py one (release
/// build, `cargo bench --bench polyglot -- split`); a handoff through the
/// pool costs a few microseconds, so small components make their own. Size,
/// not a timing, so that the choice is the same on every machine.
pub(crate) const WORTH_A_SPARE: usize = 1 << 20;

/// An instantiated, never-called instance and its store.
pub(crate) struct Spare {
    pub(crate) store: Store<State>,
    pub(crate) instance: Instance,
}

#[derive(Default)]
struct Slots {
    ready: Option<Spare>,
    /// The maker is instantiating one now: waiting for it beats starting
    /// another from nothing.
    making: bool,
    /// The policy was dropped, or instantiating failed: make no more.
    closed: bool,
    /// Decisions that took a spare, and that found none and made their own.
    taken: u64,
    missed: u64,
    /// Stores whose decision is done, to be dropped here: dropping one resets
    /// its pooled memory, which is not the decision's work either.
    retired: Vec<Store<State>>,
}

/// One policy's spare and the thread that keeps it filled.
pub(crate) struct SparePool {
    slots: Mutex<Slots>,
    changed: Condvar,
}

impl SparePool {
    /// Starts the maker thread. It holds the engine and the prepared
    /// component, not the policy, and ends when the pool is closed.
    pub(crate) fn start(engine: Arc<EngineInner>, pre: Pre, log_name: Arc<str>) -> Arc<Self> {
        let pool = Arc::new(Self {
            slots: Mutex::new(Slots::default()),
            changed: Condvar::new(),
        });
        let maker = pool.clone();
        let name = log_name.clone();
        let started = std::thread::Builder::new()
            .name(format!("kbind-spare-{log_name}"))
            .spawn(move || maker.make_while_open(&engine, &pre, &name));
        if let Err(err) = started {
            tracing::warn!(policy = &*log_name, "no spare instances: {err}");
            pool.close();
        }
        pool
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        // A panic while holding the lock leaves plain data behind, still
        // consistent: keep serving.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The ready spare, waiting for one being made; `None` when there is
    /// none and none coming (the caller instantiates its own).
    pub(crate) fn take(&self) -> Option<Spare> {
        let mut slots = self.lock();
        loop {
            if let Some(spare) = slots.ready.take() {
                // A component that uses WASI while instantiating would see
                // the spare's clock, not the decision's: no spares for it.
                if !spare.store.data().wasi_untouched() {
                    slots.closed = true;
                    self.changed.notify_all();
                    return None;
                }
                slots.taken += 1;
                self.changed.notify_all();
                return Some(spare);
            }
            if !slots.making || slots.closed {
                slots.missed += 1;
                return None;
            }
            slots = self.changed.wait(slots).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// How many decisions took a spare, and how many made their own.
    pub(crate) fn counts(&self) -> (u64, u64) {
        let slots = self.lock();
        (slots.taken, slots.missed)
    }

    /// Hands a decided store to the maker to drop (or drops it here when
    /// there is no maker any more).
    pub(crate) fn retire(&self, store: Store<State>) {
        let mut slots = self.lock();
        if slots.closed {
            drop(slots);
            drop(store);
            return;
        }
        slots.retired.push(store);
        self.changed.notify_all();
    }

    pub(crate) fn close(&self) {
        let mut slots = self.lock();
        slots.closed = true;
        let ready = slots.ready.take();
        let retired = std::mem::take(&mut slots.retired);
        self.changed.notify_all();
        drop(slots);
        drop((ready, retired));
    }

    fn make_while_open(&self, engine: &EngineInner, pre: &Pre, log_name: &Arc<str>) {
        loop {
            {
                let mut slots = self.lock();
                while !slots.closed && slots.ready.is_some() && slots.retired.is_empty() {
                    slots = self.changed.wait(slots).unwrap_or_else(|e| e.into_inner());
                }
                if slots.closed {
                    return;
                }
                let retired = std::mem::take(&mut slots.retired);
                if !retired.is_empty() {
                    drop(slots);
                    // First, so that the slot it frees is the next one used.
                    drop(retired);
                    continue;
                }
                slots.making = true;
            }
            let made = make(engine, pre, log_name.clone());
            let mut slots = self.lock();
            slots.making = false;
            match made {
                Ok(spare) if !slots.closed => slots.ready = Some(spare),
                Ok(_) => {}
                Err(err) => {
                    // The decision that instantiates inline meets the same
                    // error and reports it with its context.
                    tracing::debug!(policy = &**log_name, "no more spares: {err:#}");
                    slots.closed = true;
                }
            }
            self.changed.notify_all();
        }
    }
}

/// A store with the engine's limits and an instance in it, as a decision
/// would make it; the decision sets its own `now`, fuel and deadline.
fn make(engine: &EngineInner, pre: &Pre, log_name: Arc<str>) -> wasmtime::Result<Spare> {
    let limits = &engine.limits;
    let mut store = Store::new(&engine.engine, State::new(log_name, 0, limits.memory_bytes));
    store.limiter(|state| &mut state.memory);
    store.set_fuel(limits.fuel)?;
    store.set_epoch_deadline(ticker::ticks_for(limits.deadline));
    let instance = pre.instantiate(&mut store)?;
    Ok(Spare { store, instance })
}
