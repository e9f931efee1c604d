//! Semantic versions and constraints, as Masterminds/semver v3 (Sprig's `semverCompare`) reads them.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::value::Value;

/// A parsed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
    /// Pre-release part (after `-`).
    pub pre: String,
    /// Build metadata (after `+`).
    pub meta: String,
    original: String,
}

impl Version {
    /// Parses a version leniently (`v` prefix, missing minor/patch).
    pub fn parse(s: &str) -> Result<Version, String> {
        let original = s.to_string();
        let t = s.trim().trim_start_matches(['v', 'V']);
        let (t, meta) = match t.split_once('+') {
            Some((a, b)) => (a, b.to_string()),
            None => (t, String::new()),
        };
        let (t, pre) = match t.split_once('-') {
            Some((a, b)) => (a, b.to_string()),
            None => (t, String::new()),
        };
        let parts: Vec<&str> = t.split('.').collect();
        if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err("Invalid Semantic Version".into());
        }
        let num = |i: usize| -> Result<u64, String> {
            match parts.get(i) {
                Some(p) => p
                    .parse::<u64>()
                    .map_err(|_| "Invalid Semantic Version".to_string()),
                None => Ok(0),
            }
        };
        Ok(Version {
            major: num(0)?,
            minor: num(1)?,
            patch: num(2)?,
            pre,
            meta,
            original,
        })
    }

    /// The version as a template value (Sprig's `semver` result).
    pub fn to_value(&self) -> Value {
        let mut m = BTreeMap::new();
        m.insert("Major".to_string(), Value::Int(self.major as i64));
        m.insert("Minor".to_string(), Value::Int(self.minor as i64));
        m.insert("Patch".to_string(), Value::Int(self.patch as i64));
        m.insert("Prerelease".to_string(), Value::from(self.pre.as_str()));
        m.insert("Metadata".to_string(), Value::from(self.meta.as_str()));
        m.insert("Original".to_string(), Value::from(self.original.as_str()));
        Value::from(m)
    }

    fn cmp_to(&self, o: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| cmp_pre(&self.pre, &o.pre))
    }
}

fn cmp_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let ap: Vec<&str> = a.split('.').collect();
    let bp: Vec<&str> = b.split('.').collect();
    for (x, y) in ap.iter().zip(bp.iter()) {
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(i), Ok(j)) => i.cmp(&j),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            _ => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ap.len().cmp(&bp.len())
}

/// Checks `version` against a constraint such as `>=1.21.0-0` or `~1.2 || ^2`.
pub fn compare(constraint: &str, version: &str) -> Result<bool, String> {
    let v = Version::parse(version).map_err(|_| format!("{version}: Invalid Semantic Version"))?;
    for group in constraint.split("||") {
        if check_group(group.trim(), &v)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn check_group(group: &str, v: &Version) -> Result<bool, String> {
    // hyphen ranges: "1.2 - 1.4"
    let norm = group.replace(" - ", "\u{0}");
    let mut toks: Vec<String> = Vec::new();
    for part in norm.split([',', ' ']).filter(|p| !p.is_empty()) {
        // join an operator separated from its version by spaces
        if let Some(last) = toks.last_mut() {
            if matches!(
                last.as_str(),
                "=" | "!=" | ">" | "<" | ">=" | "<=" | "=<" | "=>" | "~" | "~>" | "^"
            ) {
                last.push_str(part);
                continue;
            }
        }
        toks.push(part.to_string());
    }
    for t in toks {
        if let Some((lo, hi)) = t.split_once('\u{0}') {
            if !(single(&format!(">={lo}"), v)? && single(&format!("<={hi}"), v)?) {
                return Ok(false);
            }
            continue;
        }
        if !single(&t, v)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn single(c: &str, v: &Version) -> Result<bool, String> {
    let ops = ["!=", ">=", "=>", "<=", "=<", "~>", ">", "<", "=", "~", "^"];
    let (op, rest) = ops
        .iter()
        .find_map(|o| c.strip_prefix(o).map(|r| (*o, r.trim())))
        .unwrap_or(("", c.trim()));
    let rest = rest.trim_start_matches(['v', 'V']);
    // wildcard handling
    let parts: Vec<&str> = rest
        .split(['-', '+'])
        .next()
        .unwrap_or("")
        .split('.')
        .collect();
    let is_wild = |p: &str| matches!(p, "x" | "X" | "*");
    let wild_at = parts.iter().position(|p| is_wild(p));
    let given = wild_at.unwrap_or(parts.len());
    if rest.is_empty() || (wild_at == Some(0)) {
        return Ok(op != "!=" && op != "<" && op != ">");
    }
    let cv_str = parts[..given].join(".");
    let pre = if wild_at.is_none() {
        rest.split_once('-')
            .map(|(_, p)| p.split('+').next().unwrap_or("").to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let mut cv = Version::parse(&cv_str).map_err(|_| format!("improper constraint: {c}"))?;
    cv.pre = pre.clone();
    // versions with a pre-release only match constraints that have one
    if !v.pre.is_empty() && cv.pre.is_empty() {
        return Ok(false);
    }
    let upper = |level: usize| -> Version {
        let mut u = cv.clone();
        u.pre = String::new();
        match level {
            0 => {
                u.major += 1;
                u.minor = 0;
                u.patch = 0;
            }
            1 => {
                u.minor += 1;
                u.patch = 0;
            }
            _ => u.patch += 1,
        }
        u
    };
    let o = v.cmp_to(&cv);
    Ok(match op {
        "" | "=" => {
            if given < 3 {
                o != Ordering::Less && v.cmp_to(&upper(given.saturating_sub(1))) == Ordering::Less
            } else {
                o == Ordering::Equal
            }
        }
        "!=" => {
            if given < 3 {
                !(o != Ordering::Less
                    && v.cmp_to(&upper(given.saturating_sub(1))) == Ordering::Less)
            } else {
                o != Ordering::Equal
            }
        }
        ">" => {
            if given < 3 {
                v.cmp_to(&upper(given.saturating_sub(1))) != Ordering::Less
            } else {
                o == Ordering::Greater
            }
        }
        ">=" | "=>" => o != Ordering::Less,
        "<" => o == Ordering::Less,
        "<=" | "=<" => {
            if given < 3 {
                v.cmp_to(&upper(given.saturating_sub(1))) == Ordering::Less
            } else {
                o != Ordering::Greater
            }
        }
        "~" | "~>" => {
            let level = if given <= 1 { 0 } else { 1 };
            o != Ordering::Less && v.cmp_to(&upper(level)) == Ordering::Less
        }
        "^" => {
            let level = if cv.major > 0 || given == 1 {
                0
            } else if cv.minor > 0 || given == 2 {
                1
            } else {
                2
            };
            o != Ordering::Less && v.cmp_to(&upper(level)) == Ordering::Less
        }
        _ => false,
    })
}
