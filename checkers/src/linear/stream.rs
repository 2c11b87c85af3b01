//! Reading a JSON Lines history straight into the per-key form the linearizability search
//! starts from, without building a [`History`](crate::History).
//!
//! A [`History`](crate::History) keeps every op as an [`Op`] of about 300 bytes (names,
//! key, node and three JSON values, each owned), which for a million ops is most of the
//! memory and, with the `serde_json::Value` trees of every line, most of the time of a
//! check. Here each line is parsed with borrowed strings, paired with its invocation by the
//! rules of [`HistoryBuilder`](crate::HistoryBuilder) (one op in flight per process, a
//! completion needs an invocation and names its invocation's key, a completion whose `f`
//! differs is a warning), and kept as a [`Slim`] op: interned `f`, key and node, the one
//! value the op is judged by, positions, line and times, in its key's blocks that never
//! move ([`KeyOps`]). A key's [`Op`]s are rebuilt only while that key is searched, so the
//! search, its reductions and its explanations are the very code
//! [`check_history`](super::check_history) runs, and the result is the same to the word
//! (`tests/linear_stream.rs` holds the two paths to that); each worker rebuilds one key's
//! [`Op`]s at a time, in the same `Op`s from key to key.
//!
//! The file is read in chunks parsed on [`Budget::threads`] threads
//! ([`stream_chunks`](crate::format::chunks::stream_chunks)), each line by the hand-written
//! scanner of [`format::scan`](crate::format::scan) where it has the usual shape and by
//! serde otherwise, into [`Record`]s whose names are numbered per chunk; the pairing runs on
//! one thread, in line order, and is the part that bounds the reading. Values that are
//! integers, or pairs of integers, are kept as such ([`Val`]) until their key is searched.
//!
//! Time and memory are linear in the file; memory is about 110 bytes an op.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::BufRead;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;

use super::{check_key, run_keys, summarize, SearchOptions};
use crate::format::chunks::{stream_chunks, ChunkSink};
use crate::format::jsonl::{has_long_digit_run, Names, StreamSummary};
use crate::format::scan::{scan_event, RawValue, Scanned};
use crate::format::FormatError;
use crate::history::{pairing, Event, EventType, NemesisEvent, Op, Outcome, Process};
use crate::model::{FastMap, ModelKind, ModelOptions};
use crate::verdict::{unknown_function_message, Budget, CheckResult, OpRef};

/// One event with borrowed strings: the fields [`Event`] checks, with the same types.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(default)]
    #[allow(dead_code)]
    index: u64,
    #[serde(default)]
    time: Option<u64>,
    process: Process,
    #[serde(rename = "type")]
    kind: EventType,
    #[serde(borrow)]
    f: Cow<'a, str>,
    #[serde(default, borrow)]
    key: Option<Cow<'a, str>>,
    #[serde(default)]
    value: Value,
    #[serde(default, borrow)]
    node: Option<Cow<'a, str>>,
    #[serde(default)]
    #[allow(dead_code)]
    error: Option<IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    response: Option<IgnoredAny>,
}

/// A value as it waits for its key's search. Most values of a register history are
/// integers, which here take no allocation and half the room of a [`Value`].
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Null,
    Int(i64),
    /// Two integers, as a compare-and-set's `[expected, new]`.
    Pair(i64, i64),
    Other(Box<Value>),
}

impl Val {
    fn new(value: Value) -> Val {
        match value {
            Value::Null => Val::Null,
            // `Value::from` gives back the very number: a non-negative one as unsigned, a
            // negative one as signed, as serde_json reads them.
            Value::Number(n) if n.as_i64().is_some() => Val::Int(n.as_i64().unwrap_or(0)),
            Value::Array(pair) => match pair.as_slice() {
                [a, b] if a.is_i64() && b.is_i64() => {
                    Val::Pair(a.as_i64().unwrap_or(0), b.as_i64().unwrap_or(0))
                }
                _ => Val::Other(Box::new(Value::Array(pair))),
            },
            other => Val::Other(Box::new(other)),
        }
    }

