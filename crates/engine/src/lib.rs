//! The policy engine: everything that touches wasmtime lives here.
//!
//! One [`PolicyEngine`] per process owns the wasmtime `Engine` (sync calls,
//! pooling allocator, fuel, epochs), the `Linker` (the optional host log
//! import plus a deny-all WASI, `wasi:http` included), an in-memory and an on-disk cache of compiled
//! components, and the epoch ticker. [`PolicyEngine::load`] turns component
//! bytes into a [`LoadedPolicy`], which implements [`kbind_contract::policy::Policy`]
//! with a fresh, limited store per decision.

mod adapter;
mod bindings;
mod cache;
mod config;
mod deny_http;
mod limits;
mod loaded;
/// The policies shipped inside the binary.
pub mod shipped;
mod state;
mod ticker;
mod world;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};

pub use config::Tuning;
use kbind_contract::Setting;
use kbind_contract::policy::PolicyError;
pub use limits::Limits;
pub use loaded::{LoadedPolicy, WarmInstance};
pub use world::ComponentShape;

/// Component bytes and where they came from (for messages).
#[derive(Clone)]
pub struct PolicySource {
    pub origin: String,
    pub bytes: Arc<[u8]>,
}

impl PolicySource {
    pub fn from_path(path: &Path) -> Result<Self, PolicyError> {
        let bytes = std::fs::read(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            origin: path.display().to_string(),
            bytes: bytes.into(),
        })
    }

    pub fn from_bytes(origin: impl Into<String>, bytes: impl Into<Arc<[u8]>>) -> Self {
        Self {
            origin: origin.into(),
            bytes: bytes.into(),
        }
    }

    /// Lowercase hex sha256 of the bytes.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.bytes))
    }
}

/// How a load went: whether compiled code came from a cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CompileSource {
    /// Compiled now (and written to the disk cache, if one is configured).
    Compiled,
    /// Deserialized from the disk cache.
    DiskCache,
    /// Already loaded by this engine.
    MemoryCache,
}

/// A component compiled into the disk cache by [`PolicyEngine::precompile`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct Precompiled {
    pub sha256: String,
    /// The cache file: loads of this component by this kbind read it.
    pub artifact: PathBuf,
    pub report: LoadReport,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct LoadReport {
    pub compile: CompileSource,
    #[serde(serialize_with = "micros")]
    pub compile_time: Duration,
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros() as u64)
}

/// Options for [`PolicyEngine::new`].
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    pub limits: Limits,
    /// Where compiled components are cached; `None` disables the disk cache.
    pub cache_dir: Option<PathBuf>,
    /// How instances are allocated (the defaults are what BENCHMARKS.md
    /// measured best; benchmarks vary them).
    pub tuning: Tuning,
}

impl EngineOptions {
    /// The per-user default cache directory (`$XDG_CACHE_HOME/kbind/compiled`
    /// on Linux), overridable with `KBIND_CACHE_DIR`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("KBIND_CACHE_DIR") {
            return Some(PathBuf::from(dir));
        }
        directories::ProjectDirs::from("io", "kbind", "kbind")
            .map(|d| d.cache_dir().join("compiled"))
    }
}

pub(crate) struct EngineInner {
    pub(crate) engine: wasmtime::Engine,
    pub(crate) linker: Linker<state::State>,
    pub(crate) limits: Limits,
    cache: cache::ArtifactCache,
    compiled: Mutex<HashMap<[u8; 32], Component>>,
    _ticker: ticker::EpochTicker,
}

/// The process-wide policy engine. Cheap to clone.
#[derive(Clone)]
pub struct PolicyEngine {
    inner: Arc<EngineInner>,
}

