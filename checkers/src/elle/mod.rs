//! Transactional checking, Elle-style: list-append and rw-register.
//!
//! A transactional history is a set of `txn` operations, each a list of micro-operations
//! on keys. The checker never sees the database's internal order; it *infers* a
//! dependency graph between transactions from what they observed (Adya's `ww`, `wr` and
//! `rw` dependencies), adds the orders the clients saw (`process`: one process's
//! transactions in turn; `realtime`: one transaction completed before another began), and
//! looks for cycles. A cycle means no order of the transactions — serial, or consistent with
//! real time — explains the observations.
//!
//! ```text
//!   process 0:  [T1 append x 3, r y []]---------ok
//!   process 1:      [T2 append y 5, r x []]--------ok
//!
//!   T1 --rw(y: missed 5)--> T2 --rw(x: missed 3)--> T1        G2-item (write skew)
//! ```
//!
//! The data types make dependencies recoverable: in **list-append** ([`list_append`]) a
//! read returns the whole list, which reveals each key's version order; in **rw-register**
//! ([`rw_register`]) writes are unique, so a read names its writer, and the order of
//! versions is known only where the history proves it.
//!
//! Anomalies, with the names printed (see [`anomaly`] for the isolation levels each rules
//! out and the JSON schema of the result's `details`):
//!
//! - cycles, named by the most specific class they belong to: `G0` (write cycle), `G1c`
//!   (circular information flow), `G-single` (exactly one anti-dependency), `G-nonadjacent`
//!   (several, none adjacent), `G2-item` (anti-dependency cycle), each with `-process` or
//!   `-realtime` when the cycle needs those order edges;
//! - without a cycle: `G1a`, `G1b`, `dirty-update`, `internal`, `future-read`,
//!   `duplicate-elements`, `incompatible-order`, `garbage-read`, `lost-update`,
//!   `lost-append`.
//!
//! The chosen [`ConsistencyModel`] (default strict serializability) decides which anomalies
//! make the history invalid; the others are reported as notes. Either way the result names
//! every isolation level the history rules out.
//!
//! Complexity: parsing, the per-key inference and the graph are linear in the history
//! (keys are analysed in parallel); real-time order costs O(n) edges through barrier
//! nodes (see `graph.rs`); components are found by an iterative Tarjan, and cycle search runs
//! only inside components. After parsing nothing looks at the [`History`] again: the
//! compact form (`txn.rs`) carries what order and explanations need of each op. So a file
//! can be checked without ever being held as a `History` — [`ListAppend::check_jsonl`] and
//! [`RwRegister::check_jsonl`] stream it into the compact form ([`stream`]), in about a
//! seventh of the memory (`cargo bench -p faultline-checkers --bench elle` prints both ways
//! side by side).
//!
//! References: Adya, Liskov and O'Neil, "Generalized Isolation Level Definitions" (ICDE
//! 2000); Kingsbury and Alvaro, "Elle: Inferring Isolation Anomalies from Experimental
//! Observations" (VLDB 2020).

pub mod anomaly;
mod fast;
pub mod gen;
mod graph;
pub mod list_append;
pub mod rw_register;
pub mod stream;
mod txn;

use std::io::BufRead;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::format::jsonl::StreamSummary;
use crate::format::FormatError;
use crate::history::{History, NemesisEvent, Outcome};
use crate::verdict::{Budget, CheckResult, Checker};

use anomaly::{describe_cycle, Found, Stats};
use graph::{classify, DepEdge, Graph};
use txn::{Shape, Txns};

/// The isolation level a transactional history is checked against; by default strict
/// serializability.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ConsistencyModel {
    ReadCommitted,
    SnapshotIsolation,
    Serializable,
    #[default]
    StrictSerializable,
}

impl ConsistencyModel {
    pub const ALL: [ConsistencyModel; 4] = [
        ConsistencyModel::ReadCommitted,
        ConsistencyModel::SnapshotIsolation,
        ConsistencyModel::Serializable,
        ConsistencyModel::StrictSerializable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ConsistencyModel::ReadCommitted => "read-committed",
            ConsistencyModel::SnapshotIsolation => "snapshot-isolation",
            ConsistencyModel::Serializable => "serializable",
            ConsistencyModel::StrictSerializable => "strict-serializable",
        }
    }

    pub fn from_name(name: &str) -> Option<ConsistencyModel> {
        ConsistencyModel::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether this model forbids an anomaly kind (`G-single`, `G1a`, ...).
    pub fn forbids(self, kind: &str) -> bool {
        anomaly::ruled_out(kind).contains(&self)
    }
}

