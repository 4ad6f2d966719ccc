//! `x-kubernetes-validations`: a CRD schema's CEL rules, parsed when the CRD
//! is stored and evaluated on every write of its objects, as 1.32's
//! `apiextensions-apiserver/pkg/apiserver/schema/cel` evaluates them: `self`
//! typed by the schema, `oldSelf` for transition rules on updates,
//! `message`, `messageExpression`, `reason` and `fieldPath`, and ratcheting.
//!
//! The `cel` crate (cel-rust) parses with the same ANTLR grammar as cel-go
//! and serves CEL's standard library with the string and list extensions
//! Kubernetes enables. It has no type checker and no cost estimator, so what
//! cel-go finds when a CRD is stored (undeclared names, type mismatches,
//! a rule that is not a bool, an estimated cost over the budget) is found
//! here only when a rule runs, or not at all. A rule that calls one of
//! Kubernetes' own CEL libraries not served here (`quantity`, `url`, `ip`,
//! lists' `isSorted`, …) is not evaluated: the write gets a warning naming
//! it instead of a verdict.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use super::admission::Write;
use super::structural::{Structural, correlated_item, unchanged};
use super::validation::FieldError;

/// One `x-kubernetes-validations` entry, parsed.
#[derive(Clone)]
pub struct Rule {
    text: String,
    program: Arc<cel::Program>,
    message: Option<String>,
    message_expression: Option<(String, Arc<cel::Program>)>,
    reason: Option<String>,
    /// `fieldPath`, normalized as the field errors name it (`a.b`, `a[k]`).
    field_path: Option<String>,
    uses_old_self: bool,
    optional_old_self: bool,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule").field("rule", &self.text).finish()
    }
}

impl PartialEq for Rule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
            && self.message == other.message
            && self.message_expression.as_ref().map(|m| &m.0)
                == other.message_expression.as_ref().map(|m| &m.0)
            && self.reason == other.reason
            && self.field_path == other.field_path
            && self.optional_old_self == other.optional_old_self
    }
}

const REASONS: [&str; 4] = [
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueInvalid",
    "FieldValueRequired",
];

fn env() -> &'static Arc<cel::Env> {
    static ENV: OnceLock<Arc<cel::Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = cel::Env::stdlib();
        // Both are declared once into a fresh environment: a failure would
        // be a name clash inside the crate, and the rules would still run
        // on the standard library.
        let _ = env.add_extension(cel::extensions::strings);
        let _ = env.add_extension(cel::extensions::lists);
        Arc::new(env)
    })
}

/// A transition rule: one that reads the old value.
fn uses_old_self(program: &cel::Program) -> bool {
    program.references().variables().contains(&"oldSelf")
}

