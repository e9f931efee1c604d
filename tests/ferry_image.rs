//! ferry's own image, carried by the example bundle (`ferryImage: true`):
//! the same lock and the same ferry binary give the same image (and bundle);
//! `skopeo` reads it from the unpacked OCI layout and from a real
//! `docker-registry` after `ferry push`; the binary in its layer runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::path::Path;
use std::process::Command;

use common::{copy_example, ferry, s};
use support::skopeo::{skopeo, skopeo_copy_from_oci_layout};
use support::{require_tools, run_ok, Registry, RegistryOptions};

const REFERENCE: &str = "ferry.local/ferry:0.1.0";

fn build(cache: &Path, spec: &Path, out: &Path) -> serde_json::Value {
    ferry(
        cache,
        &["build", s(spec), "--locked", "-o", s(out), "--json", "-q"],
    )
    .ok()
    .json()
}

#[test]
fn the_same_binary_gives_the_same_image_and_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let one = build(&dir.path().join("c1"), &spec, &dir.path().join("one.tar"));
    let two = build(&dir.path().join("c2"), &spec, &dir.path().join("two.tar"));
    let image = &one["ferry_image"];
    assert_eq!(image["reference"], REFERENCE);
    assert!(image["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(image["digest"], two["ferry_image"]["digest"]);
    assert_eq!(one["root"], two["root"]);
    assert_eq!(one["sha256"], two["sha256"]);
    // The bundle's lock records the binary that went in (this ferry), by SHA-256.
    let binaries = image["binaries"].as_array().unwrap();
    let amd64 = binaries
        .iter()
        .find(|b| b["platform"] == "linux/amd64")
        .unwrap();
    let expected = format!(
        "sha256:{}",
        common::sha256_file(Path::new(env!("CARGO_BIN_EXE_ferry")))
    );
    assert_eq!(amd64["sha256"], expected.as_str());
    assert_eq!(amd64["source"], "self");
    // No arm64 binary was given: said, and recorded.
    let warnings = image["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("no linux/arm64 variant")),
        "{warnings:?}"
    );
    // The committed lock names ferry's image by version and source, not by digest.
    let lock = std::fs::read_to_string(dir.path().join("examples/lockfiles/example.lock")).unwrap();
    assert!(
        lock.contains("[ferry-image]\nversion = \"0.1.0\""),
        "{lock}"
    );
    assert!(!lock.contains(image["digest"].as_str().unwrap()));
    ferry(&dir.path().join("c1"), &["lock", s(&spec), "--check"]).ok();
}

#[test]
fn skopeo_reads_it_from_the_layout_and_its_binary_runs() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let cache = dir.path().join("cache");
    let bundle = dir.path().join("b.tar");
    build(&cache, &spec, &bundle);
    let layout = dir.path().join("layout");
    ferry(
        &cache,
        &[
            "unpack",
            s(&bundle),
            "-o",
            s(&layout),
            "--insecure-skip-signature",
        ],
    )
    .ok();
    let name = format!("oci:{}:{REFERENCE}", layout.display());
    let config: serde_json::Value =
        serde_json::from_str(&run_ok(skopeo().args(["inspect", "--config", &name]))).unwrap();
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/ferry"])
    );
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");
    assert_eq!(config["architecture"], "amd64");

    let copied = dir.path().join("copied");
    skopeo_copy_from_oci_layout(&layout, REFERENCE, &copied);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copied.join("manifest.json")).unwrap()).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "one layer");
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    let blob = copied.join(
        layers[0]["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:"),
    );
    let tar = dir.path().join("layer.tar");
    run_ok(Command::new("zstd").args(["-d", "-q", "-o", s(&tar), s(&blob)]));
    // Sorted, owned by root, time 0, no shell: the CA file and the binary only.
    let listing =
        run_ok(Command::new("tar").args(["--numeric-owner", "--full-time", "-tvf", s(&tar)]));
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "etc/",
            "etc/ssl/",
            "etc/ssl/certs/",
            "etc/ssl/certs/ca-certificates.crt",
            "ferry"
        ]
    );
    for line in listing.lines() {
        assert!(line.contains(" 0/0 "), "owner root: {line}");
        assert!(line.contains("1970-01-01 00:00:00"), "time 0: {line}");
    }
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    run_ok(Command::new("tar").args(["-xf", s(&tar), "-C", s(&root)]));
    let version = run_ok(Command::new(root.join("ferry")).arg("--version"));
    assert!(version.starts_with("ferry 0.1.0"), "{version}");
}

#[test]
fn skopeo_reads_it_from_a_registry_after_push() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let cache = dir.path().join("cache");
    let bundle = dir.path().join("b.tar");
    let built = build(&cache, &spec, &bundle);
    let registry = Registry::start(RegistryOptions::plain());
    let map = dir.path().join("map.json");
    ferry(
        &cache,
        &[
            "push",
            s(&bundle),
            "--to",
            &registry.host(),
            "--insecure-skip-signature",
            "--image-map",
            s(&map),
            "-q",
        ],
    )
    .ok();
    let mut args = vec!["inspect".to_owned(), "--raw".to_owned()];
    args.extend(registry.skopeo_args(""));
    args.push(format!("docker://{}/ferry:0.1.0", registry.host()));
    let raw = run_ok(skopeo().args(&args));
    let digest = format!("sha256:{}", support::sha256_hex(raw.as_bytes()));
    assert_eq!(digest, built["ferry_image"]["digest"].as_str().unwrap());
    let map_text = std::fs::read_to_string(&map).unwrap();
    assert!(map_text.contains(REFERENCE), "{map_text}");
}
