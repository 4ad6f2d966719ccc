//! Field ownership (`metadata.managedFields`) and server-side apply, as a
//! real server's structured-merge-diff keeps them: every field (a leaf of
//! maps, an atomic list, each value of a set and each item of a map list
//! with the fields below it; `list_types.rs` says which list is which)
//! belongs to the managers that last set it. An update takes the fields it
//! changes; an apply owns exactly the fields of its configuration (sharing
//! those it sets to the value they have), is refused with 409 when another
//! manager owns one of them with a different value (unless forced, which
//! takes the field over), merges its configuration into the object (map
//! lists item by item, in structured-merge-diff's order) and removes the
//! fields it applied before and no longer does, unless someone else owns
//! them or something below them. managedFields a client writes are kept as
//! written.

use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value, json};

use super::list_types::{ListKind, Shape};
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

/// A field: path elements as `fieldsV1` names them (`f:spec`,
/// `k:{"name":"a"}`, `v:"x"`).
type Path = Vec<String>;

/// Server-owned metadata: nobody's field.
fn server_owned(path: &[String]) -> bool {
    match path {
        [m, field, ..] if m == "f:metadata" => matches!(
            field.as_str(),
            "f:name"
                | "f:namespace"
                | "f:uid"
                | "f:resourceVersion"
                | "f:generation"
                | "f:creationTimestamp"
                | "f:deletionTimestamp"
                | "f:deletionGracePeriodSeconds"
                | "f:managedFields"
                | "f:selfLink"
        ),
        [field] => matches!(field.as_str(), "f:apiVersion" | "f:kind"),
        _ => false,
    }
}

/// The fields of `value`: its leaves (scalars, atomic and empty lists,
/// empty maps), and each item of its set and map lists.
fn fields(value: &Value, shape: Shape) -> BTreeSet<Path> {
    fn walk(v: &Value, shape: Shape, path: &mut Path, out: &mut BTreeSet<Path>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, child) in m {
                    path.push(format!("f:{k}"));
                    walk(child, shape.field(k), path, out);
                    path.pop();
                }
            }
            Value::Array(items) if !items.is_empty() && !path.is_empty() => {
                let elements: Option<Vec<String>> =
                    items.iter().map(|item| shape.element(item)).collect();
                let Some(elements) = elements else {
                    out.insert(path.clone());
                    return;
                };
                let item_shape = shape.items();
                let keyed = matches!(shape.list(), ListKind::Map(_));
                for (item, element) in items.iter().zip(elements) {
                    path.push(element);
                    out.insert(path.clone());
                    if let (true, Value::Object(m)) = (keyed, item) {
                        for (k, child) in m {
                            path.push(format!("f:{k}"));
                            walk(child, item_shape.field(k), path, out);
                            path.pop();
                        }
                    }
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
    walk(value, shape, &mut vec![], &mut out);
    out.retain(|p| !server_owned(p));
    out
}

fn at<'v>(value: &'v Value, path: &[String], shape: Shape) -> Option<&'v Value> {
    let mut v = value;
    let mut s = shape;
    for element in path {
        if let Some(name) = element.strip_prefix("f:") {
            v = v.get(name)?;
            s = s.field(name);
        } else {
            let list = s;
            v = v
                .as_array()?
                .iter()
                .find(|item| list.element(item).as_deref() == Some(element))?;
            s = list.items();
        }
    }
    Some(v)
}

/// Whether a field holds the same in `a` and `b`: a list item is the same
/// item wherever it is present (its fields speak for its content).
fn same(a: &Value, b: &Value, path: &[String], shape: Shape) -> bool {
    let item = path.last().is_some_and(|e| !e.starts_with("f:"));
    if item {
        at(a, path, shape).is_some() == at(b, path, shape).is_some()
    } else {
        at(a, path, shape) == at(b, path, shape)
    }
}

