//! The Endpoints controller (1.32, `pkg/controller/endpoint`): a Service
//! with a selector gets the Endpoints of the same name, listing the
//! addresses of the pods it selects (ready ones under `addresses`, the
//! others under `notReadyAddresses`) with each Service port resolved to
//! the pod's (a named `targetPort` looked up among its container ports).
//! A Service without a selector keeps whatever Endpoints a user writes.
//! The EndpointSlice controller's slices (what `kubectl describe service`
//! reads since 1.32) are kept from the same pods: one per set of ports,
//! owned by the Service.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::collector::Work;
use super::selector::LabelSelector;
use super::state::{Key, ObjectStore};
use super::validation::{self, FieldError};

const SERVICE_NAME: &str = "kubernetes.io/service-name";
const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
const SLICE_CONTROLLER: &str = "endpointslice-controller.k8s.io";

fn service_key(namespace: &str, name: &str) -> Key {
    Key {
        group: String::new(),
        plural: "services".into(),
        namespace: namespace.into(),
        name: name.into(),
    }
}

fn endpoints_key(service: &Key) -> Key {
    Key {
        plural: "endpoints".into(),
        ..service.clone()
    }
}

/// The selector of a Service, as labels to match (None: no selector, the
/// Endpoints are the user's).
fn selector(service: &Value) -> Option<LabelSelector> {
    let labels = service["spec"]["selector"].as_object()?;
    if labels.is_empty() {
        return None;
    }
    LabelSelector::from_object(&json!({"matchLabels": labels}))
}

/// `podutil.FindPort`: a number as it is, a name among the pod's
/// container ports (with the Service port's protocol).
fn target_port(pod: &Value, target: &Value, protocol: &str) -> Option<i64> {
    match target {
        Value::String(name) => pod["spec"]["containers"]
            .as_array()?
            .iter()
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .find(|p| {
                p["name"] == name.as_str() && p["protocol"].as_str().unwrap_or("TCP") == protocol
            })
            .and_then(|p| p["containerPort"].as_i64()),
        other => other.as_i64(),
    }
}

/// `SetDefaults_Endpoints`: a port's protocol is TCP unless named.
pub fn defaults(endpoints: &mut Value) {
    for subset in endpoints["subsets"].as_array_mut().into_iter().flatten() {
        for port in subset["ports"].as_array_mut().into_iter().flatten() {
            if let Some(p) = port.as_object_mut()
                && super::pod::unset(p.get("protocol"))
            {
                p.insert("protocol".into(), json!("TCP"));
            }
        }
    }
}

/// `ValidateEndpoints` for what a hand-written one gets wrong: addresses
/// that are IPs, ports in range with a protocol, names when there are
/// several.
pub fn validate(endpoints: &Value) -> Vec<FieldError> {
    let mut errs = vec![];
    for (i, subset) in endpoints["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("subsets[{i}]");
        for list in ["addresses", "notReadyAddresses"] {
            for (j, a) in subset[list].as_array().into_iter().flatten().enumerate() {
                let ip = a["ip"].as_str().unwrap_or_default();
                if ip.parse::<std::net::IpAddr>().is_err() {
                    errs.push(FieldError::invalid(
                        format!("{at}.{list}[{j}].ip"),
                        ip,
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    ));
                }
            }
        }
        let ports = subset["ports"].as_array().cloned().unwrap_or_default();
        for (j, p) in ports.iter().enumerate() {
            let at = format!("{at}.ports[{j}]");
            errs.extend(validation::listed_port_name(
                p["name"].as_str().unwrap_or_default(),
                ports.len() > 1,
                format!("{at}.name"),
            ));
            errs.extend(validation::port_and_protocol(p, &at));
        }
    }
    errs
}

/// `ValidateEndpointSlice` for what a hand-written one gets wrong: its
/// address type, and addresses of that type.
pub fn validate_slice(slice: &Value) -> Vec<FieldError> {
    const TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];
    let mut errs = vec![];
    let kind = slice["addressType"].as_str().unwrap_or_default();
    match kind {
        "" => errs.push(FieldError::required("addressType", "")),
        k if !TYPES.contains(&k) => errs.push(FieldError::not_supported("addressType", k, TYPES)),
        _ => {}
    }
    for (i, e) in slice["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let addresses = e["addresses"].as_array().cloned().unwrap_or_default();
        if addresses.is_empty() || addresses.len() > 100 {
            errs.push(FieldError::invalid(
                format!("endpoints[{i}].addresses"),
                Value::Array(addresses.clone()),
                "must contain at least 1 address but no more than 100",
            ));
        }
        for (j, a) in addresses.iter().enumerate() {
            let a = a.as_str().unwrap_or_default();
            let ok = match kind {
                "IPv4" => a.parse::<std::net::Ipv4Addr>().is_ok(),
                "IPv6" => a.parse::<std::net::Ipv6Addr>().is_ok(),
                _ => true,
            };
            if !ok {
                errs.push(FieldError::invalid(
                    format!("endpoints[{i}].addresses[{j}]"),
                    a,
                    format!("must be a valid {kind} address"),
                ));
            }
        }
    }
    errs
}

