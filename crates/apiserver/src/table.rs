//! `as=Table` responses, so `kubectl get` prints what a real API server
//! gives it: a CRD's printer columns, and the built-in kinds' columns of
//! the server's printers.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::error::ApiError;
use super::registry::Resource;

/// A printer column's value: its JSONPath (Kubernetes' dialect, with
/// filters such as `.status.conditions[?(@.type=="Ready")].status`)
/// evaluated over the object; the first result, as the apiextensions
/// table convertor takes it, and nothing when there is none.
fn cell(object: &Value, path: &str) -> Value {
    use jsonpath_rust::JsonPath;
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let query = format!("${}", path.trim_start_matches('$'));
    match object
        .query(&query)
        .ok()
        .and_then(|found| found.first().copied())
    {
        Some(Value::Null) | None => Value::Null,
        Some(Value::String(s)) => json!(s),
        Some(v @ (Value::Bool(_) | Value::Number(_))) => v.clone(),
        Some(other) => json!(other.to_string()),
    }
}

/// apimachinery's `duration.HumanDuration`, which a real server's table
/// convertors print ages and durations with ("90s", "5m30s", "3h", "2d4h").
fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let s = seconds.max(0);
    if s < 120 {
        return format!("{s}s");
    }
    let minutes = s / 60;
    if minutes < 10 {
        return match s % 60 {
            0 => format!("{minutes}m"),
            rest => format!("{minutes}m{rest}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = s / 3600;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            rest => format!("{hours}h{rest}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{}d", hours / 24),
            rest => format!("{}d{rest}h", hours / 24),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return match (hours / 24) % 365 {
            0 => format!("{}y", hours / 24 / 365),
            rest => format!("{}y{rest}d", hours / 24 / 365),
        };
    }
    format!("{}y", hours / 24 / 365)
}

fn seconds_since_epoch(timestamp: &str) -> Option<i64> {
    kbind_model::time::parse_time(timestamp)
        .ok()
        .map(|ms| ms / 1000)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Time since `timestamp`, as the convertors' `translateTimestampSince`.
fn age(timestamp: Option<&str>) -> Value {
    match timestamp.and_then(seconds_since_epoch) {
        Some(t) => json!(human_duration(now() - t)),
        None => json!("<unknown>"),
    }
}

fn render_cell(column_type: &str, value: Value) -> Value {
    match (column_type, &value) {
        ("date", Value::String(t)) => age(Some(t)),
        _ => value,
    }
}

fn column(name: &str, type_: &str, description: &str, priority: i64) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": type_, "format": format, "description": description, "priority": priority})
}

const NAME: &str = "Name must be unique within a namespace.";
const AGE: &str =
    "CreationTimestamp is a timestamp representing the server time when this object was created.";

fn text(object: &Value, pointer: &str) -> Value {
    json!(
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    )
}

fn count(object: &Value, pointers: &[&str]) -> Value {
    let n: usize = pointers
        .iter()
        .filter_map(|p| object.pointer(p))
        .map(|v| match v {
            Value::Object(m) => m.len(),
            Value::Array(a) => a.len(),
            _ => 0,
        })
        .sum();
    json!(n)
}

fn created(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
}

/// `getServiceExternalIP` (not wide): external IPs, a load balancer's
/// ingress, `<pending>` for a load balancer without one, an ExternalName's
/// name.
fn service_external_ip(service: &Value) -> String {
    let external: Vec<&str> = service
        .pointer("/spec/externalIPs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match service
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or_default()
    {
        "ClusterIP" | "NodePort" if !external.is_empty() => external.join(","),
        "ClusterIP" | "NodePort" => "<none>".into(),
        "LoadBalancer" => {
            let mut ips: Vec<&str> = service
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|i| i["ip"].as_str().or_else(|| i["hostname"].as_str()))
                .collect();
            ips.extend(external);
            if ips.is_empty() {
                "<pending>".into()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => service
            .pointer("/spec/externalName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => "<unknown>".into(),
    }
}

/// The wide columns a workload's template fills (`template_cells`).
fn containers_column() -> Value {
    column(
        "Containers",
        "string",
        "Names of each container in the template.",
        1,
    )
}

fn images_column() -> Value {
    column(
        "Images",
        "string",
        "Images referenced by each container in the template.",
        1,
    )
}

/// `layoutContainerCells`: a workload template's container names and
/// images, comma-joined.
fn template_cells(workload: &Value) -> [Value; 2] {
    let containers = workload
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let join = |field: &str| {
        let parts: Vec<&str> = containers
            .iter()
            .filter_map(|c| c[field].as_str())
            .collect();
        json!(parts.join(","))
    };
    [join("name"), join("image")]
}

/// A workload's `spec.selector` as `labels.Selector.String()` writes it;
/// `<invalid>` for an operator no selector has.
fn selector_cell(workload: &Value) -> Value {
    match super::selector::LabelSelector::from_object(&workload["spec"]["selector"]) {
        Some(selector) => json!(selector.to_string()),
        None => json!("<invalid>"),
    }
}

fn has_condition(job: &Value, kind: &str) -> bool {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == kind && c["status"] == "True")
}

/// `printJob`'s STATUS, COMPLETIONS and DURATION.
fn job_cells(job: &Value) -> [Value; 3] {
    let status = if has_condition(job, "Complete") {
        "Complete"
    } else if has_condition(job, "Failed") {
        "Failed"
    } else if job.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else if has_condition(job, "Suspended") {
        "Suspended"
    } else if has_condition(job, "FailureTarget") {
        "FailureTarget"
    } else if has_condition(job, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let succeeded = job
        .pointer("/status/succeeded")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let completions = match job.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(c) => format!("{succeeded}/{c}"),
        None => match job.pointer("/spec/parallelism").and_then(Value::as_i64) {
            Some(p) if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let time = |p: &str| {
        job.pointer(p)
            .and_then(Value::as_str)
            .and_then(seconds_since_epoch)
    };
    let duration = match (time("/status/startTime"), time("/status/completionTime")) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now() - start),
        (Some(start), Some(end)) => human_duration(end - start),
    };
    [json!(status), json!(completions), json!(duration)]
}

/// `printPod`'s READY, STATUS and RESTARTS: the phase (or the pod's
/// reason), overridden by an init container still to finish or by the
/// last container with a waiting or terminated reason, `Terminating` once
/// deleted.
/// printNode's STATUS: the Ready condition (`Ready`, `NotReady`, or
/// `Unknown` without one), then `SchedulingDisabled` when cordoned.
fn node_status(node: &Value) -> String {
    let ready = node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().rev().find(|c| c["type"] == "Ready"));
    let mut status = match ready {
        Some(c) if c["status"] == "True" => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if node.pointer("/spec/unschedulable") == Some(&Value::Bool(true)) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

/// `findNodeRoles`: `node-role.kubernetes.io/<role>` labels and the
/// `kubernetes.io/role` label's value, sorted, or `<none>`.
fn node_roles(node: &Value) -> String {
    let roles: std::collections::BTreeSet<&str> = node
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
            Some(role) => Some(role).filter(|r| !r.is_empty()),
            None => (k == "kubernetes.io/role")
                .then(|| v.as_str())
                .flatten()
                .filter(|r| !r.is_empty()),
        })
        .collect();
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    }
}

/// A node's first address of a type, or `<none>`.
fn node_address<'a>(node: &'a Value, kind: &str) -> &'a str {
    node.pointer("/status/addresses")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|a| a["type"] == kind))
        .and_then(|a| a["address"].as_str())
        .unwrap_or("<none>")
}

