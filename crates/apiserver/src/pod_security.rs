//! Pod Security admission (`k8s.io/pod-security-admission`), as every
//! cluster since 1.25 runs it: a namespace's `pod-security.kubernetes.io/
//! enforce` label refuses pods that break its level, `…/warn` (and, for
//! workloads such as Jobs, `…/enforce` too) answers with warnings. The
//! checks are the policy's at `latest`, in its order (baseline's, then
//! restricted's), each worded as the policy words it: privileged
//! containers, host namespaces, hostPath volumes and non-default
//! capabilities (baseline); privilege escalation, capabilities not dropped,
//! restricted volume types, running as root and seccomp (restricted).
//! Host ports, AppArmor, SELinux, `/proc` mount, sysctls and Windows host
//! processes are not checked (README: "What still differs").

use std::collections::BTreeSet;

use serde_json::Value;

use super::validation::strings;

const LABEL_PREFIX: &str = "pod-security.kubernetes.io/";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "privileged" => Some(Self::Privileged),
            "baseline" => Some(Self::Baseline),
            "restricted" => Some(Self::Restricted),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Privileged => "privileged",
            Self::Baseline => "baseline",
            Self::Restricted => "restricted",
        }
    }
}

/// A mode's policy from a namespace's labels: its level and the version
/// named (`latest` unless `<mode>-version` says otherwise).
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub level: Level,
    pub version: String,
}

impl Policy {
    /// `restricted:latest`, as the messages name a policy.
    fn label(&self) -> String {
        format!("{}:{}", self.level.name(), self.version)
    }
}

/// The policy a namespace's labels set for `mode` (`enforce`, `warn`).
pub fn policy(namespace: &Value, mode: &str) -> Option<Policy> {
    let labels = &namespace["metadata"]["labels"];
    let level = Level::parse(labels[format!("{LABEL_PREFIX}{mode}")].as_str()?)?;
    let version = labels[format!("{LABEL_PREFIX}{mode}-version")]
        .as_str()
        .filter(|v| !v.is_empty())
        .unwrap_or("latest")
        .to_string();
    Some(Policy { level, version })
}

fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .flat_map(move |list| spec[list].as_array().into_iter().flatten())
}

fn name(container: &Value) -> String {
    container["name"].as_str().unwrap_or_default().to_string()
}

fn join_quote(items: &[String]) -> String {
    if items.is_empty() {
        return String::new();
    }
    format!("\"{}\"", items.join("\", \""))
}

/// `<kind(s) "a", "b">`: `container "a"`, `volumes "h", "i"`.
fn named(kind: &str, names: &[String]) -> String {
    let plural = if names.len() == 1 { "" } else { "s" };
    format!("{kind}{plural} {}", join_quote(names))
}

fn named_containers(names: &[String]) -> String {
    named("container", names)
}

/// The containers that add capabilities `allowed` refuses, and what
/// they add: `container(s) "a" must not include "X", "Y" in …`.
fn capabilities_added(spec: &Value, allowed: impl Fn(&str) -> bool) -> Option<String> {
    let mut adding = vec![];
    let mut added = BTreeSet::new();
    for c in containers(spec) {
        let extra: Vec<String> = strings(&c["securityContext"]["capabilities"]["add"])
            .into_iter()
            .filter(|cap| !allowed(cap))
            .collect();
        if !extra.is_empty() {
            adding.push(name(c));
            added.extend(extra);
        }
    }
    if adding.is_empty() {
        return None;
    }
    let added: Vec<String> = added.into_iter().collect();
    Some(format!(
        "{} must not include {} in securityContext.capabilities.add",
        named_containers(&adding),
        join_quote(&added)
    ))
}

/// One check's refusal: its reason and the detail in parentheses.
type Violation = (&'static str, String);

const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// The baseline checks the restricted level makes too, in the policy's
/// order.
fn baseline(spec: &Value) -> Vec<Violation> {
    let mut found = vec![];
    // hostNamespaces
    let hosts: Vec<&str> = ["hostIPC", "hostNetwork", "hostPID"]
        .into_iter()
        .filter(|field| spec[*field] == true)
        .collect();
    if !hosts.is_empty() {
        found.push(("host namespaces", hosts.join(", ")));
    }
    // privileged
    let privileged: Vec<String> = containers(spec)
        .filter(|c| c["securityContext"]["privileged"] == true)
        .map(name)
        .collect();
    if !privileged.is_empty() {
        found.push((
            "privileged",
            format!(
                "{} must not set securityContext.privileged=true",
                named_containers(&privileged)
            ),
        ));
    }
    found
}

/// The baseline checks a restricted one replaces (`Overlap`), evaluated
/// after the others at the baseline level only.
fn baseline_overlapping(spec: &Value) -> Vec<Violation> {
    let mut found = vec![];
    // capabilities_baseline
    if let Some(detail) = capabilities_added(spec, |cap| BASELINE_CAPABILITIES.contains(&cap)) {
        found.push(("non-default capabilities", detail));
    }
    // hostPathVolumes
    let host_paths: Vec<String> = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["hostPath"].is_object())
        .map(name)
        .collect();
    if !host_paths.is_empty() {
        found.push(("hostPath volumes", named("volume", &host_paths)));
    }
    found
}

