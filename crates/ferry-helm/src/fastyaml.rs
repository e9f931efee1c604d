//! A fast reader for plainly structured block YAML, producing exactly what [`crate::yaml11`]
//! produces, or declining.
//!
//! Charts feed megabytes of YAML through `fromYaml` (Istio's CRDs twice per render) and every
//! render reads `values.yaml`. Nearly all of it is block mappings and sequences of one-line
//! scalars, which this reader takes line by line. Anything outside that subset (anchors, tags,
//! folded or indented-indicator block scalars, multi-line plain or quoted scalars, flow mappings,
//! nested flow collections, several documents, tabs in indentation, escapes it does not know)
//! returns `None` and the caller uses the full parser, which also reports every syntax error.
//! Scalars are resolved by the same function the full parser uses, so the values agree exactly
//! (a test compares both readers on every YAML file of the corpus).

use crate::value::Value;
use crate::yaml11::{build_map, resolve_scalar, ScalarStyle};

/// Parses `text` when it is simple enough; `None` means "use the full parser".
pub fn parse(text: &str) -> Option<Value> {
    if memchr::memchr(b'\r', text.as_bytes()).is_some() || !tabs_only_in_comments(text) {
        return None;
    }
    let lines: Vec<&str> = text.split('\n').collect();
    // a document start marker on the first line is allowed (many values files have one)
    let mut p = Reader {
        lines: &lines,
        pos: 0,
    };
    p.skip_blank();
    if p.pos < p.lines.len() && p.lines[p.pos].trim_end_matches(' ') == "---" {
        p.pos += 1;
    }
    p.skip_blank();
    if p.pos >= p.lines.len() {
        return Some(Value::Nil);
    }
    let (indent, text) = split_indent(p.lines[p.pos]);
    if indent != 0 {
        return None;
    }
    let v = if is_dash(text) {
        p.sequence(0)?
    } else {
        p.mapping(0)?
    };
    p.skip_blank();
    // anything left over is something this reader does not understand
    (p.pos >= p.lines.len()).then_some(v)
}

/// Whether every tab sits in a line that is a comment (tabs elsewhere are left to the full
/// parser, which knows where YAML forbids them).
fn tabs_only_in_comments(text: &str) -> bool {
    let b = text.as_bytes();
    memchr::memchr_iter(b'\t', b).all(|t| {
        let start = memchr::memrchr(b'\n', &b[..t]).map_or(0, |i| i + 1);
        text[start..t].trim_start_matches(' ').starts_with('#')
    })
}

struct Reader<'a, 'b> {
    lines: &'b [&'a str],
    pos: usize,
}

fn split_indent(line: &str) -> (usize, &str) {
    let indent = line.bytes().take_while(|b| *b == b' ').count();
    (indent, &line[indent..])
}

