//! RFC 7386 JSON merge patches: applied by the embedded server and the
//! in-memory store, computed by the planner.

use serde_json::{Map, Value};

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// The merge patch that turns `old` into `new` (removed keys become null).
pub fn merge_patch_diff(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = Map::new();
            for (k, v) in n {
                match o.get(k) {
                    Some(old_v) if old_v == v => {}
                    Some(old_v) => {
                        patch.insert(k.clone(), merge_patch_diff(old_v, v));
                    }
                    None => {
                        patch.insert(k.clone(), v.clone());
                    }
                }
            }
            for k in o.keys().filter(|k| !n.contains_key(*k)) {
                patch.insert(k.clone(), Value::Null);
            }
            Value::Object(patch)
        }
        (_, new) => new.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_then_patch_reproduces_the_target() {
        let old = json!({"a": {"b": 1, "c": [1]}, "gone": true});
        let new = json!({"a": {"b": 2, "c": [2]}, "added": {"x": 1}});
        let mut patched = old.clone();
        merge_patch(&mut patched, &merge_patch_diff(&old, &new));
        assert_eq!(patched, new);
    }

    #[test]
    fn merge_patch_removes_nulls() {
        let mut v = json!({"a": {"b": 1, "c": 2}});
        merge_patch(&mut v, &json!({"a": {"b": null, "d": 3}}));
        assert_eq!(v, json!({"a": {"c": 2, "d": 3}}));
    }
}
