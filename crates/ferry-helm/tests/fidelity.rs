//! Helm behaviours real charts broke on (issue 14, Part 1): tests/fidelity-chart rendered by
//! ferry-helm must equal what the real Helm printed for each template
//! (tests/fidelity-chart.expected.json; see tests/fidelity-chart/README.md).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::compare_with_helm;
use ferry_helm::RenderOptions;

#[test]
fn literals_regexps_and_to_yaml_match_real_helm() {
    compare_with_helm("fidelity-chart", &RenderOptions::default());
}

/// Only the top chart directory's `.helmignore` applies (to the whole tree); a subchart's own,
/// in a directory or inside a `.tgz`, does not (golden: tests/helmignore-chart.expected.txt,
/// printed by `helm-template helmignore-chart`).
#[test]
fn only_the_top_helmignore_applies() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let want = std::fs::read_to_string(dir.join("helmignore-chart.expected.txt")).unwrap();
    let chart = ferry_helm::Chart::load(dir.join("helmignore-chart")).unwrap();
    let rendered = ferry_helm::render(&chart, &RenderOptions::default()).unwrap();
    assert_eq!(rendered.helm_output(), want);
}

/// The default split is what Helm 3.x and v4.2 print: blank lines ending a document followed by
/// another in the same file are dropped (golden: tests/split-chart.expected.txt, printed by
/// `helm-template split-chart`, Helm v4.2.3); v4.3's split keeps them.
#[test]
fn default_split_is_helm_3_and_4_2() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let want = std::fs::read_to_string(dir.join("split-chart.expected.txt")).unwrap();
    let chart = ferry_helm::Chart::load(dir.join("split-chart")).unwrap();
    let rendered = ferry_helm::render(&chart, &RenderOptions::default()).unwrap();
    assert_eq!(rendered.helm_output(), want);
    let current = RenderOptions {
        manifest_split: ferry_helm::ManifestSplit::Current,
        ..RenderOptions::default()
    };
    let kept = ferry_helm::render(&chart, &current).unwrap();
    assert!(kept.helm_output().contains("    kept line\n\n\n\n---"));
    assert!(want.contains("    kept line\n---"));
}

/// Renders are reproducible from the render clock, so a generated certificate can be expired
/// at the real current time: the render says so (and not when the clock is recent).
#[test]
fn expired_generated_certificates_are_warned_about() {
    let chart = ferry_helm::Chart::from_files(
        vec![
            (
                "Chart.yaml".into(),
                b"apiVersion: v2\nname: certs\nversion: 0.1.0\n".to_vec(),
            ),
            (
                "templates/ca.yaml".into(),
                b"ca: {{ (genCA \"site-ca\" 365).Cert | b64enc }}\n".to_vec(),
            ),
        ],
        "certs",
    )
    .unwrap();
    let old = RenderOptions {
        now: Some(1_577_836_800), // 2020-01-01
        ..RenderOptions::default()
    };
    let rendered = ferry_helm::render(&chart, &old).unwrap();
    assert_eq!(rendered.warnings.len(), 1, "{:?}", rendered.warnings);
    let warning = &rendered.warnings[0];
    assert!(warning.contains("certs/templates/ca.yaml"), "{warning}");
    assert!(
        warning.contains("\"site-ca\" expired at 2020-12-31T00:00:00Z"),
        "{warning}"
    );
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let recent = RenderOptions {
        now: Some(wall),
        ..RenderOptions::default()
    };
    assert!(ferry_helm::render(&chart, &recent)
        .unwrap()
        .warnings
        .is_empty());
}
