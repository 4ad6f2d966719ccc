//! `apps/v1` Deployments (and the ReplicaSets their controller makes) as a
//! 1.32 server keeps them: `SetDefaults_Deployment`
//! (one replica, a rolling update of 25%/25%, ten revisions kept, a
//! 600-second progress deadline), `ValidateDeploymentSpec` with the pod
//! template's rules for a ReplicaSet's pods, the apps/v1 strategy's
//! immutable selector, and the status strategy's counters. The controllers
//! that act on them are in `deployment_controller.rs`.

use serde_json::{Value, json};

use super::admission::immutable_field;
use super::pod;
use super::selector::LabelSelector;
use super::validation::{self, FieldError};

const NEGATIVE: &str = "must be greater than or equal to 0";

/// `SetDefaults_Deployment`, then the pod template's defaults.
pub fn defaults(deployment: &mut Value) {
    let Some(spec) = deployment.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for (field, value) in [
        ("replicas", 1),
        ("revisionHistoryLimit", 10),
        ("progressDeadlineSeconds", 600),
    ] {
        if spec.get(field).is_none_or(Value::is_null) {
            spec.insert(field.into(), json!(value));
        }
    }
    let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
    if let Some(strategy) = strategy.as_object_mut() {
        if pod::unset(strategy.get("type")) {
            strategy.insert("type".into(), json!("RollingUpdate"));
        }
        if strategy.get("type") == Some(&json!("RollingUpdate")) {
            let rolling = strategy.entry("rollingUpdate").or_insert_with(|| json!({}));
            if let Some(rolling) = rolling.as_object_mut() {
                for field in ["maxUnavailable", "maxSurge"] {
                    if rolling.get(field).is_none_or(Value::is_null) {
                        rolling.insert(field.into(), json!("25%"));
                    }
                }
            }
        }
    }
    if let Some(template) = spec.get_mut("template") {
        pod::default_template(template);
    }
}