fn is_dash(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Whether a line holds nothing for the parser (blank or a comment).
fn is_blank(line: &str) -> bool {
    let t = line.trim_start_matches(' ');
    t.is_empty() || t.starts_with('#')
}

impl<'a> Reader<'a, '_> {
    fn skip_blank(&mut self) {
        while self.pos < self.lines.len() && is_blank(self.lines[self.pos]) {
            self.pos += 1;
        }
    }

    /// The next meaningful line: (indent, text), without consuming it.
    fn peek(&mut self) -> Option<(usize, &'a str)> {
        self.skip_blank();
        self.lines.get(self.pos).map(|l| split_indent(l))
    }

    /// A block mapping whose keys sit at column `indent`.
    fn mapping(&mut self, indent: usize) -> Option<Value> {
        self.mapping_from(None, indent)
    }

    /// A block sequence whose dashes sit at column `indent`.
    fn sequence(&mut self, indent: usize) -> Option<Value> {
        let mut items = Vec::new();
        while let Some((i, text)) = self.peek() {
            if i != indent || !is_dash(text) {
                if i > indent {
                    return None;
                }
                break;
            }
            self.pos += 1;
            let after = text[1..].trim_start_matches(' ');
            let col = indent + (text.len() - after.len());
            if after.is_empty() || after.starts_with('#') {
                items.push(self.nested(indent, false)?);
            } else if is_dash(after) {
                return None;
            } else if split_key(after).is_some() {
                // a compact mapping: its first key is on the dash line, at column `col`
                items.push(self.mapping_at_col(after, col)?);
            } else {
                items.push(self.value_after(after, indent, false)?);
            }
        }
        Some(Value::from(items))
    }

    /// A mapping whose first entry, `first`, was on a dash line at column `col` (already
    /// consumed); later keys must sit at the same column.
    fn mapping_at_col(&mut self, first: &'a str, col: usize) -> Option<Value> {
        self.mapping_from(Some(first), col)
    }

    /// The entries of a mapping at column `col`: `first` (an entry already read from a dash
    /// line), then every key line at that column.
    fn mapping_from(&mut self, first: Option<&'a str>, col: usize) -> Option<Value> {
        let mut entries = Vec::new();
        if let Some(text) = first {
            let (key, rest) = split_key(text)?;
            entries.push((key, self.value_after(rest, col, true)?));
        }
        while let Some((i, text)) = self.peek() {
            if i < col {
                break;
            }
            if i > col || is_dash(text) {
                return None;
            }
            self.pos += 1;
            let (key, rest) = split_key(text)?;
            entries.push((key, self.value_after(rest, col, true)?));
        }
        // merge keys are left to the full parser
        if entries
            .iter()
            .any(|(k, _)| matches!(k, Value::Str(s) if s.as_ref() == "<<"))
        {
            return None;
        }
        Some(build_map(entries))
    }

    /// The value that follows `key:` (or `- `) on a line whose node sits at column `indent`:
    /// `rest` is the remainder of that line.
    fn value_after(&mut self, rest: &'a str, indent: usize, in_map: bool) -> Option<Value> {
        if rest.is_empty() || rest.starts_with('#') {
            return self.nested(indent, in_map);
        }
        let v = match rest.as_bytes()[0] {
            b'|' => return self.literal(rest, indent),
            b'"' => double_quoted(rest)?,
            b'\'' => match single_quoted(rest) {
                Some(v) => v,
                None => self.single_quoted_lines(rest, indent)?,
            },
            b'[' => flow_sequence(rest)?,
            b'{' => {
                if strip_comment(rest) != "{}" {
                    return None;
                }
                Value::new_map()
            }
            b'>' | b'&' | b'*' | b'!' | b'%' | b'@' | b'`' | b'?' | b',' | b']' | b'}' => {
                return None
            }
            b'-' if is_dash(rest) => return None,
            b':' if rest == ":" || rest.starts_with(": ") => return None,
            _ => {
                let text = plain_value(rest)?;
                // a comment ends the scalar on its line; otherwise deeper lines continue it
                let commented = text.len() < rest.trim_end_matches(' ').len();
                match self.peek() {
                    Some((i, _)) if i > indent && !commented => {
                        let folded = self.plain_lines(text, indent)?;
                        resolve_scalar(&folded, ScalarStyle::Plain)
                    }
                    _ => resolve_scalar(text, ScalarStyle::Plain),
                }
            }
        };
        // a scalar ends at the line: anything more indented below it would continue it
        if let Some((i, _)) = self.peek() {
            if i > indent {
                return None;
            }
        }
        Some(v)
    }

    /// A plain scalar continued on the lines below (each deeper than `indent`): line breaks fold
    /// to spaces, empty lines to newlines.
    fn plain_lines(&mut self, first: &str, indent: usize) -> Option<String> {
        let mut out = String::from(first);
        let mut breaks = 0;
        while self.pos < self.lines.len() {
            let (i, text) = split_indent(self.lines[self.pos]);
            if text.is_empty() {
                breaks += 1;
                self.pos += 1;
                continue;
            }
            if i <= indent || text.starts_with('#') {
                break;
            }
            let b = text.as_bytes();
            // indicators only matter at the start of the whole scalar, but a line that could
            // read as a sequence entry or a key is left to the full parser
            if is_dash(text)
                || text.starts_with("? ")
                || text.starts_with(": ")
                || comment_at(b).is_some()
                || b.iter()
                    .enumerate()
                    .any(|(k, c)| *c == b':' && b.get(k + 1).is_none_or(|n| *n == b' '))
            {
                return None;
            }
            fold(&mut out, breaks);
            out.push_str(text.trim_end_matches(' '));
            breaks = 0;
            self.pos += 1;
        }
        Some(out)
    }

    /// A single-quoted scalar whose closing quote is on a later line (each deeper than
    /// `indent`): folded like a plain one, `''` read as `'`.
    fn single_quoted_lines(&mut self, first: &str, indent: usize) -> Option<Value> {
        let body = &first[1..];
        if body.contains('\'') {
            // a quote on the first line that did not close it (`''`) is fine, but keep it simple
            return None;
        }
        let mut out = String::from(body.trim_end_matches(' '));
        let mut breaks = 0;
        while self.pos < self.lines.len() {
            let (i, text) = split_indent(self.lines[self.pos]);
            self.pos += 1;
            if text.is_empty() {
                breaks += 1;
                continue;
            }
            if i <= indent {
                return None;
            }
            fold(&mut out, breaks);
            breaks = 0;
            // the closing quote, if on this line (a doubled quote is an escaped one)
            let b = text.as_bytes();
            let mut k = 0;
            let mut piece = String::new();
            loop {
                match memchr::memchr(b'\'', &b[k..]) {
                    None => {
                        piece.push_str(&text[k..]);
                        out.push_str(piece.trim_end_matches(' '));
                        break;
                    }
                    Some(q) => {
                        let q = k + q;
                        piece.push_str(&text[k..q]);
                        if b.get(q + 1) == Some(&b'\'') {
                            piece.push('\'');
                            k = q + 2;
                            continue;
                        }
                        if !rest_is_blank(&text[q + 1..]) {
                            return None;
                        }
                        out.push_str(&piece);
                        return Some(resolve_scalar(&out, ScalarStyle::Quoted));
                    }
                }
            }
        }
        None
    }

    /// The node below a `key:` or `-` line with nothing after it.
    fn nested(&mut self, indent: usize, in_map: bool) -> Option<Value> {
        match self.peek() {
            Some((i, text)) if i > indent => {
                if is_dash(text) {
                    self.sequence(i)
                } else if split_key(text).is_some() {
                    self.mapping(i)
                } else if matches!(text.as_bytes()[0], b'|' | b'>') {
                    None
                } else {
                    // a scalar or flow collection on a line of its own (`resources:` / `  {}`)
                    self.pos += 1;
                    self.value_after(text, indent, in_map)
                }
            }
            // `key:` followed by `- item` at the key's own column
            Some((i, text)) if in_map && i == indent && is_dash(text) => self.sequence(i),
            _ => Some(Value::Nil),
        }
    }

    /// A literal block scalar (`|`, `|-`, `|+`) whose parent node sits at column `indent`.
    fn literal(&mut self, header: &str, indent: usize) -> Option<Value> {
        // the header: a chomping indicator and an indentation indicator, in either order
        let mut chomp = ' ';
        let mut explicit = None;
        for c in strip_comment(&header[1..]).chars() {
            match c {
                '-' | '+' if chomp == ' ' => chomp = c,
                '1'..='9' if explicit.is_none() => explicit = Some(c as usize - '0' as usize),
                _ => return None,
            }
        }
        // content lines: until a non-empty line indented less than the content
        let start = self.pos;
        let mut content_indent = explicit.map(|n| indent + n);
        let mut end = start;
        while end < self.lines.len() {
            let line = self.lines[end];
            let (i, text) = split_indent(line);
            if text.is_empty() {
                end += 1;
                continue;
            }
            match content_indent {
                None => {
                    if i <= indent {
                        break;
                    }
                    content_indent = Some(i);
                }
                Some(ci) if i < ci => break,
                Some(_) => {}
            }
            end += 1;
        }
        let ci = content_indent?;
        let mut body: Vec<&str> = Vec::with_capacity(end - start);
        let mut seen_text = false;
        for line in &self.lines[start..end] {
            let (i, text) = split_indent(line);
            if text.is_empty() {
                if !seen_text && i > ci && explicit.is_none() {
                    // leading space-only lines deeper than the detected content: an error
                    return None;
                }
                body.push(line.get(ci..).unwrap_or(""));
            } else {
                seen_text = true;
                body.push(&line[ci..]);
            }
        }
        // the breaks after the last content line: one between each pair of remaining lines,
        // plus the one ending the block. At the end of the text `split` yields a last piece
        // after the final newline, which stands for that break; a last line with no newline at
        // all still counts as ended by one, as the full parser reads it.
        let last = body.iter().rposition(|l| !l.is_empty())?;
        let at_end = end == self.lines.len();
        let breaks = (body.len() - 1 - last) + usize::from(!at_end || last + 1 == body.len());
        let mut out = body[..=last].join("\n");
        match chomp {
            '-' => {}
            '+' => out.extend(std::iter::repeat_n('\n', breaks)),
            _ => {
                if breaks > 0 {
                    out.push('\n');
                }
            }
        }
        self.pos = end;
        Some(Value::from(out))
    }
}