fn pod_cells(pod: &Value) -> [Value; 3] {
    let list = |p: &str| {
        pod.pointer(p)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let containers = list("/spec/containers");
    let init_containers = list("/spec/initContainers");
    let statuses = list("/status/containerStatuses");
    let init_statuses = list("/status/initContainerStatuses");
    let str_at = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut reason = str_at(pod, "/status/phase");
    let own_reason = str_at(pod, "/status/reason");
    if !own_reason.is_empty() {
        reason = own_reason;
    }
    let mut restarts = 0;
    let mut initializing = false;
    for (i, c) in init_statuses.iter().enumerate() {
        restarts += c["restartCount"].as_i64().unwrap_or(0);
        let terminated = &c["state"]["terminated"];
        let waiting = &c["state"]["waiting"];
        if terminated.is_object() && terminated["exitCode"].as_i64() == Some(0) {
            continue;
        }
        reason = if terminated.is_object() {
            match terminated["reason"].as_str().filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None => match terminated["signal"].as_i64().filter(|s| *s != 0) {
                    Some(signal) => format!("Init:Signal:{signal}"),
                    None => format!(
                        "Init:ExitCode:{}",
                        terminated["exitCode"].as_i64().unwrap_or(0)
                    ),
                },
            }
        } else if let Some(r) = waiting["reason"]
            .as_str()
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            format!("Init:{r}")
        } else {
            format!("Init:{i}/{}", init_containers.len())
        };
        initializing = true;
        break;
    }
    let mut ready = 0;
    if !initializing {
        let mut running = false;
        for c in statuses.iter().rev() {
            restarts += c["restartCount"].as_i64().unwrap_or(0);
            let state = &c["state"];
            if let Some(r) = state["waiting"]["reason"]
                .as_str()
                .filter(|r| !r.is_empty())
            {
                reason = r.to_string();
            } else if let Some(r) = state["terminated"]["reason"]
                .as_str()
                .filter(|r| !r.is_empty())
            {
                reason = r.to_string();
            } else if state["terminated"].is_object() {
                reason = match state["terminated"]["signal"].as_i64().filter(|s| *s != 0) {
                    Some(signal) => format!("Signal:{signal}"),
                    None => format!(
                        "ExitCode:{}",
                        state["terminated"]["exitCode"].as_i64().unwrap_or(0)
                    ),
                };
            } else if c["ready"] == true && state["running"].is_object() {
                running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && running {
            reason = if has_condition(pod, "Ready") {
                "Running"
            } else {
                "NotReady"
            }
            .to_string();
        }
    }
    if pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        reason = if str_at(pod, "/status/reason") == "NodeLost" {
            "Unknown"
        } else {
            "Terminating"
        }
        .to_string();
    }
    [
        json!(format!("{ready}/{}", containers.len())),
        json!(reason),
        json!(restarts.to_string()),
    ]
}

