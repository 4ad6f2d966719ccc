//! One API request: authenticate, route the path and verb, take the store
//! exactly once, render the reply after the lock is released.
//!
//! The store is reached only through [`Shared::with_store`], whose closure
//! gets `&mut ObjectStore` and nothing else: the functions that run under
//! the lock ([`discover`], [`execute`]) cannot reach `Shared`, so they cannot
//! lock it again (a second lock of a std `Mutex` on one thread hangs every
//! later request), and serialising a reply happens after they return.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::decoding::FieldValidation;
use super::deletion::DeleteOptions;
use super::managed::{self, Manager};
use super::rbac::{self, Identity};
use super::registry::Resource;
use super::selector::{FieldSelector, LabelSelector};
use super::state::{ApiError, ObjectStore, RequestContext};
use super::{
    SharedState, conversion, discovery, faults, list_options, openapi, protobuf, review, strategic,
    table, watch,
};

pub(super) fn json_response(code: StatusCode, value: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

pub(super) fn error(e: &ApiError) -> Response {
    json_response(
        StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &e.status(),
    )
}

/// 415, worded as a real server words it for a body it cannot decode.
fn unsupported_media_type(accepted: &str) -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: {accepted}"
        ),
    )
}

fn not_found() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// A parsed resource path.
pub(super) struct Target {
    pub group: String,
    pub version: String,
    pub namespace: String,
    pub plural: String,
    pub name: Option<String>,
    /// `status`, `token` (a ServiceAccount's TokenRequest), …
    pub subresource: Option<String>,
}

impl Target {
    pub(super) fn is_status(&self) -> bool {
        self.subresource.as_deref() == Some("status")
    }

    /// What the RBAC authorizer is asked about this request.
    pub(super) fn attributes<'a>(&'a self, verb: &'a str) -> rbac::Attributes<'a> {
        rbac::Attributes {
            verb,
            group: &self.group,
            resource: &self.plural,
            subresource: self.subresource.as_deref(),
            namespace: &self.namespace,
            name: self.name.as_deref(),
        }
    }
}

/// `/api/v1/...` or `/apis/<g>/<v>/...` past the group/version.
fn parse_resource_path(group: &str, version: &str, rest: &[&str]) -> Option<Target> {
    let (namespace, rest) = match rest {
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => (ns.to_string(), tail),
        _ => (String::new(), rest),
    };
    let (plural, name, subresource) = match rest {
        [plural] => (plural, None, None),
        [plural, name] => (plural, Some(name.to_string()), None),
        [plural, name, sub] => (plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return None,
    };
    Some(Target {
        group: group.into(),
        version: version.into(),
        namespace,
        plural: plural.to_string(),
        name,
        subresource,
    })
}

/// Documents built from the registry of served kinds.
enum Discovery {
    OpenApiRoot,
    OpenApiGroupVersion(String),
    Groups,
    Group(String),
    Resources { group: String, version: String },
}

enum Route {
    Version,
    OpenApiV2,
    Health,
    CoreVersions,
    Discovery(Discovery),
    Resource(Target),
}

fn route(method: &Method, parts: &[&str]) -> Option<Route> {
    let get = *method == Method::GET;
    Some(match parts {
        ["version"] if get => Route::Version,
        ["healthz" | "readyz" | "livez"] if get => Route::Health,
        ["openapi", "v2"] if get => Route::OpenApiV2,
        ["openapi", "v3"] if get => Route::Discovery(Discovery::OpenApiRoot),
        ["openapi", "v3", rest @ ..] if get => {
            Route::Discovery(Discovery::OpenApiGroupVersion(rest.join("/")))
        }
        ["api"] if get => Route::CoreVersions,
        ["apis"] if get => Route::Discovery(Discovery::Groups),
        ["api", version] if get => Route::Discovery(Discovery::Resources {
            group: String::new(),
            version: version.to_string(),
        }),
        ["apis", group] if get => Route::Discovery(Discovery::Group(group.to_string())),
        ["apis", group, version] if get => Route::Discovery(Discovery::Resources {
            group: group.to_string(),
            version: version.to_string(),
        }),
        ["api", version, rest @ ..] => Route::Resource(parse_resource_path("", version, rest)?),
        ["apis", group, version, rest @ ..] => {
            Route::Resource(parse_resource_path(group, version, rest)?)
        }
        _ => return None,
    })
}

/// Runs under the store lock.
fn discover(store: &ObjectStore, d: &Discovery) -> Option<Value> {
    let resources = &store.discoverable_resources();
    match d {
        // Served by `serve_non_resource`, outside the lock.
        Discovery::OpenApiRoot | Discovery::OpenApiGroupVersion(_) => None,
        Discovery::Groups => Some(discovery::group_list(resources)),
        Discovery::Group(g) => discovery::group(resources, g),
        Discovery::Resources { group, version } => {
            discovery::resource_list(resources, group, version)
        }
    }
}

/// The verb RBAC would name for a request.
fn verb(method: &Method, target: &Target, query: &HashMap<String, String>) -> &'static str {
    match (method, &target.name) {
        (&Method::GET, None) if is_watch(query) => "watch",
        (&Method::GET, None) => "list",
        (&Method::GET, Some(_)) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, Some(_)) => "delete",
        (&Method::DELETE, None) => "deletecollection",
        _ => "other",
    }
}