fn trimmed(entry: &Value, key: &str) -> Option<String> {
    entry
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The rules of a schema node that parse; one that does not is refused
/// with its CRD (`crd_errors`), so it is never met here.
pub fn compile(schema: &Value) -> Vec<Rule> {
    let Some(entries) = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    else {
        return vec![];
    };
    entries
        .iter()
        .filter_map(|entry| {
            let text = trimmed(entry, "rule")?;
            let program = env().compile(&text).ok()?;
            let uses_old_self = uses_old_self(&program);
            let message_expression = trimmed(entry, "messageExpression").and_then(|source| {
                let program = env().compile(&source).ok()?;
                Some((source, Arc::new(program)))
            });
            Some(Rule {
                program: Arc::new(program),
                message: trimmed(entry, "message"),
                message_expression,
                reason: trimmed(entry, "reason"),
                field_path: trimmed(entry, "fieldPath")
                    .and_then(|p| valid_field_path(&p, schema, true).ok())
                    .map(|(normalized, _)| normalized),
                uses_old_self,
                optional_old_self: entry.get("optionalOldSelf") == Some(&Value::Bool(true)),
                text,
            })
        })
        .collect()
}

/// apiextensions' `ValidationRule` as Go's `%#v` prints it in a CRD's
/// field errors (a reason is a pointer there; its address is not ours).
fn go_rule(entry: &Value) -> String {
    let s = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("");
    let reason = if entry.get("reason").is_some() {
        "(*apiextensions.FieldValueErrorReason)(0xc000000000)".to_string()
    } else {
        "(*apiextensions.FieldValueErrorReason)(nil)".to_string()
    };
    let optional = match entry.get("optionalOldSelf").and_then(Value::as_bool) {
        Some(_) => "(*bool)(0xc000000000)",
        None => "(*bool)(nil)",
    };
    format!(
        "apiextensions.ValidationRule{{Rule:{:?}, Message:{:?}, MessageExpression:{:?}, Reason:{reason}, FieldPath:{:?}, OptionalOldSelf:{optional}}}",
        s("rule"),
        s("message"),
        s("messageExpression"),
        s("fieldPath"),
    )
}

/// What a real server refuses in a schema node's `x-kubernetes-validations`
/// (`ValidateCustomResourceDefinitionOpenAPISchema`), as far as parsing
/// and `cel_check` tell: `path` is the node's, `root` whether it is a
/// resource's root.
pub fn crd_errors(schema: &Value, path: &str, root: bool) -> Vec<FieldError> {
    let Some(entries) = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    else {
        return vec![];
    };
    let mut errs = vec![];
    for (i, entry) in entries.iter().enumerate() {
        let at = |field: &str| format!("{path}.x-kubernetes-validations[{i}].{field}");
        let raw = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("");
        let rule = raw("rule").trim();
        let message = raw("message");
        let lines = |s: &str| s.contains('\n') || s.contains('\r');
        if rule.is_empty() {
            errs.push(FieldError::required(at("rule"), "rule is not specified"));
        } else if !message.is_empty() && message.trim().is_empty() {
            errs.push(FieldError::invalid(
                at("message"),
                message,
                "message must be non-empty if specified",
            ));
        } else if lines(message.trim()) {
            errs.push(FieldError::invalid(
                at("message"),
                message,
                "message must not contain line breaks",
            ));
        } else if lines(rule) && message.trim().is_empty() {
            errs.push(FieldError::required(
                at("message"),
                "message must be specified if rule contains line breaks",
            ));
        }
        let message_expression = raw("messageExpression");
        if !message_expression.is_empty() && message_expression.trim().is_empty() {
            errs.push(FieldError::required(
                at("messageExpression"),
                "messageExpression must be non-empty if specified",
            ));
        }
        if let Some(reason) = entry.get("reason").and_then(Value::as_str)
            && !REASONS.contains(&reason)
        {
            errs.push(FieldError::not_supported(at("reason"), reason, &REASONS));
        }
        let field_path = raw("fieldPath");
        if !field_path.is_empty() && field_path.trim().is_empty() {
            errs.push(FieldError::invalid(
                at("fieldPath"),
                field_path,
                "fieldPath must be non-empty if specified",
            ));
        }
        if lines(field_path) {
            errs.push(FieldError::invalid(
                at("fieldPath"),
                field_path,
                "fieldPath must not contain line breaks",
            ));
        }
        if !field_path.trim().is_empty() && valid_field_path(field_path, schema, true).is_err() {
            errs.push(FieldError::invalid(
                at("fieldPath"),
                field_path,
                "fieldPath must be a valid path",
            ));
        }
        if rule.is_empty() {
            continue;
        }
        let shown = go_rule(entry);
        let issues = match env().compile(rule) {
            Err(e) => go_snippets(&e.to_string()),
            Ok(program) => {
                if !uses_old_self(&program)
                    && let Some(o) = entry.get("optionalOldSelf").and_then(Value::as_bool)
                {
                    errs.push(FieldError::invalid(
                        at("optionalOldSelf"),
                        o,
                        "may not be set if oldSelf is not used in rule",
                    ));
                }
                super::cel_check::issues(&program, rule, schema, root)
            }
        };
        if !issues.is_empty() {
            errs.push(
                FieldError::invalid(
                    at("rule"),
                    Value::Null,
                    format!("compilation failed: {issues}"),
                )
                .with_shown(shown.clone()),
            );
        }
        let message_expression = message_expression.trim();
        if !message_expression.is_empty() {
            let issues = match env().compile(message_expression) {
                Err(e) => go_snippets(&e.to_string()),
                Ok(program) => super::cel_check::issues(&program, message_expression, schema, root),
            };
            if !issues.is_empty() {
                errs.push(
                    FieldError::invalid(
                        at("messageExpression"),
                        Value::Null,
                        format!("messageExpression compilation failed: {issues}"),
                    )
                    .with_shown(shown),
                );
            }
        }
    }
    errs
}

/// cel-rust's parse errors as cel-go displays them: the quoted line and
/// its caret are indented by a space (`\n | self.a ==`).
fn go_snippets(errors: &str) -> String {
    errors.replace("\n| ", "\n | ")
}

/// `ValidFieldPath`: a path (`.a.b`, `.a['b.c']`, the brackets only if
/// `brackets`) through a schema to a field of it; the path as field
/// errors name it (`a.b`, `a[b.c]`) and the field's schema, or why not.
pub(crate) fn valid_field_path<'s>(
    field_path: &str,
    schema: &'s Value,
    brackets: bool,
) -> Result<(String, &'s Value), String> {
    let invalid = || "does not refer to a valid field".to_string();
    let mut node = schema;
    let mut out = String::new();
    let mut rest = field_path.trim();
    while !rest.is_empty() {
        let (name, quoted, after) = if let Some(r) = rest.strip_prefix("['") {
            if !brackets {
                return Err("array notation is not allowed".to_string());
            }
            let end = r.find("']").ok_or("unexpected end of JSON path")?;
            (r[..end].replace("\\'", "'"), true, &r[end + 2..])
        } else if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            (r[..end].to_string(), false, &r[end..])
        } else {
            return Err(format!("expected [ or . but got: {rest}"));
        };
        if name.is_empty() {
            return Err("unexpected end of JSON path".to_string());
        }
        if let Some(p) = node.get("properties").and_then(Value::as_object) {
            node = p.get(&name).ok_or_else(invalid)?;
            if quoted && name.contains('.') {
                out.push_str(&format!("[{name}]"));
            } else {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&name);
            }
        } else if let Some(a) = node.get("additionalProperties").filter(|a| a.is_object()) {
            node = a;
            out.push_str(&format!("[{name}]"));
        } else {
            return Err(invalid());
        }
        rest = after;
    }
    Ok((out, node))
}

