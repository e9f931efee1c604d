//! Bad specs get clear errors naming file:line:column, and nothing is written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{copy_example, ferry, s};

fn write(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn malformed_yaml_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    write(&spec, "apiVersion: ferry/v1\nkind: Bundle\nname: example\nplatforms: [linux/amd64\ncomponents: []\n");
    let run = ferry(dir.path(), &["lock", s(&spec)]).failed();
    assert!(run.stderr.contains("example.yaml:"), "{}", run.stderr);
    let lock = dir.path().join("examples/lockfiles/example.lock");
    let before = std::fs::read_to_string(&lock).unwrap();
    assert_eq!(
        before,
        std::fs::read_to_string(common::repo_root().join("examples/lockfiles/example.lock"))
            .unwrap(),
        "the lock is untouched"
    );
}

#[test]
fn unknown_key_is_an_error_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "    namespace: hello\n",
        "    namespace: hello\n    namespce: typo\n",
    );
    write(&spec, &text);
    let run = ferry(dir.path(), &["lock", s(&spec)]).failed();
    let line = text.lines().position(|l| l.contains("namespce")).unwrap() + 1;
    assert!(
        run.stderr.contains(&format!("example.yaml:{line}:5")),
        "expected line {line} col 5 in: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("unknown field `namespce`"),
        "{}",
        run.stderr
    );
}

#[test]
fn unknown_key_in_a_component_manifest_names_that_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let manifest = dir
        .path()
        .join("examples/vendor-manifests/hello/1.0.0.yaml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("license: Apache-2.0", "license: Apache-2.0\nlicence: typo");
    write(&manifest, &text);
    let run = ferry(dir.path(), &["lock", s(&spec)]).failed();
    assert!(
        run.stderr.contains("hello/1.0.0.yaml:6:1"),
        "{}",
        run.stderr
    );
}

#[test]
fn missing_component_manifest_points_at_the_spec_entry() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "  - name: hello-cli\n    version: 1.0.0",
        "  - name: hello-cli\n    version: 9.9.9",
    );
    write(&spec, &text);
    let run = ferry(dir.path(), &["lock", s(&spec)]).failed();
    let line = text
        .lines()
        .position(|l| l.contains("name: hello-cli"))
        .unwrap()
        + 1;
    assert!(
        run.stderr.contains(&format!("example.yaml:{line}:")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("no component manifest for `hello-cli` version `9.9.9`"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("available versions: 1.0.0"),
        "{}",
        run.stderr
    );
}

#[test]
fn invalid_reference_and_platform_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let manifest = dir
        .path()
        .join("examples/vendor-manifests/hello/1.0.0.yaml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("example.local/demo/tool:2.1", "example.local/Demo/tool");
    write(&manifest, &text);
    let run = ferry(dir.path(), &["lock", s(&spec)]).failed();
    let line = text.lines().position(|l| l.contains("Demo/tool")).unwrap() + 1;
    assert!(
        run.stderr.contains(&format!("1.0.0.yaml:{line}:")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("invalid image reference"),
        "{}",
        run.stderr
    );

    let spec_text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("linux/arm64]", "arm64]");
    write(&spec, &spec_text);
    let run = ferry(dir.path(), &["lock", s(&spec)]).failed();
    assert!(run.stderr.contains("example.yaml:7:"), "{}", run.stderr);
    assert!(
        run.stderr.contains("invalid platform `arm64`"),
        "{}",
        run.stderr
    );
}

#[test]
fn wrong_file_sha256_fails_the_lock_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let manifest = dir
        .path()
        .join("examples/vendor-manifests/hello-cli/1.0.0.yaml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("amd64: 16ef", "amd64: 26ef");
    write(&manifest, &text);
    let lock = dir.path().join("examples/lockfiles/example.lock");
    let before = std::fs::read(&lock).unwrap();
    let run = ferry(dir.path(), &["lock", s(&spec)]).failed();
    assert!(
        run.stderr.contains("file hello-cli 1.0.0 linux/amd64"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("the content hashes to sha256:16efe47a"),
        "{}",
        run.stderr
    );
    assert_eq!(before, std::fs::read(&lock).unwrap());
}

#[test]
fn overlay_changes_values_adds_images_and_removes_components() {
    let dir = tempfile::tempdir().unwrap();
    let spec = copy_example(dir.path());
    let site = spec.with_file_name("site.yaml");
    write(
        &site,
        "apiVersion: ferry/v1\nkind: Bundle\nname: site\nbase: example.yaml\nplatforms: [linux/amd64]\ncomponents:\n  - name: hello\n    values: {replicas: 5}\n",
    );
    ferry(dir.path(), &["lock", s(&site)]).ok();
    let lock = std::fs::read_to_string(dir.path().join("examples/lockfiles/site.lock")).unwrap();
    assert!(lock.contains("platforms = [\"linux/amd64\"]"), "{lock}");
    assert!(
        !lock.contains("linux/arm64"),
        "arm64 files and manifests are dropped: {lock}"
    );
    let base = std::fs::read_to_string(dir.path().join("examples/lockfiles/example.lock")).unwrap();
    let fingerprint = |text: &str, name: &str| {
        let start = text.find(&format!("name = \"{name}\"")).unwrap();
        text[start..]
            .lines()
            .find(|l| l.starts_with("fingerprint"))
            .unwrap()
            .to_owned()
    };
    assert_ne!(
        fingerprint(&lock, "hello"),
        fingerprint(&base, "hello"),
        "values are part of the component"
    );

    // Removing a component others depend on is refused, naming the dependency.
    write(
        &site,
        "apiVersion: ferry/v1\nkind: Bundle\nname: site\nbase: example.yaml\nremove: [hello-cli]\n",
    );
    let run = ferry(dir.path(), &["lock", s(&site)]).failed();
    assert!(
        run.stderr.contains("depends on `hello-cli`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hello/1.0.0.yaml:"), "{}", run.stderr);
}
