//! A small EDN reader and printer, enough for Jepsen's histories.
//!
//! EDN (Extensible Data Notation, <https://github.com/edn-format/edn>) is the text form of
//! Clojure data that Jepsen, Knossos and Elle write their histories in. This reader accepts
//! what real history files contain:
//!
//! - maps `{}`, vectors `[]`, lists `()`, sets `#{}`;
//! - keywords `:invoke`, symbols, strings with escapes (`\n`, `\"`, `\uXXXX`), characters
//!   (`\a`, `\newline`);
//! - integers of any size (`3`, `-7`, `12345678901234567890`, `3N`), floats (`1.5`, `2e3`,
//!   `1.5M`), ratios (`1/3`, read as a float);
//! - `nil`, `true`, `false`;
//! - tagged literals (`#jepsen.history.Op{...}`, `#inst "..."`), kept with their tag;
//! - what Clojure prints that is not quite EDN: regexes `#"..."` and unreadable objects
//!   `#<Exception ...>` (kept as strings), metadata `^{...}` (dropped);
//! - `;` comments, `#_` discards, and commas as whitespace (so missing commas are fine).
//!
//! Errors carry the line and column (both 1-based) of the offending character. The reader
//! works on text already in memory and hands out top-level values one at a time
//! ([`EdnReader::next_value`]), so a history is converted op by op. Nesting is limited to
//! [`MAX_DEPTH`] levels, so hostile input cannot overflow the stack.

use std::fmt::{self, Write as _};

use serde_json::{Map, Number, Value};

/// How deeply collections may nest before the reader gives up.
pub const MAX_DEPTH: usize = 256;

/// An EDN value.
#[derive(Clone, Debug, PartialEq)]
pub enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    /// An integer outside `i64`, as its decimal digits (with a leading `-` if negative).
    BigInt(String),
    Float(f64),
    String(String),
    Char(char),
    /// A keyword, without its colon.
    Keyword(String),
    Symbol(String),
    Vector(Vec<Edn>),
    List(Vec<Edn>),
    Set(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
    /// `#tag value`; the tag without its `#`.
    Tagged(String, Box<Edn>),
}

impl Edn {
    /// The elements of a vector or a list.
    pub fn as_seq(&self) -> Option<&[Edn]> {
        match self {
            Edn::Vector(v) | Edn::List(v) => Some(v),
            _ => None,
        }
    }

    /// The value stored under the keyword `:name` in a map (tagged maps included).
    pub fn get(&self, name: &str) -> Option<&Edn> {
        match self {
            Edn::Map(entries) => entries.iter().find_map(|(k, v)| match k {
                Edn::Keyword(k) if k == name => Some(v),
                _ => None,
            }),
            Edn::Tagged(_, inner) => inner.get(name),
            _ => None,
        }
    }

    /// Moves the value stored under the keyword `:name` out of a map (tagged maps included),
    /// leaving `nil` in its place.
    pub fn take(&mut self, name: &str) -> Option<Edn> {
        match self {
            Edn::Map(entries) => entries.iter_mut().find_map(|(k, v)| match k {
                Edn::Keyword(k) if k == name => Some(std::mem::replace(v, Edn::Nil)),
                _ => None,
            }),
            Edn::Tagged(_, inner) => inner.take(name),
            _ => None,
        }
    }

    /// The value without its tag (a `#jepsen.history.Op{...}` read as its map).
    pub fn untagged(&self) -> &Edn {
        match self {
            Edn::Tagged(_, inner) => inner.untagged(),
            other => other,
        }
    }

