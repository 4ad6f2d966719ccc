//! Field ownership (`metadata.managedFields`) and server-side apply, as a
//! real server's structured-merge-diff keeps them, at the granularity
//! kbind needs: every field (a leaf of maps; a list is one field) belongs
//! to the managers that last set it. An update takes the fields it
//! changes; an apply owns exactly the fields of its configuration (sharing
//! those it sets to the value they have), is refused with 409 when another
//! manager owns one of them with a different value (unless forced, which
//! takes the field over), and removes the fields it applied before and no
//! longer does, unless someone else owns them. managedFields a client
//! writes are kept as written. Lists are owned whole (a real server merges keyed lists item by
//! item): README, differences.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::state::ApiError;
use super::validation::{ErrorKind, FieldError};

/// Who writes, from `fieldManager` or the client's User-Agent prefix, as a
/// real server defaults it.
#[derive(Clone, Debug, PartialEq)]
pub struct Manager {
    pub name: String,
    pub apply: bool,
    pub force: bool,
}

/// Server-owned metadata: nobody's field.
fn server_owned(path: &[String]) -> bool {
    match path {
        [m, field, ..] if m == "metadata" => matches!(
            field.as_str(),
            "name"
                | "namespace"
                | "uid"
                | "resourceVersion"
                | "generation"
                | "creationTimestamp"
                | "deletionTimestamp"
                | "deletionGracePeriodSeconds"
                | "managedFields"
                | "selfLink"
        ),
        [field] => matches!(field.as_str(), "apiVersion" | "kind"),
        _ => false,
    }
}

/// The fields of `value`: paths to its leaves (scalars, lists, empty maps).
fn fields(value: &Value) -> BTreeSet<Vec<String>> {
    fn walk(v: &Value, path: &mut Vec<String>, out: &mut BTreeSet<Vec<String>>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, child) in m {
                    path.push(k.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            _ if !path.is_empty() => {
                out.insert(path.clone());
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(value, &mut vec![], &mut out);
    out.retain(|p| !server_owned(p));
    out
}

fn at<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, k| v.get(k))
}

fn set_at(value: &mut Value, path: &[String], leaf: Value) {
    let mut v = value;
    for k in &path[..path.len() - 1] {
        if !v[k.as_str()].is_object() {
            v[k.as_str()] = json!({});
        }
        v = &mut v[k.as_str()];
    }
    v[path[path.len() - 1].as_str()] = leaf;
}

fn remove_at(value: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut v = value;
    for k in parents {
        match v.get_mut(k) {
            Some(next) => v = next,
            None => return,
        }
    }
    if let Some(m) = v.as_object_mut() {
        m.remove(last);
    }
}

/// `fieldsV1`: `{"f:data": {"f:a": {}}}`.
fn to_fields_v1(set: &BTreeSet<Vec<String>>) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for k in path {
            node = node
                .entry(format!("f:{k}"))
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("inserted as an object");
        }
    }
    Value::Object(root)
}

fn from_fields_v1(v: &Value) -> BTreeSet<Vec<String>> {
    fn walk(v: &Value, path: &mut Vec<String>, out: &mut BTreeSet<Vec<String>>) {
        let Some(m) = v.as_object() else { return };
        let children: Vec<(&String, &Value)> =
            m.iter().filter(|(k, _)| k.starts_with("f:")).collect();
        if children.is_empty() && !path.is_empty() {
            out.insert(path.clone());
        }
        for (k, child) in children {
            path.push(k[2..].to_string());
            walk(child, path, out);
            path.pop();
        }
    }
    let mut out = BTreeSet::new();
    walk(v, &mut vec![], &mut out);
    out
}

struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Value,
    fields: BTreeSet<Vec<String>>,
    subresource: Option<String>,
}

