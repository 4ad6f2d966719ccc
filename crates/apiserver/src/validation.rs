//! Field errors and the validations of `k8s.io/apimachinery` the server
//! applies to every object: names (DNS-1123 label or subdomain, per kind),
//! label keys and values, annotation keys and size. Messages are worded as
//! apimachinery words them, so a client (or a test) reading a real server's
//! errors reads ours the same way.

use serde_json::Value;

/// One `field.Error`: a field path, what is wrong, and the offending value.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub kind: ErrorKind,
    /// The value as JSON, shown in `Invalid value: <value>` texts.
    pub value: Value,
    pub detail: String,
    /// The value as Go's `%#v` prints a typed value JSON cannot tell apart
    /// (`[]string{"x"}`), where the real message shows that.
    pub shown: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ErrorKind {
    Invalid,
    Required,
    NotSupported(Vec<String>),
    TypeInvalid,
    Forbidden,
    TooLong(usize),
    TooMany(usize),
    Duplicate,
    /// `field.NotFound`: a reference to something not there.
    NotFound,
    /// `field.Invalid` with `field.OmitValueType{}`: the text names no value.
    InvalidOmitValue,
    /// Server-side apply: another field manager owns the field.
    ManagerConflict,
    /// A `StatusCause` that is no field error (`NamespaceTerminating`): its
    /// type, and the detail as its whole message.
    Cause(&'static str),
}

impl FieldError {
    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            kind: ErrorKind::Invalid,
            value: value.into(),
            detail: detail.into(),
            shown: None,
        }
    }

    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind: ErrorKind::Required,
            value: Value::Null,
            detail: detail.into(),
            shown: None,
        }
    }

    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind: ErrorKind::Forbidden,
            value: Value::Null,
            detail: detail.into(),
            shown: None,
        }
    }

    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self {
            field: field.into(),
            kind: ErrorKind::NotFound,
            value: value.into(),
            detail: String::new(),
            shown: None,
        }
    }

    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self {
            field: field.into(),
            kind: ErrorKind::Duplicate,
            value: value.into(),
            detail: String::new(),
            shown: None,
        }
    }

    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<Value>,
        allowed: &[&str],
    ) -> Self {
        Self {
            field: field.into(),
            kind: ErrorKind::NotSupported(allowed.iter().map(|a| a.to_string()).collect()),
            value: value.into(),
            detail: String::new(),
            shown: None,
        }
    }

    /// `field.Invalid(path, field.OmitValueType{}, detail)`.
    pub fn invalid_omit_value(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind: ErrorKind::InvalidOmitValue,
            value: Value::Null,
            detail: detail.into(),
            shown: None,
        }
    }

    /// A `[]string` value, shown as Go shows one (`[]string{"a", "b"}`).
    pub fn with_string_list(mut self, items: &[String]) -> Self {
        let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
        self.shown = Some(format!("[]string{{{}}}", quoted.join(", ")));
        self.value = Value::from(items.to_vec());
        self
    }

    /// A value shown as Go's `%#v` prints a typed value (a struct).
    pub fn with_shown(mut self, shown: String) -> Self {
        self.shown = Some(shown);
        self
    }

    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// The `reason` of a `StatusCause`.
    pub fn reason(&self) -> &'static str {
        match self.kind {
            ErrorKind::Invalid => "FieldValueInvalid",
            ErrorKind::Required => "FieldValueRequired",
            ErrorKind::NotSupported(_) => "FieldValueNotSupported",
            ErrorKind::TypeInvalid => "FieldValueTypeInvalid",
            ErrorKind::Forbidden => "FieldValueForbidden",
            ErrorKind::TooLong(_) => "FieldValueTooLong",
            ErrorKind::TooMany(_) => "FieldValueTooMany",
            ErrorKind::Duplicate => "FieldValueDuplicate",
            ErrorKind::NotFound => "FieldValueNotFound",
            ErrorKind::InvalidOmitValue => "FieldValueInvalid",
            ErrorKind::ManagerConflict => "FieldManagerConflict",
            ErrorKind::Cause(type_) => type_,
        }
    }

    /// `field.Error.ErrorBody()`: the text after the field path.
    pub fn body(&self) -> String {
        let value = match &self.value {
            _ if self.shown.is_some() => self.shown.clone().unwrap_or_default(),
            Value::String(s) => format!("{s:?}"),
            Value::Null => "null".to_string(),
            other => other.to_string(),
        };
        let with_detail = |head: String| {
            if self.detail.is_empty() {
                head
            } else {
                format!("{head}: {}", self.detail)
            }
        };
        match &self.kind {
            ErrorKind::Invalid => with_detail(format!("Invalid value: {value}")),
            ErrorKind::TypeInvalid => with_detail(format!("Invalid value: {value}")),
            ErrorKind::Required => with_detail("Required value".into()),
            ErrorKind::Forbidden => with_detail("Forbidden".into()),
            ErrorKind::Duplicate => with_detail(format!("Duplicate value: {value}")),
            ErrorKind::NotFound => with_detail(format!("Not found: {value}")),
            ErrorKind::InvalidOmitValue => with_detail("Invalid value".into()),
            ErrorKind::NotSupported(allowed) => {
                let quoted: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
                let mut text = format!("Unsupported value: {value}");
                if !quoted.is_empty() {
                    text.push_str(&format!(": supported values: {}", quoted.join(", ")));
                }
                text
            }
            ErrorKind::TooLong(max) => {
                with_detail(format!("Too long: may not be more than {max} bytes"))
            }
            ErrorKind::TooMany(max) => {
                with_detail(format!("Too many: must have at most {max} items"))
            }
            ErrorKind::ManagerConflict | ErrorKind::Cause(_) => self.detail.clone(),
        }
    }
}

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_KEY_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

