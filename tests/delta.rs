//! Delta bundles: only what the base lacks, verifiable alone, pushed and
//! served on top of their base, refused against the wrong base before any write.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{copy_example, ferry, s};
use support::{ImageSpec, OciLayoutBuilder, Registry, RegistryOptions, RequestKind};

const SKIP: &str = "--insecure-skip-signature";

/// Adds an image from a fresh layout to the example's `hello` component.
fn add_extra_image(examples: &Path) {
    let layout = examples.join("upstream/extra-layout");
    let mut builder = OciLayoutBuilder::new(&layout);
    builder.add_image(
        Some("example.local/demo/extra:1.0"),
        &ImageSpec::with_random_layers(7, 2, 200_000),
    );
    let manifest = examples.join("vendor-manifests/hello/1.0.0.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "charts:",
        "  - ref: example.local/demo/extra:1.0\n    layout: ../../upstream/extra-layout\ncharts:",
    );
    std::fs::write(&manifest, text).unwrap();
}

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    cache: PathBuf,
    full_v1: PathBuf,
    full_v2: PathBuf,
    delta: PathBuf,
}

fn setup() -> Setup {
    support::require_tools();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let cache = root.join("cache");
    let spec = copy_example(&root);
    let full_v1 = root.join("v1.tar");
    ferry(&cache, &["build", s(&spec), "--locked", "-o", s(&full_v1)]).ok();
    add_extra_image(&root.join("examples"));
    ferry(&cache, &["lock", s(&spec)]).ok();
    let full_v2 = root.join("v2.tar");
    ferry(&cache, &["build", s(&spec), "--locked", "-o", s(&full_v2)]).ok();
    let delta = root.join("v2-delta.tar");
    ferry(
        &cache,
        &[
            "build",
            s(&spec),
            "--locked",
            "--base",
            s(&full_v1),
            "-o",
            s(&delta),
        ],
    )
    .ok();
    Setup {
        _dir: dir,
        root,
        cache,
        full_v1,
        full_v2,
        delta,
    }
}

#[test]
fn a_delta_carries_only_new_blobs_and_verifies_alone() {
    let setup = setup();
    let full = std::fs::metadata(&setup.full_v2).unwrap().len();
    let delta = std::fs::metadata(&setup.delta).unwrap().len();
    assert!(delta < full, "delta {delta} bytes < full {full} bytes");
    let report = ferry(&setup.cache, &["verify", s(&setup.delta), SKIP, "--json"])
        .ok()
        .json();
    let v1 = ferry(&setup.cache, &["verify", s(&setup.full_v1), SKIP, "--json"])
        .ok()
        .json();
    assert_eq!(
        report["delta_base"], v1["root"],
        "the delta records its base's root"
    );
    assert!(report["blobs_from_base"].as_u64().unwrap() >= 6, "{report}");
    // the example's two, the new one, and ferry's own (`ferryImage: true`)
    assert_eq!(report["images"], 4);
    // The new image's 400 KB are inside; the base's layers are not.
    assert!(delta > 400_000 && delta < full, "{delta}");

    // A delta against the base's lock records the lock instead, and omits the same blobs.
    let lock_delta = setup.root.join("v2-delta-lock.tar");
    let spec = setup.root.join("examples/bundles/example.yaml");
    let v1_lock = setup.root.join("v1.lock");
    std::fs::write(&v1_lock, include_str!("../examples/lockfiles/example.lock")).unwrap();
    ferry(
        &setup.cache,
        &[
            "build",
            s(&spec),
            "--locked",
            "--base",
            s(&v1_lock),
            "-o",
            s(&lock_delta),
        ],
    )
    .ok();
    let by_lock = ferry(&setup.cache, &["verify", s(&lock_delta), SKIP, "--json"])
        .ok()
        .json();
    // The base lock names ferry's image by version, not digest, so the delta
    // against it cannot leave out that image's layer and config (2 blobs):
    // it carries them (larger, never missing anything).
    assert_eq!(
        by_lock["blobs_from_base"].as_u64().unwrap() + 2,
        report["blobs_from_base"].as_u64().unwrap()
    );
    assert_ne!(by_lock["delta_base"], report["delta_base"]);
    let bundle = ferry(&setup.cache, &["inspect", s(&setup.delta), "--json"])
        .ok()
        .json();
    assert!(bundle["images"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["reference"] == "example.local/demo/extra:1.0"));

    // A blob the delta does carry is still checked: deleting one is caught.
    let layout = setup.root.join("delta-layout");
    ferry(
        &setup.cache,
        &["unpack", s(&setup.delta), "-o", s(&layout), SKIP],
    )
    .ok();
    let extra_layer = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap())
        .max_by_key(|e| e.metadata().unwrap().len())
        .unwrap();
    std::fs::remove_file(extra_layer.path()).unwrap();
    let run = ferry(&setup.cache, &["verify", s(&layout), SKIP]).failed();
    assert!(
        run.stderr
            .contains("example.local/demo/extra:1.0) is missing"),
        "{}",
        run.stderr
    );
}

