//! A pod template as a real server (1.32) defaults and validates it inside
//! the workloads that carry one (`SetDefaults_PodSpec`, `SetDefaults_Container`
//! and friends; `ValidatePodTemplateSpec` for the rules a batch workload can
//! break). What is checked here is what a Job built from a Promise's
//! pipelines can get wrong: container and volume names, images, mounts,
//! environment names, init-container restrictions, policies, the service
//! account, node selector and tolerations, resources (names, signs, a
//! request within its limit), ports, probes, the common volume sources and
//! security contexts. The rarer volume sources' own fields are not checked
//! (README: "What still differs").

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::validation::{self, FieldError};

/// Every volume source a `v1.Volume` can name (one, and only one, is set).
const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

/// The file mode a real server gives secret, configMap, downwardAPI and
/// projected volumes that name none (0644).
const DEFAULT_MODE: i64 = 0o644;

/// Unset as Go sees a field: absent, null, or (a string) empty.
pub(super) fn unset(value: Option<&Value>) -> bool {
    value.is_none_or(|v| v.is_null() || v == "")
}

/// `SetDefaults_PodSpec` and what it reaches: containers, ports, volumes,
/// field references.
pub fn default_template(template: &mut Value) {
    let Some(spec) = template.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let mut set = |key: &str, value: Value| {
        if unset(spec.get(key)) {
            spec.insert(key.into(), value);
        }
    };
    set("dnsPolicy", json!("ClusterFirst"));
    set("restartPolicy", json!("Always"));
    set("securityContext", json!({}));
    set("terminationGracePeriodSeconds", json!(30));
    set("schedulerName", json!("default-scheduler"));
    for_each_container(spec, default_container);
    for v in spec
        .get_mut("volumes")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for source in ["secret", "configMap", "downwardAPI", "projected"] {
            if let Some(s) = v.get_mut(source).and_then(Value::as_object_mut) {
                s.entry("defaultMode").or_insert(json!(DEFAULT_MODE));
            }
        }
    }
}

/// Calls `f` on every container of a pod spec, init containers first.
pub(super) fn for_each_container(
    spec: &mut serde_json::Map<String, Value>,
    mut f: impl FnMut(&mut Value),
) {
    for list in ["initContainers", "containers"] {
        for c in spec
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            f(c);
        }
    }
}

/// `SetDefaults_Container`, `SetDefaults_ContainerPort` and
/// `SetDefaults_ObjectFieldSelector`.
fn default_container(c: &mut Value) {
    let Some(m) = c.as_object_mut() else {
        return;
    };
    if unset(m.get("imagePullPolicy")) {
        let image = m.get("image").and_then(Value::as_str).unwrap_or_default();
        let policy = if image_tag(image).as_deref() == Some("latest") {
            "Always"
        } else {
            "IfNotPresent"
        };
        m.insert("imagePullPolicy".into(), json!(policy));
    }
    for (key, value) in [
        ("terminationMessagePath", "/dev/termination-log"),
        ("terminationMessagePolicy", "File"),
    ] {
        if unset(m.get(key)) {
            m.insert(key.into(), json!(value));
        }
    }
    // A struct, not a pointer, in Go: always there.
    m.entry("resources").or_insert(json!({}));
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = m.get_mut(probe).and_then(Value::as_object_mut) {
            default_probe(p);
        }
    }
    for hook in ["postStart", "preStop"] {
        if let Some(get) = m
            .get_mut("lifecycle")
            .and_then(|l| l.get_mut(hook))
            .and_then(|h| h.get_mut("httpGet"))
            .and_then(Value::as_object_mut)
        {
            default_http_get(get);
        }
    }
    for p in m
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(p) = p.as_object_mut() {
            p.entry("protocol").or_insert(json!("TCP"));
        }
    }
    for e in m
        .get_mut("env")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(f) = e
            .pointer_mut("/valueFrom/fieldRef")
            .and_then(Value::as_object_mut)
        {
            f.entry("apiVersion").or_insert(json!("v1"));
        }
    }
}

/// `SetDefaults_Probe`: a zero (or absent) timeout, period and thresholds
/// take the kubelet's values; its HTTP action its path and scheme.
fn default_probe(probe: &mut serde_json::Map<String, Value>) {
    for (field, value) in [
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ] {
        if probe.get(field).is_none_or(|v| v.is_null() || v == 0) {
            probe.insert(field.into(), json!(value));
        }
    }
    if let Some(get) = probe.get_mut("httpGet").and_then(Value::as_object_mut) {
        default_http_get(get);
    }
}

/// `SetDefaults_HTTPGetAction`.
fn default_http_get(get: &mut serde_json::Map<String, Value>) {
    for (field, value) in [("path", "/"), ("scheme", "HTTP")] {
        if unset(get.get(field)) {
            get.insert(field.into(), json!(value));
        }
    }
}

/// The tag `parsers.ParseImageName` reads: the last path component's
/// `:tag`, `latest` when there is neither a tag nor a digest.
fn image_tag(image: &str) -> Option<String> {
    let (name, digest) = match image.split_once('@') {
        Some((name, _)) => (name, true),
        None => (image, false),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, tag)) => Some(tag.to_string()),
        None if digest => None,
        None => Some("latest".to_string()),
    }
}

