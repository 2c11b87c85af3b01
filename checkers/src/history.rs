//! The history: every operation event of one run, in real-time order.
//!
//! On disk a history is JSON Lines (`history.jsonl`), one [`Event`] per line, written as it
//! happens. The order of lines is the real-time order; `time` is informational.
//!
//! ```text
//! {"index":0,"time":1532000,"process":0,"type":"invoke","f":"write","key":"k3","value":4}
//! {"index":1,"time":1533100,"process":1,"type":"invoke","f":"read","key":"k3","value":null}
//! {"index":2,"time":2801000,"process":0,"type":"ok","f":"write","key":"k3","value":4}
//! {"index":3,"time":9000000,"process":1,"type":"fail","f":"read","key":"k3","value":null,"error":"timeout"}
//! {"index":4,"time":9050000,"process":2,"type":"invoke","f":"read","key":"k3","value":null}
//! {"index":5,"time":9090000,"process":2,"type":"ok","f":"read","key":"k3","value":4,"response":{"status":200}}
//! {"index":6,"time":9100000,"process":"nemesis","type":"info","f":"start-partition","value":{"n1":["n3","n4","n5"]}}
//! ```
//!
//! Every client invocation is followed by exactly one completion from the same process:
//! `ok` (it happened), `fail` (it certainly did not happen) or `info` (it may take effect at
//! any later time, or never). An invocation still open at the end of the history counts as
//! `info`. Nemesis events are single `info` lines that checkers ignore.
//!
//! Checkers never see raw events: [`HistoryBuilder`] pairs each invocation with its
//! completion into an [`Op`], and rejects histories that break the rules above with a
//! [`HistoryError`] naming the line.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// Who issued an event: a client process (an integer) or the nemesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    Client(u64),
    Nemesis,
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

impl Serialize for Process {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(p) => s.serialize_u64(*p),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ProcessVisitor;
        impl Visitor<'_> for ProcessVisitor {
            type Value = Process;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or \"nemesis\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Process, E> {
                Ok(Process::Client(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Process, E> {
                u64::try_from(v)
                    .map(Process::Client)
                    .map_err(|_| E::custom(format!("process {v} is negative")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Process, E> {
                match v {
                    "nemesis" => Ok(Process::Nemesis),
                    other => other
                        .parse()
                        .map(Process::Client)
                        .map_err(|_| E::custom(format!("unknown process {other:?}"))),
                }
            }
        }
        d.deserialize_any(ProcessVisitor)
    }
}

/// The kind of an event.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        })
    }
}

/// One line of `history.jsonl`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Event {
    /// Position in the history, from 0. Optional on import (the line position is used).
    #[serde(default)]
    pub index: u64,
    /// Nanoseconds since the test started, from a monotonic clock. Optional on import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub f: String,
    /// Independent key: keys are separate objects, checked separately. Numbers are accepted
    /// on import and kept as their decimal text.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_key"
    )]
    pub key: Option<String>,
    #[serde(default)]
    pub value: Value,
    /// The node that served the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Why the operation failed or is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// On a completion, an excerpt of the store's answer kept for a person chasing a bug
    /// (`[client] capture`): `{"body": "...", "body_total_bytes": 2048, "headers": {...},
    /// "status": 200}`, each part only if asked for. Checkers never read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

fn deserialize_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(de::Error::custom(format!(
            "key must be a string or a number, not {other}"
        ))),
    }
}

/// How a client operation ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened.
    Ok,
    /// It certainly did not happen.
    Fail,
    /// Unknown: it may take effect at any time after its invocation, or never.
    Info,
}

