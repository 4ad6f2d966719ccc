//! A real OCI registry for tests: the CNCF distribution registry (Debian's
//! `docker-registry`, which `.ci/run` installs) on a free loopback port.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::token_server::{ISSUER, SERVICE, TokenServer};

/// The user and password the secured registry accepts.
pub const USER: &str = "kbind";
pub const PASSWORD: &str = "s3cret-Pa55";
/// bcrypt of `PASSWORD` (the only hash the registry's htpasswd reads),
/// computed once with Python's `crypt.crypt("s3cret-Pa55", "$2b$05$kbindtestsaltkbindtest")`.
const PASSWORD_BCRYPT: &str = "$2b$05$kbindtestsaltkbindteseAPcpNUJMa4pDvTnJeSF6uCuKgPABLsG";

/// A registry on a free loopback port, stopped when dropped.
pub struct LocalRegistry {
    child: Child,
    pub host: String,
    _storage: tempfile::TempDir,
}

/// What a registry behind TLS and htpasswd needs, and what a client needs
/// to reach it.
pub struct Secured {
    /// The private CA that signed the registry's certificate (PEM).
    pub ca: PathBuf,
    dir: PathBuf,
}

impl Secured {
    /// An image pull secret's `.dockerconfigjson` holding `user:password`
    /// for `host` (see [`pull_secret_file`]).
    pub fn pull_secret_file(&self, host: &str, user: &str, password: &str) -> PathBuf {
        pull_secret_file(&self.dir, host, user, password)
    }
}

/// An image pull secret's `.dockerconfigjson` holding `user:password`
/// for `host`, as a Deployment mounts it: made by `kubectl create secret
/// docker-registry` where kubectl is installed, else written in the
/// same form (`username`, `password` and `auth`).
pub fn pull_secret_file(dir: &Path, host: &str, user: &str, password: &str) -> PathBuf {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let made = Command::new("kubectl")
        .args([
            "create",
            "secret",
            "docker-registry",
            "pull",
            "--dry-run=client",
            "-o",
        ])
        .arg("jsonpath={.data.\\.dockerconfigjson}")
        .arg(format!("--docker-server={host}"))
        .arg(format!("--docker-username={user}"))
        .arg(format!("--docker-password={password}"))
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| {
            b64.decode(out.stdout.trim_ascii())
                .expect("base64 from kubectl")
        });
    let json = made.unwrap_or_else(|| {
        let auth = b64.encode(format!("{user}:{password}"));
        serde_json::json!({"auths": {host: {
            "username": user, "password": password, "auth": auth,
        }}})
        .to_string()
        .into_bytes()
    });
    let path = dir.join(format!("dockerconfig-{user}-{}.json", password.len()));
    std::fs::write(&path, json).expect("docker config");
    path
}

/// Runs openssl, which every Debian machine has, to make a test PKI.
pub(super) fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private CA and a certificate for 127.0.0.1 it signed.
fn test_pki(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=kbind test CA"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(dir, &ca);
    let mut csr = vec!["req", "-subj", "/CN=127.0.0.1"];
    csr.extend(ec);
    csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
}

impl LocalRegistry {
    /// A plain-HTTP registry that lets anyone push and pull.
    pub fn start() -> Self {
        let storage = tempfile::tempdir().expect("tempdir");
        Self::start_with(storage, |_| String::new())
    }

    /// A registry as a private one is run: TLS with a certificate from a
    /// private CA, and htpasswd (basic) authentication for `USER`.
    pub fn start_secured() -> (Self, Secured) {
        let storage = tempfile::tempdir().expect("tempdir");
        let dir = storage.path().to_path_buf();
        test_pki(&dir);
        std::fs::write(dir.join("htpasswd"), format!("{USER}:{PASSWORD_BCRYPT}\n"))
            .expect("htpasswd");
        let registry = Self::start_with(storage, |dir| {
            format!(
                "  tls:\n    certificate: {0}/server.pem\n    key: {0}/server.key\n\
                 auth:\n  htpasswd:\n    realm: kbind-test\n    path: {0}/htpasswd\n",
                dir.display()
            )
        });
        let secured = Secured {
            ca: dir.join("ca.pem"),
            dir,
        };
        (registry, secured)
    }

    /// A registry as Docker Hub, GHCR or Harbor run one: plain HTTP here
    /// (TLS has its own test), each request without a token answered 401
    /// with a `Bearer` challenge naming a token server's realm, and tokens
    /// verified against that server's signing certificate.
    pub fn start_token_auth() -> (Self, TokenServer) {
        let storage = tempfile::tempdir().expect("tempdir");
        let tokens = TokenServer::start(storage.path());
        let registry = Self::start_with(storage, |_| {
            format!(
                "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n\
                 \x20   rootcertbundle: {}\n",
                tokens.realm,
                tokens.certificate.display()
            )
        });
        (registry, tokens)
    }

    /// `http_tail` continues the config's `http:` block (its lines are
    /// indented) and may add top-level sections after it.
    fn start_with(storage: tempfile::TempDir, http_tail: impl FnOnce(&Path) -> String) -> Self {
        let binary = std::env::var_os("KBIND_TEST_REGISTRY_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/docker-registry"));
        assert!(
            binary.exists(),
            "{} is missing: install Debian's docker-registry (.ci/run does)",
            binary.display()
        );
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
                 http:\n  addr: {host}\n{}",
                storage.path().join("data").display(),
                http_tail(storage.path()),
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