impl PolicyEngine {
    pub fn new(options: EngineOptions) -> Result<Self, PolicyError> {
        let engine =
            wasmtime::Engine::new(&config::wasmtime_config(&options.limits, &options.tuning))
                .map_err(|e| PolicyError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        bindings::Policy::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .and_then(|()| {
                bindings::contract_0_1::Policy::add_to_linker::<_, HasSelf<_>>(
                    &mut linker,
                    |state| state,
                )
            })
            .map_err(|e| PolicyError::Engine(format!("{e:#}")))?;
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .and_then(|()| deny_http::add_deny_all(&mut linker))
            .and_then(|()| state::forbid_blocking(&mut linker))
            .map_err(|e| PolicyError::Engine(format!("{e:#}")))?;
        Ok(Self {
            inner: Arc::new(EngineInner {
                cache: cache::ArtifactCache::new(&engine, options.cache_dir),
                _ticker: ticker::EpochTicker::start(&engine),
                engine,
                linker,
                limits: options.limits,
                compiled: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Loads a policy: checks the pinned digest, compiles (or reuses a
    /// cached compilation), checks the contract, links, reads the metadata
    /// and validates `settings`. Nothing is swapped anywhere: the caller
    /// decides what to do with the result, so a bad new policy never
    /// replaces a good one.
    pub fn load(
        &self,
        source: &PolicySource,
        expected_sha256: Option<&str>,
        settings: Vec<Setting>,
    ) -> Result<(LoadedPolicy, LoadReport), PolicyError> {
        let digest: [u8; 32] = Sha256::digest(&source.bytes).into();
        let digest_hex = hex::encode(digest);
        if let Some(expected) = expected_sha256 {
            let expected = expected
                .trim()
                .trim_start_matches("sha256:")
                .to_ascii_lowercase();
            if expected != digest_hex {
                return Err(PolicyError::DigestMismatch {
                    origin: source.origin.clone(),
                    expected,
                    actual: digest_hex,
                });
            }
        }
        let (component, report) = self.compile(source, &digest)?;
        let shape = world::check(&self.inner.engine, &component, &source.origin)?;
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .and_then(|pre| adapter::Pre::new(pre, shape.contract))
            .map_err(|e| PolicyError::Link {
                origin: source.origin.clone(),
                reason: format!("{e:#}"),
            })?;
        let policy = LoadedPolicy::new(
            self.inner.clone(),
            pre,
            digest_hex,
            shape,
            source.bytes.len(),
            settings,
        )?;
        Ok((policy, report))
    }

    /// Compiles a component into the disk cache ahead of time (checked
    /// against the contract first, so only a servable policy is cached).
    pub fn precompile(&self, source: &PolicySource) -> Result<Precompiled, PolicyError> {
        let digest: [u8; 32] = Sha256::digest(&source.bytes).into();
        let (component, report) = self.compile(source, &digest)?;
        world::check(&self.inner.engine, &component, &source.origin)?;
        let artifact = self.inner.cache.artifact(&digest).ok_or_else(|| {
            PolicyError::Engine("no compiled-policy cache directory to write to".into())
        })?;
        Ok(Precompiled {
            sha256: hex::encode(digest),
            artifact,
            report,
        })
    }

    /// Compiles a component and checks it against the contract without
    /// running any of it.
    pub fn check(&self, source: &PolicySource) -> Result<ComponentShape, PolicyError> {
        let digest: [u8; 32] = Sha256::digest(&source.bytes).into();
        let (component, _) = self.compile(source, &digest)?;
        world::check(&self.inner.engine, &component, &source.origin)
    }

    /// Import and export names of any component (for `kbind inspect` on a
    /// component that may not be a policy at all).
    pub fn names(&self, source: &PolicySource) -> Result<(Vec<String>, Vec<String>), PolicyError> {
        let digest: [u8; 32] = Sha256::digest(&source.bytes).into();
        let (component, _) = self.compile(source, &digest)?;
        Ok(world::names(&self.inner.engine, &component))
    }

    fn compile(
        &self,
        source: &PolicySource,
        digest: &[u8; 32],
    ) -> Result<(Component, LoadReport), PolicyError> {
        let started = Instant::now();
        let report = |compile| LoadReport {
            compile,
            compile_time: started.elapsed(),
        };
        if let Some(component) = self.memory_cached(digest) {
            return Ok((component, report(CompileSource::MemoryCache)));
        }
        if let Some(component) = self.inner.cache.load(&self.inner.engine, digest) {
            self.remember(digest, &component);
            return Ok((component, report(CompileSource::DiskCache)));
        }
        let component = Component::new(&self.inner.engine, &source.bytes).map_err(|e| {
            PolicyError::InvalidComponent {
                origin: source.origin.clone(),
                reason: format!("{e:#}"),
            }
        })?;
        self.inner.cache.store(digest, &component);
        self.remember(digest, &component);
        Ok((component, report(CompileSource::Compiled)))
    }

    fn memory_cached(&self, digest: &[u8; 32]) -> Option<Component> {
        let compiled = self
            .inner
            .compiled
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        compiled.get(digest).cloned()
    }

    fn remember(&self, digest: &[u8; 32], component: &Component) {
        let mut compiled = self
            .inner
            .compiled
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        compiled.insert(*digest, component.clone());
    }
}