pub(super) fn is_watch(query: &HashMap<String, String>) -> bool {
    super::params::flag(query, "watch")
}

/// What a resource request asks of the store, with its body parsed.
struct Operation<'a> {
    /// Who asks (reviews answer for them).
    identity: Identity,
    /// Who writes: `fieldManager`, else the User-Agent's first word.
    manager: Option<Manager>,
    /// A DELETE's options.
    delete: DeleteOptions,
    method: &'a Method,
    target: &'a Target,
    query: &'a HashMap<String, String>,
    content_type: &'a str,
    body: &'a [u8],
}

/// What the store answered, still to be rendered.
enum Reply {
    Object(Value),
    Created(Value),
    /// One object read by name: JSON, or a Table of one row.
    Got {
        resource: Resource,
        object: Value,
    },
    Listed {
        resource: Resource,
        page: Page,
    },
    /// Plain text: a container's log.
    Text(String),
    /// A TokenRequest for this ServiceAccount: the token is minted by the
    /// handler.
    TokenFor {
        namespace: String,
        name: String,
        request: Value,
    },
}

struct Page {
    items: Vec<Value>,
    rv: u64,
    continue_token: Option<String>,
    /// `None` under a selector: a real server counts the keys left in etcd,
    /// matching or not, so it gives no count rather than a wrong one.
    remaining: Option<usize>,
}

/// The `Impersonate-*` headers (kubectl's `--as`, `--as-group`,
/// `--as-uid`).
fn impersonation(headers: &HeaderMap) -> rbac::Impersonation {
    let text = |v: &header::HeaderValue| v.to_str().ok().map(str::to_string);
    let mut asked = rbac::Impersonation {
        user: headers
            .get("impersonate-user")
            .and_then(text)
            .filter(|u| !u.is_empty()),
        groups: headers
            .get_all("impersonate-group")
            .iter()
            .filter_map(text)
            .collect(),
        uid: headers
            .get("impersonate-uid")
            .and_then(text)
            .filter(|u| !u.is_empty()),
        ..Default::default()
    };
    for (name, value) in headers {
        if let Some(key) = name.as_str().strip_prefix("impersonate-extra-")
            && let Some(value) = text(value)
        {
            let key = percent_encoding::percent_decode_str(key)
                .decode_utf8_lossy()
                .to_lowercase();
            asked.extra.push((key, value));
        }
    }
    asked
}

/// kube-apiserver's `--max-request-body-bytes` default (3 MiB).
const MAX_REQUEST_BODY_BYTES: usize = 3 * 1024 * 1024;

