//! Prometheus metrics and the `/metrics`, `/healthz`, `/readyz` endpoints.

use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub policy: String,
    pub decision: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyDecision {
    pub policy: String,
    pub decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabel {
    pub verb: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyInfoLabels {
    pub policy: String,
    pub digest: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BindingStateLabels {
    pub promise: String,
    pub version: String,
    /// at, moving or failed.
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RolloutLabels {
    pub promise: String,
    /// RolloutWaveStarted, RolloutPaused, RolloutResumed or RolloutCompleted.
    pub reason: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.000_01, 4.0, 12))
}

fn fuel_buckets() -> Histogram {
    Histogram::new(exponential_buckets(1_000.0, 4.0, 12))
}

fn reconcile_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 4.0, 12))
}

pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<KindLabel, Counter>,
    pub plans: Family<KindLabel, Counter>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub reconcile_seconds: HistogramFamily<KindLabel>,
    pub decisions: Family<DecisionLabels, Counter>,
    pub decision_seconds: HistogramFamily<PolicyDecision>,
    pub decision_fuel: HistogramFamily<PolicyDecision>,
    pub policy_reloads: Family<OutcomeLabel, Counter>,
    pub policy_info: Family<PolicyInfoLabels, Gauge>,
    pub writes: Family<VerbLabel, Counter>,
    pub events: Family<ReasonLabel, Counter>,
    pub bindings: Family<BindingStateLabels, Gauge>,
    pub rollouts: Family<RolloutLabels, Counter>,
    pub leader: Gauge,
    pub queue_depth: Gauge,
    pub ready: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut m = Self {
            registry: Registry::with_prefix("kbind"),
            reconciles: Family::default(),
            plans: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_seconds: Family::new_with_constructor(reconcile_buckets),
            decisions: Family::default(),
            decision_seconds: Family::new_with_constructor(latency_buckets),
            decision_fuel: Family::new_with_constructor(fuel_buckets),
            policy_reloads: Family::default(),
            policy_info: Family::default(),
            writes: Family::default(),
            events: Family::default(),
            bindings: Family::default(),
            rollouts: Family::default(),
            leader: Gauge::default(),
            queue_depth: Gauge::default(),
            ready: AtomicBool::new(false),
        };
        m.registry.register(
            "reconciles",
            "Reconciles run, by kind (promise or request)",
            m.reconciles.clone(),
        );
        m.registry.register(
            "plans",
            "Plans made, by kind: a reconcile plans again from its own writes until nothing is left to write",
            m.plans.clone(),
        );
        m.registry.register(
            "reconcile_errors",
            "Reconciles that failed and were requeued with backoff, by kind and reason",
            m.reconcile_errors.clone(),
        );
        m.registry.register(
            "reconcile_duration_seconds",
            "Time of one reconcile, policy decisions and API writes included",
            m.reconcile_seconds.clone(),
        );
        m.registry.register(
            "policy_decisions",
            "Policy decisions by policy, decision and outcome (ok or the failure kind)",
            m.decisions.clone(),
        );
        m.registry.register(
            "policy_decision_duration_seconds",
            "Wall-clock time of a policy decision, instantiation included",
            m.decision_seconds.clone(),
        );
        m.registry.register(
            "policy_decision_fuel",
            "Wasm fuel consumed by a policy decision",
            m.decision_fuel.clone(),
        );
        m.registry.register(
            "policy_reloads",
            "Policy file changes, loaded or refused",
            m.policy_reloads.clone(),
        );
        m.registry.register(
            "policy_info",
            "The policy serving decisions (1) by name and sha256",
            m.policy_info.clone(),
        );
        m.registry.register(
            "api_writes",
            "Writes sent to the API server, by verb",
            m.writes.clone(),
        );
        m.registry.register(
            "events",
            "Events recorded, by reason (PolicyFailed counts refused or failed policy answers)",
            m.events.clone(),
        );
        m.registry.register(
            "bindings",
            "Bindings per promise, version and state: at the version (last applied), moving to it, failed at it",
            m.bindings.clone(),
        );
        m.registry.register(
            "rollout_events",
            "Rollout waves started, rollouts paused, resumed and completed, by promise",
            m.rollouts.clone(),
        );
        m.registry.register(
            "leader",
            "1 while this replica holds the leader Lease",
            m.leader.clone(),
        );
        m.registry.register(
            "queue_depth",
            "Reconciles queued or running",
            m.queue_depth.clone(),
        );
        m
    }

    /// The binding gauges of one promise, from its revisions' counts; a
    /// version no binding is at, moving to or failed at any more reads 0.
    pub fn set_bindings(
        &self,
        promise: &str,
        counts: &std::collections::HashMap<&str, kbind_model::api::BindingCounts>,
        versions: impl Iterator<Item = String>,
    ) {
        for version in versions {
            let c = counts.get(version.as_str()).copied().unwrap_or_default();
            for (state, n) in [("at", c.at), ("moving", c.moving), ("failed", c.failed)] {
                self.bindings
                    .get_or_create(&BindingStateLabels {
                        promise: promise.to_string(),
                        version: version.clone(),
                        state,
                    })
                    .set(i64::from(n));
            }
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}
