//! Real Kratix YAML parses into kbind's types unchanged, and serialises back
//! to the same fields.

use std::path::PathBuf;

use kbind::api::{Promise, PromiseRevision, ResourceBinding};
use kube::CustomResourceExt;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/kratix")
        .join(name);
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Parse into the typed object and back: every field survives.
fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(value: &Value) -> (T, Value) {
    let typed: T = serde_json::from_value(value.clone()).expect("parses");
    let back = serde_json::to_value(&typed).unwrap();
    (typed, back)
}

#[test]
fn a_kratix_promise_parses_and_keeps_every_field() {
    let yaml = fixture("promise-redis.yaml");
    let (promise, back): (Promise, Value) = round_trip(&yaml);
    let kind = promise
        .spec
        .request_kind()
        .expect("spec.api names the request kind");
    assert_eq!(
        (
            kind.group.as_str(),
            kind.kind.as_str(),
            kind.plural.as_str()
        ),
        ("marketplace.kratix.io", "redis", "redis")
    );
    assert!(promise.spec.has_resource_pipeline("configure"));
    assert!(promise.spec.has_resource_pipeline("delete"));
    assert_eq!(
        back["spec"], yaml["spec"],
        "the spec is kept verbatim (it becomes promiseSpec)"
    );
    assert_eq!(back["metadata"]["labels"], yaml["metadata"]["labels"]);
}

#[test]
fn the_documented_resource_binding_parses() {
    let yaml = fixture("resourcebinding.yaml");
    let (binding, back): (ResourceBinding, Value) = round_trip(&yaml);
    assert_eq!(binding.spec.version, "v0.1.0");
    assert_eq!(binding.spec.resource_ref.name, "example");
    let status = binding.status.as_ref().unwrap();
    assert_eq!(status.last_applied_version, "v0.1.0");
    assert_eq!(status.conditions[0].reason, "UpgradeComplete");
    assert_eq!(back["spec"], yaml["spec"]);
    assert_eq!(back["status"], yaml["status"]);
}

#[test]
fn a_promise_revision_parses() {
    let yaml = fixture("promiserevision.yaml");
    let (revision, back): (PromiseRevision, Value) = round_trip(&yaml);
    assert!(revision.status.as_ref().unwrap().latest);
    assert_eq!(back["spec"], yaml["spec"]);
    assert_eq!(back["status"], yaml["status"]);
}

#[test]
fn crds_carry_kratix_names_columns_and_selectable_field() {
    let crd = serde_json::to_value(ResourceBinding::crd()).unwrap();
    assert_eq!(crd["spec"]["group"], "platform.kratix.io");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(crd["spec"]["names"]["plural"], "resourcebindings");
    assert_eq!(crd["spec"]["names"]["categories"][0], "kratix");
    let version = &crd["spec"]["versions"][0];
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        ["Resource", "Promise", "Version", "Applied", "Age"]
    );
    assert_eq!(version["selectableFields"][0]["jsonPath"], ".spec.version");
    assert!(version["subresources"]["status"].is_object());

    let crd = serde_json::to_value(PromiseRevision::crd()).unwrap();
    assert_eq!(crd["spec"]["scope"], "Cluster");
}
