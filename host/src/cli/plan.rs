//! `kbind snapshot` and `kbind plan`: a cluster's kbind objects read into a
//! file, and what a policy would do to them from now on, projected by the
//! simulator (`kbind::sim::project`) with nothing written to the cluster.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use kube::api::{Api, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use super::args::{Global, OutputFormat, PlanArgs, SnapshotArgs};
use super::{Failure, exit};
use kbind::engine::PolicyEngine;
use kbind::operator::api_error::Text;
use kbind::sim::project::{self, ProjectOptions, Projection};
use kbind::sim::snapshot::Snapshot;
use kbind::time::now_millis;

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// Every object of one resource, with its apiVersion and kind (a list's
/// items carry neither).
async fn list(
    client: &kube::Client,
    ar: &ApiResource,
    selector: Option<&str>,
) -> Result<Vec<Value>, Failure> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
    let params = selector.map_or_else(ListParams::default, |s| ListParams::default().labels(s));
    let items = api
        .list(&params)
        .await
        .map_err(|e| Failure::environment(format!("cannot list {}: {}", ar.plural, Text(&e))))?;
    Ok(items
        .items
        .into_iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .map(|mut v| {
            v["apiVersion"] = ar.api_version.clone().into();
            v["kind"] = ar.kind.clone().into();
            v
        })
        .collect())
}

/// The group, served version, kind and plural of a promise's requests, from
/// the CRD its `spec.api` embeds.
fn request_resource(promise: &Value) -> Option<(String, ApiResource)> {
    let api = promise.pointer("/spec/api")?;
    let spec = api.get("spec")?;
    let group = spec.get("group")?.as_str()?;
    let names = spec.get("names")?;
    let version = spec
        .get("versions")?
        .as_array()?
        .iter()
        .find(|v| v["storage"] == true)
        .or_else(|| spec["versions"].as_array()?.first())?
        .get("name")?
        .as_str()?;
    Some((
        api.pointer("/metadata/name")?.as_str()?.to_string(),
        resource(
            group,
            version,
            names.get("kind")?.as_str()?,
            names.get("plural")?.as_str()?,
        ),
    ))
}

/// Reads what the planner reads from a cluster.
pub async fn take(client: &kube::Client) -> Result<Snapshot, Failure> {
    let taken_at = now_millis();
    let group = "platform.kratix.io";
    let promises = list(
        client,
        &resource(group, "v1alpha1", "Promise", "promises"),
        None,
    )
    .await?;
    let mut objects = promises.clone();
    for (ar, selector) in [
        (
            resource(group, "v1alpha1", "PromiseRevision", "promiserevisions"),
            None,
        ),
        (
            resource(group, "v1alpha1", "ResourceBinding", "resourcebindings"),
            None,
        ),
        // Workflow Jobs only.
        (
            resource("batch", "v1", "Job", "jobs"),
            Some(kbind::api::labels::WORKFLOW_ACTION),
        ),
    ] {
        objects.extend(list(client, &ar, selector).await?);
    }
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &resource(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
        ),
    );
    let mut kinds: BTreeMap<String, ApiResource> = BTreeMap::new();
    for (crd, ar) in promises.iter().filter_map(request_resource) {
        kinds.insert(crd, ar);
    }
    for (crd, ar) in kinds {
        // A promise whose request CRD is not installed yet has no requests.
        let Ok(Some(object)) = crds.get_opt(&crd).await else {
            continue;
        };
        if let Ok(mut v) = serde_json::to_value(object) {
            v["apiVersion"] = "apiextensions.k8s.io/v1".into();
            v["kind"] = "CustomResourceDefinition".into();
            objects.push(v);
        }
        objects.extend(list(client, &ar, None).await?);
    }
    Ok(Snapshot::new(taken_at, objects))
}

pub fn run_snapshot(args: SnapshotArgs) -> Result<ExitCode, Failure> {
    let snapshot = super::cluster::runtime()?.block_on(async {
        let client = super::cluster::client(args.kubeconfig.as_deref()).await?;
        take(&client).await
    })?;
    let text = serde_saphyr::to_string(&snapshot)
        .map_err(|e| Failure::input(format!("cannot render the snapshot: {e}")))?;
    match &args.file {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Failure::environment(format!("cannot write {}: {e}", path.display())))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::from(exit::OK))
}