/// `formatDiscoveryPorts` and `formatDiscoveryEndpoints` for a slice's
/// PORTS and ENDPOINTS columns.
pub fn slice_cells(slice: &Value) -> [String; 2] {
    let ports: Vec<String> = slice["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            p["port"]
                .as_i64()
                .map_or_else(|| "<unset>".to_string(), |n| n.to_string())
        })
        .collect();
    let addresses: Vec<String> = slice["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| validation::strings(&e["addresses"]))
        .collect();
    let endpoints = match addresses.len() {
        0 => "<unset>".to_string(),
        n if n > 3 => format!("{} + {} more...", addresses[..3].join(","), n - 3),
        _ => addresses.join(","),
    };
    let ports = if ports.is_empty() {
        "<unset>".to_string()
    } else {
        ports.join(",")
    };
    [ports, endpoints]
}

/// `formatEndpoints`: up to three `ip:port`, then how many more.
pub fn format(endpoints: &Value) -> String {
    let mut list = vec![];
    let mut total = 0;
    for subset in endpoints["subsets"].as_array().into_iter().flatten() {
        let addresses = subset["addresses"].as_array().cloned().unwrap_or_default();
        let ports = subset["ports"].as_array().cloned().unwrap_or_default();
        if ports.is_empty() {
            for a in &addresses {
                total += 1;
                if list.len() < 3 {
                    list.push(a["ip"].as_str().unwrap_or_default().to_string());
                }
            }
            continue;
        }
        for p in &ports {
            for a in &addresses {
                total += 1;
                if list.len() < 3 {
                    list.push(format!(
                        "{}:{}",
                        a["ip"].as_str().unwrap_or_default(),
                        p["port"].as_i64().unwrap_or(0)
                    ));
                }
            }
        }
    }
    if list.is_empty() {
        return "<none>".into();
    }
    let mut text = list.join(",");
    if total > list.len() {
        text.push_str(&format!(" + {} more...", total - list.len()));
    }
    text
}

