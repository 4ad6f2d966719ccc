//! Core/v1 Services as a 1.32 server keeps them: `SetDefaults_Service`,
//! `ValidateService` for what a manifest gets wrong (ports, names,
//! protocols, types, selectors, session affinity, the cluster IP), the
//! allocators' cluster IPs (kubeadm's `10.96.0.0/12`, single stack IPv4)
//! and node ports (`30000-32767`), an update keeping what was allocated,
//! and the `kubernetes` Service the API server keeps for itself. Nothing
//! routes to a Service here (README: "What still differs").

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::validation::{self, FieldError};

/// kubeadm's (and kind's) `--service-cluster-ip-range`.
pub const CLUSTER_IP_RANGE: &str = "10.96.0.0/12";
const RANGE_BASE: u32 = u32::from_be_bytes([10, 96, 0, 0]);
const RANGE_SIZE: u32 = 1 << 20;
/// The static band (`ServiceIPStaticSubrange`): dynamic allocations take
/// addresses above it first, leaving the low ones for users who pick.
const STATIC_BAND: u32 = 256;
const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;
/// `ServiceNodePortStaticSubrange`'s band for a 2768-port range.
const NODE_PORT_STATIC_BAND: i64 = 86;

const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

fn spec_str<'a>(service: &'a Value, field: &str) -> &'a str {
    service["spec"][field].as_str().unwrap_or_default()
}

fn ports(service: &Value) -> &[Value] {
    service["spec"]["ports"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// `SetDefaults_Service`.
pub fn defaults(service: &mut Value) {
    let Some(spec) = service.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let unset = |spec: &serde_json::Map<String, Value>, key: &str| super::pod::unset(spec.get(key));
    if unset(spec, "sessionAffinity") {
        spec.insert("sessionAffinity".into(), json!("None"));
    }
    match spec.get("sessionAffinity").and_then(Value::as_str) {
        Some("None") => {
            spec.remove("sessionAffinityConfig");
        }
        Some("ClientIP")
            if spec
                .get("sessionAffinityConfig")
                .and_then(|c| c.pointer("/clientIP/timeoutSeconds"))
                .is_none_or(Value::is_null) =>
        {
            spec.insert(
                "sessionAffinityConfig".into(),
                json!({"clientIP": {"timeoutSeconds": 10800}}),
            );
        }
        _ => {}
    }
    if unset(spec, "type") {
        spec.insert("type".into(), json!("ClusterIP"));
    }
    for p in spec
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let Some(p) = p.as_object_mut() else { continue };
        if super::pod::unset(p.get("protocol")) {
            p.insert("protocol".into(), json!("TCP"));
        }
        let target_unset = p
            .get("targetPort")
            .is_none_or(|t| t.is_null() || t == 0 || t == "");
        if target_unset && let Some(port) = p.get("port").cloned() {
            p.insert("targetPort".into(), port);
        }
    }
    let kind = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let external_ips = spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let externally_accessible =
        kind == "LoadBalancer" || kind == "NodePort" || (kind == "ClusterIP" && external_ips);
    if externally_accessible && unset(spec, "externalTrafficPolicy") {
        spec.insert("externalTrafficPolicy".into(), json!("Cluster"));
    }
    if matches!(kind.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer")
        && unset(spec, "internalTrafficPolicy")
    {
        spec.insert("internalTrafficPolicy".into(), json!("Cluster"));
    }
    if kind == "LoadBalancer"
        && spec
            .get("allocateLoadBalancerNodePorts")
            .is_none_or(Value::is_null)
    {
        spec.insert("allocateLoadBalancerNodePorts".into(), json!(true));
    }
}

/// `ValidateService` for what a manifest gets wrong.
pub fn validate(service: &Value) -> Vec<FieldError> {
    let mut errs = vec![];
    let kind = spec_str(service, "type");
    let cluster_ip = spec_str(service, "clusterIP");
    let headless = cluster_ip == "None";
    let ports = ports(service);
    if ports.is_empty() && !headless && kind != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    match kind {
        "LoadBalancer" | "NodePort" if headless => errs.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            "None",
            format!("may not be set to 'None' for {kind} services"),
        )),
        "ExternalName" => {
            if !cluster_ip.is_empty() {
                errs.push(FieldError::forbidden(
                    "spec.clusterIPs",
                    "may not be set for ExternalName services",
                ));
            }
            match spec_str(service, "externalName") {
                "" => errs.push(FieldError::required("spec.externalName", "")),
                name => {
                    let name = name.strip_suffix('.').unwrap_or(name);
                    for m in validation::dns1123_subdomain(name) {
                        errs.push(FieldError::invalid("spec.externalName", name, m));
                    }
                }
            }
        }
        _ => {}
    }
    let mut names = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let at = format!("spec.ports[{i}]");
        let name = p["name"].as_str().unwrap_or_default();
        errs.extend(validation::listed_port_name(
            name,
            ports.len() > 1,
            format!("{at}.name"),
        ));
        if !name.is_empty() && !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(format!("{at}.name"), name));
        }
        errs.extend(validation::port_and_protocol(p, &at));
        match &p["targetPort"] {
            Value::String(s) => {
                for m in validation::port_name(s) {
                    errs.push(FieldError::invalid(
                        format!("{at}.targetPort"),
                        s.as_str(),
                        m,
                    ));
                }
            }
            other => {
                let n = other.as_i64().unwrap_or(0);
                for m in validation::port_number(n) {
                    errs.push(FieldError::invalid(format!("{at}.targetPort"), n, m));
                }
            }
        }
    }
    errs.extend(validation::labels(
        &service["spec"]["selector"],
        "spec.selector",
    ));
    match spec_str(service, "sessionAffinity") {
        "" => errs.push(FieldError::required("spec.sessionAffinity", "")),
        "ClientIP" => {
            let timeout = service
                .pointer("/spec/sessionAffinityConfig/clientIP/timeoutSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if !(1..=86400).contains(&timeout) {
                errs.push(FieldError::invalid(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    timeout,
                    "must be greater than 0 and less than 86400",
                ));
            }
        }
        "None" => {
            if !service["spec"]["sessionAffinityConfig"].is_null() {
                errs.push(FieldError::forbidden(
                    "spec.sessionAffinityConfig",
                    "must not be set when session affinity is None",
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            "spec.sessionAffinity",
            other,
            &["ClientIP", "None"],
        )),
    }
    if !cluster_ip.is_empty() && !headless && cluster_ip.parse::<std::net::IpAddr>().is_err() {
        errs.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            cluster_ip,
            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        ));
    }
    match kind {
        "" => errs.push(FieldError::required("spec.type", "")),
        k if !TYPES.contains(&k) => errs.push(FieldError::not_supported("spec.type", k, TYPES)),
        _ => {}
    }
    errs.extend(duplicate_ports(ports, kind));
    errs
}