/// Elle's list-append checker: transactions of `["append", k, v]` and `["r", k, [..]]`.
#[derive(Clone, Debug)]
pub struct ListAppend {
    pub model: ConsistencyModel,
}

impl Checker for ListAppend {
    fn name(&self) -> &str {
        "list-append"
    }

    fn check(&self, history: &History, budget: &Budget) -> CheckResult {
        check(self.name(), self.model, Shape::List, history, budget)
    }
}

impl ListAppend {
    /// Reads a JSON Lines history and checks it, never holding it as a [`History`]: the
    /// transactions go straight into the compact form (see [`stream`]). The same result as
    /// reading the file, calling [`Checker::check`] and filling the anomalies' ops
    /// ([`fill_op_refs`](crate::fill_op_refs)), in a fraction of the memory. Each nemesis
    /// event goes to `on_nemesis` as it is read, as the `History` would hold it.
    pub fn check_jsonl(
        &self,
        reader: impl BufRead,
        name: &str,
        budget: &Budget,
        on_nemesis: &mut dyn FnMut(NemesisEvent),
    ) -> Result<(CheckResult, StreamSummary), FormatError> {
        let shape = Shape::List;
        check_jsonl(
            self.name(),
            self.model,
            shape,
            reader,
            name,
            budget,
            on_nemesis,
        )
    }
}

/// Elle's rw-register checker: transactions of `["w", k, v]` and `["r", k, v]`.
#[derive(Clone, Debug)]
pub struct RwRegister {
    pub model: ConsistencyModel,
}

impl Checker for RwRegister {
    fn name(&self) -> &str {
        "rw-register"
    }

    fn check(&self, history: &History, budget: &Budget) -> CheckResult {
        check(self.name(), self.model, Shape::Register, history, budget)
    }
}

impl RwRegister {
    /// As [`ListAppend::check_jsonl`], for rw-register histories.
    pub fn check_jsonl(
        &self,
        reader: impl BufRead,
        name: &str,
        budget: &Budget,
        on_nemesis: &mut dyn FnMut(NemesisEvent),
    ) -> Result<(CheckResult, StreamSummary), FormatError> {
        let shape = Shape::Register;
        check_jsonl(
            self.name(),
            self.model,
            shape,
            reader,
            name,
            budget,
            on_nemesis,
        )
    }
}

fn check_jsonl(
    name: &str,
    model: ConsistencyModel,
    shape: Shape,
    reader: impl BufRead,
    source: &str,
    budget: &Budget,
    on_nemesis: &mut dyn FnMut(NemesisEvent),
) -> Result<(CheckResult, StreamSummary), FormatError> {
    let (read, summary) = stream::read_jsonl(reader, source, shape, budget, on_nemesis)?;
    let result = match read {
        Ok((txns, places)) => {
            let mut result = check_txns(name, model, shape, &txns, budget);
            places.fill(&txns, &mut result);
            result
        }
        Err(why) => CheckResult::unknown(name, why),
    };
    Ok((result, summary))
}

/// What the per-key inference of one or more keys produced.
#[derive(Default)]
pub(crate) struct KeyOut {
    pub edges: Vec<DepEdge>,
    pub found: Vec<Found>,
    pub warnings: Vec<String>,
    /// Crashed transactions known to have committed.
    pub committed: Vec<u32>,
}

impl KeyOut {
    fn append(&mut self, mut other: KeyOut) {
        self.edges.append(&mut other.edges);
        self.found.append(&mut other.found);
        self.warnings.append(&mut other.warnings);
        self.committed.append(&mut other.committed);
    }
}

fn check(
    name: &str,
    model: ConsistencyModel,
    shape: Shape,
    history: &History,
    budget: &Budget,
) -> CheckResult {
    // Every long loop below watches the deadline (graph.rs's searches every few thousand
    // edges), so an answer of unknown comes within a few milliseconds of the time limit.
    match Txns::parse(history, shape, budget) {
        Ok(txns) => check_txns(name, model, shape, &txns, budget),
        Err(e) => CheckResult::unknown(name, e.message),
    }
}

