//! Sprig's date, type-reflection and AES/password functions.
//!
//! `tests/sprig-dates-chart` rendered by ferry-helm must equal what the real Helm printed for each
//! template (`tests/sprig-dates-chart.expected.json`; see the chart's README). What depends on the
//! wall clock or on randomness in Helm (`now`, `ago`, `encryptAES`) is checked here by its
//! properties instead: ferry-helm's clock is the render's (`RenderOptions::now`) and its IVs come
//! from the seeded generator.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::compare_with_helm;
use ferry_helm::{render_templates, Chart, RenderOptions};

#[test]
fn sprig_dates_match_real_helm() {
    compare_with_helm("sprig-dates-chart", &RenderOptions::default());
}

fn chart(template: &str) -> Chart {
    Chart::from_files(
        vec![
            (
                "Chart.yaml".into(),
                b"apiVersion: v2\nname: t\nversion: 0.1.0\n".to_vec(),
            ),
            ("values.yaml".into(), b"float: 1.5\nint: 7\n".to_vec()),
            ("templates/x.txt".into(), template.as_bytes().to_vec()),
        ],
        "t",
    )
    .expect("load chart")
}

fn render_with(template: &str, opts: &RenderOptions) -> Result<String, String> {
    render_templates(&chart(template), opts)
        .map(|m| m.get("t/templates/x.txt").cloned().unwrap_or_default())
        .map_err(|e| e.to_string())
}

fn render(template: &str) -> String {
    render_with(template, &RenderOptions::default()).expect("render")
}

#[test]
fn now_is_the_render_clock_printed_as_go_prints_a_time() {
    // Helm prints the wall clock, e.g. "2026-11-26 09:36:44.901333322 +0000 UTC m=+0.049945376";
    // ferry-helm prints the render clock the same way (no monotonic reading).
    assert_eq!(
        render("{{ now }}|{{ typeOf now }}|{{ kindOf now }}"),
        "2025-01-01 00:00:00 +0000 UTC|time.Time|struct"
    );
    let opts = RenderOptions {
        now: Some(1_700_000_000),
        ..RenderOptions::default()
    };
    assert_eq!(
        render_with(
            "{{ now }}|{{ now | date \"2006-01-02T15:04:05Z07:00\" }}|{{ now | unixEpoch }}|{{ htmlDate now }}",
            &opts
        )
        .unwrap(),
        "2023-11-14 22:13:20 +0000 UTC|2023-11-14T22:13:20Z|1700000000|2023-11-14"
    );
    // Sprig's date treats what is neither a time nor an int as "now"
    assert_eq!(
        render(
            "{{ date \"2006-01-02\" .Values.float }} {{ date \"2006\" \"x\" }} {{ htmlDate nil }}"
        ),
        "2025-01-01 2025 2025-01-01"
    );
    assert_eq!(
        render("{{ now | toJson }} {{ dict \"t\" now | toYaml }}"),
        "\"2025-01-01T00:00:00Z\" t: \"2025-01-01T00:00:00Z\""
    );
    assert_eq!(
        render(
            "{{ (dateModify \"36h\" now).Weekday }} {{ (now.AddDate 0 1 30).Format \"Jan 2\" }}"
        ),
        "Thursday Mar 3"
    );
}

#[test]
fn ago_and_duration_round_measure_from_the_render_clock() {
    assert_eq!(
        render(
            "{{ ago now }} {{ ago (dateModify \"-90m\" now) }} {{ ago (toDate \"2006-01-02\" \"2024-12-31\") }} \
             {{ ago 1735689000 }} {{ ago (dateModify \"1500ms\" now) }} {{ ago \"x\" }}"
        ),
        "0s 1h30m0s 24h0m0s 10m0s -2s 0s"
    );
    assert_eq!(
        render("{{ durationRound (dateModify \"-50h\" now) }} {{ durationRound (toDate \"2006\" \"2020\") }}"),
        "2d 5y"
    );
}

