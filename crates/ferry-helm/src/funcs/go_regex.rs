//! Go's regular expressions (RE2 syntax, `regexp/syntax`) on top of the `regex` crate.
//!
//! The two syntaxes are close but not equal: Go reads `[\w-\.]` as a class holding `-`,
//! `\Q...\E` as quoted text, `a{,3}` as a literal, and `\d`, `\w`, `\s` and `\b` as ASCII-only,
//! and it rejects escapes and groups the crate accepts. A pattern is translated faithfully into
//! the crate's syntax, with Go's error text for what Go rejects.

/// Compiles a Go pattern. The error reads as Go's (`error parsing regexp: ...`).
pub fn compile(pattern: &str) -> Result<regex::Regex, String> {
    let translated = translate(pattern)?;
    regex::Regex::new(&translated).map_err(|e| {
        let detail = e.to_string();
        let last = detail.lines().last().unwrap_or("invalid pattern").trim();
        let last = last.strip_prefix("error: ").unwrap_or(last);
        format!("error parsing regexp: {last}: `{pattern}`")
    })
}

/// Go's `regexp.QuoteMeta`: escapes exactly `\.+*?()|[]{}^$`.
pub fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn error(code: &str, expr: &str) -> String {
    format!("error parsing regexp: {code}: `{expr}`")
}

/// A character as the crate reads it literally, in or out of a class.
fn literal(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() || c == '_' || (!c.is_ascii() && !c.is_whitespace()) {
        out.push(c);
    } else {
        out.push_str(&format!("\\x{{{:X}}}", c as u32));
    }
}

/// Go's Perl classes are ASCII: the ranges of `\d`, `\s`, `\w` (without brackets).
fn perl_class(c: char) -> Option<(&'static str, bool)> {
    match c {
        'd' => Some(("0-9", false)),
        'D' => Some(("0-9", true)),
        's' => Some(("\\t\\n\\x0C\\r ", false)),
        'S' => Some(("\\t\\n\\x0C\\r ", true)),
        'w' => Some(("0-9A-Za-z_", false)),
        'W' => Some(("0-9A-Za-z_", true)),
        _ => None,
    }
}

struct Translator<'a> {
    src: &'a str,
    chars: Vec<(usize, char)>,
    i: usize,
    out: String,
}

/// Translates a Go pattern into the `regex` crate's syntax, or gives Go's error.
pub fn translate(pattern: &str) -> Result<String, String> {
    let mut t = Translator {
        src: pattern,
        chars: pattern.char_indices().collect(),
        i: 0,
        out: String::with_capacity(pattern.len() + 8),
    };
    t.run()?;
    Ok(t.out)
}

