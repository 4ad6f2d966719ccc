//! A loaded policy: a prepared instance plus its identity and settings.
//! Every decision gets a fresh `Store` (no state leaks between decisions, a
//! trapped instance is simply dropped) with the engine's limits applied.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::{Store, Trap};

use super::adapter::{Instance, Pre};
use super::state::State;
use super::{ComponentShape, EngineInner, ticker};
use kbind_contract::policy::{Decided, Policy, PolicyError, PolicyId};
use kbind_contract::*;

#[derive(Clone)]
pub struct LoadedPolicy {
    inner: Arc<Loaded>,
}

struct Loaded {
    engine: Arc<EngineInner>,
    pre: Pre,
    id: PolicyId,
    /// `id.name`, shared with every store for log lines.
    log_name: Arc<str>,
    info: PolicyInfo,
    settings: Vec<Setting>,
    shape: ComponentShape,
    size: usize,
}

impl LoadedPolicy {
    pub(super) fn new(
        engine: Arc<EngineInner>,
        pre: Pre,
        digest: String,
        shape: ComponentShape,
        size: usize,
        settings: Vec<Setting>,
    ) -> Result<Self, PolicyError> {
        let provisional = PolicyId {
            name: "(loading)".into(),
            digest: digest.clone(),
        };
        let info = run(
            &engine,
            &pre,
            &provisional,
            "(loading)".into(),
            "metadata",
            0,
            None,
            |i, s| i.metadata(s),
        )?
        .value;
        let id = PolicyId {
            name: info.name.clone(),
            digest,
        };
        let log_name: Arc<str> = id.name.as_str().into();
        run(
            &engine,
            &pre,
            &id,
            log_name.clone(),
            "validate-settings",
            0,
            None,
            |i, s| i.validate_settings(s, &settings),
        )
        .map_err(|err| match err {
            PolicyError::Declined {
                policy, message, ..
            } => PolicyError::SettingsRejected {
                policy,
                reason: message,
            },
            other => other,
        })?;
        Ok(Self {
            inner: Arc::new(Loaded {
                engine,
                pre,
                id,
                log_name,
                info,
                settings,
                shape,
                size,
            }),
        })
    }

    /// Imports and exports of the component.
    pub fn shape(&self) -> &ComponentShape {
        &self.inner.shape
    }

    /// Size of the component in bytes.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    fn decide<T>(
        &self,
        decision: &'static str,
        now: Timestamp,
        input: InputSize,
        call: impl FnOnce(&Instance, &mut Store<State>) -> wasmtime::Result<Result<T, String>>,
    ) -> Result<Decided<T>, PolicyError> {
        let l = &*self.inner;
        run(
            &l.engine,
            &l.pre,
            &l.id,
            l.log_name.clone(),
            decision,
            now,
            Some(input),
            call,
        )
    }
}

/// How big a decision's input is: its wire size (checked against the input
/// cap) and how many bindings it carries (what the budgets scale with).
#[derive(Clone, Copy)]
struct InputSize {
    bytes: usize,
    bindings: usize,
}

impl InputSize {
    fn of(bytes: usize, bindings: usize) -> Self {
        Self { bytes, bindings }
    }
}

/// An instance kept across calls. Production never does this (a fresh
/// store per decision means no state leaks between decisions and a trapped
/// instance is simply dropped); it exists to measure what instantiation
/// costs (`benches/policy.rs`). Fuel is refilled before each call.
pub struct WarmInstance {
    store: Store<State>,
    instance: Instance,
    fuel: u64,
}

impl WarmInstance {
    pub fn initial_version(
        &mut self,
        input: &InitialVersionInput,
    ) -> Result<VersionChoice, PolicyError> {
        self.call(|i, s| i.initial_version(s, input))
    }

    pub fn plan_upgrades(&mut self, input: &PlanInput) -> Result<UpgradePlan, PolicyError> {
        self.call(|i, s| i.plan_upgrades(s, input))
    }

    fn call<T>(
        &mut self,
        call: impl FnOnce(&Instance, &mut Store<State>) -> wasmtime::Result<Result<T, String>>,
    ) -> Result<T, PolicyError> {
        let engine_error = |e: wasmtime::Error| PolicyError::Engine(format!("{e:#}"));
        self.store.set_fuel(self.fuel).map_err(engine_error)?;
        call(&self.instance, &mut self.store)
            .map_err(engine_error)?
            .map_err(PolicyError::Engine)
    }
}

impl LoadedPolicy {
    /// An instance for repeated calls (benchmarks only, see `WarmInstance`).
    pub fn warm_instance(&self, now: Timestamp) -> Result<WarmInstance, PolicyError> {
        let l = &*self.inner;
        let limits = &l.engine.limits;
        let mut store = Store::new(
            &l.engine.engine,
            State::new(l.log_name.clone(), now, limits.memory_bytes),
        );
        store.limiter(|state| &mut state.memory);
        // No deadline: the epoch ticker must not interrupt a long benchmark.
        store.set_epoch_deadline(u64::MAX / 2);
        let engine_error = |e: wasmtime::Error| PolicyError::Engine(format!("{e:#}"));
        store.set_fuel(limits.fuel).map_err(engine_error)?;
        let instance = l.pre.instantiate(&mut store).map_err(engine_error)?;
        Ok(WarmInstance {
            store,
            instance,
            fuel: limits.fuel,
        })
    }
}

