//! `platform.kratix.io/v1alpha1` as Kratix spells it: the ResourceBinding,
//! PromiseRevision and Promise types (the Promise only as far as kbind reads
//! it; every other field is kept as-is), and the label, finalizer, condition
//! and event names of the reference (§1).

mod binding;
mod condition;
/// What a Job controller writes when a workflow Job ends.
mod promise;
/// A resource request's `message` and workflow conditions, as Kratix keeps them.
pub mod request_status;
mod revision;

pub use binding::*;
pub use condition::*;
pub use promise::*;
pub use revision::*;

pub const GROUP: &str = "platform.kratix.io";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "platform.kratix.io/v1alpha1";

/// `spec.version` of a binding that follows the latest revision.
pub const LATEST_VERSION: &str = "latest";
/// The version of a Promise without a version label.
pub const UNVERSIONED: &str = "not-set";

/// Labels (Kratix's, and kbind's own).
pub mod labels {
    /// The value of label `key` on an object kept as a tree.
    pub fn label_of(object: &serde_json::Value, key: &str) -> Option<String> {
        object
            .pointer("/metadata/labels")
            .and_then(|l| l.get(key))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    }

    pub const PROMISE_NAME: &str = "kratix.io/promise-name";
    pub const RESOURCE_NAME: &str = "kratix.io/resource-name";
    pub const PROMISE_VERSION: &str = "kratix.io/promise-version";
    pub const LATEST_REVISION: &str = "kratix.io/latest-revision";
    pub const MANUAL_RECONCILIATION: &str = "kratix.io/manual-reconciliation";
    pub const RUN_FROM_START: &str = "internal.workflows.kratix.io/run-from-start";
    pub const RECONCILE_RESOURCES: &str = "kratix.io/reconcile-resources";
    pub const PAUSED: &str = "kratix.io/paused";
    /// On workflow Jobs: the hash of (revision spec, request spec), R-20.
    pub const WORKFLOW_HASH: &str = "kratix.io/hash";
    pub const WORKFLOW_ACTION: &str = "kratix.io/workflow-action";
    /// On workflow Jobs: the promise version the Job runs at.
    pub const JOB_PROMISE_VERSION: &str = "kbind.io/promise-version";
}

/// Annotations.
pub mod annotations {
    pub const SKIP_CLEANUP_ON_DELETE: &str = "kratix.io/skip-resource-request-cleanup-on-delete";
    /// kbind: the `spec.version` kbind last wrote or approved; a different
    /// `spec.version` is a user edit, reviewed by the policy.
    pub const APPROVED_VERSION: &str = "kbind.io/approved-version";
    /// kbind: label keys copied from the request, so that labels removed
    /// from the request are removed from the binding while the binding's own
    /// labels survive (H-5).
    pub const REQUEST_LABELS: &str = "kbind.io/request-labels";
    /// kbind: when a policy-requested retry of a failed upgrade is due (RFC 3339).
    pub const RETRY_AT: &str = "kbind.io/retry-at";
    /// kbind: a workflow Job's promise in full (its `kratix.io/promise-name`
    /// label is a hash when the name is too long for a label).
    pub const JOB_PROMISE: &str = "kbind.io/promise";
}

/// Label and annotation keys left out of the labels and annotations a policy
/// is given: kbind's and Kratix's own bookkeeping, and kubectl's copy of the
/// last applied object. None says anything the policy's input does not
/// already say (the promise, the request's name, the binding's version), and
/// every key and value is one more string lowered into the policy per
/// binding. Keys a user sets for a policy (`kbind.io/upgrade-range`, ...) are
/// passed on.
pub const NOT_FOR_POLICIES: [&str; 7] = [
    labels::PROMISE_NAME,
    labels::RESOURCE_NAME,
    labels::PROMISE_VERSION,
    annotations::APPROVED_VERSION,
    annotations::REQUEST_LABELS,
    annotations::RETRY_AT,
    "kubectl.kubernetes.io/last-applied-configuration",
];

/// Finalizers (§1.2, §1.3).
pub mod finalizers {
    pub const DELETE_WORKFLOWS: &str = "kratix.io/delete-workflows";
    pub const WORK_CLEANUP: &str = "kratix.io/work-cleanup";
    pub const WORKFLOWS_CLEANUP: &str = "kratix.io/workflows-cleanup";
    pub const RESOURCE_BINDING_CLEANUP: &str = "kratix.io/resource-binding-cleanup";
    /// In the order Kratix processes them.
    pub const REQUEST: [&str; 4] = [
        DELETE_WORKFLOWS,
        WORK_CLEANUP,
        WORKFLOWS_CLEANUP,
        RESOURCE_BINDING_CLEANUP,
    ];
    pub const REVISION: &str = "kratix.io/resource-request-cleanup";
}

