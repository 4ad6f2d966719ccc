//! Discovery documents: `/version`, `/api`, `/api/v1`, `/apis`,
//! `/apis/<group>`, `/apis/<group>/<version>`, and `/api` and `/apis` as
//! aggregated discovery (`apidiscovery.k8s.io`), which kubectl asks for
//! first: every group's versions and resources in one document.

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
        if r.has_scale() {
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
/// The core group alone (`core`), or every other group.
fn groups(resources: &[Resource], core: bool) -> BTreeMap<String, Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in resources.iter().filter(|r| r.group.is_empty() == core) {
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

/// The aggregated discovery media type's version an Accept header asks
/// for (`v2` or `v2beta1`, as 1.32 serves both), if it prefers one to the
/// plain documents; its clauses are taken in order, and protobuf is not
/// served.
pub fn aggregated_version(accept: &str) -> Option<&'static str> {
    for clause in accept.split(',') {
        let mut parts = clause.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
        let param = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let json = matches!(media, "application/json" | "application/*" | "*/*");
        match (param("g"), param("as"), param("v")) {
            (Some("apidiscovery.k8s.io"), Some("APIGroupDiscoveryList"), Some(v)) if json => {
                match v {
                    "v2" => return Some("v2"),
                    "v2beta1" => return Some("v2beta1"),
                    _ => {}
                }
            }
            (None, None, None) if json => return None,
            _ => {}
        }
    }
    None
}

/// `/api` (the core group) or `/apis` (every other group) as aggregated
/// discovery at `version`: each group's versions, preferred first, each
/// with its resources and their subresources.
pub fn aggregated(resources: &[Resource], core: bool, version: &str) -> Value {
    let items: Vec<Value> = ordered(groups(resources, core))
        .into_iter()
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| {
                    json!({"version": v, "resources": resource_discovery(resources, &group, v),
                        "freshness": "Current"})
                })
                .collect();
            let mut metadata = json!({"creationTimestamp": null});
            if !group.is_empty() {
                metadata["name"] = json!(group);
            }
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {}, "items": items})
}

/// A group version's resources as `APIResourceDiscovery`: what its
/// `APIResourceList` says, subresources under their resource.
fn resource_discovery(resources: &[Resource], group: &str, version: &str) -> Vec<Value> {
    let Some(list) = resource_list(resources, group, version) else {
        return vec![];
    };
    let entries = list["resources"].as_array().cloned().unwrap_or_default();
    let mut out: Vec<Value> = vec![];
    for e in &entries {
        let name = e["name"].as_str().unwrap_or_default();
        let kind_of = |e: &Value| {
            json!({"group": e.get("group").cloned().unwrap_or_else(|| json!(group)),
                "version": e.get("version").cloned().unwrap_or_else(|| json!(version)),
                "kind": e["kind"]})
        };
        match name.split_once('/') {
            None => {
                let mut r = json!({
                    "resource": name, "responseKind": kind_of(e),
                    "scope": if e["namespaced"] == json!(true) { "Namespaced" } else { "Cluster" },
                    "singularResource": e["singularName"], "verbs": e["verbs"],
                });
                for optional in ["shortNames", "categories"] {
                    if e[optional].as_array().is_some_and(|a| !a.is_empty()) {
                        r[optional] = e[optional].clone();
                    }
                }
                out.push(r);
            }
            Some((parent, sub)) => {
                if let Some(p) = out.iter_mut().find(|r| r["resource"] == json!(parent)) {
                    let entry = json!({"subresource": sub, "responseKind": kind_of(e), "verbs": e["verbs"]});
                    match p["subresources"].as_array_mut() {
                        Some(subs) => subs.push(entry),
                        None => p["subresources"] = json!([entry]),
                    }
                }
            }
        }
    }
    out
}

/// How two API versions rank (Greater: `a` is preferred).
pub(crate) fn kube_aware_order(a: &str, b: &str) -> std::cmp::Ordering {
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

/// Where a group is listed: built-in groups by the aggregator's
/// `apiVersionPriorities` (the groups served here), custom resources'
/// groups at 1000, as their APIServices say; higher first, then by name.
fn group_priority(group: &str) -> u32 {
    match group {
        "" => 18000,
        "apps" => 17800,
        "events.k8s.io" => 17750,
        "authentication.k8s.io" => 17700,
        "authorization.k8s.io" => 17600,
        "autoscaling" => 17500,
        "batch" => 17400,
        "rbac.authorization.k8s.io" => 17000,
        "apiextensions.k8s.io" => 16700,
        "coordination.k8s.io" => 16500,
        "discovery.k8s.io" => 16200,
        _ => 1000,
    }
}

/// The groups in the order discovery lists them.
fn ordered(groups: BTreeMap<String, Vec<String>>) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = groups.into_iter().collect();
    groups.sort_by(|(a, _), (b, _)| {
        group_priority(b)
            .cmp(&group_priority(a))
            .then_with(|| a.cmp(b))
    });
    groups
}

fn group_doc(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

pub fn group_list(resources: &[Resource]) -> Value {
    let groups: Vec<Value> = ordered(groups(resources, false))
        .iter()
        .map(|(g, v)| group_doc(g, v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(resources: &[Resource], name: &str) -> Option<Value> {
    let groups = groups(resources, false);
    let versions = groups.get(name)?;
    let mut doc = group_doc(name, versions);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectls_accept_header_gets_aggregated_discovery_and_a_plain_one_does_not() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(kubectl), Some("v2"));
        assert_eq!(
            aggregated_version(
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            ),
            Some("v2beta1")
        );
        // Protobuf is not served: the next clause decides.
        assert_eq!(
            aggregated_version(
                "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
            ),
            None
        );
        assert_eq!(aggregated_version("application/json, */*"), None);
        assert_eq!(aggregated_version(""), None);
    }

    #[test]
    fn aggregated_discovery_lists_resources_with_their_subresources_by_group_priority() {
        let resources = super::super::registry::builtins();
        let apis = aggregated(&resources, false, "v2");
        let groups: Vec<&str> = apis["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            groups[..3],
            ["apps", "events.k8s.io", "authentication.k8s.io"]
        );
        let apps = &apis["items"][0]["versions"][0];
        assert_eq!(apps["version"], "v1");
        assert_eq!(apps["freshness"], "Current");
        let deployments = apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        assert_eq!(deployments["scope"], "Namespaced");
        assert_eq!(deployments["shortNames"], json!(["deploy"]));
        assert_eq!(
            deployments["subresources"],
            json!([
                {"subresource": "status", "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"}, "verbs": ["get", "patch", "update"]},
                {"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": ["get", "patch", "update"]},
            ])
        );
        let core = aggregated(&resources, true, "v2");
        assert_eq!(core["items"].as_array().map(Vec::len), Some(1));
        assert!(core["items"][0]["metadata"].get("name").is_none());
        assert_eq!(core["apiVersion"], "apidiscovery.k8s.io/v2");
    }

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
