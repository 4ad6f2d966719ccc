//! An in-memory object store with the Kubernetes semantics the planner
//! relies on: create/merge-patch/delete, finalizers holding deletion,
//! generation bumped on spec changes, and aggregated Events. It backs
//! `kbind simulate` and the planner's tests; the operator uses the real API.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use kbind_model::key::ObjKey;
use kbind_model::patch::merge_patch;
use kbind_model::time::rfc3339;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    pub regarding: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    pub message: String,
    pub count: u32,
}

#[derive(Clone, Debug, Default)]
pub struct Store {
    objects: BTreeMap<ObjKey, Value>,
    events: Vec<Event>,
    resource_version: u64,
    /// Current time, milliseconds since the epoch.
    pub now: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    AlreadyExists(ObjKey),
    #[error("{0} not found")]
    NotFound(ObjKey),
    #[error("object has no kind or metadata.name: {0}")]
    Invalid(String),
}

fn finalizers(object: &Value) -> usize {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

impl Store {
    pub fn new(now: i64) -> Self {
        Self {
            now,
            ..Self::default()
        }
    }

    pub fn get(&self, key: &ObjKey) -> Option<&Value> {
        self.objects.get(key)
    }

    pub fn list<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .iter()
            .filter(move |(k, _)| k.kind == kind)
            .map(|(_, v)| v)
    }

    pub fn all(&self) -> impl Iterator<Item = (&ObjKey, &Value)> {
        self.objects.iter()
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    fn next_version(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    /// Creates the object, or updates an existing one the way re-applying a
    /// manifest does: `spec` is replaced as a whole (fields left out are
    /// gone), metadata is merged, status too when `with_status`.
    pub fn apply(&mut self, mut object: Value, with_status: bool) -> Result<ObjKey, StoreError> {
        let key = ObjKey::of(&object).ok_or_else(|| StoreError::Invalid(object.to_string()))?;
        if let Some(existing) = self.objects.get(&key).cloned() {
            if let Some(map) = object.as_object_mut().filter(|_| !with_status) {
                map.remove("status");
            }
            let mut merged = existing.clone();
            if let Some(spec) = object.as_object_mut().and_then(|m| m.remove("spec")) {
                merged["spec"] = spec;
            }
            merge_patch(&mut merged, &object);
            self.replace(&key, existing, merged);
            return Ok(key);
        }
        self.create(object).map(|_| key)
    }

    /// Puts an object read from elsewhere (a cluster snapshot) as it is.
    pub fn insert_observed(&mut self, object: Value) -> Option<ObjKey> {
        let key = ObjKey::of(&object)?;
        self.objects.insert(key.clone(), object);
        Some(key)
    }

    pub fn create(&mut self, mut object: Value) -> Result<ObjKey, StoreError> {
        let key = ObjKey::of(&object).ok_or_else(|| StoreError::Invalid(object.to_string()))?;
        if self.objects.contains_key(&key) {
            return Err(StoreError::AlreadyExists(key));
        }
        let rv = self.next_version();
        let meta = &mut object["metadata"];
        meta["resourceVersion"] = json!(rv);
        meta["uid"] = json!(format!("uid-{rv}"));
        meta["generation"] = json!(1);
        meta["creationTimestamp"] = json!(rfc3339(self.now));
        if key.kind == "CustomResourceDefinition" {
            // The server's CRD controllers, at once: names accepted, the
            // kind established (name conflicts are not simulated).
            object["status"] = json!({"acceptedNames": object["spec"]["names"].clone(),
                "conditions": [{"type": "NamesAccepted", "status": "True"},
                    {"type": "Established", "status": "True"}]});
        }
        self.objects.insert(key.clone(), object);
        Ok(key)
    }

    fn replace(&mut self, key: &ObjKey, before: Value, mut after: Value) {
        if before == after {
            return;
        }
        let generation = before
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        // A real server's `markAsDeleting` moves it too: the deletion is a
        // change the object's controllers observe.
        let newly_deleting = before.pointer("/metadata/deletionTimestamp").is_none()
            && after.pointer("/metadata/deletionTimestamp").is_some();
        let spec_changed = before.get("spec") != after.get("spec") || newly_deleting;
        after["metadata"]["generation"] = json!(if spec_changed {
            generation + 1
        } else {
            generation
        });
        after["metadata"]["resourceVersion"] = json!(self.next_version());
        let deleting = after.pointer("/metadata/deletionTimestamp").is_some();
        if deleting && finalizers(&after) == 0 {
            self.objects.remove(key);
        } else {
            self.objects.insert(key.clone(), after);
        }
    }

    /// Merge-patches an object's metadata/spec (`status` in the patch is
    /// ignored unless `status_subresource`).
    pub fn patch(
        &mut self,
        key: &ObjKey,
        patch: &Value,
        status_subresource: bool,
    ) -> Result<(), StoreError> {
        let before = self
            .objects
            .get(key)
            .cloned()
            .ok_or_else(|| StoreError::NotFound(key.clone()))?;
        let mut after = before.clone();
        if status_subresource {
            if let Some(status) = patch.get("status") {
                merge_patch(&mut after, &json!({"status": status}));
            }
        } else {
            let mut patch = patch.clone();
            if let Some(map) = patch.as_object_mut() {
                map.remove("status");
            }
            merge_patch(&mut after, &patch);
        }
        self.replace(key, before, after);
        Ok(())
    }

    /// Deletes an object: with finalizers it is only marked.
    pub fn delete(&mut self, key: &ObjKey) -> Result<(), StoreError> {
        let object = self
            .objects
            .get(key)
            .cloned()
            .ok_or_else(|| StoreError::NotFound(key.clone()))?;
        if finalizers(&object) == 0 {
            self.objects.remove(key);
            return Ok(());
        }
        if object.pointer("/metadata/deletionTimestamp").is_none() {
            let mut after = object.clone();
            after["metadata"]["deletionTimestamp"] = json!(rfc3339(self.now));
            self.replace(key, object, after);
        }
        Ok(())
    }

    /// Records an Event; a repeat of the last identical one bumps its count.
    pub fn event(&mut self, regarding: &ObjKey, type_: &str, reason: &str, message: &str) {
        let regarding = regarding.to_string();
        let repeat = self
            .events
            .iter_mut()
            .rev()
            .find(|e| e.regarding == regarding && e.reason == reason)
            .filter(|last| last.message == message && last.type_ == type_);
        if let Some(last) = repeat {
            last.count += 1;
            return;
        }
        self.events.push(Event {
            regarding,
            type_: type_.into(),
            reason: reason.into(),
            message: message.into(),
            count: 1,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "spec": {"a": 1}})
    }

    #[test]
    fn generation_moves_with_spec_only() {
        let mut store = Store::new(0);
        let key = store.create(cm("x")).unwrap();
        store
            .patch(&key, &json!({"metadata": {"labels": {"a": "b"}}}), false)
            .unwrap();
        assert_eq!(store.get(&key).unwrap()["metadata"]["generation"], 1);
        store
            .patch(&key, &json!({"spec": {"a": 2}}), false)
            .unwrap();
        assert_eq!(store.get(&key).unwrap()["metadata"]["generation"], 2);
        store
            .patch(&key, &json!({"status": {"x": 1}}), true)
            .unwrap();
        assert_eq!(store.get(&key).unwrap()["metadata"]["generation"], 2);
        assert_eq!(store.get(&key).unwrap()["status"]["x"], 1);
    }

    #[test]
    fn finalizers_hold_deletion_until_removed() {
        let mut store = Store::new(0);
        let mut obj = cm("x");
        obj["metadata"]["finalizers"] = json!(["a"]);
        let key = store.create(obj).unwrap();
        store.delete(&key).unwrap();
        assert!(
            store
                .get(&key)
                .unwrap()
                .pointer("/metadata/deletionTimestamp")
                .is_some()
        );
        assert_eq!(
            store.get(&key).unwrap()["metadata"]["generation"],
            2,
            "marked as being deleted, as a real server's markAsDeleting does"
        );
        store.delete(&key).unwrap();
        assert_eq!(store.get(&key).unwrap()["metadata"]["generation"], 2);
        store
            .patch(&key, &json!({"metadata": {"finalizers": []}}), false)
            .unwrap();
        assert!(store.get(&key).is_none());
    }
}