fn push(cache: &Path, bundle: &Path, registry: &Registry, map: &Path) -> common::Run {
    ferry(
        cache,
        &[
            "push",
            s(bundle),
            "--to",
            &format!("{}/site", registry.host()),
            SKIP,
            "--image-map",
            s(map),
            "--json",
        ],
    )
}

#[test]
fn base_then_delta_in_a_registry_gives_every_image() {
    let setup = setup();
    let registry = Registry::start(RegistryOptions::plain());
    push(
        &setup.cache,
        &setup.full_v1,
        &registry,
        &setup.root.join("m1.json"),
    )
    .ok();
    let before = registry.count(RequestKind::BlobUploadCompleted);
    let report = push(
        &setup.cache,
        &setup.delta,
        &registry,
        &setup.root.join("m2.json"),
    )
    .ok()
    .json();
    assert!(report["blobs_uploaded"].as_u64().unwrap() >= 2, "{report}");
    assert!(registry.count(RequestKind::BlobUploadCompleted) > before);
    // Every image of the full v2 bundle is readable, at its locked digest.
    let full = ferry(&setup.cache, &["inspect", s(&setup.full_v2), "--json"])
        .ok()
        .json();
    for image in full["images"].as_array().unwrap() {
        let reference = image["reference"].as_str().unwrap();
        let repository = reference
            .split_once('/')
            .unwrap()
            .1
            .rsplit_once(':')
            .unwrap()
            .0;
        let tag = reference.rsplit_once(':').unwrap().1;
        let digest = support::skopeo_inspect_digest(&registry, &format!("site/{repository}:{tag}"));
        assert_eq!(digest, image["digest"].as_str().unwrap(), "{reference}");
        let out = support::run(
            support::skopeo::skopeo()
                .args(["copy", "--src-tls-verify=false"])
                .arg(format!(
                    "docker://{}/site/{repository}:{tag}",
                    registry.host()
                ))
                .arg(format!(
                    "dir:{}",
                    setup
                        .root
                        .join(format!("copy-{}", repository.replace('/', "-")))
                        .display()
                )),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_delta_against_the_wrong_base_fails_before_writing() {
    let setup = setup();
    let registry = Registry::start(RegistryOptions::plain());
    let run = push(
        &setup.cache,
        &setup.delta,
        &registry,
        &setup.root.join("m.json"),
    )
    .failed();
    assert!(run.stderr.contains("needs its base"), "{}", run.stderr);
    assert!(
        run.stderr.contains("push the base bundle first"),
        "{}",
        run.stderr
    );
    assert_eq!(
        registry.count(RequestKind::BlobUploadCompleted),
        0,
        "nothing was uploaded"
    );
    assert_eq!(
        registry.count(RequestKind::ManifestPut),
        0,
        "nothing was tagged"
    );
    assert!(!setup.root.join("m.json").exists());
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_a_delta_with_its_base() {
    let setup = setup();
    let run = ferry(&setup.cache, &["serve", s(&setup.delta), SKIP]).failed();
    assert!(
        run.stderr.contains("serve it with --base"),
        "{}",
        run.stderr
    );
    // The wrong base (the delta itself lacks what it leaves out) is refused, naming the count.
    let run = ferry(
        &setup.cache,
        &[
            "serve",
            s(&setup.delta),
            "--base",
            s(&setup.delta),
            SKIP,
            "--print-config",
        ],
    )
    .failed();
    assert!(
        run.stderr.contains("is not the base of this delta"),
        "{}",
        run.stderr
    );
    // Any bundle holding those blobs will do, e.g. the full v2.
    let run = ferry(
        &setup.cache,
        &[
            "serve",
            s(&setup.delta),
            "--base",
            s(&setup.full_v2),
            SKIP,
            "--print-config",
        ],
    )
    .ok();
    assert!(run.stdout.contains("registry_host"));
    let port = support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "serve",
            s(&setup.delta),
            "--base",
            s(&setup.full_v1),
            SKIP,
            "--listen",
            &listen,
        ])
        .env("FERRY_CACHE_DIR", &setup.cache)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Server(child);
    support::wait_for("ferry serve", std::time::Duration::from_secs(20), || {
        support::registry::raw_http_status(&listen, "GET", "/v2/").filter(|s| *s == 200)
    });
    // hello's layers come from the base, extra's from the delta.
    for reference in [
        "example.local/demo/hello:1.0",
        "example.local/demo/extra:1.0",
    ] {
        let target = setup
            .root
            .join(format!("served-{}", reference.replace(['/', ':'], "-")));
        let out = support::run(
            support::skopeo::skopeo()
                .args(["copy", "--src-tls-verify=false"])
                .arg(format!("docker://{listen}/{reference}"))
                .arg(format!("dir:{}", target.display())),
        );
        assert!(
            out.status.success(),
            "{reference}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
