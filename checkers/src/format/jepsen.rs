//! Jepsen's history formats: `history.edn` and `history.txt` (and log lines) in, EDN out.
//!
//! A Jepsen op is an EDN map such as
//! `{:process 0, :type :invoke, :f :write, :value 3, :time 123, :index 0}`. `:process` is an
//! integer for clients and `:nemesis` for faults; `:type` is `:invoke`, `:ok`, `:fail` or
//! `:info`; `:error` may be any value (nested maps are kept as JSON). Keywords become strings
//! without their colon. Line order, not `:time`, is the real-time order.
//!
//! `history.edn` is a vector (or list) of op maps, or a plain sequence of maps one per line
//! (what newer Jepsen writes as it goes). Tagged ops such as `#jepsen.history.Op{...}` are
//! read as their map. `history.txt` and Jepsen's log hold one op per line as
//! `process<TAB>type<TAB>f<TAB>value[<TAB>error]`, with EDN values, tab- or space-separated,
//! possibly behind a logger prefix (`INFO  jepsen.util - 3<TAB>:invoke<TAB>:read<TAB>nil`); other lines
//! are skipped and counted in a warning.
//!
//! Independent keys (`jepsen.independent`) wrap every value in a `[key value]` tuple. They
//! are detected when every client invocation holds such a tuple (a read invokes with
//! `[k nil]`), or when tuples are marked (`#jepsen.independent.Tuple{:key k, :value v}`).
//! A plain compare-and-set history does not trip the rule: its reads invoke with `nil`, and
//! a keyed `cas` carries `[k [old new]]`, so a `cas` value counts as a tuple only when its
//! second element is itself a pair. `--independent` / `--no-independent` override the guess.
//!
//! Export ([`write_edn`]) writes a vector of op maps, one per line, that Knossos and Elle
//! read: keyed ops as `[k v]` tuples, transaction micro-ops as `[:append k v]` vectors.

use std::collections::HashMap;
use std::io::{self, BufRead, Write};

use serde_json::Value;

use super::edn::{self, Edn, EdnReader};
use super::{FormatError, Lines};
use crate::history::{Event, EventType, History, HistoryBuilder, Process};

/// One Jepsen op before its value is converted (independent keys are decided over them all).
#[derive(Clone, Debug)]
struct RawOp {
    line: usize,
    process: Process,
    kind: EventType,
    f: String,
    value: Edn,
    /// An explicit `:key` (Raft key-value labs write one beside a plain value).
    key: Option<String>,
    time: Option<u64>,
    index: Option<u64>,
    error: Option<Value>,
    node: Option<String>,
}

/// Reads a Jepsen `history.edn`. `independent` forces (or forbids) `[k v]` tuples; `None`
/// detects them.
pub fn read_edn(text: &str, name: &str, independent: Option<bool>) -> Result<History, FormatError> {
    let mut reader = EdnReader::new(text);
    let last_line = last_line_start(text);
    let mut ops = Vec::new();
    let mut warnings = Vec::new();
    let edn_err = |e: edn::EdnError| FormatError::at_column(name, e.line, e.column, e.message);
    let container = match reader.peek().map_err(edn_err)? {
        Some(open @ (b'[' | b'(')) => {
            reader.bump();
            Some(if open == b'[' { b']' } else { b')' })
        }
        _ => None,
    };
    loop {
        match reader.peek().map_err(edn_err)? {
            None => {
                if let Some(close) = container {
                    let (line, _) = reader.line_col(text.len());
                    warnings.push(format!(
                        "line {line}: the history ends without its closing `{}` (a torn \
                         file?); the ops before it were loaded",
                        close as char
                    ));
                }
                break;
            }
            Some(b) if Some(b) == container => {
                reader.bump();
                if reader.peek().map_err(edn_err)?.is_some() {
                    let at = reader.offset();
                    let (line, column) = reader.line_col(at);
                    return Err(FormatError::at_column(
                        name,
                        line,
                        column,
                        "unexpected text after the end of the history",
                    ));
                }
                break;
            }
            Some(_) => {}
        }
        let start = reader.offset();
        match reader.read(1) {
            Ok(value) => {
                let line = reader.line_of(start);
                let op = op_from_map(value, line).map_err(|m| {
                    let (line, column) = reader.line_col(start);
                    FormatError::at_column(name, line, column, m)
                })?;
                ops.push(op);
            }
            // Torn only after at least one op: text whose first value already breaks off
            // is not a history that was cut short.
            Err(e) if e.at_end && start >= last_line && !ops.is_empty() => {
                let line = reader.line_of(start);
                warnings.push(format!(
                    "line {line}: torn last op ignored ({}); the ops before it were loaded",
                    e.message
                ));
                break;
            }
            Err(e) => return Err(edn_err(e)),
        }
    }
    build(ops, warnings, name, independent)
}

