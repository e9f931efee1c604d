//! Deeply nested specs are rejected early, with file:line:column (issue 16 §7).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ferry, s};

#[test]
fn a_400_kb_nested_spec_is_rejected_in_well_under_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("deep.yaml");
    let text = format!(
        "apiVersion: ferry/v1\nkind: Bundle\nname: x\nplatforms: {}{}\n",
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    std::fs::write(&spec, text).unwrap();
    let started = std::time::Instant::now();
    let run = ferry(&dir.path().join("cache"), &["lock", s(&spec)]).failed();
    let elapsed = started.elapsed();
    assert!(
        run.stderr
            .contains(&format!("{}:4:76: nested deeper than 64 levels", s(&spec))),
        "{}",
        run.stderr
    );
    assert!(elapsed.as_secs_f64() < 1.0, "took {elapsed:?}");
}
