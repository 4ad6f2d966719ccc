//! The policy the operator serves, swapped atomically when its file changes.
//!
//! A reconcile takes the current policy once and uses it for the whole
//! reconcile, so no plan mixes two policies. A new file is loaded and
//! validated (digest pin, contract, settings) before the swap; a file that
//! fails any check is refused, logged, counted and reported as an Event,
//! and the old policy keeps serving.
//!
//! The file is polled (content digest), not watched with inotify: a
//! ConfigMap volume updates by swapping a symlink two directories up, which
//! inotify on the file itself does not see, and polling a small file every
//! second or two costs nothing.
//!
//! A policy in a registry (`oci://…`) is always loaded by manifest digest:
//! a reference with a digest is that digest for good; a tag is resolved to
//! a digest once and pinned, or, with `followTag`, resolved again every
//! `followEvery` and swapped in when it moves. Pulls are cached by digest,
//! so a pinned policy never asks the registry again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::metrics::{DecisionLabels, Metrics, OutcomeLabel, PolicyDecision, PolicyInfoLabels};
use kbind_contract::policy::{Decided, Policy, PolicyError, PolicyId};
use kbind_contract::*;
use kbind_engine::shipped;
use kbind_engine::{PolicyEngine, PolicySource};
use kbind_oci::{PolicyRef, Registry, RegistryOptions};

/// Where the policy comes from: a shipped name or a file, an optional
/// sha256 pin, settings; or a config file holding those three, re-read on
/// every poll.
#[derive(Clone, Debug, Default)]
pub struct PolicySpec {
    pub policy: String,
    pub sha256: Option<String>,
    pub settings: Vec<Setting>,
    pub config_file: Option<PathBuf>,
    /// How to reach the registry of an `oci://` policy.
    pub registry: RegistryOptions,
    /// Follow an `oci://` tag: resolve it again every `follow_every`.
    pub follow_tag: bool,
    pub follow_every: Option<Duration>,
    /// The digest an `oci://` tag was pinned to, shared by clones.
    pub pinned: TagPin,
}

/// Where a spec keeps the digest its tag resolved to (`Default`: none yet).
#[derive(Clone, Debug, Default)]
pub struct TagPin(Arc<Mutex<Option<Pinned>>>);

/// How often a followed tag is resolved when nothing says otherwise.
pub const DEFAULT_FOLLOW_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Pinned {
    /// The reference as configured (a tag).
    reference: String,
    digest: String,
    resolved: Instant,
}

/// The config file (`--config`): YAML or JSON.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConfigFile {
    policy: String,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    settings: kbind_contract::SettingsMap,
    /// For `oci://<registry>/<repository>:<tag>`: follow the tag.
    #[serde(default)]
    follow_tag: bool,
    /// How often a followed tag is resolved (`30s`, `5m`) [default: 1m].
    #[serde(default)]
    follow_every: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Registry(#[from] kbind_oci::OciError),
}