/// `ValidatePodTemplateSpec`'s rules for a workload's pod `spec` at `path`
/// (`spec.template.spec` for a Job), after defaulting.
pub fn validate_template_spec(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = vec![];
    let volumes = validate_volumes(&spec["volumes"], &format!("{path}.volumes"), &mut errs);
    let list = |key: &str| spec[key].as_array().cloned().unwrap_or_default();
    let containers = list("containers");
    let init = list("initContainers");
    if containers.is_empty() {
        errs.push(FieldError::required(format!("{path}.containers"), ""));
    }
    let mut names = BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        let at = format!("{path}.containers[{i}]");
        validate_container(c, &volumes, &at, &mut errs);
        let name = c["name"].as_str().unwrap_or_default();
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(format!("{at}.name"), name));
        }
        if !c["restartPolicy"].is_null() {
            errs.push(FieldError::forbidden(
                format!("{at}.restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    for (i, c) in init.iter().enumerate() {
        let at = format!("{path}.initContainers[{i}]");
        validate_container(c, &volumes, &at, &mut errs);
        let name = c["name"].as_str().unwrap_or_default();
        // Unique across init and regular containers.
        if names.contains(name) {
            errs.push(FieldError::duplicate(format!("{at}.name"), name));
        } else if !name.is_empty() {
            names.insert(name.to_string());
        }
        match c["restartPolicy"].as_str() {
            Some("Always") => {}
            Some(other) => errs.push(FieldError::not_supported(
                format!("{at}.restartPolicy"),
                other,
                &["Always"],
            )),
            None => {
                for field in [
                    "lifecycle",
                    "livenessProbe",
                    "readinessProbe",
                    "startupProbe",
                ] {
                    if !c[field].is_null() {
                        errs.push(FieldError::forbidden(
                            format!("{at}.{field}"),
                            "may not be set for init containers without restartPolicy=Always",
                        ));
                    }
                }
            }
        }
        if c["resizePolicy"].as_array().is_some_and(|p| !p.is_empty()) {
            errs.push(FieldError::invalid(
                format!("{at}.resizePolicy"),
                c["resizePolicy"].clone(),
                "must not be set for init containers",
            ));
        }
    }
    errs.extend(one_of(
        &spec["restartPolicy"],
        &format!("{path}.restartPolicy"),
        &["Always", "OnFailure", "Never"],
    ));
    errs.extend(one_of(
        &spec["dnsPolicy"],
        &format!("{path}.dnsPolicy"),
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
    ));
    if let Some(account) = spec["serviceAccountName"]
        .as_str()
        .filter(|a| !a.is_empty())
    {
        for e in validation::dns1123_subdomain(account) {
            errs.push(FieldError::invalid(
                format!("{path}.serviceAccountName"),
                account,
                e,
            ));
        }
    }
    for (i, s) in spec["imagePullSecrets"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if s.as_object().is_some_and(|m| m.keys().any(|k| k != "name")) {
            errs.push(FieldError::invalid(
                format!("{path}.imagePullSecrets[{i}]"),
                s.clone(),
                "only name may be set",
            ));
        }
    }
    errs.extend(validation::labels(
        &spec["nodeSelector"],
        &format!("{path}.nodeSelector"),
    ));
    if spec["securityContext"].is_object() {
        pod_security_context(
            &spec["securityContext"],
            &format!("{path}.securityContext"),
            &mut errs,
        );
    }
    errs.extend(validate_tolerations(
        &spec["tolerations"],
        &format!("{path}.tolerations"),
    ));
    errs
}

/// A required enumerated field: Required when empty, NotSupported when not
/// one of `allowed`.
fn one_of(value: &Value, field: &str, allowed: &[&str]) -> Vec<FieldError> {
    match value.as_str() {
        None | Some("") => vec![FieldError::required(field, "")],
        Some(v) if allowed.contains(&v) => vec![],
        Some(v) => vec![FieldError::not_supported(field, v, allowed)],
    }
}

/// `ValidateVolumes`: the names the pod's mounts may refer to.
fn validate_volumes(volumes: &Value, path: &str, errs: &mut Vec<FieldError>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, v) in volumes.as_array().into_iter().flatten().enumerate() {
        let at = format!("{path}[{i}]");
        let mut own = volume_source(v, &at);
        let name = v["name"].as_str().unwrap_or_default();
        if name.is_empty() {
            own.push(FieldError::required(format!("{at}.name"), ""));
        } else {
            for e in validation::dns1123_label(name) {
                own.push(FieldError::invalid(format!("{at}.name"), name, e));
            }
        }
        if names.contains(name) {
            own.push(FieldError::duplicate(format!("{at}.name"), name));
        }
        let sources: Vec<&str> = VOLUME_SOURCES
            .iter()
            .copied()
            .filter(|s| !v[*s].is_null())
            .collect();
        match sources.as_slice() {
            [] => own.push(FieldError::required(
                at.clone(),
                "must specify a volume type",
            )),
            [_] => {}
            [_, extra @ ..] => {
                for s in extra {
                    own.push(FieldError::forbidden(
                        format!("{at}.{s}"),
                        "may not specify more than 1 volume type",
                    ));
                }
            }
        }
        if own.is_empty() {
            names.insert(name.to_string());
        }
        errs.extend(own);
    }
    names
}

/// `validateContainerCommon`: what every container must be.
fn validate_container(c: &Value, volumes: &BTreeSet<String>, at: &str, errs: &mut Vec<FieldError>) {
    let name = c["name"].as_str().unwrap_or_default();
    if name.is_empty() {
        errs.push(FieldError::required(format!("{at}.name"), ""));
    } else {
        for e in validation::dns1123_label(name) {
            errs.push(FieldError::invalid(format!("{at}.name"), name, e));
        }
    }
    if c["image"].as_str().is_none_or(str::is_empty) {
        errs.push(FieldError::required(format!("{at}.image"), ""));
    }
    errs.extend(one_of(
        &c["terminationMessagePolicy"],
        &format!("{at}.terminationMessagePolicy"),
        &["File", "FallbackToLogsOnError"],
    ));
    errs.extend(one_of(
        &c["imagePullPolicy"],
        &format!("{at}.imagePullPolicy"),
        &["Always", "IfNotPresent", "Never"],
    ));
    validate_ports(&c["ports"], &format!("{at}.ports"), errs);
    for (i, e) in c["env"].as_array().into_iter().flatten().enumerate() {
        let at = format!("{at}.env[{i}]");
        let name = e["name"].as_str().unwrap_or_default();
        if name.is_empty() {
            errs.push(FieldError::required(format!("{at}.name"), ""));
        } else if !env_name_is_valid(name) {
            errs.push(FieldError::invalid(
                format!("{at}.name"),
                name,
                "a valid environment variable name must consist only of printable ASCII characters other than '='",
            ));
        }
        if !e["valueFrom"].is_null() && e["value"].as_str().is_some_and(|v| !v.is_empty()) {
            errs.push(FieldError::invalid(
                format!("{at}.valueFrom"),
                "",
                "may not be specified when `value` is not empty",
            ));
        }
    }
    let mut paths = BTreeSet::new();
    for (i, m) in c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("{at}.volumeMounts[{i}]");
        let name = m["name"].as_str().unwrap_or_default();
        if name.is_empty() {
            errs.push(FieldError::required(format!("{at}.name"), ""));
        }
        if !volumes.contains(name) {
            errs.push(FieldError::not_found(format!("{at}.name"), name));
        }
        let mount_path = m["mountPath"].as_str().unwrap_or_default();
        if mount_path.is_empty() {
            errs.push(FieldError::required(format!("{at}.mountPath"), ""));
        }
        if !paths.insert(mount_path.to_string()) {
            errs.push(FieldError::invalid(
                format!("{at}.mountPath"),
                mount_path,
                "must be unique",
            ));
        }
    }
    validate_resources(&c["resources"], &format!("{at}.resources"), errs);
    if c["securityContext"].is_object() {
        container_security_context(
            &c["securityContext"],
            &format!("{at}.securityContext"),
            errs,
        );
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if !c[probe].is_null() {
            validate_probe(&c[probe], probe, &format!("{at}.{probe}"), errs);
        }
    }
}