/// One decision in a fresh store: limits set, instance created from the
/// prepared instance, the export called, the outcome classified.
#[allow(clippy::too_many_arguments)]
fn run<T>(
    engine: &EngineInner,
    pre: &Pre,
    id: &PolicyId,
    log_name: Arc<str>,
    decision: &'static str,
    now: Timestamp,
    input: Option<InputSize>,
    call: impl FnOnce(&Instance, &mut Store<State>) -> wasmtime::Result<Result<T, String>>,
) -> Result<Decided<T>, PolicyError> {
    let limits = &engine.limits;
    if let Some(size) = input.map(|i| i.bytes).filter(|s| *s > limits.input_bytes) {
        return Err(PolicyError::InputTooLarge {
            policy: id.clone(),
            decision,
            size,
            limit: limits.input_bytes,
        });
    }
    let bindings = input.map_or(0, |i| i.bindings);
    let budget = Budget {
        fuel: limits.fuel_for(bindings),
        deadline: limits.deadline_for(bindings),
    };
    let started = Instant::now();
    let mut store = Store::new(
        &engine.engine,
        State::new(log_name, now, limits.memory_bytes),
    );
    store.limiter(|state| &mut state.memory);
    let fuel_set = store.set_fuel(budget.fuel);
    store.set_epoch_deadline(ticker::ticks_for(budget.deadline));
    let outcome = fuel_set
        .and_then(|()| pre.instantiate(&mut store))
        .and_then(|instance| call(&instance, &mut store));
    let fuel = budget.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
    let elapsed = started.elapsed();
    match outcome {
        Ok(Ok(value)) => Ok(Decided {
            value,
            fuel,
            elapsed,
        }),
        Ok(Err(message)) => Err(PolicyError::Declined {
            policy: id.clone(),
            decision,
            message,
        }),
        Err(err) => Err(classify(err, store.data(), id, decision, engine, budget)),
    }
}

/// The limits of one decision, scaled to its input.
#[derive(Clone, Copy)]
struct Budget {
    fuel: u64,
    deadline: std::time::Duration,
}

fn classify(
    err: wasmtime::Error,
    state: &State,
    id: &PolicyId,
    decision: &'static str,
    engine: &EngineInner,
    budget: Budget,
) -> PolicyError {
    let policy = id.clone();
    let memory_cap_hit = state.memory.hit;
    // An allocation the cap refused surfaces as an `unreachable` trap from
    // the guest's allocator: report the cause, not the symptom.
    if memory_cap_hit {
        return PolicyError::MemoryLimit {
            policy,
            decision,
            limit: engine.limits.memory_bytes,
        };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => PolicyError::FuelExhausted {
            policy,
            decision,
            budget: budget.fuel,
        },
        Some(Trap::Interrupt) => PolicyError::DeadlineExceeded {
            policy,
            decision,
            deadline: budget.deadline,
        },
        Some(Trap::UnreachableCodeReached) => PolicyError::Panicked {
            policy,
            decision,
            message: "it aborted: wasm `unreachable`, where a Rust panic, an uncaught Python \
                      exception or an uncaught JavaScript error ends"
                .into(),
            stderr: state.stderr(),
        },
        Some(trap) => PolicyError::Trap {
            policy,
            decision,
            message: trap.to_string(),
            stderr: state.stderr(),
        },
        None => PolicyError::Trap {
            policy,
            decision,
            message: format!("{err:#}"),
            stderr: state.stderr(),
        },
    }
}

impl Policy for LoadedPolicy {
    fn id(&self) -> &PolicyId {
        &self.inner.id
    }

    fn info(&self) -> &PolicyInfo {
        &self.inner.info
    }

    fn settings(&self) -> &[Setting] {
        &self.inner.settings
    }

    fn initial_version(
        &self,
        input: &InitialVersionInput,
    ) -> Result<Decided<VersionChoice>, PolicyError> {
        self.decide(
            "initial-version",
            input.now,
            InputSize::of(input.wire_size(), 0),
            |i, s| i.initial_version(s, input),
        )
    }

    fn plan_upgrades(&self, input: &PlanInput) -> Result<Decided<UpgradePlan>, PolicyError> {
        let size = InputSize::of(input.wire_size(), input.bindings.len());
        self.decide("plan-upgrades", input.now, size, |i, s| {
            i.plan_upgrades(s, input)
        })
    }

    fn review_edit(&self, input: &EditInput) -> Result<Decided<Review>, PolicyError> {
        self.decide(
            "review-edit",
            input.now,
            InputSize::of(input.wire_size(), 1),
            |i, s| i.review_edit(s, input),
        )
    }

    fn after_failure(&self, input: &FailureInput) -> Result<Decided<FailureDecision>, PolicyError> {
        self.decide(
            "after-failure",
            input.now,
            InputSize::of(input.wire_size(), 1),
            |i, s| i.after_failure(s, input),
        )
    }

    fn rerun_on_spec_change(
        &self,
        input: &SpecChangeInput,
    ) -> Result<Decided<RerunSelection>, PolicyError> {
        self.decide(
            "rerun-on-spec-change",
            input.now,
            InputSize::of(input.wire_size(), input.bindings.len()),
            |i, s| i.rerun_on_spec_change(s, input),
        )
    }
}
