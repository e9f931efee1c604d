//! Conformance against real Helm: Helm's own `helm template` goldens (shared/conformance) and the
//! real-chart corpus (shared/corpus). Reads ../../../shared relative to this crate and fails loudly
//! when it is absent. Prints per-case results and a score, and asserts a ratchet: every case in
//! the KNOWN_* lists must pass, and at least that many must pass.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ferry_helm::{discover_images, render, render_template_string, Chart, RenderOptions};

/// Helm golden cases known to pass byte for byte (or fail for the same reason).
const KNOWN_GOLDEN: &[&str] = &[
    "output/template.txt",
    "output/template-set.txt",
    "output/template-values-files.txt",
    "output/template-name-template.txt",
    "output/template-lib-chart.txt",
    "output/template-chart-bad-type.txt",
    "output/template-chart-with-template-lib-dep.txt",
    "output/template-chart-with-template-lib-archive-dep.txt",
    "output/template-with-kube-version.txt",
    "output/template-with-api-version.txt",
    "output/template-with-crds.txt",
    "output/template-show-only-one.txt",
    "output/template-show-only-multiple.txt",
    "output/template-show-only-glob.txt",
    "output/object-order.txt",
    "output/template-with-invalid-yaml.txt",
    "output/template-skip-tests.txt",
    "output/issue-9027.txt",
    "output/template-subchart-cm.txt",
    "output/template-subchart-cm-set.txt",
    "output/template-subchart-cm-set-file.txt",
];

/// Corpus renderings (chart or chart.variant1) whose documents equal Helm's.
const KNOWN_CORPUS_DOCS: &[&str] = &[
    "chaos-mesh",
    "chaos-mesh.variant1",
    "chartmuseum",
    "chartmuseum.variant1",
    "harbor",
    "harbor.variant1",
    "ingress-nginx",
    "ingress-nginx.variant1",
    "istio-base",
    "istio-base.variant1",
    "istiod",
    "istiod.variant1",
    "kyverno",
    "kyverno.variant1",
    "metallb",
    "metallb.variant1",
    "nfs-subdir-external-provisioner",
    "nfs-subdir-external-provisioner.variant1",
    "openbao",
    "openbao.variant1",
    "rook-ceph",
    "rook-ceph.variant1",
];

/// Corpus renderings whose discovered images equal Helm's list exactly.
const KNOWN_CORPUS_IMAGES: &[&str] = &[
    "chaos-mesh",
    "chaos-mesh.variant1",
    "chartmuseum",
    "chartmuseum.variant1",
    "harbor",
    "harbor.variant1",
    "ingress-nginx",
    "ingress-nginx.variant1",
    "istio-base",
    "istio-base.variant1",
    "istiod",
    "istiod.variant1",
    "kyverno",
    "kyverno.variant1",
    "metallb",
    "metallb.variant1",
    "nfs-subdir-external-provisioner",
    "nfs-subdir-external-provisioner.variant1",
    "openbao",
    "openbao.variant1",
    "rook-ceph",
    "rook-ceph.variant1",
];

/// Deterministic corpus renderings (no random fields) whose output is byte-identical to Helm v4.2.3's.
const KNOWN_CORPUS_BYTES: &[&str] = &[
    "chartmuseum",
    "chartmuseum.variant1",
    "ingress-nginx",
    "ingress-nginx.variant1",
    "istio-base",
    "istio-base.variant1",
    "istiod",
    "istiod.variant1",
    "kyverno",
    "kyverno.variant1",
    "metallb",
    "metallb.variant1",
    "nfs-subdir-external-provisioner",
    "nfs-subdir-external-provisioner.variant1",
    "openbao",
    "openbao.variant1",
    "rook-ceph",
    "rook-ceph.variant1",
];

fn shared() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    assert!(
        p.join("conformance/helm-template/cases.tsv").is_file() && p.join("corpus/charts").is_dir(),
        "the shared conformance data is missing: expected {} (with conformance/helm-template and corpus/charts)",
        p.display()
    );
    p
}

