//! Command-line interface: arguments, dispatch, exit codes.

mod allocator;
mod args;
mod cluster;
mod fetch;
mod operator;
mod output;
mod pipeline;
mod plan;
mod rollout;
mod sandbox_account;
mod scaffold;

use std::process::ExitCode;

use kbind::engine::{EngineOptions, PolicyEngine, PolicySource};
use kbind::eval::{self, DecisionKind, EvalError, InputDoc};
use kbind::inspect;
use kbind::policy::PolicyError;

use args::{BenchArgs, Command, EvalArgs, InspectArgs, SandboxArgs, SimulateArgs, TestArgs};
pub use args::{Cli, Global};

/// Exit codes, documented in the README.
pub mod exit {
    /// The command did what was asked.
    pub const OK: u8 = 0;
    /// The policy was asked and failed to decide (it returned an error,
    /// panicked, or hit a limit).
    pub const DECISION_FAILED: u8 = 1;
    /// Bad command-line usage (clap's own code).
    pub const USAGE: u8 = 2;
    /// The policy could not be loaded (unreadable, digest mismatch, not a
    /// component, wrong contract, missing export, settings rejected).
    pub const POLICY_UNUSABLE: u8 = 3;
    /// The input document could not be read or does not fit the decision.
    pub const BAD_INPUT: u8 = 4;
    /// The environment failed: cannot listen, write a file, start a runtime.
    pub const ENVIRONMENT: u8 = 5;
}

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Failure {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }

    fn input(message: impl Into<String>) -> Self {
        Self {
            code: exit::BAD_INPUT,
            message: message.into(),
        }
    }

    fn environment(message: impl Into<String>) -> Self {
        Self {
            code: exit::ENVIRONMENT,
            message: message.into(),
        }
    }

    fn with_code(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn usage(message: impl Into<String>) -> Self {
        Self {
            code: exit::USAGE,
            message: message.into(),
        }
    }
}

impl From<PolicyError> for Failure {
    fn from(err: PolicyError) -> Self {
        let code = if err.is_decision_failure() {
            exit::DECISION_FAILED
        } else {
            exit::POLICY_UNUSABLE
        };
        Self {
            code,
            message: err.to_string(),
        }
    }
}

impl From<EvalError> for Failure {
    fn from(err: EvalError) -> Self {
        match err {
            EvalError::Input(message) => Self::input(message),
            EvalError::Policy(err) => err.into(),
        }
    }
}

pub fn init_logging(global: &Global) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KBIND_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&global.log_level));
    // Colour only for a person at a terminal: escape codes in a log file or
    // a CI log are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match global.log_format {
        args::LogFormat::Json => builder.json().init(),
        args::LogFormat::Text => builder.init(),
    }
}

pub fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Inspect(args) => run_inspect(&cli.global, args),
        Command::Eval(args) => run_eval(&cli.global, args),
        Command::Test(args) => run_test(&cli.global, args),
        Command::Simulate(args) => run_simulate(&cli.global, args),
        Command::Bench(args) => run_bench(&cli.global, args),
        Command::Sandbox(args) => {
            allocator::one_arena();
            run_sandbox(&cli.global, args)
        }
        Command::Operator(args) => {
            allocator::one_arena();
            operator::run_operator(&cli.global, *args)
        }
        Command::Rbac(args) => run_rbac(args),
        Command::Pipeline(args) => pipeline::run_pipeline(args),
        Command::Rollout(args) => rollout::run_rollout(&cli.global, args),
        Command::Snapshot(args) => plan::run_snapshot(args),
        Command::New(args) => scaffold::run_new(args),
        Command::Push(args) => run_push(&cli.global, args),
        Command::Compile(args) => run_compile(&cli.global, args),
        Command::Plan(args) => {
            let engine = engine(&cli.global)?;
            plan::run_plan(&cli.global, &engine, args)
        }
        Command::Crds => {
            let yaml = kbind::api::crds_yaml()
                .map_err(|e| Failure::environment(format!("cannot render the CRDs: {e}")))?;
            print!("{yaml}");
            Ok(ExitCode::from(exit::OK))
        }
    }
}