pub(super) async fn handle(
    State(shared): State<SharedState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: axum::body::Body,
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(authenticated) = bearer.and_then(|t| shared.identity(t)) else {
        return error(&ApiError::new(401, "Unauthorized", "Unauthorized"));
    };
    let asked = impersonation(&headers);
    // Only a request that impersonates takes the store a second time (the
    // authorizer's check), before and apart from its own access.
    let identity = if asked.is_empty() {
        authenticated
    } else {
        match shared.with_store(|store| rbac::impersonate(store, authenticated, &asked)) {
            Ok(identity) => identity,
            Err(e) => return error(&e),
        }
    };
    // The apiserver reads at most `MaxRequestBodyBytes` of a body.
    let body: Bytes = match axum::body::to_bytes(body, MAX_REQUEST_BODY_BYTES).await {
        Ok(body) => body,
        Err(e)
            if std::error::Error::source(&e)
                .is_some_and(|inner| inner.is::<http_body_util::LengthLimitError>()) =>
        {
            return error(&ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("Request entity too large: limit is {MAX_REQUEST_BODY_BYTES}"),
            ));
        }
        // The client went away mid-body: nobody reads an answer.
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    if let Some(response) = faults::inject(&shared, &method, uri.path(), &headers, &body).await {
        return response;
    }
    let path = uri.path().trim_end_matches('/');
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let header_text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let accept = header_text(header::ACCEPT);
    let content_type = header_text(header::CONTENT_TYPE);
    let target = match route(&method, &parts) {
        None => return error(&not_found()),
        Some(Route::Resource(target)) => target,
        Some(other) => {
            let if_none_match = header_text(header::IF_NONE_MATCH);
            let hash = uri.query().and_then(|q| {
                q.split('&')
                    .find_map(|pair| pair.strip_prefix("hash="))
                    .map(str::to_string)
            });
            return serve_non_resource(&shared, other, &accept, &if_none_match, hash.as_deref());
        }
    };
    let verb = verb(&method, &target, &query);
    let audit_as = headers
        .get("x-kbind-audit-as")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if verb == "watch" {
        return watch::serve(
            shared.clone(),
            target,
            query,
            &accept,
            audit_as,
            verb,
            identity,
        )
        .await;
    }
    let Options {
        dry_run,
        delete,
        manager,
        field_validation,
    } = match Options::read(&method, &query, &headers, &content_type, &body) {
        Ok(options) => options,
        Err(e) => return error(&e),
    };
    let request = RequestContext {
        dry_run,
        field_validation,
        manager: manager.clone(),
        requester: Some(identity.clone()),
    };
    let op = Operation {
        identity: identity.clone(),
        manager,
        delete: delete.unwrap_or_default(),
        method: &method,
        target: &target,
        query: &query,
        content_type: &content_type,
        body: &body,
    };
    // The one store access of this request.
    let (served, (result, warnings)) = shared.with_store(|store| {
        let Some(resource) = store
            .resource(&target.group, &target.version, &target.plural)
            .cloned()
        else {
            return (false, (Err(not_found()), vec![]));
        };
        if !rbac::allowed(store, &identity, &target.attributes(verb)) {
            return (
                true,
                (
                    Err(rbac::forbidden(&identity, &target.attributes(verb))),
                    vec![],
                ),
            );
        }
        let deprecated = resource.deprecation_warning.clone();
        let (result, mut warnings) = store.serving(request, |store| execute(store, resource, &op));
        // Sent first and with every answer, as the CRD handler adds it
        // before it serves the verb.
        if let Some(w) = deprecated {
            warnings.insert(0, w);
        }
        (true, (result, warnings))
    });
    if served {
        shared.audit(audit_as, verb, &target);
    }
    let response = match result {
        Ok(Reply::TokenFor {
            namespace,
            name,
            request,
        }) => render(
            Reply::Created(mint_token(&shared, namespace, name, request)),
            &accept,
            &query,
        ),
        Ok(reply) => render(reply, &accept, &query),
        Err(e) => error(&e),
    };
    with_warnings(response, warnings)
}