pub fn run_plan(
    global: &Global,
    engine: &PolicyEngine,
    args: PlanArgs,
) -> Result<ExitCode, Failure> {
    let settings = args.settings.read().map_err(Failure::usage)?;
    let source = super::fetch::policy_source(global, &args.policy)?;
    let (policy, _) = engine.load(&source, args.sha256.as_deref(), settings)?;
    let snapshot = match &args.snapshot {
        Some(path) => Snapshot::read(path).map_err(|e| Failure::input(e.to_string()))?,
        None => super::cluster::runtime()?.block_on(async {
            let client = super::cluster::client(args.kubeconfig.as_deref()).await?;
            take(&client).await
        })?,
    };
    let options = ProjectOptions {
        assume_ms: millis(args.assume_duration),
        horizon_ms: millis(args.horizon),
        max_steps: 10_000,
    };
    let projection = project::project(snapshot.store(), Arc::new(policy), options)
        .map_err(|e| Failure::input(format!("the projection failed: {e}")))?;
    match global.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&projection)
                .map_err(|e| Failure::input(format!("cannot render output: {e}")))?
        ),
        OutputFormat::Yaml => print!(
            "{}",
            serde_saphyr::to_string(&projection)
                .map_err(|e| Failure::input(format!("cannot render output: {e}")))?
        ),
        OutputFormat::Human => print!("{}", human(&projection, &args.policy)),
    }
    Ok(ExitCode::from(exit::OK))
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `+1h 2m 3s` from a number of milliseconds.
fn offset(ms: i64) -> String {
    let s = ms / 1000;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut out = String::from("+");
    for (n, unit) in [(d, "d"), (h, "h"), (m, "m")] {
        if n > 0 || out.len() > 1 {
            out.push_str(&format!("{n}{unit} "));
        }
    }
    out.push_str(&format!("{s}s"));
    out
}

/// The timeline: upgrades grouped by what started them, then the rollout
/// Events, at each instant something happens.
pub fn human(p: &Projection, policy: &str) -> String {
    let mut out = format!("Plan with {policy}, from {}\n\n", p.start);
    out.push_str("Next reconcile writes:\n");
    if p.next_reconcile.is_empty() {
        out.push_str("  nothing\n");
    }
    for w in &p.next_reconcile {
        out.push_str(&format!("  {w}\n"));
    }
    out.push_str("\nProjected:\n");
    if p.steps.is_empty() {
        out.push_str("  nothing happens\n");
    }
    for step in &p.steps {
        // "v1.0.0 -> v1.1.0: rollout wave canary of v1.1.0" -> its bindings.
        let mut upgrades: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut others = Vec::new();
        for e in &step.events {
            match e.reason.as_str() {
                "PolicyUpgrade" | "PolicyRollback" => upgrades
                    .entry(e.message.as_str())
                    .or_default()
                    .push(e.regarding.trim_start_matches("ResourceBinding ")),
                "RolloutWaveStarted" | "RolloutPaused" | "RolloutResumed" | "RolloutCompleted"
                | "PolicyFailed" | "EditDenied" => others.push(e),
                _ => {}
            }
        }
        if upgrades.is_empty() && others.is_empty() {
            continue;
        }
        out.push_str(&format!("  {:<12} {}\n", offset(step.offset_ms), step.at));
        for e in others {
            out.push_str(&format!("    {}: {}\n", e.reason, e.message));
        }
        for (what, bindings) in upgrades {
            let shown: Vec<&str> = bindings.iter().take(5).copied().collect();
            let more = bindings.len().saturating_sub(shown.len());
            out.push_str(&format!(
                "    {} binding(s) {what}: {}{}\n",
                bindings.len(),
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ));
        }
    }
    out.push_str(&format!(
        "\nEnds {} ({}): {}\n",
        offset(p.end.offset_ms),
        p.end.at,
        match p.end.why {
            "settled" => "nothing more is due",
            "horizon" => "the horizon is reached",
            _ => "too many steps to show",
        }
    ));
    for (promise, r) in &p.end.rollouts {
        out.push_str(&format!(
            "  {promise}: rollout to {} still {} (wave {} of {}){}\n",
            r.version,
            r.phase,
            r.wave_index,
            r.waves.len(),
            if r.message.is_empty() {
                String::new()
            } else {
                format!(": {}", r.message)
            }
        ));
    }
    out
}
