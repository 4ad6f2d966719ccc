//! Watches: the initial events (a snapshot or the history since a
//! resourceVersion) taken in one store access, then the live changes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::handler::{Target, error, selectors};
use super::registry::Resource;
use super::state::{ApiError, Change};
use super::{SharedState, conversion, table};

/// How long a kind's watches outlive a change of its CRD's spec
/// (`crdHandler.tearDown`'s sleep).
const STORAGE_TEARDOWN: Duration = Duration::from_secs(1);

/// Written around the object rather than through a `json!` tree, which
/// would copy it once more for every watch it goes to.
fn event_line(type_: &str, object: &Value) -> Bytes {
    Bytes::from(format!(
        "{{\"type\":{},\"object\":{object}}}\n",
        Value::from(type_)
    ))
}

/// What a watch starts from, copied out of the store under its lock.
struct Start {
    resource: Resource,
    /// `None`: the resourceVersion asked for is gone (410).
    initial: Option<Vec<Arc<Change>>>,
    receiver: broadcast::Receiver<Arc<Change>>,
    current_rv: u64,
}

pub(super) async fn serve(
    shared: SharedState,
    target: Target,
    query: HashMap<String, String>,
    accept: &str,
    audit_as: &str,
    verb: &str,
    identity: super::rbac::Identity,
) -> Response {
    if let Err(e) = super::list_options::validate(&query, true) {
        return error(&e);
    }
    let include = match table::IncludeObject::requested(accept, &query) {
        Ok(include) => include,
        Err(e) => return error(&e),
    };
    let timeout = super::params::integer(&query, "timeoutSeconds")
        .ok()
        .flatten()
        .map_or(Duration::from_secs(1800), |t| {
            Duration::from_secs(t.max(0).unsigned_abs())
        });
    let bookmarks = super::params::flag(&query, "allowWatchBookmarks");
    // Streaming lists (`sendInitialEvents=true`): the current state as ADDED
    // events whatever the resourceVersion, then the end-of-initial-events
    // bookmark.
    let streaming_list = super::params::flag(&query, "sendInitialEvents");
    let since: Option<u64> = query
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0 && !streaming_list);
    let namespace = target.namespace.clone();
    // The one store access: the subscription and what happened so far,
    // together, so nothing falls between them.
    let start = shared.with_store(|store| {
        let resource = store
            .resource(&target.group, &target.version, &target.plural)
            .cloned()?;
        if !super::rbac::allowed(store, &identity, &target.attributes(verb)) {
            return Some(Err(super::rbac::forbidden(
                &identity,
                &target.attributes(verb),
            )));
        }
        let receiver = store.changes.subscribe();
        let initial = match since {
            None => Some(store.snapshot(&resource, &namespace)),
            Some(rv) => store.changes_since(&resource, rv),
        };
        Some(Ok(Start {
            resource,
            initial,
            receiver,
            current_rv: store.resource_version(),
        }))
    });
    let start = match start {
        Some(Err(e)) => {
            shared.audit(audit_as, verb, &target);
            return error(&e);
        }
        Some(Ok(start)) => Some(start),
        None => None,
    };
    let Some(Start {
        resource: r,
        initial,
        mut receiver,
        current_rv,
    }) = start
    else {
        return error(&ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    };
    shared.audit(audit_as, verb, &target);
    let (labels, fields) = match selectors(&r, &query) {
        Ok(s) => s,
        Err(e) => return error(&e),
    };
    // A change as this watch sees it: at its version, if it selects it.
    let view = {
        let (r, namespace) = (r.clone(), namespace.clone());
        move |c: &Change| -> Option<Bytes> {
            if c.group != r.group
                || c.plural != r.plural
                || !(namespace.is_empty() || c.namespace == namespace)
            {
                return None;
            }
            let object = conversion::served(&r, &c.object);
            if !(labels.matches(&object) && fields.matches(&object)) {
                return None;
            }
            Some(match include {
                Some(include) => event_line(
                    c.type_,
                    &table::object_table(&r, object.into_owned(), include),
                ),
                None => event_line(c.type_, &object),
            })
        }
    };
    let mut initial: Vec<Bytes> = match initial {
        Some(changes) => changes.iter().filter_map(|c| view(c)).collect(),
        None => {
            let gone = ApiError::new(410, "Expired", "too old resource version");
            vec![event_line("ERROR", &gone.status())]
        }
    };
    if streaming_list {
        let mark = json!({
            "kind": r.kind, "apiVersion": r.group_version(),
            "metadata": {"resourceVersion": current_rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}},
        });
        initial.push(event_line("BOOKMARK", &mark));
    }
    let mut last_rv = since.unwrap_or(current_rv).max(current_rv);
    let mut dropped = shared.drop_watches.subscribe();
    let live = async_stream(move |tx| async move {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        // The real crdHandler tears a kind's old storage down a second
        // after its CRD's spec changed (`tearDown` sleeps, then waits for
        // short requests to drain); only then do its watches end. Clients
        // see the old schema's objects for that long.
        let mut teardown: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                _ = dropped.changed() => break,
                _ = async { if let Some(t) = teardown.as_mut() { t.await } }, if teardown.is_some() => break,
                change = receiver.recv() => match change {
                    Ok(c) if c.type_ == super::state::STORAGE_RESET => {
                        if c.group == r.group && c.plural == r.plural && teardown.is_none() {
                            teardown = Some(Box::pin(tokio::time::sleep(STORAGE_TEARDOWN)));
                        }
                    }
                    Ok(c) => {
                        if c.rv <= last_rv { continue; }
                        let Some(line) = view(&c) else { continue };
                        last_rv = c.rv;
                        if tx.send(line).await.is_err() { break; }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let gone = ApiError::new(410, "Expired", "watch fell behind; relist");
                        let _ = tx.send(event_line("ERROR", &gone.status())).await;
                        break;
                    }
                    Err(_) => break,
                },
                _ = tokio::time::sleep(Duration::from_secs(30)), if bookmarks => {
                    let mark = json!({"kind": r.kind, "apiVersion": r.group_version(), "metadata": {"resourceVersion": last_rv.to_string()}});
                    if tx.send(event_line("BOOKMARK", &mark)).await.is_err() { break; }
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