    /// A scalar that names something (a key, an `f`): keywords, symbols, strings, integers.
    pub fn as_name(&self) -> Option<String> {
        match self {
            Edn::Keyword(s) | Edn::Symbol(s) | Edn::String(s) | Edn::BigInt(s) => Some(s.clone()),
            Edn::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }

    /// Converts to JSON: keywords and symbols become strings without the colon, sets and
    /// lists become arrays, map keys become strings, tags are dropped, integers outside the
    /// range of JSON numbers become strings.
    pub fn to_json(&self) -> Value {
        match self {
            Edn::Nil => Value::Null,
            Edn::Bool(b) => Value::Bool(*b),
            Edn::Int(i) => Value::from(*i),
            Edn::BigInt(s) => match s.parse::<u64>() {
                Ok(u) => Value::from(u),
                Err(_) => Value::String(s.clone()),
            },
            Edn::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Edn::String(s) | Edn::Keyword(s) | Edn::Symbol(s) => Value::String(s.clone()),
            Edn::Char(c) => Value::String(c.to_string()),
            Edn::Vector(items) | Edn::List(items) | Edn::Set(items) => {
                Value::Array(items.iter().map(Edn::to_json).collect())
            }
            Edn::Map(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for (k, v) in entries {
                    let key = k.as_name().unwrap_or_else(|| k.to_string());
                    map.insert(key, v.to_json());
                }
                Value::Object(map)
            }
            Edn::Tagged(_, inner) => inner.to_json(),
        }
    }
}

impl fmt::Display for Edn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Edn::Nil => f.write_str("nil"),
            Edn::Bool(b) => write!(f, "{b}"),
            Edn::Int(i) => write!(f, "{i}"),
            Edn::BigInt(s) => write!(f, "{s}N"),
            Edn::Float(x) => write_float(f, *x),
            Edn::String(s) => write_string(f, s),
            Edn::Char(c) => match c {
                '\n' => f.write_str("\\newline"),
                ' ' => f.write_str("\\space"),
                '\t' => f.write_str("\\tab"),
                '\r' => f.write_str("\\return"),
                c => write!(f, "\\{c}"),
            },
            Edn::Keyword(k) => write!(f, ":{k}"),
            Edn::Symbol(s) => f.write_str(s),
            Edn::Vector(items) => write_seq(f, "[", items, "]"),
            Edn::List(items) => write_seq(f, "(", items, ")"),
            Edn::Set(items) => write_seq(f, "#{", items, "}"),
            Edn::Map(entries) => {
                f.write_char('{')?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_char('}')
            }
            Edn::Tagged(tag, inner) => write!(f, "#{tag} {inner}"),
        }
    }
}

fn write_seq(f: &mut fmt::Formatter<'_>, open: &str, items: &[Edn], close: &str) -> fmt::Result {
    f.write_str(open)?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_char(' ')?;
        }
        write!(f, "{item}")?;
    }
    f.write_str(close)
}

/// Writes a float so that it reads back as a float (`1.0`, not `1`).
pub(crate) fn write_float(out: &mut impl fmt::Write, x: f64) -> fmt::Result {
    if x.is_nan() {
        out.write_str("##NaN")
    } else if x.is_infinite() {
        out.write_str(if x > 0.0 { "##Inf" } else { "##-Inf" })
    } else {
        let text = format!("{x:?}");
        out.write_str(&text)
    }
}

/// Writes a string literal with EDN's escapes.
pub(crate) fn write_string(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

/// A syntax error, with the 1-based line and column where it was found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct EdnError {
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// True when the text ended in the middle of a value (a torn file), rather than holding
    /// something that is not EDN.
    pub at_end: bool,
}

/// Reads EDN values from text, one top-level value at a time.
pub struct EdnReader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Line number of `line_start`, for positions computed lazily (positions only grow).
    line: usize,
    line_start: usize,
    scanned_to: usize,
}

impl<'a> EdnReader<'a> {
    pub fn new(text: &'a str) -> EdnReader<'a> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        EdnReader {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            line: 1,
            line_start: 0,
            scanned_to: 0,
        }
    }

