//! Anomaly names, the isolation levels each one rules out, the words that explain them, and
//! the assembly of a [`CheckResult`] from what the analyses found.
//!
//! # The `details` object of a transactional check
//!
//! ```json
//! {
//!   "model": "strict-serializable",
//!   "anomaly_types": ["G-single-realtime", "G1a"],
//!   "forbidden_types": ["G-single-realtime", "G1a"],
//!   "not": ["read-committed", "snapshot-isolation", "serializable", "strict-serializable"],
//!   "counts": {"G-single-realtime": 1, "G1a": 1},
//!   "anomalies": {
//!     "G-single-realtime": [{
//!       "explanation": "T4 (process 1) read x without 3, which T2 (process 0) appended; ...",
//!       "cycle": [
//!         {"op": 4, "process": 1, "edge": "rw", "key": "x", "value": 3, "to": 2},
//!         {"op": 2, "process": 0, "edge": "realtime", "key": null, "value": null, "to": 4}
//!       ]
//!     }],
//!     "G1a": [{"explanation": "...", "key": "x", "value": 9, "ops": [7, 3]}]
//!   },
//!   "stats": {"transactions": 10, "ok": 8, "info": 1, "fail": 1, "keys": 2,
//!             "edges": 31, "components": 1}
//! }
//! ```
//!
//! - `anomaly_types`: every kind found, in the order below; `forbidden_types`: those the
//!   chosen model forbids (they make the verdict `invalid`; the rest are notes).
//! - `not`: every isolation level the history rules out, weakest first.
//! - `anomalies`: up to [`MAX_PER_KIND`] instances per kind, each with an `explanation` and
//!   its evidence. A cycle is a list of steps; step *i* names a transaction by its op id
//!   (index into `History::ops`) and process, the `edge` from it to the next step's
//!   transaction (`to`), and for `ww`/`wr`/`rw` the `key` and `value` behind the edge (`ww`:
//!   the source's version; `wr`: the version read; `rw`: the version the source missed).
//!   The last step leads back to the first. Other anomalies list the `ops` involved.
//!
//! # Which level forbids what
//!
//! | anomaly | ruled out |
//! |---|---|
//! | G0, G1a, G1b, G1c, dirty-update, internal, future-read, duplicate-elements, incompatible-order, garbage-read | read-committed and everything above |
//! | G-single, G-nonadjacent, lost-update | snapshot-isolation, serializable, strict-serializable |
//! | G2-item | serializable, strict-serializable |
//! | any cycle kind with `-process` or `-realtime`, lost-append | strict-serializable |
//!
//! Process order is part of real-time order (a process runs one operation at a time), so
//! among these four levels a `-process` cycle, like a `-realtime` one, rules out only strict
//! serializability; it would also rule out the session variants (strong session
//! serializable, strong session snapshot isolation), which are not modelled here.
//! After Adya, Liskov and O'Neil, "Generalized Isolation Level Definitions" (ICDE 2000),
//! and Kingsbury and Alvaro, "Elle: Inferring Isolation Anomalies from Experimental
//! Observations" (VLDB 2020).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::verdict::{Anomaly, CheckResult, OpRef, Verdict};

use super::graph::{kind_name, Hop, PROCESS, REALTIME, WR, WW};
use super::txn::{Shape, Txns, NIL};
use super::ConsistencyModel;

/// Instances kept per kind in the result; the counts stay exact.
pub const MAX_PER_KIND: usize = 16;

/// The order anomaly kinds are listed in: non-cycle anomalies first, then cycles from the
/// most specific class down.
const KIND_ORDER: [&str; 26] = [
    "internal",
    "future-read",
    "duplicate-elements",
    "incompatible-order",
    "garbage-read",
    "G1a",
    "G1b",
    "dirty-update",
    "lost-update",
    "lost-append",
    "G0",
    "G1c",
    "G-single",
    "G-nonadjacent",
    "G2-item",
    "G0-process",
    "G1c-process",
    "G-single-process",
    "G-nonadjacent-process",
    "G2-item-process",
    "G0-realtime",
    "G1c-realtime",
    "G-single-realtime",
    "G-nonadjacent-realtime",
    "G2-item-realtime",
    "cycle",
];

