//! `wasi:http` with nothing behind it. componentize-js links `wasi:http` by
//! default (its `fetch`), so a policy built with default settings imports
//! it; kbind serves it so that such a policy loads, and refuses every
//! request at once: nothing leaves the process, and no request ever waits.

use std::future::Future;

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, RequestOptions, Scheme};
use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, HostOutgoingRequest};
use wasmtime_wasi_http::{WasiBody, WasiHttpHooks};

use super::state::State;

/// The `wasi:http` version wasmtime-wasi-http registers; older 0.2.x
/// imports resolve to it.
const OUTGOING_HANDLER: &str = "wasi:http/outgoing-handler@0.2.12";

/// Hooks that refuse to send anything.
pub(crate) struct DenyAll;

type Sent = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for DenyAll {
    // Not reached: `handle` is replaced by `deny_outgoing` below. Kept
    // refusing in case a future wasmtime sends through another path.
    fn send_request(
        &mut self,
        _request: http::Request<WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Sent {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

/// Links `wasi:http` and replaces `outgoing-handler.handle` with one that
/// answers `HTTP-request-denied` without building or spawning a request.
pub(crate) fn add_deny_all(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    let mut handler = linker.instance(OUTGOING_HANDLER)?;
    handler.func_wrap(
        "handle",
        |mut store: wasmtime::StoreContextMut<'_, State>,
         (request, _options): (
            Resource<HostOutgoingRequest>,
            Option<Resource<RequestOptions>>,
        )|
         -> wasmtime::Result<(Result<Resource<HostFutureIncomingResponse>, ErrorCode>,)> {
            let request = store.data_mut().table.delete(request)?;
            // Runtimes report the refusal to the policy as a generic host
            // error (componentize-js: "An error occurred while using the
            // host API"); the log is where its author learns what happened.
            let scheme = match &request.scheme {
                Some(Scheme::Http) => "http",
                // No scheme is HTTPS, wasmtime-wasi-http's default.
                Some(Scheme::Https) | None => "https",
                Some(Scheme::Other(other)) => other.as_str(),
            };
            let url = format!(
                "{scheme}://{}{}",
                request.authority.as_deref().unwrap_or_default(),
                request.path_with_query.as_deref().unwrap_or("/"),
            );
            store.data_mut().refused_http(&url);
            Ok((Err(ErrorCode::HttpRequestDenied),))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
