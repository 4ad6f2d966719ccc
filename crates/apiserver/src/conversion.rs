//! A custom resource between the versions of its CRD, as a real server's
//! `None` conversion strategy moves it: only `apiVersion` changes, and the
//! schema of the version it moves to prunes what that version does not
//! specify (`schemaCoercingConverter`). Objects are written at the storage
//! version and read at the version a request names; reading from storage
//! applies the storage version's defaults, not the requested version's.
//! Conversion webhooks are not called: a CRD naming one is converted as
//! with `None`.

use std::borrow::Cow;

use serde_json::{Value, json};

use super::registry::{Resource, Storage};
use super::structural;

/// A stored object as a request at `r`'s version reads it.
pub fn served<'a>(r: &Resource, object: &'a Value) -> Cow<'a, Value> {
    if r.storage.is_none() || at_version(r, object["apiVersion"].as_str()) {
        return Cow::Borrowed(object);
    }
    let mut object = object.clone();
    move_to(r, &r.version, &mut object);
    Cow::Owned(object)
}

/// [`served`], for an object already owned.
pub fn to_served(r: &Resource, object: Value) -> Value {
    match served(r, &object) {
        Cow::Borrowed(_) => object,
        Cow::Owned(converted) => converted,
    }
}

/// What a write at `r`'s version stores: the object moved to the storage
/// version (what etcd would hold), then read back through that version's
/// defaults, in place. Returns the form written when reading it back
/// changed it.
pub fn to_storage(r: &Resource, object: &mut Value) -> Option<Value> {
    if !moves(r) {
        return None;
    }
    let storage = r.storage.as_ref()?;
    move_to(r, &storage.version, object);
    let schema = storage.schemas.get(&storage.version)?;
    let written = object.clone();
    structural::default(object, schema);
    (*object != written).then_some(written)
}

/// Whether a write at `r`'s version is stored at another one.
pub fn moves(r: &Resource) -> bool {
    r.storage
        .as_ref()
        .is_some_and(|s| !s.version.is_empty() && s.version != r.version)
}

/// What a write at `r`'s version of `object` stores (borrowed when it is
/// stored as it is).
pub fn stored<'a>(r: &Resource, object: &'a Value) -> Cow<'a, Value> {
    if !moves(r) {
        return Cow::Borrowed(object);
    }
    let mut object = object.clone();
    to_storage(r, &mut object);
    Cow::Owned(object)
}

/// Whether `api_version` is `r`'s group and version (asked of every object
/// a list or watch hands out: no allocation).
fn at_version(r: &Resource, api_version: Option<&str>) -> bool {
    let Some(api_version) = api_version else {
        return false;
    };
    if r.group.is_empty() {
        return api_version == r.version;
    }
    api_version
        .strip_prefix(r.group.as_str())
        .and_then(|rest| rest.strip_prefix('/'))
        == Some(r.version.as_str())
}

fn move_to(r: &Resource, version: &str, object: &mut Value) {
    object["apiVersion"] = json!(if r.group.is_empty() {
        version.to_string()
    } else {
        format!("{}/{version}", r.group)
    });
    if let Some(schema) = r.storage.as_ref().and_then(|s| s.schemas.get(version)) {
        structural::prune(object, schema, true, "", &mut Vec::new());
    }
}

/// An object as the storage decoder reads it: pruned and defaulted by the
/// schema of the version it was written at, which need not be served any
/// more. None when that version is gone from the CRD.
pub fn read_stored(storage: &Storage, written: &Value) -> Option<Value> {
    let schema = storage.schema_of(written["apiVersion"].as_str()?)?;
    let mut read = written.clone();
    structural::prune(&mut read, schema, true, "", &mut Vec::new());
    structural::default(&mut read, schema);
    Some(read)
}
