const MAX_REPEAT: i64 = 1000;
const MAX_NESTING: usize = 1000;

enum Node {
    Leaf,
    Repeat { max: i64, min: i64, sub: Box<Node> },
    Multi(Vec<Node>),
}

enum Item {
    Node(Node),
    LeftParen,
    VerticalBar,
}

fn error(code: &str, expr: &str) -> String {
    format!("error parsing regexp: {code}: `{expr}`")
}

const MISSING_PAREN: &str = "missing closing )";
const UNEXPECTED_PAREN: &str = "unexpected )";
const MISSING_BRACKET: &str = "missing closing ]";
const INVALID_ESCAPE: &str = "invalid escape sequence";
const INVALID_RANGE: &str = "invalid character class range";
const INVALID_NAMED_CAPTURE: &str = "invalid named capture";
const INVALID_PERL_OP: &str = "invalid or unsupported Perl syntax";
const INVALID_REPEAT_OP: &str = "invalid nested repetition operator";
const INVALID_REPEAT_SIZE: &str = "invalid repeat count";
const MISSING_REPEAT_ARGUMENT: &str = "missing argument to repetition operator";
const TRAILING_BACKSLASH: &str = "trailing backslash at end of expression";
const NESTING_DEPTH: &str = "expression nests too deeply";

const POSIX_CLASSES: [&str; 14] = [
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
    "space", "upper", "word", "xdigit",
];

fn repeat_is_valid(re: &Node, n: i64) -> bool {
    let mut n = n;
    match re {
        Node::Repeat { max, min, sub } => {
            let mut m = *max;
            if m == 0 {
                return true;
            }
            if m < 0 {
                m = *min;
            }
            if m > n {
                return false;
            }
            if m > 0 {
                n /= m;
            }
            repeat_is_valid(sub, n)
        }
        Node::Multi(subs) => subs.iter().all(|s| repeat_is_valid(s, n)),
        Node::Leaf => true,
    }
}

struct Parser<'s> {
    s: &'s str,
    stack: Vec<Item>,
    depth: usize,
}

fn char_at(s: &str, i: usize) -> Option<char> {
    s.get(i..).and_then(|t| t.chars().next())
}

