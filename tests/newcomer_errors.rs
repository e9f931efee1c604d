//! What a new user meets first: wrong paths and wrong files get a plain message, no parser
//! internals, no internal type names, and a hint where one helps (issue 15 §3).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ferry, repo_root, s};

/// No message may show parser internals or Rust type names.
fn clean(text: &str) {
    for leak in [
        "BundleFile",
        "numeric field",
        "cksum",
        ":1:1:",
        "invalid type",
        "Error {",
    ] {
        assert!(!text.contains(leak), "`{leak}` leaked into:\n{text}");
    }
}

#[test]
fn a_spec_that_does_not_exist_is_named_as_missing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    let run = ferry(&dir.path().join("cache"), &["lock", s(&missing)]).failed();
    assert!(
        run.stderr
            .contains(&format!("no such file: {}", missing.display())),
        "{}",
        run.stderr
    );
    clean(&run.stderr);
}

#[test]
fn a_file_that_is_not_a_bundle_is_called_that() {
    let dir = tempfile::tempdir().unwrap();
    let readme = repo_root().join("README.md");
    for args in [
        vec!["inspect", s(&readme)],
        vec!["verify", s(&readme), "--insecure-skip-signature"],
    ] {
        let run = ferry(&dir.path().join("cache"), &args).failed();
        assert!(
            run.stderr.contains("is not a ferry bundle")
                && run.stderr.contains("not a tar archive"),
            "{args:?}: {}",
            run.stderr
        );
        clean(&run.stderr);
    }
}

#[test]
fn diff_against_a_file_that_is_neither_names_what_it_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let lock = repo_root().join("examples/lockfiles/example.lock");
    let readme = repo_root().join("README.md");
    let run = ferry(&dir.path().join("cache"), &["diff", s(&lock), s(&readme)]).failed();
    assert!(
        run.stderr
            .contains("not a bundle (archive or layout), a lockfile or a bundle spec"),
        "{}",
        run.stderr
    );
    clean(&run.stderr);
}

#[test]
fn a_locked_build_without_a_lockfile_says_to_run_lock() {
    let dir = tempfile::tempdir().unwrap();
    let spec = common::copy_example(dir.path());
    std::fs::remove_file(dir.path().join("examples/lockfiles/example.lock")).unwrap();
    let out = dir.path().join("b.tar");
    let run = ferry(
        &dir.path().join("cache"),
        &["build", s(&spec), "--locked", "-o", s(&out)],
    )
    .failed();
    assert!(
        run.stderr.contains("no lockfile at") && run.stderr.contains("hint: run `ferry lock"),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn counts_agree_with_their_nouns() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("example.tar");
    common::build_example(&dir.path().join("cache"), &bundle);
    let run = ferry(
        &dir.path().join("cache"),
        &["verify", s(&bundle), "--insecure-skip-signature"],
    )
    .ok();
    let all = format!("{}{}", run.stdout, run.stderr);
    // The example has one chart: "1 chart", never "1 charts".
    assert!(
        all.contains("1 chart,") || all.contains("1 chart "),
        "{all}"
    );
    assert!(!all.contains("1 charts"), "{all}");
}