/// `kbind rbac`: the request groups of the given Promises, as a
/// ClusterRole and binding for the operator.
fn run_rbac(args: args::RbacArgs) -> Result<ExitCode, Failure> {
    let mut promises: Vec<(String, String)> = Vec::new();
    for path in &args.promises {
        let text = if path == "-" {
            std::io::read_to_string(std::io::stdin())
                .map_err(|e| Failure::input(format!("cannot read stdin: {e}")))?
        } else {
            std::fs::read_to_string(path)
                .map_err(|e| Failure::input(format!("cannot read {path}: {e}")))?
        };
        for (i, doc) in text.split("\n---").enumerate() {
            let object: serde_json::Value = kbind::yaml::from_str(doc)
                .map_err(|e| Failure::input(format!("{path}: document {}: {e}", i + 1)))?;
            // `kubectl get promises -o yaml` prints a List of them.
            let objects = match object["kind"].as_str() {
                Some("List") => object["items"].as_array().cloned().unwrap_or_default(),
                _ => vec![object],
            };
            for object in objects.iter().filter(|o| o["kind"] == "Promise") {
                let spec: kbind::api::PromiseSpec = serde_json::from_value(object["spec"].clone())
                    .map_err(|e| Failure::input(format!("{path}: document {}: {e}", i + 1)))?;
                let name = object["metadata"]["name"].as_str().unwrap_or("?");
                // A Promise without an API (dependencies only) has no
                // requests to grant.
                let Some(kind) = spec.request_kind() else {
                    eprintln!(
                        "{path}: Promise {name} has no spec.api (group, names.kind and names.plural): it has no requests, nothing to grant"
                    );
                    continue;
                };
                let entry = (name.to_string(), kind.group);
                if !promises.contains(&entry) {
                    promises.push(entry);
                }
            }
        }
    }
    if promises.is_empty() {
        return Err(Failure::input(
            "no Promise with an API (spec.api) in the files given",
        ));
    }
    print!(
        "{}",
        kbind::operator::access::manifest(&promises, &args.namespace)
    );
    Ok(ExitCode::from(exit::OK))
}

fn engine(global: &Global) -> Result<PolicyEngine, Failure> {
    let cache_dir = global.cache_root();
    Ok(PolicyEngine::new(EngineOptions {
        limits: global.limits(),
        cache_dir,
        ..Default::default()
    })?)
}

fn run_inspect(global: &Global, args: InspectArgs) -> Result<ExitCode, Failure> {
    let source = fetch::policy_source(global, &args.policy)?;
    let inspection = inspect::inspect(&engine(global)?, &source);
    output::print_inspection(global.output, &inspection)?;
    Ok(match &inspection.failure {
        None => ExitCode::from(exit::OK),
        Some(err) => Failure::from_ref(err).exit_code(),
    })
}

impl Failure {
    fn from_ref(err: &PolicyError) -> Self {
        Self {
            code: if err.is_decision_failure() {
                exit::DECISION_FAILED
            } else {
                exit::POLICY_UNUSABLE
            },
            message: err.to_string(),
        }
    }
}

fn read_input(path: &str) -> Result<InputDoc, Failure> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| Failure::input(format!("cannot read the input from stdin: {e}")))?
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| Failure::input(format!("cannot read input file {path}: {e}")))?
    };
    if text.trim().is_empty() {
        return Ok(InputDoc::default());
    }
    kbind::yaml::from_str(&text).map_err(|e| Failure::input(format!("invalid input {path}: {e}")))
}

