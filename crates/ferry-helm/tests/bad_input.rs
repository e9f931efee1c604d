//! Bad input must fail cleanly, with Helm's wording: syntax errors name template and line,
//! `required`/`fail` messages match Helm, runaway recursion and output end in an error.
//! Expected messages were taken from the real Helm (shared/tools/helm-template) on the same
//! one-template charts.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use ferry_helm::{render, Chart, Error, Limits, RenderOptions};

fn chart(template: &str) -> Chart {
    Chart::from_files(
        vec![
            (
                "Chart.yaml".into(),
                b"apiVersion: v2\nname: bad\nversion: 0.1.0\n".to_vec(),
            ),
            ("templates/x.yaml".into(), template.as_bytes().to_vec()),
        ],
        "bad",
    )
    .expect("load chart")
}

fn render_err(template: &str, opts: &RenderOptions) -> String {
    match render(&chart(template), opts) {
        Ok(r) => panic!("expected an error, got output:\n{}", r.to_helm_output()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn parse_errors_name_template_and_line() {
    let o = RenderOptions::default();
    assert_eq!(
        render_err("a: {{ nosuchfunc 1 }}\n", &o),
        "parse error at (bad/templates/x.yaml:1): function \"nosuchfunc\" not defined"
    );
    assert_eq!(
        render_err("a: {{ $y }}\n", &o),
        "parse error at (bad/templates/x.yaml:1): undefined variable \"$y\""
    );
    assert_eq!(
        render_err("a: {{ if true }}x\n", &o),
        "parse error at (bad/templates/x.yaml:2): unexpected EOF"
    );
    assert_eq!(
        render_err("a: {{ \"unterminated }}\n", &o),
        "parse error at (bad/templates/x.yaml:1): unterminated quoted string"
    );
    assert_eq!(
        render_err("a: {{ end }}\n", &o),
        "parse error at (bad/templates/x.yaml:1): unexpected {{end}}"
    );
    match render(&chart("x: 1\ny: 2\nz: {{ nosuch }}\n"), &o) {
        Err(Error::Parse { template, line, .. }) => {
            assert_eq!(template, "bad/templates/x.yaml");
            assert_eq!(line, 3);
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn required_and_fail_match_helm() {
    let o = RenderOptions::default();
    assert_eq!(
        render_err(
            "x: 1\ny: {{ required \"x.y is required\" .Values.y }}\n",
            &o
        ),
        "execution error at (bad/templates/x.yaml:2:6): x.y is required"
    );
    assert_eq!(
        render_err("x: {{ fail \"boom\" }}\n", &o),
        "execution error at (bad/templates/x.yaml:1:6): boom"
    );
    // through include: the location is the outermost call, as Helm reports it
    let e = render_err(
        "{{- define \"t\" }}{{ required \"deep\" .missing }}{{ end }}\nx: {{ include \"t\" . }}\n",
        &o,
    );
    assert_eq!(e, "execution error at (bad/templates/x.yaml:2:6): deep");
}

#[test]
fn include_recursion_ends_in_an_error() {
    let e = render_err(
        "{{- define \"loop\" }}{{ include \"loop\" . }}{{ end }}\nx: {{ include \"loop\" . }}\n",
        &RenderOptions::default(),
    );
    assert!(
        e.contains("rendering template has a nested reference name: loop")
            || e.contains("exceeded maximum template depth"),
        "unexpected message: {e}"
    );
}

#[test]
fn template_recursion_ends_in_an_error() {
    let e = render_err(
        "{{- define \"loop\" }}{{ template \"loop\" . }}{{ end }}\nx: {{ template \"loop\" . }}\n",
        &RenderOptions::default(),
    );
    assert!(
        e.contains("exceeded maximum template depth"),
        "unexpected message: {e}"
    );
}

#[test]
fn mutual_recursion_through_tpl_ends_in_an_error() {
    let e = render_err(
        "{{- define \"a\" }}{{ tpl \"{{ include \\\"a\\\" . }}\" . }}{{ end }}\nx: {{ include \"a\" . }}\n",
        &RenderOptions::default(),
    );
    assert!(
        e.contains("nested reference name") || e.contains("exceeded maximum template depth"),
        "unexpected message: {e}"
    );
}

#[test]
fn output_beyond_the_limit_ends_in_an_error() {
    let opts = RenderOptions {
        limits: Limits {
            max_output: 1 << 20,
            ..Limits::default()
        },
        ..RenderOptions::default()
    };
    let e = render_err("{{ range 100000000 }}xxxxxxxxxxxxxxxx{{ end }}\n", &opts);
    assert!(
        e.contains("output exceeds the limit"),
        "unexpected message: {e}"
    );
}

#[test]
fn deeply_nested_input_does_not_overflow() {
    let deep = format!("x: {}1{}\n", "(".repeat(20000), ")".repeat(20000));
    let src = format!("{{{{ {deep} }}}}");
    // either a clean error or a result; never a crash
    let _ = render(&chart(&src), &RenderOptions::default());
    let nested_ifs = format!(
        "{}x{}",
        "{{ if true }}".repeat(3000),
        "{{ end }}".repeat(3000)
    );
    let r = render(&chart(&nested_ifs), &RenderOptions::default());
    assert!(r.is_ok() || r.is_err());
}

/// The calling thread reads templates ahead for the render worker; it must not overflow a small
/// stack on the most deeply nested template it is allowed to take (deeper ones are left to the
/// worker, whose stack is large).
#[test]
fn reading_ahead_fits_a_small_caller_stack() {
    // 20 ifs, 6 else-ifs and 20 parentheses: 47 levels, just under the caller's bound of 48
    let nested = format!(
        "a: {}{{{{ if false }}}}{}x{{{{ {}1{} }}}}{{{{ end }}}}{}\n",
        "{{ if true }}".repeat(20),
        "{{ else if false }}".repeat(5) + "{{ else if true }}",
        "(".repeat(20),
        ")".repeat(20),
        "{{ end }}".repeat(20)
    );
    // 400 nested `not`s (an even number: every value passes), under the caller's bound
    let schema = format!("{}{{}}{}", r#"{"not":"#.repeat(400), "}".repeat(400));
    let files = vec![
        (
            "Chart.yaml".to_string(),
            b"apiVersion: v2\nname: deep\nversion: 0.1.0\n".to_vec(),
        ),
        ("templates/x.yaml".to_string(), nested.into_bytes()),
        ("values.schema.json".to_string(), schema.into_bytes()),
    ];
    let c = Chart::from_files(files, "deep").expect("load chart");
    let out = std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || render(&c, &RenderOptions::default()).map(|r| r.to_helm_output()))
        .expect("spawn")
        .join()
        .expect("the caller's thread survives");
    assert_eq!(
        out.expect("render"),
        "---\n# Source: deep/templates/x.yaml\na: x1\n"
    );
}

#[test]
fn invalid_yaml_output_is_reported_like_helm() {
    let e = render_err("a: b\nc\nd: e\n", &RenderOptions::default());
    assert!(
        e.starts_with(
            "YAML parse error on bad/templates/x.yaml: error converting YAML to JSON: yaml: line "
        ),
        "unexpected message: {e}"
    );
}

#[test]
fn same_seed_same_output_and_different_seed_differs() {
    let t =
        "a: {{ randAlphaNum 16 }}\nb: {{ uuidv4 }}\nc: {{ (genCA \"ca\" 365).Cert | b64enc }}\n";
    let o1 = RenderOptions {
        seed: b"site-secret".to_vec(),
        ..RenderOptions::default()
    };
    let r1 = render(&chart(t), &o1).expect("render").to_helm_output();
    let r2 = render(&chart(t), &o1).expect("render").to_helm_output();
    assert_eq!(r1, r2);
    let o3 = RenderOptions {
        seed: b"other-secret".to_vec(),
        ..RenderOptions::default()
    };
    let r3 = render(&chart(t), &o3).expect("render").to_helm_output();
    assert_ne!(r1, r3);
}

#[test]
fn set_json_and_set_string_apply() {
    let t =
        "a: {{ .Values.a.b | toJson }}\nb: {{ .Values.s | quote }}\nc: {{ typeOf .Values.n }}\n";
    let opts = RenderOptions {
        set_json_values: vec!["a={\"b\":[1,\"x\"]}".into()],
        set_string_values: vec!["s=007".into()],
        set_values: vec!["n=5".into()],
        ..RenderOptions::default()
    };
    let out = render(&chart(t), &opts).expect("render").to_helm_output();
    assert!(out.contains("a: [1,\"x\"]"), "{out}");
    assert!(out.contains("b: \"007\""), "{out}");
    assert!(out.contains("c: int64") || out.contains("c: int"), "{out}");
}

/// Chart files are read when a template first asks for them; one that vanished after loading
/// fails the render, naming the file, instead of rendering as empty.
#[test]
fn a_chart_file_that_cannot_be_read_fails_the_render() {
    let dir = std::env::temp_dir().join(format!("ferry-helm-lazy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::create_dir_all(dir.join("files")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: lazy\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/cm.yaml"),
        "data: {{ .Files.Get \"files/a.txt\" | quote }}\n",
    )
    .unwrap();
    std::fs::write(dir.join("files/a.txt"), "hello").unwrap();
    let chart = Chart::load(&dir).unwrap();
    let ok = render(&chart, &RenderOptions::default()).unwrap();
    assert!(
        ok.helm_output().contains("data: \"hello\""),
        "{}",
        ok.helm_output()
    );

    let chart = Chart::load(&dir).unwrap();
    std::fs::remove_file(dir.join("files/a.txt")).unwrap();
    let err = render(&chart, &RenderOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("lazy/templates/cm.yaml") && err.contains("files/a.txt"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A chart with enough template text that its templates are parsed on a second thread: one
/// subchart used twice under aliases (the same template text), and one disabled subchart whose
/// template does not parse. Expected output and error were taken from the real Helm on the same
/// chart (`helm-template DIR --name rel [-f on.yaml]`, broken.enabled true in on.yaml).
fn big_chart() -> Chart {
    let pad = format!("# {}\n", "x".repeat(30_000));
    let files = vec![
        (
            "Chart.yaml",
            "apiVersion: v2\nname: big\nversion: 0.1.0\ndependencies:\n\
             - name: sub\n  version: 0.1.0\n  alias: one\n\
             - name: sub\n  version: 0.1.0\n  alias: two\n\
             - name: broken\n  version: 0.1.0\n  condition: broken.enabled\n"
                .to_string(),
        ),
        ("values.yaml", "broken:\n  enabled: false\n".to_string()),
        (
            "templates/a.yaml",
            format!("{pad}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Chart.Name }}}}\n"),
        ),
        (
            "charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\nversion: 0.1.0\n".to_string(),
        ),
        (
            "charts/sub/templates/cm.yaml",
            format!(
                "{pad}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Chart.Name }}}}-{{{{ .Release.Name }}}}\n"
            ),
        ),
        (
            "charts/broken/Chart.yaml",
            "apiVersion: v2\nname: broken\nversion: 0.1.0\n".to_string(),
        ),
        (
            "charts/broken/templates/x.yaml",
            format!("{pad}a: {{{{ nosuch }}}}\n"),
        ),
    ];
    Chart::from_files(
        files
            .into_iter()
            .map(|(p, t)| (p.to_string(), t.into_bytes()))
            .collect(),
        "big",
    )
    .expect("load chart")
}

#[test]
fn templates_parsed_ahead_keep_helms_results_and_errors() {
    let c = big_chart();
    let mut o = RenderOptions {
        release_name: "rel".into(),
        ..RenderOptions::default()
    };
    let out = render(&c, &o).expect("render").to_helm_output();
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("  name: "))
        .collect();
    assert_eq!(names, ["one-rel", "two-rel", "big"]);
    assert!(out.contains("# Source: big/charts/two/templates/cm.yaml"));

    o.values_documents.push("broken:\n  enabled: true\n".into());
    let expected =
        "parse error at (big/charts/broken/templates/x.yaml:2): function \"nosuch\" not defined";
    // a chart's first render takes the templates parsed while it loaded, later ones parse anew
    for c in [big_chart(), c] {
        match render(&c, &o) {
            Err(e) => assert_eq!(e.to_string(), expected),
            Ok(_) => panic!("the enabled subchart's template does not parse"),
        }
    }
}

#[test]
fn templates_parsed_while_loading_give_way_to_edited_templates() {
    let o = RenderOptions::default();
    let loaded = || {
        Chart::from_files(
            vec![
                (
                    "Chart.yaml".into(),
                    b"apiVersion: v2\nname: c\nversion: 0.1.0\n".to_vec(),
                ),
                ("templates/a.yaml".into(), b"a: {{ 1 }}\n".to_vec()),
                ("templates/b.yaml".into(), b"b: {{ 2 }}\n".to_vec()),
            ],
            "c",
        )
        .expect("load chart")
    };
    let first = render(&loaded(), &o).expect("render").to_helm_output();
    assert!(first.contains("a: 1") && first.contains("b: 2"), "{first}");
    // replacing a template after loading: the tree parsed from the old text is not used
    let mut edited = loaded();
    edited.templates[0].1 = std::sync::Arc::from("a: {{ 3 }}\n");
    let out = render(&edited, &o).expect("render").to_helm_output();
    assert!(out.contains("a: 3") && out.contains("b: 2"), "{out}");
    // a clone shares the loaded chart's trees: whichever renders first takes them
    let c = loaded();
    let twin = c.clone();
    assert_eq!(render(&twin, &o).expect("render").to_helm_output(), first);
    assert_eq!(render(&c, &o).expect("render").to_helm_output(), first);
}

/// A `values.yaml` that is not a map, or not YAML, fails as in Helm. The expected texts are the
/// real Helm's (`helm-template DIR` on a chart with that values.yaml); the YAML error's own detail
/// comes from each tool's YAML reader, so only Helm's frame around it is compared. Each chart is
/// rendered twice: the first render takes the values.yaml its loading read, the second reads it
/// itself.
#[test]
fn a_values_file_that_is_not_a_map_fails_as_in_helm() {
    let with_values = |values: &str| {
        Chart::from_files(
            vec![
                (
                    "Chart.yaml".into(),
                    b"apiVersion: v2\nname: v\nversion: 0.1.0\n".to_vec(),
                ),
                ("templates/x.yaml".into(), b"a: 1\n".to_vec()),
                ("values.yaml".into(), values.as_bytes().to_vec()),
            ],
            "v",
        )
        .expect("load chart")
    };
    let o = RenderOptions::default();
    let frame = "cannot load values.yaml: cannot unmarshal yaml document: ";
    for (values, kind) in [
        ("- 1\n- 2\n", "array"),
        ("just text\n", "string"),
        ("42\n", "number"),
    ] {
        let c = with_values(values);
        for _ in 0..2 {
            match render(&c, &o) {
                Err(e) => assert_eq!(
                    e.to_string(),
                    format!(
                        "{frame}error unmarshaling JSON: while decoding JSON: json: cannot \
                         unmarshal {kind} into Go value of type map[string]interface {{}}"
                    )
                ),
                Ok(_) => panic!("values.yaml {values:?} is not a map"),
            }
        }
    }
    let c = with_values("a: [1\nb: 2\n");
    for _ in 0..2 {
        match render(&c, &o) {
            Err(e) => assert!(
                e.to_string().starts_with(&format!(
                    "{frame}error converting YAML to JSON: yaml: line "
                )),
                "{e}"
            ),
            Ok(_) => panic!("values.yaml does not parse"),
        }
    }
}