/// `printEvent`: core/v1 and events.k8s.io Events print alike.
fn event_cells(event: &Value) -> Vec<Value> {
    let core = event.get("involvedObject").is_some();
    let object = if core {
        &event["involvedObject"]
    } else {
        &event["regarding"]
    };
    let first = if core {
        "/firstTimestamp"
    } else {
        "/deprecatedFirstTimestamp"
    };
    let last = if core {
        "/lastTimestamp"
    } else {
        "/deprecatedLastTimestamp"
    };
    let stamp = |p: &str| {
        event
            .pointer(p)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .or_else(|| event.pointer("/eventTime").and_then(Value::as_str))
            .or_else(|| created(event))
    };
    let source = if core {
        let component = event.pointer("/source/component").and_then(Value::as_str);
        component
            .or_else(|| event.pointer("/reportingComponent").and_then(Value::as_str))
            .unwrap_or_default()
            .to_string()
    } else {
        text(event, "/reportingController")
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let kind = object["kind"].as_str().unwrap_or_default().to_lowercase();
    let name = object["name"].as_str().unwrap_or_default();
    let count = event
        .pointer(if core { "/count" } else { "/deprecatedCount" })
        .and_then(Value::as_i64)
        .or_else(|| event.pointer("/series/count").and_then(Value::as_i64))
        .unwrap_or(1);
    vec![
        age(stamp(last)),
        text(event, "/type"),
        text(event, "/reason"),
        json!(format!("{kind}/{name}")),
        text(object, "/fieldPath"),
        json!(source),
        text(event, if core { "/message" } else { "/note" }),
        age(stamp(first)),
        json!(count),
        text(event, "/metadata/name"),
    ]
}

fn subjects(binding: &Value, kind: &str) -> Value {
    let names: Vec<String> = binding["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["kind"] == kind)
        .map(|s| match (kind, s["namespace"].as_str()) {
            ("ServiceAccount", Some(ns)) => format!("{ns}/{}", s["name"].as_str().unwrap_or("")),
            _ => s["name"].as_str().unwrap_or_default().to_string(),
        })
        .collect();
    json!(names.join(", "))
}

type Cells = fn(&Value) -> Vec<Value>;

/// The columns `pkg/printers/internalversion` gives the built-in kinds a
/// real server serves, and how each row is filled.
fn builtin(group: &str, kind: &str) -> Option<(Vec<Value>, Cells)> {
    let name = || column("Name", "string", NAME, 0);
    let age_column = || column("Age", "string", AGE, 0);
    Some(match (group, kind) {
        ("", "Namespace") => (
            vec![
                name(),
                column("Status", "string", "The status of the namespace", 0),
                age_column(),
            ],
            |o| {
                vec![
                    text(o, "/metadata/name"),
                    text(o, "/status/phase"),
                    age(created(o)),
                ]
            },
        ),
        ("", "Node") => (
            vec![
                name(),
                column("Status", "string", "The status of the node", 0),
                column("Roles", "string", "The roles of the node", 0),
                age_column(),
                column(
                    "Version",
                    "string",
                    "Kubelet Version reported by the node.",
                    0,
                ),
                column("Internal-IP", "string", "", 1),
                column("External-IP", "string", "", 1),
                column(
                    "OS-Image",
                    "string",
                    "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
                    1,
                ),
                column(
                    "Kernel-Version",
                    "string",
                    "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
                    1,
                ),
                column(
                    "Container-Runtime",
                    "string",
                    "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
                    1,
                ),
            ],
            |o| {
                let info = |field: &str| {
                    json!(
                        o.pointer(&format!("/status/nodeInfo/{field}"))
                            .and_then(Value::as_str)
                            .filter(|v| !v.is_empty())
                            .unwrap_or("<unknown>")
                    )
                };
                vec![
                    text(o, "/metadata/name"),
                    json!(node_status(o)),
                    json!(node_roles(o)),
                    age(created(o)),
                    text(o, "/status/nodeInfo/kubeletVersion"),
                    json!(node_address(o, "InternalIP")),
                    json!(node_address(o, "ExternalIP")),
                    info("osImage"),
                    info("kernelVersion"),
                    info("containerRuntimeVersion"),
                ]
            },
        ),
        ("", "ConfigMap") => (
            vec![name(), column("Data", "string", "", 0), age_column()],
            |o| {
                vec![
                    text(o, "/metadata/name"),
                    count(o, &["/data", "/binaryData"]),
                    age(created(o)),
                ]
            },
        ),
        ("", "Secret") => (
            vec![
                name(),
                column("Type", "string", "", 0),
                column("Data", "string", "", 0),
                age_column(),
            ],
            |o| {
                vec![
                    text(o, "/metadata/name"),
                    text(o, "/type"),
                    count(o, &["/data"]),
                    age(created(o)),
                ]
            },
        ),
        ("", "ServiceAccount") => (
            vec![name(), column("Secrets", "string", "", 0), age_column()],
            |o| {
                vec![
                    text(o, "/metadata/name"),
                    count(o, &["/secrets"]),
                    age(created(o)),
                ]
            },
        ),
        ("", "Event") | ("events.k8s.io", "Event") => (
            vec![
                column("Last Seen", "string", "", 0),
                column("Type", "string", "", 0),
                column("Reason", "string", "", 0),
                column("Object", "string", "", 0),
                column("Subobject", "string", "", 1),
                column("Source", "string", "", 1),
                column("Message", "string", "", 0),
                column("First Seen", "string", "", 1),
                column("Count", "string", "", 1),
                column("Name", "string", NAME, 1),
            ],
            event_cells,
        ),
        ("discovery.k8s.io", "EndpointSlice") => (
            vec![
                name(),
                column("AddressType", "string", "The IP protocol for this slice", 0),
                column("Ports", "string", "The ports for this slice", 0),
                column("Endpoints", "string", "The endpoints for this slice", 0),
                age_column(),
            ],
            |o| {
                let [ports, endpoints] = super::endpoints_controller::slice_cells(o);
                vec![
                    text(o, "/metadata/name"),
                    text(o, "/addressType"),
                    json!(ports),
                    json!(endpoints),
                    age(created(o)),
                ]
            },
        ),
        ("", "Endpoints") => (
            vec![
                name(),
                column(
                    "Endpoints",
                    "string",
                    "The set of all endpoints is the union of all subsets.",
                    0,
                ),
                age_column(),
            ],
            |o| {
                vec![
                    text(o, "/metadata/name"),
                    json!(super::endpoints_controller::format(o)),
                    age(created(o)),
                ]
            },
        ),
        ("", "Service") => (
            vec![
                name(),
                column(
                    "Type",
                    "string",
                    "type determines how the Service is exposed.",
                    0,
                ),
                column(
                    "Cluster-IP",
                    "string",
                    "clusterIP is the IP address of the service and is usually assigned randomly.",
                    0,
                ),
                column(
                    "External-IP",
                    "string",
                    "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
                    0,
                ),
                column(
                    "Port(s)",
                    "string",
                    "The list of ports that are exposed by this service.",
                    0,
                ),
                age_column(),
                column(
                    "Selector",
                    "string",
                    "Route service traffic to pods with label keys and values matching this selector.",
                    1,
                ),
            ],
            |o| {
                let cluster_ip = o
                    .pointer("/spec/clusterIPs/0")
                    .and_then(Value::as_str)
                    .unwrap_or("<none>");
                let ports: Vec<String> = o
                    .pointer("/spec/ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        let protocol = p["protocol"].as_str().unwrap_or_default();
                        let port = p["port"].as_i64().unwrap_or(0);
                        match p["nodePort"].as_i64().filter(|n| *n > 0) {
                            Some(node) => format!("{port}:{node}/{protocol}"),
                            None => format!("{port}/{protocol}"),
                        }
                    })
                    .collect();
                let ports = if ports.is_empty() {
                    "<none>".to_string()
                } else {
                    ports.join(",")
                };
                let mut selector: Vec<String> = o
                    .pointer("/spec/selector")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect();
                selector.sort();
                let selector = if selector.is_empty() {
                    "<none>".to_string()
                } else {
                    selector.join(",")
                };
                vec![
                    text(o, "/metadata/name"),
                    text(o, "/spec/type"),
                    json!(cluster_ip),
                    json!(service_external_ip(o)),
                    json!(ports),
                    age(created(o)),
                    json!(selector),
                ]
            },
        ),
        ("apps", "ReplicaSet") => (
            vec![
                name(),
                column("Desired", "integer", "Number of desired pods.", 0),
                column("Current", "integer", "Number of actual replicas.", 0),
                column("Ready", "integer", "Number of ready replicas.", 0),
                age_column(),
                containers_column(),
                images_column(),
                column("Selector", "string", "Label selector for pods.", 1),
            ],
            |o| {
                let number =
                    |pointer: &str| json!(o.pointer(pointer).and_then(Value::as_i64).unwrap_or(0));
                let [containers, images] = template_cells(o);
                vec![
                    text(o, "/metadata/name"),
                    number("/spec/replicas"),
                    number("/status/replicas"),
                    number("/status/readyReplicas"),
                    age(created(o)),
                    containers,
                    images,
                    selector_cell(o),
                ]
            },
        ),
        ("apps", "Deployment") => (
            vec![
                name(),
                column("Ready", "string", "Number of the pod with ready state", 0),
                column(
                    "Up-to-date",
                    "string",
                    "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
                    0,
                ),
                column(
                    "Available",
                    "string",
                    "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
                    0,
                ),
                age_column(),
                containers_column(),
                images_column(),
                column(
                    "Selector",
                    "string",
                    "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
                    1,
                ),
            ],
            |o| {
                let number =
                    |pointer: &str| json!(o.pointer(pointer).and_then(Value::as_i64).unwrap_or(0));
                let ready = format!(
                    "{}/{}",
                    number("/status/readyReplicas"),
                    number("/spec/replicas")
                );
                let [containers, images] = template_cells(o);
                vec![
                    text(o, "/metadata/name"),
                    json!(ready),
                    number("/status/updatedReplicas"),
                    number("/status/availableReplicas"),
                    age(created(o)),
                    containers,
                    images,
                    selector_cell(o),
                ]
            },
        ),
        ("batch", "Job") => (
            vec![
                name(),
                column("Status", "string", "Status of the job.", 0),
                column(
                    "Completions",
                    "string",
                    "The completion status of the job.",
                    0,
                ),
                column(
                    "Duration",
                    "string",
                    "Time required to complete the job.",
                    0,
                ),
                age_column(),
                containers_column(),
                images_column(),
                column("Selector", "string", "Selector of the job.", 1),
            ],
            |o| {
                let [status, completions, duration] = job_cells(o);
                let [containers, images] = template_cells(o);
                vec![
                    text(o, "/metadata/name"),
                    status,
                    completions,
                    duration,
                    age(created(o)),
                    containers,
                    images,
                    selector_cell(o),
                ]
            },
        ),
        ("", "Pod") => (
            vec![
                name(),
                column(
                    "Ready",
                    "string",
                    "The aggregate readiness state of this pod for accepting traffic.",
                    0,
                ),
                column(
                    "Status",
                    "string",
                    "The aggregate status of the containers in this pod.",
                    0,
                ),
                column(
                    "Restarts",
                    "string",
                    "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
                    0,
                ),
                age_column(),
                column("IP", "string", "", 1),
                column("Node", "string", "", 1),
                column("Nominated Node", "string", "", 1),
                column("Readiness Gates", "string", "", 1),
            ],
            |o| {
                let none = |p: &str| {
                    json!(
                        o.pointer(p)
                            .and_then(Value::as_str)
                            .filter(|v| !v.is_empty())
                            .unwrap_or("<none>")
                    )
                };
                let [ready, status, restarts] = pod_cells(o);
                vec![
                    text(o, "/metadata/name"),
                    ready,
                    status,
                    restarts,
                    age(created(o)),
                    none("/status/podIP"),
                    none("/spec/nodeName"),
                    none("/status/nominatedNodeName"),
                    json!("<none>"),
                ]
            },
        ),
        ("coordination.k8s.io", "Lease") => (
            vec![name(), column("Holder", "string", "", 0), age_column()],
            |o| {
                vec![
                    text(o, "/metadata/name"),
                    text(o, "/spec/holderIdentity"),
                    age(created(o)),
                ]
            },
        ),
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole")
        | ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            (vec![name(), column("Created At", "date", "", 0)], |o| {
                vec![
                    text(o, "/metadata/name"),
                    json!(created(o).unwrap_or_default()),
                ]
            })
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => (
            vec![
                name(),
                column("Role", "string", "", 0),
                age_column(),
                column("Users", "string", "", 1),
                column("Groups", "string", "", 1),
                column("ServiceAccounts", "string", "", 1),
            ],
            |o| {
                let role = format!(
                    "{}/{}",
                    o.pointer("/roleRef/kind")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                    o.pointer("/roleRef/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                );
                vec![
                    text(o, "/metadata/name"),
                    json!(role),
                    age(created(o)),
                    subjects(o, "User"),
                    subjects(o, "Group"),
                    subjects(o, "ServiceAccount"),
                ]
            },
        ),
        _ => return None,
    })
}

/// What each row of a Table carries of its object: the `includeObject`
/// query parameter (TableOptions). kubectl asks for `Object` whenever it
/// sorts (`--sort-by`) or prints with a template, and reads the fields
/// from the rows' objects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    /// What a request's rows carry, when it asks for a Table (`Accept`)
    /// at all; `None` when it does not.
    pub fn requested(
        accept: &str,
        query: &HashMap<String, String>,
    ) -> Result<Option<Self>, ApiError> {
        if !wants_table(accept) {
            return Ok(None);
        }
        Self::from_query(query).map(Some)
    }

    /// Read as a real server reads it, only when it answers with a Table:
    /// absent or empty is `Metadata`; any other unknown value is a 400.
    pub fn from_query(query: &HashMap<String, String>) -> Result<Self, ApiError> {
        match query.get("includeObject").map(String::as_str) {
            None | Some("" | "Metadata") => Ok(Self::Metadata),
            Some("Object") => Ok(Self::Object),
            Some("None") => Ok(Self::None),
            Some(other) => Err(ApiError::new(
                400,
                "BadRequest",
                format!("unrecognized includeObject value: {other:?}"),
            )),
        }
    }
}

fn row(cells: Vec<Value>, object: &Value, include: IncludeObject) -> Value {
    let object = match include {
        IncludeObject::Object => object.clone(),
        IncludeObject::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": object.get("metadata").cloned().unwrap_or(json!({})),
        }),
        IncludeObject::None => Value::Null,
    };
    json!({"cells": cells, "object": object})
}

