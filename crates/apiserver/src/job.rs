//! `batch/v1` Jobs as a 1.32 server treats them: `SetDefaults_Job`, the
//! strategy's generated selector, `ValidateJob` (spec and pod template),
//! what an update may not change, and the status strategy's checks of what
//! a Job controller writes (with `JobManagedBy`, on by default since 1.32:
//! a finished Job has a start time, a complete one a completion time, and
//! terminal conditions are never taken back).

use serde_json::{Value, json};

use super::admission::immutable_field;
use super::pod;
use super::validation::{self, FieldError};

/// `SetDefaults_Job`, then the pod template's defaults.
pub fn defaults(job: &mut Value) {
    let Some(spec) = job.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let unset = |spec: &serde_json::Map<String, Value>, key: &str| pod::unset(spec.get(key));
    if unset(spec, "completions") && unset(spec, "parallelism") {
        spec.insert("completions".into(), json!(1));
    }
    if unset(spec, "parallelism") {
        spec.insert("parallelism".into(), json!(1));
    }
    if unset(spec, "backoffLimit") {
        let limit = if unset(spec, "backoffLimitPerIndex") {
            6
        } else {
            i64::from(i32::MAX)
        };
        spec.insert("backoffLimit".into(), json!(limit));
    }
    if unset(spec, "completionMode") {
        spec.insert("completionMode".into(), json!("NonIndexed"));
    }
    if unset(spec, "suspend") {
        spec.insert("suspend".into(), json!(false));
    }
    let has_failure_policy = !unset(spec, "podFailurePolicy");
    for rule in spec
        .get_mut("podFailurePolicy")
        .and_then(|p| p.get_mut("rules"))
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for pattern in rule
            .get_mut("onPodConditions")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(p) = pattern.as_object_mut()
                && pod::unset(p.get("status"))
            {
                p.insert("status".into(), json!("True"));
            }
        }
    }
    if unset(spec, "podReplacementPolicy") {
        let policy = if has_failure_policy {
            "Failed"
        } else {
            "TerminatingOrFailed"
        };
        spec.insert("podReplacementPolicy".into(), json!(policy));
    }
    if let Some(template) = spec.get_mut("template") {
        pod::default_template(template);
    }
    // The pod template's labels become the Job's when it has none.
    let template_labels = job.pointer("/spec/template/metadata/labels").cloned();
    if let Some(labels) = template_labels.filter(Value::is_object)
        && job["metadata"]["labels"]
            .as_object()
            .is_none_or(|l| l.is_empty())
        && job["metadata"].is_object()
    {
        job["metadata"]["labels"] = labels;
    }
}