fn run_eval(global: &Global, args: EvalArgs) -> Result<ExitCode, Failure> {
    let mut doc = match &args.input {
        Some(path) => read_input(path)?,
        None => InputDoc::default(),
    };
    let settings = args.settings.read().map_err(Failure::usage)?;
    let engine = engine(global)?;
    let source: PolicySource = fetch::policy_source(global, &args.policy)?;
    let evaluation = if args.decision == DecisionKind::ValidateSettings {
        if doc.settings.is_none() {
            doc.settings = Some(
                settings
                    .iter()
                    .map(|s| (s.name.clone(), s.value.clone()))
                    .collect(),
            );
        }
        eval::validate_settings(&engine, &source, args.sha256.as_deref(), &doc)
    } else {
        let (policy, _) = engine.load(&source, args.sha256.as_deref(), settings)?;
        eval::decide(&policy, args.decision, &doc)
    };
    match evaluation {
        Ok(evaluation) => {
            output::print_evaluation(global.output, &evaluation)?;
            Ok(ExitCode::from(exit::OK))
        }
        Err(EvalError::Policy(err)) if err.is_decision_failure() => {
            output::print_decision_failure(global.output, args.decision, &err)?;
            Ok(ExitCode::from(exit::DECISION_FAILED))
        }
        Err(err) => Err(err.into()),
    }
}

/// Suite files named on the command line; directories contribute their
/// `*.yaml`/`*.yml` files, sorted.
fn suite_files(paths: &[std::path::PathBuf]) -> Result<Vec<std::path::PathBuf>, Failure> {
    let mut files = vec![];
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path)
                .map_err(|e| Failure::input(format!("cannot list {}: {e}", path.display())))?;
            let mut found: Vec<_> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(Failure::input(format!(
                    "{} contains no *.yaml suites",
                    path.display()
                )));
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn run_test(global: &Global, args: TestArgs) -> Result<ExitCode, Failure> {
    let engine = engine(global)?;
    let policy = fetch::local_policy(global, args.policy.as_deref())?;
    let policy = policy.as_ref().map(|p| p.arg.as_str());
    let reports: Vec<_> = suite_files(&args.suites)?
        .iter()
        .map(|file| kbind::suite::run_file(&engine, file, policy))
        .collect();
    if let Some(path) = &args.junit {
        std::fs::write(path, kbind::suite::junit::render(&reports))
            .map_err(|e| Failure::environment(format!("cannot write {}: {e}", path.display())))?;
    }
    output::print_suites(global.output, &reports)?;
    let failed: usize = reports.iter().map(|r| r.failed()).sum();
    Ok(ExitCode::from(if failed == 0 {
        exit::OK
    } else {
        exit::DECISION_FAILED
    }))
}

fn run_simulate(global: &Global, args: SimulateArgs) -> Result<ExitCode, Failure> {
    let engine = engine(global)?;
    let policy = fetch::local_policy(global, args.policy.as_deref())?;
    let policy = policy.as_ref().map(|p| p.arg.as_str());
    let reports: Vec<_> = suite_files(&args.scenarios)?
        .iter()
        .map(|file| kbind::authoring::scenario_policy::run_file(&engine, file, policy))
        .collect();
    output::print_scenarios(global.output, &reports)?;
    let failed = reports.iter().filter(|r| !r.passed()).count();
    Ok(ExitCode::from(if failed == 0 {
        exit::OK
    } else {
        exit::DECISION_FAILED
    }))
}

fn run_bench(global: &Global, args: BenchArgs) -> Result<ExitCode, Failure> {
    use kbind::suite::bench::{self, BenchError, BenchReport};
    let engine = engine(global)?;
    let policy = fetch::local_policy(global, args.policy.as_deref())?;
    let report = bench::run(
        &engine,
        &args.suite,
        policy.as_ref().map(|p| p.arg.as_str()),
        args.iterations,
    )
    .map_err(|e| match e {
        BenchError::Policy(m) => Failure {
            code: exit::POLICY_UNUSABLE,
            message: m,
        },
        other => Failure::input(other.to_string()),
    })?;
    let regressions = match &args.compare {
        None => Vec::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::input(format!("cannot read baseline {}: {e}", path.display()))
            })?;
            let baseline: BenchReport = serde_json::from_str(&text)
                .map_err(|e| Failure::input(format!("invalid baseline {}: {e}", path.display())))?;
            bench::compare(&baseline, &report, args.max_regression)
        }
    };
    output::print_bench(global.output, &report, &regressions, args.max_regression)?;
    if let Some(path) = &args.save {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|e| Failure::environment(format!("cannot encode the baseline: {e}")))?;
        std::fs::write(path, json).map_err(|e| {
            Failure::environment(format!("cannot write the baseline {}: {e}", path.display()))
        })?;
    }
    Ok(ExitCode::from(if regressions.is_empty() {
        exit::OK
    } else {
        exit::DECISION_FAILED
    }))
}