    fn into_value(self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Int(i) => Value::from(i),
            Val::Pair(a, b) => Value::Array(vec![Value::from(a), Value::from(b)]),
            Val::Other(v) => *v,
        }
    }
}

/// One event as [`LinearStream`] takes it: its names numbered (`key` and `node` plus one, 0
/// for none), by a worker's [`Tables`] until [`LinearStream::start_chunk`] turns them into
/// the stream's own numbers.
#[derive(Debug, PartialEq)]
struct Record {
    time: Option<u64>,
    process: Process,
    kind: EventType,
    f: u32,
    key: u32,
    node: u32,
    value: Val,
}

/// The names one worker numbered in one chunk.
#[derive(Default)]
struct Tables {
    fs: Names,
    keys: Names,
    nodes: Names,
}

impl Tables {
    /// The record of a line the scanner read, unless its value is not JSON.
    fn scanned(&mut self, line: Scanned<'_>) -> Option<Record> {
        let value = match line.value {
            RawValue::Null => Val::Null,
            RawValue::Int(i) => Val::Int(i),
            RawValue::Pair(a, b) => Val::Pair(a, b),
            // Such a value has integers that only `parse_event` reads exactly; the scanner
            // reads no other field that could hold one.
            RawValue::Json(text) if has_long_digit_run(text.as_bytes()) => return None,
            RawValue::Json(text) => Val::new(serde_json::from_str(text).ok()?),
        };
        Some(Record {
            time: line.time,
            process: line.process,
            kind: line.kind,
            f: self.fs.intern(line.f),
            key: line.key.map_or(0, |k| self.keys.intern(k) + 1),
            node: line.node.map_or(0, |n| self.nodes.intern(n) + 1),
            value,
        })
    }

    fn record(&mut self, line: Line<'_>) -> Record {
        Record {
            time: line.time,
            process: line.process,
            kind: line.kind,
            f: self.fs.intern(&line.f),
            key: line.key.map_or(0, |k| self.keys.intern(&k) + 1),
            node: line.node.map_or(0, |n| self.nodes.intern(&n) + 1),
            value: Val::new(line.value),
        }
    }
}

/// An op as the search needs it, with what its explanation names.
struct Slim {
    id: usize,
    process: u64,
    /// As [`Op::value`]: the completion's value for an `ok` completion that has one, else
    /// the invocation's.
    value: Val,
    invoke_pos: usize,
    complete_pos: Option<usize>,
    line: usize,
    invoke_time: Option<u64>,
    complete_time: Option<u64>,
    /// Index into [`Names`] of `f`s.
    f: u32,
    /// Index into [`Names`] of nodes, plus one; 0 is none.
    node: u32,
    outcome: Outcome,
}

/// The first block of a key's ops ([`KeyOps`]) holds this many; each next one twice as
/// many as the one before, up to [`MAX_BLOCK`].
const FIRST_BLOCK: usize = 16;
const MAX_BLOCK: usize = 4096;

/// One key's ops in invocation order, in blocks that never move: a key's million ops are
/// written once, not copied again each time a growing list outgrows its room, and a key
/// with few ops takes little room.
#[derive(Default)]
struct KeyOps {
    blocks: Vec<Vec<Slim>>,
    len: usize,
}

/// Where an op is among its key's: key index, block, place in the block.
#[derive(Clone, Copy)]
struct OpAt {
    key: u32,
    block: u32,
    at: u32,
}

impl KeyOps {
    /// Adds `op`; its block and place in the block.
    fn push(&mut self, op: Slim) -> (u32, u32) {
        let full = self.blocks.last().is_none_or(|b| b.len() == b.capacity());
        if full {
            let size = (FIRST_BLOCK << self.blocks.len().min(16)).min(MAX_BLOCK);
            self.blocks.push(Vec::with_capacity(size));
        }
        let block = self.blocks.len() - 1;
        self.blocks[block].push(op);
        self.len += 1;
        (block as u32, self.blocks[block].len() as u32 - 1)
    }

