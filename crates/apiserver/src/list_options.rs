//! `resourceVersion`, `resourceVersionMatch`, `continue` and
//! `sendInitialEvents` on lists and watches: apimachinery's
//! `ValidateListOptions` (422 on `ListOptions.meta.k8s.io`), and which state
//! a list may be served from.

use std::collections::HashMap;

use super::error::ApiError;
use super::validation::{ErrorKind, FieldError};

fn forbidden(detail: &str) -> FieldError {
    FieldError::forbidden("resourceVersionMatch", detail)
}

fn not_supported(value: &str, allowed: &[&str]) -> FieldError {
    FieldError::invalid("resourceVersionMatch", value, "").with_kind(ErrorKind::NotSupported(
        allowed.iter().map(|a| a.to_string()).collect(),
    ))
}

/// The parameter codec's decoding of `ListOptions` (400 on a malformed
/// number), then `ValidateListOptions` with the WatchList feature on (kbind
/// serves streaming lists).
pub fn validate(query: &HashMap<String, String>, watch: bool) -> Result<(), ApiError> {
    for key in ["limit", "timeoutSeconds"] {
        super::params::integer(query, key)?;
    }
    let get = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
    let matching = get("resourceVersionMatch");
    let continuing = !get("continue").is_empty();
    let initial_events = query.contains_key("sendInitialEvents");
    let mut errs = vec![];
    if watch {
        if initial_events && matching != "NotOlderThan" {
            errs.push(forbidden(
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if !matching.is_empty() {
            if !initial_events {
                errs.push(forbidden(
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                ));
            }
            if matching != "NotOlderThan" {
                errs.push(not_supported(matching, &["NotOlderThan"]));
            }
            if continuing {
                errs.push(forbidden(
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
        }
    } else {
        if !matching.is_empty() {
            if get("resourceVersion").is_empty() {
                errs.push(forbidden(
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            if continuing {
                errs.push(forbidden(
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
            if matching != "Exact" && matching != "NotOlderThan" {
                errs.push(not_supported(matching, &["Exact", "NotOlderThan", ""]));
            }
            if matching == "Exact" && get("resourceVersion") == "0" {
                errs.push(forbidden(
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
        }
        if initial_events {
            errs.push(FieldError::forbidden(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for list",
            ));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_kind(
            "ListOptions",
            "meta.k8s.io",
            "",
            errs,
        ))
    }
}

/// Whether a list asking for `resourceVersion` (and a match) can be served
/// from the current state at `current`. kbind keeps no history of whole
/// states, so an `Exact` list of an older version gets the 410 a real
/// server gives once etcd has compacted it; a version from the future gets
/// the real server's "Too large resource version" (after no wait: nothing
/// else writes here while a request is held).
pub fn servable(query: &HashMap<String, String>, current: u64) -> Result<(), ApiError> {
    let Some(asked) = query
        .get("resourceVersion")
        .filter(|v| !v.is_empty() && query.get("continue").is_none_or(|c| c.is_empty()))
    else {
        return Ok(());
    };
    let Ok(asked) = asked.parse::<u64>() else {
        return Err(ApiError::new(
            400,
            "BadRequest",
            format!("invalid resource version \"{asked}\""),
        ));
    };
    let exact = query
        .get("resourceVersionMatch")
        .is_some_and(|m| m == "Exact");
    if asked > current {
        return Err(ApiError::new(
            504,
            "Timeout",
            format!("Timeout: Too large resource version: {asked}, current: {current}"),
        ));
    }
    if exact && asked < current {
        return Err(ApiError::new(
            410,
            "Expired",
            format!("too old resource version: {asked} ({current})"),
        ));
    }
    Ok(())
}