/// `cel.Escape`: a property name as a CEL field name, or None if CEL
/// cannot name it (such a property is not visible to rules).
pub(crate) fn escape(name: &str) -> Option<String> {
    const RESERVED: &[&str] = &[
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    ];
    let first = name.chars().next()?;
    if first.is_ascii_digit() {
        return None;
    }
    if RESERVED.contains(&name) {
        return Some(format!("__{name}__"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
    {
        return None;
    }
    let mut out = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '_' if chars.peek() == Some(&'_') => {
                chars.next();
                out.push_str("__underscores__");
            }
            '.' => out.push_str("__dot__"),
            '-' => out.push_str("__dash__"),
            '/' => out.push_str("__slash__"),
            c => out.push(c),
        }
    }
    Some(out)
}

/// `UnstructuredToVal`: `value` as CEL sees it through its schema: an
/// integer field is an int and a number field a double whatever the JSON
/// says, a `byte` string is bytes, an object's properties are fields named
/// as `cel.Escape` names them (a map's keys stay keys), and a resource's
/// root shows only `name` and `generateName` of its metadata.
fn to_cel(value: &Value, schema: Option<&Structural>, resource_root: bool) -> cel::Value {
    match value {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => {
            let number = schema.is_some_and(|s| s.type_name() == Some("number"));
            match n.as_i64() {
                Some(i) if !number => cel::Value::Int(i),
                _ => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            }
        }
        Value::String(s) => {
            if schema.is_some_and(|s| s.format_name() == Some("byte"))
                && let Ok(bytes) =
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, s)
            {
                return cel::Value::Bytes(Arc::new(bytes));
            }
            cel::Value::String(Arc::new(s.clone()))
        }
        Value::Array(items) => {
            let item_schema = schema.and_then(Structural::items);
            cel::Value::List(Arc::new(
                items
                    .iter()
                    .map(|i| to_cel(i, item_schema, false))
                    .collect(),
            ))
        }
        Value::Object(map) => {
            let fields = schema.is_some_and(Structural::has_properties);
            let embedded = resource_root || schema.is_some_and(Structural::is_embedded);
            let mut out: HashMap<cel::objects::Key, cel::Value> = HashMap::new();
            for (key, v) in map {
                let child = schema.and_then(|s| s.child(key));
                if embedded && key == "metadata" {
                    let kept: serde_json::Map<String, Value> = v
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter(|(k, _)| matches!(k.as_str(), "name" | "generateName"))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    out.insert(
                        "metadata".to_string().into(),
                        to_cel(&Value::Object(kept), None, false),
                    );
                    continue;
                }
                let name = if fields {
                    match escape(key) {
                        Some(n) => n,
                        None => continue,
                    }
                } else {
                    key.clone()
                };
                out.insert(name.into(), to_cel(v, child, false));
            }
            cel::Value::Map(cel::objects::Map { map: Arc::new(out) })
        }
    }
}