fn check_txns(
    name: &str,
    model: ConsistencyModel,
    shape: Shape,
    txns: &Txns,
    budget: &Budget,
) -> CheckResult {
    let mut committed = Vec::new();
    if shape == Shape::List {
        committed = vec![false; txns.len()];
        let first = for_each_key(txns.keys.len(), budget, |k, out| {
            list_append::observed_crashed(txns, k, out)
        });
        for t in first.committed {
            committed[t as usize] = true;
        }
    }
    let per_key = |k: usize, out: &mut KeyOut| match shape {
        Shape::List => list_append::check_key(txns, &committed, budget, k, out),
        Shape::Register => rw_register::check_key(txns, budget, k, out),
    };
    let inferred = for_each_key(txns.keys.len(), budget, per_key);
    let mut found = inferred.found;
    let mut warnings = inferred.warnings;
    if txns.skipped > 0 {
        warnings.push(format!(
            "{} operations are not `txn` and were not checked",
            txns.skipped
        ));
    }
    if budget.expired() {
        return CheckResult::unknown(name, "the time budget ran out while inferring dependencies");
    }
    let graph = Graph::build(txns, inferred.edges);
    let mut scratch = graph.scratch(budget.deadline);
    if scratch.out_of_time() {
        return CheckResult::unknown(name, "the time budget ran out while building the graph");
    }
    let (components, comp) = graph.components(&mut scratch);
    let mut incomplete = None;
    for scc in &components {
        let id = comp[scc[0] as usize];
        let cycles = match scratch.out_of_time() {
            true => Vec::new(),
            false => graph.find_cycles(scc, id, &comp, &mut scratch, anomaly::MAX_PER_KIND),
        };
        // A cycle found before the deadline is real; a search cut short by it says nothing.
        for hops in cycles.iter().filter(|h| !is_lost_append(h, txns)) {
            found.push(describe_cycle(hops, &classify(hops), txns, shape));
        }
        if scratch.timed_out {
            incomplete = Some(format!(
                "the time budget ran out while searching {} cyclic components for cycles",
                components.len()
            ));
            break;
        }
        if cycles.is_empty() {
            found.push(Found::new(
                "cycle",
                format!(
                    "{} transactions depend on each other in a cycle, but the search for \
                     a short witness ran out of work",
                    scc.iter().filter(|&&v| (v as usize) < graph.n_txns).count()
                ),
                serde_json::Value::Null,
            ));
        }
    }
    let count = |o: Outcome| txns.outcome.iter().filter(|&&x| x == o).count();
    let stats = Stats {
        txns: txns.len(),
        ok: count(Outcome::Ok),
        info: count(Outcome::Info),
        fail: count(Outcome::Fail),
        keys: txns.keys.len(),
        edges: graph.edge_count(),
        components: components.len(),
    };
    anomaly::result(name, model, found, stats, warnings, incomplete)
}

/// A cycle that only says what a `lost-append` already says: its one anti-dependency
/// points at an append nobody saw, from a reader that began after that append committed,
/// and it needs order edges. Reporting it as well would count one lost append twice.
fn is_lost_append(hops: &[graph::Hop], txns: &Txns) -> bool {
    let op = |t: u32| &txns.meta[t as usize];
    let mut rw = hops.iter().filter(|h| h.kind == graph::RW);
    let (Some(hop), None) = (rw.next(), rw.next()) else {
        return false;
    };
    let ordered = hops
        .iter()
        .any(|h| h.kind == graph::PROCESS || h.kind == graph::REALTIME);
    let lost = op(hop.to).outcome == Outcome::Ok && op(hop.to).precedes(op(hop.from));
    ordered && hop.dep.is_some_and(|d| d.unseen) && lost
}

/// Runs `f` over every key on up to `threads` threads, in chunks handed out on demand;
/// the outputs are joined in key order, so the result does not depend on scheduling.
/// Keys left when the budget runs out are skipped (the caller then answers unknown).
fn for_each_key(keys: usize, budget: &Budget, f: impl Fn(usize, &mut KeyOut) + Sync) -> KeyOut {
    let threads = budget.threads.clamp(1, 64);
    let f = |k: usize, out: &mut KeyOut| {
        if !budget.expired() {
            f(k, out)
        }
    };
    if threads == 1 || keys < 256 {
        let mut out = KeyOut::default();
        (0..keys).for_each(|k| f(k, &mut out));
        return out;
    }
    let chunk = keys.div_ceil(threads * 16);
    let next = AtomicUsize::new(0);
    let parts: Mutex<Vec<(usize, KeyOut)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let c = next.fetch_add(1, Ordering::Relaxed);
                let lo = c * chunk;
                if lo >= keys {
                    break;
                }
                let mut out = KeyOut::default();
                (lo..keys.min(lo + chunk)).for_each(|k| f(k, &mut out));
                parts.lock().expect("no worker panics").push((c, out));
            });
        }
    });
    let mut parts = parts.into_inner().expect("no worker panics");
    parts.sort_by_key(|p| p.0);
    let mut out = KeyOut::default();
    for (_, part) in parts {
        out.append(part);
    }
    out
}