/// Byte offset where the last non-blank line starts.
fn last_line_start(text: &str) -> usize {
    let trimmed = text.trim_end();
    trimmed.rfind('\n').map_or(0, |i| i + 1)
}

fn op_from_map(mut value: Edn, line: usize) -> Result<RawOp, String> {
    // The value is moved out, not cloned: it is the only large part of an op.
    let op_value = value.take("value").unwrap_or(Edn::Nil);
    let map = value.untagged();
    if !matches!(map, Edn::Map(_)) {
        return Err(format!(
            "expected an op map {{:process .. :type ..}}, found {value}"
        ));
    }
    let process = match map.get("process") {
        Some(Edn::Int(p)) if *p >= 0 => Process::Client(*p as u64),
        Some(Edn::Keyword(_) | Edn::Symbol(_) | Edn::String(_)) => Process::Nemesis,
        Some(other) => return Err(format!("unknown :process {other}")),
        None => return Err("this map is not a Jepsen op: it has no :process".into()),
    };
    let kind = match map.get("type") {
        Some(t) => parse_type(t)?,
        None => return Err("this map is not a Jepsen op: it has no :type".into()),
    };
    let f = match map.get("f") {
        Some(f) => f
            .as_name()
            .ok_or_else(|| format!(":f must be a keyword, not {f}"))?,
        None => return Err("this map is not a Jepsen op: it has no :f".into()),
    };
    Ok(RawOp {
        line,
        process,
        kind,
        f,
        value: op_value,
        key: map
            .get("key")
            .filter(|k| **k != Edn::Nil)
            .map(|k| {
                k.as_name()
                    .ok_or_else(|| format!(":key must be a string, keyword or integer, not {k}"))
            })
            .transpose()?,
        time: non_negative(map.get("time")),
        index: non_negative(map.get("index")),
        error: map
            .get("error")
            .filter(|e| **e != Edn::Nil)
            .map(Edn::to_json),
        node: map.get("node").and_then(Edn::as_name),
    })
}

fn parse_type(t: &Edn) -> Result<EventType, String> {
    match t.as_name().as_deref() {
        Some("invoke") => Ok(EventType::Invoke),
        Some("ok") => Ok(EventType::Ok),
        Some("fail") => Ok(EventType::Fail),
        Some("info") => Ok(EventType::Info),
        _ => Err(format!(
            "unknown :type {t} (expected :invoke, :ok, :fail or :info)"
        )),
    }
}

fn non_negative(v: Option<&Edn>) -> Option<u64> {
    match v {
        Some(Edn::Int(i)) if *i >= 0 => Some(*i as u64),
        _ => None,
    }
}

