//! An embedded Kubernetes API server: the part of the API that kube-rs
//! controllers and kubectl use, in memory, on loopback, behind a bearer
//! token. It backs `kbind sandbox` and the end-to-end tests (no real API
//! server can be installed on our machines or in CI). Where it differs from a
//! real one, the README says so.

mod discovery;
pub mod registry;
pub mod selector;
mod server;
pub mod state;
mod table;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use server::{restart, serve};
pub use state::ObjectStore;

/// Shared by every request handler.
pub struct Shared {
    pub store: Mutex<ObjectStore>,
    pub token: String,
    pub addr: SocketAddr,
    /// Bumped to end every open watch (a fault-injection hook for tests).
    pub drop_watches: tokio::sync::watch::Sender<u64>,
    pub(crate) faults: Mutex<FaultState>,
    /// (client, verb, group, resource) seen, the client being the
    /// `x-kbind-audit-as` request header (a test hook).
    pub(crate) audit: Mutex<std::collections::BTreeSet<AuditEntry>>,
}

type AuditEntry = (String, String, String, String);

/// Faults the server injects, for reliability tests (never set by the CLI).
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// The first write (PUT/PATCH) to each object answers 409 Conflict.
    pub conflict_first_write: bool,
    /// Every n-th request answers 500.
    pub error_every: Option<u32>,
    /// Each request answers 500 with this probability (seeded, so a run
    /// repeats): unlike `error_every`, a client retrying alone cannot keep
    /// landing on the failing slot.
    pub error_probability: Option<(f64, u64)>,
    /// Added to every request.
    pub latency: Option<std::time::Duration>,
    /// The first n writes (PUT/PATCH) whose body contains this text answer
    /// 500: a precise way to fail one step of a plan.
    pub fail_writes_containing: Option<(String, u32)>,
    /// Only requests from this client (its `x-kbind-audit-as` header) get
    /// faults; None: every request.
    pub only_client: Option<String>,
}

#[derive(Default)]
pub(crate) struct FaultState {
    pub(crate) config: Faults,
    pub(crate) requests: u64,
    pub(crate) written: std::collections::HashSet<String>,
}

impl FaultState {
    /// splitmix64 over the request count and the seed: uniform in [0, 1).
    pub(crate) fn draw(&self, seed: u64) -> f64 {
        let mut z = self
            .requests
            .wrapping_add(seed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub type SharedState = Arc<Shared>;

/// A running server: its address, token and a kubeconfig that reaches it.
pub struct Running {
    pub addr: SocketAddr,
    pub token: String,
    /// The self-signed certificate the server presents (PEM).
    pub ca_pem: String,
    pub shared: SharedState,
    pub task: tokio::task::JoinHandle<()>,
    tls: std::sync::Arc<rustls::ServerConfig>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// A kubeconfig for this server (context `kbind`, namespace `default`).
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kbind\n  cluster:\n    server: {}\n    certificate-authority-data: {}\ncontexts:\n- name: kbind\n  context:\n    cluster: kbind\n    user: kbind\n    namespace: default\ncurrent-context: kbind\nusers:\n- name: kbind\n  user:\n    token: {}\n",
            self.url(),
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &self.ca_pem),
            self.token
        )
    }

    /// Every (verb, group, resource) a client requested so far, the
    /// resource being `plural/status` for the status subresource: what its
    /// RBAC must allow. A client names itself with the `x-kbind-audit-as`
    /// header.
    pub fn audit(&self, client: &str) -> std::collections::BTreeSet<(String, String, String)> {
        self.shared
            .audit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|e| e.0 == client)
            .map(|(_, v, g, r)| (v.clone(), g.clone(), r.clone()))
            .collect()
    }

    /// Test hook: injects faults from now on.
    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap_or_else(|p| p.into_inner()) = FaultState {
            config: faults,
            ..FaultState::default()
        };
    }

    /// Test hook: compacts the change history and ends every watch, so
    /// each client's resume gets 410 Gone and must list again.
    pub fn compact_and_drop_watches(&self) {
        self.shared
            .store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .compact();
        self.drop_watches();
    }

    /// Test hook: ends every open watch stream, as a dropped connection
    /// would. Clients must resume from their last resourceVersion.
    pub fn drop_watches(&self) {
        self.shared
            .drop_watches
            .send_modify(|generation| *generation += 1);
    }

    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, self.kubeconfig())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }
}

/// Where `kbind sandbox` writes its kubeconfig when not told.
pub fn default_kubeconfig_path() -> PathBuf {
    directories::ProjectDirs::from("io", "kbind", "kbind")
        .map(|d| d.data_dir().join("sandbox.kubeconfig"))
        .unwrap_or_else(|| PathBuf::from("kbind-sandbox.kubeconfig"))
}

/// An unguessable bearer token for a loopback sandbox: sha256 over the
/// time, the process id and a heap address.
pub fn new_token() -> String {
    use sha2::{Digest, Sha256};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let heap = Box::new(0u8);
    let seed = format!("{nanos}-{}-{:p}", std::process::id(), &*heap);
    hex::encode(&Sha256::digest(seed.as_bytes())[..24])
}
