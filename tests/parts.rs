//! Media-sized parts: split, join, and reading the parts in place.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{copy_example, ferry, generate_key, s, sha256_file};
use serde_json::Value;

const PART: u64 = 4096;

/// Builds the signed example; returns (archive, public key).
fn built(dir: &Path) -> (PathBuf, PathBuf) {
    let spec = copy_example(dir);
    let cache = dir.join("cache");
    let (key, public) = (dir.join("cosign.key"), dir.join("cosign.pub"));
    generate_key(&cache, &[], &key, &public, &[]).ok();
    let out = dir.join("out/bundle.tar");
    ferry(
        &cache,
        &[
            "build",
            s(&spec),
            "--locked",
            "-o",
            s(&out),
            "--sign-key",
            s(&key),
        ],
    )
    .ok();
    (out, public)
}

fn split(dir: &Path, archive: &Path) -> PathBuf {
    let parts = dir.join("parts");
    let run = ferry(
        &dir.join("cache"),
        &[
            "split",
            s(archive),
            "--size",
            "4KiB",
            "-o",
            s(&parts),
            "--json",
        ],
    )
    .ok();
    let manifest = PathBuf::from(run.json()["manifest"].as_str().unwrap());
    assert_eq!(manifest, parts.join("bundle.tar.parts.json"));
    manifest
}

#[test]
fn split_and_join_give_back_the_same_archive() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (archive, _) = built(dir);
    let size = std::fs::metadata(&archive).unwrap().len();
    let manifest_path = split(dir, &archive);
    let manifest: Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!(manifest["version"], 1);
    assert_eq!(manifest["archive"], "bundle.tar");
    assert_eq!(manifest["size"], size);
    assert_eq!(
        manifest["sha256"],
        format!("sha256:{}", sha256_file(&archive))
    );
    let parts = manifest["parts"].as_array().unwrap();
    assert_eq!(parts.len() as u64, size.div_ceil(PART));
    assert!(parts.len() >= 10, "the example splits into many parts");
    let mut total = 0;
    for (i, part) in parts.iter().enumerate() {
        let name = format!("bundle.tar.part-{:04}", i + 1);
        assert_eq!(part["name"], name.as_str());
        let path = dir.join("parts").join(&name);
        let expected = if i + 1 < parts.len() {
            PART
        } else {
            size - PART * i as u64
        };
        assert_eq!(part["size"], expected);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), expected);
        assert_eq!(part["sha256"], format!("sha256:{}", sha256_file(&path)));
        total += expected;
    }
    assert_eq!(total, size);
    let joined = dir.join("joined/bundle.tar");
    let run = ferry(
        &dir.join("cache"),
        &["join", s(&manifest_path), "-o", s(&joined), "--json"],
    )
    .ok();
    assert_eq!(run.json()["parts"], parts.len());
    assert_eq!(sha256_file(&joined), sha256_file(&archive));
}

#[test]
fn build_writes_parts_with_split_size() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (archive, _) = built(dir);
    let spec = dir.join("examples/bundles/example.yaml");
    let out = dir.join("split/bundle.tar");
    let run = ferry(
        &dir.join("cache"),
        &[
            "build",
            s(&spec),
            "--locked",
            "-o",
            s(&out),
            "--sign-key",
            s(&dir.join("cosign.key")),
            "--split-size",
            "4KiB",
            "--json",
        ],
    )
    .ok();
    let report = run.json();
    let manifest_path = dir.join("split/bundle.tar.parts.json");
    assert_eq!(report["parts"], s(&manifest_path));
    assert!(!out.exists(), "only the parts are left");
    let manifest: Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!(
        manifest["sha256"],
        format!("sha256:{}", sha256_file(&archive))
    );
    assert_eq!(manifest["sha256"], report["sha256"]);
    let run = ferry(
        &dir.join("cache"),
        &[
            "build",
            s(&spec),
            "--locked",
            "-o",
            s(&out),
            "--split-size",
            "4X",
        ],
    )
    .failed();
    assert!(run.stderr.contains("invalid size `4X`"), "{}", run.stderr);
}