/// The `UpgradeSucceeded` condition (§1.1).
pub mod upgrade {
    pub const CONDITION: &str = "UpgradeSucceeded";
    pub const IN_PROGRESS: &str = "UpgradeInProgress";
    pub const COMPLETE: &str = "UpgradeComplete";
    pub const FAILED: &str = "UpgradeFailed";
    /// kbind (H-3): the binding names a version that has no PromiseRevision.
    pub const VERSION_NOT_FOUND: &str = "VersionNotFound";
    /// kbind: the policy denied a user's edit of `spec.version`.
    pub const EDIT_DENIED: &str = "EditDenied";
    /// kbind: the policy failed (trap, limit, refused answer); nothing changed.
    pub const POLICY_FAILED: &str = "PolicyFailed";
}

/// Event reasons (§1.4, plus kbind's).
pub mod events {
    pub const FAILED_REVISION_LOOKUP: &str = "FailedPromiseRevisionLookup";
    pub const BINDING_CREATED: &str = "BindingCreated";
    pub const RECONCILE_SUCCEEDED: &str = "ReconcileSucceeded";
    /// kbind: a request of a cluster-scoped API, which kbind does not bind.
    pub const CLUSTER_SCOPED_REQUEST: &str = "ClusterScopedRequestUnsupported";
    /// kbind: a workflow Job cannot create its pods.
    pub const WORKFLOW_CANNOT_START: &str = "WorkflowCannotStart";
    /// kbind: the API server refused a write of a promise's reconcile (its
    /// request CRD, a revision, its status) as invalid or forbidden, or a
    /// request's workflow because its namespace is being deleted.
    pub const PROMISE_WRITE_REFUSED: &str = "PromiseWriteRefused";
    /// kbind: the API server does not serve the promise's request kind (its
    /// CRD's names are taken by another CRD of the group).
    pub const API_NOT_SERVED: &str = "RequestAPINotServed";
    /// kbind: another Promise declares the same request kind, and kbind
    /// reconciles the requests of one Promise per kind name.
    pub const REQUEST_KIND_TAKEN: &str = "RequestKindTaken";
    pub const BINDING_VERSION_UPDATED: &str = "ResourceBindingVersionUpdated";
    pub const RECONCILE_STARTED: &str = "ReconcileStarted";
    /// A Warning on the request: it or its promise carries
    /// `kratix.io/paused: "true"`, and nothing is reconciled.
    pub const PAUSED_RECONCILIATION: &str = "PausedReconciliation";
    /// A Warning on the request: its configure workflow failed.
    pub const CONFIGURE_WORKFLOW_FAILED: &str = "ConfigureWorkflowFailed";
    pub const REVISION_CREATED: &str = "RevisionCreated";
    pub const POLICY_UPGRADE: &str = "PolicyUpgrade";
    pub const POLICY_ROLLBACK: &str = "PolicyRollback";
    pub const POLICY_RETRY: &str = "PolicyRetry";
    pub const EDIT_DENIED: &str = "EditDenied";
    pub const EDIT_ALLOWED: &str = "EditAllowed";
    pub const POLICY_FAILED: &str = "PolicyFailed";
    pub const REVISION_DELETE_BLOCKED: &str = "RevisionDeletionBlocked";
    /// kbind: a rollout's wave started (on the Promise).
    pub const ROLLOUT_WAVE_STARTED: &str = "RolloutWaveStarted";
    /// kbind: a rollout paused, by failures or by hand.
    pub const ROLLOUT_PAUSED: &str = "RolloutPaused";
    /// kbind: a paused rollout goes on.
    pub const ROLLOUT_RESUMED: &str = "RolloutResumed";
    /// kbind: no binding waits for a rollout's version any more.
    pub const ROLLOUT_COMPLETED: &str = "RolloutCompleted";
}

/// The CustomResourceDefinitions kbind serves, generated from these types
/// (`kbind crds`).
pub fn crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    use kube::CustomResourceExt;
    vec![
        ResourceBinding::crd(),
        PromiseRevision::crd(),
        Promise::crd(),
    ]
}

/// The CRDs as one multi-document YAML stream, ready for `kubectl apply -f -`.
pub fn crds_yaml() -> Result<String, String> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd).map_err(|e| e.to_string())?);
    }
    Ok(out)
}