/// A client operation: an invocation paired with its completion.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    /// Position in [`History::ops`] (ops are ordered by invocation).
    pub id: usize,
    pub process: u64,
    pub f: String,
    pub key: Option<String>,
    /// The value the operation is judged by: the completion's value for an `ok` completion
    /// that carries one (reads filled in), otherwise the invocation's (a write's or CAS's
    /// arguments; completions of crashed ops may hold junk such as `:timed-out`).
    pub value: Value,
    pub invoke_value: Value,
    pub complete_value: Option<Value>,
    pub outcome: Outcome,
    /// Position of the invocation among all events of the history (real-time order).
    pub invoke_pos: usize,
    /// Position of the completion; `None` when the invocation was still open at the end.
    pub complete_pos: Option<usize>,
    /// Source line of the invocation (1-based) when known, for messages.
    pub line: usize,
    pub invoke_time: Option<u64>,
    pub complete_time: Option<u64>,
    pub node: Option<String>,
    pub error: Option<Value>,
    /// The completion's excerpt of the store's answer ([`Event::response`]), if kept.
    pub response: Option<Value>,
}

impl Op {
    /// Where and when the op ran, for explanations: ` on n3 at 5.104 s`; the parts the
    /// history does not carry are left out.
    pub fn whereabouts(&self) -> String {
        let mut s = String::new();
        if let Some(node) = &self.node {
            s.push_str(" on ");
            s.push_str(node);
        }
        if let Some(ns) = self.invoke_time {
            s.push_str(&format!(" at {:.3} s", ns as f64 / 1e9));
        }
        s
    }

    /// True when the operation certainly precedes `other` in real time.
    pub fn precedes(&self, other: &Op) -> bool {
        matches!(self.complete_pos, Some(c) if c < other.invoke_pos)
    }

    /// The position after which the operation can no longer take effect.
    pub fn complete_pos_or_end(&self) -> usize {
        self.complete_pos.unwrap_or(usize::MAX)
    }
}

/// A nemesis event with its position in the history.
#[derive(Clone, Debug, PartialEq)]
pub struct NemesisEvent {
    pub pos: usize,
    pub event: Event,
}

/// A paired history, ready for checking.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// Client operations, ordered by invocation.
    pub ops: Vec<Op>,
    /// Fault events, in order.
    pub nemesis: Vec<NemesisEvent>,
    /// Number of events read (client and nemesis).
    pub event_count: usize,
    /// Problems that did not stop loading (a torn last line, a completion whose `f` differs).
    pub warnings: Vec<String>,
}

impl History {
    /// Pairs events given in real-time order; each event's line is its position + 1.
    pub fn from_events(events: impl IntoIterator<Item = Event>) -> Result<History, HistoryError> {
        let mut builder = HistoryBuilder::default();
        for (i, event) in events.into_iter().enumerate() {
            builder.push(i + 1, event)?;
        }
        Ok(builder.finish())
    }

    /// Operation ids grouped by key (`None` for ops without a key), in invocation order.
    pub fn by_key(&self) -> BTreeMap<Option<&str>, Vec<usize>> {
        let mut keys: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
        for op in &self.ops {
            keys.entry(op.key.as_deref()).or_default().push(op.id);
        }
        keys
    }

    /// The operations grouped by key (`None` for ops without a key), in invocation order:
    /// what a checker that judges each key on its own walks over.
    pub fn ops_by_key(&self) -> BTreeMap<Option<&str>, Vec<&Op>> {
        self.by_key()
            .into_iter()
            .map(|(key, ids)| (key, ids.iter().map(|&i| &self.ops[i]).collect()))
            .collect()
    }

    /// The events of this history in real-time order, as they would be written back out.
    pub fn to_events(&self) -> Vec<Event> {
        let mut slots: Vec<(usize, Event)> = Vec::with_capacity(self.ops.len() * 2);
        for op in &self.ops {
            slots.push((op.invoke_pos, op.invoke_event()));
            if let Some(event) = op.completion_event() {
                slots.push((op.complete_pos.unwrap_or(usize::MAX), event));
            }
        }
        slots.extend(self.nemesis.iter().map(|n| (n.pos, n.event.clone())));
        slots.sort_by_key(|(pos, _)| *pos);
        slots
            .into_iter()
            .enumerate()
            .map(|(i, (_, mut e))| {
                e.index = i as u64;
                e
            })
            .collect()
    }
}

impl Op {
    fn invoke_event(&self) -> Event {
        Event {
            index: 0,
            time: self.invoke_time,
            process: Process::Client(self.process),
            kind: EventType::Invoke,
            f: self.f.clone(),
            key: self.key.clone(),
            value: self.invoke_value.clone(),
            node: self.node.clone(),
            error: None,
            response: None,
        }
    }

