//! `values.schema.json` keywords against real Helm's report for the same charts and values.
//!
//! `schema-keywords-chart` (+ `.expected.txt`) covers `$ref`, `anyOf`, `oneOf`, `if`/`then`;
//! `schema-keywords/` holds one chart per draft and per reference case, values files violating
//! one keyword each (and passing ones), and `expected.txt`, which `schema-keywords/record.sh`
//! wrote from the real Helm (see `schema-keywords/README.md`).
//!
//! Helm lists sibling violations in Go's random map order (it changes from run to run), so
//! reports are compared as trees: same lines, same nesting, siblings in any order. The names
//! in one `additional properties 'a', 'b' not allowed` line come in map order too and are
//! compared as a set. What Helm prints after `Get "URL": ` when it cannot fetch a remote schema
//! is its network error (ferry does not try the network), so that tail is not compared.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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

/// One recorded case of `schema-keywords/expected.txt`.
struct Case {
    chart: String,
    values: Option<String>,
    expected: String,
}

fn cases(text: &str) -> Vec<Case> {
    let mut out: Vec<Case> = Vec::new();
    for line in text.lines() {
        if let Some(head) = line.strip_prefix("=== ") {
            let (chart, values) = head.split_once(' ').expect("=== CHART CASE");
            out.push(Case {
                chart: chart.to_string(),
                values: (values != "-").then(|| values.to_string()),
                expected: String::new(),
            });
        } else if line.starts_with('#') && out.is_empty() || line.starts_with("$ ") {
            continue;
        } else if let Some(case) = out.last_mut() {
            case.expected.push_str(line);
            case.expected.push('\n');
        }
    }
    out
}

/// Normalizes one report line: the names of an `additional properties` line sorted, the
/// network error after a failed fetch cut.
fn normalize(line: &str) -> String {
    if let Some(rest) = line.split_once(": additional properties ") {
        if let Some(names) = rest.1.strip_suffix(" not allowed") {
            let mut names: Vec<&str> = names.split(", ").collect();
            names.sort_unstable();
            return format!(
                "{}: additional properties {} not allowed",
                rest.0,
                names.join(", ")
            );
        }
    }
    if line.starts_with("failing loading \"http") {
        if let Some(i) = line.find(": Get \"") {
            if let Some(j) = line[i + 7..].find("\": ") {
                return line[..i + 7 + j + 3].to_string();
            }
        }
    }
    line.to_string()
}

/// A report as a tree, siblings sorted: `- ` items nest by two-space indentation.
fn canonical(report: &str) -> String {
    #[derive(Default)]
    struct Node {
        line: String,
        children: Vec<Node>,
    }
    fn render(node: &Node, depth: usize, out: &mut Vec<String>) {
        let mut children: Vec<String> = node
            .children
            .iter()
            .map(|c| {
                let mut lines = Vec::new();
                render(c, depth + 1, &mut lines);
                lines.join("\n")
            })
            .collect();
        children.sort();
        out.push(format!("{}{}", "  ".repeat(depth), node.line));
        out.extend(children);
    }
    let mut root = Node::default();
    // The path of the last node at each depth.
    let mut path: Vec<usize> = Vec::new();
    for line in report.trim_end().lines() {
        let trimmed = line.trim_start_matches(' ');
        let indent = (line.len() - trimmed.len()) / 2;
        let depth = if trimmed.starts_with("- ") {
            indent + 1
        } else {
            0
        };
        path.truncate(depth.saturating_sub(1));
        let mut parent = &mut root;
        for &i in &path {
            parent = &mut parent.children[i];
        }
        parent.children.push(Node {
            line: normalize(trimmed),
            children: Vec::new(),
        });
        path.push(parent.children.len() - 1);
    }
    let mut top: Vec<String> = root
        .children
        .iter()
        .map(|c| {
            let mut lines = Vec::new();
            render(c, 0, &mut lines);
            lines.join("\n")
        })
        .collect();
    top.sort();
    top.join("\n")
}

#[test]
fn schema_cases_match_helm() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schema-keywords");
    let text = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
    let cases = cases(&text);
    assert!(cases.len() > 100, "expected.txt has {} cases", cases.len());
    let mut charts: BTreeMap<String, Chart> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut errors = 0;
    for case in &cases {
        let chart = charts
            .entry(case.chart.clone())
            .or_insert_with(|| Chart::load(dir.join(&case.chart)).unwrap());
        let mut options = RenderOptions::default();
        if let Some(values) = &case.values {
            let path: PathBuf = dir.join(format!("{}.values", case.chart)).join(values);
            options.values_files.push(path);
        }
        let got = match render(chart, &options) {
            Ok(rendered) => rendered.to_helm_output(),
            Err(e) => e.to_string(),
        };
        let want = case.expected.trim_end();
        let same = if want.starts_with("values don't meet") {
            errors += 1;
            canonical(want) == canonical(&got)
        } else {
            want == got.trim_end()
        };
        if !same {
            failures.push(format!(
                "{} {}:\n--- helm\n{want}\n--- ferry\n{}\n",
                case.chart,
                case.values.as_deref().unwrap_or("-"),
                got.trim_end()
            ));
        }
    }
    assert!(errors > 80, "only {errors} cases are violations");
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Helm:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