/// `IsRelaxedEnvVarName` (`RelaxedEnvironmentVariableValidation`, on by
/// default since 1.32): printable ASCII but `=`.
/// `validateContainerResourceName`: a standard container resource (cpu,
/// memory, ephemeral-storage, hugepages-<size>), a native `kubernetes.io/`
/// one, or an extended resource's qualified name.
fn resource_name(name: &str, field: &str, errs: &mut Vec<FieldError>) {
    let problems = validation::qualified_name(name);
    let invalid = !problems.is_empty();
    errs.extend(
        problems
            .into_iter()
            .map(|m| FieldError::invalid(field, name, m)),
    );
    if invalid {
        return;
    }
    if !name.contains('/') {
        if !STANDARD_RESOURCES.contains(&name) && !name.starts_with("hugepages-") {
            errs.push(FieldError::invalid(
                field,
                name,
                "must be a standard resource type or fully qualified",
            ));
        }
        if !is_container_resource(name) {
            errs.push(FieldError::invalid(
                field,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if !name.contains("kubernetes.io/")
        && (name.starts_with("requests.")
            || !validation::qualified_name(&format!("requests.{name}")).is_empty())
    {
        errs.push(FieldError::invalid(
            field,
            name,
            "doesn't follow extended resource name standard",
        ));
    }
}

/// `standardResources`: the resource names a name without a domain may be.
const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];

fn is_container_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-")
}

/// `IsOvercommitAllowed`: native resources but huge pages may be requested
/// below their limit; the others must request exactly their limit.
fn overcommit_allowed(name: &str) -> bool {
    (!name.contains('/') || name.contains("kubernetes.io/")) && !name.starts_with("hugepages-")
}

/// `ValidateContainerResourceRequirements` for what a pod template gets
/// wrong: resource names, negative quantities, a request above its limit
/// (or, for a resource that cannot be overcommitted, different from it or
/// without one). The quantities were read, and made canonical, when the
/// object was decoded.
fn validate_resources(resources: &Value, at: &str, errs: &mut Vec<FieldError>) {
    let read = |bag: &str| -> Vec<(String, Option<super::quantity::Quantity>)> {
        resources[bag]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().and_then(|s| super::quantity::parse(s).ok()),
                )
            })
            .collect()
    };
    let limits = read("limits");
    let requests = read("requests");
    let check = |bag: &str,
                 name: &str,
                 q: &Option<super::quantity::Quantity>,
                 errs: &mut Vec<FieldError>| {
        let field = format!("{at}.{bag}[{name}]");
        resource_name(name, &field, errs);
        if let Some(q) = q.filter(|q| q.is_negative()) {
            errs.push(FieldError::invalid(
                field,
                q.canonical(),
                "must be greater than or equal to 0",
            ));
        }
    };
    for (name, q) in &limits {
        check("limits", name, q, errs);
    }
    for (name, q) in &requests {
        check("requests", name, q, errs);
        let limit = limits.iter().find(|(l, _)| l == name).map(|(_, q)| q);
        match (q, limit) {
            (Some(request), Some(Some(limit))) => {
                let order = request.cmp(limit);
                if order != std::cmp::Ordering::Equal && !overcommit_allowed(name) {
                    errs.push(FieldError::invalid(
                        format!("{at}.requests"),
                        request.canonical(),
                        format!("must be equal to {name} limit of {}", limit.canonical()),
                    ));
                } else if order == std::cmp::Ordering::Greater {
                    errs.push(FieldError::invalid(
                        format!("{at}.requests"),
                        request.canonical(),
                        format!(
                            "must be less than or equal to {name} limit of {}",
                            limit.canonical()
                        ),
                    ));
                }
            }
            (_, None) if !overcommit_allowed(name) => errs.push(FieldError::required(
                format!("{at}.limits"),
                "Limit must be set for non overcommitable resources",
            )),
            _ => {}
        }
    }
}

