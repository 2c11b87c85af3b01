//! Reading a JSON Lines history straight into the compact form of [`Txns`], one line at a
//! time, without building a [`History`](crate::History).
//!
//! A history of a million transactions held as [`Op`](crate::Op)s keeps every value twice
//! as nested JSON (the invocation's and the completion's): about 2 KiB a transaction, where
//! the compact form needs under 100 bytes. Here each line is parsed, paired with its
//! invocation by the rules of [`HistoryBuilder`](crate::HistoryBuilder) (one op in flight per
//! process, a completion needs an invocation, a completion names its invocation's key), and
//! its micro-operations land in flat arrays at once; only the invocations in flight (one per
//! process) keep their JSON value until they complete.
//!
//! Micro-operations arrive in completion order; [`TxnStream::finish`] moves them into
//! transaction order with one counting pass. Beside each transaction the stream keeps where
//! it ran ([`Places`]: its line, node and times, 32 bytes) so that the ops an anomaly names
//! can be placed as the `History` path places them; nemesis events are handed on as they
//! are read, never kept. Time and memory are linear in the file.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::BufRead;

use serde_json::Value;

use super::fast::{self, FastEvent, FastValue};
use super::txn::{KeyTable, Shape, Source, TxnMeta, Txns};
use crate::format::jsonl::{stream_into, EventSink, Names, StreamSummary};
use crate::format::FormatError;
use crate::history::{pairing, Event, EventType, NemesisEvent, Outcome, Process};
use crate::verdict::{Budget, CheckResult};

/// An invocation in flight.
struct Open {
    id: usize,
    txn: Option<u32>,
    line: usize,
    f: String,
    key: Option<String>,
    value: Payload,
    /// The invocation's node: its number in [`Places::nodes`] plus one; 0 is none.
    node: u32,
}

/// Where one transaction ran: what [`OpRef::fill_from`](crate::OpRef::fill_from) takes
/// from its op.
#[derive(Clone, Copy)]
struct Place {
    line: usize,
    /// Nanoseconds on the history's clock; [`NO_TIME`] when the event had none.
    invoke_ns: u64,
    complete_ns: u64,
    /// As [`Open::node`]: the completion's node, else the invocation's.
    node: u32,
}

// The per-transaction cost the module's doc and the README's figures state.
const _: () = assert!(std::mem::size_of::<Place>() == 32);

/// A `time` the event did not carry (a time of `u64::MAX` ns, 584 years, is not a time).
const NO_TIME: u64 = u64::MAX;

fn time_of(ns: Option<u64>) -> u64 {
    ns.unwrap_or(NO_TIME)
}

fn ns_of(time: u64) -> Option<u64> {
    (time != NO_TIME).then_some(time)
}

/// The transactions read and where each ran, or why the checker cannot judge them.
pub(crate) type Read = Result<(Txns, Places), String>;

/// Where each transaction ran, by transaction number, and the nodes they name.
#[derive(Default)]
pub(crate) struct Places {
    places: Vec<Place>,
    nodes: Names,
}

impl Places {
    /// Fills the ops `result`'s anomalies name (transactions of `txns`) as
    /// [`fill_op_refs`](crate::fill_op_refs) does from a `History`: line, process, node and
    /// times. An op that is no transaction of `txns` is left bare.
    pub fn fill(&self, txns: &Txns, result: &mut CheckResult) {
        for op_ref in result.anomalies.iter_mut().flat_map(|a| a.ops.iter_mut()) {
            // Transactions are numbered in invocation order, as their ops are.
            let Ok(t) = txns.op.binary_search(&(op_ref.op as u32)) else {
                continue;
            };
            let Some(place) = self.places.get(t) else {
                continue;
            };
            op_ref.node = place
                .node
                .checked_sub(1)
                .map(|n| self.nodes.names[n as usize].clone());
            let (start, end) = (ns_of(place.invoke_ns), ns_of(place.complete_ns));
            op_ref.fill_times(place.line, txns.meta[t].process, start, end);
        }
    }
}

/// An event's value: read the fast way, or as JSON.
pub(crate) enum Payload {
    Fast(FastValue),
    Json(Value),
}

impl Payload {
    fn is_null(&self) -> bool {
        match self {
            Payload::Fast(v) => v.null,
            Payload::Json(v) => v.is_null(),
        }
    }
}

/// The parts of an event the stream uses.
pub(crate) struct Parts {
    pub time: Option<u64>,
    pub process: Process,
    pub kind: EventType,
    pub f: String,
    pub key: Option<String>,
    pub value: Payload,
    pub node: Option<String>,
}

impl From<Event> for Parts {
    fn from(e: Event) -> Parts {
        Parts {
            time: e.time,
            process: e.process,
            kind: e.kind,
            f: e.f,
            key: e.key,
            value: Payload::Json(e.value),
            node: e.node,
        }
    }
}