    fn iter(&self) -> impl Iterator<Item = &Slim> {
        self.blocks.iter().flatten()
    }
}

/// Pairs events into [`Slim`] ops grouped by key.
struct LinearStream<'m> {
    /// The `f`s the model knows: the first op with another `f` makes the history unreadable
    /// for it, as [`unknown_function`](crate::verdict::unknown_function) does.
    known: &'m [&'static str],
    /// Ops by key index; key 0 is "no key".
    keys: Vec<KeyOps>,
    key_names: Names,
    fs: Names,
    nodes: Names,
    /// The current chunk's numbers of `f`s, keys and nodes (as in [`Tables`]) to ours.
    chunk_fs: Vec<u32>,
    chunk_keys: Vec<u32>,
    chunk_nodes: Vec<u32>,
    /// Process -> its op in flight.
    open: FastMap<u64, OpAt>,
    /// Whether the model knows each `f` of [`LinearStream::fs`].
    known_fs: Vec<bool>,
    /// The first op whose `f` the model does not know: its message and line.
    unknown: Option<(usize, String)>,
    summary: StreamSummary,
}

impl<'m> LinearStream<'m> {
    fn new(known: &'m [&'static str]) -> LinearStream<'m> {
        LinearStream {
            known,
            keys: vec![KeyOps::default()],
            key_names: Names::default(),
            fs: Names::default(),
            nodes: Names::default(),
            chunk_fs: Vec::new(),
            chunk_keys: Vec::new(),
            chunk_nodes: Vec::new(),
            open: FastMap::default(),
            known_fs: Vec::new(),
            unknown: None,
            summary: StreamSummary::default(),
        }
    }

    fn key_index(&mut self, key: Option<&str>) -> u32 {
        let Some(key) = key else { return 0 };
        let i = self.key_names.intern(key) + 1;
        if i as usize == self.keys.len() {
            self.keys.push(KeyOps::default());
        }
        i
    }

    fn key_name(&self, key: u32) -> Option<&str> {
        key.checked_sub(1)
            .map(|k| self.key_names.names[k as usize].as_str())
    }

    /// The number of `f`, and whether the model knows it.
    fn f_index(&mut self, f: &str) -> u32 {
        let i = self.fs.intern(f);
        if i as usize == self.known_fs.len() {
            self.known_fs.push(self.known.contains(&f));
        }
        i
    }

    fn op(&self, at: OpAt) -> &Slim {
        &self.keys[at.key as usize].blocks[at.block as usize][at.at as usize]
    }

    fn f_name(&self, f: u32) -> &str {
        &self.fs.names[f as usize]
    }

    /// An event whose names carry our numbers.
    fn push_record(&mut self, line: usize, event: Record) -> Result<(), String> {
        let pos = self.summary.count(event.time);
        let Process::Client(process) = event.process else {
            return Ok(());
        };
        let Some(outcome) = event.kind.outcome() else {
            return self.invoke(line, pos, process, event);
        };
        let Some(at) = self.open.remove(&process) else {
            let f = self.f_name(event.f);
            return Err(pairing::no_invocation(event.kind, f, process));
        };
        let key = at.key;
        if event.key != 0 && event.key != key {
            let open_line = self.op(at).line;
            return Err(pairing::other_key(
                event.kind,
                process,
                self.key_name(event.key),
                open_line,
                self.key_name(key),
            ));
        }
        let op = self.op(at);
        if op.f != event.f {
            let warning = pairing::f_differs(
                line,
                self.f_name(event.f),
                process,
                self.f_name(op.f),
                op.line,
            );
            self.summary.warnings.push(warning);
        }
        let op = &mut self.keys[at.key as usize].blocks[at.block as usize][at.at as usize];
        op.outcome = outcome;
        op.complete_pos = Some(pos);
        op.complete_time = event.time;
        if outcome == Outcome::Ok && !matches!(event.value, Val::Null) {
            op.value = event.value;
        }
        if event.node != 0 {
            op.node = event.node;
        }
        Ok(())
    }

    fn invoke(
        &mut self,
        line: usize,
        pos: usize,
        process: u64,
        event: Record,
    ) -> Result<(), String> {
        if let Some(&at) = self.open.get(&process) {
            let open = self.op(at);
            return Err(pairing::still_in_flight(
                process,
                self.f_name(event.f),
                self.f_name(open.f),
                open.line,
            ));
        }
        if self.unknown.is_none() && !self.known_fs[event.f as usize] {
            let f = self.f_name(event.f);
            let message = unknown_function_message(f, process, "linearizable", self.known);
            self.unknown = Some((line, message));
        }
        let id = self.summary.ops;
        self.summary.ops += 1;
        let (block, at) = self.keys[event.key as usize].push(Slim {
            id,
            process,
            value: event.value,
            invoke_pos: pos,
            complete_pos: None,
            line,
            invoke_time: event.time,
            complete_time: None,
            f: event.f,
            node: event.node,
            outcome: Outcome::Info,
        });
        let at = OpAt {
            key: event.key,
            block,
            at,
        };
        self.open.insert(process, at);
        Ok(())
    }

    /// The nodes that served the ops, as [`StreamSummary::nodes`] lists them.
    fn served_nodes(&self) -> Vec<String> {
        let mut served = vec![false; self.nodes.names.len()];
        for op in self.keys.iter().flat_map(KeyOps::iter) {
            if let Some(n) = op.node.checked_sub(1) {
                served[n as usize] = true;
            }
        }
        self.nodes.marked(&served)
    }

    /// The ops of key `key`, rebuilt as the [`Op`]s a [`History`](crate::History) would hold
    /// (the parts the linearizability checker reads), in invocation order, into `ops`. The
    /// `Op`s already there are written over, so their strings are allocated once per worker
    /// rather than once per op.
    fn ops_of(&self, key: u32, ops: &mut Vec<Op>) {
        let key_name = self.key_name(key);
        let slims = &self.keys[key as usize];
        ops.truncate(slims.len);
        for (i, s) in slims.iter().enumerate() {
            let f = self.fs.names[s.f as usize].as_str();
            let node = s
                .node
                .checked_sub(1)
                .map(|n| self.nodes.names[n as usize].as_str());
            if i == ops.len() {
                ops.push(Op {
                    id: 0,
                    process: 0,
                    f: String::new(),
                    key: None,
                    value: Value::Null,
                    invoke_value: Value::Null,
                    complete_value: None,
                    outcome: Outcome::Info,
                    invoke_pos: 0,
                    complete_pos: None,
                    line: 0,
                    invoke_time: None,
                    complete_time: None,
                    node: None,
                    error: None,
                    response: None,
                });
            }
            let op = &mut ops[i];
            op.id = s.id;
            op.process = s.process;
            op.f.clear();
            op.f.push_str(f);
            set_name(&mut op.key, key_name);
            op.value = s.value.clone().into_value();
            op.outcome = s.outcome;
            op.invoke_pos = s.invoke_pos;
            op.complete_pos = s.complete_pos;
            op.line = s.line;
            op.invoke_time = s.invoke_time;
            op.complete_time = s.complete_time;
            set_name(&mut op.node, node);
        }
    }
}

