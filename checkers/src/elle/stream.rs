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
//! transaction order with one counting pass. Time and memory are linear in the file.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::BufRead;

use serde_json::Value;

use super::fast::{self, FastEvent, FastValue};
use super::txn::{KeyTable, Shape, Source, TxnMeta, Txns};
use crate::format::jsonl::{stream_into, EventSink};
use crate::format::FormatError;
use crate::history::{pairing, Event, EventType, Outcome, Process};
use crate::verdict::Budget;

/// What reading a history produced besides its transactions.
#[derive(Debug, Default)]
pub struct StreamSummary {
    /// Client operations, transactions or not.
    pub ops: usize,
    /// Events read, client and nemesis.
    pub events: usize,
    /// Problems that did not stop reading (a torn last line, a completion whose `f` differs).
    pub warnings: Vec<String>,
}

/// An invocation in flight.
struct Open {
    id: usize,
    txn: Option<u32>,
    line: usize,
    f: String,
    key: Option<String>,
    value: Payload,
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
    pub process: Process,
    pub kind: EventType,
    pub f: String,
    pub key: Option<String>,
    pub value: Payload,
}

impl From<Event> for Parts {
    fn from(e: Event) -> Parts {
        Parts {
            process: e.process,
            kind: e.kind,
            f: e.f,
            key: e.key,
            value: Payload::Json(e.value),
        }
    }
}

impl From<FastEvent<'_>> for Parts {
    fn from(e: FastEvent<'_>) -> Parts {
        Parts {
            process: e.process,
            kind: e.kind,
            f: e.f.into_owned(),
            key: e.key.map(Cow::into_owned),
            value: Payload::Fast(e.value),
        }
    }
}

/// Builds [`Txns`] from events in real-time order.
pub(crate) struct TxnStream {
    shape: Shape,
    txns: Txns,
    keys: KeyTable,
    open: HashMap<u64, Open>,
    /// Each transaction's micro-operations as `(start, end)` in `txns.mops`, once parsed.
    ranges: Vec<(u32, u32)>,
    /// The first input the checker cannot judge: reading goes on (the history's own errors
    /// still come first), the verdict will be unknown.
    pub bad: Option<String>,
    pub summary: StreamSummary,
}

impl TxnStream {
    pub fn new(shape: Shape) -> TxnStream {
        TxnStream {
            shape,
            txns: Txns::default(),
            keys: KeyTable::default(),
            open: HashMap::new(),
            ranges: Vec::new(),
            bad: None,
            summary: StreamSummary::default(),
        }
    }

    /// Adds the next event; an error breaks the history format (as [`HistoryBuilder`]'s).
    ///
    /// [`HistoryBuilder`]: crate::HistoryBuilder
    pub fn push_parts(&mut self, line: usize, event: Parts) -> Result<(), String> {
        let pos = self.summary.events;
        self.summary.events += 1;
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
        self.complete(&open, process, outcome, Some(pos), value);
        Ok(())
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
    pub fn finish(mut self) -> (Result<Txns, String>, StreamSummary) {
        let mut open: Vec<(u64, Open)> = std::mem::take(&mut self.open).into_iter().collect();
        open.sort_by_key(|(_, o)| o.id);
        for (process, mut o) in open {
            let value = std::mem::replace(&mut o.value, Payload::Json(Value::Null));
            self.complete(&o, process, Outcome::Info, None, &value);
        }
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
        (Ok(txns), self.summary)
    }
}

impl EventSink for TxnStream {
    type Fast<'a> = FastEvent<'a>;

    fn parse_fast(text: &[u8]) -> Option<FastEvent<'_>> {
        fast::parse(text)
    }

    fn push_fast(&mut self, line: usize, event: FastEvent<'_>) -> Result<(), String> {
        self.push_parts(line, event.into())
    }

    fn push(&mut self, line: usize, event: Event) -> Result<(), String> {
        self.push_parts(line, event.into())
    }

    fn warn(&mut self, warning: String) {
        self.summary.warnings.push(warning);
    }
}

/// Reads a JSON Lines history into [`Txns`]: the history's own errors as [`FormatError`]s
/// (as [`read_jsonl`](crate::format::jsonl::read_jsonl) gives them), input the checker cannot
/// judge, or a budget that ran out, as `Ok((Err(why), ..))`.
pub(crate) fn read_jsonl(
    reader: impl BufRead,
    name: &str,
    shape: Shape,
    budget: &Budget,
) -> Result<(Result<Txns, String>, StreamSummary), FormatError> {
    let mut stream = TxnStream::new(shape);
    if !stream_into(reader, name, budget, &mut stream)? {
        let why = "the time budget ran out while reading the transactions".to_string();
        return Ok((Err(why), stream.summary));
    }
    Ok(stream.finish())
}
