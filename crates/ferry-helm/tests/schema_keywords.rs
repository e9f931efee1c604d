//! `values.schema.json` keywords beyond the basics (`$ref`, `anyOf`, `oneOf`,
//! `if`/`then`), against real Helm's report for the same chart. Helm orders
//! the violations in its own way; the lines are compared as a set, and each
//! nested line must follow its parent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use ferry_helm::{render, Chart, RenderOptions};

#[test]
fn schema_keywords_report_like_helm() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let expected_text =
        std::fs::read_to_string(dir.join("schema-keywords-chart.expected.txt")).unwrap();
    let expected: BTreeSet<&str> = expected_text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect();
    let chart = Chart::load(dir.join("schema-keywords-chart")).unwrap();
    let error = render(&chart, &RenderOptions::default())
        .unwrap_err()
        .to_string();
    let lines: Vec<&str> = error.lines().skip(1).collect();
    let got: BTreeSet<&str> = lines.iter().copied().collect();
    assert_eq!(got, expected, "ferry said:\n{error}");
    let anyof = lines
        .iter()
        .position(|l| l.contains("'anyOf' failed"))
        .unwrap();
    assert!(
        lines[anyof + 1].starts_with("  - at '/port'")
            && lines[anyof + 2].starts_with("  - at '/port'")
    );

    // Values that satisfy every keyword render.
    let options = RenderOptions {
        set_values: vec![
            "port=80".into(),
            "mode=a".into(),
            "size=4".into(),
            "ref=3".into(),
        ],
        ..RenderOptions::default()
    };
    render(&chart, &options).unwrap();
}