fn golden_case(dir: &Path, chart: &str, args: &str) -> Result<String, String> {
    let mut opts = RenderOptions {
        kube_version: Some("1.20.0".into()),
        // Helm's own goldens come from its current main (v4.3's split)
        manifest_split: ferry_helm::ManifestSplit::Current,
        ..RenderOptions::default()
    };
    if let Some(t) = args.strip_prefix("--name-template=") {
        opts.release_name = render_template_string(t).map_err(|e| e.to_string())?;
    } else {
        let words: Vec<&str> = args.split_whitespace().collect();
        let mut i = 0;
        while i < words.len() {
            let val = words.get(i + 1).copied().unwrap_or("");
            match words[i] {
                "--set" => opts.set_values.push(val.into()),
                "--values" | "-f" => opts.values_files.push(dir.join(val)),
                "--kube-version" => opts.kube_version = Some(val.into()),
                "--api-versions" => opts.api_versions.extend(val.split(',').map(String::from)),
                "--show-only" => opts.show_only.push(val.into()),
                "--include-crds" | "--skip-tests" => {
                    if words[i] == "--include-crds" {
                        opts.include_crds = true;
                    } else {
                        opts.skip_tests = true;
                    }
                    i += 1;
                    continue;
                }
                other => panic!("unsupported argument in cases.tsv: {other}"),
            }
            i += 2;
        }
    }
    let chart = Chart::load(dir.join(chart)).map_err(|e| e.to_string())?;
    render(&chart, &opts)
        .map(|r| r.to_helm_output())
        .map_err(|e| e.to_string())
}

#[test]
fn helm_golden_cases() {
    let dir = shared().join("conformance/helm-template");
    let cases = std::fs::read_to_string(dir.join("cases.tsv")).expect("read cases.tsv");
    let mut passed = BTreeSet::new();
    let mut total = 0;
    for line in cases
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        let (golden, chart, args, expect) = (f[0], f[1], f[2], f[3]);
        total += 1;
        let want = std::fs::read_to_string(dir.join(golden)).expect("read golden");
        let got = golden_case(&dir, chart, args);
        let ok = match (expect, &got) {
            ("ok", Ok(out)) => *out == want,
            ("error", Err(e)) => {
                let first = want.lines().next().unwrap_or("");
                first == format!("Error: {e}")
            }
            _ => false,
        };
        println!("{} {golden}", if ok { "PASS" } else { "FAIL" });
        if !ok {
            match &got {
                Ok(out) => println!("  got {} bytes, want {} bytes", out.len(), want.len()),
                Err(e) => println!("  error: {e}"),
            }
        } else {
            passed.insert(golden.to_string());
        }
    }
    println!("helm golden cases: {}/{total} pass", passed.len());
    for k in KNOWN_GOLDEN {
        assert!(
            passed.contains(*k),
            "regression: {k} passed before and fails now"
        );
    }
    assert!(
        passed.len() >= KNOWN_GOLDEN.len(),
        "fewer cases pass than the ratchet"
    );
}

