//! Registry credentials from Docker's config: credential helpers and
//! `credsStore`, run as Docker runs them (`docker-credential-<name> get`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{ferry_env, s};
use support::{ImageSpec, OciLayoutBuilder, Registry, RegistryOptions, SeedFormat};

/// Writes `docker-credential-<name>` answering `get` for `host` with the given credentials.
fn write_helper(bin: &Path, name: &str, host: &str, user: &str, secret: &str) {
    std::fs::create_dir_all(bin).unwrap();
    let path = bin.join(format!("docker-credential-{name}"));
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\necho \"$server\" >> \"$0.log\"\nif [ \"$server\" = \"{host}\" ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}' \"$server\"\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n"
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn spec(dir: &Path, reference: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("bundles")).unwrap();
    std::fs::create_dir_all(dir.join("vendor-manifests/app")).unwrap();
    std::fs::write(
        dir.join("vendor-manifests/app/1.0.yaml"),
        format!("apiVersion: ferry/v1\nkind: Component\nname: app\nversion: \"1.0\"\nlicense: MIT\nimages:\n  - ref: {reference}\n"),
    )
    .unwrap();
    let spec = dir.join("bundles/creds.yaml");
    std::fs::write(&spec, "apiVersion: ferry/v1\nkind: Bundle\nname: creds\nplatforms: [linux/amd64]\ncomponents:\n  - {name: app, version: \"1.0\"}\n").unwrap();
    spec
}

#[test]
fn credential_helpers_and_creds_store_are_used() {
    support::require_tools();
    let registry = Registry::start(RegistryOptions::basic("alice", "s3cret"));
    let dir = tempfile::tempdir().unwrap();
    let mut layout = OciLayoutBuilder::new(dir.path().join("layout"));
    layout.add_image(Some("1.0"), &ImageSpec::with_layers(3, 1, 4096));
    support::skopeo::seed_as(
        &dir.path().join("layout"),
        "1.0",
        &registry,
        "team/app:1.0",
        SeedFormat::Oci,
        false,
        Some(("alice", "s3cret")),
    );
    let spec = spec(dir.path(), &format!("{}/team/app:1.0", registry.host()));
    let bin = dir.path().join("bin");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let docker = dir.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let cache = dir.path().join("cache");
    let env = [
        ("DOCKER_CONFIG", docker.to_str().unwrap()),
        ("PATH", path.as_str()),
    ];

    // A per-registry helper.
    write_helper(&bin, "perhost", &registry.host(), "alice", "s3cret");
    std::fs::write(
        docker.join("config.json"),
        format!(
            "{{\"credHelpers\":{{\"{}\":\"perhost\"}}}}",
            registry.host()
        ),
    )
    .unwrap();
    ferry_env(&cache, &env, &["lock", s(&spec)]).ok();
    let asked = std::fs::read_to_string(bin.join("docker-credential-perhost.log")).unwrap();
    assert!(
        asked.lines().any(|l| l == registry.host()),
        "the helper was asked for the host: {asked}"
    );

    // The default store, with wrong credentials: a clear authentication error, no lock written.
    std::fs::remove_file(dir.path().join("lockfiles/creds.lock")).unwrap();
    write_helper(&bin, "store", &registry.host(), "alice", "wrong");
    std::fs::write(docker.join("config.json"), "{\"credsStore\":\"store\"}").unwrap();
    let run = ferry_env(&cache, &env, &["lock", s(&spec)]).failed();
    assert!(run.stderr.contains("authentication to"), "{}", run.stderr);
    assert!(!dir.path().join("lockfiles/creds.lock").exists());
    write_helper(&bin, "store", &registry.host(), "alice", "s3cret");
    ferry_env(&cache, &env, &["lock", s(&spec)]).ok();

    // A helper that is not installed is named in the error.
    std::fs::write(
        docker.join("config.json"),
        format!("{{\"credHelpers\":{{\"{}\":\"absent\"}}}}", registry.host()),
    )
    .unwrap();
    let run = ferry_env(&cache, &env, &["lock", s(&spec), "--check"]).failed();
    assert!(
        run.stderr.contains("docker-credential-absent"),
        "{}",
        run.stderr
    );
}