/// The Job strategy's `generateSelector`: unless `spec.manualSelector`, the
/// pod template is labelled with the Job's uid and name and the selector
/// matches the uid. The name label is why a Job's name is limited to 63
/// characters in practice: the label value would be longer.
pub fn generate_selector(job: &mut Value) {
    if job.pointer("/spec/manualSelector") == Some(&json!(true)) {
        return;
    }
    let uid = job["metadata"]["uid"].clone();
    let name = job["metadata"]["name"].clone();
    if !job["spec"]["template"]["metadata"].is_object() {
        job["spec"]["template"]["metadata"] = json!({});
    }
    let template = &mut job["spec"]["template"]["metadata"];
    if !template["labels"].is_object() {
        template["labels"] = json!({});
    }
    for (key, value) in [
        ("batch.kubernetes.io/controller-uid", &uid),
        ("batch.kubernetes.io/job-name", &name),
        ("controller-uid", &uid),
        ("job-name", &name),
    ] {
        template["labels"][key] = value.clone();
    }
    job["spec"]["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
}

const NEGATIVE: &str = "must be greater than or equal to 0";

/// `ValidateJobSpec` for what a Job can get wrong without indexes or a
/// success policy, and the pod template's rules.
pub fn validate(job: &Value) -> Vec<FieldError> {
    let spec = &job["spec"];
    let mut errs = validation::labels(
        &spec["template"]["metadata"]["labels"],
        "spec.template.labels",
    );
    for field in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ] {
        if let Some(n) = spec[field].as_i64().filter(|n| *n < 0) {
            errs.push(FieldError::invalid(format!("spec.{field}"), n, NEGATIVE));
        }
    }
    if let Some(mode) = spec["completionMode"]
        .as_str()
        .filter(|m| !["NonIndexed", "Indexed"].contains(m))
    {
        errs.push(FieldError::not_supported(
            "spec.completionMode",
            mode,
            &["NonIndexed", "Indexed"],
        ));
    }
    let failure_policy = !spec["podFailurePolicy"].is_null();
    if failure_policy {
        errs.extend(pod_failure_policy(&spec["podFailurePolicy"]));
    }
    if let Some(policy) = spec["podReplacementPolicy"].as_str() {
        if failure_policy && policy != "Failed" {
            errs.push(FieldError::not_supported(
                "spec.podReplacementPolicy",
                policy,
                &["Failed"],
            ));
        } else if !["Failed", "TerminatingOrFailed"].contains(&policy) {
            errs.push(FieldError::not_supported(
                "spec.podReplacementPolicy",
                policy,
                &["Failed", "TerminatingOrFailed"],
            ));
        }
    }
    errs.extend(pod::validate_template_spec(
        &spec["template"]["spec"],
        "spec.template.spec",
    ));
    // The pod's own check allows Always, which a Job does not.
    let restart = spec["template"]["spec"]["restartPolicy"]
        .as_str()
        .unwrap_or_default();
    let field = "spec.template.spec.restartPolicy";
    match restart {
        "Always" | "" => errs.push(FieldError::required(
            field,
            "valid values: \"OnFailure\", \"Never\"",
        )),
        "OnFailure" if failure_policy => errs.push(FieldError::invalid(
            field,
            restart,
            "only \"Never\" is supported when podFailurePolicy is specified",
        )),
        "OnFailure" | "Never" => {}
        other => {
            // Already reported as unsupported by the pod template's check;
            // a real server names it twice, with the Job's values.
            errs.push(FieldError::not_supported(
                field,
                other,
                &["OnFailure", "Never"],
            ));
        }
    }
    errs
}

/// `validatePodFailurePolicy` for rules on pod conditions and exit codes.
fn pod_failure_policy(policy: &Value) -> Vec<FieldError> {
    const ACTIONS: &[&str] = &["Count", "FailIndex", "FailJob", "Ignore"];
    const STATUSES: &[&str] = &["False", "True", "Unknown"];
    let mut errs = vec![];
    for (i, rule) in policy["rules"].as_array().into_iter().flatten().enumerate() {
        let at = format!("spec.podFailurePolicy.rules[{i}]");
        match rule["action"].as_str().unwrap_or_default() {
            "" => errs.push(FieldError::required(
                format!("{at}.action"),
                format!("valid values: {ACTIONS:?}"),
            )),
            "FailIndex" => errs.push(FieldError::invalid(
                format!("{at}.action"),
                "FailIndex",
                "requires the backoffLimitPerIndex to be set",
            )),
            a if ACTIONS.contains(&a) => {}
            other => errs.push(FieldError::not_supported(
                format!("{at}.action"),
                other,
                ACTIONS,
            )),
        }
        let conditions = rule["onPodConditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (j, pattern) in conditions.iter().enumerate() {
            let at = format!("{at}.onPodConditions[{j}]");
            let kind = pattern["type"].as_str().unwrap_or_default();
            for e in validation::qualified_name(kind) {
                errs.push(FieldError::invalid(format!("{at}.type"), kind, e));
            }
            match pattern["status"].as_str().unwrap_or_default() {
                "" => errs.push(FieldError::required(
                    format!("{at}.status"),
                    format!("valid values: {STATUSES:?}"),
                )),
                s if STATUSES.contains(&s) => {}
                other => errs.push(FieldError::not_supported(
                    format!("{at}.status"),
                    other,
                    STATUSES,
                )),
            }
        }
        let exit_codes = !rule["onExitCodes"].is_null();
        if exit_codes && !conditions.is_empty() {
            errs.push(FieldError::invalid_omit_value(
                at.clone(),
                "specifying both OnExitCodes and OnPodConditions is not supported",
            ));
        }
        if !exit_codes && conditions.is_empty() {
            errs.push(FieldError::invalid_omit_value(
                at,
                "specifying one of OnExitCodes and OnPodConditions is required",
            ));
        }
    }
    errs
}

