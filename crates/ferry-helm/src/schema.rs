//! A conservative `values.schema.json` validator (JSON Schema draft-07 subset).
//!
//! Checks `type`, `required`, `properties`, `additionalProperties: false`, `items`, `enum`,
//! `const`, `minimum`/`maximum` (and the exclusive forms), `minLength`/`maxLength`, `pattern`,
//! `minItems`/`maxItems`, `allOf`, `anyOf`, `oneOf`, `not`, `if`/`then`/`else` and local
//! `$ref`s (`#/definitions/x`). Keywords it does not know (remote `$ref`s, formats, ...) are
//! treated as satisfied, so it never rejects values Helm accepts because of a keyword it does
//! not implement. Violations are worded like Helm v4's; their order may differ from Helm's. Messages follow Helm v4's wording
//! (`- at '/age': minimum: got -5, want 0`).

use serde_json::Value as J;

use crate::value::{format_float_g, Value};

/// Validates `values` against `schema` (JSON text); returns the violations, Helm-worded.
pub fn validate(schema: &str, values: &Value) -> Result<Vec<String>, String> {
    let schema: J =
        serde_json::from_str(schema).map_err(|e| format!("invalid values.schema.json: {e}"))?;
    let mut errs = Vec::new();
    check(&schema, &schema, values, "", &mut errs, 0);
    Ok(errs)
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Nil => "null",
        Value::Bool(_) => "boolean",
        Value::Int(_) | Value::Int64(_) => "integer",
        Value::Float(f) if f.fract() == 0.0 && f.is_finite() => "integer",
        Value::Float(_) => "number",
        Value::Str(_) | Value::Bytes(_) | Value::Object(_) => "string",
        Value::List(_) => "array",
        Value::Map(_) => "object",
    }
}

fn type_matches(want: &str, v: &Value) -> bool {
    let got = type_of(v);
    want == got || (want == "number" && got == "integer")
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) | Value::Int64(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Float(f) => format_float_g(*f),
        Value::Str(s) => format!("'{s}'"),
        other => crate::yaml::to_json(other, true),
    }
}

fn show_json(v: &J) -> String {
    match v {
        J::String(s) => format!("'{s}'"),
        J::Number(n) => n
            .as_f64()
            .map(format_float_g)
            .unwrap_or_else(|| n.to_string()),
        other => other.to_string(),
    }
}

fn json_eq(j: &J, v: &Value) -> bool {
    match (j, v) {
        (J::Null, Value::Nil) => true,
        (J::Bool(a), Value::Bool(b)) => a == b,
        (J::Number(n), _) => n.as_f64().is_some_and(|a| num(v) == Some(a)),
        (J::String(a), Value::Str(b)) => a.as_str() == b.as_ref(),
        (J::Array(a), Value::List(b)) => {
            a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| json_eq(x, y))
        }
        (J::Object(a), Value::Map(b)) => {
            let b = b.borrow();
            a.len() == b.len()
                && a.iter()
                    .all(|(k, x)| b.get(k).is_some_and(|y| json_eq(x, y)))
        }
        _ => false,
    }
}

/// The violations of one subschema, without touching the caller's list.
fn violations(root: &J, s: &J, v: &Value, at: &str, depth: usize) -> Vec<String> {
    let mut errs = Vec::new();
    check(root, s, v, at, &mut errs, depth + 1);
    errs
}