impl Parser<'_> {
    fn push(&mut self, n: Node) {
        self.stack.push(Item::Node(n));
    }

    /// Pops the nodes above the topmost `(` or `|` into one.
    fn collapse(&mut self) {
        let mut subs = Vec::new();
        while let Some(Item::Node(_)) = self.stack.last() {
            if let Some(Item::Node(n)) = self.stack.pop() {
                subs.push(n);
            }
        }
        self.push(Node::Multi(subs));
    }

    fn swap_vertical_bar(&mut self) -> bool {
        let n = self.stack.len();
        if n >= 2 && matches!(self.stack[n - 2], Item::VerticalBar) {
            self.stack.swap(n - 2, n - 1);
            return true;
        }
        false
    }

    fn right_paren(&mut self) -> Result<(), String> {
        self.collapse();
        if self.swap_vertical_bar() {
            self.stack.pop();
        }
        self.collapse();
        let n = self.stack.len();
        if n < 2 {
            return Err(error(UNEXPECTED_PAREN, self.s));
        }
        let re1 = self.stack.pop();
        let re2 = self.stack.pop();
        match (re1, re2) {
            (Some(Item::Node(node)), Some(Item::LeftParen)) => {
                self.depth = self.depth.saturating_sub(1);
                self.push(Node::Multi(vec![node]));
                Ok(())
            }
            _ => Err(error(UNEXPECTED_PAREN, self.s)),
        }
    }

    fn left_paren(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(error(NESTING_DEPTH, self.s));
        }
        self.stack.push(Item::LeftParen);
        Ok(())
    }

    /// Applies a repetition operator to the top of the stack; returns where parsing goes on.
    fn repeat(
        &mut self,
        min: i64,
        max: i64,
        counted: bool,
        before: usize,
        after: usize,
        last_repeat: Option<usize>,
    ) -> Result<usize, String> {
        let s = self.s;
        let mut after = after;
        if s.as_bytes().get(after) == Some(&b'?') {
            after += 1;
        }
        if let Some(last) = last_repeat {
            return Err(error(INVALID_REPEAT_OP, &s[last..after]));
        }
        let Some(Item::Node(_)) = self.stack.last() else {
            return Err(error(MISSING_REPEAT_ARGUMENT, &s[before..after]));
        };
        let Some(Item::Node(sub)) = self.stack.pop() else {
            return Err(error(MISSING_REPEAT_ARGUMENT, &s[before..after]));
        };
        let re = Node::Repeat {
            max,
            min,
            sub: Box::new(sub),
        };
        if counted && (min >= 2 || max >= 2) && !repeat_is_valid(&re, MAX_REPEAT) {
            return Err(error(INVALID_REPEAT_SIZE, &s[before..after]));
        }
        self.push(re);
        Ok(after)
    }

    /// `(?flags)`, `(?flags:`, `(?P<name>` and `(?<name>`.
    fn perl_flags(&mut self, pos: usize) -> Result<usize, String> {
        let t = &self.s[pos..];
        let b = t.as_bytes();
        let starts_with_p = b.len() > 4 && b[2] == b'P' && b[3] == b'<';
        let starts_with_name = b.len() > 3 && b[2] == b'<';
        if starts_with_p || starts_with_name {
            let start = if starts_with_p { 4 } else { 3 };
            let Some(end) = t.find('>') else {
                return Err(error(INVALID_NAMED_CAPTURE, t));
            };
            let name = &t[start..end];
            if name.is_empty() || !name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()) {
                return Err(error(INVALID_NAMED_CAPTURE, &t[..=end]));
            }
            self.left_paren()?;
            return Ok(pos + end + 1);
        }
        let mut i = 2;
        let mut negated = false;
        let mut saw_flag = false;
        while let Some(c) = char_at(t, i) {
            i += c.len_utf8();
            match c {
                'i' | 'm' | 's' | 'U' => saw_flag = true,
                '-' => {
                    if negated {
                        break;
                    }
                    negated = true;
                    saw_flag = false;
                }
                ':' | ')' => {
                    if negated && !saw_flag {
                        break;
                    }
                    if c == ':' {
                        self.left_paren()?;
                    }
                    return Ok(pos + i);
                }
                _ => break,
            }
        }
        Err(error(INVALID_PERL_OP, &t[..i]))
    }

    /// An escape (`\n`, `\x41`, `\.`): where it ends.
    fn escape(&self, pos: usize) -> Result<usize, String> {
        let s = self.s;
        let mut t = pos + 1;
        let Some(c) = char_at(s, t) else {
            return Err(error(TRAILING_BACKSLASH, ""));
        };
        t += c.len_utf8();
        let octal = |i: usize| {
            s.as_bytes()
                .get(i)
                .is_some_and(|b| (b'0'..=b'7').contains(b))
        };
        let hex = |c: Option<char>| c.and_then(|c| c.to_digit(16));
        match c {
            '1'..='7' if octal(t) => {
                for _ in 1..3 {
                    if !octal(t) {
                        break;
                    }
                    t += 1;
                }
                return Ok(t);
            }
            '0' => {
                for _ in 1..3 {
                    if !octal(t) {
                        break;
                    }
                    t += 1;
                }
                return Ok(t);
            }
            'x' => {
                if let Some(c) = char_at(s, t) {
                    t += c.len_utf8();
                    if c == '{' {
                        let mut nhex = 0;
                        let mut r: u32 = 0;
                        loop {
                            let Some(c) = char_at(s, t) else {
                                return Err(error(INVALID_ESCAPE, &s[pos..t]));
                            };
                            t += c.len_utf8();
                            if c == '}' {
                                break;
                            }
                            let Some(v) = hex(Some(c)) else {
                                return Err(error(INVALID_ESCAPE, &s[pos..t]));
                            };
                            r = r.saturating_mul(16).saturating_add(v);
                            if r > 0x10ffff {
                                return Err(error(INVALID_ESCAPE, &s[pos..t]));
                            }
                            nhex += 1;
                        }
                        if nhex == 0 {
                            return Err(error(INVALID_ESCAPE, &s[pos..t]));
                        }
                        return Ok(t);
                    }
                    let x = hex(Some(c));
                    let c2 = char_at(s, t);
                    if let Some(c2) = c2 {
                        t += c2.len_utf8();
                    }
                    if x.is_some() && hex(c2).is_some() {
                        return Ok(t);
                    }
                }
            }
            'a' | 'f' | 'n' | 'r' | 't' | 'v' => return Ok(t),
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => return Ok(t),
            _ => {}
        }
        Err(error(INVALID_ESCAPE, &s[pos..t]))
    }

    /// `\pN`, `\p{Greek}`, `\PN`: `None` when `pos` is not at one.
    fn unicode_class(&self, pos: usize) -> Result<Option<usize>, String> {
        let s = self.s;
        let b = s.as_bytes();
        if b.len() < pos + 2 || b[pos] != b'\\' || (b[pos + 1] != b'p' && b[pos + 1] != b'P') {
            return Ok(None);
        }
        let t = pos + 2;
        let (seq_end, name) = match char_at(s, t) {
            Some('{') => {
                let Some(end) = s[pos..].find('}') else {
                    return Err(error(INVALID_RANGE, &s[pos..]));
                };
                (pos + end + 1, &s[pos + 3..pos + end])
            }
            Some(c) => (t + c.len_utf8(), &s[t..t + c.len_utf8()]),
            None => (t, ""),
        };
        let name = name.strip_prefix('^').unwrap_or(name);
        let known = !name.is_empty()
            && (name == "Any"
                || name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && regex::Regex::new(&format!("\\p{{{name}}}")).is_ok());
        if !known {
            return Err(error(INVALID_RANGE, &s[pos..seq_end]));
        }
        Ok(Some(seq_end))
    }

    fn perl_class(&self, pos: usize) -> Option<usize> {
        let b = self.s.as_bytes();
        (b.get(pos) == Some(&b'\\') && b.get(pos + 1).is_some_and(|c| b"dDsSwW".contains(c)))
            .then_some(pos + 2)
    }

    /// A bracketed class: where it ends.
    fn class(&self, pos: usize) -> Result<usize, String> {
        let s = self.s;
        let whole = &s[pos..];
        let mut t = pos + 1;
        if s.as_bytes().get(t) == Some(&b'^') {
            t += 1;
        }
        let mut first = true;
        while first || s.as_bytes().get(t) != Some(&b']') {
            first = false;
            let rest = &s[t..];
            if rest.len() > 2 && rest.starts_with("[:") {
                if let Some(i) = rest[2..].find(":]") {
                    let name = &rest[..i + 4];
                    let bare = &rest[2..i + 2];
                    let bare = bare.strip_prefix('^').unwrap_or(bare);
                    if !POSIX_CLASSES.contains(&bare) {
                        return Err(error(INVALID_RANGE, name));
                    }
                    t += name.len();
                    continue;
                }
            }
            if let Some(nt) = self.unicode_class(t)? {
                t = nt;
                continue;
            }
            if let Some(nt) = self.perl_class(t) {
                t = nt;
                continue;
            }
            let rng = t;
            let (lo, nt) = self.class_char(t, whole)?;
            t = nt;
            let b = s.as_bytes();
            if b.len() >= t + 2 && b[t] == b'-' && b[t + 1] != b']' {
                let (hi, nt) = self.class_char(t + 1, whole)?;
                t = nt;
                if hi < lo {
                    return Err(error(INVALID_RANGE, &s[rng..t]));
                }
            }
        }
        Ok(t + 1)
    }

    /// One character of a class, with its code point (escapes decoded).
    fn class_char(&self, pos: usize, whole: &str) -> Result<(u32, usize), String> {
        let s = self.s;
        let Some(c) = char_at(s, pos) else {
            return Err(error(MISSING_BRACKET, whole));
        };
        if c != '\\' {
            return Ok((c as u32, pos + c.len_utf8()));
        }
        let end = self.escape(pos)?;
        Ok((escape_value(&s[pos..end]), end))
    }
}