/// A pod template that once ran may not change at all; a suspended Job that
/// never started may change its scheduling directives
/// (`AllowMutableSchedulingDirectives`). The rest of the shape is fixed.
pub fn validate_update(next: &Value, current: &Value) -> Vec<FieldError> {
    let mut errs = vec![];
    for field in [
        "completions",
        "selector",
        "completionMode",
        "podFailurePolicy",
        "backoffLimitPerIndex",
        "managedBy",
        "successPolicy",
        "podReplacementPolicy",
    ] {
        errs.extend(immutable_field(
            next,
            current,
            &format!("/spec/{field}"),
            &format!("spec.{field}"),
        ));
    }
    if scheduling_only(&current["spec"]["template"]) != scheduling_only(&next["spec"]["template"])
        || (!never_started(current) && current["spec"]["template"] != next["spec"]["template"])
    {
        errs.extend(immutable_field(
            next,
            current,
            "/spec/template",
            "spec.template",
        ));
    }
    errs
}

/// A suspended Job that never started.
fn never_started(job: &Value) -> bool {
    job.pointer("/spec/suspend") == Some(&json!(true))
        && job.pointer("/status/startTime").is_none_or(Value::is_null)
}

/// A pod template without the parts a never-started Job may change.
fn scheduling_only(template: &Value) -> Value {
    let mut rest = template.clone();
    if let Some(meta) = rest.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("labels");
        meta.remove("annotations");
    }
    if let Some(spec) = rest.get_mut("spec").and_then(Value::as_object_mut) {
        for field in ["nodeSelector", "tolerations", "affinity", "schedulingGates"] {
            spec.remove(field);
        }
    }
    rest
}

fn condition_true(job: &Value, kind: &str) -> bool {
    job.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| c.iter().any(|c| c["type"] == kind && c["status"] == "True"))
}

fn count(job: &Value, field: &str) -> i64 {
    job["status"][field].as_i64().unwrap_or(0)
}

fn time_of(job: &Value, field: &str) -> Option<i64> {
    job["status"][field]
        .as_str()
        .and_then(|t| kbind_model::time::parse_time(t).ok())
}