/// What the rules found: errors, and the warnings a write is answered with
/// (ratcheted failures, rules not evaluated here).
#[derive(Default)]
pub struct Findings {
    pub errors: Vec<FieldError>,
    pub warnings: Vec<String>,
}

/// Every rule of `schema` and below it, on `object`.
pub fn validate(object: &Value, schema: &Structural, write: Write<'_>) -> Findings {
    let mut findings = Findings::default();
    if !schema.has_rules() {
        return findings;
    }
    let (old, ratchet) = match write {
        Write::Create => (None, false),
        Write::Update(old) => (Some(old), true),
        Write::Status(old) => (Some(old), false),
    };
    let node = Node {
        value: object,
        old,
        schema,
        path: String::new(),
        resource_root: true,
    };
    node.walk(ratchet, false, &mut findings);
    findings
}

struct Node<'a> {
    value: &'a Value,
    old: Option<&'a Value>,
    schema: &'a Structural,
    path: String,
    resource_root: bool,
}

impl Node<'_> {
    /// `parent_ratchets`: whether the nearest part with an old counterpart
    /// is unchanged (what a new part's failures are ratcheted by).
    fn walk(&self, ratchet: bool, parent_ratchets: bool, findings: &mut Findings) {
        if self.value.is_null() {
            return;
        }
        let ratchets = ratchet
            && match self.old {
                Some(old) => unchanged(self.value, old, self.schema),
                None => parent_ratchets,
            };
        self.evaluate(self.schema, ratchets, findings);
        for all_of in self.schema.all_of() {
            self.evaluate(all_of, ratchets, findings);
        }
        match self.value {
            Value::Object(map) => {
                for (key, v) in map {
                    let Some(child) = self.schema.child(key) else {
                        continue;
                    };
                    if !child.has_rules() {
                        continue;
                    }
                    let node = Node {
                        value: v,
                        old: self.old.and_then(|o| o.get(key)),
                        schema: child,
                        path: if self.path.is_empty() {
                            key.clone()
                        } else if self.schema.has_properties() {
                            format!("{}.{key}", self.path)
                        } else {
                            format!("{}[{key}]", self.path)
                        },
                        resource_root: child.is_embedded(),
                    };
                    node.walk(ratchet, ratchets, findings);
                }
            }
            Value::Array(items) => {
                let Some(item_schema) = self.schema.items().filter(|s| s.has_rules()) else {
                    return;
                };
                for (i, item) in items.iter().enumerate() {
                    let node = Node {
                        value: item,
                        old: correlated_item(item, self.old, self.schema),
                        schema: item_schema,
                        path: format!("{}[{i}]", self.path),
                        resource_root: item_schema.is_embedded(),
                    };
                    node.walk(ratchet, ratchets, findings);
                }
            }
            _ => {}
        }
    }

    fn evaluate(&self, schema: &Structural, ratchets: bool, findings: &mut Findings) {
        let rules = schema.rules();
        if rules.is_empty() {
            return;
        }
        let type_name = self.schema.type_name().unwrap_or("");
        let shown_path = if self.path.is_empty() {
            "<nil>".to_string()
        } else {
            self.path.clone()
        };
        let self_value = to_cel(self.value, Some(self.schema), self.resource_root);
        // Converted only for the transition rules that read it.
        let old_value = self
            .old
            .filter(|_| rules.iter().any(|r| r.uses_old_self))
            .map(|o| to_cel(o, Some(self.schema), self.resource_root));
        // One context for the node's rules: only `oldSelf` differs between
        // them (an optional for some).
        let mut context = super::cel_library::context(env().clone());
        context.add_variable_from_value("self", self_value);
        for rule in rules {
            if rule.uses_old_self && old_value.is_none() && !rule.optional_old_self {
                continue;
            }
            if rule.uses_old_self {
                let old = if rule.optional_old_self {
                    let optional = match &old_value {
                        Some(v) => cel::objects::OptionalValue::of(v.clone()),
                        None => cel::objects::OptionalValue::none(),
                    };
                    cel::Value::Opaque(Arc::new(optional))
                } else {
                    old_value.clone().unwrap_or(cel::Value::Null)
                };
                context.add_variable_from_value("oldSelf", old);
            }
            let rule_string = rule.message.clone().unwrap_or_else(|| rule.text.clone());
            let failure = match rule.program.execute(&context) {
                Ok(cel::Value::Bool(true)) => continue,
                Ok(cel::Value::Bool(false)) => None,
                Ok(_) => Some("rule compile error: compilation failed: cel expression must evaluate to a bool".to_string()),
                Err(e) if let Some(name) = unserved_library_call(&e, rule) => {
                    findings.warnings.push(format!(
                        "{shown_path}: x-kubernetes-validations rule not evaluated by the embedded API server ({name} is a Kubernetes CEL library function it does not serve): {}",
                        rule.text
                    ));
                    continue;
                }
                Err(e) => Some(evaluation_error(&e, &rule_string)),
            };
            if let Some(detail) = failure {
                findings
                    .errors
                    .push(FieldError::invalid(shown_path.clone(), type_name, detail));
                continue;
            }
            let path = match rule.field_path.clone() {
                Some(p) if self.path.is_empty() => p,
                Some(p) if p.starts_with('[') => format!("{}{p}", self.path),
                Some(p) => format!("{}.{p}", self.path),
                None => shown_path.clone(),
            };
            let detail = rule
                .message_expression
                .as_ref()
                .and_then(|(_, program)| match program.execute(&context) {
                    Ok(cel::Value::String(s)) if !s.trim().is_empty() && !s.contains('\n') => {
                        Some(s.trim().to_string())
                    }
                    _ => None,
                })
                .unwrap_or_else(|| match &rule.message {
                    Some(m) => m.clone(),
                    None => format!("failed rule: {}", rule.text),
                });
            let error = match rule.reason.as_deref() {
                Some("FieldValueForbidden") => FieldError::forbidden(path, detail),
                Some("FieldValueRequired") => FieldError::required(path, detail),
                Some("FieldValueDuplicate") => FieldError::duplicate(path, type_name),
                _ => FieldError::invalid(path, type_name, detail),
            };
            if !rule.uses_old_self && ratchets {
                findings
                    .warnings
                    .push(format!("{}: {}", error.field, error.body()));
            } else {
                findings.errors.push(error);
            }
        }
    }
}

