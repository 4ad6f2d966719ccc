//! `kbind pipeline …`: the helper containers kbind adds to workflow pods.

use std::process::ExitCode;

use kbind::pipeline_adapter::{self, AdapterError, Params};

use super::args::{PipelineArgs, PipelineCommand};
use super::{Failure, exit};

fn failure(err: AdapterError) -> Failure {
    match err {
        AdapterError::Yaml { .. }
        | AdapterError::KratixField { .. }
        | AdapterError::MissingEnv(_) => Failure::input(err.to_string()),
        _ => Failure::environment(err.to_string()),
    }
}

pub fn run_pipeline(args: PipelineArgs) -> Result<ExitCode, Failure> {
    let params = Params::from_env(|name| std::env::var(name).ok()).map_err(failure)?;
    super::cluster::runtime()?.block_on(async move {
        // In the pod: the ServiceAccount's in-cluster config (kube tries
        // $KUBECONFIG and ~/.kube/config first, which a pod has neither of).
        let client = kube::Client::try_default().await.map_err(|e| {
            Failure::environment(format!(
                "no cluster to talk to (in-cluster config, $KUBECONFIG, ~/.kube/config): {e}"
            ))
        })?;
        match args.command {
            PipelineCommand::Reader { input_dir } => {
                let path = pipeline_adapter::read(&client, &params, &input_dir)
                    .await
                    .map_err(failure)?;
                println!("Object file written to: {}", path.display());
            }
            PipelineCommand::UpdateStatus {
                metadata_dir,
                input_dir,
            } => {
                pipeline_adapter::update_status(&client, &params, &metadata_dir, &input_dir)
                    .await
                    .map_err(failure)?;
                println!("Status of {} updated", params.name);
            }
        }
        Ok(ExitCode::from(exit::OK))
    })
}