impl PolicySpec {
    /// Resolves the config file (if any) into the effective spec. Flags
    /// given alongside a config file are overridden by it.
    pub fn effective(&self) -> Result<PolicySpec, SpecError> {
        let Some(path) = &self.config_file else {
            return Ok(self.clone());
        };
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.clone(),
            source,
        })?;
        let file: ConfigFile =
            kbind_model::yaml::from_str(&text).map_err(|message| SpecError::Parse {
                path: path.clone(),
                message,
            })?;
        let follow_every = file
            .follow_every
            .as_deref()
            .map(humantime::parse_duration)
            .transpose()
            .map_err(|e| SpecError::Parse {
                path: path.clone(),
                message: format!("followEvery: {e}"),
            })?;
        // A relative policy path is relative to the config file.
        let policy = if shipped::by_name(&file.policy).is_none()
            && !PolicyRef::is_oci(&file.policy)
            && Path::new(&file.policy).is_relative()
        {
            path.parent()
                .unwrap_or(Path::new("."))
                .join(&file.policy)
                .display()
                .to_string()
        } else {
            file.policy
        };
        Ok(PolicySpec {
            policy,
            sha256: file.sha256,
            settings: file
                .settings
                .into_iter()
                .map(|(name, value)| Setting { name, value })
                .collect(),
            config_file: None,
            registry: self.registry.clone(),
            follow_tag: file.follow_tag,
            follow_every,
            pinned: self.pinned.clone(),
        })
    }

    /// The bytes and a fingerprint of everything that makes the loaded
    /// policy: same fingerprint, same policy.
    fn read(&self) -> Result<(PolicySource, String), SpecError> {
        let (spec, located, fingerprint) = self.locate()?;
        let source = match located {
            Located::Oci { registry, pinned } => spec.pull(&registry, &pinned)?,
            Located::Read(source) => source,
        };
        Ok((source, fingerprint))
    }

    /// What `read` fingerprints, without pulling: an `oci://` policy is
    /// named by the manifest digest it is pinned to (a pull checks the bytes
    /// against it), so a poll where nothing moved reads no component (an
    /// 18 MB Python one was pulled from the cache and hashed twice a poll).
    fn fingerprint(&self) -> Result<String, SpecError> {
        self.locate().map(|(_, _, fingerprint)| fingerprint)
    }

    /// The effective spec, where its component is, and its fingerprint.
    fn locate(&self) -> Result<(PolicySpec, Located, String), SpecError> {
        let spec = self.effective()?;
        let (located, fingerprint) = if PolicyRef::is_oci(&spec.policy) {
            let (registry, pinned) = spec.pinned()?;
            let fingerprint = spec.fingerprint_of(pinned.to_string().as_bytes());
            (
                Located::Oci {
                    registry: Box::new(registry),
                    pinned,
                },
                fingerprint,
            )
        } else {
            let source = shipped::resolve(&spec.policy)?;
            let fingerprint = spec.fingerprint_of(&source.bytes);
            (Located::Read(source), fingerprint)
        };
        Ok((spec, located, fingerprint))
    }

    /// Same fingerprint, same policy: the component's identity, the pinned
    /// component digest and the settings.
    fn fingerprint_of(&self, identity: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(identity);
        h.update(self.sha256.as_deref().unwrap_or_default());
        for s in &self.settings {
            h.update(format!("\0{}={:?}", s.name, s.value));
        }
        hex::encode(h.finalize())
    }

    /// The component this spec names now (config file read, `oci://` pulled).
    pub fn source(&self) -> Result<PolicySource, SpecError> {
        self.read().map(|(source, _)| source)
    }

    /// An `oci://` policy's reference pinned to a digest (see the module),
    /// and the registry client that resolved it.
    fn pinned(&self) -> Result<(Registry, PolicyRef), SpecError> {
        let reference: PolicyRef = self.policy.parse()?;
        let registry = Registry::new(&self.registry)?;
        let digest = match reference.digest() {
            Some(digest) => digest.to_string(),
            None => self.tag_digest(&registry, &reference)?,
        };
        let pinned = reference.at_digest(&digest);
        Ok((registry, pinned))
    }

    fn pull(&self, registry: &Registry, pinned: &PolicyRef) -> Result<PolicySource, SpecError> {
        let pulled = off_runtime(|| kbind_oci::block_on(registry.pull(pinned)))???;
        Ok(PolicySource::from_bytes(
            pulled.pinned.to_string(),
            pulled.bytes,
        ))
    }

    /// The digest a tag is pinned to: resolved the first time, and again
    /// every `follow_every` when following it.
    fn tag_digest(&self, registry: &Registry, reference: &PolicyRef) -> Result<String, SpecError> {
        let every = self.follow_every.unwrap_or(DEFAULT_FOLLOW_EVERY);
        let current = {
            let pinned = self.pinned.0.lock().unwrap_or_else(|p| p.into_inner());
            pinned
                .as_ref()
                .filter(|p| p.reference == self.policy)
                .filter(|p| !self.follow_tag || p.resolved.elapsed() < every)
                .map(|p| p.digest.clone())
        };
        if let Some(digest) = current {
            return Ok(digest);
        }
        let digest = off_runtime(|| kbind_oci::block_on(registry.resolve(reference)))???;
        let mut pinned = self.pinned.0.lock().unwrap_or_else(|p| p.into_inner());
        if pinned.as_ref().is_some_and(|p| p.digest != digest) {
            tracing::info!(reference = %reference, %digest, "followed tag moved");
        }
        *pinned = Some(Pinned {
            reference: self.policy.clone(),
            digest: digest.clone(),
            resolved: Instant::now(),
        });
        Ok(digest)
    }

    pub fn load(&self, engine: &PolicyEngine) -> Result<(Arc<dyn Policy>, String), SpecError> {
        let (source, fingerprint) = self.read()?;
        let spec = self.effective()?;
        let (loaded, _) = engine.load(&source, spec.sha256.as_deref(), spec.settings)?;
        Ok((Arc::new(loaded), fingerprint))
    }
}

