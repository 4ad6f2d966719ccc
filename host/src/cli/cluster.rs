//! The cluster a command talks to: `--kubeconfig`, else in-cluster config,
//! `$KUBECONFIG` or `~/.kube/config`, as kubectl finds it.

use std::path::Path;

use super::Failure;

pub async fn config(kubeconfig: Option<&Path>) -> Result<kube::Config, Failure> {
    found(kubeconfig).await.map(identified)
}

/// Names kbind in every request's User-Agent (client-go's form:
/// `<program>/<version> (<os>/<arch>)`): what an API server's audit log
/// records, and the field manager it takes for a write that names none.
pub fn identified(mut config: kube::Config) -> kube::Config {
    let agent = format!(
        "kbind/{} ({}/{})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    if let Ok(value) = http::HeaderValue::from_str(&agent) {
        config.headers.push((http::header::USER_AGENT, value));
    }
    config
}

async fn found(kubeconfig: Option<&Path>) -> Result<kube::Config, Failure> {
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

#[cfg(test)]
mod tests {
    #[test]
    fn requests_name_kbind_as_client_go_names_a_program() {
        let config =
            super::identified(kube::Config::new("https://127.0.0.1:6443".parse().unwrap()));
        let agent = config
            .headers
            .iter()
            .find(|(name, _)| name == http::header::USER_AGENT)
            .map(|(_, value)| value.to_str().unwrap().to_string());
        let expected = format!(
            "kbind/{} ({}/{})",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        assert_eq!(agent, Some(expected));
    }
}
