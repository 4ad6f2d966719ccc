//! HTTP: routing of Kubernetes API paths, verbs, content types, watches.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};

use super::registry::Resource;
use super::selector::{FieldSelector, LabelSelector};
use super::state::{ApiError, Change, ObjectStore};
use super::{Running, Shared, SharedState, discovery, table};

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
    store: ObjectStore,
    tls: Arc<rustls::ServerConfig>,
    ca_pem: String,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let shared = Arc::new(Shared {
        store: Mutex::new(store),
        token: token.clone(),
        addr,
        drop_watches: tokio::sync::watch::channel(0).0,
        faults: Mutex::new(super::FaultState::default()),
        audit: Mutex::new(Default::default()),
    });
    let app = Router::new().fallback(handle).with_state(shared.clone());
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
    let task = tokio::spawn(async move {
        // Connections belong to the server task: stopping it ends them all.
        let mut connections = tokio::task::JoinSet::new();
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

fn json_response(code: StatusCode, value: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn error(e: &ApiError) -> Response {
    json_response(
        StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &e.status(),
    )
}

/// A parsed resource path.
struct Target {
    group: String,
    version: String,
    namespace: String,
    plural: String,
    name: Option<String>,
    status: bool,
}

/// `/api/v1/...` or `/apis/<g>/<v>/...` past the group/version.
fn parse_resource_path(group: &str, version: &str, rest: &[&str]) -> Option<Target> {
    let (namespace, rest) = match rest {
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => (ns.to_string(), tail),
        _ => (String::new(), rest),
    };
    let (plural, name, status) = match rest {
        [plural] => (plural, None, false),
        [plural, name] => (plural, Some(name.to_string()), false),
        [plural, name, "status"] => (plural, Some(name.to_string()), true),
        _ => return None,
    };
    Some(Target {
        group: group.into(),
        version: version.into(),
        namespace,
        plural: plural.to_string(),
        name,
        status,
    })
}

async fn handle(
    State(shared): State<SharedState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t == shared.token);
    if !authorized {
        return error(&ApiError::new(401, "Unauthorized", "Unauthorized"));
    }
    if let Some(response) = inject_fault(&shared, &method, uri.path(), &headers, &body).await {
        return response;
    }
    let path = uri.path().trim_end_matches('/');
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let store = || shared.store.lock().unwrap_or_else(|p| p.into_inner());
    match (method.clone(), parts.as_slice()) {
        (Method::GET, ["version"]) => return json_response(StatusCode::OK, &discovery::version()),
        (Method::GET, ["healthz" | "readyz" | "livez"]) => {
            return (StatusCode::OK, "ok").into_response();
        }
        // OpenAPI v3 without schemas, but with the `fieldValidation` query
        // parameter on every write, so kubectl leaves validation to the server.
        (Method::GET, ["openapi", "v3"]) => {
            return json_response(
                StatusCode::OK,
                &discovery::openapi_v3_root(store().resources()),
            );
        }
        (Method::GET, ["openapi", "v3", rest @ ..]) => {
            let gv = rest.join("/");
            return match discovery::openapi_v3_group_version(store().resources(), &gv) {
                Some(doc) => json_response(StatusCode::OK, &doc),
                None => error(&ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )),
            };
        }
        (Method::GET, ["api"]) => {
            return json_response(
                StatusCode::OK,
                &discovery::core_versions(&shared.addr.to_string()),
            );
        }
        (Method::GET, ["apis"]) => {
            return json_response(StatusCode::OK, &discovery::group_list(store().resources()));
        }
        (Method::GET, ["api", version]) => {
            return match discovery::resource_list(store().resources(), "", version) {
                Some(doc) => json_response(StatusCode::OK, &doc),
                None => error(&ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )),
            };
        }
        (Method::GET, ["apis", group]) => {
            return match discovery::group(store().resources(), group) {
                Some(doc) => json_response(StatusCode::OK, &doc),
                None => error(&ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )),
            };
        }
        (Method::GET, ["apis", group, version]) => {
            return match discovery::resource_list(store().resources(), group, version) {
                Some(doc) => json_response(StatusCode::OK, &doc),
                None => error(&ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )),
            };
        }
        _ => {}
    }
    let target = match parts.as_slice() {
        ["api", version, rest @ ..] => parse_resource_path("", version, rest),
        ["apis", group, version, rest @ ..] => parse_resource_path(group, version, rest),
        _ => None,
    };
    let Some(target) = target else {
        return error(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    };
    let resource = store()
        .resource(&target.group, &target.version, &target.plural)
        .cloned();
    let Some(resource) = resource else {
        return error(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    };
    let verb = match (&method, &target.name) {
        (&Method::GET, None) if query.get("watch").is_some_and(|w| w == "1" || w == "true") => {
            "watch"
        }
        (&Method::GET, None) => "list",
        (&Method::GET, Some(_)) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, Some(_)) => "delete",
        (&Method::DELETE, None) => "deletecollection",
        _ => "other",
    };
    shared
        .audit
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((
            headers
                .get("x-kbind-audit-as")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
            verb.to_string(),
            resource.group.clone(),
            if target.status {
                format!("{}/status", resource.plural)
            } else {
                resource.plural.clone()
            },
        ));
    if query.contains_key("dryRun") && method != Method::GET {
        // Better refused than silently applied.
        return error(&ApiError::new(
            400,
            "BadRequest",
            "dryRun is not supported by the kbind sandbox",
        ));
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let result = match (method, &target.name) {
        (Method::GET, None) if query.get("watch").is_some_and(|w| w == "1" || w == "true") => {
            return watch(
                shared.clone(),
                resource,
                target,
                query,
                table::wants_table(&accept),
            )
            .await;
        }
        (Method::GET, None) => list(&store(), &resource, &target, &query, &accept),
        (Method::GET, Some(name)) => store().get(&resource, &target.namespace, name).map(|o| {
            if table::wants_table(&accept) {
                table::table(&resource, &[o], store().resource_version())
            } else {
                o
            }
        }),
        (Method::POST, None) => parse_body(&body, &content_type)
            .and_then(|o| store().create(&resource, &target.namespace, o))
            .map(return_created),
        (Method::PUT, Some(name)) => parse_body(&body, &content_type)
            .and_then(|o| store().update(&resource, &target.namespace, name, o, target.status)),
        (Method::PATCH, Some(name)) => {
            patch(&mut store(), &resource, &target, name, &content_type, &body)
        }
        (Method::DELETE, Some(name)) => store().delete(&resource, &target.namespace, name),
        (Method::DELETE, None) => delete_collection(&mut store(), &resource, &target, &query),
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )),
    };
    match result {
        Ok(value) if value.get("__created").is_some() => {
            let mut value = value;
            if let Some(m) = value.as_object_mut() {
                m.remove("__created");
            }
            json_response(StatusCode::CREATED, &value)
        }
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(e) => error(&e),
    }
}