/// Indents a (possibly multi-line) violation under its parent.
fn nested(err: &str) -> String {
    err.lines()
        .map(|line| format!("  {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn check(root: &J, s: &J, v: &Value, at: &str, errs: &mut Vec<String>, depth: usize) {
    if depth > 64 {
        return;
    }
    let J::Object(s) = s else {
        if *s == J::Bool(false) {
            errs.push(format!("- at '{at}': false schema"));
        }
        return;
    };
    if let Some(reference) = s.get("$ref") {
        // Draft-07: a `$ref` replaces its siblings. Only local references resolve.
        if let Some(target) = reference
            .as_str()
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|pointer| root.pointer(pointer))
        {
            check(root, target, v, at, errs, depth + 1);
        }
        return;
    }
    if let Some(J::Array(any)) = s.get("anyOf") {
        let results: Vec<Vec<String>> = any
            .iter()
            .map(|sub| violations(root, sub, v, at, depth))
            .collect();
        if !results.iter().any(Vec::is_empty) {
            let mut lines = vec![format!("- at '{at}': 'anyOf' failed")];
            lines.extend(results.iter().flatten().map(|e| nested(e)));
            errs.push(lines.join("\n"));
        }
    }
    if let Some(J::Array(one)) = s.get("oneOf") {
        let results: Vec<Vec<String>> = one
            .iter()
            .map(|sub| violations(root, sub, v, at, depth))
            .collect();
        let matched: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, errors)| errors.is_empty())
            .map(|(i, _)| i)
            .collect();
        match matched.len() {
            1 => {}
            0 => {
                let mut lines = vec![format!("- at '{at}': 'oneOf' failed, none matched")];
                lines.extend(results.iter().flatten().map(|e| nested(e)));
                errs.push(lines.join("\n"));
            }
            _ => errs.push(format!(
                "- at '{at}': 'oneOf' failed, subschemas {} matched",
                matched
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
    if let Some(not) = s.get("not") {
        if violations(root, not, v, at, depth).is_empty() {
            errs.push(format!("- at '{at}': 'not' failed"));
        }
    }
    if let Some(condition) = s.get("if") {
        let branch = if violations(root, condition, v, at, depth).is_empty() {
            "then"
        } else {
            "else"
        };
        if let Some(sub) = s.get(branch) {
            check(root, sub, v, at, errs, depth + 1);
        }
    }
    if let Some(t) = s.get("type") {
        let wants: Vec<&str> = match t {
            J::String(x) => vec![x.as_str()],
            J::Array(xs) => xs.iter().filter_map(J::as_str).collect(),
            _ => Vec::new(),
        };
        if !wants.is_empty() && !wants.iter().any(|w| type_matches(w, v)) {
            errs.push(format!(
                "- at '{at}': got {}, want {}",
                type_of(v),
                wants.join(" or ")
            ));
            return;
        }
    }
    if let Some(J::Array(options)) = s.get("enum") {
        if !options.iter().any(|o| json_eq(o, v)) {
            let opts: Vec<String> = options.iter().map(show_json).collect();
            errs.push(format!(
                "- at '{at}': value must be one of {}",
                opts.join(", ")
            ));
        }
    }
    if let Some(c) = s.get("const") {
        if !json_eq(c, v) {
            errs.push(format!("- at '{at}': value must be {}", show_json(c)));
        }
    }
    if let Some(x) = num(v) {
        let bound = |k: &str| s.get(k).and_then(J::as_f64);
        if let Some(m) = bound("minimum") {
            if x < m {
                errs.push(format!(
                    "- at '{at}': minimum: got {}, want {}",
                    show(v),
                    format_float_g(m)
                ));
            }
        }
        if let Some(m) = bound("maximum") {
            if x > m {
                errs.push(format!(
                    "- at '{at}': maximum: got {}, want {}",
                    show(v),
                    format_float_g(m)
                ));
            }
        }
        if let Some(m) = bound("exclusiveMinimum") {
            if x <= m {
                errs.push(format!(
                    "- at '{at}': exclusiveMinimum: got {}, want {}",
                    show(v),
                    format_float_g(m)
                ));
            }
        }
        if let Some(m) = bound("exclusiveMaximum") {
            if x >= m {
                errs.push(format!(
                    "- at '{at}': exclusiveMaximum: got {}, want {}",
                    show(v),
                    format_float_g(m)
                ));
            }
        }
    }
    if let Value::Str(st) = v {
        let n = st.chars().count() as u64;
        if let Some(m) = s.get("minLength").and_then(J::as_u64) {
            if n < m {
                errs.push(format!("- at '{at}': minLength: got {n}, want {m}"));
            }
        }
        if let Some(m) = s.get("maxLength").and_then(J::as_u64) {
            if n > m {
                errs.push(format!("- at '{at}': maxLength: got {n}, want {m}"));
            }
        }
        if let Some(p) = s.get("pattern").and_then(J::as_str) {
            if let Ok(re) = regex::Regex::new(p) {
                if !re.is_match(st) {
                    errs.push(format!("- at '{at}': '{st}' does not match pattern '{p}'"));
                }
            }
        }
    }
    if let Value::List(items) = v {
        let n = items.len() as u64;
        if let Some(m) = s.get("minItems").and_then(J::as_u64) {
            if n < m {
                errs.push(format!("- at '{at}': minItems: got {n}, want {m}"));
            }
        }
        if let Some(m) = s.get("maxItems").and_then(J::as_u64) {
            if n > m {
                errs.push(format!("- at '{at}': maxItems: got {n}, want {m}"));
            }
        }
        if let Some(item_schema @ J::Object(_)) = s.get("items") {
            for (i, x) in items.iter().enumerate() {
                check(root, item_schema, x, &format!("{at}/{i}"), errs, depth + 1);
            }
        }
    }
    if let Value::Map(m) = v {
        let m = m.borrow();
        if let Some(J::Array(req)) = s.get("required") {
            let missing: Vec<String> = req
                .iter()
                .filter_map(J::as_str)
                .filter(|k| !m.contains_key(*k))
                .map(|k| format!("'{k}'"))
                .collect();
            match missing.len() {
                0 => {}
                1 => errs.push(format!("- at '{at}': missing property {}", missing[0])),
                _ => errs.push(format!(
                    "- at '{at}': missing properties {}",
                    missing.join(", ")
                )),
            }
        }
        let props = s.get("properties").and_then(J::as_object);
        if let Some(props) = props {
            for (k, ps) in props {
                if let Some(x) = m.get(k) {
                    check(root, ps, x, &format!("{at}/{}", escape(k)), errs, depth + 1);
                }
            }
        }
        if s.get("additionalProperties") == Some(&J::Bool(false))
            && s.get("patternProperties").is_none()
        {
            let extra: Vec<String> = m
                .keys()
                .filter(|k| props.is_none_or(|p| !p.contains_key(*k)))
                .map(|k| format!("'{k}'"))
                .collect();
            if !extra.is_empty() {
                errs.push(format!(
                    "- at '{at}': additional properties {} not allowed",
                    extra.join(", ")
                ));
            }
        }
    }
    if let Some(J::Array(all)) = s.get("allOf") {
        for sub in all {
            check(root, sub, v, at, errs, depth + 1);
        }
    }
}

fn escape(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}
