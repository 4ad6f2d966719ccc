//! Decoding a request body as a real server does: a built-in kind through
//! its typed form (k8s-openapi), so fields the kind does not have are
//! dropped, and a custom resource pruned to its schema — with
//! `fieldValidation` deciding what happens to the dropped fields (`Strict`:
//! 400, `Warn`, the default: a `Warning` header, `Ignore`: nothing).

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::admission;
use super::registry::Resource;
use super::state::ApiError;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

impl FieldValidation {
    /// The directive a write asked for; `write_options` has refused any
    /// other value by then.
    pub fn from_query(value: Option<&str>) -> Self {
        match value {
            Some("Ignore") => Self::Ignore,
            Some("Strict") => Self::Strict,
            _ => Self::Warn,
        }
    }
}

/// Paths present in `before` and gone from `after` (nulls aside: they
/// decode to nothing on a real server too).
fn dropped(before: &Value, after: &Value, path: &str, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, v) in b {
                let at = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match a.get(k) {
                    None if !v.is_null() => out.push(at),
                    Some(next) => dropped(v, next, &at, out),
                    None => {}
                }
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            for (i, (v, next)) in b.iter().zip(a).enumerate() {
                dropped(v, next, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The 400 a real server answers for a body its decoder cannot read.
fn cannot_decode(r: &Resource, why: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        400,
        "BadRequest",
        format!(
            "{} in version \"{}\" cannot be handled as a {}: {why}",
            r.kind, r.version, r.kind
        ),
    )
}

fn typed<T: DeserializeOwned + Serialize>(r: &Resource, object: &Value) -> Result<Value, ApiError> {
    let parsed = T::deserialize(object).map_err(|e| cannot_decode(r, e))?;
    serde_json::to_value(parsed).map_err(|e| ApiError::new(500, "InternalError", e.to_string()))
}

/// metav1.MicroTime's layout: it parses with exactly this, so a time with
/// three fractional digits (or none) is refused, where k8s-openapi's
/// reading would take any RFC 3339 time.
const RFC3339_MICRO: &str = "2006-01-02T15:04:05.000000Z07:00";

/// The MicroTime fields of the built-in kinds kbind serves.
fn micro_time_fields(r: &Resource) -> &'static [&'static str] {
    match (r.group.as_str(), r.kind.as_str()) {
        ("", "Event") | ("events.k8s.io", "Event") => &["/eventTime", "/series/lastObservedTime"],
        ("coordination.k8s.io", "Lease") => &["/spec/acquireTime", "/spec/renewTime"],
        _ => &[],
    }
}

/// Where `text` stops matching [`RFC3339_MICRO`] (as Go's `time.Parse`
/// reports it: the rest of the value, and the layout element it failed),
/// or None when it matches.
fn micro_time_mismatch(text: &str) -> Option<(String, &'static str)> {
    let b = text.as_bytes();
    let digits = |from: usize, n: usize| {
        b.get(from..from + n)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let date_time = digits(0, 4)
        && b.get(4) == Some(&b'-')
        && digits(5, 2)
        && b.get(7) == Some(&b'-')
        && digits(8, 2)
        && b.get(10) == Some(&b'T')
        && digits(11, 2)
        && b.get(13) == Some(&b':')
        && digits(14, 2)
        && b.get(16) == Some(&b':')
        && digits(17, 2);
    if !date_time {
        // Not a time at all: the typed reading says so in its own words.
        return None;
    }
    let rest = &text[19..];
    if !(rest.starts_with('.') && digits(20, 6)) {
        return Some((rest.to_string(), ".000000"));
    }
    let zone = &text[26..];
    let zone_ok = zone == "Z"
        || (zone.len() == 6
            && matches!(zone.as_bytes()[0], b'+' | b'-')
            && digits(27, 2)
            && zone.as_bytes()[3] == b':'
            && digits(30, 2));
    (!zone_ok).then(|| (zone.to_string(), "Z07:00"))
}

/// A MicroTime field the real decoder refuses: the 400 it answers.
fn check_micro_times(r: &Resource, object: &Value) -> Result<(), ApiError> {
    for pointer in micro_time_fields(r) {
        let Some(text) = object.pointer(pointer).and_then(Value::as_str) else {
            continue;
        };
        if let Some((rest, element)) = micro_time_mismatch(text) {
            return Err(cannot_decode(
                r,
                format!(
                    "parsing time \"{text}\" as \"{RFC3339_MICRO}\": cannot parse \"{rest}\" as \"{element}\""
                ),
            ));
        }
    }
    Ok(())
}

/// The pod spec of a kind that carries one.
pub(super) fn pod_spec_pointer(r: &Resource) -> Option<&'static str> {
    match (r.group.as_str(), r.kind.as_str()) {
        ("", "Pod") => Some("/spec"),
        ("batch", "Job") | ("apps", "Deployment" | "ReplicaSet") => Some("/spec/template/spec"),
        _ => None,
    }
}

/// What `resource.Quantity`'s JSON decoding does to a pod spec's
/// quantities (containers' requests and limits, emptyDir size limits): a
/// number or a string in the quantity grammar is read, anything else is
/// the 400 the decoder answers, and what is kept is the canonical form
/// (`0.5` becomes `500m`).
fn canonical_quantities(r: &Resource, object: &mut Value) -> Result<(), ApiError> {
    let Some(spec) = pod_spec_pointer(r)
        .and_then(|p| object.pointer_mut(p))
        .and_then(Value::as_object_mut)
    else {
        return Ok(());
    };
    let mut result = Ok(());
    let mut canonical = |value: &mut Value| {
        let text = match &*value {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            // Null is no quantity; another type the typed decoding refuses
            // in its own words.
            _ => return,
        };
        match super::quantity::parse(&text) {
            Ok(q) => *value = Value::String(q.canonical()),
            Err(e) if result.is_ok() => result = Err(e),
            Err(_) => {}
        }
    };
    super::pod::for_each_container(spec, |c| {
        for bag in ["limits", "requests"] {
            for value in c
                .get_mut("resources")
                .and_then(|res| res.get_mut(bag))
                .and_then(Value::as_object_mut)
                .into_iter()
                .flat_map(|m| m.values_mut())
            {
                canonical(value);
            }
        }
    });
    for v in spec
        .get_mut("volumes")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(limit) = v.pointer_mut("/emptyDir/sizeLimit") {
            canonical(limit);
        }
    }
    result.map_err(|e| cannot_decode(r, e))
}