const FILE_MODE: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// A file mode (`defaultMode`, `mode`) within 0 and 0777.
fn file_mode(mode: &Value, field: String, errs: &mut Vec<FieldError>) {
    if let Some(m) = mode.as_i64().filter(|m| !(0..=0o777).contains(m)) {
        errs.push(FieldError::invalid(field, m, FILE_MODE));
    }
}

/// `validateLocalNonReservedPath`: relative, no `..` element, not
/// starting with `..`.
fn local_path(path: &str, field: &str, errs: &mut Vec<FieldError>) {
    if path.starts_with('/') {
        errs.push(FieldError::invalid(field, path, "must be a relative path"));
    }
    if path.split('/').any(|p| p == "..") {
        errs.push(FieldError::invalid(field, path, "must not contain '..'"));
    } else if path.starts_with("..") {
        errs.push(FieldError::invalid(field, path, "must not start with '..'"));
    }
}

/// `validateKeyToPath` for each of a ConfigMap's or Secret's `items`.
fn key_to_paths(items: &Value, at: &str, errs: &mut Vec<FieldError>) {
    for (i, item) in items.as_array().into_iter().flatten().enumerate() {
        let at = format!("{at}.items[{i}]");
        if item["key"].as_str().is_none_or(str::is_empty) {
            errs.push(FieldError::required(format!("{at}.key"), ""));
        }
        let path = item["path"].as_str().unwrap_or_default();
        if path.is_empty() {
            errs.push(FieldError::required(format!("{at}.path"), ""));
        }
        local_path(path, &format!("{at}.path"), errs);
        file_mode(&item["mode"], format!("{at}.mode"), errs);
    }
}

/// `validateVolumeSource` for the sources a workload's pod commonly
/// mounts: ConfigMaps and Secrets (a name, modes, items), claims, host
/// paths, empty dirs, the downward API and projections.
fn volume_source(v: &Value, at: &str) -> Vec<FieldError> {
    let mut errs = vec![];
    let required = |errs: &mut Vec<FieldError>, source: &Value, field: &str, path: String| {
        if source[field].as_str().is_none_or(str::is_empty) {
            errs.push(FieldError::required(path, ""));
        }
    };
    if let source @ Value::Object(_) = &v["configMap"] {
        let at = format!("{at}.configMap");
        required(&mut errs, source, "name", format!("{at}.name"));
        file_mode(
            &source["defaultMode"],
            format!("{at}.defaultMode"),
            &mut errs,
        );
        key_to_paths(&source["items"], &at, &mut errs);
    }
    if let source @ Value::Object(_) = &v["secret"] {
        let at = format!("{at}.secret");
        required(&mut errs, source, "secretName", format!("{at}.secretName"));
        file_mode(
            &source["defaultMode"],
            format!("{at}.defaultMode"),
            &mut errs,
        );
        key_to_paths(&source["items"], &at, &mut errs);
    }
    if let source @ Value::Object(_) = &v["persistentVolumeClaim"] {
        required(
            &mut errs,
            source,
            "claimName",
            format!("{at}.persistentVolumeClaim.claimName"),
        );
    }
    if let source @ Value::Object(_) = &v["hostPath"] {
        let at = format!("{at}.hostPath");
        required(&mut errs, source, "path", format!("{at}.path"));
        const TYPES: &[&str] = &[
            "",
            "BlockDevice",
            "CharDevice",
            "Directory",
            "DirectoryOrCreate",
            "File",
            "FileOrCreate",
            "Socket",
        ];
        if let Some(t) = source["type"].as_str().filter(|t| !TYPES.contains(t)) {
            errs.push(FieldError::not_supported(format!("{at}.type"), t, TYPES));
        }
    }
    if let Some(limit) = v.pointer("/emptyDir/sizeLimit").and_then(Value::as_str)
        && super::quantity::parse(limit).is_ok_and(|q| q.is_negative())
    {
        errs.push(FieldError::forbidden(
            format!("{at}.emptyDir.sizeLimit"),
            "SizeLimit field must be a valid resource quantity",
        ));
    }
    if let source @ Value::Object(_) = &v["downwardAPI"] {
        let at = format!("{at}.downwardAPI");
        file_mode(
            &source["defaultMode"],
            format!("{at}.defaultMode"),
            &mut errs,
        );
        for file in source["items"].as_array().into_iter().flatten() {
            let path = file["path"].as_str().unwrap_or_default();
            if path.is_empty() {
                errs.push(FieldError::required(format!("{at}.path"), ""));
            }
            local_path(path, &format!("{at}.path"), &mut errs);
            file_mode(&file["mode"], format!("{at}.mode"), &mut errs);
        }
    }
    if let source @ Value::Object(_) = &v["projected"] {
        let at = format!("{at}.projected");
        file_mode(
            &source["defaultMode"],
            format!("{at}.defaultMode"),
            &mut errs,
        );
        for (i, s) in source["sources"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let src = format!("{at}.sources[{i}]");
            for kind in ["secret", "configMap"] {
                if s[kind].is_object() {
                    required(&mut errs, &s[kind], "name", format!("{src}.{kind}.name"));
                    key_to_paths(&s[kind]["items"], &format!("{src}.{kind}"), &mut errs);
                }
            }
            let kinds = [
                "secret",
                "configMap",
                "downwardAPI",
                "serviceAccountToken",
                "clusterTrustBundle",
            ]
            .iter()
            .filter(|k| !s[**k].is_null())
            .count();
            if kinds > 1 {
                errs.push(FieldError::forbidden(
                    src,
                    "may not specify more than 1 volume type",
                ));
            }
        }
    }
    errs
}

