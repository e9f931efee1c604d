//! The Go-template behaviour table: tests/gotmpl-chart rendered by ferry-helm must equal what the
//! real Helm printed for each template (tests/gotmpl-chart.expected.json; see its README).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;

use ferry_helm::{render_templates, Chart, RenderOptions};

#[test]
fn behaviour_table_matches_real_helm() {
    compare_with_helm("gotmpl-chart");
}

#[test]
fn import_values_match_real_helm() {
    compare_with_helm("import-values-chart");
}

fn compare_with_helm(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("{name}.expected.json"))).expect("read expected"),
    )
    .expect("parse expected");
    let expected = expected.as_object().expect("an object");
    let chart = Chart::load(dir.join(name)).expect("load chart");
    let opts = RenderOptions {
        release_name: if name == "gotmpl-chart" {
            "rel"
        } else {
            "release-name"
        }
        .into(),
        namespace: if name == "gotmpl-chart" {
            "ns"
        } else {
            "default"
        }
        .into(),
        ..RenderOptions::default()
    };
    let rendered = render_templates(&chart, &opts).expect("render");
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
