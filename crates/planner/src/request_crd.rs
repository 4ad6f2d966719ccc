//! The CRD of a promise's requests as Kratix installs it
//! (`generateCRDAndGVK` and `setStatusFieldsOnCRD` in Kratix's promise
//! controller): the promise's `spec.api`, labelled with the promise's name,
//! every version given the status subresource, a `status` schema that keeps
//! whatever the pipelines write, and printer columns when it declares none.
//! Promises declare none of this themselves, so without it a real server
//! has no `/status` for requests and prunes the status kbind writes.

use serde_json::{Value, json};

use kbind_model::api::labels;

use kbind_model::crd_conditions::{NAMES_ACCEPTED, condition};
pub use kbind_model::crd_conditions::{established, served};

/// Why the server will not serve the CRD's kind, when its naming
/// controller said so (`NamesAccepted` False: another CRD of the group has
/// one of its names): the condition's reason and message.
pub fn names_refused(crd: &Value) -> Option<(String, String)> {
    let c = condition(crd, NAMES_ACCEPTED).filter(|c| c["status"] == "False")?;
    Some((
        c["reason"].as_str().unwrap_or_default().to_string(),
        c["message"].as_str().unwrap_or_default().to_string(),
    ))
}

/// `spec.api` of `promise` made into the CRD to install.
pub fn request_crd(promise_name: &str, api: &Value) -> Value {
    let mut crd = api.clone();
    crd["apiVersion"] = json!("apiextensions.k8s.io/v1");
    crd["kind"] = json!("CustomResourceDefinition");
    if !crd["metadata"]["labels"].is_object() {
        crd["metadata"]["labels"] = json!({});
    }
    crd["metadata"]["labels"][labels::PROMISE_NAME] =
        json!(kbind_model::naming::label_value(promise_name));
    for version in crd["spec"]["versions"].as_array_mut().into_iter().flatten() {
        version["subresources"] = json!({"status": {}});
        if version["additionalPrinterColumns"]
            .as_array()
            .is_none_or(Vec::is_empty)
        {
            version["additionalPrinterColumns"] = json!([
                {"name": "message", "type": "string", "jsonPath": ".status.message"},
                {"name": "status", "type": "string",
                 "jsonPath": ".status.conditions[?(@.type==\"Reconciled\")].message"},
            ]);
        }
        // A version without a schema is left without one: a real server
        // refuses such a CRD, and the refusal is the promise author's to see.
        if let Some(schema) = version
            .pointer_mut("/schema/openAPIV3Schema")
            .filter(|s| s.is_object())
        {
            if !schema["properties"].is_object() {
                schema["properties"] = json!({});
            }
            schema["properties"]["status"] = status_schema();
        }
    }
    crd
}

fn status_schema() -> Value {
    let int64 = json!({"type": "integer", "format": "int64"});
    let string = json!({"type": "string"});
    json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "message": string,
            "observedGeneration": int64,
            "workflows": int64,
            "workflowsSucceeded": int64,
            "workflowsFailed": int64,
            "conditions": {"type": "array", "items": {"type": "object", "properties": {
                "lastTransitionTime": {"type": "string", "format": "datetime"},
                "message": string, "reason": string, "status": string, "type": string,
            }}},
            "kratix": {"type": "object", "properties": {"workflows": {"type": "object", "properties": {
                "lastSuccessfulConfigureWorkflowTime": string,
                "pipelines": {"type": "array", "items": {"type": "object", "properties": {
                    "name": string, "phase": string, "message": string,
                    "lastTransitionTime": {"type": "string", "format": "datetime"},
                }}},
                "suspendedGeneration": int64,
            }}}},
        },
    })
}

/// True if `installed` has everything `wanted` sets (what the server adds,
/// its defaults and status, and fields others set are left alone); lists
/// must match item for item.
pub fn holds(installed: &Value, wanted: &Value) -> bool {
    match (installed, wanted) {
        (Value::Object(have), Value::Object(want)) => want
            .iter()
            .all(|(k, w)| have.get(k).is_some_and(|h| holds(h, w))),
        (Value::Array(have), Value::Array(want)) => {
            have.len() == want.len() && have.iter().zip(want).all(|(h, w)| holds(h, w))
        }
        (have, want) => have == want,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_gets_the_status_subresource_schema_columns_and_the_promise_label() {
        let api = json!({"metadata": {"name": "redis.marketplace.kratix.io"},
            "spec": {"group": "marketplace.kratix.io", "versions": [
                {"name": "v1", "served": true, "storage": true,
                 "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object"}}}}},
                {"name": "v2", "served": true, "storage": false,
                 "additionalPrinterColumns": [{"name": "size", "type": "string", "jsonPath": ".spec.size"}],
                 "schema": {"openAPIV3Schema": {"type": "object"}}}]}});
        let crd = request_crd("redis", &api);
        assert_eq!(crd["metadata"]["labels"]["kratix.io/promise-name"], "redis");
        for v in crd["spec"]["versions"].as_array().unwrap() {
            assert_eq!(v["subresources"], json!({"status": {}}));
            let status = &v["schema"]["openAPIV3Schema"]["properties"]["status"];
            assert_eq!(status["x-kubernetes-preserve-unknown-fields"], true);
        }
        assert_eq!(
            crd["spec"]["versions"][0]["additionalPrinterColumns"][0]["name"],
            "message"
        );
        assert_eq!(
            crd["spec"]["versions"][1]["additionalPrinterColumns"][0]["name"], "size",
            "declared columns are kept"
        );
        assert!(
            crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
                .is_object()
        );
    }
}