/// A built-in kind's typed round trip, where kbind knows the type.
fn typed_builtin(r: &Resource, object: &Value) -> Option<Result<Value, ApiError>> {
    if let Err(e) = check_micro_times(r, object) {
        return Some(Err(e));
    }
    use k8s_openapi::api::{apps, batch, coordination, core, events};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    Some(match (r.group.as_str(), r.kind.as_str()) {
        ("", "Namespace") => typed::<core::v1::Namespace>(r, object),
        ("", "ConfigMap") => typed::<core::v1::ConfigMap>(r, object),
        ("", "Secret") => typed::<core::v1::Secret>(r, object),
        ("", "ServiceAccount") => typed::<core::v1::ServiceAccount>(r, object),
        ("", "Event") => typed::<core::v1::Event>(r, object),
        ("events.k8s.io", "Event") => typed::<events::v1::Event>(r, object),
        ("coordination.k8s.io", "Lease") => typed::<coordination::v1::Lease>(r, object),
        ("batch", "Job") => typed::<batch::v1::Job>(r, object),
        ("apps", "Deployment") => typed::<apps::v1::Deployment>(r, object),
        ("apps", "ReplicaSet") => typed::<apps::v1::ReplicaSet>(r, object),
        ("", "Pod") => typed::<core::v1::Pod>(r, object),
        ("", "Node") => typed::<core::v1::Node>(r, object),
        ("", "Service") => typed::<core::v1::Service>(r, object),
        ("", "Endpoints") => typed::<core::v1::Endpoints>(r, object),
        ("discovery.k8s.io", "EndpointSlice") => {
            typed::<k8s_openapi::api::discovery::v1::EndpointSlice>(r, object)
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            typed::<apiextensions::CustomResourceDefinition>(r, object)
        }
        _ => return None,
    })
}

/// What Go's encoding of `ObjectMeta` leaves out (`omitempty`): an empty
/// list of finalizers or owner references, empty labels or annotations, an
/// empty generate-name. Custom resources' metadata goes through the same
/// type on a real server (apiextensions' `Coerce`), so a patch removing
/// the last finalizer leaves no `finalizers: []` behind on any kind.
pub fn omit_empty_metadata(object: &mut Value) {
    let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    meta.retain(|key, value| {
        let empty = match value {
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            Value::String(s) => s.is_empty(),
            Value::Null => true,
            _ => false,
        };
        !(empty
            && matches!(
                key.as_str(),
                "finalizers" | "ownerReferences" | "labels" | "annotations" | "generateName"
            ))
    });
}

/// Decodes `object` (already carrying its apiVersion and kind) for `r`;
/// returns the warnings to send back.
pub fn decode(
    r: &Resource,
    object: &mut Value,
    validation: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let mut unknown = vec![];
    if r.schema.is_none() {
        canonical_quantities(r, object)?;
    }
    if r.schema.is_some() {
        admission::decode_custom(r, object, &mut unknown);
    } else if let Some(decoded) = typed_builtin(r, object) {
        let decoded = decoded?;
        if validation != FieldValidation::Ignore {
            dropped(object, &decoded, "", &mut unknown);
        }
        *object = decoded;
        admission::default_builtin(r, object);
    }
    omit_empty_metadata(object);
    if validation == FieldValidation::Ignore {
        unknown.clear();
    }
    let messages: Vec<String> = unknown
        .iter()
        .map(|p| format!("unknown field \"{p}\""))
        .collect();
    match validation {
        FieldValidation::Strict if !messages.is_empty() => Err(cannot_decode(
            r,
            format!("strict decoding error: {}", messages.join(", ")),
        )),
        _ => Ok(messages),
    }
}