/// The code point an escape stands for (for range checks).
fn escape_value(e: &str) -> u32 {
    let body = &e[1..];
    let mut chars = body.chars();
    let first = chars.next().unwrap_or('\0');
    match first {
        '0'..='7' => u32::from_str_radix(body, 8).unwrap_or(0),
        'x' => {
            let hex = body[1..].trim_start_matches('{').trim_end_matches('}');
            u32::from_str_radix(hex, 16).unwrap_or(0)
        }
        'a' => 7,
        'f' => 12,
        'n' => 10,
        'r' => 13,
        't' => 9,
        'v' => 11,
        c => c as u32,
    }
}

/// Checks a pattern as Go's `regexp.Compile` does: `Err` carries Go's message.
pub fn check(s: &str) -> Result<(), String> {
    let mut p = Parser {
        s,
        stack: Vec::new(),
        depth: 0,
    };
    let b = s.as_bytes();
    let mut pos = 0;
    let mut last_repeat: Option<usize> = None;
    while pos < b.len() {
        let mut repeat = None;
        match b[pos] {
            b'(' => {
                if b.get(pos + 1) == Some(&b'?') {
                    pos = p.perl_flags(pos)?;
                } else {
                    p.left_paren()?;
                    pos += 1;
                }
            }
            b'|' => {
                p.collapse();
                if !p.swap_vertical_bar() {
                    p.stack.push(Item::VerticalBar);
                }
                pos += 1;
            }
            b')' => {
                p.right_paren()?;
                pos += 1;
            }
            b'^' | b'$' | b'.' => {
                p.push(Node::Leaf);
                pos += 1;
            }
            b'[' => {
                pos = p.class(pos)?;
                p.push(Node::Leaf);
            }
            b'*' | b'+' | b'?' => {
                let before = pos;
                pos = p.repeat(0, 0, false, before, pos + 1, last_repeat)?;
                repeat = Some(before);
            }
            b'{' => match parse_repeat(s, pos) {
                None => {
                    p.push(Node::Leaf);
                    pos += 1;
                }
                Some((min, max, after)) => {
                    let before = pos;
                    if !(0..=MAX_REPEAT).contains(&min)
                        || max > MAX_REPEAT
                        || (max >= 0 && min > max)
                    {
                        return Err(error(INVALID_REPEAT_SIZE, &s[before..after]));
                    }
                    pos = p.repeat(min, max, true, before, after, last_repeat)?;
                    repeat = Some(before);
                }
            },
            b'\\' => match b.get(pos + 1) {
                Some(b'A' | b'b' | b'B' | b'z') => {
                    p.push(Node::Leaf);
                    pos += 2;
                }
                Some(b'C') => return Err(error(INVALID_ESCAPE, &s[pos..pos + 2])),
                Some(b'Q') => {
                    let rest = &s[pos + 2..];
                    let (lit, end) = match rest.find("\\E") {
                        Some(i) => (&rest[..i], pos + 2 + i + 2),
                        None => (rest, s.len()),
                    };
                    for _ in lit.chars() {
                        p.push(Node::Leaf);
                    }
                    pos = end;
                }
                _ => {
                    if let Some(nt) = p.unicode_class(pos)? {
                        pos = nt;
                    } else if let Some(nt) = p.perl_class(pos) {
                        pos = nt;
                    } else {
                        pos = p.escape(pos)?;
                    }
                    p.push(Node::Leaf);
                }
            },
            _ => {
                let c = char_at(s, pos).unwrap_or('\0');
                p.push(Node::Leaf);
                pos += c.len_utf8().max(1);
            }
        }
        last_repeat = repeat;
    }
    p.collapse();
    if p.swap_vertical_bar() {
        p.stack.pop();
    }
    p.collapse();
    if p.stack.len() != 1 {
        return Err(error(MISSING_PAREN, s));
    }
    Ok(())
}