/// The port checks that follow the type's: no node port on a ClusterIP
/// Service, no (protocol, node port) or (protocol, port) twice.
fn duplicate_ports(ports: &[Value], kind: &str) -> Vec<FieldError> {
    let mut errs = vec![];
    let protocol = |p: &Value| p["protocol"].as_str().unwrap_or_default().to_string();
    let node_port = |p: &Value| p["nodePort"].as_i64().unwrap_or(0);
    if kind == "ClusterIP" {
        for (i, _) in ports.iter().enumerate().filter(|(_, p)| node_port(p) != 0) {
            errs.push(FieldError::forbidden(
                format!("spec.ports[{i}].nodePort"),
                "may not be used when `type` is 'ClusterIP'",
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for (i, p) in ports.iter().enumerate().filter(|(_, p)| node_port(p) != 0) {
        if !seen.insert((protocol(p), node_port(p))) {
            errs.push(FieldError::duplicate(
                format!("spec.ports[{i}].nodePort"),
                node_port(p),
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let port = p["port"].as_i64().unwrap_or(0);
        if !seen.insert((protocol(p), port)) {
            let mut e = FieldError::duplicate(format!("spec.ports[{i}]"), Value::Null);
            e.shown = Some(format!(
                "core.ServicePort{{Name:\"\", Protocol:{:?}, AppProtocol:(*string)(nil), Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
                protocol(p)
            ));
            errs.push(e);
        }
    }
    errs
}

/// The strategy's `ValidateUpdate`: a cluster IP, once allocated, stays.
pub fn validate_update(next: &Value, current: &Value) -> Vec<FieldError> {
    let before = spec_str(current, "clusterIP");
    if spec_str(next, "type") != "ExternalName"
        && spec_str(current, "type") != "ExternalName"
        && !before.is_empty()
        && spec_str(next, "clusterIP") != before
    {
        return vec![FieldError::invalid(
            "spec.clusterIP",
            spec_str(next, "clusterIP"),
            "field is immutable",
        )];
    }
    vec![]
}

/// `patchAllocatedValues`: an update that leaves out what was allocated
/// (a `kubectl replace` of the manifest as first written) keeps it; and
/// `dropTypeDependentFields`: a type that no longer uses an allocated
/// cluster IP or node port lets it go, unless the update set it anew.
pub fn keep_allocated(next: &mut Value, current: &Value) {
    let uses_node_ports = |s: &Value| matches!(spec_str(s, "type"), "NodePort" | "LoadBalancer");
    if spec_str(next, "type") == "ExternalName" && spec_str(current, "type") != "ExternalName" {
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if next["spec"][field] == current["spec"][field]
                && let Some(spec) = next["spec"].as_object_mut()
            {
                spec.remove(field);
            }
        }
    }
    if uses_node_ports(current) && !uses_node_ports(next) {
        let old: Vec<Value> = ports(current)
            .iter()
            .map(|p| p["nodePort"].clone())
            .collect();
        for p in next["spec"]["ports"].as_array_mut().into_iter().flatten() {
            if old.contains(&p["nodePort"])
                && let Some(p) = p.as_object_mut()
            {
                p.remove("nodePort");
            }
        }
    }
    let needs_ip = |s: &Value| spec_str(s, "type") != "ExternalName";
    if needs_ip(next) && needs_ip(current) && spec_str(next, "clusterIP").is_empty() {
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if !current["spec"][field].is_null() && next["spec"].is_object() {
                next["spec"][field] = current["spec"][field].clone();
            }
        }
    }
    let allocated: Vec<(i64, String, Value)> = ports(current)
        .iter()
        .filter(|p| p["nodePort"].as_i64().unwrap_or(0) != 0)
        .map(|p| {
            (
                p["port"].as_i64().unwrap_or(0),
                p["protocol"].as_str().unwrap_or_default().to_string(),
                p["nodePort"].clone(),
            )
        })
        .collect();
    if !matches!(spec_str(next, "type"), "NodePort" | "LoadBalancer") {
        return;
    }
    for p in next["spec"]["ports"].as_array_mut().into_iter().flatten() {
        if p["nodePort"].as_i64().unwrap_or(0) != 0 {
            continue;
        }
        let port = p["port"].as_i64().unwrap_or(0);
        let protocol = p["protocol"].as_str().unwrap_or_default().to_string();
        if let Some((.., node_port)) = allocated
            .iter()
            .find(|(n, proto, _)| *n == port && *proto == protocol)
        {
            p["nodePort"] = node_port.clone();
        }
    }
}

/// What the other Services hold, for the allocators.
#[derive(Default)]
pub struct Allocated {
    pub ips: BTreeSet<u32>,
    pub node_ports: BTreeSet<i64>,
}

impl Allocated {
    pub fn add(&mut self, service: &Value) {
        if let Ok(ip) = spec_str(service, "clusterIP").parse::<Ipv4Addr>() {
            self.ips.insert(u32::from(ip));
        }
        for p in ports(service) {
            if let Some(n) = p["nodePort"].as_i64().filter(|n| *n != 0) {
                self.node_ports.insert(n);
            }
        }
    }
}

/// The allocators on create: a cluster IP (and its family fields) unless
/// headless or ExternalName, node ports for NodePort and LoadBalancer
/// ports that name none, and the status a new Service has. An address or
/// port asked for that is taken, or outside its range, is refused as the
/// allocators refuse it.
pub fn allocate(service: &mut Value, taken: &Allocated) -> Result<(), Vec<FieldError>> {
    let kind = spec_str(service, "type").to_string();
    if kind != "ExternalName" {
        single_stack(service)?;
        let asked = spec_str(service, "clusterIP").to_string();
        let ip = match asked.as_str() {
            "None" => "None".to_string(),
            "" => {
                let offset = (STATIC_BAND..RANGE_SIZE - 1)
                    .chain(1..STATIC_BAND)
                    .find(|o| !taken.ips.contains(&(RANGE_BASE + o)));
                let Some(offset) = offset else {
                    return Err(vec![FieldError::invalid(
                        "spec.clusterIPs",
                        Value::Null,
                        "failed to allocate a serviceIP: range is full",
                    )]);
                };
                Ipv4Addr::from(RANGE_BASE + offset).to_string()
            }
            given => {
                let refused = |why: String| {
                    let mut e = FieldError::invalid("spec.clusterIPs", Value::Null, why);
                    e.shown = Some(format!("[]string{{{given:?}}}"));
                    Err(vec![e])
                };
                let Ok(addr) = given.parse::<Ipv4Addr>() else {
                    return Ok(());
                };
                let n = u32::from(addr);
                if !(RANGE_BASE < n && n < RANGE_BASE + RANGE_SIZE - 1) {
                    return refused(format!(
                        "failed to allocate IP {given}: the provided IP ({given}) is not in the valid range. The range of valid IPs is {CLUSTER_IP_RANGE}"
                    ));
                }
                if taken.ips.contains(&n) {
                    return refused(format!(
                        "failed to allocate IP {given}: provided IP is already allocated"
                    ));
                }
                given.to_string()
            }
        };
        let spec = &mut service["spec"];
        spec["clusterIP"] = json!(ip);
        spec["clusterIPs"] = json!([ip]);
        if spec["ipFamilies"].as_array().is_none_or(Vec::is_empty) {
            spec["ipFamilies"] = json!(["IPv4"]);
        }
        if spec["ipFamilyPolicy"].as_str().is_none_or(str::is_empty) {
            spec["ipFamilyPolicy"] = json!("SingleStack");
        }
    }
    if matches!(kind.as_str(), "NodePort" | "LoadBalancer") {
        let mut used = taken.node_ports.clone();
        let mut errs = vec![];
        for (i, p) in service["spec"]["ports"]
            .as_array_mut()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let asked = p["nodePort"].as_i64().unwrap_or(0);
            if asked == 0 {
                let start = NODE_PORTS.start() + NODE_PORT_STATIC_BAND;
                let free = (start..=*NODE_PORTS.end())
                    .chain(*NODE_PORTS.start()..start)
                    .find(|n| !used.contains(n));
                if let Some(n) = free {
                    used.insert(n);
                    p["nodePort"] = json!(n);
                }
                continue;
            }
            let field = format!("spec.ports[{i}].nodePort");
            if !NODE_PORTS.contains(&asked) {
                errs.push(FieldError::invalid(
                    field,
                    asked,
                    "provided port is not in the valid range. The range of valid ports is 30000-32767",
                ));
            } else if !used.insert(asked) {
                errs.push(FieldError::invalid(
                    field,
                    asked,
                    "provided port is already allocated",
                ));
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
    }
    service["status"] = json!({"loadBalancer": {}});
    Ok(())
}

/// `initIPFamilyFields` on a single-stack IPv4 cluster: dual stack
/// required, or an IPv6 family, is refused.
fn single_stack(service: &Value) -> Result<(), Vec<FieldError>> {
    let mut errs = vec![];
    if spec_str(service, "ipFamilyPolicy") == "RequireDualStack" {
        errs.push(FieldError::invalid(
            "spec.ipFamilyPolicy",
            "RequireDualStack",
            "this cluster is not configured for dual-stack services",
        ));
    }
    let families = validation::strings(&service["spec"]["ipFamilies"]);
    for (i, family) in families.iter().enumerate() {
        if family != "IPv4" {
            let mut e = FieldError::invalid(
                format!("spec.ipFamilies[{i}]"),
                Value::Null,
                "not configured on this cluster",
            );
            let quoted: Vec<String> = families.iter().map(|f| format!("{f:?}")).collect();
            e.shown = Some(format!("[]core.IPFamily{{{}}}", quoted.join(", ")));
            errs.push(e);
        }
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

/// The allocators on update: a type that needs them now gets the cluster
/// IP and node ports it has not got (ClusterIP to NodePort, ExternalName
/// to ClusterIP), the others' taken into account.
pub fn allocate_on_update(service: &mut Value, taken: &Allocated) -> Result<(), Vec<FieldError>> {
    let status = service["status"].clone();
    let needs_ip =
        spec_str(service, "type") != "ExternalName" && spec_str(service, "clusterIP").is_empty();
    let needs_ports = matches!(spec_str(service, "type"), "NodePort" | "LoadBalancer")
        && ports(service)
            .iter()
            .any(|p| p["nodePort"].as_i64().unwrap_or(0) == 0);
    if needs_ip || needs_ports {
        allocate(service, taken)?;
        // The status is the controllers' to write; an update keeps it.
        service["status"] = status;
    }
    Ok(())
}

/// The `kubernetes` Service in `default`, as the API server's own
/// controller keeps it: the range's first address, HTTPS on 443 to the
/// server's port.
pub fn kubernetes(port: u16) -> Value {
    let ip = Ipv4Addr::from(RANGE_BASE + 1).to_string();
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "clusterIP": ip,
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
            "sessionAffinity": "None",
            "type": "ClusterIP",
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(spec: Value) -> Value {
        let mut s = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec});
        defaults(&mut s);
        s
    }

    #[test]
    fn a_service_is_defaulted_and_allocated_as_a_real_server_does() {
        let mut s = service(json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}));
        assert!(validate(&s).is_empty(), "{:?}", validate(&s));
        let mut taken = Allocated::default();
        taken.add(&kubernetes(6443));
        allocate(&mut s, &taken).unwrap();
        assert_eq!(
            s["spec"],
            json!({"selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                "sessionAffinity": "None", "type": "ClusterIP", "internalTrafficPolicy": "Cluster",
                "clusterIP": "10.96.1.0", "clusterIPs": ["10.96.1.0"], "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"})
        );
        assert_eq!(s["status"], json!({"loadBalancer": {}}));
        let mut node_port =
            service(json!({"type": "NodePort", "ports": [{"port": 80, "targetPort": "http"}]}));
        allocate(&mut node_port, &taken).unwrap();
        assert_eq!(node_port["spec"]["ports"][0]["nodePort"], 30086);
        assert_eq!(node_port["spec"]["externalTrafficPolicy"], "Cluster");
        let mut taken_ip = service(json!({"clusterIP": "10.96.0.1", "ports": [{"port": 80}]}));
        let errs = allocate(&mut taken_ip, &taken).unwrap_err();
        assert_eq!(
            errs[0].body(),
            "Invalid value: []string{\"10.96.0.1\"}: failed to allocate IP 10.96.0.1: provided IP is already allocated"
        );
        let mut dual = service(
            json!({"ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv4", "IPv6"], "ports": [{"port": 80}]}),
        );
        let bodies: Vec<String> = allocate(&mut dual, &taken)
            .unwrap_err()
            .iter()
            .map(|e| format!("{}: {}", e.field, e.body()))
            .collect();
        assert_eq!(
            bodies,
            [
                "spec.ipFamilyPolicy: Invalid value: \"RequireDualStack\": this cluster is not configured for dual-stack services",
                "spec.ipFamilies[1]: Invalid value: []core.IPFamily{\"IPv4\", \"IPv6\"}: not configured on this cluster",
            ]
        );
    }

    #[test]
    fn a_bad_service_is_refused_in_validate_services_words() {
        let s = service(json!({"type": "Cluster", "ports": [
            {"name": "http", "port": 80},
            {"port": 70000, "protocol": "ICMP", "targetPort": "Web--"},
        ]}));
        let bodies: Vec<String> = validate(&s)
            .iter()
            .map(|e| format!("{}: {}", e.field, e.body()))
            .collect();
        assert_eq!(
            bodies,
            [
                "spec.ports[1].name: Required value",
                "spec.ports[1].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.ports[1].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.ports[1].targetPort: Invalid value: \"Web--\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                "spec.ports[1].targetPort: Invalid value: \"Web--\": must not contain consecutive hyphens",
                "spec.ports[1].targetPort: Invalid value: \"Web--\": must not begin or end with a hyphen",
                "spec.type: Unsupported value: \"Cluster\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"",
            ]
        );
        assert_eq!(
            validate(&service(json!({"selector": {"app": "x"}})))[0].field,
            "spec.ports"
        );
    }

    #[test]
    fn an_update_keeps_what_was_allocated_and_may_not_move_it() {
        let mut before = service(json!({"type": "NodePort", "ports": [{"port": 80}]}));
        allocate(&mut before, &Allocated::default()).unwrap();
        let mut replaced = service(json!({"type": "NodePort", "ports": [{"port": 80}]}));
        keep_allocated(&mut replaced, &before);
        assert_eq!(replaced["spec"]["clusterIP"], before["spec"]["clusterIP"]);
        assert_eq!(
            replaced["spec"]["ports"][0]["nodePort"],
            before["spec"]["ports"][0]["nodePort"]
        );
        let mut moved = replaced.clone();
        moved["spec"]["clusterIP"] = json!("10.96.0.99");
        assert_eq!(
            validate_update(&moved, &before)[0].body(),
            "Invalid value: \"10.96.0.99\": field is immutable"
        );
    }
}