/// A custom resource's row: its name, then its CRD's printer columns — or
/// Age alone when the CRD declares none (`serveDefaultColumnsIfEmpty`).
fn custom_cells(r: &Resource, object: &Value) -> Vec<Value> {
    let mut cells = vec![text(object, "/metadata/name")];
    if r.columns.is_empty() {
        cells.push(age(created(object)));
    }
    cells.extend(
        r.columns
            .iter()
            .map(|c| render_cell(&c.type_, cell(object, &c.json_path))),
    );
    cells
}

/// One object as a Table: its metadata is the object's resourceVersion, as the
/// real table convertors take it (`meta.CommonAccessor`) for a single object.
pub fn object_table(r: &Resource, object: Value, include: IncludeObject) -> Value {
    let rv = object
        .pointer("/metadata/resourceVersion")
        .cloned()
        .unwrap_or(json!(""));
    table(r, &[object], json!({"resourceVersion": rv}), include)
}

/// A list as a Table. `list_meta` is the list's own metadata: the real table
/// convertors copy its `continue` and `remainingItemCount`, and kubectl pages
/// through a table by them.
pub fn table(r: &Resource, objects: &[Value], list_meta: Value, include: IncludeObject) -> Value {
    let (columns, rows) = match builtin(&r.group, &r.kind) {
        Some((columns, cells)) => (
            columns,
            objects
                .iter()
                .map(|o| row(cells(o), o, include))
                .collect::<Vec<_>>(),
        ),
        None => {
            let mut columns = vec![column("Name", "string", NAME, 0)];
            if r.columns.is_empty() {
                columns.push(column("Age", "date", AGE, 0));
            }
            columns.extend(r.columns.iter().map(|c| {
                json!({"name": c.name, "type": c.type_, "format": "", "description": c.description, "priority": c.priority})
            }));
            let rows = objects
                .iter()
                .map(|o| row(custom_cells(r, o), o, include))
                .collect();
            (columns, rows)
        }
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// True if the client asked for a Table.
fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|part| part.contains("as=Table"))
}

