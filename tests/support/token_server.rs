//! A registry token server, as Docker Hub, GHCR, Harbor and GitLab run one
//! beside their registry: the registry answers 401 with a `Bearer` challenge
//! naming this server's realm; a client asks the realm for a token for the
//! scope it needs, with its basic credentials, and sends the token to the
//! registry. The tokens are JWTs the distribution registry verifies itself
//! (`auth.token` in its config): RS256, signed by a key whose self-signed
//! certificate is the registry's `rootcertbundle`, the certificate carried in
//! the header's `x5c`.
//!
//! Users: `USER` may pull and push, `READER` may only pull; anyone else, and
//! an anonymous request, gets 401 as a private registry's token server
//! answers.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use super::registry::{PASSWORD, USER, openssl};

/// A user the token server grants only `pull`.
pub const READER: &str = "reader";
pub const READER_PASSWORD: &str = "read-0nly";
/// What the registry and the tokens call each other.
pub const SERVICE: &str = "kbind-test-registry";
pub const ISSUER: &str = "kbind-test-token-issuer";

/// One token the server handed out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub user: String,
    /// `repository:<name>:<actions>` as granted (the actions the user may
    /// have of those asked for).
    pub scope: String,
}

pub struct TokenServer {
    /// The URL the registry's challenge names.
    pub realm: String,
    /// The signing key's certificate, for the registry's `rootcertbundle`.
    pub certificate: PathBuf,
    grants: Arc<Mutex<Vec<Grant>>>,
    refusals: Arc<Mutex<usize>>,
}

impl TokenServer {
    /// Makes a signing key in `dir` and serves tokens on a free loopback port
    /// until the test process ends.
    pub fn start(dir: &Path) -> Self {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=kbind test token issuer",
                "-keyout",
                "token.key",
                "-out",
                "token.pem",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-in",
                "token.pem",
                "-outform",
                "DER",
                "-out",
                "token.der",
            ],
        );
        let der = std::fs::read(dir.join("token.der")).expect("token certificate");
        let signer = Signer {
            key: dir.join("token.key"),
            x5c: base64::engine::general_purpose::STANDARD.encode(der),
        };
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let realm = format!(
            "http://{}/token",
            listener.local_addr().expect("bound address")
        );
        let grants = Arc::new(Mutex::new(Vec::new()));
        let refusals = Arc::new(Mutex::new(0));
        let (g, r) = (grants.clone(), refusals.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                serve(stream, &signer, &g, &r);
            }
        });
        Self {
            realm,
            certificate: dir.join("token.pem"),
            grants,
            refusals,
        }
    }

    /// The tokens handed out so far.
    pub fn grants(&self) -> Vec<Grant> {
        self.grants.lock().expect("grants").clone()
    }

    /// Token requests refused (no or wrong credentials).
    pub fn refusals(&self) -> usize {
        *self.refusals.lock().expect("refusals")
    }

    /// A token for `user` as the server hands them out, for a docker
    /// config's `registrytoken`.
    pub fn token_for(&self, user: &str, scope: &str) -> String {
        let url = format!("{}?service={SERVICE}&scope={scope}", self.realm);
        let password = if user == USER {
            PASSWORD
        } else {
            READER_PASSWORD
        };
        let out = Command::new("curl")
            .args(["-sf", "-u", &format!("{user}:{password}"), &url])
            .output()
            .expect("curl runs");
        assert!(out.status.success(), "the token server refused {user}");
        let body: serde_json::Value = serde_json::from_slice(&out.stdout).expect("token JSON");
        body["token"].as_str().expect("a token").to_string()
    }
}

struct Signer {
    key: PathBuf,
    /// The signing certificate, DER in standard base64, as `x5c` holds it.
    x5c: String,
}

impl Signer {
    fn token(&self, user: &str, scopes: &[(String, String, Vec<String>)]) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]});
        let access: Vec<_> = scopes
            .iter()
            .map(|(kind, name, actions)| {
                serde_json::json!({"type": kind, "name": name, "actions": actions})
            })
            .collect();
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": user, "aud": SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now,
            "jti": format!("{user}-{now}-{}", scopes.len()),
            "access": access,
        });
        let input = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        // RS256 is RSASSA-PKCS1-v1_5 over SHA-256: what `openssl dgst -sign`
        // writes for an RSA key, byte for byte the JWS signature.
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("openssl runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("signing input");
        let out = child.wait_with_output().expect("openssl signs");
        assert!(out.status.success(), "openssl dgst -sign failed");
        format!("{input}.{}", b64.encode(out.stdout))
    }
}

/// Answers one `GET /token?service=…&scope=…` (HTTP/1.1, then closes).
fn serve(stream: TcpStream, signer: &Signer, grants: &Mutex<Vec<Grant>>, refusals: &Mutex<usize>) {
    // One request at a time: a client that connects and says nothing must
    // not hold up the next.
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or_default();
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let user = headers
        .get("authorization")
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| match pair.split_once(':') {
            Some((USER, PASSWORD)) => Some(USER),
            Some((READER, READER_PASSWORD)) => Some(READER),
            _ => None,
        });
    let Some(user) = user else {
        *refusals.lock().expect("refusals") += 1;
        respond(
            stream,
            "401 Unauthorized",
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        );
        return;
    };
    let mut scopes = Vec::new();
    for (param, value) in form_urlencoded::parse(query.as_bytes()) {
        if param != "scope" {
            continue;
        }
        let mut parts = value.splitn(3, ':');
        let (Some(kind), Some(name), Some(actions)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let allowed: Vec<String> = actions
            .split(',')
            .filter(|a| *a == "pull" || (*a == "push" && user == USER))
            .map(str::to_string)
            .collect();
        let actions = allowed.join(",");
        grants.lock().expect("grants").push(Grant {
            user: user.to_string(),
            scope: format!("{kind}:{name}:{actions}"),
        });
        scopes.push((kind.to_string(), name.to_string(), allowed));
    }
    let token = signer.token(user, &scopes);
    let body = serde_json::json!({"token": token, "access_token": token, "expires_in": 300});
    respond(stream, "200 OK", &body.to_string());
}

fn respond(mut stream: TcpStream, status: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
}