/// Sets `slot` to `name`, in the string already there if there is one.
fn set_name(slot: &mut Option<String>, name: Option<&str>) {
    match (slot.as_mut(), name) {
        (Some(old), Some(name)) => {
            old.clear();
            old.push_str(name);
        }
        (_, name) => *slot = name.map(str::to_string),
    }
}

thread_local! {
    /// A search worker's [`Op`]s, reused from one key to the next ([`LinearStream::ops_of`]).
    static WORKER_OPS: RefCell<Vec<Op>> = const { RefCell::new(Vec::new()) };
}

/// A [`LinearStream`] being read, and where each nemesis event goes as it is read (none is
/// kept). Apart from the stream, which the search then shares among its workers. The
/// records are handed over on a thread of their own, hence `Send`.
struct Reading<'s, 'm> {
    stream: &'s mut LinearStream<'m>,
    on_nemesis: &'s mut (dyn FnMut(NemesisEvent) + Send),
}

impl ChunkSink for Reading<'_, '_> {
    type Record = Record;
    type Tables = Tables;

    /// Client lines only: a nemesis line is left to `parse_event` and read whole, as the
    /// [`History`](crate::History) would hold it, for whoever builds the fault windows.
    fn parse_fast(tables: &mut Tables, text: &str) -> Option<Record> {
        let record = match scan_event(text).and_then(|line| tables.scanned(line)) {
            Some(record) => record,
            None if has_long_digit_run(text.as_bytes()) => return None,
            None => tables.record(serde_json::from_str::<Line>(text).ok()?),
        };
        (record.process != Process::Nemesis).then_some(record)
    }