/// Joins the next line of a folded scalar: one line break is a space, each empty line between
/// is a newline.
fn fold(out: &mut String, empty_lines: usize) {
    if empty_lines == 0 {
        out.push(' ');
    } else {
        out.extend(std::iter::repeat_n('\n', empty_lines));
    }
}

/// Splits `key: rest` into the resolved key and the rest of the line.
fn split_key(text: &str) -> Option<(Value, &str)> {
    let b = text.as_bytes();
    let (key, after) = match *b.first()? {
        q @ (b'"' | b'\'') => {
            let close = 1 + memchr::memchr(q, &b[1..])?;
            let key = &text[1..close];
            if key.contains('\\') || (q == b'\'' && b.get(close + 1) == Some(&b'\'')) {
                return None;
            }
            (
                resolve_scalar(key, ScalarStyle::Quoted),
                text[close + 1..].strip_prefix(':')?,
            )
        }
        b'-' | b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!'
        | b'|' | b'>' | b'%' | b'@' | b'`' => return None,
        _ => {
            let pos = b
                .iter()
                .enumerate()
                .position(|(i, c)| *c == b':' && b.get(i + 1).is_none_or(|n| *n == b' '))?;
            let key = &text[..pos];
            if key.ends_with(' ') || key.contains(" #") {
                return None;
            }
            (resolve_scalar(key, ScalarStyle::Plain), &text[pos + 1..])
        }
    };
    if !(after.is_empty() || after.starts_with(' ')) {
        return None;
    }
    Some((key, after.trim_start_matches(' ')))
}

