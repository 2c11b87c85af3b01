//! Escaping for `junit.xml`, the one output not rendered from a template, and [`truncate`].
//! Values come from the store under test and are untrusted: a key, a value or an error
//! message may hold markup, quotes or control characters, and none of it may become markup
//! in `junit.xml`. (HTML pages are escaped by their templates: see
//! [`templates`](super::templates).)
//!
//! - [`xml`] escapes `& < > " '` and replaces the characters XML 1.0 forbids (most C0
//!   controls), which would make `junit.xml` unreadable for a CI system.
//! - [`truncate`] shortens a value's text to a bound, so one huge value cannot bloat a page.

use std::fmt::Write as _;

/// Escapes text for an XML 1.0 document (text and quoted attribute values); control
/// characters XML cannot carry become `\u{..}` text.
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Cuts `text` to at most `max_chars` characters, marking the cut with an ellipsis.
pub fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_a_value_becomes_text() {
        assert_eq!(
            xml(r#"<script>alert("x")</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
        );
    }

    #[test]
    fn quotes_cannot_end_an_attribute() {
        let escaped = xml(r#"a" onmouseover='b'"#);
        assert!(!escaped.contains('"') && !escaped.contains('\''));
    }

    #[test]
    fn ampersands_are_escaped_once() {
        assert_eq!(xml("&amp; &"), "&amp;amp; &amp;");
    }

    #[test]
    fn xml_keeps_newlines_and_names_forbidden_control_characters() {
        assert_eq!(xml("a\nb\u{1}<"), "a\nb\\u{1}&lt;");
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hi", 2), "hi");
    }
}
