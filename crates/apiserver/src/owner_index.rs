//! The garbage collector's graph, reduced to what the in-server controllers
//! ask of it: which objects name an owner's uid in their owner references.
//! Kept in step with every change to the store, so finding an owner's
//! dependents (a cascade, a Job's pods) never scans the whole store.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::state::Key;

#[derive(Default)]
pub struct OwnerIndex {
    by_owner: HashMap<String, BTreeSet<Key>>,
    /// Each object's own uid (the collector's graph knows objects by uid).
    by_uid: HashMap<String, Key>,
}

fn own_uid(object: &Value) -> Option<&str> {
    object["metadata"]["uid"].as_str().filter(|u| !u.is_empty())
}

fn owner_uids(object: &Value) -> BTreeSet<String> {
    object["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["uid"].as_str().map(str::to_string))
        .collect()
}

impl OwnerIndex {
    /// `key` now holds `object` (and held `previous`).
    pub fn stored(&mut self, key: &Key, object: &Value, previous: Option<&Value>) {
        if let Some(uid) = previous.and_then(own_uid) {
            self.by_uid.remove(uid);
        }
        if let Some(uid) = own_uid(object) {
            self.by_uid.insert(uid.to_string(), key.clone());
        }
        let now = owner_uids(object);
        let before = previous.map(owner_uids).unwrap_or_default();
        for gone in before.difference(&now) {
            self.unlink(gone, key);
        }
        for uid in now.difference(&before) {
            self.by_owner
                .entry(uid.clone())
                .or_default()
                .insert(key.clone());
        }
    }

    /// `key`, which held `object`, is gone.
    pub fn removed(&mut self, key: &Key, object: &Value) {
        if let Some(uid) = own_uid(object)
            && self.by_uid.get(uid) == Some(key)
        {
            self.by_uid.remove(uid);
        }
        for uid in owner_uids(object) {
            self.unlink(&uid, key);
        }
    }

    fn unlink(&mut self, uid: &str, key: &Key) {
        if let Some(keys) = self.by_owner.get_mut(uid) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_owner.remove(uid);
            }
        }
    }

    /// The object whose uid is `uid`.
    pub fn with_uid(&self, uid: &str) -> Option<&Key> {
        self.by_uid.get(uid)
    }

    /// The objects naming `uid` as an owner, in key order.
    pub fn dependents(&self, uid: &str) -> Vec<Key> {
        self.by_owner
            .get(uid)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> Key {
        Key {
            group: String::new(),
            plural: "pods".into(),
            namespace: "default".into(),
            name: name.into(),
        }
    }

    fn owned(uids: &[&str]) -> Value {
        let refs: Vec<Value> = uids.iter().map(|u| json!({"uid": u})).collect();
        json!({"metadata": {"ownerReferences": refs}})
    }

    #[test]
    fn follows_references_as_they_are_added_changed_and_removed() {
        let mut index = OwnerIndex::default();
        let mut a = owned(&["j1"]);
        a["metadata"]["uid"] = json!("ua");
        index.stored(&key("a"), &a, None);
        assert_eq!(index.with_uid("ua"), Some(&key("a")));
        index.stored(&key("b"), &owned(&["j1", "j2"]), None);
        assert_eq!(index.dependents("j1"), [key("a"), key("b")]);
        index.stored(&key("b"), &owned(&["j2"]), Some(&owned(&["j1", "j2"])));
        assert_eq!(index.dependents("j1"), [key("a")]);
        index.removed(&key("a"), &a);
        assert_eq!(index.with_uid("ua"), None);
        assert!(index.dependents("j1").is_empty());
        assert_eq!(index.dependents("j2"), [key("b")]);
    }
}
