//! Helpers shared by the double's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use kube_double::{Double, Options};
use serde_json::Value;

/// A double with TLS and the default token, and a temp dir holding its kubeconfig.
pub struct Env {
    pub double: Double,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

pub fn env(opts: Options) -> Env {
    let double = Double::spawn(opts).expect("the double starts");
    let dir = tempfile::tempdir().expect("a temp dir");
    let kubeconfig = dir.path().join("kubeconfig");
    double
        .write_kubeconfig(&kubeconfig)
        .expect("the kubeconfig is written");
    Env {
        double,
        dir,
        kubeconfig,
    }
}

/// Runs kubectl against the double (its own discovery cache); fails loudly without kubectl.
pub fn kubectl(env: &Env, args: &[&str]) -> Output {
    let kubectl = Path::new("/usr/bin/kubectl");
    assert!(
        kubectl.exists(),
        "kubectl is required at /usr/bin/kubectl for these tests and is missing"
    );
    let cache = env.dir.path().join("kube-cache");
    Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .arg("--cache-dir")
        .arg(&cache)
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("kubectl runs")
}

/// Runs kubectl and requires success; returns stdout.
pub fn kubectl_ok(env: &Env, args: &[&str]) -> String {
    let out = kubectl(env, args);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `check` until it returns true or `limit` passes.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    check()
}

/// An HTTP client for the double's API with its CA and token.
pub struct Client {
    pub http: reqwest::blocking::Client,
    pub base: String,
    pub token: Option<String>,
}

impl Client {
    pub fn new(double: &Double) -> Client {
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(20))
            .user_agent("library-test/1.0");
        if let Some(ca) = double.ca_pem() {
            builder = builder.add_root_certificate(
                reqwest::Certificate::from_pem(ca.as_bytes()).expect("the CA parses"),
            );
        }
        Client {
            http: builder.build().expect("a client"),
            base: double.url(),
            token: double.token(),
        }
    }

    pub fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("Content-Type", content_type).body(b.to_string());
        }
        let resp = req.send().expect("the request is sent");
        let code = resp.status().as_u16();
        let text = resp.text().expect("a body");
        (
            code,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, "", None)
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send("POST", path, "application/json", Some(body))
    }

    pub fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send("PUT", path, "application/json", Some(body))
    }

    pub fn patch(&self, path: &str, content_type: &str, body: &Value) -> (u16, Value) {
        self.send("PATCH", path, content_type, Some(body))
    }

    pub fn apply(&self, path: &str, manager: &str, force: bool, body: &Value) -> (u16, Value) {
        let sep = if path.contains('?') { '&' } else { '?' };
        self.patch(
            &format!("{path}{sep}fieldManager={manager}&force={force}"),
            "application/apply-patch+yaml",
            body,
        )
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        self.send("DELETE", path, "", None)
    }
}

/// The managers (and operations) of an object's managedFields.
pub fn managers(object: &Value) -> Vec<(String, String)> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["manager"].as_str().unwrap_or_default().to_string(),
                        e["operation"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