#[test]
fn verify_inspect_and_unpack_read_the_parts_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (archive, public) = built(dir);
    let manifest = split(dir, &archive);
    let cache = dir.join("cache");
    let whole = ferry(
        &cache,
        &["verify", s(&archive), "--key", s(&public), "--json"],
    )
    .ok()
    .json();
    let parted = ferry(
        &cache,
        &["verify", s(&manifest), "--key", s(&public), "--json"],
    )
    .ok()
    .json();
    assert_eq!(parted["root"], whole["root"]);
    assert_eq!(parted["signed_by"], whole["signed_by"]);
    assert_eq!(parted["blobs"], whole["blobs"]);
    assert!(parted["signed_by"].as_str().unwrap().starts_with("sha256:"));
    let inspect_whole = ferry(&cache, &["inspect", s(&archive), "--json"])
        .ok()
        .json();
    let inspect_parts = ferry(&cache, &["inspect", s(&manifest), "--json"])
        .ok()
        .json();
    assert_eq!(inspect_whole, inspect_parts);
    let (from_whole, from_parts) = (dir.join("from-whole"), dir.join("from-parts"));
    ferry(
        &cache,
        &[
            "unpack",
            s(&archive),
            "-o",
            s(&from_whole),
            "--key",
            s(&public),
        ],
    )
    .ok();
    ferry(
        &cache,
        &[
            "unpack",
            s(&manifest),
            "-o",
            s(&from_parts),
            "--key",
            s(&public),
        ],
    )
    .ok();
    let list = |root: &Path| {
        let mut names: Vec<_> = std::fs::read_dir(root.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    assert_eq!(list(&from_whole), list(&from_parts));
    assert!(!list(&from_parts).is_empty());
    assert_eq!(
        std::fs::read(from_whole.join("index.json")).unwrap(),
        std::fs::read(from_parts.join("index.json")).unwrap()
    );
}

#[test]
fn an_altered_part_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (archive, public) = built(dir);
    let manifest = split(dir, &archive);
    let cache = dir.join("cache");
    let part = dir.join("parts/bundle.tar.part-0003");
    let mut bytes = std::fs::read(&part).unwrap();
    bytes[100] ^= 0x20;
    std::fs::write(&part, &bytes).unwrap();
    let message = "part bundle.tar.part-0003 was altered";
    let run = ferry(&cache, &["verify", s(&manifest), "--key", s(&public)]).failed();
    assert!(run.stderr.contains(message), "{}", run.stderr);
    let run = ferry(&cache, &["inspect", s(&manifest)]).failed();
    assert!(run.stderr.contains(message), "{}", run.stderr);
    let layout = dir.join("layout");
    let run = ferry(
        &cache,
        &[
            "unpack",
            s(&manifest),
            "-o",
            s(&layout),
            "--key",
            s(&public),
        ],
    )
    .failed();
    assert!(run.stderr.contains(message), "{}", run.stderr);
    assert!(!layout.exists());
    let joined = dir.join("joined.tar");
    let run = ferry(&cache, &["join", s(&manifest), "-o", s(&joined)]).failed();
    assert!(run.stderr.contains(message), "{}", run.stderr);
    assert!(!joined.exists(), "nothing is written under the output name");
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".ferry-part-"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file is left behind");
}

#[test]
fn an_altered_byte_in_the_last_part_is_detected() {
    // Every byte is checked, including the archive's tail (tar's end blocks),
    // which listing the entries does not need.
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (archive, public) = built(dir);
    let manifest = split(dir, &archive);
    let count = std::fs::read_dir(dir.join("parts")).unwrap().count() - 1;
    let last = format!("bundle.tar.part-{count:04}");
    let path = dir.join("parts").join(&last);
    let mut bytes = std::fs::read(&path).unwrap();
    let end = bytes.len() - 1;
    bytes[end] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let run = ferry(
        &dir.join("cache"),
        &["verify", s(&manifest), "--key", s(&public)],
    )
    .failed();
    assert!(
        run.stderr.contains(&format!("part {last} was altered")),
        "{}",
        run.stderr
    );
}

#[test]
fn a_missing_or_short_part_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (archive, public) = built(dir);
    let manifest = split(dir, &archive);
    let cache = dir.join("cache");
    let part = dir.join("parts/bundle.tar.part-0002");
    let saved = std::fs::read(&part).unwrap();
    std::fs::remove_file(&part).unwrap();
    let run = ferry(&cache, &["verify", s(&manifest), "--key", s(&public)]).failed();
    assert!(
        run.stderr.contains("part bundle.tar.part-0002 is missing"),
        "{}",
        run.stderr
    );
    let joined = dir.join("joined.tar");
    let run = ferry(&cache, &["join", s(&manifest), "-o", s(&joined)]).failed();
    assert!(
        run.stderr.contains("part bundle.tar.part-0002 is missing"),
        "{}",
        run.stderr
    );
    assert!(!joined.exists());
    std::fs::write(&part, &saved[..1000]).unwrap();
    let run = ferry(&cache, &["join", s(&manifest), "-o", s(&joined)]).failed();
    assert!(
        run.stderr
            .contains("part bundle.tar.part-0002 is 1000 bytes, the parts manifest says 4096"),
        "{}",
        run.stderr
    );
    std::fs::write(&part, &saved).unwrap();
    ferry(&cache, &["join", s(&manifest), "-o", s(&joined)]).ok();
    assert_eq!(sha256_file(&joined), sha256_file(&archive));
}
