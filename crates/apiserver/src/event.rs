//! `ValidateEventCreate`: what a real server checks of an Event, core/v1 and
//! events.k8s.io/v1 alike (both decode to one internal type, so the paths
//! name its fields: `involvedObject`, `message`, `reportingController`).
//! A core/v1 Event gets the legacy checks only; an events.k8s.io/v1 Event
//! also the strict ones.

use serde_json::Value;

use super::validation::{self, FieldError};

const REPORTING_INSTANCE_LENGTH_LIMIT: usize = 128;
const ACTION_LENGTH_LIMIT: usize = 128;
const REASON_LENGTH_LIMIT: usize = 128;
const NOTE_LENGTH_LIMIT: usize = 1024;

/// The internal Event's fields, read from either version's JSON.
struct Fields<'a> {
    namespace: &'a str,
    involved_namespace: &'a str,
    event_time: bool,
    reporting_controller: &'a str,
    reporting_instance: &'a str,
    action: &'a str,
    reason: &'a str,
    message: &'a str,
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn fields(object: &Value, core: bool) -> Fields<'_> {
    let (involved, controller, message) = if core {
        (
            "/involvedObject/namespace",
            "/reportingComponent",
            "/message",
        )
    } else {
        ("/regarding/namespace", "/reportingController", "/note")
    };
    Fields {
        namespace: text(object, "/metadata/namespace"),
        involved_namespace: text(object, involved),
        event_time: object.get("eventTime").is_some_and(|t| !t.is_null()),
        reporting_controller: text(object, controller),
        reporting_instance: text(object, "/reportingInstance"),
        action: text(object, "/action"),
        reason: text(object, "/reason"),
        message: text(object, message),
    }
}

fn too_many(field: &str, limit: usize) -> FieldError {
    FieldError::invalid(field, "", format!("can have at most {limit} characters"))
}

/// `legacyValidateEvent`: an Event without `eventTime` (what client-go's
/// core recorder and kbind write) must live in its object's namespace, or
/// in `default` for a cluster-scoped one; one with `eventTime` must say who
/// reported it, what was done and why, within the length limits.
fn legacy(e: &Fields<'_>, core: bool) -> Vec<FieldError> {
    let mut errs = vec![];
    let mismatch = || {
        FieldError::invalid(
            "involvedObject.namespace",
            e.involved_namespace,
            "does not match event.namespace",
        )
    };
    if !e.event_time {
        let agrees = if e.involved_namespace.is_empty() {
            e.namespace.is_empty() || e.namespace == "default"
        } else {
            e.namespace == e.involved_namespace
        };
        if !agrees {
            errs.push(mismatch());
        }
    } else {
        if e.involved_namespace.is_empty() && !["default", "kube-system"].contains(&e.namespace) {
            errs.push(mismatch());
        }
        let controller = if core {
            "reportingComponent"
        } else {
            "reportingController"
        };
        if e.reporting_controller.is_empty() {
            errs.push(FieldError::required(controller, ""));
        }
        for msg in validation::qualified_name(e.reporting_controller) {
            errs.push(FieldError::invalid(controller, e.reporting_controller, msg));
        }
        for (field, value, limit) in [
            (
                "reportingInstance",
                e.reporting_instance,
                REPORTING_INSTANCE_LENGTH_LIMIT,
            ),
            ("action", e.action, ACTION_LENGTH_LIMIT),
            ("reason", e.reason, REASON_LENGTH_LIMIT),
        ] {
            if value.is_empty() {
                errs.push(FieldError::required(field, ""));
            }
            if value.len() > limit {
                errs.push(too_many(field, limit));
            }
        }
        if e.message.len() > NOTE_LENGTH_LIMIT {
            errs.push(too_many("message", NOTE_LENGTH_LIMIT));
        }
    }
    for msg in validation::dns1123_subdomain(e.namespace) {
        errs.push(FieldError::invalid("namespace", e.namespace, msg));
    }
    errs
}

/// The strict checks of an events.k8s.io/v1 create: `eventTime` set, a known
/// type, a series of at least 2, and none of the core-only fields.
fn strict(object: &Value) -> Vec<FieldError> {
    let mut errs = vec![];
    if let Some(series) = object.get("series").filter(|s| !s.is_null()) {
        if series["count"].as_i64().unwrap_or_default() < 2 {
            errs.push(FieldError::invalid(
                "series.count",
                "",
                "should be at least 2",
            ));
        }
        if series["lastObservedTime"].is_null() {
            errs.push(FieldError::required("series.lastObservedTime", ""));
        }
    }
    if object.get("eventTime").is_none_or(Value::is_null) {
        errs.push(FieldError::required("eventTime", ""));
    }
    let type_ = text(object, "/type");
    if type_ != "Normal" && type_ != "Warning" {
        errs.push(FieldError::invalid(
            "type",
            "",
            format!("has invalid value: {type_}"),
        ));
    }
    for (json, field) in [
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
    ] {
        if object.get(json).is_some_and(|t| !t.is_null()) {
            errs.push(FieldError::invalid(field, "", "needs to be unset"));
        }
    }
    if object["deprecatedCount"].as_i64().is_some_and(|c| c != 0) {
        errs.push(FieldError::invalid("count", "", "needs to be unset"));
    }
    let source = &object["deprecatedSource"];
    if ["component", "host"]
        .iter()
        .any(|f| source[f].as_str().is_some_and(|v| !v.is_empty()))
    {
        errs.push(FieldError::invalid("source", "", "needs to be unset"));
    }
    errs
}

/// What every write of an Event through `group`'s API is held to.
pub fn validate(group: &str, object: &Value) -> Vec<FieldError> {
    let core = group.is_empty();
    legacy(&fields(object, core), core)
}

/// What only a create through events.k8s.io is also held to.
pub fn validate_create(group: &str, object: &Value) -> Vec<FieldError> {
    if group.is_empty() {
        vec![]
    } else {
        strict(object)
    }
}
