//! Escaping for everything a report prints. Values come from the store under test and are
//! untrusted: a key, a value or an error message may hold markup, quotes or control
//! characters, and none of it may become markup or script in `report.html` or `junit.xml`.
//!
//! - [`html`] is for HTML text, HTML attribute values, SVG text and SVG attributes, and XML
//!   (it escapes `& < > " '`, so it is safe in every one of those places).
//! - [`xml`] also replaces the characters XML 1.0 forbids (most C0 controls), which would make
//!   `junit.xml` unreadable for a CI system.
//! - [`json_in_script`] serialises data for a `<script type="application/json">` block: the
//!   JSON is escaped so that `</script>` and HTML comments inside strings cannot end the block.
//! - [`truncate`] shortens a value's text to a bound, so one huge value cannot bloat a page.

use std::fmt::Write as _;

/// Escapes text for HTML (text and quoted attribute values), SVG and XML.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    push_html(&mut out, text);
    out
}

/// Appends `text` escaped for HTML to `out`.
pub fn push_html(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // A NUL in HTML text is a parse error; show it instead of dropping it silently.
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// Escapes text for an XML 1.0 document: like [`html`], and control characters XML cannot
/// carry become `\u{..}` text.
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => push_html(&mut out, c.encode_utf8(&mut [0; 4])),
        }
    }
    out
}

/// JSON for a `<script type="application/json">` block: `<`, `>`, `&` and the JavaScript line
/// separators are written as `\u` escapes, which JSON readers decode back to the same text.
pub fn json_in_script(value: &impl serde::Serialize) -> String {
    let json = serde_json::to_string(value).unwrap_or_else(|_| "null".to_string());
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
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
            html(r#"<script>alert("x")</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
        );
    }

    #[test]
    fn quotes_cannot_end_an_attribute() {
        let escaped = html(r#"a" onmouseover='b'"#);
        assert!(!escaped.contains('"') && !escaped.contains('\''));
        assert_eq!(escaped, "a&quot; onmouseover=&#39;b&#39;");
    }

    #[test]
    fn ampersands_are_escaped_once() {
        assert_eq!(html("&amp; &"), "&amp;amp; &amp;");
    }

    #[test]
    fn xml_keeps_newlines_and_names_forbidden_control_characters() {
        assert_eq!(xml("a\nb\u{1}<"), "a\nb\\u{1}&lt;");
    }

    #[test]
    fn json_in_a_script_block_cannot_close_the_block() {
        let text = json_in_script(&vec!["</script><script>alert(1)</script>", "<!--"]);
        assert!(!text.contains('<') && !text.contains('>'));
        let back: Vec<String> = serde_json::from_str(&text).unwrap();
        assert_eq!(back[0], "</script><script>alert(1)</script>");
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hi", 2), "hi");
    }
}
