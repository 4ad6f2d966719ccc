//! Label selectors (equality- and set-based, comma-joined requirements are
//! ANDed) and field selectors (`metadata.name`, `metadata.namespace` and the
//! fields each kind makes selectable: a CRD's `selectableFields`, core
//! Events' `involvedObject.*`, …).

use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelSelector(Vec<Requirement>);

/// Splits on commas that are not inside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (vec![], 0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn set(values: &str) -> Result<Vec<String>, String> {
    let inner = values
        .trim()
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .ok_or_else(|| format!("expected (a,b,...) in {values:?}"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    /// Selects everything: no requirement at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let mut reqs = vec![];
        for part in split_top_level(text) {
            let req = if let Some(key) = part.strip_prefix('!') {
                Requirement::NotExists(key.trim().into())
            } else if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==") {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once('=') {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once(" notin ") {
                Requirement::NotIn(k.trim().into(), set(v)?)
            } else if let Some((k, v)) = part.split_once(" in ") {
                Requirement::In(k.trim().into(), set(v)?)
            } else if part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                Requirement::Exists(part.into())
            } else {
                return Err(format!("unable to parse requirement {part:?}"));
            };
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    /// `metav1.LabelSelectorAsSelector`: a workload's `selector` object
    /// (`matchLabels` and `matchExpressions`, ANDed). None for an operator
    /// that is none of In, NotIn, Exists and DoesNotExist.
    pub fn from_object(selector: &Value) -> Option<Self> {
        let mut reqs: Vec<Requirement> = selector["matchLabels"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| Requirement::Equals(k.clone(), v.as_str().unwrap_or_default().into()))
            .collect();
        for e in selector["matchExpressions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let key = e["key"].as_str().unwrap_or_default().to_string();
            let values = super::validation::strings(&e["values"]);
            reqs.push(match e["operator"].as_str()? {
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::NotExists(key),
                _ => return None,
            });
        }
        Some(Self(reqs))
    }

    /// Whether a label map (an object's or a pod template's) satisfies
    /// every requirement.
    pub fn matches_labels(&self, labels: &Value) -> bool {
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        })
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.matches_labels(object.pointer("/metadata/labels").unwrap_or(&Value::Null))
    }
}

/// `labels.Selector.String()`: requirements sorted by key, `k=v`, `k!=v`,
/// `k in (a,b)`, `k notin (a,b)` (values sorted), `k`, `!k`.
impl std::fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sorted = |vs: &[String]| {
            let mut vs = vs.to_vec();
            vs.sort();
            vs.join(",")
        };
        let mut parts: Vec<(&str, String)> = self
            .0
            .iter()
            .map(|r| match r {
                Requirement::Equals(k, v) => (k.as_str(), format!("{k}={v}")),
                Requirement::NotEquals(k, v) => (k.as_str(), format!("{k}!={v}")),
                Requirement::In(k, vs) => (k.as_str(), format!("{k} in ({})", sorted(vs))),
                Requirement::NotIn(k, vs) => (k.as_str(), format!("{k} notin ({})", sorted(vs))),
                Requirement::Exists(k) => (k.as_str(), k.clone()),
                Requirement::NotExists(k) => (k.as_str(), format!("!{k}")),
            })
            .collect();
        parts.sort();
        let texts: Vec<String> = parts.into_iter().map(|(_, t)| t).collect();
        f.write_str(&texts.join(","))
    }
}

/// A field a kind can be selected by: the label clients use and the path
/// of the value in the object (they differ for core Events' `source`).
#[derive(Clone, Debug, PartialEq)]
pub struct SelectableField {
    pub label: String,
    pub path: String,
    /// The value a selector compares with when the object leaves the field
    /// out: a Go registry reads its typed zero value (Jobs' `status.successful`
    /// is "0" before any pod succeeded).
    pub absent: &'static str,
}

impl SelectableField {
    pub fn same(path: &str) -> Self {
        let path = path.trim_start_matches('.');
        Self {
            label: path.into(),
            path: path.into(),
            absent: "",
        }
    }

    pub fn aliased(label: &str, path: &str) -> Self {
        Self {
            label: label.into(),
            path: path.into(),
            absent: "",
        }
    }

    pub fn when_absent(self, absent: &'static str) -> Self {
        Self { absent, ..self }
    }
}

/// One requirement of a field selector.
#[derive(Clone, Debug, PartialEq)]
struct FieldRequirement {
    path: String,
    absent: &'static str,
    equal: bool,
    value: String,
}

/// Requirements, ANDed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSelector(Vec<FieldRequirement>);

impl FieldSelector {
    /// Selects everything: no requirement at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `allowed` are the kind's selectable fields beyond `metadata.name` and
    /// `metadata.namespace`, which every kind has.
    pub fn parse(text: &str, allowed: &[SelectableField]) -> Result<Self, String> {
        let mut reqs = vec![];
        for part in split_top_level(text) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                ));
            };
            let field = field.trim();
            let (path, absent) = match field {
                "metadata.name" | "metadata.namespace" => (field.to_string(), ""),
                _ => match allowed.iter().find(|a| a.label == field) {
                    Some(a) => (a.path.clone(), a.absent),
                    None => return Err(format!("field label not supported: {field}")),
                },
            };
            reqs.push(FieldRequirement {
                path,
                absent,
                equal,
                value: value.trim().to_string(),
            });
        }
        Ok(Self(reqs))
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|r| {
            let pointer = format!("/{}", r.path.replace('.', "/"));
            let actual = match object.pointer(&pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => r.absent.to_string(),
                Some(other) => other.to_string(),
            };
            (actual == r.value) == r.equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "x", "namespace": "default", "labels": labels}, "spec": {"version": "v1"}})
    }

    #[test]
    fn equality_and_set_requirements_are_anded() {
        let o = obj(json!({"a": "x", "b": "y"}));
        for (sel, want) in [
            ("a=x,b=y", true),
            ("a=x,b=z", false),
            ("a==x", true),
            ("a!=x", false),
            ("a in (x,z)", true),
            ("a notin (x)", false),
            ("c notin (x)", true),
            ("a", true),
            ("!c", true),
            ("!a", false),
            ("a in (x),b", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(&o),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("a in x").is_err());
    }

    #[test]
    fn field_selectors_check_known_fields() {
        let o = obj(json!({}));
        let allowed = vec![SelectableField::same(".spec.version")];
        assert!(
            FieldSelector::parse("spec.version=v1", &allowed)
                .unwrap()
                .matches(&o)
        );
        assert!(
            !FieldSelector::parse("spec.version!=v1", &allowed)
                .unwrap()
                .matches(&o)
        );
        assert!(
            FieldSelector::parse("metadata.name=x", &[])
                .unwrap()
                .matches(&o)
        );
        assert!(FieldSelector::parse("spec.other=v1", &allowed).is_err());
    }
}