#[cfg(test)]
mod tests {
    use super::{IncludeObject, cell, human_duration, row};
    use serde_json::json;

    #[test]
    fn rows_carry_what_include_object_asks_for() {
        let query = |v: &str| [("includeObject".to_string(), v.to_string())].into();
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a"}, "data": {"k": "v"}});
        let carried = |include| row(vec![], &object, include)["object"].clone();
        let metadata = IncludeObject::from_query(&Default::default()).unwrap();
        assert_eq!(metadata, IncludeObject::Metadata);
        assert_eq!(
            carried(metadata),
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": {"name": "a"}})
        );
        assert_eq!(
            carried(IncludeObject::from_query(&query("Object")).unwrap()),
            object
        );
        assert_eq!(
            carried(IncludeObject::from_query(&query("None")).unwrap()),
            json!(null)
        );
        let refused = IncludeObject::from_query(&query("object")).unwrap_err();
        assert_eq!((refused.code, refused.reason), (400, "BadRequest"));
        assert_eq!(
            refused.message,
            "unrecognized includeObject value: \"object\""
        );
    }

    #[test]
    fn nodes_print_their_readiness_roles_and_addresses_as_print_node_does() {
        use super::{node_address, node_roles, node_status};
        let node =
            |conditions: serde_json::Value, unschedulable: bool, labels: serde_json::Value| {
                json!({"metadata": {"name": "n", "labels": labels},
                "spec": {"unschedulable": unschedulable},
                "status": {"conditions": conditions,
                    "addresses": [{"type": "Hostname", "address": "n"},
                        {"type": "InternalIP", "address": "10.0.0.1"}]}})
            };
        let ready = json!([{"type": "MemoryPressure", "status": "False"},
            {"type": "Ready", "status": "True"}]);
        let plain = node(ready.clone(), false, json!({}));
        assert_eq!(node_status(&plain), "Ready");
        assert_eq!(node_roles(&plain), "<none>");
        assert_eq!(node_address(&plain, "InternalIP"), "10.0.0.1");
        assert_eq!(node_address(&plain, "ExternalIP"), "<none>");
        let cordoned = node(
            json!([{"type": "Ready", "status": "Unknown"}]),
            true,
            json!({"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "",
                "node-role.kubernetes.io/": "", "kubernetes.io/role": "edge"}),
        );
        assert_eq!(node_status(&cordoned), "NotReady,SchedulingDisabled");
        assert_eq!(node_roles(&cordoned), "control-plane,edge,worker");
        assert_eq!(node_status(&node(json!([]), false, json!({}))), "Unknown");
    }

