//! What a real API server does to an object of a kind before storing it:
//! the strategy's defaults (`PrepareForCreate`) and its validation
//! (`ValidateObjectMeta` plus the kind's own rules), for the kinds served.

use serde_json::{Value, json};

use super::registry::Resource;
use super::validation::{self, ErrorKind, FieldError, NameRule};
use super::{cel_rules, structural};

/// What decoding a custom resource does on a real server: unknown fields
/// pruned (their paths added to `dropped`), then defaults applied.
pub fn decode_custom(r: &Resource, object: &mut Value, dropped: &mut Vec<String>) {
    if let Some(schema) = &r.schema {
        structural::prune(object, schema, true, "", dropped);
        // Defaults were pruned once, when the schema was compiled.
        structural::default(object, schema);
    }
}

/// A built-in kind's `SetDefaults_*`, which a real server applies to
/// every object it decodes (creates, updates and patches alike).
pub fn default_builtin(r: &Resource, object: &mut Value) {
    match (r.group.as_str(), r.kind.as_str()) {
        ("batch", "Job") => super::job::defaults(object),
        ("apps", "Deployment") => super::deployment::defaults(object),
        ("apps", "ReplicaSet") => super::deployment::replica_set_defaults(object),
        ("", "Pod") => super::pods::defaults(object),
        ("", "Service") => super::service::defaults(object),
        ("", "Endpoints") => super::endpoints_controller::defaults(object),
        _ => {}
    }
}

/// Whether a create keeps the `status` it was sent: every strategy's
/// `PrepareForCreate` clears it where status has its own subresource, but
/// the Node's (a kubelet registers its node with its status in one create).
pub fn status_on_create(r: &Resource) -> bool {
    !r.status_subresource || (r.group.is_empty() && r.kind == "Node")
}

