//! The compact form of a transactional history that both Elle checkers work on.
//!
//! A `txn` operation's value is a list of micro-operations, `[f, key, value]`:
//! `["append", k, v]` and `["r", k, [..]]` for list-append, `["w", k, v]` and `["r", k, v]`
//! for rw-register. Keys are strings or integers, values integers. Parsing turns them into
//! flat arrays of small integer ids — one [`Mop`] per micro-operation, list reads as ranges
//! of one shared element array, keys interned — so that the analyses that follow walk plain
//! vectors and never hash or allocate per micro-operation. Per transaction it also keeps
//! its op's process, outcome and positions ([`TxnMeta`]), so that the checks after parsing
//! need nothing else: about 100 bytes a transaction against some 2 KiB as `Op`s.
//!
//! Two ways in: [`Txns::parse`] from a [`History`], and the streaming reader of
//! [`stream`](super::stream), which fills the same arrays line by line.

use std::collections::HashMap;

use serde_json::Value;

use crate::history::{History, Op, Outcome};
use crate::verdict::Budget;

/// The version a register holds before any write: `null` in the history.
pub(crate) const NIL: i64 = i64::MIN;
/// The length of a read whose result is unknown (inside a crashed transaction).
pub(crate) const UNKNOWN: u32 = u32::MAX;

/// How a micro-operation's values are read: lists (list-append) or single values
/// (rw-register).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    List,
    Register,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MopKind {
    Append,
    Write,
    Read,
}

/// One micro-operation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mop {
    /// Index of its transaction in [`Txns`].
    pub txn: u32,
    /// Interned key id.
    pub key: u32,
    pub kind: MopKind,
    /// Append or write: the value. List read: start of its elements in [`Txns::elems`].
    /// Register read: the value read, or [`NIL`].
    pub value: i64,
    /// Reads: number of elements (1 for a register read), or [`UNKNOWN`].
    pub len: u32,
}

impl Mop {
    pub fn known(&self) -> bool {
        self.len != UNKNOWN
    }
}

/// Where a transaction sits in the history: what real-time and process order and the
/// explanations need of its op, so that nothing after parsing looks at the [`History`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TxnMeta {
    pub process: u64,
    pub outcome: Outcome,
    /// Positions of the invocation and the completion among all events.
    pub invoke_pos: usize,
    pub complete_pos: Option<usize>,
}

impl TxnMeta {
    pub fn of(op: &Op) -> TxnMeta {
        TxnMeta {
            process: op.process,
            outcome: op.outcome,
            invoke_pos: op.invoke_pos,
            complete_pos: op.complete_pos,
        }
    }

    /// True when this transaction certainly completed before `other` began.
    pub fn precedes(&self, other: &TxnMeta) -> bool {
        matches!(self.complete_pos, Some(c) if c < other.invoke_pos)
    }
}

/// A parsed history of transactions. Transaction `t` is op `op[t]` of the history (its
/// position among all client operations, in invocation order).
#[derive(Debug, Default)]
pub(crate) struct Txns {
    pub op: Vec<u32>,
    pub outcome: Vec<Outcome>,
    pub meta: Vec<TxnMeta>,
    /// `mops[mop_start[t]..mop_start[t + 1]]` are the micro-operations of transaction `t`.
    pub mop_start: Vec<u32>,
    pub mops: Vec<Mop>,
    pub elems: Vec<i64>,
    /// Each key as it appeared in the history, by id.
    pub keys: Vec<Value>,
    /// Micro-operation ids grouped by key: `key_mops[key_start[k]..key_start[k + 1]]`, in
    /// transaction order and, inside a transaction, in micro-operation order.
    pub key_start: Vec<u32>,
    pub key_mops: Vec<u32>,
    /// Operations that are not transactions (`f` other than `txn`), skipped.
    pub skipped: usize,
}

/// Input the checker cannot judge, with the operation it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub message: String,
}

/// The op a transaction came from, as parse errors name it.
pub(crate) struct Source {
    pub line: usize,
    pub process: u64,
    pub id: usize,
    pub outcome: Outcome,
}

impl Source {
    fn of(op: &Op) -> Source {
        Source {
            line: op.line,
            process: op.process,
            id: op.id,
            outcome: op.outcome,
        }
    }
}

#[derive(Default)]
pub(crate) struct KeyTable {
    by_str: HashMap<String, u32>,
    by_int: HashMap<i64, u32>,
    pub(crate) names: Vec<Value>,
}

