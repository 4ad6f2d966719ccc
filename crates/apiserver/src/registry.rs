//! The kinds the server serves: built-ins kbind and kubectl need, plus every
//! version of every CustomResourceDefinition created through the API.

use serde_json::Value;

use super::admission;
use super::selector::SelectableField;
use super::structural::Structural;
use super::validation::NameRule;

#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub type_: String,
    pub json_path: String,
    pub description: String,
    pub priority: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// "" for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub status_subresource: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub columns: Vec<Column>,
    /// Fields usable in field selectors beyond name and namespace.
    pub selectable_fields: Vec<SelectableField>,
    /// The CRD that defined it, if any.
    pub crd: Option<String>,
    /// How its names are validated.
    pub name_rule: NameRule,
    /// A custom resource's structural schema (its version's
    /// `openAPIV3Schema`), compiled: what it is pruned, defaulted and
    /// validated by.
    pub schema: Option<std::sync::Arc<Structural>>,
    /// The same schema as written, for `/openapi/v3`.
    pub schema_json: Option<std::sync::Arc<Value>>,
    /// A custom resource's storage: the version its objects are written
    /// at and every version's schema, served or not.
    pub storage: Option<std::sync::Arc<Storage>>,
    /// A review (SelfSubjectAccessReview …): only `create`, answered at
    /// once and never stored.
    pub review: bool,
    /// A deprecated custom resource version's warning, sent with every
    /// answer about it.
    pub deprecation_warning: Option<String>,
    /// A custom resource version's `scale` subresource: where its Scale's
    /// fields are in the object.
    pub scale: Option<ScalePaths>,
}

/// `subresources.scale` of a CRD version.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}

impl ScalePaths {
    fn of(version: &Value) -> Option<Self> {
        let scale = version.pointer("/subresources/scale")?;
        let path = |k: &str| scale.get(k).and_then(Value::as_str).map(str::to_string);
        Some(Self {
            spec_replicas: path("specReplicasPath")?,
            status_replicas: path("statusReplicasPath")?,
            label_selector: path("labelSelectorPath").filter(|p| !p.is_empty()),
        })
    }
}

impl Resource {
    /// Whether the kind has the `scale` subresource: Deployments, and
    /// custom resources whose CRD version enables it.
    pub fn has_scale(&self) -> bool {
        self.scale.is_some() || (self.group == "apps" && self.kind == "Deployment")
    }

    pub fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn builtin(
        group: &str,
        version: &str,
        kind: &str,
        plural: &str,
        namespaced: bool,
        status: bool,
        short: &[&str],
    ) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: kind.to_lowercase(),
            namespaced,
            status_subresource: status,
            short_names: short.iter().map(|s| s.to_string()).collect(),
            categories: vec![],
            columns: vec![],
            selectable_fields: builtin_fields(group, kind),
            crd: None,
            name_rule: admission::name_rule(group, kind),
            schema: None,
            schema_json: None,
            storage: None,
            review: false,
            deprecation_warning: None,
            scale: None,
        }
    }
}

/// How a CRD's objects are kept: written at its storage version (the one
/// with `storage: true`), and read through the schema of the version each
/// was written at, which may since have stopped being served.
#[derive(Debug, PartialEq)]
pub struct Storage {
    pub version: String,
    pub schemas: std::collections::BTreeMap<String, std::sync::Arc<Structural>>,
}

