//! A fast reader for the head of a rendered document (`kind`, `metadata.annotations."helm.sh/hook"`).
//!
//! Helm parses every rendered document completely to find these two fields. Parsing megabytes of
//! CRDs that way dominates rendering time, so this module first tries a strict line scanner that
//! accepts only plainly structured block YAML (consistent indentation, plain or simply quoted
//! scalars, block scalars, one-line flow collections) and reads the head on the way. Whenever a
//! line falls outside that subset the caller falls back to the full YAML parser, which also
//! reports syntax errors exactly as before; the scanner never decides that a document is invalid.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Map,
    Seq,
}

/// The head of `doc` if the document is simple enough to scan; `None` means "use the parser".
pub fn fast_head(doc: &str) -> Option<(String, Option<String>)> {
    let mut stack: Vec<(usize, Kind)> = Vec::new();
    // the keys leading to the current line: (column, key)
    let mut chain: Vec<(usize, &str)> = Vec::new();
    // a line that ended with `key:` or `- key:` / `-` and expects a nested block: its column
    let mut expect_child: Option<usize> = None;
    // inside a block scalar: content must be indented more than this column
    let mut block_scalar: Option<(usize, usize)> = None;
    // after a plain scalar: continuation lines must be indented more than this column
    let mut plain_cont: Option<usize> = None;
    // inside a quoted scalar spanning lines: (quote, continuation lines indented more than)
    let mut quote_cont: Option<(u8, usize)> = None;
    // inside a flow sequence spanning lines: continuation lines indented more than this column
    let mut flow_cont: Option<usize> = None;
    // a key whose value was a whole line of its own: its column
    let mut value_done: Option<usize> = None;
    let mut kind = String::new();
    let mut hook: Option<String> = None;
    let mut first = true;

    if memchr::memchr(b'\r', doc.as_bytes()).is_some() {
        return None;
    }
    let mut line_start = 0;
    let ends = memchr::memchr_iter(b'\n', doc.as_bytes()).chain(std::iter::once(doc.len()));
    for end in ends {
        let raw = &doc[line_start..end];
        line_start = end + 1;
        let indent = raw.bytes().take_while(|b| *b == b' ').count();
        let line = &raw[indent..];
        if line.starts_with('\t') {
            return None;
        }
        if let Some((col, min)) = block_scalar {
            if line.is_empty() || indent >= min {
                continue;
            }
            if indent > col {
                return None;
            }
            block_scalar = None;
        }
        if let Some(col) = flow_cont {
            if line.is_empty() {
                continue;
            }
            if indent <= col {
                return None;
            }
            if !flow_piece(line)? {
                flow_cont = None;
            }
            continue;
        }
        if let Some((q, col)) = quote_cont {
            if line.is_empty() {
                continue;
            }
            if indent <= col {
                return None;
            }
            match scan_quoted(line.as_bytes(), 0, q)? {
                None => continue,
                Some(end) => {
                    if !rest_is_blank(&line[end..]) {
                        return None;
                    }
                    quote_cont = None;
                    continue;
                }
            }
        }
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if let Some(col) = plain_cont {
            if indent > col {
                let (colon, hash) = colon_hash(line);
                if line.starts_with("- ") || line == "-" || colon || hash {
                    return None;
                }
                continue;
            }
            plain_cont = None;
        }
        if line.starts_with("---") || line.starts_with("...") || line.starts_with('%') {
            return None;
        }
        if first {
            if indent != 0 {
                return None;
            }
            first = false;
        }
        // after a key's value given on its own line, only shallower lines may follow
        if let Some(col) = value_done.take() {
            if indent > col {
                return None;
            }
        }
        // a key's value on its own, more indented line (`securityContext:` then `  {}`)
        if let Some(p) = expect_child {
            let starts_node = line == "-" || line.starts_with("- ") || split_key(line).is_some();
            if indent > p && !starts_node {
                match classify(line)? {
                    Value::Flow | Value::Quoted(_) | Value::QuotedEscaped => {
                        expect_child = None;
                        value_done = Some(p);
                        continue;
                    }
                    _ => return None,
                }
            }
        }
        // sequence entry?
        let (dash_col, rest, rest_col) = if line == "-" || line.starts_with("- ") {
            let after = line[1..].trim_start_matches(' ');
            let rest_col = indent + (line.len() - after.len());
            (Some(indent), after, rest_col)
        } else {
            (None, line, indent)
        };
        if let Some(d) = dash_col {
            while stack.last().is_some_and(|(i, _)| *i > d) {
                stack.pop();
            }
            match stack.last() {
                Some((i, Kind::Seq)) if *i == d => {}
                _ => {
                    let ok = match expect_child {
                        Some(p) => d >= p && (stack.last().is_none_or(|(i, _)| *i <= d)),
                        None => stack.is_empty(),
                    };
                    if !ok {
                        return None;
                    }
                    stack.push((d, Kind::Seq));
                }
            }
            expect_child = None;
            while chain.last().is_some_and(|(c, _)| *c >= d) {
                chain.pop();
            }
            if rest.is_empty() {
                expect_child = Some(d + 1);
                continue;
            }
            if rest.starts_with("- ") || rest == "-" {
                return None;
            }
        }
        // a key, or a scalar sequence item
        match split_key(rest) {
            Some((key, value)) => {
                let c = rest_col;
                if dash_col.is_some() {
                    // the item's mapping starts at the key column
                    stack.push((c, Kind::Map));
                } else {
                    while stack.last().is_some_and(|(i, _)| *i > c) {
                        stack.pop();
                    }
                    // an indentless sequence ends at a sibling key of its parent
                    if let Some((i, Kind::Seq)) = stack.last() {
                        if *i == c {
                            stack.pop();
                            if !matches!(stack.last(), Some((j, Kind::Map)) if *j == c) {
                                return None;
                            }
                        }
                    }
                    match stack.last() {
                        Some((i, Kind::Map)) if *i == c => {}
                        _ => {
                            let ok = match expect_child {
                                Some(p) => c > p || (c == p && stack.is_empty()),
                                None => stack.is_empty(),
                            };
                            if !ok {
                                return None;
                            }
                            stack.push((c, Kind::Map));
                        }
                    }
                }
                expect_child = None;
                // columns grow along the chain, so dropping the deeper keys is a truncation
                while chain.last().is_some_and(|(col, _)| *col >= c) {
                    chain.pop();
                }
                chain.push((c, key));
                let is_kind = chain.len() == 1 && key == "kind";
                let is_hook = chain.len() == 3
                    && chain[0].1 == "metadata"
                    && chain[1].1 == "annotations"
                    && key == "helm.sh/hook";
                match classify(value)? {
                    Value::Empty => {
                        if is_kind || is_hook {
                            return None;
                        }
                        expect_child = Some(c);
                    }
                    Value::Block(n) => {
                        if is_kind || is_hook {
                            return None;
                        }
                        block_scalar = Some((c, if n > 0 { c + n } else { c + 1 }));
                    }
                    Value::Plain(text) => {
                        plain_cont = Some(c);
                        if is_kind && c == 0 {
                            if !crate::yaml::resolves_to_str(text) {
                                return None;
                            }
                            kind = text.to_string();
                        } else if is_hook && chain[0].0 == 0 {
                            hook = Some(text.to_string());
                        }
                    }
                    Value::Quoted(text) => {
                        if is_kind && c == 0 {
                            kind = text.to_string();
                        } else if is_hook && chain[0].0 == 0 {
                            hook = Some(text.to_string());
                        }
                    }
                    Value::QuotedEscaped => {
                        // the text is not needed unless it is a head field
                        if key == "kind" || key == "helm.sh/hook" {
                            return None;
                        }
                    }
                    Value::Flow => {
                        if is_kind || is_hook {
                            return None;
                        }
                    }
                    Value::QuotedOpen(q) => {
                        if is_kind || key == "helm.sh/hook" {
                            return None;
                        }
                        quote_cont = Some((q, c));
                    }
                    Value::FlowOpen => {
                        if is_kind || is_hook {
                            return None;
                        }
                        flow_cont = Some(c);
                    }
                }
            }
            None => {
                // a scalar: only valid as a sequence item
                dash_col?;
                match classify(rest)? {
                    Value::Plain(_) => plain_cont = Some(rest_col.saturating_sub(1)),
                    Value::Quoted(_) | Value::QuotedEscaped | Value::Flow => {}
                    Value::QuotedOpen(q) => quote_cont = Some((q, dash_col.unwrap_or(0))),
                    Value::FlowOpen => flow_cont = Some(dash_col.unwrap_or(0)),
                    Value::Block(n) => {
                        let d = dash_col.unwrap_or(0);
                        block_scalar = Some((d, if n > 0 { d + n } else { d + 1 }));
                    }
                    Value::Empty => return None,
                }
            }
        }
    }
    if quote_cont.is_some() || flow_cont.is_some() {
        return None;
    }
    Some((kind, hook))
}