fn remove_at(value: &mut Value, path: &[String], shape: Shape) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut v = value;
    let mut s = shape;
    for element in parents {
        if let Some(name) = element.strip_prefix("f:") {
            let Some(next) = v.get_mut(name) else { return };
            v = next;
            s = s.field(name);
        } else {
            let list = s;
            let Some(next) = v.as_array_mut().and_then(|items| {
                items
                    .iter_mut()
                    .find(|item| list.element(item).as_deref() == Some(element))
            }) else {
                return;
            };
            v = next;
            s = list.items();
        }
    }
    if let Some(name) = last.strip_prefix("f:") {
        if let Some(m) = v.as_object_mut() {
            m.remove(name);
        }
    } else if let Some(items) = v.as_array_mut() {
        items.retain(|item| s.element(item).as_deref() != Some(last.as_str()));
    }
}

/// `config` merged into `live`: maps key by key, set and map lists item
/// by item, anything else replaced.
fn merge(live: Option<&Value>, config: &Value, shape: Shape) -> Value {
    match (live, config) {
        (Some(Value::Object(l)), Value::Object(c)) => {
            let mut out = l.clone();
            for (k, cv) in c {
                let merged = merge(l.get(k), cv, shape.field(k));
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Some(Value::Array(l)), Value::Array(c))
            if shape.list() != ListKind::Atomic && !(l.is_empty() && c.is_empty()) =>
        {
            merge_list(l, c, shape).unwrap_or_else(|| config.clone())
        }
        _ => config.clone(),
    }
}

/// Two lists of one set or map list merged in structured-merge-diff's
/// order (`visitListItems`): live items the configuration lacks stay where
/// they are, the configuration's items come in its order, an item in both
/// at the configuration's place for it. None if an item has no key.
fn merge_list(live: &[Value], config: &[Value], shape: Shape) -> Option<Value> {
    let names = |items: &[Value]| -> Option<Vec<String>> {
        items.iter().map(|item| shape.element(item)).collect()
    };
    let (lhs, rhs) = (names(live)?, names(config)?);
    let item_shape = shape.items();
    let live_item = |name: &str| lhs.iter().position(|n| n == name).map(|i| &live[i]);
    let in_rhs: HashSet<&str> = rhs.iter().map(String::as_str).collect();
    let in_lhs: HashSet<&str> = lhs.iter().map(String::as_str).collect();
    let mut shared = rhs.iter().filter(|n| in_lhs.contains(n.as_str()));
    let mut next_shared = shared.next();
    let mut merged: HashSet<&str> = HashSet::new();
    let mut out = Vec::with_capacity(live.len().max(config.len()));
    let (mut l, mut r) = (0, 0);
    let merge_item = |name: &str, c: &Value| merge(live_item(name), c, item_shape);
    while l < lhs.len() || r < rhs.len() {
        if l < lhs.len() && r < rhs.len() {
            if lhs[l] == rhs[r] {
                merged.insert(&rhs[r]);
                out.push(merge_item(&rhs[r], &config[r]));
                l += 1;
                r += 1;
                next_shared = shared.next();
                continue;
            }
            if in_rhs.contains(lhs[l].as_str()) && next_shared.is_some_and(|n| *n != lhs[l]) {
                // Shared, but not the one due this round.
                l += 1;
                continue;
            }
        }
        if l < lhs.len() {
            if !in_rhs.contains(lhs[l].as_str()) {
                out.push(live[l].clone());
                l += 1;
                continue;
            } else if merged.contains(lhs[l].as_str()) {
                l += 1;
            }
        }
        if r < rhs.len() {
            merged.insert(&rhs[r]);
            out.push(merge_item(&rhs[r], &config[r]));
            if next_shared.is_some_and(|n| *n == rhs[r]) {
                next_shared = shared.next();
            }
            r += 1;
        }
    }
    Some(Value::Array(out))
}

/// `fieldsV1`: `{"f:data": {"f:a": {}}}`; an item with fields of its own
/// marks itself with `"."`.
fn to_fields_v1(set: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for element in path {
            node = node
                .entry(element.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("inserted as an object");
        }
    }
    fn mark(node: &mut Map<String, Value>, path: &mut Path, set: &BTreeSet<Path>) {
        for (k, child) in node.iter_mut() {
            path.push(k.clone());
            if let Some(m) = child.as_object_mut().filter(|m| !m.is_empty()) {
                mark(m, path, set);
                if set.contains(path) {
                    m.insert(".".into(), json!({}));
                }
            }
            path.pop();
        }
    }
    mark(&mut root, &mut vec![], set);
    Value::Object(root)
}

fn from_fields_v1(v: &Value) -> BTreeSet<Path> {
    fn walk(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
        let Some(m) = v.as_object() else { return };
        let children: Vec<(&String, &Value)> = m
            .iter()
            .filter(|(k, _)| ["f:", "k:", "v:", "i:"].iter().any(|p| k.starts_with(p)))
            .collect();
        if (children.is_empty() || m.contains_key(".")) && !path.is_empty() {
            out.insert(path.clone());
        }
        for (k, child) in children {
            path.push(k.clone());
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
    fields: BTreeSet<Path>,
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

/// A field as a conflict names it: `.spec.containers[name="a"].image`.
fn path_text(path: &[String]) -> String {
    path.iter()
        .map(|e| {
            if let Some(name) = e.strip_prefix("f:") {
                format!(".{name}")
            } else if let Some(key) = e.strip_prefix("k:") {
                let fields: Vec<String> = serde_json::from_str::<Map<String, Value>>(key)
                    .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                    .unwrap_or_default();
                format!("[{}]", fields.join(","))
            } else {
                format!("[={}]", e.get(2..).unwrap_or_default())
            }
        })
        .collect()
}

/// The field manager of `kubectl apply --server-side`, the only one whose
/// conflicts the last-applied annotation settles (the real server's
/// `lastAppliedManager`; another manager name opts out).
const KUBECTL: &str = "kubectl";

/// The fields client-side apply's annotation on `live` claims that still
/// hold its values (conflicts on them are kubectl's own), as paths; None
/// when there is no annotation, or it is for another version than `config`.
fn last_applied_fields(live: &Value, config: &Value, shape: Shape) -> Option<BTreeSet<String>> {
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
        fields(&last, shape)
            .into_iter()
            .filter(|p| same(&last, live, p, shape))
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
    shape: Shape,
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
    let now_fields = fields(after, shape);
    let changed: BTreeSet<Path> = now_fields
        .iter()
        .filter(|p| before.is_none_or(|b| !same(b, after, p, shape)))
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

/// Whether `path` names a key field of the list item it is in (`f:name`
/// under `k:{"name":…}`): an item that stays keeps its keys.
fn is_item_key(path: &[String]) -> bool {
    match path {
        [.., item, field] => match (item.strip_prefix("k:"), field.strip_prefix("f:")) {
            (Some(key), Some(name)) => {
                serde_json::from_str::<Map<String, Value>>(key).is_ok_and(|k| k.contains_key(name))
            }
            _ => false,
        },
        _ => false,
    }
}

/// Server-side apply of `config` by `manager` onto `current` (None: the
/// object does not exist yet): the object to store, or the 409 naming each
/// conflicting field.
pub fn apply(
    current: Option<&Value>,
    config: &Value,
    shape: Shape,
    manager: &Manager,
    now: &str,
) -> Result<Value, ApiError> {
    let mut object = current.cloned().unwrap_or_else(|| json!({}));
    let mut list = current.map(entries).unwrap_or_default();
    let applied = fields(config, shape);
    let mut conflicts: Vec<(String, String)> = vec![];
    for e in &list {
        if e.manager == manager.name && e.operation == "Apply" {
            continue;
        }
        for p in e.fields.intersection(&applied) {
            if !same(&object, config, p, shape) {
                conflicts.push((e.manager.clone(), path_text(p)));
            }
        }
    }
    if !conflicts.is_empty() && !manager.force && manager.name == KUBECTL {
        // kubectl's first server-side apply of an object it client-side
        // applied before: what the last-applied annotation still shows as
        // live is its own, so those conflicts give way.
        if let Some(own) = current.and_then(|c| last_applied_fields(c, config, shape)) {
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
    let mine = |e: &Entry| e.manager == manager.name && e.operation == "Apply";
    for e in list.iter_mut().filter(|e| !mine(e)) {
        e.fields
            .retain(|p| !applied.contains(p) || same(&object, config, p, shape));
    }
    // What this manager applied before and no longer does goes, unless
    // someone else owns it or something below it (deepest first, so an
    // item's fields go before the item).
    let before: BTreeSet<Path> = list
        .iter()
        .filter(|e| mine(e))
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    let others: BTreeSet<&Path> = list
        .iter()
        .filter(|e| !mine(e))
        .flat_map(|e| e.fields.iter())
        .collect();
    let mut dropped: Vec<&Path> = before.difference(&applied).collect();
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in dropped {
        let held = others.iter().any(|o| o.starts_with(p));
        let kept_item_key = is_item_key(p) && at(&object, &p[..p.len() - 1], shape).is_some();
        if !held && !kept_item_key {
            remove_at(&mut object, p, shape);
        }
    }
    let mut merged_config = config.clone();
    if let Some(meta) = merged_config
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
    {
        meta.retain(|k, _| !server_owned(&["f:metadata".into(), format!("f:{k}")]) || k == "name");
    }
    object = merge(Some(&object), &merged_config, shape);
    list.retain(|e| !mine(e));
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

    const CM: Shape = Shape::Type("Object");

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
        let mut cm = apply(None, &cm, CM, &manager("alice", false), now).unwrap();
        // bob changes a with an update: he owns it now.
        let before = cm.clone();
        cm["data"]["a"] = json!("changed");
        record_update(Some(&before), &mut cm, CM, "bob", now, None);
        let again = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        let err = apply(Some(&cm), &again, CM, &manager("alice", false), now).unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"bob\" using v1: .data.a"
        );
        let forced = apply(Some(&cm), &again, CM, &manager("alice", true), now).unwrap();
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
        let cm = apply(None, &cm, CM, &manager("alice", false), now).unwrap();
        let same = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
        let shared = apply(Some(&cm), &same, CM, &manager("bob", false), now).unwrap();
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
        let after = apply(Some(&shared), &without_a, CM, &manager("alice", false), now).unwrap();
        assert_eq!(after["data"], json!({"a": "1", "b": "2"}));
    }

    fn deployment(containers: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": containers}}}})
    }

    const DEPLOYMENT: Shape = Shape::Type("Deployment");

    #[test]
    fn map_list_items_belong_to_whoever_applied_them() {
        let now = "2026-01-01T00:00:00Z";
        let alice = manager("alice", false);
        let bob = manager("bob", false);
        let d = deployment(json!([{"name": "a", "image": "x"}]));
        let d = apply(None, &d, DEPLOYMENT, &alice, now).unwrap();
        // bob's container joins alice's: no conflict, one item each.
        let with_b = deployment(json!([{"name": "b", "image": "y"}]));
        let d = apply(Some(&d), &with_b, DEPLOYMENT, &bob, now).unwrap();
        let names: Vec<&str> = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(
            d["metadata"]["managedFields"][1]["fieldsV1"],
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"b\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}})
        );
        // A field of alice's item is hers.
        let retag = deployment(json!([{"name": "a", "image": "z"}, {"name": "b", "image": "y"}]));
        let err = apply(Some(&d), &retag, DEPLOYMENT, &bob, now).unwrap_err();
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"alice\" using apps/v1: .spec.template.spec.containers[name=\"a\"].image"
        );
        // bob no longer applying his container removes it, and only it.
        let none =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}});
        let d = apply(Some(&d), &none, DEPLOYMENT, &bob, now).unwrap();
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"],
            json!([{"name": "a", "image": "x"}])
        );
    }

    #[test]
    fn an_update_takes_only_the_items_it_changes() {
        let now = "2026-01-01T00:00:00Z";
        let d = deployment(json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]));
        let before = apply(None, &d, DEPLOYMENT, &manager("alice", false), now).unwrap();
        let mut after = before.clone();
        after["spec"]["template"]["spec"]["containers"][1]["image"] = json!("y2");
        record_update(
            Some(&before),
            &mut after,
            DEPLOYMENT,
            "kubectl-set",
            now,
            None,
        );
        let owners: Vec<(&str, &Value)> = after["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["manager"].as_str().unwrap(),
                    &e["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"],
                )
            })
            .collect();
        assert_eq!(
            owners,
            [
                (
                    "alice",
                    &json!({"k:{\"name\":\"a\"}": {".": {}, "f:image": {}, "f:name": {}},
                    "k:{\"name\":\"b\"}": {".": {}, "f:name": {}}})
                ),
                (
                    "kubectl-set",
                    &json!({"k:{\"name\":\"b\"}": {"f:image": {}}})
                ),
            ]
        );
    }
}