/// The Kubernetes library function a rule failed on because it is not
/// served here: an undeclared one, or a list's `indexOf`/`lastIndexOf`,
/// which reach the strings extension's overloads.
fn unserved_library_call(e: &cel::ExecutionError, rule: &Rule) -> Option<String> {
    match e {
        cel::ExecutionError::UndeclaredReference(name)
            if super::cel_library::UNSERVED.contains(&name.as_str()) =>
        {
            Some(name.to_string())
        }
        cel::ExecutionError::NoSuchOverload(_) => rule
            .program
            .references()
            .functions()
            .into_iter()
            .find(|f| matches!(*f, "indexOf" | "lastIndexOf"))
            .map(str::to_string),
        _ => None,
    }
}

/// A rule that failed to evaluate, worded as cel-go's errors are in the
/// server's message (`no such key: size evaluating rule: <rule>`).
fn evaluation_error(e: &cel::ExecutionError, rule: &str) -> String {
    use cel::ExecutionError as E;
    let text = match e {
        E::NoSuchKey(k) => format!("no such key: {k}"),
        E::UndeclaredReference(r) => format!("undeclared reference to '{r}'"),
        E::DivisionByZero(_) => "division by zero".to_string(),
        E::RemainderByZero(_) => "modulus by zero".to_string(),
        E::IndexOutOfBounds(i) => format!("index out of bounds: {}", cel_text(i)),
        E::Overflow(..) => "integer overflow".to_string(),
        E::FunctionError { function, message } => format!("{function} {message}"),
        E::NoSuchOverload(_)
        | E::UnsupportedBinaryOperator(..)
        | E::UnexpectedType { .. }
        | E::UnsupportedTargetType { .. }
        | E::NotSupportedAsMethod { .. }
        | E::ValuesNotComparable(..) => {
            return format!(
                "'no such overload': call arguments did not match a supported operator, function or macro signature for rule: {rule}"
            );
        }
        other => other.to_string(),
    };
    format!("{text} evaluating rule: {rule}")
}