    fn start_chunk(&mut self, tables: Tables) {
        self.stream.start_chunk(tables);
    }

    fn push_fast(&mut self, line: usize, record: Record) -> Result<(), String> {
        self.stream.push_fast(line, record)
    }

    fn push(&mut self, line: usize, event: Event) -> Result<(), String> {
        if event.process == Process::Nemesis {
            let pos = self.stream.summary.count(event.time);
            (self.on_nemesis)(NemesisEvent { pos, event });
            return Ok(());
        }
        self.stream.push(line, event)
    }

    fn warn(&mut self, warning: String) {
        self.stream.summary.warnings.push(warning);
    }
}

impl LinearStream<'_> {
    /// Takes the names a worker numbered in the next chunk as ours.
    fn start_chunk(&mut self, tables: Tables) {
        self.chunk_fs.clear();
        for f in &tables.fs.names {
            let ours = self.f_index(f);
            self.chunk_fs.push(ours);
        }
        self.chunk_nodes.clear();
        for node in &tables.nodes.names {
            let ours = self.nodes.intern(node) + 1;
            self.chunk_nodes.push(ours);
        }
        self.chunk_keys.clear();
        for key in &tables.keys.names {
            let ours = self.key_index(Some(key));
            self.chunk_keys.push(ours);
        }
    }

    /// A record of the current chunk, its names renumbered as ours.
    fn push_fast(&mut self, line: usize, mut record: Record) -> Result<(), String> {
        record.f = self.chunk_fs[record.f as usize];
        if let Some(k) = record.key.checked_sub(1) {
            record.key = self.chunk_keys[k as usize];
        }
        if let Some(n) = record.node.checked_sub(1) {
            record.node = self.chunk_nodes[n as usize];
        }
        self.push_record(line, record)
    }

    /// A client event read by `parse_event`.
    fn push(&mut self, line: usize, event: Event) -> Result<(), String> {
        let record = Record {
            time: event.time,
            process: event.process,
            kind: event.kind,
            f: self.f_index(&event.f),
            key: self.key_index(event.key.as_deref()),
            node: event.node.map_or(0, |n| self.nodes.intern(&n) + 1),
            value: Val::new(event.value),
        };
        self.push_record(line, record)
    }
}

