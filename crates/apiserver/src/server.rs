//! The listener: TLS with a certificate made at start, one task per
//! connection and one for the in-server controllers, all owned by the
//! server task so stopping it ends them.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;

use super::state::ObjectStore;
use super::{Running, Shared, handler};

/// Starts the server on `addr` (port 0 picks one) over TLS with a fresh
/// self-signed certificate for 127.0.0.1/localhost (clients refuse to send a
/// bearer token over plain HTTP), and returns once it listens.
pub async fn serve(
    addr: SocketAddr,
    token: String,
    store: ObjectStore,
) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (tls, ca_pem) = tls_config(addr).map_err(std::io::Error::other)?;
    start(listener, token, store, Arc::new(tls), ca_pem)
}

/// Test hook: stops the server (every connection and watch with it) and
/// starts a new one on the same address, token and certificate with the
/// store `open` makes once the old one is gone — a restart, typically on
/// the same `--state` file.
pub async fn restart(
    running: Running,
    open: impl FnOnce() -> std::io::Result<ObjectStore>,
) -> std::io::Result<Running> {
    let Running {
        addr,
        token,
        ca_pem,
        task,
        tls,
        shared,
    } = running;
    task.abort();
    let _ = task.await;
    // Connection tasks end asynchronously; the old store must be gone (its
    // journal closed) before the new one reads the state file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while Arc::strong_count(&shared) > 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    drop(shared);
    let store = open()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    start(listener, token, store, tls, ca_pem)
}

fn start(
    listener: tokio::net::TcpListener,
    token: String,
    mut store: ObjectStore,
    tls: Arc<rustls::ServerConfig>,
    ca_pem: String,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    store.set_root_ca(&ca_pem);
    store.keep_kubernetes_service(addr.port());
    let shared = Arc::new(Shared::new(store, token.clone(), addr));
    let app = Router::new()
        .fallback(handler::handle)
        .with_state(shared.clone());
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
    let controllers = run_controllers(shared.clone());
    let task = tokio::spawn(async move {
        // Connections belong to the server task: stopping it ends them all.
        let mut connections = tokio::task::JoinSet::new();
        connections.spawn(controllers);
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            while connections.try_join_next().is_some() {}
            let (acceptor, app) = (acceptor.clone(), app.clone());
            connections.spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let io = hyper_util::rt::TokioIo::new(stream);
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    Ok(Running {
        addr,
        token,
        ca_pem,
        shared,
        task,
        tls,
    })
}

/// How long after the write that needs them the in-server controllers act.
/// A real cluster's run off their informers, a few milliseconds to a
/// second later (establishing waits five seconds when several API servers
/// run); what matters is that a client never finds a new kind served in
/// the answer to the CRD's create, nor an owner's dependents gone in the
/// answer to its DELETE.
const CONTROLLER_LATENCY: std::time::Duration = std::time::Duration::from_millis(20);

/// The CRD naming and establishing controllers, the garbage collector, the
/// namespace controller and the CRD finalizer: each wake-up (work queued,
/// or a CRD due to be established) is one pass over what is due.
async fn run_controllers(shared: Arc<Shared>) {
    let signal = shared.with_store(|store| store.controller_signal());
    let mut due: Option<std::time::Instant> = None;
    loop {
        match due {
            Some(at) => {
                tokio::select! {
                    () = signal.notified() => {}
                    () = tokio::time::sleep_until(at.into()) => {}
                }
            }
            None => signal.notified().await,
        }
        tokio::time::sleep(CONTROLLER_LATENCY).await;
        due = shared.with_store(|store| store.run_controllers(Some(std::time::Instant::now())));
    }
}

fn tls_config(addr: SocketAddr) -> Result<(rustls::ServerConfig, String), String> {
    let names = vec![
        addr.ip().to_string(),
        "127.0.0.1".to_string(),
        "localhost".to_string(),
    ];
    let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot make a certificate: {e}"))?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], key)
    .map_err(|e| e.to_string())?;
    Ok((config, cert.pem()))
}
