//! Values given on the command line, in Helm's order: values files, `--set-json`, `--set`,
//! `--set-string`, `--set-file`, `--set-literal` (helm.sh/helm/v4 pkg/cli/values/options.go,
//! MergeValues). The shared helm-template tool takes no `--set` flags, so these expectations
//! come from that order and from strvals' documented syntax.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use ferry_helm::{render, Chart, RenderOptions};

fn chart() -> Chart {
    Chart::from_files(
        vec![
            (
                "Chart.yaml".into(),
                b"apiVersion: v2\nname: flags\nversion: 0.1.0\n".to_vec(),
            ),
            ("values.yaml".into(), b"a:\n  b: 0\n".to_vec()),
            (
                "templates/cm.yaml".into(),
                b"b: {{ .Values.a.b | toJson }}\nlit: {{ .Values.lit | toJson }}\nf: {{ .Values.f | toJson }}\n"
                    .to_vec(),
            ),
        ],
        "flags",
    )
    .unwrap()
}

fn rendered(opts: &RenderOptions) -> String {
    render(&chart(), opts).unwrap().helm_output().to_string()
}

#[test]
fn set_overrides_set_json_and_literal_comes_last() {
    let file = std::env::temp_dir().join(format!("ferry-helm-set-file-{}", std::process::id()));
    std::fs::write(&file, "from a file").unwrap();
    let opts = RenderOptions {
        set_json_values: vec![r#"a={"b": 1}"#.into()],
        set_values: vec!["a.b=2".into(), "lit=set".into()],
        set_file_values: vec![format!("f={}", file.display())],
        set_literal_values: vec![r"lit=x,y={z}\n=1".into()],
        ..RenderOptions::default()
    };
    let out = rendered(&opts);
    let _ = std::fs::remove_file(&file);
    assert!(
        out.contains("b: 2\n"),
        "--set must win over --set-json:\n{out}"
    );
    assert!(
        out.contains(r#"lit: "x,y={z}\\n=1""#),
        "--set-literal keeps its value verbatim and comes last:\n{out}"
    );
    assert!(out.contains(r#"f: "from a file""#), "{out}");
}

#[test]
fn a_literal_without_a_value_is_an_error() {
    let opts = RenderOptions {
        set_literal_values: vec!["novalue".into()],
        ..RenderOptions::default()
    };
    let err = render(&chart(), &opts).unwrap_err().to_string();
    assert!(
        err.contains("--set-literal") && err.contains("novalue"),
        "{err}"
    );
}
