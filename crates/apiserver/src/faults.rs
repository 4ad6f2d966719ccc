//! The test-only fault hooks: latency, periodic or seeded 500s, flow
//! control's 429s, failed writes, first-write conflicts, an aggregated API
//! that is down (never set by the CLI).

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;

use super::Shared;
use super::handler::error;
use super::state::ApiError;

/// Faults the server injects, for reliability tests.
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
    /// Each request is refused by flow control with this probability
    /// (seeded): API Priority and Fairness's 429 when a priority level's
    /// queues are full, a plain-text body and `Retry-After: 1`.
    pub too_many_requests: Option<(f64, u64)>,
    /// An aggregated API whose backend is down, as `metrics.k8s.io` often
    /// is: `/apis` lists this group/version, and everything under it answers
    /// 503, as kube-aggregator does.
    pub unavailable_api: Option<(String, String)>,
}

#[derive(Default)]
pub(crate) struct FaultState {
    pub(crate) config: Faults,
    pub(crate) requests: u64,
    pub(crate) written: std::collections::HashSet<String>,
    /// How many requests flow control refused.
    pub(crate) refused: u64,
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

/// `/apis` with the unavailable aggregated API's group listed, if set.
pub(super) fn listed_groups(shared: &Shared, mut groups: serde_json::Value) -> serde_json::Value {
    let faults = shared.faults.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((group, version)) = &faults.config.unavailable_api
        && let Some(list) = groups["groups"].as_array_mut()
    {
        let gv = format!("{group}/{version}");
        list.push(serde_json::json!({"name": group,
            "versions": [{"groupVersion": gv, "version": version}],
            "preferredVersion": {"groupVersion": gv, "version": version}}));
    }
    groups
}

/// The same unavailable group in aggregated discovery: listed, its
/// version `Stale` with no resources, as the aggregator lists an
/// APIService it cannot reach.
pub(super) fn stale_groups(shared: &Shared, mut doc: serde_json::Value) -> serde_json::Value {
    let faults = shared.faults.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((group, version)) = &faults.config.unavailable_api
        && let Some(items) = doc["items"].as_array_mut()
    {
        items.push(
            serde_json::json!({"metadata": {"name": group, "creationTimestamp": null},
            "versions": [{"version": version, "freshness": "Stale"}]}),
        );
    }
    doc
}

/// What `WithPriorityAndFairness` answers a request it drops
/// (`tooManyRequests`: `http.Error`'s plain text, not a Status).
fn too_many_requests() -> Response {
    let mut response = Response::new(axum::body::Body::from(
        "Too many requests, please try again later.\n",
    ));
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The fault this request gets, if any; the latency is slept after the
/// fault state's lock is released.
pub(super) async fn inject(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let (latency, fault) = {
        let mut faults = shared.faults.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(only) = &faults.config.only_client {
            let client = headers
                .get("x-kbind-audit-as")
                .and_then(|v| v.to_str().ok());
            if client != Some(only.as_str()) {
                return None;
            }
        }
        faults.requests += 1;
        if let Some((group, _)) = &faults.config.unavailable_api
            && path.starts_with(&format!("/apis/{group}/"))
        {
            let unavailable = ApiError::new(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
            );
            return Some(error(&unavailable));
        }
        if let Some((p, seed)) = faults.config.too_many_requests
            && faults.draw(seed.wrapping_add(1)) < p
        {
            faults.refused += 1;
            return Some(too_many_requests());
        }
        let mut fault = None;
        let requests = faults.requests;
        if faults
            .config
            .error_every
            .filter(|n| *n > 0)
            .is_some_and(|n| requests.is_multiple_of(u64::from(n)))
            || faults
                .config
                .error_probability
                .is_some_and(|(p, seed)| faults.draw(seed) < p)
        {
            fault = Some(ApiError::new(
                500,
                "InternalError",
                "injected fault: internal error",
            ));
        }
        let write = *method == Method::PUT || *method == Method::PATCH;
        if fault.is_none()
            && write
            && let Some((needle, left)) = faults.config.fail_writes_containing.as_mut()
            && *left > 0
            && String::from_utf8_lossy(body).contains(needle.as_str())
        {
            *left -= 1;
            fault = Some(ApiError::new(
                500,
                "InternalError",
                "injected fault: this write failed",
            ));
        }
        if fault.is_none()
            && write
            && faults.config.conflict_first_write
            && faults.written.insert(path.to_string())
        {
            fault = Some(ApiError::new(
                409,
                "Conflict",
                "injected fault: the object has been modified; please apply your changes to the latest version and try again",
            ));
        }
        (faults.config.latency, fault)
    };
    if let Some(latency) = latency {
        tokio::time::sleep(latency).await;
    }
    fault.map(|e| error(&e))
}
