//! The Go-template behaviour table: tests/gotmpl-chart rendered by ferry-helm must equal what the
//! real Helm printed for each template (tests/gotmpl-chart.expected.json; see its README).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::compare_with_helm;
use ferry_helm::RenderOptions;

#[test]
fn behaviour_table_matches_real_helm() {
    let opts = RenderOptions {
        release_name: "rel".into(),
        namespace: "ns".into(),
        ..RenderOptions::default()
    };
    compare_with_helm("gotmpl-chart", &opts);
}

#[test]
fn import_values_match_real_helm() {
    compare_with_helm("import-values-chart", &RenderOptions::default());
}
