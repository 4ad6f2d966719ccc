//! Strategic merge patch for the built-in kinds served (what `kubectl
//! apply`, `diff` and `patch --type strategic` send): JSON merge patch,
//! except that lists with a patch merge key are merged item by item, lists
//! with the `merge` strategy are merged as sets, and the `$patch`,
//! `$retainKeys`, `$setElementOrder/…` and `$deleteFromPrimitiveList/…`
//! directives are honoured. Custom resources have no patch strategies: a
//! real server refuses a strategic patch for them with 415.

use serde_json::{Map, Value};

use super::list_types::{PatchList, Shape};

/// Applies a strategic merge patch to `target`, an object of `shape`,
/// whose lists merge as the kind's Go tags say (`list_types.rs`).
pub fn apply(target: &mut Value, patch: &Value, shape: Shape) {
    merge_map(target, patch, shape);
}

fn merge_map(target: &mut Value, patch: &Value, shape: Shape) {
    let Some(patch) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replaced = patch.clone();
            replaced.remove("$patch");
            *target = Value::Object(replaced);
            return;
        }
        Some("delete") => {
            *target = Value::Null;
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(map) = target.as_object_mut() else {
        return;
    };
    for (key, value) in patch {
        if key == "$patch" || key == "$retainKeys" || key.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Some(gone)) = (map.get_mut(field), value.as_array())
            {
                items.retain(|i| !gone.contains(i));
            }
            continue;
        }
        if value.is_null() {
            map.remove(key);
            continue;
        }
        match value {
            Value::Object(_) => {
                let slot = map.entry(key.clone()).or_insert(Value::Null);
                merge_map(slot, value, shape.field(key));
                if slot.is_null() {
                    map.remove(key);
                }
            }
            Value::Array(items) => {
                let merged = merge_list(shape.field(key), map.get(key), items);
                map.insert(key.clone(), merged);
            }
            other => {
                map.insert(key.clone(), other.clone());
            }
        }
    }
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$setElementOrder/")
            && let (Some(Value::Array(items)), Some(order)) = (map.get_mut(field), value.as_array())
        {
            reorder(shape.field(field), items, order);
        }
    }
    if let Some(keep) = patch.get("$retainKeys").and_then(Value::as_array) {
        map.retain(|k, _| keep.iter().any(|x| x == k));
    }
}

fn merge_list(list: Shape, current: Option<&Value>, patch: &[Value]) -> Value {
    let current: Vec<Value> = current
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if patch
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Value::Array(
            patch
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .cloned()
                .collect(),
        );
    }
    let key = match list.patch_list() {
        PatchList::Replace => return Value::Array(patch.to_vec()),
        PatchList::Merge(key) => key,
        PatchList::Set => {
            let mut out = current;
            for item in patch {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            return Value::Array(out);
        }
    };
    let mut out = current;
    for item in patch {
        let id = item.get(key);
        let position = out.iter().position(|c| id.is_some() && c.get(key) == id);
        let deleting = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, deleting) {
            (Some(i), true) => {
                out.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => merge_map(&mut out[i], item, list.items()),
            (None, false) => {
                let mut fresh = Value::Null;
                merge_map(&mut fresh, item, list.items());
                out.push(fresh);
            }
        }
    }
    Value::Array(out)
}

/// `$setElementOrder`: items named in `order` first, in that order.
fn reorder(list: Shape, items: &mut [Value], order: &[Value]) {
    let key = match list.patch_list() {
        PatchList::Merge(k) => Some(k),
        _ => None,
    };
    let rank = |item: &Value| {
        let id = match key {
            Some(k) => item.get(k).cloned(),
            None => Some(item.clone()),
        };
        order
            .iter()
            .position(|o| match key {
                Some(k) => o.get(k).cloned() == id,
                None => Some(o.clone()) == id,
            })
            .unwrap_or(usize::MAX)
    };
    items.sort_by_key(|i| rank(i));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const JOB: Shape = Shape::Type("Job");

    #[test]
    fn a_services_ports_merge_by_port_and_a_containers_by_container_port() {
        let mut service = json!({"spec": {"ports": [
            {"name": "http", "port": 80, "targetPort": 8080},
            {"name": "https", "port": 443, "targetPort": 8443}]}});
        // What kubectl apply sends after one targetPort changed.
        apply(
            &mut service,
            &json!({"spec": {"$setElementOrder/ports": [{"port": 80}, {"port": 443}],
                "ports": [{"port": 443, "targetPort": 9443}]}}),
            Shape::Type("Service"),
        );
        assert_eq!(
            service["spec"]["ports"],
            json!([{"name": "http", "port": 80, "targetPort": 8080},
                {"name": "https", "port": 443, "targetPort": 9443}])
        );
        let mut pod = json!({"spec": {"containers": [{"name": "c", "ports": [
            {"containerPort": 80, "name": "a"}, {"containerPort": 81, "name": "b"}]}]}});
        apply(
            &mut pod,
            &json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 81, "name": "bb"}]}]}}),
            Shape::Type("Pod"),
        );
        assert_eq!(
            pod["spec"]["containers"][0]["ports"],
            json!([{"containerPort": 80, "name": "a"}, {"containerPort": 81, "name": "bb"}])
        );
    }

    #[test]
    fn lists_with_merge_keys_merge_by_key_and_directives_apply() {
        let mut job = json!({"metadata": {"finalizers": ["a"]}, "spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "busybox:1", "env": [{"name": "A", "value": "1"}]},
                           {"name": "sidecar", "image": "x"}],
            "tolerations": [{"key": "k"}]}}}});
        apply(
            &mut job,
            &json!({"metadata": {"finalizers": ["b"]}, "spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "c"}],
            "containers": [{"name": "c", "image": "busybox:2", "env": [{"name": "B", "value": "2"}]},
                           {"name": "gone", "$patch": "delete"}],
            "tolerations": [{"key": "other"}]}}}}),
            JOB,
        );
        let spec = &job["spec"]["template"]["spec"];
        assert_eq!(job["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(spec["containers"][0]["name"], "sidecar");
        assert_eq!(spec["containers"][1]["image"], "busybox:2");
        assert_eq!(
            spec["containers"][1]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
        );
        assert_eq!(
            spec["tolerations"],
            json!([{"key": "other"}]),
            "lists without a key are replaced"
        );
        apply(
            &mut job,
            &json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}),
            JOB,
        );
        assert_eq!(
            job["spec"]["template"]["spec"]["containers"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        apply(
            &mut job,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
            JOB,
        );
        assert_eq!(job["metadata"]["finalizers"], json!(["b"]));
    }
}
