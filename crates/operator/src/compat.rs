//! Coexistence with CRDs kbind did not install: Kratix's own
//! `platform.kratix.io` CRDs have no place for what kbind records
//! (`inFlightVersion`, `failedVersions`, `workflowHash` …), and a real
//! server prunes what a schema does not hold. An upgrade trigger that
//! cannot store its in-flight version fires on every reconcile, so the
//! operator checks at start and does not run half-blind.

use std::time::Duration;

use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use super::metrics::Metrics;

/// How often an incompatible cluster is checked again.
const RECHECK: Duration = Duration::from_secs(5);

/// What is wrong with one of the installed CRDs.
#[derive(Debug, PartialEq)]
pub struct Gap {
    pub crd: String,
    pub problems: Vec<String>,
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.crd, self.problems.join("; "))
    }
}

/// The schema paths `wanted` declares that `installed` would prune.
fn pruned(installed: &Value, wanted: &Value, path: &str, out: &mut Vec<String>) {
    if installed.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    if let Some(properties) = wanted.get("properties").and_then(Value::as_object) {
        for (name, schema) in properties {
            let field = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            match installed.get("properties").and_then(|p| p.get(name)) {
                Some(have) => pruned(have, schema, &field, out),
                None => out.push(field),
            }
        }
    }
    for nested in ["items", "additionalProperties"] {
        if let (Some(have), Some(want)) = (installed.get(nested), wanted.get(nested))
            && want.is_object()
        {
            pruned(have, want, &format!("{path}[*]"), out);
        }
    }
}

fn version<'a>(crd: &'a Value, name: &str) -> Option<&'a Value> {
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(name))
}

/// What `installed` lacks of `wanted` (kbind's own definition of the CRD):
/// the served version, the status subresource, the fields kbind writes.
pub fn gaps(installed: &Value, wanted: &Value) -> Vec<String> {
    let mut problems = vec![];
    let Some(wanted_version) = wanted.pointer("/spec/versions/0").filter(|v| v.is_object()) else {
        return problems;
    };
    let name = wanted_version["name"].as_str().unwrap_or_default();
    let Some(have) = version(installed, name).filter(|v| v["served"] == Value::Bool(true)) else {
        problems.push(format!("version {name} is not served"));
        return problems;
    };
    if !have
        .pointer("/subresources/status")
        .is_some_and(Value::is_object)
    {
        problems.push("no status subresource".into());
    }
    let mut fields = vec![];
    pruned(
        have.pointer("/schema/openAPIV3Schema")
            .unwrap_or(&Value::Null),
        wanted_version
            .pointer("/schema/openAPIV3Schema")
            .unwrap_or(&Value::Null),
        "",
        &mut fields,
    );
    if !fields.is_empty() {
        problems.push(format!("its schema would prune {}", fields.join(", ")));
    }
    problems
}

fn crd_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        "customresourcedefinitions",
    )
}

/// Every kbind CRD on the cluster that cannot hold what kbind writes (a
/// missing one is left to the watches, which say how to install it).
pub async fn check(client: &Client) -> Result<Vec<Gap>, kube::Error> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &crd_resource());
    let mut found = vec![];
    for wanted in kbind_model::api::crds() {
        let wanted = serde_json::to_value(&wanted).unwrap_or(Value::Null);
        let name = wanted
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let Some(installed) = api.get_opt(&name).await? else {
            continue;
        };
        let installed = serde_json::to_value(&installed).unwrap_or(Value::Null);
        let problems = gaps(&installed, &wanted);
        if !problems.is_empty() {
            found.push(Gap {
                crd: name,
                problems,
            });
        }
    }
    Ok(found)
}

/// Returns once the installed kbind CRDs hold what kbind writes; until
/// then, says what is missing and how to fix it, and stays unready.
pub async fn wait_until_compatible(client: &Client, metrics: &Metrics) {
    let mut reported = String::new();
    loop {
        match check(client).await {
            Ok(gaps) if gaps.is_empty() => return,
            Ok(gaps) => {
                metrics.set_ready(false);
                let text = gaps
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n  ");
                if text != reported {
                    tracing::error!(
                        "the platform.kratix.io CRDs on this cluster cannot hold what kbind writes; not reconciling until they can. Install kbind's (a superset of Kratix's): `kbind crds | kubectl apply -f -`\n  {text}"
                    );
                    reported = text;
                }
            }
            Err(e) => {
                tracing::warn!(
                    "cannot read the installed kbind CRDs to check them: {}; retrying",
                    crate::api_error::Text(&e)
                )
            }
        }
        tokio::time::sleep(RECHECK).await;
    }
}

/// How long [`install_crds`] waits for the API server to establish a CRD.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);

/// Why kbind's CRDs could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallCrdsError {
    #[error("cannot create CRD {name}: {}", crate::api_error::Text(source))]
    Create { name: String, source: kube::Error },
    #[error("cannot follow CRD {name} until it is established: {source}")]
    Wait {
        name: String,
        source: kube::runtime::wait::Error,
    },
    #[error(
        "CRD {name} is not established after {}s; its NamesAccepted condition says why: kubectl get crd {name} -o jsonpath='{{.status.conditions}}'",
        ESTABLISH_TIMEOUT.as_secs()
    )]
    NotEstablished { name: String },
}

/// Installs kbind's CRDs through `client` and waits until the server has
/// established each (its kinds served and in discovery), as `kubectl wait
/// --for=condition=Established` does: a real server serves a new CRD's
/// kinds a moment after answering its create. One that already exists is
/// left as it is, so this is safe against a cluster that has them.
pub async fn install_crds(client: &kube::Client) -> Result<(), InstallCrdsError> {
    let api: kube::Api<
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    > = kube::Api::all(client.clone());
    let mut names = vec![];
    for crd in kbind_model::api::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        match api.create(&crate::post_params(), &crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(source) => return Err(InstallCrdsError::Create { name, source }),
        }
        names.push(name);
    }
    for name in names {
        let established = kube::runtime::wait::await_condition(
            api.clone(),
            &name,
            kube::runtime::wait::conditions::is_crd_established(),
        );
        match tokio::time::timeout(ESTABLISH_TIMEOUT, established).await {
            Ok(Ok(_)) => {}
            Ok(Err(source)) => return Err(InstallCrdsError::Wait { name, source }),
            Err(_) => return Err(InstallCrdsError::NotEstablished { name }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kbind_binding_crd() -> Value {
        kbind_model::api::crds()
            .into_iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .find(|c| c["spec"]["names"]["kind"] == "ResourceBinding")
            .unwrap()
    }

    #[test]
    fn kbinds_own_crds_hold_everything() {
        let crd = kbind_binding_crd();
        assert_eq!(gaps(&crd, &crd), Vec::<String>::new());
    }

    #[test]
    fn a_kratix_binding_crd_lacks_kbinds_status_fields() {
        let wanted = kbind_binding_crd();
        let mut kratix = wanted.clone();
        let status = &mut kratix["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
            ["status"]["properties"];
        for field in ["inFlightVersion", "failedVersions", "workflowHash"] {
            status.as_object_mut().unwrap().remove(field);
        }
        assert_eq!(
            gaps(&kratix, &wanted),
            [
                "its schema would prune status.failedVersions, status.inFlightVersion, status.workflowHash"
            ]
        );
        kratix["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"] =
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
        kratix["spec"]["versions"][0]["subresources"] = json!({});
        assert_eq!(gaps(&kratix, &wanted), ["no status subresource"]);
    }
}
