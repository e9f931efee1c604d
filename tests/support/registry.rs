//! A real CNCF distribution 2.8 registry (`docker-registry serve`) per test.

use super::tls::TestCerts;
use super::{find_in_path, free_port, run_ok, tail_file, token_server_script};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Users of the token service: (name, password, actions), as in the shared recipe.
pub const TOKEN_USERS: &[(&str, &str, &str)] = &[
    ("ferry", "ferry-pass", "pull+push+delete"),
    ("reader", "reader-pass", "pull"),
    ("admin", "Harbor12345", "*"),
    ("robot$library+ferry", "robot-secret", "pull+push"),
];

/// Token service name (JWT audience), as Harbor uses it.
pub const TOKEN_SERVICE: &str = "harbor-registry";
/// Token issuer name, as Harbor uses it.
pub const TOKEN_ISSUER: &str = "harbor-token-issuer";

/// Authentication mode of a test registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Anonymous pull and push.
    None,
    /// htpasswd (bcrypt) basic auth with one user; any valid user may pull and push.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// Harbor-like bearer tokens from `token_server.py` (users in [`TOKEN_USERS`]).
    Token,
}

impl Auth {
    /// Basic auth with the given user and password.
    pub fn basic(user: &str, password: &str) -> Auth {
        Auth::Basic {
            user: user.to_string(),
            password: password.to_string(),
        }
    }
}

/// Options for [`Registry::start`].
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Authentication mode.
    pub auth: Auth,
    /// Serve HTTPS with a generated test CA (the token service then uses HTTPS too).
    pub tls: bool,
}

impl RegistryOptions {
    /// Plain HTTP, anonymous.
    pub fn plain() -> RegistryOptions {
        RegistryOptions::default()
    }

    /// Plain HTTP with htpasswd basic auth for `user`/`password`.
    pub fn basic(user: &str, password: &str) -> RegistryOptions {
        RegistryOptions {
            auth: Auth::basic(user, password),
            tls: false,
        }
    }

    /// Plain HTTP with Harbor-like token auth.
    pub fn token() -> RegistryOptions {
        RegistryOptions {
            auth: Auth::Token,
            tls: false,
        }
    }

    /// The same options with TLS switched on.
    pub fn with_tls(mut self) -> RegistryOptions {
        self.tls = true;
        self
    }
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            auth: Auth::None,
            tls: false,
        }
    }
}

/// One request from the registry's access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// HTTP method.
    pub method: String,
    /// Request target (path and query), as logged.
    pub uri: String,
    /// Response status code.
    pub status: u16,
}

/// Classes of registry requests that tests commonly count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// Any request.
    Any,
    /// `POST /v2/<repo>/blobs/uploads/` (upload start, monolithic POST or mount).
    BlobUploadPost,
    /// `PATCH /v2/<repo>/blobs/uploads/<id>` (chunk).
    BlobUploadPatch,
    /// `PUT /v2/<repo>/blobs/uploads/<id>?digest=` (upload completion).
    BlobUploadPut,
    /// A blob upload that completed with 201 (PUT completion, monolithic POST or mount).
    BlobUploadCompleted,
    /// `POST …/blobs/uploads/?mount=…` (cross-repository mount attempt).
    BlobMount,
    /// `GET /v2/<repo>/blobs/<digest>`.
    BlobGet,
    /// `HEAD /v2/<repo>/blobs/<digest>`.
    BlobHead,
    /// `GET /v2/<repo>/manifests/<ref>`.
    ManifestGet,
    /// `HEAD /v2/<repo>/manifests/<ref>`.
    ManifestHead,
    /// `PUT /v2/<repo>/manifests/<ref>`.
    ManifestPut,
    /// `DELETE /v2/<repo>/manifests/<ref>`.
    ManifestDelete,
}

impl RequestKind {
    /// Whether a logged request belongs to this kind.
    pub fn matches(self, r: &LoggedRequest) -> bool {
        let m = r.method.as_str();
        let u = r.uri.as_str();
        let uploads = u.contains("/blobs/uploads/");
        let blobs = u.contains("/blobs/") && !uploads;
        let manifests = u.contains("/manifests/");
        match self {
            RequestKind::Any => true,
            RequestKind::BlobUploadPost => m == "POST" && uploads,
            RequestKind::BlobUploadPatch => m == "PATCH" && uploads,
            RequestKind::BlobUploadPut => m == "PUT" && uploads,
            RequestKind::BlobUploadCompleted => {
                (m == "PUT" || m == "POST") && uploads && r.status == 201
            }
            RequestKind::BlobMount => m == "POST" && uploads && u.contains("mount="),
            RequestKind::BlobGet => m == "GET" && blobs,
            RequestKind::BlobHead => m == "HEAD" && blobs,
            RequestKind::ManifestGet => m == "GET" && manifests,
            RequestKind::ManifestHead => m == "HEAD" && manifests,
            RequestKind::ManifestPut => m == "PUT" && manifests,
            RequestKind::ManifestDelete => m == "DELETE" && manifests,
        }
    }
}