/// The isolation levels an anomaly rules out (see the table in the module docs).
pub fn ruled_out(kind: &str) -> &'static [ConsistencyModel] {
    use ConsistencyModel::*;
    const ALL: &[ConsistencyModel] = &[
        ReadCommitted,
        SnapshotIsolation,
        Serializable,
        StrictSerializable,
    ];
    const SI_UP: &[ConsistencyModel] = &[SnapshotIsolation, Serializable, StrictSerializable];
    const SER_UP: &[ConsistencyModel] = &[Serializable, StrictSerializable];
    const STRICT: &[ConsistencyModel] = &[StrictSerializable];
    if kind.ends_with("-realtime") || kind.ends_with("-process") {
        return STRICT;
    }
    match kind {
        "G-single" | "G-nonadjacent" | "lost-update" => SI_UP,
        "G2-item" | "cycle" => SER_UP,
        "lost-append" => STRICT,
        _ => ALL,
    }
}

/// One anomaly found by an analysis, before the model decides whether it is forbidden.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    pub kind: String,
    pub explanation: String,
    /// Evidence: `ops`, `key`, `value`, or `cycle`.
    pub data: Value,
}

impl Found {
    pub fn new(kind: &str, explanation: String, data: Value) -> Found {
        Found {
            kind: kind.to_string(),
            explanation,
            data,
        }
    }
}

/// Names transactions in explanations: `T12 (process 3)` the first time, `T12` after.
pub(crate) struct Namer<'a> {
    txns: &'a Txns,
    named: Vec<u32>,
}

impl<'a> Namer<'a> {
    pub fn new(txns: &'a Txns) -> Namer<'a> {
        Namer {
            txns,
            named: Vec::new(),
        }
    }

    pub fn t(&mut self, txn: u32) -> String {
        let id = self.txns.op[txn as usize];
        if self.named.contains(&txn) {
            format!("T{id}")
        } else {
            self.named.push(txn);
            format!("T{id} (process {})", self.txns.meta[txn as usize].process)
        }
    }

    pub fn op_id(&self, txn: u32) -> usize {
        self.txns.op[txn as usize] as usize
    }

    pub fn key(&self, key: u32) -> String {
        self.txns.key_name(key)
    }
}

pub(crate) fn show(v: i64) -> String {
    if v == NIL {
        "nil".to_string()
    } else {
        v.to_string()
    }
}

/// Explains a cycle in words and as steps a report can draw.
pub(crate) fn describe_cycle(hops: &[Hop], kind: &str, txns: &Txns, shape: Shape) -> Found {
    let mut n = Namer::new(txns);
    let mut clauses = Vec::with_capacity(hops.len());
    let mut steps = Vec::with_capacity(hops.len());
    for hop in hops {
        let (a, b) = (n.t(hop.from), n.t(hop.to));
        let clause = match (hop.dep, shape) {
            (Some(d), Shape::List) => {
                let k = n.key(d.key);
                match d.kind {
                    WW => format!(
                        "{a} appended {} to {k} and {b} appended {} right after it",
                        d.value, d.other
                    ),
                    WR => format!("{a} appended {} to {k}, which {b} read", d.value),
                    _ => format!("{a} read {k} without {}, which {b} appended", d.value),
                }
            }
            (Some(d), Shape::Register) => {
                let k = n.key(d.key);
                match d.kind {
                    WW if d.realtime => format!(
                        "{a} wrote {} to {k} and completed before a read of {} began, so {b} \
                         wrote {} after it",
                        d.value, d.other, d.other
                    ),
                    WW => format!(
                        "{a} wrote {} to {k}, which {b} overwrote with {}",
                        d.value, d.other
                    ),
                    WR => format!("{a} wrote {} to {k}, which {b} read", d.value),
                    _ if d.realtime => format!(
                        "{a} read {} from {k}, which {b} overwrote with {} (its write began \
                         after {} had been written)",
                        show(d.other),
                        d.value,
                        show(d.other)
                    ),
                    _ => format!(
                        "{a} read {} from {k}, which {b} overwrote with {}",
                        show(d.other),
                        d.value
                    ),
                }
            }
            (None, _) if hop.kind == PROCESS => {
                format!("{a} completed before {b} began, on the same process")
            }
            (None, _) => format!("{a} completed before {b} began"),
        };
        clauses.push(clause);
        steps.push(CycleStep {
            op: n.op_id(hop.from),
            process: txns.meta[hop.from as usize].process,
            edge: kind_name(hop.kind).to_string(),
            key: hop.dep.map(|d| txns.keys[d.key as usize].clone()),
            value: hop.dep.map(|d| d.value),
            to: n.op_id(hop.to),
        });
    }
    let timed =
        |h: &Hop| h.kind == REALTIME || h.kind == PROCESS || h.dep.is_some_and(|d| d.realtime);
    let order = if hops.iter().any(timed) {
        "no order of the transactions consistent with real time"
    } else {
        "no serial order of the transactions"
    };
    Found::new(
        kind,
        format!(
            "{}: a cycle ({kind}), so {order} explains what they observed",
            clauses.join("; ")
        ),
        serde_json::to_value(Cycle { cycle: steps }).unwrap_or(Value::Null),
    )
}

/// A cycle as an anomaly's `data` holds it (see the module's `details` example): the
/// transactions in order, each with the edge that leads to the next; the last leads back to
/// the first. Read back with [`Cycle::from_json`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cycle {
    pub cycle: Vec<CycleStep>,
}