/// What a "pod or container(s) … must set …" check (runAsNonRoot,
/// seccomp) found.
struct Setters {
    /// The pod and the containers that set a value the check refuses.
    bad: Vec<String>,
    /// The containers that set nothing, with no good pod-level value.
    unset: Vec<String>,
    /// The refused values.
    values: BTreeSet<String>,
}

/// A pod-level setting covers containers that set nothing.
fn pod_or_containers(spec: &Value, pointer: &str, good: impl Fn(&Value) -> bool) -> Setters {
    let set = |context: &Value| context.pointer(pointer).filter(|v| !v.is_null()).cloned();
    let mut found = Setters {
        bad: vec![],
        unset: vec![],
        values: BTreeSet::new(),
    };
    let pod_value = set(&spec["securityContext"]);
    let pod_covers = pod_value.as_ref().is_some_and(&good);
    if let Some(v) = pod_value.filter(|v| !good(v)) {
        found.bad.push("pod".to_string());
        found
            .values
            .insert(v.as_str().unwrap_or_default().to_string());
    }
    let mut explicit = vec![];
    for c in containers(spec) {
        match set(&c["securityContext"]) {
            Some(v) if !good(&v) => {
                explicit.push(name(c));
                found
                    .values
                    .insert(v.as_str().unwrap_or_default().to_string());
            }
            Some(_) => {}
            None if !pod_covers => found.unset.push(name(c)),
            None => {}
        }
    }
    if !explicit.is_empty() {
        found.bad.push(named_containers(&explicit));
    }
    found
}

/// The restricted checks, in the policy's order.
fn restricted(spec: &Value) -> Vec<Violation> {
    let mut found = vec![];
    // allowPrivilegeEscalation
    let escalating: Vec<String> = containers(spec)
        .filter(|c| c["securityContext"]["allowPrivilegeEscalation"] != false)
        .map(name)
        .collect();
    if !escalating.is_empty() {
        found.push((
            "allowPrivilegeEscalation != false",
            format!(
                "{} must set securityContext.allowPrivilegeEscalation=false",
                named_containers(&escalating)
            ),
        ));
    }
    // capabilities_restricted
    let missing_drop: Vec<String> = containers(spec)
        .filter(|c| {
            !strings(&c["securityContext"]["capabilities"]["drop"])
                .iter()
                .any(|d| d == "ALL")
        })
        .map(name)
        .collect();
    let mut details = vec![];
    if !missing_drop.is_empty() {
        details.push(format!(
            "{} must set securityContext.capabilities.drop=[\"ALL\"]",
            named_containers(&missing_drop)
        ));
    }
    details.extend(capabilities_added(spec, |cap| cap == "NET_BIND_SERVICE"));
    if !details.is_empty() {
        found.push(("unrestricted capabilities", details.join("; ")));
    }
    // restrictedVolumes
    const ALLOWED: &[&str] = &[
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    ];
    let restricted_volumes: BTreeSet<String> = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| !ALLOWED.iter().any(|source| v[*source].is_object()))
        .map(name)
        .collect();
    if !restricted_volumes.is_empty() {
        // Go's %q of a []string: ["a" "b"].
        let quoted: Vec<String> = restricted_volumes
            .iter()
            .map(|v| format!("{v:?}"))
            .collect();
        found.push((
            "restricted volume types",
            format!("volumes [{}] have restricted types", quoted.join(" ")),
        ));
    }
    // runAsNonRoot
    let Setters {
        bad: bad_setters,
        unset: implicit,
        ..
    } = pod_or_containers(spec, "/runAsNonRoot", |v| *v == true);
    if !bad_setters.is_empty() {
        found.push((
            "runAsNonRoot != true",
            format!(
                "{} must not set securityContext.runAsNonRoot=false",
                bad_setters.join(" and ")
            ),
        ));
    } else if !implicit.is_empty() {
        found.push((
            "runAsNonRoot != true",
            format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                named_containers(&implicit)
            ),
        ));
    }
    // runAsUser
    let mut root_setters = vec![];
    if spec["securityContext"]["runAsUser"] == 0 {
        root_setters.push("pod".to_string());
    }
    let root: Vec<String> = containers(spec)
        .filter(|c| c["securityContext"]["runAsUser"] == 0)
        .map(name)
        .collect();
    if !root.is_empty() {
        root_setters.push(named_containers(&root));
    }
    if !root_setters.is_empty() {
        found.push((
            "runAsUser=0",
            format!("{} must not set runAsUser=0", root_setters.join(" and ")),
        ));
    }
    // seccompProfile_restricted
    let valid = |v: &Value| v == "RuntimeDefault" || v == "Localhost";
    let Setters {
        bad: bad_setters,
        unset: implicit,
        values: bad_values,
    } = pod_or_containers(spec, "/seccompProfile/type", valid);
    if !bad_setters.is_empty() {
        let values: Vec<String> = bad_values.into_iter().collect();
        found.push((
            "seccompProfile",
            format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                bad_setters.join(" and "),
                join_quote(&values)
            ),
        ));
    } else if !implicit.is_empty() {
        found.push((
            "seccompProfile",
            format!(
                "pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
                named_containers(&implicit)
            ),
        ));
    }
    found
}

