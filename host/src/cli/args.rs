use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use kbind::contract::{Setting, SettingValue};
use kbind::engine::Limits;
use kbind::eval::DecisionKind;

/// kbind: Kratix Resource Bindings with a swappable WebAssembly policy.
#[derive(Debug, Parser)]
#[command(name = "kbind", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 ok; 1 the policy failed to decide (error, panic, limit); \
2 usage; 3 the policy cannot be loaded; 4 bad input document; 5 the environment failed (cannot listen, \
write a file).";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a policy component is: contract, exports, imports,
    /// metadata, sha256, size, and whether this kbind can serve it.
    Inspect(InspectArgs),
    /// Ask a policy for one decision, on an input document (YAML or JSON).
    Eval(EvalArgs),
    /// Run policy test suites: decisions with expected results or errors.
    Test(TestArgs),
    /// Run scenario files through the planner and a policy, offline.
    Simulate(SimulateArgs),
    /// Measure a policy on the cases of a test suite: p50/p95/p99,
    /// decisions/s, fuel; save a baseline or fail on a regression against one.
    Bench(BenchArgs),
    /// Print the CustomResourceDefinitions kbind serves (ResourceBinding,
    /// PromiseRevision, Promise), generated from its types: `kbind crds | kubectl apply -f -`.
    Crds,
    /// Start the embedded Kubernetes API server on loopback (kubectl-ready)
    /// with the operator reconciling against it, until interrupted.
    Sandbox(SandboxArgs),
    /// Run the operator against a cluster (in-cluster config, $KUBECONFIG or
    /// --kubeconfig) until SIGINT/SIGTERM.
    Operator(Box<OperatorArgs>),
    /// Print the RBAC the operator needs for the requests of these Promises
    /// (their spec.api groups): `kbind rbac promise.yaml | kubectl apply -f -`.
    Rbac(RbacArgs),
    /// The helper containers of a workflow pod (Kratix's pipeline contract);
    /// the operator adds them, from its own image.
    Pipeline(PipelineArgs),
    /// Where a promise's rollouts stand, from the cluster.
    Rollout(RolloutArgs),
    /// Write the cluster's kbind objects (Promises, revisions, request CRDs
    /// and requests, bindings, workflow Jobs) to a file `kbind plan` reads.
    Snapshot(SnapshotArgs),
    /// Show what a policy would do from now on, writing nothing: the next
    /// reconcile's writes, then the projected rollout (workflows assumed to
    /// succeed after --assume-duration, the clock moved through soaks and
    /// windows), from the cluster or a snapshot.
    Plan(PlanArgs),
    /// Create a policy project: source, unit tests, a `kbind test` suite, a
    /// build script and a CI snippet, in Rust, Python or JavaScript.
    New(NewArgs),
    /// Push a policy component to an OCI registry as a wasm artifact (the
    /// CNCF layout); prints the digest to pin it by.
    Push(PushArgs),
    /// Compile a policy ahead of time into the compiled-policy cache (the
    /// operator's $KBIND_CACHE_DIR), so that loading it there only checks its
    /// digest and engine compatibility and deserializes it.
    Compile(CompileArgs),
}

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The policy: a shipped name, a .wasm path or an oci:// reference.
    #[arg(required_unless_present = "config", conflicts_with = "config")]
    pub policy: Option<String>,
    /// The operator's config file instead (its policy, pulled as the operator would).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The component: a shipped policy's name or a path to a .wasm.
    pub policy: String,
    /// Where to: oci://<registry>/<repository>:<tag>.
    pub reference: String,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The policy's name (lowercase letters, digits and `-`), also its folder.
    pub name: String,
    /// The language to write it in.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    pub lang: Lang,
    /// Create it here instead of ./<name>.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The kbind checkout whose Rust SDK (`guest/`) a Rust policy depends on
    /// [default: the checkout this kbind was built from].
    #[arg(long)]
    pub sdk: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Kubeconfig to use [default: in-cluster, then $KUBECONFIG, then ~/.kube/config].
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Where to write it [default: standard output].
    #[arg(long, short = 'f')]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The policy to plan with: a shipped name, a .wasm path or an oci:// reference.
    #[arg(long)]
    pub policy: String,
    /// Refuse the policy unless its sha256 is this.
    #[arg(long)]
    pub sha256: Option<String>,
    #[command(flatten)]
    pub settings: SettingFlags,
    /// Read the cluster [default: in-cluster, then $KUBECONFIG, then ~/.kube/config].
    #[arg(long, conflicts_with = "snapshot")]
    pub kubeconfig: Option<PathBuf>,
    /// Plan from a file `kbind snapshot` wrote instead of a cluster.
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    /// How long each workflow is assumed to run before it succeeds.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1m")]
    pub assume_duration: Duration,
    /// How far ahead to project.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30days")]
    pub horizon: Duration,
}

