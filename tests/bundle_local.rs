//! Build, verify, tamper and reproducibility checks on the offline example.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{copy_example, ferry, ferry_env, generate_key, s, sha256_file};

fn build(dir: &Path, spec: &Path, jobs: &str, extra: &[&str]) -> PathBuf {
    let name = if extra.contains(&"--zstd") {
        "bundle.tar.zst"
    } else {
        "bundle.tar"
    };
    let out = dir.join("out").join(name);
    let mut args = vec![
        "build",
        s(spec),
        "--locked",
        "-j",
        jobs,
        "-o",
        s(&out),
        "--json",
    ];
    args.extend_from_slice(extra);
    let run = ferry(&dir.join("cache"), &args).ok();
    assert_eq!(
        run.json()["sha256"].as_str().unwrap(),
        format!("sha256:{}", sha256_file(&out)),
        "reported sha256 is the file's"
    );
    out
}

#[test]
fn same_lock_gives_the_same_bytes_anywhere() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let out_a = build(a.path(), &copy_example(a.path()), "1", &[]);
    let out_b = build(b.path(), &copy_example(b.path()), "8", &[]);
    assert_eq!(sha256_file(&out_a), sha256_file(&out_b));
    let zst_a = build(a.path(), &copy_example(a.path()), "8", &["--zstd"]);
    assert_ne!(sha256_file(&zst_a), sha256_file(&out_a));
    let zst_b = build(b.path(), &copy_example(b.path()), "1", &["--zstd"]);
    assert_eq!(sha256_file(&zst_a), sha256_file(&zst_b));
    ferry(
        &a.path().join("cache"),
        &["verify", "--insecure-skip-signature", s(&zst_a)],
    )
    .ok();

    // SOURCE_DATE_EPOCH changes the entries' mtime, hence the bytes, but not the root.
    let epoch_out = a.path().join("epoch.tar");
    let spec = a.path().join("examples/bundles/example.yaml");
    let run = ferry_env(
        &a.path().join("cache"),
        &[("SOURCE_DATE_EPOCH", "1700000000")],
        &["build", s(&spec), "--locked", "-o", s(&epoch_out), "--json"],
    )
    .ok();
    assert_ne!(sha256_file(&epoch_out), sha256_file(&out_a));
    let plain = ferry(
        &a.path().join("cache"),
        &["verify", "--insecure-skip-signature", s(&out_a), "--json"],
    )
    .ok()
    .json();
    assert_eq!(run.json()["root"], plain["root"]);
}

#[test]
fn verify_and_inspect_report_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let out = build(dir.path(), &copy_example(dir.path()), "4", &[]);
    let report = ferry(
        &dir.path().join("cache"),
        &["verify", "--insecure-skip-signature", s(&out), "--json"],
    )
    .ok()
    .json();
    assert_eq!(report["bundle"], "example");
    assert_eq!(
        (
            report["images"].as_u64(),
            report["charts"].as_u64(),
            report["files"].as_u64()
        ),
        // two images of the spec, and ferry's own (`ferryImage: true`)
        (Some(3), Some(1), Some(2))
    );
    let inspection = ferry(&dir.path().join("cache"), &["inspect", s(&out), "--json"])
        .ok()
        .json();
    let images = inspection["images"].as_array().unwrap();
    let hello = images
        .iter()
        .find(|i| i["reference"] == "example.local/demo/hello:1.0")
        .unwrap();
    assert_eq!(
        hello["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64"])
    );
    assert!(hello["size"].as_u64().unwrap() > 1000);
    assert_eq!(inspection["components"][1]["license"], "MIT");
}

fn unpacked(dir: &Path) -> PathBuf {
    let out = build(dir, &copy_example(dir), "4", &[]);
    let layout = dir.join("layout");
    ferry(
        &dir.join("cache"),
        &[
            "unpack",
            "--insecure-skip-signature",
            s(&out),
            "-o",
            s(&layout),
        ],
    )
    .ok();
    layout
}

fn lock_value(dir: &Path, key: &str, after: &str) -> String {
    let lock = std::fs::read_to_string(dir.join("examples/lockfiles/example.lock")).unwrap();
    let start = lock.find(after).unwrap();
    let line = lock[start..].lines().find(|l| l.starts_with(key)).unwrap();
    line.split('"')
        .nth(1)
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned()
}