enum Value<'a> {
    Empty,
    /// A block scalar, with its explicit indentation indicator (0 when none).
    Block(usize),
    Plain(&'a str),
    /// A quoted scalar without escapes: its text.
    Quoted(&'a str),
    /// A quoted scalar with escapes (its text is never needed).
    QuotedEscaped,
    QuotedOpen(u8),
    Flow,
    /// A flow sequence whose `]` is on a later line.
    FlowOpen,
}

fn rest_is_blank(rest: &str) -> bool {
    let t = rest.trim_end_matches(' ');
    t.is_empty() || (rest.starts_with(' ') && t.trim_start_matches(' ').starts_with('#'))
}

/// Scans a quoted scalar from `start` (just inside the opening quote): `Some(index after the
/// closing quote)`, `None` inside the outer Option when it continues on the next line; the outer
/// `None` for an escape the scanner does not vouch for.
fn scan_quoted(b: &[u8], start: usize, q: u8) -> Option<Option<usize>> {
    let mut i = start;
    while i < b.len() {
        let c = b[i];
        if q == b'\'' && c == b'\'' {
            if b.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(Some(i + 1));
        }
        if q == b'"' {
            if c == b'"' {
                return Some(Some(i + 1));
            }
            if c == b'\\' {
                match b.get(i + 1) {
                    Some(
                        b'0' | b'a' | b'b' | b't' | b'n' | b'v' | b'f' | b'r' | b'e' | b' ' | b'"'
                        | b'/' | b'\\' | b'N' | b'_' | b'L' | b'P',
                    ) => {
                        i += 2;
                        continue;
                    }
                    None => return Some(None),
                    _ => return None,
                }
            }
        }
        i += 1;
    }
    Some(None)
}

/// Splits `key: value`; `None` when the text is not a simple mapping entry.
fn split_key(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    let first = *b.first()?;
    let (key, after) = if first == b'"' || first == b'\'' {
        let close = s[1..].find(first as char)? + 1;
        let key = &s[1..close];
        if key.contains('\\') || (first == b'\'' && s[close + 1..].starts_with('\'')) {
            return None;
        }
        let after = &s[close + 1..];
        if !after.starts_with(':') {
            return None;
        }
        (key, &after[1..])
    } else {
        if matches!(
            first,
            b'-' | b'?'
                | b':'
                | b','
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'#'
                | b'&'
                | b'*'
                | b'!'
                | b'|'
                | b'>'
                | b'%'
                | b'@'
                | b'`'
        ) {
            return None;
        }
        // one pass: the first `: ` (or final `:`), and whether the key holds a quote or a
        // ` #` (then it is not a simple key)
        let mut pos = None;
        for (i, &c) in b.iter().enumerate() {
            match c {
                b':' if b.get(i + 1).is_none_or(|n| *n == b' ') => {
                    pos = Some(i);
                    break;
                }
                b'"' | b'\'' => return None,
                b'#' if i > 0 && b[i - 1] == b' ' => return None,
                _ => {}
            }
        }
        let pos = pos?;
        let key = &s[..pos];
        if key.ends_with(' ') {
            return None;
        }
        (key, &s[pos + 1..])
    };
    if !(after.is_empty() || after.starts_with(' ')) {
        return None;
    }
    Some((key, after.trim_start_matches(' ')))
}

/// Whether `s` has a `: ` (or a final `:`), and whether it has a ` #`, in one pass that jumps
/// from one `:` or `#` to the next (long description lines hold few).
fn colon_hash(s: &str) -> (bool, bool) {
    let b = s.as_bytes();
    let (mut colon, mut hash) = (false, false);
    for i in memchr::memchr2_iter(b':', b'#', b) {
        if b[i] == b':' {
            colon |= b.get(i + 1).is_none_or(|n| *n == b' ');
        } else {
            hash |= i > 0 && b[i - 1] == b' ';
        }
    }
    (colon, hash)
}

fn strip_comment(s: &str) -> &str {
    match s.find(" #") {
        Some(i) => s[..i].trim_end_matches(' '),
        None => s.trim_end_matches(' '),
    }
}

/// A piece of a flow sequence spanning lines: plain words and simply double-quoted items only.
/// `Some(true)` when it ends with `,` (the sequence goes on), `Some(false)` when it ends with
/// the closing `]`, `None` for anything else.
fn flow_piece(piece: &str) -> Option<bool> {
    let t = piece.trim_matches(' ');
    let (body, open) = match t.strip_suffix(']') {
        Some(b) => (b, false),
        None => (t.strip_suffix(',')?, true),
    };
    if body.contains([
        '[', ']', '{', '}', '\\', '\'', '#', '&', '*', '!', '|', '>', '%', '@', '`',
    ]) || body.matches('"').count() % 2 != 0
    {
        return None;
    }
    Some(open)
}

fn classify(v: &str) -> Option<Value<'_>> {
    if v.is_empty() || v.starts_with('#') {
        return Some(Value::Empty);
    }
    let b = v.as_bytes();
    match b[0] {
        b'|' | b'>' => {
            let ind = strip_comment(&v[1..]);
            let digits: Vec<u8> = ind.bytes().filter(u8::is_ascii_digit).collect();
            let others = ind
                .bytes()
                .filter(|c| !c.is_ascii_digit())
                .all(|c| c == b'-' || c == b'+');
            if ind.len() <= 2 && others && digits.len() <= 1 && digits.first() != Some(&b'0') {
                return Some(Value::Block(
                    digits.first().map_or(0, |d| usize::from(d - b'0')),
                ));
            }
            None
        }
        b'"' | b'\'' => match scan_quoted(b, 1, b[0])? {
            None => Some(Value::QuotedOpen(b[0])),
            Some(end) => {
                if !rest_is_blank(&v[end..]) {
                    return None;
                }
                let inner = &v[1..end - 1];
                if inner.contains('\\') || inner.contains("''") {
                    return Some(Value::QuotedEscaped);
                }
                Some(Value::Quoted(inner))
            }
        },
        b'[' | b'{' => {
            let body = strip_comment(v);
            let (open, close) = if b[0] == b'[' { ('[', ']') } else { ('{', '}') };
            if !body.ends_with(close) {
                // a flow sequence continued on the next lines: `[a,` ... `b]`
                return (b[0] == b'[' && body.len() == v.trim_end_matches(' ').len())
                    .then(|| {
                        flow_piece(&body[1..])
                            .filter(|open| *open)
                            .map(|_| Value::FlowOpen)
                    })
                    .flatten();
            }
            // one balanced level, simple quoted items, no nested flow mappings
            let inner = &body[1..body.len() - 1];
            if inner.contains(open)
                || inner.contains(close)
                || inner.contains('{')
                || inner.contains('}')
                || inner.contains('[')
                || inner.contains(']')
                || inner.contains('\\')
            {
                return None;
            }
            if inner.matches('"').count() % 2 != 0 || inner.contains('\'') {
                return None;
            }
            if b[0] == b'{' && !inner.trim().is_empty() {
                return None;
            }
            Some(Value::Flow)
        }
        b'&' | b'*' | b'!' | b'%' | b'@' | b'`' | b'?' | b',' | b']' | b'}' => None,
        b'-' if v == "-" || v.starts_with("- ") => None,
        b':' if v == ":" || v.starts_with(": ") => None,
        _ => {
            let (colon, hash) = colon_hash(v);
            if !hash {
                if colon {
                    return None;
                }
                return Some(Value::Plain(v.trim_end_matches(' ')));
            }
            let text = strip_comment(v);
            if colon_hash(text).0 {
                return None;
            }
            Some(Value::Plain(text))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]

    use super::fast_head;

    fn full_head(d: &str) -> (String, Option<String>) {
        let v: serde_norway::Value = serde_norway::from_str(d).unwrap_or(serde_norway::Value::Null);
        let kind = match v.get("kind") {
            Some(serde_norway::Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        let hook = v
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get("helm.sh/hook"))
            .and_then(|h| h.as_str().map(String::from));
        (kind, hook)
    }

    #[test]
    fn agrees_with_the_parser_on_the_corpus() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/charts");
        assert!(dir.is_dir(), "missing {}", dir.display());
        let (mut docs, mut fast) = (0, 0);
        for e in std::fs::read_dir(&dir).expect("read corpus") {
            let p = e.expect("entry").path();
            if !p.to_string_lossy().ends_with(".golden.yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&p).expect("read golden");
            for d in text.split("\n---\n") {
                docs += 1;
                if fast_head(d).is_none()
                    && d.len() > 20000
                    && std::env::var("FASTHEAD_DEBUG").is_ok()
                {
                    let lines: Vec<&str> = d.split('\n').collect();
                    let (mut lo, mut hi) = (1, lines.len());
                    while lo < hi {
                        let mid = (lo + hi) / 2;
                        if fast_head(&lines[..mid].join("\n")).is_none() {
                            hi = mid
                        } else {
                            lo = mid + 1
                        }
                    }
                    println!(
                        "declined {} bytes at line {lo}: {:?}",
                        d.len(),
                        lines.get(lo.saturating_sub(1))
                    );
                }
                if let Some(h) = fast_head(d) {
                    fast += 1;
                    assert_eq!(
                        h,
                        full_head(d),
                        "fast head differs in {}:\n{d:.300}",
                        p.display()
                    );
                }
            }
        }
        println!("fast path read {fast} of {docs} documents");
        assert!(fast * 2 > docs, "the fast path should cover most documents");
    }

    #[test]
    fn declines_invalid_or_unusual_yaml() {
        for bad in [
            "a: b\nc\nd: e\n",
            "a:\n  b: 1\n c: 2\n",
            "a:\n  - x\n  b: 1\n",
            "a: b: c\n",
            "  a: 1\n",
            "a: 1\n  b: 2\n",
            "a: &x 1\nb: *x\n",
            "a: \"unterminated\n",
            "- a\nb: 1\n",
            "a:\n  {}\n  b: 1\n",
            "a:\n  {}\n    b: 1\n",
            "a:\n  plain\n",
            "a: [b,\nc]\n",
            "a: [b,\n  c\n",
            "a: [b,\n  [c]]\n",
        ] {
            assert!(fast_head(bad).is_none(), "should decline {bad:?}");
        }
        assert_eq!(
            fast_head("kind: Job\nmetadata:\n  annotations:\n    \"helm.sh/hook\": pre-install\n"),
            Some(("Job".into(), Some("pre-install".into())))
        );
        // a flow sequence over several lines
        assert_eq!(
            fast_head("kind: Role\nrules:\n- verbs: [\"get\",\n    \"list\"]\n  x: 1\n"),
            Some(("Role".into(), None))
        );
        // a value on its own line, then a sibling
        assert_eq!(
            fast_head("kind: Pod\nspec:\n  securityContext:\n    {}\n  containers: []\n"),
            Some(("Pod".into(), None))
        );
    }
}
