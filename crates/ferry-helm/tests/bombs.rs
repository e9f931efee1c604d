//! Resource bombs in charts (a chart is input from outside): each stops with a clear error
//! naming the template or file, bounded as Helm bounds it where Helm does (chart file and
//! archive sizes, Go's format width) and by ferry's own limits where Helm has none (steps,
//! output). Every crafted input is built here.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::Write as _;

use ferry_helm::{render, Chart, Limits, RenderOptions};

const CHART_YAML: &[u8] = b"apiVersion: v2\nname: bombs\nversion: 0.1.0\n";

fn chart_with(files: Vec<(&str, Vec<u8>)>) -> Result<Chart, ferry_helm::Error> {
    let mut all = vec![("Chart.yaml".to_string(), CHART_YAML.to_vec())];
    all.extend(files.into_iter().map(|(p, b)| (p.to_string(), b)));
    Chart::from_files(all, "bombs")
}

fn render_err(template: &str, opts: &RenderOptions) -> String {
    let chart = chart_with(vec![("templates/bomb.yaml", template.as_bytes().to_vec())])
        .expect("load chart");
    match render(&chart, opts) {
        Ok(r) => panic!("expected an error, got {} bytes", r.to_helm_output().len()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn nested_ranges_of_1e10_steps_stop_at_the_step_limit_naming_the_template() {
    let opts = RenderOptions {
        limits: Limits {
            max_steps: 2_000_000,
            ..Limits::default()
        },
        ..RenderOptions::default()
    };
    let started = std::time::Instant::now();
    let e = render_err(
        "{{- range 100000 }}{{ range 100000 }}{{ end }}{{ end }}\n",
        &opts,
    );
    assert_eq!(
        e,
        "template: bombs/templates/bomb.yaml: execution exceeds the limit of 2000000 steps"
    );
    // counted through, not listed first: no 1e10-element list is built
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn the_default_step_limit_stops_an_endless_range() {
    let started = std::time::Instant::now();
    let e = render_err(
        "{{- range 100000 }}{{ range 100000 }}{{ end }}{{ end }}\n",
        &RenderOptions::default(),
    );
    assert!(
        e.ends_with(&format!(
            "execution exceeds the limit of {} steps",
            Limits::default().max_steps
        )),
        "{e}"
    );
    assert!(e.contains("bombs/templates/bomb.yaml"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
}

#[test]
fn ranges_within_the_limit_still_run_whole() {
    let chart = chart_with(vec![(
        "templates/cm.yaml",
        b"n: {{ $n := 0 }}{{ range 300 }}{{ range 300 }}{{ $n = add1 $n }}{{ end }}{{ end }}{{ $n }}\n"
            .to_vec(),
    )])
    .expect("load chart");
    let out = render(&chart, &RenderOptions::default())
        .expect("render")
        .to_helm_output();
    assert!(out.contains("n: 90000\n"), "{out}");
}

fn render_ok(template: &str) -> String {
    let chart = chart_with(vec![("templates/bomb.yaml", template.as_bytes().to_vec())])
        .expect("load chart");
    render(&chart, &RenderOptions::default())
        .expect("render")
        .to_helm_output()
}

#[test]
fn output_of_repeat_and_indent_bombs_is_an_error() {
    for t in [
        "{{ repeat 2000000000 \"x\" }}\n",
        "{{ \"x\" | indent 2000000000 }}\n",
        "{{ \"x\" | nindent 2000000000 }}\n",
    ] {
        let e = render_err(t, &RenderOptions::default());
        assert!(e.contains("bombs/templates/bomb.yaml"), "{t}: {e}");
        assert!(e.contains("limit"), "{t}: {e}");
    }
}

#[test]
fn a_format_width_past_1e6_is_gos_no_verb() {
    // Go's fmt stops reading a width over 1e6 at the format's end (the real Helm prints this)
    let out = render_ok("x: {{ printf \"%999999999d\" 1 | quote }}\n");
    assert!(out.contains("x: \"%!(NOVERB)%!(EXTRA int=1)\""), "{out}");
}

#[test]
fn a_yaml_alias_bomb_is_refused() {
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let chart = chart_with(vec![
        ("values.yaml", bomb.clone().into_bytes()),
        ("templates/cm.yaml", b"x: 1\n".to_vec()),
    ]);
    let e = chart
        .and_then(|c| render(&c, &RenderOptions::default()).map(|_| ()))
        .expect_err("an alias bomb must not load");
    assert!(e.to_string().contains("excessive aliasing"), "{e}");
    // fromYaml does not fail in Helm: it gives a map with the error under "Error"
    let out = render_ok(&format!(
        "x: {{{{ fromYaml {bomb:?} | toJson | quote }}}}\n"
    ));
    assert!(out.contains("excessive aliasing"), "{out}");
    assert!(out.len() < 1000, "{} bytes", out.len());
}

/// A gzip-compressed tar stream of `entries` (a header with the given claimed size, then
/// `data`), each under the top directory `bombs/`.
fn archive(entries: &[(&str, u64, &[u8])]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for (name, size, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_path(format!("bombs/{name}")).unwrap();
        header.set_size(*size);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        gz.write_all(header.as_bytes()).unwrap();
        gz.write_all(data).unwrap();
        let pad = (512 - data.len() % 512) % 512;
        gz.write_all(&vec![0; pad]).unwrap();
    }
    gz.write_all(&[0; 1024]).unwrap();
    gz.finish().unwrap()
}

#[test]
fn an_archive_holding_a_4_gib_file_is_refused_before_decompressing_it() {
    // the header claims 4 GiB; the few bytes that follow are never read
    let tgz = archive(&[
        ("Chart.yaml", CHART_YAML.len() as u64, CHART_YAML),
        ("files/huge.bin", 4 << 30, &[0; 4096]),
    ]);
    let e = Chart::from_archive(&tgz, "bombs-0.1.0.tgz").expect_err("must be refused");
    assert_eq!(
        e.to_string(),
        "bombs-0.1.0.tgz: decompressed chart is larger than the maximum size 104857600"
    );
}

#[test]
fn an_archive_file_over_5_mib_is_refused_as_helm_refuses_it() {
    let big = vec![0u8; 6_000_000];
    let tgz = archive(&[
        ("Chart.yaml", CHART_YAML.len() as u64, CHART_YAML),
        ("big.bin", big.len() as u64, &big),
    ]);
    let e = Chart::from_archive(&tgz, "bombs-0.1.0.tgz").expect_err("must be refused");
    // Helm v4.2.3: decompressed chart file "c/big.bin" is larger than the maximum file size 5242880
    assert_eq!(
        e.to_string(),
        "bombs-0.1.0.tgz: decompressed chart file \"bombs/big.bin\" is larger than the maximum file size 5242880"
    );
    // just under the limit loads
    let ok = vec![0u8; 5 * 1024 * 1024];
    let tgz = archive(&[
        ("Chart.yaml", CHART_YAML.len() as u64, CHART_YAML),
        ("big.bin", ok.len() as u64, &ok),
    ]);
    let chart = Chart::from_archive(&tgz, "bombs-0.1.0.tgz").expect("5 MiB loads");
    assert!(chart.files.iter().any(|(p, _)| p == "big.bin"));
}

#[test]
fn an_archive_over_100_mib_in_all_is_refused() {
    let part = vec![7u8; 5 * 1024 * 1024];
    let mut entries: Vec<(String, u64, &[u8])> =
        vec![("Chart.yaml".into(), CHART_YAML.len() as u64, CHART_YAML)];
    for i in 0..21 {
        entries.push((format!("files/part{i}"), part.len() as u64, &part));
    }
    let refs: Vec<(&str, u64, &[u8])> = entries
        .iter()
        .map(|(n, s, d)| (n.as_str(), *s, *d))
        .collect();
    let tgz = archive(&refs);
    assert!(
        tgz.len() < 1 << 20,
        "the bomb itself is small: {}",
        tgz.len()
    );
    let e = Chart::from_archive(&tgz, "bombs-0.1.0.tgz").expect_err("must be refused");
    assert_eq!(
        e.to_string(),
        "bombs-0.1.0.tgz: decompressed chart is larger than the maximum size 104857600"
    );
}

#[test]
fn a_chart_directory_file_over_5_mib_is_refused_unless_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("templates")).unwrap();
    std::fs::write(root.join("Chart.yaml"), CHART_YAML).unwrap();
    std::fs::write(root.join("templates/cm.yaml"), "x: 1\n").unwrap();
    std::fs::write(root.join("big.bin"), vec![0u8; 6_000_000]).unwrap();
    let e = Chart::load(root).expect_err("must be refused");
    // Helm v4.2.3: chart file "big.bin" is larger than the maximum file size 5242880
    assert!(
        e.to_string()
            .ends_with("chart file \"big.bin\" is larger than the maximum file size 5242880"),
        "{e}"
    );
    std::fs::write(root.join(".helmignore"), "big.bin\n").unwrap();
    Chart::load(root).expect("an ignored file is not loaded");
}