/// Reads Jepsen's `history.txt` or a log holding its op lines.
pub fn read_jepsen_txt(
    reader: impl BufRead,
    name: &str,
    independent: Option<bool>,
) -> Result<History, FormatError> {
    let mut ops = Vec::new();
    let mut skipped = 0usize;
    let mut first_skipped = None;
    let mut lines = Lines::new(reader, name);
    while let Some((line_no, text)) = lines.next_str()? {
        let line = text.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        match parse_txt_line(line, line_no) {
            None => {
                skipped += 1;
                first_skipped.get_or_insert(line_no);
            }
            Some(Ok(op)) => ops.push(op),
            Some(Err((column, message))) => {
                return Err(FormatError::at_column(name, line_no, column, message))
            }
        }
    }
    let mut warnings = Vec::new();
    if let Some(first) = first_skipped {
        if ops.is_empty() {
            // Not one op among them: this is not a history (a config file, another log).
            return Err(FormatError::at(
                name,
                first,
                "not a Jepsen op (`process type f value`), nor is any other line: this is \
                 not a history in the jepsen-txt format (try --format)",
            ));
        }
        warnings.push(format!(
            "skipped {skipped} line(s) that hold no op (the first is line {first})"
        ));
    }
    build(ops, warnings, name, independent)
}

/// Finds `process type f value [error]` in a line, behind any prefix. `None` when the line
/// holds no op; an error (column, message) when it does but its EDN is malformed.
fn parse_txt_line(line: &str, line_no: usize) -> Option<Result<RawOp, (usize, String)>> {
    let tokens: Vec<(usize, &str)> = tokens(line).take(64).collect();
    let at = (0..tokens.len().saturating_sub(2)).find(|&i| {
        let bare_ok = i == 0;
        txt_process(tokens[i].1).is_some() && txt_type(tokens[i + 1].1, bare_ok).is_some()
    })?;
    let process = match txt_process(tokens[at].1)? {
        Ok(process) => process,
        Err(message) => return Some(Err((line[..tokens[at].0].chars().count() + 1, message))),
    };
    let kind = txt_type(tokens[at + 1].1, at == 0)?;
    let rest_start = tokens[at + 2].0;
    let col_base = line[..rest_start].chars().count();
    Some(
        parse_txt_fields(&line[rest_start..])
            .map(|(f, value, error)| RawOp {
                line: line_no,
                process,
                kind,
                f,
                value,
                key: None,
                time: None,
                index: None,
                error,
                node: None,
            })
            .map_err(|(column, message)| (col_base + column, message)),
    )
}

/// `f value [error]`, as EDN; errors carry the column within `rest`.
fn parse_txt_fields(rest: &str) -> Result<(String, Edn, Option<Value>), (usize, String)> {
    let mut reader = EdnReader::new(rest);
    let mut read_next = |what: &str| -> Result<Option<Edn>, (usize, String)> {
        let err = |e: edn::EdnError| (e.column, format!("bad EDN {what}: {}", e.message));
        match reader.peek().map_err(err)? {
            None => Ok(None),
            Some(_) => reader.read(0).map(Some).map_err(err),
        }
    };
    let f = read_next("f")?.unwrap_or(Edn::Nil);
    let f = f
        .as_name()
        .ok_or_else(|| (1, format!("f must be a keyword, not {f}")))?;
    let value = read_next("value")?.unwrap_or(Edn::Nil);
    // Jepsen prints the error with `str`, not `pr-str`: a string error loses its quotes.
    // Whatever follows the value is the error, as EDN if it reads as one value, else as text.
    let error_text = rest[reader.offset()..].trim();
    let error = match edn::parse(error_text) {
        _ if error_text.is_empty() => None,
        Ok(e) => Some(e.to_json()),
        Err(_) => Some(Value::String(error_text.to_string())),
    };
    Ok((f, value, error.filter(|e| !e.is_null())))
}

fn tokens(line: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = line.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        while pos < bytes.len() && matches!(bytes[pos], b' ' | b'\t') {
            pos += 1;
        }
        if pos >= bytes.len() {
            return None;
        }
        let start = pos;
        while pos < bytes.len() && !matches!(bytes[pos], b' ' | b'\t') {
            pos += 1;
        }
        Some((start, &line[start..pos]))
    })
}

