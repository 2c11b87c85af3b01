//! Reading a JSON Lines history straight into the per-key form the linearizability search
//! starts from, without building a [`History`](crate::History).
//!
//! A [`History`](crate::History) keeps every op as an [`Op`] of about 300 bytes (names,
//! key, node and three JSON values, each owned), which for a million ops is most of the
//! memory and, with the `serde_json::Value` trees of every line, most of the time of a
//! check. Here each line is parsed with borrowed strings, paired with its invocation by the
//! rules of [`HistoryBuilder`](crate::HistoryBuilder) (one op in flight per process, a
//! completion needs an invocation and names its invocation's key, a completion whose `f`
//! differs is a warning), and kept as a [`Slim`] op in its key's list: interned `f`, key
//! and node, the one value the op is judged by, positions, line and times. A key's [`Op`]s
//! are rebuilt only while that key is searched, so the search, its reductions and its
//! explanations are the very code [`check_history`](super::check_history) runs, and the
//! result is the same to the word (`tests/linear_stream.rs` holds the two paths to that);
//! only one key's [`Op`]s per worker exist at a time.
//!
//! Time and memory are linear in the file; memory is about 100 bytes an op.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::BufRead;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;

use super::{check_key, run_keys, summarize, SearchOptions};
use crate::format::jsonl::{has_long_digit_run, stream_into, EventSink, Names, StreamSummary};
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

impl From<Event> for Line<'static> {
    fn from(e: Event) -> Line<'static> {
        Line {
            index: e.index,
            time: e.time,
            process: e.process,
            kind: e.kind,
            f: Cow::Owned(e.f),
            key: e.key.map(Cow::Owned),
            value: e.value,
            node: e.node.map(Cow::Owned),
            error: None,
            response: None,
        }
    }
}

/// An op as the search needs it, with what its explanation names.
struct Slim {
    id: usize,
    process: u64,
    /// As [`Op::value`]: the completion's value for an `ok` completion that has one, else
    /// the invocation's.
    value: Value,
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

/// Pairs events into [`Slim`] ops grouped by key.
struct LinearStream<'m> {
    /// The `f`s the model knows: the first op with another `f` makes the history unreadable
    /// for it, as [`unknown_function`](crate::verdict::unknown_function) does.
    known: &'m [&'static str],
    /// Ops by key index; key 0 is "no key".
    keys: Vec<Vec<Slim>>,
    key_names: Names,
    fs: Names,
    nodes: Names,
    /// Process -> (key index, index in that key's ops).
    open: FastMap<u64, (u32, u32)>,
    /// The first op whose `f` the model does not know: its message and line.
    unknown: Option<(usize, String)>,
    summary: StreamSummary,
}

impl<'m> LinearStream<'m> {
    fn new(known: &'m [&'static str]) -> LinearStream<'m> {
        LinearStream {
            known,
            keys: vec![Vec::new()],
            key_names: Names::default(),
            fs: Names::default(),
            nodes: Names::default(),
            open: FastMap::default(),
            unknown: None,
            summary: StreamSummary::default(),
        }
    }

    fn key_index(&mut self, key: Option<&str>) -> u32 {
        let Some(key) = key else { return 0 };
        let i = self.key_names.intern(key) + 1;
        if i as usize == self.keys.len() {
            self.keys.push(Vec::new());
        }
        i
    }

    fn key_name(&self, key: u32) -> Option<&str> {
        key.checked_sub(1)
            .map(|k| self.key_names.names[k as usize].as_str())
    }

    fn push_line(&mut self, line: usize, event: Line<'_>) -> Result<(), String> {
        let pos = self.summary.count(event.time);
        let Process::Client(process) = event.process else {
            return Ok(());
        };
        let Some(outcome) = event.kind.outcome() else {
            return self.invoke(line, pos, process, event);
        };
        let Some((key, at)) = self.open.remove(&process) else {
            return Err(pairing::no_invocation(event.kind, &event.f, process));
        };
        let open_key = self.key_name(key);
        if event.key.is_some() && event.key.as_deref() != open_key {
            let open_line = self.keys[key as usize][at as usize].line;
            let key = event.key.as_deref();
            return Err(pairing::other_key(
                event.kind, process, key, open_line, open_key,
            ));
        }
        let node = match &event.node {
            Some(node) => Some(self.nodes.intern(node) + 1),
            None => None,
        };
        let op = &mut self.keys[key as usize][at as usize];
        let open_f = &self.fs.names[op.f as usize];
        if *open_f != event.f {
            let warning = pairing::f_differs(line, &event.f, process, open_f, op.line);
            self.summary.warnings.push(warning);
        }
        op.outcome = outcome;
        op.complete_pos = Some(pos);
        op.complete_time = event.time;
        if outcome == Outcome::Ok && !event.value.is_null() {
            op.value = event.value;
        }
        if let Some(node) = node {
            op.node = node;
        }
        Ok(())
    }

    fn invoke(
        &mut self,
        line: usize,
        pos: usize,
        process: u64,
        event: Line<'_>,
    ) -> Result<(), String> {
        if let Some(&(key, at)) = self.open.get(&process) {
            let open = &self.keys[key as usize][at as usize];
            let open_f = &self.fs.names[open.f as usize];
            return Err(pairing::still_in_flight(
                process, &event.f, open_f, open.line,
            ));
        }
        if self.unknown.is_none() && !self.known.contains(&&*event.f) {
            let message = unknown_function_message(&event.f, process, "linearizable", self.known);
            self.unknown = Some((line, message));
        }
        let id = self.summary.ops;
        self.summary.ops += 1;
        let key = self.key_index(event.key.as_deref());
        let f = self.fs.intern(&event.f);
        let node = match &event.node {
            Some(node) => self.nodes.intern(node) + 1,
            None => 0,
        };
        let ops = &mut self.keys[key as usize];
        self.open.insert(process, (key, ops.len() as u32));
        ops.push(Slim {
            id,
            process,
            value: event.value,
            invoke_pos: pos,
            complete_pos: None,
            line,
            invoke_time: event.time,
            complete_time: None,
            f,
            node,
            outcome: Outcome::Info,
        });
        Ok(())
    }

    /// The nodes that served the ops, as [`StreamSummary::nodes`] lists them.
    fn served_nodes(&self) -> Vec<String> {
        let mut served = vec![false; self.nodes.names.len()];
        for op in self.keys.iter().flatten() {
            if let Some(n) = op.node.checked_sub(1) {
                served[n as usize] = true;
            }
        }
        self.nodes.marked(&served)
    }

    /// The ops of key `key`, rebuilt as the [`Op`]s a [`History`](crate::History) would hold
    /// (the parts the linearizability checker reads), in invocation order.
    fn ops_of(&self, key: u32, slims: Vec<Slim>) -> Vec<Op> {
        let key_name = self.key_name(key).map(str::to_string);
        slims
            .into_iter()
            .map(|s| Op {
                id: s.id,
                process: s.process,
                f: self.fs.names[s.f as usize].clone(),
                key: key_name.clone(),
                value: s.value,
                invoke_value: Value::Null,
                complete_value: None,
                outcome: s.outcome,
                invoke_pos: s.invoke_pos,
                complete_pos: s.complete_pos,
                line: s.line,
                invoke_time: s.invoke_time,
                complete_time: s.complete_time,
                node: s
                    .node
                    .checked_sub(1)
                    .map(|n| self.nodes.names[n as usize].clone()),
                error: None,
                response: None,
            })
            .collect()
    }
}

