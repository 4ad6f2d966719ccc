//! What cel-go's checker finds in a CRD's rule before the CRD is stored
//! that cel-rust, which has no checker, would only meet when the rule
//! runs: a field the schema does not declare (`self.sise`, the commonest
//! slip in a rule; at a resource's root `metadata` shows only `name` and
//! `generateName`), and a `matches` pattern that is not a regular
//! expression. Both are reported as cel-go reports them (`ERROR:
//! <input>:1:5: undefined field 'sise'` and the line with a caret). Types
//! are followed only through `self`, `oldSelf`, indexing and the macros'
//! variables; what cannot be followed is not checked.

use std::collections::HashMap;

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue};
use serde_json::Value;

/// What an expression is known to be.
#[derive(Clone, Copy)]
enum Known<'s> {
    /// A value of this schema node; `root` if it is a resource's root (an
    /// embedded resource's too), where `apiVersion`, `kind` and a narrowed
    /// `metadata` are fields.
    Node {
        schema: &'s Value,
        root: bool,
    },
    /// A resource root's `metadata`: `name` and `generateName`.
    Metadata,
    Unknown,
}

struct Checker<'s> {
    program: &'s cel::Program,
    found: Vec<(u32, String)>,
}

/// cel-go's issues for `program` (the rule at a node of `schema`, a
/// resource's root if `root`), one per line, sorted by where they are; an
/// empty string if none.
pub fn issues(program: &cel::Program, source: &str, schema: &Value, root: bool) -> String {
    let mut checker = Checker {
        program,
        found: vec![],
    };
    let mut scope = HashMap::new();
    let this = Known::Node { schema, root };
    scope.insert("self".to_string(), this);
    scope.insert("oldSelf".to_string(), this);
    checker.check(program.expression(), &scope);
    checker.found.sort_by_key(|(at, _)| *at);
    checker
        .found
        .iter()
        .map(|(at, message)| display(source, *at, message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// cel-go's `Errors.ToDisplayString` of one error: where, what, and the
/// line with a caret under the place.
pub fn display(source: &str, offset: u32, message: &str) -> String {
    let offset = offset as usize;
    let before: Vec<char> = source.chars().take(offset).collect();
    let line = before.iter().filter(|c| **c == '\n').count() + 1;
    let line_start = before.iter().rposition(|c| *c == '\n').map_or(0, |p| p + 1);
    let column = before.len() - line_start + 1;
    let text = source.lines().nth(line - 1).unwrap_or("");
    format!(
        "ERROR: <input>:{line}:{column}: {message}\n | {text}\n | {}^",
        ".".repeat(column - 1)
    )
}

fn properties(schema: &Value) -> Option<&serde_json::Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

fn additional(schema: &Value) -> Option<&Value> {
    schema.get("additionalProperties").filter(|a| a.is_object())
}

fn embedded(schema: &Value) -> bool {
    schema.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true))
}

impl<'s> Checker<'s> {
    fn offset(&self, expr: &IdedExpr) -> u32 {
        self.program
            .source_info()
            .offset_for(expr.id)
            .map_or(0, |(start, _)| start)
    }

    /// `field` of a value known as `of`; None (and an issue) if the schema
    /// says there is no such field.
    fn select(&mut self, of: Known<'s>, field: &str, at: u32) -> Known<'s> {
        match of {
            Known::Unknown => Known::Unknown,
            Known::Metadata => {
                if !matches!(field, "name" | "generateName") {
                    self.undefined(field, at);
                }
                Known::Unknown
            }
            Known::Node { schema, root } => {
                if root {
                    match field {
                        "apiVersion" | "kind" => return Known::Unknown,
                        "metadata" => return Known::Metadata,
                        _ => {}
                    }
                }
                if let Some(props) = properties(schema) {
                    let declared = props
                        .iter()
                        .find(|(name, _)| super::cel_rules::escape(name).as_deref() == Some(field));
                    match declared {
                        Some((_, child)) => Known::Node {
                            schema: child,
                            root: embedded(child),
                        },
                        None => {
                            self.undefined(field, at);
                            Known::Unknown
                        }
                    }
                } else if let Some(values) = additional(schema) {
                    Known::Node {
                        schema: values,
                        root: embedded(values),
                    }
                } else {
                    Known::Unknown
                }
            }
        }
    }

    fn undefined(&mut self, field: &str, at: u32) {
        self.found.push((at, format!("undefined field '{field}'")));
    }

    /// An item of a list, or a value of a map, known as `of`.
    fn element(of: Known<'s>) -> Known<'s> {
        match of {
            Known::Node { schema, .. } => {
                let element = schema
                    .get("items")
                    .filter(|i| i.is_object())
                    .or_else(|| additional(schema));
                match element {
                    Some(e) => Known::Node {
                        schema: e,
                        root: embedded(e),
                    },
                    None => Known::Unknown,
                }
            }
            _ => Known::Unknown,
        }
    }

    fn check(&mut self, expr: &IdedExpr, scope: &HashMap<String, Known<'s>>) -> Known<'s> {
        match &expr.expr {
            Expr::Ident(name) => scope.get(name).copied().unwrap_or(Known::Unknown),
            Expr::Select(select) => {
                let operand = self.check(&select.operand, scope);
                // A select's place is its dot, as cel-go's parser puts it.
                let at = self.offset(expr);
                self.select(operand, &select.field, at)
            }
            Expr::Call(call) => {
                let target = call.target.as_ref().map(|t| self.check(t, scope));
                let args: Vec<Known<'s>> = call.args.iter().map(|a| self.check(a, scope)).collect();
                if call.func_name == "matches"
                    && let Some(pattern) = call.args.last()
                    && let Expr::Literal(LiteralValue::String(text)) = &pattern.expr
                    && regex::Regex::new(text.as_ref()).is_err()
                {
                    let at = self.offset(pattern);
                    self.found
                        .push((at, "invalid matches argument".to_string()));
                }
                match (call.func_name.as_str(), target, args.first()) {
                    ("_[_]", None, Some(list)) => Self::element(*list),
                    _ => Known::Unknown,
                }
            }
            Expr::Comprehension(c) => {
                let range = self.check(&c.iter_range, scope);
                let mut inner = scope.clone();
                let item = match range {
                    Known::Node { schema, .. } if schema.get("items").is_some() => {
                        Self::element(range)
                    }
                    // A map's keys (strings) are what a macro iterates.
                    _ => Known::Unknown,
                };
                inner.insert(c.iter_var.clone(), item);
                if let Some(second) = &c.iter_var2 {
                    inner.insert(second.clone(), Known::Unknown);
                }
                self.check(&c.accu_init, scope);
                inner.insert(c.accu_var.clone(), Known::Unknown);
                self.check(&c.loop_cond, &inner);
                self.check(&c.loop_step, &inner);
                self.check(&c.result, &inner);
                Known::Unknown
            }
            Expr::List(list) => {
                for e in &list.elements {
                    self.check(e, scope);
                }
                Known::Unknown
            }
            Expr::Map(map) => {
                for entry in &map.entries {
                    match &entry.expr {
                        EntryExpr::MapEntry(e) => {
                            self.check(&e.key, scope);
                            self.check(&e.value, scope);
                        }
                        EntryExpr::StructField(f) => {
                            self.check(&f.value, scope);
                        }
                    }
                }
                Known::Unknown
            }
            Expr::Struct(s) => {
                for entry in &s.entries {
                    if let EntryExpr::StructField(f) = &entry.expr {
                        self.check(&f.value, scope);
                    }
                }
                Known::Unknown
            }
            Expr::Literal(_) | Expr::Unspecified => Known::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(rule: &str, schema: &Value, root: bool) -> String {
        let program = cel::Env::stdlib().compile(rule).unwrap();
        issues(&program, rule, schema, root)
    }

    fn spec() -> Value {
        json!({"type": "object", "properties": {
            "size": {"type": "integer"},
            "x-y": {"type": "string"},
            "items": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}})
    }

    #[test]
    fn undeclared_fields_are_found_where_cel_go_finds_them() {
        assert_eq!(
            check("self.sise == 1", &spec(), false),
            "ERROR: <input>:1:5: undefined field 'sise'\n | self.sise == 1\n | ....^"
        );
        assert_eq!(
            check("self.size == 1 && self.x__dash__y != ''", &spec(), false),
            ""
        );
        assert_eq!(
            check("self.items.all(i, i.nme != '')", &spec(), false),
            "ERROR: <input>:1:20: undefined field 'nme'\n | self.items.all(i, i.nme != '')\n | ...................^"
        );
        assert_eq!(
            check(
                "self.items[0].name != '' && self.labels.anything == 'a' && self.free.x.y == 1",
                &spec(),
                false
            ),
            ""
        );
        assert_eq!(
            check("has(self.sise)", &spec(), false),
            "ERROR: <input>:1:4: undefined field 'sise'\n | has(self.sise)\n | ...^"
        );
    }

    #[test]
    fn a_resource_root_shows_name_and_generate_name_of_its_metadata() {
        let root = json!({"type": "object", "properties": {"spec": spec()}});
        assert_eq!(
            check(
                "self.metadata.name.startsWith('a') && self.kind == 'X'",
                &root,
                true
            ),
            ""
        );
        assert_eq!(
            check("'a' in self.metadata.labels", &root, true),
            "ERROR: <input>:1:21: undefined field 'labels'\n | 'a' in self.metadata.labels\n | ....................^"
        );
    }

    #[test]
    fn a_pattern_that_is_no_regular_expression_is_found() {
        let s = json!({"type": "object", "properties": {"val1": {"type": "string"}}});
        assert_eq!(
            check("self.val1.matches(')')", &s, false),
            "ERROR: <input>:1:19: invalid matches argument\n | self.val1.matches(')')\n | ..................^"
        );
    }
}