/// The status strategy's `ValidateUpdate` with the options `JobManagedBy`
/// gives it: each rule is checked when a field it reads changed, so a
/// controller may fix one thing at a time.
pub fn validate_status_update(next: &Value, current: &Value) -> Vec<FieldError> {
    let mut errs = vec![];
    let complete = |j: &Value| condition_true(j, "Complete");
    let failed = |j: &Value| condition_true(j, "Failed");
    let finished = |j: &Value| complete(j) || failed(j);
    let changed = |field: &str| next["status"][field] != current["status"][field];
    let finished_changed = finished(next) != finished(current);
    let complete_changed = complete(next) != complete(current);
    let failed_changed = failed(next) != failed(current);
    let target_changed =
        condition_true(next, "FailureTarget") != condition_true(current, "FailureTarget");
    let (start_changed, completion_changed) = (changed("startTime"), changed("completionTime"));
    let has = |field: &str| !next["status"][field].is_null();

    for field in ["active", "succeeded", "failed", "ready", "terminating"] {
        if let Some(n) = next["status"][field].as_i64().filter(|n| *n < 0) {
            errs.push(FieldError::invalid(format!("status.{field}"), n, NEGATIVE));
        }
    }
    let uncounted = &next["status"]["uncountedTerminatedPods"];
    let mut seen = std::collections::BTreeSet::new();
    for list in ["succeeded", "failed"] {
        for (i, uid) in uncounted[list].as_array().into_iter().flatten().enumerate() {
            let at = format!("status.uncountedTerminatedPods.{list}[{i}]");
            let uid = uid.as_str().unwrap_or_default();
            if uid.is_empty() {
                errs.push(FieldError::invalid(at, uid, "must not be empty"));
            } else if !seen.insert(uid.to_string()) {
                errs.push(FieldError::duplicate(at, uid));
            }
        }
    }
    let conditions = "status.conditions";
    if (complete_changed || failed_changed) && complete(next) && failed(next) {
        errs.push(FieldError::invalid_omit_value(
            conditions,
            "cannot set Complete=True and Failed=true conditions",
        ));
    }
    if (complete_changed || target_changed)
        && complete(next)
        && condition_true(next, "FailureTarget")
    {
        errs.push(FieldError::invalid_omit_value(
            conditions,
            "cannot set Complete=True and FailureTarget=true conditions",
        ));
    }
    if complete_changed || completion_changed {
        if has("completionTime") && !complete(next) {
            errs.push(FieldError::invalid(
                "status.completionTime",
                next["status"]["completionTime"].clone(),
                "cannot set completionTime when there is no Complete=True condition",
            ));
        }
        if !has("completionTime") && complete(next) {
            errs.push(FieldError::required(
                "status.completionTime",
                "completionTime is required for Complete jobs",
            ));
        }
    }
    if (start_changed || completion_changed)
        && let (Some(start), Some(end)) =
            (time_of(next, "startTime"), time_of(next, "completionTime"))
        && end < start
    {
        errs.push(FieldError::invalid(
            "status.completionTime",
            next["status"]["completionTime"].clone(),
            "completionTime cannot be set before startTime",
        ));
    }
    if (finished_changed || changed("active")) && count(next, "active") > 0 && finished(next) {
        errs.push(FieldError::invalid(
            "status.active",
            count(next, "active"),
            "active>0 is invalid for finished job",
        ));
    }
    if (finished_changed || start_changed) && !has("startTime") && finished(next) {
        errs.push(FieldError::required(
            "status.startTime",
            "startTime is required for finished job",
        ));
    }
    if (finished_changed || changed("uncountedTerminatedPods"))
        && finished(next)
        && ["succeeded", "failed"]
            .iter()
            .any(|l| uncounted[*l].as_array().is_some_and(|a| !a.is_empty()))
    {
        errs.push(FieldError::invalid(
            "status.uncountedTerminatedPods",
            uncounted.clone(),
            "uncountedTerminatedPods needs to be empty for finished job",
        ));
    }
    let criteria_met = condition_true(next, "SuccessCriteriaMet");
    if criteria_met && failed(next) {
        errs.push(FieldError::invalid_omit_value(
            conditions,
            "cannot set SuccessCriteriaMet=True and Failed=true conditions",
        ));
    }
    if criteria_met && condition_true(next, "FailureTarget") {
        errs.push(FieldError::invalid_omit_value(
            conditions,
            "cannot set SuccessCriteriaMet=True and FailureTarget=true conditions",
        ));
    }
    for kind in ["Failed", "Complete", "FailureTarget"] {
        if condition_true(current, kind) && !condition_true(next, kind) {
            errs.push(FieldError::invalid_omit_value(
                conditions,
                format!("cannot disable the terminal {kind}=True condition"),
            ));
        }
    }
    for (field, what) in [("failed", "failed"), ("succeeded", "succeeded")] {
        if count(next, field) < count(current, field) {
            errs.push(FieldError::invalid(
                format!("status.{field}"),
                count(next, field),
                format!("cannot decrease the {what} counter"),
            ));
        }
    }
    if has("completionTime")
        && !current["status"]["completionTime"].is_null()
        && time_of(current, "completionTime") != time_of(next, "completionTime")
    {
        errs.push(FieldError::invalid(
            "status.completionTime",
            next["status"]["completionTime"].clone(),
            "field is immutable",
        ));
    }
    if start_changed
        && !current["status"]["startTime"].is_null()
        && next.pointer("/spec/suspend") != Some(&json!(true))
    {
        errs.push(FieldError::required(
            "status.startTime",
            "startTime cannot be removed for unsuspended job",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(status: Value) -> Value {
        json!({"spec": {"suspend": false}, "status": status})
    }

    fn refused(current: Value, next: Value) -> Vec<String> {
        validate_status_update(&job(next), &job(current))
            .iter()
            .map(|e| format!("{}: {}", e.field, e.body()))
            .collect()
    }

    #[test]
    fn what_the_job_controller_writes_is_accepted() {
        let t0 = "2026-12-05T10:00:00Z";
        let t1 = "2026-12-05T10:00:05Z";
        let running = json!({"startTime": t0, "active": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}});
        assert!(refused(json!({}), running.clone()).is_empty());
        let done = json!({"startTime": t0, "completionTime": t1, "succeeded": 1, "ready": 0, "terminating": 0,
            "uncountedTerminatedPods": {}, "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached"},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached"}]});
        assert!(refused(running.clone(), done).is_empty());
        let failed = json!({"startTime": t0, "failed": 1, "ready": 0, "terminating": 0,
            "uncountedTerminatedPods": {}, "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]});
        assert!(refused(running, failed).is_empty());
    }

    #[test]
    fn what_a_real_server_refuses_in_a_jobs_status() {
        let complete = json!([{"type": "Complete", "status": "True"}]);
        assert_eq!(
            refused(json!({}), json!({"succeeded": 1, "conditions": complete})),
            [
                "status.completionTime: Required value: completionTime is required for Complete jobs",
                "status.startTime: Required value: startTime is required for finished job",
            ],
            "the status kbind's simulated runner used to write"
        );
        let t0 = "2026-12-05T10:00:00Z";
        assert_eq!(
            refused(
                json!({"startTime": t0, "failed": 1, "conditions": [{"type": "Failed", "status": "True"}]}),
                json!({"startTime": t0, "failed": 0, "active": 1})
            ),
            [
                "status.conditions: Invalid value: cannot disable the terminal Failed=True condition",
                "status.failed: Invalid value: 0: cannot decrease the failed counter",
            ]
        );
        assert_eq!(
            refused(
                json!({"startTime": t0}),
                json!({"startTime": t0, "completionTime": "2026-12-05T09:00:00Z", "conditions": complete})
            ),
            [
                "status.completionTime: Invalid value: \"2026-12-05T09:00:00Z\": completionTime cannot be set before startTime"
            ]
        );
    }

    #[test]
    fn defaults_and_spec_rules_are_a_real_servers() {
        let mut j = json!({"metadata": {"name": "j"}, "spec": {"backoffLimit": 0,
            "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]},
            "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"restartPolicy": "Never", "containers": [{"name": "a", "image": "x:1"}]}}}});
        defaults(&mut j);
        assert_eq!(j["spec"]["completions"], 1);
        assert_eq!(j["spec"]["parallelism"], 1);
        assert_eq!(j["spec"]["backoffLimit"], 0, "kept");
        assert_eq!(j["spec"]["completionMode"], "NonIndexed");
        assert_eq!(j["spec"]["suspend"], false);
        assert_eq!(j["spec"]["podReplacementPolicy"], "Failed");
        assert_eq!(
            j["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"],
            "True"
        );
        assert_eq!(j["metadata"]["labels"], json!({"app": "x"}));
        assert!(validate(&j).is_empty(), "{:?}", validate(&j));

        let mut bad = json!({"metadata": {"name": "j"}, "spec": {"activeDeadlineSeconds": -1,
            "podFailurePolicy": {"rules": [{"action": "Retry"}]},
            "template": {"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "a", "image": "x"}]}}}});
        defaults(&mut bad);
        let errs: Vec<String> = validate(&bad)
            .iter()
            .map(|e| format!("{}: {}", e.field, e.body()))
            .collect();
        assert_eq!(
            errs,
            [
                "spec.activeDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0",
                "spec.podFailurePolicy.rules[0].action: Unsupported value: \"Retry\": supported values: \"Count\", \"FailIndex\", \"FailJob\", \"Ignore\"",
                "spec.podFailurePolicy.rules[0]: Invalid value: specifying one of OnExitCodes and OnPodConditions is required",
                "spec.template.spec.restartPolicy: Invalid value: \"OnFailure\": only \"Never\" is supported when podFailurePolicy is specified",
            ]
        );
    }
}