/// Reads a JSON Lines history and checks it for linearizability against `model`, each key on
/// its own and in parallel, never holding the whole history: the same result as reading it
/// and calling [`check_history`](super::check_history) with the anomalies' ops filled in
/// ([`OpRef::fill`]), in a fraction of the time and memory. Each nemesis event goes to
/// `on_nemesis` as it is read, as the `History` would hold it. The history's own errors,
/// and an op the model has no meaning for, are [`FormatError`]s naming the line.
pub fn check_jsonl(
    reader: impl BufRead,
    name: &str,
    model: ModelKind,
    options: &ModelOptions,
    budget: &Budget,
    on_nemesis: &mut (dyn FnMut(NemesisEvent) + Send),
) -> Result<(CheckResult, StreamSummary), FormatError> {
    let mut stream = LinearStream::new(model.functions());
    let mut reading = Reading {
        stream: &mut stream,
        on_nemesis,
    };
    let finished = stream_chunks(reader, name, budget, &mut reading)?;
    stream.summary.nodes = stream.served_nodes();
    if let Some((line, message)) = stream.unknown.take() {
        return Err(FormatError::at(name, line, message));
    }
    if !finished {
        let why = "the time budget ran out while reading the history";
        return Ok((CheckResult::unknown("linearizable", why), stream.summary));
    }
    let result = check_keys(&stream, model, options, budget);
    Ok((result, stream.summary))
}