struct TokenServer {
    child: Child,
    realm: String,
    log: PathBuf,
}

/// A running `docker-registry serve` process; killed on drop.
pub struct Registry {
    opts: RegistryOptions,
    dir: TempDir,
    port: u16,
    child: Option<Child>,
    certs: Option<TestCerts>,
    token: Option<TokenServer>,
}

impl Registry {
    /// Starts a registry on a free 127.0.0.1 port and waits until `/v2/` answers.
    pub fn start(opts: RegistryOptions) -> Registry {
        super::require_tools();
        let dir = tempfile::Builder::new()
            .prefix("ferry-registry-")
            .tempdir()
            .expect("registry tempdir");
        std::fs::create_dir_all(dir.path().join("data")).expect("create data dir");
        let certs = if opts.tls {
            Some(TestCerts::generate(&dir.path().join("certs")))
        } else {
            None
        };
        let mut reg = Registry {
            opts,
            dir,
            port: 0,
            child: None,
            certs,
            token: None,
        };
        let auth_yaml = reg.prepare_auth();
        let mut last_err = String::new();
        for _attempt in 0..5 {
            reg.port = free_port();
            reg.write_config(&auth_yaml);
            match reg.spawn_and_wait() {
                Ok(()) => return reg,
                Err(e) => last_err = e,
            }
        }
        panic!("docker-registry did not start:\n{last_err}");
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port the registry listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme(), self.host())
    }

    /// `"https"` when TLS is on, else `"http"`.
    pub fn scheme(&self) -> &'static str {
        if self.opts.tls {
            "https"
        } else {
            "http"
        }
    }

    /// The options the registry was started with.
    pub fn options(&self) -> &RegistryOptions {
        &self.opts
    }

    /// Whether the registry serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.opts.tls
    }

    /// PEM CA certificate that signed the server certificate (TLS only).
    pub fn ca_cert_path(&self) -> Option<&Path> {
        self.certs.as_ref().map(|c| c.ca_cert.as_path())
    }

    /// Directory holding only `ca.crt`, for skopeo `--cert-dir` (TLS only).
    pub fn cert_dir(&self) -> Option<&Path> {
        self.certs.as_ref().map(|c| c.cert_dir.as_path())
    }

    /// The generated certificate files (TLS only).
    pub fn certs(&self) -> Option<&TestCerts> {
        self.certs.as_ref()
    }

    /// Credentials with push rights: Basic's user, or `ferry:ferry-pass` for Token; None if anonymous.
    pub fn credentials(&self) -> Option<(String, String)> {
        match &self.opts.auth {
            Auth::None => None,
            Auth::Basic { user, password } => Some((user.clone(), password.clone())),
            Auth::Token => Some((TOKEN_USERS[0].0.to_string(), TOKEN_USERS[0].1.to_string())),
        }
    }

    /// Token realm URL (`http(s)://127.0.0.1:P/service/token`) for Token auth.
    pub fn realm(&self) -> Option<&str> {
        self.token.as_ref().map(|t| t.realm.as_str())
    }

    /// Log file of the token service (Token auth only).
    pub fn token_log_path(&self) -> Option<&Path> {
        self.token.as_ref().map(|t| t.log.as_path())
    }

    /// The registry's combined stdout/stderr log (appended across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// The registry's storage root directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The generated `config.yml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yml")
    }

    /// Whether the registry process is currently running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the registry process (storage is kept; the token service keeps running).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Wait until the port is closed so that a restart can bind it again.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && TcpStream::connect(self.host()).is_ok() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the registry again on the same port with the same storage and config.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.spawn_and_wait() {
            panic!("docker-registry did not restart:\n{e}");
        }
    }

    /// All requests in the access log so far (including previous runs before a restart).
    ///
    /// Parses the combined-log lines distribution 2.8 writes at info level for every request,
    /// e.g. `127.0.0.1 - - [26/Nov/2026:07:19:45 +0000] "PUT /v2/x/blobs/uploads/…?digest=… HTTP/1.1" 201 0 "" "skopeo/1.9.3"`.
    ///
    /// Waits until the log has been quiet for 100 ms first: distribution writes the access
    /// line just after the response, so a client can finish before its last line is logged.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.settle_log();
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        text.lines().filter_map(parse_access_line).collect()
    }

    /// Number of logged requests of a kind.
    pub fn count(&self, kind: RequestKind) -> usize {
        self.requests().iter().filter(|r| kind.matches(r)).count()
    }

    /// Number of logged requests of a kind that succeeded (status < 400; skips 401 challenges).
    pub fn count_success(&self, kind: RequestKind) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.status < 400 && kind.matches(r))
            .count()
    }

    /// Number of logged requests with this method whose URI contains `uri_contains`.
    pub fn count_requests(&self, method: &str, uri_contains: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.uri.contains(uri_contains))
            .count()
    }

    /// Waits (max 2 s) until the registry log has not grown for 100 ms.
    pub fn settle_log(&self) {
        let size = || {
            std::fs::metadata(self.log_path())
                .map(|m| m.len())
                .unwrap_or(0)
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut last = size();
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = size();
            if now == last || Instant::now() > deadline {
                return;
            }
            last = now;
        }
    }

    /// skopeo TLS/credential flags for this registry; `prefix` is "", "src-" or "dest-".
    pub fn skopeo_args(&self, prefix: &str) -> Vec<String> {
        let mut args = Vec::new();
        match self.cert_dir() {
            Some(d) => args.push(format!("--{prefix}cert-dir={}", d.display())),
            None => args.push(format!("--{prefix}tls-verify=false")),
        }
        if let Some((u, p)) = self.credentials() {
            args.push(format!("--{prefix}creds={u}:{p}"));
        }
        args
    }

    /// Same as [`Registry::skopeo_args`] but with explicit credentials (or none).
    pub fn skopeo_args_as(&self, prefix: &str, creds: Option<(&str, &str)>) -> Vec<String> {
        let mut args = Vec::new();
        match self.cert_dir() {
            Some(d) => args.push(format!("--{prefix}cert-dir={}", d.display())),
            None => args.push(format!("--{prefix}tls-verify=false")),
        }
        if let Some((u, p)) = creds {
            args.push(format!("--{prefix}creds={u}:{p}"));
        }
        args
    }

    /// curl flags (`--cacert`, `-u`) to talk to this registry (basic auth / TLS).
    pub fn curl_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(ca) = self.ca_cert_path() {
            args.push("--cacert".to_string());
            args.push(ca.display().to_string());
        }
        if let Auth::Basic { user, password } = &self.opts.auth {
            args.push("-u".to_string());
            args.push(format!("{user}:{password}"));
        }
        args
    }

    // ------------------------------------------------------------------ internals

    fn prepare_auth(&mut self) -> String {
        let d = self.dir.path().to_path_buf();
        match self.opts.auth.clone() {
            Auth::None => String::new(),
            Auth::Basic { user, password } => {
                let htpasswd = d.join("htpasswd");
                let line = run_ok(
                    Command::new("htpasswd")
                        .args(["-nbB", "-C", "5"])
                        .arg(&user)
                        .arg(&password),
                );
                let line = line.lines().next().unwrap_or_default().to_string();
                std::fs::write(&htpasswd, format!("{line}\n")).expect("write htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: basic-realm\n    path: '{}'\n",
                    htpasswd.display()
                )
            }
            Auth::Token => {
                let key = d.join("token.key");
                let crt = d.join("token.crt");
                run_ok(
                    Command::new("openssl")
                        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256"])
                        .args(["-days", "3650", "-subj", "/CN=harbor-token-issuer"])
                        .arg("-keyout")
                        .arg(&key)
                        .arg("-out")
                        .arg(&crt),
                );
                let token = self.spawn_token_server(&key, &crt);
                let yaml = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: '{}'\n",
                    token.realm,
                    crt.display()
                );
                self.token = Some(token);
                yaml
            }
        }
    }

    fn spawn_token_server(&self, key: &Path, crt: &Path) -> TokenServer {
        let script = token_server_script();
        let python = find_in_path("python3").unwrap_or_else(|| {
            panic!("python3 is needed to run {} (token auth)", script.display())
        });
        let d = self.dir.path();
        let port_file = d.join("token.port");
        let log = d.join("token.log");
        let logf = File::create(&log).expect("create token.log");
        let mut cmd = Command::new(python);
        cmd.arg(&script)
            .args(["--listen", "127.0.0.1:0", "--port-file"])
            .arg(&port_file)
            .arg("--key")
            .arg(key)
            .arg("--cert")
            .arg(crt)
            .args(["--issuer", TOKEN_ISSUER, "--service", TOKEN_SERVICE])
            .args(["--kid-mode", "libtrust"]);
        for (u, p, a) in TOKEN_USERS {
            cmd.arg("--user").arg(format!("{u}:{p}:{a}"));
        }
        if let Some(c) = &self.certs {
            cmd.arg("--tls-cert")
                .arg(&c.server_cert)
                .arg("--tls-key")
                .arg(&c.server_key);
        }
        cmd.stdin(Stdio::null())
            .stdout(logf.try_clone().expect("clone log fd"))
            .stderr(logf);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start token_server.py: {e}"));
        let deadline = Instant::now() + Duration::from_secs(15);
        let port = loop {
            if let Ok(s) = std::fs::read_to_string(&port_file) {
                if let Ok(p) = s.trim().parse::<u16>() {
                    break p;
                }
            }
            if let Ok(Some(st)) = child.try_wait() {
                panic!(
                    "token_server.py exited ({st}) before listening:\n{}",
                    tail_file(&log, 30)
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "token_server.py did not start within 15 s:\n{}",
                    tail_file(&log, 30)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let scheme = if self.opts.tls { "https" } else { "http" };
        TokenServer {
            child,
            realm: format!("{scheme}://127.0.0.1:{port}/service/token"),
            log,
        }
    }

    fn write_config(&self, auth_yaml: &str) {
        let tls_yaml = match &self.certs {
            Some(c) => format!(
                "  tls:\n    certificate: '{}'\n    key: '{}'\n",
                c.server_cert.display(),
                c.server_key.display()
            ),
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  fields:\n    service: registry\n\
             storage:\n  filesystem:\n    rootdirectory: '{data}'\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: ferry-test-http-secret\n{tls_yaml}\
             {auth_yaml}\
             health:\n  storagedriver:\n    enabled: false\n",
            data = self.data_dir().display(),
            port = self.port,
        );
        std::fs::write(self.config_path(), config).expect("write config.yml");
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log_path = self.log_path();
        let start_len = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        let logf = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open registry.log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(logf.try_clone().expect("clone log fd"))
            .stderr(logf)
            .spawn()
            .map_err(|e| format!("cannot spawn docker-registry: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let new_log = read_from(&log_path, start_len);
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    self.child = None;
                    return Err(format!("docker-registry exited ({st}):\n{new_log}"));
                }
            }
            if new_log.contains("listening on") && self.v2_answers() {
                return Ok(());
            }
            if Instant::now() > deadline {
                if let Some(mut c) = self.child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                return Err(format!(
                    "docker-registry did not answer /v2/ within 20 s:\n{new_log}"
                ));
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Plain HTTP: GET /v2/ gives 200/401. TLS: the port accepts connections (listener is up).
    fn v2_answers(&self) -> bool {
        if self.opts.tls {
            return TcpStream::connect(self.host()).is_ok();
        }
        matches!(
            raw_http_status(&self.host(), "GET", "/v2/"),
            Some(200 | 401)
        )
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(mut t) = self.token.take() {
            let _ = t.child.kill();
            let _ = t.child.wait();
        }
    }
}

fn read_from(path: &Path, offset: u64) -> String {
    let data = std::fs::read(path).unwrap_or_default();
    let start = (offset as usize).min(data.len());
    String::from_utf8_lossy(&data[start..]).into_owned()
}

/// Sends one plain-HTTP request without body and returns the status code, if any.
pub fn raw_http_status(host: &str, method: &str, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < 12 {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&got);
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Parses one combined-log access line: `ip - user [date] "METHOD URI PROTO" STATUS SIZE …`.
pub fn parse_access_line(line: &str) -> Option<LoggedRequest> {
    if line.starts_with("time=") {
        return None;
    }
    let close = line.find("] \"")?;
    let rest = &line[close + 3..];
    let end = rest.find('"')?;
    let mut req = rest[..end].split(' ');
    let method = req.next()?.to_string();
    let uri = req.next()?.to_string();
    let proto = req.next()?;
    if !proto.starts_with("HTTP/") {
        return None;
    }
    let status = rest[end + 1..].split_whitespace().next()?.parse().ok()?;
    Some(LoggedRequest {
        method,
        uri,
        status,
    })
}