    /// The 1-based line and column of a byte offset at or after the last one asked about.
    pub fn line_col(&mut self, pos: usize) -> (usize, usize) {
        if pos < self.scanned_to {
            // Rare (errors only): recount from the start.
            let before = &self.bytes[..pos];
            let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
            let start = before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            return (line, self.text[start..pos].chars().count() + 1);
        }
        for (i, &b) in self.bytes[self.scanned_to..pos].iter().enumerate() {
            if b == b'\n' {
                self.line += 1;
                self.line_start = self.scanned_to + i + 1;
            }
        }
        self.scanned_to = pos;
        let column = self.text[self.line_start..pos].chars().count() + 1;
        (self.line, column)
    }

    /// The 1-based line of a byte offset at or after the last one asked about; cheaper than
    /// [`line_col`](Self::line_col), whose column counts from the start of the line.
    pub fn line_of(&mut self, pos: usize) -> usize {
        if pos < self.scanned_to {
            return self.line_col(pos).0;
        }
        for (i, &b) in self.bytes[self.scanned_to..pos].iter().enumerate() {
            if b == b'\n' {
                self.line += 1;
                self.line_start = self.scanned_to + i + 1;
            }
        }
        self.scanned_to = pos;
        self.line
    }

    /// The current byte offset.
    pub fn offset(&self) -> usize {
        self.pos
    }

    fn error_at(&mut self, pos: usize, message: impl Into<String>) -> EdnError {
        let (line, column) = self.line_col(pos);
        EdnError {
            line,
            column,
            message: message.into(),
            at_end: false,
        }
    }

    fn eof_error(&mut self, what: &str, opened_at: usize) -> EdnError {
        let (open_line, open_col) = self.line_col(opened_at);
        let mut e = self.error_at(
            self.bytes.len(),
            format!("the text ends inside {what} opened at line {open_line}, column {open_col}"),
        );
        e.at_end = true;
        e
    }

    /// Skips whitespace, commas, `;` comments and `#_` discarded values.
    pub fn skip_ws(&mut self) -> Result<(), EdnError> {
        self.skip_blank(0)
    }