/// Where a spec's component is: pinned in a registry (pulled only when
/// needed), or already read (a file or a shipped policy).
enum Located {
    // Boxed: a registry client is ~300 bytes, a read source a few words.
    Oci {
        registry: Box<Registry>,
        pinned: PolicyRef,
    },
    Read(PolicySource),
}

/// Runs registry I/O on a thread of its own: a poll may be called from an
/// async task, whose runtime must not be blocked inside (or nested).
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, SpecError> {
    std::thread::scope(|scope| scope.spawn(f).join()).map_err(|_| {
        SpecError::Registry(kbind_oci::OciError::Runtime(std::io::Error::other(
            "the registry thread panicked",
        )))
    })
}

/// The serving policy, with metrics recorded around each of its decisions.
/// Reconciles call `current()` once each.
pub struct PolicySlot {
    current: RwLock<Arc<dyn Policy>>,
    metrics: Arc<Metrics>,
    /// Bumped on every swap: the controller reconciles everything again,
    /// since the new policy may decide differently (or now succeed).
    swaps: tokio::sync::watch::Sender<u64>,
}

impl PolicySlot {
    pub fn new(policy: Arc<dyn Policy>, metrics: Arc<Metrics>) -> Self {
        let policy = instrument(policy, &metrics);
        let slot = Self {
            current: RwLock::new(policy.clone()),
            metrics,
            swaps: tokio::sync::watch::channel(0).0,
        };
        slot.publish_info(None, &policy);
        slot
    }

    pub fn current(&self) -> Arc<dyn Policy> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn publish_info(&self, old: Option<&Arc<dyn Policy>>, new: &Arc<dyn Policy>) {
        let labels = |p: &Arc<dyn Policy>| PolicyInfoLabels {
            policy: p.id().name.clone(),
            digest: p.id().digest.clone(),
        };
        if let Some(old) = old {
            self.metrics.policy_info.get_or_create(&labels(old)).set(0);
        }
        self.metrics.policy_info.get_or_create(&labels(new)).set(1);
    }

    /// Replaces the policy; returns the one it replaced.
    pub fn swap(&self, policy: Arc<dyn Policy>) -> Arc<dyn Policy> {
        let policy = instrument(policy, &self.metrics);
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|p| p.into_inner()),
            policy.clone(),
        );
        self.publish_info(Some(&old), &policy);
        self.swaps.send_modify(|n| *n += 1);
        old
    }

    /// Changes with every swap.
    pub fn swaps(&self) -> tokio::sync::watch::Receiver<u64> {
        self.swaps.subscribe()
    }
}

fn instrument(policy: Arc<dyn Policy>, metrics: &Arc<Metrics>) -> Arc<dyn Policy> {
    Arc::new(Instrumented {
        inner: policy,
        metrics: metrics.clone(),
    })
}

/// What a poll of the policy file found.
#[derive(Debug)]
pub enum Reload {
    Unchanged,
    Loaded { old: PolicyId, new: PolicyId },
    Refused { error: String },
}

/// Polls a policy spec and swaps the slot when it changes.
pub struct PolicyWatcher {
    spec: PolicySpec,
    engine: PolicyEngine,
    slot: Arc<PolicySlot>,
    metrics: Arc<Metrics>,
    serving: String,
    refused: Option<String>,
}