    fn completion_event(&self) -> Option<Event> {
        self.complete_pos?;
        Some(Event {
            index: 0,
            time: self.complete_time,
            process: Process::Client(self.process),
            kind: match self.outcome {
                Outcome::Ok => EventType::Ok,
                Outcome::Fail => EventType::Fail,
                Outcome::Info => EventType::Info,
            },
            f: self.f.clone(),
            key: self.key.clone(),
            value: self.complete_value.clone().unwrap_or(Value::Null),
            node: self.node.clone(),
            error: self.error.clone(),
            response: self.response.clone(),
        })
    }
}

impl EventType {
    /// How a completion says the op ended; `None` for an invocation.
    pub fn outcome(self) -> Option<Outcome> {
        match self {
            EventType::Invoke => None,
            EventType::Ok => Some(Outcome::Ok),
            EventType::Fail => Some(Outcome::Fail),
            EventType::Info => Some(Outcome::Info),
        }
    }
}

/// The rules by which a completion meets its invocation (one op in flight per process, a
/// completion needs an invocation and names its key, a different `f` is only a warning),
/// worded once for every reader that pairs events: [`HistoryBuilder`] and the checkers'
/// streaming readers.
pub(crate) mod pairing {
    use super::EventType;

    pub(crate) fn no_invocation(kind: EventType, f: &str, process: u64) -> String {
        format!(
            "`{kind}` completion of `{f}` by process {process}, which has no invocation in flight"
        )
    }

    /// The op would be judged under one key while the store answered for another: a
    /// recorder bug or a hand-edited file, not something to guess about.
    pub(crate) fn other_key(
        kind: EventType,
        process: u64,
        key: Option<&str>,
        open_line: usize,
        open_key: Option<&str>,
    ) -> String {
        let shown = |k: Option<&str>| k.map_or("no key".into(), |k| format!("key {k:?}"));
        format!(
            "`{kind}` completion of process {process} names {}, but its invocation (line \
             {open_line}) names {}",
            shown(key),
            shown(open_key)
        )
    }

    pub(crate) fn f_differs(
        line: usize,
        f: &str,
        process: u64,
        open_f: &str,
        open_line: usize,
    ) -> String {
        format!(
            "line {line}: completion `{f}` of process {process} answers invocation `{open_f}` \
             (line {open_line})"
        )
    }

    pub(crate) fn still_in_flight(process: u64, f: &str, open_f: &str, open_line: usize) -> String {
        format!(
            "process {process} invokes `{f}` while its `{open_f}` from line {open_line} is still \
             in flight"
        )
    }
}

/// A history that breaks the rules of the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct HistoryError {
    pub line: usize,
    pub message: String,
}

/// Pairs events one at a time, so a reader can stream a file of any length.
#[derive(Debug, Default)]
pub struct HistoryBuilder {
    ops: Vec<Op>,
    nemesis: Vec<NemesisEvent>,
    in_flight: HashMap<u64, usize>,
    event_count: usize,
    warnings: Vec<String>,
}

impl HistoryBuilder {
    /// Adds the next event in real-time order; `line` is its 1-based source line.
    pub fn push(&mut self, line: usize, event: Event) -> Result<(), HistoryError> {
        let pos = self.event_count;
        self.event_count += 1;
        let process = match event.process {
            Process::Nemesis => {
                self.nemesis.push(NemesisEvent { pos, event });
                return Ok(());
            }
            Process::Client(p) => p,
        };
        let Some(outcome) = event.kind.outcome() else {
            return self.invoke(line, pos, process, event);
        };
        let Some(id) = self.in_flight.remove(&process) else {
            let message = pairing::no_invocation(event.kind, &event.f, process);
            return Err(HistoryError { line, message });
        };
        let op = &mut self.ops[id];
        if event.key.is_some() && event.key != op.key {
            let (key, open_key) = (event.key.as_deref(), op.key.as_deref());
            let message = pairing::other_key(event.kind, process, key, op.line, open_key);
            return Err(HistoryError { line, message });
        }
        if op.f != event.f {
            let warning = pairing::f_differs(line, &event.f, process, &op.f, op.line);
            self.warnings.push(warning);
        }
        op.outcome = outcome;
        op.complete_pos = Some(pos);
        op.complete_time = event.time;
        if outcome == Outcome::Ok && !event.value.is_null() {
            op.value = event.value.clone();
        }
        op.complete_value = Some(event.value);
        op.error = event.error;
        op.response = event.response;
        if event.node.is_some() {
            op.node = event.node;
        }
        Ok(())
    }