/// The test-only fault hooks: latency, periodic 500s, first-write conflicts.
async fn inject_fault(
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

fn return_created(mut o: Value) -> Value {
    o["__created"] = json!(true);
    o
}

fn parse_body(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::new(400, "BadRequest", "the body is not UTF-8"))?;
    if content_type.contains("yaml") {
        serde_saphyr::from_str(text)
            .map_err(|e| ApiError::new(400, "BadRequest", format!("invalid YAML: {e}")))
    } else {
        serde_json::from_str(text)
            .map_err(|e| ApiError::new(400, "BadRequest", format!("invalid JSON: {e}")))
    }
}

fn selectors(
    r: &Resource,
    query: &HashMap<String, String>,
) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(query.get("labelSelector").map_or("", String::as_str))
        .map_err(|e| {
            ApiError::new(
                400,
                "BadRequest",
                format!("unable to parse requirement: {e}"),
            )
        })?;
    let fields = FieldSelector::parse(
        query.get("fieldSelector").map_or("", String::as_str),
        &r.selectable_fields,
    )
    .map_err(|e| ApiError::new(400, "BadRequest", e))?;
    Ok((labels, fields))
}

fn list(
    store: &ObjectStore,
    r: &Resource,
    target: &Target,
    query: &HashMap<String, String>,
    accept: &str,
) -> Result<Value, ApiError> {
    let (labels, fields) = selectors(r, query)?;
    // Every page of a list reports the first page's resourceVersion, and a
    // page starts after the last object of the one before (not at an offset,
    // which creations and deletions shift). A watch started from the list
    // then replays whatever changed while it was paged; reporting each
    // page's own version lost those changes (a client's cache missed
    // updates made during a relist).
    let (rv, after) = match query.get("continue") {
        None => (store.resource_version(), None),
        Some(token) => {
            let (rv, after) = parse_continue(token)?;
            if store.expired(rv) {
                return Err(ApiError::new(
                    410,
                    "Expired",
                    "the provided continue parameter is too old; list again",
                ));
            }
            (rv, Some(after))
        }
    };
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    // `ObjectStore` keeps a resource's objects in (namespace, name) order:
    // the position a token resumes after.
    let (items, remaining) = store.list_page(
        r,
        &target.namespace,
        &labels,
        &fields,
        after
            .as_ref()
            .map(|(ns, name)| (ns.as_str(), name.as_str())),
        limit,
    );
    if table::wants_table(accept) {
        return Ok(table::table(r, &items, rv));
    }
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if remaining > 0
        && let Some(last) = items.last()
    {
        let (namespace, name) = object_position(last);
        metadata["continue"] = json!(format!("{rv}/{namespace}/{name}"));
        metadata["remainingItemCount"] = json!(remaining);
    }
    Ok(
        json!({"kind": format!("{}List", r.kind), "apiVersion": r.group_version(), "metadata": metadata, "items": items}),
    )
}

