//! Images from `docker save` archives (written here by skopeo, an independent tool).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{copy_example, ferry, s, sha256_file};

fn skopeo(args: &[&str]) {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .expect("skopeo is installed (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_docker_save_archive_locks_deterministically_and_builds() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let layout = dir.path().join("examples/upstream/layout");
    let archive = dir.path().join("examples/upstream/portal-images.tar");
    skopeo(&[
        "copy",
        &format!("oci:{}:example.local/demo/tool:2.1", s(&layout)),
        &format!(
            "docker-archive:{}:registry.k-paas.org/portal/api:1.6.2",
            s(&archive)
        ),
    ]);

    let manifest = dir
        .path()
        .join("examples/vendor-manifests/hello/1.0.0.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "charts:",
        "  - ref: registry.k-paas.org/portal/api:1.6.2\n    archive: ../../upstream/portal-images.tar\ncharts:",
    );
    std::fs::write(&manifest, text).unwrap();
    let cache = dir.path().join("cache");
    ferry(&cache, &["lock", s(&spec)]).ok();
    let lock_path = dir.path().join("examples/lockfiles/example.lock");
    let lock = std::fs::read_to_string(&lock_path).unwrap();
    assert!(lock.contains("source = \"docker-archive:../upstream/portal-images.tar#registry.k-paas.org/portal/api:1.6.2\""), "{lock}");

    // A cold cache locks to the same digest: the derived manifest is deterministic.
    ferry(&dir.path().join("cache2"), &["lock", s(&spec), "--check"]).ok();

    // Build from a cold cache (blobs re-ingested from the archive), verify, read back with skopeo.
    let out = dir.path().join("b.tar");
    ferry(
        &dir.path().join("cache3"),
        &["build", s(&spec), "--locked", "-o", s(&out)],
    )
    .ok();
    let unpacked = dir.path().join("layout-out");
    ferry(
        &cache,
        &[
            "unpack",
            "--insecure-skip-signature",
            s(&out),
            "-o",
            s(&unpacked),
        ],
    )
    .ok();
    let copied = dir.path().join("copied");
    skopeo(&[
        "copy",
        &format!("oci:{}:registry.k-paas.org/portal/api:1.6.2", s(&unpacked)),
        &format!("dir:{}", s(&copied)),
    ]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copied.join("manifest.json")).unwrap()).unwrap();
    // The image config keeps its bytes through docker-archive and ferry.
    let original: serde_json::Value =
        serde_json::from_slice(
            &std::fs::read(layout.join(
                "blobs/sha256/a01b3cd6fee671d40da44da1c812a822262c7782d4e85a74af566fdb7dcd6680",
            ))
            .unwrap(),
        )
        .unwrap();
    assert_eq!(manifest["config"]["digest"], original["config"]["digest"]);
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 2);
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );

    // The archive changing under the lock is caught by build --locked.
    std::fs::remove_file(&archive).unwrap();
    skopeo(&[
        "copy",
        &format!("oci:{}:example.local/demo/hello:1.0", s(&layout)),
        &format!(
            "docker-archive:{}:registry.k-paas.org/portal/api:1.6.2",
            s(&archive)
        ),
    ]);
    let run = ferry(
        &dir.path().join("cache4"),
        &[
            "build",
            s(&spec),
            "--locked",
            "-o",
            s(&dir.path().join("c.tar")),
        ],
    )
    .failed();
    assert!(
        run.stderr
            .contains("the archive changed since `ferry lock`"),
        "{}",
        run.stderr
    );
    assert!(sha256_file(&out).len() == 64);
}

#[test]
fn a_missing_repo_tag_lists_what_the_archive_has() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let layout = dir.path().join("examples/upstream/layout");
    let archive = dir.path().join("examples/upstream/images.tar");
    skopeo(&[
        "copy",
        &format!("oci:{}:example.local/demo/tool:2.1", s(&layout)),
        &format!("docker-archive:{}:portal/ui:1.0", s(&archive)),
    ]);
    let manifest = dir
        .path()
        .join("examples/vendor-manifests/hello/1.0.0.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "charts:",
        "  - ref: registry.k-paas.org/portal/ui:1.0\n    archive: ../../upstream/images.tar\ncharts:",
    );
    std::fs::write(&manifest, text).unwrap();
    let run = ferry(&dir.path().join("cache"), &["lock", s(&spec)]).failed();
    assert!(run.stderr.contains("has no image named `registry.k-paas.org/portal/ui:1.0` (it has: docker.io/portal/ui:1.0)"), "{}", run.stderr);
}