impl Storage {
    fn of(spec: &Value) -> Self {
        let versions = spec["versions"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        Self {
            version: versions
                .iter()
                .find(|v| v["storage"].as_bool() == Some(true))
                .and_then(|v| v["name"].as_str())
                .unwrap_or_default()
                .to_string(),
            schemas: versions
                .iter()
                .filter_map(|v| {
                    let schema = v.pointer("/schema/openAPIV3Schema")?;
                    Some((
                        v["name"].as_str()?.to_string(),
                        std::sync::Arc::new(Structural::compile(schema)),
                    ))
                })
                .collect(),
        }
    }

    /// The schema of the version an object was written at
    /// (`group/version`).
    pub fn schema_of(&self, api_version: &str) -> Option<&Structural> {
        let version = api_version.rsplit('/').next().unwrap_or(api_version);
        self.schemas.get(version).map(std::sync::Arc::as_ref)
    }
}

/// The field selectors a real server supports per kind
/// (each registry's `GetAttrs`/`ToSelectableFields`).
fn builtin_fields(group: &str, kind: &str) -> Vec<SelectableField> {
    let same = |paths: &[&str]| paths.iter().map(|p| SelectableField::same(p)).collect();
    match (group, kind) {
        ("", "Event") => {
            let mut fields: Vec<SelectableField> = same(&[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "type",
            ]);
            fields.push(SelectableField::aliased("source", "source.component"));
            fields
        }
        ("events.k8s.io", "Event") => {
            let mut fields: Vec<SelectableField> = same(&[
                "regarding.kind",
                "regarding.namespace",
                "regarding.name",
                "regarding.uid",
                "regarding.apiVersion",
                "regarding.resourceVersion",
                "regarding.fieldPath",
                "reason",
                "reportingController",
                "type",
            ]);
            fields.push(SelectableField::aliased(
                "deprecatedSource.component",
                "deprecatedSource.component",
            ));
            fields
        }
        ("", "Namespace") => same(&["status.phase"]),
        // The node registry's `NodeToSelectableFields`.
        ("", "Node") => vec![SelectableField::same("spec.unschedulable").when_absent("false")],
        // The pod registry's `ToSelectableFields`.
        ("", "Pod") => {
            let mut fields: Vec<SelectableField> = same(&[
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            ]);
            fields.push(SelectableField::same("spec.hostNetwork").when_absent("false"));
            fields
        }
        ("", "Secret") => same(&["type"]),
        ("batch", "Job") => {
            vec![SelectableField::aliased("status.successful", "status.succeeded").when_absent("0")]
        }
        _ => vec![],
    }
}

pub fn builtins() -> Vec<Resource> {
    let review = |group: &str, kind: &str, plural: &str| Resource {
        review: true,
        ..Resource::builtin(group, "v1", kind, plural, false, false, &[])
    };
    let rbac = |kind: &str, plural: &str, namespaced: bool| {
        Resource::builtin(
            "rbac.authorization.k8s.io",
            "v1",
            kind,
            plural,
            namespaced,
            false,
            &[],
        )
    };
    vec![
        review(
            "authentication.k8s.io",
            "SelfSubjectReview",
            "selfsubjectreviews",
        ),
        review(
            "authorization.k8s.io",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
        ),
        rbac("Role", "roles", true),
        rbac("RoleBinding", "rolebindings", true),
        rbac("ClusterRole", "clusterroles", false),
        rbac("ClusterRoleBinding", "clusterrolebindings", false),
        review(
            "authorization.k8s.io",
            "SelfSubjectRulesReview",
            "selfsubjectrulesreviews",
        ),
        Resource::builtin("", "v1", "Namespace", "namespaces", false, true, &["ns"]),
        // Registered by whatever stands in for a kubelet (the sandbox's
        // simulated node), as a kubelet registers its node.
        Resource::builtin("", "v1", "Node", "nodes", false, true, &["no"]),
        Resource::builtin("", "v1", "ConfigMap", "configmaps", true, false, &["cm"]),
        Resource::builtin("", "v1", "Secret", "secrets", true, false, &[]),
        // Kept by the Endpoints and EndpointSlice controllers for Services
        // with a selector.
        Resource::builtin("", "v1", "Endpoints", "endpoints", true, false, &["ep"]),
        Resource::builtin(
            "discovery.k8s.io",
            "v1",
            "EndpointSlice",
            "endpointslices",
            true,
            false,
            &[],
        ),
        // Stored with their cluster IPs and node ports allocated; nothing
        // routes to them.
        Resource {
            categories: vec!["all".into()],
            ..Resource::builtin("", "v1", "Service", "services", true, true, &["svc"])
        },
        Resource::builtin(
            "",
            "v1",
            "ServiceAccount",
            "serviceaccounts",
            true,
            false,
            &["sa"],
        ),
        Resource::builtin("", "v1", "Event", "events", true, false, &["ev"]),
        Resource::builtin("events.k8s.io", "v1", "Event", "events", true, false, &[]),
        Resource::builtin(
            "coordination.k8s.io",
            "v1",
            "Lease",
            "leases",
            true,
            false,
            &[],
        ),
        // A real server lists Pods, Jobs and Deployments under `kubectl get
        // all`, with services and the workload kinds kbind does not serve.
        Resource {
            categories: vec!["all".into()],
            ..Resource::builtin("", "v1", "Pod", "pods", true, true, &["po"])
        },
        Resource {
            categories: vec!["all".into()],
            ..Resource::builtin("batch", "v1", "Job", "jobs", true, true, &[])
        },
        // Stored, defaulted and validated, so `deploy/`'s manifests meet a
        // server's checks; their controllers make ReplicaSets and pods.
        Resource {
            categories: vec!["all".into()],
            ..Resource::builtin(
                "apps",
                "v1",
                "ReplicaSet",
                "replicasets",
                true,
                true,
                &["rs"],
            )
        },
        Resource {
            categories: vec!["all".into()],
            ..Resource::builtin(
                "apps",
                "v1",
                "Deployment",
                "deployments",
                true,
                true,
                &["deploy"],
            )
        },
        Resource::builtin(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            true,
            &["crd", "crds"],
        ),
    ]
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The served versions of a CRD object, as resources.
pub fn from_crd(crd: &Value) -> Vec<Resource> {
    let spec = &crd["spec"];
    // Served under the names the naming controller accepted (the real
    // `crdHandler` reads `status.acceptedNames`).
    let names = crd
        .pointer("/status/acceptedNames")
        .filter(|n| n["plural"].as_str().is_some_and(|p| !p.is_empty()))
        .unwrap_or(&spec["names"]);
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = names["kind"].as_str().unwrap_or_default().to_string();
    let plural = names["plural"].as_str().unwrap_or_default().to_string();
    let storage = std::sync::Arc::new(Storage::of(spec));
    spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"].as_bool().unwrap_or(true))
        .map(|v| Resource {
            group: spec["group"].as_str().unwrap_or_default().into(),
            version: v["name"].as_str().unwrap_or_default().into(),
            kind: kind.clone(),
            plural: plural.clone(),
            singular: names["singular"]
                .as_str()
                .map_or_else(|| kind.to_lowercase(), str::to_string),
            namespaced: spec["scope"].as_str() != Some("Cluster"),
            status_subresource: v.pointer("/subresources/status").is_some(),
            short_names: strings(names.get("shortNames")),
            categories: strings(names.get("categories")),
            columns: v["additionalPrinterColumns"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| Column {
                    name: c["name"].as_str().unwrap_or_default().into(),
                    type_: c["type"].as_str().unwrap_or("string").into(),
                    json_path: c["jsonPath"].as_str().unwrap_or_default().into(),
                    description: c["description"].as_str().unwrap_or_default().into(),
                    priority: c["priority"].as_i64().unwrap_or(0),
                })
                .collect(),
            selectable_fields: v["selectableFields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["jsonPath"].as_str().map(SelectableField::same))
                .collect(),
            crd: Some(name.to_string()),
            name_rule: NameRule::Dns1123Subdomain,
            schema: v["name"]
                .as_str()
                .and_then(|name| storage.schemas.get(name))
                .cloned(),
            schema_json: v
                .pointer("/schema/openAPIV3Schema")
                .map(|s| std::sync::Arc::new(s.clone())),
            storage: Some(storage.clone()),
            review: false,
            deprecation_warning: deprecation_warning(v, spec, &kind),
            scale: ScalePaths::of(v),
        })
        .filter(|r| !r.plural.is_empty() && !r.kind.is_empty())
        .collect()
}

/// A deprecated version's warning: its `deprecationWarning`, or
/// `defaultDeprecationWarning`'s, which names the most preferred served
/// version newer than it that is not deprecated.
fn deprecation_warning(version: &Value, spec: &Value, kind: &str) -> Option<String> {
    if version["deprecated"] != Value::Bool(true) {
        return None;
    }
    if let Some(w) = version["deprecationWarning"].as_str() {
        return Some(w.to_string());
    }
    let group = spec["group"].as_str().unwrap_or_default();
    let name = version["name"].as_str().unwrap_or_default();
    let mut warning = format!("{group}/{name} {kind} is deprecated");
    let newer = spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"].as_bool().unwrap_or(true) && v["deprecated"] != Value::Bool(true))
        .filter_map(|v| v["name"].as_str())
        .filter(|v| super::discovery::kube_aware_order(name, v) == std::cmp::Ordering::Less)
        .max_by(|a, b| super::discovery::kube_aware_order(a, b));
    if let Some(newer) = newer {
        warning.push_str(&format!("; use {group}/{newer} {kind}"));
    }
    Some(warning)
}
