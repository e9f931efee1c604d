//! Text from outside (archive entry names, tar header bytes, spec and lock
//! strings) made safe to print: a terminal must not receive control bytes
//! an archive chose, or a crafted name could clear the screen and print
//! "verified OK" in place of the real verdict.

use std::borrow::Cow;

/// `text` with every control character (C0, DEL, C1, including newline and
/// escape) written as a Rust-style escape (`\u{1b}`, `\n`); text without any
/// is returned as it is.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(escape_controls(text, false))
}

/// [`escape`] for whole messages: newlines and tabs, which messages use for
/// their own layout, are kept; every other control character is escaped.
pub fn escape_message(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Cow::Borrowed(text);
    }
    Cow::Owned(escape_controls(text, true))
}

fn escape_controls(text: &str, keep_layout: bool) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !c.is_control() || (keep_layout && (c == '\n' || c == '\t')) {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bytes_become_visible_escapes() {
        let hostile = "blobs/\u{1b}[2J\u{1b}[Hverified OK\r\n\u{7}\u{9b}x";
        let escaped = escape(hostile);
        assert!(!escaped.chars().any(char::is_control), "{escaped}");
        assert_eq!(
            escaped,
            "blobs/\\u{1b}[2J\\u{1b}[Hverified OK\\r\\n\\u{7}\\u{9b}x"
        );
    }

    #[test]
    fn plain_text_is_unchanged_and_messages_keep_their_lines() {
        assert!(matches!(escape("sha256:ab c/d"), Cow::Borrowed(_)));
        assert_eq!(escape_message("a\n  - b\u{1b}c\td"), "a\n  - b\\u{1b}c\td");
    }
}
