//! The one Promise the Rust tests build: redis, at a version, with the
//! request API every test shares (`redis.marketplace.kratix.io`, a schema
//! with `spec.size`) and one configure pipeline; a test changes only what it
//! is about (its name, its workflows).

use serde_json::{Value, json};

/// `promise("v0.1.0").build()` is the common Promise; the builder's methods
/// change one part of it.
pub struct PromiseFixture {
    name: String,
    version: String,
    workflows: Option<Value>,
}

/// The common redis Promise at `version`: its configure pipeline runs
/// `example/redis:<version>`.
pub fn promise(version: &str) -> PromiseFixture {
    PromiseFixture {
        name: "redis".into(),
        version: version.into(),
        workflows: Some(json!({"resource": {"configure": [
            {"apiVersion": "platform.kratix.io/v1alpha1", "kind": "Pipeline",
             "metadata": {"name": "configure"},
             "spec": {"containers": [{"name": "c", "image": format!("example/redis:{version}")}]}}]}})),
    }
}

impl PromiseFixture {
    /// Another promise name (the request API stays redis's).
    pub fn named(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// `spec.workflows` as given.
    pub fn workflows(mut self, workflows: Value) -> Self {
        self.workflows = Some(workflows);
        self
    }

    /// No `spec.workflows` at all.
    pub fn without_workflows(mut self) -> Self {
        self.workflows = None;
        self
    }

    pub fn build(self) -> Value {
        let mut spec = json!({
            "api": {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "redis.marketplace.kratix.io"},
                "spec": {"group": "marketplace.kratix.io", "scope": "Namespaced",
                    "names": {"kind": "redis", "plural": "redis", "singular": "redis"},
                    "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                            "spec": {"type": "object", "properties": {"size": {"type": "string"}}}}}}}]}}});
        if let Some(workflows) = self.workflows {
            spec["workflows"] = workflows;
        }
        json!({"apiVersion": "platform.kratix.io/v1alpha1", "kind": "Promise",
            "metadata": {"name": self.name, "labels": {"kratix.io/promise-version": self.version}},
            "spec": spec})
    }
}