    /// [`skip_ws`](Self::skip_ws) inside a value nested `depth` deep. A discarded value is
    /// read one level deeper, and a run of `#_` is counted rather than recursed into (`#_ #_
    /// a b` discards both), so neither `#_#_#_…` nor `[#_[#_[…` can overflow the stack.
    fn skip_blank(&mut self, depth: usize) -> Result<(), EdnError> {
        let mut discards = 0usize;
        loop {
            match self.bytes.get(self.pos) {
                Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b'\x0c') => self.pos += 1,
                Some(b';') => {
                    while self.pos < self.bytes.len() && self.bytes[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                Some(b'#') if self.bytes.get(self.pos + 1) == Some(&b'_') => {
                    self.pos += 2;
                    discards += 1;
                }
                None if discards > 0 => {
                    let mut e = self.error_at(
                        self.pos,
                        "the text ends where `#_` expects the value it discards",
                    );
                    e.at_end = true;
                    return Err(e);
                }
                Some(_) if discards > 0 => {
                    self.read(depth + 1)?;
                    discards -= 1;
                }
                _ => return Ok(()),
            }
        }
    }

    /// The next non-blank byte, without consuming it.
    pub fn peek(&mut self) -> Result<Option<u8>, EdnError> {
        self.peek_at(0)
    }

    fn peek_at(&mut self, depth: usize) -> Result<Option<u8>, EdnError> {
        self.skip_blank(depth)?;
        Ok(self.bytes.get(self.pos).copied())
    }

    /// Consumes one byte (after [`peek`](Self::peek) returned it).
    pub fn bump(&mut self) {
        self.pos += 1;
    }

    /// Reads the next top-level value; `None` at the end of the text. The offset returned is
    /// where the value starts.
    pub fn next_value(&mut self) -> Option<Result<(usize, Edn), EdnError>> {
        match self.peek() {
            Err(e) => Some(Err(e)),
            Ok(None) => None,
            Ok(Some(_)) => {
                let start = self.pos;
                Some(self.read(0).map(|v| (start, v)))
            }
        }
    }

    /// Reads one value starting at the current position (blanks skipped first).
    pub fn read(&mut self, depth: usize) -> Result<Edn, EdnError> {
        if depth > MAX_DEPTH {
            return Err(self.error_at(self.pos, format!("nested deeper than {MAX_DEPTH} levels")));
        }
        self.skip_blank(depth)?;
        let start = self.pos;
        let Some(&b) = self.bytes.get(self.pos) else {
            let mut e = self.error_at(start, "expected a value, found the end of the text");
            e.at_end = true;
            return Err(e);
        };
        match b {
            b'[' => {
                self.pos += 1;
                Ok(Edn::Vector(self.read_seq(b']', "a vector", start, depth)?))
            }
            b'(' => {
                self.pos += 1;
                Ok(Edn::List(self.read_seq(b')', "a list", start, depth)?))
            }
            b'{' => {
                self.pos += 1;
                self.read_map(start, depth)
            }
            b'"' => self.read_string().map(Edn::String),
            b'\\' => self.read_char(),
            b'^' => {
                // Metadata (^:tag or ^{...}) annotates the next value; it is dropped.
                self.pos += 1;
                self.read(depth + 1)?;
                self.read(depth + 1)
            }
            b'#' => self.read_dispatch(start, depth),
            b':' => {
                self.pos += 1;
                let token = self.token();
                if token.is_empty() {
                    return Err(self.error_at(start, "a keyword needs a name after `:`"));
                }
                Ok(Edn::Keyword(token.trim_start_matches(':').to_string()))
            }
            b']' | b')' | b'}' => Err(self.error_at(
                start,
                format!("unexpected `{}` with nothing open to close", b as char),
            )),
            _ => self.read_atom(start),
        }
    }

    fn read_seq(
        &mut self,
        close: u8,
        what: &str,
        opened_at: usize,
        depth: usize,
    ) -> Result<Vec<Edn>, EdnError> {
        let mut items = Vec::new();
        loop {
            match self.peek_at(depth)? {
                None => return Err(self.eof_error(what, opened_at)),
                Some(b) if b == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                Some(b @ (b']' | b')' | b'}')) => {
                    let (l, c) = self.line_col(opened_at);
                    return Err(self.error_at(
                        self.pos,
                        format!(
                            "`{}` does not close {what} opened at line {l}, column {c}",
                            b as char
                        ),
                    ));
                }
                Some(_) => items.push(self.read(depth + 1)?),
            }
        }
    }

    fn read_map(&mut self, opened_at: usize, depth: usize) -> Result<Edn, EdnError> {
        // Jepsen's op maps hold about 6 entries.
        let mut entries = Vec::with_capacity(8);
        loop {
            match self.peek_at(depth)? {
                None => return Err(self.eof_error("a map", opened_at)),
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Edn::Map(entries));
                }
                Some(b @ (b']' | b')')) => {
                    let (l, c) = self.line_col(opened_at);
                    return Err(self.error_at(
                        self.pos,
                        format!(
                            "`{}` does not close a map opened at line {l}, column {c}",
                            b as char
                        ),
                    ));
                }
                Some(_) => {
                    let key = self.read(depth + 1)?;
                    if self.peek_at(depth)? == Some(b'}') {
                        return Err(self.error_at(
                            opened_at,
                            format!(
                                "a map needs an even number of forms; the key {key} has no value"
                            ),
                        ));
                    }
                    let value = self.read(depth + 1)?;
                    entries.push((key, value));
                }
            }
        }
    }

    fn read_dispatch(&mut self, start: usize, depth: usize) -> Result<Edn, EdnError> {
        match self.bytes.get(self.pos + 1) {
            Some(b'{') => {
                self.pos += 2;
                Ok(Edn::Set(self.read_seq(b'}', "a set", start, depth)?))
            }
            Some(b'#') => {
                // Symbolic values: ##Inf, ##-Inf, ##NaN.
                self.pos += 2;
                // They have no JSON form (they would become null, and NaN equals nothing),
                // so a history holding one cannot be judged: refuse it where it stands.
                match self.token() {
                    other @ ("Inf" | "-Inf" | "NaN") => Err(self.error_at(
                        start,
                        format!(
                            "##{other} is not a number faultline can compare; a history value \
                             must be finite"
                        ),
                    )),
                    other => Err(self.error_at(start, format!("unknown symbolic value ##{other}"))),
                }
            }
            Some(b) if b.is_ascii_alphabetic() || *b == b':' => {
                self.pos += 1;
                let tag = self.token().to_string();
                let inner = self.read(depth + 1)?;
                Ok(Edn::Tagged(tag, Box::new(inner)))
            }
            Some(b'"') => self.read_regex(start),
            Some(b'<') => self.read_unreadable(start),
            None => {
                let mut e = self.error_at(start, "the text ends after `#`");
                e.at_end = true;
                Err(e)
            }
            Some(&b) => Err(self.error_at(
                start,
                format!("`#{}` is not EDN (expected #{{, #_ or a tag)", b as char),
            )),
        }
    }

    /// A Clojure regex, `#"a\d+"`: its source text, backslashes and all.
    fn read_regex(&mut self, start: usize) -> Result<Edn, EdnError> {
        let mut pos = self.pos + 2;
        while let Some(&b) = self.bytes.get(pos) {
            match b {
                b'\\' => pos += 2,
                b'"' => {
                    let text = self.text[self.pos + 2..pos].to_string();
                    self.pos = pos + 1;
                    return Ok(Edn::String(text));
                }
                _ => pos += 1,
            }
        }
        Err(self.eof_error("a regex", start))
    }

    /// Clojure's print form of an object it cannot print readably, `#<Exception ...>` (old
    /// Jepsen histories hold them in `:error`): kept as its text.
    fn read_unreadable(&mut self, start: usize) -> Result<Edn, EdnError> {
        let mut nesting = 0usize;
        let mut pos = self.pos + 2;
        while let Some(&b) = self.bytes.get(pos) {
            match b {
                b'<' => nesting += 1,
                b'>' if nesting == 0 => {
                    let text = self.text[self.pos + 2..pos].to_string();
                    self.pos = pos + 1;
                    return Ok(Edn::String(text));
                }
                b'>' => nesting -= 1,
                b'\n' => break,
                _ => {}
            }
            pos += 1;
        }
        Err(self.error_at(
            start,
            "`#<` opens an unreadable object that does not close on its line",
        ))
    }

    /// A run of symbol characters.
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(&b) = self.bytes.get(self.pos) {
            if is_delimiter(b) {
                break;
            }
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    fn read_atom(&mut self, start: usize) -> Result<Edn, EdnError> {
        let token = self.token();
        if token.is_empty() {
            let c = self.text[start..].chars().next().unwrap_or('?');
            return Err(self.error_at(start, format!("unexpected character {c:?}")));
        }
        let first = token.as_bytes()[0];
        let second = token.as_bytes().get(1).copied();
        let numeric = first.is_ascii_digit()
            || (matches!(first, b'+' | b'-') && second.is_some_and(|b| b.is_ascii_digit()));
        if numeric {
            return parse_number(token)
                .ok_or_else(|| self.error_at(start, format!("{token:?} is not a number")));
        }
        Ok(match token {
            "nil" => Edn::Nil,
            "true" => Edn::Bool(true),
            "false" => Edn::Bool(false),
            other => Edn::Symbol(other.to_string()),
        })
    }

    fn read_string(&mut self) -> Result<String, EdnError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            // Copy the plain run up to the next quote or backslash in one go.
            let run_start = self.pos;
            while let Some(&b) = self.bytes.get(self.pos) {
                if b == b'"' || b == b'\\' {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[run_start..self.pos]);
            match self.bytes.get(self.pos) {
                None => return Err(self.eof_error("a string", start)),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(_) => {
                    let esc_at = self.pos;
                    self.pos += 1;
                    let Some(&e) = self.bytes.get(self.pos) else {
                        return Err(self.eof_error("a string", start));
                    };
                    self.pos += 1;
                    match e {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'\'' => out.push('\''),
                        b'u' => {
                            let c = self.read_unicode_escape(esc_at)?;
                            out.push(c);
                        }
                        other => {
                            return Err(self.error_at(
                                esc_at,
                                format!("unknown escape `\\{}` in a string", other as char),
                            ))
                        }
                    }
                }
            }
        }
    }

    fn read_unicode_escape(&mut self, esc_at: usize) -> Result<char, EdnError> {
        let hex = self.text.get(self.pos..self.pos + 4).unwrap_or("");
        let code = u32::from_str_radix(hex, 16)
            .ok()
            .filter(|_| hex.len() == 4)
            .ok_or_else(|| self.error_at(esc_at, "`\\u` needs four hex digits"))?;
        self.pos += 4;
        // Surrogate pairs arrive as two escapes; an unpaired one becomes U+FFFD.
        if (0xD800..0xDC00).contains(&code) && self.text[self.pos..].starts_with("\\u") {
            let low_hex = self.text.get(self.pos + 2..self.pos + 6).unwrap_or("");
            if let Ok(low) = u32::from_str_radix(low_hex, 16) {
                if (0xDC00..0xE000).contains(&low) {
                    self.pos += 6;
                    let c = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                    return Ok(char::from_u32(c).unwrap_or('\u{fffd}'));
                }
            }
        }
        Ok(char::from_u32(code).unwrap_or('\u{fffd}'))
    }

    fn read_char(&mut self) -> Result<Edn, EdnError> {
        let start = self.pos;
        self.pos += 1;
        // The first character is taken even if it is a delimiter (`\(`, `\ `).
        let Some(first) = self.text[self.pos..].chars().next() else {
            let mut e = self.error_at(start, "the text ends after `\\`");
            e.at_end = true;
            return Err(e);
        };
        self.pos += first.len_utf8();
        let rest = self.token();
        let name = format!("{first}{rest}");
        let c = match name.as_str() {
            "newline" => '\n',
            "space" => ' ',
            "tab" => '\t',
            "return" => '\r',
            "formfeed" => '\u{c}',
            "backspace" => '\u{8}',
            n if n.chars().count() == 1 => first,
            n if n.starts_with('u') && n.len() == 5 => u32::from_str_radix(&n[1..], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| self.error_at(start, format!("bad character literal \\{n}")))?,
            n => return Err(self.error_at(start, format!("unknown character literal \\{n}"))),
        };
        Ok(Edn::Char(c))
    }
}

fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t'
            | b'\n'
            | b'\r'
            | b','
            | b'\x0c'
            | b'('
            | b')'
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'"'
            | b';'
            | b'\\'
    )
}

fn parse_number(token: &str) -> Option<Edn> {
    if let Some(int) = token.strip_suffix('N') {
        return parse_int(int);
    }
    // A float that overflows (`1e999`) or a ratio over 0 is not finite: refused, like ##Inf.
    let finite = |x: f64| x.is_finite().then_some(Edn::Float(x));
    if let Some(dec) = token.strip_suffix('M') {
        return dec.parse::<f64>().ok().and_then(finite);
    }
    if let Some((num, den)) = token.split_once('/') {
        let (n, d) = (num.parse::<f64>().ok()?, den.parse::<f64>().ok()?);
        return finite(n / d);
    }
    if token.contains(['.', 'e', 'E']) && !token.contains(['x', 'X']) {
        return token.parse::<f64>().ok().and_then(finite);
    }
    parse_int(token)
}

fn parse_int(token: &str) -> Option<Edn> {
    if let Ok(i) = token.parse::<i64>() {
        return Some(Edn::Int(i));
    }
    let (negative, digits) = match token.as_bytes().first()? {
        b'-' => (true, &token[1..]),
        b'+' => (false, &token[1..]),
        _ => (false, token),
    };
    if let Some(hex) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
        let v = i64::from_str_radix(hex, 16).ok()?;
        return Some(Edn::Int(if negative { -v } else { v }));
    }
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Too big for i64: keep the digits.
    let digits = digits.trim_start_matches('0');
    Some(Edn::BigInt(if negative {
        format!("-{digits}")
    } else {
        digits.to_string()
    }))
}