/// A process token: `nemesis`, or an integer — which must fit a client process id (a
/// negative one is an error, not a line to skip: it is an op line with a bad process).
fn txt_process(token: &str) -> Option<Result<Process, String>> {
    let digits = token.strip_prefix('-').unwrap_or(token);
    match token {
        ":nemesis" | "nemesis" => Some(Ok(Process::Nemesis)),
        _ if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) => None,
        _ if token.starts_with('-') => Some(Err(format!(
            "process {token} is negative; a client process is an integer from 0"
        ))),
        _ => Some(token.parse().map(Process::Client).map_err(|_| {
            format!("process {token} is too large for a process id (at most 2^64 - 1)")
        })),
    }
}

/// `:invoke` etc.; the bare form (`invoke`) only at the start of a line, where no logger
/// prefix can fake it.
fn txt_type(token: &str, bare_ok: bool) -> Option<EventType> {
    let name = match token.strip_prefix(':') {
        Some(n) => n,
        None if bare_ok => token,
        None => return None,
    };
    match name {
        "invoke" => Some(EventType::Invoke),
        "ok" => Some(EventType::Ok),
        "fail" => Some(EventType::Fail),
        "info" => Some(EventType::Info),
        _ => None,
    }
}

/// A `[key value]` tuple: its key, its value, and whether it was explicitly marked. With
/// `guessing`, a `cas` counts only when it carries `[k [old new]]` (see the module docs).
fn split_tuple<'a>(v: &'a Edn, f: &str, guessing: bool) -> Option<(String, &'a Edn, bool)> {
    if let Edn::Tagged(tag, inner) = v {
        if tag.ends_with("independent.Tuple") {
            let key = inner.get("key")?.as_name()?;
            return Some((key, inner.get("value").unwrap_or(&Edn::Nil), true));
        }
    }
    let [k, value] = v.as_seq()? else {
        return None;
    };
    let key = match k {
        Edn::Int(_) | Edn::BigInt(_) | Edn::Keyword(_) | Edn::String(_) | Edn::Symbol(_) => {
            k.as_name()?
        }
        _ => return None,
    };
    // A plain cas carries [old new]; a keyed one carries [k [old new]].
    if guessing && f == "cas" && value.as_seq().is_none_or(|pair| pair.len() != 2) {
        return None;
    }
    Some((key, value, false))
}

fn detect_independent(ops: &[RawOp]) -> bool {
    let mut invocations = ops
        .iter()
        .filter(|o| o.kind == EventType::Invoke && matches!(o.process, Process::Client(_)))
        .peekable();
    if invocations.peek().is_none() {
        return false;
    }
    let mut all = true;
    for op in invocations {
        match split_tuple(&op.value, &op.f, true) {
            Some((_, _, true)) => return true,
            Some(_) => {}
            None => all = false,
        }
    }
    all
}

fn build(
    ops: Vec<RawOp>,
    warnings: Vec<String>,
    name: &str,
    independent: Option<bool>,
) -> Result<History, FormatError> {
    let keyed = independent.unwrap_or_else(|| detect_independent(&ops));
    let mut builder = HistoryBuilder::default();
    for w in warnings {
        builder.warn(w);
    }
    let mut open_keys: HashMap<u64, String> = HashMap::new();
    for (i, op) in ops.into_iter().enumerate() {
        let (key, value) = match (keyed, op.process) {
            // An explicit `:key` is the key, whatever the value looks like.
            (_, Process::Client(_)) if op.key.is_some() => (op.key.clone(), op.value.to_json()),
            (true, Process::Client(p)) if op.kind == EventType::Invoke => {
                let Some((key, value, _)) = split_tuple(&op.value, &op.f, false) else {
                    return Err(FormatError::at(
                        name,
                        op.line,
                        format!(
                            "the value {} of this `{}` is not a [key value] tuple, but the \
                             history is read with independent keys (try --no-independent)",
                            op.value, op.f
                        ),
                    ));
                };
                open_keys.insert(p, key.clone());
                (Some(key), value.to_json())
            }
            (true, Process::Client(p)) => {
                let open = open_keys.remove(&p);
                match (split_tuple(&op.value, &op.f, false), open) {
                    (Some((k, value, _)), Some(open)) if k == open => (Some(open), value.to_json()),
                    // A crashed op's completion may hold junk; a definite answer for another
                    // key is an error (the builder names both lines).
                    (Some((k, value, _)), Some(_)) if op.kind != EventType::Info => {
                        (Some(k), value.to_json())
                    }
                    (_, open) => (open, op.value.to_json()),
                }
            }
            _ => (None, op.value.to_json()),
        };
        let event = Event {
            index: op.index.unwrap_or(i as u64),
            time: op.time,
            process: op.process,
            kind: op.kind,
            f: op.f,
            key,
            value,
            node: op.node,
            error: op.error,
            response: None,
        };
        builder
            .push(op.line, event)
            .map_err(|e| FormatError::at(name, e.line, e.message))?;
    }
    Ok(builder.finish())
}

