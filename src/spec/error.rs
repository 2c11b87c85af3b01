//! Located spec errors: the file, the line, the key, and a hint saying how to fix it.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::client::template::did_you_mean;

/// A validation error, located in the spec file.
#[derive(Debug, Clone)]
pub struct SpecError {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// The dotted key path (`client.ops.read.method`), when known.
    pub key: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

pub(super) fn suggest(word: &str, options: &[&str]) -> String {
    match did_you_mean(word, options.iter().copied()) {
        Some(s) => format!("did you mean `{s}`? (one of: {})", options.join(", ")),
        None => format!("use one of: {}", options.join(", ")),
    }
}

/// Turns a TOML or serde error into a located error, with a did-you-mean for unknown keys
/// and values.
pub(super) fn parse_error(path: &Path, source: &str, e: &toml::de::Error) -> SpecError {
    let span = e.span();
    let line = span.clone().map(|s| line_of(source, s.start));
    let message = e.message().trim().to_string();
    let key = span.clone().and_then(|s| key_at(source, s));
    let hint = unknown_name_hint(&message).or_else(|| missing_field_hint(&message));
    // serde lists the valid names in the message; the hint lists them once, after the
    // suggestion, so the message keeps only what was wrong.
    let message = match message.split_once(", expected ") {
        Some((head, _)) if hint.is_some() && message.starts_with("unknown ") => head.to_string(),
        _ => message,
    };
    SpecError {
        file: path.to_path_buf(),
        line,
        key,
        // serde speaks of fields; a spec's author writes keys.
        message: message
            .replacen("unknown field", "unknown key", 1)
            .replacen("missing field", "missing key", 1),
        hint,
    }
}

/// From serde's "unknown field `x`, expected one of `a`, `b`" (and the same for variants),
/// the closest expected name.
fn unknown_name_hint(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let (word, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    let what = if message.starts_with("unknown field") {
        "keys"
    } else {
        "values"
    };
    let valid = format!("valid {what} here: {}", expected.join(", "));
    Some(match did_you_mean(word, expected.iter().copied()) {
        Some(s) => format!("did you mean `{s}`? ({valid})"),
        None => valid,
    })
}

fn missing_field_hint(message: &str) -> Option<String> {
    let field = message.strip_prefix("missing field `")?.split('`').next()?;
    Some(format!(
        "add `{field}` (see workloads/README.md for what it means)"
    ))
}

fn line_of(source: &str, offset: usize) -> usize {
    source[..offset.min(source.len())].matches('\n').count() + 1
}

/// The key written at a span (for an unknown key the span covers the key itself).
fn key_at(source: &str, span: Range<usize>) -> Option<String> {
    // A type error's span is the value (`five`, `70000`): name the key that holds it.
    if let Ok(doc) = toml_edit::ImDocument::parse(source) {
        if let Some(path) = key_path_at(doc.as_item(), span.start) {
            return Some(path.join("."));
        }
    }
    let text = source.get(span)?.trim();
    let (key, _) = text.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty() && key.len() < 64 && !key.contains('\n')).then(|| key.to_string())
}

/// The dotted path of the key whose name or value covers byte `at` of the source.
fn key_path_at(item: &toml_edit::Item, at: usize) -> Option<Vec<String>> {
    let covers = |span: Option<Range<usize>>| span.is_some_and(|s| s.start <= at && at < s.end);
    if let Some(tables) = item.as_array_of_tables() {
        return tables
            .iter()
            .find_map(|t| key_path_at(&toml_edit::Item::Table(t.clone()), at));
    }
    let table = item.as_table_like()?;
    for (name, _) in table.iter() {
        let (key, value) = table.get_key_value(name)?;
        if covers(key.span()) {
            return Some(vec![name.to_string()]);
        }
        let inner = key_path_at(value, at);
        if inner.is_some() || (value.is_value() && covers(value.span())) {
            let mut path = vec![name.to_string()];
            path.extend(inner.unwrap_or_default());
            return Some(path);
        }
    }
    None
}

/// The line of a dotted key path in the source, or of its deepest table that exists.
pub(super) fn locate(source: &str, path: &[&str]) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(source).ok()?;
    let mut item: &toml_edit::Item = doc.as_item();
    let mut best = None;
    for part in path {
        let table = item.as_table_like()?;
        let (key, value) = table.get_key_value(part)?;
        if let Some(span) = key.span().or_else(|| value.span()) {
            best = Some(line_of(source, span.start));
        }
        item = value;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(source: &str) -> String {
        let e = toml::from_str::<crate::spec::Spec>(source).unwrap_err();
        parse_error(Path::new("t.toml"), source, &e).to_string()
    }

    #[test]
    fn an_unknown_key_lists_the_valid_keys_exactly_once() {
        for (source, key, line) in [
            ("[db]\nstart = [\"x\"]\nfoo = 1\n", "member_separator", 3),
            ("[db]\nstart = [\"x\"]\nmembr = 1\n", "member_separator", 3),
            ("[client]\ntimeut_ms = 1\n", "connect_timeout_ms", 2),
        ] {
            let text = error_of(source);
            assert_eq!(text.matches(key).count(), 1, "{text}");
            assert!(text.contains(&format!("t.toml:{line}: key `")), "{text}");
        }
        assert!(error_of("[client]\ntimeut_ms = 1\n").contains("did you mean `timeout_ms`?"));
    }
}