    #[test]
    fn printer_columns_take_kubernetes_jsonpath_with_filters() {
        let object = json!({"spec": {"size": "small"}, "status": {"conditions": [
            {"type": "Ready", "message": "no"},
            {"type": "Reconciled", "message": "Pipelines completed"}]}});
        assert_eq!(cell(&object, ".spec.size"), json!("small"));
        assert_eq!(
            cell(
                &object,
                r#".status.conditions[?(@.type=="Reconciled")].message"#
            ),
            json!("Pipelines completed")
        );
        assert_eq!(cell(&object, ".status.conditions[0].type"), json!("Ready"));
        assert_eq!(cell(&object, ".status.missing"), json!(null));
    }

    #[test]
    fn ages_read_as_a_real_server_prints_them() {
        for (seconds, printed) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (90, "90s"),
            (330, "5m30s"),
            (600, "10m"),
            (3 * 3600 + 120, "3h2m"),
            (10 * 3600, "10h"),
            (3 * 86_400 + 4 * 3600, "3d4h"),
            (30 * 86_400, "30d"),
            (3 * 365 * 86_400 + 86_400, "3y1d"),
            (9 * 365 * 86_400, "9y"),
        ] {
            assert_eq!(human_duration(seconds), printed, "{seconds} s");
        }
    }
}