fn cel_text(v: &cel::Value) -> String {
    match v {
        cel::Value::Int(i) => i.to_string(),
        cel::Value::UInt(u) => u.to_string(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn widget() -> Structural {
        Structural::compile(&json!({"type": "object", "properties": {
            "spec": {"type": "object",
                "x-kubernetes-validations": [
                    {"rule": "self.min <= self.max", "message": "min must not exceed max"},
                    {"rule": "!has(self.mode) || self.mode != 'fast' || self.max < 10",
                     "messageExpression": "'max ' + string(self.max) + ' is too high for fast'",
                     "fieldPath": ".max", "reason": "FieldValueForbidden"},
                    {"rule": "self.ratio > 0.5"}],
                "properties": {
                    "min": {"type": "integer"}, "max": {"type": "integer"},
                    "ratio": {"type": "number"}, "mode": {"type": "string"},
                    "name": {"type": "string",
                        "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "name is immutable"}]},
                    "x-y": {"type": "string",
                        "x-kubernetes-validations": [{"rule": "self.startsWith('a')"}]}}},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}))
    }

    fn texts(findings: &Findings) -> Vec<String> {
        findings
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.body()))
            .collect()
    }

    #[test]
    fn failed_rules_are_worded_as_a_real_server_words_them() {
        let w = json!({"spec": {"min": 15, "max": 12, "ratio": 1, "mode": "fast", "name": "a"}});
        let found = validate(&w, &widget(), Write::Create);
        assert_eq!(
            texts(&found),
            [
                "spec: Invalid value: \"object\": min must not exceed max",
                "spec.max: Forbidden: max 12 is too high for fast",
            ]
        );
        // An integer where the schema says number is a double: 1 > 0.5.
        let w = json!({"spec": {"min": 1, "max": 2, "ratio": 0.25, "x-y": "b"}});
        assert_eq!(
            texts(&validate(&w, &widget(), Write::Create)),
            [
                "spec: Invalid value: \"object\": failed rule: self.ratio > 0.5",
                "spec.x-y: Invalid value: \"string\": failed rule: self.startsWith('a')",
            ]
        );
        let w = json!({"spec": {"min": 1, "max": 2}});
        assert_eq!(
            texts(&validate(&w, &widget(), Write::Create)),
            [
                "spec: Invalid value: \"object\": no such key: ratio evaluating rule: self.ratio > 0.5"
            ]
        );
    }

    #[test]
    fn transition_rules_run_on_updates_and_unchanged_parts_only_warn() {
        let old = json!({"spec": {"min": 1, "max": 2, "ratio": 1, "name": "a"}});
        let renamed = json!({"spec": {"min": 1, "max": 2, "ratio": 1, "name": "b"}});
        assert_eq!(
            texts(&validate(&renamed, &widget(), Write::Create)),
            Vec::<String>::new(),
            "no oldSelf on create"
        );
        assert_eq!(
            texts(&validate(&renamed, &widget(), Write::Update(&old))),
            ["spec.name: Invalid value: \"string\": name is immutable"]
        );
        // A rule broken before the update, on a part it did not change.
        let old = json!({"metadata": {"name": "w"}, "spec": {"min": 3, "max": 2, "ratio": 1}});
        let labelled = json!({"metadata": {"name": "w", "labels": {"a": "b"}},
            "spec": {"min": 3, "max": 2, "ratio": 1}});
        let found = validate(&labelled, &widget(), Write::Update(&old));
        assert_eq!(texts(&found), Vec::<String>::new());
        assert_eq!(
            found.warnings,
            ["spec: Invalid value: \"object\": min must not exceed max"]
        );
        // The status subresource ratchets nothing.
        let found = validate(&old, &widget(), Write::Status(&old));
        assert_eq!(
            texts(&found),
            ["spec: Invalid value: \"object\": min must not exceed max"]
        );
    }

    #[test]
    fn crds_with_rules_that_do_not_parse_are_refused() {
        let node = json!({"type": "object", "properties": {"a": {"type": "string"}},
            "x-kubernetes-validations": [
                {"rule": "self.a ==", "message": "m"},
                {"rule": "self.a == 'x'", "reason": "Wrong", "fieldPath": ".b"},
                {"rule": "  "},
                {"rule": "true", "optionalOldSelf": true}]});
        let errs: Vec<String> = crd_errors(&node, "spec.versions[0].schema.openAPIV3Schema", true)
            .iter()
            .map(|e| format!("{}: {}", e.field, e.body()))
            .collect();
        let at = "spec.versions[0].schema.openAPIV3Schema.x-kubernetes-validations";
        assert_eq!(errs.len(), 5, "{errs:#?}");
        assert!(
            errs[0].starts_with(&format!("{at}[0].rule: Invalid value: apiextensions.ValidationRule{{Rule:\"self.a ==\", Message:\"m\", MessageExpression:\"\", Reason:(*apiextensions.FieldValueErrorReason)(nil), FieldPath:\"\", OptionalOldSelf:(*bool)(nil)}}: compilation failed: ERROR: <input>:1:10: Syntax error:")),
            "{errs:#?}"
        );
        assert_eq!(
            errs[1..],
            [
                format!(
                    "{at}[1].reason: Unsupported value: \"Wrong\": supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\""
                ),
                format!("{at}[1].fieldPath: Invalid value: \".b\": fieldPath must be a valid path"),
                format!("{at}[2].rule: Required value: rule is not specified"),
                format!(
                    "{at}[3].optionalOldSelf: Invalid value: true: may not be set if oldSelf is not used in rule"
                ),
            ]
        );
    }

    #[test]
    fn kubernetes_list_functions_are_served_or_warned_of() {
        let schema = Structural::compile(&json!({"type": "object", "properties": {
            "xs": {"type": "array", "items": {"type": "integer"},
                "x-kubernetes-validations": [
                    {"rule": "self.isSorted()", "message": "sorted"},
                    {"rule": "self.sum() <= 10", "message": "sum"},
                    {"rule": "self.min() >= 1", "message": "low"},
                    {"rule": "self.max() <= 5", "message": "high"},
                    {"rule": "self.indexOf(3) != 0"}]}}}));
        let found = validate(&json!({"xs": [1, 2, 5]}), &schema, Write::Create);
        assert_eq!(texts(&found), Vec::<String>::new());
        assert_eq!(
            found.warnings,
            [
                "xs: x-kubernetes-validations rule not evaluated by the embedded API server (indexOf is a Kubernetes CEL library function it does not serve): self.indexOf(3) != 0"
            ]
        );
        let found = validate(&json!({"xs": [9, 0, 4]}), &schema, Write::Create);
        assert_eq!(
            texts(&found),
            [
                "xs: Invalid value: \"array\": sorted",
                "xs: Invalid value: \"array\": sum",
                "xs: Invalid value: \"array\": low",
                "xs: Invalid value: \"array\": high",
            ]
        );
        let found = validate(&json!({"xs": []}), &schema, Write::Create);
        assert_eq!(
            texts(&found),
            [
                "xs: Invalid value: \"array\": min called on empty list evaluating rule: low",
                "xs: Invalid value: \"array\": max called on empty list evaluating rule: high",
            ]
        );
    }

    #[test]
    fn names_are_escaped_as_cel_escape_does() {
        assert_eq!(escape("x-y").as_deref(), Some("x__dash__y"));
        assert_eq!(escape("a.b/c").as_deref(), Some("a__dot__b__slash__c"));
        assert_eq!(escape("a__b").as_deref(), Some("a__underscores__b"));
        assert_eq!(escape("namespace").as_deref(), Some("__namespace__"));
        assert_eq!(escape("1a"), None);
        assert_eq!(escape("a b"), None);
    }
}
