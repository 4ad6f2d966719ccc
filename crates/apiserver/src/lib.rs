//! An embedded Kubernetes API server: the part of the API that kube-rs
//! controllers and kubectl use, in memory, on loopback, behind a bearer
//! token. It backs `kbind sandbox` and the end-to-end tests (no real API
//! server can be installed on our machines or in CI). Where it differs from a
//! real one, the README says so.

mod admission;
mod cel_check;
mod cel_library;
mod cel_rules;
mod collector;
mod conversion;
mod crd_names;
mod crd_queue;
mod crd_versions;
mod decoding;
pub mod deletion;
mod deployment;
mod deployment_controller;
mod discovery;
mod endpoints_controller;
mod error;
mod escalation;
mod event;
mod event_ttl;
mod faults;
mod gnostic;
mod handler;
mod job;
mod job_controller;
mod job_ttl;
mod list_options;
mod list_types;
mod managed;
mod namespace_defaults;
mod openapi;
mod owner_index;
mod params;
mod pod;
mod pod_security;
mod pods;
pub mod probes;
pub mod protobuf;
mod quantity;
mod rbac;
mod rbac_validation;
mod recorder;
pub mod registry;
mod review;
mod scale;
mod schema;
pub mod selector;
mod server;
mod service;
pub mod state;
mod strategic;
mod structural;
mod table;
pub mod validation;
mod watch;
mod write_options;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use faults::FaultState;
pub use faults::Faults;
pub use server::{restart, serve};
pub use state::ObjectStore;

/// Shared by every request handler.
pub struct Shared {
    /// Reached only through [`Shared::with_store`].
    store: Mutex<ObjectStore>,
    pub token: String,
    pub addr: SocketAddr,
    /// Bumped to end every open watch (a fault-injection hook for tests).
    pub drop_watches: tokio::sync::watch::Sender<u64>,
    pub(crate) faults: Mutex<FaultState>,
    /// (client, verb, group, resource) seen, the client being the
    /// `x-kbind-audit-as` request header (a test hook).
    pub(crate) audit: Mutex<std::collections::BTreeMap<AuditEntry, u64>>,
    /// ServiceAccount tokens issued by the TokenRequest API.
    tokens: Mutex<std::collections::HashMap<String, rbac::Identity>>,
}

type AuditEntry = (String, String, String, String);

impl Shared {
    pub(crate) fn new(store: ObjectStore, token: String, addr: SocketAddr) -> Self {
        Self {
            store: Mutex::new(store),
            token,
            addr,
            drop_watches: tokio::sync::watch::channel(0).0,
            faults: Mutex::new(FaultState::default()),
            audit: Mutex::new(Default::default()),
            tokens: Mutex::new(Default::default()),
        }
    }

    /// Who a bearer token belongs to: the admin token, or a ServiceAccount
    /// token this server issued.
    fn identity(&self, token: &str) -> Option<rbac::Identity> {
        if token == self.token {
            return Some(rbac::Identity::Admin);
        }
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned()
    }

    fn register_token(&self, token: &str, identity: rbac::Identity) {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_string(), identity);
    }

    /// The only way to the store: `f` gets the store and nothing else, so
    /// it cannot take the lock a second time, and whatever it returns is
    /// owned, so the lock is released before a reply is serialised.
    pub(crate) fn with_store<T>(&self, f: impl FnOnce(&mut ObjectStore) -> T) -> T {
        f(&mut self.store.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Records a served request for [`Running::audit`].
    fn audit(&self, client: &str, verb: &str, target: &handler::Target) {
        let resource = match &target.subresource {
            Some(sub) => format!("{}/{sub}", target.plural),
            None => target.plural.clone(),
        };
        self.audit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((
                client.to_string(),
                verb.to_string(),
                target.group.clone(),
                resource,
            ))
            .and_modify(|n| *n += 1)
            .or_insert(1);
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
            .keys()
            .filter(|e| e.0 == client)
            .map(|(_, v, g, r)| (v.clone(), g.clone(), r.clone()))
            .collect()
    }

    /// How many times a client requested `verb` on `group`/`resource`,
    /// served or refused.
    pub fn audit_count(&self, client: &str, verb: &str, group: &str, resource: &str) -> u64 {
        let key = (
            client.to_string(),
            verb.to_string(),
            group.to_string(),
            resource.to_string(),
        );
        self.shared
            .audit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .copied()
            .unwrap_or(0)
    }

    /// Test hook: injects faults from now on.
    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap_or_else(|p| p.into_inner()) = FaultState {
            config: faults,
            ..FaultState::default()
        };
    }

    /// How many requests the `too_many_requests` fault refused so far.
    pub fn refused_requests(&self) -> u64 {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .refused
    }

    /// Test hook: compacts the change history and ends every watch, so
    /// each client's resume gets 410 Gone and must list again.
    pub fn compact_and_drop_watches(&self) {
        self.shared.with_store(ObjectStore::compact);
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