/// One step of a [`Cycle`]: a transaction and the dependency from it to the next one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CycleStep {
    /// The transaction, as an index into `History::ops`.
    pub op: usize,
    pub process: u64,
    /// `ww`, `wr`, `rw`, `process` or `realtime`.
    pub edge: String,
    /// The key behind a `ww`/`wr`/`rw` edge (`null` for order edges), as the history wrote
    /// it (a string, or a number in Jepsen histories).
    #[serde(default)]
    pub key: Option<Value>,
    /// `ww`: the source's version; `wr`: the version read; `rw`: the version the source
    /// missed (`null` for order edges).
    #[serde(default)]
    pub value: Option<i64>,
    /// The next step's transaction.
    pub to: usize,
}

impl Cycle {
    /// The cycle an anomaly's `data` (or a `details.anomalies` entry) holds; `None` when it
    /// holds none (a non-cycle anomaly, another checker's output).
    pub fn from_json(value: &Value) -> Option<Cycle> {
        Cycle::deserialize(value)
            .ok()
            .filter(|c| !c.cycle.is_empty())
    }
}

/// The transactions an anomaly's evidence names: its `ops`, or its cycle's steps.
fn op_refs(data: &Value) -> Vec<OpRef> {
    if let Some(cycle) = Cycle::from_json(data) {
        return cycle.cycle.iter().map(|s| OpRef::id(s.op)).collect();
    }
    data.get("ops")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .map(|id| OpRef::id(id as usize))
        .collect()
}

fn transactions(n: usize) -> String {
    if n == 1 {
        "1 transaction".to_string()
    } else {
        format!("{n} transactions")
    }
}

/// Names a group of transactions: `T1 and T2`, `T1, T2 and T3`.
pub(crate) fn and_list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Statistics and context that go into `details.stats`.
pub(crate) struct Stats {
    pub txns: usize,
    pub ok: usize,
    pub info: usize,
    pub fail: usize,
    pub keys: usize,
    pub edges: usize,
    pub components: usize,
}