impl ObjectStore {
    /// A write the Endpoints controller follows: a Service's, or a pod's
    /// (for the Services of its namespace that select it, before or after).
    pub(super) fn follow_endpoints_controller(
        &mut self,
        key: &Key,
        object: &Value,
        before: Option<&Value>,
    ) {
        if key.group.is_empty() && key.plural == "services" {
            self.queue_work(Work::Endpoints(key.clone()));
            return;
        }
        if !(key.group.is_empty() && key.plural == "pods") {
            return;
        }
        let selects = |service: &Value| {
            selector(service)
                .is_some_and(|s| s.matches(object) || before.is_some_and(|b| s.matches(b)))
        };
        let services: Vec<Key> = self
            .all("", "services", &key.namespace)
            .filter(|s| selects(s))
            .map(|s| {
                service_key(
                    &key.namespace,
                    s["metadata"]["name"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        for service in services {
            self.queue_work(Work::Endpoints(service));
        }
    }

    /// `syncService`: the Endpoints of a Service with a selector, made,
    /// changed or deleted to match the pods it selects.
    pub(super) fn sync_endpoints(&mut self, service_key: &Key) {
        let Some(endpoints_resource) = self.resource("", "v1", "endpoints").cloned() else {
            return;
        };
        let ep_key = endpoints_key(service_key);
        let current = self.objects_get(&ep_key);
        let service = self.objects_get(service_key);
        let Some(service) = service.filter(|s| !super::pods::deleting(s)) else {
            // The Service went: so do its Endpoints.
            if current.is_some() {
                self.serving(super::namespace_defaults::controller_manager(), |s| {
                    let _ = s.delete_with(
                        &endpoints_resource,
                        &ep_key.namespace,
                        &ep_key.name,
                        &super::deletion::BACKGROUND,
                    );
                });
            }
            return;
        };
        let Some(selector) = selector(&service) else {
            return;
        };
        let pods: Vec<Value> = self
            .all("", "pods", &service_key.namespace)
            .filter(|p| {
                selector.matches(p)
                    && !super::pods::deleting(p)
                    && p["status"]["podIP"]
                        .as_str()
                        .is_some_and(|ip| !ip.is_empty())
                    && !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
            })
            .cloned()
            .collect();
        // One subset per distinct set of resolved ports.
        let mut subsets: BTreeMap<String, (Value, Vec<Value>, Vec<Value>)> = BTreeMap::new();
        for pod in &pods {
            let ports: Vec<Value> = service["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|sp| {
                    let protocol = sp["protocol"].as_str().unwrap_or("TCP");
                    let port = target_port(pod, &sp["targetPort"], protocol)?;
                    let mut p = json!({"port": port, "protocol": protocol});
                    if let Some(name) = sp["name"].as_str().filter(|n| !n.is_empty()) {
                        p["name"] = json!(name);
                    }
                    Some(p)
                })
                .collect();
            let address = json!({
                "ip": pod["status"]["podIP"],
                "nodeName": pod["spec"]["nodeName"],
                "targetRef": {"kind": "Pod", "name": pod["metadata"]["name"],
                    "namespace": pod["metadata"]["namespace"], "uid": pod["metadata"]["uid"]},
            });
            let entry = subsets
                .entry(Value::Array(ports.clone()).to_string())
                .or_insert_with(|| (Value::Array(ports), vec![], vec![]));
            if super::pods::ready(pod) {
                entry.1.push(address);
            } else {
                entry.2.push(address);
            }
        }
        let by_ip = |a: &Value, b: &Value| {
            (a["ip"].as_str(), a["targetRef"]["uid"].as_str())
                .cmp(&(b["ip"].as_str(), b["targetRef"]["uid"].as_str()))
        };
        let subsets: Vec<Value> = subsets
            .into_values()
            .map(|(ports, mut addresses, mut not_ready)| {
                addresses.sort_by(by_ip);
                not_ready.sort_by(by_ip);
                let mut subset = json!({});
                if !addresses.is_empty() {
                    subset["addresses"] = Value::Array(addresses);
                }
                if !not_ready.is_empty() {
                    subset["notReadyAddresses"] = Value::Array(not_ready);
                }
                if ports.as_array().is_some_and(|p| !p.is_empty()) {
                    subset["ports"] = ports;
                }
                subset
            })
            .collect();
        self.sync_slices(&service, service_key, &subsets);
        let labels = service["metadata"]["labels"].clone();
        match current {
            Some(ep)
                if ep["subsets"] == json!(subsets)
                    || (ep["subsets"].is_null() && subsets.is_empty()) =>
            {
                if ep["metadata"]["labels"] != labels && labels.is_object() {
                    let mut next = ep;
                    next["metadata"]["labels"] = labels;
                    self.write_endpoints(&ep_key, next);
                }
            }
            Some(mut ep) => {
                ep["subsets"] = json!(subsets);
                if labels.is_object() {
                    ep["metadata"]["labels"] = labels;
                }
                self.write_endpoints(&ep_key, ep);
            }
            None => {
                let mut ep = json!({
                    "apiVersion": "v1",
                    "kind": "Endpoints",
                    "metadata": {"name": service_key.name, "namespace": service_key.namespace},
                });
                if labels.is_object() {
                    ep["metadata"]["labels"] = labels;
                }
                if !subsets.is_empty() {
                    ep["subsets"] = json!(subsets);
                }
                self.serving(super::namespace_defaults::controller_manager(), |s| {
                    let _ = s.create(&endpoints_resource, &service_key.namespace, ep);
                });
            }
        }
    }

    /// The EndpointSlice controller's part, from the same subsets: one
    /// slice per set of ports, owned by the Service, its endpoints' ready
    /// conditions from their pods'.
    fn sync_slices(&mut self, service: &Value, service_key: &Key, subsets: &[Value]) {
        let Some(r) = self
            .resource("discovery.k8s.io", "v1", "endpointslices")
            .cloned()
        else {
            return;
        };
        let name = service_key.name.as_str();
        let endpoint = |a: &Value, ready: bool| {
            json!({"addresses": [a["ip"]], "conditions": {"ready": ready, "serving": ready, "terminating": false},
                "nodeName": a["nodeName"], "targetRef": a["targetRef"]})
        };
        let desired: Vec<(Value, Value)> = subsets
            .iter()
            .map(|subset| {
                let mut endpoints: Vec<Value> = subset["addresses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| endpoint(a, true))
                    .collect();
                endpoints.extend(
                    subset["notReadyAddresses"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| endpoint(a, false)),
                );
                let ports: Vec<Value> = subset["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| json!({"name": p["name"].as_str().unwrap_or_default(), "port": p["port"], "protocol": p["protocol"]}))
                    .collect();
                (Value::Array(endpoints), Value::Array(ports))
            })
            .collect();
        let existing: Vec<(String, Value)> = self
            .all("discovery.k8s.io", "endpointslices", &service_key.namespace)
            .filter(|s| {
                s["metadata"]["labels"][SERVICE_NAME] == name
                    && s["metadata"]["labels"][MANAGED_BY] == SLICE_CONTROLLER
            })
            .map(|s| {
                (
                    s["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    s.clone(),
                )
            })
            .collect();
        let mut labels = service["metadata"]["labels"].clone();
        if !labels.is_object() {
            labels = json!({});
        }
        labels[SERVICE_NAME] = json!(name);
        labels[MANAGED_BY] = json!(SLICE_CONTROLLER);
        let owner = json!([{"apiVersion": "v1", "kind": "Service", "name": name,
            "uid": service["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]);
        let ns = service_key.namespace.clone();
        // A slice of the Service's, as the controller creates it; an empty
        // one carries no ports.
        let new_slice = |endpoints: &Value, ports: Option<&Value>| {
            let mut slice = json!({
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"generateName": format!("{name}-"), "namespace": ns,
                    "labels": labels, "ownerReferences": owner},
                "addressType": "IPv4",
                "endpoints": endpoints,
            });
            if let Some(ports) = ports {
                slice["ports"] = ports.clone();
            }
            slice
        };
        self.serving(super::namespace_defaults::controller_manager(), |s| {
            let mut existing = existing.into_iter();
            for (endpoints, ports) in &desired {
                match existing.next() {
                    Some((slice_name, slice)) => {
                        if slice["endpoints"] != *endpoints
                            || slice["ports"] != *ports
                            || slice["metadata"]["labels"] != labels
                        {
                            let mut next = slice;
                            next["endpoints"] = endpoints.clone();
                            next["ports"] = ports.clone();
                            next["metadata"]["labels"] = labels.clone();
                            let _ = s.update(&r, &ns, &slice_name, next, false);
                        }
                    }
                    None => {
                        let _ = s.create(&r, &ns, new_slice(endpoints, Some(ports)));
                    }
                }
            }
            // A Service that selects no pod keeps one empty slice.
            let mut rest: Vec<(String, Value)> = existing.collect();
            if desired.is_empty() && !rest.is_empty() {
                let (slice_name, slice) = rest.remove(0);
                if slice["endpoints"].as_array().is_some_and(|e| !e.is_empty()) {
                    let mut next = slice;
                    next["endpoints"] = json!([]);
                    let _ = s.update(&r, &ns, &slice_name, next, false);
                }
            } else if desired.is_empty() {
                let _ = s.create(&r, &ns, new_slice(&json!([]), None));
            }
            for (slice_name, _) in rest {
                let _ = s.delete_with(&r, &ns, &slice_name, &super::deletion::BACKGROUND);
            }
        });
    }

    fn write_endpoints(&mut self, key: &Key, object: Value) {
        self.serving(super::namespace_defaults::controller_manager(), |s| {
            if let Some(r) = s.resource_of(key) {
                let _ = s.update(&r, &key.namespace, &key.name, object, false);
            }
        });
    }

    /// The API server's own Endpoints for the `kubernetes` Service: its
    /// address and port (its `kubernetes` endpoint reconciler).
    pub(super) fn keep_kubernetes_endpoints(&mut self, port: u16) {
        let Some(r) = self.resource("", "v1", "endpoints").cloned() else {
            return;
        };
        let ports = json!([{"name": "https", "port": port, "protocol": "TCP"}]);
        let endpoints = json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default",
                "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": ports}]});
        self.keep_own(&r, endpoints, "/subsets");
        let Some(slices) = self
            .resource("discovery.k8s.io", "v1", "endpointslices")
            .cloned()
        else {
            return;
        };
        let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "namespace": "default",
                "labels": {SERVICE_NAME: "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": true}}],
            "ports": ports});
        self.keep_own(&slices, slice, "/ports");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_print_three_then_how_many_more() {
        let ep = json!({"subsets": [{"addresses": [{"ip": "10.244.0.2"}, {"ip": "10.244.0.3"}, {"ip": "10.244.0.4"}, {"ip": "10.244.0.5"}],
            "ports": [{"port": 80, "protocol": "TCP"}]}]});
        assert_eq!(
            format(&ep),
            "10.244.0.2:80,10.244.0.3:80,10.244.0.4:80 + 1 more..."
        );
        assert_eq!(format(&json!({})), "<none>");
    }

    #[test]
    fn a_named_target_port_is_the_pods_container_port() {
        let pod = json!({"spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]}});
        assert_eq!(target_port(&pod, &json!("http"), "TCP"), Some(8080));
        assert_eq!(target_port(&pod, &json!("http"), "UDP"), None);
        assert_eq!(target_port(&pod, &json!(9090), "TCP"), Some(9090));
    }
}
