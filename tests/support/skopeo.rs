//! skopeo as the independent reference client: seeding registries and inspecting results.

use super::registry::Registry;
use super::{digest_of, failure_message, run, run_ok};
use std::path::Path;
use std::process::Command;

/// Manifest format to store in the registry when seeding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedFormat {
    /// Keep the OCI manifests (`--preserve-digests`: stored digest == layout digest).
    Oci,
    /// Convert to Docker schema 2 (`--format v2s2`): digests change, the stored one is returned.
    Docker,
}

/// A `skopeo` command with `--insecure-policy` (no /etc/containers/policy.json needed).
pub fn skopeo() -> Command {
    let mut c = Command::new("skopeo");
    c.arg("--insecure-policy");
    c
}

/// Copies `oci:<layout_dir>:<layout_ref>` to `docker://<registry>/<dest>`; returns the stored digest.
///
/// `dest` is `repo:tag`. With `all_platforms`, copies a whole index (`--all`). The digest comes
/// from `--digestfile` and is cross-checked against `skopeo inspect --raw` of the tag.
pub fn seed(
    layout_dir: &Path,
    layout_ref: &str,
    registry: &Registry,
    dest: &str,
    format: SeedFormat,
    all_platforms: bool,
) -> String {
    seed_as(
        layout_dir,
        layout_ref,
        registry,
        dest,
        format,
        all_platforms,
        registry
            .credentials()
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str())),
    )
}

/// Like [`seed`] but with explicit credentials (or none).
pub fn seed_as(
    layout_dir: &Path,
    layout_ref: &str,
    registry: &Registry,
    dest: &str,
    format: SeedFormat,
    all_platforms: bool,
    creds: Option<(&str, &str)>,
) -> String {
    let tmp = tempfile::tempdir().expect("tempdir");
    let digestfile = tmp.path().join("digest");
    let mut cmd = skopeo();
    cmd.arg("copy").arg("--retry-times=2");
    if all_platforms {
        cmd.arg("--all");
    }
    match format {
        SeedFormat::Oci => {
            cmd.arg("--preserve-digests");
        }
        SeedFormat::Docker => {
            cmd.args(["--format", "v2s2"]);
        }
    }
    cmd.args(registry.skopeo_args_as("dest-", creds));
    cmd.arg("--digestfile").arg(&digestfile);
    cmd.arg(format!("oci:{}:{layout_ref}", layout_dir.display()));
    cmd.arg(format!("docker://{}/{dest}", registry.host()));
    run_ok(&mut cmd);
    let digest = std::fs::read_to_string(&digestfile)
        .unwrap_or_else(|e| panic!("skopeo wrote no --digestfile: {e}"))
        .trim()
        .to_string();
    let stored = skopeo_inspect_digest_as(registry, dest, creds);
    assert_eq!(
        digest, stored,
        "skopeo --digestfile and inspect --raw disagree for {dest}"
    );
    digest
}

/// Raw manifest (or index) bytes of `reference` (`repo:tag` or `repo@digest`) in the registry.
pub fn skopeo_inspect_raw(registry: &Registry, reference: &str) -> Vec<u8> {
    skopeo_inspect_raw_as(
        registry,
        reference,
        registry
            .credentials()
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str())),
    )
}

/// Like [`skopeo_inspect_raw`] with explicit credentials (or none).
pub fn skopeo_inspect_raw_as(
    registry: &Registry,
    reference: &str,
    creds: Option<(&str, &str)>,
) -> Vec<u8> {
    let mut cmd = skopeo();
    cmd.args(["inspect", "--raw", "--retry-times=2"]);
    cmd.args(registry.skopeo_args_as("", creds));
    cmd.arg(format!("docker://{}/{reference}", registry.host()));
    let out = run(&mut cmd);
    if !out.status.success() {
        panic!("{}", failure_message(&cmd, &out));
    }
    out.stdout
}

/// `sha256:` digest of the manifest stored for `reference` (sha256 of `skopeo inspect --raw`).
pub fn skopeo_inspect_digest(registry: &Registry, reference: &str) -> String {
    digest_of(&skopeo_inspect_raw(registry, reference))
}

/// Like [`skopeo_inspect_digest`] with explicit credentials (or none).
pub fn skopeo_inspect_digest_as(
    registry: &Registry,
    reference: &str,
    creds: Option<(&str, &str)>,
) -> String {
    digest_of(&skopeo_inspect_raw_as(registry, reference, creds))
}

/// The registry's manifest media type for `reference` (the raw manifest's `mediaType`).
pub fn skopeo_inspect_media_type(registry: &Registry, reference: &str) -> String {
    let raw = skopeo_inspect_raw(registry, reference);
    let v: serde_json::Value = serde_json::from_slice(&raw).expect("manifest is JSON");
    v["mediaType"].as_str().unwrap_or_default().to_string()
}

/// Tags of a repository (`skopeo list-tags`), sorted.
pub fn skopeo_list_tags(registry: &Registry, repo: &str) -> Vec<String> {
    let mut cmd = skopeo();
    cmd.arg("list-tags").args(registry.skopeo_args(""));
    cmd.arg(format!("docker://{}/{repo}", registry.host()));
    let out = run_ok(&mut cmd);
    let v: serde_json::Value = serde_json::from_str(&out).expect("list-tags JSON");
    let mut tags: Vec<String> = v["Tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    tags
}

/// `skopeo copy oci:<dir>:<reference> dir:<dest_dir>`; returns the copied manifest's digest.
///
/// Use it to check what ferry wrote as an OCI layout. For an index without `--all`, skopeo
/// picks the host platform's image; use [`skopeo_copy_from_oci_layout_all`] for the index.
pub fn skopeo_copy_from_oci_layout(dir: &Path, reference: &str, dest_dir: &Path) -> String {
    copy_layout_to_dir(dir, reference, dest_dir, false)
}

/// Like [`skopeo_copy_from_oci_layout`] with `--all`; returns the top-level (index) digest.
pub fn skopeo_copy_from_oci_layout_all(dir: &Path, reference: &str, dest_dir: &Path) -> String {
    copy_layout_to_dir(dir, reference, dest_dir, true)
}

fn copy_layout_to_dir(dir: &Path, reference: &str, dest_dir: &Path, all: bool) -> String {
    let mut cmd = skopeo();
    cmd.arg("copy");
    if all {
        cmd.arg("--all");
    }
    cmd.arg(format!("oci:{}:{reference}", dir.display()));
    cmd.arg(format!("dir:{}", dest_dir.display()));
    run_ok(&mut cmd);
    let manifest = std::fs::read(dest_dir.join("manifest.json"))
        .unwrap_or_else(|e| panic!("no manifest.json in {}: {e}", dest_dir.display()));
    digest_of(&manifest)
}
