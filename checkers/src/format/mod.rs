//! History formats: faultline's JSON Lines, Jepsen's `history.edn` and `history.txt` (and
//! log lines) in; JSON Lines and EDN out.
//!
//! | format | read | write | module |
//! |---|---|---|---|
//! | `jsonl` (`history.jsonl`, ours) | streaming | [`jsonl::write_history`], one event per line | [`jsonl`] |
//! | `edn` (Jepsen, Knossos, Elle) | [`jepsen::read_edn`] | [`jepsen::write_edn`] | [`jepsen`], [`edn`] |
//! | `jepsen-txt` (`history.txt`, Jepsen logs) | [`jepsen::read_jepsen_txt`] | — | [`jepsen`] |
//!
//! [`read_path`] picks the format from the file's extension (`.jsonl`/`.json`, `.edn`,
//! `.txt`/`.log`) and otherwise from its first bytes, unless [`ReadOptions::format`] says.
//! Every reader feeds [`HistoryBuilder`](crate::HistoryBuilder), so all formats share its
//! rules (one op in flight per process, a completion needs an invocation) and its messages,
//! and every error names the source, the line and, where it helps, the column.
//!
//! Problems that do not stop loading (a torn last line, skipped log lines) land in
//! [`History::warnings`].

pub mod edn;
pub mod jepsen;
pub mod jsonl;

use std::fmt;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use crate::history::History;

/// A history file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// faultline's `history.jsonl`.
    Jsonl,
    /// Jepsen's `history.edn`.
    Edn,
    /// Jepsen's `history.txt` or log lines.
    JepsenTxt,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Jsonl, Format::Edn, Format::JepsenTxt];

    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Edn => "edn",
            Format::JepsenTxt => "jepsen-txt",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The format a file name's extension implies, if any.
    pub fn from_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "json" | "ndjson" => Some(Format::Jsonl),
            "edn" => Some(Format::Edn),
            "txt" | "log" => Some(Format::JepsenTxt),
            _ => None,
        }
    }

    /// Guesses the format from the first bytes of a file: a JSON object starts with `{"`,
    /// EDN with `[`, `(`, `{:`, `#` or a `;` comment; anything else is taken as text lines.
    pub fn sniff(head: &[u8]) -> Format {
        let text = String::from_utf8_lossy(head);
        let t = text.trim_start_matches('\u{feff}').trim_start();
        let mut chars = t.chars();
        match (chars.next(), chars.find(|c| !c.is_whitespace())) {
            (Some('{'), Some('"')) => Format::Jsonl,
            (Some('{' | '[' | '(' | '#' | ';'), _) => Format::Edn,
            _ => Format::JepsenTxt,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to read a history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// The format; `None` detects it from the extension, then the content.
    pub format: Option<Format>,
    /// For Jepsen formats: `Some(true)` reads `[k v]` values as independent keys,
    /// `Some(false)` never does, `None` detects them (see [`jepsen`]).
    pub independent: Option<bool>,
}

/// A history that could not be read: the source (a file name), where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct FormatError {
    pub source_name: String,
    /// 1-based line, when the problem has one.
    pub line: Option<usize>,
    /// 1-based column (characters), when known.
    pub column: Option<usize>,
    pub message: String,
}

impl FormatError {
    pub fn at(source_name: &str, line: usize, message: impl Into<String>) -> FormatError {
        FormatError {
            source_name: source_name.to_string(),
            line: Some(line),
            column: None,
            message: message.into(),
        }
    }

    pub fn at_column(
        source_name: &str,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> FormatError {
        FormatError {
            column: Some(column),
            ..FormatError::at(source_name, line, message)
        }
    }

    pub fn io(source_name: &str, e: &io::Error) -> FormatError {
        let message = match e.kind() {
            io::ErrorKind::InvalidData => format!("not UTF-8 text ({e})"),
            _ => e.to_string(),
        };
        FormatError {
            source_name: source_name.to_string(),
            line: None,
            column: None,
            message,
        }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source_name)?;
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, " line {l}, column {c}")?,
            (Some(l), None) => write!(f, " line {l}")?,
            _ => {}
        }
        write!(f, ": {}", self.message)
    }
}

/// Reads a history file. `-` reads standard input (its format from its content).
pub fn read_path(path: &Path, options: &ReadOptions) -> Result<History, FormatError> {
    let name = path.display().to_string();
    if path == Path::new("-") {
        return read(BufReader::new(io::stdin().lock()), "<stdin>", options);
    }
    let file = std::fs::File::open(path).map_err(|e| FormatError::io(&name, &e))?;
    let options = ReadOptions {
        format: options.format.or_else(|| Format::from_extension(path)),
        ..*options
    };
    read(BufReader::with_capacity(1 << 16, file), &name, &options)
}

/// Reads a history from any reader; `name` is used in messages.
pub fn read(
    mut reader: impl BufRead,
    name: &str,
    options: &ReadOptions,
) -> Result<History, FormatError> {
    let format = match options.format {
        Some(f) => f,
        None => Format::sniff(reader.fill_buf().map_err(|e| FormatError::io(name, &e))?),
    };
    match format {
        Format::Jsonl => jsonl::read_jsonl(reader, name),
        Format::JepsenTxt => jepsen::read_jepsen_txt(reader, name, options.independent),
        Format::Edn => {
            let mut text = String::new();
            reader
                .read_to_string(&mut text)
                .map_err(|e| FormatError::io(name, &e))?;
            jepsen::read_edn(&text, name, options.independent)
        }
    }
}

/// Reads a history held in a string.
pub fn read_str(text: &str, name: &str, options: &ReadOptions) -> Result<History, FormatError> {
    read(text.as_bytes(), name, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_format_from_the_extension_and_the_content() {
        assert_eq!(
            Format::from_extension(Path::new("a/history.jsonl")),
            Some(Format::Jsonl)
        );
        assert_eq!(
            Format::from_extension(Path::new("history.EDN")),
            Some(Format::Edn)
        );
        assert_eq!(
            Format::from_extension(Path::new("jepsen.log")),
            Some(Format::JepsenTxt)
        );
        assert_eq!(Format::from_extension(Path::new("history")), None);
        assert_eq!(Format::sniff(b"  {\"process\":0}"), Format::Jsonl);
        assert_eq!(Format::sniff(b"[{:process 0"), Format::Edn);
        assert_eq!(Format::sniff(b"{:process 0"), Format::Edn);
        assert_eq!(Format::sniff(b"; comment\n["), Format::Edn);
        assert_eq!(Format::sniff(b"0\t:invoke\t:read\tnil"), Format::JepsenTxt);
        assert_eq!(Format::sniff(b"INFO jepsen"), Format::JepsenTxt);
    }

    #[test]
    fn reads_each_format_from_a_string() {
        let opts = ReadOptions::default();
        let jsonl = "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n";
        assert_eq!(read_str(jsonl, "x", &opts).unwrap().ops.len(), 1);
        let edn = "[{:process 0, :type :invoke, :f :read}]";
        assert_eq!(read_str(edn, "x", &opts).unwrap().ops.len(), 1);
        let txt = "0\t:invoke\t:read\tnil\n";
        assert_eq!(read_str(txt, "x", &opts).unwrap().ops.len(), 1);
    }

    #[test]
    fn names_a_missing_file() {
        let err =
            read_path(Path::new("/nonexistent/h.jsonl"), &ReadOptions::default()).unwrap_err();
        assert!(
            err.to_string().starts_with("/nonexistent/h.jsonl: "),
            "{err}"
        );
    }
}