fn run_compile(global: &Global, args: args::CompileArgs) -> Result<ExitCode, Failure> {
    if global.no_cache {
        return Err(Failure::usage(
            "kbind compile writes the compiled-policy cache; drop --no-cache",
        ));
    }
    let engine = engine(global)?;
    let source = match (&args.policy, &args.config) {
        (Some(policy), _) => fetch::policy_source(global, policy)?,
        (None, Some(config)) => {
            let spec = kbind::operator::hot_swap::PolicySpec {
                config_file: Some(config.clone()),
                registry: fetch::registry_options(global),
                ..Default::default()
            };
            spec.source()?
        }
        (None, None) => return Err(Failure::usage("give a policy or --config")),
    };
    let started = std::time::Instant::now();
    let compiled = engine.precompile(&source)?;
    output::print_compiled(global.output, &source, &compiled, started.elapsed())?;
    Ok(ExitCode::from(exit::OK))
}

fn run_push(global: &Global, args: args::PushArgs) -> Result<ExitCode, Failure> {
    let reference: kbind::oci::PolicyRef = args.reference.parse()?;
    let source = fetch::policy_source(global, &args.policy)?;
    // Only a component this kbind can serve is pushed.
    let shape = engine(global)?.check(&source)?;
    let component = kbind::oci::artifact::ComponentInfo {
        exports: shape.exports.clone(),
        imports: shape.imports.clone(),
        target: Some(format!("kbind:policy/policy@{}", shape.contract_version)),
    };
    let registry = kbind::oci::Registry::new(&fetch::registry_options(global))?;
    let pushed = kbind::oci::block_on(registry.push(&source.bytes, component, &reference))??;
    output::print_pushed(global.output, &reference, &pushed)?;
    Ok(ExitCode::from(exit::OK))
}