    fn invoke(
        &mut self,
        line: usize,
        pos: usize,
        process: u64,
        event: Event,
    ) -> Result<(), HistoryError> {
        if let Some(&open) = self.in_flight.get(&process) {
            let open = &self.ops[open];
            let message = pairing::still_in_flight(process, &event.f, &open.f, open.line);
            return Err(HistoryError { line, message });
        }
        let id = self.ops.len();
        self.in_flight.insert(process, id);
        self.ops.push(Op {
            id,
            process,
            f: event.f,
            key: event.key,
            value: event.value.clone(),
            invoke_value: event.value,
            complete_value: None,
            outcome: Outcome::Info,
            invoke_pos: pos,
            complete_pos: None,
            line,
            invoke_time: event.time,
            complete_time: None,
            node: event.node,
            error: None,
            response: None,
        });
        Ok(())
    }

    /// Records a problem that did not stop loading.
    pub fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    /// Ends the history: invocations still open count as `info`.
    pub fn finish(self) -> History {
        History {
            ops: self.ops,
            nemesis: self.nemesis,
            event_count: self.event_count,
            warnings: self.warnings,
        }
    }
}

/// Reads an operation's value as an integer, the one rule every numeric checker shares.
///
/// A value is an integer when it is a JSON integer (within `i64` or `u64`) or a string
/// holding a decimal integer with an optional sign (`"42"`, `"-7"`), because stores that
/// speak text (Redis, etcd's v2 API) hand numbers back as strings. Anything else — a
/// fraction (`1.5`, even `2.0`), `null`, a string with spaces or a map — is not, and the
/// caller says why in its own words.
pub fn integer(value: &Value) -> Option<i128> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(process: Process, kind: EventType, f: &str, value: Value) -> Event {
        Event {
            index: 0,
            time: None,
            process,
            kind,
            f: f.into(),
            key: None,
            value,
            node: None,
            error: None,
            response: None,
        }
    }

    #[test]
    fn pairs_invocations_with_their_completions() {
        let h = History::from_events([
            ev(Process::Client(0), EventType::Invoke, "write", json!(4)),
            ev(Process::Client(1), EventType::Invoke, "read", Value::Null),
            ev(Process::Client(0), EventType::Ok, "write", json!(4)),
            ev(Process::Nemesis, EventType::Info, "kill", json!(["n1"])),
            ev(Process::Client(1), EventType::Ok, "read", json!(4)),
            ev(Process::Client(2), EventType::Invoke, "write", json!(5)),
        ])
        .unwrap();
        assert_eq!(h.ops.len(), 3);
        assert_eq!(h.ops[1].value, json!(4));
        assert_eq!(h.ops[1].complete_pos, Some(4));
        assert_eq!(h.ops[2].outcome, Outcome::Info);
        assert_eq!(h.ops[2].complete_pos, None);
        assert_eq!(h.nemesis.len(), 1);
        assert!(h.ops[0].precedes(&h.ops[2]));
        assert!(!h.ops[0].precedes(&h.ops[1]));
    }

    #[test]
    fn rejects_a_completion_without_an_invocation() {
        let err = History::from_events([ev(Process::Client(3), EventType::Ok, "read", json!(1))])
            .unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("no invocation"));
    }

    #[test]
    fn rejects_two_invocations_in_flight_on_one_process() {
        let err = History::from_events([
            ev(Process::Client(3), EventType::Invoke, "read", Value::Null),
            ev(Process::Client(3), EventType::Invoke, "write", json!(1)),
        ])
        .unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("still in flight"));
    }

    #[test]
    fn keeps_the_invocation_value_of_a_crashed_write() {
        let h = History::from_events([
            ev(Process::Client(0), EventType::Invoke, "write", json!(2)),
            ev(
                Process::Client(0),
                EventType::Info,
                "write",
                json!("timed-out"),
            ),
        ])
        .unwrap();
        assert_eq!(h.ops[0].value, json!(2));
    }

    #[test]
    fn writes_back_the_events_it_read() {
        let events = vec![
            ev(Process::Client(0), EventType::Invoke, "write", json!(4)),
            ev(Process::Nemesis, EventType::Info, "kill", json!(["n1"])),
            ev(Process::Client(0), EventType::Ok, "write", json!(4)),
        ];
        let h = History::from_events(events.clone()).unwrap();
        let back = h.to_events();
        assert_eq!(back.len(), 3);
        assert_eq!(back[1].f, "kill");
        assert_eq!(back[2].kind, EventType::Ok);
        assert_eq!(back[2].index, 2);
    }

    #[test]
    fn a_completion_keeps_its_response_excerpt_through_a_file_and_a_history() {
        let line = r#"{"index":1,"process":0,"type":"ok","f":"read","key":"k1","value":3,"response":{"body":"{\"value\":3}","body_total_bytes":11,"headers":{"x-etcd-index":"12"},"status":200}}"#;
        let completion: Event = serde_json::from_str(line).unwrap();
        assert_eq!(completion.response.as_ref().unwrap()["status"], json!(200));
        assert_eq!(serde_json::to_string(&completion).unwrap(), line);
        let mut invoke = ev(Process::Client(0), EventType::Invoke, "read", Value::Null);
        invoke.key = Some("k1".into());
        assert!(
            !serde_json::to_string(&invoke).unwrap().contains("response"),
            "an event without an excerpt writes no `response` key"
        );
        let h = History::from_events([invoke, completion.clone()]).unwrap();
        assert_eq!(h.ops[0].response, completion.response);
        assert_eq!(h.to_events()[1].response, completion.response);
    }

    fn client(p: u64, kind: EventType, f: &str, value: Value) -> Event {
        ev(Process::Client(p), kind, f, value)
    }

    /// What the bank and the counter checker make of one written integer `read`.
    fn bank_and_counter_verdicts(read: Value) -> (crate::Verdict, crate::Verdict) {
        use crate::{Budget, Checker};
        let counter = History::from_events([
            client(0, EventType::Invoke, "add", json!(10)),
            client(0, EventType::Ok, "add", json!(10)),
            client(1, EventType::Invoke, "read", Value::Null),
            client(1, EventType::Ok, "read", read.clone()),
        ])
        .unwrap();
        let bank = History::from_events([
            client(1, EventType::Invoke, "read", Value::Null),
            client(1, EventType::Ok, "read", json!({"0": read, "1": 0})),
        ])
        .unwrap();
        let bank_checker = crate::bank::Bank {
            total: Some(10),
            ..Default::default()
        };
        (
            bank_checker.check(&bank, &Budget::default()).verdict,
            crate::counter::Counter::default()
                .check(&counter, &Budget::default())
                .verdict,
        )
    }

    #[test]
    fn bank_and_counter_read_a_value_by_the_same_integer_rule() {
        use crate::Verdict::{Unknown, Valid};
        assert_eq!(integer(&json!("-7")), Some(-7));
        assert_eq!(integer(&json!(u64::MAX)), Some(u64::MAX as i128));
        assert_eq!(integer(&json!(2.0)), None);
        assert_eq!(integer(&json!(" 1")), None);
        assert_eq!(bank_and_counter_verdicts(json!(10)), (Valid, Valid));
        assert_eq!(bank_and_counter_verdicts(json!("10")), (Valid, Valid));
        assert_eq!(bank_and_counter_verdicts(json!(10.0)), (Unknown, Unknown));
        assert_eq!(bank_and_counter_verdicts(json!("ten")), (Unknown, Unknown));
    }
}
