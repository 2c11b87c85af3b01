//! faultline's own history format: JSON Lines, one [`Event`] per line.
//!
//! The reader streams (it holds one line at a time) and feeds a [`HistoryBuilder`]. A last
//! line that has no newline and does not parse is a torn write from a crashed recorder: it
//! becomes a warning and the lines before it are still loaded. Damage anywhere else is an
//! error naming the line and the field.

use std::borrow::Cow;
use std::io::{self, BufRead, Write};

use serde_json::Value;

use super::{FormatError, Lines};
use crate::history::{Event, EventType, History, HistoryBuilder, Process};
use crate::model::FastMap;
use crate::verdict::Budget;

/// Reads a JSON Lines history. `name` (a file name) is used in messages.
pub fn read_jsonl(reader: impl BufRead, name: &str) -> Result<History, FormatError> {
    let mut builder = HistoryBuilder::default();
    stream_into(reader, name, &Budget::default(), &mut builder)?;
    Ok(builder.finish())
}

/// Where [`stream_into`] puts the events of a history as it reads them: a [`HistoryBuilder`],
/// or a checker's own compact form.
pub(crate) trait EventSink {
    /// An event read the sink's own, faster way.
    type Fast<'a>;

    /// The event on `text` if the sink reads such lines its own, faster way (exactly as
    /// [`parse_event`] would); `None` leaves the line to [`parse_event`] and
    /// [`EventSink::push`], which word its errors.
    fn parse_fast(text: &[u8]) -> Option<Self::Fast<'_>>;

    /// Adds an event [`EventSink::parse_fast`] read; an error breaks the history.
    fn push_fast(&mut self, line: usize, event: Self::Fast<'_>) -> Result<(), String>;

    /// Adds the event on `line`; an error breaks the history (as [`HistoryBuilder::push`]'s).
    fn push(&mut self, line: usize, event: Event) -> Result<(), String>;

    /// Records a problem that did not stop reading.
    fn warn(&mut self, warning: String);
}

impl EventSink for HistoryBuilder {
    type Fast<'a> = std::convert::Infallible;

    fn parse_fast(_text: &[u8]) -> Option<Self::Fast<'_>> {
        None
    }

    fn push_fast(&mut self, _line: usize, event: Self::Fast<'_>) -> Result<(), String> {
        match event {}
    }

    fn push(&mut self, line: usize, event: Event) -> Result<(), String> {
        HistoryBuilder::push(self, line, event).map_err(|e| e.message)
    }

    fn warn(&mut self, warning: String) {
        HistoryBuilder::warn(self, warning);
    }
}

/// What a checker's own streaming reader gathered besides its compact form: what the
/// [`History`] it never built would have said about itself.
#[derive(Debug, Default)]
pub struct StreamSummary {
    /// Client operations, of any `f`.
    pub ops: usize,
    /// Events read, client and nemesis.
    pub events: usize,
    /// Problems that did not stop reading (a torn last line, a completion whose `f` differs).
    pub warnings: Vec<String>,
    /// The nodes that served client operations, sorted: each op's node as
    /// [`Op::node`](crate::Op::node) has it (its completion's, else its invocation's).
    pub nodes: Vec<String>,
    /// The latest `time` of any event, client or nemesis.
    pub last_time_ns: Option<u64>,
}

impl StreamSummary {
    /// Counts the next event, which happened at `time`: its position among all events.
    pub(crate) fn count(&mut self, time: Option<u64>) -> usize {
        self.last_time_ns = self.last_time_ns.max(time);
        self.events += 1;
        self.events - 1
    }
}

/// Strings numbered in order of first appearance: the `f`s, keys and nodes of a streaming
/// reader, each held once however many lines name it.
#[derive(Default)]
pub(crate) struct Names {
    index: FastMap<String, u32>,
    pub names: Vec<String>,
}

impl Names {
    pub fn intern(&mut self, name: &str) -> u32 {
        // A few names (the `f`s, the nodes) are found faster by comparing than by hashing.
        if self.names.len() <= 8 {
            if let Some(i) = self.names.iter().position(|n| n == name) {
                return i as u32;
            }
        } else if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }

    /// The names whose number is marked in `marked`, sorted.
    pub fn marked(&self, marked: &[bool]) -> Vec<String> {
        let mut out: Vec<String> = self
            .names
            .iter()
            .zip(marked)
            .filter(|(_, &m)| m)
            .map(|(name, _)| name.clone())
            .collect();
        out.sort();
        out
    }
}

/// Reads a JSON Lines history line by line into `sink`: `Ok(false)` when `budget` ran out
/// before the end. A last line that has no newline and does not parse is a torn write (a
/// warning, see the module's doc); any other damage is an error naming the line.
///
/// Parsing stays on the caller's thread: handing batches of lines to a second thread was
/// measured slower on the shared 2-core machine for sinks that allocate per line (more CPU
/// for allocations made on one thread and freed on the other, and a wait for the slower
/// half at every batch). A sink that parses into compact records without allocating gains
/// from [`stream_chunks`](super::chunks::stream_chunks) instead.
pub(crate) fn stream_into<S: EventSink>(
    reader: impl BufRead,
    name: &str,
    budget: &Budget,
    sink: &mut S,
) -> Result<bool, FormatError> {
    let mut lines = Lines::new(reader, name);
    let mut events = 0usize;
    while let Some((line_no, buf)) = lines.next_bytes()? {
        if line_no & 4095 == 0 && budget.expired() {
            return Ok(false);
        }
        let complete = buf.last() == Some(&b'\n');
        let text = trim_line(buf);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // serde_json checks that the strings of a line it reads are UTF-8, and any other
        // byte outside ASCII is not JSON: a line read the fast way needs no other check.
        if let Some(event) = S::parse_fast(text) {
            sink.push_fast(line_no, event)
                .map_err(|message| FormatError::at(name, line_no, message))?;
            events += 1;
            continue;
        }
        let event = match read_slowly(name, line_no, text, complete, events)? {
            Ok(event) => event,
            Err(torn) => {
                sink.warn(torn);
                break;
            }
        };
        events += 1;
        sink.push(line_no, event)
            .map_err(|message| FormatError::at(name, line_no, message))?;
    }
    Ok(true)
}

/// Line `line_no` read by [`parse_event`], after `events` events: its event, or the warning
/// for a torn last line (`complete` is false when it has no newline), or the error.
pub(crate) fn read_slowly(
    name: &str,
    line_no: usize,
    text: &[u8],
    complete: bool,
    events: usize,
) -> Result<Result<Event, String>, FormatError> {
    if let Err(e) = std::str::from_utf8(text) {
        return Err(super::not_utf8(name, line_no, text, &e));
    }
    match parse_event(text) {
        Ok(event) => Ok(Ok(event)),
        // A torn last line is a recorder that crashed mid-write, but only after it wrote
        // something: a single line that does not parse is simply not a history.
        Err(message) if !complete && events > 0 => Ok(Err(format!(
            "line {line_no}: torn last line ignored (no newline at the end, {message}); \
             the {} line(s) before it were loaded",
            line_no - 1
        ))),
        Err(message) => Err(FormatError::at(name, line_no, message)),
    }
}

/// Whether `text` holds a run of 19 digits or more: an integer that may not fit in 64 bits,
/// which only [`parse_event`] reads exactly (see [`big_integers_as_text`]).
pub(crate) fn has_long_digit_run(text: &[u8]) -> bool {
    let mut run = 0usize;
    text.iter().any(|b| {
        run = if b.is_ascii_digit() { run + 1 } else { 0 };
        run >= 19
    })
}

