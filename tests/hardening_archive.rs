//! Crafted archives (issue 16 §2, §8; issue 15 §4): every one is refused by
//! `verify`, `inspect` and `unpack`, naming the entry, and nothing is written
//! outside the target; `unpack` writes the `index.json` the signed root dictates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod crafted;

use std::path::{Path, PathBuf};

use common::{build_example, ferry, s};
use crafted::{Archive, Entry};

struct Case {
    dir: tempfile::TempDir,
    good: Archive,
}

impl Case {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("good.tar");
        build_example(&dir.path().join("cache"), &out);
        let good = Archive::read(&out);
        Self { dir, good }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    fn write(&self, archive: &Archive, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        archive.write(&path);
        path
    }

    /// Verify, inspect and unpack all fail with `needle` in the message; unpack leaves nothing.
    fn refused(&self, path: &Path, needle: &str) {
        let skip = "--insecure-skip-signature";
        let verify = ferry(&self.cache(), &["verify", s(path), skip]).failed();
        assert!(verify.stderr.contains(needle), "verify: {}", verify.stderr);
        let inspect = ferry(&self.cache(), &["inspect", s(path)]).failed();
        assert!(
            inspect.stderr.contains(needle),
            "inspect: {}",
            inspect.stderr
        );
        let target = self.dir.path().join("unpacked");
        let unpack = ferry(&self.cache(), &["unpack", s(path), "-o", s(&target), skip]).failed();
        assert!(unpack.stderr.contains(needle), "unpack: {}", unpack.stderr);
        assert!(!target.exists(), "unpack left a layout");
    }

    fn edit_index_entry(
        &self,
        reference: &str,
        edit: impl FnOnce(&mut serde_json::Value),
    ) -> Archive {
        let mut archive = self.good.clone();
        let mut index = archive.index();
        let entry = index["manifests"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == reference)
            .unwrap();
        edit(entry);
        archive.set("index.json", serde_json::to_vec(&index).unwrap());
        archive
    }
}

const HELLO: &str = "example.local/demo/hello:1.0";

#[test]
fn index_json_sizes_of_2_63_and_2_64_minus_1_are_refused() {
    let case = Case::new();
    for size in [1u64 << 63, u64::MAX] {
        let archive = case.edit_index_entry(HELLO, |d| d["size"] = size.into());
        let path = case.write(&archive, "size.tar");
        case.refused(&path, &format!("size {size} (the root says"));
    }
}

#[test]
fn index_json_media_type_and_annotations_must_be_the_roots() {
    let case = Case::new();
    let archive = case.edit_index_entry(HELLO, |d| {
        d["mediaType"] = "application/vnd.docker.distribution.manifest.v2+json".into();
    });
    case.refused(&case.write(&archive, "media.tar"), "media type");
    let archive = case.edit_index_entry(HELLO, |d| {
        d["annotations"]["org.opencontainers.image.created"] = "now".into();
    });
    case.refused(
        &case.write(&archive, "annotations.tar"),
        "other annotations",
    );
    let archive = case.edit_index_entry("ferry-bundle", |d| d["size"] = 1.into());
    case.refused(&case.write(&archive, "root.tar"), "ferry-bundle");
}

#[test]
fn a_path_occurring_twice_is_refused() {
    let case = Case::new();
    for name in ["index.json", "oci-layout"] {
        let mut archive = case.good.clone();
        let at = archive
            .entries
            .iter()
            .position(|e| e.name == name.as_bytes())
            .unwrap();
        let mut first = archive.entries[at].clone();
        if name == "index.json" {
            // A reduced index first, the real one after.
            let mut index = archive.index();
            index["manifests"].as_array_mut().unwrap().truncate(1);
            first.data = serde_json::to_vec(&index).unwrap();
        }
        archive.entries.insert(at, first);
        let path = case.write(&archive, "twice.tar");
        case.refused(&path, &format!("{name} (the path occurs twice)"));
    }
}