/// Splits `helm template` output into (source, parsed document) pairs.
fn documents(out: &str) -> Vec<(String, serde_norway::Value)> {
    let mut docs = Vec::new();
    for chunk in out.split("---\n# Source: ").skip(1) {
        let (src, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
        let body = body.trim_end_matches("---\n");
        for part in body.split("\n---\n") {
            let v: serde_norway::Value =
                serde_norway::from_str(part).unwrap_or(serde_norway::Value::Null);
            if v.is_null() {
                continue;
            }
            docs.push((src.to_string(), v));
        }
    }
    docs
}

fn mask(v: &mut serde_norway::Value, path: &str) {
    let random = serde_norway::Value::String("<random>".into());
    if let Some(rest) = path.strip_prefix('[') {
        let Some((idx, after)) = rest.split_once(']') else {
            return;
        };
        let Ok(idx) = idx.parse::<usize>() else {
            return;
        };
        let after = after.strip_prefix('.').unwrap_or(after);
        if let serde_norway::Value::Sequence(items) = v {
            if let Some(item) = items.get_mut(idx) {
                if after.is_empty() {
                    *item = random;
                } else {
                    mask(item, after);
                }
            }
        }
        return;
    }
    let serde_norway::Value::Mapping(m) = v else {
        return;
    };
    let mut best: Option<String> = None;
    for k in m.keys() {
        if let serde_norway::Value::String(k) = k {
            let fits = path == k
                || (path.starts_with(k.as_str())
                    && matches!(path.as_bytes().get(k.len()), Some(b'.') | Some(b'[')));
            if fits && best.as_ref().is_none_or(|b| k.len() > b.len()) {
                best = Some(k.clone());
            }
        }
    }
    let Some(k) = best else { return };
    let key = serde_norway::Value::String(k.clone());
    if path == k {
        m.insert(key, random);
    } else if let Some(child) = m.get_mut(&key) {
        let rest = &path[k.len()..];
        mask(child, rest.strip_prefix('.').unwrap_or(rest));
    }
}

fn apply_masks(docs: &mut [(String, serde_norway::Value)], masks: &str) {
    for line in masks.lines() {
        let parts: Vec<&str> = line.split(" | ").collect();
        if parts.len() != 3 {
            continue;
        }
        for (src, v) in docs.iter_mut() {
            let kind = v
                .get("kind")
                .and_then(|k| k.as_str())
                .unwrap_or("")
                .to_string();
            let name = v
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(|n| n.as_str())
                .unwrap_or("")
                .to_string();
            if src == parts[0] && format!("{kind}/{name}") == parts[1] {
                mask(v, parts[2]);
            }
        }
    }
}

#[test]
fn corpus_charts() {
    let dir = shared().join("corpus/charts");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("read corpus")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no corpus charts found");
    let mut docs_ok = BTreeSet::new();
    let mut images_ok = BTreeSet::new();
    let mut bytes_ok = BTreeSet::new();
    let mut total = 0;
    for name in &names {
        for variant in ["", ".variant1"] {
            let key = format!("{name}{variant}");
            let golden = dir.join(format!("{key}.golden.yaml"));
            if !golden.is_file() {
                continue;
            }
            total += 1;
            let mut opts = RenderOptions {
                release_name: "rel".into(),
                namespace: "ns".into(),
                // the corpus goldens come from Helm v4.2.3
                manifest_split: ferry_helm::ManifestSplit::Helm42,
                ..RenderOptions::default()
            };
            if !variant.is_empty() {
                opts.values_files
                    .push(dir.join(format!("{key}.values.json")));
            }
            let want = std::fs::read_to_string(&golden).expect("read golden");
            let got = Chart::load(dir.join(name)).and_then(|c| render(&c, &opts));
            let out = match got {
                Ok(r) => r.to_helm_output(),
                Err(e) => {
                    println!("FAIL {key}: {e}");
                    continue;
                }
            };
            let masks = std::fs::read_to_string(dir.join(format!("{key}.random-paths.txt")))
                .unwrap_or_default();
            let mut a = documents(&out);
            let mut b = documents(&want);
            apply_masks(&mut a, &masks);
            apply_masks(&mut b, &masks);
            let same_docs = a == b;
            if same_docs {
                docs_ok.insert(key.clone());
            } else {
                let diff = a.iter().zip(b.iter()).position(|(x, y)| x != y);
                println!(
                    "  {key}: {} docs vs {} expected; first difference at document {:?} ({})",
                    a.len(),
                    b.len(),
                    diff,
                    diff.and_then(|i| b.get(i))
                        .map(|d| d.0.clone())
                        .unwrap_or_default()
                );
                if let (Some(i), Ok(_)) = (diff, std::env::var("FERRY_HELM_DIFF")) {
                    let show =
                        |d: &serde_norway::Value| serde_norway::to_string(d).unwrap_or_default();
                    println!("--- got:\n{}\n--- want:\n{}", show(&a[i].1), show(&b[i].1));
                }
            }
            let want_images: BTreeSet<String> =
                std::fs::read_to_string(dir.join(format!("{key}.images.txt")))
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(String::from)
                    .collect();
            let got_images = discover_images(&out).unwrap_or_default();
            let same_images = got_images == want_images;
            if out == want {
                bytes_ok.insert(key.clone());
            }
            if same_images {
                images_ok.insert(key.clone());
            }
            println!(
                "{} {key}: documents {}, images {}, byte-identical {}",
                if same_docs && same_images {
                    "PASS"
                } else {
                    "FAIL"
                },
                if same_docs { "equal" } else { "differ" },
                if same_images { "equal" } else { "differ" },
                out == want
            );
        }
    }
    println!(
        "corpus: documents {}/{total}, images {}/{total}, byte-identical {}/{total}",
        docs_ok.len(),
        images_ok.len(),
        bytes_ok.len()
    );
    for k in KNOWN_CORPUS_BYTES {
        assert!(
            bytes_ok.contains(*k),
            "regression: {k} was byte-identical to Helm and is not now"
        );
    }
    for k in KNOWN_CORPUS_DOCS {
        assert!(
            docs_ok.contains(*k),
            "regression: documents of {k} matched before and differ now"
        );
    }
    for k in KNOWN_CORPUS_IMAGES {
        assert!(
            images_ok.contains(*k),
            "regression: images of {k} matched before and differ now"
        );
    }
    assert!(
        docs_ok.len() >= KNOWN_CORPUS_DOCS.len() && images_ok.len() >= KNOWN_CORPUS_IMAGES.len()
    );
}

/// values.schema.json validation against charts of Helm's testdata; the expected reports were
/// printed by the real Helm (shared/tools/helm-template on the same charts).
#[test]
fn schema_validation_matches_helm() {
    let dir = shared().join("conformance/helm-template/testcharts");
    let report = |chart: &str| -> String {
        let c = Chart::load(dir.join(chart)).expect("load chart");
        match render(&c, &RenderOptions::default()) {
            Ok(_) => String::from("ok"),
            Err(e) => e.to_string(),
        }
    };
    assert_eq!(
        report("chart-with-schema-negative"),
        "values don't meet the specifications of the schema(s) in the following chart(s):\n\
         empty:\n- at '': missing property 'employmentInfo'\n- at '/age': minimum: got -5, want 0\n"
    );
    assert_eq!(
        report("chart-with-schema-and-subchart"),
        "values don't meet the specifications of the schema(s) in the following chart(s):\n\
         chart-without-schema:\n- at '': missing property 'lastname'\n\
         subchart-with-schema:\n- at '': missing property 'age'\n"
    );
    assert_eq!(report("chart-with-schema"), "ok");
    let c = Chart::load(dir.join("chart-with-schema-negative")).expect("load chart");
    let skip = RenderOptions {
        skip_schema_validation: true,
        ..RenderOptions::default()
    };
    assert!(render(&c, &skip).is_ok());
}

/// Error messages for other charts of Helm's testdata; expected texts were printed by the real
/// Helm (shared/tools/helm-template) for the same charts.
#[test]
fn testchart_errors_match_helm() {
    let dir = shared().join("conformance/helm-template/testcharts");
    let err = |chart: &str| -> String {
        match Chart::load(dir.join(chart)).and_then(|c| render(&c, &RenderOptions::default())) {
            Ok(_) => String::from("ok"),
            Err(e) => e.to_string(),
        }
    };
    assert_eq!(
        err("chart-bad-requirements"),
        "cannot load Chart.yaml: error converting YAML to JSON: yaml: line 6: did not find expected '-' indicator"
    );
    assert_eq!(
        err("chart-with-bad-subcharts"),
        "error unpacking subchart bad-subchart in chart-with-bad-subcharts: validation: chart.metadata.name is required"
    );
    assert_eq!(err("upgradetest"), "Chart.yaml file is missing");
    assert_eq!(
        err("issue1979"),
        "alpine/templates/alpine-pod.yaml:16:21\n  executing \"alpine/templates/alpine-pod.yaml\" at <.Values.test.Name>:\n    nil pointer evaluating interface {}.Name"
    );
    assert_eq!(
        err("chart-with-template-with-invalid-template-expr"),
        "chart-with-template-with-invalid-template-expr/templates/alpine-pod.yaml:7:38\n  executing \"chart-with-template-with-invalid-template-expr/templates/alpine-pod.yaml\" at <b64enc>:\n    invalid value; expected string"
    );
    assert_eq!(err("pre-release-chart-0.1.0-alpha.tgz"), "ok");
}