impl KeyTable {
    /// A string key's id (the same as [`KeyTable::intern`] of it as JSON).
    pub(crate) fn intern_str(&mut self, key: &str) -> u32 {
        if let Some(&id) = self.by_str.get(key) {
            return id;
        }
        let id = self.names.len() as u32;
        self.by_str.insert(key.to_string(), id);
        self.names.push(Value::from(key));
        id
    }

    /// An integer key's id (the same as [`KeyTable::intern`] of it as JSON).
    pub(crate) fn intern_int(&mut self, key: i64) -> u32 {
        let next = self.names.len() as u32;
        let id = *self.by_int.entry(key).or_insert(next);
        if id == next {
            self.names.push(Value::from(key));
        }
        id
    }

    pub(crate) fn intern(&mut self, key: &Value) -> Option<u32> {
        let next = self.names.len() as u32;
        let id = match key {
            Value::String(s) => match self.by_str.get(s.as_str()) {
                Some(&id) => id,
                None => {
                    self.by_str.insert(s.clone(), next);
                    next
                }
            },
            Value::Number(n) => {
                let i = n.as_i64()?;
                *self.by_int.entry(i).or_insert(next)
            }
            _ => return None,
        };
        if id == next {
            self.names.push(key.clone());
        }
        Some(id)
    }
}

impl Txns {
    /// Parses every `txn` op; an error when one is malformed, or when the budget runs out
    /// (a dense history's reads can hold most of its elements).
    pub fn parse(history: &History, shape: Shape, budget: &Budget) -> Result<Txns, ParseError> {
        let mut txns = Txns {
            mop_start: vec![0],
            ..Txns::default()
        };
        let mut keys = KeyTable::default();
        for op in &history.ops {
            if budget.expired() {
                return Err(ParseError {
                    message: "the time budget ran out while reading the transactions".into(),
                });
            }
            if op.f != "txn" {
                txns.skipped += 1;
                continue;
            }
            let t = txns.op.len() as u32;
            txns.op.push(op.id as u32);
            txns.outcome.push(op.outcome);
            txns.meta.push(TxnMeta::of(op));
            txns.parse_mops(&Source::of(op), &op.value, t, shape, &mut keys)?;
            txns.mop_start.push(txns.mops.len() as u32);
        }
        txns.finish(keys);
        Ok(txns)
    }

    /// Ends parsing: the key names and the micro-operations grouped by key.
    pub(crate) fn finish(&mut self, keys: KeyTable) {
        self.keys = keys.names;
        self.group_by_key();
    }

    /// Parses the micro-operations of transaction `t` (given by `value`) onto the end of
    /// [`Txns::mops`].
    pub(crate) fn parse_mops(
        &mut self,
        op: &Source,
        value: &Value,
        t: u32,
        shape: Shape,
        keys: &mut KeyTable,
    ) -> Result<(), ParseError> {
        let fail = |what: &str| ParseError {
            message: format!(
                "line {}: transaction of process {} (op {}): {what}",
                op.line, op.process, op.id
            ),
        };
        let Value::Array(mops) = value else {
            return Err(fail("the value is not a list of micro-operations"));
        };
        for mop in mops {
            let Some([f, key, value]) = mop.as_array().and_then(|a| a.get(..3)) else {
                return Err(fail(&format!(
                    "micro-operation {mop} is not [f, key, value]"
                )));
            };
            let key = keys
                .intern(key)
                .ok_or_else(|| fail(&format!("key {key} is neither a string nor an integer")))?;
            let f = f.as_str().unwrap_or("");
            let integer = |v: &Value| {
                v.as_i64()
                    .filter(|&i| i != NIL)
                    .ok_or_else(|| fail(&format!("value {v} in {mop} is not an integer")))
            };
            let parsed = match (f, shape) {
                ("append", Shape::List) | ("w", Shape::Register) => Mop {
                    txn: t,
                    key,
                    kind: if shape == Shape::List {
                        MopKind::Append
                    } else {
                        MopKind::Write
                    },
                    value: integer(value)?,
                    len: 0,
                },
                ("r", _) => self.parse_read(op, t, key, value, shape, &integer)?,
                _ => {
                    let expected = match shape {
                        Shape::List => "`append` or `r`",
                        Shape::Register => "`w` or `r`",
                    };
                    return Err(fail(&format!("micro-operation {mop} is not {expected}")));
                }
            };
            self.mops.push(parsed);
        }
        Ok(())
    }

