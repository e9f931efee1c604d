//! `ferry serve --print-config --registry`: nodes try the registry the bundle was pushed into
//! first (at the paths `ferry push` mapped), then the served bundle. Checked against a real
//! `docker-registry`: the locations the configuration names hold the pushed images.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use common::{ferry, s};
use support::{Registry, RegistryOptions};

#[test]
fn nodes_try_the_pushed_registry_first_at_the_paths_push_mapped() {
    support::require_tools();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let bundle = dir.path().join("example.tar");
    common::build_example(&cache, &bundle);
    let registry = Registry::start(RegistryOptions::plain());
    let target = format!("{}/platform", registry.host());
    let map = dir.path().join("image-map.json");
    ferry(
        &cache,
        &[
            "push",
            s(&bundle),
            "--to",
            &target,
            "--no-harbor",
            "--insecure-skip-signature",
            "--image-map",
            s(&map),
            "-q",
        ],
    )
    .ok();
    let config = dir.path().join("config");
    ferry(
        &cache,
        &[
            "serve",
            s(&bundle),
            "--insecure-skip-signature",
            "--print-config",
            "--advertise",
            "10.1.2.3:5000",
            "--registry",
            &target,
            "--registry-insecure",
            "--config-dir",
            s(&config),
        ],
    )
    .ok();

    // containerd: the pushed registry first (path rewritten), the bastion second.
    let hosts = std::fs::read_to_string(config.join("containerd/certs.d/example.local/hosts.toml"))
        .unwrap();
    let first = format!("[host.\"http://{}/v2/platform\"]", registry.host());
    let second = "[host.\"http://10.1.2.3:5000\"]";
    let (a, b) = (hosts.find(&first), hosts.find(second));
    assert!(a.is_some() && b.is_some() && a < b, "{hosts}");
    assert!(hosts.contains("override_path = true"), "{hosts}");
    // CRI-O: the same order.
    let crio =
        std::fs::read_to_string(config.join("crio/registries.conf.d/50-ferry.conf")).unwrap();
    let mirror = format!("location = \"{}/platform\"", registry.host());
    let (a, b) = (
        crio.find(&mirror),
        crio.find("location = \"10.1.2.3:5000/example.local\""),
    );
    assert!(a.is_some() && b.is_some() && a < b, "{crio}");

    // What a node would ask for at those locations is what push put there, at the digest.
    let pushed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&map).unwrap()).unwrap();
    let images: Vec<&serde_json::Value> = pushed
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "image")
        .collect();
    assert!(!images.is_empty(), "{pushed}");
    for entry in images {
        let original = entry["original"].as_str().unwrap();
        // example.local/demo/hello:1.0 -> demo/hello, 1.0 (what containerd asks the host for).
        let (_, rest) = original.split_once('/').unwrap();
        let (repository, tag) = rest.split_once(':').unwrap();
        let url = format!(
            "http://{}/v2/platform/{repository}/manifests/{tag}",
            registry.host()
        );
        let out = std::process::Command::new("curl")
            .args(["-fsSI", "-H"])
            .arg("Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json")
            .arg(&url)
            .output()
            .unwrap();
        let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
        let digest = entry["digest"].as_str().unwrap();
        assert!(
            out.status.success() && head.contains(&format!("docker-content-digest: {digest}")),
            "{url}: {head}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