fn entries(object: &Value) -> Vec<Entry> {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| Entry {
            manager: e["manager"].as_str().unwrap_or_default().to_string(),
            operation: e["operation"].as_str().unwrap_or_default().to_string(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().to_string(),
            time: e["time"].clone(),
            fields: from_fields_v1(&e["fieldsV1"]),
            subresource: e["subresource"].as_str().map(str::to_string),
        })
        .collect()
}

/// Written in the real encoder's order: Apply before Update, then by time
/// (to the second), manager, apiVersion and subresource.
fn write_entries(object: &mut Value, mut entries: Vec<Entry>) {
    entries.sort_by(|p, q| {
        let time = |e: &Entry| e.time.as_str().unwrap_or_default().to_string();
        (
            &p.operation,
            time(p),
            &p.manager,
            &p.api_version,
            &p.subresource,
        )
            .cmp(&(
                &q.operation,
                time(q),
                &q.manager,
                &q.api_version,
                &q.subresource,
            ))
    });
    let list: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({"manager": e.manager, "operation": e.operation,
                "apiVersion": e.api_version, "time": e.time, "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields)});
            if let Some(s) = e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    if list.is_empty() {
        if let Some(m) = object["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
    } else {
        object["metadata"]["managedFields"] = Value::Array(list);
    }
}

fn path_text(path: &[String]) -> String {
    path.iter().map(|k| format!(".{k}")).collect()
}

/// The field manager of `kubectl apply --server-side`, the only one whose
/// conflicts the last-applied annotation settles (the real server's
/// `lastAppliedManager`; another manager name opts out).
const KUBECTL: &str = "kubectl";

/// The fields client-side apply's annotation on `live` claims that still
/// hold its values (conflicts on them are kubectl's own), as paths; None
/// when there is no annotation, or it is for another version than `config`.
fn last_applied_fields(live: &Value, config: &Value) -> Option<BTreeSet<String>> {
    let text = live
        .pointer("/metadata/annotations")?
        .get("kubectl.kubernetes.io/last-applied-configuration")?
        .as_str()
        .filter(|t| !t.is_empty())?;
    let last: Value = serde_json::from_str(text).ok()?;
    if last.get("apiVersion") != config.get("apiVersion") {
        return None;
    }
    Some(
        fields(&last)
            .into_iter()
            .filter(|p| at(&last, p) == at(live, p))
            .map(|p| path_text(&p))
            .collect(),
    )
}

/// Records a create, update or patch by `manager` (not an apply): it takes
/// the fields it set or changed, others lose them, and fields that are gone
/// belong to nobody.
pub fn record_update(
    before: Option<&Value>,
    after: &mut Value,
    manager: &str,
    now: &str,
    subresource: Option<&str>,
) {
    let api_version = after["apiVersion"].as_str().unwrap_or_default().to_string();
    // managedFields a client writes are taken as given (how kubectl moves
    // client-side apply's fields to its server-side manager); written
    // empty, or through a subresource, they are kept as they were, so a
    // client that knows nothing of them cannot drop them.
    let given = entries(after);
    let mut list = if subresource.is_none() && given.iter().any(|e| !e.fields.is_empty()) {
        given
    } else {
        before.map(entries).unwrap_or_default()
    };
    let now_fields = fields(after);
    let changed: BTreeSet<Vec<String>> = now_fields
        .iter()
        .filter(|p| before.is_none_or(|b| at(b, p) != at(after, p)))
        .cloned()
        .collect();
    for e in &mut list {
        e.fields
            .retain(|p| now_fields.contains(p) && !changed.contains(p));
    }
    if !changed.is_empty() {
        match list.iter_mut().find(|e| {
            e.manager == manager
                && e.operation == "Update"
                && e.subresource.as_deref() == subresource
        }) {
            Some(e) => {
                e.fields.extend(changed);
                e.time = json!(now);
            }
            None => list.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version,
                time: json!(now),
                fields: changed,
                subresource: subresource.map(str::to_string),
            }),
        }
    }
    write_entries(after, list);
}

/// Server-side apply of `config` by `manager` onto `current` (None: the
/// object does not exist yet): the object to store, or the 409 naming each
/// conflicting field.
pub fn apply(
    current: Option<&Value>,
    config: &Value,
    manager: &Manager,
    now: &str,
) -> Result<Value, ApiError> {
    let mut object = current.cloned().unwrap_or_else(|| json!({}));
    let mut list = current.map(entries).unwrap_or_default();
    let applied = fields(config);
    let mut conflicts: Vec<(String, String)> = vec![];
    for e in &list {
        if e.manager == manager.name && e.operation == "Apply" {
            continue;
        }
        for p in e.fields.intersection(&applied) {
            if at(&object, p) != at(config, p) {
                conflicts.push((e.manager.clone(), path_text(p)));
            }
        }
    }
    if !conflicts.is_empty() && !manager.force && manager.name == KUBECTL {
        // kubectl's first server-side apply of an object it client-side
        // applied before: what the last-applied annotation still shows as
        // live is its own, so those conflicts give way.
        if let Some(own) = current.and_then(|c| last_applied_fields(c, config)) {
            conflicts.retain(|(_, p)| !own.contains(p));
        }
    }
    let forced = manager.force || conflicts.is_empty();
    if !forced {
        let api_version = config["apiVersion"].as_str().unwrap_or_default();
        let lines: Vec<String> = conflicts.iter().map(|(_, p)| p.clone()).collect();
        let who: Vec<&str> = {
            let mut w: Vec<&str> = conflicts.iter().map(|(m, _)| m.as_str()).collect();
            w.dedup();
            w
        };
        let message = if conflicts.len() == 1 {
            format!(
                "Apply failed with 1 conflict: conflict with \"{}\" using {api_version}: {}",
                who[0], lines[0]
            )
        } else {
            let quoted: Vec<String> = who.iter().map(|w| format!("\"{w}\"")).collect();
            format!(
                "Apply failed with {} conflicts: conflicts with {} using {api_version}:\n- {}",
                conflicts.len(),
                quoted.join(", "),
                lines.join("\n- ")
            )
        };
        let mut e = ApiError::new(409, "Conflict", message);
        e.details.causes = conflicts
            .iter()
            .map(|(m, p)| FieldError {
                field: p.clone(),
                kind: ErrorKind::ManagerConflict,
                value: Value::Null,
                detail: format!("conflict with \"{m}\" using {api_version}"),
                shown: None,
            })
            .collect();
        return Err(e);
    }
    // Forced (or conflict-free): a field this apply changes changes hands;
    // one it sets to the value it has is shared, as structured-merge-diff
    // shares it.
    for e in &mut list {
        if !(e.manager == manager.name && e.operation == "Apply") {
            e.fields
                .retain(|p| !applied.contains(p) || at(&object, p) == at(config, p));
        }
    }
    // What this manager applied before and no longer does goes, unless
    // someone else owns it.
    let before: BTreeSet<Vec<String>> = list
        .iter()
        .filter(|e| e.manager == manager.name && e.operation == "Apply")
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    for p in before.difference(&applied) {
        let owned_elsewhere = list.iter().any(|e| {
            !(e.manager == manager.name && e.operation == "Apply") && e.fields.contains(p)
        });
        if !owned_elsewhere {
            remove_at(&mut object, p);
        }
    }
    for p in &applied {
        if let Some(v) = at(config, p) {
            set_at(&mut object, p, v.clone());
        }
    }
    for key in ["apiVersion", "kind"] {
        if let Some(v) = config.get(key) {
            object[key] = v.clone();
        }
    }
    if let Some(name) = config.pointer("/metadata/name") {
        object["metadata"]["name"] = name.clone();
    }
    list.retain(|e| !(e.manager == manager.name && e.operation == "Apply"));
    list.push(Entry {
        manager: manager.name.clone(),
        operation: "Apply".into(),
        api_version: config["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        time: json!(now),
        fields: applied,
        subresource: None,
    });
    write_entries(&mut object, list);
    if manager.name == KUBECTL {
        sync_last_applied(&mut object, config);
    }
    Ok(object)
}

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// After kubectl's server-side apply, an object that carries client-side
/// apply's annotation gets the applied configuration in it (the real
/// `lastAppliedUpdater`), so a later client-side apply diffs against what
/// was last applied, whichever way. Encoded as apimachinery's unstructured
/// encoder writes it (Go's `json.Encoder`: keys sorted, no spaces, HTML
/// characters escaped, a final newline). Dropped when it would put the
/// annotations over their 256 KiB.
fn sync_last_applied(object: &mut Value, config: &Value) {
    let held = object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    if !held {
        return;
    }
    let mut applied = config.clone();
    if let Some(annotations) = applied
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove(LAST_APPLIED);
    }
    let text = go_encoded(&applied);
    let Some(annotations) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    annotations.insert(LAST_APPLIED.to_string(), Value::String(text));
    let total: usize = annotations
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if total > 256 * 1024 {
        annotations.remove(LAST_APPLIED);
    }
}

fn go_encoded(value: &Value) -> String {
    let mut text = String::new();
    // These appear in JSON only inside strings, so escaping the text is
    // escaping the strings.
    for c in sorted(value).to_string().chars() {
        match c {
            '<' => text.push_str("\\u003c"),
            '>' => text.push_str("\\u003e"),
            '&' => text.push_str("\\u0026"),
            '\u{2028}' => text.push_str("\\u2028"),
            '\u{2029}' => text.push_str("\\u2029"),
            c => text.push(c),
        }
    }
    text.push('\n');
    text
}

/// `value` with every map's keys in order, as Go's encoder writes maps.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager(name: &str, force: bool) -> Manager {
        Manager {
            name: name.into(),
            apply: true,
            force,
        }
    }

    #[test]
    fn an_apply_conflicts_with_another_owner_unless_forced_and_removes_what_it_dropped() {
        let now = "2026-01-01T00:00:00Z";
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
        let mut cm = apply(None, &cm, &manager("alice", false), now).unwrap();
        // bob changes a with an update: he owns it now.
        let before = cm.clone();
        cm["data"]["a"] = json!("changed");
        record_update(Some(&before), &mut cm, "bob", now, None);
        let again = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        let err = apply(Some(&cm), &again, &manager("alice", false), now).unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"bob\" using v1: .data.a"
        );
        let forced = apply(Some(&cm), &again, &manager("alice", true), now).unwrap();
        assert_eq!(
            forced["data"],
            json!({"a": "1"}),
            "b was alice's alone and she no longer applies it"
        );
        let managers: Vec<&str> = forced["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["alice"], "bob lost his only field");
        assert_eq!(
            forced["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:data": {"f:a": {}}})
        );
    }

    #[test]
    fn applying_the_value_another_manager_set_shares_the_field() {
        let now = "2026-01-01T00:00:00Z";
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
        let cm = apply(None, &cm, &manager("alice", false), now).unwrap();
        let same = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        let shared = apply(Some(&cm), &same, &manager("bob", false), now).unwrap();
        let owners: Vec<(&str, &Value)> = shared["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["manager"].as_str().unwrap(), &e["fieldsV1"]))
            .collect();
        assert_eq!(
            owners,
            [
                ("alice", &json!({"f:data": {"f:a": {}, "f:b": {}}})),
                ("bob", &json!({"f:data": {"f:a": {}}}))
            ]
        );
        // So alice dropping a leaves it: bob still applies it.
        let without_a = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"b": "2"}});
        let after = apply(Some(&shared), &without_a, &manager("alice", false), now).unwrap();
        assert_eq!(after["data"], json!({"a": "1", "b": "2"}));
    }
}