/// `ValidateDeploymentSpec`: replicas, the selector and the template it
/// must select, the strategy, and the counters' bounds.
pub fn validate(deployment: &Value) -> Vec<FieldError> {
    let spec = &deployment["spec"];
    let mut errs = non_negative(spec, &["replicas"]);
    errs.extend(selected_template(spec));
    errs.extend(strategy(&spec["strategy"]));
    errs.extend(non_negative(
        spec,
        &["minReadySeconds", "revisionHistoryLimit"],
    ));
    if let Some(deadline) = spec["progressDeadlineSeconds"].as_i64() {
        if deadline < 0 {
            errs.push(FieldError::invalid(
                "spec.progressDeadlineSeconds",
                deadline,
                NEGATIVE,
            ));
        }
        if deadline <= spec["minReadySeconds"].as_i64().unwrap_or(0) {
            errs.push(FieldError::invalid(
                "spec.progressDeadlineSeconds",
                deadline,
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

/// `ValidateReplicaSetSpec`: replicas, ready seconds, and the selector and
/// the template it must select, as for a Deployment (whose message, "for
/// deployment", a ReplicaSet's empty selector shares on a real server).
pub fn validate_replica_set(rs: &Value) -> Vec<FieldError> {
    let spec = &rs["spec"];
    let mut errs = non_negative(spec, &["replicas", "minReadySeconds"]);
    errs.extend(selected_template(spec));
    errs
}

/// `SetDefaults_ReplicaSet`: one replica; then the pod template's defaults.
pub fn replica_set_defaults(rs: &mut Value) {
    let Some(spec) = rs.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if spec.get("replicas").is_none_or(Value::is_null) {
        spec.insert("replicas".into(), json!(1));
    }
    if let Some(template) = spec.get_mut("template") {
        pod::default_template(template);
    }
}

/// The selector and the template of a ReplicaSet's pods
/// (`ValidatePodTemplateSpecForReplicaSet` and the selector's checks).
fn selected_template(spec: &Value) -> Vec<FieldError> {
    let mut errs = vec![];
    let selector = &spec["selector"];
    if selector.is_null() {
        errs.push(FieldError::required("spec.selector", ""));
    } else {
        errs.extend(validation::label_selector(selector, "spec.selector"));
        let terms = |key: &str| {
            selector[key].as_object().map_or(0, |m| m.len())
                + selector[key].as_array().map_or(0, Vec::len)
        };
        if terms("matchLabels") + terms("matchExpressions") == 0 {
            let mut e = FieldError::invalid(
                "spec.selector",
                selector.clone(),
                "empty selector is invalid for deployment",
            );
            e.shown = Some(go_label_selector(selector));
            errs.push(e);
        }
    }
    let template = &spec["template"];
    // No selector selects nothing (`labels.Nothing()`), so its template
    // is not selected either.
    let parsed = if selector.is_null() {
        Some(None)
    } else {
        LabelSelector::from_object(selector).map(Some)
    };
    match parsed {
        None => {
            let mut e =
                FieldError::invalid("spec.selector", selector.clone(), "invalid label selector");
            e.shown = Some(go_label_selector(selector));
            errs.push(e);
        }
        Some(parsed) => {
            let labels = &template["metadata"]["labels"];
            let selected = match &parsed {
                None => false,
                Some(s) => s.is_empty() || s.matches_labels(labels),
            };
            if !selected {
                let mut e = FieldError::invalid(
                    "spec.template.metadata.labels",
                    labels.clone(),
                    "`selector` does not match template `labels`",
                );
                e.shown = Some(validation::go_string_map(labels));
                errs.push(e);
            }
            errs.extend(validation::labels(
                &template["metadata"]["labels"],
                "spec.template.labels",
            ));
            errs.extend(pod::validate_template_spec(
                &template["spec"],
                "spec.template.spec",
            ));
            // The pod's own rules allow OnFailure and Never; a ReplicaSet's
            // pods always restart.
            if let Some(restart) = template["spec"]["restartPolicy"]
                .as_str()
                .filter(|r| *r != "Always")
            {
                errs.push(FieldError::not_supported(
                    "spec.template.spec.restartPolicy",
                    restart,
                    &["Always"],
                ));
            }
            if !template["spec"]["activeDeadlineSeconds"].is_null() {
                errs.push(FieldError::forbidden(
                    "spec.template.spec.activeDeadlineSeconds",
                    "activeDeadlineSeconds in ReplicaSet is not Supported",
                ));
            }
        }
    }
    errs
}

/// `ValidateNonnegativeField` for each of `fields` that is set.
fn non_negative(spec: &Value, fields: &[&str]) -> Vec<FieldError> {
    fields
        .iter()
        .filter_map(|field| {
            let n = spec[*field].as_i64().filter(|n| *n < 0)?;
            Some(FieldError::invalid(format!("spec.{field}"), n, NEGATIVE))
        })
        .collect()
}

/// `ValidateDeploymentStrategy` and `ValidateRollingUpdateDeployment`.
fn strategy(strategy: &Value) -> Vec<FieldError> {
    let mut errs = vec![];
    let rolling = &strategy["rollingUpdate"];
    match strategy["type"].as_str().unwrap_or_default() {
        "Recreate" => {
            if !rolling.is_null() {
                errs.push(FieldError::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" if rolling.is_null() => errs.push(FieldError::required(
            "spec.strategy.rollingUpdate",
            "this should be defaulted and never be nil",
        )),
        "RollingUpdate" => {
            let unavailable = &rolling["maxUnavailable"];
            let surge = &rolling["maxSurge"];
            let at = |field: &str| format!("spec.strategy.rollingUpdate.{field}");
            errs.extend(positive_int_or_percent(unavailable, &at("maxUnavailable")));
            errs.extend(positive_int_or_percent(surge, &at("maxSurge")));
            if int_or_percent_value(unavailable) == 0 && int_or_percent_value(surge) == 0 {
                let mut e = FieldError::invalid(
                    at("maxUnavailable"),
                    unavailable.clone(),
                    "may not be 0 when `maxSurge` is 0",
                );
                e.shown = Some(go_int_or_string(unavailable));
                errs.push(e);
            }
            if percent(unavailable).is_some_and(|p| p > 100) {
                let mut e = FieldError::invalid(
                    at("maxUnavailable"),
                    unavailable.clone(),
                    "must not be greater than 100%",
                );
                e.shown = Some(go_int_or_string(unavailable));
                errs.push(e);
            }
        }
        other => {
            let mut e =
                FieldError::not_supported("spec.strategy", other, &["Recreate", "RollingUpdate"]);
            if rolling.is_null() {
                e.shown = Some(format!(
                    "apps.DeploymentStrategy{{Type:{other:?}, RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}}"
                ));
            }
            errs.push(e);
        }
    }
    errs
}

/// `IsValidPercent`'s pattern: digits then `%`.
fn percent(value: &Value) -> Option<i64> {
    let digits = value.as_str()?.strip_suffix('%')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `getIntOrPercentValue`: a percentage's number, an integer, else 0.
fn int_or_percent_value(value: &Value) -> i64 {
    percent(value).or_else(|| value.as_i64()).unwrap_or(0)
}

/// `ValidatePositiveIntOrPercent`.
fn positive_int_or_percent(value: &Value, field: &str) -> Vec<FieldError> {
    let with_shown = |mut e: FieldError| {
        e.shown = Some(go_int_or_string(value));
        e
    };
    match value {
        Value::String(_) if percent(value).is_none() => vec![with_shown(FieldError::invalid(
            field,
            value.clone(),
            validation::regex_error(
                "a valid percent string must be a numeric string followed by an ending '%'",
                "[0-9]+%",
                &["1%", "93%"],
            ),
        ))],
        Value::String(_) | Value::Null => vec![],
        _ => match value.as_i64() {
            Some(n) if n < 0 => vec![FieldError::invalid(field, n, NEGATIVE)],
            _ => vec![],
        },
    }
}

/// An `intstr.IntOrString` as Go's `%#v` prints it (its `String()` has a
/// pointer receiver, so a value is printed as a struct).
fn go_int_or_string(value: &Value) -> String {
    match value {
        Value::String(s) => format!("intstr.IntOrString{{Type:1, IntVal:0, StrVal:{s:?}}}"),
        other => format!(
            "intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}",
            other.as_i64().unwrap_or(0)
        ),
    }
}

/// A `*metav1.LabelSelector` as Go's `%#v` prints the struct it points to.
fn go_label_selector(selector: &Value) -> String {
    let expressions = match selector["matchExpressions"].as_array() {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(list) => {
            let shown: Vec<String> = list
                .iter()
                .map(|e| {
                    let values = match e["values"].as_array() {
                        None => "[]string(nil)".to_string(),
                        Some(_) => {
                            let quoted: Vec<String> = validation::strings(&e["values"])
                                .iter()
                                .map(|v| format!("{v:?}"))
                                .collect();
                            format!("[]string{{{}}}", quoted.join(", "))
                        }
                    };
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{:?}, Operator:{:?}, Values:{values}}}",
                        e["key"].as_str().unwrap_or_default(),
                        e["operator"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", shown.join(", "))
        }
    };
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{expressions}}}",
        validation::go_string_map(&selector["matchLabels"])
    )
}

/// The apps/v1 strategy's `ValidateUpdate`: the selector is fixed once the
/// Deployment exists; the spec is otherwise validated as on create.
pub fn validate_update(next: &Value, current: &Value) -> Vec<FieldError> {
    immutable_field(next, current, "/spec/selector", "spec.selector")
        .into_iter()
        .collect()
}

/// The status counters' rules both kinds share: none negative, none of
/// `bounded` above `status.replicas`, no more available than ready.
fn status_counters(status: &Value, counters: &[&str], bounded: &[&str]) -> Vec<FieldError> {
    let count = |field: &str| status[field].as_i64().unwrap_or(0);
    let mut errs = vec![];
    for field in counters {
        if let Some(n) = status[*field].as_i64().filter(|n| *n < 0) {
            errs.push(FieldError::invalid(format!("status.{field}"), n, NEGATIVE));
        }
    }
    for field in bounded {
        if count(field) > count("replicas") {
            errs.push(FieldError::invalid(
                format!("status.{field}"),
                count(field),
                "cannot be greater than status.replicas",
            ));
        }
    }
    if count("availableReplicas") > count("readyReplicas") {
        errs.push(FieldError::invalid(
            "status.availableReplicas",
            count("availableReplicas"),
            "cannot be greater than readyReplicas",
        ));
    }
    errs
}

/// `ValidateReplicaSetStatus`.
pub fn validate_replica_set_status(next: &Value) -> Vec<FieldError> {
    status_counters(
        &next["status"],
        &[
            "replicas",
            "fullyLabeledReplicas",
            "readyReplicas",
            "availableReplicas",
            "observedGeneration",
        ],
        &["fullyLabeledReplicas", "readyReplicas", "availableReplicas"],
    )
}

/// `ValidateDeploymentStatus`, and a collision count never decremented.
pub fn validate_status_update(next: &Value, current: &Value) -> Vec<FieldError> {
    let mut errs = status_counters(
        &next["status"],
        &[
            "observedGeneration",
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
            "collisionCount",
        ],
        &["updatedReplicas", "readyReplicas", "availableReplicas"],
    );
    let collisions = |o: &Value| o.pointer("/status/collisionCount").and_then(Value::as_i64);
    if let Some(before) = collisions(current)
        && collisions(next).is_none_or(|now| now < before)
    {
        errs.push(FieldError::invalid(
            "status.collisionCount",
            collisions(next).unwrap_or(0),
            "cannot be decremented",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(spec: Value) -> Value {
        let mut d = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec});
        defaults(&mut d);
        d
    }

    fn template(labels: Value) -> Value {
        json!({"metadata": {"labels": labels}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}})
    }

    #[test]
    fn defaults_are_set_defaults_deployment() {
        let d = deployment(
            json!({"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"}))}),
        );
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
        assert!(validate(&d).is_empty(), "{:?}", validate(&d));
        let recreate = deployment(
            json!({"selector": {"matchLabels": {"app": "web"}}, "strategy": {"type": "Recreate"}, "template": template(json!({"app": "web"}))}),
        );
        assert_eq!(recreate["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn a_selector_that_misses_its_template_is_refused_as_validate_deployment_spec_words_it() {
        let d = deployment(
            json!({"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "api", "tier": "x"}))}),
        );
        let errs = validate(&d);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].field, "spec.template.metadata.labels");
        assert_eq!(
            errs[0].body(),
            "Invalid value: map[string]string{\"app\":\"api\", \"tier\":\"x\"}: `selector` does not match template `labels`"
        );
        let empty =
            deployment(json!({"selector": {}, "template": template(json!({"app": "web"}))}));
        assert_eq!(
            validate(&empty)[0].body(),
            "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
        );
        // No selector selects nothing: the template is not selected either.
        let missing = deployment(json!({"template": template(json!({"app": "web"}))}));
        let fields: Vec<String> = validate(&missing)
            .iter()
            .map(|e| format!("{}: {}", e.field, e.body()))
            .collect();
        assert_eq!(
            fields,
            [
                "spec.selector: Required value",
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`"
            ]
        );
    }

    #[test]
    fn strategy_and_template_rules() {
        let mut d = deployment(json!({
            "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
            "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}},
            "minReadySeconds": 700,
            "template": template(json!({"app": "web"})),
        }));
        d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        let bodies: Vec<String> = validate(&d)
            .iter()
            .map(|e| format!("{}: {}", e.field, e.body()))
            .collect();
        assert_eq!(
            bodies,
            [
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0",
                "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds",
            ]
        );
        let bad_percent = deployment(json!({
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"rollingUpdate": {"maxSurge": "ten%"}},
            "template": template(json!({"app": "web"})),
        }));
        assert!(
            validate(&bad_percent)[0]
                .body()
                .starts_with("Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"ten%\"}: a valid percent string")
        );
    }

    #[test]
    fn the_selector_is_immutable_and_status_counters_are_bounded() {
        let before = deployment(
            json!({"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"}))}),
        );
        let mut after = before.clone();
        after["spec"]["selector"] = json!({"matchLabels": {"app": "web", "v": "2"}});
        assert_eq!(
            validate_update(&after, &before)[0]
                .body()
                .split(": ")
                .last(),
            Some("field is immutable")
        );
        let mut status = before.clone();
        status["status"] = json!({"replicas": 1, "readyReplicas": 2, "availableReplicas": 2});
        let fields: Vec<String> = validate_status_update(&status, &before)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["status.readyReplicas", "status.availableReplicas"]);
    }
}