/// Where a ` #` comment starts in `b` (at its space). Lines are short: finding the rare `#`
/// first is cheaper than setting up a substring search for each.
fn comment_at(b: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'#', b)
        .find(|&i| i > 0 && b[i - 1] == b' ')
        .map(|i| i - 1)
}

/// Text before a ` #` comment, without trailing spaces.
fn strip_comment(s: &str) -> &str {
    let s = match comment_at(s.as_bytes()) {
        Some(i) => &s[..i],
        None => s,
    };
    s.trim_end_matches(' ')
}

/// A one-line plain scalar: `None` when it holds a `: ` (a nested key) or is empty.
fn plain_value(rest: &str) -> Option<&str> {
    let text = strip_comment(rest);
    let b = text.as_bytes();
    if text.is_empty()
        || b.iter()
            .enumerate()
            .any(|(i, c)| *c == b':' && b.get(i + 1).is_none_or(|n| *n == b' '))
    {
        return None;
    }
    Some(text)
}

/// What may follow a closing quote on the line: spaces, then a comment.
fn rest_is_blank(rest: &str) -> bool {
    let t = rest.trim_start_matches(' ');
    t.is_empty() || (t.len() < rest.len() && t.starts_with('#'))
}

fn single_quoted(rest: &str) -> Option<Value> {
    let b = rest.as_bytes();
    let mut out = String::new();
    let mut i = 1;
    loop {
        let next = i + memchr::memchr(b'\'', &b[i..])?;
        out.push_str(&rest[i..next]);
        if b.get(next + 1) == Some(&b'\'') {
            out.push('\'');
            i = next + 2;
            continue;
        }
        if !rest_is_blank(&rest[next + 1..]) {
            return None;
        }
        return Some(resolve_scalar(&out, ScalarStyle::Quoted));
    }
}