/// The routes that name no resource: version, health, OpenAPI, discovery.
fn serve_non_resource(
    shared: &SharedState,
    route: Route,
    accept: &str,
    if_none_match: &str,
    hash: Option<&str>,
) -> Response {
    let aggregated = discovery::aggregated_version(accept);
    match route {
        // Built from a copy of the kinds, without the lock: the root hashes
        // every group version's document.
        Route::Discovery(Discovery::OpenApiRoot) => {
            let resources = shared.with_store(|store| store.discoverable_resources());
            json_response(StatusCode::OK, &openapi::v3_root(&resources))
        }
        Route::Discovery(Discovery::OpenApiGroupVersion(gv)) => {
            let resources = shared.with_store(|store| store.discoverable_resources());
            match openapi::v3_document(&resources, &gv) {
                Some((body, etag)) => openapi_v3_response(&gv, body, &etag, hash, if_none_match),
                None => error(&not_found()),
            }
        }
        Route::CoreVersions | Route::Discovery(Discovery::Groups) if aggregated.is_some() => {
            let version = aggregated.unwrap_or("v2");
            let core = matches!(route, Route::CoreVersions);
            let doc = shared.with_store(|store| {
                discovery::aggregated(&store.discoverable_resources(), core, version)
            });
            let doc = if core {
                doc
            } else {
                faults::stale_groups(shared, doc)
            };
            aggregated_response(&doc, version, if_none_match)
        }
        Route::Version => json_response(StatusCode::OK, &discovery::version()),
        Route::Health => (StatusCode::OK, "ok").into_response(),
        Route::OpenApiV2 => {
            // Copied out so that the document is built without the lock.
            let resources = shared.with_store(|store| store.discoverable_resources());
            let (content_type, body) =
                openapi::v2(&resources, accept.contains(openapi::V2_PROTOBUF));
            (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Route::CoreVersions => json_response(
            StatusCode::OK,
            &discovery::core_versions(&shared.addr.to_string()),
        ),
        Route::Discovery(d) => match shared.with_store(|store| discover(store, &d)) {
            Some(doc) if matches!(d, Discovery::Groups) => {
                json_response(StatusCode::OK, &faults::listed_groups(shared, doc))
            }
            Some(doc) => json_response(StatusCode::OK, &doc),
            None => error(&not_found()),
        },
        Route::Resource(_) => error(&not_found()),
    }
}

/// A group version's OpenAPI document as kube-openapi's `HandleGroupVersion`
/// answers it: with its ETag (304 to a client holding it); asked for at
/// the hash it has, cacheable for a year; at another hash, a 301 to the
/// current one.
fn openapi_v3_response(
    gv: &str,
    body: String,
    etag: &str,
    hash: Option<&str>,
    if_none_match: &str,
) -> Response {
    let current = format!("/openapi/v3/{gv}?hash={etag}");
    if hash.is_some_and(|h| h != etag) {
        let body = format!("<a href=\"{current}\">Moved Permanently</a>.\n\n");
        return (
            StatusCode::MOVED_PERMANENTLY,
            [
                (header::LOCATION, current),
                (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            ],
            body,
        )
            .into_response();
    }
    let mut headers = vec![(header::CONTENT_TYPE, "application/json".to_string())];
    if hash.is_some() {
        headers.push((header::CACHE_CONTROL, "public, immutable".to_string()));
        let year = std::time::SystemTime::now() + std::time::Duration::from_secs(365 * 24 * 3600);
        headers.push((header::EXPIRES, httpdate::fmt_http_date(year)));
    }
    with_etag(body, etag, if_none_match, headers)
}

/// A document with its ETag, as kube-openapi's `ServeContent` and the
/// aggregated discovery handler's `ServeHTTPWithETag` answer: a 304 to a
/// client that holds it, `Vary: Accept` (the media type chooses the
/// document).
fn with_etag(
    body: String,
    etag: &str,
    if_none_match: &str,
    headers: Vec<(header::HeaderName, String)>,
) -> Response {
    let quoted = format!("\"{etag}\"");
    let unchanged = if_none_match == quoted;
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, body).into_response()
    };
    let common = [(header::ETAG, quoted), (header::VARY, "Accept".to_string())];
    for (name, value) in headers.into_iter().chain(common) {
        // A 304 has no body to type (`ServeContent` drops the header).
        if unchanged && name == header::CONTENT_TYPE {
            continue;
        }
        if let Ok(value) = header::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// Aggregated discovery as `ServeHTTPWithETag` answers it: an ETag of the
/// document's SHA-512, a 304 to a client that holds it, and the media
/// type it was asked for.
fn aggregated_response(doc: &Value, version: &str, if_none_match: &str) -> Response {
    let body = doc.to_string();
    let etag = openapi::content_hash(body.as_bytes());
    let headers = vec![
        (header::CACHE_CONTROL, "public".to_string()),
        (
            header::CONTENT_TYPE,
            format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"),
        ),
    ];
    with_etag(body, &etag, if_none_match, headers)
}

/// What the query and headers ask of a resource request besides the
/// operation itself.
struct Options {
    dry_run: bool,
    delete: Option<DeleteOptions>,
    manager: Option<Manager>,
    field_validation: FieldValidation,
}

impl Options {
    fn read(
        method: &Method,
        query: &HashMap<String, String>,
        headers: &HeaderMap,
        content_type: &str,
        body: &[u8],
    ) -> Result<Self, ApiError> {
        // A write's options are read into its options kind and validated
        // there (422); a read has none of them, and a DELETE's are its
        // DeleteOptions.
        let apply = content_type.starts_with("application/apply-patch");
        let options_kind = match *method {
            Method::POST => Some("CreateOptions"),
            Method::PUT => Some("UpdateOptions"),
            Method::PATCH => Some("PatchOptions"),
            _ => None,
        };
        if let Some(kind) = options_kind {
            super::write_options::validate(kind, query, apply)?;
        }
        let query_dry_run = options_kind.is_some() && query.contains_key("dryRun");
        // A DELETE's options (kubectl puts its dry run there) are read before
        // the store is: parsing needs no lock.
        let delete = if *method == Method::DELETE {
            Some(DeleteOptions::parse(body, query)?)
        } else {
            None
        };
        let dry_run = query_dry_run || delete.as_ref().is_some_and(|d| d.dry_run);
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let manager = query
            .get("fieldManager")
            .cloned()
            .or_else(|| user_agent.split('/').next().map(str::to_string))
            .filter(|m| !m.is_empty() || apply)
            .map(|name| Manager {
                name,
                apply: apply && *method == Method::PATCH,
                force: super::params::flag(query, "force"),
            });
        let manager = if apply {
            // An apply names its manager; the User-Agent is no default for it.
            manager.filter(|_| query.contains_key("fieldManager"))
        } else {
            manager
        };
        let field_validation = match options_kind {
            Some(_) => {
                FieldValidation::from_query(query.get("fieldValidation").map(String::as_str))
            }
            None => FieldValidation::Warn,
        };
        Ok(Self {
            dry_run,
            delete,
            manager,
            field_validation,
        })
    }
}

/// A TokenRequest's token, minted after the store lock is released: tokens
/// live in their own registry.
fn mint_token(shared: &SharedState, namespace: String, name: String, mut request: Value) -> Value {
    let token = super::new_token();
    let seconds = request["spec"]["expirationSeconds"]
        .as_u64()
        .unwrap_or(3600);
    shared.register_token(&token, Identity::ServiceAccount { namespace, name });
    let expires = std::time::SystemTime::now() + std::time::Duration::from_secs(seconds);
    request["status"] = json!({
        "token": token,
        "expirationTimestamp": humantime::format_rfc3339_seconds(expires).to_string(),
    });
    request["spec"]["expirationSeconds"] = json!(seconds);
    request
}

/// As a real server warns: `299 - "<text>"`, one header per warning.
fn with_warnings(mut response: Response, warnings: Vec<String>) -> Response {
    for warning in warnings {
        let text = format!("299 - {}", serde_json::Value::String(warning));
        if let Ok(value) = header::HeaderValue::from_str(&text) {
            response.headers_mut().append("warning", value);
        }
    }
    response
}

/// Runs under the store lock: the store operation a request names.
fn execute(store: &mut ObjectStore, r: Resource, op: &Operation<'_>) -> Result<Reply, ApiError> {
    let target = op.target;
    let ns = target.namespace.as_str();
    if target.is_status() && !r.status_subresource {
        // A kind whose definition does not enable the status subresource
        // has no `/status`: its status is an ordinary field.
        return Err(not_found());
    }
    match target.subresource.as_deref() {
        None | Some("status") => {}
        Some("token")
            if r.group.is_empty() && r.kind == "ServiceAccount" && *op.method == Method::POST =>
        {
            let name = target.name.clone().unwrap_or_default();
            store.get(&r, ns, &name)?;
            let mut request = parse_body(op.body, op.content_type)?;
            request["apiVersion"] = json!("authentication.k8s.io/v1");
            request["kind"] = json!("TokenRequest");
            request["metadata"]["name"] = json!(name);
            request["metadata"]["namespace"] = json!(ns);
            return Ok(Reply::TokenFor {
                namespace: ns.to_string(),
                name,
                request,
            });
        }
        Some("log") if r.group.is_empty() && r.kind == "Pod" && *op.method == Method::GET => {
            let name = target.name.clone().unwrap_or_default();
            let pod = store.get(&r, ns, &name)?;
            let container = op.query.get("container").map(String::as_str);
            return super::pods::log(&pod, container).map(Reply::Text);
        }
        Some("scale") if r.has_scale() => {
            let name = target.name.clone().unwrap_or_default();
            return scale(store, &r, op, &name).map(Reply::Object);
        }
        Some("binding") if r.group.is_empty() && r.kind == "Pod" && *op.method == Method::POST => {
            let name = target.name.clone().unwrap_or_default();
            let binding = parse_body(op.body, op.content_type)?;
            return store.bind_pod(&r, ns, &name, &binding).map(Reply::Created);
        }
        Some(_) => return Err(not_found()),
    }
    if r.review {
        return match (op.method, &target.name) {
            (&Method::POST, None) => parse_body(op.body, op.content_type)
                .map(|review| Reply::Created(review::answer(&r, review, store, &op.identity))),
            _ => Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )),
        };
    }
    match (op.method, &target.name) {
        (&Method::GET, None) => list(store, r, target, op.query)
            .map(|(resource, page)| Reply::Listed { resource, page }),
        (&Method::GET, Some(name)) => {
            let object = conversion::to_served(&r, store.get(&r, ns, name)?);
            Ok(Reply::Got {
                resource: r,
                object,
            })
        }
        (&Method::POST, None) => parse_body(op.body, op.content_type)
            .and_then(|o| store.create(&r, ns, o))
            .map(Reply::Created),
        (&Method::PUT, Some(name)) => parse_body(op.body, op.content_type)
            .and_then(|o| store.update(&r, ns, name, o, target.is_status()))
            .map(Reply::Object),
        (&Method::PATCH, Some(name)) => patch(
            store,
            &r,
            target,
            name,
            op.content_type,
            op.body,
            op.manager.as_ref(),
        )
        .map(Reply::Object),
        (&Method::DELETE, Some(name)) => store
            .delete_with(&r, ns, name, &op.delete)
            .map(|deleted| Reply::Object(conversion::to_served(&r, deleted))),
        (&Method::DELETE, None) => delete_collection(store, &r, target, op.query, &op.delete),
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )),
    }
}