/// The search over every key of `stream` (keys in the order of [`History::by_key`]).
///
/// [`History::by_key`]: crate::History::by_key
fn check_keys(
    stream: &LinearStream<'_>,
    model: ModelKind,
    options: &ModelOptions,
    budget: &Budget,
) -> CheckResult {
    let mut order: Vec<u32> = (0..stream.keys.len() as u32)
        .filter(|&k| stream.keys[k as usize].len > 0)
        .collect();
    order.sort_by(|&a, &b| stream.key_name(a).cmp(&stream.key_name(b)));
    let sizes: Vec<usize> = order.iter().map(|&k| stream.keys[k as usize].len).collect();
    let names: Vec<Option<&str>> = order.iter().map(|&k| stream.key_name(k)).collect();
    let memory_used = AtomicUsize::new(0);
    let failing: Mutex<HashMap<usize, OpRef>> = Mutex::new(HashMap::new());
    let search = SearchOptions::default();
    let reports = run_keys(&names, &sizes, budget, |i| {
        let mut ops = WORKER_OPS.take();
        stream.ops_of(order[i], &mut ops);
        let refs: Vec<&Op> = ops.iter().collect();
        let report = check_key(model, options, &refs, &search, budget, &memory_used);
        if let Some(failure) = &report.failure {
            if let Some(op) = ops.iter().find(|op| op.id == failure.failing_op) {
                let mut op_ref = OpRef::id(op.id);
                op_ref.fill_from(op);
                failing
                    .lock()
                    .expect("no panic holding it")
                    .insert(op.id, op_ref);
            }
        }
        drop(refs);
        WORKER_OPS.set(ops);
        report
    });
    WORKER_OPS.take();
    let mut result = summarize(model, reports);
    let failing = failing.into_inner().expect("workers are done");
    for op_ref in result.anomalies.iter_mut().flat_map(|a| a.ops.iter_mut()) {
        if let Some(filled) = failing.get(&op_ref.op) {
            *op_ref = filled.clone();
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record serde's reader makes of `line`, if it reads it.
    fn by_serde(line: &str) -> Option<Record> {
        let line = serde_json::from_str::<Line>(line).ok()?;
        Some(Tables::default().record(line))
    }

    fn by_scanner(line: &str) -> Option<Record> {
        Tables::default().scanned(scan_event(line)?)
    }

    #[test]
    fn the_scanner_reads_the_usual_lines_as_serde_does() {
        let usual = [
            r#"{"index":0,"time":91072,"process":22,"type":"invoke","f":"read","key":"k49","value":null}"#,
            r#"{"index":3,"time":5,"process":2,"type":"ok","f":"cas","key":"7","value":[1,2],"node":"n2"}"#,
            r#"{"process":0,"type":"fail","f":"write","value":-12,"error":{"why":["x\"]"]}}"#,
            r#"{"process":"nemesis","type":"info","f":"kill","value":{"n1":["n3"]},"time":null}"#,
            r#" { "process" : 1 , "type" : "ok" , "f" : "read" , "value" : 0 , "key" : null } "#,
            r#"{"process":1,"type":"ok","f":"read","value":"a string","response":{"status":200}}"#,
            r#"{"process":1,"type":"ok","f":"read","value":[1.5,true,-0]}"#,
            r#"{"process":1,"type":"ok","f":"read","value":-0}"#,
            r#"{"process":1,"type":"ok","f":"read","value":1e3}"#,
            r#"{"process":1,"type":"ok","f":"cas","value":[-3,40]}"#,
            r#"{"process":1,"type":"ok","f":"cas","value":[1, 2]}"#,
            r#"{"process":1,"type":"ok","f":"cas","value":[-0,2]}"#,
            r#"{"process":1,"type":"ok","f":"cas","value":[1,2.5]}"#,
            r#"{"process":1,"type":"ok","f":"cas","value":[1,2,3]}"#,
            r#"{"process":1,"type":"ok","f":"cas","value":[[1],2]}"#,
        ];
        for line in usual {
            let scanned = by_scanner(line);
            assert!(scanned.is_some(), "the scanner leaves a usual line: {line}");
            assert_eq!(scanned, by_serde(line), "{line}");
        }
    }

    #[test]
    fn a_keys_ops_come_back_in_order_from_where_they_were_put() {
        let mut ops = KeyOps::default();
        let mut places = Vec::new();
        for id in 0..20_000 {
            let op = Slim {
                id,
                process: 0,
                value: Val::Null,
                invoke_pos: id,
                complete_pos: None,
                line: 0,
                invoke_time: None,
                complete_time: None,
                f: 0,
                node: 0,
                outcome: Outcome::Info,
            };
            places.push(ops.push(op));
        }
        assert_eq!(ops.len, 20_000);
        let ids: Vec<usize> = ops.iter().map(|op| op.id).collect();
        assert_eq!(ids, (0..20_000).collect::<Vec<_>>());
        for (id, (block, at)) in places.into_iter().enumerate() {
            assert_eq!(ops.blocks[block as usize][at as usize].id, id);
        }
        // 16, 32, ... 2048, then blocks of 4096: none was grown after it was made.
        let sizes: Vec<usize> = ops.blocks.iter().map(Vec::capacity).collect();
        assert_eq!(&sizes[..9], &[16, 32, 64, 128, 256, 512, 1024, 2048, 4096]);
        assert!(sizes[9..].iter().all(|&s| s == 4096));
    }

    #[test]
    fn the_scanner_leaves_odd_lines_to_serde() {
        let odd = [
            r#"{"process":1,"type":"ok","f":"read","value":01}"#,
            r#"{"process":1,"type":"ok","f":"re\u0061d"}"#,
            r#"{"process":1,"type":"ok","f":"read","key":7}"#,
            r#"{"process":1,"type":"ok","f":"read","f":"write"}"#,
            r#"{"process":1,"type":"ok","f":"read","other":1}"#,
            r#"{"process":"1","type":"ok","f":"read"}"#,
            r#"{"process":-1,"type":"ok","f":"read"}"#,
            r#"{"process":1,"type":"okay","f":"read"}"#,
            r#"{"process":1,"type":"ok"}"#,
            r#"{"process":1,"type":"ok","f":"read"} x"#,
            r#"{"process":1,"type":"ok","f":"read","value":[1,2}"#,
            r#"{"process":1,"type":"ok","f":"read","error":[1,}"#,
            r#"{"process":1,"type":"ok","f":"read","value":[1,100000000000000000000]}"#,
            r#"{"process":1,"type":"ok","f":"k\u{e4}"}"#,
            r#"{"process":1,"type":"ok","f":"read","indexx":1}"#,
            r#"{"process":1,"type":"ok","f":"read","ind":1}"#,
            r#"{"process":1,"typ":"ok","f":"read"}"#,
            r#"{"process":1,"type":"ok","f":"re\"ad"}"#,
            r#"{"process":1,"type":"ok","f":"re	ad"}"#,
            r#"{"process":1,"type":"ok","f":"read"#,
        ];
        for line in odd {
            assert_eq!(by_scanner(line), None, "{line}");
        }
    }
}