impl PolicyWatcher {
    pub fn new(
        spec: PolicySpec,
        engine: PolicyEngine,
        slot: Arc<PolicySlot>,
        metrics: Arc<Metrics>,
        serving_fingerprint: String,
    ) -> Self {
        Self {
            spec,
            engine,
            slot,
            metrics,
            serving: serving_fingerprint,
            refused: None,
        }
    }

    /// One poll. A refused file is reported once, until it changes again.
    pub fn poll(&mut self) -> Reload {
        let fingerprint = match self.spec.fingerprint() {
            Ok(f) => f,
            Err(e) => return self.refuse(format!("read:{e}"), e.to_string()),
        };
        if fingerprint == self.serving || self.refused.as_deref() == Some(&fingerprint) {
            return Reload::Unchanged;
        }
        match self.spec.load(&self.engine) {
            Ok((policy, loaded_fingerprint)) => {
                let new = policy.id().clone();
                let old = self.slot.swap(policy).id().clone();
                self.serving = loaded_fingerprint;
                self.refused = None;
                self.metrics
                    .policy_reloads
                    .get_or_create(&OutcomeLabel { outcome: "loaded" })
                    .inc();
                Reload::Loaded { old, new }
            }
            Err(e) => self.refuse(fingerprint, e.to_string()),
        }
    }

    fn refuse(&mut self, fingerprint: String, error: String) -> Reload {
        if self.refused.as_deref() == Some(&fingerprint) {
            return Reload::Unchanged;
        }
        self.refused = Some(fingerprint);
        self.metrics
            .policy_reloads
            .get_or_create(&OutcomeLabel { outcome: "refused" })
            .inc();
        Reload::Refused { error }
    }
}

/// Records metrics around every decision of the wrapped policy.
struct Instrumented {
    inner: Arc<dyn Policy>,
    metrics: Arc<Metrics>,
}

impl Instrumented {
    fn record<T>(
        &self,
        decision: &'static str,
        started: Instant,
        result: Result<Decided<T>, PolicyError>,
    ) -> Result<Decided<T>, PolicyError> {
        let policy = self.inner.id().name.clone();
        let (outcome, fuel, elapsed) = match &result {
            Ok(d) => ("ok", d.fuel, d.elapsed),
            Err(e) => (e.metric_label(), 0, started.elapsed()),
        };
        self.metrics
            .decisions
            .get_or_create(&DecisionLabels {
                policy: policy.clone(),
                decision,
                outcome,
            })
            .inc();
        let labels = PolicyDecision { policy, decision };
        self.metrics
            .decision_seconds
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if fuel > 0 {
            self.metrics
                .decision_fuel
                .get_or_create(&labels)
                .observe(fuel as f64);
        }
        result
    }
}

impl Policy for Instrumented {
    fn id(&self) -> &PolicyId {
        self.inner.id()
    }
    fn info(&self) -> &PolicyInfo {
        self.inner.info()
    }
    fn settings(&self) -> &[Setting] {
        self.inner.settings()
    }
    fn initial_version(
        &self,
        input: &InitialVersionInput,
    ) -> Result<Decided<VersionChoice>, PolicyError> {
        let t = Instant::now();
        self.record("initial-version", t, self.inner.initial_version(input))
    }
    fn plan_upgrades(&self, input: &PlanInput) -> Result<Decided<UpgradePlan>, PolicyError> {
        let t = Instant::now();
        self.record("plan-upgrades", t, self.inner.plan_upgrades(input))
    }
    fn review_edit(&self, input: &EditInput) -> Result<Decided<Review>, PolicyError> {
        let t = Instant::now();
        self.record("review-edit", t, self.inner.review_edit(input))
    }
    fn after_failure(&self, input: &FailureInput) -> Result<Decided<FailureDecision>, PolicyError> {
        let t = Instant::now();
        self.record("after-failure", t, self.inner.after_failure(input))
    }
    fn rerun_on_spec_change(
        &self,
        input: &SpecChangeInput,
    ) -> Result<Decided<RerunSelection>, PolicyError> {
        let t = Instant::now();
        self.record(
            "rerun-on-spec-change",
            t,
            self.inner.rerun_on_spec_change(input),
        )
    }
}

/// The default poll interval for the policy file.
pub const DEFAULT_POLL: Duration = Duration::from_secs(2);