/// An object in the encoding the client prefers: protobuf for built-in
/// kinds when it asks for it first, else JSON.
fn object_response(code: StatusCode, object: &Value, accept: &str) -> Response {
    if protobuf::preferred(accept)
        && let Some(bytes) = protobuf::encode(object)
    {
        return (code, [(header::CONTENT_TYPE, protobuf::MEDIA_TYPE)], bytes).into_response();
    }
    json_response(code, object)
}

/// Runs after the lock is released: serialisation of a large list or table
/// never holds up other requests.
fn render(reply: Reply, accept: &str, query: &HashMap<String, String>) -> Response {
    let include = match table::IncludeObject::requested(accept, query) {
        Ok(include) => include,
        Err(e) => return error(&e),
    };
    match reply {
        Reply::Created(object) => object_response(StatusCode::CREATED, &object, accept),
        Reply::TokenFor { request, .. } => object_response(StatusCode::CREATED, &request, accept),
        Reply::Object(object) => object_response(StatusCode::OK, &object, accept),
        Reply::Text(text) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], text).into_response()
        }
        Reply::Got { resource, object } => {
            if let Some(include) = include {
                json_response(
                    StatusCode::OK,
                    &table::object_table(&resource, object, include),
                )
            } else {
                object_response(StatusCode::OK, &object, accept)
            }
        }
        Reply::Listed { resource, page } => {
            let mut metadata = json!({"resourceVersion": page.rv.to_string()});
            if let Some(token) = page.continue_token {
                metadata["continue"] = json!(token);
                if let Some(remaining) = page.remaining {
                    metadata["remainingItemCount"] = json!(remaining);
                }
            }
            if let Some(include) = include {
                return json_response(
                    StatusCode::OK,
                    &table::table(&resource, &page.items, metadata, include),
                );
            }
            object_response(
                StatusCode::OK,
                &json!({"kind": format!("{}List", resource.kind), "apiVersion": resource.group_version(), "metadata": metadata, "items": page.items}),
                accept,
            )
        }
    }
}