fn run_sandbox(global: &Global, args: SandboxArgs) -> Result<ExitCode, Failure> {
    let settings = args.settings.read().map_err(Failure::usage)?;
    // Loaded before the server starts, so a bad policy fails fast.
    let metrics = std::sync::Arc::new(kbind::operator::metrics::Metrics::new());
    let policy = if args.no_operator {
        None
    } else {
        let spec = kbind::operator::hot_swap::PolicySpec {
            policy: args.policy.clone(),
            settings,
            registry: fetch::registry_options(global),
            ..Default::default()
        };
        Some(operator::load_policy(global, spec, &metrics)?)
    };
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| Failure::environment(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
        let mut store = match &args.state {
            Some(path) => kbind::apiserver::ObjectStore::with_state_file(path).map_err(|e| {
                Failure::environment(format!("cannot use state file {}: {e}", path.display()))
            })?,
            None => kbind::apiserver::ObjectStore::new(),
        };
        store.set_event_ttl(args.event_ttl);
        let running = kbind::apiserver::serve(addr, kbind::apiserver::new_token(), store)
            .await
            .map_err(|e| Failure::environment(format!("cannot listen on {addr}: {e}")))?;
        // kbind's CRDs are served before anyone can reach the sandbox: the
        // kubeconfig is its "ready", and the operator starts without a
        // moment of "the API server does not serve ResourceBinding".
        if !args.no_crds {
            let client = sandbox_client(&running).await?;
            kbind::operator::install_crds(&client)
                .await
                .map_err(|e| Failure::environment(format!("cannot install kbind's CRDs: {e}")))?;
        }
        let path = args
            .kubeconfig
            .unwrap_or_else(kbind::apiserver::default_kubeconfig_path);
        running.write_kubeconfig(&path).map_err(|e| {
            Failure::environment(format!(
                "cannot write the kubeconfig to {}: {e}",
                path.display()
            ))
        })?;
        println!("kbind sandbox API server listening on {}", running.url());
        println!("kubeconfig written to {}", path.display());
        if let Some((slot, watcher)) = policy {
            let admin = sandbox_client(&running).await?;
            let client = if args.operator_as_admin {
                admin.clone()
            } else {
                let token = sandbox_account::operator_token(&admin).await?;
                sandbox_client_with(&running, Some(token)).await?
            };
            println!(
                "reconciling with policy {} as {} (workflow pods are run by a simulated node{})",
                kbind::policy::Policy::id(&*slot.current()),
                if args.operator_as_admin {
                    "the sandbox's admin".to_string()
                } else {
                    format!(
                        "ServiceAccount {}/{} (deploy/rbac.yaml)",
                        sandbox_account::OPERATOR_NAMESPACE,
                        sandbox_account::OPERATOR_ACCOUNT
                    )
                },
                if args.fail_versions.is_empty() {
                    String::new()
                } else {
                    format!("; they fail at {}", args.fail_versions.join(", "))
                }
            );
            // The simulated node stands in for a kubelet, which writes pod
            // status with its own rights, not the operator's.
            let runner = kbind::operator::SimulatedRunner {
                fail_versions: args.fail_versions.clone(),
            };
            tokio::spawn(runner.run(admin));
            tokio::spawn(kbind::operator::run(
                client,
                slot,
                metrics,
                watcher,
                operator::sandbox_options(),
                std::future::pending(),
            ));
        }
        if args.demo {
            let client = sandbox_client(&running).await?;
            println!(
                "\nthe user story, step by step (export KUBECONFIG={} to follow along):",
                path.display()
            );
            kbind::demo::run(client)
                .await
                .map_err(|e| Failure::environment(format!("the demo failed: {e}")))?;
            println!("\nthe story ran through the kbind operator (watches, work queue, planner) and the policy above.");
            if args.exit_after_demo {
                return Ok(ExitCode::from(exit::OK));
            }
        }
        println!("try:  export KUBECONFIG={}", path.display());
        if args.no_crds {
            println!("      kbind crds | kubectl apply -f -");
            println!("      kubectl wait --for=condition=Established crd --all");
        }
        // A request's kind is served only once the operator has installed
        // its Promise's CRD: one file holding both fails, as on a cluster.
        println!("      kubectl apply -f <your promise>");
        println!(
            "      kubectl wait --for=jsonpath='{{.status.status}}'=Available promise/<name>"
        );
        println!("      kubectl apply -f <your requests>");
        println!("      kubectl get resourcebindings -A");
        println!("press Ctrl-C to stop");
        let _ = tokio::signal::ctrl_c().await;
        Ok(ExitCode::from(exit::OK))
    })
}

/// A client of the sandbox holding `token`, else the admin token of its
/// kubeconfig.
async fn sandbox_client_with(
    running: &kbind::apiserver::Running,
    token: Option<String>,
) -> Result<kube::Client, Failure> {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&running.kubeconfig())
        .map_err(|e| Failure::environment(format!("sandbox kubeconfig: {e}")))?;
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .map_err(|e| Failure::environment(format!("sandbox kubeconfig: {e}")))?;
    if let Some(token) = token {
        config.auth_info.token = Some(token.into());
    }
    kube::Client::try_from(cluster::identified(config))
        .map_err(|e| Failure::environment(format!("sandbox client: {e}")))
}

async fn sandbox_client(running: &kbind::apiserver::Running) -> Result<kube::Client, Failure> {
    sandbox_client_with(running, None).await
}