pub(super) fn regex_error(msg: &str, format: &str, examples: &[&str]) -> String {
    let examples: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    if examples.is_empty() {
        format!("{msg} (regex used for validation is '{format}')")
    } else {
        format!(
            "{msg} (e.g. {}regex used for validation is '{format}')",
            examples.join(" or ")
        )
    }
}

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

fn is_alnum_lower(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn matches_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && is_alnum_lower(b[0])
        && is_alnum_lower(b[b.len() - 1])
        && b.iter().all(|&c| is_alnum_lower(c) || c == b'-')
}

fn matches_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(matches_dns1123_label)
}

fn matches_label_key_name(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_alphanumeric();
    !b.is_empty()
        && alnum(b[0])
        && alnum(b[b.len() - 1])
        && b.iter().all(|&c| alnum(c) || b"-_.".contains(&c))
}

/// `IsDNS1123Label`: problems, empty when valid.
pub fn dns1123_label(value: &str) -> Vec<String> {
    let mut errs = vec![];
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !matches_dns1123_label(value) {
        if matches_dns1123_subdomain(value) {
            errs.push("must not contain dots".into());
        } else {
            errs.push(regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// `IsValidPortNum`.
pub fn port_number(n: i64) -> Vec<String> {
    if (1..=65535).contains(&n) {
        vec![]
    } else {
        vec!["must be between 1 and 65535, inclusive".into()]
    }
}

/// `IsValidPortName`: an IANA service name.
pub fn port_name(name: &str) -> Vec<String> {
    let mut errs = vec![];
    if name.len() > 15 {
        errs.push("must be no more than 15 characters".to_string());
    }
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if !name.bytes().any(|b| b.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".into());
    }
    if name.contains("--") {
        errs.push("must not contain consecutive hyphens".into());
    }
    if name.starts_with('-') || name.ends_with('-') {
        errs.push("must not begin or end with a hyphen".into());
    }
    errs
}

/// A Service's or Endpoints' `port` (a number in range) and `protocol`,
/// for the port at `at`.
pub fn port_and_protocol(p: &Value, at: &str) -> Vec<FieldError> {
    let port = p["port"].as_i64().unwrap_or(0);
    let mut errs: Vec<FieldError> = port_number(port)
        .into_iter()
        .map(|m| FieldError::invalid(format!("{at}.port"), port, m))
        .collect();
    errs.extend(port_protocol(&p["protocol"], format!("{at}.protocol")));
    errs
}

/// A Service's or Endpoints' port name: required when there are several
/// ports, a DNS label when given.
pub fn listed_port_name(name: &str, several: bool, field: String) -> Vec<FieldError> {
    if name.is_empty() {
        return if several {
            vec![FieldError::required(field, "")]
        } else {
            vec![]
        };
    }
    dns1123_label(name)
        .into_iter()
        .map(|m| FieldError::invalid(&field, name, m))
        .collect()
}

/// A port's protocol (`supportedPortProtocols`): required, and one of
/// SCTP, TCP and UDP.
pub fn port_protocol(protocol: &Value, field: String) -> Option<FieldError> {
    match protocol.as_str().unwrap_or_default() {
        "" => Some(FieldError::required(field, "")),
        "TCP" | "UDP" | "SCTP" => None,
        other => Some(FieldError::not_supported(
            field,
            other,
            &["SCTP", "TCP", "UDP"],
        )),
    }
}

/// `IsDNS1035Label`.
pub fn dns1035_label(value: &str) -> Vec<String> {
    let mut errs = vec![];
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    let b = value.as_bytes();
    let valid = b.first().is_some_and(u8::is_ascii_lowercase)
        && b.last().is_some_and(|&c| is_alnum_lower(c))
        && b.iter().all(|&c| is_alnum_lower(c) || c == b'-');
    if !valid {
        errs.push(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
            "[a-z]([-a-z0-9]*[a-z0-9])?",
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// `IsDNS1123Subdomain`.
pub fn dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = vec![];
    if value.len() > 253 {
        errs.push(max_len_error(253));
    }
    if !matches_dns1123_subdomain(value) {
        errs.push(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// `IsQualifiedName` / `IsLabelKey`: an optional DNS subdomain prefix and
/// `/`, then a name part of at most 63 characters.
pub fn qualified_name(value: &str) -> Vec<String> {
    let mut errs = vec![];
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".into());
            } else {
                errs.extend(
                    dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|e| format!("prefix part {e}")),
                );
            }
            *name
        }
        _ => {
            return vec![format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(
                    LABEL_KEY_ERR,
                    LABEL_KEY_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            )];
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".into());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63)));
    }
    if !matches_label_key_name(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                LABEL_KEY_ERR,
                LABEL_KEY_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// `IsValidLabelValue`.
pub fn label_value(value: &str) -> Vec<String> {
    let mut errs = vec![];
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !value.is_empty() && !matches_label_key_name(value) {
        errs.push(regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// How a kind's names are checked (`ValidateObjectMeta`'s name function).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    Dns1123Label,
    /// Services' names (`NameIsDNS1035Label`): a letter first.
    Dns1035Label,
    Dns1123Subdomain,
    /// `path.ValidatePathSegmentName`: anything but `.`, `..`, `/` and `%`.
    PathSegment,
}

impl NameRule {
    pub fn check(self, name: &str) -> Vec<String> {
        match self {
            NameRule::Dns1123Label => dns1123_label(name),
            NameRule::Dns1035Label => dns1035_label(name),
            NameRule::Dns1123Subdomain => dns1123_subdomain(name),
            NameRule::PathSegment => {
                if name == "." || name == ".." {
                    vec![format!("may not be '{name}'")]
                } else {
                    ["/", "%"]
                        .iter()
                        .filter(|c| name.contains(*c))
                        .map(|c| format!("may not contain '{c}'"))
                        .collect()
                }
            }
        }
    }
}

/// The longest `generateName` prefix kept: a generated suffix is 5
/// characters and the name must stay within 63 (`maxGeneratedNameLength`).
pub const MAX_GENERATED_PREFIX: usize = 58;

/// `ValidateObjectMeta` for the parts every kind shares: name (or
/// generateName), labels, annotations.
pub fn object_meta(object: &Value, rule: NameRule) -> Vec<FieldError> {
    let meta = &object["metadata"];
    let mut errs = vec![];
    let name = meta["name"].as_str().unwrap_or_default();
    let generate = meta["generateName"].as_str().unwrap_or_default();
    if name.is_empty() && generate.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    }
    if !generate.is_empty() {
        // A prefix is checked as a name would be, its trailing dash masked
        // (apimachinery's `maskTrailingDash`): the generated suffix follows it.
        let masked = match generate.strip_suffix('-') {
            Some(head) if !head.is_empty() => format!("{head}a"),
            _ => generate.to_string(),
        };
        for e in rule.check(&masked) {
            errs.push(FieldError::invalid("metadata.generateName", generate, e));
        }
    }
    if !name.is_empty() {
        for e in rule.check(name) {
            errs.push(FieldError::invalid("metadata.name", name, e));
        }
    }
    errs.extend(labels(&meta["labels"], "metadata.labels"));
    errs.extend(finalizers(&meta["finalizers"]));
    errs.extend(owner_references(&meta["ownerReferences"]));
    if let Some(annotations) = meta["annotations"].as_object() {
        let mut total = 0;
        for (k, v) in annotations {
            for e in qualified_name(&k.to_lowercase()) {
                errs.push(FieldError::invalid("metadata.annotations", k.as_str(), e));
            }
            total += k.len() + v.as_str().map_or(0, str::len);
        }
        const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;
        if total > TOTAL_ANNOTATION_SIZE_LIMIT {
            errs.push(
                FieldError::invalid("metadata.annotations", Value::Null, "")
                    .with_kind(ErrorKind::TooLong(TOTAL_ANNOTATION_SIZE_LIMIT)),
            );
        }
    }
    errs
}

/// A JSON list of strings (anything else in it read as empty).
pub fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect()
}

/// apimachinery's `ValidateFinalizers`: each a qualified name, and not both
/// of the garbage collector's `orphan` and `foregroundDeletion`.
fn finalizers(list: &Value) -> Vec<FieldError> {
    let names = strings(list);
    let mut errs = vec![];
    for name in &names {
        for e in qualified_name(name) {
            errs.push(FieldError::invalid("metadata.finalizers", name.as_str(), e));
        }
    }
    if names.iter().any(|f| f == "orphan") && names.iter().any(|f| f == "foregroundDeletion") {
        errs.push(
            FieldError::invalid(
                "metadata.finalizers",
                Value::Null,
                "finalizer orphan and foregroundDeletion cannot be both set",
            )
            .with_string_list(&names),
        );
    }
    errs
}

/// The core API group's extra rule (`validateKubeFinalizerName`), which every
/// built-in kind's validation applies: a finalizer without a domain must be
/// one of the standard ones.
pub fn kube_finalizers(object: &Value) -> Vec<FieldError> {
    strings(&object["metadata"]["finalizers"])
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            !f.contains('/')
                && !["kubernetes", "orphan", "foregroundDeletion"].contains(&f.as_str())
        })
        .map(|(i, f)| {
            FieldError::invalid(
                format!("metadata.finalizers[{i}]"),
                f.as_str(),
                "name is neither a standard finalizer name nor is it fully qualified",
            )
        })
        .collect()
}

/// apimachinery's `ValidateOwnerReferences`: each reference names a
/// version, kind, name and uid, no Event owns anything, and at most one
/// reference is the controller. The paths are not indexed, as the real ones.
fn owner_references(list: &Value) -> Vec<FieldError> {
    let path = "metadata.ownerReferences";
    let mut errs = vec![];
    let mut controller: Option<String> = None;
    for r in list.as_array().into_iter().flatten() {
        let text = |f: &str| r[f].as_str().unwrap_or_default();
        let api_version = text("apiVersion");
        let version = match api_version.split('/').collect::<Vec<_>>().as_slice() {
            [version] => *version,
            [_, version] => *version,
            _ => "",
        };
        for (field, value, empty) in [
            ("apiVersion", version, "version must not be empty"),
            ("kind", text("kind"), "kind must not be empty"),
            ("name", text("name"), "name must not be empty"),
            ("uid", text("uid"), "uid must not be empty"),
        ] {
            if value.is_empty() {
                let shown = if field == "apiVersion" {
                    api_version
                } else {
                    value
                };
                errs.push(FieldError::invalid(format!("{path}.{field}"), shown, empty));
            }
        }
        if api_version == "v1" && text("kind") == "Event" {
            errs.push(FieldError::invalid(
                path,
                r.clone(),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if r["controller"] == Value::Bool(true) {
            let this = format!("{}/{}", text("kind"), text("name"));
            match &controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    list.clone(),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {this}"
                    ),
                )),
                None => controller = Some(this),
            }
        }
    }
    errs
}

/// `ValidateLabelSelector` (values checked strictly): `matchLabels` as
/// labels, each of `matchExpressions` with an operator, and values only
/// where the operator takes them.
pub fn label_selector(selector: &Value, field: &str) -> Vec<FieldError> {
    let mut errs = labels(&selector["matchLabels"], &format!("{field}.matchLabels"));
    for (i, e) in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("{field}.matchExpressions[{i}]");
        let values = strings(&e["values"]);
        match e["operator"].as_str().unwrap_or_default() {
            "In" | "NotIn" if values.is_empty() => errs.push(FieldError::required(
                format!("{at}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
                format!("{at}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(FieldError::invalid(
                format!("{at}.operator"),
                other,
                "not a valid selector operator",
            )),
        }
        let key = e["key"].as_str().unwrap_or_default();
        for m in qualified_name(key) {
            errs.push(FieldError::invalid(format!("{at}.key"), key, m));
        }
        for (j, v) in values.iter().enumerate() {
            for m in label_value(v) {
                errs.push(FieldError::invalid(
                    format!("{at}.values[{j}]"),
                    v.as_str(),
                    m,
                ));
            }
        }
    }
    errs
}

/// A label map as Go's `%#v` prints it in an `Invalid value` text:
/// `map[string]string{"app":"web", "tier":"x"}`, keys sorted.
pub fn go_string_map(labels: &Value) -> String {
    match labels.as_object() {
        None => "map[string]string(nil)".to_string(),
        Some(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let shown: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or_default()))
                .collect();
            format!("map[string]string{{{}}}", shown.join(", "))
        }
    }
}

/// `ValidateLabels`: every key a qualified name, every value a label value.
pub fn labels(labels: &Value, field: &str) -> Vec<FieldError> {
    let mut errs = vec![];
    for (k, v) in labels.as_object().into_iter().flatten() {
        for e in qualified_name(k) {
            errs.push(FieldError::invalid(field, k.as_str(), e));
        }
        let value = v.as_str().unwrap_or_default();
        for e in label_value(value) {
            errs.push(FieldError::invalid(field, value, e));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_apimachinery() {
        assert!(dns1123_label("team-a").is_empty());
        assert_eq!(dns1123_label("a.b"), ["must not contain dots"]);
        assert_eq!(
            dns1123_label(&"a".repeat(64)),
            ["must be no more than 63 characters"]
        );
        assert!(dns1123_label("Team")[0].starts_with("a lowercase RFC 1123 label"));
        assert!(dns1123_subdomain("redis.marketplace.kratix.io").is_empty());
        assert!(!dns1123_subdomain("-a").is_empty());
        assert_eq!(
            dns1123_subdomain(&"a".repeat(254)),
            ["must be no more than 253 characters"]
        );
    }

    #[test]
    fn label_keys_and_values_follow_apimachinery() {
        assert!(qualified_name("kratix.io/promise-name").is_empty());
        assert!(qualified_name("app").is_empty());
        assert_eq!(qualified_name("/x"), ["prefix part must be non-empty"]);
        assert_eq!(qualified_name("a/b/c").len(), 1);
        assert!(qualified_name("x/-bad")[0].starts_with("name part must consist"));
        assert!(label_value("").is_empty());
        assert!(label_value("v0.1.0").is_empty());
        assert_eq!(
            label_value(&"v".repeat(64)),
            ["must be no more than 63 characters"]
        );
        assert!(!label_value("a b").is_empty());
    }

    #[test]
    fn object_meta_reports_each_field_with_its_value() {
        let errs = object_meta(
            &json!({"metadata": {"name": "Bad_Name", "labels": {"ok": "x", "k": "has space"}}}),
            NameRule::Dns1123Subdomain,
        );
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["metadata.name", "metadata.labels"]);
        assert!(
            errs[0]
                .body()
                .starts_with("Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain")
        );
        assert!(
            object_meta(
                &json!({"metadata": {"generateName": "job-"}}),
                NameRule::Dns1123Subdomain
            )
            .is_empty()
        );
    }
}