#[test]
fn encrypt_aes_round_trips_and_is_reproducible() {
    let t = "{{ $c := encryptAES \"pw\" \"secret text\" }}{{ $c }}|{{ decryptAES \"pw\" $c }}|{{ encryptAES \"pw\" \"secret text\" }}";
    let out = render(t);
    let parts: Vec<&str> = out.split('|').collect();
    assert_eq!(parts.len(), 3, "{out}");
    // IV + one block, base64
    assert_eq!(parts[0].len(), 44, "{out}");
    assert_eq!(parts[1], "secret text");
    // a fresh IV for each call
    assert_ne!(parts[0], parts[2]);
    // the same seed gives the same ciphertext, another seed another one
    assert_eq!(render(t), out);
    let other = RenderOptions {
        seed: b"another-secret".to_vec(),
        ..RenderOptions::default()
    };
    assert_ne!(render_with(t, &other).unwrap(), out);
    // a key longer than 32 bytes is cut, as Sprig does
    assert_eq!(
        render("{{ encryptAES (repeat 40 \"k\") \"x\" | decryptAES (repeat 32 \"k\") }}"),
        "x"
    );
}

#[test]
fn failing_date_and_crypto_functions_report_go_errors() {
    let o = RenderOptions::default();
    let err = |t: &str| {
        let e = render_with(t, &o).expect_err("an error");
        println!("{e}");
        e
    };
    // ferry-helm words errors as the helm CLI does: `executing "..." at <mustToDate>:` and the
    // function's message on the next line
    assert!(err("{{ mustToDate \"2006-01-02\" \"2023-02-30\" }}")
        .contains("parsing time \"2023-02-30\": day out of range"));
    assert!(err("{{ mustDateModify \"1d\" now }}")
        .contains("time: unknown unit \"d\" in duration \"1d\""));
    // Helm: `executing ... at <.Values.float>: wrong type for value; ...`
    assert!(err("{{ unixEpoch .Values.float }}")
        .contains("wrong type for value; expected time.Time; got float64"));
    assert!(err("{{ .Values.int | dateModify \"1h\" }}")
        .contains("wrong type for value; expected time.Time; got float64"));
    assert!(err("{{ unixEpoch .Values.missing }}")
        .contains("wrong type for value; expected time.Time; got interface {}"));
    assert!(
        err("{{ decryptAES \"pw\" \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\" }}")
            .contains("crypto/cipher: input not full blocks")
    );
    assert!(
        err("{{ derivePassword .Values.float \"long\" \"pw\" \"u\" \"s\" }}")
            .contains("wrong type for value; expected uint32; got float64")
    );
    assert!(
        err("{{ derivePassword (int64 1) \"long\" \"pw\" \"u\" \"s\" }}")
            .contains("wrong type for value; expected uint32; got int64")
    );
    assert!(err("{{ derivePassword -1 \"long\" \"pw\" \"u\" \"s\" }}")
        .contains("expected unsigned integer; found -1"));
    for (t, want) in [
        (
            "AAAA",
            "runtime error: slice bounds out of range [:16] with capacity 3",
        ),
        (
            "AAAAAAAAAAAAAAAAAAAAAA==",
            "runtime error: index out of range [-1]",
        ),
        ("!!", "illegal base64 data at input byte 0"),
    ] {
        let e = err(&format!("{{{{ decryptAES \"pw\" \"{t}\" }}}}"));
        assert!(e.contains(want), "{e}");
    }
}

#[test]
fn int64_values_keep_their_go_type() {
    let opts = RenderOptions {
        set_values: vec!["n=5".into()],
        ..RenderOptions::default()
    };
    assert_eq!(
        render_with(
            "{{ typeOf .Values.n }} {{ typeOf .Values.int }} {{ add .Values.n 1 }} {{ printf \"%T %d\" .Values.n .Values.n }}",
            &opts
        )
        .unwrap(),
        "int64 float64 6 int64 5"
    );
    assert_eq!(
        render("{{ printf \"%x %o %b\" (int64 -255) (sub 0 8) (int64 -5) }} {{ div -9223372036854775807 -1 }}"),
        "-ff -10 -101 9223372036854775807"
    );
}