#[derive(Debug, Args)]
pub struct RolloutArgs {
    #[command(subcommand)]
    pub command: RolloutCommand,
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Each wave of a promise's rollouts with a progress bar, its bindings
    /// by state, what it waits for (soak left, the next window, approval,
    /// the pause annotation), and every revision's binding counts.
    Status(RolloutStatusArgs),
}

#[derive(Debug, Args)]
pub struct RolloutStatusArgs {
    /// The Promise's name.
    pub promise: String,
    /// Keep watching; print again whenever the Promise or a revision changes.
    #[arg(long, short = 'w')]
    pub watch: bool,
    /// Kubeconfig to use [default: in-cluster, then $KUBECONFIG, then ~/.kube/config].
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PipelineArgs {
    #[command(subcommand)]
    pub command: PipelineCommand,
}

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Write the request (KRATIX_OBJECT_*) to <input-dir>/object.yaml.
    Reader {
        #[arg(long, default_value = "/kratix/input")]
        input_dir: PathBuf,
    },
    /// Merge <metadata-dir>/status.yaml into the request's status, as
    /// Kratix does; then remove it and refresh <input-dir>/object.yaml for
    /// the next pipeline.
    UpdateStatus {
        #[arg(long, default_value = "/kratix/metadata")]
        metadata_dir: PathBuf,
        #[arg(long, default_value = "/kratix/input")]
        input_dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct RbacArgs {
    /// Promise manifests (YAML, several documents allowed; `-` reads stdin).
    #[arg(required = true)]
    pub promises: Vec<String>,
    /// The namespace of the kbind-operator ServiceAccount.
    #[arg(long, default_value = "kbind-system")]
    pub namespace: String,
}

#[derive(Debug, Args)]
pub struct OperatorArgs {
    /// Kubeconfig to use [default: in-cluster, then $KUBECONFIG, then ~/.kube/config].
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The policy: a shipped name (kratix-default, semver-auto) or a .wasm
    /// path. A path is polled and a changed file is swapped in after it
    /// loads and validates; a bad file is refused and the old policy serves on.
    #[arg(long, default_value = "kratix-default", conflicts_with = "config")]
    pub policy: String,
    /// Refuse any policy file whose sha256 is not this.
    #[arg(long, conflicts_with = "config")]
    pub policy_sha256: Option<String>,
    /// With --policy oci://…:<tag>: follow the tag, loading (by digest) what it points at
    /// whenever it moves. Without it a tag is resolved once and pinned.
    #[arg(long, conflicts_with = "config")]
    pub follow_tag: bool,
    /// How often a followed tag is resolved [default: 1m].
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "config")]
    pub follow_every: Option<Duration>,
    #[command(flatten)]
    pub settings: SettingFlags,
    /// A config file (YAML: policy, sha256, settings) instead of the three
    /// flags above; re-read with the policy file, so a ConfigMap update of
    /// both swaps them together.
    #[arg(long, conflicts_with_all = ["set", "set_json"])]
    pub config: Option<PathBuf>,
    /// How often the policy (and config) file is checked for changes.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    pub policy_poll: Duration,
    /// Reconciles running at once.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// Every promise and request is reconciled at least this often.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
    pub resync: Duration,
    /// Where /metrics, /healthz and /readyz are served.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: std::net::SocketAddr,
    /// Take a Lease before writing, so only one replica reconciles.
    #[arg(long)]
    pub leader_elect: bool,
    /// Namespace of the leader Lease [default: $POD_NAMESPACE, else kbind-system].
    #[arg(long, env = "POD_NAMESPACE", default_value = "kbind-system")]
    pub lease_namespace: String,
    /// This replica's identity in the Lease [default: $POD_NAME, else the host name].
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// Requests per second the operator sends to the API server at most,
    /// sustained (client-go's token bucket); 0 for no limit. Every write
    /// is an etcd write: a wave of thousands of requests must not flood
    /// the server.
    #[arg(long, default_value_t = 50.0)]
    pub kube_qps: f64,
    /// Requests the operator may send at once above --kube-qps.
    #[arg(long, default_value_t = 100)]
    pub kube_burst: u32,
    /// Finished workflow Jobs are deleted (with their pods) this long after
    /// they end; `0s` keeps them. Each run's outcome stays on its binding.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "24h")]
    pub job_ttl: Duration,
    /// Finished workflow Jobs kept per request and action besides the newest.
    #[arg(long, default_value_t = 5)]
    pub job_history: usize,
    /// A workflow Job still running after this fails (pods that can never
    /// start: a missing ServiceAccount, Pod Security, quota).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    pub job_deadline: Duration,
    /// The image of the helper containers kbind adds to every workflow pod
    /// (`kbind pipeline reader` writes /kratix/input/object.yaml, `kbind
    /// pipeline update-status` merges /kratix/metadata/status.yaml into the
    /// request's status): the operator's own image.
    #[arg(long, env = "KBIND_PIPELINE_IMAGE", default_value = kbind::planner::workflow::DEFAULT_HELPER_IMAGE)]
    pub pipeline_image: String,
    /// Complete workflow Jobs without running them (clusters without
    /// nodes, demos). Jobs at versions given with --fail-version fail.
    #[arg(long)]
    pub simulate_workflows: bool,
    /// With --simulate-workflows: Jobs at this promise version fail; repeatable.
    #[arg(
        long = "fail-version",
        value_name = "VERSION",
        requires = "simulate_workflows"
    )]
    pub fail_versions: Vec<String>,
}