/// Parses text holding exactly one EDN value.
pub fn parse(text: &str) -> Result<Edn, EdnError> {
    let mut reader = EdnReader::new(text);
    let value = reader.read(0)?;
    if reader.peek()?.is_some() {
        let at = reader.offset();
        return Err(reader.error_at(at, "unexpected text after the value"));
    }
    Ok(value)
}

/// Writes JSON as EDN: strings stay strings, objects become maps with keyword keys where
/// the key is a valid keyword name, arrays become vectors.
pub(crate) fn write_json_as_edn(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("nil"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                let _ = write_float(out, f);
            } else {
                let _ = write!(out, "{n}");
            }
        }
        Value::String(s) => {
            let _ = write_string(out, s);
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_json_as_edn(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_name(out, k);
                out.push(' ');
                write_json_as_edn(out, item);
            }
            out.push('}');
        }
    }
}

/// Writes a name as a keyword when it is a valid keyword, an integer when it is one, and a
/// string otherwise.
pub(crate) fn write_name(out: &mut String, name: &str) {
    if is_canonical_integer(name) {
        out.push_str(name);
    } else if is_keyword_name(name) {
        out.push(':');
        out.push_str(name);
    } else {
        let _ = write_string(out, name);
    }
}

/// True when `name` is an integer written the way it prints (`7`, `-3`; not `007`, `+5`), so
/// that printing it bare reads back as the same name.
pub(crate) fn is_canonical_integer(name: &str) -> bool {
    name.parse::<i64>().is_ok_and(|i| i.to_string() == name)
}

