//! Discovery documents: `/version`, `/api`, `/api/v1`, `/apis`,
//! `/apis/<group>`, `/apis/<group>/<version>`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::registry::Resource;

pub fn version() -> Value {
    json!({
        "major": "1", "minor": "32", "gitVersion": "v1.32.0-kbind", "gitCommit": "kbind",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "n/a",
        "compiler": "rustc", "platform": "linux/amd64",
    })
}

pub fn core_versions(addr: &str) -> Value {
    json!({
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}],
    })
}

fn verbs() -> Value {
    json!([
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch"
    ])
}

pub fn resource_list(resources: &[Resource], group: &str, version: &str) -> Option<Value> {
    let matching: Vec<&Resource> = resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if matching.is_empty() {
        return None;
    }
    let mut list = vec![];
    for r in matching {
        list.push(json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
            "verbs": if r.review { json!(["create"]) } else { verbs() },
            "shortNames": r.short_names, "categories": r.categories,
        }));
        if r.status_subresource {
            list.push(json!({
                "name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced,
                "kind": r.kind, "verbs": ["get", "patch", "update"],
            }));
        }
        // The scale client finds a kind's Scale here (group, version, kind).
        if r.group == "apps" && r.kind == "Deployment" {
            list.push(json!({
                "name": format!("{}/scale", r.plural), "singularName": "", "namespaced": r.namespaced,
                "group": "autoscaling", "version": "v1", "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}),
    )
}

/// Each group's versions, most preferred first: GA before beta before
/// alpha, then the higher major and minor number, then versions of no
/// such form, by name (`CompareKubeAwareVersionStrings`, which the CRD
/// discovery controller sorts by; the first is the preferred version).
fn groups(resources: &[Resource]) -> BTreeMap<String, Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in resources.iter().filter(|r| !r.group.is_empty()) {
        let versions = groups.entry(r.group.clone()).or_default();
        if !versions.contains(&r.version) {
            versions.push(r.version.clone());
        }
    }
    for versions in groups.values_mut() {
        versions.sort_by(|a, b| kube_aware_order(b, a));
    }
    groups
}

/// How two API versions rank (Greater: `a` is preferred).
fn kube_aware_order(a: &str, b: &str) -> std::cmp::Ordering {
    /// (stability: alpha 0, beta 1, GA 2; major; minor), for `v<major>`
    /// and `v<major>(alpha|beta)<minor>`.
    fn parse(v: &str) -> Option<(u8, u64, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let major = rest[..digits].parse().ok()?;
        let tail = &rest[digits..];
        if tail.is_empty() {
            return Some((2, major, 0));
        }
        let (stability, minor) = if let Some(m) = tail.strip_prefix("alpha") {
            (0, m)
        } else {
            (1, tail.strip_prefix("beta")?)
        };
        if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some((stability, major, minor.parse().ok()?))
    }
    if a == b {
        return std::cmp::Ordering::Equal;
    }
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Greater,
        (None, Some(_)) => std::cmp::Ordering::Less,
        // Names of no kube form: the one that sorts first ranks higher.
        (None, None) => b.cmp(a),
    }
}

fn group_doc(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

pub fn group_list(resources: &[Resource]) -> Value {
    let groups: Vec<Value> = groups(resources)
        .iter()
        .map(|(g, v)| group_doc(g, v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(resources: &[Resource], name: &str) -> Option<Value> {
    let groups = groups(resources);
    let versions = groups.get(name)?;
    let mut doc = group_doc(name, versions);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

#[cfg(test)]
mod tests {
    use super::kube_aware_order;

    #[test]
    fn versions_rank_ga_then_beta_then_alpha_then_by_number_then_by_name() {
        let mut versions = vec![
            "v1alpha1",
            "foo",
            "v1",
            "v2beta1",
            "v1beta2",
            "v10",
            "v11alpha2",
            "bar",
            "v12alpha1",
            "v2",
            "v1beta1",
            "v3beta1",
        ];
        versions.sort_by(|a, b| kube_aware_order(b, a));
        assert_eq!(
            versions,
            [
                "v10",
                "v2",
                "v1",
                "v3beta1",
                "v2beta1",
                "v1beta2",
                "v1beta1",
                "v12alpha1",
                "v11alpha2",
                "v1alpha1",
                "bar",
                "foo"
            ]
        );
    }
}
