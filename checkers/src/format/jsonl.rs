//! faultline's own history format: JSON Lines, one [`Event`] per line.
//!
//! The reader streams (it holds one line at a time) and feeds a [`HistoryBuilder`]. A last
//! line that has no newline and does not parse is a torn write from a crashed recorder: it
//! becomes a warning and the lines before it are still loaded. Damage anywhere else is an
//! error naming the line and the field.

use std::io::{self, BufRead, Write};

use serde_json::Value;

use super::FormatError;
use crate::history::{Event, History, HistoryBuilder};

/// Reads a JSON Lines history. `name` (a file name) is used in messages.
pub fn read_jsonl(mut reader: impl BufRead, name: &str) -> Result<History, FormatError> {
    let mut builder = HistoryBuilder::default();
    let mut buf = Vec::with_capacity(256);
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| FormatError::io(name, &e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let complete = buf.last() == Some(&b'\n');
        let text = trim_line(&buf);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let event = match parse_event(text) {
            Ok(event) => event,
            Err(message) if !complete => {
                builder.warn(format!(
                    "line {line_no}: torn last line ignored (no newline at the end, {message}); \
                     the {} line(s) before it were loaded",
                    line_no - 1
                ));
                break;
            }
            Err(message) => return Err(FormatError::at(name, line_no, message)),
        };
        builder
            .push(line_no, event)
            .map_err(|e| FormatError::at(name, e.line, e.message))?;
    }
    Ok(builder.finish())
}

fn trim_line(buf: &[u8]) -> &[u8] {
    let mut end = buf.len();
    while end > 0 && matches!(buf[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &buf[..end]
}

/// Parses one line. The fast path deserializes straight into an [`Event`]; only when that
/// fails is the line looked at field by field, to say what is wrong with it.
pub fn parse_event(line: &[u8]) -> Result<Event, String> {
    match serde_json::from_slice::<Event>(line) {
        Ok(event) => Ok(event),
        Err(fast_error) => Err(explain(line, &fast_error)),
    }
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
    for event in history.to_events() {
        serde_json::to_writer(&mut out, &event).map_err(io::Error::other)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

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
