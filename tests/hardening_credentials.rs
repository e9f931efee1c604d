//! Smaller hardening cases (issue 16 §9): a docker-config `auth` that is not
//! base64 of `user:password` is an error naming the file and registry, and
//! `lock --check` on invalid TOML names the line and column.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::path::Path;

use base64::Engine as _;
use common::{ferry_env, s};
use support::{Registry, RegistryOptions};

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
fn a_broken_docker_config_auth_is_reported_with_its_file_and_registry() {
    support::require_tools();
    let registry = Registry::start(RegistryOptions::basic("alice", "s3cret"));
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), &format!("{}/team/app:1.0", registry.host()));
    let docker = dir.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let config = docker.join("config.json");
    let no_colon = base64::engine::general_purpose::STANDARD.encode("alice-s3cret");
    for (auth, reason) in [
        ("%%not base64%%", "not base64"),
        (no_colon.as_str(), "no colon"),
    ] {
        std::fs::write(
            &config,
            format!(
                "{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}",
                registry.host()
            ),
        )
        .unwrap();
        let run = ferry_env(
            &dir.path().join("cache"),
            &[("DOCKER_CONFIG", s(&docker))],
            &["lock", s(&spec)],
        )
        .failed();
        assert!(run.stderr.contains(s(&config)), "{}", run.stderr);
        assert!(run.stderr.contains(&registry.host()), "{}", run.stderr);
        assert!(run.stderr.contains(reason), "{}", run.stderr);
        assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);
    }
}

#[test]
fn the_credential_helper_runs_once_per_registry() {
    use std::os::unix::fs::PermissionsExt as _;
    support::require_tools();
    let registry = Registry::start(RegistryOptions::basic("alice", "s3cret"));
    let dir = tempfile::tempdir().unwrap();
    let mut layout = support::OciLayoutBuilder::new(dir.path().join("layout"));
    layout.add_image(Some("1.0"), &support::ImageSpec::with_layers(3, 1, 4096));
    support::skopeo::seed_as(
        &dir.path().join("layout"),
        "1.0",
        &registry,
        "team/app:1.0",
        support::SeedFormat::Oci,
        false,
        Some(("alice", "s3cret")),
    );
    let spec = spec(dir.path(), &format!("{}/team/app:1.0", registry.host()));
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-counting");
    std::fs::write(
        &helper,
        "#!/bin/sh\nread server\necho \"$server\" >> \"$0.log\"\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"alice\",\"Secret\":\"s3cret\"}' \"$server\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let docker = dir.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(
            "{{\"credHelpers\":{{\"{}\":\"counting\"}}}}",
            registry.host()
        ),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    ferry_env(
        &dir.path().join("cache"),
        &[("DOCKER_CONFIG", s(&docker)), ("PATH", &path)],
        &["lock", s(&spec)],
    )
    .ok();
    let asked = std::fs::read_to_string(bin.join("docker-credential-counting.log")).unwrap();
    assert_eq!(asked.lines().count(), 1, "the helper ran for: {asked}");
}

#[test]
fn a_registry_that_accepts_and_never_answers_fails_fast() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    // Accept and hold every connection, answering nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), &format!("{host}/team/app:1.0"));
    let started = std::time::Instant::now();
    let run = common::ferry(&dir.path().join("cache"), &["lock", s(&spec)]).failed();
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(15),
        "took {took:?}: {}",
        run.stderr
    );
    assert!(run.stderr.contains("did not answer"), "{}", run.stderr);
}

#[test]
fn lock_check_on_invalid_toml_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let spec = common::copy_example(dir.path());
    let lock = dir.path().join("examples/lockfiles/example.lock");
    std::fs::write(&lock, "version = 1\n[[image]\nreference = \"x\"\n").unwrap();
    let run = common::ferry(&dir.path().join("cache"), &["lock", s(&spec), "--check"]).failed();
    assert!(run.stderr.contains("line 2, column 8"), "{}", run.stderr);
}