fn double_quoted(rest: &str) -> Option<Value> {
    let b = rest.as_bytes();
    let mut out = String::new();
    let mut i = 1;
    loop {
        let next = i + memchr::memchr2(b'"', b'\\', &b[i..])?;
        out.push_str(&rest[i..next]);
        if b[next] == b'"' {
            if !rest_is_blank(&rest[next + 1..]) {
                return None;
            }
            return Some(resolve_scalar(&out, ScalarStyle::Quoted));
        }
        let c = match b.get(next + 1)? {
            b'\\' => '\\',
            b'"' => '"',
            b'/' => '/',
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'0' => '\0',
            b' ' => ' ',
            _ => return None,
        };
        out.push(c);
        i = next + 2;
    }
}

/// A one-line flow sequence of plain or simply quoted scalars (`[a, "b"]`, `[]`).
fn flow_sequence(rest: &str) -> Option<Value> {
    let close = rest.find(']')?;
    if !rest_is_blank(&rest[close + 1..]) {
        return None;
    }
    let inner = &rest[1..close];
    if inner.contains(['[', '{', '}', '\\', '#', '\'']) {
        return None;
    }
    let mut items = Vec::new();
    if inner.trim_matches(' ').is_empty() {
        return Some(Value::from(items));
    }
    let parts: Vec<&str> = inner.split(',').collect();
    for (n, part) in parts.iter().enumerate() {
        let t = part.trim_matches(' ');
        if t.is_empty() {
            // one trailing comma is allowed: `[a, b,]`
            if n > 0 && n + 1 == parts.len() {
                continue;
            }
            return None;
        }
        let v = if let Some(q) = t.strip_prefix('"') {
            let body = q.strip_suffix('"')?;
            if body.contains('"') {
                return None;
            }
            resolve_scalar(body, ScalarStyle::Quoted)
        } else {
            if t == "-" || t.contains(['"', ':', '?', '&', '*', '!', '|', '>', '%', '@', '`']) {
                return None;
            }
            resolve_scalar(t, ScalarStyle::Plain)
        };
        items.push(v);
    }
    Some(Value::from(items))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]

    use super::parse;

    fn same(text: &str) -> bool {
        let full = crate::yaml11::parse_full(text).expect("the full parser accepts it");
        match parse(text) {
            Some(fast) => {
                assert_eq!(
                    crate::yaml::to_json(&fast, false),
                    crate::yaml::to_json(&full, false),
                    "fast reader differs on:\n{text}"
                );
                true
            }
            None => false,
        }
    }

    #[test]
    fn agrees_with_the_full_parser_on_the_corpus() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/charts");
        assert!(dir.is_dir(), "missing {}", dir.display());
        let (mut docs, mut fast) = (0, 0);
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("read dir") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let name = p.to_string_lossy();
                if !(name.ends_with(".yaml") || name.ends_with(".yml"))
                    || name.contains("/templates/")
                {
                    continue;
                }
                let text = std::fs::read_to_string(&p).expect("read");
                for piece in text.split("\n---\n") {
                    if crate::yaml11::parse_full(piece).is_err() {
                        assert!(parse(piece).is_none(), "accepted invalid YAML:\n{piece}");
                        continue;
                    }
                    docs += 1;
                    if same(piece) {
                        fast += 1;
                    }
                }
            }
        }
        println!("fast reader took {fast} of {docs} documents");
        assert!(
            fast * 10 > docs * 8,
            "the fast reader should take most documents"
        );
    }

    #[test]
    fn literal_block_scalars_chomp_like_yaml() {
        for text in [
            "a: |\n  x\n  y\nb: 1\n",
            "a: |-\n  x\n\n  y\n\nb: 1\n",
            "a: |+\n  x\n\n\nb: 1\n",
            "a: |+\n  x\n",
            "a: |+\n  x",
            "a: |\n  x",
            "a: |-\n  x\n",
            "a:\n  - |\n    one\n    two\n  - x\n",
            "a: |\n  x\n   \n  y\n",
            "a: |\n\n  x\n",
            "a:\n  b: |2-\n      deeper\n    x\n  c: 1\n",
            "- |1\n  x\n",
        ] {
            assert!(crate::yaml11::parse_full(text).is_ok(), "{text:?}");
            assert!(same(text), "the fast reader declined {text:?}");
        }
        for text in [
            "a:\n  {}\nb:\n  []\nc:\n  'q'\nd:\n  plain\n  more\ne: 1\n",
            "# a\tcomment\na: 1\n",
        ] {
            assert!(crate::yaml11::parse_full(text).is_ok(), "{text:?}");
            assert!(same(text), "the fast reader declined {text:?}");
        }
    }

    #[test]
    fn mappings_sequences_and_scalars() {
        for text in [
            "a: 1\nb: yes\nc: ~\nd: '0755'\ne: 0755\nf: \"x\\ty\"\ng: 'it''s'\n",
            "a:\n- 1\n- b: 2\n  c: 3\n",
            "list: [a, 1, \"b c\", true]\nempty: []\nmap: {}\n",
            "key: value # comment\n# only a comment\nother: v\n",
            "---\na: 1\n",
            "a:\n  b:\n    c: d\n  e: f\n",
            "\"quoted key\": 1\n'single': 2\n1: one\ntrue: t\n",
            "a: b\n  continued\n",
            "x: [a, b,]\n",
            "a: one\n  two\n\n  three\nb: 1\n",
            "a: 'one\n  two''s\n\n\n  three'\nb: 1\n",
            "- 'one\n  two  '\n- plain\n  folded\n",
        ] {
            assert!(crate::yaml11::parse_full(text).is_ok(), "{text:?}");
            assert!(same(text), "the fast reader declined {text:?}");
        }
        // left to the full parser
        assert!(parse("a: &x 1\nb: *x\n").is_none());
        assert!(parse("a: >\n  folded\n").is_none());
        assert!(parse("a:\n- - x\n").is_none());
        assert!(parse("a:\n  b: 1\n c: 2\n").is_none());
        assert!(parse("a: 1\n---\nb: 2\n").is_none());
    }

    #[test]
    fn never_accepts_what_the_full_parser_rejects() {
        for bad in [
            "a: b: c\n",
            "- a\nb: 1\n",
            "a: 'x\n",
            "a: [b\n",
            "a: \"x\" y\n",
            "a:\n  b: 1\n c: 2\n",
            "a: |\n    x\n  y\n",
            "a:\n- b\n  - c\n",
            "  a: 1\nb: 2\n",
        ] {
            assert!(
                crate::yaml11::parse_full(bad).is_err() || parse(bad).is_none() || same(bad),
                "{bad:?}"
            );
            if crate::yaml11::parse_full(bad).is_err() {
                assert!(parse(bad).is_none(), "accepted invalid YAML {bad:?}");
            }
        }
    }
}
