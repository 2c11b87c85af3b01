//! Templates: the small text language of test specs.
//!
//! A template is text with `{{ name }}` holes; a hole may pass its value through filters,
//! left to right: `{{ key | base64 }}`, `{{ value | json }}`. Templates are compiled once when
//! the spec is loaded (so a typo in a name is a spec error, not a failed operation) and then
//! rendered per operation without parsing.
//!
//! Values are JSON values. A hole without filters writes strings without quotes, numbers and
//! booleans as their text, `null` as nothing, and arrays and objects as JSON.
//!
//! Filters:
//!
//! | filter | result |
//! |---|---|
//! | `base64` | standard base64 (with padding) of the value's text |
//! | `json` | the value as JSON (`"k1"`, `4`, `[1,2]`, `null`) |
//! | `url` | the value's text, percent-encoded for a URL path segment or query |
//! | `str` | the value's text as a JSON string (a number `4` becomes `"4"`) |
//!
//! Rendering never fails: every value has a text.

use std::fmt::Write as _;

use base64::Engine as _;
use serde_json::Value;

/// A filter applied to a hole's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    Base64,
    Json,
    Url,
    Str,
}

impl Filter {
    pub const NAMES: [&'static str; 4] = ["base64", "json", "url", "str"];

    fn from_name(name: &str) -> Option<Filter> {
        match name {
            "base64" => Some(Filter::Base64),
            "json" => Some(Filter::Json),
            "url" => Some(Filter::Url),
            "str" => Some(Filter::Str),
            _ => None,
        }
    }

    fn apply(self, v: Value) -> Value {
        match self {
            Filter::Base64 => {
                Value::String(base64::engine::general_purpose::STANDARD.encode(text(&v)))
            }
            Filter::Json => Value::String(v.to_string()),
            Filter::Url => Value::String(percent_encode(&text(&v))),
            Filter::Str => Value::String(Value::String(text(&v)).to_string()),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Text(String),
    Hole { var: String, filters: Vec<Filter> },
}

/// The values a template is rendered with, by name. Built per rendering from borrowed
/// values, so a render allocates nothing but its output.
#[derive(Clone, Debug, Default)]
pub struct Scope<'a> {
    /// Inline up to eight: an operation's scope never touches the heap.
    entries: smallvec::SmallVec<[(&'a str, &'a Value); 8]>,
}

impl<'a> Scope<'a> {
    pub fn new() -> Scope<'a> {
        Scope::default()
    }

    /// A scope of distinct names, bound without looking for earlier bindings.
    pub fn of<const N: usize>(entries: [(&'a str, &'a Value); N]) -> Scope<'a> {
        debug_assert!(entries
            .iter()
            .enumerate()
            .all(|(i, (n, _))| entries[..i].iter().all(|(m, _)| m != n)));
        // Copied as one slice: collecting entry by entry cost ~200 instructions an op.
        Scope {
            entries: smallvec::SmallVec::from_slice(&entries),
        }
    }

    /// `name` takes `value`; a later binding of the same name wins.
    pub fn with(mut self, name: &'a str, value: &'a Value) -> Scope<'a> {
        self.set(name, value);
        self
    }

    pub fn set(&mut self, name: &'a str, value: &'a Value) {
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name, value)),
        }
    }

    /// The value bound to `name`; `null` when there is none (compilation already refused
    /// names outside the template's variables).
    pub fn get(&self, name: &str) -> &'a Value {
        self.entries
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .unwrap_or(&Value::Null)
    }

    /// The names bound, in binding order.
    pub fn names(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.entries.iter().map(|(n, _)| *n)
    }
}

/// A compiled template. Its holes name variables from the list given to
/// [`Template::compile`]; rendering looks them up by name in a [`Scope`].
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    segments: Vec<Segment>,
    source: String,
}

/// Why a template does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub message: String,
    /// A suggestion for the user, if there is one.
    pub hint: Option<String>,
}

impl Template {
    /// Compiles `source`; `vars` are the names a hole may use.
    pub fn compile(source: &str, vars: &[&str]) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                segments.push(Segment::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(TemplateError {
                    message: format!("`{{{{` without a closing `}}}}` in {source:?}"),
                    hint: None,
                });
            };
            segments.push(compile_hole(&after[..close], vars)?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Text(rest.to_string()));
        }
        Ok(Template {
            segments,
            source: source.to_string(),
        })
    }

    /// The text the template was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the template has no holes.
    pub fn is_constant(&self) -> bool {
        self.segments.iter().all(|s| matches!(s, Segment::Text(_)))
    }

    /// Renders with each hole's variable looked up in `scope`.
    pub fn render(&self, scope: &Scope) -> String {
        let mut out = String::with_capacity(self.source.len() + 16);
        self.render_into(scope, &mut out);
        out
    }

    /// Renders onto the end of `out`.
    pub fn render_into(&self, scope: &Scope, out: &mut String) {
        for segment in &self.segments {
            match segment {
                Segment::Text(t) => out.push_str(t),
                Segment::Hole { var, filters } => {
                    let v = scope.get(var);
                    if filters.is_empty() {
                        push_text(out, v);
                    } else {
                        let mut v = v.clone();
                        for f in filters {
                            v = f.apply(v);
                        }
                        push_text(out, &v);
                    }
                }
            }
        }
    }
}

