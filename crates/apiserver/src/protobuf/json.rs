//! The JSON form of a protobuf message, declared once per message with
//! [`json_message!`], and the JSON forms of the scalars and wrappers those
//! messages are made of.
//!
//! Every declaration names every field of its message (the macro
//! destructures the message without `..`, so a field added to k8s-pb is a
//! compile error here, not a field silently dropped). Fields kbind does
//! not translate are declared `unsupported`: a request that sets one is
//! refused rather than stored without it, and an object holding one is
//! answered as JSON.

use std::collections::BTreeMap;

use base64::Engine;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

pub(super) trait Json: Sized {
    fn to_json(&self) -> Value;
    /// None when `v` cannot be carried by the message: a wrong type, or a
    /// key the message has no field for (or one kbind does not translate).
    fn from_json(v: &Value) -> Option<Self>;
    /// Left out of a message's JSON even though its JSON is not a zero
    /// value (an empty map is `{}`, which a nested message keeps).
    fn omitted(&self) -> bool {
        false
    }
    /// The JSON path of the first field that is set but that kbind does not
    /// translate.
    fn unsupported(&self) -> Option<String> {
        None
    }
    /// Written even when its JSON is a zero value (a schema's `default:
    /// false`, `additionalProperties: false`).
    fn always_kept(&self) -> bool {
        false
    }
}

macro_rules! scalar {
    ($ty:ty, $read:expr) => {
        impl Json for $ty {
            fn to_json(&self) -> Value {
                json!(self)
            }
            fn from_json(v: &Value) -> Option<Self> {
                $read(v)
            }
        }
    };
}

scalar!(String, |v: &Value| v.as_str().map(str::to_string));
scalar!(bool, Value::as_bool);
scalar!(i64, Value::as_i64);
scalar!(i32, |v: &Value| v
    .as_i64()
    .and_then(|n| i32::try_from(n).ok()));

/// The only `double` fields of the Kubernetes messages are a schema's
/// `maximum`, `minimum` and `multipleOf`, `*float64` in Go: a set 0 is sent
/// and kept (`minimum: 0`, which schemars writes for every unsigned field),
/// where a non-pointer zero would be left out.
impl Json for f64 {
    fn to_json(&self) -> Value {
        json!(self)
    }
    fn from_json(v: &Value) -> Option<Self> {
        v.as_f64()
    }
    fn always_kept(&self) -> bool {
        true
    }
}

/// `bytes` fields are base64 in JSON (Secret data, ConfigMap binaryData).
impl Json for Vec<u8> {
    fn to_json(&self) -> Value {
        json!(base64::engine::general_purpose::STANDARD.encode(self))
    }
    fn from_json(v: &Value) -> Option<Self> {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str()?)
            .ok()
    }
}

impl<T: Json> Json for Option<T> {
    fn to_json(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_json)
    }
    fn from_json(v: &Value) -> Option<Self> {
        if v.is_null() {
            Some(None)
        } else {
            T::from_json(v).map(Some)
        }
    }
    fn unsupported(&self) -> Option<String> {
        self.as_ref().and_then(T::unsupported)
    }
    fn always_kept(&self) -> bool {
        self.as_ref().is_some_and(T::always_kept)
    }
}

/// Recursive messages (a schema's `items`, `not` …) are boxed.
impl<T: Json> Json for Box<T> {
    fn to_json(&self) -> Value {
        (**self).to_json()
    }
    fn from_json(v: &Value) -> Option<Self> {
        T::from_json(v).map(Box::new)
    }
    fn unsupported(&self) -> Option<String> {
        (**self).unsupported()
    }
    fn always_kept(&self) -> bool {
        (**self).always_kept()
    }
}

impl<T: Json> Json for Vec<T> {
    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(T::to_json).collect())
    }
    fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(Vec::new()),
            Value::Array(items) => items.iter().map(T::from_json).collect(),
            _ => None,
        }
    }
    fn unsupported(&self) -> Option<String> {
        self.iter()
            .enumerate()
            .find_map(|(i, item)| Some(format!("[{i}]{}", item.unsupported()?)))
    }
}

impl<T: Json> Json for BTreeMap<String, T> {
    /// Maps are `omitempty` everywhere in the API.
    fn omitted(&self) -> bool {
        self.is_empty()
    }
    fn to_json(&self) -> Value {
        Value::Object(self.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
    }
    fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(BTreeMap::new()),
            Value::Object(entries) => entries
                .iter()
                .map(|(k, v)| Some((k.clone(), T::from_json(v)?)))
                .collect(),
            _ => None,
        }
    }
}

fn rfc3339(seconds: i64, nanos: Option<u32>) -> Value {
    let Ok(seconds) = u64::try_from(seconds) else {
        return Value::Null;
    };
    if seconds == 0 {
        return Value::Null;
    }
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(seconds, nanos.unwrap_or(0));
    json!(match nanos {
        None => humantime::format_rfc3339_seconds(t).to_string(),
        Some(_) => humantime::format_rfc3339_micros(t).to_string(),
    })
}

fn parse_rfc3339(v: &Value) -> Option<std::time::Duration> {
    let t = humantime::parse_rfc3339_weak(v.as_str()?).ok()?;
    t.duration_since(std::time::UNIX_EPOCH).ok()
}

/// `metav1.Time`: RFC 3339 at second precision; the zero time is null.
impl Json for meta::Time {
    fn to_json(&self) -> Value {
        rfc3339(self.seconds.unwrap_or(0), None)
    }
    fn from_json(v: &Value) -> Option<Self> {
        let since = parse_rfc3339(v)?;
        Some(Self {
            seconds: Some(since.as_secs() as i64),
            nanos: Some(0),
        })
    }
}