/// `{n}`, `{n,}`, `{n,m}` at `pos`: (min, max, end); max is -1 for `{n,}`, min -1 when a
/// number is too large.
fn parse_repeat(s: &str, pos: usize) -> Option<(i64, i64, usize)> {
    let b = s.as_bytes();
    let parse_int = |i: usize| -> Option<(i64, usize)> {
        if !b.get(i)?.is_ascii_digit() {
            return None;
        }
        if b[i] == b'0' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let end = i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let mut n: i64 = 0;
        for &d in &b[i..end] {
            if n >= 100_000_000 {
                n = -1;
                break;
            }
            n = n * 10 + i64::from(d - b'0');
        }
        Some((n, end))
    };
    let (mut min, mut i) = parse_int(pos + 1)?;
    let max;
    match b.get(i)? {
        b',' => {
            i += 1;
            if *b.get(i)? == b'}' {
                max = -1;
            } else {
                let (m, ni) = parse_int(i)?;
                i = ni;
                max = m;
                if m < 0 {
                    min = -1;
                }
            }
        }
        _ => max = min,
    }
    if *b.get(i)? != b'}' {
        return None;
    }
    Some((min, max, i + 1))
}

/// Rewrites a Go pattern for the `regex` crate: Go's `\d`, `\s`, `\w` and `\b` are ASCII,
/// and `[`, `&`, `~`, `-` inside a class are literals in Go.
pub fn to_rust(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 8);
    let mut chars = p.chars().peekable();
    let mut in_class = false;
    let mut class_start = false;
    while let Some(c) = chars.next() {
        let at_class_start = class_start;
        class_start = false;
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let class = match n {
                    'd' => Some((false, "0-9")),
                    'D' => Some((true, "0-9")),
                    's' => Some((false, "\\t\\n\\f\\r ")),
                    'S' => Some((true, "\\t\\n\\f\\r ")),
                    'w' => Some((false, "0-9A-Za-z_")),
                    'W' => Some((true, "0-9A-Za-z_")),
                    _ => None,
                };
                match (class, in_class) {
                    (Some((false, set)), true) => out.push_str(set),
                    (Some((negated, set)), _) => {
                        out.push('[');
                        if negated {
                            out.push('^');
                        }
                        out.push_str(set);
                        out.push(']');
                    }
                    (None, false) if n == 'b' || n == 'B' => {
                        out.push_str("(?-u:\\");
                        out.push(n);
                        out.push(')');
                    }
                    (None, _) => {
                        out.push('\\');
                        out.push(n);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                if chars.peek() == Some(&']') {
                    chars.next();
                    out.push_str("\\]");
                }
            }
            '[' if chars.peek() == Some(&':') => {
                // A POSIX class: copy it through `:]`.
                out.push('[');
                let mut prev = ' ';
                for n in chars.by_ref() {
                    out.push(n);
                    if prev == ':' && n == ']' {
                        break;
                    }
                    prev = n;
                }
            }
            '[' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '-' if in_class && (at_class_start || chars.peek() == Some(&'-')) => {
                out.push_str("\\-");
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}
