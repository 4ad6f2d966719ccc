//! The plain-HTTP endpoints a kbind process shows kubelet and Prometheus:
//! `/metrics`, `/healthz` and `/readyz`. They live here, beside the API
//! server, so that this crate stays the only one that links an HTTP server;
//! the operator hands over what to report and nothing about how it is served.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::routing::get;

/// What the probe endpoints report: the metrics text and readiness.
pub trait Probed: Send + Sync + 'static {
    /// The OpenMetrics text for `/metrics`.
    fn encode(&self) -> String;
    /// Whether `/readyz` answers 200.
    fn is_ready(&self) -> bool;
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `/metrics`, `/healthz` (the process answers) and `/readyz` on
/// `addr`. Returns the bound address and the serving task.
pub async fn serve<P: Probed>(
    addr: SocketAddr,
    probed: Arc<P>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let for_metrics = probed.clone();
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let probed = for_metrics.clone();
                async move { ([(header::CONTENT_TYPE, OPENMETRICS)], probed.encode()) }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let probed = probed.clone();
                async move {
                    if probed.is_ready() {
                        (StatusCode::OK, "ok")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
                    }
                }
            }),
        );
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("metrics server stopped: {e}");
        }
    });
    Ok((bound, task))
}