/// `metav1.MicroTime` (Leases, Events): RFC 3339 with microseconds.
impl Json for meta::MicroTime {
    fn to_json(&self) -> Value {
        let nanos = self.nanos.unwrap_or(0).max(0) as u32;
        rfc3339(self.seconds.unwrap_or(0), Some(nanos - nanos % 1000))
    }
    fn from_json(v: &Value) -> Option<Self> {
        let since = parse_rfc3339(v)?;
        Some(Self {
            seconds: Some(since.as_secs() as i64),
            nanos: Some(since.subsec_micros() as i32 * 1000),
        })
    }
}

/// `resource.Quantity` is its string in JSON (`"500m"`).
impl Json for Quantity {
    fn to_json(&self) -> Value {
        self.string.to_json()
    }
    fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            string: Some(v.as_str()?.to_string()),
        })
    }
}

/// `intstr.IntOrString` is its integer or its string in JSON
/// (`maxSurge: 1`, `maxSurge: "25%"`).
impl Json for IntOrString {
    fn to_json(&self) -> Value {
        match self.r#type {
            Some(1) => json!(self.str_val.clone().unwrap_or_default()),
            _ => json!(self.int_val.unwrap_or(0)),
        }
    }
    fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::String(s) => Some(Self {
                r#type: Some(1),
                int_val: None,
                str_val: Some(s.clone()),
            }),
            other => Some(Self {
                r#type: Some(0),
                int_val: Some(i32::try_from(other.as_i64()?).ok()?),
                str_val: None,
            }),
        }
    }
    // `maxUnavailable: 0` is a value, not an absent one.
    fn always_kept(&self) -> bool {
        true
    }
}

/// `metav1.FieldsV1` carries managedFields' field set as JSON bytes; its
/// JSON form is that JSON, inline.
impl Json for meta::FieldsV1 {
    fn to_json(&self) -> Value {
        inline_json(self.raw.as_deref())
    }
    fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            raw: Some(raw_json(v)?),
        })
    }
}

/// Raw JSON bytes a message carries (`FieldsV1`, apiextensions' `JSON`) as
/// the JSON they hold, inline.
pub(super) fn inline_json(raw: Option<&[u8]>) -> Value {
    raw.and_then(|raw| serde_json::from_slice(raw).ok())
        .unwrap_or(Value::Null)
}

/// The other way: JSON written as the bytes a message carries.
pub(super) fn raw_json(v: &Value) -> Option<Vec<u8>> {
    serde_json::to_vec(v).ok()
}

pub(super) fn is_set<T: Default + PartialEq>(v: &T) -> bool {
    *v != T::default()
}

pub(super) fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(a) => a.is_empty(),
        Value::Object(_) => false,
    }
}

/// A message's JSON form, one `field: "jsonName"` per field, then the
/// fields kbind does not translate. Messages keep nested messages even
/// when empty (`spec: {}`), as Go's encoding does. Fields listed under
/// `kept` are Go pointers: a zero that was sent (`replicas: 0`) is kept,
/// where a plain field's zero is left out as `omitempty` leaves it.
macro_rules! json_message {
    ($ty:ty { $($field:ident : $key:literal),* $(,)? }) => {
        json_message!($ty { $($field: $key),* } kept {} unsupported {});
    };
    ($ty:ty { $($field:ident : $key:literal),* $(,)? }
     unsupported { $($skipped:ident : $skipped_key:literal),* $(,)? }) => {
        json_message!($ty { $($field: $key),* } kept {} unsupported { $($skipped: $skipped_key),* });
    };
    ($ty:ty { $($field:ident : $key:literal),* $(,)? }
     kept { $($kept:ident : $kept_key:literal),* $(,)? }
     unsupported { $($skipped:ident : $skipped_key:literal),* $(,)? }) => {
        impl $crate::protobuf::json::Json for $ty {
            fn to_json(&self) -> serde_json::Value {
                let Self { $($field,)* $($kept,)* $($skipped: _,)* } = self;
                let mut out = serde_json::Map::new();
                $(
                    let v = $field.to_json();
                    if ($field.always_kept() || !$crate::protobuf::json::is_zero(&v)) && !$field.omitted() {
                        out.insert($key.to_string(), v);
                    }
                )*
                $(
                    if let Some(k) = $kept {
                        out.insert($kept_key.to_string(), k.to_json());
                    }
                )*
                serde_json::Value::Object(out)
            }
            fn from_json(v: &serde_json::Value) -> Option<Self> {
                const KEYS: &[&str] = &[$($key,)* $($kept_key),*];
                let object = v.as_object()?;
                if object.keys().any(|k| !KEYS.contains(&k.as_str())) {
                    return None;
                }
                let mut m = <$ty>::default();
                $(
                    if let Some(field) = object.get($key) {
                        m.$field = Json::from_json(field)?;
                    }
                )*
                $(
                    if let Some(field) = object.get($kept_key) {
                        m.$kept = Json::from_json(field)?;
                    }
                )*
                Some(m)
            }
            fn unsupported(&self) -> Option<String> {
                $(
                    if $crate::protobuf::json::is_set(&self.$skipped) {
                        return Some(format!(".{}", $skipped_key));
                    }
                )*
                $(
                    if let Some(inner) = self.$field.unsupported() {
                        return Some(format!(".{}{inner}", $key));
                    }
                )*
                None
            }
        }
    };
}
pub(super) use json_message;