/// `IsValidUserID` / `IsValidGroupID`.
fn id_in_range(value: &Value, field: String, errs: &mut Vec<FieldError>) {
    if let Some(id) = value
        .as_i64()
        .filter(|id| !(0..=2_147_483_647).contains(id))
    {
        errs.push(FieldError::invalid(
            field,
            id,
            "must be between 0 and 2147483647, inclusive",
        ));
    }
}

/// `validateSeccompProfileField`.
fn seccomp_profile(profile: &Value, at: &str, errs: &mut Vec<FieldError>) {
    if !profile.is_object() {
        return;
    }
    let kind = profile["type"].as_str().unwrap_or_default();
    match kind {
        "Localhost" | "RuntimeDefault" | "Unconfined" => {}
        "" => errs.push(FieldError::required(
            format!("{at}.type"),
            "type is required when seccompProfile is set",
        )),
        other => errs.push(FieldError::not_supported(
            format!("{at}.type"),
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
    let local = &profile["localhostProfile"];
    if kind == "Localhost" {
        match local.as_str() {
            None => errs.push(FieldError::required(
                format!("{at}.localhostProfile"),
                "must be set when seccomp type is Localhost",
            )),
            Some(path) => {
                let field = format!("{at}.localhostProfile");
                if path.starts_with('/') {
                    errs.push(FieldError::invalid(&field, path, "must be a relative path"));
                }
                if path.split('/').any(|p| p == "..") {
                    errs.push(FieldError::invalid(&field, path, "must not contain '..'"));
                }
            }
        }
    } else if !local.is_null() {
        let mut e = FieldError::invalid(
            format!("{at}.localhostProfile"),
            profile.clone(),
            "can only be set when seccomp type is Localhost",
        );
        e.shown = Some(format!(
            "&core.SeccompProfile{{Type:{kind:?}, LocalhostProfile:(*string)(…)}}"
        ));
        errs.push(e);
    }
}

/// `ValidateSecurityContext` for a container: user and group ids, the
/// `/proc` mount, seccomp, and privilege escalation refused where
/// privilege or `CAP_SYS_ADMIN` would grant it anyway. (A real server
/// prints the whole context with Go's pointers in the last two messages;
/// here it is abbreviated.)
fn container_security_context(sc: &Value, at: &str, errs: &mut Vec<FieldError>) {
    id_in_range(&sc["runAsUser"], format!("{at}.runAsUser"), errs);
    id_in_range(&sc["runAsGroup"], format!("{at}.runAsGroup"), errs);
    if let Some(mount) = sc["procMount"].as_str()
        && !["Default", "Unmasked"].contains(&mount)
    {
        errs.push(FieldError::not_supported(
            format!("{at}.procMount"),
            mount,
            &["Default", "Unmasked"],
        ));
    }
    seccomp_profile(&sc["seccompProfile"], &format!("{at}.seccompProfile"), errs);
    if sc["allowPrivilegeEscalation"] == false {
        let refuse = |detail: &str| {
            let mut e = FieldError::invalid(at, sc.clone(), detail);
            e.shown = Some("&core.SecurityContext{…}".into());
            e
        };
        if sc["privileged"] == true {
            errs.push(refuse(
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        let adds = validation::strings(&sc["capabilities"]["add"]);
        for _ in adds.iter().filter(|c| *c == "CAP_SYS_ADMIN") {
            errs.push(refuse(
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
}

/// `validatePodSpecSecurityContext`: ids, groups, seccomp and the volume
/// ownership policy.
fn pod_security_context(sc: &Value, at: &str, errs: &mut Vec<FieldError>) {
    id_in_range(&sc["runAsUser"], format!("{at}.runAsUser"), errs);
    id_in_range(&sc["runAsGroup"], format!("{at}.runAsGroup"), errs);
    id_in_range(&sc["fsGroup"], format!("{at}.fsGroup"), errs);
    for (i, g) in sc["supplementalGroups"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        id_in_range(g, format!("{at}.supplementalGroups[{i}]"), errs);
    }
    seccomp_profile(&sc["seccompProfile"], &format!("{at}.seccompProfile"), errs);
    if let Some(policy) = sc["fsGroupChangePolicy"].as_str()
        && !["OnRootMismatch", "Always"].contains(&policy)
    {
        errs.push(FieldError::not_supported(
            format!("{at}.fsGroupChangePolicy"),
            policy,
            &["OnRootMismatch", "Always"],
        ));
    }
}

/// `validateContainerPorts`: each port in range, a name (when given) an
/// IANA service name used once, a protocol.
fn validate_ports(ports: &Value, at: &str, errs: &mut Vec<FieldError>) {
    let mut names = BTreeSet::new();
    for (i, p) in ports.as_array().into_iter().flatten().enumerate() {
        let at = format!("{at}[{i}]");
        if let Some(name) = p["name"].as_str().filter(|n| !n.is_empty()) {
            let problems = validation::port_name(name);
            if !problems.is_empty() {
                for m in problems {
                    errs.push(FieldError::invalid(format!("{at}.name"), name, m));
                }
            } else if !names.insert(name.to_string()) {
                errs.push(FieldError::duplicate(format!("{at}.name"), name));
            }
        }
        match p["containerPort"].as_i64() {
            None | Some(0) => errs.push(FieldError::required(format!("{at}.containerPort"), "")),
            Some(n) => {
                for m in validation::port_number(n) {
                    errs.push(FieldError::invalid(format!("{at}.containerPort"), n, m));
                }
            }
        }
        if let Some(n) = p["hostPort"].as_i64().filter(|n| *n != 0) {
            for m in validation::port_number(n) {
                errs.push(FieldError::invalid(format!("{at}.hostPort"), n, m));
            }
        }
        errs.extend(validation::port_protocol(
            &p["protocol"],
            format!("{at}.protocol"),
        ));
    }
}

/// `validateProbe` and its handler's rules: exactly one handler, a port a
/// number or an IANA name, the scheme, non-negative timings, a positive
/// grace period, and a success threshold of 1 where only 1 means anything
/// (liveness and startup).
fn validate_probe(probe: &Value, kind: &str, at: &str, errs: &mut Vec<FieldError>) {
    let handlers: Vec<&str> = ["exec", "httpGet", "tcpSocket", "grpc"]
        .into_iter()
        .filter(|h| !probe[*h].is_null())
        .collect();
    match handlers.as_slice() {
        [] => errs.push(FieldError::required(at, "must specify a handler type")),
        [_] => {}
        [_, rest @ ..] => {
            for h in rest {
                errs.push(FieldError::forbidden(
                    format!("{at}.{h}"),
                    "may not specify more than 1 handler type",
                ));
            }
        }
    }
    for handler in ["httpGet", "tcpSocket"] {
        let port = &probe[handler]["port"];
        if probe[handler].is_null() {
            continue;
        }
        let field = format!("{at}.{handler}.port");
        match port {
            Value::String(name) => {
                for m in validation::port_name(name) {
                    errs.push(FieldError::invalid(&field, name.as_str(), m));
                }
            }
            other => {
                let n = other.as_i64().unwrap_or(0);
                for m in validation::port_number(n) {
                    errs.push(FieldError::invalid(&field, n, m));
                }
            }
        }
    }
    if let Some(scheme) = probe["httpGet"]["scheme"].as_str()
        && !["HTTP", "HTTPS"].contains(&scheme)
    {
        errs.push(FieldError::not_supported(
            format!("{at}.httpGet.scheme"),
            scheme,
            &["HTTP", "HTTPS"],
        ));
    }
    for field in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        if let Some(n) = probe[field].as_i64().filter(|n| *n < 0) {
            errs.push(FieldError::invalid(
                format!("{at}.{field}"),
                n,
                "must be greater than or equal to 0",
            ));
        }
    }
    if let Some(n) = probe["terminationGracePeriodSeconds"]
        .as_i64()
        .filter(|n| *n <= 0)
    {
        errs.push(FieldError::invalid(
            format!("{at}.terminationGracePeriodSeconds"),
            n,
            "must be greater than 0",
        ));
    }
    let success = probe["successThreshold"].as_i64().unwrap_or(1);
    if kind != "readinessProbe" && success != 1 {
        errs.push(FieldError::invalid(
            format!("{at}.successThreshold"),
            success,
            "must be 1",
        ));
    }
}

fn env_name_is_valid(name: &str) -> bool {
    name.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'=')
}

/// `ValidateTolerations`.
fn validate_tolerations(tolerations: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = vec![];
    for (i, t) in tolerations.as_array().into_iter().flatten().enumerate() {
        let at = format!("{path}[{i}]");
        let key = t["key"].as_str().unwrap_or_default();
        let operator = t["operator"].as_str().unwrap_or_default();
        let value = t["value"].as_str().unwrap_or_default();
        let effect = t["effect"].as_str().unwrap_or_default();
        if !key.is_empty() {
            for e in validation::qualified_name(key) {
                errs.push(FieldError::invalid(format!("{at}.key"), key, e));
            }
        }
        if key.is_empty() && operator != "Exists" {
            errs.push(FieldError::invalid(
                format!("{at}.operator"),
                operator,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if !t["tolerationSeconds"].is_null() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                format!("{at}.effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match operator {
            "Equal" | "" => {
                let problems = validation::label_value(value);
                if !problems.is_empty() {
                    errs.push(FieldError::invalid(
                        format!("{at}.operator"),
                        value,
                        problems.join(";"),
                    ));
                }
            }
            "Exists" if !value.is_empty() => errs.push(FieldError::invalid(
                format!("{at}.operator"),
                t.clone(),
                "value must be empty when `operator` is 'Exists'",
            )),
            "Exists" => {}
            other => errs.push(FieldError::not_supported(
                format!("{at}.operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect)
        {
            errs.push(FieldError::not_supported(
                format!("{at}.effect"),
                effect,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaulted(spec: Value) -> Value {
        let mut template = json!({"spec": spec});
        default_template(&mut template);
        template["spec"].take()
    }

    fn bodies(spec: Value) -> Vec<String> {
        validate_template_spec(&defaulted(spec), "spec.template.spec")
            .iter()
            .map(|e| format!("{}: {}", e.field, e.body()))
            .collect()
    }

    #[test]
    fn defaults_are_a_real_servers() {
        let spec = defaulted(json!({"containers": [
            {"name": "a", "image": "busybox"},
            {"name": "b", "image": "reg:5000/busybox:1.36", "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]},
            {"name": "c", "image": "busybox@sha256:abc"},
        ], "volumes": [{"name": "s", "secret": {"secretName": "x"}}]}));
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["securityContext"], json!({}));
        let pulls: Vec<&Value> = (0..3)
            .map(|i| &spec["containers"][i]["imagePullPolicy"])
            .collect();
        assert_eq!(
            pulls,
            [
                &json!("Always"),
                &json!("IfNotPresent"),
                &json!("IfNotPresent")
            ]
        );
        assert_eq!(
            spec["containers"][0]["terminationMessagePath"],
            "/dev/termination-log"
        );
        assert_eq!(spec["containers"][0]["terminationMessagePolicy"], "File");
        assert_eq!(spec["containers"][0]["resources"], json!({}));
        assert_eq!(
            spec["containers"][1]["env"][0]["valueFrom"]["fieldRef"]["apiVersion"],
            "v1"
        );
        assert_eq!(spec["volumes"][0]["secret"]["defaultMode"], 420);
    }

    #[test]
    fn resources_are_checked_as_validate_container_resource_requirements_does() {
        let container = |resources: Value| json!({"restartPolicy": "Never", "containers": [{"name": "a", "image": "busybox", "resources": resources}]});
        assert!(
            bodies(container(json!({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}}))).is_empty()
        );
        assert_eq!(
            bodies(container(
                json!({"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"cpu": "1500m", "memory": "512Mi"}})
            )),
            [
                "spec.template.spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1500m",
                "spec.template.spec.containers[0].resources.requests: Invalid value: \"1Gi\": must be less than or equal to memory limit of 512Mi",
            ]
        );
        assert_eq!(
            bodies(container(
                json!({"limits": {"gpu": "1", "cpu": "-1"}, "requests": {"example.com/dongle": "1"}})
            )),
            [
                "spec.template.spec.containers[0].resources.limits[gpu]: Invalid value: \"gpu\": must be a standard resource type or fully qualified",
                "spec.template.spec.containers[0].resources.limits[gpu]: Invalid value: \"gpu\": must be a standard resource for containers",
                "spec.template.spec.containers[0].resources.limits[cpu]: Invalid value: \"-1\": must be greater than or equal to 0",
                "spec.template.spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources",
            ]
        );
    }

    #[test]
    fn ports_and_probes_are_checked_as_validate_container_does() {
        let spec = json!({"containers": [{"name": "web", "image": "nginx",
            "ports": [{"name": "http", "containerPort": 8080}, {"name": "http", "containerPort": 70000}],
            "livenessProbe": {"httpGet": {"port": "http"}, "tcpSocket": {"port": 80}, "successThreshold": 2},
            "readinessProbe": {"periodSeconds": -1}}]});
        assert_eq!(
            bodies(spec),
            [
                "spec.template.spec.containers[0].ports[1].name: Duplicate value: \"http\"",
                "spec.template.spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.template.spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
                "spec.template.spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
                "spec.template.spec.containers[0].readinessProbe: Required value: must specify a handler type",
                "spec.template.spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
            ]
        );
    }

    #[test]
    fn volume_sources_are_checked_as_validate_volume_source_does() {
        let spec = json!({"containers": [{"name": "web", "image": "nginx"}], "volumes": [
            {"name": "config", "configMap": {"defaultMode": 755, "items": [{"key": "a", "path": "../etc"}]}},
            {"name": "creds", "secret": {"secretName": "s", "items": [{"key": "", "path": "/abs"}]}},
            {"name": "claim", "persistentVolumeClaim": {}},
            {"name": "ok", "emptyDir": {"sizeLimit": "1Gi"}},
        ]});
        assert_eq!(
            bodies(spec),
            [
                "spec.template.spec.volumes[0].configMap.name: Required value",
                "spec.template.spec.volumes[0].configMap.defaultMode: Invalid value: 755: must be a number between 0 and 0777 (octal), both inclusive",
                "spec.template.spec.volumes[0].configMap.items[0].path: Invalid value: \"../etc\": must not contain '..'",
                "spec.template.spec.volumes[1].secret.items[0].key: Required value",
                "spec.template.spec.volumes[1].secret.items[0].path: Invalid value: \"/abs\": must be a relative path",
                "spec.template.spec.volumes[2].persistentVolumeClaim.claimName: Required value",
            ]
        );
    }

    #[test]
    fn security_contexts_are_checked_as_validate_security_context_does() {
        let spec = json!({
            "securityContext": {"runAsUser": -1, "seccompProfile": {"type": "Localhost"}},
            "containers": [{"name": "web", "image": "nginx", "securityContext": {
                "runAsGroup": 3_000_000_000_i64, "procMount": "Masked",
                "allowPrivilegeEscalation": false, "privileged": true,
                "seccompProfile": {"type": "RuntimeDefault", "localhostProfile": "x.json"}}}]});
        assert_eq!(
            bodies(spec),
            [
                "spec.template.spec.containers[0].securityContext.runAsGroup: Invalid value: 3000000000: must be between 0 and 2147483647, inclusive",
                "spec.template.spec.containers[0].securityContext.procMount: Unsupported value: \"Masked\": supported values: \"Default\", \"Unmasked\"",
                "spec.template.spec.containers[0].securityContext.seccompProfile.localhostProfile: Invalid value: &core.SeccompProfile{Type:\"RuntimeDefault\", LocalhostProfile:(*string)(…)}: can only be set when seccomp type is Localhost",
                "spec.template.spec.containers[0].securityContext: Invalid value: &core.SecurityContext{…}: cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
                "spec.template.spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive",
                "spec.template.spec.securityContext.seccompProfile.localhostProfile: Required value: must be set when seccomp type is Localhost",
            ]
        );
    }

    #[test]
    fn a_valid_pipeline_pod_passes() {
        let errs = bodies(
            json!({"restartPolicy": "Never", "serviceAccountName": "redis-resource-configure-x",
            "initContainers": [{"name": "reader", "image": "kbind:dev", "volumeMounts": [{"name": "in", "mountPath": "/kratix/input"}]}],
            "containers": [{"name": "status-writer", "image": "kbind:dev"}],
            "volumes": [{"name": "in", "emptyDir": {}}],
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ci", "effect": "NoSchedule"}],
            "nodeSelector": {"kubernetes.io/os": "linux"}}),
        );
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn what_a_real_server_refuses_in_a_pod_template() {
        let errs = bodies(
            json!({"restartPolicy": "Never", "serviceAccountName": "Bad_SA",
            "initContainers": [
                {"name": "main", "image": "x", "livenessProbe": {"exec": {"command": ["true"]}}},
                {"name": "a-very-long-container-name-that-is-certainly-over-sixty-three-chars", "image": "x"},
            ],
            "containers": [{"name": "main", "volumeMounts": [
                {"name": "in", "mountPath": "/kratix/input"},
                {"name": "missing", "mountPath": "/kratix/input"}],
                "env": [{"name": "A=B", "value": "x"}]}],
            "volumes": [{"name": "in", "emptyDir": {}}, {"name": "in", "emptyDir": {}}, {"name": "two", "emptyDir": {}, "secret": {"secretName": "s"}}, {"name": "none"}]}),
        );
        for expected in [
            "spec.template.spec.volumes[1].name: Duplicate value: \"in\"",
            "spec.template.spec.volumes[2].secret: Forbidden: may not specify more than 1 volume type",
            "spec.template.spec.volumes[3]: Required value: must specify a volume type",
            "spec.template.spec.containers[0].image: Required value",
            "spec.template.spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
            "spec.template.spec.containers[0].volumeMounts[1].name: Not found: \"missing\"",
            "spec.template.spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/kratix/input\": must be unique",
            "spec.template.spec.initContainers[0].name: Duplicate value: \"main\"",
            "spec.template.spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
            "spec.template.spec.initContainers[1].name: Invalid value: \"a-very-long-container-name-that-is-certainly-over-sixty-three-chars\": must be no more than 63 characters",
        ] {
            assert!(
                errs.iter().any(|e| e == expected),
                "missing {expected:?} in {errs:#?}"
            );
        }
        assert!(
            errs.iter()
                .any(|e| e.starts_with("spec.template.spec.serviceAccountName: Invalid value: \"Bad_SA\": a lowercase RFC 1123 subdomain")),
            "{errs:#?}"
        );
    }

    #[test]
    fn tolerations_are_checked_as_a_real_server_checks_them() {
        let errs = bodies(
            json!({"restartPolicy": "Never", "containers": [{"name": "a", "image": "x"}],
            "tolerations": [
                {"operator": "Equal", "value": "x"},
                {"key": "k", "operator": "Exists", "value": "v"},
                {"key": "k", "operator": "Maybe"},
                {"key": "k", "tolerationSeconds": 5, "effect": "NoSchedule"},
            ]}),
        );
        assert_eq!(errs.len(), 4, "{errs:#?}");
        assert!(errs[0].starts_with("spec.template.spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists"));
        assert!(errs[1].contains("value must be empty when `operator` is 'Exists'"));
        assert_eq!(
            errs[2],
            "spec.template.spec.tolerations[2].operator: Unsupported value: \"Maybe\": supported values: \"Equal\", \"Exists\""
        );
        assert!(errs[3].ends_with("effect must be 'NoExecute' when `tolerationSeconds` is set"));
    }
}