/// Builds the check result: the model decides which anomalies are violations and which
/// are notes.
pub(crate) fn result(
    checker: &str,
    model: ConsistencyModel,
    mut found: Vec<Found>,
    stats: Stats,
    mut warnings: Vec<String>,
    incomplete: Option<String>,
) -> CheckResult {
    let rank = |k: &str| {
        KIND_ORDER
            .iter()
            .position(|x| *x == k)
            .unwrap_or(KIND_ORDER.len())
    };
    found.sort_by_key(|f| rank(&f.kind));
    let mut by_kind: BTreeMap<usize, (String, Vec<Found>)> = BTreeMap::new();
    for f in found {
        by_kind
            .entry(rank(&f.kind))
            .or_insert_with(|| (f.kind.clone(), Vec::new()))
            .1
            .push(f);
    }
    let kinds: Vec<&String> = by_kind.values().map(|(k, _)| k).collect();
    let forbidden: Vec<String> = kinds
        .iter()
        .filter(|k| ruled_out(k).contains(&model))
        .map(|k| k.to_string())
        .collect();
    let not: Vec<&str> = ConsistencyModel::ALL
        .into_iter()
        .filter(|level| kinds.iter().any(|k| ruled_out(k).contains(level)))
        .map(|level| level.name())
        .collect();
    let mut anomalies = Vec::new();
    let mut listed = Map::new();
    let mut counts = Map::new();
    for (kind, items) in by_kind.values() {
        counts.insert(kind.clone(), json!(items.len()));
        let is_forbidden = forbidden.contains(kind);
        if !is_forbidden {
            warnings.push(format!(
                "{} {kind} found, allowed by {}: {}",
                items.len(),
                model.name(),
                items[0].explanation
            ));
        }
        let mut shown = Vec::new();
        for f in items.iter().take(MAX_PER_KIND) {
            let mut entry = json!({ "explanation": f.explanation });
            if let (Value::Object(e), Value::Object(d)) = (&mut entry, &f.data) {
                e.extend(d.clone());
            }
            shown.push(entry);
            if is_forbidden {
                anomalies.push(Anomaly {
                    kind: kind.clone(),
                    explanation: f.explanation.clone(),
                    data: f.data.clone(),
                    ops: op_refs(&f.data),
                });
            }
        }
        listed.insert(kind.clone(), Value::Array(shown));
    }
    let verdict = if !forbidden.is_empty() {
        Verdict::Invalid
    } else if incomplete.is_some() {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let summary = match verdict {
        Verdict::Invalid => format!(
            "{} in {}; rules out {}",
            forbidden
                .iter()
                .map(|k| format!("{k} ({})", counts[k]))
                .collect::<Vec<_>>()
                .join(", "),
            transactions(stats.txns),
            not.join(", ")
        ),
        Verdict::Unknown => incomplete.clone().unwrap_or_default(),
        Verdict::Valid if kinds.is_empty() => format!(
            "{} over {} keys are {}",
            transactions(stats.txns),
            stats.keys,
            model.name()
        ),
        Verdict::Valid => format!(
            "{} are {}, though {} {} out {}",
            transactions(stats.txns),
            model.name(),
            kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if kinds.len() == 1 { "rules" } else { "rule" },
            not.join(", ")
        ),
    };
    let details = json!({
        "model": model.name(),
        "anomaly_types": kinds,
        "forbidden_types": forbidden,
        "not": not,
        "counts": counts,
        "anomalies": listed,
        "incomplete": incomplete,
        "stats": {
            "transactions": stats.txns,
            "ok": stats.ok,
            "info": stats.info,
            "fail": stats.fail,
            "keys": stats.keys,
            "edges": stats.edges,
            "components": stats.components,
        },
    });
    CheckResult {
        checker: checker.to_string(),
        verdict,
        summary,
        anomalies,
        details,
        warnings,
        duration_ms: None,
    }
}
