//! A real OCI registry for tests: the CNCF distribution registry (Debian's
//! `docker-registry`, which `.ci/run` installs) on a free loopback port.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A registry on a free loopback port, stopped when dropped.
pub struct LocalRegistry {
    child: Child,
    pub host: String,
    _storage: tempfile::TempDir,
}

impl LocalRegistry {
    pub fn start() -> Self {
        let binary = std::env::var_os("KBIND_TEST_REGISTRY_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/docker-registry"));
        assert!(
            binary.exists(),
            "{} is missing: install Debian's docker-registry (.ci/run does)",
            binary.display()
        );
        let storage = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let host = format!("127.0.0.1:{port}");
        let config = storage.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: error, accesslog: {{disabled: true}}}}\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {host}\n",
                storage.path().join("data").display()
            ),
        )
        .expect("config");
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config)
            .spawn()
            .expect("docker-registry starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&host).is_err() {
            assert!(
                Instant::now() < deadline,
                "the registry did not listen on {host}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            host,
            _storage: storage,
        }
    }

    pub fn reference(&self, path: &str) -> String {
        format!("oci://{}/{path}", self.host)
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