fn compile_hole(inner: &str, vars: &[&str]) -> Result<Segment, TemplateError> {
    let mut parts = inner.split('|').map(str::trim);
    let name = parts.next().unwrap_or_default();
    if !vars.contains(&name) {
        return Err(TemplateError {
            message: format!("unknown template variable `{name}`"),
            hint: Some(match did_you_mean(name, vars.iter().copied()) {
                Some(s) => format!(
                    "did you mean `{{{{ {s} }}}}`? (variables here: {})",
                    vars.join(", ")
                ),
                None => format!("variables here: {}", vars.join(", ")),
            }),
        });
    }
    let mut filters = Vec::new();
    for f in parts {
        let Some(filter) = Filter::from_name(f) else {
            return Err(TemplateError {
                message: format!("unknown template filter `{f}`"),
                hint: Some(match did_you_mean(f, Filter::NAMES) {
                    Some(s) => format!(
                        "did you mean `{s}`? (filters: {})",
                        Filter::NAMES.join(", ")
                    ),
                    None => format!("filters: {}", Filter::NAMES.join(", ")),
                }),
            });
        };
        filters.push(filter);
    }
    Ok(Segment::Hole {
        var: name.to_string(),
        filters,
    })
}

/// The text of a value: strings without quotes, `null` as nothing, the rest as JSON.
pub fn text(v: &Value) -> String {
    let mut s = String::new();
    push_text(&mut s, v);
    s
}

fn push_text(out: &mut String, v: &Value) {
    match v {
        Value::Null => {}
        Value::String(s) => out.push_str(s),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.len() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_holes_with_filters_left_to_right() {
        let t = Template::compile(
            r#"{"key":"{{ key | base64 }}","value":{{value|json}}}"#,
            &["key", "value"],
        )
        .unwrap();
        let (k, v) = (json!("k1"), json!(4));
        let out = t.render(&Scope::new().with("key", &k).with("value", &v));
        assert_eq!(out, r#"{"key":"azE=","value":4}"#);
    }

    #[test]
    fn writes_strings_without_quotes_and_null_as_nothing() {
        let t = Template::compile("/v2/keys/{{key}}?prev={{value}}", &["key", "value"]).unwrap();
        let k = json!("k 1");
        assert_eq!(
            t.render(&Scope::new().with("key", &k).with("value", &Value::Null)),
            "/v2/keys/k 1?prev="
        );
        let t = Template::compile("{{key|url}}", &["key"]).unwrap();
        let k = json!("k 1/2");
        assert_eq!(t.render(&Scope::new().with("key", &k)), "k%201%2F2");
    }

    #[test]
    fn str_filter_quotes_a_number_as_a_json_string() {
        let t = Template::compile("{{value|str}}", &["value"]).unwrap();
        let v = json!(12);
        assert_eq!(t.render(&Scope::new().with("value", &v)), r#""12""#);
    }

    #[test]
    fn values_are_found_by_name_whatever_order_they_are_bound_in() {
        let t = Template::compile("{{b}}-{{a}}", &["a", "b"]).unwrap();
        let (a, b) = (json!(1), json!(2));
        let one = t.render(&Scope::new().with("a", &a).with("b", &b));
        let other = t.render(&Scope::new().with("b", &b).with("a", &a));
        assert_eq!(one, "2-1");
        assert_eq!(one, other);
    }

    #[test]
    fn names_an_unknown_variable_and_suggests_the_closest() {
        let err = Template::compile("{{ vaule }}", &["key", "value"]).unwrap_err();
        assert!(err.message.contains("`vaule`"));
        assert!(err.hint.unwrap().contains("did you mean `{{ value }}`"));
        let err = Template::compile("{{ key | base46 }}", &["key"]).unwrap_err();
        assert!(err.hint.unwrap().contains("`base64`"));
    }

    #[test]
    fn rejects_an_unclosed_hole() {
        assert!(Template::compile("a {{ key", &["key"]).is_err());
    }
}