#[test]
fn links_and_special_entries_are_refused_by_name() {
    let case = Case::new();
    let outside = case.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let cases = [
        (
            Entry::special("blobs/sha256", tar::EntryType::Symlink, Some(s(&outside))),
            "blobs/sha256 (not a directory",
        ),
        (
            Entry::special("blobs", tar::EntryType::Symlink, Some(s(&outside))),
            "blobs (not a directory",
        ),
        (
            Entry::special("index.json", tar::EntryType::Link, Some("oci-layout")),
            "index.json (not a regular file)",
        ),
        (
            Entry::special("blobs/sha256/fifo", tar::EntryType::Fifo, None),
            "blobs/sha256/fifo (not a regular file)",
        ),
        (
            Entry::special("dev", tar::EntryType::Char, None),
            "dev (not a regular file)",
        ),
    ];
    for (entry, needle) in cases {
        let mut archive = case.good.clone();
        if entry.name == b"index.json" {
            archive.entries.retain(|e| e.name != b"index.json");
        }
        archive.entries.insert(0, entry);
        let path = case.write(&archive, "link.tar");
        case.refused(&path, needle);
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "{needle}");
    }
}

#[test]
fn traversal_names_are_refused_and_nothing_is_written_outside() {
    let case = Case::new();
    for name in [
        "../escaped",
        "/tmp/ferry-absolute-escape",
        "blobs/sha256/../../up",
    ] {
        let mut archive = case.good.clone();
        archive.entries.push(Entry::file(name, b"payload"));
        let path = case.write(&archive, "traversal.tar");
        case.refused(&path, "does not belong in a bundle");
        assert!(!case.dir.path().join("escaped").exists());
    }
}

#[test]
fn unpack_writes_the_index_the_signed_root_dictates() {
    let case = Case::new();
    // Same entries, other bytes: pretty-printed, an unknown field added.
    let mut archive = case.good.clone();
    let original = archive.get("index.json").unwrap().to_vec();
    let mut index = archive.index();
    index["x-unsigned"] = "ignored".into();
    archive.set("index.json", serde_json::to_vec_pretty(&index).unwrap());
    let path = case.write(&archive, "pretty.tar");
    let target = case.dir.path().join("layout");
    ferry(
        &case.cache(),
        &[
            "unpack",
            s(&path),
            "-o",
            s(&target),
            "--insecure-skip-signature",
        ],
    )
    .ok();
    let written = std::fs::read(target.join("index.json")).unwrap();
    assert_eq!(
        written, original,
        "the derived index, not the archive's bytes"
    );
    assert_eq!(
        std::fs::read(target.join("oci-layout")).unwrap(),
        br#"{"imageLayoutVersion":"1.0.0"}"#
    );
}

#[test]
fn control_characters_of_entry_names_never_reach_the_terminal() {
    let case = Case::new();
    let mut archive = case.good.clone();
    archive
        .entries
        .push(Entry::file("\u{1b}[2J\u{1b}[Hverified OK\r\u{7}", b"x"));
    let path = case.write(&archive, "esc.tar");
    for args in [
        vec!["verify", s(&path), "--insecure-skip-signature"],
        vec!["inspect", s(&path)],
    ] {
        let run = ferry(&case.cache(), &args).failed();
        let output = format!("{}{}", run.stdout, run.stderr);
        assert!(
            !output.chars().any(|c| c.is_control() && c != '\n'),
            "raw control bytes: {output:?}"
        );
        assert!(output.contains("\\u{1b}[2J"), "{output}");
    }
    // A header whose size field holds an escape sequence (the tar parser's message).
    let mut bytes = std::fs::read(case.write(&case.good, "hdr.tar")).unwrap();
    bytes[124..130].copy_from_slice(b"\x1b[2J\x1b[");
    let path = case.dir.path().join("header.tar");
    std::fs::write(&path, bytes).unwrap();
    let run = ferry(&case.cache(), &["inspect", s(&path)]).failed();
    assert!(
        !run.stderr.chars().any(|c| c.is_control() && c != '\n'),
        "raw control bytes: {:?}",
        run.stderr
    );
}
