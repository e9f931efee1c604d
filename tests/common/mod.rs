//! Helpers shared by the CLI tests: run the `ferry` binary, copy the example.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The result of one `ferry` run.
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with the whole output unless the run succeeded.
    pub fn ok(self) -> Self {
        assert_eq!(
            self.status, 0,
            "ferry failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Panics unless the run failed; returns it for message checks.
    pub fn failed(self) -> Self {
        assert_ne!(
            self.status, 0,
            "ferry unexpectedly succeeded:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// The stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

fn to_run(output: Output) -> Run {
    Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `ferry ARGS` with a private cache and extra environment.
pub fn ferry_env(cache: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command
        .args(args)
        .env("FERRY_CACHE_DIR", cache)
        .env_remove("SOURCE_DATE_EPOCH");
    command.env("DOCKER_CONFIG", cache.join("no-docker-config"));
    // Never touch the real site seed in ~/.config.
    command.env("FERRY_SEED_FILE", cache.with_extension("seed"));
    for (key, value) in env {
        command.env(key, value);
    }
    to_run(command.output().expect("run ferry"))
}

/// Runs `ferry ARGS` with a private cache.
pub fn ferry(cache: &Path, args: &[&str]) -> Run {
    ferry_env(cache, &[], args)
}

/// Runs `ferry key generate` into `key` and `public` (plus `extra` flags), with `env`.
pub fn generate_key(
    cache: &Path,
    env: &[(&str, &str)],
    key: &Path,
    public: &Path,
    extra: &[&str],
) -> Run {
    let mut args = vec![
        "key",
        "generate",
        "--output-key",
        s(key),
        "--output-pub",
        s(public),
    ];
    args.extend_from_slice(extra);
    ferry_env(cache, env, &args)
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Copies `examples/` into `dir/examples` (so a test may edit it); returns the spec path.
pub fn copy_example(dir: &Path) -> PathBuf {
    let target = dir.join("examples");
    for sub in ["bundles", "vendor-manifests", "lockfiles", "upstream"] {
        copy_dir(&repo_root().join("examples").join(sub), &target.join(sub));
    }
    target.join("bundles").join("example.yaml")
}

/// SHA-256 of a file, hex (streamed).
pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut std::fs::File::open(path).unwrap(), &mut hasher).unwrap();
    hex::encode(hasher.finalize())
}

/// A path as `&str`.
pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Builds the example bundle (`examples/bundles/example.yaml`, offline) into `out` with cache `cache`.
pub fn build_example(cache: &Path, out: &Path) {
    let spec = repo_root().join("examples/bundles/example.yaml");
    ferry(
        cache,
        &["build", s(&spec), "--locked", "-o", s(out), "--quiet"],
    )
    .ok();
}

/// Writes `vendor-manifests/<name>/<version>.yaml` under `root`.
pub fn write_component(root: &Path, name: &str, version: &str, body: &str) {
    let dir = root.join("vendor-manifests").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let text = format!(
        "apiVersion: ferry/v1\nkind: Component\nname: {name}\nversion: {version}\nlicense: Apache-2.0\n{body}"
    );
    std::fs::write(dir.join(format!("{version}.yaml")), text).unwrap();
}

/// Writes `bundles/<name>.yaml` (version 1.0.0, linux/amd64 + linux/arm64, one component).
pub fn write_spec(root: &Path, name: &str, component: &str) -> PathBuf {
    let dir = root.join("bundles");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: ferry/v1\nkind: Bundle\nname: {name}\nversion: 1.0.0\nplatforms: [linux/amd64, linux/arm64]\ncomponents:\n  - name: {component}\n    version: 1.0.0\n"
        ),
    )
    .unwrap();
    path
}

/// Locks and builds `spec` into `out` (plain tar); returns the parsed lock.
pub fn lock_and_build(root: &Path, spec: &Path, name: &str, out: &Path) -> toml::Value {
    lock_and_build_with(root, spec, name, out, &[])
}

/// [`lock_and_build`] with extra `ferry build` arguments (`--sign-key KEY`).
pub fn lock_and_build_with(
    root: &Path,
    spec: &Path,
    name: &str,
    out: &Path,
    extra: &[&str],
) -> toml::Value {
    let cache = root.join("cache");
    ferry(&cache, &["lock", s(spec)]).ok();
    let mut args = vec!["build", s(spec), "--locked", "-o", s(out), "--json"];
    args.extend_from_slice(extra);
    let report = ferry(&cache, &args).ok().json();
    assert_eq!(
        report["sha256"].as_str().unwrap(),
        format!("sha256:{}", sha256_file(out))
    );
    let text =
        std::fs::read_to_string(root.join("lockfiles").join(format!("{name}.lock"))).unwrap();
    toml::from_str(&text).unwrap()
}

/// `$DOCKER_CONFIG/config.json` with credentials for `host`; returns the directory.
pub fn docker_config(dir: &Path, host: &str, user: &str, password: &str) -> PathBuf {
    use base64::Engine as _;
    use sha2::Digest;
    let config_dir = dir.join(format!(
        "docker-{user}-{}",
        hex::encode(sha2::Sha256::digest(password.as_bytes()))
    ));
    std::fs::create_dir_all(&config_dir).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let json = serde_json::json!({ "auths": { host: { "auth": auth } } });
    std::fs::write(config_dir.join("config.json"), json.to_string()).unwrap();
    config_dir
}

/// The Helm SDK's Python, from the venv `../shared/tools/helm-template` creates (fails loudly without it).
pub fn helm_python() -> PathBuf {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/helm-template");
    assert!(
        tool.exists(),
        "{} is missing: the real Helm is needed",
        tool.display()
    );
    let status = Command::new(&tool)
        .arg("--help")
        .output()
        .expect("run helm-template");
    assert!(
        status.status.success(),
        "helm-template could not set up its venv: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let venv = std::env::var_os("HELM_TEMPLATE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/helm-template-venv")
        });
    venv.join("bin/python")
}
