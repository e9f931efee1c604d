//! Shared by the tests that compare ferry-helm with outputs recorded from the real Helm.

#![allow(clippy::expect_used, clippy::unwrap_used, dead_code)]

use std::path::Path;

use ferry_helm::{render_templates, Chart, RenderOptions};

/// Renders `tests/<name>` with `opts` and compares every template's output with
/// `tests/<name>.expected.json` (what the real Helm printed per template), printing each
/// difference line by line.
pub fn compare_with_helm(name: &str, opts: &RenderOptions) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("{name}.expected.json"))).expect("read expected"),
    )
    .expect("parse expected");
    let expected = expected.as_object().expect("an object");
    let chart = Chart::load(dir.join(name)).expect("load chart");
    let rendered = render_templates(&chart, opts).expect("render");
    let mut failures = Vec::new();
    for (name, want) in expected {
        let want = want.as_str().expect("a string");
        let got = rendered
            .get(name)
            .map(String::as_str)
            .unwrap_or("<missing>");
        if got == want {
            println!("PASS {name}");
            continue;
        }
        println!("FAIL {name}");
        for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
            if g != w {
                println!("  line {}:\n    got:  {g:?}\n    want: {w:?}", i + 1);
            }
        }
        if got.lines().count() != want.lines().count() {
            println!(
                "  got {} lines, want {}",
                got.lines().count(),
                want.lines().count()
            );
        }
        failures.push(name.clone());
    }
    assert!(
        failures.is_empty(),
        "templates differing from real Helm: {failures:?}"
    );
}
