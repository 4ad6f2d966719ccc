//! "Contains" matching of JSON values, used by policy test expectations and
//! scenario `expect` steps: every field of the expectation must be present
//! with a matching value; a list matches if each expected item matches some
//! actual item (so one condition can be checked among several).

use serde_json::Value;

/// `Ok` if `actual` contains `expected`; otherwise where and how it differs.
pub fn contains(expected: &Value, actual: &Value) -> Result<(), String> {
    check(expected, actual, "")
}

fn check(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    let at = |p: &str| {
        if p.is_empty() {
            "(root)".to_string()
        } else {
            p.to_string()
        }
    };
    match (expected, actual) {
        (Value::Object(exp), Value::Object(act)) => {
            for (key, want) in exp {
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match act.get(key) {
                    Some(got) => check(want, got, &sub)?,
                    None if want.is_null() => {}
                    None => {
                        return Err(format!("{sub}: expected {}, but it is absent", brief(want)));
                    }
                }
            }
            Ok(())
        }
        (Value::Array(exp), Value::Array(act)) => {
            for (i, want) in exp.iter().enumerate() {
                if !act.iter().any(|got| check(want, got, "").is_ok()) {
                    return Err(format!(
                        "{}: no item matches expected item {i} {} (actual: {})",
                        at(path),
                        brief(want),
                        brief(actual)
                    ));
                }
            }
            Ok(())
        }
        (want, got) if scalar_eq(want, got) => Ok(()),
        (want, got) => Err(format!(
            "{}: expected {}, got {}",
            at(path),
            brief(want),
            brief(got)
        )),
    }
}

/// Numbers compare by value (`1` == `1.0`); YAML scalars such as `"true"`
/// written unquoted arrive as booleans and are compared as written.
fn scalar_eq(want: &Value, got: &Value) -> bool {
    let is_scalar = |v: &Value| !v.is_string() && !v.is_object() && !v.is_array();
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::String(text), other) | (other, Value::String(text)) if is_scalar(other) => {
            text.as_str() == other.to_string().as_str()
        }
        (a, b) => a == b,
    }
}

fn brief(v: &Value) -> String {
    let text = v.to_string();
    if text.len() > 200 {
        format!(
            "{}…",
            &text[..text.char_indices().nth(200).map_or(text.len(), |(i, _)| i)]
        )
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_match_as_subsets() {
        let actual = json!({"spec": {"version": "v1", "x": 1}, "status": {"a": "b"}});
        assert!(contains(&json!({"spec": {"version": "v1"}}), &actual).is_ok());
        let err = contains(&json!({"spec": {"version": "v2"}}), &actual).unwrap_err();
        assert!(
            err.contains("spec.version") && err.contains("\"v2\"") && err.contains("\"v1\""),
            "{err}"
        );
        let err = contains(&json!({"status": {"missing": 1}}), &actual).unwrap_err();
        assert!(err.contains("status.missing"), "{err}");
    }

    #[test]
    fn list_items_match_any_actual_item() {
        let actual = json!({"conditions": [{"type": "A", "status": "True"}, {"type": "B", "status": "False"}]});
        assert!(
            contains(
                &json!({"conditions": [{"type": "B", "status": "False"}]}),
                &actual
            )
            .is_ok()
        );
        assert!(
            contains(
                &json!({"conditions": [{"type": "B", "status": "True"}]}),
                &actual
            )
            .is_err()
        );
    }

    #[test]
    fn scalars_written_unquoted_in_yaml_still_match_strings() {
        assert!(contains(&json!({"latest": "true"}), &json!({"latest": true})).is_ok());
        assert!(contains(&json!({"n": 1}), &json!({"n": 1.0})).is_ok());
        assert!(contains(&json!({"n": 2}), &json!({"n": 1})).is_err());
    }

    #[test]
    fn null_expects_absence_or_null() {
        assert!(contains(&json!({"failedVersion": null}), &json!({})).is_ok());
        assert!(
            contains(
                &json!({"failedVersion": null}),
                &json!({"failedVersion": "v1"})
            )
            .is_err()
        );
    }
}