/// A [`LinearStream`] being read, and where each nemesis event goes as it is read (none is
/// kept). Apart from the stream, which the search then shares among its workers.
struct Reading<'s, 'm> {
    stream: &'s mut LinearStream<'m>,
    on_nemesis: &'s mut dyn FnMut(NemesisEvent),
}

impl EventSink for Reading<'_, '_> {
    type Fast<'a> = Line<'a>;

    /// Client lines only: a nemesis line is read whole, as the [`History`](crate::History)
    /// would hold it, for whoever builds the fault windows.
    fn parse_fast(text: &[u8]) -> Option<Line<'_>> {
        if has_long_digit_run(text) {
            return None;
        }
        serde_json::from_slice::<Line>(text)
            .ok()
            .filter(|l| l.process != Process::Nemesis)
    }

    fn push_fast(&mut self, line: usize, event: Line<'_>) -> Result<(), String> {
        self.stream.push_line(line, event)
    }

    fn push(&mut self, line: usize, event: Event) -> Result<(), String> {
        if event.process == Process::Nemesis {
            let pos = self.stream.summary.count(event.time);
            (self.on_nemesis)(NemesisEvent { pos, event });
            return Ok(());
        }
        self.stream.push_line(line, event.into())
    }

    fn warn(&mut self, warning: String) {
        self.stream.summary.warnings.push(warning);
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
    on_nemesis: &mut dyn FnMut(NemesisEvent),
) -> Result<(CheckResult, StreamSummary), FormatError> {
    let mut stream = LinearStream::new(model.functions());
    let mut reading = Reading {
        stream: &mut stream,
        on_nemesis,
    };
    let finished = stream_into(reader, name, budget, &mut reading)?;
    stream.summary.nodes = stream.served_nodes();
    if let Some((line, message)) = stream.unknown.take() {
        return Err(FormatError::at(name, line, message));
    }
    if !finished {
        let why = "the time budget ran out while reading the history";
        return Ok((CheckResult::unknown("linearizable", why), stream.summary));
    }
    let result = check_keys(&mut stream, model, options, budget);
    Ok((result, stream.summary))
}

/// The search over every key of `stream` (keys in the order of [`History::by_key`]).
///
/// [`History::by_key`]: crate::History::by_key
fn check_keys(
    stream: &mut LinearStream<'_>,
    model: ModelKind,
    options: &ModelOptions,
    budget: &Budget,
) -> CheckResult {
    let mut order: Vec<u32> = (0..stream.keys.len() as u32)
        .filter(|&k| !stream.keys[k as usize].is_empty())
        .collect();
    order.sort_by(|&a, &b| stream.key_name(a).cmp(&stream.key_name(b)));
    let slots: Vec<Mutex<Vec<Slim>>> = order
        .iter()
        .map(|&k| Mutex::new(std::mem::take(&mut stream.keys[k as usize])))
        .collect();
    let sizes: Vec<usize> = slots
        .iter()
        .map(|s| s.lock().expect("not shared yet").len())
        .collect();
    let stream = &*stream;
    let names: Vec<Option<&str>> = order.iter().map(|&k| stream.key_name(k)).collect();
    let memory_used = AtomicUsize::new(0);
    let failing: Mutex<HashMap<usize, OpRef>> = Mutex::new(HashMap::new());
    let search = SearchOptions::default();
    let reports = run_keys(&names, &sizes, budget, |i| {
        let slims = std::mem::take(&mut *slots[i].lock().expect("each key is taken once"));
        let ops = stream.ops_of(order[i], slims);
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
        // The key's ops go here, on the worker, rather than all at the end.
        drop(refs);
        drop(ops);
        report
    });
    let mut result = summarize(model, reports);
    let failing = failing.into_inner().expect("workers are done");
    for op_ref in result.anomalies.iter_mut().flat_map(|a| a.ops.iter_mut()) {
        if let Some(filled) = failing.get(&op_ref.op) {
            *op_ref = filled.clone();
        }
    }
    result
}
