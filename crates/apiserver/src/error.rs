//! API errors, rendered as the `Status` objects a real server answers with.

use serde_json::{Value, json};

use super::registry::Resource;
use super::validation::FieldError;

/// An API error: HTTP code, `reason`, message, and the `details` a client
/// reads (which object, and for 422 Invalid each field's problem).
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Box<Details>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Details {
    pub kind: String,
    pub name: String,
    pub group: String,
    /// `details.causes` of a 422 Invalid.
    pub causes: Vec<FieldError>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: Box::default(),
        }
    }

    /// 422 Invalid, worded as apimachinery's `NewInvalid`:
    /// `<Kind>.<group> "<name>" is invalid: <field>: <problem>` (several
    /// problems in brackets), each problem also a `details.causes` entry.
    pub fn invalid(r: &Resource, name: &str, causes: Vec<FieldError>) -> Self {
        Self::invalid_kind(&r.kind, &r.group, name, causes)
    }

    /// 422 about an object of any kind (`ListOptions.meta.k8s.io` too).
    pub fn invalid_kind(kind: &str, group: &str, name: &str, causes: Vec<FieldError>) -> Self {
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let mut problems: Vec<String> = vec![];
        for c in &causes {
            let text = format!("{}: {}", c.field, c.body());
            if !problems.contains(&text) {
                problems.push(text);
            }
        }
        let problems = match problems.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{qualified} \"{name}\" is invalid: {problems}"),
        )
        .about_kind(kind, group, name);
        e.details.causes = causes;
        e
    }

    /// One more `details.causes` entry (NamespaceLifecycle's
    /// `NamespaceTerminating`, which clients test for).
    pub(super) fn because(mut self, cause: FieldError) -> Self {
        self.details.causes.push(cause);
        self
    }

    pub(super) fn about(self, r: &Resource, name: &str) -> Self {
        self.about_kind(&r.plural, &r.group, name)
    }

    pub(super) fn about_kind(mut self, kind: &str, group: &str, name: &str) -> Self {
        self.details.kind = kind.into();
        self.details.group = group.into();
        self.details.name = name.into();
        self
    }

    pub fn not_found(r: &Resource, name: &str) -> Self {
        let what = if r.group.is_empty() {
            r.plural.clone()
        } else {
            format!("{}.{}", r.plural, r.group)
        };
        Self::new(404, "NotFound", format!("{what} \"{name}\" not found")).about(r, name)
    }

    pub fn status(&self) -> Value {
        let d = &self.details;
        let mut details = serde_json::Map::new();
        for (field, value) in [("name", &d.name), ("group", &d.group), ("kind", &d.kind)] {
            if !value.is_empty() {
                details.insert(field.into(), json!(value));
            }
        }
        if !d.causes.is_empty() {
            let causes: Vec<Value> = d
                .causes
                .iter()
                .map(|c| json!({"reason": c.reason(), "message": c.body(), "field": c.field}))
                .collect();
            details.insert("causes".into(), json!(causes));
        }
        let mut status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        });
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}