impl Translator<'_> {
    fn peek(&self, k: usize) -> Option<char> {
        self.chars.get(self.i + k).map(|(_, c)| *c)
    }

    /// The source text from character `from` to the current position.
    fn text_from(&self, from: usize) -> &str {
        let start = self.chars.get(from).map_or(self.src.len(), |(b, _)| *b);
        let end = self.chars.get(self.i).map_or(self.src.len(), |(b, _)| *b);
        &self.src[start..end]
    }

    fn rest(&self) -> &str {
        let start = self.chars.get(self.i).map_or(self.src.len(), |(b, _)| *b);
        &self.src[start..]
    }

    fn run(&mut self) -> Result<(), String> {
        let mut last_was_repeat = false;
        while let Some(c) = self.peek(0) {
            let mut repeat = false;
            match c {
                '\\' if self.peek(1) == Some('Q') => {
                    self.i += 2;
                    while let Some(c) = self.peek(0) {
                        if c == '\\' && self.peek(1) == Some('E') {
                            self.i += 2;
                            break;
                        }
                        literal(&mut self.out, c);
                        self.i += 1;
                    }
                }
                '\\' => self.escape(false)?,
                '[' => self.class()?,
                '(' => self.group()?,
                '*' | '+' | '?' => {
                    if last_was_repeat {
                        let start = self.i.saturating_sub(1);
                        self.i += 1;
                        return Err(error(
                            "invalid nested repetition operator",
                            self.text_from(start),
                        ));
                    }
                    self.out.push(c);
                    self.i += 1;
                    if self.peek(0) == Some('?') {
                        self.out.push('?');
                        self.i += 1;
                    }
                    repeat = true;
                }
                '{' => {
                    if let Some((text, len, min, max)) = self.repeat_count() {
                        if min > 1000 || max.is_some_and(|m| m > 1000 || m < min) {
                            return Err(error("invalid repeat count", text));
                        }
                        let text = text.to_string();
                        self.out.push_str(&text);
                        self.i += len;
                        if self.peek(0) == Some('?') {
                            self.out.push('?');
                            self.i += 1;
                        }
                        repeat = true;
                    } else {
                        literal(&mut self.out, '{');
                        self.i += 1;
                    }
                }
                '.' | '^' | '$' | '|' | ')' => {
                    self.out.push(c);
                    self.i += 1;
                }
                other => {
                    literal(&mut self.out, other);
                    self.i += 1;
                }
            }
            last_was_repeat = repeat;
        }
        Ok(())
    }

    /// `{n}`, `{n,}` or `{n,m}` at the current position: its text, length in characters and
    /// bounds; `None` when it is not one (Go then reads `{` as a literal).
    fn repeat_count(&self) -> Option<(&str, usize, u64, Option<u64>)> {
        let rest = self.rest();
        let close = rest.find('}')?;
        let inner = &rest[1..close];
        let (min, max) = match inner.split_once(',') {
            None => (inner, Some(inner)),
            Some((a, b)) => (a, if b.is_empty() { None } else { Some(b) }),
        };
        let number = |s: &str| -> Option<u64> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(s.parse::<u64>().unwrap_or(u64::MAX))
        };
        let min = number(min)?;
        let max = match max {
            Some(m) => Some(number(m)?),
            None => None,
        };
        let text = &rest[..=close];
        Some((text, text.chars().count(), min, max))
    }

    fn group(&mut self) -> Result<(), String> {
        if self.peek(1) != Some('?') {
            self.out.push('(');
            self.i += 1;
            return Ok(());
        }
        let rest = self.rest().to_string();
        let named = rest
            .strip_prefix("(?P<")
            .or_else(|| rest.strip_prefix("(?<"));
        if let Some(after) = named {
            let Some(end) = after.find('>') else {
                return Err(error("invalid named capture", &rest));
            };
            let name = &after[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                let whole = &rest[..rest.len() - after.len() + end + 1];
                return Err(error("invalid named capture", whole));
            }
            let prefix_len = rest.len() - after.len();
            self.out.push_str("(?P<");
            self.out.push_str(name);
            self.out.push('>');
            self.i += rest[..prefix_len + end + 1].chars().count();
            return Ok(());
        }
        // flags: (?imsU-imsU) or (?imsU-imsU:
        let body = &rest[2..];
        let mut negated = false;
        let mut saw = false;
        let mut bad = body.len();
        for (k, c) in body.char_indices() {
            match c {
                'i' | 'm' | 's' | 'U' => saw = true,
                '-' if !negated => {
                    negated = true;
                    saw = false;
                }
                ':' | ')' if !negated || saw => {
                    let text = &rest[..2 + k + 1];
                    self.out.push_str(text);
                    self.i += text.chars().count();
                    return Ok(());
                }
                _ => {
                    bad = k + c.len_utf8();
                    break;
                }
            }
        }
        Err(error(
            "invalid or unsupported Perl syntax",
            &rest[..2 + bad],
        ))
    }

    /// An escape outside (`in_class` false) or inside a class.
    fn escape(&mut self, in_class: bool) -> Result<(), String> {
        let start = self.i;
        let Some(c) = self.peek(1) else {
            self.i += 1;
            return Err(error("trailing backslash at end of expression", ""));
        };
        self.i += 2;
        if let Some((ranges, negated)) = perl_class(c) {
            match (in_class, negated) {
                (true, false) => self.out.push_str(ranges),
                _ => {
                    self.out.push('[');
                    if negated {
                        self.out.push('^');
                    }
                    self.out.push_str(ranges);
                    self.out.push(']');
                }
            }
            return Ok(());
        }
        match c {
            'A' | 'z' if !in_class => self.out.push_str(&format!("\\{c}")),
            'b' | 'B' if !in_class => self.out.push_str(&format!("(?-u:\\{c})")),
            'p' | 'P' => {
                self.out.push('\\');
                self.out.push(c);
                match self.peek(0) {
                    Some('{') => {
                        let rest = self.rest();
                        let Some(end) = rest.find('}') else {
                            return Err(error("invalid character class range", rest));
                        };
                        let name = rest[..=end].to_string();
                        self.out.push_str(&name);
                        self.i += name.chars().count();
                    }
                    Some(n) => {
                        self.out.push(n);
                        self.i += 1;
                    }
                    None => {
                        return Err(error(
                            "invalid character class range",
                            self.text_from(start),
                        ))
                    }
                }
            }
            'a' => literal(&mut self.out, '\u{7}'),
            'f' => literal(&mut self.out, '\u{c}'),
            't' => literal(&mut self.out, '\t'),
            'n' => literal(&mut self.out, '\n'),
            'r' => literal(&mut self.out, '\r'),
            'v' => literal(&mut self.out, '\u{b}'),
            '0'..='7' => {
                // \1-\7 alone would be a backreference, which Go does not support
                if c != '0' && !self.peek(0).is_some_and(|d| ('0'..='7').contains(&d)) {
                    return Err(error("invalid escape sequence", self.text_from(start)));
                }
                let mut value = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek(0).and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            value = value * 8 + d;
                            self.i += 1;
                        }
                        None => break,
                    }
                }
                literal(&mut self.out, char::from_u32(value).unwrap_or('\0'));
            }
            'x' => {
                let value = if self.peek(0) == Some('{') {
                    let rest = self.rest();
                    let end = rest.find('}');
                    let hex = end.map(|e| &rest[1..e]);
                    match hex.and_then(|h| u32::from_str_radix(h, 16).ok()) {
                        Some(v) if v <= 0x10FFFF => {
                            self.i += end.unwrap_or(0) + 1;
                            v
                        }
                        _ => {
                            self.i += rest.chars().count();
                            return Err(error("invalid escape sequence", self.text_from(start)));
                        }
                    }
                } else {
                    let hex: String = (0..2).filter_map(|k| self.peek(k)).collect();
                    match u32::from_str_radix(&hex, 16) {
                        Ok(v) if hex.len() == 2 => {
                            self.i += 2;
                            v
                        }
                        _ => {
                            self.i += hex.chars().count();
                            return Err(error("invalid escape sequence", self.text_from(start)));
                        }
                    }
                };
                match char::from_u32(value) {
                    Some(ch) => literal(&mut self.out, ch),
                    None => return Err(error("invalid escape sequence", self.text_from(start))),
                }
            }
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => literal(&mut self.out, c),
            _ => return Err(error("invalid escape sequence", self.text_from(start))),
        }
        Ok(())
    }

    /// One character of a class (a literal or an escape), for a range bound.
    fn class_char(&mut self) -> Result<char, String> {
        let start = self.i;
        let Some(c) = self.peek(0) else {
            return Err(error("missing closing ]", self.text_from(start)));
        };
        if c != '\\' {
            self.i += 1;
            return Ok(c);
        }
        let mut scratch = Translator {
            src: self.src,
            chars: self.chars.clone(),
            i: self.i,
            out: String::new(),
        };
        let next = self.peek(1);
        if next.is_some_and(|n| perl_class(n).is_some() || n == 'p' || n == 'P') {
            self.i += 2;
            return Err(error(
                "invalid character class range",
                self.text_from(start),
            ));
        }
        scratch.escape(true)?;
        self.i = scratch.i;
        // the escape produced one literal: read it back
        let lit = &scratch.out;
        if let Some(hex) = lit.strip_prefix("\\x{").and_then(|h| h.strip_suffix('}')) {
            return u32::from_str_radix(hex, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| error("invalid escape sequence", self.text_from(start)));
        }
        lit.chars()
            .next()
            .ok_or_else(|| error("invalid escape sequence", self.text_from(start)))
    }

    fn class(&mut self) -> Result<(), String> {
        let open = self.i;
        self.i += 1;
        self.out.push('[');
        if self.peek(0) == Some('^') {
            self.out.push('^');
            self.i += 1;
        }
        let mut first = true;
        let mut any = false;
        loop {
            let Some(c) = self.peek(0) else {
                return Err(error("missing closing ]", self.text_from(open)));
            };
            if c == ']' && !first {
                self.i += 1;
                break;
            }
            first = false;
            if c == '[' && self.peek(1) == Some(':') {
                let rest = self.rest();
                if let Some(end) = rest[2..].find(":]") {
                    let posix = rest[..end + 4].to_string();
                    self.out.push_str(&posix);
                    self.i += posix.chars().count();
                    any = true;
                    continue;
                }
            }
            if c == '\\' {
                if let Some(n) = self.peek(1) {
                    if n == 'p' || n == 'P' || perl_class(n).is_some() {
                        self.escape(true)?;
                        any = true;
                        continue;
                    }
                }
            }
            let range_start = self.i;
            let lo = self.class_char()?;
            let mut hi = lo;
            if self.peek(0) == Some('-') && self.peek(1).is_some_and(|n| n != ']') {
                self.i += 1;
                hi = self.class_char()?;
                if hi < lo {
                    return Err(error(
                        "invalid character class range",
                        self.text_from(range_start),
                    ));
                }
            }
            literal(&mut self.out, lo);
            if hi != lo {
                self.out.push('-');
                literal(&mut self.out, hi);
            }
            any = true;
        }
        if !any {
            return Err(error("missing closing ]", self.text_from(open)));
        }
        self.out.push(']');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_match(pattern: &str, text: &str) -> bool {
        match compile(pattern) {
            Ok(r) => r.is_match(text),
            Err(e) => panic!("{pattern}: {e}"),
        }
    }

    // What Go accepts and how it reads it (checked with Helm v4.2.3: tests/fidelity-chart).
    #[test]
    fn go_syntax() {
        assert!(is_match(r"^[\w-\.]+$", "ab-c.d"));
        assert!(is_match(r"^[\d-\.]+$", "1-2.3"));
        assert!(!is_match(r"^[\d-\.]+$", "1,2"));
        assert!(is_match(r"^\Qa.b\E$", "a.b"));
        assert!(!is_match(r"^\Qa.b\E$", "axb"));
        assert!(is_match(r"^a{,3}$", "a{,3}"));
        assert!(is_match(r"^\d$", "7"));
        assert!(!is_match(r"^\d$", "٣"));
        assert!(!is_match(r"^\w$", "é"));
        assert!(is_match(r"^[a\-z]$", "-"));
        assert!(is_match(r"^[]a]+$", "]a"));
        assert!(is_match(r"^\101$", "A"));
        assert!(is_match(r"^[[:alpha:]]+$", "ab"));
        assert!(is_match(r"(?i)^A$", "a"));
        assert!(is_match(r"^[a&&b]+$", "&a"));
        assert!(is_match(r"^[[a]+$", "[a"));
        assert!(is_match(r"^\#$", "#"));
    }

    #[test]
    fn go_errors() {
        for (pattern, want) in [
            (
                r"\Z",
                "error parsing regexp: invalid escape sequence: `\\Z`",
            ),
            (
                r"a**",
                "error parsing regexp: invalid nested repetition operator: `**`",
            ),
            (
                r"(?=a)",
                "error parsing regexp: invalid or unsupported Perl syntax: `(?=`",
            ),
            (
                r"a{1001}",
                "error parsing regexp: invalid repeat count: `{1001}`",
            ),
            (r"[a", "error parsing regexp: missing closing ]: `[a`"),
            (
                r"[z-a]",
                "error parsing regexp: invalid character class range: `z-a`",
            ),
            (
                r"\1",
                "error parsing regexp: invalid escape sequence: `\\1`",
            ),
        ] {
            assert_eq!(translate(pattern).err().as_deref(), Some(want), "{pattern}");
        }
    }

    #[test]
    fn quote_meta_is_gos() {
        assert_eq!(quote_meta("a.b-c#d"), r"a\.b-c#d");
    }
}
