//! The cluster a command talks to: `--kubeconfig`, else in-cluster config,
//! `$KUBECONFIG` or `~/.kube/config`, as kubectl finds it.

use std::path::Path;

use super::Failure;

pub async fn config(kubeconfig: Option<&Path>) -> Result<kube::Config, Failure> {
    match kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| {
                Failure::input(format!("cannot read kubeconfig {}: {e}", path.display()))
            })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(|e| Failure::input(format!("kubeconfig {}: {e}", path.display())))
        }
        None => kube::Config::infer().await.map_err(|e| {
            Failure::environment(format!(
                "no cluster to talk to (in-cluster config, $KUBECONFIG, ~/.kube/config): {e}"
            ))
        }),
    }
}

/// The runtime a one-shot command talks to a cluster on.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::environment(format!("cannot start the async runtime: {e}")))
}

pub async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client, Failure> {
    kube::Client::try_from(config(kubeconfig).await?)
        .map_err(|e| Failure::environment(format!("cannot make a Kubernetes client: {e}")))
}