/// True when `:name` reads back as the keyword `name`.
pub(crate) fn is_keyword_name(name: &str) -> bool {
    let Some(first) = name.bytes().next() else {
        return false;
    };
    !first.is_ascii_digit()
        && first != b':'
        && first != b'#'
        && name
            .bytes()
            .all(|b| !is_delimiter(b) && !b.is_ascii_control() && b < 0x80)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(s: &str) -> Edn {
        Edn::Keyword(s.into())
    }

    #[test]
    fn reads_a_jepsen_op_map_with_missing_commas() {
        let v = parse("{:process 4  :type :invoke, :f :cas, :value [1 2]}").unwrap();
        assert_eq!(v.get("process"), Some(&Edn::Int(4)));
        assert_eq!(v.get("type"), Some(&kw("invoke")));
        assert_eq!(
            v.get("value"),
            Some(&Edn::Vector(vec![Edn::Int(1), Edn::Int(2)]))
        );
    }

    #[test]
    fn reads_big_integers_and_suffixes() {
        assert_eq!(parse("3N").unwrap(), Edn::Int(3));
        assert_eq!(
            parse("123456789012345678901234567890").unwrap(),
            Edn::BigInt("123456789012345678901234567890".into())
        );
        assert_eq!(parse("-42").unwrap(), Edn::Int(-42));
        assert_eq!(parse("1.5").unwrap(), Edn::Float(1.5));
        assert_eq!(parse("2e3").unwrap(), Edn::Float(2000.0));
        assert_eq!(parse("1/4").unwrap(), Edn::Float(0.25));
        assert_eq!(parse("1.5M").unwrap(), Edn::Float(1.5));
        assert_eq!(
            parse("18446744073709551615N").unwrap().to_json(),
            serde_json::json!(18446744073709551615u64)
        );
    }

    #[test]
    fn reads_strings_with_escapes_and_characters() {
        assert_eq!(
            parse(r#""a\"b\\c\n\u00e9""#).unwrap(),
            Edn::String("a\"b\\c\né".into())
        );
        assert_eq!(
            parse(r"[\a \newline \space]").unwrap(),
            Edn::Vector(vec![Edn::Char('a'), Edn::Char('\n'), Edn::Char(' ')])
        );
    }

    #[test]
    fn reads_sets_tags_comments_and_discards() {
        let v = parse(
            "; a comment\n#jepsen.history.Op{:f :read, #_ :ignored :value #{1 2}} ; trailing",
        )
        .unwrap();
        let Edn::Tagged(tag, inner) = &v else {
            panic!("not tagged: {v:?}")
        };
        assert_eq!(tag, "jepsen.history.Op");
        assert_eq!(inner.get("f"), Some(&kw("read")));
        assert_eq!(
            v.get("value"),
            Some(&Edn::Set(vec![Edn::Int(1), Edn::Int(2)]))
        );
    }

    #[test]
    fn reads_what_clojure_prints_beyond_edn() {
        let v = parse(r#"{:error #<SocketTimeoutException java.net.SocketTimeoutException: Read timed out>, :re #"a\d+", :v ^:final [1]}"#).unwrap();
        assert_eq!(
            v.get("error"),
            Some(&Edn::String(
                "SocketTimeoutException java.net.SocketTimeoutException: Read timed out".into()
            ))
        );
        assert_eq!(v.get("re"), Some(&Edn::String("a\\d+".into())));
        assert_eq!(v.get("v"), Some(&Edn::Vector(vec![Edn::Int(1)])));
        assert!(parse("[#<Foo\n>]").is_err());
    }

    #[test]
    fn reads_nil_true_false_and_symbols() {
        assert_eq!(
            parse("(nil true false foo/bar)").unwrap(),
            Edn::List(vec![
                Edn::Nil,
                Edn::Bool(true),
                Edn::Bool(false),
                Edn::Symbol("foo/bar".into())
            ])
        );
    }

    #[test]
    fn converts_keywords_to_json_strings_without_the_colon() {
        let v = parse("{:error {:type :timeout, :node \"n1\"}, 3 [:a nil]}").unwrap();
        assert_eq!(
            v.to_json(),
            serde_json::json!({"error": {"type": "timeout", "node": "n1"}, "3": ["a", null]})
        );
    }

    #[test]
    fn reports_the_line_and_column_of_a_syntax_error() {
        let err = parse("[{:a 1}\n {:b 2]").unwrap_err();
        assert_eq!((err.line, err.column), (2, 7));
        assert!(err.message.contains("does not close a map"), "{err}");
        let err = parse("{:a 1} }").unwrap_err();
        assert_eq!(err.line, 1);
        let err = parse("[1 2").unwrap_err();
        assert!(err.at_end);
        assert!(err.message.contains("opened at line 1, column 1"), "{err}");
        let err = parse("{:a}").unwrap_err();
        assert!(err.message.contains("even number"), "{err}");
        assert_eq!(parse("-9223372036854775808").unwrap(), Edn::Int(i64::MIN));
        assert_eq!(
            parse("-99999999999999999999").unwrap(),
            Edn::BigInt("-99999999999999999999".into())
        );
    }

    #[test]
    fn refuses_nesting_deeper_than_the_limit() {
        let deep = "[".repeat(MAX_DEPTH + 10);
        let err = parse(&deep).unwrap_err();
        assert!(err.message.contains("nested deeper"), "{err}");
    }

    #[test]
    fn prints_values_that_read_back_the_same() {
        let text =
            r#"{:a [1 2.0 "x\"y"], :b #{:k}, :c (nil true), :d \space, :e 99999999999999999999N}"#;
        let v = parse(text).unwrap();
        assert_eq!(parse(&v.to_string()).unwrap(), v);
    }
}