impl From<FastEvent<'_>> for Parts {
    fn from(e: FastEvent<'_>) -> Parts {
        Parts {
            time: e.time,
            process: e.process,
            kind: e.kind,
            f: e.f.into_owned(),
            key: e.key.map(Cow::into_owned),
            value: Payload::Fast(e.value),
            node: e.node,
        }
    }
}

/// Builds [`Txns`] from events in real-time order.
pub(crate) struct TxnStream<'h> {
    shape: Shape,
    txns: Txns,
    keys: KeyTable,
    open: HashMap<u64, Open>,
    /// Each transaction's micro-operations as `(start, end)` in `txns.mops`, once parsed.
    ranges: Vec<(u32, u32)>,
    places: Places,
    /// By node number: whether the node served an op (see [`StreamSummary::nodes`]).
    served: Vec<bool>,
    /// The first input the checker cannot judge: reading goes on (the history's own errors
    /// still come first), the verdict will be unknown.
    pub bad: Option<String>,
    pub summary: StreamSummary,
    /// Where each nemesis event goes as it is read; none is kept here.
    on_nemesis: &'h mut dyn FnMut(NemesisEvent),
}

impl<'h> TxnStream<'h> {
    pub fn new(shape: Shape, on_nemesis: &'h mut dyn FnMut(NemesisEvent)) -> TxnStream<'h> {
        TxnStream {
            shape,
            txns: Txns::default(),
            keys: KeyTable::default(),
            open: HashMap::new(),
            ranges: Vec::new(),
            places: Places::default(),
            served: Vec::new(),
            bad: None,
            summary: StreamSummary::default(),
            on_nemesis,
        }
    }

    /// Adds the next event; an error breaks the history format (as [`HistoryBuilder`]'s).
    ///
    /// [`HistoryBuilder`]: crate::HistoryBuilder
    pub fn push_parts(&mut self, line: usize, event: Parts) -> Result<(), String> {
        let pos = self.summary.count(event.time);
        let Process::Client(process) = event.process else {
            return Ok(());
        };
        let Some(outcome) = event.kind.outcome() else {
            return self.invoke(line, pos, process, event);
        };
        let Some(open) = self.open.remove(&process) else {
            return Err(pairing::no_invocation(event.kind, &event.f, process));
        };
        if event.key.is_some() && event.key != open.key {
            let (key, open_key) = (event.key.as_deref(), open.key.as_deref());
            return Err(pairing::other_key(
                event.kind, process, key, open.line, open_key,
            ));
        }
        if open.f != event.f {
            let warning = pairing::f_differs(line, &event.f, process, &open.f, open.line);
            self.summary.warnings.push(warning);
        }
        let value = match outcome {
            Outcome::Ok if !event.value.is_null() => &event.value,
            _ => &open.value,
        };
        let node = match event.node.as_deref() {
            Some(node) => self.places.nodes.intern(node) + 1,
            None => open.node,
        };
        self.served_by(node);
        if let Some(t) = open.txn {
            let place = &mut self.places.places[t as usize];
            place.node = node;
            place.complete_ns = time_of(event.time);
        }
        self.complete(&open, process, outcome, Some(pos), value);
        Ok(())
    }

    /// Notes that node `node` (a number plus one; 0 is none) served an op.
    fn served_by(&mut self, node: u32) {
        let Some(n) = node.checked_sub(1) else { return };
        let n = n as usize;
        if self.served.len() <= n {
            self.served.resize(n + 1, false);
        }
        self.served[n] = true;
    }

    fn invoke(
        &mut self,
        line: usize,
        pos: usize,
        process: u64,
        event: Parts,
    ) -> Result<(), String> {
        if let Some(open) = self.open.get(&process) {
            return Err(pairing::still_in_flight(
                process, &event.f, &open.f, open.line,
            ));
        }
        let id = self.summary.ops;
        self.summary.ops += 1;
        let node = match event.node.as_deref() {
            Some(node) => self.places.nodes.intern(node) + 1,
            None => 0,
        };
        let txn = (event.f == "txn").then(|| {
            let t = self.txns.op.len() as u32;
            self.txns.op.push(id as u32);
            self.txns.outcome.push(Outcome::Info);
            self.txns.meta.push(TxnMeta {
                process,
                outcome: Outcome::Info,
                invoke_pos: pos,
                complete_pos: None,
            });
            self.ranges.push((0, 0));
            self.places.places.push(Place {
                line,
                invoke_ns: time_of(event.time),
                complete_ns: NO_TIME,
                node,
            });
            t
        });
        if txn.is_none() {
            self.txns.skipped += 1;
        }
        self.open.insert(
            process,
            Open {
                id,
                txn,
                line,
                f: event.f,
                key: event.key,
                value: event.value,
                node,
            },
        );
        Ok(())
    }

    fn complete(
        &mut self,
        open: &Open,
        process: u64,
        outcome: Outcome,
        pos: Option<usize>,
        value: &Payload,
    ) {
        let Some(t) = open.txn else { return };
        let meta = &mut self.txns.meta[t as usize];
        meta.outcome = outcome;
        meta.complete_pos = pos;
        self.txns.outcome[t as usize] = outcome;
        if self.bad.is_some() {
            return;
        }
        let source = Source {
            line: open.line,
            process,
            id: open.id,
            outcome,
        };
        let start = self.txns.mops.len() as u32;
        let (txns, keys, shape) = (&mut self.txns, &mut self.keys, self.shape);
        let parsed = match value {
            Payload::Fast(v) if txns.parse_fast_mops(&source, v, t, shape, keys) => Ok(()),
            Payload::Fast(v) => txns.parse_mops(&source, &v.to_json(), t, shape, keys),
            Payload::Json(v) => txns.parse_mops(&source, v, t, shape, keys),
        };
        match parsed {
            Ok(()) => self.ranges[t as usize] = (start, self.txns.mops.len() as u32),
            Err(e) => self.bad = Some(e.message),
        }
    }

    /// Ends the history: invocations still open count as crashed; the micro-operations are
    /// put in transaction order and grouped by key.
    pub fn finish(mut self) -> (Read, StreamSummary) {
        let mut open: Vec<(u64, Open)> = std::mem::take(&mut self.open).into_iter().collect();
        open.sort_by_key(|(_, o)| o.id);
        for (process, mut o) in open {
            self.served_by(o.node);
            let value = std::mem::replace(&mut o.value, Payload::Json(Value::Null));
            self.complete(&o, process, Outcome::Info, None, &value);
        }
        self.summary.nodes = self.places.nodes.marked(&self.served);
        if let Some(bad) = self.bad {
            return (Err(bad), self.summary);
        }
        let mut txns = std::mem::take(&mut self.txns);
        let mut mops = Vec::with_capacity(txns.mops.len());
        txns.mop_start = Vec::with_capacity(self.ranges.len() + 1);
        txns.mop_start.push(0);
        for &(start, end) in &self.ranges {
            mops.extend_from_slice(&txns.mops[start as usize..end as usize]);
            txns.mop_start.push(mops.len() as u32);
        }
        // Keys were numbered in completion order; number them by first appearance in
        // transaction order, as parsing a `History` does, so that every later pass walks
        // keys in the same order and picks the same witnesses.
        let mut renumber = vec![u32::MAX; self.keys.names.len()];
        let mut names = Vec::with_capacity(self.keys.names.len());
        for mop in &mut mops {
            let new = &mut renumber[mop.key as usize];
            if *new == u32::MAX {
                *new = names.len() as u32;
                names.push(std::mem::take(&mut self.keys.names[mop.key as usize]));
            }
            mop.key = *new;
        }
        self.keys.names = names;
        txns.mops = mops;
        txns.finish(self.keys);
        (Ok((txns, self.places)), self.summary)
    }
}

impl EventSink for TxnStream<'_> {
    type Fast<'a> = FastEvent<'a>;