fn parse_body(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    if protobuf::is_protobuf(content_type) {
        return protobuf::decode(body).map_err(|e| match e {
            protobuf::DecodeError::Malformed(problem) => ApiError::new(400, "BadRequest", problem),
            protobuf::DecodeError::NoMessage(_) => {
                unsupported_media_type("application/json, application/yaml")
            }
            unsupported @ protobuf::DecodeError::Unsupported { .. } => {
                ApiError::new(415, "UnsupportedMediaType", unsupported.to_string())
            }
        });
    }
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

pub(super) fn selectors(
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
    r: Resource,
    target: &Target,
    query: &HashMap<String, String>,
) -> Result<(Resource, Page), ApiError> {
    list_options::validate(query, false)?;
    let (labels, fields) = selectors(&r, query)?;
    list_options::servable(query, store.resource_version())?;
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
    let limit: usize = super::params::integer(query, "limit")?
        .filter(|l| *l > 0)
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(usize::MAX);
    // `ObjectStore` keeps a resource's objects in (namespace, name) order:
    // the position a token resumes after.
    let (items, remaining) = store.list_page(
        &r,
        &target.namespace,
        &labels,
        &fields,
        after
            .as_ref()
            .map(|(ns, name)| (ns.as_str(), name.as_str())),
        limit,
    );
    let continue_token = items.last().filter(|_| remaining > 0).map(|last| {
        let (namespace, name) = object_position(last);
        format!("{rv}/{namespace}/{name}")
    });
    Ok((
        r,
        Page {
            items,
            rv,
            continue_token,
            remaining: (labels.is_empty() && fields.is_empty()).then_some(remaining),
        },
    ))
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

/// Server-side apply: the manager's configuration merged in, field
/// ownership checked and recorded (`managed.rs`).
fn server_side_apply(
    store: &mut ObjectStore,
    r: &Resource,
    target: &Target,
    name: &str,
    manager: Option<&Manager>,
    mut config: Value,
) -> Result<Value, ApiError> {
    let Some(manager) = manager.filter(|m| !m.name.is_empty()) else {
        return Err(ApiError::new(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    };
    let ns = target.namespace.as_str();
    if config.pointer("/metadata/name").is_none() {
        config["metadata"]["name"] = json!(name);
    }
    let current = match store.get(r, ns, name).map(|o| conversion::to_served(r, o)) {
        Ok(o) => Some(o),
        Err(e) if e.code == 404 => None,
        Err(e) => return Err(e),
    };
    let now = store.now();
    let shape = super::list_types::Shape::of(r);
    let mut next = managed::apply(current.as_ref(), &config, shape, manager, &now)?;
    match current {
        None => store.create(r, ns, next),
        Some(_) => {
            if let Some(m) = next["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
            store.update(r, ns, name, next, target.is_status())
        }
    }
}

/// `<kind>/scale` (Deployments, custom resources whose CRD enables it):
/// read, replaced, or patched (merge, strategic — a Scale has no lists —
/// or JSON patch) as a Scale.
fn scale(
    store: &mut ObjectStore,
    r: &Resource,
    op: &Operation<'_>,
    name: &str,
) -> Result<Value, ApiError> {
    let ns = op.target.namespace.as_str();
    let current = super::scale::of(r, &store.get(r, ns, name)?);
    let next = match *op.method {
        Method::GET => return Ok(current),
        Method::PUT => parse_body(op.body, op.content_type)?,
        Method::PATCH => {
            let mut next = current;
            // A patch names a resourceVersion only if it sets one.
            next["metadata"]["resourceVersion"] = Value::Null;
            if op.content_type.starts_with("application/json-patch+json") {
                let ops = parse_json_patch(op.body)?;
                apply_json_patch(&mut next, ops)?;
            } else {
                kbind_model::patch::merge_patch(&mut next, &parse_body(op.body, op.content_type)?);
            }
            next
        }
        _ => {
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            ));
        }
    };
    super::scale::write(store, r, ns, name, &next)
}

fn parse_json_patch(body: &[u8]) -> Result<json_patch::Patch, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(400, "BadRequest", format!("invalid JSON patch: {e}")))
}

/// A JSON patch applied as Kubernetes applies it: a `test` of a missing
/// path against null passes (kube-rs's finalizer helper relies on it).
fn apply_json_patch(target: &mut Value, ops: json_patch::Patch) -> Result<(), ApiError> {
    let ops = json_patch::Patch(
        ops.0
            .into_iter()
            .filter(|op| match op {
                json_patch::PatchOperation::Test(t) => {
                    !(t.value.is_null() && target.pointer(t.path.as_str()).is_none())
                }
                _ => true,
            })
            .collect(),
    );
    json_patch::patch(target, &ops)
        .map_err(|e| ApiError::new(422, "Invalid", format!("JSON patch failed: {e}")))
}

fn patch(
    store: &mut ObjectStore,
    r: &Resource,
    target: &Target,
    name: &str,
    content_type: &str,
    body: &[u8],
    manager: Option<&Manager>,
) -> Result<Value, ApiError> {
    let ns = target.namespace.as_str();
    if content_type.starts_with("application/json-patch+json") {
        let ops = parse_json_patch(body)?;
        return store.patch(r, ns, name, target.is_status(), |o| {
            apply_json_patch(o, ops)
        });
    }
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let strategic = media == "application/strategic-merge-patch+json";
    let known = [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ];
    if (strategic && r.crd.is_some()) || (!strategic && !known.contains(&media)) {
        // Custom resources have no patch strategies to merge by.
        let accepted = if r.crd.is_some() {
            known.join(", ")
        } else {
            format!(
                "{}, application/strategic-merge-patch+json",
                known.join(", ")
            )
        };
        return Err(unsupported_media_type(&accepted));
    }
    let patch = parse_body(body, content_type)?;
    if strategic {
        return store.patch(r, ns, name, target.is_status(), |o| {
            strategic::apply(o, &patch, super::list_types::Shape::of(r));
            Ok(())
        });
    }
    if content_type.starts_with("application/apply-patch") {
        return server_side_apply(store, r, target, name, manager, patch);
    }
    store.merge(r, ns, name, &patch, target.is_status())
}

fn delete_collection(
    store: &mut ObjectStore,
    r: &Resource,
    target: &Target,
    query: &HashMap<String, String>,
    options: &DeleteOptions,
) -> Result<Reply, ApiError> {
    let (labels, fields) = selectors(r, query)?;
    let items = store.list(r, &target.namespace, &labels, &fields);
    for item in &items {
        let (ns, name) = object_position(item);
        store.delete_with(r, ns, name, options)?;
    }
    Ok(Reply::Object(
        json!({"kind": format!("{}List", r.kind), "apiVersion": r.group_version(), "metadata": {}, "items": items}),
    ))
}