pub(crate) fn trim_line(buf: &[u8]) -> &[u8] {
    let mut end = buf.len();
    while end > 0 && matches!(buf[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &buf[..end]
}

/// Parses one line. The fast path deserializes straight into an [`Event`]; only when that
/// fails is the line looked at field by field, to say what is wrong with it.
pub fn parse_event(line: &[u8]) -> Result<Event, String> {
    let line = &*big_integers_as_text(line);
    match serde_json::from_slice::<Event>(line) {
        Ok(event) => Ok(event),
        Err(fast_error) => Err(explain(line, &fast_error)),
    }
}

/// JSON text in which every integer outside the 64-bit range (`100000000000000000000`) is
/// turned into a string of its digits (`"100000000000000000000"`).
///
/// serde_json reads such an integer as the nearest float, so two distinct big values would
/// compare equal and a wrong read would pass. The EDN reader keeps big integers as their
/// digits too, so a history gets the same verdict in either format. Text without a run of
/// 19 digits (the shortest integer that may not fit) is returned as it is, unscanned.
pub fn big_integers_as_text(json: &[u8]) -> Cow<'_, [u8]> {
    if !has_long_digit_run(json) {
        return Cow::Borrowed(json);
    }
    let mut out = Vec::with_capacity(json.len() + 16);
    let mut i = 0;
    while i < json.len() {
        let b = json[i];
        if b == b'"' {
            let end = string_end(json, i);
            out.extend_from_slice(&json[i..end]);
            i = end;
        } else if b == b'-' || b.is_ascii_digit() {
            let end = i + json[i..]
                .iter()
                .position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .unwrap_or(json.len() - i);
            let token = &json[i..end];
            let digits = token.strip_prefix(b"-").unwrap_or(token);
            let integer = !digits.is_empty() && digits.iter().all(u8::is_ascii_digit);
            let text = std::str::from_utf8(token).unwrap_or("");
            let fits = text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok();
            // Anything else is left to serde_json, to accept or to refuse.
            if integer && !fits {
                out.push(b'"');
                out.extend_from_slice(token);
                out.push(b'"');
            } else {
                out.extend_from_slice(token);
            }
            i = end;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// The index just past the string literal that opens at `start` (or the end of the text).
fn string_end(json: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < json.len() {
        match json[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    json.len()
}

fn explain(line: &[u8], fast_error: &serde_json::Error) -> String {
    let value: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) if e.is_eof() => return format!("not valid JSON (it ends early: {e})"),
        Err(e) => return format!("not valid JSON ({e})"),
    };
    let Value::Object(map) = &value else {
        return format!("expected a JSON object, found {}", kind_of(&value));
    };
    let field = |name: &str| map.get(name);
    match field("type") {
        None => return "missing field \"type\"".into(),
        Some(Value::String(t)) if !["invoke", "ok", "fail", "info"].contains(&t.as_str()) => {
            return format!("unknown type {t:?} (expected invoke, ok, fail or info)")
        }
        Some(Value::String(_)) => {}
        Some(other) => return format!("field \"type\" must be a string, not {other}"),
    }
    match field("process") {
        None => return "missing field \"process\"".into(),
        Some(Value::Number(n)) if n.as_u64().is_some() => {}
        Some(Value::String(s)) if s == "nemesis" || s.parse::<u64>().is_ok() => {}
        Some(other) => {
            return format!(
                "field \"process\" must be a non-negative integer or \"nemesis\", not {other}"
            )
        }
    }
    match field("f") {
        None => return "missing field \"f\"".into(),
        Some(Value::String(_)) => {}
        Some(other) => return format!("field \"f\" must be a string, not {other}"),
    }
    for (name, ok) in [
        ("index", field("index").is_none_or(|v| v.is_u64())),
        (
            "time",
            field("time").is_none_or(|v| v.is_u64() || v.is_null()),
        ),
    ] {
        if !ok {
            return format!(
                "field \"{name}\" must be a non-negative integer, not {}",
                field(name).unwrap_or(&Value::Null)
            );
        }
    }
    match field("key") {
        None | Some(Value::Null | Value::String(_) | Value::Number(_) | Value::Bool(_)) => {}
        Some(other) => return format!("field \"key\" must be a string or a number, not {other}"),
    }
    match field("node") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(other) => return format!("field \"node\" must be a string, not {other}"),
    }
    format!("not a history event ({fast_error})")
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Writes a whole history as JSON Lines, one [`Event`] per line: its events in real-time
/// order, renumbered from 0.
///
/// The format (faultline's `history.jsonl`): each line is one JSON object with the fields
/// `index` (position from 0), `time` (monotonic nanoseconds since the start, optional),
/// `process` (an integer, or `"nemesis"`), `type` (`invoke`, `ok`, `fail`, `info`), `f`,
/// optional `key`, `value`, optional `node` and `error`. Line order is real-time order.
///
/// ```text
/// {"index":0,"time":1532000,"process":0,"type":"invoke","f":"write","key":"k3","value":4}
/// {"index":1,"time":2801000,"process":0,"type":"ok","f":"write","key":"k3","value":4}
/// {"index":2,"time":9100000,"process":"nemesis","type":"info","f":"start-partition","value":{"n1":["n3"]}}
/// ```
pub fn write_history(history: &History, out: impl Write) -> io::Result<()> {
    let mut out = io::BufWriter::new(out);
    let mut line = Vec::with_capacity(256);
    for event in history.to_events() {
        line.clear();
        encode_event(&mut line, &event)?;
        out.write_all(&line)?;
    }
    out.flush()
}

/// Appends `event` to `line` as one line of this format, newline included. Every writer of
/// `history.jsonl` (the recorder during a run, [`write_history`] after `check` or `report`)
/// goes through here, so the files they write cannot differ.
///
/// The bytes are exactly what `serde_json` makes of an [`Event`] (the tests hold it to
/// that): the fields in their declared order, absent options left out. It is written by
/// hand because the recorder encodes every event of a run as it happens, and the generic
/// serializer spent most of its time escaping the field names and the short texts, which
/// here are copied as they are unless a byte needs escaping.
pub fn encode_event(line: &mut Vec<u8>, event: &Event) -> io::Result<()> {
    encode_event_head(line, event.index, event.time);
    encode_event_rest(line, &EventRef::of(event))
}

/// An event's fields after `index` and `time`, borrowed from wherever a writer keeps them:
/// the recorder encodes an operation straight from its invocation and completion, without
/// copying their texts into an [`Event`] first.
#[derive(Clone, Copy, Debug)]
pub struct EventRef<'a> {
    pub process: Process,
    pub kind: EventType,
    pub f: &'a str,
    pub key: Option<&'a str>,
    pub value: &'a Value,
    pub node: Option<&'a str>,
    pub error: Option<&'a Value>,
    pub response: Option<&'a Value>,
}

impl<'a> EventRef<'a> {
    pub fn of(event: &'a Event) -> EventRef<'a> {
        EventRef {
            process: event.process,
            kind: event.kind,
            f: &event.f,
            key: event.key.as_deref(),
            value: &event.value,
            node: event.node.as_deref(),
            error: event.error.as_ref(),
            response: event.response.as_ref(),
        }
    }
}

/// The start of a line of this format: `{"index":N` and, if known, `,"time":T`.
pub fn encode_event_head(line: &mut Vec<u8>, index: u64, time: Option<u64>) {
    let mut numbers = itoa::Buffer::new();
    line.extend_from_slice(b"{\"index\":");
    line.extend_from_slice(numbers.format(index).as_bytes());
    if let Some(time) = time {
        line.extend_from_slice(b",\"time\":");
        line.extend_from_slice(numbers.format(time).as_bytes());
    }
}

/// The rest of a line after [`encode_event_head`], from `,"process":` to the newline.
pub fn encode_event_rest(line: &mut Vec<u8>, event: &EventRef) -> io::Result<()> {
    line.extend_from_slice(b",\"process\":");
    match event.process {
        Process::Client(p) => line.extend_from_slice(itoa::Buffer::new().format(p).as_bytes()),
        Process::Nemesis => line.extend_from_slice(b"\"nemesis\""),
    }
    line.extend_from_slice(match event.kind {
        EventType::Invoke => b",\"type\":\"invoke\",\"f\":".as_slice(),
        EventType::Ok => b",\"type\":\"ok\",\"f\":",
        EventType::Fail => b",\"type\":\"fail\",\"f\":",
        EventType::Info => b",\"type\":\"info\",\"f\":",
    });
    encode_str(line, event.f)?;
    if let Some(key) = event.key {
        line.extend_from_slice(b",\"key\":");
        encode_str(line, key)?;
    }
    line.extend_from_slice(b",\"value\":");
    encode_value(line, event.value)?;
    if let Some(node) = event.node {
        line.extend_from_slice(b",\"node\":");
        encode_str(line, node)?;
    }
    if let Some(error) = event.error {
        line.extend_from_slice(b",\"error\":");
        encode_value(line, error)?;
    }
    if let Some(response) = event.response {
        line.extend_from_slice(b",\"response\":");
        encode_value(line, response)?;
    }
    line.extend_from_slice(b"}\n");
    Ok(())
}

/// A JSON string: copied between quotes when no byte needs escaping, else by `serde_json`.
fn encode_str(line: &mut Vec<u8>, text: &str) -> io::Result<()> {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        line.push(b'"');
        line.extend_from_slice(text.as_bytes());
        line.push(b'"');
        return Ok(());
    }
    serde_json::to_writer(&mut *line, text).map_err(io::Error::other)
}

/// A JSON value, with the common small ones written directly.
fn encode_value(line: &mut Vec<u8>, value: &Value) -> io::Result<()> {
    match value {
        Value::Null => line.extend_from_slice(b"null"),
        Value::Bool(true) => line.extend_from_slice(b"true"),
        Value::Bool(false) => line.extend_from_slice(b"false"),
        Value::String(text) => return encode_str(line, text),
        Value::Number(n) if n.is_u64() || n.is_i64() => {
            let mut numbers = itoa::Buffer::new();
            match n.as_u64() {
                Some(u) => line.extend_from_slice(numbers.format(u).as_bytes()),
                None => line
                    .extend_from_slice(numbers.format(n.as_i64().unwrap_or_default()).as_bytes()),
            }
        }
        other => serde_json::to_writer(&mut *line, other).map_err(io::Error::other)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn an_encoded_event_is_byte_for_byte_what_serde_json_writes(
            index in proptest::prelude::any::<u64>(),
            time in proptest::option::of(proptest::prelude::any::<u64>()),
            process in proptest::option::of(proptest::prelude::any::<u64>()),
            kind in 0..4usize,
            f in ".{0,8}",
            key in proptest::option::of(".{0,8}"),
            value in 0..8usize,
            int in proptest::prelude::any::<i64>(),
            text in ".{0,12}",
            node in proptest::option::of("[a-z0-9\"\\\\\n\u{1}é]{0,4}"),
            error in proptest::option::of(".{0,12}"),
            response in proptest::prelude::any::<bool>(),
        ) {
            let value = match value {
                0 => Value::Null,
                1 => Value::from(int),
                2 => Value::from(int as u64),
                3 => Value::String(text.clone()),
                4 => serde_json::json!([int, text, null]),
                5 => serde_json::json!({"b": int, "a": [text]}),
                6 => Value::from(int as f64 / 7.0),
                _ => Value::Bool(int % 2 == 0),
            };
            let event = Event {
                index,
                time,
                process: process.map_or(Process::Nemesis, Process::Client),
                kind: [EventType::Invoke, EventType::Ok, EventType::Fail, EventType::Info][kind],
                f,
                key,
                value,
                node,
                error: error.map(Value::String),
                response: response.then(|| serde_json::json!({"status": 200, "body": text})),
            };
            let mut ours = Vec::new();
            encode_event(&mut ours, &event).unwrap();
            let mut theirs = serde_json::to_vec(&event).unwrap();
            theirs.push(b'\n');
            proptest::prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
        }
    }

    fn read(text: &str) -> Result<History, FormatError> {
        read_jsonl(text.as_bytes(), "history.jsonl")
    }

    const W: &str = r#"{"process":0,"type":"invoke","f":"write","value":1}"#;
    const W_OK: &str = r#"{"process":0,"type":"ok","f":"write","value":1}"#;

    #[test]
    fn names_the_line_and_the_unknown_type() {
        let text = format!("{W}\n{}\n", r#"{"process":0,"type":"okay","f":"write"}"#);
        let err = read(&text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "history.jsonl line 2: unknown type \"okay\" (expected invoke, ok, fail or info)"
        );
    }

    #[test]
    fn names_a_missing_or_mistyped_field() {
        let err = read("{\"type\":\"invoke\",\"f\":\"read\"}\n").unwrap_err();
        assert!(err.message.contains("missing field \"process\""), "{err}");
        let err = read("{\"type\":\"invoke\",\"f\":\"read\",\"process\":-1}\n").unwrap_err();
        assert!(err.message.contains("\"process\" must be"), "{err}");
        let err = read("{\"type\":\"invoke\",\"f\":3,\"process\":1}\n").unwrap_err();
        assert!(err.message.contains("\"f\" must be a string"), "{err}");
        let err = read("[1,2]\n").unwrap_err();
        assert!(err.message.contains("expected a JSON object"), "{err}");
    }

    #[test]
    fn refuses_damage_before_the_last_line() {
        let text = format!("{W}\n{{\"process\":0,\"ty\n{W_OK}\n");
        let err = read(&text).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("not valid JSON"), "{err}");
    }

    #[test]
    fn loads_the_prefix_before_a_torn_last_line_with_a_warning() {
        let text = format!("{W}\n{W_OK}\n{{\"process\":1,\"type\":\"inv");
        let h = read(&text).unwrap();
        assert_eq!(h.ops.len(), 1);
        assert_eq!(h.warnings.len(), 1);
        assert!(
            h.warnings[0].starts_with("line 3: torn last line"),
            "{:?}",
            h.warnings
        );
    }

    #[test]
    fn reports_pairing_errors_with_the_line() {
        let err = read(&format!("{W_OK}\n")).unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(err.message.contains("no invocation in flight"), "{err}");
        let err = read(&format!("\n{W}\n{W}\n")).unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("still in flight"), "{err}");
    }

    #[test]
    fn integers_beyond_64_bits_stay_exact() {
        let text = "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":100000000000000000000}\n\
                    {\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":[100000000000000000001,-9223372036854775809,\"1 22222222222222222222\",1.5e30]}\n";
        let h = read(text).unwrap();
        assert_eq!(
            h.ops[0].invoke_value,
            serde_json::json!("100000000000000000000")
        );
        assert_eq!(
            h.ops[0].value,
            serde_json::json!([
                "100000000000000000001",
                "-9223372036854775809",
                "1 22222222222222222222",
                1.5e30
            ])
        );
        // Integers that fit stay numbers.
        assert_eq!(
            &*big_integers_as_text(b"[18446744073709551615,-9223372036854775808]"),
            b"[18446744073709551615,-9223372036854775808]"
        );
    }

    #[test]
    fn a_completion_for_another_key_is_an_error_naming_the_line() {
        let text = format!(
            "{}\n{}\n",
            r#"{"process":0,"type":"invoke","f":"read","key":"a"}"#,
            r#"{"process":0,"type":"ok","f":"read","key":"b","value":1}"#
        );
        let err = read(&text).unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.message.contains("key \"b\""), "{err}");
        // Leaving the key out of the completion is fine.
        let text = format!(
            "{}\n{}\n",
            r#"{"process":0,"type":"invoke","f":"read","key":"a"}"#,
            r#"{"process":0,"type":"ok","f":"read","value":1}"#
        );
        assert_eq!(read(&text).unwrap().ops[0].key.as_deref(), Some("a"));
    }

    #[test]
    fn a_single_line_that_is_not_json_is_an_error_not_a_torn_history() {
        let err = read("this is not json").unwrap_err();
        assert_eq!(err.line, Some(1), "{err}");
    }

    #[test]
    fn writes_lines_that_read_back_as_the_same_history() {
        let text = format!(
            "{W}\n{}\n{W_OK}\n{}\n",
            r#"{"index":1,"process":"nemesis","type":"info","f":"kill","value":["n1"]}"#,
            r#"{"index":3,"process":2,"type":"invoke","f":"cas","key":"7","value":[1,2],"node":"n2"}"#
        );
        let h = read(&text).unwrap();
        let mut out = Vec::new();
        write_history(&h, &mut out).unwrap();
        let back = read(std::str::from_utf8(&out).unwrap()).unwrap();
        assert_eq!(back, h);
    }
}