/// Where an object sits in list order: (namespace, name).
fn object_position(o: &Value) -> (&str, &str) {
    let field = |f: &str| {
        o.pointer(&format!("/metadata/{f}"))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    (field("namespace"), field("name"))
}

/// A continue token: `<resourceVersion>/<namespace>/<name>` of the first
/// page's version and the last object returned.
fn parse_continue(token: &str) -> Result<(u64, (String, String)), ApiError> {
    let mut parts = token.splitn(3, '/');
    let rv = parts.next().and_then(|rv| rv.parse::<u64>().ok());
    match (rv, parts.next(), parts.next()) {
        (Some(rv), Some(namespace), Some(name)) => Ok((rv, (namespace.into(), name.into()))),
        _ => Err(ApiError::new(
            400,
            "BadRequest",
            format!("invalid continue token {token:?}"),
        )),
    }
}

fn patch(
    store: &mut ObjectStore,
    r: &Resource,
    target: &Target,
    name: &str,
    content_type: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let ns = target.namespace.as_str();
    if content_type.starts_with("application/json-patch+json") {
        let ops: json_patch::Patch = serde_json::from_slice(body)
            .map_err(|e| ApiError::new(400, "BadRequest", format!("invalid JSON patch: {e}")))?;
        return store.patch(r, ns, name, target.status, |o| {
            // As Kubernetes does, `test` of a missing path against null passes
            // (kube-rs's finalizer helper relies on it).
            let ops = json_patch::Patch(
                ops.0
                    .into_iter()
                    .filter(|op| match op {
                        json_patch::PatchOperation::Test(t) => {
                            !(t.value.is_null() && o.pointer(t.path.as_str()).is_none())
                        }
                        _ => true,
                    })
                    .collect(),
            );
            json_patch::patch(o, &ops)
                .map_err(|e| ApiError::new(422, "Invalid", format!("JSON patch failed: {e}")))
        });
    }
    let patch = parse_body(body, content_type)?;
    if content_type.starts_with("application/apply-patch") {
        // Server-side apply, approximated: create, or merge into the object.
        return match store.get(r, ns, name) {
            Err(e) if e.code == 404 => store.create(r, ns, patch),
            _ => store.merge(r, ns, name, &patch, target.status),
        };
    }
    // Merge patch; strategic merge patch is approximated by it (lists are
    // replaced, not merged by key).
    store.merge(r, ns, name, &patch, target.status)
}

fn delete_collection(
    store: &mut ObjectStore,
    r: &Resource,
    target: &Target,
    query: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    let (labels, fields) = selectors(r, query)?;
    let items = store.list(r, &target.namespace, &labels, &fields);
    for item in &items {
        let ns = item
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        let name = item
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        store.delete(r, ns, name)?;
    }
    Ok(
        json!({"kind": format!("{}List", r.kind), "apiVersion": r.group_version(), "metadata": {}, "items": items}),
    )
}

fn event_line(type_: &str, object: Value) -> Bytes {
    let mut line = json!({"type": type_, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

async fn watch(
    shared: SharedState,
    r: Resource,
    target: Target,
    query: HashMap<String, String>,
    as_table: bool,
) -> Response {
    let (labels, fields) = match selectors(&r, &query) {
        Ok(s) => s,
        Err(e) => return error(&e),
    };
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true");
    // Streaming lists (`sendInitialEvents=true`): the current state as ADDED
    // events whatever the resourceVersion, then the end-of-initial-events
    // bookmark.
    let streaming_list = query.get("sendInitialEvents").is_some_and(|v| v == "true");
    let since: Option<u64> = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0 && !streaming_list);
    let namespace = target.namespace.clone();
    let matches = {
        let (r, namespace) = (r.clone(), namespace.clone());
        move |c: &Change| {
            c.group == r.group
                && c.plural == r.plural
                && (namespace.is_empty() || c.namespace == namespace)
                && labels.matches(&c.object)
                && fields.matches(&c.object)
        }
    };
    let render = {
        let r = r.clone();
        move |object: Value, rv: u64| {
            if as_table {
                table::table(&r, &[object], rv)
            } else {
                object
            }
        }
    };
    // Under the lock: what happened so far, and the subscription for what follows.
    let (initial, mut receiver, current_rv) = {
        let store = shared.store.lock().unwrap_or_else(|p| p.into_inner());
        let receiver = store.changes.subscribe();
        let initial: Result<Vec<Bytes>, ()> = match since {
            None => Ok(store
                .list(
                    &r,
                    &namespace,
                    &LabelSelector::default(),
                    &FieldSelector::default(),
                )
                .into_iter()
                .filter(|o| {
                    matches(&Change {
                        rv: 0,
                        group: r.group.clone(),
                        plural: r.plural.clone(),
                        namespace: o
                            .pointer("/metadata/namespace")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .into(),
                        type_: "ADDED",
                        object: o.clone(),
                    })
                })
                .map(|o| event_line("ADDED", render(o, store.resource_version())))
                .collect()),
            Some(rv) => match store.changes_since(&r, rv) {
                Some(changes) => Ok(changes
                    .into_iter()
                    .filter(|c| matches(c))
                    .map(|c| event_line(c.type_, render(c.object, c.rv)))
                    .collect()),
                None => Err(()),
            },
        };
        (initial, receiver, store.resource_version())
    };
    let mut initial = match initial {
        Ok(lines) => lines,
        Err(()) => {
            let gone = ApiError::new(410, "Expired", "too old resource version");
            vec![event_line("ERROR", gone.status())]
        }
    };
    if streaming_list {
        let mark = json!({
            "kind": r.kind, "apiVersion": r.group_version(),
            "metadata": {"resourceVersion": current_rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}},
        });
        initial.push(event_line("BOOKMARK", mark));
    }
    let mut last_rv = since.unwrap_or(current_rv).max(current_rv);
    let mut dropped = shared.drop_watches.subscribe();
    let live = async_stream(move |tx| async move {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                _ = dropped.changed() => break,
                change = receiver.recv() => match change {
                    Ok(c) => {
                        if c.rv <= last_rv || !matches(&c) { continue; }
                        last_rv = c.rv;
                        if tx.send(event_line(c.type_, render(c.object, c.rv))).await.is_err() { break; }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let gone = ApiError::new(410, "Expired", "watch fell behind; relist");
                        let _ = tx.send(event_line("ERROR", gone.status())).await;
                        break;
                    }
                    Err(_) => break,
                },
                _ = tokio::time::sleep(Duration::from_secs(30)), if bookmarks => {
                    let mark = json!({"kind": r.kind, "apiVersion": r.group_version(), "metadata": {"resourceVersion": last_rv.to_string()}});
                    if tx.send(event_line("BOOKMARK", mark)).await.is_err() { break; }
                }
            }
        }
    });
    let stream = futures::stream::iter(initial)
        .chain(live)
        .map(Ok::<_, Infallible>);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A stream fed by a spawned task through a channel.
fn async_stream<F, Fut>(f: F) -> impl futures::Stream<Item = Bytes>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Bytes>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    tokio::spawn(f(tx));
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