    /// Client lines only: a nemesis line is read whole, as the [`History`](crate::History)
    /// would hold it, for whoever builds the fault windows.
    fn parse_fast(text: &[u8]) -> Option<FastEvent<'_>> {
        let event = match std::str::from_utf8(text).ok().and_then(fast::scan) {
            Some(event) => Some(event),
            None => fast::parse(text),
        };
        event.filter(|e| e.process != Process::Nemesis)
    }

    fn push_fast(&mut self, line: usize, event: FastEvent<'_>) -> Result<(), String> {
        self.push_parts(line, event.into())
    }

    fn push(&mut self, line: usize, event: Event) -> Result<(), String> {
        if event.process == Process::Nemesis {
            let pos = self.summary.count(event.time);
            (self.on_nemesis)(NemesisEvent { pos, event });
            return Ok(());
        }
        self.push_parts(line, event.into())
    }

    fn warn(&mut self, warning: String) {
        self.summary.warnings.push(warning);
    }
}

/// Reads a JSON Lines history into [`Txns`] and where each transaction ran, handing each
/// nemesis event to `on_nemesis` as it is read: the history's own errors as [`FormatError`]s
/// (as [`read_jsonl`](crate::format::jsonl::read_jsonl) gives them), input the checker cannot
/// judge, or a budget that ran out, as `Ok((Err(why), ..))`.
pub(crate) fn read_jsonl(
    reader: impl BufRead,
    name: &str,
    shape: Shape,
    budget: &Budget,
    on_nemesis: &mut dyn FnMut(NemesisEvent),
) -> Result<(Read, StreamSummary), FormatError> {
    let mut stream = TxnStream::new(shape, on_nemesis);
    if !stream_into(reader, name, budget, &mut stream)? {
        let why = "the time budget ran out while reading the transactions".to_string();
        return Ok((Err(why), stream.summary));
    }
    Ok(stream.finish())
}
