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
//!
//! Every reader takes its input a line at a time through [`Lines`], which refuses a line
//! longer than [`MAX_LINE_BYTES`] and text that is not UTF-8, naming the line: so a file that
//! is not a history (`/dev/zero`, a binary) is refused within a few MiB of reading, in
//! bounded memory.

pub(crate) mod chunks;
pub mod edn;
pub mod jepsen;
pub mod jsonl;
pub(crate) mod scan;

use std::fmt;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use crate::history::History;

/// The longest line a history may hold, in bytes (8 MiB). Real ops are far shorter — a
/// list-append read of 100,000 elements is under 1 MiB — while a file without newlines
/// (`/dev/zero`, a binary, a minified dump) would otherwise be read whole into memory.
pub const MAX_LINE_BYTES: usize = 8 << 20;

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

/// A reader's lines, numbered from 1, each at most [`MAX_LINE_BYTES`] long (the newline not
/// counted); errors name the source and the line.
pub struct Lines<'n, R> {
    reader: R,
    name: &'n str,
    buf: Vec<u8>,
    line_no: usize,
}

impl<'n, R: BufRead> Lines<'n, R> {
    pub fn new(reader: R, name: &'n str) -> Lines<'n, R> {
        Lines {
            reader,
            name,
            buf: Vec::with_capacity(256),
            line_no: 0,
        }
    }

    /// The next line's number and bytes, with its `\n` if it has one; `None` at the end.
    pub fn next_bytes(&mut self) -> Result<Option<(usize, &[u8])>, FormatError> {
        self.buf.clear();
        loop {
            let available = match self.reader.fill_buf() {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(&e)),
            };
            if available.is_empty() {
                break;
            }
            let (take, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            let content = self.buf.len() + take - usize::from(done);
            if content > MAX_LINE_BYTES {
                return Err(line_too_long(self.name, self.line_no + 1));
            }
            self.buf.extend_from_slice(&available[..take]);
            self.reader.consume(take);
            if done {
                break;
            }
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        self.line_no += 1;
        Ok(Some((self.line_no, &self.buf)))
    }

    /// The next line's number and text, with its `\n` if it has one; `None` at the end.
    /// Bytes that are not UTF-8 are an error naming the line and the column.
    pub fn next_str(&mut self) -> Result<Option<(usize, &str)>, FormatError> {
        let name = self.name;
        let Some((line_no, bytes)) = self.next_bytes()? else {
            return Ok(None);
        };
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Some((line_no, text))),
            Err(e) => Err(not_utf8(name, line_no, bytes, &e)),
        }
    }

    fn io_error(&self, e: &io::Error) -> FormatError {
        FormatError {
            line: Some(self.line_no + 1),
            ..FormatError::io(self.name, e)
        }
    }
}

/// The error for line `line_no`, longer than [`MAX_LINE_BYTES`].
pub(crate) fn line_too_long(name: &str, line_no: usize) -> FormatError {
    FormatError::at(
        name,
        line_no,
        format!(
            "the line is longer than {} MiB, the limit for one line of a history; \
             this does not look like a history file",
            MAX_LINE_BYTES >> 20
        ),
    )
}

/// The error for a line holding bytes that are not UTF-8: where, and which byte.
pub(crate) fn not_utf8(
    name: &str,
    line_no: usize,
    line: &[u8],
    e: &std::str::Utf8Error,
) -> FormatError {
    let valid = &line[..e.valid_up_to()];
    let column = String::from_utf8_lossy(valid).chars().count() + 1;
    FormatError::at_column(
        name,
        line_no,
        column,
        format!(
            "not UTF-8 text (byte 0x{:02x}); histories are UTF-8",
            line[e.valid_up_to()]
        ),
    )
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
            // Line by line, so that a line too long or not UTF-8 is refused with its number.
            let mut text = String::new();
            let mut lines = Lines::new(reader, name);
            while let Some((_, line)) = lines.next_str()? {
                text.push_str(line);
            }
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

    /// Every way to read a history: each format forced, and detected from the content.
    fn every_reading() -> Vec<ReadOptions> {
        let mut all = vec![ReadOptions::default()];
        all.extend(Format::ALL.iter().map(|&f| ReadOptions {
            format: Some(f),
            ..ReadOptions::default()
        }));
        all
    }

    #[test]
    fn an_endless_line_is_refused_with_its_number_in_bounded_memory() {
        for opts in every_reading() {
            for byte in [0u8, b'x'] {
                // An endless source, like /dev/zero: only a bound on the line ends this.
                let endless = BufReader::new(io::repeat(byte));
                let err = read(endless, "zero", &opts).unwrap_err();
                assert_eq!(err.line, Some(1), "{opts:?}: {err}");
                assert!(err.message.contains("longer than 8 MiB"), "{opts:?}: {err}");
            }
        }
    }

    #[test]
    fn a_long_line_after_good_ones_is_refused_with_its_number() {
        let mut text = "0\t:invoke\t:read\tnil\n".repeat(3).into_bytes();
        text.extend(vec![b' '; MAX_LINE_BYTES + 1]);
        let opts = ReadOptions {
            format: Some(Format::JepsenTxt),
            ..ReadOptions::default()
        };
        let err = read(text.as_slice(), "h.txt", &opts).unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_with_the_line_and_column() {
        let cases: [(&[u8], Format); 3] = [
            (
                b"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n\
                  {\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":\"a\xff\"}\n",
                Format::Jsonl,
            ),
            (
                b"[{:process 0, :type :invoke, :f :read}\n {:process 0, :type :ok, :f :read, :value \"a\xff\"}]\n",
                Format::Edn,
            ),
            (b"0\t:invoke\t:read\tnil\n0\t:ok\t:read\t\"a\xff\"\n", Format::JepsenTxt),
        ];
        for (text, format) in cases {
            for opts in [
                ReadOptions::default(),
                ReadOptions {
                    format: Some(format),
                    ..ReadOptions::default()
                },
            ] {
                let err = read(text, "h", &opts).unwrap_err();
                assert_eq!(err.line, Some(2), "{format}: {err}");
                assert!(err.message.contains("not UTF-8"), "{format}: {err}");
                assert!(err.column.is_some(), "{format}: {err}");
            }
        }
    }

    #[test]
    fn a_deep_run_of_discards_is_refused_without_overflowing_the_stack() {
        for text in [
            format!("{}1", "#_".repeat(30_000)),
            format!("[{}1]", "#_".repeat(30_000)),
            format!("{}1", "[#_".repeat(30_000)),
            format!("0\t:invoke\t:read\t{}1\n", "#_".repeat(30_000)),
            format!("0\t:invoke\t:read\t{}1\n", "[#_".repeat(30_000)),
        ] {
            for opts in every_reading() {
                // Must return (an error or not) rather than abort the process.
                let _ = read_str(&text, "deep", &opts);
            }
        }
        assert!(edn::parse(&format!("{}1", "[#_".repeat(30_000))).is_err());
        assert_eq!(edn::parse("#_ #_ 1 2 3").unwrap(), edn::Edn::Int(3));
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