/// Writes a history as Jepsen EDN: a vector of op maps, one per line.
pub fn write_edn(history: &History, out: impl Write) -> io::Result<()> {
    let mut out = io::BufWriter::new(out);
    let events = history.to_events();
    let mut line = String::with_capacity(160);
    if events.is_empty() {
        return out.write_all(b"[]\n").and_then(|_| out.flush());
    }
    for (i, event) in events.iter().enumerate() {
        line.clear();
        line.push(if i == 0 { '[' } else { ' ' });
        write_event(&mut line, event);
        if i + 1 == events.len() {
            line.push(']');
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

/// One op map, in the key order Jepsen prints.
fn write_event(out: &mut String, e: &Event) {
    out.push_str("{:type :");
    out.push_str(&e.kind.to_string());
    out.push_str(", :f ");
    write_keyword_or_string(out, &e.f);
    out.push_str(", :value ");
    let is_txn = e.f == "txn";
    match &e.key {
        Some(k) => {
            out.push('[');
            if edn::is_canonical_integer(k) {
                out.push_str(k);
            } else {
                let _ = edn::write_string(out, k);
            }
            out.push(' ');
            write_value(out, &e.value, is_txn);
            out.push(']');
        }
        None => write_value(out, &e.value, is_txn),
    }
    out.push_str(", :process ");
    match e.process {
        Process::Client(p) => out.push_str(&p.to_string()),
        Process::Nemesis => out.push_str(":nemesis"),
    }
    if let Some(t) = e.time {
        out.push_str(", :time ");
        out.push_str(&t.to_string());
    }
    out.push_str(", :index ");
    out.push_str(&e.index.to_string());
    if let Some(node) = &e.node {
        out.push_str(", :node ");
        let _ = edn::write_string(out, node);
    }
    if let Some(error) = &e.error {
        out.push_str(", :error ");
        edn::write_json_as_edn(out, error);
    }
    out.push('}');
}

fn write_keyword_or_string(out: &mut String, name: &str) {
    if edn::is_keyword_name(name) {
        out.push(':');
        out.push_str(name);
    } else {
        let _ = edn::write_string(out, name);
    }
}

/// A value; transaction micro-ops as `[:f k v]` with a keyword `f` and a keyword-or-integer key.
fn write_value(out: &mut String, v: &Value, is_txn: bool) {
    let micro_ops = match v {
        Value::Array(ops) if is_txn => ops,
        _ => return edn::write_json_as_edn(out, v),
    };
    out.push('[');
    for (i, mop) in micro_ops.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match mop.as_array().map(Vec::as_slice) {
            Some([Value::String(f), k, rest @ ..]) => {
                out.push('[');
                write_keyword_or_string(out, f);
                out.push(' ');
                match k {
                    Value::String(k) => edn::write_name(out, k),
                    k => edn::write_json_as_edn(out, k),
                }
                for item in rest {
                    out.push(' ');
                    edn::write_json_as_edn(out, item);
                }
                out.push(']');
            }
            _ => edn::write_json_as_edn(out, mop),
        }
    }
    out.push(']');
}

/// The EDN text of a history (see [`write_edn`]).
pub fn to_edn_string(history: &History) -> String {
    let mut out = Vec::new();
    write_edn(history, &mut out).expect("writing to memory cannot fail");
    String::from_utf8(out).expect("EDN output is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Outcome;
    use serde_json::json;

    fn edn(text: &str) -> History {
        read_edn(text, "history.edn", None).unwrap()
    }

    #[test]
    fn reads_a_knossos_style_vector_with_comments_and_missing_commas() {
        let h = edn(
            "; header\n[{:process 0, :type :invoke, :f :write, :value 3}\n \
             {:process 0 :type :ok :f :write :value 3}\n ; note\n \
             {:process :nemesis, :type :info, :f :start, :value \"Cut off\"}\n \
             {:process 1, :type :invoke, :f :cas, :value [3 4]}]",
        );
        assert_eq!(h.ops.len(), 2);
        assert_eq!(h.ops[0].value, json!(3));
        assert_eq!(h.ops[0].key, None);
        assert_eq!(h.ops[1].value, json!([3, 4]));
        assert_eq!(h.ops[1].outcome, Outcome::Info);
        assert_eq!(h.ops[1].line, 6);
        assert_eq!(h.nemesis.len(), 1);
    }

    #[test]
    fn reads_a_list_a_plain_sequence_and_tagged_ops() {
        let list = edn("({:process 0, :type :invoke, :f :read, :value nil}\n \
             {:process 0, :type :ok, :f :read, :value 2})");
        assert_eq!(list.ops[0].value, json!(2));
        let seq = edn("#jepsen.history.Op{:index 0, :time 5, :type :invoke, :process 0, :f :read, :value nil}\n\
             #jepsen.history.Op{:index 1, :time 9, :type :ok, :process 0, :f :read, :value 2}\n");
        assert_eq!(seq.ops[0].value, json!(2));
        assert_eq!(seq.ops[0].complete_time, Some(9));
    }

    #[test]
    fn takes_a_crashed_writes_value_from_its_invocation() {
        let h = edn("[{:process 0, :type :invoke, :f :write, :value 3}\n \
             {:process 0, :type :info, :f :write, :value :timed-out, :error {:cause :timeout, :node \"n1\"}}]");
        assert_eq!(h.ops[0].value, json!(3));
        assert_eq!(h.ops[0].complete_value, Some(json!("timed-out")));
        assert_eq!(
            h.ops[0].error,
            Some(json!({"cause": "timeout", "node": "n1"}))
        );
    }

    #[test]
    fn detects_independent_key_tuples() {
        let h = edn("[{:process 0, :type :invoke, :f :read, :value [7 nil]}\n \
             {:process 1, :type :invoke, :f :cas, :value [8 [1 2]]}\n \
             {:process 0, :type :ok, :f :read, :value [7 4]}\n \
             {:process 1, :type :info, :f :cas, :value :timed-out}]");
        assert_eq!(h.ops[0].key.as_deref(), Some("7"));
        assert_eq!(h.ops[0].value, json!(4));
        assert_eq!(h.ops[1].key.as_deref(), Some("8"));
        assert_eq!(h.ops[1].value, json!([1, 2]));
    }

    #[test]
    fn does_not_mistake_cas_pairs_for_key_tuples() {
        let only_cas = edn("[{:process 0, :type :invoke, :f :cas, :value [1 2]}\n \
             {:process 1, :type :invoke, :f :cas, :value [2 3]}]");
        assert!(only_cas.ops.iter().all(|o| o.key.is_none()));
        let with_reads = edn("[{:process 0, :type :invoke, :f :write, :value 1}\n \
             {:process 1, :type :invoke, :f :read, :value nil}]");
        assert!(with_reads.ops.iter().all(|o| o.key.is_none()));
    }

    #[test]
    fn obeys_the_independent_override() {
        let text = "[{:process 0, :type :invoke, :f :write, :value [1 2]}]";
        let forced_off = read_edn(text, "h.edn", Some(false)).unwrap();
        assert_eq!(forced_off.ops[0].value, json!([1, 2]));
        let on = read_edn(text, "h.edn", None).unwrap();
        assert_eq!(on.ops[0].key.as_deref(), Some("1"));
        let err = read_edn(
            "[{:process 0, :type :invoke, :f :write, :value 2}]",
            "h.edn",
            Some(true),
        )
        .unwrap_err();
        assert!(err.message.contains("not a [key value] tuple"), "{err}");
    }

    #[test]
    fn reads_marked_tuples_as_keys() {
        let h = edn("[{:process 0, :type :invoke, :f :write, :value #jepsen.independent.Tuple{:key :x, :value 2}}\n \
             {:process 1, :type :invoke, :f :read, :value #jepsen.independent.Tuple{:key :y, :value nil}}]");
        assert_eq!(h.ops[0].key.as_deref(), Some("x"));
        assert_eq!(h.ops[1].key.as_deref(), Some("y"));
        assert_eq!(h.ops[0].value, json!(2));
    }

    #[test]
    fn reports_malformed_edn_with_line_and_column() {
        let err = read_edn(
            "[{:process 0, :type :invoke, :f :write, :value 3}\n {:process 1 :type}]",
            "h.edn",
            None,
        )
        .unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.column.is_some());
        assert!(
            err.to_string().starts_with("h.edn line 2, column 2:"),
            "{err}"
        );
        let err = read_edn("[{:process 0, :type :okay, :f :write}]", "h.edn", None).unwrap_err();
        assert!(err.message.contains("unknown :type :okay"), "{err}");
    }

    #[test]
    fn says_so_when_an_edn_file_is_not_a_history() {
        let err = read_edn("{:valid? true,\n :results {}}", "results.edn", None).unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(
            err.message.contains("not a Jepsen op: it has no :process"),
            "{err}"
        );
        let err = read_edn("[[1 2] [3 4]]", "h.edn", None).unwrap_err();
        assert!(err.message.contains("expected an op map"), "{err}");
    }

    #[test]
    fn warns_about_a_torn_last_op_and_loads_the_rest() {
        let h =
            edn("{:process 0, :type :invoke, :f :write, :value 3}\n{:process 0, :type :ok, :f :wr");
        assert_eq!(h.ops.len(), 1);
        assert_eq!(h.ops[0].outcome, Outcome::Info);
        assert!(h.warnings[0].contains("torn last op"), "{:?}", h.warnings);
        let h = edn("[{:process 0, :type :invoke, :f :write, :value 3}\n");
        assert!(h.warnings[0].contains("closing `]`"), "{:?}", h.warnings);
    }

    #[test]
    fn reads_history_txt_and_log_lines() {
        let text = "0\t:invoke\t:write\t3\n\
            INFO  jepsen.util - 1\t:invoke\t:read\tnil\n\
            2017-03-10 11:27:13,123{GMT}\tINFO\t[jepsen worker 0] jepsen.util: 0 :ok :write 3\n\
            a line with no op\n\
            1\t:ok\t:read\t[1 2]\n\
            :nemesis\t:info\t:start\t\"Cut off [:n3 #{:n1}]\"\n\
            2 :invoke :cas [1 2]\n\
            2 :fail :cas [1 2] :precondition-failed\n\
            3 :invoke :read nil\n\
            3 :info :read nil\tetcdserver: request timed out\n";
        let h = read_jepsen_txt(text.as_bytes(), "history.txt", None).unwrap();
        assert_eq!(h.ops.len(), 4);
        assert_eq!(h.ops[3].error, Some(json!("etcdserver: request timed out")));
        assert_eq!(h.ops[0].outcome, Outcome::Ok);
        assert_eq!(h.ops[1].value, json!([1, 2]));
        assert_eq!(h.ops[2].error, Some(json!("precondition-failed")));
        assert_eq!(h.nemesis.len(), 1);
        assert_eq!(h.warnings.len(), 1);
        assert!(h.warnings[0].contains("skipped 1 line"), "{:?}", h.warnings);
    }

    #[test]
    fn reports_a_malformed_value_in_history_txt() {
        let err = read_jepsen_txt("0\t:invoke\t:write\t[3\n".as_bytes(), "history.txt", None)
            .unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(err.message.contains("bad EDN value"), "{err}");
    }

    #[test]
    fn a_negative_process_in_history_txt_is_an_error_naming_the_line() {
        let text = "0\t:invoke\t:read\tnil\n0\t:ok\t:read\tnil\n-3\t:invoke\t:write\t1\n";
        let err = read_jepsen_txt(text.as_bytes(), "history.txt", None).unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.message.contains("process -3 is negative"), "{err}");
    }

    #[test]
    fn a_text_file_without_a_single_op_is_not_a_history() {
        let text = "root:x:0:0:root:/root:/bin/bash\n\ndaemon:x:1:1::/:/bin/false\n";
        let err = read_jepsen_txt(text.as_bytes(), "passwd", None).unwrap_err();
        assert_eq!(err.line, Some(1), "{err}");
        assert!(err.message.contains("not a history"), "{err}");
    }

    #[test]
    fn an_edn_text_that_breaks_off_in_its_first_op_is_an_error_not_a_torn_history() {
        let err = read_edn("[{:process 0, :type", "history.edn", None).unwrap_err();
        assert_eq!(err.line, Some(1), "{err}");
        let h = edn("[{:process 0, :type :invoke, :f :read}\n {:process 0, :type");
        assert_eq!(h.ops.len(), 1);
    }

    #[test]
    fn a_completion_for_another_independent_key_is_an_error_naming_the_line() {
        let text = "[{:process 0, :type :invoke, :f :read, :value [1 nil]}\n \
                    {:process 0, :type :ok, :f :read, :value [2 5]}]";
        let err = read_edn(text, "history.edn", Some(true)).unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.message.contains("invocation (line 1)"), "{err}");
    }

    #[test]
    fn symbolic_floats_are_refused_with_the_line() {
        let text = "[{:process 0, :type :invoke, :f :write, :value 1}\n \
                    {:process 0, :type :ok, :f :write, :value ##NaN}]";
        let err = read_edn(text, "history.edn", None).unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.message.contains("##NaN"), "{err}");
        for value in ["##Inf", "##-Inf", "1e999"] {
            let text = format!("[{{:process 0, :type :invoke, :f :write, :value {value}}}]");
            assert!(read_edn(&text, "history.edn", None).is_err(), "{value}");
        }
    }

    #[test]
    fn exports_edn_that_imports_as_the_same_ops() {
        let text = "[{:process 0, :type :invoke, :f :txn, :value [[:append :x 1] [:r 5 nil]], :time 10}\n \
             {:process 0, :type :ok, :f :txn, :value [[:append :x 1] [:r 5 [1 2]]], :time 20}\n \
             {:process :nemesis, :type :info, :f :kill, :value [\"n1\"]}\n \
             {:process 1, :type :invoke, :f :write, :value 2.5}\n \
             {:process 1, :type :fail, :f :write, :value 2.5, :error [:not-found \"gone\"]}]";
        let h = edn(text);
        let exported = to_edn_string(&h);
        assert!(
            exported.contains("[[:append :x 1] [:r 5 [1 2]]]"),
            "{exported}"
        );
        let back = edn(&exported);
        assert_eq!(strip_lines(back), strip_lines(h));
    }

    fn strip_lines(mut h: History) -> History {
        for op in &mut h.ops {
            op.line = 0;
        }
        h
    }
}