/// The digest of the first layer of the amd64 `hello` image.
fn hello_layer(layout: &Path, dir: &Path) -> String {
    let manifest = lock_value(dir, "digest", "platform = \"linux/amd64\"");
    let bytes = std::fs::read(layout.join("blobs/sha256").join(manifest)).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    value["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned()
}

#[test]
fn a_flipped_byte_is_named_with_its_image() {
    let dir = tempfile::tempdir().unwrap();
    let layout = unpacked(dir.path());
    let layer = hello_layer(&layout, dir.path());
    let path = layout.join("blobs/sha256").join(&layer);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let run = ferry(
        &dir.path().join("cache"),
        &["verify", "--insecure-skip-signature", s(&layout)],
    )
    .failed();
    assert!(
        run.stderr.contains(&format!(
            "blob sha256:{layer} (example.local/demo/hello:1.0) was altered"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn a_deleted_blob_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let layout = unpacked(dir.path());
    let layer = hello_layer(&layout, dir.path());
    std::fs::remove_file(layout.join("blobs/sha256").join(&layer)).unwrap();
    let run = ferry(
        &dir.path().join("cache"),
        &["verify", "--insecure-skip-signature", s(&layout)],
    )
    .failed();
    assert!(
        run.stderr.contains(&format!(
            "blob sha256:{layer} (example.local/demo/hello:1.0) is missing"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn stray_files_and_blobs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let layout = unpacked(dir.path());
    std::fs::write(layout.join("notes.txt"), "hi").unwrap();
    let stray = "0".repeat(64);
    std::fs::write(layout.join("blobs/sha256").join(&stray), "").unwrap();
    let run = ferry(
        &dir.path().join("cache"),
        &["verify", "--insecure-skip-signature", s(&layout)],
    )
    .failed();
    assert!(
        run.stderr
            .contains("entry `notes.txt` does not belong in a bundle"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("blob sha256:{stray}")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("failed verification (2 problems)"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_edited_index_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let layout = unpacked(dir.path());
    let index = layout.join("index.json");
    let text = std::fs::read_to_string(&index).unwrap().replace(
        "example.local/demo/tool:2.1",
        "example.local/demo/tool:evil",
    );
    std::fs::write(&index, text).unwrap();
    let run = ferry(
        &dir.path().join("cache"),
        &["verify", "--insecure-skip-signature", s(&layout)],
    )
    .failed();
    assert!(
        run.stderr
            .contains("`index.json` lists example.local/demo/tool:evil"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("the bundle root lists example.local/demo/tool:2.1"),
        "{}",
        run.stderr
    );
}

/// Rewrites a bundle archive entry by entry, letting `edit` change names and data.
fn rewrite_tar(from: &Path, to: &Path, edit: impl Fn(&str, Vec<u8>) -> Option<(Vec<u8>, Vec<u8>)>) {
    use std::io::Read;
    let mut archive = tar::Archive::new(std::fs::File::open(from).unwrap());
    let mut builder = tar::Builder::new(std::fs::File::create(to).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8(entry.path_bytes().to_vec()).unwrap();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        let (name_bytes, data) = edit(&name, data).unwrap_or((name.into_bytes(), Vec::new()));
        let mut header = entry.header().clone();
        // Raw name bytes: the tar crate refuses `..` through its safe API, an attacker does not.
        let old = header.as_old_mut();
        old.name = [0; 100];
        old.name[..name_bytes.len()].copy_from_slice(&name_bytes);
        if !data.is_empty() || header.entry_type().is_file() {
            header.set_size(data.len() as u64);
        }
        header.set_cksum();
        builder.append(&header, data.as_slice()).unwrap();
    }
    builder.finish().unwrap();
}

#[test]
fn a_tampered_archive_fails_and_path_traversal_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = build(dir.path(), &copy_example(dir.path()), "4", &[]);
    let cache = dir.path().join("cache");
    // A byte flipped inside the archive.
    let flipped = dir.path().join("flipped.tar");
    let target = lock_value(dir.path(), "sha256", "[[chart]]");
    rewrite_tar(&out, &flipped, |name, mut data| {
        if name.ends_with(&target) {
            data[10] ^= 1;
        }
        Some((name.as_bytes().to_vec(), data))
    });
    let run = ferry(
        &cache,
        &["verify", "--insecure-skip-signature", s(&flipped)],
    )
    .failed();
    assert!(
        run.stderr.contains(&format!(
            "blob sha256:{target} (charts.local/hello:0.1.0) was altered"
        )),
        "{}",
        run.stderr
    );

    // An entry escaping the output directory: refused, and never written.
    let evil = dir.path().join("evil.tar");
    rewrite_tar(&out, &evil, |name, data| {
        if name == "oci-layout" {
            return Some((b"../escaped".to_vec(), data));
        }
        Some((name.as_bytes().to_vec(), data))
    });
    let unpack_to = dir.path().join("unpacked").join("layout");
    let run = ferry(
        &cache,
        &[
            "unpack",
            "--insecure-skip-signature",
            s(&evil),
            "-o",
            s(&unpack_to),
        ],
    )
    .failed();
    assert!(
        run.stderr
            .contains("entry `../escaped` does not belong in a bundle"),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("unpacked/escaped").exists());
    assert!(!dir.path().join("escaped").exists());
    assert!(
        !unpack_to.exists(),
        "a failed unpack leaves no layout behind"
    );

    // A truncated archive.
    let truncated = dir.path().join("truncated.tar");
    let bytes = std::fs::read(&out).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let run = ferry(
        &cache,
        &["verify", "--insecure-skip-signature", s(&truncated)],
    )
    .failed();
    assert!(
        run.stderr.contains("truncated")
            || run.stderr.contains("missing")
            || run.stderr.contains("failed to"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_stale_lock_is_refused_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let cache = dir.path().join("cache");
    let out = dir.path().join("b.tar");
    ferry(&cache, &["lock", s(&spec), "--check"]).ok();

    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("replicas: 2", "replicas: 3");
    std::fs::write(&spec, text).unwrap();
    let run = ferry(&cache, &["build", s(&spec), "--locked", "-o", s(&out)]).failed();
    assert!(
        run.stderr
            .contains("is stale: component `hello`: its manifest or values changed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: run `ferry lock"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());

    let manifest = dir
        .path()
        .join("examples/vendor-manifests/hello/1.0.0.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "charts:",
        "  - ref: example.local/demo/hello:1.0@sha256:546391426a552a37f22f2d1eae7d69eec1bf502ab374348abc5f2c8a29de13fb\n    layout: ../../upstream/layout\n    sourceRef: example.local/demo/hello:1.0\ncharts:",
    );
    std::fs::write(&manifest, text).unwrap();
    let run = ferry(&cache, &["build", s(&spec), "--locked", "-o", s(&out)]).failed();
    assert!(
        run.stderr
            .contains("image example.local/demo/hello:1.0@sha256:5463"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("is not in the lock"), "{}", run.stderr);
    let run = ferry(&cache, &["lock", s(&spec), "--check"]).failed();
    assert!(
        run.stderr
            .contains("is out of date: image example.local/demo/hello:1.0@sha256:5463"),
        "{}",
        run.stderr
    );

    // Without --locked, build re-locks and then builds.
    ferry(&cache, &["build", s(&spec), "-o", s(&out)]).ok();
    ferry(&cache, &["lock", s(&spec), "--check"]).ok();
    ferry(&cache, &["verify", "--insecure-skip-signature", s(&out)]).ok();
}

#[test]
fn relocking_an_unchanged_spec_rewrites_the_identical_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let lock = dir.path().join("examples/lockfiles/example.lock");
    let before = std::fs::read(&lock).unwrap();
    std::fs::remove_file(&lock).unwrap();
    let run = ferry(&dir.path().join("cache"), &["lock", s(&spec), "--json"]).ok();
    assert_eq!(run.json()["changed"], true);
    assert_eq!(before, std::fs::read(&lock).unwrap());
    let run = ferry(&dir.path().join("cache"), &["lock", s(&spec), "--json"]).ok();
    assert_eq!(run.json()["changed"], false);
}

#[test]
fn cache_gc_keeps_what_locks_reference() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let cache = dir.path().join("cache");
    let out = dir.path().join("b.tar");
    ferry(&cache, &["build", s(&spec), "--locked", "-o", s(&out)]).ok();
    let lock = dir.path().join("examples/lockfiles/example.lock");
    let gc = ferry(
        &cache,
        &["cache", "gc", s(&lock), "--cache-dir", s(&cache), "--json"],
    )
    .ok()
    .json();
    assert!(
        gc["removed"].as_u64().unwrap() > 0,
        "the derived manifests are not referenced by the lock: {gc}"
    );
    // Everything the lock pins is still there: a rebuild fetches nothing from the sources.
    std::fs::remove_dir_all(dir.path().join("examples/upstream")).unwrap();
    let run = ferry(
        &cache,
        &[
            "build",
            s(&spec),
            "--locked",
            "-o",
            s(&dir.path().join("c.tar")),
            "--json",
        ],
    )
    .ok();
    assert_eq!(run.json()["blobs_fetched"], 0);
    assert_eq!(sha256_file(&out), sha256_file(&dir.path().join("c.tar")));
}

#[test]
fn concurrent_builds_share_one_cache_safely() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let cache = dir.path().join("cache");
    let outputs: Vec<PathBuf> = (0..4)
        .map(|i| dir.path().join(format!("out{i}/b.tar")))
        .collect();
    std::thread::scope(|scope| {
        for (i, out) in outputs.iter().enumerate() {
            let (cache, spec) = (&cache, &spec);
            let jobs = if i % 2 == 0 { "1" } else { "8" };
            scope.spawn(move || {
                ferry(
                    cache,
                    &["build", s(spec), "--locked", "-j", jobs, "-o", s(out)],
                )
                .ok()
            });
        }
    });
    let first = sha256_file(&outputs[0]);
    for out in &outputs {
        assert_eq!(sha256_file(out), first);
        ferry(&cache, &["verify", "--insecure-skip-signature", s(out)]).ok();
    }
    // Every loose blob in the shared cache still hashes to its name.
    for entry in std::fs::read_dir(cache.join("blobs-v1/sha256")).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(
            sha256_file(&entry.path()),
            entry.file_name().to_str().unwrap()
        );
    }
}

#[test]
fn consumers_trust_a_stamp_only_while_the_file_is_unchanged() {
    use std::io::{Read, Seek, SeekFrom, Write};
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let cache = dir.path().join("cache");
    let out = dir.path().join("b.tar");
    let key = dir.path().join("k.key");
    let public = dir.path().join("k.pub");
    generate_key(&cache, &[], &key, &public, &[]).ok();
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
    let rendered = dir.path().join("r");
    let render = |extra: &[&str]| {
        let mut args = vec!["render", s(&out), "-o", s(&rendered)];
        args.extend_from_slice(extra);
        ferry(&cache, &args)
    };
    let first = render(&["--key", s(&public)]).ok();
    assert!(
        first.stderr.contains("every blob hashed"),
        "{}",
        first.stderr
    );
    let second = render(&["--key", s(&public)]).ok();
    assert!(
        second
            .stderr
            .contains("unchanged since its last full verification"),
        "{}",
        second.stderr
    );
    assert!(render(&["--key", s(&public), "--reverify"])
        .ok()
        .stderr
        .contains("every blob hashed"));
    // The signature is still checked against the caller's keys.
    let other = dir.path().join("other.pub");
    generate_key(&cache, &[], &dir.path().join("o.key"), &other, &[]).ok();
    render(&["--key", s(&other)]).failed();

    // Altering a byte in place, even with the old modification time put back,
    // changes the file's state: the next consumer hashes everything and refuses.
    let modified = std::fs::metadata(&out).unwrap().modified().unwrap();
    let mut bytes = Vec::new();
    std::fs::File::open(&out)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    // A byte inside the chart archive's blob.
    let chart = std::fs::read(common::repo_root().join("examples/upstream/charts/hello-0.1.0.tgz"))
        .unwrap();
    let at = bytes
        .windows(chart.len())
        .position(|w| w == chart.as_slice())
        .unwrap()
        + 100;
    let mut file = std::fs::OpenOptions::new().write(true).open(&out).unwrap();
    file.seek(SeekFrom::Start(at as u64)).unwrap();
    file.write_all(&[bytes[at] ^ 0xff]).unwrap();
    file.set_modified(modified).unwrap();
    drop(file);
    let run = render(&["--key", s(&public)]).failed();
    assert!(run.stderr.contains("did not verify"), "{}", run.stderr);
}
