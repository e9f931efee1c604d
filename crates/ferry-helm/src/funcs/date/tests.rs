#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

#[test]
fn civil_round_trips() {
    for days in [-719_468, -1, 0, 1, 11_016, 19_787, 2_932_896] {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days);
    }
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(GoTime::zero().string(), "0001-01-01 00:00:00 +0000 UTC");
}

#[test]
fn durations_print_as_go_does() {
    for (s, want) in [
        ("1h2m3.5s", "1h2m3.5s"),
        ("1.5ms", "1.5ms"),
        ("1500ns", "1.5\u{b5}s"),
        ("-90s", "-1m30s"),
        ("0", "0s"),
        ("1h", "1h0m0s"),
        ("2562047h47m16.854775807s", "2562047h47m16.854775807s"),
    ] {
        assert_eq!(duration_string(parse_duration(s).unwrap()), want, "{s}");
    }
    assert_eq!(
        parse_duration("1d").unwrap_err(),
        "time: unknown unit \"d\" in duration \"1d\""
    );
    assert_eq!(
        parse_duration("1").unwrap_err(),
        "time: missing unit in duration \"1\""
    );
    assert_eq!(
        parse_duration("").unwrap_err(),
        "time: invalid duration \"\""
    );
    assert_eq!(parse_duration("-9223372036854775808ns").unwrap(), i64::MIN);
    assert!(parse_duration("9223372036854775808ns").is_err());
}

#[test]
fn parse_errors_are_worded_as_go_words_them() {
    let e = |l: &str, v: &str| parse(l, v, &Loc::Local).err().unwrap_or_default();
    assert_eq!(
        e("2006-01-02", "not a date"),
        "parsing time \"not a date\" as \"2006-01-02\": cannot parse \"not a date\" as \"2006\""
    );
    assert_eq!(
        e("2006-01-02", "2023-02-29"),
        "parsing time \"2023-02-29\": day out of range"
    );
    assert_eq!(
        e("2006-01-02", "2024-13-01"),
        "parsing time \"2024-13-01\": month out of range"
    );
    assert_eq!(
        e("2006-01-02", "2024-03-05 x"),
        "parsing time \"2024-03-05 x\": extra text: \" x\""
    );
}

#[test]
fn posix_rules_apply_past_the_last_transition() {
    let z = TzData {
        name: "Test".into(),
        zones: vec![ZoneType {
            offset: -18_000,
            abbr: "EST".into(),
            is_dst: false,
        }],
        tx: vec![(0, 0)],
        extend: "EST5EDT,M3.2.0,M11.1.0".into(),
    };
    // 2100-07-01 00:00 UTC is in daylight time, 2100-01-01 is not
    assert_eq!(z.lookup(4_118_083_200), ("EDT".into(), -14_400));
    assert_eq!(z.lookup(4_102_444_800), ("EST".into(), -18_000));
}