/// What a pod spec breaks at `policy`'s level, as `AggregateCheckResult`
/// words it (`reason (detail), reason (detail)`); None if nothing.
fn broken(policy: &Policy, spec: &Value) -> Option<String> {
    let found: Vec<Violation> = match policy.level {
        Level::Privileged => vec![],
        Level::Baseline => {
            let mut all = baseline(spec);
            all.extend(baseline_overlapping(spec));
            all
        }
        Level::Restricted => {
            let mut all = baseline(spec);
            all.extend(restricted(spec));
            all
        }
    };
    if found.is_empty() {
        return None;
    }
    let parts: Vec<String> = found
        .iter()
        .map(|(reason, detail)| {
            if detail.is_empty() {
                reason.to_string()
            } else {
                format!("{reason} ({detail})")
            }
        })
        .collect();
    Some(parts.join(", "))
}

/// The refusal of a pod that breaks `policy`.
pub fn violations(policy: &Policy, spec: &Value) -> Option<String> {
    broken(policy, spec).map(|b| format!("violates PodSecurity {:?}: {b}", policy.label()))
}

/// The warning for a pod or a workload's template that breaks `policy`.
pub fn warning(policy: &Policy, spec: &Value) -> Option<String> {
    broken(policy, spec).map(|b| format!("would violate PodSecurity {:?}: {b}", policy.label()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn restricted_latest() -> Policy {
        Policy {
            level: Level::Restricted,
            version: "latest".into(),
        }
    }

    #[test]
    fn a_plain_container_breaks_restricted_as_the_policy_words_it() {
        let spec = json!({"containers": [{"name": "nginx", "image": "nginx"}]});
        assert_eq!(
            violations(&restricted_latest(), &spec).unwrap(),
            "violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"nginx\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"nginx\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"nginx\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"nginx\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
        );
        let baseline = Policy {
            level: Level::Baseline,
            version: "latest".into(),
        };
        assert_eq!(violations(&baseline, &spec), None, "baseline allows it");
        assert!(warning(&restricted_latest(), &spec).unwrap().starts_with(
            "would violate PodSecurity \"restricted:latest\": allowPrivilegeEscalation"
        ));
        let spec = json!({"hostPID": true, "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
            "containers": [{"name": "a", "securityContext": {"capabilities": {"add": ["NET_RAW"]}}}]});
        assert_eq!(
            violations(&baseline, &spec).unwrap(),
            "violates PodSecurity \"baseline:latest\": host namespaces (hostPID), non-default capabilities (container \"a\" must not include \"NET_RAW\" in securityContext.capabilities.add), hostPath volumes (volume \"h\")"
        );
    }

    #[test]
    fn pod_level_settings_cover_containers_and_bad_values_are_named() {
        let context = json!({"allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]}});
        let spec = json!({"securityContext": {"runAsNonRoot": true,
                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "a", "securityContext": context}]});
        assert_eq!(violations(&restricted_latest(), &spec), None);
        let spec = json!({"hostNetwork": true, "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
            "securityContext": {"runAsNonRoot": true, "runAsUser": 0,
                "seccompProfile": {"type": "Unconfined"}},
            "containers": [{"name": "a", "securityContext": {"allowPrivilegeEscalation": false,
                "privileged": true, "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}}]});
        assert_eq!(
            violations(&restricted_latest(), &spec).unwrap(),
            "violates PodSecurity \"restricted:latest\": host namespaces (hostNetwork), privileged (container \"a\" must not set securityContext.privileged=true), unrestricted capabilities (container \"a\" must not include \"SYS_ADMIN\" in securityContext.capabilities.add), restricted volume types (volumes [\"h\"] have restricted types), runAsUser=0 (pod must not set runAsUser=0), seccompProfile (pod must not set securityContext.seccompProfile.type to \"Unconfined\")"
        );
    }

    #[test]
    fn a_namespace_names_its_levels_by_label() {
        let ns = json!({"metadata": {"labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/warn": "baseline",
            "pod-security.kubernetes.io/warn-version": "v1.30"}}});
        assert_eq!(policy(&ns, "enforce"), Some(restricted_latest()));
        assert_eq!(
            policy(&ns, "warn").map(|p| p.label()),
            Some("baseline:v1.30".into())
        );
        assert_eq!(policy(&json!({}), "enforce"), None);
    }
}
