//! A cheap, linear pre-scan of spec text for nesting depth: the YAML parser's
//! cost grows with depth (a 400 KB `[[[…` spec took 83 s to be rejected), so
//! text nested deeper than any real spec is refused before parsing, at the
//! bracket that crosses the limit.

/// The deepest flow (`[`, `{`) nesting a spec may use.
pub const MAX_DEPTH: usize = 64;

/// The (line, column) of the first bracket that opens level `MAX_DEPTH + 1`,
/// ignoring brackets in quoted strings and comments.
pub fn too_deep(text: &str) -> Option<(usize, usize)> {
    let (mut line, mut column) = (1, 0);
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut escaped = false;
    let mut previous = '\n';
    for c in text.chars() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
            comment = false;
            previous = c;
            continue;
        }
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if comment => {}
            None => match c {
                '#' if previous.is_whitespace() => comment = true,
                '"' | '\'' => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Some((line, column));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        previous = c;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_nesting_is_found_at_its_bracket() {
        let text = format!("name: x\nvalues: {}{}\n", "[".repeat(100), "]".repeat(100));
        assert_eq!(too_deep(&text), Some((2, 9 + MAX_DEPTH)));
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let many = "[".repeat(200);
        let text = format!("a: \"{many}\"\nb: '{many}'\n# {many}\nc: [[1], {{d: [2]}}]\n");
        assert_eq!(too_deep(&text), None);
    }
}