/// Defaults a real server applies on create, after the system fields
/// (uid, creationTimestamp) are set.
pub fn prepare_create(r: &Resource, object: &mut Value) {
    match (r.group.as_str(), r.kind.as_str()) {
        ("", "Namespace") => {
            // The namespace controller's finalizer, the phase, and the
            // label every namespace carries since 1.21.
            let name = object["metadata"]["name"].clone();
            if !object["metadata"]["labels"].is_object() {
                object["metadata"]["labels"] = json!({});
            }
            object["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
            object["spec"] = json!({"finalizers": ["kubernetes"]});
            object["status"] = json!({"phase": "Active"});
        }
        ("", "Secret") => secret_defaults(object),
        ("", "Pod") => super::pods::prepare_create(object),
        ("batch", "Job") => {
            super::job::generate_selector(object);
            // What is stored is decoded, and so defaulted, again: a Job
            // created without labels answers with its template's, the
            // generated ones included (`kubectl create job` shows them).
            super::job::defaults(object);
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            crd_defaults(object);
            // PrepareForCreate: a new CRD's status is the server's to write;
            // `acceptedNames` is a struct whose kind and plural are always
            // written.
            object["status"] = json!({"acceptedNames": {"kind": "", "plural": ""}});
            crd_status(object);
        }
        _ => {}
    }
}

/// The Secret strategy: `stringData` is written into `data` (base64) and
/// never stored; the type defaults to Opaque.
fn secret_defaults(secret: &mut Value) {
    use base64::Engine;
    if secret["type"].as_str().is_none_or(str::is_empty) {
        secret["type"] = json!("Opaque");
    }
    let Some(string_data) = secret.as_object_mut().and_then(|m| m.remove("stringData")) else {
        return;
    };
    if !secret["data"].is_object() {
        secret["data"] = json!({});
    }
    for (k, v) in string_data.as_object().into_iter().flatten() {
        let text = v.as_str().unwrap_or_default();
        secret["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

/// Defaults a real server applies on an update; for a CRD, what its
/// controllers then record (names accepted, every storage version ever used).
pub fn prepare_update(r: &Resource, next: &mut Value, current: &Value) {
    if r.group.is_empty() && r.kind == "Secret" {
        secret_defaults(next);
    }
    if r.group.is_empty() && r.kind == "Service" {
        super::service::keep_allocated(next, current);
    }
    if let ("apiextensions.k8s.io", "CustomResourceDefinition") =
        (r.group.as_str(), r.kind.as_str())
    {
        crd_defaults(next);
        if next["spec"] != current["spec"] {
            let mut stored: Vec<Value> = current
                .pointer("/status/storedVersions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            next["metadata"]["creationTimestamp"] =
                current["metadata"]["creationTimestamp"].clone();
            crd_status(next);
            for v in next["status"]["storedVersions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                if !stored.contains(&v) {
                    stored.push(v);
                }
            }
            next["status"]["storedVersions"] = Value::Array(stored);
        }
    }
}

/// `ValidateNoNewFinalizers`, part of every update's metadata validation:
/// an object being deleted may lose finalizers, never gain one.
fn no_new_finalizers(next: &Value, current: &Value) -> Option<FieldError> {
    if current["metadata"]["deletionTimestamp"].is_null() {
        return None;
    }
    let names = |o: &Value| -> std::collections::BTreeSet<String> {
        super::deletion::finalizers(o).into_iter().collect()
    };
    let before = names(current);
    let added: Vec<String> = names(next)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    if added.is_empty() {
        return None;
    }
    let shown: Vec<String> = added.iter().map(|f| format!("{f:?}")).collect();
    Some(FieldError::forbidden(
        "metadata.finalizers",
        format!(
            "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
            shown.join(", ")
        ),
    ))
}

/// `ValidateImmutableField` for the value at `pointer`.
pub(super) fn immutable_field(
    next: &Value,
    current: &Value,
    pointer: &str,
    field: &str,
) -> Option<FieldError> {
    let value = next.pointer(pointer).cloned().unwrap_or(Value::Null);
    (current.pointer(pointer).unwrap_or(&Value::Null) != &value)
        .then(|| FieldError::invalid(field, value, "field is immutable"))
}

/// Which write a custom resource's validation judges.
#[derive(Clone, Copy)]
pub enum Write<'o> {
    Create,
    /// An update of the main resource, from the stored object: problems
    /// in parts the update left as they were are not errors (ratcheting;
    /// see `structural::validate_update`).
    Update(&'o Value),
    /// A write of the status subresource, from the stored object: only
    /// `status` is checked against the schema, nothing is ratcheted, and
    /// transition rules see the old object.
    Status(&'o Value),
}

/// Everything wrong with `object` as the server would store it, for
/// `write`; what a custom resource's CEL rules only warn of goes to
/// `warnings`.
pub fn validate_as(
    r: &Resource,
    object: &Value,
    write: Write<'_>,
    warnings: &mut Vec<String>,
) -> Vec<FieldError> {
    let mut errs = validation::object_meta(object, r.name_rule);
    match (&r.schema, write) {
        (Some(schema), Write::Create) => structural::validate(object, schema, "", &mut errs),
        (Some(schema), Write::Update(current)) => {
            structural::validate_update(object, current, schema, "", &mut errs);
        }
        (Some(schema), Write::Status(current)) => {
            structural::validate_status_update(object, current, schema, &mut errs);
        }
        (None, _) if r.kind != "CustomResourceDefinition" => {
            errs.extend(validation::kube_finalizers(object));
        }
        (None, _) => {}
    }
    if let Some(paths) = &r.scale {
        let status_only = matches!(write, Write::Status(_));
        errs.extend(super::scale::validate_object(paths, object, status_only));
    }
    if let Some(schema) = r.schema.as_deref().filter(|s| s.has_rules()) {
        rules(object, schema, write, &mut errs, warnings);
    }
    match (r.group.as_str(), r.kind.as_str()) {
        ("batch", "Job") => errs.extend(super::job::validate(object)),
        ("apps", "Deployment") => errs.extend(super::deployment::validate(object)),
        ("apps", "ReplicaSet") => errs.extend(super::deployment::validate_replica_set(object)),
        ("", "Service") => errs.extend(super::service::validate(object)),
        ("", "Endpoints") => errs.extend(super::endpoints_controller::validate(object)),
        ("discovery.k8s.io", "EndpointSlice") => {
            errs.extend(super::endpoints_controller::validate_slice(object));
        }
        ("", "Pod") => errs.extend(super::pod::validate_template_spec(&object["spec"], "spec")),
        ("", "ConfigMap") => errs.extend(config_map(object)),
        ("", "Secret") => errs.extend(secret(object)),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => errs.extend(crd(object)),
        ("" | "events.k8s.io", "Event") => errs.extend(super::event::validate(&r.group, object)),
        ("coordination.k8s.io", "Lease") => errs.extend(lease(&object["spec"])),
        ("rbac.authorization.k8s.io", "Role") => {
            errs.extend(super::rbac_validation::rules(object, true))
        }
        ("rbac.authorization.k8s.io", "ClusterRole") => {
            errs.extend(super::rbac_validation::rules(object, false));
        }
        ("rbac.authorization.k8s.io", "RoleBinding") => {
            errs.extend(super::rbac_validation::binding(object, true));
        }
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            errs.extend(super::rbac_validation::binding(object, false));
        }
        _ => {}
    }
    errs
}

/// The schema's CEL rules, after its other checks: not run if those found
/// a problem that makes the object one the rules cannot read
/// (`hasBlockingErr`), which is then said instead.
fn rules(
    object: &Value,
    schema: &structural::Structural,
    write: Write<'_>,
    errs: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) {
    let blocking = errs.iter().any(|e| {
        matches!(
            e.kind,
            ErrorKind::NotSupported(_)
                | ErrorKind::Required
                | ErrorKind::TooLong(_)
                | ErrorKind::TooMany(_)
                | ErrorKind::TypeInvalid
        )
    });
    if blocking {
        errs.push(FieldError::invalid(
            "<nil>",
            Value::Null,
            "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
        ));
        return;
    }
    let found = cel_rules::validate(object, schema, write);
    errs.extend(found.errors);
    warnings.extend(found.warnings);
}

/// `ValidateLeaseSpec`: a positive duration, no negative transition count,
/// a strategy Kubernetes defines (or a qualified name of one's own), and a
/// preferred holder only with a strategy.
fn lease(spec: &Value) -> Vec<FieldError> {
    let mut errs = vec![];
    if let Some(d) = spec["leaseDurationSeconds"].as_i64().filter(|d| *d <= 0) {
        errs.push(FieldError::invalid(
            "spec.leaseDurationSeconds",
            d,
            "must be greater than 0",
        ));
    }
    if let Some(t) = spec["leaseTransitions"].as_i64().filter(|t| *t < 0) {
        errs.push(FieldError::invalid(
            "spec.leaseTransitions",
            t,
            "must be greater than or equal to 0",
        ));
    }
    let strategy = spec["strategy"].as_str();
    match strategy {
        None | Some("OldestEmulationVersion") => {}
        Some(s) if !s.contains('/') => errs.push(FieldError::not_supported(
            "spec.strategy",
            s,
            &["OldestEmulationVersion"],
        )),
        Some(s) => errs.extend(
            validation::qualified_name(s)
                .into_iter()
                .map(|m| FieldError::invalid("spec.strategy", s, m)),
        ),
    }
    if spec["preferredHolder"]
        .as_str()
        .is_some_and(|h| !h.is_empty())
        && strategy.is_none_or(str::is_empty)
    {
        errs.push(FieldError::forbidden(
            "spec.preferredHolder",
            "may only be specified if `strategy` is defined",
        ));
    }
    errs
}

/// What a real server checks of a new object beyond what it checks of
/// every write (`ValidateEventCreate`'s strict part).
pub fn validate_create(r: &Resource, object: &Value) -> Vec<FieldError> {
    match (r.group.as_str(), r.kind.as_str()) {
        ("events.k8s.io", "Event") => super::event::validate_create(&r.group, object),
        _ => vec![],
    }
}

/// What a real server refuses to change on an update (the kinds'
/// `Validate…Update`): Jobs' selector, template and shape, ConfigMaps' and
/// Secrets' content once `immutable` is set, a binding's `roleRef`.
pub fn validate_update(
    r: &Resource,
    next: &Value,
    current: &Value,
    status_only: bool,
) -> Vec<FieldError> {
    let mut errs = vec![];
    let immutable = |errs: &mut Vec<FieldError>, pointer: &str, field: &str| {
        errs.extend(immutable_field(next, current, pointer, field));
    };
    match (r.group.as_str(), r.kind.as_str()) {
        ("batch", "Job") if status_only => {
            errs.extend(super::job::validate_status_update(next, current));
        }
        ("batch", "Job") => errs.extend(super::job::validate_update(next, current)),
        ("apps", "Deployment") if status_only => {
            errs.extend(super::deployment::validate_status_update(next, current));
        }
        ("apps", "Deployment" | "ReplicaSet") if !status_only => {
            errs.extend(super::deployment::validate_update(next, current));
        }
        ("apps", "ReplicaSet") => {
            errs.extend(super::deployment::validate_replica_set_status(next));
        }
        ("", "Service") if !status_only => {
            errs.extend(super::service::validate_update(next, current));
        }
        ("", "Pod") if !status_only => errs.extend(super::pods::validate_update(next, current)),
        ("", "ConfigMap" | "Secret") if current["immutable"] == json!(true) => {
            let forbidden = "field is immutable when `immutable` is set";
            if next["immutable"] != json!(true) {
                errs.push(FieldError::forbidden("immutable", forbidden));
            }
            for field in ["data", "binaryData"] {
                if next.get(field) != current.get(field) {
                    errs.push(FieldError::forbidden(field, forbidden));
                }
            }
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding")
            if next["roleRef"] != current["roleRef"] =>
        {
            errs.push(FieldError::invalid(
                "roleRef",
                next["roleRef"].clone(),
                "cannot change roleRef",
            ));
        }
        _ => {}
    }
    if (r.group.as_str(), r.kind.as_str()) == ("", "Secret") {
        immutable(&mut errs, "/type", "type");
    }
    errs.extend(no_new_finalizers(next, current));
    errs
}

/// `MaxSecretSize`: what etcd is trusted to hold in one ConfigMap or Secret.
const MAX_SECRET_SIZE: usize = 1024 * 1024;

/// The bytes a base64 value of `data`/`binaryData` stands for (the decoder
/// has already refused a value that is not base64).
fn decoded_len(value: &Value) -> usize {
    use base64::Engine;
    value
        .as_str()
        .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok())
        .map_or(0, |bytes| bytes.len())
}

fn entries(data: &Value) -> impl Iterator<Item = (&String, &Value)> {
    data.as_object().into_iter().flatten()
}

/// `ValidateConfigMap`: its keys, no key in both `data` and `binaryData`,
/// and at most 1 MiB in all, an error about the whole object (`[]`).
fn config_map(object: &Value) -> Vec<FieldError> {
    let mut errs = data_keys(&object["data"], "data");
    errs.extend(data_keys(&object["binaryData"], "binaryData"));
    let binary = &object["binaryData"];
    let mut total = 0;
    for (key, value) in entries(&object["data"]) {
        if binary.get(key).is_some() {
            errs.push(FieldError::invalid(
                format!("data[{key}]"),
                key.as_str(),
                "duplicate of key present in binaryData",
            ));
        }
        total += value.as_str().map_or(0, str::len);
    }
    total += entries(binary).map(|(_, v)| decoded_len(v)).sum::<usize>();
    if total > MAX_SECRET_SIZE {
        errs.push(too_long("[]", MAX_SECRET_SIZE));
    }
    errs
}

fn too_long(field: &str, max: usize) -> FieldError {
    FieldError::required(field, "").with_kind(super::validation::ErrorKind::TooLong(max))
}

/// `ValidateSecret`: its keys, at most 1 MiB of data, and what each
/// well-known `type` requires (`SecretType*` in core/v1).
fn secret(object: &Value) -> Vec<FieldError> {
    let data = &object["data"];
    let mut errs = data_keys(data, "data");
    if entries(data).map(|(_, v)| decoded_len(v)).sum::<usize>() > MAX_SECRET_SIZE {
        errs.push(too_long("data", MAX_SECRET_SIZE));
    }
    let has = |key: &str| data.get(key).is_some();
    match object["type"].as_str().unwrap_or_default() {
        "kubernetes.io/service-account-token" => {
            let name = object
                .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if name.is_empty() {
                errs.push(FieldError::required(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" => errs.extend(docker_config(data, ".dockercfg")),
        "kubernetes.io/dockerconfigjson" => errs.extend(docker_config(data, ".dockerconfigjson")),
        // The real server's paths read `data[%s][...]`: a format verb its
        // code never fills in, kept so its messages read the same here.
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(FieldError::required("data[%s][username]", ""));
            errs.push(FieldError::required("data[%s][password]", ""));
        }
        "kubernetes.io/ssh-auth" if decoded_len(&data["ssh-privatekey"]) == 0 => {
            errs.push(FieldError::required("data[%s][ssh-privatekey]", ""));
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !has(key) {
                    errs.push(FieldError::required(format!("data[{key}]"), ""));
                }
            }
        }
        _ => {}
    }
    errs
}

/// A docker config Secret's one required key, whose content must decode as a
/// JSON object (or `null`, which Go's decoder takes for an empty map).
fn docker_config(data: &Value, key: &str) -> Vec<FieldError> {
    use base64::Engine;
    let field = format!("data[{key}]");
    let Some(value) = data.get(key) else {
        return vec![FieldError::required(field, "")];
    };
    let bytes = value
        .as_str()
        .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok())
        .unwrap_or_default();
    match go_json_map_error(&bytes) {
        Some(problem) => vec![FieldError::invalid(
            field,
            "<secret contents redacted>",
            problem,
        )],
        None => vec![],
    }
}

/// What Go's `json.Unmarshal` into a `map[string]interface{}` says of
/// `bytes`, for the cases its wording is fixed by: no input, a first
/// character that starts no value, a value that is not an object. Other
/// syntax errors are worded by serde_json (the README lists this).
fn go_json_map_error(bytes: &[u8]) -> Option<String> {
    let first = bytes.iter().find(|b| !b" \t\r\n".contains(b));
    let Some(&first) = first else {
        return Some("unexpected end of JSON input".into());
    };
    if !b"{[\"-0123456789tfn".contains(&first) {
        return Some(format!(
            "invalid character {} looking for beginning of value",
            go_quote_char(first)
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Err(e) if e.is_eof() => Some("unexpected end of JSON input".into()),
        Err(e) => Some(e.to_string()),
        Ok(Value::Object(_) | Value::Null) => None,
        Ok(other) => {
            let kind = match other {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                _ => "bool",
            };
            Some(format!(
                "json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
            ))
        }
    }
}

/// encoding/json's `quoteChar`: the byte as a rune, quoted as Go's
/// `strconv.Quote` quotes it.
fn go_quote_char(byte: u8) -> String {
    let inner = match byte {
        b'\'' => "\\'".to_string(),
        0x07 => "\\a".into(),
        0x08 => "\\b".into(),
        0x0b => "\\v".into(),
        0x0c => "\\f".into(),
        b' '..=b'~' => (byte as char).to_string(),
        0xa1..=0xff if byte != 0xad => (byte as char).to_string(),
        0x00..=0x7f => format!("\\x{byte:02x}"),
        _ => format!("\\u{byte:04x}"),
    };
    format!("'{inner}'")
}

/// `IsConfigMapKey` for every key of a ConfigMap's or Secret's data, at
/// `field[key]` as the real server reports it.
fn data_keys(data: &Value, bag: &str) -> Vec<FieldError> {
    let mut errs = vec![];
    for k in data.as_object().into_iter().flatten().map(|(k, _)| k) {
        let field = format!("{bag}[{k}]");
        let field = field.as_str();
        let valid_chars = !k.is_empty()
            && k.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-._".contains(&c));
        if k.len() > 253 {
            errs.push(FieldError::invalid(
                field,
                k.as_str(),
                "must be no more than 253 characters",
            ));
        }
        if !valid_chars {
            errs.push(FieldError::invalid(
                field,
                k.as_str(),
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            ));
        }
        if k == "." || k == ".." || k.starts_with("..") {
            errs.push(FieldError::invalid(
                field,
                k.as_str(),
                "must not be '.' or '..', or start with '..'",
            ));
        }
    }
    errs
}

/// `SetDefaults_CustomResourceDefinition(Spec)`.
fn crd_defaults(crd: &mut Value) {
    let spec = &mut crd["spec"];
    if !spec.is_object() {
        return;
    }
    let kind = spec["names"]["kind"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if spec["names"].is_object() {
        if spec["names"]["singular"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
        {
            spec["names"]["singular"] = json!(kind.to_lowercase());
        }
        if spec["names"]["listKind"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
            && !kind.is_empty()
        {
            spec["names"]["listKind"] = json!(format!("{kind}List"));
        }
    }
    if spec.get("conversion").is_none() {
        spec["conversion"] = json!({"strategy": "None"});
    }
}

/// The storage version recorded (the names and conditions are the naming
/// controller's: `crd_names`).
fn crd_status(crd: &mut Value) {
    let storage: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"] == json!(true))
        .map(|v| v["name"].clone())
        .collect();
    if !crd["status"].is_object() {
        crd["status"] = json!({});
    }
    crd["status"]["storedVersions"] = Value::Array(storage);
}

/// `ValidateCustomResourceDefinition` for what kbind, kubectl and Kratix
/// rely on: names consistent with group and plural, one storage version,
/// and a structural schema per version.
fn crd(crd: &Value) -> Vec<FieldError> {
    let mut errs = vec![];
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = spec["names"]["plural"].as_str().unwrap_or_default();
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    if name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid(
            "metadata.name",
            name,
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    if group.is_empty() {
        errs.push(FieldError::required("spec.group", ""));
    } else {
        for e in validation::dns1123_subdomain(group) {
            errs.push(FieldError::invalid("spec.group", group, e));
        }
        if !group.contains('.') {
            errs.push(FieldError::invalid(
                "spec.group",
                group,
                "should be a domain with at least one dot",
            ));
        }
    }
    match spec["scope"].as_str() {
        Some("Cluster" | "Namespaced") => {}
        Some(other) => errs.push(FieldError::invalid("spec.scope", other, "").with_kind(
            ErrorKind::NotSupported(vec!["Cluster".into(), "Namespaced".into()]),
        )),
        None => errs.push(FieldError::required("spec.scope", "")),
    }
    for (field, value) in [
        ("plural", plural),
        (
            "singular",
            spec["names"]["singular"].as_str().unwrap_or_default(),
        ),
    ] {
        let path = format!("spec.names.{field}");
        if value.is_empty() && field == "plural" {
            errs.push(FieldError::required(path, ""));
        } else if !value.is_empty() {
            for e in validation::dns1123_label(value) {
                errs.push(FieldError::invalid(path.clone(), value, e));
            }
        }
    }
    if spec["names"]["kind"]
        .as_str()
        .unwrap_or_default()
        .is_empty()
    {
        errs.push(FieldError::required("spec.names.kind", ""));
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        errs.push(FieldError::invalid(
            "spec.versions",
            json!([]),
            "must have exactly one version marked as storage version",
        ));
    } else if versions
        .iter()
        .filter(|v| v["storage"] == json!(true))
        .count()
        != 1
    {
        errs.push(FieldError::invalid(
            "spec.versions",
            Value::Array(versions.clone()),
            "must have exactly one version marked as storage version",
        ));
    }
    // The internal type a real server validates holds a schema every
    // version shares once, at `spec.validation` (the v1 conversion moves it
    // there), and its errors are named from there.
    let shared = versions
        .iter()
        .all(|v| v.get("schema") == versions.first().and_then(|f| f.get("schema")));
    for (i, version) in versions.iter().enumerate() {
        let at = format!("spec.versions[{i}]");
        match version.pointer("/schema/openAPIV3Schema") {
            None => errs.push(FieldError::required(
                format!("{at}.schema.openAPIV3Schema"),
                "schemas are required",
            )),
            Some(_) if shared && i > 0 => {}
            Some(schema) if shared => errs.extend(super::schema::structural_errors(
                schema,
                "spec.validation.openAPIV3Schema",
            )),
            Some(schema) => errs.extend(super::schema::structural_errors(
                schema,
                &format!("{at}.schema.openAPIV3Schema"),
            )),
        }
    }
    errs.extend(super::crd_versions::errors(&versions));
    errs.extend(stored_versions(crd, &versions));
    errs
}

/// `ValidateCustomResourceDefinitionStoredVersions`: every version objects
/// were ever stored at stays in `spec.versions` (until whoever migrated
/// them removes it from `status.storedVersions`), and the storage version
/// is among them.
fn stored_versions(crd: &Value, versions: &[Value]) -> Vec<FieldError> {
    let field = "status.storedVersions";
    let stored: Vec<&str> = crd
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if stored.is_empty() {
        return vec![FieldError::invalid(
            field,
            json!([]),
            "must have at least one stored version",
        )];
    }
    let mut errs = vec![];
    for v in versions {
        let name = v["name"].as_str().unwrap_or_default();
        if v["storage"] == json!(true) && !stored.contains(&name) {
            errs.push(FieldError::invalid(
                field,
                v.clone(),
                format!("must have the storage version {name}"),
            ));
        }
    }
    for (i, name) in stored.iter().enumerate() {
        if !versions.iter().any(|v| v["name"] == *name) {
            errs.push(FieldError::invalid(
                format!("{field}[{i}]"),
                *name,
                "must appear in spec.versions",
            ));
        }
    }
    errs
}

/// The name rule of a kind (`ValidateObjectMeta`'s name function).
pub fn name_rule(group: &str, kind: &str) -> NameRule {
    match (group, kind) {
        ("", "Namespace") => NameRule::Dns1123Label,
        ("", "Service") => NameRule::Dns1035Label,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Dns1123Subdomain,
    }
}