impl OperatorArgs {
    pub fn workflows(&self) -> kbind::planner::workflow::WorkflowSettings {
        let seconds = |d: Duration| u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
        kbind::planner::workflow::WorkflowSettings {
            ttl_seconds_after_finished: Some(seconds(self.job_ttl)).filter(|t| *t > 0),
            history_limit: self.job_history,
            active_deadline_seconds: seconds(self.job_deadline).max(1),
            helper_image: self.pipeline_image.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Where to write the kubeconfig [default: the user data dir].
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Keep the objects in this file: every change is journalled before it is
    /// acknowledged, and the next start restores them.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Run only the API server, not the operator.
    #[arg(long, conflicts_with = "demo")]
    pub no_operator: bool,
    /// Do not install kbind's CRDs (by default they are installed before the
    /// kubeconfig is written, so the sandbox serves them from the start).
    #[arg(long)]
    pub no_crds: bool,
    /// Walk through the user story (install redis, request, upgrade by
    /// editing the binding, recreate, delete), printing the kubectl commands.
    #[arg(long)]
    pub demo: bool,
    /// With --demo: stop once the story has run instead of serving on.
    #[arg(long, requires = "demo")]
    pub exit_after_demo: bool,
    /// The policy the operator uses (a shipped name, a .wasm path that is watched and hot-swapped,
    /// or an oci:// reference, pulled and pinned by digest).
    #[arg(long, default_value = "kratix-default")]
    pub policy: String,
    #[command(flatten)]
    pub settings: SettingFlags,
    /// Workflow pods at this promise version fail (the sandbox's simulated
    /// node otherwise succeeds them); repeatable.
    #[arg(long = "fail-version", value_name = "VERSION")]
    pub fail_versions: Vec<String>,
    /// Run the operator with the sandbox's admin token. By default it runs
    /// as installed: as the kbind-operator ServiceAccount, held to
    /// deploy/rbac.yaml's rules (a Promise whose request group they do not
    /// cover says so, as on a cluster: `kbind rbac <promise.yaml>`).
    #[arg(long, conflicts_with = "no_operator")]
    pub operator_as_admin: bool,
    /// How long an Event outlives its last write, as kube-apiserver's
    /// `--event-ttl` (etcd deletes it then).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    pub event_ttl: Duration,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The policy (a shipped name, a .wasm path or an oci:// reference) [default: the suite's `policy:`].
    #[arg(long)]
    pub policy: Option<String>,
    /// A policy test suite (the `kbind test` format): its cases are the workload.
    #[arg(long)]
    pub suite: PathBuf,
    /// Decisions per case (each on a fresh instance, as the operator runs them).
    #[arg(long, default_value_t = 200)]
    pub iterations: usize,
    /// Write the results here as a baseline (JSON).
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Compare against this baseline; exit 1 when a case regressed.
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// With --compare: the largest accepted slowdown (p50) or fuel increase, in percent.
    #[arg(long, default_value_t = 10.0, requires = "compare")]
    pub max_regression: f64,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Scenario files (YAML), or directories whose *.yaml files are scenarios.
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
    /// Run every scenario with this policy (a shipped name, a .wasm path or an oci:// reference)
    /// instead of its own.
    #[arg(long)]
    pub policy: Option<String>,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Suite files (YAML), or directories whose *.yaml files are suites.
    #[arg(required = true)]
    pub suites: Vec<PathBuf>,
    /// Test this policy (a shipped name, a .wasm path or an oci:// reference) instead of each
    /// suite's `policy:`.
    #[arg(long)]
    pub policy: Option<String>,
    /// Also write a JUnit XML report here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// Where compiled policies are cached [default: $KBIND_CACHE_DIR, else the user cache dir].
    #[arg(long, global = true, env = "KBIND_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Do not read or write the compiled-policy cache.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Fuel budget per decision (deterministic instruction budget), before the per-binding allowance.
    #[arg(long, global = true, default_value_t = Limits::default().fuel)]
    pub fuel: u64,
    /// Fuel added per binding a decision's input carries (plan-upgrades, rerun-on-spec-change).
    #[arg(long, global = true, default_value_t = Limits::default().fuel_per_binding)]
    pub fuel_per_binding: u64,
    /// Wall-clock deadline per decision, e.g. 500ms, 2s, before the per-binding allowance.
    #[arg(long, global = true, value_parser = humantime::parse_duration, default_value = "2s")]
    pub deadline: Duration,
    /// Wall-clock time added per binding a decision's input carries, e.g. 2ms.
    #[arg(long, global = true, value_parser = humantime::parse_duration, default_value = "2ms")]
    pub deadline_per_binding: Duration,
    /// Memory cap per policy instance, e.g. 64MiB.
    #[arg(long, global = true, value_parser = parse_bytes, default_value = "256MiB")]
    pub max_memory: usize,
    /// Largest decision input accepted, e.g. 64MiB.
    #[arg(long, global = true, value_parser = parse_bytes, default_value = "64MiB")]
    pub max_input: usize,
    /// Registry credentials: a docker config file, e.g. a mounted image pull secret's
    /// .dockerconfigjson [default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json].
    #[arg(long, global = true)]
    pub registry_config: Option<PathBuf>,
    /// PEM certificates to trust for registries, besides the system's (a private CA).
    #[arg(long, global = true)]
    pub registry_ca: Option<PathBuf>,
    /// Speak plain HTTP to registries (a local registry on loopback).
    #[arg(long, global = true)]
    pub plain_http: bool,
    /// Log level filter (overridden by $KBIND_LOG).
    #[arg(long, global = true, default_value = "warn")]
    pub log_level: String,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Global {
    /// The cache root this command reads and writes (`--cache-dir`,
    /// `$KBIND_CACHE_DIR`, else the user cache dir); none with `--no-cache`.
    pub fn cache_root(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        self.cache_dir
            .clone()
            .or_else(kbind::engine::EngineOptions::default_cache_dir)
    }

    pub fn limits(&self) -> Limits {
        Limits {
            fuel: self.fuel,
            fuel_per_binding: self.fuel_per_binding,
            deadline: self.deadline,
            deadline_per_binding: self.deadline_per_binding,
            memory_bytes: self.max_memory,
            input_bytes: self.max_input,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
    Yaml,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A shipped policy's name (kratix-default, semver-auto, rollout), a path to a .wasm component,
    /// or oci://<registry>/<repository>[:<tag>][@sha256:<digest>].
    pub policy: String,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A shipped policy's name (kratix-default, semver-auto, rollout), a path to a .wasm component,
    /// or oci://<registry>/<repository>[:<tag>][@sha256:<digest>].
    #[arg(long, default_value = "kratix-default")]
    pub policy: String,
    /// Refuse the policy unless its sha256 is this (hex, optionally prefixed `sha256:`).
    #[arg(long)]
    pub sha256: Option<String>,
    #[command(flatten)]
    pub settings: SettingFlags,
    /// The decision to ask for.
    #[arg(long, value_enum)]
    pub decision: DecisionKind,
    /// The input document (YAML or JSON; `-` for stdin). See the README for its fields.
    #[arg(long)]
    pub input: Option<String>,
}

/// `--set` and `--set-json`, the settings flags of every command that loads
/// a policy.
#[derive(Debug, Args)]
pub struct SettingFlags {
    /// A policy setting, NAME=VALUE; repeatable.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// A list or map setting given as JSON, NAME=JSON (`--set-json 'waves=[{"name":"rest"}]'`); repeatable.
    #[arg(long = "set-json", value_name = "NAME=JSON")]
    pub set_json: Vec<String>,
}

impl SettingFlags {
    pub fn read(&self) -> Result<Vec<Setting>, String> {
        parse_settings(&self.set, &self.set_json)
    }
}

fn parse_settings(set: &[String], set_json: &[String]) -> Result<Vec<Setting>, String> {
    let pair = |flag: &str, pair: &str| {
        pair.split_once('=')
            .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
            .ok_or_else(|| format!("{flag} {pair:?}: expected NAME=VALUE"))
    };
    let mut settings = Vec::new();
    for text in set {
        let (name, value) = pair("--set", text)?;
        settings.push(Setting::text(name, value));
    }
    for text in set_json {
        let (name, json) = pair("--set-json", text)?;
        let value: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| format!("--set-json {name}: not JSON: {e}"))?;
        // A JSON scalar is a scalar setting, as it would be in a settings file.
        let value: SettingValue =
            serde_json::from_value(value).map_err(|e| format!("--set-json {name}: {e}"))?;
        settings.push(Setting { name, value });
    }
    Ok(settings)
}

/// `64MiB`, `512KiB`, `1GiB`, `1048576`.
fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (digits, factor) = [
        ("GiB", 1usize << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("B", 1),
    ]
    .iter()
    .find_map(|(suffix, f)| text.strip_suffix(suffix).map(|d| (d, *f)))
    .unwrap_or((text, 1));
    digits
        .trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| format!("{text:?} is not a size (e.g. 64MiB, 512KiB, 1048576)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("512KiB"), Ok(512 << 10));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
