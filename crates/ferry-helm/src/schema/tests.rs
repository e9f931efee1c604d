use super::dec::Dec;
use super::text::{fmt_int, fmt_num, js_quote};

/// Numbers as Helm printed them in `minimum`/`maximum` messages.
#[test]
fn numbers_print_like_helm() {
    for (f, want) in [
        (12345.0, "12,345"),
        (-12345.5, "-12,345.5"),
        (-1.25, "-1.25"),
        (123456.75, "123,456.75"),
        (0.123456789, "0.123456789"),
        (0.001, "0.001"),
        (1e-5, "1×10⁻⁰⁵"),
        (1e-7, "1×10⁻⁰⁷"),
        (1e6, "1×10⁰⁶"),
        (2e20, "2×10²⁰"),
        (123456789012.0, "1.23456789012×10¹¹"),
        (1.5e300, "1.5×10³⁰⁰"),
        (0.0, "0"),
    ] {
        assert_eq!(fmt_num(f), want, "{f}");
    }
    assert_eq!(fmt_int(1234), "1,234");
    assert_eq!(fmt_int(-1000), "-1,000");
    assert_eq!(fmt_int(999), "999");
}

#[test]
fn quoting_like_helm() {
    assert_eq!(js_quote("\\"), "'\\'");
    assert_eq!(js_quote("\\q"), "'\\\\q'");
    assert_eq!(js_quote("it's"), "'it\\'s'");
    assert_eq!(js_quote("a\"b"), "'a\"b'");
}

/// Every string up to `len` characters over `alphabet`.
fn strings(alphabet: &str, len: usize) -> Vec<String> {
    let chars: Vec<char> = alphabet.chars().collect();
    let mut all = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..len {
        last = last
            .iter()
            .flat_map(|s| chars.iter().map(move |c| format!("{s}{c}")))
            .collect();
        all.extend(last.iter().cloned());
    }
    all
}

/// The ported parsers must not panic, whatever they are given.
#[test]
fn odd_input_does_not_panic() {
    for s in strings("()[]{}*+?|\\^$.-:aP<>0x1,pEQ", 4) {
        let _ = super::goregex::check(&s);
        let _ = super::goregex::to_rust(&s);
    }
    let names = [
        "date",
        "time",
        "date-time",
        "duration",
        "period",
        "email",
        "hostname",
        "ipv4",
        "ipv6",
        "uri",
        "uri-reference",
        "uri-template",
        "json-pointer",
        "relative-json-pointer",
        "uuid",
        "semver",
    ];
    for s in strings("0:.-TZ+/%[]@\"a~#{}éP1", 3) {
        for name in names {
            let _ = super::formats::check(name, &s);
        }
    }
    for s in strings("{}[]\":,0-.eE1tn\\u", 3) {
        let _ = super::json::parse(&s);
    }
}

#[test]
fn decimals_are_exact() {
    let d = |s: &str| Dec::parse(s).expect("a number");
    assert!(d("0.3").is_multiple_of(&d("0.1")));
    assert!(!d("0.35").is_multiple_of(&d("0.1")));
    assert!(!d("1e21").is_multiple_of(&d("3")));
    assert!(d("1e21").is_multiple_of(&d("5e20")));
    assert!(d("2.5e-3").is_multiple_of(&d("5e-4")));
    assert!(d("19.99").is_multiple_of(&d("0.01")));
    assert!(!d("19.995").is_multiple_of(&d("0.01")));
    assert!(d("1.50") == d("1.5") && d("-0") == d("0"));
    assert!(d("-2") < d("-1.5") && d("0.001") < d("1e-2") && d("1e3") > d("999.9"));
    assert_eq!(Dec::from_f64(0.1), Some(d("0.1")));
}