    fn parse_read(
        &mut self,
        op: &Source,
        t: u32,
        key: u32,
        value: &Value,
        shape: Shape,
        integer: &dyn Fn(&Value) -> Result<i64, ParseError>,
    ) -> Result<Mop, ParseError> {
        let mut mop = Mop {
            txn: t,
            key,
            kind: MopKind::Read,
            value: NIL,
            len: UNKNOWN,
        };
        // Reads inside a crashed or failed transaction are unknown, whatever they hold.
        if op.outcome != Outcome::Ok {
            return Ok(mop);
        }
        match (shape, value) {
            (Shape::List, Value::Null) => {
                mop.value = self.elems.len() as i64;
                mop.len = 0;
            }
            (Shape::List, Value::Array(items)) => {
                mop.value = self.elems.len() as i64;
                for item in items {
                    self.elems.push(integer(item)?);
                }
                mop.len = items.len() as u32;
            }
            (Shape::Register, Value::Null) => mop.len = 1,
            (Shape::Register, v) => {
                mop.value = integer(v)?;
                mop.len = 1;
            }
            (Shape::List, other) => {
                return Err(ParseError {
                    message: format!(
                        "line {}: transaction of process {} (op {}): read {other} is not a list",
                        op.line, op.process, op.id
                    ),
                })
            }
        }
        Ok(mop)
    }

    /// Counting sort of micro-operation ids by key; stable, so each key's list stays in
    /// transaction order.
    fn group_by_key(&mut self) {
        let mut start = vec![0u32; self.keys.len() + 1];
        for m in &self.mops {
            start[m.key as usize + 1] += 1;
        }
        for k in 0..self.keys.len() {
            start[k + 1] += start[k];
        }
        let mut fill = start.clone();
        let mut key_mops = vec![0u32; self.mops.len()];
        for (i, m) in self.mops.iter().enumerate() {
            let slot = &mut fill[m.key as usize];
            key_mops[*slot as usize] = i as u32;
            *slot += 1;
        }
        self.key_start = start;
        self.key_mops = key_mops;
    }

    pub fn len(&self) -> usize {
        self.op.len()
    }

    pub fn mops_of(&self, t: u32) -> &[Mop] {
        &self.mops[self.mop_start[t as usize] as usize..self.mop_start[t as usize + 1] as usize]
    }

    /// Micro-operation ids of key `k`.
    pub fn key_mop_ids(&self, k: usize) -> &[u32] {
        &self.key_mops[self.key_start[k] as usize..self.key_start[k + 1] as usize]
    }

    /// Key `k`'s writes of `kind` (appends or register writes), sorted by value: (value,
    /// micro-op id, whether it is the last such write of its transaction to `k`). A value
    /// written more than once gets a warning naming both ops; the first is taken as its
    /// writer.
    pub fn key_writes(
        &self,
        k: usize,
        kind: MopKind,
        warnings: &mut Vec<String>,
    ) -> Vec<(i64, u32, bool)> {
        let (verb, noun, model) = match kind {
            MopKind::Append => ("appended", "append", "list-append"),
            _ => ("written", "write", "rw-register"),
        };
        let mut writes = Vec::new();
        let mut last_txn = u32::MAX;
        for &m in self.key_mop_ids(k).iter().rev() {
            let mop = &self.mops[m as usize];
            if mop.kind == kind {
                writes.push((mop.value, m, mop.txn != last_txn));
                last_txn = mop.txn;
            }
        }
        writes.sort_unstable();
        if let Some(w) = writes.windows(2).find(|w| w[0].0 == w[1].0) {
            warnings.push(format!(
                "key {}: {} is {verb} more than once (ops {} and {}); {model} needs unique \
                 values, so the first {noun} is taken as its writer",
                self.key_name(k as u32),
                w[0].0,
                self.op[self.mops[w[0].1 as usize].txn as usize],
                self.op[self.mops[w[1].1 as usize].txn as usize],
            ));
        }
        writes
    }

    /// The elements of a known list read.
    pub fn list(&self, mop: &Mop) -> &[i64] {
        debug_assert!(mop.known() && mop.kind == MopKind::Read);
        let start = mop.value as usize;
        &self.elems[start..start + mop.len as usize]
    }

    /// Position of a micro-operation inside its transaction.
    pub fn index_in_txn(&self, mop_id: u32) -> u32 {
        mop_id - self.mop_start[self.mops[mop_id as usize].txn as usize]
    }

    /// The key as a person reads it: `x`, `42`.
    pub fn key_name(&self, k: u32) -> String {
        match &self.keys[k as usize] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}
